//! `s3fd-bench jobs`: 1, 2, 4… backup jobs running at the same time in ONE process, as a file
//! daemon runs concurrent jobs: the plugin library is loaded once, and each job, in a thread of
//! its own, has its own plugin context (`newPlugin`) and its own bucket. Every configuration
//! (server × workload × job count) runs in a fresh child process (`s3fd-bench run-jobs …`), so
//! its peak RSS (`VmHWM`) is its own.
//!
//! The child checks that the jobs' data did not mix: each job's null sink folds every saved
//! entry's name and data into a digest (`JobSpec::discard_digest`), which must equal the digest
//! of that job's own objects, computed here from the content memory-s3 serves (Ceph's buckets
//! are seeded with the same content).

use std::path::Path;
use std::process::Command;
use std::sync::{Arc, Barrier};
use std::time::{Duration, Instant};

use integration_tests::harness::{self, Discarded, Flavour, JobSpec};
use memory_s3::object_bytes;

use crate::measure::{self, Stdout};
use crate::{field, pause, write_credentials, Opts, Target};

/// One workload: `objects` objects of `size` bytes in each job's bucket.
#[derive(Clone, Debug)]
struct Load {
    id: &'static str,
    size: u64,
    objects: u64,
}

impl Load {
    fn title(&self) -> String {
        format!(
            "{} × {} per job",
            self.objects,
            crate::ceph::human(self.size)
        )
    }
}

/// The bucket job `j` backs up.
fn bucket(server: &str, load: &Load, j: usize) -> String {
    match server {
        "memory" => format!("jobs-{}-{j}", load.id),
        _ => format!("s3fd-bench-jobs-{}-{j}-{}", load.id, load.objects),
    }
}

/// Keys as memory-s3 names them (`obj-` + number zero-padded to the width of `n - 1`).
fn keys(n: u64) -> Vec<String> {
    let width = n.saturating_sub(1).to_string().len();
    (0..n).map(|i| format!("obj-{i:0width$}")).collect()
}

/// The digest a job backing up `bucket` must end with (see [`Discarded::digest`]).
fn expected_digest(bucket: &str, load: &Load) -> u64 {
    keys(load.objects).iter().fold(0u64, |acc, k| {
        let data = object_bytes(bucket, k, 0, load.size);
        acc.wrapping_add(Discarded::entry_digest(
            format!("/{bucket}/{k}").as_bytes(),
            &data,
        ))
    })
}

/// One measured configuration.
#[derive(Clone, Debug, Default)]
struct Run {
    server: String,
    load: String,
    jobs: usize,
    objects: u64,
    bytes: u64,
    /// Barrier release to the last job's end.
    wall: f64,
    /// The slowest and fastest job.
    job_wall_min: f64,
    job_wall_max: f64,
    /// CPU seconds during the jobs: this process, the server, the whole machine.
    cpu: f64,
    server_cpu: f64,
    busy: f64,
    hwm_before_kib: u64,
    hwm_kib: u64,
    /// The highest `hwm_kib` of all rounds of this configuration.
    hwm_max_kib: u64,
    ok: bool,
    note: String,
}

impl Run {
    fn obj_rate(&self) -> f64 {
        self.objects as f64 / self.wall.max(1e-9)
    }

    fn mib_rate(&self) -> f64 {
        self.bytes as f64 / (1u64 << 20) as f64 / self.wall.max(1e-9)
    }
}

pub fn cmd_jobs(args: &[String]) -> i32 {
    match jobs(args) {
        Ok(true) => 0,
        Ok(false) => 1,
        Err(e) => {
            eprintln!("s3fd-bench jobs: {e}");
            1
        }
    }
}

fn jobs(args: &[String]) -> Result<bool, String> {
    let opts = Opts::parse(args)?;
    opts.check(&[
        "jobs",
        "servers",
        "workloads",
        "small",
        "large",
        "ceph-small",
        "ceph-large",
        "options",
        "repeat",
        "markdown",
    ])?;
    let counts: Vec<usize> = opts
        .list("jobs", "1,2,4")
        .iter()
        .map(|s| {
            s.parse()
                .map_err(|_| format!("--jobs: {s:?} is not a count"))
        })
        .collect::<Result<_, _>>()?;
    let max_jobs = counts.iter().copied().max().unwrap_or(1).max(1);
    let servers = opts.list("servers", "memory,ceph");
    let workloads = opts.list("workloads", "small,large");
    let extra = opts.get("options").unwrap_or("").to_string();
    let repeat = opts.num("repeat", 1)?.max(1);
    let loads = |small: u64, large: u64| -> Vec<Load> {
        [
            Load {
                id: "small",
                size: 4096,
                objects: small,
            },
            Load {
                id: "large",
                size: 8 << 20,
                objects: large,
            },
        ]
        .into_iter()
        .filter(|l| l.objects > 0 && workloads.iter().any(|w| w == l.id))
        .collect()
    };

    let work = crate::work_dir()?;
    let so = harness::plugin_so(Flavour::Bareos);
    if let Some(why) = &harness::plugin_facts(Flavour::Bareos).rejection {
        return Err(format!("{}: rejected: {why}", so.display()));
    }
    eprintln!("[jobs] plugin {}", so.display());
    let started = Instant::now();
    let mut runs: Vec<(Run, Vec<f64>)> = Vec::new();
    for server in &servers {
        let (loads, target, _memory) = match server.as_str() {
            "memory" => {
                let loads = loads(opts.num("small", 5000)?, opts.num("large", 16)?);
                let mut specs = Vec::new();
                for l in &loads {
                    for j in 0..max_jobs {
                        specs.push(format!(
                            "{}:{}x{}",
                            bucket("memory", l, j),
                            l.objects,
                            l.size
                        ));
                    }
                }
                let m = crate::start_memory_server(&specs)?;
                let t = Target {
                    name: "memory-s3".into(),
                    endpoint: m.endpoint.clone(),
                    access_key: "bench-access-key".into(),
                    secret_key: "bench-secret-key".into(),
                    region: "us-east-1".into(),
                    server_pids: vec![m.child.id()],
                    rclone_provider: "Other",
                    stats: true,
                };
                eprintln!("[jobs] memory-s3 at {} (pid {})", m.endpoint, m.child.id());
                (loads, t, Some(m))
            }
            "ceph" => {
                let loads = loads(opts.num("ceph-small", 1000)?, opts.num("ceph-large", 8)?);
                let (t, _) = crate::ceph::target(0, 0, 0)?;
                for l in &loads {
                    for j in 0..max_jobs {
                        crate::ceph::seed_like_memory(&bucket("ceph", l, j), l.objects, l.size)?;
                    }
                }
                eprintln!(
                    "[jobs] ceph rgw at {} (pids {:?})",
                    t.endpoint, t.server_pids
                );
                (loads, t, None)
            }
            other => return Err(format!("unknown server {other:?} (memory, ceph)")),
        };
        let creds = write_credentials(&work, &target)?;
        for load in &loads {
            eprintln!("[jobs] == {} on {} ==", load.title(), target.name);
            let expect: Vec<u64> = (0..max_jobs)
                .map(|j| expected_digest(&bucket(server, load, j), load))
                .collect();
            let mut best: Vec<Option<Run>> = vec![None; counts.len()];
            let mut rates: Vec<Vec<f64>> = vec![Vec::new(); counts.len()];
            let mut hwm_max: Vec<u64> = vec![0; counts.len()];
            // Rounds: each runs every job count once, so a slow spell falls on all alike.
            for _ in 0..repeat {
                for (i, &n) in counts.iter().enumerate() {
                    let run = run_child(&target, server, load, n, &creds, &extra, &expect);
                    eprintln!(
                        "[jobs] {} {} jobs={n}: {:.0} obj/s {:.1} MiB/s wall {:.2}s cpu {:.2}s \
                         server {:.2}s busy {:.2}s hwm {} MiB{}",
                        target.name,
                        load.id,
                        run.obj_rate(),
                        run.mib_rate(),
                        run.wall,
                        run.cpu,
                        run.server_cpu,
                        run.busy,
                        run.hwm_kib / 1024,
                        if run.ok {
                            String::new()
                        } else {
                            format!(" FAILED: {}", run.note)
                        }
                    );
                    if run.ok {
                        rates[i].push(run.obj_rate());
                    }
                    hwm_max[i] = hwm_max[i].max(run.hwm_kib);
                    best[i] = match best[i].take() {
                        Some(b) if b.ok && (!run.ok || b.wall <= run.wall) => Some(b),
                        _ => Some(run),
                    };
                }
            }
            for (b, m) in best.iter_mut().zip(&hwm_max) {
                if let Some(b) = b {
                    b.hwm_max_kib = *m;
                }
            }
            runs.extend(best.into_iter().flatten().zip(rates));
        }
    }
    let text = report(&runs, started.elapsed(), args);
    println!("{text}");
    if let Some(path) = opts.get("markdown") {
        std::fs::write(path, &text).map_err(|e| format!("{path}: {e}"))?;
    }
    let _ = std::fs::remove_dir_all(&work);
    Ok(runs.iter().all(|(r, _)| r.ok))
}

/// One configuration in a fresh child process.
fn run_child(
    t: &Target,
    server: &str,
    load: &Load,
    n: usize,
    creds: &Path,
    extra: &str,
    expect: &[u64],
) -> Run {
    let exe = std::env::current_exe().expect("current_exe");
    let mut cmd = Command::new(&exe);
    cmd.arg("run-jobs").env("HARNESS_NO_BUILD", "1");
    for (j, digest) in expect.iter().enumerate().take(n) {
        let b = bucket(server, load, j);
        cmd.arg("--command").arg(format!(
            "s3:bucket={b}:endpoint={}:region={}:credentials_file={}:profile=bench{extra}",
            t.endpoint,
            t.region,
            creds.display()
        ));
        cmd.arg("--expect").arg(format!(
            "{},{},{digest}",
            load.objects,
            load.objects * load.size
        ));
    }
    let pids: Vec<String> = t.server_pids.iter().map(u32::to_string).collect();
    cmd.arg("--server-pids").arg(pids.join(","));
    let mut run = Run {
        server: t.name.clone(),
        load: load.title(),
        jobs: n,
        objects: load.objects * n as u64,
        bytes: load.objects * load.size * n as u64,
        ..Run::default()
    };
    pause();
    let m = match measure::run(&mut cmd, Stdout::Keep, Duration::from_secs(1800)) {
        Ok(m) => m,
        Err(e) => {
            run.note = format!("could not run: {e}");
            return run;
        }
    };
    let out = String::from_utf8_lossy(&m.stdout);
    let mut problems: Vec<String> = out
        .lines()
        .filter(|l| l.starts_with("JOB ") && field(l, "ok") != Some("1"))
        .map(str::to_string)
        .collect();
    let line = out
        .lines()
        .find(|l| l.starts_with("RESULT "))
        .unwrap_or_default();
    let num = |k: &str| field(line, k).and_then(|v| v.parse::<f64>().ok());
    run.wall = num("wall").unwrap_or(0.0);
    run.job_wall_min = num("job_wall_min").unwrap_or(0.0);
    run.job_wall_max = num("job_wall_max").unwrap_or(0.0);
    run.cpu = num("cpu").unwrap_or(0.0);
    run.server_cpu = num("server_cpu").unwrap_or(0.0);
    run.busy = num("busy").unwrap_or(0.0);
    run.hwm_before_kib = num("hwm_before_kib").unwrap_or(0.0) as u64;
    run.hwm_kib = num("hwm_kib").unwrap_or(0.0) as u64;
    if !m.ok() {
        problems.push(m.failure(5));
    }
    if line.is_empty() {
        problems.push("no RESULT line".into());
    }
    run.ok = problems.is_empty();
    run.note = problems.join("; ");
    run
}

/// `run-jobs`: the jobs at once, in threads of this process, into null sinks with digests.
pub fn cmd_run_jobs(args: &[String]) -> i32 {
    let opts = match Opts::parse(args)
        .and_then(|o| o.check(&["command", "expect", "server-pids"]).map(|_| o))
    {
        Ok(o) => o,
        Err(e) => {
            eprintln!("s3fd-bench run-jobs: {e}");
            return 2;
        }
    };
    let commands = opts.all("command");
    let expects: Vec<Option<(u64, u64, u64)>> = opts
        .all("expect")
        .iter()
        .map(|e| {
            let v: Vec<u64> = e.split(',').filter_map(|x| x.parse().ok()).collect();
            (v.len() == 3).then(|| (v[0], v[1], v[2]))
        })
        .collect();
    if commands.is_empty() || expects.len() != commands.len() || expects.iter().any(Option::is_none)
    {
        eprintln!("s3fd-bench run-jobs: give one --expect FILES,BYTES,DIGEST per --command");
        return 2;
    }
    let server_pids: Vec<u32> = opts
        .get("server-pids")
        .unwrap_or("")
        .split(',')
        .filter_map(|p| p.parse().ok())
        .collect();
    let flavour = Flavour::Bareos;
    // Load the plugin before timing (dlopen, loadPlugin, the harness' own set-up).
    if let Some(why) = &harness::plugin_facts(flavour).rejection {
        eprintln!("s3fd-bench run-jobs: the plugin is rejected: {why}");
        return 1;
    }
    let n = commands.len();
    let barrier = Arc::new(Barrier::new(n + 1));
    let hwm_before = measure::self_status_kib("VmHWM:");
    let (results, t0, cpu0, server0, busy0) = std::thread::scope(|scope| {
        let handles: Vec<_> = commands
            .iter()
            .enumerate()
            .map(|(j, command)| {
                let barrier = Arc::clone(&barrier);
                scope.spawn(move || {
                    let mut spec = JobSpec::new(flavour, j as u32 + 1, 'F', 0, command);
                    spec.discard_data = true;
                    spec.discard_digest = true;
                    barrier.wait();
                    let t = Instant::now();
                    let r = harness::backup(&spec, None);
                    (r, t.elapsed().as_secs_f64(), Instant::now())
                })
            })
            .collect();
        let cpu0 = measure::self_cpu();
        let server0 = measure::procs_cpu(&server_pids);
        let busy0 = measure::machine_busy();
        let t0 = Instant::now();
        barrier.wait();
        let results: Vec<_> = handles
            .into_iter()
            .map(|h| h.join().expect("a job thread panicked"))
            .collect();
        (results, t0, cpu0, server0, busy0)
    });
    // The jobs' phase ends with the last job (not with the joins above).
    let end = results.iter().map(|(_, _, e)| *e).max().unwrap_or(t0);
    let wall = end.duration_since(t0).as_secs_f64();
    let busy = measure::machine_busy() - busy0;
    let server_cpu = measure::procs_cpu(&server_pids) - server0;
    let cpu = measure::self_cpu() - cpu0;
    let hwm = measure::self_status_kib("VmHWM:");
    let mut all_ok = true;
    for (j, ((r, job_wall, _), want)) in results.iter().zip(&expects).enumerate() {
        let (files, bytes, digest) = want.expect("checked above");
        let d = &r.discarded;
        let ok = r.status == 'T'
            && r.protocol_violations.is_empty()
            && d.files == files
            && d.bytes == bytes
            && d.digest == digest;
        all_ok &= ok;
        println!(
            "JOB {j} ok={} status={} files={} bytes={} digest={:016x} expected={files}/{bytes}/{digest:016x} \
             wall={job_wall:.6} errors={} violations={}",
            u8::from(ok),
            r.status,
            d.files,
            d.bytes,
            d.digest,
            r.job_errors,
            r.protocol_violations.len()
        );
        if !ok {
            for (t, m) in r.messages.iter().take(10) {
                eprintln!("job {j} message {t}: {m}");
            }
            for v in r.protocol_violations.iter().take(10) {
                eprintln!("job {j} violation: {v}");
            }
        }
    }
    let walls = results.iter().map(|(_, w, _)| *w);
    println!(
        "RESULT jobs={n} wall={wall:.6} job_wall_min={:.6} job_wall_max={:.6} cpu={cpu:.6} \
         server_cpu={server_cpu:.6} busy={busy:.6} hwm_before_kib={hwm_before} hwm_kib={hwm} ok={}",
        walls.clone().fold(f64::INFINITY, f64::min),
        walls.fold(0.0, f64::max),
        u8::from(all_ok)
    );
    if all_ok {
        0
    } else {
        1
    }
}

fn mib(kib: u64) -> f64 {
    kib as f64 / 1024.0
}

/// The Markdown report: one table, then what the runs say against the target.
fn report(runs: &[(Run, Vec<f64>)], took: Duration, args: &[String]) -> String {
    use std::fmt::Write as _;
    let mut s = String::new();
    let _ = writeln!(
        s,
        "Concurrent backup jobs in one process (`s3fd-bench jobs {}`), {:.0} s; best round of each \
         (range of the rounds' rates in brackets).\n",
        args.join(" "),
        took.as_secs_f64()
    );
    let _ = writeln!(
        s,
        "| server | objects | jobs | objects/s | MiB/s | wall s (jobs' min–max) | our CPU (cores) | server CPU (cores) | other processes (cores) | machine busy (of 2) | peak RSS MiB (highest of the rounds) | RSS before jobs | check |"
    );
    let _ = writeln!(s, "|---|---|---|---|---|---|---|---|---|---|---|---|---|");
    for (r, rates) in runs {
        let range = match (
            rates.iter().copied().reduce(f64::min),
            rates.iter().copied().reduce(f64::max),
        ) {
            (Some(lo), Some(hi)) if rates.len() > 1 => format!(" [{lo:.0}–{hi:.0}]"),
            _ => String::new(),
        };
        let w = r.wall.max(1e-9);
        let _ = writeln!(
            s,
            "| {} | {} | {} | {:.0}{range} | {:.1} | {:.2} ({:.2}–{:.2}) | {:.2} | {:.2} | {:.2} | {:.2} | {:.0} ({:.0}) | {:.0} | {} |",
            r.server,
            r.load,
            r.jobs,
            r.obj_rate(),
            r.mib_rate(),
            r.wall,
            r.job_wall_min,
            r.job_wall_max,
            r.cpu / w,
            r.server_cpu / w,
            (r.busy - r.cpu - r.server_cpu).max(0.0) / w,
            r.busy / w,
            mib(r.hwm_kib),
            mib(r.hwm_max_kib),
            mib(r.hwm_before_kib),
            if r.ok {
                "digests equal".to_string()
            } else {
                format!("FAILED: {}", r.note)
            }
        );
    }
    // Memory: what each job count adds over one job, per configuration (highest of the rounds).
    let _ = writeln!(
        s,
        "\nPeak RSS (highest of the rounds) over one job's (same server and objects):\n"
    );
    for (r, _) in runs.iter().filter(|(r, _)| r.jobs > 1) {
        if let Some((one, _)) = runs
            .iter()
            .find(|(o, _)| o.jobs == 1 && o.server == r.server && o.load == r.load)
        {
            let extra = mib(r.hwm_max_kib) - mib(one.hwm_max_kib);
            let _ = writeln!(
                s,
                "- {} {}, {} jobs: {:.0} MiB, +{extra:.0} MiB ({:.0} MiB per extra job)",
                r.server,
                r.load,
                r.jobs,
                mib(r.hwm_max_kib),
                extra / (r.jobs - 1) as f64
            );
        }
    }
    s
}
