//! `dump-server census`: objects and bytes per key prefix (first N `/`-separated levels) and per
//! storage class, as an aligned table or as JSON. Memory grows with the number of distinct
//! prefixes and classes, not with the number of keys.

use crate::stdout::outln;
use std::collections::BTreeMap;

use s3_plugin::config::naming::double_quoted;
use s3_plugin::runtime::block_on;
use s3_plugin::s3::client::connect;
use serde::Serialize;

use crate::exit::Failure;
use crate::listing::list;
use crate::plugin_string::BaseString;
use crate::progress::Progress;
use crate::size::{grouped, human};

#[derive(clap::Args, Debug)]
pub struct CensusArgs {
    /// The plugin string of the bucket ('s3:bucket=NAME:endpoint=URL:…'); its prefix and key
    /// range, if any, limit the census.
    #[arg(long, value_name = "STRING")]
    plugin: String,
    /// Levels of the key (split at '/', counted after the plugin string's prefix) that make up
    /// a row's prefix; 0 gives only the totals.
    #[arg(long, value_name = "N", default_value_t = 1)]
    depth: usize,
    /// Print JSON instead of tables.
    #[arg(long)]
    json: bool,
    /// No progress bar or summary on stderr.
    #[arg(long, short)]
    quiet: bool,
}

#[derive(Clone, Copy, Debug, Default, Serialize, PartialEq, Eq)]
pub struct Count {
    pub objects: u64,
    pub bytes: u64,
}

impl Count {
    fn add(&mut self, bytes: u64) {
        self.objects += 1;
        self.bytes += bytes;
    }
}

/// The row a key counts in: the bucket prefix plus the first `depth` levels of the rest, each
/// with its `/`; a key with fewer levels counts in its own "directory" (`""` for the top level).
pub fn prefix_of<'a>(key: &'a str, bucket_prefix: &str, depth: usize) -> &'a str {
    let skip = if key.starts_with(bucket_prefix) {
        bucket_prefix.len()
    } else {
        0
    };
    let mut end = skip;
    let mut levels = 0;
    if depth > 0 {
        for (i, b) in key.bytes().enumerate().skip(skip) {
            if b == b'/' {
                end = i + 1;
                levels += 1;
                if levels == depth {
                    break;
                }
            }
        }
    }
    &key[..end]
}

#[derive(Serialize)]
struct Row<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    prefix: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    storage_class: Option<&'a str>,
    objects: u64,
    bytes: u64,
}

#[derive(Serialize)]
struct Report<'a> {
    bucket: &'a str,
    prefix: &'a str,
    depth: usize,
    total: Count,
    prefixes: Vec<Row<'a>>,
    storage_classes: Vec<Row<'a>>,
}

/// Storage class label when the server sent none.
pub const UNREPORTED: &str = "(not reported)";

pub fn run(args: CensusArgs) -> Result<(), Failure> {
    let base = BaseString::parse(&args.plugin, true)
        .map_err(|e| Failure::usage(format!("--plugin: {e}")))?;
    let options = &base.options;
    let s3 = connect(options).map_err(Failure::error)?;
    let mut prefixes: BTreeMap<String, Count> = BTreeMap::new();
    let mut classes: BTreeMap<String, Count> = BTreeMap::new();
    let mut total = Count::default();
    let location = options.location();
    let mut progress = Progress::new("census of", &location, args.quiet);
    block_on(list(&s3, options, |page| {
        let mut page_bytes = 0;
        for item in page {
            let size = item.bytes();
            let p = prefix_of(&item.key, &options.prefix, args.depth);
            match prefixes.get_mut(p) {
                Some(c) => c.add(size),
                None => prefixes.entry(p.to_string()).or_default().add(size),
            }
            let class = item.storage_class.as_deref().unwrap_or(UNREPORTED);
            match classes.get_mut(class) {
                Some(c) => c.add(size),
                None => classes.entry(class.to_string()).or_default().add(size),
            }
            total.add(size);
            page_bytes += size;
        }
        progress.update(page.len() as u64, page_bytes, "");
        Ok(())
    }))
    .map_err(Failure::error)?;
    progress.finish();

    if args.json {
        let report = Report {
            bucket: &options.bucket,
            prefix: &options.prefix,
            depth: args.depth,
            total,
            prefixes: prefixes
                .iter()
                .map(|(p, c)| Row {
                    prefix: Some(p),
                    storage_class: None,
                    objects: c.objects,
                    bytes: c.bytes,
                })
                .collect(),
            storage_classes: classes
                .iter()
                .map(|(s, c)| Row {
                    prefix: None,
                    storage_class: Some(s),
                    objects: c.objects,
                    bytes: c.bytes,
                })
                .collect(),
        };
        let text = serde_json::to_string_pretty(&report)
            .map_err(|e| Failure::error(format!("cannot encode JSON: {e}")))?;
        outln!("{text}");
    } else {
        outln!(
            "{}: {} objects, {}",
            location,
            grouped(total.objects),
            human(total.bytes)
        );
        outln!();
        let rows: Vec<(String, Count)> = prefixes.iter().map(|(p, c)| (label(p), *c)).collect();
        table(&format!("PREFIX (depth {})", args.depth), &rows, total);
        outln!();
        let rows: Vec<(String, Count)> = classes.iter().map(|(s, c)| (s.clone(), *c)).collect();
        table("STORAGE CLASS", &rows, total);
    }
    Ok(())
}

/// A prefix as shown in the table: as it is, unless it holds control characters or edge
/// white space (then quoted with escapes).
fn label(prefix: &str) -> String {
    if prefix.is_empty() {
        "(top level)".into()
    } else if prefix.chars().any(char::is_control) || prefix.trim() != prefix {
        double_quoted(prefix)
    } else {
        prefix.to_string()
    }
}

fn table(title: &str, rows: &[(String, Count)], total: Count) {
    let width = rows
        .iter()
        .map(|(l, _)| l.chars().count())
        .chain([title.len(), 5])
        .max()
        .unwrap_or(5);
    let objects_w = grouped(total.objects).len().max(7);
    let bytes_w = total.bytes.to_string().len().max(5);
    outln!(
        "{title:<width$}  {:>objects_w$}  {:>bytes_w$}  {:>9}",
        "OBJECTS",
        "BYTES",
        "SIZE"
    );
    for (label, c) in rows.iter().chain([&("TOTAL".to_string(), total)]) {
        outln!(
            "{label:<width$}  {:>objects_w$}  {:>bytes_w$}  {:>9}",
            grouped(c.objects),
            c.bytes,
            human(c.bytes)
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefixes() {
        assert_eq!(prefix_of("a/b/c.txt", "", 1), "a/");
        assert_eq!(prefix_of("a/b/c.txt", "", 2), "a/b/");
        assert_eq!(prefix_of("a/b/c.txt", "", 5), "a/b/");
        assert_eq!(prefix_of("top.txt", "", 2), "");
        assert_eq!(prefix_of("a/b/c.txt", "", 0), "");
        assert_eq!(prefix_of("photos/2024/x", "photos/", 1), "photos/2024/");
        assert_eq!(prefix_of("photos/x", "photos/", 1), "photos/");
        assert_eq!(prefix_of("a//b", "", 2), "a//");
        assert_eq!(prefix_of("ü/日本/x", "", 1), "ü/");
    }
}
