//! The harness' "volume": where the data the core reads from the plugin goes.
//!
//! Small data stays in memory; anything above [`SPILL_THRESHOLD`] is streamed to a file in a
//! per-process temp directory (`<target>/harness-tmp/pid-<pid>/`), so a 300 MiB object is held
//! once on disk, not several times in memory. The SHA-256 is computed while writing. Files are
//! removed when the last [`DataRef`] to them is dropped; directories of dead processes are removed
//! on first use.

use std::fmt;
use std::fs::{self, File};
use std::io::{BufWriter, Read, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::OnceLock;

use super::sha256::{hex, Sha256};

/// Data up to this many bytes stays in memory.
pub(crate) const SPILL_THRESHOLD: usize = 1 << 20;

/// The per-process scratch directory (created on first use).
pub(crate) fn scratch_dir() -> &'static Path {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        let root = super::loader::target_dir().join("harness-tmp");
        remove_stale(&root);
        let dir = root.join(format!("pid-{}", std::process::id()));
        fs::create_dir_all(&dir)
            .unwrap_or_else(|e| panic!("harness: cannot create {}: {e}", dir.display()));
        dir
    })
}

/// Removes `pid-N` directories whose process is gone.
fn remove_stale(root: &Path) {
    let Ok(entries) = fs::read_dir(root) else {
        return;
    };
    for entry in entries.flatten() {
        let name = entry.file_name();
        let Some(pid) = name.to_str().and_then(|n| n.strip_prefix("pid-")) else {
            continue;
        };
        if !Path::new("/proc").join(pid).exists() {
            let _ = fs::remove_dir_all(entry.path());
        }
    }
}

/// A unique path in the scratch directory.
pub(crate) fn scratch_path(stem: &str) -> PathBuf {
    static N: AtomicU64 = AtomicU64::new(0);
    let n = N.fetch_add(1, Ordering::Relaxed);
    scratch_dir().join(format!("{stem}-{n}"))
}

enum Store {
    Mem(Vec<u8>),
    File(PathBuf),
}

/// Saved data of one entry: its length, SHA-256 and where the bytes are.
pub struct DataRef {
    len: u64,
    sha256: [u8; 32],
    store: Store,
}

impl fmt::Debug for DataRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let place = match &self.store {
            Store::Mem(_) => "memory".to_owned(),
            Store::File(p) => p.display().to_string(),
        };
        write!(
            f,
            "DataRef({} bytes, sha256 {}, {place})",
            self.len,
            hex(&self.sha256)
        )
    }
}

impl Drop for DataRef {
    fn drop(&mut self) {
        if let Store::File(p) = &self.store {
            let _ = fs::remove_file(p);
        }
    }
}

impl DataRef {
    /// In-memory data (for tests that hand-craft what a restore receives).
    pub fn from_bytes(bytes: Vec<u8>) -> DataRef {
        let mut h = super::sha256::Sha256::new();
        h.update(&bytes);
        DataRef {
            len: bytes.len() as u64,
            sha256: h.finish(),
            store: Store::Mem(bytes),
        }
    }

    /// Length in bytes.
    pub fn len(&self) -> u64 {
        self.len
    }

    /// True for zero bytes.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Lower-case hex SHA-256.
    pub fn sha256_hex(&self) -> String {
        hex(&self.sha256)
    }

    pub(crate) fn empty_sha256_hex() -> String {
        hex(&Sha256::new().finish())
    }

    /// The spill file, if the data is not in memory.
    pub fn path(&self) -> Option<&Path> {
        match &self.store {
            Store::Mem(_) => None,
            Store::File(p) => Some(p),
        }
    }

    /// A reader over the bytes.
    pub fn reader(&self) -> Box<dyn Read + '_> {
        match &self.store {
            Store::Mem(v) => Box::new(v.as_slice()),
            Store::File(p) => Box::new(
                File::open(p).unwrap_or_else(|e| panic!("harness: open {}: {e}", p.display())),
            ),
        }
    }

    /// All bytes (one copy).
    pub fn bytes(&self) -> Vec<u8> {
        match &self.store {
            Store::Mem(v) => v.clone(),
            Store::File(p) => {
                fs::read(p).unwrap_or_else(|e| panic!("harness: read {}: {e}", p.display()))
            }
        }
    }

    /// Whether the bytes equal `other`, streaming a spilled file.
    pub fn matches(&self, other: &[u8]) -> bool {
        if other.len() as u64 != self.len {
            return false;
        }
        let mut reader = self.reader();
        let mut buf = vec![0u8; 1 << 16];
        let mut pos = 0usize;
        loop {
            let n = reader
                .read(&mut buf)
                .unwrap_or_else(|e| panic!("harness: reading saved data: {e}"));
            if n == 0 {
                return pos == other.len();
            }
            if pos + n > other.len() || buf[..n] != other[pos..pos + n] {
                return false;
            }
            pos += n;
        }
    }
}

/// Collects the data of one entry while the core reads it.
pub(crate) struct DataWriter {
    len: u64,
    sha: Sha256,
    mem: Vec<u8>,
    file: Option<(PathBuf, BufWriter<File>)>,
}

impl DataWriter {
    pub(crate) fn new() -> Self {
        DataWriter {
            len: 0,
            sha: Sha256::new(),
            mem: Vec::new(),
            file: None,
        }
    }

    pub(crate) fn write(&mut self, data: &[u8]) {
        self.len += data.len() as u64;
        self.sha.update(data);
        if self.file.is_none() && self.mem.len() + data.len() > SPILL_THRESHOLD {
            let path = scratch_path("data");
            let f = File::create(&path)
                .unwrap_or_else(|e| panic!("harness: create {}: {e}", path.display()));
            let mut w = BufWriter::with_capacity(1 << 20, f);
            w.write_all(&self.mem)
                .unwrap_or_else(|e| panic!("harness: write {}: {e}", path.display()));
            self.mem = Vec::new();
            self.file = Some((path, w));
        }
        match &mut self.file {
            Some((path, w)) => w
                .write_all(data)
                .unwrap_or_else(|e| panic!("harness: write {}: {e}", path.display())),
            None => self.mem.extend_from_slice(data),
        }
    }

    pub(crate) fn finish(self) -> DataRef {
        let store = match self.file {
            Some((path, mut w)) => {
                w.flush()
                    .unwrap_or_else(|e| panic!("harness: flush {}: {e}", path.display()));
                Store::File(path)
            }
            None => Store::Mem(self.mem),
        };
        DataRef {
            len: self.len,
            sha256: self.sha.finish(),
            store,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn small_data_stays_in_memory() {
        let mut w = DataWriter::new();
        w.write(b"hello ");
        w.write(b"world");
        let d = w.finish();
        assert!(d.path().is_none());
        assert_eq!(d.bytes(), b"hello world");
        assert!(d.matches(b"hello world"));
        assert!(!d.matches(b"hello worle"));
        assert_eq!(
            d.sha256_hex(),
            "b94d27b9934d3e08a52e52d7da7dabfac484efe37a5380ee9088f7ace2efcde9"
        );
    }

    #[test]
    fn large_data_spills_and_is_removed() {
        let data: Vec<u8> = (0..3 * SPILL_THRESHOLD).map(|i| (i % 253) as u8).collect();
        let mut w = DataWriter::new();
        for c in data.chunks(65_536) {
            w.write(c);
        }
        let d = w.finish();
        let path = d.path().expect("spilled").to_path_buf();
        assert!(path.exists());
        assert_eq!(d.len(), data.len() as u64);
        assert!(d.matches(&data));
        let mut other = data.clone();
        *other.last_mut().unwrap() ^= 1;
        assert!(!d.matches(&other));
        let mut h = Sha256::new();
        h.update(&data);
        assert_eq!(d.sha256_hex(), hex(&h.finish()));
        drop(d);
        assert!(!path.exists());
    }
}
