//! How far the prefetch reads ahead of the daemon.
//!
//! `prefetch_bytes` is the most a job may hold; how much of it the parts of large objects may
//! use (the window: a part starts only when the data not yet read, its own bytes included,
//! fits in it) follows how fast parts stream. A job should be able to reach
//! [`TARGET_RATE`] (or its `max_rate`); parts that stream slowly (a server far away, or one
//! that serves each request slowly) need many in flight to get there, and get the whole
//! budget; parts that stream fast (a server near by that a few streams keep up with) need only
//! two at a time. Fewer streams leave the data in the CPU's caches and cost less CPU per byte,
//! and a smaller window holds less memory. The window starts at two parts and is set again
//! after every part, from a running average of the parts' rates (time from request to last
//! byte, so latency counts): a far server opens it to the whole budget with its first part.
//! Whole (small) objects use the whole budget as before: `concurrency` bounds them.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::{watch, OwnedSemaphorePermit, Semaphore};
use tokio_util::sync::CancellationToken;

/// The rate a job should be able to reach without `max_rate`, in bytes per second: what one
/// file daemon job can take in (10 Gbit/s links are common on dump servers).
pub const TARGET_RATE: u64 = 1 << 30;
/// Weight of the newest part in the running average.
const NEWEST: f64 = 0.3;
/// Streams within this share of the rate wanted count as enough: when something else holds
/// the job's rate (`max_rate`, the server), each of n streams runs a little below 1/n of it
/// (each part's request takes its time too), and without this slack the window would grow
/// one part at a time to the whole budget for nothing.
const ENOUGH: f64 = 0.9;

/// The window of one job.
pub struct ReadAhead {
    budget: u64,
    part_size: u64,
    target: f64,
    /// Running average of the parts' rates, bytes per second.
    rate: Mutex<Option<f64>>,
    window: watch::Sender<u64>,
}

impl ReadAhead {
    pub fn new(budget: u64, part_size: u64, max_rate: Option<u64>) -> ReadAhead {
        ReadAhead {
            budget,
            part_size,
            target: max_rate.unwrap_or(TARGET_RATE).min(TARGET_RATE) as f64,
            rate: Mutex::new(None),
            // Before any part has been timed: two parts (no rate wanted).
            window: watch::Sender::new(window_for(budget, part_size, 0.0, f64::INFINITY)),
        }
    }

    /// The job's whole budget (`prefetch_bytes`).
    pub fn budget(&self) -> u64 {
        self.budget
    }

    /// How much of the budget parts may use now.
    #[cfg(test)]
    pub fn window(&self) -> u64 {
        *self.window.borrow()
    }

    /// The window, and word of its changes.
    pub fn watch(&self) -> watch::Receiver<u64> {
        self.window.subscribe()
    }

    /// A part of `bytes` took `elapsed` from its request to its last byte.
    pub fn part_done(&self, bytes: u64, elapsed: Duration) {
        // A short last part says more about latency than about the stream's rate.
        if bytes < self.part_size / 2 || elapsed.is_zero() {
            return;
        }
        let part_rate = bytes as f64 / elapsed.as_secs_f64();
        let mut rate = self.rate.lock().unwrap_or_else(|e| e.into_inner());
        let average = match *rate {
            Some(r) => r + NEWEST * (part_rate - r),
            None => part_rate,
        };
        *rate = Some(average);
        let window = window_for(self.budget, self.part_size, self.target, average);
        if self.window.send_replace(window) != window {
            log::debug!(
                "read-ahead window {} MiB (parts stream at {:.0} MiB/s each)",
                window >> 20,
                average / f64::from(1 << 20)
            );
        }
    }
}

/// Enough parts in flight for the target rate, at least two, at most the budget.
fn window_for(budget: u64, part_size: u64, target: f64, part_rate: f64) -> u64 {
    let most = (budget / part_size.max(1)).max(1);
    let streams = ((ENOUGH * target / part_rate).ceil() as u64)
        .max(2)
        .min(most);
    (streams * part_size).min(budget)
}

/// Reserves a part's `bytes` from the job's budget (the semaphore and its size) once the data
/// not yet read, the part included, fits in the window: it asks for the budget's bytes outside
/// the window too and gives them back at once, and asks again when the window changes.
/// `None`: cancelled.
pub async fn reserve_part(
    (budget, budget_bytes): (&Arc<Semaphore>, u64),
    window: &mut watch::Receiver<u64>,
    bytes: u64,
    cancel: &CancellationToken,
) -> Option<OwnedSemaphorePermit> {
    loop {
        let current = *window.borrow_and_update();
        let outside = budget_bytes
            .saturating_sub(current.max(bytes))
            .min(u32::MAX as u64 - bytes);
        let mut permit = tokio::select! {
            _ = cancel.cancelled() => return None,
            r = budget.clone().acquire_many_owned((bytes + outside) as u32) => r.ok()?,
            changed = window.changed() => {
                changed.ok()?;
                continue;
            }
        };
        drop(permit.split(outside as usize));
        return Some(permit);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MIB: u64 = 1 << 20;

    fn settle(ra: &ReadAhead, mib_per_s: f64) -> u64 {
        for _ in 0..20 {
            let secs = 8.0 / mib_per_s;
            ra.part_done(8 * MIB, Duration::from_secs_f64(secs));
        }
        ra.window()
    }

    #[test]
    fn slow_parts_get_the_whole_budget_fast_ones_two_at_a_time() {
        let ra = ReadAhead::new(64 * MIB, 8 * MIB, None);
        assert_eq!(ra.window(), 16 * MIB, "before any part: two parts");
        assert_eq!(
            settle(&ra, 90.0),
            64 * MIB,
            "a far server: 12 streams wanted"
        );
        assert_eq!(settle(&ra, 2000.0), 16 * MIB, "a near server: two parts");
        assert_eq!(
            settle(&ra, 300.0),
            32 * MIB,
            "1 GiB/s from 300 MiB/s streams: four"
        );
    }

    #[test]
    fn a_rate_cap_needs_fewer_streams() {
        let ra = ReadAhead::new(64 * MIB, 8 * MIB, Some(200 * MIB));
        assert_eq!(settle(&ra, 50.0), 32 * MIB);
        // Two streams sharing the cap, each a little below half of it: two stay enough.
        let capped = ReadAhead::new(64 * MIB, 8 * MIB, Some(4 * MIB));
        assert_eq!(settle(&capped, 1.96), 16 * MIB);
    }

    #[test]
    fn short_parts_and_small_budgets() {
        let ra = ReadAhead::new(64 * MIB, 8 * MIB, None);
        for _ in 0..20 {
            ra.part_done(MIB, Duration::from_secs(1)); // a short last part: ignored
        }
        assert_eq!(ra.window(), 16 * MIB);
        ra.part_done(8 * MIB, Duration::from_millis(80)); // one far part opens it at once
        assert_eq!(ra.window(), 64 * MIB);
        let small = ReadAhead::new(8 * MIB, 8 * MIB, None);
        assert_eq!(settle(&small, 2000.0), 8 * MIB, "never below one part");
        assert_eq!(window_for(20 * MIB, 8 * MIB, 1e9, 1.0), 16 * MIB);
    }

    #[test]
    fn the_average_follows_the_newest_parts() {
        let ra = ReadAhead::new(64 * MIB, 8 * MIB, None);
        assert_eq!(settle(&ra, 2000.0), 16 * MIB);
        for _ in 0..5 {
            ra.part_done(8 * MIB, Duration::from_millis(80)); // 100 MiB/s
        }
        assert!(ra.window() > 16 * MIB, "a few slow parts widen the window");
    }

    #[tokio::test]
    async fn a_part_starts_once_the_unread_data_fits_in_the_window() {
        let budget = Arc::new(Semaphore::new(64));
        let (window, mut rx) = watch::channel(16u64);
        let cancel = CancellationToken::new();
        let first = reserve_part((&budget, 64), &mut rx, 8, &cancel)
            .await
            .unwrap();
        let second = reserve_part((&budget, 64), &mut rx, 8, &cancel)
            .await
            .unwrap();
        assert_eq!(budget.available_permits(), 48);
        // A third part waits: 16 bytes unread fill the window of 16…
        let b = budget.clone();
        let third = tokio::spawn(async move {
            let c = CancellationToken::new();
            reserve_part((&b, 64), &mut rx, 8, &c)
                .await
                .map(|p| (p, rx))
        });
        tokio::task::yield_now().await;
        assert!(!third.is_finished());
        // …until the daemon reads a part.
        drop(first);
        let (third, mut rx) = third.await.unwrap().unwrap();
        assert_eq!(third.num_permits(), 8);
        assert_eq!(budget.available_permits(), 48);
        // A wider window lets a waiting part start without any data read.
        let b = budget.clone();
        let fourth = tokio::spawn(async move {
            let c = CancellationToken::new();
            reserve_part((&b, 64), &mut rx, 8, &c).await
        });
        tokio::task::yield_now().await;
        assert!(!fourth.is_finished());
        window.send_replace(64);
        let fourth = fourth.await.unwrap().unwrap();
        assert_eq!(budget.available_permits(), 40);
        // Cancelling gives up a wait.
        let (_w, mut rx) = watch::channel(16u64);
        cancel.cancel();
        assert!(reserve_part((&budget, 64), &mut rx, 8, &cancel)
            .await
            .is_none());
        drop((second, third, fourth));
        assert_eq!(budget.available_permits(), 64);
    }
}
