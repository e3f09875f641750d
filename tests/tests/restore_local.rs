//! Restore to local disk through the C ABI: replace modes, and data that isn't ours or is
//! truncated gets a clear error, never a crash or a silently short file.

use std::sync::Arc;

use integration_tests::harness::{
    self, ft, msg, DataRef, Flavour, RestoreSpec, SavedFile, StatRecord,
};
use integration_tests::scenario::job_id;

fn saved(name: &str, cmd: &str, size: i64, mtime: i64, data: &[u8]) -> SavedFile {
    SavedFile {
        name: name.as_bytes().to_vec(),
        ftype: ft::FT_REG,
        size,
        mtime,
        ctime: mtime,
        mode: 0o100640,
        stat: StatRecord {
            size,
            mtime,
            ctime: mtime,
            atime: mtime,
            mode: 0o100640,
            nlink: 1,
            ..Default::default()
        },
        link: None,
        data_len: data.len() as u64,
        data_ref: Some(Arc::new(DataRef::from_bytes(data.to_vec()))),
        cmd: cmd.to_string(),
        job_id: 1,
        io_error: false,
        xattrs: Vec::new(),
        xattr_records: Vec::new(),
    }
}

const CMD: &str = "s3:bucket=b:endpoint=http://127.0.0.1:9:credentials_file=/nonexistent";

fn dir(tag: &str) -> std::path::PathBuf {
    let d = std::env::temp_dir().join(format!("s3fd-restore-{tag}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

fn restore(
    flavour: Flavour,
    where_: &std::path::Path,
    replace: char,
    files: &[&SavedFile],
) -> harness::JobReport {
    let mut spec = RestoreSpec::new(flavour, job_id());
    spec.where_ = where_.display().to_string();
    spec.replace = replace;
    harness::restore(&spec, files)
}

#[test]
fn replace_modes_are_honoured() {
    for flavour in Flavour::ALL {
        let d = dir(&format!("replace-{flavour:?}"));
        let old = saved("/b/k", CMD, 3, 1_600_000_000, b"old");
        let new = saved("/b/k", CMD, 3, 1_700_000_000, b"new");
        let path = d.join("b/k");
        let read = || std::fs::read(&path).unwrap();

        assert_eq!(restore(flavour, &d, 'a', &[&new]).status, 'T');
        assert_eq!(read(), b"new");
        let mtime = std::fs::metadata(&path).unwrap().modified().unwrap();
        assert_eq!(
            mtime
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .as_secs(),
            1_700_000_000
        );

        let r = restore(flavour, &d, 'n', &[&old]);
        assert_eq!((r.status, r.skipped), ('T', 1));
        assert_eq!(read(), b"new", "never");
        let r = restore(flavour, &d, 'w', &[&old]);
        assert_eq!((r.status, r.skipped), ('T', 1));
        assert_eq!(read(), b"new", "ifnewer: the backup copy is older");
        let r = restore(flavour, &d, 'o', &[&old]);
        assert_eq!((r.status, r.restored), ('T', 1));
        assert_eq!(read(), b"old", "ifolder: the backup copy is older");
        let r = restore(flavour, &d, 'w', &[&new]);
        assert_eq!((r.status, r.restored), ('T', 1));
        assert_eq!(read(), b"new", "ifnewer: the backup copy is newer");
        let r = restore(flavour, &d, 'a', &[&old]);
        assert_eq!((r.status, r.restored), ('T', 1));
        assert_eq!(read(), b"old", "always");
    }
}

#[test]
fn truncated_data_is_an_error_naming_the_file() {
    for flavour in Flavour::ALL {
        let d = dir(&format!("trunc-{flavour:?}"));
        let short = saved("/b/short", CMD, 1000, 1_700_000_000, &[7u8; 500]);
        let fine = saved("/b/fine", CMD, 4, 1_700_000_000, b"fine");
        let r = restore(flavour, &d, 'a', &[&short, &fine]);
        assert!(
            r.protocol_violations.is_empty(),
            "{:?}",
            r.protocol_violations
        );
        assert_eq!(r.status, 'E', "{:#?}", r.messages);
        let errors = r.messages_of(msg::M_ERROR).join("\n");
        assert!(
            errors.contains("/b/short") && errors.contains("500 of 1000"),
            "{errors}"
        );
        assert_eq!(std::fs::read(d.join("b/fine")).unwrap(), b"fine");
    }
}

#[test]
fn names_and_commands_that_are_not_ours_are_refused_clearly() {
    for flavour in Flavour::ALL {
        let d = dir(&format!("foreign-{flavour:?}"));
        let climbing = saved("/b/../../escape", CMD, 1, 1_700_000_000, b"x");
        let r = restore(flavour, &d, 'a', &[&climbing]);
        assert_ne!(r.status, 'T', "{:#?}", r.messages);
        let text = r
            .messages
            .iter()
            .map(|(_, m)| m.as_str())
            .collect::<Vec<_>>()
            .join("\n");
        assert!(text.contains("refusing") && text.contains(".."), "{text}");
        assert!(!d.parent().unwrap().join("escape").exists());

        let foreign = saved("/b/x", "s3:colour=red", 1, 1_700_000_000, b"x");
        let r = restore(flavour, &d, 'a', &[&foreign]);
        assert_ne!(r.status, 'T');
        let text = r
            .messages
            .iter()
            .map(|(_, m)| m.as_str())
            .collect::<Vec<_>>()
            .join("\n");
        assert!(text.contains("colour"), "{text}");
    }
}
