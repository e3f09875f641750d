//! Why an object's data could not be read whole: what a unit's transfer reports to the reader,
//! and what the reader reports to the daemon's IO_READ (the job's message names the object).

use crate::s3::errors::Failure;

/// A transfer that did not deliver its bytes.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TransferError {
    /// The GET pinned to the listed ETag answered 412.
    #[error("the object changed since it was listed (its ETag no longer matches)")]
    Changed,
    /// The GET answered 404.
    #[error("the object was deleted meanwhile")]
    NotFound,
    /// The request failed under the retry policy.
    #[error("{0}")]
    Request(Failure),
    /// Data arrived that cannot be right (a checksum that does not match, a range other than
    /// the one asked for, more bytes than the object has): nothing to resume.
    #[error("{0}")]
    Corrupt(String),
    /// The object's body ended early.
    #[error("the body ended after {got} of {expected} bytes")]
    Short { got: u64, expected: u64 },
    /// One part of a large object ended early.
    #[error(
        "a part ended after {got} of {len} bytes ({received} of {expected} bytes of the object)"
    )]
    ShortPart {
        got: u64,
        len: u64,
        received: u64,
        expected: u64,
    },
    /// The body broke off (`broken` says how) and the rest could not be had.
    #[error("{broken}{why}")]
    NotResumed { broken: String, why: NotResumed },
    /// A unit's failure, with how far the object had been read.
    #[error("{cause} after {received} of {expected} bytes")]
    After {
        cause: Box<TransferError>,
        received: u64,
        expected: u64,
    },
}

/// Why a broken body was not resumed (each text follows what broke).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NotResumed {
    #[error(" (cannot resume: no ETag/size)")]
    NoEtag,
    #[error(" (gave up after {0} retries without progress)")]
    GaveUp(u32),
    #[error(", and the object changed before the rest could be read (its ETag no longer matches)")]
    Changed,
    #[error(", and the object was deleted meanwhile")]
    NotFound,
    #[error("; the resumed response covers {}, not bytes {from}-{to}", .got.as_deref().unwrap_or("no range"))]
    WrongRange {
        got: Option<String>,
        from: u64,
        to: u64,
    },
    #[error("; resuming failed: {0}")]
    Failed(Failure),
}

impl From<Failure> for TransferError {
    fn from(failure: Failure) -> Self {
        match failure {
            Failure::Changed => TransferError::Changed,
            Failure::NotFound => TransferError::NotFound,
            other => TransferError::Request(other),
        }
    }
}

impl From<Failure> for NotResumed {
    fn from(failure: Failure) -> Self {
        match failure {
            Failure::Changed => NotResumed::Changed,
            Failure::NotFound => NotResumed::NotFound,
            other => NotResumed::Failed(other),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn texts_say_what_happened_without_debug_prints() {
        let broken = TransferError::NotResumed {
            broken: "the body broke off: connection reset".into(),
            why: Failure::Other("HTTP 500 InternalError".into()).into(),
        };
        assert_eq!(
            broken.to_string(),
            "the body broke off: connection reset; resuming failed: HTTP 500 InternalError"
        );
        let at = TransferError::After {
            cause: Box::new(TransferError::from(Failure::NotFound)),
            received: 3,
            expected: 10,
        };
        assert_eq!(
            at.to_string(),
            "the object was deleted meanwhile after 3 of 10 bytes"
        );
        let range = NotResumed::WrongRange {
            got: None,
            from: 5,
            to: 9,
        };
        assert_eq!(
            range.to_string(),
            "; the resumed response covers no range, not bytes 5-9"
        );
        for text in [broken.to_string(), at.to_string(), range.to_string()] {
            assert!(!text.contains("Other(") && !text.contains('"'), "{text}");
        }
    }
}
