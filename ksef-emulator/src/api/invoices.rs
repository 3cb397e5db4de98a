//! Invoice retrieval: `GET /invoices/ksef/{ksefNumber}`.

use std::sync::Arc;

use axum::Extension;
use axum::extract::{Path, State};
use axum::response::Response;

use super::{AppState, Caller, Routes};
use crate::error::ApiError;

pub(super) fn register(r: &mut Routes) {
    r.add("get_invoice", get_invoice);
}

async fn get_invoice(
    State(app): State<Arc<AppState>>,
    Extension(caller): Extension<Caller>,
    Path(ksef_number): Path<String>,
) -> Result<Response, ApiError> {
    ksef_number.parse::<ksef_model::KsefNumber>().map_err(|e| ApiError::validation(format!("ksefNumber: {e}")))?;
    let not_found = || ApiError::code(21164, [format!("Faktura o numerze KSeF {ksef_number} nie została znaleziona.")]);
    let inv = app.store.invoice_by_ksef_number(&ksef_number)?.ok_or_else(not_found)?;
    // The context must be a party to the invoice; so far the seller (Podmiot1) is recorded.
    let ctx = caller.context()?;
    let party = inv.seller_nip.as_deref() == ctx.value.get(..10) || inv.context == *ctx;
    if !party {
        return Err(not_found());
    }
    if inv.permanent_storage_date.is_none_or(|t| t > app.now()) {
        return Err(ApiError::code(21165, ["Faktura o podanym numerze KSeF nie jest jeszcze dostępna."]));
    }
    let content = inv.content.ok_or_else(not_found)?;
    Ok(super::sessions::xml_response(content))
}
