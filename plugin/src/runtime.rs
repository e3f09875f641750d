//! The plugin's async worker threads, never the daemon's: job threads only block on channels
//! fed by tasks running here.
//!
//! Two pools of workers, both created once per daemon and shared by all of its jobs:
//! - the request runtime: listing, small objects, HEADs, restores; many short requests whose
//!   CPU (signing, parsing) wants as many workers as there are cores, at least four;
//! - the stream runtime: the ranged GETs of large objects (parts) and their connections, a
//!   few long streams of bytes that only need a worker to copy from the socket. One worker per
//!   four cores: on a 2-core machine the 1 GiB benchmark spent 10–15 % less CPU per GiB with
//!   its parts on one worker than spread over the request runtime's four, which woke each other
//!   for every chunk (same throughput, on memory-s3 and on Ceph RadosGW).

use std::cell::Cell;
use std::future::Future;
use std::sync::OnceLock;

use tokio::runtime::{Builder, Runtime};

static RUNTIME: OnceLock<Runtime> = OnceLock::new();
static STREAMS: OnceLock<Runtime> = OnceLock::new();

thread_local! {
    static ON_STREAM_WORKER: Cell<bool> = const { Cell::new(false) };
}

fn cores() -> usize {
    std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(2)
}

/// Request workers: one per core, at least four (fewer slowed small objects on a 2-core
/// machine), at most eight.
fn request_workers() -> usize {
    cores().clamp(4, 8)
}

/// Stream workers: one per four cores, one to four.
fn stream_workers() -> usize {
    (cores() / 4).clamp(1, 4)
}

/// A runtime of `workers` threads named `name`, with I/O and timers.
fn pool(workers: usize, name: &str) -> Builder {
    let mut builder = Builder::new_multi_thread();
    builder
        .worker_threads(workers)
        .thread_name(name)
        .enable_all();
    builder
}

/// The request runtime.
pub fn runtime() -> &'static Runtime {
    RUNTIME.get_or_init(|| {
        pool(request_workers(), "s3-fd-io")
            .build()
            .expect("the S3 I/O runtime can be created")
    })
}

/// The stream runtime (parts of large objects).
pub fn stream_runtime() -> &'static Runtime {
    STREAMS.get_or_init(|| {
        pool(stream_workers(), "s3-fd-stream")
            .on_thread_start(|| ON_STREAM_WORKER.with(|f| f.set(true)))
            .build()
            .expect("the S3 stream runtime can be created")
    })
}

/// Whether the calling thread is a worker of the stream runtime (its requests use
/// connections of their own, driven there too).
pub fn on_stream_worker() -> bool {
    ON_STREAM_WORKER.with(|f| f.get())
}

/// Runs `future` to completion from a daemon (job) thread.
pub fn block_on<F: Future>(future: F) -> F::Output {
    runtime().block_on(future)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stream_tasks_know_where_they_run() {
        assert!(!on_stream_worker());
        let on_stream = stream_runtime().spawn(async { on_stream_worker() });
        assert!(block_on(on_stream).unwrap());
        let on_request = runtime().spawn(async { on_stream_worker() });
        assert!(!block_on(on_request).unwrap());
        assert!((1..=4).contains(&stream_workers()));
        assert!((4..=8).contains(&request_workers()));
    }
}
