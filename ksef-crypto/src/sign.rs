//! Raw signing/verification helpers shared by X.509, XAdES and QR code II.

use alloc::vec::Vec;
use p256::ecdsa::signature::hazmat::PrehashVerifier;
use sha2::{Digest, Sha256, Sha384, Sha512};
use signature::{SignatureEncoding, Signer, Verifier};

use crate::keys::{PrivateKey, PublicKey};
use crate::{Error, oid};

/// How an ECDSA signature is encoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum EcdsaFormat {
    /// ASN.1 DER `Ecdsa-Sig-Value` (X.509, CSR).
    Der,
    /// IEEE P1363 `r||s` (XMLDSig, KSeF QR code II).
    Raw,
}

/// Hash functions accepted when verifying.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Hash {
    Sha1,
    Sha256,
    Sha384,
    Sha512,
}

impl Hash {
    pub(crate) fn digest(self, data: &[u8]) -> Vec<u8> {
        match self {
            Self::Sha1 => sha1::Sha1::digest(data).to_vec(),
            Self::Sha256 => Sha256::digest(data).to_vec(),
            Self::Sha384 => Sha384::digest(data).to_vec(),
            Self::Sha512 => Sha512::digest(data).to_vec(),
        }
    }
}

/// RSASSA-PKCS1-v1_5 with SHA-256, or ECDSA P-256 with SHA-256 in `fmt`.
pub(crate) fn sign_sha256(key: &PrivateKey, msg: &[u8], fmt: EcdsaFormat) -> Result<Vec<u8>, Error> {
    if let Some(k) = key.rsa() {
        let sk = rsa::pkcs1v15::SigningKey::<Sha256>::new(k.clone());
        let sig = sk.try_sign(msg).map_err(|_| Error::Signing)?;
        return Ok(sig.to_vec());
    }
    if let Some(k) = key.p256() {
        let sig: p256::ecdsa::Signature = k.try_sign(msg).map_err(|_| Error::Signing)?;
        return Ok(match fmt {
            EcdsaFormat::Raw => sig.to_bytes().to_vec(),
            EcdsaFormat::Der => sig.to_der().as_bytes().to_vec(),
        });
    }
    Err(Error::UnsupportedKey)
}

/// Verify RSASSA-PKCS1-v1_5 with `hash`.
pub(crate) fn verify_rsa_pkcs1(key: &PublicKey, hash: Hash, msg: &[u8], sig: &[u8]) -> Result<(), Error> {
    let PublicKey::Rsa(k) = key else {
        return Err(Error::UnsupportedKey);
    };
    let sig = rsa::pkcs1v15::Signature::try_from(sig).map_err(|_| Error::BadSignature)?;
    let r = match hash {
        Hash::Sha1 => rsa::pkcs1v15::VerifyingKey::<sha1::Sha1>::new(k.clone()).verify(msg, &sig),
        Hash::Sha256 => rsa::pkcs1v15::VerifyingKey::<Sha256>::new(k.clone()).verify(msg, &sig),
        Hash::Sha384 => rsa::pkcs1v15::VerifyingKey::<Sha384>::new(k.clone()).verify(msg, &sig),
        Hash::Sha512 => rsa::pkcs1v15::VerifyingKey::<Sha512>::new(k.clone()).verify(msg, &sig),
    };
    r.map_err(|_| Error::BadSignature)
}

/// Verify RSASSA-PSS with SHA-256/MGF1-SHA-256; `salt_len` `None` = detect.
pub(crate) fn verify_rsa_pss_sha256(
    key: &PublicKey,
    msg: &[u8],
    sig: &[u8],
    salt_len: Option<usize>,
) -> Result<(), Error> {
    let PublicKey::Rsa(k) = key else {
        return Err(Error::UnsupportedKey);
    };
    let sig = rsa::pss::Signature::try_from(sig).map_err(|_| Error::BadSignature)?;
    let vk = match salt_len {
        Some(s) => rsa::pss::VerifyingKey::<Sha256>::new_with_salt_len(k.clone(), s),
        None => rsa::pss::VerifyingKey::<Sha256>::new_with_auto_salt_len(k.clone()),
    };
    vk.verify(msg, &sig).map_err(|_| Error::BadSignature)
}

/// Verify ECDSA P-256 with `hash` over `msg`.
pub(crate) fn verify_ecdsa(key: &PublicKey, hash: Hash, msg: &[u8], sig: &[u8], fmt: EcdsaFormat) -> Result<(), Error> {
    let PublicKey::P256(k) = key else {
        return Err(Error::UnsupportedKey);
    };
    let sig = match fmt {
        EcdsaFormat::Raw => p256::ecdsa::Signature::from_slice(sig),
        EcdsaFormat::Der => p256::ecdsa::Signature::from_der(sig),
    }
    .map_err(|_| Error::BadSignature)?;
    k.verify_prehash(&hash.digest(msg), &sig).map_err(|_| Error::BadSignature)
}

/// Verify an X.509/PKCS#10 signature given its AlgorithmIdentifier OID.
pub(crate) fn verify_x509(
    key: &PublicKey,
    alg: &spki::AlgorithmIdentifierOwned,
    msg: &[u8],
    sig: &[u8],
) -> Result<(), Error> {
    match alg.oid {
        oid::SHA256_WITH_RSA => verify_rsa_pkcs1(key, Hash::Sha256, msg, sig),
        oid::SHA384_WITH_RSA => verify_rsa_pkcs1(key, Hash::Sha384, msg, sig),
        oid::SHA512_WITH_RSA => verify_rsa_pkcs1(key, Hash::Sha512, msg, sig),
        oid::SHA1_WITH_RSA => verify_rsa_pkcs1(key, Hash::Sha1, msg, sig),
        // Only the SHA-256/MGF1-SHA-256 parameter set (what the C# client produces).
        oid::RSA_PSS => verify_rsa_pss_sha256(key, msg, sig, None),
        oid::ECDSA_SHA256 => verify_ecdsa(key, Hash::Sha256, msg, sig, EcdsaFormat::Der),
        oid::ECDSA_SHA384 => verify_ecdsa(key, Hash::Sha384, msg, sig, EcdsaFormat::Der),
        _ => Err(Error::UnsupportedAlgorithm),
    }
}

/// The X.509 AlgorithmIdentifier for [`sign_sha256`] with `key`.
pub(crate) fn x509_alg(key: &PrivateKey) -> spki::AlgorithmIdentifierOwned {
    match key.kind() {
        crate::KeyKind::Rsa => {
            spki::AlgorithmIdentifierOwned { oid: oid::SHA256_WITH_RSA, parameters: Some(der::asn1::Any::null()) }
        }
        crate::KeyKind::P256 => spki::AlgorithmIdentifierOwned { oid: oid::ECDSA_SHA256, parameters: None },
    }
}
