//! Peppol service providers: registered on their first authentication in a `PeppolId` context;
//! `GET /peppol/query` lists them.

use std::collections::HashMap;
use std::sync::Arc;

use axum::Json;
use axum::extract::{Query, State};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use super::{AppState, Routes, ts};
use crate::error::ApiError;

pub(super) fn register(r: &mut Routes) {
    r.add("query_peppol_providers", query);
}

const KIND: &str = "peppol-provider";

#[derive(Debug, Serialize, Deserialize)]
struct Provider {
    id: String,
    name: String,
    date_created: DateTime<Utc>,
}

/// Registers a provider (first authentication), or updates its name when a certificate gives one.
pub(crate) fn register_provider(app: &AppState, id: &str, name: Option<String>) -> Result<(), ApiError> {
    let existing: Option<Provider> = app.store.doc(KIND, id)?.and_then(|d| serde_json::from_str(&d).ok());
    let p = match (existing, name) {
        (Some(_), None) => return Ok(()),
        (Some(p), Some(n)) => Provider { name: n, ..p },
        (None, n) => Provider { id: id.to_owned(), name: n.unwrap_or_else(|| id.to_owned()), date_created: app.now() },
    };
    let json = serde_json::to_string(&p).map_err(|e| ApiError::code(500, [e.to_string()]))?;
    app.store.put_doc(KIND, id, "", &json)?;
    Ok(())
}

async fn query(
    State(app): State<Arc<AppState>>,
    Query(q): Query<HashMap<String, String>>,
) -> Result<Json<Value>, ApiError> {
    let size = super::page_size(q.get("pageSize"), 10, 100, 10)? as usize;
    let offset = match q.get("pageOffset") {
        None => 0,
        Some(v) => v.parse::<usize>().map_err(|_| ApiError::validation("pageOffset: liczba ≥ 0."))?,
    };
    let mut list: Vec<Provider> = app.store.docs(KIND)?.iter().filter_map(|d| serde_json::from_str(d).ok()).collect();
    list.sort_by(|a, b| b.date_created.cmp(&a.date_created).then_with(|| a.id.cmp(&b.id)));
    let start = offset.saturating_mul(size);
    let items: Vec<Value> = list
        .iter()
        .skip(start)
        .take(size)
        .map(|p| json!({"id": p.id, "name": p.name, "dateCreated": ts(p.date_created)}))
        .collect();
    Ok(Json(json!({"peppolProviders": items, "hasMore": start.saturating_add(size) < list.len()})))
}
