use ksef_emulator::domain::Identifier;
use serde_json::json;

use crate::common::*;

#[test]
fn challenge_has_ksef_format() {
    let emu = emulator();
    let http = Http::new(&emu);
    let v = http.post("/auth/challenge", None, None).json();
    let c = v["challenge"].as_str().unwrap();
    let r: ksef_model::ReferenceNumber = c.parse().unwrap();
    assert_eq!(r.type_code(), "CR");
    assert!(r.has_valid_checksum());
    assert_eq!(v["clientIp"], "127.0.0.1");
    assert!(v["timestampMs"].as_i64().unwrap() > 0);
}

#[test]
fn owner_logs_in_redeems_once_refreshes_and_revokes() {
    let emu = emulator();
    let http = Http::new(&emu);
    let nip = fresh_nip(30);
    let init = emu.authenticate(Identifier::nip(&nip), Identifier::nip(&nip)).unwrap();
    let st = http.get(&format!("/auth/{}", init.reference_number), Some(&init.authentication_token)).json();
    assert_eq!(st["status"]["code"], 200);
    assert_eq!(st["authenticationMethodInfo"]["category"], "Other");
    let r = http.post("/auth/token/redeem", Some(&init.authentication_token), None);
    assert_eq!(r.status, 200);
    let access = r.json()["accessToken"]["token"].as_str().unwrap().to_owned();
    let refresh = r.json()["refreshToken"]["token"].as_str().unwrap().to_owned();
    assert_eq!(http.post("/auth/token/redeem", Some(&init.authentication_token), None).exception_codes(), [21301]);

    let list = http.get("/auth/sessions", Some(&access)).json();
    assert_eq!(list["items"][0]["referenceNumber"], init.reference_number.as_str());
    assert_eq!(list["items"][0]["isCurrent"], true);

    // Refresh needs the refresh token, not the access token.
    assert_eq!(http.post("/auth/token/refresh", Some(&access), None).status, 401);
    let r = http.post("/auth/token/refresh", Some(&refresh), None);
    assert_eq!(r.status, 200, "{}", r.text());

    // Another authentication of the same subject, revoked by reference from the first.
    let (_, other_refresh, other_ref) = login(&emu, &http, Identifier::nip(&nip), Identifier::nip(&nip));
    assert_eq!(http.call("DELETE", &format!("/auth/sessions/{other_ref}"), Some(&access), None, &[]).status, 204);
    assert_eq!(http.post("/auth/token/refresh", Some(&other_refresh), None).exception_codes(), [21301]);

    assert_eq!(http.call("DELETE", "/auth/sessions/current", Some(&refresh), None, &[]).status, 204);
    assert_eq!(http.post("/auth/token/refresh", Some(&refresh), None).exception_codes(), [21301]);
    let st = http.get(&format!("/auth/{}", init.reference_number), Some(&init.authentication_token)).json();
    assert_eq!(st["status"]["code"], 425);
}

#[test]
fn auth_outcomes_follow_ksef_codes() {
    let emu = emulator();
    let http = Http::new(&emu);
    // No permissions → 415, redeem refused.
    let stranger = fresh_nip(31);
    let ctx = fresh_nip(32);
    let init = emu.authenticate(Identifier::nip(&ctx), Identifier::nip(&stranger)).unwrap();
    let st = http.get(&format!("/auth/{}", init.reference_number), Some(&init.authentication_token)).json();
    assert_eq!(st["status"]["code"], 415);
    assert_eq!(st["status"]["details"][0], "Brak przypisanych uprawnień");
    assert_eq!(http.post("/auth/token/redeem", Some(&init.authentication_token), None).exception_codes(), [21301]);

    // Blocked context → 480.
    let body = json!({"contextIdentifier": {"type": "Nip", "value": ctx}});
    assert_eq!(http.post("/testdata/context/block", None, Some(&body)).status, 200);
    let init = emu.authenticate(Identifier::nip(&ctx), Identifier::nip(&ctx)).unwrap();
    let st = http.get(&format!("/auth/{}", init.reference_number), Some(&init.authentication_token)).json();
    assert_eq!(st["status"]["code"], 480);
    assert_eq!(http.post("/testdata/context/unblock", None, Some(&body)).status, 200);

    // Deceased person → 470, redeem 21308... status is not 200, KSeF answers 21308 for the person.
    let nip = fresh_nip(33);
    let r = http.post("/testdata/person", None, Some(&json!({"nip": nip, "pesel": "85121612343", "isBailiff": false, "isDeceased": true, "description": "Osoba zmarła"})));
    assert_eq!(r.status, 200, "{}", r.text());
    let init = emu.authenticate(Identifier::nip(&nip), Identifier::pesel("85121612343")).unwrap();
    let st = http.get(&format!("/auth/{}", init.reference_number), Some(&init.authentication_token)).json();
    assert_eq!(st["status"]["code"], 470);
    assert_eq!(http.post("/auth/token/redeem", Some(&init.authentication_token), None).exception_codes(), [21308]);

    // Another operation's token cannot read this one.
    let other = emu.authenticate(Identifier::nip(&ctx), Identifier::nip(&ctx)).unwrap();
    let r = http.get(&format!("/auth/{}", init.reference_number), Some(&other.authentication_token));
    assert_eq!(r.exception_codes(), [21304]);
}

#[test]
fn expired_tokens_are_refused() {
    let clock = std::sync::Arc::new(ksef_emulator::ManualClock::new(chrono::Utc::now()));
    let emu = ksef_emulator::Emulator::builder().clock(clock.clone()).start().unwrap();
    let http = Http::new(&emu);
    let nip = fresh_nip(34);
    let (access, refresh, _) = login(&emu, &http, Identifier::nip(&nip), Identifier::nip(&nip));
    assert_eq!(http.get("/auth/sessions", Some(&access)).status, 200);
    clock.advance(chrono::Duration::minutes(16));
    assert_eq!(http.get("/auth/sessions", Some(&access)).status, 401);
    let r = http.post("/auth/token/refresh", Some(&refresh), None);
    assert_eq!(r.status, 200);
    clock.advance(chrono::Duration::days(8));
    assert_eq!(http.post("/auth/token/refresh", Some(&refresh), None).status, 401);
}
