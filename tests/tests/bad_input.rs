//! Bad input ends the job with a fatal job message that names what is wrong, and the same
//! loaded plugin serves the next job normally.

use std::os::unix::fs::PermissionsExt;

use integration_tests::harness::{self, msg, Flavour, JobReport, JobSpec};
use integration_tests::scenario::{job_id, BucketFixture};
use integration_tests::servers::{self, S3Server};

fn run(flavour: Flavour, command: &str) -> JobReport {
    harness::backup(&JobSpec::new(flavour, job_id(), 'F', 0, command), None)
}

fn fatal_text(report: &JobReport) -> String {
    report.messages_of(msg::M_FATAL).join("\n")
}

/// The job failed with a fatal message containing every one of `needles`, and a good job on
/// the same plugin afterwards saves the bucket.
fn assert_fails_naming(
    server: &'static S3Server,
    flavour: Flavour,
    command: &str,
    needles: &[&str],
    good: &BucketFixture,
) {
    let report = run(flavour, command);
    assert!(
        report.protocol_violations.is_empty(),
        "{:?}",
        report.protocol_violations
    );
    assert_eq!(
        report.status, 'f',
        "command {command}: status {} messages {:#?}",
        report.status, report.messages
    );
    assert!(report.files.is_empty());
    let text = fatal_text(&report);
    for needle in needles {
        assert!(
            text.contains(needle),
            "fatal message for {command} lacks {needle:?}: {text}"
        );
    }
    let everything: String = report
        .messages
        .iter()
        .map(|(_, m)| m.as_str())
        .chain(report.debug.iter().map(String::as_str))
        .collect();
    assert!(
        !everything.contains(server.secret_key.as_str()),
        "a secret reached the job log"
    );
    let next = run(flavour, &good.command(""));
    assert_eq!(
        next.status, 'T',
        "next job after {command}: {:#?}",
        next.messages
    );
    assert_eq!(next.files.len(), 1);
}

fn bad_options_and_buckets(server: &'static S3Server) {
    let good = BucketFixture::new(server, "good");
    good.seed(vec![("k".into(), b"v".to_vec())]);
    let base = |extra: &str| good.command(extra);
    for flavour in Flavour::ALL {
        let no_bucket = base("").replace(&format!("bucket={}:", good.bucket), "");
        assert_fails_naming(server, flavour, &no_bucket, &["bucket", "missing"], &good);
        assert_fails_naming(
            server,
            flavour,
            &base(":colour=red"),
            &["colour", "unknown option"],
            &good,
        );
        assert_fails_naming(
            server,
            flavour,
            &base(":path_style=maybe"),
            &["path_style", "yes or no"],
            &good,
        );
        assert_fails_naming(
            server,
            flavour,
            &base(":concurrency=lots"),
            &["concurrency", "whole number"],
            &good,
        );
        assert_fails_naming(
            server,
            flavour,
            &base(":prefetch_bytes=0"),
            &["prefetch_bytes"],
            &good,
        );
        assert_fails_naming(
            server,
            flavour,
            &base(":endpoint=ftp://x"),
            &["endpoint"],
            &good,
        );
        let missing = good.command("").replacen(
            &format!("bucket={}", good.bucket),
            "bucket=no-such-bucket-s3fd",
            1,
        );
        assert_fails_naming(
            server,
            flavour,
            &missing,
            &["no-such-bucket-s3fd", "does not exist"],
            &good,
        );
        let unreachable = format!(
            "s3:bucket={}:endpoint=http://127.0.0.1:1:credentials_file={}:profile=test:retries=1",
            good.bucket,
            good.credentials.display()
        );
        assert_fails_naming(
            server,
            flavour,
            &unreachable,
            &["http://127.0.0.1:1", "cannot reach"],
            &good,
        );
    }
}

/// A backup job whose endpoint refuses connections fails within 10 s (a few quick tries, not
/// the whole retry policy) with a fatal message naming the endpoint.
#[test]
fn a_refused_endpoint_fails_the_job_fast_naming_it() {
    let server = servers::moto();
    let good = BucketFixture::new(server, "refused");
    good.seed(vec![("k".into(), b"v".to_vec())]);
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let endpoint = format!("http://127.0.0.1:{port}");
    let refused = good.command("").replace(&server.endpoint, &endpoint);
    assert!(refused.contains(&endpoint), "{refused}");
    for flavour in Flavour::ALL {
        let good_job = || {
            let ok = run(flavour, &good.command(""));
            assert_eq!(ok.status, 'T', "{:#?}", ok.messages);
            assert_eq!(ok.files.len(), 1);
        };
        // Loads the plugin first, so that the time below is the refused job's.
        good_job();
        let started = std::time::Instant::now();
        let report = run(flavour, &refused);
        let took = started.elapsed();
        assert_eq!(report.status, 'f', "{:#?}", report.messages);
        let fatal = fatal_text(&report);
        assert!(
            fatal.contains(&format!("cannot connect to endpoint {endpoint}"))
                && fatal.to_lowercase().contains("connection refused"),
            "{fatal}"
        );
        assert!(
            took < std::time::Duration::from_secs(10),
            "{took:?}: {fatal}"
        );
        // The same plugin serves the next job as before.
        good_job();
    }
}

#[test]
fn moto_bad_options_and_buckets() {
    bad_options_and_buckets(servers::moto());
}

#[test]
fn ceph_bad_options_and_buckets() {
    bad_options_and_buckets(servers::ceph());
}

#[test]
fn credentials_file_problems_name_the_file() {
    let server = servers::ceph();
    let good = BucketFixture::new(server, "creds");
    good.seed(vec![("k".into(), b"v".to_vec())]);
    let dir = good.subdir("creds");

    // Group/world-readable: refused before any request.
    let open = dir.join("open-credentials");
    std::fs::copy(&good.credentials, &open).unwrap();
    std::fs::set_permissions(&open, std::fs::Permissions::from_mode(0o644)).unwrap();
    let cmd = good.command("").replace(
        &good.credentials.display().to_string(),
        &open.display().to_string(),
    );
    let path = open.display().to_string();
    assert_fails_naming(
        server,
        Flavour::Bareos,
        &cmd,
        &["credentials_file", &path, "chmod 600"],
        &good,
    );

    // Missing file.
    let cmd = good.command("").replace(
        &good.credentials.display().to_string(),
        "/nonexistent/creds",
    );
    assert_fails_naming(
        server,
        Flavour::Bacula,
        &cmd,
        &["credentials_file", "/nonexistent/creds"],
        &good,
    );

    // A profile the file does not have.
    let cmd = good.command("").replace("profile=test", "profile=absent");
    assert_fails_naming(
        server,
        Flavour::Bareos,
        &cmd,
        &["credentials_file", "absent"],
        &good,
    );

    // No profile option and no [default] section: the same reason, for profile default.
    let cmd = good.command("").replace(":profile=test", "");
    let path = good.credentials.display().to_string();
    assert_fails_naming(
        server,
        Flavour::Bacula,
        &cmd,
        &[
            "credentials_file",
            &path,
            "profile `default` was not defined",
        ],
        &good,
    );

    // Wrong secret: Ceph refuses the signature; the message names the credential source.
    let wrong = dir.join("wrong-credentials");
    std::fs::write(
        &wrong,
        format!("[test]\naws_access_key_id = {}\naws_secret_access_key = wrongsecretwrongsecretwrongsecret00000000\n", server.access_key),
    )
    .unwrap();
    std::fs::set_permissions(&wrong, std::fs::Permissions::from_mode(0o600)).unwrap();
    let cmd = good.command("").replace(
        &good.credentials.display().to_string(),
        &wrong.display().to_string(),
    );
    let path = wrong.display().to_string();
    for flavour in Flavour::ALL {
        assert_fails_naming(
            server,
            flavour,
            &cmd,
            &["denied", &path, &good.bucket],
            &good,
        );
    }

    // Unknown access key.
    std::fs::write(
        &wrong,
        "[test]\naws_access_key_id = NOSUCHKEY0000000000\naws_secret_access_key = x\n",
    )
    .unwrap();
    assert_fails_naming(server, Flavour::Bareos, &cmd, &["denied", &path], &good);
}
