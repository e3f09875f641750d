//! Restore into a bucket: each file's data, as the daemon writes it (IO_WRITE), is uploaded
//! to its object with the metadata recorded at backup.
//!
//! * An object up to `part_size` is held in memory and stored with one PUT carrying all its
//!   metadata, tags, storage class, `Content-MD5` and the recorded additional checksum (the
//!   server checks both).
//! * A larger one streams into a multipart upload: parts of `part_size` (grown so that no
//!   object needs more than 10,000 parts), uploaded in the background while the daemon goes
//!   on writing, at most `prefetch_bytes` of them in memory, each with its `Content-MD5`.
//!   The daemon gives the recorded attributes only after the data, so the upload is completed
//!   in `endRestoreFile`, and the headers are then set by copying the object onto itself
//!   (server side; the intermediate version is deleted in a versioned bucket). An upload
//!   that fails, is cancelled or whose data does not verify is aborted: no orphan parts.
//! * Before anything is made visible, the data is verified against the backup: the byte
//!   count against the recorded size, the MD5 against a single-part ETag, and the full-object
//!   additional checksum (CRC32, CRC32C, CRC64NVME; SHA1/SHA256 of single-part objects).
//! * The job's replace setting is decided by a HEAD of the target object.
//!
//! Here the file's lifecycle (the daemon's calls); `upload` takes its data, `finish` verifies
//! and stores it; `error` says what went wrong.

mod error;
mod finish;
mod upload;

use std::sync::Arc;

use fd_ffi::{CreateStatus, IoFailure, PluginError, RestoreFile, Xattr};
use tokio_util::sync::CancellationToken;

use crate::config::options::Options;
use crate::restore::target::keeps_existing;
use crate::runtime::block_on;
use crate::s3::client::S3;
use crate::s3::errors::Failure;
use crate::s3::object::{ObjectHandle, Requests};
use crate::s3::retry::{RetryPolicy, RetryStats};
use crate::stats::Stats;
use upload::Upload;

/// Where one file goes.
pub struct S3Target {
    pub s3: S3,
    pub options: Options,
    pub bucket: String,
    pub key: String,
}

/// The S3 side of a restore job.
pub struct S3Restore {
    current: Option<Upload>,
    retry_stats: Arc<RetryStats>,
    cancel: CancellationToken,
    pub stats: Stats,
}

impl S3Restore {
    pub fn new(cancel: CancellationToken) -> Self {
        S3Restore {
            current: None,
            retry_stats: Arc::new(RetryStats::default()),
            cancel,
            stats: Stats::default(),
        }
    }

    /// The target object of one file, with the job's retry policy and counters.
    fn object(&self, target: S3Target) -> (ObjectHandle, Options) {
        let requests = Requests {
            s3: target.s3,
            retry: RetryPolicy::from_options(&target.options),
            stats: self.retry_stats.clone(),
            timeout: target.options.read_timeout,
            cancel: self.cancel.child_token(),
        };
        (
            ObjectHandle::new(requests, target.bucket, target.key),
            target.options,
        )
    }

    /// A recorded delete marker: the key is deleted in the target (a versioned bucket gets a
    /// delete marker of its own), so that the history replays as it happened.
    pub fn delete_marker(&mut self, target: S3Target) -> Result<(), PluginError> {
        self.abandon();
        let (object, _) = self.object(target);
        block_on(object.delete(None)).map_err(|f| {
            self.stats.failed.push(object.key.clone());
            PluginError::error(format!(
                "s3: cannot replay the deletion of {}: {f}",
                object.uri()
            ))
        })?;
        self.stats.deleted += 1;
        Ok(())
    }

    /// `createFile`: decides with the replace setting (a HEAD of the target).
    pub fn create(
        &mut self,
        file: &RestoreFile<'_>,
        target: S3Target,
    ) -> Result<CreateStatus, PluginError> {
        self.abandon();
        let (object, options) = self.object(target);
        if file.replace != b'a' {
            let existing = match block_on(object.head(None, None, false)) {
                Ok(head) => Some(head.last_modified().map(|t| t.secs()).unwrap_or(0)),
                Err(Failure::NotFound) => None,
                Err(f) => {
                    return Err(PluginError::error(format!(
                        "s3: cannot look at {} before restoring it: {f}",
                        object.uri()
                    )))
                }
            };
            if existing.is_some_and(|t| keeps_existing(file.replace, t, file.mtime)) {
                self.stats.unchanged += 1;
                return Ok(CreateStatus::Skip);
            }
        }
        self.current = Some(Upload::new(
            object,
            file.size,
            options.part_size,
            options.prefetch_bytes,
        ));
        Ok(CreateStatus::Extract)
    }

    pub fn open(&mut self) -> Result<(), IoFailure> {
        match &mut self.current {
            Some(upload) => {
                upload.opened = true;
                Ok(())
            }
            None => Err(IoFailure::new(
                libc::EINVAL,
                PluginError::error("s3: the daemon opened a file that was not created"),
            )),
        }
    }

    pub fn write(&mut self, data: &[u8]) -> Result<usize, IoFailure> {
        let Some(upload) = &mut self.current else {
            return Err(IoFailure::new(
                libc::EBADF,
                PluginError::error("s3: write without an open object"),
            ));
        };
        if let Err(why) = upload.write(data) {
            let first = upload.failed.is_none();
            upload.failed = Some(why.clone());
            upload.abort();
            return Err(IoFailure {
                errno: libc::EIO,
                message: first.then(|| PluginError::error(format!("s3: {why}"))),
            });
        }
        self.stats.bytes += data.len() as u64;
        Ok(data.len())
    }

    pub fn xattr(&mut self, xattr: &Xattr) -> Result<(), PluginError> {
        let Some(upload) = &mut self.current else {
            return Ok(());
        };
        upload
            .meta
            .apply_xattr(&xattr.name, &xattr.value)
            .map_err(|e| {
                PluginError::error(format!("s3: {}: recorded metadata: {e}", upload.what()))
            })
    }

    /// `endRestoreFile`.
    pub fn end(&mut self) -> Result<(), PluginError> {
        let Some(upload) = self.current.take() else {
            return Ok(());
        };
        let key = upload.object.key.clone();
        match upload.finish() {
            Ok(_) => {
                self.stats.objects += 1;
                Ok(())
            }
            Err(why) => {
                self.stats.failed.push(key);
                Err(PluginError::error(format!("s3: {why}")))
            }
        }
    }

    /// Drops an unfinished file (aborting its upload).
    pub fn abandon(&mut self) {
        if let Some(mut upload) = self.current.take() {
            upload.abort();
        }
    }

    pub fn summary(&self, what: &str) -> String {
        let mut stats = self.stats.clone();
        stats.retries = self.retry_stats.retries();
        stats.restore_summary(what)
    }
}

impl Drop for S3Restore {
    fn drop(&mut self) {
        self.abandon();
    }
}
