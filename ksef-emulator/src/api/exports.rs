//! Invoice exports: `POST /invoices/exports`, `GET /invoices/exports/{referenceNumber}` and the
//! pre-signed part downloads.
//!
//! The package is built before the answer (KSeF builds it asynchronously): invoices in ascending
//! order of the filter's date type as `{ksefNumber}.xml` plus `_metadata.json`, at most 10 000
//! invoices, ZIP or tar.gz, split into parts of at most 50 MiB, each encrypted with the client's
//! key and IV.

use std::collections::HashMap;
use std::io::Write;
use std::sync::Arc;

use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use chrono::Duration;
use serde::Deserialize;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use super::invoices::{Filters, Selection, metadata_json, select};
use super::sessions::{EncryptionInfo, b64, presign};
use super::{AppState, Caller, JsonBody, Routes, ts};
use crate::domain::StatusInfo;
use crate::error::ApiError;
use crate::keys::KeyUsage;
use crate::store::{ExportPart, ExportRecord};

pub(super) fn register(r: &mut Routes) {
    r.add("export_invoices", export);
    r.add("get_invoice_export_status", status);
}

/// Invoices per package.
const MAX_INVOICES: usize = 10_000;
/// Plaintext bytes per part (50 MiB).
const PART_SIZE: usize = 52_428_800;
/// Statuses are kept this long (then 410).
const RETENTION_DAYS: i64 = 7;
/// Download links and packages live this long.
const PACKAGE_HOURS: i64 = 48;

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct ExportRequest {
    encryption: EncryptionInfo,
    filters: Filters,
    #[serde(default)]
    only_metadata: Option<bool>,
    #[serde(default)]
    compression_type: Option<String>,
}

fn archive(files: &[(String, Vec<u8>)], targz: bool) -> Result<Vec<u8>, ApiError> {
    let fail = |e: &dyn std::fmt::Display| ApiError::code(500, [e.to_string()]);
    if targz {
        let mut b = tar::Builder::new(flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default()));
        for (name, data) in files {
            let mut h = tar::Header::new_gnu();
            h.set_size(data.len() as u64);
            h.set_mode(0o644);
            h.set_cksum();
            b.append_data(&mut h, name, data.as_slice()).map_err(|e| fail(&e))?;
        }
        b.into_inner().and_then(|gz| gz.finish()).map_err(|e| fail(&e))
    } else {
        let mut w = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
        let opts = zip::write::SimpleFileOptions::default().compression_method(zip::CompressionMethod::Deflated);
        for (name, data) in files {
            w.start_file(name.as_str(), opts).map_err(|e| fail(&e))?;
            w.write_all(data).map_err(|e| fail(&e))?;
        }
        Ok(w.finish().map_err(|e| fail(&e))?.into_inner())
    }
}

/// Exports in progress allowed per authenticated subject and context (`21182` above).
const MAX_CONCURRENT_EXPORTS: usize = 10;

async fn export(
    State(app): State<Arc<AppState>>,
    Extension(caller): Extension<Caller>,
    JsonBody(req): JsonBody<ExportRequest>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let targz = match req.compression_type.as_deref().map(str::to_ascii_lowercase).as_deref() {
        None | Some("zip") => false,
        Some("targz") => true,
        Some(_) => return Err(ApiError::validation("compressionType: dozwolone Zip lub TarGz.")),
    };
    let iv = b64("encryption.initializationVector", &req.encryption.initialization_vector)?;
    if iv.len() != 16 {
        return Err(ApiError::validation("encryption.initializationVector: wektor musi mieć 16 bajtów."));
    }
    let wrapped = b64("encryption.encryptedSymmetricKey", &req.encryption.encrypted_symmetric_key)?;
    let now = app.now();
    let key_id = req.encryption.public_key_id.as_deref().filter(|s| !s.is_empty());
    let Some(server_key) = app.keys.find(KeyUsage::SymmetricKeyEncryption, key_id, now) else {
        return Err(ApiError::code(
            21470,
            [format!("Klucz o identyfikatorze {} nie jest wspierany", key_id.unwrap_or("(brak)"))],
        ));
    };
    let Selection { mut hits, hwm, date_type } = select(&app, &caller, &req.filters)?;
    // At most 10 exports in progress per authenticated subject in a context.
    let (context, subject) = (caller.context()?, caller.subject()?);
    let running =
        app.store.exports_in_progress(context)?.into_iter().filter(|e| e.subject.as_ref() == Some(subject)).count();
    if running >= MAX_CONCURRENT_EXPORTS {
        return Err(ApiError::code(
            21182,
            [format!(
                "Dla uwierzytelnionego podmiotu w bieżącym kontekście osiągnięto maksymalny limit {MAX_CONCURRENT_EXPORTS} równoczesnych eksportów faktur. Spróbuj ponownie później."
            )],
        ));
    }
    let reference = app.reference("EH");
    let mut rec = ExportRecord {
        reference: reference.clone(),
        context: caller.context()?.clone(),
        created: now,
        status: StatusInfo::new(100, "Eksport faktur w toku"),
        completed: None,
        invoice_count: 0,
        size: 0,
        parts: Vec::new(),
        is_truncated: false,
        last_date: None,
        hwm,
        compression_type: if targz { "TarGz" } else { "Zip" }.to_owned(),
        subject: Some(subject.clone()),
    };
    let key = server_key.oaep_decrypt(&wrapped).ok().filter(|k| k.len() == 32);
    let Some(key) = key else {
        rec.status = StatusInfo::new(415, "Błąd odszyfrowania dostarczonego klucza");
        rec.completed = Some(now);
        app.store.put_export(rec)?;
        return Ok((StatusCode::CREATED, Json(json!({"referenceNumber": reference}))));
    };
    if hits.len() > MAX_INVOICES {
        rec.is_truncated = true;
        hits.truncate(MAX_INVOICES);
        let field = match date_type {
            "Issue" => "lastIssueDate",
            "Invoicing" => "lastInvoicingDate",
            _ => "lastPermanentStorageDate",
        };
        rec.last_date = hits.last().map(|(d, _)| (field.to_owned(), *d));
    }
    let metadata: Vec<Value> = hits.iter().map(|(_, i)| metadata_json(i)).collect();
    let mut files: Vec<(String, Vec<u8>)> = Vec::new();
    if !req.only_metadata.unwrap_or(false) {
        for (_, i) in &hits {
            if let (Some(k), Some(c)) = (&i.ksef_number, &i.content) {
                files.push((format!("{k}.xml"), c.clone()));
            }
        }
    }
    files.push(("_metadata.json".into(), json!({"invoices": metadata}).to_string().into_bytes()));
    let bytes = archive(&files, targz)?;
    let ext = if targz { "tar.gz" } else { "zip" };
    for (n, chunk) in bytes.chunks(PART_SIZE).enumerate() {
        let ordinal = n as u32 + 1;
        let enc = {
            use aes::cipher::block_padding::Pkcs7;
            use aes::cipher::{BlockModeEncrypt, KeyIvInit};
            cbc::Encryptor::<aes::Aes256>::new_from_slices(&key, &iv)
                .map_err(|_| ApiError::validation("encryption: niepoprawny klucz lub wektor."))?
                .encrypt_padded_vec::<Pkcs7>(chunk)
        };
        rec.parts.push(ExportPart {
            ordinal,
            name: format!("{reference}-{ordinal:03}.{ext}.aes"),
            size: chunk.len() as u64,
            hash: B64.encode(Sha256::digest(chunk)),
            encrypted_size: enc.len() as u64,
            encrypted_hash: B64.encode(Sha256::digest(&enc)),
        });
        app.store.put_part(&reference, ordinal, enc)?;
    }
    rec.size = bytes.len() as u64;
    rec.invoice_count = hits.len() as u64;
    rec.status = StatusInfo::new(200, "Eksport faktur zakończony sukcesem");
    rec.completed = Some(now);
    app.store.put_export(rec)?;
    Ok((StatusCode::CREATED, Json(json!({"referenceNumber": reference}))))
}

async fn status(
    State(app): State<Arc<AppState>>,
    Extension(caller): Extension<Caller>,
    headers: HeaderMap,
    Path(reference): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let e = app
        .store
        .export(&reference)?
        .filter(|e| caller.context().is_ok_and(|c| *c == e.context))
        .ok_or_else(|| ApiError::code(21175, [format!("Eksport {reference} nie istnieje.")]))?;
    let now = app.now();
    if now - e.created > Duration::days(RETENTION_DAYS) {
        return Err(ApiError::Gone);
    }
    let mut v = json!({"status": e.status});
    if let Some(c) = e.completed {
        v["completedDate"] = json!(ts(c));
    }
    if e.status.code == 200 {
        let expires = e.created + Duration::hours(PACKAGE_HOURS);
        if now > expires {
            v["status"] = json!(StatusInfo::new(210, "Eksport faktur wygasł i nie jest już dostępny do pobrania"));
            return Ok(Json(v));
        }
        v["packageExpirationDate"] = json!(ts(expires));
        // Links are signed anew on every status call.
        let parts: Vec<Value> = e
            .parts
            .iter()
            .map(|p| {
                json!({
                    "ordinalNumber": p.ordinal,
                    "partName": p.name,
                    "method": "GET",
                    "url": presign(&app, &headers, &format!("export/{}/{}", e.reference, p.ordinal), expires),
                    "partSize": p.size,
                    "partHash": p.hash,
                    "encryptedPartSize": p.encrypted_size,
                    "encryptedPartHash": p.encrypted_hash,
                    "expirationDate": ts(expires),
                })
            })
            .collect();
        let mut package = json!({"invoiceCount": e.invoice_count, "size": e.size, "parts": parts, "isTruncated": e.is_truncated,
                "compressionType": e.compression_type});
        if let Some((field, d)) = &e.last_date {
            package[field.as_str()] = json!(ts(*d));
        }
        if let Some(h) = e.hwm {
            package["permanentStorageHwmDate"] = json!(ts(h));
        }
        v["package"] = package;
    }
    Ok(Json(v))
}

/// `GET /storage/export/{reference}/{ordinal}?se=&sig=`: a pre-signed part download with
/// `x-ms-meta-hash` (hash of the encrypted part).
pub(crate) async fn download_part(
    State(app): State<Arc<AppState>>,
    Path((reference, ordinal)): Path<(String, u32)>,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    let path = format!("export/{reference}/{ordinal}");
    let se = q.get("se").and_then(|s| s.parse::<i64>().ok());
    let valid = match (se, q.get("sig")) {
        (Some(se), Some(sig)) => app.now().timestamp() <= se && app.jwt.tag(format!("{path}|{se}").as_bytes()) == *sig,
        _ => false,
    };
    if !valid {
        return StatusCode::FORBIDDEN.into_response();
    }
    match app.store.part(&reference, ordinal) {
        Ok(Some(data)) => {
            let hash = B64.encode(Sha256::digest(&data));
            let mut r = (StatusCode::OK, data).into_response();
            if let Ok(h) = axum::http::HeaderValue::from_str(&hash) {
                r.headers_mut().insert("x-ms-meta-hash", h);
            }
            r
        }
        _ => StatusCode::NOT_FOUND.into_response(),
    }
}
