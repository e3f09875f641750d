//! The Bareos shim (plugin interface 10, Bareos 23–25): the exported-function bodies, the
//! static tables, and the translation of Bareos packets and event numbers.

use std::ffi::{c_char, c_void, CStr};
use std::ptr::null_mut;
use std::sync::atomic::{AtomicPtr, Ordering};

use crate::boundary;
use crate::host::Flavour;
use crate::host::RawHost;
use crate::job::{dispatch, report, JobSlot};
use crate::logger;
use crate::packets::{IoRequest, RestoreFile, SavePacket};
use crate::plugin::{CreateStatus, Event, FdPlugin, NextFile, RestoreObject};
use crate::shim::{collect_xattrs, restore_one_xattr, text};
use crate::sys::bareos::*;
use crate::xattr::{Pending, Xattr};

/// Interface version of bareos-fd 21 … 25 (and master).
pub const INTERFACE_VERSION: u32 = 10;
const MAGIC: &CStr = c"*FDPluginData*";
const LICENSE: &CStr = c"AGPLv3";

static CORE: AtomicPtr<CoreFunctions> = AtomicPtr::new(null_mut());
static INFO: AtomicPtr<PluginInformation> = AtomicPtr::new(null_mut());
static FUNCS: AtomicPtr<PluginFunctions> = AtomicPtr::new(null_mut());

/// Events the plugin needs (all ≤ 31: the daemon's mask has 32 bits).
const EVENTS: [u32; 15] = [
    bEventJobStart,
    bEventJobEnd,
    bEventStartBackupJob,
    bEventEndBackupJob,
    bEventStartRestoreJob,
    bEventEndRestoreJob,
    bEventBackupCommand,
    bEventRestoreCommand,
    bEventEstimateCommand,
    bEventLevel,
    bEventSince,
    bEventCancelCommand,
    bEventPluginCommand,
    bEventNewPluginOptions,
    bEventEndFileSet,
];

fn leak<T>(value: T) -> *mut T {
    Box::into_raw(Box::new(value))
}

fn tables<P: FdPlugin>() -> (*mut PluginInformation, *mut PluginFunctions) {
    let mut info = INFO.load(Ordering::Acquire);
    if info.is_null() {
        let i = &P::INFO;
        info = leak(PluginInformation {
            size: std::mem::size_of::<PluginInformation>() as _,
            version: INTERFACE_VERSION as _,
            plugin_magic: MAGIC.as_ptr(),
            plugin_license: LICENSE.as_ptr(),
            plugin_author: i.author.as_ptr(),
            plugin_date: i.date.as_ptr(),
            plugin_version: i.version.as_ptr(),
            plugin_description: i.description.as_ptr(),
            plugin_usage: i.usage.as_ptr(),
        });
        INFO.store(info, Ordering::Release);
    }
    let mut funcs = FUNCS.load(Ordering::Acquire);
    if funcs.is_null() {
        funcs = leak(PluginFunctions {
            size: std::mem::size_of::<PluginFunctions>() as _,
            version: INTERFACE_VERSION as _,
            newPlugin: Some(new_plugin::<P>),
            freePlugin: Some(free_plugin::<P>),
            getPluginValue: Some(plugin_value),
            setPluginValue: Some(plugin_value),
            handlePluginEvent: Some(handle_plugin_event::<P>),
            startBackupFile: Some(start_backup_file::<P>),
            endBackupFile: Some(end_backup_file::<P>),
            startRestoreFile: Some(start_restore_file::<P>),
            endRestoreFile: Some(end_restore_file::<P>),
            pluginIO: Some(plugin_io::<P>),
            createFile: Some(create_file::<P>),
            setFileAttributes: Some(set_file_attributes::<P>),
            checkFile: Some(check_file::<P>),
            // No ACLs: nothing requires them (a NULL getAcl is skipped; a NULL setAcl only
            // matters for a plugin-ACL stream, which this SDK never writes).
            getAcl: None,
            setAcl: None,
            getXattr: Some(get_xattr::<P>),
            setXattr: Some(set_xattr::<P>),
        });
        FUNCS.store(funcs, Ordering::Release);
    }
    (info, funcs)
}

/// Body of the exported `loadPlugin`.
///
/// Fills both out pointers whenever they are non-NULL (bpluginfo reads them), accepts the
/// daemon's tables only as interface 10 with a core table of at least 176 bytes, and calls no
/// core function. bpluginfo's version-1 call gets the tables and `bRC_OK`; any other table is
/// refused.
///
/// # Safety
/// Pointers are NULL or valid as the daemon passes them.
pub unsafe fn load_plugin<P: FdPlugin>(
    core_info: *mut PluginApiDefinition,
    core_funcs: *mut CoreFunctions,
    plugin_info: *mut *mut PluginInformation,
    plugin_funcs: *mut *mut PluginFunctions,
) -> bRC {
    boundary::install_panic_hook();
    boundary::call("loadPlugin", None, bRC_Error, || {
        if plugin_info.is_null() || plugin_funcs.is_null() {
            return bRC_Error;
        }
        let (info, funcs) = tables::<P>();
        // SAFETY: checked non-NULL above; the daemon gives us room for one pointer each.
        unsafe {
            *plugin_info = info;
            *plugin_funcs = funcs;
        }
        if core_info.is_null() || core_funcs.is_null() {
            return bRC_Error;
        }
        // SAFETY: non-NULL and, per the ABI, at least {size, version} long.
        let (api, core) = unsafe { (&*core_info, &*core_funcs) };
        if api.version == 1 {
            // bpluginfo: it only prints our tables; its core table is not the daemon's.
            return bRC_OK;
        }
        if api.version != INTERFACE_VERSION
            || core.version != INTERFACE_VERSION
            || (core.size as usize) < std::mem::size_of::<CoreFunctions>()
        {
            return bRC_Error;
        }
        CORE.store(core_funcs, Ordering::Release);
        logger::init();
        bRC_OK
    })
}

/// Body of the exported `unloadPlugin`.
pub fn unload_plugin() -> bRC {
    CORE.store(null_mut(), Ordering::Release);
    bRC_OK
}

/// The job context as a host handle, if the daemon's table was accepted.
///
/// # Safety
/// `ctx` is the daemon's context pointer for the current call.
unsafe fn host_of(ctx: *mut PluginContext) -> Option<(RawHost, *mut c_void)> {
    let core = CORE.load(Ordering::Acquire);
    if ctx.is_null() || core.is_null() {
        return None;
    }
    // SAFETY: the core table is static in the daemon; ctx is valid during the call.
    let (core, private) = unsafe { (&*core, (*ctx).plugin_private_context) };
    Some((RawHost::Bareos { ctx, core }, private))
}

unsafe extern "C" fn new_plugin<P: FdPlugin>(ctx: *mut PluginContext) -> bRC {
    // SAFETY: the daemon's context for this call.
    let Some((host, _)) = (unsafe { host_of(ctx) }) else {
        return bRC_Error;
    };
    let RawHost::Bareos { core, .. } = host else {
        unreachable!()
    };
    let registered = boundary::call("newPlugin", Some(host), bRC_Error, || {
        let Some(register) = core.registerBareosEvents else {
            return bRC_Error;
        };
        let e = EVENTS;
        // SAFETY: count first, then that many event numbers, as the daemon reads them.
        unsafe {
            register(
                ctx,
                e.len() as _,
                e[0],
                e[1],
                e[2],
                e[3],
                e[4],
                e[5],
                e[6],
                e[7],
                e[8],
                e[9],
                e[10],
                e[11],
                e[12],
                e[13],
                e[14],
            )
        }
    });
    let slot = JobSlot::<P>::create(host);
    // SAFETY: ctx is valid; the private pointer is ours.
    unsafe { (*ctx).plugin_private_context = slot };
    if registered == bRC_OK {
        bRC_OK
    } else {
        bRC_Error
    }
}

unsafe extern "C" fn free_plugin<P: FdPlugin>(ctx: *mut PluginContext) -> bRC {
    // SAFETY: the daemon's context for this call.
    let Some((host, private)) = (unsafe { host_of(ctx) }) else {
        return bRC_Error;
    };
    // SAFETY: private came from JobSlot::create; the daemon never uses it after freePlugin.
    unsafe {
        (*ctx).plugin_private_context = null_mut();
        JobSlot::<P>::destroy(private, host);
    }
    bRC_OK
}

unsafe extern "C" fn plugin_value(
    _ctx: *mut PluginContext,
    _var: pVariable,
    _value: *mut c_void,
) -> bRC {
    bRC_OK
}

/// Translates Bareos event numbers (docs/abi.md §3.11).
///
/// # Safety
/// `value` is what the daemon passes with `event_type`.
#[allow(non_upper_case_globals)]
unsafe fn decode_event<'a>(event_type: u32, value: *mut c_void) -> Event<'a> {
    // SAFETY (all arms): string events pass a NUL-terminated string; Level and Since pass the
    // value itself in the pointer; RestoreObject passes a packet or NULL.
    unsafe {
        match event_type {
            bEventJobStart => Event::JobStart(text(value).unwrap_or("")),
            bEventJobEnd => Event::JobEnd,
            bEventStartBackupJob => Event::StartBackupJob,
            bEventEndBackupJob => Event::EndBackupJob,
            bEventStartRestoreJob => Event::StartRestoreJob,
            bEventEndRestoreJob => Event::EndRestoreJob,
            bEventStartVerifyJob => Event::StartVerifyJob,
            bEventEndVerifyJob => Event::EndVerifyJob,
            bEventBackupCommand => Event::BackupCommand(text(value).unwrap_or("")),
            bEventRestoreCommand => Event::RestoreCommand(text(value).unwrap_or("")),
            bEventEstimateCommand => Event::EstimateCommand(text(value).unwrap_or("")),
            bEventLevel => Event::Level(value as usize as u8),
            bEventSince => Event::Since(value as isize as i64),
            bEventPluginCommand => Event::PluginCommand(text(value).unwrap_or("")),
            bEventEndFileSet => Event::EndFileSet,
            bEventNewPluginOptions => Event::NewPluginOptions(text(value).unwrap_or("")),
            bEventRestoreObject => Event::RestoreObject(restore_object(value)),
            other => Event::Other(other),
        }
    }
}

crate::shim::plugin_callbacks!(PluginContext, SavePacket::bareos, RestoreFile::from_bareos);

/// `getXattr`: one attribute per call, `bRC_More` while more follow; the last one (or an
/// empty packet when there are none) goes with `bRC_OK` (see [`crate::xattr`]). The plugin is
/// asked on the first call after the entry's IO close.
///
/// # Safety
/// The daemon's context and packet for this call.
unsafe extern "C" fn get_xattr<P: FdPlugin>(ctx: *mut PluginContext, xp: *mut xattr_pkt) -> bRC {
    // SAFETY: the daemon's context for this call.
    let Some((host, private)) = (unsafe { host_of(ctx) }) else {
        return bRC_Error;
    };
    if xp.is_null() {
        return bRC_Error;
    }
    // SAFETY: job thread; xp is the daemon's packet for this call.
    unsafe {
        dispatch::<P, bRC>(private, host, "getXattr", bRC_Error, |plugin, h, file| {
            let xp = &mut *xp;
            xp.name = null_mut();
            xp.name_length = 0;
            xp.value = null_mut();
            xp.value_length = 0;
            if matches!(file.xattrs, Pending::NotAsked) {
                let daemon_name = (!xp.fname.is_null()).then(|| CStr::from_ptr(xp.fname));
                let list = collect_xattrs(plugin, h, Flavour::Bareos, file, daemon_name);
                file.xattrs = Pending::Queue(list.into());
            }
            let Pending::Queue(queue) = &mut file.xattrs else {
                return bRC_OK;
            };
            let Some(x) = queue.pop_front() else {
                file.xattrs = Pending::Done;
                return bRC_OK;
            };
            let more = !queue.is_empty();
            if !more {
                file.xattrs = Pending::Done;
            }
            // The core frees both with free(): they must come from malloc. An empty value is
            // NULL (the core frees a value only when its length is not 0).
            let Some(name) = malloc_copy(&x.name) else {
                return bRC_Error;
            };
            let value = if x.value.is_empty() {
                null_mut()
            } else {
                match malloc_copy(&x.value) {
                    Some(v) => v,
                    None => {
                        libc::free(name.cast());
                        return bRC_Error;
                    }
                }
            };
            xp.name = name;
            xp.name_length = x.name.len() as u32;
            xp.value = value;
            xp.value_length = x.value.len() as u32;
            if more {
                bRC_More
            } else {
                bRC_OK
            }
        })
    }
}

/// A `malloc`ed copy of `bytes` (not empty), or None if out of memory.
fn malloc_copy(bytes: &[u8]) -> Option<*mut c_char> {
    // SAFETY: plain allocation; on success it has room for bytes.len() bytes.
    let p = unsafe { libc::malloc(bytes.len()) }.cast::<u8>();
    if p.is_null() {
        return None;
    }
    // SAFETY: p is a fresh allocation of bytes.len() bytes.
    unsafe { std::ptr::copy_nonoverlapping(bytes.as_ptr(), p, bytes.len()) };
    Some(p.cast())
}

/// `setXattr`: one recorded attribute of the file being restored (after its IO close).
///
/// # Safety
/// The daemon's context and packet for this call.
unsafe extern "C" fn set_xattr<P: FdPlugin>(ctx: *mut PluginContext, xp: *mut xattr_pkt) -> bRC {
    // SAFETY: the daemon's context for this call.
    let Some((host, private)) = (unsafe { host_of(ctx) }) else {
        return bRC_Error;
    };
    if xp.is_null() {
        return bRC_Error;
    }
    // SAFETY: job thread; xp and its buffers are the daemon's for this call.
    unsafe {
        dispatch::<P, bRC>(private, host, "setXattr", bRC_Error, |plugin, h, _| {
            let xp = &*xp;
            let bytes = |p: *mut c_char, len: u32| -> Option<Vec<u8>> {
                match (p.is_null(), len) {
                    (_, 0) => Some(Vec::new()),
                    (true, _) => None,
                    (false, n) => {
                        Some(std::slice::from_raw_parts(p as *const u8, n as usize).to_vec())
                    }
                }
            };
            let (Some(name), Some(value)) = (
                bytes(xp.name, xp.name_length),
                bytes(xp.value, xp.value_length),
            ) else {
                return bRC_Error;
            };
            restore_one_xattr(plugin, h, &Xattr { name, value });
            bRC_OK
        })
    }
}

/// Whether the daemon's core table was accepted (for tests and diagnostics).
pub fn host_accepted() -> bool {
    !CORE.load(Ordering::Acquire).is_null()
}
