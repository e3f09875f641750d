//! The reader side of an object's transfer: its units (one, or the parts of a large object)
//! read strictly in order, copied into the daemon's IO_READ buffers, byte counts checked.

use std::collections::VecDeque;

use tokio::sync::mpsc::error::TryRecvError;

use crate::backup::transfer_error::TransferError;
use crate::backup::unit_fetch::{Chunk, Head, UnitHandle};
use crate::s3::errors::Failure;

/// An object's transfer in flight.
pub struct PendingBody {
    units: VecDeque<UnitHandle>,
}

impl PendingBody {
    pub fn new(units: Vec<UnitHandle>) -> Self {
        PendingBody {
            units: units.into(),
        }
    }

    /// Waits for the response head of the first unit (job thread).
    pub fn head(&mut self) -> Result<Head, Failure> {
        let Some(head) = self.units.front_mut().and_then(|u| u.head.take()) else {
            return Err(Failure::Other("the response head was already taken".into()));
        };
        head.blocking_recv()
            .unwrap_or_else(|_| Err(Failure::Other("the request was cancelled".into())))
    }

    /// The body as a reader for the daemon's IO_READ calls.
    pub fn into_reader(self, expected: u64) -> BodyReader {
        BodyReader {
            units: self.units,
            unit_received: 0,
            current: None,
            offset: 0,
            received: 0,
            expected,
            failed: None,
        }
    }
}

/// Hands the body to the daemon in whatever sizes it asks for.
pub struct BodyReader {
    units: VecDeque<UnitHandle>,
    unit_received: u64,
    current: Option<Chunk>,
    offset: usize,
    received: u64,
    expected: u64,
    /// A failure met after some bytes of a read, reported by the next read.
    failed: Option<TransferError>,
}

/// What the reader finds next.
enum Next {
    /// A chunk is current.
    Chunk,
    /// No data yet (only when not waiting).
    NotYet,
    /// Every unit has ended.
    End,
    Failed(TransferError),
}

impl BodyReader {
    /// Fills `buf` with what has arrived, waiting only while nothing has: a daemon read is one
    /// record of the backup, so reads are as full as the data at hand allows. `Ok(0)` at the end
    /// of a complete body.
    pub fn read(&mut self, buf: &mut [u8]) -> Result<usize, TransferError> {
        if let Some(why) = self.failed.take() {
            return Err(why);
        }
        let mut filled = 0;
        while filled < buf.len() {
            if let Some(chunk) = &self.current {
                let rest = &chunk.bytes[self.offset..];
                if !rest.is_empty() {
                    let n = rest.len().min(buf.len() - filled);
                    buf[filled..filled + n].copy_from_slice(&rest[..n]);
                    self.offset += n;
                    self.received += n as u64;
                    self.unit_received += n as u64;
                    filled += n;
                    if self.received > self.expected {
                        return Err(TransferError::Corrupt(format!(
                            "the body is longer than its {} bytes",
                            self.expected
                        )));
                    }
                    continue;
                }
                self.current = None; // releases its budget
            }
            match self.next_chunk(filled == 0) {
                Next::Chunk => {}
                Next::NotYet | Next::End => break,
                Next::Failed(why) if filled == 0 => return Err(why),
                Next::Failed(why) => {
                    self.failed = Some(why);
                    break;
                }
            }
        }
        Ok(filled)
    }

    /// Makes the next chunk current, waiting for it if `wait`.
    fn next_chunk(&mut self, wait: bool) -> Next {
        loop {
            let Some(unit) = self.units.front_mut() else {
                return if self.received == self.expected {
                    Next::End
                } else {
                    Next::Failed(TransferError::Short {
                        got: self.received,
                        expected: self.expected,
                    })
                };
            };
            let next = if wait {
                unit.chunks.blocking_recv()
            } else {
                match unit.chunks.try_recv() {
                    Ok(next) => Some(next),
                    Err(TryRecvError::Empty) => return Next::NotYet,
                    Err(TryRecvError::Disconnected) => None,
                }
            };
            match next {
                Some(Ok(chunk)) => {
                    self.current = Some(chunk);
                    self.offset = 0;
                    return Next::Chunk;
                }
                Some(Err(error)) => {
                    return Next::Failed(TransferError::After {
                        cause: Box::new(error),
                        received: self.received,
                        expected: self.expected,
                    })
                }
                None => {
                    // This unit is done: a ranged part must have delivered all of its bytes.
                    if let Some(len) = unit.len {
                        if self.unit_received != len {
                            return Next::Failed(TransferError::ShortPart {
                                got: self.unit_received,
                                len,
                                received: self.received,
                                expected: self.expected,
                            });
                        }
                    }
                    self.units.pop_front();
                    self.unit_received = 0;
                }
            }
        }
    }

    pub fn received(&self) -> u64 {
        self.received
    }
}

#[cfg(test)]
mod tests {
    use tokio::sync::mpsc;

    use super::*;

    type Feed = mpsc::Sender<Result<Chunk, TransferError>>;

    /// A body of units of the given lengths (`None`: a whole object), and their feeds.
    fn body(lens: &[Option<u64>], expected: u64) -> (BodyReader, Vec<Feed>) {
        let (units, feeds) = lens
            .iter()
            .map(|&len| {
                let (tx, chunks) = mpsc::channel(16);
                let unit = UnitHandle {
                    head: None,
                    chunks,
                    len,
                };
                (unit, tx)
            })
            .unzip();
        (PendingBody::new(units).into_reader(expected), feeds)
    }

    fn feed(tx: &Feed, bytes: &[u8]) {
        tx.try_send(Ok(Chunk::unbudgeted(bytes))).unwrap();
    }

    #[test]
    fn a_read_fills_its_buffer_across_chunks_and_parts() {
        let (mut reader, mut feeds) = body(&[Some(5), Some(3)], 8);
        feed(&feeds[0], b"ab");
        feed(&feeds[0], b"cde");
        feed(&feeds[1], b"fgh");
        feeds.clear(); // every unit has ended
        let mut buf = [0u8; 6];
        assert_eq!(reader.read(&mut buf), Ok(6));
        assert_eq!(&buf, b"abcdef");
        assert_eq!(reader.read(&mut buf), Ok(2));
        assert_eq!(&buf[..2], b"gh");
        assert_eq!(reader.read(&mut buf), Ok(0));
        assert_eq!(reader.received(), 8);
    }

    #[test]
    fn a_read_returns_what_has_arrived_without_waiting_for_more() {
        let (mut reader, feeds) = body(&[None], 10);
        feed(&feeds[0], b"abc");
        let mut buf = [0u8; 8];
        assert_eq!(reader.read(&mut buf), Ok(3));
        feed(&feeds[0], b"defghij");
        drop(feeds);
        assert_eq!(reader.read(&mut buf), Ok(7));
        assert_eq!(&buf[..7], b"defghij");
        assert_eq!(reader.read(&mut buf), Ok(0));
    }

    #[test]
    fn a_failure_after_some_bytes_is_reported_by_the_next_read() {
        let (mut reader, feeds) = body(&[None], 10);
        feed(&feeds[0], b"abc");
        feeds[0]
            .try_send(Err(TransferError::Corrupt("the body broke off".into())))
            .unwrap();
        let mut buf = [0u8; 8];
        assert_eq!(reader.read(&mut buf), Ok(3));
        let why = reader.read(&mut buf).unwrap_err().to_string();
        assert_eq!(why, "the body broke off after 3 of 10 bytes");
    }

    #[test]
    fn short_parts_and_short_bodies_are_errors_never_a_short_object() {
        let (mut reader, mut feeds) = body(&[Some(4), Some(4)], 8);
        feed(&feeds[0], b"abc");
        feed(&feeds[1], b"defg");
        feeds.clear();
        let mut buf = [0u8; 16];
        assert_eq!(reader.read(&mut buf), Ok(3));
        let why = reader.read(&mut buf).unwrap_err().to_string();
        assert!(why.starts_with("a part ended after 3 of 4 bytes"), "{why}");

        let (mut reader, feeds) = body(&[None], 8);
        feed(&feeds[0], b"abcde");
        drop(feeds);
        assert_eq!(reader.read(&mut buf), Ok(5));
        let why = reader.read(&mut buf).unwrap_err().to_string();
        assert_eq!(why, "the body ended after 5 of 8 bytes");

        let (mut reader, feeds) = body(&[None], 2);
        feed(&feeds[0], b"abc");
        assert!(reader
            .read(&mut buf)
            .unwrap_err()
            .to_string()
            .contains("longer than its 2 bytes"));
    }
}
