//! Per-job state behind the context's private pointer, and the dispatch every shim callback
//! uses to reach the plugin: boundary, poisoning after a panic, error-to-message mapping.

use std::cell::UnsafeCell;
use std::ffi::{c_void, CString};

use crate::boundary;
use crate::host::{Host, RawHost};
use crate::plugin::{FdPlugin, PluginError};
use crate::xattr::Pending;
use crate::CancelToken;

/// What the SDK keeps about the entry being backed up or restored.
#[derive(Default)]
pub(crate) struct FileState {
    /// The last backup entry's name, alive until the next `startBackupFile`.
    pub(crate) name: Option<CString>,
    /// Its extended attributes, as far as handed to the daemon.
    pub(crate) xattrs: Pending,
    /// The output name of the file being restored (from `createFile`), for messages.
    pub(crate) restoring: Option<CString>,
}

impl FileState {
    /// The entry's name for a message: `daemon_name` if the daemon gave one, else ours.
    pub(crate) fn shown(&self, daemon_name: Option<&std::ffi::CStr>) -> String {
        daemon_name
            .or(self.name.as_deref())
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| "?".into())
    }
}

pub(crate) struct JobSlot<P> {
    /// Shared with the cancel thread: the only field it touches.
    pub(crate) cancel: CancelToken,
    /// Touched only by the job thread, one call at a time.
    state: UnsafeCell<JobState<P>>,
}

// SAFETY: `state` is only accessed from the job's thread, sequentially (the daemon's
// threading contract); the cancel thread only reads `cancel`, which is Sync.
unsafe impl<P> Sync for JobSlot<P> {}

struct JobState<P> {
    plugin: Result<P, PluginError>,
    file: FileState,
    /// Set while a call into the plugin runs; still set on entry means that call panicked.
    in_call: bool,
}

impl<P: FdPlugin> JobSlot<P> {
    /// `newPlugin`: creates the plugin instance and returns the pointer for the context.
    pub(crate) fn create(host: RawHost) -> *mut c_void {
        let cancel = CancelToken::new();
        let plugin = boundary::call("newPlugin", Some(host), None, || {
            Some(P::new(&Host::new(host), cancel.clone()))
        })
        .unwrap_or_else(|| {
            Err(PluginError::fatal(
                "s3-fd: plugin instance creation panicked",
            ))
        });
        if let Err(e) = &plugin {
            // No job message here: Bacula takes one before the job reply as a rejection.
            Host::new(host).debug(10, &format!("s3-fd: newPlugin failed: {e}"));
        }
        let slot = Box::new(JobSlot {
            cancel,
            state: UnsafeCell::new(JobState {
                plugin,
                file: FileState::default(),
                in_call: false,
            }),
        });
        Box::into_raw(slot).cast()
    }

    /// `freePlugin`.
    ///
    /// # Safety
    /// `ptr` came from `create` and is not used afterwards.
    pub(crate) unsafe fn destroy(ptr: *mut c_void, host: RawHost) {
        if ptr.is_null() {
            return;
        }
        // SAFETY: per the contract, we own the box now.
        let slot = unsafe { Box::from_raw(ptr.cast::<JobSlot<P>>()) };
        boundary::call("freePlugin", Some(host), (), move || drop(slot));
        // The job's buffers go back to the system between jobs.
        crate::block_pool::POOL.release();
    }

    /// The cancel command, from another thread.
    ///
    /// # Safety
    /// `ptr` came from `create` and is alive.
    pub(crate) unsafe fn cancel(ptr: *mut c_void) {
        if ptr.is_null() {
            return;
        }
        // SAFETY: only a shared reference; `cancel` is Sync.
        let slot = unsafe { &*ptr.cast::<JobSlot<P>>() };
        slot.cancel.cancel();
    }
}

/// Runs `body` with the job's plugin on the job thread; `error_rc` is returned when there is
/// no usable plugin (creation failed, an earlier call panicked) or `body` panics.
///
/// # Safety
/// `ptr` is the context's private pointer set by `JobSlot::create` (or NULL), and the daemon
/// calls on the job thread, not re-entrantly.
pub(crate) unsafe fn dispatch<P: FdPlugin, R: Copy>(
    ptr: *mut c_void,
    host: RawHost,
    what: &'static str,
    error_rc: R,
    body: impl FnOnce(&mut P, &Host<'_>, &mut FileState) -> R,
) -> R {
    boundary::call(what, Some(host), error_rc, || {
        let h = Host::new(host);
        if ptr.is_null() {
            h.job_message(
                crate::MessageLevel::Fatal,
                &format!("s3-fd: {what} called without a plugin instance"),
            );
            return error_rc;
        }
        // SAFETY: per the function contract, the job thread is the only one touching state.
        let slot = unsafe { &*ptr.cast::<JobSlot<P>>() };
        let state = unsafe { &mut *slot.state.get() };
        if state.in_call {
            state.plugin = Err(PluginError::fatal(
                "s3-fd: the plugin stopped after an internal error earlier in this job",
            ));
            state.in_call = false;
        }
        let plugin = match &mut state.plugin {
            Ok(plugin) => plugin,
            Err(e) => {
                h.job_message(e.level, &e.message);
                return error_rc;
            }
        };
        state.in_call = true;
        let rc = body(plugin, &h, &mut state.file);
        state.in_call = false;
        rc
    })
}

/// Sends a plugin error as a job message.
pub(crate) fn report(host: &Host<'_>, error: &PluginError) {
    host.job_message(error.level, &error.message);
}
