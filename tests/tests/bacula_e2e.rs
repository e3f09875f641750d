//! End to end through the real daemons: Debian's Bacula 9.6 director, storage daemon (virtual
//! tape autochanger with data spooling) and file daemon loading the built `s3-fd.so`, driven by
//! bconsole through `dump-server/stack/*.sh` (see `integration_tests::bacula_stack`), against
//! the tests' Ceph RGW.
//!
//! Scenarios: Full → change/add/delete → Incremental → Differential; accurate Incremental that
//! records deletions; estimate; restores of everything, one object and one prefix chosen in the
//! restore tree; failures (missing bucket, wrong secret, bad option, unreadable-by-others rule
//! of the credentials file, S3 server stopped, restore into S3) each followed by a good job on
//! the same file daemon. Every assertion reads the catalog (JobStatus, JobFiles, JobBytes,
//! JobErrors, File rows) or compares restored bytes.
//!
//! Needs root (the first run installs Bacula with apt). `BACULA_E2E_SKIP=1` skips these tests
//! (each says so) on machines that cannot run daemons.

use std::collections::BTreeMap;
use std::fs;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use integration_tests::bacula_stack::{assert_restored, stack, JobResult, StackGuard};
use integration_tests::harness::assert_ok;
use integration_tests::scenario::{
    data, expected_name, now, restored_path, sleep_past, BucketFixture, ODD_KEYS,
};
use integration_tests::servers::{self, block_on, workspace_root, S3Server};

fn skip() -> bool {
    if std::env::var("BACULA_E2E_SKIP").as_deref() == Ok("1") {
        eprintln!("BACULA_E2E_SKIP=1: not running this test against the real Bacula daemons");
        return true;
    }
    false
}

/// A failed job: JobStatus f (fatal) or E (error); T with errors is not good enough here.
fn assert_failed(r: &JobResult, needles: &[&str]) {
    assert!(
        matches!(r.status, 'f' | 'E'),
        "expected the job to fail (JobStatus f or E):\n{r}"
    );
    assert_ne!(
        r.exit_code, 0,
        "run-job.sh must not exit 0 for a failed job:\n{r}"
    );
    for n in needles {
        assert!(
            r.log.contains(n),
            "the job log does not mention {n:?}:\n{r}"
        );
    }
}

/// Bacula counts in JobBytes, besides the objects' data, each file's record of attributes (the
/// object's metadata, `s3.*`: a few hundred bytes): the data must all be there, plus at most
/// 4 KiB per file.
fn assert_job_bytes(r: &JobResult, data: u64, files: u64, what: &str) {
    assert!(
        r.bytes >= data && r.bytes <= data + files * 4096,
        "JobBytes of {what}: {} for {data} bytes of data in {files} files\n{r}",
        r.bytes
    );
}

fn total(objects: &BTreeMap<String, Vec<u8>>) -> u64 {
    objects.values().map(|v| v.len() as u64).sum()
}

fn name_of(bucket: &str, key: &str) -> String {
    String::from_utf8(expected_name(bucket, key)).unwrap()
}

/// LastModified of an object, in epoch seconds.
fn last_modified(server: &S3Server, bucket: &str, key: &str) -> i64 {
    let client = server.client();
    let head = block_on(client.head_object().bucket(bucket).key(key).send())
        .unwrap_or_else(|e| panic!("HeadObject {key:?}: {e:?}"));
    head.last_modified().expect("LastModified").secs()
}

fn mtime(path: &Path) -> i64 {
    use std::os::unix::fs::MetadataExt;
    fs::metadata(path).unwrap().mtime()
}

/// A fresh directory for one restore (the fd runs as the same user as the tests: root).
fn restore_dir(fx: &BucketFixture, name: &str) -> PathBuf {
    let d = fx.dir.join(name);
    let _ = fs::remove_dir_all(&d);
    fs::create_dir_all(&d).unwrap();
    d
}

/// The sample of the chain scenario: odd keys, an empty object, a MiB, a prefix with two.
fn chain_objects() -> Vec<(String, Vec<u8>)> {
    let mut v = vec![
        ("empty".to_string(), Vec::new()),
        ("small.txt".to_string(), b"hello from s3\n".to_vec()),
        ("mib/one.bin".to_string(), data(1, (1 << 20) + 3)),
        ("photos/2024/a.jpg".to_string(), data(2, 70_000)),
        ("photos/2024/b.jpg".to_string(), data(3, 1_000)),
        ("photos/2025/c.jpg".to_string(), data(4, 5_000)),
        ("to-delete".to_string(), data(5, 10)),
        ("to-change".to_string(), data(6, 20)),
    ];
    for (i, (key, _)) in ODD_KEYS.iter().enumerate() {
        v.push((key.to_string(), data(100 + i as u64, 100 + i)));
    }
    v
}

#[test]
fn full_incremental_differential_and_restores_through_the_tree() {
    if skip() {
        return;
    }
    let server = servers::ceph();
    let fx = BucketFixture::new(server, "e2e-chain");
    let mut expected = fx.seed(chain_objects());
    let st = stack();
    let job = "e2e-chain";
    st.define_job(job, &fx.command(""), false);
    // Nothing seeded may fall into the Incremental's since window (since - 1 s margin).
    sleep_past(now(), 2);

    // ---- Full
    let full = st.backup(job, "Full");
    assert_ok(&full);
    assert_eq!(full.level, 'F');
    assert_eq!(
        full.files,
        expected.len() as u64,
        "JobFiles of the Full\n{full}"
    );
    assert_job_bytes(&full, total(&expected), full.files, "the Full");
    let start_msg = format!(
        "s3: backing up s3://{}/ from {}",
        fx.bucket, server.endpoint
    );
    assert!(
        full.log.contains(&start_msg),
        "no start message {start_msg:?}:\n{full}"
    );
    let end_msg = format!(
        "s3: s3://{}/: {} objects saved, {} bytes",
        fx.bucket,
        expected.len(),
        total(&expected)
    );
    assert!(
        full.log.contains(&end_msg),
        "no summary {end_msg:?}:\n{full}"
    );
    assert!(
        full.log.contains("Spooling data"),
        "the job did not spool:\n{full}"
    );
    assert!(
        full.log.contains("Volume name(s):         VT"),
        "the job wrote no virtual tape:\n{full}"
    );
    let mut names: Vec<String> = expected.keys().map(|k| name_of(&fx.bucket, k)).collect();
    names.sort();
    let cat: Vec<String> = st
        .catalog_files(full.jobid)
        .into_iter()
        .map(|f| f.name)
        .collect();
    assert_eq!(cat, names, "File rows of the Full");

    // ---- change one, add one, delete one; Incremental
    let changed = data(7, 33);
    server.put(&fx.bucket, "to-change", changed.clone());
    let added = data(8, 4_444);
    server.put(&fx.bucket, "added-1", added.clone());
    server.delete(&fx.bucket, "to-delete");
    let inc = st.backup(job, "Incremental");
    assert_ok(&inc);
    assert_eq!(inc.level, 'I');
    assert_eq!(
        inc.files, 2,
        "JobFiles of the Incremental (one changed, one added)\n{inc}"
    );
    assert_job_bytes(
        &inc,
        (changed.len() + added.len()) as u64,
        inc.files,
        "the Incremental",
    );
    let cat: Vec<String> = st
        .catalog_files(inc.jobid)
        .into_iter()
        .map(|f| f.name)
        .collect();
    assert_eq!(
        cat,
        vec![
            format!("/{}/added-1", fx.bucket),
            format!("/{}/to-change", fx.bucket)
        ],
        "File rows of the Incremental"
    );

    // ---- add another; Differential (everything since the Full)
    let added2 = data(9, 2_222);
    server.put(&fx.bucket, "added-2", added2.clone());
    let diff = st.backup(job, "Differential");
    assert_ok(&diff);
    assert_eq!(diff.level, 'D');
    assert_eq!(diff.files, 3, "JobFiles of the Differential\n{diff}");
    assert_job_bytes(
        &diff,
        (changed.len() + added.len() + added2.len()) as u64,
        diff.files,
        "the Differential",
    );

    // ---- restore everything as of the Differential (Full + Differential). Without Accurate
    // the deleted object is not known to be gone: it comes back from the Full.
    expected.insert("to-change".into(), changed);
    expected.insert("added-1".into(), added);
    expected.insert("added-2".into(), added2);
    let all = restore_dir(&fx, "restore-all");
    let r = st.restore(diff.jobid, &all, &[]);
    assert_ok(&r);
    assert_eq!(
        r.files,
        expected.len() as u64,
        "JobFiles of the restore\n{r}"
    );
    assert_job_bytes(&r, total(&expected), r.files, "the restore");
    assert_restored(&all, &fx.bucket, &expected);
    for key in ["mib/one.bin", "to-change"] {
        let p = restored_path(&all, &expected_name(&fx.bucket, key));
        assert_eq!(
            mtime(&p),
            last_modified(server, &fx.bucket, key),
            "mtime of {}",
            p.display()
        );
    }

    // ---- one object, picked in the restore tree (a name with a space)
    let one_key = "with space/and more.txt";
    let one = restore_dir(&fx, "restore-one");
    let name = name_of(&fx.bucket, one_key);
    let r = st.restore(diff.jobid, &one, &[&name]);
    assert_ok(&r);
    assert_eq!(r.files, 1, "{r}");
    let want: BTreeMap<String, Vec<u8>> = [(one_key.to_string(), expected[one_key].clone())].into();
    assert_restored(&one, &fx.bucket, &want);

    // ---- one prefix, as a directory of the restore tree
    let prefix = restore_dir(&fx, "restore-prefix");
    let dir = format!("/{}/photos/2024/", fx.bucket);
    let r = st.restore(diff.jobid, &prefix, &[&dir]);
    assert_ok(&r);
    let want: BTreeMap<String, Vec<u8>> = expected
        .iter()
        .filter(|(k, _)| k.starts_with("photos/2024/"))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    assert_eq!(r.files, 2, "{r}");
    assert_restored(&prefix, &fx.bucket, &want);
}

#[test]
fn accurate_incremental_records_deletions() {
    if skip() {
        return;
    }
    let server = servers::ceph();
    let fx = BucketFixture::new(server, "e2e-accurate");
    let mut expected = fx.seed(vec![
        ("keep".to_string(), data(20, 300)),
        ("gone".to_string(), data(21, 400)),
        ("change".to_string(), data(22, 500)),
        ("dir/gone-too".to_string(), data(23, 600)),
        ("dir/stays".to_string(), data(24, 700)),
        ("folder/".to_string(), Vec::new()),
    ]);
    let st = stack();
    let job = "e2e-accurate";
    st.define_job(job, &fx.command(""), true);
    sleep_past(now(), 2);

    let full = st.backup(job, "Full");
    assert_ok(&full);
    assert_eq!(full.files, 6, "{full}");
    assert!(full.log.contains("Accurate:               yes"), "{full}");

    server.delete(&fx.bucket, "gone");
    server.delete(&fx.bucket, "dir/gone-too");
    let changed = data(25, 55);
    server.put(&fx.bucket, "change", changed.clone());
    expected.remove("gone");
    expected.remove("dir/gone-too");
    expected.insert("change".into(), changed.clone());

    let inc = st.backup(job, "Incremental");
    assert_ok(&inc);
    assert_eq!(inc.level, 'I');
    // Bacula 9.6.7 counts the deletion records in JobFiles: 1 changed object + 2 deleted.
    assert_eq!(inc.files, 3, "JobFiles of the accurate Incremental\n{inc}");
    assert_job_bytes(&inc, changed.len() as u64, 1, "the accurate Incremental");
    assert!(inc.log.contains("1 objects saved"), "{inc}");
    // The catalog: the changed object saved (FileIndex > 0), the two deleted ones recorded as
    // deletions (9.6.7 writes them with a negative FileIndex, e.g. -2, and an all-zero LStat
    // apart from the times).
    let rows = st.catalog_files(inc.jobid);
    let saved: Vec<&str> = rows
        .iter()
        .filter(|f| f.file_index > 0)
        .map(|f| f.name.as_str())
        .collect();
    let mut deleted: Vec<&str> = rows
        .iter()
        .filter(|f| f.file_index <= 0)
        .map(|f| f.name.as_str())
        .collect();
    deleted.sort();
    assert_eq!(
        saved,
        vec![format!("/{}/change", fx.bucket)],
        "saved rows: {rows:?}"
    );
    assert_eq!(
        deleted,
        vec![
            format!("/{}/dir/gone-too", fx.bucket),
            format!("/{}/gone", fx.bucket)
        ],
        "deletion rows (FileIndex <= 0): {rows:?}"
    );

    // A restore of the Incremental's state leaves the deleted objects out.
    let all = restore_dir(&fx, "restore-accurate");
    let r = st.restore(inc.jobid, &all, &[]);
    assert_ok(&r);
    assert_eq!(r.files, expected.len() as u64, "{r}");
    assert_restored(&all, &fx.bucket, &expected);
}

/// Full backup through the real daemons, restored into another, empty bucket with the
/// documented Where form: every object equal in data, content type, user metadata and tags.
#[test]
fn full_backup_restored_into_another_bucket_with_metadata() {
    if skip() {
        return;
    }
    use aws_sdk_s3::primitives::ByteStream;
    let server = servers::ceph();
    let fx = BucketFixture::new(server, "e2e-meta");
    let client = server.client();
    let mut objects: Vec<(String, Vec<u8>)> = vec![
        ("docs/a.pdf".into(), data(71, 50_000)),
        ("empty".into(), Vec::new()),
        ("big/video.bin".into(), data(72, 12 << 20)),
    ];
    for (i, (key, bytes)) in objects.iter().enumerate() {
        block_on(
            client
                .put_object()
                .bucket(&fx.bucket)
                .key(key)
                .content_type(format!("application/x-test-{i}"))
                .metadata("index", i.to_string())
                .tagging(format!("n={i}&kind=e2e"))
                .body(ByteStream::from(bytes.clone()))
                .send(),
        )
        .unwrap();
    }
    let st = stack();
    let job = "e2e-meta";
    st.define_job(job, &fx.command(""), false);
    let full = st.backup(job, "Full");
    assert_ok(&full);
    assert_eq!(full.files, objects.len() as u64, "JobFiles\n{full}");

    let target = server.unique_bucket("e2e-meta-dst");
    let r = st.restore(full.jobid, Path::new(&format!("s3:bucket={target}")), &[]);
    assert_ok(&r);
    objects.sort();
    for (i, (key, bytes)) in objects.iter().enumerate() {
        assert_eq!(&server.get(&target, key), bytes, "data of {key}");
        let a = block_on(client.head_object().bucket(&fx.bucket).key(key).send()).unwrap();
        let b = block_on(client.head_object().bucket(&target).key(key).send()).unwrap();
        assert_eq!(
            b.content_type(),
            a.content_type(),
            "content type of {key} ({i})"
        );
        assert_eq!(b.metadata(), a.metadata(), "metadata of {key}");
        let tags = |bucket: &str| {
            let t = block_on(client.get_object_tagging().bucket(bucket).key(key).send()).unwrap();
            let mut v: Vec<(String, String)> = t
                .tag_set()
                .iter()
                .map(|t| (t.key().to_string(), t.value().to_string()))
                .collect();
            v.sort();
            v
        };
        assert_eq!(tags(&target), tags(&fx.bucket), "tags of {key}");
    }
    assert_eq!(server.list_keys(&target).len(), objects.len());
}

#[test]
fn estimate_lists_names_and_sizes() {
    if skip() {
        return;
    }
    let server = servers::ceph();
    let fx = BucketFixture::new(server, "e2e-estimate");
    let objects: Vec<(String, Vec<u8>)> = ODD_KEYS
        .iter()
        .enumerate()
        .map(|(i, (k, _))| (k.to_string(), data(300 + i as u64, 1_000 * (i + 1))))
        .chain([("empty".to_string(), Vec::new())])
        .collect();
    let expected = fx.seed(objects);
    let st = stack();
    st.define_job("e2e-estimate", &fx.command(""), false);
    let (ok, text) = st.estimate("e2e-estimate", "Full");
    assert!(ok, "estimate failed:\n{text}");
    let header = format!("OK estimate files={} bytes=", expected.len());
    assert!(text.contains(&header), "no {header:?} in:\n{text}");
    let bytes: u64 = text
        .split(&header)
        .nth(1)
        .and_then(|rest| rest.split(|c: char| !c.is_ascii_digit() && c != ',').next())
        .map(|n| n.replace(',', "").parse().unwrap_or(0))
        .unwrap_or(0);
    assert_eq!(bytes, total(&expected), "estimated bytes:\n{text}");
    for (key, body) in &expected {
        let name = name_of(&fx.bucket, key);
        let line = text
            .lines()
            .find(|l| l.ends_with(&format!(" {name}")))
            .unwrap_or_else(|| panic!("the listing has no line for {name:?}:\n{text}"));
        let size = body.len().to_string();
        assert!(
            line.split_whitespace().any(|w| w.replace(',', "") == size),
            "size {size} of {name:?} not in {line:?}"
        );
    }
    // An estimate runs no job: nothing new in the Job table for it.
    let n = st.sql("SELECT COUNT(*) FROM Job WHERE Name='e2e-estimate';");
    assert_eq!(n.trim(), "0");
}

/// A good job after a failed one: the same file daemon (same pid) still works.
fn next_job_succeeds(st: &StackGuard, good_job: &str, fd_pid: Option<i32>) {
    let r = st.backup(good_job, "Full");
    assert_ok(&r);
    assert!(r.files > 0, "{r}");
    assert_eq!(
        st.daemon_pid("fd"),
        fd_pid,
        "the file daemon restarted or died"
    );
}

/// A moto server of our own on a free port (so that it can be stopped without touching the
/// shared servers), leaked so that `BucketFixture` can borrow it for 'static. Stopped when the
/// guard drops, also if the test fails.
struct PrivateMoto {
    server: &'static S3Server,
    dir: PathBuf,
}

impl PrivateMoto {
    fn start() -> PrivateMoto {
        let port = (19150..19250)
            .find(|p| std::net::TcpListener::bind(("127.0.0.1", *p)).is_ok())
            .expect("a free port for a private moto server");
        let dir = workspace_root().join(".state").join("bacula-e2e-moto");
        let out = Command::new("bash")
            .arg(workspace_root().join("tests/scripts/moto.sh"))
            .arg("up")
            .arg(&dir)
            .arg(port.to_string())
            .stdin(Stdio::null())
            .output()
            .expect("running moto.sh");
        assert!(
            out.status.success(),
            "moto.sh up failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let server = Box::leak(Box::new(S3Server {
            name: "moto",
            endpoint: format!("http://127.0.0.1:{port}"),
            access_key: "e2e-moto-access".into(),
            secret_key: "e2e-moto-secret".into(),
            region: "us-east-1".into(),
        }));
        PrivateMoto { server, dir }
    }

    fn stop(&self) {
        let status = Command::new("bash")
            .arg(workspace_root().join("tests/scripts/moto.sh"))
            .arg("down")
            .arg(&self.dir)
            .stdin(Stdio::null())
            .status()
            .expect("running moto.sh down");
        assert!(status.success(), "moto.sh down failed");
    }
}

impl Drop for PrivateMoto {
    fn drop(&mut self) {
        let _ = Command::new("bash")
            .arg(workspace_root().join("tests/scripts/moto.sh"))
            .arg("down")
            .arg(&self.dir)
            .stdin(Stdio::null())
            .status();
    }
}

#[test]
fn failures_end_the_job_with_the_cause_and_the_next_job_succeeds() {
    if skip() {
        return;
    }
    let server = servers::ceph();
    let good = BucketFixture::new(server, "e2e-good");
    good.seed(vec![
        ("a".into(), data(40, 100)),
        ("b/c".into(), data(41, 2000)),
    ]);
    let st = stack();
    st.define_job("e2e-good", &good.command(""), false);
    next_job_succeeds(&st, "e2e-good", st.daemon_pid("fd"));
    let fd = st.daemon_pid("fd");
    assert!(fd.is_some(), "no file daemon pid");

    // A bucket that does not exist.
    let missing = format!("e2e-missing-{}", std::process::id());
    let cmd = good.command("").replace(
        &format!("bucket={}", good.bucket),
        &format!("bucket={missing}"),
    );
    st.define_job("e2e-fail-bucket", &cmd, false);
    let r = st.backup("e2e-fail-bucket", "Full");
    eprintln!("missing bucket:\n{r}");
    assert_failed(&r, &[&missing, "does not exist"]);
    next_job_succeeds(&st, "e2e-good", fd);

    // Wrong credentials: the right access key with a wrong secret (Ceph checks the signature).
    let creds = good.dir.join("wrong-credentials");
    let mut f = fs::OpenOptions::new()
        .create(true)
        .truncate(true)
        .write(true)
        .mode(0o600)
        .open(&creds)
        .unwrap();
    use std::io::Write;
    writeln!(
        f,
        "[test]\naws_access_key_id = {}\naws_secret_access_key = not-the-secret-0000000000000000000000",
        server.access_key
    )
    .unwrap();
    drop(f);
    let cmd = good.command("").replace(
        &good.credentials.display().to_string(),
        &creds.display().to_string(),
    );
    st.define_job("e2e-fail-secret", &cmd, false);
    let r = st.backup("e2e-fail-secret", "Full");
    eprintln!("wrong secret:\n{r}");
    assert_failed(&r, &[&good.bucket, &creds.display().to_string(), "denied"]);
    next_job_succeeds(&st, "e2e-good", fd);

    // A credentials file that others may read is refused.
    let open = good.dir.join("open-credentials");
    fs::copy(&good.credentials, &open).unwrap();
    fs::set_permissions(&open, fs::Permissions::from_mode(0o644)).unwrap();
    let cmd = good.command("").replace(
        &good.credentials.display().to_string(),
        &open.display().to_string(),
    );
    st.define_job("e2e-fail-mode", &cmd, false);
    let r = st.backup("e2e-fail-mode", "Full");
    eprintln!("credentials file mode 0644:\n{r}");
    assert_failed(
        &r,
        &[&open.display().to_string(), "readable by group or others"],
    );
    next_job_succeeds(&st, "e2e-good", fd);

    // A bad option.
    st.define_job("e2e-fail-option", &good.command(":colour=blue"), false);
    let r = st.backup("e2e-fail-option", "Full");
    eprintln!("bad option:\n{r}");
    assert_failed(&r, &["colour"]);
    next_job_succeeds(&st, "e2e-good", fd);

    // The S3 server stopped before the job: a private moto server that worked a moment ago.
    let moto = PrivateMoto::start();
    let mfx = BucketFixture::new(moto.server, "e2e-stopped");
    mfx.seed(vec![("x".into(), data(42, 10))]);
    st.define_job("e2e-fail-stopped", &mfx.command(""), false);
    let r = st.backup("e2e-fail-stopped", "Full");
    assert_ok(&r);
    moto.stop();
    let r = st.backup("e2e-fail-stopped", "Full");
    eprintln!("S3 server stopped:\n{r}");
    assert_failed(&r, &[&moto.server.endpoint, "cannot reach"]);
    next_job_succeeds(&st, "e2e-good", fd);

    // A restore back into S3 (Where "/") puts the objects back into their bucket.
    let last = st.sql("SELECT MAX(JobId) FROM Job WHERE Name='e2e-good' AND JobStatus='T';");
    let last: u32 = last.trim().parse().unwrap();
    let keys = good.server.list_keys(&good.bucket);
    for k in &keys {
        good.server.delete(&good.bucket, k);
    }
    let r = st.restore(last, Path::new("/"), &[]);
    eprintln!("restore into S3:\n{r}");
    assert_ok(&r);
    let mut back = good.server.list_keys(&good.bucket);
    back.sort();
    let mut want = keys.clone();
    want.sort();
    assert_eq!(back, want, "restore into the original bucket");
    assert!(
        !Path::new("/").join(&good.bucket).exists(),
        "the restore into S3 wrote to /{}",
        good.bucket
    );
    next_job_succeeds(&st, "e2e-good", fd);
}
