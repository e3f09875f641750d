//! An object's metadata, as recorded with its file and put back at restore.
//!
//! At backup the GET of an object returns its headers (and its tags, with one extra request
//! for objects that have any); they travel as extended attributes of the file, which the
//! daemon stores in the backup next to the data (Bareos: `getXattr`, with `XattrSupport = yes`
//! in the FileSet's Options; Bacula: `handleXACLdata`). Every attribute is named `s3.…`:
//!
//! | attribute | what |
//! |---|---|
//! | `s3.content-type`, `s3.content-encoding`, `s3.content-language`, `s3.cache-control`, `s3.content-disposition`, `s3.expires`, `s3.website-redirect-location` | the object's headers |
//! | `s3.meta.<name>` | user metadata (`x-amz-meta-<name>`) |
//! | `s3.tags` | the tag set, URL-encoded as in an `x-amz-tagging` header (`k=v&k2=v2`) |
//! | `s3.storage-class` | when it is not STANDARD |
//! | `s3.etag` | the ETag (without quotes) |
//! | `s3.checksum-crc32`, `-crc32c`, `-crc64nvme`, `-sha1`, `-sha256`, `s3.checksum-type` | the object's additional checksum, when the server keeps one |
//! | `s3.version-id` | the version read (versioned buckets) |
//! | `s3.server-side-encryption` | how the server encrypted it (informational) |
//!
//! Attribute names this version does not know are ignored at restore (later versions may add
//! some).

use crate::config::naming::quoted;
use aws_sdk_s3::operation::get_object::GetObjectOutput;
use aws_sdk_s3::operation::head_object::HeadObjectOutput;
use fd_ffi::Xattr;
use percent_encoding::{percent_decode_str, utf8_percent_encode, AsciiSet, NON_ALPHANUMERIC};

/// The prefix of every attribute name.
pub const PREFIX: &str = "s3.";

/// The additional checksums S3 knows.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ChecksumAlgorithm {
    Crc32,
    Crc32c,
    Crc64Nvme,
    Sha1,
    Sha256,
}

impl ChecksumAlgorithm {
    pub const ALL: [ChecksumAlgorithm; 5] = [
        ChecksumAlgorithm::Crc32,
        ChecksumAlgorithm::Crc32c,
        ChecksumAlgorithm::Crc64Nvme,
        ChecksumAlgorithm::Sha1,
        ChecksumAlgorithm::Sha256,
    ];

    pub fn name(self) -> &'static str {
        match self {
            ChecksumAlgorithm::Crc32 => "crc32",
            ChecksumAlgorithm::Crc32c => "crc32c",
            ChecksumAlgorithm::Crc64Nvme => "crc64nvme",
            ChecksumAlgorithm::Sha1 => "sha1",
            ChecksumAlgorithm::Sha256 => "sha256",
        }
    }

    fn from_name(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|a| a.name() == name)
    }
}

/// Everything about an object besides its data, key, size and time.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ObjectMeta {
    pub content_type: Option<String>,
    pub content_encoding: Option<String>,
    pub content_language: Option<String>,
    pub cache_control: Option<String>,
    pub content_disposition: Option<String>,
    pub expires: Option<String>,
    pub website_redirect_location: Option<String>,
    /// `x-amz-meta-*`, sorted by name.
    pub user: Vec<(String, String)>,
    /// The tag set, in the server's order.
    pub tags: Vec<(String, String)>,
    /// `None` for STANDARD.
    pub storage_class: Option<String>,
    /// Without the quotes.
    pub etag: Option<String>,
    /// Base64 values as S3 gives them (a composite one ends in `-<parts>`).
    pub checksums: Vec<(ChecksumAlgorithm, String)>,
    pub checksum_type: Option<String>,
    pub version_id: Option<String>,
    pub server_side_encryption: Option<String>,
    /// Tags the GET said the object has (`x-amz-tagging-count`); not recorded.
    pub tag_count: u32,
}

/// Characters kept as they are in a tag key or value.
const TAG_KEEP: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'_')
    .remove(b'.')
    .remove(b'~');

/// `k=v&k2=v2`, as an `x-amz-tagging` header carries a tag set.
pub fn encode_tags(tags: &[(String, String)]) -> String {
    tags.iter()
        .map(|(k, v)| {
            format!(
                "{}={}",
                utf8_percent_encode(k, TAG_KEEP),
                utf8_percent_encode(v, TAG_KEEP)
            )
        })
        .collect::<Vec<_>>()
        .join("&")
}

pub fn decode_tags(text: &str) -> Result<Vec<(String, String)>, String> {
    if text.is_empty() {
        return Ok(Vec::new());
    }
    let decode = |s: &str| {
        percent_decode_str(s)
            .decode_utf8()
            .map(|c| c.into_owned())
            .map_err(|_| format!("tag set {} is not URL-encoded UTF-8", quoted(text)))
    };
    text.split('&')
        .map(|pair| {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            Ok((decode(k)?, decode(v)?))
        })
        .collect()
}

fn unquote(etag: &str) -> String {
    etag.trim_matches('"').to_string()
}

/// `ObjectMeta` from a GET or HEAD response (both have the same accessors).
macro_rules! meta_from_response {
    ($output:expr) => {{
        let output = $output;
        let own = |s: Option<&str>| s.filter(|v| !v.is_empty()).map(str::to_string);
        let mut user: Vec<(String, String)> = output
            .metadata()
            .map(|m| m.iter().map(|(k, v)| (k.clone(), v.clone())).collect())
            .unwrap_or_default();
        user.sort();
        let checksums = [
            (ChecksumAlgorithm::Crc32, output.checksum_crc32()),
            (ChecksumAlgorithm::Crc32c, output.checksum_crc32_c()),
            (ChecksumAlgorithm::Crc64Nvme, output.checksum_crc64_nvme()),
            (ChecksumAlgorithm::Sha1, output.checksum_sha1()),
            (ChecksumAlgorithm::Sha256, output.checksum_sha256()),
        ]
        .into_iter()
        .filter_map(|(a, v)| v.filter(|v| !v.is_empty()).map(|v| (a, v.to_string())))
        .collect();
        ObjectMeta {
            content_type: own(output.content_type()),
            content_encoding: own(output.content_encoding()),
            content_language: own(output.content_language()),
            cache_control: own(output.cache_control()),
            content_disposition: own(output.content_disposition()),
            expires: own(output.expires_string()),
            website_redirect_location: own(output.website_redirect_location()),
            user,
            tags: Vec::new(),
            storage_class: output
                .storage_class()
                .map(|c| c.as_str().to_string())
                .filter(|c| !c.is_empty() && c != "STANDARD"),
            etag: output.e_tag().map(unquote),
            checksums,
            checksum_type: output.checksum_type().map(|t| t.as_str().to_string()),
            version_id: own(output.version_id()).filter(|v| v != "null"),
            server_side_encryption: output
                .server_side_encryption()
                .map(|s| s.as_str().to_string()),
            tag_count: output.tag_count().unwrap_or(0).max(0) as u32,
        }
    }};
}

impl ObjectMeta {
    /// The headers of a GET (the first request of an object).
    pub fn from_get(output: &GetObjectOutput) -> ObjectMeta {
        meta_from_response!(output)
    }

    /// The headers of a HEAD.
    pub fn from_head(output: &HeadObjectOutput) -> ObjectMeta {
        meta_from_response!(output)
    }

    /// The headers of a GET answered outside the SDK (`direct_get`): the same fields as
    /// [`ObjectMeta::from_get`] reads from the SDK's output.
    pub fn from_headers(headers: &http::HeaderMap) -> ObjectMeta {
        let text = |name: &str| {
            headers
                .get(name)
                .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned())
                .filter(|v| !v.is_empty())
        };
        let mut user: Vec<(String, String)> = headers
            .iter()
            .filter_map(|(name, value)| {
                let name = name.as_str().strip_prefix("x-amz-meta-")?;
                Some((
                    name.to_string(),
                    String::from_utf8_lossy(value.as_bytes()).into_owned(),
                ))
            })
            .collect();
        user.sort();
        let checksums = ChecksumAlgorithm::ALL
            .into_iter()
            .filter_map(|a| Some((a, text(&format!("x-amz-checksum-{}", a.name()))?)))
            .collect();
        ObjectMeta {
            content_type: text("content-type"),
            content_encoding: text("content-encoding"),
            content_language: text("content-language"),
            cache_control: text("cache-control"),
            content_disposition: text("content-disposition"),
            expires: text("expires"),
            website_redirect_location: text("x-amz-website-redirect-location"),
            user,
            tags: Vec::new(),
            storage_class: text("x-amz-storage-class").filter(|c| c != "STANDARD"),
            etag: text("etag").map(|e| unquote(&e)),
            checksums,
            checksum_type: text("x-amz-checksum-type"),
            version_id: text("x-amz-version-id").filter(|v| v != "null"),
            server_side_encryption: text("x-amz-server-side-encryption"),
            tag_count: text("x-amz-tagging-count")
                .and_then(|c| c.trim().parse().ok())
                .unwrap_or(0),
        }
    }

    /// The attributes recorded with the file.
    pub fn to_xattrs(&self) -> Vec<Xattr> {
        let mut out = Vec::new();
        let mut put = |name: &str, value: &str| {
            out.push(Xattr {
                name: format!("{PREFIX}{name}").into_bytes(),
                value: value.as_bytes().to_vec(),
            })
        };
        let headers = [
            ("content-type", &self.content_type),
            ("content-encoding", &self.content_encoding),
            ("content-language", &self.content_language),
            ("cache-control", &self.cache_control),
            ("content-disposition", &self.content_disposition),
            ("expires", &self.expires),
            ("website-redirect-location", &self.website_redirect_location),
            ("storage-class", &self.storage_class),
            ("etag", &self.etag),
            ("checksum-type", &self.checksum_type),
            ("version-id", &self.version_id),
            ("server-side-encryption", &self.server_side_encryption),
        ];
        for (name, value) in headers {
            if let Some(v) = value {
                put(name, v);
            }
        }
        for (name, value) in &self.user {
            put(&format!("meta.{name}"), value);
        }
        if !self.tags.is_empty() {
            put("tags", &encode_tags(&self.tags));
        }
        for (algorithm, value) in &self.checksums {
            put(&format!("checksum-{}", algorithm.name()), value);
        }
        out
    }

    /// Takes one recorded attribute back. Unknown `s3.` names are ignored; foreign names and
    /// undecodable values are errors.
    pub fn apply_xattr(&mut self, name: &[u8], value: &[u8]) -> Result<(), String> {
        let name = std::str::from_utf8(name).map_err(|_| {
            format!(
                "attribute name {} is not UTF-8",
                quoted(&String::from_utf8_lossy(name))
            )
        })?;
        let Some(field) = name.strip_prefix(PREFIX) else {
            return Err(format!(
                "attribute {} was not recorded by this plugin",
                quoted(name)
            ));
        };
        let value = std::str::from_utf8(value)
            .map_err(|_| format!("attribute {name} has a value that is not UTF-8"))?
            .to_string();
        let slot = match field {
            "content-type" => &mut self.content_type,
            "content-encoding" => &mut self.content_encoding,
            "content-language" => &mut self.content_language,
            "cache-control" => &mut self.cache_control,
            "content-disposition" => &mut self.content_disposition,
            "expires" => &mut self.expires,
            "website-redirect-location" => &mut self.website_redirect_location,
            "storage-class" => &mut self.storage_class,
            "etag" => &mut self.etag,
            "checksum-type" => &mut self.checksum_type,
            "version-id" => &mut self.version_id,
            "server-side-encryption" => &mut self.server_side_encryption,
            "tags" => {
                self.tags = decode_tags(&value)?;
                return Ok(());
            }
            other => {
                if let Some(meta) = other.strip_prefix("meta.") {
                    self.user.push((meta.to_string(), value));
                    self.user.sort();
                } else if let Some(alg) = other
                    .strip_prefix("checksum-")
                    .and_then(ChecksumAlgorithm::from_name)
                {
                    self.checksums.retain(|(a, _)| *a != alg);
                    self.checksums.push((alg, value));
                } else {
                    log::debug!("ignoring unknown recorded attribute {name}");
                }
                return Ok(());
            }
        };
        *slot = Some(value);
        Ok(())
    }

    /// Whether restoring it needs more than a plain upload (headers, metadata, class).
    pub fn has_headers(&self) -> bool {
        self.content_type.is_some()
            || self.content_encoding.is_some()
            || self.content_language.is_some()
            || self.cache_control.is_some()
            || self.content_disposition.is_some()
            || self.expires.is_some()
            || self.website_redirect_location.is_some()
            || self.storage_class.is_some()
            || !self.user.is_empty()
    }

    /// The full-object checksum to verify the data against, if one was recorded (a
    /// composite checksum of a multipart upload depends on its part sizes: not comparable).
    pub fn full_checksum(&self) -> Option<(ChecksumAlgorithm, &str)> {
        self.checksums
            .iter()
            .find(|(_, v)| !v.contains('-'))
            .map(|(a, v)| (*a, v.as_str()))
    }

    /// The ETag if it is the MD5 of the data: a single-part upload, not encrypted with KMS
    /// or a customer key.
    pub fn md5_etag(&self) -> Option<&str> {
        let etag = self.etag.as_deref()?;
        let plain = etag.len() == 32 && etag.bytes().all(|b| b.is_ascii_hexdigit());
        let kms = self
            .server_side_encryption
            .as_deref()
            .is_some_and(|s| s.starts_with("aws:kms"));
        (plain && !kms).then_some(etag)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> ObjectMeta {
        ObjectMeta {
            content_type: Some("image/jpeg".into()),
            content_encoding: Some("gzip".into()),
            content_language: Some("de-CH".into()),
            cache_control: Some("max-age=60".into()),
            content_disposition: Some("attachment; filename=\"ä b.jpg\"".into()),
            expires: Some("Thu, 01 Dec 2044 16:00:00 GMT".into()),
            website_redirect_location: None,
            user: vec![("a".into(), "1".into()), ("z-k".into(), "wert ü".into())],
            tags: vec![
                ("k 1".into(), "v=&1".into()),
                ("empty".into(), "".into()),
                ("ü".into(), "+%".into()),
            ],
            storage_class: Some("STANDARD_IA".into()),
            etag: Some("0123456789abcdef0123456789abcdef".into()),
            checksums: vec![(ChecksumAlgorithm::Crc32c, "AAAAAA==".into())],
            checksum_type: Some("FULL_OBJECT".into()),
            version_id: Some("v1".into()),
            server_side_encryption: Some("AES256".into()),
            tag_count: 0,
        }
    }

    #[test]
    fn response_headers_give_the_recorded_fields() {
        let mut h = http::HeaderMap::new();
        for (name, value) in [
            ("content-type", "image/jpeg"),
            ("cache-control", "max-age=60"),
            ("x-amz-meta-z-k", "wert"),
            ("x-amz-meta-a", "1"),
            ("x-amz-storage-class", "STANDARD"),
            ("etag", "\"0123456789abcdef0123456789abcdef\""),
            ("x-amz-checksum-crc32c", "AAAAAA=="),
            ("x-amz-checksum-type", "FULL_OBJECT"),
            ("x-amz-version-id", "null"),
            ("x-amz-server-side-encryption", "AES256"),
            ("x-amz-tagging-count", "3"),
            ("content-length", "10"),
        ] {
            h.insert(name, value.parse().unwrap());
        }
        let m = ObjectMeta::from_headers(&h);
        assert_eq!(m.content_type.as_deref(), Some("image/jpeg"));
        assert_eq!(m.cache_control.as_deref(), Some("max-age=60"));
        assert_eq!(
            m.user,
            vec![("a".into(), "1".into()), ("z-k".into(), "wert".into())]
        );
        assert_eq!(m.storage_class, None, "STANDARD is not recorded");
        assert_eq!(m.etag.as_deref(), Some("0123456789abcdef0123456789abcdef"));
        assert_eq!(
            m.checksums,
            vec![(ChecksumAlgorithm::Crc32c, "AAAAAA==".to_string())]
        );
        assert_eq!(m.checksum_type.as_deref(), Some("FULL_OBJECT"));
        assert_eq!(m.version_id, None, "the null version is no version");
        assert_eq!(m.server_side_encryption.as_deref(), Some("AES256"));
        assert_eq!(m.tag_count, 3);
        assert_eq!(m.content_encoding, None);
    }

    #[test]
    fn attributes_round_trip() {
        let meta = sample();
        let mut back = ObjectMeta::default();
        for x in meta.to_xattrs() {
            back.apply_xattr(&x.name, &x.value).unwrap();
        }
        assert_eq!(back, meta);
    }

    #[test]
    fn tags_round_trip_with_reserved_characters() {
        let tags = sample().tags;
        let text = encode_tags(&tags);
        assert!(!text.contains(' ') && !text.contains('+'));
        assert_eq!(decode_tags(&text).unwrap(), tags);
        assert_eq!(decode_tags("").unwrap(), vec![]);
    }

    #[test]
    fn foreign_and_unknown_attributes() {
        let mut m = ObjectMeta::default();
        assert!(m.apply_xattr(b"user.other", b"x").is_err());
        assert!(m.apply_xattr(b"s3.content-type", &[0xff]).is_err());
        m.apply_xattr(b"s3.future-thing", b"x").unwrap();
        assert_eq!(m, ObjectMeta::default());
    }

    #[test]
    fn which_etags_are_md5() {
        let mut m = sample();
        assert!(m.md5_etag().is_some());
        m.etag = Some("0123456789abcdef0123456789abcdef-3".into());
        assert!(m.md5_etag().is_none());
        m.etag = Some("0123456789abcdef0123456789abcdef".into());
        m.server_side_encryption = Some("aws:kms".into());
        assert!(m.md5_etag().is_none());
    }
}
