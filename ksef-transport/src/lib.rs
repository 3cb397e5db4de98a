#![doc = include_str!("../README.md")]
#![forbid(unsafe_code)]
#![warn(missing_docs)]
#![cfg_attr(docsrs, feature(doc_cfg))]

mod body;
mod context;
mod error;
mod limiter;
mod pipeline;
mod presigned;
mod request;
mod response;
mod retry;
mod secret;
mod transport;
mod warning;

#[cfg(feature = "reqwest")]
#[cfg_attr(docsrs, doc(cfg(feature = "reqwest")))]
pub mod reqwest_transport;
#[cfg(feature = "test-util")]
#[cfg_attr(docsrs, doc(cfg(feature = "test-util")))]
pub mod test_util;
#[cfg(feature = "ureq")]
#[cfg_attr(docsrs, doc(cfg(feature = "ureq")))]
pub mod ureq_transport;

#[cfg(feature = "reqwest")]
pub use reqwest_transport::{ReqwestError, ReqwestTransport, tokio_sleep};
#[cfg(feature = "ureq")]
pub use ureq_transport::{UreqError, UreqTransport};

pub use body::{JsonBody, RequestBody, ResponseBody};
pub use context::{DEMO_BASE_URL, PRODUCTION_BASE_URL, RequestContext, TEST_BASE_URL};
pub use error::{ApiError, BuildError, DecodeError, Error, ErrorFormat, ExceptionDetail, RetryAfter, TransportFailure};
pub use limiter::{Clock, ManualClock, RateLimiter, SlidingWindowLimiter, SystemClock, limiter_key};
pub use pipeline::Pipeline;
pub use presigned::{UrlPolicy, parse_presigned, presigned_get, presigned_request};
pub use request::{build_raw, build_request};
pub use response::{Response, check_response, decode_body, parse_response};
pub use retry::{Jitter, NoJitter, RandomJitter, RetryDecision, RetryPolicy};
pub use secret::SecretToken;
pub use transport::{
    AsyncTransport, DownloadBody, HttpRequest, HttpResponse, SyncTransport, TransportConfig, TransportError,
};
pub use warning::{SystemWarning, parse_system_warnings, system_warnings};

use ksef_model::Operation;

/// Builds, sends (blocking) and parses one request of operation `O`; no limiter, no retries.
pub fn send_blocking<O, T>(
    transport: &T,
    ctx: &RequestContext,
    params: &O::Params,
    body: O::Request,
) -> Result<Response<O::Response>, Error>
where
    O: Operation,
    O::Request: RequestBody,
    O::Response: ResponseBody,
    T: SyncTransport + ?Sized,
{
    let req = build_request::<O>(ctx, params, body)?;
    let resp = transport.send(req).map_err(Error::from_transport)?;
    parse_response::<O>(resp)
}

/// Builds, sends (async) and parses one request of operation `O`; no limiter, no retries.
pub async fn send_async<O, T>(
    transport: &T,
    ctx: &RequestContext,
    params: &O::Params,
    body: O::Request,
) -> Result<Response<O::Response>, Error>
where
    O: Operation,
    O::Request: RequestBody,
    O::Response: ResponseBody,
    T: AsyncTransport + ?Sized,
{
    let req = build_request::<O>(ctx, params, body)?;
    let resp = transport.send(req).await.map_err(Error::from_transport)?;
    parse_response::<O>(resp)
}
