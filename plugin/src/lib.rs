//! The S3 plugin: a host-independent engine and its adapter to the file-daemon SDK
//! ([`S3Plugin`], in `sdk_adapter`), which the Bareos and Bacula builds in `plugin/bareos-fd` and
//! `plugin/bacula-fd` export.
//!
//! * Backup: [`s3::listing`] (ListObjectsV2 pages) → `backup::pipeline` (GETs in flight within
//!   `prefetch_bytes`, `backup::unit_fetch` per object or part) → `backup::job` (the daemon's
//!   startBackupFile and IO_READ on the job thread, through `backup::reader`).
//! * Restore: `restore::target` (where a file goes: local disk or a bucket) → `restore::local`
//!   (IO_WRITE into a file) or `restore::s3` (IO_WRITE into a PUT or a multipart upload).
//!
//! Folders by feature: `config` (the plugin string, key ↔ file name), `s3` (client, HTTP, the
//! direct GET, the retry policy, error messages, listing), `backup`, `restore`; at the top the
//! SDK adapter, object metadata, checksums, job statistics and the async runtimes.

mod backup;
mod checksum;
pub mod config;
mod metadata;
mod restore;
pub mod runtime;
pub mod s3;
mod sdk_adapter;
mod stats;

pub use sdk_adapter::S3Plugin;
