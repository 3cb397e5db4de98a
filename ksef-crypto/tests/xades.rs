//! XAdES: our signatures verify under `xmlsec1` (independent implementation) and under our
//! verifier; the verifier accepts the four third-party fixtures and rejects tampering.
//!
//! `xmlsec1` must be installed (Debian package `xmlsec1`); set `KSEF_SKIP_XMLSEC=1` to skip
//! that part. Fixtures are read from `$KSEF_SHARED_DIR/fixtures/xades` (default
//! `../../shared` relative to this crate).

use std::path::PathBuf;
use std::process::Command;

use ksef_crypto::auth_request::{AllowedIps, AuthTokenNamespace};
use ksef_crypto::xades::{VerifyError, VerifyOptions, sign_auth_token_request, verify};
use ksef_crypto::{
    AuthTokenRequest, ContextIdentifier, KeyAlgorithm, SubjectFields, SubjectIdentifierType, SubjectIdentity,
    TestIdentity, UnixTime,
};

fn shared() -> PathBuf {
    std::env::var_os("KSEF_SHARED_DIR")
        .map_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../shared"), PathBuf::from)
}

const FIXTURES: [&str; 4] =
    ["xmlsec-excc14n-rsa.xml", "xmlsec-excc14n-ec.xml", "signxml-c14n11-rsa.xml", "signxml-c14n11-ec.xml"];

/// 2027-01-01T00:00:00Z: inside the fixtures' validity (2026-11-23 .. ~2046).
const FIXTURE_TIME: UnixTime = UnixTime::from_secs(1_798_761_600);

fn fixture(name: &str) -> String {
    let p = shared().join("fixtures/xades").join(name);
    std::fs::read_to_string(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

/// Change one character right after the first occurrence of `marker` (skipping `skip` chars).
fn tamper(xml: &str, marker: &str, skip: usize) -> String {
    let i = xml.find(marker).unwrap_or_else(|| panic!("marker {marker}")) + marker.len() + skip;
    let mut b = xml.as_bytes().to_vec();
    b[i] = match b[i] {
        b'0' => b'1',
        b'A' => b'B',
        b'a' => b'b',
        c if c.is_ascii_digit() => b'0',
        c if c.is_ascii_uppercase() => b'A',
        _ => b'a',
    };
    String::from_utf8(b).unwrap()
}

#[test]
fn third_party_fixtures_verify_and_tampering_is_caught() {
    for name in FIXTURES {
        let xml = fixture(name);
        let v = verify(&xml, &VerifyOptions::at(FIXTURE_TIME)).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(v.identity, SubjectIdentity::SealNip("5265877635".into()), "{name}");
        let req = v.auth_token_request().unwrap();
        assert_eq!(req.challenge, "20250514-CR-226FB7B000-3ACF9BE4C0-10");
        assert_eq!(req.context, ContextIdentifier::Nip("5265877635".into()));
        assert_eq!(req.subject_identifier_type, SubjectIdentifierType::CertificateSubject);

        // Signed content.
        let t = tamper(&xml, "<Nip>", 3);
        assert_eq!(verify(&t, &VerifyOptions::at(FIXTURE_TIME)).unwrap_err(), VerifyError::DigestMismatch(0), "{name}");
        // SignedProperties (a digit of SigningTime).
        let t = tamper(&xml, "SigningTime>", 3);
        assert!(
            matches!(verify(&t, &VerifyOptions::at(FIXTURE_TIME)).unwrap_err(), VerifyError::DigestMismatch(1)),
            "{name}"
        );
        // SignatureValue.
        let t = tamper(&xml, "SignatureValue>", 5);
        assert_eq!(verify(&t, &VerifyOptions::at(FIXTURE_TIME)).unwrap_err(), VerifyError::SignatureInvalid, "{name}");
        // Verification time outside the certificate validity.
        assert_eq!(
            verify(&xml, &VerifyOptions::at(UnixTime::from_secs(1_700_000_000))).unwrap_err(),
            VerifyError::CertificateNotValidAtTime
        );
    }
}

fn xmlsec_available() -> bool {
    match Command::new("xmlsec1").arg("--version").output() {
        Ok(o) if o.status.success() => true,
        _ => {
            assert!(
                std::env::var("KSEF_SKIP_XMLSEC").as_deref() == Ok("1"),
                "xmlsec1 is required: `apt-get install -y xmlsec1` (or set KSEF_SKIP_XMLSEC=1 to skip)"
            );
            false
        }
    }
}

fn xmlsec_verify(path: &std::path::Path) -> (bool, String) {
    let o = Command::new("xmlsec1")
        .args([
            "--verify",
            "--id-attr:Id",
            "SignedProperties",
            "--id-attr:Id",
            "http://uri.etsi.org/01903/v1.3.2#:SignedProperties",
            "--insecure",
        ])
        .arg(path)
        .output()
        .unwrap();
    (o.status.success(), String::from_utf8_lossy(&o.stderr).into_owned())
}

#[test]
fn our_signatures_verify_under_xmlsec1_and_ours() {
    let check_xmlsec = xmlsec_available();
    let dir = std::env::temp_dir().join(format!("ksef-xades-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let mut rng = rand::rng();
    let now = UnixTime::now();
    let start = UnixTime::from_secs(now.as_secs() - 86_400);
    for alg in [KeyAlgorithm::Rsa2048, KeyAlgorithm::P256] {
        let ids = [
            TestIdentity::generate(
                alg,
                &SubjectFields::seal("5265877635", "Firma & Syn <Test>").unwrap(),
                start,
                365,
                &mut rng,
            )
            .unwrap(),
            TestIdentity::generate(
                alg,
                &SubjectFields::person_nip("5265877635", "Jan", "Kowalski").unwrap(),
                start,
                365,
                &mut rng,
            )
            .unwrap(),
        ];
        for (k, id) in ids.iter().enumerate() {
            for ns in [AuthTokenNamespace::V2_0, AuthTokenNamespace::V2_1] {
                let mut req = AuthTokenRequest::new(
                    "20250604-CR-461EA5B000-537A6BA15D-D7",
                    ContextIdentifier::Nip("5265877635".into()),
                );
                req.namespace = ns;
                if k == 1 {
                    req.subject_identifier_type = SubjectIdentifierType::CertificateFingerprint;
                    req.allowed_ips = Some(AllowedIps {
                        ip4_addresses: vec!["192.168.0.1".into()],
                        ip4_ranges: vec!["10.0.0.1-10.0.0.9".into()],
                        ip4_masks: vec!["192.168.1.0/24".into()],
                    });
                }
                let signed = sign_auth_token_request(&req, id, UnixTime::from_secs(now.as_secs() - 60)).unwrap();
                let v = verify(&signed, &VerifyOptions::at(now))
                    .unwrap_or_else(|e| panic!("{alg:?} {ns:?}: {e}\n{signed}"));
                assert_eq!(v.certificate, id.certificate);
                assert_eq!(v.auth_token_request().unwrap(), req);
                assert_eq!(
                    verify(&tamper(&signed, "<Challenge>", 0), &VerifyOptions::at(now)).unwrap_err(),
                    VerifyError::DigestMismatch(0)
                );
                if check_xmlsec {
                    let p = dir.join(format!("{alg:?}-{k}-{ns:?}.xml"));
                    std::fs::write(&p, &signed).unwrap();
                    let (ok, err) = xmlsec_verify(&p);
                    assert!(ok, "xmlsec1 rejected {}: {err}", p.display());
                    // And xmlsec1 must reject a tampered copy (the check is meaningful).
                    let bad = dir.join(format!("{alg:?}-{k}-{ns:?}-tampered.xml"));
                    std::fs::write(&bad, tamper(&signed, "<Challenge>", 0)).unwrap();
                    assert!(!xmlsec_verify(&bad).0, "xmlsec1 accepted a tampered document");
                }
            }
        }
    }
    std::fs::remove_dir_all(dir).ok();
}

#[test]
fn rejections_name_the_failed_check() {
    let xml = fixture("xmlsec-excc14n-rsa.xml");
    let at = VerifyOptions::at(FIXTURE_TIME);
    // RSA-PSS.
    let pss = xml.replace(
        "http://www.w3.org/2001/04/xmldsig-more#rsa-sha256",
        "http://www.w3.org/2007/05/xmldsig-more#sha256-rsa-MGF1",
    );
    assert_eq!(verify(&pss, &at).unwrap_err(), VerifyError::RsaPssRejected);
    // Unknown algorithm.
    let unk = xml.replace("http://www.w3.org/2001/04/xmldsig-more#rsa-sha256", "urn:unknown");
    assert_eq!(verify(&unk, &at).unwrap_err(), VerifyError::UnsupportedSignatureMethod);
    let unk = xml.replacen("http://www.w3.org/2001/04/xmlenc#sha256", "urn:unknown", 1);
    assert_eq!(verify(&unk, &at).unwrap_err(), VerifyError::UnsupportedDigestMethod);
    // Missing SignedProperties reference: point it at the Signature itself.
    let nosp = xml.replace("URI=\"#SignedProperties\"", "URI=\"#Signature\"");
    assert!(matches!(
        verify(&nosp, &at).unwrap_err(),
        VerifyError::DigestMismatch(1) | VerifyError::MissingSignedProperties
    ));
    // Wrong certificate: swap in the certificate of another fixture.
    let other = fixture("xmlsec-excc14n-ec.xml");
    let cert_of = |s: &str| {
        let a = s.find("<ds:X509Certificate>").unwrap() + "<ds:X509Certificate>".len();
        let b = s.find("</ds:X509Certificate>").unwrap();
        s[a..b].to_string()
    };
    let swapped = xml.replace(&cert_of(&xml), &cert_of(&other));
    assert_eq!(verify(&swapped, &at).unwrap_err(), VerifyError::SigningCertificateMismatch);
    // DTD / entities.
    let dtd = xml.replacen("<AuthTokenRequest", "<!DOCTYPE AuthTokenRequest [<!ENTITY x \"y\">]><AuthTokenRequest", 1);
    assert_eq!(verify(&dtd, &at).unwrap_err(), VerifyError::MalformedXml);
    // Size cap.
    let small = VerifyOptions { max_bytes: 100, ..at };
    assert_eq!(verify(&xml, &small).unwrap_err(), VerifyError::TooLarge);
    // No signature.
    assert_eq!(verify("<a xmlns=\"urn:x\"/>", &at).unwrap_err(), VerifyError::NoSignature);
    // Signature wrapping: a second Signature is refused.
    let two = xml.replacen(
        "<Challenge>",
        "<x><ds:Signature xmlns:ds=\"http://www.w3.org/2000/09/xmldsig#\"/></x><Challenge>",
        1,
    );
    assert_eq!(verify(&two, &at).unwrap_err(), VerifyError::MultipleSignatures);
}

#[test]
fn single_byte_mutations_never_panic_and_rarely_pass() {
    // Every position of two fixtures, a few replacement bytes each: the verifier must return
    // (never panic), and no mutation inside the signed regions (document body, SignedInfo,
    // SignedProperties) may pass, except swapping whitespace inside a tag for a space.
    for name in ["xmlsec-excc14n-ec.xml", "signxml-c14n11-ec.xml"] {
        let xml = fixture(name);
        let bytes = xml.as_bytes();
        let mut accepted = 0usize;
        let range = |open: &str, close: &str| {
            let a = xml.find(open).unwrap();
            a..xml[a..].find(close).unwrap() + a + close.len()
        };
        let sig_start = xml.find("<ds:Signature").unwrap();
        // Regions whose every byte is covered by a digest or the signature.
        let signed_ranges = [
            xml.find("<AuthTokenRequest").unwrap()..sig_start,
            range("<ds:SignedInfo", "</ds:SignedInfo>"),
            range("<xades:SignedProperties", "</xades:SignedProperties>"),
        ];
        for i in 0..bytes.len() {
            for repl in [b'<', b'"', b'x', b' '] {
                if bytes[i] == repl {
                    continue;
                }
                let mut b = bytes.to_vec();
                b[i] = repl;
                let Ok(s) = String::from_utf8(b) else { continue };
                if verify(&s, &VerifyOptions::at(FIXTURE_TIME)).is_ok() {
                    accepted += 1;
                    let in_signed = signed_ranges.iter().any(|r| r.contains(&i));
                    let whitespace_swap = bytes[i].is_ascii_whitespace() && repl == b' ';
                    assert!(
                        !in_signed || whitespace_swap,
                        "{name}: mutation at {i} ({:?} -> {:?}) accepted",
                        bytes[i] as char,
                        repl as char
                    );
                }
            }
        }
        assert!(accepted < 200, "{name}: {accepted} mutations accepted");
    }
}

/// An external signer (e.g. an HSM) that returns DER ECDSA signatures, and one with a wrong key.
struct External {
    cert: ksef_crypto::Certificate,
    key: ksef_crypto::PrivateKey,
}

impl ksef_crypto::xades::XadesSigner for External {
    fn certificate(&self) -> &ksef_crypto::Certificate {
        &self.cert
    }
    fn sign(&self, data: &[u8]) -> Result<Vec<u8>, ksef_crypto::Error> {
        // Produce raw r||s with the local signer, then DER-encode it as a JCA signer would.
        let raw = ksef_crypto::xades::LocalSigner { key: &self.key, certificate: &self.cert }.sign(data)?;
        let sig = p256::ecdsa::Signature::from_slice(&raw).unwrap();
        Ok(sig.to_der().as_bytes().to_vec())
    }
}

#[test]
fn external_signer_der_is_converted_and_wrong_key_is_caught() {
    use ksef_crypto::xades::XadesSigner as _;
    let mut rng = rand::rng();
    let now = UnixTime::now();
    let id =
        TestIdentity::generate(KeyAlgorithm::P256, &SubjectFields::seal("5265877635", "X").unwrap(), now, 1, &mut rng)
            .unwrap();
    let ext = External { cert: id.certificate.clone(), key: id.key.clone() };
    assert_ne!(ext.sign(b"abc").unwrap().len(), 64);
    let req =
        AuthTokenRequest::new("20250604-CR-461EA5B000-537A6BA15D-D7", ContextIdentifier::Nip("5265877635".into()));
    let signed = sign_auth_token_request(&req, &ext, now).unwrap();
    verify(&signed, &VerifyOptions::at(now)).unwrap();
    let wrong = External { cert: id.certificate.clone(), key: ksef_crypto::PrivateKey::generate_p256(&mut rng) };
    assert_eq!(sign_auth_token_request(&req, &wrong, now).unwrap_err(), ksef_crypto::Error::Signing);
}

/// Hostile XML generated from a valid signed document: every case must be refused with a
/// typed error (never a panic, never an expansion or an external fetch).
fn hostile_xml_cases(xml: &str) -> Vec<(String, String)> {
    let root = xml.find("<AuthTokenRequest").unwrap();
    let with_prolog = |prolog: &str| format!("{}{prolog}{}", &xml[..root], &xml[root..]);
    let mut laughs = String::from("<!DOCTYPE AuthTokenRequest [<!ENTITY l0 \"lol\">");
    for i in 1..10 {
        let _ = std::fmt::Write::write_fmt(
            &mut laughs,
            format_args!("<!ENTITY l{i} \"{}\">", format!("&l{};", i - 1).repeat(10)),
        );
    }
    laughs.push_str("]>");
    let mut cases = vec![
        ("billion laughs".to_owned(), with_prolog(&laughs).replacen("<Challenge>", "<Challenge>&l9;", 1)),
        (
            "external entity".to_owned(),
            with_prolog("<!DOCTYPE AuthTokenRequest [<!ENTITY x SYSTEM \"file:///etc/passwd\">]>").replacen(
                "<Challenge>",
                "<Challenge>&x;",
                1,
            ),
        ),
        (
            "parameter entity".to_owned(),
            with_prolog("<!DOCTYPE AuthTokenRequest [<!ENTITY % p SYSTEM \"http://127.0.0.1:9/x.dtd\"> %p;]>"),
        ),
        ("external DTD".to_owned(), with_prolog("<!DOCTYPE AuthTokenRequest SYSTEM \"http://127.0.0.1:9/x.dtd\">")),
        ("processing instruction before the root".to_owned(), with_prolog("<?xml-stylesheet href=\"x.xsl\"?>")),
        ("processing instruction inside".to_owned(), xml.replacen("<Challenge>", "<Challenge><?evil x?>", 1)),
        ("second XML declaration".to_owned(), with_prolog("<?xml version=\"1.0\"?>")),
        // Not here: an XML declaration naming another encoding over UTF-8 text is accepted
        // (the declaration is outside the signed element and `verify` takes a `&str`).
        ("deep nesting".to_owned(), xml.replacen("<Challenge>", &format!("{}<Challenge>", "<a>".repeat(10_000)), 1)),
        (
            "huge attribute".to_owned(),
            xml.replacen("<AuthTokenRequest", &format!("<AuthTokenRequest x=\"{}\"", "A".repeat(2 << 20)), 1),
        ),
        (
            "many attributes".to_owned(),
            xml.replacen(
                "<Challenge",
                &format!("<Challenge{}", (0..5000).map(|i| format!(" a{i}=\"1\"")).collect::<String>()),
                1,
            ),
        ),
        ("duplicate attribute".to_owned(), xml.replacen("<AuthTokenRequest", "<AuthTokenRequest a=\"1\" a=\"2\"", 1)),
        ("undeclared prefix".to_owned(), xml.replacen("<Challenge>", "<Challenge><zz:y/>", 1)),
        ("NUL character".to_owned(), xml.replacen("<Challenge>", "<Challenge>\u{0}", 1)),
        ("control character".to_owned(), xml.replacen("<Challenge>", "<Challenge>\u{1}", 1)),
        ("CDATA in the digest".to_owned(), xml.replacen("<ds:DigestValue>", "<ds:DigestValue><![CDATA[", 1)),
        ("unclosed comment".to_owned(), xml.replacen("<Challenge>", "<Challenge><!-- ", 1)),
        ("double hyphen in comment".to_owned(), xml.replacen("<Challenge>", "<Challenge><!-- a -- b -->x", 1)),
        ("trailing garbage".to_owned(), format!("{xml}<x/>")),
        ("empty".to_owned(), String::new()),
        ("whitespace only".to_owned(), " \n\t".to_owned()),
        ("not XML".to_owned(), "{\"json\": true}".to_owned()),
    ];
    // Truncations at 60 evenly spaced points.
    let step = xml.len() / 60;
    for k in 1..60 {
        let mut cut = k * step;
        while !xml.is_char_boundary(cut) {
            cut -= 1;
        }
        cases.push((format!("truncated at {cut}"), xml[..cut].to_owned()));
    }
    cases
}

#[test]
fn generated_hostile_xml_is_refused_with_typed_errors() {
    let xml = fixture("xmlsec-excc14n-ec.xml");
    let cases = hostile_xml_cases(&xml);
    let opts = VerifyOptions::at(FIXTURE_TIME);
    for (name, case) in &cases {
        let started = std::time::Instant::now();
        let r = verify(case, &opts);
        assert!(r.is_err(), "{name}: accepted");
        // Not a timing claim: a guard against an expansion that runs for seconds.
        assert!(started.elapsed() < std::time::Duration::from_secs(5), "{name}: {:?}", started.elapsed());
    }
    // Non-UTF-8 bytes cannot reach `verify(&str)`: the conversion is the typed refusal.
    let mut latin2 = xml.clone().into_bytes();
    latin2.extend_from_slice(b"<!-- \xb1\xea -->");
    assert!(String::from_utf8(latin2).is_err());
    println!("hostile XML (XAdES verifier): {} cases", cases.len());
    assert!(cases.len() >= 80);
}
