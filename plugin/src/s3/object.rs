//! One object of a bucket and the typed S3 operations on it (HEAD, PUT, multipart upload,
//! copy, tagging, DELETE), each one request under the job's retry policy. Callers say what
//! they want done; how the SDK request is built, retried and timed out is said here once.
//! (The data path's GET, which resumes broken bodies, lives in `backup::unit_fetch`.)

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use aws_sdk_s3::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_s3::operation::complete_multipart_upload::CompleteMultipartUploadOutput;
use aws_sdk_s3::operation::head_object::HeadObjectOutput;
use aws_sdk_s3::operation::put_object::PutObjectOutput;
use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::{
    ChecksumMode, CompletedMultipartUpload, CompletedPart, MetadataDirective, StorageClass, Tag,
    Tagging,
};
use aws_smithy_runtime_api::client::orchestrator::HttpResponse;
use aws_smithy_types::date_time::Format;
use aws_smithy_types::DateTime;
use bytes::Bytes;
use percent_encoding::{utf8_percent_encode, AsciiSet, NON_ALPHANUMERIC};
use tokio_util::sync::CancellationToken;

use crate::metadata::{encode_tags, ChecksumAlgorithm, ObjectMeta};
use crate::s3::client::S3;
use crate::s3::errors::Failure;
use crate::s3::retry::{RetryPolicy, RetryStats};

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

/// An object (`bucket`/`key`) of a job's client, with the job's retry policy and counters.
#[derive(Clone)]
pub(crate) struct ObjectHandle {
    s3: S3,
    pub bucket: String,
    pub key: String,
    retry: RetryPolicy,
    stats: Arc<RetryStats>,
    /// Time for a request to answer (`read_timeout`); requests carrying data get more.
    pub timeout: Duration,
    cancel: CancellationToken,
}

/// Who sends an object's requests: the job's client, policy, counters and cancellation.
pub(crate) struct Requests {
    pub s3: S3,
    pub retry: RetryPolicy,
    pub stats: Arc<RetryStats>,
    pub timeout: Duration,
    pub cancel: CancellationToken,
}

/// A recorded checksum to send with a PUT (the server verifies it).
pub(crate) type RecordedChecksum = (ChecksumAlgorithm, String);

impl ObjectHandle {
    pub fn new(requests: Requests, bucket: String, key: String) -> Self {
        ObjectHandle {
            s3: requests.s3,
            bucket,
            key,
            retry: requests.retry,
            stats: requests.stats,
            timeout: requests.timeout,
            cancel: requests.cancel,
        }
    }

    /// Where the job's credentials come from, for messages (never a key or secret).
    pub fn credential_source(&self) -> &str {
        &self.s3.credential_source
    }

    /// `s3://bucket/key`, for messages.
    pub fn uri(&self) -> String {
        format!("s3://{}/{}", self.bucket, self.key)
    }

    /// The same object with requests a cancelled job still sends (an abort it owes the
    /// bucket).
    pub fn uncancellable(&self) -> Self {
        ObjectHandle {
            cancel: CancellationToken::new(),
            ..self.clone()
        }
    }

    /// Time allowed for a request carrying `bytes` (at least 1 MiB/s).
    pub fn timeout_for(&self, bytes: u64) -> Duration {
        self.timeout.max(Duration::from_secs(bytes >> 20))
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

    /// HEAD, of a version and pinned to an ETag when given; `checksum`: with the additional
    /// checksum (which, for an SSE-KMS object, needs `kms:Decrypt` on AWS).
    pub async fn head(
        &self,
        version: Option<&str>,
        if_match: Option<&str>,
        checksum: bool,
    ) -> Result<HeadObjectOutput, Failure> {
        let what = format!("HEAD {}", self.uri());
        self.send(&what, self.timeout, || {
            self.s3
                .client
                .head_object()
                .bucket(&self.bucket)
                .key(&self.key)
                .set_version_id(version.map(str::to_string))
                .set_if_match(if_match.map(str::to_string))
                .set_checksum_mode(checksum.then_some(ChecksumMode::Enabled))
                .send()
        })
        .await
    }

    /// PUT of the whole object with its recorded headers and tags, `Content-MD5` and the
    /// recorded additional checksum.
    pub async fn put(
        &self,
        data: Bytes,
        md5_b64: &str,
        meta: &ObjectMeta,
        checksum: Option<&RecordedChecksum>,
    ) -> Result<PutObjectOutput, Failure> {
        let what = format!("PUT {}", self.uri());
        self.send(&what, self.timeout_for(data.len() as u64), || {
            let mut request = self
                .s3
                .client
                .put_object()
                .bucket(&self.bucket)
                .key(&self.key)
                .content_md5(md5_b64)
                .body(ByteStream::from(data.clone()));
            request = with_headers!(request, meta);
            if let Some((algorithm, value)) = checksum {
                request = match algorithm {
                    ChecksumAlgorithm::Crc32 => request.checksum_crc32(value),
                    ChecksumAlgorithm::Crc32c => request.checksum_crc32_c(value),
                    ChecksumAlgorithm::Crc64Nvme => request.checksum_crc64_nvme(value),
                    ChecksumAlgorithm::Sha1 => request.checksum_sha1(value),
                    ChecksumAlgorithm::Sha256 => request.checksum_sha256(value),
                };
            }
            request.send()
        })
        .await
    }

    /// Starts a multipart upload (with the recorded headers, when given); its upload id.
    pub async fn create_multipart(&self, meta: Option<&ObjectMeta>) -> Result<String, Failure> {
        let what = format!("CreateMultipartUpload {}", self.uri());
        let created = self
            .send(&what, self.timeout, || {
                let request = self
                    .s3
                    .client
                    .create_multipart_upload()
                    .bucket(&self.bucket)
                    .key(&self.key);
                match meta {
                    Some(meta) => with_headers!(request, meta).send(),
                    None => request.send(),
                }
            })
            .await?;
        created
            .upload_id()
            .map(str::to_string)
            .ok_or_else(|| Failure::Other("the server gave no upload id".into()))
    }

    /// Uploads part `number` of an upload, with its `Content-MD5`.
    pub async fn upload_part(
        &self,
        upload_id: &str,
        number: i32,
        data: Bytes,
        md5_b64: &str,
    ) -> Result<CompletedPart, Failure> {
        let what = format!("UploadPart {} part {number}", self.uri());
        let output = self
            .send(&what, self.timeout_for(data.len() as u64), || {
                self.s3
                    .client
                    .upload_part()
                    .bucket(&self.bucket)
                    .key(&self.key)
                    .upload_id(upload_id)
                    .part_number(number)
                    .content_md5(md5_b64)
                    .body(ByteStream::from(data.clone()))
                    .send()
            })
            .await?;
        Ok(CompletedPart::builder()
            .part_number(number)
            .set_e_tag(output.e_tag().map(str::to_string))
            .build())
    }

    /// Part `number` of an upload copied from bytes `[start, end)` of `source`.
    pub async fn upload_part_copy(
        &self,
        upload_id: &str,
        number: i32,
        source: &str,
        (start, end): (u64, u64),
    ) -> Result<CompletedPart, Failure> {
        let what = format!("UploadPartCopy {} part {number}", self.uri());
        let output = self
            .send(&what, self.timeout_for(end - start), || {
                self.s3
                    .client
                    .upload_part_copy()
                    .bucket(&self.bucket)
                    .key(&self.key)
                    .upload_id(upload_id)
                    .part_number(number)
                    .copy_source(source)
                    .copy_source_range(format!("bytes={start}-{}", end - 1))
                    .send()
            })
            .await?;
        Ok(CompletedPart::builder()
            .part_number(number)
            .set_e_tag(
                output
                    .copy_part_result()
                    .and_then(|r| r.e_tag())
                    .map(str::to_string),
            )
            .build())
    }

    /// Completes an upload from its parts; `bytes` (the object's size) sizes the time allowed.
    pub async fn complete_multipart(
        &self,
        upload_id: &str,
        parts: Vec<CompletedPart>,
        bytes: u64,
    ) -> Result<CompleteMultipartUploadOutput, Failure> {
        let what = format!("CompleteMultipartUpload {}", self.uri());
        let body = CompletedMultipartUpload::builder()
            .set_parts(Some(parts))
            .build();
        self.send(&what, self.timeout_for(bytes >> 4), || {
            self.s3
                .client
                .complete_multipart_upload()
                .bucket(&self.bucket)
                .key(&self.key)
                .upload_id(upload_id)
                .multipart_upload(body.clone())
                .send()
        })
        .await
    }

    /// Aborts an upload, so that none of its parts stays behind.
    pub async fn abort_multipart(&self, upload_id: &str) -> Result<(), Failure> {
        let what = format!("AbortMultipartUpload {}", self.uri());
        self.send(&what, self.timeout, || {
            self.s3
                .client
                .abort_multipart_upload()
                .bucket(&self.bucket)
                .key(&self.key)
                .upload_id(upload_id)
                .send()
        })
        .await
        .map(drop)
    }

    /// The object (a version of it) copied onto itself with the recorded headers (without its
    /// tags); the new version's id.
    pub async fn copy_onto_itself(
        &self,
        version: Option<&str>,
        size: u64,
        meta: &ObjectMeta,
    ) -> Result<Option<String>, Failure> {
        let what = format!("CopyObject {} (metadata)", self.uri());
        let source = self.copy_source(version);
        let output = self
            .send(&what, self.timeout_for(size), || {
                let request = self
                    .s3
                    .client
                    .copy_object()
                    .bucket(&self.bucket)
                    .key(&self.key)
                    .copy_source(&source)
                    .metadata_directive(MetadataDirective::Replace);
                with_headers!(request, meta).send()
            })
            .await?;
        Ok(output.version_id().map(str::to_string))
    }

    /// The tags of the object (a version of it).
    pub async fn tags(&self, version: Option<&str>) -> Result<Vec<(String, String)>, Failure> {
        let what = format!("GET {}?tagging", self.uri());
        let tagging = self
            .send(&what, self.timeout, || {
                self.s3
                    .client
                    .get_object_tagging()
                    .bucket(&self.bucket)
                    .key(&self.key)
                    .set_version_id(version.map(str::to_string))
                    .send()
            })
            .await?;
        Ok(tagging
            .tag_set()
            .iter()
            .map(|t| (t.key().to_string(), t.value().to_string()))
            .collect())
    }

    /// Sets the object's (a version's) tags.
    pub async fn put_tags(
        &self,
        version: Option<&str>,
        tags: &[(String, String)],
    ) -> Result<(), Failure> {
        let tagging = Tagging::builder()
            .set_tag_set(Some(
                tags.iter()
                    .filter_map(|(k, v)| Tag::builder().key(k).value(v).build().ok())
                    .collect(),
            ))
            .build()
            .map_err(|e| Failure::Other(format!("tags: {e}")))?;
        let what = format!("PUT {}?tagging", self.uri());
        self.send(&what, self.timeout, || {
            self.s3
                .client
                .put_object_tagging()
                .bucket(&self.bucket)
                .key(&self.key)
                .set_version_id(version.map(str::to_string))
                .tagging(tagging.clone())
                .send()
        })
        .await
        .map(drop)
    }

    /// DELETE of the object (a version of it; in a versioned bucket without a version, a
    /// delete marker).
    pub async fn delete(&self, version: Option<&str>) -> Result<(), Failure> {
        let what = match version {
            Some(v) => format!("DELETE {} version {v}", self.uri()),
            None => format!("DELETE {}", self.uri()),
        };
        self.send(&what, self.timeout, || {
            self.s3
                .client
                .delete_object()
                .bucket(&self.bucket)
                .key(&self.key)
                .set_version_id(version.map(str::to_string))
                .send()
        })
        .await
        .map(drop)
    }

    /// `bucket/key[?versionId=v]`, percent-encoded, as CopySource wants it.
    pub fn copy_source(&self, version: Option<&str>) -> String {
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
