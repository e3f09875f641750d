//! The job sequences of the emulated daemon: backup (Full/Incr/Diff, accurate, cancel),
//! estimate and restore, written once against [`PluginJob`], which each flavour host implements
//! with its own packets and numbering.
//!
//! References: Bareos note (`shared/abi/bareos-fd-plugin-abi.md`) §5 lifecycle, §6 command
//! routing, §7.1–§7.4 and §7.6 sequences, §8 backup details, §10 pluginIO, §13 restore; Bacula
//! note (`shared/abi/bacula-fd-plugin-abi.md`) §7 routing, §8 observed sequences, §9 behaviour.

use std::collections::HashMap;
use std::ffi::{c_void, CStr, CString};
use std::io::Read;
use std::sync::Arc;
use std::thread;

use super::catalog::Catalog;
use super::job::{JobConfig, JobState, Taken};
use super::loader::{self, Loaded};
use super::volume::DataWriter;
use super::{
    ft, msg, rc, Discarded, EstimateReport, Flavour, JobReport, JobSpec, RestoreObjectRecord,
    RestoreSpec, SavedFile, StatRecord,
};

/// The events the sequences use; each flavour maps them to its own numbers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Ev {
    JobStart,
    JobEnd,
    StartBackupJob,
    EndBackupJob,
    StartRestoreJob,
    EndRestoreJob,
    BackupCommand,
    RestoreCommand,
    EstimateCommand,
    Level,
    Since,
    CancelCommand,
    RestoreObject,
    EndFileSet,
    PluginCommand,
    NewPluginOptions,
}

impl Ev {
    /// Events the dispatcher delivers even to a cancelled job (`call_if_canceled`).
    fn call_if_canceled(self) -> bool {
        matches!(self, Ev::EndBackupJob | Ev::EndRestoreJob)
    }
}

/// A save packet after `startBackupFile`, decoded.
#[derive(Clone, Debug, Default)]
pub(crate) struct SaveView {
    pub fname: Option<Vec<u8>>,
    pub link: Option<Vec<u8>>,
    pub ftype: i32,
    pub stat: StatRecord,
    pub no_read: bool,
    pub sparse: bool,
    pub offsets: bool,
    pub object_name: Option<Vec<u8>>,
    pub object: Option<Vec<u8>>,
    pub index: i32,
    pub pkt_size: i32,
    pub pkt_end: i32,
    pub expected_size: i32,
}

/// One `pluginIO` call: inputs preset by the driver, outputs copied back by the host.
#[derive(Clone, Debug)]
pub(crate) struct IoReq {
    pub func: i32,
    pub count: i32,
    pub flags: i32,
    pub mode: u32,
    pub buf: *mut u8,
    pub fname: *const std::ffi::c_char,
    pub status: i32,
    pub io_errno: i32,
    pub offset: i64,
    pub filedes: i32,
}

pub(crate) const IO_OPEN: i32 = 1;
pub(crate) const IO_READ: i32 = 2;
pub(crate) const IO_WRITE: i32 = 3;
pub(crate) const IO_CLOSE: i32 = 4;

impl IoReq {
    fn new(func: i32) -> Self {
        IoReq {
            func,
            count: 0,
            flags: 0,
            mode: 0,
            buf: std::ptr::null_mut(),
            fname: std::ptr::null(),
            status: 0,
            io_errno: 0,
            offset: 0,
            filedes: 0,
        }
    }

    pub(crate) fn label(&self) -> &'static str {
        match self.func {
            IO_OPEN => "pluginIO(IO_OPEN)",
            IO_READ => "pluginIO(IO_READ)",
            IO_WRITE => "pluginIO(IO_WRITE)",
            IO_CLOSE => "pluginIO(IO_CLOSE)",
            _ => "pluginIO(?)",
        }
    }
}

/// Attributes of a file being restored (`restore_pkt` contents).
pub(crate) struct RestoreAttrs {
    pub ftype: i32,
    pub file_index: i32,
    pub stream: i32,
    pub data_stream: i32,
    pub stat: StatRecord,
    pub ofname: CString,
    pub olname: CString,
    pub attr_ex: CString,
    pub replace: u8,
}

/// What the driver needs from a flavour host: the calls into the plugin, made on the job's
/// context with that flavour's packets.
pub(crate) trait PluginJob {
    fn state(&self) -> &'static JobState;
    /// The flavour's number of `ev` (`None`: the flavour has no such event).
    fn event_number(&self, ev: Ev) -> Option<u32>;
    /// `handlePluginEvent` without any filtering.
    fn raw_event(&mut self, ev: Ev, value: *mut c_void) -> i32;
    /// `handlePluginEvent(bEventCancelCommand)`, to be run on another thread.
    fn cancel_call(&self) -> Box<dyn FnOnce() -> i32 + Send>;
    fn new_plugin(&mut self) -> i32;
    fn free_plugin(&mut self) -> i32;
    /// Fresh save packet (`cmd`, core-preset flags) and `startBackupFile`.
    fn start_backup_file(&mut self, cmd: &CStr) -> i32;
    fn save_view(&self) -> SaveView;
    /// `sp->fname` read again (the estimate reads it after `endBackupFile`).
    fn fname_now(&self) -> Option<Vec<u8>>;
    fn end_backup_file(&mut self) -> i32;
    fn io(&mut self, req: &mut IoReq, trace: bool) -> i32;
    fn has_check_file(&self) -> bool;
    fn check_file(&mut self, name: &CStr) -> i32;
    fn restore_object_event(&mut self, obj: Option<(&RestoreObjectRecord, &CStr)>) -> i32;
    fn start_restore_file(&mut self, cmd: &CStr) -> i32;
    /// Returns `(bRC, create_status, filedes)`.
    fn create_file(&mut self, a: &RestoreAttrs, where_: *const std::ffi::c_char)
        -> (i32, i32, i32);
    /// Returns `(bRC, create_status)`.
    fn set_file_attributes(
        &mut self,
        a: &RestoreAttrs,
        where_: *const std::ffi::c_char,
    ) -> (i32, i32);
    fn end_restore_file(&mut self) -> i32;
    /// Bacula: `checkStream` before the data of an entry.
    fn before_data(&mut self) {}
    /// After the data of an entry whose open succeeded (or that has none): Bareos `getXattr`
    /// loop when the FileSet has xattrsupport; Bacula `handleXACLdata` (ACL, then xattr, each
    /// while count > 0) for every file. Returns what the core stored.
    fn after_data(&mut self, _fname: &CStr) -> SavedXattrs {
        SavedXattrs::default()
    }
    /// The FileSet's `xattrsupport` (Bareos: `FO_XATTR` preset in `sp->flags`).
    fn set_xattr_support(&mut self, _on: bool) {}
    /// Restore: the file's delayed xattr stream, after IO_CLOSE and before `endRestoreFile`
    /// (Bareos `setXattr` per attribute; Bacula `handleXACLdata(BXATTR_RESTORE)` per record).
    fn restore_xattrs(&mut self, _f: &SavedFile, _ofname: &CStr) {}
}

/// The extended attributes the core stored with one file (see [`SavedFile::xattrs`]).
#[derive(Clone, Debug, Default)]
pub(crate) struct SavedXattrs {
    pub pairs: Vec<super::Xattr>,
    pub records: Vec<Vec<u8>>,
}

/// Delivers `ev` through the core's event dispatcher: not to a disabled plugin, not after a
/// cancel (except End*Job), and on Bareos only if the plugin registered it (Bareos note §3.2).
fn deliver(p: &mut dyn PluginJob, ev: Ev, value: *mut c_void) -> Option<i32> {
    let st = p.state();
    if st.disabled() || (st.is_canceled() && !ev.call_if_canceled()) {
        return None;
    }
    let num = p.event_number(ev)?;
    if st.flavour == Flavour::Bareos && !st.is_registered(num) {
        st.trace(format!("(event {ev:?} not registered: not delivered)"));
        return None;
    }
    Some(p.raw_event(ev, value))
}

/// `GetPluginName`: the name before the first `:` (Bareos note §6).
fn plugin_name_of<'a>(st: &JobState, cmd: &'a str) -> Option<&'a str> {
    if cmd.is_empty() {
        return None;
    }
    match cmd.find(':') {
        Some(0) => None,
        Some(i) => Some(&cmd[..i]),
        None if cmd.contains(' ') => {
            st.core_message(msg::M_ERROR, &format!("Malformed plugin command: {cmd}"));
            None
        }
        None => Some(cmd),
    }
}

/// Whether a command name addresses the loaded plugin (`IsEventForThisPlugin` /
/// `for_this_plugin`).
fn for_this_plugin(flavour: Flavour, plugin: &str, name: &str) -> bool {
    if name == plugin {
        return true;
    }
    // Bareos only: a name one character shorter that is a prefix (python/python3 hack).
    flavour == Flavour::Bareos && name.len() + 1 == plugin.len() && plugin.starts_with(name)
}

fn cstring(s: &[u8]) -> CString {
    let clean: Vec<u8> = s.iter().copied().filter(|&b| b != 0).collect();
    CString::new(clean).expect("NULs removed")
}

fn int_ptr(v: i64) -> *mut c_void {
    v as isize as *mut c_void
}

fn strerror(errno: i32) -> String {
    std::io::Error::from_raw_os_error(errno).to_string()
}

/// Job names like the director's unique `<name>.<date>_<time>_<n>`.
fn job_name(kind: &str, job_id: u32) -> String {
    format!("{kind}.2026-01-01_00.00.00_{job_id:02}")
}

/// `newPlugin` then `bEventJobStart` (Bareos note §5; Bacula note §8).
fn start_job(p: &mut dyn PluginJob, start_text: &str) {
    let st = p.state();
    st.set_in_job_command(true);
    let rc = p.new_plugin();
    if rc != rc::OK {
        st.disable();
        st.debug(format!(
            "[core] newPlugin returned {rc}: plugin disabled for this job"
        ));
    }
    let text = cstring(start_text.as_bytes());
    deliver(p, Ev::JobStart, text.as_ptr() as *mut c_void);
    st.set_in_job_command(false);
}

/// `bEventJobEnd` unless cancelled/failed, then `freePlugin` (Bareos note §5).
fn end_job(p: &mut dyn PluginJob) {
    deliver(p, Ev::JobEnd, std::ptr::null_mut());
    p.free_plugin();
}

/// Level command: Full → `Level('F')`; Incr/Diff → `Since(t)` then `Level` (Bareos note §7.2).
fn level_events(p: &mut dyn PluginJob, level: u8, since: i64) {
    if level != b'F' {
        deliver(p, Ev::Since, int_ptr(since));
    }
    deliver(p, Ev::Level, int_ptr(i64::from(level)));
}

/// FileSet: `PluginCommand` per line (name-routed; AddInclude & co. allowed only now), then
/// `EndFileSet`.
fn fileset(p: &mut dyn PluginJob, loaded: &Loaded, commands: &[String]) {
    let st = p.state();
    st.set_fileset_open(true);
    for cmd in commands {
        let Some(name) = plugin_name_of(st, cmd) else {
            continue;
        };
        if for_this_plugin(st.flavour, &loaded.name, name) {
            let c = cstring(cmd.as_bytes());
            deliver(p, Ev::PluginCommand, c.as_ptr() as *mut c_void);
        }
    }
    st.set_fileset_open(false);
    deliver(p, Ev::EndFileSet, std::ptr::null_mut());
}

/// Bareos `bEventNewPluginOptions`: 24.0.2+ routes `name:…` strings (and single words) to that
/// plugin only, others go to every plugin (Bareos note §6.1). Bacula has no such event.
fn plugin_options(p: &mut dyn PluginJob, loaded: &Loaded, options: &[String]) {
    if p.state().flavour != Flavour::Bareos {
        return;
    }
    for opt in options {
        let named = match opt.find(':') {
            Some(i) if i > 0 => Some(&opt[..i]),
            Some(_) => None,
            None if !opt.contains(' ') && !opt.is_empty() => Some(opt.as_str()),
            None => None,
        };
        if let Some(name) = named {
            if !for_this_plugin(Flavour::Bareos, &loaded.name, name) {
                continue;
            }
        }
        let c = cstring(opt.as_bytes());
        deliver(p, Ev::NewPluginOptions, c.as_ptr() as *mut c_void);
    }
}

fn final_status(t: &Taken, restore: bool) -> char {
    if t.status == b'A' {
        'A'
    } else if t.status == b'f' {
        'f'
    } else if t.error_terminated {
        'E'
    } else if t.errors > 0 {
        if restore {
            'E'
        } else {
            'W'
        }
    } else if restore && t.warnings > 0 {
        'W'
    } else {
        'T'
    }
}

// ---------------------------------------------------------------------------------- backup

/// Runs a backup job (Bareos note §7.1/§7.2/§7.6; Bacula note §8) against the built plugin of
/// `spec.flavour`. `catalog` is the director's catalog of the job chain: the accurate list for an
/// accurate Incr/Diff, and the source of the previous job's restore objects (Bareos).
pub fn backup(spec: &JobSpec, catalog: Option<&Catalog>) -> JobReport {
    backup_with(loader::load(spec.flavour), spec, catalog)
}

/// Runs a backup job against the plugin library at `path`, routed by command name `name`
/// (a copy per flavour is loaded, since `loadPlugin` state is per loaded image).
pub fn backup_plugin(path: &std::path::Path, name: &str, spec: &JobSpec) -> JobReport {
    backup_with(load_plugin_copy(path, name, spec.flavour), spec, None)
}

/// Runs a restore of `files` against the plugin library at `path` (the same loaded copy as
/// [`backup_plugin`] uses for that flavour).
pub fn restore_plugin(
    path: &std::path::Path,
    name: &str,
    spec: &RestoreSpec,
    files: &[&SavedFile],
) -> JobReport {
    restore_with(load_plugin_copy(path, name, spec.flavour), spec, files)
}

fn load_plugin_copy(path: &std::path::Path, name: &str, flavour: Flavour) -> &'static Loaded {
    static COPYING: std::sync::Mutex<()> = std::sync::Mutex::new(());
    let _one_at_a_time = COPYING.lock().unwrap_or_else(|p| p.into_inner());
    let copy = loader::target_dir().join(format!("harness-plugins/{name}-{flavour:?}.so"));
    std::fs::create_dir_all(copy.parent().unwrap()).unwrap();
    let modified = |p: &std::path::Path| std::fs::metadata(p).and_then(|m| m.modified()).ok();
    if modified(&copy).is_none() || modified(&copy) < modified(path) {
        // A rebuilt plugin replaces the copy by rename: another test process may have the old
        // one mapped.
        let tmp = copy.with_extension(format!("so.{}", std::process::id()));
        std::fs::copy(path, &tmp).unwrap();
        std::fs::rename(&tmp, &copy).unwrap();
    }
    let loaded = loader::load_path(flavour, &copy, name).unwrap_or_else(|e| panic!("harness: {e}"));
    assert!(loaded.facts.rejection.is_none(), "{:?}", loaded.facts);
    loaded
}

pub(crate) fn backup_with(
    loaded: &'static Loaded,
    spec: &JobSpec,
    catalog: Option<&Catalog>,
) -> JobReport {
    let level = level_byte(spec.level);
    let accurate_list = (spec.accurate && level != b'F')
        .then(|| catalog.map(Catalog::accurate_list).unwrap_or_default());
    let st = JobState::new(JobConfig {
        flavour: spec.flavour,
        job_id: spec.job_id,
        job_type: b'B',
        level,
        since: if level == b'F' { 0 } else { spec.since },
        accurate: spec.accurate,
        accurate_list,
        job_name: job_name("BackupS3", spec.job_id),
        prev_job_name: if level == b'F' {
            String::new()
        } else {
            job_name("BackupS3", spec.job_id.saturating_sub(1))
        },
        where_: None,
        replace: b'a',
        plugin_dir: loaded.dir(),
    });
    if spec.discard_data {
        st.set_untraced();
    }
    let mut p = loaded.new_job(st);
    p.set_xattr_support(spec.xattrs);
    let mut run = BackupRun {
        loaded,
        read_size: spec
            .read_size
            .unwrap_or_else(|| spec.flavour.default_read_size()),
        cancel_after: spec.cancel_after_files,
        cancel_fired: false,
        on_entry: spec.on_entry.clone(),
        entries: 0,
        files: Vec::new(),
        unchanged: Vec::new(),
        objects: Vec::new(),
        deleted: Vec::new(),
        links: HashMap::new(),
        job_id: spec.job_id,
        buf: Vec::new(),
        discard: spec.discard_data,
        discarded: Discarded::default(),
    };
    run.run(&mut *p, spec, level, catalog);
    drop(p);
    let t = st.finish();
    JobReport {
        flavour: spec.flavour,
        job_id: spec.job_id,
        status: final_status(&t, false),
        job_errors: t.errors,
        job_warnings: t.warnings,
        messages: t.messages,
        debug: t.debug,
        files: run.files,
        unchanged: run.unchanged,
        deleted: run.deleted,
        restore_objects: run.objects,
        restored: 0,
        skipped: 0,
        protocol_violations: t.violations,
        calls: t.calls,
        discarded: run.discarded,
    }
}

fn level_byte(level: char) -> u8 {
    match level {
        'F' | 'I' | 'D' => level as u8,
        other => panic!("harness: job level must be 'F', 'I' or 'D', not {other:?}"),
    }
}

struct BackupRun {
    loaded: &'static Loaded,
    read_size: usize,
    cancel_after: Option<usize>,
    cancel_fired: bool,
    on_entry: Option<crate::harness::EntryHook>,
    /// Entries accepted so far (startBackupFile OK with a valid type).
    entries: usize,
    files: Vec<SavedFile>,
    unchanged: Vec<Vec<u8>>,
    objects: Vec<RestoreObjectRecord>,
    deleted: Vec<Vec<u8>>,
    /// Bareos hard-link detection: (st_dev, st_ino) → first name.
    links: HashMap<(u64, u64), Vec<u8>>,
    job_id: u32,
    buf: Vec<u8>,
    /// [`JobSpec::discard_data`]: count instead of keeping data and records.
    discard: bool,
    discarded: Discarded,
}

impl BackupRun {
    fn run(&mut self, p: &mut dyn PluginJob, spec: &JobSpec, level: u8, catalog: Option<&Catalog>) {
        let st = p.state();
        start_job(
            p,
            &format!(
                "JobId={} Job={}",
                spec.job_id,
                job_name("BackupS3", spec.job_id)
            ),
        );
        level_events(p, level, st.since);
        fileset(p, self.loaded, &spec.commands);
        plugin_options(p, self.loaded, &spec.plugin_options);
        if st.flavour == Flavour::Bareos && level != b'F' {
            if let Some(c) = catalog {
                self.previous_restore_objects(p, c.restore_objects());
            }
        }
        deliver(p, Ev::StartBackupJob, std::ptr::null_mut());
        for cmd in &spec.commands {
            if st.is_canceled() || !self.save_command(p, cmd) {
                break;
            }
        }
        if self.cancel_after.is_some() && !self.cancel_fired {
            self.fire_cancel(p);
        }
        if st.has_accurate_list() && !st.is_canceled() {
            self.accurate_finish(p);
        }
        deliver(p, Ev::EndBackupJob, std::ptr::null_mut());
        end_job(p);
    }

    /// Bareos §7.2: restore objects of the previous job, then a final NULL, before the backup
    /// command (name-routed by the object's plugin name when it has one).
    fn previous_restore_objects(&mut self, p: &mut dyn PluginJob, objects: &[RestoreObjectRecord]) {
        let st = p.state();
        if objects.is_empty() {
            return;
        }
        for obj in objects {
            if let Some(name) = plugin_name_of(st, &obj.cmd) {
                if !for_this_plugin(st.flavour, &self.loaded.name, name) {
                    continue;
                }
            }
            let num = p.event_number(Ev::RestoreObject);
            if st.disabled() || st.is_canceled() || !num.is_some_and(|n| st.is_registered(n)) {
                continue;
            }
            let cmd = cstring(obj.cmd.as_bytes());
            p.restore_object_event(Some((obj, &cmd)));
        }
        deliver(p, Ev::RestoreObject, std::ptr::null_mut());
    }

    /// One `Plugin =` line (`PluginSave`). Returns false when the job cannot go on.
    fn save_command(&mut self, p: &mut dyn PluginJob, cmd: &str) -> bool {
        let st = p.state();
        let bareos = st.flavour == Flavour::Bareos;
        let ccmd = cstring(cmd.as_bytes());
        let Some(name) = plugin_name_of(st, cmd) else {
            if bareos {
                st.set_error_terminated();
            }
            return !bareos;
        };
        let registered = p
            .event_number(Ev::BackupCommand)
            .is_some_and(|n| !bareos || st.is_registered(n));
        if !for_this_plugin(st.flavour, &self.loaded.name, name) || !registered {
            st.core_message(
                msg::M_FATAL,
                &format!("Command plugin \"{cmd}\" not found."),
            );
            return false;
        }
        if st.disabled() {
            st.debug("[core] plugin disabled (newPlugin failed): command skipped".into());
            if bareos {
                st.set_error_terminated();
            }
            return !bareos;
        }
        let rc = p.raw_event(Ev::BackupCommand, ccmd.as_ptr() as *mut c_void);
        if rc != rc::OK {
            st.debug(format!(
                "[core] bEventBackupCommand returned {rc}: command ends"
            ));
            if bareos {
                // Bareos note §7.1 7.1: the job ends in error, without a core message.
                st.set_error_terminated();
                return false;
            }
            // Bacula note §9: only this command's file loop stops; the job stays OK.
            return true;
        }
        while !st.is_canceled() {
            let rc = p.start_backup_file(&ccmd);
            match rc {
                rc::OK => {}
                rc::STOP if bareos => break,
                rc::SKIP if bareos => continue,
                rc::ERROR if bareos => {
                    st.core_message(
                        msg::M_FATAL,
                        &format!("Command plugin \"{cmd}\": startBackupFile failed."),
                    );
                    return false;
                }
                _ if bareos => {
                    st.core_message(
                        msg::M_ERROR,
                        &format!(
                            "Command plugin \"{cmd}\": unhandled returncode from startBackupFile."
                        ),
                    );
                    break;
                }
                _ => {
                    // Bacula 9.6 `plugin_save`: any non-OK ends the command silently.
                    if rc == rc::SKIP {
                        st.debug(
                            "[core] Bacula 9.6 ends the command on bRC_Skip from startBackupFile \
                             (it only knows OK / not OK): later entries of this command are lost"
                                .into(),
                        );
                    }
                    break;
                }
            }
            let v = p.save_view();
            if v.ftype == 0 {
                st.core_message(
                    msg::M_FATAL,
                    &format!("Command plugin \"{cmd}\": no type in startBackupFile packet."),
                );
                return false;
            }
            self.check_packet(st, &v);
            if ft::is_object(v.ftype) {
                if v.object_name.is_none() {
                    st.core_message(
                        msg::M_FATAL,
                        &format!(
                            "Command plugin \"{cmd}\": no object_name in startBackupFile packet."
                        ),
                    );
                    return false;
                }
            } else if v.fname.is_none() {
                st.core_message(
                    msg::M_FATAL,
                    &format!("Command plugin \"{cmd}\": no fname in startBackupFile packet."),
                );
                return false;
            }
            self.entries += 1;
            self.save_entry(p, cmd, v.clone());
            let rc = p.end_backup_file();
            if rc == rc::OK || rc == rc::MORE {
                if let (false, Some(name)) = (ft::is_object(v.ftype), &v.fname) {
                    st.mark_seen(name);
                }
            }
            if rc != rc::MORE {
                break;
            }
        }
        true
    }

    /// Protocol checks on a returned save packet (Bareos note §8.1, pitfalls §15).
    fn check_packet(&self, st: &JobState, v: &SaveView) {
        let name = v
            .fname
            .as_deref()
            .map(|n| String::from_utf8_lossy(n).into_owned())
            .unwrap_or_else(|| "<NULL fname>".into());
        if v.pkt_size != v.expected_size || v.pkt_end != v.expected_size {
            st.violation(format!(
                "{name}: save_pkt pkt_size/pkt_end changed to {}/{}",
                v.pkt_size, v.pkt_end
            ));
        }
        if !ft::is_object(v.ftype) && v.fname.is_none() {
            st.violation(format!("save_pkt.fname NULL for type {}", v.ftype));
        }
        if v.stat.nlink > 1 {
            st.violation(format!(
                "{name}: st_nlink = {} (> 1 makes the core treat entries as hard links)",
                v.stat.nlink
            ));
        }
        if v.ftype == ft::FT_REG {
            if v.stat.mode & libc::S_IFMT != libc::S_IFREG {
                st.violation(format!(
                    "{name}: FT_REG without S_IFREG in st_mode ({:o})",
                    v.stat.mode
                ));
            }
            if v.stat.ctime != v.stat.mtime {
                st.violation(format!(
                    "{name}: st_ctime {} != st_mtime {} (incrementals compare both)",
                    v.stat.ctime, v.stat.mtime
                ));
            }
        }
        if v.sparse {
            st.violation(format!("{name}: FO_SPARSE left set in save_pkt.flags"));
        }
        if v.offsets {
            st.violation(format!(
                "{name}: FO_OFFSETS set (offset-tagged blocks are not emulated by the harness)"
            ));
        }
        if !(1..=28).contains(&v.ftype) {
            st.violation(format!("{name}: unknown file type {}", v.ftype));
        }
    }

    /// What `SaveFile` does with one entry.
    fn save_entry(&mut self, p: &mut dyn PluginJob, cmd: &str, mut v: SaveView) {
        let st = p.state();
        let fname = v.fname.clone().unwrap_or_default();
        let shown = String::from_utf8_lossy(&fname).into_owned();
        if let Some(hook) = &self.on_entry {
            (hook.0)(&fname);
        }
        if ft::is_object(v.ftype) {
            self.objects.push(RestoreObjectRecord {
                ftype: v.ftype,
                object_name: v.object_name.clone().unwrap_or_default(),
                object: v.object.clone().unwrap_or_default(),
                index: v.index,
                cmd: cmd.to_owned(),
                job_id: self.job_id,
            });
            self.maybe_cancel(p);
            return;
        }
        match v.ftype {
            ft::FT_NOCHG | ft::FT_DIRNOCHG if self.discard => {
                self.discarded.unchanged += 1;
                self.maybe_cancel(p);
                return;
            }
            ft::FT_NOCHG | ft::FT_DIRNOCHG => {
                self.unchanged.push(fname);
                self.maybe_cancel(p);
                return;
            }
            ft::FT_DIRBEGIN => {
                self.maybe_cancel(p);
                return;
            }
            ft::FT_NOACCESS | ft::FT_NOFOLLOW | ft::FT_NOSTAT | ft::FT_NOOPEN => {
                st.core_message(
                    msg::M_NOTSAVED,
                    &format!("     Could not access \"{shown}\""),
                );
                st.count_error();
                self.maybe_cancel(p);
                return;
            }
            ft::FT_ISARCH => {
                st.core_message(
                    msg::M_NOTSAVED,
                    &format!("     Archive file not saved: {shown}"),
                );
                self.maybe_cancel(p);
                return;
            }
            ft::FT_INVALIDDT => {
                st.core_message(
                    msg::M_INFO,
                    &format!("     Invalid date, not saved: {shown}"),
                );
                self.maybe_cancel(p);
                return;
            }
            ft::FT_NORECURSE | ft::FT_NOFSCHG | ft::FT_INVALIDFS => v.ftype = ft::FT_DIREND,
            t if t == ft::FT_PLUGIN || !(1..=28).contains(&t) => {
                st.core_message(
                    msg::M_NOTSAVED,
                    &format!("     Unknown file type {t}; not saved: {shown}"),
                );
                self.maybe_cancel(p);
                return;
            }
            _ => {}
        }
        // Bareos hard-link detection (PluginSave): nlink > 1 with equal dev/ino.
        if st.flavour == Flavour::Bareos
            && v.stat.nlink > 1
            && matches!(
                v.stat.mode & libc::S_IFMT,
                libc::S_IFREG | libc::S_IFCHR | libc::S_IFBLK | libc::S_IFIFO | libc::S_IFSOCK
            )
        {
            match self.links.get(&(v.stat.dev, v.stat.ino)) {
                None => {
                    self.links.insert((v.stat.dev, v.stat.ino), fname.clone());
                }
                Some(first) if *first == fname => v.no_read = true,
                Some(first) => {
                    v.link = Some(first.clone());
                    v.ftype = ft::FT_LNKSAVED;
                    v.no_read = true;
                }
            }
        }
        let name = if v.ftype == ft::FT_DIREND {
            v.link.clone().unwrap_or_else(|| {
                let mut n = fname.clone();
                n.push(b'/');
                n
            })
        } else {
            fname.clone()
        };
        st.inc_job_files();
        p.before_data();
        let has_data = !v.no_read && v.ftype != ft::FT_DELETED;
        let (data, io_error, opened) = if has_data {
            self.read_data(p, &fname)
        } else {
            self.maybe_cancel(p);
            (None, false, true)
        };
        // Both daemons: a failed open skips the rest of SaveFile (no ACL/xattr); a read error
        // does not; a cancelled job's sends fail before.
        let xattrs = if opened && !st.is_canceled() {
            p.after_data(&cstring(&fname))
        } else {
            SavedXattrs::default()
        };
        if self.discard {
            self.discarded.files += 1;
            return;
        }
        self.files.push(SavedFile {
            name,
            ftype: v.ftype,
            size: v.stat.size,
            mtime: v.stat.mtime,
            ctime: v.stat.ctime,
            mode: v.stat.mode,
            stat: v.stat,
            link: v.link.clone(),
            data_len: data.as_ref().map_or(0, |d| d.len()),
            data_ref: data,
            cmd: cmd.to_owned(),
            job_id: self.job_id,
            io_error,
            xattrs: xattrs.pairs,
            xattr_records: xattrs.records,
        });
    }

    /// IO_OPEN, IO_READ until status ≤ 0, IO_CLOSE (Bareos note §10; Bacula note §5 io_pkt).
    fn read_data(
        &mut self,
        p: &mut dyn PluginJob,
        fname: &[u8],
    ) -> (Option<Arc<super::DataRef>>, bool, bool) {
        let st = p.state();
        let bareos = st.flavour == Flavour::Bareos;
        let shown = String::from_utf8_lossy(fname).into_owned();
        let cname = cstring(fname);
        let v = p.save_view();
        let mut open = IoReq::new(IO_OPEN);
        open.fname = cname.as_ptr();
        open.flags = libc::O_RDONLY;
        open.filedes = -1;
        let orc = p.io(&mut open, true);
        let failed = open.status < 0
            || (bareos && orc == rc::ERROR)
            || (bareos && open.status == 1 && open.filedes == -1);
        if failed {
            st.core_message(
                msg::M_NOTSAVED,
                &format!(
                    "     Cannot open \"{shown}\": ERR={}.",
                    strerror(open.io_errno)
                ),
            );
            st.count_error();
            self.maybe_cancel(p);
            return (None, true, false);
        }
        let core_io = bareos && open.status == 1;
        let mut count = self.read_size;
        if bareos && (v.sparse || v.offsets) {
            count -= 8;
        }
        if self.buf.len() < count {
            self.buf.resize(count, 0);
        }
        // Discarding: the data only passes through `self.buf`.
        let mut w = (!self.discard).then(DataWriter::new);
        let mut len = 0u64;
        let mut reads = 0u64;
        let mut io_error = false;
        loop {
            let n: i64 = if core_io {
                // SAFETY: buf has `count` writable bytes; the fd is the plugin's.
                let r = unsafe { libc::read(open.filedes, self.buf.as_mut_ptr().cast(), count) };
                if r < 0 {
                    let e = std::io::Error::last_os_error().raw_os_error().unwrap_or(0);
                    st.core_message(
                        msg::M_ERROR,
                        &format!("Read error on file {shown}. ERR={}", strerror(e)),
                    );
                    io_error = true;
                    break;
                }
                r as i64
            } else {
                let mut io = IoReq::new(IO_READ);
                io.count = count as i32;
                io.buf = self.buf.as_mut_ptr();
                io.filedes = 0;
                p.io(&mut io, false);
                if io.status < 0 {
                    st.core_message(
                        msg::M_ERROR,
                        &format!("Read error on file {shown}. ERR={}", strerror(io.io_errno)),
                    );
                    io_error = true;
                    break;
                }
                i64::from(io.status)
            };
            reads += 1;
            if n == 0 {
                break;
            }
            let n = if n as usize > count {
                st.violation(format!(
                    "{shown}: IO_READ returned {n} bytes for count {count} (buffer overrun)"
                ));
                count
            } else {
                n as usize
            };
            len += n as u64;
            if let Some(w) = &mut w {
                w.write(&self.buf[..n]);
            }
            self.maybe_cancel(p);
            if st.is_canceled() {
                // §7.6: the next send to the storage daemon fails; the data loop ends.
                break;
            }
        }
        self.maybe_cancel(p);
        st.trace(format!(
            "{}(IO_READ) x{reads} = {} bytes{}",
            if core_io { "read" } else { "pluginIO" },
            len,
            if core_io {
                " (core read the plugin's fd)"
            } else {
                ""
            }
        ));
        let mut close = IoReq::new(IO_CLOSE);
        close.filedes = if core_io { open.filedes } else { 0 };
        p.io(&mut close, true);
        self.discarded.bytes += if self.discard { len } else { 0 };
        (w.map(|w| Arc::new(w.finish())), io_error, true)
    }

    /// Cancels during the (n+1)-th entry (see [`JobSpec::cancel_after_files`]).
    fn maybe_cancel(&mut self, p: &mut dyn PluginJob) {
        match self.cancel_after {
            Some(n) if !self.cancel_fired && self.entries > n => self.fire_cancel(p),
            _ => {}
        }
    }

    /// The director's cancel: `bEventCancelCommand` on another thread (joined), then status 'A'
    /// (Bareos note §7.6).
    fn fire_cancel(&mut self, p: &mut dyn PluginJob) {
        self.cancel_fired = true;
        let st = p.state();
        let deliverable = !st.disabled()
            && !st.is_canceled()
            && p.event_number(Ev::CancelCommand)
                .is_some_and(|n| st.flavour == Flavour::Bacula || st.is_registered(n));
        if deliverable {
            let call = p.cancel_call();
            let rc = thread::scope(|s| {
                thread::Builder::new()
                    .name("harness-cancel".into())
                    .spawn_scoped(s, call)
                    .expect("spawn the cancel thread")
                    .join()
            });
            if rc.is_err() {
                st.violation("bEventCancelCommand: the cancel thread panicked".into());
            }
        } else {
            st.trace("(event CancelCommand not delivered)".into());
        }
        st.set_canceled();
    }

    /// `AccurateFinish` → deleted list: `checkFile` for every unseen name (Bareos note §8.4).
    fn accurate_finish(&mut self, p: &mut dyn PluginJob) {
        let st = p.state();
        for name in st.unseen() {
            let keep =
                !st.disabled() && p.has_check_file() && p.check_file(&cstring(&name)) == rc::SEEN;
            if !keep {
                self.deleted.push(name);
            }
        }
    }
}

// -------------------------------------------------------------------------------- estimate

/// Runs an estimate (Bareos note §7.3; Bacula note §8): JobId 0, no IO, no Start/EndBackupJob.
pub fn estimate(spec: &JobSpec) -> EstimateReport {
    estimate_with(loader::load(spec.flavour), spec)
}

pub(crate) fn estimate_with(loaded: &'static Loaded, spec: &JobSpec) -> EstimateReport {
    let level = level_byte(spec.level);
    let st = JobState::new(JobConfig {
        flavour: spec.flavour,
        job_id: 0,
        // Bacula: console connections are type 'I' (note §8).
        job_type: match spec.flavour {
            Flavour::Bareos => b'B',
            Flavour::Bacula => b'I',
        },
        level,
        since: if level == b'F' { 0 } else { spec.since },
        accurate: spec.accurate,
        accurate_list: None,
        job_name: job_name("BackupS3", 0),
        prev_job_name: String::new(),
        where_: None,
        replace: b'a',
        plugin_dir: loaded.dir(),
    });
    let mut p = loaded.new_job(st);
    let mut files = Vec::new();
    let (mut num_files, mut num_bytes) = (0u64, 0u64);
    {
        let p = &mut *p;
        start_job(p, &format!("JobId=0 Job={}", job_name("BackupS3", 0)));
        level_events(p, level, st.since);
        fileset(p, loaded, &spec.commands);
        for cmd in &spec.commands {
            if st.is_canceled() {
                break;
            }
            let bareos = st.flavour == Flavour::Bareos;
            let Some(name) = plugin_name_of(st, cmd) else {
                continue;
            };
            let registered = p
                .event_number(Ev::EstimateCommand)
                .is_some_and(|n| !bareos || st.is_registered(n));
            if !for_this_plugin(st.flavour, &loaded.name, name) || !registered {
                st.core_message(
                    msg::M_FATAL,
                    &format!("Command plugin \"{cmd}\" not found."),
                );
                continue;
            }
            if st.disabled() {
                continue;
            }
            let ccmd = cstring(cmd.as_bytes());
            if p.raw_event(Ev::EstimateCommand, ccmd.as_ptr() as *mut c_void) != rc::OK {
                continue;
            }
            while !st.is_canceled() {
                if p.start_backup_file(&ccmd) != rc::OK {
                    break;
                }
                let v = p.save_view();
                if v.ftype == 0 {
                    st.core_message(
                        msg::M_FATAL,
                        &format!("Command plugin \"{cmd}\": no type in startBackupFile packet."),
                    );
                    break;
                }
                if !ft::is_object(v.ftype) {
                    let Some(fname) = v.fname.clone() else {
                        st.core_message(
                            msg::M_FATAL,
                            &format!(
                                "Command plugin \"{cmd}\": no fname in startBackupFile packet."
                            ),
                        );
                        break;
                    };
                    if matches!(v.ftype, 1..=6 | 16 | 17) {
                        num_files += 1;
                    }
                    if v.ftype != ft::FT_LNKSAVED
                        && v.stat.mode & libc::S_IFMT == libc::S_IFREG
                        && v.stat.size > 0
                    {
                        num_bytes += v.stat.size as u64;
                    }
                    files.push((fname, v.ftype, v.stat.size));
                }
                let rc = p.end_backup_file();
                // The core reads sp->fname again here (AccurateMarkFileAsSeen(jcr, sp.fname)).
                let again = p.fname_now();
                if !ft::is_object(v.ftype) && again != v.fname {
                    st.violation(format!(
                        "estimate: sp->fname changed between startBackupFile and after \
                         endBackupFile ({:?} → {:?}); the core still reads it then",
                        v.fname.as_deref().map(String::from_utf8_lossy),
                        again.as_deref().map(String::from_utf8_lossy),
                    ));
                }
                if rc == rc::OK || rc == rc::MORE {
                    if let Some(n) = &again {
                        st.mark_seen(n);
                    }
                }
                if rc != rc::MORE {
                    break;
                }
            }
        }
        end_job(p);
    }
    drop(p);
    let t = st.finish();
    EstimateReport {
        flavour: spec.flavour,
        status: final_status(&t, false),
        job_errors: t.errors,
        messages: t.messages,
        debug: t.debug,
        files,
        num_files,
        num_bytes,
        protocol_violations: t.violations,
        calls: t.calls,
    }
}

// --------------------------------------------------------------------------------- restore

/// Runs a restore of `files`, in the given order, each with the command recorded at backup
/// (Bareos note §7.4, §13; Bacula note §8 "Restore").
pub fn restore(spec: &RestoreSpec, files: &[&SavedFile]) -> JobReport {
    restore_with(loader::load(spec.flavour), spec, files)
}

/// `ofname`: Where + name, joined with `/` only if neither side provides one.
pub(crate) fn output_name(where_: &str, name: &[u8]) -> Vec<u8> {
    if where_.is_empty() || where_ == "/" {
        return name.to_vec();
    }
    let mut out = where_.as_bytes().to_vec();
    if !where_.ends_with('/') && name.first() != Some(&b'/') {
        out.push(b'/');
    }
    out.extend_from_slice(name);
    out
}

pub(crate) fn restore_with(
    loaded: &'static Loaded,
    spec: &RestoreSpec,
    files: &[&SavedFile],
) -> JobReport {
    let fd_where = if spec.where_ == "/" {
        String::new()
    } else {
        spec.where_.clone()
    };
    let st = JobState::new(JobConfig {
        flavour: spec.flavour,
        job_id: spec.job_id,
        job_type: b'R',
        level: b' ',
        since: 0,
        accurate: false,
        accurate_list: None,
        job_name: job_name("RestoreFiles", spec.job_id),
        prev_job_name: String::new(),
        where_: Some(fd_where.clone()),
        replace: spec.replace as u8,
        plugin_dir: loaded.dir(),
    });
    let mut p = loaded.new_job(st);
    let (mut restored, mut skipped) = (0u32, 0u32);
    {
        let p = &mut *p;
        start_job(
            p,
            &format!(
                "JobId={} Job={}",
                spec.job_id,
                job_name("RestoreFiles", spec.job_id)
            ),
        );
        if st.flavour == Flavour::Bareos {
            plugin_options(p, loaded, &spec.plugin_options);
        }
        deliver(p, Ev::StartRestoreJob, std::ptr::null_mut());
        let chunk = spec.flavour.default_read_size();
        let mut buf = vec![0u8; chunk];
        for (i, f) in files.iter().enumerate() {
            if st.is_canceled() {
                break;
            }
            match restore_one(
                p,
                loaded,
                f,
                i as i32 + 1,
                &fd_where,
                spec.replace as u8,
                &mut buf,
            ) {
                Restored::Yes => restored += 1,
                Restored::Skipped => skipped += 1,
                Restored::No => {}
            }
        }
        deliver(p, Ev::EndRestoreJob, std::ptr::null_mut());
        end_job(p);
    }
    drop(p);
    let t = st.finish();
    JobReport {
        flavour: spec.flavour,
        job_id: spec.job_id,
        status: final_status(&t, true),
        job_errors: t.errors,
        job_warnings: t.warnings,
        messages: t.messages,
        debug: t.debug,
        files: Vec::new(),
        unchanged: Vec::new(),
        deleted: Vec::new(),
        restore_objects: Vec::new(),
        restored,
        skipped,
        protocol_violations: t.violations,
        calls: t.calls,
        discarded: Discarded::default(),
    }
}

enum Restored {
    Yes,
    Skipped,
    No,
}

/// One file: plugin-name start record → RestoreCommand + startRestoreFile, attributes →
/// createFile, data → IO_OPEN/IO_WRITE…, setFileAttributes, IO_CLOSE, end record →
/// endRestoreFile.
fn restore_one(
    p: &mut dyn PluginJob,
    loaded: &Loaded,
    f: &SavedFile,
    file_index: i32,
    fd_where: &str,
    replace: u8,
    buf: &mut [u8],
) -> Restored {
    let st = p.state();
    let bareos = st.flavour == Flavour::Bareos;
    let cmd = &f.cmd;
    let ccmd = cstring(cmd.as_bytes());
    // --- start of plugin data (PluginNameStream)
    let mut started = false;
    if let Some(name) = plugin_name_of(st, cmd) {
        let registered = p
            .event_number(Ev::RestoreCommand)
            .is_some_and(|n| !bareos || st.is_registered(n));
        if !for_this_plugin(st.flavour, &loaded.name, name) || !registered {
            st.core_message(msg::M_WARNING, &format!("Plugin={cmd} not found."));
            st.debug(format!(
                "[core] {}: the real daemon would now restore it as a plain local file (not emulated)",
                f.name_lossy()
            ));
            return Restored::No;
        }
        if st.disabled() {
            return Restored::No;
        }
        let rc = p.raw_event(Ev::RestoreCommand, ccmd.as_ptr() as *mut c_void);
        if rc == rc::OK {
            started = p.start_restore_file(&ccmd) == rc::OK;
        } else {
            st.debug(format!("[core] bEventRestoreCommand returned {rc}"));
        }
    }
    let result = if started {
        restore_data(p, f, file_index, fd_where, replace, buf)
    } else {
        if bareos {
            // PluginCreateFile: restoreFileStarted is false.
            st.core_message(msg::M_FATAL, "Unbalanced call to createFile=0 0");
        } else {
            // Bacula plugin_create_file: no plugin selected → CF_ERROR without a message.
            st.debug(format!(
                "[core] {}: not restored (plugin not started)",
                f.name_lossy()
            ));
        }
        Restored::No
    };
    // --- end of plugin data
    if started {
        let rc = p.end_restore_file();
        if bareos && rc == -1 {
            st.core_message(
                msg::M_FATAL,
                &format!("Return value of endRestoreFile invalid: {rc}"),
            );
        }
    }
    result
}

fn restore_data(
    p: &mut dyn PluginJob,
    f: &SavedFile,
    file_index: i32,
    fd_where: &str,
    replace: u8,
    buf: &mut [u8],
) -> Restored {
    let st = p.state();
    let bareos = st.flavour == Flavour::Bareos;
    let has_data = f.data_ref.is_some();
    let attrs = RestoreAttrs {
        ftype: f.ftype,
        file_index,
        stream: 1,
        data_stream: if has_data { 2 } else { 0 },
        stat: f.stat,
        ofname: cstring(&output_name(fd_where, &f.name)),
        olname: cstring(f.link.as_deref().unwrap_or_default()),
        attr_ex: CString::default(),
        replace,
    };
    let shown = attrs.ofname.to_string_lossy().into_owned();
    let where_ptr = st.where_ptr();
    let (rc_create, status, rp_filedes) = p.create_file(&attrs, where_ptr);
    if rc_create != rc::OK {
        st.core_message(
            msg::M_ERROR,
            &format!("Plugin createFile call failed. Stat={rc_create} file={shown}"),
        );
        return Restored::No;
    }
    const CF_SKIP: i32 = 1;
    const CF_ERROR: i32 = 2;
    const CF_CREATED: i32 = 4;
    const CF_CORE: i32 = 5;
    match status {
        CF_ERROR => {
            st.core_message(
                msg::M_ERROR,
                &format!("Plugin createFile call failed. Returned CF_ERROR file={shown}"),
            );
            return Restored::No;
        }
        CF_SKIP => return Restored::Skipped,
        CF_CORE => {
            st.violation(format!(
                "{shown}: createFile returned CF_CORE (core-side file creation is not emulated)"
            ));
            return Restored::No;
        }
        CF_CREATED => {
            p.set_file_attributes(&attrs, where_ptr);
            return Restored::Yes;
        }
        _ => {}
    }
    let _ = rp_filedes;
    // CF_EXTRACT (and any unknown value): bopen for writing.
    let mut open = IoReq::new(IO_OPEN);
    open.fname = attrs.ofname.as_ptr();
    open.flags = libc::O_WRONLY | libc::O_CREAT | libc::O_TRUNC;
    open.mode = 0o600;
    open.filedes = -1;
    let orc = p.io(&mut open, true);
    if open.status < 0
        || (bareos && orc == rc::ERROR)
        || (bareos && open.status == 1 && open.filedes == -1)
    {
        st.core_message(
            msg::M_ERROR,
            &format!("Could not create {shown}: ERR={}", strerror(open.io_errno)),
        );
        return Restored::No;
    }
    let core_io = bareos && open.status == 1;
    let mut write_failed = false;
    let mut writes = 0u64;
    if let Some(data) = &f.data_ref {
        let mut reader = data.reader();
        loop {
            let n = read_full(&mut *reader, buf);
            if n == 0 {
                break;
            }
            writes += 1;
            let (status, errno) = if core_io {
                // SAFETY: buf holds n initialised bytes; the fd is the plugin's.
                let r = unsafe { libc::write(open.filedes, buf.as_ptr().cast(), n) };
                let e = std::io::Error::last_os_error().raw_os_error().unwrap_or(0);
                (r as i64, e)
            } else {
                let mut io = IoReq::new(IO_WRITE);
                io.count = n as i32;
                io.buf = buf.as_mut_ptr();
                p.io(&mut io, false);
                (i64::from(io.status), io.io_errno)
            };
            if status != n as i64 {
                st.core_message(
                    msg::M_ERROR,
                    &format!("Write error on {shown}: ERR={}", strerror(errno)),
                );
                write_failed = true;
                break;
            }
        }
    }
    st.trace(format!("pluginIO(IO_WRITE) x{writes}"));
    if !write_failed {
        p.set_file_attributes(&attrs, where_ptr);
    }
    let mut close = IoReq::new(IO_CLOSE);
    close.filedes = if core_io { open.filedes } else { 0 };
    p.io(&mut close, true);
    if write_failed {
        Restored::No
    } else {
        // ClosePreviousStream: the delayed streams (xattrs) of a file being extracted, after
        // setFileAttributes and IO_CLOSE; endRestoreFile follows with the end record.
        p.restore_xattrs(f, &attrs.ofname);
        Restored::Yes
    }
}

fn read_full(r: &mut dyn Read, buf: &mut [u8]) -> usize {
    let mut filled = 0;
    while filled < buf.len() {
        match r.read(&mut buf[filled..]) {
            Ok(0) => break,
            Ok(n) => filled += n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => panic!("harness: reading saved data: {e}"),
        }
    }
    filled
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn where_is_joined_like_the_core() {
        assert_eq!(output_name("", b"/b/k"), b"/b/k");
        assert_eq!(output_name("/", b"/b/k"), b"/b/k");
        assert_eq!(output_name("/tmp/r", b"/b/k"), b"/tmp/r/b/k");
        assert_eq!(output_name("/tmp/r/", b"/b/k"), b"/tmp/r//b/k");
        assert_eq!(output_name("/tmp/r", b"b/k"), b"/tmp/r/b/k");
        assert_eq!(output_name("/tmp/r/", b"b/k"), b"/tmp/r/b/k");
    }

    #[test]
    fn plugin_names_route_like_the_core() {
        assert!(for_this_plugin(Flavour::Bareos, "s3", "s3"));
        // Bareos' python/python3 rule also routes "s:" to "s3".
        assert!(for_this_plugin(Flavour::Bareos, "s3", "s"));
        assert!(!for_this_plugin(Flavour::Bareos, "s3", "x"));
        assert!(for_this_plugin(Flavour::Bareos, "python3", "python"));
        assert!(!for_this_plugin(Flavour::Bacula, "python3", "python"));
        assert!(!for_this_plugin(Flavour::Bacula, "s3", "s3x"));
    }
}
