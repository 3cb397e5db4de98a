//! The checked-in hostile corpus (`hostile-corpus/`, `cargo xtask hostile-corpus`), target
//! `crypto`: generic hostile XML and hostile XAdES AuthTokenRequests through the verifier, corrupt
//! certificates and keys through their loaders. Each gives the manifest's typed error (`Ok` for
//! the control cases), never a panic. A failure names the case file.

use std::path::PathBuf;

use ksef_crypto::xades::{VerifyOptions, verify};
use ksef_crypto::{Certificate, ContextIdentifier, PrivateKey, UnixTime};
use serde_json::Value;

/// 2026-06-01: inside the corpus certificates' validity (2025-01-01 + 20 years).
const AT: UnixTime = UnixTime::from_secs(1_780_272_000);

fn corpus() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../hostile-corpus")
}

/// The variant name of a `Debug` string: `DigestMismatch(0)` → `DigestMismatch`.
fn variant(debug: &str) -> String {
    debug.chars().take_while(|c| c.is_ascii_alphanumeric() || *c == '_').collect()
}

fn outcome<E: std::fmt::Debug>(prefix: &str, r: Result<(), E>) -> String {
    match r {
        Ok(()) => "Ok".to_owned(),
        Err(e) => format!("{prefix}::{}", variant(&format!("{e:?}"))),
    }
}

fn run(file: &str, category: &str, bytes: &[u8], context_nip: Option<&str>) -> String {
    let text = || std::str::from_utf8(bytes).unwrap_or_else(|_| panic!("{file}: the crypto target needs UTF-8"));
    match category {
        "xml" | "xades" => match (verify(text(), &VerifyOptions::at(AT)), context_nip) {
            // A verified request must say exactly what was signed: the whole context NIP (a
            // comment inside it is dropped by canonicalization, not allowed to truncate it).
            (Ok(v), Some(nip)) => match v.auth_token_request() {
                Ok(req) if req.context == ContextIdentifier::Nip(nip.to_owned()) => "Ok".to_owned(),
                Ok(req) => format!("Ok but the context read is {:?}", req.context),
                Err(e) => format!("Ok but the request does not parse: {e:?}"),
            },
            (r, _) => outcome("VerifyError", r.map(drop)),
        },
        "cert" if file.ends_with(".pem") => outcome("Error", Certificate::from_pem(text()).map(drop)),
        "cert" => outcome("Error", Certificate::from_der(bytes).map(drop)),
        "key" if file.ends_with(".pem") => outcome("Error", PrivateKey::from_pem(text()).map(drop)),
        "key" => outcome("Error", PrivateKey::from_der(bytes).map(drop)),
        other => panic!("{file}: no crypto harness for category {other}"),
    }
}

#[test]
fn corpus_xml_xades_certificates_and_keys_are_typed_errors() {
    let manifest: Value =
        serde_json::from_slice(&std::fs::read(corpus().join("manifest.json")).expect("manifest")).expect("JSON");
    let mut failures = Vec::new();
    let mut per_category = std::collections::BTreeMap::<String, (usize, usize)>::new();
    for case in manifest["cases"].as_array().expect("cases") {
        let Some(expected) = case["expect"]["crypto"].as_str() else { continue };
        let file = case["file"].as_str().expect("file");
        let category = case["category"].as_str().expect("category");
        let bytes = std::fs::read(corpus().join(file)).unwrap_or_else(|e| panic!("{file}: {e}"));
        let context_nip = case["input"]["context_nip"].as_str();
        let actual = std::panic::catch_unwind(|| run(file, category, &bytes, context_nip))
            .unwrap_or_else(|_| "panic".to_owned());
        let entry = per_category.entry(category.to_owned()).or_default();
        entry.0 += 1;
        if expected.split('|').any(|x| x == actual) {
            entry.1 += 1;
        } else {
            failures.push(format!("{file}: expected {expected}, got {actual}"));
        }
    }
    println!("corpus (crypto): {per_category:?} (cases, passed)");
    let total: usize = per_category.values().map(|v| v.0).sum();
    assert!(total >= 80, "only {total} crypto cases in the manifest");
    assert!(failures.is_empty(), "{} corpus cases failed:\n{}", failures.len(), failures.join("\n"));
}
