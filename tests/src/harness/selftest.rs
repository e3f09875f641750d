//! End-to-end checks of the emulated daemon against the harness' fake plugin
//! (`fake_plugin.c`), for both flavours: call order, data path, incrementals, accurate
//! deletions, estimate, restore, cancel and the protocol-violation detectors.

use super::driver::{backup_with, estimate_with, restore_with};
use super::loader::{fake, probe_path};
use super::*;

fn spec(f: Flavour, job_id: u32, level: char, since: i64, cmd: &str) -> JobSpec {
    JobSpec::new(f, job_id, level, since, cmd)
}

fn pattern(i: usize, len: usize) -> Vec<u8> {
    (0..len).map(|o| ((o * 31 + i * 7) & 0xff) as u8).collect()
}

fn fnv(data: &[u8]) -> u32 {
    data.iter().fold(2_166_136_261u32, |h, &b| {
        (h ^ u32::from(b)).wrapping_mul(16_777_619)
    })
}

fn position(calls: &[String], what: &str) -> usize {
    calls
        .iter()
        .position(|c| c == what)
        .unwrap_or_else(|| panic!("{what} not in {calls:#?}"))
}

#[test]
fn full_backup_sequence_and_data() {
    for f in Flavour::ALL {
        let r = backup_with(
            fake::load(f),
            &spec(f, 1, 'F', 0, "fake:n=3:size=1000"),
            None,
        );
        assert_eq!(r.status, 'T', "{f:?}: {r:#?}");
        assert!(
            r.protocol_violations.is_empty(),
            "{f:?}: {:?}",
            r.protocol_violations
        );
        assert_eq!(r.files.len(), 3);
        for (i, file) in r.files.iter().enumerate() {
            assert_eq!(file.name, format!("/fake/f{i}").as_bytes());
            assert_eq!(file.ftype, ft::FT_REG);
            assert_eq!(file.size, 1000 + i as i64);
            assert_eq!(file.data_len, 1000 + i as u64);
            assert!(file.data_matches(&pattern(i, 1000 + i)));
            assert_eq!(file.cmd, "fake:n=3:size=1000");
        }
        let c = &r.calls;
        let order = [
            "newPlugin",
            "handlePluginEvent(JobStart)",
            "handlePluginEvent(Level)",
            "handlePluginEvent(StartBackupJob)",
            "handlePluginEvent(BackupCommand)",
            "startBackupFile",
            "pluginIO(IO_OPEN)",
            "pluginIO(IO_CLOSE)",
            "endBackupFile",
            "handlePluginEvent(EndBackupJob)",
            "handlePluginEvent(JobEnd)",
            "freePlugin",
        ];
        let pos: Vec<usize> = order.iter().map(|o| position(c, o)).collect();
        assert!(pos.windows(2).all(|w| w[0] < w[1]), "{f:?}: {c:#?}");
        assert!(!c.iter().any(|x| x == "handlePluginEvent(Since)"));
        // Bacula delivers PluginCommand/EndFileSet unregistered; the fake does not register
        // them, so Bareos must not deliver them.
        let has_plugin_command = c.iter().any(|x| x == "handlePluginEvent(PluginCommand)");
        assert_eq!(has_plugin_command, f == Flavour::Bacula, "{f:?}");
    }
}

#[test]
fn incremental_uses_since_and_accurate_records_deletions() {
    for f in Flavour::ALL {
        let fake = fake::load(f);
        let full = backup_with(fake, &spec(f, 1, 'F', 0, "fake:n=3:mtime=1000000"), None);
        let mut cat = Catalog::new();
        cat.apply(&full);
        assert_eq!(cat.len(), 3);

        // Non-accurate: f0, f1 older than since → unchanged; f2 saved.
        let inc = backup_with(
            fake,
            &spec(f, 2, 'I', 1_000_002, "fake:n=3:mtime=1000000"),
            None,
        );
        assert_eq!(inc.status, 'T', "{inc:#?}");
        assert_eq!(
            inc.unchanged,
            vec![b"/fake/f0".to_vec(), b"/fake/f1".to_vec()]
        );
        assert_eq!(inc.files.len(), 1);
        let c = &inc.calls;
        assert!(position(c, "handlePluginEvent(Since)") < position(c, "handlePluginEvent(Level)"));

        // Accurate: n=2 now → f2 deleted; the unchanged ones are seen via checkChanges.
        let mut s = spec(f, 3, 'I', 1, "fake:n=2:mtime=1000000");
        s.accurate = true;
        let acc = backup_with(fake, &s, Some(&cat));
        assert_eq!(acc.status, 'T', "{acc:#?}");
        assert_eq!(acc.unchanged.len(), 2, "{acc:#?}");
        assert_eq!(acc.deleted, vec![b"/fake/f2".to_vec()]);
        assert!(acc.calls.iter().any(|x| x == "checkFile(/fake/f2)"));
        cat.apply(&acc);
        assert_eq!(
            cat.names(),
            vec![b"/fake/f0".to_vec(), b"/fake/f1".to_vec()]
        );

        // checkFile answering bRC_Seen keeps a name.
        let mut cat2 = Catalog::new();
        cat2.apply(&backup_with(
            fake,
            &spec(f, 4, 'F', 0, "fake:n=2:pfx=keep"),
            None,
        ));
        let mut s = spec(f, 5, 'D', 1, "fake:n=0");
        s.accurate = true;
        let diff = backup_with(fake, &s, Some(&cat2));
        assert!(diff.deleted.is_empty(), "{diff:#?}");
    }
}

#[test]
fn discard_digest_sums_the_saved_entries() {
    for f in Flavour::ALL {
        let kept = backup_with(
            fake::load(f),
            &spec(f, 1, 'F', 0, "fake:n=3:size=70000"),
            None,
        );
        assert_eq!(kept.files.len(), 3, "{f:?}: {kept:#?}");
        let want = kept.files.iter().fold(0u64, |acc, file| {
            acc.wrapping_add(Discarded::entry_digest(&file.name, &file.data()))
        });
        let mut s = spec(f, 1, 'F', 0, "fake:n=3:size=70000");
        s.discard_data = true;
        s.discard_digest = true;
        let r = backup_with(fake::load(f), &s, None);
        assert_eq!(r.status, 'T', "{f:?}: {r:#?}");
        assert_eq!(r.discarded.files, 3, "{f:?}");
        assert_eq!(r.discarded.digest, want, "{f:?}");
        // Another job's entries give another digest.
        let other = backup_with(
            fake::load(f),
            &spec(f, 1, 'F', 0, "fake:n=3:size=70001"),
            None,
        );
        let theirs = other.files.iter().fold(0u64, |acc, file| {
            acc.wrapping_add(Discarded::entry_digest(&file.name, &file.data()))
        });
        assert_ne!(theirs, want, "{f:?}");
    }
}

#[test]
fn discard_data_counts_without_keeping() {
    for f in Flavour::ALL {
        let mut s = spec(f, 1, 'I', 1_000_002, "fake:n=4:size=300000:mtime=1000000");
        s.discard_data = true;
        let r = backup_with(fake::load(f), &s, None);
        assert_eq!(r.status, 'T', "{f:?}: {r:#?}");
        assert!(r.protocol_violations.is_empty(), "{f:?}: {r:#?}");
        assert!(r.files.is_empty() && r.unchanged.is_empty() && r.calls.is_empty());
        // f0, f1 unchanged; f2, f3 saved with 300002 + 300003 bytes.
        assert_eq!(
            r.discarded,
            Discarded {
                files: 2,
                bytes: 600_005,
                unchanged: 2,
                digest: 0
            },
            "{f:?}"
        );
    }
}

#[test]
fn estimate_lists_without_io() {
    for f in Flavour::ALL {
        let r = estimate_with(fake::load(f), &spec(f, 9, 'F', 0, "fake:n=4:size=10"));
        assert_eq!(r.status, 'T', "{r:#?}");
        assert_eq!(r.files.len(), 4);
        assert_eq!(r.num_files, 4);
        assert_eq!(r.num_bytes, 10 + 11 + 12 + 13);
        assert!(!r.calls.iter().any(|c| c.starts_with("pluginIO")));
        assert!(!r.calls.iter().any(|c| c.contains("StartBackupJob")));
        assert!(
            r.protocol_violations.is_empty(),
            "{:?}",
            r.protocol_violations
        );
    }
}

#[test]
fn restore_writes_the_saved_data() {
    for f in Flavour::ALL {
        let fake = fake::load(f);
        let size = 200_000; // several IO_WRITE blocks on both flavours
        let full = backup_with(
            fake,
            &spec(f, 1, 'F', 0, &format!("fake:n=2:size={size}")),
            None,
        );
        let files: Vec<&SavedFile> = full.files.iter().collect();
        let mut rs = RestoreSpec::new(f, 10);
        rs.where_ = "/tmp/r".into();
        let r = restore_with(fake, &rs, &files);
        assert_eq!(r.status, 'T', "{r:#?}");
        assert_eq!(r.restored, 2);
        for i in 0..2 {
            let expect = format!(
                "restored /tmp/r/fake/f{i} {} {}",
                size + i,
                fnv(&pattern(i, size + i))
            );
            assert!(
                r.messages.iter().any(|(_, m)| *m == expect),
                "{expect} not in {:#?}",
                r.messages
            );
        }
        let c = &r.calls;
        assert!(position(c, "setFileAttributes") < position(c, "pluginIO(IO_CLOSE)"));
        assert!(position(c, "pluginIO(IO_CLOSE)") < position(c, "endRestoreFile"));

        // A failing IO_WRITE: M_ERROR, no setFileAttributes, restore ends in error.
        let bad = backup_with(fake, &spec(f, 2, 'F', 0, "fake:n=1:writeerr=1"), None);
        let r = restore_with(fake, &RestoreSpec::new(f, 11), &[&bad.files[0]]);
        assert_eq!(r.status, 'E', "{r:#?}");
        assert!(!r.calls.iter().any(|c| c == "setFileAttributes"));
        assert!(r.messages_of(msg::M_ERROR)[0].contains("Write error"));
    }
}

#[test]
fn cancel_stops_the_job() {
    for f in Flavour::ALL {
        let mut s = spec(f, 1, 'F', 0, "fake:n=5:size=300000");
        s.cancel_after_files = Some(1);
        let r = backup_with(fake::load(f), &s, None);
        assert_eq!(r.status, 'A', "{r:#?}");
        assert_eq!(r.files.len(), 2, "{:#?}", r.calls);
        let c = &r.calls;
        assert!(c
            .iter()
            .any(|x| x == "handlePluginEvent(CancelCommand) [cancel thread]"));
        assert!(c.iter().any(|x| x == "handlePluginEvent(EndBackupJob)"));
        assert!(!c.iter().any(|x| x == "handlePluginEvent(JobEnd)"));
        assert_eq!(c.last().map(String::as_str), Some("freePlugin"));
        assert!(
            r.protocol_violations.is_empty(),
            "{:?}",
            r.protocol_violations
        );
    }
}

#[test]
fn errors_and_fatal_messages_set_the_status() {
    for f in Flavour::ALL {
        let fake = fake::load(f);
        let r = backup_with(fake, &spec(f, 1, 'F', 0, "fake:n=3:readerr=1"), None);
        assert_eq!((r.status, r.job_errors), ('W', 1), "{r:#?}");
        assert!(r.files[1].io_error);
        let r = backup_with(fake, &spec(f, 1, 'F', 0, "fake:n=3:fatal=1"), None);
        assert_eq!(r.status, 'f', "{r:#?}");
        assert!(!r.calls.iter().any(|x| x == "handlePluginEvent(JobEnd)"));
        // A command for another plugin.
        let r = backup_with(fake, &spec(f, 1, 'F', 0, "other:x"), None);
        assert_eq!(r.status, 'f', "{r:#?}");
        assert!(r.messages_of(msg::M_FATAL)[0].contains("not found"));
    }
}

#[test]
fn skip_differs_between_flavours() {
    let r = backup_with(
        fake::load(Flavour::Bareos),
        &spec(Flavour::Bareos, 1, 'F', 0, "fake:n=3:skip=1"),
        None,
    );
    assert_eq!(r.files.len(), 3);
    // Bacula 9.6 treats any non-OK from startBackupFile as the end of the command.
    let r = backup_with(
        fake::load(Flavour::Bacula),
        &spec(Flavour::Bacula, 1, 'F', 0, "fake:n=3:skip=1"),
        None,
    );
    assert_eq!((r.status, r.files.len()), ('T', 1), "{r:#?}");
}

#[test]
fn violations_are_detected() {
    for f in Flavour::ALL {
        let fake = fake::load(f);
        let r = backup_with(fake, &spec(f, 1, 'F', 0, "fake:n=1:nlink=2:sparse=1"), None);
        let v = r.protocol_violations.join("\n");
        assert!(v.contains("st_nlink"), "{v}");
        // Only Bareos presets the Include block's options (incl. sparse); Bacula presets 0.
        assert_eq!(v.contains("FO_SPARSE"), f == Flavour::Bareos, "{v}");
        let r = backup_with(fake, &spec(f, 1, 'F', 0, "fake:n=1:thread=1"), None);
        assert!(
            r.protocol_violations
                .iter()
                .any(|v| v.contains("from thread")),
            "{r:#?}"
        );
        let r = backup_with(fake, &spec(f, 999, 'F', 0, "fake:n=1"), None);
        assert_eq!(
            r.protocol_violations
                .iter()
                .any(|v| v.contains("bEventJobStart")),
            f == Flavour::Bacula,
            "{f:?}: {:?}",
            r.protocol_violations
        );
    }
}

#[test]
fn big_objects_spill_to_disk() {
    let f = Flavour::Bareos;
    let r = backup_with(
        fake::load(f),
        &spec(f, 1, 'F', 0, "fake:n=1:size=3000000"),
        None,
    );
    let d = r.files[0].data_ref.as_ref().expect("data");
    assert!(d.path().is_some());
    assert!(r.files[0].data_matches(&pattern(0, 3_000_000)));
}

#[test]
fn wrong_core_tables() {
    // bpluginfo-style table for a Bareos build: out-pointers filled, no callbacks.
    let o = probe_path(Flavour::Bareos, &fake::path(Flavour::Bareos), 1, 64, 1);
    assert!(
        o.info_filled && o.funcs_filled && o.core_calls == 0,
        "{o:?}"
    );
    assert_ne!(o.rc, 0);
    // A Bareos table given to a Bacula build must be refused.
    let o = probe_path(Flavour::Bacula, &fake::path(Flavour::Bacula), 10, 176, 10);
    assert_ne!(o.rc, 0, "{o:?}");
    assert_eq!(o.core_calls, 0);
}
