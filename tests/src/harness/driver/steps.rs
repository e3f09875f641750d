//! The pieces every job sequence shares: event delivery through the core's dispatcher, command
//! routing by plugin name, job start and end, the level and FileSet events, the final status.

use std::ffi::{c_void, CString};

use super::super::job::{JobState, Taken};
use super::super::loader::{self, Loaded};
use super::super::{msg, rc, Discarded, Flavour, JobReport};
use super::{Ev, PluginJob, SaveView};

/// Delivers `ev` through the core's event dispatcher: not to a disabled plugin, not after a
/// cancel (except End*Job), and on Bareos only if the plugin registered it (docs/abi.md, the Bareos events).
pub(super) fn deliver(p: &mut dyn PluginJob, ev: Ev, value: *mut c_void) -> Option<i32> {
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

/// `GetPluginName`: the name before the first `:` (docs/abi.md, command routing).
pub(super) fn plugin_name_of<'a>(st: &JobState, cmd: &'a str) -> Option<&'a str> {
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
pub(super) fn for_this_plugin(flavour: Flavour, plugin: &str, name: &str) -> bool {
    if name == plugin {
        return true;
    }
    // Bareos only: a name one character shorter that is a prefix (python/python3 hack).
    flavour == Flavour::Bareos && name.len() + 1 == plugin.len() && plugin.starts_with(name)
}

pub(super) fn cstring(s: &[u8]) -> CString {
    let clean: Vec<u8> = s.iter().copied().filter(|&b| b != 0).collect();
    CString::new(clean).expect("NULs removed")
}

pub(super) fn int_ptr(v: i64) -> *mut c_void {
    v as isize as *mut c_void
}

pub(super) fn strerror(errno: i32) -> String {
    std::io::Error::from_raw_os_error(errno).to_string()
}

/// Job names like the director's unique `<name>.<date>_<time>_<n>`.
pub(super) fn job_name(kind: &str, job_id: u32) -> String {
    format!("{kind}.2026-01-01_00.00.00_{job_id:02}")
}

/// `newPlugin` then `bEventJobStart` (docs/abi.md, the plugin lifecycle).
pub(super) fn start_job(p: &mut dyn PluginJob, start_text: &str) {
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

/// `bEventJobEnd` unless cancelled/failed, then `freePlugin` (docs/abi.md, the plugin lifecycle).
pub(super) fn end_job(p: &mut dyn PluginJob) {
    deliver(p, Ev::JobEnd, std::ptr::null_mut());
    p.free_plugin();
}

/// Level command: Full → `Level('F')`; Incr/Diff → `Since(t)` then `Level` (docs/abi.md, the Incremental sequence).
pub(super) fn level_events(p: &mut dyn PluginJob, level: u8, since: i64) {
    if level != b'F' {
        deliver(p, Ev::Since, int_ptr(since));
    }
    deliver(p, Ev::Level, int_ptr(i64::from(level)));
}

/// FileSet: `PluginCommand` per line (name-routed; AddInclude & co. allowed only now), then
/// `EndFileSet`.
pub(super) fn fileset(p: &mut dyn PluginJob, loaded: &Loaded, commands: &[String]) {
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
/// plugin only, others go to every plugin (docs/abi.md, command routing). Bacula has no such event.
pub(super) fn plugin_options(p: &mut dyn PluginJob, loaded: &Loaded, options: &[String]) {
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

/// The report of a job that ended with `t`; what only a backup or a restore has stays empty.
pub(super) fn job_report(flavour: Flavour, job_id: u32, t: Taken, restore: bool) -> JobReport {
    JobReport {
        flavour,
        job_id,
        status: final_status(&t, restore),
        job_errors: t.errors,
        job_warnings: t.warnings,
        messages: t.messages,
        debug: t.debug,
        files: Vec::new(),
        unchanged: Vec::new(),
        deleted: Vec::new(),
        restore_objects: Vec::new(),
        restored: 0,
        skipped: 0,
        protocol_violations: t.violations,
        calls: t.calls,
        discarded: Discarded::default(),
    }
}

/// The save packet after `startBackupFile`; `None` (after the core's fatal message) when the
/// plugin set no type.
pub(super) fn typed_save_view(p: &dyn PluginJob, cmd: &str) -> Option<SaveView> {
    let v = p.save_view();
    if v.ftype == 0 {
        p.state().core_message(
            msg::M_FATAL,
            &format!("Command plugin \"{cmd}\": no type in startBackupFile packet."),
        );
        return None;
    }
    Some(v)
}

pub(super) fn final_status(t: &Taken, restore: bool) -> char {
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

pub(super) fn load_plugin_copy(
    path: &std::path::Path,
    name: &str,
    flavour: Flavour,
) -> &'static Loaded {
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

pub(super) fn level_byte(level: char) -> u8 {
    match level {
        'F' | 'I' | 'D' => level as u8,
        other => panic!("harness: job level must be 'F', 'I' or 'D', not {other:?}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
