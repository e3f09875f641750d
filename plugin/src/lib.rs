//! The S3 plugin: a host-independent engine and its adapter to the file-daemon SDK
//! ([`S3Plugin`], in `sdk_adapter`), which the Bareos and Bacula builds in `plugin/bareos-fd` and
//! `plugin/bacula-fd` export.
//!
//! * Backup: `Pages::next_page` (s3/listing, ListObjectsV2) → `Pipeline::next_object`
//!   (backup/pipeline, GETs in flight through backup/unit_fetch) → `BackupJob::next_entry` /
//!   `BackupJob::read` (backup/job: the daemon's startBackupFile and IO_READ, from
//!   `BodyReader::read` in backup/reader).
//! * Restore: `destination` (restore/target: disk or bucket) → `LocalRestore::write`
//!   (restore/local) or `S3Restore::write` / `S3Restore::end` (restore/s3: a PUT or a multipart
//!   upload through `s3::object::ObjectHandle`, verified, then its metadata).
//!
//! Folders by feature: `config` (the plugin string, key ↔ file name, sizes), `s3` (client, HTTP,
//! the direct GET, the retry policy, errors, listing, object operations), `backup`, `restore`;
//! at the top the SDK adapter, object metadata, checksums, job statistics and the runtimes.

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
