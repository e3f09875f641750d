//! The bench's C reference of the data flow (`tests/bench/experiments/floor.c`, see docs/benchmarks.md)
//! builds and reads every byte of an object from memory-s3, in each of its modes.

use std::path::PathBuf;
use std::process::Command;

use memory_s3::{parse_bucket, Bucket, Options, Store};

/// 20 MiB + 5 bytes: parts of 3 MiB leave a short last part.
const SIZE: u64 = (20 << 20) + 5;

fn build_floor() -> PathBuf {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..");
    let out = std::env::temp_dir().join(format!("s3fd-floor-{}", std::process::id()));
    let cc = std::env::var("CC").unwrap_or_else(|_| "cc".into());
    let status = Command::new(&cc)
        .args(["-O2", "-Wall", "-Wextra", "-Werror", "-pthread", "-o"])
        .arg(&out)
        .arg(root.join("tests/bench/experiments/floor.c"))
        .status()
        .unwrap_or_else(|e| panic!("running {cc}: {e}"));
    assert!(
        status.success(),
        "tests/bench/experiments/floor.c does not compile"
    );
    out
}

#[test]
fn the_c_floor_reads_every_byte_in_each_mode() {
    let floor = build_floor();
    let spec = parse_bucket(&format!("floor:1x{SIZE}")).unwrap();
    let server = memory_s3::spawn(
        Store::new(vec![Bucket::from_spec(&spec, 2)]),
        "127.0.0.1:0".parse().unwrap(),
        Options {
            threads: 2,
            sndbuf: None,
        },
    )
    .unwrap();
    let port = server.addr.port().to_string();
    for mode in [
        vec!["--single"],
        vec!["--lend"],
        vec!["--parts", "3", "--part-size", "3145728"],
    ] {
        let out = Command::new(&floor)
            .args(["127.0.0.1", &port, "floor", "obj-0", &SIZE.to_string()])
            .args(&mode)
            .output()
            .unwrap();
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success(),
            "floor {mode:?}: {stdout}{}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(
            stdout.contains(&format!(": {SIZE} bytes,")),
            "floor {mode:?} said {stdout:?}"
        );
    }
    // A size that does not match the object is an error, not a figure.
    let wrong = Command::new(&floor)
        .args([
            "127.0.0.1",
            &port,
            "floor",
            "obj-0",
            &(SIZE + 1).to_string(),
            "--single",
        ])
        .output()
        .unwrap();
    assert!(!wrong.status.success());
    let _ = std::fs::remove_file(&floor);
}
