//! Building certificates and CSRs: self-signed KSeF test identities, PKCS#10 requests from
//! `/certificates/enrollments/data`, CSR parsing with signature check, and issuing a
//! certificate from a CSR with a CA key (the emulator's CA).

use alloc::string::String;
use alloc::vec;
use alloc::vec::Vec;

use der::asn1::{Any, BitString, GeneralizedTime, OctetString, PrintableStringRef, SetOfVec, UtcTime, Utf8StringRef};
use der::{Decode, Encode, Sequence};
use spki::{AlgorithmIdentifierOwned, SubjectPublicKeyInfoOwned};
use x509_cert::attr::AttributeTypeAndValue;
use x509_cert::ext::Extension;
use x509_cert::name::{Name, RdnSequence, RelativeDistinguishedName};
use x509_cert::request::{CertReq, CertReqInfo, Version as CsrVersion};
use x509_cert::time::Time;

use crate::cert::{Certificate, attr_value};
use crate::keys::{PrivateKey, PublicKey};
use crate::sign::{EcdsaFormat, sign_sha256, verify_x509, x509_alg};
use crate::{Error, UnixTime, oid};

/// Subject DN attributes, with the field names of `GET /certificates/enrollments/data`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SubjectFields {
    /// commonName (2.5.4.3), required.
    pub common_name: String,
    /// countryName (2.5.4.6), required (e.g. `PL`).
    pub country_name: String,
    /// givenName (2.5.4.42), may repeat.
    pub given_names: Vec<String>,
    /// surname (2.5.4.4).
    pub surname: Option<String>,
    /// serialNumber (2.5.4.5), e.g. `TINPL-5265877635` or `PNOPL-90010112345`.
    pub serial_number: Option<String>,
    /// uniqueIdentifier (2.5.4.45).
    pub unique_identifier: Option<String>,
    /// organizationName (2.5.4.10).
    pub organization_name: Option<String>,
    /// organizationIdentifier (2.5.4.97), e.g. `VATPL-5265877635`.
    pub organization_identifier: Option<String>,
}

impl SubjectFields {
    /// A person identified by NIP: serialNumber `TINPL-<nip>`, givenName, surname, CN, C=PL.
    pub fn person_nip(nip: &str, given_name: &str, surname: &str) -> Result<Self, Error> {
        check_digits(nip, 10, "NIP must be 10 digits")?;
        Ok(Self::person(alloc::format!("TINPL-{nip}"), given_name, surname))
    }

    /// A person identified by PESEL: serialNumber `PNOPL-<pesel>`.
    pub fn person_pesel(pesel: &str, given_name: &str, surname: &str) -> Result<Self, Error> {
        check_digits(pesel, 11, "PESEL must be 11 digits")?;
        Ok(Self::person(alloc::format!("PNOPL-{pesel}"), given_name, surname))
    }

    fn person(serial: String, given_name: &str, surname: &str) -> Self {
        Self {
            common_name: alloc::format!("{given_name} {surname}"),
            country_name: String::from("PL"),
            given_names: vec![String::from(given_name)],
            surname: Some(String::from(surname)),
            serial_number: Some(serial),
            ..Self::default()
        }
    }

    /// A seal (organization): organizationIdentifier `VATPL-<nip>`, O, CN, C=PL.
    pub fn seal(nip: &str, organization: &str) -> Result<Self, Error> {
        check_digits(nip, 10, "NIP must be 10 digits")?;
        Ok(Self {
            common_name: String::from(organization),
            country_name: String::from("PL"),
            organization_name: Some(String::from(organization)),
            organization_identifier: Some(alloc::format!("VATPL-{nip}")),
            ..Self::default()
        })
    }

    /// Encode as an X.501 Name, one attribute per RDN, in the C# client's order
    /// (CN, surname, givenName, O, organizationIdentifier, C, serialNumber, uniqueIdentifier);
    /// C and serialNumber as PrintableString, the rest UTF8String. Empty values are skipped.
    pub fn to_name(&self) -> Result<Name, Error> {
        let mut rdns: Vec<RelativeDistinguishedName> = Vec::new();
        let mut push = |o, v: &str, printable: bool| -> Result<(), Error> {
            if v.is_empty() {
                return Ok(());
            }
            let value = if printable {
                Any::encode_from(
                    &PrintableStringRef::new(v)
                        .map_err(|_| Error::InvalidInput("countryName/serialNumber must be PrintableString"))?,
                )?
            } else {
                Any::encode_from(&Utf8StringRef::new(v)?)?
            };
            let atv = AttributeTypeAndValue { oid: o, value };
            let set = SetOfVec::try_from(vec![atv])?;
            rdns.push(RelativeDistinguishedName::from(set));
            Ok(())
        };
        push(oid::CN, &self.common_name, false)?;
        if let Some(v) = &self.surname {
            push(oid::SURNAME, v, false)?;
        }
        for g in &self.given_names {
            push(oid::GIVEN_NAME, g, false)?;
        }
        if let Some(v) = &self.organization_name {
            push(oid::ORGANIZATION, v, false)?;
        }
        if let Some(v) = &self.organization_identifier {
            push(oid::ORGANIZATION_IDENTIFIER, v, false)?;
        }
        push(oid::COUNTRY, &self.country_name, true)?;
        if let Some(v) = &self.serial_number {
            push(oid::SERIAL_NUMBER, v, true)?;
        }
        if let Some(v) = &self.unique_identifier {
            push(oid::UNIQUE_IDENTIFIER, v, false)?;
        }
        Ok(Name::from_der(&RdnSequence::from(rdns).to_der()?)?)
    }

    /// Read the attributes back from a Name.
    pub fn from_name(name: &Name) -> Self {
        Self {
            common_name: attr_value(name, oid::CN).unwrap_or_default(),
            country_name: attr_value(name, oid::COUNTRY).unwrap_or_default(),
            given_names: name
                .iter()
                .filter(|a| a.oid == oid::GIVEN_NAME)
                .filter_map(|a| core::str::from_utf8(a.value.value()).ok().map(String::from))
                .collect(),
            surname: attr_value(name, oid::SURNAME),
            serial_number: attr_value(name, oid::SERIAL_NUMBER),
            unique_identifier: attr_value(name, oid::UNIQUE_IDENTIFIER),
            organization_name: attr_value(name, oid::ORGANIZATION),
            organization_identifier: attr_value(name, oid::ORGANIZATION_IDENTIFIER),
        }
    }
}

fn check_digits(s: &str, n: usize, msg: &'static str) -> Result<(), Error> {
    if s.len() == n && s.bytes().all(|b| b.is_ascii_digit()) { Ok(()) } else { Err(Error::InvalidInput(msg)) }
}

/// KSeF certificate types (`certificateType`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum KsefCertificateType {
    /// keyUsage digitalSignature; used to authenticate (XAdES).
    Authentication,
    /// keyUsage nonRepudiation; only for signing QR code II.
    Offline,
}

#[derive(Sequence)]
struct ValidityOut {
    not_before: Time,
    not_after: Time,
}

#[derive(Sequence)]
struct TbsOut {
    #[asn1(context_specific = "0", tag_mode = "EXPLICIT")]
    version: u8,
    serial: der::asn1::Uint,
    signature: AlgorithmIdentifierOwned,
    issuer: Name,
    validity: ValidityOut,
    subject: Name,
    spki: SubjectPublicKeyInfoOwned,
    #[asn1(context_specific = "3", tag_mode = "EXPLICIT", optional = "true")]
    extensions: Option<Vec<Extension>>,
}

#[derive(Sequence)]
struct CertOut {
    tbs: TbsOut,
    alg: AlgorithmIdentifierOwned,
    sig: BitString,
}

#[derive(Sequence)]
struct BasicConstraintsOut {
    #[asn1(default = "Default::default")]
    ca: bool,
}

fn x509_time(t: UnixTime) -> Result<Time, Error> {
    let d = core::time::Duration::from_secs(t.as_secs());
    // RFC 5280: UTCTime through 2049, GeneralizedTime from 2050.
    if t.as_secs() < 2_524_608_000 {
        Ok(Time::UtcTime(UtcTime::from_unix_duration(d)?))
    } else {
        Ok(Time::GeneralTime(GeneralizedTime::from_unix_duration(d)?))
    }
}

/// keyUsage extension from raw first byte of the BIT STRING.
fn key_usage_ext(bits: u8) -> Result<Extension, Error> {
    let unused = bits.trailing_zeros().min(7) as u8;
    let bs = BitString::new(unused, vec![bits])?;
    Ok(Extension {
        extn_id: der::asn1::ObjectIdentifier::new_unwrap("2.5.29.15"),
        critical: true,
        extn_value: OctetString::new(bs.to_der()?)?,
    })
}

fn basic_constraints_ext(ca: bool) -> Result<Extension, Error> {
    Ok(Extension {
        extn_id: der::asn1::ObjectIdentifier::new_unwrap("2.5.29.19"),
        critical: true,
        extn_value: OctetString::new(BasicConstraintsOut { ca }.to_der()?)?,
    })
}

const KU_DIGITAL_SIGNATURE: u8 = 0x80;
const KU_NON_REPUDIATION: u8 = 0x40;
const KU_KEY_CERT_SIGN: u8 = 0x04;
const KU_CRL_SIGN: u8 = 0x02;

/// Parameters of a certificate to sign.
struct CertParams<'a> {
    serial: &'a [u8],
    issuer: Name,
    subject: Name,
    spki: SubjectPublicKeyInfoOwned,
    not_before: UnixTime,
    not_after: UnixTime,
    extensions: Vec<Extension>,
}

fn sign_certificate(signer: &PrivateKey, p: CertParams<'_>) -> Result<Certificate, Error> {
    let alg = x509_alg(signer);
    let tbs = TbsOut {
        version: 2,
        serial: der::asn1::Uint::new(p.serial)?,
        signature: alg.clone(),
        issuer: p.issuer,
        validity: ValidityOut { not_before: x509_time(p.not_before)?, not_after: x509_time(p.not_after)? },
        subject: p.subject,
        spki: p.spki,
        extensions: if p.extensions.is_empty() { None } else { Some(p.extensions) },
    };
    let tbs_der = tbs.to_der()?;
    let sig = sign_sha256(signer, &tbs_der, EcdsaFormat::Der)?;
    let cert = CertOut { tbs, alg, sig: BitString::from_bytes(&sig)? };
    Certificate::from_der(&cert.to_der()?)
}

fn spki_of(key: &PublicKey) -> Result<SubjectPublicKeyInfoOwned, Error> {
    Ok(SubjectPublicKeyInfoOwned::from_der(&key.to_spki_der()?)?)
}

/// A self-signed certificate for `subject`, valid `not_before..=not_after`, with keyUsage
/// digitalSignature + nonRepudiation (what KSeF TE accepts for XAdES authentication).
/// `serial` should be 8..=20 random bytes.
pub fn self_signed(
    key: &PrivateKey,
    subject: &SubjectFields,
    serial: &[u8],
    not_before: UnixTime,
    not_after: UnixTime,
) -> Result<Certificate, Error> {
    let name = subject.to_name()?;
    sign_certificate(
        key,
        CertParams {
            serial,
            issuer: name.clone(),
            subject: name,
            spki: spki_of(&key.public_key())?,
            not_before,
            not_after,
            extensions: vec![key_usage_ext(KU_DIGITAL_SIGNATURE | KU_NON_REPUDIATION)?],
        },
    )
}

/// A self-signed CA certificate (basicConstraints CA, keyCertSign + cRLSign): the emulator's CA.
pub fn self_signed_ca(
    key: &PrivateKey,
    common_name: &str,
    serial: &[u8],
    not_before: UnixTime,
    not_after: UnixTime,
) -> Result<Certificate, Error> {
    let subject = SubjectFields {
        common_name: String::from(common_name),
        country_name: String::from("PL"),
        ..SubjectFields::default()
    };
    let name = subject.to_name()?;
    sign_certificate(
        key,
        CertParams {
            serial,
            issuer: name.clone(),
            subject: name,
            spki: spki_of(&key.public_key())?,
            not_before,
            not_after,
            extensions: vec![basic_constraints_ext(true)?, key_usage_ext(KU_KEY_CERT_SIGN | KU_CRL_SIGN)?],
        },
    )
}

/// A key and its self-signed certificate: a KSeF TE test identity.
#[derive(Debug, Clone)]
pub struct TestIdentity {
    /// The private key.
    pub key: PrivateKey,
    /// The self-signed certificate.
    pub certificate: Certificate,
}

/// Which key to generate for a test identity or CSR.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyAlgorithm {
    /// RSA-2048.
    Rsa2048,
    /// ECDSA P-256 (recommended by KSeF).
    P256,
}

impl KeyAlgorithm {
    /// Generate a key.
    pub fn generate<R: rand_core::CryptoRng + ?Sized>(self, rng: &mut R) -> Result<PrivateKey, Error> {
        match self {
            Self::Rsa2048 => PrivateKey::generate_rsa2048(rng),
            Self::P256 => Ok(PrivateKey::generate_p256(rng)),
        }
    }
}

impl TestIdentity {
    /// Generate a key and a self-signed certificate for `subject`, valid from
    /// `not_before` for `days` days, with a random 8-byte serial.
    pub fn generate<R: rand_core::CryptoRng + ?Sized>(
        alg: KeyAlgorithm,
        subject: &SubjectFields,
        not_before: UnixTime,
        days: u32,
        rng: &mut R,
    ) -> Result<Self, Error> {
        let key = alg.generate(rng)?;
        let serial = random_serial(rng);
        let certificate = self_signed(
            &key,
            subject,
            &serial,
            not_before,
            UnixTime::from_secs(not_before.as_secs() + u64::from(days) * 86_400),
        )?;
        Ok(Self { key, certificate })
    }
}

/// 8 random bytes usable as a KSeF-style serial (16 hex digits; first byte non-zero).
pub fn random_serial<R: rand_core::CryptoRng + ?Sized>(rng: &mut R) -> [u8; 8] {
    let mut s = [0u8; 8];
    rng.fill_bytes(&mut s);
    if s[0] == 0 {
        s[0] = 1;
    }
    s
}

/// A PKCS#10 CSR (DER) for `subject`, signed with `key` (RSA PKCS#1 v1.5 SHA-256 or
/// ECDSA P-256 SHA-256). Base64 it into the `csr` field of `POST /certificates/enrollments`.
pub fn create_csr(key: &PrivateKey, subject: &SubjectFields) -> Result<Vec<u8>, Error> {
    let info = CertReqInfo {
        version: CsrVersion::V1,
        subject: subject.to_name()?,
        public_key: spki_of(&key.public_key())?,
        attributes: SetOfVec::new(),
    };
    let sig = sign_sha256(key, &info.to_der()?, EcdsaFormat::Der)?;
    let req = CertReq { info, algorithm: x509_alg(key), signature: BitString::from_bytes(&sig)? };
    Ok(req.to_der()?)
}

/// A parsed CSR whose signature has been verified.
#[derive(Debug, Clone)]
pub struct ParsedCsr {
    /// Subject attributes.
    pub subject: SubjectFields,
    /// The raw subject Name (copied unchanged into an issued certificate).
    pub subject_name: Name,
    /// The requested public key.
    pub public_key: PublicKey,
    /// DER of the SubjectPublicKeyInfo.
    pub spki_der: Vec<u8>,
}

/// Why a CSR was refused (maps to KSeF 25004/25010/25011).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum CsrError {
    /// Not a DER PKCS#10 request (KSeF 25004).
    Format,
    /// The self-signature does not verify (KSeF 25004).
    Signature,
    /// Key is not RSA-2048 or P-256 (KSeF 25010).
    KeyType,
    /// Signature algorithm not accepted (KSeF 25011).
    SignatureAlgorithm,
}

impl core::fmt::Display for CsrError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(match self {
            Self::Format => "malformed PKCS#10 request",
            Self::Signature => "CSR signature does not verify",
            Self::KeyType => "CSR key must be RSA-2048 or EC P-256",
            Self::SignatureAlgorithm => "unsupported CSR signature algorithm",
        })
    }
}

impl core::error::Error for CsrError {}

/// Parse a DER PKCS#10 request and verify its signature; enforce RSA exactly 2048 bits or P-256.
pub fn parse_csr(der: &[u8]) -> Result<ParsedCsr, CsrError> {
    let req = CertReq::from_der(der).map_err(|_| CsrError::Format)?;
    let spki_der = req.info.public_key.to_der().map_err(|_| CsrError::Format)?;
    let public_key = PublicKey::from_spki_der(&spki_der).map_err(|_| CsrError::KeyType)?;
    if matches!(public_key, PublicKey::Rsa(_)) && public_key.bits() != 2048 {
        return Err(CsrError::KeyType);
    }
    let info_der = req.info.to_der().map_err(|_| CsrError::Format)?;
    let sig = req.signature.as_bytes().ok_or(CsrError::Format)?;
    match verify_x509(&public_key, &req.algorithm, &info_der, sig) {
        Ok(()) => {}
        Err(Error::UnsupportedAlgorithm | Error::UnsupportedKey) => {
            return Err(CsrError::SignatureAlgorithm);
        }
        Err(_) => return Err(CsrError::Signature),
    }
    Ok(ParsedCsr {
        subject: SubjectFields::from_name(&req.info.subject),
        subject_name: req.info.subject.clone(),
        public_key,
        spki_der,
    })
}

/// Issue a certificate for a verified CSR with a CA key: subject copied unchanged,
/// `serial` (KSeF uses 8 bytes = 16 hex digits), keyUsage digitalSignature for
/// `Authentication` or nonRepudiation for `Offline`.
pub fn issue_from_csr(
    ca_key: &PrivateKey,
    ca_cert: &Certificate,
    csr: &ParsedCsr,
    serial: &[u8],
    kind: KsefCertificateType,
    not_before: UnixTime,
    not_after: UnixTime,
) -> Result<Certificate, Error> {
    let ku = match kind {
        KsefCertificateType::Authentication => KU_DIGITAL_SIGNATURE,
        KsefCertificateType::Offline => KU_NON_REPUDIATION,
    };
    sign_certificate(
        ca_key,
        CertParams {
            serial,
            issuer: ca_cert.x509().tbs_certificate().subject().clone(),
            subject: csr.subject_name.clone(),
            spki: SubjectPublicKeyInfoOwned::from_der(&csr.spki_der)?,
            not_before,
            not_after,
            extensions: vec![basic_constraints_ext(false)?, key_usage_ext(ku)?],
        },
    )
}

/// Verify that `cert` was signed by `issuer`'s key (signature only; no path building).
pub fn verify_issued_by(cert: &Certificate, issuer: &Certificate) -> Result<(), Error> {
    let x = cert.x509();
    let tbs = x.tbs_certificate().to_der()?;
    let sig = x.signature().as_bytes().ok_or(Error::Der)?;
    verify_x509(&issuer.public_key()?, x.signature_algorithm(), &tbs, sig)
}

/// Key usage bits of a certificate: (digitalSignature, nonRepudiation), if the extension is present.
pub fn key_usage(cert: &Certificate) -> Option<(bool, bool)> {
    let exts = cert.x509().tbs_certificate().extensions()?;
    let ext = exts.iter().find(|e| e.extn_id == der::asn1::ObjectIdentifier::new_unwrap("2.5.29.15"))?;
    let bs = BitString::from_der(ext.extn_value.as_bytes()).ok()?;
    let first = bs.raw_bytes().first().copied().unwrap_or(0);
    Some((first & KU_DIGITAL_SIGNATURE != 0, first & KU_NON_REPUDIATION != 0))
}
