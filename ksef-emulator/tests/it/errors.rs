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
fn unimplemented_operations_are_not_routed() {
    let emu = emulator();
    let http = Http::new(&emu);
    // Served: every name resolves in the spec table.
    let implemented = ksef_emulator::api::implemented_operations();
    for name in &implemented {
        assert!(ksef_model::OperationSpec::by_name(name).is_some(), "{name}");
    }
    // Not yet served operations answer 404/405, never a fake body.
    let r = http.get("/peppol/query", None);
    assert!(r.status == 404 || r.status == 405, "{}", r.status);
}
