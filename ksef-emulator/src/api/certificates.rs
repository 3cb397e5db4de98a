//! KSeF certificates: limits, enrollment data, enrollment (PKCS#10 CSR → certificate from the
//! emulator's own CA), enrollment status, retrieve, revoke, query, and the test-data validity
//! override. Certificates belong to the authenticated subject, not to the context.

use std::collections::HashMap;
use std::sync::Arc;

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::{Extension, Json};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use chrono::{DateTime, Duration, Utc};
use ksef_crypto::x509::{CsrError, KsefCertificateType, SubjectFields, issue_from_csr, parse_csr};
use ksef_crypto::{Certificate, UnixTime};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use super::{AppState, Caller, JsonBody, Routes, ts};
use crate::domain::{Identifier, IdentifierType, StatusInfo};
use crate::error::{ApiError, ForbiddenReason};
use crate::store::AuthMethod;

pub(super) fn register(r: &mut Routes) {
    r.add("get_certificate_limits", limits);
    r.add("get_certificate_enrollment_data", enrollment_data);
    r.add("enroll_certificate", enroll);
    r.add("get_certificate_enrollment_status", enrollment_status);
    r.add("retrieve_certificates", retrieve);
    r.add("revoke_certificate", revoke);
    r.add("query_certificates", query);
    r.add("testdata_update_certificate", testdata_update);
}

const KIND_CERT: &str = "certificate";
const KIND_ENROLLMENT: &str = "enrollment";
/// Enrollment statuses are kept this long (then 410).
const ENROLLMENT_RETENTION_DAYS: i64 = 30;
/// Validity of issued certificates.
const VALIDITY_DAYS: i64 = 2 * 365;

/// An issued KSeF certificate.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct CertificateRecord {
    /// 16 upper-case hex characters.
    pub serial: String,
    /// The subject it was issued to.
    pub subject: Identifier,
    /// `certificateName`.
    pub name: String,
    /// `Authentication` or `Offline`.
    pub kind: String,
    /// DER, Base64.
    pub der: String,
    /// Subject common name.
    pub common_name: String,
    /// Validity.
    pub valid_from: DateTime<Utc>,
    /// Validity.
    pub valid_to: DateTime<Utc>,
    /// `Active` or `Revoked`.
    pub status: String,
    /// When it was requested.
    pub request_date: DateTime<Utc>,
    /// Base64 SHA-256 of the SPKI (one subject per public key).
    pub spki_hash: String,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
struct EnrollmentRecord {
    reference: String,
    subject: Identifier,
    created: DateTime<Utc>,
    status: StatusInfo,
    serial: Option<String>,
}

fn owner(id: &Identifier) -> String {
    format!("{}:{}", id.kind.as_str(), id.value)
}

fn load<T: for<'de> Deserialize<'de>>(s: String) -> Result<T, ApiError> {
    serde_json::from_str(&s).map_err(|e| ApiError::code(500, [e.to_string()]))
}

fn save<T: Serialize>(app: &AppState, kind: &str, key: &str, who: &Identifier, v: &T) -> Result<(), ApiError> {
    let json = serde_json::to_string(v).map_err(|e| ApiError::code(500, [e.to_string()]))?;
    app.store.put_doc(kind, key, &owner(who), &json)?;
    Ok(())
}

fn certificates_of(app: &AppState, who: &Identifier) -> Result<Vec<CertificateRecord>, ApiError> {
    app.store.docs_of(KIND_CERT, &owner(who))?.into_iter().map(load).collect()
}

/// `Active`, `Revoked` or `Expired` now.
fn effective_status(c: &CertificateRecord, now: DateTime<Utc>) -> &str {
    if c.status == "Active" && now > c.valid_to { "Expired" } else { &c.status }
}

/// The enrollment data (subject attributes) of a certificate, as JSON text.
pub(crate) fn subject_json(cert: &Certificate) -> String {
    use ksef_crypto::x509::SubjectFields as F;
    let name = cert.x509().tbs_certificate().subject().clone();
    fields_json(&F::from_name(&name)).to_string()
}

fn fields_json(f: &SubjectFields) -> Value {
    let mut v = json!({"commonName": f.common_name, "countryName": f.country_name});
    let mut opt = |k: &str, x: &Option<String>| {
        if let Some(x) = x {
            v[k] = json!(x);
        }
    };
    opt("surname", &f.surname);
    opt("serialNumber", &f.serial_number);
    opt("uniqueIdentifier", &f.unique_identifier);
    opt("organizationName", &f.organization_name);
    opt("organizationIdentifier", &f.organization_identifier);
    if let Some(g) = f.given_names.first() {
        v["givenName"] = json!(g);
    }
    v
}

/// For a certificate issued by the emulator's CA: `Ok` if it may authenticate, else a 460 detail.
/// `None` for other certificates.
pub(crate) fn ksef_certificate_check(
    app: &AppState,
    cert: &Certificate,
) -> Result<Option<Result<(), &'static str>>, ApiError> {
    let Some(doc) = app.store.doc(KIND_CERT, &cert.serial_hex())? else { return Ok(None) };
    let rec: CertificateRecord = load(doc)?;
    if rec.der != B64.encode(cert.der()) {
        return Ok(None);
    }
    let now = app.now();
    Ok(Some(match (rec.kind.as_str(), effective_status(&rec, now)) {
        ("Authentication", "Active") => Ok(()),
        (_, "Revoked") => Err("Certyfikat odwołany"),
        (_, "Expired") => Err("Nieważny certyfikat"),
        _ => Err("Niepoprawny certyfikat"),
    }))
}

fn signature_login(app: &AppState, caller: &Caller, code: u32) -> Result<crate::store::AuthOperationRecord, ApiError> {
    let op = app
        .store
        .auth(&caller.claims.auth_reference)?
        .ok_or_else(|| ApiError::Unauthorized("Nieznane uwierzytelnienie.".into()))?;
    if op.method == AuthMethod::Token {
        return Err(ApiError::code(
            code,
            ["Operacja wymaga uwierzytelnienia podpisem (XAdES); token KSeF nie wystarcza."],
        ));
    }
    Ok(op)
}

fn limits_of(app: &AppState, who: &Identifier) -> (u64, u64) {
    let (de, dc) = if who.kind == IdentifierType::Nip { (300, 100) } else { (12, 6) };
    let (e, c) = app.overrides.subject(&who.value);
    (e.unwrap_or(de), c.unwrap_or(dc))
}

fn counts(app: &AppState, who: &Identifier) -> Result<(u64, u64), ApiError> {
    let enrollments = app.store.docs_of(KIND_ENROLLMENT, &owner(who))?.len() as u64;
    let now = app.now();
    let active = certificates_of(app, who)?.iter().filter(|c| effective_status(c, now) == "Active").count() as u64;
    Ok((enrollments, active))
}

async fn limits(
    State(app): State<Arc<AppState>>,
    Extension(caller): Extension<Caller>,
) -> Result<Json<Value>, ApiError> {
    let who = caller.subject()?;
    let (le, lc) = limits_of(&app, who);
    let (e, c) = counts(&app, who)?;
    let (re, rc) = (le.saturating_sub(e), lc.saturating_sub(c));
    Ok(Json(json!({
        "canRequest": re > 0 && rc > 0,
        "enrollment": {"remaining": re, "limit": le},
        "certificate": {"remaining": rc, "limit": lc},
    })))
}

/// The DN attributes the CSR must carry: from the authenticating certificate, or synthesized
/// from the identifier for the in-process test hook.
fn enrollment_fields(op: &crate::store::AuthOperationRecord) -> Value {
    if let Some(s) = op.certificate_subject.as_deref().and_then(|s| serde_json::from_str::<Value>(s).ok()) {
        return s;
    }
    match op.subject.kind {
        IdentifierType::Pesel => {
            json!({"commonName": op.subject.value, "countryName": "PL", "serialNumber": format!("PNOPL-{}", op.subject.value)})
        }
        IdentifierType::Nip => {
            json!({"commonName": op.subject.value, "countryName": "PL", "serialNumber": format!("TINPL-{}", op.subject.value)})
        }
        _ => json!({"commonName": op.subject.value, "countryName": "PL"}),
    }
}

async fn enrollment_data(
    State(app): State<Arc<AppState>>,
    Extension(caller): Extension<Caller>,
) -> Result<Json<Value>, ApiError> {
    let op = signature_login(&app, &caller, 25001)?;
    Ok(Json(enrollment_fields(&op)))
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct EnrollRequest {
    certificate_name: String,
    certificate_type: String,
    csr: String,
    #[serde(default)]
    valid_from: Option<DateTime<Utc>>,
}

async fn enroll(
    State(app): State<Arc<AppState>>,
    Extension(caller): Extension<Caller>,
    JsonBody(req): JsonBody<EnrollRequest>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let op = signature_login(&app, &caller, 25002)?;
    let n = req.certificate_name.chars().count();
    let name_ok = (5..=100).contains(&n)
        && req.certificate_name.chars().all(|c| c.is_alphanumeric() || matches!(c, '_' | '-' | ' '));
    if !name_ok {
        return Err(ApiError::validation("certificateName: 5..100 znaków: litery, cyfry, spacja, _ i -."));
    }
    let kind = match req.certificate_type.to_ascii_lowercase().as_str() {
        "authentication" => KsefCertificateType::Authentication,
        "offline" => KsefCertificateType::Offline,
        _ => return Err(ApiError::validation("certificateType: dozwolone Authentication lub Offline.")),
    };
    let der = B64.decode(req.csr.trim()).map_err(|_| ApiError::code(25004, ["CSR nie jest poprawnym Base64."]))?;
    let csr = parse_csr(&der).map_err(|e| {
        let code = match e {
            CsrError::KeyType => 25010,
            CsrError::SignatureAlgorithm => 25011,
            _ => 25004,
        };
        ApiError::code(code, [e.to_string()])
    })?;
    // The CSR must carry exactly the enrollment data.
    let want = enrollment_fields(&op);
    let got = fields_json(&csr.subject);
    for (k, v) in want.as_object().into_iter().flatten() {
        if got.get(k) != Some(v) {
            return Err(ApiError::code(
                25003,
                [format!("Atrybut {k} w CSR nie zgadza się z danymi uwierzytelnienia.")],
            ));
        }
    }
    let who = op.subject.clone();
    let (le, lc) = limits_of(&app, &who);
    let (e, c) = counts(&app, &who)?;
    if e >= le {
        return Err(ApiError::code(25006, [format!("Limit wniosków: {le}.")]));
    }
    if c >= lc {
        return Err(ApiError::code(25007, [format!("Limit certyfikatów: {lc}.")]));
    }
    let now = app.now();
    let reference = app.reference("CE");
    use sha2::Digest as _;
    let spki_hash = B64.encode(sha2::Sha256::digest(&csr.spki_der));
    let taken = app
        .store
        .docs(KIND_CERT)?
        .into_iter()
        .map(load::<CertificateRecord>)
        .collect::<Result<Vec<_>, _>>()?
        .into_iter()
        .any(|c| c.spki_hash == spki_hash && c.subject != who);
    let mut rec = EnrollmentRecord {
        reference: reference.clone(),
        subject: who.clone(),
        created: now,
        status: StatusInfo::new(100, "Wniosek przyjęty do realizacji"),
        serial: None,
    };
    if taken {
        rec.status = StatusInfo::with_detail(
            400,
            "Wniosek odrzucony",
            "Klucz publiczny został już certyfikowany przez inny podmiot.",
        );
    } else {
        let ca = app.ca()?;
        let (ca_key, ca_cert) = (&ca.0, &ca.1);
        let mut serial = [0u8; 8];
        serial.copy_from_slice(&app.random_bytes(8));
        serial[0] = (serial[0] & 0x7f) | 0x10;
        let from = req.valid_from.unwrap_or(now);
        let to = from + Duration::days(VALIDITY_DAYS);
        let secs = |t: DateTime<Utc>| UnixTime::from_secs(t.timestamp().max(0) as u64);
        let cert = issue_from_csr(ca_key, ca_cert, &csr, &serial, kind, secs(from), secs(to))
            .map_err(|e| ApiError::code(25004, [e.to_string()]))?;
        let serial_hex = cert.serial_hex();
        let cr = CertificateRecord {
            serial: serial_hex.clone(),
            subject: who.clone(),
            name: req.certificate_name,
            kind: if kind == KsefCertificateType::Authentication { "Authentication" } else { "Offline" }.into(),
            der: B64.encode(cert.der()),
            common_name: csr.subject.common_name.clone(),
            valid_from: from,
            valid_to: to,
            status: "Active".into(),
            request_date: now,
            spki_hash,
        };
        save(&app, KIND_CERT, &serial_hex, &who, &cr)?;
        rec.status = StatusInfo::new(200, "Wniosek obsłużony (certyfikat wygenerowany)");
        rec.serial = Some(serial_hex);
    }
    save(&app, KIND_ENROLLMENT, &reference, &who, &rec)?;
    Ok((StatusCode::ACCEPTED, Json(json!({"referenceNumber": reference, "timestamp": ts(now)}))))
}

async fn enrollment_status(
    State(app): State<Arc<AppState>>,
    Extension(caller): Extension<Caller>,
    Path(reference): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let who = caller.subject()?;
    let rec: EnrollmentRecord = app
        .store
        .doc(KIND_ENROLLMENT, &reference)?
        .map(load)
        .transpose()?
        .filter(|r: &EnrollmentRecord| &r.subject == who)
        .ok_or_else(|| ApiError::code(25005, [format!("Wniosek {reference} nie istnieje.")]))?;
    if app.now() - rec.created > Duration::days(ENROLLMENT_RETENTION_DAYS) {
        return Err(ApiError::Gone);
    }
    let mut v = json!({"requestDate": ts(rec.created), "status": rec.status});
    if let Some(s) = rec.serial {
        v["certificateSerialNumber"] = json!(s);
    }
    Ok(Json(v))
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct RetrieveRequest {
    certificate_serial_numbers: Vec<String>,
}

fn serial_ok(s: &str) -> bool {
    s.len() == 16 && s.bytes().all(|b| b.is_ascii_digit() || (b'A'..=b'F').contains(&b))
}

async fn retrieve(
    State(app): State<Arc<AppState>>,
    Extension(caller): Extension<Caller>,
    JsonBody(req): JsonBody<RetrieveRequest>,
) -> Result<Json<Value>, ApiError> {
    let n = req.certificate_serial_numbers.len();
    if !(1..=10).contains(&n) || !req.certificate_serial_numbers.iter().all(|s| serial_ok(s)) {
        return Err(ApiError::validation("certificateSerialNumbers: 1..10 numerów po 16 znaków szesnastkowych."));
    }
    let who = caller.subject()?;
    let mut out = Vec::new();
    for s in &req.certificate_serial_numbers {
        if let Some(c) =
            app.store.doc(KIND_CERT, s)?.map(load::<CertificateRecord>).transpose()?.filter(|c| &c.subject == who)
        {
            out.push(json!({"certificate": c.der, "certificateName": c.name, "certificateSerialNumber": c.serial, "certificateType": c.kind}));
        }
    }
    Ok(Json(json!({"certificates": out})))
}

async fn revoke(
    State(app): State<Arc<AppState>>,
    Extension(caller): Extension<Caller>,
    Path(serial): Path<String>,
    body: axum::body::Bytes,
) -> Result<StatusCode, ApiError> {
    if !body.iter().all(u8::is_ascii_whitespace) {
        let v: Value = serde_json::from_slice(&body).map_err(|e| ApiError::validation(e.to_string()))?;
        if let Some(r) = v.get("revocationReason").and_then(Value::as_str)
            && !["unspecified", "superseded", "keycompromise"].contains(&r.to_ascii_lowercase().as_str())
        {
            return Err(ApiError::validation("revocationReason: Unspecified, Superseded lub KeyCompromise."));
        }
    }
    let op = app.store.auth(&caller.claims.auth_reference)?;
    if op.is_some_and(|o| o.method == AuthMethod::Token) {
        return Err(ApiError::Forbidden {
            reason: ForbiddenReason::AuthMethodNotAllowed,
            detail: "Odwołanie certyfikatu wymaga uwierzytelnienia podpisem.".into(),
            security: json!({"authenticationMethodCategory": "Token"}),
        });
    }
    let who = caller.subject()?.clone();
    let mut rec: CertificateRecord = app
        .store
        .doc(KIND_CERT, &serial)?
        .map(load)
        .transpose()?
        .filter(|c: &CertificateRecord| c.subject == who)
        .ok_or_else(|| ApiError::code(25008, [format!("Certyfikat {serial} nie istnieje.")]))?;
    if effective_status(&rec, app.now()) != "Active" {
        return Err(ApiError::code(25009, [format!("Certyfikat {serial} nie jest aktywny.")]));
    }
    rec.status = "Revoked".into();
    save(&app, KIND_CERT, &serial, &who, &rec)?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
struct QueryRequest {
    #[serde(default)]
    certificate_serial_number: Option<String>,
    #[serde(default)]
    name: Option<String>,
    #[serde(default, rename = "type")]
    kind: Option<String>,
    #[serde(default)]
    status: Option<String>,
    #[serde(default)]
    expires_after: Option<DateTime<Utc>>,
}

async fn query(
    State(app): State<Arc<AppState>>,
    Extension(caller): Extension<Caller>,
    Query(q): Query<HashMap<String, String>>,
    JsonBody(f): JsonBody<Option<QueryRequest>>,
) -> Result<Json<Value>, ApiError> {
    let f = f.unwrap_or_default();
    let size = super::page_size(q.get("pageSize"), 10, 50, 10)? as usize;
    let offset = match q.get("pageOffset") {
        None => 0,
        Some(v) => v.parse::<usize>().map_err(|_| ApiError::validation("pageOffset: liczba ≥ 0."))?,
    };
    let who = caller.subject()?;
    let now = app.now();
    let mut list: Vec<CertificateRecord> = certificates_of(&app, who)?
        .into_iter()
        .filter(|c| f.certificate_serial_number.as_ref().is_none_or(|s| &c.serial == s))
        .filter(|c| f.name.as_ref().is_none_or(|n| c.name.to_lowercase().contains(&n.to_lowercase())))
        .filter(|c| f.kind.as_ref().is_none_or(|k| c.kind.eq_ignore_ascii_case(k)))
        .filter(|c| f.status.as_ref().is_none_or(|s| effective_status(c, now).eq_ignore_ascii_case(s)))
        .filter(|c| f.expires_after.is_none_or(|t| c.valid_to > t))
        .collect();
    list.sort_by(|a, b| b.request_date.cmp(&a.request_date).then_with(|| a.serial.cmp(&b.serial)));
    let start = offset.saturating_mul(size);
    let items: Vec<Value> = list
        .iter()
        .skip(start)
        .take(size)
        .map(|c| {
            json!({
                "certificateSerialNumber": c.serial,
                "name": c.name,
                "type": c.kind,
                "commonName": c.common_name,
                "status": effective_status(c, now),
                "subjectIdentifier": c.subject,
                "validFrom": ts(c.valid_from),
                "validTo": ts(c.valid_to),
                "requestDate": ts(c.request_date),
            })
        })
        .collect();
    Ok(Json(json!({"certificates": items, "hasMore": start.saturating_add(size) < list.len()})))
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct UpdateRequest {
    valid_to: DateTime<Utc>,
}

async fn testdata_update(
    State(app): State<Arc<AppState>>,
    Extension(caller): Extension<Caller>,
    Path(serial): Path<String>,
    JsonBody(req): JsonBody<UpdateRequest>,
) -> Result<StatusCode, ApiError> {
    let who = caller.subject()?.clone();
    let mut rec: CertificateRecord = app
        .store
        .doc(KIND_CERT, &serial)?
        .map(load)
        .transpose()?
        .filter(|c: &CertificateRecord| c.subject == who)
        .ok_or_else(|| ApiError::code(25008, [format!("Certyfikat {serial} nie istnieje.")]))?;
    rec.valid_to = req.valid_to;
    save(&app, KIND_CERT, &serial, &who, &rec)?;
    Ok(StatusCode::OK)
}
