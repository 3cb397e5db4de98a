//! The checked-in hostile corpus (`hostile-corpus/`, `cargo xtask hostile-corpus`), target
//! `transport`: each `json-response` case (status + headers from the manifest, body from its
//! file) goes through `parse_response` and gives the manifest's `Error` variant (`Ok` for the
//! control), never a panic. A failure names the case file.

use std::path::PathBuf;

use ksef_model::operations::GetRateLimits;
use ksef_transport::parse_response;
use serde_json::Value;

fn corpus() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../hostile-corpus")
}

fn run(case: &Value, body: Vec<u8>) -> String {
    assert_eq!(case["input"]["operation"], "GetRateLimits", "only GetRateLimits replies are in the corpus");
    let mut b = http::Response::builder().status(case["input"]["status"].as_u64().expect("status") as u16);
    for h in case["input"]["headers"].as_array().expect("headers") {
        b = b.header(h[0].as_str().expect("name"), h[1].as_str().expect("value"));
    }
    let resp = b.body(body).expect("a valid http::Response");
    match parse_response::<GetRateLimits>(resp) {
        Ok(_) => "Ok".to_owned(),
        Err(e) => {
            let d = format!("{e:?}");
            format!("Error::{}", d.chars().take_while(char::is_ascii_alphanumeric).collect::<String>())
        }
    }
}

#[test]
fn corpus_server_replies_are_typed_errors() {
    let manifest: Value =
        serde_json::from_slice(&std::fs::read(corpus().join("manifest.json")).expect("manifest")).expect("JSON");
    let mut failures = Vec::new();
    let mut checked = 0;
    for case in manifest["cases"].as_array().expect("cases") {
        let Some(expected) = case["expect"]["transport"].as_str() else { continue };
        let file = case["file"].as_str().expect("file");
        let body = std::fs::read(corpus().join(file)).unwrap_or_else(|e| panic!("{file}: {e}"));
        let actual = std::panic::catch_unwind(|| run(case, body)).unwrap_or_else(|_| "panic".to_owned());
        checked += 1;
        if !expected.split('|').any(|x| x == actual) {
            failures.push(format!("{file}: expected {expected}, got {actual}"));
        }
    }
    println!("corpus (transport): {checked} replies, {} failed", failures.len());
    assert!(checked >= 40, "only {checked} reply cases in the manifest");
    assert!(failures.is_empty(), "{} corpus cases failed:\n{}", failures.len(), failures.join("\n"));
}
