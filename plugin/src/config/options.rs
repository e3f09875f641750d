//! The plugin string: `s3:key=value:key=value…` as written in a FileSet's `Plugin =` line (or
//! given as Plugin Options). `\:` is a literal colon and `\\` a literal backslash inside a
//! value. Every key is checked: unknown, repeated or malformed options are errors naming the
//! option.

use std::path::PathBuf;
use std::time::Duration;

/// The plugin's name: the part before the first `:`.
pub const PLUGIN_NAME: &str = "s3";

/// Everything a job needs to reach the bucket.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Options {
    pub bucket: String,
    /// S3 endpoint URL; `None` is AWS.
    pub endpoint: Option<String>,
    pub region: Option<String>,
    /// Path-style addressing (`http://host/bucket/key`). Default: on with `endpoint`, off for AWS.
    pub path_style: bool,
    /// Only keys starting with this are backed up.
    pub prefix: String,
    /// Key range (a shard): only keys after this one (exclusive, as S3's StartAfter) …
    pub start_after: Option<String>,
    /// … and up to this one (inclusive). Shards `(k0, k1]`, `(k1, k2]`, … cover a bucket
    /// exactly, whatever keys are added later.
    pub end_at: Option<String>,
    /// AWS shared-credentials file (must not be group/world readable).
    pub credentials_file: Option<PathBuf>,
    pub profile: Option<String>,
    /// GET requests in flight at once (objects prefetched while one streams).
    pub concurrency: usize,
    /// Memory budget for data fetched but not yet read by the daemon, over all objects.
    pub prefetch_bytes: u64,
    /// Objects larger than this are fetched as parallel ranged GETs of this size.
    pub part_size: u64,
    /// Bandwidth cap of the job in bytes per second.
    pub max_rate: Option<u64>,
    /// Seconds subtracted from the since time of an Incremental/Differential.
    pub since_margin: i64,
    /// A request that delivers no byte for this long fails (and is retried).
    pub read_timeout: Duration,
    /// PEM bundle of CAs to trust in addition to the system's (private CAs).
    pub ca_file: Option<PathBuf>,
    /// TLS certificate verification; off only when explicitly turned off.
    pub verify_tls: bool,
    /// Retries of one request (or of one object's body, counted since its last progress).
    pub retries: u32,
    /// Time budget of one request's retries.
    pub retry_max: Duration,
    /// Back up every version and delete marker (ListObjectVersions), not only current objects.
    pub versions: bool,
    /// Restore of a versioned backup: the bucket as it was at this time (ms since the epoch).
    pub as_of: Option<i64>,
}

pub const DEFAULT_CONCURRENCY: usize = 128;
pub const DEFAULT_PART_SIZE: u64 = 8 << 20;
pub const DEFAULT_PREFETCH_BYTES: u64 = 64 << 20;
pub const DEFAULT_SINCE_MARGIN: i64 = 1;
pub const DEFAULT_READ_TIMEOUT_SECS: u64 = 60;
pub const DEFAULT_RETRIES: u32 = 10;
pub const DEFAULT_RETRY_MAX_SECS: u64 = 300;

/// Each known option with its one-line description (the README's options table is this list).
pub const KNOWN: &[(&str, &str)] = &[
    ("bucket", "bucket to back up (required)"),
    (
        "endpoint",
        "S3 endpoint URL, e.g. https://rgw.example.com:7480 (default: AWS)",
    ),
    (
        "region",
        "region (default: from the AWS profile/environment, else us-east-1)",
    ),
    (
        "path_style",
        "yes/no: path-style addressing (default: yes with endpoint, no on AWS)",
    ),
    ("prefix", "only keys starting with this prefix"),
    (
        "start_after",
        "key range: only keys after this key (exclusive)",
    ),
    ("end_at", "key range: only keys up to this key (inclusive)"),
    (
        "credentials_file",
        "AWS shared-credentials file, mode 0600 (default: the AWS credential chain)",
    ),
    (
        "profile",
        "profile in the credentials file or AWS config (default: default)",
    ),
    (
        "concurrency",
        "GET requests in flight: objects and parts of large objects (default 32, 1-256)",
    ),
    (
        "prefetch_bytes",
        "memory budget for prefetched data, e.g. 64M (default 64M, min 1M)",
    ),
    (
        "part_size",
        "objects larger than this are fetched as parallel ranged GETs of this size (default 8M)",
    ),
    (
        "max_rate",
        "bandwidth cap of the job in bytes per second, e.g. 100M (default: none)",
    ),
    (
        "since_margin",
        "seconds of overlap before the since time of Incremental/Differential (default 1)",
    ),
    (
        "read_timeout",
        "seconds without data before a request counts as failed and is retried (default 60)",
    ),
    (
        "ca_file",
        "PEM file of CA certificates to trust for an https endpoint (private CAs)",
    ),
    (
        "verify_tls",
        "yes/no: verify the endpoint's TLS certificate (default yes; no warns every job)",
    ),
    (
        "retries",
        "retries of a failed request or broken body (default 10, 0-100)",
    ),
    (
        "retry_max_seconds",
        "time budget for the retries of one request (default 300)",
    ),
    (
        "versions",
        "yes/no: back up every version and delete marker of a versioned bucket (default no)",
    ),
    (
        "as_of",
        "restore of a versions=yes backup: the bucket as it was at this UTC time, e.g. 2026-11-20T12:00:00Z",
    ),
];

/// A bad plugin string, with the option it is about.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("plugin option {option}: {problem}")]
pub struct OptionError {
    pub option: String,
    pub problem: String,
}

fn bad(option: &str, problem: impl Into<String>) -> OptionError {
    OptionError {
        option: option.to_string(),
        problem: problem.into(),
    }
}

/// Splits at unescaped `:` and unescapes `\:` and `\\`.
fn split_fields(s: &str) -> Result<Vec<String>, OptionError> {
    let mut fields = Vec::new();
    let mut current = String::new();
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' => match chars.next() {
                Some(e @ (':' | '\\')) => current.push(e),
                Some(other) => {
                    return Err(bad(
                        "string",
                        format!("unknown escape \\{other} (only \\: and \\\\ are escapes)"),
                    ))
                }
                None => return Err(bad("string", "ends with a lone backslash")),
            },
            ':' => fields.push(std::mem::take(&mut current)),
            c => current.push(c),
        }
    }
    fields.push(current);
    Ok(fields)
}

/// Parses the `key=value` pairs of a plugin string (with or without the leading `s3:`).
pub fn parse_pairs(s: &str) -> Result<Vec<(String, String)>, OptionError> {
    // Only line endings are stripped: spaces and tabs are valid in keys and prefixes.
    let mut fields = split_fields(s.trim_end_matches(['\n', '\r']))?;
    if fields.first().map(String::as_str) == Some(PLUGIN_NAME) {
        fields.remove(0);
    }
    let mut pairs: Vec<(String, String)> = Vec::new();
    for field in fields {
        if field.is_empty() {
            continue;
        }
        let Some((key, value)) = field.split_once('=') else {
            // `endpoint=https://host:7480` and `as_of=2026-11-20T12:00:00Z` need no escapes: a
            // field without `=` right after them continues their value.
            match pairs.last_mut() {
                Some((k, v)) if k == "endpoint" || k == "as_of" => {
                    v.push(':');
                    v.push_str(&field);
                    continue;
                }
                _ => return Err(bad(&field, "expected key=value")),
            }
        };
        let key = key.trim().to_ascii_lowercase();
        if !KNOWN.iter().any(|(k, _)| *k == key) {
            let names: Vec<&str> = KNOWN.iter().map(|(k, _)| *k).collect();
            return Err(bad(
                &key,
                format!("unknown option (known: {})", names.join(", ")),
            ));
        }
        if pairs.iter().any(|(k, _)| *k == key) {
            return Err(bad(&key, "given twice"));
        }
        pairs.push((key, value.to_string()));
    }
    Ok(pairs)
}

fn yes_no(option: &str, value: &str) -> Result<bool, OptionError> {
    match value.to_ascii_lowercase().as_str() {
        "yes" | "true" | "1" | "on" => Ok(true),
        "no" | "false" | "0" | "off" => Ok(false),
        _ => Err(bad(option, format!("expected yes or no, got '{value}'"))),
    }
}

fn number(option: &str, value: &str, min: u64, max: u64) -> Result<u64, OptionError> {
    let n: u64 = value
        .trim()
        .parse()
        .map_err(|_| bad(option, format!("expected a whole number, got '{value}'")))?;
    if n < min || n > max {
        return Err(bad(option, format!("{n} is out of range {min}..={max}")));
    }
    Ok(n)
}

/// `64M`, `1G`, `512K`, `1048576` (binary units).
fn byte_size(option: &str, value: &str, min: u64) -> Result<u64, OptionError> {
    let v = value.trim();
    let (digits, unit) = match v.find(|c: char| !c.is_ascii_digit()) {
        Some(i) => v.split_at(i),
        None => (v, ""),
    };
    let shift = match unit
        .to_ascii_uppercase()
        .trim_end_matches("IB")
        .trim_end_matches('B')
    {
        "" => 0,
        "K" => 10,
        "M" => 20,
        "G" => 30,
        _ => {
            return Err(bad(
                option,
                format!("expected a size like 64M, got '{value}'"),
            ))
        }
    };
    let n: u64 = digits
        .parse()
        .map_err(|_| bad(option, format!("expected a size like 64M, got '{value}'")))?;
    let bytes = n
        .checked_mul(1 << shift)
        .filter(|b| *b <= 64 << 30)
        .ok_or_else(|| bad(option, format!("{value} is larger than 64G")))?;
    if bytes < min {
        return Err(bad(
            option,
            format!("{value} is below the minimum of {min} bytes"),
        ));
    }
    Ok(bytes)
}

fn valid_bucket(name: &str) -> Result<(), OptionError> {
    let ok_chars = name.bytes().all(|b| {
        b.is_ascii_lowercase()
            || b.is_ascii_digit()
            || b"-._".contains(&b)
            || b.is_ascii_uppercase()
    });
    if name.is_empty() || name.len() > 255 || !ok_chars {
        return Err(bad(
            "bucket",
            format!("'{name}' is not a valid bucket name"),
        ));
    }
    Ok(())
}

impl Options {
    /// Options of a plugin string; `overrides` (Plugin Options) win over the string's values.
    pub fn parse(command: &str, overrides: &[(String, String)]) -> Result<Options, OptionError> {
        let mut pairs = parse_pairs(command)?;
        for (k, v) in overrides {
            pairs.retain(|(key, _)| key != k);
            pairs.push((k.clone(), v.clone()));
        }
        let get = |key: &str| {
            pairs
                .iter()
                .find(|(k, _)| k == key)
                .map(|(_, v)| v.as_str())
        };
        let bucket = get("bucket")
            .ok_or_else(|| bad("bucket", "missing (e.g. s3:bucket=photos)"))?
            .to_string();
        valid_bucket(&bucket)?;
        let endpoint = match get("endpoint") {
            Some(e) if e.starts_with("http://") || e.starts_with("https://") => {
                Some(e.trim_end_matches('/').to_string())
            }
            Some(e) => {
                return Err(bad(
                    "endpoint",
                    format!("'{e}' is not an http:// or https:// URL"),
                ))
            }
            None => None,
        };
        let path_style = match get("path_style") {
            Some(v) => yes_no("path_style", v)?,
            None => endpoint.is_some(),
        };
        let non_empty = |key: &str| -> Result<Option<String>, OptionError> {
            match get(key) {
                Some("") => Err(bad(key, "is empty")),
                Some(v) => Ok(Some(v.to_string())),
                None => Ok(None),
            }
        };
        let prefetch_bytes = match get("prefetch_bytes") {
            Some(v) => byte_size("prefetch_bytes", v, 1 << 20)?,
            None => DEFAULT_PREFETCH_BYTES,
        };
        let part_size = match get("part_size") {
            Some(v) => byte_size("part_size", v, 256 << 10)?.min(1 << 30),
            None => DEFAULT_PART_SIZE.min(prefetch_bytes),
        };
        if part_size > prefetch_bytes {
            return Err(bad(
                "part_size",
                format!("{part_size} bytes is larger than prefetch_bytes ({prefetch_bytes})"),
            ));
        }
        if let (Some(a), Some(b)) = (get("start_after"), get("end_at")) {
            if a >= b {
                return Err(bad(
                    "end_at",
                    format!("'{b}' is not after start_after '{a}'"),
                ));
            }
        }
        Ok(Options {
            bucket,
            endpoint,
            region: non_empty("region")?,
            path_style,
            prefix: get("prefix").unwrap_or("").to_string(),
            start_after: non_empty("start_after")?,
            end_at: non_empty("end_at")?,
            credentials_file: non_empty("credentials_file")?.map(PathBuf::from),
            profile: non_empty("profile")?,
            concurrency: match get("concurrency") {
                Some(v) => number("concurrency", v, 1, 256)? as usize,
                None => DEFAULT_CONCURRENCY,
            },
            prefetch_bytes,
            part_size,
            max_rate: match get("max_rate") {
                Some(v) => Some(byte_size("max_rate", v, 1024)?),
                None => None,
            },
            since_margin: match get("since_margin") {
                Some(v) => number("since_margin", v, 0, 86_400)? as i64,
                None => DEFAULT_SINCE_MARGIN,
            },
            read_timeout: Duration::from_secs(match get("read_timeout") {
                Some(v) => number("read_timeout", v, 1, 3600)?,
                None => DEFAULT_READ_TIMEOUT_SECS,
            }),
            ca_file: non_empty("ca_file")?.map(PathBuf::from),
            verify_tls: match get("verify_tls") {
                Some(v) => yes_no("verify_tls", v)?,
                None => true,
            },
            retries: match get("retries") {
                Some(v) => number("retries", v, 0, 100)? as u32,
                None => DEFAULT_RETRIES,
            },
            retry_max: Duration::from_secs(match get("retry_max_seconds") {
                Some(v) => number("retry_max_seconds", v, 1, 86_400)?,
                None => DEFAULT_RETRY_MAX_SECS,
            }),
            versions: match get("versions") {
                Some(v) => yes_no("versions", v)?,
                None => false,
            },
            as_of: match get("as_of") {
                Some(v) => Some(crate::config::naming::parse_utc(v).ok_or_else(|| {
                    bad(
                        "as_of",
                        format!("expected a UTC time like 2026-11-20T12:00:00Z, got '{v}'"),
                    )
                })?),
                None => None,
            },
        })
    }

    /// `s3://bucket/prefix` (and the key range) for messages.
    pub fn location(&self) -> String {
        let mut l = format!("s3://{}/{}", self.bucket, self.prefix);
        match (&self.start_after, &self.end_at) {
            (None, None) => {}
            (a, b) => l.push_str(&format!(
                " (keys after '{}' up to '{}')",
                a.as_deref().unwrap_or(""),
                b.as_deref().unwrap_or("")
            )),
        }
        l
    }

    /// Whether `key` is in the key range (the prefix is applied by the listing).
    pub fn in_range(&self, key: &str) -> bool {
        self.start_after.as_deref().is_none_or(|a| key > a)
            && self.end_at.as_deref().is_none_or(|b| key <= b)
    }

    /// The endpoint for messages.
    pub fn endpoint_name(&self) -> &str {
        self.endpoint.as_deref().unwrap_or("AWS S3")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(s: &str) -> Result<Options, OptionError> {
        Options::parse(s, &[])
    }

    #[test]
    fn full_string_with_escapes() {
        let o = parse(
            "s3:bucket=photos:endpoint=http\\://127.0.0.1\\:7480:prefix=2024\\:q/:path_style=no:region=eu:concurrency=4:prefetch_bytes=8M",
        )
        .unwrap();
        assert_eq!(o.bucket, "photos");
        assert_eq!(o.endpoint.as_deref(), Some("http://127.0.0.1:7480"));
        assert_eq!(o.prefix, "2024:q/");
        assert!(!o.path_style);
        assert_eq!(o.region.as_deref(), Some("eu"));
        assert_eq!(o.concurrency, 4);
        assert_eq!(o.prefetch_bytes, 8 << 20);
    }

    #[test]
    fn defaults() {
        let o = parse("s3:bucket=b").unwrap();
        assert!(!o.path_style);
        assert_eq!(o.prefix, "");
        assert_eq!(o.concurrency, DEFAULT_CONCURRENCY);
        let o = parse("s3:bucket=b:endpoint=https://x").unwrap();
        assert!(o.path_style);
        let o = parse("s3:endpoint=http://127.0.0.1:7480/:bucket=b").unwrap();
        assert_eq!(o.endpoint.as_deref(), Some("http://127.0.0.1:7480"));
    }

    #[test]
    fn errors_name_the_option() {
        let e = parse("s3:endpoint=http\\://x").unwrap_err();
        assert_eq!(e.option, "bucket");
        let e = parse("s3:bucket=b:colour=red").unwrap_err();
        assert_eq!(e.option, "colour");
        assert!(e.to_string().contains("unknown option"));
        let e = parse("s3:bucket=b:path_style=maybe").unwrap_err();
        assert_eq!(e.option, "path_style");
        let e = parse("s3:bucket=b:concurrency=many").unwrap_err();
        assert_eq!(e.option, "concurrency");
        let e = parse("s3:bucket=b:concurrency=0").unwrap_err();
        assert_eq!(e.option, "concurrency");
        let e = parse("s3:bucket=b:bucket=c").unwrap_err();
        assert!(e.to_string().contains("twice"));
        let e = parse("s3:bucket=b:endpoint=ftp://x").unwrap_err();
        assert_eq!(e.option, "endpoint");
        let e = parse("s3:bucket=b:justaword").unwrap_err();
        assert!(e.to_string().contains("key=value"));
        let e = parse("s3:bucket=b:prefetch_bytes=12Q").unwrap_err();
        assert_eq!(e.option, "prefetch_bytes");
        let e = parse("s3:bucket=b:credentials_file=").unwrap_err();
        assert_eq!(e.option, "credentials_file");
        assert!(parse("s3:bucket=b\\").is_err());
    }

    #[test]
    fn key_range() {
        let o = parse("s3:bucket=b:start_after=k10:end_at=k20").unwrap();
        assert!(!o.in_range("k10"));
        assert!(o.in_range("k10a"));
        assert!(o.in_range("k20"));
        assert!(!o.in_range("k20a"));
        assert!(o.location().contains("after 'k10' up to 'k20'"));
        let e = parse("s3:bucket=b:start_after=z:end_at=a").unwrap_err();
        assert_eq!(e.option, "end_at");
        let open = parse("s3:bucket=b:end_at=m").unwrap();
        assert!(open.in_range("") && open.in_range("m") && !open.in_range("n"));
    }

    #[test]
    fn transfer_options() {
        let o = parse("s3:bucket=b:part_size=16M:prefetch_bytes=128M:max_rate=50M").unwrap();
        assert_eq!(
            (o.part_size, o.prefetch_bytes, o.max_rate),
            (16 << 20, 128 << 20, Some(50 << 20))
        );
        let o = parse("s3:bucket=b:prefetch_bytes=2M").unwrap();
        assert_eq!(
            o.part_size,
            2 << 20,
            "the default part size fits the budget"
        );
        let e = parse("s3:bucket=b:part_size=16M:prefetch_bytes=8M").unwrap_err();
        assert_eq!(e.option, "part_size");
        assert_eq!(
            parse("s3:bucket=b:max_rate=x").unwrap_err().option,
            "max_rate"
        );
    }

    #[test]
    fn the_readme_documents_exactly_the_known_options() {
        let readme = include_str!("../../../README.md");
        let table = readme
            .split("## Plugin options")
            .nth(1)
            .expect("README has a Plugin options section");
        let mut documented: Vec<&str> = table
            .lines()
            .skip_while(|l| !l.starts_with("| option"))
            .skip(2)
            .take_while(|l| l.starts_with('|'))
            .filter_map(|l| l.split('`').nth(1))
            .collect();
        let mut known: Vec<&str> = KNOWN.iter().map(|(k, _)| *k).collect();
        documented.sort();
        known.sort();
        assert_eq!(documented, known);
    }

    #[test]
    fn overrides_win() {
        let o = Options::parse("s3:bucket=a:prefix=x", &[("bucket".into(), "b".into())]).unwrap();
        assert_eq!(o.bucket, "b");
        assert_eq!(o.prefix, "x");
    }
}
