//! QR verification links: KOD I (every invoice) and KOD II (offline invoices, signed with
//! an `Offline` KSeF certificate key), with verification of KOD II.

use alloc::format;
use alloc::string::String;
use alloc::vec::Vec;
use rand_core::CryptoRng;
use sha2::Sha256;
use signature::{RandomizedSigner, SignatureEncoding};

use crate::Error;
use crate::auth_request::ContextIdentifier;
use crate::cert::Certificate;
use crate::encoding::{b64url_decode, b64url_encode};
use crate::keys::{PrivateKey, PublicKey};
use crate::sign::{EcdsaFormat, Hash, sign_sha256, verify_ecdsa, verify_rsa_pss_sha256};

/// QR host of the TE (test) environment.
pub const QR_HOST_TEST: &str = "qr-test.ksef.mf.gov.pl";
/// QR host of the DEMO environment.
pub const QR_HOST_DEMO: &str = "qr-demo.ksef.mf.gov.pl";
/// QR host of production.
pub const QR_HOST_PROD: &str = "qr.ksef.mf.gov.pl";

/// An invoice issue date (`P_1`), printed as `DD-MM-YYYY` in KOD I.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IssueDate {
    /// Year.
    pub year: u16,
    /// Month 1..=12.
    pub month: u8,
    /// Day 1..=31.
    pub day: u8,
}

impl IssueDate {
    /// Parse `YYYY-MM-DD` (the `P_1` format).
    pub fn parse_iso(s: &str) -> Result<Self, Error> {
        let bad = Error::InvalidInput("date must be YYYY-MM-DD");
        let mut it = s.split('-');
        let (Some(y), Some(m), Some(d), None) = (it.next(), it.next(), it.next(), it.next()) else {
            return Err(bad);
        };
        if y.len() != 4 || m.len() != 2 || d.len() != 2 {
            return Err(bad);
        }
        let date = Self {
            year: y.parse().map_err(|_| bad)?,
            month: m.parse().map_err(|_| bad)?,
            day: d.parse().map_err(|_| bad)?,
        };
        if !(1..=12).contains(&date.month) || !(1..=31).contains(&date.day) {
            return Err(bad);
        }
        Ok(date)
    }
}

fn host_of(qr_host: &str) -> &str {
    let h = qr_host.strip_prefix("https://").unwrap_or(qr_host);
    h.trim_end_matches('/')
}

fn check_nip(nip: &str) -> Result<(), Error> {
    if nip.len() == 10 && nip.bytes().all(|b| b.is_ascii_digit()) {
        Ok(())
    } else {
        Err(Error::InvalidInput("NIP must be 10 digits"))
    }
}

/// KOD I: `https://{host}/invoice/{nip}/{DD-MM-YYYY}/{Base64URL(SHA-256(invoice))}`.
/// `qr_host` may be given with or without `https://`.
pub fn invoice_url(
    qr_host: &str,
    seller_nip: &str,
    issue_date: IssueDate,
    invoice_sha256: &[u8; 32],
) -> Result<String, Error> {
    check_nip(seller_nip)?;
    Ok(format!(
        "https://{}/invoice/{}/{:02}-{:02}-{:04}/{}",
        host_of(qr_host),
        seller_nip,
        issue_date.day,
        issue_date.month,
        issue_date.year,
        b64url_encode(invoice_sha256)
    ))
}

/// The string KOD II signs: the URL without `https://` and without the signature segment.
pub fn certificate_url_signed_part(
    qr_host: &str,
    context: &ContextIdentifier,
    seller_nip: &str,
    certificate_serial: &str,
    invoice_sha256: &[u8; 32],
) -> Result<String, Error> {
    check_nip(seller_nip)?;
    if certificate_serial.is_empty() || !certificate_serial.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(Error::InvalidInput("certificate serial must be hex"));
    }
    if context.value().is_empty() || context.value().contains('/') {
        return Err(Error::InvalidInput("context value must be non-empty without '/'"));
    }
    Ok(format!(
        "{}/certificate/{}/{}/{}/{}/{}",
        host_of(qr_host),
        context.element(),
        context.value(),
        seller_nip,
        certificate_serial,
        b64url_encode(invoice_sha256)
    ))
}

/// KOD II: the signed certificate link. The key must be the `Offline` certificate's:
/// RSA → RSASSA-PSS (SHA-256, MGF1-SHA-256, salt 32); P-256 → ECDSA SHA-256 raw `r||s`.
pub fn certificate_url<R: CryptoRng + ?Sized>(
    qr_host: &str,
    context: &ContextIdentifier,
    seller_nip: &str,
    certificate_serial: &str,
    invoice_sha256: &[u8; 32],
    key: &PrivateKey,
    rng: &mut R,
) -> Result<String, Error> {
    let signed = certificate_url_signed_part(qr_host, context, seller_nip, certificate_serial, invoice_sha256)?;
    let sig = sign_kod2(key, signed.as_bytes(), rng)?;
    Ok(format!("https://{signed}/{}", b64url_encode(sig)))
}

fn sign_kod2<R: CryptoRng + ?Sized>(key: &PrivateKey, msg: &[u8], rng: &mut R) -> Result<Vec<u8>, Error> {
    if let Some(k) = key.rsa() {
        let sk = rsa::pss::SigningKey::<Sha256>::new_with_salt_len(k.clone(), 32);
        let sig = sk.try_sign_with_rng(rng, msg).map_err(|_| Error::Signing)?;
        return Ok(sig.to_vec());
    }
    sign_sha256(key, msg, EcdsaFormat::Raw)
}

/// The parts of a verified KOD II link.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CertificateLink {
    /// Host.
    pub host: String,
    /// Context of the issuer.
    pub context: ContextIdentifier,
    /// Seller NIP.
    pub seller_nip: String,
    /// Certificate serial (hex, as in the URL).
    pub certificate_serial: String,
    /// SHA-256 of the invoice.
    pub invoice_sha256: [u8; 32],
}

/// Parse a KOD II link and verify its signature with `certificate` (whose serial must match
/// the one in the link, and whose keyUsage, if present, must include nonRepudiation). ECDSA signatures are accepted as raw `r||s` or, as a fallback, DER.
pub fn verify_certificate_url(url: &str, certificate: &Certificate) -> Result<CertificateLink, Error> {
    let bad = Error::InvalidInput("not a KOD II certificate link");
    let rest = url.strip_prefix("https://").unwrap_or(url);
    let (signed, sig_b64) = rest.rsplit_once('/').ok_or(bad)?;
    let parts: Vec<&str> = signed.split('/').collect();
    let [host, "certificate", ctx_type, ctx_value, nip, serial, hash] = parts.as_slice() else {
        return Err(bad);
    };
    let context = ContextIdentifier::from_parts(ctx_type, ctx_value).ok_or(bad)?;
    let invoice_sha256: [u8; 32] = b64url_decode(hash)?.try_into().map_err(|_| bad)?;
    if !serial.eq_ignore_ascii_case(&certificate.serial_hex()) {
        return Err(Error::InvalidInput("certificate serial does not match the link"));
    }
    // KOD II must be signed with an Offline certificate (keyUsage nonRepudiation); an
    // Authentication certificate (digitalSignature only) is refused.
    if let Some((_, non_repudiation)) = crate::x509::key_usage(certificate)
        && !non_repudiation
    {
        return Err(Error::InvalidInput("certificate is not an Offline (nonRepudiation) certificate"));
    }
    let sig = b64url_decode(sig_b64)?;
    let key = certificate.public_key()?;
    match key {
        PublicKey::Rsa(_) => verify_rsa_pss_sha256(&key, signed.as_bytes(), &sig, Some(32))?,
        PublicKey::P256(_) => verify_ecdsa(&key, Hash::Sha256, signed.as_bytes(), &sig, EcdsaFormat::Raw)
            .or_else(|_| verify_ecdsa(&key, Hash::Sha256, signed.as_bytes(), &sig, EcdsaFormat::Der))?,
    }
    Ok(CertificateLink {
        host: String::from(*host),
        context,
        seller_nip: String::from(*nip),
        certificate_serial: String::from(*serial),
        invoice_sha256,
    })
}
