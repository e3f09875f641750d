//! `dump-server status` as a monitoring system runs it, with a stand-in console: a script
//! that records its arguments and input and answers what Bareos' bconsole answers in JSON
//! mode (the documented form). Bareos is not installable here; the Bacula path runs against
//! the real Director in tests/tests/status_e2e.rs.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

mod common;
use common::run;

fn scratch(tag: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("dump-server-status-{tag}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

const PLAN: &str = r#"format = 1
generator = "test"
planned_at = "2026-01-01T00:00:00Z"
bucket = "photos"
plugin = "s3:bucket=photos"
next_id = 3
objects = 2
bytes = 20

[limits]
max_job_size = 100

[director]
dialect = "bareos"
job_prefix = "s3-photos"
jobdefs = "s3"
clients = ["fd-a", "fd-b"]
signature = "XXH128"

[[shard]]
name = "s3-photos-0001"
id = 1
end_at = "m"
objects = 1
bytes = 10
client = "fd-a"

[[shard]]
name = "s3-photos-0002"
id = 2
start_after = "m"
objects = 1
bytes = 10
client = "fd-b"
"#;

/// A console that answers `answer` and keeps its arguments and input next to it.
fn fake_console(dir: &Path, answer: &str) -> PathBuf {
    std::fs::write(dir.join("answer"), answer).unwrap();
    let script = dir.join("bconsole");
    std::fs::write(
        &script,
        format!(
            "#!/bin/sh\nprintf '%s\\n' \"$*\" > '{d}/args'\ncat > '{d}/input'\ncat '{d}/answer'\n",
            d = dir.display()
        ),
    )
    .unwrap();
    std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
    script
}

/// A job record; the Client is the plan's (fd-a for shard 0001, fd-b for 0002).
fn job(name: &str, jobid: u64, level: &str, status: &str, end: u64) -> String {
    let client = if name.ends_with("0001") {
        "fd-a"
    } else {
        "fd-b"
    };
    job_on(name, jobid, level, status, end, client)
}

fn job_on(name: &str, jobid: u64, level: &str, status: &str, end: u64, client: &str) -> String {
    format!(
        r#"{{"jobid": "{jobid}", "job": "{name}.x", "name": "{name}", "type": "B", "level": "{level}",
        "jobstatus": "{status}", "endtime": "2026-01-01 00:00:00", "jobtdate": "{end}",
        "jobfiles": "{jobid}0", "jobbytes": "{jobid}00", "joberrors": "0", "client": "{client}"}}"#
    )
}

fn answer(lists: &[Vec<String>]) -> String {
    let mut s = String::from(
        "Connecting to Director localhost:9101\n1000 OK: bareos-dir Version: 25.0.0\n\
         {\"jsonrpc\": \"2.0\", \"id\": null, \"result\": {\"api\": 2}}\n",
    );
    for jobs in lists {
        s.push_str(&format!(
            "{{\n\"jsonrpc\": \"2.0\",\n\"id\": null,\n\"result\": {{\n  \"jobs\": [{}]\n}}\n}}\n",
            jobs.join(",\n")
        ));
    }
    s
}

#[test]
fn bareos_json_console_gives_monitoring_verdicts() {
    let dir = scratch("bareos");
    std::fs::write(dir.join("plan.toml"), PLAN).unwrap();
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let plan = dir.to_str().unwrap();
    let console = fake_console(
        &dir,
        &answer(&[vec![job("s3-photos-0001", 1, "F", "T", now - 3600)], vec![]]),
    );
    let console_arg = console.to_str().unwrap();
    let (code, out, err) = run(&[
        "status",
        "--plan",
        plan,
        "--console",
        console_arg,
        "-c",
        "/etc/bareos/bconsole.conf",
    ]);
    assert_eq!(code, 2, "{out}{err}");
    assert!(
        out.starts_with(
            "S3 BACKUP CRITICAL - bucket photos not protected (1/2 shards OK): s3-photos-0002 never backed up"
        ),
        "{out}"
    );
    // Bareos' console: no -n, the JSON API first, one llist per shard.
    let args = std::fs::read_to_string(dir.join("args")).unwrap();
    assert_eq!(args.trim(), "-c /etc/bareos/bconsole.conf");
    let input = std::fs::read_to_string(dir.join("input")).unwrap();
    assert_eq!(
        input,
        ".api 2\nllist job=s3-photos-0001\nllist job=s3-photos-0002\nquit\n"
    );

    // Both backed up (one Full, then an Incremental with warnings): OK, protected as of the
    // older one; the JSON report carries each shard's Client from the plan.
    fake_console(
        &dir,
        &answer(&[
            vec![job("s3-photos-0001", 1, "F", "T", now - 7200)],
            vec![
                job("s3-photos-0002", 2, "F", "T", now - 90_000),
                job("s3-photos-0002", 3, "I", "W", now - 600),
            ],
        ]),
    );
    let (code, out, err) = run(&["status", "--plan", plan, "--console", console_arg]);
    assert_eq!(code, 0, "{out}{err}");
    let first = out.lines().next().unwrap();
    assert!(
        first.starts_with("S3 BACKUP OK - bucket photos protected as of ")
            && first.contains("(2/2 shards OK) | oldest_backup_age="),
        "{first}"
    );
    // The age is counted from the tool's own clock: the second may have turned since `now`.
    let (age, thresholds) = first
        .split_once("oldest_backup_age=")
        .and_then(|(_, rest)| rest.split_once("s;"))
        .unwrap_or_else(|| panic!("no age in {first}"));
    let age: i64 = age.parse().unwrap();
    assert!((7200..=7205).contains(&age), "{first}");
    assert!(thresholds.starts_with("93600;180000;0"), "{first}");
    let (code, out, _) = run(&["status", "--plan", plan, "--console", console_arg, "--json"]);
    assert_eq!(code, 0);
    for needle in [
        "\"state\": \"OK\"",
        "\"client\": \"fd-b\"",
        "\"level\": \"Incremental\"",
        "\"jobid\": 3",
        "\"client\": \"fd-b\"\n",
    ] {
        assert!(out.contains(needle), "{needle} in {out}");
    }

    // --crit-age below the oldest: CRITICAL naming that shard only.
    let (code, out, _) = run(&[
        "status",
        "--plan",
        plan,
        "--console",
        console_arg,
        "--warn-age",
        "20m",
        "--crit-age",
        "1h",
    ]);
    assert_eq!(code, 2, "{out}");
    let first = out.lines().next().unwrap();
    assert!(
        first.contains("(1/2 shards OK): s3-photos-0001 last good backup 2h")
            && first.contains("ago (critical after 1h) |"),
        "{out}"
    );

    // The plan moved shard 0002 to fd-b but its last job still ran on fd-a (the re-planned
    // configuration is not installed): WARNING saying so.
    fake_console(
        &dir,
        &answer(&[
            vec![job("s3-photos-0001", 1, "F", "T", now - 7200)],
            vec![job_on("s3-photos-0002", 2, "F", "T", now - 600, "fd-a")],
        ]),
    );
    let (code, out, _) = run(&["status", "--plan", plan, "--console", console_arg]);
    assert_eq!(code, 1, "{out}");
    assert!(
        out.lines().next().unwrap().contains(
            "s3-photos-0002 last job ran on client fd-a, the plan has fd-b: install the \
             re-planned configuration"
        ),
        "{out}"
    );

    // An error response (e.g. a console without the right to list jobs): UNKNOWN.
    fake_console(
        &dir,
        "{\"jsonrpc\": \"2.0\", \"id\": null, \"error\": {\"data\": {\"result\": {}, \
         \"messages\": {\"error\": [\"Permission denied\\n\"]}}, \"message\": \"failed\", \"code\": 1}}\n",
    );
    let (code, out, _) = run(&["status", "--plan", plan, "--console", console_arg]);
    assert_eq!(code, 3, "{out}");
    assert!(
        out.starts_with("S3 BACKUP UNKNOWN - the Director answered an error: Permission denied"),
        "{out}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn unusable_input_is_unknown() {
    let dir = scratch("usage");
    let (code, out, _) = run(&["status", "--plan", dir.join("nope").to_str().unwrap()]);
    assert_eq!(code, 3);
    assert!(
        out.starts_with("S3 BACKUP UNKNOWN - cannot read the plan"),
        "{out}"
    );
    let (code, _, err) = run(&["status", "--plan", "x", "--warn-age", "soon"]);
    assert_eq!(code, 3, "bad flags are UNKNOWN for a monitoring system");
    assert!(err.contains("soon"), "{err}");
    std::fs::write(dir.join("plan.toml"), PLAN).unwrap();
    let (code, out, _) = run(&[
        "status",
        "--plan",
        dir.to_str().unwrap(),
        "--console",
        dir.join("no-such-console").to_str().unwrap(),
    ]);
    assert_eq!(code, 3);
    assert!(out.contains("cannot run the console"), "{out}");
    let (code, out, _) = run(&["status", "--help"]);
    assert_eq!(code, 0);
    assert!(out.contains("--warn-age") && out.contains("--console-config"));
    let _ = std::fs::remove_dir_all(&dir);
}
