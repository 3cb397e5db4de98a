//! KSeF tokens: `POST/GET /tokens`, `GET/DELETE /tokens/{referenceNumber}`.
//!
//! Tokens are created `Active` at once (KSeF passes through `Pending` asynchronously).

use std::sync::Arc;

use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::{Extension, Json};
use serde::Deserialize;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use super::{AppState, Caller, JsonBody, Routes, continuation_offset, continuation_token, page_size, ts};
use crate::domain::permissions::effective;
use crate::domain::{Identifier, IdentifierType, PermissionType};
use crate::error::ApiError;
use crate::store::{TokenRecord, TokenStatus};

pub(super) fn register(r: &mut Routes) {
    r.add("generate_token", generate);
    r.add("list_tokens", list);
    r.add("get_token", get);
    r.add("revoke_token", revoke);
}

/// Permissions a token may carry (`TokenPermissionType`).
const TOKEN_PERMISSIONS: &[PermissionType] = &[
    PermissionType::InvoiceRead,
    PermissionType::InvoiceWrite,
    PermissionType::CredentialsRead,
    PermissionType::CredentialsManage,
    PermissionType::SubunitManage,
    PermissionType::EnforcementOperations,
    PermissionType::Introspection,
];

/// SHA-256 (hex) of a token string, as stored.
pub(crate) fn token_digest(token: &str) -> String {
    Sha256::digest(token.as_bytes()).iter().map(|b| format!("{b:02x}")).collect()
}

#[derive(Debug, Deserialize)]
struct GenerateToken {
    permissions: Vec<PermissionType>,
    description: String,
}

async fn generate(
    State(app): State<Arc<AppState>>,
    Extension(caller): Extension<Caller>,
    JsonBody(req): JsonBody<GenerateToken>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let n = req.description.chars().count();
    if !(5..=256).contains(&n) {
        return Err(ApiError::validation("description: długość musi wynosić od 5 do 256 znaków."));
    }
    if req.permissions.is_empty() {
        return Err(ApiError::validation("permissions: token musi mieć co najmniej jedno uprawnienie."));
    }
    if let Some(p) = req.permissions.iter().find(|p| !TOKEN_PERMISSIONS.contains(p)) {
        return Err(ApiError::validation(format!("permissions: {p} nie może być nadane tokenowi.")));
    }
    let context = caller.context()?.clone();
    let prefix = match context.kind {
        IdentifierType::Nip => "nip",
        IdentifierType::InternalId => "internalId",
        _ => {
            return Err(ApiError::code(
                26002,
                [format!("Nie można wygenerować tokena dla kontekstu typu {}.", context.kind)],
            ));
        }
    };
    let author = caller.subject()?.clone();
    // What the caller holds in this login (a token login holds only its token's permissions).
    let held = effective(app.store.as_ref(), &context, &author)?;
    if let Some(p) = req.permissions.iter().find(|p| !held.contains(p) || !caller.has(**p)) {
        return Err(ApiError::code(26001, [format!("Brak uprawnienia {p}.")]));
    }
    let mut permissions = req.permissions;
    permissions.sort();
    permissions.dedup();
    let reference = app.reference("EC");
    let token = format!("{reference}|{prefix}-{}|{}", context.value, app.random_hex(64).to_ascii_lowercase());
    app.store.insert_token(TokenRecord {
        reference: reference.clone(),
        token_sha256: token_digest(&token),
        context,
        author,
        description: req.description,
        permissions,
        created: app.now(),
        last_use: None,
        status: TokenStatus::Active,
    })?;
    Ok((StatusCode::ACCEPTED, Json(json!({"referenceNumber": reference, "token": token}))))
}

fn token_json(t: &TokenRecord) -> Value {
    let mut v = json!({
        "referenceNumber": t.reference,
        "authorIdentifier": t.author,
        "contextIdentifier": t.context,
        "description": t.description,
        "requestedPermissions": t.permissions,
        "dateCreated": ts(t.created),
        "status": t.status.as_str(),
    });
    if let Some(u) = t.last_use {
        v["lastUseDate"] = json!(ts(u));
    }
    v
}

/// The KSeF token the caller logged in with, if any.
fn callers_token(app: &AppState, caller: &Caller) -> Result<Option<String>, ApiError> {
    Ok(app.store.auth(&caller.claims.auth_reference)?.and_then(|a| a.ksef_token_reference))
}

/// Whether the caller may see (and without `CredentialsManage`, revoke) `t` (§11).
fn visible(caller: &Caller, own_token: Option<&str>, t: &TokenRecord, manage: bool) -> Result<bool, ApiError> {
    if &t.context != caller.context()? {
        return Ok(false);
    }
    let wide = if manage {
        caller.has(PermissionType::CredentialsManage)
    } else {
        caller.has(PermissionType::CredentialsManage) || caller.has(PermissionType::CredentialsRead)
    };
    if wide || own_token == Some(t.reference.as_str()) {
        return Ok(true);
    }
    Ok(own_token.is_none() && &t.author == caller.subject()?)
}

async fn list(
    State(app): State<Arc<AppState>>,
    Extension(caller): Extension<Caller>,
    headers: HeaderMap,
    Query(q): Query<Vec<(String, String)>>,
) -> Result<Json<Value>, ApiError> {
    let one = |k: &str| q.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone());
    let size = page_size(one("pageSize").as_ref(), 10, 100, 10)? as usize;
    let offset = continuation_offset(&headers)?;
    let mut statuses = Vec::new();
    for (_, v) in q.iter().filter(|(n, _)| n == "status") {
        let s = [
            TokenStatus::Pending,
            TokenStatus::Active,
            TokenStatus::Revoking,
            TokenStatus::Revoked,
            TokenStatus::Failed,
        ]
        .into_iter()
        .find(|s| s.as_str().eq_ignore_ascii_case(v))
        .ok_or_else(|| ApiError::validation(format!("status: nieznana wartość {v}.")))?;
        statuses.push(s);
    }
    let description = one("description").map(|d| d.to_lowercase());
    let author = one("authorIdentifier").map(|d| d.to_lowercase());
    let author_type = match one("authorIdentifierType") {
        Some(t) => Some(
            IdentifierType::parse(&t).ok_or_else(|| ApiError::validation("authorIdentifierType: nieznana wartość."))?,
        ),
        None => None,
    };
    for (name, v) in [("description", &description), ("authorIdentifier", &author)] {
        if v.as_ref().is_some_and(|v| v.chars().count() < 3) {
            return Err(ApiError::validation(format!("{name}: co najmniej 3 znaki.")));
        }
    }
    let own = callers_token(&app, &caller)?;
    let mut out = Vec::new();
    for t in app.store.tokens_in_context(caller.context()?)? {
        if !visible(&caller, own.as_deref(), &t, false)?
            || (!statuses.is_empty() && !statuses.contains(&t.status))
            || description.as_ref().is_some_and(|d| !t.description.to_lowercase().contains(d))
            || author.as_ref().is_some_and(|a| !t.author.value.to_lowercase().contains(a))
            || author_type.is_some_and(|k| t.author.kind != k)
        {
            continue;
        }
        out.push(t);
    }
    out.sort_by(|a, b| b.created.cmp(&a.created).then_with(|| a.reference.cmp(&b.reference)));
    let items: Vec<Value> = out.iter().skip(offset).take(size).map(token_json).collect();
    let mut body = json!({"tokens": items});
    if let Some(t) = continuation_token(offset + size, out.len()) {
        body["continuationToken"] = json!(t);
    }
    Ok(Json(body))
}

fn not_found(reference: &str) -> ApiError {
    ApiError::validation(format!("Token o numerze referencyjnym {reference} nie istnieje."))
}

async fn get(
    State(app): State<Arc<AppState>>,
    Extension(caller): Extension<Caller>,
    Path(reference): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let own = callers_token(&app, &caller)?;
    let t = app.store.token(&reference)?.ok_or_else(|| not_found(&reference))?;
    if !visible(&caller, own.as_deref(), &t, false)? {
        return Err(not_found(&reference));
    }
    Ok(Json(token_json(&t)))
}

async fn revoke(
    State(app): State<Arc<AppState>>,
    Extension(caller): Extension<Caller>,
    Path(reference): Path<String>,
) -> Result<StatusCode, ApiError> {
    let own = callers_token(&app, &caller)?;
    let t = app.store.token(&reference)?.ok_or_else(|| not_found(&reference))?;
    if !visible(&caller, own.as_deref(), &t, true)? {
        return Err(not_found(&reference));
    }
    app.store.update_token(&reference, &mut |t| t.status = TokenStatus::Revoked)?;
    Ok(StatusCode::NO_CONTENT)
}

/// Who a token identifies and whether it may log in now (for `POST /auth/ksef-token`).
pub(crate) fn check_token(
    app: &AppState,
    token: &str,
    context: &Identifier,
) -> Result<Result<TokenRecord, &'static str>, ApiError> {
    let reference = token.split('|').next().unwrap_or_default();
    let Some(t) = app.store.token(reference)? else { return Ok(Err("Nieprawidłowy token")) };
    if t.token_sha256 != token_digest(token) || &t.context != context {
        return Ok(Err("Nieprawidłowy token"));
    }
    Ok(match t.status {
        TokenStatus::Active => Ok(t),
        TokenStatus::Revoked | TokenStatus::Revoking => Err("Token unieważniony"),
        TokenStatus::Pending | TokenStatus::Failed => Err("Token nieaktywny"),
    })
}
