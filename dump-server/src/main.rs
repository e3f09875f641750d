//! `dump-server`: the operator's tool for a Bareos dump server running the S3 plugin.
//!
//! For now it translates between S3 keys and the file names the plugin records in the catalog
//! (to find objects in the restore tree, or the key of a restored file).

use std::process::ExitCode;

use clap::{Parser, Subcommand};
use s3_plugin::naming::{key_to_name, name_to_key};

#[derive(Parser)]
#[command(name = "dump-server", version, about = "Operator's tool for the s3-fd Bareos plugin")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Print the catalog file name the plugin records for KEY of BUCKET.
    Name { bucket: String, key: String },
    /// Print the S3 key behind a catalog file NAME (`/<bucket>/…`) of BUCKET.
    Key { bucket: String, name: String },
}

fn main() -> ExitCode {
    match Cli::parse().command {
        Command::Name { bucket, key } => {
            println!("{}", String::from_utf8_lossy(&key_to_name(&bucket, &key)));
            ExitCode::SUCCESS
        }
        Command::Key { bucket, name } => match name_to_key(&bucket, name.as_bytes()) {
            Ok(key) => {
                println!("{key}");
                ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("dump-server: {name}: {e}");
                ExitCode::from(2)
            }
        },
    }
}
