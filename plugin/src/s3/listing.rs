//! Listing a bucket page by page: the one paginator of the plugin and of `dump-server` (`plan`,
//! `census`, `check`). ListObjectsV2 (or, with `versions=yes`, ListObjectVersions), at most
//! 1,000 keys a page: the caller consumes pages as a stream and never holds the whole listing.
//! Keys are asked for URL-encoded (XML 1.0 cannot carry every character a key may hold), every
//! page is retried under the retry policy, and the key range `(start_after, end_at]` is applied
//! here.

use std::sync::Arc;

use aws_sdk_s3::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_s3::operation::list_object_versions::ListObjectVersionsOutput;
use aws_sdk_s3::operation::list_objects_v2::ListObjectsV2Output;
use aws_sdk_s3::types::EncodingType;
use aws_smithy_runtime_api::client::orchestrator::HttpResponse;
use tokio_util::sync::CancellationToken;

use crate::config::naming::VersionTag;
use crate::s3::client::S3;
use crate::s3::errors::{attempt, Failure};
use crate::s3::retry::{Attempt, RetryPolicy, RetryStats};

/// One listed object (or, with `versions=yes`, one version or delete marker).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Listed {
    pub key: String,
    pub size: i64,
    /// LastModified, whole seconds since the epoch.
    pub mtime: i64,
    pub etag: Option<String>,
    /// The storage class as the server names it (`STANDARD`, `STANDARD_IA`, `GLACIER`,
    /// `DEEP_ARCHIVE`, `INTELLIGENT_TIERING`, `GLACIER_IR`, …); `None` if it sent none (delete
    /// markers have none).
    pub storage_class: Option<String>,
    /// `versions=yes`: which version (or delete marker) this is.
    pub version: Option<VersionTag>,
}

impl Listed {
    /// The size in bytes (a negative size from a broken server counts as 0).
    pub fn bytes(&self) -> u64 {
        self.size.max(0) as u64
    }
}

/// Where the listing goes on after a page.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Cursor {
    /// ListObjectsV2: the continuation token of the next page.
    Token(String),
    /// ListObjectVersions: the key and version-id markers the next page starts after.
    Versions { key: String, version_id: String },
}

/// One page and where the next one starts (`None`: this was the last page).
#[derive(Debug)]
pub struct Page {
    pub objects: Vec<Listed>,
    pub next: Option<Cursor>,
}

/// The most keys S3 returns on one page.
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
    page_size: i32,
    /// `versions=yes`: ListObjectVersions instead of ListObjectsV2.
    versions: bool,
    /// Where the next page starts (`None`: at the start of the range). Only the request of
    /// the kind that set it reads it: a `Token` in ListObjectsV2 mode, `Versions` otherwise.
    cursor: Option<Cursor>,
    done: bool,
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
            page_size: PAGE_SIZE,
            versions: false,
            cursor: None,
            done: false,
            carry: Vec::new(),
        }
    }

    /// Lists every version and delete marker instead (ListObjectVersions); the versions of
    /// a key come oldest first, so that a restore replays them in order.
    pub fn versioned(mut self, versions: bool) -> Self {
        self.versions = versions;
        self
    }

    /// Asks for at most `keys` keys a page (1 to [`PAGE_SIZE`]; `dump-server check` wants one).
    pub fn page_size(mut self, keys: i32) -> Self {
        self.page_size = keys.clamp(1, PAGE_SIZE);
        self
    }

    /// The next page, or `None` after the last.
    pub async fn next_page(&mut self) -> Result<Option<Page>, Failure> {
        if self.done {
            return Ok(None);
        }
        if self.versions {
            self.next_versions_page().await.map(Some)
        } else {
            self.next_objects_page().await.map(Some)
        }
    }

    /// One attempt at the current ListObjectsV2 page: the cursor only moves when a page
    /// arrived whole, so a retry asks for the same page again (from the same token).
    fn request_objects(
        &self,
    ) -> impl std::future::Future<Output = Result<ListObjectsV2Output, Attempt>> + use<> {
        let mut request = self
            .s3
            .client
            .list_objects_v2()
            .bucket(&self.bucket)
            .max_keys(self.page_size)
            .encoding_type(EncodingType::Url);
        if !self.prefix.is_empty() {
            request = request.prefix(&self.prefix);
        }
        match (&self.cursor, &self.start_after) {
            (Some(Cursor::Token(token)), _) => request = request.continuation_token(token),
            (_, Some(after)) => request = request.start_after(after),
            (_, None) => {}
        }
        async move { named_page(request.send(), |o: &ListObjectsV2Output| o.name()).await }
    }

    async fn next_objects_page(&mut self) -> Result<Page, Failure> {
        let what = format!("ListObjectsV2 of bucket {}", self.bucket);
        let out = self
            .retry
            .run(&what, &self.cancel, &self.stats, || self.request_objects())
            .await?;
        let decode = key_decoder(out.encoding_type());
        let mut objects = Vec::with_capacity(out.contents().len());
        for o in out.contents() {
            let Some(raw_key) = o.key() else { continue };
            objects.push(Listed {
                key: decode(raw_key)?,
                size: o.size().unwrap_or(0),
                mtime: o.last_modified().map(|t| t.secs()).unwrap_or(0),
                etag: o.e_tag().map(str::to_string),
                storage_class: o.storage_class().map(|c| c.as_str().to_string()),
                version: None,
            });
        }
        let past_end = cut_at_end(&mut objects, self.end_at.as_deref());
        let next = if past_end || out.is_truncated() != Some(true) {
            None
        } else {
            let token = out.next_continuation_token().ok_or_else(|| {
                Failure::Other("the server cut a listing page without a continuation token".into())
            })?;
            let next = Cursor::Token(token.to_string());
            if self.cursor.as_ref() == Some(&next) {
                return Err(Failure::Other(
                    "the server repeated a continuation token (listing would loop)".into(),
                ));
            }
            Some(next)
        };
        self.done = next.is_none();
        self.cursor = next.clone();
        Ok(Page { objects, next })
    }

    /// One attempt at the current ListObjectVersions page (see [`Pages::request_objects`]).
    fn request_versions(
        &self,
    ) -> impl std::future::Future<Output = Result<ListObjectVersionsOutput, Attempt>> + use<> {
        let mut request = self
            .s3
            .client
            .list_object_versions()
            .bucket(&self.bucket)
            .max_keys(self.page_size)
            .encoding_type(EncodingType::Url);
        if !self.prefix.is_empty() {
            request = request.prefix(&self.prefix);
        }
        match (&self.cursor, &self.start_after) {
            (Some(Cursor::Versions { key, version_id }), _) => {
                request = request.key_marker(key).version_id_marker(version_id)
            }
            (_, Some(after)) => request = request.key_marker(after),
            (_, None) => {}
        }
        async move { named_page(request.send(), |o: &ListObjectVersionsOutput| o.name()).await }
    }

    /// The next page of ListObjectVersions, versions of each key oldest first.
    async fn next_versions_page(&mut self) -> Result<Page, Failure> {
        let what = format!("ListObjectVersions of bucket {}", self.bucket);
        let out = self
            .retry
            .run(&what, &self.cancel, &self.stats, || self.request_versions())
            .await?;
        let decode = key_decoder(out.encoding_type());
        let ms = |t: Option<&aws_smithy_types::DateTime>| {
            t.map(|t| t.secs() * 1000 + t.subsec_nanos() as i64 / 1_000_000)
                .unwrap_or(0)
        };
        let mut entries: Vec<VersionEntry> = Vec::new();
        for (position, v) in out.versions().iter().enumerate() {
            let Some(raw) = v.key() else { continue };
            let t = ms(v.last_modified());
            entries.push(VersionEntry {
                listed: Listed {
                    key: decode(raw)?,
                    size: v.size().unwrap_or(0),
                    mtime: t.div_euclid(1000),
                    etag: v.e_tag().map(str::to_string),
                    storage_class: v.storage_class().map(|c| c.as_str().to_string()),
                    version: Some(VersionTag {
                        time_ms: t,
                        version_id: v.version_id().unwrap_or("null").to_string(),
                        delete_marker: false,
                    }),
                },
                is_latest: v.is_latest() == Some(true),
                position,
            });
        }
        for (position, d) in out.delete_markers().iter().enumerate() {
            let Some(raw) = d.key() else { continue };
            let t = ms(d.last_modified());
            entries.push(VersionEntry {
                listed: Listed {
                    key: decode(raw)?,
                    size: 0,
                    mtime: t.div_euclid(1000),
                    etag: None,
                    storage_class: None,
                    version: Some(VersionTag {
                        time_ms: t,
                        version_id: d.version_id().unwrap_or("null").to_string(),
                        delete_marker: true,
                    }),
                },
                is_latest: d.is_latest() == Some(true),
                position,
            });
        }
        let merged = merge_version_page(
            std::mem::take(&mut self.carry),
            entries,
            self.end_at.as_deref(),
            out.is_truncated() == Some(true),
        );
        let next = if merged.more {
            let (Some(key), Some(version_id)) =
                (out.next_key_marker(), out.next_version_id_marker())
            else {
                return Err(Failure::Other(
                    "the server cut a version listing page without markers".into(),
                ));
            };
            let next = Cursor::Versions {
                key: decode(key)?,
                version_id: version_id.to_string(),
            };
            if self.cursor.as_ref() == Some(&next) {
                return Err(Failure::Other(
                    "the server repeated a version marker (listing would loop)".into(),
                ));
            }
            Some(next)
        } else {
            None
        };
        self.carry = merged.carry;
        self.done = next.is_none();
        self.cursor = next.clone();
        Ok(Page {
            objects: merged.objects,
            next,
        })
    }
}

/// One entry of a ListObjectVersions page, a version or a delete marker.
#[derive(Clone, Debug)]
struct VersionEntry {
    listed: Listed,
    /// S3's IsLatest.
    is_latest: bool,
    /// Its place in S3's order (newest first within a key) among the page's versions, or
    /// among its delete markers.
    position: usize,
}

/// What a version page hands out, and what it holds back for the next page.
#[derive(Debug, PartialEq, Eq)]
struct Merged {
    /// In key order, the versions of a key oldest first.
    objects: Vec<Listed>,
    /// The versions of the page's last key, when more pages follow: its older versions may be
    /// on the next page, and the versions of a key must come out oldest first.
    carry: Vec<Listed>,
    /// Whether the listing goes on (the page was cut and the key range does not end here).
    more: bool,
}

/// Merges one ListObjectVersions page (`truncated`: S3 said more pages follow) with the
/// versions `carry` held back from the previous page; `end_at` ends the key range.
fn merge_version_page(
    carry: Vec<Listed>,
    mut entries: Vec<VersionEntry>,
    end_at: Option<&str>,
    truncated: bool,
) -> Merged {
    let time = |l: &Listed| l.version.as_ref().map(|v| v.time_ms);
    // Oldest first within a key; the latest last among equal times, then S3's order reversed.
    entries.sort_by(|a, b| {
        a.listed
            .key
            .cmp(&b.listed.key)
            .then(time(&a.listed).cmp(&time(&b.listed)))
            .then(a.is_latest.cmp(&b.is_latest))
            .then(b.position.cmp(&a.position))
    });
    let carried = !carry.is_empty();
    let mut objects = carry;
    objects.extend(entries.into_iter().map(|e| e.listed));
    if carried {
        // The carried key's older versions arrived on this page (stable: ties keep order).
        objects.sort_by(|a, b| a.key.cmp(&b.key).then(time(a).cmp(&time(b))));
    }
    let past_end = cut_at_end(&mut objects, end_at);
    let more = truncated && !past_end;
    let carry = match objects.last() {
        Some(last) if more => {
            let split = objects.iter().position(|o| o.key == last.key).unwrap_or(0);
            objects.split_off(split)
        }
        _ => Vec::new(),
    };
    Merged {
        objects,
        carry,
        more,
    }
}

/// Turns the keys of a page into strings: URL-decoded if the server says it encoded them.
fn key_decoder(encoding: Option<&EncodingType>) -> impl Fn(&str) -> Result<String, Failure> {
    let encoded = encoding == Some(&EncodingType::Url);
    move |raw: &str| {
        if encoded {
            percent_decode(raw).ok_or_else(|| {
                Failure::Other(format!("the server sent a badly encoded key '{raw}'"))
            })
        } else {
            Ok(raw.to_string())
        }
    }
}

/// A listing answer without the bucket name: an error document in a 200 body, retried.
/// One attempt at a listing page. An error document in a 200 body (S3's SlowDown) parses as a
/// result without the bucket name: never take it for an empty last page.
async fn named_page<T, E>(
    request: impl std::future::Future<Output = Result<T, SdkError<E, HttpResponse>>>,
    name: impl Fn(&T) -> Option<&str>,
) -> Result<T, Attempt>
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
{
    let out = request.await.map_err(|e| attempt(&e))?;
    if name(&out).is_none() {
        return Err(error_document());
    }
    Ok(out)
}

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

    /// A version (or delete marker) of `key` at `time_ms`.
    fn version(key: &str, time_ms: i64, id: &str, delete_marker: bool) -> Listed {
        Listed {
            key: key.into(),
            size: if delete_marker { 0 } else { 10 },
            mtime: time_ms.div_euclid(1000),
            etag: None,
            storage_class: None,
            version: Some(VersionTag {
                time_ms,
                version_id: id.into(),
                delete_marker,
            }),
        }
    }

    /// A page as S3 sends it: versions newest first within a key, delete markers apart.
    fn page(versions: &[Listed], markers: &[Listed]) -> Vec<VersionEntry> {
        let entries = |list: &[Listed]| -> Vec<VersionEntry> {
            list.iter()
                .enumerate()
                .map(|(position, l)| VersionEntry {
                    listed: l.clone(),
                    // The first entry of a key in S3's order is its latest.
                    is_latest: list[..position].iter().all(|o| o.key != l.key),
                    position,
                })
                .collect()
        };
        let mut all = entries(versions);
        all.extend(entries(markers));
        all
    }

    fn ids(objects: &[Listed]) -> Vec<&str> {
        objects
            .iter()
            .map(|o| o.version.as_ref().unwrap().version_id.as_str())
            .collect()
    }

    #[test]
    fn a_key_split_across_pages_comes_out_whole_and_oldest_first() {
        let first = page(
            &[
                version("a", 1_000, "a1", false),
                version("b", 3_000, "b3", false),
                version("b", 2_000, "b2", false),
            ],
            &[],
        );
        let m = merge_version_page(Vec::new(), first, None, true);
        assert!(m.more);
        assert_eq!(ids(&m.objects), ["a1"]);
        assert_eq!(ids(&m.carry), ["b2", "b3"], "b may go on on the next page");

        let second = page(
            &[
                version("b", 1_000, "b1", false),
                version("c", 500, "c1", false),
            ],
            &[],
        );
        let m = merge_version_page(m.carry, second, None, false);
        assert!(!m.more);
        assert_eq!(ids(&m.objects), ["b1", "b2", "b3", "c1"]);
        assert!(m.carry.is_empty(), "the last page holds nothing back");
    }

    #[test]
    fn delete_markers_take_their_place_in_time() {
        // b: written, deleted, written again, deleted (latest); the markers come apart.
        let entries = page(
            &[
                version("b", 3_000, "v3", false),
                version("b", 1_000, "v1", false),
            ],
            &[
                version("b", 4_000, "d4", true),
                version("b", 2_000, "d2", true),
            ],
        );
        let m = merge_version_page(Vec::new(), entries, None, false);
        assert_eq!(ids(&m.objects), ["v1", "d2", "v3", "d4"]);
        let markers: Vec<bool> = m
            .objects
            .iter()
            .map(|o| o.version.as_ref().unwrap().delete_marker)
            .collect();
        assert_eq!(markers, [false, true, false, true]);
        // Same time: the latest (here the marker) comes last.
        let entries = vec![
            VersionEntry {
                listed: version("k", 5_000, "d", true),
                is_latest: true,
                position: 0,
            },
            VersionEntry {
                listed: version("k", 5_000, "v", false),
                is_latest: false,
                position: 0,
            },
        ];
        let m = merge_version_page(Vec::new(), entries, None, false);
        assert_eq!(ids(&m.objects), ["v", "d"]);
    }

    #[test]
    fn the_last_page_and_the_end_of_the_range_end_the_listing() {
        // A page whose only key goes on: everything is held back, nothing handed out yet.
        let m = merge_version_page(
            Vec::new(),
            page(
                &[version("a", 2, "a2", false), version("a", 1, "a1", false)],
                &[],
            ),
            None,
            true,
        );
        assert!(m.more && m.objects.is_empty());
        assert_eq!(ids(&m.carry), ["a1", "a2"]);
        // An empty last page hands out what was held back.
        let m = merge_version_page(m.carry, Vec::new(), None, false);
        assert!(!m.more && m.carry.is_empty());
        assert_eq!(ids(&m.objects), ["a1", "a2"]);
        // A key past end_at ends the listing even on a cut page: nothing is held back.
        let m = merge_version_page(
            vec![version("a", 1, "a1", false)],
            page(
                &[version("a", 0, "a0", false), version("z", 1, "z1", false)],
                &[],
            ),
            Some("m"),
            true,
        );
        assert!(!m.more && m.carry.is_empty());
        assert_eq!(ids(&m.objects), ["a0", "a1"]);
    }
}
