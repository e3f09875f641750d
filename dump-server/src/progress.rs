//! The listing's progress on stderr: keys so far, keys/s, bytes so far. Drawn only when stderr
//! is a terminal and `--quiet` is not given; otherwise a single summary line at the end
//! (nothing with `--quiet`).
//!
//! Every retry of an S3 request is one line on stderr, terminal or not, `--quiet` or not: what
//! failed and which attempt of how many ([`report_retries`]).

use std::io::IsTerminal;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use s3_plugin::s3::retry::{observe_retries, Retrying};

use crate::size::{grouped, human};

/// The bar on screen, if any: retry lines are printed above it.
static BAR: Mutex<Option<ProgressBar>> = Mutex::new(None);

/// The line for one retry.
fn retry_line(retry: &Retrying<'_>) -> String {
    format!(
        "{}: {}; attempt {} of {} failed, retrying in {:.1} s",
        retry.what,
        retry.failure,
        retry.attempt,
        retry.attempts,
        retry.wait.as_secs_f64()
    )
}

fn print_retry(retry: &Retrying<'_>) {
    let line = retry_line(retry);
    let bar = BAR.lock().ok().and_then(|bar| bar.clone());
    match bar {
        Some(bar) => bar.suspend(|| eprintln!("{line}")),
        None => eprintln!("{line}"),
    }
}

/// Prints a line on stderr before every retry of an S3 request of this process.
pub fn report_retries() {
    observe_retries(print_retry);
}

pub struct Progress {
    bar: Option<ProgressBar>,
    quiet: bool,
    started: Instant,
    keys: u64,
    bytes: u64,
    what: String,
}

impl Progress {
    /// `what` names the activity (`listing s3://bucket/`).
    pub fn new(what: &'static str, target: &str, quiet: bool) -> Progress {
        let bar = (!quiet && std::io::stderr().is_terminal()).then(|| {
            let bar = ProgressBar::with_draw_target(None, ProgressDrawTarget::stderr_with_hz(4));
            bar.set_style(
                ProgressStyle::with_template("{spinner} {prefix} {msg}")
                    .unwrap_or_else(|_| ProgressStyle::default_spinner()),
            );
            bar.set_prefix(format!("{what} {target}:"));
            bar.enable_steady_tick(Duration::from_millis(250));
            bar
        });
        if let Ok(mut shown) = BAR.lock() {
            shown.clone_from(&bar);
        }
        Progress {
            bar,
            quiet,
            started: Instant::now(),
            keys: 0,
            bytes: 0,
            what: format!("{what} {target}"),
        }
    }

    fn rate(&self) -> u64 {
        let secs = self.started.elapsed().as_secs_f64();
        if secs > 0.0 {
            (self.keys as f64 / secs) as u64
        } else {
            0
        }
    }

    /// After each page; `extra` is appended (e.g. shards so far).
    pub fn update(&mut self, keys: u64, bytes: u64, extra: &str) {
        self.keys += keys;
        self.bytes += bytes;
        if let Some(bar) = &self.bar {
            bar.set_message(format!(
                "{} keys ({} keys/s), {}{extra}",
                grouped(self.keys),
                grouped(self.rate()),
                human(self.bytes)
            ));
        }
    }

    /// Clears the bar and prints the summary line (unless quiet).
    pub fn finish(self) {
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
        }
        if let Ok(mut shown) = BAR.lock() {
            *shown = None;
        }
        if !self.quiet {
            eprintln!(
                "{}: {} keys, {} in {:.1} s ({} keys/s)",
                self.what,
                grouped(self.keys),
                human(self.bytes),
                self.started.elapsed().as_secs_f64(),
                grouped(self.rate())
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use s3_plugin::s3::errors::Failure;

    #[test]
    fn a_retry_line_says_what_failed_and_which_attempt() {
        let failure = Failure::Other("HTTP 503 SlowDown".into());
        let line = retry_line(&Retrying {
            what: "listing s3://b/p/",
            failure: &failure,
            attempt: 2,
            attempts: 11,
            wait: Duration::from_millis(1250),
        });
        assert_eq!(
            line,
            "listing s3://b/p/: HTTP 503 SlowDown; attempt 2 of 11 failed, retrying in 1.2 s"
        );
    }
}
