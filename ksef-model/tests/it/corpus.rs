//! The checked-in hostile corpus (`hostile-corpus/`, `cargo xtask hostile-corpus`), target
//! `model`: every identifier case is refused by its parser with an `IdError` naming the expected
//! identifier kind, with a short message (the input is not echoed in bulk), and never panics.

use std::path::PathBuf;
use std::str::FromStr;

use ksef_model::{
    CollectiveIdentifier, IdError, InternalId, KsefNumber, Nip, NipVatUe, PeppolId, Pesel, ReferenceNumber,
};
use serde_json::Value;

fn corpus() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../hostile-corpus")
}

fn parse<T: FromStr<Err = IdError>>(s: &str) -> Result<(), IdError> {
    s.parse::<T>().map(drop)
}

#[test]
fn corpus_identifiers_are_typed_errors() {
    let manifest: Value =
        serde_json::from_slice(&std::fs::read(corpus().join("manifest.json")).expect("manifest")).expect("JSON");
    let mut failures = Vec::new();
    let mut checked = 0;
    for case in manifest["cases"].as_array().expect("cases") {
        let Some(expected) = case["expect"]["model"].as_str() else { continue };
        let file = case["file"].as_str().expect("file");
        let bytes = std::fs::read(corpus().join(file)).unwrap_or_else(|e| panic!("{file}: {e}"));
        let text = String::from_utf8(bytes).unwrap_or_else(|_| panic!("{file}: identifiers are UTF-8"));
        let ty = case["input"]["type"].as_str().expect("input.type");
        let outcome = std::panic::catch_unwind(|| match ty {
            "Nip" => parse::<Nip>(&text),
            "Pesel" => parse::<Pesel>(&text),
            "InternalId" => parse::<InternalId>(&text),
            "NipVatUe" => parse::<NipVatUe>(&text),
            "PeppolId" => parse::<PeppolId>(&text),
            "KsefNumber" => parse::<KsefNumber>(&text),
            "ReferenceNumber" => parse::<ReferenceNumber>(&text),
            "CollectiveIdentifier" => parse::<CollectiveIdentifier>(&text),
            other => panic!("unknown identifier type {other}"),
        });
        checked += 1;
        let actual = match outcome {
            Err(_) => "panic".to_owned(),
            Ok(Ok(())) => "Ok".to_owned(),
            Ok(Err(e)) => {
                if e.to_string().len() >= 300 {
                    failures.push(format!("{file}: the error echoes the input ({} chars)", e.to_string().len()));
                }
                format!("IdError({})", e.kind())
            }
        };
        if !expected.split('|').any(|x| x == actual) {
            failures.push(format!("{file}: expected {expected}, got {actual}"));
        }
    }
    println!("corpus (model): {checked} identifier cases, {} failed", failures.len());
    assert!(checked >= 100, "only {checked} identifier cases in the manifest");
    assert!(failures.is_empty(), "{} corpus cases failed:\n{}", failures.len(), failures.join("\n"));
}
