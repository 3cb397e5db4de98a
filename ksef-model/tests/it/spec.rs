//! Reading the pinned spec from `../shared/ksef-spec/` (or `KSEF_OPENAPI`).

use std::path::PathBuf;

use serde_json::Value;

pub fn spec_path() -> PathBuf {
    std::env::var_os("KSEF_OPENAPI")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../shared/ksef-spec/openapi.json"))
}

pub fn load_spec() -> Value {
    let path = spec_path();
    let bytes = std::fs::read(&path)
        .unwrap_or_else(|e| panic!("reading the KSeF spec at {} (set KSEF_OPENAPI): {e}", path.display()));
    serde_json::from_slice(&bytes).expect("spec is JSON")
}

/// The name of the generated type for a body/response schema: a `$ref`, a single-`allOf` wrapper of
/// one (request bodies), or an array of one (`Vec<X>`).
pub fn schema_type_name(schema: &Value) -> Option<String> {
    if let Some(r) = schema.get("$ref").and_then(Value::as_str) {
        return Some(r.rsplit('/').next()?.to_owned());
    }
    if let Some([one]) = schema.get("allOf").and_then(Value::as_array).map(Vec::as_slice) {
        return schema_type_name(one);
    }
    if schema.get("type").and_then(Value::as_str) == Some("array") {
        return Some(format!("Vec<{}>", schema_type_name(&schema["items"])?));
    }
    None
}

pub const METHODS: &[&str] = &["get", "put", "post", "delete", "patch", "head", "options"];
