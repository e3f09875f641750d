//! Without `credentials_file`, the plugin uses the standard AWS credential chain. This test
//! binary owns its process environment (one test), so it can set the chain's variables.

use integration_tests::harness::{self, msg, Flavour, JobSpec};
use integration_tests::scenario::{job_id, BucketFixture};
use integration_tests::servers;

#[test]
fn environment_credentials_are_used_and_their_absence_is_named() {
    let server = servers::ceph();
    let fx = BucketFixture::new(server, "chain");
    fx.seed(vec![("k".into(), b"value".to_vec())]);
    let command = format!(
        "s3:bucket={}:endpoint={}:region={}",
        fx.bucket, server.endpoint, server.region
    );
    // Nothing from the developer's own AWS setup may interfere.
    std::env::set_var("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent/credentials");
    std::env::set_var("AWS_CONFIG_FILE", "/nonexistent/config");
    std::env::set_var("AWS_EC2_METADATA_DISABLED", "true");
    std::env::remove_var("AWS_PROFILE");
    std::env::remove_var("AWS_SESSION_TOKEN");

    std::env::set_var("AWS_ACCESS_KEY_ID", &server.access_key);
    std::env::set_var("AWS_SECRET_ACCESS_KEY", &server.secret_key);
    let ok = harness::backup(
        &JobSpec::new(Flavour::Bareos, job_id(), 'F', 0, &command),
        None,
    );
    assert_eq!(ok.status, 'T', "{:#?}", ok.messages);
    assert_eq!(ok.files.len(), 1);
    assert!(ok.files[0].data_matches(b"value"));

    std::env::remove_var("AWS_ACCESS_KEY_ID");
    std::env::remove_var("AWS_SECRET_ACCESS_KEY");
    let missing = harness::backup(
        &JobSpec::new(Flavour::Bareos, job_id(), 'F', 0, &command),
        None,
    );
    assert_eq!(missing.status, 'f', "{:#?}", missing.messages);
    let text = missing.messages_of(msg::M_FATAL).join("\n");
    assert!(text.contains("AWS credential chain"), "{text}");
}
