//! Running the `dump-server` binary from a test, as an operator runs it.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

/// `dump-server`, built like the plugins (same profile and target directory).
pub fn dump_server() -> &'static Path {
    static BIN: OnceLock<PathBuf> = OnceLock::new();
    BIN.get_or_init(crate::harness::dump_server_bin)
}

/// What a run printed and how it ended.
pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

/// `dump-server ARGS…`; stdout must be UTF-8, stderr is taken as it comes.
pub fn run(args: &[&str]) -> Run {
    let out = Command::new(dump_server())
        .args(args)
        .output()
        .expect("running dump-server");
    Run {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8(out.stdout).unwrap(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

/// `dump-server plan ARGS…`, which must succeed.
pub fn plan(args: &[&str]) -> Run {
    let mut all = vec!["plan"];
    all.extend_from_slice(args);
    let r = run(&all);
    assert_eq!(r.code, 0, "dump-server {all:?}:\n{}{}", r.stdout, r.stderr);
    r
}
