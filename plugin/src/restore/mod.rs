//! A restore: `target` decides where each file goes, `local` writes it to disk, `s3` uploads it
//! into a bucket.

pub(crate) mod local;
pub(crate) mod s3;
pub(crate) mod target;
