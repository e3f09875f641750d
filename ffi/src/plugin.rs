//! The trait a plugin implements, and the flavour-neutral values it sees.

use std::ffi::CStr;

use crate::host::Host;
use crate::packets::{IoFailure, IoRequest, RestoreFile, SavePacket};
use crate::xattr::Xattr;
use crate::CancelToken;

/// Static description shown by `status client` and checked at load time.
pub struct PluginInfo {
    pub author: &'static CStr,
    pub date: &'static CStr,
    pub version: &'static CStr,
    pub description: &'static CStr,
    /// Bareos only (`plugin_usage`); Bacula's table has no such field.
    pub usage: &'static CStr,
}

/// How a message counts in the job: the daemon's `M_*` type.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MessageLevel {
    /// Fails the job.
    Fatal,
    /// Counts as a job error: backup ends "OK -- with warnings", restore ends in error.
    Error,
    /// Counts as a warning.
    Warning,
    /// Informational.
    Info,
}

/// An error a plugin callback returns: the SDK sends `message` as a job message of `level`
/// and returns the host's error code.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PluginError {
    pub level: MessageLevel,
    pub message: String,
}

impl PluginError {
    pub fn fatal(message: impl Into<String>) -> Self {
        PluginError {
            level: MessageLevel::Fatal,
            message: message.into(),
        }
    }
    pub fn error(message: impl Into<String>) -> Self {
        PluginError {
            level: MessageLevel::Error,
            message: message.into(),
        }
    }
}

impl std::fmt::Display for PluginError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

pub type PluginResult<T> = Result<T, PluginError>;

/// A daemon event, decoded from either flavour's numbering.
#[derive(Debug)]
pub enum Event<'a> {
    JobStart(&'a str),
    JobEnd,
    StartBackupJob,
    EndBackupJob,
    StartRestoreJob,
    EndRestoreJob,
    StartVerifyJob,
    EndVerifyJob,
    /// The full `Plugin =` string of one FileSet line, for a backup.
    BackupCommand(&'a str),
    /// The plugin string recorded at backup time, for the file about to be restored.
    RestoreCommand(&'a str),
    /// The full `Plugin =` string, for an estimate.
    EstimateCommand(&'a str),
    /// The job level character (`F`, `I`, `D`, …).
    Level(u8),
    /// The since time (seconds since the epoch, fd clock) of an Incremental/Differential.
    Since(i64),
    /// A `Plugin =` line as the FileSet is parsed.
    PluginCommand(&'a str),
    EndFileSet,
    /// Bareos "Plugin Options" (job directive or run-time `pluginoptions=`).
    NewPluginOptions(&'a str),
    /// A restore object (`None` after the last one).
    RestoreObject(Option<RestoreObject<'a>>),
    /// Anything else (VSS, option-plugin events): ignored by the SDK's callers.
    Other(u32),
}

#[derive(Debug)]
pub struct RestoreObject<'a> {
    pub name: &'a [u8],
    pub data: &'a [u8],
    pub plugin_command: &'a str,
}

/// What `start_backup_file` produced.
#[derive(Debug, PartialEq, Eq)]
pub enum NextFile {
    /// The packet was filled with an entry (`SavePacket::set_file`).
    Entry,
    /// No more entries for this `Plugin =` line.
    Stop,
}

/// The plugin's answer to `createFile`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CreateStatus {
    /// Data follows: the daemon calls IO open/write/close.
    Extract,
    /// Created, no data expected.
    Created,
    /// Skip this file (e.g. replace=never and it exists).
    Skip,
    /// Failed (the plugin sent a message saying why).
    Error,
}

/// One job's plugin instance. All methods run on the job's thread, sequentially; the
/// cancel command is the only call from another thread and is handled by the SDK through
/// the [`CancelToken`] given to [`FdPlugin::new`].
pub trait FdPlugin: Sized + 'static {
    const INFO: PluginInfo;

    /// `newPlugin`. Must not send job messages (Bacula treats messages before the job
    /// command's reply as a rejection).
    fn new(host: &Host<'_>, cancel: CancelToken) -> PluginResult<Self>;

    fn handle_event(&mut self, host: &Host<'_>, event: Event<'_>) -> PluginResult<()>;

    fn start_backup_file(
        &mut self,
        host: &Host<'_>,
        sp: &mut SavePacket<'_>,
    ) -> PluginResult<NextFile>;

    /// `Ok(true)`: another entry follows.
    fn end_backup_file(&mut self, host: &Host<'_>) -> PluginResult<bool>;

    /// Returns the byte count (read/write), new offset (seek) or 0 (open/close).
    fn io(&mut self, host: &Host<'_>, request: IoRequest<'_>) -> Result<i64, IoFailure>;

    fn start_restore_file(&mut self, host: &Host<'_>, command: &str) -> PluginResult<()>;

    fn create_file(
        &mut self,
        host: &Host<'_>,
        file: &RestoreFile<'_>,
    ) -> PluginResult<CreateStatus>;

    fn set_file_attributes(&mut self, host: &Host<'_>, file: &RestoreFile<'_>) -> PluginResult<()>;

    fn end_restore_file(&mut self, host: &Host<'_>) -> PluginResult<()>;

    /// Accurate mode: a catalog name that was not seen in this backup. `true` keeps it
    /// (not recorded as deleted).
    fn check_file(&mut self, host: &Host<'_>, name: &[u8]) -> bool;

    /// After the entry's data was read (IO close): its extended attributes. Called by the SDK
    /// when the daemon asks (Bareos: getXattr, only when the FileSet's Options have
    /// xattrsupport=yes; Bacula: handleXACLdata(BXATTR_BACKUP), for every file), at most once
    /// per entry. Default: none.
    ///
    /// Attributes the daemon cannot store (an empty name, more than its size limit: see
    /// [`crate::xattr`]) are refused as a whole with an `M_ERROR` naming the file, which is
    /// then saved without them. An error is sent as a job message and the file is saved
    /// without attributes.
    fn backup_xattrs(&mut self, _host: &Host<'_>) -> PluginResult<Vec<Xattr>> {
        Ok(Vec::new())
    }

    /// At restore, each recorded attribute of the file being restored, in backup order:
    /// after IO close (both daemons: `setFileAttributes`, IO close, the attributes, then
    /// `end_restore_file`), only for files `create_file` answered
    /// [`CreateStatus::Extract`]. An error is sent as a job message. Default: ignore.
    fn restore_xattr(&mut self, _host: &Host<'_>, _xattr: &Xattr) -> PluginResult<()> {
        Ok(())
    }
}
