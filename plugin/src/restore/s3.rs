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

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use aws_sdk_s3::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::{CompletedMultipartUpload, CompletedPart, MetadataDirective, StorageClass};
use aws_smithy_runtime_api::client::orchestrator::HttpResponse;
use aws_smithy_types::date_time::Format;
use aws_smithy_types::DateTime;
use bytes::Bytes;
use fd_ffi::{CreateStatus, IoFailure, PluginError, RestoreFile, Xattr};
use percent_encoding::{utf8_percent_encode, AsciiSet, NON_ALPHANUMERIC};
use tokio::sync::Semaphore;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use crate::checksum::{md5_of, multipart_etag, StreamChecksum};
use crate::config::options::Options;
use crate::metadata::{encode_tags, ChecksumAlgorithm, ObjectMeta};
use crate::restore::target::keeps_existing;
use crate::runtime::{block_on, runtime};
use crate::s3::client::S3;
use crate::s3::errors::Failure;
use crate::s3::retry::{RetryPolicy, RetryStats};
use crate::stats::Stats;

/// S3's limits.
const MAX_PARTS: u64 = 10_000;
const MAX_PART: u64 = 5 << 30;
const MAX_COPY: u64 = 5 << 30;
/// The smallest part S3 takes (but the last).
const MIN_PART: u64 = 5 << 20;

/// Where one file goes.
pub struct S3Target {
    pub s3: S3,
    pub options: Options,
    pub bucket: String,
    pub key: String,
}

/// What every request of a file needs.
#[derive(Clone)]
struct Ctx {
    s3: S3,
    bucket: String,
    key: String,
    retry: RetryPolicy,
    stats: Arc<RetryStats>,
    timeout: Duration,
    cancel: CancellationToken,
}

impl Ctx {
    /// The request context of one target object.
    fn new(target: S3Target, stats: Arc<RetryStats>, cancel: CancellationToken) -> (Ctx, Options) {
        let ctx = Ctx {
            s3: target.s3,
            bucket: target.bucket,
            key: target.key,
            retry: RetryPolicy::from_options(&target.options),
            stats,
            timeout: target.options.read_timeout,
            cancel,
        };
        (ctx, target.options)
    }

    /// One request under the retry policy (`op` builds and sends it afresh each attempt).
    async fn send<T, E, Fut>(
        &self,
        what: &str,
        timeout: Duration,
        op: impl FnMut() -> Fut,
    ) -> Result<T, Failure>
    where
        Fut: Future<Output = Result<T, SdkError<E, HttpResponse>>>,
        E: ProvideErrorMetadata + std::error::Error + 'static,
    {
        self.retry
            .request(what, &self.cancel, &self.stats, timeout, op)
            .await
    }

    /// Time allowed for a request carrying `bytes` (at least 1 MiB/s).
    fn timeout_for(&self, bytes: u64) -> Duration {
        self.timeout.max(Duration::from_secs(bytes >> 20))
    }

    fn object(&self) -> String {
        format!("s3://{}/{}", self.bucket, self.key)
    }

    fn copy_source(&self, version: Option<&str>) -> String {
        const KEEP: &AsciiSet = &NON_ALPHANUMERIC
            .remove(b'/')
            .remove(b'-')
            .remove(b'_')
            .remove(b'.')
            .remove(b'~');
        let mut source = format!("{}/{}", self.bucket, utf8_percent_encode(&self.key, KEEP));
        if let Some(v) = version {
            source.push_str(&format!("?versionId={}", utf8_percent_encode(v, KEEP)));
        }
        source
    }
}

/// Sets the recorded headers on a PutObject / CopyObject / CreateMultipartUpload request.
macro_rules! with_headers {
    ($request:expr, $meta:expr) => {{
        let meta: &ObjectMeta = $meta;
        let mut r = $request
            .set_content_type(meta.content_type.clone())
            .set_content_encoding(meta.content_encoding.clone())
            .set_content_language(meta.content_language.clone())
            .set_cache_control(meta.cache_control.clone())
            .set_content_disposition(meta.content_disposition.clone())
            .set_website_redirect_location(meta.website_redirect_location.clone())
            .set_storage_class(meta.storage_class.as_deref().map(StorageClass::from));
        if let Some(expires) = meta
            .expires
            .as_deref()
            .and_then(|e| DateTime::from_str(e, Format::HttpDate).ok())
        {
            r = r.expires(expires);
        }
        if !meta.user.is_empty() {
            r = r.set_metadata(Some(meta.user.iter().cloned().collect()));
        }
        if !meta.tags.is_empty() {
            r = r.tagging(encode_tags(&meta.tags));
        }
        r
    }};
}

struct Multipart {
    upload_id: String,
    part_size: u64,
    parts: Vec<JoinHandle<Result<CompletedPart, Failure>>>,
    part_md5s: Vec<[u8; 16]>,
    /// Parts in memory (being uploaded) at once.
    in_flight: Arc<Semaphore>,
}

/// One file being restored.
struct Upload {
    ctx: Ctx,
    expected: i64,
    part_size: u64,
    max_in_flight: usize,
    buffer: Vec<u8>,
    written: u64,
    multipart: Option<Multipart>,
    /// Of an object uploaded in parts: MD5 and CRCs of the whole stream (its data is gone
    /// when it is verified).
    stream_sum: Option<StreamChecksum>,
    meta: ObjectMeta,
    /// A write failed: the file ends in error.
    failed: Option<String>,
    opened: bool,
}

/// The part size of an object: `part_size` (at least S3's 5 MiB), grown to keep under
/// 10,000 parts.
fn part_size_for(size: u64, part_size: u64) -> u64 {
    let needed = size.div_ceil(MAX_PARTS);
    let mib = 1 << 20;
    part_size
        .max(MIN_PART)
        .max(needed.div_ceil(mib) * mib)
        .min(MAX_PART)
}

impl Upload {
    fn what(&self) -> String {
        self.ctx.object()
    }

    /// Starts the multipart upload (without headers: they come after the data).
    fn begin_multipart(&mut self) -> Result<(), String> {
        let ctx = self.ctx.clone();
        let what = format!("CreateMultipartUpload {}", ctx.object());
        let created = block_on(ctx.send(&what, ctx.timeout, || {
            ctx.s3
                .client
                .create_multipart_upload()
                .bucket(&ctx.bucket)
                .key(&ctx.key)
                .send()
        }))
        .map_err(|f| format!("cannot start the upload of {}: {f:?}", ctx.object()))?;
        let upload_id = created
            .upload_id()
            .ok_or_else(|| format!("the server gave no upload id for {}", ctx.object()))?
            .to_string();
        self.multipart = Some(Multipart {
            upload_id,
            part_size: self.part_size,
            parts: Vec::new(),
            part_md5s: Vec::new(),
            in_flight: Arc::new(Semaphore::new(self.max_in_flight)),
        });
        Ok(())
    }

    /// Sends the buffer as the next part, in the background.
    fn send_part(&mut self) -> Result<(), String> {
        if self.multipart.is_none() {
            self.begin_multipart()?;
        }
        let ctx = self.ctx.clone();
        let mp = self.multipart.as_mut().expect("started above");
        let data = Bytes::from(std::mem::take(&mut self.buffer));
        self.buffer = Vec::with_capacity(mp.part_size as usize);
        let (md5, md5_b64) = md5_of(&data);
        mp.part_md5s.push(md5);
        let number = mp.part_md5s.len() as i32;
        // Blocks the daemon's writes while the parts in memory use up the budget.
        let permit = block_on(mp.in_flight.clone().acquire_owned())
            .map_err(|_| "the upload was stopped".to_string())?;
        let upload_id = mp.upload_id.clone();
        let task = async move {
            let _permit = permit;
            let what = format!("UploadPart {} part {number}", ctx.object());
            let timeout = ctx.timeout_for(data.len() as u64);
            let output = ctx
                .send(&what, timeout, || {
                    ctx.s3
                        .client
                        .upload_part()
                        .bucket(&ctx.bucket)
                        .key(&ctx.key)
                        .upload_id(&upload_id)
                        .part_number(number)
                        .content_md5(&md5_b64)
                        .body(ByteStream::from(data.clone()))
                        .send()
                })
                .await?;
            Ok(CompletedPart::builder()
                .part_number(number)
                .set_e_tag(output.e_tag().map(str::to_string))
                .build())
        };
        mp.parts.push(runtime().spawn(task));
        Ok(())
    }

    fn write(&mut self, data: &[u8]) -> Result<(), String> {
        if let Some(why) = &self.failed {
            return Err(why.clone());
        }
        self.written += data.len() as u64;
        if self.expected >= 0 && self.written > self.expected as u64 {
            return Err(format!(
                "{}: the backup holds more data than the recorded size of {} bytes",
                self.what(),
                self.expected
            ));
        }
        if let Some(sum) = &mut self.stream_sum {
            sum.update(data);
        }
        let multipart = self.stream_sum.is_some();
        let mut rest = data;
        while !rest.is_empty() {
            let room = (self.part_size as usize).saturating_sub(self.buffer.len());
            let n = room.min(rest.len());
            self.buffer.extend_from_slice(&rest[..n]);
            rest = &rest[n..];
            if multipart && self.buffer.len() as u64 >= self.part_size {
                self.send_part()?;
            }
        }
        Ok(())
    }

    /// Aborts a multipart upload (waiting for its parts first, so none lands after it).
    fn abort(&mut self) {
        let Some(mp) = self.multipart.take() else {
            return;
        };
        let ctx = self.ctx.clone();
        for part in &mp.parts {
            part.abort();
        }
        let upload_id = mp.upload_id;
        let what = format!("AbortMultipartUpload {}", ctx.object());
        // Not cancellable: the abort is what a cancelled job still owes the bucket.
        let ctx = Ctx {
            cancel: CancellationToken::new(),
            ..ctx
        };
        let result = block_on(async {
            for part in mp.parts {
                let _ = part.await;
            }
            ctx.send(&what, ctx.timeout, || {
                ctx.s3
                    .client
                    .abort_multipart_upload()
                    .bucket(&ctx.bucket)
                    .key(&ctx.key)
                    .upload_id(&upload_id)
                    .send()
            })
            .await
        });
        if let Err(f) = result {
            log::warn!(
                "s3: could not abort the unfinished upload {upload_id} of {}: {f:?}; \
                 a bucket lifecycle rule (AbortIncompleteMultipartUpload) removes it",
                ctx.object()
            );
        }
    }

    /// Verifies the data against what the backup recorded.
    fn verify(&self, md5_hex: &str, sums: &[(ChecksumAlgorithm, String)]) -> Result<(), String> {
        if self.expected >= 0 && self.written != self.expected as u64 {
            return Err(format!(
                "{} restored incomplete: {} of {} bytes (the backup copy is truncated); not stored",
                self.what(),
                self.written,
                self.expected
            ));
        }
        if let Some(etag) = self.meta.md5_etag() {
            if !etag.eq_ignore_ascii_case(md5_hex) {
                return Err(format!(
                    "{}: the restored data's MD5 {md5_hex} differs from the backed-up ETag {etag}; \
                     not stored",
                    self.what()
                ));
            }
        }
        if let Some((algorithm, recorded)) = self.meta.full_checksum() {
            if let Some((_, computed)) = sums.iter().find(|(a, _)| *a == algorithm) {
                if computed != recorded {
                    return Err(format!(
                        "{}: the restored data's {} checksum {computed} differs from the recorded \
                         {recorded}; not stored",
                        self.what(),
                        algorithm.name()
                    ));
                }
            }
        }
        Ok(())
    }

    /// `endRestoreFile`: verifies, stores and makes the object visible with its metadata.
    fn finish(mut self) -> Result<u64, String> {
        if let Some(why) = self.failed.take() {
            self.abort();
            return Err(why);
        }
        if !self.opened {
            return Err(format!("{}: the daemon sent no data", self.what()));
        }
        let result = if self.stream_sum.is_some() {
            self.finish_multipart()
        } else {
            self.put()
        };
        if result.is_err() {
            self.abort();
        }
        result.map(|()| self.written)
    }

    fn put(&mut self) -> Result<(), String> {
        let data = Bytes::from(std::mem::take(&mut self.buffer));
        let recorded = self.meta.full_checksum().map(|(a, v)| (a, v.to_string()));
        let mut checksum =
            StreamChecksum::new(&recorded.iter().map(|(a, _)| *a).collect::<Vec<_>>());
        checksum.update(&data);
        let (md5_hex, sums) = checksum.finish();
        self.verify(&md5_hex, &sums)?;
        let (_, md5_b64) = md5_of(&data);
        let ctx = self.ctx.clone();
        let meta = &self.meta;
        let what = format!("PUT {}", ctx.object());
        let output = block_on(ctx.send(&what, ctx.timeout_for(data.len() as u64), || {
            let mut request = ctx
                .s3
                .client
                .put_object()
                .bucket(&ctx.bucket)
                .key(&ctx.key)
                .content_md5(&md5_b64)
                .body(ByteStream::from(data.clone()));
            request = with_headers!(request, meta);
            if let Some((algorithm, value)) = &recorded {
                request = match algorithm {
                    ChecksumAlgorithm::Crc32 => request.checksum_crc32(value),
                    ChecksumAlgorithm::Crc32c => request.checksum_crc32_c(value),
                    ChecksumAlgorithm::Crc64Nvme => request.checksum_crc64_nvme(value),
                    ChecksumAlgorithm::Sha1 => request.checksum_sha1(value),
                    ChecksumAlgorithm::Sha256 => request.checksum_sha256(value),
                };
            }
            request.send()
        }))
        .map_err(|f| format!("cannot store {}: {f:?}", ctx.object()))?;
        let kms = output
            .server_side_encryption()
            .is_some_and(|s| s.as_str().starts_with("aws:kms"));
        let etag = output.e_tag().unwrap_or_default().trim_matches('"');
        if !kms && !etag.is_empty() && !etag.eq_ignore_ascii_case(&md5_hex) {
            return Err(format!(
                "{}: the server stored ETag {etag} for data whose MD5 is {md5_hex}",
                ctx.object()
            ));
        }
        Ok(())
    }

    fn finish_multipart(&mut self) -> Result<(), String> {
        if !self.buffer.is_empty() {
            self.send_part()?;
        }
        let mut mp = self.multipart.take().expect("a multipart upload");
        let (md5_hex, sums) = self
            .stream_sum
            .take()
            .expect("objects in parts are checksummed")
            .finish();
        let parts = std::mem::take(&mut mp.parts);
        let upload_id = mp.upload_id.clone();
        let part_md5s = mp.part_md5s.clone();
        // Put it back so that an error below aborts it.
        self.multipart = Some(mp);
        let mut completed = Vec::with_capacity(parts.len());
        for part in parts {
            match block_on(part) {
                Ok(Ok(p)) => completed.push(p),
                Ok(Err(f)) => {
                    return Err(format!("uploading a part of {} failed: {f:?}", self.what()))
                }
                Err(e) => return Err(format!("uploading a part of {} failed: {e}", self.what())),
            }
        }
        self.verify(&md5_hex, &sums)?;
        let ctx = self.ctx.clone();
        let what = format!("CompleteMultipartUpload {}", ctx.object());
        let body = CompletedMultipartUpload::builder()
            .set_parts(Some(completed))
            .build();
        let output = block_on(ctx.send(&what, ctx.timeout_for(self.written >> 4), || {
            ctx.s3
                .client
                .complete_multipart_upload()
                .bucket(&ctx.bucket)
                .key(&ctx.key)
                .upload_id(&upload_id)
                .multipart_upload(body.clone())
                .send()
        }))
        .map_err(|f| format!("cannot complete the upload of {}: {f:?}", ctx.object()))?;
        self.multipart = None;
        let expected_etag = multipart_etag(&part_md5s);
        let etag = output.e_tag().unwrap_or_default().trim_matches('"');
        let kms = output
            .server_side_encryption()
            .is_some_and(|s| s.as_str().starts_with("aws:kms"));
        if !kms && !etag.is_empty() && etag != expected_etag {
            return Err(format!(
                "{}: the server stored ETag {etag}, the parts sent make {expected_etag}",
                ctx.object()
            ));
        }
        let version = output
            .version_id()
            .filter(|v| *v != "null")
            .map(str::to_string);
        if self.meta.has_headers() {
            self.copy_with_headers(version.as_deref())?;
        } else if !self.meta.tags.is_empty() {
            self.put_tags(version.as_deref())?;
        }
        Ok(())
    }

    /// Sets the recorded headers (and tags) by copying the object onto itself; in a
    /// versioned bucket the headerless version is deleted afterwards.
    fn copy_with_headers(&self, version: Option<&str>) -> Result<(), String> {
        let ctx = self.ctx.clone();
        // Tags are set on their own afterwards (Ceph 16 garbles tags given to a copy).
        let headers_only = ObjectMeta {
            tags: Vec::new(),
            ..self.meta.clone()
        };
        let source = ctx.copy_source(version);
        let new_version = if self.written <= MAX_COPY {
            let what = format!("CopyObject {} (metadata)", ctx.object());
            let output = block_on(ctx.send(&what, ctx.timeout_for(self.written), || {
                let request = ctx
                    .s3
                    .client
                    .copy_object()
                    .bucket(&ctx.bucket)
                    .key(&ctx.key)
                    .copy_source(&source)
                    .metadata_directive(MetadataDirective::Replace);
                with_headers!(request, &headers_only).send()
            }))
            .map_err(|f| format!("cannot set the metadata of {}: {f:?}", ctx.object()))?;
            output.version_id().map(str::to_string)
        } else {
            self.multipart_copy(&source, &headers_only)?
        };
        if !self.meta.tags.is_empty() {
            self.put_tags(new_version.as_deref())?;
        }
        if let (Some(old), Some(new)) = (version, new_version.as_deref()) {
            if old != new {
                let what = format!("DELETE {} version {old}", ctx.object());
                block_on(ctx.send(&what, ctx.timeout, || {
                    ctx.s3
                        .client
                        .delete_object()
                        .bucket(&ctx.bucket)
                        .key(&ctx.key)
                        .version_id(old)
                        .send()
                }))
                .map_err(|f| {
                    format!(
                        "{}: restored, but its intermediate version {old} (without metadata) \
                         could not be deleted: {f:?}",
                        ctx.object()
                    )
                })?;
            }
        }
        Ok(())
    }

    /// Copy of an object above 5 GiB: a multipart copy with the recorded headers.
    fn multipart_copy(&self, source: &str, meta: &ObjectMeta) -> Result<Option<String>, String> {
        let ctx = self.ctx.clone();
        let fail = |f: Failure| format!("cannot set the metadata of {}: {f:?}", ctx.object());
        let what = format!("CreateMultipartUpload {} (metadata copy)", ctx.object());
        let created = block_on(ctx.send(&what, ctx.timeout, || {
            let request = ctx
                .s3
                .client
                .create_multipart_upload()
                .bucket(&ctx.bucket)
                .key(&ctx.key);
            with_headers!(request, meta).send()
        }))
        .map_err(fail)?;
        let upload_id = created.upload_id().unwrap_or_default().to_string();
        let part = part_size_for(self.written, self.part_size).max(1 << 30);
        let mut parts = Vec::new();
        let mut start = 0u64;
        let mut number = 1;
        let result = (|| {
            while start < self.written {
                let end = (start + part).min(self.written);
                let what = format!("UploadPartCopy {} part {number}", ctx.object());
                let output = block_on(ctx.send(&what, ctx.timeout_for(end - start), || {
                    ctx.s3
                        .client
                        .upload_part_copy()
                        .bucket(&ctx.bucket)
                        .key(&ctx.key)
                        .upload_id(&upload_id)
                        .part_number(number)
                        .copy_source(source)
                        .copy_source_range(format!("bytes={start}-{}", end - 1))
                        .send()
                }))
                .map_err(fail)?;
                parts.push(
                    CompletedPart::builder()
                        .part_number(number)
                        .set_e_tag(
                            output
                                .copy_part_result()
                                .and_then(|r| r.e_tag())
                                .map(str::to_string),
                        )
                        .build(),
                );
                start = end;
                number += 1;
            }
            let what = format!("CompleteMultipartUpload {} (metadata copy)", ctx.object());
            let body = CompletedMultipartUpload::builder()
                .set_parts(Some(parts.clone()))
                .build();
            let output = block_on(ctx.send(&what, ctx.timeout, || {
                ctx.s3
                    .client
                    .complete_multipart_upload()
                    .bucket(&ctx.bucket)
                    .key(&ctx.key)
                    .upload_id(&upload_id)
                    .multipart_upload(body.clone())
                    .send()
            }))
            .map_err(fail)?;
            Ok(output.version_id().map(str::to_string))
        })();
        if result.is_err() {
            let _ = block_on(
                ctx.s3
                    .client
                    .abort_multipart_upload()
                    .bucket(&ctx.bucket)
                    .key(&ctx.key)
                    .upload_id(&upload_id)
                    .send(),
            );
        }
        result
    }

    fn put_tags(&self, version: Option<&str>) -> Result<(), String> {
        let ctx = self.ctx.clone();
        let tagging = aws_sdk_s3::types::Tagging::builder()
            .set_tag_set(Some(
                self.meta
                    .tags
                    .iter()
                    .filter_map(|(k, v)| {
                        aws_sdk_s3::types::Tag::builder()
                            .key(k)
                            .value(v)
                            .build()
                            .ok()
                    })
                    .collect(),
            ))
            .build()
            .map_err(|e| format!("tags of {}: {e}", ctx.object()))?;
        let what = format!("PUT {}?tagging", ctx.object());
        block_on(ctx.send(&what, ctx.timeout, || {
            ctx.s3
                .client
                .put_object_tagging()
                .bucket(&ctx.bucket)
                .key(&ctx.key)
                .set_version_id(version.map(str::to_string))
                .tagging(tagging.clone())
                .send()
        }))
        .map_err(|f| format!("cannot set the tags of {}: {f:?}", ctx.object()))?;
        Ok(())
    }
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

    /// A recorded delete marker: the key is deleted in the target (a versioned bucket gets a
    /// delete marker of its own), so that the history replays as it happened.
    pub fn delete_marker(&mut self, target: S3Target) -> Result<(), PluginError> {
        self.abandon();
        let (ctx, _) = Ctx::new(target, self.retry_stats.clone(), self.cancel.child_token());
        let what = format!("DELETE {}", ctx.object());
        block_on(ctx.send(&what, ctx.timeout, || {
            ctx.s3
                .client
                .delete_object()
                .bucket(&ctx.bucket)
                .key(&ctx.key)
                .send()
        }))
        .map_err(|f| {
            self.stats.failed.push(ctx.key.clone());
            PluginError::error(format!(
                "s3: cannot replay the deletion of {}: {f:?}",
                ctx.object()
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
        let (ctx, options) = Ctx::new(target, self.retry_stats.clone(), self.cancel.child_token());
        if file.replace != b'a' {
            let what = format!("HEAD {}", ctx.object());
            let existing = block_on(ctx.send(&what, ctx.timeout, || {
                ctx.s3
                    .client
                    .head_object()
                    .bucket(&ctx.bucket)
                    .key(&ctx.key)
                    .send()
            }));
            let existing = match existing {
                Ok(head) => Some(head.last_modified().map(|t| t.secs()).unwrap_or(0)),
                Err(Failure::NotFound) => None,
                Err(f) => {
                    return Err(PluginError::error(format!(
                        "s3: cannot look at {} before restoring it: {f:?}",
                        ctx.object()
                    )))
                }
            };
            if existing.is_some_and(|t| keeps_existing(file.replace, t, file.mtime)) {
                self.stats.unchanged += 1;
                return Ok(CreateStatus::Skip);
            }
        }
        let expected = file.size;
        let part_size = part_size_for(expected.max(0) as u64, options.part_size);
        let max_in_flight = (options.prefetch_bytes / part_size).max(1) as usize;
        self.current = Some(Upload {
            ctx,
            expected,
            part_size,
            max_in_flight,
            buffer: Vec::new(),
            written: 0,
            multipart: None,
            stream_sum: (expected < 0 || expected as u64 > part_size).then(|| {
                StreamChecksum::new(&[
                    ChecksumAlgorithm::Crc32,
                    ChecksumAlgorithm::Crc32c,
                    ChecksumAlgorithm::Crc64Nvme,
                ])
            }),
            meta: ObjectMeta::default(),
            failed: None,
            opened: false,
        });
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
        let key = upload.ctx.key.clone();
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

#[cfg(test)]
mod tests {
    use super::part_size_for;

    #[test]
    fn parts_stay_under_ten_thousand() {
        let mib = 1u64 << 20;
        assert_eq!(part_size_for(100 * mib, 8 * mib), 8 * mib);
        assert_eq!(part_size_for(100 * mib, mib), 5 * mib, "S3's minimum part");
        for size in [80_000 * mib, 1 << 40, 5 << 40] {
            let p = part_size_for(size, 8 * mib);
            assert!(size.div_ceil(p) <= 10_000, "{size} in parts of {p}");
            assert_eq!(p % mib, 0);
        }
    }
}
