//! The report: machine facts, one progress line per run, and the Markdown tables with the
//! ratios to ours and the targets of docs/benchmarks.md.

use std::fmt::Write as _;
use std::path::Path;
use std::process::Command;
use std::time::Duration;

use crate::peers::Peers;
use crate::{Kind, Row};

/// The machine and software the numbers come from.
pub struct Machine {
    pub lines: Vec<(String, String)>,
}

fn first_line(cmd: &mut Command) -> String {
    cmd.output()
        .ok()
        .map(|o| {
            String::from_utf8_lossy(&o.stdout)
                .lines()
                .next()
                .unwrap_or_default()
                .to_string()
        })
        .unwrap_or_default()
}

impl Machine {
    pub fn collect(so: &Path, peers: &Peers) -> Machine {
        let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
        let model = cpuinfo
            .lines()
            .find(|l| l.starts_with("model name"))
            .and_then(|l| l.split_once(':'))
            .map(|(_, v)| v.trim().to_string())
            .unwrap_or_default();
        let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
        let mem = std::fs::read_to_string("/proc/meminfo")
            .ok()
            .and_then(|m| {
                m.lines()
                    .find(|l| l.starts_with("MemTotal:"))
                    .and_then(|l| l.split_whitespace().nth(1))
                    .and_then(|v| v.parse::<u64>().ok())
            })
            .map_or_else(String::new, |kib| {
                format!("{:.1} GiB", kib as f64 / (1u64 << 20) as f64)
            });
        let kernel = std::fs::read_to_string("/proc/sys/kernel/osrelease")
            .unwrap_or_default()
            .trim()
            .to_string();
        let rustc = first_line(Command::new("rustc").arg("--version"));
        let so_meta = std::fs::metadata(so)
            .ok()
            .and_then(|m| m.modified().ok())
            .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
            .map(|d| memory_s3::text::iso8601(d.as_secs() as i64))
            .unwrap_or_default();
        let root = integration_tests::servers::workspace_root();
        let commit = first_line(Command::new("git").arg("-C").arg(&root).args([
            "rev-parse",
            "--short",
            "HEAD",
        ]));
        let dirty = Command::new("git")
            .arg("-C")
            .arg(&root)
            .args(["status", "--porcelain", "--", "plugin", "ffi"])
            .output()
            .map(|o| !o.stdout.is_empty())
            .unwrap_or(false);
        let mut lines = vec![
            ("CPU".into(), format!("{model} — {cores} cores")),
            ("RAM".into(), mem),
            ("kernel".into(), kernel),
            ("rustc".into(), rustc),
            (
                "plugin".into(),
                format!(
                    "{} (built {so_meta}; tree {commit}{})",
                    so.display(),
                    if dirty {
                        " + uncommitted changes in plugin/ or ffi/"
                    } else {
                        ""
                    }
                ),
            ),
        ];
        for (tool, v) in peers.versions() {
            lines.push((tool, v));
        }
        Machine { lines }
    }
}

fn mib(kib: u64) -> f64 {
    kib as f64 / 1024.0
}

/// One line on stderr per finished run.
pub fn progress(r: &Row) {
    eprintln!(
        "[bench] {:<10} {:<42} {:<55} {:>8.2}s {:>9.1} MiB/s {:>9.0} obj/s cpu {:>6.2}s srv {:>6.2}s other {:>6.2}s rss {:>7.1} MiB {}{}",
        r.target,
        r.workload.title,
        r.tool,
        r.wall,
        r.mib_rate(),
        r.obj_rate(),
        r.client_cpu,
        r.server_cpu,
        r.foreign_cpu,
        mib(r.rss_kib),
        if r.ok { "" } else { "NOT OK " },
        r.requests.as_deref().unwrap_or("")
    );
}

fn gib(bytes: u64) -> f64 {
    bytes as f64 / (1u64 << 30) as f64
}

/// CPU column: seconds per GiB for data workloads, µs per key for listings.
fn cpu_cell(r: &Row, cpu: f64) -> String {
    match r.workload.kind {
        Kind::Listing => format!("{:.1} µs/key", cpu * 1e6 / r.objects.max(1) as f64),
        _ => format!("{:.2}", cpu / gib(r.bytes).max(1e-12)),
    }
}

fn ratio(ours: Option<&Row>, r: &Row) -> String {
    match ours {
        Some(o) if r.ours && std::ptr::eq(o, r) => "1.00 (ref)".into(),
        Some(o) if o.ok && r.ok => format!("{:.2}", o.rate() / r.rate().max(1e-12)),
        _ => "—".into(),
    }
}

/// The Markdown report.
pub fn markdown(machine: &Machine, rows: &[Row], took: Duration, args: &[String]) -> String {
    let mut s = String::new();
    let _ = writeln!(s, "### Machine\n");
    for (k, v) in &machine.lines {
        let _ = writeln!(s, "- **{k}**: {v}");
    }
    let _ = writeln!(
        s,
        "\nRun: `s3fd-bench all {}` — {:.0} s in all.\n",
        args.join(" "),
        took.as_secs_f64()
    );
    let _ = writeln!(
        s,
        "Rates are by process wall time (spawn to exit, start-up included, for every tool). \
         *ours÷peer* is our throughput over the peer's (MiB/s for the big object, objects/s \
         otherwise; > 1: ours is faster). CPU is user + system of the client process per GiB \
         moved (µs per key for listings); the server's CPU is measured separately. Peak RSS is \
         the client's VmHWM / ru_maxrss.\n"
    );
    let mut groups: Vec<(String, String)> = Vec::new();
    for r in rows {
        let g = (r.target.clone(), r.workload.title.clone());
        if !groups.contains(&g) {
            groups.push(g);
        }
    }
    for (target, title) in &groups {
        let group: Vec<&Row> = rows
            .iter()
            .filter(|r| &r.target == target && &r.workload.title == title)
            .collect();
        let ours = group.iter().copied().find(|r| r.ours);
        let listing = group
            .first()
            .is_some_and(|r| r.workload.kind == Kind::Listing);
        let _ = writeln!(s, "#### {title} — {target}\n");
        if listing {
            let _ = writeln!(
                s,
                "| tool | keys/s | client CPU | server CPU | peak RSS MiB | ours÷peer | notes |\n|---|---:|---:|---:|---:|---:|---|"
            );
        } else {
            let _ = writeln!(
                s,
                "| tool | MiB/s | obj/s | client CPU-s/GiB | server CPU-s/GiB | peak RSS MiB | ours÷peer | notes |\n|---|---:|---:|---:|---:|---:|---:|---|"
            );
        }
        for r in &group {
            let mut note = r.note.clone();
            if let (Some(jw), Some(jc)) = (r.job_wall, r.job_cpu) {
                let n = format!(
                    "job alone: {:.2} s, {:.2} CPU-s{}",
                    jw,
                    jc,
                    r.hwm_before_kib
                        .map(|h| format!(", RSS before job {:.0} MiB", mib(h)))
                        .unwrap_or_default()
                );
                note = if note.is_empty() {
                    n
                } else {
                    format!("{note}; {n}")
                };
            }
            let cores = std::thread::available_parallelism().map_or(1, |n| n.get()) as f64;
            let load = r.foreign_cpu / (r.wall * cores).max(1e-9);
            if load >= 0.05 {
                let n = format!("other processes: {:.0}% of the machine", load * 100.0);
                note = if note.is_empty() {
                    n
                } else {
                    format!("{note}; {n}")
                };
            }
            if let Some(req) = &r.requests {
                note = if note.is_empty() {
                    req.clone()
                } else {
                    format!("{note}; {req}")
                };
            }
            let status = if r.ok { "" } else { "**not OK** " };
            if listing {
                let _ = writeln!(
                    s,
                    "| {} | {:.0} | {} | {} | {:.1} | {} | {status}{note} |",
                    r.tool,
                    r.obj_rate(),
                    cpu_cell(r, r.client_cpu),
                    cpu_cell(r, r.server_cpu),
                    mib(r.rss_kib),
                    ratio(ours, r),
                );
            } else {
                let _ = writeln!(
                    s,
                    "| {} | {:.1} | {:.0} | {} | {} | {:.1} | {} | {status}{note} |",
                    r.tool,
                    r.mib_rate(),
                    r.obj_rate(),
                    cpu_cell(r, r.client_cpu),
                    cpu_cell(r, r.server_cpu),
                    mib(r.rss_kib),
                    ratio(ours, r),
                );
            }
        }
        let _ = writeln!(s);
    }
    s.push_str(&targets(rows, &groups));
    let _ = writeln!(s, "\n#### Commands\n");
    let mut seen = Vec::new();
    for r in rows {
        let key = (r.target.clone(), r.workload.title.clone(), r.tool.clone());
        if seen.contains(&key) {
            continue;
        }
        seen.push(key);
        let _ = writeln!(
            s,
            "- {} / {} / {}: `{}`",
            r.target, r.workload.title, r.tool, r.command
        );
    }
    s
}

/// The targets of docs/benchmarks.md, checked on this run.
fn targets(rows: &[Row], groups: &[(String, String)]) -> String {
    let mut s = String::from("#### Targets in this run\n\n");
    let yes = |b: bool| if b { "**met**" } else { "**not met**" };
    for (target, title) in groups {
        let group: Vec<&Row> = rows
            .iter()
            .filter(|r| &r.target == target && &r.workload.title == title && r.ok)
            .collect();
        let Some(ours) = group.iter().find(|r| r.ours) else {
            let _ = writeln!(
                s,
                "- {title} on {target}: ours did not complete — **not met**"
            );
            continue;
        };
        let best = group
            .iter()
            .filter(|r| !r.ours)
            .max_by(|a, b| a.rate().total_cmp(&b.rate()));
        match best {
            Some(b) => {
                let unit = if ours.workload.kind == Kind::Big {
                    "MiB/s"
                } else {
                    "obj/s"
                };
                let _ = writeln!(
                    s,
                    "- throughput ≥ best peer, {title} on {target}: ours {:.0} {unit} vs {} {:.0} {unit} \
                     (×{:.2}) — {}",
                    ours.rate(),
                    b.tool,
                    b.rate(),
                    ours.rate() / b.rate().max(1e-12),
                    yes(ours.rate() >= b.rate())
                );
            }
            None => {
                let _ = writeln!(s, "- throughput, {title} on {target}: no peer ran");
            }
        }
        if ours.workload.kind != Kind::Listing {
            let per = |r: &Row| r.client_cpu / gib(r.bytes).max(1e-12);
            if let Some(b) = group
                .iter()
                .filter(|r| !r.ours)
                .min_by(|a, b| per(a).total_cmp(&per(b)))
            {
                let _ = writeln!(
                    s,
                    "- CPU/GiB ≤ best peer, {title} on {target}: ours {:.2} vs {} {:.2} CPU-s/GiB — {}",
                    per(ours),
                    b.tool,
                    per(b),
                    yes(per(ours) <= per(b))
                );
            }
        }
        if ours.workload.kind != Kind::Big {
            let n = ours.objects.max(1) as f64;
            let (c, v) = (ours.client_cpu * 1e6 / n, ours.server_cpu * 1e6 / n);
            let cores = std::thread::available_parallelism().map_or(1, |n| n.get()) as f64;
            let _ = writeln!(
                s,
                "  - CPU per object ({title} on {target}): ours {c:.1} µs + server {v:.1} µs → \
                 CPU-bound ceiling with both on {cores:.0} cores: {:.0} obj/s (reached: {:.0}%)",
                cores * 1e6 / (c + v).max(1e-9),
                100.0 * ours.obj_rate() * (c + v) / (cores * 1e6)
            );
        }
        if ours.workload.kind == Kind::Small
            && ours.workload.object_size == 4096
            && target == "memory-s3"
        {
            let _ = writeln!(
                s,
                "- ≥ 5,000 objects/s on 4 KiB objects against memory-s3: {:.0} obj/s — {}",
                ours.obj_rate(),
                yes(ours.obj_rate() >= 5000.0)
            );
        }
    }
    let max_rss = rows
        .iter()
        .filter(|r| r.ours && r.ok)
        .map(|r| r.rss_kib)
        .max()
        .unwrap_or(0);
    let _ = writeln!(
        s,
        "- peak RSS < 256 MiB at any object count: max {:.0} MiB over our runs — {}",
        mib(max_rss),
        yes(max_rss > 0 && max_rss < 256 * 1024)
    );
    s
}
