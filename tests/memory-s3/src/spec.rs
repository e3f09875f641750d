//! Bucket descriptions as given on the command line.
//!
//! ```text
//! NAME:GROUP[,GROUP…][:mtime=SECS]
//! GROUP = COUNTxSIZE[@PREFIX]
//! ```
//!
//! A group is `COUNT` objects of `SIZE` bytes named `PREFIX` + the object's number, zero-padded
//! to the width of `COUNT - 1` (`obj-0000` … `obj-9999` for `10000x4KiB`); `PREFIX` defaults to
//! `obj-`. `SIZE` takes `B`, `K`/`KiB`, `M`/`MiB`, `G`/`GiB`, `T`/`TiB` (powers of 1024) and
//! `KB`, `MB`, `GB`, `TB` (powers of 1000). `mtime` is the LastModified of every object of the
//! bucket (seconds since the epoch; default [`DEFAULT_LAST_MODIFIED`]).
//!
//! Examples: `big:1x1GiB`, `small4k:10000x4KiB`, `mixed:3x100MiB@large/,5000x1KiB@small/`,
//! `listing:1000000x0:mtime=1600000000`.

/// LastModified of buckets that do not name one: 2023-11-14T22:13:20Z.
pub const DEFAULT_LAST_MODIFIED: i64 = 1_700_000_000;

/// Prefix of generated keys when a group names none.
pub const DEFAULT_PREFIX: &str = "obj-";

/// One bucket.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BucketSpec {
    pub name: String,
    pub groups: Vec<GroupSpec>,
    /// LastModified of every object (seconds since the epoch).
    pub last_modified: i64,
}

/// `count` objects of `size` bytes, keys `prefix` + zero-padded number.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GroupSpec {
    pub count: u64,
    pub size: u64,
    pub prefix: String,
}

/// Whether `name` is a valid S3 bucket name (3–63 of `a-z 0-9 . -`, starting and ending with a
/// letter or digit).
pub fn valid_bucket_name(name: &str) -> bool {
    let b = name.as_bytes();
    (3..=63).contains(&b.len())
        && b.iter()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == b'.' || *c == b'-')
        && b[0].is_ascii_alphanumeric()
        && b[b.len() - 1].is_ascii_alphanumeric()
}

/// Parses `NAME:GROUP[,GROUP…][:mtime=SECS]`.
pub fn parse_bucket(s: &str) -> Result<BucketSpec, String> {
    let (name, rest) = s
        .split_once(':')
        .ok_or_else(|| format!("bucket spec {s:?}: expected NAME:COUNTxSIZE[,…]"))?;
    if !valid_bucket_name(name) {
        return Err(format!(
            "bucket spec {s:?}: {name:?} is not a valid bucket name"
        ));
    }
    let (groups_text, last_modified) = match rest.rsplit_once(":mtime=") {
        Some((g, t)) => (
            g,
            t.parse::<i64>()
                .map_err(|_| format!("bucket spec {s:?}: mtime {t:?} is not a number"))?,
        ),
        None => (rest, DEFAULT_LAST_MODIFIED),
    };
    if !(0..=253_402_300_799).contains(&last_modified) {
        return Err(format!("bucket spec {s:?}: mtime must be within 1970…9999"));
    }
    let mut groups = Vec::new();
    for g in groups_text.split(',') {
        let (counts, prefix) = match g.split_once('@') {
            Some((c, p)) => (c, p.to_string()),
            None => (g, DEFAULT_PREFIX.to_string()),
        };
        let (count, size) = counts
            .split_once(['x', 'X'])
            .ok_or_else(|| format!("bucket spec {s:?}: group {g:?} is not COUNTxSIZE"))?;
        let count = parse_count(count).map_err(|e| format!("bucket spec {s:?}: {e}"))?;
        let size = parse_size(size).map_err(|e| format!("bucket spec {s:?}: {e}"))?;
        if groups.iter().any(|o: &GroupSpec| o.prefix == prefix) {
            return Err(format!(
                "bucket spec {s:?}: two groups with the prefix {prefix:?}"
            ));
        }
        groups.push(GroupSpec {
            count,
            size,
            prefix,
        });
    }
    Ok(BucketSpec {
        name: name.to_string(),
        groups,
        last_modified,
    })
}

/// A decimal count; `_` separators allowed (`1_000_000`).
pub fn parse_count(s: &str) -> Result<u64, String> {
    let digits: String = s.chars().filter(|&c| c != '_').collect();
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return Err(format!("{s:?} is not a count"));
    }
    digits.parse().map_err(|_| format!("{s:?} is too large"))
}

/// A byte size: a decimal number with an optional unit (see the module documentation).
pub fn parse_size(s: &str) -> Result<u64, String> {
    let t = s.trim();
    let split = t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len());
    let (num, unit) = t.split_at(split);
    let n = parse_count(num).map_err(|_| format!("{s:?} is not a size"))?;
    let mult: u64 = match unit {
        "" | "B" | "b" => 1,
        "K" | "k" | "KiB" | "kiB" => 1 << 10,
        "M" | "MiB" => 1 << 20,
        "G" | "GiB" => 1 << 30,
        "T" | "TiB" => 1 << 40,
        "KB" | "kB" => 1_000,
        "MB" => 1_000_000,
        "GB" => 1_000_000_000,
        "TB" => 1_000_000_000_000,
        _ => return Err(format!("{s:?}: unknown unit {unit:?}")),
    };
    n.checked_mul(mult)
        .ok_or_else(|| format!("{s:?} is too large"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes() {
        assert_eq!(parse_size("0"), Ok(0));
        assert_eq!(parse_size("4KiB"), Ok(4096));
        assert_eq!(parse_size("4K"), Ok(4096));
        assert_eq!(parse_size("1GiB"), Ok(1 << 30));
        assert_eq!(parse_size("5MB"), Ok(5_000_000));
        assert_eq!(parse_size("12"), Ok(12));
        assert!(parse_size("x").is_err());
        assert!(parse_size("4Q").is_err());
        assert!(parse_size("").is_err());
    }

    #[test]
    fn buckets() {
        assert_eq!(
            parse_bucket("big:1x1GiB"),
            Ok(BucketSpec {
                name: "big".into(),
                groups: vec![GroupSpec {
                    count: 1,
                    size: 1 << 30,
                    prefix: "obj-".into()
                }],
                last_modified: DEFAULT_LAST_MODIFIED,
            })
        );
        let b = parse_bucket("mix:3x10MiB@a/b:c/,1_000x1KiB@small/:mtime=1600000000").unwrap();
        assert_eq!(b.groups.len(), 2);
        assert_eq!(b.groups[0].prefix, "a/b:c/");
        assert_eq!(b.groups[1].count, 1000);
        assert_eq!(b.last_modified, 1_600_000_000);
        assert!(parse_bucket("Bad_Name:1x1").is_err());
        assert!(parse_bucket("ok1:1y1").is_err());
        assert!(parse_bucket("ok1").is_err());
        assert!(parse_bucket("ok1:1x1,2x2").is_err(), "same prefix twice");
    }
}
