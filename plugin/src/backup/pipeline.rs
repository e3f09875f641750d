//! The prefetch stage: a task on the I/O runtime walks the listing and starts the transfers of
//! the objects that will need data while the daemon's job thread consumes the objects strictly
//! in listing order.
//!
//! Each object needing data becomes one unit (a whole GET), or, above `part_size`, several
//! ranged GETs ("parts") fetched in parallel and pinned with If-Match to the listed ETag (an
//! object that changed since the listing answers 412, and the job thread then fetches the
//! current version on its own). Memory is bounded by one budget per job (`prefetch_bytes`):
//! the listing task reserves each unit's bytes in listing order before starting it, and a
//! unit's bytes return to the budget as the daemon reads them. Because every unit can hold its
//! whole share and the reader takes units in the same order, no wait is circular. Parts use
//! only the read-ahead window of the budget, which follows how fast parts stream
//! (`read_ahead`).
//! `concurrency` bounds the requests in flight; `max_rate` paces the bytes.
//! Cancelling the job (or dropping the pipeline) stops every task and wakes the job thread.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{mpsc, watch, Semaphore};
use tokio_util::sync::CancellationToken;

use crate::backup::rate::RateLimiter;
use crate::backup::read_ahead::{reserve_part, ReadAhead};
use crate::backup::reader::PendingBody;
use crate::backup::unit_fetch::{self, Budget, Shared, UnitSpec};
use crate::runtime::runtime;
use crate::s3::client::S3;
use crate::s3::errors::Failure;
use crate::s3::listing::{Listed, Pages};
use crate::s3::retry::{RetryPolicy, RetryStats};

/// Objects listed ahead of the job thread at most (each is a few hundred bytes).
const ITEM_QUEUE: usize = 2000;

/// Window of an object fetched on demand (outside the budget: it is read at once).
const ON_DEMAND_WINDOW: usize = 8 << 20;

#[derive(Clone)]
pub struct PrefetchConfig {
    pub bucket: String,
    pub prefix: String,
    pub start_after: Option<String>,
    pub end_at: Option<String>,
    pub concurrency: usize,
    /// The job's memory budget for data not yet read by the daemon.
    pub budget: u64,
    /// Size of the parts of large objects (at most `budget`).
    pub part_size: u64,
    /// Bytes per second for the whole job, if capped.
    pub max_rate: Option<u64>,
    pub read_timeout: Duration,
    pub retry: RetryPolicy,
    pub stats: Arc<RetryStats>,
    /// List and fetch every version (`versions=yes`).
    pub versions: bool,
}

/// One listed object, with its transfer already under way if it will need data.
pub struct Prepared {
    pub object: Listed,
    pub body: Option<PendingBody>,
}

/// A listing failure, ending the stream (its page's request failed under the retry policy).
#[derive(Debug, Clone, thiserror::Error)]
#[error("listing failed: {0}")]
pub struct ListingFailed(pub Failure);

pub struct Pipeline {
    items: mpsc::Receiver<Result<Prepared, ListingFailed>>,
    peeked: Option<Result<Prepared, ListingFailed>>,
    shared: Arc<Shared>,
    cancel: CancellationToken,
}

impl Pipeline {
    /// Starts listing; `wants_data` decides per object whether to start its transfer now.
    pub fn start(
        s3: S3,
        config: PrefetchConfig,
        cancel: CancellationToken,
        wants_data: impl Fn(&Listed) -> bool + Send + 'static,
    ) -> Pipeline {
        let (tx, items) = mpsc::channel(ITEM_QUEUE);
        let budget = config
            .budget
            .max(config.part_size)
            .min(Semaphore::MAX_PERMITS as u64);
        let read_ahead = Arc::new(ReadAhead::new(budget, config.part_size, config.max_rate));
        let shared = Arc::new(Shared {
            s3: s3.clone(),
            bucket: config.bucket.clone(),
            read_timeout: config.read_timeout,
            retry: config.retry.clone(),
            stats: config.stats.clone(),
            slots: Arc::new(Semaphore::new(config.concurrency)),
            rate: config.max_rate.map(|r| Arc::new(RateLimiter::new(r))),
            read_ahead: read_ahead.clone(),
        });
        let task = ListTask {
            pages: Pages::new(
                s3,
                config.retry.clone(),
                config.stats.clone(),
                cancel.clone(),
                &config.bucket,
                &config.prefix,
                config.start_after.clone(),
                config.end_at.clone(),
            )
            .versioned(config.versions),
            shared: shared.clone(),
            budget: Arc::new(Semaphore::new(budget as usize)),
            window: read_ahead.watch(),
            part_size: config.part_size,
            cancel: cancel.clone(),
            tx,
        };
        runtime().spawn(task.run(wants_data));
        Pipeline {
            items,
            peeked: None,
            shared,
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

    /// Fetches the current version of an object the prefetcher did not fetch (or whose listed
    /// version is gone), as one stream.
    pub fn fetch_now(&self, key: &str, version_id: Option<String>) -> PendingBody {
        let unit = unit_fetch::spawn(
            self.shared.clone(),
            UnitSpec {
                key: key.to_string(),
                range: None,
                if_match: None,
                version_id,
            },
            Budget::Window(Arc::new(Semaphore::new(ON_DEMAND_WINDOW))),
            self.cancel.child_token(),
            true,
        );
        PendingBody::new(vec![unit])
    }
}

impl Drop for Pipeline {
    fn drop(&mut self) {
        self.cancel.cancel();
    }
}

struct ListTask {
    pages: Pages,
    shared: Arc<Shared>,
    /// The job's byte budget, reserved unit by unit in listing order.
    budget: Arc<Semaphore>,
    /// How much of the budget parts may use now.
    window: watch::Receiver<u64>,
    part_size: u64,
    cancel: CancellationToken,
    tx: mpsc::Sender<Result<Prepared, ListingFailed>>,
}

/// The units of an object: whole, or parts pinned to its listed ETag.
fn plan(object: &Listed, part_size: u64) -> Vec<UnitSpec> {
    let size = object.size.max(0) as u64;
    let version_id = object.version.as_ref().map(|v| v.version_id.clone());
    let unit = |range, if_match| UnitSpec {
        key: object.key.clone(),
        range,
        if_match,
        version_id: version_id.clone(),
    };
    match &object.etag {
        Some(etag) if size > part_size => (0..size)
            .step_by(part_size as usize)
            .map(|a| unit(Some((a, (a + part_size).min(size))), Some(etag.clone())))
            .collect(),
        etag => vec![unit(None, etag.clone())],
    }
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
                        "listed {} keys of s3://{} (more: {})",
                        page.objects.len(),
                        self.shared.bucket,
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
                let is_marker = object.version.as_ref().is_some_and(|v| v.delete_marker);
                let (body, starters) = if !is_marker && wants_data(&object) {
                    let (handles, starters): (Vec<_>, Vec<_>) = plan(&object, self.part_size)
                        .into_iter()
                        .enumerate()
                        .map(|(i, spec)| unit_fetch::prepare(spec, i == 0))
                        .unzip();
                    (Some(PendingBody::new(handles)), starters)
                } else {
                    (None, Vec::new())
                };
                let size = object.size;
                // The object goes to the job thread first: its parts may need budget that only
                // the job thread's reading of earlier parts frees.
                let sent = tokio::select! {
                    _ = self.cancel.cancelled() => return,
                    sent = self.tx.send(Ok(Prepared { object, body })) => sent,
                };
                if sent.is_err() {
                    return; // the job thread is gone
                }
                for starter in starters {
                    if !self.start_unit(starter, size).await {
                        return;
                    }
                }
            }
        }
    }

    /// Reserves a unit's bytes (units are reserved in listing order) and starts it.
    /// `false`: cancelled.
    async fn start_unit(&mut self, starter: unit_fetch::UnitStarter, object_size: i64) -> bool {
        let spec = starter.spec();
        let budget = if spec.if_match.is_none() && object_size as u64 > self.part_size {
            // No ETag to pin parts to: one stream with a window of its own.
            Budget::Window(Arc::new(Semaphore::new(self.part_size as usize)))
        } else {
            let reserved = match spec.range {
                Some((a, b)) => {
                    let budget = (&self.budget, self.shared.read_ahead.budget());
                    reserve_part(budget, &mut self.window, b - a, &self.cancel).await
                }
                None => {
                    let bytes = object_size.max(0) as u64;
                    tokio::select! {
                        _ = self.cancel.cancelled() => None,
                        r = self.budget.clone().acquire_many_owned(bytes as u32) => r.ok(),
                    }
                }
            };
            match reserved {
                Some(r) => Budget::Reserved(r),
                None => return false,
            }
        };
        starter.start(self.shared.clone(), budget, self.cancel.child_token());
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn listed(size: i64, etag: Option<&str>) -> Listed {
        Listed {
            key: "k".into(),
            size,
            mtime: 0,
            etag: etag.map(str::to_string),
            storage_class: None,
            version: None,
        }
    }

    #[test]
    fn large_objects_are_cut_into_pinned_parts_covering_every_byte() {
        let units = plan(&listed(25, Some("\"e\"")), 10);
        let ranges: Vec<_> = units.iter().map(|u| u.range).collect();
        assert_eq!(ranges, vec![Some((0, 10)), Some((10, 20)), Some((20, 25))]);
        assert!(units.iter().all(|u| u.if_match.as_deref() == Some("\"e\"")));
        let whole = plan(&listed(10, Some("\"e\"")), 10);
        assert_eq!(whole.len(), 1);
        assert_eq!(whole[0].range, None);
        assert_eq!(plan(&listed(0, None), 10).len(), 1);
        assert_eq!(plan(&listed(100, None), 10)[0].range, None);
    }
}
