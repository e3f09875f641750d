//! `dump-server status`: how well a planned bucket is protected, from the Director's catalog.
//!
//! For every shard of a plan, the console (`bconsole`) is asked for the shard job's runs
//! (`llist job=NAME`): Bareos in its JSON API mode (`.api 2`), Bacula 9.6 in its text form.
//! From them: the last successful Full, the last successful backup of any level (end time,
//! age, files, bytes) and the last job's status. The bucket is protected as of the oldest of
//! the shards' last good backups.
//!
//! The verdict follows the monitoring plugin convention (Nagios, Icinga, …): exit 0 OK,
//! 1 WARNING, 2 CRITICAL, 3 UNKNOWN, one summary line first, then a table (or `--json`).
//! A shard never backed up, or whose last finished job failed, is CRITICAL even if an older
//! good backup exists (the next restore of it would miss what changed since, and the failure
//! repeats until someone looks); a last good backup older than `--crit-age` is CRITICAL, older
//! than `--warn-age` a WARNING. A console that cannot be run, does not reach the Director or
//! answers something unreadable is UNKNOWN.

use crate::stdout::{out, outln};
use std::collections::{BTreeMap, HashMap};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode, Stdio};
use std::time::{Duration, Instant};

use serde::Serialize;
use serde_json::Value;

use crate::director_config::Dialect;
use crate::plan_file::PlanFile;
use crate::size::human;

/// Default `--warn-age`: a nightly job one day and two hours ago is still fine.
const DEFAULT_WARN: &str = "26h";
/// Default `--crit-age`: two nights missed.
const DEFAULT_CRIT: &str = "50h";
/// At most this many problems are named in the summary line.
const NAMED_PROBLEMS: usize = 5;

#[derive(clap::Args, Debug)]
pub struct StatusArgs {
    /// The plan: its plan.toml, or the directory holding it.
    #[arg(long, value_name = "FILE|DIR")]
    plan: PathBuf,
    /// The console program [default: bconsole from PATH, else /usr/sbin/bconsole]
    #[arg(long, value_name = "PATH")]
    console: Option<PathBuf>,
    /// The console's configuration (bconsole -c), naming the Director and its password.
    #[arg(long, short = 'c', value_name = "FILE")]
    console_config: Option<PathBuf>,
    /// The Director's kind: bareos (JSON API) or bacula (text) [default: the plan's]
    #[arg(long, value_enum)]
    dialect: Option<Dialect>,
    /// WARNING when a shard's last good backup is older than this (30m, 26h, 2d, 1d12h).
    #[arg(long, value_name = "AGE", default_value = DEFAULT_WARN, value_parser = parse_age)]
    warn_age: u64,
    /// CRITICAL when a shard's last good backup is older than this.
    #[arg(long, value_name = "AGE", default_value = DEFAULT_CRIT, value_parser = parse_age)]
    crit_age: u64,
    /// Give up on the console after this long (UNKNOWN).
    #[arg(long, value_name = "AGE", default_value = "120s", value_parser = parse_age)]
    timeout: u64,
    /// Print one JSON document instead of the summary line and the table.
    #[arg(long)]
    json: bool,
}

/// `90s`, `30m`, `26h`, `2d`, `1w`, `1d12h`; a bare number is seconds.
pub fn parse_age(text: &str) -> Result<u64, String> {
    let t = text.trim();
    if t.is_empty() {
        return Err("empty duration".into());
    }
    if let Ok(n) = t.parse::<u64>() {
        return Ok(n);
    }
    let mut total: u64 = 0;
    let mut digits = String::new();
    for c in t.chars() {
        if c.is_ascii_digit() {
            digits.push(c);
            continue;
        }
        let unit = match c {
            's' => 1,
            'm' => 60,
            'h' => 3600,
            'd' => 86_400,
            'w' => 604_800,
            _ => {
                return Err(format!(
                    "'{text}' is not a duration (like 90s, 30m, 26h, 2d, 1d12h)"
                ))
            }
        };
        let n: u64 = digits
            .parse()
            .map_err(|_| format!("'{text}': a number must come before '{c}'"))?;
        digits.clear();
        total = total.saturating_add(n.saturating_mul(unit));
    }
    if !digits.is_empty() {
        return Err(format!(
            "'{text}': the last number has no unit (s, m, h, d, w)"
        ));
    }
    Ok(total)
}

/// `3h12m`, `2d4h`, `45s`: the two largest units.
pub fn format_age(secs: u64) -> String {
    let units = [("d", 86_400), ("h", 3600), ("m", 60), ("s", 1)];
    let mut parts = Vec::new();
    let mut rest = secs;
    for (name, size) in units {
        if rest >= size || (parts.is_empty() && size == 1) {
            parts.push(format!("{}{name}", rest / size));
            rest %= size;
        }
        if parts.len() == 2 {
            break;
        }
    }
    parts.join("")
}

fn rfc3339(epoch: i64) -> String {
    time::OffsetDateTime::from_unix_timestamp(epoch)
        .ok()
        .and_then(|t| {
            t.format(&time::format_description::well_known::Rfc3339)
                .ok()
        })
        .unwrap_or_else(|| epoch.to_string())
}

/// One run of a job, as the catalog has it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct JobRecord {
    pub jobid: u64,
    pub name: String,
    /// `B` for a backup.
    #[serde(rename = "type")]
    pub kind: char,
    /// `F`, `I`, `D` (`f`: a VirtualFull).
    pub level: char,
    /// JobStatus: `T` OK, `W` OK with warnings, `E`/`e`/`f` errors, `A` cancelled, `R` running…
    pub status: char,
    /// When it ended (seconds since the epoch, UTC), if it has.
    pub end: Option<i64>,
    pub files: u64,
    pub bytes: u64,
    pub errors: u64,
    /// The Client it ran on (Bacula `ClientName`, Bareos `client` or `clientname`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub client: Option<String>,
}

impl JobRecord {
    fn is_backup(&self) -> bool {
        self.kind == 'B'
    }

    fn good(&self) -> bool {
        matches!(self.status, 'T' | 'W')
    }

    fn full(&self) -> bool {
        matches!(self.level, 'F' | 'f')
    }

    /// Still queued, waiting or running: neither good nor failed yet.
    fn unfinished(&self) -> bool {
        "CRBFSmMsjcdtpialLq".contains(self.status)
    }

    fn level_name(&self) -> &'static str {
        match self.level {
            'F' => "Full",
            'f' => "VirtualFull",
            'I' => "Incremental",
            'D' => "Differential",
            _ => "other",
        }
    }
}

/// What a JobStatus letter means (both Directors use the same letters).
pub fn status_name(status: char) -> &'static str {
    match status {
        'T' => "OK",
        'W' => "OK with warnings",
        'E' => "terminated with errors",
        'e' => "non-fatal error",
        'f' => "fatal error",
        'A' => "canceled",
        'I' => "incomplete",
        'D' => "verify differences",
        'R' => "running",
        'C' => "created, not yet running",
        'B' => "blocked",
        'F' | 'S' | 'm' | 'M' | 's' | 'j' | 'c' | 'd' | 't' | 'p' | 'q' => "waiting",
        'i' | 'a' | 'l' | 'L' => "finishing",
        _ => "unknown status",
    }
}

fn field<'a>(fields: &'a HashMap<String, String>, name: &str) -> Option<&'a str> {
    fields.get(name).map(String::as_str)
}

fn number(fields: &HashMap<String, String>, name: &str) -> u64 {
    field(fields, name)
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(0)
}

/// `YYYY-MM-DD HH:MM:SS`, read as UTC (only when a record has no JobTDate).
fn parse_catalog_time(text: &str) -> Option<i64> {
    let format = time::format_description::parse_borrowed::<2>(
        "[year]-[month]-[day] [hour]:[minute]:[second]",
    )
    .ok()?;
    time::PrimitiveDateTime::parse(text.trim(), &format)
        .ok()
        .map(|t| t.assume_utc().unix_timestamp())
}

/// A record from its fields (keys in lower case, as Bareos' JSON has them).
fn record(fields: &HashMap<String, String>) -> Option<JobRecord> {
    let jobid = field(fields, "jobid")?.trim().parse().ok()?;
    let first = |name: &str| {
        field(fields, name)
            .and_then(|v| v.trim().chars().next())
            .unwrap_or('?')
    };
    let status = first("jobstatus");
    let finished = !"CRBFSmMsjcdtpialLq".contains(status);
    // JobTDate is the end as seconds since the epoch once a job has ended (the Director's
    // local time zone does not matter); EndTime is a local time without zone.
    let end = if finished {
        match number(fields, "jobtdate") {
            0 => field(fields, "realendtime")
                .and_then(parse_catalog_time)
                .or_else(|| field(fields, "endtime").and_then(parse_catalog_time)),
            t => i64::try_from(t).ok(),
        }
    } else {
        None
    };
    Some(JobRecord {
        jobid,
        name: field(fields, "name")?.trim().to_string(),
        kind: first("type"),
        level: first("level"),
        status,
        end,
        files: number(fields, "jobfiles"),
        bytes: number(fields, "jobbytes"),
        errors: number(fields, "joberrors"),
        client: field(fields, "clientname")
            .or_else(|| field(fields, "client"))
            .map(|c| c.trim().to_string())
            .filter(|c| !c.is_empty()),
    })
}

/// What a console session answered.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Answers {
    pub records: Vec<JobRecord>,
    /// Queries answered with "no such runs" (Bacula's "No results to list.").
    pub empty: usize,
    /// Job lists received (Bareos: one JSON response with `jobs` per query).
    pub lists: usize,
}

/// Bacula's `llist job=NAME`: blocks of `Key: value` lines, one per job, each starting with
/// `JobId:`; other lines (the connection banner, echoed commands, "You have messages.") are
/// not of that form and are skipped.
pub fn parse_bacula(text: &str) -> Answers {
    let mut answers = Answers::default();
    let mut current: Option<HashMap<String, String>> = None;
    fn finish(fields: Option<HashMap<String, String>>, answers: &mut Answers) {
        if let Some(r) = fields.as_ref().and_then(record) {
            answers.records.push(r);
        }
    }
    for line in text.lines() {
        let trimmed = line.trim();
        if trimmed == "No results to list." {
            answers.empty += 1;
            continue;
        }
        let Some((key, value)) = trimmed.split_once(':') else {
            continue;
        };
        if key.is_empty() || !key.bytes().all(|b| b.is_ascii_alphanumeric()) {
            continue;
        }
        let key = key.to_ascii_lowercase();
        let value = value.strip_prefix(' ').unwrap_or(value).to_string();
        if key == "jobid" {
            finish(current.take(), &mut answers);
            current = Some(HashMap::new());
        }
        if let Some(fields) = current.as_mut() {
            fields.insert(key, value);
        }
    }
    finish(current.take(), &mut answers);
    answers
}

/// The JSON values in `text`, in order. bconsole may print its banner, the commands or a
/// prompt around them: on each line the first `{` is tried as the start of a value; a line
/// where none starts is skipped.
fn json_values(text: &str) -> Vec<Value> {
    let mut out = Vec::new();
    let mut pos = 0;
    while pos < text.len() {
        let rest = &text[pos..];
        let line_end = rest.find('\n').map_or(rest.len(), |i| i + 1);
        if let Some(brace) = rest[..line_end].find('{') {
            let start = pos + brace;
            let mut stream =
                serde_json::Deserializer::from_str(&text[start..]).into_iter::<Value>();
            if let Some(Ok(v)) = stream.next() {
                pos = start + stream.byte_offset();
                out.push(v);
                continue;
            }
        }
        pos += line_end;
    }
    out
}

fn scalar(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

/// Bareos' JSON API (`.api 2`): one JSON-RPC response per command; a job list is
/// `{"result": {"jobs": [{"jobid": "1", "name": …, "jobstatus": "T", …}]}}` (values are
/// strings or numbers; keys are lower case, compared without case here). An error response
/// names what went wrong.
pub fn parse_bareos(text: &str) -> Result<Answers, String> {
    let mut answers = Answers::default();
    for v in json_values(text) {
        if let Some(err) = v.get("error") {
            let detail = err
                .pointer("/data/messages/error")
                .and_then(Value::as_array)
                .map(|a| {
                    a.iter()
                        .filter_map(Value::as_str)
                        .map(str::trim)
                        .collect::<Vec<_>>()
                        .join(" ")
                })
                .filter(|s| !s.is_empty())
                .or_else(|| err.get("message").and_then(scalar))
                .unwrap_or_else(|| err.to_string());
            return Err(format!("the Director answered an error: {detail}"));
        }
        let Some(jobs) = v.pointer("/result/jobs").and_then(Value::as_array) else {
            continue;
        };
        // Rows the console's ACLs hide are left out of the list and counted here: a shard
        // would look never backed up (or its failures hidden) while it is only out of sight.
        let hidden = v
            .pointer("/result/meta/range/filtered")
            .and_then(scalar)
            .and_then(|n| n.trim().parse::<u64>().ok())
            .unwrap_or(0);
        if hidden > 0 {
            return Err(format!(
                "the Director hid {hidden} job(s) from this console (its Job, Client, Pool or \
                 FileSet ACLs): let the console that runs status see the shards' jobs"
            ));
        }
        answers.lists += 1;
        if jobs.is_empty() {
            answers.empty += 1;
        }
        for job in jobs {
            let Some(obj) = job.as_object() else { continue };
            let fields: HashMap<String, String> = obj
                .iter()
                .filter_map(|(k, v)| scalar(v).map(|s| (k.to_ascii_lowercase(), s)))
                .collect();
            if let Some(r) = record(&fields) {
                answers.records.push(r);
            }
        }
    }
    Ok(answers)
}

/// The commands of one console session for `names`.
pub fn script(dialect: Dialect, names: &[&str]) -> String {
    let mut s = String::new();
    if dialect == Dialect::Bareos {
        s.push_str(".api 2\n");
    }
    for n in names {
        s.push_str(&format!("llist job={n}\n"));
    }
    s.push_str("quit\n");
    s
}

fn default_console() -> PathBuf {
    let in_path = std::env::var_os("PATH")
        .is_some_and(|p| std::env::split_paths(&p).any(|d| d.join("bconsole").is_file()));
    if in_path {
        PathBuf::from("bconsole")
    } else {
        PathBuf::from("/usr/sbin/bconsole")
    }
}

fn tail(text: &str, lines: usize) -> String {
    let all: Vec<&str> = text.lines().filter(|l| !l.trim().is_empty()).collect();
    all[all.len().saturating_sub(lines)..].join(" / ")
}

/// Runs the console with `input` on its standard input; its standard output, or why not.
fn run_console(
    console: &Path,
    config: Option<&Path>,
    dialect: Dialect,
    input: String,
    timeout: Duration,
) -> Result<String, String> {
    let mut cmd = Command::new(console);
    // Bacula's bconsole reads commands from a pipe only without its line editor (-n); Bareos'
    // reads a pipe as it is (and has no -n any more).
    if dialect == Dialect::Bacula {
        cmd.arg("-n");
    }
    if let Some(c) = config {
        cmd.arg("-c").arg(c);
    }
    cmd.stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = cmd
        .spawn()
        .map_err(|e| format!("cannot run the console {}: {e}", console.display()))?;
    let mut stdin = child.stdin.take().expect("piped stdin");
    let writer = std::thread::spawn(move || {
        let _ = stdin.write_all(input.as_bytes());
    });
    let mut out_pipe = child.stdout.take().expect("piped stdout");
    let reader = std::thread::spawn(move || {
        let mut buf = Vec::new();
        let _ = out_pipe.read_to_end(&mut buf);
        buf
    });
    let mut err_pipe = child.stderr.take().expect("piped stderr");
    let err_reader = std::thread::spawn(move || {
        let mut buf = Vec::new();
        let _ = err_pipe.read_to_end(&mut buf);
        buf
    });
    let started = Instant::now();
    let status = loop {
        match child.try_wait() {
            Ok(Some(status)) => break status,
            Ok(None) if started.elapsed() >= timeout => {
                let _ = child.kill();
                let _ = child.wait();
                let out = String::from_utf8_lossy(&reader.join().unwrap_or_default()).into_owned();
                return Err(format!(
                    "the console {} did not finish within {} (Director unreachable or slow?): {}",
                    console.display(),
                    format_age(timeout.as_secs()),
                    tail(&out, 3)
                ));
            }
            Ok(None) => std::thread::sleep(Duration::from_millis(50)),
            Err(e) => return Err(format!("waiting for the console: {e}")),
        }
    };
    let _ = writer.join();
    let out = String::from_utf8_lossy(&reader.join().unwrap_or_default()).into_owned();
    let err = String::from_utf8_lossy(&err_reader.join().unwrap_or_default()).into_owned();
    if !status.success() {
        return Err(format!(
            "the console {} could not talk to the Director ({status}): {}",
            console.display(),
            tail(&format!("{out}\n{err}"), 3)
        ));
    }
    Ok(out)
}

/// The verdict, in the order of the exit codes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum State {
    Ok = 0,
    Warning = 1,
    Critical = 2,
    Unknown = 3,
}

impl State {
    fn name(self) -> &'static str {
        match self {
            State::Ok => "OK",
            State::Warning => "WARNING",
            State::Critical => "CRITICAL",
            State::Unknown => "UNKNOWN",
        }
    }
}

/// A backup as the report shows it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Backup {
    pub jobid: u64,
    pub level: &'static str,
    pub status: char,
    /// RFC 3339, UTC.
    pub ended: Option<String>,
    pub age_seconds: Option<u64>,
    pub files: u64,
    pub bytes: u64,
    /// The Client it ran on, as the catalog has it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub client: Option<String>,
}

fn backup(r: &JobRecord, now: i64) -> Backup {
    Backup {
        jobid: r.jobid,
        level: r.level_name(),
        status: r.status,
        ended: r.end.map(rfc3339),
        age_seconds: r.end.map(|e| now.saturating_sub(e).max(0) as u64),
        files: r.files,
        bytes: r.bytes,
        client: r.client.clone(),
    }
}

/// One shard's state.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ShardStatus {
    pub name: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub client: Option<String>,
    pub state: State,
    /// Why it is not OK.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub problem: Option<String>,
    pub last_backup: Option<Backup>,
    pub last_full: Option<Backup>,
    pub last_job: Option<Backup>,
}

/// The limits a shard's last good backup is judged by (seconds).
#[derive(Clone, Copy, Debug)]
pub struct Ages {
    pub warn: u64,
    pub crit: u64,
}

/// Judges one shard from its job records.
pub fn judge(
    name: &str,
    client: Option<&str>,
    records: &[&JobRecord],
    now: i64,
    ages: Ages,
) -> ShardStatus {
    let mut backups: Vec<&JobRecord> = records.iter().copied().filter(|r| r.is_backup()).collect();
    backups.sort_by_key(|r| r.jobid);
    // The last good backups are the ones that protect the latest state, by end time: a
    // consolidating VirtualFull (Bareos' Always Incremental, Bacula's VirtualFull) has a newer
    // JobId than the Incrementals after the ones it consolidated, but the Director gives it the
    // end time of the newest job it consolidated.
    let newest = |keep: &dyn Fn(&JobRecord) -> bool| {
        backups
            .iter()
            .copied()
            .filter(|r| keep(r))
            .max_by_key(|r| (r.end.unwrap_or(i64::MIN), r.jobid))
    };
    let last_good = newest(&|r| r.good());
    let last_full = newest(&|r| r.good() && r.full());
    let last_job = backups.last().copied();
    // The same order for the last finished job, or a failed Incremental followed by a good
    // consolidation would hide behind it (a finished job without an end time counts as the
    // newest: it cannot hide a failure either).
    let last_finished = backups
        .iter()
        .copied()
        .filter(|r| !r.unfinished())
        .max_by_key(|r| (r.end.unwrap_or(i64::MAX), r.jobid));
    let (state, problem) = match (last_good, last_finished) {
        (_, Some(f)) if !f.good() => (
            State::Critical,
            Some(format!(
                "last job failed (JobId {}, {}, {}{})",
                f.jobid,
                f.level_name(),
                status_name(f.status),
                f.end
                    .map(|e| format!(", {} ago", format_age(now.saturating_sub(e).max(0) as u64)))
                    .unwrap_or_default()
            )),
        ),
        (None, _) => match last_job {
            Some(j) => (
                State::Critical,
                Some(format!(
                    "no good backup yet (JobId {} {})",
                    j.jobid,
                    status_name(j.status)
                )),
            ),
            None => (State::Critical, Some("never backed up".to_string())),
        },
        (Some(g), _) => {
            let age = g.end.map(|e| now.saturating_sub(e).max(0) as u64);
            match age {
                Some(a) if a > ages.crit => (
                    State::Critical,
                    Some(format!(
                        "last good backup {} ago (critical after {})",
                        format_age(a),
                        format_age(ages.crit)
                    )),
                ),
                Some(a) if a > ages.warn => (
                    State::Warning,
                    Some(format!(
                        "last good backup {} ago (warning after {})",
                        format_age(a),
                        format_age(ages.warn)
                    )),
                ),
                None => (
                    State::Unknown,
                    Some(format!("JobId {} has no end time", g.jobid)),
                ),
                _ if last_full.is_none() => (
                    State::Warning,
                    Some("no good Full in the catalog (pruned?)".to_string()),
                ),
                // The plan moved the shard (re-plan with --clients) but the Director still
                // runs it on the old Client: the new configuration is not installed.
                _ if client.is_some()
                    && last_job
                        .and_then(|j| j.client.as_deref())
                        .is_some_and(|c| Some(c) != client) =>
                {
                    (
                        State::Warning,
                        Some(format!(
                            "last job ran on client {}, the plan has {}: install the re-planned \
                             configuration",
                            last_job.and_then(|j| j.client.as_deref()).unwrap_or(""),
                            client.unwrap_or("")
                        )),
                    )
                }
                _ => (State::Ok, None),
            }
        }
    };
    ShardStatus {
        name: name.to_string(),
        client: client.map(str::to_string),
        state,
        problem,
        last_backup: last_good.map(|r| backup(r, now)),
        last_full: last_full.map(|r| backup(r, now)),
        last_job: last_job.map(|r| backup(r, now)),
    }
}

/// The whole bucket.
#[derive(Debug, Serialize)]
pub struct Report {
    pub state: State,
    pub summary: String,
    pub bucket: String,
    /// The oldest of the shards' last good backups; absent if a shard has none.
    pub protected_as_of: Option<String>,
    pub shards_total: usize,
    pub shards_ok: usize,
    pub shards: Vec<ShardStatus>,
}

/// Sums the shards up: the state is the worst shard's; the bucket is protected as of the
/// oldest last good backup.
pub fn report(bucket: &str, shards: Vec<ShardStatus>, ages: Ages) -> Report {
    let state = shards
        .iter()
        .map(|s| s.state)
        .max()
        .unwrap_or(State::Unknown);
    let total = shards.len();
    let ok = shards.iter().filter(|s| s.state == State::Ok).count();
    let oldest = shards
        .iter()
        .map(|s| {
            s.last_backup
                .as_ref()
                .and_then(|b| b.age_seconds.zip(b.ended.clone()))
        })
        .collect::<Option<Vec<_>>>()
        .and_then(|v| v.into_iter().max_by_key(|(age, _)| *age));
    let mut summary = format!("S3 BACKUP {} - bucket {bucket} ", state.name());
    match &oldest {
        Some((_, when)) => summary.push_str(&format!("protected as of {when}")),
        None => summary.push_str("not protected"),
    }
    summary.push_str(&format!(" ({ok}/{total} shards OK)"));
    let problems: Vec<String> = shards
        .iter()
        .filter(|s| s.state != State::Ok)
        .map(|s| format!("{} {}", s.name, s.problem.as_deref().unwrap_or("")))
        .collect();
    if !problems.is_empty() {
        summary.push_str(": ");
        summary.push_str(&problems[..problems.len().min(NAMED_PROBLEMS)].join("; "));
        if problems.len() > NAMED_PROBLEMS {
            summary.push_str(&format!("; and {} more", problems.len() - NAMED_PROBLEMS));
        }
    }
    // Performance data: the age of the oldest last good backup against the thresholds.
    if let Some((age, _)) = &oldest {
        summary.push_str(&format!(
            " | oldest_backup_age={age}s;{};{};0 shards={total} shards_ok={ok}",
            ages.warn, ages.crit
        ));
    } else {
        summary.push_str(&format!(" | shards={total} shards_ok={ok}"));
    }
    Report {
        state,
        summary,
        bucket: bucket.to_string(),
        protected_as_of: oldest.map(|(_, w)| w),
        shards_total: total,
        shards_ok: ok,
        shards,
    }
}

fn table(r: &Report) -> String {
    let when = |b: &Option<Backup>| -> (String, String) {
        match b {
            Some(b) => (
                b.ended.clone().unwrap_or_else(|| "-".into()),
                b.age_seconds.map(format_age).unwrap_or_else(|| "-".into()),
            ),
            None => ("never".into(), "-".into()),
        }
    };
    let mut rows = vec![[
        "SHARD".to_string(),
        "CLIENT".to_string(),
        "STATE".to_string(),
        "LAST BACKUP".to_string(),
        "AGE".to_string(),
        "LEVEL".to_string(),
        "FILES".to_string(),
        "BYTES".to_string(),
        "LAST FULL".to_string(),
        "AGE".to_string(),
        "LAST JOB".to_string(),
    ]];
    for s in &r.shards {
        let (lb, lb_age) = when(&s.last_backup);
        let (lf, lf_age) = when(&s.last_full);
        rows.push([
            s.name.clone(),
            s.client.clone().unwrap_or_else(|| "-".into()),
            s.state.name().to_string(),
            lb,
            lb_age,
            s.last_backup
                .as_ref()
                .map_or("-".into(), |b| b.level.to_string()),
            s.last_backup
                .as_ref()
                .map_or("-".into(), |b| b.files.to_string()),
            s.last_backup
                .as_ref()
                .map_or("-".into(), |b| human(b.bytes)),
            lf,
            lf_age,
            s.last_job.as_ref().map_or("-".into(), |j| {
                format!("{} {} ({})", j.jobid, j.status, status_name(j.status))
            }),
        ]);
    }
    let mut widths = [0usize; 11];
    for row in &rows {
        for (w, c) in widths.iter_mut().zip(row) {
            *w = (*w).max(c.chars().count());
        }
    }
    let mut out = String::new();
    for row in &rows {
        let line: Vec<String> = row
            .iter()
            .zip(widths)
            .map(|(c, w)| format!("{c:<w$}"))
            .collect();
        out.push_str(line.join("  ").trim_end());
        out.push('\n');
    }
    for s in r.shards.iter().filter(|s| s.problem.is_some()) {
        out.push_str(&format!(
            "{} {}: {}\n",
            s.state.name(),
            s.name,
            s.problem.as_deref().unwrap_or("")
        ));
    }
    out
}

fn unknown(json: bool, message: &str) -> ExitCode {
    let line = format!("S3 BACKUP UNKNOWN - {message}");
    if json {
        outln!(
            "{}",
            serde_json::json!({ "state": "UNKNOWN", "summary": line, "shards": [] })
        );
    } else {
        outln!("{line}");
    }
    ExitCode::from(State::Unknown as u8)
}

pub fn run(args: StatusArgs) -> ExitCode {
    let plan_path = if args.plan.is_dir() {
        args.plan.join("plan.toml")
    } else {
        args.plan.clone()
    };
    let plan = match PlanFile::read(&plan_path) {
        Ok(p) => p,
        Err(e) => return unknown(args.json, &e),
    };
    if args.warn_age > args.crit_age {
        return unknown(
            args.json,
            &format!(
                "--warn-age {} is longer than --crit-age {}",
                format_age(args.warn_age),
                format_age(args.crit_age)
            ),
        );
    }
    let dialect = match args.dialect {
        Some(d) => d,
        None => match Dialect::from_name(&plan.director.dialect) {
            Ok(d) => d,
            Err(e) => return unknown(args.json, &format!("{}: {e}", plan_path.display())),
        },
    };
    let names: Vec<&str> = plan.shards.iter().map(|s| s.name.as_str()).collect();
    let console = args.console.clone().unwrap_or_else(default_console);
    let output = match run_console(
        &console,
        args.console_config.as_deref(),
        dialect,
        script(dialect, &names),
        Duration::from_secs(args.timeout.max(1)),
    ) {
        Ok(o) => o,
        Err(e) => return unknown(args.json, &e),
    };
    let answers = match dialect {
        Dialect::Bacula => parse_bacula(&output),
        Dialect::Bareos => match parse_bareos(&output) {
            Ok(a) => a,
            Err(e) => return unknown(args.json, &e),
        },
    };
    let mut by_name: BTreeMap<&str, Vec<&JobRecord>> = BTreeMap::new();
    for r in &answers.records {
        by_name.entry(r.name.as_str()).or_default().push(r);
    }
    // Every query must have been answered: with runs of that job, or with "none".
    let answered = match dialect {
        Dialect::Bacula => {
            names.iter().filter(|n| by_name.contains_key(*n)).count() + answers.empty
        }
        Dialect::Bareos => answers.lists,
    };
    if answered != names.len() {
        return unknown(
            args.json,
            &format!(
                "the Director answered {answered} of {} job queries ({} {}); console output: {}",
                names.len(),
                console.display(),
                dialect.name(),
                tail(&output, 4)
            ),
        );
    }
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    let ages = Ages {
        warn: args.warn_age,
        crit: args.crit_age,
    };
    let shards: Vec<ShardStatus> = plan
        .shards
        .iter()
        .map(|s| {
            let client = s.client.as_deref().or(plan.director.client.as_deref());
            let records = by_name
                .get(s.name.as_str())
                .map_or(&[][..], |v| v.as_slice());
            judge(&s.name, client, records, now, ages)
        })
        .collect();
    let report = report(&plan.bucket, shards, ages);
    if args.json {
        match serde_json::to_string_pretty(&report) {
            Ok(j) => outln!("{j}"),
            Err(e) => return unknown(false, &format!("cannot encode the report: {e}")),
        }
    } else {
        outln!("{}", report.summary);
        out!("{}", table(&report));
    }
    ExitCode::from(report.state as u8)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Bacula 9.6's `llist job=NAME` as bconsole -n prints it (captured from the local stack).
    const BACULA: &str = "Connecting to Director 127.0.0.1:19611
1000 OK: 103 dump-dir Version: 9.6.7 (10 December 2020)
Enter a period to cancel a command.
llist job=s3-b-0001
Using Catalog \"MyCatalog\"
           JobId: 1
             Job: s3-b-0001.2026-12-07_03.34.24_06
            Name: s3-b-0001
     PurgedFiles: 0
            Type: B
           Level: F
        ClientId: 1
      ClientName: dump-fd
       JobStatus: T
       SchedTime: 2026-12-07 03:34:24
       StartTime: 2026-12-07 03:34:26
         EndTime: 2026-12-07 03:34:27
     RealEndTime: 2026-12-07 03:34:27
        JobTDate: 1796614467
    VolSessionId: 1
  VolSessionTime: 1796614461
        JobFiles: 12
        JobBytes: 3456
       ReadBytes: 3456
       JobErrors: 0
 JobMissingFiles: 0
          PoolId: 1
        PoolName: VTapes
      PriorJobId: 0
       FileSetId: 1
         FileSet: s3-b-0001
         HasBase: 0
        HasCache: 0
         Comment: 

           JobId: 3
             Job: s3-b-0001.2026-12-07_04.00.00_10
            Name: s3-b-0001
     PurgedFiles: 0
            Type: B
           Level: I
        ClientId: 1
      ClientName: dump-fd
       JobStatus: f
       SchedTime: 2026-12-07 04:00:00
       StartTime: 2026-12-07 04:00:01
         EndTime: 2026-12-07 04:00:02
     RealEndTime: 2026-12-07 04:00:02
        JobTDate: 1796616002
    VolSessionId: 3
  VolSessionTime: 1796614461
        JobFiles: 0
        JobBytes: 0
       ReadBytes: 0
       JobErrors: 1
 JobMissingFiles: 0
          PoolId: 1
        PoolName: VTapes
      PriorJobId: 0
       FileSetId: 1
         FileSet: s3-b-0001
         HasBase: 0
        HasCache: 0
         Comment: 

You have messages.
llist job=s3-b-0002
No results to list.
quit
";

    /// Bareos' JSON API answer to `.api 2` and `llist job=NAME`, in the documented form
    /// (DeveloperGuide, "API mode 2 (json)"), with the mixed-case keys of that sample.
    const BAREOS: &str = r#"Connecting to Director localhost:9101
 Encryption: TLS_CHACHA20_POLY1305_SHA256 TLSv1.3
1000 OK: bareos-dir Version: 25.0.0 (01 January 2026)
You are connected using the default console
{
  "jsonrpc": "2.0",
  "id": null,
  "result": {
    "api": 2
  }
}
{
"jsonrpc": "2.0",
"id": null,
"result": {
  "jobs": [
    {
      "name": "s3-b-0001",
      "realendtime": "2015-06-25 16:51:40",
      "Type": "B",
      "schedtime": "2015-06-25 16:51:33",
      "level": "F",
      "jobfiles": "18",
      "jobid": "1",
      "job": "s3-b-0001.2015-06-25_16.51.35_04",
      "endtime": "2015-06-25 16:51:40",
      "jobtdate": "1435243900",
      "jobstatus": "T",
      "joberrors": "0",
      "starttime": "2015-06-25 16:51:38",
      "clientname": "fd-a",
      "jobbytes": "4651943"
    },
    {
      "name": "s3-b-0001",
      "type": "B",
      "level": "I",
      "jobfiles": 2,
      "jobid": 2,
      "endtime": "2015-06-25 17:25:24",
      "jobtdate": 1435245924,
      "jobstatus": "W",
      "JobErrors": "0",
      "jobbytes": 100
    }
  ]
}
}
{
"jsonrpc": "2.0",
"id": null,
"result": {
  "jobs": []
}
}
"#;

    const AGES: Ages = Ages {
        warn: 26 * 3600,
        crit: 50 * 3600,
    };

    #[test]
    fn ages_parse_and_print() {
        assert_eq!(parse_age("26h").unwrap(), 93_600);
        assert_eq!(parse_age("2d").unwrap(), 172_800);
        assert_eq!(parse_age("1d12h").unwrap(), 129_600);
        assert_eq!(parse_age("90").unwrap(), 90);
        assert_eq!(parse_age("30m").unwrap(), 1800);
        assert!(parse_age("2x").is_err());
        assert!(parse_age("h").is_err());
        assert!(parse_age("1d2").is_err());
        assert_eq!(format_age(93_600), "1d2h");
        assert_eq!(format_age(59), "59s");
        assert_eq!(format_age(0), "0s");
        assert_eq!(format_age(3725), "1h2m");
    }

    #[test]
    fn bacula_llist_parses() {
        let a = parse_bacula(BACULA);
        assert_eq!(a.empty, 1);
        assert_eq!(a.records.len(), 2);
        let r = &a.records[0];
        assert_eq!(
            (r.jobid, r.name.as_str(), r.kind, r.level, r.status),
            (1, "s3-b-0001", 'B', 'F', 'T')
        );
        assert_eq!((r.files, r.bytes, r.errors), (12, 3456, 0));
        assert_eq!(r.end, Some(1_796_614_467));
        assert_eq!(a.records[1].status, 'f');
        assert_eq!(a.records[1].errors, 1);
        assert_eq!(r.client.as_deref(), Some("dump-fd"));
    }

    #[test]
    fn bareos_json_parses_strings_numbers_and_mixed_case() {
        let a = parse_bareos(BAREOS).unwrap();
        assert_eq!(a.lists, 2);
        assert_eq!(a.empty, 1);
        assert_eq!(a.records.len(), 2);
        let (first, second) = (&a.records[0], &a.records[1]);
        assert_eq!(first.end, Some(1_435_243_900));
        assert_eq!((first.files, first.bytes, first.kind), (18, 4_651_943, 'B'));
        assert_eq!(
            (second.jobid, second.kind, second.status, second.bytes),
            (2, 'B', 'W', 100)
        );
        assert_eq!(second.end, Some(1_435_245_924));
        assert_eq!(first.client.as_deref(), Some("fd-a"));
        assert_eq!(second.client, None);
    }

    #[test]
    fn json_after_prompts_and_on_one_line() {
        let text = "*.api 2\n*{\"result\":{\"api\":2}}\n*{\"result\":{\"jobs\":[]}}{\"result\":\n{\"jobs\":[]}}\nquit {not json\n";
        let a = parse_bareos(text).unwrap();
        assert_eq!((a.lists, a.empty), (2, 2));
    }

    /// As a Bareos 25 Director answers through bconsole with stdin not a terminal: every
    /// command echoed, glued to the end of the previous JSON answer; lower-case keys, every
    /// value a string, `client` (not `clientname`), NULL as "".
    const BAREOS_25: &str = r#"Connecting to Director localhost:9101
 Encryption: TLS_CHACHA20_POLY1305_SHA256 TLSv1.3
1000 OK: bareos-dir Version: 25.1.0 (05 November 2026)
Enter a period to cancel a command.
.api 2
{
  "jsonrpc": "2.0",
  "id": null,
  "result": {
    "api": 2
  }
}llist job=s3-b-0001
{
  "jsonrpc": "2.0",
  "id": null,
  "result": {
    "jobs": [
      {
        "jobid": "7",
        "job": "s3-b-0001.2026-12-06_01.00.00_07",
        "name": "s3-b-0001",
        "purgedfiles": "0",
        "type": "B",
        "level": "I",
        "clientid": "1",
        "client": "dump-fd",
        "jobstatus": "T",
        "schedtime": "2026-12-06 01:00:00",
        "starttime": "2026-12-06 01:00:01",
        "endtime": "2026-12-06 01:00:09",
        "realendtime": "2026-12-06 01:00:09",
        "duration": "00:00:08",
        "jobtdate": "1796518809",
        "volsessionid": "3",
        "volsessiontime": "1796518000",
        "jobfiles": "12",
        "jobbytes": "3456",
        "joberrors": "0",
        "jobmissingfiles": "0",
        "poolid": "2",
        "poolname": "Incr",
        "priorjobid": "0",
        "filesetid": "1",
        "fileset": "s3-b-0001"
      }
    ]
  }
}llist job=s3-b-0002
{
  "jsonrpc": "2.0",
  "id": null,
  "result": {
    "jobs": []
  }
}quit
{
  "jsonrpc": "2.0",
  "id": null,
  "result": {}
}"#;

    #[test]
    fn bareos_25_console_output_parses() {
        let a = parse_bareos(BAREOS_25).unwrap();
        assert_eq!((a.lists, a.empty), (2, 1));
        assert_eq!(a.records.len(), 1);
        let r = &a.records[0];
        assert_eq!(
            (r.jobid, r.name.as_str(), r.kind, r.level, r.status),
            (7, "s3-b-0001", 'B', 'I', 'T')
        );
        assert_eq!((r.files, r.bytes, r.errors), (12, 3456, 0));
        assert_eq!(r.end, Some(1_796_518_809));
        assert_eq!(r.client.as_deref(), Some("dump-fd"));
    }

    /// Jobs the console's ACLs hide are counted in `meta.range.filtered`: UNKNOWN, not a shard
    /// that looks never backed up.
    #[test]
    fn jobs_hidden_by_the_consoles_acls_are_unknown_not_never_backed_up() {
        let text =
            r#"{"jsonrpc":"2.0","id":null,"result":{"jobs":[],"meta":{"range":{"filtered":"3"}}}}"#;
        let e = parse_bareos(text).unwrap_err();
        assert!(e.contains("hid 3 job(s)") && e.contains("ACLs"), "{e}");
        let text = r#"{"result":{"jobs":[],"meta":{"range":{"filtered":0}}}}"#;
        assert_eq!(parse_bareos(text).unwrap().empty, 1);
    }

    #[test]
    fn bareos_error_response_is_reported() {
        let text = r#"{"jsonrpc":"2.0","id":null,"error":{"data":{"result":{},"messages":{"error":["Permission denied.\n"]}},"message":"failed","code":1}}"#;
        let e = parse_bareos(text).unwrap_err();
        assert!(e.contains("Permission denied."), "{e}");
    }

    #[test]
    fn endtime_without_jobtdate_is_utc() {
        let text = r#"{"result":{"jobs":[{"jobid":"5","name":"j","type":"B","level":"F","jobstatus":"T","endtime":"2026-12-06 01:00:00"}]}}"#;
        let a = parse_bareos(text).unwrap();
        assert_eq!(rfc3339(a.records[0].end.unwrap()), "2026-12-06T01:00:00Z");
    }

    fn rec(jobid: u64, level: char, status: char, end: Option<i64>) -> JobRecord {
        JobRecord {
            jobid,
            name: "s".into(),
            kind: 'B',
            level,
            status,
            end,
            files: jobid * 10,
            bytes: jobid * 100,
            errors: 0,
            client: None,
        }
    }

    /// Bareos' Always Incremental: the Consolidate job's VirtualFull gets a new JobId but the
    /// end time of the newest job it consolidated (older than the job retention); the shard's
    /// last good backup is still last night's Incremental.
    #[test]
    fn a_consolidated_virtual_full_does_not_age_the_shard() {
        let now = 1_000_000;
        let (h, d) = (3600, 86_400);
        let full = rec(1, 'F', 'T', Some(now - 10 * d));
        let old_incr = rec(2, 'I', 'T', Some(now - 8 * d));
        let incr = rec(3, 'I', 'T', Some(now - h));
        let consolidated = rec(4, 'f', 'T', Some(now - 8 * d));
        let s = judge(
            "s",
            None,
            &[&full, &old_incr, &incr, &consolidated],
            now,
            AGES,
        );
        assert_eq!(s.state, State::Ok, "{s:?}");
        assert_eq!(s.last_backup.as_ref().unwrap().jobid, 3);
        assert_eq!(s.last_full.as_ref().unwrap().jobid, 4);
        assert_eq!(s.last_job.as_ref().unwrap().jobid, 4);

        // Last night's Incremental failed; the consolidation after it succeeded: CRITICAL,
        // naming the failed job.
        let failed = rec(5, 'I', 'E', Some(now - h / 2));
        let consolidated_again = rec(6, 'f', 'T', Some(now - 7 * d));
        let s = judge(
            "s",
            None,
            &[
                &full,
                &old_incr,
                &incr,
                &consolidated,
                &failed,
                &consolidated_again,
            ],
            now,
            AGES,
        );
        assert_eq!(s.state, State::Critical, "{s:?}");
        assert!(s.problem.as_ref().unwrap().contains("JobId 5"), "{s:?}");
        assert_eq!(s.last_backup.as_ref().unwrap().jobid, 3);
    }

    #[test]
    fn judging_shards() {
        let now = 1_000_000;
        let h = 3600;
        let full = rec(1, 'F', 'T', Some(now - 30 * h));
        let incr = rec(2, 'I', 'T', Some(now - 2 * h));
        let failed = rec(3, 'I', 'f', Some(now - h));
        let running = rec(4, 'I', 'R', None);

        let s = judge("s", None, &[&full, &incr], now, AGES);
        assert_eq!(s.state, State::Ok);
        assert_eq!(s.last_backup.as_ref().unwrap().jobid, 2);
        assert_eq!(s.last_full.as_ref().unwrap().jobid, 1);
        assert_eq!(s.last_full.as_ref().unwrap().age_seconds, Some(30 * 3600));

        // The last finished job failed: CRITICAL although job 2 is recent and good.
        let s = judge("s", None, &[&full, &incr, &failed], now, AGES);
        assert_eq!(s.state, State::Critical);
        assert!(s.problem.as_ref().unwrap().contains("JobId 3"), "{s:?}");
        assert_eq!(s.last_backup.as_ref().unwrap().jobid, 2);

        // A running job neither fails nor fixes a shard.
        let s = judge("s", None, &[&full, &incr, &running], now, AGES);
        assert_eq!(s.state, State::Ok);
        assert_eq!(s.last_job.as_ref().unwrap().jobid, 4);
        let s = judge("s", None, &[&running], now, AGES);
        assert_eq!(s.state, State::Critical);
        assert!(s.problem.unwrap().contains("no good backup yet"));

        let s = judge("s", None, &[], now, AGES);
        assert_eq!(s.state, State::Critical);
        assert_eq!(s.problem.as_deref(), Some("never backed up"));

        // Age thresholds.
        let s = judge("s", None, &[&full], now, AGES);
        assert_eq!(s.state, State::Warning, "{s:?}");
        let old = rec(1, 'F', 'T', Some(now - 51 * h));
        assert_eq!(judge("s", None, &[&old], now, AGES).state, State::Critical);

        // Good Incrementals without a Full in the catalog.
        assert_eq!(judge("s", None, &[&incr], now, AGES).state, State::Warning);

        // The plan's Client differs from the one the last job ran on.
        let mut on_a = rec(5, 'F', 'T', Some(now - h));
        on_a.client = Some("fd-a".into());
        assert_eq!(
            judge("s", Some("fd-a"), &[&on_a], now, AGES).state,
            State::Ok
        );
        let moved = judge("s", Some("fd-b"), &[&on_a], now, AGES);
        assert_eq!(moved.state, State::Warning);
        assert!(
            moved
                .problem
                .unwrap()
                .contains("ran on client fd-a, the plan has fd-b"),
            "moved"
        );
        assert_eq!(judge("s", None, &[&on_a], now, AGES).state, State::Ok);

        // Restores and other job types do not count.
        let mut restore = rec(9, 'F', 'T', Some(now));
        restore.kind = 'R';
        assert_eq!(
            judge("s", None, &[&restore], now, AGES).state,
            State::Critical
        );
    }

    #[test]
    fn report_sums_up_the_bucket() {
        let now = 2_000_000_000;
        let a = rec(1, 'F', 'T', Some(now - 3600));
        let b = rec(2, 'F', 'T', Some(now - 7200));
        let shards = vec![
            judge("s3-p-0001", Some("fd-a"), &[&a], now, AGES),
            judge("s3-p-0002", Some("fd-b"), &[&b], now, AGES),
        ];
        let r = report("photos", shards, AGES);
        assert_eq!(r.state, State::Ok);
        assert_eq!(
            r.summary,
            format!(
                "S3 BACKUP OK - bucket photos protected as of {} (2/2 shards OK) | \
                 oldest_backup_age=7200s;93600;180000;0 shards=2 shards_ok=2",
                rfc3339(now - 7200)
            )
        );
        let t = table(&r);
        assert!(t.starts_with("SHARD"), "{t}");
        assert!(t.contains("fd-b") && t.contains("Full"), "{t}");

        let failed = rec(3, 'I', 'E', Some(now - 60));
        let shards = vec![
            judge("s3-p-0001", None, &[&a, &failed], now, AGES),
            judge("s3-p-0002", None, &[], now, AGES),
        ];
        let r = report("photos", shards, AGES);
        assert_eq!(r.state, State::Critical);
        assert!(
            r.summary.starts_with(
                "S3 BACKUP CRITICAL - bucket photos not protected (0/2 shards OK): s3-p-0001 last job failed (JobId 3"
            ),
            "{}",
            r.summary
        );
        assert!(
            r.summary.contains("s3-p-0002 never backed up"),
            "{}",
            r.summary
        );
        assert!(r.protected_as_of.is_none());
        let json = serde_json::to_value(&r).unwrap();
        assert_eq!(json["state"], "CRITICAL");
        assert_eq!(json["shards"][0]["last_backup"]["jobid"], 1);
    }

    #[test]
    fn scripts_per_dialect() {
        assert_eq!(
            script(Dialect::Bareos, &["a", "b"]),
            ".api 2\nllist job=a\nllist job=b\nquit\n"
        );
        assert_eq!(script(Dialect::Bacula, &["a"]), "llist job=a\nquit\n");
    }
}
