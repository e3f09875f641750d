//! Building the S3 client of a job: endpoint, region, addressing, credentials (a shared
//! credentials file or the standard AWS chain), and protocol settings that every S3 server we
//! support accepts.

use std::os::unix::fs::PermissionsExt;
use std::time::Duration;

use aws_config::profile::ProfileFileCredentialsProvider;
use aws_config::BehaviorVersion;
use aws_credential_types::provider::ProvideCredentials;
use aws_runtime::env_config::file::{EnvConfigFileKind, EnvConfigFiles};
use aws_sdk_s3::config::retry::RetryConfig;
use aws_sdk_s3::config::{
    Region, RequestChecksumCalculation, ResponseChecksumValidation, SharedCredentialsProvider,
    StalledStreamProtectionConfig,
};
use aws_smithy_types::timeout::TimeoutConfig;
use aws_types::os_shim_internal::{Env, Fs};

use std::sync::Arc;

use crate::config::options::Options;
use crate::runtime::block_on;
use crate::s3::direct_get::{DirectGet, EndpointSettings};
use crate::s3::http::{tls_config, FirstContact, TlsHttpClient, Trust};

/// The profile credentials are read from: the `profile` option, else `AWS_PROFILE` (as the SDK
/// does), else `default`.
fn profile_name(options: &Options) -> String {
    options
        .profile
        .clone()
        .or_else(|| std::env::var("AWS_PROFILE").ok().filter(|p| !p.is_empty()))
        .unwrap_or_else(|| "default".to_string())
}

/// Where credentials come from, for messages (never the secret itself).
pub fn credential_source(options: &Options) -> String {
    let profile = profile_name(options);
    match &options.credentials_file {
        Some(path) => format!("credentials_file {} (profile {profile})", path.display()),
        None => format!(
            "the AWS credential chain (environment variables, profile {profile}, instance role)"
        ),
    }
}

/// A job's client plus what messages need to say about it.
#[derive(Clone)]
pub struct S3 {
    pub client: aws_sdk_s3::Client,
    pub credential_source: String,
    /// GETs of the job's bucket without the SDK's request pipeline, where its endpoint allows.
    pub direct: Option<Arc<DirectGet>>,
}

impl S3 {
    /// The direct GET for `bucket`, if there is one.
    pub fn direct_for(&self, bucket: &str) -> Option<&DirectGet> {
        self.direct.as_deref().filter(|d| d.bucket == bucket)
    }
}

/// Refuses a credentials file that others can read (it holds a secret key).
fn check_credentials_file(options: &Options) -> Result<(), String> {
    let Some(path) = &options.credentials_file else {
        return Ok(());
    };
    let meta = std::fs::metadata(path).map_err(|e| {
        format!(
            "plugin option credentials_file: cannot read {}: {e}",
            path.display()
        )
    })?;
    if !meta.is_file() {
        return Err(format!(
            "plugin option credentials_file: {} is not a regular file",
            path.display()
        ));
    }
    let mode = meta.permissions().mode() & 0o777;
    if mode & 0o077 != 0 {
        return Err(format!(
            "plugin option credentials_file: {} is readable by group or others (mode {mode:04o}); \
             make it private with chmod 600",
            path.display()
        ));
    }
    Ok(())
}

/// The HTTP client for a non-default TLS setup (`ca_file`, `verify_tls=no`), if any, and its
/// TLS configuration.
fn tls_client(options: &Options) -> Result<Option<(TlsHttpClient, rustls::ClientConfig)>, String> {
    let trust = if !options.verify_tls {
        Trust::Insecure
    } else if let Some(path) = &options.ca_file {
        let pem = std::fs::read(path)
            .map_err(|e| format!("plugin option ca_file: cannot read {}: {e}", path.display()))?;
        Trust::Bundle(pem)
    } else {
        return Ok(None);
    };
    let named = |e: String| match &options.ca_file {
        Some(path) => format!("plugin option ca_file: {} {e}", path.display()),
        None => e,
    };
    let config = tls_config(&trust).map_err(named)?;
    let client = TlsHttpClient::new(config.clone(), CONNECT_TIMEOUT, options.read_timeout);
    Ok(Some((client, config)))
}

/// Why `credentials_file` gave no credentials, when its profile is not in it: the SDK says so
/// for a profile named with `profile`, but only "not enabled" for an absent `[default]`.
async fn missing_profile(options: &Options) -> Option<String> {
    let path = options.credentials_file.as_ref()?;
    let files = EnvConfigFiles::builder()
        .with_file(EnvConfigFileKind::Credentials, path)
        .include_default_config_file(false)
        .build();
    let set = aws_config::profile::load(&Fs::real(), &Env::real(), &files, None)
        .await
        .ok()?;
    let profile = profile_name(options);
    set.get_profile(&profile).is_none().then(|| {
        format!(
            "profile `{profile}` was not defined: {} has no [{profile}] section",
            path.display()
        )
    })
}

const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// Builds the client and checks that credentials can be obtained (not yet that the server
/// accepts them: the first request tells).
pub fn connect(options: &Options) -> Result<S3, String> {
    check_credentials_file(options)?;
    let tls = tls_client(options)?;
    let source = credential_source(options);
    block_on(async {
        let mut loader = aws_config::defaults(BehaviorVersion::latest());
        if let Some(profile) = &options.profile {
            loader = loader.profile_name(profile);
        }
        if let Some(path) = &options.credentials_file {
            let files = EnvConfigFiles::builder()
                .with_file(EnvConfigFileKind::Credentials, path)
                .include_default_config_file(false)
                .build();
            let mut provider = ProfileFileCredentialsProvider::builder().profile_files(files);
            if let Some(profile) = &options.profile {
                provider = provider.profile_name(profile);
            }
            loader = loader.credentials_provider(provider.build());
        }
        let shared = loader.load().await;
        let provider: SharedCredentialsProvider = shared
            .credentials_provider()
            .ok_or_else(|| format!("no credential provider could be set up from {source}"))?;
        let creds = tokio::time::timeout(Duration::from_secs(30), provider.provide_credentials())
            .await
            .map_err(|_| format!("no credentials from {source} within 30 s"))?;
        if let Err(e) = creds {
            let why = match missing_profile(options).await {
                Some(why) => why,
                None => crate::s3::errors::chain(&e),
            };
            return Err(format!("no usable credentials from {source}: {why}"));
        }
        let region = options
            .region
            .clone()
            .map(Region::new)
            .or_else(|| shared.region().cloned())
            .unwrap_or_else(|| Region::new("us-east-1"));
        let mut config = aws_sdk_s3::config::Builder::from(&shared)
            .region(region.clone())
            .force_path_style(options.path_style)
            .credentials_provider(provider.clone())
            // Ceph before Reef rejects aws-chunked uploads with trailing checksums, and
            // several servers send no checksums on GET.
            .request_checksum_calculation(RequestChecksumCalculation::WhenRequired)
            .response_checksum_validation(ResponseChecksumValidation::WhenRequired)
            // Our own read timeout watches bodies; a body paused by back-pressure is not a stall.
            .stalled_stream_protection(StalledStreamProtectionConfig::disabled())
            // One retry policy, ours (`retry`), for every request.
            .retry_config(RetryConfig::disabled())
            // A wrong endpoint fails fast and says so (`FirstContact`).
            .interceptor(FirstContact::default())
            .timeout_config(
                TimeoutConfig::builder()
                    .connect_timeout(CONNECT_TIMEOUT)
                    .read_timeout(options.read_timeout)
                    .build(),
            );
        let tls_config = tls.as_ref().map(|(_, c)| c.clone());
        if let Some((client, _)) = tls {
            config = config.http_client(client.shared());
        }
        if let Some(endpoint) = &options.endpoint {
            config = config.endpoint_url(endpoint);
        }
        let client = aws_sdk_s3::Client::from_conf(config.build());
        let target = EndpointSettings {
            bucket: &options.bucket,
            region: region.to_string(),
            endpoint: options.endpoint.as_deref().or(shared.endpoint_url()),
            path_style: options.path_style,
            use_fips: shared.use_fips().unwrap_or(false),
            use_dual_stack: shared.use_dual_stack().unwrap_or(false),
        };
        let direct =
            match DirectGet::new(target, provider, tls_config.as_ref(), CONNECT_TIMEOUT).await {
                Ok(direct) => Some(Arc::new(direct)),
                Err(why) => {
                    log::debug!("GETs of s3://{} go through the SDK: {why}", options.bucket);
                    None
                }
            };
        Ok(S3 {
            client,
            credential_source: source.clone(),
            direct,
        })
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::s3::errors::Failure;
    use crate::s3::http::CANNOT_CONNECT;
    use crate::s3::retry::{RetryPolicy, RetryStats};
    use tokio_util::sync::CancellationToken;

    /// A private credentials file holding `text`, in a fresh directory.
    fn credentials_file(tag: &str, text: &str) -> std::path::PathBuf {
        let dir = std::env::temp_dir().join(format!("s3fd-client-{tag}-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("credentials");
        std::fs::write(&path, text).unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
        path
    }

    fn connect_with(path: &std::path::Path, extra: &str) -> Result<S3, String> {
        let options = Options::parse(
            &format!(
                "s3:bucket=b:endpoint=http://127.0.0.1:1:credentials_file={}{extra}",
                path.display()
            ),
            &[],
        )
        .unwrap();
        connect(&options)
    }

    /// A port on 127.0.0.1 that refuses connections (nothing listens there any more).
    fn refused_port() -> u16 {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap().port()
    }

    /// One ListObjectsV2 of `endpoint` under a policy of `retries` (60 s budget): its result,
    /// the retries made and the time taken.
    fn list_once(endpoint: &str, retries: u32) -> (Result<(), Failure>, u64, Duration) {
        let path = credentials_file(
            &format!("list-{}", endpoint.replace([':', '/'], "_")),
            "[default]\naws_access_key_id = AKIDEXAMPLE\naws_secret_access_key = notreallysecret\n",
        );
        let options = Options::parse(
            &format!(
                "s3:bucket=b:endpoint={endpoint}:region=us-east-1:credentials_file={}",
                path.display()
            ),
            &[],
        )
        .unwrap();
        let s3 = connect(&options).unwrap();
        let policy = RetryPolicy {
            retries,
            max_elapsed: Duration::from_secs(60),
        };
        let stats = RetryStats::default();
        let started = std::time::Instant::now();
        let result = block_on(policy.request(
            "listing s3://b/",
            &CancellationToken::new(),
            &stats,
            Duration::from_secs(10),
            || s3.client.list_objects_v2().bucket("b").send(),
        ))
        .map(|_| ());
        let _ = std::fs::remove_dir_all(path.parent().unwrap());
        (result, stats.retries(), started.elapsed())
    }

    /// An endpoint that never answered: a few quick tries, then a failure naming it.
    #[test]
    fn a_refused_endpoint_fails_fast_naming_it() {
        let port = refused_port();
        let endpoint = format!("http://127.0.0.1:{port}");
        let (result, retries, took) = list_once(&endpoint, 10);
        let Err(Failure::CannotConnect(text)) = result else {
            panic!("{result:?}");
        };
        assert!(
            text.starts_with(&format!("cannot connect to endpoint {endpoint}: "))
                && text.to_lowercase().contains("connection refused")
                && text.contains("gave up after 2 retries"),
            "{text}"
        );
        assert_eq!(retries, 2);
        assert!(took < Duration::from_secs(5), "{took:?}");
    }

    /// An endpoint that answered once (503) and then went away is retried under the whole
    /// policy, like a server restarting mid-job.
    #[test]
    fn an_endpoint_that_answered_is_retried_fully_when_it_goes_away() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let endpoint = format!("http://{}", listener.local_addr().unwrap());
        let server = std::thread::spawn(move || {
            use std::io::{BufRead, BufReader, Write};
            let (mut stream, _) = listener.accept().unwrap();
            let mut reader = BufReader::new(stream.try_clone().unwrap());
            let mut line = String::new();
            while reader.read_line(&mut line).unwrap() > 0 && line != "\r\n" {
                line.clear();
            }
            stream
                .write_all(
                    b"HTTP/1.1 503 Service Unavailable\r\ncontent-length: 0\r\n\
                      connection: close\r\n\r\n",
                )
                .unwrap();
            // The listener closes here: the port refuses from now on.
        });
        let (result, retries, _) = list_once(&endpoint, 4);
        server.join().unwrap();
        let Err(Failure::Unreachable(text)) = result else {
            panic!("{result:?}");
        };
        assert!(
            !text.contains(CANNOT_CONNECT) && text.contains("gave up after 4 retries"),
            "{text}"
        );
        assert_eq!(retries, 4);
    }

    /// Without a `profile` option a file without `[default]` is refused for the same reason
    /// as an explicit profile the file lacks: the message names the file and the profile.
    #[test]
    fn a_missing_profile_is_named_whether_implicit_or_explicit() {
        if std::env::var_os("AWS_PROFILE").is_some() {
            eprintln!("AWS_PROFILE is set: the implicit profile is not `default`, skipped");
            return;
        }
        let path = credentials_file(
            "profiles",
            "[other]\naws_access_key_id = AKIDEXAMPLE\naws_secret_access_key = notreallysecret\n",
        );
        let file = path.display().to_string();
        for (extra, profile) in [("", "default"), (":profile=nosuch", "nosuch")] {
            let err = connect_with(&path, extra).err().expect("no such profile");
            assert!(
                err.contains(&file)
                    && err.contains(&format!("profile {profile})"))
                    && err.contains(&format!("profile `{profile}` was not defined")),
                "{extra:?}: {err}"
            );
            assert!(!err.contains("notreallysecret"), "{err}");
        }
        let ok = connect_with(&path, ":profile=other").map(|s| s.credential_source);
        assert_eq!(ok, Ok(format!("credentials_file {file} (profile other)")));
        let _ = std::fs::remove_dir_all(path.parent().unwrap());
    }
}
