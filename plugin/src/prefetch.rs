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

use crate::client::S3;
use crate::listing::{Listed, Pages};
use crate::runtime::runtime;
use crate::s3_errors::{classify, Failure};

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

    async fn transfer(&mut self) {
        let timeout = self.config.read_timeout;
        let request = self
            .s3
            .client
            .get_object()
            .bucket(&self.config.bucket)
            .key(&self.key)
            .send();
        let response = match tokio::time::timeout(timeout, request).await {
            Err(_) => Err(Failure::Unreachable(format!(
                "no response within {} s",
                timeout.as_secs()
            ))),
            Ok(r) => r.map_err(|e| classify(&e)),
        };
        let output = match response {
            Ok(output) => output,
            Err(failure) => {
                if let Some(head) = self.head.take() {
                    let _ = head.send(Err(failure));
                }
                return;
            }
        };
        log::trace!("GET s3://{}/{}: response head received", self.config.bucket, self.key);
        let head = Head {
            size: output.content_length().unwrap_or(-1),
            etag: output.e_tag().map(str::to_string),
            mtime: output.last_modified().map(|t| t.secs()),
        };
        if let Some(tx) = self.head.take() {
            if tx.send(Ok(head)).is_err() {
                return; // nobody wants this body any more
            }
        }
        let mut body = output.body;
        loop {
            let next = match tokio::time::timeout(timeout, body.next()).await {
                Err(_) => Some(Err(format!("no data for {} s", timeout.as_secs()))),
                Ok(None) => None,
                Ok(Some(Ok(bytes))) => Some(Ok(bytes)),
                Ok(Some(Err(e))) => Some(Err(format!(
                    "{}",
                    aws_smithy_types::error::display::DisplayErrorContext(&e)
                ))),
            };
            match next {
                None => return, // end of body; the reader checks the length
                Some(Err(message)) => {
                    let _ = self.chunks.send(Err(message)).await;
                    return;
                }
                Some(Ok(bytes)) => {
                    for piece in split(bytes, self.config.window) {
                        let permits = piece.len() as u32;
                        let Ok(window) = self.window.clone().acquire_many_owned(permits).await
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
                    }
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
