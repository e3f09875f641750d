//! Flavour-neutral views of the packets the daemon passes: the save packet a backup entry is
//! written into, the restore packet of `createFile`/`setFileAttributes`, and IO requests.

use std::ffi::{c_char, CStr, CString};

use crate::host::RawHost;
use crate::plugin::{PluginError, PluginResult};
use crate::sys::{bacula, bareos};

/// What a backup entry is, in the daemon's terms.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FileKind {
    /// A regular file with data (`FT_REG`).
    Regular,
    /// Unchanged since the reference time (`FT_NOCHG`): attributes recorded, no data sent.
    Unchanged,
}

/// The attributes of one backup entry.
#[derive(Clone, Debug)]
pub struct FileAttributes {
    /// Full virtual path; must contain a `/` (the catalog splits at the last one).
    pub name: CString,
    pub kind: FileKind,
    pub size: i64,
    /// Seconds since the epoch; also used as ctime and atime (the daemon compares both).
    pub mtime: i64,
    /// Permission bits (the SDK adds `S_IFREG`).
    pub permissions: u32,
}

enum RawSave<'a> {
    Bareos(&'a mut bareos::save_pkt),
    Bacula(&'a mut bacula::save_pkt),
}

/// The packet of one `startBackupFile` call.
pub struct SavePacket<'a> {
    raw: RawSave<'a>,
    host: RawHost,
    /// Keeps the last name alive until the next `startBackupFile` (the daemon reads it after
    /// `endBackupFile` in an estimate).
    name_slot: &'a mut Option<CString>,
}

impl<'a> SavePacket<'a> {
    pub(crate) fn bareos(
        sp: &'a mut bareos::save_pkt,
        host: RawHost,
        name_slot: &'a mut Option<CString>,
    ) -> Self {
        SavePacket {
            raw: RawSave::Bareos(sp),
            host,
            name_slot,
        }
    }

    pub(crate) fn bacula(
        sp: &'a mut bacula::save_pkt,
        host: RawHost,
        name_slot: &'a mut Option<CString>,
    ) -> Self {
        SavePacket {
            raw: RawSave::Bacula(sp),
            host,
            name_slot,
        }
    }

    /// The plugin command of the FileSet line being processed.
    pub fn command(&self) -> Option<String> {
        let cmd = match &self.raw {
            RawSave::Bareos(sp) => sp.cmd as *const c_char,
            RawSave::Bacula(sp) => sp.cmd as *const c_char,
        };
        // SAFETY: the daemon sets cmd to a NUL-terminated string valid during the call.
        (!cmd.is_null()).then(|| {
            unsafe { CStr::from_ptr(cmd) }
                .to_string_lossy()
                .into_owned()
        })
    }

    /// Whether the daemon will ask for this entry's extended attributes
    /// ([`FdPlugin::backup_xattrs`](crate::FdPlugin::backup_xattrs)): Bareos only when the
    /// Include block's Options have `xattrsupport = yes` (the `FO_XATTR` bit the core copies
    /// into `sp->flags` before `startBackupFile`); Bacula 9.6 always (it asks for every plugin
    /// file whatever the options, and leaves `sp->flags` at 0).
    pub fn xattrs_requested(&self) -> Option<bool> {
        match &self.raw {
            RawSave::Bareos(sp) => {
                let bit = bareos::FO_XATTR as usize;
                Some(sp.flags[bit >> 3] as u8 & (1 << (bit & 7)) != 0)
            }
            RawSave::Bacula(_) => Some(true),
        }
    }

    /// Fills the packet with one entry.
    pub fn set_file(&mut self, file: FileAttributes) {
        let name = self.name_slot.insert(file.name);
        let mut st: libc::stat = unsafe_zeroed_stat();
        st.st_mode = libc::S_IFREG | (file.permissions & 0o7777);
        st.st_size = file.size;
        st.st_mtime = file.mtime;
        st.st_ctime = file.mtime;
        st.st_atime = file.mtime;
        st.st_nlink = 1;
        st.st_blksize = 4096;
        st.st_blocks = (file.size + 511) / 512;
        let ftype = match file.kind {
            FileKind::Regular => bareos::FT_REG,
            FileKind::Unchanged => bareos::FT_NOCHG,
        } as i32;
        match &mut self.raw {
            RawSave::Bareos(sp) => {
                sp.fname = name.as_ptr() as *mut c_char;
                sp.link = std::ptr::null_mut();
                sp.statp = st;
                sp.type_ = ftype as _;
                sp.no_read = false;
                // Only FO_SPARSE / FO_OFFSETS / FO_DELTA / FO_PORTABLE_DATA are read back:
                // our data is plain and in order.
                for bit in [bareos::FO_SPARSE, bareos::FO_OFFSETS, bareos::FO_DELTA] {
                    let bit = bit as usize;
                    sp.flags[bit >> 3] &= !(1 << (bit & 7)) as c_char;
                }
            }
            RawSave::Bacula(sp) => {
                sp.fname = name.as_ptr() as *mut c_char;
                sp.link = std::ptr::null_mut();
                sp.statp = st;
                sp.type_ = ftype as _;
                sp.no_read = false;
                sp.flags &= !(bacula::FO_SPARSE | bacula::FO_OFFSETS | bacula::FO_DELTA);
            }
        }
    }

    /// Marks the entry filled by `set_file` as unchanged (no data will be requested).
    pub fn mark_unchanged(&mut self) {
        match &mut self.raw {
            RawSave::Bareos(sp) => sp.type_ = bareos::FT_NOCHG as _,
            RawSave::Bacula(sp) => sp.type_ = bacula::FT_NOCHG as _,
        }
    }

    /// Asks the daemon whether the entry filled by `set_file` changed: against the accurate
    /// catalog in accurate jobs (and marks it seen), else against `reference_time`
    /// (mtime and ctime older → unchanged). `Ok(true)` = changed, back it up.
    pub fn check_changes(&mut self, reference_time: i64) -> PluginResult<bool> {
        let rc = match (&mut self.raw, self.host) {
            (RawSave::Bareos(sp), RawHost::Bareos { ctx, core }) => {
                sp.save_time = reference_time;
                let Some(f) = core.checkChanges else {
                    return Ok(true);
                };
                // SAFETY: sp is the daemon's packet for this call, filled by set_file.
                let rc = unsafe { f(ctx, &mut **sp) };
                if rc == bareos::bRC_Seen {
                    Ok(false)
                } else if rc == bareos::bRC_OK {
                    Ok(true)
                } else {
                    Err(rc)
                }
            }
            (RawSave::Bacula(sp), RawHost::Bacula { ctx, core }) => {
                // Bacula 9.6 has no save_time: it compares with the job's since time, which
                // is what reference_time is derived from.
                let _ = reference_time;
                let Some(f) = core.checkChanges else {
                    return Ok(true);
                };
                // SAFETY: as above.
                let rc = unsafe { f(ctx, &mut **sp) };
                if rc == bacula::bRC_Seen {
                    Ok(false)
                } else if rc == bacula::bRC_OK {
                    Ok(true)
                } else {
                    Err(rc)
                }
            }
            _ => unreachable!("packet and host are of the same flavour"),
        };
        rc.map_err(|code| {
            PluginError::fatal(format!("the daemon's checkChanges failed (code {code})"))
        })
    }
}

fn unsafe_zeroed_stat() -> libc::stat {
    // SAFETY: libc::stat is plain old data; all-zero is a valid value.
    unsafe { std::mem::zeroed() }
}

/// One `pluginIO` request.
pub enum IoRequest<'a> {
    /// Open for reading the entry just returned by `start_backup_file`.
    OpenRead {
        name: &'a CStr,
    },
    /// Open for writing the file `create_file` answered `Extract` for.
    OpenWrite {
        name: &'a CStr,
        flags: i32,
        mode: u32,
    },
    /// Fill the buffer; `Ok(0)` is end of file.
    Read(&'a mut [u8]),
    /// Write all of the buffer.
    Write(&'a [u8]),
    Close,
    Seek {
        offset: i64,
        whence: i32,
    },
}

/// A failed IO request: `errno` goes to the daemon, which writes its own message
/// ("Read error on file …"); `message` adds the plugin's explanation as a job message.
#[derive(Debug)]
pub struct IoFailure {
    pub errno: i32,
    pub message: Option<PluginError>,
}

impl IoFailure {
    pub fn new(errno: i32, message: PluginError) -> Self {
        IoFailure {
            errno,
            message: Some(message),
        }
    }
}

/// The restore packet of `createFile` / `setFileAttributes`, read-only.
pub struct RestoreFile<'a> {
    /// Output name: the recorded name with Where applied.
    pub output_name: &'a CStr,
    /// Where (`""` when it was `/`); `None` with RegexWhere.
    pub where_: Option<&'a CStr>,
    /// The recorded name without Where (Bareos ≥ 26 only).
    pub original_name: Option<&'a CStr>,
    /// Replace mode: `a` always, `w` if newer, `o` if older, `n` never.
    pub replace: u8,
    /// `FT_*` recorded at backup.
    pub file_type: i32,
    pub size: i64,
    pub mtime: i64,
    pub mode: u32,
}

/// # Safety
/// `p` is NULL or a NUL-terminated string valid for `'a`.
unsafe fn opt_cstr<'a>(p: *const c_char) -> Option<&'a CStr> {
    // SAFETY: per the function contract.
    (!p.is_null()).then(|| unsafe { CStr::from_ptr(p) })
}

impl<'a> RestoreFile<'a> {
    /// # Safety
    /// `rp` is the daemon's packet for the current call.
    pub(crate) unsafe fn from_bareos(rp: &'a bareos::restore_pkt) -> Option<Self> {
        // SAFETY: strings in the packet are valid during the call.
        let output_name = unsafe { opt_cstr(rp.ofname) }?;
        let original_name = if rp.pkt_size as usize
            >= std::mem::size_of::<bareos::restore_pkt_ext>()
        {
            // SAFETY: pkt_size says the daemon's packet is the extended (Bareos ≥ 26) layout.
            let ext =
                unsafe { &*(rp as *const bareos::restore_pkt as *const bareos::restore_pkt_ext) };
            unsafe { opt_cstr(ext.original_file_name) }
        } else {
            None
        };
        Some(RestoreFile {
            output_name,
            where_: unsafe { opt_cstr(rp.where_) },
            original_name,
            replace: rp.replace as u8,
            file_type: rp.type_,
            size: rp.statp.st_size,
            mtime: rp.statp.st_mtime,
            mode: rp.statp.st_mode,
        })
    }

    /// # Safety
    /// `rp` is the daemon's packet for the current call.
    pub(crate) unsafe fn from_bacula(rp: &'a bacula::restore_pkt) -> Option<Self> {
        // SAFETY: strings in the packet are valid during the call.
        let output_name = unsafe { opt_cstr(rp.ofname) }?;
        Some(RestoreFile {
            output_name,
            where_: unsafe { opt_cstr(rp.where_) },
            original_name: None,
            replace: rp.replace as u8,
            file_type: rp.type_,
            size: rp.statp.st_size,
            mtime: rp.statp.st_mtime,
            mode: rp.statp.st_mode,
        })
    }
}
