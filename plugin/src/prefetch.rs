//! The prefetch stage: a task on the I/O runtime walks the listing and starts the GETs of the
//! objects that will need data, up to `concurrency` at once, while the daemon's job thread
//! consumes the objects strictly in listing order.
//!
//! Memory is bounded: every object in flight has its own byte window
//! (`prefetch_bytes / concurrency`); its body task waits once the window is full until the
//! job thread has copied data out. The listing runs at most `ITEM_QUEUE` objects ahead.
//! Cancelling the job (or dropping the pipeline) stops every task and wakes the job thread.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use tokio::sync::{mpsc, oneshot, OwnedSemaphorePermit, Semaphore};
use tokio_util::sync::CancellationToken;

use aws_sdk_s3::operation::get_object::GetObjectOutput;

use crate::client::S3;
use crate::listing::{Listed, Pages};
use crate::retry::{Attempt, RetryPolicy, RetryStats};
use crate::runtime::runtime;
use crate::s3_errors::{attempt, Failure};

/// Objects listed ahead of the job thread at most (each is a few hundred bytes).
const ITEM_QUEUE: usize = 2000;

#[derive(Clone)]
pub struct PrefetchConfig {
    pub bucket: String,
    pub prefix: String,
    pub start_after: Option<String>,
    pub end_at: Option<String>,
    pub concurrency: usize,
    /// Byte window of each object in flight.
    pub window: usize,
    pub read_timeout: Duration,
    pub retry: RetryPolicy,
    pub stats: Arc<RetryStats>,
}

/// One listed object, with its GET already under way if it will need data.
pub struct Prepared {
    pub object: Listed,
    pub body: Option<PendingBody>,
}

/// Response head of a GET.
#[derive(Debug, Clone)]
pub struct Head {
    pub size: i64,
    pub etag: Option<String>,
    pub mtime: Option<i64>,
}

/// A GET in flight: its head, then its body in chunks.
pub struct PendingBody {
    head: Option<oneshot::Receiver<Result<Head, Failure>>>,
    chunks: mpsc::Receiver<Result<Chunk, String>>,
}

struct Chunk {
    bytes: Bytes,
    _window: OwnedSemaphorePermit,
}

/// A listing failure, ending the stream.
#[derive(Debug, Clone)]
pub struct ListingFailed(pub Failure);

pub struct Pipeline {
    items: mpsc::Receiver<Result<Prepared, ListingFailed>>,
    peeked: Option<Result<Prepared, ListingFailed>>,
    config: PrefetchConfig,
    s3: S3,
    cancel: CancellationToken,
}

impl Pipeline {
    /// Starts listing; `wants_data` decides per object whether to start its GET now.
    pub fn start(
        s3: S3,
        config: PrefetchConfig,
        cancel: CancellationToken,
        wants_data: impl Fn(&Listed) -> bool + Send + 'static,
    ) -> Pipeline {
        let (tx, items) = mpsc::channel(ITEM_QUEUE);
        let task = ListTask {
            pages: Pages::new(
                s3.clone(),
                config.retry.clone(),
                config.stats.clone(),
                cancel.clone(),
                &config.bucket,
                &config.prefix,
                config.start_after.clone(),
                config.end_at.clone(),
            ),
            s3: s3.clone(),
            config: config.clone(),
            slots: Arc::new(Semaphore::new(config.concurrency)),
            cancel: cancel.clone(),
            tx,
        };
        runtime().spawn(task.run(wants_data));
        Pipeline {
            items,
            peeked: None,
            config,
            s3,
            cancel,
        }
    }

    /// The next object in listing order (blocks the job thread). `None`: listing complete,
    /// or the job was cancelled (check the cancel token).
    pub fn next_object(&mut self) -> Option<Result<Prepared, ListingFailed>> {
        self.peeked.take().or_else(|| self.items.blocking_recv())
    }

    /// The next object without taking it (blocks until the listing says).
    pub fn peek(&mut self) -> Option<&Result<Prepared, ListingFailed>> {
        if self.peeked.is_none() {
            self.peeked = self.items.blocking_recv();
        }
        self.peeked.as_ref()
    }

    /// Whether another object follows.
    pub fn has_more(&mut self) -> bool {
        self.peek().is_some()
    }

    /// Starts the GET of an object the prefetcher did not fetch.
    pub fn fetch_now(&self, key: &str) -> PendingBody {
        let (body, task) = GetTask::new(
            self.s3.clone(),
            self.config.clone(),
            key.to_string(),
            None,
            self.cancel.child_token(),
        );
        runtime().spawn(task.run());
        body
    }
}

impl Drop for Pipeline {
    fn drop(&mut self) {
        self.cancel.cancel();
    }
}

struct ListTask {
    pages: Pages,
    s3: S3,
    config: PrefetchConfig,
    /// One permit per GET in flight.
    slots: Arc<Semaphore>,
    cancel: CancellationToken,
    tx: mpsc::Sender<Result<Prepared, ListingFailed>>,
}

impl ListTask {
    async fn run(mut self, wants_data: impl Fn(&Listed) -> bool) {
        loop {
            let page = tokio::select! {
                _ = self.cancel.cancelled() => return,
                page = self.pages.next_page() => page,
            };
            let page = match page {
                Ok(Some(page)) => {
                    log::debug!(
                        "listed {} keys of s3://{}/{} (more: {})",
                        page.objects.len(),
                        self.config.bucket,
                        self.config.prefix,
                        page.next.is_some()
                    );
                    page
                }
                Ok(None) => return,
                Err(failure) => {
                    let _ = self.tx.send(Err(ListingFailed(failure))).await;
                    return;
                }
            };
            for object in page.objects {
                let body = if wants_data(&object) {
                    let slot = tokio::select! {
                        _ = self.cancel.cancelled() => return,
                        slot = self.slots.clone().acquire_owned() => slot,
                    };
                    let Ok(slot) = slot else { return };
                    let (body, task) = GetTask::new(
                        self.s3.clone(),
                        self.config.clone(),
                        object.key.clone(),
                        Some(slot),
                        self.cancel.child_token(),
                    );
                    tokio::spawn(task.run());
                    Some(body)
                } else {
                    None
                };
                let sent = tokio::select! {
                    _ = self.cancel.cancelled() => return,
                    sent = self.tx.send(Ok(Prepared { object, body })) => sent,
                };
                if sent.is_err() {
                    return; // the job thread is gone
                }
            }
        }
    }
}

struct GetTask {
    s3: S3,
    config: PrefetchConfig,
    key: String,
    _slot: Option<OwnedSemaphorePermit>,
    cancel: CancellationToken,
    head: Option<oneshot::Sender<Result<Head, Failure>>>,
    chunks: mpsc::Sender<Result<Chunk, String>>,
    window: Arc<Semaphore>,
}

impl GetTask {
    fn new(
        s3: S3,
        config: PrefetchConfig,
        key: String,
        slot: Option<OwnedSemaphorePermit>,
        cancel: CancellationToken,
    ) -> (PendingBody, GetTask) {
        let (head_tx, head) = oneshot::channel();
        // The byte window bounds memory; the channel only needs room for its chunks.
        let (chunk_tx, chunks) = mpsc::channel(1024);
        let window = Arc::new(Semaphore::new(config.window));
        (
            PendingBody {
                head: Some(head),
                chunks,
            },
            GetTask {
                s3,
                config,
                key,
                _slot: slot,
                cancel,
                head: Some(head_tx),
                chunks: chunk_tx,
                window,
            },
        )
    }

    async fn run(mut self) {
        let cancel = self.cancel.clone();
        tokio::select! {
            _ = cancel.cancelled() => {}
            _ = self.transfer() => {}
        }
    }

    /// One GET attempt: from byte `from` (ranged) pinned to `etag` when resuming.
    fn get(
        &self,
        from: Option<u64>,
        etag: Option<String>,
    ) -> impl std::future::Future<Output = Result<GetObjectOutput, Attempt>> + use<> {
        let mut request = self
            .s3
            .client
            .get_object()
            .bucket(&self.config.bucket)
            .key(&self.key);
        if let Some(from) = from {
            request = request.range(format!("bytes={from}-"));
        }
        if let Some(etag) = etag {
            request = request.if_match(etag);
        }
        let timeout = self.config.read_timeout;
        async move {
            match tokio::time::timeout(timeout, request.send()).await {
                Err(_) => Err(Attempt::Retry {
                    failure: Failure::Unreachable(format!(
                        "no response within {} s",
                        timeout.as_secs()
                    )),
                    after: None,
                }),
                Ok(Err(e)) => Err(attempt(&e)),
                Ok(Ok(output)) => Ok(output),
            }
        }
    }

    async fn fail_body(&self, message: String) {
        let _ = self.chunks.send(Err(message)).await;
    }

    async fn transfer(&mut self) {
        let what = format!("GET s3://{}/{}", self.config.bucket, self.key);
        let (retry, stats) = (self.config.retry.clone(), self.config.stats.clone());
        let first = retry
            .run(&what, &self.cancel, &stats, || self.get(None, None))
            .await;
        let output = match first {
            Ok(output) => output,
            Err(failure) => {
                if let Some(head) = self.head.take() {
                    let _ = head.send(Err(failure));
                }
                return;
            }
        };
        log::trace!("{what}: response head received");
        let head = Head {
            size: output.content_length().unwrap_or(-1),
            etag: output.e_tag().map(str::to_string),
            mtime: output.last_modified().map(|t| t.secs()),
        };
        let (size, etag) = (head.size, head.etag.clone());
        if let Some(tx) = self.head.take() {
            if tx.send(Ok(head)).is_err() {
                return; // nobody wants this body any more
            }
        }
        let timeout = self.config.read_timeout;
        let mut body = output.body;
        let mut delivered: u64 = 0;
        let mut failures_since_progress: u32 = 0;
        let mut resumed = false;
        loop {
            let broken = match tokio::time::timeout(timeout, body.next()).await {
                Ok(Some(Ok(bytes))) => {
                    for piece in split(bytes, self.config.window) {
                        let len = piece.len() as u64;
                        let Ok(window) = self.window.clone().acquire_many_owned(len as u32).await
                        else {
                            return;
                        };
                        let chunk = Chunk {
                            bytes: piece,
                            _window: window,
                        };
                        if self.chunks.send(Ok(chunk)).await.is_err() {
                            return; // the reader dropped the body
                        }
                        delivered += len;
                        failures_since_progress = 0;
                    }
                    continue;
                }
                Ok(None) if size < 0 || delivered >= size as u64 => return, // complete
                Ok(None) => format!("the body ended after {delivered} of {size} bytes"),
                Ok(Some(Err(e))) => format!(
                    "the body broke off: {}",
                    aws_smithy_types::error::display::DisplayErrorContext(&e)
                ),
                Err(_) => format!("no data for {} s", timeout.as_secs()),
            };
            // Resume from the first byte not yet delivered, pinned to the same version.
            let Some(etag) = etag.clone().filter(|_| size >= 0) else {
                self.fail_body(format!("{broken} (cannot resume: no ETag/size)"))
                    .await;
                return;
            };
            if failures_since_progress >= retry.retries {
                self.fail_body(format!(
                    "{broken} (gave up after {failures_since_progress} retries without progress)"
                ))
                .await;
                return;
            }
            let wait = retry.backoff(failures_since_progress);
            failures_since_progress += 1;
            stats
                .retries
                .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            log::debug!("{what}: {broken}; resuming at byte {delivered} in {wait:?}");
            tokio::time::sleep(wait).await;
            let resumed_output = retry
                .run(&what, &self.cancel, &stats, || {
                    self.get(Some(delivered), Some(etag.clone()))
                })
                .await;
            match resumed_output {
                Ok(output) => {
                    let expected = format!("bytes {delivered}-{}/{size}", size - 1);
                    if output.content_range() != Some(expected.as_str()) {
                        self.fail_body(format!(
                            "{broken}; the resumed response covers {:?}, not {expected}",
                            output.content_range()
                        ))
                        .await;
                        return;
                    }
                    if !resumed {
                        resumed = true;
                        stats
                            .resumed
                            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    }
                    body = output.body;
                }
                Err(Failure::Changed) => {
                    self.fail_body(format!(
                        "{broken}, and the object changed before the rest could be read \
                         (its ETag no longer matches)"
                    ))
                    .await;
                    return;
                }
                Err(Failure::NotFound) => {
                    self.fail_body(format!("{broken}, and the object was deleted meanwhile"))
                        .await;
                    return;
                }
                Err(failure) => {
                    self.fail_body(format!("{broken}; resuming failed: {failure:?}"))
                        .await;
                    return;
                }
            }
        }
    }
}

/// Cuts `bytes` into pieces no larger than `max` (zero-copy).
fn split(mut bytes: Bytes, max: usize) -> Vec<Bytes> {
    let mut pieces = Vec::new();
    while bytes.len() > max {
        pieces.push(bytes.split_to(max));
    }
    if !bytes.is_empty() {
        pieces.push(bytes);
    }
    pieces
}

impl PendingBody {
    /// Waits for the response head (job thread).
    pub fn head(&mut self) -> Result<Head, Failure> {
        let Some(head) = self.head.take() else {
            return Err(Failure::Other("the response head was already taken".into()));
        };
        head.blocking_recv()
            .unwrap_or_else(|_| Err(Failure::Other("the request was cancelled".into())))
    }

    /// The body as a reader for the daemon's IO_READ calls.
    pub fn into_reader(self, expected: u64) -> BodyReader {
        BodyReader {
            chunks: self.chunks,
            current: None,
            offset: 0,
            received: 0,
            expected,
        }
    }
}

/// Hands the body to the daemon in whatever sizes it asks for; checks the byte count.
pub struct BodyReader {
    chunks: mpsc::Receiver<Result<Chunk, String>>,
    current: Option<Chunk>,
    offset: usize,
    received: u64,
    expected: u64,
}

impl BodyReader {
    /// Fills `buf` as far as the current chunk allows; `Ok(0)` at the end of a complete body.
    pub fn read(&mut self, buf: &mut [u8]) -> Result<usize, String> {
        loop {
            if let Some(chunk) = &self.current {
                let rest = &chunk.bytes[self.offset..];
                if !rest.is_empty() {
                    let n = rest.len().min(buf.len());
                    buf[..n].copy_from_slice(&rest[..n]);
                    self.offset += n;
                    self.received += n as u64;
                    if self.received > self.expected {
                        return Err(format!(
                            "the body is longer than its {} bytes",
                            self.expected
                        ));
                    }
                    return Ok(n);
                }
                self.current = None; // releases the window
            }
            match self.chunks.blocking_recv() {
                Some(Ok(chunk)) => {
                    self.current = Some(chunk);
                    self.offset = 0;
                }
                Some(Err(message)) => {
                    return Err(format!(
                        "{message} after {} of {} bytes",
                        self.received, self.expected
                    ))
                }
                None if self.received == self.expected => return Ok(0),
                None => {
                    return Err(format!(
                        "the body ended after {} of {} bytes",
                        self.received, self.expected
                    ))
                }
            }
        }
    }

    pub fn received(&self) -> u64 {
        self.received
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn split_keeps_every_byte() {
        let b = Bytes::from((0..=255u8).cycle().take(10_000).collect::<Vec<_>>());
        let pieces = split(b.clone(), 4096);
        assert_eq!(pieces.len(), 3);
        assert!(pieces.iter().all(|p| p.len() <= 4096));
        assert_eq!(pieces.concat(), b.to_vec());
    }
}
