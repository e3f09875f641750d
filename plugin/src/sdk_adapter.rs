//! The SDK adapter: daemon events and file calls in, backup and restore jobs out.

use std::collections::{HashMap, HashSet};

use fd_ffi::{
    CancelToken, CreateStatus, Event, FdPlugin, Host, IoFailure, IoRequest, MessageLevel, NextFile,
    PluginError, PluginInfo, PluginResult, RestoreFile, SavePacket, Xattr,
};
use tokio_util::sync::CancellationToken;

use crate::backup::job::{BackupJob, Mode, Since};
use crate::config::naming::{split_version, VersionTag};
use crate::config::options::{parse_pairs, Options, PLUGIN_NAME};
use crate::restore::local::LocalRestore;
use crate::restore::s3::{S3Restore, S3Target};
use crate::restore::target::{destination, recorded_name, split_name, Destination};
use crate::s3::client::{self, S3};

enum Work {
    Idle,
    Backup(Box<BackupJob>),
    Restore(Box<RestoreWork>),
}

/// What makes two restore targets need different clients: endpoint, region, addressing,
/// credentials file, profile, CA bundle and TLS verification.
type ClientIdentity = (
    Option<String>,
    Option<String>,
    bool,
    Option<std::path::PathBuf>,
    Option<String>,
    Option<std::path::PathBuf>,
    bool,
);
/// Which side the file being restored went to.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Side {
    None,
    Local,
    S3,
}

struct RestoreWork {
    local: LocalRestore,
    s3: S3Restore,
    side: Side,
    used_s3: bool,
    /// Clients by endpoint and credentials.
    clients: HashMap<ClientIdentity, S3>,
}

/// One job's plugin instance.
pub struct S3Plugin {
    cancel: CancellationToken,
    level: u8,
    since: Option<i64>,
    /// Bareos Plugin Options (`FD Plugin Options` / `pluginoptions=`), applied over the string.
    overrides: Vec<(String, String)>,
    work: Work,
    /// The restore command whose options were last checked.
    restore_command: Option<String>,
    /// Names of objects of earlier `Plugin =` lines that exist but could not be saved.
    kept: HashSet<Vec<u8>>,
}

fn option_error(e: impl std::fmt::Display) -> PluginError {
    PluginError::fatal(format!("s3: {e}"))
}

/// Bareos 23.x and 24.0.0–24.0.1 send every plugin's options to every plugin: ours start
/// with `s3:` or are bare `key=value` pairs; `other:…` belongs to another plugin.
fn addressed_to_us(options: &str) -> bool {
    let first = options.trim().split(':').next().unwrap_or("");
    first == PLUGIN_NAME || first.contains('=')
}

impl S3Plugin {
    fn finish_backup(&mut self, host: &Host<'_>) {
        if let Work::Backup(job) = std::mem::replace(&mut self.work, Work::Idle) {
            host.job_message(MessageLevel::Info, &job.summary());
            self.kept.extend(job.into_failed_names());
        }
    }

    fn since(&self, host: &Host<'_>, margin: i64) -> Since {
        let level = self.level;
        let reference = match level {
            b'I' | b'D' => self
                .since
                .or_else(|| host.since_time().filter(|t| *t > 0))
                .map(|t| t - margin),
            _ => None,
        };
        Since {
            level,
            reference,
            accurate: host.accurate(),
        }
    }

    fn start_backup(&mut self, host: &Host<'_>, command: &str, mode: Mode) -> PluginResult<()> {
        self.finish_backup(host);
        let options = Options::parse(command, &self.overrides).map_err(option_error)?;
        let s3 = client::connect(&options).map_err(|e| PluginError::fatal(format!("s3: {e}")))?;
        if !options.verify_tls {
            host.job_message(
                MessageLevel::Warning,
                &format!(
                    "s3: TLS certificate verification is turned off (verify_tls=no) for {}: \
                     the endpoint's identity is not checked",
                    options.endpoint_name()
                ),
            );
        }
        let since = self.since(host, options.since_margin);
        if mode == Mode::Backup {
            let level = match since.reference {
                None => "Full".to_string(),
                Some(t) => format!(
                    "{} since {t} (epoch seconds, margin included)",
                    since.level as char
                ),
            };
            host.job_message(
                MessageLevel::Info,
                &format!(
                    "s3: backing up {} from {} ({level}); credentials from {}",
                    options.location(),
                    options.endpoint_name(),
                    s3.credential_source
                ),
            );
        }
        let job = BackupJob::start(options, s3, mode, since, self.cancel.child_token())?;
        self.work = Work::Backup(Box::new(job));
        Ok(())
    }

    fn restore(&mut self) -> &mut RestoreWork {
        if !matches!(self.work, Work::Restore(_)) {
            self.work = Work::Restore(Box::new(RestoreWork {
                local: LocalRestore::default(),
                s3: S3Restore::new(self.cancel.child_token()),
                side: Side::None,
                used_s3: false,
                clients: HashMap::new(),
            }));
        }
        match &mut self.work {
            Work::Restore(r) => r,
            _ => unreachable!(),
        }
    }

    /// Where a file goes in S3: the options recorded at backup with the restore-time ones
    /// over them; the original bucket and key unless those say otherwise.
    fn s3_target(
        &mut self,
        file: &RestoreFile<'_>,
        pairs: &[(String, String)],
    ) -> PluginResult<(S3Target, Option<VersionTag>)> {
        let command = self.restore_command.clone().ok_or_else(|| {
            PluginError::fatal("s3: createFile before the restore command".to_string())
        })?;
        let options = Options::parse(&command, pairs).map_err(option_error)?;
        let mut name = recorded_name(file);
        let mut version = None;
        if options.versions {
            let (base, tag) = split_version(&name).map_err(|e| {
                PluginError::error(format!(
                    "s3: cannot restore '{}': {e}",
                    String::from_utf8_lossy(&name)
                ))
            })?;
            name = base;
            version = Some(tag);
        }
        let (bucket, key) = split_name(&name).map_err(|e| {
            PluginError::error(format!(
                "s3: cannot restore '{}' into S3: {e}",
                String::from_utf8_lossy(&name)
            ))
        })?;
        let given = |k: &str| pairs.iter().any(|(name, _)| name == k);
        let bucket = if given("bucket") {
            options.bucket.clone()
        } else {
            bucket
        };
        let key = if given("prefix") {
            format!("{}{key}", options.prefix)
        } else {
            key
        };
        let identity: ClientIdentity = (
            options.endpoint.clone(),
            options.region.clone(),
            options.path_style,
            options.credentials_file.clone(),
            options.profile.clone(),
            options.ca_file.clone(),
            options.verify_tls,
        );
        let work = self.restore();
        let s3 = match work.clients.get(&identity) {
            Some(s3) => s3.clone(),
            None => {
                let s3 = client::connect(&options)
                    .map_err(|e| PluginError::fatal(format!("s3: {e}")))?;
                work.clients.insert(identity, s3.clone());
                s3
            }
        };
        Ok((
            S3Target {
                s3,
                options,
                bucket,
                key,
            },
            version,
        ))
    }

    /// Whether the recorded command backed up versions (names carry `@time~versionId`).
    fn restoring_versions(&self) -> bool {
        self.restore_command
            .as_deref()
            .and_then(|c| Options::parse(c, &self.overrides).ok())
            .is_some_and(|o| o.versions)
    }
}

impl FdPlugin for S3Plugin {
    const INFO: PluginInfo = PluginInfo {
        author: c"s3-fd authors",
        date: c"2026-11",
        version: c"0.1.0",
        description: c"Backs up and restores S3 buckets (ListObjectsV2 + streaming GET)",
        usage: c"s3:bucket=NAME[:endpoint=URL][:region=R][:prefix=P][:path_style=yes|no][:credentials_file=PATH][:profile=NAME]",
    };

    fn new(_host: &Host<'_>, cancel: CancelToken) -> PluginResult<Self> {
        let token = CancellationToken::new();
        let on_cancel = token.clone();
        cancel.on_cancel(move || on_cancel.cancel());
        Ok(S3Plugin {
            cancel: token,
            level: b'F',
            since: None,
            overrides: Vec::new(),
            work: Work::Idle,
            restore_command: None,
            kept: HashSet::new(),
        })
    }

    fn handle_event(&mut self, host: &Host<'_>, event: Event<'_>) -> PluginResult<()> {
        match event {
            Event::Level(level) => self.level = level,
            Event::Since(t) => self.since = Some(t),
            Event::NewPluginOptions(text) if addressed_to_us(text) => {
                let pairs = parse_pairs(text).map_err(option_error)?;
                self.overrides.extend(pairs);
            }
            Event::BackupCommand(command) => self.start_backup(host, command, Mode::Backup)?,
            Event::EstimateCommand(command) => self.start_backup(host, command, Mode::Estimate)?,
            Event::EndBackupJob => self.finish_backup(host),
            Event::RestoreCommand(command) => {
                if self.restore_command.as_deref() != Some(command) {
                    Options::parse(command, &self.overrides).map_err(option_error)?;
                    self.restore_command = Some(command.to_string());
                }
                self.restore();
            }
            Event::EndRestoreJob => {
                if let Work::Restore(mut r) = std::mem::replace(&mut self.work, Work::Idle) {
                    r.s3.abandon();
                    let used_local = r.local.stats.objects > 0 || r.local.stats.unchanged > 0;
                    if used_local || !r.used_s3 {
                        host.job_message(
                            MessageLevel::Info,
                            &r.local.stats.restore_summary("local disk"),
                        );
                    }
                    if r.used_s3 {
                        host.job_message(MessageLevel::Info, &r.s3.summary("S3"));
                    }
                }
            }
            _ => {}
        }
        Ok(())
    }

    fn start_backup_file(
        &mut self,
        host: &Host<'_>,
        sp: &mut SavePacket<'_>,
    ) -> PluginResult<NextFile> {
        let Work::Backup(job) = &mut self.work else {
            return Err(PluginError::fatal(
                "s3: startBackupFile without a backup command",
            ));
        };
        Ok(if job.next_entry(host, sp)? {
            NextFile::Entry
        } else {
            NextFile::Stop
        })
    }

    fn end_backup_file(&mut self, _host: &Host<'_>) -> PluginResult<bool> {
        match &mut self.work {
            Work::Backup(job) => Ok(job.has_more()),
            _ => Ok(false),
        }
    }

    fn io(&mut self, host: &Host<'_>, request: IoRequest<'_>) -> Result<i64, IoFailure> {
        match (&mut self.work, request) {
            (Work::Backup(job), IoRequest::OpenRead { .. }) => job.open().map(|()| 0),
            (Work::Backup(job), IoRequest::Read(buf)) => job.read(host, buf).map(|n| n as i64),
            (Work::Backup(job), IoRequest::Close) => {
                job.close();
                Ok(0)
            }
            (Work::Restore(r), IoRequest::OpenWrite { .. }) if r.side == Side::S3 => {
                r.s3.open().map(|()| 0)
            }
            (Work::Restore(r), IoRequest::Write(buf)) if r.side == Side::S3 => {
                r.s3.write(buf).map(|n| n as i64)
            }
            (Work::Restore(r), IoRequest::Close) if r.side == Side::S3 => Ok(0),
            (Work::Restore(r), IoRequest::OpenWrite { .. }) => r.local.open().map(|()| 0),
            (Work::Restore(r), IoRequest::Write(buf)) => r.local.write(buf).map(|n| n as i64),
            (Work::Restore(r), IoRequest::Close) => r.local.close().map(|()| 0),
            (_, IoRequest::Close) => Ok(0),
            _ => Err(IoFailure::new(
                libc::EINVAL,
                PluginError::error("s3: unexpected IO request for this job"),
            )),
        }
    }

    fn start_restore_file(&mut self, _host: &Host<'_>, _command: &str) -> PluginResult<()> {
        self.restore();
        Ok(())
    }

    fn create_file(
        &mut self,
        _host: &Host<'_>,
        file: &RestoreFile<'_>,
    ) -> PluginResult<CreateStatus> {
        let where_ = file.where_.map(|w| w.to_bytes());
        let destination = destination(&self.overrides, where_).map_err(option_error)?;
        match destination {
            Destination::Local => {
                let versions = self.restoring_versions();
                let work = self.restore();
                if versions {
                    // A delete marker has nothing to write on disk.
                    if let Ok((_, tag)) = split_version(file.output_name.to_bytes()) {
                        if tag.delete_marker {
                            work.local.stats.unchanged += 1;
                            return Ok(CreateStatus::Skip);
                        }
                    }
                }
                work.side = Side::Local;
                work.local.create(file)
            }
            Destination::S3(pairs) => {
                let (target, version) = self.s3_target(file, &pairs)?;
                let as_of = target.options.as_of;
                let work = self.restore();
                work.used_s3 = true;
                if let Some(tag) = version {
                    if as_of.is_some_and(|t| tag.time_ms > t) {
                        work.s3.stats.unchanged += 1;
                        return Ok(CreateStatus::Skip);
                    }
                    if tag.delete_marker {
                        work.s3.delete_marker(target)?;
                        return Ok(CreateStatus::Created);
                    }
                }
                work.side = Side::S3;
                work.s3.create(file, target)
            }
        }
    }

    fn set_file_attributes(
        &mut self,
        _host: &Host<'_>,
        file: &RestoreFile<'_>,
    ) -> PluginResult<()> {
        let work = self.restore();
        if work.side == Side::Local {
            work.local.set_attributes(file);
        }
        Ok(())
    }

    fn end_restore_file(&mut self, host: &Host<'_>) -> PluginResult<()> {
        let work = self.restore();
        let side = std::mem::replace(&mut work.side, Side::None);
        match side {
            Side::S3 => work.s3.end(),
            Side::Local => {
                if let Some((level, message)) = work.local.end() {
                    host.job_message(level, &message);
                }
                Ok(())
            }
            Side::None => Ok(()),
        }
    }

    fn backup_xattrs(&mut self, _host: &Host<'_>) -> PluginResult<Vec<Xattr>> {
        Ok(match &mut self.work {
            Work::Backup(job) => job.xattrs(),
            _ => Vec::new(),
        })
    }

    fn restore_xattr(&mut self, _host: &Host<'_>, xattr: &Xattr) -> PluginResult<()> {
        let work = self.restore();
        match work.side {
            Side::S3 => work.s3.xattr(xattr),
            Side::Local => {
                work.local.xattr(xattr);
                Ok(())
            }
            Side::None => Ok(()),
        }
    }

    fn check_file(&mut self, _host: &Host<'_>, name: &[u8]) -> bool {
        self.kept.contains(name) || matches!(&self.work, Work::Backup(job) if job.keep(name))
    }
}

#[cfg(test)]
mod tests {
    use super::addressed_to_us;

    #[test]
    fn plugin_options_of_other_plugins_are_not_ours() {
        assert!(addressed_to_us("s3:bucket=other"));
        assert!(addressed_to_us("bucket=other:prefix=x"));
        assert!(!addressed_to_us("python:module_name=foo"));
        assert!(!addressed_to_us("s3x:bucket=b"));
    }
}
