//! A real Bacula 9.6 dump server for end-to-end tests: Debian's director (SQLite catalog),
//! storage daemon (virtual tape autochanger, data spooling) and file daemon with the built
//! `s3-fd.so`, driven through `dump-server/stack/*.sh` and bconsole.
//!
//! [`stack()`] starts it once per test process and hands out a guard that serializes the tests
//! (they share the daemons): the first call installs Bacula if needed (`stack/install.sh`, apt),
//! builds the plugin (the harness' `plugin_so`, same profile as the tests), resets the state in
//! `<workspace>/.state/bacula-e2e` and starts the daemons on free loopback ports (from 19111 on).
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

/// First port tried for the director (fd +1, sd +2).
const BASE_PORT: u16 = 19111;

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
        let mut base = BASE_PORT;
        while !(port_free(base) && port_free(base + 1) && port_free(base + 2)) {
            base += 10;
            if base > BASE_PORT + 400 {
                return Err("no three free loopback ports from 19111 on".into());
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
        let mut args = vec![name, plugin];
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

    /// The pid of daemon `name` (dir, fd, sd) as start.sh recorded it, if it is alive.
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
        for f in ["dir.out", "sd.out", "fd.out", "bacula.log"] {
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
