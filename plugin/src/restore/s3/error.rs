//! Why an object could not be restored into its bucket: each text names the object.

use crate::s3::errors::Failure;
use crate::s3::object::ObjectHandle;

/// A restore into S3 that failed; the object is not (or not completely) stored.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub(crate) enum UploadError {
    /// A request failed under the retry policy; a refusal names the credentials used.
    #[error("cannot {action} {object}: {failure}{}", credentials_of(.failure, .credentials))]
    Request {
        action: Action,
        object: String,
        failure: Failure,
        /// Where the job's credentials come from (never a key or secret).
        credentials: String,
    },
    #[error("{object}: the backup holds more data than the recorded size of {size} bytes")]
    TooLong { object: String, size: i64 },
    #[error(
        "{object} restored incomplete: {written} of {expected} bytes (the backup copy is \
         truncated); not stored"
    )]
    Truncated {
        object: String,
        written: u64,
        expected: i64,
    },
    #[error(
        "{object}: the restored data's MD5 {md5} differs from the backed-up ETag {etag}; not stored"
    )]
    Md5Differs {
        object: String,
        md5: String,
        etag: String,
    },
    #[error(
        "{object}: the restored data's {algorithm} checksum {computed} differs from the recorded \
         {recorded}; not stored"
    )]
    ChecksumDiffers {
        object: String,
        algorithm: &'static str,
        computed: String,
        recorded: String,
    },
    #[error("{object}: the server stored ETag {etag} for data whose MD5 is {md5}")]
    StoredOther {
        object: String,
        etag: String,
        md5: String,
    },
    #[error("{object}: the server stored ETag {etag}, the parts sent make {expected}")]
    StoredOtherParts {
        object: String,
        etag: String,
        expected: String,
    },
    #[error("{object}: the daemon sent no data")]
    NoData { object: String },
    #[error("uploading a part of {object} failed: {detail}")]
    PartLost { object: String, detail: String },
    #[error("the upload of {object} was stopped")]
    Stopped { object: String },
    #[error(
        "{object}: restored, but its intermediate version {version} (without metadata) could \
         not be deleted: {failure}"
    )]
    IntermediateVersion {
        object: String,
        version: String,
        failure: Failure,
    },
}

/// What a failed request was for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub(crate) enum Action {
    #[error("start the upload of")]
    Start,
    #[error("upload a part of")]
    Part,
    #[error("store")]
    Store,
    #[error("complete the upload of")]
    Complete,
    #[error("set the metadata of")]
    SetMetadata,
    #[error("set the tags of")]
    SetTags,
}

impl Action {
    /// `map_err` of a request of `object` for this action.
    pub fn on(self, object: &ObjectHandle) -> impl FnOnce(Failure) -> UploadError {
        let (object, credentials) = (object.uri(), object.credential_source().to_string());
        move |failure| UploadError::Request {
            action: self,
            object,
            failure,
            credentials,
        }
    }
}

/// A refusal says whose credentials were refused.
fn credentials_of(failure: &Failure, credentials: &str) -> String {
    match failure {
        Failure::Denied(_) => format!(" (credentials from {credentials})"),
        _ => String::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn texts_name_the_object_the_action_and_refused_credentials_without_debug_prints() {
        let request = |action, failure| UploadError::Request {
            action,
            object: "s3://b/k".into(),
            failure,
            credentials: "credentials_file /etc/c (profile p)".into(),
        };
        let e = request(
            Action::Store,
            Failure::Denied("HTTP 403 AccessDenied".into()),
        );
        assert_eq!(
            e.to_string(),
            "cannot store s3://b/k: access denied: HTTP 403 AccessDenied (credentials from \
             credentials_file /etc/c (profile p))"
        );
        let e = request(Action::SetTags, Failure::Other("HTTP 500".into()));
        assert_eq!(e.to_string(), "cannot set the tags of s3://b/k: HTTP 500");
    }
}
