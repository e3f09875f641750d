//! `endRestoreFile` of a file restored into S3: the data is verified against what the backup
//! recorded, then stored (one PUT, or the multipart upload completed) and given its recorded
//! headers and tags. Nothing unverified becomes visible.

use bytes::Bytes;

use crate::checksum::{md5_of, multipart_etag, StreamChecksum};
use crate::metadata::{ChecksumAlgorithm, ObjectMeta};
use crate::restore::s3::error::{Action, UploadError};
use crate::restore::s3::upload::{part_size_for, Upload};
use crate::runtime::block_on;

/// The largest object a single CopyObject copies.
const MAX_COPY: u64 = 5 << 30;

impl Upload {
    /// Verifies, stores and makes the object visible with its metadata; its size.
    pub fn finish(mut self) -> Result<u64, UploadError> {
        if let Some(why) = self.failed.take() {
            self.abort();
            return Err(why);
        }
        if !self.opened {
            return Err(UploadError::NoData {
                object: self.what(),
            });
        }
        let result = if self.stream_sum.is_some() {
            self.finish_multipart()
        } else {
            self.put()
        };
        if result.is_err() {
            self.abort();
        }
        result.map(|()| self.written)
    }

    /// Verifies the data against what the backup recorded.
    fn verify(
        &self,
        md5_hex: &str,
        sums: &[(ChecksumAlgorithm, String)],
    ) -> Result<(), UploadError> {
        let object = || self.what();
        if self.expected >= 0 && self.written != self.expected as u64 {
            return Err(UploadError::Truncated {
                object: object(),
                written: self.written,
                expected: self.expected,
            });
        }
        if let Some(etag) = self.meta.md5_etag() {
            if !etag.eq_ignore_ascii_case(md5_hex) {
                return Err(UploadError::Md5Differs {
                    object: object(),
                    md5: md5_hex.to_string(),
                    etag: etag.to_string(),
                });
            }
        }
        if let Some((algorithm, recorded)) = self.meta.full_checksum() {
            if let Some((_, computed)) = sums.iter().find(|(a, _)| *a == algorithm) {
                if computed != recorded {
                    return Err(UploadError::ChecksumDiffers {
                        object: object(),
                        algorithm: algorithm.name(),
                        computed: computed.clone(),
                        recorded: recorded.to_string(),
                    });
                }
            }
        }
        Ok(())
    }

    /// An object up to `part_size`: one PUT with everything.
    fn put(&mut self) -> Result<(), UploadError> {
        let data = Bytes::from(std::mem::take(&mut self.buffer));
        let recorded = self.meta.full_checksum().map(|(a, v)| (a, v.to_string()));
        let mut checksum =
            StreamChecksum::new(&recorded.iter().map(|(a, _)| *a).collect::<Vec<_>>());
        checksum.update(&data);
        let (md5_hex, sums) = checksum.finish();
        self.verify(&md5_hex, &sums)?;
        let (_, md5_b64) = md5_of(&data);
        let output = block_on(
            self.object
                .put(data, &md5_b64, &self.meta, recorded.as_ref()),
        )
        .map_err(Action::Store.on(&self.object))?;
        let kms = output
            .server_side_encryption()
            .is_some_and(|s| s.as_str().starts_with("aws:kms"));
        let etag = output.e_tag().unwrap_or_default().trim_matches('"');
        if !kms && !etag.is_empty() && !etag.eq_ignore_ascii_case(&md5_hex) {
            return Err(UploadError::StoredOther {
                object: self.what(),
                etag: etag.to_string(),
                md5: md5_hex,
            });
        }
        Ok(())
    }

    /// A larger object: the last part, the upload completed, then headers and tags.
    fn finish_multipart(&mut self) -> Result<(), UploadError> {
        if !self.buffer.is_empty() {
            self.send_part()?;
        }
        let mut mp = self.multipart.take().expect("a multipart upload");
        let (md5_hex, sums) = self
            .stream_sum
            .take()
            .expect("objects in parts are checksummed")
            .finish();
        let parts = std::mem::take(&mut mp.parts);
        let upload_id = mp.upload_id.clone();
        let part_md5s = mp.part_md5s.clone();
        // Put it back so that an error below aborts it.
        self.multipart = Some(mp);
        let mut completed = Vec::with_capacity(parts.len());
        for part in parts {
            match block_on(part) {
                Ok(Ok(p)) => completed.push(p),
                Ok(Err(f)) => return Err(Action::Part.on(&self.object)(f)),
                Err(e) => {
                    return Err(UploadError::PartLost {
                        object: self.what(),
                        detail: e.to_string(),
                    })
                }
            }
        }
        self.verify(&md5_hex, &sums)?;
        let output = block_on(
            self.object
                .complete_multipart(&upload_id, completed, self.written),
        )
        .map_err(Action::Complete.on(&self.object))?;
        self.multipart = None;
        let expected_etag = multipart_etag(&part_md5s);
        let etag = output.e_tag().unwrap_or_default().trim_matches('"');
        let kms = output
            .server_side_encryption()
            .is_some_and(|s| s.as_str().starts_with("aws:kms"));
        if !kms && !etag.is_empty() && etag != expected_etag {
            return Err(UploadError::StoredOtherParts {
                object: self.what(),
                etag: etag.to_string(),
                expected: expected_etag,
            });
        }
        let version = output
            .version_id()
            .filter(|v| *v != "null")
            .map(str::to_string);
        if self.meta.has_headers() {
            self.copy_with_headers(version.as_deref())?;
        } else if !self.meta.tags.is_empty() {
            self.put_tags(version.as_deref())?;
        }
        Ok(())
    }

    /// Sets the recorded headers (and tags) by copying the object onto itself; in a
    /// versioned bucket the headerless version is deleted afterwards.
    fn copy_with_headers(&self, version: Option<&str>) -> Result<(), UploadError> {
        // Tags are set on their own afterwards (Ceph 16 garbles tags given to a copy).
        let headers_only = ObjectMeta {
            tags: Vec::new(),
            ..self.meta.clone()
        };
        let new_version = if self.written <= MAX_COPY {
            block_on(
                self.object
                    .copy_onto_itself(version, self.written, &headers_only),
            )
            .map_err(Action::SetMetadata.on(&self.object))?
        } else {
            self.multipart_copy(version, &headers_only)?
        };
        // Some servers (Ceph 16) answer the copy without the new version's id: the current
        // version, asked for by a HEAD, is the copy then (unless somebody wrote the key since,
        // which makes the headerless version just as superseded).
        let new_version = match (version, new_version) {
            // A HEAD that still names the uploaded version (a lagging replica) tells nothing:
            // the tags then go on the current version and nothing is deleted.
            (Some(old), None) => self.current_version().filter(|v| v != old),
            (_, new) => new,
        };
        if !self.meta.tags.is_empty() {
            self.put_tags(new_version.as_deref())?;
        }
        if let (Some(old), Some(new)) = (version, new_version.as_deref()) {
            if old != new {
                block_on(self.object.delete(Some(old))).map_err(|failure| {
                    UploadError::IntermediateVersion {
                        object: self.what(),
                        version: old.to_string(),
                        failure,
                    }
                })?;
            }
        }
        Ok(())
    }

    /// The id of the key's current version, from a HEAD; `None` (with a warning: the headerless
    /// version is then left) if the HEAD fails or names none.
    fn current_version(&self) -> Option<String> {
        match block_on(self.object.head(None, None, false)) {
            Ok(head) => head
                .version_id()
                .filter(|v| *v != "null")
                .map(str::to_string),
            Err(failure) => {
                log::warn!(
                    "s3: cannot tell which version of {} the metadata copy made ({failure}); \
                     the version without its headers is left",
                    self.what()
                );
                None
            }
        }
    }

    /// Copy of an object above 5 GiB: a multipart copy with the recorded headers; aborted
    /// (under the retry policy) if any step fails.
    fn multipart_copy(
        &self,
        version: Option<&str>,
        meta: &ObjectMeta,
    ) -> Result<Option<String>, UploadError> {
        let object = &self.object;
        let fail = Action::SetMetadata;
        let source = object.copy_source(version);
        let upload_id =
            block_on(object.create_multipart(Some(meta))).map_err(fail.on(&self.object))?;
        let part = part_size_for(self.written, self.part_size).max(1 << 30);
        let result = block_on(async {
            let mut parts = Vec::new();
            let mut start = 0u64;
            let mut number = 1;
            while start < self.written {
                let end = (start + part).min(self.written);
                parts.push(
                    object
                        .upload_part_copy(&upload_id, number, &source, (start, end))
                        .await?,
                );
                start = end;
                number += 1;
            }
            let output = object
                .complete_multipart(&upload_id, parts, self.written)
                .await?;
            Ok(output.version_id().map(str::to_string))
        });
        if result.is_err() {
            if let Err(f) = block_on(object.uncancellable().abort_multipart(&upload_id)) {
                log::warn!(
                    "s3: could not abort the unfinished metadata copy {upload_id} of {}: {f}; \
                     a bucket lifecycle rule (AbortIncompleteMultipartUpload) removes it",
                    self.what()
                );
            }
        }
        result.map_err(fail.on(&self.object))
    }

    fn put_tags(&self, version: Option<&str>) -> Result<(), UploadError> {
        block_on(self.object.put_tags(version, &self.meta.tags))
            .map_err(Action::SetTags.on(&self.object))
    }
}
