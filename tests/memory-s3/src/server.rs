//! The HTTP/1.1 server: hyper on a multi-threaded tokio runtime, keep-alive, vectored writes of
//! the pool slices, large write buffers, `TCP_NODELAY`.

use std::io;
use std::net::SocketAddr;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::net::TcpListener;

use crate::s3::{handle, State};
use crate::store::Store;

/// Server settings.
#[derive(Clone, Debug, Default)]
pub struct Options {
    /// Worker threads of the runtime (0: one per CPU).
    pub threads: usize,
    /// `SO_SNDBUF` of accepted connections (`None`: the kernel's autotuning).
    pub sndbuf: Option<usize>,
}

/// Builds the runtime the server runs on.
pub fn runtime(threads: usize) -> io::Result<tokio::runtime::Runtime> {
    let mut b = tokio::runtime::Builder::new_multi_thread();
    if threads > 0 {
        b.worker_threads(threads);
    }
    b.thread_name("memory-s3").enable_all().build()
}

/// Accepts and serves connections on `listener` until the runtime stops.
pub async fn serve(listener: TcpListener, state: Arc<State>, options: Options) {
    loop {
        let (stream, _) = match listener.accept().await {
            Ok(c) => c,
            Err(e) => {
                // EMFILE and friends: wait a little rather than spin.
                eprintln!("memory-s3: accept: {e}");
                tokio::time::sleep(Duration::from_millis(20)).await;
                continue;
            }
        };
        state.stats.connections.fetch_add(1, Ordering::Relaxed);
        let _ = stream.set_nodelay(true);
        if let Some(n) = options.sndbuf {
            let _ = socket2::SockRef::from(&stream).set_send_buffer_size(n);
        }
        let state = state.clone();
        tokio::spawn(async move {
            let service = service_fn(move |req| handle(state.clone(), req));
            let _ = http1::Builder::new()
                .timer(TokioTimer::new())
                .keep_alive(true)
                .writev(true)
                .max_buf_size(4 << 20)
                .serve_connection(TokioIo::new(stream), service)
                .await;
        });
    }
}

/// A server running on its own thread and runtime (for tests and for embedding).
pub struct Running {
    pub addr: SocketAddr,
    state: Arc<State>,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Running {
    /// `http://ADDR`
    pub fn endpoint(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The request counters.
    pub fn stats(&self) -> &crate::s3::Stats {
        &self.state.stats
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// Starts serving `store` on `listen` (port 0: any free port) on a background thread.
pub fn spawn(store: Store, listen: SocketAddr, options: Options) -> io::Result<Running> {
    let rt = runtime(options.threads)?;
    let listener = rt.block_on(TcpListener::bind(listen))?;
    let addr = listener.local_addr()?;
    let state = Arc::new(State::new(store));
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let s = state.clone();
    let thread = std::thread::Builder::new()
        .name("memory-s3-main".into())
        .spawn(move || {
            rt.block_on(async move {
                tokio::select! {
                    _ = serve(listener, s, options) => {}
                    _ = stopped => {}
                }
            });
            rt.shutdown_background();
        })?;
    Ok(Running {
        addr,
        state,
        stop: Some(stop),
        thread: Some(thread),
    })
}
