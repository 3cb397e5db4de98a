//! The transport traits: plain `http` types in, plain `http` types out.

use std::future::Future;

/// A request as the transports see it.
pub type HttpRequest = http::Request<Vec<u8>>;
/// A response as the transports return it (the whole body read).
pub type HttpResponse = http::Response<Vec<u8>>;

/// What every transport error tells about itself.
pub trait TransportError: std::error::Error + Send + Sync + 'static {
    /// Whether a timeout (connect or whole request) fired.
    fn is_timeout(&self) -> bool;
    /// Whether connecting failed (nothing was sent).
    fn is_connect(&self) -> bool;
}

impl TransportError for std::io::Error {
    fn is_timeout(&self) -> bool {
        matches!(self.kind(), std::io::ErrorKind::TimedOut | std::io::ErrorKind::WouldBlock)
    }
    fn is_connect(&self) -> bool {
        matches!(self.kind(), std::io::ErrorKind::ConnectionRefused | std::io::ErrorKind::NotConnected)
    }
}

impl TransportError for std::convert::Infallible {
    fn is_timeout(&self) -> bool {
        match *self {}
    }
    fn is_connect(&self) -> bool {
        match *self {}
    }
}

/// A blocking HTTP transport. Closures `Fn(HttpRequest) -> Result<HttpResponse, E>` are transports.
pub trait SyncTransport {
    /// The transport's error.
    type Error: TransportError;
    /// Sends the request and reads the whole response. Error statuses are responses, not errors.
    fn send(&self, request: HttpRequest) -> Result<HttpResponse, Self::Error>;
}

/// An async HTTP transport. Closures `Fn(HttpRequest) -> impl Future<Output = Result<…>> + Send`
/// are transports.
pub trait AsyncTransport {
    /// The transport's error.
    type Error: TransportError;
    /// Sends the request and reads the whole response. Error statuses are responses, not errors.
    fn send(&self, request: HttpRequest) -> impl Future<Output = Result<HttpResponse, Self::Error>> + Send;
}

impl<F, E> SyncTransport for F
where
    F: Fn(HttpRequest) -> Result<HttpResponse, E>,
    E: TransportError,
{
    type Error = E;
    fn send(&self, request: HttpRequest) -> Result<HttpResponse, E> {
        self(request)
    }
}

impl<F, Fut, E> AsyncTransport for F
where
    F: Fn(HttpRequest) -> Fut,
    Fut: Future<Output = Result<HttpResponse, E>> + Send,
    E: TransportError,
{
    type Error = E;
    fn send(&self, request: HttpRequest) -> impl Future<Output = Result<HttpResponse, E>> + Send {
        self(request)
    }
}

/// Common transport settings.
#[derive(Clone, Debug)]
pub struct TransportConfig {
    /// Connect timeout (default 30 s).
    pub connect_timeout: Option<std::time::Duration>,
    /// Whole-request timeout including reading the body (default 5 min: parts are up to 100 MB).
    pub timeout: Option<std::time::Duration>,
    /// `User-Agent` (default `ksef-rs/<version>`).
    pub user_agent: String,
    /// Largest response body accepted, in bytes (default 1 GiB).
    pub max_response_bytes: u64,
}

impl Default for TransportConfig {
    fn default() -> Self {
        Self {
            connect_timeout: Some(std::time::Duration::from_secs(30)),
            timeout: Some(std::time::Duration::from_secs(300)),
            user_agent: concat!("ksef-rs/", env!("CARGO_PKG_VERSION")).to_owned(),
            max_response_bytes: 1 << 30,
        }
    }
}

/// The body of a streaming download (`UreqTransport::download_to`, `ReqwestTransport::download_to`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum DownloadBody {
    /// 2xx: this many bytes were written to the sink.
    Written(u64),
    /// Error status: the body, read whole (decode it with [`crate::ApiError::from_response`]).
    Error(Vec<u8>),
}
