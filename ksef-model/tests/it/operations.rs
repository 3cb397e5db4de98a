//! The operation table covers the spec exactly.

use std::collections::BTreeSet;

use ksef_model::{Method, Operation, OperationParams, OperationSpec, ParamLocation, operations, types};
use serde_json::Value;

use crate::spec::{METHODS, load_spec, schema_type_name};

fn spec_operations(spec: &Value) -> BTreeSet<(String, String)> {
    let mut ops = BTreeSet::new();
    for (path, item) in spec["paths"].as_object().expect("paths") {
        for method in item.as_object().expect("item").keys() {
            if METHODS.contains(&method.as_str()) {
                ops.insert((method.to_uppercase(), path.clone()));
            }
        }
    }
    ops
}

#[test]
fn table_has_exactly_the_spec_operations() {
    let spec = load_spec();
    let in_spec = spec_operations(&spec);
    let in_table: BTreeSet<(String, String)> =
        ksef_model::OPERATIONS.iter().map(|o| (o.method.as_str().to_owned(), o.path.to_owned())).collect();
    println!("operations: {} in the spec, {} in the table", in_spec.len(), ksef_model::OPERATIONS.len());
    assert_eq!(ksef_model::OPERATIONS.len(), in_spec.len(), "one entry per operation");
    assert_eq!(in_table, in_spec);
    let names: BTreeSet<&str> = ksef_model::OPERATIONS.iter().map(|o| o.name).collect();
    assert_eq!(names.len(), ksef_model::OPERATIONS.len(), "names are unique");
}

#[test]
fn table_agrees_with_the_spec_on_every_operation() {
    let spec = load_spec();
    for op in ksef_model::OPERATIONS {
        let raw = &spec["paths"][op.path][op.method.as_str().to_lowercase()];
        let here = format!("{} {}", op.method, op.path);
        let bearer = raw["security"].as_array().is_some_and(|s| !s.is_empty());
        assert_eq!(op.bearer, bearer, "{here}: bearer");
        assert_eq!(u64::from(op.rate_limits.per_second), raw["x-rate-limits"]["perSecond"].as_u64().unwrap(), "{here}");
        assert_eq!(op.rate_limits.per_minute.map(u64::from), raw["x-rate-limits"]["perMinute"].as_u64(), "{here}");
        assert_eq!(op.rate_limits.per_hour.map(u64::from), raw["x-rate-limits"]["perHour"].as_u64(), "{here}");
        let perms: Vec<&str> = raw["x-required-permissions"]
            .as_array()
            .map(|a| a.iter().filter_map(Value::as_str).collect())
            .unwrap_or_default();
        assert_eq!(op.required_permissions, perms.as_slice(), "{here}: permissions");
        let params = raw["parameters"].as_array().map_or(0, Vec::len);
        assert_eq!(op.path_params.len() + op.query_params.len() + op.header_params.len(), params, "{here}: params");
        for p in op.path_params {
            assert_eq!(p.location, ParamLocation::Path);
            assert!(op.path.contains(&format!("{{{}}}", p.name)), "{here}: {} in template", p.name);
        }
        let success = raw["responses"].as_object().unwrap().keys().find(|s| s.starts_with('2')).unwrap();
        assert_eq!(op.response.status.to_string(), *success, "{here}: success status");
        match (&op.request_body, raw.get("requestBody")) {
            (None, None) => {}
            (Some(b), Some(rb)) => {
                let (ct, media) = rb["content"].as_object().unwrap().iter().next().unwrap();
                assert_eq!(b.content_type, ct, "{here}");
                if ct == "application/json" {
                    assert_eq!(Some(b.type_name.to_owned()), schema_type_name(&media["schema"]), "{here}");
                } else {
                    assert_eq!(b.type_name, "XmlDocument", "{here}");
                }
            }
            other => panic!("{here}: request body mismatch {other:?}"),
        }
        assert!(!op.rate_limit_group.is_empty(), "{here}: group");
    }
}

#[test]
fn rate_limit_groups_are_fields_of_effective_api_rate_limits() {
    let limits: types::EffectiveApiRateLimits = serde_json::from_value(serde_json::json!({
        "onlineSession": {"perSecond": 1, "perMinute": 1, "perHour": 1},
        "onlineSessionClose": {"perSecond": 1, "perMinute": 1, "perHour": 1},
        "batchSession": {"perSecond": 1, "perMinute": 1, "perHour": 1},
        "batchSessionClose": {"perSecond": 1, "perMinute": 1, "perHour": 1},
        "invoiceSend": {"perSecond": 1, "perMinute": 1, "perHour": 1},
        "invoiceStatus": {"perSecond": 1, "perMinute": 1, "perHour": 1},
        "sessionList": {"perSecond": 1, "perMinute": 1, "perHour": 1},
        "sessionInvoiceList": {"perSecond": 1, "perMinute": 1, "perHour": 1},
        "sessionMisc": {"perSecond": 1, "perMinute": 1, "perHour": 1},
        "invoiceMetadata": {"perSecond": 1, "perMinute": 1, "perHour": 1},
        "invoiceExport": {"perSecond": 1, "perMinute": 1, "perHour": 1},
        "invoiceExportStatus": {"perSecond": 1, "perMinute": 1, "perHour": 1},
        "invoiceDownload": {"perSecond": 1, "perMinute": 1, "perHour": 1},
        "collectiveIdentifier": {"perSecond": 1, "perMinute": 1, "perHour": 1},
        "other": {"perSecond": 1, "perMinute": 1, "perHour": 1},
        "anonymous": {"perSecond": 1, "perMinute": 1, "perHour": 1},
        "global": {"perSecond": 1, "perMinute": 1, "perHour": 1}
    }))
    .expect("the groups of the table are the schema's fields");
    let as_json = serde_json::to_value(&limits).unwrap();
    for op in ksef_model::OPERATIONS {
        assert!(as_json.get(op.rate_limit_group).is_some(), "{}: unknown group {}", op.name, op.rate_limit_group);
    }
}

#[test]
fn lookups_by_name_and_route() {
    let op = OperationSpec::by_name("send_invoice").unwrap();
    assert_eq!(op.path, "/sessions/online/{referenceNumber}/invoices");
    let failed = OperationSpec::by_route(Method::Get, "/sessions/20250101-SO-0000000000-0000000000-00/invoices/failed");
    assert_eq!(failed.unwrap().name, "list_failed_session_invoices");
    let status = OperationSpec::by_route(Method::Get, "/sessions/X/invoices/Y").unwrap();
    assert_eq!(status.name, "get_session_invoice_status");
    assert!(OperationSpec::by_route(Method::Get, "/nope").is_none());
    assert!(OperationSpec::by_route(Method::Delete, "/auth/challenge").is_none());
}

#[test]
fn marker_types_carry_types_and_params() {
    assert_eq!(operations::AuthXadesSignature::SPEC.request_body.unwrap().content_type, "application/xml");
    assert_eq!(operations::GetInvoice::SPEC.response.content_type, Some("application/xml"));
    let params = operations::ListSessionsParams {
        session_type: types::SessionType::Online,
        page_size: Some(100),
        statuses: vec![types::CommonSessionStatus::InProgress, types::CommonSessionStatus::Failed],
        continuation_token: Some("abc".into()),
        date_created_from: Some(chrono::DateTime::parse_from_rfc3339("2026-01-02T03:04:05Z").unwrap().into()),
        date_created_to: None,
        date_closed_from: None,
        date_closed_to: None,
        date_modified_from: None,
        date_modified_to: None,
        reference_number: None,
    };
    let q = params.query_params();
    assert!(q.contains(&("sessionType", "Online".to_owned())));
    assert!(q.contains(&("pageSize", "100".to_owned())));
    assert_eq!(q.iter().filter(|(k, _)| *k == "statuses").count(), 2, "arrays repeat the name");
    assert!(q.contains(&("dateCreatedFrom", "2026-01-02T03:04:05Z".to_owned())));
    assert_eq!(params.header_params(), vec![("x-continuation-token", "abc".to_owned())]);
    let status = operations::GetSessionStatusParams { reference_number: "R".into() };
    assert_eq!(status.path_params(), vec![("referenceNumber", "R".to_owned())]);
}

#[test]
fn rate_limit_override_groups_are_the_specs() {
    let spec = crate::spec::load_spec();
    let schema = &spec["components"]["schemas"]["ApiRateLimitsOverride"];
    let properties: Vec<&str> =
        schema["properties"].as_object().expect("properties").keys().map(String::as_str).collect();
    let mut required: Vec<&str> =
        schema["required"].as_array().expect("required").iter().filter_map(|v| v.as_str()).collect();
    let mut ours = ksef_model::RATE_LIMIT_OVERRIDE_GROUPS.to_vec();
    let mut props_sorted = properties.clone();
    props_sorted.sort_unstable();
    required.sort_unstable();
    ours.sort_unstable();
    assert_eq!(ours, props_sorted, "every property of ApiRateLimitsOverride");
    assert_eq!(ours, required, "and all of them required");
}
