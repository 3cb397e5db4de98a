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
        let key = emu.keys().keys().iter().find(|k| k.public_key_id == id).expect("key in ring");
        assert_eq!(key.certificate_der, der);
        // The publicKeyId is the hash of the SPKI inside the certificate.
        use x509_cert::der::{Decode, Encode};
        let cert = x509_cert::Certificate::from_der(&der).unwrap();
        let spki = cert.tbs_certificate().subject_public_key_info().to_der().unwrap();
        assert_eq!(id, B64.encode(Sha256::digest(&spki)));
    }
}
