use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use ksef_emulator::domain::Identifier;
use serde_json::{Value, json};
use sha2::Sha256;

use crate::common::*;

fn token_key(http: &Http) -> (rsa::PublicKey, String) {
    use rsa::pkcs8::DecodePublicKey;
    use x509_cert::der::{Decode, Encode};
    let list = http.get("/security/public-key-certificates", None).json();
    let c = list.as_array().unwrap().iter().find(|c| c["usage"][0] == "KsefTokenEncryption").unwrap().clone();
    let der = B64.decode(c["certificate"].as_str().unwrap()).unwrap();
    let x = x509_cert::Certificate::from_der(&der).unwrap();
    let spki = x.tbs_certificate().subject_public_key_info().to_der().unwrap();
    (rsa::PublicKey::from_public_key_der(&spki).unwrap(), c["publicKeyId"].as_str().unwrap().to_owned())
}

/// `POST /auth/ksef-token` with `token|timestampMs` (optionally a wrong timestamp); the init answer.
fn token_auth(http: &Http, nip: &str, token: &str, skew_ms: i64) -> Value {
    let ch = http.post("/auth/challenge", None, None).json();
    let (pk, id) = token_key(http);
    let plain = format!("{token}|{}", ch["timestampMs"].as_i64().unwrap() + skew_ms);
    let enc = pk.encrypt(&mut rand::rng(), rsa::Oaep::<Sha256>::new(), plain.as_bytes()).unwrap();
    let body = json!({"challenge": ch["challenge"], "contextIdentifier": {"type": "Nip", "value": nip},
                      "encryptedToken": B64.encode(enc), "publicKeyId": id});
    let r = http.post("/auth/ksef-token", None, Some(&body));
    assert_eq!(r.status, 202, "{}", r.text());
    r.json()
}

fn status_of(http: &Http, init: &Value) -> Value {
    let r = init["referenceNumber"].as_str().unwrap();
    http.get(&format!("/auth/{r}"), init["authenticationToken"]["token"].as_str()).json()
}

#[test]
fn tokens_lifecycle_and_token_login() {
    let emu = emulator();
    let http = Http::new(&emu);
    let nip = fresh_nip(300);
    let (access, _, _) = login(&emu, &http, Identifier::nip(&nip), Identifier::nip(&nip));
    let r = http.post(
        "/tokens",
        Some(&access),
        Some(&json!({"permissions": ["invoicewrite", "InvoiceRead"], "description": "Token do testów"})),
    );
    assert_eq!(r.status, 202, "{}", r.text());
    let v = r.json();
    let token = v["token"].as_str().unwrap().to_owned();
    let reference = v["referenceNumber"].as_str().unwrap().to_owned();
    assert!(token.starts_with(&format!("{reference}|nip-{nip}|")), "{token}");
    assert_eq!(reference.parse::<ksef_model::ReferenceNumber>().unwrap().type_code(), "EC");

    let list = http.get("/tokens?status=Active", Some(&access)).json();
    assert_eq!(list["tokens"][0]["referenceNumber"], reference.as_str());
    assert_eq!(list["tokens"][0]["requestedPermissions"], json!(["InvoiceWrite", "InvoiceRead"]));
    assert_eq!(http.get("/tokens?status=Revoked", Some(&access)).json()["tokens"], json!([]));
    assert_eq!(http.get(&format!("/tokens/{reference}"), Some(&access)).json()["status"], "Active");

    // Login with the token.
    let init = token_auth(&http, &nip, &token, 0);
    let st = status_of(&http, &init);
    assert_eq!(st["status"]["code"], 200, "{st}");
    assert_eq!(st["authenticationMethodInfo"]["category"], "Token");
    let t = init["authenticationToken"]["token"].as_str().unwrap();
    let tokens = http.post("/auth/token/redeem", Some(t), None).json();
    let refresh = tokens["refreshToken"]["token"].as_str().unwrap().to_owned();
    let token_access = tokens["accessToken"]["token"].as_str().unwrap().to_owned();
    // §17.34: KSeF certificates need a signature login, not a KSeF token → 25001 / 25002.
    assert_eq!(http.get("/certificates/enrollments/data", Some(&token_access)).exception_codes(), [25001]);
    let enroll = json!({"certificateName": "Z tokenu", "certificateType": "Offline", "csr": "AAAA"});
    assert_eq!(http.post("/certificates/enrollments", Some(&token_access), Some(&enroll)).exception_codes(), [25002]);
    // The token's permissions only: InvoiceWrite yes, CredentialsManage (owner) no.
    let r = http.post(
        "/tokens",
        Some(&token_access),
        Some(&json!({"permissions": ["CredentialsManage"], "description": "Drugi token"})),
    );
    assert_eq!(r.exception_codes(), [26001]);
    // A token-authenticated caller sees its own token.
    assert_eq!(http.get(&format!("/tokens/{reference}"), Some(&token_access)).status, 200);

    // Wrong timestamp → 450.
    let st = status_of(&http, &token_auth(&http, &nip, &token, 1));
    assert_eq!(st["status"]["code"], 450);
    assert_eq!(st["status"]["details"][0], "Nieprawidłowy czas tokena");
    // Wrong secret → 450 "Nieprawidłowy token".
    let last = if token.ends_with('0') { '1' } else { '0' };
    let forged = format!("{}{last}", &token[..token.len() - 1]);
    assert_eq!(status_of(&http, &token_auth(&http, &nip, &forged, 0))["status"]["details"][0], "Nieprawidłowy token");

    // Revoke: refresh stops, new logins fail.
    assert_eq!(http.call("DELETE", &format!("/tokens/{reference}"), Some(&access), None, &[]).status, 204);
    assert_eq!(http.post("/auth/token/refresh", Some(&refresh), None).exception_codes(), [21301]);
    assert_eq!(status_of(&http, &token_auth(&http, &nip, &token, 0))["status"]["details"][0], "Token unieważniony");
}

#[test]
fn token_errors() {
    let emu = emulator();
    let http = Http::new(&emu);
    let ctx = fresh_nip(310);
    let reader = fresh_nip(311);
    let grant = json!({"contextIdentifier": {"type": "Nip", "value": ctx}, "authorizedIdentifier": {"type": "Nip", "value": reader},
                       "permissions": [{"description": "Odczyt faktur", "permissionType": "InvoiceRead"}]});
    assert_eq!(http.post("/testdata/permissions", None, Some(&grant)).status, 200);
    let (access, _, _) = login(&emu, &http, Identifier::nip(&ctx), Identifier::nip(&reader));
    let r = http.post(
        "/tokens",
        Some(&access),
        Some(&json!({"permissions": ["InvoiceWrite"], "description": "Token do testów"})),
    );
    assert_eq!(r.exception_codes(), [26001]);
    let r = http.post(
        "/tokens",
        Some(&access),
        Some(&json!({"permissions": ["VatUeManage"], "description": "Token do testów"})),
    );
    assert_eq!(r.exception_codes(), [21405]);
    // The reader does not see tokens of others.
    let (owner, _, _) = login(&emu, &http, Identifier::nip(&ctx), Identifier::nip(&ctx));
    let r = http.post(
        "/tokens",
        Some(&owner),
        Some(&json!({"permissions": ["InvoiceRead"], "description": "Token właściciela"})),
    );
    let reference = r.json()["referenceNumber"].as_str().unwrap().to_owned();
    assert_eq!(http.get("/tokens", Some(&access)).json()["tokens"], json!([]));
    assert_eq!(http.get(&format!("/tokens/{reference}"), Some(&access)).exception_codes(), [21405]);
    assert_eq!(
        http.call("GET", "/tokens", Some(&owner), None, &[("x-continuation-token", "zzz")]).exception_codes(),
        [21418]
    );

    // Unknown key id → 21470; a used challenge → 21111.
    let ch = http.post("/auth/challenge", None, None).json();
    let body = json!({"challenge": ch["challenge"], "contextIdentifier": {"type": "Nip", "value": ctx},
                      "encryptedToken": B64.encode([1u8; 256]), "publicKeyId": B64.encode([9u8; 32])});
    assert_eq!(http.post("/auth/ksef-token", None, Some(&body)).exception_codes(), [21470]);
    let mut body = body;
    body["publicKeyId"] = Value::Null;
    assert_eq!(http.post("/auth/ksef-token", None, Some(&body)).status, 202);
    assert_eq!(http.post("/auth/ksef-token", None, Some(&body)).exception_codes(), [21111]);
}

/// KSeF tokens only in Nip and InternalId contexts: an EU entity's compound context → 26002.
#[test]
fn token_in_a_compound_context_is_refused_with_26002() {
    use ksef_emulator::domain::IdentifierType as T;
    let emu = emulator();
    let http = Http::new(&emu);
    let nip = fresh_nip(395);
    let (owner, _, _) = login(&emu, &http, Identifier::nip(&nip), Identifier::nip(&nip));
    let eu = format!("{nip}-DE123456789");
    let fp = "E".repeat(64);
    let body = json!({"subjectIdentifier": {"type": "Fingerprint", "value": fp},
                      "contextIdentifier": {"type": "NipVatUe", "value": eu},
                      "description": "Administrator UE", "euEntityName": "Muster GmbH, Berlin",
                      "subjectDetails": {"subjectDetailsType": "PersonByFingerprintWithoutIdentifier",
                          "personByFpNoId": {"firstName": "Hans", "lastName": "Muster", "birthDate": "1980-01-01",
                                             "idDocument": {"type": "Passport", "number": "X123", "country": "DE"}}}});
    let r = http.post("/permissions/eu-entities/administration/grants", Some(&owner), Some(&body));
    assert_eq!(r.status, 202, "{}", r.text());
    let (admin, _, _) = login(&emu, &http, Identifier::new(T::NipVatUe, &eu), Identifier::fingerprint(&fp));
    let req = json!({"permissions": ["InvoiceRead"], "description": "Token UE"});
    let r = http.post("/tokens", Some(&admin), Some(&req));
    assert_eq!((r.status, r.exception_codes()), (400, vec![26002]), "{}", r.text());
    // The same request in the NIP context is accepted.
    assert_eq!(http.post("/tokens", Some(&owner), Some(&req)).status, 202);
}
