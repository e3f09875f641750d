//! Every call into the plugin is bounded: [`arm`] registers a deadline for the call, the returned
//! guard removes it. One background thread checks the deadlines once a second; when one passes it
//! prints which call hung (straight to stderr, bypassing the test harness' output capture) and
//! aborts the test process — a hung plugin call cannot be interrupted from the outside.
//!
//! The limit is `HARNESS_CALL_TIMEOUT_SECS` (default 300 s).

use std::collections::HashMap;
use std::io::Write;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{LazyLock, Mutex, Once, OnceLock};
use std::thread;
use std::time::{Duration, Instant};

struct Watch {
    deadline: Instant,
    started: Instant,
    what: String,
    thread: String,
}

static TABLE: LazyLock<Mutex<HashMap<u64, Watch>>> = LazyLock::new(|| Mutex::new(HashMap::new()));

fn table() -> std::sync::MutexGuard<'static, HashMap<u64, Watch>> {
    TABLE.lock().unwrap_or_else(|p| p.into_inner())
}

fn limit() -> Duration {
    static LIMIT: OnceLock<Duration> = OnceLock::new();
    *LIMIT.get_or_init(|| {
        let secs = std::env::var("HARNESS_CALL_TIMEOUT_SECS")
            .ok()
            .and_then(|s| s.parse::<u64>().ok())
            .unwrap_or(300);
        Duration::from_secs(secs)
    })
}

fn watch_loop() {
    loop {
        thread::sleep(Duration::from_secs(1));
        let now = Instant::now();
        let guard = table();
        if let Some(w) = guard.values().find(|w| now >= w.deadline) {
            let _ = writeln!(
                std::io::stderr(),
                "\n*** harness watchdog: plugin call `{}` on thread {} did not return within {:?}; \
                 aborting the test process ***\n",
                w.what,
                w.thread,
                now - w.started,
            );
            std::process::abort();
        }
    }
}

/// Removes its deadline when dropped.
pub(crate) struct Armed(u64);

impl Drop for Armed {
    fn drop(&mut self) {
        table().remove(&self.0);
    }
}

/// Registers a deadline for the call described by `what`.
pub(crate) fn arm(what: impl Into<String>) -> Armed {
    static START: Once = Once::new();
    static NEXT: AtomicU64 = AtomicU64::new(0);
    START.call_once(|| {
        thread::Builder::new()
            .name("harness-watchdog".into())
            .spawn(watch_loop)
            .expect("spawn the harness watchdog");
    });
    let id = NEXT.fetch_add(1, Ordering::Relaxed);
    let now = Instant::now();
    let me = thread::current();
    let watch = Watch {
        deadline: now + limit(),
        started: now,
        what: what.into(),
        thread: me
            .name()
            .map(str::to_owned)
            .unwrap_or_else(|| format!("{:?}", me.id())),
    };
    table().insert(id, watch);
    Armed(id)
}
