//! Every deviation from the upstream spec, one function each.
//!
//! A fixup returns an error when it matched nothing: when upstream fixes the problem, generation
//! fails and the fixup is deleted instead of silently lingering (the k8s-openapi habit).

use anyhow::{Result, bail, ensure};
use serde_json::{Map, Value};

use super::operations::{OperationNames, for_each_operation_mut};

type Fixup = fn(&mut Value, &OperationNames) -> Result<usize>;

/// The fixups, in the order they run.
const FIXUPS: &[(&str, Fixup)] = &[
    ("synthesize_operation_ids", synthesize_operation_ids),
    ("collapse_request_allof_wrappers", collapse_request_allof_wrappers),
    ("allowed_ips_array_bounds", allowed_ips_array_bounds),
    ("exception_timestamp_without_offset", exception_timestamp_without_offset),
];

/// Applies every fixup; fails if one of them matched nothing.
pub fn apply_all(spec: &mut Value, names: &OperationNames) -> Result<()> {
    for (name, fixup) in FIXUPS {
        let hits = fixup(spec, names)?;
        ensure!(hits > 0, "fixup `{name}` matched nothing: upstream fixed it? Remove the fixup.");
    }
    Ok(())
}

/// The spec has no `operationId`s at all (progenitor refuses such specs, and names are public
/// API), so every operation gets the reviewed name from `xtask/spec/operations.toml`.
fn synthesize_operation_ids(spec: &mut Value, names: &OperationNames) -> Result<usize> {
    let mut hits = 0;
    let mut err = None;
    let mut seen = Vec::new();
    for_each_operation_mut(spec, |method, path, op| {
        seen.push(OperationNames::key(method, path));
        if let Some(existing) = op.get("operationId") {
            err.get_or_insert_with(|| format!("{method} {path} now has operationId {existing}"));
            return;
        }
        match names.get(method, path) {
            Some(entry) => {
                op.insert("operationId".into(), Value::String(entry.name.clone()));
                hits += 1;
            }
            None => {
                err.get_or_insert_with(|| format!("{method} {path} has no entry in xtask/spec/operations.toml"));
            }
        }
    });
    if let Some(e) = err {
        bail!(e);
    }
    names.ensure_exactly(&seen)?;
    Ok(hits)
}

/// Request bodies are declared inline as `{required: [...], allOf: [{$ref: X}]}`. The `required`
/// list only repeats (a subset of) X's own, so the wrapper is replaced by the `$ref`: one named
/// type per body instead of an anonymous copy. Fails if a wrapper adds anything X lacks.
fn collapse_request_allof_wrappers(spec: &mut Value, _: &OperationNames) -> Result<usize> {
    let schemas = spec["components"]["schemas"].clone();
    let mut hits = 0;
    let mut err = None;
    for_each_operation_mut(spec, |method, path, op| {
        let Some(content) = op.get_mut("requestBody").and_then(|b| b.get_mut("content")).and_then(Value::as_object_mut)
        else {
            return;
        };
        for media in content.values_mut() {
            let Some(schema) = media.get_mut("schema").and_then(Value::as_object_mut) else {
                continue;
            };
            let Some(target) = single_allof_ref(schema) else {
                continue;
            };
            if let Some(extra) = schema.keys().find(|k| *k != "allOf" && *k != "required") {
                err.get_or_insert_with(|| format!("{method} {path}: request wrapper has `{extra}`"));
                continue;
            }
            let target_required = required_of(&schemas[target.rsplit('/').next().unwrap_or_default()]);
            let wrapper_required = schema.get("required").map(required_of).unwrap_or_default();
            if let Some(missing) = wrapper_required.iter().find(|r| !target_required.contains(r)) {
                err.get_or_insert_with(|| format!("{method} {path}: wrapper requires `{missing}`, {target} does not"));
                continue;
            }
            let mut replacement = Map::new();
            replacement.insert("$ref".into(), Value::String(target));
            *schema = replacement;
            hits += 1;
        }
    });
    if let Some(e) = err {
        bail!(e);
    }
    Ok(hits)
}

fn single_allof_ref(schema: &Map<String, Value>) -> Option<String> {
    match schema.get("allOf")?.as_array()?.as_slice() {
        [one] => one.get("$ref")?.as_str().map(str::to_owned),
        _ => None,
    }
}

fn required_of(v: &Value) -> Vec<String> {
    let list = if v.is_array() { v } else { &v["required"] };
    list.as_array().map(|a| a.iter().filter_map(|s| s.as_str().map(str::to_owned)).collect()).unwrap_or_default()
}

/// `AllowedIps` bounds its arrays with `minimum`/`maximum` (number keywords) instead of
/// `minItems`/`maxItems` (protocol digest §18 #10); the intended limit is 0..10 items.
fn allowed_ips_array_bounds(spec: &mut Value, _: &OperationNames) -> Result<usize> {
    let mut hits = 0;
    let Some(props) = spec["components"]["schemas"]["AllowedIps"]["properties"].as_object_mut() else {
        bail!("AllowedIps has no properties");
    };
    for prop in props.values_mut() {
        let Some(obj) = prop.as_object_mut() else {
            continue;
        };
        if obj.get("type").and_then(Value::as_str) != Some("array") {
            continue;
        }
        for (from, to) in [("minimum", "minItems"), ("maximum", "maxItems")] {
            if let Some(v) = obj.remove(from) {
                obj.insert(to.into(), v);
                hits += 1;
            }
        }
    }
    Ok(hits)
}

/// `ExceptionInfo.timestamp` is declared `date-time` (offset required), but the spec's own example
/// and the real server send `2025-10-11T12:23:56.0154302` without an offset (digest §18 #19). A
/// strict type would turn every legacy 400 body into a decode error, so the field stays a string.
fn exception_timestamp_without_offset(spec: &mut Value, _: &OperationNames) -> Result<usize> {
    let ts = &mut spec["components"]["schemas"]["ExceptionInfo"]["properties"]["timestamp"];
    match ts.as_object_mut() {
        Some(obj) if obj.get("format").and_then(Value::as_str) == Some("date-time") => {
            obj.remove("format");
            obj.insert(
                "description".into(),
                Value::String(
                    "Server time of the error. KSeF sends it without a UTC offset \
                     (e.g. `2025-10-11T12:23:56.0154302`), so it is kept as text."
                        .into(),
                ),
            );
            Ok(1)
        }
        _ => Ok(0),
    }
}
