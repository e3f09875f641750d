//! Scale out through the real Bacula 9.6 daemons (`integration_tests::bacula_stack`): one
//! director, one storage daemon (data spooling to the virtual autochanger) and three file
//! daemons (dump servers), each loading `s3-fd.so`.
//!
//! * The shards of a bucket (`dump-server plan`), one per Client, all queued at once: the
//!   catalog shows them running at the same time (StartTime/EndTime), the fault proxy in front
//!   of the S3 server shows their listings in flight at the same time, every object of the
//!   bucket is in the File table of exactly one shard job, and one restore of the union of the
//!   shard jobs gives the bucket back byte for byte.
//! * Two shard jobs at once in one file daemon (each its own plugin context): both clean, the
//!   catalog exact, the restore exact.
//!
//! Every LIST request is held 8 s by the proxy, so that a job lasts longer than the director's
//! job queue may take to start the next one: jobs that ran one after the other could not show
//! overlapping catalog times.
//!
//! `BACULA_E2E_SKIP=1` skips it (as the other real-daemon tests).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use integration_tests::bacula_stack::{assert_restored, client_name, stack, JobResult, StackGuard};
use integration_tests::fault_proxy::{most_at_once, Fault, FaultProxy, Match, Rule};
use integration_tests::scenario::{data, BucketFixture};
use integration_tests::servers;

/// How long the proxy holds every LIST request: longer than the director may take to start
/// a queued job while another runs (its job queue looks at waiting jobs every 2 s, and a job it
/// has made ready may wait for the next round: seen up to 4 s with 9.6.7).
const LIST_STALL: Duration = Duration::from_secs(8);

fn skip() -> bool {
    if std::env::var("BACULA_E2E_SKIP").as_deref() == Ok("1") {
        eprintln!("BACULA_E2E_SKIP=1: not running this test against the real Bacula daemons");
        return true;
    }
    false
}

fn dump_server() -> &'static Path {
    static BIN: OnceLock<PathBuf> = OnceLock::new();
    BIN.get_or_init(integration_tests::harness::dump_server_bin)
}

fn assert_ok(r: &JobResult) {
    assert!(
        r.status == 'T' && r.errors == 0 && r.exit_code == 0,
        "expected a clean job (T, 0 errors):\n{r}"
    );
}

/// The per-shard plugin strings of `dump-server plan --dialect bacula` for the bucket of `fx`,
/// at most `max_objects` objects per shard (the Plugin lines of the generated FileSets, in
/// order, unquoted).
fn shard_plugins(fx: &BucketFixture, max_objects: usize) -> Vec<String> {
    let out_dir = fx.subdir("plan");
    let out = Command::new(dump_server())
        .arg("plan")
        .args(["--plugin", &fx.command("")])
        .args(["--out", out_dir.to_str().unwrap()])
        .args(["--dialect", "bacula", "--jobdefs", "S3Job", "--quiet"])
        .args(["--max-objects", &max_objects.to_string()])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "dump-server plan: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let conf = std::fs::read_to_string(out_dir.join("bacula-dir-shards.conf")).unwrap();
    conf.lines()
        .filter_map(|l| l.trim().strip_prefix("Plugin = "))
        .map(|q| {
            let inner = q
                .strip_prefix('"')
                .and_then(|q| q.strip_suffix('"'))
                .unwrap_or_else(|| panic!("Plugin line not quoted: {q}"));
            inner.replace("\\\"", "\"").replace("\\\\", "\\")
        })
        .collect()
}

/// Catalog names of the objects `jobid` saved (deletion records excluded).
fn saved(s: &StackGuard, jobid: u32) -> Vec<String> {
    s.catalog_files(jobid)
        .into_iter()
        .filter(|f| f.file_index > 0)
        .map(|f| f.name)
        .collect()
}

/// A fresh restore directory.
fn restore_dir(fx: &BucketFixture, name: &str) -> PathBuf {
    let d = fx.dir.join(name);
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// Objects under `prefixes` (flat keys, small, of different sizes).
fn objects(prefixes: &[&str], per_prefix: usize, seed: u64) -> Vec<(String, Vec<u8>)> {
    let mut v = Vec::new();
    for (p, prefix) in prefixes.iter().enumerate() {
        for i in 0..per_prefix {
            let n = (p * per_prefix + i) as u64;
            v.push((
                format!("{prefix}/obj-{i:03}.bin"),
                data(seed + n, 200 + (n as usize * 97) % 3000),
            ));
        }
    }
    v
}

/// Runs the shard jobs `jobs` (name, plugin, client) at once: all defined, all queued, then
/// all waited for. Checks that each ended cleanly, that their catalog times overlap (each
/// started before any ended) and that their LIST requests were in flight at the same time;
/// returns the results in the order of `jobs`.
fn run_at_once(
    s: &StackGuard,
    proxy: &FaultProxy,
    jobs: &[(String, String, String)],
) -> Vec<JobResult> {
    for (name, plugin, client) in jobs {
        s.define_job_on(name, plugin, false, client);
    }
    let before = proxy.log().len();
    let started = Instant::now();
    let names: Vec<&str> = jobs.iter().map(|(name, _, _)| name.as_str()).collect();
    let ids = s.queue(&names, "Full");
    let results: Vec<JobResult> = ids.iter().map(|id| s.wait(*id)).collect();
    eprintln!(
        "[scale-out] {} jobs queued at once, all done after {:.1}s",
        jobs.len(),
        started.elapsed().as_secs_f64()
    );
    for r in &results {
        assert_ok(r);
    }
    let times: Vec<(i64, i64)> = ids.iter().map(|id| s.job_times(*id)).collect();
    let last_start = times.iter().map(|t| t.0).max().unwrap();
    let first_end = times.iter().map(|t| t.1).min().unwrap();
    assert!(
        last_start < first_end,
        "the jobs did not all run at the same time: (StartTime, EndTime) of JobIds {ids:?} are \
         {times:?}"
    );
    let lists: Vec<_> = proxy.log()[before..]
        .iter()
        .filter(|r| r.method == "GET" && r.query.contains("list-type=2"))
        .cloned()
        .collect();
    assert_eq!(
        most_at_once(&lists),
        jobs.len(),
        "the shard listings were not all in flight at once: {lists:?}"
    );
    results
}

#[test]
fn shard_jobs_on_three_clients_run_at_once_and_save_each_object_once() {
    if skip() {
        return;
    }
    let server = servers::ceph();
    let fx = BucketFixture::new(server, "scale-out");
    let expected = fx.seed(objects(&["alpha", "beta", "gamma"], 12, 1000));
    let proxy = FaultProxy::start(&server.endpoint);
    proxy.add(Rule::always(
        Match::list(),
        Fault::StallHead { for_: LIST_STALL },
    ));
    let plugins = shard_plugins(&fx, 12);
    assert_eq!(plugins.len(), 3, "shards of the plan: {plugins:?}");

    let s = stack();
    let jobs: Vec<(String, String, String)> = plugins
        .iter()
        .enumerate()
        .map(|(i, p)| {
            (
                format!("{}-shard-{}", fx.bucket, i + 1),
                p.replacen(
                    &format!("endpoint={}", server.endpoint),
                    &format!("endpoint={}", proxy.endpoint()),
                    1,
                ),
                client_name(i + 1),
            )
        })
        .collect();
    let results = run_at_once(&s, &proxy, &jobs);

    // Each on its own client, and together every object exactly once.
    let mut count: BTreeMap<String, usize> = BTreeMap::new();
    for ((_, _, client), r) in jobs.iter().zip(&results) {
        let row = s.sql(&format!(
            "SELECT Client.Name FROM Job JOIN Client ON Client.ClientId = Job.ClientId \
             WHERE JobId = {};",
            r.jobid
        ));
        assert_eq!(row.trim(), client, "Client of JobId {}", r.jobid);
        let names = saved(&s, r.jobid);
        assert!(!names.is_empty(), "shard job saved nothing:\n{r}");
        assert_eq!(r.files, names.len() as u64, "JobFiles vs File rows\n{r}");
        for n in names {
            *count.entry(n).or_default() += 1;
        }
    }
    let twice: Vec<_> = count.iter().filter(|(_, n)| **n != 1).collect();
    assert!(twice.is_empty(), "objects saved by two shards: {twice:?}");
    let want: Vec<String> = server
        .list_keys(&fx.bucket)
        .iter()
        .map(|k| format!("/{}/{k}", fx.bucket))
        .collect::<std::collections::BTreeSet<_>>()
        .into_iter()
        .collect();
    assert_eq!(
        count.keys().cloned().collect::<Vec<_>>(),
        want,
        "the union of the shard jobs' File rows vs the bucket's keys"
    );

    // One restore of the union of the three shard jobs, by another client than two of them.
    let dir = restore_dir(&fx, "restore-union");
    let ids: Vec<u32> = results.iter().map(|r| r.jobid).collect();
    let r = s.restore_union(&ids, &dir, &[], &client_name(3));
    assert_ok(&r);
    assert_eq!(r.files, expected.len() as u64, "{r}");
    assert_restored(&dir, &fx.bucket, &expected);
}

#[test]
fn two_shard_jobs_at_once_in_one_file_daemon() {
    if skip() {
        return;
    }
    let server = servers::ceph();
    let fx = BucketFixture::new(server, "scale-one-fd");
    let expected = fx.seed(objects(&["left", "right"], 15, 5000));
    let proxy = FaultProxy::start(&server.endpoint);
    proxy.add(Rule::always(
        Match::list(),
        Fault::StallHead { for_: LIST_STALL },
    ));
    let plugins = shard_plugins(&fx, 15);
    assert_eq!(plugins.len(), 2, "shards of the plan: {plugins:?}");

    let s = stack();
    let fd = client_name(2);
    let pid = s.daemon_pid("fd-2");
    assert!(pid.is_some(), "file daemon {fd} does not run");
    let jobs: Vec<(String, String, String)> = plugins
        .iter()
        .enumerate()
        .map(|(i, p)| {
            (
                format!("{}-shard-{}", fx.bucket, i + 1),
                p.replacen(
                    &format!("endpoint={}", server.endpoint),
                    &format!("endpoint={}", proxy.endpoint()),
                    1,
                ),
                fd.clone(),
            )
        })
        .collect();
    let results = run_at_once(&s, &proxy, &jobs);
    assert_eq!(
        s.daemon_pid("fd-2"),
        pid,
        "the file daemon restarted or died"
    );

    // Each job's own plugin context: its own start message and summary, with its own count.
    let mut all = Vec::new();
    for r in &results {
        let names = saved(&s, r.jobid);
        assert_eq!(r.files, names.len() as u64, "JobFiles vs File rows\n{r}");
        assert_eq!(names.len(), 15, "{r}");
        let summary = format!("{} objects saved", names.len());
        assert!(r.log.contains(&summary), "no {summary:?} in\n{r}");
        assert_eq!(
            r.log.matches("s3: backing up s3://").count(),
            1,
            "one start message per job:\n{r}"
        );
        all.extend(names);
    }
    all.sort();
    let mut want: Vec<String> = expected
        .keys()
        .map(|k| format!("/{}/{k}", fx.bucket))
        .collect();
    want.sort();
    assert_eq!(all, want, "the two jobs' File rows vs the bucket");

    let dir = restore_dir(&fx, "restore-both");
    let ids: Vec<u32> = results.iter().map(|r| r.jobid).collect();
    let r = s.restore_union(&ids, &dir, &[], &fd);
    assert_ok(&r);
    assert_eq!(r.files, expected.len() as u64, "{r}");
    assert_restored(&dir, &fx.bucket, &expected);
}
