//! What a job did, for its closing job message.

use std::time::Instant;

/// Keys named in the closing message at most; the rest are counted.
pub const NAMED_KEYS: usize = 20;

#[derive(Clone)]
pub struct Stats {
    started: Instant,
    /// Requests retried and objects resumed mid-body (from the retry policy's counters).
    pub retries: u64,
    pub resumed: u64,
    pub objects: u64,
    pub bytes: u64,
    pub unchanged: u64,
    /// Deleted between listing and GET (404).
    pub vanished: Vec<String>,
    /// Could not be saved (GET or body failed).
    pub failed: Vec<String>,
    /// Restore: delete markers replayed.
    pub deleted: u64,
    /// Overwritten between the listing and the GET: saved as they were at the GET.
    pub changed: Vec<String>,
    /// In an archive storage class (`archived=skip`): left out. A bucket may hold millions:
    /// counted, and only the first [`NAMED_KEYS`] kept to be named.
    pub archived: u64,
    pub archived_keys: Vec<String>,
}

impl Default for Stats {
    fn default() -> Self {
        Stats {
            started: Instant::now(),
            retries: 0,
            resumed: 0,
            objects: 0,
            bytes: 0,
            unchanged: 0,
            vanished: Vec::new(),
            failed: Vec::new(),
            changed: Vec::new(),
            archived: 0,
            archived_keys: Vec::new(),
            deleted: 0,
        }
    }
}

fn keys(list: &[String]) -> String {
    let mut shown: Vec<String> = list
        .iter()
        .take(NAMED_KEYS)
        .map(|k| format!("'{k}'"))
        .collect();
    if list.len() > NAMED_KEYS {
        shown.push(format!("and {} more", list.len() - NAMED_KEYS));
    }
    shown.join(", ")
}

impl Stats {
    /// One more archived object left out (its key kept while fewer than [`NAMED_KEYS`] are).
    pub fn archived_skipped(&mut self, key: &str) {
        self.archived += 1;
        if self.archived_keys.len() < NAMED_KEYS {
            self.archived_keys.push(key.to_string());
        }
    }

    /// The closing message of a restore.
    pub fn restore_summary(&self, what: &str) -> String {
        let secs = self.started.elapsed().as_secs_f64();
        let rate = if secs > 0.0 {
            self.bytes as f64 / 1e6 / secs
        } else {
            0.0
        };
        let mut text = format!(
            "s3: restore to {what}: {} objects restored, {} bytes, {} deletions replayed, \
             {} skipped (replace setting or as_of), {} failed, {} retries, {secs:.1} s, \
             {rate:.1} MB/s",
            self.objects,
            self.bytes,
            self.deleted,
            self.unchanged,
            self.failed.len(),
            self.retries
        );
        if !self.failed.is_empty() {
            text.push_str(&format!("; failed: {}", keys(&self.failed)));
        }
        text
    }

    /// `verb` is "saved".
    pub fn summary(&self, what: &str, verb: &str) -> String {
        let secs = self.started.elapsed().as_secs_f64();
        let rate = if secs > 0.0 {
            self.bytes as f64 / 1e6 / secs
        } else {
            0.0
        };
        let mut text = format!(
            "s3: {what}: {} objects {verb}, {} bytes, {} unchanged, {} skipped (deleted after listing), \
             {} failed, {} retries, {} resumed, {secs:.1} s, {rate:.1} MB/s",
            self.objects,
            self.bytes,
            self.unchanged,
            self.vanished.len(),
            self.failed.len(),
            self.retries,
            self.resumed,
        );
        if !self.failed.is_empty() {
            text.push_str(&format!("; failed: {}", keys(&self.failed)));
        }
        if !self.vanished.is_empty() {
            text.push_str(&format!("; skipped: {}", keys(&self.vanished)));
        }
        if self.archived > 0 {
            let mut named = keys(&self.archived_keys);
            let unnamed = self.archived - self.archived_keys.len() as u64;
            if unnamed > 0 {
                named.push_str(&format!(" and {unnamed} more"));
            }
            text.push_str(&format!(
                "; {} archived (GLACIER, DEEP_ARCHIVE or an archive tier; not readable), skipped: {named}",
                self.archived
            ));
        }
        if !self.changed.is_empty() {
            text.push_str(&format!(
                "; {} changed during the job (saved as of their GET, not as listed): {}",
                self.changed.len(),
                keys(&self.changed)
            ));
        }
        text
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn archived_objects_are_counted_and_only_the_first_are_named() {
        let mut s = Stats::default();
        for i in 0..(NAMED_KEYS + 5) {
            s.archived_skipped(&format!("cold/{i}"));
        }
        assert_eq!(s.archived, NAMED_KEYS as u64 + 5);
        assert_eq!(s.archived_keys.len(), NAMED_KEYS);
        let text = s.summary("s3://b/", "saved");
        assert!(
            text.contains(&format!("; {} archived (", NAMED_KEYS + 5))
                && text.contains("'cold/0'")
                && !text.contains(&format!("'cold/{NAMED_KEYS}'"))
                && text.ends_with("and 5 more"),
            "{text}"
        );
    }

    #[test]
    fn summary_names_keys_up_to_a_limit() {
        let mut s = Stats {
            objects: 3,
            bytes: 10,
            ..Stats::default()
        };
        s.failed = (0..25).map(|i| format!("k{i}")).collect();
        let text = s.summary("s3://b/", "saved");
        assert!(text.contains("3 objects saved, 10 bytes"));
        assert!(text.contains("'k19'"));
        assert!(!text.contains("'k20'"));
        assert!(text.contains("and 5 more"));
    }
}
