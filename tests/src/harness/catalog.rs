//! The director's catalog across a job chain: the latest version of every name, as the
//! accurate file list of the next Incremental/Differential and as the source of a restore.

use std::collections::{BTreeMap, HashMap};

use super::job::AccEntry;
use super::{ft, JobReport, RestoreObjectRecord, SavedFile};

/// Name → latest saved attributes (+ data) over the applied jobs.
#[derive(Clone, Debug, Default)]
pub struct Catalog {
    files: BTreeMap<Vec<u8>, SavedFile>,
    objects: Vec<RestoreObjectRecord>,
}

impl Catalog {
    pub fn new() -> Self {
        Self::default()
    }

    /// Records a backup job like the director does: saved entries replace older versions,
    /// `FT_DELETED` entries and the accurate "deleted" list remove names, unchanged names keep
    /// their previous version. The job's restore objects (if any) replace the previous ones.
    /// Apply only jobs that count as a base for the next level (status `T`/`W`).
    pub fn apply(&mut self, r: &JobReport) {
        for f in &r.files {
            if f.ftype == ft::FT_DELETED {
                self.files.remove(&f.name);
            } else {
                self.files.insert(f.name.clone(), f.clone());
            }
        }
        for name in &r.deleted {
            self.files.remove(name);
        }
        if !r.restore_objects.is_empty() {
            self.objects = r.restore_objects.clone();
        }
    }

    /// All names, sorted bytewise.
    pub fn names(&self) -> Vec<Vec<u8>> {
        self.files.keys().cloned().collect()
    }

    pub fn get(&self, name: &[u8]) -> Option<&SavedFile> {
        self.files.get(name)
    }

    /// All entries sorted by name (e.g. to restore everything).
    pub fn files(&self) -> Vec<&SavedFile> {
        self.files.values().collect()
    }

    pub fn len(&self) -> usize {
        self.files.len()
    }

    pub fn is_empty(&self) -> bool {
        self.files.is_empty()
    }

    /// Restore objects of the latest job that emitted any (sent before the next backup command,
    /// docs/abi.md, the Incremental sequence).
    pub fn restore_objects(&self) -> &[RestoreObjectRecord] {
        &self.objects
    }

    /// The previous-files list the director sends to an accurate Incr/Diff (name + encoded stat).
    pub(crate) fn accurate_list(&self) -> HashMap<Vec<u8>, AccEntry> {
        self.files
            .iter()
            .map(|(name, f)| {
                (
                    name.clone(),
                    AccEntry {
                        mtime: f.stat.mtime,
                        ctime: f.stat.ctime,
                        size: f.stat.size,
                    },
                )
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::super::{Flavour, StatRecord};
    use super::*;

    fn file(name: &str, ftype: i32, mtime: i64) -> SavedFile {
        SavedFile {
            name: name.as_bytes().to_vec(),
            ftype,
            size: 10,
            mtime,
            ctime: mtime,
            mode: 0o100644,
            stat: StatRecord {
                size: 10,
                mtime,
                ctime: mtime,
                mode: 0o100644,
                ..StatRecord::default()
            },
            link: None,
            data_len: 0,
            data_ref: None,
            cmd: "s3:x".into(),
            job_id: 1,
            io_error: false,
            xattrs: Vec::new(),
            xattr_records: Vec::new(),
        }
    }

    fn report(files: Vec<SavedFile>, deleted: Vec<&str>) -> JobReport {
        JobReport {
            flavour: Flavour::Bareos,
            job_id: 1,
            status: 'T',
            job_errors: 0,
            job_warnings: 0,
            messages: vec![],
            debug: vec![],
            files,
            unchanged: vec![],
            deleted: deleted.into_iter().map(|d| d.as_bytes().to_vec()).collect(),
            restore_objects: vec![],
            restored: 0,
            skipped: 0,
            protocol_violations: vec![],
            calls: vec![],
            discarded: Default::default(),
        }
    }

    #[test]
    fn apply_replaces_removes_and_keeps() {
        let mut c = Catalog::new();
        c.apply(&report(
            vec![
                file("/b/a", ft::FT_REG, 1),
                file("/b/b", ft::FT_REG, 1),
                file("/b/c", ft::FT_REG, 1),
            ],
            vec![],
        ));
        assert_eq!(c.len(), 3);
        c.apply(&report(
            vec![file("/b/a", ft::FT_REG, 2), file("/b/b", ft::FT_DELETED, 2)],
            vec!["/b/c", "/b/zz"],
        ));
        assert_eq!(c.names(), vec![b"/b/a".to_vec()]);
        assert_eq!(c.get(b"/b/a").unwrap().mtime, 2);
        let acc = c.accurate_list();
        assert_eq!(acc[&b"/b/a".to_vec()].mtime, 2);
    }
}
