//! The CLI's name/key translation, run as the operator would run it.

mod common;
use common::run;

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

/// A port on 127.0.0.1 that refuses connections (nothing listens there any more).
fn refused_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.local_addr().unwrap().port()
}

/// A private directory holding a credentials file with a `[default]` profile.
fn scratch_with_credentials(tag: &str) -> std::path::PathBuf {
    use std::os::unix::fs::PermissionsExt;
    let dir = std::env::temp_dir().join(format!("dump-server-cli-{tag}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("credentials");
    std::fs::write(
        &path,
        "[default]\naws_access_key_id = AKIDEXAMPLE\naws_secret_access_key = notreallysecret\n",
    )
    .unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
    dir
}

/// `census` and `plan` against an endpoint that refuses connections fail within 10 s (not after
/// the whole retry policy), naming the endpoint; each quick retry is a line on stderr (stderr
/// is a pipe here, not a terminal).
#[test]
fn a_refused_endpoint_fails_fast_naming_it() {
    let dir = scratch_with_credentials("refused");
    let endpoint = format!("http://127.0.0.1:{}", refused_port());
    let plugin = format!(
        "s3:bucket=b:endpoint={endpoint}:region=us-east-1:credentials_file={}",
        dir.join("credentials").display()
    );
    let out = dir.join("plan");
    let out = out.to_str().unwrap();
    for args in [
        vec!["census", "--plugin", &plugin],
        vec!["plan", "--plugin", &plugin, "--out", out, "--jobdefs", "s3"],
    ] {
        let started = std::time::Instant::now();
        let (code, stdout, stderr) = run(&args);
        let took = started.elapsed();
        assert_eq!(code, 1, "{args:?}: {stdout} {stderr}");
        assert!(
            took < std::time::Duration::from_secs(10),
            "{args:?} took {took:?}: {stderr}"
        );
        let last = stderr.lines().last().unwrap_or_default();
        assert!(
            last.starts_with("dump-server: ")
                && last.contains(&format!("cannot connect to endpoint {endpoint}"))
                && last.to_lowercase().contains("connection refused"),
            "{args:?}: {stderr}"
        );
        assert!(
            stderr.contains("attempt 1 of 3 failed") && stderr.contains("attempt 2 of 3 failed"),
            "{args:?}: {stderr}"
        );
        assert!(!stderr.contains("notreallysecret"), "{stderr}");
    }
    let _ = std::fs::remove_dir_all(&dir);
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

/// Output into a pipe whose reader is gone (`dump-server … | head`): the tool ends by SIGPIPE,
/// as other command-line tools do, never with a panic.
#[test]
fn a_closed_output_pipe_ends_the_tool_quietly() {
    use std::os::fd::FromRawFd;
    use std::os::unix::process::ExitStatusExt;
    let mut fds = [0; 2];
    // SAFETY: a fresh pipe; each end is owned once below.
    assert_eq!(unsafe { libc::pipe(fds.as_mut_ptr()) }, 0);
    // SAFETY: fds[0] and fds[1] were just created and are owned here.
    let (reader, writer) = unsafe {
        (
            std::fs::File::from_raw_fd(fds[0]),
            std::fs::File::from_raw_fd(fds[1]),
        )
    };
    drop(reader);
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_dump-server"))
        .args(["name", "bucket", "a/key"])
        .stdout(writer)
        .stderr(std::process::Stdio::piped())
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert_eq!(
        out.status.signal(),
        Some(libc::SIGPIPE),
        "{:?} {stderr}",
        out.status
    );
}

/// A connection the S3 server closes while the tool writes to it must be an error for the retry
/// policy, never a death by SIGPIPE (a write to a socket whose peer has gone raises it): the
/// tool keeps SIGPIPE ignored while it talks to the network; only its own standard output,
/// closed, ends it (test above). Checked on the running process, at the moment it has a
/// connection open to a server that never answers.
#[test]
fn sigpipe_stays_ignored_while_the_tool_talks_to_s3() {
    let dir = scratch_with_credentials("sigpipe");
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let endpoint = format!("http://{}", listener.local_addr().unwrap());
    let plugin = format!(
        "s3:bucket=b:endpoint={endpoint}:region=us-east-1:credentials_file={}",
        dir.join("credentials").display()
    );
    let (accepted, connected) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let mut held = Vec::new();
        for stream in listener.incoming().flatten() {
            held.push(stream);
            let _ = accepted.send(());
        }
    });
    for command in ["census", "check"] {
        let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_dump-server"))
            .args([command, "--plugin", &plugin])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        connected
            .recv_timeout(std::time::Duration::from_secs(20))
            .unwrap_or_else(|_| panic!("{command} never connected to {endpoint}"));
        let status = std::fs::read_to_string(format!("/proc/{}/status", child.id())).unwrap();
        let _ = child.kill();
        let _ = child.wait();
        let ignored = status
            .lines()
            .find_map(|l| l.strip_prefix("SigIgn:"))
            .map(|hex| u64::from_str_radix(hex.trim(), 16).unwrap())
            .expect("SigIgn in /proc/PID/status");
        assert_ne!(
            ignored & (1 << (libc::SIGPIPE - 1)),
            0,
            "{command}: SIGPIPE is not ignored while a connection is open (SigIgn {ignored:x})"
        );
        while connected.try_recv().is_ok() {}
    }
    let _ = std::fs::remove_dir_all(&dir);
}

/// `dump-server options` prints every option of the plugin string with its default, from the
/// same table the plugin parses with.
#[test]
fn options_lists_every_option_with_its_default() {
    let (code, out, _) = run(&["options"]);
    assert_eq!(code, 0);
    for option in s3_plugin::config::options::OPTIONS {
        let line = out
            .lines()
            .find(|l| l.split_whitespace().next() == Some(option.name))
            .unwrap_or_else(|| panic!("{} missing:\n{out}", option.name));
        assert!(
            line.contains(&format!("default: {})", option.default.text())),
            "{line}"
        );
    }
    assert!(
        out.contains("prefetch_bytes") && out.contains("default: 64M"),
        "{out}"
    );
}
