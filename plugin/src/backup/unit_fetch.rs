//! One transfer unit: a whole object, or one byte range (part) of a large object, fetched by
//! one GET that is retried, and resumed where it broke off, under the retry policy. Data goes
//! to the reader through a channel, each chunk carrying the budget it occupies until the
//! daemon has read it.

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use aws_sdk_s3::operation::get_object::GetObjectOutput;
use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::ChecksumMode;
use aws_smithy_types::date_time::Format;
use aws_smithy_types::DateTime;
use bytes::Bytes;
use tokio::sync::{mpsc, oneshot, OwnedSemaphorePermit, Semaphore};
use tokio_util::sync::CancellationToken;

use crate::backup::rate::RateLimiter;
use crate::backup::read_ahead::ReadAhead;
use crate::backup::transfer_error::{NotResumed, TransferError};
use crate::metadata::ObjectMeta;
use crate::runtime::{runtime, stream_runtime};
use crate::s3::client::S3;
use crate::s3::direct_get::{BodyError, DirectBody, DirectResponse, GetSpec};
use crate::s3::errors::Failure;
use crate::s3::object::{ObjectHandle, Requests};
use crate::s3::retry::{attempt_within, Attempt, RetryPolicy, RetryStats};

/// What every unit of a job shares.
pub struct Shared {
    pub s3: S3,
    pub bucket: String,
    pub read_timeout: Duration,
    pub retry: RetryPolicy,
    pub stats: Arc<RetryStats>,
    /// One permit per request in flight (`concurrency`).
    pub slots: Arc<Semaphore>,
    pub rate: Option<Arc<RateLimiter>>,
    /// How fast parts stream, which sets how many are fetched at once.
    pub read_ahead: Arc<ReadAhead>,
}

/// Response head of an object's first unit.
#[derive(Debug, Clone)]
pub struct Head {
    /// The object's total size.
    pub size: i64,
    pub etag: Option<String>,
    pub mtime: Option<i64>,
    /// Headers, tags and checksums, recorded with the file.
    pub meta: ObjectMeta,
}

/// Where a unit's bytes may be held until read.
pub enum Budget {
    /// Reserved from the job's budget beforehand: exactly the unit's length.
    Reserved(OwnedSemaphorePermit),
    /// A private sliding window (objects fetched on demand, or without an ETag to pin parts).
    Window(Arc<Semaphore>),
}

/// What to fetch.
pub struct UnitSpec {
    pub key: String,
    /// Bytes `[start, end)` of the object; `None`: the whole object.
    pub range: Option<(u64, u64)>,
    /// The version to read (ETag), if pinned.
    pub if_match: Option<String>,
    /// The version to read by id (`versions=yes`).
    pub version_id: Option<String>,
}

pub struct Chunk {
    pub bytes: Bytes,
    _budget: Option<OwnedSemaphorePermit>,
}

#[cfg(test)]
impl Chunk {
    /// A chunk outside any budget.
    pub(crate) fn unbudgeted(bytes: &[u8]) -> Chunk {
        Chunk {
            bytes: Bytes::copy_from_slice(bytes),
            _budget: None,
        }
    }
}

/// The reader's end of a unit.
pub struct UnitHandle {
    pub head: Option<oneshot::Receiver<Result<Head, Failure>>>,
    pub chunks: mpsc::Receiver<Result<Chunk, TransferError>>,
    /// Length of a ranged unit (checked by the reader).
    pub len: Option<u64>,
}

struct UnitTask {
    shared: Arc<Shared>,
    spec: UnitSpec,
    budget: Budget,
    cancel: CancellationToken,
    head: Option<oneshot::Sender<Result<Head, Failure>>>,
    chunks: mpsc::Sender<Result<Chunk, TransferError>>,
}

/// A unit whose reader end exists but whose transfer has not started (it waits for budget).
pub struct UnitStarter {
    spec: UnitSpec,
    head: Option<oneshot::Sender<Result<Head, Failure>>>,
    chunks: mpsc::Sender<Result<Chunk, TransferError>>,
}

/// Creates a unit's two ends. `with_head`: the first unit of an object reports the head.
pub fn prepare(spec: UnitSpec, with_head: bool) -> (UnitHandle, UnitStarter) {
    let (head_tx, head) = oneshot::channel();
    // The budget bounds memory; the channel only needs room for the chunks that fit in it.
    let (chunk_tx, chunks) = mpsc::channel(4096);
    let handle = UnitHandle {
        head: with_head.then_some(head),
        chunks,
        len: spec.range.map(|(a, b)| b - a),
    };
    let starter = UnitStarter {
        spec,
        head: with_head.then_some(head_tx),
        chunks: chunk_tx,
    };
    (handle, starter)
}

impl UnitStarter {
    pub fn spec(&self) -> &UnitSpec {
        &self.spec
    }

    /// Starts the transfer (unless the reader gave the object up already): a part of a large
    /// object on the stream runtime, anything else on the request runtime.
    pub fn start(self, shared: Arc<Shared>, budget: Budget, cancel: CancellationToken) {
        if self.chunks.is_closed() {
            return;
        }
        let is_part = self.spec.range.is_some();
        let task = UnitTask {
            shared,
            spec: self.spec,
            budget,
            cancel,
            head: self.head,
            chunks: self.chunks,
        };
        if is_part {
            stream_runtime().spawn(task.run());
        } else {
            runtime().spawn(task.run());
        }
    }
}

/// Prepares and starts a unit at once.
pub fn spawn(
    shared: Arc<Shared>,
    spec: UnitSpec,
    budget: Budget,
    cancel: CancellationToken,
    with_head: bool,
) -> UnitHandle {
    let (handle, starter) = prepare(spec, with_head);
    starter.start(shared, budget, cancel);
    handle
}

/// `bytes a-b/total` → (a, b, total).
fn content_range(value: Option<&str>) -> Option<(u64, u64, u64)> {
    let rest = value?.strip_prefix("bytes ")?;
    let (range, total) = rest.split_once('/')?;
    let (a, b) = range.split_once('-')?;
    Some((a.parse().ok()?, b.parse().ok()?, total.parse().ok()?))
}

/// A GET's answer, from the direct path or the SDK's.
struct Got {
    content_length: Option<i64>,
    content_range: Option<String>,
    etag: Option<String>,
    last_modified: Option<i64>,
    /// The object's headers, when the request was the object's first, whole unit.
    meta: Option<ObjectMeta>,
    body: Body,
}

enum Body {
    Direct(DirectBody),
    Sdk(ByteStream),
}

impl Body {
    async fn next(&mut self) -> Option<Result<Bytes, BodyError>> {
        match self {
            Body::Direct(body) => body.next().await,
            Body::Sdk(stream) => stream
                .next()
                .await
                .map(|r| r.map_err(|e| BodyError::Broken(crate::s3::errors::chain(&e)))),
        }
    }
}

impl Got {
    fn from_direct(response: DirectResponse, with_meta: bool) -> Got {
        let headers = &response.headers;
        let text = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
        Got {
            content_length: text("content-length").and_then(|v| v.parse().ok()),
            content_range: text("content-range").map(str::to_string),
            etag: text("etag").map(str::to_string),
            last_modified: text("last-modified")
                .and_then(|v| DateTime::from_str(v, Format::HttpDate).ok())
                .map(|t| t.secs()),
            meta: with_meta.then(|| ObjectMeta::from_headers(headers)),
            body: Body::Direct(response.body),
        }
    }

    fn from_sdk(output: GetObjectOutput, with_meta: bool) -> Got {
        Got {
            content_length: output.content_length(),
            content_range: output.content_range().map(str::to_string),
            etag: output.e_tag().map(str::to_string),
            last_modified: output.last_modified().map(|t| t.secs()),
            meta: with_meta.then(|| ObjectMeta::from_get(&output)),
            body: Body::Sdk(output.body),
        }
    }
}

impl UnitTask {
    async fn run(mut self) {
        let cancel = self.cancel.clone();
        tokio::select! {
            _ = cancel.cancelled() => {}
            _ = self.transfer() => {}
        }
    }

    fn what(&self) -> String {
        match self.spec.range {
            Some((a, b)) => format!(
                "GET s3://{}/{} bytes {a}-{}",
                self.shared.bucket,
                self.spec.key,
                b - 1
            ),
            None => format!("GET s3://{}/{}", self.shared.bucket, self.spec.key),
        }
    }

    /// One GET attempt for bytes `[from, to)` (`to` None: to the end), pinned to `etag`.
    async fn get(
        &self,
        from: Option<u64>,
        to: Option<u64>,
        etag: Option<String>,
    ) -> Result<Got, Attempt> {
        let range = match (from, to) {
            (Some(a), Some(b)) => Some(format!("bytes={a}-{}", b - 1)),
            (Some(a), None) => Some(format!("bytes={a}-")),
            _ => None,
        };
        // The object's headers and additional checksum are recorded from its first, whole GET
        // (a ranged GET has no checksum: the first part's HEAD gives them).
        let first_whole = self.head.is_some() && self.spec.range.is_none();
        let shared = &self.shared;
        if let Some(direct) = shared.s3.direct_for(&shared.bucket) {
            let spec = GetSpec {
                key: &self.spec.key,
                range,
                if_match: etag.as_deref(),
                version_id: self.spec.version_id.as_deref(),
                checksum_mode: first_whole,
            };
            let response = direct.get(&spec, shared.read_timeout).await?;
            return Ok(Got::from_direct(response, first_whole));
        }
        let mut request = shared
            .s3
            .client
            .get_object()
            .bucket(&shared.bucket)
            .key(&self.spec.key)
            .set_range(range)
            .set_if_match(etag)
            .set_version_id(self.spec.version_id.clone());
        if first_whole {
            request = request.checksum_mode(ChecksumMode::Enabled);
        }
        let output = attempt_within(shared.read_timeout, request.send()).await?;
        Ok(Got::from_sdk(output, first_whole))
    }

    async fn fail(&mut self, failure: Failure, error: TransferError) {
        match self.head.take() {
            Some(head) => {
                let _ = head.send(Err(failure));
            }
            None => {
                let _ = self.chunks.send(Err(error)).await;
            }
        }
    }

    /// Hands `bytes` to the reader; false if the reader is gone or the unit over-delivers.
    async fn deliver(&mut self, bytes: Bytes) -> Result<bool, TransferError> {
        if let Some(rate) = &self.shared.rate {
            rate.take(bytes.len()).await;
        }
        let permit = match &mut self.budget {
            Budget::Reserved(reserved) => Some(reserved.split(bytes.len()).ok_or_else(|| {
                TransferError::Corrupt("the server sent more data than the object's size".into())
            })?),
            Budget::Window(window) => {
                let n = bytes.len().min(u32::MAX as usize) as u32;
                match window.clone().acquire_many_owned(n).await {
                    Ok(p) => Some(p),
                    Err(_) => return Ok(false),
                }
            }
        };
        Ok(self
            .chunks
            .send(Ok(Chunk {
                bytes,
                _budget: permit,
            }))
            .await
            .is_ok())
    }

    async fn transfer(&mut self) {
        let Ok(_slot) = self.shared.slots.clone().acquire_owned().await else {
            return;
        };
        let requested = Instant::now();
        let what = self.what();
        let shared = self.shared.clone();
        let (start, end) = match self.spec.range {
            Some((a, b)) => (Some(a), Some(b)),
            None => (None, None),
        };
        let this = &*self;
        let first = shared
            .retry
            .run(&what, &self.cancel, &shared.stats, move || {
                this.get(start, end, this.spec.if_match.clone())
            })
            .await;
        let mut output = match first {
            Ok(output) => output,
            Err(failure) => {
                let error = TransferError::from(failure.clone());
                self.fail(failure, error).await;
                return;
            }
        };
        // The object's size and the part of it this unit covers.
        let (total, begin, len) = match self.spec.range {
            Some((a, b)) => match content_range(output.content_range.as_deref()) {
                Some((s, e, t)) if s == a && e + 1 == b => (t as i64, a, b - a),
                other => {
                    let got = match other {
                        Some((s, e, t)) => format!("bytes {s}-{e}/{t}"),
                        None => "no range".to_string(),
                    };
                    let m = format!("{what}: the server answered with range {got}");
                    self.fail(Failure::Other(m.clone()), TransferError::Corrupt(m))
                        .await;
                    return;
                }
            },
            None => {
                let size = output.content_length.unwrap_or(-1);
                (size, 0, size.max(0) as u64)
            }
        };
        let etag = output.etag.clone().or_else(|| self.spec.if_match.clone());
        if let Some(tx) = self.head.take() {
            let meta = match self.metadata(output.meta.take(), etag.clone()).await {
                Ok(meta) => meta,
                Err(failure) => {
                    let _ = tx.send(Err(failure));
                    return;
                }
            };
            let head = Head {
                size: total,
                etag: etag.clone(),
                mtime: output.last_modified,
                meta,
            };
            if tx.send(Ok(head)).is_err() {
                return; // nobody wants this object any more
            }
        }
        let whole = self.stream(output, &what, total, begin, len, etag).await;
        if whole && self.spec.range.is_some() {
            shared.read_ahead.part_done(len, requested.elapsed());
        }
    }

    /// The object's metadata: the GET's headers (a HEAD's for a ranged first unit, which has
    /// no checksum), and its tags if it has any.
    async fn metadata(
        &self,
        from_get: Option<ObjectMeta>,
        etag: Option<String>,
    ) -> Result<ObjectMeta, Failure> {
        let shared = &self.shared;
        let object = ObjectHandle::new(
            Requests {
                s3: shared.s3.clone(),
                retry: shared.retry.clone(),
                stats: shared.stats.clone(),
                timeout: shared.read_timeout,
                cancel: self.cancel.clone(),
            },
            shared.bucket.clone(),
            self.spec.key.clone(),
        );
        let version = self.spec.version_id.as_deref();
        let mut meta = match from_get {
            Some(meta) => meta,
            None => ObjectMeta::from_head(&object.head(version, etag.as_deref(), true).await?),
        };
        if meta.tag_count > 0 {
            meta.tags = object.tags(meta.version_id.as_deref()).await?;
        }
        Ok(meta)
    }

    /// Streams the body, resuming from the first byte not delivered when it breaks. `true`:
    /// the body came whole from the first response.
    async fn stream(
        &mut self,
        output: Got,
        what: &str,
        total: i64,
        begin: u64,
        len: u64,
        etag: Option<String>,
    ) -> bool {
        let shared = self.shared.clone();
        let timeout = shared.read_timeout;
        let mut body = output.body;
        let mut delivered: u64 = 0;
        let mut failures_since_progress: u32 = 0;
        let mut resumed = false;
        loop {
            let broken = match tokio::time::timeout(timeout, body.next()).await {
                Ok(Some(Ok(bytes))) => {
                    let n = bytes.len() as u64;
                    match self.deliver(bytes).await {
                        Ok(true) => {}
                        Ok(false) => return false,
                        Err(error) => {
                            let _ = self.chunks.send(Err(error)).await;
                            return false;
                        }
                    }
                    delivered += n;
                    failures_since_progress = 0;
                    continue;
                }
                Ok(None) if total < 0 || delivered >= len => return !resumed, // complete
                Ok(None) => format!("the body ended after {delivered} of {len} bytes"),
                Ok(Some(Err(BodyError::Broken(e)))) => format!("the body broke off: {e}"),
                Ok(Some(Err(BodyError::Corrupt(e)))) => {
                    // Wrong data was delivered already: nothing to resume.
                    let _ = self.chunks.send(Err(TransferError::Corrupt(e))).await;
                    return false;
                }
                Err(_) => format!("no data for {} s", timeout.as_secs()),
            };
            let Some(etag) = etag.clone().filter(|_| total >= 0) else {
                let why = NotResumed::NoEtag;
                let _ = self
                    .chunks
                    .send(Err(TransferError::NotResumed { broken, why }))
                    .await;
                return false;
            };
            if failures_since_progress >= shared.retry.retries {
                let why = NotResumed::GaveUp(failures_since_progress);
                let _ = self
                    .chunks
                    .send(Err(TransferError::NotResumed { broken, why }))
                    .await;
                return false;
            }
            let wait = shared.retry.backoff(failures_since_progress);
            failures_since_progress += 1;
            shared.stats.retries.fetch_add(1, Ordering::Relaxed);
            let from = begin + delivered;
            let to = begin + len;
            log::debug!(
                "{what}: {broken}; resuming at byte {from} in {:.1} s",
                wait.as_secs_f64()
            );
            tokio::time::sleep(wait).await;
            let this = &*self;
            let pinned = &etag;
            let resumed_output = shared
                .retry
                .run(what, &self.cancel, &shared.stats, move || {
                    this.get(Some(from), Some(to), Some(pinned.clone()))
                })
                .await;
            let why = match resumed_output {
                Ok(output) => {
                    let expected = (from, to - 1, total as u64);
                    if content_range(output.content_range.as_deref()) == Some(expected) {
                        if !resumed {
                            resumed = true;
                            shared.stats.resumed.fetch_add(1, Ordering::Relaxed);
                        }
                        body = output.body;
                        continue;
                    }
                    NotResumed::WrongRange {
                        got: output.content_range,
                        from,
                        to: to - 1,
                    }
                }
                Err(failure) => NotResumed::from(failure),
            };
            let _ = self
                .chunks
                .send(Err(TransferError::NotResumed { broken, why }))
                .await;
            return false;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::content_range;

    #[test]
    fn parses_content_range() {
        assert_eq!(content_range(Some("bytes 0-9/100")), Some((0, 9, 100)));
        assert_eq!(content_range(Some("bytes */100")), None);
        assert_eq!(content_range(None), None);
    }
}
