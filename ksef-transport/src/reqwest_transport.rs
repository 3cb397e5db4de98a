//! Async transport on reqwest 0.13 (feature `reqwest`).

use std::sync::Arc;
use std::time::Duration;

use crate::{AsyncTransport, HttpRequest, HttpResponse, TransportConfig, TransportError};

pub use reqwest;

/// An async transport on a [`reqwest::Client`]: rustls with the ring provider, webpki roots,
/// redirects off.
#[derive(Clone, Debug)]
pub struct ReqwestTransport {
    client: reqwest::Client,
    max_response_bytes: u64,
}

/// An error of [`ReqwestTransport`].
#[derive(Debug, thiserror::Error)]
#[error("reqwest transport error")]
pub struct ReqwestError {
    #[source]
    inner: ReqwestErrorInner,
}

#[derive(Debug, thiserror::Error)]
enum ReqwestErrorInner {
    #[error("HTTP client error")]
    Reqwest(#[source] reqwest::Error),
    #[error("response body larger than {0} bytes")]
    TooLarge(u64),
    #[error("TLS setup failed")]
    Tls(#[source] rustls::Error),
}

impl ReqwestError {
    /// Whether a timeout fired.
    pub fn is_timeout(&self) -> bool {
        matches!(&self.inner, ReqwestErrorInner::Reqwest(e) if e.is_timeout())
    }

    /// Whether connecting failed.
    pub fn is_connect(&self) -> bool {
        matches!(&self.inner, ReqwestErrorInner::Reqwest(e) if e.is_connect())
    }
}

impl TransportError for ReqwestError {
    fn is_timeout(&self) -> bool {
        ReqwestError::is_timeout(self)
    }
    fn is_connect(&self) -> bool {
        ReqwestError::is_connect(self)
    }
}

impl From<reqwest::Error> for ReqwestError {
    fn from(e: reqwest::Error) -> Self {
        Self { inner: ReqwestErrorInner::Reqwest(e) }
    }
}

/// The rustls configuration both transports share: ring provider, webpki roots, h2 + http/1.1.
fn rustls_config() -> Result<rustls::ClientConfig, ReqwestError> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let roots = rustls::RootCertStore { roots: webpki_roots::TLS_SERVER_ROOTS.to_vec() };
    let mut config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| ReqwestError { inner: ReqwestErrorInner::Tls(e) })?
        .with_root_certificates(roots)
        .with_no_client_auth();
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(config)
}

impl ReqwestTransport {
    /// A transport with its own client configured from `config`.
    pub fn new(config: &TransportConfig) -> Result<Self, ReqwestError> {
        let mut b = reqwest::Client::builder()
            .tls_backend_preconfigured(rustls_config()?)
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(config.user_agent.as_str());
        if let Some(t) = config.connect_timeout {
            b = b.connect_timeout(t);
        }
        if let Some(t) = config.timeout {
            b = b.timeout(t);
        }
        Ok(Self { client: b.build()?, max_response_bytes: config.max_response_bytes })
    }

    /// Wraps a preconfigured client. Build it with `redirect(Policy::none())`: reqwest cannot
    /// turn redirects off per request.
    pub fn from_client(client: reqwest::Client, max_response_bytes: u64) -> Self {
        Self { client, max_response_bytes }
    }

    async fn execute(client: reqwest::Client, request: HttpRequest, max: u64) -> Result<HttpResponse, ReqwestError> {
        // `Vec<u8>` -> `Bytes` takes the allocation over: the body is not copied.
        let req = reqwest::Request::try_from(request)?;
        let mut resp = client.execute(req).await?;
        let mut out = http::Response::builder().status(resp.status()).version(resp.version());
        if let Some(h) = out.headers_mut() {
            *h = std::mem::take(resp.headers_mut());
        }
        let len = resp.content_length().unwrap_or(0);
        if len > max {
            return Err(ReqwestError { inner: ReqwestErrorInner::TooLarge(max) });
        }
        let mut body = Vec::with_capacity(usize::try_from(len.min(64 << 20)).unwrap_or(0));
        while let Some(chunk) = resp.chunk().await? {
            if body.len() as u64 + chunk.len() as u64 > max {
                return Err(ReqwestError { inner: ReqwestErrorInner::TooLarge(max) });
            }
            body.extend_from_slice(&chunk);
        }
        // Status and headers came from a valid response, so this cannot fail.
        out.body(body).map_err(|_| ReqwestError { inner: ReqwestErrorInner::TooLarge(max) })
    }
}

impl AsyncTransport for ReqwestTransport {
    type Error = ReqwestError;

    fn send(&self, request: HttpRequest) -> impl Future<Output = Result<HttpResponse, ReqwestError>> + Send {
        Self::execute(self.client.clone(), request, self.max_response_bytes)
    }
}

/// `tokio::time::sleep` as the async sleep function of [`crate::Pipeline::execute_async`].
/// Needs a tokio runtime with the time driver enabled.
pub fn tokio_sleep(d: Duration) -> impl Future<Output = ()> + Send + 'static {
    tokio::time::sleep(d)
}
