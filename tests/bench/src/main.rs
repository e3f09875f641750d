//! `s3fd-bench`: the throughput benchmark of the plugin (its targets: docs/benchmarks.md).
//!
//! It drives the BUILT release plugin (`target/release/libs3_fd_bareos.so`) through its C ABI
//! with the host harness into a null sink (`JobSpec::discard_data`), against memory-s3 (started
//! here, in a child process) and the test fixture's Ceph RGW, and times the peer clients
//! (s5cmd, rclone, aws-cli) on the same objects. Every measured run is a fresh child process:
//! ours is `s3fd-bench run-one …`, so peak RSS (VmHWM) never mixes between workloads.
//!
//! ```text
//! cargo build --release -p s3-fd-bareos
//! cargo run --release -p s3fd-bench -- all [options]      # everything, Markdown table on stdout
//! cargo run --release -p s3fd-bench -- help
//! ```

mod ceph;
mod jobs;
mod measure;
mod peers;
mod report;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use integration_tests::harness::{self, Flavour, JobSpec};

use measure::Stdout;
use peers::{Peers, Tuning};

const USAGE: &str = "\
usage: s3fd-bench all [options]       run the benchmark, print the Markdown report on stdout
       s3fd-bench run-one --command CMD [--level F|I] [--since SECS]
                                      one backup job of the built plugin into a null sink
                                      (what `all` runs in a child per workload); prints RESULT
       s3fd-bench jobs [options]      1, 2, 4… concurrent backup jobs in one process (see below)
       s3fd-bench run-jobs --command CMD --expect FILES,BYTES,DIGEST [--command … --expect …]
                                      those jobs at once, in threads of this process (what `jobs`
                                      runs in a child per configuration); prints JOB and RESULT
       s3fd-bench serve-memory ARGS   run memory-s3 (same arguments as the memory-s3 binary)

options of `all`:
  --servers LIST      memory,ceph (default both)
  --workloads LIST    big,small4k,small1k,listing (default all)
  --peers LIST        s5cmd,rclone,aws | all | none (default all; missing ones are skipped)
  --ours-options OPTS extra plugin options for one more row of ours, e.g. ':concurrency=64'
                      (repeatable; the first row always uses the defaults)
  --ceph-big SIZE     size of the big object on Ceph (default 1GiB; 0 skips)
  --ceph-4k N         4 KiB objects on Ceph (default 2000; seeding takes ~1 s per 300)
  --ceph-1k N         1 KiB objects on Ceph (default 2000)
  --repeat N          rounds per workload (each runs every tool once), best kept (default 1)
  --markdown FILE     also write the report there
  --s5cmd-workers N   tuned s5cmd --numworkers (default 32)
  --rclone-transfers N  rclone --transfers (default 32)
  --aws-requests N    tuned aws-cli max_concurrent_requests (default 32)
  --aws-max-objects N aws-cli runs workloads above N objects on a smaller twin bucket
                      (10,000 objects; 100,000 keys for the listing) and its rate is
                      compared (default 20000)

options of `jobs`:
  --jobs LIST         concurrent jobs per run (default 1,2,4); job i backs up bucket i
  --servers LIST      memory,ceph (default both)
  --workloads LIST    small,large (default both)
  --small N           4 KiB objects per job on memory-s3 (default 5000)
  --large N           8 MiB objects per job on memory-s3 (default 16)
  --ceph-small N      4 KiB objects per job on Ceph (default 1000)
  --ceph-large N      8 MiB objects per job on Ceph (default 8)
  --options OPTS      extra plugin options of every job, e.g. ':prefetch_bytes=16M'
  --repeat N          rounds (each runs every job count once), best kept (default 1)
  --markdown FILE     also write the report there

environment: S5CMD, RCLONE, AWS_CLI override where the peers are; S3TEST_* as for the tests.";

/// A server the workloads run against.
#[derive(Clone, Debug)]
pub struct Target {
    pub name: String,
    pub endpoint: String,
    pub access_key: String,
    pub secret_key: String,
    pub region: String,
    /// Processes whose CPU is the server's.
    pub server_pids: Vec<u32>,
    pub rclone_provider: &'static str,
    /// Has memory-s3's request counters.
    pub stats: bool,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// One large object.
    Big,
    /// Many small objects.
    Small,
    /// An Incremental over unchanged keys: listing only.
    Listing,
}

/// One workload on one target.
#[derive(Clone, Debug)]
pub struct Workload {
    pub id: String,
    pub title: String,
    pub kind: Kind,
    pub bucket: String,
    /// The object of a `Big` workload.
    pub key: Option<String>,
    pub objects: u64,
    pub object_size: u64,
    pub bytes: u64,
    /// A bucket of fewer objects of the same size, for slow peers: (bucket, objects).
    pub subset_bucket: Option<(String, u64)>,
}

/// One measured run.
#[derive(Clone, Debug)]
pub struct Row {
    pub target: String,
    pub workload: Workload,
    pub tool: String,
    /// Ours (the first `ours` row of a workload is the reference of the ratios).
    pub ours: bool,
    pub objects: u64,
    pub bytes: u64,
    /// Process wall time, spawn to exit.
    pub wall: f64,
    /// Client process CPU (user + sys), whole process.
    pub client_cpu: f64,
    pub server_cpu: f64,
    pub rss_kib: u64,
    pub ok: bool,
    pub note: String,
    /// memory-s3 request counts during the run.
    pub requests: Option<String>,
    /// CPU seconds the rest of the machine (neither client nor server) used during the run.
    pub foreign_cpu: f64,
    /// Ours: time and CPU of the job alone (inside the process), and VmHWM before the job.
    pub job_wall: Option<f64>,
    pub job_cpu: Option<f64>,
    pub hwm_before_kib: Option<u64>,
    pub command: String,
}

impl Row {
    /// Objects (or keys) per second, by process wall time.
    pub fn obj_rate(&self) -> f64 {
        self.objects as f64 / self.wall.max(1e-9)
    }

    pub fn mib_rate(&self) -> f64 {
        self.bytes as f64 / (1u64 << 20) as f64 / self.wall.max(1e-9)
    }

    /// The throughput the ratios compare: MiB/s for big objects, objects/s otherwise.
    pub fn rate(&self) -> f64 {
        match self.workload.kind {
            Kind::Big => self.mib_rate(),
            _ => self.obj_rate(),
        }
    }
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let code = match args.first().map(String::as_str) {
        Some("all") => cmd_all(&args[1..]),
        Some("run-one") => cmd_run_one(&args[1..]),
        Some("serve-memory") => cmd_serve_memory(&args[1..]),
        Some("jobs") => jobs::cmd_jobs(&args[1..]),
        Some("run-jobs") => jobs::cmd_run_jobs(&args[1..]),
        Some("measure-exec") => cmd_measure_exec(&args[1..]),
        Some("help") | Some("-h") | Some("--help") | None => {
            println!("{USAGE}");
            0
        }
        Some(other) => {
            eprintln!("s3fd-bench: unknown command {other:?}\n\n{USAGE}");
            2
        }
    };
    std::process::exit(code);
}

/// `measure-exec RESULT_FILE PROGRAM ARGS…`: runs the program and writes
/// `code=… cpu=… maxrss_kib=…` to RESULT_FILE (see [`measure::exec_and_wait`]).
fn cmd_measure_exec(args: &[String]) -> i32 {
    let [result, program, rest @ ..] = args else {
        eprintln!("s3fd-bench measure-exec: RESULT_FILE PROGRAM [ARGS…]");
        return 2;
    };
    match measure::exec_and_wait(Command::new(program).args(rest)) {
        Ok((code, cpu, maxrss)) => {
            let _ = std::fs::write(
                result,
                format!("code={code} cpu={cpu:.6} maxrss_kib={maxrss}\n"),
            );
            code
        }
        Err(e) => {
            eprintln!("s3fd-bench measure-exec: {program}: {e}");
            127
        }
    }
}

fn cmd_serve_memory(args: &[String]) -> i32 {
    match memory_s3::parse_cli(args) {
        Ok(cli) => match memory_s3::run(cli) {
            Ok(()) => 0,
            Err(e) => {
                eprintln!("memory-s3: {e}");
                1
            }
        },
        Err(e) => {
            eprintln!("memory-s3: {e}");
            2
        }
    }
}

/// Value of `--name VALUE` / `--name=VALUE` options.
struct Opts {
    pairs: Vec<(String, String)>,
}

impl Opts {
    fn parse(args: &[String]) -> Result<Opts, String> {
        let mut pairs = Vec::new();
        let mut it = args.iter();
        while let Some(a) = it.next() {
            let Some(name) = a.strip_prefix("--") else {
                return Err(format!("unexpected argument {a:?}"));
            };
            let (name, value) = match name.split_once('=') {
                Some((n, v)) => (n.to_string(), v.to_string()),
                None => (
                    name.to_string(),
                    it.next()
                        .cloned()
                        .ok_or_else(|| format!("--{name} needs a value"))?,
                ),
            };
            pairs.push((name, value));
        }
        Ok(Opts { pairs })
    }

    fn get(&self, name: &str) -> Option<&str> {
        self.pairs
            .iter()
            .rev()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    fn all(&self, name: &str) -> Vec<String> {
        self.pairs
            .iter()
            .filter(|(n, _)| n == name)
            .map(|(_, v)| v.clone())
            .collect()
    }

    fn list(&self, name: &str, default: &str) -> Vec<String> {
        self.get(name)
            .unwrap_or(default)
            .split(',')
            .map(|s| s.trim().to_string())
            .filter(|s| !s.is_empty())
            .collect()
    }

    fn num(&self, name: &str, default: u64) -> Result<u64, String> {
        match self.get(name) {
            None => Ok(default),
            Some(v) => memory_s3::spec::parse_size(v).map_err(|e| format!("--{name}: {e}")),
        }
    }

    fn check(&self, known: &[&str]) -> Result<(), String> {
        match self
            .pairs
            .iter()
            .find(|(n, _)| !known.contains(&n.as_str()))
        {
            Some((n, _)) => Err(format!("unknown option --{n}")),
            None => Ok(()),
        }
    }
}

// ------------------------------------------------------------------------------- run-one

fn cmd_run_one(args: &[String]) -> i32 {
    let opts = match Opts::parse(args).and_then(|o| {
        o.check(&["command", "level", "since", "read-size"])
            .map(|_| o)
    }) {
        Ok(o) => o,
        Err(e) => {
            eprintln!("s3fd-bench run-one: {e}");
            return 2;
        }
    };
    let Some(command) = opts.get("command") else {
        eprintln!("s3fd-bench run-one: --command is required");
        return 2;
    };
    let level = opts
        .get("level")
        .unwrap_or("F")
        .chars()
        .next()
        .unwrap_or('F');
    let since: i64 = opts.get("since").and_then(|s| s.parse().ok()).unwrap_or(0);
    let flavour = Flavour::Bareos;
    // Load the plugin before timing (dlopen, loadPlugin, the harness' own set-up).
    let facts = harness::plugin_facts(flavour);
    if let Some(why) = &facts.rejection {
        eprintln!("s3fd-bench run-one: the plugin is rejected: {why}");
        return 1;
    }
    let mut spec = JobSpec::new(flavour, 1, level, since, command);
    spec.discard_data = true;
    if let Some(n) = opts.get("read-size").and_then(|s| s.parse().ok()) {
        spec.read_size = Some(n);
    }
    let hwm_before = measure::self_status_kib("VmHWM:");
    let cpu0 = measure::self_cpu();
    let t0 = Instant::now();
    let r = harness::backup(&spec, None);
    let wall = t0.elapsed().as_secs_f64();
    let cpu = measure::self_cpu() - cpu0;
    let hwm = measure::self_status_kib("VmHWM:");
    println!(
        "RESULT status={} files={} bytes={} unchanged={} job_wall={wall:.6} job_cpu={cpu:.6} \
         hwm_before_kib={hwm_before} hwm_kib={hwm} errors={} warnings={} violations={}",
        r.status,
        r.discarded.files,
        r.discarded.bytes,
        r.discarded.unchanged,
        r.job_errors,
        r.job_warnings,
        r.protocol_violations.len()
    );
    let _ = std::io::stdout().flush();
    if r.status != 'T' || !r.protocol_violations.is_empty() {
        for (t, m) in r.messages.iter().take(20) {
            eprintln!("message {t}: {m}");
        }
        for v in r.protocol_violations.iter().take(20) {
            eprintln!("violation: {v}");
        }
        return 1;
    }
    0
}

fn field<'a>(line: &'a str, name: &str) -> Option<&'a str> {
    line.split_whitespace()
        .find_map(|kv| kv.strip_prefix(name).and_then(|r| r.strip_prefix('=')))
}

// ---------------------------------------------------------------------------------- all

/// The memory-s3 child.
struct MemoryServer {
    child: Child,
    endpoint: String,
}

impl Drop for MemoryServer {
    fn drop(&mut self) {
        // Our own child, by its handle.
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

const MEMORY_BUCKETS: &[&str] = &[
    "big:1x1GiB",
    "small4k:10000x4KiB",
    "small1k:100000x1KiB",
    "small1k-10k:10000x1KiB",
    "small4k-2k:2000x4KiB",
    "listing:1000000x0",
    "listing-100k:100000x0",
];

fn start_memory_server(buckets: &[String]) -> Result<MemoryServer, String> {
    let exe = std::env::current_exe().map_err(|e| e.to_string())?;
    let mut cmd = Command::new(exe);
    cmd.arg("serve-memory").args(["--listen", "127.0.0.1:0"]);
    for b in buckets {
        cmd.args(["--bucket", b]);
    }
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .map_err(|e| format!("starting memory-s3: {e}"))?;
    let stdout = child.stdout.take().expect("piped");
    let mut line = String::new();
    BufReader::new(stdout)
        .read_line(&mut line)
        .map_err(|e| format!("reading memory-s3's endpoint: {e}"))?;
    let endpoint = line
        .trim()
        .strip_prefix("ENDPOINT ")
        .ok_or_else(|| format!("memory-s3 said {line:?}"))?
        .to_string();
    Ok(MemoryServer { child, endpoint })
}

fn memory_workloads() -> Vec<Workload> {
    let w = |id: &str, title: &str, kind, bucket: &str, objects: u64, size: u64| Workload {
        id: id.into(),
        title: title.into(),
        kind,
        bucket: bucket.into(),
        key: (kind == Kind::Big).then(|| "obj-0".to_string()),
        objects,
        object_size: size,
        bytes: objects * size,
        subset_bucket: None,
    };
    vec![
        w("big", "1 × 1 GiB", Kind::Big, "big", 1, 1 << 30),
        Workload {
            subset_bucket: Some(("small4k-2k".into(), 2000)),
            ..w(
                "small4k",
                "10,000 × 4 KiB",
                Kind::Small,
                "small4k",
                10_000,
                4096,
            )
        },
        Workload {
            subset_bucket: Some(("small1k-10k".into(), 10_000)),
            ..w(
                "small1k",
                "100,000 × 1 KiB",
                Kind::Small,
                "small1k",
                100_000,
                1024,
            )
        },
        Workload {
            subset_bucket: Some(("listing-100k".into(), 100_000)),
            ..w(
                "listing",
                "Incremental, 1,000,000 unchanged keys",
                Kind::Listing,
                "listing",
                1_000_000,
                0,
            )
        },
    ]
}

/// memory-s3's counters (`name=value` pairs).
fn memory_stats(endpoint: &str) -> Option<Vec<(String, u64)>> {
    let addr = endpoint.strip_prefix("http://")?;
    let mut s = TcpStream::connect(addr).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    write!(
        s,
        "GET {} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n",
        memory_s3::s3::STATS_PATH
    )
    .ok()?;
    let mut text = String::new();
    s.read_to_string(&mut text).ok()?;
    let body = text.split("\r\n\r\n").nth(1)?;
    Some(
        body.split_whitespace()
            .filter_map(|kv| {
                let (k, v) = kv.split_once('=')?;
                Some((k.to_string(), v.parse().ok()?))
            })
            .collect(),
    )
}

fn stats_delta(
    before: &Option<Vec<(String, u64)>>,
    after: &Option<Vec<(String, u64)>>,
) -> Option<String> {
    let (b, a) = (before.as_ref()?, after.as_ref()?);
    let get =
        |v: &Vec<(String, u64)>, k: &str| v.iter().find(|(n, _)| n == k).map_or(0, |(_, x)| *x);
    // The stats request itself counts once.
    Some(format!(
        "LIST {} GET {} HEAD {} other {} conns {}",
        get(a, "lists") - get(b, "lists"),
        get(a, "gets") - get(b, "gets"),
        get(a, "heads") - get(b, "heads"),
        (get(a, "other") - get(b, "other")).saturating_sub(1),
        (get(a, "connections") - get(b, "connections")).saturating_sub(1),
    ))
}

fn now_secs() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

/// Creates the private work directory (tmpfs when available).
fn work_dir() -> Result<PathBuf, String> {
    let base = if Path::new("/dev/shm").is_dir() {
        PathBuf::from("/dev/shm")
    } else {
        std::env::temp_dir()
    };
    let dir = base.join(format!("s3fd-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    Ok(dir)
}

fn write_credentials(work: &Path, t: &Target) -> Result<PathBuf, String> {
    use std::os::unix::fs::OpenOptionsExt;
    let path = work.join(format!("credentials-{}", t.name));
    let mut f = std::fs::OpenOptions::new()
        .create(true)
        .write(true)
        .truncate(true)
        .mode(0o600)
        .open(&path)
        .map_err(|e| format!("{}: {e}", path.display()))?;
    write!(
        f,
        "[bench]\naws_access_key_id = {}\naws_secret_access_key = {}\n",
        t.access_key, t.secret_key
    )
    .map_err(|e| e.to_string())?;
    Ok(path)
}

/// Everything under `dir`: (files, bytes).
fn tree_size(dir: &Path) -> (u64, u64) {
    let mut files = 0;
    let mut bytes = 0;
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let Ok(rd) = std::fs::read_dir(&d) else {
            continue;
        };
        for e in rd.flatten() {
            match e.file_type() {
                Ok(t) if t.is_dir() => stack.push(e.path()),
                Ok(t) if t.is_file() => {
                    files += 1;
                    bytes += e.metadata().map_or(0, |m| m.len());
                }
                _ => {}
            }
        }
    }
    (files, bytes)
}

fn reset_dir(dir: &Path) {
    let _ = std::fs::remove_dir_all(dir);
    let _ = std::fs::create_dir_all(dir);
}

/// Settles between runs (sockets in TIME_WAIT, the server's queues, page cache of tmpfs).
fn pause() {
    std::thread::sleep(Duration::from_millis(1500));
}

struct Ctx {
    work: PathBuf,
    repeat: u32,
}

/// What is measured around one child run: the server's CPU, the machine's busy CPU and, on
/// memory-s3, the requests the run made.
struct Around {
    server_cpu: f64,
    busy: f64,
    requests: Option<String>,
}

impl Around {
    /// The row of a run, before its own figures are recorded.
    fn row(&self, t: &Target, wl: &Workload, tool: String, ours: bool, command: String) -> Row {
        Row {
            target: t.name.clone(),
            workload: wl.clone(),
            tool,
            ours,
            objects: wl.objects,
            bytes: wl.bytes,
            wall: 0.0,
            client_cpu: 0.0,
            server_cpu: self.server_cpu,
            rss_kib: 0,
            ok: false,
            note: String::new(),
            requests: self.requests.clone(),
            foreign_cpu: 0.0,
            job_wall: None,
            job_cpu: None,
            hwm_before_kib: None,
            command,
        }
    }
}

impl Row {
    /// Records a finished child: its wall time, CPU and peak RSS; the machine's other CPU is
    /// what neither it nor the server used of `around`'s busy CPU.
    fn record(&mut self, m: &measure::Measured, around: &Around) {
        self.wall = m.wall.as_secs_f64();
        self.client_cpu = m.cpu;
        self.rss_kib = m.maxrss_kib;
        self.foreign_cpu = (around.busy - m.cpu - self.server_cpu).max(0.0);
    }
}

fn measured<T>(t: &Target, run: impl FnOnce() -> T) -> (T, Around) {
    let stats0 = t.stats.then(|| memory_stats(&t.endpoint)).flatten();
    let s0 = measure::procs_cpu(&t.server_pids);
    let busy0 = measure::machine_busy();
    let out = run();
    let busy = measure::machine_busy() - busy0;
    let s1 = measure::procs_cpu(&t.server_pids);
    let stats1 = t.stats.then(|| memory_stats(&t.endpoint)).flatten();
    let around = Around {
        server_cpu: s1 - s0,
        busy,
        requests: stats_delta(&stats0, &stats1),
    };
    (out, around)
}

/// One run of ours (default options, or with `extra` options appended).
fn run_ours(t: &Target, wl: &Workload, creds: &Path, extra: &str) -> Row {
    let exe = std::env::current_exe().expect("current_exe");
    let command = format!(
        "s3:bucket={}:endpoint={}:region={}:credentials_file={}:profile=bench{extra}",
        wl.bucket,
        t.endpoint,
        t.region,
        creds.display()
    );
    let (level, since) = match wl.kind {
        Kind::Listing => ("I", now_secs() + 60),
        _ => ("F", 0),
    };
    let tool = if extra.is_empty() {
        "s3-fd (ours)".to_string()
    } else {
        format!("s3-fd (ours, {})", extra.trim_start_matches(':'))
    };
    pause();
    let mut cmd = Command::new(&exe);
    cmd.args([
        "run-one",
        "--command",
        &command,
        "--level",
        level,
        "--since",
        &since.to_string(),
    ])
    .env("HARNESS_NO_BUILD", "1");
    let (m, around) = measured(t, || {
        measure::run(&mut cmd, Stdout::Keep, Duration::from_secs(1200))
    });
    let mut row = around.row(
        t,
        wl,
        tool,
        true,
        format!("s3fd-bench run-one --level {level} --command '{command}'"),
    );
    match m {
        Err(e) => row.note = format!("could not run: {e}"),
        Ok(m) => {
            row.record(&m, &around);
            let out = String::from_utf8_lossy(&m.stdout);
            let line = out
                .lines()
                .find(|l| l.starts_with("RESULT "))
                .unwrap_or_default();
            let num = |k: &str| field(line, k).and_then(|v| v.parse::<f64>().ok());
            row.job_wall = num("job_wall");
            row.job_cpu = num("job_cpu");
            row.hwm_before_kib = num("hwm_before_kib").map(|v| v as u64);
            if let Some(h) = num("hwm_kib") {
                row.rss_kib = h as u64;
            }
            let files = num("files").unwrap_or(0.0) as u64;
            let bytes = num("bytes").unwrap_or(0.0) as u64;
            let unchanged = num("unchanged").unwrap_or(0.0) as u64;
            let (want_files, want_unchanged) = match wl.kind {
                Kind::Listing => (0, wl.objects),
                _ => (wl.objects, 0),
            };
            if !m.ok() {
                row.note = m.failure(5);
            } else if files != want_files || bytes != wl.bytes || unchanged != want_unchanged {
                row.note = format!(
                    "WRONG: saved {files} files / {bytes} bytes / {unchanged} unchanged, \
                     expected {want_files} / {} / {want_unchanged}",
                    wl.bytes
                );
            } else {
                row.ok = true;
            }
        }
    }
    row
}

/// Runs longer than this (seconds) are not repeated.
const SLOW_RUN: f64 = 30.0;

fn keep_best(best: Option<Row>, row: Row) -> Row {
    match best {
        Some(b) if b.ok && (!row.ok || b.rate() >= row.rate()) => b,
        _ => row,
    }
}

/// One run of a peer.
fn run_peer(ctx: &Ctx, t: &Target, wl: &Workload, p: &peers::PeerRun) -> Row {
    if let Some(d) = &p.dest {
        reset_dir(d);
    }
    pause();
    let exe = std::env::current_exe().expect("current_exe");
    let rusage_file = ctx.work.join("peer-rusage");
    let _ = std::fs::remove_file(&rusage_file);
    let (m, around) = measured(t, || {
        measure::run(
            &mut p.command(Some((&exe, &rusage_file))),
            p.stdout,
            Duration::from_secs(1800),
        )
    });
    let mut row = Row {
        objects: p.objects,
        bytes: p.bytes,
        note: p.note.clone(),
        ..around.row(t, wl, p.label.clone(), false, p.shell_line())
    };
    match m {
        Err(e) => row.note = format!("could not run: {e}"),
        Ok(m) => {
            row.record(&m, &around);
            // The peer's own figures, from the launcher (its process tree only).
            if let Ok(text) = std::fs::read_to_string(&rusage_file) {
                let line = text.trim();
                if let Some(c) = field(line, "cpu").and_then(|v| v.parse().ok()) {
                    row.client_cpu = c;
                }
                if let Some(r) = field(line, "maxrss_kib").and_then(|v| v.parse().ok()) {
                    row.rss_kib = r;
                }
            }
            let mut problem = None;
            if !m.ok() {
                problem = Some(m.failure(3));
            } else if let Some(d) = &p.dest {
                let (files, bytes) = tree_size(d);
                if files != p.objects || bytes != p.bytes {
                    problem = Some(format!(
                        "WRONG: wrote {files} files / {bytes} bytes, expected {} / {}",
                        p.objects, p.bytes
                    ));
                }
            } else if p.stdout == Stdout::CountLines && m.stdout_lines < p.objects {
                problem = Some(format!(
                    "WRONG: listed {} lines, expected {}",
                    m.stdout_lines, p.objects
                ));
            }
            match problem {
                Some(why) => {
                    row.note = if row.note.is_empty() {
                        why
                    } else {
                        format!("{why}; {}", row.note)
                    }
                }
                None => row.ok = true,
            }
        }
    }
    if let Some(d) = &p.dest {
        reset_dir(d);
    }
    row
}

/// One measured tool of a workload.
enum Runner<'a> {
    /// Ours, with these options appended to the defaults.
    Ours(&'a str),
    Peer(peers::PeerRun),
}

/// Runs every tool of a workload `ctx.repeat` times in rounds (each round runs each tool once,
/// in the same order), so that a slow spell of the machine falls on every tool alike; the
/// fastest run of each tool is kept. A run longer than [`SLOW_RUN`] is not repeated.
fn run_rounds(ctx: &Ctx, t: &Target, wl: &Workload, creds: &Path, runners: &[Runner]) -> Vec<Row> {
    let mut best: Vec<Option<Row>> = runners.iter().map(|_| None).collect();
    let mut slow = vec![false; runners.len()];
    for _ in 0..ctx.repeat {
        for (i, runner) in runners.iter().enumerate() {
            if slow[i] {
                continue;
            }
            let row = match runner {
                Runner::Ours(extra) => run_ours(t, wl, creds, extra),
                Runner::Peer(p) => run_peer(ctx, t, wl, p),
            };
            report::progress(&row);
            slow[i] = row.wall > SLOW_RUN;
            best[i] = Some(keep_best(best[i].take(), row));
        }
    }
    best.into_iter().flatten().collect()
}

fn cmd_all(args: &[String]) -> i32 {
    match all(args) {
        Ok(()) => 0,
        Err(e) => {
            eprintln!("s3fd-bench: {e}");
            1
        }
    }
}

fn all(args: &[String]) -> Result<(), String> {
    let opts = Opts::parse(args)?;
    opts.check(&[
        "servers",
        "workloads",
        "peers",
        "ours-options",
        "ceph-big",
        "ceph-4k",
        "ceph-1k",
        "repeat",
        "markdown",
        "s5cmd-workers",
        "rclone-transfers",
        "aws-requests",
        "aws-max-objects",
    ])?;
    let servers = opts.list("servers", "memory,ceph");
    let workloads = opts.list("workloads", "big,small4k,small1k,listing");
    let wanted_peers = opts.list("peers", "all");
    let tune = Tuning {
        s5cmd_workers: opts.num("s5cmd-workers", 32)? as u32,
        s5cmd_concurrency: 16,
        rclone_transfers: opts.num("rclone-transfers", 32)? as u32,
        aws_requests: opts.num("aws-requests", 32)? as u32,
        aws_max_objects: opts.num("aws-max-objects", 20_000)?,
    };
    let mut ours_variants = vec![String::new()];
    ours_variants.extend(opts.all("ours-options"));
    let ctx = Ctx {
        work: work_dir()?,
        repeat: opts.num("repeat", 1)?.max(1) as u32,
    };
    peers::write_configs(&ctx.work, tune.aws_requests).map_err(|e| e.to_string())?;

    // The plugin: built by the harness (cargo build --release of the plugins) once, here.
    let so = harness::plugin_so(Flavour::Bareos);
    let facts = harness::plugin_facts(Flavour::Bareos);
    if let Some(why) = &facts.rejection {
        return Err(format!("{}: rejected: {why}", so.display()));
    }
    let peers = Peers::find(&wanted_peers);
    let machine = report::Machine::collect(&so, &peers);
    eprintln!("[bench] plugin {}", so.display());
    for (tool, path) in [
        ("s5cmd", &peers.s5cmd),
        ("rclone", &peers.rclone),
        ("aws", &peers.aws),
    ] {
        match path {
            Some(p) => eprintln!("[bench] {tool}: {}", p.display()),
            None if wanted_peers.iter().any(|w| w == tool || w == "all") => {
                eprintln!("[bench] {tool}: not installed (skipped; tests/bench/install-peers.sh)")
            }
            None => {}
        }
    }

    let mut rows: Vec<Row> = Vec::new();
    let mut targets: Vec<(Target, Vec<Workload>)> = Vec::new();
    let mut _memory: Option<MemoryServer> = None;
    for s in &servers {
        match s.as_str() {
            "memory" => {
                let buckets: Vec<String> = MEMORY_BUCKETS.iter().map(|b| b.to_string()).collect();
                let m = start_memory_server(&buckets)?;
                let t = Target {
                    name: "memory-s3".into(),
                    endpoint: m.endpoint.clone(),
                    access_key: "bench-access-key".into(),
                    secret_key: "bench-secret-key".into(),
                    region: "us-east-1".into(),
                    server_pids: vec![m.child.id()],
                    rclone_provider: "Other",
                    stats: true,
                };
                eprintln!("[bench] memory-s3 at {} (pid {})", m.endpoint, m.child.id());
                _memory = Some(m);
                targets.push((t, memory_workloads()));
            }
            "ceph" => {
                let (t, wls) = ceph::target(
                    opts.num("ceph-big", 1 << 30)?,
                    opts.num("ceph-4k", 2000)?,
                    opts.num("ceph-1k", 2000)?,
                )?;
                eprintln!(
                    "[bench] ceph rgw at {} (pids {:?})",
                    t.endpoint, t.server_pids
                );
                targets.push((t, wls));
            }
            other => return Err(format!("unknown server {other:?} (memory, ceph)")),
        }
    }
    let started = Instant::now();
    for (t, wls) in &targets {
        let creds = write_credentials(&ctx.work, t)?;
        for wl in wls.iter().filter(|w| workloads.contains(&w.id)) {
            eprintln!("[bench] == {} on {} ==", wl.title, t.name);
            let runners: Vec<Runner> = ours_variants
                .iter()
                .map(|extra| Runner::Ours(extra))
                .chain(
                    peers::runs(&peers, t, wl, &ctx.work, &tune)
                        .into_iter()
                        .map(Runner::Peer),
                )
                .collect();
            rows.extend(run_rounds(&ctx, t, wl, &creds, &runners));
        }
    }
    let text = report::markdown(&machine, &rows, started.elapsed(), args);
    println!("{text}");
    if let Some(path) = opts.get("markdown") {
        std::fs::write(path, &text).map_err(|e| format!("{path}: {e}"))?;
    }
    let _ = std::fs::remove_dir_all(&ctx.work);
    Ok(())
}
