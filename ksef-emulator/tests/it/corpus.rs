//! The checked-in hostile corpus (`hostile-corpus/`, `cargo xtask hostile-corpus`), target
//! `emulator`, over loopback HTTP against one started emulator (rate limits off):
//!
//! - `xml/`, `xades/`: the body of `POST /auth/xades-signature` → 400 with KSeF's exception code;
//! - `invoice/`: sent properly encrypted in an online session of the corpus seller's context →
//!   the invoice's final status (polled until it leaves 100/150);
//! - `zip/`, `targz/`: the package of a batch session (one encrypted part, uploaded, closed) →
//!   the session's final status (polled), or the synchronous refusal of the open;
//! - `json-request/`: the body of the named request, with a valid token → 400 + code;
//! - `ids/`: KSeF and reference numbers in URL paths → 400 + code.
//!
//! Each case must give the manifest's outcome and the server must stay up (a later control case
//! still succeeds). A failure names the case file.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use ksef_emulator::domain::Identifier;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use crate::common::*;
use crate::sessions::{Crypto, fa3, open, send_body, session_crypto};

/// The corpus invoices' seller (`SELLER_NIP` in `xtask/src/corpus/text.rs`).
const SELLER: &str = "5265877635";

fn corpus() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../hostile-corpus")
}

struct Ctx {
    http: Http,
    agent: ureq::Agent,
    token: String,
    crypto: Crypto,
    online: String,
}

/// A raw request with the context token: `{status, code}` (code: the first exception code, if any).
fn raw(ctx: &Ctx, method: &str, path: &str, content_type: &str, body: &[u8]) -> Value {
    let url = format!("{}{path}", ctx.http.base);
    let auth = format!("Bearer {}", ctx.token);
    let res = match method {
        "GET" => ctx.agent.get(&url).header("Authorization", &auth).call(),
        "POST" => ctx.agent.post(&url).header("Authorization", &auth).header("Content-Type", content_type).send(body),
        m => panic!("method {m}"),
    };
    let mut res = res.expect("HTTP exchange");
    let status = res.status().as_u16();
    let bytes = res.body_mut().read_to_vec().expect("body");
    outcome(status, &bytes)
}

fn outcome(status: u16, body: &[u8]) -> Value {
    let v: Value = serde_json::from_slice(body).unwrap_or(Value::Null);
    let code = v["exception"]["exceptionDetailList"][0]["exceptionCode"]
        .as_u64()
        .or_else(|| v["errors"][0]["code"].as_u64())
        .or_else(|| v["code"].as_u64());
    match code {
        Some(c) => json!({"status": status, "code": c}),
        None => json!({"status": status}),
    }
}

/// Polls `path` until `status.code` leaves 100/150 (asynchronous processing), at most 20 s.
fn final_status(ctx: &Ctx, path: &str) -> u64 {
    let start = Instant::now();
    loop {
        let r = ctx.http.get(path, Some(&ctx.token));
        assert_eq!(r.status, 200, "GET {path}: {}", r.text());
        let code = r.json()["status"]["code"].as_u64().expect("status.code");
        if !matches!(code, 100 | 150) {
            return code;
        }
        assert!(start.elapsed() < Duration::from_secs(20), "GET {path}: still {code} after 20 s");
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn send_invoice(ctx: &Ctx, plain: &[u8]) -> Value {
    let body = serde_json::to_vec(&send_body(&ctx.crypto, plain)).expect("JSON");
    let path = format!("/sessions/online/{}/invoices", ctx.online);
    let url = format!("{}{path}", ctx.http.base);
    let mut res = ctx
        .agent
        .post(&url)
        .header("Authorization", &format!("Bearer {}", ctx.token))
        .header("Content-Type", "application/json")
        .send(&body)
        .expect("HTTP exchange");
    let status = res.status().as_u16();
    let bytes = res.body_mut().read_to_vec().expect("body");
    if status != 202 {
        return outcome(status, &bytes);
    }
    let v: Value = serde_json::from_slice(&bytes).expect("JSON");
    let inv = v["referenceNumber"].as_str().expect("referenceNumber");
    json!({"invoice_status": final_status(ctx, &format!("/sessions/{}/invoices/{inv}", ctx.online))})
}

fn encrypt(c: &Crypto, plain: &[u8]) -> Vec<u8> {
    use aes::cipher::block_padding::Pkcs7;
    use aes::cipher::{BlockModeEncrypt, KeyIvInit};
    cbc::Encryptor::<aes::Aes256>::new_from_slices(&c.key, &c.iv).expect("key").encrypt_padded_vec::<Pkcs7>(plain)
}

/// A batch session with the package as its single part: opened, uploaded, closed, polled.
fn send_batch(ctx: &Ctx, archive: &[u8], compression: &str) -> Value {
    let c = &ctx.crypto;
    let part = encrypt(c, archive);
    let body = json!({"formCode": fa3(),
        "batchFile": {"fileSize": archive.len(), "fileHash": B64.encode(Sha256::digest(archive)), "compressionType": compression,
            "fileParts": [{"ordinalNumber": 1, "fileSize": part.len(), "fileHash": B64.encode(Sha256::digest(&part))}]},
        "encryption": {"encryptedSymmetricKey": c.wrapped, "initializationVector": B64.encode(c.iv), "publicKeyId": c.public_key_id}});
    let r = ctx.http.post("/sessions/batch", Some(&ctx.token), Some(&body));
    if r.status != 201 {
        return outcome(r.status, &r.body);
    }
    let v = r.json();
    let session = v["referenceNumber"].as_str().expect("referenceNumber").to_owned();
    let url = v["partUploadRequests"][0]["url"].as_str().expect("url");
    let put = ctx.agent.put(url).header("x-ms-blob-type", "BlockBlob").send(&part).expect("upload").status().as_u16();
    assert_eq!(put, 201, "upload");
    let close = ctx.http.post(&format!("/sessions/batch/{session}/close"), Some(&ctx.token), None);
    if close.status != 204 {
        return outcome(close.status, &close.body);
    }
    json!({"session_status": final_status(ctx, &format!("/sessions/{session}"))})
}

/// Percent-encodes everything but unreserved characters, so any identifier fits a URL path.
fn path_segment(s: &str) -> String {
    s.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

fn run(ctx: &Ctx, case: &Value, bytes: &[u8]) -> Value {
    let file = case["file"].as_str().expect("file");
    match case["category"].as_str().expect("category") {
        "xml" | "xades" => {
            let r = ctx.http.post_raw("/auth/xades-signature", "application/xml", bytes);
            outcome(r.status, &r.body)
        }
        "invoice" => send_invoice(ctx, bytes),
        "zip" | "targz" => send_batch(ctx, bytes, case["input"]["compression"].as_str().expect("compression")),
        "json-request" => {
            let method = case["input"]["method"].as_str().expect("method");
            raw(ctx, method, case["input"]["path"].as_str().expect("path"), "application/json", bytes)
        }
        "ids" => {
            let id = path_segment(std::str::from_utf8(bytes).expect("UTF-8 identifier"));
            let path = match case["input"]["type"].as_str() {
                Some("KsefNumber") => format!("/invoices/ksef/{id}"),
                Some("ReferenceNumber") => format!("/sessions/{id}"),
                other => panic!("{file}: no emulator route for identifier type {other:?}"),
            };
            raw(ctx, "GET", &path, "", b"")
        }
        other => panic!("{file}: no emulator harness for category {other}"),
    }
}

#[test]
fn corpus_against_the_emulator_over_http() {
    let manifest: Value =
        serde_json::from_slice(&std::fs::read(corpus().join("manifest.json")).expect("manifest")).expect("JSON");
    let emu = ksef_emulator::Emulator::builder().rate_limits(false).start().expect("emulator starts");
    let http = Http::new(&emu);
    let (token, _, _) = login(&emu, &http, Identifier::nip(SELLER), Identifier::nip(SELLER));
    let crypto = session_crypto(&http);
    let online = open(&http, &token, &crypto, fa3());
    let agent: ureq::Agent = ureq::Agent::config_builder().http_status_as_error(false).build().into();
    let ctx = Ctx { http, agent, token, crypto, online };

    let started = Instant::now();
    let mut failures = Vec::new();
    let mut per_category = BTreeMap::<String, (usize, usize)>::new();
    for case in manifest["cases"].as_array().expect("cases") {
        let expected = &case["expect"]["emulator"];
        if expected.is_null() {
            continue;
        }
        let file = case["file"].as_str().expect("file");
        let bytes = std::fs::read(corpus().join(file)).unwrap_or_else(|e| panic!("{file}: {e}"));
        let actual =
            std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| run(&ctx, case, &bytes))).unwrap_or_else(|p| {
                let msg =
                    p.downcast_ref::<String>().cloned().or_else(|| p.downcast_ref::<&str>().map(|s| (*s).to_owned()));
                json!({"panic": msg})
            });
        let entry = per_category.entry(case["category"].as_str().expect("category").to_owned()).or_default();
        entry.0 += 1;
        if actual == *expected {
            entry.1 += 1;
        } else {
            failures.push(format!("{file}: expected {expected}, got {actual}"));
        }
    }
    // Still up and still right after everything: a fresh valid invoice is accepted.
    let after = send_invoice(&ctx, crate::sessions::invoice_xml(SELLER, "HC/AFTER/2026").as_slice());
    assert_eq!(after, json!({"invoice_status": 200}), "the emulator after the corpus");
    println!("corpus (emulator): {per_category:?} (cases, passed) in {:?}", started.elapsed());
    let total: usize = per_category.values().map(|v| v.0).sum();
    assert!(total >= 150, "only {total} emulator cases in the manifest");
    assert!(failures.is_empty(), "{} corpus cases failed:\n{}", failures.len(), failures.join("\n"));
}
