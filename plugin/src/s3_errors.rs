//! Turning SDK errors into messages an administrator can act on: they name the bucket, the
//! key, the endpoint or the credential source, and never contain a secret.

use aws_sdk_s3::error::{ProvideErrorMetadata, SdkError};
use aws_smithy_runtime_api::client::orchestrator::HttpResponse;
use aws_smithy_types::error::display::DisplayErrorContext;

/// What went wrong with one request, as far as the caller must decide.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Failure {
    /// 404 / NoSuchKey: the object is gone.
    NotFound,
    /// The bucket does not exist.
    NoSuchBucket,
    /// 403 and friends: the credentials were refused.
    Denied(String),
    /// The endpoint could not be reached (connect, DNS, TLS, timeout).
    Unreachable(String),
    /// Anything else, with the server's code and message when it sent one.
    Other(String),
}

const DENIED: &[&str] = &[
    "AccessDenied",
    "InvalidAccessKeyId",
    "SignatureDoesNotMatch",
    "ExpiredToken",
    "InvalidToken",
    "AllAccessDisabled",
];

/// Classifies an SDK error.
pub fn classify<E>(err: &SdkError<E, HttpResponse>) -> Failure
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
{
    match err {
        SdkError::ServiceError(service) => {
            let e = service.err();
            let code = e.code().unwrap_or("");
            let message = e.message().unwrap_or("");
            let status = Some(service.raw().status().as_u16());
            if code == "NoSuchBucket" {
                Failure::NoSuchBucket
            } else if code == "NoSuchKey" || code == "NotFound" || status == Some(404) {
                Failure::NotFound
            } else if DENIED.contains(&code) || status == Some(403) {
                Failure::Denied(describe(code, message, status))
            } else {
                Failure::Other(describe(code, message, status))
            }
        }
        SdkError::DispatchFailure(_) | SdkError::TimeoutError(_) => {
            Failure::Unreachable(format!("{}", DisplayErrorContext(err)))
        }
        _ => Failure::Other(format!("{}", DisplayErrorContext(err))),
    }
}

fn describe(code: &str, message: &str, status: Option<u16>) -> String {
    let status = status.map(|s| format!("HTTP {s}")).unwrap_or_default();
    [status.as_str(), code, message]
        .iter()
        .filter(|s| !s.is_empty())
        .cloned()
        .collect::<Vec<_>>()
        .join(" ")
}

/// The message for a failure while listing or reading `bucket`.
pub fn bucket_message(
    failure: &Failure,
    bucket: &str,
    endpoint: &str,
    credential_source: &str,
) -> String {
    match failure {
        Failure::NoSuchBucket => format!("bucket '{bucket}' does not exist at {endpoint}"),
        Failure::NotFound => format!("bucket '{bucket}' not found at {endpoint}"),
        Failure::Denied(detail) => format!(
            "access to bucket '{bucket}' at {endpoint} was denied for the credentials from \
             {credential_source}: {detail}"
        ),
        Failure::Unreachable(detail) => {
            format!("cannot reach the S3 endpoint {endpoint} (bucket '{bucket}'): {detail}")
        }
        Failure::Other(detail) => format!("bucket '{bucket}' at {endpoint}: {detail}"),
    }
}
