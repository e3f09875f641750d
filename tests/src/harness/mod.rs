//! The host harness: plays the file daemon for the built plugin `.so` files.
//!
//! It `dlopen`s a plugin (Bareos interface 10 or Bacula 9.6 interface 14), hands it a core
//! function table implemented here, and drives it through the C ABI in the call sequences the
//! real daemons use (docs/abi.md, the Bareos and Bacula call orders). Integration tests run Full /
//! Incremental / Differential / accurate / estimate / restore jobs with it and look at the
//! [`JobReport`]: the job status the daemon would report, the messages, what was saved (with the
//! data), and any protocol violation the harness noticed.
//!
//! Module map: [`loader`] (build, `dlopen`, `loadPlugin` checks), `driver` (the job sequences:
//! `steps` they share, `backup`, `estimate`, `restore`), `job` (per-job core state: messages,
//! accurate list, `checkChanges`), `host` (the core callbacks and plugin calls both ABIs share,
//! over the `Abi` trait), `bareos_host` / `bacula_host` (each ABI's `Abi`: its core table,
//! numbering, packets' differences and xattr route), `catalog` (the director's
//! view across a job chain), `volume` (saved data, spilled to temp files), `watchdog` (every call
//! into the plugin is bounded), `shim` (glue to the C-variadic callbacks in `src/host_shim.c`),
//! `selftest` (the emulation checked end to end against `fake_plugin.c`, a tiny C plugin built
//! for both ABIs by `build.rs`).
//!
//! Environment: `HARNESS_NO_BUILD=1` skips the `cargo build` of the plugins;
//! `HARNESS_CALL_TIMEOUT_SECS` bounds each call into a plugin (default 300).

mod bacula_host;
mod bareos_host;
mod catalog;
mod driver;
mod host;
mod job;
pub mod loader;
mod outcome;
#[cfg(test)]
mod selftest;
mod sha256;
mod shim;
mod volume;
mod watchdog;

use std::sync::Arc;

pub use fd_ffi::Xattr;

pub use catalog::Catalog;
pub use driver::{backup, backup_plugin, estimate, restore, restore_plugin};
pub use job::orphan_callbacks;
pub use loader::{
    cargo_build, dump_server_bin, fault_plugin_so, plugin_facts, plugin_so, probe_wrong_core_table,
    PluginFacts, WrongTableOutcome,
};
pub use outcome::{assert_ok, Outcome};
pub use volume::DataRef;

/// Which daemon the harness plays.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Flavour {
    /// bareos-fd 23.x–25.x, plugin interface 10 (`libs3_fd_bareos.so`).
    Bareos,
    /// Debian's bacula-fd 9.6.7, plugin interface 14 (`libs3_fd_bacula.so`).
    Bacula,
}

impl Flavour {
    /// Both flavours, for tests that run against each.
    pub const ALL: [Flavour; 2] = [Flavour::Bareos, Flavour::Bacula];

    /// The default IO_READ count of the daemon (Bareos: Maximum Network Buffer Size 262144;
    /// Bacula 9.6: 65536, as logged by the probe plugin).
    pub fn default_read_size(self) -> usize {
        match self {
            Flavour::Bareos => 262_144,
            Flavour::Bacula => 65_536,
        }
    }
}

/// One backup (or estimate) job, as the director would send it to the file daemon.
#[derive(Clone, Debug)]
pub struct JobSpec {
    pub flavour: Flavour,
    pub job_id: u32,
    /// `'F'`, `'I'` or `'D'`.
    pub level: char,
    /// Since time (seconds) for Incremental/Differential; 0 for Full.
    pub since: i64,
    /// Accurate mode (`Accurate = yes`): Incr/Diff get the catalog as the previous file list.
    pub accurate: bool,
    /// One string per FileSet `Plugin =` line, e.g. `"s3:bucket=b:…"`.
    pub commands: Vec<String>,
    /// Bareos `FD Plugin Options` / run-time `pluginoptions=`, one event each; ignored for Bacula
    /// (9.6 has no such event).
    pub plugin_options: Vec<String>,
    /// Cancel the job (`bEventCancelCommand` from another thread) during the (n+1)-th entry:
    /// right after its first IO_READ returned data, or right after `startBackupFile` if it has no
    /// data; if the plugin ends before, after the last command line.
    pub cancel_after_files: Option<usize>,
    /// IO_READ count; default 262144 (Bareos) / 65536 (Bacula).
    pub read_size: Option<usize>,
    /// Called with each entry's name after `startBackupFile` returned it, before the core
    /// saves it (a test's way to act "between listing and GET").
    pub on_entry: Option<EntryHook>,
    /// Null sink (benchmarks): the core reads every IO_READ into its buffer and drops the data
    /// (no hashing, no temp files), keeps no per-entry records (`files` and `unchanged` stay
    /// empty; their counts are in [`JobReport::discarded`]) and no call trace, so the process
    /// holds little more than the plugin does.
    pub discard_data: bool,
    /// With [`JobSpec::discard_data`]: also fold every saved entry's name and data into
    /// [`Discarded::digest`] (a CRC-32 of the data as it streams by), so a benchmark can check
    /// what a job got without keeping it. Off by default (it costs CPU).
    pub discard_digest: bool,
    /// The Include block's Options have `xattrsupport = yes` (default). Bareos sets `FO_XATTR`
    /// in `sp->flags` and calls `getXattr` after each entry's IO_CLOSE only then; Bacula 9.6
    /// asks for every plugin file either way (`handleXACLdata`).
    pub xattrs: bool,
}

/// A test callback run by the harness at a point of the job (see [`JobSpec::on_entry`]).
#[derive(Clone)]
pub struct EntryHook(pub Arc<EntryFn>);

/// The function behind an [`EntryHook`]: gets the entry's name.
pub type EntryFn = dyn Fn(&[u8]) + Send + Sync;

impl std::fmt::Debug for EntryHook {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("EntryHook")
    }
}

impl JobSpec {
    /// A job of `level` (`'F'`, `'I'`, `'D'`) with one `Plugin =` line and defaults elsewhere.
    pub fn new(flavour: Flavour, job_id: u32, level: char, since: i64, command: &str) -> Self {
        JobSpec {
            flavour,
            job_id,
            level,
            since,
            accurate: false,
            commands: vec![command.to_owned()],
            plugin_options: Vec::new(),
            cancel_after_files: None,
            read_size: None,
            on_entry: None,
            discard_data: false,
            discard_digest: false,
            xattrs: true,
        }
    }
}

/// Attributes of an entry as the core encodes them into the catalog (whole seconds).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct StatRecord {
    pub dev: u64,
    pub ino: u64,
    pub mode: u32,
    pub nlink: u64,
    pub uid: u32,
    pub gid: u32,
    pub rdev: u64,
    pub size: i64,
    pub blksize: i64,
    pub blocks: i64,
    pub atime: i64,
    pub mtime: i64,
    pub ctime: i64,
}

/// One entry the core saved (attributes, and data unless attributes-only).
#[derive(Clone, Debug)]
pub struct SavedFile {
    /// The name recorded in the catalog (for `FT_DIREND`: the `link` with trailing `/`).
    pub name: Vec<u8>,
    /// `FT_*` as returned by the plugin.
    pub ftype: i32,
    /// `st_size` as reported (the core does not enforce it against the data).
    pub size: i64,
    pub mtime: i64,
    pub ctime: i64,
    pub mode: u32,
    pub stat: StatRecord,
    /// `sp->link` (symlink target / directory name), if any.
    pub link: Option<Vec<u8>>,
    /// Bytes the core read through IO_READ (0 for attribute-only entries).
    pub data_len: u64,
    /// The data read (memory or a temp file); `None` for attribute-only entries.
    pub data_ref: Option<Arc<DataRef>>,
    /// The plugin command recorded with the file (what a restore hands back).
    pub cmd: String,
    /// JobId of the backup that saved it.
    pub job_id: u32,
    /// IO_OPEN failed or an IO_READ returned an error (the catalog entry exists anyway).
    pub io_error: bool,
    /// Extended attributes stored with the file, in backup order: what Bareos' `getXattr` loop
    /// collected, or for Bacula the attributes in the records below as the SDK's record format
    /// decodes them (`fd_ffi::xattr::decode_record`; empty if they do not decode). A restore
    /// replays these on Bareos (`setXattr`).
    pub xattrs: Vec<Xattr>,
    /// Bacula: the plugin-xattr stream records (1988) exactly as `handleXACLdata(BXATTR_BACKUP)`
    /// returned them; a restore hands each back with `BXATTR_RESTORE`. Empty for Bareos.
    pub xattr_records: Vec<Vec<u8>>,
}

impl SavedFile {
    /// The saved data (empty for attribute-only entries). Reads a spilled temp file whole.
    pub fn data(&self) -> Vec<u8> {
        self.data_ref
            .as_ref()
            .map(|d| d.bytes())
            .unwrap_or_default()
    }

    /// Lower-case hex SHA-256 of the saved data.
    pub fn sha256_hex(&self) -> String {
        match &self.data_ref {
            Some(d) => d.sha256_hex(),
            None => volume::DataRef::empty_sha256_hex(),
        }
    }

    /// Whether the saved data equals `bytes` (streams a spilled file; no full copy).
    pub fn data_matches(&self, bytes: &[u8]) -> bool {
        match &self.data_ref {
            Some(d) => d.matches(bytes),
            None => bytes.is_empty(),
        }
    }

    /// The name as (lossy) UTF-8, for messages.
    pub fn name_lossy(&self) -> String {
        String::from_utf8_lossy(&self.name).into_owned()
    }
}

/// A restore object the plugin emitted (`FT_RESTORE_FIRST`, `FT_PLUGIN_CONFIG`, …).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RestoreObjectRecord {
    pub ftype: i32,
    pub object_name: Vec<u8>,
    pub object: Vec<u8>,
    pub index: i32,
    pub cmd: String,
    pub job_id: u32,
}

/// What the daemon (and director) would know at the end of a backup or restore job.
#[derive(Clone, Debug)]
pub struct JobReport {
    pub flavour: Flavour,
    pub job_id: u32,
    /// `'T'` OK, `'W'` OK with JobErrors > 0, `'f'` fatal, `'A'` cancelled, `'E'` error
    /// (Bareos: BackupCommand refused; restore: JobErrors > 0).
    pub status: char,
    pub job_errors: u32,
    pub job_warnings: u32,
    /// `(M_* type, text)` in order. Messages generated by the emulated core start with `[core] `,
    /// daemon messages (NULL context) with `[daemon] `.
    pub messages: Vec<(i32, String)>,
    /// `DebugMessage` output as `"<level>: <text>"`, plus `[core]` notes.
    pub debug: Vec<String>,
    /// Entries saved (with data unless attribute-only), in backup order.
    pub files: Vec<SavedFile>,
    /// Names reported `FT_NOCHG` / `FT_DIRNOCHG` (nothing sent).
    pub unchanged: Vec<Vec<u8>>,
    /// Accurate Incr/Diff: catalog names not seen and not kept by `checkFile`.
    pub deleted: Vec<Vec<u8>>,
    /// Restore objects emitted during the backup.
    pub restore_objects: Vec<RestoreObjectRecord>,
    /// Restore: files for which data was written completely (or `CF_CREATED`).
    pub restored: u32,
    /// Restore: files the plugin answered with `CF_SKIP`.
    pub skipped: u32,
    /// Everything the harness saw the plugin do against the ABI (docs/abi.md).
    pub protocol_violations: Vec<String>,
    /// Compact trace of the calls into the plugin (IO_READ/IO_WRITE summarised per file).
    pub calls: Vec<String>,
    /// What a [`JobSpec::discard_data`] backup saved without keeping records (zero otherwise).
    pub discarded: Discarded,
}

/// Counts of a [`JobSpec::discard_data`] backup.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Discarded {
    /// Entries saved (what would be in [`JobReport::files`]).
    pub files: u64,
    /// Bytes the core read through IO_READ, over all entries.
    pub bytes: u64,
    /// Entries reported unchanged (what would be in [`JobReport::unchanged`]).
    pub unchanged: u64,
    /// With [`JobSpec::discard_digest`]: the wrapping sum of [`Discarded::entry_digest`] over the
    /// saved entries (independent of their order); 0 otherwise.
    pub digest: u64,
}

impl Discarded {
    /// What one saved entry (its catalog name and data) adds to [`Discarded::digest`].
    pub fn entry_digest(name: &[u8], data: &[u8]) -> u64 {
        digest_of(name, crc32fast::hash(data), data.len() as u64)
    }
}

/// An entry's digest from its name, its data's CRC-32 and length (splitmix64-mixed).
pub(crate) fn digest_of(name: &[u8], data_crc: u32, len: u64) -> u64 {
    let mut h = (u64::from(crc32fast::hash(name)) << 32 | u64::from(data_crc))
        ^ len.wrapping_mul(0x9e37_79b9_7f4a_7c15);
    h = (h ^ (h >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    h = (h ^ (h >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    h ^ (h >> 31)
}

impl JobReport {
    /// The saved entry called `name`, if any.
    pub fn file(&self, name: &[u8]) -> Option<&SavedFile> {
        self.files.iter().find(|f| f.name == name)
    }

    /// Messages of type `mtype` (`M_*`).
    pub fn messages_of(&self, mtype: i32) -> Vec<&str> {
        self.messages
            .iter()
            .filter(|(t, _)| *t == mtype)
            .map(|(_, m)| m.as_str())
            .collect()
    }
}

/// Result of an estimate (docs/abi.md, the estimate sequence).
#[derive(Clone, Debug)]
pub struct EstimateReport {
    pub flavour: Flavour,
    /// Same letters as [`JobReport::status`].
    pub status: char,
    pub job_errors: u32,
    pub messages: Vec<(i32, String)>,
    pub debug: Vec<String>,
    /// Every listed entry: `(sp->fname, FT_*, st_size)`, object entries excluded.
    pub files: Vec<(Vec<u8>, i32, i64)>,
    /// The core's counters: files of types 1,2,3,4,5,6,16,17 …
    pub num_files: u64,
    /// … and `st_size` of `S_ISREG` entries.
    pub num_bytes: u64,
    pub protocol_violations: Vec<String>,
    pub calls: Vec<String>,
}

/// One restore job.
#[derive(Clone, Debug)]
pub struct RestoreSpec {
    pub flavour: Flavour,
    pub job_id: u32,
    /// `""` or `"/"`: original place; otherwise a prefix (a local directory) joined like the core
    /// does (a `/` only if neither side provides one).
    pub where_: String,
    /// `'a'` always, `'w'` if newer, `'n'` never, `'o'` if older.
    pub replace: char,
    /// Bareos restore-time `pluginoptions`; ignored for Bacula.
    pub plugin_options: Vec<String>,
}

impl RestoreSpec {
    /// Restore to the original place with replace = always.
    pub fn new(flavour: Flavour, job_id: u32) -> Self {
        RestoreSpec {
            flavour,
            job_id,
            where_: String::new(),
            replace: 'a',
            plugin_options: Vec::new(),
        }
    }
}

/// `M_*` job message types (identical numbers in both flavours for 1–16).
pub mod msg {
    pub const M_ABORT: i32 = 1;
    pub const M_DEBUG: i32 = 2;
    pub const M_FATAL: i32 = 3;
    pub const M_ERROR: i32 = 4;
    pub const M_WARNING: i32 = 5;
    pub const M_INFO: i32 = 6;
    pub const M_SAVED: i32 = 7;
    pub const M_NOTSAVED: i32 = 8;
    pub const M_SKIPPED: i32 = 9;
    pub const M_ERROR_TERM: i32 = 11;
    pub const M_RESTORED: i32 = 13;
    pub const M_CONFIG_ERROR: i32 = 18;
}

/// `FT_*` file types (identical numbers in both flavours).
pub mod ft {
    pub const FT_LNKSAVED: i32 = 1;
    pub const FT_REGE: i32 = 2;
    pub const FT_REG: i32 = 3;
    pub const FT_LNK: i32 = 4;
    pub const FT_DIREND: i32 = 5;
    pub const FT_SPEC: i32 = 6;
    pub const FT_NOACCESS: i32 = 7;
    pub const FT_NOFOLLOW: i32 = 8;
    pub const FT_NOSTAT: i32 = 9;
    pub const FT_NOCHG: i32 = 10;
    pub const FT_DIRNOCHG: i32 = 11;
    pub const FT_ISARCH: i32 = 12;
    pub const FT_NORECURSE: i32 = 13;
    pub const FT_NOFSCHG: i32 = 14;
    pub const FT_NOOPEN: i32 = 15;
    pub const FT_RAW: i32 = 16;
    pub const FT_FIFO: i32 = 17;
    pub const FT_DIRBEGIN: i32 = 18;
    pub const FT_INVALIDFS: i32 = 19;
    pub const FT_INVALIDDT: i32 = 20;
    pub const FT_REPARSE: i32 = 21;
    pub const FT_PLUGIN: i32 = 22;
    pub const FT_DELETED: i32 = 23;
    pub const FT_BASE: i32 = 24;
    pub const FT_RESTORE_FIRST: i32 = 25;
    pub const FT_JUNCTION: i32 = 26;
    pub const FT_PLUGIN_CONFIG: i32 = 27;
    pub const FT_PLUGIN_CONFIG_FILLED: i32 = 28;

    /// Restore-object types (handled without a file name).
    pub fn is_object(t: i32) -> bool {
        matches!(
            t,
            FT_RESTORE_FIRST | FT_PLUGIN_CONFIG | FT_PLUGIN_CONFIG_FILLED
        )
    }
}

/// `bRC` values (identical in both flavours).
pub mod rc {
    pub const OK: i32 = 0;
    pub const STOP: i32 = 1;
    pub const ERROR: i32 = 2;
    pub const MORE: i32 = 3;
    pub const TERM: i32 = 4;
    pub const SEEN: i32 = 5;
    pub const SKIP: i32 = 7;
}
