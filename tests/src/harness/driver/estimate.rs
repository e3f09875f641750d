//! The estimate command: the listing of a backup without data.

use std::ffi::c_void;

use super::super::job::{JobConfig, JobKind, JobState};
use super::super::loader::{self, Loaded};
use super::super::{ft, msg, rc, EstimateReport, Flavour, JobSpec};
use super::steps::{
    cstring, end_job, fileset, final_status, for_this_plugin, job_name, level_byte, level_events,
    plugin_name_of, start_job, typed_save_view,
};
use super::Ev;

/// Runs an estimate (docs/abi.md, the estimate sequence): JobId 0, no IO, no Start/EndBackupJob.
pub fn estimate(spec: &JobSpec) -> EstimateReport {
    estimate_with(loader::load(spec.flavour), spec)
}

pub(crate) fn estimate_with(loaded: &'static Loaded, spec: &JobSpec) -> EstimateReport {
    let level = level_byte(spec.level);
    let st = JobState::new(JobConfig {
        kind: JobKind {
            flavour: spec.flavour,
            job_id: 0,
            // Bacula: console connections are type 'I' (docs/abi.md, the Bacula estimate).
            job_type: match spec.flavour {
                Flavour::Bareos => b'B',
                Flavour::Bacula => b'I',
            },
            level,
            since: if level == b'F' { 0 } else { spec.since },
            accurate: spec.accurate,
            replace: b'a',
        },
        accurate_list: None,
        job_name: job_name("BackupS3", 0),
        prev_job_name: String::new(),
        where_: None,
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
                let Some(v) = typed_save_view(p, cmd) else {
                    break;
                };
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
