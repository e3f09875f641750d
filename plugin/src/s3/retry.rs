//! The one retry policy of the plugin, for every S3 request and for resuming broken bodies.
//!
//! Retried: HTTP 500, 502, 503, 504 and 429, the S3 codes SlowDown, InternalError,
//! ServiceUnavailable, RequestTimeout and Throttling (also a SlowDown document in a 200 body
//! of a listing), timeouts (including a server that stalls for `read_timeout`), connection
//! resets and connect/DNS failures. Not retried: 400, 403, 404, 412 and anything else the
//! server states as final. Waits grow exponentially with full jitter (base 200 ms, at most
//! 30 s), or as the server's `Retry-After` says, within `retries` attempts and
//! `retry_max_seconds` per request.
//!
//! An endpoint that has never answered the job is different: a request that cannot connect to
//! it (refused, DNS, TLS handshake; see `http::FirstContact`) gets only a few quick tries, to
//! ride over a blip, and then fails naming the endpoint instead of waiting out the whole policy.
//!
//! A program (`dump-server`) may watch every retry with [`observe_retries`].

use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use tokio_util::sync::CancellationToken;

use aws_sdk_s3::error::{ProvideErrorMetadata, SdkError};
use aws_smithy_runtime_api::client::orchestrator::HttpResponse;

use crate::config::options::Options;
use crate::s3::errors::{attempt, Failure};

/// A request that got no answer within `timeout`: retried like an unreachable server.
pub fn timed_out(timeout: Duration) -> Attempt {
    Attempt::Retry {
        failure: Failure::Unreachable(format!("no response within {} s", timeout.as_secs())),
        after: None,
    }
}

/// One attempt of an SDK request bounded by `timeout`, classified for the policy.
pub async fn attempt_within<T, E>(
    timeout: Duration,
    request: impl Future<Output = Result<T, SdkError<E, HttpResponse>>>,
) -> Result<T, Attempt>
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
{
    match tokio::time::timeout(timeout, request).await {
        Err(_) => Err(timed_out(timeout)),
        Ok(Err(e)) => Err(attempt(&e)),
        Ok(Ok(v)) => Ok(v),
    }
}

const BASE: Duration = Duration::from_millis(200);
const CAP: Duration = Duration::from_secs(30);
/// A `Retry-After` longer than this is shortened (the budget still bounds the total).
const RETRY_AFTER_CAP: Duration = Duration::from_secs(120);

/// Tries, in all, of a request that cannot connect to an endpoint that never answered.
const FIRST_CONTACT_TRIES: u32 = 3;
/// Their time budget (a try that started within it still runs to its end).
const FIRST_CONTACT_BUDGET: Duration = Duration::from_secs(4);
/// The wait before their retry number `n` + 1 is `n` + 1 times this.
const FIRST_CONTACT_WAIT: Duration = Duration::from_millis(500);

/// A retry about to be made, for an observer.
#[derive(Debug)]
pub struct Retrying<'a> {
    /// The request (`listing s3://bucket/prefix`, `GET s3://bucket/key`, …).
    pub what: &'a str,
    pub failure: &'a Failure,
    /// The attempt that failed, from 1.
    pub attempt: u32,
    /// How many attempts the policy makes at most.
    pub attempts: u32,
    /// The wait before the next attempt.
    pub wait: Duration,
}

static OBSERVER: OnceLock<fn(&Retrying<'_>)> = OnceLock::new();

/// Has `observer` called before every retry of this process (the first call wins). For
/// programs: the plugin inside a daemon installs none and counts retries in the job's stats.
pub fn observe_retries(observer: fn(&Retrying<'_>)) {
    let _ = OBSERVER.set(observer);
}

#[derive(Clone, Debug)]
pub struct RetryPolicy {
    pub retries: u32,
    pub max_elapsed: Duration,
}

/// Counters of one job, shared by its tasks.
#[derive(Debug, Default)]
pub struct RetryStats {
    pub retries: AtomicU64,
    pub resumed: AtomicU64,
}

impl RetryStats {
    pub fn retries(&self) -> u64 {
        self.retries.load(Ordering::Relaxed)
    }
    pub fn resumed(&self) -> u64 {
        self.resumed.load(Ordering::Relaxed)
    }
}

/// The outcome of one failed attempt.
#[derive(Debug, Clone)]
pub enum Attempt {
    /// Transient: try again (after `after` if the server said so).
    Retry {
        failure: Failure,
        after: Option<Duration>,
    },
    /// Final.
    Fail(Failure),
}

impl RetryPolicy {
    pub fn from_options(options: &Options) -> Self {
        RetryPolicy {
            retries: options.retries,
            max_elapsed: options.retry_max,
        }
    }

    /// Full-jitter exponential backoff for retry number `n` (0-based).
    pub fn backoff(&self, n: u32) -> Duration {
        let ceiling = BASE.saturating_mul(1u32 << n.min(16)).min(CAP);
        ceiling.mul_f64(fastrand::f64())
    }

    /// One S3 request under the policy: `op` builds and sends it afresh for each attempt,
    /// which gets `timeout` to answer.
    pub async fn request<T, E, Fut>(
        &self,
        what: &str,
        cancel: &CancellationToken,
        stats: &RetryStats,
        timeout: Duration,
        mut op: impl FnMut() -> Fut,
    ) -> Result<T, Failure>
    where
        Fut: Future<Output = Result<T, SdkError<E, HttpResponse>>>,
        E: ProvideErrorMetadata + std::error::Error + 'static,
    {
        self.run(what, cancel, stats, || attempt_within(timeout, op()))
            .await
    }

    /// Runs `op` until it succeeds, fails finally, or the retries or time budget run out.
    pub async fn run<T, F, Fut>(
        &self,
        what: &str,
        cancel: &CancellationToken,
        stats: &RetryStats,
        mut op: F,
    ) -> Result<T, Failure>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<T, Attempt>>,
    {
        let started = Instant::now();
        let mut attempt = 0;
        loop {
            let (failure, after) = match op().await {
                Ok(value) => return Ok(value),
                Err(Attempt::Fail(failure)) => return Err(failure),
                Err(Attempt::Retry { failure, after }) => (failure, after),
            };
            let elapsed = started.elapsed();
            let (retries, budget, wait) = if matches!(failure, Failure::CannotConnect(_)) {
                (
                    self.retries.min(FIRST_CONTACT_TRIES - 1),
                    self.max_elapsed.min(FIRST_CONTACT_BUDGET),
                    FIRST_CONTACT_WAIT.saturating_mul(attempt + 1),
                )
            } else {
                (
                    self.retries,
                    self.max_elapsed,
                    after
                        .map(|a| a.min(RETRY_AFTER_CAP))
                        .unwrap_or_else(|| self.backoff(attempt)),
                )
            };
            if attempt >= retries || elapsed >= budget {
                return Err(failure.gave_up(attempt, elapsed));
            }
            let wait = wait.min(budget.saturating_sub(elapsed));
            stats.retries.fetch_add(1, Ordering::Relaxed);
            log::debug!(
                "{what}: {failure}; retry {} in {:.1} s",
                attempt + 1,
                wait.as_secs_f64()
            );
            if let Some(observer) = OBSERVER.get() {
                observer(&Retrying {
                    what,
                    failure: &failure,
                    attempt: attempt + 1,
                    attempts: retries + 1,
                    wait,
                });
            }
            tokio::select! {
                _ = cancel.cancelled() => return Err(Failure::Other("the job was cancelled".into())),
                _ = tokio::time::sleep(wait) => {}
            }
            attempt += 1;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::AtomicU32;

    fn policy(retries: u32) -> RetryPolicy {
        RetryPolicy {
            retries,
            max_elapsed: Duration::from_secs(60),
        }
    }

    #[test]
    fn backoff_grows_and_is_capped() {
        let p = policy(10);
        for n in 0..40 {
            let d = p.backoff(n);
            assert!(d <= CAP);
            assert!(d <= BASE.saturating_mul(1 << n.min(16)));
        }
    }

    #[tokio::test(start_paused = true)]
    async fn retries_transient_failures_then_gives_up_naming_the_count() {
        let stats = RetryStats::default();
        let calls = AtomicU32::new(0);
        let cancel = CancellationToken::new();
        let r: Result<(), Failure> = policy(3)
            .run("test", &cancel, &stats, || async {
                calls.fetch_add(1, Ordering::SeqCst);
                Err(Attempt::Retry {
                    failure: Failure::Other("HTTP 503 SlowDown".into()),
                    after: Some(Duration::from_secs(2)),
                })
            })
            .await;
        assert_eq!(calls.load(Ordering::SeqCst), 4);
        assert_eq!(stats.retries(), 3);
        let text = format!("{:?}", r.unwrap_err());
        assert!(text.contains("503") && text.contains("3 retries"), "{text}");
    }

    /// Retries seen by the observer of this test process, by request.
    static SEEN: std::sync::Mutex<Vec<(String, u32, u32)>> = std::sync::Mutex::new(Vec::new());

    fn record(retry: &Retrying<'_>) {
        SEEN.lock()
            .unwrap()
            .push((retry.what.to_string(), retry.attempt, retry.attempts));
    }

    fn seen(what: &str) -> Vec<(u32, u32)> {
        SEEN.lock()
            .unwrap()
            .iter()
            .filter(|(w, _, _)| w == what)
            .map(|(_, n, m)| (*n, *m))
            .collect()
    }

    #[tokio::test(start_paused = true)]
    async fn an_endpoint_never_reached_gets_a_few_quick_tries_then_is_named() {
        observe_retries(record);
        let stats = RetryStats::default();
        let calls = AtomicU32::new(0);
        let cancel = CancellationToken::new();
        let started = tokio::time::Instant::now();
        let r: Result<(), Failure> = policy(10)
            .run("never reached", &cancel, &stats, || async {
                calls.fetch_add(1, Ordering::SeqCst);
                Err(Attempt::Retry {
                    failure: Failure::CannotConnect(
                        "cannot connect to endpoint http://h:1: refused".into(),
                    ),
                    after: None,
                })
            })
            .await;
        assert_eq!(calls.load(Ordering::SeqCst), FIRST_CONTACT_TRIES);
        assert!(started.elapsed() <= FIRST_CONTACT_BUDGET);
        match r {
            Err(Failure::CannotConnect(text)) => assert!(
                text.starts_with("cannot connect to endpoint http://h:1: refused (gave up after 2"),
                "{text}"
            ),
            other => panic!("{other:?}"),
        }
        assert_eq!(seen("never reached"), [(1, 3), (2, 3)]);
    }

    #[tokio::test(start_paused = true)]
    async fn every_retry_is_observed_with_its_number() {
        observe_retries(record);
        let stats = RetryStats::default();
        let cancel = CancellationToken::new();
        let r: Result<(), Failure> = policy(3)
            .run("observed", &cancel, &stats, || async {
                Err(Attempt::Retry {
                    failure: Failure::Other("HTTP 503 SlowDown".into()),
                    after: None,
                })
            })
            .await;
        assert!(r.is_err());
        assert_eq!(seen("observed"), [(1, 4), (2, 4), (3, 4)]);
    }

    #[tokio::test(start_paused = true)]
    async fn final_failures_are_not_retried_and_success_ends_it() {
        let stats = RetryStats::default();
        let cancel = CancellationToken::new();
        let r: Result<(), Failure> = policy(5)
            .run("t", &cancel, &stats, || async {
                Err(Attempt::Fail(Failure::NotFound))
            })
            .await;
        assert_eq!(r.unwrap_err(), Failure::NotFound);
        assert_eq!(stats.retries(), 0);
        let calls = AtomicU32::new(0);
        let r = policy(5)
            .run("t", &cancel, &stats, || async {
                if calls.fetch_add(1, Ordering::SeqCst) < 2 {
                    Err(Attempt::Retry {
                        failure: Failure::Unreachable("reset".into()),
                        after: None,
                    })
                } else {
                    Ok(7)
                }
            })
            .await;
        assert_eq!(r.unwrap(), 7);
        assert_eq!(stats.retries(), 2);
    }
}
