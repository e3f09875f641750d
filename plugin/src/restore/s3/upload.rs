//! One file being restored into S3, as the daemon writes it: held in memory up to `part_size`,
//! above that streamed into a multipart upload whose parts go up in the background, at most
//! `prefetch_bytes` of them in memory at once. An upload that ends in error is aborted.

use std::sync::Arc;

use aws_sdk_s3::types::CompletedPart;
use bytes::Bytes;
use tokio::sync::Semaphore;
use tokio::task::JoinHandle;

use crate::checksum::{md5_of, StreamChecksum};
use crate::metadata::ObjectMeta;
use crate::restore::s3::error::{Action, UploadError};
use crate::runtime::{block_on, runtime};
use crate::s3::errors::Failure;
use crate::s3::object::ObjectHandle;

/// S3's limits.
const MAX_PARTS: u64 = 10_000;
const MAX_PART: u64 = 5 << 30;
/// The smallest part S3 takes (but the last).
const MIN_PART: u64 = 5 << 20;

pub(super) struct Multipart {
    pub upload_id: String,
    part_size: u64,
    pub parts: Vec<JoinHandle<Result<CompletedPart, Failure>>>,
    pub part_md5s: Vec<[u8; 16]>,
    /// Parts in memory (being uploaded) at once.
    in_flight: Arc<Semaphore>,
}

/// One file being restored.
pub(super) struct Upload {
    pub object: ObjectHandle,
    pub expected: i64,
    pub part_size: u64,
    max_in_flight: usize,
    pub buffer: Vec<u8>,
    pub written: u64,
    pub multipart: Option<Multipart>,
    /// Of an object uploaded in parts: MD5 and CRCs of the whole stream (its data is gone
    /// when it is verified).
    pub stream_sum: Option<StreamChecksum>,
    pub meta: ObjectMeta,
    /// A write failed: the file ends in error.
    pub failed: Option<UploadError>,
    pub opened: bool,
}

/// The part size of an object: `part_size` (at least S3's 5 MiB), grown to keep under
/// 10,000 parts.
pub(super) fn part_size_for(size: u64, part_size: u64) -> u64 {
    let needed = size.div_ceil(MAX_PARTS);
    let mib = 1 << 20;
    part_size
        .max(MIN_PART)
        .max(needed.div_ceil(mib) * mib)
        .min(MAX_PART)
}

impl Upload {
    /// A file of `expected` bytes (-1: unknown) into `object`.
    pub fn new(object: ObjectHandle, expected: i64, part_size: u64, prefetch_bytes: u64) -> Self {
        let part_size = part_size_for(expected.max(0) as u64, part_size);
        Upload {
            object,
            expected,
            part_size,
            max_in_flight: (prefetch_bytes / part_size).max(1) as usize,
            buffer: Vec::new(),
            written: 0,
            multipart: None,
            stream_sum: (expected < 0 || expected as u64 > part_size).then(|| {
                StreamChecksum::new(&[
                    crate::metadata::ChecksumAlgorithm::Crc32,
                    crate::metadata::ChecksumAlgorithm::Crc32c,
                    crate::metadata::ChecksumAlgorithm::Crc64Nvme,
                ])
            }),
            meta: ObjectMeta::default(),
            failed: None,
            opened: false,
        }
    }

    pub fn what(&self) -> String {
        self.object.uri()
    }

    /// Starts the multipart upload (without headers: they come after the data).
    fn begin_multipart(&mut self) -> Result<(), UploadError> {
        let upload_id =
            block_on(self.object.create_multipart(None)).map_err(Action::Start.on(&self.object))?;
        self.multipart = Some(Multipart {
            upload_id,
            part_size: self.part_size,
            parts: Vec::new(),
            part_md5s: Vec::new(),
            in_flight: Arc::new(Semaphore::new(self.max_in_flight)),
        });
        Ok(())
    }

    /// Sends the buffer as the next part, in the background.
    pub fn send_part(&mut self) -> Result<(), UploadError> {
        if self.multipart.is_none() {
            self.begin_multipart()?;
        }
        let object = self.object.clone();
        let what = self.what();
        let mp = self.multipart.as_mut().expect("started above");
        let data = Bytes::from(std::mem::take(&mut self.buffer));
        self.buffer = Vec::with_capacity(mp.part_size as usize);
        let (md5, md5_b64) = md5_of(&data);
        mp.part_md5s.push(md5);
        let number = mp.part_md5s.len() as i32;
        // Blocks the daemon's writes while the parts in memory use up the budget.
        let permit = block_on(mp.in_flight.clone().acquire_owned())
            .map_err(|_| UploadError::Stopped { object: what })?;
        let upload_id = mp.upload_id.clone();
        let task = async move {
            let _permit = permit;
            object.upload_part(&upload_id, number, data, &md5_b64).await
        };
        mp.parts.push(runtime().spawn(task));
        Ok(())
    }

    pub fn write(&mut self, data: &[u8]) -> Result<(), UploadError> {
        if let Some(why) = &self.failed {
            return Err(why.clone());
        }
        self.written += data.len() as u64;
        if self.expected >= 0 && self.written > self.expected as u64 {
            return Err(UploadError::TooLong {
                object: self.what(),
                size: self.expected,
            });
        }
        if let Some(sum) = &mut self.stream_sum {
            sum.update(data);
        }
        let multipart = self.stream_sum.is_some();
        let mut rest = data;
        while !rest.is_empty() {
            let room = (self.part_size as usize).saturating_sub(self.buffer.len());
            let n = room.min(rest.len());
            self.buffer.extend_from_slice(&rest[..n]);
            rest = &rest[n..];
            if multipart && self.buffer.len() as u64 >= self.part_size {
                self.send_part()?;
            }
        }
        Ok(())
    }

    /// Aborts a multipart upload (waiting for its parts first, so none lands after it).
    pub fn abort(&mut self) {
        let Some(mp) = self.multipart.take() else {
            return;
        };
        for part in &mp.parts {
            part.abort();
        }
        // Not cancellable: the abort is what a cancelled job still owes the bucket.
        let object = self.object.uncancellable();
        let upload_id = mp.upload_id;
        let result = block_on(async {
            for part in mp.parts {
                let _ = part.await;
            }
            object.abort_multipart(&upload_id).await
        });
        if let Err(f) = result {
            log::warn!(
                "s3: could not abort the unfinished upload {upload_id} of {}: {f}; \
                 a bucket lifecycle rule (AbortIncompleteMultipartUpload) removes it",
                object.uri()
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::part_size_for;

    #[test]
    fn parts_stay_under_ten_thousand() {
        let mib = 1u64 << 20;
        assert_eq!(part_size_for(100 * mib, 8 * mib), 8 * mib);
        assert_eq!(part_size_for(100 * mib, mib), 5 * mib, "S3's minimum part");
        for size in [80_000 * mib, 1 << 40, 5 << 40] {
            let p = part_size_for(size, 8 * mib);
            assert!(size.div_ceil(p) <= 10_000, "{size} in parts of {p}");
            assert_eq!(p % mib, 0);
        }
    }
}
