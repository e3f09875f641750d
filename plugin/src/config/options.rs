//! The plugin string: `s3:key=value:key=value…` as written in a FileSet's `Plugin =` line (or
//! given as Plugin Options). `\:` is a literal colon and `\\` a literal backslash inside a
//! value. Every key is checked: unknown, repeated or malformed options are errors naming the
//! option.

use std::path::PathBuf;
use std::time::Duration;

use crate::config::size::{parse_size, SizeError, Unit};

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
    /// What a backup does with objects in an archive storage class, which a GET cannot read.
    pub archived: Archived,
}

/// `archived=`: objects in GLACIER or DEEP_ARCHIVE (or in an archive tier of
/// INTELLIGENT_TIERING, which a GET answers with 403 InvalidObjectState).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Archived {
    /// Skipped with a warning naming each, counted in the closing message.
    Skip,
    /// Each is an error of the job (the job ends with errors), the rest is saved.
    Fail,
}

/// How an option's value is written.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// Free text: a name, a key, a path.
    Text,
    /// `yes` or `no` (also `true`/`false`, `on`/`off`, `1`/`0`).
    YesNo,
    /// A whole number in `min..=max`.
    Number { min: u64, max: u64 },
    /// A size in bytes (`64M`, `1G`, `1048576`) of at least `min` bytes and at most 64G.
    Size { min: u64 },
    /// An `http://` or `https://` URL.
    Url,
    /// A UTC time like `2026-11-20T12:00:00Z`.
    Time,
    /// One of these words.
    Choice(&'static [&'static str]),
}

/// An option's default.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OptionDefault {
    /// Leaving the option out is the same as writing this value.
    Value(&'static str),
    /// What leaving the option out means, in words (no value gives the same).
    Absent(&'static str),
}

impl OptionDefault {
    /// As the README's options table writes it (there with backticks around values).
    pub fn text(&self) -> &'static str {
        match self {
            OptionDefault::Value(t) | OptionDefault::Absent(t) => t,
        }
    }

    /// The value that stands for a left-out option: the default written as a value, or
    /// nothing (empty) where leaving it out has a meaning of its own.
    pub fn value(&self) -> &'static str {
        match self {
            OptionDefault::Value(v) => v,
            OptionDefault::Absent(_) => "",
        }
    }
}

/// One option of the plugin string.
#[derive(Clone, Copy, Debug)]
pub struct Spec {
    pub name: &'static str,
    /// One line for an administrator.
    pub help: &'static str,
    pub default: OptionDefault,
    pub kind: Kind,
}

const fn spec(name: &'static str, kind: Kind, default: OptionDefault, help: &'static str) -> Spec {
    Spec {
        name,
        help,
        default,
        kind,
    }
}

/// The largest size any option takes.
pub const MAX_SIZE: u64 = 64 << 30;

pub const BUCKET: Spec = spec(
    "bucket",
    Kind::Text,
    OptionDefault::Absent("—"),
    "bucket to back up (required)",
);
pub const ENDPOINT: Spec = spec(
    "endpoint",
    Kind::Url,
    OptionDefault::Absent("AWS S3"),
    "S3 endpoint URL, e.g. https://rgw.example.com:7480",
);
pub const REGION: Spec = spec(
    "region",
    Kind::Text,
    OptionDefault::Absent("from the AWS profile/environment, else us-east-1"),
    "region for signing",
);
pub const PATH_STYLE: Spec = spec(
    "path_style",
    Kind::YesNo,
    OptionDefault::Absent("yes with endpoint, no on AWS"),
    "path-style addressing (https://host/bucket/key)",
);
pub const PREFIX: Spec = spec(
    "prefix",
    Kind::Text,
    OptionDefault::Absent("all keys"),
    "only keys starting with this prefix",
);
pub const START_AFTER: Spec = spec(
    "start_after",
    Kind::Text,
    OptionDefault::Absent("from the first key"),
    "key range: only keys after this key (exclusive)",
);
pub const END_AT: Spec = spec(
    "end_at",
    Kind::Text,
    OptionDefault::Absent("to the last key"),
    "key range: only keys up to this key (inclusive)",
);
pub const CREDENTIALS_FILE: Spec = spec(
    "credentials_file",
    Kind::Text,
    OptionDefault::Absent("the AWS credential chain"),
    "AWS shared-credentials file, mode 0600",
);
pub const PROFILE: Spec = spec(
    "profile",
    Kind::Text,
    OptionDefault::Absent("default"),
    "profile in the credentials file or AWS config",
);
pub const CONCURRENCY: Spec = spec(
    "concurrency",
    Kind::Number { min: 1, max: 256 },
    OptionDefault::Value("128"),
    "GET requests in flight: objects and parts of large objects",
);
pub const PREFETCH_BYTES: Spec = spec(
    "prefetch_bytes",
    Kind::Size { min: 1 << 20 },
    OptionDefault::Value("64M"),
    "memory budget for prefetched data, over the whole job",
);
pub const PART_SIZE: Spec = spec(
    "part_size",
    Kind::Size { min: 256 << 10 },
    OptionDefault::Value("8M"),
    "objects larger than this are fetched as parallel ranged GETs of this size (at most prefetch_bytes; more than 1G counts as 1G)",
);
pub const MAX_RATE: Spec = spec(
    "max_rate",
    Kind::Size { min: 1 << 10 },
    OptionDefault::Absent("none"),
    "bandwidth cap of the job in bytes per second, e.g. 100M",
);
pub const SINCE_MARGIN: Spec = spec(
    "since_margin",
    Kind::Number {
        min: 0,
        max: 86_400,
    },
    OptionDefault::Value("1"),
    "seconds of overlap before the since time of Incremental/Differential",
);
pub const READ_TIMEOUT: Spec = spec(
    "read_timeout",
    Kind::Number { min: 1, max: 3600 },
    OptionDefault::Value("60"),
    "seconds without data before a request counts as failed and is retried",
);
pub const RETRIES: Spec = spec(
    "retries",
    Kind::Number { min: 0, max: 100 },
    OptionDefault::Value("10"),
    "retries of a failed request or broken body",
);
pub const RETRY_MAX_SECONDS: Spec = spec(
    "retry_max_seconds",
    Kind::Number {
        min: 1,
        max: 86_400,
    },
    OptionDefault::Value("300"),
    "time budget for the retries of one request",
);
pub const CA_FILE: Spec = spec(
    "ca_file",
    Kind::Text,
    OptionDefault::Absent("system roots only"),
    "PEM file of CA certificates to trust for an https endpoint (private CAs)",
);
pub const VERIFY_TLS: Spec = spec(
    "verify_tls",
    Kind::YesNo,
    OptionDefault::Value("yes"),
    "verify the endpoint's TLS certificate (no warns every job)",
);
pub const VERSIONS: Spec = spec(
    "versions",
    Kind::YesNo,
    OptionDefault::Value("no"),
    "back up every version and delete marker of a versioned bucket",
);
pub const AS_OF: Spec = spec(
    "as_of",
    Kind::Time,
    OptionDefault::Absent("all versions"),
    "restore of a versions=yes backup: the bucket as it was at this UTC time",
);

pub const ARCHIVED: Spec = spec(
    "archived",
    Kind::Choice(&["skip", "fail"]),
    OptionDefault::Value("skip"),
    "objects in GLACIER or DEEP_ARCHIVE (or an archive tier of INTELLIGENT_TIERING): skip with a warning, or fail each",
);

/// Every option, in the order of the README's options table: what the parser accepts, what the
/// unknown-option error lists and what [`help`] prints.
pub const OPTIONS: &[Spec] = &[
    BUCKET,
    ENDPOINT,
    REGION,
    PATH_STYLE,
    PREFIX,
    START_AFTER,
    END_AT,
    CREDENTIALS_FILE,
    PROFILE,
    CONCURRENCY,
    PREFETCH_BYTES,
    PART_SIZE,
    MAX_RATE,
    SINCE_MARGIN,
    READ_TIMEOUT,
    RETRIES,
    RETRY_MAX_SECONDS,
    CA_FILE,
    VERIFY_TLS,
    VERSIONS,
    AS_OF,
    ARCHIVED,
];

/// One line per option: its name, what it does, what it takes and its default.
pub fn help() -> String {
    let width = OPTIONS.iter().map(|o| o.name.len()).max().unwrap_or(0);
    let mut out = String::new();
    for o in OPTIONS {
        let takes = match o.kind {
            Kind::Text => String::new(),
            Kind::YesNo => "yes/no; ".into(),
            Kind::Choice(words) => format!("{}; ", words.join("|")),
            Kind::Number { min, max } => format!("{min}-{max}; "),
            Kind::Size { min } => format!("a size, {}-{}; ", size_text(min), size_text(MAX_SIZE)),
            Kind::Url => "http:// or https:// URL; ".into(),
            Kind::Time => "UTC time like 2026-11-20T12:00:00Z; ".into(),
        };
        out.push_str(&format!(
            "{:<width$}  {} ({takes}default: {})\n",
            o.name,
            o.help,
            o.default.text()
        ));
    }
    out
}

/// `1048576` as `1M`: the largest binary unit that divides it.
fn size_text(bytes: u64) -> String {
    for (shift, unit) in [(30, "G"), (20, "M"), (10, "K")] {
        if bytes >= 1 << shift && bytes.is_multiple_of(1 << shift) {
            return format!("{}{unit}", bytes >> shift);
        }
    }
    bytes.to_string()
}

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
        if !OPTIONS.iter().any(|o| o.name == key) {
            let names: Vec<&str> = OPTIONS.iter().map(|o| o.name).collect();
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

impl Spec {
    /// One of the option's words (case-insensitive), as its index.
    fn choice(&self, value: &str) -> Result<usize, OptionError> {
        let Kind::Choice(words) = self.kind else {
            return Err(bad(self.name, "is not a choice option"));
        };
        let value = value.trim();
        words
            .iter()
            .position(|w| w.eq_ignore_ascii_case(value))
            .ok_or_else(|| {
                bad(
                    self.name,
                    format!("expected {}, got '{value}'", words.join(" or ")),
                )
            })
    }

    fn yes_no(&self, value: &str) -> Result<bool, OptionError> {
        match value.to_ascii_lowercase().as_str() {
            "yes" | "true" | "1" | "on" => Ok(true),
            "no" | "false" | "0" | "off" => Ok(false),
            _ => Err(bad(self.name, format!("expected yes or no, got '{value}'"))),
        }
    }

    /// A whole number in the option's range.
    fn number(&self, value: &str) -> Result<u64, OptionError> {
        let Kind::Number { min, max } = self.kind else {
            return Err(bad(self.name, "is not a number option"));
        };
        let n: u64 = value
            .trim()
            .parse()
            .map_err(|_| bad(self.name, format!("expected a whole number, got '{value}'")))?;
        if n < min || n > max {
            return Err(bad(self.name, format!("{n} is out of range {min}..={max}")));
        }
        Ok(n)
    }

    /// `64M`, `1G`, `512K`, `1048576` (see [`crate::config::size`]), at least the option's
    /// minimum. `KB`, `MB`, `GB`, `TB` are refused: this plugin read them as powers of 1024
    /// before, Bareos reads them as powers of 1000, and a stored FileSet must not change its
    /// meaning without a word.
    fn size(&self, value: &str) -> Result<u64, OptionError> {
        let Kind::Size { min } = self.kind else {
            return Err(bad(self.name, "is not a size option"));
        };
        let option = self.name;
        let size = parse_size(value).map_err(|e| match e {
            SizeError::Malformed => bad(option, format!("expected a size like 64M, got '{value}'")),
            SizeError::TooLarge => bad(option, format!("{value} is larger than 64G")),
        })?;
        if size.unit == Unit::Decimal {
            let binary = value.trim().trim_end_matches(['b', 'B']);
            let meant = parse_size(binary).map(|s| s.bytes).unwrap_or(0);
            return Err(bad(
                option,
                format!(
                    "'{value}' is ambiguous: Bareos reads KB, MB, GB as powers of 1000, this plugin \
                     read them as powers of 1024 before. Write {binary} or {binary}iB ({meant} bytes) \
                     as before, or {} for that many bytes",
                    size.bytes
                ),
            ));
        }
        if size.bytes > MAX_SIZE {
            return Err(bad(option, format!("{value} is larger than 64G")));
        }
        if size.bytes < min {
            return Err(bad(
                option,
                format!("{value} is below the minimum of {min} bytes"),
            ));
        }
        Ok(size.bytes)
    }
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
        let get = |option: &Spec| {
            pairs
                .iter()
                .find(|(k, _)| k == option.name)
                .map(|(_, v)| v.as_str())
        };
        // The value written, else the table's default: the table is the one place defaults live.
        let value = |option: &Spec| get(option).unwrap_or_else(|| option.default.value());
        let bucket = get(&BUCKET)
            .ok_or_else(|| bad(BUCKET.name, "missing (e.g. s3:bucket=photos)"))?
            .to_string();
        valid_bucket(&bucket)?;
        let endpoint = match get(&ENDPOINT) {
            Some(e) if e.starts_with("http://") || e.starts_with("https://") => {
                Some(e.trim_end_matches('/').to_string())
            }
            Some(e) => {
                return Err(bad(
                    ENDPOINT.name,
                    format!("'{e}' is not an http:// or https:// URL"),
                ))
            }
            None => None,
        };
        let path_style = match get(&PATH_STYLE) {
            Some(v) => PATH_STYLE.yes_no(v)?,
            None => endpoint.is_some(),
        };
        let non_empty = |option: &Spec| -> Result<Option<String>, OptionError> {
            match get(option) {
                Some("") => Err(bad(option.name, "is empty")),
                Some(v) => Ok(Some(v.to_string())),
                None => Ok(None),
            }
        };
        let prefetch_bytes = PREFETCH_BYTES.size(value(&PREFETCH_BYTES))?;
        let part_size = match get(&PART_SIZE) {
            Some(v) => PART_SIZE.size(v)?.min(1 << 30),
            None => PART_SIZE
                .size(PART_SIZE.default.value())?
                .min(prefetch_bytes),
        };
        if part_size > prefetch_bytes {
            return Err(bad(
                PART_SIZE.name,
                format!("{part_size} bytes is larger than prefetch_bytes ({prefetch_bytes})"),
            ));
        }
        if let (Some(a), Some(b)) = (get(&START_AFTER), get(&END_AT)) {
            if a >= b {
                return Err(bad(
                    END_AT.name,
                    format!("'{b}' is not after start_after '{a}'"),
                ));
            }
        }
        Ok(Options {
            bucket,
            endpoint,
            region: non_empty(&REGION)?,
            path_style,
            prefix: get(&PREFIX).unwrap_or("").to_string(),
            start_after: non_empty(&START_AFTER)?,
            end_at: non_empty(&END_AT)?,
            credentials_file: non_empty(&CREDENTIALS_FILE)?.map(PathBuf::from),
            profile: non_empty(&PROFILE)?,
            concurrency: CONCURRENCY.number(value(&CONCURRENCY))? as usize,
            prefetch_bytes,
            part_size,
            max_rate: match get(&MAX_RATE) {
                Some(v) => Some(MAX_RATE.size(v)?),
                None => None,
            },
            since_margin: SINCE_MARGIN.number(value(&SINCE_MARGIN))? as i64,
            read_timeout: Duration::from_secs(READ_TIMEOUT.number(value(&READ_TIMEOUT))?),
            ca_file: non_empty(&CA_FILE)?.map(PathBuf::from),
            verify_tls: VERIFY_TLS.yes_no(value(&VERIFY_TLS))?,
            retries: RETRIES.number(value(&RETRIES))? as u32,
            retry_max: Duration::from_secs(RETRY_MAX_SECONDS.number(value(&RETRY_MAX_SECONDS))?),
            versions: VERSIONS.yes_no(value(&VERSIONS))?,
            as_of: match get(&AS_OF) {
                Some(v) => Some(crate::config::naming::parse_utc(v).ok_or_else(|| {
                    bad(
                        AS_OF.name,
                        format!("expected a UTC time like 2026-11-20T12:00:00Z, got '{v}'"),
                    )
                })?),
                None => None,
            },
            archived: match ARCHIVED.choice(value(&ARCHIVED))? {
                1 => Archived::Fail,
                _ => Archived::Skip,
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
        assert_eq!(o.concurrency, 128);
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
        let e = parse("s3:bucket=b:part_size=100").unwrap_err();
        assert_eq!(e.option, "part_size");
        assert_eq!(
            parse("s3:bucket=b:max_rate=x").unwrap_err().option,
            "max_rate"
        );
    }

    #[test]
    fn the_readme_documents_exactly_the_known_options_with_their_defaults() {
        let readme = include_str!("../../../README.md");
        let table = readme
            .split("## Plugin options")
            .nth(1)
            .expect("README has a Plugin options section");
        // (option, default column without its backticks)
        let mut documented: Vec<(&str, String)> = table
            .lines()
            .skip_while(|l| !l.starts_with("| option"))
            .skip(2)
            .take_while(|l| l.starts_with('|'))
            .filter_map(|l| {
                let name = l.split('`').nth(1)?;
                let default = l.trim().trim_end_matches('|').rsplit('|').next()?;
                Some((name, default.replace('`', "").trim().to_string()))
            })
            .collect();
        let mut known: Vec<(&str, String)> = OPTIONS
            .iter()
            .map(|o| (o.name, o.default.text().to_string()))
            .collect();
        documented.sort();
        known.sort();
        assert_eq!(documented, known);
    }

    #[test]
    fn a_default_value_written_out_changes_nothing() {
        let absent = parse("s3:bucket=b").unwrap();
        for o in OPTIONS {
            if let OptionDefault::Value(v) = o.default {
                let written = parse(&format!("s3:bucket=b:{}={v}", o.name))
                    .unwrap_or_else(|e| panic!("{}={v}: {e}", o.name));
                assert_eq!(written, absent, "{}={v} is not the default", o.name);
            }
        }
        // And it can tell: another value does change something.
        assert_ne!(parse("s3:bucket=b:concurrency=127").unwrap(), absent);
    }

    #[test]
    fn help_lists_every_option_with_its_range_and_default() {
        let text = help();
        assert_eq!(text.lines().count(), OPTIONS.len());
        for o in OPTIONS {
            assert!(
                text.lines().any(|l| l.starts_with(o.name)
                    && l.contains(o.help)
                    && l.contains(&format!("default: {})", o.default.text()))),
                "{}: {text}",
                o.name
            );
        }
        assert!(text.contains("(1-256; default: 128)"), "{text}");
        assert!(text.contains("(a size, 1M-64G; default: 64M)"), "{text}");
        assert!(text.contains("(a size, 256K-64G; default: 8M)"), "{text}");
    }

    #[test]
    fn unknown_options_are_refused_naming_every_known_one() {
        let e = parse("s3:bucket=b:colour=red").unwrap_err();
        for o in OPTIONS {
            assert!(e.problem.contains(o.name), "{} missing: {e}", o.name);
        }
    }

    #[test]
    fn sizes_mean_what_they_mean_in_bareos_and_the_changed_ones_are_refused() {
        let size = |v: &str| parse(&format!("s3:bucket=b:max_rate={v}")).map(|o| o.max_rate);
        assert_eq!(size("4096"), Ok(Some(4096)));
        assert_eq!(size("4096B"), Ok(Some(4096)));
        for (unit, bytes) in [("K", 1u64 << 10), ("M", 1 << 20), ("G", 1 << 30)] {
            for v in [
                format!("2{unit}"),
                format!("2{}", unit.to_lowercase()),
                format!("2{unit}iB"),
                format!("2{}ib", unit.to_lowercase()),
            ] {
                assert_eq!(size(&v), Ok(Some(2 * bytes)), "{v}");
            }
        }
        assert_eq!(size("1.5M"), Ok(Some(3 << 19)));
        assert_eq!(size("1 M"), Ok(Some(1 << 20)));
        // KB, MB, GB meant KiB, MiB, GiB here before and mean powers of 1000 in Bareos: refused,
        // saying what to write instead.
        for (v, binary, meant, decimal) in [
            ("64MB", "64M", 64u64 << 20, 64_000_000u64),
            ("100kb", "100k", 100 << 10, 100_000),
            ("2GB", "2G", 2 << 30, 2_000_000_000),
        ] {
            let e = size(v).unwrap_err();
            assert_eq!(e.option, "max_rate");
            let text = e.to_string();
            for part in [
                format!("'{v}' is ambiguous"),
                format!("Write {binary} or {binary}iB ({meant} bytes)"),
                format!("or {decimal} for"),
            ] {
                assert!(text.contains(&part), "{part}: {text}");
            }
        }
        assert!(size("1T")
            .unwrap_err()
            .to_string()
            .contains("larger than 64G"));
        assert!(size("64G").is_ok());
        assert!(size("99999999999999999999")
            .unwrap_err()
            .to_string()
            .contains("larger than 64G"));
        for bad in ["12Q", "64BB", "M", "-1M"] {
            assert!(
                size(bad)
                    .unwrap_err()
                    .to_string()
                    .contains("expected a size like 64M"),
                "{bad}"
            );
        }
        assert!(size("1023")
            .unwrap_err()
            .to_string()
            .contains("below the minimum"));
    }

    #[test]
    fn overrides_win() {
        let o = Options::parse("s3:bucket=a:prefix=x", &[("bucket".into(), "b".into())]).unwrap();
        assert_eq!(o.bucket, "b");
        assert_eq!(o.prefix, "x");
    }
}
