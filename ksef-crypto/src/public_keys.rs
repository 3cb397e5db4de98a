//! The KSeF encryption keys from `GET /security/public-key-certificates`, and picking the
//! right one for a usage.

use alloc::string::String;
use alloc::vec::Vec;
use rand_core::TryCryptoRng;

use crate::cert::Certificate;
use crate::keys::PublicKey;
use crate::symmetric::SessionKey;
use crate::{Error, UnixTime, rsa_oaep};

/// The `usage` values of a KSeF public key certificate.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum KeyUsage {
    /// `KsefTokenEncryption`: encrypting `token|timestamp` for `/auth/ksef-token`.
    KsefTokenEncryption,
    /// `SymmetricKeyEncryption`: wrapping AES keys for sessions and exports.
    SymmetricKeyEncryption,
}

impl KeyUsage {
    /// Parse the JSON string; unknown values give `None`.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "KsefTokenEncryption" => Some(Self::KsefTokenEncryption),
            "SymmetricKeyEncryption" => Some(Self::SymmetricKeyEncryption),
            _ => None,
        }
    }

    /// The JSON string.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::KsefTokenEncryption => "KsefTokenEncryption",
            Self::SymmetricKeyEncryption => "SymmetricKeyEncryption",
        }
    }
}

/// One entry of `GET /security/public-key-certificates`, parsed.
#[derive(Debug, Clone)]
pub struct KsefPublicKey {
    certificate: Certificate,
    key: PublicKey,
    public_key_id: String,
    usages: Vec<KeyUsage>,
}

impl KsefPublicKey {
    /// From the certificate DER and its usages. Validity comes from the certificate itself.
    pub fn from_der(der: &[u8], usages: &[KeyUsage]) -> Result<Self, Error> {
        let certificate = Certificate::from_der(der)?;
        let key = certificate.public_key()?;
        let public_key_id = certificate.public_key_id()?;
        Ok(Self { certificate, key, public_key_id, usages: usages.to_vec() })
    }

    /// From the JSON fields: `certificate` (Base64 DER) and `usage` strings (unknown ones ignored).
    pub fn from_json_fields<'a>(
        certificate_b64: &str,
        usages: impl IntoIterator<Item = &'a str>,
    ) -> Result<Self, Error> {
        let der = crate::encoding::b64_decode(certificate_b64.trim())?;
        let u: Vec<KeyUsage> = usages.into_iter().filter_map(KeyUsage::parse).collect();
        Self::from_der(&der, &u)
    }

    /// The certificate.
    pub fn certificate(&self) -> &Certificate {
        &self.certificate
    }

    /// The public key.
    pub fn public_key(&self) -> &PublicKey {
        &self.key
    }

    /// `publicKeyId` (Base64 SHA-256 of the SPKI DER, 44 chars).
    pub fn public_key_id(&self) -> &str {
        &self.public_key_id
    }

    /// `certificateId` (Base64 SHA-256 of the certificate DER).
    pub fn certificate_id(&self) -> String {
        self.certificate.certificate_id()
    }

    /// Usages.
    pub fn usages(&self) -> &[KeyUsage] {
        &self.usages
    }

    /// Does it carry `usage` and is it valid at `at`?
    pub fn usable_for(&self, usage: KeyUsage, at: UnixTime) -> bool {
        self.usages.contains(&usage) && self.certificate.is_valid_at(at)
    }

    /// Wrap a session AES key (RSA-OAEP-SHA256); Base64 it into `encryptedSymmetricKey`.
    pub fn wrap_session_key<R: TryCryptoRng + ?Sized>(
        &self,
        session: &SessionKey,
        rng: &mut R,
    ) -> Result<Vec<u8>, Error> {
        rsa_oaep::wrap_session_key(&self.key, session, rng)
    }

    /// Encrypt `"{token}|{timestamp_ms}"`; Base64 it into `encryptedToken`.
    pub fn encrypt_ksef_token<R: TryCryptoRng + ?Sized>(
        &self,
        token: &str,
        timestamp_ms: i64,
        rng: &mut R,
    ) -> Result<Vec<u8>, Error> {
        rsa_oaep::encrypt_ksef_token(&self.key, token, timestamp_ms, rng)
    }
}

/// Choose the key for `usage` valid at `at`; among several, the latest `validFrom` wins
/// (the documented client rule).
pub fn select_key(keys: &[KsefPublicKey], usage: KeyUsage, at: UnixTime) -> Result<&KsefPublicKey, Error> {
    keys.iter()
        .filter(|k| k.usable_for(usage, at))
        .max_by_key(|k| k.certificate.not_before())
        .ok_or(Error::NoSuitableCertificate)
}
