//! A real Bacula 9.6 dump server for end-to-end tests: Debian's director (SQLite catalog),
//! storage daemon (virtual tape autochanger with two drives, data spooling, a Next Pool for
//! VirtualFull) and [`CLIENTS`] file daemons (dump servers), each with the built `s3-fd.so`,
//! driven through `dump-server/stack/*.sh` and bconsole.
//!
//! [`stack()`] starts it once per test process and hands out a guard that serializes the tests
//! (they share the daemons): the first call installs Bacula if needed (`stack/install.sh`, apt),
//! builds the plugin (the harness' `plugin_so`, same profile as the tests), resets the state in
//! `<workspace>/.state/bacula-e2e` and starts the daemons on free loopback ports (from 19111 on:
//! director, first fd, sd, then the other fds).
//! A watchdog started with the daemons stops them once the test process is gone.
//!
//! Jobs run through `run-job.sh` / `restore.sh`, which wait with a timeout
//! (`BACULA_E2E_JOB_TIMEOUT`, default 180 s) and print the job log from the catalog. A failing
//! test prints the daemons' logs ([`StackGuard`]).

use std::fmt;
use std::fs::{self, File, OpenOptions};
use std::net::TcpListener;
use std::os::unix::io::AsRawFd;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::{Mutex, MutexGuard, OnceLock};
use std::time::Instant;

use crate::harness::{plugin_so, Flavour};
use crate::servers::workspace_root;

/// First port tried for the director (fd +1, sd +2, the other fds +3, +4, …).
const BASE_PORT: u16 = 19111;

/// File daemons (Clients) of the stack: `dump-fd`, `dump-fd-2`, `dump-fd-3`.
pub const CLIENTS: usize = 3;

/// The Client name of file daemon `n` (1..=[`CLIENTS`]).
pub fn client_name(n: usize) -> String {
    assert!((1..=CLIENTS).contains(&n), "no file daemon {n}");
    if n == 1 {
        "dump-fd".to_string()
    } else {
        format!("dump-fd-{n}")
    }
}

/// The running stack of this test process.
pub struct BaculaStack {
    pub home: PathBuf,
    pub dir_port: u16,
    pub fd_port: u16,
    pub sd_port: u16,
    job_timeout: u64,
    /// Held for the life of the process: one e2e run per workspace at a time.
    _lock: File,
}

/// What a finished job left in the catalog, with everything the scripts printed.
#[derive(Clone, Debug)]
pub struct JobResult {
    pub jobid: u32,
    /// JobStatus: T (OK), E (error), f (fatal), A (cancelled), …
    pub status: char,
    pub level: char,
    pub files: u64,
    pub bytes: u64,
    pub errors: u64,
    /// Exit status of the script (0 only for JobStatus T).
    pub exit_code: i32,
    /// The script's stdout: the job log from the catalog and the summary line.
    pub log: String,
    pub stderr: String,
}

impl fmt::Display for JobResult {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "JobId {} status {} level {} files {} bytes {} errors {} (exit {})\n{}\n{}",
            self.jobid,
            self.status,
            self.level,
            self.files,
            self.bytes,
            self.errors,
            self.exit_code,
            self.log,
            self.stderr
        )
    }
}

/// One row of the File table.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CatalogFile {
    pub jobid: u32,
    pub name: String,
    /// 0 marks a file that an accurate job recorded as deleted.
    pub file_index: i64,
}

fn stack_dir() -> PathBuf {
    workspace_root().join("dump-server").join("stack")
}

fn port_free(port: u16) -> bool {
    TcpListener::bind(("127.0.0.1", port)).is_ok()
}

fn lock_exclusive(f: &File) {
    // SAFETY: flock on a file descriptor that `f` owns.
    while unsafe { libc::flock(f.as_raw_fd(), libc::LOCK_EX) } != 0 {
        let e = std::io::Error::last_os_error();
        assert_eq!(e.kind(), std::io::ErrorKind::Interrupted, "flock: {e}");
    }
}

fn describe(out: &Output) -> String {
    format!(
        "{}\n--- stdout ---\n{}\n--- stderr ---\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

impl BaculaStack {
    fn start() -> Result<BaculaStack, String> {
        let started = Instant::now();
        let home = workspace_root().join(".state").join("bacula-e2e");
        fs::create_dir_all(&home).map_err(|e| format!("creating {}: {e}", home.display()))?;
        let lock = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(home.with_extension("lock"))
            .map_err(|e| format!("opening the e2e lock: {e}"))?;
        lock_exclusive(&lock);
        let job_timeout = std::env::var("BACULA_E2E_JOB_TIMEOUT")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(180);

        // Bacula itself (idempotent; apt-get only the first time on a machine).
        let out = Command::new("bash")
            .arg(stack_dir().join("install.sh"))
            .stdin(Stdio::null())
            .output()
            .map_err(|e| format!("running install.sh: {e}"))?;
        if !out.status.success() {
            return Err(format!(
                "dump-server/stack/install.sh failed: {}",
                describe(&out)
            ));
        }
        let plugin = plugin_so(Flavour::Bacula);

        let mut stack = BaculaStack {
            home,
            dir_port: 0,
            fd_port: 0,
            sd_port: 0,
            job_timeout,
            _lock: lock,
        };
        // Whatever an earlier run left behind (same pids files) goes first.
        stack.script("stop.sh", &[])?;
        let ports = 2 + CLIENTS as u16;
        let mut base = BASE_PORT;
        while !(base..base + ports).all(port_free) {
            base += 10;
            if base > BASE_PORT + 400 {
                return Err(format!(
                    "no {ports} free loopback ports in a row from 19111 on"
                ));
            }
        }
        (stack.dir_port, stack.fd_port, stack.sd_port) = (base, base + 1, base + 2);
        stack.script("configure.sh", &["--reset"])?;
        let pid = std::process::id().to_string();
        let plugin = plugin.display().to_string();
        stack.script_env(
            "start.sh",
            &[],
            &[("DUMP_PLUGIN", &plugin), ("DUMP_WATCH_PID", &pid)],
        )?;
        eprintln!(
            "[bacula-e2e] stack up in {:.1}s: {} (director :{}, fd :{}, sd :{})",
            started.elapsed().as_secs_f64(),
            stack.home.display(),
            stack.dir_port,
            stack.fd_port,
            stack.sd_port
        );
        Ok(stack)
    }

    fn command(&self, script: &str) -> Command {
        let mut cmd = Command::new("bash");
        cmd.arg(stack_dir().join(script))
            .env("DUMP_HOME", &self.home)
            .env("DUMP_DIR_PORT", self.dir_port.to_string())
            .env("DUMP_FD_PORT", self.fd_port.to_string())
            .env("DUMP_SD_PORT", self.sd_port.to_string())
            .env("DUMP_FD_COUNT", CLIENTS.to_string())
            .env("DUMP_JOB_TIMEOUT", self.job_timeout.to_string())
            .stdin(Stdio::null());
        cmd
    }

    fn run(&self, script: &str, args: &[&str], envs: &[(&str, &str)]) -> Output {
        let mut cmd = self.command(script);
        cmd.args(args);
        for (k, v) in envs {
            cmd.env(k, v);
        }
        cmd.output()
            .unwrap_or_else(|e| panic!("running {script}: {e}"))
    }

    fn script(&self, script: &str, args: &[&str]) -> Result<Output, String> {
        self.script_env(script, args, &[])
    }

    fn script_env(
        &self,
        script: &str,
        args: &[&str],
        envs: &[(&str, &str)],
    ) -> Result<Output, String> {
        let out = self.run(script, args, envs);
        if out.status.success() {
            Ok(out)
        } else {
            Err(format!(
                "dump-server/stack/{script} {args:?} failed: {}\n{}",
                describe(&out),
                self.daemon_logs()
            ))
        }
    }

    /// Adds (or replaces) job `name` with FileSet `<name>-set` holding `Plugin = "<plugin>"`,
    /// and reloads the director.
    pub fn define_job(&self, name: &str, plugin: &str, accurate: bool) {
        self.define_job_on(name, plugin, accurate, &client_name(1));
    }

    /// As [`define_job`](Self::define_job), run by file daemon `client` ([`client_name`]).
    pub fn define_job_on(&self, name: &str, plugin: &str, accurate: bool, client: &str) {
        let mut args = vec![name, plugin, "--client", client];
        if accurate {
            args.push("--accurate");
        }
        if let Err(e) = self.script("define-job.sh", &args) {
            panic!("{e}");
        }
    }

    fn job_result(&self, out: Output) -> JobResult {
        let log = String::from_utf8_lossy(&out.stdout).into_owned();
        let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
        let exit_code = out.status.code().unwrap_or(-1);
        let Some(line) = log.lines().rev().find(|l| l.starts_with("JOBID=")) else {
            panic!(
                "the job script printed no JOBID line (exit {exit_code}):\n{log}\n{stderr}\n{}",
                self.daemon_logs()
            );
        };
        let field = |name: &str| -> String {
            line.split(' ')
                .find_map(|kv| kv.strip_prefix(name).and_then(|v| v.strip_prefix('=')))
                .unwrap_or("")
                .to_string()
        };
        let num = |name: &str| field(name).parse::<u64>().unwrap_or(0);
        JobResult {
            jobid: num("JOBID") as u32,
            status: field("STATUS").chars().next().unwrap_or('?'),
            level: field("LEVEL").chars().next().unwrap_or('?'),
            files: num("FILES"),
            bytes: num("BYTES"),
            errors: num("ERRORS"),
            exit_code,
            log,
            stderr,
        }
    }

    /// Runs backup job `job` at `level` (Full, Incremental, Differential) and waits for it.
    pub fn backup(&self, job: &str, level: &str) -> JobResult {
        let out = self.run("run-job.sh", &["backup", job, level], &[]);
        self.job_result(out)
    }

    /// Queues backup jobs `jobs` at `level`, all in one bconsole session, and returns their
    /// JobIds at once (no waiting): they run at the same time, as far as the Maximum Concurrent
    /// Jobs of director, clients and storage allow. [`wait`](Self::wait) for each.
    pub fn queue(&self, jobs: &[&str], level: &str) -> Vec<u32> {
        let mut args = vec!["queue", level];
        args.extend_from_slice(jobs);
        let out = self.run("run-job.sh", &args, &[]);
        let text = String::from_utf8_lossy(&out.stdout);
        let ids: Vec<u32> = text
            .lines()
            .filter_map(|l| l.strip_prefix("JOBID=")?.trim().parse().ok())
            .collect();
        assert!(
            out.status.success() && ids.len() == jobs.len(),
            "run-job.sh queue {level} {jobs:?}: {}\n{}",
            describe(&out),
            self.daemon_logs()
        );
        ids
    }

    /// Waits for a queued job (at most the job timeout) and reports it as [`backup`](Self::backup).
    pub fn wait(&self, jobid: u32) -> JobResult {
        let id = jobid.to_string();
        let out = self.run("run-job.sh", &["wait", &id], &[]);
        self.job_result(out)
    }

    /// StartTime and EndTime of a finished job, in epoch seconds (the catalog keeps whole
    /// seconds, local time of the director; both read the same way, so they compare).
    pub fn job_times(&self, jobid: u32) -> (i64, i64) {
        let row = self.sql(&format!(
            "SELECT strftime('%s', StartTime), strftime('%s', EndTime) FROM Job WHERE JobId = {jobid};"
        ));
        let (a, b) = row
            .trim()
            .split_once('|')
            .unwrap_or_else(|| panic!("no times for JobId {jobid}: {row:?}"));
        (
            a.parse().unwrap_or_else(|_| panic!("StartTime {a:?}")),
            b.parse().unwrap_or_else(|_| panic!("EndTime {b:?}")),
        )
    }

    /// Restores, in one restore job run by file daemon `client`, the union of the states of
    /// the backups `jobids` (each with its Full/Diff/Incr chain; e.g. the shard jobs of one
    /// bucket, of several clients) into `where_`; `paths` as for [`restore`](Self::restore).
    pub fn restore_union(
        &self,
        jobids: &[u32],
        where_: &Path,
        paths: &[&str],
        client: &str,
    ) -> JobResult {
        let ids: Vec<String> = jobids.iter().map(|j| j.to_string()).collect();
        let ids = ids.join(",");
        let w = where_.display().to_string();
        let mut args = vec![ids.as_str(), w.as_str()];
        args.extend_from_slice(paths);
        let out = self.run("restore.sh", &args, &[("DUMP_RESTORE_CLIENT", client)]);
        self.job_result(out)
    }

    /// Restores the state of backup `jobid` (its whole Full/Diff/Incr chain) into `where_`:
    /// everything if `paths` is empty, else the catalog names given ("/bucket/dir/" for a
    /// directory, "/bucket/dir/name" for one object), selected through the restore tree.
    pub fn restore(&self, jobid: u32, where_: &Path, paths: &[&str]) -> JobResult {
        let id = jobid.to_string();
        let w = where_.display().to_string();
        let mut args = vec![id.as_str(), w.as_str()];
        args.extend_from_slice(paths);
        let out = self.run("restore.sh", &args, &[]);
        self.job_result(out)
    }

    /// `estimate job=<job> level=<level> listing`: bconsole's output and whether it said OK.
    pub fn estimate(&self, job: &str, level: &str) -> (bool, String) {
        let out = self.run("run-job.sh", &["estimate", job, level], &[]);
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        (out.status.success(), text)
    }

    /// One SQL query against the catalog (sqlite3 CLI; columns separated by `|`).
    pub fn sql(&self, query: &str) -> String {
        let db = self.home.join("var/dir/bacula.db");
        let out = Command::new("sqlite3")
            .args(["-cmd", ".timeout 10000"])
            .arg(&db)
            .arg(query)
            .stdin(Stdio::null())
            .output()
            .unwrap_or_else(|e| panic!("running sqlite3: {e}"));
        assert!(
            out.status.success(),
            "sqlite3 {query:?}: {}",
            describe(&out)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// The File rows of `jobid` (name = Path.Path || Filename.Name).
    pub fn catalog_files(&self, jobid: u32) -> Vec<CatalogFile> {
        let rows = self.sql(&format!(
            "SELECT File.FileIndex, Path.Path || Filename.Name FROM File \
             JOIN Path ON Path.PathId = File.PathId \
             JOIN Filename ON Filename.FilenameId = File.FilenameId \
             WHERE File.JobId = {jobid} ORDER BY 2;"
        ));
        rows.lines()
            .filter_map(|l| l.split_once('|'))
            .map(|(idx, name)| CatalogFile {
                jobid,
                name: name.to_string(),
                file_index: idx.parse().unwrap_or(-1),
            })
            .collect()
    }

    /// The pid of daemon `name` (dir, fd, fd-2, fd-3, sd) as start.sh recorded it, if alive.
    pub fn daemon_pid(&self, name: &str) -> Option<i32> {
        let text =
            fs::read_to_string(self.home.join("var/run").join(format!("{name}.pid"))).ok()?;
        let pid: i32 = text.trim().parse().ok()?;
        // SAFETY: signal 0 only checks that the process exists.
        (pid > 0 && unsafe { libc::kill(pid, 0) } == 0).then_some(pid)
    }

    /// The last lines of every daemon log, for a failing test's output.
    pub fn daemon_logs(&self) -> String {
        let mut s = String::from("===== Bacula daemon logs (last 60 lines each) =====\n");
        let mut files = vec![
            "dir.out".to_string(),
            "sd.out".to_string(),
            "fd.out".to_string(),
        ];
        files.extend((2..=CLIENTS).map(|n| format!("fd-{n}.out")));
        files.push("bacula.log".to_string());
        for f in &files {
            let p = self.home.join("var/log").join(f);
            let text = fs::read_to_string(&p).unwrap_or_else(|e| format!("({e})\n"));
            let lines: Vec<&str> = text.lines().collect();
            let tail = &lines[lines.len().saturating_sub(60)..];
            s.push_str(&format!(
                "----- {} -----\n{}\n",
                p.display(),
                tail.join("\n")
            ));
        }
        s
    }
}

/// The shared stack, started on first use; the guard serializes the tests that use it.
/// Panics (with the scripts' output) if it cannot be started.
pub fn stack() -> StackGuard {
    static STACK: OnceLock<Result<BaculaStack, String>> = OnceLock::new();
    static SERIAL: Mutex<()> = Mutex::new(());
    let serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let stack = match STACK.get_or_init(BaculaStack::start) {
        Ok(s) => s,
        Err(e) => panic!("could not start the Bacula stack: {e}"),
    };
    StackGuard {
        stack,
        _serial: serial,
    }
}

/// Exclusive use of the stack for one test; prints the daemon logs if the test panics.
pub struct StackGuard {
    stack: &'static BaculaStack,
    _serial: MutexGuard<'static, ()>,
}

impl std::ops::Deref for StackGuard {
    type Target = BaculaStack;
    fn deref(&self) -> &BaculaStack {
        self.stack
    }
}

impl Drop for StackGuard {
    fn drop(&mut self) {
        if std::thread::panicking() {
            eprintln!("{}", self.stack.daemon_logs());
        }
    }
}

/// Every regular file below `dir`, by path.
pub fn files_below(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut todo = vec![dir.to_path_buf()];
    while let Some(d) = todo.pop() {
        let Ok(entries) = fs::read_dir(&d) else {
            continue;
        };
        for e in entries.flatten() {
            let p = e.path();
            if p.is_dir() {
                todo.push(p);
            } else {
                out.push(p);
            }
        }
    }
    out.sort();
    out
}

/// The restore in `dir` holds exactly `expected` (objects of `bucket` by key), byte for byte,
/// and nothing else.
pub fn assert_restored(
    dir: &Path,
    bucket: &str,
    expected: &std::collections::BTreeMap<String, Vec<u8>>,
) {
    use crate::scenario::{expected_name, restored_path};
    let mut want = Vec::new();
    for (key, bytes) in expected {
        let path = restored_path(dir, &expected_name(bucket, key));
        let got = fs::read(&path)
            .unwrap_or_else(|e| panic!("object {key:?}: reading {}: {e}", path.display()));
        assert!(
            got == *bytes,
            "object {key:?}: {} differs ({} bytes, expected {})",
            path.display(),
            got.len(),
            bytes.len()
        );
        use std::os::unix::fs::PermissionsExt;
        let mode = fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o640, "mode of {}", path.display());
        want.push(path);
    }
    want.sort();
    assert_eq!(
        files_below(dir),
        want,
        "the files restored into {}",
        dir.display()
    );
}
