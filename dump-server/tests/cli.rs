//! The CLI's name/key translation, run as the operator would run it.

use std::process::Command;

fn run(args: &[&str]) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_dump-server"))
        .args(args)
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8(out.stdout).unwrap(),
        String::from_utf8(out.stderr).unwrap(),
    )
}

#[test]
fn name_and_key_round_trip_odd_keys() {
    for key in ["folder/", "a//b", "/lead", "100%", "sp ace/ü"] {
        let (code, name, _) = run(&["name", "photos", key]);
        assert_eq!(code, 0);
        let name = name.trim_end_matches('\n');
        assert!(
            name.starts_with("/photos/") && !name.contains("//"),
            "{name}"
        );
        let (code, back, _) = run(&["key", "photos", name]);
        assert_eq!(code, 0);
        assert_eq!(back.trim_end_matches('\n'), key);
    }
    assert_eq!(run(&["name", "b", "folder/"]).1, "/b/folder/%\n");
}

#[test]
fn a_foreign_name_is_an_error_naming_it() {
    let (code, _, err) = run(&["key", "photos", "/other/x"]);
    assert_eq!(code, 2);
    assert!(
        err.contains("/other/x") && err.contains("/photos/"),
        "{err}"
    );
    let (code, out, _) = run(&["--help"]);
    assert_eq!(code, 0);
    assert!(out.contains("name") && out.contains("key"));
}

#[test]
fn help_lists_the_operator_commands_and_plan_flags() {
    let (code, out, _) = run(&["--help"]);
    assert_eq!(code, 0);
    for c in ["plan", "check", "census"] {
        assert!(out.contains(c), "{out}");
    }
    let (code, out, _) = run(&["plan", "--help"]);
    assert_eq!(code, 0);
    for flag in [
        "--plugin",
        "--out",
        "--plan",
        "--max-job-size",
        "--max-objects",
        "--dialect",
        "--job-prefix",
        "--jobdefs",
        "--pool",
        "--schedule",
        "--client",
        "--storage",
        "--quiet",
    ] {
        assert!(out.contains(flag), "{flag} missing:\n{out}");
    }
    let (code, _, err) = run(&["plan", "--out", "/nonexistent-dir-x", "--jobdefs", "j"]);
    assert_eq!(code, 2);
    assert!(err.contains("--plugin"), "{err}");
    let (code, _, err) = run(&["census", "--plugin", "s3:bucket=b:colour=red"]);
    assert_eq!(code, 2);
    assert!(err.contains("colour"), "{err}");
}

#[test]
fn a_plugin_string_without_the_s3_prefix_is_refused() {
    let (code, _, err) = run(&["census", "--plugin", "bucket=x:endpoint=http://127.0.0.1:1"]);
    assert_eq!(code, 2);
    assert!(
        err.contains("no 's3:' prefix") && err.contains("would never send it to this plugin"),
        "{err}"
    );
    let (code, out, _) = run(&[
        "check",
        "--plugin",
        "xyz:bucket=b",
        "--plugin-library",
        "/nonexistent/s3-fd.so",
    ]);
    assert_eq!(code, 1);
    assert!(
        out.contains("FAIL  plugin string") && out.contains("must start with 's3:', not 'xyz:'"),
        "{out}"
    );
    // The library given is the one checked: no search of the installed places.
    assert!(
        out.contains("/nonexistent/s3-fd.so") && !out.contains("looked in"),
        "{out}"
    );
}
