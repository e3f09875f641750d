//! Real S3 servers for the integration tests: Ceph RGW (faithful, what users run) and moto (fast,
//! in-memory mock), both on 127.0.0.1.
//!
//! [`ceph()`] and [`moto()`] start their server on first use in a process by running
//! `tests/scripts/ceph-rgw.sh up` / `tests/scripts/moto.sh up`. One server of each kind is shared by
//! every test binary (and every later `cargo test`): its state lives under
//! `<workspace>/.state/s3/<name>/`, and an `flock` on `.state/s3/<name>.fixture.lock` makes sure
//! that parallel test binaries do not start two. A server that is already up and answering HTTP is
//! reused as it is. Stop them with `tests/scripts/stop-servers.sh`.
//!
//! [`ceph_user()`] adds users of their own to the Ceph server (for least-privilege tests: they
//! reach only what bucket policies, [`S3Server::put_bucket_policy`], grant them).
//!
//! Environment:
//! * `S3TEST_SKIP_CEPH=1`: [`ceph()`] panics instead of starting Ceph (for machines without it).
//! * `S3TEST_CEPH_PORT` (17480), `S3TEST_CEPH_MON_PORT` (17490, and +1), `S3TEST_MOTO_PORT` (17500).
//! * `S3TEST_CEPH_ACCESS_KEY` / `S3TEST_CEPH_SECRET_KEY`: the Ceph user's keys.
//!
//! The helpers are synchronous (tests are plain `#[test]`): they run the async SDK on a lazily
//! built, process-wide tokio runtime (see [`block_on`]).

use std::collections::HashMap;
use std::fs::{self, File, OpenOptions};
use std::future::Future;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::os::unix::io::AsRawFd;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use aws_sdk_s3::config::timeout::TimeoutConfig;
use aws_sdk_s3::config::{
    BehaviorVersion, Credentials, Region, RequestChecksumCalculation, ResponseChecksumValidation,
};
use aws_sdk_s3::error::DisplayErrorContext;
use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::Client;

/// Default fixed ports (chosen away from the usual 7xxx/8xxx/9xxx ones).
const CEPH_RGW_PORT: u16 = 17480;
const CEPH_MON_PORT: u16 = 17490;
const MOTO_PORT: u16 = 17500;

/// Keep in sync with the defaults in tests/scripts/ceph-rgw.sh.
const CEPH_ACCESS_KEY: &str = "S3TESTCEPHACCESSKEY01";
const CEPH_SECRET_KEY: &str = "s3testcephsecretkey000000000000000000001";

/// How many uploads [`S3Server::put_many`] keeps in flight.
const PUT_MANY_CONCURRENCY: usize = 16;

/// One S3 endpoint with the credentials and region to use it.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct S3Server {
    /// "ceph" or "moto"
    pub name: &'static str,
    /// `http://127.0.0.1:PORT`
    pub endpoint: String,
    pub access_key: String,
    pub secret_key: String,
    pub region: String,
}

/// The workspace root (the directory holding the top Cargo.toml).
pub fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("tests crate is inside the workspace")
        .to_path_buf()
}

/// `<workspace>/.state/s3`: where the servers keep their state and logs.
pub fn state_dir() -> PathBuf {
    workspace_root().join(".state").join("s3")
}

fn env_port(var: &str, default: u16) -> u16 {
    match std::env::var(var) {
        Ok(v) if !v.trim().is_empty() => v
            .trim()
            .parse()
            .unwrap_or_else(|_| panic!("{var}={v:?} is not a port number")),
        _ => default,
    }
}

fn env_or(var: &str, default: &str) -> String {
    std::env::var(var)
        .ok()
        .filter(|v| !v.is_empty())
        .unwrap_or_else(|| default.to_string())
}

/// The shared Ceph RGW server (started on first use). Panics if `S3TEST_SKIP_CEPH=1` or if it
/// cannot be started (the message carries the tail of the Ceph logs).
pub fn ceph() -> &'static S3Server {
    if std::env::var("S3TEST_SKIP_CEPH").as_deref() == Ok("1") {
        panic!(
            "this test needs the Ceph RGW server, but S3TEST_SKIP_CEPH=1 is set; unset it (and \
             run tests/scripts/install-deps.sh to install Ceph) to run Ceph tests"
        );
    }
    static CEPH: OnceLock<Result<S3Server, String>> = OnceLock::new();
    let server = CEPH.get_or_init(|| {
        let port = env_port("S3TEST_CEPH_PORT", CEPH_RGW_PORT);
        let mon = env_port("S3TEST_CEPH_MON_PORT", CEPH_MON_PORT);
        let access_key = env_or("S3TEST_CEPH_ACCESS_KEY", CEPH_ACCESS_KEY);
        let secret_key = env_or("S3TEST_CEPH_SECRET_KEY", CEPH_SECRET_KEY);
        let dir = state_dir().join("ceph");
        ensure_up(
            "ceph",
            "ceph-rgw.sh",
            &[port.to_string(), mon.to_string()],
            port,
            &dir.join("run").join("rgw.a.pid"),
            &format!("endpoint=http://127.0.0.1:{port}\naccess_key={access_key}\n"),
            &[
                ("S3TEST_CEPH_ACCESS_KEY", &access_key),
                ("S3TEST_CEPH_SECRET_KEY", &secret_key),
            ],
        )?;
        Ok(S3Server {
            name: "ceph",
            endpoint: format!("http://127.0.0.1:{port}"),
            access_key,
            secret_key,
            region: "us-east-1".to_string(),
        })
    });
    match server {
        Ok(s) => s,
        Err(e) => panic!("{e}"),
    }
}

/// Another user of the shared Ceph server, `uid`, with keys of its own (created on first use,
/// by `radosgw-admin user create` against the cluster's configuration). The user owns nothing
/// and is granted nothing: what it may do is what bucket policies of the main user's buckets
/// grant it (see [`S3Server::put_bucket_policy`] and [`ceph_user_arn`]). Its keys are derived
/// from `uid`, so a reused cluster gives the same user the same keys.
pub fn ceph_user(uid: &str) -> S3Server {
    assert!(
        !uid.is_empty()
            && uid
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-'),
        "ceph_user: uid {uid:?} must be lowercase letters, digits and '-'"
    );
    let main = ceph();
    static USERS: OnceLock<Mutex<HashMap<String, S3Server>>> = OnceLock::new();
    let mut users = USERS
        .get_or_init(Default::default)
        .lock()
        .unwrap_or_else(|e| e.into_inner());
    if let Some(user) = users.get(uid) {
        return user.clone();
    }
    let tag: String = uid
        .bytes()
        .filter(u8::is_ascii_alphanumeric)
        .map(|b| b.to_ascii_uppercase() as char)
        .collect();
    let access_key = format!("S3TESTUSER{tag}");
    let secret_key = format!("s3test-secret-of-{uid}-0000000000000000000000");
    let conf = state_dir().join("ceph").join("ceph.conf");
    let admin = |args: &[&str]| {
        Command::new("timeout")
            .arg("60")
            .arg("radosgw-admin")
            .args(args)
            .env("CEPH_CONF", &conf)
            .stdin(Stdio::null())
            .output()
            .unwrap_or_else(|e| panic!("running radosgw-admin: {e}"))
    };
    let display = format!("--display-name=s3 tests: {uid}");
    let (uid_arg, ak_arg, sk_arg) = (
        format!("--uid={uid}"),
        format!("--access-key={access_key}"),
        format!("--secret-key={secret_key}"),
    );
    let created = admin(&["user", "create", &uid_arg, &display, &ak_arg, &sk_arg]);
    if !created.status.success() {
        // A reused cluster already has the user: (re)set its keys.
        let keyed = admin(&["key", "create", &uid_arg, "--key-type=s3", &ak_arg, &sk_arg]);
        if !keyed.status.success() {
            panic!(
                "radosgw-admin user create {uid_arg} failed ({}): {}\nand key create failed \
                 ({}): {}",
                created.status,
                String::from_utf8_lossy(&created.stderr).trim(),
                keyed.status,
                String::from_utf8_lossy(&keyed.stderr).trim()
            );
        }
    }
    let user = S3Server {
        access_key,
        secret_key,
        ..main.clone()
    };
    users.insert(uid.to_string(), user.clone());
    user
}

/// The principal of the Ceph user `uid` in a bucket policy (RGW users without a tenant).
pub fn ceph_user_arn(uid: &str) -> String {
    format!("arn:aws:iam:::user/{uid}")
}

/// The shared moto server (started on first use). Panics if it cannot be started.
pub fn moto() -> &'static S3Server {
    static MOTO: OnceLock<Result<S3Server, String>> = OnceLock::new();
    let server = MOTO.get_or_init(|| {
        let port = env_port("S3TEST_MOTO_PORT", MOTO_PORT);
        let dir = state_dir().join("moto");
        ensure_up(
            "moto",
            "moto.sh",
            &[port.to_string()],
            port,
            &dir.join("moto.pid"),
            &format!("endpoint=http://127.0.0.1:{port}\n"),
            &[],
        )?;
        Ok(S3Server {
            name: "moto",
            endpoint: format!("http://127.0.0.1:{port}"),
            // moto accepts any credentials
            access_key: "s3test-moto-access".to_string(),
            secret_key: "s3test-moto-secret".to_string(),
            region: "us-east-1".to_string(),
        })
    });
    match server {
        Ok(s) => s,
        Err(e) => panic!("{e}"),
    }
}

/// Make sure the server `name` runs: under an exclusive flock, reuse it if its pid file names a
/// live process, the `server.env` its script wrote (endpoint, access key) is `server_env`, and its
/// port answers HTTP; else run `tests/scripts/<script> up DIR ARGS...`.
fn ensure_up(
    name: &str,
    script: &str,
    args: &[String],
    port: u16,
    pid_file: &Path,
    server_env: &str,
    envs: &[(&str, &str)],
) -> Result<(), String> {
    let state = state_dir();
    let dir = state.join(name);
    fs::create_dir_all(&state).map_err(|e| format!("creating {}: {e}", state.display()))?;
    let lock_path = state.join(format!("{name}.fixture.lock"));
    let lock = OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&lock_path)
        .map_err(|e| format!("opening {}: {e}", lock_path.display()))?;
    flock_exclusive(&lock).map_err(|e| format!("flock {}: {e}", lock_path.display()))?;

    let same_server = fs::read_to_string(dir.join("server.env")).is_ok_and(|s| s == server_env);
    if same_server && pid_alive(pid_file) && http_answers(port) {
        return Ok(()); // lock released when `lock` drops
    }

    let script_path = workspace_root().join("tests").join("scripts").join(script);
    eprintln!(
        "[s3test] starting {name}: {} up {} {}",
        script_path.display(),
        dir.display(),
        args.join(" ")
    );
    let started = std::time::Instant::now();
    let mut cmd = Command::new("bash");
    cmd.arg(&script_path).arg("up").arg(&dir).args(args);
    for (k, v) in envs {
        cmd.env(k, v);
    }
    // stdout/stderr are pipes: the scripts redirect every daemon's output to files, so nothing
    // keeps the pipes open after the script exits.
    let out = cmd
        .stdin(Stdio::null())
        .output()
        .map_err(|e| format!("running {}: {e}", script_path.display()))?;
    let stderr = String::from_utf8_lossy(&out.stderr);
    if !out.status.success() {
        return Err(format!(
            "could not start the {name} S3 test server: `{} up {} {}` failed ({}).\n\
             Is it installed? Run tests/scripts/install-deps.sh.\n{stderr}",
            script_path.display(),
            dir.display(),
            args.join(" "),
            out.status,
        ));
    }
    eprint!("{stderr}");
    eprintln!(
        "[s3test] {name} up after {:.1}s",
        started.elapsed().as_secs_f64()
    );
    drop(lock);
    Ok(())
}

fn flock_exclusive(f: &File) -> std::io::Result<()> {
    loop {
        // SAFETY: flock on a valid, open file descriptor that `f` owns.
        if unsafe { libc::flock(f.as_raw_fd(), libc::LOCK_EX) } == 0 {
            return Ok(());
        }
        let err = std::io::Error::last_os_error();
        if err.kind() != std::io::ErrorKind::Interrupted {
            return Err(err);
        }
    }
}

fn pid_alive(pid_file: &Path) -> bool {
    let Ok(text) = fs::read_to_string(pid_file) else {
        return false;
    };
    let Ok(pid) = text.trim().parse::<libc::pid_t>() else {
        return false;
    };
    // SAFETY: kill with signal 0 only checks that the process exists.
    pid > 0 && unsafe { libc::kill(pid, 0) } == 0
}

/// True if an HTTP GET / on 127.0.0.1:port gets any HTTP response.
fn http_answers(port: u16) -> bool {
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    let Ok(mut s) = TcpStream::connect_timeout(&addr, Duration::from_secs(2)) else {
        return false;
    };
    let _ = s.set_read_timeout(Some(Duration::from_secs(5)));
    let _ = s.set_write_timeout(Some(Duration::from_secs(5)));
    let req = format!("GET / HTTP/1.0\r\nHost: 127.0.0.1:{port}\r\n\r\n");
    if s.write_all(req.as_bytes()).is_err() {
        return false;
    }
    let mut buf = [0u8; 5];
    s.read_exact(&mut buf).is_ok() && &buf == b"HTTP/"
}

/// The process-wide tokio runtime the helpers run on.
pub fn runtime() -> &'static tokio::runtime::Runtime {
    static RT: OnceLock<tokio::runtime::Runtime> = OnceLock::new();
    RT.get_or_init(|| {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name("s3test-rt")
            .enable_all()
            .build()
            .expect("building the tokio runtime")
    })
}

/// Run a future to completion on [`runtime()`] (not from inside an async context).
pub fn block_on<F: Future>(f: F) -> F::Output {
    runtime().block_on(f)
}

fn make_client(s: &S3Server) -> Client {
    let conf = aws_sdk_s3::Config::builder()
        .behavior_version(BehaviorVersion::latest())
        .region(Region::new(s.region.clone()))
        .endpoint_url(s.endpoint.clone())
        .credentials_provider(Credentials::new(
            s.access_key.clone(),
            s.secret_key.clone(),
            None,
            None,
            "s3test-static",
        ))
        .force_path_style(true)
        // Ceph 16 rejects the SDK's default aws-chunked uploads with a trailing CRC32.
        .request_checksum_calculation(RequestChecksumCalculation::WhenRequired)
        .response_checksum_validation(ResponseChecksumValidation::WhenRequired)
        .timeout_config(
            TimeoutConfig::builder()
                .connect_timeout(Duration::from_secs(10))
                .operation_attempt_timeout(Duration::from_secs(120))
                .build(),
        )
        .build();
    Client::from_conf(conf)
}

fn unique_counter() -> u64 {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    COUNTER.fetch_add(1, Ordering::Relaxed)
}

/// A valid, unique bucket name: `t-<tag>-<pid>-<counter>-<nanos>`, at most 63 characters.
fn unique_bucket_name(tag: &str) -> String {
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    let suffix = format!("{}-{}-{nanos}", std::process::id(), unique_counter());
    // Lowercase; anything outside [a-z0-9] becomes '-'; no runs of '-'.
    let mut clean = String::new();
    for c in tag.chars().flat_map(char::to_lowercase) {
        let c = if c.is_ascii_lowercase() || c.is_ascii_digit() {
            c
        } else {
            '-'
        };
        if !(c == '-' && clean.ends_with('-')) {
            clean.push(c);
        }
    }
    let room = 63 - "t-".len() - "-".len() - suffix.len();
    clean.truncate(room);
    let clean = clean.trim_matches('-');
    if clean.is_empty() {
        format!("t-{suffix}")
    } else {
        format!("t-{clean}-{suffix}")
    }
}

impl S3Server {
    /// A new SDK client for this server: static credentials, path-style addressing, checksums
    /// only when required. Usable on any tokio runtime.
    pub fn client(&self) -> Client {
        make_client(self)
    }

    /// A client cached per server for the helpers; only ever used on [`runtime()`], so its
    /// connection pool never outlives the runtime it was made on.
    fn helper_client(&self) -> Client {
        static CLIENTS: OnceLock<Mutex<HashMap<S3Server, Client>>> = OnceLock::new();
        let mut map = CLIENTS
            .get_or_init(Default::default)
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        map.entry(self.clone())
            .or_insert_with(|| make_client(self))
            .clone()
    }

    /// Create a new bucket with a unique name derived from `tag` and return its name.
    pub fn unique_bucket(&self, tag: &str) -> String {
        let name = unique_bucket_name(tag);
        let client = self.helper_client();
        block_on(client.create_bucket().bucket(&name).send()).unwrap_or_else(|e| {
            panic!(
                "{}: CreateBucket {name}: {}",
                self.name,
                DisplayErrorContext(e)
            )
        });
        name
    }

    /// PutBucketPolicy: `policy` (a JSON policy document) replaces the bucket's policy.
    pub fn put_bucket_policy(&self, bucket: &str, policy: &str) {
        let client = self.helper_client();
        block_on(
            client
                .put_bucket_policy()
                .bucket(bucket)
                .policy(policy)
                .send(),
        )
        .unwrap_or_else(|e| {
            panic!(
                "{}: PutBucketPolicy {bucket}: {}\npolicy: {policy}",
                self.name,
                DisplayErrorContext(e)
            )
        });
    }

    /// PutObject.
    pub fn put(&self, bucket: &str, key: &str, bytes: Vec<u8>) {
        let client = self.helper_client();
        block_on(
            client
                .put_object()
                .bucket(bucket)
                .key(key)
                .body(ByteStream::from(bytes))
                .send(),
        )
        .unwrap_or_else(|e| {
            panic!(
                "{}: PutObject {bucket}/{key:?}: {}",
                self.name,
                DisplayErrorContext(e)
            )
        });
    }

    /// PutObject for every item, with up to 16 uploads in flight. Panics on the first failure.
    pub fn put_many(&self, bucket: &str, items: Vec<(String, Vec<u8>)>) {
        let client = self.helper_client();
        let name = self.name;
        let result: Result<(), String> = block_on(async move {
            let mut set = tokio::task::JoinSet::new();
            let mut first_err: Option<String> = None;
            let mut note = |r: Result<Result<(), String>, tokio::task::JoinError>| {
                let err = match r {
                    Ok(Ok(())) => return,
                    Ok(Err(e)) => e,
                    Err(e) => format!("upload task failed: {e}"),
                };
                first_err.get_or_insert(err);
            };
            for (key, bytes) in items {
                while set.len() >= PUT_MANY_CONCURRENCY {
                    if let Some(r) = set.join_next().await {
                        note(r);
                    }
                }
                let client = client.clone();
                let bucket = bucket.to_string();
                set.spawn(async move {
                    client
                        .put_object()
                        .bucket(&bucket)
                        .key(&key)
                        .body(ByteStream::from(bytes))
                        .send()
                        .await
                        .map(|_| ())
                        .map_err(|e| {
                            format!(
                                "{name}: PutObject {bucket}/{key:?}: {}",
                                DisplayErrorContext(e)
                            )
                        })
                });
            }
            while let Some(r) = set.join_next().await {
                note(r);
            }
            first_err.map_or(Ok(()), Err)
        });
        if let Err(e) = result {
            panic!("{e}");
        }
    }

    /// DeleteObject.
    pub fn delete(&self, bucket: &str, key: &str) {
        let client = self.helper_client();
        block_on(client.delete_object().bucket(bucket).key(key).send()).unwrap_or_else(|e| {
            panic!(
                "{}: DeleteObject {bucket}/{key:?}: {}",
                self.name,
                DisplayErrorContext(e)
            )
        });
    }

    /// All keys of the bucket (ListObjectsV2, every page), in the server's (lexicographic) order.
    pub fn list_keys(&self, bucket: &str) -> Vec<String> {
        let client = self.helper_client();
        block_on(async {
            let mut keys = Vec::new();
            let mut pages = client
                .list_objects_v2()
                .bucket(bucket)
                .into_paginator()
                .send();
            while let Some(page) = pages.next().await {
                let page = page.unwrap_or_else(|e| {
                    panic!(
                        "{}: ListObjectsV2 {bucket}: {}",
                        self.name,
                        DisplayErrorContext(e)
                    )
                });
                keys.extend(
                    page.contents()
                        .iter()
                        .filter_map(|o| o.key().map(str::to_string)),
                );
            }
            keys
        })
    }

    /// GetObject: the whole body.
    pub fn get(&self, bucket: &str, key: &str) -> Vec<u8> {
        let client = self.helper_client();
        block_on(async {
            let out = client
                .get_object()
                .bucket(bucket)
                .key(key)
                .send()
                .await
                .unwrap_or_else(|e| {
                    panic!(
                        "{}: GetObject {bucket}/{key:?}: {}",
                        self.name,
                        DisplayErrorContext(e)
                    )
                });
            let body = out
                .body
                .collect()
                .await
                .unwrap_or_else(|e| panic!("{}: reading {bucket}/{key:?}: {e}", self.name));
            body.into_bytes().to_vec()
        })
    }

    /// Write (or update) `dir/credentials`, an AWS shared-credentials file with this server's keys
    /// under `[profile]`, mode 0600. Other profiles already in the file are kept.
    pub fn write_credentials_file(&self, dir: &Path, profile: &str) -> PathBuf {
        let path = dir.join("credentials");
        fs::create_dir_all(dir).unwrap_or_else(|e| panic!("creating {}: {e}", dir.display()));
        // Keep every section but the one we (re)write.
        let mut text = String::new();
        if let Ok(old) = fs::read_to_string(&path) {
            let mut skipping = false;
            for line in old.lines() {
                let t = line.trim();
                if t.starts_with('[') && t.ends_with(']') {
                    skipping = t[1..t.len() - 1].trim() == profile;
                }
                if !skipping {
                    text.push_str(line);
                    text.push('\n');
                }
            }
            if !text.is_empty() && !text.ends_with("\n\n") {
                text.push('\n');
            }
        }
        text.push_str(&format!(
            "[{profile}]\naws_access_key_id = {}\naws_secret_access_key = {}\n",
            self.access_key, self.secret_key
        ));
        let mut f = OpenOptions::new()
            .create(true)
            .write(true)
            .truncate(true)
            .mode(0o600)
            .open(&path)
            .unwrap_or_else(|e| panic!("writing {}: {e}", path.display()));
        f.write_all(text.as_bytes())
            .unwrap_or_else(|e| panic!("writing {}: {e}", path.display()));
        // The mode above applies only when the file is created.
        fs::set_permissions(&path, fs::Permissions::from_mode(0o600))
            .unwrap_or_else(|e| panic!("chmod {}: {e}", path.display()));
        path
    }
}

/// PutBucketVersioning Enabled on `bucket`, with `client` (its owner's).
pub fn enable_versioning(client: &Client, bucket: &str) {
    use aws_sdk_s3::types::{BucketVersioningStatus, VersioningConfiguration};
    block_on(
        client
            .put_bucket_versioning()
            .bucket(bucket)
            .versioning_configuration(
                VersioningConfiguration::builder()
                    .status(BucketVersioningStatus::Enabled)
                    .build(),
            )
            .send(),
    )
    .unwrap_or_else(|e| panic!("PutBucketVersioning {bucket}: {}", DisplayErrorContext(e)));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bucket_names_are_valid() {
        let long = "A Very_LONG tag with !! odd characters and more and more and more and more";
        for tag in ["", "x", "--", "Smoke", long] {
            let n = unique_bucket_name(tag);
            assert!(n.len() >= 3 && n.len() <= 63, "{n}");
            assert!(
                n.chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-'),
                "{n}"
            );
            assert!(!n.ends_with('-') && !n.contains("--"), "{n}");
        }
        assert_ne!(unique_bucket_name("a"), unique_bucket_name("a"));
    }

    #[test]
    fn credentials_file_keeps_other_profiles() {
        let dir = std::env::temp_dir().join(format!("s3test-creds-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        let a = S3Server {
            name: "moto",
            endpoint: "http://127.0.0.1:1".into(),
            access_key: "AK1".into(),
            secret_key: "SK1".into(),
            region: "us-east-1".into(),
        };
        let b = S3Server {
            access_key: "AK2".into(),
            secret_key: "SK2".into(),
            ..a.clone()
        };
        let p = a.write_credentials_file(&dir, "one");
        b.write_credentials_file(&dir, "two");
        a.write_credentials_file(&dir, "two");
        let text = fs::read_to_string(&p).unwrap();
        assert_eq!(
            text,
            "[one]\naws_access_key_id = AK1\naws_secret_access_key = SK1\n\n\
             [two]\naws_access_key_id = AK1\naws_secret_access_key = SK1\n"
        );
        let mode = fs::metadata(&p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        fs::remove_dir_all(&dir).unwrap();
    }
}
