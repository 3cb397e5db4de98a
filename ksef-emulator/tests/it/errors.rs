use serde_json::json;

use crate::common::*;

#[test]
fn problem_details_on_request() {
    let emu = emulator();
    let http = Http::new(&emu);
    let body = json!({"subjectNip": "123", "subjectType": "JST", "description": "Opis podmiotu"});
    let r = http.call("POST", "/testdata/subject", None, Some(&body), &[("X-Error-Format", "problem-details")]);
    assert_eq!(r.status, 400);
    assert_eq!(r.header("content-type"), Some("application/problem+json"));
    let v = r.json();
    assert_eq!(v["title"], "Bad Request");
    assert_eq!(v["instance"], "/v2/testdata/subject");
    assert_eq!(v["errors"][0]["code"], 21405);
    assert_eq!(v["errors"][0]["description"], "Błąd walidacji danych wejściowych.");

    let r = http.post("/testdata/subject", None, Some(&body));
    assert_eq!(r.header("content-type"), Some("application/json"));
    let v = r.json();
    assert_eq!(v["exception"]["exceptionDetailList"][0]["exceptionDescription"], "Błąd walidacji danych wejściowych.");
    assert!(v["exception"]["serviceCode"].as_str().unwrap().starts_with("00-"));
}

#[test]
fn protected_routes_need_a_valid_token_of_the_right_kind() {
    let emu = emulator();
    let http = Http::new(&emu);
    let r = http.get("/auth/sessions", None);
    assert_eq!(r.status, 401);
    assert_eq!(r.header("content-type"), Some("application/problem+json"));
    assert_eq!(r.json()["title"], "Unauthorized");
    let r = http.get("/auth/sessions", Some("not.a.jwt"));
    assert_eq!(r.status, 401);

    let nip = fresh_nip(20);
    let init = emu
        .authenticate(ksef_emulator::domain::Identifier::nip(&nip), ksef_emulator::domain::Identifier::nip(&nip))
        .unwrap();
    // An authentication token is not an access token.
    assert_eq!(http.get("/auth/sessions", Some(&init.authentication_token)).status, 401);
}

#[test]
fn every_operation_is_routed_and_unknown_paths_are_not() {
    let emu = emulator();
    let http = Http::new(&emu);
    let implemented = ksef_emulator::api::implemented_operations();
    for op in &ksef_model::OPERATIONS {
        assert!(implemented.contains(&op.name), "{} is not served", op.name);
    }
    assert_eq!(implemented.len(), ksef_model::OPERATIONS.len());
    assert_eq!(http.get("/no/such/operation", None).status, 404);
    // A known path with the wrong method.
    assert_eq!(http.call("DELETE", "/auth/challenge", None, None, &[]).status, 405);
}

#[test]
fn peppol_providers_are_registered_on_first_authentication() {
    use ksef_emulator::domain::{Identifier, IdentifierType};
    let emu = emulator();
    let http = Http::new(&emu);
    assert_eq!(http.get("/peppol/query", None).json()["peppolProviders"], serde_json::json!([]));
    let _ = emu
        .authenticate(Identifier::new(IdentifierType::PeppolId, "PPL123456"), Identifier::fingerprint("C".repeat(64)))
        .unwrap();
    let v = http.get("/peppol/query?pageSize=10&pageOffset=0", None).json();
    assert_eq!(v["peppolProviders"][0]["id"], "PPL123456");
    assert_eq!(v["hasMore"], false);
    assert_eq!(http.get("/peppol/query?pageSize=5", None).exception_codes(), [21405]);
}

#[test]
fn test_system_warning_is_echoed_ascii_folded() {
    let emu = emulator();
    let http = Http::new(&emu);
    let r =
        http.call("POST", "/auth/challenge", None, None, &[("X-Test-System-Warning", "Przerwa techniczna o 16:00")]);
    assert_eq!(r.status, 200);
    assert_eq!(r.header("x-system-warning"), Some("[TEST]: Przerwa techniczna o 16:00"));
    let r = http.call("POST", "/auth/challenge", None, None, &[("X-Test-System-Warning", "Zażółć gęślą")]);
    assert_eq!(r.header("x-system-warning"), Some("[TEST]: Zazolc gesla"));
    assert!(http.post("/auth/challenge", None, None).header("x-system-warning").is_none());
}
