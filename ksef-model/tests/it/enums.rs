//! Forward compatibility: response enums accept values added after generation; requests stay strict.

use ksef_model::types;

#[test]
fn unknown_enum_values_deserialize_and_round_trip() {
    let s: types::InvoicingMode = serde_json::from_str("\"Hybrid\"").unwrap();
    assert!(matches!(s, types::InvoicingMode::Unknown(ref v) if v.as_str() == "Hybrid"));
    assert_eq!(s.to_string(), "Hybrid");
    assert_eq!(serde_json::to_string(&s).unwrap(), "\"Hybrid\"");
    let known: types::InvoicingMode = serde_json::from_str("\"Offline\"").unwrap();
    assert_eq!(known, types::InvoicingMode::Offline);
}

#[test]
fn a_whole_response_with_a_new_enum_value_still_decodes() {
    let body = serde_json::json!({
        "status": "Active",
        "referenceNumber": "20251010-EC-1DCE3E3000-12ECB5B36E-45",
        "authorIdentifier": {"type": "Nip", "value": "5265877635"},
        "contextIdentifier": {"type": "SomethingNew", "value": "x"},
        "description": "opis tokena",
        "requestedPermissions": ["InvoiceRead", "BrandNewPermission"],
        "dateCreated": "2025-10-10T10:00:00.0000000+00:00",
        "aFieldFromTheFuture": 1
    });
    let t: types::TokenStatusResponse = serde_json::from_value(body).unwrap();
    assert_eq!(t.requested_permissions.len(), 2);
    assert_eq!(t.requested_permissions[1].to_string(), "BrandNewPermission");
}

#[test]
fn requests_stay_strict() {
    // `FromStr` (how typed request values are built from text) rejects unknown values.
    assert!("Hybrid".parse::<types::InvoicingMode>().is_err());
    assert!("Offline".parse::<types::InvoicingMode>().is_ok());
    // Request-only enums have no `Unknown` variant: deserializing an unknown value fails.
    assert!(serde_json::from_str::<types::SortOrder>("\"Sideways\"").is_err());
}

#[test]
fn seven_digit_fractional_seconds_are_accepted() {
    let v: types::AuthenticationChallengeResponse = serde_json::from_value(serde_json::json!({
        "challenge": "20250514-CR-226FB7B000-3ACF9BE4C0-10",
        "timestamp": "2025-07-11T12:23:56.0154302+00:00",
        "timestampMs": 1752236636015i64,
        "clientIp": "127.0.0.1"
    }))
    .unwrap();
    assert_eq!(v.timestamp.timestamp_subsec_nanos(), 15_430_200);
    // Legacy error bodies carry a timestamp without an offset.
    let e: types::ExceptionResponse = serde_json::from_value(serde_json::json!({
        "exception": {"exceptionDetailList": [], "timestamp": "2025-10-11T12:23:56.0154302"}
    }))
    .unwrap();
    assert_eq!(e.exception.unwrap().timestamp.as_deref(), Some("2025-10-11T12:23:56.0154302"));
}
