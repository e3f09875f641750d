//! The S3 plugin: a host-independent engine (options, naming, listing, prefetch, backup,
//! restore) and its adapter to the file-daemon SDK ([`S3Plugin`]), which the Bareos and
//! Bacula builds in `plugin/bareos-fd` and `plugin/bacula-fd` export.
//!
//! One object's path: `listing` (ListObjectsV2 pages) → `prefetch` (GETs in flight, bounded
//! bytes) → `backup` (the daemon's startBackupFile / IO_READ on the job thread).

pub mod backup;
mod body;
pub mod checksum;
pub mod client;
mod direct_get;
mod fetch;
pub mod http_client;
pub mod listing;
pub mod metadata;
pub mod naming;
pub mod options;
mod plugin;
pub mod prefetch;
mod rate;
mod read_ahead;
pub mod restore_local;
pub mod restore_s3;
pub mod restore_target;
pub mod retry;
pub mod runtime;
pub mod s3_errors;
pub mod stats;

pub use plugin::S3Plugin;
