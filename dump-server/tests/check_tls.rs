//! `dump-server check` against a local TLS endpoint with a self-signed certificate: not trusted
//! by default, trusted once SSL_CERT_FILE names its certificate (as for the plugin's client).
//! No S3 server is needed: the checks after TLS fail, the TLS line is what is tested.

use std::io::Write;
use std::net::TcpListener;
use std::os::unix::fs::PermissionsExt;
use std::path::PathBuf;
use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, Instant};

const SECRET: &str = "tls-test-secret-key-0123456789abcdefghij";

fn scratch(tag: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("dump-server-{tag}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

fn credentials(dir: &std::path::Path) -> PathBuf {
    let p = dir.join("credentials");
    std::fs::write(
        &p,
        format!("[default]\naws_access_key_id = AKIATLSTEST\naws_secret_access_key = {SECRET}\n"),
    )
    .unwrap();
    std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o600)).unwrap();
    p
}

/// A TLS server on 127.0.0.1 answering handshakes (then closing) for 60 s at most.
fn tls_server(cert: rcgen::CertifiedKey<rcgen::KeyPair>) -> u16 {
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let key = rustls::pki_types::PrivateKeyDer::try_from(cert.signing_key.serialize_der()).unwrap();
    let config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(vec![cert.cert.der().clone()], key)
        .unwrap();
    let config = Arc::new(config);
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    listener.set_nonblocking(true).unwrap();
    std::thread::spawn(move || {
        let started = Instant::now();
        while started.elapsed() < Duration::from_secs(60) {
            match listener.accept() {
                Ok((mut stream, _)) => {
                    stream.set_nonblocking(false).unwrap();
                    let _ = stream.set_read_timeout(Some(Duration::from_secs(5)));
                    let mut conn = rustls::ServerConnection::new(config.clone()).unwrap();
                    while conn.is_handshaking() {
                        if conn.complete_io(&mut stream).is_err() {
                            break;
                        }
                    }
                    let _ = stream.flush();
                }
                Err(_) => std::thread::sleep(Duration::from_millis(10)),
            }
        }
    });
    port
}

fn check(
    endpoint: &str,
    creds: &std::path::Path,
    cert_file: &std::path::Path,
) -> (i32, String, String) {
    check_with(endpoint, creds, cert_file, "")
}

/// `check` of `s3:bucket=b:endpoint=…:credentials_file=…EXTRA` with SSL_CERT_FILE=`cert_file`.
fn check_with(
    endpoint: &str,
    creds: &std::path::Path,
    cert_file: &std::path::Path,
    extra: &str,
) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_dump-server"))
        .args([
            "check",
            "--plugin",
            &format!(
                "s3:bucket=b:endpoint={endpoint}:credentials_file={}{extra}",
                creds.display()
            ),
            "--plugin-library",
            "/nonexistent/s3-fd.so",
            "--timeout",
            "5",
        ])
        .env("SSL_CERT_FILE", cert_file)
        .env_remove("SSL_CERT_DIR")
        .output()
        .unwrap();
    let (stdout, stderr) = (
        String::from_utf8(out.stdout).unwrap(),
        String::from_utf8(out.stderr).unwrap(),
    );
    assert!(
        !stdout.contains(SECRET) && !stderr.contains(SECRET),
        "secret printed:\n{stdout}{stderr}"
    );
    (out.status.code().unwrap_or(-1), stdout, stderr)
}

fn line<'a>(out: &'a str, check: &str) -> &'a str {
    out.lines()
        .find(|l| l.contains(check))
        .unwrap_or_else(|| panic!("no {check} line:\n{out}"))
}

#[test]
fn tls_is_trusted_only_with_the_right_ca() {
    let dir = scratch("tls");
    let creds = credentials(&dir);
    let cert = rcgen::generate_simple_self_signed(vec!["localhost".to_string()]).unwrap();
    let pem = dir.join("server.pem");
    std::fs::write(&pem, cert.cert.pem()).unwrap();
    let other = rcgen::generate_simple_self_signed(vec!["other.example".to_string()]).unwrap();
    let other_pem = dir.join("other.pem");
    std::fs::write(&other_pem, other.cert.pem()).unwrap();
    let port = tls_server(cert);
    let endpoint = format!("https://localhost:{port}");

    let (code, out, _) = check(&endpoint, &creds, &other_pem);
    assert_eq!(code, 1);
    assert!(line(&out, "endpoint reachable").starts_with("OK"), "{out}");
    let tls = line(&out, "TLS trusted");
    assert!(
        tls.starts_with("FAIL") && tls.contains("invalid peer certificate"),
        "{out}"
    );
    assert!(line(&out, "credentials").starts_with("SKIP"), "{out}");

    let (code, out, _) = check(&endpoint, &creds, &pem);
    assert_eq!(
        code, 1,
        "the S3 checks cannot pass against a bare TLS server"
    );
    let tls = line(&out, "TLS trusted");
    assert!(
        tls.starts_with("OK") && tls.contains("SSL_CERT_FILE"),
        "{out}"
    );
    // The server closes the connection after the handshake: no S3 answer, so the credentials
    // are not judged, and the listing fails.
    assert!(line(&out, "credentials").starts_with("SKIP"), "{out}");
    assert!(line(&out, "bucket listable").starts_with("FAIL"), "{out}");
    assert!(line(&out, "plugin library").starts_with("FAIL"), "{out}");

    // The plugin string's ca_file is trusted on top of the system's roots; verify_tls=no
    // skips the verification (and says so).
    let (_, out, _) = check_with(
        &endpoint,
        &creds,
        &other_pem,
        &format!(":ca_file={}", pem.display()),
    );
    let tls = line(&out, "TLS trusted");
    assert!(tls.starts_with("OK") && tls.contains("ca_file"), "{out}");
    let (_, out, _) = check_with(&endpoint, &creds, &other_pem, ":ca_file=/nonexistent.pem");
    assert!(
        line(&out, "TLS trusted").starts_with("FAIL") && out.contains("/nonexistent.pem"),
        "{out}"
    );
    let (_, out, _) = check_with(&endpoint, &creds, &other_pem, ":verify_tls=no");
    assert!(
        line(&out, "TLS trusted").starts_with("SKIP") && out.contains("verify_tls=no"),
        "{out}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn http_is_not_tls_and_a_closed_port_fails_without_printing_the_secret() {
    let dir = scratch("closed");
    let creds = credentials(&dir);
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let (code, out, _) = check(
        &format!("http://127.0.0.1:{port}"),
        &creds,
        &dir.join("none.pem"),
    );
    assert_eq!(code, 1);
    assert!(line(&out, "plugin string").starts_with("OK"), "{out}");
    assert!(
        line(&out, "endpoint reachable").starts_with("FAIL"),
        "{out}"
    );
    assert!(line(&out, "TLS trusted").starts_with("SKIP"), "{out}");
    let (code, out, _) = check("ftp://x", &creds, &dir.join("none.pem"));
    assert_eq!(code, 1);
    assert!(
        line(&out, "plugin string").starts_with("FAIL") && out.contains("endpoint"),
        "{out}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}
