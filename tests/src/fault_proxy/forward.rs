//! Serving one client connection: forwarding each request to the real server and applying the
//! fault the schedule picked for it.
//!
//! Transport faults work at two levels: [`FaultBody`] decides *when* (after how many body bytes)
//! and [`ConnIo`], the client socket under hyper (and under TLS), decides *how*: once hyper has
//! handed it every byte before the cut and asks it to flush, it resets (SO_LINGER 0, after the
//! client acknowledged those bytes) or half-closes (FIN) the connection and fails the flush, which
//! makes hyper drop the connection.

use std::convert::Infallible;
use std::future::Future;
use std::io;
use std::os::fd::{AsRawFd, BorrowedFd, RawFd};
use std::pin::{pin, Pin};
use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::Arc;
use std::task::{ready, Context, Poll};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http::header::{HeaderName, CONNECTION, CONTENT_LENGTH, CONTENT_TYPE, RETRY_AFTER};
use http::{HeaderValue, Request, Response, StatusCode, Uri};
use http_body::{Body, Frame, SizeHint};
use http_body_util::BodyExt;
use hyper::body::Incoming;
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;
use tokio::sync::watch;
use tokio_rustls::TlsAcceptor;

use super::rules::{Fault, ReqInfo};
use super::{Seen, Shared};

type BoxError = Box<dyn std::error::Error + Send + Sync>;
type BoxFuture = Pin<Box<dyn Future<Output = ()> + Send>>;

/// How long a reset waits at most for the client to acknowledge the bytes sent before it.
const RESET_DRAIN_MAX: Duration = Duration::from_secs(10);
const RESET_DRAIN_POLL: Duration = Duration::from_millis(2);

const END_NONE: u8 = 0;
const END_RESET: u8 = 1;
const END_FIN: u8 = 2;

/// Shared between a connection's socket wrapper and the bodies of its responses.
pub(crate) struct ConnCtl {
    end: AtomicU8,
}

impl ConnCtl {
    fn request_end(&self, how: u8) {
        self.end.store(how, Ordering::SeqCst);
    }
}

/// SO_LINGER 0 on `fd`, so that closing it sends RST.
fn set_linger_zero(fd: RawFd) {
    // SAFETY: the caller guarantees `fd` is an open socket for the duration of this call.
    let fd = unsafe { BorrowedFd::borrow_raw(fd) };
    let _ = socket2::SockRef::from(&fd).set_linger(Some(Duration::ZERO));
}

/// Bytes sent on `fd` that the peer has not acknowledged yet (SIOCOUTQ).
fn unacked_bytes(fd: RawFd) -> i32 {
    let mut n: libc::c_int = 0;
    // SAFETY: TIOCOUTQ (== SIOCOUTQ) writes one c_int; `fd` is an open socket.
    let rc = unsafe { libc::ioctl(fd, libc::TIOCOUTQ, &mut n) };
    if rc == 0 {
        n
    } else {
        0
    }
}

/// The client socket under hyper (and TLS): ends the connection as [`ConnCtl`] asks.
pub(crate) struct ConnIo {
    stream: TcpStream,
    ctl: Arc<ConnCtl>,
    drain_deadline: Option<Instant>,
    drain_sleep: Option<Pin<Box<tokio::time::Sleep>>>,
}

impl AsyncRead for ConnIo {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().stream).poll_read(cx, buf)
    }
}

impl AsyncWrite for ConnIo {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().stream).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().stream).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.stream.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        ready!(Pin::new(&mut this.stream).poll_flush(cx))?;
        match this.ctl.end.load(Ordering::SeqCst) {
            END_FIN => {
                let _ = socket2::SockRef::from(&this.stream).shutdown(std::net::Shutdown::Write);
                Poll::Ready(Err(io::Error::new(
                    io::ErrorKind::BrokenPipe,
                    "fault proxy: body cut short (FIN)",
                )))
            }
            END_RESET => {
                // Everything before the cut is in the socket; wait until the client has it (or
                // it stopped reading), as an RST discards data not yet acknowledged.
                let deadline = *this
                    .drain_deadline
                    .get_or_insert_with(|| Instant::now() + RESET_DRAIN_MAX);
                let fd = this.stream.as_raw_fd();
                loop {
                    if unacked_bytes(fd) == 0 || Instant::now() >= deadline {
                        set_linger_zero(fd);
                        return Poll::Ready(Err(io::Error::new(
                            io::ErrorKind::ConnectionReset,
                            "fault proxy: connection reset",
                        )));
                    }
                    let sleep = this
                        .drain_sleep
                        .get_or_insert_with(|| Box::pin(tokio::time::sleep(RESET_DRAIN_POLL)));
                    ready!(sleep.as_mut().poll(cx));
                    this.drain_sleep = None;
                }
            }
            _ => Poll::Ready(Ok(())),
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().stream).poll_shutdown(cx)
    }
}

/// Serves one accepted client connection until it ends or `kill` fires (an outage), in which
/// case the connection is reset.
pub(crate) async fn serve_connection(
    shared: Arc<Shared>,
    stream: TcpStream,
    tls: Option<TlsAcceptor>,
    mut kill: watch::Receiver<u64>,
) {
    let _ = stream.set_nodelay(true);
    let fd = stream.as_raw_fd();
    let ctl = Arc::new(ConnCtl {
        end: AtomicU8::new(END_NONE),
    });
    let io = ConnIo {
        stream,
        ctl: ctl.clone(),
        drain_deadline: None,
        drain_sleep: None,
    };
    let work = async move {
        match tls {
            Some(acceptor) => {
                if let Ok(tls) = acceptor.accept(io).await {
                    serve_http(shared, ctl, tls).await;
                }
            }
            None => serve_http(shared, ctl, io).await,
        }
    };
    // `work` owns the socket: it stays alive (and `fd` open) until the end of this function.
    let mut work = pin!(work);
    tokio::select! {
        _ = &mut work => {}
        Ok(()) = kill.changed() => set_linger_zero(fd),
    }
}

async fn serve_http<I>(shared: Arc<Shared>, ctl: Arc<ConnCtl>, io: I)
where
    I: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let svc = hyper::service::service_fn(move |req| handle(shared.clone(), ctl.clone(), req));
    let mut builder = hyper::server::conn::http1::Builder::new();
    builder.keep_alive(true).header_read_timeout(None);
    let _ = builder.serve_connection(TokioIo::new(io), svc).await;
}

fn header_string(req: &Request<Incoming>, name: HeaderName) -> Option<String> {
    req.headers()
        .get(name)
        .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned())
}

/// Handles one request: logs it, applies the scheduled fault, forwards it.
async fn handle(
    shared: Arc<Shared>,
    ctl: Arc<ConnCtl>,
    req: Request<Incoming>,
) -> Result<Response<ProxyBody>, Infallible> {
    let method = req.method().as_str().to_string();
    let head = req.method() == http::Method::HEAD;
    let path = req.uri().path().to_string();
    let query = req.uri().query().unwrap_or("").to_string();
    let info = ReqInfo::parse(&method, &path, &query);
    let fault = shared.pick(&info);
    let idx = shared.log_push(Seen {
        method,
        path: path.clone(),
        query,
        range: header_string(&req, http::header::RANGE),
        if_match: header_string(&req, http::header::IF_MATCH),
        status: 0,
        body_bytes: 0,
        fault: fault.as_ref().map(|f| f.to_string()),
        arrived: Instant::now(),
        finished: None,
    });
    let slot = LogSlot {
        shared: shared.clone(),
        idx,
    };

    let plan = match fault {
        None => Plan::Pass,
        Some(Fault::Status {
            code,
            s3_code,
            retry_after,
        }) => {
            drain(req.into_body()).await;
            return Ok(error_response(
                &slot,
                code,
                code,
                s3_code,
                retry_after,
                &path,
                head,
            ));
        }
        Some(Fault::SlowDownIn200) => {
            drain(req.into_body()).await;
            return Ok(error_response(
                &slot, 200, 503, "SlowDown", None, &path, head,
            ));
        }
        Some(Fault::StallHead { for_ }) => {
            tokio::time::sleep(for_).await;
            Plan::Pass
        }
        Some(Fault::DeleteFirst) => {
            match (shared.admin(), &info.bucket, &info.key) {
                (Some(admin), Some(bucket), Some(key)) => {
                    if let Err(e) = admin.delete_object().bucket(bucket).key(key).send().await {
                        slot.annotate(&format!(
                            "admin DeleteObject failed: {}",
                            aws_sdk_s3::error::DisplayErrorContext(e)
                        ));
                    }
                }
                (None, _, _) => slot.annotate("no admin client"),
                _ => slot.annotate("not an object request"),
            }
            Plan::Pass
        }
        Some(Fault::ResetAfter { bytes }) => Plan::Cut {
            at: bytes,
            how: END_RESET,
        },
        Some(Fault::ShortBody { bytes }) => Plan::Cut {
            at: bytes,
            how: END_FIN,
        },
        Some(Fault::Stall { after_bytes, for_ }) => Plan::Pause {
            at: after_bytes,
            // Lazy: the timer starts when the body reaches `after_bytes`.
            action: Box::pin(async move { tokio::time::sleep(for_).await }),
        },
        Some(Fault::FlipByte { at }) => Plan::Flip { at },
        Some(Fault::OverwriteAfter { bytes, with }) => {
            let action: BoxFuture = match (shared.admin(), info.bucket, info.key) {
                (Some(admin), Some(bucket), Some(key)) => {
                    let slot = slot.clone();
                    Box::pin(async move {
                        let put = admin
                            .put_object()
                            .bucket(bucket)
                            .key(key)
                            .body(aws_sdk_s3::primitives::ByteStream::from(with))
                            .send()
                            .await;
                        if let Err(e) = put {
                            slot.annotate(&format!(
                                "admin PutObject failed: {}",
                                aws_sdk_s3::error::DisplayErrorContext(e)
                            ));
                        }
                    })
                }
                (None, _, _) => {
                    slot.annotate("no admin client");
                    Box::pin(async {})
                }
                _ => {
                    slot.annotate("not an object request");
                    Box::pin(async {})
                }
            };
            Plan::Pause { at: bytes, action }
        }
    };

    let (mut parts, body) = req.into_parts();
    let mut uri = Uri::builder()
        .scheme(shared.upstream_scheme.clone())
        .authority(shared.upstream_authority.clone());
    if let Some(pq) = parts.uri.path_and_query() {
        uri = uri.path_and_query(pq.clone());
    }
    parts.uri = match uri.build() {
        Ok(u) => u,
        Err(e) => return Ok(plain_response(&slot, 500, format!("bad upstream URI: {e}"))),
    };
    parts.version = http::Version::HTTP_11;
    strip_hop_by_hop(&mut parts.headers);
    let resp = match shared
        .client
        .request(Request::from_parts(parts, body))
        .await
    {
        Ok(r) => r,
        Err(e) => {
            slot.annotate("upstream error");
            return Ok(plain_response(
                &slot,
                502,
                format!("fault proxy: upstream request failed: {e:?}"),
            ));
        }
    };
    let (mut parts, body) = resp.into_parts();
    strip_hop_by_hop(&mut parts.headers);
    slot.update(|s| s.status = parts.status.as_u16());
    Ok(Response::from_parts(
        parts,
        ProxyBody::Stream(FaultBody {
            inner: body,
            plan,
            sent: 0,
            leftover: None,
            cut: false,
            ctl,
            slot,
        }),
    ))
}

/// Connection-level headers belong to each hop, not to the message.
fn strip_hop_by_hop(headers: &mut http::HeaderMap) {
    headers.remove(CONNECTION);
    headers.remove(HeaderName::from_static("keep-alive"));
    headers.remove(HeaderName::from_static("proxy-connection"));
}

/// Reads and drops a request body.
async fn drain(mut body: Incoming) {
    while let Some(frame) = body.frame().await {
        if frame.is_err() {
            break;
        }
    }
}

fn xml_escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// An S3 XML error document with HTTP status `status` (200 for SlowDown-in-200); only the head
/// for a HEAD request.
fn error_response(
    slot: &LogSlot,
    status: u16,
    code_for_message: u16,
    s3_code: &str,
    retry_after: Option<u32>,
    resource: &str,
    head: bool,
) -> Response<ProxyBody> {
    let message = match s3_code {
        "SlowDown" => "Please reduce your request rate.",
        "InternalError" => "We encountered an internal error. Please try again.",
        "ServiceUnavailable" => "Service is unable to handle request.",
        "NoSuchKey" => "The specified key does not exist.",
        _ if code_for_message >= 500 => "Injected server error.",
        _ => "Injected error.",
    };
    let request_id = format!("faultproxy{:08}", slot.idx);
    let xml = format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error><Code>{}</Code><Message>{}</Message>\
         <Resource>{}</Resource><RequestId>{request_id}</RequestId></Error>",
        xml_escape(s3_code),
        message,
        xml_escape(resource)
    );
    let bytes = if head { Bytes::new() } else { Bytes::from(xml) };
    slot.update(|s| {
        s.status = status;
        s.body_bytes = bytes.len() as u64;
    });
    let mut resp = Response::new(ProxyBody::Full(Some(bytes.clone())));
    *resp.status_mut() = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let h = resp.headers_mut();
    h.insert(CONTENT_TYPE, HeaderValue::from_static("application/xml"));
    h.insert(CONTENT_LENGTH, HeaderValue::from(bytes.len()));
    if let Ok(v) = HeaderValue::from_str(&request_id) {
        h.insert(HeaderName::from_static("x-amz-request-id"), v);
    }
    if let Some(secs) = retry_after {
        h.insert(RETRY_AFTER, HeaderValue::from(secs));
    }
    resp
}

fn plain_response(slot: &LogSlot, status: u16, text: String) -> Response<ProxyBody> {
    let bytes = Bytes::from(text);
    slot.update(|s| {
        s.status = status;
        s.body_bytes = bytes.len() as u64;
    });
    let mut resp = Response::new(ProxyBody::Full(Some(bytes.clone())));
    *resp.status_mut() = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    resp.headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static("text/plain"));
    resp.headers_mut()
        .insert(CONTENT_LENGTH, HeaderValue::from(bytes.len()));
    resp
}

/// A request's entry in the proxy log.
#[derive(Clone)]
struct LogSlot {
    shared: Arc<Shared>,
    idx: usize,
}

impl LogSlot {
    fn update(&self, f: impl FnOnce(&mut Seen)) {
        self.shared.log_update(self.idx, f);
    }

    fn annotate(&self, note: &str) {
        self.update(|s| {
            let f = s.fault.get_or_insert_with(String::new);
            if !f.is_empty() {
                f.push_str("; ");
            }
            f.push_str(note);
        });
    }
}

/// What a response body does on its way to the client.
enum Plan {
    Pass,
    /// After `at` bytes, end the connection (`how`: END_RESET or END_FIN).
    Cut {
        at: u64,
        how: u8,
    },
    /// After `at` bytes, run `action` to completion, then pass the rest.
    Pause {
        at: u64,
        action: BoxFuture,
    },
    /// Invert the byte at offset `at`, then pass the rest.
    Flip {
        at: u64,
    },
}

/// A response body streamed from the real server, frame by frame (never buffered whole).
pub(crate) struct FaultBody {
    inner: Incoming,
    plan: Plan,
    sent: u64,
    leftover: Option<Bytes>,
    cut: bool,
    ctl: Arc<ConnCtl>,
    slot: LogSlot,
}

impl FaultBody {
    fn limit(&self) -> Option<u64> {
        match self.plan {
            Plan::Pass => None,
            Plan::Cut { at, .. } | Plan::Pause { at, .. } | Plan::Flip { at } => Some(at),
        }
    }

    fn cut_now(&mut self, how: u8) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        // Pending for good: the connection ends when hyper flushes what came before.
        self.cut = true;
        self.ctl.request_end(how);
        Poll::Pending
    }
}

impl Drop for FaultBody {
    fn drop(&mut self) {
        let now = Instant::now();
        self.slot.update(|s| s.finished = Some(now));
    }
}

impl Body for FaultBody {
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        let this = self.get_mut();
        if this.cut {
            return Poll::Pending;
        }
        loop {
            if this.limit() == Some(this.sent) {
                match &mut this.plan {
                    Plan::Cut { how, .. } => {
                        let how = *how;
                        return this.cut_now(how);
                    }
                    Plan::Pause { action, .. } => {
                        ready!(action.as_mut().poll(cx));
                        this.plan = Plan::Pass;
                    }
                    Plan::Pass | Plan::Flip { .. } => {}
                }
            }
            let mut chunk = match this.leftover.take() {
                Some(b) => b,
                None => match ready!(Pin::new(&mut this.inner).poll_frame(cx)) {
                    None => {
                        // The real body is shorter than the cut point: cut at its end.
                        if let Plan::Cut { how, .. } = this.plan {
                            return this.cut_now(how);
                        }
                        return Poll::Ready(None);
                    }
                    Some(Err(e)) => return Poll::Ready(Some(Err(Box::new(e)))),
                    Some(Ok(frame)) => match frame.into_data() {
                        Ok(data) => data,
                        Err(frame) => return Poll::Ready(Some(Ok(frame))),
                    },
                },
            };
            if chunk.is_empty() {
                continue;
            }
            if let Plan::Flip { at } = this.plan {
                if at == this.sent {
                    let mut flipped = chunk.to_vec();
                    flipped[0] ^= 0xff;
                    chunk = Bytes::from(flipped);
                    this.plan = Plan::Pass;
                    this.slot.annotate(&format!("flipped byte {at}"));
                }
            }
            if let Some(at) = this.limit() {
                let room = (at - this.sent) as usize;
                if chunk.len() > room {
                    this.leftover = Some(chunk.split_off(room));
                }
            }
            this.sent += chunk.len() as u64;
            let sent = this.sent;
            this.slot.update(|s| s.body_bytes = sent);
            return Poll::Ready(Some(Ok(Frame::data(chunk))));
        }
    }
}

/// The body of every response the proxy sends.
pub(crate) enum ProxyBody {
    /// Made by the proxy (error documents).
    Full(Option<Bytes>),
    /// Forwarded from the real server.
    Stream(FaultBody),
}

impl Body for ProxyBody {
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        match self.get_mut() {
            ProxyBody::Full(b) => Poll::Ready(b.take().map(|b| Ok(Frame::data(b)))),
            ProxyBody::Stream(s) => Pin::new(s).poll_frame(cx),
        }
    }

    fn is_end_stream(&self) -> bool {
        match self {
            ProxyBody::Full(b) => b.is_none(),
            ProxyBody::Stream(_) => false,
        }
    }

    fn size_hint(&self) -> SizeHint {
        match self {
            ProxyBody::Full(b) => SizeHint::with_exact(b.as_ref().map_or(0, |b| b.len() as u64)),
            ProxyBody::Stream(_) => SizeHint::default(),
        }
    }
}
