//! What a new operator meets first: the scripts' prerequisites and usage, and the README and
//! docs pointing only at files in the repository.

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::{Command, Output};

use integration_tests::servers::workspace_root;

fn text(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// `tests/scripts/check-toolchain.sh` with only `dir` (and the basic tools) on PATH.
fn check_toolchain_with(dir: &Path) -> Output {
    let root = workspace_root();
    Command::new("bash")
        .arg(root.join("tests/scripts/check-toolchain.sh"))
        .env("PATH", format!("{}:/usr/bin:/bin", dir.display()))
        .env("HOME", dir)
        .output()
        .unwrap()
}

fn scratch(tag: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("s3fd-toolchain-{tag}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn fake_tool(dir: &Path, name: &str, version_line: &str) {
    let path = dir.join(name);
    std::fs::write(&path, format!("#!/bin/sh\necho '{version_line}'\n")).unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
}

#[test]
fn a_missing_or_old_rust_toolchain_is_named_at_once() {
    let manifest = std::fs::read_to_string(workspace_root().join("Cargo.toml")).unwrap();
    let need = manifest
        .lines()
        .find_map(|l| l.strip_prefix("rust-version = \""))
        .and_then(|v| v.strip_suffix('"'))
        .expect("rust-version in Cargo.toml");

    // No cargo at all (nor ~/.cargo/env).
    let empty = scratch("none");
    let out = check_toolchain_with(&empty);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    let said = text(&out);
    assert!(
        said.contains(&format!(
            "needs a Rust toolchain (cargo and rustc) >= {need}"
        )) && said.contains("cargo is not on PATH")
            && said.contains("rustup"),
        "{said}"
    );

    // Too old.
    let old = scratch("old");
    fake_tool(&old, "cargo", "cargo 1.70.0 (0000000 2023-06-01)");
    fake_tool(&old, "rustc", "rustc 1.70.0 (0000000 2023-06-01)");
    let out = check_toolchain_with(&old);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(
        text(&out).contains("this machine has 1.70.0"),
        "{}",
        text(&out)
    );

    // New enough: silent success.
    let new = scratch("new");
    fake_tool(&new, "cargo", "cargo 9.99.0 (0000000 2099-01-01)");
    fake_tool(&new, "rustc", "rustc 9.99.0 (0000000 2099-01-01)");
    let out = check_toolchain_with(&new);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert!(text(&out).is_empty(), "{}", text(&out));
    for d in [empty, old, new] {
        let _ = std::fs::remove_dir_all(d);
    }
}

#[test]
fn demo_help_prints_only_the_usage_and_a_wrong_argument_is_refused() {
    let demo = workspace_root().join("dump-server/demo.sh");
    let out = Command::new("bash")
        .arg(&demo)
        .arg("--help")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let help = String::from_utf8_lossy(&out.stdout);
    assert!(help.starts_with("usage: dump-server/demo.sh"), "{help}");
    assert!(help.lines().count() <= 6, "more than the usage:\n{help}");
    assert!(out.stderr.is_empty(), "{}", text(&out));
    // Nothing was started or built: --help returns at once.
    assert!(!help.contains("==="), "{help}");

    let out = Command::new("bash")
        .arg(&demo)
        .arg("bogus")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(
        text(&out).contains("unknown argument 'bogus'") && text(&out).contains("usage:"),
        "{}",
        text(&out)
    );
}

/// The project's own docs keep what a reader needs: no pointers to notes outside the repository.
#[test]
fn readme_and_docs_point_only_inside_the_repository() {
    let root = workspace_root();
    let mut files = vec![root.join("README.md"), root.join("dump-server/README.md")];
    for entry in std::fs::read_dir(root.join("docs")).unwrap() {
        files.push(entry.unwrap().path());
    }
    for dir in ["sys-headers/bareos", "sys-headers/bacula"] {
        for entry in std::fs::read_dir(root.join(dir)).unwrap() {
            files.push(entry.unwrap().path());
        }
    }
    let mut found = Vec::new();
    for file in &files {
        let Ok(text) = std::fs::read_to_string(file) else {
            continue;
        };
        for (n, line) in text.lines().enumerate() {
            if line.contains("shared/abi") || line.contains("](../") || line.contains("../shared") {
                found.push(format!("{}:{}: {line}", file.display(), n + 1));
            }
            // Relative links must name files that exist.
            for link in line.split("](").skip(1) {
                let target = link.split(')').next().unwrap_or("");
                if target.starts_with("http") || target.starts_with('#') || target.is_empty() {
                    continue;
                }
                let path = target.split('#').next().unwrap();
                if !file.parent().unwrap().join(path).exists() {
                    found.push(format!(
                        "{}:{}: broken link {target}",
                        file.display(),
                        n + 1
                    ));
                }
            }
        }
    }
    assert!(files.len() > 5);
    assert!(found.is_empty(), "{}", found.join("\n"));
}
