//! The Bacula 9.6 flavour (plugin interface 14): the `bFuncs` table, its callbacks, and
//! [`BaculaJob`] with Bacula packets (`bpContext`, 240-byte `save_pkt` with `uint64_t` FO masks,
//! 232-byte `restore_pkt`, 72-byte `io_pkt`) and numbering (Bacula note §4–§6). Every event is
//! delivered whether registered or not; `checkStream`/`handleXACLdata` are called per saved file
//! when present (note §8, §9).

use std::ffi::{c_char, c_int, c_void, CStr};
use std::mem::size_of;
use std::sync::OnceLock;

use fd_ffi::sys::bacula as sys;

use super::bareos_host::{bytes_at, stat_from};
use super::driver::{Ev, IoReq, PluginJob, RestoreAttrs, SaveView, SavedXattrs};
use super::job::{self, daemon_strings, Addr, ChangeQuery, JobState, Origin};
use super::shim;
use super::{msg, rc, RestoreObjectRecord, SavedFile, StatRecord};

pub(crate) type Funcs = &'static sys::pFuncs;

/// Event numbers (Bacula note §6.2); no NewPluginOptions in 9.6.
pub(crate) fn event_number(ev: Ev) -> Option<u32> {
    Some(match ev {
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
        Ev::RestoreObject => 18,
        Ev::EndFileSet => 19,
        Ev::PluginCommand => 20,
        Ev::NewPluginOptions => return None,
    })
}

/// The static tables of bacula-fd 9.6: bInfo {8, 14}, bFuncs {144, 14}.
pub(crate) fn core_tables() -> (*mut sys::bInfo, *mut sys::bFuncs) {
    static TABLES: OnceLock<(Addr, Addr)> = OnceLock::new();
    let (info, funcs) = *TABLES.get_or_init(|| {
        shim::install();
        let info = Box::leak(Box::new(sys::bInfo {
            size: size_of::<sys::bInfo>() as u32,
            version: 14,
        }));
        let funcs = Box::leak(Box::new(sys::bFuncs {
            size: size_of::<sys::bFuncs>() as u32,
            version: 14,
            registerBaculaEvents: Some(shim::harness_bacula_register_events),
            getBaculaValue: Some(get_value),
            setBaculaValue: Some(set_value),
            JobMessage: Some(shim::harness_bacula_job_message),
            DebugMessage: Some(shim::harness_bacula_debug_message),
            baculaMalloc: Some(core_malloc),
            baculaFree: Some(core_free),
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
        }));
        (Addr::of(info), Addr::of(funcs))
    });
    (info.ptr(), funcs.ptr())
}

// ------------------------------------------------------------------------------ callbacks

fn job_of(ctx: *mut sys::bpContext, name: &str) -> Option<&'static JobState> {
    let job = job::for_callback(ctx as usize, name)?;
    if !ctx.is_null() {
        // SAFETY: ctx was found in the registry: a live context the harness allocated.
        let core = unsafe { (*ctx).bContext };
        if !std::ptr::eq(core.cast_const().cast::<JobState>(), job) {
            job.violation(format!("{name}: the plugin overwrote ctx->bContext"));
        }
    }
    Some(job)
}

/// # Safety
/// `p` is NULL or a NUL-terminated string valid for the duration of the callback.
unsafe fn c_bytes<'a>(p: *const c_char) -> Option<&'a [u8]> {
    // SAFETY: per the function contract.
    (!p.is_null()).then(|| unsafe { CStr::from_ptr(p) }.to_bytes())
}

pub(crate) unsafe extern "C" fn sink_events(
    ctx: *mut c_void,
    events: *const u32,
    n: c_int,
    unterminated: c_int,
) -> c_int {
    if ctx.is_null() {
        job::record_orphan("registerBaculaEvents with a NULL context".into());
        return rc::ERROR;
    }
    let Some(job) = job_of(ctx.cast(), "registerBaculaEvents") else {
        return rc::ERROR;
    };
    // SAFETY: the shim passes n values.
    let list = unsafe { std::slice::from_raw_parts(events, n.max(0) as usize) };
    if unterminated != 0 {
        job.violation(
            "registerBaculaEvents: no terminating 0 among the first 64 values (Bacula reads a \
             0-terminated list, not a count)"
                .into(),
        );
    }
    if let Some(bad) = list.iter().find(|&&e| e > 26) {
        job.violation(format!(
            "registerBaculaEvents: event {bad} does not exist in Bacula 9.6"
        ));
    }
    job.debug(format!(
        "[core] registerBaculaEvents({list:?}) (only logged: all events are delivered)"
    ));
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
    // SAFETY: the shim's formatted buffer or NULL.
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
    // SAFETY: as above.
    let text = unsafe { c_bytes(text) }.unwrap_or(b"<NULL format>");
    job.debug(format!(
        "{level}: {}",
        String::from_utf8_lossy(text).trim_end()
    ));
    rc::OK
}

/// `baculaGetValue` (Bacula note §4 bFuncs, §6.1): daemon-wide strings are written even without
/// a context, but the call then returns bRC_Error.
unsafe extern "C" fn get_value(
    ctx: *mut sys::bpContext,
    var: sys::bVariable,
    value: *mut c_void,
) -> sys::bRC {
    let job = job_of(ctx, "getBaculaValue");
    if value.is_null() {
        return rc::ERROR;
    }
    let d = daemon_strings();
    let put_str = |s: *const c_char| {
        // SAFETY: string variables take a `char**`.
        unsafe { *value.cast::<*const c_char>() = s };
    };
    let put_int = |v: i32| {
        // SAFETY: integer variables take an `int*`.
        unsafe { *value.cast::<c_int>() = v };
    };
    match var {
        2 => put_str(d.fd_name.as_ptr()),
        13 => put_str(d.working_dir.as_ptr()),
        16 => put_str(d.exe_path.as_ptr()),
        17 => put_str(d.bacula_version.as_ptr()),
        18 => put_str(d.dist_name.as_ptr()),
        _ => {}
    }
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
        8 => put_int(job.since as i32),
        9 => put_int(i32::from(job.accurate)),
        11 | 12 => return rc::ERROR, // VSS, Windows only
        14 => put_str(job.where_ptr()),
        15 => put_str(std::ptr::null()),
        20 => put_str(job.strings.prev_job_name.as_ptr()),
        21 => put_int(0),
        22 => put_int(job.interactive()),
        23 => put_int(job.job_files()),
        24 => put_int(i32::from(job.replace)),
        _ => {} // 10 (write-only), 19 (placeholder), general ones above, unknown: untouched
    }
    rc::OK
}

/// `baculaSetValue`: bVarFileSeen and bVarInteractiveSession act; the rest returns OK.
unsafe extern "C" fn set_value(
    ctx: *mut sys::bpContext,
    var: sys::bVariable,
    value: *mut c_void,
) -> sys::bRC {
    let Some(job) = job_of(ctx, "setBaculaValue") else {
        return rc::ERROR;
    };
    if ctx.is_null() {
        return rc::ERROR;
    }
    match var {
        10 => {
            if value.is_null() {
                return rc::ERROR;
            }
            // SAFETY: the file name as `char*`.
            let name = unsafe { CStr::from_ptr(value.cast()) }.to_bytes();
            if !job.mark_seen(name) {
                return rc::ERROR;
            }
        }
        22 => job.set_interactive(value as isize as i32),
        _ => {}
    }
    rc::OK
}

unsafe extern "C" fn core_malloc(
    _ctx: *mut sys::bpContext,
    _file: *const c_char,
    _line: c_int,
    size: usize,
) -> *mut c_void {
    // SAFETY: plain malloc.
    unsafe { libc::malloc(size) }
}

unsafe extern "C" fn core_free(
    _ctx: *mut sys::bpContext,
    _file: *const c_char,
    _line: c_int,
    mem: *mut c_void,
) {
    // SAFETY: plain free.
    unsafe { libc::free(mem) }
}

fn fileset_call(ctx: *mut sys::bpContext, name: &str, arg: *const c_char) -> sys::bRC {
    let Some(job) = job_of(ctx, name) else {
        return rc::ERROR;
    };
    // SAFETY: NUL-terminated or NULL.
    let arg = unsafe { c_bytes(arg) }.map(|a| String::from_utf8_lossy(a).into_owned());
    job.debug(format!("[core] {name}({})", arg.as_deref().unwrap_or("")));
    if job.fileset_open() {
        rc::OK
    } else {
        rc::ERROR
    }
}

unsafe extern "C" fn add_exclude(ctx: *mut sys::bpContext, file: *const c_char) -> sys::bRC {
    fileset_call(ctx, "AddExclude", file)
}
unsafe extern "C" fn add_include(ctx: *mut sys::bpContext, file: *const c_char) -> sys::bRC {
    fileset_call(ctx, "AddInclude", file)
}
unsafe extern "C" fn add_options(ctx: *mut sys::bpContext, opts: *const c_char) -> sys::bRC {
    fileset_call(ctx, "AddOptions", opts)
}
unsafe extern "C" fn add_regex(
    ctx: *mut sys::bpContext,
    item: *const c_char,
    _type: c_int,
) -> sys::bRC {
    fileset_call(ctx, "AddRegex", item)
}
unsafe extern "C" fn add_wild(
    ctx: *mut sys::bpContext,
    item: *const c_char,
    _type: c_int,
) -> sys::bRC {
    fileset_call(ctx, "AddWild", item)
}
unsafe extern "C" fn new_options(ctx: *mut sys::bpContext) -> sys::bRC {
    fileset_call(ctx, "NewOptions", std::ptr::null())
}
unsafe extern "C" fn new_include(ctx: *mut sys::bpContext) -> sys::bRC {
    fileset_call(ctx, "NewInclude", std::ptr::null())
}
unsafe extern "C" fn new_pre_include(ctx: *mut sys::bpContext) -> sys::bRC {
    fileset_call(ctx, "NewPreInclude", std::ptr::null())
}

/// `checkChanges` (Bacula note §4: needs fname, type, statp; no save_time in 9.6).
unsafe extern "C" fn check_changes(ctx: *mut sys::bpContext, sp: *mut sys::save_pkt) -> sys::bRC {
    let Some(job) = job_of(ctx, "checkChanges") else {
        return rc::ERROR;
    };
    if sp.is_null() || ctx.is_null() {
        return rc::ERROR;
    }
    // SAFETY: the plugin passes our save packet, valid during the call.
    let sp = unsafe { &mut *sp };
    // SAFETY: NUL-terminated or NULL.
    let Some(fname) = (unsafe { c_bytes(sp.fname) }) else {
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
        save_time: 0,
    };
    let (result, found) = job.check_changes(&q);
    sp.delta_seq = 0;
    sp.accurate_found = found;
    result
}

unsafe extern "C" fn accept_file(ctx: *mut sys::bpContext, sp: *mut sys::save_pkt) -> sys::bRC {
    let Some(_job) = job_of(ctx, "AcceptFile") else {
        return rc::ERROR;
    };
    if sp.is_null() {
        return rc::ERROR;
    }
    rc::OK
}

// --------------------------------------------------------------------------------- the job

pub(crate) struct BaculaJob {
    f: Funcs,
    ctx: *mut sys::bpContext,
    st: &'static JobState,
    sp: Box<sys::save_pkt>,
}

impl BaculaJob {
    pub(crate) fn new(f: Funcs, st: &'static JobState) -> Self {
        // Leaked like the job state (see job.rs).
        let ctx = Box::leak(Box::new(sys::bpContext {
            bContext: st as *const JobState as *mut c_void,
            pContext: std::ptr::null_mut(),
        }));
        job::register_context(ctx as *mut _ as usize, st);
        BaculaJob {
            f,
            ctx,
            st,
            sp: Box::default(),
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

impl PluginJob for BaculaJob {
    fn state(&self) -> &'static JobState {
        self.st
    }

    fn event_number(&self, ev: Ev) -> Option<u32> {
        event_number(ev)
    }

    fn raw_event(&mut self, ev: Ev, value: *mut c_void) -> i32 {
        let Some(num) = event_number(ev) else {
            return rc::OK;
        };
        let mut event = sys::bEvent { eventType: num };
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
            let mut event = sys::bEvent { eventType: 14 };
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
        // plugin_save: memset 0, pkt_size/pkt_end, portable = true, flags = 0, cmd.
        *self.sp = sys::save_pkt {
            pkt_size: size_of::<sys::save_pkt>() as i32,
            pkt_end: size_of::<sys::save_pkt>() as i32,
            portable: true,
            flags: 0,
            cmd: cmd.as_ptr() as *mut c_char,
            ..Default::default()
        };
        let (f, ctx, spp) = (self.f, self.ctx, &mut *self.sp as *mut sys::save_pkt);
        self.call("startBackupFile", true, || {
            // SAFETY: required entry point; the packet lives in self until the next call.
            unsafe { f.startBackupFile.expect("checked at load")(ctx, spp) }
        })
    }

    fn save_view(&self) -> SaveView {
        let sp = &*self.sp;
        // SAFETY: NUL-terminated strings or NULL, valid until the next startBackupFile; object
        // points to object_len bytes.
        unsafe {
            SaveView {
                fname: c_bytes(sp.fname).map(<[u8]>::to_vec),
                link: c_bytes(sp.link).map(<[u8]>::to_vec),
                ftype: sp.type_,
                stat: stat_record(&sp.statp),
                no_read: sp.no_read,
                sparse: sp.flags & sys::FO_SPARSE != 0,
                offsets: sp.flags & sys::FO_OFFSETS != 0,
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
        // 9.6 presets status to -1 (Bacula note §5 io_pkt).
        let mut io = sys::io_pkt {
            pkt_size: size_of::<sys::io_pkt>() as i32,
            pkt_end: size_of::<sys::io_pkt>() as i32,
            func: req.func,
            count: req.count,
            flags: req.flags,
            mode: req.mode,
            buf: req.buf.cast(),
            fname: req.fname,
            status: -1,
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
        (r, rp.create_status, -1)
    }

    fn set_file_attributes(&mut self, a: &RestoreAttrs, where_: *const c_char) -> (i32, i32) {
        // plugin_set_attributes: a fresh, zeroed packet.
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

    fn before_data(&mut self) {
        let Some(check) = self.f.checkStream else {
            return;
        };
        let mut sp = sys::stream_pkt {
            pkt_size: size_of::<sys::stream_pkt>() as i32,
            stream: 26, // STREAM_PLUGIN_NAME
            pkt_end: size_of::<sys::stream_pkt>() as i32,
        };
        let ctx = self.ctx;
        self.call("checkStream", true, || {
            // SAFETY: optional entry point present; the packet outlives the call.
            unsafe { check(ctx, &mut sp) }
        });
        if sp.stream != 26 {
            self.st.debug(format!(
                "[core] checkStream changed the stream to {}",
                sp.stream
            ));
        }
    }

    /// `backup_acl` then `backup_xattr` (bacl.c, bxattr.c): for a plugin file each calls
    /// `handleXACLdata` **while it answers count > 0**, every answer becoming one stream record
    /// (the core copies `count` bytes of `content`), whatever the FileSet's xattrsupport.
    fn after_data(&mut self, fname: &CStr) -> SavedXattrs {
        let Some(xacl) = self.f.handleXACLdata else {
            return SavedXattrs::default();
        };
        let (st, ctx) = (self.st, self.ctx);
        let shown = fname.to_string_lossy().into_owned();
        let mut records = Vec::new();
        for (func, what) in [(1, "BACL_BACKUP"), (3, "BXATTR_BACKUP")] {
            let mut calls = 0u32;
            loop {
                calls += 1;
                let mut x = sys::xacl_pkt {
                    pkt_size: size_of::<sys::xacl_pkt>() as i32,
                    func,
                    count: 0,
                    content: std::ptr::null_mut(),
                    pkt_end: size_of::<sys::xacl_pkt>() as i32,
                };
                let r = self.call(&format!("handleXACLdata({what})"), calls == 1, || {
                    // SAFETY: optional entry point present; the packet outlives the call.
                    unsafe { xacl(ctx, &mut x) }
                });
                if r != rc::OK {
                    // bRC_BACL/BXATTR_error: a warning with the (cleared) error text.
                    let text = if func == 1 {
                        "No OS ACL configured."
                    } else {
                        "No OS XATTR configured."
                    };
                    st.core_message(msg::M_WARNING, text);
                    break;
                }
                if x.count <= 0 {
                    break;
                }
                if x.content.is_null() {
                    st.violation(format!(
                        "{shown}: handleXACLdata({what}) returned count {} with content NULL \
                         (the core copies from it)",
                        x.count
                    ));
                    break;
                }
                // SAFETY: the plugin promised count bytes at content, valid until its next call.
                let record = unsafe { bytes_at(x.content, x.count) }.unwrap_or_default();
                if record.len() > 1_000_000 {
                    // The storage daemon refuses the message and hangs up.
                    st.core_message(
                        msg::M_FATAL,
                        &format!(
                            "Packet size={} too big from \"client:127.0.0.1:9102\". Maximum \
                             permitted 1000000. Terminating connection.",
                            record.len()
                        ),
                    );
                    st.set_canceled();
                    return SavedXattrs::default();
                }
                if func == 1 {
                    st.debug(format!(
                        "[core] {shown}: plugin ACL record of {} bytes (stored, not replayed)",
                        record.len()
                    ));
                } else {
                    records.push(record);
                }
                if calls >= 10_000 {
                    st.violation(format!(
                        "{shown}: handleXACLdata({what}) never answered count 0 (the core \
                         calls it again while count > 0)"
                    ));
                    break;
                }
            }
            if calls > 1 {
                st.trace(format!("handleXACLdata({what}) x{calls}"));
            }
        }
        let mut pairs = Vec::new();
        for record in &records {
            match fd_ffi::xattr::decode_record(record) {
                Ok(list) => pairs.extend(list),
                Err(e) => st.debug(format!(
                    "[core] {shown}: xattr record of {} bytes is not in the SDK's format: {e}",
                    record.len()
                )),
            }
        }
        SavedXattrs { pairs, records }
    }

    /// `pop_delayed_data_streams` (restore.c): one `handleXACLdata(BXATTR_RESTORE)` per stored
    /// record, with a copy of it (`count` = its length).
    fn restore_xattrs(&mut self, file: &SavedFile, ofname: &CStr) {
        let Some(xacl) = self.f.handleXACLdata else {
            return;
        };
        let (st, ctx) = (self.st, self.ctx);
        for record in &file.xattr_records {
            let mut content = record.clone();
            let mut x = sys::xacl_pkt {
                pkt_size: size_of::<sys::xacl_pkt>() as i32,
                func: 4,
                count: content.len() as i32,
                content: content.as_mut_ptr().cast(),
                pkt_end: size_of::<sys::xacl_pkt>() as i32,
            };
            let r = self.call("handleXACLdata(BXATTR_RESTORE)", true, || {
                // SAFETY: optional entry point present; the packet and buffer outlive the call.
                unsafe { xacl(ctx, &mut x) }
            });
            if r != rc::OK {
                st.core_message(
                    msg::M_WARNING,
                    &format!(
                        "(the core's last error text: handleXACLdata(BXATTR_RESTORE) returned \
                         {r} for \"{}\")",
                        ofname.to_string_lossy()
                    ),
                );
            }
        }
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
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbering_matches_the_bindings() {
        assert_eq!(
            event_number(Ev::RestoreObject),
            Some(sys::bEventRestoreObject)
        );
        assert_eq!(event_number(Ev::EndFileSet), Some(sys::bEventEndFileSet));
        assert_eq!(
            event_number(Ev::PluginCommand),
            Some(sys::bEventPluginCommand)
        );
        assert_eq!(
            event_number(Ev::CancelCommand),
            Some(sys::bEventCancelCommand)
        );
        assert_eq!(event_number(Ev::NewPluginOptions), None);
        assert_eq!(sys::bVarWorkingDir, 13);
        assert_eq!(sys::bVarWhere, 14);
        assert_eq!(sys::bVarPrevJobName, 20);
        assert_eq!(sys::bVarReplace, 24);
        assert_eq!(size_of::<sys::bFuncs>(), 144);
        assert_eq!(size_of::<sys::save_pkt>(), 240);
        assert_eq!(size_of::<sys::restore_pkt>(), 232);
        assert_eq!(size_of::<sys::io_pkt>(), 72);
    }
}
