//! The S3 requests: routing (path-style and virtual-host-style), ListBuckets, HeadBucket,
//! GetBucketLocation, ListObjects (v1) and ListObjectsV2, HeadObject and GetObject (Range,
//! partNumber, If-Match / If-None-Match / If-(Un)Modified-Since). Authentication is not checked:
//! any `Authorization` header or presigned query is accepted and otherwise ignored. The server is
//! read-only: writes answer 501 NotImplemented.

use std::convert::Infallible;
use std::fmt::Write as _;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};

use bytes::Bytes;
use http::header::{HeaderValue, CONTENT_LENGTH, CONTENT_TYPE, HOST};
use http::{Method, Request, Response, StatusCode};
use http_body::{Frame, SizeHint};

use crate::store::{content_chunks, Bucket, Chunks, Cursor, Item, Object, Store, PART_SIZE};
use crate::text::{
    hex_decode, hex_encode, http_date, iso8601, parse_http_date, percent_decode, url_encode,
    xml_escape,
};

/// Path of the server's own counters (not an S3 path: `_` is not allowed in bucket names).
pub const STATS_PATH: &str = "/_memory-s3/stats";

/// Request counters.
#[derive(Default, Debug)]
pub struct Stats {
    pub requests: AtomicU64,
    pub lists: AtomicU64,
    pub gets: AtomicU64,
    pub heads: AtomicU64,
    pub other: AtomicU64,
    pub errors: AtomicU64,
    /// Body bytes of GET responses (as sent, assuming the client reads them all).
    pub body_bytes: AtomicU64,
    pub connections: AtomicU64,
}

impl Stats {
    /// `requests=… lists=… gets=… heads=… other=… errors=… body_bytes=… connections=…`
    pub fn line(&self) -> String {
        let g = |a: &AtomicU64| a.load(Ordering::Relaxed);
        format!(
            "requests={} lists={} gets={} heads={} other={} errors={} body_bytes={} connections={}",
            g(&self.requests),
            g(&self.lists),
            g(&self.gets),
            g(&self.heads),
            g(&self.other),
            g(&self.errors),
            g(&self.body_bytes),
            g(&self.connections)
        )
    }
}

/// What the handler needs.
pub struct State {
    pub store: Store,
    pub stats: Stats,
    next_id: AtomicU64,
}

impl State {
    pub fn new(store: Store) -> State {
        State {
            store,
            stats: Stats::default(),
            next_id: AtomicU64::new(1),
        }
    }
}

/// A response body: empty, a small buffer, or a range of an object's synthetic content.
pub enum Body {
    Empty,
    Full(Option<Bytes>),
    Object(Chunks),
}

impl http_body::Body for Body {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(
        self: Pin<&mut Self>,
        _cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        let this = self.get_mut();
        Poll::Ready(match this {
            Body::Empty => None,
            Body::Full(b) => b.take().map(|b| Ok(Frame::data(b))),
            Body::Object(chunks) => chunks
                .next()
                .map(|c| Ok(Frame::data(Bytes::from_static(c)))),
        })
    }

    fn is_end_stream(&self) -> bool {
        match self {
            Body::Empty => true,
            Body::Full(b) => b.is_none(),
            Body::Object(chunks) => chunks.left() == 0,
        }
    }

    fn size_hint(&self) -> SizeHint {
        match self {
            Body::Empty => SizeHint::with_exact(0),
            Body::Full(b) => SizeHint::with_exact(b.as_ref().map_or(0, |b| b.len() as u64)),
            Body::Object(chunks) => SizeHint::with_exact(chunks.left()),
        }
    }
}

/// A parsed request target.
struct Target<'a> {
    bucket: Option<String>,
    key: Option<String>,
    query: Vec<(String, String)>,
    store: &'a Store,
}

impl Target<'_> {
    fn q(&self, name: &str) -> Option<&str> {
        self.query
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    fn has(&self, name: &str) -> bool {
        self.query.iter().any(|(k, _)| k == name)
    }

    fn resource(&self) -> String {
        match (&self.bucket, &self.key) {
            (Some(b), Some(k)) => format!("/{b}/{k}"),
            (Some(b), None) => format!("/{b}"),
            _ => "/".into(),
        }
    }
}

/// An S3 error answer.
struct S3Error {
    status: StatusCode,
    code: &'static str,
    message: String,
    extra: Vec<(&'static str, String)>,
    headers: Vec<(&'static str, String)>,
}

impl S3Error {
    fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> S3Error {
        S3Error {
            status,
            code,
            message: message.into(),
            extra: Vec::new(),
            headers: Vec::new(),
        }
    }

    fn with(mut self, name: &'static str, value: impl Into<String>) -> S3Error {
        self.extra.push((name, value.into()));
        self
    }

    fn header(mut self, name: &'static str, value: impl Into<String>) -> S3Error {
        self.headers.push((name, value.into()));
        self
    }
}

fn no_such_bucket(b: &str) -> S3Error {
    S3Error::new(
        StatusCode::NOT_FOUND,
        "NoSuchBucket",
        "The specified bucket does not exist",
    )
    .with("BucketName", b)
}

fn invalid_argument(message: impl Into<String>, name: &str, value: &str) -> S3Error {
    S3Error::new(StatusCode::BAD_REQUEST, "InvalidArgument", message)
        .with("ArgumentName", name)
        .with("ArgumentValue", value)
}

const XML_DECL: &str = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n";
const S3_NS: &str = "http://s3.amazonaws.com/doc/2006-03-01/";

/// Handles one request (never fails: errors are S3 error responses).
pub async fn handle<B>(state: Arc<State>, req: Request<B>) -> Result<Response<Body>, Infallible> {
    Ok(respond(&state, &req))
}

fn respond<B>(state: &State, req: &Request<B>) -> Response<Body> {
    let stats = &state.stats;
    stats.requests.fetch_add(1, Ordering::Relaxed);
    let request_id = format!("{:016X}", state.next_id.fetch_add(1, Ordering::Relaxed));
    let head = req.method() == Method::HEAD;
    if req.uri().path() == STATS_PATH {
        stats.other.fetch_add(1, Ordering::Relaxed);
        let mut r = xml_response(StatusCode::OK, format!("{}\n", stats.line()), head);
        r.headers_mut()
            .insert(CONTENT_TYPE, HeaderValue::from_static("text/plain"));
        return r;
    }
    let result = parse_target(&state.store, req).and_then(|t| {
        let resource = t.resource();
        route(state, req, &t).map_err(|e| (e, resource))
    });
    let mut r = match result {
        Ok(r) => r,
        Err((e, resource)) => {
            stats.errors.fetch_add(1, Ordering::Relaxed);
            error_response(e, &resource, &request_id, head)
        }
    };
    let h = r.headers_mut();
    if let Ok(v) = HeaderValue::from_str(&request_id) {
        h.insert("x-amz-request-id", v);
    }
    h.insert("server", HeaderValue::from_static("memory-s3"));
    r
}

fn parse_target<'a, B>(
    store: &'a Store,
    req: &Request<B>,
) -> Result<Target<'a>, (S3Error, String)> {
    let bad_uri = || {
        (
            S3Error::new(
                StatusCode::BAD_REQUEST,
                "InvalidURI",
                "Couldn't parse the specified URI.",
            ),
            "/".to_string(),
        )
    };
    let path = percent_decode(req.uri().path(), false).ok_or_else(bad_uri)?;
    let mut query = Vec::new();
    if let Some(q) = req.uri().query() {
        for part in q.split('&').filter(|p| !p.is_empty()) {
            let (k, v) = part.split_once('=').unwrap_or((part, ""));
            query.push((
                percent_decode(k, true).ok_or_else(bad_uri)?,
                percent_decode(v, true).ok_or_else(bad_uri)?,
            ));
        }
    }
    let host = req
        .headers()
        .get(HOST)
        .and_then(|h| h.to_str().ok())
        .map(str::to_string)
        .or_else(|| req.uri().authority().map(|a| a.to_string()))
        .unwrap_or_default();
    let path = path.strip_prefix('/').unwrap_or(&path);
    let non_empty = |s: &str| (!s.is_empty()).then(|| s.to_string());
    if let Some(bucket) = host_bucket(store, &host) {
        return Ok(Target {
            bucket: Some(bucket),
            key: non_empty(path),
            query,
            store,
        });
    }
    let (bucket, key) = match path.split_once('/') {
        Some((b, k)) => (non_empty(b), non_empty(k)),
        None => (non_empty(path), None),
    };
    Ok(Target {
        bucket,
        key,
        query,
        store,
    })
}

/// The bucket named by a virtual-host-style `Host` (`bucket.endpoint[:port]`), if it is one of
/// ours and the host is not an IP address.
fn host_bucket(store: &Store, host: &str) -> Option<String> {
    let name = if host.starts_with('[') {
        return None;
    } else {
        host.rsplit_once(':').map_or(host, |(h, _)| h)
    };
    if name.parse::<std::net::IpAddr>().is_ok() {
        return None;
    }
    let (label, rest) = name.split_once('.')?;
    (!rest.is_empty() && store.bucket(label).is_some()).then(|| label.to_string())
}

/// Bucket subresources this server does not implement.
const UNSUPPORTED_BUCKET: &[&str] = &[
    "acl",
    "analytics",
    "cors",
    "encryption",
    "intelligent-tiering",
    "inventory",
    "lifecycle",
    "logging",
    "metrics",
    "notification",
    "object-lock",
    "ownershipControls",
    "policy",
    "policyStatus",
    "publicAccessBlock",
    "replication",
    "requestPayment",
    "tagging",
    "uploads",
    "versions",
    "website",
    "accelerate",
    "delete",
];

/// Object subresources this server does not implement.
const UNSUPPORTED_OBJECT: &[&str] = &[
    "acl",
    "attributes",
    "legal-hold",
    "restore",
    "retention",
    "select",
    "tagging",
    "torrent",
    "uploadId",
    "uploads",
];

fn route<B>(state: &State, req: &Request<B>, t: &Target<'_>) -> Result<Response<Body>, S3Error> {
    let stats = &state.stats;
    let method = req.method();
    let head = method == Method::HEAD;
    let not_implemented = |what: &str| {
        S3Error::new(
            StatusCode::NOT_IMPLEMENTED,
            "NotImplemented",
            format!("memory-s3 is read-only and implements no {what}"),
        )
    };
    let Some(bucket_name) = &t.bucket else {
        stats.other.fetch_add(1, Ordering::Relaxed);
        return match *method {
            Method::GET | Method::HEAD => list_buckets(t.store, head),
            _ => Err(not_implemented(method.as_str())),
        };
    };
    let bucket = t
        .store
        .bucket(bucket_name)
        .ok_or_else(|| no_such_bucket(bucket_name))?;
    match &t.key {
        None => {
            if *method != Method::GET && *method != Method::HEAD {
                stats.other.fetch_add(1, Ordering::Relaxed);
                return Err(not_implemented(&format!("{method} on a bucket")));
            }
            if let Some(sub) = UNSUPPORTED_BUCKET.iter().find(|s| t.has(s)) {
                stats.other.fetch_add(1, Ordering::Relaxed);
                return Err(not_implemented(&format!("?{sub}")));
            }
            if head {
                stats.other.fetch_add(1, Ordering::Relaxed);
                let mut r = empty(StatusCode::OK);
                r.headers_mut()
                    .insert("x-amz-bucket-region", HeaderValue::from_static("us-east-1"));
                return Ok(r);
            }
            if t.has("location") {
                stats.other.fetch_add(1, Ordering::Relaxed);
                return Ok(xml_response(
                    StatusCode::OK,
                    format!("{XML_DECL}<LocationConstraint xmlns=\"{S3_NS}\"/>"),
                    false,
                ));
            }
            if t.has("versioning") {
                stats.other.fetch_add(1, Ordering::Relaxed);
                return Ok(xml_response(
                    StatusCode::OK,
                    format!("{XML_DECL}<VersioningConfiguration xmlns=\"{S3_NS}\"/>"),
                    false,
                ));
            }
            stats.lists.fetch_add(1, Ordering::Relaxed);
            if t.q("list-type") == Some("2") {
                list_v2(bucket, t)
            } else {
                list_v1(bucket, t)
            }
        }
        Some(key) => {
            if *method != Method::GET && *method != Method::HEAD {
                stats.other.fetch_add(1, Ordering::Relaxed);
                return Err(not_implemented(&format!("{method} on objects")));
            }
            if let Some(sub) = UNSUPPORTED_OBJECT.iter().find(|s| t.has(s)) {
                stats.other.fetch_add(1, Ordering::Relaxed);
                return Err(not_implemented(&format!("?{sub}")));
            }
            if head {
                stats.heads.fetch_add(1, Ordering::Relaxed);
            } else {
                stats.gets.fetch_add(1, Ordering::Relaxed);
            }
            let r = get_object(bucket, key, req, t, head)?;
            if !head {
                stats.body_bytes.fetch_add(
                    http_body::Body::size_hint(r.body()).lower(),
                    Ordering::Relaxed,
                );
            }
            Ok(r)
        }
    }
}

fn empty(status: StatusCode) -> Response<Body> {
    let mut r = Response::new(Body::Empty);
    *r.status_mut() = status;
    r
}

fn xml_response(status: StatusCode, xml: String, head: bool) -> Response<Body> {
    let len = xml.len();
    let mut r = Response::new(if head {
        Body::Empty
    } else {
        Body::Full(Some(Bytes::from(xml)))
    });
    *r.status_mut() = status;
    let h = r.headers_mut();
    h.insert(CONTENT_TYPE, HeaderValue::from_static("application/xml"));
    h.insert(CONTENT_LENGTH, HeaderValue::from(len));
    r
}

fn error_response(e: S3Error, resource: &str, request_id: &str, head: bool) -> Response<Body> {
    let mut xml = format!(
        "{XML_DECL}<Error><Code>{}</Code><Message>{}</Message>",
        e.code,
        xml_escape(&e.message)
    );
    for (name, value) in &e.extra {
        let _ = write!(xml, "<{name}>{}</{name}>", xml_escape(value));
    }
    let _ = write!(
        xml,
        "<Resource>{}</Resource><RequestId>{request_id}</RequestId></Error>",
        xml_escape(resource)
    );
    // HEAD answers carry no body (S3 sends none either).
    let mut r = xml_response(e.status, xml, head);
    if head {
        r.headers_mut().insert(CONTENT_LENGTH, HeaderValue::from(0));
    }
    for (name, value) in e.headers {
        if let Ok(v) = HeaderValue::from_str(&value) {
            r.headers_mut().insert(name, v);
        }
    }
    r
}

fn list_buckets(store: &Store, head: bool) -> Result<Response<Body>, S3Error> {
    let mut xml = format!(
        "{XML_DECL}<ListAllMyBucketsResult xmlns=\"{S3_NS}\"><Owner><ID>memory-s3</ID>\
         <DisplayName>memory-s3</DisplayName></Owner><Buckets>"
    );
    for b in store.buckets() {
        let _ = write!(
            xml,
            "<Bucket><Name>{}</Name><CreationDate>{}</CreationDate></Bucket>",
            xml_escape(&b.name),
            iso8601(b.last_modified)
        );
    }
    xml.push_str("</Buckets></ListAllMyBucketsResult>");
    Ok(xml_response(StatusCode::OK, xml, head))
}

/// `max-keys`: default and cap 1000; not a non-negative number → 400.
fn max_keys(t: &Target<'_>) -> Result<usize, S3Error> {
    match t.q("max-keys") {
        None => Ok(1000),
        Some(v) => v
            .parse::<i64>()
            .ok()
            .filter(|n| *n >= 0)
            .map(|n| n.min(1000) as usize)
            .ok_or_else(|| {
                invalid_argument(
                    "Provided max-keys not an integer or within integer range",
                    "max-keys",
                    v,
                )
            }),
    }
}

fn encoding(t: &Target<'_>) -> Result<bool, S3Error> {
    match t.q("encoding-type") {
        None => Ok(false),
        Some(v) if v.eq_ignore_ascii_case("url") => Ok(true),
        Some(v) => Err(invalid_argument(
            "Invalid Encoding Method specified in Request",
            "encoding-type",
            v,
        )),
    }
}

fn enc(s: &str, url: bool) -> String {
    if url {
        xml_escape(&url_encode(s))
    } else {
        xml_escape(s)
    }
}

fn token_encode(c: &Cursor) -> String {
    match c {
        Cursor::Start => String::new(),
        Cursor::AfterKey(k) => format!("k{}", hex_encode(k.as_bytes())),
        Cursor::AfterPrefix(p) => format!("p{}", hex_encode(p.as_bytes())),
    }
}

fn token_decode(s: &str) -> Option<Cursor> {
    let (kind, rest) = s.split_at_checked(1)?;
    let text = String::from_utf8(hex_decode(rest)?).ok()?;
    match kind {
        "k" => Some(Cursor::AfterKey(text)),
        "p" => Some(Cursor::AfterPrefix(text)),
        _ => None,
    }
}

/// The `<Contents>`/`<CommonPrefixes>` of a page.
fn write_items(xml: &mut String, bucket: &Bucket, items: &[Item], url: bool, owner: bool) {
    let lm = iso8601(bucket.last_modified);
    for item in items {
        match item {
            Item::Object { key, size, etag } => {
                let _ = write!(
                    xml,
                    "<Contents><Key>{}</Key><LastModified>{lm}</LastModified><ETag>{}</ETag>\
                     <Size>{size}</Size>",
                    enc(key, url),
                    xml_escape(etag)
                );
                if owner {
                    xml.push_str(
                        "<Owner><ID>memory-s3</ID><DisplayName>memory-s3</DisplayName></Owner>",
                    );
                }
                xml.push_str("<StorageClass>STANDARD</StorageClass></Contents>");
            }
            Item::CommonPrefix(p) => {
                let _ = write!(
                    xml,
                    "<CommonPrefixes><Prefix>{}</Prefix></CommonPrefixes>",
                    enc(p, url)
                );
            }
        }
    }
}

fn list_v2(bucket: &Bucket, t: &Target<'_>) -> Result<Response<Body>, S3Error> {
    let max = max_keys(t)?;
    let url = encoding(t)?;
    let prefix = t.q("prefix").unwrap_or("");
    let delimiter = t.q("delimiter").filter(|d| !d.is_empty());
    let start_after = t.q("start-after").filter(|s| !s.is_empty());
    let token = t.q("continuation-token");
    let cursor = match token {
        Some(tok) => token_decode(tok).ok_or_else(|| {
            invalid_argument(
                "The continuation token provided is incorrect",
                "continuation-token",
                tok,
            )
        })?,
        None => start_after.map_or(Cursor::Start, |s| Cursor::AfterKey(s.to_string())),
    };
    let page = bucket.list(prefix, delimiter, &cursor, max);
    let mut xml = String::with_capacity(256 + page.items.len() * 250);
    let _ = write!(
        xml,
        "{XML_DECL}<ListBucketResult xmlns=\"{S3_NS}\"><Name>{}</Name><Prefix>{}</Prefix>",
        xml_escape(&bucket.name),
        enc(prefix, url)
    );
    if let Some(s) = start_after {
        let _ = write!(xml, "<StartAfter>{}</StartAfter>", enc(s, url));
    }
    if let Some(tok) = token {
        let _ = write!(
            xml,
            "<ContinuationToken>{}</ContinuationToken>",
            xml_escape(tok)
        );
    }
    let _ = write!(
        xml,
        "<KeyCount>{}</KeyCount><MaxKeys>{max}</MaxKeys>",
        page.items.len()
    );
    if let Some(d) = delimiter {
        let _ = write!(xml, "<Delimiter>{}</Delimiter>", enc(d, url));
    }
    if url {
        xml.push_str("<EncodingType>url</EncodingType>");
    }
    let _ = write!(xml, "<IsTruncated>{}</IsTruncated>", page.truncated);
    if let Some(next) = page.next.as_ref().filter(|_| page.truncated) {
        let _ = write!(
            xml,
            "<NextContinuationToken>{}</NextContinuationToken>",
            token_encode(next)
        );
    }
    write_items(
        &mut xml,
        bucket,
        &page.items,
        url,
        t.q("fetch-owner") == Some("true"),
    );
    xml.push_str("</ListBucketResult>");
    Ok(xml_response(StatusCode::OK, xml, false))
}

fn list_v1(bucket: &Bucket, t: &Target<'_>) -> Result<Response<Body>, S3Error> {
    let max = max_keys(t)?;
    let url = encoding(t)?;
    let prefix = t.q("prefix").unwrap_or("");
    let delimiter = t.q("delimiter").filter(|d| !d.is_empty());
    let marker = t.q("marker").unwrap_or("");
    // A marker that is a common prefix (a NextMarker we sent) resumes after everything under it.
    let cursor = if marker.is_empty() {
        Cursor::Start
    } else if delimiter.is_some_and(|d| {
        marker
            .strip_prefix(prefix)
            .and_then(|r| r.find(d).map(|pos| pos + d.len() == r.len()))
            .unwrap_or(false)
    }) {
        Cursor::AfterPrefix(marker.to_string())
    } else {
        Cursor::AfterKey(marker.to_string())
    };
    let page = bucket.list(prefix, delimiter, &cursor, max);
    let mut xml = String::with_capacity(256 + page.items.len() * 250);
    let _ = write!(
        xml,
        "{XML_DECL}<ListBucketResult xmlns=\"{S3_NS}\"><Name>{}</Name><Prefix>{}</Prefix>\
         <Marker>{}</Marker><MaxKeys>{max}</MaxKeys>",
        xml_escape(&bucket.name),
        enc(prefix, url),
        enc(marker, url)
    );
    if let Some(d) = delimiter {
        let _ = write!(xml, "<Delimiter>{}</Delimiter>", enc(d, url));
    }
    if url {
        xml.push_str("<EncodingType>url</EncodingType>");
    }
    let _ = write!(xml, "<IsTruncated>{}</IsTruncated>", page.truncated);
    if page.truncated && delimiter.is_some() {
        if let Some(Cursor::AfterKey(m) | Cursor::AfterPrefix(m)) = &page.next {
            let _ = write!(xml, "<NextMarker>{}</NextMarker>", enc(m, url));
        }
    }
    write_items(&mut xml, bucket, &page.items, url, true);
    xml.push_str("</ListBucketResult>");
    Ok(xml_response(StatusCode::OK, xml, false))
}

/// Whether an `If-Match`/`If-None-Match` list matches `etag` (`*` matches anything; weak and
/// unquoted forms compare by the opaque part).
fn etag_matches(list: &str, etag: &str) -> bool {
    let bare = |s: &str| {
        let s = s.trim();
        let s = s.strip_prefix("W/").unwrap_or(s);
        s.trim_matches('"').to_string()
    };
    let want = bare(etag);
    list.split(',').any(|e| e.trim() == "*" || bare(e) == want)
}

/// What a `Range` header asks of an object of `size` bytes.
#[derive(Debug, PartialEq, Eq)]
pub enum RangeAsk {
    /// No (usable) range: the whole object, 200.
    Whole,
    /// Bytes `first..=last`, 206.
    Part(u64, u64),
    /// 416.
    Unsatisfiable,
}

/// Parses a `Range` header the way S3 does: one `bytes=` range (`a-b`, `a-`, `-n`); several
/// ranges, other units and syntactically invalid ranges are ignored (the whole object).
pub fn parse_range(header: &str, size: u64) -> RangeAsk {
    let Some(spec) = header.trim().strip_prefix("bytes=") else {
        return RangeAsk::Whole;
    };
    if spec.contains(',') {
        return RangeAsk::Whole;
    }
    let Some((a, b)) = spec.trim().split_once('-') else {
        return RangeAsk::Whole;
    };
    let num = |s: &str| -> Option<u64> {
        (!s.is_empty() && s.bytes().all(|c| c.is_ascii_digit()))
            .then(|| s.parse().ok())
            .flatten()
    };
    let (a, b) = (a.trim(), b.trim());
    match (a.is_empty(), b.is_empty()) {
        (true, true) => RangeAsk::Whole,
        (true, false) => match num(b) {
            None => RangeAsk::Whole,
            Some(0) => RangeAsk::Unsatisfiable,
            Some(_) if size == 0 => RangeAsk::Unsatisfiable,
            Some(n) => RangeAsk::Part(size.saturating_sub(n), size - 1),
        },
        (false, _) => {
            let Some(first) = num(a) else {
                return RangeAsk::Whole;
            };
            let last = if b.is_empty() {
                u64::MAX
            } else {
                match num(b) {
                    Some(l) if l >= first => l,
                    _ => return RangeAsk::Whole,
                }
            };
            if first >= size {
                RangeAsk::Unsatisfiable
            } else {
                RangeAsk::Part(first, last.min(size - 1))
            }
        }
    }
}

fn get_object<B>(
    bucket: &Bucket,
    key: &str,
    req: &Request<B>,
    t: &Target<'_>,
    head: bool,
) -> Result<Response<Body>, S3Error> {
    let obj: Object = bucket.object(key).ok_or_else(|| {
        S3Error::new(
            StatusCode::NOT_FOUND,
            "NoSuchKey",
            "The specified key does not exist.",
        )
        .with("Key", key)
        .with("BucketName", &bucket.name)
    })?;
    let headers = req.headers();
    let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
    let lm = bucket.last_modified;
    // Preconditions (RFC 7232 order; S3: If-Match wins over If-Unmodified-Since, If-None-Match
    // over If-Modified-Since).
    if let Some(im) = header("if-match") {
        if !etag_matches(im, &obj.etag) {
            return Err(precondition_failed("If-Match"));
        }
    } else if let Some(t) = header("if-unmodified-since").and_then(parse_http_date) {
        if lm > t {
            return Err(precondition_failed("If-Unmodified-Since"));
        }
    }
    let not_modified = if let Some(inm) = header("if-none-match") {
        etag_matches(inm, &obj.etag)
    } else if let Some(t) = header("if-modified-since").and_then(parse_http_date) {
        lm <= t
    } else {
        false
    };
    if not_modified {
        let mut r = empty(StatusCode::NOT_MODIFIED);
        let h = r.headers_mut();
        set(h, "etag", &obj.etag);
        set(h, "last-modified", &http_date(lm));
        return Ok(r);
    }
    let range = header("range");
    let part = t.q("partNumber");
    let (status, first, len, parts_header) = match (part, range) {
        (Some(_), Some(_)) => {
            return Err(S3Error::new(
                StatusCode::BAD_REQUEST,
                "InvalidRequest",
                "Cannot specify both Range header and partNumber query parameter",
            ))
        }
        (Some(p), None) => {
            let n = p
                .parse::<u64>()
                .ok()
                .filter(|n| (1..=10_000).contains(n))
                .ok_or_else(|| {
                    invalid_argument(
                        "Part number must be an integer between 1 and 10000, inclusive",
                        "partNumber",
                        p,
                    )
                })?;
            if n > obj.parts {
                return Err(S3Error::new(
                    StatusCode::RANGE_NOT_SATISFIABLE,
                    "InvalidPartNumber",
                    "The requested partnumber is not satisfiable",
                )
                .header("content-range", format!("bytes */{}", obj.size)));
            }
            if obj.parts == 1 {
                (StatusCode::PARTIAL_CONTENT, 0, obj.size, None)
            } else {
                let first = (n - 1) * PART_SIZE;
                let len = PART_SIZE.min(obj.size - first);
                (StatusCode::PARTIAL_CONTENT, first, len, Some(obj.parts))
            }
        }
        (None, Some(r)) => match parse_range(r, obj.size) {
            RangeAsk::Whole => (StatusCode::OK, 0, obj.size, None),
            RangeAsk::Part(a, b) => (StatusCode::PARTIAL_CONTENT, a, b - a + 1, None),
            RangeAsk::Unsatisfiable => {
                return Err(S3Error::new(
                    StatusCode::RANGE_NOT_SATISFIABLE,
                    "InvalidRange",
                    "The requested range is not satisfiable",
                )
                .with("RangeRequested", r)
                .with("ActualObjectSize", obj.size.to_string())
                .header("content-range", format!("bytes */{}", obj.size)))
            }
        },
        (None, None) => (StatusCode::OK, 0, obj.size, None),
    };
    let body = if head || len == 0 {
        Body::Empty
    } else {
        Body::Object(content_chunks(obj.base, first, len))
    };
    let mut r = Response::new(body);
    *r.status_mut() = status;
    let h = r.headers_mut();
    h.insert(CONTENT_LENGTH, HeaderValue::from(len));
    h.insert(
        CONTENT_TYPE,
        HeaderValue::from_static("binary/octet-stream"),
    );
    h.insert("accept-ranges", HeaderValue::from_static("bytes"));
    set(h, "etag", &obj.etag);
    set(h, "last-modified", &http_date(lm));
    if status == StatusCode::PARTIAL_CONTENT {
        let last = (first + len).saturating_sub(1);
        set(
            h,
            "content-range",
            &format!("bytes {first}-{last}/{}", obj.size),
        );
    }
    if let Some(n) = parts_header {
        set(h, "x-amz-mp-parts-count", &n.to_string());
    }
    Ok(r)
}

fn precondition_failed(which: &str) -> S3Error {
    S3Error::new(
        StatusCode::PRECONDITION_FAILED,
        "PreconditionFailed",
        "At least one of the pre-conditions you specified did not hold",
    )
    .with("Condition", which)
}

fn set(h: &mut http::HeaderMap, name: &'static str, value: &str) {
    if let Ok(v) = HeaderValue::from_str(value) {
        h.insert(name, v);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges() {
        use RangeAsk::*;
        assert_eq!(parse_range("bytes=0-9", 100), Part(0, 9));
        assert_eq!(parse_range("bytes=90-", 100), Part(90, 99));
        assert_eq!(parse_range("bytes=90-1000", 100), Part(90, 99));
        assert_eq!(parse_range("bytes=-10", 100), Part(90, 99));
        assert_eq!(parse_range("bytes=-1000", 100), Part(0, 99));
        assert_eq!(parse_range("bytes=100-", 100), Unsatisfiable);
        assert_eq!(parse_range("bytes=-0", 100), Unsatisfiable);
        assert_eq!(parse_range("bytes=0-0", 0), Unsatisfiable);
        assert_eq!(parse_range("bytes=-5", 0), Unsatisfiable);
        assert_eq!(parse_range("bytes=5-3", 100), Whole);
        assert_eq!(parse_range("bytes=0-1,5-6", 100), Whole);
        assert_eq!(parse_range("items=0-1", 100), Whole);
        assert_eq!(parse_range("bytes=x-1", 100), Whole);
        assert_eq!(parse_range("bytes=-", 100), Whole);
    }

    #[test]
    fn etag_lists() {
        assert!(etag_matches("\"abc\"", "\"abc\""));
        assert!(etag_matches("abc", "\"abc\""));
        assert!(etag_matches("\"x\", W/\"abc\"", "\"abc\""));
        assert!(etag_matches("*", "\"abc\""));
        assert!(!etag_matches("\"abd\"", "\"abc\""));
    }

    #[test]
    fn tokens_round_trip() {
        for c in [
            Cursor::AfterKey("a b/é".into()),
            Cursor::AfterPrefix("x/".into()),
        ] {
            assert_eq!(token_decode(&token_encode(&c)), Some(c));
        }
        assert_eq!(token_decode("zz"), None);
        assert_eq!(token_decode(""), None);
    }
}
