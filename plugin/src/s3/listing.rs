//! ListObjectsV2, one page of at most 1,000 keys at a time: the caller consumes pages as a
//! stream and never holds the whole listing.

use std::sync::Arc;

use aws_sdk_s3::types::EncodingType;
use tokio_util::sync::CancellationToken;

use crate::config::naming::VersionTag;
use crate::s3::client::S3;
use crate::s3::errors::{attempt, Failure};
use crate::s3::retry::{Attempt, RetryPolicy, RetryStats};

/// One listed object.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Listed {
    pub key: String,
    pub size: i64,
    /// LastModified, whole seconds since the epoch.
    pub mtime: i64,
    pub etag: Option<String>,
    /// `versions=yes`: which version (or delete marker) this is.
    pub version: Option<VersionTag>,
}

/// One page and where the next one starts.
pub struct Page {
    pub objects: Vec<Listed>,
    pub next: Option<String>,
}

pub const PAGE_SIZE: i32 = 1000;

/// Cursor over the pages of `bucket`/`prefix`.
pub struct Pages {
    s3: S3,
    retry: RetryPolicy,
    stats: Arc<RetryStats>,
    cancel: CancellationToken,
    bucket: String,
    prefix: String,
    start_after: Option<String>,
    end_at: Option<String>,
    token: Option<String>,
    done: bool,
    /// `versions=yes`: ListObjectVersions instead, with its two markers.
    versions: bool,
    version_marker: Option<(String, String)>,
    /// Versions of the last key of the previous page (it may go on in the next one).
    carry: Vec<Listed>,
}

impl Pages {
    /// Pages of the keys of `bucket` under `prefix`, in the range `(start_after, end_at]`.
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        s3: S3,
        retry: RetryPolicy,
        stats: Arc<RetryStats>,
        cancel: CancellationToken,
        bucket: &str,
        prefix: &str,
        start_after: Option<String>,
        end_at: Option<String>,
    ) -> Self {
        Pages {
            s3,
            retry,
            stats,
            cancel,
            bucket: bucket.to_string(),
            prefix: prefix.to_string(),
            start_after,
            end_at,
            token: None,
            done: false,
            versions: false,
            version_marker: None,
            carry: Vec::new(),
        }
    }

    /// Lists every version and delete marker instead (ListObjectVersions); the versions of
    /// a key come oldest first, so that a restore replays them in order.
    pub fn versioned(mut self, versions: bool) -> Self {
        self.versions = versions;
        self
    }

    /// One attempt at the current page: the cursor only moves when a page arrived whole, so a
    /// retry asks for the same page again (from the same continuation token).
    fn request_page(
        &self,
    ) -> impl std::future::Future<
        Output = Result<aws_sdk_s3::operation::list_objects_v2::ListObjectsV2Output, Attempt>,
    > + use<> {
        let mut request = self
            .s3
            .client
            .list_objects_v2()
            .bucket(&self.bucket)
            .max_keys(PAGE_SIZE)
            // Keys may hold characters XML 1.0 cannot carry; ask for URL-encoded keys.
            .encoding_type(EncodingType::Url);
        if !self.prefix.is_empty() {
            request = request.prefix(&self.prefix);
        }
        match (&self.token, &self.start_after) {
            (Some(token), _) => request = request.continuation_token(token),
            (None, Some(after)) => request = request.start_after(after),
            (None, None) => {}
        }
        async move {
            let out = request.send().await.map_err(|e| attempt(&e))?;
            // An error document in a 200 body (S3's SlowDown) parses as a result without the
            // bucket name: never take it for an empty last page.
            if out.name().is_none() {
                return Err(error_document());
            }
            Ok(out)
        }
    }

    /// The next page, or `None` after the last.
    pub async fn next_page(&mut self) -> Result<Option<Page>, Failure> {
        if self.versions {
            return self.next_versions_page().await;
        }
        if self.done {
            return Ok(None);
        }
        let what = format!("ListObjectsV2 of bucket {}", self.bucket);
        let out = self
            .retry
            .run(&what, &self.cancel, &self.stats, || self.request_page())
            .await?;
        let encoded = out.encoding_type() == Some(&EncodingType::Url);
        let mut objects = Vec::with_capacity(out.contents().len());
        for o in out.contents() {
            let Some(raw_key) = o.key() else { continue };
            let key = if encoded {
                percent_decode(raw_key).ok_or_else(|| {
                    Failure::Other(format!("the server sent a badly encoded key '{raw_key}'"))
                })?
            } else {
                raw_key.to_string()
            };
            objects.push(Listed {
                key,
                size: o.size().unwrap_or(0),
                mtime: o.last_modified().map(|t| t.secs()).unwrap_or(0),
                etag: o.e_tag().map(str::to_string),
                version: None,
            });
        }
        let past_end = cut_at_end(&mut objects, self.end_at.as_deref());
        let next = if past_end {
            None
        } else if out.is_truncated() == Some(true) {
            let token = out
                .next_continuation_token()
                .map(str::to_string)
                .ok_or_else(|| {
                    Failure::Other(
                        "the server cut a listing page without a continuation token".into(),
                    )
                })?;
            if self.token.as_deref() == Some(token.as_str()) {
                return Err(Failure::Other(
                    "the server repeated a continuation token (listing would loop)".into(),
                ));
            }
            Some(token)
        } else {
            None
        };
        self.done = next.is_none();
        self.token = next.clone();
        Ok(Some(Page { objects, next }))
    }
}

impl Pages {
    /// The next page of ListObjectVersions, versions of each key oldest first.
    async fn next_versions_page(&mut self) -> Result<Option<Page>, Failure> {
        if self.done {
            return Ok((!self.carry.is_empty()).then(|| Page {
                objects: std::mem::take(&mut self.carry),
                next: None,
            }));
        }
        let what = format!("ListObjectVersions of bucket {}", self.bucket);
        let out = self
            .retry
            .run(&what, &self.cancel, &self.stats, || {
                let mut request = self
                    .s3
                    .client
                    .list_object_versions()
                    .bucket(&self.bucket)
                    .max_keys(PAGE_SIZE)
                    .encoding_type(EncodingType::Url);
                if !self.prefix.is_empty() {
                    request = request.prefix(&self.prefix);
                }
                match (&self.version_marker, &self.start_after) {
                    (Some((key, version)), _) => {
                        request = request.key_marker(key).version_id_marker(version)
                    }
                    (None, Some(after)) => request = request.key_marker(after),
                    (None, None) => {}
                }
                async move {
                    let out = request.send().await.map_err(|e| attempt(&e))?;
                    if out.name().is_none() {
                        return Err(error_document());
                    }
                    Ok(out)
                }
            })
            .await?;
        let encoded = out.encoding_type() == Some(&EncodingType::Url);
        let decode = |raw: &str| -> Result<String, Failure> {
            if encoded {
                percent_decode(raw).ok_or_else(|| {
                    Failure::Other(format!("the server sent a badly encoded key '{raw}'"))
                })
            } else {
                Ok(raw.to_string())
            }
        };
        let ms = |t: Option<&aws_smithy_types::DateTime>| {
            t.map(|t| t.secs() * 1000 + t.subsec_nanos() as i64 / 1_000_000)
                .unwrap_or(0)
        };
        // (entry, is_latest, position in S3's newest-first order)
        let mut entries: Vec<(Listed, bool, usize)> = Vec::new();
        for (i, v) in out.versions().iter().enumerate() {
            let Some(raw) = v.key() else { continue };
            let t = ms(v.last_modified());
            entries.push((
                Listed {
                    key: decode(raw)?,
                    size: v.size().unwrap_or(0),
                    mtime: t.div_euclid(1000),
                    etag: v.e_tag().map(str::to_string),
                    version: Some(VersionTag {
                        time_ms: t,
                        version_id: v.version_id().unwrap_or("null").to_string(),
                        delete_marker: false,
                    }),
                },
                v.is_latest() == Some(true),
                i,
            ));
        }
        for (i, d) in out.delete_markers().iter().enumerate() {
            let Some(raw) = d.key() else { continue };
            let t = ms(d.last_modified());
            entries.push((
                Listed {
                    key: decode(raw)?,
                    size: 0,
                    mtime: t.div_euclid(1000),
                    etag: None,
                    version: Some(VersionTag {
                        time_ms: t,
                        version_id: d.version_id().unwrap_or("null").to_string(),
                        delete_marker: true,
                    }),
                },
                d.is_latest() == Some(true),
                i,
            ));
        }
        // Oldest first within a key; the latest last among equal times.
        entries.sort_by(|a, b| {
            let (va, vb) = (a.0.version.as_ref().unwrap(), b.0.version.as_ref().unwrap());
            a.0.key
                .cmp(&b.0.key)
                .then(va.time_ms.cmp(&vb.time_ms))
                .then(a.1.cmp(&b.1))
                .then(b.2.cmp(&a.2))
        });
        let mut objects = std::mem::take(&mut self.carry);
        let carried = !objects.is_empty();
        objects.extend(entries.into_iter().map(|(l, _, _)| l));
        if carried {
            // The carried key's older versions arrived on this page (stable: ties keep order).
            objects.sort_by(|a, b| {
                let (va, vb) = (a.version.as_ref().unwrap(), b.version.as_ref().unwrap());
                a.key.cmp(&b.key).then(va.time_ms.cmp(&vb.time_ms))
            });
        }
        let past_end = cut_at_end(&mut objects, self.end_at.as_deref());
        let truncated = out.is_truncated() == Some(true) && !past_end;
        if truncated {
            let key = out.next_key_marker().map(str::to_string);
            let version = out.next_version_id_marker().map(str::to_string);
            let (Some(key), Some(version)) = (key, version) else {
                return Err(Failure::Other(
                    "the server cut a version listing page without markers".into(),
                ));
            };
            let key = decode(&key)?;
            if self.version_marker.as_ref() == Some(&(key.clone(), version.clone())) {
                return Err(Failure::Other(
                    "the server repeated a version marker (listing would loop)".into(),
                ));
            }
            // The last key may have older versions on the next page: hold them back.
            if let Some(last) = objects.last().map(|o| o.key.clone()) {
                let split = objects.iter().position(|o| o.key == last).unwrap_or(0);
                self.carry = objects.split_off(split);
            }
            self.version_marker = Some((key, version));
        } else {
            self.done = true;
        }
        Ok(Some(Page {
            objects,
            next: truncated.then(|| "more".to_string()),
        }))
    }
}

/// A listing answer without the bucket name: an error document in a 200 body, retried.
fn error_document() -> Attempt {
    Attempt::Retry {
        failure: Failure::Other(
            "a listing response without a bucket name (an error document?)".into(),
        ),
        after: None,
    }
}

/// Drops the keys after `end_at` (keys come in UTF-8 byte order, as Rust compares strings);
/// true if any were past it, which ends the listing.
fn cut_at_end(objects: &mut Vec<Listed>, end_at: Option<&str>) -> bool {
    let Some(end) = end_at else {
        return false;
    };
    match objects.iter().position(|o| o.key.as_str() > end) {
        Some(first_beyond) => {
            objects.truncate(first_beyond);
            true
        }
        None => false,
    }
}

/// Decodes `%XX` (and `+` as space, as S3's URL encoding of keys does).
pub fn percent_decode(s: &str) -> Option<String> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'%' => {
                let hex = std::str::from_utf8(bytes.get(i + 1..i + 3)?).ok()?;
                out.push(u8::from_str_radix(hex, 16).ok()?);
                i += 3;
            }
            b'+' => {
                out.push(b' ');
                i += 1;
            }
            b => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8(out).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_s3_url_encoding() {
        assert_eq!(percent_decode("a%2Bb+c%25").as_deref(), Some("a+b c%"));
        assert_eq!(percent_decode("%E2%82%AC").as_deref(), Some("€"));
        assert_eq!(percent_decode("%4"), None);
    }
}
