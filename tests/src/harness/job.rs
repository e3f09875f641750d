//! Per-job state of the emulated core, shared by both flavours: job identity and the values
//! `get*Value` returns, job status and message counters, the Bareos event mask, the accurate
//! previous-files list with its "seen" marks, `checkChanges`, and the protocol checks that apply
//! to every callback (right thread, job still alive).
//!
//! A `JobState` is leaked on purpose (a few hundred bytes per job once its big fields are taken
//! out at the end): a plugin that keeps a context pointer and calls back after `freePlugin` then
//! hits a recorded violation instead of freed memory.

use std::cell::{Cell, RefCell};
use std::collections::{HashMap, HashSet};
use std::ffi::{c_char, CString};
use std::sync::{LazyLock, Mutex, MutexGuard};
use std::thread::{self, ThreadId};

use super::{msg, watchdog, Flavour};

/// One entry of the accurate list (docs/abi.md, accurate mode: the default accurate options compare
/// mtime, ctime and size).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct AccEntry {
    pub mtime: i64,
    pub ctime: i64,
    pub size: i64,
}

/// What `checkChanges` looks at in the save packet.
#[derive(Clone, Debug)]
pub(crate) struct ChangeQuery<'a> {
    pub fname: &'a [u8],
    pub link: Option<&'a [u8]>,
    pub is_dir: bool,
    pub mtime: i64,
    pub ctime: i64,
    pub size: i64,
    /// Bareos `sp->save_time` (0 = use the job's since time); always 0 for Bacula.
    pub save_time: i64,
}

/// What kind of job it is: what the sequences and `get*Value` look at (read through the
/// [`JobState`] as `st.level` & co.).
#[derive(Clone, Copy, Debug)]
pub(crate) struct JobKind {
    pub flavour: Flavour,
    pub job_id: u32,
    /// `'B'` backup, `'R'` restore, `'I'` Bacula console (estimate).
    pub job_type: u8,
    /// `'F'`, `'I'`, `'D'`, or `' '` for restores.
    pub level: u8,
    pub since: i64,
    pub accurate: bool,
    pub replace: u8,
}

/// Inputs of a job.
pub(crate) struct JobConfig {
    pub kind: JobKind,
    /// The previous-files list (accurate Incr/Diff only).
    pub accurate_list: Option<HashMap<Vec<u8>, AccEntry>>,
    pub job_name: String,
    pub prev_job_name: String,
    /// Restore: the Where string as the fd keeps it (`""` for `/`); `None` for backups.
    pub where_: Option<String>,
    pub plugin_dir: String,
}

/// Where a job message came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Origin {
    Plugin,
    /// Emulated core (prefixed `[core] `).
    Core,
    /// JobMessage with a NULL context (prefixed `[daemon] `; no job counters).
    Daemon,
}

/// Strings handed out by `get*Value`; they live as long as the job state (i.e. forever).
pub(crate) struct JobStrings {
    pub client: CString,
    pub job_name: CString,
    pub prev_job_name: CString,
    pub where_: Option<CString>,
}

/// Daemon-wide strings (`bVarFDName`, `bVarWorkingDir`, …), valid for the process lifetime.
pub(crate) struct DaemonStrings {
    pub fd_name: CString,
    pub working_dir: CString,
    pub exe_path: CString,
    pub bareos_version: CString,
    pub bacula_version: CString,
    pub dist_name: CString,
    pub used_config: CString,
}

pub(crate) fn daemon_strings() -> &'static DaemonStrings {
    static S: LazyLock<DaemonStrings> = LazyLock::new(|| {
        let wd = super::volume::scratch_dir().join("working");
        let _ = std::fs::create_dir_all(&wd);
        let c = |s: &str| CString::new(s).expect("no NUL");
        DaemonStrings {
            fd_name: c("harness-fd"),
            working_dir: c(&wd.to_string_lossy()),
            exe_path: c("/usr/sbin"),
            bareos_version: c("25.1.0 (03 August 2026)"),
            bacula_version: c("9.6.7 (10 December 2020)"),
            dist_name: c("debian bookworm/sid"),
            used_config: c("/etc/bareos/bareos-fd.d"),
        }
    });
    &S
}

#[derive(Default)]
struct Inner {
    status: u8,
    error_terminated: bool,
    errors: u32,
    warnings: u32,
    messages: Vec<(i32, String)>,
    debug: Vec<String>,
    violations: Vec<String>,
    calls: Vec<String>,
    event_mask: u64,
    disabled: bool,
    fileset_open: bool,
    in_job_command: bool,
    accurate_list: Option<HashMap<Vec<u8>, AccEntry>>,
    seen: HashSet<Vec<u8>>,
    check_changes: bool,
    job_files: i32,
    interactive: i32,
    finished: bool,
    /// No call trace (a discard-data benchmark job).
    untraced: bool,
}

/// Everything a report needs, taken out of the state at the end of the job.
pub(crate) struct Taken {
    pub status: u8,
    pub error_terminated: bool,
    pub errors: u32,
    pub warnings: u32,
    pub messages: Vec<(i32, String)>,
    pub debug: Vec<String>,
    pub violations: Vec<String>,
    pub calls: Vec<String>,
}

impl std::ops::Deref for JobState {
    type Target = JobKind;

    fn deref(&self) -> &JobKind {
        &self.kind
    }
}

const MAX_CALLS_TRACED: usize = 200_000;
const MAX_DEBUG_UNTRACED: usize = 1_000;

pub(crate) struct JobState {
    pub kind: JobKind,
    pub strings: JobStrings,
    pub plugin_dir: CString,
    inner: Mutex<Inner>,
    /// The thread currently inside a call into the plugin (None between calls).
    caller: Mutex<Option<ThreadId>>,
}

/// Context address → job state, for every context the harness created.
static CONTEXTS: LazyLock<Mutex<HashMap<usize, &'static JobState>>> =
    LazyLock::new(|| Mutex::new(HashMap::new()));

/// Core callbacks that could not be attributed to any job (e.g. made during `loadPlugin`).
static ORPHANS: LazyLock<Mutex<Vec<String>>> = LazyLock::new(|| Mutex::new(Vec::new()));

thread_local! {
    /// The job the core is currently calling into on this thread.
    static CURRENT: Cell<Option<&'static JobState>> = const { Cell::new(None) };
    /// Callbacks without a job on this thread, while a `loadPlugin` runs here.
    static LOAD_CAPTURE: RefCell<Option<Vec<String>>> = const { RefCell::new(None) };
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// Core callbacks no job could be attributed to so far in this process (e.g. made from a
/// plugin thread between calls, or with a NULL context outside any call).
pub fn orphan_callbacks() -> Vec<String> {
    lock(&ORPHANS).clone()
}

pub(crate) fn record_orphan(what: String) {
    LOAD_CAPTURE.with(|c| {
        if let Some(list) = c.borrow_mut().as_mut() {
            list.push(what.clone());
        }
    });
    lock(&ORPHANS).push(what);
}

/// Starts collecting the callbacks without a job made on this thread (around `loadPlugin`).
pub(crate) fn begin_load_capture() {
    LOAD_CAPTURE.with(|c| *c.borrow_mut() = Some(Vec::new()));
}

/// Stops collecting and returns what was captured.
pub(crate) fn end_load_capture() -> Vec<String> {
    LOAD_CAPTURE
        .with(|c| c.borrow_mut().take())
        .unwrap_or_default()
}

/// Registers `ctx` (a context allocated by the host) as belonging to `job`.
pub(crate) fn register_context(ctx: usize, job: &'static JobState) {
    lock(&CONTEXTS).insert(ctx, job);
}

/// Resolves the job of a core callback and applies the per-callback checks.
///
/// `ctx` is the context pointer the plugin passed (as an address, never dereferenced here).
/// Returns `None` (the callback then fails like the real core would with a bad context) when
/// the context is NULL and no call is in progress on this thread, or is not one of ours.
pub(crate) fn for_callback(ctx: usize, name: &str) -> Option<&'static JobState> {
    let job = if ctx == 0 {
        CURRENT.with(Cell::get)
    } else {
        let found = lock(&CONTEXTS).get(&ctx).copied();
        if found.is_none() {
            let what = format!("{name} with a context pointer {ctx:#x} the core never created");
            match CURRENT.with(Cell::get) {
                Some(cur) => cur.violation(what),
                None => record_orphan(what),
            }
            return None;
        }
        found
    };
    match job {
        Some(job) => {
            job.check_callback_thread(name);
            Some(job)
        }
        None => {
            record_orphan(format!(
                "{name} (ctx={ctx:#x}) on thread {:?} while no plugin call was in progress",
                thread::current().id()
            ));
            None
        }
    }
}

impl JobState {
    /// Creates (and leaks) the state of a new job.
    pub(crate) fn new(cfg: JobConfig) -> &'static JobState {
        let c = |s: &str| CString::new(s.replace('\0', "")).expect("no NUL");
        let state = JobState {
            kind: cfg.kind,
            strings: JobStrings {
                client: c("harness-fd"),
                job_name: c(&cfg.job_name),
                prev_job_name: c(&cfg.prev_job_name),
                where_: cfg.where_.as_deref().map(c),
            },
            plugin_dir: c(&cfg.plugin_dir),
            inner: Mutex::new(Inner {
                status: b'R',
                accurate_list: cfg.accurate_list,
                check_changes: true,
                ..Inner::default()
            }),
            caller: Mutex::new(None),
        };
        Box::leak(Box::new(state))
    }

    fn inner(&self) -> MutexGuard<'_, Inner> {
        lock(&self.inner)
    }

    /// Runs one call into the plugin: marks this thread as the one the core is calling on,
    /// bounds the call with the watchdog, and records it in the call trace if `trace`.
    pub(crate) fn call<R>(&'static self, label: &str, trace: bool, f: impl FnOnce() -> R) -> R {
        if trace {
            self.trace(label.to_owned());
        }
        let me = thread::current().id();
        let previous = lock(&self.caller).replace(me);
        let previous_current = CURRENT.with(|c| c.replace(Some(self)));
        let armed = watchdog::arm(format!("{:?} JobId={} {label}", self.flavour, self.job_id));
        let r = f();
        drop(armed);
        CURRENT.with(|c| c.set(previous_current));
        *lock(&self.caller) = previous;
        r
    }

    /// Records `bRC_Term` (never allowed) and returns `rc`.
    pub(crate) fn check_rc(&self, label: &str, rc: i32) -> i32 {
        if rc == super::rc::TERM {
            self.violation(format!(
                "{label} returned bRC_Term (the core would unload the plugin for all jobs)"
            ));
        }
        rc
    }

    fn check_callback_thread(&self, name: &str) {
        let me = thread::current().id();
        let caller = *lock(&self.caller);
        if self.inner().finished {
            self.violation(format!("{name} called after freePlugin"));
            return;
        }
        match caller {
            Some(t) if t == me => {}
            Some(t) => self.violation(format!(
                "{name} called from thread {me:?} while the core is calling the plugin on {t:?}"
            )),
            None => self.violation(format!(
                "{name} called from thread {me:?} while no call into the plugin is in progress"
            )),
        }
    }

    pub(crate) fn violation(&self, what: String) {
        self.inner().violations.push(what);
    }

    /// Stops recording the call trace.
    pub(crate) fn set_untraced(&self) {
        self.inner().untraced = true;
    }

    /// A debug line (`DebugMessage`): all of them are kept, except in an untraced
    /// (discard-data benchmark) job, which keeps the first [`MAX_DEBUG_UNTRACED`], as a daemon
    /// prints them instead of holding them: a benchmark's peak RSS is the plugin's.
    pub(crate) fn debug(&self, line: String) {
        let mut i = self.inner();
        if !i.untraced || i.debug.len() < MAX_DEBUG_UNTRACED {
            i.debug.push(line);
        }
    }

    pub(crate) fn trace(&self, call: String) {
        let mut i = self.inner();
        if !i.untraced && i.calls.len() < MAX_CALLS_TRACED {
            i.calls.push(call);
        }
    }

    /// A job message (`Jmsg`): counters and status as the core applies them (docs/abi.md, job messages).
    pub(crate) fn job_message(&self, mtype: i32, text: &str, origin: Origin) {
        let text = text.trim_end_matches('\n');
        let mut i = self.inner();
        if origin == Origin::Plugin {
            let bad = match self.flavour {
                Flavour::Bareos => matches!(
                    mtype,
                    msg::M_ABORT | msg::M_ERROR_TERM | msg::M_CONFIG_ERROR
                ),
                Flavour::Bacula => matches!(mtype, msg::M_ABORT | msg::M_ERROR_TERM),
            };
            if bad {
                i.violations.push(format!(
                    "JobMessage of type {mtype} (M_ABORT/M_ERROR_TERM/M_CONFIG_ERROR stop the daemon): {text}"
                ));
            }
            let max = match self.flavour {
                Flavour::Bareos => 18,
                Flavour::Bacula => 16,
            };
            if !(1..=max).contains(&mtype) {
                i.violations.push(format!(
                    "JobMessage of type {mtype}, unknown to {:?}: {text}",
                    self.flavour
                ));
            }
            if self.flavour == Flavour::Bacula && i.in_job_command {
                i.violations.push(format!(
                    "JobMessage during newPlugin/bEventJobStart (docs/abi.md, Bacula: the director takes it \
                     as the fd rejecting the Job command): {text}"
                ));
            }
        }
        let line = match origin {
            Origin::Plugin => text.to_owned(),
            Origin::Core => format!("[core] {text}"),
            Origin::Daemon => format!("[daemon] {text}"),
        };
        i.messages.push((mtype, line));
        if origin == Origin::Daemon {
            return;
        }
        match mtype {
            msg::M_FATAL => {
                i.errors += 1;
                if i.status != b'A' {
                    i.status = b'f';
                }
            }
            msg::M_ERROR => i.errors += 1,
            msg::M_WARNING => i.warnings += 1,
            _ => {}
        }
    }

    /// A message generated by the emulated core.
    pub(crate) fn core_message(&self, mtype: i32, text: &str) {
        self.job_message(mtype, text, Origin::Core);
    }

    /// `JobErrors++` without a message (e.g. the "not saved" file types).
    pub(crate) fn count_error(&self) {
        self.inner().errors += 1;
    }

    pub(crate) fn status(&self) -> u8 {
        self.inner().status
    }

    /// `IsJobCanceled()`: cancelled, fatal, or error-terminated.
    pub(crate) fn is_canceled(&self) -> bool {
        let i = self.inner();
        matches!(i.status, b'A' | b'f') || i.error_terminated
    }

    /// Cancel: status 'A' (set after `bEventCancelCommand` was delivered; docs/abi.md, the Bareos cancel).
    pub(crate) fn set_canceled(&self) {
        self.inner().status = b'A';
    }

    /// FindFiles failed without a fatal message (Bareos: BackupCommand refused) → 'E'.
    pub(crate) fn set_error_terminated(&self) {
        self.inner().error_terminated = true;
    }

    pub(crate) fn disabled(&self) -> bool {
        self.inner().disabled
    }

    /// `newPlugin` returned non-OK: the plugin is disabled for this job (docs/abi.md, the plugin lifecycle).
    pub(crate) fn disable(&self) {
        self.inner().disabled = true;
    }

    pub(crate) fn set_fileset_open(&self, open: bool) {
        self.inner().fileset_open = open;
    }

    pub(crate) fn fileset_open(&self) -> bool {
        self.inner().fileset_open
    }

    pub(crate) fn set_in_job_command(&self, on: bool) {
        self.inner().in_job_command = on;
    }

    pub(crate) fn inc_job_files(&self) {
        self.inner().job_files += 1;
    }

    pub(crate) fn job_files(&self) -> i32 {
        self.inner().job_files
    }

    pub(crate) fn set_interactive(&self, v: i32) {
        self.inner().interactive = v;
    }

    pub(crate) fn interactive(&self) -> i32 {
        self.inner().interactive
    }

    /// Bareos event mask (bits 0..63 kept; the real core has 0..31).
    pub(crate) fn set_event(&self, ev: u32, on: bool) {
        if ev >= 64 {
            return;
        }
        let mut i = self.inner();
        if on {
            i.event_mask |= 1 << ev;
        } else {
            i.event_mask &= !(1 << ev);
        }
    }

    pub(crate) fn is_registered(&self, ev: u32) -> bool {
        ev < 64 && self.inner().event_mask & (1 << ev) != 0
    }

    pub(crate) fn set_check_changes(&self, on: bool) {
        self.inner().check_changes = on;
    }

    pub(crate) fn check_changes_enabled(&self) -> bool {
        self.inner().check_changes
    }

    pub(crate) fn has_accurate_list(&self) -> bool {
        self.inner().accurate_list.is_some()
    }

    /// `AccurateMarkFileAsSeen`: false when the job has no accurate list.
    pub(crate) fn mark_seen(&self, name: &[u8]) -> bool {
        let mut i = self.inner();
        let Inner {
            accurate_list,
            seen,
            ..
        } = &mut *i;
        match accurate_list {
            Some(list) if self.accurate => {
                if list.contains_key(name) {
                    seen.insert(name.to_vec());
                }
                true
            }
            _ => false,
        }
    }

    pub(crate) fn unmark_seen(&self, name: &[u8]) -> bool {
        let mut i = self.inner();
        if i.accurate_list.is_none() || !self.accurate {
            return false;
        }
        i.seen.remove(name);
        true
    }

    pub(crate) fn mark_all_seen(&self, seen: bool) -> bool {
        let mut i = self.inner();
        let Inner {
            accurate_list,
            seen: marks,
            ..
        } = &mut *i;
        match accurate_list {
            Some(list) if self.accurate => {
                if seen {
                    marks.extend(list.keys().cloned());
                } else {
                    marks.clear();
                }
                true
            }
            _ => false,
        }
    }

    /// Accurate names not marked seen, sorted (the candidates for the deleted list).
    pub(crate) fn unseen(&self) -> Vec<Vec<u8>> {
        let i = self.inner();
        let Some(list) = &i.accurate_list else {
            return Vec::new();
        };
        let mut names: Vec<Vec<u8>> = list
            .keys()
            .filter(|n| !i.seen.contains(*n))
            .cloned()
            .collect();
        names.sort();
        names
    }

    /// `checkChanges` as the core implements it (docs/abi.md, accurate mode; `bareosCheckChanges`,
    /// `CheckChanges`, `AccurateCheckFile`). Returns `(bRC, accurate_found)`.
    pub(crate) fn check_changes(&self, q: &ChangeQuery<'_>) -> (i32, bool) {
        let mut i = self.inner();
        if !i.check_changes {
            return (super::rc::OK, false);
        }
        let Inner {
            accurate_list,
            seen,
            ..
        } = &mut *i;
        decide_changes(
            self.level,
            self.since,
            self.accurate,
            accurate_list.as_ref(),
            seen,
            q,
        )
    }

    /// Ends the job: the state keeps answering callbacks (as violations) but gives up its data.
    pub(crate) fn finish(&self) -> Taken {
        let mut i = self.inner();
        i.finished = true;
        i.accurate_list = None;
        i.seen = HashSet::new();
        Taken {
            status: i.status,
            error_terminated: i.error_terminated,
            errors: i.errors,
            warnings: i.warnings,
            messages: std::mem::take(&mut i.messages),
            debug: std::mem::take(&mut i.debug),
            violations: std::mem::take(&mut i.violations),
            calls: std::mem::take(&mut i.calls),
        }
    }

    pub(crate) fn where_ptr(&self) -> *const c_char {
        self.strings
            .where_
            .as_ref()
            .map_or(std::ptr::null(), |w| w.as_ptr())
    }
}

/// The decision of `checkChanges`, separated for unit tests.
///
/// * accurate jobs (`CheckFct = AccurateCheckFile`): without a previous list → changed; name
///   (for directories: `link`) not in the list → changed; found → compare mtime, ctime, size;
///   Incr/Diff mark the name seen either way, Full only when unchanged.
/// * otherwise (`CheckChanges` default): unchanged iff the job is incremental (level I/D, or a
///   non-zero `save_time` was given) and `st_mtime < t && st_ctime < t`, with
///   `t = save_time != 0 ? save_time : since`.
pub(crate) fn decide_changes(
    level: u8,
    since: i64,
    accurate: bool,
    list: Option<&HashMap<Vec<u8>, AccEntry>>,
    seen: &mut HashSet<Vec<u8>>,
    q: &ChangeQuery<'_>,
) -> (i32, bool) {
    use super::rc::{OK, SEEN};
    if accurate {
        let Some(list) = list else {
            return (OK, false);
        };
        let key = if q.is_dir {
            q.link.unwrap_or(q.fname)
        } else {
            q.fname
        };
        let Some(prev) = list.get(key) else {
            return (OK, false);
        };
        let changed = prev.mtime != q.mtime || prev.ctime != q.ctime || prev.size != q.size;
        if level != b'F' || !changed {
            seen.insert(key.to_vec());
        }
        return (if changed { OK } else { SEEN }, true);
    }
    let incremental = matches!(level, b'I' | b'D') || q.save_time != 0;
    let t = if q.save_time != 0 { q.save_time } else { since };
    if incremental && q.mtime < t && q.ctime < t {
        (SEEN, false)
    } else {
        (OK, false)
    }
}

/// An address usable across threads for a pointer the harness owns (contexts, packets).
#[derive(Clone, Copy)]
pub(crate) struct Addr(pub usize);

impl Addr {
    pub(crate) fn of<T>(p: *mut T) -> Self {
        Addr(p as usize)
    }

    pub(crate) fn ptr<T>(self) -> *mut T {
        self.0 as *mut T
    }
}

#[cfg(test)]
mod tests {
    use super::super::rc::{OK, SEEN};
    use super::*;

    fn q(name: &str, mtime: i64, ctime: i64, size: i64, save_time: i64) -> ChangeQuery<'_> {
        ChangeQuery {
            fname: name.as_bytes(),
            link: None,
            is_dir: false,
            mtime,
            ctime,
            size,
            save_time,
        }
    }

    #[test]
    fn non_accurate_incremental_compares_mtime_and_ctime_with_since() {
        let mut seen = HashSet::new();
        let d = |q: &ChangeQuery<'_>, level: u8, seen: &mut HashSet<Vec<u8>>| {
            decide_changes(level, 1000, false, None, seen, q)
        };
        assert_eq!(d(&q("/a", 999, 999, 1, 0), b'I', &mut seen), (SEEN, false));
        assert_eq!(d(&q("/a", 1000, 999, 1, 0), b'I', &mut seen), (OK, false));
        assert_eq!(d(&q("/a", 999, 1000, 1, 0), b'D', &mut seen), (OK, false));
        // Full: always changed, unless the plugin passes its own save_time.
        assert_eq!(d(&q("/a", 1, 1, 1, 0), b'F', &mut seen), (OK, false));
        assert_eq!(d(&q("/a", 1, 1, 1, 5), b'F', &mut seen), (SEEN, false));
        // save_time overrides since.
        assert_eq!(d(&q("/a", 999, 999, 1, 500), b'I', &mut seen), (OK, false));
        assert!(seen.is_empty());
    }

    #[test]
    fn accurate_compares_with_the_list_and_marks_seen() {
        let mut list = HashMap::new();
        list.insert(
            b"/b/a".to_vec(),
            AccEntry {
                mtime: 10,
                ctime: 10,
                size: 5,
            },
        );
        list.insert(
            b"/b/d/".to_vec(),
            AccEntry {
                mtime: 10,
                ctime: 10,
                size: 0,
            },
        );
        let mut seen = HashSet::new();
        let accurate = |level: u8, since: i64, seen: &mut HashSet<Vec<u8>>, q: &ChangeQuery<'_>| {
            decide_changes(level, since, true, Some(&list), seen, q)
        };
        // Found and equal → Seen, marked.
        let found = q("/b/a", 10, 10, 5, 0);
        assert_eq!(accurate(b'I', 0, &mut seen, &found), (SEEN, true));
        assert!(seen.contains(b"/b/a".as_slice()));
        seen.clear();
        // Found, size differs → changed, still marked in Incr.
        let grown = q("/b/a", 10, 10, 6, 0);
        assert_eq!(accurate(b'I', 0, &mut seen, &grown), (OK, true));
        assert!(seen.contains(b"/b/a".as_slice()));
        seen.clear();
        // Not found → changed; the since time plays no role in accurate mode.
        let new = q("/b/new", 1, 1, 1, 0);
        assert_eq!(accurate(b'I', 99, &mut seen, &new), (OK, false));
        // Full (no list) → changed.
        assert_eq!(
            decide_changes(b'F', 0, true, None, &mut seen, &q("/b/a", 10, 10, 5, 0)),
            (OK, false)
        );
        // Directories are looked up by link.
        let dir = ChangeQuery {
            fname: b"/b/d",
            link: Some(b"/b/d/"),
            is_dir: true,
            mtime: 10,
            ctime: 10,
            size: 0,
            save_time: 0,
        };
        assert_eq!(accurate(b'D', 0, &mut seen, &dir), (SEEN, true));
        assert!(seen.contains(b"/b/d/".as_slice()));
        assert!(seen.is_empty() || seen.len() == 1);
    }

    #[test]
    fn job_state_counts_messages_and_tracks_seen() {
        let mut list = HashMap::new();
        for n in ["/b/a", "/b/b", "/b/c"] {
            list.insert(
                n.as_bytes().to_vec(),
                AccEntry {
                    mtime: 1,
                    ctime: 1,
                    size: 1,
                },
            );
        }
        let st = JobState::new(JobConfig {
            kind: JobKind {
                flavour: Flavour::Bareos,
                job_id: 7,
                job_type: b'B',
                level: b'I',
                since: 100,
                accurate: true,
                replace: b'a',
            },
            accurate_list: Some(list),
            job_name: "j".into(),
            prev_job_name: String::new(),
            where_: None,
            plugin_dir: "/tmp".into(),
        });
        st.job_message(msg::M_ERROR, "e\n", Origin::Plugin);
        st.job_message(msg::M_WARNING, "w", Origin::Plugin);
        st.job_message(msg::M_ABORT, "boom", Origin::Plugin);
        assert!(!st.is_canceled());
        assert!(st.mark_seen(b"/b/a"));
        assert!(st.mark_seen(b"/b/unknown"));
        assert_eq!(st.unseen(), vec![b"/b/b".to_vec(), b"/b/c".to_vec()]);
        assert!(st.mark_all_seen(true));
        assert!(st.unseen().is_empty());
        st.job_message(msg::M_FATAL, "f", Origin::Plugin);
        assert!(st.is_canceled());
        let t = st.finish();
        assert_eq!((t.errors, t.warnings, t.status), (2, 1, b'f'));
        assert_eq!(t.messages[0], (msg::M_ERROR, "e".to_owned()));
        assert_eq!(t.violations.len(), 1, "{:?}", t.violations);
    }
}
