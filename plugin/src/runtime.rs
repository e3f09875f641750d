//! The one async runtime of the plugin: worker threads of its own, never the daemon's.
//! Job threads only block on channels fed by tasks running here.

use std::future::Future;
use std::sync::OnceLock;

use tokio::runtime::{Builder, Runtime};

static RUNTIME: OnceLock<Runtime> = OnceLock::new();

/// Worker threads of the runtime: network I/O for every job of the daemon. One per core, at
/// least four (fewer slowed small objects on a 2-core machine), at most eight.
fn workers() -> usize {
    std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(2)
        .clamp(4, 8)
}

pub fn runtime() -> &'static Runtime {
    RUNTIME.get_or_init(|| {
        Builder::new_multi_thread()
            .worker_threads(workers())
            .thread_name("s3-fd-io")
            .enable_all()
            .build()
            .expect("the S3 I/O runtime can be created")
    })
}

/// Runs `future` to completion from a daemon (job) thread.
pub fn block_on<F: Future>(future: F) -> F::Output {
    runtime().block_on(future)
}
