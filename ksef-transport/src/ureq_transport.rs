//! Blocking transport on ureq 3 (feature `ureq`).

use std::io::{Read, Write};

use crate::{DownloadBody, HttpRequest, HttpResponse, SyncTransport, TransportConfig, TransportError};

pub use ureq;

/// A blocking transport on a [`ureq::Agent`]: rustls with the ring provider, webpki roots,
/// redirects off, error statuses returned as responses (bodies kept).
#[derive(Clone, Debug)]
pub struct UreqTransport {
    agent: ureq::Agent,
    max_response_bytes: u64,
}

/// An error of [`UreqTransport`].
#[derive(Debug, thiserror::Error)]
#[error("ureq transport error")]
pub struct UreqError {
    #[source]
    inner: ureq::Error,
}

impl UreqError {
    /// Whether a timeout fired.
    pub fn is_timeout(&self) -> bool {
        match &self.inner {
            ureq::Error::Timeout(_) => true,
            ureq::Error::Io(e) => e.kind() == std::io::ErrorKind::TimedOut,
            _ => false,
        }
    }

    /// Whether connecting failed.
    pub fn is_connect(&self) -> bool {
        match &self.inner {
            ureq::Error::HostNotFound | ureq::Error::ConnectionFailed => true,
            ureq::Error::Timeout(t) => matches!(t, ureq::Timeout::Connect | ureq::Timeout::Resolve),
            ureq::Error::Io(e) => e.kind() == std::io::ErrorKind::ConnectionRefused,
            _ => false,
        }
    }
}

impl TransportError for UreqError {
    fn is_timeout(&self) -> bool {
        UreqError::is_timeout(self)
    }
    fn is_connect(&self) -> bool {
        UreqError::is_connect(self)
    }
}

impl From<ureq::Error> for UreqError {
    fn from(inner: ureq::Error) -> Self {
        Self { inner }
    }
}

impl UreqTransport {
    /// A transport with its own agent configured from `config`.
    pub fn new(config: &TransportConfig) -> Self {
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .max_redirects(0)
            .timeout_connect(config.connect_timeout)
            .timeout_global(config.timeout)
            .user_agent(config.user_agent.as_str())
            .build()
            .into();
        Self { agent, max_response_bytes: config.max_response_bytes }
    }

    /// Wraps a preconfigured agent. Each request still turns `http_status_as_error` and
    /// redirects off, so 4xx bodies are kept and no redirect is followed.
    pub fn from_agent(agent: ureq::Agent, max_response_bytes: u64) -> Self {
        Self { agent, max_response_bytes }
    }

    fn run<S: ureq::AsSendBody>(&self, req: http::Request<S>) -> Result<http::Response<ureq::Body>, UreqError> {
        let req = self.agent.configure_request(req).http_status_as_error(false).max_redirects(0).build();
        Ok(self.agent.run(req)?)
    }

    /// Sends a request whose body streams from `body` (e.g. a batch part on disk), so a large
    /// payload is never held in memory. Set `Content-Length` on the request if the server needs it.
    pub fn send_reader(&self, req: http::Request<()>, body: &mut dyn Read) -> Result<HttpResponse, UreqError> {
        let (parts, ()) = req.into_parts();
        let resp = self.run(http::Request::from_parts(parts, ureq::SendBody::from_reader(body)))?;
        self.read(resp)
    }

    /// Sends a request and streams a **2xx** response body into `out` (e.g. an export part), so
    /// a large payload is never held in memory. An error status is read whole (bounded by
    /// `max_response_bytes`) and returned as [`DownloadBody::Error`].
    pub fn download_to(
        &self,
        req: HttpRequest,
        out: &mut dyn Write,
    ) -> Result<http::Response<DownloadBody>, UreqError> {
        let resp = self.run(req)?;
        if !resp.status().is_success() {
            return Ok(self.read(resp)?.map(DownloadBody::Error));
        }
        let (parts, mut body) = resp.into_parts();
        let mut reader = body.with_config().limit(self.max_response_bytes).reader();
        let n = std::io::copy(&mut reader, out).map_err(ureq::Error::Io)?;
        Ok(http::Response::from_parts(parts, DownloadBody::Written(n)))
    }

    fn read(&self, resp: http::Response<ureq::Body>) -> Result<HttpResponse, UreqError> {
        let (parts, mut body) = resp.into_parts();
        let bytes = body.with_config().limit(self.max_response_bytes).read_to_vec()?;
        Ok(http::Response::from_parts(parts, bytes))
    }
}

impl Default for UreqTransport {
    fn default() -> Self {
        Self::new(&TransportConfig::default())
    }
}

impl SyncTransport for UreqTransport {
    type Error = UreqError;

    fn send(&self, request: HttpRequest) -> Result<HttpResponse, UreqError> {
        // `Vec<u8>` is sent as is: the body is moved, not copied.
        let resp = self.run(request)?;
        self.read(resp)
    }
}
