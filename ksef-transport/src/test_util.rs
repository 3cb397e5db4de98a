//! Test transports (feature `test-util`): scripted responses, recorded requests.

use std::collections::VecDeque;
use std::sync::Mutex;

use crate::{AsyncTransport, HttpRequest, HttpResponse, SyncTransport, TransportError};

/// A transport that answers from an ordered script and records every request.
///
/// Each step names the method and the path-and-query it expects (after the host); a request
/// that does not match, or one past the end of the script, is a [`ReplayError`].
#[derive(Debug, Default)]
pub struct StaticReplay {
    script: Mutex<VecDeque<(http::Method, String, HttpResponse)>>,
    requests: Mutex<Vec<HttpRequest>>,
}

/// A request the script did not expect.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ReplayError {
    /// The request differs from the next step.
    #[error("expected {expected}, got {got}")]
    Mismatch {
        /// `METHOD path?query` of the step.
        expected: String,
        /// `METHOD path?query` of the request.
        got: String,
    },
    /// The script is used up.
    #[error("no response scripted for {0}")]
    Exhausted(String),
}

impl TransportError for ReplayError {
    fn is_timeout(&self) -> bool {
        false
    }
    fn is_connect(&self) -> bool {
        false
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

impl StaticReplay {
    /// An empty script.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds a step: a request `method path_and_query` (e.g. `"/v2/rate-limits"`) gets `response`.
    pub fn expect(self, method: http::Method, path_and_query: &str, response: HttpResponse) -> Self {
        lock(&self.script).push_back((method, path_and_query.to_owned(), response));
        self
    }

    /// Adds a step answering `status` with a JSON body.
    pub fn expect_json(self, method: http::Method, path_and_query: &str, status: u16, json: &str) -> Self {
        let mut resp = http::Response::new(json.as_bytes().to_vec());
        *resp.status_mut() = http::StatusCode::from_u16(status).unwrap_or(http::StatusCode::INTERNAL_SERVER_ERROR);
        resp.headers_mut().insert(http::header::CONTENT_TYPE, http::HeaderValue::from_static("application/json"));
        self.expect(method, path_and_query, resp)
    }

    /// Steps not used yet.
    pub fn remaining(&self) -> usize {
        lock(&self.script).len()
    }

    /// Whether every step was used.
    pub fn is_done(&self) -> bool {
        self.remaining() == 0
    }

    /// The requests received so far (taken out).
    pub fn take_requests(&self) -> Vec<HttpRequest> {
        std::mem::take(&mut *lock(&self.requests))
    }

    fn answer(&self, req: HttpRequest) -> Result<HttpResponse, ReplayError> {
        let got = format!("{} {}", req.method(), req.uri().path_and_query().map_or("/", |p| p.as_str()));
        lock(&self.requests).push(req);
        let mut script = lock(&self.script);
        let Some((m, p, _)) = script.front() else { return Err(ReplayError::Exhausted(got)) };
        let expected = format!("{m} {p}");
        if expected != got {
            return Err(ReplayError::Mismatch { expected, got });
        }
        script.pop_front().map(|(_, _, r)| r).ok_or(ReplayError::Exhausted(got))
    }
}

impl SyncTransport for StaticReplay {
    type Error = ReplayError;
    fn send(&self, request: HttpRequest) -> Result<HttpResponse, ReplayError> {
        self.answer(request)
    }
}

impl AsyncTransport for StaticReplay {
    type Error = ReplayError;
    fn send(&self, request: HttpRequest) -> impl Future<Output = Result<HttpResponse, ReplayError>> + Send {
        std::future::ready(self.answer(request))
    }
}
