//! Batch sessions: open (pre-signed part upload URLs), part upload on the emulated storage host,
//! close (parts verified, decrypted, concatenated, unpacked from ZIP or tar.gz, each invoice
//! processed like an online one).

use std::collections::HashMap;
use std::io::Read;
use std::sync::Arc;

use axum::body::Bytes;
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

use super::sessions::{EncryptionInfo, b64, finish, load_session, no_session, presign, sha256_field};
use super::{AppState, Caller, JsonBody, Routes};
use crate::domain::StatusInfo;
use crate::error::ApiError;
use crate::keys::KeyUsage;
use crate::pipeline::{self, Payload, Submission};
use crate::store::{BatchInfo, BatchPart, FormCode, SecretKey, SessionKind, SessionRecord};
use crate::worker::Job;

pub(super) fn register(r: &mut Routes) {
    r.add("open_batch_session", open_batch);
    r.add("close_batch_session", close_batch);
}

/// At most this many parts.
const MAX_PARTS: usize = 50;
/// A part is at most 100 MB before encryption, so at most this after (one padding block).
const MAX_ENCRYPTED_PART: u64 = 100_000_016;
/// The whole archive.
const MAX_ARCHIVE: u64 = 5_000_000_000;
/// Upload window per declared part.
const UPLOAD_MINUTES_PER_PART: i64 = 20;

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct FilePart {
    ordinal_number: u32,
    file_size: u64,
    file_hash: String,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct BatchFile {
    file_size: u64,
    file_hash: String,
    #[serde(default)]
    compression_type: Option<String>,
    file_parts: Vec<FilePart>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct OpenBatch {
    form_code: FormCode,
    batch_file: BatchFile,
    encryption: EncryptionInfo,
    #[serde(default)]
    offline_mode: Option<bool>,
}

async fn open_batch(
    State(app): State<Arc<AppState>>,
    Extension(caller): Extension<Caller>,
    headers: HeaderMap,
    JsonBody(req): JsonBody<OpenBatch>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    if !pipeline::known_form(&req.form_code).is_some_and(|f| f.batch) {
        return Err(ApiError::validation("Wskazany kod formularza nie jest wspierany w sesji wsadowej."));
    }
    let bf = &req.batch_file;
    if !(1..=MAX_ARCHIVE).contains(&bf.file_size) {
        return Err(ApiError::validation("batchFile.fileSize: dozwolone 1..5000000000."));
    }
    sha256_field("batchFile.fileHash", &bf.file_hash)?;
    let compression = match bf.compression_type.as_deref().map(str::to_ascii_lowercase).as_deref() {
        None | Some("zip") => "Zip",
        Some("targz") => "TarGz",
        Some(_) => return Err(ApiError::validation("batchFile.compressionType: dozwolone Zip lub TarGz.")),
    };
    if bf.file_parts.is_empty() {
        return Err(ApiError::validation("batchFile.fileParts: wymagana co najmniej jedna część."));
    }
    if bf.file_parts.len() > MAX_PARTS {
        return Err(ApiError::code(21161, [format!("Dozwolona liczba części to {MAX_PARTS}.")]));
    }
    let mut ordinals: Vec<u32> = bf.file_parts.iter().map(|p| p.ordinal_number).collect();
    ordinals.sort_unstable();
    if ordinals.iter().enumerate().any(|(i, o)| *o as usize != i + 1) {
        return Err(ApiError::validation("batchFile.fileParts: numery części muszą być kolejnymi liczbami od 1."));
    }
    for p in &bf.file_parts {
        sha256_field("batchFile.fileParts.fileHash", &p.file_hash)?;
        if p.file_size == 0 {
            return Err(ApiError::validation("batchFile.fileParts.fileSize: musi być większy od 0."));
        }
        if p.file_size > MAX_ENCRYPTED_PART {
            return Err(ApiError::code(
                21157,
                [format!("Rozmiar części {} przekroczył dozwolony rozmiar 100MB.", p.ordinal_number)],
            ));
        }
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
    let key = server_key.oaep_decrypt(&wrapped).ok().filter(|k| k.len() == 32).map(|k| SecretKey(k.to_vec()));
    let reference = app.reference("SB");
    let upload_until = now + Duration::minutes(UPLOAD_MINUTES_PER_PART * bf.file_parts.len() as i64);
    let mut parts: Vec<BatchPart> = bf
        .file_parts
        .iter()
        .map(|p| BatchPart { ordinal: p.ordinal_number, size: p.file_size, hash: p.file_hash.clone(), uploaded: false })
        .collect();
    parts.sort_by_key(|p| p.ordinal);
    let uploads: Vec<Value> = parts
        .iter()
        .map(|p| {
            json!({
                "ordinalNumber": p.ordinal,
                "method": "PUT",
                "url": presign(&app, &headers, &format!("batch/{reference}/{}", p.ordinal), upload_until),
                "headers": {"x-ms-blob-type": "BlockBlob"},
            })
        })
        .collect();
    app.store.insert_session(SessionRecord {
        reference: reference.clone(),
        kind: SessionKind::Batch,
        context: caller.context()?.clone(),
        subject: caller.subject()?.clone(),
        auth_reference: caller.claims.auth_reference.clone(),
        form_code: req.form_code,
        key,
        iv,
        created: now,
        updated: now,
        valid_until: now + app.config.lifetimes.online_session,
        status: StatusInfo::new(100, "Sesja wsadowa rozpoczęta"),
        invoice_count: 0,
        successful_count: 0,
        failed_count: 0,
        closed: None,
        upo_pages: Vec::new(),
        batch: Some(BatchInfo {
            file_size: bf.file_size,
            file_hash: bf.file_hash.clone(),
            compression: compression.to_owned(),
            parts,
            offline_mode: req.offline_mode.unwrap_or(false),
            upload_until,
        }),
    })?;
    Ok((StatusCode::CREATED, Json(json!({"referenceNumber": reference, "partUploadRequests": uploads}))))
}

/// `PUT /storage/batch/{session}/{ordinal}?se=&sig=`: the pre-signed part upload (no token, not
/// rate-limited). 403 for a bad or expired link, 400 for an unknown part or a second upload.
pub(crate) async fn upload_part(
    State(app): State<Arc<AppState>>,
    Path((session, ordinal)): Path<(String, u32)>,
    Query(q): Query<HashMap<String, String>>,
    body: Bytes,
) -> Response {
    let path = format!("batch/{session}/{ordinal}");
    let se = q.get("se").and_then(|s| s.parse::<i64>().ok());
    let valid = match (se, q.get("sig")) {
        (Some(se), Some(sig)) => app.now().timestamp() <= se && app.jwt.tag(format!("{path}|{se}").as_bytes()) == *sig,
        _ => false,
    };
    if !valid {
        return StatusCode::FORBIDDEN.into_response();
    }
    let Ok(Some(s)) = app.store.session(&session) else { return StatusCode::BAD_REQUEST.into_response() };
    let declared = s.batch.as_ref().is_some_and(|b| b.parts.iter().any(|p| p.ordinal == ordinal));
    if !declared || s.status.code != 100 {
        return StatusCode::BAD_REQUEST.into_response();
    }
    match app.store.put_part(&session, ordinal, body.to_vec()) {
        Ok(()) => {}
        Err(_) => return StatusCode::BAD_REQUEST.into_response(),
    }
    let _ = app.store.update_session(&session, &mut |s| {
        if let Some(b) = &mut s.batch
            && let Some(p) = b.parts.iter_mut().find(|p| p.ordinal == ordinal)
        {
            p.uploaded = true;
        }
    });
    StatusCode::CREATED.into_response()
}

fn fail_session(app: &AppState, reference: &str, status: StatusInfo) -> Result<(), ApiError> {
    let now = app.now();
    app.store.update_session(reference, &mut |s| {
        s.status = status.clone();
        s.closed = Some(now);
        s.updated = now;
    })?;
    Ok(())
}

/// Decompressed bytes one archive entry may have before the package counts as a decompression
/// bomb: four times the largest invoice KSeF accepts, so that an oversized but plausible invoice
/// still reaches the per-invoice size check (and its rejection) while a bomb cannot exhaust
/// memory.
const ENTRY_BOMB_FACTOR: u64 = 4;
/// Decompressed bytes a whole package may have (the batch package limit is 5 GB compressed; the
/// emulator holds the unpacked invoices in memory).
const MAX_UNPACKED_TOTAL: u64 = 2 << 30;

/// Reads one entry, refusing more than `cap` bytes.
fn read_capped(name: &str, r: impl Read, cap: u64, total: &mut u64) -> Result<Vec<u8>, String> {
    let mut buf = Vec::new();
    r.take(cap + 1).read_to_end(&mut buf).map_err(|e| e.to_string())?;
    if buf.len() as u64 > cap {
        return Err(format!("{name}: rozpakowany plik przekracza {cap} B (bomba dekompresyjna)"));
    }
    *total += buf.len() as u64;
    if *total > MAX_UNPACKED_TOTAL {
        return Err(format!("rozpakowane archiwum przekracza {MAX_UNPACKED_TOTAL} B"));
    }
    Ok(buf)
}

/// Unpacks the archive into `(file name, bytes)` pairs (directories skipped); an entry larger
/// than `entry_cap` or a total beyond [`MAX_UNPACKED_TOTAL`] is an error (a decompression bomb).
fn unpack(archive: &[u8], compression: &str, limit: usize, entry_cap: u64) -> Result<Vec<(String, Vec<u8>)>, String> {
    let mut out = Vec::new();
    let mut total = 0u64;
    if compression == "TarGz" {
        let gz = flate2::read::GzDecoder::new(archive);
        let mut tar = tar::Archive::new(gz);
        for entry in tar.entries().map_err(|e| e.to_string())? {
            let mut e = entry.map_err(|e| e.to_string())?;
            if !e.header().entry_type().is_file() {
                continue;
            }
            let name = e.path().map_err(|e| e.to_string())?.to_string_lossy().into_owned();
            let buf = read_capped(&name, &mut e, entry_cap, &mut total)?;
            out.push((name, buf));
            if out.len() > limit {
                break;
            }
        }
        // Read the gzip stream to its end so that its CRC-32 and length trailer are checked.
        std::io::copy(&mut tar.into_inner(), &mut std::io::sink()).map_err(|e| e.to_string())?;
    } else {
        let mut zip = zip::ZipArchive::new(std::io::Cursor::new(archive)).map_err(|e| e.to_string())?;
        for i in 0..zip.len() {
            let mut f = zip.by_index(i).map_err(|e| e.to_string())?;
            if f.is_dir() {
                continue;
            }
            let name = f.name().map_err(|e| e.to_string())?.into_owned();
            let buf = read_capped(&name, &mut f, entry_cap, &mut total)?;
            out.push((name, buf));
            if out.len() > limit {
                break;
            }
        }
    }
    Ok(out)
}

async fn close_batch(
    State(app): State<Arc<AppState>>,
    Extension(caller): Extension<Caller>,
    Path(reference): Path<String>,
) -> Result<StatusCode, ApiError> {
    let s = load_session(&app, &caller, &reference)?;
    let Some(batch) = s.batch.clone().filter(|_| s.kind == SessionKind::Batch) else {
        return Err(no_session(&reference));
    };
    if s.status.code != 100 {
        return Err(ApiError::code(21180, [format!("Status sesji {} uniemożliwia jej zamknięcie.", s.status.code)]));
    }
    let now = app.now();
    let mut encrypted = Vec::new();
    for p in &batch.parts {
        let Some(data) = app.store.part(&reference, p.ordinal)? else {
            if now > batch.upload_until {
                return Err(ApiError::code(21208, ["Sesja anulowana, przekroczony czas wysyłki."]));
            }
            return Err(ApiError::code(21205, [format!("Nie przesłano zadeklarowanej '{}' części pliku.", p.ordinal)]));
        };
        if data.len() as u64 != p.size {
            return Err(ApiError::code(
                21157,
                [format!("Zadeklarowany rozmiar części '{}' nie zgadza się z rzeczywistym.", p.ordinal)],
            ));
        }
        encrypted.push((p, data));
    }
    let mut moved = false;
    app.store.update_session(&reference, &mut |s| {
        moved = s.status.code == 100;
        if moved {
            s.status = StatusInfo::new(150, "Trwa przetwarzanie");
            s.updated = now;
        }
    })?;
    if moved {
        app.jobs.submit(&app, Job::CloseBatch { session: reference.clone() }).await?;
    }
    Ok(StatusCode::NO_CONTENT)
}

/// The worker's half of closing a batch session (status 150): part hashes, key, decryption,
/// archive hash and size, unpacking, every invoice through the pipeline, final status. A rerun
/// after a restart continues after the invoices already stored; a session no longer at 150 is
/// left alone.
pub(crate) fn process_batch(app: &AppState, reference: &str) -> Result<(), ApiError> {
    let Some(s) = app.store.session(reference)? else { return Ok(()) };
    let Some(batch) = s.batch.clone().filter(|_| s.kind == SessionKind::Batch && s.status.code == 150) else {
        return Ok(());
    };
    let mut encrypted = Vec::new();
    for p in &batch.parts {
        let Some(data) = app.store.part(reference, p.ordinal)? else {
            fail_session(
                app,
                reference,
                StatusInfo::new(405, "Błąd weryfikacji poprawności dostarczonych elementów paczki"),
            )?;
            return Ok(());
        };
        encrypted.push((p, data));
    }
    let reference = reference.to_owned();
    let bad_parts = || StatusInfo::new(405, "Błąd weryfikacji poprawności dostarczonych elementów paczki");
    if encrypted.iter().any(|(p, d)| B64.encode(Sha256::digest(d)) != p.hash) {
        fail_session(app, &reference, bad_parts())?;
        return Ok(());
    }
    let Some(key) = &s.key else {
        fail_session(app, &reference, StatusInfo::new(415, "Błąd odszyfrowania dostarczonego klucza"))?;
        return Ok(());
    };
    let mut archive = Vec::new();
    for (_, d) in &encrypted {
        match pipeline::decrypt(&key.0, &s.iv, d) {
            Ok(plain) => archive.extend_from_slice(&plain),
            Err(_) => {
                fail_session(
                    app,
                    &reference,
                    StatusInfo::new(435, "Błąd odszyfrowania zaszyfrowanych części archiwum"),
                )?;
                return Ok(());
            }
        }
    }
    if archive.len() as u64 != batch.file_size || B64.encode(Sha256::digest(&archive)) != batch.file_hash {
        fail_session(app, &reference, bad_parts())?;
        return Ok(());
    }
    let session_limits = app.session_limits(&s.context, false);
    let limit = session_limits.max_invoices as usize;
    let entry_cap = session_limits.max_invoice_with_attachment_size_mb.max(1) * 1_000_000 * ENTRY_BOMB_FACTOR;
    let files = match unpack(&archive, &batch.compression, limit, entry_cap) {
        Ok(f) => f,
        Err(e) => {
            fail_session(app, &reference, StatusInfo::with_detail(430, "Błąd dekompresji pierwotnego archiwum", e))?;
            return Ok(());
        }
    };
    if files.len() > limit {
        fail_session(app, &reference, StatusInfo::new(420, "Przekroczony limit faktur w sesji"))?;
        return Ok(());
    }
    // Invoices stored by an interrupted run stay; processing continues after them.
    let done = app.store.session_invoices(&reference)?.len();
    for (i, (name, plain)) in files.into_iter().enumerate().skip(done) {
        let rec = pipeline::process(
            app,
            &s,
            Submission {
                reference: app.reference("EE"),
                ordinal: i as u64 + 1,
                invoice_hash: B64.encode(Sha256::digest(&plain)),
                invoice_size: plain.len() as u64,
                payload: Payload::Plain(plain),
                file_name: Some(name),
                offline_mode: batch.offline_mode,
                // In a batch session every invoice is accepted at the session's opening time.
                invoicing_date: s.created,
            },
        )?;
        app.store.insert_invoice(rec)?;
    }
    // Final state, counters and UPO pages as for online sessions.
    finish(app, &reference)?;
    Ok(())
}
