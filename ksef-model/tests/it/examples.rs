//! Every `example` embedded in the spec deserializes into its generated type and serializes back to
//! the same JSON (modulo key order, `null`s, number spelling and date-time spelling).

use std::collections::BTreeSet;

use serde_json::Value;

use crate::generated_dispatch::roundtrip_by_name;
use crate::spec::{load_spec, schema_type_name};

/// Examples in the pinned spec that break their own schema (protocol digest §18 #18). They must
/// fail, so that a fixed spec shows up here and the entry gets removed.
const KNOWN_BROKEN: &[&str] = &[
    // All eight examples lack the required `authenticationMethodInfo`.
    "GET /auth/{referenceNumber} 200 application/json",
    // Lacks the required `invoiceHash`.
    "GET /sessions/{referenceNumber}/invoices/{invoiceReferenceNumber} 200 application/json",
    // Lacks the required `collectiveIdentifierNumber`.
    "POST /collective-identifiers/invoices 200 application/json",
    // Provider id `P123456789` breaks the PeppolId pattern.
    "GET /peppol/query 200 application/json",
    // `DE123456789012` breaks the `DE\d{9}` VAT-number format.
    "POST /permissions/query/eu-entities/grants request application/json",
];

struct Example {
    location: String,
    type_name: String,
    value: Value,
}

fn collect_examples(spec: &Value) -> Vec<Example> {
    let mut out = Vec::new();
    let mut push_media = |location: String, media: &Value| {
        let Some(type_name) = schema_type_name(&media["schema"]) else {
            return;
        };
        if let Some(v) = media.get("example") {
            out.push(Example { location: location.clone(), type_name: type_name.clone(), value: v.clone() });
        }
        for (name, ex) in media.get("examples").and_then(Value::as_object).into_iter().flatten() {
            if let Some(v) = ex.get("value") {
                out.push(Example {
                    location: format!("{location} [{name}]"),
                    type_name: type_name.clone(),
                    value: v.clone(),
                });
            }
        }
    };
    for (path, item) in spec["paths"].as_object().expect("paths") {
        for (method, op) in item.as_object().expect("path item") {
            let method = method.to_uppercase();
            for (ct, media) in op["requestBody"]["content"].as_object().into_iter().flatten() {
                if ct.contains("json") {
                    push_media(format!("{method} {path} request {ct}"), media);
                }
            }
            for (status, resp) in op["responses"].as_object().into_iter().flatten() {
                for (ct, media) in resp["content"].as_object().into_iter().flatten() {
                    if ct.contains("json") {
                        push_media(format!("{method} {path} {status} {ct}"), media);
                    }
                }
            }
        }
    }
    for (name, schema) in spec["components"]["schemas"].as_object().expect("schemas") {
        if let Some(v) = schema.get("example") {
            out.push(Example {
                location: format!("components.schemas.{name}"),
                type_name: name.clone(),
                value: v.clone(),
            });
        }
    }
    out
}

/// `null`s dropped, numbers as f64, RFC 3339 date-times as instants.
fn normalize(v: &Value) -> Value {
    match v {
        Value::Object(m) => {
            Value::Object(m.iter().filter(|(_, v)| !v.is_null()).map(|(k, v)| (k.clone(), normalize(v))).collect())
        }
        Value::Array(a) => Value::Array(a.iter().map(normalize).collect()),
        Value::Number(n) => serde_json::json!(n.as_f64()),
        Value::String(s) => match chrono::DateTime::parse_from_rfc3339(s) {
            Ok(t) => Value::String(t.with_timezone(&chrono::Utc).to_rfc3339_opts(chrono::SecondsFormat::Nanos, true)),
            Err(_) => Value::String(s.clone()),
        },
        other => other.clone(),
    }
}

#[test]
fn every_spec_example_round_trips() {
    let spec = load_spec();
    let examples = collect_examples(&spec);
    assert!(!examples.is_empty(), "no examples found in the spec");

    let mut failures = Vec::new();
    let mut failed_locations = BTreeSet::new();
    let mut passed = 0;
    for ex in &examples {
        let result = roundtrip_by_name(&ex.type_name, ex.value.clone())
            .unwrap_or_else(|| panic!("{}: no generated type named {}", ex.location, ex.type_name));
        let outcome = match result {
            Ok(back) if normalize(&back) == normalize(&ex.value) => Ok(()),
            Ok(back) => Err(format!(
                "re-serialized JSON differs\n  example: {}\n  back:    {}",
                normalize(&ex.value),
                normalize(&back)
            )),
            Err(e) => Err(e),
        };
        let base = ex.location.split(" [").next().unwrap_or_default().to_owned();
        match outcome {
            Ok(()) => passed += 1,
            Err(e) => {
                failed_locations.insert(base.clone());
                if !KNOWN_BROKEN.contains(&base.as_str()) {
                    failures.push(format!("{} ({}): {e}", ex.location, ex.type_name));
                }
            }
        }
    }
    let known_failed = examples.len() - passed - failures.len();
    println!(
        "spec examples: {} checked, {passed} round-tripped, {known_failed} known-broken examples failed as expected, {} unexpected failures",
        examples.len(),
        failures.len()
    );
    assert!(failures.is_empty(), "examples that do not round-trip:\n{}", failures.join("\n"));
    for known in KNOWN_BROKEN {
        assert!(
            failed_locations.contains(*known),
            "`{known}` is listed as broken but now round-trips: the spec was fixed, remove it from KNOWN_BROKEN"
        );
    }
}
