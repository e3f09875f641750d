//! The data path's GET without the SDK's per-request machinery: one SigV4-signed request on a
//! pooled hyper connection. A profile of 4 KiB objects put half of the plugin's CPU in the
//! SDK's orchestrator (interceptors, endpoint rules, config layers, identity resolution) for
//! every GET; here a GET costs its signature and its bytes.
//!
//! Nothing is guessed: the endpoint of the bucket is the one the SDK's own resolver gives for
//! the job's settings (region, endpoint, path style, FIPS, dual-stack), requests are signed as
//! the SDK signs S3 (SigV4, single URI encoding, no path normalisation, `x-amz-content-sha256`),
//! with the credentials of the job's provider, refreshed before they expire. Endpoints signed
//! otherwise (S3 Express, multi-region access points) and endpoints that need extra headers
//! keep the SDK's GET. Listing, HEAD, tagging and restore always use the SDK.
//!
//! A whole-object GET with checksum mode verifies the object's full-object checksum while it
//! streams, as the SDK does.

use std::sync::atomic::{AtomicI64, Ordering};
use std::time::{Duration, SystemTime};

use aws_credential_types::provider::{ProvideCredentials, SharedCredentialsProvider};
use aws_credential_types::Credentials;
use aws_sdk_s3::config::endpoint::{DefaultResolver, Params, ResolveEndpoint};
use aws_sigv4::http_request::{
    sign, PayloadChecksumKind, PercentEncodingMode, SignableBody, SignableRequest, SigningSettings,
    UriPathNormalizationMode,
};
use aws_sigv4::sign::v4;
use aws_smithy_runtime_api::client::identity::Identity;
use aws_smithy_types::date_time::Format;
use aws_smithy_types::{DateTime, Document};
use bytes::Bytes;
use http::{HeaderMap, Request, StatusCode};
use http_body_util::{BodyExt, Empty};
use hyper::body::Incoming;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use percent_encoding::{utf8_percent_encode, AsciiSet, NON_ALPHANUMERIC};

use crate::checksum::Additional;
use crate::metadata::ChecksumAlgorithm;
use crate::runtime::on_stream_worker;
use crate::s3::errors::{self, Failure};
use crate::s3::http::{hyper_client, tls_config, Trust};
use crate::s3::retry::{timed_out, Attempt};

type HyperClient = Client<hyper_rustls::HttpsConnector<HttpConnector>, Empty<Bytes>>;

/// Credentials are renewed this long before they expire.
const RENEW_BEFORE: Duration = Duration::from_secs(120);
/// At most this much of an error document is read.
const ERROR_BODY_MAX: usize = 64 << 10;

/// Characters of a key sent as they are (RFC 3986 unreserved, and `/` between segments):
/// the URI is then its own canonical form for SigV4.
const KEY_KEEP: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'_')
    .remove(b'.')
    .remove(b'~')
    .remove(b'/');

/// Query values are encoded in full (`/` too).
const QUERY_KEEP: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'_')
    .remove(b'.')
    .remove(b'~');

/// What one GET asks for.
pub struct GetSpec<'a> {
    pub key: &'a str,
    /// `bytes=a-b` / `bytes=a-` when ranged.
    pub range: Option<String>,
    pub if_match: Option<&'a str>,
    pub version_id: Option<&'a str>,
    /// Ask for the object's additional checksum (and verify the data against it).
    pub checksum_mode: bool,
}

/// Where a job's requests go, as the SDK's endpoint resolver needs it.
pub struct EndpointSettings<'a> {
    pub bucket: &'a str,
    pub region: String,
    /// The `endpoint` option, or the shared configuration's endpoint URL.
    pub endpoint: Option<&'a str>,
    pub path_style: bool,
    pub use_fips: bool,
    pub use_dual_stack: bool,
}

/// GETs of one bucket's objects.
pub struct DirectGet {
    pub bucket: String,
    /// `scheme://authority[/bucket]`, the bucket's endpoint without a trailing `/`.
    base: String,
    signing_region: String,
    client: HyperClient,
    /// The same for requests made on the stream runtime, whose connections are driven there.
    stream_client: HyperClient,
    credentials: CredentialCache,
    skew: ClockSkew,
}

impl std::fmt::Debug for DirectGet {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DirectGet")
            .field("bucket", &self.bucket)
            .field("base", &self.base)
            .finish()
    }
}

/// The response head of a successful GET, and its body.
pub struct DirectResponse {
    pub headers: HeaderMap,
    pub body: DirectBody,
}

impl DirectGet {
    /// The direct GET for the bucket on the endpoint the SDK resolves it to, or the reason (for
    /// the debug log) why the SDK must keep doing it.
    pub async fn new(
        target: EndpointSettings<'_>,
        credentials: SharedCredentialsProvider,
        tls: Option<&rustls::ClientConfig>,
        connect_timeout: Duration,
    ) -> Result<DirectGet, String> {
        let region = target.region;
        let bucket = target.bucket;
        let params = Params::builder()
            .bucket(bucket)
            .region(region.clone())
            .force_path_style(target.path_style)
            .use_fips(target.use_fips)
            .use_dual_stack(target.use_dual_stack)
            .set_endpoint(target.endpoint.map(str::to_string))
            .accelerate(false)
            .build()
            .map_err(|e| format!("endpoint parameters: {e}"))?;
        // The resolver the SDK uses (the plugin never sets another).
        let endpoint = DefaultResolver::new()
            .resolve_endpoint(&params)
            .await
            .map_err(|e| format!("endpoint resolution: {e}"))?;
        if endpoint.headers().next().is_some() {
            return Err("the endpoint needs extra headers".into());
        }
        let signing_region = sigv4_region(endpoint.properties().get("authSchemes"))
            .ok_or("the endpoint is not signed with plain SigV4")?
            .unwrap_or(region);
        let base = endpoint.url().trim_end_matches('/').to_string();
        if !(base.starts_with("http://") || base.starts_with("https://")) || base.contains('?') {
            return Err(format!("unexpected endpoint URL {base}"));
        }
        let tls = match tls {
            Some(config) => config.clone(),
            // Plain HTTP needs no roots (loading the system's costs milliseconds per job).
            None if base.starts_with("http://") => tls_config(&Trust::PlainHttp)?,
            None => tls_config(&Trust::System)?,
        };
        let stream_client = hyper_client(tls.clone(), connect_timeout);
        let client = hyper_client(tls, connect_timeout);
        Ok(DirectGet {
            bucket: bucket.to_string(),
            base,
            signing_region,
            client,
            stream_client,
            credentials: CredentialCache::new(credentials),
            skew: ClockSkew::default(),
        })
    }

    /// The URI of a GET.
    fn uri(&self, spec: &GetSpec<'_>) -> String {
        let mut uri = format!("{}/{}", self.base, utf8_percent_encode(spec.key, KEY_KEEP));
        if let Some(version) = spec.version_id {
            uri.push_str("?versionId=");
            uri.extend(utf8_percent_encode(version, QUERY_KEEP));
        }
        uri
    }

    /// One attempt of a GET, classified for the retry policy; `timeout` bounds the wait for
    /// the response head (and an error document).
    pub async fn get(
        &self,
        spec: &GetSpec<'_>,
        timeout: Duration,
    ) -> Result<DirectResponse, Attempt> {
        match tokio::time::timeout(timeout, self.attempt(spec)).await {
            Err(_) => Err(timed_out(timeout)),
            Ok(result) => result,
        }
    }

    async fn attempt(&self, spec: &GetSpec<'_>) -> Result<DirectResponse, Attempt> {
        let credentials = self.credentials.get().await?;
        let request = self.signed(spec, credentials)?;
        let client = if on_stream_worker() {
            &self.stream_client
        } else {
            &self.client
        };
        let response = client.request(request).await.map_err(|e| {
            let text = errors::chain(&e);
            if errors::is_certificate_text(&text) {
                Attempt::Fail(Failure::Unreachable(format!(
                    "TLS certificate not trusted: {text}"
                )))
            } else {
                Attempt::Retry {
                    failure: Failure::Unreachable(text),
                    after: None,
                }
            }
        })?;
        let (head, body) = response.into_parts();
        if head.status == StatusCode::OK || head.status == StatusCode::PARTIAL_CONTENT {
            let verify = spec
                .checksum_mode
                .then(|| Verify::for_response(&head.headers))
                .flatten()
                .map(Box::new);
            return Ok(DirectResponse {
                headers: head.headers,
                body: DirectBody { body, verify },
            });
        }
        let document = read_limited(body).await;
        if head.status == StatusCode::FORBIDDEN && self.skew.learn(&head.headers, &document) {
            return Err(Attempt::Retry {
                failure: Failure::Denied(
                    "HTTP 403 RequestTimeTooSkewed (the clocks of this host and the S3 server \
                     differ; requests are now signed with the server's time)"
                        .into(),
                ),
                after: Some(Duration::ZERO),
            });
        }
        Err(errors::attempt_from_status(
            head.status.as_u16(),
            &head.headers,
            &document,
        ))
    }

    fn signed(
        &self,
        spec: &GetSpec<'_>,
        credentials: Credentials,
    ) -> Result<Request<Empty<Bytes>>, Attempt> {
        let uri = self.uri(spec);
        let mut headers: Vec<(&str, &str)> = Vec::with_capacity(3);
        if let Some(range) = &spec.range {
            headers.push(("range", range));
        }
        if let Some(etag) = spec.if_match {
            headers.push(("if-match", etag));
        }
        if spec.checksum_mode {
            headers.push(("x-amz-checksum-mode", "ENABLED"));
        }
        let failed = |what: String| Attempt::Fail(Failure::Other(what));
        let mut builder = Request::get(&uri);
        for (name, value) in &headers {
            builder = builder.header(*name, *value);
        }
        let mut request = builder
            .body(Empty::new())
            .map_err(|e| failed(format!("cannot build the request for {uri}: {e}")))?;
        let identity = Identity::from(credentials);
        let mut settings = SigningSettings::default();
        settings.percent_encoding_mode = PercentEncodingMode::Single;
        settings.payload_checksum_kind = PayloadChecksumKind::XAmzSha256;
        settings.uri_path_normalization_mode = UriPathNormalizationMode::Disabled;
        let params = v4::SigningParams::builder()
            .identity(&identity)
            .region(&self.signing_region)
            .name("s3")
            .time(self.skew.now())
            .settings(settings)
            .build()
            .map_err(|e| failed(format!("cannot sign the request: {e}")))?
            .into();
        let signable = SignableRequest::new(
            "GET",
            uri.as_str(),
            headers.iter().copied(),
            SignableBody::UnsignedPayload,
        )
        .map_err(|e| failed(format!("cannot sign the request for {uri}: {e}")))?;
        let (instructions, _) = sign(signable, &params)
            .map_err(|e| failed(format!("cannot sign the request: {e}")))?
            .into_parts();
        instructions.apply_to_request_http1x(&mut request);
        Ok(request)
    }
}

/// Seconds the server's clock is ahead of ours, learnt from a `RequestTimeTooSkewed` answer
/// (the SDK corrects its requests the same way).
#[derive(Default)]
struct ClockSkew(AtomicI64);

impl ClockSkew {
    /// The signing time: our clock, corrected by the skew the server reported.
    fn now(&self) -> SystemTime {
        let skew = self.0.load(Ordering::Relaxed);
        if skew >= 0 {
            SystemTime::now() + Duration::from_secs(skew as u64)
        } else {
            SystemTime::now() - Duration::from_secs(skew.unsigned_abs())
        }
    }

    /// Takes the server's time from a `RequestTimeTooSkewed` answer; true if the skew is new.
    fn learn(&self, headers: &HeaderMap, document: &[u8]) -> bool {
        if !String::from_utf8_lossy(document).contains("<Code>RequestTimeTooSkewed</Code>") {
            return false;
        }
        let Some(server) = headers
            .get("date")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| DateTime::from_str(v, Format::HttpDate).ok())
        else {
            return false;
        };
        let ours = DateTime::from(SystemTime::now()).secs();
        let skew = server.secs() - ours;
        let before = self.0.swap(skew, Ordering::Relaxed);
        log::debug!("S3 server clock differs by {skew} s; signing with its time");
        (before - skew).abs() > 1
    }
}

/// The signing region of a plain SigV4 endpoint: `None` if it is signed otherwise,
/// `Some(None)` if it does not say (the configured region then).
fn sigv4_region(schemes: Option<&Document>) -> Option<Option<String>> {
    let Some(Document::Array(schemes)) = schemes else {
        return Some(None);
    };
    let Some(Document::Object(first)) = schemes.first() else {
        return Some(None);
    };
    match first.get("name") {
        Some(Document::String(name)) if name == "sigv4" => {}
        _ => return None,
    }
    Some(match first.get("signingRegion") {
        Some(Document::String(region)) => Some(region.clone()),
        _ => None,
    })
}

/// Reads an error document (bounded; whatever arrived if it breaks off).
async fn read_limited(mut body: Incoming) -> Vec<u8> {
    let mut out = Vec::new();
    while out.len() < ERROR_BODY_MAX {
        match body.frame().await {
            Some(Ok(frame)) => {
                if let Some(data) = frame.data_ref() {
                    out.extend_from_slice(data);
                }
            }
            _ => break,
        }
    }
    out.truncate(ERROR_BODY_MAX);
    out
}

/// Why a body stopped short.
#[derive(Debug)]
pub enum BodyError {
    /// The connection broke or stalled: the rest can be fetched by a ranged GET.
    Broken(String),
    /// The data delivered does not match the object's checksum: nothing can be resumed.
    Corrupt(String),
}

/// The body of a GET, verified against its full-object checksum when it has one.
pub struct DirectBody {
    body: Incoming,
    verify: Option<Box<Verify>>,
}

impl DirectBody {
    /// The next piece of data; `None` at the end. A checksum mismatch is an error at the end.
    pub async fn next(&mut self) -> Option<Result<Bytes, BodyError>> {
        loop {
            match self.body.frame().await {
                Some(Ok(frame)) => {
                    if let Ok(data) = frame.into_data() {
                        if let Some(state) = self.verify.as_mut().and_then(|v| v.state.as_mut()) {
                            state.update(&data);
                        }
                        return Some(Ok(data));
                    }
                    // Trailers: nothing to deliver.
                }
                Some(Err(e)) => return Some(Err(BodyError::Broken(errors::chain(&e)))),
                None => {
                    return self
                        .verify
                        .take()
                        .and_then(|v| v.finish().err())
                        .map(|e| Err(BodyError::Corrupt(e)));
                }
            }
        }
    }
}

/// Order in which a response's checksums are checked (the first full-object one counts).
const VERIFY_ORDER: [ChecksumAlgorithm; 5] = [
    ChecksumAlgorithm::Crc64Nvme,
    ChecksumAlgorithm::Crc32c,
    ChecksumAlgorithm::Crc32,
    ChecksumAlgorithm::Sha1,
    ChecksumAlgorithm::Sha256,
];

struct Verify {
    algorithm: ChecksumAlgorithm,
    expected: String,
    state: Option<Additional>,
}

impl Verify {
    /// The full-object checksum a response carries, if any (a composite checksum of a
    /// multipart object, `…-N`, covers parts and cannot be checked on the whole).
    fn for_response(headers: &HeaderMap) -> Option<Verify> {
        if headers
            .get("x-amz-checksum-type")
            .is_some_and(|t| t.as_bytes().eq_ignore_ascii_case(b"COMPOSITE"))
        {
            return None;
        }
        VERIFY_ORDER.into_iter().find_map(|algorithm| {
            let value = headers
                .get(format!("x-amz-checksum-{}", algorithm.name()))?
                .to_str()
                .ok()?;
            if value.is_empty() || value.contains('-') {
                return None;
            }
            Some(Verify {
                algorithm,
                expected: value.to_string(),
                state: Some(Additional::new(algorithm)),
            })
        })
    }

    fn finish(mut self) -> Result<(), String> {
        let Some(state) = self.state.take() else {
            return Ok(());
        };
        let actual = state.finish();
        if actual == self.expected {
            Ok(())
        } else {
            Err(format!(
                "the data does not match the object's {} checksum (the server states {}, \
                 the data received gives {actual})",
                self.algorithm.name().to_uppercase(),
                self.expected
            ))
        }
    }
}

/// The job's credentials, obtained from its provider and kept until shortly before they
/// expire.
struct CredentialCache {
    provider: SharedCredentialsProvider,
    current: std::sync::RwLock<Option<Credentials>>,
    renewing: tokio::sync::Mutex<()>,
}

impl CredentialCache {
    fn new(provider: SharedCredentialsProvider) -> Self {
        CredentialCache {
            provider,
            current: std::sync::RwLock::new(None),
            renewing: tokio::sync::Mutex::new(()),
        }
    }

    fn fresh(&self) -> Option<Credentials> {
        let current = self.current.read().ok()?;
        let credentials = current.as_ref()?;
        match credentials.expiry() {
            Some(expiry) if expiry <= SystemTime::now() + RENEW_BEFORE => None,
            _ => Some(credentials.clone()),
        }
    }

    async fn get(&self) -> Result<Credentials, Attempt> {
        if let Some(credentials) = self.fresh() {
            return Ok(credentials);
        }
        let _renewing = self.renewing.lock().await;
        if let Some(credentials) = self.fresh() {
            return Ok(credentials);
        }
        let credentials =
            self.provider
                .provide_credentials()
                .await
                .map_err(|e| Attempt::Retry {
                    failure: Failure::Denied(format!("no credentials: {}", errors::chain(&e))),
                    after: None,
                })?;
        if let Ok(mut current) = self.current.write() {
            *current = Some(credentials.clone());
        }
        Ok(credentials)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_encoded_as_their_own_canonical_form() {
        let encoded = utf8_percent_encode("a b/ü+c%2F~x.y_z-1?&=", KEY_KEEP).to_string();
        assert_eq!(encoded, "a%20b/%C3%BC%2Bc%252F~x.y_z-1%3F%26%3D");
    }

    #[test]
    fn a_skewed_server_clock_is_learnt_once() {
        let skew = ClockSkew::default();
        let server = SystemTime::now() + Duration::from_secs(3600);
        let mut headers = HeaderMap::new();
        headers.insert(
            "date",
            DateTime::from(server)
                .fmt(Format::HttpDate)
                .unwrap()
                .parse()
                .unwrap(),
        );
        let doc = b"<Error><Code>RequestTimeTooSkewed</Code></Error>";
        assert!(!skew.learn(&headers, b"<Error><Code>AccessDenied</Code></Error>"));
        assert!(skew.learn(&headers, doc));
        let ahead = skew.now().duration_since(SystemTime::now()).unwrap();
        assert!(ahead > Duration::from_secs(3590) && ahead < Duration::from_secs(3610));
        assert!(!skew.learn(&headers, doc), "the same skew again is no news");
    }

    #[test]
    fn only_plain_sigv4_is_signed_here() {
        use std::collections::HashMap;
        let scheme = |name: &str, region: Option<&str>| {
            let mut m = HashMap::new();
            m.insert("name".to_string(), Document::String(name.into()));
            if let Some(r) = region {
                m.insert("signingRegion".to_string(), Document::String(r.into()));
            }
            Document::Array(vec![Document::Object(m)])
        };
        assert_eq!(
            sigv4_region(Some(&scheme("sigv4", Some("eu-west-1")))),
            Some(Some("eu-west-1".to_string()))
        );
        assert_eq!(sigv4_region(Some(&scheme("sigv4", None))), Some(None));
        assert_eq!(sigv4_region(Some(&scheme("sigv4a", None))), None);
        assert_eq!(sigv4_region(Some(&scheme("sigv4-s3express", None))), None);
        assert_eq!(sigv4_region(None), Some(None));
    }

    #[test]
    fn full_object_checksums_are_verified_composite_ones_not() {
        let mut headers = HeaderMap::new();
        headers.insert("x-amz-checksum-crc32", "DUoRhQ==".parse().unwrap());
        let mut v = Verify::for_response(&headers).unwrap();
        v.state.as_mut().unwrap().update(b"hello ");
        v.state.as_mut().unwrap().update(b"world");
        assert!(v.finish().is_ok());
        let mut v = Verify::for_response(&headers).unwrap();
        v.state.as_mut().unwrap().update(b"hello there");
        let e = v.finish().unwrap_err();
        assert!(e.contains("CRC32") && e.contains("DUoRhQ=="), "{e}");
        headers.insert("x-amz-checksum-crc32", "DUoRhQ==-3".parse().unwrap());
        assert!(Verify::for_response(&headers).is_none());
        headers.insert("x-amz-checksum-crc32", "DUoRhQ==".parse().unwrap());
        headers.insert("x-amz-checksum-type", "COMPOSITE".parse().unwrap());
        assert!(Verify::for_response(&headers).is_none());
    }
}
