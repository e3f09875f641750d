//! The callbacks both ABIs share, written once: each shim module invokes
//! `plugin_callbacks!` with its context type and packet constructors, and provides
//! `host_of(ctx)` and `decode_event(type, value)` for its own numbering.

/// Defines `handle_plugin_event`, `start_backup_file`, `end_backup_file`,
/// `start_restore_file`, `end_restore_file`, `plugin_io`, `create_file`,
/// `set_file_attributes` and `check_file` for one flavour.
macro_rules! plugin_callbacks {
    ($ctx:ty, $save_packet:path, $restore_file:path) => {
        /// # Safety
        /// `value` is NULL or the daemon's `restore_object_pkt`.
        unsafe fn restore_object<'a>(value: *mut c_void) -> Option<RestoreObject<'a>> {
            if value.is_null() {
                return None;
            }
            // SAFETY: per the contract; the buffers are valid during the call.
            unsafe {
                let rop = &*(value as *const restore_object_pkt);
                let bytes = |p: *mut c_char, len: i32| -> &'a [u8] {
                    if p.is_null() || len <= 0 {
                        &[]
                    } else {
                        std::slice::from_raw_parts(p as *const u8, len as usize)
                    }
                };
                let name = if rop.object_name.is_null() {
                    &[][..]
                } else {
                    CStr::from_ptr(rop.object_name).to_bytes()
                };
                Some(RestoreObject {
                    name,
                    data: bytes(rop.object, rop.object_len),
                    plugin_command: text(rop.plugin_name as *mut c_void).unwrap_or(""),
                })
            }
        }

        unsafe extern "C" fn handle_plugin_event<P: FdPlugin>(
            ctx: *mut $ctx,
            event: *mut bEvent,
            value: *mut c_void,
        ) -> bRC {
            // SAFETY: the daemon's context and event for this call.
            let Some((host, private)) = (unsafe { host_of(ctx) }) else {
                return bRC_Error;
            };
            if event.is_null() {
                return bRC_Error;
            }
            // SAFETY: non-NULL event packet.
            let event_type = unsafe { (*event).eventType };
            if event_type == bEventCancelCommand {
                // Another daemon thread: only the cancel token is touched.
                // SAFETY: private is the live slot of this context.
                unsafe { JobSlot::<P>::cancel(private) };
                return bRC_OK;
            }
            // SAFETY: value matches event_type.
            let decoded = unsafe { decode_event(event_type, value) };
            // SAFETY: job thread, private from JobSlot::create.
            unsafe {
                dispatch::<P, bRC>(
                    private,
                    host,
                    "handlePluginEvent",
                    bRC_Error,
                    |plugin, h, _| match plugin.handle_event(h, decoded) {
                        Ok(()) => bRC_OK,
                        Err(e) => {
                            report(h, &e);
                            bRC_Error
                        }
                    },
                )
            }
        }

        unsafe extern "C" fn start_backup_file<P: FdPlugin>(
            ctx: *mut $ctx,
            sp: *mut save_pkt,
        ) -> bRC {
            // SAFETY: the daemon's context for this call.
            let Some((host, private)) = (unsafe { host_of(ctx) }) else {
                return bRC_Error;
            };
            if sp.is_null() {
                return bRC_Error;
            }
            // SAFETY: job thread; sp is the daemon's packet for this call.
            unsafe {
                dispatch::<P, bRC>(
                    private,
                    host,
                    "startBackupFile",
                    bRC_Error,
                    |plugin, h, file| {
                        file.xattrs = crate::xattr::Pending::NotAsked;
                        let mut packet = $save_packet(&mut *sp, host, &mut file.name);
                        match plugin.start_backup_file(h, &mut packet) {
                            Ok(NextFile::Entry) => bRC_OK,
                            Ok(NextFile::Stop) => bRC_Stop,
                            Err(e) => {
                                report(h, &e);
                                bRC_Error
                            }
                        }
                    },
                )
            }
        }

        unsafe extern "C" fn end_backup_file<P: FdPlugin>(ctx: *mut $ctx) -> bRC {
            // SAFETY: the daemon's context for this call.
            let Some((host, private)) = (unsafe { host_of(ctx) }) else {
                return bRC_Error;
            };
            // SAFETY: job thread.
            unsafe {
                dispatch::<P, bRC>(private, host, "endBackupFile", bRC_Error, |plugin, h, _| {
                    match plugin.end_backup_file(h) {
                        Ok(true) => bRC_More,
                        Ok(false) => bRC_OK,
                        Err(e) => {
                            report(h, &e);
                            bRC_Error
                        }
                    }
                })
            }
        }

        unsafe extern "C" fn start_restore_file<P: FdPlugin>(
            ctx: *mut $ctx,
            cmd: *const c_char,
        ) -> bRC {
            // SAFETY: the daemon's context for this call.
            let Some((host, private)) = (unsafe { host_of(ctx) }) else {
                return bRC_Error;
            };
            // SAFETY: cmd is NULL or a string valid during the call.
            let command = unsafe { text(cmd as *mut c_void) }.unwrap_or("");
            // SAFETY: job thread.
            unsafe {
                dispatch::<P, bRC>(
                    private,
                    host,
                    "startRestoreFile",
                    bRC_Error,
                    |plugin, h, _| match plugin.start_restore_file(h, command) {
                        Ok(()) => bRC_OK,
                        Err(e) => {
                            report(h, &e);
                            bRC_Error
                        }
                    },
                )
            }
        }

        unsafe extern "C" fn end_restore_file<P: FdPlugin>(ctx: *mut $ctx) -> bRC {
            // SAFETY: the daemon's context for this call.
            let Some((host, private)) = (unsafe { host_of(ctx) }) else {
                return bRC_Error;
            };
            // SAFETY: job thread.
            unsafe {
                dispatch::<P, bRC>(
                    private,
                    host,
                    "endRestoreFile",
                    bRC_Error,
                    |plugin, h, _| match plugin.end_restore_file(h) {
                        Ok(()) => bRC_OK,
                        Err(e) => {
                            report(h, &e);
                            bRC_Error
                        }
                    },
                )
            }
        }

        unsafe extern "C" fn plugin_io<P: FdPlugin>(ctx: *mut $ctx, io: *mut io_pkt) -> bRC {
            // SAFETY: the daemon's context for this call.
            let Some((host, private)) = (unsafe { host_of(ctx) }) else {
                return bRC_Error;
            };
            if io.is_null() {
                return bRC_Error;
            }
            // SAFETY: io is the daemon's packet; buf/count/fname are valid for the request.
            let io = unsafe { &mut *io };
            io.status = -1;
            io.io_errno = 0;
            let func = io.func as u32;
            // SAFETY: job thread.
            unsafe {
                dispatch::<P, bRC>(private, host, "pluginIO", bRC_Error, |plugin, h, _| {
                    let request = match func {
                        IO_OPEN => {
                            let name = if io.fname.is_null() {
                                c""
                            } else {
                                CStr::from_ptr(io.fname)
                            };
                            if io.flags & libc::O_ACCMODE == libc::O_RDONLY {
                                IoRequest::OpenRead { name }
                            } else {
                                IoRequest::OpenWrite {
                                    name,
                                    flags: io.flags,
                                    mode: io.mode,
                                }
                            }
                        }
                        IO_READ => {
                            if io.buf.is_null() || io.count < 0 {
                                return bRC_Error;
                            }
                            IoRequest::Read(std::slice::from_raw_parts_mut(
                                io.buf as *mut u8,
                                io.count as usize,
                            ))
                        }
                        IO_WRITE => {
                            if io.buf.is_null() || io.count < 0 {
                                return bRC_Error;
                            }
                            IoRequest::Write(std::slice::from_raw_parts(
                                io.buf as *const u8,
                                io.count as usize,
                            ))
                        }
                        IO_CLOSE => IoRequest::Close,
                        IO_SEEK => IoRequest::Seek {
                            offset: io.offset,
                            whence: io.whence,
                        },
                        _ => return bRC_Error,
                    };
                    match plugin.io(h, request) {
                        Ok(n) => {
                            if func == IO_SEEK {
                                io.offset = n;
                                io.status = 0;
                            } else {
                                // OPEN/CLOSE: 0 (plugin does the IO); READ/WRITE: byte count.
                                io.status = n as i32;
                            }
                            bRC_OK
                        }
                        Err(failure) => {
                            if let Some(e) = &failure.message {
                                report(h, e);
                            }
                            io.status = -1;
                            io.io_errno = failure.errno;
                            bRC_Error
                        }
                    }
                })
            }
        }

        unsafe extern "C" fn create_file<P: FdPlugin>(ctx: *mut $ctx, rp: *mut restore_pkt) -> bRC {
            // SAFETY: the daemon's context for this call.
            let Some((host, private)) = (unsafe { host_of(ctx) }) else {
                return bRC_Error;
            };
            if rp.is_null() {
                return bRC_Error;
            }
            // SAFETY: job thread; rp is the daemon's packet.
            unsafe {
                dispatch::<P, bRC>(
                    private,
                    host,
                    "createFile",
                    bRC_Error,
                    |plugin, h, state| {
                        let rp = &mut *rp;
                        let Some(file) = $restore_file(rp) else {
                            rp.create_status = CF_ERROR as _;
                            return bRC_Error;
                        };
                        state.restoring = Some(file.output_name.to_owned());
                        let status = plugin.create_file(h, &file);
                        rp.create_status = match status {
                            Ok(CreateStatus::Extract) => CF_EXTRACT,
                            Ok(CreateStatus::Created) => CF_CREATED,
                            Ok(CreateStatus::Skip) => CF_SKIP,
                            Ok(CreateStatus::Error) => CF_ERROR,
                            Err(ref e) => {
                                report(h, e);
                                CF_ERROR
                            }
                        } as _;
                        if status.is_ok() {
                            bRC_OK
                        } else {
                            bRC_Error
                        }
                    },
                )
            }
        }

        unsafe extern "C" fn set_file_attributes<P: FdPlugin>(
            ctx: *mut $ctx,
            rp: *mut restore_pkt,
        ) -> bRC {
            // SAFETY: the daemon's context for this call.
            let Some((host, private)) = (unsafe { host_of(ctx) }) else {
                return bRC_Error;
            };
            if rp.is_null() {
                return bRC_Error;
            }
            // SAFETY: job thread; rp is the daemon's packet.
            unsafe {
                dispatch::<P, bRC>(
                    private,
                    host,
                    "setFileAttributes",
                    bRC_Error,
                    |plugin, h, _| {
                        let Some(file) = $restore_file(&*rp) else {
                            return bRC_Error;
                        };
                        match plugin.set_file_attributes(h, &file) {
                            Ok(()) => bRC_OK,
                            Err(e) => {
                                report(h, &e);
                                bRC_Error
                            }
                        }
                    },
                )
            }
        }

        unsafe extern "C" fn check_file<P: FdPlugin>(ctx: *mut $ctx, fname: *mut c_char) -> bRC {
            // SAFETY: the daemon's context for this call.
            let Some((host, private)) = (unsafe { host_of(ctx) }) else {
                return bRC_OK;
            };
            if fname.is_null() {
                return bRC_OK;
            }
            // SAFETY: job thread; fname is a NUL-terminated name valid during the call.
            unsafe {
                let name = CStr::from_ptr(fname).to_bytes();
                dispatch::<P, bRC>(private, host, "checkFile", bRC_OK, |plugin, h, _| {
                    if plugin.check_file(h, name) {
                        bRC_Seen
                    } else {
                        bRC_OK
                    }
                })
            }
        }
    };
}

pub(crate) use plugin_callbacks;

use std::ffi::{c_char, c_void, CStr};

use crate::host::{Flavour, Host};
use crate::job::{report, FileState};
use crate::plugin::{FdPlugin, MessageLevel};
use crate::xattr::{refuse, Xattr};

/// Asks the plugin once for the current entry's attributes and keeps only what the daemon of
/// `flavour` can store: a plugin error is sent as a job message, a set the daemon would refuse
/// is dropped with an `M_ERROR` naming the file (`daemon_name`: the name the daemon passed, if
/// any). Either way the entry is then saved without attributes.
pub(crate) fn collect_xattrs<P: FdPlugin>(
    plugin: &mut P,
    h: &Host<'_>,
    flavour: Flavour,
    file: &FileState,
    daemon_name: Option<&CStr>,
) -> Vec<Xattr> {
    match plugin.backup_xattrs(h) {
        Ok(list) => match refuse(flavour, &list) {
            None => list,
            Some(why) => {
                h.job_message(
                    MessageLevel::Error,
                    &format!(
                        "s3-fd: extended attributes of \"{}\" not saved: {why}",
                        file.shown(daemon_name)
                    ),
                );
                Vec::new()
            }
        },
        Err(e) => {
            report(h, &e);
            Vec::new()
        }
    }
}

/// Hands one restored attribute to the plugin; an error becomes a job message.
pub(crate) fn restore_one_xattr<P: FdPlugin>(plugin: &mut P, h: &Host<'_>, xattr: &Xattr) {
    if let Err(e) = plugin.restore_xattr(h, xattr) {
        report(h, &e);
    }
}

/// # Safety
/// `p` is NULL or a NUL-terminated string valid during the call.
pub(crate) unsafe fn text<'a>(p: *mut c_void) -> Option<&'a str> {
    // SAFETY: per the contract.
    (!p.is_null()).then(|| unsafe { CStr::from_ptr(p as *const c_char) }.to_str().ok())?
}
