//! Cases that need real keys: hostile XAdES `AuthTokenRequest`s (mutations of one we sign here),
//! corrupt certificates and corrupt private keys. Keys come from a seeded RNG and the signing
//! time is fixed, so the bytes are the same on every run (ECDSA signs deterministically, RFC 6979).

use anyhow::{Context, Result};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use ksef_crypto::xades::sign_auth_token_request;
use ksef_crypto::{AuthTokenRequest, ContextIdentifier, KeyAlgorithm, SubjectFields, TestIdentity, UnixTime};
use rand::{RngExt as _, SeedableRng as _};
use serde_json::{Value, json};

use super::Corpus;
use super::text::SELLER_NIP;

/// The challenge inside every corpus AuthTokenRequest: the emulator never issued it.
pub const CHALLENGE: &str = "20260115-CR-2C3E6C8000-B675CF5D68-07";
/// 2025-01-01T00:00:00Z: the corpus certificates' notBefore (valid for 20 years).
const NOT_BEFORE: UnixTime = UnixTime::from_secs(1_735_689_600);
/// 2026-01-15T10:00:00Z: the signing time.
const SIGNED_AT: UnixTime = UnixTime::from_secs(1_768_471_200);

fn identity(seed: u64) -> Result<TestIdentity> {
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    let subject = SubjectFields::seal(SELLER_NIP, "Korpus Testowy Sp. z o.o.").map_err(|e| anyhow::anyhow!("{e}"))?;
    TestIdentity::generate(KeyAlgorithm::P256, &subject, NOT_BEFORE, 7300, &mut rng).map_err(|e| anyhow::anyhow!("{e}"))
}

/// Replaces the first `from` (which must occur) with `to`.
fn r(doc: &str, from: &str, to: &str) -> Result<String> {
    anyhow::ensure!(doc.contains(from), "the signed document has no {from:?}");
    Ok(doc.replacen(from, to, 1))
}

/// The text between the first `open` and the following `close`.
fn between<'a>(doc: &'a str, open: &str, close: &str) -> Result<&'a str> {
    let a = doc.find(open).with_context(|| format!("no {open}"))? + open.len();
    let b = a + doc[a..].find(close).with_context(|| format!("no {close}"))?;
    Ok(&doc[a..b])
}

/// Changes the character `skip` positions after the first `marker`.
fn tamper(doc: &str, marker: &str, skip: usize) -> Result<String> {
    let i = doc.find(marker).with_context(|| format!("no {marker}"))? + marker.len() + skip;
    let mut b = doc.as_bytes().to_vec();
    b[i] = match b[i] {
        b'0' => b'1',
        b'A' => b'B',
        c if c.is_ascii_digit() => b'0',
        c if c.is_ascii_uppercase() => b'A',
        _ => b'a',
    };
    Ok(String::from_utf8(b)?)
}

/// The emulator's answer to a verification failure (`POST /auth/xades-signature`).
fn emulator_code(verify: &str) -> u32 {
    match verify {
        "MalformedXml" => 9101,
        "NoSignature" => 9102,
        "MultipleSignatures" => 9103,
        "BadCertificate" | "UnsupportedKey" => 21115,
        _ => 9105,
    }
}

/// Hostile XAdES AuthTokenRequests. `crypto`: the verifier's `VerifyError` variant; `emulator`:
/// 400 with the exception code `POST /auth/xades-signature` gives it (a valid signature over an
/// unknown challenge is `21111`).
pub fn xades(c: &mut Corpus) -> Result<()> {
    let id = identity(0x7861_6465)?;
    let req = AuthTokenRequest::new(CHALLENGE, ContextIdentifier::Nip(SELLER_NIP.to_owned()));
    let doc = sign_auth_token_request(&req, &id, SIGNED_AT).map_err(|e| anyhow::anyhow!("signing: {e}"))?;
    let sig_start = doc.find("<Signature").context("no Signature")?;
    let sig_end = doc.find("</Signature>").context("no </Signature>")? + "</Signature>".len();
    let signature = &doc[sig_start..sig_end];
    let cert_b64 = between(&doc, "<X509Certificate>", "</X509Certificate>")?.to_owned();
    let cert_der = B64.decode(cert_b64.trim()).map_err(|e| anyhow::anyhow!("certificate Base64: {e}"))?;
    let sig_method = between(&doc, "<SignatureMethod Algorithm=\"", "\"")?.to_owned();
    let c14n = between(&doc, "<CanonicalizationMethod Algorithm=\"", "\"")?.to_owned();
    let digest = between(&doc, "<DigestMethod Algorithm=\"", "\"")?.to_owned();

    let mut cases: Vec<(&str, &str, Vec<u8>, Option<&str>)> = vec![
        (
            "control-valid",
            "none (control: the signature verifies; the emulator never issued the challenge)",
            doc.clone().into_bytes(),
            Some("Ok"),
        ),
        (
            "tamper-nip",
            "the signed context NIP changed",
            tamper(&doc, "<Nip>", 3)?.into_bytes(),
            Some("DigestMismatch"),
        ),
        (
            "tamper-signing-time",
            "SigningTime changed",
            tamper(&doc, "SigningTime>", 3)?.into_bytes(),
            Some("DigestMismatch"),
        ),
        (
            "tamper-signature-value",
            "SignatureValue changed",
            tamper(&doc, "SignatureValue>", 5)?.into_bytes(),
            Some("SignatureInvalid"),
        ),
        (
            "tamper-challenge",
            "the signed challenge changed",
            tamper(&doc, "<Challenge>", 1)?.into_bytes(),
            Some("DigestMismatch"),
        ),
        (
            "no-signature",
            "the signature removed",
            format!("{}{}", &doc[..sig_start], &doc[sig_end..]).into_bytes(),
            Some("NoSignature"),
        ),
        (
            "two-signatures",
            "the signature duplicated",
            format!("{}{signature}{}", &doc[..sig_end], &doc[sig_end..]).into_bytes(),
            Some("MultipleSignatures"),
        ),
        (
            "dtd",
            "an internal DTD before the signed root",
            r(&doc, "<AuthTokenRequest", "<!DOCTYPE AuthTokenRequest []><AuthTokenRequest")?.into_bytes(),
            Some("MalformedXml"),
        ),
        (
            "entity",
            "an entity defined in a DTD and used in the NIP",
            {
                let d = r(
                    &doc,
                    "<AuthTokenRequest",
                    "<!DOCTYPE AuthTokenRequest [<!ENTITY n \"5265877635\">]><AuthTokenRequest",
                )?;
                r(&d, &format!("<Nip>{SELLER_NIP}</Nip>"), "<Nip>&n;</Nip>")?.into_bytes()
            },
            Some("MalformedXml"),
        ),
        (
            "xxe",
            "an external entity in the NIP",
            {
                let d = r(
                    &doc,
                    "<AuthTokenRequest",
                    "<!DOCTYPE AuthTokenRequest [<!ENTITY n SYSTEM \"file:///etc/hostname\">]><AuthTokenRequest",
                )?;
                r(&d, &format!("<Nip>{SELLER_NIP}</Nip>"), "<Nip>&n;</Nip>")?.into_bytes()
            },
            Some("MalformedXml"),
        ),
        (
            "pi-in-signed-content",
            "a processing instruction inside the signed root",
            r(&doc, "<Challenge>", "<?evil x?><Challenge>")?.into_bytes(),
            Some("DigestMismatch"),
        ),
        (
            "truncated",
            "the document cut before the signature ends",
            doc.as_bytes()[..sig_start + signature.len() / 2].to_vec(),
            Some("MalformedXml"),
        ),
        (
            "deep-nesting",
            "200 nested elements inside the signature",
            r(
                &doc,
                "</Signature>",
                &format!("<Object>{}{}</Object></Signature>", "<a>".repeat(200), "</a>".repeat(200)),
            )?
            .into_bytes(),
            Some("MalformedXml"),
        ),
        (
            "cert-not-base64",
            "KeyInfo certificate that is not Base64",
            r(&doc, &cert_b64, &format!("!{}", &cert_b64[1..]))?.into_bytes(),
            Some("Base64|BadCertificate"),
        ),
        (
            "cert-truncated",
            "KeyInfo certificate DER cut in half",
            r(&doc, &cert_b64, &B64.encode(&cert_der[..cert_der.len() / 2]))?.into_bytes(),
            Some("SigningCertificateMismatch"),
        ),
        (
            "cert-garbage",
            "KeyInfo certificate that is random bytes",
            r(&doc, &cert_b64, &B64.encode(seeded_bytes(11, cert_der.len())))?.into_bytes(),
            Some("SigningCertificateMismatch"),
        ),
        (
            "cert-other-key",
            "KeyInfo certificate of another key (substitution)",
            {
                let other = identity(0x6f74_6865)?;
                r(&doc, &cert_b64, &B64.encode(other.certificate.der()))?.into_bytes()
            },
            Some("SigningCertificateMismatch|SignatureInvalid"),
        ),
        (
            "rsa-pss",
            "SignatureMethod RSA-PSS",
            r(&doc, &sig_method, "http://www.w3.org/2007/05/xmldsig-more#sha256-rsa-MGF1")?.into_bytes(),
            Some("RsaPssRejected"),
        ),
        (
            "hmac",
            "SignatureMethod HMAC (key confusion)",
            r(&doc, &sig_method, "http://www.w3.org/2001/04/xmldsig-more#hmac-sha256")?.into_bytes(),
            Some("UnsupportedSignatureMethod"),
        ),
        (
            "digest-md5",
            "DigestMethod MD5",
            r(&doc, &digest, "http://www.w3.org/2001/04/xmldsig-more#md5")?.into_bytes(),
            Some("UnsupportedDigestMethod"),
        ),
        (
            "c14n-unknown",
            "an unknown canonicalization algorithm",
            r(&doc, &c14n, "urn:evil:c14n")?.into_bytes(),
            Some("UnsupportedCanonicalization"),
        ),
        (
            "transform-xslt",
            "an XSLT transform",
            r(
                &doc,
                "<Transform Algorithm=\"http://www.w3.org/2000/09/xmldsig#enveloped-signature\"",
                "<Transform Algorithm=\"http://www.w3.org/TR/1999/REC-xslt-19991116\"",
            )?
            .into_bytes(),
            Some("UnsupportedTransform"),
        ),
        (
            "reference-external",
            "a reference to an external URL (SSRF)",
            r(&doc, "URI=\"#", "URI=\"http://127.0.0.1:1/#")?.into_bytes(),
            Some("ReferenceNotFound"),
        ),
        (
            "reference-dangling",
            "a reference to an Id that does not exist",
            r(&doc, "URI=\"#", "URI=\"#nope-")?.into_bytes(),
            Some("ReferenceNotFound"),
        ),
        (
            "duplicate-id",
            "a second, unsigned element carrying the SignedProperties Id (signature wrapping)",
            {
                let sp_id = between(&doc, "SignedProperties Id=\"", "\"")?.to_owned();
                r(&doc, "</Signature>", &format!("<Object><SignedProperties Id=\"{sp_id}\"/></Object></Signature>"))?
                    .into_bytes()
            },
            Some("DuplicateId"),
        ),
        (
            "signature-value-empty",
            "an empty SignatureValue",
            {
                let sv = between(&doc, "SignatureValue>", "</")?.to_owned();
                r(&doc, &format!(">{sv}</"), "></")?.into_bytes()
            },
            Some("SignatureInvalid|Base64"),
        ),
        (
            "no-keyinfo",
            "KeyInfo removed",
            {
                let a = doc.find("<KeyInfo").context("no KeyInfo")?;
                let b = doc.find("</KeyInfo>").context("no </KeyInfo>")? + "</KeyInfo>".len();
                format!("{}{}", &doc[..a], &doc[b..]).into_bytes()
            },
            Some("MissingElement|SigningCertificateMismatch"),
        ),
        (
            "non-utf8",
            "an ISO-8859-2 byte in the document",
            {
                let mut b = doc.clone().into_bytes();
                let i = doc.find("<Challenge>").context("no Challenge")?;
                b.insert(i, 0xB1);
                b
            },
            None,
        ),
        (
            "comment-in-nip",
            "a comment splitting the signed NIP: the signature stays valid (c14n drops comments), the NIP read must be whole",
            r(&doc, &format!("<Nip>{SELLER_NIP}</Nip>"), "<Nip>52658<!-- -->77635</Nip>")?.into_bytes(),
            Some("Ok"),
        ),
    ];
    for (slug, attack, bytes, verify) in cases.drain(..) {
        let expect = match verify {
            Some("Ok") => json!({"crypto": "Ok", "emulator": {"status": 400, "code": 21111}}),
            Some(v) => {
                let first = v.split('|').next().unwrap_or(v);
                json!({"crypto": format!("VerifyError::{}", v.replace('|', "|VerifyError::")), "emulator": {"status": 400, "code": emulator_code(first)}})
            }
            None => json!({"emulator": {"status": 400, "code": 21217}}),
        };
        // The harness checks what a verified request says: the whole context NIP.
        let input = if verify == Some("Ok") { json!({"context_nip": SELLER_NIP}) } else { Value::Null };
        c.add("xades", slug, "xml", bytes, attack, input, expect);
    }
    Ok(())
}

pub fn seeded_bytes(seed: u64, n: usize) -> Vec<u8> {
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    (0..n).map(|_| rng.random::<u8>()).collect()
}

fn pem(label: &str, der: &[u8]) -> String {
    let b64 = B64.encode(der);
    let lines: Vec<&str> = b64.as_bytes().chunks(64).map(|c| std::str::from_utf8(c).unwrap_or_default()).collect();
    format!("-----BEGIN {label}-----\n{}\n-----END {label}-----\n", lines.join("\n"))
}

/// DER of `depth` nested SEQUENCEs around nothing.
fn nested_sequences(depth: usize) -> Vec<u8> {
    let mut v = Vec::new();
    for _ in 0..depth {
        let len = v.len();
        let mut out = vec![0x30];
        if len < 128 {
            out.push(len as u8);
        } else {
            out.extend_from_slice(&[0x82, (len >> 8) as u8, len as u8]);
        }
        out.extend_from_slice(&v);
        v = out;
    }
    v
}

/// Corrupt certificates and private keys: `crypto` is the `ksef_crypto::Error` variant of
/// `Certificate::from_der`/`from_pem` and `PrivateKey::from_der`/`from_pem` (by extension).
pub fn certs_and_keys(c: &mut Corpus) -> Result<()> {
    let id = identity(0x6365_7274)?;
    let der = id.certificate.der().to_vec();
    let key_der = id.key.to_pkcs8_der().map_err(|e| anyhow::anyhow!("{e}"))?.to_vec();
    let csr = ksef_crypto::x509::create_csr(
        &id.key,
        &SubjectFields::seal(SELLER_NIP, "Korpus").map_err(|e| anyhow::anyhow!("{e}"))?,
    )
    .map_err(|e| anyhow::anyhow!("{e}"))?;
    let cert_pem = pem("CERTIFICATE", &der);

    let mut certs: Vec<(&str, &str, &str, Vec<u8>, &str)> = vec![
        ("control-valid", "der", "none (control: parses)", der.clone(), "Ok"),
        ("control-valid", "pem", "none (control: parses)", cert_pem.clone().into_bytes(), "Ok"),
        ("empty", "der", "an empty file", Vec::new(), "Der"),
        ("truncated-quarter", "der", "DER cut at a quarter", der[..der.len() / 4].to_vec(), "Der"),
        ("truncated-half", "der", "DER cut in half", der[..der.len() / 2].to_vec(), "Der"),
        ("truncated-last-byte", "der", "DER missing its last byte", der[..der.len() - 1].to_vec(), "Der"),
        ("trailing-garbage", "der", "bytes after the certificate", [der.as_slice(), b"\x00\x01"].concat(), "Der"),
        (
            "huge-length",
            "der",
            "an outer length of 4 GiB",
            [&[0x30, 0x84, 0xFF, 0xFF, 0xFF, 0xFF][..], &der[4..]].concat(),
            "Der",
        ),
        (
            "indefinite-length",
            "der",
            "BER indefinite length (not DER)",
            [&[0x30, 0x80][..], &der[4..], &[0, 0][..]].concat(),
            "Der",
        ),
        ("wrong-tag", "der", "a SET instead of a SEQUENCE", [&[0x31][..], &der[1..]].concat(), "Der"),
        ("nested-sequences", "der", "500 nested SEQUENCEs (recursion)", nested_sequences(500), "Der"),
        ("random", "der", "random bytes", seeded_bytes(21, 600), "Der"),
        ("csr", "der", "a PKCS#10 CSR instead of a certificate", csr.clone(), "Der"),
        ("private-key", "der", "a PKCS#8 private key instead of a certificate", key_der.clone(), "Der"),
        (
            "pem-bad-base64",
            "pem",
            "PEM body that is not Base64",
            cert_pem.replacen("\nM", "\n*", 1).into_bytes(),
            "Base64|Der",
        ),
        (
            "pem-wrong-label",
            "pem",
            "a certificate under a PRIVATE KEY label",
            pem("PRIVATE KEY", &der).into_bytes(),
            "Der",
        ),
        (
            "pem-no-end",
            "pem",
            "PEM without its END line",
            cert_pem.split("-----END").next().unwrap_or_default().as_bytes().to_vec(),
            "Der|Base64",
        ),
        (
            "pem-empty",
            "pem",
            "PEM with an empty body",
            b"-----BEGIN CERTIFICATE-----\n-----END CERTIFICATE-----\n".to_vec(),
            "Der",
        ),
        (
            "pem-truncated-body",
            "pem",
            "PEM whose body is cut in half",
            pem("CERTIFICATE", &der[..der.len() / 2]).into_bytes(),
            "Der",
        ),
        ("pem-not-pem", "pem", "text that is not PEM", b"hello\n".to_vec(), "Der|Base64"),
    ];
    for (slug, ext, attack, bytes, kind) in certs.drain(..) {
        let expect = if kind == "Ok" { "Ok".to_owned() } else { format!("Error::{}", kind.replace('|', "|Error::")) };
        c.add("cert", slug, ext, bytes, attack, Value::Null, json!({"crypto": expect}));
    }

    let key_pem = pem("PRIVATE KEY", &key_der);
    let p256_oid: &[u8] = &[0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07];
    let sec1 = |scalar: [u8; 32]| -> Vec<u8> {
        let mut v = vec![0x30, 0x31, 0x02, 0x01, 0x01, 0x04, 0x20];
        v.extend_from_slice(&scalar);
        v.extend_from_slice(&[0xa0, 0x0a]);
        v.extend_from_slice(p256_oid);
        v
    };
    let ed25519: Vec<u8> = [
        &[0x30, 0x2e, 0x02, 0x01, 0x00, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x04, 0x22, 0x04, 0x20][..],
        &[7u8; 32],
    ]
    .concat();
    // PKCS#8 claiming rsaEncryption around the P-256 key's body.
    let rsa_oid_on_ec = {
        let ec_alg = [0x06, 0x07, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01];
        let pos = key_der.windows(ec_alg.len()).position(|w| w == ec_alg).context("no EC OID in PKCS#8")?;
        // Same length: rsaEncryption is 9 bytes of OID + NULL would not fit; swap for id-dsa (7 bytes).
        let dsa = [0x06, 0x07, 0x2a, 0x86, 0x48, 0xce, 0x38, 0x04, 0x01];
        [&key_der[..pos], &dsa[..], &key_der[pos + ec_alg.len()..]].concat()
    };
    let mut keys: Vec<(&str, &str, &str, Vec<u8>, &str)> = vec![
        ("control-valid", "der", "none (control: loads)", key_der.clone(), "Ok"),
        ("control-valid", "pem", "none (control: loads)", key_pem.clone().into_bytes(), "Ok"),
        ("empty", "der", "an empty file", Vec::new(), "Der"),
        ("truncated-half", "der", "PKCS#8 cut in half", key_der[..key_der.len() / 2].to_vec(), "Der"),
        ("truncated-last-byte", "der", "PKCS#8 missing its last byte", key_der[..key_der.len() - 1].to_vec(), "Der"),
        ("ed25519", "der", "an Ed25519 key (unsupported algorithm)", ed25519, "UnsupportedKey|Der"),
        ("dsa-oid", "der", "a DSA algorithm identifier", rsa_oid_on_ec, "UnsupportedKey|Der"),
        ("sec1-zero-scalar", "der", "a P-256 key whose scalar is zero", sec1([0u8; 32]), "Der"),
        ("sec1-scalar-over-order", "der", "a P-256 scalar above the group order", sec1([0xFF; 32]), "Der"),
        ("random", "der", "random bytes", seeded_bytes(31, 200), "Der"),
        ("certificate", "der", "a certificate instead of a key", der.clone(), "Der"),
        ("nested-sequences", "der", "500 nested SEQUENCEs (recursion)", nested_sequences(500), "Der"),
        (
            "pem-encrypted-label",
            "pem",
            "an ENCRYPTED PRIVATE KEY label (no password given)",
            pem("ENCRYPTED PRIVATE KEY", &key_der).into_bytes(),
            "Der",
        ),
        ("pem-certificate", "pem", "a certificate PEM instead of a key", cert_pem.clone().into_bytes(), "Der"),
        (
            "pem-bad-base64",
            "pem",
            "PEM body that is not Base64",
            key_pem.replacen("\nM", "\n*", 1).into_bytes(),
            "Base64|Der",
        ),
        (
            "pem-sec1-zero",
            "pem",
            "SEC1 PEM with a zero scalar",
            pem("EC PRIVATE KEY", &sec1([0u8; 32])).into_bytes(),
            "Der",
        ),
        (
            "pem-rsa-label-ec-body",
            "pem",
            "an RSA PRIVATE KEY label on an EC key",
            pem("RSA PRIVATE KEY", &key_der).into_bytes(),
            "Der",
        ),
    ];
    for (slug, ext, attack, bytes, kind) in keys.drain(..) {
        let expect = if kind == "Ok" { "Ok".to_owned() } else { format!("Error::{}", kind.replace('|', "|Error::")) };
        c.add("key", slug, ext, bytes, attack, Value::Null, json!({"crypto": expect}));
    }
    Ok(())
}
