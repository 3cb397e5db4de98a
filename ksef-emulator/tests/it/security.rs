use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use sha2::{Digest, Sha256};

use crate::common::*;

#[test]
fn public_key_certificates_have_ids_computed_from_the_der() {
    let emu = emulator();
    let http = Http::new(&emu);
    let r = http.get("/security/public-key-certificates", None);
    assert_eq!(r.status, 200);
    let list = r.json();
    let list = list.as_array().unwrap();
    assert_eq!(list.len(), 2);
    let mut usages: Vec<&str> = list.iter().map(|c| c["usage"][0].as_str().unwrap()).collect();
    usages.sort_unstable();
    assert_eq!(usages, ["KsefTokenEncryption", "SymmetricKeyEncryption"]);
    for c in list {
        let der = B64.decode(c["certificate"].as_str().unwrap()).unwrap();
        assert_eq!(c["certificateId"].as_str().unwrap(), B64.encode(Sha256::digest(&der)));
        let id = c["publicKeyId"].as_str().unwrap();
        assert_eq!(id.len(), 44);
        let ring = emu.keys();
        let key = ring.keys().iter().find(|k| k.public_key_id == id).expect("key in ring");
        assert_eq!(key.certificate_der, der);
        // The publicKeyId is the hash of the SPKI inside the certificate.
        use x509_cert::der::{Decode, Encode};
        let cert = x509_cert::Certificate::from_der(&der).unwrap();
        let spki = cert.tbs_certificate().subject_public_key_info().to_der().unwrap();
        assert_eq!(id, B64.encode(Sha256::digest(&spki)));
    }
}

#[test]
fn key_rotation_with_grace_and_emergency() {
    use ksef_emulator::keys::KeyUsage;
    let clock = std::sync::Arc::new(ksef_emulator::ManualClock::new(chrono::Utc::now()));
    let lifetimes = ksef_emulator::TokenLifetimes { access: chrono::Duration::hours(3), ..Default::default() };
    let emu = ksef_emulator::Emulator::builder().clock(clock.clone()).lifetimes(lifetimes).start().unwrap();
    let http = Http::new(&emu);
    let nip = fresh_nip(900);
    let (token, _, _) =
        login(&emu, &http, ksef_emulator::domain::Identifier::nip(&nip), ksef_emulator::domain::Identifier::nip(&nip));
    let ids = |http: &Http| -> Vec<String> {
        http.get("/security/public-key-certificates", None)
            .json()
            .as_array()
            .unwrap()
            .iter()
            .filter(|c| c["usage"][0] == "SymmetricKeyEncryption")
            .map(|c| c["publicKeyId"].as_str().unwrap().to_owned())
            .collect()
    };
    let old = ids(&http);
    assert_eq!(old.len(), 1);
    let new = emu.rotate_key(KeyUsage::SymmetricKeyEncryption, chrono::Duration::hours(1)).unwrap();
    // Planned rotation: both are published during the overlap.
    let both = ids(&http);
    assert_eq!(both.len(), 2);
    assert!(both.contains(&new) && both.contains(&old[0]));
    let open_with = |id: &str| {
        let body = serde_json::json!({"formCode": {"systemCode": "FA (3)", "schemaVersion": "1-0E", "value": "FA"},
            "encryption": {"encryptedSymmetricKey": B64.encode([1u8; 256]), "initializationVector": B64.encode([0u8; 16]), "publicKeyId": id}});
        http.post("/sessions/online", Some(&token), Some(&body))
    };
    assert_eq!(open_with(&old[0]).status, 201);
    clock.advance(chrono::Duration::hours(1) + chrono::Duration::seconds(1));
    assert_eq!(open_with(&old[0]).exception_codes(), [21470]);
    assert_eq!(open_with(&new).status, 201);
    assert_eq!(ids(&http), std::slice::from_ref(&new));
    // Emergency rotation: the old id is refused at once.
    let newer = emu.rotate_key(KeyUsage::SymmetricKeyEncryption, chrono::Duration::zero()).unwrap();
    clock.advance(chrono::Duration::seconds(1));
    assert_eq!(open_with(&new).exception_codes(), [21470]);
    assert_eq!(ids(&http), [newer]);
}
