//! The core callbacks and the plugin-side calls both daemons share, written once over [`Abi`].
//!
//! Each daemon's plugin ABI is one implementation of [`Abi`]: `bareos_host` (Bareos plugin
//! interface 10) and `bacula_host` (Bacula 9.6, interface 14). What the two ABIs have in common
//! is written here: the callbacks of the core table that behave alike (messages, memory,
//! `get*Value`, `AddExclude` & co., `checkChanges`, `AcceptFile`), and [`HostJob`], which makes the driver's
//! calls into the plugin with the ABI's packets. The packets' fields of the same name are read
//! and written by [`abi_packets!`], expanded once in each ABI's implementation. What differs (the
//! context and tables, event and variable numbering, event registration, `set*Value`, the flags
//! of the save packet, the xattr and ACL route) stays with each ABI. Numbers and behaviour:
//! docs/abi.md.

use std::ffi::{c_char, c_int, c_uint, c_void, CStr};

use super::driver::{Ev, IoReq, PluginJob, RestoreAttrs, SaveView, SavedXattrs};
use super::job::{self, daemon_strings, Addr, ChangeQuery, DaemonStrings, JobState, Origin};
use super::{msg, rc, Flavour, RestoreObjectRecord, SavedFile, StatRecord};

/// One daemon's plugin ABI: its types and numbering, and the steps in which it differs from the
/// other. The items marked "from [`abi_packets!`]" read and write the fields both ABIs name
/// alike; the rest each ABI writes itself.
pub(crate) trait Abi: Sized + 'static {
    /// The context handed to every call (`PluginContext` / `bpContext`).
    type Ctx: 'static;
    /// The plugin's table of entry points, as `loadPlugin` returns it.
    type Funcs: 'static + Sync;
    /// The core's tables handed to `loadPlugin` (`bInfo`-like header, callbacks).
    type CoreInfo;
    type CoreFuncs;
    /// From [`abi_packets!`]: the packets.
    type Event;
    type SavePkt: Default;
    type RestorePkt;
    type IoPkt;
    type RestoreObjectPkt;

    const FLAVOUR: Flavour;
    /// The plugin interface version: of the core's tables and the one the daemon accepts.
    const VERSION: u32;
    /// The name of the core's `get*Value` callback (for violations).
    const GET_VALUE: &'static str;
    /// Whether `get*Value` of a daemon-wide variable still fails without a job context (Bacula
    /// writes the value, then returns bRC_Error; Bareos answers OK).
    const DAEMON_VALUES_NEED_CONTEXT: bool;
    /// The name of the context's field that holds the core's pointer (for violations).
    const CORE_SLOT: &'static str;
    /// The core's fatal message when `checkChanges` gets a packet without `fname` (`None`: the
    /// call fails without one).
    const CHECK_CHANGES_NO_FNAME: Option<&'static str>;

    /// The core's static tables, made once.
    fn core_tables() -> (*mut Self::CoreInfo, *mut Self::CoreFuncs);
    /// A fresh context whose core slot holds `core`.
    fn new_context(core: *mut c_void) -> Self::Ctx;
    /// The context's core slot now.
    fn core_slot(ctx: &Self::Ctx) -> *mut c_void;
    /// The ABI's number of `ev` (`None`: the ABI has no such event).
    fn event_number(ev: Ev) -> Option<u32>;
    /// What the ABI's `get*Value` variable number `var` means.
    fn variable(var: u32) -> Var;
    /// The daemon's version string (`bVarVersion`).
    fn version(d: &'static DaemonStrings) -> &'static CStr;

    /// From [`abi_packets!`]: the entry points the core calls through this module.
    fn entries(f: &'static Self::Funcs) -> Entries<Self>;
    /// From [`abi_packets!`]: `size` and `version` of the plugin's table.
    fn funcs_header(f: &Self::Funcs) -> (u32, u32);
    /// From [`abi_packets!`]: `bEvent`.
    fn event(num: u32) -> Self::Event;
    /// From [`abi_packets!`]: the save packet as the core presets it (`cmd`, sizes, portable),
    /// before [`Abi::preset_save_flags`].
    fn save_pkt(cmd: &CStr) -> Self::SavePkt;
    /// From [`abi_packets!`]: the save packet after `startBackupFile`.
    fn save_view(sp: &Self::SavePkt) -> SaveView;
    /// From [`abi_packets!`]: `sp->fname`, `sp->link`, `sp->statp`.
    fn save_names(sp: &Self::SavePkt) -> (*const c_char, *const c_char, &libc::stat);
    /// From [`abi_packets!`]: what `checkChanges` writes back (`delta_seq`, `accurate_found`).
    fn set_change_result(sp: &mut Self::SavePkt, found: bool);
    /// From [`abi_packets!`]: the `io_pkt` of `req`, before [`Abi::preset_io`].
    fn io_pkt(req: &IoReq) -> Self::IoPkt;
    /// From [`abi_packets!`]: copies the plugin's answer back (status, errno, offset), then
    /// [`Abi::io_filedes`].
    fn io_result(io: &Self::IoPkt, req: &mut IoReq);
    /// From [`abi_packets!`]: the `restore_pkt` of a file, before [`Abi::preset_restore`].
    fn restore_pkt(a: &RestoreAttrs, where_: *const c_char) -> Self::RestorePkt;
    /// From [`abi_packets!`]: `rp->create_status`.
    fn create_status(rp: &Self::RestorePkt) -> i32;
    /// From [`abi_packets!`]: the `restore_object_pkt` of `obj`, whose name and data (each
    /// NUL-terminated) are at `name` and `data`.
    fn restore_object_pkt(
        obj: &RestoreObjectRecord,
        name: *mut c_char,
        data: *mut c_char,
        cmd: &CStr,
    ) -> Self::RestoreObjectPkt;

    /// The FO bits the emulated Include block sets in a fresh save packet.
    fn preset_save_flags(_sp: &mut Self::SavePkt, _xattrs: bool) {}
    /// `FO_SPARSE` and `FO_OFFSETS` as the plugin left them.
    fn sparse_offsets(sp: &Self::SavePkt) -> (bool, bool);
    /// `sp->save_time` as `checkChanges` compares it (0: the job's since time).
    fn save_time(_sp: &Self::SavePkt) -> i64 {
        0
    }
    /// What the ABI presets in an `io_pkt` beyond the shared fields.
    fn preset_io(io: &mut Self::IoPkt, req: &IoReq);
    /// The plugin's `filedes` answer, where the ABI has one.
    fn io_filedes(_io: &Self::IoPkt, _req: &mut IoReq) {}
    /// What the ABI presets in a `restore_pkt` beyond the shared fields.
    fn preset_restore(_rp: &mut Self::RestorePkt) {}
    /// `rp->filedes` after `createFile` (-1 where the ABI has none).
    fn created_filedes(_rp: &Self::RestorePkt) -> i32 {
        -1
    }

    /// Before the data of an entry (Bacula: `checkStream`).
    fn before_data(_job: &mut HostJob<Self>) {}
    /// After the data of an entry whose open succeeded (or that has none): the xattr (and ACL)
    /// route of the ABI. Returns what the core stored.
    fn after_data(job: &mut HostJob<Self>, fname: &CStr) -> SavedXattrs;
    /// Restore: hands the file's stored xattrs back to the plugin.
    fn restore_xattrs(job: &mut HostJob<Self>, file: &SavedFile, ofname: &CStr);
}

/// The plugin entry points the shared calls use, typed for ABI `A`.
pub(crate) struct Entries<A: Abi> {
    pub new_plugin: Option<unsafe extern "C" fn(*mut A::Ctx) -> c_int>,
    pub free_plugin: Option<unsafe extern "C" fn(*mut A::Ctx) -> c_int>,
    pub handle_plugin_event:
        Option<unsafe extern "C" fn(*mut A::Ctx, *mut A::Event, *mut c_void) -> c_int>,
    pub start_backup_file: Option<unsafe extern "C" fn(*mut A::Ctx, *mut A::SavePkt) -> c_int>,
    pub end_backup_file: Option<unsafe extern "C" fn(*mut A::Ctx) -> c_int>,
    pub start_restore_file: Option<unsafe extern "C" fn(*mut A::Ctx, *const c_char) -> c_int>,
    pub end_restore_file: Option<unsafe extern "C" fn(*mut A::Ctx) -> c_int>,
    pub plugin_io: Option<unsafe extern "C" fn(*mut A::Ctx, *mut A::IoPkt) -> c_int>,
    pub create_file: Option<unsafe extern "C" fn(*mut A::Ctx, *mut A::RestorePkt) -> c_int>,
    pub set_file_attributes: Option<unsafe extern "C" fn(*mut A::Ctx, *mut A::RestorePkt) -> c_int>,
    pub check_file: Option<unsafe extern "C" fn(*mut A::Ctx, *mut c_char) -> c_int>,
}

impl<A: Abi> Clone for Entries<A> {
    fn clone(&self) -> Self {
        *self
    }
}

impl<A: Abi> Copy for Entries<A> {}

impl<A: Abi> Entries<A> {
    /// The entry points the daemons call without a NULL check, and whether each is present.
    pub(crate) fn required(&self) -> [(&'static str, bool); 10] {
        [
            ("newPlugin", self.new_plugin.is_some()),
            ("freePlugin", self.free_plugin.is_some()),
            ("handlePluginEvent", self.handle_plugin_event.is_some()),
            ("startBackupFile", self.start_backup_file.is_some()),
            ("endBackupFile", self.end_backup_file.is_some()),
            ("startRestoreFile", self.start_restore_file.is_some()),
            ("endRestoreFile", self.end_restore_file.is_some()),
            ("pluginIO", self.plugin_io.is_some()),
            ("createFile", self.create_file.is_some()),
            ("setFileAttributes", self.set_file_attributes.is_some()),
        ]
    }
}

/// The [`Abi`] items that read and write the fields both ABIs name alike; expanded inside each
/// `impl Abi`, with the ABI's bindings module.
macro_rules! abi_packets {
    ($sys:ident) => {
        type Event = $sys::bEvent;
        type SavePkt = $sys::save_pkt;
        type RestorePkt = $sys::restore_pkt;
        type IoPkt = $sys::io_pkt;
        type RestoreObjectPkt = $sys::restore_object_pkt;

        fn entries(f: &'static Self::Funcs) -> $crate::harness::host::Entries<Self> {
            $crate::harness::host::Entries {
                new_plugin: f.newPlugin,
                free_plugin: f.freePlugin,
                handle_plugin_event: f.handlePluginEvent,
                start_backup_file: f.startBackupFile,
                end_backup_file: f.endBackupFile,
                start_restore_file: f.startRestoreFile,
                end_restore_file: f.endRestoreFile,
                plugin_io: f.pluginIO,
                create_file: f.createFile,
                set_file_attributes: f.setFileAttributes,
                check_file: f.checkFile,
            }
        }

        fn funcs_header(f: &Self::Funcs) -> (u32, u32) {
            (f.size, f.version)
        }

        fn event(num: u32) -> $sys::bEvent {
            $sys::bEvent { eventType: num }
        }

        fn save_pkt(cmd: &::std::ffi::CStr) -> $sys::save_pkt {
            $sys::save_pkt {
                pkt_size: ::std::mem::size_of::<$sys::save_pkt>() as i32,
                pkt_end: ::std::mem::size_of::<$sys::save_pkt>() as i32,
                portable: true,
                cmd: cmd.as_ptr() as *mut ::std::ffi::c_char,
                ..Default::default()
            }
        }

        fn save_view(sp: &$sys::save_pkt) -> $crate::harness::driver::SaveView {
            use $crate::harness::host::{bytes_at, c_bytes, stat_record};
            let (sparse, offsets) = Self::sparse_offsets(sp);
            // SAFETY: the plugin promised NUL-terminated strings (or NULL) valid until the next
            // startBackupFile; object points to object_len bytes.
            unsafe {
                $crate::harness::driver::SaveView {
                    fname: c_bytes(sp.fname).map(<[u8]>::to_vec),
                    link: c_bytes(sp.link).map(<[u8]>::to_vec),
                    ftype: sp.type_,
                    stat: stat_record(&sp.statp),
                    no_read: sp.no_read,
                    sparse,
                    offsets,
                    object_name: c_bytes(sp.object_name).map(<[u8]>::to_vec),
                    object: bytes_at(sp.object, sp.object_len),
                    index: sp.index,
                    pkt_size: sp.pkt_size,
                    pkt_end: sp.pkt_end,
                    expected_size: ::std::mem::size_of::<$sys::save_pkt>() as i32,
                }
            }
        }

        fn save_names(
            sp: &$sys::save_pkt,
        ) -> (
            *const ::std::ffi::c_char,
            *const ::std::ffi::c_char,
            &::libc::stat,
        ) {
            (sp.fname, sp.link, &sp.statp)
        }

        fn set_change_result(sp: &mut $sys::save_pkt, found: bool) {
            sp.delta_seq = 0;
            sp.accurate_found = found;
        }

        fn io_pkt(req: &$crate::harness::driver::IoReq) -> $sys::io_pkt {
            let mut io = $sys::io_pkt {
                pkt_size: ::std::mem::size_of::<$sys::io_pkt>() as i32,
                pkt_end: ::std::mem::size_of::<$sys::io_pkt>() as i32,
                func: req.func,
                count: req.count,
                flags: req.flags,
                mode: req.mode,
                buf: req.buf.cast(),
                fname: req.fname,
                ..Default::default()
            };
            Self::preset_io(&mut io, req);
            io
        }

        fn io_result(io: &$sys::io_pkt, req: &mut $crate::harness::driver::IoReq) {
            req.status = io.status;
            req.io_errno = io.io_errno;
            req.offset = io.offset;
            Self::io_filedes(io, req);
        }

        fn restore_pkt(
            a: &$crate::harness::driver::RestoreAttrs,
            where_: *const ::std::ffi::c_char,
        ) -> $sys::restore_pkt {
            let mut rp = $sys::restore_pkt {
                pkt_size: ::std::mem::size_of::<$sys::restore_pkt>() as i32,
                pkt_end: ::std::mem::size_of::<$sys::restore_pkt>() as i32,
                stream: a.stream,
                data_stream: a.data_stream,
                type_: a.ftype,
                file_index: a.file_index,
                uid: a.stat.uid,
                statp: $crate::harness::host::stat_from(&a.stat),
                attrEx: a.attr_ex.as_ptr(),
                ofname: a.ofname.as_ptr(),
                olname: a.olname.as_ptr(),
                where_,
                RegexWhere: ::std::ptr::null(),
                replace: ::std::ffi::c_int::from(a.replace),
                create_status: 2, // CF_ERROR preset
                // LinkFI and delta_seq: 0
                ..Default::default()
            };
            Self::preset_restore(&mut rp);
            rp
        }

        fn create_status(rp: &$sys::restore_pkt) -> i32 {
            rp.create_status
        }

        fn restore_object_pkt(
            obj: &$crate::harness::RestoreObjectRecord,
            name: *mut ::std::ffi::c_char,
            data: *mut ::std::ffi::c_char,
            cmd: &::std::ffi::CStr,
        ) -> $sys::restore_object_pkt {
            $sys::restore_object_pkt {
                pkt_size: ::std::mem::size_of::<$sys::restore_object_pkt>() as i32,
                pkt_end: ::std::mem::size_of::<$sys::restore_object_pkt>() as i32,
                object_name: name,
                object: data,
                plugin_name: cmd.as_ptr() as *mut ::std::ffi::c_char,
                object_type: obj.ftype,
                object_len: obj.object.len() as i32,
                object_full_len: obj.object.len() as i32,
                object_index: obj.index,
                object_compression: 0,
                stream: 0,
                JobId: obj.job_id,
            }
        }
    };
}
pub(crate) use abi_packets;

// ------------------------------------------------------------------------- packet helpers

/// Reads a C string the plugin passed (NULL → None).
///
/// # Safety
/// `p` is NULL or a NUL-terminated string valid for the duration of the callback.
pub(crate) unsafe fn c_bytes<'a>(p: *const c_char) -> Option<&'a [u8]> {
    // SAFETY: per the function contract.
    (!p.is_null()).then(|| unsafe { CStr::from_ptr(p) }.to_bytes())
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

pub(crate) fn stat_record(s: &libc::stat) -> StatRecord {
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

// ------------------------------------------------------------------------------ callbacks

/// The variables of `get*Value` the emulated core answers, by meaning; each ABI numbers them
/// ([`Abi::variable`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Var {
    JobId,
    FdName,
    Level,
    Type,
    Client,
    JobName,
    JobStatus,
    Since,
    Accurate,
    WorkingDir,
    Where,
    RegexWhere,
    ExePath,
    Version,
    DistName,
    PrevJobName,
    PrefixLinks,
    CheckChanges,
    UsedConfig,
    PluginPath,
    Interactive,
    JobFiles,
    Replace,
    /// Answered with bRC_Error (VSS variables: Windows only; a removed one).
    Refused,
    /// Write-only, a placeholder or unknown: OK with a job context, the value untouched.
    Untouched,
}

impl Ev {
    /// The events both daemons number alike (1–14).
    pub(crate) fn numbered_alike(self) -> Option<u32> {
        Some(match self {
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
            _ => return None,
        })
    }
}

impl Var {
    /// Variables 1–9, which both daemons number alike.
    pub(crate) fn numbered_alike(var: u32) -> Option<Var> {
        const FIRST: [Var; 9] = [
            Var::JobId,
            Var::FdName,
            Var::Level,
            Var::Type,
            Var::Client,
            Var::JobName,
            Var::JobStatus,
            Var::Since,
            Var::Accurate,
        ];
        FIRST.get((var as usize).wrapping_sub(1)).copied()
    }
}

/// Where `get*Value` writes its answer.
pub(crate) struct ValueOut(pub *mut c_void);

impl ValueOut {
    /// A string variable: the plugin passes a `char**`.
    pub(crate) fn put_str(&self, s: *const c_char) {
        // SAFETY: the plugin passes a writable `char**` for string variables.
        unsafe { *self.0.cast::<*const c_char>() = s };
    }

    /// An integer variable: the plugin passes an `int*`.
    pub(crate) fn put_int(&self, v: i32) {
        // SAFETY: the plugin passes a writable `int*` for integer variables.
        unsafe { *self.0.cast::<c_int>() = v };
    }
}

/// The job of a callback's context, checking that the plugin left the core's slot alone.
pub(crate) fn job_of<A: Abi>(ctx: *mut A::Ctx, name: &str) -> Option<&'static JobState> {
    let job = job::for_callback(ctx as usize, name)?;
    if !ctx.is_null() {
        // SAFETY: ctx was found in the registry, so it is a live context the harness allocated.
        let core = A::core_slot(unsafe { &*ctx });
        if !std::ptr::eq(core.cast_const().cast::<JobState>(), job) {
            job.violation(format!(
                "{name}: the plugin overwrote ctx->{}",
                A::CORE_SLOT
            ));
        }
    }
    Some(job)
}

/// `JobMessage`, after the C shim formatted it.
pub(crate) unsafe extern "C" fn sink_job_message<A: Abi>(
    ctx: *mut c_void,
    _file: *const c_char,
    _line: c_int,
    mtype: c_int,
    _mtime: i64,
    text: *const c_char,
) -> c_int {
    let Some(job) = job_of::<A>(ctx.cast(), "JobMessage") else {
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

/// `DebugMessage`, after the C shim formatted it.
pub(crate) unsafe extern "C" fn sink_debug_message<A: Abi>(
    ctx: *mut c_void,
    _file: *const c_char,
    _line: c_int,
    level: c_int,
    text: *const c_char,
) -> c_int {
    let Some(job) = job_of::<A>(ctx.cast(), "DebugMessage") else {
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

pub(crate) unsafe extern "C" fn core_malloc<A: Abi>(
    _ctx: *mut A::Ctx,
    _file: *const c_char,
    _line: c_int,
    size: usize,
) -> *mut c_void {
    // SAFETY: plain malloc, as the core does.
    unsafe { libc::malloc(size) }
}

pub(crate) unsafe extern "C" fn core_free<A: Abi>(
    _ctx: *mut A::Ctx,
    _file: *const c_char,
    _line: c_int,
    mem: *mut c_void,
) {
    // SAFETY: plain free of memory from the core's malloc (or malloc), as the core does.
    unsafe { libc::free(mem) }
}

/// `get*Value` (docs/abi.md, the variables of each daemon).
pub(crate) unsafe extern "C" fn get_value<A: Abi>(
    ctx: *mut A::Ctx,
    var: c_uint,
    value: *mut c_void,
) -> c_int {
    let job = job_of::<A>(ctx, A::GET_VALUE);
    if value.is_null() {
        return rc::ERROR;
    }
    let var = A::variable(var);
    if var == Var::Refused {
        return rc::ERROR;
    }
    let d = daemon_strings();
    let out = ValueOut(value);
    // Daemon-wide variables.
    let daemon = match var {
        Var::FdName => Some(d.fd_name.as_ptr()),
        Var::WorkingDir => Some(d.working_dir.as_ptr()),
        Var::ExePath => Some(d.exe_path.as_ptr()),
        Var::Version => Some(A::version(d).as_ptr()),
        Var::DistName => Some(d.dist_name.as_ptr()),
        Var::UsedConfig => Some(d.used_config.as_ptr()),
        Var::PluginPath => Some(match job {
            Some(job) => job.plugin_dir.as_ptr(),
            None => c"/usr/lib/bareos/plugins".as_ptr(),
        }),
        _ => None,
    };
    if let Some(s) = daemon {
        out.put_str(s);
        if !A::DAEMON_VALUES_NEED_CONTEXT {
            return rc::OK;
        }
    }
    let Some(job) = job.filter(|_| !ctx.is_null()) else {
        if let (Var::CheckChanges, Some(job)) = (var, job) {
            job.violation(format!(
                "{}(bVarCheckChanges) with a NULL context (the core dereferences it)",
                A::GET_VALUE
            ));
        }
        return rc::ERROR;
    };
    match var {
        Var::JobId => out.put_int(job.job_id as i32),
        Var::Level => out.put_int(i32::from(job.level)),
        Var::Type => out.put_int(i32::from(job.job_type)),
        Var::Client => out.put_str(job.strings.client.as_ptr()),
        Var::JobName => out.put_str(job.strings.job_name.as_ptr()),
        Var::JobStatus => out.put_int(i32::from(job.status())),
        Var::Since => out.put_int(job.since as i32), // 32-bit, truncated like the core
        Var::Accurate => out.put_int(i32::from(job.accurate)),
        Var::Where => out.put_str(job.where_ptr()),
        Var::RegexWhere => out.put_str(std::ptr::null()), // never filled by the fd
        Var::PrevJobName => out.put_str(job.strings.prev_job_name.as_ptr()),
        Var::PrefixLinks => out.put_int(0),
        // SAFETY: bVarCheckChanges writes a C++ bool.
        Var::CheckChanges => unsafe { *value.cast::<bool>() = job.check_changes_enabled() },
        Var::Interactive => out.put_int(job.interactive()),
        Var::JobFiles => out.put_int(job.job_files()),
        Var::Replace => out.put_int(i32::from(job.replace)),
        // Daemon-wide ones (written above), Untouched.
        _ => {}
    }
    rc::OK
}

/// AddExclude & co.: only while the FileSet is being built (during bEventPluginCommand).
fn fileset_call<A: Abi>(ctx: *mut A::Ctx, name: &str, arg: *const c_char) -> c_int {
    let Some(job) = job_of::<A>(ctx, name) else {
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

pub(crate) unsafe extern "C" fn add_exclude<A: Abi>(
    ctx: *mut A::Ctx,
    file: *const c_char,
) -> c_int {
    fileset_call::<A>(ctx, "AddExclude", file)
}
pub(crate) unsafe extern "C" fn add_include<A: Abi>(
    ctx: *mut A::Ctx,
    file: *const c_char,
) -> c_int {
    fileset_call::<A>(ctx, "AddInclude", file)
}
pub(crate) unsafe extern "C" fn add_options<A: Abi>(
    ctx: *mut A::Ctx,
    opts: *const c_char,
) -> c_int {
    fileset_call::<A>(ctx, "AddOptions", opts)
}
pub(crate) unsafe extern "C" fn add_regex<A: Abi>(
    ctx: *mut A::Ctx,
    item: *const c_char,
    _type: c_int,
) -> c_int {
    fileset_call::<A>(ctx, "AddRegex", item)
}
pub(crate) unsafe extern "C" fn add_wild<A: Abi>(
    ctx: *mut A::Ctx,
    item: *const c_char,
    _type: c_int,
) -> c_int {
    fileset_call::<A>(ctx, "AddWild", item)
}
pub(crate) unsafe extern "C" fn new_options<A: Abi>(ctx: *mut A::Ctx) -> c_int {
    fileset_call::<A>(ctx, "NewOptions", std::ptr::null())
}
pub(crate) unsafe extern "C" fn new_include<A: Abi>(ctx: *mut A::Ctx) -> c_int {
    fileset_call::<A>(ctx, "NewInclude", std::ptr::null())
}
pub(crate) unsafe extern "C" fn new_pre_include<A: Abi>(ctx: *mut A::Ctx) -> c_int {
    fileset_call::<A>(ctx, "NewPreInclude", std::ptr::null())
}

/// `checkChanges` (docs/abi.md, accurate mode): compares the packet with the accurate list and
/// writes `accurate_found` back.
pub(crate) unsafe extern "C" fn check_changes<A: Abi>(
    ctx: *mut A::Ctx,
    sp: *mut A::SavePkt,
) -> c_int {
    let Some(job) = job_of::<A>(ctx, "checkChanges") else {
        return rc::ERROR;
    };
    if sp.is_null() || ctx.is_null() {
        return rc::ERROR;
    }
    // SAFETY: the plugin passes its (our) save packet, valid during the call.
    let sp = unsafe { &mut *sp };
    let (fname, link, statp) = A::save_names(sp);
    // SAFETY: fname/link are NUL-terminated strings or NULL.
    let Some(fname) = (unsafe { c_bytes(fname) }) else {
        if let Some(text) = A::CHECK_CHANGES_NO_FNAME {
            job.core_message(msg::M_FATAL, text);
        }
        return rc::ERROR;
    };
    // SAFETY: as above.
    let link = unsafe { c_bytes(link) };
    let q = ChangeQuery {
        fname,
        link,
        is_dir: statp.st_mode & libc::S_IFMT == libc::S_IFDIR,
        mtime: statp.st_mtime,
        ctime: statp.st_ctime,
        size: statp.st_size,
        save_time: A::save_time(sp),
    };
    let (result, found) = job.check_changes(&q);
    A::set_change_result(sp, found);
    result
}

pub(crate) unsafe extern "C" fn accept_file<A: Abi>(
    ctx: *mut A::Ctx,
    sp: *mut A::SavePkt,
) -> c_int {
    let Some(_job) = job_of::<A>(ctx, "AcceptFile") else {
        return rc::ERROR;
    };
    if sp.is_null() {
        return rc::ERROR;
    }
    // No wild/regex options in the emulated Include block: everything is accepted.
    rc::OK
}

// --------------------------------------------------------------------------------- the job

/// One job's context and packets for a plugin of ABI `A`.
pub(crate) struct HostJob<A: Abi> {
    /// The plugin's table (for the entry points only one ABI has).
    pub(crate) f: &'static A::Funcs,
    e: Entries<A>,
    pub(crate) ctx: *mut A::Ctx,
    pub(crate) st: &'static JobState,
    sp: Box<A::SavePkt>,
    /// The Include block's `xattrsupport`.
    pub(crate) xattrs: bool,
}

impl<A: Abi> HostJob<A> {
    pub(crate) fn new(f: &'static A::Funcs, st: &'static JobState) -> Self {
        // The context is leaked like the job state (see job.rs): stale plugin pointers to it
        // stay valid memory.
        let ctx = Box::leak(Box::new(A::new_context(
            st as *const JobState as *mut c_void,
        )));
        job::register_context(ctx as *mut A::Ctx as usize, st);
        HostJob {
            f,
            e: A::entries(f),
            ctx,
            st,
            sp: Box::default(),
            xattrs: true,
        }
    }

    /// Calls into the plugin under the watchdog and checks the answer.
    pub(crate) fn call(&self, label: &str, trace: bool, f: impl FnOnce() -> c_int) -> i32 {
        let r = self.st.call(label, trace, f);
        self.st.check_rc(label, r)
    }
}

impl<A: Abi> PluginJob for HostJob<A> {
    fn state(&self) -> &'static JobState {
        self.st
    }

    fn event_number(&self, ev: Ev) -> Option<u32> {
        A::event_number(ev)
    }

    fn raw_event(&mut self, ev: Ev, value: *mut c_void) -> i32 {
        let Some(num) = A::event_number(ev) else {
            return rc::OK;
        };
        let mut event = A::event(num);
        let (handle, ctx) = (self.e.handle_plugin_event, self.ctx);
        self.call(&format!("handlePluginEvent({ev:?})"), true, || {
            // SAFETY: required entry point (checked at load); live context; event and value
            // valid for the call.
            unsafe { handle.expect("checked at load")(ctx, &mut event, value) }
        })
    }

    fn cancel_call(&self) -> Box<dyn FnOnce() -> i32 + Send> {
        let (handle, ctx, st) = (self.e.handle_plugin_event, Addr::of(self.ctx), self.st);
        let num = A::event_number(Ev::CancelCommand).expect("both ABIs have CancelCommand");
        Box::new(move || {
            let mut event = A::event(num);
            let r = st.call(
                "handlePluginEvent(CancelCommand) [cancel thread]",
                true,
                || {
                    // SAFETY: the context stays alive; the job thread waits for this call.
                    unsafe {
                        handle.expect("checked at load")(
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
        let (f, ctx) = (self.e.new_plugin, self.ctx);
        // SAFETY: required entry point; fresh context.
        self.call("newPlugin", true, || unsafe {
            f.expect("checked at load")(ctx)
        })
    }

    fn free_plugin(&mut self) -> i32 {
        let (f, ctx) = (self.e.free_plugin, self.ctx);
        // SAFETY: required entry point; live context.
        self.call("freePlugin", true, || unsafe {
            f.expect("checked at load")(ctx)
        })
    }

    fn start_backup_file(&mut self, cmd: &CStr) -> i32 {
        // A fresh packet as the core builds it for each entry (docs/abi.md, the save packet).
        let mut sp = A::save_pkt(cmd);
        A::preset_save_flags(&mut sp, self.xattrs);
        *self.sp = sp;
        let (f, ctx, spp) = (
            self.e.start_backup_file,
            self.ctx,
            &mut *self.sp as *mut A::SavePkt,
        );
        self.call("startBackupFile", true, || {
            // SAFETY: required entry point; the packet lives in self until the next call.
            unsafe { f.expect("checked at load")(ctx, spp) }
        })
    }

    fn save_view(&self) -> SaveView {
        A::save_view(&self.sp)
    }

    fn fname_now(&self) -> Option<Vec<u8>> {
        // SAFETY: as in save_view.
        unsafe { c_bytes(A::save_names(&self.sp).0) }.map(<[u8]>::to_vec)
    }

    fn end_backup_file(&mut self) -> i32 {
        let (f, ctx) = (self.e.end_backup_file, self.ctx);
        // SAFETY: required entry point; live context.
        self.call("endBackupFile", true, || unsafe {
            f.expect("checked at load")(ctx)
        })
    }

    fn io(&mut self, req: &mut IoReq, trace: bool) -> i32 {
        let mut io = A::io_pkt(req);
        let (f, ctx) = (self.e.plugin_io, self.ctx);
        let r = self.call(req.label(), trace, || {
            // SAFETY: required entry point; the packet and its buffer outlive the call.
            unsafe { f.expect("checked at load")(ctx, &mut io) }
        });
        A::io_result(&io, req);
        r
    }

    fn has_check_file(&self) -> bool {
        self.e.check_file.is_some()
    }

    fn check_file(&mut self, name: &CStr) -> i32 {
        let ctx = self.ctx;
        let Some(check) = self.e.check_file else {
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
        let mut rop =
            A::restore_object_pkt(obj, name.as_mut_ptr().cast(), data.as_mut_ptr().cast(), cmd);
        self.raw_event(
            Ev::RestoreObject,
            (&mut rop as *mut A::RestoreObjectPkt).cast(),
        )
    }

    fn start_restore_file(&mut self, cmd: &CStr) -> i32 {
        let (f, ctx) = (self.e.start_restore_file, self.ctx);
        self.call("startRestoreFile", true, || {
            // SAFETY: required entry point; cmd outlives the call.
            unsafe { f.expect("checked at load")(ctx, cmd.as_ptr()) }
        })
    }

    fn create_file(&mut self, a: &RestoreAttrs, where_: *const c_char) -> (i32, i32, i32) {
        let mut rp = A::restore_pkt(a, where_);
        let (f, ctx) = (self.e.create_file, self.ctx);
        let r = self.call(
            &format!("createFile({})", a.ofname.to_string_lossy()),
            true,
            || {
                // SAFETY: required entry point; the packet and its strings outlive the call.
                unsafe { f.expect("checked at load")(ctx, &mut rp) }
            },
        );
        (r, A::create_status(&rp), A::created_filedes(&rp))
    }

    fn set_file_attributes(&mut self, a: &RestoreAttrs, where_: *const c_char) -> (i32, i32) {
        // Both daemons build a fresh packet here.
        let mut rp = A::restore_pkt(a, where_);
        let (f, ctx) = (self.e.set_file_attributes, self.ctx);
        let r = self.call("setFileAttributes", true, || {
            // SAFETY: required entry point; the packet and its strings outlive the call.
            unsafe { f.expect("checked at load")(ctx, &mut rp) }
        });
        (r, A::create_status(&rp))
    }

    fn end_restore_file(&mut self) -> i32 {
        let (f, ctx) = (self.e.end_restore_file, self.ctx);
        // SAFETY: required entry point; live context.
        self.call("endRestoreFile", true, || unsafe {
            f.expect("checked at load")(ctx)
        })
    }

    fn set_xattr_support(&mut self, on: bool) {
        self.xattrs = on;
    }

    fn before_data(&mut self) {
        A::before_data(self);
    }

    fn after_data(&mut self, fname: &CStr) -> SavedXattrs {
        A::after_data(self, fname)
    }

    fn restore_xattrs(&mut self, file: &SavedFile, ofname: &CStr) {
        A::restore_xattrs(self, file, ofname);
    }
}

#[cfg(test)]
mod tests {
    use super::super::bacula_host::Bacula;
    use super::super::bareos_host::Bareos;
    use super::*;

    #[test]
    fn every_event_has_its_abi_number() {
        use Ev::*;
        let table = [
            (JobStart, Some(1), Some(1)),
            (JobEnd, Some(2), Some(2)),
            (StartBackupJob, Some(3), Some(3)),
            (EndBackupJob, Some(4), Some(4)),
            (StartRestoreJob, Some(5), Some(5)),
            (EndRestoreJob, Some(6), Some(6)),
            (BackupCommand, Some(9), Some(9)),
            (RestoreCommand, Some(10), Some(10)),
            (EstimateCommand, Some(11), Some(11)),
            (Level, Some(12), Some(12)),
            (Since, Some(13), Some(13)),
            (CancelCommand, Some(14), Some(14)),
            (RestoreObject, Some(15), Some(18)),
            (EndFileSet, Some(16), Some(19)),
            (PluginCommand, Some(17), Some(20)),
            (NewPluginOptions, Some(20), None),
        ];
        for (ev, bareos, bacula) in table {
            assert_eq!(Bareos::event_number(ev), bareos, "Bareos {ev:?}");
            assert_eq!(Bacula::event_number(ev), bacula, "Bacula {ev:?}");
        }
    }

    #[test]
    fn variables_mean_what_each_daemon_numbers() {
        assert_eq!(Bareos::variable(1), Var::JobId);
        assert_eq!(Bacula::variable(9), Var::Accurate);
        assert_eq!(Bareos::variable(12), Var::WorkingDir);
        assert_eq!(Bacula::variable(13), Var::WorkingDir);
        assert_eq!(Bareos::variable(17), Var::Refused);
        assert_eq!(Bacula::variable(18), Var::DistName);
        assert_eq!(Bareos::variable(22), Var::PluginPath);
        assert_eq!(Bacula::variable(22), Var::Interactive);
        for unknown in [0, 10, 23, 99] {
            assert_eq!(Bareos::variable(unknown), Var::Untouched, "{unknown}");
        }
        assert_eq!(Bacula::variable(19), Var::Untouched);
    }
}
