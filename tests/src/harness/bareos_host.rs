//! The Bareos ABI (plugin interface 10) as an [`Abi`]: `PluginContext`, 240-byte `save_pkt` with a
//! `char[5]` FO bit array, 240-byte `restore_pkt`, 80-byte `io_pkt`; the `CoreFunctions` table
//! handed to `loadPlugin` with the callbacks only Bareos has (`getBareosValue`, the seen bitmap,
//! …), the event numbering, and the `getXattr` / `setXattr` route of extended attributes.
//! Numbers and behaviour: docs/abi.md, the Bareos core table, events and xattrs.

use std::ffi::{c_char, c_int, c_void, CStr};
use std::mem::size_of;
use std::sync::OnceLock;

use fd_ffi::sys::bareos as sys;

use super::driver::{Ev, IoReq, SavedXattrs};
use super::host::{self, abi_packets, bytes_at, c_bytes, job_of, Abi, HostJob, Var};
use super::job::{self, Addr, DaemonStrings};
use super::shim;
use super::{msg, rc, Flavour, SavedFile, Xattr};

/// The Bareos plugin ABI.
pub(crate) struct Bareos;

impl Abi for Bareos {
    type Ctx = sys::PluginContext;
    type Funcs = sys::PluginFunctions;
    type CoreInfo = sys::PluginApiDefinition;
    type CoreFuncs = sys::CoreFunctions;
    abi_packets!(sys);

    const FLAVOUR: Flavour = Flavour::Bareos;
    const VERSION: u32 = 10;
    const GET_VALUE: &'static str = "getBareosValue";
    const DAEMON_VALUES_NEED_CONTEXT: bool = false;
    const CORE_SLOT: &'static str = "core_private_context";
    const CHECK_CHANGES_NO_FNAME: Option<&'static str> =
        Some("Command plugin: no fname in bareosCheckChanges packet.");

    fn core_tables() -> (*mut sys::PluginApiDefinition, *mut sys::CoreFunctions) {
        core_tables()
    }

    fn new_context(core: *mut c_void) -> sys::PluginContext {
        sys::PluginContext {
            instance: 0,
            plugin: std::ptr::null_mut(),
            core_private_context: core,
            plugin_private_context: std::ptr::null_mut(),
        }
    }

    /// Bareos' numbering; 17 (bVarDistName) was removed, 11 (VSS) is Windows only, 10
    /// (bVarFileSeen) is write-only, 23 exists only in master.
    fn variable(var: u32) -> Var {
        Var::numbered_alike(var).unwrap_or(match var {
            11 | 17 => Var::Refused,
            12 => Var::WorkingDir,
            13 => Var::Where,
            14 => Var::RegexWhere,
            15 => Var::ExePath,
            16 => Var::Version,
            18 => Var::PrevJobName,
            19 => Var::PrefixLinks,
            20 => Var::CheckChanges,
            21 => Var::UsedConfig,
            22 => Var::PluginPath,
            _ => Var::Untouched,
        })
    }

    fn version(d: &'static DaemonStrings) -> &'static CStr {
        &d.bareos_version
    }

    fn core_slot(ctx: &sys::PluginContext) -> *mut c_void {
        ctx.core_private_context
    }

    /// Bareos' event numbers (docs/abi.md, the Bareos events): after the shared ones, the
    /// restore object, FileSet and plugin command events, and NewPluginOptions.
    fn event_number(ev: Ev) -> Option<u32> {
        ev.numbered_alike().or_else(|| {
            Some(match ev {
                Ev::RestoreObject => 15,
                Ev::EndFileSet => 16,
                Ev::PluginCommand => 17,
                Ev::NewPluginOptions => 20,
                _ => return None,
            })
        })
    }

    /// A fresh packet as PluginSave builds it (docs/abi.md, the Bareos save packet): the
    /// Include block's FO bits, and FO_XATTR with `xattrsupport`.
    fn preset_save_flags(sp: &mut sys::save_pkt, xattrs: bool) {
        let xattr = xattrs.then_some(sys::FO_XATTR);
        for bit in PRESET_FO_BITS.into_iter().chain(xattr) {
            sp.flags[(bit >> 3) as usize] |= (1u8 << (bit & 7)) as c_char;
        }
    }

    fn sparse_offsets(sp: &sys::save_pkt) -> (bool, bool) {
        (
            fo_bit(&sp.flags, sys::FO_SPARSE),
            fo_bit(&sp.flags, sys::FO_OFFSETS),
        )
    }

    fn save_time(sp: &sys::save_pkt) -> i64 {
        sp.save_time
    }

    fn preset_io(io: &mut sys::io_pkt, req: &IoReq) {
        io.status = req.status;
        io.filedes = req.filedes;
    }

    fn io_filedes(io: &sys::io_pkt, req: &mut IoReq) {
        req.filedes = io.filedes;
    }

    fn preset_restore(rp: &mut sys::restore_pkt) {
        rp.filedes = -1;
    }

    fn created_filedes(rp: &sys::restore_pkt) -> i32 {
        rp.filedes
    }

    fn after_data(job: &mut HostJob<Self>, fname: &CStr) -> SavedXattrs {
        get_xattrs(job, fname)
    }

    fn restore_xattrs(job: &mut HostJob<Self>, file: &SavedFile, ofname: &CStr) {
        set_xattrs(job, file, ofname);
    }
}

/// FO bits the emulated Include block's Options preset in `sp->flags` (signature=MD5,
/// compression, sparse=yes): a plugin must clear FO_SPARSE (docs/abi.md, the Bareos save packet).
const PRESET_FO_BITS: [u32; 3] = [1, 2, sys::FO_SPARSE];

fn fo_bit(flags: &[c_char; 5], bit: u32) -> bool {
    let byte = (bit >> 3) as usize;
    byte < flags.len() && (flags[byte] as u8) & (1 << (bit & 7)) != 0
}

/// The static tables passed to every `loadPlugin` (values of bareos-fd: {8, 10} and {176, 10}).
fn core_tables() -> (*mut sys::PluginApiDefinition, *mut sys::CoreFunctions) {
    static TABLES: OnceLock<(Addr, Addr)> = OnceLock::new();
    let (info, funcs) = *TABLES.get_or_init(|| {
        shim::install();
        let info = Box::leak(Box::new(sys::PluginApiDefinition {
            size: size_of::<sys::PluginApiDefinition>() as u32,
            version: Bareos::VERSION,
        }));
        let funcs = Box::leak(Box::new(sys::CoreFunctions {
            size: size_of::<sys::CoreFunctions>() as u32,
            version: Bareos::VERSION,
            registerBareosEvents: Some(shim::harness_bareos_register_events),
            unregisterBareosEvents: Some(shim::harness_bareos_unregister_events),
            getInstanceCount: Some(get_instance_count),
            getBareosValue: Some(host::get_value::<Bareos>),
            setBareosValue: Some(set_value),
            JobMessage: Some(shim::harness_bareos_job_message),
            DebugMessage: Some(shim::harness_bareos_debug_message),
            bareosMalloc: Some(host::core_malloc::<Bareos>),
            bareosFree: Some(host::core_free::<Bareos>),
            AddExclude: Some(host::add_exclude::<Bareos>),
            AddInclude: Some(host::add_include::<Bareos>),
            AddOptions: Some(host::add_options::<Bareos>),
            AddRegex: Some(host::add_regex::<Bareos>),
            AddWild: Some(host::add_wild::<Bareos>),
            NewOptions: Some(host::new_options::<Bareos>),
            NewInclude: Some(host::new_include::<Bareos>),
            NewPreInclude: Some(host::new_pre_include::<Bareos>),
            checkChanges: Some(host::check_changes::<Bareos>),
            AcceptFile: Some(host::accept_file::<Bareos>),
            SetSeenBitmap: Some(set_seen_bitmap),
            ClearSeenBitmap: Some(clear_seen_bitmap),
        }));
        (Addr::of(info), Addr::of(funcs))
    });
    (info.ptr(), funcs.ptr())
}

// ------------------------------------------------------------------------------ callbacks

pub(crate) unsafe extern "C" fn sink_events(
    ctx: *mut c_void,
    do_register: c_int,
    nr_events: c_int,
    events: *const u32,
    n: c_int,
) -> c_int {
    let name = if do_register != 0 {
        "registerBareosEvents"
    } else {
        "unregisterBareosEvents"
    };
    if ctx.is_null() {
        job::record_orphan(format!("{name} with a NULL context"));
        return rc::ERROR;
    }
    let Some(job) = job_of::<Bareos>(ctx.cast(), name) else {
        return rc::ERROR;
    };
    if nr_events > n {
        job.violation(format!(
            "{name}: nr_events = {nr_events} (the harness read only the first {n})"
        ));
    }
    // SAFETY: the shim passes an array of n values.
    let list = unsafe { std::slice::from_raw_parts(events, n.max(0) as usize) };
    for &ev in list {
        if ev > 31 {
            job.violation(format!(
                "{name}: event {ev} > 31 (the core's 4-byte mask is written out of bounds)"
            ));
        }
        job.set_event(ev, do_register != 0);
    }
    job.debug(format!("[core] {name}({list:?})"));
    rc::OK
}

unsafe extern "C" fn get_instance_count(ctx: *mut sys::PluginContext, ret: *mut c_int) -> sys::bRC {
    let Some(_job) = job_of::<Bareos>(ctx, "getInstanceCount") else {
        return rc::ERROR;
    };
    if ret.is_null() {
        return rc::ERROR;
    }
    // SAFETY: the plugin passes a writable int.
    unsafe { *ret = 1 };
    rc::OK
}

/// `bareosSetValue`: only bVarFileSeen and bVarCheckChanges; anything else is an M_ERROR job
/// message (docs/abi.md, the Bareos variables).
unsafe extern "C" fn set_value(
    ctx: *mut sys::PluginContext,
    var: sys::bVariable,
    value: *const c_void,
) -> sys::bRC {
    let Some(job) = job_of::<Bareos>(ctx, "setBareosValue") else {
        return rc::ERROR;
    };
    if value.is_null() || ctx.is_null() {
        return rc::ERROR;
    }
    match var {
        20 => {
            // SAFETY: the plugin passes a `const bool*`; read the byte.
            let on = unsafe { *value.cast::<u8>() } != 0;
            job.set_check_changes(on);
        }
        10 => {
            // SAFETY: the plugin passes the file name as `char*`.
            let name = unsafe { CStr::from_ptr(value.cast()) }.to_bytes();
            if !job.mark_seen(name) {
                return rc::ERROR;
            }
        }
        other => job.core_message(
            msg::M_ERROR,
            &format!("Warning: bareosSetValue not implemented for var {other}."),
        ),
    }
    rc::OK
}

fn seen_bitmap(
    ctx: *mut sys::PluginContext,
    name: &str,
    all: bool,
    fname: *mut c_char,
    set: bool,
) -> sys::bRC {
    let Some(job) = job_of::<Bareos>(ctx, name) else {
        return rc::ERROR;
    };
    // SAFETY: NUL-terminated or NULL.
    let fname = unsafe { c_bytes(fname) };
    let ok = match (all, fname) {
        (true, Some(_)) => false,
        (true, None) => job.mark_all_seen(set),
        (false, Some(n)) if set => job.mark_seen(n),
        (false, Some(n)) => job.unmark_seen(n),
        (false, None) => false,
    };
    if ok {
        rc::OK
    } else {
        rc::ERROR
    }
}

unsafe extern "C" fn set_seen_bitmap(
    ctx: *mut sys::PluginContext,
    all: bool,
    fname: *mut c_char,
) -> sys::bRC {
    seen_bitmap(ctx, "SetSeenBitmap", all, fname, true)
}

unsafe extern "C" fn clear_seen_bitmap(
    ctx: *mut sys::PluginContext,
    all: bool,
    fname: *mut c_char,
) -> sys::bRC {
    seen_bitmap(ctx, "ClearSeenBitmap", all, fname, false)
}

// ---------------------------------------------------------------------------------- xattrs

/// `MAX_XATTR_STREAM` of `core/src/findlib/xattr.h`.
const MAX_XATTR_STREAM: usize = 1024 * 1024;
/// `PluginBuildXattrStreams` (fd_plugins.cc): `getXattr` while it answers `bRC_More`; the
/// packet of the final `bRC_OK` counts too; the core owns (and `free`s) name and value.
fn get_xattrs(job: &mut HostJob<Bareos>, fname: &CStr) -> SavedXattrs {
    let Some(get) = job.f.getXattr.filter(|_| job.xattrs) else {
        return SavedXattrs::default();
    };
    let (st, ctx) = (job.st, job.ctx);
    let shown = fname.to_string_lossy().into_owned();
    let mut pairs = Vec::new();
    let (mut total, mut calls) = (0usize, 0u64);
    let mut unserializable = false;
    loop {
        calls += 1;
        let mut xp = sys::xattr_pkt {
            pkt_size: size_of::<sys::xattr_pkt>() as i32,
            fname: fname.as_ptr(),
            pkt_end: size_of::<sys::xattr_pkt>() as i32,
            ..Default::default()
        };
        let r = job.call("getXattr", calls == 1, || {
            // SAFETY: optional entry point present; the packet and fname outlive the call.
            unsafe { get(ctx, &mut xp) }
        });
        let more = match r {
            rc::OK => false,
            rc::MORE => true,
            other => {
                st.trace(format!("getXattr x{calls} → {other}"));
                st.core_message(
                    msg::M_ERROR,
                    &format!(
                        "(the core's last error text: getXattr returned {other} for \
                         \"{shown}\"; all its xattrs dropped)"
                    ),
                );
                // Attributes taken so far are freed (they were copied below).
                return SavedXattrs::default();
            }
        };
        let (n, v) = (xp.name_length as usize, xp.value_length as usize);
        if n > 0 && !xp.name.is_null() {
            // SAFETY: the plugin hands over n bytes at name (and v at value, if not NULL).
            let name = unsafe { bytes_at(xp.name, n as i32) }.unwrap_or_default();
            let value = if v == 0 {
                if !xp.value.is_null() {
                    st.violation(format!(
                        "{shown}: getXattr returned a value pointer with value_length 0 \
                         (the core frees a value only when its length is not 0: leaked)"
                    ));
                }
                Vec::new()
            } else if xp.value.is_null() {
                st.violation(format!(
                    "{shown}: getXattr returned value NULL with value_length {v}"
                ));
                unserializable = true;
                Vec::new()
            } else {
                // SAFETY: as above.
                unsafe { bytes_at(xp.value, v as i32) }.unwrap_or_default()
            };
            // SAFETY: ownership passed to the core, which frees with free().
            unsafe {
                libc::free(xp.name.cast());
                if v > 0 {
                    libc::free(xp.value.cast());
                }
            }
            total += 12 + n + v;
            pairs.push(Xattr { name, value });
            if total >= MAX_XATTR_STREAM {
                st.trace(format!("getXattr x{calls} (limit reached)"));
                st.core_message(
                    msg::M_ERROR,
                    &format!(
                        "Xattr stream on file \"{shown}\" exceeds maximum size of \
                         {MAX_XATTR_STREAM} bytes"
                    ),
                );
                return SavedXattrs::default();
            }
        } else {
            if xp.name.is_null() && n > 0 {
                st.violation(format!(
                    "{shown}: getXattr returned name NULL with name_length {n}"
                ));
            }
            if !xp.name.is_null() {
                st.violation(format!(
                    "{shown}: getXattr returned a name with name_length 0 (skipped by the \
                     core and never freed)"
                ));
            }
            if !xp.value.is_null() {
                st.violation(format!(
                    "{shown}: getXattr returned a value without a name (never freed)"
                ));
            }
        }
        if !more {
            break;
        }
        if calls >= 1_000_000 {
            st.violation(format!(
                "{shown}: getXattr answered bRC_More {calls} times without filling the limit"
            ));
            return SavedXattrs::default();
        }
    }
    st.trace(format!("getXattr x{calls} = {} attributes", pairs.len()));
    if unserializable {
        st.core_message(
            msg::M_ERROR,
            &format!("Failed to Serialize extended attributes on file \"{shown}\""),
        );
        return SavedXattrs::default();
    }
    SavedXattrs {
        pairs,
        records: Vec::new(),
    }
}

/// `PluginParseXattrStreams`: one `setXattr` per attribute (name NUL-terminated in a fresh
/// buffer, value NULL when empty); the first non-OK answer stops the file's attributes.
fn set_xattrs(job: &mut HostJob<Bareos>, file: &SavedFile, ofname: &CStr) {
    if file.xattrs.is_empty() {
        return;
    }
    let Some(set) = job.f.setXattr else {
        return;
    };
    let (st, ctx) = (job.st, job.ctx);
    let mut calls = 0;
    for x in &file.xattrs {
        calls += 1;
        let mut name = x.name.clone();
        name.push(0);
        let mut value = x.value.clone();
        let mut xp = sys::xattr_pkt {
            pkt_size: size_of::<sys::xattr_pkt>() as i32,
            fname: ofname.as_ptr(),
            name_length: (name.len() - 1) as u32,
            name: name.as_mut_ptr().cast(),
            value_length: value.len() as u32,
            value: if value.is_empty() {
                std::ptr::null_mut()
            } else {
                value.as_mut_ptr().cast()
            },
            pkt_end: size_of::<sys::xattr_pkt>() as i32,
        };
        let r = job.call("setXattr", calls == 1, || {
            // SAFETY: optional entry point present; the packet and buffers outlive the call.
            unsafe { set(ctx, &mut xp) }
        });
        if r != rc::OK {
            st.core_message(
                msg::M_ERROR,
                &format!(
                    "(the core's last error text: setXattr returned {r} for \"{}\")",
                    ofname.to_string_lossy()
                ),
            );
            break;
        }
    }
    st.trace(format!("setXattr x{calls}"));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbering_matches_the_bindings() {
        assert_eq!(
            Bareos::event_number(Ev::JobStart),
            Some(sys::bEventJobStart)
        );
        assert_eq!(
            Bareos::event_number(Ev::BackupCommand),
            Some(sys::bEventBackupCommand)
        );
        assert_eq!(
            Bareos::event_number(Ev::CancelCommand),
            Some(sys::bEventCancelCommand)
        );
        assert_eq!(
            Bareos::event_number(Ev::RestoreObject),
            Some(sys::bEventRestoreObject)
        );
        assert_eq!(
            Bareos::event_number(Ev::EndFileSet),
            Some(sys::bEventEndFileSet)
        );
        assert_eq!(
            Bareos::event_number(Ev::PluginCommand),
            Some(sys::bEventPluginCommand)
        );
        assert_eq!(
            Bareos::event_number(Ev::NewPluginOptions),
            Some(sys::bEventNewPluginOptions)
        );
        assert_eq!(sys::bVarWorkingDir, 12);
        assert_eq!(sys::bVarCheckChanges, 20);
        assert_eq!(sys::bVarPluginPath, 22);
        assert_eq!(size_of::<sys::CoreFunctions>(), 176);
        assert_eq!(size_of::<sys::save_pkt>(), 240);
        assert_eq!(size_of::<sys::restore_pkt>(), 240);
        assert_eq!(size_of::<sys::io_pkt>(), 80);
    }
}
