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

#[cfg(test)]
mod tests {
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
    fn foreign_names_are_rejected() {
        assert!(name_to_key("b", b"/c/x").is_err());
        assert!(name_to_key("b", b"/bb/x").is_err());
        assert!(name_to_key("b", b"/b").is_err());
        assert_eq!(name_to_key("b", b"/b/%zz"), Err(NameError::BadEscape));
        assert_eq!(name_to_key("b", b"/b/%4"), Err(NameError::BadEscape));
    }
}
