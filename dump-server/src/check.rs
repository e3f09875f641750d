//! `dump-server check`: pre-flight of a plugin string from the dump server's point of view, one
//! line per check (`OK`, `FAIL` or `SKIP`, the check, the reason), exit 1 if any failed.
//! Nothing printed ever contains a secret: messages name the credential source, not its keys.

use crate::stdout::outln;
use std::io::Write;
use std::net::{TcpStream, ToSocketAddrs};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use s3_plugin::config::naming::double_quoted;
use s3_plugin::config::options::Options;
use s3_plugin::runtime::block_on;
use s3_plugin::s3::client::{connect, S3};
use s3_plugin::s3::errors::{bucket_message, classify, Failure as S3Failure};
use s3_plugin::s3::listing::Pages;
use s3_plugin::s3::retry::{RetryPolicy, RetryStats};
use tokio_util::sync::CancellationToken;

use crate::exit::Failure;
use crate::plugin_probe::{check_library, DEFAULT_LIBRARIES};
use crate::plugin_string::BaseString;

#[derive(clap::Args, Debug)]
pub struct CheckArgs {
    /// The plugin string to check, as in a FileSet's Plugin line ('s3:bucket=NAME:…').
    #[arg(long, value_name = "STRING")]
    plugin: String,
    /// The plugin library to load [default: the first of /usr/lib/bareos/plugins/s3-fd.so,
    /// /usr/lib64/bareos/plugins/s3-fd.so, /usr/lib/bacula/s3-fd.so that exists]
    #[arg(long, value_name = "PATH")]
    plugin_library: Option<PathBuf>,
    /// Seconds to wait for the TCP connection and the TLS handshake.
    #[arg(long, value_name = "SECONDS", default_value_t = 10)]
    timeout: u64,
}

#[derive(Default)]
struct Report {
    failed: bool,
}

impl Report {
    fn line(&mut self, verdict: &str, check: &str, detail: &str) {
        if verdict == "FAIL" {
            self.failed = true;
        }
        outln!("{verdict:<4}  {check:<20}  {detail}");
        let _ = std::io::stdout().flush();
    }
    fn ok(&mut self, check: &str, detail: &str) {
        self.line("OK", check, detail);
    }
    fn fail(&mut self, check: &str, detail: &str) {
        self.line("FAIL", check, detail);
    }
    fn skip(&mut self, check: &str, detail: &str) {
        self.line("SKIP", check, detail);
    }
}

/// The host and port the client connects to.
struct Target {
    tls: bool,
    host: String,
    port: u16,
}

fn target(options: &Options) -> Result<Target, String> {
    let Some(endpoint) = &options.endpoint else {
        let region = options
            .region
            .clone()
            .or_else(|| std::env::var("AWS_REGION").ok())
            .or_else(|| std::env::var("AWS_DEFAULT_REGION").ok())
            .unwrap_or_else(|| "us-east-1".into());
        let host = if options.path_style {
            format!("s3.{region}.amazonaws.com")
        } else {
            format!("{}.s3.{region}.amazonaws.com", options.bucket)
        };
        return Ok(Target {
            tls: true,
            host,
            port: 443,
        });
    };
    let (tls, rest) = if let Some(r) = endpoint.strip_prefix("https://") {
        (true, r)
    } else if let Some(r) = endpoint.strip_prefix("http://") {
        (false, r)
    } else {
        return Err(format!("'{endpoint}' is not an http:// or https:// URL"));
    };
    let authority = rest.split('/').next().unwrap_or("");
    let authority = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
    let (host, port) = if let Some(v6) = authority.strip_prefix('[') {
        let (h, after) = v6.split_once(']').ok_or("unclosed [ in the endpoint")?;
        (h.to_string(), after.strip_prefix(':').map(str::to_string))
    } else {
        match authority.rsplit_once(':') {
            Some((h, p)) => (h.to_string(), Some(p.to_string())),
            None => (authority.to_string(), None),
        }
    };
    let port = match port {
        Some(p) => p
            .parse()
            .map_err(|_| format!("bad port '{p}' in the endpoint"))?,
        None if tls => 443,
        None => 80,
    };
    if host.is_empty() {
        return Err(format!("no host in the endpoint '{endpoint}'"));
    }
    Ok(Target { tls, host, port })
}

fn tcp_connect(t: &Target, timeout: Duration) -> Result<(TcpStream, String), String> {
    let addrs: Vec<_> = (t.host.as_str(), t.port)
        .to_socket_addrs()
        .map_err(|e| format!("cannot resolve {}: {e}", t.host))?
        .collect();
    let mut last = format!("{} has no address", t.host);
    for addr in addrs {
        let started = Instant::now();
        match TcpStream::connect_timeout(&addr, timeout) {
            Ok(s) => {
                let name = format!("{}:{}", t.host, t.port);
                let via = if name == addr.to_string() {
                    String::new()
                } else {
                    format!(" ({addr})")
                };
                return Ok((
                    s,
                    format!(
                        "{name}{via} accepts TCP connections ({} ms)",
                        started.elapsed().as_millis()
                    ),
                ));
            }
            Err(e) => last = format!("cannot connect to {}:{} ({addr}): {e}", t.host, t.port),
        }
    }
    Err(last)
}

/// The TLS handshake with the trust the plugin's client uses: rustls with the system's root
/// certificates (`SSL_CERT_FILE` / `SSL_CERT_DIR` override them, as for the plugin), plus the
/// certificates of the plugin string's `ca_file`.
fn tls_handshake(
    t: &Target,
    options: &Options,
    stream: TcpStream,
    timeout: Duration,
) -> Result<String, String> {
    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::CertificateDer;
    let loaded = rustls_native_certs::load_native_certs();
    let mut roots = rustls::RootCertStore::empty();
    let (mut added, _) = roots.add_parsable_certificates(loaded.certs);
    let mut from_ca_file = 0;
    if let Some(path) = &options.ca_file {
        let pem = std::fs::read(path)
            .map_err(|e| format!("plugin option ca_file: cannot read {}: {e}", path.display()))?;
        for cert in CertificateDer::pem_slice_iter(&pem) {
            let cert = cert.map_err(|e| {
                format!(
                    "plugin option ca_file: {} is not a PEM bundle: {e}",
                    path.display()
                )
            })?;
            roots.add(cert).map_err(|e| {
                format!(
                    "plugin option ca_file: {} holds a refused certificate: {e}",
                    path.display()
                )
            })?;
            from_ca_file += 1;
        }
        if from_ca_file == 0 {
            return Err(format!(
                "plugin option ca_file: {} holds no PEM certificate",
                path.display()
            ));
        }
        added += from_ca_file;
    }
    if added == 0 {
        return Err(
            "no trusted root certificates found (install ca-certificates, give ca_file in the \
             plugin string, or point SSL_CERT_FILE at the CA of the endpoint)"
                .into(),
        );
    }
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| e.to_string())?
        .with_root_certificates(roots)
        .with_no_client_auth();
    let name = rustls::pki_types::ServerName::try_from(t.host.clone())
        .map_err(|e| format!("'{}' is not a TLS server name: {e}", t.host))?;
    let mut conn =
        rustls::ClientConnection::new(Arc::new(config), name).map_err(|e| e.to_string())?;
    let mut stream = stream;
    let _ = stream.set_read_timeout(Some(timeout));
    let _ = stream.set_write_timeout(Some(timeout));
    while conn.is_handshaking() {
        conn.complete_io(&mut stream)
            .map_err(|e| format!("TLS handshake with {}:{} failed: {e}", t.host, t.port))?;
    }
    let version = conn
        .protocol_version()
        .map(|v| match v {
            rustls::ProtocolVersion::TLSv1_2 => "TLSv1_2".to_string(),
            rustls::ProtocolVersion::TLSv1_3 => "TLSv1_3".to_string(),
            other => format!("TLS version {}", u16::from(other)),
        })
        .unwrap_or_default();
    let source = match (&options.ca_file, std::env::var("SSL_CERT_FILE")) {
        (Some(ca), _) => format!("the system's and ca_file {}", ca.display()),
        (None, Ok(f)) if !f.is_empty() => format!("SSL_CERT_FILE={f}"),
        _ => "the system's".into(),
    };
    Ok(format!(
        "the certificate of {} is trusted (verified against {source} root certificates), {version}",
        t.host
    ))
}

const BAD_CREDENTIALS: &[&str] = &[
    "InvalidAccessKeyId",
    "SignatureDoesNotMatch",
    "ExpiredToken",
    "InvalidToken",
    "TokenRefreshRequired",
    "AuthorizationHeaderMalformed",
];

/// The S3 error code of a refusal: its detail reads `HTTP 403 CODE message`.
fn error_code(detail: &str) -> &str {
    let mut words = detail.split_whitespace();
    match (words.next(), words.next(), words.next()) {
        (Some("HTTP"), Some(_), Some(code)) => code,
        _ => "",
    }
}

fn s3_message(failure: &S3Failure, options: &Options, s3: &S3) -> String {
    bucket_message(
        failure,
        &options.bucket,
        options.endpoint_name(),
        &s3.credential_source,
    )
}

/// Credentials, bucket and one GET.
fn s3_checks(report: &mut Report, options: &Options) {
    let s3 = match connect(options) {
        Ok(s3) => s3,
        Err(e) => {
            report.fail("credentials", &e);
            report.skip("bucket listable", "not checked: no client");
            report.skip("GET one object", "not checked: no client");
            return;
        }
    };
    // One attempt at a one-key page with the plugin's paginator: check reports what the
    // server answers now rather than waiting out the plugin string's retry budget.
    let mut pages = Pages::new(
        s3.clone(),
        RetryPolicy {
            retries: 0,
            max_elapsed: Duration::ZERO,
        },
        Arc::new(RetryStats::default()),
        CancellationToken::new(),
        &options.bucket,
        &options.prefix,
        options.start_after.clone(),
        options.end_at.clone(),
    )
    .page_size(1);
    let first = match block_on(pages.next_page()) {
        Ok(page) => {
            report.ok(
                "credentials",
                &format!(
                    "accepted by {} ({})",
                    options.endpoint_name(),
                    s3.credential_source
                ),
            );
            let first = page
                .and_then(|p| p.objects.into_iter().next())
                .map(|o| (o.key, o.size));
            match &first {
                Some((key, size)) => report.ok(
                    "bucket listable",
                    &format!(
                        "{} lists; first key {} ({size} bytes)",
                        options.location(),
                        double_quoted(key)
                    ),
                ),
                None => report.ok(
                    "bucket listable",
                    &format!("{} lists, but holds no object", options.location()),
                ),
            }
            first
        }
        Err(failure) => {
            let message = s3_message(&failure, options, &s3);
            match &failure {
                S3Failure::NoSuchBucket | S3Failure::NotFound => {
                    report.ok(
                        "credentials",
                        &format!(
                            "accepted by {} ({})",
                            options.endpoint_name(),
                            s3.credential_source
                        ),
                    );
                    report.fail("bucket listable", &message);
                }
                S3Failure::Denied(detail) if !BAD_CREDENTIALS.contains(&error_code(detail)) => {
                    report.ok(
                        "credentials",
                        &format!(
                            "signature accepted by {} ({}), but see below",
                            options.endpoint_name(),
                            s3.credential_source
                        ),
                    );
                    report.fail("bucket listable", &message);
                }
                // No S3 answer at all: the credentials were never put to the test.
                S3Failure::Unreachable(_) | S3Failure::CannotConnect(_) => {
                    report.skip(
                        "credentials",
                        "not checked: the endpoint gave no S3 answer (see below)",
                    );
                    report.fail("bucket listable", &message);
                }
                _ => {
                    report.fail("credentials", &message);
                    report.skip(
                        "bucket listable",
                        "not checked: the credentials were not accepted",
                    );
                }
            }
            report.skip("GET one object", "not checked: the bucket cannot be listed");
            return;
        }
    };
    let Some((key, size)) = first else {
        report.skip("GET one object", "not checked: no object to read");
        return;
    };
    let mut get = s3.client.get_object().bucket(&options.bucket).key(&key);
    if size > 0 {
        get = get.range("bytes=0-0");
    }
    let result = block_on(async {
        let out = get
            .send()
            .await
            .map_err(|e| s3_message(&classify(&e), options, &s3))?;
        let body = out
            .body
            .collect()
            .await
            .map_err(|e| format!("reading {}: {e}", double_quoted(&key)))?;
        Ok::<usize, String>(body.into_bytes().len())
    });
    match result {
        Ok(n) if n as i64 == size.min(1) => report.ok(
            "GET one object",
            &format!("read {n} byte(s) of {}", double_quoted(&key)),
        ),
        Ok(n) => report.fail(
            "GET one object",
            &format!(
                "asked for {} byte(s) of {}, got {n}",
                size.min(1),
                double_quoted(&key)
            ),
        ),
        Err(e) => report.fail("GET one object", &format!("{}: {e}", double_quoted(&key))),
    }
}

pub fn run(args: CheckArgs) -> Result<(), Failure> {
    let mut report = Report::default();
    let timeout = Duration::from_secs(args.timeout.max(1));
    match BaseString::parse(&args.plugin, true) {
        Err(e) => {
            report.fail("plugin string", &e);
            for c in [
                "endpoint reachable",
                "TLS trusted",
                "credentials",
                "bucket listable",
                "GET one object",
            ] {
                report.skip(c, "not checked: the plugin string is not valid");
            }
        }
        Ok(base) => {
            let options = &base.options;
            report.ok(
                "plugin string",
                &format!("{} at {}", options.location(), options.endpoint_name()),
            );
            let reachable = match target(options) {
                Err(e) => {
                    report.fail("endpoint reachable", &e);
                    None
                }
                Ok(t) => match tcp_connect(&t, timeout) {
                    Ok((stream, detail)) => {
                        report.ok("endpoint reachable", &detail);
                        Some((t, stream))
                    }
                    Err(e) => {
                        report.fail("endpoint reachable", &e);
                        None
                    }
                },
            };
            let mut tls_ok = true;
            match &reachable {
                Some((t, _)) if !t.tls => report.skip("TLS trusted", "not TLS (http:// endpoint)"),
                Some(_) if !options.verify_tls => report.skip(
                    "TLS trusted",
                    "not verified: verify_tls=no in the plugin string (every job warns about it)",
                ),
                Some((t, stream)) => match stream
                    .try_clone()
                    .map_err(|e| e.to_string())
                    .and_then(|s| tls_handshake(t, options, s, timeout))
                {
                    Ok(d) => report.ok("TLS trusted", &d),
                    Err(e) => {
                        tls_ok = false;
                        report.fail("TLS trusted", &e)
                    }
                },
                None => report.skip("TLS trusted", "not checked: the endpoint cannot be reached"),
            }
            if reachable.is_some() && tls_ok {
                s3_checks(&mut report, options);
            } else {
                for c in ["credentials", "bucket listable", "GET one object"] {
                    report.skip(c, "not checked: no connection to the endpoint");
                }
            }
        }
    }
    // Given: that file, as today. Not given: where the packages install it (Bareos first).
    let (library, looked) = match &args.plugin_library {
        Some(path) => (Some(path.clone()), None),
        None => (
            DEFAULT_LIBRARIES
                .iter()
                .map(PathBuf::from)
                .find(|p| p.symlink_metadata().is_ok()),
            Some(DEFAULT_LIBRARIES.join(", ")),
        ),
    };
    match (library, looked) {
        (None, looked) => report.fail(
            "plugin library",
            &format!(
                "no s3-fd.so in {} (install a package or give --plugin-library PATH)",
                looked.unwrap_or_default()
            ),
        ),
        (Some(path), looked) => {
            let found = match looked {
                Some(list) => format!(" (no --plugin-library: looked in {list}, in that order)"),
                None => String::new(),
            };
            match check_library(&path) {
                Ok(d) => report.ok("plugin library", &format!("{d}{found}")),
                Err(e) => report.fail("plugin library", &format!("{e}{found}")),
            }
        }
    }
    if report.failed {
        Err(Failure::silent())
    } else {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_error_code_of_a_refusal() {
        assert_eq!(
            error_code("HTTP 403 SignatureDoesNotMatch The request signature we calculated"),
            "SignatureDoesNotMatch"
        );
        assert_eq!(error_code("HTTP 403 AccessDenied"), "AccessDenied");
        assert_eq!(error_code("HTTP 403"), "");
        assert_eq!(error_code("connection refused"), "");
    }
}
