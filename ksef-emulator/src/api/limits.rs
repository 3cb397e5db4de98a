//! Limits: `GET /limits/context`, `/limits/subject`, `/rate-limits` and their test-data setters.

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::extract::State;
use axum::http::StatusCode;
use axum::{Extension, Json};
use serde::Deserialize;
use serde_json::{Value, json};

use super::{AppState, Caller, JsonBody, Routes};
use crate::domain::IdentifierType;
use crate::error::ApiError;
use crate::limits::{ContextLimits, DEFAULT_GROUPS, GroupLimits, SessionLimits, default_profile};

pub(super) fn register(r: &mut Routes) {
    r.add("get_context_limits", context_limits);
    r.add("get_subject_limits", subject_limits);
    r.add("get_rate_limits", rate_limits);
    r.add("testdata_set_session_limits", set_session_limits);
    r.add("testdata_reset_session_limits", reset_session_limits);
    r.add("testdata_set_certificate_limits", set_certificate_limits);
    r.add("testdata_reset_certificate_limits", reset_certificate_limits);
    r.add("testdata_set_rate_limits", set_rate_limits);
    r.add("testdata_reset_rate_limits", reset_rate_limits);
    r.add("testdata_set_production_rate_limits", production_rate_limits);
}

/// Default collective-identifier size (invoices per identifier).
const COLLECTIVE_MAX_INVOICES: u64 = 500;

async fn context_limits(
    State(app): State<Arc<AppState>>,
    Extension(caller): Extension<Caller>,
) -> Result<Json<Value>, ApiError> {
    let ctx = caller.context()?;
    let collective = app.overrides.context(&ctx.value).map_or(COLLECTIVE_MAX_INVOICES, |l| l.collective_max_invoices);
    Ok(Json(json!({
        "onlineSession": app.session_limits(ctx, true),
        "batchSession": app.session_limits(ctx, false),
        "collectiveIdentifier": {"maxInvoices": collective},
    })))
}

fn subject_defaults(kind: IdentifierType) -> (u64, u64) {
    match kind {
        IdentifierType::Nip => (300, 100),
        _ => (12, 6),
    }
}

async fn subject_limits(
    State(app): State<Arc<AppState>>,
    Extension(caller): Extension<Caller>,
) -> Result<Json<Value>, ApiError> {
    let subject = caller.subject()?;
    let (de, dc) = subject_defaults(subject.kind);
    let (e, c) = app.overrides.subject(&subject.value);
    Ok(Json(json!({
        "enrollment": {"maxEnrollments": e.unwrap_or(de)},
        "certificate": {"maxCertificates": c.unwrap_or(dc)},
    })))
}

async fn rate_limits(
    State(app): State<Arc<AppState>>,
    Extension(caller): Extension<Caller>,
) -> Result<Json<Value>, ApiError> {
    let ctx = caller.context()?;
    Ok(Json(json!(app.rate_limiter.profile(Some(&ctx.value)))))
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct CollectiveLimit {
    max_invoices: u64,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct SetSessionLimits {
    online_session: SessionLimits,
    batch_session: SessionLimits,
    collective_identifier: CollectiveLimit,
}

fn check_session(field: &str, l: &SessionLimits) -> Result<(), ApiError> {
    if l.max_invoice_size_mb > 5 || l.max_invoice_with_attachment_size_mb > 10 || l.max_invoices > 100_000 {
        return Err(ApiError::validation(format!(
            "{field}: dozwolone maxInvoiceSizeInMB 0..5, maxInvoiceWithAttachmentSizeInMB 0..10, maxInvoices 0..100000."
        )));
    }
    Ok(())
}

async fn set_session_limits(
    State(app): State<Arc<AppState>>,
    Extension(caller): Extension<Caller>,
    JsonBody(req): JsonBody<SetSessionLimits>,
) -> Result<StatusCode, ApiError> {
    check_session("onlineSession", &req.online_session)?;
    check_session("batchSession", &req.batch_session)?;
    if !(2..=5000).contains(&req.collective_identifier.max_invoices) {
        return Err(ApiError::validation("collectiveIdentifier.maxInvoices: dozwolone 2..5000."));
    }
    app.set_context_limits(
        &caller.context()?.value,
        Some(ContextLimits {
            online: req.online_session,
            batch: req.batch_session,
            collective_max_invoices: req.collective_identifier.max_invoices,
        }),
    )?;
    Ok(StatusCode::OK)
}

async fn reset_session_limits(
    State(app): State<Arc<AppState>>,
    Extension(caller): Extension<Caller>,
) -> Result<StatusCode, ApiError> {
    app.set_context_limits(&caller.context()?.value, None)?;
    Ok(StatusCode::OK)
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Enrollment {
    max_enrollments: u64,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Certificates {
    max_certificates: u64,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct SetSubjectLimits {
    #[serde(default)]
    enrollment: Option<Enrollment>,
    #[serde(default)]
    certificate: Option<Certificates>,
}

async fn set_certificate_limits(
    State(app): State<Arc<AppState>>,
    Extension(caller): Extension<Caller>,
    JsonBody(req): JsonBody<SetSubjectLimits>,
) -> Result<StatusCode, ApiError> {
    app.set_subject_limits(
        &caller.subject()?.value,
        Some((req.enrollment.map(|e| e.max_enrollments), req.certificate.map(|c| c.max_certificates))),
    )?;
    Ok(StatusCode::OK)
}

async fn reset_certificate_limits(
    State(app): State<Arc<AppState>>,
    Extension(caller): Extension<Caller>,
) -> Result<StatusCode, ApiError> {
    app.set_subject_limits(&caller.subject()?.value, None)?;
    Ok(StatusCode::OK)
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct SetRateLimits {
    rate_limits: BTreeMap<String, GroupLimits>,
}

async fn set_rate_limits(
    State(app): State<Arc<AppState>>,
    Extension(caller): Extension<Caller>,
    JsonBody(req): JsonBody<SetRateLimits>,
) -> Result<StatusCode, ApiError> {
    // `ApiRateLimitsOverride` requires its 13 groups; the emulator's extra groups (the close
    // operations, anonymous and global) keep their defaults unless the request names them.
    let mut profile = BTreeMap::new();
    for (group, default) in DEFAULT_GROUPS {
        let l = match req.rate_limits.get(*group) {
            Some(l) => l,
            None if ksef_model::RATE_LIMIT_OVERRIDE_GROUPS.contains(group) => {
                return Err(ApiError::validation(format!("rateLimits.{group} jest wymagany.")));
            }
            None => default,
        };
        for v in [l.per_second, l.per_minute, l.per_hour] {
            if v < -1 {
                return Err(ApiError::validation(format!("rateLimits.{group}: wartości muszą być ≥ -1.")));
            }
        }
        profile.insert((*group).to_owned(), *l);
    }
    app.set_rate_profile(&caller.context()?.value, Some(profile))?;
    Ok(StatusCode::OK)
}

async fn reset_rate_limits(
    State(app): State<Arc<AppState>>,
    Extension(caller): Extension<Caller>,
) -> Result<StatusCode, ApiError> {
    app.set_rate_profile(&caller.context()?.value, None)?;
    Ok(StatusCode::OK)
}

async fn production_rate_limits(
    State(app): State<Arc<AppState>>,
    Extension(caller): Extension<Caller>,
) -> Result<StatusCode, ApiError> {
    // TE and PRD share one profile since API 2.5.0.
    app.set_rate_profile(&caller.context()?.value, Some(default_profile()))?;
    Ok(StatusCode::OK)
}
