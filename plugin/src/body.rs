//! The reader side of an object's transfer: its units (one, or the parts of a large object)
//! read strictly in order, copied into the daemon's IO_READ buffers, byte counts checked.

use std::collections::VecDeque;

use crate::fetch::{Chunk, Head, UnitHandle};
use crate::s3_errors::Failure;

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
}

impl BodyReader {
    /// Fills `buf` as far as the current chunk allows; `Ok(0)` at the end of a complete body.
    pub fn read(&mut self, buf: &mut [u8]) -> Result<usize, String> {
        loop {
            if let Some(chunk) = &self.current {
                let rest = &chunk.bytes[self.offset..];
                if !rest.is_empty() {
                    let n = rest.len().min(buf.len());
                    buf[..n].copy_from_slice(&rest[..n]);
                    self.offset += n;
                    self.received += n as u64;
                    self.unit_received += n as u64;
                    if self.received > self.expected {
                        return Err(format!(
                            "the body is longer than its {} bytes",
                            self.expected
                        ));
                    }
                    return Ok(n);
                }
                self.current = None; // releases its budget
            }
            let Some(unit) = self.units.front_mut() else {
                return if self.received == self.expected {
                    Ok(0)
                } else {
                    Err(format!(
                        "the body ended after {} of {} bytes",
                        self.received, self.expected
                    ))
                };
            };
            match unit.chunks.blocking_recv() {
                Some(Ok(chunk)) => {
                    self.current = Some(chunk);
                    self.offset = 0;
                }
                Some(Err(message)) => {
                    return Err(format!(
                        "{message} after {} of {} bytes",
                        self.received, self.expected
                    ))
                }
                None => {
                    // This unit is done: a ranged part must have delivered all of its bytes.
                    if let Some(len) = unit.len {
                        if self.unit_received != len {
                            return Err(format!(
                                "a part ended after {} of {len} bytes ({} of {} bytes of the object)",
                                self.unit_received, self.received, self.expected
                            ));
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
