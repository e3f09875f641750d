//! Restore to local disk: each object becomes a file under the restore job's `where`
//! directory, named as in the catalog (see `naming`), with the object's time and the
//! recorded permissions. The daemon passes the data through IO_WRITE; this module creates
//! the parent directories, honours the job's replace setting and writes the file.

use std::ffi::OsStr;
use std::fs::{self, File, OpenOptions};
use std::io::Write;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Component, Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use fd_ffi::{CreateStatus, IoFailure, MessageLevel, PluginError, RestoreFile, Xattr};

use crate::restore::target::keeps_existing;
use crate::stats::Stats;

struct Target {
    path: PathBuf,
    permissions: u32,
    mtime: i64,
    /// The object's size as recorded at backup: what the data must add up to.
    expected: i64,
    file: Option<File>,
    written: u64,
}

#[derive(Default)]
pub struct LocalRestore {
    target: Option<Target>,
    /// The file closed last, and the recorded attributes the daemon gave for it.
    closed: Option<PathBuf>,
    xattrs: Vec<Xattr>,
    /// The filesystem refused user.* attributes (said once per job).
    xattrs_unsupported: bool,
    pub stats: Stats,
}

fn io_error(errno_of: &std::io::Error, what: String) -> IoFailure {
    IoFailure::new(
        errno_of.raw_os_error().unwrap_or(libc::EIO),
        PluginError::error(what),
    )
}

/// Refuses output names that are relative or climb with `..`.
fn checked_path(output_name: &[u8]) -> Result<PathBuf, PluginError> {
    let path = Path::new(OsStr::from_bytes(output_name));
    if !path.is_absolute() || path.components().any(|c| c == Component::ParentDir) {
        return Err(PluginError::error(format!(
            "s3: refusing to restore to '{}': not an absolute path without '..'",
            path.display()
        )));
    }
    Ok(path.to_path_buf())
}

fn mtime_of(path: &Path) -> Option<i64> {
    let modified = fs::metadata(path).ok()?.modified().ok()?;
    Some(match modified.duration_since(UNIX_EPOCH) {
        Ok(d) => d.as_secs() as i64,
        Err(e) => -(e.duration().as_secs() as i64),
    })
}

impl LocalRestore {
    /// `createFile`: decides with the replace setting, creates parent directories.
    pub fn create(&mut self, file: &RestoreFile<'_>) -> Result<CreateStatus, PluginError> {
        self.target = None;
        self.closed = None;
        self.xattrs.clear();
        let path = checked_path(file.output_name.to_bytes())?;
        if let Some(existing) = mtime_of(&path) {
            if keeps_existing(file.replace, existing, file.mtime) {
                self.stats.unchanged += 1;
                return Ok(CreateStatus::Skip);
            }
        }
        if let Some(parent) = path.parent() {
            fs::DirBuilder::new()
                .recursive(true)
                .mode(0o755)
                .create(parent)
                .map_err(|e| {
                    PluginError::error(format!(
                        "s3: cannot create directory {}: {e}",
                        parent.display()
                    ))
                })?;
        }
        let permissions = match file.mode & 0o777 {
            0 => 0o640,
            p => p,
        };
        self.target = Some(Target {
            path,
            permissions,
            mtime: file.mtime,
            expected: file.size,
            file: None,
            written: 0,
        });
        Ok(CreateStatus::Extract)
    }

    pub fn open(&mut self) -> Result<(), IoFailure> {
        let Some(target) = &mut self.target else {
            return Err(IoFailure::new(
                libc::EINVAL,
                PluginError::error("s3: the daemon opened a file that was not created"),
            ));
        };
        let file = OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(target.permissions)
            .open(&target.path)
            .map_err(|e| {
                io_error(
                    &e,
                    format!("s3: cannot create {}: {e}", target.path.display()),
                )
            })?;
        target.file = Some(file);
        Ok(())
    }

    pub fn write(&mut self, data: &[u8]) -> Result<usize, IoFailure> {
        let Some(Target {
            file: Some(file),
            path,
            written,
            ..
        }) = &mut self.target
        else {
            return Err(IoFailure::new(
                libc::EBADF,
                PluginError::error("s3: write without an open file"),
            ));
        };
        file.write_all(data)
            .map_err(|e| io_error(&e, format!("s3: writing {} failed: {e}", path.display())))?;
        *written += data.len() as u64;
        self.stats.bytes += data.len() as u64;
        Ok(data.len())
    }

    /// `setFileAttributes` (called before the close): the time to set.
    pub fn set_attributes(&mut self, file: &RestoreFile<'_>) {
        if let Some(target) = &mut self.target {
            target.mtime = file.mtime;
        }
    }

    pub fn close(&mut self) -> Result<(), IoFailure> {
        let Some(mut target) = self.target.take() else {
            return Ok(());
        };
        let Some(file) = target.file.take() else {
            return Ok(());
        };
        if target.expected >= 0 && target.written != target.expected as u64 {
            return Err(IoFailure::new(
                libc::EIO,
                PluginError::error(format!(
                    "s3: {} restored incomplete: {} of {} bytes (the backup copy is truncated)",
                    target.path.display(),
                    target.written,
                    target.expected
                )),
            ));
        }
        let time = if target.mtime >= 0 {
            UNIX_EPOCH + Duration::from_secs(target.mtime as u64)
        } else {
            SystemTime::UNIX_EPOCH
        };
        file.set_modified(time).map_err(|e| {
            io_error(
                &e,
                format!("s3: cannot set the time of {}: {e}", target.path.display()),
            )
        })?;
        drop(file);
        self.stats.objects += 1;
        self.closed = Some(target.path);
        Ok(())
    }

    /// A recorded attribute of the file being restored (the object's metadata).
    pub fn xattr(&mut self, xattr: &Xattr) {
        self.xattrs.push(xattr.clone());
    }

    /// `endRestoreFile`: writes the recorded metadata as `user.<name>` attributes of the
    /// file (e.g. `user.s3.content-type`); a filesystem without them gets none, said once.
    /// Returns a message for the job, if any.
    pub fn end(&mut self) -> Option<(MessageLevel, String)> {
        let xattrs = std::mem::take(&mut self.xattrs);
        let path = self.closed.take()?;
        if xattrs.is_empty() || self.xattrs_unsupported {
            return None;
        }
        for x in &xattrs {
            let mut name = b"user.".to_vec();
            name.extend_from_slice(&x.name);
            if name.contains(&0) {
                continue;
            }
            if let Err(e) = xattr::set(&path, OsStr::from_bytes(&name), &x.value) {
                if e.raw_os_error() == Some(libc::ENOTSUP) {
                    self.xattrs_unsupported = true;
                    return Some((
                        MessageLevel::Info,
                        format!(
                            "s3: the object metadata is not written to the restored files: the \
                             filesystem of {} has no user.* extended attributes; the data is \
                             restored as it was",
                            path.display()
                        ),
                    ));
                }
                return Some((
                    MessageLevel::Warning,
                    format!(
                        "s3: cannot write the metadata attribute user.{} of {}: {e}",
                        String::from_utf8_lossy(&x.name),
                        path.display()
                    ),
                ));
            }
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parent_dir_components_are_refused() {
        assert!(checked_path(b"/tmp/r/b/../../etc/passwd").is_err());
        assert!(checked_path(b"relative/x").is_err());
        assert!(checked_path(b"/tmp/r/b/%2E%2E/x").is_ok());
    }
}
