//! The fault matrix: a fault-injecting proxy in front of a real S3 server (Ceph RGW), the
//! plugin driven through its C ABI. Each row asserts the job's outcome and every saved byte.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use integration_tests::fault_proxy::{most_at_once, Fault, FaultProxy, Match, Rule, Seen};
use integration_tests::harness::{self, msg, EntryHook, Flavour, JobReport, JobSpec};
use integration_tests::scenario::{data, job_id, BucketFixture};
use integration_tests::servers;

struct Setup {
    fx: BucketFixture,
    proxy: FaultProxy,
    expected: BTreeMap<String, Vec<u8>>,
}

/// A Ceph bucket with `objects`, behind a fresh proxy.
fn setup(tag: &str, objects: Vec<(String, Vec<u8>)>) -> Setup {
    let server = servers::ceph();
    let fx = BucketFixture::new(server, tag);
    let expected = fx.seed(objects);
    let proxy = FaultProxy::start(&server.endpoint).with_admin(server.client());
    Setup {
        fx,
        proxy,
        expected,
    }
}

impl Setup {
    fn spec(&self, extra: &str) -> JobSpec {
        JobSpec::new(
            Flavour::Bareos,
            job_id(),
            'F',
            0,
            &self.fx.command_via(&self.proxy.endpoint(), extra),
        )
    }

    fn run(&self, extra: &str) -> JobReport {
        harness::backup(&self.spec(extra), None)
    }

    /// Every object saved exactly once with its bytes; no secret anywhere in what the job wrote.
    fn assert_complete(&self, report: &JobReport) {
        assert!(
            report.protocol_violations.is_empty(),
            "{:?}",
            report.protocol_violations
        );
        assert_eq!(report.status, 'T', "{:#?}", report.messages);
        assert_eq!(
            report.files.len(),
            self.expected.len(),
            "{:#?}",
            report.messages
        );
        for (key, bytes) in &self.expected {
            let name = format!("/{}/{key}", self.fx.bucket).into_bytes();
            let f = report
                .file(&name)
                .unwrap_or_else(|| panic!("{key} not saved"));
            assert!(!f.io_error, "{key}");
            assert!(f.data_matches(bytes), "bytes of {key} differ");
        }
        self.assert_no_secret(report);
    }

    fn assert_no_secret(&self, report: &JobReport) {
        let secret = &self.fx.server.secret_key;
        for text in report
            .messages
            .iter()
            .map(|(_, m)| m)
            .chain(report.debug.iter())
        {
            assert!(
                !text.contains(secret.as_str()),
                "secret in job output: {text}"
            );
        }
    }

    fn summary(report: &JobReport) -> String {
        report.messages_of(msg::M_INFO).join("\n")
    }
}

fn objects(n: usize, size: usize) -> Vec<(String, Vec<u8>)> {
    (0..n)
        .map(|i| (format!("obj-{i:03}"), data(i as u64 + 7, size)))
        .collect()
}

#[test]
fn bursts_of_503_slowdown_are_retried() {
    let s = setup("f503", objects(5, 100_000));
    s.proxy.add(Rule::times(
        Match::get("obj-002"),
        Fault::status(503, "SlowDown"),
        3,
    ));
    let report = s.run("");
    s.assert_complete(&report);
    assert!(
        Setup::summary(&report).contains("3 retries"),
        "{}",
        Setup::summary(&report)
    );
    let hits = s
        .proxy
        .log()
        .iter()
        .filter(|l| l.path.ends_with("obj-002"))
        .count();
    assert_eq!(hits, 4);
}

#[test]
fn throttling_429_with_retry_after_is_honoured() {
    let s = setup("f429", objects(3, 10_000));
    s.proxy.add(Rule::once(
        Match::get("obj-001"),
        Fault::Status {
            code: 429,
            s3_code: "TooManyRequests",
            retry_after: Some(1),
        },
    ));
    let started = std::time::Instant::now();
    let report = s.run("");
    s.assert_complete(&report);
    // The server asked for a 1 s pause: the job cannot have been faster than that.
    assert!(started.elapsed() >= Duration::from_secs(1));
}

#[test]
fn slowdown_in_a_200_listing_body_is_retried_without_losing_keys() {
    let s = setup("f200", objects(4, 1000));
    s.proxy.add(Rule::once(Match::list(), Fault::SlowDownIn200));
    let report = s.run("");
    s.assert_complete(&report);
    assert!(Setup::summary(&report).contains("1 retries"));
}

#[test]
fn a_broken_listing_page_is_retried_from_its_continuation_token() {
    let s = setup("fpage", objects(1200, 10));
    // The second page breaks off after some bytes of its XML.
    s.proxy.add(Rule::once(
        Match::list().nth(2),
        Fault::ResetAfter { bytes: 500 },
    ));
    let report = s.run("");
    s.assert_complete(&report);
    let lists: Vec<_> = s
        .proxy
        .log()
        .into_iter()
        .filter(|l| l.query.contains("list-type=2"))
        .collect();
    assert_eq!(lists.len(), 3, "{lists:?}");
    assert_eq!(
        lists[1].query, lists[2].query,
        "the retry asks for the same page"
    );
}

#[test]
fn a_body_reset_mid_stream_is_resumed_at_its_offset_with_if_match() {
    let s = setup("freset", objects(3, 3 << 20));
    s.proxy.add(Rule::once(
        Match::get("obj-001"),
        Fault::ResetAfter { bytes: 1_000_000 },
    ));
    let report = s.run("");
    s.assert_complete(&report);
    assert!(
        Setup::summary(&report).contains("1 resumed"),
        "{}",
        Setup::summary(&report)
    );
    let log = s.proxy.log();
    let resume = log
        .iter()
        .find(|l| l.path.ends_with("obj-001") && l.range.is_some())
        .expect("a ranged GET");
    assert!(
        resume
            .range
            .as_deref()
            .unwrap()
            .starts_with("bytes=1000000-"),
        "{resume:?}"
    );
    assert!(
        resume.if_match.is_some(),
        "the resumed GET is pinned to the ETag"
    );
    assert_eq!(resume.status, 206);
}

#[test]
fn a_body_shorter_than_its_content_length_is_resumed() {
    let s = setup("fshort", objects(2, 2 << 20));
    s.proxy.add(Rule::once(
        Match::get("obj-000"),
        Fault::ShortBody { bytes: 123_457 },
    ));
    let report = s.run("");
    s.assert_complete(&report);
    assert!(s.proxy.log().iter().any(|l| l
        .range
        .as_deref()
        .is_some_and(|r| r.starts_with("bytes=123457-"))));
}

#[test]
fn a_stalled_body_counts_as_a_failure_and_is_resumed() {
    let s = setup("fstall", objects(2, 1 << 20));
    s.proxy.add(Rule::once(
        Match::get("obj-001"),
        Fault::Stall {
            after_bytes: 300_000,
            for_: Duration::from_secs(30),
        },
    ));
    let report = s.run(":read_timeout=2");
    s.assert_complete(&report);
    assert!(s.proxy.log().iter().any(|l| l
        .range
        .as_deref()
        .is_some_and(|r| r.starts_with("bytes=300000-"))));
}

#[test]
fn an_object_deleted_between_listing_and_get_is_skipped_with_a_warning() {
    let s = setup("fdel", objects(3, 1000));
    s.proxy
        .add(Rule::once(Match::get("obj-001"), Fault::DeleteFirst));
    let report = s.run("");
    assert_eq!(report.status, 'T', "{:#?}", report.messages);
    assert_eq!(report.files.len(), 2);
    let warnings = report.messages_of(msg::M_WARNING).join("\n");
    assert!(
        warnings.contains("'obj-001'") && warnings.contains("deleted"),
        "{warnings}"
    );
}

#[test]
fn an_object_overwritten_before_a_resume_is_an_error_naming_it_never_a_mixed_copy() {
    let s = setup("fchg", objects(3, 2 << 20));
    s.proxy.add(Rule::once(
        Match::get("obj-001"),
        Fault::ResetAfter { bytes: 700_000 },
    ));
    // Overwrite obj-001 once its entry (and GET head: the version being read) reached the daemon.
    let server = s.fx.server;
    let bucket = s.fx.bucket.clone();
    let target = format!("/{bucket}/obj-001").into_bytes();
    // A small window holds obj-001's body until the job thread reads it, so the break (and the
    // resume) come after the overwrite.
    let mut spec = s.spec(":prefetch_bytes=1M");
    spec.on_entry = Some(EntryHook(Arc::new(move |name: &[u8]| {
        if name == target.as_slice() {
            server.put(&bucket, "obj-001", b"a different version".to_vec());
        }
    })));
    let report = harness::backup(&spec, None);
    assert!(report.protocol_violations.is_empty());
    assert_eq!(report.status, 'W', "{:#?}", report.messages);
    let errors = report.messages_of(msg::M_ERROR).join("\n");
    assert!(
        errors.contains("'obj-001'") && errors.contains("changed"),
        "{errors}"
    );
    let f = report
        .file(format!("/{}/obj-001", s.fx.bucket).as_bytes())
        .unwrap();
    assert!(f.io_error, "the stored copy is flagged as a read error");
    assert!(Setup::summary(&report).contains("1 failed"));
    for key in ["obj-000", "obj-002"] {
        let f = report
            .file(format!("/{}/{key}", s.fx.bucket).as_bytes())
            .unwrap();
        assert!(f.data_matches(&s.expected[key]));
    }
}

#[test]
fn a_server_restart_mid_job_is_ridden_out() {
    let s = setup("frestart", objects(6, 2 << 20));
    let proxy = Arc::new(s.proxy);
    let p = proxy.clone();
    let bucket = s.fx.bucket.clone();
    let mut spec = JobSpec::new(
        Flavour::Bareos,
        job_id(),
        'F',
        0,
        &s.fx
            .command_via(&proxy.endpoint(), ":concurrency=2:prefetch_bytes=1M"),
    );
    let second = format!("/{bucket}/obj-001").into_bytes();
    spec.on_entry = Some(EntryHook(Arc::new(move |name: &[u8]| {
        if name == second.as_slice() {
            p.outage(Duration::from_secs(3));
        }
    })));
    let report = harness::backup(&spec, None);
    assert!(report.protocol_violations.is_empty());
    assert_eq!(report.status, 'T', "{:#?}", report.messages);
    assert_eq!(report.files.len(), 6);
    for (key, bytes) in &s.expected {
        assert!(
            report
                .file(format!("/{bucket}/{key}").as_bytes())
                .unwrap()
                .data_matches(bytes),
            "{key}"
        );
    }
    assert!(Setup::summary(&report).contains("resumed"));
}

#[test]
fn exhausted_retries_fail_that_object_only_and_name_it() {
    let s = setup("fgive", objects(3, 1000));
    s.proxy.add(Rule::always(
        Match::get("obj-001"),
        Fault::status(503, "SlowDown"),
    ));
    let report = s.run(":retries=2");
    assert_eq!(report.status, 'W', "{:#?}", report.messages);
    assert_eq!(report.files.len(), 2);
    let errors = report.messages_of(msg::M_ERROR).join("\n");
    assert!(
        errors.contains("'obj-001'") && errors.contains("gave up after 2 retries"),
        "{errors}"
    );
    assert_eq!(
        s.proxy
            .log()
            .iter()
            .filter(|l| l.path.ends_with("obj-001"))
            .count(),
        3
    );
}

#[test]
fn client_errors_are_not_retried() {
    for (code, s3_code) in [
        (403, "AccessDenied"),
        (400, "InvalidRequest"),
        (412, "PreconditionFailed"),
    ] {
        let s = setup("f4xx", objects(2, 1000));
        s.proxy.add(Rule::always(
            Match::get("obj-000"),
            Fault::status(code, s3_code),
        ));
        let report = s.run("");
        assert_eq!(report.status, 'W', "{code}: {:#?}", report.messages);
        // A 412 on the GET pinned to the listed ETag means "changed since the listing": the
        // current version is asked for once more (unpinned), never retried beyond that.
        let expected = if code == 412 { 2 } else { 1 };
        assert_eq!(
            s.proxy
                .log()
                .iter()
                .filter(|l| l.path.ends_with("obj-000"))
                .count(),
            expected,
            "{code}"
        );
    }
}

#[test]
fn tls_with_a_private_ca_and_verification_switch() {
    let server = servers::ceph();
    let fx = BucketFixture::new(server, "tls");
    let expected = fx.seed(objects(2, 5000));
    let proxy = FaultProxy::start_tls(&server.endpoint);
    let ca = proxy.ca_pem_path().unwrap();
    let run = |extra: &str| {
        harness::backup(
            &JobSpec::new(
                Flavour::Bareos,
                job_id(),
                'F',
                0,
                &fx.command_via(&proxy.endpoint(), extra),
            ),
            None,
        )
    };
    let ok = run(&format!(":ca_file={}", ca.display()));
    assert_eq!(ok.status, 'T', "{:#?}", ok.messages);
    assert_eq!(ok.files.len(), expected.len());
    assert!(ok.messages_of(msg::M_WARNING).is_empty());

    let untrusted = run("");
    assert_eq!(untrusted.status, 'f', "{:#?}", untrusted.messages);
    let fatal = untrusted.messages_of(msg::M_FATAL).join("\n");
    assert!(
        fatal.contains(&proxy.endpoint()) && fatal.to_lowercase().contains("certificate"),
        "{fatal}"
    );

    let insecure = run(":verify_tls=no");
    assert_eq!(insecure.status, 'T', "{:#?}", insecure.messages);
    let warnings = insecure.messages_of(msg::M_WARNING).join("\n");
    assert!(warnings.contains("verify_tls=no"), "{warnings}");

    let bad_ca = fx.subdir("ca").join("not-a-ca.pem");
    std::fs::write(&bad_ca, "garbage").unwrap();
    let bad = run(&format!(":ca_file={}", bad_ca.display()));
    assert_eq!(bad.status, 'f');
    let fatal = bad.messages_of(msg::M_FATAL).join("\n");
    assert!(
        fatal.contains("ca_file") && fatal.contains("not-a-ca.pem"),
        "{fatal}"
    );
}

/// A byte changed on the way is caught by the object's full-object checksum (moto keeps the
/// CRC32 it was given at upload): the file is an error naming the key and the checksum, the
/// other object is saved intact.
#[test]
fn a_corrupted_body_fails_its_object_by_the_checksum() {
    let server = servers::moto();
    let fx = BucketFixture::new(server, "fflip");
    let client = server.client();
    let body = data(9, 300_000);
    for key in ["obj-000", "obj-001"] {
        servers::block_on(
            client
                .put_object()
                .bucket(&fx.bucket)
                .key(key)
                .checksum_algorithm(aws_sdk_s3::types::ChecksumAlgorithm::Crc32)
                .body(aws_sdk_s3::primitives::ByteStream::from(body.clone()))
                .send(),
        )
        .expect("put with CRC32");
    }
    let proxy = FaultProxy::start(&server.endpoint);
    proxy.add(Rule::always(
        Match::get("obj-001"),
        Fault::FlipByte { at: 123_456 },
    ));
    let report = harness::backup(
        &JobSpec::new(
            Flavour::Bareos,
            job_id(),
            'F',
            0,
            &fx.command_via(&proxy.endpoint(), ""),
        ),
        None,
    );
    assert!(report.protocol_violations.is_empty());
    assert_eq!(report.status, 'W', "{:#?}", report.messages);
    let errors = report.messages_of(msg::M_ERROR).join("\n");
    assert!(
        errors.contains("'obj-001'") && errors.contains("CRC32 checksum"),
        "{errors}"
    );
    let bad = report
        .file(format!("/{}/obj-001", fx.bucket).as_bytes())
        .unwrap();
    assert!(
        bad.io_error,
        "the corrupted copy is flagged as a read error"
    );
    let good = report
        .file(format!("/{}/obj-000", fx.bucket).as_bytes())
        .unwrap();
    assert!(!good.io_error && good.data_matches(&body));
}

/// The read-ahead window: the parts of a slow server (every GET's head 300 ms late) are fetched
/// as many at a time as the budget holds; under a rate cap that two parts meet, two at a time.
#[test]
fn parts_in_flight_follow_how_fast_parts_stream() {
    let s = setup("window", vec![("big.bin".to_string(), data(91, 12 << 20))]);
    let gets = |from: usize| -> Vec<Seen> {
        s.proxy.log()[from..]
            .iter()
            .filter(|l| l.method == "GET" && l.path.ends_with("/big.bin"))
            .cloned()
            .collect()
    };

    s.proxy.add(Rule::always(
        Match::get("big.bin"),
        Fault::StallHead {
            for_: Duration::from_millis(300),
        },
    ));
    let r = s.run(":part_size=1M:prefetch_bytes=8M");
    s.assert_complete(&r);
    let slow = gets(0);
    assert_eq!(slow.len(), 12, "one GET per 1 MiB part");
    let most = most_at_once(&slow);
    assert!(
        most >= 6,
        "slow parts: at most {most} GETs at once, where the budget holds 8"
    );

    s.proxy.clear();
    let mark = s.proxy.log().len();
    let r = s.run(":part_size=1M:prefetch_bytes=8M:max_rate=4M");
    s.assert_complete(&r);
    let capped = gets(mark);
    assert_eq!(capped.len(), 12, "one GET per 1 MiB part");
    let most = most_at_once(&capped);
    assert!(
        (1..=3).contains(&most),
        "capped at 4 MiB/s: {most} GETs at once, where two parts keep up"
    );
}
