//! Proves the S3 server fixtures (tests/src/servers.rs) on both Ceph RGW and moto: bucket
//! creation, odd keys round-tripping exactly through PUT / LIST / GET / DELETE, paged listings,
//! bulk upload, and the credentials file.

use integration_tests::servers::{self, S3Server};

/// Keys that S3 allows and that naive clients or servers mangle.
const ODD_KEYS: &[&str] = &[
    "a//b",
    "/lead",
    "dir/",
    "sp ace",
    "pct%41",
    "plus+",
    "unicodé/ü",
    "plain.txt",
    "deep/er/path/file",
    "tilde~star*quote'",
];

fn odd_keys_roundtrip(s: &S3Server) {
    let bucket = s.unique_bucket("smoke-odd");
    for (i, k) in ODD_KEYS.iter().enumerate() {
        // "dir/" gets an empty body: the usual "folder marker".
        let body = if k.ends_with('/') {
            Vec::new()
        } else {
            format!("{i}:{k}").into_bytes()
        };
        s.put(&bucket, k, body);
    }

    let mut expected: Vec<String> = ODD_KEYS.iter().map(|k| k.to_string()).collect();
    expected.sort(); // S3 lists in UTF-8 byte order, which is Rust's String order
    assert_eq!(s.list_keys(&bucket), expected, "{}: listing", s.name);

    for (i, k) in ODD_KEYS.iter().enumerate() {
        let want = if k.ends_with('/') {
            Vec::new()
        } else {
            format!("{i}:{k}").into_bytes()
        };
        assert_eq!(s.get(&bucket, k), want, "{}: body of {k:?}", s.name);
    }

    for k in ODD_KEYS {
        s.delete(&bucket, k);
    }
    assert!(
        s.list_keys(&bucket).is_empty(),
        "{}: keys left after delete",
        s.name
    );
}

/// More than one ListObjectsV2 page (1,000 keys a page), uploaded with put_many.
fn paged_listing(s: &S3Server) {
    let bucket = s.unique_bucket("smoke-many");
    let items: Vec<(String, Vec<u8>)> = (0..1234)
        .map(|i| (format!("k/{i:05}"), format!("v{i}").into_bytes()))
        .collect();
    let mut expected: Vec<String> = items.iter().map(|(k, _)| k.clone()).collect();
    expected.sort();
    let t = std::time::Instant::now();
    s.put_many(&bucket, items);
    eprintln!(
        "{}: put_many of 1234 objects took {:.2}s",
        s.name,
        t.elapsed().as_secs_f64()
    );
    assert_eq!(s.list_keys(&bucket), expected, "{}: paged listing", s.name);
    assert_eq!(s.get(&bucket, "k/01233"), b"v1233");
}

/// The credentials file is read by the SDK's own profile loader, and the plain `client()` works
/// on a runtime of the caller's own.
// aws-config's ProfileFiles is a deprecated alias of aws-runtime's EnvConfigFiles; the alias
// avoids a direct dependency on aws-runtime.
#[allow(deprecated)]
fn credentials_file(s: &S3Server) {
    use aws_config::profile::profile_file::{ProfileFileKind, ProfileFiles};
    use aws_credential_types::provider::ProvideCredentials;

    let dir = std::env::temp_dir().join(format!("s3test-smoke-{}-{}", s.name, std::process::id()));
    let path = s.write_credentials_file(&dir, "smoke");
    let bucket = s.unique_bucket("smoke-creds");

    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let files = ProfileFiles::builder()
        .with_file(ProfileFileKind::Credentials, &path)
        .build();
    let provider = aws_config::profile::ProfileFileCredentialsProvider::builder()
        .profile_files(files)
        .profile_name("smoke")
        .build();
    let creds = rt
        .block_on(provider.provide_credentials())
        .expect("credentials from the file");
    assert_eq!(creds.access_key_id(), s.access_key);
    assert_eq!(creds.secret_access_key(), s.secret_key);
    std::fs::remove_dir_all(&dir).unwrap();

    let out = rt
        .block_on(s.client().list_buckets().send())
        .expect("ListBuckets");
    assert!(
        out.buckets()
            .iter()
            .any(|b| b.name() == Some(bucket.as_str())),
        "{}: new bucket {bucket} not listed",
        s.name
    );
}

#[test]
fn ceph_odd_keys_roundtrip() {
    odd_keys_roundtrip(servers::ceph());
}

#[test]
fn moto_odd_keys_roundtrip() {
    odd_keys_roundtrip(servers::moto());
}

#[test]
fn ceph_paged_listing() {
    paged_listing(servers::ceph());
}

#[test]
fn moto_paged_listing() {
    paged_listing(servers::moto());
}

#[test]
fn ceph_credentials_file() {
    credentials_file(servers::ceph());
}

#[test]
fn moto_credentials_file() {
    credentials_file(servers::moto());
}

/// The Ceph script checks free disk space itself (in MiB, not Ceph's percent of the disk, which
/// on a big shared disk refuses to start with gigabytes free and says so only in an exit status
/// of 28): short of `S3TEST_CEPH_MIN_FREE_MB` it starts no daemon and names the shortfall and the
/// setting.
#[test]
fn ceph_script_refuses_to_start_short_of_disk_space_and_says_so() {
    let dir = servers::state_dir().join(format!("ceph-no-space-{}", std::process::id()));
    let free_ports: Vec<u16> = (0..2)
        .map(|_| {
            let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
            l.local_addr().expect("local addr").port()
        })
        .collect();
    let out = std::process::Command::new("bash")
        .arg(servers::workspace_root().join("tests/scripts/ceph-rgw.sh"))
        .arg("up")
        .arg(&dir)
        .arg(free_ports[0].to_string())
        .arg(free_ports[1].to_string())
        // more than any disk has
        .env("S3TEST_CEPH_MIN_FREE_MB", "1000000000000")
        .stdin(std::process::Stdio::null())
        .output()
        .expect("run ceph-rgw.sh");
    let stderr = String::from_utf8_lossy(&out.stderr).to_string();
    let started = dir.join("run").join("mon.a.pid").exists();
    let _ = std::fs::remove_dir_all(&dir);
    let _ = std::fs::remove_file(dir.with_extension("up.lock"));
    assert!(!out.status.success(), "started anyway: {stderr}");
    assert!(!started, "a mon was started: {stderr}");
    assert!(
        stderr.contains("MiB free on")
            && stderr.contains("needs 1000000000000 MiB (S3TEST_CEPH_MIN_FREE_MB)"),
        "the message names neither the free space nor the setting: {stderr}"
    );
}
