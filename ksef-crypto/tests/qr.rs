//! QR links: the documented KOD I example and KOD II signing/verification (RSA-PSS checked
//! against `openssl` too; fails without `openssl` unless `KSEF_SKIP_OPENSSL=1`).

use std::process::Command;

use ksef_crypto::encoding::{b64url_decode, b64url_encode};
use ksef_crypto::qr::{
    IssueDate, QR_HOST_TEST, certificate_url, certificate_url_signed_part, invoice_url, verify_certificate_url,
};
use ksef_crypto::x509::{KsefCertificateType, create_csr, issue_from_csr, parse_csr, random_serial, self_signed_ca};
use ksef_crypto::{ContextIdentifier, KeyAlgorithm, PrivateKey, SubjectFields, UnixTime};

const DOC_HASH: &str = "UtQp9Gpc51y-u3xApZjIjgkpZ01js-J8KflSPW8WzIE";

fn doc_hash() -> [u8; 32] {
    b64url_decode(DOC_HASH).unwrap().try_into().unwrap()
}

#[test]
fn kod1_documented_example() {
    // The invoice bytes behind the documented hash are not published, so the URL assembly
    // is checked from the hash.
    let url =
        invoice_url(QR_HOST_TEST, "1111111111", IssueDate::parse_iso("2026-02-01").unwrap(), &doc_hash()).unwrap();
    assert_eq!(
        url,
        "https://qr-test.ksef.mf.gov.pl/invoice/1111111111/01-02-2026/UtQp9Gpc51y-u3xApZjIjgkpZ01js-J8KflSPW8WzIE"
    );
    assert_eq!(
        invoice_url(
            "https://qr-test.ksef.mf.gov.pl/",
            "1111111111",
            IssueDate { year: 2026, month: 2, day: 1 },
            &doc_hash()
        )
        .unwrap(),
        url
    );
    assert!(invoice_url(QR_HOST_TEST, "11111", IssueDate { year: 2026, month: 2, day: 1 }, &doc_hash()).is_err());
    assert!(IssueDate::parse_iso("2026-13-01").is_err());
    let h = ksef_crypto::sha256(b"<Faktura/>");
    assert!(
        invoice_url(QR_HOST_TEST, "1111111111", IssueDate { year: 2026, month: 2, day: 1 }, &h)
            .unwrap()
            .ends_with(&b64url_encode(h))
    );
}

#[test]
fn kod2_documented_signed_string() {
    let s = certificate_url_signed_part(
        QR_HOST_TEST,
        &ContextIdentifier::Nip("1111111111".into()),
        "1111111111",
        "01F20A5D352AE590",
        &doc_hash(),
    )
    .unwrap();
    assert_eq!(
        s,
        "qr-test.ksef.mf.gov.pl/certificate/Nip/1111111111/1111111111/01F20A5D352AE590/UtQp9Gpc51y-u3xApZjIjgkpZ01js-J8KflSPW8WzIE"
    );
}

fn offline_cert(alg: KeyAlgorithm) -> (PrivateKey, ksef_crypto::Certificate) {
    let mut rng = rand::rng();
    let t = UnixTime::from_secs(1_790_000_000);
    let ca_key = PrivateKey::generate_p256(&mut rng);
    let ca = self_signed_ca(&ca_key, "CA", &random_serial(&mut rng), t, UnixTime::from_secs(1_890_000_000)).unwrap();
    let key = alg.generate(&mut rng).unwrap();
    let csr = parse_csr(&create_csr(&key, &SubjectFields::seal("1111111111", "Firma").unwrap()).unwrap()).unwrap();
    let cert = issue_from_csr(
        &ca_key,
        &ca,
        &csr,
        &random_serial(&mut rng),
        KsefCertificateType::Offline,
        t,
        UnixTime::from_secs(1_850_000_000),
    )
    .unwrap();
    (key, cert)
}

/// A certificate with the same key and serial but of type Authentication.
fn auth_cert_for(key: &PrivateKey, offline: &ksef_crypto::Certificate) -> ksef_crypto::Certificate {
    let mut rng = rand::rng();
    let t = UnixTime::from_secs(1_790_000_000);
    let ca_key = PrivateKey::generate_p256(&mut rng);
    let ca = self_signed_ca(&ca_key, "CA", &random_serial(&mut rng), t, UnixTime::from_secs(1_890_000_000)).unwrap();
    let csr = parse_csr(&create_csr(key, &SubjectFields::seal("1111111111", "Firma").unwrap()).unwrap()).unwrap();
    let hex = offline.serial_hex();
    let serial: Vec<u8> = (0..hex.len() / 2).map(|i| u8::from_str_radix(&hex[2 * i..2 * i + 2], 16).unwrap()).collect();
    issue_from_csr(
        &ca_key,
        &ca,
        &csr,
        &serial,
        KsefCertificateType::Authentication,
        t,
        UnixTime::from_secs(1_850_000_000),
    )
    .unwrap()
}

#[test]
fn kod2_sign_and_verify() {
    let mut rng = rand::rng();
    for alg in [KeyAlgorithm::P256, KeyAlgorithm::Rsa2048] {
        let (key, cert) = offline_cert(alg);
        let ctx = ContextIdentifier::Nip("1111111111".into());
        let url =
            certificate_url(QR_HOST_TEST, &ctx, "1111111111", &cert.serial_hex(), &doc_hash(), &key, &mut rng).unwrap();
        let link = verify_certificate_url(&url, &cert).unwrap();
        assert_eq!(link.context, ctx);
        assert_eq!(link.invoice_sha256, doc_hash());
        let sig = url.rsplit_once('/').unwrap().1;
        if alg == KeyAlgorithm::P256 {
            assert_eq!(b64url_decode(sig).unwrap().len(), 64);
        } else {
            assert_eq!(b64url_decode(sig).unwrap().len(), 256);
        }
        // Tampered hash / other certificate fail.
        let bad = url.replace("/1111111111/1111111111/", "/1111111111/2222222222/");
        assert_eq!(verify_certificate_url(&bad, &cert).unwrap_err(), ksef_crypto::Error::BadSignature);
        let (_, other) = offline_cert(alg);
        assert!(verify_certificate_url(&url, &other).is_err());
        // An Authentication certificate for the same key is refused.
        let auth = auth_cert_for(&key, &cert);
        assert!(matches!(verify_certificate_url(&url, &auth), Err(ksef_crypto::Error::InvalidInput(_))));

        if alg == KeyAlgorithm::Rsa2048 && openssl() {
            // Independent check of RSA-PSS (SHA-256, MGF1-SHA-256, salt 32) with openssl.
            let dir = std::env::temp_dir().join(format!("ksef-qr-{}", std::process::id()));
            std::fs::create_dir_all(&dir).unwrap();
            let (signed, _) = url.strip_prefix("https://").unwrap().rsplit_once('/').unwrap();
            std::fs::write(dir.join("msg"), signed).unwrap();
            std::fs::write(dir.join("sig"), b64url_decode(sig).unwrap()).unwrap();
            std::fs::write(dir.join("cert.pem"), cert.to_pem().unwrap()).unwrap();
            let o = Command::new("sh")
                .arg("-c")
                .arg("openssl x509 -in cert.pem -pubkey -noout > pub.pem && openssl dgst -sha256 -sigopt rsa_padding_mode:pss -sigopt rsa_pss_saltlen:32 -sigopt rsa_mgf1_md:sha256 -verify pub.pem -signature sig msg")
                .current_dir(&dir)
                .output()
                .unwrap();
            assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
            std::fs::remove_dir_all(dir).ok();
        }
    }
}

fn openssl() -> bool {
    match Command::new("openssl").arg("version").output() {
        Ok(o) if o.status.success() => true,
        _ => {
            assert!(
                std::env::var("KSEF_SKIP_OPENSSL").as_deref() == Ok("1"),
                "openssl CLI required (KSEF_SKIP_OPENSSL=1 to skip)"
            );
            false
        }
    }
}
