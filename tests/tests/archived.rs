//! Objects in an archive storage class (GLACIER, DEEP_ARCHIVE; INTELLIGENT_TIERING in an archive
//! tier) cannot be read by a GET: the listing tells the first two by their storage class, and a
//! GET of the last is answered 403 InvalidObjectState. Against moto (which lists storage classes
//! and refuses a GET of GLACIER and DEEP_ARCHIVE objects as S3 does) behind the fault proxy (which
//! answers the GET of the INTELLIGENT_TIERING object as S3 does for one in its archive tier).

use std::collections::BTreeMap;

use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::StorageClass;
use integration_tests::fault_proxy::{Fault, FaultProxy, Match, Rule};
use integration_tests::harness::{self, msg, Flavour, JobReport, JobSpec};
use integration_tests::scenario::{data, job_id, BucketFixture};
use integration_tests::servers;

const ARCHIVED: [&str; 3] = [
    "cold/deep.bin",
    "cold/glacier.bin",
    "cold/tiered-archive.bin",
];

struct Setup {
    fx: BucketFixture,
    proxy: FaultProxy,
    /// The readable objects: what every backup must save, byte for byte.
    readable: BTreeMap<String, Vec<u8>>,
}

fn setup(tag: &str) -> Setup {
    let server = servers::moto();
    let fx = BucketFixture::new(server, tag);
    let objects: [(&str, Option<StorageClass>, usize); 6] = [
        ("a-standard.bin", None, 3000),
        ("cold/deep.bin", Some(StorageClass::DeepArchive), 1500),
        ("cold/glacier.bin", Some(StorageClass::Glacier), 2500),
        ("cold/instant.bin", Some(StorageClass::GlacierIr), 1200),
        (
            "cold/tiered-archive.bin",
            Some(StorageClass::IntelligentTiering),
            900,
        ),
        ("z-standard-ia.bin", Some(StorageClass::StandardIa), 700),
    ];
    let client = server.client();
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let mut readable = BTreeMap::new();
    for (i, (key, class, len)) in objects.into_iter().enumerate() {
        let bytes = data(i as u64 + 7, len);
        runtime
            .block_on(
                client
                    .put_object()
                    .bucket(&fx.bucket)
                    .key(key)
                    .set_storage_class(class)
                    .body(ByteStream::from(bytes.clone()))
                    .send(),
            )
            .unwrap_or_else(|e| panic!("PutObject {key}: {e:?}"));
        if !ARCHIVED.contains(&key) {
            readable.insert(key.to_string(), bytes);
        }
    }
    let proxy = FaultProxy::start(&server.endpoint);
    // S3 answers a GET of an object in an archive tier of INTELLIGENT_TIERING like this.
    proxy.add(Rule::always(
        Match::get("tiered-archive.bin"),
        Fault::status(403, "InvalidObjectState"),
    ));
    Setup {
        fx,
        proxy,
        readable,
    }
}

impl Setup {
    fn backup(&self, extra: &str) -> JobReport {
        let spec = JobSpec::new(
            Flavour::Bareos,
            job_id(),
            'F',
            0,
            &self.fx.command_via(&self.proxy.endpoint(), extra),
        );
        harness::backup(&spec, None)
    }

    fn name(&self, key: &str) -> Vec<u8> {
        format!("/{}/{key}", self.fx.bucket).into_bytes()
    }

    /// Every readable object saved with its bytes; no archived one reached the daemon.
    fn assert_readable_saved(&self, report: &JobReport) {
        assert!(
            report.protocol_violations.is_empty(),
            "{:?}",
            report.protocol_violations
        );
        for (key, bytes) in &self.readable {
            let f = report
                .file(&self.name(key))
                .unwrap_or_else(|| panic!("{key} not saved: {:#?}", report.messages));
            assert!(!f.io_error && f.data_matches(bytes), "bytes of {key}");
        }
        for key in ARCHIVED {
            assert!(
                report.file(&self.name(key)).is_none(),
                "archived {key} was given to the daemon"
            );
        }
        assert_eq!(
            report.files.len(),
            self.readable.len(),
            "{:#?}",
            report.messages
        );
        // GLACIER and DEEP_ARCHIVE are told by the listing: not one request for them.
        for seen in self.proxy.log() {
            assert!(
                !seen.path.contains("deep.bin") && !seen.path.contains("glacier.bin"),
                "a request for a listed archived object: {} {}",
                seen.method,
                seen.path
            );
        }
    }
}

#[test]
fn archived_objects_are_skipped_with_a_warning_naming_each_and_counted() {
    let s = setup("archived-skip");
    let report = s.backup("");
    s.assert_readable_saved(&report);
    assert_eq!(report.status, 'T', "{:#?}", report.messages);
    let warnings = report.messages_of(msg::M_WARNING);
    for key in ARCHIVED {
        assert_eq!(
            warnings
                .iter()
                .filter(|w| w.contains(&format!("'{key}'")) && w.contains("is archived"))
                .count(),
            1,
            "one warning naming {key}: {warnings:#?}"
        );
    }
    assert!(
        warnings
            .iter()
            .any(|w| w.contains("storage class GLACIER in the listing"))
            && warnings
                .iter()
                .any(|w| w.contains("storage class DEEP_ARCHIVE"))
            && warnings.iter().any(|w| w.contains("InvalidObjectState")),
        "{warnings:#?}"
    );
    assert!(
        report.messages_of(msg::M_ERROR).is_empty(),
        "{:#?}",
        report.messages
    );
    let summary = report
        .messages
        .iter()
        .map(|(_, m)| m.as_str())
        .find(|m| m.contains("objects saved"))
        .unwrap_or_else(|| panic!("no closing message: {:#?}", report.messages));
    assert!(
        summary.contains(&format!("{} objects saved", s.readable.len()))
            && summary.contains("; 3 archived (")
            && ARCHIVED.iter().all(|k| summary.contains(&format!("'{k}'"))),
        "{summary}"
    );
}

#[test]
fn archived_fail_makes_each_archived_object_an_error_and_saves_the_rest() {
    let s = setup("archived-fail");
    let report = s.backup(":archived=fail");
    s.assert_readable_saved(&report);
    let errors = report.messages_of(msg::M_ERROR);
    for key in ARCHIVED {
        assert!(
            errors
                .iter()
                .any(|e| e.contains(&format!("'{key}'")) && e.contains("archived=fail")),
            "an error naming {key}: {errors:#?}"
        );
    }
    assert_eq!(errors.len(), 3, "{errors:#?}");
}

#[test]
fn a_bad_archived_value_is_refused_naming_the_option() {
    let s = setup("archived-bad");
    let report = s.backup(":archived=maybe");
    assert_ne!(report.status, 'T');
    let fatal = report.messages_of(msg::M_FATAL).join("\n");
    assert!(
        fatal.contains("archived") && fatal.contains("expected skip or fail, got 'maybe'"),
        "{:#?}",
        report.messages
    );
}
