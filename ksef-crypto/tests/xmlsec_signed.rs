//! The other direction: documents signed by `xmlsec1` with many canonicalization/transform
//! combinations (inclusive C14N 1.0/1.1, exclusive with PrefixList, with comments, XPath and
//! XPath Filter 2.0 enveloped forms, implicit C14N) over a namespace-, comment- and
//! PI-heavy document must verify under our verifier, and fail after tampering.
//! Requires `xmlsec1` unless `KSEF_SKIP_XMLSEC=1`.

use std::process::Command;

use ksef_crypto::encoding::b64_encode;
use ksef_crypto::xades::{VerifyError, VerifyOptions, verify};
use ksef_crypto::{KeyAlgorithm, SubjectFields, TestIdentity, UnixTime};

const DS: &str = "http://www.w3.org/2000/09/xmldsig#";
const C10: &str = "http://www.w3.org/TR/2001/REC-xml-c14n-20010315";
const C10C: &str = "http://www.w3.org/TR/2001/REC-xml-c14n-20010315#WithComments";
const C11: &str = "http://www.w3.org/2006/12/xml-c14n11";
const EXC: &str = "http://www.w3.org/2001/10/xml-exc-c14n#";
const EXCC: &str = "http://www.w3.org/2001/10/xml-exc-c14n#WithComments";
const ENV: &str = "http://www.w3.org/2000/09/xmldsig#enveloped-signature";

fn t(alg: &str) -> String {
    format!("<ds:Transform Algorithm=\"{alg}\"/>")
}

fn xpath_env() -> String {
    "<ds:Transform Algorithm=\"http://www.w3.org/TR/1999/REC-xpath-19991116\"><ds:XPath>not(ancestor-or-self::ds:Signature)</ds:XPath></ds:Transform>".into()
}

fn filter2_env() -> String {
    "<ds:Transform Algorithm=\"http://www.w3.org/2002/06/xmldsig-filter2\"><dsig-xpath:XPath xmlns:dsig-xpath=\"http://www.w3.org/2002/06/xmldsig-filter2\" Filter=\"subtract\">/descendant::ds:Signature</dsig-xpath:XPath></ds:Transform>".into()
}

fn exc_prefixlist() -> String {
    format!(
        "<ds:Transform Algorithm=\"{EXC}\"><ec:InclusiveNamespaces xmlns:ec=\"{EXC}\" PrefixList=\"x #default\"/></ds:Transform>"
    )
}

fn template(id: &TestIdentity, sig_alg: &str, si_c14n: &str, doc_tr: &str, sp_tr: &str) -> String {
    let cert = &id.certificate;
    let tr = |s: &str| if s.is_empty() { String::new() } else { format!("<ds:Transforms>{s}</ds:Transforms>") };
    format!(
        r##"<?xml version="1.0" encoding="UTF-8"?>
<!-- leading comment -->
<?lead-pi some data?>
<AuthTokenRequest xmlns="http://ksef.mf.gov.pl/auth/token/2.1" xmlns:x="urn:extra" xmlns:unused="urn:unused" xml:lang="pl">
  <Challenge>20250604-CR-461EA5B000-537A6BA15D-D7</Challenge>
  <!-- inner comment -->
  <ContextIdentifier><Nip>5265877635</Nip></ContextIdentifier>
  <SubjectIdentifierType>certificateSubject</SubjectIdentifierType>
  <x:Extra x:a="1" b="&lt;&amp;&quot;&#9;" xmlns:y="urn:y"   z = 'q'>text &amp; &gt; more<?pi data?><y:Inner xmlns="">no ns<empty/></y:Inner></x:Extra>
<ds:Signature xmlns:ds="{DS}" Id="Sig">
  <ds:SignedInfo>
    <ds:CanonicalizationMethod Algorithm="{si_c14n}"/>
    <ds:SignatureMethod Algorithm="{sig_alg}"/>
    <ds:Reference URI="">{doc}<ds:DigestMethod Algorithm="http://www.w3.org/2001/04/xmlenc#sha256"/><ds:DigestValue/></ds:Reference>
    <ds:Reference URI="#SP" Type="http://uri.etsi.org/01903#SignedProperties">{sp}<ds:DigestMethod Algorithm="http://www.w3.org/2001/04/xmldsig-more#sha384"/><ds:DigestValue/></ds:Reference>
  </ds:SignedInfo>
  <ds:SignatureValue/>
  <ds:KeyInfo><ds:X509Data><ds:X509Certificate>{cert_b64}</ds:X509Certificate></ds:X509Data></ds:KeyInfo>
  <ds:Object><xades:QualifyingProperties xmlns:xades="http://uri.etsi.org/01903/v1.3.2#" Target="#Sig">
    <xades:SignedProperties Id="SP"><xades:SignedSignatureProperties>
      <xades:SigningTime>2026-09-21T10:00:00Z</xades:SigningTime>
      <!-- comment in signed properties -->
      <xades:SigningCertificate><xades:Cert><xades:CertDigest><ds:DigestMethod Algorithm="http://www.w3.org/2001/04/xmlenc#sha256"/><ds:DigestValue>{cert_digest}</ds:DigestValue></xades:CertDigest>
      <xades:IssuerSerial><ds:X509IssuerName>{issuer}</ds:X509IssuerName><ds:X509SerialNumber>{serial}</ds:X509SerialNumber></xades:IssuerSerial></xades:Cert></xades:SigningCertificate>
    </xades:SignedSignatureProperties></xades:SignedProperties>
  </xades:QualifyingProperties></ds:Object>
</ds:Signature>
</AuthTokenRequest>
<!-- trailing comment -->
"##,
        doc = tr(doc_tr),
        sp = tr(sp_tr),
        cert_b64 = b64_encode(cert.der()),
        cert_digest = b64_encode(cert.sha256()),
        issuer = cert.issuer_rfc4514().replace('&', "&amp;").replace('<', "&lt;"),
        serial = cert.serial_decimal(),
    )
}

#[test]
fn xmlsec1_signed_variants_verify() {
    match Command::new("xmlsec1").arg("--version").output() {
        Ok(o) if o.status.success() => {}
        _ => {
            assert!(
                std::env::var("KSEF_SKIP_XMLSEC").as_deref() == Ok("1"),
                "xmlsec1 is required: `apt-get install -y xmlsec1` (or KSEF_SKIP_XMLSEC=1)"
            );
            return;
        }
    }
    let dir = std::env::temp_dir().join(format!("ksef-xmlsec-signed-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let mut rng = rand::rng();
    let start = UnixTime::from_secs(1_790_000_000);
    let at = VerifyOptions::at(UnixTime::from_secs(1_790_100_000));
    let variants: Vec<(&str, String, String)> = vec![
        (C10, format!("{}{}", t(ENV), t(EXC)), t(EXC)),
        (C10C, t(ENV), String::new()),
        (C11, format!("{}{}", t(ENV), t(C11)), t(C11)),
        (EXC, format!("{}{}", xpath_env(), t(EXC)), t(C10C)),
        (EXCC, format!("{}{}", filter2_env(), t(C11)), exc_prefixlist()),
        (C11, format!("{}{}", t(ENV), exc_prefixlist()), t(EXCC)),
        (EXC, format!("{}{}", t(ENV), t(C10C)), t(C10)),
    ];
    for (alg, sig_alg) in [
        (KeyAlgorithm::Rsa2048, "http://www.w3.org/2001/04/xmldsig-more#rsa-sha256"),
        (KeyAlgorithm::P256, "http://www.w3.org/2001/04/xmldsig-more#ecdsa-sha256"),
    ] {
        let id = TestIdentity::generate(
            alg,
            &SubjectFields::seal("5265877635", "Firma \"Test\" & Syn").unwrap(),
            start,
            30,
            &mut rng,
        )
        .unwrap();
        let key_pem = dir.join("key.pem");
        let cert_pem = dir.join("cert.pem");
        std::fs::write(&key_pem, id.key.to_pkcs8_pem().unwrap().as_bytes()).unwrap();
        std::fs::write(&cert_pem, id.certificate.to_pem().unwrap()).unwrap();
        for (i, (si, doc_tr, sp_tr)) in variants.iter().enumerate() {
            let tmpl = dir.join(format!("tmpl-{i}.xml"));
            let out = dir.join(format!("signed-{alg:?}-{i}.xml"));
            std::fs::write(&tmpl, template(&id, sig_alg, si, doc_tr, sp_tr)).unwrap();
            let o = Command::new("xmlsec1")
                .args(["--sign", "--privkey-pem"])
                .arg(format!("{},{}", key_pem.display(), cert_pem.display()))
                .args(["--id-attr:Id", "http://uri.etsi.org/01903/v1.3.2#:SignedProperties", "--output"])
                .arg(&out)
                .arg(&tmpl)
                .output()
                .unwrap();
            assert!(o.status.success(), "xmlsec1 --sign variant {i}: {}", String::from_utf8_lossy(&o.stderr));
            let signed = std::fs::read_to_string(&out).unwrap();
            let v = verify(&signed, &at).unwrap_or_else(|e| panic!("variant {i} ({alg:?}): {e}\n{signed}"));
            assert_eq!(v.certificate, id.certificate);
            let req = v.auth_token_request().unwrap();
            assert_eq!(req.challenge, "20250604-CR-461EA5B000-537A6BA15D-D7");
            // Tampering with unsigned-looking but signed content is caught.
            let bad = signed.replacen("text &amp; &gt; more", "text &amp; &gt; more!", 1);
            assert_eq!(verify(&bad, &at).unwrap_err(), VerifyError::DigestMismatch(0), "variant {i}");
            let bad = signed.replacen("2026-09-21T10:00:00Z", "2026-09-21T10:00:01Z", 1);
            assert_eq!(verify(&bad, &at).unwrap_err(), VerifyError::DigestMismatch(1), "variant {i}");
        }
    }
    std::fs::remove_dir_all(dir).ok();
}
