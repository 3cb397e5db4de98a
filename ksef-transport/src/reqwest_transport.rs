//! Async transport on reqwest 0.13 (feature `reqwest`).

use std::sync::Arc;
use std::time::Duration;

use crate::{AsyncTransport, DownloadBody, HttpRequest, HttpResponse, TransportConfig, TransportError};

pub use reqwest;

/// Chunk size of streamed request bodies ([`ReqwestTransport::send_reader`]): large enough that
/// a file reader (`tokio::fs::File` hops to a blocking thread per read) keeps up, small enough
/// that a few parallel uploads stay within a few MB.
pub const STREAM_CHUNK: usize = 256 * 1024;

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
    #[error("could not write the response body")]
    Write(#[source] std::io::Error),
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

    /// Sends a request whose body streams from `body` (e.g. an encrypted batch part on disk) in
    /// chunks of [`STREAM_CHUNK`] bytes, so a large payload is never held in memory. Set
    /// `Content-Length` on the request if the server needs it (pre-signed blob uploads do).
    pub async fn send_reader<R>(&self, req: http::Request<()>, body: R) -> Result<HttpResponse, ReqwestError>
    where
        R: tokio::io::AsyncRead + Send + Sync + 'static,
    {
        let (parts, ()) = req.into_parts();
        let stream = reqwest::Body::wrap_stream(tokio_util::io::ReaderStream::with_capacity(body, STREAM_CHUNK));
        let req = reqwest::Request::try_from(http::Request::from_parts(parts, stream))?;
        let resp = self.client.execute(req).await?;
        Self::read(resp, self.max_response_bytes).await
    }

    /// Sends a request and streams a **2xx** response body into `out` (e.g. an export part);
    /// returns the response with the number of bytes written. An error status is read whole
    /// (bounded by `max_response_bytes`) and returned as [`DownloadBody::Error`].
    pub async fn download_to<W>(
        &self,
        request: HttpRequest,
        out: &mut W,
    ) -> Result<http::Response<DownloadBody>, ReqwestError>
    where
        W: tokio::io::AsyncWrite + Unpin + Send,
    {
        use tokio::io::AsyncWriteExt;
        let req = reqwest::Request::try_from(request)?;
        let mut resp = self.client.execute(req).await?;
        if !resp.status().is_success() {
            return Ok(Self::read(resp, self.max_response_bytes).await?.map(DownloadBody::Error));
        }
        let mut out_resp = Self::head(&mut resp);
        let mut n = 0u64;
        while let Some(chunk) = resp.chunk().await? {
            n += chunk.len() as u64;
            if n > self.max_response_bytes {
                return Err(ReqwestError { inner: ReqwestErrorInner::TooLarge(self.max_response_bytes) });
            }
            out.write_all(&chunk).await.map_err(|e| ReqwestError { inner: ReqwestErrorInner::Write(e) })?;
        }
        out.flush().await.map_err(|e| ReqwestError { inner: ReqwestErrorInner::Write(e) })?;
        *out_resp.body_mut() = DownloadBody::Written(n);
        Ok(out_resp)
    }

    fn head(resp: &mut reqwest::Response) -> http::Response<DownloadBody> {
        let mut out = http::Response::new(DownloadBody::Written(0));
        *out.status_mut() = resp.status();
        *out.version_mut() = resp.version();
        *out.headers_mut() = std::mem::take(resp.headers_mut());
        out
    }

    async fn execute(client: reqwest::Client, request: HttpRequest, max: u64) -> Result<HttpResponse, ReqwestError> {
        // `Vec<u8>` -> `Bytes` takes the allocation over: the body is not copied.
        let req = reqwest::Request::try_from(request)?;
        let resp = client.execute(req).await?;
        Self::read(resp, max).await
    }

    async fn read(mut resp: reqwest::Response, max: u64) -> Result<HttpResponse, ReqwestError> {
        let head = Self::head(&mut resp);
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
        Ok(head.map(|_| body))
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
