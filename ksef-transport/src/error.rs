//! One error type for every stage of a request.

use std::time::{Duration, SystemTime};

use http::{HeaderMap, StatusCode};
use ksef_model::types;
use serde_json::Value;

/// Anything that can go wrong with a KSeF request, one variant per stage.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The request could not be built; nothing was sent.
    #[error("could not build the request")]
    Build(#[from] BuildError),
    /// The transport failed; the request may have been sent.
    #[error("the transport failed (the request may have been sent)")]
    Transport(#[source] TransportFailure),
    /// The transport timed out; the request may have been sent.
    #[error("the request timed out")]
    Timeout(#[source] TransportFailure),
    /// A response arrived but its body could not be decoded.
    #[error("could not decode the HTTP {} response", .0.status())]
    Decode(#[source] DecodeError),
    /// KSeF answered with an error status.
    #[error("{0}")]
    Api(Box<ApiError>),
}

impl Error {
    /// Wraps a transport error, telling timeouts apart.
    pub fn from_transport<E: crate::TransportError>(e: E) -> Self {
        let failure = TransportFailure { timeout: e.is_timeout(), connect: e.is_connect(), inner: Box::new(e) };
        if failure.timeout { Self::Timeout(failure) } else { Self::Transport(failure) }
    }

    /// The KSeF error, if KSeF answered with one.
    pub fn api(&self) -> Option<&ApiError> {
        match self {
            Self::Api(a) => Some(a),
            Self::Build(_) | Self::Transport(_) | Self::Timeout(_) | Self::Decode(_) => None,
        }
    }

    /// The HTTP status, if a response arrived.
    pub fn status(&self) -> Option<StatusCode> {
        match self {
            Self::Api(a) => Some(a.status()),
            Self::Decode(d) => Some(d.status()),
            Self::Build(_) | Self::Transport(_) | Self::Timeout(_) => None,
        }
    }

    /// Whether KSeF answered 429 Too Many Requests.
    pub fn is_rate_limited(&self) -> bool {
        self.api().is_some_and(ApiError::is_rate_limited)
    }

    /// The `Retry-After` of the response, if any.
    pub fn retry_after(&self) -> Option<RetryAfter> {
        self.api().and_then(ApiError::retry_after)
    }

    /// The KSeF exception codes (legacy `exceptionCode` or Problem Details `errors[].code`).
    pub fn exception_codes(&self) -> Vec<i32> {
        self.api().map(|a| a.exception_codes().collect()).unwrap_or_default()
    }

    /// Whether trying again may help: 429, 408, 5xx, timeouts and transport failures.
    ///
    /// Whether it is *safe* (the operation is idempotent) is for [`crate::RetryPolicy`] to decide.
    pub fn is_retryable(&self) -> bool {
        match self {
            Self::Transport(_) | Self::Timeout(_) => true,
            Self::Api(a) => is_retryable_status(a.status()),
            Self::Build(_) | Self::Decode(_) => false,
        }
    }
}

pub(crate) fn is_retryable_status(s: StatusCode) -> bool {
    s == StatusCode::TOO_MANY_REQUESTS || s == StatusCode::REQUEST_TIMEOUT || s.is_server_error()
}

/// Why a request could not be built.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum BuildError {
    /// The base URL is not an absolute `http(s)` URL.
    #[error("invalid base URL `{0}`")]
    InvalidBaseUrl(String),
    /// A path parameter the template names was not given.
    #[error("missing path parameter `{0}`")]
    MissingPathParam(&'static str),
    /// The operation needs a bearer token and the context has none.
    #[error("operation `{0}` needs a bearer token")]
    MissingToken(&'static str),
    /// A header name or value is not valid HTTP.
    #[error("invalid header `{0}`")]
    InvalidHeader(String),
    /// The assembled URI is not valid.
    #[error("invalid request URI")]
    InvalidUri(#[source] http::Error),
    /// The JSON body could not be serialized.
    #[error("could not serialize the request body")]
    Json(#[source] serde_json::Error),
    /// A pre-signed URL was refused by the [`crate::UrlPolicy`].
    #[error("URL refused by the policy: {0}")]
    UrlRefused(String),
}

/// A transport failure: the transport's own error, kept as the source.
#[derive(Debug, thiserror::Error)]
#[error("transport error")]
pub struct TransportFailure {
    timeout: bool,
    connect: bool,
    #[source]
    inner: Box<dyn std::error::Error + Send + Sync + 'static>,
}

impl TransportFailure {
    /// Whether the transport timed out.
    pub fn is_timeout(&self) -> bool {
        self.timeout
    }

    /// Whether connecting failed (nothing was sent).
    pub fn is_connect(&self) -> bool {
        self.connect
    }
}

/// A response whose body could not be decoded; status and raw body are kept.
#[derive(thiserror::Error)]
#[error("HTTP {status}: body of {} bytes is not a valid `{expected}`", body.len())]
pub struct DecodeError {
    status: StatusCode,
    expected: &'static str,
    body: Vec<u8>,
    #[source]
    source: serde_json::Error,
}

impl core::fmt::Debug for DecodeError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        let shown = &self.body[..self.body.len().min(512)];
        f.debug_struct("DecodeError")
            .field("status", &self.status)
            .field("expected", &self.expected)
            .field("body_len", &self.body.len())
            .field("body_start", &String::from_utf8_lossy(shown))
            .field("source", &self.source)
            .finish()
    }
}

impl DecodeError {
    pub(crate) fn new(status: StatusCode, expected: &'static str, body: Vec<u8>, source: serde_json::Error) -> Self {
        Self { status, expected, body, source }
    }

    /// The HTTP status.
    pub fn status(&self) -> StatusCode {
        self.status
    }

    /// The raw body.
    pub fn body(&self) -> &[u8] {
        &self.body
    }

    /// The name of the type the body should have been.
    pub fn expected(&self) -> &'static str {
        self.expected
    }
}

/// The value of a `Retry-After` header.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RetryAfter {
    /// `Retry-After: <seconds>`.
    Seconds(u64),
    /// `Retry-After: <HTTP-date>`.
    Date(SystemTime),
}

impl RetryAfter {
    /// Parses a header value (delta seconds or an IMF-fixdate / RFC 2822 date).
    pub fn parse(value: &str) -> Option<Self> {
        let value = value.trim();
        if let Ok(s) = value.parse::<u64>() {
            return Some(Self::Seconds(s));
        }
        let dt = chrono::DateTime::parse_from_rfc2822(value).ok()?;
        let secs = u64::try_from(dt.timestamp()).ok()?;
        Some(Self::Date(SystemTime::UNIX_EPOCH + Duration::from_secs(secs)))
    }

    /// How long to wait counted from `now` (zero for a date in the past).
    pub fn delay(&self, now: SystemTime) -> Duration {
        match *self {
            Self::Seconds(s) => Duration::from_secs(s),
            Self::Date(t) => t.duration_since(now).unwrap_or(Duration::ZERO),
        }
    }
}

/// Which error body format KSeF used.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum ErrorFormat {
    /// Legacy `ExceptionResponse` (400).
    Exception,
    /// Legacy `TooManyRequestsResponse` (429).
    TooManyRequests,
    /// `application/problem+json` (any Problem Details schema).
    ProblemDetails,
    /// No body, or a body in no known format (kept raw).
    Unknown,
}

/// One KSeF exception: legacy `exceptionDetailList[]` item or Problem Details `errors[]` item.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ExceptionDetail {
    /// Exception code (`21405`, ...).
    pub code: i32,
    /// Its description.
    pub description: Option<String>,
    /// Details (validator messages, ...).
    pub details: Vec<String>,
}

/// An error status from KSeF, decoded from whichever format it came in.
#[derive(Clone, Debug)]
pub struct ApiError {
    operation: &'static str,
    status: StatusCode,
    format: ErrorFormat,
    title: Option<String>,
    detail: Option<String>,
    instance: Option<String>,
    exceptions: Vec<ExceptionDetail>,
    messages: Vec<String>,
    reason_code: Option<String>,
    security: Option<Value>,
    trace_id: Option<String>,
    reference_number: Option<String>,
    service_code: Option<String>,
    retry_after: Option<RetryAfter>,
    body: Vec<u8>,
}

impl core::fmt::Display for ApiError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "KSeF answered HTTP {}", self.status.as_u16())?;
        if !self.operation.is_empty() {
            write!(f, " to `{}`", self.operation)?;
        }
        if let Some(d) = &self.detail {
            write!(f, ": {d}")?;
        }
        for e in &self.exceptions {
            write!(f, " [{}", e.code)?;
            if let Some(d) = &e.description {
                write!(f, " {d}")?;
            }
            f.write_str("]")?;
        }
        if let Some(r) = &self.reason_code {
            write!(f, " (reason: {r})")?;
        }
        Ok(())
    }
}

impl ApiError {
    /// The operation's snake_case name (empty for pre-signed URLs).
    pub fn operation(&self) -> &'static str {
        self.operation
    }
    /// HTTP status.
    pub fn status(&self) -> StatusCode {
        self.status
    }
    /// The body format.
    pub fn format(&self) -> ErrorFormat {
        self.format
    }
    /// Problem Details `title`, or the legacy 429 `status.description`.
    pub fn title(&self) -> Option<&str> {
        self.title.as_deref()
    }
    /// Problem Details `detail`.
    pub fn detail(&self) -> Option<&str> {
        self.detail.as_deref()
    }
    /// Problem Details `instance`.
    pub fn instance(&self) -> Option<&str> {
        self.instance.as_deref()
    }
    /// Exceptions with codes, descriptions and details.
    pub fn exceptions(&self) -> &[ExceptionDetail] {
        &self.exceptions
    }
    /// The exception codes.
    pub fn exception_codes(&self) -> impl Iterator<Item = i32> + '_ {
        self.exceptions.iter().map(|e| e.code)
    }
    /// Whether one of the exceptions has this code.
    pub fn has_exception_code(&self, code: i32) -> bool {
        self.exceptions.iter().any(|e| e.code == code)
    }
    /// Free-text messages without a code (legacy 429 `status.details`).
    pub fn messages(&self) -> &[String] {
        &self.messages
    }
    /// 403 `reasonCode` (`missing-permissions`, `ip-not-allowed`, ...).
    pub fn reason_code(&self) -> Option<&str> {
        self.reason_code.as_deref()
    }
    /// 403 `security` object (contents depend on `reasonCode`).
    pub fn security(&self) -> Option<&Value> {
        self.security.as_ref()
    }
    /// Problem Details `traceId`.
    pub fn trace_id(&self) -> Option<&str> {
        self.trace_id.as_deref()
    }
    /// Legacy `exception.referenceNumber`.
    pub fn reference_number(&self) -> Option<&str> {
        self.reference_number.as_deref()
    }
    /// Legacy `exception.serviceCode`.
    pub fn service_code(&self) -> Option<&str> {
        self.service_code.as_deref()
    }
    /// `Retry-After` header.
    pub fn retry_after(&self) -> Option<RetryAfter> {
        self.retry_after
    }
    /// Whether this is 429 Too Many Requests.
    pub fn is_rate_limited(&self) -> bool {
        self.status == StatusCode::TOO_MANY_REQUESTS
    }
    /// Whether trying again may help (429, 408, 5xx).
    pub fn is_retryable(&self) -> bool {
        is_retryable_status(self.status)
    }
    /// The raw body.
    pub fn body(&self) -> &[u8] {
        &self.body
    }

    /// Decodes an error response. Never fails: what cannot be decoded stays in [`Self::body`].
    pub fn from_response(operation: &'static str, status: StatusCode, headers: &HeaderMap, body: Vec<u8>) -> Self {
        let retry_after =
            headers.get(http::header::RETRY_AFTER).and_then(|v| v.to_str().ok()).and_then(RetryAfter::parse);
        let mut e = ApiError {
            operation,
            status,
            format: ErrorFormat::Unknown,
            title: None,
            detail: None,
            instance: None,
            exceptions: Vec::new(),
            messages: Vec::new(),
            reason_code: None,
            security: None,
            trace_id: None,
            reference_number: None,
            service_code: None,
            retry_after,
            body: Vec::new(),
        };
        if let Ok(v) = serde_json::from_slice::<Value>(&body) {
            e.decode(&body, &v);
        }
        e.body = body;
        e
    }

    fn decode(&mut self, raw: &[u8], v: &Value) {
        let Some(obj) = v.as_object() else { return };
        if obj.contains_key("exception") {
            self.format = ErrorFormat::Exception;
            match serde_json::from_slice::<types::ExceptionResponse>(raw) {
                Ok(r) => self.take_exception(r),
                Err(_) => self.lenient_exception(&obj["exception"]),
            }
        } else if obj.get("status").is_some_and(Value::is_object) {
            self.format = ErrorFormat::TooManyRequests;
            match serde_json::from_slice::<types::TooManyRequestsResponse>(raw) {
                Ok(r) => {
                    self.title = Some(r.status.description);
                    self.messages = r.status.details;
                }
                Err(_) => {
                    let s = &obj["status"];
                    self.title = str_field(s, "description");
                    self.messages = strings(s.get("details"));
                }
            }
        } else if obj.contains_key("title") || obj.contains_key("detail") || obj.contains_key("traceId") {
            self.format = ErrorFormat::ProblemDetails;
            self.problem_details(raw, v);
        }
    }

    fn take_exception(&mut self, r: types::ExceptionResponse) {
        let Some(info) = r.exception else { return };
        self.reference_number = info.reference_number.map(|r| r.to_string());
        self.service_code = info.service_code;
        self.exceptions = info
            .exception_detail_list
            .unwrap_or_default()
            .into_iter()
            .map(|d| ExceptionDetail {
                code: d.exception_code.unwrap_or_default(),
                description: d.exception_description,
                details: d.details.unwrap_or_default(),
            })
            .collect();
    }

    fn lenient_exception(&mut self, v: &Value) {
        self.reference_number = str_field(v, "referenceNumber");
        self.service_code = str_field(v, "serviceCode");
        self.exceptions = v
            .get("exceptionDetailList")
            .and_then(Value::as_array)
            .map(|list| {
                list.iter()
                    .map(|d| ExceptionDetail {
                        code: int_field(d, "exceptionCode"),
                        description: str_field(d, "exceptionDescription"),
                        details: strings(d.get("details")),
                    })
                    .collect()
            })
            .unwrap_or_default();
    }

    fn problem_details(&mut self, raw: &[u8], v: &Value) {
        // Typed decode first (the generated schemas), then the lenient reading of whatever came.
        let typed = match self.status.as_u16() {
            400 => serde_json::from_slice::<types::BadRequestProblemDetails>(raw)
                .map(|p| {
                    self.exceptions = p
                        .errors
                        .into_iter()
                        .map(|e| ExceptionDetail {
                            code: e.code,
                            description: Some(e.description),
                            details: e.details.unwrap_or_default(),
                        })
                        .collect();
                    self.set_common(Some(p.title), Some(p.detail), Some(p.instance), Some(p.trace_id));
                })
                .is_ok(),
            401 => serde_json::from_slice::<types::UnauthorizedProblemDetails>(raw)
                .map(|p| self.set_common(Some(p.title), Some(p.detail), p.instance, p.trace_id))
                .is_ok(),
            403 => serde_json::from_slice::<types::ForbiddenProblemDetails>(raw)
                .map(|p| {
                    self.reason_code = Some(p.reason_code);
                    self.security = v.get("security").cloned().filter(|s| !s.is_null());
                    self.set_common(Some(p.title), Some(p.detail), p.instance, p.trace_id);
                })
                .is_ok(),
            410 => serde_json::from_slice::<types::GoneProblemDetails>(raw)
                .map(|p| self.set_common(Some(p.title), Some(p.detail), Some(p.instance), Some(p.trace_id)))
                .is_ok(),
            429 => serde_json::from_slice::<types::TooManyRequestsProblemDetails>(raw)
                .map(|p| self.set_common(Some(p.title), Some(p.detail), Some(p.instance), Some(p.trace_id)))
                .is_ok(),
            _ => false,
        };
        if typed {
            return;
        }
        self.set_common(
            str_field(v, "title"),
            str_field(v, "detail"),
            str_field(v, "instance"),
            str_field(v, "traceId"),
        );
        self.reason_code = str_field(v, "reasonCode");
        self.security = v.get("security").cloned().filter(|s| !s.is_null());
        if let Some(errors) = v.get("errors").and_then(Value::as_array) {
            self.exceptions = errors
                .iter()
                .map(|e| ExceptionDetail {
                    code: int_field(e, "code"),
                    description: str_field(e, "description"),
                    details: strings(e.get("details")),
                })
                .collect();
        }
    }

    fn set_common(
        &mut self,
        title: Option<String>,
        detail: Option<String>,
        instance: Option<String>,
        trace: Option<String>,
    ) {
        self.title = title;
        self.detail = detail;
        self.instance = instance;
        self.trace_id = trace;
    }
}

fn str_field(v: &Value, k: &str) -> Option<String> {
    v.get(k).and_then(Value::as_str).map(str::to_owned)
}

fn int_field(v: &Value, k: &str) -> i32 {
    v.get(k).and_then(Value::as_i64).and_then(|i| i32::try_from(i).ok()).unwrap_or_default()
}

fn strings(v: Option<&Value>) -> Vec<String> {
    v.and_then(Value::as_array)
        .map(|a| a.iter().filter_map(Value::as_str).map(str::to_owned).collect())
        .unwrap_or_default()
}
