//! Permissions. Served so far: `GET /permissions/attachments/status`.

use std::sync::Arc;

use axum::extract::State;
use axum::{Extension, Json};
use serde_json::{Value, json};

use super::{AppState, Caller, Routes};
use crate::error::ApiError;

pub(super) fn register(r: &mut Routes) {
    r.add("get_attachment_permission_status", attachment_status);
}

async fn attachment_status(
    State(app): State<Arc<AppState>>,
    Extension(caller): Extension<Caller>,
) -> Result<Json<Value>, ApiError> {
    let ctx = caller.context()?;
    let nip = ctx.value.get(..10).unwrap_or(&ctx.value);
    let consent = app.store.attachment_consent(nip)?;
    let today = app.now().date_naive();
    let allowed = consent.as_ref().is_some_and(|c| c.allowed && c.revoked_date.is_none_or(|d| d > today));
    let mut v = json!({"isAttachmentAllowed": allowed});
    if let Some(d) = consent.and_then(|c| c.revoked_date) {
        v["revokedDate"] = json!(format!("{d}T00:00:00+00:00"));
    }
    Ok(Json(v))
}
