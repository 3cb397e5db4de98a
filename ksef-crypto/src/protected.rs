//! Password-protected keys: PKCS#12 (`.p12`/`.pfx`) bundles and encrypted PKCS#8
//! (`ENCRYPTED PRIVATE KEY`) files. Needs the `pkcs12` feature (and so `std`).
//!
//! PKCS#12 parsing, MAC checking and bag decryption are done by the
//! [`p12-keystore`](https://crates.io/crates/p12-keystore) crate (RustCrypto `pkcs12`/`pkcs5`
//! underneath): OpenSSL 3's default (PBES2, PBKDF2-HMAC-SHA256, AES-256-CBC, HMAC-SHA256 MAC) and
//! the legacy form of older tools and Windows (PKCS#12 KDF, 3DES for the key, RC2-40 for the
//! certificates, HMAC-SHA1 MAC) both load. This module turns the result into this crate's
//! [`PrivateKey`] and [`Certificate`] and checks that the key belongs to the certificate.
//!
//! A wrong password is reported as [`Error::WrongPassword`], distinct from a malformed file
//! ([`Error::Der`]) or an unsupported scheme ([`Error::UnsupportedAlgorithm`]).
//!
//! Note: the decrypted PKCS#8 bytes held inside `p12-keystore` while loading are not zeroized by
//! that crate; everything this module keeps is.

use alloc::vec::Vec;
use core::fmt;

use crate::keys::pem_decode;
use crate::{Certificate, Error, PrivateKey};
use der::Decode as _;

/// The private key and certificates of a PKCS#12 file.
pub struct Pkcs12Bundle {
    /// The private key (RSA or P-256). Zeroized on drop; `Debug` shows no key material.
    pub key: PrivateKey,
    /// The certificate of `key` (the leaf).
    pub certificate: Certificate,
    /// The other certificates of the file (issuers), in file order.
    pub chain: Vec<Certificate>,
}

impl fmt::Debug for Pkcs12Bundle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Pkcs12Bundle")
            .field("key", &self.key)
            .field("certificate", &self.certificate.subject_rfc4514())
            .field("chain", &self.chain.len())
            .finish()
    }
}

impl Pkcs12Bundle {
    /// Parse a PKCS#12 file (DER) protected by `password`.
    ///
    /// The file must hold exactly one private key and the certificate whose public key matches
    /// it (found by public key, not by `localKeyId`, so files without that attribute load too);
    /// all other certificates become [`Pkcs12Bundle::chain`].
    pub fn from_der(der: &[u8], password: &str) -> Result<Self, Error> {
        let archive = p12_keystore::Pkcs12Archive::from_pkcs12(der, password).map_err(map_p12_error)?;
        let mut keys = archive.keys.into_iter();
        let key_bag = keys.next().ok_or(Error::InvalidInput("the PKCS#12 file holds no private key"))?;
        if keys.next().is_some() {
            return Err(Error::InvalidInput("the PKCS#12 file holds more than one private key"));
        }
        let key = PrivateKey::from_pkcs8_der(key_bag.key.as_der())?;
        let key_spki = key.public_key().to_spki_der()?;

        let mut certificate = None;
        let mut chain = Vec::new();
        for bag in archive.certs {
            let cert = Certificate::from_der(bag.cert.as_der())?;
            if certificate.is_none() && cert.spki_der()? == key_spki {
                certificate = Some(cert);
            } else {
                chain.push(cert);
            }
        }
        let certificate =
            certificate.ok_or(Error::InvalidInput("the PKCS#12 file holds no certificate for its private key"))?;
        Ok(Self { key, certificate, chain })
    }
}

fn map_p12_error(e: p12_keystore::error::Error) -> Error {
    use p12_keystore::error::Error as E;
    match e {
        E::MacError(_) | E::UnpadError => Error::WrongPassword,
        E::UnsupportedEncryptionScheme | E::UnsupportedMacAlgorithm | E::UnsupportedContentType => {
            Error::UnsupportedAlgorithm
        }
        E::UnsupportedCertificateType | E::InvalidPrivateKey => Error::UnsupportedKey,
        _ => Error::Der,
    }
}

impl PrivateKey {
    /// Load an encrypted PKCS#8 key (`EncryptedPrivateKeyInfo`, PBES2 as `openssl pkcs8
    /// -topk8` writes it) from DER. A wrong password gives [`Error::WrongPassword`].
    pub fn from_encrypted_pkcs8_der(der: &[u8], password: &str) -> Result<Self, Error> {
        let info = pkcs8::EncryptedPrivateKeyInfoRef::from_der(der)?;
        let doc = info.decrypt(password).map_err(|e| match e {
            pkcs8::Error::EncryptedPrivateKey(
                pkcs5::Error::UnsupportedAlgorithm { .. } | pkcs5::Error::AlgorithmParametersInvalid { .. },
            ) => Error::UnsupportedAlgorithm,
            _ => Error::WrongPassword,
        })?;
        Self::from_pkcs8_der(doc.as_bytes())
    }

    /// Load a key from PEM that may be password-protected: `ENCRYPTED PRIVATE KEY` is
    /// decrypted with `password`; the unencrypted labels of [`PrivateKey::from_pem`] load as
    /// they are (the password is then unused).
    pub fn from_pem_with_password(pem: &str, password: &str) -> Result<Self, Error> {
        let (label, der) = pem_decode(pem)?;
        if label == "ENCRYPTED PRIVATE KEY" {
            Self::from_encrypted_pkcs8_der(&der, password)
        } else {
            Self::from_pem(pem)
        }
    }

    /// Whether a PEM text is a password-protected key (so a caller knows to ask for one).
    pub fn pem_is_encrypted(pem: &str) -> bool {
        pem.trim_start().starts_with("-----BEGIN ENCRYPTED PRIVATE KEY-----")
    }
}
