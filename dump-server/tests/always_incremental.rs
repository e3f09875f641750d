//! `dump-server plan --always-incremental` as the operator runs it: against a real S3 server
//! (moto, started by tests/scripts/moto.sh on `S3TEST_MOTO_PORT`, shared with the other tests
//! and stopped by tests/scripts/stop-servers.sh), for both dialects; the Bacula output is
//! checked by Bacula 9.6's own Director (`bacula-dir -t`) where it is installed.

use std::path::{Path, PathBuf};
use std::process::Command;

mod common;
use common::run;

fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_path_buf()
}

fn scratch(tag: &str) -> PathBuf {
    use std::os::unix::fs::PermissionsExt;
    let dir = std::env::temp_dir().join(format!("dump-server-ai-{tag}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("credentials");
    std::fs::write(
        &path,
        "[default]\naws_access_key_id = s3test-moto-access\naws_secret_access_key = s3test-moto-secret\n",
    )
    .unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
    dir
}

/// Starts (or reuses) moto and makes a bucket holding `keys`; returns the endpoint.
fn moto_bucket(bucket: &str, keys: &[&str]) -> String {
    let port = std::env::var("S3TEST_MOTO_PORT").unwrap_or_else(|_| "17500".into());
    let state = repo_root().join(".state/s3/moto");
    std::fs::create_dir_all(&state).unwrap();
    let up = Command::new("bash")
        .arg(repo_root().join("tests/scripts/moto.sh"))
        .arg("up")
        .arg(&state)
        .arg(&port)
        .output()
        .unwrap();
    assert!(
        up.status.success(),
        "moto did not start (tests/scripts/install-deps.sh installs it): {}",
        String::from_utf8_lossy(&up.stderr)
    );
    let endpoint = String::from_utf8(up.stdout).unwrap().trim().to_string();
    let put = |path: &str, body: &str| {
        let out = Command::new("curl")
            .args(["-s", "-o", "/dev/null", "-w", "%{http_code}", "-X", "PUT"])
            .args(["--data-binary", body])
            .arg(format!("{endpoint}/{path}"))
            .output()
            .unwrap();
        assert_eq!(String::from_utf8_lossy(&out.stdout), "200", "PUT {path}");
    };
    put(bucket, "");
    for k in keys {
        put(&format!("{bucket}/{k}"), &format!("data of {k}"));
    }
    endpoint
}

fn plugin(endpoint: &str, bucket: &str, dir: &Path) -> String {
    format!(
        "s3:bucket={bucket}:endpoint={endpoint}:region=us-east-1:path_style=yes:credentials_file={}",
        dir.join("credentials").display()
    )
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// The `Job { … }` resources of a configuration text, each as its text.
fn resources<'a>(text: &'a str, kind: &str) -> Vec<&'a str> {
    let open = format!("{kind} {{\n");
    text.match_indices(&open)
        .map(|(i, _)| {
            let end = text[i..].find("\n}\n").unwrap();
            &text[i..i + end + 3]
        })
        .collect()
}

/// `bacula-dir -t` on a Director configuration made of a minimal Director, Catalog, Messages,
/// Client, Storages, JobDefs, and `shards` included as the operator includes it.
fn bacula_dir_test(dir: &Path, shards: &str) -> (bool, String) {
    let work = dir.join("bacula-dir-t");
    std::fs::create_dir_all(&work).unwrap();
    let shards_path = work.join("bacula-dir-shards.conf");
    std::fs::write(&shards_path, shards).unwrap();
    // `-t` opens the catalog and checks its version (16: Bacula 9.6's).
    let db = work.join("bacula.db");
    let _ = std::fs::remove_file(&db);
    let made = Command::new("sqlite3")
        .arg(&db)
        .arg("CREATE TABLE Version (VersionId INTEGER); INSERT INTO Version VALUES (16);")
        .status()
        .unwrap();
    assert!(made.success(), "sqlite3 could not create {}", db.display());
    let conf = format!(
        "Director {{\n  Name = t-dir\n  DIRport = 1\n  QueryFile = \"/etc/bacula/scripts/query.sql\"\n  \
         WorkingDirectory = \"{w}\"\n  PidDirectory = \"{w}\"\n  Password = \"x\"\n  Messages = Daemon\n}}\n\
         Catalog {{\n  Name = MyCatalog\n  dbname = \"bacula\"; dbuser = \"\"; dbpassword = \"\"\n}}\n\
         Messages {{\n  Name = Standard\n  console = all\n}}\n\
         Messages {{\n  Name = Daemon\n  console = all\n}}\n\
         Client {{\n  Name = dump-fd\n  Address = 127.0.0.1\n  Password = \"x\"\n  Catalog = MyCatalog\n}}\n\
         Storage {{\n  Name = Lib\n  Address = 127.0.0.1\n  Password = \"x\"\n  Device = Drive1\n  Media Type = LTO\n}}\n\
         Storage {{\n  Name = VChanger\n  Address = 127.0.0.1\n  Password = \"x\"\n  Device = Drive3\n  Media Type = VTape\n}}\n\
         Storage {{\n  Name = Lib2\n  Address = 127.0.0.1\n  Password = \"x\"\n  Device = Drive2\n  Media Type = LTO\n}}\n\
         Pool {{\n  Name = Default\n  Pool Type = Backup\n}}\n\
         JobDefs {{\n  Name = S3Job\n  Type = Backup\n  Level = Full\n  Client = dump-fd\n  \
         Messages = Standard\n  Pool = Default\n  Storage = Lib\n}}\n\
         @{shards}\n",
        w = work.display(),
        shards = shards_path.display()
    );
    let conf_path = work.join("bacula-dir.conf");
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
}

#[test]
fn flags_that_contradict_incremental_forever_are_refused() {
    // Settings are checked before the bucket is listed: no server needed.
    let dir = scratch("flags");
    let plugin = plugin("http://127.0.0.1:9", "b", &dir);
    let out = dir.join("plan");
    let out = out.to_str().unwrap();
    let base = ["plan", "--plugin", &plugin, "--out", out, "--jobdefs", "s3"];
    for (extra, wanted) in [
        (vec!["--ai-keep", "3"], "give --always-incremental"),
        (vec!["--always-incremental", "--pool", "P"], "--pool cannot"),
        (
            vec![
                "--always-incremental",
                "--dialect",
                "bacula",
                "--schedule",
                "S",
            ],
            "--schedule cannot",
        ),
        (
            vec![
                "--always-incremental",
                "--ai-incremental-at",
                "daily at 22:00",
            ],
            "for the Bacula dialect",
        ),
        (
            vec!["--always-incremental", "--ai-max-full-age", "7 days"],
            "must be longer than --ai-retention",
        ),
        (
            vec!["--always-incremental", "--ai-retention", "a week"],
            "--ai-retention: 'a week' is not a time span",
        ),
        (
            vec!["--always-incremental", "--ai-consolidate-at", "daily\"x"],
            "--ai-consolidate-at",
        ),
        (
            vec!["--always-incremental", "--no-always-incremental"],
            "cannot be used with",
        ),
    ] {
        let args: Vec<&str> = base.iter().copied().chain(extra.iter().copied()).collect();
        let (code, stdout, stderr) = run(&args);
        assert_eq!(code, 2, "{extra:?}: {stdout} {stderr}");
        assert!(stderr.contains(wanted), "{extra:?}: {stderr}");
    }
    assert!(!Path::new(out).exists(), "a refused plan wrote {out}");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn bacula_plan_writes_virtualfull_schedule_pools_and_passes_bacula_dir() {
    let dir = scratch("bacula");
    let bucket = format!("ai-bacula-{}", std::process::id());
    let endpoint = moto_bucket(&bucket, &["a", "b", "c"]);
    let plugin = plugin(&endpoint, &bucket, &dir);
    let out = dir.join("plan");
    let (code, stdout, stderr) = run(&[
        "plan",
        "--plugin",
        &plugin,
        "--out",
        out.to_str().unwrap(),
        "--jobdefs",
        "S3Job",
        "--max-objects",
        "2",
        "--dialect",
        "bacula",
        "--client",
        "dump-fd",
        "--storage",
        "Lib",
        "--always-incremental",
        "--ai-consolidated-storage",
        "Lib2",
        "-q",
    ]);
    assert_eq!(code, 0, "{stdout} {stderr}");
    assert!(
        stdout.contains("incremental forever: accurate Incrementals into Pool AI-Incremental"),
        "{stdout}"
    );
    let conf = read(&out.join("bacula-dir-shards.conf"));
    let schedule = format!("s3-{bucket}-incremental-forever");
    assert_eq!(
        resources(&conf, "Schedule"),
        [format!(
            "Schedule {{\n  Name = \"{schedule}\"\n  Run = Level=Incremental daily at 21:00\n  \
             Run = Level=VirtualFull sun at 09:00\n}}\n"
        )]
    );
    let pools = resources(&conf, "Pool");
    assert_eq!(pools.len(), 2, "{conf}");
    assert!(
        pools[0].contains("Name = \"AI-Incremental\"")
            && pools[0].contains("  Next Pool = \"AI-Consolidated\"\n")
            && pools[0].contains("  Storage = \"Lib\"\n"),
        "{}",
        pools[0]
    );
    assert!(
        pools[1].contains("Name = \"AI-Consolidated\"")
            && !pools[1].contains("Next Pool")
            && pools[1].contains("  Storage = \"Lib2\"\n"),
        "{}",
        pools[1]
    );
    let jobs = resources(&conf, "Job");
    assert_eq!(jobs.len(), 2, "{conf}");
    for job in &jobs {
        for line in [
            "Level = Incremental".to_string(),
            "Pool = \"AI-Incremental\"".into(),
            "Full Backup Pool = \"AI-Consolidated\"".into(),
            format!("Schedule = \"{schedule}\""),
            "Accurate = yes".into(),
        ] {
            assert!(job.contains(&format!("  {line}\n")), "{line}: {job}");
        }
        assert!(!job.contains("Always Incremental"), "{job}");
    }
    let plan = read(&out.join("plan.toml"));
    assert!(
        plan.contains("[director.always_incremental]")
            && plan.contains("consolidated_storage = \"Lib2\""),
        "{plan}"
    );

    if !Path::new("/usr/sbin/bacula-dir").exists() {
        eprintln!("bacula-dir not installed (dump-server/stack/install.sh): -t check skipped");
        return;
    }
    let (ok, text) = bacula_dir_test(&dir, &conf);
    assert!(
        ok,
        "bacula-dir -t refused the generated configuration:\n{text}\n{conf}"
    );
    // The check means something: Bareos' Job directives and a misspelt level are refused.
    let (ok, _) = bacula_dir_test(
        &dir,
        &conf.replacen(
            "  Accurate = yes\n",
            "  Accurate = yes\n  Always Incremental = yes\n",
            1,
        ),
    );
    assert!(!ok, "bacula-dir -t accepted Always Incremental");
    let (ok, _) = bacula_dir_test(&dir, &conf.replace("Level=VirtualFull", "Level=VirtualFul"));
    assert!(!ok, "bacula-dir -t accepted a misspelt level");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn bareos_plan_writes_always_incremental_and_a_replan_keeps_or_drops_it() {
    let dir = scratch("bareos");
    let bucket = format!("ai-bareos-{}", std::process::id());
    let endpoint = moto_bucket(&bucket, &["k1", "k2", "k3", "k4"]);
    let plugin = plugin(&endpoint, &bucket, &dir);
    let out = dir.join("plan");
    let out_arg = out.to_str().unwrap().to_string();
    let (code, stdout, stderr) = run(&[
        "plan",
        "--plugin",
        &plugin,
        "--out",
        &out_arg,
        "--jobdefs",
        "s3",
        "--max-objects",
        "2",
        "--schedule",
        "Nightly",
        "--always-incremental",
        "--ai-retention",
        "14 days",
        "--ai-keep",
        "3",
        "--ai-max-full-age",
        "2 months",
        "--ai-pool-prefix",
        "S3AI",
        "-q",
    ]);
    assert_eq!(code, 0, "{stdout} {stderr}");
    // No second Storage: plan says consolidation needs two drives.
    assert!(stderr.contains("needs two drives"), "{stderr}");
    let d = out.join("bareos-dir.d");
    let prefix = format!("s3-{bucket}");
    let consolidate = d.join(format!("job/{prefix}-consolidate.conf"));
    let extra = [
        d.join("pool/S3AI-Incremental.conf"),
        d.join("pool/S3AI-Consolidated.conf"),
        consolidate.clone(),
        d.join(format!("schedule/{prefix}-consolidate.conf")),
    ];
    let job = read(&consolidate);
    assert!(
        job.contains("  Type = Consolidate\n  Accurate = yes\n")
            && job.contains(&format!("  Schedule = \"{prefix}-consolidate\"\n"))
            && job.contains(&format!("  FileSet = \"{prefix}-0001\"\n")),
        "{job}"
    );
    assert!(read(&extra[3]).contains("  Run = daily at 09:00\n"));
    assert!(read(&extra[0]).contains("  Next Pool = \"S3AI-Consolidated\"\n"));
    // 3 x 60 days is less than a year.
    assert!(read(&extra[1]).contains("  Volume Retention = 365 days\n"));
    let shard_jobs = [
        d.join(format!("job/{prefix}-0001.conf")),
        d.join(format!("job/{prefix}-0002.conf")),
    ];
    for path in &shard_jobs {
        let job = read(path);
        for line in [
            "Level = Incremental",
            "Pool = \"S3AI-Incremental\"",
            "Full Backup Pool = \"S3AI-Consolidated\"",
            "Schedule = \"Nightly\"",
            "Accurate = yes",
            "Always Incremental = yes",
            "Always Incremental Job Retention = 14 days",
            "Always Incremental Keep Number = 3",
            "Always Incremental Max Full Age = 2 months",
        ] {
            assert!(job.contains(&format!("  {line}\n")), "{line}: {job}");
        }
    }
    let before: Vec<String> = shard_jobs.iter().map(|p| read(p)).collect();

    // A re-plan without the flags keeps the settings (and writes the same Jobs).
    let (code, stdout, stderr) = run(&["plan", "--out", &out_arg, "-q"]);
    assert_eq!(code, 0, "{stdout} {stderr}");
    assert!(stdout.contains("2 kept"), "{stdout}");
    let after: Vec<String> = shard_jobs.iter().map(|p| read(p)).collect();
    assert_eq!(before, after);
    assert!(extra.iter().all(|p| p.exists()));

    // --no-always-incremental: the Jobs lose it and the four files go.
    let (code, stdout, stderr) = run(&["plan", "--out", &out_arg, "--no-always-incremental", "-q"]);
    assert_eq!(code, 0, "{stdout} {stderr}");
    for p in &extra {
        assert!(!p.exists(), "{} was left", p.display());
    }
    for path in &shard_jobs {
        let job = read(path);
        assert!(
            !job.contains("Always Incremental")
                && !job.contains("Accurate")
                && !job.contains("S3AI")
                && job.contains("  Schedule = \"Nightly\"\n"),
            "{job}"
        );
    }
    assert!(!read(&out.join("plan.toml")).contains("always_incremental"));
    let _ = std::fs::remove_dir_all(&dir);
}

/// The resource lines of a configuration text (comments and blank lines left out).
fn directives(text: &str) -> Vec<&str> {
    text.lines()
        .filter(|l| !l.trim().is_empty() && !l.trim_start().starts_with('#'))
        .collect()
}

/// The commented examples in dump-server/bareos/always-incremental/ hold what plan writes
/// (the same directives, in the same order), and the Bacula one passes `bacula-dir -t`.
#[test]
fn the_examples_are_what_plan_writes() {
    let dir = scratch("examples");
    let bucket = format!("ai-examples-{}", std::process::id());
    let endpoint = moto_bucket(&bucket, &["x"]);
    let plugin = plugin(&endpoint, &bucket, &dir);
    let examples = repo_root().join("dump-server/bareos/always-incremental");
    let out = dir.join("bareos");
    let (code, stdout, stderr) = run(&[
        "plan",
        "--plugin",
        &plugin,
        "--out",
        out.to_str().unwrap(),
        "--jobdefs",
        "s3",
        "--job-prefix",
        "s3-photos",
        "--schedule",
        "s3-incremental-nightly",
        "--storage",
        "s3-tape-library",
        "--always-incremental",
        "-q",
    ]);
    assert_eq!(code, 0, "{stdout} {stderr}");
    for file in [
        "pool/AI-Incremental.conf",
        "pool/AI-Consolidated.conf",
        "job/s3-photos-consolidate.conf",
        "schedule/s3-photos-consolidate.conf",
        "job/s3-photos-0001.conf",
    ] {
        let example = read(&examples.join("bareos-dir.d").join(file));
        let written = read(&out.join("bareos-dir.d").join(file));
        assert_eq!(directives(&example), directives(&written), "{file}");
    }

    let out = dir.join("bacula");
    let (code, stdout, stderr) = run(&[
        "plan",
        "--plugin",
        &plugin,
        "--out",
        out.to_str().unwrap(),
        "--dialect",
        "bacula",
        "--jobdefs",
        "S3Job",
        "--job-prefix",
        "s3-photos",
        "--storage",
        "VChanger",
        "--always-incremental",
        "-q",
    ]);
    assert_eq!(code, 0, "{stdout} {stderr}");
    let example = read(&examples.join("bacula/bacula-dir-always-incremental.conf"));
    let written = read(&out.join("bacula-dir-shards.conf"));
    // All but the FileSet's Plugin line (the example's endpoint is not moto's).
    let without_plugin = |t: &str| -> Vec<String> {
        directives(t)
            .into_iter()
            .filter(|l| !l.trim_start().starts_with("Plugin = "))
            .map(str::to_string)
            .collect()
    };
    assert_eq!(without_plugin(&example), without_plugin(&written));
    if Path::new("/usr/sbin/bacula-dir").exists() {
        let (ok, text) = bacula_dir_test(&dir, &example);
        assert!(ok, "bacula-dir -t refused the example:\n{text}");
    }
    let _ = std::fs::remove_dir_all(&dir);
}
