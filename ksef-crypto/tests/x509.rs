//! Test identities, identity parsing, fingerprints, key loading, CSRs and issuing; checked
//! against the `openssl` CLI where it adds independent evidence (fails if `openssl` is
//! missing unless `KSEF_SKIP_OPENSSL=1`).

use std::path::PathBuf;
use std::process::Command;

use ksef_crypto::x509::{
    CsrError, create_csr, issue_from_csr, key_usage, parse_csr, random_serial, self_signed, self_signed_ca,
    verify_issued_by,
};
use ksef_crypto::{
    Certificate, KeyAlgorithm, KeyUsage, KsefCertificateType, KsefPublicKey, PrivateKey, SubjectFields,
    SubjectIdentity, TestIdentity, UnixTime, select_key,
};

const T0: u64 = 1_790_000_000; // 2026-09-21

fn openssl() -> bool {
    match Command::new("openssl").arg("version").output() {
        Ok(o) if o.status.success() => true,
        _ => {
            assert!(
                std::env::var("KSEF_SKIP_OPENSSL").as_deref() == Ok("1"),
                "the `openssl` CLI is required (set KSEF_SKIP_OPENSSL=1 to skip)"
            );
            false
        }
    }
}

fn tmp(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("ksef-x509-{name}-{}", std::process::id()));
    std::fs::create_dir_all(&d).unwrap();
    d
}

fn run(cmd: &mut Command) -> String {
    let o = cmd.output().unwrap();
    assert!(o.status.success(), "{cmd:?}: {}", String::from_utf8_lossy(&o.stderr));
    String::from_utf8_lossy(&o.stdout).into_owned() + &String::from_utf8_lossy(&o.stderr)
}

#[test]
fn identities_parse_back() {
    let mut rng = rand::rng();
    let t = UnixTime::from_secs(T0);
    let p = TestIdentity::generate(
        KeyAlgorithm::P256,
        &SubjectFields::person_nip("5265877635", "Jan", "Kowalski").unwrap(),
        t,
        365,
        &mut rng,
    )
    .unwrap();
    assert_eq!(p.certificate.identity(), SubjectIdentity::Nip("5265877635".into()));
    assert_eq!(p.certificate.serial_hex().len(), 16);
    assert!(p.certificate.is_valid_at(t));
    assert!(!p.certificate.is_valid_at(UnixTime::from_secs(T0 + 366 * 86_400)));
    let q = TestIdentity::generate(
        KeyAlgorithm::P256,
        &SubjectFields::person_pesel("90010112345", "Anna", "Nowak").unwrap(),
        t,
        1,
        &mut rng,
    )
    .unwrap();
    assert_eq!(q.certificate.identity(), SubjectIdentity::Pesel("90010112345".into()));
    let s = TestIdentity::generate(
        KeyAlgorithm::Rsa2048,
        &SubjectFields::seal("5265877635", "Firma Testowa sp. z o.o.").unwrap(),
        t,
        10,
        &mut rng,
    )
    .unwrap();
    assert_eq!(s.certificate.identity(), SubjectIdentity::SealNip("5265877635".into()));
    assert_eq!(s.certificate.identity().nip(), Some("5265877635"));
    assert!(SubjectFields::person_nip("123", "a", "b").is_err());
    // Round trip through PEM.
    let pem = s.certificate.to_pem().unwrap();
    assert_eq!(Certificate::from_pem(&pem).unwrap(), s.certificate);
    let kp = s.key.to_pkcs8_pem().unwrap();
    let k2 = PrivateKey::from_pem(&kp).unwrap();
    assert_eq!(k2.public_key(), s.key.public_key());
    assert!(!format!("{:?}", s.key).contains("MII"));
    assert_eq!(Certificate::from_der(&[0x30, 0x03, 1, 2, 3]).unwrap_err(), ksef_crypto::Error::Der);
}

#[test]
fn openssl_agrees_on_fingerprint_subject_and_keys() {
    if !openssl() {
        return;
    }
    let dir = tmp("fp");
    let mut rng = rand::rng();
    let id = TestIdentity::generate(
        KeyAlgorithm::P256,
        &SubjectFields::person_nip("5265877635", "Jan", "Kowalski").unwrap(),
        UnixTime::from_secs(T0),
        365,
        &mut rng,
    )
    .unwrap();
    let path = dir.join("c.pem");
    std::fs::write(&path, id.certificate.to_pem().unwrap()).unwrap();
    let out = run(Command::new("openssl")
        .args(["x509", "-noout", "-fingerprint", "-sha256", "-nameopt", "RFC2253", "-subject", "-in"])
        .arg(&path));
    let fp = out.lines().find_map(|l| l.split_once("Fingerprint=").map(|(_, v)| v.replace(':', ""))).unwrap();
    assert_eq!(fp, id.certificate.fingerprint());
    assert!(out.contains("serialNumber=TINPL-5265877635"), "{out}");
    assert!(out.contains("GN=Jan"), "{out}");
    // SEC1 and PKCS#1 keys made by openssl load.
    let ec = dir.join("ec.pem");
    run(Command::new("openssl").args(["ecparam", "-name", "prime256v1", "-genkey", "-noout", "-out"]).arg(&ec));
    let k = PrivateKey::from_pem(&std::fs::read_to_string(&ec).unwrap()).unwrap();
    assert_eq!(k.kind(), ksef_crypto::KeyKind::P256);
    let rsa = dir.join("rsa.pem");
    run(Command::new("openssl").args(["genrsa", "-traditional", "-out"]).arg(&rsa).arg("2048"));
    let pem = std::fs::read_to_string(&rsa).unwrap();
    assert!(pem.contains("BEGIN RSA PRIVATE KEY"));
    assert_eq!(PrivateKey::from_pem(&pem).unwrap().kind(), ksef_crypto::KeyKind::Rsa);
    std::fs::remove_dir_all(dir).ok();
}

#[test]
fn csr_create_parse_issue() {
    let mut rng = rand::rng();
    let t = UnixTime::from_secs(T0);
    let ca_key = PrivateKey::generate_p256(&mut rng);
    let ca = self_signed_ca(
        &ca_key,
        "KSeF Emulator CA",
        &random_serial(&mut rng),
        t,
        UnixTime::from_secs(T0 + 3650 * 86_400),
    )
    .unwrap();
    for alg in [KeyAlgorithm::P256, KeyAlgorithm::Rsa2048] {
        let key = alg.generate(&mut rng).unwrap();
        let subject = SubjectFields {
            unique_identifier: Some("abc-123".into()),
            ..SubjectFields::person_pesel("90010112345", "Anna", "Nowak").unwrap()
        };
        let csr = create_csr(&key, &subject).unwrap();
        let parsed = parse_csr(&csr).unwrap();
        assert_eq!(parsed.subject, subject);
        assert_eq!(parsed.public_key, key.public_key());
        // Tamper with a byte inside the subject.
        let mut bad = csr.clone();
        let pos = bad.windows(5).position(|w| w == b"Nowak").unwrap();
        bad[pos] = b'M';
        assert_eq!(parse_csr(&bad).unwrap_err(), CsrError::Signature);
        assert_eq!(parse_csr(&csr[..csr.len() - 3]).unwrap_err(), CsrError::Format);

        let serial = random_serial(&mut rng);
        for kind in [KsefCertificateType::Authentication, KsefCertificateType::Offline] {
            let cert = issue_from_csr(&ca_key, &ca, &parsed, &serial, kind, t, UnixTime::from_secs(T0 + 730 * 86_400))
                .unwrap();
            verify_issued_by(&cert, &ca).unwrap();
            assert!(verify_issued_by(&ca, &cert).is_err());
            assert_eq!(cert.serial_hex().len(), 16);
            assert_eq!(cert.identity(), SubjectIdentity::Pesel("90010112345".into()));
            let ku = key_usage(&cert).unwrap();
            assert_eq!(ku, (kind == KsefCertificateType::Authentication, kind == KsefCertificateType::Offline));
        }
    }
}

#[test]
fn openssl_verifies_our_csr_and_chain_and_we_parse_its_csrs() {
    if !openssl() {
        return;
    }
    let dir = tmp("csr");
    let mut rng = rand::rng();
    let t = UnixTime::from_secs(T0);
    let key = PrivateKey::generate_p256(&mut rng);
    let csr = create_csr(&key, &SubjectFields::seal("5265877635", "Firma").unwrap()).unwrap();
    let p = dir.join("csr.der");
    std::fs::write(&p, &csr).unwrap();
    let out = run(Command::new("openssl").args(["req", "-inform", "DER", "-verify", "-noout", "-in"]).arg(&p));
    assert!(out.contains("verify OK") || out.contains("Certificate request self-signature verify OK"), "{out}");

    let ca_key = PrivateKey::generate_rsa2048(&mut rng).unwrap();
    let ca =
        self_signed_ca(&ca_key, "Emulator CA", &random_serial(&mut rng), t, UnixTime::from_secs(T0 + 3650 * 86_400))
            .unwrap();
    let parsed = parse_csr(&csr).unwrap();
    let cert = issue_from_csr(
        &ca_key,
        &ca,
        &parsed,
        &random_serial(&mut rng),
        KsefCertificateType::Offline,
        t,
        UnixTime::from_secs(T0 + 365 * 86_400),
    )
    .unwrap();
    std::fs::write(dir.join("ca.pem"), ca.to_pem().unwrap()).unwrap();
    std::fs::write(dir.join("leaf.pem"), cert.to_pem().unwrap()).unwrap();
    let out = run(Command::new("openssl")
        .args(["verify", "-attime", &(T0 + 86_400).to_string(), "-CAfile"])
        .arg(dir.join("ca.pem"))
        .arg(dir.join("leaf.pem")));
    assert!(out.contains("OK"), "{out}");

    // CSRs made by openssl: RSA PKCS#1 v1.5, RSA-PSS (the C# client's default), EC.
    let cases: [(&str, &[&str]); 3] = [
        ("rsa", &["-newkey", "rsa:2048"]),
        ("pss", &["-newkey", "rsa:2048", "-sigopt", "rsa_padding_mode:pss", "-sigopt", "rsa_pss_saltlen:32"]),
        ("ec", &["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256"]),
    ];
    for (name, args) in cases {
        let out = dir.join(format!("{name}.der"));
        run(Command::new("openssl")
            .args(["req", "-new", "-nodes", "-sha256", "-keyout"])
            .arg(dir.join(format!("{name}.key")))
            .args(args)
            .args([
                "-subj",
                "/CN=Jan Kowalski/SN=Kowalski/GN=Jan/C=PL/serialNumber=TINPL-5265877635",
                "-outform",
                "DER",
                "-out",
            ])
            .arg(&out));
        let parsed = parse_csr(&std::fs::read(&out).unwrap()).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(parsed.subject.serial_number.as_deref(), Some("TINPL-5265877635"));
    }
    // RSA-1024 is refused as a key type.
    let out = dir.join("small.der");
    run(Command::new("openssl")
        .args(["req", "-new", "-nodes", "-newkey", "rsa:1024", "-keyout"])
        .arg(dir.join("small.key"))
        .args(["-subj", "/CN=x/C=PL", "-outform", "DER", "-out"])
        .arg(&out));
    assert_eq!(parse_csr(&std::fs::read(&out).unwrap()).unwrap_err(), CsrError::KeyType);
    std::fs::remove_dir_all(dir).ok();
}

#[test]
fn select_latest_valid_key() {
    let mut rng = rand::rng();
    let day = 86_400;
    let mk = |from: u64, to: u64, rng: &mut rand::rngs::ThreadRng| {
        let key = PrivateKey::generate_p256(rng);
        self_signed(
            &key,
            &SubjectFields::seal("5265877635", "MF").unwrap(),
            &random_serial(rng),
            UnixTime::from_secs(from),
            UnixTime::from_secs(to),
        )
        .unwrap()
    };
    let old = mk(T0 - 100 * day, T0 + 100 * day, &mut rng);
    let new = mk(T0 - 10 * day, T0 + 100 * day, &mut rng);
    let future = mk(T0 + 10 * day, T0 + 100 * day, &mut rng);
    let expired = mk(T0 - 100 * day, T0 - day, &mut rng);
    let sym = [KeyUsage::SymmetricKeyEncryption];
    let keys: Vec<KsefPublicKey> =
        [&old, &new, &future, &expired].iter().map(|c| KsefPublicKey::from_der(c.der(), &sym).unwrap()).collect();
    let now = UnixTime::from_secs(T0);
    let chosen = select_key(&keys, KeyUsage::SymmetricKeyEncryption, now).unwrap();
    assert_eq!(chosen.certificate(), &new);
    assert_eq!(chosen.certificate_id(), new.certificate_id());
    assert!(select_key(&keys, KeyUsage::KsefTokenEncryption, now).is_err());
    assert!(select_key(&keys, KeyUsage::SymmetricKeyEncryption, UnixTime::from_secs(T0 + 200 * day)).is_err());
}

/// Corrupt certificates and keys generated from valid ones (RSA and EC): every truncation
/// point of interest, a bad length byte, a wrong PEM label, broken Base64, an empty body, a key
/// in the certificate's place and the reverse. Each is a typed error, never a panic; random
/// single-byte flips must merely not panic (a flipped signature byte still parses).
#[test]
fn generated_corrupt_certificates_and_keys_are_typed_errors() {
    let mut rng = rand::rng();
    let now = UnixTime::now();
    let mut refused = 0usize;
    let mut flipped = 0usize;
    for alg in [KeyAlgorithm::Rsa2048, KeyAlgorithm::P256] {
        let id = TestIdentity::generate(alg, &SubjectFields::seal("5265877635", "Firma").unwrap(), now, 30, &mut rng)
            .unwrap();
        let cert_der = id.certificate.der().to_vec();
        let cert_pem = id.certificate.to_pem().unwrap();
        let key_der = id.key.to_pkcs8_der().unwrap().to_vec();
        let key_pem = id.key.to_pkcs8_pem().unwrap().to_string();
        // DER: truncations at 40 points, an over-long length, an empty input, a trailing byte.
        for der in [&cert_der, &key_der] {
            let mut cases: Vec<Vec<u8>> = (0..40).map(|k| der[..der.len() * k / 40].to_vec()).collect();
            let mut long = der.clone();
            long[1] = 0x84; // a 4-byte length that points far past the end
            cases.push(long);
            let mut trailing = der.clone();
            trailing.push(0);
            cases.push(trailing);
            cases.push(vec![0x30, 0x80, 0x00, 0x00]); // BER indefinite length
            for c in &cases {
                if std::ptr::eq(der, &cert_der) {
                    assert!(Certificate::from_der(c).is_err(), "certificate of {} bytes accepted", c.len());
                } else {
                    assert!(PrivateKey::from_der(c).is_err(), "key of {} bytes accepted", c.len());
                }
                refused += 1;
            }
        }
        // The wrong thing in the right place.
        assert!(Certificate::from_der(&key_der).is_err());
        assert!(PrivateKey::from_der(&cert_der).is_err());
        assert!(Certificate::from_pem(&key_pem).is_err());
        assert!(PrivateKey::from_pem(&cert_pem).is_err());
        refused += 4;
        // PEM damage.
        for pem in [&cert_pem, &key_pem] {
            let body_line = pem.lines().nth(1).unwrap().to_owned();
            let cases = [
                String::new(),
                pem.replace("-----END", "-----FINISH"),
                pem.lines().take(3).collect::<Vec<_>>().join("\n"),
                pem.replacen(&body_line, &body_line.replace(|c: char| c.is_ascii_alphanumeric(), "!"), 1),
                pem.replacen(&body_line, "", 1),
                pem.replace("CERTIFICATE", "X509 CRL").replace("PRIVATE KEY", "X509 CRL"),
                pem.lines().filter(|l| l.starts_with("-----")).collect::<Vec<_>>().join("\n"),
                format!("{}\0", &pem[..pem.len() / 2]),
            ];
            for c in &cases {
                if std::ptr::eq(pem, &cert_pem) {
                    assert!(Certificate::from_pem(c).is_err(), "certificate PEM accepted: {c:?}");
                } else {
                    assert!(PrivateKey::from_pem(c).is_err(), "key PEM accepted");
                }
                refused += 1;
            }
        }
        // Single-byte flips at 200 positions: no panic (Ok or Err).
        for i in 0..200 {
            let mut c = cert_der.clone();
            let at = (i * 7919) % c.len();
            c[at] ^= 0x5a;
            let _ = Certificate::from_der(&c).map(|c| c.public_key_id());
            let mut k = key_der.clone();
            let at = (i * 7919) % k.len();
            k[at] ^= 0x5a;
            let _ = PrivateKey::from_der(&k);
            flipped += 2;
        }
    }
    println!("corrupt certificates/keys: {refused} refused cases, {flipped} no-panic flips");
    assert!(refused >= 200);
}
