//! Exit codes: 0 success; 1 a check failed, or S3/file trouble during a run; 2 bad usage (flags,
//! plugin string, plan file).

use std::process::ExitCode;

#[derive(Debug)]
pub struct Failure {
    pub code: u8,
    pub message: String,
}

impl Failure {
    /// Bad flags, plugin string or plan file (exit 2).
    pub fn usage(message: impl Into<String>) -> Failure {
        Failure {
            code: 2,
            message: message.into(),
        }
    }

    /// The run failed (exit 1).
    pub fn error(message: impl Into<String>) -> Failure {
        Failure {
            code: 1,
            message: message.into(),
        }
    }

    /// A failure already reported line by line (`check`).
    pub fn silent() -> Failure {
        Failure {
            code: 1,
            message: String::new(),
        }
    }

    pub fn exit(self) -> ExitCode {
        if !self.message.is_empty() {
            eprintln!("dump-server: {}", self.message);
        }
        ExitCode::from(self.code)
    }
}
