use ksef_crypto::x509::{KeyAlgorithm, SubjectFields, TestIdentity};
use ksef_crypto::xades::sign_auth_token_request;
use ksef_crypto::{AuthTokenRequest, ContextIdentifier, SubjectIdentifierType, UnixTime};
use serde_json::Value;

use crate::common::*;

fn identity(fields: &SubjectFields, not_before: UnixTime, days: u32) -> TestIdentity {
    TestIdentity::generate(KeyAlgorithm::P256, fields, not_before, days, &mut rand::rng()).unwrap()
}

fn yesterday() -> UnixTime {
    UnixTime::from_secs(UnixTime::now().as_secs() - 86_400)
}

fn signed_request(http: &Http, id: &TestIdentity, nip: &str, kind: SubjectIdentifierType) -> String {
    let challenge = http.post("/auth/challenge", None, None).json()["challenge"].as_str().unwrap().to_owned();
    let mut req = AuthTokenRequest::new(challenge, ContextIdentifier::Nip(nip.to_owned()));
    req.subject_identifier_type = kind;
    sign_auth_token_request(&req, id, UnixTime::now()).unwrap()
}

fn status_of(http: &Http, init: &Value) -> Value {
    let r = init["referenceNumber"].as_str().unwrap();
    let t = init["authenticationToken"]["token"].as_str().unwrap();
    http.get(&format!("/auth/{r}"), Some(t)).json()
}

#[test]
fn xades_login_with_a_self_signed_certificate() {
    let emu = emulator();
    let http = Http::new(&emu);
    let nip = fresh_nip(200);
    let id = identity(&SubjectFields::person_nip(&nip, "Jan", "Kowalski").unwrap(), yesterday(), 30);
    let signed = signed_request(&http, &id, &nip, SubjectIdentifierType::CertificateSubject);
    let r = http.post_raw("/auth/xades-signature", "application/xml", signed.as_bytes());
    assert_eq!(r.status, 202, "{}", r.text());
    let init = r.json();
    let st = status_of(&http, &init);
    assert_eq!(st["status"]["code"], 200, "{st}");
    assert_eq!(st["authenticationMethodInfo"]["category"], "XadesSignature");
    let t = init["authenticationToken"]["token"].as_str().unwrap();
    let tokens = http.post("/auth/token/redeem", Some(t), None);
    assert_eq!(tokens.status, 200);
    let access = tokens.json()["accessToken"]["token"].as_str().unwrap().to_owned();
    assert_eq!(http.get("/auth/sessions", Some(&access)).status, 200);

    // The challenge was used.
    assert_eq!(http.post_raw("/auth/xades-signature", "application/xml", signed.as_bytes()).exception_codes(), [21111]);
}

#[test]
fn xades_document_errors() {
    let emu = emulator();
    let http = Http::new(&emu);
    let nip = fresh_nip(210);
    let id = identity(&SubjectFields::person_nip(&nip, "Anna", "Nowak").unwrap(), yesterday(), 30);
    let signed = signed_request(&http, &id, &nip, SubjectIdentifierType::CertificateSubject);
    // Wrong media type → HTTP 415.
    assert_eq!(http.post_raw("/auth/xades-signature", "application/json", signed.as_bytes()).status, 415);
    // A changed signed element → invalid signature.
    let tampered = signed.replacen(&nip, &fresh_nip(211), 1);
    assert_eq!(
        http.post_raw("/auth/xades-signature", "application/xml", tampered.as_bytes()).exception_codes(),
        [9105]
    );
    // No signature.
    let challenge = http.post("/auth/challenge", None, None).json()["challenge"].as_str().unwrap().to_owned();
    let unsigned = AuthTokenRequest::new(challenge, ContextIdentifier::Nip(nip.clone())).to_xml().unwrap();
    assert_eq!(
        http.post_raw("/auth/xades-signature", "application/xml", unsigned.as_bytes()).exception_codes(),
        [9102]
    );
    // Not XML.
    assert_eq!(http.post_raw("/auth/xades-signature", "application/xml", b"<a>").exception_codes(), [9101]);
    // Not UTF-8.
    assert_eq!(http.post_raw("/auth/xades-signature", "application/xml", &[0xff, 0xfe]).exception_codes(), [21217]);
    // An unknown challenge.
    let id2 = identity(&SubjectFields::person_nip(&nip, "Anna", "Nowak").unwrap(), yesterday(), 30);
    let req = AuthTokenRequest::new("20250101-CR-0123456789-0123456789-00", ContextIdentifier::Nip(nip.clone()));
    let s = sign_auth_token_request(&req, &id2, UnixTime::now()).unwrap();
    assert_eq!(http.post_raw("/auth/xades-signature", "application/xml", s.as_bytes()).exception_codes(), [21111]);
}

#[test]
fn xades_certificate_outcomes() {
    let emu = emulator();
    let http = Http::new(&emu);
    let nip = fresh_nip(220);
    // verifyCertificateChain=true refuses self-signed certificates → 460.
    let id = identity(&SubjectFields::person_nip(&nip, "Jan", "Kowalski").unwrap(), yesterday(), 30);
    let signed = signed_request(&http, &id, &nip, SubjectIdentifierType::CertificateSubject);
    let r = http.post_raw("/auth/xades-signature?verifyCertificateChain=true", "application/xml", signed.as_bytes());
    assert_eq!(r.status, 202, "{}", r.text());
    let st = status_of(&http, &r.json());
    assert_eq!(st["status"]["code"], 460);
    assert_eq!(st["status"]["details"][0], "Niezaufany łańcuch certyfikatów");

    // An expired certificate → 460 "Nieważny certyfikat".
    let old = UnixTime::from_secs(UnixTime::now().as_secs() - 40 * 86_400);
    let expired = identity(&SubjectFields::person_nip(&nip, "Jan", "Kowalski").unwrap(), old, 10);
    let signed = signed_request(&http, &expired, &nip, SubjectIdentifierType::CertificateSubject);
    let r = http.post_raw("/auth/xades-signature", "application/xml", signed.as_bytes());
    assert_eq!(r.status, 202, "{}", r.text());
    assert_eq!(status_of(&http, &r.json())["status"]["details"][0], "Nieważny certyfikat");

    // A seal authenticates as the organisation (owner of its NIP).
    let seal = identity(&SubjectFields::seal(&nip, "Firma Testowa Sp. z o.o.").unwrap(), yesterday(), 30);
    let signed = signed_request(&http, &seal, &nip, SubjectIdentifierType::CertificateSubject);
    let st = status_of(&http, &http.post_raw("/auth/xades-signature", "application/xml", signed.as_bytes()).json());
    assert_eq!(st["status"]["code"], 200);
    assert_eq!(st["authenticationMethodInfo"]["code"], "xades.qualified-seal");

    // A fingerprint identity needs a grant to that fingerprint: without one → 415, with one → 200.
    let signed = signed_request(&http, &id, &nip, SubjectIdentifierType::CertificateFingerprint);
    let st = status_of(&http, &http.post_raw("/auth/xades-signature", "application/xml", signed.as_bytes()).json());
    assert_eq!(st["status"]["code"], 415);
    let grant = serde_json::json!({"contextIdentifier": {"type": "Nip", "value": nip},
        "authorizedIdentifier": {"type": "Fingerprint", "value": id.certificate.fingerprint().to_lowercase()},
        "permissions": [{"description": "Odczyt faktur", "permissionType": "InvoiceRead"}]});
    assert_eq!(http.post("/testdata/permissions", None, Some(&grant)).status, 200);
    let signed = signed_request(&http, &id, &nip, SubjectIdentifierType::CertificateFingerprint);
    let st = status_of(&http, &http.post_raw("/auth/xades-signature", "application/xml", signed.as_bytes()).json());
    assert_eq!(st["status"]["code"], 200);
}

#[test]
fn allowed_ips_policy_is_enforced_on_access_tokens() {
    let emu = emulator();
    let http = Http::new(&emu);
    let nip = fresh_nip(230);
    let id = identity(&SubjectFields::person_nip(&nip, "Jan", "Kowalski").unwrap(), yesterday(), 30);
    let login_with = |ips: ksef_crypto::auth_request::AllowedIps| -> String {
        let challenge = http.post("/auth/challenge", None, None).json()["challenge"].as_str().unwrap().to_owned();
        let mut req = AuthTokenRequest::new(challenge, ContextIdentifier::Nip(nip.clone()));
        req.allowed_ips = Some(ips);
        let signed = sign_auth_token_request(&req, &id, UnixTime::now()).unwrap();
        let init = http.post_raw("/auth/xades-signature", "application/xml", signed.as_bytes()).json();
        let t = init["authenticationToken"]["token"].as_str().unwrap();
        http.post("/auth/token/redeem", Some(t), None).json()["accessToken"]["token"].as_str().unwrap().to_owned()
    };
    let elsewhere = login_with(ksef_crypto::auth_request::AllowedIps {
        ip4_addresses: vec!["10.1.1.1".into()],
        ip4_ranges: vec!["192.168.0.1-192.168.0.9".into()],
        ip4_masks: vec![],
    });
    let r = http.get("/auth/sessions", Some(&elsewhere));
    assert_eq!(r.status, 403);
    let v = r.json();
    assert_eq!(v["reasonCode"], "ip-not-allowed");
    assert_eq!(v["security"]["clientIp"], "127.0.0.1");
    let loopback = login_with(ksef_crypto::auth_request::AllowedIps {
        ip4_addresses: vec![],
        ip4_ranges: vec![],
        ip4_masks: vec!["127.0.0.0/8".into()],
    });
    assert_eq!(http.get("/auth/sessions", Some(&loopback)).status, 200);
}

/// A compound EU context (`NipVatUe`) is entered by certificate fingerprint only: a NIP identity
/// from the certificate subject → 21117; the same certificate by fingerprint is accepted.
#[test]
fn xades_identity_invalid_for_the_context_type_is_21117() {
    let emu = emulator();
    let http = Http::new(&emu);
    let nip = fresh_nip(205);
    let id = identity(&SubjectFields::person_nip(&nip, "Jan", "Kowalski").unwrap(), yesterday(), 30);
    let eu = ContextIdentifier::NipVatUe(format!("{nip}-DE123456789"));
    let sign = |kind: SubjectIdentifierType| {
        let challenge = http.post("/auth/challenge", None, None).json()["challenge"].as_str().unwrap().to_owned();
        let mut req = AuthTokenRequest::new(challenge, eu.clone());
        req.subject_identifier_type = kind;
        sign_auth_token_request(&req, &id, UnixTime::now()).unwrap()
    };
    let by_subject = sign(SubjectIdentifierType::CertificateSubject);
    let r = http.post_raw("/auth/xades-signature", "application/xml", by_subject.as_bytes());
    assert_eq!((r.status, r.exception_codes()), (400, vec![21117]), "{}", r.text());
    let by_fingerprint = sign(SubjectIdentifierType::CertificateFingerprint);
    let r = http.post_raw("/auth/xades-signature", "application/xml", by_fingerprint.as_bytes());
    assert_eq!(r.status, 202, "{}", r.text());
}
