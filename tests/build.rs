//! Builds the C side of the host harness:
//! * `src/host_shim.c` — the C-variadic core callbacks (`registerBareosEvents`, `JobMessage`, …)
//!   that stable Rust cannot define; linked into the `integration-tests` library.
//! * `src/harness/fake_plugin.c` — a tiny plugin for both ABIs, built twice as shared objects into
//!   `OUT_DIR`; the harness' own unit tests drive it to check the emulated call sequences without
//!   needing the real plugin or an S3 server.

use std::env;
use std::path::PathBuf;
use std::process::Command;

fn main() {
    println!("cargo:rerun-if-changed=src/host_shim.c");
    println!("cargo:rerun-if-changed=src/harness/fake_plugin.c");

    cc::Build::new()
        .file("src/host_shim.c")
        .warnings(true)
        .extra_warnings(true)
        .compile("host_shim");

    let out = PathBuf::from(env::var("OUT_DIR").expect("OUT_DIR"));
    let compiler = cc::Build::new().get_compiler();
    for (flavour, define) in [("bareos", "FAKE_BAREOS"), ("bacula", "FAKE_BACULA")] {
        let so = out.join(format!("libfake_fd_{flavour}.so"));
        let mut cmd: Command = compiler.to_command();
        cmd.args(["-shared", "-fPIC", "-O1", "-Wall", "-Wextra", "-std=gnu11"])
            .arg(format!("-D{define}"))
            .arg("src/harness/fake_plugin.c")
            .arg("-o")
            .arg(&so);
        let status = cmd.status().expect("run the C compiler for fake_plugin.c");
        assert!(status.success(), "building {} failed", so.display());
    }
}
