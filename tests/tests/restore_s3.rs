//! Restore into S3 through the C ABI (the harness plays the daemon, xattrs included) against
//! real servers: a bucket with metadata, tags and a multipart-sized object restored into an
//! empty bucket compares equal object by object; replace modes against the target object;
//! data that does not verify is never stored and leaves no upload behind.

use std::collections::BTreeMap;
use std::sync::Arc;

use aws_sdk_s3::primitives::{ByteStream, DateTime};
use aws_sdk_s3::types::{ChecksumAlgorithm, ChecksumMode, Tag, Tagging};
use aws_sdk_s3::Client;
use integration_tests::harness::{
    self, assert_ok, ft, msg, DataRef, Flavour, JobSpec, RestoreSpec,
};
use integration_tests::scenario::{data, job_id, BucketFixture};
use integration_tests::servers::{self, block_on, enable_versioning, S3Server};

/// What an object is, besides its key: everything a restore must bring back.
#[derive(Debug, PartialEq, Eq, Clone, Default)]
struct Described {
    data_len: usize,
    data_sha: String,
    content_type: Option<String>,
    content_encoding: Option<String>,
    content_language: Option<String>,
    cache_control: Option<String>,
    content_disposition: Option<String>,
    expires: Option<String>,
    user: BTreeMap<String, String>,
    tags: BTreeMap<String, String>,
    checksum_crc32: Option<String>,
}

fn sha(bytes: &[u8]) -> String {
    use sha2::Digest;
    sha2::Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

fn describe(client: &Client, bucket: &str, key: &str) -> Described {
    let out = block_on(
        client
            .get_object()
            .bucket(bucket)
            .key(key)
            .checksum_mode(ChecksumMode::Enabled)
            .send(),
    )
    .unwrap_or_else(|e| panic!("GET {bucket}/{key}: {e:?}"));
    let mut d = Described {
        content_type: out.content_type().map(str::to_string),
        content_encoding: out.content_encoding().map(str::to_string),
        content_language: out.content_language().map(str::to_string),
        cache_control: out.cache_control().map(str::to_string),
        content_disposition: out.content_disposition().map(str::to_string),
        expires: out.expires_string().map(str::to_string),
        user: out
            .metadata()
            .map(|m| m.iter().map(|(k, v)| (k.clone(), v.clone())).collect())
            .unwrap_or_default(),
        checksum_crc32: out.checksum_crc32().map(str::to_string),
        ..Default::default()
    };
    let body = block_on(out.body.collect()).unwrap().into_bytes();
    d.data_len = body.len();
    d.data_sha = sha(&body);
    // Ceph 16 now and then answers with an empty 200 body: ask again.
    let mut attempt = 0;
    d.tags = loop {
        match block_on(client.get_object_tagging().bucket(bucket).key(key).send()) {
            Ok(tags) => {
                break tags
                    .tag_set()
                    .iter()
                    .map(|t| (t.key().to_string(), t.value().to_string()))
                    .collect()
            }
            Err(e) if attempt < 5 && format!("{e:?}").contains("no root element") => {
                eprintln!("GET {bucket}/{key}?tagging: empty answer, again");
                attempt += 1;
            }
            Err(e) => panic!("GET {bucket}/{key}?tagging: {e:?}"),
        }
    };
    d
}

fn list(client: &Client, bucket: &str) -> Vec<String> {
    let mut keys = Vec::new();
    let mut token = None;
    loop {
        let out = block_on(
            client
                .list_objects_v2()
                .bucket(bucket)
                .set_continuation_token(token)
                .send(),
        )
        .unwrap();
        keys.extend(
            out.contents()
                .iter()
                .filter_map(|o| o.key().map(str::to_string)),
        );
        token = out.next_continuation_token().map(str::to_string);
        if token.is_none() {
            return keys;
        }
    }
}

fn open_uploads(client: &Client, bucket: &str) -> usize {
    block_on(client.list_multipart_uploads().bucket(bucket).send())
        .unwrap()
        .uploads()
        .len()
}

struct Sample {
    key: &'static str,
    data: Vec<u8>,
    content_type: Option<&'static str>,
    headers: bool,
    user: &'static [(&'static str, &'static str)],
    tags: &'static [(&'static str, &'static str)],
}

fn put_sample(client: &Client, bucket: &str, s: &Sample, checksum: bool) {
    let mut r = client
        .put_object()
        .bucket(bucket)
        .key(s.key)
        .body(ByteStream::from(s.data.clone()))
        .set_content_type(s.content_type.map(str::to_string));
    if s.headers {
        r = r
            .content_encoding("identity")
            .content_language("de-CH")
            .cache_control("max-age=3600, public")
            .content_disposition("attachment; filename=\"report 2024.pdf\"")
            .expires(DateTime::from_secs(2_000_000_000));
    }
    for (k, v) in s.user {
        r = r.metadata(*k, *v);
    }
    if !s.tags.is_empty() {
        let tagging = s
            .tags
            .iter()
            .map(|(k, v)| format!("{}={}", urlencode(k), urlencode(v)))
            .collect::<Vec<_>>()
            .join("&");
        r = r.tagging(tagging);
    }
    if checksum {
        r = r.checksum_algorithm(ChecksumAlgorithm::Crc32);
    }
    block_on(r.send()).unwrap_or_else(|e| panic!("PUT {}: {e:?}", s.key));
}

fn urlencode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// A large object uploaded in parts, with headers and tags set afterwards.
fn put_multipart(client: &Client, bucket: &str, key: &str, bytes: &[u8], part: usize) {
    let created = block_on(
        client
            .create_multipart_upload()
            .bucket(bucket)
            .key(key)
            .content_type("video/mp4")
            .metadata("camera", "front door")
            .send(),
    )
    .unwrap();
    let id = created.upload_id().unwrap().to_string();
    let mut parts = Vec::new();
    for (i, chunk) in bytes.chunks(part).enumerate() {
        let n = i as i32 + 1;
        let out = block_on(
            client
                .upload_part()
                .bucket(bucket)
                .key(key)
                .upload_id(&id)
                .part_number(n)
                .body(ByteStream::from(chunk.to_vec()))
                .send(),
        )
        .unwrap();
        parts.push(
            aws_sdk_s3::types::CompletedPart::builder()
                .part_number(n)
                .e_tag(out.e_tag().unwrap())
                .build(),
        );
    }
    block_on(
        client
            .complete_multipart_upload()
            .bucket(bucket)
            .key(key)
            .upload_id(&id)
            .multipart_upload(
                aws_sdk_s3::types::CompletedMultipartUpload::builder()
                    .set_parts(Some(parts))
                    .build(),
            )
            .send(),
    )
    .unwrap();
    let tagging = Tagging::builder()
        .tag_set(Tag::builder().key("kind").value("video").build().unwrap())
        .build()
        .unwrap();
    block_on(
        client
            .put_object_tagging()
            .bucket(bucket)
            .key(key)
            .tagging(tagging)
            .send(),
    )
    .unwrap();
}

fn samples() -> Vec<Sample> {
    vec![
        Sample {
            key: "docs/report.pdf",
            data: data(1, 70_000),
            content_type: Some("application/pdf"),
            headers: true,
            user: &[("owner", "finance"), ("reviewed-by", "Zoë Müller")],
            tags: &[
                ("class", "confidential"),
                ("year", "2024"),
                ("a b", "c=d+e @x"),
            ],
        },
        Sample {
            key: "plain/no-metadata.bin",
            data: data(2, 1000),
            content_type: None,
            headers: false,
            user: &[],
            tags: &[],
        },
        Sample {
            key: "empty-with-tags",
            data: Vec::new(),
            content_type: Some("text/plain"),
            headers: false,
            user: &[("k", "")],
            tags: &[("empty", "")],
        },
        Sample {
            key: "odd key/ä ö+ @x.txt",
            data: data(3, 12_345),
            content_type: Some("text/plain; charset=utf-8"),
            headers: false,
            user: &[("x", "1")],
            tags: &[],
        },
        Sample {
            key: "mid/nine-mib.bin",
            data: data(4, 9 << 20),
            content_type: Some("application/octet-stream"),
            headers: true,
            user: &[("big", "yes")],
            tags: &[("size", "9MiB")],
        },
    ]
}

fn restore_spec(flavour: Flavour, target_bucket: &str) -> RestoreSpec {
    let mut spec = RestoreSpec::new(flavour, job_id());
    match flavour {
        Flavour::Bareos => spec.plugin_options = vec![format!("s3:bucket={target_bucket}")],
        // Bacula has no restore-time Plugin Options: the documented Where form.
        Flavour::Bacula => spec.where_ = format!("s3:bucket={target_bucket}"),
    }
    spec
}

/// Restore into S3 without versions, end to end: mixed objects with metadata and tags, backed
/// up and restored into an empty bucket, compare equal object by object.
/// `multipart`: also objects that go through multipart upload (moto's CompleteMultipartUpload
/// answer is not one the SDK reads).
fn bucket_round_trip(server: &'static S3Server, flavour: Flavour, checksum: bool, multipart: bool) {
    let fx = BucketFixture::new(server, "meta-src");
    let client = server.client();
    let mut samples = samples();
    if !multipart {
        samples.retain(|s| s.data.len() < 5 << 20);
    }
    for s in &samples {
        put_sample(&client, &fx.bucket, s, checksum);
    }
    let mut objects = samples.len();
    if multipart {
        let big = data(9, 23 << 20);
        put_multipart(&client, &fx.bucket, "video/clip.mp4", &big, 5 << 20);
        objects += 1;
    }

    // part_size 4 MiB (restored in parts of 5 MiB, S3's minimum): the 9 MiB and 23 MiB
    // objects go through multipart restore.
    let cmd = fx.command(":part_size=4M");
    let backup = harness::backup(&JobSpec::new(flavour, job_id(), 'F', 0, &cmd), None);
    assert_ok(&backup);
    assert_eq!(
        backup
            .files
            .iter()
            .filter(|f| f.ftype == ft::FT_REG)
            .count(),
        objects
    );
    // The metadata travelled as the file's attributes.
    let report = backup
        .files
        .iter()
        .find(|f| f.name_lossy().ends_with("docs/report.pdf"))
        .unwrap();
    let names: Vec<String> = report
        .xattrs
        .iter()
        .map(|x| String::from_utf8_lossy(&x.name).into_owned())
        .collect();
    for wanted in ["s3.content-type", "s3.meta.owner", "s3.tags", "s3.etag"] {
        assert!(
            names.iter().any(|n| n == wanted),
            "{wanted} not in {names:?}"
        );
    }
    if checksum {
        assert!(
            names.iter().any(|n| n == "s3.checksum-crc32"),
            "no checksum recorded: {names:?}"
        );
    }

    let target = server.unique_bucket("meta-dst");
    let files: Vec<_> = backup.files.iter().collect();
    let restored = harness::restore(&restore_spec(flavour, &target), &files);
    assert_ok(&restored);
    assert_eq!(restored.restored as usize, objects);

    let mut want = list(&client, &fx.bucket);
    let mut got = list(&client, &target);
    want.sort();
    got.sort();
    assert_eq!(got, want, "restored keys");
    for key in &want {
        let mut a = describe(&client, &fx.bucket, key);
        let mut b = describe(&client, &target, key);
        if checksum {
            // The server checked the recorded CRC32 on upload and keeps it.
            let file = backup
                .files
                .iter()
                // These keys need no escaping: the name is /bucket/key.
                .find(|f| f.name == format!("/{}/{key}", fx.bucket).into_bytes())
                .unwrap();
            let recorded = file
                .xattrs
                .iter()
                .find(|x| x.name == b"s3.checksum-crc32")
                .map(|x| String::from_utf8(x.value.clone()).unwrap());
            assert!(recorded.is_some(), "no CRC32 recorded for {key:?}");
            // The restore sent it with the PUT (the server refuses data that does not match);
            // moto reports stored checksums on GET only now and then, so only compare when it does.
            if b.checksum_crc32.is_some() {
                assert_eq!(b.checksum_crc32, recorded, "checksum of {key:?}");
            }
            a.checksum_crc32 = None;
            b.checksum_crc32 = None;
        }
        assert_eq!(b, a, "object {key:?} differs after the restore");
    }
    assert_eq!(open_uploads(&client, &target), 0, "orphan uploads");
    let summary = restored.messages_of(msg::M_INFO).join("\n");
    assert!(
        summary.contains(&format!("{objects} objects restored")),
        "{summary}"
    );
}

#[test]
fn ceph_bareos_bucket_with_metadata_and_tags_restored_into_an_empty_bucket() {
    bucket_round_trip(servers::ceph(), Flavour::Bareos, false, true);
}

#[test]
fn ceph_bacula_bucket_with_metadata_and_tags_restored_into_an_empty_bucket() {
    bucket_round_trip(servers::ceph(), Flavour::Bacula, false, true);
}

#[test]
fn moto_bareos_checksums_are_recorded_and_restored() {
    bucket_round_trip(servers::moto(), Flavour::Bareos, true, false);
}

/// Back into the original bucket (empty Where), honouring replace against the object there.
#[test]
fn replace_modes_against_the_target_object() {
    let server = servers::ceph();
    let fx = BucketFixture::new(server, "replace");
    server.put(&fx.bucket, "k", b"backed-up".to_vec());
    let backup = harness::backup(
        &JobSpec::new(Flavour::Bareos, job_id(), 'F', 0, &fx.command("")),
        None,
    );
    assert_ok(&backup);
    let files: Vec<_> = backup.files.iter().collect();
    // Overwrite it later: the bucket's copy is newer than the backup's.
    std::thread::sleep(std::time::Duration::from_millis(1100));
    server.put(&fx.bucket, "k", b"newer".to_vec());
    let run = |replace: char| {
        let mut spec = RestoreSpec::new(Flavour::Bareos, job_id());
        spec.replace = replace;
        let r = harness::restore(&spec, &files);
        assert_ok(&r);
        (r.restored, r.skipped, server.get(&fx.bucket, "k"))
    };
    assert_eq!(run('n'), (0, 1, b"newer".to_vec()), "never");
    assert_eq!(run('w'), (0, 1, b"newer".to_vec()), "ifnewer, backup older");
    assert_eq!(
        run('o'),
        (1, 0, b"backed-up".to_vec()),
        "ifolder, backup older"
    );
    assert_eq!(run('a'), (1, 0, b"backed-up".to_vec()), "always");
    // Deleted: every mode restores it.
    server.delete(&fx.bucket, "k");
    assert_eq!(
        run('n'),
        (1, 0, b"backed-up".to_vec()),
        "never, object gone"
    );
}

/// Data that does not match the recorded ETag is never stored, and no upload is left.
#[test]
fn data_that_does_not_verify_is_not_stored() {
    let server = servers::ceph();
    let fx = BucketFixture::new(server, "verify");
    let client = server.client();
    server.put(&fx.bucket, "small", data(5, 1000));
    server.put(&fx.bucket, "large", data(6, 11 << 20));
    let backup = harness::backup(
        &JobSpec::new(
            Flavour::Bareos,
            job_id(),
            'F',
            0,
            &fx.command(":part_size=4M"),
        ),
        None,
    );
    assert_ok(&backup);
    let mut files = backup.files.clone();
    for f in &mut files {
        // Same length, one byte different.
        let mut bytes = f.data();
        let i = bytes.len() / 2;
        bytes[i] ^= 0xff;
        f.data_ref = Some(Arc::new(DataRef::from_bytes(bytes)));
    }
    let target = server.unique_bucket("verify-dst");
    let refs: Vec<_> = files.iter().collect();
    let r = harness::restore(&restore_spec(Flavour::Bareos, &target), &refs);
    assert!(
        r.protocol_violations.is_empty(),
        "{:?}",
        r.protocol_violations
    );
    assert_eq!(r.status, 'E', "{:#?}", r.messages);
    let errors = r.messages_of(msg::M_ERROR).join("\n");
    for key in ["small", "large"] {
        assert!(
            errors.contains(&format!("s3://{target}/{key}")) && errors.contains("not stored"),
            "no error naming {key}: {errors}"
        );
    }
    assert!(list(&client, &target).is_empty(), "nothing may be stored");
    assert_eq!(open_uploads(&client, &target), 0, "orphan uploads");
}

/// A restore to disk keeps the data plain and the metadata as user.s3.* attributes.
#[test]
fn local_restore_writes_metadata_as_user_xattrs() {
    let server = servers::ceph();
    let fx = BucketFixture::new(server, "local-meta");
    let client = server.client();
    let s = &samples()[0];
    put_sample(&client, &fx.bucket, s, false);
    let backup = harness::backup(
        &JobSpec::new(Flavour::Bareos, job_id(), 'F', 0, &fx.command("")),
        None,
    );
    assert_ok(&backup);
    let dir = fx.subdir("restore");
    let mut spec = RestoreSpec::new(Flavour::Bareos, job_id());
    spec.where_ = dir.display().to_string();
    let files: Vec<_> = backup.files.iter().collect();
    let r = harness::restore(&spec, &files);
    assert_ok(&r);
    let path = dir.join(&fx.bucket).join("docs/report.pdf");
    assert_eq!(std::fs::read(&path).unwrap(), s.data, "data stays plain");
    match read_xattr(&path, "user.s3.content-type") {
        Ok(v) => {
            assert_eq!(v, b"application/pdf");
            assert_eq!(read_xattr(&path, "user.s3.meta.owner").unwrap(), b"finance");
        }
        Err(e) if e.raw_os_error() == Some(libc::ENOTSUP) => {
            let info = r.messages_of(msg::M_INFO).join("\n");
            assert_eq!(
                info.matches("no user.* extended attributes").count(),
                1,
                "{info}"
            );
        }
        Err(e) => panic!("{e}"),
    }
}

fn read_xattr(path: &std::path::Path, name: &str) -> std::io::Result<Vec<u8>> {
    use std::os::unix::ffi::OsStrExt;
    let p = std::ffi::CString::new(path.as_os_str().as_bytes()).unwrap();
    let n = std::ffi::CString::new(name).unwrap();
    let mut buf = vec![0u8; 4096];
    // SAFETY: valid C strings and a buffer of the given length.
    let len = unsafe { libc::getxattr(p.as_ptr(), n.as_ptr(), buf.as_mut_ptr().cast(), buf.len()) };
    if len < 0 {
        return Err(std::io::Error::last_os_error());
    }
    buf.truncate(len as usize);
    Ok(buf)
}

/// A FileSet without XattrSupport: the data is saved and one warning says the metadata is not.
#[test]
fn bareos_fileset_without_xattr_support_warns_once() {
    let server = servers::ceph();
    let fx = BucketFixture::new(server, "no-xattr");
    fx.seed(vec![
        ("a".into(), b"1".to_vec()),
        ("b".into(), b"2".to_vec()),
    ]);
    let mut spec = JobSpec::new(Flavour::Bareos, job_id(), 'F', 0, &fx.command(""));
    spec.xattrs = false;
    let r = harness::backup(&spec, None);
    assert!(r.protocol_violations.is_empty());
    let warnings = r.messages_of(msg::M_WARNING).join("\n");
    assert_eq!(
        warnings.matches("XattrSupport = yes").count(),
        1,
        "{warnings}"
    );
    assert_eq!(r.files.iter().filter(|f| f.ftype == ft::FT_REG).count(), 2);
}

/// A 200 MiB+ object with metadata goes back by multipart upload, equal in data and metadata.
#[test]
fn ceph_large_object_restored_by_multipart_upload() {
    let server = servers::ceph();
    let fx = BucketFixture::new(server, "large");
    let client = server.client();
    let big = data(11, (200 << 20) + 12_345);
    put_multipart(&client, &fx.bucket, "big/archive.tar", &big, 16 << 20);
    drop(big);
    let backup = harness::backup(
        &JobSpec::new(Flavour::Bareos, job_id(), 'F', 0, &fx.command("")),
        None,
    );
    assert_ok(&backup);
    let target = server.unique_bucket("large-dst");
    let files: Vec<_> = backup.files.iter().collect();
    let r = harness::restore(&restore_spec(Flavour::Bareos, &target), &files);
    assert_ok(&r);
    assert_eq!(r.restored, 1);
    let a = describe(&client, &fx.bucket, "big/archive.tar");
    let b = describe(&client, &target, "big/archive.tar");
    assert_eq!(b, a);
    assert_eq!(open_uploads(&client, &target), 0, "orphan uploads");
}

fn versions_of(client: &Client, bucket: &str) -> Vec<(String, bool, Option<String>)> {
    let out = block_on(client.list_object_versions().bucket(bucket).send()).unwrap();
    let mut v: Vec<(String, bool, Option<String>)> = out
        .versions()
        .iter()
        .map(|v| {
            (
                v.key().unwrap().to_string(),
                false,
                v.e_tag().map(str::to_string),
            )
        })
        .chain(
            out.delete_markers()
                .iter()
                .map(|d| (d.key().unwrap().to_string(), true, None)),
        )
        .collect();
    v.sort();
    v
}

/// A versioned bucket with overwrites and deletes: versions=yes saves every version and delete
/// marker (names that sort by time), an Incremental picks up new versions, and a restore with
/// as_of rebuilds the bucket as it was at that moment; one chosen version of one key goes back
/// to its key.

#[test]
fn ceph_versioned_bucket_restored_to_a_point_in_time() {
    let server = servers::ceph();
    let fx = BucketFixture::new(server, "versions");
    let client = server.client();
    enable_versioning(&client, &fx.bucket);
    let tick = || std::thread::sleep(std::time::Duration::from_millis(1100));
    server.put(&fx.bucket, "a", b"a-1".to_vec());
    server.put(&fx.bucket, "b", b"b-1".to_vec());
    server.put(&fx.bucket, "gone", b"gone-1".to_vec());
    tick();
    server.put(&fx.bucket, "a", b"a-2".to_vec());
    tick();
    let moment = integration_tests::scenario::now();
    tick();
    // After the moment: a third version of a, b deleted, a new key.
    server.put(&fx.bucket, "a", b"a-3".to_vec());
    server.delete(&fx.bucket, "b");
    server.put(&fx.bucket, "c", b"c-1".to_vec());
    server.delete(&fx.bucket, "gone");

    let cmd = fx.command(":versions=yes");
    let full = harness::backup(&JobSpec::new(Flavour::Bareos, job_id(), 'F', 0, &cmd), None);
    assert_ok(&full);
    let names: Vec<String> = full.files.iter().map(|f| f.name_lossy()).collect();
    // a: 3 versions, b: 1 + marker, c: 1, gone: 1 + marker.
    assert_eq!(names.len(), 8, "{names:#?}");
    let a_names: Vec<&String> = names
        .iter()
        .filter(|n| n.starts_with(&format!("/{}/a@", fx.bucket)))
        .collect();
    assert_eq!(a_names.len(), 3);
    let mut sorted = a_names.clone();
    sorted.sort();
    assert_eq!(a_names, sorted, "versions of a key are saved oldest first");
    let data_of = |n: &str| {
        full.files
            .iter()
            .find(|f| f.name_lossy() == n)
            .unwrap()
            .data()
    };
    assert_eq!(data_of(a_names[0]), b"a-1");
    assert_eq!(data_of(a_names[2]), b"a-3");
    assert_eq!(
        names.iter().filter(|n| n.ends_with("~deleted")).count(),
        2,
        "{names:#?}"
    );

    // Incremental: one new version.
    tick();
    tick();
    let since = integration_tests::scenario::now();
    tick();
    server.put(&fx.bucket, "c", b"c-2".to_vec());
    let incr = harness::backup(
        &JobSpec::new(Flavour::Bareos, job_id(), 'I', since, &cmd),
        None,
    );
    assert_ok(&incr);
    let saved: Vec<&harness::SavedFile> = incr
        .files
        .iter()
        .filter(|f| f.ftype == ft::FT_REG)
        .collect();
    assert_eq!(
        saved.len(),
        1,
        "{:?}",
        incr.files
            .iter()
            .map(|f| f.name_lossy())
            .collect::<Vec<_>>()
    );
    assert_eq!(saved[0].data(), b"c-2");

    // Point in time: everything selected, as_of the moment → a-2, b-1, gone-1; no c.
    let target = server.unique_bucket("versions-pit");
    let mut spec = RestoreSpec::new(Flavour::Bareos, job_id());
    let as_of = integration_tests::scenario::utc(moment);
    spec.plugin_options = vec![format!("s3:bucket={target}:as_of={as_of}")];
    let mut all: Vec<&harness::SavedFile> = full.files.iter().collect();
    all.extend(incr.files.iter().filter(|f| f.ftype == ft::FT_REG));
    let r = harness::restore(&spec, &all);
    assert_ok(&r);
    let mut keys = list(&client, &target);
    keys.sort();
    assert_eq!(keys, vec!["a", "b", "gone"]);
    assert_eq!(server.get(&target, "a"), b"a-2");
    assert_eq!(server.get(&target, "b"), b"b-1");
    assert_eq!(server.get(&target, "gone"), b"gone-1");

    // Everything, no as_of, into a versioned bucket: the history replays, the current state is
    // today's (a-3, c-2; b and gone deleted).
    let target = server.unique_bucket("versions-all");
    enable_versioning(&client, &target);
    let r = harness::restore(&restore_spec(Flavour::Bareos, &target), &all);
    assert_ok(&r);
    let mut keys = list(&client, &target);
    keys.sort();
    assert_eq!(keys, vec!["a", "c"]);
    assert_eq!(server.get(&target, "a"), b"a-3");
    assert_eq!(server.get(&target, "c"), b"c-2");
    let history = versions_of(&client, &target);
    let count = |k: &str, marker: bool| {
        history
            .iter()
            .filter(|(key, m, _)| key == k && *m == marker)
            .count()
    };
    assert_eq!(
        (count("a", false), count("b", false), count("b", true)),
        (3, 1, 1)
    );
    assert_eq!(
        (count("c", false), count("gone", false), count("gone", true)),
        (2, 1, 1)
    );

    // One chosen version of one key: a's first, back to key a.
    let target = server.unique_bucket("versions-one");
    let first_a = full
        .files
        .iter()
        .find(|f| f.name_lossy() == *a_names[0])
        .unwrap();
    let r = harness::restore(&restore_spec(Flavour::Bareos, &target), &[first_a]);
    assert_ok(&r);
    assert_eq!(list(&client, &target), vec!["a"]);
    assert_eq!(server.get(&target, "a"), b"a-1");
}
