//! The job-thread side of a backup or estimate: takes objects from the prefetch pipeline in
//! listing order, decides with the daemon whether each changed, hands entries to the daemon
//! and streams their bodies into IO_READ.

use std::collections::HashSet;
use std::ffi::CString;
use std::sync::Arc;

use fd_ffi::{
    FileAttributes, FileKind, Host, IoFailure, MessageLevel, PluginError, SavePacket, Xattr,
};
use tokio_util::sync::CancellationToken;

use crate::backup::pipeline::{Pipeline, PrefetchConfig};
use crate::backup::reader::{BodyReader, PendingBody};
use crate::backup::unit_fetch::Head;
use crate::config::naming::{key_to_name, version_name};
use crate::config::options::{Archived, Options};
use crate::metadata::ObjectMeta;
use crate::s3::client::S3;
use crate::s3::errors::{bucket_message, Failure};
use crate::s3::listing::Listed;
use crate::s3::retry::{RetryPolicy, RetryStats};
use crate::stats::{Stats, NAMED_KEYS};

/// Permission bits of every backed-up object (documented in the README).
pub const OBJECT_PERMISSIONS: u32 = 0o640;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    Backup,
    /// List names and sizes only: no GET, no change check by the daemon.
    Estimate,
}

/// Level and reference time of the job.
#[derive(Clone, Copy, Debug)]
pub struct Since {
    pub level: u8,
    /// For Incremental/Differential: the since time minus the margin.
    pub reference: Option<i64>,
    /// Accurate job: the daemon's catalog decides what changed (and learns what was seen).
    pub accurate: bool,
}

impl Since {
    /// Whether the object's LastModified says it may have changed (whole seconds: an object
    /// written in the same second as the reference is taken).
    pub fn maybe_changed(&self, mtime: i64) -> bool {
        self.reference.is_none_or(|t| mtime >= t)
    }
}

/// The entry last handed to the daemon.
struct Current {
    key: String,
    name: Vec<u8>,
    size: i64,
    body: Option<PendingBody>,
    meta: ObjectMeta,
}

pub struct BackupJob {
    options: Options,
    s3: S3,
    mode: Mode,
    since: Since,
    pipeline: Pipeline,
    current: Option<Current>,
    reader: Option<(BodyReader, Current)>,
    pub stats: Stats,
    /// Names of objects that exist but could not be saved: kept in accurate mode.
    failed_names: HashSet<Vec<u8>>,
    retry_stats: Arc<RetryStats>,
    cancel: CancellationToken,
    /// Metadata of the entry whose data was read last, until the daemon asks for it.
    read_meta: Option<ObjectMeta>,
    /// The FileSet does not let the daemon store metadata (said once per job).
    warned_no_xattrs: bool,
}

impl BackupJob {
    /// Starts listing and prefetching; waits for the first page so that a missing bucket or
    /// refused credentials fail the job here, with a message naming them.
    pub fn start(
        options: Options,
        s3: S3,
        mode: Mode,
        since: Since,
        cancel: CancellationToken,
    ) -> Result<BackupJob, PluginError> {
        let retry_stats = Arc::new(RetryStats::default());
        let config = PrefetchConfig {
            bucket: options.bucket.clone(),
            prefix: options.prefix.clone(),
            start_after: options.start_after.clone(),
            end_at: options.end_at.clone(),
            concurrency: options.concurrency,
            budget: options.prefetch_bytes,
            part_size: options.part_size,
            max_rate: options.max_rate,
            read_timeout: options.read_timeout,
            retry: RetryPolicy::from_options(&options),
            stats: retry_stats.clone(),
            versions: options.versions,
        };
        let wants_data = move |o: &Listed| {
            mode == Mode::Backup && since.maybe_changed(o.mtime) && archive_class(o).is_none()
        };
        let mut pipeline = Pipeline::start(s3.clone(), config, cancel.clone(), wants_data);
        if let Some(Err(failed)) = pipeline.peek() {
            let why = bucket_message(
                &failed.0,
                &options.bucket,
                options.endpoint_name(),
                &s3.credential_source,
            );
            return Err(PluginError::fatal(format!(
                "s3: cannot list {}: {why}",
                options.location()
            )));
        }
        Ok(BackupJob {
            options,
            s3,
            mode,
            since,
            pipeline,
            current: None,
            reader: None,
            stats: Stats::default(),
            failed_names: HashSet::new(),
            retry_stats,
            cancel,
            read_meta: None,
            warned_no_xattrs: false,
        })
    }

    fn bucket_message(&self, failure: &Failure) -> String {
        bucket_message(
            failure,
            &self.options.bucket,
            self.options.endpoint_name(),
            &self.s3.credential_source,
        )
    }

    fn object_failed(&mut self, host: &Host<'_>, key: &str, name: Vec<u8>, why: &str) {
        host.job_message(
            MessageLevel::Error,
            &format!(
                "s3: object '{key}' of bucket '{}' not saved: {why}",
                self.options.bucket
            ),
        );
        self.stats.failed.push(key.to_string());
        self.failed_names.insert(name);
    }

    /// An object in an archive storage class: no GET can read it. Skipped with a warning, or
    /// an error with `archived=fail`; either way the daemon never gets it, and an accurate job
    /// keeps its earlier copy (it is not recorded as deleted).
    fn archived(&mut self, host: &Host<'_>, key: &str, name: &[u8], why: &str) {
        let bucket = &self.options.bucket;
        match self.options.archived {
            Archived::Skip => {
                // Named one by one up to a limit: a bucket may hold millions of them.
                if self.stats.archived < NAMED_KEYS as u64 {
                    host.job_message(
                        MessageLevel::Warning,
                        &format!(
                            "s3: object '{key}' of bucket '{bucket}' is archived ({why}); skipped \
                             (copy it to a readable storage class to back it up: a temporary \
                             restore still lists as archived; archived=fail makes this an error)"
                        ),
                    );
                } else if self.stats.archived == NAMED_KEYS as u64 {
                    host.job_message(
                        MessageLevel::Warning,
                        &format!(
                            "s3: more archived objects of bucket '{bucket}' are skipped; they are \
                             not named one by one, the closing message counts them"
                        ),
                    );
                }
                self.stats.archived_skipped(key);
                if self.since.accurate {
                    // Kept as seen, so that the catalog keeps its earlier copy.
                    self.failed_names.insert(name.to_vec());
                }
            }
            Archived::Fail => self.object_failed(
                host,
                key,
                name.to_vec(),
                &format!("it is archived ({why}) and archived=fail is set"),
            ),
        }
    }

    /// A GET's head, or `None` when the object is skipped (message sent).
    fn head_or_skip(
        &mut self,
        host: &Host<'_>,
        key: &str,
        name: &[u8],
        result: Result<Head, Failure>,
    ) -> Option<Head> {
        match result {
            Ok(head) => Some(head),
            Err(Failure::NotFound) => {
                host.job_message(
                    MessageLevel::Warning,
                    &format!(
                        "s3: object '{key}' of bucket '{}' was deleted after it was listed; skipped",
                        self.options.bucket
                    ),
                );
                self.stats.vanished.push(key.to_string());
                None
            }
            Err(_) if self.cancel.is_cancelled() => None,
            Err(Failure::Archived(detail)) => {
                self.archived(host, key, name, &format!("its GET was refused: {detail}"));
                None
            }
            Err(failure) => {
                let why = self.bucket_message(&failure);
                self.object_failed(host, key, name.to_vec(), &why);
                None
            }
        }
    }

    /// `startBackupFile`: fills `sp` with the next entry, or says there is none.
    pub fn next_entry(
        &mut self,
        host: &Host<'_>,
        sp: &mut SavePacket<'_>,
    ) -> Result<bool, PluginError> {
        self.current = None;
        loop {
            if self.cancel.is_cancelled() {
                return Ok(false);
            }
            let Some(item) = self.pipeline.next_object() else {
                return Ok(false);
            };
            let prepared = item.map_err(|failed| {
                PluginError::fatal(format!(
                    "s3: listing {} failed part-way: {}",
                    self.options.location(),
                    self.bucket_message(&failed.0)
                ))
            })?;
            let object = prepared.object;
            let name = match &object.version {
                Some(v) => version_name(&self.options.bucket, &object.key, v),
                None => key_to_name(&self.options.bucket, &object.key),
            };
            let marker = object.version.as_ref().is_some_and(|v| v.delete_marker);
            let attributes = |size: i64, mtime: i64| FileAttributes {
                name: CString::new(name.clone()).expect("names escape NUL"),
                kind: FileKind::Regular,
                size,
                mtime,
                permissions: OBJECT_PERMISSIONS,
            };
            if self.mode == Mode::Estimate {
                if !self.since.maybe_changed(object.mtime) || archive_class(&object).is_some() {
                    continue;
                }
                sp.set_file(attributes(object.size, object.mtime));
                return Ok(true);
            }
            let (mut size, mut mtime) = (object.size, object.mtime);
            let mut meta = ObjectMeta::default();
            let mut body = prepared.body;
            if marker {
                // A delete marker: an empty entry, no request.
                body = Some(PendingBody::new(Vec::new()));
                meta.version_id = object.version.as_ref().map(|v| v.version_id.clone());
            } else if let Some(pending) = &mut body {
                match pending.head() {
                    // Changed since the listing: the pinned transfer is refused; take the
                    // current version instead.
                    Err(Failure::Changed) => {
                        log::debug!(
                            "{} changed since it was listed; fetching it again",
                            object.key
                        );
                        self.stats.changed.push(object.key.clone());
                        body = None;
                    }
                    result => {
                        let Some(head) = self.head_or_skip(host, &object.key, &name, result) else {
                            continue;
                        };
                        (size, mtime) = adopt_head(&object, &head);
                        meta = head.meta;
                    }
                }
            }
            sp.set_file(attributes(size, mtime));
            if let Some(reference) = self.since.reference {
                // Without accurate mode the daemon's check is only this time comparison, but
                // Bacula 9.6 cannot take our reference time: decide here, alike for both.
                let changed = if self.since.accurate {
                    sp.check_changes(reference)?
                } else {
                    self.since.maybe_changed(mtime)
                };
                if !changed {
                    sp.mark_unchanged();
                    self.stats.unchanged += 1;
                    return Ok(true);
                }
            }
            let body = match body {
                Some(body) => body,
                None if !marker && archive_class(&object).is_some() => {
                    let class = archive_class(&object).unwrap_or_default();
                    self.archived(
                        host,
                        &object.key,
                        &name,
                        &format!("storage class {class} in the listing"),
                    );
                    continue;
                }
                None => {
                    // Changed although LastModified is older than the since time (accurate
                    // mode found it missing or different in the catalog): fetch it now.
                    let version = object.version.as_ref().map(|v| v.version_id.clone());
                    let mut pending = self.pipeline.fetch_now(&object.key, version);
                    let result = pending.head();
                    let Some(head) = self.head_or_skip(host, &object.key, &name, result) else {
                        continue;
                    };
                    (size, mtime) = adopt_head(&object, &head);
                    meta = head.meta;
                    sp.set_file(attributes(size, mtime));
                    pending
                }
            };
            if sp.xattrs_requested() == Some(false) && !self.warned_no_xattrs {
                self.warned_no_xattrs = true;
                host.job_message(
                    MessageLevel::Warning,
                    &format!(
                        "s3: object metadata and tags of {} are not recorded: the FileSet's \
                         Options need XattrSupport = yes",
                        self.options.location()
                    ),
                );
            }
            self.current = Some(Current {
                key: object.key,
                name,
                size,
                body: Some(body),
                meta,
            });
            return Ok(true);
        }
    }

    /// `endBackupFile`: whether another entry may follow.
    pub fn has_more(&mut self) -> bool {
        !self.cancel.is_cancelled() && self.pipeline.has_more()
    }

    pub fn open(&mut self) -> Result<(), IoFailure> {
        let Some(mut current) = self.current.take() else {
            return Err(IoFailure::new(
                libc::EINVAL,
                PluginError::fatal("s3: the daemon opened an entry that has no data"),
            ));
        };
        let body = current
            .body
            .take()
            .expect("an entry with data has a transfer");
        let reader = body.into_reader(current.size.max(0) as u64);
        self.read_meta = Some(std::mem::take(&mut current.meta));
        self.reader = Some((reader, current));
        Ok(())
    }

    pub fn read(&mut self, host: &Host<'_>, buf: &mut [u8]) -> Result<usize, IoFailure> {
        let Some((reader, current)) = &mut self.reader else {
            return Err(IoFailure::new(
                libc::EBADF,
                PluginError::fatal("s3: read without an open object"),
            ));
        };
        match reader.read(buf) {
            Ok(n) => {
                self.stats.bytes += n as u64;
                Ok(n)
            }
            Err(_) if self.cancel.is_cancelled() => Err(IoFailure {
                errno: libc::ECANCELED,
                message: None,
            }),
            Err(why) => {
                let (key, name) = (current.key.clone(), current.name.clone());
                self.reader = None;
                self.object_failed(
                    host,
                    &key,
                    name,
                    &format!("reading its data failed: {why}; the stored copy is incomplete"),
                );
                Err(IoFailure {
                    errno: libc::EIO,
                    message: None,
                })
            }
        }
    }

    pub fn close(&mut self) {
        if let Some((reader, current)) = self.reader.take() {
            if reader.received() == current.size.max(0) as u64 {
                self.stats.objects += 1;
            }
        }
    }

    /// The recorded attributes of the entry whose data was just read (asked once per entry).
    pub fn xattrs(&mut self) -> Vec<Xattr> {
        self.read_meta
            .take()
            .map(|m| m.to_xattrs())
            .unwrap_or_default()
    }

    /// Accurate mode: keep catalog entries of objects that exist but failed.
    pub fn keep(&self, name: &[u8]) -> bool {
        self.failed_names.contains(name)
    }

    pub fn into_failed_names(self) -> HashSet<Vec<u8>> {
        self.failed_names
    }

    pub fn summary(&self) -> String {
        let mut stats = self.stats.clone();
        stats.retries = self.retry_stats.retries();
        stats.resumed = self.retry_stats.resumed();
        stats.summary(&self.options.location(), "saved")
    }
}

/// Size and time of the version the GET returned (it is what gets stored): the listing's
/// LastModified has sub-second precision lost either way, but if the object was overwritten
/// since the listing, its new time counts.
fn adopt_head(listed: &Listed, head: &Head) -> (i64, i64) {
    let size = if head.size >= 0 {
        head.size
    } else {
        listed.size
    };
    let mtime = match (&listed.etag, &head.etag, head.mtime) {
        (Some(a), Some(b), Some(t)) if a != b => t,
        _ => listed.mtime,
    };
    (size, mtime)
}

/// The storage class of a listed object that no GET can read without a restore first:
/// GLACIER and DEEP_ARCHIVE (GLACIER_IR is readable; INTELLIGENT_TIERING's archive tiers are
/// only told by the GET's 403 InvalidObjectState).
fn archive_class(object: &Listed) -> Option<&str> {
    object
        .storage_class
        .as_deref()
        .filter(|class| matches!(*class, "GLACIER" | "DEEP_ARCHIVE"))
}
