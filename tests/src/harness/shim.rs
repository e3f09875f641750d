//! The C-variadic core callbacks live in `src/host_shim.c` (stable Rust cannot define them).
//! They unpack their arguments like the daemons do and forward to the non-variadic "sinks" of
//! the hosts, installed once here before any plugin is loaded.

use std::ffi::{c_char, c_int, c_void};
use std::sync::Once;

use fd_ffi::sys::{bacula, bareos};

use super::bacula_host::{self, Bacula};
use super::bareos_host::{self, Bareos};
use super::host;

#[repr(C)]
struct Sinks {
    bareos_events: unsafe extern "C" fn(*mut c_void, c_int, c_int, *const u32, c_int) -> c_int,
    bareos_job_msg:
        unsafe extern "C" fn(*mut c_void, *const c_char, c_int, c_int, i64, *const c_char) -> c_int,
    bareos_debug_msg:
        unsafe extern "C" fn(*mut c_void, *const c_char, c_int, c_int, *const c_char) -> c_int,
    bacula_events: unsafe extern "C" fn(*mut c_void, *const u32, c_int, c_int) -> c_int,
    bacula_job_msg:
        unsafe extern "C" fn(*mut c_void, *const c_char, c_int, c_int, i64, *const c_char) -> c_int,
    bacula_debug_msg:
        unsafe extern "C" fn(*mut c_void, *const c_char, c_int, c_int, *const c_char) -> c_int,
}

extern "C" {
    fn harness_shim_set_sinks(sinks: *const Sinks);

    pub(crate) fn harness_bareos_register_events(
        ctx: *mut bareos::PluginContext,
        nr_events: c_int,
        ...
    ) -> bareos::bRC;
    pub(crate) fn harness_bareos_unregister_events(
        ctx: *mut bareos::PluginContext,
        nr_events: c_int,
        ...
    ) -> bareos::bRC;
    pub(crate) fn harness_bareos_job_message(
        ctx: *mut bareos::PluginContext,
        file: *const c_char,
        line: c_int,
        type_: c_int,
        mtime: bareos::utime_t,
        fmt: *const c_char,
        ...
    ) -> bareos::bRC;
    pub(crate) fn harness_bareos_debug_message(
        ctx: *mut bareos::PluginContext,
        file: *const c_char,
        line: c_int,
        level: c_int,
        fmt: *const c_char,
        ...
    ) -> bareos::bRC;

    pub(crate) fn harness_bacula_register_events(ctx: *mut bacula::bpContext, ...) -> bacula::bRC;
    pub(crate) fn harness_bacula_job_message(
        ctx: *mut bacula::bpContext,
        file: *const c_char,
        line: c_int,
        type_: c_int,
        mtime: bacula::utime_t,
        fmt: *const c_char,
        ...
    ) -> bacula::bRC;
    pub(crate) fn harness_bacula_debug_message(
        ctx: *mut bacula::bpContext,
        file: *const c_char,
        line: c_int,
        level: c_int,
        fmt: *const c_char,
        ...
    ) -> bacula::bRC;
}

/// Installs the sinks (idempotent); must run before a core table is handed to a plugin.
pub(crate) fn install() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        let sinks = Box::leak(Box::new(Sinks {
            bareos_events: bareos_host::sink_events,
            bareos_job_msg: host::sink_job_message::<Bareos>,
            bareos_debug_msg: host::sink_debug_message::<Bareos>,
            bacula_events: bacula_host::sink_events,
            bacula_job_msg: host::sink_job_message::<Bacula>,
            bacula_debug_msg: host::sink_debug_message::<Bacula>,
        }));
        // SAFETY: the shim copies the struct of function pointers, whose signatures match the
        // C declarations in host_shim.c.
        unsafe { harness_shim_set_sinks(sinks) };
    });
}
