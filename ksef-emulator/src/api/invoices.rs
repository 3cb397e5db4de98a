//! Invoice retrieval: `GET /invoices/ksef/{ksefNumber}` and `POST /invoices/query/metadata`.

use std::sync::Arc;

use axum::Extension;
use axum::extract::{Path, State};
use axum::response::Response;
use serde_json::{Value, json};

use super::{AppState, Caller, Routes};
use crate::error::ApiError;

pub(super) fn register(r: &mut Routes) {
    r.add("get_invoice", get_invoice);
    r.add("query_invoice_metadata", query_metadata);
}

async fn get_invoice(
    State(app): State<Arc<AppState>>,
    Extension(caller): Extension<Caller>,
    Path(ksef_number): Path<String>,
) -> Result<Response, ApiError> {
    ksef_number.parse::<ksef_model::KsefNumber>().map_err(|e| ApiError::validation(format!("ksefNumber: {e}")))?;
    let not_found = || ApiError::code(21164, [format!("Faktura o numerze KSeF {ksef_number} nie została znaleziona.")]);
    let inv = app.store.invoice_by_ksef_number(&ksef_number)?.ok_or_else(not_found)?;
    // The context must be a party to the invoice: the seller (Podmiot1), the buyer (Podmiot2 by
    // NIP), a third subject (Podmiot3 by NIP or by this InternalId), the authorized subject
    // (PodmiotUpowazniony) or the context that sent it.
    let ctx = caller.context()?;
    let nip = ctx.value.get(..10).unwrap_or(&ctx.value);
    let internal = (ctx.kind == crate::domain::IdentifierType::InternalId).then_some(ctx.value.as_str());
    let party = inv.has_party(nip) || inv.has_third_subject(nip, internal) || inv.context == *ctx;
    if !party {
        return Err(not_found());
    }
    if inv.permanent_storage_date.is_none_or(|t| t > app.now()) {
        return Err(ApiError::code(21165, ["Faktura o podanym numerze KSeF nie jest jeszcze dostępna."]));
    }
    let content = inv.content.ok_or_else(not_found)?;
    Ok(super::sessions::xml_response(content))
}

/// The invoices a filter selects, in ascending order of its date type.
pub(crate) struct Selection {
    /// `(date of the filter's type, invoice)`, ascending.
    pub hits: Vec<(chrono::DateTime<chrono::Utc>, crate::store::InvoiceRecord)>,
    /// The HWM (PermanentStorage only).
    pub hwm: Option<chrono::DateTime<chrono::Utc>>,
    /// `Issue`, `Invoicing` or `PermanentStorage`.
    pub date_type: &'static str,
}

/// Applies `InvoiceQueryFilters` in the caller's context (§9.2).
pub(crate) fn select(app: &AppState, caller: &Caller, f: &Filters) -> Result<Selection, ApiError> {
    use chrono::{DateTime, Utc};

    use crate::domain::time::{parse_filter_datetime, warsaw_offset};
    let subject_type =
        pick("subjectType", &f.subject_type, &["Subject1", "Subject2", "Subject3", "SubjectAuthorized"])?;
    let date_type = pick("dateRange.dateType", &f.date_range.date_type, &["Issue", "Invoicing", "PermanentStorage"])?;
    let now = app.now();
    let from = parse_filter_datetime(&f.date_range.from)
        .ok_or_else(|| ApiError::validation("dateRange.from: niepoprawna data."))?;
    let mut to = match &f.date_range.to {
        Some(t) => parse_filter_datetime(t).ok_or_else(|| ApiError::validation("dateRange.to: niepoprawna data."))?,
        None => now,
    };
    // At most 3 months, in UTC or in Warsaw time.
    let fits = |a: DateTime<Utc>, b: DateTime<Utc>| {
        a.naive_utc().checked_add_months(chrono::Months::new(3)).is_some_and(|lim| b.naive_utc() <= lim)
    };
    let (fw, tw) = (from + warsaw_offset(from), to + warsaw_offset(to));
    if to < from || !(fits(from, to) || fits(fw, tw)) {
        return Err(ApiError::validation("dateRange: zakres dat nie może przekraczać 3 miesięcy."));
    }
    let hwm = (date_type == "PermanentStorage").then_some(now);
    if f.date_range.restrict_to_permanent_storage_hwm_date == Some(true)
        && let Some(h) = hwm
    {
        if from > h {
            return Err(ApiError::code(
                21183,
                [
                    "dateRange.from jest późniejszy niż PermanentStorageHwmDate przy włączonym restrictToPermanentStorageHwmDate",
                ],
            ));
        }
        to = to.min(h);
    }
    let ctx = caller.context()?;
    let ctx_nip = ctx.value.get(..10).unwrap_or(&ctx.value).to_owned();
    let internal = (ctx.kind == crate::domain::IdentifierType::InternalId).then_some(ctx.value.as_str());
    let amount_kind = match &f.amount {
        Some(a) => Some(pick("amount.type", &a.kind, &["Brutto", "Netto", "Vat"])?),
        None => None,
    };
    let date_of = |i: &crate::store::InvoiceRecord| -> Option<DateTime<Utc>> {
        match date_type {
            "Issue" => i.issue_date.and_then(|d| d.and_hms_opt(0, 0, 0)).map(|n| {
                let t = DateTime::<Utc>::from_naive_utc_and_offset(n, Utc);
                t - warsaw_offset(t)
            }),
            "Invoicing" => Some(i.invoicing_date),
            _ => i.permanent_storage_date,
        }
    };
    let mut hits: Vec<(DateTime<Utc>, crate::store::InvoiceRecord)> = app
        .store
        .invoices_with_party(&ctx_nip)?
        .into_iter()
        .filter(|i| {
            let m = i.meta.as_ref();
            let party = match subject_type {
                "Subject1" => i.seller_nip.as_deref() == Some(ctx_nip.as_str()),
                "Subject2" => {
                    m.is_some_and(|m| m.buyer.kind == "Nip" && m.buyer.value.as_deref() == Some(ctx_nip.as_str()))
                }
                "Subject3" => i.has_third_subject(&ctx_nip, internal),
                _ => i.has_authorized_subject(&ctx_nip),
            };
            let amount_ok = match (&f.amount, amount_kind, m) {
                (Some(a), Some(k), Some(m)) => {
                    let v = match k {
                        "Brutto" => m.gross,
                        "Netto" => m.net,
                        _ => m.vat,
                    };
                    a.from.is_none_or(|x| v >= x) && a.to.is_none_or(|x| v <= x)
                }
                (Some(_), _, None) => false,
                _ => true,
            };
            party
                && amount_ok
                && f.ksef_number.as_ref().is_none_or(|k| i.ksef_number.as_ref() == Some(k))
                && f.invoice_number.as_ref().is_none_or(|n| i.invoice_number.as_ref() == Some(n))
                && f.seller_nip.as_ref().is_none_or(|n| i.seller_nip.as_ref() == Some(n))
                && f.buyer_identifier.as_ref().is_none_or(|b| {
                    m.is_some_and(|m| {
                        m.buyer.kind.eq_ignore_ascii_case(&b.kind) && (b.value.is_none() || m.buyer.value == b.value)
                    })
                })
                && f.currency_codes.as_ref().is_none_or(|c| {
                    c.is_empty() || m.is_some_and(|m| c.iter().any(|x| x.eq_ignore_ascii_case(&m.currency)))
                })
                && f.invoicing_mode
                    .as_ref()
                    .is_none_or(|x| i.invoicing_mode.as_deref().is_some_and(|v| v.eq_ignore_ascii_case(x)))
                && f.is_self_invoicing.is_none_or(|x| !x)
                && f.form_type.as_ref().is_none_or(|x| i.form_code.value.eq_ignore_ascii_case(x))
                && f.invoice_types.as_ref().is_none_or(|t| {
                    t.is_empty()
                        || t.iter().any(|x| {
                            x.eq_ignore_ascii_case(invoice_type(i.invoice_type.as_deref().unwrap_or_default()))
                        })
                })
                && f.has_attachment.is_none_or(|x| i.has_attachment == x)
        })
        .filter_map(|i| date_of(&i).filter(|d| *d >= from && *d <= to).map(|d| (d, i)))
        .collect();
    hits.sort_by(|a, b| a.0.cmp(&b.0).then_with(|| a.1.ksef_number.cmp(&b.1.ksef_number)));
    Ok(Selection { hits, hwm, date_type })
}

/// Records a filter may cover before the result is truncated (`isTruncated`).
const QUERY_CAP: usize = 10_000;

#[derive(Debug, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
struct DateRange {
    date_type: String,
    from: String,
    #[serde(default)]
    to: Option<String>,
    #[serde(default)]
    restrict_to_permanent_storage_hwm_date: Option<bool>,
}

#[derive(Debug, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
struct AmountFilter {
    #[serde(rename = "type")]
    kind: String,
    #[serde(default)]
    from: Option<f64>,
    #[serde(default)]
    to: Option<f64>,
}

#[derive(Debug, serde::Deserialize)]
struct BuyerFilter {
    #[serde(rename = "type")]
    kind: String,
    #[serde(default)]
    value: Option<String>,
}

#[derive(Debug, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct Filters {
    subject_type: String,
    date_range: DateRange,
    #[serde(default)]
    ksef_number: Option<String>,
    #[serde(default)]
    invoice_number: Option<String>,
    #[serde(default)]
    amount: Option<AmountFilter>,
    #[serde(default)]
    seller_nip: Option<String>,
    #[serde(default)]
    buyer_identifier: Option<BuyerFilter>,
    #[serde(default)]
    currency_codes: Option<Vec<String>>,
    #[serde(default)]
    invoicing_mode: Option<String>,
    #[serde(default)]
    is_self_invoicing: Option<bool>,
    #[serde(default)]
    form_type: Option<String>,
    #[serde(default)]
    invoice_types: Option<Vec<String>>,
    #[serde(default)]
    has_attachment: Option<bool>,
}

fn pick<'a>(field: &str, v: &str, allowed: &[&'a str]) -> Result<&'a str, ApiError> {
    allowed
        .iter()
        .copied()
        .find(|a| a.eq_ignore_ascii_case(v.trim()))
        .ok_or_else(|| ApiError::validation(format!("{field}: dozwolone wartości {}.", allowed.join(", "))))
}

/// `InvoiceType` of the metadata for a `RodzajFaktury` (FA) value.
fn invoice_type(rodzaj: &str) -> &str {
    match rodzaj {
        "VAT" => "Vat",
        "KOR" => "Kor",
        "ZAL" => "Zal",
        "ROZ" => "Roz",
        "UPR" => "Upr",
        "KOR_ZAL" => "KorZal",
        "KOR_ROZ" => "KorRoz",
        "VAT_RR" => "VatRr",
        "KOR_VAT_RR" => "KorVatRr",
        other => other,
    }
}

pub(crate) fn metadata_json(i: &crate::store::InvoiceRecord) -> Value {
    let m = i.meta.clone().unwrap_or(crate::store::InvoiceMeta {
        seller_name: None,
        buyer: crate::store::BuyerId { kind: "None".into(), value: None },
        buyer_name: None,
        net: 0.0,
        gross: 0.0,
        vat: 0.0,
        currency: "PLN".into(),
        third_subjects: Vec::new(),
        authorized_subject: None,
    });
    let mut buyer_id = json!({"type": m.buyer.kind});
    if let Some(v) = &m.buyer.value {
        buyer_id["value"] = json!(v);
    }
    let mut seller = json!({"nip": i.seller_nip});
    if let Some(n) = &m.seller_name {
        seller["name"] = json!(n);
    }
    let mut buyer = json!({"identifier": buyer_id});
    if let Some(n) = &m.buyer_name {
        buyer["name"] = json!(n);
    }
    let third: Vec<Value> = m
        .third_subjects
        .iter()
        .map(|t| {
            let mut id = json!({"type": t.kind});
            if let Some(v) = &t.value {
                id["value"] = json!(v);
            }
            let mut v = json!({"identifier": id, "role": t.role});
            if let Some(n) = &t.name {
                v["name"] = json!(n);
            }
            v
        })
        .collect();
    let authorized = m.authorized_subject.as_ref().map(|a| {
        let mut v = json!({"nip": a.nip, "role": a.role});
        if let Some(n) = &a.name {
            v["name"] = json!(n);
        }
        v
    });
    let mut out = json!({
        "ksefNumber": i.ksef_number,
        "invoiceNumber": i.invoice_number,
        "issueDate": i.issue_date.map(|d| d.to_string()),
        "invoicingDate": super::ts(i.invoicing_date),
        "acquisitionDate": i.acquisition_date.map(super::ts),
        "permanentStorageDate": i.permanent_storage_date.map(super::ts),
        "seller": seller,
        "buyer": buyer,
        "netAmount": m.net,
        "grossAmount": m.gross,
        "vatAmount": m.vat,
        "currency": m.currency,
        "invoicingMode": i.invoicing_mode.clone().unwrap_or_else(|| "Online".into()),
        "invoiceType": invoice_type(i.invoice_type.as_deref().unwrap_or_default()),
        "formCode": i.form_code,
        "isSelfInvoicing": false,
        "hasAttachment": i.has_attachment,
        "invoiceHash": i.invoice_hash,
    });
    if !third.is_empty() {
        out["thirdSubjects"] = json!(third);
    }
    if let Some(a) = authorized {
        out["authorizedSubject"] = a;
    }
    if let Some(h) = &i.hash_of_corrected_invoice {
        out["hashOfCorrectedInvoice"] = json!(h);
    }
    out
}

async fn query_metadata(
    State(app): State<Arc<AppState>>,
    Extension(caller): Extension<Caller>,
    axum::extract::Query(q): axum::extract::Query<std::collections::HashMap<String, String>>,
    super::JsonBody(f): super::JsonBody<Filters>,
) -> Result<axum::Json<Value>, ApiError> {
    let asc = match q.get("sortOrder") {
        None => true,
        Some(v) => pick("sortOrder", v, &["Asc", "Desc"])? == "Asc",
    };
    let page_offset: usize = match q.get("pageOffset") {
        None => 0,
        Some(v) => v.parse().map_err(|_| ApiError::validation("pageOffset: liczba ≥ 0."))?,
    };
    let size = super::page_size(q.get("pageSize"), 10, 250, 10)? as usize;
    let Selection { mut hits, hwm, .. } = select(&app, &caller, &f)?;
    if !asc {
        hits.reverse();
    }
    let truncated = hits.len() > QUERY_CAP;
    hits.truncate(QUERY_CAP);
    let start = page_offset.saturating_mul(size);
    let invoices: Vec<Value> = hits.iter().skip(start).take(size).map(|(_, i)| metadata_json(i)).collect();
    Ok(axum::Json(json!({
        "hasMore": start.saturating_add(size) < hits.len(),
        "isTruncated": truncated,
        "permanentStorageHwmDate": hwm.map(super::ts),
        "invoices": invoices,
    })))
}
