//! `max_rate`: a bandwidth cap per job, shared by all its transfers (virtual-time pacing: each
//! chunk is released no earlier than the cap allows after the previous ones).

use std::sync::Mutex;
use std::time::Duration;

use tokio::time::Instant;

pub struct RateLimiter {
    bytes_per_second: f64,
    next: Mutex<Instant>,
}

impl RateLimiter {
    pub fn new(bytes_per_second: u64) -> Self {
        RateLimiter {
            bytes_per_second: bytes_per_second as f64,
            next: Mutex::new(Instant::now()),
        }
    }

    /// Waits until `bytes` more may pass.
    pub async fn take(&self, bytes: usize) {
        let start = {
            let mut next = self.next.lock().unwrap_or_else(|p| p.into_inner());
            let now = Instant::now();
            // Idle time is not saved up as credit beyond a quarter of a second.
            let start = (*next).max(now.checked_sub(Duration::from_millis(250)).unwrap_or(now));
            *next = start + Duration::from_secs_f64(bytes as f64 / self.bytes_per_second);
            start
        };
        tokio::time::sleep_until(start).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn paces_to_the_rate() {
        let limiter = RateLimiter::new(1_000_000);
        let t0 = tokio::time::Instant::now();
        for _ in 0..10 {
            limiter.take(500_000).await;
        }
        // 5 MB at 1 MB/s: the last half megabyte may start at 4.5 s.
        let elapsed = t0.elapsed();
        assert!(elapsed >= Duration::from_millis(4450), "{elapsed:?}");
        assert!(elapsed <= Duration::from_millis(4550), "{elapsed:?}");
    }
}
