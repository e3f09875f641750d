//! The backup job: Full / Incremental / Differential, accurate mode, cancel.

use std::collections::HashMap;
use std::ffi::c_void;
use std::sync::Arc;
use std::thread;

use super::super::catalog::Catalog;
use super::super::job::{JobConfig, JobKind, JobState};
use super::super::loader::{self, Loaded};
use super::super::volume::{DataRef, DataWriter};
use super::super::{
    ft, msg, rc, Discarded, Flavour, JobReport, JobSpec, RestoreObjectRecord, SavedFile,
};
use super::steps::{
    cstring, deliver, end_job, fileset, for_this_plugin, job_name, job_report, level_byte,
    level_events, load_plugin_copy, plugin_name_of, plugin_options, start_job, strerror,
    typed_save_view,
};
use super::{Ev, IoReq, PluginJob, SaveView, SavedXattrs, IO_CLOSE, IO_OPEN, IO_READ};

/// Runs a backup job (docs/abi.md, the Bareos and Bacula backup sequences) against the built plugin of
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

pub(crate) fn backup_with(
    loaded: &'static Loaded,
    spec: &JobSpec,
    catalog: Option<&Catalog>,
) -> JobReport {
    let level = level_byte(spec.level);
    let accurate_list = (spec.accurate && level != b'F')
        .then(|| catalog.map(Catalog::accurate_list).unwrap_or_default());
    let st = JobState::new(JobConfig {
        kind: JobKind {
            flavour: spec.flavour,
            job_id: spec.job_id,
            job_type: b'B',
            level,
            since: if level == b'F' { 0 } else { spec.since },
            accurate: spec.accurate,
            replace: b'a',
        },
        accurate_list,
        job_name: job_name("BackupS3", spec.job_id),
        prev_job_name: if level == b'F' {
            String::new()
        } else {
            job_name("BackupS3", spec.job_id.saturating_sub(1))
        },
        where_: None,
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
        digest: spec.discard_data && spec.discard_digest,
        data_crc: None,
        discarded: Discarded::default(),
    };
    run.run(&mut *p, spec, level, catalog);
    drop(p);
    JobReport {
        files: run.files,
        unchanged: run.unchanged,
        deleted: run.deleted,
        restore_objects: run.objects,
        discarded: run.discarded,
        ..job_report(spec.flavour, spec.job_id, st.finish(), false)
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
    /// [`JobSpec::discard_digest`]: fold names and data into `discarded.digest`.
    digest: bool,
    /// The CRC-32 and length of the data of the entry being saved (digest only).
    data_crc: Option<(u32, u64)>,
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

    /// Bareos (docs/abi.md, the Incremental sequence): restore objects of the previous job, then a final NULL, before the backup
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
                // Bareos (docs/abi.md, the backup sequence): the job ends in error, without a core message.
                st.set_error_terminated();
                return false;
            }
            // Bacula (docs/abi.md, its behaviour): only this command's file loop stops; the job stays OK.
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
            let Some(v) = typed_save_view(p, cmd) else {
                return false;
            };
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

    /// Protocol checks on a returned save packet (docs/abi.md, the save packet and its pitfalls).
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
        self.data_crc = None;
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
            if self.digest {
                let (crc, len) = self.data_crc.take().unwrap_or((crc32fast::hash(b""), 0));
                self.discarded.digest = self
                    .discarded
                    .digest
                    .wrapping_add(crate::harness::digest_of(&name, crc, len));
            }
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

    /// IO_OPEN, IO_READ until status ≤ 0, IO_CLOSE (docs/abi.md, `pluginIO` and the io_pkt).
    fn read_data(
        &mut self,
        p: &mut dyn PluginJob,
        fname: &[u8],
    ) -> (Option<Arc<DataRef>>, bool, bool) {
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
        let mut crc = self.digest.then(crc32fast::Hasher::new);
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
            if let Some(c) = &mut crc {
                c.update(&self.buf[..n]);
            }
            self.maybe_cancel(p);
            if st.is_canceled() {
                // Cancel (docs/abi.md): the next send to the storage daemon fails; the data loop ends.
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
        self.data_crc = crc.map(|c| (c.finalize(), len));
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
    /// (docs/abi.md, the Bareos cancel).
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

    /// `AccurateFinish` → deleted list: `checkFile` for every unseen name (docs/abi.md, accurate mode).
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
