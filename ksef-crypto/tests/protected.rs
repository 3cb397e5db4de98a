//! Password-protected keys made by the `openssl` CLI (not linked): PKCS#12 in OpenSSL 3's
//! default form and in the legacy form (3DES/RC2, SHA-1 MAC), RSA and P-256, with and without a
//! chain; encrypted PKCS#8 PEM. Fails if `openssl` is missing unless `KSEF_SKIP_OPENSSL=1`.

use std::path::{Path, PathBuf};
use std::process::Command;

use ksef_crypto::{Certificate, Error, KeyKind, Pkcs12Bundle, PrivateKey};

fn openssl_available() -> bool {
    match Command::new("openssl").arg("version").output() {
        Ok(o) if o.status.success() => true,
        _ => {
            assert!(
                std::env::var("KSEF_SKIP_OPENSSL").as_deref() == Ok("1"),
                "the `openssl` CLI is required for this test (set KSEF_SKIP_OPENSSL=1 to skip)"
            );
            false
        }
    }
}

fn tmpdir(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("ksef-crypto-p12-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

fn openssl(dir: &Path, args: &[&str]) {
    let o = Command::new("openssl").current_dir(dir).args(args).output().unwrap();
    assert!(o.status.success(), "openssl {args:?}: {}", String::from_utf8_lossy(&o.stderr));
}

/// A CA and a leaf signed by it, with the leaf's key of the given kind (`rsa` or `ec`).
fn make_leaf(dir: &Path, kind: &str) {
    let newkey: &[&str] = match kind {
        "rsa" => &["-newkey", "rsa:2048"],
        _ => &["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256"],
    };
    let mut ca = vec!["req", "-x509", "-nodes", "-keyout", "ca.key", "-out", "ca.pem", "-days", "30"];
    ca.extend_from_slice(&["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-subj", "/CN=Test CA"]);
    openssl(dir, &ca);
    let mut req = vec!["req", "-new", "-nodes", "-keyout", "leaf.key", "-out", "leaf.csr"];
    req.extend_from_slice(newkey);
    req.extend_from_slice(&["-subj", "/CN=Jan Kowalski/serialNumber=TINPL-5265877635/C=PL"]);
    openssl(dir, &req);
    openssl(
        dir,
        &[
            "x509",
            "-req",
            "-in",
            "leaf.csr",
            "-CA",
            "ca.pem",
            "-CAkey",
            "ca.key",
            "-set_serial",
            "7",
            "-days",
            "30",
            "-out",
            "leaf.pem",
        ],
    );
}

fn assert_key_matches(key: &PrivateKey, cert: &Certificate) {
    assert_eq!(
        key.public_key().to_spki_der().unwrap(),
        cert.spki_der().unwrap(),
        "key does not belong to the certificate"
    );
}

#[test]
fn pkcs12_from_openssl_default_and_legacy_rsa_and_p256() {
    if !openssl_available() {
        return;
    }
    for kind in ["rsa", "ec"] {
        let dir = tmpdir(kind);
        make_leaf(&dir, kind);
        let leaf = Certificate::from_pem(&std::fs::read_to_string(dir.join("leaf.pem")).unwrap()).unwrap();
        let ca = Certificate::from_pem(&std::fs::read_to_string(dir.join("ca.pem")).unwrap()).unwrap();
        let base = ["pkcs12", "-export", "-inkey", "leaf.key", "-in", "leaf.pem", "-passout", "pass:tajne hasło"];
        let forms: [(&str, &[&str]); 4] = [
            ("default.p12", &[]),
            ("chain.p12", &["-certfile", "ca.pem"]),
            ("legacy.p12", &["-legacy", "-certfile", "ca.pem"]),
            ("3des-sha1.p12", &["-keypbe", "PBE-SHA1-3DES", "-certpbe", "PBE-SHA1-3DES", "-macalg", "sha1"]),
        ];
        for (file, extra) in forms {
            let mut args: Vec<&str> = base.to_vec();
            args.extend_from_slice(extra);
            args.extend_from_slice(&["-out", file]);
            openssl(&dir, &args);
            let der = std::fs::read(dir.join(file)).unwrap();

            let bundle = Pkcs12Bundle::from_der(&der, "tajne hasło").unwrap_or_else(|e| panic!("{kind} {file}: {e}"));
            assert_eq!(bundle.key.kind(), if kind == "rsa" { KeyKind::Rsa } else { KeyKind::P256 }, "{file}");
            assert_eq!(bundle.certificate.der(), leaf.der(), "{kind} {file}: leaf");
            assert_key_matches(&bundle.key, &bundle.certificate);
            let chain: Vec<&[u8]> = bundle.chain.iter().map(Certificate::der).collect();
            let want: Vec<&[u8]> = if extra.contains(&"ca.pem") { vec![ca.der()] } else { vec![] };
            assert_eq!(chain, want, "{kind} {file}: chain");
            assert!(!format!("{bundle:?}").contains("BEGIN"), "Debug must not show key material");

            // Wrong password: a typed error, not a panic and not "malformed".
            assert_eq!(Pkcs12Bundle::from_der(&der, "tajne haslo").unwrap_err(), Error::WrongPassword, "{kind} {file}");
            assert_eq!(Pkcs12Bundle::from_der(&der, "").unwrap_err(), Error::WrongPassword, "{kind} {file}");
        }
        let _ = std::fs::remove_dir_all(&dir);
    }
}

#[test]
fn pkcs12_broken_input_gives_typed_errors() {
    if !openssl_available() {
        return;
    }
    let dir = tmpdir("broken");
    make_leaf(&dir, "ec");
    openssl(
        &dir,
        &["pkcs12", "-export", "-inkey", "leaf.key", "-in", "leaf.pem", "-passout", "pass:pw", "-out", "ok.p12"],
    );
    // Certificates only: no key inside.
    openssl(&dir, &["pkcs12", "-export", "-nokeys", "-in", "leaf.pem", "-passout", "pass:pw", "-out", "nokey.p12"]);
    let der = std::fs::read(dir.join("ok.p12")).unwrap();

    assert!(matches!(
        Pkcs12Bundle::from_der(&std::fs::read(dir.join("nokey.p12")).unwrap(), "pw"),
        Err(Error::InvalidInput(_))
    ));
    assert!(Pkcs12Bundle::from_der(b"", "pw").is_err());
    assert!(Pkcs12Bundle::from_der(b"not a pfx at all", "pw").is_err());
    // Every truncation and a flipped byte at every 7th position: an error or (where the MAC
    // region is untouched and the flip lands in padding) a correct bundle — never a panic.
    for cut in (0..der.len()).step_by(3) {
        assert!(Pkcs12Bundle::from_der(&der[..cut], "pw").is_err(), "truncated at {cut}");
    }
    for i in (0..der.len()).step_by(7) {
        let mut bad = der.clone();
        bad[i] ^= 0x5a;
        if let Ok(b) = Pkcs12Bundle::from_der(&bad, "pw") {
            assert_key_matches(&b.key, &b.certificate);
        }
    }
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn encrypted_pkcs8_pem() {
    if !openssl_available() {
        return;
    }
    let dir = tmpdir("pkcs8");
    for kind in ["rsa", "ec"] {
        make_leaf(&dir, kind);
        openssl(&dir, &["pkcs8", "-topk8", "-in", "leaf.key", "-out", "enc.pem", "-passout", "pass:sekret"]);
        let pem = std::fs::read_to_string(dir.join("enc.pem")).unwrap();
        let plain = std::fs::read_to_string(dir.join("leaf.key")).unwrap();
        let leaf = Certificate::from_pem(&std::fs::read_to_string(dir.join("leaf.pem")).unwrap()).unwrap();

        assert!(PrivateKey::pem_is_encrypted(&pem));
        assert!(!PrivateKey::pem_is_encrypted(&plain));
        let key = PrivateKey::from_pem_with_password(&pem, "sekret").unwrap();
        assert_key_matches(&key, &leaf);
        assert_eq!(PrivateKey::from_pem_with_password(&pem, "wrong").unwrap_err(), Error::WrongPassword);
        // Without a password API the encrypted PEM is refused, not misread.
        assert!(PrivateKey::from_pem(&pem).is_err());
        // An unencrypted PEM loads through the same call.
        assert_key_matches(&PrivateKey::from_pem_with_password(&plain, "ignored").unwrap(), &leaf);
    }
    let _ = std::fs::remove_dir_all(&dir);
}
