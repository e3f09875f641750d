//! The S3 protocol points of memory-s3, over real HTTP: pagination, ranges, conditionals, URL
//! encoding of keys, addressing styles, errors; and the AWS SDK as a client.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};

use md5::{Digest, Md5};
use memory_s3::{object_bytes, parse_bucket, Bucket, Options, Running, Store};

fn start(specs: &[&str], explicit: Vec<Bucket>) -> Running {
    let specs: Vec<_> = specs.iter().map(|s| parse_bucket(s).unwrap()).collect();
    let mut buckets: Vec<Bucket> = specs.iter().map(|s| Bucket::from_spec(s, 2)).collect();
    buckets.extend(explicit);
    memory_s3::spawn(
        Store::new(buckets),
        "127.0.0.1:0".parse().unwrap(),
        Options {
            threads: 2,
            sndbuf: None,
        },
    )
    .unwrap()
}

#[derive(Debug)]
struct Resp {
    status: u16,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl Resp {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    fn text(&self) -> String {
        String::from_utf8(self.body.clone()).unwrap()
    }
}

/// One HTTP/1.1 request on a fresh connection (`Connection: close`, body read to EOF).
fn request(addr: SocketAddr, method: &str, target: &str, headers: &[(&str, &str)]) -> Resp {
    let mut s = TcpStream::connect(addr).unwrap();
    let mut req = format!("{method} {target} HTTP/1.1\r\nConnection: close\r\n");
    if !headers.iter().any(|(k, _)| k.eq_ignore_ascii_case("host")) {
        req.push_str(&format!("Host: {addr}\r\n"));
    }
    for (k, v) in headers {
        req.push_str(&format!("{k}: {v}\r\n"));
    }
    req.push_str("\r\n");
    s.write_all(req.as_bytes()).unwrap();
    let mut raw = Vec::new();
    s.read_to_end(&mut raw).unwrap();
    let split = raw.windows(4).position(|w| w == b"\r\n\r\n").unwrap();
    let head = String::from_utf8(raw[..split].to_vec()).unwrap();
    let body = raw[split + 4..].to_vec();
    let mut lines = head.split("\r\n");
    let status = lines
        .next()
        .unwrap()
        .split(' ')
        .nth(1)
        .unwrap()
        .parse()
        .unwrap();
    let headers = lines
        .map(|l| {
            let (k, v) = l.split_once(':').unwrap();
            (k.trim().to_string(), v.trim().to_string())
        })
        .collect();
    let r = Resp {
        status,
        headers,
        body,
    };
    if method != "HEAD" {
        if let Some(len) = r.header("content-length") {
            assert_eq!(len.parse::<usize>().unwrap(), r.body.len(), "{target}");
        }
    }
    r
}

fn get(addr: SocketAddr, target: &str) -> Resp {
    request(addr, "GET", target, &[])
}

/// Every `<tag>…</tag>` text in `xml`, in order.
fn all(xml: &str, tag: &str) -> Vec<String> {
    let (open, close) = (format!("<{tag}>"), format!("</{tag}>"));
    let mut out = Vec::new();
    let mut rest = xml;
    while let Some(i) = rest.find(&open) {
        let after = &rest[i + open.len()..];
        let j = after.find(&close).unwrap();
        out.push(after[..j].to_string());
        rest = &after[j + close.len()..];
    }
    out
}

fn one(xml: &str, tag: &str) -> Option<String> {
    all(xml, tag).into_iter().next()
}

fn unescape(s: &str) -> String {
    let mut out = s
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&quot;", "\"")
        .replace("&apos;", "'");
    while let Some(i) = out.find("&#x") {
        let j = out[i..].find(';').unwrap() + i;
        let c = char::from_u32(u32::from_str_radix(&out[i + 3..j], 16).unwrap()).unwrap();
        out.replace_range(i..=j, &c.to_string());
    }
    out.replace("&amp;", "&")
}

/// `+` is a space, `%XX` a byte (how SDKs decode `encoding-type=url`).
fn url_decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'%' => {
                out.push(
                    u8::from_str_radix(std::str::from_utf8(&b[i + 1..i + 3]).unwrap(), 16).unwrap(),
                );
                i += 3;
            }
            b'+' => {
                out.push(b' ');
                i += 1;
            }
            c => {
                out.push(c);
                i += 1;
            }
        }
    }
    String::from_utf8(out).unwrap()
}

/// Percent-encodes everything but unreserved characters (and `/` when `keep_slash`).
fn enc(s: &str, keep_slash: bool) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            b'/' if keep_slash => "/".into(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

#[test]
fn v2_pagination_over_2500_keys() {
    let srv = start(&["pages:2500x10@k/"], vec![]);
    let expected: Vec<String> = (0..2500).map(|i| format!("k/{i:04}")).collect();
    let mut keys = Vec::new();
    let mut token: Option<String> = None;
    let mut pages = Vec::new();
    loop {
        let mut target = "/pages?list-type=2".to_string();
        if let Some(t) = &token {
            target.push_str(&format!("&continuation-token={}", enc(t, false)));
        }
        let r = get(srv.addr, &target);
        assert_eq!(r.status, 200);
        let xml = r.text();
        assert_eq!(one(&xml, "Name").as_deref(), Some("pages"));
        assert_eq!(one(&xml, "MaxKeys").as_deref(), Some("1000"));
        let page = all(&xml, "Key");
        assert_eq!(one(&xml, "KeyCount"), Some(page.len().to_string()));
        assert_eq!(all(&xml, "Size").len(), page.len());
        assert_eq!(all(&xml, "ETag").len(), page.len());
        assert!(all(&xml, "StorageClass").iter().all(|s| s == "STANDARD"));
        assert!(all(&xml, "LastModified")
            .iter()
            .all(|s| s == "2023-11-14T22:13:20.000Z"));
        pages.push(page.len());
        keys.extend(page);
        let truncated = one(&xml, "IsTruncated").unwrap() == "true";
        token = one(&xml, "NextContinuationToken");
        assert_eq!(truncated, token.is_some());
        if !truncated {
            break;
        }
    }
    assert_eq!(pages, [1000, 1000, 500]);
    assert_eq!(keys, expected);

    // MaxKeys is capped at 1000; small pages walk the same keys.
    let xml = get(srv.addr, "/pages?list-type=2&max-keys=5000").text();
    assert_eq!(one(&xml, "MaxKeys").as_deref(), Some("1000"));
    assert_eq!(all(&xml, "Key").len(), 1000);
    let xml = get(srv.addr, "/pages?list-type=2&max-keys=7&start-after=k/2490").text();
    assert_eq!(all(&xml, "Key"), expected[2491..2498]);
    assert_eq!(one(&xml, "StartAfter").as_deref(), Some("k/2490"));
    let token = one(&xml, "NextContinuationToken").unwrap();
    let xml = get(
        srv.addr,
        &format!(
            "/pages?list-type=2&max-keys=7&start-after=k/0000&continuation-token={}",
            enc(&token, false)
        ),
    )
    .text();
    assert_eq!(
        all(&xml, "Key"),
        expected[2498..],
        "the token wins over start-after"
    );
    assert_eq!(one(&xml, "IsTruncated").as_deref(), Some("false"));
    // Prefix.
    let xml = get(srv.addr, "/pages?list-type=2&prefix=k/12").text();
    assert_eq!(all(&xml, "Key"), expected[1200..1300]);
    assert_eq!(one(&xml, "Prefix").as_deref(), Some("k/12"));
    // max-keys=0, bad max-keys, bad token.
    let xml = get(srv.addr, "/pages?list-type=2&max-keys=0").text();
    assert_eq!(one(&xml, "KeyCount").as_deref(), Some("0"));
    assert_eq!(get(srv.addr, "/pages?list-type=2&max-keys=-1").status, 400);
    assert_eq!(
        get(srv.addr, "/pages?list-type=2&continuation-token=zz").status,
        400
    );
}

#[test]
fn v1_marker_pagination_and_delimiters() {
    let srv = start(&["v1pages:2500x1@d/,3x1@top-"], vec![]);
    let mut keys = Vec::new();
    let mut marker = String::new();
    loop {
        let r = get(
            srv.addr,
            &format!("/v1pages?marker={}", enc(&marker, false)),
        );
        let xml = r.text();
        let page = all(&xml, "Key");
        keys.extend(page.clone());
        if one(&xml, "IsTruncated").unwrap() != "true" {
            break;
        }
        marker = page.last().unwrap().clone();
    }
    assert_eq!(keys.len(), 2503);
    assert!(keys.windows(2).all(|w| w[0] < w[1]));

    // Delimiter: the 2,500 keys under d/ are one common prefix; pages continue after it.
    let xml = get(srv.addr, "/v1pages?list-type=2&delimiter=/&max-keys=2").text();
    assert_eq!(all(&xml, "Prefix")[1..], ["d/"]);
    assert_eq!(all(&xml, "Key"), ["top-0"]);
    assert_eq!(one(&xml, "KeyCount").as_deref(), Some("2"));
    let token = one(&xml, "NextContinuationToken").unwrap();
    let xml = get(
        srv.addr,
        &format!(
            "/v1pages?list-type=2&delimiter=/&continuation-token={}",
            enc(&token, false)
        ),
    )
    .text();
    assert_eq!(all(&xml, "Key"), ["top-1", "top-2"]);
    // v1 with a delimiter returns NextMarker, and a common prefix as marker skips under it.
    let xml = get(srv.addr, "/v1pages?delimiter=/&max-keys=1").text();
    assert_eq!(one(&xml, "NextMarker").as_deref(), Some("d/"));
    let xml = get(srv.addr, "/v1pages?delimiter=/&marker=d/").text();
    assert_eq!(all(&xml, "Key"), ["top-0", "top-1", "top-2"]);
}

#[test]
fn ranges_and_partial_content() {
    let srv = start(&["rng:1x3000000,1x0@empty"], vec![]);
    let whole = object_bytes("rng", "obj-0", 0, 3_000_000);
    let r = get(srv.addr, "/rng/obj-0");
    assert_eq!(r.status, 200);
    assert_eq!(r.body, whole);
    assert_eq!(r.header("accept-ranges"), Some("bytes"));
    let cases: &[(&str, u64, u64)] = &[
        ("bytes=0-0", 0, 0),
        ("bytes=100-199", 100, 199),
        ("bytes=2999990-", 2_999_990, 2_999_999),
        ("bytes=2999990-5000000", 2_999_990, 2_999_999),
        ("bytes=-10", 2_999_990, 2_999_999),
        ("bytes=-9000000", 0, 2_999_999),
        ("bytes=1048570-1048590", 1_048_570, 1_048_590),
    ];
    for &(range, a, b) in cases {
        let r = request(srv.addr, "GET", "/rng/obj-0", &[("Range", range)]);
        assert_eq!(r.status, 206, "{range}");
        assert_eq!(
            r.header("content-range"),
            Some(format!("bytes {a}-{b}/3000000").as_str()),
            "{range}"
        );
        assert_eq!(r.body, whole[a as usize..=b as usize], "{range}");
    }
    for range in ["bytes=3000000-", "bytes=-0", "bytes=4000000-4000001"] {
        let r = request(srv.addr, "GET", "/rng/obj-0", &[("Range", range)]);
        assert_eq!(r.status, 416, "{range}");
        assert_eq!(r.header("content-range"), Some("bytes */3000000"));
        assert!(r.text().contains("<Code>InvalidRange</Code>"));
    }
    for range in ["bytes=5-3", "bytes=0-1,4-5", "lines=1-2"] {
        let r = request(srv.addr, "GET", "/rng/obj-0", &[("Range", range)]);
        assert_eq!(r.status, 200, "{range} is ignored");
        assert_eq!(r.body.len(), 3_000_000);
    }
    let r = request(srv.addr, "GET", "/rng/empty0", &[("Range", "bytes=0-")]);
    assert_eq!(r.status, 416);
    let r = get(srv.addr, "/rng/empty0");
    assert_eq!((r.status, r.body.len()), (200, 0));
    // HEAD with a range: the range's headers, no body.
    let r = request(srv.addr, "HEAD", "/rng/obj-0", &[("Range", "bytes=10-19")]);
    assert_eq!(r.status, 206);
    assert_eq!(r.header("content-length"), Some("10"));
    assert!(r.body.is_empty());
}

#[test]
fn big_objects_stream_with_parts_and_multipart_etags() {
    let srv = start(&["bigone:1x1GiB"], vec![]);
    let r = request(srv.addr, "HEAD", "/bigone/obj-0", &[]);
    assert_eq!(r.status, 200);
    assert_eq!(r.header("content-length"), Some("1073741824"));
    let etag = r.header("etag").unwrap().to_string();
    assert!(etag.ends_with("-128\""), "{etag}");
    let tail = request(
        srv.addr,
        "GET",
        "/bigone/obj-0",
        &[("Range", "bytes=-1048576")],
    );
    assert_eq!(
        tail.body,
        object_bytes("bigone", "obj-0", (1 << 30) - (1 << 20), 1 << 20)
    );
    let part = get(srv.addr, "/bigone/obj-0?partNumber=2");
    assert_eq!(part.status, 206);
    assert_eq!(part.header("x-amz-mp-parts-count"), Some("128"));
    assert_eq!(
        part.header("content-range"),
        Some("bytes 8388608-16777215/1073741824")
    );
    assert_eq!(part.body, object_bytes("bigone", "obj-0", 8 << 20, 8 << 20));
    assert_eq!(get(srv.addr, "/bigone/obj-0?partNumber=129").status, 416);
    // A whole GET streams 1 GiB at once (counted, not kept).
    let mut s = TcpStream::connect(srv.addr).unwrap();
    write!(
        s,
        "GET /bigone/obj-0 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut buf = vec![0u8; 1 << 20];
    let mut total = 0usize;
    loop {
        let n = s.read(&mut buf).unwrap();
        if n == 0 {
            break;
        }
        total += n;
    }
    assert!(total > 1 << 30 && total < (1 << 30) + 1000, "{total}");
}

#[test]
fn etags_and_conditionals() {
    let srv = start(&["cond:3x5000"], vec![]);
    let r = get(srv.addr, "/cond/obj-1");
    let etag = r.header("etag").unwrap().to_string();
    let md5: String = Md5::digest(&r.body)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    assert_eq!(
        etag,
        format!("\"{md5}\""),
        "single-part ETag is the content MD5"
    );
    assert_eq!(
        r.header("last-modified"),
        Some("Tue, 14 Nov 2023 22:13:20 GMT")
    );
    // Stable across servers, and as listed.
    let other = start(&["cond:3x5000"], vec![]);
    assert_eq!(
        get(other.addr, "/cond/obj-1").header("etag"),
        Some(etag.as_str())
    );
    let listed = all(&get(srv.addr, "/cond?list-type=2").text(), "ETag");
    assert_eq!(unescape(&listed[1]), etag);

    let ok = request(srv.addr, "GET", "/cond/obj-1", &[("If-Match", &etag)]);
    assert_eq!(ok.status, 200);
    let ok = request(srv.addr, "GET", "/cond/obj-1", &[("If-Match", "*")]);
    assert_eq!(ok.status, 200);
    let ok = request(
        srv.addr,
        "GET",
        "/cond/obj-1",
        &[("If-Match", &etag), ("Range", "bytes=10-20")],
    );
    assert_eq!(ok.status, 206);
    let bad = request(srv.addr, "GET", "/cond/obj-1", &[("If-Match", "\"0123\"")]);
    assert_eq!(bad.status, 412);
    assert!(bad.text().contains("<Code>PreconditionFailed</Code>"));
    let bad = request(srv.addr, "HEAD", "/cond/obj-1", &[("If-Match", "\"0123\"")]);
    assert_eq!((bad.status, bad.body.len()), (412, 0));
    let nm = request(srv.addr, "GET", "/cond/obj-1", &[("If-None-Match", &etag)]);
    assert_eq!((nm.status, nm.body.len()), (304, 0));
    let ims = request(
        srv.addr,
        "GET",
        "/cond/obj-1",
        &[("If-Modified-Since", "Wed, 15 Nov 2023 00:00:00 GMT")],
    );
    assert_eq!(ims.status, 304);
    let ius = request(
        srv.addr,
        "GET",
        "/cond/obj-1",
        &[("If-Unmodified-Since", "Mon, 13 Nov 2023 00:00:00 GMT")],
    );
    assert_eq!(ius.status, 412);
}

const ODD: &[&str] = &[
    "plain",
    "a b",
    "plus+sign",
    "percent%41",
    "amp&lt<gt>\"quote'",
    "unicodé/ü/日本語-🎉",
    "ctl\u{1}char",
    "cr\rlf\n",
    "dir//double",
    "/leading",
    "trailing/",
    "q?x=1#frag",
    "tilde~star*comma,semi;colon:at@eq=",
];

#[test]
fn url_encoding_of_keys() {
    let odd = Bucket::explicit(
        "odd",
        1_600_000_000,
        ODD.iter()
            .enumerate()
            .map(|(i, k)| (k.to_string(), 10 + i as u64))
            .collect(),
    );
    let srv = start(&[], vec![odd]);
    let mut sorted: Vec<&str> = ODD.to_vec();
    sorted.sort();

    let xml = get(srv.addr, "/odd?list-type=2&encoding-type=url").text();
    assert_eq!(one(&xml, "EncodingType").as_deref(), Some("url"));
    let raw = all(&xml, "Key");
    for k in &raw {
        assert!(
            k.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"-_.~/+%".contains(&b)),
            "{k:?} is not URL-encoded"
        );
    }
    let decoded: Vec<String> = raw.iter().map(|k| url_decode(k)).collect();
    assert_eq!(decoded, sorted);
    // Without encoding-type the keys are XML-escaped text.
    let xml = get(srv.addr, "/odd?list-type=2").text();
    let plain: Vec<String> = all(&xml, "Key").iter().map(|k| unescape(k)).collect();
    assert_eq!(plain, sorted);
    // Prefix and start-after in the query; the prefix echoed encoded.
    let xml = get(
        srv.addr,
        &format!(
            "/odd?list-type=2&encoding-type=url&prefix={}",
            enc("a b", false)
        ),
    )
    .text();
    assert_eq!(one(&xml, "Prefix").as_deref(), Some("a+b"));
    assert_eq!(all(&xml, "Key"), ["a+b"]);
    let xml = get(
        srv.addr,
        &format!("/odd?list-type=2&start-after={}", enc("plus+sign", false)),
    )
    .text();
    let after: Vec<String> = all(&xml, "Key").iter().map(|k| unescape(k)).collect();
    let want: Vec<&str> = sorted
        .iter()
        .copied()
        .filter(|k| *k > "plus+sign")
        .collect();
    assert_eq!(after, want);
    // Every key is reachable by GET with its path percent-encoded.
    for (i, k) in ODD.iter().enumerate() {
        let r = get(srv.addr, &format!("/odd/{}", enc(k, true)));
        assert_eq!(r.status, 200, "{k:?}");
        assert_eq!(r.body, object_bytes("odd", k, 0, 10 + i as u64), "{k:?}");
    }
}

#[test]
fn addressing_signatures_and_errors() {
    let srv = start(&["vhost:2x100"], vec![]);
    let host = format!("vhost.localhost:{}", srv.addr.port());
    let r = request(srv.addr, "GET", "/obj-1", &[("Host", &host)]);
    assert_eq!(r.status, 200);
    assert_eq!(r.body, object_bytes("vhost", "obj-1", 0, 100));
    let xml = request(srv.addr, "GET", "/?list-type=2", &[("Host", &host)]).text();
    assert_eq!(all(&xml, "Key"), ["obj-0", "obj-1"]);
    // Path-style on an IP host, with a SigV4 header (not checked) and the SDK's x-id.
    let sig = "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20240101/us-east-1/s3/aws4_request, \
               SignedHeaders=host;x-amz-content-sha256;x-amz-date, Signature=deadbeef";
    let r = request(
        srv.addr,
        "GET",
        "/vhost/obj-0?x-id=GetObject",
        &[
            ("Authorization", sig),
            ("x-amz-date", "20240101T000000Z"),
            ("x-amz-content-sha256", "UNSIGNED-PAYLOAD"),
        ],
    );
    assert_eq!(r.status, 200);
    let presigned = "/vhost/obj-0?X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=AK%2F20240101%2Fus-east-1%2Fs3%2Faws4_request&X-Amz-Date=20240101T000000Z&X-Amz-Expires=900&X-Amz-SignedHeaders=host&X-Amz-Signature=00ff";
    assert_eq!(get(srv.addr, presigned).status, 200);
    // Bucket operations.
    assert_eq!(request(srv.addr, "HEAD", "/vhost", &[]).status, 200);
    assert!(get(srv.addr, "/vhost?location")
        .text()
        .contains("LocationConstraint"));
    assert!(get(srv.addr, "/").text().contains("<Name>vhost</Name>"));
    // Errors.
    let r = get(srv.addr, "/nope/k");
    assert_eq!(r.status, 404);
    assert!(r.text().contains("<Code>NoSuchBucket</Code>"));
    let r = get(srv.addr, "/vhost/nope");
    assert_eq!(r.status, 404);
    assert!(r.text().contains("<Code>NoSuchKey</Code>"));
    let r = request(srv.addr, "HEAD", "/vhost/nope", &[]);
    assert_eq!((r.status, r.body.len()), (404, 0));
    assert_eq!(
        request(srv.addr, "PUT", "/vhost/new", &[("Content-Length", "0")]).status,
        501
    );
    assert_eq!(request(srv.addr, "DELETE", "/vhost/obj-0", &[]).status, 501);
    let stats = get(srv.addr, "/_memory-s3/stats").text();
    assert!(stats.starts_with("requests="), "{stats}");
    assert!(srv.stats().gets.load(std::sync::atomic::Ordering::Relaxed) >= 4);
}

#[test]
fn the_aws_sdk_lists_reads_and_conditions() {
    let odd = Bucket::explicit(
        "sdkodd",
        1_600_000_000,
        ODD.iter().map(|k| (k.to_string(), 33)).collect(),
    );
    let srv = start(&["sdk:2500x64@p/"], vec![odd]);
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let conf = aws_sdk_s3::Config::builder()
            .behavior_version(aws_sdk_s3::config::BehaviorVersion::latest())
            .region(aws_sdk_s3::config::Region::new("us-east-1"))
            .endpoint_url(srv.endpoint())
            .force_path_style(true)
            .credentials_provider(aws_credential_types::Credentials::new(
                "AK", "SK", None, None, "test",
            ))
            .build();
        let client = aws_sdk_s3::Client::from_conf(conf);
        let mut pages = client
            .list_objects_v2()
            .bucket("sdk")
            .encoding_type(aws_sdk_s3::types::EncodingType::Url)
            .into_paginator()
            .send();
        let mut keys = Vec::new();
        while let Some(page) = pages.next().await {
            let page = page.unwrap();
            assert_eq!(page.name(), Some("sdk"));
            for o in page.contents() {
                assert_eq!(o.size(), Some(64));
                assert_eq!(o.last_modified().unwrap().secs(), 1_700_000_000);
                keys.push(o.key().unwrap().to_string());
            }
        }
        assert_eq!(
            keys,
            (0..2500).map(|i| format!("p/{i:04}")).collect::<Vec<_>>()
        );

        let out = client
            .list_objects_v2()
            .bucket("sdkodd")
            .encoding_type(aws_sdk_s3::types::EncodingType::Url)
            .send()
            .await
            .unwrap();
        let mut want: Vec<&str> = ODD.to_vec();
        want.sort();
        let got: Vec<String> = out
            .contents()
            .iter()
            .map(|o| url_decode(o.key().unwrap()))
            .collect();
        assert_eq!(got, want);
        for k in ODD {
            let o = client
                .get_object()
                .bucket("sdkodd")
                .key(*k)
                .send()
                .await
                .unwrap();
            let etag = o.e_tag().unwrap().to_string();
            let body = o.body.collect().await.unwrap().into_bytes();
            assert_eq!(body.as_ref(), object_bytes("sdkodd", k, 0, 33), "{k:?}");
            let r = client
                .get_object()
                .bucket("sdkodd")
                .key(*k)
                .range("bytes=3-5")
                .if_match(&etag)
                .send()
                .await
                .unwrap();
            assert_eq!(r.content_range(), Some("bytes 3-5/33"));
        }
        let err = client
            .get_object()
            .bucket("sdk")
            .key("p/0001")
            .if_match("\"nope\"")
            .send()
            .await
            .unwrap_err();
        assert_eq!(err.raw_response().map(|r| r.status().as_u16()), Some(412));
        let head = client
            .head_object()
            .bucket("sdk")
            .key("p/0002")
            .send()
            .await
            .unwrap();
        assert_eq!(head.content_length(), Some(64));
    });
}
