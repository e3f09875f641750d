//! Turning SDK errors into messages an administrator can act on: they name the bucket, the
//! key, the endpoint or the credential source, and never contain a secret.

use aws_sdk_s3::error::{ProvideErrorMetadata, SdkError};
use aws_smithy_runtime_api::client::orchestrator::HttpResponse;

use crate::s3::retry::Attempt;

/// An error and its causes, one after the other, as readable text (the SDK's own display adds
/// a debug dump of its internals, which helps nobody reading a job log).
pub fn chain(err: &dyn std::error::Error) -> String {
    let mut parts: Vec<String> = vec![err.to_string()];
    let mut source = err.source();
    while let Some(e) = source {
        let text = e.to_string();
        if !parts.iter().any(|p| p.contains(&text)) {
            parts.push(text);
        }
        source = e.source();
    }
    parts.join(": ")
}

/// What went wrong with one request, as far as the caller must decide. Its text is for a
/// person: callers put it after what they were doing ("cannot store s3://b/k: …").
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Failure {
    /// 412: the object is no longer the version being read (If-Match).
    #[error("the object changed (its ETag no longer matches)")]
    Changed,
    /// 404 / NoSuchKey: the object is gone.
    #[error("not found")]
    NotFound,
    /// The bucket does not exist.
    #[error("the bucket does not exist")]
    NoSuchBucket,
    /// 403 and friends: the credentials were refused.
    #[error("access denied: {0}")]
    Denied(String),
    /// The endpoint could not be reached (connect, DNS, TLS, timeout).
    #[error("the endpoint could not be reached: {0}")]
    Unreachable(String),
    /// A connect failure (refused, DNS, TLS handshake, connect timeout) to an endpoint that has
    /// not answered this job or command yet ([`crate::s3::http::CannotConnect`], which names the
    /// endpoint): the retry policy gives it only a few quick tries.
    #[error("{0}")]
    CannotConnect(String),
    /// 403 InvalidObjectState: the object is in an archive storage class (or an archive tier
    /// of INTELLIGENT_TIERING) and must be restored before it can be read.
    #[error("the object is archived and cannot be read until it is restored: {0}")]
    Archived(String),
    /// Anything else, with the server's code and message when it sent one.
    #[error("{0}")]
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

impl Failure {
    /// The same failure, saying that retrying did not help.
    pub fn gave_up(self, retries: u32, elapsed: std::time::Duration) -> Failure {
        let note = format!(
            " (gave up after {retries} retries in {:.1} s)",
            elapsed.as_secs_f64()
        );
        match self {
            Failure::Unreachable(d) => Failure::Unreachable(d + &note),
            Failure::CannotConnect(d) => Failure::CannotConnect(d + &note),
            Failure::Denied(d) => Failure::Denied(d + &note),
            Failure::Other(d) => Failure::Other(d + &note),
            other => other,
        }
    }
}

/// S3 error codes that mean "try again later".
const TRANSIENT_CODES: &[&str] = &[
    "SlowDown",
    "InternalError",
    "ServiceUnavailable",
    "RequestTimeout",
    "Throttling",
    "ThrottlingException",
    "RequestThrottled",
];

/// Classifies one failed attempt for the retry policy.
pub fn attempt<E>(err: &SdkError<E, HttpResponse>) -> Attempt
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
{
    match err {
        SdkError::ServiceError(service) => {
            let retry_after = service
                .raw()
                .headers()
                .get("retry-after")
                .and_then(|v| v.trim().parse::<u64>().ok());
            service_attempt(
                service.raw().status().as_u16(),
                service.err().code().unwrap_or(""),
                service.err().message().unwrap_or(""),
                retry_after,
            )
        }
        // An untrusted or invalid certificate will not fix itself.
        SdkError::DispatchFailure(_) if is_certificate_text(&chain(err)) => Attempt::Fail(
            Failure::Unreachable(format!("TLS certificate not trusted: {}", chain(err))),
        ),
        // Connect/DNS failures, resets, timeouts, and responses that broke off or could not
        // be parsed (e.g. an error document in a 200 body) are transient.
        SdkError::DispatchFailure(_) | SdkError::TimeoutError(_) | SdkError::ResponseError(_) => {
            Attempt::Retry {
                failure: classify(err),
                after: None,
            }
        }
        _ => Attempt::Fail(classify(err)),
    }
}

/// Classifies a response with an error status: its code and message come from the S3 error
/// document (`<Error><Code>…</Code><Message>…</Message>`), when there is one.
pub fn attempt_from_status(status: u16, headers: &http::HeaderMap, document: &[u8]) -> Attempt {
    let text = String::from_utf8_lossy(document);
    let element = |name: &str| -> String {
        let open = format!("<{name}>");
        let close = format!("</{name}>");
        text.split_once(open.as_str())
            .and_then(|(_, rest)| rest.split_once(close.as_str()))
            .map(|(value, _)| xml_unescape(value.trim()))
            .unwrap_or_default()
    };
    let retry_after = headers
        .get("retry-after")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok());
    service_attempt(status, &element("Code"), &element("Message"), retry_after)
}

fn xml_unescape(text: &str) -> String {
    text.replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&quot;", "\"")
        .replace("&apos;", "'")
        .replace("&amp;", "&")
}

/// A service's answer (status, S3 error code and message) for the retry policy.
fn service_attempt(status: u16, code: &str, message: &str, retry_after: Option<u64>) -> Attempt {
    if matches!(status, 500 | 502 | 503 | 504 | 429) || TRANSIENT_CODES.contains(&code) {
        Attempt::Retry {
            failure: Failure::Other(describe(code, message, Some(status))),
            after: retry_after.map(std::time::Duration::from_secs),
        }
    } else {
        Attempt::Fail(service_failure(status, code, message))
    }
}

fn service_failure(status: u16, code: &str, message: &str) -> Failure {
    if code == "NoSuchBucket" {
        Failure::NoSuchBucket
    } else if code == "NoSuchKey" || code == "NotFound" || status == 404 {
        Failure::NotFound
    } else if code == "InvalidObjectState" {
        Failure::Archived(describe(code, message, Some(status)))
    } else if code == "PreconditionFailed" || status == 412 {
        Failure::Changed
    } else if DENIED.contains(&code) || status == 403 {
        Failure::Denied(describe(code, message, Some(status)))
    } else {
        Failure::Other(describe(code, message, Some(status)))
    }
}

/// Whether an error's text says the server's certificate was refused.
pub fn is_certificate_text(text: &str) -> bool {
    [
        "certificate",
        "UnknownIssuer",
        "CertNotValid",
        "NotValidForName",
    ]
    .iter()
    .any(|needle| text.contains(needle))
}

/// The [`CannotConnect`](crate::s3::http::CannotConnect) among the causes of `err`, if any.
fn cannot_connect(err: &dyn std::error::Error) -> Option<&crate::s3::http::CannotConnect> {
    let mut source = err.source();
    while let Some(e) = source {
        if let Some(found) = e.downcast_ref::<crate::s3::http::CannotConnect>() {
            return Some(found);
        }
        source = e.source();
    }
    None
}

/// Classifies an SDK error.
pub fn classify<E>(err: &SdkError<E, HttpResponse>) -> Failure
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
{
    match err {
        SdkError::ServiceError(service) => service_failure(
            service.raw().status().as_u16(),
            service.err().code().unwrap_or(""),
            service.err().message().unwrap_or(""),
        ),
        SdkError::DispatchFailure(_) | SdkError::TimeoutError(_) => match cannot_connect(err) {
            Some(first_contact) => Failure::CannotConnect(first_contact.to_string()),
            None => Failure::Unreachable(chain(err)),
        },
        SdkError::ResponseError(_) => Failure::Other(format!(
            "the response broke off or could not be read: {}",
            chain(err)
        )),
        _ => Failure::Other(chain(err)),
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
        Failure::Changed => format!("an object of bucket '{bucket}' changed while it was read"),
        Failure::NotFound => format!("bucket '{bucket}' not found at {endpoint}"),
        Failure::Denied(detail) => format!(
            "access to bucket '{bucket}' at {endpoint} was denied for the credentials from \
             {credential_source}: {detail}"
        ),
        // The endpoint never answered: the detail names it already.
        Failure::CannotConnect(detail) => {
            format!("cannot reach the S3 endpoint of bucket '{bucket}': {detail}")
        }
        Failure::Unreachable(detail) => {
            format!("cannot reach the S3 endpoint {endpoint} (bucket '{bucket}'): {detail}")
        }
        Failure::Archived(detail) => format!(
            "an object of bucket '{bucket}' is archived and cannot be read until it is \
             restored: {detail}"
        ),
        Failure::Other(detail) => format!("bucket '{bucket}' at {endpoint}: {detail}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_documents_are_classified_like_the_sdk_does() {
        let doc = |code: &str| {
            format!(
                "<?xml version=\"1.0\"?><Error><Code>{code}</Code>\
                 <Message>a &amp; b</Message><Key>k</Key></Error>"
            )
            .into_bytes()
        };
        let h = http::HeaderMap::new();
        assert!(matches!(
            attempt_from_status(404, &h, &doc("NoSuchKey")),
            Attempt::Fail(Failure::NotFound)
        ));
        assert!(matches!(
            attempt_from_status(404, &h, &doc("NoSuchBucket")),
            Attempt::Fail(Failure::NoSuchBucket)
        ));
        assert!(matches!(
            attempt_from_status(412, &h, b""),
            Attempt::Fail(Failure::Changed)
        ));
        match attempt_from_status(403, &h, &doc("SignatureDoesNotMatch")) {
            Attempt::Fail(Failure::Denied(d)) => {
                assert_eq!(d, "HTTP 403 SignatureDoesNotMatch a & b")
            }
            other => panic!("{other:?}"),
        }
        let mut h = http::HeaderMap::new();
        h.insert("retry-after", "3".parse().unwrap());
        match attempt_from_status(503, &h, &doc("SlowDown")) {
            Attempt::Retry { failure, after } => {
                assert_eq!(after, Some(std::time::Duration::from_secs(3)));
                assert!(format!("{failure:?}").contains("SlowDown"));
            }
            other => panic!("{other:?}"),
        }
        assert!(matches!(
            attempt_from_status(400, &h, &doc("RequestTimeout")),
            Attempt::Retry { .. }
        ));
        assert!(matches!(
            attempt_from_status(400, &h, b"not xml"),
            Attempt::Fail(Failure::Other(_))
        ));
    }
}
