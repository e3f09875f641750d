//! Incremental forever through the real Bacula 9.6 daemons (`integration_tests::bacula_stack`):
//! Full, changes (new, modified, deleted objects), accurate Incremental, more changes,
//! Incremental, then `Level=VirtualFull`, which the director and storage daemon build from the
//! tapes alone (pool VTapes → its Next Pool VFull, read in one drive of the virtual
//! autochanger, written in the other).
//!
//! Checked: the VirtualFull ends T and holds the bucket's current state (restore byte-exact,
//! deleted objects absent, modified ones new); no request at all reached S3 while it ran (the
//! job's endpoint is a proxy in front of the S3 server that records every request) and the
//! plugin said nothing in its log; the next Incremental, based on the VirtualFull, saves only
//! what changed since (JobFiles = the changed objects), and restores to the current state.
//!
//! `BACULA_E2E_SKIP=1` skips it (as the other real-daemon tests).

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Instant;

use integration_tests::bacula_stack::{assert_restored, stack, JobResult};
use integration_tests::fault_proxy::FaultProxy;
use integration_tests::scenario::{data, now, sleep_past, BucketFixture};
use integration_tests::servers;

fn assert_ok(r: &JobResult) {
    assert!(
        r.status == 'T' && r.errors == 0 && r.exit_code == 0,
        "expected a clean job (T, 0 errors):\n{r}"
    );
}

fn restore_dir(fx: &BucketFixture, name: &str) -> PathBuf {
    let d = fx.dir.join(name);
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

#[test]
fn virtual_full_consolidates_without_reading_s3_and_incrementals_continue_from_it() {
    if std::env::var("BACULA_E2E_SKIP").as_deref() == Ok("1") {
        eprintln!("BACULA_E2E_SKIP=1: not running this test against the real Bacula daemons");
        return;
    }
    let t0 = Instant::now();
    let server = servers::ceph();
    let fx = BucketFixture::new(server, "e2e-vfull");
    let mut objects: Vec<(String, Vec<u8>)> = (0..10)
        .map(|i| {
            (
                format!("base/obj-{i:02}"),
                data(600 + i, 300 + 211 * i as usize),
            )
        })
        .collect();
    objects.push(("mod-1".into(), data(650, 1000)));
    objects.push(("mod-2".into(), data(651, 1100)));
    objects.push(("del-1".into(), data(652, 1200)));
    objects.push(("del-2".into(), data(653, 1300)));
    let mut expected: BTreeMap<String, Vec<u8>> = fx.seed(objects);
    let proxy = FaultProxy::start(&server.endpoint);
    let st = stack();
    let job = "e2e-vfull";
    st.define_job(job, &fx.command_via(&proxy.endpoint(), ""), true);
    sleep_past(now(), 2);

    // ---- Full
    let full = st.backup(job, "Full");
    assert_ok(&full);
    assert_eq!(full.files, expected.len() as u64, "{full}");

    // ---- new, modified, deleted; accurate Incremental
    let put = |key: &str, bytes: Vec<u8>, expected: &mut BTreeMap<String, Vec<u8>>| {
        server.put(&fx.bucket, key, bytes.clone());
        expected.insert(key.to_string(), bytes);
    };
    put("new-1", data(660, 700), &mut expected);
    put("mod-1", data(661, 800), &mut expected);
    server.delete(&fx.bucket, "del-1");
    expected.remove("del-1");
    sleep_past(now(), 2);
    let inc1 = st.backup(job, "Incremental");
    assert_ok(&inc1);
    assert_eq!(inc1.level, 'I');
    // 9.6.7 counts the deletion records in JobFiles: 2 saved + 1 deleted.
    assert_eq!(inc1.files, 3, "JobFiles of the first Incremental\n{inc1}");

    // ---- more changes; Incremental
    put("new-2", data(670, 900), &mut expected);
    put("mod-2", data(671, 950), &mut expected);
    put("new-1", data(672, 990), &mut expected);
    server.delete(&fx.bucket, "del-2");
    expected.remove("del-2");
    sleep_past(now(), 2);
    let inc2 = st.backup(job, "Incremental");
    assert_ok(&inc2);
    assert_eq!(inc2.files, 4, "JobFiles of the second Incremental\n{inc2}");

    // ---- VirtualFull: from the tapes only
    let requests_before = proxy.log().len();
    let vfull = st.backup(job, "VirtualFull");
    let requests_during = proxy.log().len() - requests_before;
    assert_ok(&vfull);
    assert_eq!(
        vfull.level, 'F',
        "a VirtualFull is recorded as a Full\n{vfull}"
    );
    // Bacula 9.6.7 carries the deletion records of the Incrementals into the VirtualFull (with
    // a negative FileIndex, as in an accurate Incremental) and counts them in JobFiles.
    assert_eq!(
        vfull.files,
        expected.len() as u64 + 2,
        "JobFiles of the VirtualFull: the objects of the bucket now and 2 deletion records\n{vfull}"
    );
    assert_eq!(
        requests_during,
        0,
        "requests reached S3 during the VirtualFull: {:?}",
        &proxy.log()[requests_before..]
    );
    assert!(
        !vfull.log.contains("s3: "),
        "the plugin ran during the VirtualFull:\n{vfull}"
    );
    let pool = st.sql(&format!(
        "SELECT Pool.Name FROM Job JOIN Pool ON Pool.PoolId = Job.PoolId WHERE JobId = {};",
        vfull.jobid
    ));
    assert_eq!(pool.trim(), "VFull", "the VirtualFull's pool\n{vfull}");
    let rows = st.catalog_files(vfull.jobid);
    let mut names: Vec<&str> = rows
        .iter()
        .filter(|f| f.file_index > 0)
        .map(|f| f.name.as_str())
        .collect();
    names.sort();
    let want: Vec<String> = expected
        .keys()
        .map(|k| format!("/{}/{k}", fx.bucket))
        .collect();
    assert_eq!(names, want, "saved File rows of the VirtualFull");
    let mut deleted: Vec<&str> = rows
        .iter()
        .filter(|f| f.file_index <= 0)
        .map(|f| f.name.as_str())
        .collect();
    deleted.sort();
    assert_eq!(
        deleted,
        vec![
            format!("/{}/del-1", fx.bucket),
            format!("/{}/del-2", fx.bucket)
        ],
        "deletion records of the VirtualFull: {rows:?}"
    );

    // Its restore (the VirtualFull alone) is the bucket now.
    let dir = restore_dir(&fx, "restore-vfull");
    let r = st.restore(vfull.jobid, &dir, &[]);
    assert_ok(&r);
    assert_eq!(r.files, expected.len() as u64, "{r}");
    assert_restored(&dir, &fx.bucket, &expected);

    // ---- changes after the VirtualFull; the next Incremental saves only those
    sleep_past(now(), 2);
    put("new-3", data(680, 640), &mut expected);
    put("base/obj-03", data(681, 650), &mut expected);
    sleep_past(now(), 2);
    let inc3 = st.backup(job, "Incremental");
    assert_ok(&inc3);
    assert_eq!(inc3.level, 'I');
    assert_eq!(
        inc3.files, 2,
        "JobFiles of the Incremental after the VirtualFull (two changed objects)\n{inc3}"
    );
    let mut rows: Vec<String> = st
        .catalog_files(inc3.jobid)
        .into_iter()
        .map(|f| f.name)
        .collect();
    rows.sort();
    assert_eq!(
        rows,
        vec![
            format!("/{}/base/obj-03", fx.bucket),
            format!("/{}/new-3", fx.bucket)
        ],
        "File rows of the Incremental after the VirtualFull"
    );
    // Its chain is the VirtualFull and itself.
    let dir = restore_dir(&fx, "restore-after");
    let r = st.restore(inc3.jobid, &dir, &[]);
    assert_ok(&r);
    assert_restored(&dir, &fx.bucket, &expected);
    eprintln!("[virtual-full] done in {:.1}s", t0.elapsed().as_secs_f64());
}
