//! Negative cases of protocol.md §17 not covered elsewhere, each with KSeF's exception code.

use std::sync::Arc;

use ksef_crypto::x509::{KeyAlgorithm, SubjectFields, TestIdentity};
use ksef_crypto::xades::sign_auth_token_request;
use ksef_crypto::{AuthTokenRequest, ContextIdentifier, UnixTime};
use ksef_emulator::{Emulator, ManualClock};

use crate::common::*;

fn identity(fields: &SubjectFields) -> TestIdentity {
    let not_before = UnixTime::from_secs(UnixTime::now().as_secs() - 86_400);
    TestIdentity::generate(KeyAlgorithm::P256, fields, not_before, 30, &mut rand::rng()).unwrap()
}

fn challenge(http: &Http) -> String {
    http.post("/auth/challenge", None, None).json()["challenge"].as_str().unwrap().to_owned()
}

fn xades(http: &Http, doc: &str) -> Resp {
    http.post_raw("/auth/xades-signature", "application/xml", doc.as_bytes())
}

/// §17.10: a challenge older than 10 minutes → 21111.
#[test]
fn expired_challenge() {
    let clock = Arc::new(ManualClock::new(chrono::Utc::now()));
    let emu = Emulator::builder().clock(clock.clone()).start().unwrap();
    let http = Http::new(&emu);
    let nip = fresh_nip(400);
    let id = identity(&SubjectFields::person_nip(&nip, "Jan", "Kowalski").unwrap());
    let req = AuthTokenRequest::new(challenge(&http), ContextIdentifier::Nip(nip));
    let signed = sign_auth_token_request(&req, &id, UnixTime::now()).unwrap();
    clock.advance(chrono::Duration::minutes(11));
    assert_eq!(xades(&http, &signed).exception_codes(), [21111]);
}

/// §17.11/12: two signatures → 9103; a replaced certificate → 9105; a certificate without NIP
/// or PESEL used as `certificateSubject` → 21406; an invalid AllowedIps policy → 21401.
#[test]
fn xades_signature_and_certificate_errors() {
    let emu = emulator();
    let http = Http::new(&emu);
    let nip = fresh_nip(410);
    let id = identity(&SubjectFields::person_nip(&nip, "Jan", "Kowalski").unwrap());
    let signed = sign_auth_token_request(
        &AuthTokenRequest::new(challenge(&http), ContextIdentifier::Nip(nip.clone())),
        &id,
        UnixTime::now(),
    )
    .unwrap();

    // A second copy of the Signature element.
    let open = signed.find("<ds:Signature").or_else(|| signed.find("<Signature")).expect("signature start");
    let close_tag = if signed[open..].starts_with("<ds:") { "</ds:Signature>" } else { "</Signature>" };
    let end = signed.rfind(close_tag).expect("signature end") + close_tag.len();
    let twice = format!("{}{}{}", &signed[..end], &signed[open..end], &signed[end..]);
    assert_eq!(xades(&http, &twice).exception_codes(), [9103]);

    // The embedded certificate replaced by junk: the SigningCertificate digest no longer binds it,
    // which the verifier checks first → 9105 (a signature over an unparsable certificate cannot be
    // produced, so 21115 is reached only through the verifier's own tests).
    let cert_tag = if signed.contains("<ds:X509Certificate>") { "ds:X509Certificate" } else { "X509Certificate" };
    let (s, e) = (
        signed.find(&format!("<{cert_tag}>")).unwrap() + cert_tag.len() + 2,
        signed.find(&format!("</{cert_tag}>")).unwrap(),
    );
    let junk = format!("{}MIIBAAAAAAAAAAAA{}", &signed[..s], &signed[e..]);
    let r = xades(&http, &junk);
    assert_eq!(r.exception_codes(), [9105], "{}", r.text());

    // No NIP/PESEL in the subject, but certificateSubject requested.
    let mut anonymous = SubjectFields::person_nip(&nip, "Jan", "Kowalski").unwrap();
    anonymous.serial_number = None;
    let anon = identity(&anonymous);
    let req = AuthTokenRequest::new(challenge(&http), ContextIdentifier::Nip(nip.clone()));
    let doc = sign_auth_token_request(&req, &anon, UnixTime::now()).unwrap();
    assert_eq!(xades(&http, &doc).exception_codes(), [21406]);

    // An AllowedIps address that is not an IPv4 address.
    let mut req = AuthTokenRequest::new(challenge(&http), ContextIdentifier::Nip(nip));
    req.allowed_ips = Some(ksef_crypto::auth_request::AllowedIps {
        ip4_addresses: vec!["999.1.1.1".into()],
        ip4_ranges: vec![],
        ip4_masks: vec![],
    });
    let doc = sign_auth_token_request(&req, &id, UnixTime::now()).unwrap();
    assert_eq!(xades(&http, &doc).exception_codes(), [21401]);
}
