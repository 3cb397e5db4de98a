//! Online sessions: open, send, close, statuses, UPOs (and the pre-signed UPO links).

use std::collections::HashMap;
use std::sync::Arc;

use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use chrono::{DateTime, Duration, Utc};
use serde::Deserialize;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use super::{AppState, Caller, JsonBody, Routes, continuation_offset, continuation_token, page_size, ts};
use crate::domain::StatusInfo;
use crate::error::ApiError;
use crate::keys::KeyUsage;
use crate::pipeline::{self, Submission};
use crate::store::{FormCode, InvoiceRecord, SecretKey, SessionKind, SessionRecord, UpoPage};
use crate::upo;
use crate::worker::Job;

pub(super) fn register(r: &mut Routes) {
    r.add("open_online_session", open_online);
    r.add("send_invoice", send_invoice);
    r.add("close_online_session", close_online);
    r.add("get_session_status", session_status);
    r.add("list_sessions", list_sessions);
    r.add("list_session_invoices", list_invoices);
    r.add("list_failed_session_invoices", list_failed_invoices);
    r.add("get_session_invoice_status", invoice_status);
    r.add("get_invoice_upo_by_reference", invoice_upo_by_reference);
    r.add("get_invoice_upo_by_ksef_number", invoice_upo_by_ksef_number);
    r.add("get_session_upo", session_upo);
}

/// How long pre-signed UPO links live.
const UPO_LINK_LIFETIME_HOURS: i64 = 72;
/// `Dokument` entries per session UPO page.
const UPO_PAGE_SIZE: usize = 10_000;

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct EncryptionInfo {
    pub(crate) encrypted_symmetric_key: String,
    pub(crate) initialization_vector: String,
    #[serde(default)]
    pub(crate) public_key_id: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct OpenOnline {
    form_code: FormCode,
    encryption: EncryptionInfo,
}

pub(crate) fn b64(field: &str, v: &str) -> Result<Vec<u8>, ApiError> {
    B64.decode(v.trim()).map_err(|_| ApiError::validation(format!("{field}: niepoprawne kodowanie Base64.")))
}

pub(crate) fn sha256_field(field: &str, v: &str) -> Result<(), ApiError> {
    if v.len() == 44 && B64.decode(v).is_ok_and(|d| d.len() == 32) {
        Ok(())
    } else {
        Err(ApiError::validation(format!("{field}: wymagany skrót SHA-256 w Base64 (44 znaki).")))
    }
}

async fn open_online(
    State(app): State<Arc<AppState>>,
    Extension(caller): Extension<Caller>,
    JsonBody(req): JsonBody<OpenOnline>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    if pipeline::known_form(&req.form_code).is_none() {
        return Err(ApiError::validation("Wskazany kod formularza nie jest wspierany."));
    }
    let now = app.now();
    let iv = b64("encryption.initializationVector", &req.encryption.initialization_vector)?;
    if iv.len() != 16 {
        return Err(ApiError::validation("encryption.initializationVector: wektor musi mieć 16 bajtów."));
    }
    let wrapped = b64("encryption.encryptedSymmetricKey", &req.encryption.encrypted_symmetric_key)?;
    let key_id = req.encryption.public_key_id.as_deref().filter(|s| !s.is_empty());
    let Some(server_key) = app.keys.find(KeyUsage::SymmetricKeyEncryption, key_id, now) else {
        return Err(ApiError::code(
            21470,
            [format!("Klucz o identyfikatorze {} nie jest wspierany", key_id.unwrap_or("(brak)"))],
        ));
    };
    // A key that does not unwrap is not a synchronous error: the session goes to 415.
    let key = server_key.oaep_decrypt(&wrapped).ok().filter(|k| k.len() == 32).map(|k| SecretKey(k.to_vec()));
    let status = if key.is_some() {
        StatusInfo::new(100, "Sesja interaktywna otwarta")
    } else {
        StatusInfo::new(415, "Błąd odszyfrowania dostarczonego klucza")
    };
    let reference = app.reference("SO");
    let valid_until = now + app.config.lifetimes.online_session;
    app.store.insert_session(SessionRecord {
        reference: reference.clone(),
        kind: SessionKind::Online,
        context: caller.context()?.clone(),
        subject: caller.subject()?.clone(),
        auth_reference: caller.claims.auth_reference.clone(),
        form_code: req.form_code,
        key,
        iv,
        created: now,
        updated: now,
        valid_until,
        status,
        invoice_count: 0,
        successful_count: 0,
        failed_count: 0,
        closed: None,
        upo_pages: Vec::new(),
        batch: None,
    })?;
    Ok((StatusCode::CREATED, Json(json!({"referenceNumber": reference, "validUntil": ts(valid_until)}))))
}

pub(crate) fn no_session(reference: &str) -> ApiError {
    ApiError::code(21173, [format!("Sesja o numerze referencyjnym {reference} nie została odnaleziona.")])
}

/// The session if it exists in the caller's context; an online session past `validUntil` is
/// closed on the way (KSeF closes it automatically: 170, then its final status from the worker).
pub(crate) fn load_session(app: &AppState, caller: &Caller, reference: &str) -> Result<SessionRecord, ApiError> {
    let s = app.store.session(reference)?.ok_or_else(|| no_session(reference))?;
    if &s.context != caller.context()? {
        return Err(no_session(reference));
    }
    if s.kind == SessionKind::Online && s.status.code == 100 && app.now() > s.valid_until {
        if let Some(closed) = close(app, reference)? {
            app.jobs.submit_now(app, Job::CloseOnline { session: reference.to_owned() })?;
            return Ok(closed);
        }
        return app.store.session(reference)?.ok_or_else(|| no_session(reference));
    }
    // A batch session never closed within its lifetime is cancelled (440, nothing to process).
    if s.kind == SessionKind::Batch && s.status.code == 100 && app.now() > s.valid_until {
        return finish(app, reference)?.ok_or_else(|| no_session(reference));
    }
    Ok(s)
}

/// Moves an open online session to 170 "closed"; the closed record, or `None` when it was not
/// open (someone else closed it).
fn close(app: &AppState, reference: &str) -> Result<Option<SessionRecord>, ApiError> {
    let now = app.now();
    let mut changed = false;
    let s = app.store.update_session(reference, &mut |s| {
        changed = s.status.code == 100;
        if changed {
            s.status = StatusInfo::new(170, "Sesja interaktywna zamknięta");
            s.closed = Some(now);
            s.updated = now;
        }
    })?;
    Ok(s.filter(|_| changed))
}

/// Moves a closed session (online 170, batch after processing) to its final state
/// (200/440/445) and lays out its UPO pages. The counters are recounted from the stored
/// invoices. Does nothing for a session already final.
pub(crate) fn finish(app: &AppState, reference: &str) -> Result<Option<SessionRecord>, ApiError> {
    let now = app.now();
    let Some(s) = app.store.session(reference)? else { return Ok(None) };
    if !matches!(s.status.code, 100 | 150 | 170) {
        return Ok(Some(s));
    }
    let invoices = app.store.session_invoices(reference)?;
    let ok = invoices.iter().filter(|i| i.status.code == 200).count() as u64;
    let failed = invoices.iter().filter(|i| i.status.code >= 300).count() as u64;
    // Reference numbers are drawn outside the store's critical section.
    let n = (ok as usize).div_ceil(UPO_PAGE_SIZE);
    let upo_refs: Vec<String> = (0..n).map(|_| app.reference("EU")).collect();
    let batch = s.kind == SessionKind::Batch;
    let updated = app.store.update_session(reference, &mut |s| {
        if !matches!(s.status.code, 100 | 150 | 170) {
            return;
        }
        s.closed.get_or_insert(now);
        s.updated = now;
        s.invoice_count = s.invoice_count.max(ok + failed);
        s.successful_count = ok;
        s.failed_count = failed;
        s.status = if s.invoice_count == 0 {
            StatusInfo::with_detail(440, "Sesja anulowana", "Nie przesłano faktur")
        } else if ok == 0 {
            StatusInfo::new(445, "Błąd weryfikacji, brak poprawnych faktur")
        } else if batch {
            StatusInfo::new(200, "Sesja wsadowa przetworzona pomyślnie")
        } else {
            StatusInfo::new(200, "Sesja interaktywna przetworzona pomyślnie")
        };
        s.upo_pages = upo_refs
            .iter()
            .enumerate()
            .map(|(i, r)| UpoPage {
                reference: r.clone(),
                from: i * UPO_PAGE_SIZE + 1,
                to: ((i + 1) * UPO_PAGE_SIZE).min(ok as usize),
            })
            .collect();
    })?;
    Ok(updated)
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct SendInvoice {
    invoice_hash: String,
    invoice_size: u64,
    encrypted_invoice_hash: String,
    encrypted_invoice_size: u64,
    encrypted_invoice_content: String,
    #[serde(default)]
    offline_mode: Option<bool>,
    #[serde(default)]
    hash_of_corrected_invoice: Option<String>,
}

async fn send_invoice(
    State(app): State<Arc<AppState>>,
    Extension(caller): Extension<Caller>,
    Path(reference): Path<String>,
    JsonBody(req): JsonBody<SendInvoice>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    sha256_field("invoiceHash", &req.invoice_hash)?;
    sha256_field("encryptedInvoiceHash", &req.encrypted_invoice_hash)?;
    if req.invoice_size == 0 || req.encrypted_invoice_size == 0 {
        return Err(ApiError::validation("invoiceSize i encryptedInvoiceSize muszą być większe od 0."));
    }
    if let Some(h) = &req.hash_of_corrected_invoice {
        sha256_field("hashOfCorrectedInvoice", h)?;
        if req.offline_mode != Some(true) {
            return Err(ApiError::validation("hashOfCorrectedInvoice wymaga offlineMode = true."));
        }
    }
    let session = load_session(&app, &caller, &reference)?;
    if session.kind != SessionKind::Online {
        return Err(no_session(&reference));
    }
    if let Some(h) = &req.hash_of_corrected_invoice {
        technical_correction_allowed(&app, &session.context, h)?;
    }
    let content = b64("encryptedInvoiceContent", &req.encrypted_invoice_content)?;
    if content.len() as u64 != req.encrypted_invoice_size {
        return Err(ApiError::code(21402, ["Długość treści nie zgadza się z rozmiarem pliku."]));
    }
    if B64.encode(Sha256::digest(&content)) != req.encrypted_invoice_hash {
        return Err(ApiError::code(21403, ["Skrót treści nie zgadza się ze skrótem pliku."]));
    }
    let limit = app.session_limits(&session.context, true).max_invoices;
    let now = app.now();
    let mut outcome: Result<u64, ApiError> = Err(no_session(&reference));
    app.store.update_session(&reference, &mut |s| {
        outcome = if s.status.code != 100 || now > s.valid_until {
            Err(ApiError::code(21180, [format!("Status sesji {} uniemożliwia wysyłkę faktur.", s.status.code)]))
        } else if s.invoice_count >= limit {
            Err(ApiError::code(
                21155,
                [format!("Sesja o numerze referencyjnym {reference} osiągnęła dozwolony limit liczby faktur {limit}.")],
            ))
        } else {
            s.invoice_count += 1;
            s.updated = now;
            Ok(s.invoice_count)
        };
    })?;
    let ordinal = outcome?;
    let invoice_ref = app.reference("EE");
    app.store.insert_invoice(pending_invoice(&session, &invoice_ref, ordinal, &req, now))?;
    app.jobs
        .submit(
            &app,
            Job::Invoice {
                session: reference.clone(),
                invoice: invoice_ref.clone(),
                ciphertext: req.encrypted_invoice_content,
            },
        )
        .await?;
    Ok((StatusCode::ACCEPTED, Json(json!({"referenceNumber": invoice_ref}))))
}

/// The record of an accepted online invoice before processing (status 100).
fn pending_invoice(
    session: &SessionRecord,
    reference: &str,
    ordinal: u64,
    req: &SendInvoice,
    now: DateTime<Utc>,
) -> InvoiceRecord {
    InvoiceRecord {
        reference: reference.to_owned(),
        session: session.reference.clone(),
        ordinal,
        context: session.context.clone(),
        invoice_number: None,
        ksef_number: None,
        invoice_hash: req.invoice_hash.clone(),
        invoice_size: req.invoice_size,
        invoicing_date: now,
        acquisition_date: None,
        permanent_storage_date: None,
        status: StatusInfo::new(100, "Faktura przyjęta do dalszego przetwarzania"),
        invoicing_mode: None,
        offline_mode: req.offline_mode.unwrap_or(false),
        seller_nip: None,
        issue_date: None,
        invoice_type: None,
        form_code: session.form_code.clone(),
        has_attachment: false,
        content: None,
        meta: None,
        hash_of_corrected_invoice: req.hash_of_corrected_invoice.clone(),
        file_name: None,
    }
}

/// The worker's half of `send_invoice`: processes a pending (100/150) invoice into its final
/// record. Does nothing for an invoice that already has its final status.
pub(crate) fn process_invoice(app: &AppState, session: &str, invoice: &str, ciphertext: &str) -> Result<(), ApiError> {
    let Some(pending) = app.store.invoice(invoice)? else { return Ok(()) };
    if !matches!(pending.status.code, 100 | 150) {
        // Already final: an earlier run stopped before its job was removed, maybe before the
        // session's counters were updated; recount them from the stored invoices.
        let invoices = app.store.session_invoices(session)?;
        let ok = invoices.iter().filter(|i| i.status.code == 200).count() as u64;
        let failed = invoices.iter().filter(|i| i.status.code >= 300).count() as u64;
        app.store.update_session(session, &mut |s| {
            s.successful_count = ok;
            s.failed_count = failed;
        })?;
        return Ok(());
    }
    let session = app.store.session(session)?.ok_or_else(|| no_session(session))?;
    // The ciphertext was checked (Base64, size, hash) before it was queued.
    let content = B64.decode(ciphertext).unwrap_or_default();
    let mut rec = pipeline::process(
        app,
        &session,
        Submission {
            reference: pending.reference.clone(),
            ordinal: pending.ordinal,
            payload: pipeline::Payload::Encrypted(content),
            file_name: None,
            invoice_hash: pending.invoice_hash.clone(),
            invoice_size: pending.invoice_size,
            offline_mode: pending.offline_mode,
            invoicing_date: pending.invoicing_date,
        },
    )?;
    rec.hash_of_corrected_invoice = pending.hash_of_corrected_invoice;
    let ok = rec.status.code == 200;
    app.store.update_invoice(invoice, &mut |i| *i = rec.clone())?;
    app.store.update_session(&session.reference, &mut |s| {
        if ok {
            s.successful_count += 1;
        } else {
            s.failed_count += 1;
        }
    })?;
    Ok(())
}

/// §13.4: a technical correction replaces an invoice of this context's NIP that was rejected
/// (`21167` if it was accepted) and has no accepted correction yet (`21166`).
fn technical_correction_allowed(
    app: &AppState,
    context: &crate::domain::Identifier,
    hash: &str,
) -> Result<(), ApiError> {
    let nip = context.value.get(..10).unwrap_or(&context.value);
    let same_nip = |i: &InvoiceRecord| i.context.value.get(..10) == Some(nip) || i.seller_nip.as_deref() == Some(nip);
    let found: Vec<InvoiceRecord> = app.store.invoices_with_hash(hash)?.into_iter().filter(same_nip).collect();
    let originals: Vec<&InvoiceRecord> = found.iter().filter(|i| i.invoice_hash == hash).collect();
    if originals.is_empty() {
        return Err(ApiError::validation(format!(
            "hashOfCorrectedInvoice: nie znaleziono faktury o skrócie {hash} w bieżącym kontekście."
        )));
    }
    if originals.iter().any(|i| i.status.code == 200) {
        return Err(ApiError::code(
            21167,
            ["Nie można wysłać korekty technicznej do prawidłowo przetworzonej faktury."],
        ));
    }
    if found.iter().any(|i| i.hash_of_corrected_invoice.as_deref() == Some(hash) && i.status.code == 200) {
        return Err(ApiError::code(21166, ["Faktura posiada już przetworzoną prawidłowo korektę techniczną."]));
    }
    Ok(())
}

async fn close_online(
    State(app): State<Arc<AppState>>,
    Extension(caller): Extension<Caller>,
    Path(reference): Path<String>,
) -> Result<StatusCode, ApiError> {
    let s = load_session(&app, &caller, &reference)?;
    if s.kind != SessionKind::Online || s.status.code != 100 {
        return Err(ApiError::code(21180, [format!("Status sesji {} uniemożliwia jej zamknięcie.", s.status.code)]));
    }
    if close(&app, &reference)?.is_some() {
        app.jobs.submit(&app, Job::CloseOnline { session: reference.clone() }).await?;
    }
    Ok(StatusCode::NO_CONTENT)
}

/// Where pre-signed links point: the configured storage host, else the host the client called.
fn storage_base(app: &AppState, headers: &HeaderMap) -> String {
    let host = app
        .config
        .storage_host
        .clone()
        .or_else(|| headers.get(header::HOST).and_then(|h| h.to_str().ok()).map(str::to_owned))
        .unwrap_or_else(|| "localhost".into());
    format!("http://{host}")
}

/// A pre-signed GET link for `path` (under `/storage/`), valid until `until`.
pub(crate) fn presign(app: &AppState, headers: &HeaderMap, path: &str, until: DateTime<Utc>) -> String {
    let se = until.timestamp();
    let sig = app.jwt.tag(format!("{path}|{se}").as_bytes());
    format!("{}/storage/{path}?se={se}&sig={sig}", storage_base(app, headers))
}

fn invoice_json(app: &AppState, headers: &HeaderMap, i: &InvoiceRecord) -> Value {
    let mut v = json!({
        "ordinalNumber": i.ordinal,
        "referenceNumber": i.reference,
        "invoiceHash": i.invoice_hash,
        "invoicingDate": ts(i.invoicing_date),
        "status": i.status,
    });
    if let Some(n) = &i.invoice_number {
        v["invoiceNumber"] = json!(n);
    }
    if let Some(k) = &i.ksef_number {
        v["ksefNumber"] = json!(k);
    }
    if let Some(t) = i.acquisition_date {
        v["acquisitionDate"] = json!(ts(t));
    }
    if let Some(t) = i.permanent_storage_date {
        v["permanentStorageDate"] = json!(ts(t));
    }
    if let Some(m) = &i.invoicing_mode {
        v["invoicingMode"] = json!(m);
    }
    if let Some(f) = &i.file_name {
        v["invoiceFileName"] = json!(f);
    }
    if i.status.code == 200 {
        let until = app.now() + Duration::hours(UPO_LINK_LIFETIME_HOURS);
        v["upoDownloadUrl"] =
            json!(presign(app, headers, &format!("upo/invoice/{}/{}", i.session, i.reference), until));
        v["upoDownloadUrlExpirationDate"] = json!(ts(until));
    }
    v
}

async fn session_status(
    State(app): State<Arc<AppState>>,
    Extension(caller): Extension<Caller>,
    headers: HeaderMap,
    Path(reference): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let s = load_session(&app, &caller, &reference)?;
    let mut v = json!({
        "status": s.status,
        "dateCreated": ts(s.created),
        "dateUpdated": ts(s.updated),
        "invoiceCount": s.invoice_count,
        "successfulInvoiceCount": s.successful_count,
        "failedInvoiceCount": s.failed_count,
    });
    if s.status.code == 100 {
        v["validUntil"] = json!(ts(s.valid_until));
    }
    if !s.upo_pages.is_empty() {
        let until = app.now() + Duration::hours(UPO_LINK_LIFETIME_HOURS);
        let pages: Vec<Value> = s
            .upo_pages
            .iter()
            .map(|p| {
                json!({
                    "referenceNumber": p.reference,
                    "downloadUrl": presign(&app, &headers, &format!("upo/session/{}/{}", s.reference, p.reference), until),
                    "downloadUrlExpirationDate": ts(until),
                })
            })
            .collect();
        v["upo"] = json!({"pages": pages});
    }
    Ok(Json(v))
}

fn list(
    app: &AppState,
    caller: &Caller,
    headers: &HeaderMap,
    reference: &str,
    q: &HashMap<String, String>,
    failed_only: bool,
) -> Result<Json<Value>, ApiError> {
    let size = page_size(q.get("pageSize"), 10, 1000, 10)? as usize;
    let offset = continuation_offset(headers)?;
    load_session(app, caller, reference)?;
    let all: Vec<InvoiceRecord> =
        app.store.session_invoices(reference)?.into_iter().filter(|i| !failed_only || i.status.code >= 400).collect();
    let items: Vec<Value> = all.iter().skip(offset).take(size).map(|i| invoice_json(app, headers, i)).collect();
    let mut body = json!({"invoices": items});
    if let Some(t) = continuation_token(offset + size, all.len()) {
        body["continuationToken"] = json!(t);
    }
    Ok(Json(body))
}

async fn list_invoices(
    State(app): State<Arc<AppState>>,
    Extension(caller): Extension<Caller>,
    headers: HeaderMap,
    Path(reference): Path<String>,
    Query(q): Query<HashMap<String, String>>,
) -> Result<Json<Value>, ApiError> {
    list(&app, &caller, &headers, &reference, &q, false)
}

async fn list_failed_invoices(
    State(app): State<Arc<AppState>>,
    Extension(caller): Extension<Caller>,
    headers: HeaderMap,
    Path(reference): Path<String>,
    Query(q): Query<HashMap<String, String>>,
) -> Result<Json<Value>, ApiError> {
    list(&app, &caller, &headers, &reference, &q, true)
}

fn no_invoice(reference: &str) -> ApiError {
    ApiError::code(21405, [format!("Faktura o numerze referencyjnym {reference} nie została odnaleziona w sesji.")])
}

fn load_invoice(app: &AppState, session: &SessionRecord, invoice_ref: &str) -> Result<InvoiceRecord, ApiError> {
    app.store.invoice(invoice_ref)?.filter(|i| i.session == session.reference).ok_or_else(|| no_invoice(invoice_ref))
}

async fn invoice_status(
    State(app): State<Arc<AppState>>,
    Extension(caller): Extension<Caller>,
    headers: HeaderMap,
    Path((reference, invoice_ref)): Path<(String, String)>,
) -> Result<Json<Value>, ApiError> {
    let s = load_session(&app, &caller, &reference)?;
    let i = load_invoice(&app, &s, &invoice_ref)?;
    Ok(Json(invoice_json(&app, &headers, &i)))
}

/// An XML download with `x-ms-meta-hash`.
pub(crate) fn xml_response(bytes: Vec<u8>) -> Response {
    let hash = B64.encode(Sha256::digest(&bytes));
    let mut r = (StatusCode::OK, bytes).into_response();
    r.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("application/xml"));
    if let Ok(h) = HeaderValue::from_str(&hash) {
        r.headers_mut().insert("x-ms-meta-hash", h);
    }
    r
}

fn no_upo() -> ApiError {
    ApiError::code(21178, ["Nie znaleziono UPO dla podanych kryteriów."])
}

fn invoice_upo(app: &AppState, s: &SessionRecord, i: &InvoiceRecord) -> Result<Response, ApiError> {
    if i.status.code != 200 {
        return Err(no_upo());
    }
    let auth = app.store.auth(&s.auth_reference)?.ok_or_else(no_upo)?;
    let xml = upo::render(app.config.environment, &s.reference, &auth, &s.form_code, &[i], None);
    Ok(xml_response(xml.into_bytes()))
}

fn session_upo_page(app: &AppState, s: &SessionRecord, upo_ref: &str) -> Result<Response, ApiError> {
    let pages = s.upo_pages.len();
    let (idx, page) = s.upo_pages.iter().enumerate().find(|(_, p)| p.reference == upo_ref).ok_or_else(no_upo)?;
    let auth = app.store.auth(&s.auth_reference)?.ok_or_else(no_upo)?;
    let accepted: Vec<InvoiceRecord> =
        app.store.session_invoices(&s.reference)?.into_iter().filter(|i| i.status.code == 200).collect();
    let total = accepted.len();
    let docs: Vec<&InvoiceRecord> = accepted.iter().skip(page.from - 1).take(page.to + 1 - page.from).collect();
    let info = upo::PageInfo { page: idx + 1, pages, from: page.from, to: page.to, total };
    let xml = upo::render(app.config.environment, &s.reference, &auth, &s.form_code, &docs, Some(info));
    Ok(xml_response(xml.into_bytes()))
}

async fn invoice_upo_by_reference(
    State(app): State<Arc<AppState>>,
    Extension(caller): Extension<Caller>,
    Path((reference, invoice_ref)): Path<(String, String)>,
) -> Result<Response, ApiError> {
    let s = load_session(&app, &caller, &reference)?;
    let i = app.store.invoice(&invoice_ref)?.filter(|i| i.session == s.reference).ok_or_else(no_upo)?;
    invoice_upo(&app, &s, &i)
}

async fn invoice_upo_by_ksef_number(
    State(app): State<Arc<AppState>>,
    Extension(caller): Extension<Caller>,
    Path((reference, ksef_number)): Path<(String, String)>,
) -> Result<Response, ApiError> {
    let s = load_session(&app, &caller, &reference)?;
    let i = app.store.invoice_by_ksef_number(&ksef_number)?.filter(|i| i.session == s.reference).ok_or_else(no_upo)?;
    invoice_upo(&app, &s, &i)
}

async fn session_upo(
    State(app): State<Arc<AppState>>,
    Extension(caller): Extension<Caller>,
    Path((reference, upo_ref)): Path<(String, String)>,
) -> Result<Response, ApiError> {
    let s = load_session(&app, &caller, &reference)?;
    session_upo_page(&app, &s, &upo_ref)
}

/// `GET /storage/upo/{kind}/{session}/{ref}?se=&sig=`: the pre-signed UPO links (no token, not
/// rate-limited). A bad signature or an expired link gives 403, like blob storage.
pub(crate) async fn storage_upo(
    State(app): State<Arc<AppState>>,
    Path((kind, session, reference)): Path<(String, String, String)>,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    let path = format!("upo/{kind}/{session}/{reference}");
    let se = q.get("se").and_then(|s| s.parse::<i64>().ok());
    let valid = match (se, q.get("sig")) {
        (Some(se), Some(sig)) => app.now().timestamp() <= se && app.jwt.tag(format!("{path}|{se}").as_bytes()) == *sig,
        _ => false,
    };
    if !valid {
        return StatusCode::FORBIDDEN.into_response();
    }
    let Ok(Some(s)) = app.store.session(&session) else { return StatusCode::NOT_FOUND.into_response() };
    let r = match kind.as_str() {
        "invoice" => match app.store.invoice(&reference) {
            Ok(Some(i)) if i.session == s.reference => invoice_upo(&app, &s, &i),
            _ => Err(no_upo()),
        },
        "session" => session_upo_page(&app, &s, &reference),
        _ => Err(no_upo()),
    };
    r.unwrap_or_else(|_| StatusCode::NOT_FOUND.into_response())
}

/// `CommonSessionStatus` of a status code (protocol §4.5).
fn common_status(code: u16) -> &'static str {
    match code {
        100 | 150 | 170 => "InProgress",
        200 => "Succeeded",
        440 => "Cancelled",
        _ => "Failed",
    }
}

async fn list_sessions(
    State(app): State<Arc<AppState>>,
    Extension(caller): Extension<Caller>,
    headers: HeaderMap,
    Query(q): Query<Vec<(String, String)>>,
) -> Result<Json<Value>, ApiError> {
    use crate::domain::PermissionType as P;
    use crate::domain::time::parse_filter_datetime;
    let one = |k: &str| q.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone());
    let size = page_size(one("pageSize").as_ref(), 10, 1000, 10)? as usize;
    let offset = continuation_offset(&headers)?;
    let kind = match one("sessionType").map(|s| s.to_ascii_lowercase()).as_deref() {
        Some("online") => SessionKind::Online,
        Some("batch") => SessionKind::Batch,
        Some(_) => return Err(ApiError::validation("sessionType: dozwolone Online lub Batch.")),
        None => return Err(ApiError::validation("sessionType jest wymagany.")),
    };
    let date = |k: &str| -> Result<Option<DateTime<Utc>>, ApiError> {
        match one(k) {
            None => Ok(None),
            Some(v) => parse_filter_datetime(&v)
                .map(Some)
                .ok_or_else(|| ApiError::validation(format!("{k}: niepoprawna data."))),
        }
    };
    let (cf, ct, xf, xt, mf, mt) = (
        date("dateCreatedFrom")?,
        date("dateCreatedTo")?,
        date("dateClosedFrom")?,
        date("dateClosedTo")?,
        date("dateModifiedFrom")?,
        date("dateModifiedTo")?,
    );
    let mut statuses = Vec::new();
    for (_, v) in q.iter().filter(|(n, _)| n == "statuses") {
        let s = ["InProgress", "Succeeded", "Failed", "Cancelled"]
            .into_iter()
            .find(|s| s.eq_ignore_ascii_case(v))
            .ok_or_else(|| ApiError::validation(format!("statuses: nieznana wartość {v}.")))?;
        statuses.push(s);
    }
    let reference = one("referenceNumber");
    // InvoiceWrite alone sees the subject's own sessions; Introspection/EnforcementOperations all.
    let all = caller.has(P::Introspection) || caller.has(P::EnforcementOperations);
    let subject = caller.subject()?.clone();
    let within = |t: Option<DateTime<Utc>>, from: Option<DateTime<Utc>>, to: Option<DateTime<Utc>>| {
        (from.is_none() && to.is_none()) || t.is_some_and(|t| from.is_none_or(|f| t >= f) && to.is_none_or(|x| t <= x))
    };
    let mut list: Vec<SessionRecord> = app
        .store
        .sessions_in_context(caller.context()?)?
        .into_iter()
        .filter(|s| s.kind == kind && (all || s.subject == subject))
        .filter(|s| reference.as_ref().is_none_or(|r| &s.reference == r))
        .filter(|s| statuses.is_empty() || statuses.contains(&common_status(s.status.code)))
        .filter(|s| within(Some(s.created), cf, ct) && within(s.closed, xf, xt) && within(Some(s.updated), mf, mt))
        .collect();
    list.sort_by(|a, b| b.created.cmp(&a.created).then_with(|| a.reference.cmp(&b.reference)));
    let items: Vec<Value> = list
        .iter()
        .skip(offset)
        .take(size)
        .map(|s| {
            let mut v = json!({
                "referenceNumber": s.reference,
                "status": s.status,
                "dateCreated": ts(s.created),
                "dateUpdated": ts(s.updated),
                "totalInvoiceCount": s.invoice_count,
                "successfulInvoiceCount": s.successful_count,
                "failedInvoiceCount": s.failed_count,
            });
            if s.status.code == 100 {
                v["validUntil"] = json!(ts(s.valid_until));
            }
            v
        })
        .collect();
    let mut body = json!({"sessions": items});
    if let Some(t) = continuation_token(offset + size, list.len()) {
        body["continuationToken"] = json!(t);
    }
    Ok(Json(body))
}
