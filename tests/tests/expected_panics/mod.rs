//! Keeps the panics a test provokes on purpose out of a green run's output, and hands the test
//! what they printed so that it can check it.
//!
//! The plugins under test are cdylibs with their own copy of the Rust standard library, so
//! their own panic hook: the boundary's hook (`ffi/src/boundary.rs`) keeps the panic's text for
//! the fatal job message, then runs the default hook, which prints the panic (and, with
//! `RUST_BACKTRACE`, a backtrace) on the process's standard error — in production the daemon's,
//! where it belongs. A `std::panic::set_hook` in the test binary cannot reach that hook,
//! and libtest's output capture does not see those writes. So while the expected panics run,
//! file descriptor 2 points at an unlinked temporary file; the guard puts it back when it is
//! dropped (also when an assertion fails) and [`StderrCapture::finish`] returns what was
//! written. Captures in one test binary take turns (a process has one descriptor 2).

use std::fs::{File, OpenOptions};
use std::io::{Read, Seek, SeekFrom};
use std::os::fd::AsRawFd;
use std::sync::{Mutex, MutexGuard};

static TURN: Mutex<()> = Mutex::new(());

/// Standard error of the whole process, diverted to a temporary file until `finish` or drop.
pub struct StderrCapture {
    file: File,
    saved: Option<libc::c_int>,
    _turn: MutexGuard<'static, ()>,
}

impl StderrCapture {
    pub fn start() -> Self {
        let turn = TURN.lock().unwrap_or_else(|e| e.into_inner());
        let path = std::env::temp_dir().join(format!(
            "s3fd-expected-panics-{}-{:?}",
            std::process::id(),
            std::thread::current().id()
        ));
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create_new(true)
            .open(&path)
            .unwrap_or_else(|e| panic!("cannot create {}: {e}", path.display()));
        let _ = std::fs::remove_file(&path);
        // SAFETY: dup and dup2 on descriptors this process owns; `saved` is closed in `restore`.
        let saved = unsafe { libc::dup(libc::STDERR_FILENO) };
        assert!(saved >= 0, "dup(2): {}", std::io::Error::last_os_error());
        // SAFETY: as above.
        let r = unsafe { libc::dup2(file.as_raw_fd(), libc::STDERR_FILENO) };
        assert!(r >= 0, "dup2: {}", std::io::Error::last_os_error());
        StderrCapture {
            file,
            saved: Some(saved),
            _turn: turn,
        }
    }

    /// Puts standard error back and returns everything written to it meanwhile.
    pub fn finish(mut self) -> String {
        self.restore();
        let mut bytes = Vec::new();
        self.file
            .seek(SeekFrom::Start(0))
            .and_then(|_| self.file.read_to_end(&mut bytes))
            .expect("reading the captured standard error");
        String::from_utf8_lossy(&bytes).into_owned()
    }

    fn restore(&mut self) {
        if let Some(saved) = self.saved.take() {
            // SAFETY: `saved` is the descriptor `start` duplicated from 2; closed once here.
            unsafe {
                libc::dup2(saved, libc::STDERR_FILENO);
                libc::close(saved);
            }
        }
    }
}

impl Drop for StderrCapture {
    fn drop(&mut self) {
        self.restore();
    }
}
