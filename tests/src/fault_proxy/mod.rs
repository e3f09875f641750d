//! A fault-injecting HTTP(S) reverse proxy for the integration tests.
//!
//! [`FaultProxy`] listens on `127.0.0.1:<free port>` and forwards every request to a real S3
//! server (Ceph RGW, moto), except for the faults its schedule injects. The plugin (or an SDK
//! client) is pointed at [`FaultProxy::endpoint`]; it signs requests for the proxy's host:port,
//! and since the proxy forwards the `Host` header unchanged (and method, raw path and query, and
//! every end-to-end header value byte for byte; hyper lower-cases header names, and the hop-by-hop
//! Connection/Keep-Alive headers belong to each side), the real server verifies the same SigV4
//! signature.
//!
//! * Responses are streamed frame by frame, never buffered: big objects pass at full speed.
//! * Keep-alive HTTP/1.1 to the client; a pooled HTTP/1.1 client to the upstream.
//! * Only path-style requests (`/bucket/key`) are understood by the matchers and admin faults.
//! * The proxy runs on its own tokio runtime (2 threads) and stops when dropped; it can be used
//!   from synchronous tests and from any async context.
//!
//! The schedule is a list of [`Rule`]s checked in order for every request: the first whose
//! [`Match`] matches and that still has `times` left applies its [`Fault`]. Every request is
//! recorded in [`FaultProxy::log`].
//!
//! Faults that change the object upstream ([`Fault::DeleteFirst`], [`Fault::OverwriteAfter`]) use
//! an SDK client of the *real* server given with [`FaultProxy::with_admin`] (e.g.
//! `server.client()`, a fresh one: it is used on the proxy's runtime); the bucket and key are
//! those of the faulted request.
//!
//! Observed with this proxy (see tests/tests/fault_proxy_selftest.rs): Ceph RGW and moto accept
//! requests signed for `127.0.0.1:<proxy port>`; both answer a ranged GET whose `If-Match` names
//! an overwritten version with 412 PreconditionFailed; after an overwrite both keep streaming the
//! old version to a GET already under way (Ceph for a 20 MiB, multi-stripe object too).
//!
//! ```no_run
//! use std::time::Duration;
//! use integration_tests::fault_proxy::{Fault, FaultProxy, Match, Rule};
//! use integration_tests::servers;
//!
//! let server = servers::moto();
//! let proxy = FaultProxy::start(&server.endpoint).with_admin(server.client());
//! proxy.add(Rule::times(Match::get("big.bin"), Fault::status(503, "SlowDown"), 2));
//! proxy.add(Rule::once(Match::get("big.bin"), Fault::ResetAfter { bytes: 1 << 20 }));
//! proxy.add(Rule::once(Match::list().nth(2), Fault::SlowDownIn200));
//! // ... run a job against proxy.endpoint() ...
//! proxy.outage(Duration::from_secs(3)); // returns at once; the port answers again after 3 s
//! for seen in proxy.log() {
//!     println!("{} {} -> {} {:?}", seen.method, seen.path, seen.status, seen.fault);
//! }
//! ```

mod forward;
mod rules;
mod tls;

pub use rules::{Fault, Match, Rule};

use std::net::{Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use http::uri::{Authority, Scheme};
use hyper::body::Incoming;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use tokio::sync::{mpsc, watch};
use tokio_rustls::TlsAcceptor;

use rules::{ActiveRule, ReqInfo};

/// One request the proxy received.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Seen {
    pub method: String,
    /// The path as received (still percent-encoded).
    pub path: String,
    /// The raw query string (`""` if none).
    pub query: String,
    /// The `Range` request header.
    pub range: Option<String>,
    /// The `If-Match` request header.
    pub if_match: Option<String>,
    /// Status sent to the client (the real server's, or the injected one; 502 if the upstream
    /// could not be reached; 0 while the answer is not known yet).
    pub status: u16,
    /// Response body bytes handed to the client connection so far.
    pub body_bytes: u64,
    /// The fault applied (`Fault`'s Display, e.g. `"ResetAfter(1024)"`), with notes such as
    /// `"; admin DeleteObject failed: …"`.
    pub fault: Option<String>,
    /// When the request arrived.
    pub arrived: Instant,
    /// When its forwarded response body was done with (sent, cut or dropped); `None` while it
    /// streams, and for answers the proxy made itself.
    pub finished: Option<Instant>,
}

/// The most of `requests` that were under way at one moment (arrival to end of body).
pub fn most_at_once<'a>(requests: impl IntoIterator<Item = &'a Seen>) -> usize {
    let mut edges: Vec<(Instant, i32)> = Vec::new();
    for seen in requests {
        edges.push((seen.arrived, 1));
        if let Some(end) = seen.finished {
            edges.push((end, -1));
        }
    }
    // At equal times an end comes before an arrival.
    edges.sort();
    let mut now = 0;
    let mut most = 0;
    for (_, step) in edges {
        now += step;
        most = most.max(now);
    }
    most as usize
}

/// State shared by the accept loop, the connections and the [`FaultProxy`] handle.
pub(crate) struct Shared {
    upstream_scheme: Scheme,
    upstream_authority: Authority,
    client: Client<HttpConnector, Incoming>,
    rules: Mutex<Vec<ActiveRule>>,
    log: Mutex<Vec<Seen>>,
    admin: Mutex<Option<aws_sdk_s3::Client>>,
    /// Client connections being served.
    connections: AtomicUsize,
}

/// Counts a connection in [`Shared::connections`] while it lives.
pub(crate) struct ConnGuard(Arc<Shared>);

impl ConnGuard {
    fn new(shared: &Arc<Shared>) -> ConnGuard {
        shared.connections.fetch_add(1, Ordering::SeqCst);
        ConnGuard(shared.clone())
    }
}

impl Drop for ConnGuard {
    fn drop(&mut self) {
        self.0.connections.fetch_sub(1, Ordering::SeqCst);
    }
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl Shared {
    fn pick(&self, req: &ReqInfo) -> Option<Fault> {
        rules::pick(&mut lock(&self.rules), req)
    }

    fn log_push(&self, seen: Seen) -> usize {
        let mut log = lock(&self.log);
        log.push(seen);
        log.len() - 1
    }

    fn log_update(&self, idx: usize, f: impl FnOnce(&mut Seen)) {
        if let Some(s) = lock(&self.log).get_mut(idx) {
            f(s);
        }
    }

    fn admin(&self) -> Option<aws_sdk_s3::Client> {
        lock(&self.admin).clone()
    }
}

enum Control {
    Outage(Duration, std::sync::mpsc::Sender<()>),
}

/// A fault-injecting reverse proxy in front of a real S3 server; see the module docs.
pub struct FaultProxy {
    shared: Arc<Shared>,
    runtime: Option<tokio::runtime::Runtime>,
    port: u16,
    tls: bool,
    ca_dir: Option<PathBuf>,
    control: mpsc::UnboundedSender<Control>,
}

impl FaultProxy {
    /// Plain-HTTP proxy on 127.0.0.1:<free port> forwarding to `upstream`
    /// (`"http://127.0.0.1:17480"`).
    pub fn start(upstream: &str) -> FaultProxy {
        FaultProxy::start_inner(upstream, false)
    }

    /// The same, but terminating TLS with a server certificate for `127.0.0.1`, `::1` and
    /// `localhost` signed by a CA generated here (see [`FaultProxy::ca_pem_path`]). The upstream
    /// is still plain HTTP.
    pub fn start_tls(upstream: &str) -> FaultProxy {
        FaultProxy::start_inner(upstream, true)
    }

    fn start_inner(upstream: &str, with_tls: bool) -> FaultProxy {
        let uri: http::Uri = upstream
            .parse()
            .unwrap_or_else(|e| panic!("fault proxy: bad upstream {upstream:?}: {e}"));
        let upstream_scheme = uri.scheme().cloned().unwrap_or(Scheme::HTTP);
        assert_eq!(
            upstream_scheme,
            Scheme::HTTP,
            "fault proxy: the upstream must be plain http://"
        );
        let upstream_authority = uri
            .authority()
            .cloned()
            .unwrap_or_else(|| panic!("fault proxy: upstream {upstream:?} has no host:port"));

        let (tls_acceptor, ca_dir) = if with_tls {
            let t = tls::generate();
            let dir = tempdir_for_ca();
            std::fs::write(dir.join("ca.pem"), &t.ca_pem)
                .unwrap_or_else(|e| panic!("fault proxy: writing {}: {e}", dir.display()));
            (Some(t.acceptor), Some(dir))
        } else {
            (None, None)
        };

        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name("fault-proxy")
            .enable_all()
            .build()
            .expect("fault proxy: building its tokio runtime");

        let mut connector = HttpConnector::new();
        connector.set_nodelay(true);
        let client = Client::builder(TokioExecutor::new())
            .pool_idle_timeout(Duration::from_secs(30))
            .build(connector);
        let shared = Arc::new(Shared {
            upstream_scheme,
            upstream_authority,
            client,
            rules: Mutex::new(Vec::new()),
            log: Mutex::new(Vec::new()),
            admin: Mutex::new(None),
            connections: AtomicUsize::new(0),
        });

        let std_listener = bind(0).expect("fault proxy: binding 127.0.0.1:0");
        let port = std_listener
            .local_addr()
            .expect("fault proxy: local address")
            .port();
        let (control, control_rx) = mpsc::unbounded_channel();
        let listener = {
            let _guard = runtime.enter();
            tokio::net::TcpListener::from_std(std_listener).expect("fault proxy: listener")
        };
        runtime.spawn(accept_loop(
            shared.clone(),
            listener,
            port,
            tls_acceptor,
            control_rx,
        ));
        FaultProxy {
            shared,
            runtime: Some(runtime),
            port,
            tls: with_tls,
            ca_dir,
            control,
        }
    }

    /// Gives the proxy a client of the real server for [`Fault::DeleteFirst`] and
    /// [`Fault::OverwriteAfter`] (pass a fresh `server.client()`).
    pub fn with_admin(self, admin: aws_sdk_s3::Client) -> Self {
        *lock(&self.shared.admin) = Some(admin);
        self
    }

    /// `http://127.0.0.1:PORT` or `https://127.0.0.1:PORT`.
    pub fn endpoint(&self) -> String {
        let scheme = if self.tls { "https" } else { "http" };
        format!("{scheme}://127.0.0.1:{}", self.port)
    }

    /// The proxy's port.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The PEM file of the generated CA (TLS proxies only); removed when the proxy is dropped.
    pub fn ca_pem_path(&self) -> Option<PathBuf> {
        self.ca_dir.as_ref().map(|d| d.join("ca.pem"))
    }

    /// Adds a rule at the end of the schedule. Panics if its fault needs an admin client and
    /// [`FaultProxy::with_admin`] was not called.
    pub fn add(&self, rule: Rule) {
        assert!(
            !rule.action.needs_admin() || self.shared.admin().is_some(),
            "fault proxy: {} needs FaultProxy::with_admin(server.client())",
            rule.action
        );
        lock(&self.shared.rules).push(ActiveRule { rule, matched: 0 });
    }

    /// Removes every rule (the log is kept).
    pub fn clear(&self) {
        lock(&self.shared.rules).clear();
    }

    /// Every request seen so far, in arrival order.
    pub fn log(&self) -> Vec<Seen> {
        lock(&self.shared.log).clone()
    }

    /// Simulates a server restart: closes the listening socket and resets every open client
    /// connection (RST), then returns; new connections are refused until `duration` has passed,
    /// when the proxy listens on the same port again (in the background).
    pub fn outage(&self, duration: Duration) {
        let (ack, acked) = std::sync::mpsc::channel();
        self.control
            .send(Control::Outage(duration, ack))
            .expect("fault proxy: accept loop is gone");
        acked
            .recv_timeout(Duration::from_secs(10))
            .expect("fault proxy: the outage did not start");
    }
}

impl Drop for FaultProxy {
    fn drop(&mut self) {
        if let Some(rt) = self.runtime.take() {
            rt.shutdown_background();
        }
        if let Some(dir) = &self.ca_dir {
            let _ = std::fs::remove_dir_all(dir);
        }
    }
}

impl std::fmt::Debug for FaultProxy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FaultProxy")
            .field("endpoint", &self.endpoint())
            .field("upstream", &self.shared.upstream_authority)
            .finish()
    }
}

fn tempdir_for_ca() -> PathBuf {
    use std::sync::atomic::{AtomicU32, Ordering};
    static N: AtomicU32 = AtomicU32::new(0);
    let dir = std::env::temp_dir().join(format!(
        "s3-fault-proxy-{}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    ));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir)
        .unwrap_or_else(|e| panic!("fault proxy: creating {}: {e}", dir.display()));
    dir
}

/// A listening socket on 127.0.0.1:port (SO_REUSEADDR, so the port can be bound again at once
/// after an outage).
fn bind(port: u16) -> std::io::Result<std::net::TcpListener> {
    use socket2::{Domain, Protocol, Socket, Type};
    let s = Socket::new(Domain::IPV4, Type::STREAM, Some(Protocol::TCP))?;
    s.set_reuse_address(true)?;
    s.bind(&SocketAddr::from((Ipv4Addr::LOCALHOST, port)).into())?;
    s.listen(1024)?;
    s.set_nonblocking(true)?;
    Ok(s.into())
}

async fn rebind(port: u16) -> tokio::net::TcpListener {
    let mut last = None;
    for _ in 0..100 {
        match bind(port).and_then(tokio::net::TcpListener::from_std) {
            Ok(l) => return l,
            Err(e) => last = Some(e),
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("fault proxy: cannot listen on 127.0.0.1:{port} again after an outage: {last:?}");
}

async fn accept_loop(
    shared: Arc<Shared>,
    mut listener: tokio::net::TcpListener,
    port: u16,
    tls: Option<TlsAcceptor>,
    mut control: mpsc::UnboundedReceiver<Control>,
) {
    let (kill, _) = watch::channel(0u64);
    loop {
        tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => {
                    let guard = ConnGuard::new(&shared);
                    let conn = forward::serve_connection(
                        shared.clone(),
                        stream,
                        tls.clone(),
                        kill.subscribe(),
                    );
                    tokio::spawn(async move {
                        conn.await;
                        drop(guard);
                    });
                }
                // e.g. out of file descriptors: try again shortly
                Err(_) => tokio::time::sleep(Duration::from_millis(10)).await,
            },
            msg = control.recv() => match msg {
                None => return,
                Some(Control::Outage(duration, ack)) => {
                    drop(listener);
                    kill.send_modify(|generation| *generation += 1);
                    // Return from outage() once every connection has been reset.
                    let deadline = tokio::time::Instant::now() + Duration::from_secs(2);
                    while shared.connections.load(Ordering::SeqCst) > 0
                        && tokio::time::Instant::now() < deadline
                    {
                        tokio::time::sleep(Duration::from_millis(1)).await;
                    }
                    let _ = ack.send(());
                    tokio::time::sleep(duration).await;
                    listener = rebind(port).await;
                }
            },
        }
    }
}
