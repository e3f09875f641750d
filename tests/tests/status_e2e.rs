//! `dump-server status` against the real Bacula 9.6 stack (`integration_tests::bacula_stack`)
//! and a bucket on Ceph RGW: a bucket planned into shards (spread with `--clients` over the
//! stack's one Client), the generated configuration installed, and the shard jobs run.
//! `status` reads the catalog through bconsole and must say CRITICAL (exit 2) while a shard
//! was never run, naming it; OK (exit 0) with the bucket protected as of the oldest shard
//! backup once all ran, with each shard's job, files and bytes as the catalog has them;
//! CRITICAL naming the shard whose credentials were revoked after its job failed; UNKNOWN
//! (exit 3) when the console cannot reach the Director.
//!
//! Also here, without the Director: `plan --clients` spreads shards over several Clients by
//! bytes and a re-plan without one of them moves its shards, saying so on stderr.
//!
//! `BACULA_E2E_SKIP=1` skips the Bacula part (as the other real-daemon tests).

use std::collections::BTreeMap;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::Command;

use integration_tests::bacula_stack::{stack, JobResult, StackGuard};
use integration_tests::dump_server_run::{plan, run, Run};
use integration_tests::scenario::{data, BucketFixture};
use integration_tests::servers;

/// `(name, client)` of every Job of a generated Bacula configuration, in order.
fn jobs(conf: &str) -> Vec<(String, Option<String>)> {
    let mut out = Vec::new();
    let mut in_job = false;
    for line in conf.lines() {
        match line.trim() {
            "Job {" => in_job = true,
            "}" => in_job = false,
            l if in_job => {
                if let Some(n) = l.strip_prefix("Name = ") {
                    out.push((n.trim_matches('"').to_string(), None));
                } else if let Some(c) = l.strip_prefix("Client = ") {
                    out.last_mut().unwrap().1 = Some(c.trim_matches('"').to_string());
                }
            }
            _ => {}
        }
    }
    out
}

/// The generated configuration with the Plugin line of FileSet `shard` using `credentials`.
fn with_credentials(conf: &str, shard: &str, old: &Path, new: &Path) -> String {
    let mut out = String::new();
    let mut in_fileset = false;
    let mut ours = false;
    let mut replaced = 0;
    for line in conf.lines() {
        let t = line.trim();
        if t == "FileSet {" {
            in_fileset = true;
            ours = false;
        } else if in_fileset && t == format!("Name = \"{shard}\"") {
            ours = true;
        }
        if ours && t.starts_with("Plugin = ") {
            out.push_str(&line.replace(
                &format!("credentials_file={}", old.display()),
                &format!("credentials_file={}", new.display()),
            ));
            replaced += 1;
        } else {
            out.push_str(line);
        }
        out.push('\n');
    }
    assert_eq!(replaced, 1, "no Plugin line of FileSet {shard} in:\n{conf}");
    out
}

fn install(s: &StackGuard, conf: &str, whole_job: &str, whole_plugin: &str) {
    std::fs::write(s.home.join("etc/jobs/dump-server-shards.conf"), conf).unwrap();
    // Redefining a job of the stack rewrites the include index, checks the whole
    // configuration (bacula-dir -t) and reloads the director.
    s.define_job(whole_job, whole_plugin, false);
}

fn status(s: &StackGuard, plan_dir: &Path, extra: &[&str]) -> Run {
    let conf = s.home.join("etc/bconsole.conf");
    let mut args = vec![
        "status",
        "--plan",
        plan_dir.to_str().unwrap(),
        "--console",
        "/usr/sbin/bconsole",
        "-c",
        conf.to_str().unwrap(),
    ];
    args.extend_from_slice(extra);
    let r = run(&args);
    eprintln!(
        "status (exit {}):\n{}{}",
        r.code,
        r.stdout,
        if r.stderr.is_empty() { "" } else { &r.stderr }
    );
    r
}

fn ok(r: &JobResult) {
    assert!(
        r.status == 'T' && r.errors == 0 && r.exit_code == 0,
        "expected a clean job:\n{r}"
    );
}

#[test]
fn status_reports_never_run_ok_and_revoked_shards_from_the_catalog() {
    if std::env::var("BACULA_E2E_SKIP").as_deref() == Ok("1") {
        eprintln!("BACULA_E2E_SKIP=1: not running this test against the real Bacula daemons");
        return;
    }
    let fx = BucketFixture::new(servers::ceph(), "status-e2e");
    let mut keys = Vec::new();
    for i in 0..90usize {
        keys.push((
            format!("d{:02}/o{i:03}.bin", i % 3),
            data(i as u64, 500 + i),
        ));
    }
    let total: usize = keys.iter().map(|(_, d)| d.len()).sum();
    fx.seed(keys);
    let out = fx.subdir("plan");
    let out_arg = out.to_str().unwrap().to_string();
    let limit = (total / 3 + 600).to_string();
    let report = plan(&[
        "--plugin",
        &fx.command(""),
        "--out",
        &out_arg,
        "--dialect",
        "bacula",
        "--jobdefs",
        "S3Job",
        "--clients",
        "dump-fd",
        "--max-job-size",
        &limit,
        "--quiet",
    ]);
    eprintln!("{}", report.stdout);
    let conf_path = out.join("bacula-dir-shards.conf");
    let conf = std::fs::read_to_string(&conf_path).unwrap();
    let shards = jobs(&conf);
    assert!((3..=4).contains(&shards.len()), "{conf}");
    assert!(
        shards.iter().all(|(_, c)| c.as_deref() == Some("dump-fd")),
        "every Job names its Client: {shards:?}"
    );
    let names: Vec<String> = shards.into_iter().map(|(n, _)| n).collect();

    let s = stack();
    let whole = format!("whole-{}", fx.bucket);
    install(&s, &conf, &whole, &fx.command(""));

    // All shards but the last run: CRITICAL, naming the one never run.
    let mut runs = BTreeMap::new();
    for name in &names[..names.len() - 1] {
        let r = s.backup(name, "Full");
        ok(&r);
        runs.insert(name.clone(), r);
    }
    let last = names.last().unwrap();
    let r = status(&s, &out, &[]);
    assert_eq!(r.code, 2, "one shard never ran");
    let summary = r.stdout.lines().next().unwrap();
    assert!(
        summary.starts_with(&format!(
            "S3 BACKUP CRITICAL - bucket {} not protected ({}/{} shards OK): {last} never backed up",
            fx.bucket,
            names.len() - 1,
            names.len()
        )),
        "{summary}"
    );

    // The last one runs: OK, protected as of the oldest shard's end.
    let r = s.backup(last, "Full");
    ok(&r);
    runs.insert(last.clone(), r);
    let r = status(&s, &out, &[]);
    assert_eq!(r.code, 0, "all shards ran");
    let summary = r.stdout.lines().next().unwrap();
    assert!(
        summary.starts_with(&format!(
            "S3 BACKUP OK - bucket {} protected as of 20",
            fx.bucket
        )) && summary.contains(&format!("({n}/{n} shards OK)", n = names.len())),
        "{summary}"
    );
    for name in &names {
        assert!(
            r.stdout.contains(&format!("\n{name} ")),
            "{name} in the table"
        );
    }
    let r = status(&s, &out, &["--json"]);
    assert_eq!(r.code, 0);
    let json: serde_json::Value = serde_json::from_str(&r.stdout).unwrap();
    assert_eq!(json["state"], "OK");
    let oldest_end = s.sql(&format!(
        "SELECT strftime('%Y-%m-%dT%H:%M:%SZ', MIN(JobTDate), 'unixepoch') FROM Job WHERE JobId IN ({});",
        runs.values()
            .map(|r| r.jobid.to_string())
            .collect::<Vec<_>>()
            .join(",")
    ));
    assert_eq!(json["protected_as_of"], oldest_end.trim());
    for (i, name) in names.iter().enumerate() {
        let shard = &json["shards"][i];
        let run = &runs[name];
        assert_eq!(shard["name"], name.as_str());
        assert_eq!(shard["client"], "dump-fd");
        let b = &shard["last_backup"];
        assert_eq!(b["jobid"], run.jobid, "{name}");
        assert_eq!(b["files"], run.files, "{name}");
        assert_eq!(b["bytes"], run.bytes, "{name}");
        assert_eq!(b["level"], "Full");
        assert_eq!(shard["last_full"]["jobid"], run.jobid);
    }

    // The second shard's credentials are revoked (a wrong secret): its next job fails, and
    // status is CRITICAL naming it although its earlier Full still protects its objects.
    let victim = &names[1];
    let revoked_dir = fx.subdir("revoked");
    let good = std::fs::read_to_string(&fx.credentials).unwrap();
    let bad: String = good
        .lines()
        .map(|l| {
            if l.trim_start().starts_with("aws_secret_access_key") {
                "aws_secret_access_key = revoked-secret-0000".to_string()
            } else {
                l.to_string()
            }
        })
        .collect::<Vec<_>>()
        .join("\n");
    let bad_path = revoked_dir.join("credentials");
    std::fs::write(&bad_path, bad + "\n").unwrap();
    std::fs::set_permissions(&bad_path, std::fs::Permissions::from_mode(0o600)).unwrap();
    install(
        &s,
        &with_credentials(&conf, victim, &fx.credentials, &bad_path),
        &whole,
        &fx.command(""),
    );
    let failed = s.backup(victim, "Incremental");
    assert!(
        failed.status != 'T' && failed.exit_code != 0,
        "the job with revoked credentials must fail:\n{failed}"
    );
    let r = status(&s, &out, &[]);
    assert_eq!(r.code, 2, "a shard's last job failed");
    let summary = r.stdout.lines().next().unwrap();
    assert!(
        summary.contains(&format!("{victim} last job failed (JobId {}", failed.jobid))
            && summary.contains(" protected as of 20")
            && summary.contains(&format!("({}/{} shards OK)", names.len() - 1, names.len())),
        "{summary}"
    );
    assert!(
        r.stdout
            .contains(&format!("CRITICAL {victim}: last job failed")),
        "{}",
        r.stdout
    );
    // Only the victim is named.
    for other in names.iter().filter(|n| *n != victim) {
        assert!(!summary.contains(other.as_str()), "{summary}");
    }

    // Warning age: every backup is older than a second.
    std::thread::sleep(std::time::Duration::from_secs(2));
    install(&s, &conf, &whole, &fx.command(""));
    ok(&s.backup(victim, "Incremental"));
    let r = status(&s, &out, &["--warn-age", "1s", "--crit-age", "1h"]);
    assert_eq!(r.code, 1, "older than --warn-age");
    assert!(r.stdout.starts_with("S3 BACKUP WARNING - "), "{}", r.stdout);
    let r = status(&s, &out, &[]);
    assert_eq!(r.code, 0, "the victim's credentials are back");

    // A console that cannot reach the Director: UNKNOWN.
    let bad_console = fx.dir.join("bconsole-wrong-port.conf");
    let console_conf = std::fs::read_to_string(s.home.join("etc/bconsole.conf")).unwrap();
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = closed.local_addr().unwrap().port();
    drop(closed);
    std::fs::write(
        &bad_console,
        console_conf.replace(
            &format!("DIRport = {}", s.dir_port),
            &format!("DIRport = {port}"),
        ),
    )
    .unwrap();
    let r = run(&[
        "status",
        "--plan",
        &out_arg,
        "--console",
        "/usr/sbin/bconsole",
        "-c",
        bad_console.to_str().unwrap(),
        "--timeout",
        "30s",
    ]);
    assert_eq!(r.code, 3, "{}{}", r.stdout, r.stderr);
    assert!(r.stdout.starts_with("S3 BACKUP UNKNOWN - "), "{}", r.stdout);
}

#[test]
fn plan_spreads_shards_over_clients_and_moves_those_of_a_removed_one() {
    let fx = BucketFixture::new(servers::ceph(), "clients");
    let mut keys = Vec::new();
    for i in 0..120usize {
        keys.push((format!("k{i:04}"), data(i as u64, 200 + (i * 37) % 700)));
    }
    let sizes: BTreeMap<String, usize> = keys.iter().map(|(k, d)| (k.clone(), d.len())).collect();
    fx.seed(keys);
    let out = fx.subdir("plan");
    let out_arg = out.to_str().unwrap().to_string();
    plan(&[
        "--plugin",
        &fx.command(""),
        "--out",
        &out_arg,
        "--dialect",
        "bacula",
        "--jobdefs",
        "S3Job",
        "--clients",
        "dump-a-fd,dump-b-fd=2,dump-c-fd",
        "--max-job-size",
        "3000",
        "--quiet",
    ]);
    let plan_text = std::fs::read_to_string(out.join("plan.toml")).unwrap();
    let plan_of = |text: &str| -> Vec<(String, u64, String)> {
        // name, bytes, client of every [[shard]]
        let mut v = Vec::new();
        for block in text.split("[[shard]]").skip(1) {
            let get = |k: &str| {
                block
                    .lines()
                    .find_map(|l| l.strip_prefix(&format!("{k} = ")))
                    .unwrap_or_else(|| panic!("{k} in {block}"))
                    .trim_matches('"')
                    .to_string()
            };
            v.push((get("name"), get("bytes").parse().unwrap(), get("client")));
        }
        v
    };
    let first = plan_of(&plan_text);
    assert!(first.len() >= 15, "{plan_text}");
    assert_eq!(
        first.iter().map(|s| s.1).sum::<u64>(),
        sizes.values().map(|s| *s as u64).sum::<u64>()
    );
    let largest = first.iter().map(|s| s.1).max().unwrap();
    let load = |shards: &[(String, u64, String)], c: &str| -> u64 {
        shards.iter().filter(|s| s.2 == c).map(|s| s.1).sum()
    };
    let per_weight = [
        load(&first, "dump-a-fd"),
        load(&first, "dump-b-fd") / 2,
        load(&first, "dump-c-fd"),
    ];
    let spread = per_weight.iter().max().unwrap() - per_weight.iter().min().unwrap();
    assert!(
        spread <= largest,
        "bytes per weight {per_weight:?}, largest shard {largest}"
    );
    // The generated Jobs name the same Clients as the plan.
    let conf = std::fs::read_to_string(out.join("bacula-dir-shards.conf")).unwrap();
    let generated: Vec<(String, Option<String>)> = jobs(&conf);
    let planned: Vec<(String, Option<String>)> = first
        .iter()
        .map(|s| (s.0.clone(), Some(s.2.clone())))
        .collect();
    assert_eq!(generated, planned);

    // With the scale-out example's Director resources (Clients dump-a-fd…, JobDefs
    // s3-scale-out), Bacula's director accepts the generated Jobs; a Job naming a Client it
    // does not know is refused (so the check means something).
    if Path::new("/usr/sbin/bacula-dir").exists() {
        let example = integration_tests::servers::workspace_root()
            .join("dump-server/bareos/scale-out/bacula/bacula-dir-scale-out.conf");
        let check = |shards_conf: &str| -> (bool, String) {
            let dir = fx.subdir("bacula-dir-t");
            let shards_path = dir.join("shards.conf");
            std::fs::write(&shards_path, shards_conf).unwrap();
            let conf = format!(
                "Director {{\n  Name = t-dir\n  DIRport = 1\n  QueryFile = \"/etc/bacula/scripts/query.sql\"\n  \
                 WorkingDirectory = \"{d}\"\n  PidDirectory = \"{d}\"\n  Password = \"x\"\n  \
                 Messages = Daemon\n  Maximum Concurrent Jobs = 16\n}}\n\
                 Catalog {{\n  Name = MyCatalog\n  dbname = \"bacula\"; dbuser = \"\"; dbpassword = \"\"\n}}\n\
                 Messages {{\n  Name = Standard\n  console = all\n}}\n\
                 Messages {{\n  Name = Daemon\n  console = all\n}}\n@{example}\n@{shards}\n",
                d = dir.display(),
                example = example.display(),
                shards = shards_path.display()
            );
            // `-t` opens the catalog and checks its version (16: Bacula 9.6's); nothing else.
            let db = dir.join("bacula.db");
            let _ = std::fs::remove_file(&db);
            let made = Command::new("sqlite3")
                .arg(&db)
                .arg("CREATE TABLE Version (VersionId INTEGER); INSERT INTO Version VALUES (16);")
                .status()
                .unwrap();
            assert!(made.success(), "sqlite3 could not create {}", db.display());
            let conf_path = dir.join("bacula-dir.conf");
            std::fs::write(&conf_path, conf).unwrap();
            let out = Command::new("/usr/sbin/bacula-dir")
                .arg("-t")
                .arg("-c")
                .arg(&conf_path)
                .output()
                .unwrap();
            (
                out.status.success(),
                format!(
                    "{}{}",
                    String::from_utf8_lossy(&out.stdout),
                    String::from_utf8_lossy(&out.stderr)
                ),
            )
        };
        let (ok, text) = check(&conf.replace("JobDefs = \"S3Job\"", "JobDefs = \"s3-scale-out\""));
        assert!(
            ok,
            "bacula-dir -t refused the example with the generated Jobs:\n{text}"
        );
        let (ok, _) = check(
            &conf
                .replace("JobDefs = \"S3Job\"", "JobDefs = \"s3-scale-out\"")
                .replacen("Client = \"dump-a-fd\"", "Client = \"dump-z-fd\"", 1),
        );
        assert!(!ok, "bacula-dir -t accepted a Job naming an unknown Client");
    }

    // dump-c-fd goes away: its shards move to the others (stderr names each), the rest stay.
    let r = plan(&[
        "--out",
        &out_arg,
        "--clients",
        "dump-a-fd,dump-b-fd=2",
        "--quiet",
    ]);
    let second = plan_of(&std::fs::read_to_string(out.join("plan.toml")).unwrap());
    assert_eq!(second.len(), first.len());
    for (before, after) in first.iter().zip(&second) {
        assert_eq!(before.0, after.0);
        if before.2 == "dump-c-fd" {
            assert_ne!(after.2, "dump-c-fd");
            assert!(
                r.stderr.contains(&format!(
                    "shard {} moves from client dump-c-fd (not in the plan's clients any more) to client {}",
                    before.0, after.2
                )),
                "{}",
                r.stderr
            );
        } else {
            assert_eq!(before.2, after.2, "{} stays on its Client", before.0);
        }
    }
    // Without --clients the plan's Clients are kept.
    plan(&["--out", &out_arg, "--quiet"]);
    assert_eq!(
        plan_of(&std::fs::read_to_string(out.join("plan.toml")).unwrap()),
        second
    );
}
