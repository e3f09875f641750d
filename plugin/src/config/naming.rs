//! How an S3 key becomes a file name in the catalog, and back.
//!
//! A key `K` of bucket `B` is recorded as `/B/` followed by `K` with its `/`-separated segments
//! escaped so that every key round-trips byte-exactly and every name is a clean path:
//!
//! * `%` is written `%25` (so `%` never appears unescaped, except as below);
//! * an empty segment — from a leading `/`, a `//` inside, or a trailing `/` (the "folder"
//!   objects s3fs creates) — is written as a lone `%`;
//! * the segments `.` and `..` are written `%2E` and `%2E%2E` (no restore can climb out of its
//!   target directory);
//! * a NUL byte is written `%00`.
//!
//! Everything else (spaces, `+`, unicode, …) is kept as is, so ordinary keys read naturally in
//! the restore tree: `photos/2024/a b+c.jpg` → `/bucket/photos/2024/a b+c.jpg`,
//! `dir/` → `/bucket/dir/%`, `a//b` → `/bucket/a/%/b`, `/x` → `/bucket/%/x`.

/// The catalog name of `key` in `bucket`.
pub fn key_to_name(bucket: &str, key: &str) -> Vec<u8> {
    let mut name = Vec::with_capacity(bucket.len() + key.len() + 8);
    name.push(b'/');
    name.extend_from_slice(bucket.as_bytes());
    for segment in key.split('/') {
        name.push(b'/');
        match segment {
            "" => name.push(b'%'),
            "." => name.extend_from_slice(b"%2E"),
            ".." => name.extend_from_slice(b"%2E%2E"),
            s => {
                for &b in s.as_bytes() {
                    match b {
                        b'%' => name.extend_from_slice(b"%25"),
                        0 => name.extend_from_slice(b"%00"),
                        b => name.push(b),
                    }
                }
            }
        }
    }
    name
}

/// Why a name is not one of ours.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NameError {
    #[error("name is not under /{bucket}/")]
    OtherBucket { bucket: String },
    #[error("name has an invalid escape")]
    BadEscape,
    #[error("name is not UTF-8")]
    NotUtf8,
    #[error("name has no version suffix (@<time>~<versionId>) of a versions=yes backup")]
    NoVersion,
}

fn hex(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

/// The key a name of `bucket` stands for (the inverse of [`key_to_name`]).
pub fn name_to_key(bucket: &str, name: &[u8]) -> Result<String, NameError> {
    let head_len = bucket.len() + 2;
    let other = || NameError::OtherBucket {
        bucket: bucket.to_string(),
    };
    if name.len() < head_len
        || name[0] != b'/'
        || &name[1..head_len - 1] != bucket.as_bytes()
        || name[head_len - 1] != b'/'
    {
        return Err(other());
    }
    let mut key = Vec::with_capacity(name.len() - head_len);
    for (i, segment) in name[head_len..].split(|&b| b == b'/').enumerate() {
        if i > 0 {
            key.push(b'/');
        }
        if segment == b"%" {
            continue;
        }
        let mut j = 0;
        while j < segment.len() {
            if segment[j] == b'%' {
                let (Some(h), Some(l)) = (
                    segment.get(j + 1).copied().and_then(hex),
                    segment.get(j + 2).copied().and_then(hex),
                ) else {
                    return Err(NameError::BadEscape);
                };
                key.push(h << 4 | l);
                j += 3;
            } else {
                key.push(segment[j]);
                j += 1;
            }
        }
    }
    String::from_utf8(key).map_err(|_| NameError::NotUtf8)
}

/// One version of a key (`versions=yes`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VersionTag {
    /// LastModified in milliseconds since the epoch.
    pub time_ms: i64,
    pub version_id: String,
    pub delete_marker: bool,
}

/// `2026-11-20T10:15:30.123Z`.
pub fn format_utc(ms: i64) -> String {
    let t = time::OffsetDateTime::from_unix_timestamp_nanos(ms as i128 * 1_000_000)
        .unwrap_or(time::OffsetDateTime::UNIX_EPOCH);
    format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:03}Z",
        t.year(),
        t.month() as u8,
        t.day(),
        t.hour(),
        t.minute(),
        t.second(),
        t.millisecond()
    )
}

/// An RFC 3339 time (`2026-11-20T12:00:00Z`, offsets and fractions allowed) in ms.
pub fn parse_utc(text: &str) -> Option<i64> {
    let t =
        time::OffsetDateTime::parse(text.trim(), &time::format_description::well_known::Rfc3339)
            .ok()?;
    Some((t.unix_timestamp_nanos() / 1_000_000) as i64)
}

fn escape_version_id(id: &str, out: &mut Vec<u8>) {
    for &b in id.as_bytes() {
        match b {
            b'%' => out.extend_from_slice(b"%25"),
            b'/' => out.extend_from_slice(b"%2F"),
            b'~' => out.extend_from_slice(b"%7E"),
            b'@' => out.extend_from_slice(b"%40"),
            0 => out.extend_from_slice(b"%00"),
            b => out.push(b),
        }
    }
}

/// The name of one version: the key's name, then `@<time>~<versionId>`, and `~deleted` for a
/// delete marker. The versions of a key sort by time in the restore tree.
pub fn version_name(bucket: &str, key: &str, v: &VersionTag) -> Vec<u8> {
    let mut name = key_to_name(bucket, key);
    name.push(b'@');
    name.extend_from_slice(format_utc(v.time_ms).as_bytes());
    name.push(b'~');
    escape_version_id(&v.version_id, &mut name);
    if v.delete_marker {
        name.extend_from_slice(b"~deleted");
    }
    name
}

fn unescape(bytes: &[u8]) -> Result<String, NameError> {
    let mut out = Vec::with_capacity(bytes.len());
    let mut j = 0;
    while j < bytes.len() {
        if bytes[j] == b'%' {
            let (Some(h), Some(l)) = (
                bytes.get(j + 1).copied().and_then(hex),
                bytes.get(j + 2).copied().and_then(hex),
            ) else {
                return Err(NameError::BadEscape);
            };
            out.push(h << 4 | l);
            j += 3;
        } else {
            out.push(bytes[j]);
            j += 1;
        }
    }
    String::from_utf8(out).map_err(|_| NameError::NotUtf8)
}

/// Splits a version's name into the key's name and the version (inverse of [`version_name`]).
pub fn split_version(name: &[u8]) -> Result<(Vec<u8>, VersionTag), NameError> {
    let last_slash = name.iter().rposition(|&b| b == b'/').unwrap_or(0);
    let at = name[last_slash..]
        .iter()
        .rposition(|&b| b == b'@')
        .map(|i| i + last_slash)
        .ok_or(NameError::NoVersion)?;
    let suffix = std::str::from_utf8(&name[at + 1..]).map_err(|_| NameError::NotUtf8)?;
    let mut parts = suffix.split('~');
    let time = parts
        .next()
        .and_then(parse_utc)
        .ok_or(NameError::NoVersion)?;
    let id = parts.next().ok_or(NameError::NoVersion)?;
    let delete_marker = match parts.next() {
        None => false,
        Some("deleted") => true,
        Some(_) => return Err(NameError::NoVersion),
    };
    if parts.next().is_some() {
        return Err(NameError::NoVersion);
    }
    Ok((
        name[..at].to_vec(),
        VersionTag {
            time_ms: time,
            version_id: unescape(id.as_bytes())?,
            delete_marker,
        },
    ))
}

/// A key, name or value for a message: in single quotes, with control characters and quotes
/// escaped (`'a\nb'`), so that an odd key is seen exactly and never breaks a log line.
pub fn quoted(text: &str) -> String {
    format!("'{}'", text.escape_debug())
}

/// The same in double quotes (`"a\nb"`), where a key sits in a Director configuration's
/// comment or beside single-quoted text.
pub fn double_quoted(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 2);
    out.push('"');
    for c in text.chars() {
        match c {
            '\'' => out.push(c),
            c => out.extend(c.escape_debug()),
        }
    }
    out.push('"');
    out
}

#[cfg(test)]
mod tests {

    #[test]
    fn quoting_escapes_what_would_break_a_line_or_the_quotes() {
        assert_eq!(quoted("a'b\nc"), "'a\\'b\\nc'");
        assert_eq!(double_quoted("it's \"x\"\t"), "\"it's \\\"x\\\"\\t\"");
        assert_eq!(double_quoted("photos/2024/"), "\"photos/2024/\"");
    }

    use super::*;

    const ODD_KEYS: &[&str] = &[
        "plain.txt",
        "dir/",
        "a//b",
        "/lead",
        "//",
        "/",
        "trail//",
        "sp ace/x y",
        "pct%41%",
        "%",
        "%25",
        "plus+sign",
        "unicodé/ü/日本語/🎉",
        ".",
        "..",
        "a/../b",
        "./x",
        "...",
        "nul\0byte",
        "back\\slash",
        "colon:x",
    ];

    #[test]
    fn odd_keys_round_trip() {
        for key in ODD_KEYS {
            let name = key_to_name("bkt", key);
            assert_eq!(
                &name_to_key("bkt", &name).unwrap(),
                key,
                "name {:?}",
                String::from_utf8_lossy(&name)
            );
            let text = String::from_utf8(name.clone()).unwrap();
            assert!(!text.contains("//"), "{text}");
            assert!(!text.ends_with('/'), "{text}");
            assert!(!text.contains('\0'));
            assert!(
                text.split('/').skip(1).all(|s| s != "." && s != ".."),
                "{text}"
            );
        }
    }

    #[test]
    fn readable_names() {
        assert_eq!(key_to_name("b", "photos/a b+c.jpg"), b"/b/photos/a b+c.jpg");
        assert_eq!(key_to_name("b", "dir/"), b"/b/dir/%");
        assert_eq!(key_to_name("b", "a//b"), b"/b/a/%/b");
        assert_eq!(key_to_name("b", "/x"), b"/b/%/x");
        assert_eq!(key_to_name("b", "100%"), b"/b/100%25");
    }

    #[test]
    fn distinct_keys_get_distinct_names() {
        let mut names: Vec<Vec<u8>> = ODD_KEYS.iter().map(|k| key_to_name("b", k)).collect();
        names.sort();
        names.dedup();
        assert_eq!(names.len(), ODD_KEYS.len());
    }

    #[test]
    fn version_names_round_trip_and_sort_by_time() {
        let v = |ms, id: &str, dm| VersionTag {
            time_ms: ms,
            version_id: id.to_string(),
            delete_marker: dm,
        };
        for key in ODD_KEYS.iter().chain(&["user@example.com", "a@b@c"]) {
            for tag in [
                v(1_700_000_000_123, "3HL4kqtJlcp.XroDTDm_J+rm", false),
                v(1_700_000_001_000, "null", true),
                v(0, "we/ird~id@%", false),
            ] {
                let name = version_name("bkt", key, &tag);
                let (base, back) = split_version(&name).unwrap();
                assert_eq!(back, tag);
                assert_eq!(name_to_key("bkt", &base).unwrap(), *key);
            }
        }
        let a = version_name("b", "k", &v(1_700_000_000_000, "zzz", false));
        let b = version_name("b", "k", &v(1_700_000_000_001, "aaa", false));
        assert!(a < b);
        assert_eq!(
            String::from_utf8(b).unwrap(),
            "/b/k@2023-11-14T22:13:20.001Z~aaa"
        );
        assert!(split_version(b"/b/k").is_err());
        assert_eq!(parse_utc("2026-11-20T12:00:00Z"), Some(1_795_176_000_000));
    }

    #[test]
    fn foreign_names_are_rejected() {
        assert!(name_to_key("b", b"/c/x").is_err());
        assert!(name_to_key("b", b"/bb/x").is_err());
        assert!(name_to_key("b", b"/b").is_err());
        assert_eq!(name_to_key("b", b"/b/%zz"), Err(NameError::BadEscape));
        assert_eq!(name_to_key("b", b"/b/%4"), Err(NameError::BadEscape));
    }
}
