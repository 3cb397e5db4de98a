use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use ksef_crypto::x509::{KeyAlgorithm, SubjectFields, TestIdentity, create_csr};
use ksef_crypto::xades::sign_auth_token_request;
use ksef_crypto::{AuthTokenRequest, Certificate, ContextIdentifier, UnixTime};
use serde_json::{Value, json};

use crate::common::*;

fn xades_login(http: &Http, id: &TestIdentity, nip: &str) -> (Value, Option<String>) {
    let challenge = http.post("/auth/challenge", None, None).json()["challenge"].as_str().unwrap().to_owned();
    let req = AuthTokenRequest::new(challenge, ContextIdentifier::Nip(nip.to_owned()));
    let signed = sign_auth_token_request(&req, id, UnixTime::now()).unwrap();
    let init = http.post_raw("/auth/xades-signature", "application/xml", signed.as_bytes()).json();
    let t = init["authenticationToken"]["token"].as_str().unwrap().to_owned();
    let st = http.get(&format!("/auth/{}", init["referenceNumber"].as_str().unwrap()), Some(&t)).json();
    let access = (st["status"]["code"] == 200).then(|| {
        http.post("/auth/token/redeem", Some(&t), None).json()["accessToken"]["token"].as_str().unwrap().to_owned()
    });
    (st, access)
}

#[test]
fn enroll_use_and_revoke_a_ksef_certificate() {
    let emu = emulator();
    let http = Http::new(&emu);
    let nip = fresh_nip(1200);
    let fields = SubjectFields::person_nip(&nip, "Jan", "Kowalski").unwrap();
    let yesterday = UnixTime::from_secs(UnixTime::now().as_secs() - 86_400);
    let qualified = TestIdentity::generate(KeyAlgorithm::P256, &fields, yesterday, 30, &mut rand::rng()).unwrap();
    let (_, access) = xades_login(&http, &qualified, &nip);
    let access = access.unwrap();

    let data = http.get("/certificates/enrollments/data", Some(&access)).json();
    assert_eq!(data["serialNumber"], format!("TINPL-{nip}"));
    assert_eq!(data["givenName"], "Jan");
    let limits = http.get("/certificates/limits", Some(&access)).json();
    assert_eq!(limits["certificate"], json!({"remaining": 100, "limit": 100}));

    let key = KeyAlgorithm::P256.generate(&mut rand::rng()).unwrap();
    let csr = create_csr(&key, &fields).unwrap();
    let body =
        json!({"certificateName": "Certyfikat testowy", "certificateType": "Authentication", "csr": B64.encode(&csr)});
    let r = http.post("/certificates/enrollments", Some(&access), Some(&body));
    assert_eq!(r.status, 202, "{}", r.text());
    let reference = r.json()["referenceNumber"].as_str().unwrap().to_owned();
    let st = http.get(&format!("/certificates/enrollments/{reference}"), Some(&access)).json();
    assert_eq!(st["status"]["code"], 200, "{st}");
    let serial = st["certificateSerialNumber"].as_str().unwrap().to_owned();
    assert_eq!(serial.len(), 16);

    let got =
        http.post("/certificates/retrieve", Some(&access), Some(&json!({"certificateSerialNumbers": [serial]}))).json();
    let der = B64.decode(got["certificates"][0]["certificate"].as_str().unwrap()).unwrap();
    let cert = Certificate::from_der(&der).unwrap();
    assert_eq!(cert.serial_hex(), serial);

    // Logging in with the KSeF certificate.
    let ksef_id = TestIdentity { key, certificate: cert };
    let (st, access2) = xades_login(&http, &ksef_id, &nip);
    assert_eq!(st["authenticationMethodInfo"]["code"], "xades.ksef-certificate");
    assert!(access2.is_some());

    let list = http.post("/certificates/query", Some(&access), None).json();
    assert_eq!(list["certificates"][0]["status"], "Active");
    assert_eq!(list["certificates"][0]["subjectIdentifier"], json!({"type": "Nip", "value": nip}));

    // A CSR whose subject differs from the authentication data → 25003.
    let other = SubjectFields::person_nip(&nip, "Piotr", "Kowalski").unwrap();
    let csr2 = create_csr(&KeyAlgorithm::P256.generate(&mut rand::rng()).unwrap(), &other).unwrap();
    let body2 = json!({"certificateName": "Inny certyfikat", "certificateType": "Offline", "csr": B64.encode(&csr2)});
    assert_eq!(http.post("/certificates/enrollments", Some(&access), Some(&body2)).exception_codes(), [25003]);
    let bad = json!({"certificateName": "Zły wniosek", "certificateType": "Offline", "csr": B64.encode(b"junk")});
    assert_eq!(http.post("/certificates/enrollments", Some(&access), Some(&bad)).exception_codes(), [25004]);

    // Revoke: login with it now ends in 460.
    assert_eq!(
        http.post(
            &format!("/certificates/{serial}/revoke"),
            Some(&access),
            Some(&json!({"revocationReason": "Superseded"}))
        )
        .status,
        204
    );
    assert_eq!(http.post(&format!("/certificates/{serial}/revoke"), Some(&access), None).exception_codes(), [25009]);
    let (st, _) = xades_login(&http, &ksef_id, &nip);
    assert_eq!(st["status"]["code"], 460);
    assert_eq!(st["status"]["details"][0], "Certyfikat odwołany");
    assert_eq!(
        http.get("/certificates/enrollments/20250101-CE-0123456789-0123456789-00", Some(&access)).exception_codes(),
        [25005]
    );
    assert_eq!(http.post("/certificates/0123456789ABCDEF/revoke", Some(&access), None).exception_codes(), [25008]);

    // Test data: shorten a certificate's validity (unknown serial → 25008).
    let end = json!({"validTo": "2020-01-01T00:00:00Z"});
    let put = |s: &str| http.call("PUT", &format!("/testdata/certificates/{s}"), Some(&access), Some(&end), &[]);
    assert_eq!(put(&serial).status, 200);
    assert_eq!(put("0123456789ABCDEF").exception_codes(), [25008]);
}

/// §17.34: enrollment and certificate limits (`25006`, `25007`), set through the test-data API.
#[test]
fn certificate_limits_are_enforced() {
    let emu = emulator();
    let http = Http::new(&emu);
    let nip = fresh_nip(1210);
    let fields = SubjectFields::person_nip(&nip, "Jan", "Kowalski").unwrap();
    let yesterday = UnixTime::from_secs(UnixTime::now().as_secs() - 86_400);
    let qualified = TestIdentity::generate(KeyAlgorithm::P256, &fields, yesterday, 30, &mut rand::rng()).unwrap();
    let access = xades_login(&http, &qualified, &nip).1.unwrap();
    let enroll = |name: &str| {
        let key = KeyAlgorithm::P256.generate(&mut rand::rng()).unwrap();
        let csr = create_csr(&key, &fields).unwrap();
        let body = json!({"certificateName": name, "certificateType": "Offline", "csr": B64.encode(&csr)});
        http.post("/certificates/enrollments", Some(&access), Some(&body))
    };
    let set = |limits: Value| {
        let r = http.post("/testdata/limits/subject/certificate", Some(&access), Some(&limits));
        assert_eq!(r.status, 200, "{}", r.text());
    };
    set(json!({"certificate": {"maxCertificates": 1}}));
    assert_eq!(enroll("Pierwszy").status, 202);
    assert_eq!(enroll("Drugi").exception_codes(), [25007]);
    set(json!({"certificate": {"maxCertificates": 10}, "enrollment": {"maxEnrollments": 1}}));
    assert_eq!(enroll("Trzeci").exception_codes(), [25006]);
}
