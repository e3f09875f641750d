//! What a person reads (job messages, the daemon's debug log, dump-server's output) is written
//! with `Display`: no `{:?}` prints of Rust values (`Other("…")`, `Some(…)`, byte arrays) in any
//! format string outside the tests. Keys and values are quoted with `config::naming::quoted`.

use std::path::{Path, PathBuf};

fn sources(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            sources(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// `file:line: text` of every debug format outside `#[cfg(test)]` modules under `dirs`.
fn debug_formats(dirs: &[&str]) -> Vec<String> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let mut files = Vec::new();
    for dir in dirs {
        sources(&root.join(dir), &mut files);
    }
    assert!(files.len() > 10, "found only {} source files", files.len());
    // Modules declared `#[cfg(test)] mod name;` live in test-only files.
    let mut test_only = Vec::new();
    for file in &files {
        let text = std::fs::read_to_string(file).unwrap();
        for rest in text.split("#[cfg(test)]\nmod ").skip(1) {
            if let Some((name, _)) = rest.split_once(';') {
                test_only.push(format!("{name}.rs"));
            }
        }
    }
    let mut found = Vec::new();
    for file in files {
        let text = std::fs::read_to_string(&file).unwrap();
        // Test-only files and the test module at the end of a file are not messages.
        let name = file.file_name().unwrap().to_string_lossy().to_string();
        if text.starts_with("#![cfg(test)]") || test_only.contains(&name) {
            continue;
        }
        let code = text.split("\n#[cfg(test)]").next().unwrap();
        for (n, line) in code.lines().enumerate() {
            let line_trimmed = line.trim_start();
            if line_trimmed.starts_with("//") {
                continue;
            }
            if line.contains(":?}") || line.contains(":#?}") {
                found.push(format!("{}:{}: {}", file.display(), n + 1, line.trim()));
            }
        }
    }
    found
}

#[test]
fn no_debug_formats_in_the_plugin_and_dump_server() {
    let found = debug_formats(&["plugin/src", "dump-server/src"]);
    assert!(found.is_empty(), "debug formats:\n{}", found.join("\n"));
}

#[test]
fn the_scan_finds_a_debug_format_where_there_is_one() {
    let dir = std::env::temp_dir().join(format!("s3fd-msg-scan-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let mut files = Vec::new();
    for i in 0..11 {
        let f = dir.join(format!("m{i}.rs"));
        std::fs::write(&f, "fn f(x: u8) -> String { format!(\"{x:?}\") }\n").unwrap();
        files.push(f);
    }
    let rel = dir.strip_prefix("/").unwrap();
    let up = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("..")
        .canonicalize()
        .unwrap()
        .components()
        .count();
    let back: PathBuf = std::iter::repeat_n("..", up - 1).collect();
    let found = debug_formats(&[back.join(rel).to_str().unwrap()]);
    std::fs::remove_dir_all(&dir).unwrap();
    assert_eq!(found.len(), 11, "{found:?}");
}
