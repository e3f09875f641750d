//! Building blocks of the plugin's integration tests: a bucket on a real server with a
//! credentials file, the plugin string that reaches it, deterministic object data, and an
//! independent decoder of the documented key↔name scheme (README "Object names").

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU32, Ordering};

use crate::servers::S3Server;

/// A fresh bucket on `server`, a private directory, and a credentials file for it.
pub struct BucketFixture {
    pub server: &'static S3Server,
    pub bucket: String,
    pub dir: PathBuf,
    pub credentials: PathBuf,
}

static NEXT_JOB_ID: AtomicU32 = AtomicU32::new(100);

/// A job id unique in this test process.
pub fn job_id() -> u32 {
    NEXT_JOB_ID.fetch_add(1, Ordering::SeqCst)
}

impl BucketFixture {
    pub fn new(server: &'static S3Server, tag: &str) -> BucketFixture {
        let bucket = server.unique_bucket(tag);
        let dir = std::env::temp_dir().join(format!("s3fd-test-{bucket}"));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let credentials = server.write_credentials_file(&dir, "test");
        BucketFixture {
            server,
            bucket,
            dir,
            credentials,
        }
    }

    /// The plugin string for this bucket, with `extra` (`:key=value…`) appended.
    pub fn command(&self, extra: &str) -> String {
        format!(
            "s3:bucket={}:endpoint={}:region={}:credentials_file={}:profile=test{extra}",
            self.bucket,
            self.server.endpoint,
            self.server.region,
            self.credentials.display()
        )
    }

    /// The plugin string for this bucket reached through `endpoint` (e.g. a fault proxy).
    pub fn command_via(&self, endpoint: &str, extra: &str) -> String {
        self.command(extra).replacen(
            &format!("endpoint={}", self.server.endpoint),
            &format!("endpoint={endpoint}"),
            1,
        )
    }

    /// A directory under the fixture's private directory (created).
    pub fn subdir(&self, name: &str) -> PathBuf {
        let d = self.dir.join(name);
        std::fs::create_dir_all(&d).unwrap();
        d
    }

    /// Uploads `objects` and returns them as the expected bucket content.
    pub fn seed(&self, objects: Vec<(String, Vec<u8>)>) -> BTreeMap<String, Vec<u8>> {
        let expected: BTreeMap<String, Vec<u8>> = objects.iter().cloned().collect();
        self.server.put_many(&self.bucket, objects);
        expected
    }
}

/// Deterministic pseudo-random bytes (xorshift), different per `seed`.
pub fn data(seed: u64, len: usize) -> Vec<u8> {
    let mut x = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    let mut out = Vec::with_capacity(len);
    while out.len() < len {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        out.extend_from_slice(&x.to_le_bytes());
    }
    out.truncate(len);
    out
}

/// Keys that exercise the naming scheme, with the catalog name each must get (bucket `B`).
pub const ODD_KEYS: &[(&str, &str)] = &[
    ("folder/", "/B/folder/%"),
    ("a//b", "/B/a/%/b"),
    ("/leading", "/B/%/leading"),
    ("with space/and more.txt", "/B/with space/and more.txt"),
    ("percent%41literal", "/B/percent%2541literal"),
    ("plus+sign", "/B/plus+sign"),
    ("unicodé/ü/日本語-🎉", "/B/unicodé/ü/日本語-🎉"),
    ("dots/../up", "/B/dots/%2E%2E/up"),
    ("colon:key", "/B/colon:key"),
];

/// The expected catalog name of `key` in `bucket` (independent of the plugin's code).
pub fn expected_name(bucket: &str, key: &str) -> Vec<u8> {
    if let Some((_, name)) = ODD_KEYS.iter().find(|(k, _)| *k == key) {
        return name.replacen("/B/", &format!("/{bucket}/"), 1).into_bytes();
    }
    assert!(
        key.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-_./".contains(&b))
            && !key.contains("//"),
        "test key {key:?} needs an explicit expected name"
    );
    format!("/{bucket}/{key}").into_bytes()
}

/// Where a restore to `dir` puts the object named `name`.
pub fn restored_path(dir: &Path, name: &[u8]) -> PathBuf {
    let mut p = dir.as_os_str().to_owned();
    p.push(std::ffi::OsStr::from_bytes_compat(name));
    PathBuf::from(p)
}

trait FromBytesCompat {
    fn from_bytes_compat(b: &[u8]) -> &Self;
}

impl FromBytesCompat for std::ffi::OsStr {
    fn from_bytes_compat(b: &[u8]) -> &Self {
        use std::os::unix::ffi::OsStrExt;
        std::ffi::OsStr::from_bytes(b)
    }
}

/// The wall clock, whole seconds since the epoch.
pub fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

/// Waits until the wall clock is past second `t + secs` (S3 times have one-second resolution).
pub fn sleep_past(t: i64, secs: i64) {
    while now() <= t + secs {
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
}

/// `2026-11-20T12:00:00Z` for seconds since the epoch (UTC; proleptic Gregorian calendar).
pub fn utc(secs: i64) -> String {
    let days = secs.div_euclid(86_400);
    let rem = secs.rem_euclid(86_400);
    // Civil date from days since 1970-01-01 (H. Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

#[cfg(test)]
mod utc_tests {
    #[test]
    fn formats_utc() {
        assert_eq!(super::utc(0), "1970-01-01T00:00:00Z");
        assert_eq!(super::utc(1_795_176_000), "2026-11-20T12:00:00Z");
        assert_eq!(super::utc(951_782_400), "2000-02-29T00:00:00Z");
    }
}
