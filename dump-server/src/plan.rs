//! `dump-server plan`: list the bucket, cut it into shards, write the plan file and the
//! Director resources; with an existing plan, keep its boundaries and split what outgrew the
//! limit.

use crate::stdout::outln;
use std::collections::HashSet;
use std::path::{Path, PathBuf};

use s3_plugin::config::naming::double_quoted;
use s3_plugin::runtime::block_on;
use s3_plugin::s3::client::connect;

use crate::director_config::{self, check_name, Dialect, ShardConfig, MARKER};
use crate::exit::Failure;
use crate::listing::list;
use crate::plan_file::{
    AlwaysIncremental, DirectorSettings, PlanFile, PlanLimits, ShardEntry, FORMAT,
};
use crate::plugin_string::BaseString;
use crate::progress::Progress;
use crate::shard_planner::{place, ClientShare, Limits, Origin, Planned, Planner, Range, ToPlace};
use crate::size::{grouped, human, parse_size};

/// Default `--max-job-size`: 250 GB.
pub const DEFAULT_MAX_JOB_SIZE: u64 = 250_000_000_000;

#[derive(clap::Args, Debug)]
pub struct PlanArgs {
    /// The plugin string of the bucket without key range, as in a FileSet's Plugin line:
    /// 's3:bucket=NAME:endpoint=URL:credentials_file=PATH…'. Optional when re-planning
    /// (the plan's string is used).
    #[arg(long, value_name = "STRING")]
    plugin: Option<String>,
    /// Directory for plan.toml and the Director resources. If it holds a plan.toml already,
    /// that plan is re-planned (its boundaries are kept).
    #[arg(long, value_name = "DIR")]
    out: PathBuf,
    /// Re-plan from this plan file instead of DIR/plan.toml.
    #[arg(long, value_name = "FILE")]
    plan: Option<PathBuf>,
    /// Most bytes per shard (sum of object sizes): 250GB, 100G (GiB), 512MiB, … [default: 250GB,
    /// or the plan's]
    #[arg(long, value_name = "SIZE", value_parser = parse_size)]
    max_job_size: Option<u64>,
    /// Most objects per shard [default: no limit, or the plan's]
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u64).range(1..))]
    max_objects: Option<u64>,
    /// Configuration syntax of the Director [default: bareos, or the plan's]
    #[arg(long, value_enum)]
    dialect: Option<Dialect>,
    /// Job and FileSet names are PREFIX-0001, PREFIX-0002, … [default: s3-BUCKET]
    #[arg(long, value_name = "PREFIX")]
    job_prefix: Option<String>,
    /// The JobDefs every shard job uses (Type, Level, Client, Storage, Pool, Messages, Accurate…);
    /// required for a new plan.
    #[arg(long, value_name = "NAME")]
    jobdefs: Option<String>,
    /// Pool of the shard jobs (else the JobDefs').
    #[arg(long, value_name = "NAME")]
    pool: Option<String>,
    /// Schedule of the shard jobs (else the JobDefs').
    #[arg(long, value_name = "NAME")]
    schedule: Option<String>,
    /// Client (the dump server's file daemon) of the shard jobs (else the JobDefs').
    #[arg(long, value_name = "NAME", conflicts_with = "clients")]
    client: Option<String>,
    /// Spread the shards over several Clients (the file daemons of several dump servers):
    /// comma-separated NAME or NAME=WEIGHT. Each Client gets bytes in proportion to its weight
    /// (default 1); a re-plan keeps every kept shard on its Client and puts new and split
    /// shards where there is least. [default: the plan's]
    #[arg(long, value_name = "A,B=2,…")]
    clients: Option<String>,
    /// Storage of the shard jobs (else the JobDefs' or the Pool's).
    #[arg(long, value_name = "NAME")]
    storage: Option<String>,
    /// FileSet signature [default: XXH128 for Bareos, MD5 for Bacula]
    #[arg(long, value_name = "ALGO")]
    signature: Option<String>,
    /// FileSet compression (e.g. LZ4 for Bareos, GZIP for Bacula) [default: none]
    #[arg(long, value_name = "ALGO")]
    compression: Option<String>,
    /// Incremental forever: the shard Jobs run accurate Incrementals only (after each shard's
    /// first Full) and the Director makes new Fulls from its Volumes instead of reading the
    /// bucket again. Bareos: Always Incremental, Pools PREFIX-Incremental and
    /// PREFIX-Consolidated, a Consolidate Job; Bacula: a Schedule with a weekly VirtualFull and
    /// the same Pools. [default: the plan's]
    #[arg(long)]
    always_incremental: bool,
    /// Stop writing the incremental-forever resources of a plan that has them.
    #[arg(long, conflicts_with = "always_incremental")]
    no_always_incremental: bool,
    /// Incrementals younger than this are not consolidated (Bareos' Always Incremental Job
    /// Retention) [default: 7 days, or the plan's]
    #[arg(long, value_name = "TIME")]
    ai_retention: Option<String>,
    /// Incrementals kept whatever their age (Bareos' Always Incremental Keep Number)
    /// [default: 7, or the plan's]
    #[arg(long, value_name = "N")]
    ai_keep: Option<u32>,
    /// A Full older than this is consolidated too (Bareos' Always Incremental Max Full Age;
    /// longer than --ai-retention) [default: 30 days, or the plan's]
    #[arg(long, value_name = "TIME")]
    ai_max_full_age: Option<String>,
    /// The Pools are PREFIX-Incremental and PREFIX-Consolidated [default: AI, or the plan's]
    #[arg(long, value_name = "PREFIX")]
    ai_pool_prefix: Option<String>,
    /// Storage of the consolidated Pool (consolidation reads one device and writes another)
    /// [default: --storage, else the Job's]
    #[arg(long, value_name = "NAME")]
    ai_consolidated_storage: Option<String>,
    /// When consolidation runs, as a Schedule's Run time [default: 'daily at 09:00' (Bareos'
    /// Consolidate Job), 'sun at 09:00' (Bacula's VirtualFull), or the plan's]
    #[arg(long, value_name = "WHEN")]
    ai_consolidate_at: Option<String>,
    /// Bacula: when the Incrementals run [default: 'daily at 21:00', or the plan's]
    #[arg(long, value_name = "WHEN")]
    ai_incremental_at: Option<String>,
    /// No progress bar or summary on stderr.
    #[arg(long, short)]
    quiet: bool,
}

/// Incremental forever from the flags and the previous plan's settings.
fn always_incremental(
    args: &PlanArgs,
    old: Option<&AlwaysIncremental>,
    dialect: Dialect,
    storage: Option<&str>,
) -> Result<Option<AlwaysIncremental>, Failure> {
    let any_ai_flag = args.ai_retention.is_some()
        || args.ai_keep.is_some()
        || args.ai_max_full_age.is_some()
        || args.ai_pool_prefix.is_some()
        || args.ai_consolidated_storage.is_some()
        || args.ai_consolidate_at.is_some()
        || args.ai_incremental_at.is_some();
    let on = !args.no_always_incremental && (args.always_incremental || old.is_some());
    if !on {
        if any_ai_flag {
            return Err(Failure::usage(
                "the --ai-… flags set up incremental forever: give --always-incremental too",
            ));
        }
        return Ok(None);
    }
    if args.pool.is_some() {
        return Err(Failure::usage(
            "--pool cannot be used with --always-incremental: the shard Jobs use the Pools it \
             writes (--ai-pool-prefix names them)",
        ));
    }
    if dialect == Dialect::Bacula && args.schedule.is_some() {
        return Err(Failure::usage(
            "--schedule cannot be used with --always-incremental in the Bacula dialect: the \
             shard Jobs use the Schedule it writes (--ai-incremental-at, --ai-consolidate-at)",
        ));
    }
    if dialect == Dialect::Bareos && args.ai_incremental_at.is_some() {
        return Err(Failure::usage(
            "--ai-incremental-at is for the Bacula dialect; with Bareos the Incrementals run on \
             --schedule (or the JobDefs' Schedule)",
        ));
    }
    let pick_text = |flag: &Option<String>, old: Option<&String>, default: &str| {
        flag.clone()
            .or_else(|| old.cloned())
            .unwrap_or_else(|| default.to_string())
            .trim()
            .to_string()
    };
    let ai = AlwaysIncremental {
        job_retention: pick_text(
            &args.ai_retention,
            old.map(|o| &o.job_retention),
            director_config::AI_RETENTION,
        ),
        keep_number: args
            .ai_keep
            .or(old.map(|o| o.keep_number))
            .unwrap_or(director_config::AI_KEEP),
        max_full_age: pick_text(
            &args.ai_max_full_age,
            old.map(|o| &o.max_full_age),
            director_config::AI_MAX_FULL_AGE,
        ),
        pool_prefix: pick_text(
            &args.ai_pool_prefix,
            old.map(|o| &o.pool_prefix),
            director_config::AI_POOL_PREFIX,
        ),
        consolidated_storage: reference(
            "--ai-consolidated-storage",
            pick(
                &args.ai_consolidated_storage,
                old.map(|o| &o.consolidated_storage),
            ),
        )?,
        consolidate_at: pick(&args.ai_consolidate_at, old.map(|o| &o.consolidate_at)),
        // Kept in the plan (a later re-plan may go back to Bacula); written for Bacula only.
        incremental_at: pick(&args.ai_incremental_at, old.map(|o| &o.incremental_at)),
    };
    director_config::check_always_incremental(&ai).map_err(Failure::usage)?;
    if ai.consolidated_storage.is_none() || ai.consolidated_storage.as_deref() == storage {
        eprintln!(
            "note: both Pools of incremental forever use the same Storage ({}): consolidation \
             reads and writes at once, so it needs two drives there (or give \
             --ai-consolidated-storage)",
            storage.unwrap_or("the Job's")
        );
    }
    Ok(Some(ai))
}

fn pick(flag: &Option<String>, old: Option<&Option<String>>) -> Option<String> {
    flag.clone().or_else(|| old.cloned().flatten())
}

fn algorithm(what: &str, name: &str) -> Result<String, Failure> {
    if name.is_empty() || !name.bytes().all(|b| b.is_ascii_alphanumeric()) {
        return Err(Failure::usage(format!(
            "{what} '{name}' is not an algorithm name"
        )));
    }
    Ok(name.to_string())
}

fn reference(what: &str, value: Option<String>) -> Result<Option<String>, Failure> {
    if let Some(v) = &value {
        director_config::quote(v).map_err(|e| Failure::usage(format!("{what}: {e}")))?;
        if v.is_empty() {
            return Err(Failure::usage(format!("{what} is empty")));
        }
    }
    Ok(value)
}

/// Decides the settings of this run from the flags and the previous plan.
fn settings(
    args: &PlanArgs,
    previous: Option<&PlanFile>,
    bucket: &str,
) -> Result<(PlanLimits, DirectorSettings), Failure> {
    let old = previous.map(|p| &p.director);
    let limits = PlanLimits {
        max_job_size: args
            .max_job_size
            .or(previous.and_then(|p| p.limits.max_job_size))
            .or(if previous.is_some() {
                None
            } else {
                Some(DEFAULT_MAX_JOB_SIZE)
            }),
        max_objects: args
            .max_objects
            .or(previous.and_then(|p| p.limits.max_objects)),
    };
    if limits.max_job_size.is_none() && limits.max_objects.is_none() {
        return Err(Failure::usage("give --max-job-size or --max-objects"));
    }
    let dialect = match (args.dialect, old) {
        (Some(d), _) => d,
        (None, Some(o)) => Dialect::from_name(&o.dialect).map_err(Failure::usage)?,
        (None, None) => Dialect::Bareos,
    };
    let dialect_changed = old.is_some_and(|o| o.dialect != dialect.name());
    let job_prefix = args
        .job_prefix
        .clone()
        .or_else(|| old.map(|o| o.job_prefix.clone()))
        .unwrap_or_else(|| format!("s3-{bucket}"));
    check_name("--job-prefix", &job_prefix).map_err(Failure::usage)?;
    let jobdefs = pick(&args.jobdefs, None)
        .or_else(|| old.map(|o| o.jobdefs.clone()))
        .ok_or_else(|| {
            Failure::usage(
                "--jobdefs NAME is required: the JobDefs every shard job uses (Type, Level, \
                 Client, Storage, Pool, Messages, Accurate…)",
            )
        })?;
    let signature = match (&args.signature, old) {
        (Some(s), _) => s.clone(),
        (None, Some(o)) if !dialect_changed => o.signature.clone(),
        _ => dialect.default_signature().to_string(),
    };
    let compression = match (&args.compression, old) {
        (Some(c), _) => Some(c.clone()),
        (None, Some(o)) if !dialect_changed => o.compression.clone(),
        _ => None,
    };
    // --clients replaces --client and the other way round; without either, the plan's.
    let (client, clients) = match (&args.client, &args.clients) {
        (Some(c), _) => (Some(c.clone()), Vec::new()),
        (None, Some(list)) => {
            let shares = ClientShare::parse_list(list)
                .map_err(|e| Failure::usage(format!("--clients: {e}")))?;
            for c in &shares {
                reference("--clients", Some(c.name.clone()))?;
                check_name("a client of --clients", &c.name).map_err(Failure::usage)?;
            }
            (None, shares.iter().map(ClientShare::to_text).collect())
        }
        (None, None) => (
            old.and_then(|o| o.client.clone()),
            old.map(|o| o.clients.clone()).unwrap_or_default(),
        ),
    };
    let storage = reference("--storage", pick(&args.storage, old.map(|o| &o.storage)))?;
    let always_incremental = always_incremental(
        args,
        old.and_then(|o| o.always_incremental.as_ref()),
        dialect,
        storage.as_deref(),
    )?;
    let director = DirectorSettings {
        dialect: dialect.name().to_string(),
        job_prefix,
        jobdefs: reference("--jobdefs", Some(jobdefs))?.unwrap_or_default(),
        client: reference("--client", client)?,
        clients,
        pool: reference("--pool", pick(&args.pool, old.map(|o| &o.pool)))?,
        schedule: reference("--schedule", pick(&args.schedule, old.map(|o| &o.schedule)))?,
        storage,
        signature: algorithm("--signature", &signature)?,
        compression: compression
            .map(|c| algorithm("--compression", &c))
            .transpose()?,
        always_incremental,
    };
    Ok((limits, director))
}

fn now_rfc3339() -> String {
    let now = time::OffsetDateTime::now_utc();
    now.replace_nanosecond(0)
        .unwrap_or(now)
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default()
}

/// Writes `path` through a temporary file and a rename (a reader never sees half a file).
fn write_atomic(path: &Path, text: &str) -> Result<(), Failure> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)
            .map_err(|e| Failure::error(format!("cannot create {}: {e}", dir.display())))?;
    }
    let tmp = path.with_extension("tmp~");
    std::fs::write(&tmp, text)
        .and_then(|()| std::fs::rename(&tmp, path))
        .map_err(|e| Failure::error(format!("cannot write {}: {e}", path.display())))
}

fn describe_range(r: &Range) -> String {
    match (&r.start_after, &r.end_at) {
        (None, None) => "every key".into(),
        (None, Some(b)) => format!("up to {}", double_quoted(b)),
        (Some(a), None) => format!("after {}", double_quoted(a)),
        (Some(a), Some(b)) => format!("after {} up to {}", double_quoted(a), double_quoted(b)),
    }
}

pub fn run(args: PlanArgs) -> Result<(), Failure> {
    let default_plan = args.out.join("plan.toml");
    let previous_path = match &args.plan {
        Some(p) => Some(p.clone()),
        None => default_plan.exists().then(|| default_plan.clone()),
    };
    let previous = match &previous_path {
        Some(p) => Some(PlanFile::read(p).map_err(Failure::usage)?),
        None => None,
    };
    let plugin_text = args
        .plugin
        .clone()
        .or_else(|| previous.as_ref().map(|p| p.plugin.clone()))
        .ok_or_else(|| Failure::usage("--plugin STRING is required for a new plan"))?;
    let base = BaseString::parse(&plugin_text, false)
        .map_err(|e| Failure::usage(format!("--plugin: {e}")))?;
    if let Some(p) = &previous {
        let old = BaseString::parse(&p.plugin, false).map_err(Failure::usage)?;
        if old.options.bucket != base.options.bucket || old.options.prefix != base.options.prefix {
            return Err(Failure::usage(format!(
                "the plan {} is for {}, not {}: plan another bucket or prefix into another \
                 directory",
                previous_path.as_deref().unwrap_or(&default_plan).display(),
                old.options.location(),
                base.options.location()
            )));
        }
    }
    let options = &base.options;
    let (limits, director) = settings(&args, previous.as_ref(), &options.bucket)?;
    let s3 = connect(options).map_err(Failure::error)?;

    let old_ranges: Option<Vec<Range>> = previous
        .as_ref()
        .map(|p| p.shards.iter().map(ShardEntry::range).collect());
    let mut planner = Planner::new(
        Limits {
            max_bytes: limits.max_job_size,
            max_objects: limits.max_objects,
        },
        old_ranges,
    )
    .map_err(Failure::usage)?;
    let location = options.location();
    let mut progress = Progress::new("listing", &location, args.quiet);
    let (mut objects, mut bytes) = (0u64, 0u64);
    block_on(list(&s3, options, |page| {
        let mut page_bytes = 0;
        for item in page {
            planner.push(&item.key, item.bytes())?;
            page_bytes += item.bytes();
        }
        objects += page.len() as u64;
        bytes += page_bytes;
        progress.update(
            page.len() as u64,
            page_bytes,
            &format!(", {} shards", planner.shards_so_far()),
        );
        Ok(())
    }))
    .map_err(Failure::error)?;
    progress.finish();
    let planned = planner.finish();

    // Names: kept shards keep theirs; new and split-off shards get the next ids.
    let mut next_id = previous.as_ref().map_or(1, |p| p.next_id);
    let mut shards = Vec::with_capacity(planned.len());
    for p in &planned {
        let entry = match p.origin {
            Origin::Kept(i) => {
                let old = &previous
                    .as_ref()
                    .expect("kept shards come from a plan")
                    .shards[i];
                ShardEntry {
                    objects: p.objects,
                    bytes: p.bytes,
                    ..old.clone()
                }
            }
            Origin::New | Origin::Split(_) => {
                let id = next_id;
                next_id += 1;
                ShardEntry {
                    name: format!("{}-{id:04}", director.job_prefix),
                    id,
                    start_after: p.range.start_after.clone(),
                    end_at: p.range.end_at.clone(),
                    objects: p.objects,
                    bytes: p.bytes,
                    split_from: match p.origin {
                        Origin::Split(i) => {
                            previous.as_ref().map(|prev| prev.shards[i].name.clone())
                        }
                        _ => None,
                    },
                    client: None,
                }
            }
        };
        shards.push(entry);
    }
    assign_clients(&mut shards, &planned, &director)?;
    let plan = PlanFile {
        format: FORMAT,
        generator: format!("dump-server {}", env!("CARGO_PKG_VERSION")),
        planned_at: now_rfc3339(),
        bucket: options.bucket.clone(),
        plugin: base.text.clone(),
        limits,
        director,
        next_id,
        objects,
        bytes,
        shards,
    };
    write_plan(&args.out, &plan, previous.as_ref(), &base)?;
    report(&plan, &planned, previous.as_ref(), &args.out);
    Ok(())
}

/// Gives each shard its Client when the plan spreads them over several (`--clients`), else
/// none (the Job takes `--client` or the JobDefs' Client).
fn assign_clients(
    shards: &mut [ShardEntry],
    planned: &[Planned],
    director: &DirectorSettings,
) -> Result<(), Failure> {
    let shares = director.client_shares().map_err(Failure::usage)?;
    if shares.is_empty() {
        for s in shards.iter_mut() {
            s.client = None;
        }
        return Ok(());
    }
    let to_place: Vec<ToPlace> = shards
        .iter()
        .zip(planned)
        .map(|(s, p)| ToPlace {
            bytes: s.bytes,
            previous: match p.origin {
                Origin::Kept(_) => s.client.as_deref(),
                _ => None,
            },
        })
        .collect();
    let placement = place(&to_place, &shares);
    for (i, from) in &placement.moved {
        eprintln!(
            "note: shard {} moves from client {from} (not in the plan's clients any more) to \
             client {}; the Director upgrades its next job there to a Full",
            shards[*i].name, placement.clients[*i]
        );
    }
    for (s, c) in shards.iter_mut().zip(placement.clients) {
        s.client = Some(c);
    }
    Ok(())
}

/// Writes the Director resources, removes the ones of shards that no longer exist, then the
/// plan file.
fn write_plan(
    out: &Path,
    plan: &PlanFile,
    previous: Option<&PlanFile>,
    base: &BaseString,
) -> Result<(), Failure> {
    let configs: Vec<ShardConfig> = plan
        .shards
        .iter()
        .map(|s| ShardConfig {
            name: &s.name,
            client: s.client.as_deref(),
            plugin: base.with_range(s.start_after.as_deref(), s.end_at.as_deref()),
            start_after: s.start_after.as_deref(),
            end_at: s.end_at.as_deref(),
            objects: s.objects,
            bytes: s.bytes,
        })
        .collect();
    let files = director_config::files(out, plan, &configs).map_err(Failure::error)?;
    for (path, text) in &files {
        write_atomic(path, text)?;
    }
    if let Some(prev) = previous {
        let written: HashSet<&PathBuf> = files.iter().map(|(p, _)| p).collect();
        let names: Vec<&str> = prev.shards.iter().map(|s| s.name.as_str()).collect();
        let stale_files = director_config::file_names(out, &prev.director.dialect, &names)
            .into_iter()
            .chain(director_config::plan_file_names(out, &prev.director));
        for stale in stale_files {
            if written.contains(&stale) {
                continue;
            }
            let ours = std::fs::read_to_string(&stale).is_ok_and(|t| t.starts_with(MARKER));
            if ours {
                std::fs::remove_file(&stale).map_err(|e| {
                    Failure::error(format!("cannot remove {}: {e}", stale.display()))
                })?;
            }
        }
    }
    write_atomic(
        &out.join("plan.toml"),
        &plan.to_toml().map_err(Failure::error)?,
    )
}

fn report(plan: &PlanFile, planned: &[Planned], previous: Option<&PlanFile>, out: &Path) {
    let limit = match (plan.limits.max_job_size, plan.limits.max_objects) {
        (Some(b), Some(o)) => format!("at most {} and {} objects per job", human(b), grouped(o)),
        (Some(b), None) => format!("at most {} per job", human(b)),
        (None, Some(o)) => format!("at most {} objects per job", grouped(o)),
        (None, None) => String::new(),
    };
    outln!(
        "s3://{}: {} objects, {} in {} shards ({limit})",
        plan.bucket,
        grouped(plan.objects),
        human(plan.bytes),
        plan.shards.len()
    );
    if let Some(prev) = previous {
        let kept = planned
            .iter()
            .filter(|p| matches!(p.origin, Origin::Kept(_)))
            .count();
        let split: HashSet<usize> = planned
            .iter()
            .filter_map(|p| match p.origin {
                Origin::Split(i) => Some(i),
                _ => None,
            })
            .collect();
        let new = planned.len() - kept;
        outln!(
            "re-plan of {} shards: {kept} kept, {} split into {new} new shards",
            prev.shards.len(),
            split.len()
        );
    }
    let width = plan
        .shards
        .iter()
        .map(|s| s.name.len())
        .max()
        .unwrap_or(5)
        .max(5);
    let status_of = |s: &ShardEntry, p: &Planned| match (&p.origin, &s.split_from) {
        (Origin::Kept(_), _) => "kept".to_string(),
        (Origin::Split(_), Some(from)) => format!("split from {from}"),
        _ => "new".to_string(),
    };
    let status_w = plan
        .shards
        .iter()
        .zip(planned)
        .map(|(s, p)| status_of(s, p).len())
        .max()
        .unwrap_or(6)
        .max(6);
    let objects_w = plan.objects.to_string().len().max(7);
    let bytes_w = plan.bytes.to_string().len().max(5);
    // The CLIENT column only for plans spread over several Clients.
    let client_w = plan
        .shards
        .iter()
        .filter_map(|s| s.client.as_ref().map(|c| c.len() + 2))
        .max()
        .map_or(0, |w| w.max(8));
    outln!(
        "{:<width$}  {:<status_w$}  {:<client_w$}{:>objects_w$}  {:>bytes_w$}  RANGE",
        "SHARD",
        "STATUS",
        if client_w > 0 { "CLIENT" } else { "" },
        "OBJECTS",
        "BYTES"
    );
    for (s, p) in plan.shards.iter().zip(planned) {
        let status = status_of(s, p);
        outln!(
            "{:<width$}  {status:<status_w$}  {:<client_w$}{:>objects_w$}  {:>bytes_w$}  {}",
            s.name,
            s.client.as_deref().unwrap_or(""),
            s.objects,
            s.bytes,
            describe_range(&p.range)
        );
        let over = crate::shard_planner::Limits {
            max_bytes: plan.limits.max_job_size,
            max_objects: plan.limits.max_objects,
        }
        .exceeded(s.objects, s.bytes);
        if over {
            eprintln!(
                "note: shard {} holds {} objects, {}: above the limit ({})",
                s.name,
                s.objects,
                human(s.bytes),
                if s.objects == 1 {
                    "a single object larger than the limit gets a shard of its own"
                } else {
                    "its keys hold control characters or edge white space and cannot be boundaries"
                }
            );
        }
    }
    if let Ok(shares) = plan.client_shares() {
        for c in &shares {
            let (n, b) = plan
                .shards
                .iter()
                .filter(|s| s.client.as_deref() == Some(c.name.as_str()))
                .fold((0u64, 0u64), |(n, b), s| (n + 1, b + s.bytes));
            outln!(
                "client {} (weight {}): {n} shards, {}",
                c.name,
                c.weight,
                human(b)
            );
        }
    }
    let where_ = match plan.director.dialect.as_str() {
        "bacula" => format!("{}", out.join("bacula-dir-shards.conf").display()),
        _ => format!("{}/", out.join("bareos-dir.d").display()),
    };
    outln!("wrote {} and {where_}", out.join("plan.toml").display());
    if let Some(a) = &plan.director.always_incremental {
        let (inc, cons) = director_config::ai_pools(a);
        let how = match plan.director.dialect.as_str() {
            "bacula" => format!(
                "Schedule {} (Incrementals, weekly VirtualFull)",
                director_config::ai_schedule_name(&plan.director)
            ),
            _ => format!(
                "Consolidate Job {}",
                director_config::ai_job_name(&plan.director)
            ),
        };
        outln!(
            "incremental forever: accurate Incrementals into Pool {inc}, Fulls consolidated \
             into Pool {cons} by the {how}; label Volumes into both Pools"
        );
    }
}
