//! The plugin's HTTP clients (hyper + rustls): the SDK's for endpoints with non-default TLS (a
//! private CA bundle, `ca_file`, or verification turned off, `verify_tls=no`, which the SDK's
//! own client cannot do), and the direct GET's (`direct_get`). The AWS SDK's own client is used
//! for its requests otherwise. And `FirstContact`, which tells the retry policy when an SDK
//! request cannot connect to an endpoint that has never answered the client.

use std::error::Error as _;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use aws_smithy_runtime_api::box_error::BoxError;
use aws_smithy_runtime_api::client::dns::ResolveDnsError;
use aws_smithy_runtime_api::client::http::{
    HttpClient, HttpConnector, HttpConnectorFuture, HttpConnectorSettings, SharedHttpClient,
    SharedHttpConnector,
};
use aws_smithy_runtime_api::client::interceptors::context::{
    BeforeDeserializationInterceptorContextRef, BeforeTransmitInterceptorContextRef,
    FinalizerInterceptorContextMut,
};
use aws_smithy_runtime_api::client::interceptors::Intercept;
use aws_smithy_runtime_api::client::orchestrator::{HttpRequest, OrchestratorError};
use aws_smithy_runtime_api::client::result::ConnectorError;
use aws_smithy_runtime_api::client::runtime_components::RuntimeComponents;
use aws_smithy_types::body::SdkBody;
use aws_smithy_types::config_bag::{ConfigBag, Storable, StoreReplace};
use hyper_util::client::legacy::connect::HttpConnector as TcpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{ClientConfig, DigitallySignedStruct, RootCertStore, SignatureScheme};

/// How the server's certificate is checked.
#[derive(Clone, Debug)]
pub enum Trust {
    /// The system's roots.
    System,
    /// Nothing to check: the endpoint is plain HTTP (no roots are loaded).
    PlainHttp,
    /// The system's roots plus the certificates of a PEM bundle.
    Bundle(Vec<u8>),
    /// No verification at all (the job warns every time).
    Insecure,
}

type HyperClient = Client<hyper_rustls::HttpsConnector<TcpConnector>, SdkBody>;

/// A pooled HTTP/1.1 client (http and https with `tls`), as every client of the plugin is set
/// up: connect timeout, no Nagle, idle connections kept for a minute.
pub fn hyper_client<B>(
    tls: ClientConfig,
    connect_timeout: Duration,
) -> Client<hyper_rustls::HttpsConnector<TcpConnector>, B>
where
    B: hyper::body::Body + Send + 'static,
    B::Data: Send,
{
    let mut tcp = TcpConnector::new();
    tcp.enforce_http(false);
    tcp.set_connect_timeout(Some(connect_timeout));
    tcp.set_nodelay(true);
    let https = hyper_rustls::HttpsConnectorBuilder::new()
        .with_tls_config(tls)
        .https_or_http()
        .enable_http1()
        .wrap_connector(tcp);
    Client::builder(TokioExecutor::new())
        .pool_idle_timeout(Duration::from_secs(60))
        .build(https)
}

#[derive(Clone, Debug)]
pub struct TlsHttpClient {
    client: HyperClient,
    read_timeout: Option<Duration>,
}

fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::aws_lc_rs::default_provider())
}

/// A rustls configuration for `trust`; errors name the CA file problem.
pub fn tls_config(trust: &Trust) -> Result<ClientConfig, String> {
    let builder = ClientConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .map_err(|e| format!("TLS setup failed: {e}"))?;
    let config = match trust {
        Trust::System => {
            let roots = system_roots();
            if roots.is_empty() {
                return Err("no trusted root certificates on this system".into());
            }
            builder.with_root_certificates(roots).with_no_client_auth()
        }
        Trust::PlainHttp => builder
            .with_root_certificates(RootCertStore::empty())
            .with_no_client_auth(),
        Trust::Bundle(pem) => {
            let mut roots = system_roots();
            let mut added = 0;
            for cert in rustls_pki_types::pem::PemObject::pem_slice_iter(pem.as_slice()) {
                let cert: CertificateDer<'static> =
                    cert.map_err(|e| format!("is not a valid PEM certificate bundle: {e}"))?;
                roots
                    .add(cert)
                    .map_err(|e| format!("holds a certificate rustls refuses: {e}"))?;
                added += 1;
            }
            if added == 0 {
                return Err("holds no PEM certificate".into());
            }
            builder.with_root_certificates(roots).with_no_client_auth()
        }
        Trust::Insecure => builder
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(NoVerification))
            .with_no_client_auth(),
    };
    Ok(config)
}

/// The system's trusted roots (none if it has none).
fn system_roots() -> RootCertStore {
    let mut roots = RootCertStore::empty();
    for cert in rustls_native_certs::load_native_certs().certs {
        let _ = roots.add(cert);
    }
    roots
}

impl TlsHttpClient {
    pub fn new(config: ClientConfig, connect_timeout: Duration, read_timeout: Duration) -> Self {
        TlsHttpClient {
            client: hyper_client(config, connect_timeout),
            read_timeout: Some(read_timeout),
        }
    }

    pub fn shared(self) -> SharedHttpClient {
        SharedHttpClient::new(self)
    }
}

impl HttpClient for TlsHttpClient {
    fn http_connector(
        &self,
        _settings: &HttpConnectorSettings,
        _components: &RuntimeComponents,
    ) -> SharedHttpConnector {
        SharedHttpConnector::new(self.clone())
    }
}

impl HttpConnector for TlsHttpClient {
    fn call(&self, request: HttpRequest) -> HttpConnectorFuture {
        let client = self.client.clone();
        let read_timeout = self.read_timeout;
        HttpConnectorFuture::new(async move {
            let request = request
                .try_into_http1x()
                .map_err(|e| ConnectorError::other(Box::new(e), None))?;
            let call = client.request(request);
            let response = match read_timeout {
                Some(t) => tokio::time::timeout(t, call)
                    .await
                    .map_err(|e| ConnectorError::timeout(Box::new(e)))?,
                None => call.await,
            }
            .map_err(|e| {
                if e.is_connect() {
                    ConnectorError::io(Box::new(e))
                } else {
                    ConnectorError::other(Box::new(e), None)
                }
            })?;
            let response = response.map(SdkBody::from_body_1_x);
            aws_smithy_runtime_api::http::Response::try_from(response)
                .map_err(|e| ConnectorError::other(Box::new(e), None))
        })
    }
}

/// Accepts any certificate (`verify_tls=no`).
#[derive(Debug)]
struct NoVerification;

impl ServerCertVerifier for NoVerification {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        _message: &[u8],
        _cert: &CertificateDer<'_>,
        _dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        Ok(HandshakeSignatureValid::assertion())
    }

    fn verify_tls13_signature(
        &self,
        _message: &[u8],
        _cert: &CertificateDer<'_>,
        _dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        Ok(HandshakeSignatureValid::assertion())
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        provider()
            .signature_verification_algorithms
            .supported_schemes()
    }
}

/// How a connect failure to an endpoint that never answered begins its text: the retry policy
/// (`retry`) gives such a failure only a few quick tries.
pub const CANNOT_CONNECT: &str = "cannot connect to endpoint ";

/// Watches the SDK requests of one client (one job or command): until the endpoint has answered
/// once, a connect failure (refused, DNS, TLS handshake, connect timeout) becomes a
/// [`CannotConnect`] naming the endpoint. After the first answer connect failures are left as
/// they are: a server that goes away mid-job is retried under the whole policy.
#[derive(Debug, Default)]
pub struct FirstContact {
    answered: AtomicBool,
}

/// A connect failure before the endpoint ever answered.
#[derive(Debug)]
pub struct CannotConnect {
    endpoint: String,
    cause: String,
}

impl std::fmt::Display for CannotConnect {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{CANNOT_CONNECT}{}: {}", self.endpoint, self.cause)
    }
}

impl std::error::Error for CannotConnect {}

/// `scheme://authority` of the request being sent, for the finalizer (which no longer has it).
#[derive(Clone, Debug)]
struct RequestEndpoint(String);

impl Storable for RequestEndpoint {
    type Storer = StoreReplace<Self>;
}

impl FirstContact {
    pub fn answered(&self) -> bool {
        self.answered.load(Ordering::Relaxed)
    }
}

/// Whether `err` failed to set up a connection (as opposed to failing on one that was set up).
fn connect_failure(err: &(dyn std::error::Error + 'static)) -> Option<String> {
    let mut next = Some(err);
    while let Some(e) = next {
        if let Some(hyper) = e.downcast_ref::<hyper_util::client::legacy::Error>() {
            if !hyper.is_connect() {
                return None;
            }
            return Some(match hyper.source() {
                Some(cause) => crate::s3::errors::chain(cause),
                None => hyper.to_string(),
            });
        }
        if e.downcast_ref::<ResolveDnsError>().is_some() {
            return Some(crate::s3::errors::chain(e));
        }
        next = e.source();
    }
    None
}

impl Intercept for FirstContact {
    fn name(&self) -> &'static str {
        "FirstContact"
    }

    fn read_before_transmit(
        &self,
        context: &BeforeTransmitInterceptorContextRef<'_>,
        _components: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        if !self.answered() {
            if let Ok(uri) = context.request().uri().parse::<http::Uri>() {
                let endpoint = match (uri.scheme_str(), uri.authority()) {
                    (Some(scheme), Some(authority)) => format!("{scheme}://{authority}"),
                    _ => uri.to_string(),
                };
                cfg.interceptor_state().store_put(RequestEndpoint(endpoint));
            }
        }
        Ok(())
    }

    fn read_after_transmit(
        &self,
        _context: &BeforeDeserializationInterceptorContextRef<'_>,
        _components: &RuntimeComponents,
        _cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        self.answered.store(true, Ordering::Relaxed);
        Ok(())
    }

    fn modify_before_attempt_completion(
        &self,
        context: &mut FinalizerInterceptorContextMut<'_>,
        _components: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        if self.answered() {
            return Ok(());
        }
        let Some(Err(error)) = context.output_or_error_mut() else {
            return Ok(());
        };
        let Some(cause) = error.as_connector_error().and_then(|e| connect_failure(e)) else {
            return Ok(());
        };
        let Some(RequestEndpoint(endpoint)) = cfg.load::<RequestEndpoint>().cloned() else {
            return Ok(());
        };
        *error = OrchestratorError::connector(ConnectorError::io(Box::new(CannotConnect {
            endpoint,
            cause,
        })));
        Ok(())
    }
}
