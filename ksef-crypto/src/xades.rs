//! XAdES-BES enveloped signatures over `AuthTokenRequest` (signing, in the shape of the
//! official C# client) and their verification (what the emulator runs).

use alloc::string::String;
use alloc::vec::Vec;
use core::fmt;

use roxmltree::{Document, Node};

use crate::auth_request::{AuthTokenRequest, escape};
use crate::c14n::{self, C14n, Method};
use crate::cert::{Certificate, SubjectIdentity};
use crate::encoding::{b64_decode, b64_encode};
use crate::hash::sha256;
use crate::keys::{KeyKind, PrivateKey, PublicKey};
use crate::sign::{EcdsaFormat, Hash, sign_sha256, verify_ecdsa, verify_rsa_pkcs1};
use crate::x509::TestIdentity;
use crate::{Error, UnixTime};

const DS: &str = "http://www.w3.org/2000/09/xmldsig#";
const XADES132: &str = "http://uri.etsi.org/01903/v1.3.2#";
const XADES141: &str = "http://uri.etsi.org/01903/v1.4.1#";
const SIGNED_PROPS_TYPE: &str = "http://uri.etsi.org/01903#SignedProperties";
const ENVELOPED: &str = "http://www.w3.org/2000/09/xmldsig#enveloped-signature";
const XPATH: &str = "http://www.w3.org/TR/1999/REC-xpath-19991116";
const XPATH_FILTER2: &str = "http://www.w3.org/2002/06/xmldsig-filter2";
const SHA256_URI: &str = "http://www.w3.org/2001/04/xmlenc#sha256";
const RSA_SHA256: &str = "http://www.w3.org/2001/04/xmldsig-more#rsa-sha256";
const ECDSA_SHA256: &str = "http://www.w3.org/2001/04/xmldsig-more#ecdsa-sha256";

/// Something that can sign XAdES `SignedInfo` bytes with a certificate's key: a local key,
/// an HSM or a smart card.
///
/// `sign` receives the canonicalized `SignedInfo` and must return, for an RSA certificate,
/// an RSASSA-PKCS1-v1_5 SHA-256 signature, and for a P-256 certificate a raw `r||s`
/// (64 bytes) ECDSA SHA-256 signature (ASN.1 DER is accepted and converted). The result is
/// verified against the certificate before use, so a wrong key or padding fails with
/// [`Error::Signing`]. (Never RSA-PSS: KSeF rejects it in practice.)
pub trait XadesSigner {
    /// The signing certificate (goes into KeyInfo and SigningCertificate).
    fn certificate(&self) -> &Certificate;
    /// Sign `data` (hash it with SHA-256 yourself).
    fn sign(&self, data: &[u8]) -> Result<Vec<u8>, Error>;
}

/// A local private key with its certificate.
#[derive(Debug, Clone, Copy)]
pub struct LocalSigner<'a> {
    /// The key.
    pub key: &'a PrivateKey,
    /// Its certificate.
    pub certificate: &'a Certificate,
}

impl XadesSigner for LocalSigner<'_> {
    fn certificate(&self) -> &Certificate {
        self.certificate
    }
    fn sign(&self, data: &[u8]) -> Result<Vec<u8>, Error> {
        sign_sha256(self.key, data, EcdsaFormat::Raw)
    }
}

impl XadesSigner for TestIdentity {
    fn certificate(&self) -> &Certificate {
        &self.certificate
    }
    fn sign(&self, data: &[u8]) -> Result<Vec<u8>, Error> {
        sign_sha256(&self.key, data, EcdsaFormat::Raw)
    }
}

const PH_SP: &str = "@@KSEF-SP-DIGEST@@";
const PH_SIG: &str = "@@KSEF-SIGNATURE-VALUE@@";
const MAX_SIGN_INPUT: usize = 1 << 20;

/// Sign an `AuthTokenRequest` (see [`AuthTokenRequest::to_xml`]) and return the signed XML.
pub fn sign_auth_token_request(
    request: &AuthTokenRequest,
    signer: &dyn XadesSigner,
    signing_time: UnixTime,
) -> Result<String, Error> {
    sign_enveloped(&request.to_xml()?, signer, signing_time)
}

/// Append an enveloped XAdES-BES signature as the last child of the root element of `xml`.
///
/// Shape (as the official C# client): `Signature Id="Signature"` in the default xmldsig
/// namespace, SignedInfo canonicalized with inclusive C14N 1.0, references `URI=""`
/// (enveloped-signature + exclusive C14N) and `#SignedProperties` (exclusive C14N), SHA-256
/// digests, KeyInfo with the certificate, SignedProperties with SigningTime and
/// SigningCertificate (CertDigest SHA-256 + IssuerSerial).
pub fn sign_enveloped(xml: &str, signer: &dyn XadesSigner, signing_time: UnixTime) -> Result<String, Error> {
    let cert = signer.certificate();
    let sig_alg = match cert.public_key()?.kind() {
        KeyKind::Rsa => RSA_SHA256,
        KeyKind::P256 => ECDSA_SHA256,
    };
    let doc = c14n::parse_limited(xml, MAX_SIGN_INPUT, 64)?;
    let root = doc.root_element();
    let close = root.range().end;
    let close_tag_len = c14n::element_qname(root).len() + 3;
    if !xml[..close].ends_with('>') || close < close_tag_len || xml.as_bytes()[close - 2] == b'/' {
        // A self-closing root (`<a/>`) has no place for a child; require an explicit end tag.
        return Err(Error::InvalidInput("root element must have an end tag"));
    }
    let insert_at = close - close_tag_len;
    let end_tag = alloc::format!("</{}>", c14n::element_qname(root));
    if xml.get(insert_at..close) != Some(end_tag.as_str()) {
        return Err(Error::InvalidInput("unexpected end tag form of the root element"));
    }
    let exc = C14n::from_uri(c14n::ALG_EXC).ok_or(Error::Xml)?;
    let doc_digest = b64_encode(sha256(exc.canonicalize(doc.root(), &|_| false, true)));
    drop(doc);

    let mut issuer = String::new();
    escape(&mut issuer, &cert.issuer_rfc4514());
    let sig_xml = alloc::format!(
        concat!(
            "<Signature xmlns=\"{ds}\" Id=\"Signature\"><SignedInfo>",
            "<CanonicalizationMethod Algorithm=\"{c14n}\"/>",
            "<SignatureMethod Algorithm=\"{sig_alg}\"/>",
            "<Reference URI=\"\"><Transforms><Transform Algorithm=\"{env}\"/><Transform Algorithm=\"{exc}\"/></Transforms>",
            "<DigestMethod Algorithm=\"{sha}\"/><DigestValue>{ph_doc}</DigestValue></Reference>",
            "<Reference Type=\"{sp_type}\" URI=\"#SignedProperties\"><Transforms><Transform Algorithm=\"{exc}\"/></Transforms>",
            "<DigestMethod Algorithm=\"{sha}\"/><DigestValue>{ph_sp}</DigestValue></Reference>",
            "</SignedInfo><SignatureValue>{ph_sig}</SignatureValue>",
            "<KeyInfo><X509Data><X509Certificate>{cert}</X509Certificate></X509Data></KeyInfo>",
            "<Object><xades:QualifyingProperties xmlns:xades=\"{xades}\" Target=\"#Signature\">",
            "<xades:SignedProperties Id=\"SignedProperties\"><xades:SignedSignatureProperties>",
            "<xades:SigningTime>{time}</xades:SigningTime><xades:SigningCertificate><xades:Cert>",
            "<xades:CertDigest><DigestMethod Algorithm=\"{sha}\"/><DigestValue>{cert_digest}</DigestValue></xades:CertDigest>",
            "<xades:IssuerSerial><X509IssuerName>{issuer}</X509IssuerName><X509SerialNumber>{serial}</X509SerialNumber></xades:IssuerSerial>",
            "</xades:Cert></xades:SigningCertificate></xades:SignedSignatureProperties></xades:SignedProperties>",
            "</xades:QualifyingProperties></Object></Signature>"
        ),
        ds = DS,
        c14n = c14n::ALG_C14N10,
        sig_alg = sig_alg,
        env = ENVELOPED,
        exc = c14n::ALG_EXC,
        sha = SHA256_URI,
        ph_doc = doc_digest,
        sp_type = SIGNED_PROPS_TYPE,
        ph_sp = PH_SP,
        ph_sig = PH_SIG,
        cert = b64_encode(cert.der()),
        xades = XADES132,
        time = signing_time.to_xsd_datetime()?,
        cert_digest = b64_encode(cert.sha256()),
        issuer = issuer,
        serial = cert.serial_decimal(),
    );
    let mut out = String::with_capacity(xml.len() + sig_xml.len() + 512);
    out.push_str(&xml[..insert_at]);
    out.push_str(&sig_xml);
    out.push_str(&xml[insert_at..]);

    // Digest SignedProperties in the final document context.
    let sp_digest = {
        let doc = c14n::parse_limited(&out, MAX_SIGN_INPUT * 2, 64)?;
        let sp = find_by_id(&doc, "SignedProperties").map_err(|_| Error::Xml)?;
        b64_encode(sha256(exc.canonicalize(sp, &|_| false, true)))
    };
    out = out.replacen(PH_SP, &sp_digest, 1);
    let signature = {
        let doc = c14n::parse_limited(&out, MAX_SIGN_INPUT * 2, 64)?;
        let si = doc
            .descendants()
            .find(|n| n.is_element() && n.tag_name().namespace() == Some(DS) && n.tag_name().name() == "SignedInfo")
            .ok_or(Error::Xml)?;
        let inc = C14n::from_uri(c14n::ALG_C14N10).ok_or(Error::Xml)?;
        let si_bytes = inc.canonicalize(si, &|_| false, false);
        let mut sig = signer.sign(&si_bytes)?;
        let key = cert.public_key()?;
        if matches!(key, PublicKey::P256(_)) && sig.len() != 64 {
            // Many HSM/JCA signers return ASN.1 DER; XMLDSig wants raw r||s.
            sig = p256::ecdsa::Signature::from_der(&sig).map_err(|_| Error::Signing)?.to_bytes().to_vec();
        }
        // Catch external signers that use the wrong key or padding before KSeF does.
        let check = match key {
            PublicKey::Rsa(_) => verify_rsa_pkcs1(&key, Hash::Sha256, &si_bytes, &sig),
            PublicKey::P256(_) => verify_ecdsa(&key, Hash::Sha256, &si_bytes, &sig, EcdsaFormat::Raw),
        };
        check.map_err(|_| Error::Signing)?;
        sig
    };
    Ok(out.replacen(PH_SIG, &b64_encode(signature), 1))
}

/// Which verification check failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum VerifyError {
    /// Larger than the configured limit.
    TooLarge,
    /// Not well-formed, has a DTD/entities, or nests too deeply.
    MalformedXml,
    /// No `ds:Signature` element.
    NoSignature,
    /// More than one `ds:Signature` (refused to avoid ambiguity).
    MultipleSignatures,
    /// A required element is missing (the name says which).
    MissingElement(&'static str),
    /// CanonicalizationMethod or a transform's C14N algorithm is not supported.
    UnsupportedCanonicalization,
    /// SignatureMethod not supported.
    UnsupportedSignatureMethod,
    /// RSA-PSS SignatureMethod (refused: KSeF rejects it in practice).
    RsaPssRejected,
    /// DigestMethod not supported.
    UnsupportedDigestMethod,
    /// A transform is not supported.
    UnsupportedTransform,
    /// A reference URI does not resolve (or is external).
    ReferenceNotFound,
    /// An `Id` value occurs more than once.
    DuplicateId,
    /// Digest of reference number `n` (0-based) does not match.
    DigestMismatch(usize),
    /// No reference covers the whole document (`URI=""`).
    MissingDocumentReference,
    /// No reference to `xades:SignedProperties`.
    MissingSignedProperties,
    /// Base64 content is invalid.
    Base64,
    /// The KeyInfo certificate does not parse.
    BadCertificate,
    /// Key type or size not accepted (RSA ≥ 2048, EC P-256).
    UnsupportedKey,
    /// SignatureValue does not verify.
    SignatureInvalid,
    /// SigningCertificate digest does not match the KeyInfo certificate.
    SigningCertificateMismatch,
    /// The certificate is not valid at the verification time.
    CertificateNotValidAtTime,
}

impl fmt::Display for VerifyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::TooLarge => f.write_str("document too large"),
            Self::MalformedXml => f.write_str("malformed XML, DTD present, or nesting too deep"),
            Self::NoSignature => f.write_str("no ds:Signature element"),
            Self::MultipleSignatures => f.write_str("more than one ds:Signature element"),
            Self::MissingElement(e) => write!(f, "missing element {e}"),
            Self::UnsupportedCanonicalization => f.write_str("unsupported canonicalization"),
            Self::UnsupportedSignatureMethod => f.write_str("unsupported SignatureMethod"),
            Self::RsaPssRejected => f.write_str("RSA-PSS SignatureMethod is not accepted"),
            Self::UnsupportedDigestMethod => f.write_str("unsupported DigestMethod"),
            Self::UnsupportedTransform => f.write_str("unsupported transform"),
            Self::ReferenceNotFound => f.write_str("reference URI does not resolve"),
            Self::DuplicateId => f.write_str("duplicate Id attribute"),
            Self::DigestMismatch(i) => write!(f, "digest of reference {i} does not match"),
            Self::MissingDocumentReference => f.write_str("no reference covers the document (URI=\"\")"),
            Self::MissingSignedProperties => f.write_str("no reference to xades:SignedProperties"),
            Self::Base64 => f.write_str("invalid Base64 content"),
            Self::BadCertificate => f.write_str("KeyInfo certificate does not parse"),
            Self::UnsupportedKey => f.write_str("unsupported key type or size"),
            Self::SignatureInvalid => f.write_str("SignatureValue does not verify"),
            Self::SigningCertificateMismatch => {
                f.write_str("SigningCertificate does not match the KeyInfo certificate")
            }
            Self::CertificateNotValidAtTime => f.write_str("certificate not valid at the verification time"),
        }
    }
}

impl core::error::Error for VerifyError {}

/// Verification parameters.
#[derive(Debug, Clone, Copy)]
pub struct VerifyOptions {
    /// The time at which the certificate must be valid.
    pub at: UnixTime,
    /// Maximum document size in bytes (default 1 MiB).
    pub max_bytes: usize,
    /// Maximum element nesting depth (default 64).
    pub max_depth: usize,
}

impl VerifyOptions {
    /// Defaults with the given verification time.
    pub fn at(at: UnixTime) -> Self {
        Self { at, max_bytes: 1 << 20, max_depth: 64 }
    }
}

/// A verified signature.
#[derive(Debug, Clone)]
pub struct VerifiedSignature {
    /// The signer certificate (from KeyInfo, matched against SigningCertificate).
    pub certificate: Certificate,
    /// The identity in the certificate subject.
    pub identity: SubjectIdentity,
    /// `xades:SigningTime` as written, if present.
    pub signing_time: Option<String>,
    /// The canonical bytes digested by the `URI=""` reference: the signed document without
    /// the signature. Read data only from here (it is exactly what was signed).
    pub signed_document: Vec<u8>,
}

impl VerifiedSignature {
    /// Parse the signed document as an `AuthTokenRequest`.
    pub fn auth_token_request(&self) -> Result<AuthTokenRequest, Error> {
        let s = core::str::from_utf8(&self.signed_document).map_err(|_| Error::Xml)?;
        let doc = Document::parse(s).map_err(|_| Error::Xml)?;
        AuthTokenRequest::from_element(doc.root_element())
    }
}

fn is(n: Node<'_, '_>, ns: &str, name: &str) -> bool {
    n.is_element() && n.tag_name().namespace() == Some(ns) && n.tag_name().name() == name
}

fn child<'a, 'i>(n: Node<'a, 'i>, ns: &str, name: &'static str) -> Result<Node<'a, 'i>, VerifyError> {
    n.children().find(|c| is(*c, ns, name)).ok_or(VerifyError::MissingElement(name))
}

fn find_by_id<'a, 'i>(doc: &'a Document<'i>, id: &str) -> Result<Node<'a, 'i>, VerifyError> {
    let mut found = doc.descendants().filter(|n| {
        n.is_element()
            && n.attributes()
                .any(|a| a.namespace().is_none() && matches!(a.name(), "Id" | "ID" | "id") && a.value() == id)
    });
    let first = found.next().ok_or(VerifyError::ReferenceNotFound)?;
    if found.next().is_some() {
        return Err(VerifyError::DuplicateId);
    }
    Ok(first)
}

fn digest_alg(uri: &str) -> Result<Hash, VerifyError> {
    Ok(match uri {
        "http://www.w3.org/2000/09/xmldsig#sha1" => Hash::Sha1,
        SHA256_URI => Hash::Sha256,
        "http://www.w3.org/2001/04/xmldsig-more#sha384" => Hash::Sha384,
        "http://www.w3.org/2001/04/xmlenc#sha512" => Hash::Sha512,
        _ => return Err(VerifyError::UnsupportedDigestMethod),
    })
}

fn b64(text: &str) -> Result<Vec<u8>, VerifyError> {
    let clean: String = text.chars().filter(|c| !c.is_ascii_whitespace()).collect();
    b64_decode(clean).map_err(|_| VerifyError::Base64)
}

fn alg_attr<'a>(n: Node<'a, '_>) -> &'a str {
    n.attribute("Algorithm").unwrap_or("")
}

/// Recognize `not(ancestor-or-self::P:Signature)` with P bound to xmldsig.
fn is_not_signature_xpath(n: Node<'_, '_>, expr: &str) -> bool {
    let e: String = expr.chars().filter(|c| !c.is_whitespace()).collect();
    let Some(rest) = e.strip_prefix("not(ancestor-or-self::") else {
        return false;
    };
    let Some(qname) = rest.strip_suffix(")") else {
        return false;
    };
    let Some((p, local)) = qname.split_once(':') else {
        return false;
    };
    local == "Signature" && n.lookup_namespace_uri(Some(p)) == Some(DS)
}

/// Recognize an XPath Filter 2.0 `subtract` of `/descendant::P:Signature` or `//P:Signature`.
fn is_filter2_subtract_signature(n: Node<'_, '_>) -> bool {
    let e: String = n.text().unwrap_or("").chars().filter(|c| !c.is_whitespace()).collect();
    let q = e.strip_prefix("/descendant::").or_else(|| e.strip_prefix("//")).unwrap_or("");
    n.attribute("Filter") == Some("subtract")
        && q.split_once(':').is_some_and(|(p, l)| l == "Signature" && n.lookup_namespace_uri(Some(p)) == Some(DS))
}

struct RefResult<'a, 'i> {
    target: Node<'a, 'i>,
    whole_document: bool,
    bytes: Vec<u8>,
}

fn process_reference<'a, 'i>(
    doc: &'a Document<'i>,
    signature: Node<'a, 'i>,
    reference: Node<'a, 'i>,
    index: usize,
) -> Result<RefResult<'a, 'i>, VerifyError> {
    let uri = reference.attribute("URI").ok_or(VerifyError::ReferenceNotFound)?;
    let (target, whole_document) = if uri.is_empty() {
        (doc.root(), true)
    } else if let Some(id) = uri.strip_prefix('#') {
        (find_by_id(doc, id)?, false)
    } else {
        return Err(VerifyError::ReferenceNotFound);
    };
    let mut exclude_own = false;
    let mut exclude_all = false;
    let mut c14n: Option<C14n> = None;
    if let Some(ts) = reference.children().find(|c| is(*c, DS, "Transforms")) {
        for t in ts.children().filter(|c| is(*c, DS, "Transform")) {
            let alg = alg_attr(t);
            if c14n.is_some() {
                // Only canonicalization may come last; anything after it would need octet input.
                return Err(VerifyError::UnsupportedTransform);
            }
            match alg {
                ENVELOPED => exclude_own = true,
                XPATH => {
                    let x = t.children().find(|c| is(*c, DS, "XPath")).ok_or(VerifyError::UnsupportedTransform)?;
                    if !is_not_signature_xpath(x, x.text().unwrap_or("")) {
                        return Err(VerifyError::UnsupportedTransform);
                    }
                    exclude_all = true;
                }
                XPATH_FILTER2 => {
                    let xs: Vec<_> = t.children().filter(|c| c.is_element()).collect();
                    if xs.is_empty()
                        || !xs.iter().all(|x| x.tag_name().name() == "XPath" && is_filter2_subtract_signature(*x))
                    {
                        return Err(VerifyError::UnsupportedTransform);
                    }
                    exclude_all = true;
                }
                _ => {
                    let mut c = C14n::from_uri(alg).ok_or(VerifyError::UnsupportedTransform)?;
                    if c.method == Method::Exclusive
                        && let Some(inc) =
                            t.children().find(|x| x.is_element() && x.tag_name().name() == "InclusiveNamespaces")
                    {
                        c.inclusive_prefixes = inc
                            .attribute("PrefixList")
                            .unwrap_or("")
                            .split_ascii_whitespace()
                            .map(String::from)
                            .collect();
                    }
                    c14n = Some(c);
                }
            }
        }
    }
    // Implicit inclusive C14N 1.0 when the node-set is not canonicalized explicitly.
    let c = match c14n {
        Some(c) => c,
        None => C14n::from_uri(c14n::ALG_C14N10).ok_or(VerifyError::UnsupportedCanonicalization)?,
    };
    let sig_id = signature.id();
    let exclude = |n: Node<'_, '_>| {
        n.is_element() && ((exclude_own && n.id() == sig_id) || (exclude_all && is(n, DS, "Signature")))
    };
    // Same-document references dereference to node-sets without comments.
    let bytes = c.canonicalize(target, &exclude, true);
    let dm = child(reference, DS, "DigestMethod")?;
    let hash = digest_alg(alg_attr(dm))?;
    let want = b64(child(reference, DS, "DigestValue")?.text().unwrap_or(""))?;
    if hash.digest(&bytes) != want {
        return Err(VerifyError::DigestMismatch(index));
    }
    Ok(RefResult { target, whole_document, bytes })
}

/// Verify an enveloped XAdES-BES signature. See [`VerifyError`] for the checks.
pub fn verify(xml: &str, opts: &VerifyOptions) -> Result<VerifiedSignature, VerifyError> {
    if xml.len() > opts.max_bytes {
        return Err(VerifyError::TooLarge);
    }
    let doc = c14n::parse_limited(xml, opts.max_bytes, opts.max_depth).map_err(|_| VerifyError::MalformedXml)?;
    let mut sigs = doc.descendants().filter(|n| is(*n, DS, "Signature"));
    let signature = sigs.next().ok_or(VerifyError::NoSignature)?;
    if sigs.next().is_some() {
        return Err(VerifyError::MultipleSignatures);
    }
    let signed_info = child(signature, DS, "SignedInfo")?;
    let cm = child(signed_info, DS, "CanonicalizationMethod")?;
    let mut si_c14n = C14n::from_uri(alg_attr(cm)).ok_or(VerifyError::UnsupportedCanonicalization)?;
    if si_c14n.method == Method::Exclusive
        && let Some(inc) = cm.children().find(|x| x.is_element() && x.tag_name().name() == "InclusiveNamespaces")
    {
        si_c14n.inclusive_prefixes =
            inc.attribute("PrefixList").unwrap_or("").split_ascii_whitespace().map(String::from).collect();
    }
    let sm = alg_attr(child(signed_info, DS, "SignatureMethod")?);
    let (is_rsa, hash) = match sm {
        "http://www.w3.org/2000/09/xmldsig#rsa-sha1" => (true, Hash::Sha1),
        RSA_SHA256 => (true, Hash::Sha256),
        "http://www.w3.org/2001/04/xmldsig-more#rsa-sha384" => (true, Hash::Sha384),
        "http://www.w3.org/2001/04/xmldsig-more#rsa-sha512" => (true, Hash::Sha512),
        "http://www.w3.org/2001/04/xmldsig-more#ecdsa-sha1" => (false, Hash::Sha1),
        ECDSA_SHA256 => (false, Hash::Sha256),
        "http://www.w3.org/2001/04/xmldsig-more#ecdsa-sha384" => (false, Hash::Sha384),
        "http://www.w3.org/2001/04/xmldsig-more#ecdsa-sha512" => (false, Hash::Sha512),
        s if s.starts_with("http://www.w3.org/2007/05/xmldsig-more#") && s.ends_with("-rsa-MGF1") => {
            return Err(VerifyError::RsaPssRejected);
        }
        _ => return Err(VerifyError::UnsupportedSignatureMethod),
    };

    // References.
    let mut signed_document: Option<Vec<u8>> = None;
    let mut signed_props: Option<Node<'_, '_>> = None;
    for (i, r) in signed_info.children().filter(|c| is(*c, DS, "Reference")).enumerate() {
        let res = process_reference(&doc, signature, r, i)?;
        if res.whole_document {
            signed_document = Some(res.bytes);
        } else if is(res.target, XADES132, "SignedProperties") || is(res.target, XADES141, "SignedProperties") {
            signed_props = Some(res.target);
        } else if r.attribute("Type") == Some(SIGNED_PROPS_TYPE) {
            return Err(VerifyError::MissingSignedProperties);
        }
    }
    let signed_document = signed_document.ok_or(VerifyError::MissingDocumentReference)?;
    let signed_props = signed_props.ok_or(VerifyError::MissingSignedProperties)?;
    // The signed properties must belong to this signature.
    if !signed_props.ancestors().any(|a| a.id() == signature.id()) {
        return Err(VerifyError::MissingSignedProperties);
    }

    // SigningCertificate (v1 or v2) digests.
    let ssp = signed_props
        .children()
        .find(|c| c.is_element() && c.tag_name().name() == "SignedSignatureProperties")
        .ok_or(VerifyError::MissingElement("SignedSignatureProperties"))?;
    let signing_time = ssp
        .children()
        .find(|c| c.is_element() && c.tag_name().name() == "SigningTime")
        .and_then(|n| n.text())
        .map(|s| String::from(s.trim()));
    let sc = ssp
        .children()
        .find(|c| c.is_element() && matches!(c.tag_name().name(), "SigningCertificate" | "SigningCertificateV2"))
        .ok_or(VerifyError::MissingElement("SigningCertificate"))?;
    let mut cert_digests: Vec<(Hash, Vec<u8>)> = Vec::new();
    for cert_el in sc.children().filter(|c| c.is_element() && c.tag_name().name() == "Cert") {
        let cd = cert_el
            .children()
            .find(|c| c.is_element() && c.tag_name().name() == "CertDigest")
            .ok_or(VerifyError::MissingElement("CertDigest"))?;
        let dm = child(cd, DS, "DigestMethod")?;
        let dv = child(cd, DS, "DigestValue")?;
        cert_digests.push((digest_alg(alg_attr(dm))?, b64(dv.text().unwrap_or(""))?));
    }

    // KeyInfo certificates: pick the one SigningCertificate names.
    let key_info = child(signature, DS, "KeyInfo")?;
    let mut certificate: Option<Certificate> = None;
    let mut any_cert = false;
    for xc in key_info
        .descendants()
        .filter(|c| is(*c, DS, "X509Certificate") && c.parent().is_some_and(|p| is(p, DS, "X509Data")))
    {
        any_cert = true;
        let der = b64(xc.text().unwrap_or(""))?;
        if cert_digests.iter().any(|(h, d)| h.digest(&der) == *d) {
            certificate = Some(Certificate::from_der(&der).map_err(|_| VerifyError::BadCertificate)?);
            break;
        }
    }
    if !any_cert {
        return Err(VerifyError::MissingElement("X509Certificate"));
    }
    let certificate = certificate.ok_or(VerifyError::SigningCertificateMismatch)?;
    let key = certificate.public_key().map_err(|_| VerifyError::UnsupportedKey)?;

    // SignatureValue.
    let sv = b64(child(signature, DS, "SignatureValue")?.text().unwrap_or(""))?;
    let si_bytes = si_c14n.canonicalize(signed_info, &|_| false, false);
    let ok = match (&key, is_rsa) {
        (PublicKey::Rsa(_), true) => {
            if key.bits() < 2048 {
                return Err(VerifyError::UnsupportedKey);
            }
            verify_rsa_pkcs1(&key, hash, &si_bytes, &sv)
        }
        (PublicKey::P256(_), false) => verify_ecdsa(&key, hash, &si_bytes, &sv, EcdsaFormat::Raw),
        _ => return Err(VerifyError::UnsupportedKey),
    };
    ok.map_err(|_| VerifyError::SignatureInvalid)?;

    if !certificate.is_valid_at(opts.at) {
        return Err(VerifyError::CertificateNotValidAtTime);
    }
    Ok(VerifiedSignature { identity: certificate.identity(), certificate, signing_time, signed_document })
}
