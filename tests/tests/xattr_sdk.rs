//! Extended attributes through the SDK and the real C ABI, on both flavours: the test plugin
//! `tests/fault-plugin` returns attributes per entry (`xattrs=<mode>`), the harness stores them
//! as each daemon does (Bareos `getXattr` loop, Bacula `handleXACLdata` records) and replays them
//! at restore at the daemon's point (after IO_CLOSE, before `endRestoreFile`), and the plugin
//! echoes what it got back as job messages. Everything must come back byte-exact.

use integration_tests::harness::{
    self, fault_plugin_so, msg, Flavour, JobReport, JobSpec, RestoreSpec, SavedFile, Xattr,
};
use integration_tests::scenario::job_id;

#[path = "../fault-plugin/src/xattr_modes.rs"]
mod xattr_modes;

mod expected_panics;
use expected_panics::StderrCapture;

/// What the harness must store for file `i` in `mode`: the plugin's attributes, except the
/// second file of `big` and `emptyname`, whose attributes the SDK refuses.
fn expected(mode: &str, i: u32) -> Vec<Xattr> {
    match (mode, i) {
        ("big" | "emptyname", 2) => Vec::new(),
        _ => xattr_modes::xattrs_for(mode, i),
    }
}

fn backup(flavour: Flavour, cmd: &str, xattrs: bool) -> JobReport {
    let mut spec = JobSpec::new(flavour, job_id(), 'F', 0, cmd);
    spec.xattrs = xattrs;
    harness::backup_plugin(&fault_plugin_so(), "fault", &spec)
}

fn restore(flavour: Flavour, files: &[&SavedFile]) -> JobReport {
    harness::restore_plugin(
        &fault_plugin_so(),
        "fault",
        &RestoreSpec::new(flavour, job_id()),
        files,
    )
}

fn unhex(s: &str) -> Vec<u8> {
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
        .collect()
}

/// What the plugin echoed for `file` at restore: the attributes, each with "IO closed before".
fn echoed(report: &JobReport, file: &str) -> (Vec<(Xattr, bool)>, Option<usize>) {
    let mut got = Vec::new();
    let mut end = None;
    for m in report.messages_of(msg::M_INFO) {
        let parts: Vec<&str> = m.split(' ').collect();
        match parts.as_slice() {
            ["xattr", f, name, value, closed] if *f == file => got.push((
                xattr_modes::x(&unhex(name), &unhex(value)),
                *closed == "closed=true",
            )),
            ["end", f, n] if *f == file => {
                assert!(end.is_none(), "two ends for {file}");
                assert!(got.len() == n.trim_start_matches("xattrs=").parse().unwrap());
                end = Some(got.len());
            }
            _ => {}
        }
    }
    (got, end)
}

fn clean(report: &JobReport) {
    assert!(
        report.protocol_violations.is_empty(),
        "{:?}",
        report.protocol_violations
    );
}

#[test]
fn attributes_make_the_round_trip_byte_exact() {
    for flavour in Flavour::ALL {
        let b = backup(flavour, "fault:files=8:xattrs=mixed", true);
        clean(&b);
        assert_eq!(b.status, 'T', "{flavour:?}: {:#?}", b.messages);
        assert_eq!(b.files.len(), 8);
        for (i, f) in (1..).zip(&b.files) {
            assert_eq!(f.name_lossy(), format!("/fault/f{i}"));
            assert_eq!(f.xattrs, expected("mixed", i), "{flavour:?} f{i}");
            match flavour {
                // One record per file with attributes, none without.
                Flavour::Bacula => assert_eq!(f.xattr_records.len(), usize::from(i % 4 != 1)),
                Flavour::Bareos => assert!(f.xattr_records.is_empty()),
            }
        }
        // Bareos asks after IO_CLOSE; Bacula 9.6 asks for ACLs, then xattrs (twice: its loop
        // runs while count > 0).
        let calls = b.calls.join("\n");
        match flavour {
            Flavour::Bareos => assert!(calls.contains("pluginIO(IO_CLOSE)\ngetXattr\n"), "{calls}"),
            Flavour::Bacula => {
                assert!(calls.contains(
                    "pluginIO(IO_CLOSE)\nhandleXACLdata(BACL_BACKUP)\nhandleXACLdata(BXATTR_BACKUP)\n"
                ));
                assert!(
                    calls.contains("handleXACLdata(BXATTR_BACKUP) x2"),
                    "{calls}"
                );
            }
        }

        let files: Vec<&SavedFile> = b.files.iter().collect();
        let r = restore(flavour, &files);
        clean(&r);
        assert_eq!(r.status, 'T', "{flavour:?}: {:#?}", r.messages);
        assert_eq!(r.restored, 8);
        for i in 1..=8 {
            let file = format!("/fault/f{i}");
            let (got, end) = echoed(&r, &file);
            assert!(end.is_some(), "{flavour:?}: no endRestoreFile for {file}");
            assert!(
                got.iter().all(|(_, closed)| *closed),
                "{flavour:?} {file}: an attribute came before IO close"
            );
            let got: Vec<Xattr> = got.into_iter().map(|(x, _)| x).collect();
            assert_eq!(got, expected("mixed", i), "{flavour:?} {file}");
        }
        let calls = r.calls.join("\n");
        let after_close = match flavour {
            Flavour::Bareos => "setFileAttributes\npluginIO(IO_CLOSE)\nsetXattr\n",
            Flavour::Bacula => {
                "setFileAttributes\npluginIO(IO_CLOSE)\nhandleXACLdata(BXATTR_RESTORE)\nendRestoreFile"
            }
        };
        assert!(calls.contains(after_close), "{flavour:?}: {calls}");
    }
}

#[test]
fn bareos_asks_only_with_xattrsupport_bacula_always() {
    for flavour in Flavour::ALL {
        let b = backup(flavour, "fault:files=4:xattrs=mixed", false);
        clean(&b);
        assert_eq!(b.status, 'T', "{:#?}", b.messages);
        let asked = b.calls.iter().any(|c| c.starts_with("getXattr"));
        match flavour {
            Flavour::Bareos => {
                assert!(!asked);
                assert!(b.files.iter().all(|f| f.xattrs.is_empty()));
            }
            Flavour::Bacula => {
                assert_eq!(b.files[1].xattrs, expected("mixed", 2));
                assert_eq!(b.files[3].xattrs, expected("mixed", 4));
            }
        }
    }
}

#[test]
fn attributes_the_daemon_cannot_store_are_refused_naming_the_file() {
    for (mode, why) in [
        ("big", "attributes take"),
        ("emptyname", "attribute 1 has an empty name"),
    ] {
        for flavour in Flavour::ALL {
            let b = backup(flavour, &format!("fault:files=3:xattrs={mode}"), true);
            clean(&b);
            let errors = b.messages_of(msg::M_ERROR);
            assert_eq!(errors.len(), 1, "{flavour:?} {mode}: {errors:?}");
            assert!(
                errors[0].contains("extended attributes of \"/fault/f2\" not saved")
                    && errors[0].contains(why),
                "{flavour:?} {mode}: {}",
                errors[0]
            );
            // Counted as a job error; the file itself is saved, without attributes; the core
            // adds nothing of its own.
            assert_eq!(b.status, 'W', "{flavour:?} {mode}");
            assert_eq!(b.files.len(), 3);
            for (i, f) in (1..).zip(&b.files) {
                assert_eq!(f.xattrs, expected(mode, i), "{flavour:?} {mode} f{i}");
                assert!(f.data() == b"xxxxxxxxxx");
            }
            assert!(
                b.messages.iter().all(|(_, m)| !m.starts_with("[core]")),
                "{:#?}",
                b.messages
            );
            let files: Vec<&SavedFile> = b.files.iter().collect();
            let r = restore(flavour, &files);
            assert_eq!(r.status, 'T', "{:#?}", r.messages);
            assert_eq!(echoed(&r, "/fault/f2"), (Vec::new(), Some(0)));
            assert_eq!(echoed(&r, "/fault/f3").1, Some(300));
        }
    }
}

#[test]
fn a_plugin_error_is_one_job_message_and_the_file_is_saved() {
    for flavour in Flavour::ALL {
        let b = backup(flavour, "fault:files=2:xattrs=error", true);
        clean(&b);
        let errors = b.messages_of(msg::M_ERROR);
        assert_eq!(
            errors,
            [
                "injected xattr error for /fault/f1",
                "injected xattr error for /fault/f2"
            ],
            "{flavour:?}"
        );
        assert_eq!(b.messages_of(msg::M_WARNING), Vec::<&str>::new());
        assert_eq!(b.files.len(), 2);
        assert!(b
            .files
            .iter()
            .all(|f| f.xattrs.is_empty() && f.xattr_records.is_empty()));
    }
}

#[test]
fn panics_in_the_xattr_callbacks_go_through_the_boundary() {
    for flavour in Flavour::ALL {
        let callback = match flavour {
            Flavour::Bareos => ("getXattr", "setXattr"),
            Flavour::Bacula => ("handleXACLdata", "handleXACLdata"),
        };
        let stderr = StderrCapture::start();
        let b = backup(
            flavour,
            "fault:files=2:xattrs=mixed:panic=backup_xattrs",
            true,
        );
        let printed = stderr.finish();
        assert!(
            printed.contains("panicked") && printed.contains("injected panic in backup_xattrs"),
            "{flavour:?}: the panic was not printed on standard error: {printed:?}"
        );
        clean(&b);
        let fatal = b.messages_of(msg::M_FATAL).join("\n");
        assert!(
            fatal.contains(&format!("internal error in {}", callback.0))
                && fatal.contains("injected panic in backup_xattrs"),
            "{flavour:?}: {fatal}"
        );
        assert_eq!(b.status, 'f');

        let good = backup(flavour, "fault:files=2:xattrs=mixed", true);
        let mut files = good.files.clone();
        for f in &mut files {
            f.cmd = "fault:files=2:xattrs=mixed:panic=restore_xattr".into();
        }
        let refs: Vec<&SavedFile> = files.iter().collect();
        let stderr = StderrCapture::start();
        let r = restore(flavour, &refs);
        let printed = stderr.finish();
        assert!(
            printed.contains("panicked") && printed.contains("injected panic in restore_xattr"),
            "{flavour:?}: the panic was not printed on standard error: {printed:?}"
        );
        clean(&r);
        let fatal = r.messages_of(msg::M_FATAL).join("\n");
        assert!(
            fatal.contains(&format!("internal error in {}", callback.1))
                && fatal.contains("injected panic in restore_xattr"),
            "{flavour:?}: {fatal}"
        );
        assert_eq!(r.status, 'f');
    }
}

#[test]
fn bacula_garbage_records_are_named_not_restored() {
    let b = backup(Flavour::Bacula, "fault:files=2:xattrs=mixed", true);
    let mut f = b.files[1].clone();
    let good = f.xattr_records[0].clone();
    for (record, why) in [
        (
            b"not a record".to_vec(),
            "does not start with the xattr record magic",
        ),
        (
            [&b"fdxattr\x07"[..], &good[8..]].concat(),
            "format version 7",
        ),
        (good[..good.len() - 3].to_vec(), "truncated"),
    ] {
        f.xattr_records = vec![record];
        let r = restore(Flavour::Bacula, &[&f]);
        clean(&r);
        let errors = r.messages_of(msg::M_ERROR);
        assert!(
            errors.len() == 1
                && errors[0].contains("extended attributes of \"/fault/f2\" not restored")
                && errors[0].contains(why),
            "{errors:?}"
        );
        assert_eq!(echoed(&r, "/fault/f2"), (Vec::new(), Some(0)));
        assert_eq!(r.restored, 1);
    }
}
