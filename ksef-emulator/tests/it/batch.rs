use std::io::Write;

use aes::cipher::block_padding::Pkcs7;
use aes::cipher::{BlockModeEncrypt, KeyIvInit};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use crate::common::*;
use crate::sessions::{Crypto, fa3, invoice_xml, owner_login, session_crypto};
use ksef_emulator::domain::Identifier;

fn zip_of(files: &[(&str, Vec<u8>)]) -> Vec<u8> {
    let mut w = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    let opts = zip::write::SimpleFileOptions::default().compression_method(zip::CompressionMethod::Deflated);
    for (name, data) in files {
        w.start_file(*name, opts).unwrap();
        w.write_all(data).unwrap();
    }
    w.finish().unwrap().into_inner()
}

fn targz_of(files: &[(&str, Vec<u8>)]) -> Vec<u8> {
    let mut b = tar::Builder::new(flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default()));
    for (name, data) in files {
        let mut h = tar::Header::new_gnu();
        h.set_size(data.len() as u64);
        h.set_mode(0o644);
        h.set_cksum();
        b.append_data(&mut h, name, data.as_slice()).unwrap();
    }
    b.into_inner().unwrap().finish().unwrap()
}

fn encrypt(c: &Crypto, plain: &[u8]) -> Vec<u8> {
    cbc::Encryptor::<aes::Aes256>::new_from_slices(&c.key, &c.iv).unwrap().encrypt_padded_vec::<Pkcs7>(plain)
}

/// Splits the archive into `n` parts, encrypts each, opens the session; returns (ref, parts, URLs).
fn open_batch(
    http: &Http,
    token: &str,
    c: &Crypto,
    archive: &[u8],
    n: usize,
    compression: &str,
) -> (String, Vec<Vec<u8>>, Vec<String>) {
    let chunk = archive.len().div_ceil(n);
    let parts: Vec<Vec<u8>> = archive.chunks(chunk).map(|p| encrypt(c, p)).collect();
    let file_parts: Vec<Value> = parts
        .iter()
        .enumerate()
        .map(|(i, p)| json!({"ordinalNumber": i + 1, "fileSize": p.len(), "fileHash": B64.encode(Sha256::digest(p))}))
        .collect();
    let body = json!({"formCode": fa3(),
        "batchFile": {"fileSize": archive.len(), "fileHash": B64.encode(Sha256::digest(archive)), "compressionType": compression, "fileParts": file_parts},
        "encryption": {"encryptedSymmetricKey": c.wrapped, "initializationVector": B64.encode(c.iv), "publicKeyId": c.public_key_id}});
    let r = http.post("/sessions/batch", Some(token), Some(&body));
    assert_eq!(r.status, 201, "{}", r.text());
    let v = r.json();
    let urls = v["partUploadRequests"]
        .as_array()
        .unwrap()
        .iter()
        .map(|u| {
            assert_eq!(u["method"], "PUT");
            assert_eq!(u["headers"]["x-ms-blob-type"], "BlockBlob");
            u["url"].as_str().unwrap().to_owned()
        })
        .collect();
    (v["referenceNumber"].as_str().unwrap().to_owned(), parts, urls)
}

fn put(url: &str, data: &[u8]) -> u16 {
    let agent: ureq::Agent = ureq::Agent::config_builder().http_status_as_error(false).build().into();
    agent.put(url).header("x-ms-blob-type", "BlockBlob").send(data).unwrap().status().as_u16()
}

fn run(compression: &str, seed: u32) {
    let emu = emulator();
    let http = Http::new(&emu);
    let (nip, token) = owner_login(&emu, &http, seed);
    let c = session_crypto(&http);
    let files =
        [("a.xml", invoice_xml(&nip, "B/1")), ("b.xml", invoice_xml(&nip, "B/2")), ("c.xml", invoice_xml(&nip, "B/1"))];
    let archive = if compression == "Zip" { zip_of(&files) } else { targz_of(&files) };
    let (s, parts, urls) = open_batch(&http, &token, &c, &archive, 2, compression);
    assert_eq!(s.parse::<ksef_model::ReferenceNumber>().unwrap().type_code(), "SB");
    // Closing before the parts are there → 21205.
    assert_eq!(http.post(&format!("/sessions/batch/{s}/close"), Some(&token), None).exception_codes(), [21205]);
    // A tampered link is refused; the real one accepts the part once.
    assert_eq!(put(&format!("{}0", urls[0]), &parts[0]), 403);
    for (u, p) in urls.iter().zip(&parts) {
        assert_eq!(put(u, p), 201);
    }
    assert_eq!(put(&urls[0], &parts[0]), 400);
    assert_eq!(http.post(&format!("/sessions/batch/{s}/close"), Some(&token), None).status, 204);
    let st = wait_session(&http, &token, &s);
    assert_eq!(st["status"]["code"], 200, "{st}");
    assert_eq!(st["successfulInvoiceCount"], 2);
    assert_eq!(st["failedInvoiceCount"], 1);
    assert!(st["upo"]["pages"][0]["referenceNumber"].is_string());
    let list = http.get(&format!("/sessions/{s}/invoices"), Some(&token)).json();
    let inv = list["invoices"].as_array().unwrap();
    assert_eq!(inv.len(), 3);
    let names: Vec<&str> = inv.iter().map(|i| i["invoiceFileName"].as_str().unwrap()).collect();
    assert_eq!(names, ["a.xml", "b.xml", "c.xml"]);
    assert_eq!(inv[0]["status"]["code"], 200);
    assert!(inv[0]["ksefNumber"].as_str().unwrap().parse::<ksef_model::KsefNumber>().is_ok());
    assert_eq!(inv[2]["status"]["code"], 440);
    assert_eq!(inv[2]["status"]["extensions"]["originalKsefNumber"], inv[0]["ksefNumber"]);
    assert_eq!(
        http.get("/sessions?sessionType=Batch", Some(&token)).json()["sessions"][0]["referenceNumber"],
        s.as_str()
    );
}

#[test]
fn batch_zip_end_to_end() {
    run("Zip", 700);
}

#[test]
fn batch_targz_end_to_end() {
    run("TarGz", 710);
}

#[test]
fn batch_errors() {
    let emu = emulator();
    let http = Http::new(&emu);
    let (nip, token) = owner_login(&emu, &http, 720);
    let c = session_crypto(&http);
    let archive = zip_of(&[("a.xml", invoice_xml(&nip, "E/1"))]);
    // A part whose bytes differ from the declared hash → session 405.
    let (s, parts, urls) = open_batch(&http, &token, &c, &archive, 1, "Zip");
    let mut wrong = parts[0].clone();
    wrong[0] ^= 1;
    assert_eq!(put(&urls[0], &wrong), 201);
    assert_eq!(http.post(&format!("/sessions/batch/{s}/close"), Some(&token), None).status, 204);
    assert_eq!(wait_session(&http, &token, &s)["status"]["code"], 405);
    // Not an archive → 430.
    let (s, parts, urls) = open_batch(&http, &token, &c, b"definitely not a zip file", 1, "Zip");
    assert_eq!(put(&urls[0], &parts[0]), 201);
    assert_eq!(http.post(&format!("/sessions/batch/{s}/close"), Some(&token), None).status, 204);
    assert_eq!(wait_session(&http, &token, &s)["status"]["code"], 430);
    // Open errors.
    let part = json!({"ordinalNumber": 1, "fileSize": 100_000_017u64, "fileHash": B64.encode([0u8; 32])});
    let mut body = json!({"formCode": fa3(), "batchFile": {"fileSize": 10, "fileHash": B64.encode([0u8; 32]), "fileParts": [part]},
        "encryption": {"encryptedSymmetricKey": c.wrapped, "initializationVector": B64.encode(c.iv)}});
    assert_eq!(http.post("/sessions/batch", Some(&token), Some(&body)).exception_codes(), [21157]);
    let many: Vec<Value> =
        (1..=51).map(|i| json!({"ordinalNumber": i, "fileSize": 16, "fileHash": B64.encode([0u8; 32])})).collect();
    body["batchFile"]["fileParts"] = json!(many);
    assert_eq!(http.post("/sessions/batch", Some(&token), Some(&body)).exception_codes(), [21161]);
    body["batchFile"]["fileParts"] = json!([{"ordinalNumber": 1, "fileSize": 16, "fileHash": B64.encode([0u8; 32])}]);
    body["formCode"] = json!({"systemCode": "PEF (3)", "schemaVersion": "2-1", "value": "PEF"});
    assert_eq!(http.post("/sessions/batch", Some(&token), Some(&body)).exception_codes(), [21405]);
}

/// §17.23/24: after the upload window (20 min × parts) a missing part cancels the close with
/// `21208`, and the expired link answers 403.
#[test]
fn batch_upload_window_expires() {
    let clock = std::sync::Arc::new(ksef_emulator::ManualClock::new(chrono::Utc::now()));
    let lifetimes = ksef_emulator::TokenLifetimes { access: chrono::Duration::hours(2), ..Default::default() };
    let emu = ksef_emulator::Emulator::builder().clock(clock.clone()).lifetimes(lifetimes).start().unwrap();
    let http = Http::new(&emu);
    let (nip, token) = owner_login(&emu, &http, 140);
    let c = session_crypto(&http);
    let archive = zip_of(&[("a.xml", invoice_xml(&nip, "W/1")), ("b.xml", invoice_xml(&nip, "W/2"))]);
    let (s, parts, urls) = open_batch(&http, &token, &c, &archive, 2, "Zip");
    assert_eq!(put(&urls[0], &parts[0]), 201);
    clock.advance(chrono::Duration::minutes(41));
    assert_eq!(put(&urls[1], &parts[1]), 403);
    assert_eq!(http.post(&format!("/sessions/batch/{s}/close"), Some(&token), None).exception_codes(), [21208]);
    // Never closed: after its 12 h lifetime the session is cancelled (440).
    clock.advance(chrono::Duration::hours(12));
    let (token, _, _) = login(&emu, &http, Identifier::nip(&nip), Identifier::nip(&nip));
    let st = http.get(&format!("/sessions/{s}"), Some(&token)).json();
    assert_eq!(st["status"]["code"], 440, "{st}");
}

/// More invoices in the archive than the context's batch limit → the session fails with 420.
#[test]
fn batch_over_the_invoice_limit_fails_with_420() {
    let emu = emulator();
    let http = Http::new(&emu);
    let (nip, token) = owner_login(&emu, &http, 145);
    let set = json!({"onlineSession": {"maxInvoiceSizeInMB": 1, "maxInvoiceWithAttachmentSizeInMB": 3, "maxInvoices": 10000},
                     "batchSession": {"maxInvoiceSizeInMB": 1, "maxInvoiceWithAttachmentSizeInMB": 3, "maxInvoices": 2},
                     "collectiveIdentifier": {"maxInvoices": 10}});
    assert_eq!(http.post("/testdata/limits/context/session", Some(&token), Some(&set)).status, 200);
    let c = session_crypto(&http);
    let files: Vec<(String, Vec<u8>)> =
        (1..=3).map(|i| (format!("{i}.xml"), invoice_xml(&nip, &format!("LIM/{i}")))).collect();
    let named: Vec<(&str, Vec<u8>)> = files.iter().map(|(n, x)| (n.as_str(), x.clone())).collect();
    let (s, parts, urls) = open_batch(&http, &token, &c, &zip_of(&named), 1, "Zip");
    assert_eq!(put(&urls[0], &parts[0]), 201);
    assert_eq!(http.post(&format!("/sessions/batch/{s}/close"), Some(&token), None).status, 204);
    let st = wait_session(&http, &token, &s);
    assert_eq!(st["status"]["code"], 420, "{st}");
    // Within the limit the same context's batch succeeds.
    let (s, parts, urls) = open_batch(&http, &token, &c, &zip_of(&named[..2]), 1, "Zip");
    assert_eq!(put(&urls[0], &parts[0]), 201);
    assert_eq!(http.post(&format!("/sessions/batch/{s}/close"), Some(&token), None).status, 204);
    assert_eq!(wait_session(&http, &token, &s)["status"]["code"], 200);
}

/// `storage_host_on_listening_port` (the CLI's `--storage-host HOST`): pre-signed links name the
/// host with the port the emulator was bound to.
#[test]
fn storage_host_gets_the_listening_port() {
    let emu = ksef_emulator::Emulator::builder().storage_host_on_listening_port("ksef-storage.test").start().unwrap();
    let http = Http::new(&emu);
    let (nip, token) = owner_login(&emu, &http, 145);
    let c = session_crypto(&http);
    let archive = zip_of(&[("a.xml", invoice_xml(&nip, "H/1"))]);
    let (_, _, urls) = open_batch(&http, &token, &c, &archive, 1, "Zip");
    let want = format!("http://ksef-storage.test:{}/storage/batch/", emu.addr().port());
    assert!(urls[0].starts_with(&want), "{} does not start with {want}", urls[0]);
}

/// A batch closed just before a stop (its processing still queued) is processed once after a
/// restart on the same data directory.
#[test]
fn queued_batch_completes_once_after_a_restart() {
    let dir = std::env::temp_dir().join(format!("ksef-emulator-batch-{}-{}", std::process::id(), fresh_nip(146)));
    let (token, s) = {
        let emu = ksef_emulator::Emulator::builder()
            .data_dir(&dir)
            .processing_delay(std::time::Duration::from_secs(3600))
            .start()
            .unwrap();
        let http = Http::new(&emu);
        let (nip, token) = owner_login(&emu, &http, 147);
        let c = session_crypto(&http);
        let files = [
            ("a.xml", invoice_xml(&nip, "Q/1")),
            ("b.xml", invoice_xml(&nip, "Q/2")),
            ("c.xml", invoice_xml(&nip, "Q/1")),
        ];
        let archive = zip_of(&files);
        let (s, parts, urls) = open_batch(&http, &token, &c, &archive, 2, "Zip");
        for (u, p) in urls.iter().zip(&parts) {
            assert_eq!(put(u, p), 201);
        }
        assert_eq!(http.post(&format!("/sessions/batch/{s}/close"), Some(&token), None).status, 204);
        assert_eq!(http.get(&format!("/sessions/{s}"), Some(&token)).json()["status"]["code"], 150);
        (token, s)
    };
    let emu = ksef_emulator::Emulator::builder().data_dir(&dir).start().unwrap();
    let http = Http::new(&emu);
    let st = wait_session(&http, &token, &s);
    assert_eq!(st["status"]["code"], 200, "{st}");
    assert_eq!((st["successfulInvoiceCount"].as_u64(), st["failedInvoiceCount"].as_u64()), (Some(2), Some(1)));
    assert!(emu.store().docs(ksef_emulator::worker::JOB_KIND).unwrap().is_empty());
    drop(emu);
    let emu = ksef_emulator::Emulator::builder().data_dir(&dir).start().unwrap();
    assert_eq!(emu.store().session_invoices(&s).unwrap().len(), 3);
    drop(emu);
    let _ = std::fs::remove_dir_all(&dir);
}

/// A batch job that runs again after its invoices were stored (a stop before its final status)
/// continues after them: no invoice is stored twice.
#[test]
fn a_rerun_batch_job_continues_after_the_stored_invoices() {
    use std::sync::Arc;

    use ksef_emulator::store::{MemoryStore, Store};
    let store: Arc<dyn Store> = Arc::new(MemoryStore::new());
    let s = {
        let emu = ksef_emulator::Emulator::builder().store(store.clone()).start().unwrap();
        let http = Http::new(&emu);
        let (nip, token) = owner_login(&emu, &http, 148);
        let c = session_crypto(&http);
        let archive = zip_of(&[("a.xml", invoice_xml(&nip, "V/1")), ("b.xml", invoice_xml(&nip, "V/2"))]);
        let (s, parts, urls) = open_batch(&http, &token, &c, &archive, 1, "Zip");
        assert_eq!(put(&urls[0], &parts[0]), 201);
        assert_eq!(http.post(&format!("/sessions/batch/{s}/close"), Some(&token), None).status, 204);
        assert_eq!(wait_session(&http, &token, &s)["status"]["code"], 200);
        s
    };
    let before: Vec<(String, Option<String>)> =
        store.session_invoices(&s).unwrap().into_iter().map(|i| (i.reference, i.ksef_number)).collect();
    assert_eq!(before.len(), 2);
    // As if the stop came after the invoices but before the final status and the job's removal.
    store
        .update_session(&s, &mut |r| r.status = ksef_emulator::domain::StatusInfo::new(150, "Trwa przetwarzanie"))
        .unwrap();
    let job = json!({"key": "00000000000000000077", "job": {"kind": "closeBatch", "session": s}});
    store.put_doc(ksef_emulator::worker::JOB_KIND, "00000000000000000077", "", &job.to_string()).unwrap();
    let _emu = ksef_emulator::Emulator::builder().store(store.clone()).start().unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while store.session(&s).unwrap().unwrap().status.code == 150 {
        assert!(std::time::Instant::now() < deadline, "the job was not rerun");
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    let session = store.session(&s).unwrap().unwrap();
    assert_eq!((session.status.code, session.successful_count, session.invoice_count), (200, 2, 2));
    let after: Vec<(String, Option<String>)> =
        store.session_invoices(&s).unwrap().into_iter().map(|i| (i.reference, i.ksef_number)).collect();
    assert_eq!(after, before);
}

/// Faults on the pre-signed storage host: `*` leaves it alone; `storage_upload` answers 503 or
/// drops the connection; a lost response stores the part (a retry is then refused as already
/// there, 400) and the session still completes; the counts show under `storage_upload`.
#[test]
fn storage_host_faults_are_injected_only_when_targeted() {
    use ksef_emulator::{HttpFaultRule, HttpFaults};
    let try_put = |url: &str, data: &[u8]| -> Result<u16, String> {
        let agent: ureq::Agent = ureq::Agent::config_builder().http_status_as_error(false).build().into();
        agent
            .put(url)
            .header("x-ms-blob-type", "BlockBlob")
            .send(data)
            .map(|r| r.status().as_u16())
            .map_err(|e| e.to_string())
    };
    let emu = emulator();
    let http = Http::new(&emu);
    let (nip, token) = owner_login(&emu, &http, 977);
    let c = session_crypto(&http);
    let files = [("a.xml", invoice_xml(&nip, "SF/1")), ("b.xml", invoice_xml(&nip, "SF/2"))];
    let (s, parts, urls) = open_batch(&http, &token, &c, &zip_of(&files), 3, "Zip");

    emu.set_http_faults(HttpFaults::default().rule("*", HttpFaultRule { error_5xx_rate: 1.0, ..Default::default() }))
        .unwrap();
    assert_eq!(try_put(&urls[0], &parts[0]), Ok(201), "`*` must not reach the storage host");

    let fault = |rule: HttpFaultRule| emu.set_http_faults(HttpFaults::default().rule("storage_upload", rule)).unwrap();
    fault(HttpFaultRule { error_5xx_rate: 1.0, ..Default::default() });
    assert_eq!(try_put(&urls[1], &parts[1]), Ok(503));
    fault(HttpFaultRule { drop_rate: 1.0, ..Default::default() });
    assert!(try_put(&urls[1], &parts[1]).is_err(), "the connection is dropped");
    fault(HttpFaultRule { lost_response_rate: 1.0, ..Default::default() });
    assert!(try_put(&urls[1], &parts[1]).is_err(), "the answer is lost");
    let stats = emu.fault_stats();
    assert_eq!((stats["lost_response"], stats["error_5xx"]), (1, 0), "counters restart per configuration: {stats:?}");
    emu.set_http_faults(HttpFaults::default()).unwrap();
    assert_eq!(try_put(&urls[1], &parts[1]), Ok(400), "the lost upload was stored");
    assert_eq!(try_put(&urls[2], &parts[2]), Ok(201));
    assert_eq!(http.post(&format!("/sessions/batch/{s}/close"), Some(&token), None).status, 204);
    let st = wait_session(&http, &token, &s);
    assert_eq!((st["status"]["code"].as_i64(), st["successfulInvoiceCount"].as_i64()), (Some(200), Some(2)), "{st}");
    // Unknown storage targets are still typed errors; the storage ones are accepted.
    assert!(HttpFaults::default().rule("storage", HttpFaultRule::default()).validate().is_ok());
    assert!(HttpFaults::default().rule("storage_uploads", HttpFaultRule::default()).validate().is_err());
}
