//! The commands' reports on standard output.
//!
//! SIGPIPE stays ignored in the whole process (Rust's default), so a write to a socket whose
//! peer went away (an S3 server that closed the connection) is an error for the retry policy,
//! never a death by signal. Only standard output whose reader is gone (`dump-server … | head`)
//! ends the tool, the way other command-line tools end then: by SIGPIPE, quietly.

use std::fmt;
use std::io::{self, Write};

/// Like `println!`, on standard output; see the module's documentation for a closed pipe.
macro_rules! outln {
    () => { $crate::stdout::write(format_args!("\n")) };
    ($($arg:tt)*) => { $crate::stdout::write(format_args!("{}\n", format_args!($($arg)*))) };
}

/// Like `print!`, on standard output; see the module's documentation for a closed pipe.
macro_rules! out {
    ($($arg:tt)*) => { $crate::stdout::write(format_args!($($arg)*)) };
}

pub(crate) use {out, outln};

pub(crate) fn write(args: fmt::Arguments) {
    let mut stdout = io::stdout().lock();
    if let Err(e) = stdout.write_fmt(args).and_then(|()| stdout.flush()) {
        if e.kind() == io::ErrorKind::BrokenPipe {
            end_by_sigpipe();
        }
        let _ = writeln!(
            io::stderr(),
            "dump-server: cannot write to standard output: {e}"
        );
        std::process::exit(1);
    }
}

/// Ends the process by SIGPIPE, as a tool that never ignored it would have ended.
fn end_by_sigpipe() -> ! {
    // SAFETY: SIG_DFL is always a valid disposition; raise() on the calling thread delivers a
    // signal whose default action ends the whole process.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
        libc::raise(libc::SIGPIPE);
    }
    std::process::exit(128 + libc::SIGPIPE)
}
