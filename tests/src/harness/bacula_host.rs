//! The Bacula 9.6 ABI (plugin interface 14) as an [`Abi`]: `bpContext`, 240-byte `save_pkt` with
//! `uint64_t` FO masks, 232-byte `restore_pkt`, 72-byte `io_pkt`; the `bFuncs` table with the
//! callbacks whose behaviour is Bacula's (`getBaculaValue`, `setBaculaValue`,
//! `registerBaculaEvents`), the event numbering, and the `checkStream` / `handleXACLdata` route
//! of ACLs and extended attributes. Every event is delivered whether registered or not;
//! `checkStream`/`handleXACLdata` are called per saved file when present. Numbers and
//! behaviour: docs/abi.md, the Bacula core table, events and xattrs.

use std::ffi::{c_int, c_void, CStr};
use std::mem::size_of;
use std::sync::OnceLock;

use fd_ffi::sys::bacula as sys;

use super::driver::{Ev, IoReq, SavedXattrs};
use super::host::{self, abi_packets, bytes_at, job_of, Abi, HostJob, Var};
use super::job::{self, Addr, DaemonStrings};
use super::shim;
use super::{msg, rc, Flavour, SavedFile};

/// The Bacula 9.6 plugin ABI.
pub(crate) struct Bacula;

impl Abi for Bacula {
    type Ctx = sys::bpContext;
    type Funcs = sys::pFuncs;
    type CoreInfo = sys::bInfo;
    type CoreFuncs = sys::bFuncs;
    abi_packets!(sys);

    const FLAVOUR: Flavour = Flavour::Bacula;
    const VERSION: u32 = 14;
    const GET_VALUE: &'static str = "getBaculaValue";
    const DAEMON_VALUES_NEED_CONTEXT: bool = true;
    const CORE_SLOT: &'static str = "bContext";
    const CHECK_CHANGES_NO_FNAME: Option<&'static str> = None;

    fn core_tables() -> (*mut sys::bInfo, *mut sys::bFuncs) {
        core_tables()
    }

    fn new_context(core: *mut c_void) -> sys::bpContext {
        sys::bpContext {
            bContext: core,
            pContext: std::ptr::null_mut(),
        }
    }

    /// Bacula 9.6's numbering; 11 and 12 (VSS) are Windows only, 10 (bVarFileSeen) is
    /// write-only, 19 a placeholder.
    fn variable(var: u32) -> Var {
        Var::numbered_alike(var).unwrap_or(match var {
            11 | 12 => Var::Refused,
            13 => Var::WorkingDir,
            14 => Var::Where,
            15 => Var::RegexWhere,
            16 => Var::ExePath,
            17 => Var::Version,
            18 => Var::DistName,
            20 => Var::PrevJobName,
            21 => Var::PrefixLinks,
            22 => Var::Interactive,
            23 => Var::JobFiles,
            24 => Var::Replace,
            _ => Var::Untouched,
        })
    }

    fn version(d: &'static DaemonStrings) -> &'static CStr {
        &d.bacula_version
    }

    fn core_slot(ctx: &sys::bpContext) -> *mut c_void {
        ctx.bContext
    }

    /// Bacula 9.6's event numbers (docs/abi.md, the Bacula events): after the shared ones, the
    /// restore object, FileSet and plugin command events; no NewPluginOptions.
    fn event_number(ev: Ev) -> Option<u32> {
        ev.numbered_alike().or(match ev {
            Ev::RestoreObject => Some(18),
            Ev::EndFileSet => Some(19),
            Ev::PluginCommand => Some(20),
            _ => None,
        })
    }

    fn sparse_offsets(sp: &sys::save_pkt) -> (bool, bool) {
        (
            sp.flags & sys::FO_SPARSE != 0,
            sp.flags & sys::FO_OFFSETS != 0,
        )
    }

    /// 9.6 presets status to -1 (docs/abi.md, the Bacula io_pkt); it has no `filedes`.
    fn preset_io(io: &mut sys::io_pkt, _req: &IoReq) {
        io.status = -1;
    }

    fn before_data(job: &mut HostJob<Self>) {
        check_stream(job);
    }

    fn after_data(job: &mut HostJob<Self>, fname: &CStr) -> SavedXattrs {
        backup_xacl(job, fname)
    }

    fn restore_xattrs(job: &mut HostJob<Self>, file: &SavedFile, ofname: &CStr) {
        restore_xacl(job, file, ofname);
    }
}

/// The static tables of bacula-fd 9.6: bInfo {8, 14}, bFuncs {144, 14}.
fn core_tables() -> (*mut sys::bInfo, *mut sys::bFuncs) {
    static TABLES: OnceLock<(Addr, Addr)> = OnceLock::new();
    let (info, funcs) = *TABLES.get_or_init(|| {
        shim::install();
        let info = Box::leak(Box::new(sys::bInfo {
            size: size_of::<sys::bInfo>() as u32,
            version: Bacula::VERSION,
        }));
        let funcs = Box::leak(Box::new(sys::bFuncs {
            size: size_of::<sys::bFuncs>() as u32,
            version: Bacula::VERSION,
            registerBaculaEvents: Some(shim::harness_bacula_register_events),
            getBaculaValue: Some(host::get_value::<Bacula>),
            setBaculaValue: Some(set_value),
            JobMessage: Some(shim::harness_bacula_job_message),
            DebugMessage: Some(shim::harness_bacula_debug_message),
            baculaMalloc: Some(host::core_malloc::<Bacula>),
            baculaFree: Some(host::core_free::<Bacula>),
            AddExclude: Some(host::add_exclude::<Bacula>),
            AddInclude: Some(host::add_include::<Bacula>),
            AddOptions: Some(host::add_options::<Bacula>),
            AddRegex: Some(host::add_regex::<Bacula>),
            AddWild: Some(host::add_wild::<Bacula>),
            NewOptions: Some(host::new_options::<Bacula>),
            NewInclude: Some(host::new_include::<Bacula>),
            NewPreInclude: Some(host::new_pre_include::<Bacula>),
            checkChanges: Some(host::check_changes::<Bacula>),
            AcceptFile: Some(host::accept_file::<Bacula>),
        }));
        (Addr::of(info), Addr::of(funcs))
    });
    (info.ptr(), funcs.ptr())
}

// ------------------------------------------------------------------------------ callbacks

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
    let Some(job) = job_of::<Bacula>(ctx.cast(), "registerBaculaEvents") else {
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

/// `baculaSetValue`: bVarFileSeen and bVarInteractiveSession act; the rest returns OK.
unsafe extern "C" fn set_value(
    ctx: *mut sys::bpContext,
    var: sys::bVariable,
    value: *mut c_void,
) -> sys::bRC {
    let Some(job) = job_of::<Bacula>(ctx, "setBaculaValue") else {
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

// --------------------------------------------------------------------------- ACLs, xattrs

/// `checkStream` before the data of an entry.
fn check_stream(job: &mut HostJob<Bacula>) {
    let Some(check) = job.f.checkStream else {
        return;
    };
    let mut sp = sys::stream_pkt {
        pkt_size: size_of::<sys::stream_pkt>() as i32,
        stream: 26, // STREAM_PLUGIN_NAME
        pkt_end: size_of::<sys::stream_pkt>() as i32,
    };
    let ctx = job.ctx;
    job.call("checkStream", true, || {
        // SAFETY: optional entry point present; the packet outlives the call.
        unsafe { check(ctx, &mut sp) }
    });
    if sp.stream != 26 {
        job.st.debug(format!(
            "[core] checkStream changed the stream to {}",
            sp.stream
        ));
    }
}

/// `backup_acl` then `backup_xattr` (bacl.c, bxattr.c): for a plugin file each calls
/// `handleXACLdata` **while it answers count > 0**, every answer becoming one stream record
/// (the core copies `count` bytes of `content`), whatever the FileSet's xattrsupport.
fn backup_xacl(job: &mut HostJob<Bacula>, fname: &CStr) -> SavedXattrs {
    let Some(xacl) = job.f.handleXACLdata else {
        return SavedXattrs::default();
    };
    let (st, ctx) = (job.st, job.ctx);
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
            let r = job.call(&format!("handleXACLdata({what})"), calls == 1, || {
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
fn restore_xacl(job: &mut HostJob<Bacula>, file: &SavedFile, ofname: &CStr) {
    let Some(xacl) = job.f.handleXACLdata else {
        return;
    };
    let (st, ctx) = (job.st, job.ctx);
    for record in &file.xattr_records {
        let mut content = record.clone();
        let mut x = sys::xacl_pkt {
            pkt_size: size_of::<sys::xacl_pkt>() as i32,
            func: 4,
            count: content.len() as i32,
            content: content.as_mut_ptr().cast(),
            pkt_end: size_of::<sys::xacl_pkt>() as i32,
        };
        let r = job.call("handleXACLdata(BXATTR_RESTORE)", true, || {
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbering_matches_the_bindings() {
        assert_eq!(
            Bacula::event_number(Ev::RestoreObject),
            Some(sys::bEventRestoreObject)
        );
        assert_eq!(
            Bacula::event_number(Ev::EndFileSet),
            Some(sys::bEventEndFileSet)
        );
        assert_eq!(
            Bacula::event_number(Ev::PluginCommand),
            Some(sys::bEventPluginCommand)
        );
        assert_eq!(
            Bacula::event_number(Ev::CancelCommand),
            Some(sys::bEventCancelCommand)
        );
        assert_eq!(Bacula::event_number(Ev::NewPluginOptions), None);
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
