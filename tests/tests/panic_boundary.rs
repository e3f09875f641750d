//! No panic crosses the C boundary: a panicking callback returns the host's error code with a
//! fatal job message naming it, the rest of that job is refused cleanly, and the next job of
//! the same loaded plugin works. Proven with the test plugin `tests/fault-plugin`, which is
//! built on the same SDK as s3-fd.so. The panics it provokes print on standard error, as they
//! do in the daemon; the test captures that output (so a green run stays quiet) and checks it.

mod expected_panics;

use expected_panics::StderrCapture;
use integration_tests::harness::{self, fault_plugin_so, msg, Flavour, JobSpec};
use integration_tests::scenario::job_id;

#[test]
fn a_panic_in_any_callback_fails_only_its_job() {
    let so = fault_plugin_so();
    for flavour in Flavour::ALL {
        for callback in [
            "handlePluginEvent",
            "startBackupFile",
            "endBackupFile",
            "pluginIO",
        ] {
            let spec = JobSpec::new(
                flavour,
                job_id(),
                'F',
                0,
                &format!("fault:panic={callback}"),
            );
            let stderr = StderrCapture::start();
            let report = harness::backup_plugin(&so, "fault", &spec);
            let printed = stderr.finish();
            assert!(
                printed.contains("panicked")
                    && printed.contains(&format!("injected panic in {callback}")),
                "{flavour:?} {callback}: the panic was not printed on standard error: {printed:?}"
            );
            assert!(
                report.protocol_violations.is_empty(),
                "{:?}",
                report.protocol_violations
            );
            let fatal = report.messages_of(msg::M_FATAL).join("\n");
            assert!(
                fatal.contains(&format!("internal error in {callback}"))
                    && fatal.contains(&format!("injected panic in {callback}")),
                "{flavour:?} {callback}: {fatal}"
            );
            assert!(
                matches!(report.status, 'f' | 'W' | 'E'),
                "{flavour:?} {callback}: {}",
                report.status
            );

            let next = harness::backup_plugin(
                &so,
                "fault",
                &JobSpec::new(flavour, job_id(), 'F', 0, "fault:files=2"),
            );
            assert_eq!(
                next.status, 'T',
                "{flavour:?} after {callback}: {:#?}",
                next.messages
            );
            assert_eq!(next.files.len(), 2);
            assert!(next.files.iter().all(|f| f.data() == b"xxxxxxxxxx"));
        }
    }
}
