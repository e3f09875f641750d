//! The job sequences of the emulated daemon, written once against [`PluginJob`], which the host
//! (`host::HostJob`, over each ABI's `Abi`) implements with the ABI's packets and numbering:
//!
//! * `steps`: the pieces every job shares (event delivery, command routing, job start and end,
//!   the final status);
//! * `backup`: Full / Incremental / Differential backups, accurate mode, cancel;
//! * `estimate`: the estimate command (listing only, no data);
//! * `restore`: restore jobs.
//!
//! References: docs/abi.md, the Bareos and Bacula call orders, command routing, `pluginIO` and
//! restore.

mod backup;
mod estimate;
mod restore;
mod steps;

use std::ffi::{c_void, CStr, CString};

use super::job::JobState;
use super::{RestoreObjectRecord, SavedFile, StatRecord};

pub use backup::{backup, backup_plugin};
pub use estimate::estimate;
pub use restore::{restore, restore_plugin};
#[cfg(test)]
pub(crate) use {backup::backup_with, estimate::estimate_with, restore::restore_with};

/// The events the sequences use; each flavour maps them to its own numbers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Ev {
    JobStart,
    JobEnd,
    StartBackupJob,
    EndBackupJob,
    StartRestoreJob,
    EndRestoreJob,
    BackupCommand,
    RestoreCommand,
    EstimateCommand,
    Level,
    Since,
    CancelCommand,
    RestoreObject,
    EndFileSet,
    PluginCommand,
    NewPluginOptions,
}

impl Ev {
    /// Events the dispatcher delivers even to a cancelled job (`call_if_canceled`).
    fn call_if_canceled(self) -> bool {
        matches!(self, Ev::EndBackupJob | Ev::EndRestoreJob)
    }
}

/// A save packet after `startBackupFile`, decoded.
#[derive(Clone, Debug, Default)]
pub(crate) struct SaveView {
    pub fname: Option<Vec<u8>>,
    pub link: Option<Vec<u8>>,
    pub ftype: i32,
    pub stat: StatRecord,
    pub no_read: bool,
    pub sparse: bool,
    pub offsets: bool,
    pub object_name: Option<Vec<u8>>,
    pub object: Option<Vec<u8>>,
    pub index: i32,
    pub pkt_size: i32,
    pub pkt_end: i32,
    pub expected_size: i32,
}

/// One `pluginIO` call: inputs preset by the driver, outputs copied back by the host.
#[derive(Clone, Debug)]
pub(crate) struct IoReq {
    pub func: i32,
    pub count: i32,
    pub flags: i32,
    pub mode: u32,
    pub buf: *mut u8,
    pub fname: *const std::ffi::c_char,
    pub status: i32,
    pub io_errno: i32,
    pub offset: i64,
    pub filedes: i32,
}

pub(crate) const IO_OPEN: i32 = 1;
pub(crate) const IO_READ: i32 = 2;
pub(crate) const IO_WRITE: i32 = 3;
pub(crate) const IO_CLOSE: i32 = 4;

impl IoReq {
    fn new(func: i32) -> Self {
        IoReq {
            func,
            count: 0,
            flags: 0,
            mode: 0,
            buf: std::ptr::null_mut(),
            fname: std::ptr::null(),
            status: 0,
            io_errno: 0,
            offset: 0,
            filedes: 0,
        }
    }

    pub(crate) fn label(&self) -> &'static str {
        match self.func {
            IO_OPEN => "pluginIO(IO_OPEN)",
            IO_READ => "pluginIO(IO_READ)",
            IO_WRITE => "pluginIO(IO_WRITE)",
            IO_CLOSE => "pluginIO(IO_CLOSE)",
            _ => "pluginIO(?)",
        }
    }
}

/// Attributes of a file being restored (`restore_pkt` contents).
pub(crate) struct RestoreAttrs {
    pub ftype: i32,
    pub file_index: i32,
    pub stream: i32,
    pub data_stream: i32,
    pub stat: StatRecord,
    pub ofname: CString,
    pub olname: CString,
    pub attr_ex: CString,
    pub replace: u8,
}

/// What the driver needs from the host: the calls into the plugin, made on the job's
/// context with that flavour's packets.
pub(crate) trait PluginJob {
    fn state(&self) -> &'static JobState;
    /// The flavour's number of `ev` (`None`: the flavour has no such event).
    fn event_number(&self, ev: Ev) -> Option<u32>;
    /// `handlePluginEvent` without any filtering.
    fn raw_event(&mut self, ev: Ev, value: *mut c_void) -> i32;
    /// `handlePluginEvent(bEventCancelCommand)`, to be run on another thread.
    fn cancel_call(&self) -> Box<dyn FnOnce() -> i32 + Send>;
    fn new_plugin(&mut self) -> i32;
    fn free_plugin(&mut self) -> i32;
    /// Fresh save packet (`cmd`, core-preset flags) and `startBackupFile`.
    fn start_backup_file(&mut self, cmd: &CStr) -> i32;
    fn save_view(&self) -> SaveView;
    /// `sp->fname` read again (the estimate reads it after `endBackupFile`).
    fn fname_now(&self) -> Option<Vec<u8>>;
    fn end_backup_file(&mut self) -> i32;
    fn io(&mut self, req: &mut IoReq, trace: bool) -> i32;
    fn has_check_file(&self) -> bool;
    fn check_file(&mut self, name: &CStr) -> i32;
    fn restore_object_event(&mut self, obj: Option<(&RestoreObjectRecord, &CStr)>) -> i32;
    fn start_restore_file(&mut self, cmd: &CStr) -> i32;
    /// Returns `(bRC, create_status, filedes)`.
    fn create_file(&mut self, a: &RestoreAttrs, where_: *const std::ffi::c_char)
        -> (i32, i32, i32);
    /// Returns `(bRC, create_status)`.
    fn set_file_attributes(
        &mut self,
        a: &RestoreAttrs,
        where_: *const std::ffi::c_char,
    ) -> (i32, i32);
    fn end_restore_file(&mut self) -> i32;
    /// Bacula: `checkStream` before the data of an entry.
    fn before_data(&mut self) {}
    /// After the data of an entry whose open succeeded (or that has none): Bareos `getXattr`
    /// loop when the FileSet has xattrsupport; Bacula `handleXACLdata` (ACL, then xattr, each
    /// while count > 0) for every file. Returns what the core stored.
    fn after_data(&mut self, _fname: &CStr) -> SavedXattrs {
        SavedXattrs::default()
    }
    /// The FileSet's `xattrsupport` (Bareos: `FO_XATTR` preset in `sp->flags`).
    fn set_xattr_support(&mut self, _on: bool) {}
    /// Restore: the file's delayed xattr stream, after IO_CLOSE and before `endRestoreFile`
    /// (Bareos `setXattr` per attribute; Bacula `handleXACLdata(BXATTR_RESTORE)` per record).
    fn restore_xattrs(&mut self, _f: &SavedFile, _ofname: &CStr) {}
}

/// The extended attributes the core stored with one file (see [`SavedFile::xattrs`]).
#[derive(Clone, Debug, Default)]
pub(crate) struct SavedXattrs {
    pub pairs: Vec<super::Xattr>,
    pub records: Vec<Vec<u8>>,
}
