//! X.509 certificates: parsing, fingerprints, validity, subject identity (NIP/PESEL).

use alloc::string::{String, ToString};
use alloc::vec::Vec;
use core::fmt;

use der::{Decode, Encode};
use x509_cert::Certificate as X509;

use crate::encoding::{b64_decode, b64_encode, hex_upper};
use crate::hash::sha256;
use crate::keys::{PublicKey, pem_decode};
use crate::{Error, UnixTime, oid};

/// A parsed X.509 certificate together with its DER bytes.
#[derive(Clone, PartialEq, Eq)]
pub struct Certificate {
    der: Vec<u8>,
    parsed: X509,
}

impl fmt::Debug for Certificate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Certificate")
            .field("subject", &self.parsed.tbs_certificate().subject().to_string())
            .field("serial", &self.serial_hex())
            .finish()
    }
}

impl Certificate {
    /// Parse DER.
    pub fn from_der(der: &[u8]) -> Result<Self, Error> {
        let parsed = X509::from_der(der)?;
        Ok(Self { der: der.to_vec(), parsed })
    }

    /// Parse standard Base64 of DER (the `certificate` field of KSeF JSON).
    pub fn from_b64(b64: &str) -> Result<Self, Error> {
        Self::from_der(&b64_decode(b64.trim())?)
    }

    /// Parse a PEM `CERTIFICATE` block.
    pub fn from_pem(pem: &str) -> Result<Self, Error> {
        let (label, der) = pem_decode(pem)?;
        if label != "CERTIFICATE" {
            return Err(Error::Der);
        }
        Self::from_der(&der)
    }

    /// DER bytes.
    pub fn der(&self) -> &[u8] {
        &self.der
    }

    /// PEM text.
    pub fn to_pem(&self) -> Result<String, Error> {
        der::pem::encode_string("CERTIFICATE", der::pem::LineEnding::LF, &self.der).map_err(|_| Error::Der)
    }

    /// The parsed `x509-cert` structure (for advanced use).
    pub fn x509(&self) -> &X509 {
        &self.parsed
    }

    /// SHA-256 of the DER, raw.
    pub fn sha256(&self) -> [u8; 32] {
        sha256(&self.der)
    }

    /// SHA-256 fingerprint as 64 upper-case hex chars (KSeF `certificateFingerprint`).
    pub fn fingerprint(&self) -> String {
        hex_upper(self.sha256())
    }

    /// `certificateId`: Base64(SHA-256(certificate DER)).
    pub fn certificate_id(&self) -> String {
        b64_encode(self.sha256())
    }

    /// DER of the `SubjectPublicKeyInfo`.
    pub fn spki_der(&self) -> Result<Vec<u8>, Error> {
        Ok(self.parsed.tbs_certificate().subject_public_key_info().to_der()?)
    }

    /// `publicKeyId`: Base64(SHA-256(SubjectPublicKeyInfo DER)).
    pub fn public_key_id(&self) -> Result<String, Error> {
        Ok(b64_encode(sha256(self.spki_der()?)))
    }

    /// The subject public key (RSA or P-256).
    pub fn public_key(&self) -> Result<PublicKey, Error> {
        PublicKey::from_spki_der(&self.spki_der()?)
    }

    /// notBefore.
    pub fn not_before(&self) -> UnixTime {
        UnixTime::from_x509(&self.parsed.tbs_certificate().validity().not_before)
    }

    /// notAfter.
    pub fn not_after(&self) -> UnixTime {
        UnixTime::from_x509(&self.parsed.tbs_certificate().validity().not_after)
    }

    /// `notBefore <= at <= notAfter` (RFC 5280 semantics: both ends inclusive).
    pub fn is_valid_at(&self, at: UnixTime) -> bool {
        self.not_before() <= at && at <= self.not_after()
    }

    /// Serial number as upper-case hex without leading zero bytes (KSeF shows 16 hex digits).
    pub fn serial_hex(&self) -> String {
        let bytes = self.parsed.tbs_certificate().serial_number().as_bytes();
        let trimmed = match bytes.iter().position(|&b| b != 0) {
            Some(i) => &bytes[i..],
            None => &bytes[bytes.len().saturating_sub(1)..],
        };
        hex_upper(trimmed)
    }

    /// Serial number in decimal (XAdES `X509SerialNumber`).
    pub fn serial_decimal(&self) -> String {
        decimal_from_be(self.parsed.tbs_certificate().serial_number().as_bytes())
    }

    /// Issuer DN as an RFC 4514 string (XAdES `X509IssuerName`).
    pub fn issuer_rfc4514(&self) -> String {
        self.parsed.tbs_certificate().issuer().to_string()
    }

    /// Subject DN as an RFC 4514 string.
    pub fn subject_rfc4514(&self) -> String {
        self.parsed.tbs_certificate().subject().to_string()
    }

    /// The first value of a subject attribute, as a string (UTF8String, PrintableString, IA5String…).
    pub fn subject_attr(&self, oid: der::asn1::ObjectIdentifier) -> Option<String> {
        attr_value(self.parsed.tbs_certificate().subject(), oid)
    }

    /// The KSeF identity in the subject (see [`SubjectIdentity`]).
    pub fn identity(&self) -> SubjectIdentity {
        SubjectIdentity::from_certificate(self)
    }
}

pub(crate) fn attr_value(name: &x509_cert::name::Name, oid: der::asn1::ObjectIdentifier) -> Option<String> {
    name.iter().find(|atv| atv.oid == oid).and_then(|atv| any_to_string(&atv.value))
}

fn any_to_string(v: &der::Any) -> Option<String> {
    use der::{Tag, Tagged};
    match v.tag() {
        Tag::Utf8String | Tag::PrintableString | Tag::Ia5String | Tag::TeletexString => {
            core::str::from_utf8(v.value()).ok().map(String::from)
        }
        Tag::BmpString => der::asn1::BmpString::from_der(&v.to_der().ok()?).ok().map(|s| s.to_string()),
        _ => None,
    }
}

/// Big-endian unsigned bytes to decimal.
pub(crate) fn decimal_from_be(bytes: &[u8]) -> String {
    let mut digits: Vec<u8> = Vec::new(); // little-endian base-10 digits
    for &b in bytes {
        let mut carry = u32::from(b);
        for d in &mut digits {
            let v = u32::from(*d) * 256 + carry;
            *d = (v % 10) as u8;
            carry = v / 10;
        }
        while carry > 0 {
            digits.push((carry % 10) as u8);
            carry /= 10;
        }
    }
    if digits.is_empty() {
        return String::from("0");
    }
    digits.iter().rev().map(|d| char::from(b'0' + d)).collect()
}

/// The identity KSeF derives from a certificate subject (`certificateSubject`), per the
/// regexes of the protocol notes §2.3:
/// serialNumber `(PNOPL|PESEL).*?(\d{11})` or `(TINPL|NIP).*?(\d{10})`;
/// organizationIdentifier `(VATPL).*?(\d{10})`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum SubjectIdentity {
    /// A person identified by PESEL (11 digits).
    Pesel(String),
    /// A person identified by NIP (10 digits) in serialNumber.
    Nip(String),
    /// A seal (organization) identified by NIP in organizationIdentifier.
    SealNip(String),
    /// No NIP/PESEL in the subject: only the fingerprint can identify it.
    None,
}

impl SubjectIdentity {
    /// Extract from a certificate.
    pub fn from_certificate(cert: &Certificate) -> Self {
        if let Some(sn) = cert.subject_attr(oid::SERIAL_NUMBER) {
            if let Some(p) = match_prefixed(&sn, &["PNOPL", "PESEL"], 11) {
                return Self::Pesel(p);
            }
            if let Some(n) = match_prefixed(&sn, &["TINPL", "NIP"], 10) {
                return Self::Nip(n);
            }
        }
        if let Some(oi) = cert.subject_attr(oid::ORGANIZATION_IDENTIFIER)
            && let Some(n) = match_prefixed(&oi, &["VATPL"], 10)
        {
            return Self::SealNip(n);
        }
        Self::None
    }

    /// The NIP, for `Nip` and `SealNip`.
    pub fn nip(&self) -> Option<&str> {
        match self {
            Self::Nip(n) | Self::SealNip(n) => Some(n),
            _ => None,
        }
    }
}

/// Emulates `(P1|P2).*?(?<id>\d{n})`: after the first occurrence of a prefix, the first run of
/// `n` consecutive digits (lazy `.*?` = earliest position).
fn match_prefixed(s: &str, prefixes: &[&str], n: usize) -> Option<String> {
    let bytes = s.as_bytes();
    let start = prefixes.iter().filter_map(|p| s.find(p).map(|i| i + p.len())).min()?;
    let mut i = start;
    while i + n <= bytes.len() {
        if bytes[i..i + n].iter().all(u8::is_ascii_digit) {
            return Some(String::from(&s[i..i + n]));
        }
        i += 1;
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn regex_emulation() {
        assert_eq!(match_prefixed("TINPL-5265877635", &["TINPL", "NIP"], 10).as_deref(), Some("5265877635"));
        assert_eq!(match_prefixed("PNOPL-90010112345", &["PNOPL", "PESEL"], 11).as_deref(), Some("90010112345"));
        assert_eq!(match_prefixed("TINPL-52658", &["TINPL"], 10), None);
        assert_eq!(match_prefixed("XX-5265877635", &["TINPL"], 10), None);
    }

    #[test]
    fn decimal() {
        assert_eq!(decimal_from_be(&[0x01, 0x00]), "256");
        assert_eq!(decimal_from_be(&[0xff; 8]), "18446744073709551615");
        assert_eq!(decimal_from_be(&[]), "0");
    }
}
