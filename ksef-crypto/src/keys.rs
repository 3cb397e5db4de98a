//! Private and public keys (RSA and ECDSA P-256): generation, PEM/DER/PKCS#8 loading,
//! SubjectPublicKeyInfo encoding.

use alloc::string::String;
use alloc::vec::Vec;
use core::fmt;

use der::{Decode, Encode};
use p256::ecdsa::{SigningKey as EcSigningKey, VerifyingKey as EcVerifyingKey};
use pkcs8::{DecodePrivateKey, EncodePrivateKey, LineEnding};
use rand_core::CryptoRng;
use rsa::pkcs1::DecodeRsaPrivateKey;
use rsa::traits::PublicKeyParts;
use spki::{DecodePublicKey, EncodePublicKey};
use zeroize::Zeroizing;

use crate::Error;

/// Which algorithm a key belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum KeyKind {
    /// RSA (any size this crate accepts: 2048..=8192 bits).
    Rsa,
    /// ECDSA on NIST P-256 (secp256r1).
    P256,
}

/// A public key: RSA or ECDSA P-256.
#[derive(Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum PublicKey {
    /// RSA public key.
    Rsa(rsa::PublicKey),
    /// P-256 public key.
    P256(EcVerifyingKey),
}

impl fmt::Debug for PublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Rsa(k) => write!(f, "PublicKey::Rsa({} bits)", k.size() * 8),
            Self::P256(_) => f.write_str("PublicKey::P256"),
        }
    }
}

impl PublicKey {
    /// Parse a DER `SubjectPublicKeyInfo`.
    pub fn from_spki_der(der: &[u8]) -> Result<Self, Error> {
        let spki = spki::SubjectPublicKeyInfoRef::from_der(der)?;
        Self::from_spki(spki)
    }

    pub(crate) fn from_spki(spki: spki::SubjectPublicKeyInfoRef<'_>) -> Result<Self, Error> {
        match spki.algorithm.oid {
            crate::oid::RSA_ENCRYPTION => {
                let k = rsa::PublicKey::try_from(spki).map_err(|_| Error::Der)?;
                Ok(Self::Rsa(k))
            }
            crate::oid::EC_PUBLIC_KEY => {
                let curve = spki.algorithm.parameters_oid().map_err(|_| Error::UnsupportedKey)?;
                if curve != crate::oid::SECP256R1 {
                    return Err(Error::UnsupportedKey);
                }
                let k = EcVerifyingKey::from_public_key_der(&spki.to_der()?).map_err(|_| Error::Der)?;
                Ok(Self::P256(k))
            }
            _ => Err(Error::UnsupportedKey),
        }
    }

    /// DER `SubjectPublicKeyInfo`.
    pub fn to_spki_der(&self) -> Result<Vec<u8>, Error> {
        let doc = match self {
            Self::Rsa(k) => k.to_public_key_der()?,
            Self::P256(k) => k.to_public_key_der()?,
        };
        Ok(doc.into_vec())
    }

    /// The algorithm.
    pub fn kind(&self) -> KeyKind {
        match self {
            Self::Rsa(_) => KeyKind::Rsa,
            Self::P256(_) => KeyKind::P256,
        }
    }

    /// RSA modulus size in bits, or 256 for P-256.
    pub fn bits(&self) -> usize {
        match self {
            Self::Rsa(k) => k.size() * 8,
            Self::P256(_) => 256,
        }
    }
}

enum PrivInner {
    Rsa(rsa::PrivateKey),
    P256(EcSigningKey),
}

/// A private key (RSA or ECDSA P-256). Zeroized on drop by the underlying RustCrypto
/// types; `Debug` never shows key material.
pub struct PrivateKey(PrivInner);

impl fmt::Debug for PrivateKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PrivateKey::{:?}(<redacted>)", self.kind())
    }
}

impl Clone for PrivateKey {
    fn clone(&self) -> Self {
        Self(match &self.0 {
            PrivInner::Rsa(k) => PrivInner::Rsa(k.clone()),
            PrivInner::P256(k) => PrivInner::P256(k.clone()),
        })
    }
}

impl PrivateKey {
    /// Generate an RSA-2048 key (slow in debug builds: prime generation).
    pub fn generate_rsa2048<R: CryptoRng + ?Sized>(rng: &mut R) -> Result<Self, Error> {
        let k = rsa::PrivateKey::new(rng, 2048).map_err(|_| Error::KeyGeneration)?;
        Ok(Self(PrivInner::Rsa(k)))
    }

    /// Generate a P-256 key.
    pub fn generate_p256<R: CryptoRng + ?Sized>(rng: &mut R) -> Self {
        use p256::elliptic_curve::Generate as _;
        Self(PrivInner::P256(EcSigningKey::generate_from_rng(rng)))
    }

    /// Load a key from PEM: `PRIVATE KEY` (PKCS#8), `RSA PRIVATE KEY` (PKCS#1) or
    /// `EC PRIVATE KEY` (SEC1, P-256). Encrypted PEM is not supported.
    pub fn from_pem(pem: &str) -> Result<Self, Error> {
        let (label, der) = pem_decode(pem)?;
        match label.as_str() {
            "PRIVATE KEY" => Self::from_pkcs8_der(&der),
            "RSA PRIVATE KEY" => Self::from_pkcs1_der(&der),
            "EC PRIVATE KEY" => Self::from_sec1_der(&der),
            _ => Err(Error::Der),
        }
    }

    /// Load a key from DER, trying PKCS#8, then PKCS#1 (RSA), then SEC1 (P-256).
    pub fn from_der(der: &[u8]) -> Result<Self, Error> {
        Self::from_pkcs8_der(der).or_else(|_| Self::from_pkcs1_der(der)).or_else(|_| Self::from_sec1_der(der))
    }

    /// Load a PKCS#8 `PrivateKeyInfo` (RSA or P-256).
    pub fn from_pkcs8_der(der: &[u8]) -> Result<Self, Error> {
        let info = pkcs8::PrivateKeyInfoRef::from_der(der)?;
        match info.algorithm.oid {
            crate::oid::RSA_ENCRYPTION => {
                Ok(Self(PrivInner::Rsa(rsa::PrivateKey::from_pkcs8_der(der).map_err(|_| Error::Der)?)))
            }
            crate::oid::EC_PUBLIC_KEY => {
                Ok(Self(PrivInner::P256(EcSigningKey::from_pkcs8_der(der).map_err(|_| Error::UnsupportedKey)?)))
            }
            _ => Err(Error::UnsupportedKey),
        }
    }

    /// Load a PKCS#1 `RSAPrivateKey`.
    pub fn from_pkcs1_der(der: &[u8]) -> Result<Self, Error> {
        Ok(Self(PrivInner::Rsa(rsa::PrivateKey::from_pkcs1_der(der).map_err(|_| Error::Der)?)))
    }

    /// Load a SEC1 `ECPrivateKey` (P-256).
    pub fn from_sec1_der(der: &[u8]) -> Result<Self, Error> {
        let sk = p256::SecretKey::from_sec1_der(der).map_err(|_| Error::Der)?;
        Ok(Self(PrivInner::P256(EcSigningKey::from(sk))))
    }

    /// PKCS#8 DER (zeroized on drop).
    pub fn to_pkcs8_der(&self) -> Result<Zeroizing<Vec<u8>>, Error> {
        let doc = match &self.0 {
            PrivInner::Rsa(k) => k.to_pkcs8_der()?,
            PrivInner::P256(k) => k.to_pkcs8_der()?,
        };
        Ok(Zeroizing::new(doc.as_bytes().to_vec()))
    }

    /// PKCS#8 PEM (`-----BEGIN PRIVATE KEY-----`), zeroized on drop.
    pub fn to_pkcs8_pem(&self) -> Result<Zeroizing<String>, Error> {
        let doc = match &self.0 {
            PrivInner::Rsa(k) => k.to_pkcs8_pem(LineEnding::LF)?,
            PrivInner::P256(k) => k.to_pkcs8_pem(LineEnding::LF)?,
        };
        Ok(Zeroizing::new(String::from(doc.as_str())))
    }

    /// The algorithm.
    pub fn kind(&self) -> KeyKind {
        match &self.0 {
            PrivInner::Rsa(_) => KeyKind::Rsa,
            PrivInner::P256(_) => KeyKind::P256,
        }
    }

    /// The matching public key.
    pub fn public_key(&self) -> PublicKey {
        match &self.0 {
            PrivInner::Rsa(k) => PublicKey::Rsa(k.to_public_key()),
            PrivInner::P256(k) => PublicKey::P256(*k.verifying_key()),
        }
    }

    pub(crate) fn rsa(&self) -> Option<&rsa::PrivateKey> {
        match &self.0 {
            PrivInner::Rsa(k) => Some(k),
            PrivInner::P256(_) => None,
        }
    }

    pub(crate) fn p256(&self) -> Option<&EcSigningKey> {
        match &self.0 {
            PrivInner::P256(k) => Some(k),
            PrivInner::Rsa(_) => None,
        }
    }
}

/// Decode one PEM block: (label, DER).
pub(crate) fn pem_decode(pem: &str) -> Result<(String, Zeroizing<Vec<u8>>), Error> {
    let (label, der) = der::pem::decode_vec(pem.trim().as_bytes()).map_err(|_| Error::Der)?;
    Ok((String::from(label), Zeroizing::new(der)))
}
