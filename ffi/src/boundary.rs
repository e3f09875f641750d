//! The one place every daemon callback passes through: it records which job context the
//! current thread is serving (for the log bridge and thread checks) and turns a panic into an
//! error return plus a fatal job message, so no unwinding ever reaches C.

use std::any::Any;
use std::cell::{Cell, RefCell};
use std::panic::{self, AssertUnwindSafe};
use std::sync::Once;

use crate::host::{Host, RawHost};
use crate::logger;
use crate::plugin::MessageLevel;

thread_local! {
    /// The job context of the daemon call running on this thread, if any.
    static CURRENT: Cell<Option<RawHost>> = const { Cell::new(None) };
    /// Text of the last panic on this thread, captured by the hook with its location.
    static LAST_PANIC: RefCell<Option<String>> = const { RefCell::new(None) };
}

/// The job context the current thread is serving a daemon call for.
pub(crate) fn current() -> Option<RawHost> {
    CURRENT.with(Cell::get)
}

/// Installs (once per process) a panic hook that remembers the message and location for the
/// boundary, then runs the previous hook (which prints to the daemon's stderr/log).
pub(crate) fn install_panic_hook() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        let previous = panic::take_hook();
        panic::set_hook(Box::new(move |info| {
            let location = info
                .location()
                .map(|l| format!(" at {}:{}", l.file(), l.line()))
                .unwrap_or_default();
            let text = format!("{}{location}", payload_text(info.payload()));
            LAST_PANIC.with(|p| *p.borrow_mut() = Some(text));
            previous(info);
        }));
    });
}

fn payload_text(payload: &(dyn Any + Send)) -> String {
    if let Some(s) = payload.downcast_ref::<&str>() {
        (*s).to_string()
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s.clone()
    } else {
        "panic with a non-text payload".to_string()
    }
}

/// Runs one daemon callback. `host` is the job context (None before a context exists);
/// `on_panic` is what the daemon gets back if `body` panics.
pub(crate) fn call<R>(
    what: &'static str,
    host: Option<RawHost>,
    on_panic: R,
    body: impl FnOnce() -> R,
) -> R {
    let previous = CURRENT.with(|c| c.replace(host));
    if let Some(host) = host {
        logger::flush_pending(&Host::new(host));
    }
    let result = panic::catch_unwind(AssertUnwindSafe(body));
    CURRENT.with(|c| c.set(previous));
    match result {
        Ok(value) => value,
        Err(payload) => {
            let text = LAST_PANIC
                .with(|p| p.borrow_mut().take())
                .unwrap_or_else(|| payload_text(payload.as_ref()));
            let message = format!("s3-fd: internal error in {what}: panicked: {text}");
            match host {
                Some(host) => Host::new(host).job_message(MessageLevel::Fatal, &message),
                None => log::error!("{message}"),
            }
            on_panic
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_panic_becomes_the_fallback_value() {
        install_panic_hook();
        let r = call("test", None, 7, || -> i32 { panic!("boom {}", 1) });
        assert_eq!(r, 7);
        assert_eq!(call("test", None, 7, || 3), 3);
        assert!(current().is_none());
    }
}
