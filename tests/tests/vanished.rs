//! An object deleted after it was listed (404 on GET) is skipped with a warning naming its
//! key, before the daemon gets its attributes; the rest of the bucket is saved.

use std::sync::Arc;

use integration_tests::harness::{self, msg, Catalog, EntryHook, Flavour, JobSpec};
use integration_tests::scenario::{data, job_id, BucketFixture};
use integration_tests::servers;

#[test]
fn object_deleted_between_listing_and_get_is_skipped_with_a_warning() {
    for flavour in Flavour::ALL {
        let fx = BucketFixture::new(servers::ceph(), "vanish");
        let big = data(1, 8 << 20);
        fx.seed(vec![
            ("a-big".into(), big.clone()),
            ("b-victim".into(), b"soon gone".to_vec()),
            ("c-after".into(), b"still here".to_vec()),
        ]);
        // One GET at a time and a 1 MiB window: b-victim's GET cannot start before the job
        // thread has read a-big, so deleting it when a-big's entry arrives is "after listing,
        // before GET".
        let cmd = fx.command(":concurrency=1:prefetch_bytes=1M");
        let full = harness::backup(&JobSpec::new(flavour, job_id(), 'F', 0, &cmd), None);
        assert_eq!(full.status, 'T', "{:#?}", full.messages);
        let mut catalog = Catalog::new();
        catalog.apply(&full);

        let server = fx.server;
        let bucket = fx.bucket.clone();
        let big_name = format!("/{bucket}/a-big").into_bytes();
        let mut spec = JobSpec::new(flavour, job_id(), 'F', 0, &cmd);
        spec.accurate = true;
        spec.on_entry = Some(EntryHook(Arc::new(move |name: &[u8]| {
            if name == big_name.as_slice() {
                server.delete(&bucket, "b-victim");
            }
        })));
        let report = harness::backup(&spec, None);
        assert!(
            report.protocol_violations.is_empty(),
            "{:?}",
            report.protocol_violations
        );
        assert_eq!(report.status, 'T', "{:#?}", report.messages);
        let names: Vec<String> = report.files.iter().map(|f| f.name_lossy()).collect();
        assert_eq!(
            names,
            vec![
                format!("/{}/a-big", fx.bucket),
                format!("/{}/c-after", fx.bucket)
            ]
        );
        assert!(report.files[0].data_matches(&big));
        let warnings = report.messages_of(msg::M_WARNING).join("\n");
        assert!(
            warnings.contains("'b-victim'") && warnings.contains("deleted"),
            "{warnings}"
        );
        assert_eq!(report.job_warnings, 1);
        let summary = report.messages_of(msg::M_INFO).join("\n");
        assert!(summary.contains("1 skipped"), "{summary}");

        // The next accurate Incremental records it as deleted.
        let mut incr = JobSpec::new(flavour, job_id(), 'I', 1, &fx.command(""));
        incr.accurate = true;
        let report = harness::backup(&incr, Some(&catalog));
        assert_eq!(report.status, 'T', "{:#?}", report.messages);
        assert_eq!(
            report.deleted,
            vec![format!("/{}/b-victim", fx.bucket).into_bytes()]
        );
    }
}
