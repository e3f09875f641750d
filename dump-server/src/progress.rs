//! The listing's progress on stderr: keys so far, keys/s, bytes so far. Drawn only when stderr
//! is a terminal and `--quiet` is not given; otherwise a single summary line at the end
//! (nothing with `--quiet`).

use std::io::IsTerminal;
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

use crate::size::{grouped, human};

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
