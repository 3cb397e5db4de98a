//! HTTP-level fault injection: per operation (by its name in `ksef_model::OPERATIONS`), per
//! rate-limit group (`x-rate-limits`: `invoiceSend`, `sessionMisc`, ...) or `*` for all. Every
//! operation draws from its own random stream derived from the seed and its name, so the faults
//! one operation sees do not change when another is called more or less often.
//!
//! Kinds: added latency, 5xx answers, dropped connections (closed without a response), responses
//! lost *after* the request was processed (the state changed, the client sees a broken
//! connection), forced 429 with `Retry-After`, forced `X-System-Warning`, invoices held at status
//! 150 and sessions at status 100 for a number of polls or until a time. Configured with
//! [`crate::EmulatorBuilder::http_faults`] (or a TOML/JSON file:
//! [`crate::EmulatorBuilder::http_faults_file`], [`HttpFaults::load`]) or at run time with
//! `POST /_emulator/faults` (the same format, JSON or TOML); `GET /_emulator/stats` returns the
//! counters per kind and per operation.

use std::collections::{BTreeMap, HashMap};
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};

use axum::Json;
use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Utc};
use rand::SeedableRng;
use rand::rngs::StdRng;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::api::AppState;

/// Faults of one operation. Rates are probabilities in `0..=1`; zero disables a kind.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default, deny_unknown_fields)]
pub struct HttpFaultRule {
    /// Added before the request is handled, milliseconds.
    #[serde(alias = "latency_ms")]
    pub latency_ms: u64,
    /// Up to this much more latency, drawn from the operation's stream, milliseconds.
    #[serde(alias = "latency_jitter_ms")]
    pub latency_jitter_ms: u64,
    /// Answer `503 Service Unavailable` without handling the request.
    #[serde(alias = "error_5xx_rate")]
    pub error_5xx_rate: f64,
    /// Close the connection without a response, without handling the request.
    #[serde(alias = "drop_rate")]
    pub drop_rate: f64,
    /// Handle the request (state changes), then close the connection without the response.
    #[serde(alias = "lost_response_rate")]
    pub lost_response_rate: f64,
    /// Answer 429 with `Retry-After: retry_after_seconds` without handling the request.
    #[serde(alias = "too_many_requests_rate")]
    pub too_many_requests_rate: f64,
    /// `Retry-After` of forced 429s (default 1).
    #[serde(alias = "retry_after_seconds")]
    pub retry_after_seconds: Option<u64>,
    /// `X-System-Warning` added to every successful answer.
    #[serde(alias = "system_warning")]
    pub system_warning: Option<String>,
    /// `GET /sessions/{ref}/invoices/{invoiceRef}` reports 150 for this many polls of each invoice.
    #[serde(alias = "invoice_stuck_polls")]
    pub invoice_stuck_polls: u32,
    /// `GET /sessions/{ref}` reports 100 for this many polls of each session.
    #[serde(alias = "session_stuck_polls")]
    pub session_stuck_polls: u32,
    /// Invoice and session status polls report 150/100 until this time (emulator clock).
    #[serde(alias = "stuck_until")]
    pub stuck_until: Option<DateTime<Utc>>,
}

/// HTTP-level fault configuration: a seed and rules per operation name (`*`: every operation
/// without its own rule).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default, deny_unknown_fields)]
pub struct HttpFaults {
    /// Seed of the fault streams (one per operation, derived from this and the operation name).
    pub seed: u64,
    /// Rules by operation name (`send_invoice`, `open_online_session`, ...), rate-limit group
    /// (`invoiceSend`, ...) or `*`; the most specific one applies.
    pub rules: BTreeMap<String, HttpFaultRule>,
}

/// Why a fault configuration was refused.
#[derive(Debug, thiserror::Error)]
pub enum FaultConfigError {
    /// A rule names neither an operation, a rate-limit group nor `*`.
    #[error("unknown operation or rate-limit group `{0}`")]
    UnknownTarget(String),
    /// A rate is outside `0..=1` (or not a number).
    #[error("rule `{target}`: {field} must be within 0..=1, got {value}")]
    RateOutOfRange {
        /// The rule's key.
        target: String,
        /// The field.
        field: &'static str,
        /// The value given.
        value: f64,
    },
    /// The file could not be read.
    #[error("could not read the fault configuration file {0}")]
    Read(std::path::PathBuf, #[source] std::io::Error),
    /// Not valid TOML of this shape.
    #[error("the fault configuration is not valid TOML")]
    Toml(#[source] toml::de::Error),
    /// Not valid JSON of this shape.
    #[error("the fault configuration is not valid JSON")]
    Json(#[source] serde_json::Error),
}

impl HttpFaults {
    /// Adds (replaces) the rule of `operation` (`*` for all).
    pub fn rule(mut self, operation: impl Into<String>, rule: HttpFaultRule) -> Self {
        self.rules.insert(operation.into(), rule);
        self
    }

    /// Checks that every rule names an operation, a rate-limit group or `*`, and that every
    /// rate is within `0..=1`.
    pub fn validate(&self) -> Result<(), FaultConfigError> {
        for (name, r) in &self.rules {
            let known = name == "*"
                || STORAGE_TARGETS.contains(&name.as_str())
                || ksef_model::OperationSpec::by_name(name).is_some()
                || ksef_model::OPERATIONS.iter().any(|o| o.rate_limit_group == name);
            if !known {
                return Err(FaultConfigError::UnknownTarget(name.clone()));
            }
            for (field, value) in [
                ("error5xxRate", r.error_5xx_rate),
                ("dropRate", r.drop_rate),
                ("lostResponseRate", r.lost_response_rate),
                ("tooManyRequestsRate", r.too_many_requests_rate),
            ] {
                if !(0.0..=1.0).contains(&value) {
                    return Err(FaultConfigError::RateOutOfRange { target: name.clone(), field, value });
                }
            }
        }
        Ok(())
    }

    /// Parses and validates TOML:
    ///
    /// ```toml
    /// seed = 42
    /// [rules.send_invoice]
    /// lost_response_rate = 0.1
    /// [rules.invoiceStatus]        # a rate-limit group
    /// invoice_stuck_polls = 2
    /// [rules."*"]
    /// error_5xx_rate = 0.02
    /// latency_ms = 20
    /// ```
    pub fn from_toml(text: &str) -> Result<Self, FaultConfigError> {
        let c: Self = toml::from_str(text).map_err(FaultConfigError::Toml)?;
        c.validate()?;
        Ok(c)
    }

    /// Parses and validates JSON (`{"seed": 42, "rules": {"send_invoice": {"lostResponseRate": 0.1}}}`;
    /// snake_case field names are accepted too).
    pub fn from_json(bytes: &[u8]) -> Result<Self, FaultConfigError> {
        let c: Self = serde_json::from_slice(bytes).map_err(FaultConfigError::Json)?;
        c.validate()?;
        Ok(c)
    }

    /// Reads a configuration file: JSON when the name ends in `.json`, TOML otherwise.
    pub fn load(path: &std::path::Path) -> Result<Self, FaultConfigError> {
        let bytes = std::fs::read(path).map_err(|e| FaultConfigError::Read(path.to_owned(), e))?;
        if path.extension().is_some_and(|e| e.eq_ignore_ascii_case("json")) {
            Self::from_json(&bytes)
        } else {
            Self::from_toml(&String::from_utf8_lossy(&bytes))
        }
    }

    /// The rule applying to a pre-signed storage request (`storage_upload`: a batch part PUT;
    /// `storage_download`: a UPO or export part GET): its own or `storage`'s. `*` does not reach the
    /// storage host, which is not KSeF's API.
    pub fn rule_for_storage(&self, target: &str) -> Option<&HttpFaultRule> {
        self.rules.get(target).or_else(|| self.rules.get("storage"))
    }

    /// The rule applying to an operation: its own, its rate-limit group's, or `*`.
    pub fn rule_for(&self, op: &ksef_model::OperationSpec) -> Option<&HttpFaultRule> {
        self.rules.get(op.name).or_else(|| self.rules.get(op.rate_limit_group)).or_else(|| self.rules.get("*"))
    }
}

/// The random stream of one operation: seeded from the configuration's seed and the name.
fn stream(seed: u64, operation: &str) -> StdRng {
    use sha2::{Digest, Sha256};
    let mut h = Sha256::new();
    h.update(seed.to_le_bytes());
    h.update(operation.as_bytes());
    let d = h.finalize();
    let mut s = [0u8; 8];
    s.copy_from_slice(&d[..8]);
    StdRng::seed_from_u64(u64::from_le_bytes(s))
}

/// Rule targets for the pre-signed storage host (outside `/v2`): part uploads, downloads, both.
pub const STORAGE_TARGETS: [&str; 3] = ["storage_upload", "storage_download", "storage"];

/// Fault kinds as counted by `GET /_emulator/stats`.
pub const KINDS: [&str; 8] = [
    "latency",
    "error_5xx",
    "drop",
    "lost_response",
    "too_many_requests",
    "system_warning",
    "invoice_stuck",
    "session_stuck",
];

/// The live fault state of a running emulator.
#[derive(Debug)]
pub struct FaultEngine {
    inner: Mutex<Inner>,
}

#[derive(Debug)]
struct Inner {
    config: HttpFaults,
    streams: HashMap<&'static str, StdRng>,
    stats: BTreeMap<&'static str, u64>,
    by_operation: BTreeMap<&'static str, BTreeMap<&'static str, u64>>,
    polls: HashMap<String, u32>,
}

impl Inner {
    fn fresh(config: HttpFaults) -> Self {
        Self {
            config,
            streams: HashMap::new(),
            stats: BTreeMap::new(),
            by_operation: BTreeMap::new(),
            polls: HashMap::new(),
        }
    }
}

impl FaultEngine {
    /// An engine with this configuration.
    pub fn new(config: HttpFaults) -> Self {
        Self { inner: Mutex::new(Inner::fresh(config)) }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Replaces the configuration, reseeds the streams and clears counters and poll counts.
    pub fn set(&self, config: HttpFaults) {
        *self.lock() = Inner::fresh(config);
    }

    /// The current configuration.
    pub fn config(&self) -> HttpFaults {
        self.lock().config.clone()
    }

    /// Injected faults per operation and kind (only operations and kinds that had one).
    pub fn stats_by_operation(&self) -> BTreeMap<&'static str, BTreeMap<&'static str, u64>> {
        self.lock().by_operation.clone()
    }

    /// Injected faults per kind (every kind listed, zero when none).
    pub fn stats(&self) -> BTreeMap<&'static str, u64> {
        let g = self.lock();
        KINDS.iter().map(|k| (*k, g.stats.get(k).copied().unwrap_or(0))).collect()
    }
}

impl Inner {
    fn count(&mut self, op: &'static str, kind: &'static str) {
        *self.stats.entry(kind).or_insert(0) += 1;
        *self.by_operation.entry(op).or_default().entry(kind).or_insert(0) += 1;
    }

    /// Draws this request's faults from the operation's own stream. The number of draws per
    /// request is fixed (whatever the outcome), so a stream's sequence depends only on how many
    /// requests that operation received.
    fn plan(&mut self, op: &'static str, rule: &HttpFaultRule) -> (Plan, u64) {
        let seed = self.config.seed;
        let rng = self.streams.entry(op).or_insert_with(|| stream(seed, op));
        let mut draw = || (rand::Rng::next_u64(rng) >> 11) as f64 / (1u64 << 53) as f64;
        let (jitter, drop, e5xx, tmr, lost) = (draw(), draw(), draw(), draw(), draw());
        let extra = ((jitter * (rule.latency_jitter_ms as f64 + 1.0)) as u64).min(rule.latency_jitter_ms);
        let latency = rule.latency_ms.saturating_add(extra);
        if latency > 0 {
            self.count(op, "latency");
        }
        let plan = if drop < rule.drop_rate {
            self.count(op, "drop");
            Plan::Drop
        } else if e5xx < rule.error_5xx_rate {
            self.count(op, "error_5xx");
            Plan::Error5xx
        } else if tmr < rule.too_many_requests_rate {
            self.count(op, "too_many_requests");
            Plan::TooMany(rule.retry_after_seconds.unwrap_or(1))
        } else if lost < rule.lost_response_rate {
            self.count(op, "lost_response");
            Plan::Lost
        } else {
            Plan::Pass
        };
        (plan, latency)
    }
}

enum Plan {
    Pass,
    Drop,
    Error5xx,
    TooMany(u64),
    Lost,
}

/// A body that fails at once: hyper then closes the connection without a complete response.
struct Broken;

impl axum::body::HttpBody for Broken {
    type Data = axum::body::Bytes;
    type Error = std::io::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        _: &mut Context<'_>,
    ) -> Poll<Option<Result<http_body::Frame<Self::Data>, Self::Error>>> {
        Poll::Ready(Some(Err(std::io::Error::new(std::io::ErrorKind::ConnectionAborted, "injected fault"))))
    }
}

fn dropped() -> Response {
    Response::new(Body::new(Broken))
}

/// The middleware (inside the error renderer, outside the API's own checks).
pub(crate) async fn inject(State(app): State<Arc<AppState>>, req: Request, next: Next) -> Response {
    let path = req.uri().path().to_owned();
    if path.starts_with("/storage/") {
        return inject_storage(&app, req, next).await;
    }
    let Some(api_path) = path.strip_prefix("/v2") else { return next.run(req).await };
    let method = match *req.method() {
        axum::http::Method::GET => ksef_model::Method::Get,
        axum::http::Method::POST => ksef_model::Method::Post,
        axum::http::Method::PUT => ksef_model::Method::Put,
        axum::http::Method::DELETE => ksef_model::Method::Delete,
        _ => return next.run(req).await,
    };
    let Some(op) = ksef_model::OperationSpec::by_route(method, api_path) else { return next.run(req).await };
    let planned = {
        let mut g = app.http_faults.lock();
        g.config.rule_for(op).cloned().map(|rule| {
            let (plan, latency) = g.plan(op.name, &rule);
            (rule, plan, latency)
        })
    };
    let Some((rule, plan, latency)) = planned else { return next.run(req).await };
    if latency > 0 {
        tokio::time::sleep(std::time::Duration::from_millis(latency)).await;
    }
    match plan {
        Plan::Drop => return dropped(),
        Plan::Error5xx => {
            let body =
                json!({"title": "Service Unavailable", "status": 503, "detail": "Injected fault (ksef-emulator)."});
            let mut r = (StatusCode::SERVICE_UNAVAILABLE, Json(body)).into_response();
            r.headers_mut().insert("content-type", HeaderValue::from_static("application/problem+json"));
            return r;
        }
        Plan::TooMany(retry_after) => {
            return crate::ApiError::TooManyRequests {
                retry_after,
                detail: format!("Injected fault (ksef-emulator): retry after {retry_after} s."),
            }
            .into_response();
        }
        Plan::Lost => {
            let _ = next.run(req).await;
            return dropped();
        }
        Plan::Pass => {}
    }
    let resp = next.run(req).await;
    let holds = match op.name {
        "get_session_invoice_status" => rule.invoice_stuck_polls > 0 || rule.stuck_until.is_some(),
        "get_session_status" => rule.session_stuck_polls > 0 || rule.stuck_until.is_some(),
        _ => false,
    };
    let mut resp = if resp.status().is_success() && holds { hold(&app, op, &path, &rule, resp).await } else { resp };
    if resp.status().is_success()
        && let Some(w) = rule.system_warning.as_deref()
        && let Ok(v) = HeaderValue::from_str(w)
    {
        resp.headers_mut().insert("x-system-warning", v);
        app.http_faults.lock().count(op.name, "system_warning");
    }
    resp
}

/// Faults of the pre-signed storage host: latency, dropped connections, 5xx, lost responses
/// (the part is stored, the answer never arrives) and throttling, which blob storage answers with
/// 503 rather than KSeF's 429.
async fn inject_storage(app: &AppState, req: Request, next: Next) -> Response {
    let target: &'static str =
        if req.method() == axum::http::Method::PUT { "storage_upload" } else { "storage_download" };
    let planned = {
        let mut g = app.http_faults.lock();
        g.config.rule_for_storage(target).cloned().map(|rule| g.plan(target, &rule))
    };
    let Some((plan, latency)) = planned else { return next.run(req).await };
    if latency > 0 {
        tokio::time::sleep(std::time::Duration::from_millis(latency)).await;
    }
    match plan {
        Plan::Drop => dropped(),
        Plan::Error5xx | Plan::TooMany(_) => {
            let mut r = (StatusCode::SERVICE_UNAVAILABLE, "Injected fault (ksef-emulator storage).").into_response();
            r.headers_mut().insert("content-type", HeaderValue::from_static("text/plain"));
            r
        }
        Plan::Lost => {
            let _ = next.run(req).await;
            dropped()
        }
        Plan::Pass => next.run(req).await,
    }
}

/// Rewrites an invoice (150) or session (100) status answer while the rule holds it.
async fn hold(
    app: &AppState,
    op: &'static ksef_model::OperationSpec,
    path: &str,
    rule: &HttpFaultRule,
    resp: Response,
) -> Response {
    let invoice = op.name == "get_session_invoice_status";
    let held = {
        let mut g = app.http_faults.lock();
        let n = g.polls.entry(path.to_owned()).or_insert(0);
        *n += 1;
        let limit = if invoice { rule.invoice_stuck_polls } else { rule.session_stuck_polls };
        let held = *n <= limit || rule.stuck_until.is_some_and(|t| app.now() < t);
        if held {
            g.count(op.name, if invoice { "invoice_stuck" } else { "session_stuck" });
        }
        held
    };
    if !held {
        return resp;
    }
    let (parts, body) = resp.into_parts();
    let Ok(bytes) = axum::body::to_bytes(body, usize::MAX).await else { return dropped() };
    let Ok(mut v) = serde_json::from_slice::<Value>(&bytes) else {
        return Response::from_parts(parts, Body::from(bytes));
    };
    if let Some(obj) = v.as_object_mut() {
        if invoice {
            obj.insert("status".into(), json!({"code": 150, "description": "Trwa przetwarzanie"}));
            for k in [
                "ksefNumber",
                "acquisitionDate",
                "permanentStorageDate",
                "upoDownloadUrl",
                "upoDownloadUrlExpirationDate",
            ] {
                obj.remove(k);
            }
        } else {
            obj.insert("status".into(), json!({"code": 100, "description": "Sesja interaktywna otwarta"}));
            obj.remove("upo");
        }
    }
    let mut parts = parts;
    parts.headers.remove("content-length");
    Response::from_parts(parts, Body::from(serde_json::to_vec(&v).unwrap_or_default()))
}

/// `POST /_emulator/faults`: replaces the HTTP fault configuration ([`HttpFaults`] as JSON, or
/// TOML when the `Content-Type` names TOML or the body does not start with `{`).
pub(crate) async fn set_faults(
    State(app): State<Arc<AppState>>,
    headers: axum::http::HeaderMap,
    body: axum::body::Bytes,
) -> Response {
    let toml = headers
        .get(axum::http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.to_ascii_lowercase().contains("toml"))
        || body.iter().find(|b| !b.is_ascii_whitespace()).is_some_and(|b| *b != b'{');
    let parsed =
        if toml { HttpFaults::from_toml(&String::from_utf8_lossy(&body)) } else { HttpFaults::from_json(&body) };
    match parsed {
        Ok(c) => {
            app.http_faults.set(c);
            StatusCode::NO_CONTENT.into_response()
        }
        Err(e) => (StatusCode::BAD_REQUEST, Json(json!({"error": error_chain(&e)}))).into_response(),
    }
}

fn error_chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut src = e.source();
    while let Some(x) = src {
        s.push_str(": ");
        s.push_str(&x.to_string());
        src = x.source();
    }
    s
}

/// `GET /_emulator/faults`: the current configuration.
pub(crate) async fn get_faults(State(app): State<Arc<AppState>>) -> Json<HttpFaults> {
    Json(app.http_faults.config())
}

/// `GET /_emulator/stats`: injected faults per kind and per operation, and the worker's queue.
pub(crate) async fn stats(State(app): State<Arc<AppState>>) -> Json<Value> {
    Json(json!({
        "faults": app.http_faults.stats(),
        "faultsByOperation": app.http_faults.stats_by_operation(),
        "jobsDone": app.jobs.done(),
    }))
}
