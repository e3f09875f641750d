//! Backups through the plugin's C ABI (the host harness plays the daemon) against real S3
//! servers: Full, Incremental, Differential, accurate deletions, estimate and restore to
//! disk, with every byte compared.

use std::collections::BTreeMap;
use std::time::UNIX_EPOCH;

use integration_tests::harness::{
    self, assert_ok, ft, msg, Catalog, Flavour, JobReport, JobSpec, RestoreSpec,
};
use integration_tests::scenario::{
    data, expected_name, job_id, now, restored_path, sleep_past, BucketFixture, ODD_KEYS,
};
use integration_tests::servers::{self, S3Server};

fn assert_clean(report: &JobReport) {
    assert!(
        report.protocol_violations.is_empty(),
        "protocol violations: {:?}",
        report.protocol_violations
    );
}

/// Every saved regular file, by name, must be one expected object with its exact bytes.
fn assert_saved_exactly(report: &JobReport, bucket: &str, expected: &BTreeMap<String, Vec<u8>>) {
    let saved: Vec<_> = report
        .files
        .iter()
        .filter(|f| f.ftype == ft::FT_REG)
        .collect();
    assert_eq!(
        saved.len(),
        expected.len(),
        "saved {} of {} objects",
        saved.len(),
        expected.len()
    );
    for (key, bytes) in expected {
        let name = expected_name(bucket, key);
        let file = report.file(&name).unwrap_or_else(|| {
            panic!(
                "object {key:?} not saved as {:?}",
                String::from_utf8_lossy(&name)
            )
        });
        assert_eq!(file.size, bytes.len() as i64, "size of {key:?}");
        assert_eq!(file.data_len, bytes.len() as u64, "bytes read of {key:?}");
        assert!(file.data_matches(bytes), "data of {key:?} differs");
        assert_eq!(file.ctime, file.mtime);
        assert!(
            file.mtime > 1_600_000_000,
            "mtime of {key:?}: {}",
            file.mtime
        );
    }
}

fn names(report: &JobReport) -> Vec<String> {
    let mut n: Vec<String> = report
        .files
        .iter()
        .filter(|f| f.ftype == ft::FT_REG)
        .map(|f| f.name_lossy())
        .collect();
    n.sort();
    n
}

fn spec(flavour: Flavour, level: char, since: i64, command: String) -> JobSpec {
    JobSpec::new(flavour, job_id(), level, since, &command)
}

/// The acceptance scenario of the backup slice, on one server and flavour.
fn full_incremental_accurate_restore(
    server: &'static S3Server,
    flavour: Flavour,
    small: usize,
    big: usize,
) {
    let fx = BucketFixture::new(server, "chain");
    let mut objects = vec![
        ("empty".to_string(), Vec::new()),
        ("one-byte".to_string(), vec![0x5a]),
        ("mib/one.bin".to_string(), data(1, 1 << 20)),
    ];
    if big > 0 {
        objects.push(("big/large.bin".to_string(), data(2, big)));
    }
    for (i, (key, _)) in ODD_KEYS.iter().enumerate() {
        objects.push((key.to_string(), data(100 + i as u64, 100 + i)));
    }
    for i in 0..small {
        objects.push((
            format!("small/{i:05}.dat"),
            data(1000 + i as u64, 1 + (i * 37) % 4096),
        ));
    }
    let mut expected = fx.seed(objects);
    let cmd = fx.command("");

    // Full.
    sleep_past(now(), 1);
    let full_start = now();
    let full = harness::backup(&spec(flavour, 'F', 0, cmd.clone()), None);
    assert_ok(&full);
    assert_saved_exactly(&full, &fx.bucket, &expected);
    assert!(full.unchanged.is_empty());
    // Debug records of the I/O workers reach the daemon's debug output (queued, then written
    // by a job-thread call).
    assert!(
        full.debug
            .iter()
            .any(|d| d.contains("listed") && d.contains(&fx.bucket)),
        "no listing debug record in {:?}",
        full.debug.iter().take(5).collect::<Vec<_>>()
    );
    let summary = full.messages_of(msg::M_INFO).join("\n");
    assert!(
        summary.contains(&format!("{} objects saved", expected.len())),
        "closing message: {summary}"
    );
    let mut catalog = Catalog::new();
    catalog.apply(&full);

    // Restore everything to disk and compare byte by byte.
    let target = fx.subdir("restore-full");
    let mut rspec = RestoreSpec::new(flavour, job_id());
    rspec.where_ = target.display().to_string();
    let files: Vec<_> = full.files.iter().collect();
    let restored = harness::restore(&rspec, &files);
    assert_ok(&restored);
    assert_eq!(restored.restored as usize, expected.len());
    for (key, bytes) in &expected {
        let path = restored_path(&target, &expected_name(&fx.bucket, key));
        let got = std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        assert!(got == *bytes, "restored bytes of {key:?} differ");
        let saved = full.file(&expected_name(&fx.bucket, key)).unwrap();
        let mtime = std::fs::metadata(&path).unwrap().modified().unwrap();
        assert_eq!(
            mtime.duration_since(UNIX_EPOCH).unwrap().as_secs() as i64,
            saved.mtime
        );
    }

    // Change 3 objects, delete 2.
    sleep_past(full_start, 1);
    let changed = ["one-byte", "mib/one.bin", "a//b"];
    for (i, key) in changed.iter().enumerate() {
        let bytes = data(5000 + i as u64, 777 + i);
        fx.server.put(&fx.bucket, key, bytes.clone());
        expected.insert(key.to_string(), bytes);
    }
    let deleted = ["empty", "plus+sign"];
    for key in deleted {
        fx.server.delete(&fx.bucket, key);
        expected.remove(key);
    }
    let changed_expected: BTreeMap<String, Vec<u8>> = changed
        .iter()
        .map(|k| (k.to_string(), expected[*k].clone()))
        .collect();

    // Incremental (not accurate): exactly the 3 changed objects, the rest unchanged.
    let incr = harness::backup(&spec(flavour, 'I', full_start, cmd.clone()), None);
    assert_ok(&incr);
    assert_saved_exactly(&incr, &fx.bucket, &changed_expected);
    assert_eq!(incr.unchanged.len(), expected.len() - changed.len());

    // Accurate Incremental: the same 3, and the 2 deleted recorded as deleted.
    let mut aspec = spec(flavour, 'I', full_start, cmd.clone());
    aspec.accurate = true;
    let acc = harness::backup(&aspec, Some(&catalog));
    assert_ok(&acc);
    assert_saved_exactly(&acc, &fx.bucket, &changed_expected);
    let mut gone: Vec<String> = acc
        .deleted
        .iter()
        .map(|n| String::from_utf8_lossy(n).into_owned())
        .collect();
    gone.sort();
    let mut want: Vec<String> = deleted
        .iter()
        .map(|k| String::from_utf8(expected_name(&fx.bucket, k)).unwrap())
        .collect();
    want.sort();
    assert_eq!(gone, want);
    catalog.apply(&acc);
    assert_eq!(catalog.len(), expected.len());

    // Differential against the Full, after one more change: 4 objects.
    let incr_start = now();
    sleep_past(incr_start, 1);
    fx.server
        .put(&fx.bucket, "folder/", b"now with data".to_vec());
    expected.insert("folder/".into(), b"now with data".to_vec());
    let diff = harness::backup(&spec(flavour, 'D', full_start, cmd), None);
    assert_ok(&diff);
    let mut diff_expected = changed_expected.clone();
    diff_expected.insert("folder/".into(), expected["folder/"].clone());
    assert_saved_exactly(&diff, &fx.bucket, &diff_expected);
}

#[test]
fn ceph_bareos_full_incremental_accurate_restore_with_large_objects() {
    full_incremental_accurate_restore(servers::ceph(), Flavour::Bareos, 5000, 300 << 20);
}

#[test]
fn ceph_bacula_full_incremental_accurate_restore() {
    full_incremental_accurate_restore(servers::ceph(), Flavour::Bacula, 300, 20 << 20);
}

#[test]
fn moto_bareos_full_incremental_accurate_restore() {
    full_incremental_accurate_restore(servers::moto(), Flavour::Bareos, 300, 0);
}

#[test]
fn moto_bacula_full_incremental_accurate_restore() {
    full_incremental_accurate_restore(servers::moto(), Flavour::Bacula, 100, 0);
}

/// One-second LastModified: an object written in the very second the previous job started
/// must be in the next Incremental.
fn same_second_change_is_saved(server: &'static S3Server) {
    let fx = BucketFixture::new(server, "second");
    fx.seed(vec![("old".into(), b"old".to_vec())]);
    sleep_past(now(), 1);
    let t = now();
    fx.server.put(&fx.bucket, "new", b"new".to_vec());
    assert_eq!(
        now(),
        t,
        "the test machine is too slow to write within one second"
    );
    for flavour in Flavour::ALL {
        for margin in [0, 1] {
            let report = harness::backup(
                &spec(
                    flavour,
                    'I',
                    t,
                    fx.command(&format!(":since_margin={margin}")),
                ),
                None,
            );
            assert_ok(&report);
            assert_eq!(
                names(&report),
                vec![format!("/{}/new", fx.bucket)],
                "margin {margin}"
            );
        }
        // The margin reaches back: with a large one, the older object is saved too.
        let report = harness::backup(
            &spec(flavour, 'I', t, fx.command(":since_margin=3600")),
            None,
        );
        assert_ok(&report);
        assert_eq!(names(&report).len(), 2, "{flavour:?}");
    }
}

#[test]
fn ceph_same_second_change_is_saved() {
    same_second_change_is_saved(servers::ceph());
}

#[test]
fn moto_same_second_change_is_saved() {
    same_second_change_is_saved(servers::moto());
}

#[test]
fn estimate_lists_names_and_sizes_without_data() {
    for flavour in Flavour::ALL {
        let fx = BucketFixture::new(servers::moto(), "estimate");
        let expected = fx.seed(
            (0..25)
                .map(|i| (format!("e/{i:02}"), data(i, 10 * i as usize)))
                .collect(),
        );
        let report = harness::estimate(&spec(flavour, 'F', 0, fx.command("")));
        assert!(
            report.protocol_violations.is_empty(),
            "{:?}",
            report.protocol_violations
        );
        assert_eq!(report.status, 'T', "{:?}", report.messages);
        assert_eq!(report.num_files, 25);
        assert_eq!(
            report.num_bytes,
            expected.values().map(|v| v.len() as u64).sum::<u64>()
        );
        for (key, bytes) in &expected {
            let name = expected_name(&fx.bucket, key);
            let entry = report.files.iter().find(|f| f.0 == name).expect("listed");
            assert_eq!(entry.2, bytes.len() as i64);
        }
        assert!(
            !report.calls.iter().any(|c| c.contains("IO_")),
            "estimate read data: {:?}",
            report.calls
        );
        // An Incremental estimate after everything was written lists nothing.
        sleep_past(now(), 1);
        let incr = harness::estimate(&spec(flavour, 'I', now(), fx.command(":since_margin=0")));
        assert_eq!(incr.num_files, 0, "{:?}", incr.files);
    }
}

#[test]
fn empty_bucket_and_prefix() {
    let fx = BucketFixture::new(servers::moto(), "prefix");
    let report = harness::backup(&spec(Flavour::Bareos, 'F', 0, fx.command("")), None);
    assert_ok(&report);
    assert!(report.files.is_empty());
    fx.seed(vec![
        ("keep/a".into(), b"a".to_vec()),
        ("keep/b".into(), b"b".to_vec()),
        ("other/c".into(), b"c".to_vec()),
    ]);
    let report = harness::backup(
        &spec(Flavour::Bareos, 'F', 0, fx.command(":prefix=keep/")),
        None,
    );
    assert_ok(&report);
    assert_eq!(
        names(&report),
        vec![
            format!("/{}/keep/a", fx.bucket),
            format!("/{}/keep/b", fx.bucket)
        ]
    );
}

#[test]
fn small_prefetch_budget_and_one_request_at_a_time_still_save_every_byte() {
    let fx = BucketFixture::new(servers::ceph(), "budget");
    let expected = fx.seed(
        (0..40)
            .map(|i| {
                (
                    format!("o/{i:02}"),
                    data(i, if i % 7 == 0 { 3 << 20 } else { 5000 }),
                )
            })
            .collect(),
    );
    for opts in [
        ":concurrency=1:prefetch_bytes=1M",
        ":concurrency=64:prefetch_bytes=1M",
    ] {
        let mut s = spec(Flavour::Bareos, 'F', 0, fx.command(opts));
        s.read_size = Some(1000);
        let report = harness::backup(&s, None);
        assert_ok(&report);
        assert_saved_exactly(&report, &fx.bucket, &expected);
    }
}

#[test]
fn cancel_ends_the_job_promptly() {
    let fx = BucketFixture::new(servers::moto(), "cancel");
    fx.seed(
        (0..50)
            .map(|i| (format!("c/{i:02}"), data(i, 2000)))
            .collect(),
    );
    for flavour in Flavour::ALL {
        let mut s = spec(flavour, 'F', 0, fx.command(""));
        s.cancel_after_files = Some(3);
        // A plugin that did not return promptly would trip the harness's call watchdog.
        let report = harness::backup(&s, None);
        assert_clean(&report);
        assert_eq!(report.status, 'A');
        assert!(report.files.len() < 50);
    }
}

#[test]
fn bareos_plugin_options_override_the_fileset_string_and_foreign_ones_are_ignored() {
    let fx = BucketFixture::new(servers::moto(), "popts");
    fx.seed(vec![
        ("keep/a".into(), b"a".to_vec()),
        ("other/c".into(), b"c".to_vec()),
    ]);
    let mut s = spec(Flavour::Bareos, 'F', 0, fx.command(""));
    s.plugin_options = vec![
        "python:module_name=elsewhere".into(),
        "s3:prefix=keep/".into(),
    ];
    let report = harness::backup(&s, None);
    assert_ok(&report);
    assert_eq!(names(&report), vec![format!("/{}/keep/a", fx.bucket)]);
    s.plugin_options = vec!["s3:colour=red".into()];
    let report = harness::backup(&s, None);
    assert_eq!(report.status, 'f');
    assert!(report.messages_of(msg::M_FATAL).join("").contains("colour"));
}

#[test]
fn key_ranges_cover_the_bucket_exactly_and_incrementals_hold_per_shard() {
    let fx = BucketFixture::new(servers::moto(), "shards");
    fx.seed(
        (0..100)
            .map(|i| (format!("k{i:03}"), data(i, 50)))
            .collect(),
    );
    let shards = [
        ":end_at=k032",
        ":start_after=k032:end_at=k065",
        ":start_after=k065",
    ];
    let t0 = now();
    let mut catalogs = Vec::new();
    let mut all = Vec::new();
    for s in shards {
        let report = harness::backup(&spec(Flavour::Bareos, 'F', 0, fx.command(s)), None);
        assert_ok(&report);
        all.extend(names(&report));
        let mut c = Catalog::new();
        c.apply(&report);
        catalogs.push(c);
    }
    let mut expected: Vec<String> = (0..100)
        .map(|i| format!("/{}/k{i:03}", fx.bucket))
        .collect();
    all.sort();
    expected.sort();
    assert_eq!(all, expected, "shards must cover every key exactly once");

    // A key added between two boundaries lands in exactly one shard; a deletion is recorded
    // only by the shard that held the key.
    sleep_past(t0, 1);
    fx.server.put(&fx.bucket, "k032a", b"new".to_vec());
    fx.server.delete(&fx.bucket, "k050");
    let mut saved = Vec::new();
    let mut deleted = Vec::new();
    for (s, catalog) in shards.iter().zip(&catalogs) {
        let mut incr = spec(Flavour::Bareos, 'I', t0, fx.command(s));
        incr.accurate = true;
        let report = harness::backup(&incr, Some(catalog));
        assert_ok(&report);
        saved.push(names(&report));
        deleted.push(
            report
                .deleted
                .iter()
                .map(|n| String::from_utf8_lossy(n).into_owned())
                .collect::<Vec<_>>(),
        );
    }
    let new_name = format!("/{}/k032a", fx.bucket);
    assert_eq!(saved, vec![vec![], vec![new_name], vec![]]);
    assert_eq!(
        deleted,
        vec![vec![], vec![format!("/{}/k050", fx.bucket)], vec![]]
    );
}
