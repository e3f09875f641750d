//! Where a restored file goes — one rule:
//!
//! 1. Plugin Options given to the restore (Bareos `pluginoptions="s3:bucket=OTHER"` or the
//!    restore job's `FD Plugin Options`) always mean S3: the options recorded at backup with
//!    these over them (`bucket=`, `prefix=`, `endpoint=`, `credentials_file=`, …).
//! 2. Bacula has no restore-time Plugin Options: a Where that is an `s3:key=value…` string is
//!    read as such (`where=s3:bucket=OTHER`).
//! 3. Otherwise an empty Where or `/` means back into the original bucket and key.
//! 4. Any other Where is a local directory (see `restore_local`).
//!
//! In S3 the key is the original key; with a restore-time `prefix=P` it is `P` + the original
//! key, and with `bucket=B` it goes into bucket `B`.

use crate::config::naming::name_to_key;
use crate::config::options::{parse_pairs, OptionError, PLUGIN_NAME};
use fd_ffi::RestoreFile;

#[derive(Debug, PartialEq, Eq)]
pub enum Destination {
    Local,
    /// Into S3, with these restore-time options.
    S3(Vec<(String, String)>),
}

/// Applies the rule to the restore's Plugin Options and the file's Where.
pub fn destination(
    overrides: &[(String, String)],
    where_: Option<&[u8]>,
) -> Result<Destination, OptionError> {
    if !overrides.is_empty() {
        return Ok(Destination::S3(overrides.to_vec()));
    }
    match where_ {
        Some(b"") | Some(b"/") => Ok(Destination::S3(Vec::new())),
        Some(w) if w.starts_with(format!("{PLUGIN_NAME}:").as_bytes()) => {
            Ok(Destination::S3(parse_pairs(&String::from_utf8_lossy(w))?))
        }
        _ => Ok(Destination::Local),
    }
}

/// The job's replace setting against an existing target (file or object) modified at
/// `existing`: whether to keep it rather than restore the backup copy of time `backup`.
/// `a` always, `w` if the backup is newer, `o` if it is older, `n` never.
pub fn keeps_existing(replace: u8, existing: i64, backup: i64) -> bool {
    match replace {
        b'n' => true,
        b'w' => existing >= backup,
        b'o' => existing <= backup,
        _ => false,
    }
}

/// The name recorded at backup (`/bucket/key…`): the daemon's original name where it gives
/// one, else the output name without the Where prefix.
pub fn recorded_name(file: &RestoreFile<'_>) -> Vec<u8> {
    if let Some(original) = file.original_name {
        return original.to_bytes().to_vec();
    }
    let output = file.output_name.to_bytes();
    let rest = match file.where_.map(|w| w.to_bytes()) {
        Some(w) if !w.is_empty() && w != b"/" => output.strip_prefix(w).unwrap_or(output),
        _ => output,
    };
    if rest.starts_with(b"/") {
        rest.to_vec()
    } else {
        [b"/".as_slice(), rest].concat()
    }
}

/// Why a recorded name is not one of this plugin's `/bucket/key` names.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NameError {
    #[error("the name does not start with '/'")]
    NoLeadingSlash,
    #[error("the name has no bucket part")]
    NoBucket,
    #[error("the bucket name is not UTF-8")]
    BucketNotUtf8,
    #[error("{0}")]
    Key(String),
}

/// `/bucket/key…` → (bucket, key).
pub fn split_name(name: &[u8]) -> Result<(String, String), NameError> {
    let rest = name.strip_prefix(b"/").ok_or(NameError::NoLeadingSlash)?;
    let end = rest
        .iter()
        .position(|&b| b == b'/')
        .ok_or(NameError::NoBucket)?;
    let bucket = std::str::from_utf8(&rest[..end]).map_err(|_| NameError::BucketNotUtf8)?;
    let key = name_to_key(bucket, name).map_err(|e| NameError::Key(e.to_string()))?;
    Ok((bucket.to_string(), key))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::naming::key_to_name;

    #[test]
    fn the_rule() {
        let o = vec![("bucket".to_string(), "other".to_string())];
        assert_eq!(
            destination(&o, Some(b"/tmp/x")).unwrap(),
            Destination::S3(o.clone())
        );
        assert_eq!(
            destination(&[], Some(b"")).unwrap(),
            Destination::S3(vec![])
        );
        assert_eq!(
            destination(&[], Some(b"/")).unwrap(),
            Destination::S3(vec![])
        );
        assert_eq!(
            destination(&[], Some(b"s3:bucket=other:prefix=r/")).unwrap(),
            Destination::S3(vec![
                ("bucket".into(), "other".into()),
                ("prefix".into(), "r/".into())
            ])
        );
        assert_eq!(
            destination(&[], Some(b"/tmp/r")).unwrap(),
            Destination::Local
        );
        assert_eq!(destination(&[], None).unwrap(), Destination::Local);
        assert!(destination(&[], Some(b"s3:nonsense")).is_err());
    }

    #[test]
    fn names_split_back_into_bucket_and_key() {
        for key in ["a", "dir/", "a//b", "%", "x/../y", "ü b+c"] {
            let name = key_to_name("bkt", key);
            assert_eq!(
                split_name(&name).unwrap(),
                ("bkt".to_string(), key.to_string())
            );
        }
        assert!(split_name(b"nobucket").is_err());
        assert!(split_name(b"/bucketonly").is_err());
    }
}
