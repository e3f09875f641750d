//! Least privilege (docs/permissions.md) on Ceph RGW: the policies of that page, read from it
//! and set as bucket policies for users of their own, are enough for the jobs they are for
//! (every object saved or restored, byte for byte) and no more (the backup credential is
//! refused every write); and each of their permissions is needed: with it taken away by an
//! explicit Deny, the job fails.

use std::collections::BTreeMap;
use std::path::PathBuf;

use aws_sdk_s3::error::ProvideErrorMetadata;
use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::Client;
use integration_tests::harness::{
    self, ft, msg, DataRef, Flavour, JobReport, JobSpec, RestoreSpec, SavedFile,
};
use integration_tests::scenario::{data, expected_name, job_id, BucketFixture};
use integration_tests::servers::{self, block_on, enable_versioning, S3Server};

/// The user the backups run as; it owns nothing.
const BACKUP_USER: &str = "s3test-backup";
/// The user the restores into S3 run as; it owns nothing either.
const RESTORE_USER: &str = "s3test-restore";

/// The JSON policy `name` of docs/permissions.md (the block after `<!-- policy: name -->`).
fn documented_policy(name: &str) -> String {
    let path = servers::workspace_root()
        .join("docs")
        .join("permissions.md");
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("reading {}: {e}", path.display()));
    let marker = format!("<!-- policy: {name} -->");
    let at = text
        .find(&marker)
        .unwrap_or_else(|| panic!("no {marker} in {}", path.display()));
    let rest = &text[at..];
    let open = rest
        .find("```json\n")
        .expect("a json block after the marker")
        + 8;
    let close = rest[open..].find("```").expect("the end of the json block");
    rest[open..open + close].to_string()
}

/// The actions a documented policy grants, in order.
fn documented_actions(name: &str) -> Vec<String> {
    let policy = documented_policy(name);
    policy
        .split('"')
        .filter(|s| s.starts_with("s3:"))
        .map(str::to_string)
        .collect()
}

fn principal(uid: &str) -> String {
    format!(
        "\"Principal\": {{\"AWS\": [\"{}\"]}}, ",
        servers::ceph_user_arn(uid)
    )
}

/// The documented policy `name` as the bucket policy of `bucket` for user `uid`, with the
/// actions `taken` denied (so: the policy without them), and reads granted to `readers`.
fn bucket_policy(name: &str, bucket: &str, uid: &str, taken: &[&str], readers: &[&str]) -> String {
    let mut policy = documented_policy(name).replace("example-bucket", bucket);
    let allow = "\"Effect\": \"Allow\",";
    assert!(policy.matches(allow).count() >= 2, "{policy}");
    policy = policy.replace(allow, &format!("{allow} {}", principal(uid)));
    let resources = format!("[\"arn:aws:s3:::{bucket}\", \"arn:aws:s3:::{bucket}/*\"]");
    let quoted = |actions: &[&str]| {
        actions
            .iter()
            .map(|a| format!("\"{a}\""))
            .collect::<Vec<_>>()
            .join(", ")
    };
    let mut extra = String::new();
    if !taken.is_empty() {
        extra.push_str(&format!(
            "{{\"Sid\": \"TakenAway\", \"Effect\": \"Deny\", {}\"Action\": [{}], \
             \"Resource\": {resources}}},\n",
            principal(uid),
            quoted(taken)
        ));
    }
    for reader in readers {
        extra.push_str(&format!(
            "{{\"Effect\": \"Allow\", {}\"Action\": [{}], \"Resource\": {resources}}},\n",
            principal(reader),
            quoted(&[
                "s3:ListBucket",
                "s3:ListBucketVersions",
                "s3:GetObject",
                "s3:GetObjectVersion",
                "s3:GetObjectTagging",
                "s3:GetObjectVersionTagging"
            ])
        ));
    }
    let statement = "\"Statement\": [";
    assert!(policy.contains(statement), "{policy}");
    policy.replacen(statement, &format!("{statement}\n{extra}"), 1)
}

/// A credentials file for `user` under `dir`, profile `profile`.
fn credentials_of(user: &S3Server, dir: PathBuf, profile: &str) -> PathBuf {
    user.write_credentials_file(&dir, profile)
}

/// The plugin string for `fx`'s bucket with `user`'s credentials.
fn command_as(fx: &BucketFixture, user: &S3Server, extra: &str) -> String {
    let creds = credentials_of(user, fx.subdir("backup-credentials"), "backup");
    format!(
        "s3:bucket={}:endpoint={}:region={}:credentials_file={}:profile=backup{extra}",
        fx.bucket,
        fx.server.endpoint,
        fx.server.region,
        creds.display()
    )
}

fn assert_ok(report: &JobReport) {
    assert!(
        report.protocol_violations.is_empty(),
        "protocol violations: {:?}",
        report.protocol_violations
    );
    assert_eq!(
        report.status, 'T',
        "job status {} (errors {}), messages: {:#?}",
        report.status, report.job_errors, report.messages
    );
}

/// The job failed, saying that access was denied (a HEAD's 403 has no error code).
fn assert_denied(report: &JobReport, what: &str) {
    assert!(
        report.protocol_violations.is_empty(),
        "{what}: protocol violations: {:?}",
        report.protocol_violations
    );
    assert_ne!(
        report.status, 'T',
        "{what}: the job succeeded, so the permission is not needed; messages: {:#?}",
        report.messages
    );
    let errors: Vec<&str> = report
        .messages
        .iter()
        .filter(|(t, _)| [msg::M_ERROR, msg::M_FATAL].contains(t))
        .map(|(_, m)| m.as_str())
        .collect();
    assert!(
        errors
            .iter()
            .any(|m| m.contains("denied") && m.contains("HTTP 403")),
        "{what}: no error says access was denied: {errors:#?}"
    );
}

fn tagging(tags: &[(&str, &str)]) -> String {
    tags.iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join("&")
}

/// PutObject with a content type, user metadata and tags.
fn put_described(client: &Client, bucket: &str, key: &str, bytes: &[u8], tags: &[(&str, &str)]) {
    let mut r = client
        .put_object()
        .bucket(bucket)
        .key(key)
        .body(ByteStream::from(bytes.to_vec()))
        .content_type("application/x-test")
        .metadata("origin", "least-privilege");
    if !tags.is_empty() {
        r = r.tagging(tagging(tags));
    }
    block_on(r.send()).unwrap_or_else(|e| panic!("PUT {bucket}/{key}: {e:?}"));
}

/// What a restore must bring back of an object: data, content type, user metadata, tags.
#[derive(Debug, PartialEq, Eq)]
struct Described {
    data: Vec<u8>,
    content_type: Option<String>,
    user: BTreeMap<String, String>,
    tags: BTreeMap<String, String>,
}

fn describe(client: &Client, bucket: &str, key: &str) -> Described {
    let out = block_on(client.get_object().bucket(bucket).key(key).send())
        .unwrap_or_else(|e| panic!("GET {bucket}/{key}: {e:?}"));
    let content_type = out.content_type().map(str::to_string);
    let user = out
        .metadata()
        .map(|m| m.iter().map(|(k, v)| (k.clone(), v.clone())).collect())
        .unwrap_or_default();
    let data = block_on(out.body.collect()).unwrap().into_bytes().to_vec();
    let tags = block_on(client.get_object_tagging().bucket(bucket).key(key).send())
        .unwrap_or_else(|e| panic!("GET {bucket}/{key}?tagging: {e:?}"))
        .tag_set()
        .iter()
        .map(|t| (t.key().to_string(), t.value().to_string()))
        .collect();
    Described {
        data,
        content_type,
        user,
        tags,
    }
}

fn error_code<E: ProvideErrorMetadata>(r: Result<impl Sized, E>) -> String {
    match r {
        Ok(_) => "succeeded".to_string(),
        Err(e) => e.code().unwrap_or("no code").to_string(),
    }
}

/// Objects of a source bucket: small ones (one with tags), an empty one, and one above the
/// part size (read in ranges: HEAD, then GETs; restored by multipart upload and a copy).
fn seed(server: &S3Server, bucket: &str) -> Vec<(String, Vec<u8>)> {
    let client = server.client();
    let objects = vec![
        ("plain/one.bin".to_string(), data(1, 10_000)),
        ("plain/two.bin".to_string(), data(2, 1)),
        ("empty".to_string(), Vec::new()),
        ("tagged/report.pdf".to_string(), data(3, 70_000)),
        ("big/nine-mib.bin".to_string(), data(4, 9 << 20)),
    ];
    for (key, bytes) in &objects {
        let tags: &[(&str, &str)] = match key.as_str() {
            "tagged/report.pdf" => &[("class", "confidential"), ("year", "2024")],
            "big/nine-mib.bin" => &[("size", "large")],
            _ => &[],
        };
        put_described(&client, bucket, key, bytes, tags);
    }
    objects
}

/// Every saved object, by name, with its exact bytes; tagged ones with their tags.
fn assert_saved_exactly(report: &JobReport, bucket: &str, objects: &[(String, Vec<u8>)]) {
    let saved: Vec<&SavedFile> = report
        .files
        .iter()
        .filter(|f| f.ftype == ft::FT_REG)
        .collect();
    assert_eq!(saved.len(), objects.len(), "objects saved");
    for (key, bytes) in objects {
        let name = expected_name(bucket, key);
        let file = report
            .file(&name)
            .unwrap_or_else(|| panic!("{key:?} not saved"));
        assert_eq!(file.size, bytes.len() as i64, "size of {key:?}");
        assert_eq!(file.data_len, bytes.len() as u64, "bytes read of {key:?}");
        assert!(file.data_matches(bytes), "data of {key:?} differs");
        let has_tags = file.xattrs.iter().any(|x| x.name == b"s3.tags");
        assert_eq!(
            has_tags,
            key.starts_with("tagged/") || key.starts_with("big/"),
            "tags of {key:?}"
        );
    }
}

/// The backup policy reads the whole bucket, data and tags, and allows no write; without any
/// of its permissions the backup fails.
#[test]
fn ceph_backup_policy_reads_everything_and_writes_nothing() {
    let server = servers::ceph();
    let user = servers::ceph_user(BACKUP_USER);
    let fx = BucketFixture::new(server, "lp-backup");
    let objects = seed(server, &fx.bucket);
    // part_size 4 MiB: the 9 MiB object is read in ranges, its headers by a HEAD.
    let cmd = command_as(&fx, &user, ":part_size=4M");
    let backup = || harness::backup(&JobSpec::new(Flavour::Bareos, job_id(), 'F', 0, &cmd), None);

    // The user has no access of its own: refused, and the message says whose credentials.
    let refused = backup();
    assert_eq!(refused.status, 'f', "{:#?}", refused.messages);
    let fatal = refused.messages_of(msg::M_FATAL).join("\n");
    let creds = fx.dir.join("backup-credentials").join("credentials");
    for part in [
        format!("access to bucket '{}'", fx.bucket),
        format!("credentials_file {} (profile backup)", creds.display()),
        "AccessDenied".to_string(),
    ] {
        assert!(fatal.contains(&part), "{part:?} not in {fatal}");
    }
    assert!(
        !fatal.contains(&user.secret_key),
        "the secret is in a message"
    );

    // The backup policy: everything saved, byte for byte, tags included.
    server.put_bucket_policy(
        &fx.bucket,
        &bucket_policy("backup", &fx.bucket, BACKUP_USER, &[], &[]),
    );
    let full = backup();
    assert_ok(&full);
    assert_saved_exactly(&full, &fx.bucket, &objects);

    // Each permission is needed (s3:GetObjectVersionTagging in a versioned bucket: see
    // ceph_versioned_backup_policy_reads_every_version).
    let actions = documented_actions("backup");
    assert_eq!(
        actions,
        [
            "s3:ListBucket",
            "s3:GetObject",
            "s3:GetObjectTagging",
            "s3:GetObjectVersionTagging"
        ]
    );
    for action in &actions[..3] {
        server.put_bucket_policy(
            &fx.bucket,
            &bucket_policy("backup", &fx.bucket, BACKUP_USER, &[action], &[]),
        );
        assert_denied(&backup(), &format!("backup without {action}"));
    }
    server.put_bucket_policy(
        &fx.bucket,
        &bucket_policy("backup", &fx.bucket, BACKUP_USER, &[], &[]),
    );

    // Nothing more: a restore into the bucket is refused object by object, and leaves the
    // bucket as it was (the object the owner deleted stays deleted).
    server.delete(&fx.bucket, "plain/one.bin");
    let before = server.list_keys(&fx.bucket);
    let files: Vec<&SavedFile> = full.files.iter().collect();
    let restore = harness::restore(&RestoreSpec::new(Flavour::Bareos, job_id()), &files);
    assert!(restore.protocol_violations.is_empty());
    assert_eq!(restore.status, 'E', "{:#?}", restore.messages);
    let errors = restore.messages_of(msg::M_ERROR).join("\n");
    for (key, _) in &objects {
        let uri = format!("s3://{}/{key}", fx.bucket);
        assert!(
            errors
                .lines()
                .any(|l| l.contains(&uri) && l.contains("access denied")),
            "no error refusing {uri}: {errors}"
        );
    }
    assert_eq!(server.list_keys(&fx.bucket), before, "the bucket changed");
    assert_eq!(
        server.get(&fx.bucket, "plain/two.bin"),
        objects[1].1,
        "an object changed"
    );

    // Nor any other write or listing of versions, sent directly.
    let client = user.client();
    let b = &fx.bucket;
    let put = block_on(
        client
            .put_object()
            .bucket(b)
            .key("intruder")
            .body(ByteStream::from_static(b"x"))
            .send(),
    );
    assert_eq!(error_code(put), "AccessDenied", "PUT");
    let delete = block_on(client.delete_object().bucket(b).key("empty").send());
    assert_eq!(error_code(delete), "AccessDenied", "DELETE");
    let tags = block_on(
        client
            .delete_object_tagging()
            .bucket(b)
            .key("tagged/report.pdf")
            .send(),
    );
    assert_eq!(error_code(tags), "AccessDenied", "DELETE ?tagging");
    let versions = block_on(client.list_object_versions().bucket(b).send());
    assert_eq!(error_code(versions), "AccessDenied", "ListObjectVersions");
    let policy = block_on(client.delete_bucket_policy().bucket(b).send());
    assert_eq!(error_code(policy), "AccessDenied", "DeleteBucketPolicy");
    assert_eq!(server.list_keys(&fx.bucket), before, "the bucket changed");
}

/// A restore into S3 as `RESTORE_USER` (its own credentials, given as restore-time plugin
/// options) into `target`; `replace` other than always (`'a'`) HEADs each target object.
fn restore_as(fx: &BucketFixture, target: &str, replace: char, files: &[&SavedFile]) -> JobReport {
    let user = servers::ceph_user(RESTORE_USER);
    let creds = credentials_of(&user, fx.subdir("restore-credentials"), "restore");
    let mut spec = RestoreSpec::new(Flavour::Bareos, job_id());
    spec.replace = replace;
    spec.plugin_options = vec![format!(
        "s3:bucket={target}:credentials_file={}:profile=restore",
        creds.display()
    )];
    harness::restore(&spec, files)
}

fn open_uploads(client: &Client, bucket: &str) -> usize {
    block_on(client.list_multipart_uploads().bucket(bucket).send())
        .unwrap()
        .uploads()
        .len()
}

/// The restore policy writes every object back with its metadata and tags, and aborts what it
/// cannot finish; without any of its permissions used there, the restore fails.
#[test]
fn ceph_restore_policy_restores_into_its_bucket() {
    let server = servers::ceph();
    let backup_user = servers::ceph_user(BACKUP_USER);
    let fx = BucketFixture::new(server, "lp-restore-src");
    let objects = seed(server, &fx.bucket);
    server.put_bucket_policy(
        &fx.bucket,
        &bucket_policy("backup", &fx.bucket, BACKUP_USER, &[], &[]),
    );
    let cmd = command_as(&fx, &backup_user, ":part_size=4M");
    let full = harness::backup(&JobSpec::new(Flavour::Bareos, job_id(), 'F', 0, &cmd), None);
    assert_ok(&full);
    let files: Vec<&SavedFile> = full.files.iter().collect();
    let owner = server.client();
    let restorer = servers::ceph_user(RESTORE_USER).client();

    let target = server.unique_bucket("lp-restore-dst");
    server.put_bucket_policy(
        &target,
        &bucket_policy("restore", &target, RESTORE_USER, &[], &[]),
    );
    let restored = restore_as(&fx, &target, 'w', &files);
    assert_ok(&restored);
    assert_eq!(restored.restored as usize, objects.len());
    let mut keys = server.list_keys(&target);
    keys.sort();
    let mut want: Vec<String> = objects.iter().map(|(k, _)| k.clone()).collect();
    want.sort();
    assert_eq!(keys, want);
    // The restored objects belong to the restoring user; its policy lets it read them but not
    // their tags: the owner may, once a policy of its bucket says so.
    let owner_get = block_on(owner.get_object().bucket(&target).key("empty").send());
    assert_eq!(error_code(owner_get), "AccessDenied", "the owner's GET");
    server.put_bucket_policy(
        &target,
        &bucket_policy("restore", &target, RESTORE_USER, &[], &["s3test"]),
    );
    for (key, bytes) in &objects {
        let a = describe(&owner, &fx.bucket, key);
        let b = describe(&owner, &target, key);
        assert_eq!(&b.data, bytes, "data of {key:?}");
        assert_eq!(b, a, "{key:?} differs after the restore");
    }
    let restorer_get = block_on(restorer.get_object().bucket(&target).key("empty").send());
    assert_eq!(error_code(restorer_get), "succeeded");
    assert_eq!(open_uploads(&owner, &target), 0, "orphan uploads");

    // Each permission used here is needed. The version actions and s3:DeleteObject: see
    // ceph_versioned_backup_policy_reads_every_version.
    let actions = documented_actions("restore");
    assert_eq!(
        actions,
        [
            "s3:ListBucket",
            "s3:GetObject",
            "s3:GetObjectVersion",
            "s3:PutObject",
            "s3:PutObjectTagging",
            "s3:PutObjectVersionTagging",
            "s3:AbortMultipartUpload",
            "s3:DeleteObject",
            "s3:DeleteObjectVersion"
        ]
    );
    for action in [
        "s3:ListBucket",
        "s3:GetObject",
        "s3:PutObject",
        "s3:PutObjectTagging",
    ] {
        let target = server.unique_bucket("lp-restore-less");
        server.put_bucket_policy(
            &target,
            &bucket_policy("restore", &target, RESTORE_USER, &[action], &[]),
        );
        assert_denied(
            &restore_as(&fx, &target, 'w', &files),
            &format!("restore without {action}"),
        );
    }

    // Data that does not verify: the upload is aborted, no part stays behind; without
    // s3:AbortMultipartUpload, it would.
    let mut corrupt = full.files.clone();
    for f in &mut corrupt {
        let mut bytes = f.data();
        if bytes.len() > 1 << 20 {
            let i = bytes.len() / 2;
            bytes[i] ^= 0xff;
        }
        f.data_ref = Some(std::sync::Arc::new(DataRef::from_bytes(bytes)));
    }
    let corrupt: Vec<&SavedFile> = corrupt
        .iter()
        .filter(|f| f.name_lossy().contains("big/"))
        .collect();
    assert_eq!(corrupt.len(), 1);
    for (taken, left) in [(&[][..], 0), (&["s3:AbortMultipartUpload"][..], 1)] {
        let target = server.unique_bucket("lp-restore-abort");
        server.put_bucket_policy(
            &target,
            &bucket_policy("restore", &target, RESTORE_USER, taken, &[]),
        );
        let r = restore_as(&fx, &target, 'w', &corrupt);
        assert_eq!(r.status, 'E', "{:#?}", r.messages);
        assert!(
            server.list_keys(&target).is_empty(),
            "nothing may be stored"
        );
        assert_eq!(
            open_uploads(&owner, &target),
            left,
            "open uploads without {taken:?}"
        );
    }
}

/// (key, delete marker?) of every version of the bucket, sorted.
fn versions_of(client: &Client, bucket: &str) -> Vec<(String, bool)> {
    let out = block_on(client.list_object_versions().bucket(bucket).send()).unwrap();
    let mut v: Vec<(String, bool)> = out
        .versions()
        .iter()
        .map(|v| (v.key().unwrap().to_string(), false))
        .chain(
            out.delete_markers()
                .iter()
                .map(|d| (d.key().unwrap().to_string(), true)),
        )
        .collect();
    v.sort();
    v
}

/// A versioned bucket: the versioned-backup policy saves every version (and nothing of it can
/// go); the backup policy still backs up its current objects; the restore policy replays the
/// history into a versioned bucket. Each permission they use here is needed.
#[test]
fn ceph_versioned_backup_policy_reads_every_version() {
    let server = servers::ceph();
    let backup_user = servers::ceph_user(BACKUP_USER);
    let fx = BucketFixture::new(server, "lp-versions");
    let owner = server.client();
    enable_versioning(&owner, &fx.bucket);
    put_described(&owner, &fx.bucket, "a", b"a-1", &[]);
    put_described(&owner, &fx.bucket, "a", b"a-2", &[("round", "two")]);
    put_described(&owner, &fx.bucket, "b", b"b-1", &[]);
    server.delete(&fx.bucket, "b");
    let big = data(5, 9 << 20);
    put_described(&owner, &fx.bucket, "big", &big, &[("size", "large")]);

    // versions=yes under the versioned-backup policy: 2 versions of a, b and its delete
    // marker, big; every version's bytes.
    let versioned = bucket_policy("versioned-backup", &fx.bucket, BACKUP_USER, &[], &[]);
    server.put_bucket_policy(&fx.bucket, &versioned);
    let cmd = command_as(&fx, &backup_user, ":versions=yes:part_size=4M");
    let backup = || harness::backup(&JobSpec::new(Flavour::Bareos, job_id(), 'F', 0, &cmd), None);
    let full = backup();
    assert_ok(&full);
    let names: Vec<String> = full.files.iter().map(|f| f.name_lossy()).collect();
    assert_eq!(names.len(), 5, "{names:#?}");
    let data_of = |prefix: &str| -> Vec<Vec<u8>> {
        full.files
            .iter()
            .filter(|f| {
                f.name_lossy()
                    .starts_with(&format!("/{}/{prefix}@", fx.bucket))
            })
            .filter(|f| f.ftype == ft::FT_REG && !f.name_lossy().ends_with("~deleted"))
            .map(SavedFile::data)
            .collect()
    };
    assert_eq!(data_of("a"), vec![b"a-1".to_vec(), b"a-2".to_vec()]);
    assert_eq!(data_of("b"), vec![b"b-1".to_vec()]);
    assert_eq!(data_of("big"), vec![big.clone()]);
    assert_eq!(names.iter().filter(|n| n.ends_with("~deleted")).count(), 1);

    let actions = documented_actions("versioned-backup");
    assert_eq!(
        actions,
        [
            "s3:ListBucketVersions",
            "s3:GetObjectVersion",
            "s3:GetObjectVersionTagging"
        ]
    );
    for action in &actions {
        server.put_bucket_policy(
            &fx.bucket,
            &bucket_policy("versioned-backup", &fx.bucket, BACKUP_USER, &[action], &[]),
        );
        assert_denied(&backup(), &format!("versioned backup without {action}"));
    }

    // The backup policy (versions=no) in this bucket: the current objects; their tags are
    // read of the version the GET returned.
    let plain_cmd = command_as(&fx, &backup_user, ":part_size=4M");
    let plain = |taken: &[&str]| {
        server.put_bucket_policy(
            &fx.bucket,
            &bucket_policy("backup", &fx.bucket, BACKUP_USER, taken, &[]),
        );
        harness::backup(
            &JobSpec::new(Flavour::Bareos, job_id(), 'F', 0, &plain_cmd),
            None,
        )
    };
    let current = plain(&[]);
    assert_ok(&current);
    let saved: Vec<(String, Vec<u8>)> = current
        .files
        .iter()
        .filter(|f| f.ftype == ft::FT_REG)
        .map(|f| (f.name_lossy(), f.data()))
        .collect();
    assert_eq!(
        saved,
        vec![
            (format!("/{}/a", fx.bucket), b"a-2".to_vec()),
            (format!("/{}/big", fx.bucket), big.clone()),
        ]
    );
    assert_denied(
        &plain(&["s3:GetObjectVersionTagging"]),
        "backup of a versioned bucket without s3:GetObjectVersionTagging",
    );

    // The history replayed into a versioned bucket by the restore policy: a's two versions, b
    // and its deletion, big with its headers (set by a copy of the uploaded version, which is
    // deleted afterwards) and tags.
    let files: Vec<&SavedFile> = full.files.iter().collect();
    let replay = |taken: &[&str]| {
        let target = server.unique_bucket("lp-versions-dst");
        enable_versioning(&owner, &target);
        server.put_bucket_policy(
            &target,
            &bucket_policy("restore", &target, RESTORE_USER, taken, &["s3test"]),
        );
        // Replace always: a key's versions follow one another.
        (restore_as(&fx, &target, 'a', &files), target)
    };
    let (r, target) = replay(&[]);
    assert_ok(&r);
    let mut keys = server.list_keys(&target);
    keys.sort();
    assert_eq!(keys, vec!["a", "big"]);
    let mut history = versions_of(&owner, &target);
    // The headerless version the metadata copy replaced is deleted: Ceph 16 gives no version
    // id in a CopyObject answer, so the plugin asks a HEAD for the copy's.
    let big_versions = history.iter().filter(|(k, _)| k == "big").count();
    assert_eq!(big_versions, 1, "{history:?}");
    history.retain(|(k, _)| k != "big");
    assert_eq!(
        history,
        vec![
            ("a".to_string(), false),
            ("a".to_string(), false),
            ("b".to_string(), false),
            ("b".to_string(), true),
        ]
    );
    assert_eq!(
        describe(&owner, &target, "big"),
        describe(&owner, &fx.bucket, "big")
    );
    assert_eq!(
        describe(&owner, &target, "a"),
        describe(&owner, &fx.bucket, "a")
    );
    for action in [
        "s3:GetObjectVersion",
        "s3:DeleteObject",
        "s3:DeleteObjectVersion",
        "s3:PutObjectVersionTagging",
    ] {
        let (r, _) = replay(&[action]);
        assert_denied(
            &r,
            &format!("restore into a versioned bucket without {action}"),
        );
    }
}

struct Run {
    code: i32,
    stdout: String,
    stderr: String,
}

fn dump_server(args: &[&str]) -> Run {
    let out = std::process::Command::new(harness::dump_server_bin())
        .args(args)
        .output()
        .expect("running dump-server");
    Run {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

/// The verdict (`OK`, `FAIL`, …) of check `name` in `dump-server check`'s report.
fn verdict(r: &Run, name: &str) -> String {
    r.stdout
        .lines()
        .find(|l| l.get(6..26).map(str::trim) == Some(name))
        .and_then(|l| l.split_whitespace().next())
        .unwrap_or_else(|| panic!("no check {name:?} in:\n{}", r.stdout))
        .to_string()
}

/// `dump-server check` and `census` work with the backup policy and say which permission is
/// missing without it.
#[test]
fn ceph_dump_server_works_with_the_backup_policy() {
    let server = servers::ceph();
    let user = servers::ceph_user(BACKUP_USER);
    let fx = BucketFixture::new(server, "lp-dump-server");
    fx.seed(vec![
        ("a/first".into(), data(1, 10)),
        ("b".into(), data(2, 20)),
    ]);
    let cmd = command_as(&fx, &user, "");
    let library = harness::plugin_so(Flavour::Bareos);
    let check = || {
        dump_server(&[
            "check",
            "--plugin",
            &cmd,
            "--plugin-library",
            library.to_str().unwrap(),
        ])
    };
    let census = || dump_server(&["census", "--plugin", &cmd, "-q"]);
    let with = |name: &str, taken: &[&str]| {
        server.put_bucket_policy(
            &fx.bucket,
            &bucket_policy(name, &fx.bucket, BACKUP_USER, taken, &[]),
        );
    };

    with("backup", &[]);
    let r = check();
    assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
    for name in ["credentials", "bucket listable", "GET one object"] {
        assert_eq!(verdict(&r, name), "OK", "{}", r.stdout);
    }
    let r = census();
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(
        r.stdout.lines().any(|l| l.starts_with("TOTAL")
            && l.split_whitespace().take(3).collect::<Vec<_>>() == ["TOTAL", "2", "30"]),
        "{}",
        r.stdout
    );

    // Without s3:GetObject: the listing works, the GET is refused.
    with("backup", &["s3:GetObject"]);
    let r = check();
    assert_eq!(r.code, 1, "{}", r.stdout);
    assert_eq!(verdict(&r, "bucket listable"), "OK", "{}", r.stdout);
    assert_eq!(verdict(&r, "GET one object"), "FAIL", "{}", r.stdout);

    // The versioned-backup policy alone does not list current objects.
    with("versioned-backup", &[]);
    let r = check();
    assert_eq!(r.code, 1, "{}", r.stdout);
    assert_eq!(verdict(&r, "bucket listable"), "FAIL", "{}", r.stdout);
    assert!(r.stdout.contains("denied"), "{}", r.stdout);
    let r = census();
    assert_ne!(r.code, 0, "{}", r.stdout);
    assert!(r.stderr.contains("denied"), "{}", r.stderr);
}
