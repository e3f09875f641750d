//! `dump-server plan`, `check` and `census` run as the operator runs them (the built binary)
//! against real S3 servers: planning thousands of keys into ~8 shards, re-planning after the
//! bucket grew (only the grown shards split), every shard's plugin string backed up through the
//! plugin's C ABI (the union is the bucket, each object once), pre-flight verdicts for good and
//! broken setups (never printing the secret), and census sums equal to what was seeded.
//!
//! `DUMP_SERVER_TEST_KEYS` (default 5000) sets the number of objects of the planning test;
//! `DUMP_SERVER_TEST_SERVER=ceph` plans on Ceph RGW instead of moto.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::time::Instant;

use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::StorageClass;
use integration_tests::dump_server_run::{run, Run};
use integration_tests::fault_proxy::{Fault, FaultProxy, Match, Rule};
use integration_tests::harness::{self, ft, plugin_so, Flavour, JobSpec};
use integration_tests::scenario::{data, job_id, BucketFixture};
use integration_tests::servers::{self, block_on, S3Server};

/// The daemons' lexer for a quoted configuration string: `\x` is `x`.
fn unquote(s: &str) -> String {
    let inner = s
        .strip_prefix('"')
        .and_then(|s| s.strip_suffix('"'))
        .expect("quoted");
    let mut out = String::new();
    let mut chars = inner.chars();
    while let Some(c) = chars.next() {
        out.push(if c == '\\' { chars.next().unwrap() } else { c });
    }
    out
}

/// `key=value` fields of a plugin string (`\:` and `\\` unescaped), independent of the plugin.
fn plugin_fields(s: &str) -> BTreeMap<String, String> {
    let mut fields = Vec::new();
    let mut cur = String::new();
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' => cur.push(chars.next().unwrap()),
            ':' => fields.push(std::mem::take(&mut cur)),
            c => cur.push(c),
        }
    }
    fields.push(cur);
    fields
        .into_iter()
        .filter_map(|f| {
            f.split_once('=')
                .map(|(k, v)| (k.to_string(), v.to_string()))
        })
        .collect()
}

/// One shard as the generated Bareos configuration says.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Shard {
    name: String,
    plugin: String,
    start_after: Option<String>,
    end_at: Option<String>,
    objects: u64,
    bytes: u64,
}

impl Shard {
    fn contains(&self, key: &str) -> bool {
        self.start_after.as_deref().is_none_or(|a| key > a)
            && self.end_at.as_deref().is_none_or(|b| key <= b)
    }
}

/// The shards of `out/bareos-dir.d`, in key order; checks each Job names its FileSet.
fn read_shards(out: &Path) -> Vec<Shard> {
    let mut shards = Vec::new();
    let dir = out.join("bareos-dir.d/fileset");
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        let text = std::fs::read_to_string(&path).unwrap();
        let name = path.file_stem().unwrap().to_str().unwrap().to_string();
        let line = text
            .lines()
            .find_map(|l| l.trim().strip_prefix("Plugin = "))
            .unwrap_or_else(|| panic!("no Plugin line in {}", path.display()));
        let plugin = unquote(line);
        let fields = plugin_fields(&plugin);
        let counts = text
            .lines()
            .find(|l| l.starts_with("# Keys after"))
            .unwrap();
        let nums: Vec<u64> = counts
            .rsplit("; ")
            .next()
            .unwrap()
            .split(' ')
            .filter_map(|w| w.parse().ok())
            .collect();
        assert!(text.contains(&format!("Name = \"{name}\"")), "{text}");
        let job =
            std::fs::read_to_string(out.join(format!("bareos-dir.d/job/{name}.conf"))).unwrap();
        assert!(job.contains(&format!("FileSet = \"{name}\"")), "{job}");
        assert!(job.contains("JobDefs = \"s3-shards\""), "{job}");
        shards.push(Shard {
            name,
            plugin,
            start_after: fields.get("start_after").cloned(),
            end_at: fields.get("end_at").cloned(),
            objects: nums[0],
            bytes: nums[1],
        });
    }
    shards.sort_by(|a, b| match (&a.end_at, &b.end_at) {
        (None, None) => std::cmp::Ordering::Equal,
        (None, _) => std::cmp::Ordering::Greater,
        (_, None) => std::cmp::Ordering::Less,
        (Some(x), Some(y)) => x.cmp(y),
    });
    shards
}

/// Every key is in exactly one shard, the ranges chain, and each shard's counts are right.
fn assert_cover(shards: &[Shard], objects: &BTreeMap<String, u64>) {
    assert!(shards[0].start_after.is_none() && shards.last().unwrap().end_at.is_none());
    for w in shards.windows(2) {
        assert_eq!(
            w[0].end_at, w[1].start_after,
            "{} → {}",
            w[0].name, w[1].name
        );
    }
    for key in objects.keys() {
        let n = shards.iter().filter(|s| s.contains(key)).count();
        assert_eq!(n, 1, "key {key:?} is in {n} shards");
    }
    for s in shards {
        let inside: Vec<u64> = objects
            .iter()
            .filter(|(k, _)| s.contains(k))
            .map(|(_, v)| *v)
            .collect();
        assert_eq!(s.objects, inside.len() as u64, "objects of {}", s.name);
        assert_eq!(s.bytes, inside.iter().sum::<u64>(), "bytes of {}", s.name);
    }
}

/// Full backups of every shard through the plugin (C ABI): the union is the bucket, once each.
fn assert_backups_cover(bucket: &str, shards: &[Shard], objects: &BTreeMap<String, u64>) {
    let mut seen: BTreeMap<String, usize> = BTreeMap::new();
    for s in shards {
        let spec = JobSpec::new(Flavour::Bareos, job_id(), 'F', 0, &s.plugin);
        let report = harness::backup(&spec, None);
        assert_eq!(report.status, 'T', "{}: {:?}", s.name, report.messages);
        let files: Vec<_> = report
            .files
            .iter()
            .filter(|f| f.ftype == ft::FT_REG)
            .collect();
        assert_eq!(files.len() as u64, s.objects, "files of {}", s.name);
        for f in files {
            *seen.entry(f.name_lossy()).or_default() += 1;
        }
    }
    let expected: BTreeSet<String> = objects.keys().map(|k| format!("/{bucket}/{k}")).collect();
    assert!(
        seen.values().all(|n| *n == 1),
        "an object was backed up twice"
    );
    assert_eq!(seen.keys().cloned().collect::<BTreeSet<_>>(), expected);
}

fn key(i: usize) -> String {
    let dir = format!("d{:02}", i % 7);
    match i % 101 {
        13 => format!("k{i:06}:colon\\back"),
        29 => format!("k{i:06} \"quoted\" é"),
        _ => format!("k{i:06}/{dir}/obj"),
    }
}

fn size_of(i: usize) -> usize {
    1 + (i * 7919) % 400
}

fn plan_server() -> &'static S3Server {
    match std::env::var("DUMP_SERVER_TEST_SERVER").as_deref() {
        Ok("ceph") => servers::ceph(),
        _ => servers::moto(),
    }
}

#[test]
fn plan_and_replan_thousands_of_keys_and_back_every_shard_up() {
    let n: usize = std::env::var("DUMP_SERVER_TEST_KEYS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(5000);
    let fx = BucketFixture::new(plan_server(), "plan");
    let started = Instant::now();
    let mut objects: BTreeMap<String, u64> = BTreeMap::new();
    let items: Vec<(String, Vec<u8>)> = (0..n)
        .map(|i| {
            objects.insert(key(i), size_of(i) as u64);
            (key(i), data(i as u64, size_of(i)))
        })
        .collect();
    fx.seed(items);
    eprintln!(
        "seeded {n} objects in {:.1} s",
        started.elapsed().as_secs_f64()
    );
    let total: u64 = objects.values().sum();
    let limit = total / 8 + 400;
    let out = fx.subdir("plan");
    let command = fx.command("");
    let limit_arg = limit.to_string();
    let out_arg = out.to_str().unwrap();
    let started = Instant::now();
    let r = run(&[
        "plan",
        "--plugin",
        &command,
        "--out",
        out_arg,
        "--max-job-size",
        &limit_arg,
        "--jobdefs",
        "s3-shards",
        "--pool",
        "S3",
        "--schedule",
        "Nightly",
    ]);
    eprintln!(
        "planned in {:.1} s\n{}{}",
        started.elapsed().as_secs_f64(),
        r.stdout,
        r.stderr
    );
    assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
    assert!(
        r.stdout.contains(&format!("{n} objects"))
            || r.stdout.contains(&format!("{} objects", group(n)))
    );
    let first = read_shards(&out);
    assert!((8..=9).contains(&first.len()), "{} shards", first.len());
    for s in &first {
        assert!(
            s.bytes <= limit,
            "{} holds {} bytes > {limit}",
            s.name,
            s.bytes
        );
    }
    assert_cover(&first, &objects);
    let plan_text = std::fs::read_to_string(out.join("plan.toml")).unwrap();
    assert!(
        plan_text.contains("[[shard]]") && plan_text.contains(&format!("max_job_size = {limit}"))
    );

    // The bucket grows inside shards 2 and 5 (by more than a limit each); re-planning splits
    // exactly those two and keeps every other shard, name and range.
    let grown = [1usize, 4];
    let mut added = Vec::new();
    for &g in &grown {
        let base = objects
            .keys()
            .find(|k| first[g].contains(k) && Some(*k) != first[g].end_at.as_ref())
            .unwrap()
            .clone();
        for j in 0..60 {
            let k = format!("{}-grow{j:03}", base.split('/').next().unwrap());
            let size = (limit / 40) as usize;
            objects.insert(k.clone(), size as u64);
            added.push((k, data(j, size)));
        }
    }
    fx.seed(added);
    let r = run(&["plan", "--out", out_arg, "--quiet"]);
    eprintln!("{}{}", r.stdout, r.stderr);
    assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
    assert!(r.stderr.is_empty(), "--quiet: {}", r.stderr);
    assert!(
        r.stdout.contains(&format!(
            "re-plan of {} shards: {} kept, 2 split",
            first.len(),
            first.len() - 2
        )),
        "{}",
        r.stdout
    );
    let second = read_shards(&out);
    assert_cover(&second, &objects);
    for (i, old) in first.iter().enumerate() {
        let now: Vec<&Shard> = second
            .iter()
            .filter(|s| {
                old.contains(s.end_at.as_deref().unwrap_or("\u{10ffff}")) || s.end_at == old.end_at
            })
            .collect();
        if grown.contains(&i) {
            assert!(now.len() >= 2, "{} was not split", old.name);
            assert!(
                now.iter().all(|s| s.name != old.name),
                "a split shard keeps no old name"
            );
            assert!(!out
                .join(format!("bareos-dir.d/job/{}.conf", old.name))
                .exists());
            for s in &now {
                assert!(
                    s.bytes <= limit,
                    "{} holds {} bytes > {limit}",
                    s.name,
                    s.bytes
                );
                assert!(r.stdout.contains(&format!("split from {}", old.name)));
            }
        } else {
            assert_eq!(now.len(), 1, "{} changed", old.name);
            assert_eq!(now[0].name, old.name);
            assert_eq!(
                (&now[0].start_after, &now[0].end_at),
                (&old.start_after, &old.end_at)
            );
        }
    }
    // Re-planning an unchanged bucket changes nothing.
    let r = run(&["plan", "--out", out_arg, "--quiet"]);
    assert_eq!(r.code, 0);
    assert!(
        r.stdout
            .contains(&format!("{} kept, 0 split", second.len())),
        "{}",
        r.stdout
    );
    assert_eq!(read_shards(&out), second);

    let started = Instant::now();
    assert_backups_cover(&fx.bucket, &second, &objects);
    eprintln!(
        "backed up {} shards in {:.1} s",
        second.len(),
        started.elapsed().as_secs_f64()
    );
}

fn group(n: usize) -> String {
    let s = n.to_string();
    let mut out = String::new();
    for (i, c) in s.chars().enumerate() {
        if i > 0 && (s.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

#[test]
fn plan_refuses_bad_usage_clearly() {
    let fx = BucketFixture::new(servers::moto(), "plan-usage");
    let out = fx.subdir("plan");
    let out_arg = out.to_str().unwrap();
    let r = run(&[
        "plan",
        "--plugin",
        &fx.command(":end_at=x"),
        "--out",
        out_arg,
        "--jobdefs",
        "j",
    ]);
    assert_eq!(r.code, 2);
    assert!(
        r.stderr.contains("must not contain start_after or end_at"),
        "{}",
        r.stderr
    );
    let r = run(&["plan", "--plugin", &fx.command(""), "--out", out_arg]);
    assert_eq!(r.code, 2);
    assert!(r.stderr.contains("--jobdefs"), "{}", r.stderr);
    let r = run(&[
        "plan",
        "--plugin",
        &fx.command(""),
        "--out",
        out_arg,
        "--jobdefs",
        "j",
        "--max-job-size",
        "12Q",
    ]);
    assert_eq!(r.code, 2);
    assert!(r.stderr.contains("12Q"), "{}", r.stderr);
    // An empty bucket is one shard covering every key; the Bacula dialect is one file.
    let r = run(&[
        "plan",
        "--plugin",
        &fx.command(""),
        "--out",
        out_arg,
        "--jobdefs",
        "j",
        "--dialect",
        "bacula",
        "-q",
    ]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let conf = std::fs::read_to_string(out.join("bacula-dir-shards.conf")).unwrap();
    assert_eq!(conf.matches("Job {").count(), 1, "{conf}");
    assert!(
        conf.contains("Signature = MD5") && !conf.contains("start_after"),
        "{conf}"
    );
    // A plan of another bucket in the same directory is refused.
    let other = BucketFixture::new(servers::moto(), "plan-other");
    let r = run(&["plan", "--plugin", &other.command(""), "--out", out_arg]);
    assert_eq!(r.code, 2);
    assert!(r.stderr.contains("plan another bucket"), "{}", r.stderr);
    // A missing bucket fails the run (exit 1) with a message naming it.
    let r = run(&[
        "plan",
        "--plugin",
        &fx.command("").replace(
            &format!("bucket={}:", fx.bucket),
            "bucket=no-such-bucket-x:",
        ),
        "--out",
        fx.subdir("p2").to_str().unwrap(),
        "--jobdefs",
        "j",
    ]);
    assert_eq!(r.code, 1);
    assert!(r.stderr.contains("no-such-bucket-x"), "{}", r.stderr);
}

fn check_lines(r: &Run) -> BTreeMap<String, String> {
    r.stdout
        .lines()
        .filter_map(|l| {
            let verdict = l.split_whitespace().next()?;
            let check = l.get(6..26)?.trim().to_string();
            Some((check, verdict.to_string()))
        })
        .collect()
}

#[test]
fn check_passes_a_good_setup_and_names_each_failure_on_ceph() {
    let ceph = servers::ceph();
    let fx = BucketFixture::new(ceph, "check");
    fx.seed(vec![
        ("a/first".into(), data(1, 10)),
        ("b".into(), Vec::new()),
    ]);
    let library = plugin_so(Flavour::Bareos);
    let lib = library.to_str().unwrap();
    let secret = ceph.secret_key.clone();
    let no_secret = |r: &Run| {
        assert!(
            !r.stdout.contains(&secret) && !r.stderr.contains(&secret),
            "secret printed:\n{}{}",
            r.stdout,
            r.stderr
        );
    };

    let r = run(&[
        "check",
        "--plugin",
        &fx.command(""),
        "--plugin-library",
        lib,
    ]);
    no_secret(&r);
    assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
    let v = check_lines(&r);
    for c in [
        "plugin string",
        "endpoint reachable",
        "credentials",
        "bucket listable",
        "GET one object",
        "plugin library",
    ] {
        assert_eq!(
            v.get(c).map(String::as_str),
            Some("OK"),
            "{c}: {}",
            r.stdout
        );
    }
    assert_eq!(v["TLS trusted"], "SKIP");
    assert!(r.stdout.contains("not TLS"));
    assert!(
        r.stdout.contains("read 1 byte(s) of \"a/first\""),
        "{}",
        r.stdout
    );
    assert!(
        r.stdout
            .contains("Bareos file-daemon plugin (interface 10), version"),
        "{}",
        r.stdout
    );
    let bacula = plugin_so(Flavour::Bacula);
    let r = run(&[
        "check",
        "--plugin",
        &fx.command(""),
        "--plugin-library",
        bacula.to_str().unwrap(),
    ]);
    assert_eq!(r.code, 0, "{}", r.stdout);
    assert!(
        r.stdout
            .contains("Bacula 9.6 file-daemon plugin (interface 14)"),
        "{}",
        r.stdout
    );

    // Wrong secret: credentials refused, bucket and GET not checked.
    let bad = fx.dir.join("bad");
    std::fs::create_dir_all(&bad).unwrap();
    let wrong = S3Server {
        secret_key: "wrong-secret-0123456789abcdefghijklmnopq".into(),
        ..ceph.clone()
    };
    let creds = wrong.write_credentials_file(&bad, "test");
    let command = fx
        .command("")
        .replace(fx.credentials.to_str().unwrap(), creds.to_str().unwrap());
    let r = run(&["check", "--plugin", &command, "--plugin-library", lib]);
    no_secret(&r);
    assert!(!r.stdout.contains("wrong-secret-0123"), "{}", r.stdout);
    assert_eq!(r.code, 1);
    let v = check_lines(&r);
    assert_eq!(v["credentials"], "FAIL", "{}", r.stdout);
    assert!(
        r.stdout.contains("SignatureDoesNotMatch") && r.stdout.contains(creds.to_str().unwrap()),
        "{}",
        r.stdout
    );
    assert_eq!(v["bucket listable"], "SKIP");
    assert_eq!(v["plugin library"], "OK");

    // Missing bucket.
    let command = fx.command("").replace(
        &format!("bucket={}:", fx.bucket),
        "bucket=no-such-bucket-for-check:",
    );
    let r = run(&["check", "--plugin", &command, "--plugin-library", lib]);
    no_secret(&r);
    assert_eq!(r.code, 1);
    let v = check_lines(&r);
    assert_eq!(v["credentials"], "OK", "{}", r.stdout);
    assert_eq!(v["bucket listable"], "FAIL");
    assert!(
        r.stdout
            .contains("bucket 'no-such-bucket-for-check' does not exist"),
        "{}",
        r.stdout
    );

    // Unreachable endpoint (a port nothing listens on).
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let command = fx
        .command("")
        .replace(&ceph.endpoint, &format!("http://127.0.0.1:{port}"));
    let r = run(&["check", "--plugin", &command, "--plugin-library", lib]);
    assert_eq!(r.code, 1);
    let v = check_lines(&r);
    assert_eq!(v["endpoint reachable"], "FAIL", "{}", r.stdout);
    assert!(r.stdout.contains("Connection refused"), "{}", r.stdout);
    assert_eq!(v["credentials"], "SKIP");

    // A bad plugin library path, and a file that is no plugin.
    let r = run(&[
        "check",
        "--plugin",
        &fx.command(""),
        "--plugin-library",
        "/nonexistent/s3-fd.so",
    ]);
    assert_eq!(r.code, 1);
    assert_eq!(check_lines(&r)["plugin library"], "FAIL");
    assert!(
        r.stdout.contains("/nonexistent/s3-fd.so: No such file"),
        "{}",
        r.stdout
    );
    let junk = fx.dir.join("junk-fd.so");
    std::fs::write(&junk, b"not an ELF file").unwrap();
    let r = run(&[
        "check",
        "--plugin",
        &fx.command(""),
        "--plugin-library",
        junk.to_str().unwrap(),
    ]);
    assert_eq!(r.code, 1);
    assert!(r.stdout.contains("dlopen failed"), "{}", r.stdout);
}

#[test]
fn census_sums_equal_what_was_seeded() {
    let moto = servers::moto();
    let fx = BucketFixture::new(moto, "census");
    let mut items = Vec::new();
    let mut expect1: BTreeMap<&str, (u64, u64)> = BTreeMap::new();
    let mut expect2: BTreeMap<String, (u64, u64)> = BTreeMap::new();
    for i in 0..300usize {
        let (top, sub) = (["logs", "photos", "zz"][i % 3], format!("y{}", i % 4));
        let k = format!("{top}/{sub}/f{i:04}");
        let size = (i * 13) % 500;
        let e = expect1
            .entry(["logs/", "photos/", "zz/"][i % 3])
            .or_default();
        e.0 += 1;
        e.1 += size as u64;
        let e = expect2.entry(format!("{top}/{sub}/")).or_default();
        e.0 += 1;
        e.1 += size as u64;
        items.push((k, data(i as u64, size)));
    }
    items.push(("top-level".into(), data(7, 11)));
    fx.seed(items);
    let client = moto.client();
    block_on(async {
        for i in 0..5 {
            client
                .put_object()
                .bucket(&fx.bucket)
                .key(format!("cold/{i}"))
                .storage_class(StorageClass::StandardIa)
                .body(ByteStream::from(vec![1u8; 100]))
                .send()
                .await
                .unwrap();
        }
    });
    expect1.insert("cold/", (5, 500));
    let r = run(&["census", "--plugin", &fx.command(""), "--depth", "1", "-q"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let row = |text: &str, label: &str| -> (u64, u64) {
        let rest = text
            .lines()
            .find_map(|l| l.strip_prefix(label).filter(|r| r.starts_with(' ')))
            .unwrap_or_else(|| panic!("no row {label}:\n{text}"));
        let nums: Vec<u64> = rest
            .split_whitespace()
            .take(2)
            .map(|w| w.replace(',', "").parse().unwrap())
            .collect();
        (nums[0], nums[1])
    };
    for (p, c) in &expect1 {
        assert_eq!(row(&r.stdout, p), *c, "{p}\n{}", r.stdout);
    }
    let total = expect1
        .values()
        .fold((1, 11), |a, c| (a.0 + c.0, a.1 + c.1));
    assert_eq!(row(&r.stdout, "(top level)"), (1, 11));
    assert_eq!(row(&r.stdout, "STANDARD_IA"), (5, 500));
    assert_eq!(row(&r.stdout, "STANDARD"), (total.0 - 5, total.1 - 500));
    assert_eq!(row(&r.stdout, "TOTAL"), total);

    let r = run(&[
        "census",
        "--plugin",
        &fx.command(""),
        "--depth",
        "2",
        "--json",
        "-q",
    ]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let compact: String = r.stdout.split_whitespace().collect();
    for (p, (o, b)) in &expect2 {
        assert!(
            compact.contains(&format!(
                "{{\"prefix\":\"{p}\",\"objects\":{o},\"bytes\":{b}}}"
            )),
            "{p}: {}",
            r.stdout
        );
    }
    assert!(
        compact.contains(&format!(
            "\"total\":{{\"objects\":{},\"bytes\":{}}}",
            total.0, total.1
        )),
        "{}",
        r.stdout
    );
    assert!(
        compact.contains("{\"storage_class\":\"STANDARD_IA\",\"objects\":5,\"bytes\":500}"),
        "{}",
        r.stdout
    );
    // A prefix in the plugin string limits the census; depth counts below it.
    let r = run(&[
        "census",
        "--plugin",
        &fx.command(":prefix=photos/"),
        "--depth",
        "1",
        "-q",
    ]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(row(&r.stdout, "photos/y1/"), expect2["photos/y1/"]);
    assert_eq!(row(&r.stdout, "TOTAL"), expect1["photos/"]);
}

/// Every retry of `dump-server` is a line on stderr, also without a terminal (stderr is a pipe
/// here) and with `-q`: three 503 SlowDown answers to the listing give three "attempt N of M"
/// lines, and the census still counts every object.
#[test]
fn retries_are_reported_one_line_each_without_a_terminal() {
    let moto = servers::moto();
    let fx = BucketFixture::new(moto, "retrylines");
    fx.seed((0..5).map(|i| (format!("k{i}"), data(i, 10))).collect());
    let proxy = FaultProxy::start(&moto.endpoint);
    proxy.add(Rule::times(
        Match::list(),
        Fault::status(503, "SlowDown"),
        3,
    ));
    let plugin = fx.command_via(&proxy.endpoint(), "");
    let r = run(&["census", "--plugin", &plugin, "--depth", "0", "-q"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let lines: Vec<&str> = r
        .stderr
        .lines()
        .filter(|l| l.contains("503") && l.contains("SlowDown"))
        .collect();
    assert_eq!(lines.len(), 3, "{}", r.stderr);
    for (n, line) in lines.iter().enumerate() {
        assert!(
            line.starts_with(&format!("ListObjectsV2 of bucket {}: ", fx.bucket))
                && line.contains(&format!("attempt {} of 11 failed", n + 1)),
            "{line}"
        );
    }
    let faulted = proxy.log().iter().filter(|s| s.fault.is_some()).count();
    assert_eq!(faulted, 3);
    let total = r
        .stdout
        .lines()
        .find_map(|l| l.strip_prefix("TOTAL"))
        .unwrap_or_else(|| panic!("no TOTAL row:\n{}", r.stdout));
    assert_eq!(total.split_whitespace().next(), Some("5"), "{}", r.stdout);
}
