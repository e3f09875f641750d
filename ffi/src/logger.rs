//! Bridge from the `log` crate to the daemon's debug output.
//!
//! A record logged on a thread that is serving a daemon call goes straight to `DebugMessage`.
//! Records from other threads (the async S3 workers, which must never call into the daemon)
//! are queued, bounded, and written by the next daemon call on any job thread.
//!
//! Levels map to daemon debug levels: error 10, warn 50, info 100, debug 200, trace 400
//! (`bareos-fd -d 200` shows up to debug). Only records of the plugin's own crates are kept
//! below `warn`, so third-party libraries cannot leak request details into the log.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;

use log::{Level, LevelFilter, Log, Metadata, Record};

use crate::boundary;
use crate::host::Host;

const QUEUE_LIMIT: usize = 1000;
const OWN_TARGETS: [&str; 3] = ["s3_plugin", "fd_ffi", "s3_fd"];

struct Bridge;

static BRIDGE: Bridge = Bridge;
static PENDING: Mutex<VecDeque<(i32, String)>> = Mutex::new(VecDeque::new());
static DROPPED: AtomicU64 = AtomicU64::new(0);

pub(crate) fn debug_level(level: Level) -> i32 {
    match level {
        Level::Error => 10,
        Level::Warn => 50,
        Level::Info => 100,
        Level::Debug => 200,
        Level::Trace => 400,
    }
}

/// Installs the bridge as the process's logger (once; a no-op if another logger exists).
pub(crate) fn init() {
    if log::set_logger(&BRIDGE).is_ok() {
        log::set_max_level(LevelFilter::Debug);
    }
}

impl Log for Bridge {
    fn enabled(&self, metadata: &Metadata<'_>) -> bool {
        metadata.level() <= Level::Warn
            || OWN_TARGETS.iter().any(|t| metadata.target().starts_with(t))
    }

    fn log(&self, record: &Record<'_>) {
        if !self.enabled(record.metadata()) {
            return;
        }
        let level = debug_level(record.level());
        let text = format!("{} {}: {}", record.level(), record.target(), record.args());
        match boundary::current() {
            Some(host) => Host::new(host).debug(level, &text),
            None => queue(level, text),
        }
    }

    fn flush(&self) {}
}

fn queue(level: i32, text: String) {
    let mut pending = PENDING.lock().unwrap_or_else(|p| p.into_inner());
    if pending.len() >= QUEUE_LIMIT {
        pending.pop_front();
        DROPPED.fetch_add(1, Ordering::Relaxed);
    }
    pending.push_back((level, text));
}

/// Writes queued records through `host` (called at the start of every daemon call).
pub(crate) fn flush_pending(host: &Host<'_>) {
    let drained: Vec<(i32, String)> = {
        let mut pending = PENDING.lock().unwrap_or_else(|p| p.into_inner());
        if pending.is_empty() {
            return;
        }
        pending.drain(..).collect()
    };
    let dropped = DROPPED.swap(0, Ordering::Relaxed);
    if dropped > 0 {
        host.debug(
            50,
            &format!("s3-fd: {dropped} debug records dropped (queue full)"),
        );
    }
    for (level, text) in drained {
        host.debug(level, &text);
    }
}
