//! `dump-server`: the operator's tool for a Bareos (or Bacula) dump server running the S3
//! plugin.
//!
//! * `plan`: shard a bucket into bounded key ranges and write the Director's Jobs and FileSets;
//! * `check`: pre-flight of a plugin string (endpoint, TLS, credentials, bucket, GET, library);
//! * `census`: objects and bytes per prefix and storage class;
//! * `status`: the bucket's protection from the Director's catalog (monitoring plugin style);
//! * `options`: the plugin string's options, their values and defaults;
//! * `name` / `key`: translate between S3 keys and the file names in the catalog.
//!
//! Exit codes: 0 success, 1 a check failed or the run failed (S3, files), 2 bad usage;
//! `status` has its own: 0 OK, 1 WARNING, 2 CRITICAL, 3 UNKNOWN (bad usage included).

mod census;
mod check;
mod director_config;
mod exit;
mod listing;
mod plan;
mod plan_file;
mod plugin_probe;
mod plugin_string;
mod progress;
mod shard_planner;
mod size;
mod status;
mod stdout;

#[cfg(test)]
mod planner_props;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use s3_plugin::config::naming::{key_to_name, name_to_key};
use stdout::{out, outln};

#[derive(Parser)]
#[command(
    name = "dump-server",
    version,
    about = "Operator's tool for the s3-fd Bareos/Bacula plugin",
    after_help = "Exit status: 0 success, 1 a check or the run failed, 2 bad usage."
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Shard a bucket into key ranges of bounded size and write one Director Job and FileSet
    /// per shard (re-plans an existing plan: boundaries kept, grown shards split).
    Plan(Box<plan::PlanArgs>),
    /// Pre-flight a plugin string: endpoint, TLS, credentials, bucket, one GET, the plugin
    /// library; one line per check, exit 1 if any failed.
    Check(check::CheckArgs),
    /// Objects and bytes per key prefix and per storage class.
    Census(census::CensusArgs),
    /// How well a planned bucket is protected: each shard's last good backup, last Full and
    /// last job from the Director's catalog (bconsole); monitoring-plugin exit codes 0 OK,
    /// 1 WARNING, 2 CRITICAL, 3 UNKNOWN.
    Status(status::StatusArgs),
    /// Print the plugin string's options: what each does, what it takes, its default.
    Options,
    /// Print the catalog file name the plugin records for KEY of BUCKET.
    Name { bucket: String, key: String },
    /// Print the S3 key behind a catalog file NAME (`/<bucket>/…`) of BUCKET.
    Key { bucket: String, name: String },
    /// (internal) load a plugin library the way bpluginfo does and print what it reports.
    #[command(hide = true)]
    ProbeLibrary { path: PathBuf },
}

fn main() -> ExitCode {
    progress::report_retries();
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            // A monitoring system reads exit 3 as UNKNOWN; `status` keeps that convention for
            // bad flags too (help and version still exit 0).
            if e.use_stderr() && std::env::args().nth(1).as_deref() == Some("status") {
                let _ = e.print();
                return ExitCode::from(3);
            }
            e.exit()
        }
    };
    let result = match cli.command {
        Command::Status(args) => return status::run(args),
        Command::Plan(args) => plan::run(*args),
        Command::Check(args) => check::run(args),
        Command::Census(args) => census::run(args),
        Command::Options => {
            out!("{}", s3_plugin::config::options::help());
            Ok(())
        }
        Command::Name { bucket, key } => {
            outln!("{}", String::from_utf8_lossy(&key_to_name(&bucket, &key)));
            Ok(())
        }
        Command::Key { bucket, name } => match name_to_key(&bucket, name.as_bytes()) {
            Ok(key) => {
                outln!("{key}");
                Ok(())
            }
            Err(e) => Err(exit::Failure::usage(format!("{name}: {e}"))),
        },
        Command::ProbeLibrary { path } => match plugin_probe::probe_in_this_process(&path) {
            Ok(facts) => {
                for (k, v) in facts {
                    outln!("{k}={}", v.replace('\n', " "));
                }
                Ok(())
            }
            Err(e) => {
                outln!("{e}");
                Err(exit::Failure::silent())
            }
        },
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(f) => f.exit(),
    }
}
