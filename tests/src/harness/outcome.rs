//! [`assert_ok`]: the one check that a finished job ended cleanly, for the jobs the harness runs
//! ([`JobReport`]) and for those of the real Bacula daemons ([`JobResult`]).

use super::JobReport;
use crate::bacula_stack::JobResult;

/// A finished job a test can require to have ended cleanly.
pub trait Outcome {
    /// What was not clean about the job, or `None`.
    fn not_clean(&self) -> Option<String>;
}

/// Panics with what went wrong unless `job` ended cleanly: a harness job with status `T` and no
/// protocol violation; a daemon job with JobStatus `T`, no errors and run-job.sh exiting 0.
#[track_caller]
pub fn assert_ok(job: &impl Outcome) {
    if let Some(why) = job.not_clean() {
        panic!("{why}");
    }
}

impl Outcome for JobReport {
    fn not_clean(&self) -> Option<String> {
        if !self.protocol_violations.is_empty() {
            return Some(format!(
                "protocol violations: {:?}",
                self.protocol_violations
            ));
        }
        (self.status != 'T').then(|| {
            format!(
                "job status {} (errors {}), messages: {:#?}",
                self.status, self.job_errors, self.messages
            )
        })
    }
}

impl Outcome for JobResult {
    fn not_clean(&self) -> Option<String> {
        let clean = self.status == 'T' && self.errors == 0 && self.exit_code == 0;
        (!clean).then(|| format!("expected a clean job (T, 0 errors, exit 0):\n{self}"))
    }
}

#[cfg(test)]
mod tests {
    use super::super::driver::backup_with;
    use super::super::loader::fake;
    use super::super::{Flavour, JobSpec};
    use super::*;

    /// A clean backup of one file by the fake plugin.
    fn clean_report() -> JobReport {
        let spec = JobSpec::new(Flavour::Bareos, 1, 'F', 0, "fake:n=1");
        backup_with(fake::load(Flavour::Bareos), &spec, None)
    }

    fn result(status: char, errors: u64, exit_code: i32) -> JobResult {
        JobResult {
            jobid: 1,
            status,
            level: 'F',
            files: 0,
            bytes: 0,
            errors,
            exit_code,
            log: String::new(),
            stderr: String::new(),
        }
    }

    #[test]
    fn only_a_clean_job_is_ok() {
        let clean = clean_report();
        assert_eq!(clean.not_clean(), None);
        assert_ok(&clean);
        let warned = JobReport {
            status: 'W',
            ..clean.clone()
        };
        assert!(warned.not_clean().unwrap().contains("job status W"));
        let violated = JobReport {
            protocol_violations: vec!["x".into()],
            ..clean.clone()
        };
        assert!(violated
            .not_clean()
            .unwrap()
            .contains("protocol violations"));
        assert!(std::panic::catch_unwind(|| assert_ok(&violated)).is_err());
        assert_eq!(result('T', 0, 0).not_clean(), None);
        assert!(result('T', 1, 0).not_clean().is_some());
        assert!(result('T', 0, 1).not_clean().is_some());
        assert!(result('E', 0, 0).not_clean().is_some());
    }
}
