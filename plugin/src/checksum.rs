//! Checksums of restored data, computed while it streams: the MD5 (what a single-part ETag
//! is) and, when the backup recorded one, the object's additional checksum.

use aws_smithy_types::base64;
use md5::{Digest as _, Md5};

use crate::metadata::ChecksumAlgorithm;

/// One additional checksum (CRC32, CRC32C, CRC64NVME, SHA-1 or SHA-256) over a stream.
pub enum Additional {
    Crc(crc_fast::Digest, usize),
    Sha1(sha1::Sha1),
    Sha256(sha2::Sha256),
}

impl Additional {
    pub fn new(algorithm: ChecksumAlgorithm) -> Self {
        use crc_fast::CrcAlgorithm as C;
        match algorithm {
            ChecksumAlgorithm::Crc32 => Additional::Crc(crc_fast::Digest::new(C::Crc32IsoHdlc), 4),
            ChecksumAlgorithm::Crc32c => Additional::Crc(crc_fast::Digest::new(C::Crc32Iscsi), 4),
            ChecksumAlgorithm::Crc64Nvme => Additional::Crc(crc_fast::Digest::new(C::Crc64Nvme), 8),
            ChecksumAlgorithm::Sha1 => Additional::Sha1(sha1::Sha1::new()),
            ChecksumAlgorithm::Sha256 => Additional::Sha256(sha2::Sha256::new()),
        }
    }

    pub fn update(&mut self, data: &[u8]) {
        match self {
            Additional::Crc(d, _) => d.update(data),
            Additional::Sha1(d) => d.update(data),
            Additional::Sha256(d) => d.update(data),
        }
    }

    /// Base64, as S3 writes it.
    pub fn finish(self) -> String {
        let bytes = match self {
            Additional::Crc(d, width) => d.finalize().to_be_bytes()[8 - width..].to_vec(),
            Additional::Sha1(d) => d.finalize().to_vec(),
            Additional::Sha256(d) => d.finalize().to_vec(),
        };
        base64::encode(bytes)
    }
}

/// MD5 plus optional additional checksums over a stream.
pub struct StreamChecksum {
    md5: Md5,
    extra: Vec<(ChecksumAlgorithm, Additional)>,
}

impl StreamChecksum {
    pub fn new(extra: &[ChecksumAlgorithm]) -> Self {
        StreamChecksum {
            md5: Md5::new(),
            extra: extra.iter().map(|&a| (a, Additional::new(a))).collect(),
        }
    }

    pub fn update(&mut self, data: &[u8]) {
        self.md5.update(data);
        for (_, state) in &mut self.extra {
            state.update(data);
        }
    }

    /// (MD5 as lowercase hex, the additional checksums base64-encoded as S3 writes them).
    pub fn finish(self) -> (String, Vec<(ChecksumAlgorithm, String)>) {
        let md5 = hex(&self.md5.finalize());
        let extra = self
            .extra
            .into_iter()
            .map(|(a, state)| (a, state.finish()))
            .collect();
        (md5, extra)
    }
}

pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// MD5 of one buffer, as hex and as the base64 a `Content-MD5` header wants.
pub fn md5_of(data: &[u8]) -> ([u8; 16], String) {
    let digest: [u8; 16] = Md5::digest(data).into();
    let b64 = base64::encode(digest);
    (digest, b64)
}

/// The ETag of a multipart upload from its parts' MD5s: `md5(md5_1 ‖ … ‖ md5_n)-n`.
pub fn multipart_etag(part_md5s: &[[u8; 16]]) -> String {
    let mut all = Md5::new();
    for m in part_md5s {
        all.update(m);
    }
    format!("{}-{}", hex(&all.finalize()), part_md5s.len())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn of(a: ChecksumAlgorithm, data: &[u8]) -> String {
        let mut c = StreamChecksum::new(&[a]);
        for chunk in data.chunks(3) {
            c.update(chunk);
        }
        c.finish().1.remove(0).1
    }

    #[test]
    fn known_values() {
        // Values S3 documents/returns for "hello world".
        let data = b"hello world";
        assert_eq!(of(ChecksumAlgorithm::Crc32, data), "DUoRhQ==");
        assert_eq!(of(ChecksumAlgorithm::Crc32c, data), "yZRlqg==");
        assert_eq!(
            of(ChecksumAlgorithm::Sha1, data),
            "Kq5sNclPz7QV2+lfQIuc6R7oRu0="
        );
        assert_eq!(
            of(ChecksumAlgorithm::Sha256, data),
            "uU0nuZNNPgilLlLX2n2r+sSE7+N6U4DukIj3rOLvzek="
        );
        let (md5, _) = StreamChecksum::new(&[]).finish();
        assert_eq!(md5, "d41d8cd98f00b204e9800998ecf8427e");
    }

    #[test]
    fn multipart_etag_of_parts() {
        let (a, _) = md5_of(b"a");
        let (b, _) = md5_of(b"b");
        let etag = multipart_etag(&[a, b]);
        assert!(etag.ends_with("-2") && etag.len() == 34);
    }
}
