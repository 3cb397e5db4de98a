//! Collective identifiers (API 2.7): create, query, their invoices, by KSeF number.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::{Extension, Json};
use chrono::Duration;
use serde::Deserialize;
use serde_json::{Value, json};

use super::{AppState, Caller, JsonBody, Routes, continuation_offset, continuation_token, page_size, ts};
use crate::error::ApiError;
use crate::store::{CollectiveInvoice, CollectiveRecord, InvoiceRecord};

pub(super) fn register(r: &mut Routes) {
    r.add("create_collective_identifier", create);
    r.add("query_collective_identifiers", query);
    r.add("query_collective_identifier_invoices", invoices);
    r.add("get_collective_identifiers_by_ksef_number", by_ksef_number);
}

/// Default invoices per identifier (context limit, overridable through test data).
const DEFAULT_MAX_INVOICES: u64 = 500;
/// Identifiers one invoice may belong to within one context.
const MAX_PER_INVOICE: usize = 132;
/// Longest `dateCreated` range of a query.
const MAX_QUERY_DAYS: i64 = 100;

#[derive(Debug, Deserialize)]
struct Payment {
    amount: f64,
    currency: String,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct InvoiceItem {
    ksef_number: String,
    #[serde(default)]
    payment: Option<Payment>,
    #[serde(default)]
    description: Option<String>,
}

#[derive(Debug, Deserialize)]
struct CreateRequest {
    invoices: Vec<InvoiceItem>,
}

fn ctx_nip(caller: &Caller) -> Result<String, ApiError> {
    let c = caller.context()?;
    Ok(c.value.get(..10).unwrap_or(&c.value).to_owned())
}

/// Whether the context is a party to the invoice (seller, buyer) or sent it.
fn party(i: &InvoiceRecord, caller: &Caller, nip: &str) -> bool {
    let buyer = i.meta.as_ref().filter(|m| m.buyer.kind == "Nip").and_then(|m| m.buyer.value.as_deref());
    i.seller_nip.as_deref() == Some(nip) || buyer == Some(nip) || caller.context().is_ok_and(|c| *c == i.context)
}

async fn create(
    State(app): State<Arc<AppState>>,
    Extension(caller): Extension<Caller>,
    JsonBody(req): JsonBody<CreateRequest>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let ctx = caller.context()?.clone();
    let nip = ctx_nip(&caller)?;
    let limit = app.overrides.context(&ctx.value).map_or(DEFAULT_MAX_INVOICES, |l| l.collective_max_invoices);
    if req.invoices.len() < 2 || req.invoices.len() as u64 > limit {
        return Err(ApiError::validation(format!("invoices: dozwolone od 2 do {limit} faktur.")));
    }
    let mut seen = HashSet::new();
    let mut seller: Option<String> = None;
    let mut items = Vec::new();
    for it in req.invoices {
        it.ksef_number
            .parse::<ksef_model::KsefNumber>()
            .map_err(|e| ApiError::validation(format!("invoices.ksefNumber: {e}")))?;
        if !seen.insert(it.ksef_number.clone()) {
            return Err(ApiError::validation(format!(
                "Faktura {} występuje na liście więcej niż raz.",
                it.ksef_number
            )));
        }
        if it.description.as_ref().is_some_and(|d| d.chars().count() > 512) {
            return Err(ApiError::validation("invoices.description: najwyżej 512 znaków."));
        }
        let inv = app.store.invoice_by_ksef_number(&it.ksef_number)?.filter(|i| party(i, &caller, &nip)).ok_or_else(
            || ApiError::code(21164, [format!("Faktura o numerze KSeF {} nie została znaleziona.", it.ksef_number)]),
        )?;
        let s = inv.seller_nip.clone().unwrap_or_default();
        if seller.get_or_insert_with(|| s.clone()) != &s {
            return Err(ApiError::validation(
                "Wszystkie faktury identyfikatora zbiorczego muszą mieć tego samego sprzedawcę.",
            ));
        }
        let in_context =
            app.store.collectives_with_invoice(&it.ksef_number)?.iter().filter(|c| c.context == ctx).count();
        if in_context >= MAX_PER_INVOICE {
            return Err(ApiError::validation(format!(
                "Faktura {} należy już do {MAX_PER_INVOICE} identyfikatorów zbiorczych w tym kontekście.",
                it.ksef_number
            )));
        }
        if let Some(p) = &it.payment
            && (p.currency.len() != 3 || !p.currency.bytes().all(|b| b.is_ascii_uppercase()))
        {
            return Err(ApiError::validation("invoices.payment.currency: kod waluty ISO 4217."));
        }
        items.push(CollectiveInvoice {
            ksef_number: it.ksef_number,
            payment: it.payment.map(|p| (p.amount, p.currency)),
            description: it.description,
        });
    }
    let seller = seller.unwrap_or_default();
    let now = app.now();
    let body = format!("{seller}-IZ{}-{}", now.format("%Y%m"), app.random_hex(12));
    let number = format!("{body}-{:02X}", ksef_model::crc8(body.as_bytes()));
    number
        .parse::<ksef_model::CollectiveIdentifier>()
        .map_err(|e| ApiError::validation(format!("Nie można utworzyć identyfikatora: {e}")))?;
    app.store.insert_collective(CollectiveRecord {
        number: number.clone(),
        context: ctx,
        seller_nip: seller,
        created: now,
        invoices: items,
    })?;
    Ok((StatusCode::CREATED, Json(json!({"collectiveIdentifierNumber": number}))))
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct QueryRequest {
    date_created_from: String,
    date_created_to: String,
    #[serde(default)]
    collective_identifier_number: Option<String>,
    #[serde(default)]
    invoice_count_from: Option<u64>,
    #[serde(default)]
    invoice_count_to: Option<u64>,
    #[serde(default)]
    created_in_current_context: Option<bool>,
}

fn sorted(mut list: Vec<CollectiveRecord>) -> Vec<CollectiveRecord> {
    list.sort_by(|a, b| b.created.cmp(&a.created).then_with(|| b.number.cmp(&a.number)));
    list
}

async fn query(
    State(app): State<Arc<AppState>>,
    Extension(caller): Extension<Caller>,
    headers: HeaderMap,
    Query(q): Query<HashMap<String, String>>,
    JsonBody(req): JsonBody<QueryRequest>,
) -> Result<Json<Value>, ApiError> {
    use crate::domain::time::parse_filter_datetime;
    let size = page_size(q.get("pageSize"), 10, 200, 10)? as usize;
    let offset = continuation_offset(&headers)?;
    let from = parse_filter_datetime(&req.date_created_from)
        .ok_or_else(|| ApiError::validation("dateCreatedFrom: niepoprawna data."))?;
    let to = parse_filter_datetime(&req.date_created_to)
        .ok_or_else(|| ApiError::validation("dateCreatedTo: niepoprawna data."))?;
    if to < from || to - from > Duration::days(MAX_QUERY_DAYS) {
        return Err(ApiError::validation(format!("Zakres dat utworzenia nie może przekraczać {MAX_QUERY_DAYS} dni.")));
    }
    let ctx = caller.context()?.clone();
    let list: Vec<CollectiveRecord> = sorted(app.store.collectives_for(&ctx, &ctx_nip(&caller)?)?)
        .into_iter()
        .filter(|c| c.created >= from && c.created <= to)
        .filter(|c| req.collective_identifier_number.as_ref().is_none_or(|n| &c.number == n))
        .filter(|c| req.invoice_count_from.is_none_or(|n| c.invoices.len() as u64 >= n))
        .filter(|c| req.invoice_count_to.is_none_or(|n| c.invoices.len() as u64 <= n))
        .filter(|c| req.created_in_current_context.is_none_or(|x| (c.context == ctx) == x))
        .collect();
    let items: Vec<Value> = list
        .iter()
        .skip(offset)
        .take(size)
        .map(|c| {
            json!({
                "collectiveIdentifierNumber": c.number,
                "dateCreated": ts(c.created),
                "invoiceCount": c.invoices.len(),
                "createdInCurrentContext": c.context == ctx,
            })
        })
        .collect();
    let mut body = json!({"collectiveIdentifiers": items});
    if let Some(t) = continuation_token(offset + size, list.len()) {
        body["continuationToken"] = json!(t);
    }
    Ok(Json(body))
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct InvoicesRequest {
    collective_identifier_numbers: Vec<String>,
}

async fn invoices(
    State(app): State<Arc<AppState>>,
    Extension(caller): Extension<Caller>,
    headers: HeaderMap,
    Query(q): Query<HashMap<String, String>>,
    JsonBody(req): JsonBody<InvoicesRequest>,
) -> Result<Json<Value>, ApiError> {
    let size = page_size(q.get("pageSize"), 10, 500, 10)? as usize;
    let offset = continuation_offset(&headers)?;
    if req.collective_identifier_numbers.is_empty() || req.collective_identifier_numbers.len() > 10 {
        return Err(ApiError::validation("collectiveIdentifierNumbers: od 1 do 10 identyfikatorów."));
    }
    let ctx = caller.context()?.clone();
    let nip = ctx_nip(&caller)?;
    let mut rows = Vec::new();
    for n in &req.collective_identifier_numbers {
        let Some(c) = app.store.collective(n)? else { continue };
        let mut invs = c.invoices.clone();
        invs.sort_by(|a, b| b.ksef_number.cmp(&a.ksef_number));
        for i in invs {
            let given = i.payment.is_some() || i.description.is_some();
            let visible = c.context == ctx
                || app.store.invoice_by_ksef_number(&i.ksef_number)?.is_some_and(|r| party(&r, &caller, &nip));
            let mut v = json!({"ksefNumber": i.ksef_number, "collectiveIdentifierNumber": c.number,
                               "detailsHidden": given && !visible});
            if visible {
                if let Some((amount, currency)) = &i.payment {
                    v["payment"] = json!({"amount": amount, "currency": currency});
                }
                if let Some(d) = &i.description {
                    v["description"] = json!(d);
                }
            }
            rows.push(v);
        }
    }
    let total = rows.len();
    let items: Vec<Value> = rows.into_iter().skip(offset).take(size).collect();
    let mut body = json!({"invoices": items});
    if let Some(t) = continuation_token(offset + size, total) {
        body["continuationToken"] = json!(t);
    }
    Ok(Json(body))
}

async fn by_ksef_number(
    State(app): State<Arc<AppState>>,
    Extension(caller): Extension<Caller>,
    headers: HeaderMap,
    Path(ksef_number): Path<String>,
    Query(q): Query<HashMap<String, String>>,
) -> Result<Json<Value>, ApiError> {
    ksef_number.parse::<ksef_model::KsefNumber>().map_err(|e| ApiError::validation(format!("ksefNumber: {e}")))?;
    let size = page_size(q.get("pageSize"), 10, 200, 10)? as usize;
    let offset = continuation_offset(&headers)?;
    let ctx = caller.context()?.clone();
    let nip = ctx_nip(&caller)?;
    let list: Vec<CollectiveRecord> = sorted(app.store.collectives_with_invoice(&ksef_number)?)
        .into_iter()
        .filter(|c| c.context == ctx || c.seller_nip == nip)
        .collect();
    let items: Vec<Value> = list
        .iter()
        .skip(offset)
        .take(size)
        .map(|c| {
            json!({"collectiveIdentifierNumber": c.number, "createdInCurrentContext": c.context == ctx, "dateCreated": ts(c.created)})
        })
        .collect();
    let mut body = json!({"collectiveIdentifiers": items});
    if let Some(t) = continuation_token(offset + size, list.len()) {
        body["continuationToken"] = json!(t);
    }
    Ok(Json(body))
}
