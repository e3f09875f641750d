//! The Bacula 9.6 shim (plugin interface 14): the exported-function bodies, the static
//! tables, and the translation of Bacula packets and event numbers.
//!
//! Differences from Bareos that matter here (docs/abi.md §11): every event reaches every plugin
//! (the registration list is ignored), the context's private pointer is `pContext`, the info
//! table has no usage string, the function table ends with `handleXACLdata` (extended
//! attributes, see [`crate::xattr`]) and `checkStream` (left NULL so the daemon skips it), and
//! there are no plugin options.

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
use crate::sys::bacula::*;
use crate::xattr::{decode_record, encode_record, Pending};

/// Interface version of Bacula 9.6's bacula-fd.
pub const INTERFACE_VERSION: u32 = 14;
const CORE_TABLE_SIZE: u32 = 144;
const MAGIC: &CStr = c"*FDPluginData*";
const LICENSE: &CStr = c"AGPLv3";

static CORE: AtomicPtr<bFuncs> = AtomicPtr::new(null_mut());
static INFO: AtomicPtr<pInfo> = AtomicPtr::new(null_mut());
static FUNCS: AtomicPtr<pFuncs> = AtomicPtr::new(null_mut());

fn leak<T>(value: T) -> *mut T {
    Box::into_raw(Box::new(value))
}

fn tables<P: FdPlugin>() -> (*mut pInfo, *mut pFuncs) {
    let mut info = INFO.load(Ordering::Acquire);
    if info.is_null() {
        let i = &P::INFO;
        info = leak(pInfo {
            size: std::mem::size_of::<pInfo>() as _,
            version: INTERFACE_VERSION as _,
            plugin_magic: MAGIC.as_ptr(),
            plugin_license: LICENSE.as_ptr(),
            plugin_author: i.author.as_ptr(),
            plugin_date: i.date.as_ptr(),
            plugin_version: i.version.as_ptr(),
            plugin_description: i.description.as_ptr(),
        });
        INFO.store(info, Ordering::Release);
    }
    let mut funcs = FUNCS.load(Ordering::Acquire);
    if funcs.is_null() {
        funcs = leak(pFuncs {
            size: std::mem::size_of::<pFuncs>() as _,
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
            handleXACLdata: Some(handle_xacl_data::<P>),
            checkStream: None,
        });
        FUNCS.store(funcs, Ordering::Release);
    }
    (info, funcs)
}

/// Body of the exported `loadPlugin`: accepts exactly interface 14 with the 144-byte core
/// table of Bacula 9.6 (anything else, e.g. a Bareos daemon, is refused), calls no core
/// function.
///
/// # Safety
/// Pointers are NULL or valid as the daemon passes them.
pub unsafe fn load_plugin<P: FdPlugin>(
    core_info: *mut bInfo,
    core_funcs: *mut bFuncs,
    plugin_info: *mut *mut pInfo,
    plugin_funcs: *mut *mut pFuncs,
) -> bRC {
    boundary::install_panic_hook();
    boundary::call("loadPlugin", None, bRC_Error, || {
        if plugin_info.is_null() || plugin_funcs.is_null() {
            return bRC_Error;
        }
        let (info, funcs) = tables::<P>();
        // SAFETY: checked non-NULL above.
        unsafe {
            *plugin_info = info;
            *plugin_funcs = funcs;
        }
        if core_info.is_null() || core_funcs.is_null() {
            return bRC_Error;
        }
        // SAFETY: non-NULL and at least {size, version} long.
        let (api, core) = unsafe { (&*core_info, &*core_funcs) };
        if api.version != INTERFACE_VERSION
            || core.version != INTERFACE_VERSION
            || core.size != CORE_TABLE_SIZE
        {
            return bRC_Error;
        }
        CORE.store(core_funcs, Ordering::Release);
        logger::init();
        bRC_OK
    })
}

/// Body of the exported `unloadPlugin` (also called after a refused load).
pub fn unload_plugin() -> bRC {
    CORE.store(null_mut(), Ordering::Release);
    bRC_OK
}

/// # Safety
/// `ctx` is the daemon's context pointer for the current call.
unsafe fn host_of(ctx: *mut bpContext) -> Option<(RawHost, *mut c_void)> {
    let core = CORE.load(Ordering::Acquire);
    if ctx.is_null() || core.is_null() {
        return None;
    }
    // SAFETY: the core table is static in the daemon; ctx is valid during the call.
    let (core, private) = unsafe { (&*core, (*ctx).pContext) };
    Some((RawHost::Bacula { ctx, core }, private))
}

unsafe extern "C" fn new_plugin<P: FdPlugin>(ctx: *mut bpContext) -> bRC {
    // SAFETY: the daemon's context for this call.
    let Some((host, _)) = (unsafe { host_of(ctx) }) else {
        return bRC_Error;
    };
    // Bacula delivers every event anyway and only logs the registration; nothing to register.
    let slot = JobSlot::<P>::create(host);
    // SAFETY: ctx is valid; the private pointer is ours.
    unsafe { (*ctx).pContext = slot };
    bRC_OK
}

unsafe extern "C" fn free_plugin<P: FdPlugin>(ctx: *mut bpContext) -> bRC {
    // SAFETY: the daemon's context for this call.
    let Some((host, private)) = (unsafe { host_of(ctx) }) else {
        return bRC_Error;
    };
    // SAFETY: private came from JobSlot::create; never used after freePlugin.
    unsafe {
        (*ctx).pContext = null_mut();
        JobSlot::<P>::destroy(private, host);
    }
    bRC_OK
}

unsafe extern "C" fn plugin_value(
    _ctx: *mut bpContext,
    _var: pVariable,
    _value: *mut c_void,
) -> bRC {
    bRC_OK
}

/// Translates Bacula 9.6 event numbers (docs/abi.md §4.10).
///
/// # Safety
/// `value` is what the daemon passes with `event_type`.
#[allow(non_upper_case_globals)]
unsafe fn decode_event<'a>(event_type: u32, value: *mut c_void) -> Event<'a> {
    // SAFETY (all arms): as for Bareos; the numbers differ, the value conventions do not.
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
            bEventRestoreObject => Event::RestoreObject(restore_object(value)),
            other => Event::Other(other),
        }
    }
}

crate::shim::plugin_callbacks!(bpContext, SavePacket::bacula, RestoreFile::from_bacula);

/// `handleXACLdata`: no ACLs (`BACL_BACKUP` answers count 0, `BACL_RESTORE` is ignored);
/// `BXATTR_BACKUP` answers one record with all attributes of the entry, then count 0 (the
/// daemon calls again while count > 0); `BXATTR_RESTORE` parses one record and hands each
/// attribute to the plugin (see [`crate::xattr`]).
///
/// # Safety
/// The daemon's context and packet for this call.
unsafe extern "C" fn handle_xacl_data<P: FdPlugin>(
    ctx: *mut bpContext,
    xacl: *mut xacl_pkt,
) -> bRC {
    // SAFETY: the daemon's context for this call.
    let Some((host, private)) = (unsafe { host_of(ctx) }) else {
        return bRC_Error;
    };
    if xacl.is_null() {
        return bRC_Error;
    }
    // SAFETY: xacl is the daemon's packet for this call.
    let xacl = unsafe { &mut *xacl };
    let func = xacl.func as u32;
    if func == BACL_BACKUP {
        xacl.count = 0;
        xacl.content = null_mut();
        return bRC_OK;
    }
    if func == BACL_RESTORE {
        return bRC_OK;
    }
    if func != BXATTR_BACKUP && func != BXATTR_RESTORE {
        return bRC_Error;
    }
    // SAFETY: job thread; content/count describe the daemon's buffer on restore.
    unsafe {
        dispatch::<P, bRC>(
            private,
            host,
            "handleXACLdata",
            bRC_Error,
            |plugin, h, file| {
                if func == BXATTR_BACKUP {
                    xacl.count = 0;
                    xacl.content = null_mut();
                    if !matches!(file.xattrs, Pending::NotAsked) {
                        // The second call of the daemon's loop: all was handed over.
                        file.xattrs = Pending::Done;
                        return bRC_OK;
                    }
                    let list = collect_xattrs(plugin, h, Flavour::Bacula, file, None);
                    if list.is_empty() {
                        file.xattrs = Pending::Done;
                        return bRC_OK;
                    }
                    file.xattrs = Pending::Record(encode_record(&list));
                    let Pending::Record(record) = &mut file.xattrs else {
                        unreachable!()
                    };
                    xacl.content = record.as_mut_ptr().cast();
                    xacl.count = record.len() as i32;
                    return bRC_OK;
                }
                let shown = || {
                    file.restoring
                        .as_deref()
                        .map(|n| n.to_string_lossy().into_owned())
                        .unwrap_or_else(|| "?".into())
                };
                let record = match (xacl.content.is_null(), xacl.count) {
                    // The daemon never passes an empty record (it skips the call).
                    (_, n) if n <= 0 => return bRC_OK,
                    (true, _) => {
                        h.job_message(
                            crate::MessageLevel::Error,
                            &format!(
                                "s3-fd: extended attributes of \"{}\" not restored: the daemon \
                             passed no data with a length of {}",
                                shown(),
                                xacl.count
                            ),
                        );
                        return bRC_OK;
                    }
                    (false, n) => std::slice::from_raw_parts(xacl.content as *const u8, n as usize),
                };
                match decode_record(record) {
                    Ok(list) => {
                        for x in &list {
                            restore_one_xattr(plugin, h, x);
                        }
                    }
                    Err(why) => h.job_message(
                        crate::MessageLevel::Error,
                        &format!(
                            "s3-fd: extended attributes of \"{}\" not restored: {why}",
                            shown()
                        ),
                    ),
                }
                bRC_OK
            },
        )
    }
}

/// Whether the daemon's core table was accepted (for tests and diagnostics).
pub fn host_accepted() -> bool {
    !CORE.load(Ordering::Acquire).is_null()
}
