//! The daemon as the plugin sees it during one callback: job messages, debug output and the
//! job's variables, for either flavour.
//!
//! A `Host` is created by the SDK when the daemon calls in and lives only for that call; it is
//! neither `Send` nor `Sync`, so core functions cannot be reached from another thread. Each
//! method also checks the thread at run time.

use std::ffi::{c_char, c_int, c_void, CStr, CString};
use std::marker::PhantomData;
use std::thread::{self, ThreadId};

use crate::plugin::MessageLevel;
use crate::sys::{bacula, bareos};

/// Which daemon loaded the plugin.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Flavour {
    /// bareos-fd, plugin interface 10.
    Bareos,
    /// Bacula 9.6 bacula-fd, plugin interface 14.
    Bacula,
}

/// Raw handle of one job context plus the daemon's core table (both valid for the whole call).
#[derive(Clone, Copy)]
pub(crate) enum RawHost {
    Bareos {
        ctx: *mut bareos::PluginContext,
        core: &'static bareos::CoreFunctions,
    },
    Bacula {
        ctx: *mut bacula::bpContext,
        core: &'static bacula::bFuncs,
    },
}

/// The longest message text sent in one job message (Bacula formats into 2,000 bytes).
const MAX_MESSAGE: usize = 1900;

const FILE: &CStr = c"s3-fd";

pub struct Host<'call> {
    raw: RawHost,
    thread: ThreadId,
    _not_send: PhantomData<*mut ()>,
    _call: PhantomData<&'call ()>,
}

impl Host<'_> {
    pub(crate) fn new(raw: RawHost) -> Self {
        Host {
            raw,
            thread: thread::current().id(),
            _not_send: PhantomData,
            _call: PhantomData,
        }
    }

    pub fn flavour(&self) -> Flavour {
        match self.raw {
            RawHost::Bareos { .. } => Flavour::Bareos,
            RawHost::Bacula { .. } => Flavour::Bacula,
        }
    }

    fn on_daemon_thread(&self) -> bool {
        thread::current().id() == self.thread
    }

    /// Sends a job message (shown in the job log, counted per `level`).
    pub fn job_message(&self, level: MessageLevel, text: &str) {
        if !self.on_daemon_thread() {
            return;
        }
        let text = to_c_text(text);
        // SAFETY: ctx and core are valid for the duration of the daemon's call; the format is
        // "%s\n" with one NUL-terminated argument, so no format injection is possible (the
        // daemons expect messages to end with a newline).
        unsafe {
            match self.raw {
                RawHost::Bareos { ctx, core } => {
                    if let Some(f) = core.JobMessage {
                        f(
                            ctx,
                            FILE.as_ptr(),
                            0,
                            bareos_type(level),
                            0,
                            c"%s\n".as_ptr(),
                            text.as_ptr(),
                        );
                    }
                }
                RawHost::Bacula { ctx, core } => {
                    if let Some(f) = core.JobMessage {
                        f(
                            ctx,
                            FILE.as_ptr(),
                            0,
                            bacula_type(level),
                            0,
                            c"%s\n".as_ptr(),
                            text.as_ptr(),
                        );
                    }
                }
            }
        }
    }

    /// Writes to the daemon's debug output (shown when its debug level is ≥ `level`).
    pub fn debug(&self, level: i32, text: &str) {
        if !self.on_daemon_thread() {
            return;
        }
        let text = to_c_text(text);
        // SAFETY: as in `job_message`.
        unsafe {
            match self.raw {
                RawHost::Bareos { ctx, core } => {
                    if let Some(f) = core.DebugMessage {
                        f(
                            ctx,
                            FILE.as_ptr(),
                            0,
                            level,
                            c"%s\n".as_ptr(),
                            text.as_ptr(),
                        );
                    }
                }
                RawHost::Bacula { ctx, core } => {
                    if let Some(f) = core.DebugMessage {
                        f(
                            ctx,
                            FILE.as_ptr(),
                            0,
                            level,
                            c"%s\n".as_ptr(),
                            text.as_ptr(),
                        );
                    }
                }
            }
        }
    }

    /// Reads an `int` variable.
    fn get_int(&self, bareos_var: u32, bacula_var: u32) -> Option<i32> {
        let mut value: c_int = i32::MIN;
        let ok = self.get_raw(bareos_var, bacula_var, (&mut value as *mut c_int).cast());
        (ok && value != i32::MIN).then_some(value)
    }

    /// Reads a `char*` variable (copied).
    fn get_string(&self, bareos_var: u32, bacula_var: u32) -> Option<String> {
        let mut value: *const c_char = std::ptr::null();
        let ok = self.get_raw(
            bareos_var,
            bacula_var,
            (&mut value as *mut *const c_char).cast(),
        );
        if !ok || value.is_null() {
            return None;
        }
        // SAFETY: the daemon returned a NUL-terminated string valid during this call.
        Some(
            unsafe { CStr::from_ptr(value) }
                .to_string_lossy()
                .into_owned(),
        )
    }

    fn get_raw(&self, bareos_var: u32, bacula_var: u32, out: *mut c_void) -> bool {
        if !self.on_daemon_thread() {
            return false;
        }
        // SAFETY: out points to storage of the type the daemon writes for this variable
        // (checked per variable by the callers), ctx/core valid during the call.
        unsafe {
            match self.raw {
                RawHost::Bareos { ctx, core } => core
                    .getBareosValue
                    .is_some_and(|f| f(ctx, bareos_var as _, out) == bareos::bRC_OK),
                RawHost::Bacula { ctx, core } => core
                    .getBaculaValue
                    .is_some_and(|f| f(ctx, bacula_var as _, out) == bacula::bRC_OK),
            }
        }
    }

    pub fn job_id(&self) -> Option<u32> {
        self.get_int(bareos::bVarJobId, bacula::bVarJobId)
            .map(|v| v as u32)
    }

    /// Level character (`F`, `I`, `D`, …; ` ` for restores).
    pub fn level(&self) -> Option<u8> {
        self.get_int(bareos::bVarLevel, bacula::bVarLevel)
            .map(|v| v as u8)
    }

    /// Job type character (`B` backup, `R` restore, …).
    pub fn job_type(&self) -> Option<u8> {
        self.get_int(bareos::bVarType, bacula::bVarType)
            .map(|v| v as u8)
    }

    pub fn accurate(&self) -> bool {
        self.get_int(bareos::bVarAccurate, bacula::bVarAccurate)
            .is_some_and(|v| v != 0)
    }

    /// The since time as the daemon's 32-bit variable (prefer the Since event).
    pub fn since_time(&self) -> Option<i64> {
        self.get_int(bareos::bVarSinceTime, bacula::bVarSinceTime)
            .map(i64::from)
    }

    pub fn job_name(&self) -> Option<String> {
        self.get_string(bareos::bVarJobName, bacula::bVarJobName)
    }

    pub fn where_(&self) -> Option<String> {
        self.get_string(bareos::bVarWhere, bacula::bVarWhere)
    }

    /// Accurate mode: marks `name` as seen so it is not recorded as deleted.
    pub fn set_file_seen(&self, name: &CStr) -> bool {
        if !self.on_daemon_thread() {
            return false;
        }
        // SAFETY: the daemon copies/looks up the NUL-terminated name during the call.
        unsafe {
            match self.raw {
                RawHost::Bareos { ctx, core } => core.setBareosValue.is_some_and(|f| {
                    f(ctx, bareos::bVarFileSeen as _, name.as_ptr().cast()) == bareos::bRC_OK
                }),
                RawHost::Bacula { ctx, core } => core.setBaculaValue.is_some_and(|f| {
                    f(ctx, bacula::bVarFileSeen as _, name.as_ptr() as *mut c_void)
                        == bacula::bRC_OK
                }),
            }
        }
    }
}

fn bareos_type(level: MessageLevel) -> c_int {
    (match level {
        MessageLevel::Fatal => bareos::M_FATAL,
        MessageLevel::Error => bareos::M_ERROR,
        MessageLevel::Warning => bareos::M_WARNING,
        MessageLevel::Info => bareos::M_INFO,
    }) as c_int
}

fn bacula_type(level: MessageLevel) -> c_int {
    (match level {
        MessageLevel::Fatal => bacula::M_FATAL,
        MessageLevel::Error => bacula::M_ERROR,
        MessageLevel::Warning => bacula::M_WARNING,
        MessageLevel::Info => bacula::M_INFO,
    }) as c_int
}

/// Message text as a C string: NULs replaced, cut at a character boundary.
pub(crate) fn to_c_text(text: &str) -> CString {
    let mut end = text.len().min(MAX_MESSAGE);
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    let cut = &text[..end];
    let cleaned: Vec<u8> = cut.bytes().map(|b| if b == 0 { b' ' } else { b }).collect();
    CString::new(cleaned).expect("NUL bytes were replaced")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn message_text_is_cut_on_a_char_boundary_and_nul_free() {
        let long = "é".repeat(2000);
        let c = to_c_text(&long);
        assert!(c.as_bytes().len() <= MAX_MESSAGE);
        assert!(std::str::from_utf8(c.as_bytes()).is_ok());
        assert_eq!(to_c_text("a\0b").as_bytes(), b"a b");
    }
}
