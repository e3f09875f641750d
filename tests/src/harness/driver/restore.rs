//! The restore job.

use std::ffi::{c_void, CString};
use std::io::Read;

use super::super::job::{JobConfig, JobKind, JobState};
use super::super::loader::{self, Loaded};
use super::super::{msg, rc, Flavour, JobReport, RestoreSpec, SavedFile};
use super::steps::{
    cstring, deliver, end_job, for_this_plugin, job_name, job_report, load_plugin_copy,
    plugin_name_of, plugin_options, start_job, strerror,
};
use super::{Ev, IoReq, PluginJob, RestoreAttrs, IO_CLOSE, IO_OPEN, IO_WRITE};

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

/// Runs a restore of `files`, in the given order, each with the command recorded at backup
/// (docs/abi.md, the Bareos and Bacula restore sequences).
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
        kind: JobKind {
            flavour: spec.flavour,
            job_id: spec.job_id,
            job_type: b'R',
            level: b' ',
            since: 0,
            accurate: false,
            replace: spec.replace as u8,
        },
        accurate_list: None,
        job_name: job_name("RestoreFiles", spec.job_id),
        prev_job_name: String::new(),
        where_: Some(fd_where.clone()),
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
            let target = Target {
                file_index: i as i32 + 1,
                fd_where: &fd_where,
                replace: spec.replace as u8,
            };
            match restore_one(p, loaded, f, &target, &mut buf) {
                Restored::Yes => restored += 1,
                Restored::Skipped => skipped += 1,
                Restored::No => {}
            }
        }
        deliver(p, Ev::EndRestoreJob, std::ptr::null_mut());
        end_job(p);
    }
    drop(p);
    JobReport {
        restored,
        skipped,
        ..job_report(spec.flavour, spec.job_id, st.finish(), true)
    }
}

/// Where and how one file is restored.
struct Target<'a> {
    /// Its FileIndex in the job.
    file_index: i32,
    /// The Where string as the fd keeps it.
    fd_where: &'a str,
    /// The replace option.
    replace: u8,
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
    target: &Target,
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
        restore_data(p, f, target, buf)
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

fn restore_data(p: &mut dyn PluginJob, f: &SavedFile, target: &Target, buf: &mut [u8]) -> Restored {
    let st = p.state();
    let bareos = st.flavour == Flavour::Bareos;
    let has_data = f.data_ref.is_some();
    let attrs = RestoreAttrs {
        ftype: f.ftype,
        file_index: target.file_index,
        stream: 1,
        data_stream: if has_data { 2 } else { 0 },
        stat: f.stat,
        ofname: cstring(&output_name(target.fd_where, &f.name)),
        olname: cstring(f.link.as_deref().unwrap_or_default()),
        attr_ex: CString::default(),
        replace: target.replace,
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
}
