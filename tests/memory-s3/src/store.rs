//! The buckets and their synthetic objects: keys, sizes, ETags, content, and listing order.
//!
//! **Content.** The bytes of an object are a window into one shared pseudo-random pool of
//! [`POOL_PERIOD`] bytes (xorshift64*), starting at an offset derived from a hash of
//! (bucket, key): byte `o` of an object is `pool[(base + o) % POOL_PERIOD]`. Any range is
//! served as slices of the pool (`Bytes::from_static`, no copy, no allocation), so a 1 GiB
//! object costs nothing but the pool, and the same (bucket, key, offset) always gives the same
//! byte, in every process.
//!
//! **ETags.** Objects up to [`PART_SIZE`] carry the MD5 of their content (as a single-part S3
//! upload does; computed once when the store is built), larger ones a multipart-style ETag
//! `"<md5 of bucket/key/size>-<parts>"` with parts of [`PART_SIZE`], which clients do not take
//! for a content MD5. Both are stable per object.

use std::sync::OnceLock;

use md5::{Digest, Md5};

use crate::spec::{BucketSpec, GroupSpec};

/// Period of the content pool.
pub const POOL_PERIOD: usize = 1 << 20;
/// Largest slice handed out at once (the pool has this much extra so no slice wraps).
pub const CHUNK: usize = 512 << 10;
/// Objects above this size get a multipart ETag; also the part size of `partNumber` GETs.
pub const PART_SIZE: u64 = 8 << 20;

/// The pool: `POOL_PERIOD + CHUNK` bytes whose last `CHUNK` repeat the first.
pub fn pool() -> &'static [u8] {
    static POOL: OnceLock<&'static [u8]> = OnceLock::new();
    POOL.get_or_init(|| {
        let mut v = Vec::with_capacity(POOL_PERIOD + CHUNK);
        let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
        while v.len() < POOL_PERIOD {
            x ^= x >> 12;
            x ^= x << 25;
            x ^= x >> 27;
            v.extend_from_slice(&x.wrapping_mul(0x2545_F491_4F6C_DD1D).to_le_bytes());
        }
        v.extend_from_within(..CHUNK);
        Box::leak(v.into_boxed_slice())
    })
}

/// Where in the pool object (`bucket`, `key`) starts.
pub fn content_base(bucket: &str, key: &str) -> usize {
    // FNV-1a over bucket, a separator, key; then a splitmix64 finaliser.
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in bucket.bytes().chain([0xff]).chain(key.bytes()) {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    h = (h ^ (h >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    h = (h ^ (h >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    h ^= h >> 31;
    (h % POOL_PERIOD as u64) as usize
}

/// The bytes `[start, start + len)` of the object whose content starts at pool offset `base`,
/// as pool slices of at most [`CHUNK`] bytes.
pub fn content_chunks(base: usize, start: u64, len: u64) -> Chunks {
    Chunks {
        pos: ((base as u64 + start) % POOL_PERIOD as u64) as usize,
        left: len,
    }
}

/// Iterator over the pool slices of a range of an object (see [`content_chunks`]).
#[derive(Clone, Debug)]
pub struct Chunks {
    pos: usize,
    left: u64,
}

impl Chunks {
    /// Bytes not yet returned.
    pub fn left(&self) -> u64 {
        self.left
    }
}

impl Iterator for Chunks {
    type Item = &'static [u8];

    fn next(&mut self) -> Option<&'static [u8]> {
        if self.left == 0 {
            return None;
        }
        let n = self.left.min(CHUNK as u64) as usize;
        let s = &pool()[self.pos..self.pos + n];
        self.pos = (self.pos + n) % POOL_PERIOD;
        self.left -= n as u64;
        Some(s)
    }
}

/// The bytes `[start, start + len)` of object (`bucket`, `key`), copied (for tests and checks).
pub fn object_bytes(bucket: &str, key: &str, start: u64, len: u64) -> Vec<u8> {
    let mut out = Vec::with_capacity(len as usize);
    for c in content_chunks(content_base(bucket, key), start, len) {
        out.extend_from_slice(c);
    }
    out
}

fn hex(bytes: &[u8]) -> String {
    const H: &[u8; 16] = b"0123456789abcdef";
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        s.push(H[usize::from(b >> 4)] as char);
        s.push(H[usize::from(b & 15)] as char);
    }
    s
}

fn md5_of_content(bucket: &str, key: &str, size: u64) -> [u8; 16] {
    let mut h = Md5::new();
    for c in content_chunks(content_base(bucket, key), 0, size) {
        h.update(c);
    }
    let mut out = [0u8; 16];
    out.copy_from_slice(h.finalize().as_slice());
    out
}

/// The ETag (with its quotes) of an object.
fn etag_of(bucket: &str, key: &str, size: u64, md5: Option<&[u8; 16]>) -> String {
    if size <= PART_SIZE {
        match md5 {
            Some(m) => format!("\"{}\"", hex(m)),
            None => format!("\"{}\"", hex(&md5_of_content(bucket, key, size))),
        }
    } else {
        let mut h = Md5::new();
        h.update(format!("{bucket}/{key}/{size}").as_bytes());
        format!("\"{}-{}\"", hex(h.finalize().as_slice()), parts_of(size))
    }
}

/// Number of parts of an object (1 up to [`PART_SIZE`]).
pub fn parts_of(size: u64) -> u64 {
    if size <= PART_SIZE {
        1
    } else {
        size.div_ceil(PART_SIZE)
    }
}

/// The keys of a group, in ascending (UTF-8 byte) order.
enum Keys {
    /// `prefix` + index zero-padded to `width`, `count` of them, all of `size` bytes.
    Generated {
        prefix: String,
        count: u64,
        width: usize,
        size: u64,
    },
    /// Sorted, unique keys with their sizes.
    Explicit(Vec<(String, u64)>),
}

struct Group {
    keys: Keys,
    /// MD5 of each object's content, for groups of single-part objects with data.
    md5: Vec<[u8; 16]>,
}

impl Group {
    fn len(&self) -> u64 {
        match &self.keys {
            Keys::Generated { count, .. } => *count,
            Keys::Explicit(v) => v.len() as u64,
        }
    }

    fn key(&self, i: u64) -> String {
        match &self.keys {
            Keys::Generated { prefix, width, .. } => format!("{prefix}{i:0width$}"),
            Keys::Explicit(v) => v[i as usize].0.clone(),
        }
    }

    fn size(&self, i: u64) -> u64 {
        match &self.keys {
            Keys::Generated { size, .. } => *size,
            Keys::Explicit(v) => v[i as usize].1,
        }
    }

    fn find(&self, key: &str) -> Option<u64> {
        match &self.keys {
            Keys::Generated {
                prefix,
                count,
                width,
                ..
            } => {
                let digits = key.strip_prefix(prefix.as_str())?;
                if digits.len() != *width || !digits.bytes().all(|b| b.is_ascii_digit()) {
                    return None;
                }
                let i: u64 = digits.parse().ok()?;
                (i < *count).then_some(i)
            }
            Keys::Explicit(v) => v
                .binary_search_by(|(k, _)| k.as_str().cmp(key))
                .ok()
                .map(|i| i as u64),
        }
    }

    /// First index in `[lo, hi)` where `pred(key)` is false; `pred` must be true on a prefix of
    /// the keys and false after.
    fn partition_point(&self, mut lo: u64, mut hi: u64, pred: impl Fn(&str) -> bool) -> u64 {
        while lo < hi {
            let mid = lo + (hi - lo) / 2;
            if pred(&self.key(mid)) {
                lo = mid + 1;
            } else {
                hi = mid;
            }
        }
        lo
    }

    fn md5(&self, i: u64) -> Option<&[u8; 16]> {
        self.md5.get(i as usize)
    }
}

/// An object as HEAD/GET need it.
#[derive(Clone, Debug)]
pub struct Object {
    pub size: u64,
    /// With its quotes.
    pub etag: String,
    /// Pool offset of its content.
    pub base: usize,
    /// [`parts_of`] its size.
    pub parts: u64,
}

/// Where a listing resumes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Cursor {
    Start,
    /// Keys greater than this one.
    AfterKey(String),
    /// Keys greater than this one that do not start with it (after a common prefix).
    AfterPrefix(String),
}

/// One listed entry.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Item {
    Object {
        key: String,
        size: u64,
        etag: String,
    },
    CommonPrefix(String),
}

/// One listing page.
#[derive(Clone, Debug)]
pub struct Listing {
    pub items: Vec<Item>,
    pub truncated: bool,
    /// Where the next page starts (only when truncated).
    pub next: Option<Cursor>,
}

/// A bucket of generated (and, in tests, explicit) objects.
pub struct Bucket {
    pub name: String,
    /// LastModified of every object, seconds since the epoch.
    pub last_modified: i64,
    groups: Vec<Group>,
}

impl Bucket {
    /// Builds a bucket from its spec, computing the MD5 ETags of its single-part objects on
    /// `threads` threads.
    pub fn from_spec(spec: &BucketSpec, threads: usize) -> Bucket {
        let groups = spec
            .groups
            .iter()
            .map(|g: &GroupSpec| {
                let width = g.count.saturating_sub(1).to_string().len();
                let keys = Keys::Generated {
                    prefix: g.prefix.clone(),
                    count: g.count,
                    width,
                    size: g.size,
                };
                Group {
                    keys,
                    md5: Vec::new(),
                }
            })
            .collect();
        let mut b = Bucket {
            name: spec.name.clone(),
            last_modified: spec.last_modified,
            groups,
        };
        b.compute_md5(threads);
        b
    }

    /// A bucket of the given keys and sizes (any order; duplicates keep the first).
    pub fn explicit(name: &str, last_modified: i64, objects: Vec<(String, u64)>) -> Bucket {
        let mut objects = objects;
        objects.sort_by(|a, b| a.0.cmp(&b.0));
        objects.dedup_by(|a, b| a.0 == b.0);
        let mut b = Bucket {
            name: name.to_string(),
            last_modified,
            groups: vec![Group {
                keys: Keys::Explicit(objects),
                md5: Vec::new(),
            }],
        };
        b.compute_md5(1);
        b
    }

    fn compute_md5(&mut self, threads: usize) {
        let name = self.name.clone();
        for g in &mut self.groups {
            let n = g.len();
            let any_data = (0..n).any(|i| g.size(i) > 0);
            if !any_data || (0..n).all(|i| g.size(i) > PART_SIZE) {
                continue;
            }
            let threads = threads.clamp(1, 64) as u64;
            let per = n.div_ceil(threads).max(1);
            let group = &*g;
            let parts: Vec<Vec<[u8; 16]>> = std::thread::scope(|s| {
                let handles: Vec<_> = (0..threads)
                    .map(|t| {
                        let name = &name;
                        s.spawn(move || {
                            (t * per..((t + 1) * per).min(n))
                                .map(|i| {
                                    let size = group.size(i);
                                    if size <= PART_SIZE {
                                        md5_of_content(name, &group.key(i), size)
                                    } else {
                                        [0; 16]
                                    }
                                })
                                .collect()
                        })
                    })
                    .collect();
                handles
                    .into_iter()
                    .map(|h| h.join().expect("md5 thread"))
                    .collect()
            });
            g.md5 = parts.into_iter().flatten().collect();
        }
    }

    /// Number of objects (keys that two groups share count once per group).
    pub fn len(&self) -> u64 {
        self.groups.iter().map(Group::len).sum()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The object called `key`.
    pub fn object(&self, key: &str) -> Option<Object> {
        self.groups.iter().find_map(|g| {
            let i = g.find(key)?;
            let size = g.size(i);
            Some(Object {
                size,
                etag: etag_of(&self.name, key, size, g.md5(i)),
                base: content_base(&self.name, key),
                parts: parts_of(size),
            })
        })
    }

    /// One page of at most `max` entries (objects and common prefixes) under `prefix`, after
    /// `cursor`, rolled up at `delimiter`.
    pub fn list(
        &self,
        prefix: &str,
        delimiter: Option<&str>,
        cursor: &Cursor,
        max: usize,
    ) -> Listing {
        let delimiter = delimiter.filter(|d| !d.is_empty());
        let excluded = |k: &str| -> bool {
            k < prefix
                || match cursor {
                    Cursor::Start => false,
                    Cursor::AfterKey(a) => k <= a.as_str(),
                    Cursor::AfterPrefix(p) => k <= p.as_str() || k.starts_with(p.as_str()),
                }
        };
        // Per group: [next, end) is what is left to list.
        let mut next: Vec<u64> = Vec::with_capacity(self.groups.len());
        let mut end: Vec<u64> = Vec::with_capacity(self.groups.len());
        for g in &self.groups {
            let n = g.len();
            next.push(g.partition_point(0, n, excluded));
            end.push(g.partition_point(0, n, |k| k < prefix || k.starts_with(prefix)));
        }
        let mut heads: Vec<Option<String>> = self
            .groups
            .iter()
            .enumerate()
            .map(|(i, g)| (next[i] < end[i]).then(|| g.key(next[i])))
            .collect();
        let mut items = Vec::new();
        let mut last = None;
        if max == 0 {
            return Listing {
                items,
                truncated: false,
                next: None,
            };
        }
        loop {
            let Some(gi) = (0..heads.len())
                .filter(|&i| heads[i].is_some())
                .min_by(|&a, &b| heads[a].cmp(&heads[b]))
            else {
                return Listing {
                    items,
                    truncated: false,
                    next: None,
                };
            };
            if items.len() == max {
                return Listing {
                    items,
                    truncated: true,
                    next: last,
                };
            }
            let key = heads[gi].clone().expect("chosen head");
            let rolled = delimiter.and_then(|d| {
                key[prefix.len()..]
                    .find(d)
                    .map(|pos| key[..prefix.len() + pos + d.len()].to_string())
            });
            match rolled {
                Some(cp) => {
                    for (i, g) in self.groups.iter().enumerate() {
                        if heads[i].is_some() {
                            next[i] = g.partition_point(next[i], end[i], |k| k.starts_with(&cp));
                            heads[i] = (next[i] < end[i]).then(|| g.key(next[i]));
                        }
                    }
                    last = Some(Cursor::AfterPrefix(cp.clone()));
                    items.push(Item::CommonPrefix(cp));
                }
                None => {
                    let g = &self.groups[gi];
                    let size = g.size(next[gi]);
                    items.push(Item::Object {
                        etag: etag_of(&self.name, &key, size, g.md5(next[gi])),
                        size,
                        key: key.clone(),
                    });
                    // Every group whose head is this key moves on (a key listed once).
                    for (i, g) in self.groups.iter().enumerate() {
                        if heads[i].as_deref() == Some(key.as_str()) {
                            next[i] += 1;
                            heads[i] = (next[i] < end[i]).then(|| g.key(next[i]));
                        }
                    }
                    last = Some(Cursor::AfterKey(key));
                }
            }
        }
    }
}

/// All buckets.
pub struct Store {
    buckets: Vec<Bucket>,
}

impl Store {
    pub fn new(mut buckets: Vec<Bucket>) -> Store {
        buckets.sort_by(|a, b| a.name.cmp(&b.name));
        buckets.dedup_by(|a, b| a.name == b.name);
        pool();
        Store { buckets }
    }

    /// Builds every bucket of `specs` (MD5s on `threads` threads).
    pub fn from_specs(specs: &[BucketSpec], threads: usize) -> Store {
        Store::new(
            specs
                .iter()
                .map(|s| Bucket::from_spec(s, threads))
                .collect(),
        )
    }

    pub fn bucket(&self, name: &str) -> Option<&Bucket> {
        self.buckets
            .binary_search_by(|b| b.name.as_str().cmp(name))
            .ok()
            .map(|i| &self.buckets[i])
    }

    pub fn buckets(&self) -> &[Bucket] {
        &self.buckets
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::spec::parse_bucket;

    fn keys(l: &Listing) -> Vec<String> {
        l.items
            .iter()
            .map(|i| match i {
                Item::Object { key, .. } => key.clone(),
                Item::CommonPrefix(p) => format!("P:{p}"),
            })
            .collect()
    }

    #[test]
    fn content_is_stable_and_ranges_agree() {
        let a = object_bytes("b", "k", 0, 3 * POOL_PERIOD as u64 + 17);
        let b = object_bytes("b", "k", 1000, 5000);
        assert_eq!(&a[1000..6000], &b[..]);
        let wrap = object_bytes("b", "k", POOL_PERIOD as u64 - 10, 100);
        assert_eq!(&a[POOL_PERIOD - 10..POOL_PERIOD + 90], &wrap[..]);
        assert_ne!(
            object_bytes("b", "k", 0, 64),
            object_bytes("b", "k2", 0, 64)
        );
        assert_ne!(object_bytes("b", "k", 0, 64), object_bytes("c", "k", 0, 64));
        // Stable across builds: a pinned value.
        assert_eq!(
            content_base("bench", "obj-0"),
            content_base("bench", "obj-0")
        );
    }

    #[test]
    fn generated_keys_and_lookup() {
        let b = Bucket::from_spec(&parse_bucket("bb1:12x3@p/").unwrap(), 2);
        assert_eq!(b.len(), 12);
        assert!(b.object("p/00").is_some());
        assert!(b.object("p/11").is_some());
        assert!(b.object("p/12").is_none());
        assert!(b.object("p/1").is_none());
        assert!(b.object("p/011").is_none());
        let o = b.object("p/05").unwrap();
        assert_eq!(o.size, 3);
        let md5 = md5_of_content("bb1", "p/05", 3);
        assert_eq!(o.etag, format!("\"{}\"", hex(&md5)));
        let big = Bucket::from_spec(&parse_bucket("bb2:1x1GiB").unwrap(), 1);
        let o = big.object("obj-0").unwrap();
        assert!(o.etag.ends_with("-128\""), "{}", o.etag);
        assert_eq!(o.parts, 128);
    }

    #[test]
    fn merged_groups_list_in_order_with_delimiters() {
        let b = Bucket::from_spec(&parse_bucket("bb3:3x1@a/,2x1@a,2x1@b").unwrap(), 1);
        let all = b.list("", None, &Cursor::Start, 1000);
        assert_eq!(keys(&all), ["a/0", "a/1", "a/2", "a0", "a1", "b0", "b1"]);
        assert!(!all.truncated);
        let d = b.list("", Some("/"), &Cursor::Start, 1000);
        assert_eq!(keys(&d), ["P:a/", "a0", "a1", "b0", "b1"]);
        let p1 = b.list("", Some("/"), &Cursor::Start, 1);
        assert_eq!(keys(&p1), ["P:a/"]);
        assert!(p1.truncated);
        let p2 = b.list("", Some("/"), p1.next.as_ref().unwrap(), 2);
        assert_eq!(keys(&p2), ["a0", "a1"]);
        let pre = b.list("a", None, &Cursor::AfterKey("a/1".into()), 1000);
        assert_eq!(keys(&pre), ["a/2", "a0", "a1"]);
        assert!(b.list("", None, &Cursor::Start, 0).items.is_empty());
    }

    #[test]
    fn explicit_keys_sort_by_bytes() {
        let b = Bucket::explicit(
            "bb4",
            0,
            vec![
                ("é".into(), 1),
                ("z".into(), 2),
                ("Z".into(), 3),
                ("a b".into(), 0),
            ],
        );
        let l = b.list("", None, &Cursor::Start, 10);
        assert_eq!(keys(&l), ["Z", "a b", "z", "é"]);
        assert_eq!(b.object("é").unwrap().size, 1);
    }
}
