//! The Bareos flavour (plugin interface 10): the `CoreFunctions` table handed to `loadPlugin`,
//! its callbacks, and [`BareosJob`], which makes the driver's calls with Bareos packets
//! (`PluginContext`, 240-byte `save_pkt` with a `char[5]` FO bit array, 240-byte `restore_pkt`,
//! 80-byte `io_pkt`). Numbers and behaviour: Bareos note §3, §4, §8.3, §10.

use std::ffi::{c_char, c_int, c_void, CStr};
use std::mem::size_of;
use std::sync::OnceLock;

use fd_ffi::sys::bareos as sys;

use super::driver::{Ev, IoReq, PluginJob, RestoreAttrs, SaveView, SavedXattrs};
use super::job::{self, daemon_strings, Addr, ChangeQuery, JobState, Origin};
use super::shim;
use super::{msg, rc, RestoreObjectRecord, SavedFile, StatRecord, Xattr};

/// The plugin's entry points, as returned by `loadPlugin`.
pub(crate) type Funcs = &'static sys::PluginFunctions;

/// Event numbers (Bareos note §3.2).
pub(crate) fn event_number(ev: Ev) -> u32 {
    match ev {
        Ev::JobStart => 1,
        Ev::JobEnd => 2,
        Ev::StartBackupJob => 3,
        Ev::EndBackupJob => 4,
        Ev::StartRestoreJob => 5,
        Ev::EndRestoreJob => 6,
        Ev::BackupCommand => 9,
        Ev::RestoreCommand => 10,
        Ev::EstimateCommand => 11,
        Ev::Level => 12,
        Ev::Since => 13,
        Ev::CancelCommand => 14,
        Ev::RestoreObject => 15,
        Ev::EndFileSet => 16,
        Ev::PluginCommand => 17,
        Ev::NewPluginOptions => 20,
    }
}

/// FO bits the emulated Include block's Options preset in `sp->flags` (signature=MD5,
/// compression, sparse=yes): a plugin must clear FO_SPARSE (Bareos note §3.9).
const PRESET_FO_BITS: [u32; 3] = [1, 2, sys::FO_SPARSE];

fn fo_bit(flags: &[c_char; 5], bit: u32) -> bool {
    let byte = (bit >> 3) as usize;
    byte < flags.len() && (flags[byte] as u8) & (1 << (bit & 7)) != 0
}

/// The static tables passed to every `loadPlugin` (values of bareos-fd: {8, 10} and {176, 10}).
pub(crate) fn core_tables() -> (*mut sys::PluginApiDefinition, *mut sys::CoreFunctions) {
    static TABLES: OnceLock<(Addr, Addr)> = OnceLock::new();
    let (info, funcs) = *TABLES.get_or_init(|| {
        shim::install();
        let info = Box::leak(Box::new(sys::PluginApiDefinition {
            size: size_of::<sys::PluginApiDefinition>() as u32,
            version: 10,
        }));
        let funcs = Box::leak(Box::new(sys::CoreFunctions {
            size: size_of::<sys::CoreFunctions>() as u32,
            version: 10,
            registerBareosEvents: Some(shim::harness_bareos_register_events),
            unregisterBareosEvents: Some(shim::harness_bareos_unregister_events),
            getInstanceCount: Some(get_instance_count),
            getBareosValue: Some(get_value),
            setBareosValue: Some(set_value),
            JobMessage: Some(shim::harness_bareos_job_message),
            DebugMessage: Some(shim::harness_bareos_debug_message),
            bareosMalloc: Some(core_malloc),
            bareosFree: Some(core_free),
            AddExclude: Some(add_exclude),
            AddInclude: Some(add_include),
            AddOptions: Some(add_options),
            AddRegex: Some(add_regex),
            AddWild: Some(add_wild),
            NewOptions: Some(new_options),
            NewInclude: Some(new_include),
            NewPreInclude: Some(new_pre_include),
            checkChanges: Some(check_changes),
            AcceptFile: Some(accept_file),
            SetSeenBitmap: Some(set_seen_bitmap),
            ClearSeenBitmap: Some(clear_seen_bitmap),
        }));
        (Addr::of(info), Addr::of(funcs))
    });
    (info.ptr(), funcs.ptr())
}

// ------------------------------------------------------------------------------ callbacks

fn job_of(ctx: *mut sys::PluginContext, name: &str) -> Option<&'static JobState> {
    let job = job::for_callback(ctx as usize, name)?;
    if !ctx.is_null() {
        // SAFETY: ctx was found in the registry, so it is a live context the harness allocated.
        let core = unsafe { (*ctx).core_private_context };
        if !std::ptr::eq(core.cast_const().cast::<JobState>(), job) {
            job.violation(format!(
                "{name}: the plugin overwrote ctx->core_private_context"
            ));
        }
    }
    Some(job)
}

/// Reads a C string the plugin passed (NULL → None).
///
/// # Safety
/// `p` is NULL or a NUL-terminated string valid for the duration of the callback.
unsafe fn c_bytes<'a>(p: *const c_char) -> Option<&'a [u8]> {
    // SAFETY: per the function contract.
    (!p.is_null()).then(|| unsafe { CStr::from_ptr(p) }.to_bytes())
}

pub(crate) unsafe extern "C" fn sink_events(
    ctx: *mut c_void,
    do_register: c_int,
    nr_events: c_int,
    events: *const u32,
    n: c_int,
) -> c_int {
    let name = if do_register != 0 {
        "registerBareosEvents"
    } else {
        "unregisterBareosEvents"
    };
    if ctx.is_null() {
        job::record_orphan(format!("{name} with a NULL context"));
        return rc::ERROR;
    }
    let Some(job) = job_of(ctx.cast(), name) else {
        return rc::ERROR;
    };
    if nr_events > n {
        job.violation(format!(
            "{name}: nr_events = {nr_events} (the harness read only the first {n})"
        ));
    }
    // SAFETY: the shim passes an array of n values.
    let list = unsafe { std::slice::from_raw_parts(events, n.max(0) as usize) };
    for &ev in list {
        if ev > 31 {
            job.violation(format!(
                "{name}: event {ev} > 31 (the core's 4-byte mask is written out of bounds)"
            ));
        }
        job.set_event(ev, do_register != 0);
    }
    job.debug(format!("[core] {name}({list:?})"));
    rc::OK
}

pub(crate) unsafe extern "C" fn sink_job_message(
    ctx: *mut c_void,
    _file: *const c_char,
    _line: c_int,
    mtype: c_int,
    _mtime: i64,
    text: *const c_char,
) -> c_int {
    let Some(job) = job_of(ctx.cast(), "JobMessage") else {
        return rc::OK;
    };
    // SAFETY: the shim passes its formatted, NUL-terminated buffer (or NULL).
    let Some(text) = (unsafe { c_bytes(text) }) else {
        job.violation("JobMessage with a NULL or invalid format".into());
        return rc::OK;
    };
    let origin = if ctx.is_null() {
        Origin::Daemon
    } else {
        Origin::Plugin
    };
    job.job_message(mtype, &String::from_utf8_lossy(text), origin);
    rc::OK
}

pub(crate) unsafe extern "C" fn sink_debug_message(
    ctx: *mut c_void,
    _file: *const c_char,
    _line: c_int,
    level: c_int,
    text: *const c_char,
) -> c_int {
    let Some(job) = job_of(ctx.cast(), "DebugMessage") else {
        return rc::OK;
    };
    // SAFETY: as in sink_job_message.
    let text = unsafe { c_bytes(text) }.unwrap_or(b"<NULL format>");
    job.debug(format!(
        "{level}: {}",
        String::from_utf8_lossy(text).trim_end()
    ));
    rc::OK
}

unsafe extern "C" fn get_instance_count(ctx: *mut sys::PluginContext, ret: *mut c_int) -> sys::bRC {
    let Some(_job) = job_of(ctx, "getInstanceCount") else {
        return rc::ERROR;
    };
    if ret.is_null() {
        return rc::ERROR;
    }
    // SAFETY: the plugin passes a writable int.
    unsafe { *ret = 1 };
    rc::OK
}

/// `bareosGetValue` (Bareos note §3.3).
unsafe extern "C" fn get_value(
    ctx: *mut sys::PluginContext,
    var: sys::bVariable,
    value: *mut c_void,
) -> sys::bRC {
    let job = job_of(ctx, "getBareosValue");
    if value.is_null() {
        return rc::ERROR;
    }
    let d = daemon_strings();
    let put_str = |s: *const c_char| {
        // SAFETY: for string variables the plugin passes a `char**`.
        unsafe { *value.cast::<*const c_char>() = s };
    };
    let put_int = |v: i32| {
        // SAFETY: for integer variables the plugin passes an `int*`.
        unsafe { *value.cast::<c_int>() = v };
    };
    // Variables that need no context.
    match var {
        2 => put_str(d.fd_name.as_ptr()),
        12 => put_str(d.working_dir.as_ptr()),
        15 => put_str(d.exe_path.as_ptr()),
        16 => put_str(d.bareos_version.as_ptr()),
        21 => put_str(d.used_config.as_ptr()),
        22 => match job {
            Some(job) => put_str(job.plugin_dir.as_ptr()),
            None => put_str(c"/usr/lib/bareos/plugins".as_ptr()),
        },
        17 => return rc::ERROR, // bVarDistName: removed
        20 => {
            let Some(job) = job.filter(|_| !ctx.is_null()) else {
                if let Some(job) = job {
                    job.violation("getBareosValue(bVarCheckChanges) with a NULL context (the core dereferences it)".into());
                }
                return rc::ERROR;
            };
            // SAFETY: bVarCheckChanges writes a C++ bool.
            unsafe { *value.cast::<bool>() = job.check_changes_enabled() };
        }
        _ => {
            let Some(job) = job.filter(|_| !ctx.is_null()) else {
                return rc::ERROR;
            };
            match var {
                1 => put_int(job.job_id as i32),
                3 => put_int(i32::from(job.level)),
                4 => put_int(i32::from(job.job_type)),
                5 => put_str(job.strings.client.as_ptr()),
                6 => put_str(job.strings.job_name.as_ptr()),
                7 => put_int(i32::from(job.status())),
                8 => put_int(job.since as i32), // 32-bit, truncated like the core
                9 => put_int(i32::from(job.accurate)),
                10 => {}                // bVarFileSeen: write-only
                11 => return rc::ERROR, // bVarVssClient: Windows only
                13 => put_str(job.where_ptr()),
                14 => put_str(std::ptr::null()), // bVarRegexWhere: never filled by the fd
                18 => put_str(job.strings.prev_job_name.as_ptr()),
                19 => put_int(0),
                _ => {} // unknown (incl. 23, master only): OK, value untouched
            }
        }
    }
    rc::OK
}

/// `bareosSetValue`: only bVarFileSeen and bVarCheckChanges; anything else is an M_ERROR job
/// message (Bareos note §3.3).
unsafe extern "C" fn set_value(
    ctx: *mut sys::PluginContext,
    var: sys::bVariable,
    value: *const c_void,
) -> sys::bRC {
    let Some(job) = job_of(ctx, "setBareosValue") else {
        return rc::ERROR;
    };
    if value.is_null() || ctx.is_null() {
        return rc::ERROR;
    }
    match var {
        20 => {
            // SAFETY: the plugin passes a `const bool*`; read the byte.
            let on = unsafe { *value.cast::<u8>() } != 0;
            job.set_check_changes(on);
        }
        10 => {
            // SAFETY: the plugin passes the file name as `char*`.
            let name = unsafe { CStr::from_ptr(value.cast()) }.to_bytes();
            if !job.mark_seen(name) {
                return rc::ERROR;
            }
        }
        other => job.core_message(
            msg::M_ERROR,
            &format!("Warning: bareosSetValue not implemented for var {other}."),
        ),
    }
    rc::OK
}

unsafe extern "C" fn core_malloc(
    _ctx: *mut sys::PluginContext,
    _file: *const c_char,
    _line: c_int,
    size: usize,
) -> *mut c_void {
    // SAFETY: plain malloc, as the core does.
    unsafe { libc::malloc(size) }
}

unsafe extern "C" fn core_free(
    _ctx: *mut sys::PluginContext,
    _file: *const c_char,
    _line: c_int,
    mem: *mut c_void,
) {
    // SAFETY: plain free of memory from bareosMalloc/malloc, as the core does.
    unsafe { libc::free(mem) }
}

/// AddExclude & co.: only while the FileSet is being built (during bEventPluginCommand).
fn fileset_call(ctx: *mut sys::PluginContext, name: &str, arg: *const c_char) -> sys::bRC {
    let Some(job) = job_of(ctx, name) else {
        return rc::ERROR;
    };
    // SAFETY: a NUL-terminated string from the plugin, or NULL.
    let arg = unsafe { c_bytes(arg) }.map(|a| String::from_utf8_lossy(a).into_owned());
    job.debug(format!("[core] {name}({})", arg.as_deref().unwrap_or("")));
    if job.fileset_open() {
        rc::OK
    } else {
        rc::ERROR
    }
}

unsafe extern "C" fn add_exclude(ctx: *mut sys::PluginContext, file: *const c_char) -> sys::bRC {
    fileset_call(ctx, "AddExclude", file)
}
unsafe extern "C" fn add_include(ctx: *mut sys::PluginContext, file: *const c_char) -> sys::bRC {
    fileset_call(ctx, "AddInclude", file)
}
unsafe extern "C" fn add_options(ctx: *mut sys::PluginContext, opts: *const c_char) -> sys::bRC {
    fileset_call(ctx, "AddOptions", opts)
}
unsafe extern "C" fn add_regex(
    ctx: *mut sys::PluginContext,
    item: *const c_char,
    _type: c_int,
) -> sys::bRC {
    fileset_call(ctx, "AddRegex", item)
}
unsafe extern "C" fn add_wild(
    ctx: *mut sys::PluginContext,
    item: *const c_char,
    _type: c_int,
) -> sys::bRC {
    fileset_call(ctx, "AddWild", item)
}
unsafe extern "C" fn new_options(ctx: *mut sys::PluginContext) -> sys::bRC {
    fileset_call(ctx, "NewOptions", std::ptr::null())
}
unsafe extern "C" fn new_include(ctx: *mut sys::PluginContext) -> sys::bRC {
    fileset_call(ctx, "NewInclude", std::ptr::null())
}
unsafe extern "C" fn new_pre_include(ctx: *mut sys::PluginContext) -> sys::bRC {
    fileset_call(ctx, "NewPreInclude", std::ptr::null())
}

/// `bareosCheckChanges` (Bareos note §8.3).
unsafe extern "C" fn check_changes(
    ctx: *mut sys::PluginContext,
    sp: *mut sys::save_pkt,
) -> sys::bRC {
    let Some(job) = job_of(ctx, "checkChanges") else {
        return rc::ERROR;
    };
    if sp.is_null() || ctx.is_null() {
        return rc::ERROR;
    }
    // SAFETY: the plugin passes its (our) save packet, valid during the call.
    let sp = unsafe { &mut *sp };
    // SAFETY: fname/link are NUL-terminated strings or NULL.
    let Some(fname) = (unsafe { c_bytes(sp.fname) }) else {
        job.core_message(
            msg::M_FATAL,
            "Command plugin: no fname in bareosCheckChanges packet.",
        );
        return rc::ERROR;
    };
    // SAFETY: as above.
    let link = unsafe { c_bytes(sp.link) };
    let q = ChangeQuery {
        fname,
        link,
        is_dir: sp.statp.st_mode & libc::S_IFMT == libc::S_IFDIR,
        mtime: sp.statp.st_mtime,
        ctime: sp.statp.st_ctime,
        size: sp.statp.st_size,
        save_time: sp.save_time,
    };
    let (result, found) = job.check_changes(&q);
    sp.delta_seq = 0;
    sp.accurate_found = found;
    result
}

unsafe extern "C" fn accept_file(ctx: *mut sys::PluginContext, sp: *mut sys::save_pkt) -> sys::bRC {
    let Some(_job) = job_of(ctx, "AcceptFile") else {
        return rc::ERROR;
    };
    if sp.is_null() {
        return rc::ERROR;
    }
    // No wild/regex options in the emulated Include block: everything is accepted.
    rc::OK
}

fn seen_bitmap(
    ctx: *mut sys::PluginContext,
    name: &str,
    all: bool,
    fname: *mut c_char,
    set: bool,
) -> sys::bRC {
    let Some(job) = job_of(ctx, name) else {
        return rc::ERROR;
    };
    // SAFETY: NUL-terminated or NULL.
    let fname = unsafe { c_bytes(fname) };
    let ok = match (all, fname) {
        (true, Some(_)) => false,
        (true, None) => job.mark_all_seen(set),
        (false, Some(n)) if set => job.mark_seen(n),
        (false, Some(n)) => job.unmark_seen(n),
        (false, None) => false,
    };
    if ok {
        rc::OK
    } else {
        rc::ERROR
    }
}

unsafe extern "C" fn set_seen_bitmap(
    ctx: *mut sys::PluginContext,
    all: bool,
    fname: *mut c_char,
) -> sys::bRC {
    seen_bitmap(ctx, "SetSeenBitmap", all, fname, true)
}

unsafe extern "C" fn clear_seen_bitmap(
    ctx: *mut sys::PluginContext,
    all: bool,
    fname: *mut c_char,
) -> sys::bRC {
    seen_bitmap(ctx, "ClearSeenBitmap", all, fname, false)
}

// --------------------------------------------------------------------------------- the job

/// One job's context and packets for a Bareos plugin.
pub(crate) struct BareosJob {
    f: Funcs,
    ctx: *mut sys::PluginContext,
    st: &'static JobState,
    sp: Box<sys::save_pkt>,
    /// The Include block's `xattrsupport` (FO_XATTR).
    xattrs: bool,
}

/// `MAX_XATTR_STREAM` of `core/src/findlib/xattr.h`.
const MAX_XATTR_STREAM: usize = 1024 * 1024;

impl BareosJob {
    pub(crate) fn new(f: Funcs, st: &'static JobState) -> Self {
        // The context is leaked like the job state (see job.rs): stale plugin pointers to it
        // stay valid memory.
        let ctx = Box::leak(Box::new(sys::PluginContext {
            instance: 0,
            plugin: std::ptr::null_mut(),
            core_private_context: st as *const JobState as *mut c_void,
            plugin_private_context: std::ptr::null_mut(),
        }));
        job::register_context(ctx as *mut _ as usize, st);
        BareosJob {
            f,
            ctx,
            st,
            sp: Box::default(),
            xattrs: true,
        }
    }

    fn call(&self, label: &str, trace: bool, f: impl FnOnce() -> sys::bRC) -> i32 {
        let r = self.st.call(label, trace, f);
        self.st.check_rc(label, r)
    }
}

fn stat_record(s: &libc::stat) -> StatRecord {
    StatRecord {
        dev: s.st_dev,
        ino: s.st_ino,
        mode: s.st_mode,
        nlink: s.st_nlink,
        uid: s.st_uid,
        gid: s.st_gid,
        rdev: s.st_rdev,
        size: s.st_size,
        blksize: s.st_blksize,
        blocks: s.st_blocks,
        atime: s.st_atime,
        mtime: s.st_mtime,
        ctime: s.st_ctime,
    }
}

pub(crate) fn stat_from(r: &StatRecord) -> libc::stat {
    // SAFETY: libc::stat is plain old data; all-zero is a valid value.
    let mut s: libc::stat = unsafe { std::mem::zeroed() };
    s.st_dev = r.dev;
    s.st_ino = r.ino;
    s.st_mode = r.mode;
    s.st_nlink = r.nlink;
    s.st_uid = r.uid;
    s.st_gid = r.gid;
    s.st_rdev = r.rdev;
    s.st_size = r.size;
    s.st_blksize = r.blksize;
    s.st_blocks = r.blocks;
    s.st_atime = r.atime;
    s.st_mtime = r.mtime;
    s.st_ctime = r.ctime;
    s
}

/// Copies `len` bytes at `p` (NULL → None).
///
/// # Safety
/// `p` is NULL or points to at least `len` readable bytes.
pub(crate) unsafe fn bytes_at(p: *const c_char, len: i32) -> Option<Vec<u8>> {
    // SAFETY: per the contract.
    (!p.is_null()).then(|| {
        unsafe { std::slice::from_raw_parts(p.cast::<u8>(), len.max(0) as usize) }.to_vec()
    })
}

impl PluginJob for BareosJob {
    fn state(&self) -> &'static JobState {
        self.st
    }

    fn event_number(&self, ev: Ev) -> Option<u32> {
        Some(event_number(ev))
    }

    fn raw_event(&mut self, ev: Ev, value: *mut c_void) -> i32 {
        let mut event = sys::bEvent {
            eventType: event_number(ev),
        };
        let (f, ctx) = (self.f, self.ctx);
        self.call(&format!("handlePluginEvent({ev:?})"), true, || {
            // SAFETY: required entry point (checked at load); live context; event and value
            // valid for the call.
            unsafe { f.handlePluginEvent.expect("checked at load")(ctx, &mut event, value) }
        })
    }

    fn cancel_call(&self) -> Box<dyn FnOnce() -> i32 + Send> {
        let (f, ctx, st) = (self.f, Addr::of(self.ctx), self.st);
        Box::new(move || {
            let mut event = sys::bEvent {
                eventType: event_number(Ev::CancelCommand),
            };
            let r = st.call(
                "handlePluginEvent(CancelCommand) [cancel thread]",
                true,
                || {
                    // SAFETY: the context stays alive; the job thread waits for this call.
                    unsafe {
                        f.handlePluginEvent.expect("checked at load")(
                            ctx.ptr(),
                            &mut event,
                            std::ptr::null_mut(),
                        )
                    }
                },
            );
            st.check_rc("handlePluginEvent(CancelCommand)", r)
        })
    }

    fn new_plugin(&mut self) -> i32 {
        let (f, ctx) = (self.f, self.ctx);
        // SAFETY: required entry point; fresh context.
        self.call("newPlugin", true, || unsafe {
            f.newPlugin.expect("checked at load")(ctx)
        })
    }

    fn free_plugin(&mut self) -> i32 {
        let (f, ctx) = (self.f, self.ctx);
        // SAFETY: required entry point; live context.
        self.call("freePlugin", true, || unsafe {
            f.freePlugin.expect("checked at load")(ctx)
        })
    }

    fn start_backup_file(&mut self, cmd: &CStr) -> i32 {
        // A fresh packet as PluginSave builds it (Bareos note §4.7).
        let mut sp = sys::save_pkt {
            pkt_size: size_of::<sys::save_pkt>() as i32,
            pkt_end: size_of::<sys::save_pkt>() as i32,
            portable: true,
            cmd: cmd.as_ptr() as *mut c_char,
            ..Default::default()
        };
        let xattr = self.xattrs.then_some(sys::FO_XATTR);
        for bit in PRESET_FO_BITS.into_iter().chain(xattr) {
            sp.flags[(bit >> 3) as usize] |= (1u8 << (bit & 7)) as c_char;
        }
        *self.sp = sp;
        let (f, ctx, spp) = (self.f, self.ctx, &mut *self.sp as *mut sys::save_pkt);
        self.call("startBackupFile", true, || {
            // SAFETY: required entry point; the packet lives in self until the next call.
            unsafe { f.startBackupFile.expect("checked at load")(ctx, spp) }
        })
    }

    fn save_view(&self) -> SaveView {
        let sp = &*self.sp;
        // SAFETY: the plugin promised NUL-terminated strings (or NULL) valid until the next
        // startBackupFile; object points to object_len bytes.
        unsafe {
            SaveView {
                fname: c_bytes(sp.fname).map(<[u8]>::to_vec),
                link: c_bytes(sp.link).map(<[u8]>::to_vec),
                ftype: sp.type_,
                stat: stat_record(&sp.statp),
                no_read: sp.no_read,
                sparse: fo_bit(&sp.flags, sys::FO_SPARSE),
                offsets: fo_bit(&sp.flags, sys::FO_OFFSETS),
                object_name: c_bytes(sp.object_name).map(<[u8]>::to_vec),
                object: bytes_at(sp.object, sp.object_len),
                index: sp.index,
                pkt_size: sp.pkt_size,
                pkt_end: sp.pkt_end,
                expected_size: size_of::<sys::save_pkt>() as i32,
            }
        }
    }

    fn fname_now(&self) -> Option<Vec<u8>> {
        // SAFETY: as in save_view.
        unsafe { c_bytes(self.sp.fname) }.map(<[u8]>::to_vec)
    }

    fn end_backup_file(&mut self) -> i32 {
        let (f, ctx) = (self.f, self.ctx);
        // SAFETY: required entry point; live context.
        self.call("endBackupFile", true, || unsafe {
            f.endBackupFile.expect("checked at load")(ctx)
        })
    }

    fn io(&mut self, req: &mut IoReq, trace: bool) -> i32 {
        let mut io = sys::io_pkt {
            pkt_size: size_of::<sys::io_pkt>() as i32,
            pkt_end: size_of::<sys::io_pkt>() as i32,
            func: req.func,
            count: req.count,
            flags: req.flags,
            mode: req.mode,
            buf: req.buf.cast(),
            fname: req.fname,
            status: req.status,
            filedes: req.filedes,
            ..Default::default()
        };
        let (f, ctx) = (self.f, self.ctx);
        let r = self.call(req.label(), trace, || {
            // SAFETY: required entry point; the packet and its buffer outlive the call.
            unsafe { f.pluginIO.expect("checked at load")(ctx, &mut io) }
        });
        req.status = io.status;
        req.io_errno = io.io_errno;
        req.offset = io.offset;
        req.filedes = io.filedes;
        r
    }

    fn has_check_file(&self) -> bool {
        self.f.checkFile.is_some()
    }

    fn check_file(&mut self, name: &CStr) -> i32 {
        let (f, ctx) = (self.f, self.ctx);
        let Some(check) = f.checkFile else {
            return rc::OK;
        };
        self.call(
            &format!("checkFile({})", name.to_string_lossy()),
            true,
            || {
                // SAFETY: optional entry point present; the name outlives the call.
                unsafe { check(ctx, name.as_ptr() as *mut c_char) }
            },
        )
    }

    fn restore_object_event(&mut self, obj: Option<(&RestoreObjectRecord, &CStr)>) -> i32 {
        let Some((obj, cmd)) = obj else {
            return self.raw_event(Ev::RestoreObject, std::ptr::null_mut());
        };
        let mut name = obj.object_name.clone();
        name.push(0);
        let mut data = obj.object.clone();
        data.push(0);
        let mut rop = sys::restore_object_pkt {
            pkt_size: size_of::<sys::restore_object_pkt>() as i32,
            pkt_end: size_of::<sys::restore_object_pkt>() as i32,
            object_name: name.as_mut_ptr().cast(),
            object: data.as_mut_ptr().cast(),
            plugin_name: cmd.as_ptr() as *mut c_char,
            object_type: obj.ftype,
            object_len: obj.object.len() as i32,
            object_full_len: obj.object.len() as i32,
            object_index: obj.index,
            object_compression: 0,
            stream: 0,
            JobId: obj.job_id,
        };
        self.raw_event(
            Ev::RestoreObject,
            (&mut rop as *mut sys::restore_object_pkt).cast(),
        )
    }

    fn start_restore_file(&mut self, cmd: &CStr) -> i32 {
        let (f, ctx) = (self.f, self.ctx);
        self.call("startRestoreFile", true, || {
            // SAFETY: required entry point; cmd outlives the call.
            unsafe { f.startRestoreFile.expect("checked at load")(ctx, cmd.as_ptr()) }
        })
    }

    fn create_file(&mut self, a: &RestoreAttrs, where_: *const c_char) -> (i32, i32, i32) {
        let mut rp = restore_pkt(a, where_);
        let (f, ctx) = (self.f, self.ctx);
        let r = self.call(
            &format!("createFile({})", a.ofname.to_string_lossy()),
            true,
            || {
                // SAFETY: required entry point; the packet and its strings outlive the call.
                unsafe { f.createFile.expect("checked at load")(ctx, &mut rp) }
            },
        );
        (r, rp.create_status, rp.filedes)
    }

    fn set_file_attributes(&mut self, a: &RestoreAttrs, where_: *const c_char) -> (i32, i32) {
        // PluginSetAttributes builds a fresh packet.
        let mut rp = restore_pkt(a, where_);
        let (f, ctx) = (self.f, self.ctx);
        let r = self.call("setFileAttributes", true, || {
            // SAFETY: required entry point; the packet and its strings outlive the call.
            unsafe { f.setFileAttributes.expect("checked at load")(ctx, &mut rp) }
        });
        (r, rp.create_status)
    }

    fn end_restore_file(&mut self) -> i32 {
        let (f, ctx) = (self.f, self.ctx);
        // SAFETY: required entry point; live context.
        self.call("endRestoreFile", true, || unsafe {
            f.endRestoreFile.expect("checked at load")(ctx)
        })
    }

    fn set_xattr_support(&mut self, on: bool) {
        self.xattrs = on;
    }

    /// `PluginBuildXattrStreams` (fd_plugins.cc): `getXattr` while it answers `bRC_More`; the
    /// packet of the final `bRC_OK` counts too; the core owns (and `free`s) name and value.
    fn after_data(&mut self, fname: &CStr) -> SavedXattrs {
        let Some(get) = self.f.getXattr.filter(|_| self.xattrs) else {
            return SavedXattrs::default();
        };
        let (st, ctx) = (self.st, self.ctx);
        let shown = fname.to_string_lossy().into_owned();
        let mut pairs = Vec::new();
        let (mut total, mut calls) = (0usize, 0u64);
        let mut unserializable = false;
        loop {
            calls += 1;
            let mut xp = sys::xattr_pkt {
                pkt_size: size_of::<sys::xattr_pkt>() as i32,
                fname: fname.as_ptr(),
                pkt_end: size_of::<sys::xattr_pkt>() as i32,
                ..Default::default()
            };
            let r = self.call("getXattr", calls == 1, || {
                // SAFETY: optional entry point present; the packet and fname outlive the call.
                unsafe { get(ctx, &mut xp) }
            });
            let more = match r {
                rc::OK => false,
                rc::MORE => true,
                other => {
                    st.trace(format!("getXattr x{calls} → {other}"));
                    st.core_message(
                        msg::M_ERROR,
                        &format!(
                            "(the core's last error text: getXattr returned {other} for \
                             \"{shown}\"; all its xattrs dropped)"
                        ),
                    );
                    // Attributes taken so far are freed (they were copied below).
                    return SavedXattrs::default();
                }
            };
            let (n, v) = (xp.name_length as usize, xp.value_length as usize);
            if n > 0 && !xp.name.is_null() {
                // SAFETY: the plugin hands over n bytes at name (and v at value, if not NULL).
                let name = unsafe { bytes_at(xp.name, n as i32) }.unwrap_or_default();
                let value = if v == 0 {
                    if !xp.value.is_null() {
                        st.violation(format!(
                            "{shown}: getXattr returned a value pointer with value_length 0 \
                             (the core frees a value only when its length is not 0: leaked)"
                        ));
                    }
                    Vec::new()
                } else if xp.value.is_null() {
                    st.violation(format!(
                        "{shown}: getXattr returned value NULL with value_length {v}"
                    ));
                    unserializable = true;
                    Vec::new()
                } else {
                    // SAFETY: as above.
                    unsafe { bytes_at(xp.value, v as i32) }.unwrap_or_default()
                };
                // SAFETY: ownership passed to the core, which frees with free().
                unsafe {
                    libc::free(xp.name.cast());
                    if v > 0 {
                        libc::free(xp.value.cast());
                    }
                }
                total += 12 + n + v;
                pairs.push(Xattr { name, value });
                if total >= MAX_XATTR_STREAM {
                    st.trace(format!("getXattr x{calls} (limit reached)"));
                    st.core_message(
                        msg::M_ERROR,
                        &format!(
                            "Xattr stream on file \"{shown}\" exceeds maximum size of \
                             {MAX_XATTR_STREAM} bytes"
                        ),
                    );
                    return SavedXattrs::default();
                }
            } else {
                if xp.name.is_null() && n > 0 {
                    st.violation(format!(
                        "{shown}: getXattr returned name NULL with name_length {n}"
                    ));
                }
                if !xp.name.is_null() {
                    st.violation(format!(
                        "{shown}: getXattr returned a name with name_length 0 (skipped by the \
                         core and never freed)"
                    ));
                }
                if !xp.value.is_null() {
                    st.violation(format!(
                        "{shown}: getXattr returned a value without a name (never freed)"
                    ));
                }
            }
            if !more {
                break;
            }
            if calls >= 1_000_000 {
                st.violation(format!(
                    "{shown}: getXattr answered bRC_More {calls} times without filling the limit"
                ));
                return SavedXattrs::default();
            }
        }
        st.trace(format!("getXattr x{calls} = {} attributes", pairs.len()));
        if unserializable {
            st.core_message(
                msg::M_ERROR,
                &format!("Failed to Serialize extended attributes on file \"{shown}\""),
            );
            return SavedXattrs::default();
        }
        SavedXattrs {
            pairs,
            records: Vec::new(),
        }
    }

    /// `PluginParseXattrStreams`: one `setXattr` per attribute (name NUL-terminated in a fresh
    /// buffer, value NULL when empty); the first non-OK answer stops the file's attributes.
    fn restore_xattrs(&mut self, file: &SavedFile, ofname: &CStr) {
        if file.xattrs.is_empty() {
            return;
        }
        let Some(set) = self.f.setXattr else {
            return;
        };
        let (st, ctx) = (self.st, self.ctx);
        let mut calls = 0;
        for x in &file.xattrs {
            calls += 1;
            let mut name = x.name.clone();
            name.push(0);
            let mut value = x.value.clone();
            let mut xp = sys::xattr_pkt {
                pkt_size: size_of::<sys::xattr_pkt>() as i32,
                fname: ofname.as_ptr(),
                name_length: (name.len() - 1) as u32,
                name: name.as_mut_ptr().cast(),
                value_length: value.len() as u32,
                value: if value.is_empty() {
                    std::ptr::null_mut()
                } else {
                    value.as_mut_ptr().cast()
                },
                pkt_end: size_of::<sys::xattr_pkt>() as i32,
            };
            let r = self.call("setXattr", calls == 1, || {
                // SAFETY: optional entry point present; the packet and buffers outlive the call.
                unsafe { set(ctx, &mut xp) }
            });
            if r != rc::OK {
                st.core_message(
                    msg::M_ERROR,
                    &format!(
                        "(the core's last error text: setXattr returned {r} for \"{}\")",
                        ofname.to_string_lossy()
                    ),
                );
                break;
            }
        }
        st.trace(format!("setXattr x{calls}"));
    }
}

fn restore_pkt(a: &RestoreAttrs, where_: *const c_char) -> sys::restore_pkt {
    sys::restore_pkt {
        pkt_size: size_of::<sys::restore_pkt>() as i32,
        pkt_end: size_of::<sys::restore_pkt>() as i32,
        stream: a.stream,
        data_stream: a.data_stream,
        type_: a.ftype,
        file_index: a.file_index,
        LinkFI: 0,
        uid: a.stat.uid,
        statp: stat_from(&a.stat),
        attrEx: a.attr_ex.as_ptr(),
        ofname: a.ofname.as_ptr(),
        olname: a.olname.as_ptr(),
        where_,
        RegexWhere: std::ptr::null(),
        replace: c_int::from(a.replace),
        create_status: 2, // CF_ERROR preset
        delta_seq: 0,
        filedes: -1,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbering_matches_the_bindings() {
        assert_eq!(event_number(Ev::JobStart), sys::bEventJobStart);
        assert_eq!(event_number(Ev::BackupCommand), sys::bEventBackupCommand);
        assert_eq!(event_number(Ev::CancelCommand), sys::bEventCancelCommand);
        assert_eq!(event_number(Ev::RestoreObject), sys::bEventRestoreObject);
        assert_eq!(event_number(Ev::EndFileSet), sys::bEventEndFileSet);
        assert_eq!(event_number(Ev::PluginCommand), sys::bEventPluginCommand);
        assert_eq!(
            event_number(Ev::NewPluginOptions),
            sys::bEventNewPluginOptions
        );
        assert_eq!(sys::bVarWorkingDir, 12);
        assert_eq!(sys::bVarCheckChanges, 20);
        assert_eq!(sys::bVarPluginPath, 22);
        assert_eq!(size_of::<sys::CoreFunctions>(), 176);
        assert_eq!(size_of::<sys::save_pkt>(), 240);
        assert_eq!(size_of::<sys::restore_pkt>(), 240);
        assert_eq!(size_of::<sys::io_pkt>(), 80);
    }
}
