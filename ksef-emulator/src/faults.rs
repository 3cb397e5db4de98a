//! HTTP-level fault injection: per operation (by its name in `ksef_model::OPERATIONS`, or `*` for
//! all), from one seeded random stream so a failing run can be replayed.
//!
//! Kinds: added latency, 5xx answers, dropped connections (closed without a response), responses
//! lost *after* the request was processed (the state changed, the client sees a broken
//! connection), forced 429 with `Retry-After`, forced `X-System-Warning`, invoices held at status
//! 150 and sessions at status 100 for a number of polls or until a time. Configured with
//! [`crate::EmulatorBuilder::http_faults`] or at run time with `POST /_emulator/faults` (JSON
//! [`HttpFaults`]); `GET /_emulator/stats` returns the counters per kind.

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
    pub latency_ms: u64,
    /// Answer `503 Service Unavailable` without handling the request.
    pub error_5xx_rate: f64,
    /// Close the connection without a response, without handling the request.
    pub drop_rate: f64,
    /// Handle the request (state changes), then close the connection without the response.
    pub lost_response_rate: f64,
    /// Answer 429 with `Retry-After: retry_after_seconds` without handling the request.
    pub too_many_requests_rate: f64,
    /// `Retry-After` of forced 429s (default 1).
    pub retry_after_seconds: Option<u64>,
    /// `X-System-Warning` added to every successful answer.
    pub system_warning: Option<String>,
    /// `GET /sessions/{ref}/invoices/{invoiceRef}` reports 150 for this many polls of each invoice.
    pub invoice_stuck_polls: u32,
    /// `GET /sessions/{ref}` reports 100 for this many polls of each session.
    pub session_stuck_polls: u32,
    /// Invoice and session status polls report 150/100 until this time (emulator clock).
    pub stuck_until: Option<DateTime<Utc>>,
}

/// HTTP-level fault configuration: a seed and rules per operation name (`*`: every operation
/// without its own rule).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default, deny_unknown_fields)]
pub struct HttpFaults {
    /// Seed of the fault stream.
    pub seed: u64,
    /// Rules by operation name (`send_invoice`, `open_online_session`, ...) or `*`.
    pub rules: BTreeMap<String, HttpFaultRule>,
}

impl HttpFaults {
    /// Adds (replaces) the rule of `operation` (`*` for all).
    pub fn rule(mut self, operation: impl Into<String>, rule: HttpFaultRule) -> Self {
        self.rules.insert(operation.into(), rule);
        self
    }

    fn check(&self) -> Result<(), String> {
        for (name, r) in &self.rules {
            if name != "*" && ksef_model::OperationSpec::by_name(name).is_none() {
                return Err(format!("unknown operation {name}"));
            }
            for rate in [r.error_5xx_rate, r.drop_rate, r.lost_response_rate, r.too_many_requests_rate] {
                if !(0.0..=1.0).contains(&rate) {
                    return Err(format!("{name}: rates must be within 0..=1"));
                }
            }
        }
        Ok(())
    }
}

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
    rng: StdRng,
    stats: BTreeMap<&'static str, u64>,
    polls: HashMap<String, u32>,
}

impl FaultEngine {
    /// An engine with this configuration.
    pub fn new(config: HttpFaults) -> Self {
        let rng = StdRng::seed_from_u64(config.seed);
        Self { inner: Mutex::new(Inner { config, rng, stats: BTreeMap::new(), polls: HashMap::new() }) }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Replaces the configuration, reseeds the stream and clears counters and poll counts.
    pub fn set(&self, config: HttpFaults) {
        *self.lock() =
            Inner { rng: StdRng::seed_from_u64(config.seed), config, stats: BTreeMap::new(), polls: HashMap::new() };
    }

    /// Injected faults per kind (every kind listed, zero when none).
    pub fn stats(&self) -> BTreeMap<&'static str, u64> {
        let g = self.lock();
        KINDS.iter().map(|k| (*k, g.stats.get(k).copied().unwrap_or(0))).collect()
    }
}

impl Inner {
    fn count(&mut self, kind: &'static str) {
        *self.stats.entry(kind).or_insert(0) += 1;
    }

    fn plan(&mut self, rule: &HttpFaultRule) -> Plan {
        if rule.latency_ms > 0 {
            self.count("latency");
        }
        if self.roll(rule.drop_rate) {
            self.count("drop");
            Plan::Drop
        } else if self.roll(rule.error_5xx_rate) {
            self.count("error_5xx");
            Plan::Error5xx
        } else if self.roll(rule.too_many_requests_rate) {
            self.count("too_many_requests");
            Plan::TooMany(rule.retry_after_seconds.unwrap_or(1))
        } else if self.roll(rule.lost_response_rate) {
            self.count("lost_response");
            Plan::Lost
        } else {
            Plan::Pass
        }
    }

    fn roll(&mut self, rate: f64) -> bool {
        rate > 0.0 && ((rand::Rng::next_u64(&mut self.rng) >> 11) as f64 / (1u64 << 53) as f64) < rate
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
        g.config.rules.get(op.name).or_else(|| g.config.rules.get("*")).cloned().map(|rule| {
            let plan = g.plan(&rule);
            (rule, plan)
        })
    };
    let Some((rule, plan)) = planned else { return next.run(req).await };
    if rule.latency_ms > 0 {
        tokio::time::sleep(std::time::Duration::from_millis(rule.latency_ms)).await;
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
    let mut resp =
        if resp.status().is_success() && holds { hold(&app, op.name, &path, &rule, resp).await } else { resp };
    if resp.status().is_success()
        && let Some(w) = rule.system_warning.as_deref()
        && let Ok(v) = HeaderValue::from_str(w)
    {
        resp.headers_mut().insert("x-system-warning", v);
        app.http_faults.lock().count("system_warning");
    }
    resp
}

/// Rewrites an invoice (150) or session (100) status answer while the rule holds it.
async fn hold(app: &AppState, name: &str, path: &str, rule: &HttpFaultRule, resp: Response) -> Response {
    let invoice = name == "get_session_invoice_status";
    let held = {
        let mut g = app.http_faults.lock();
        let n = g.polls.entry(path.to_owned()).or_insert(0);
        *n += 1;
        let limit = if invoice { rule.invoice_stuck_polls } else { rule.session_stuck_polls };
        let held = *n <= limit || rule.stuck_until.is_some_and(|t| app.now() < t);
        if held {
            g.count(if invoice { "invoice_stuck" } else { "session_stuck" });
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

/// `POST /_emulator/faults`: replaces the HTTP fault configuration (JSON [`HttpFaults`]).
pub(crate) async fn set_faults(State(app): State<Arc<AppState>>, body: axum::body::Bytes) -> Response {
    match serde_json::from_slice::<HttpFaults>(&body).map_err(|e| e.to_string()).and_then(|c| c.check().map(|()| c)) {
        Ok(c) => {
            app.http_faults.set(c);
            StatusCode::NO_CONTENT.into_response()
        }
        Err(e) => (StatusCode::BAD_REQUEST, Json(json!({"error": e}))).into_response(),
    }
}

/// `GET /_emulator/faults`: the current configuration.
pub(crate) async fn get_faults(State(app): State<Arc<AppState>>) -> Json<HttpFaults> {
    Json(app.http_faults.lock().config.clone())
}

/// `GET /_emulator/stats`: injected faults per kind.
pub(crate) async fn stats(State(app): State<Arc<AppState>>) -> Json<Value> {
    Json(json!({"faults": app.http_faults.stats()}))
}

/// Validates a configuration given to the builder.
pub(crate) fn validate(c: &HttpFaults) -> Result<(), String> {
    c.check()
}
