//! RSAES-OAEP (SHA-256, MGF1-SHA-256, empty label): wrapping the AES session key and
//! encrypting the KSeF token.

use alloc::format;
use alloc::string::String;
use alloc::vec::Vec;
use rand_core::TryCryptoRng;
use rsa::Oaep;
use sha2::Sha256;
use zeroize::Zeroizing;

use crate::Error;
use crate::keys::{PrivateKey, PublicKey};
use crate::symmetric::SessionKey;

/// RSA-OAEP-SHA256 encryption of `msg` under an RSA public key.
pub fn oaep_encrypt<R: TryCryptoRng + ?Sized>(key: &PublicKey, msg: &[u8], rng: &mut R) -> Result<Vec<u8>, Error> {
    let PublicKey::Rsa(k) = key else {
        return Err(Error::UnsupportedKey);
    };
    k.encrypt(rng, Oaep::<Sha256>::new(), msg).map_err(|_| Error::Encrypt)
}

/// RSA-OAEP-SHA256 decryption (opaque [`Error::Decrypt`] on any failure).
pub fn oaep_decrypt(key: &PrivateKey, ciphertext: &[u8]) -> Result<Zeroizing<Vec<u8>>, Error> {
    let k = key.rsa().ok_or(Error::UnsupportedKey)?;
    k.decrypt(Oaep::<Sha256>::new(), ciphertext).map(Zeroizing::new).map_err(|_| Error::Decrypt)
}

/// Wrap the session's AES key for `encryption.encryptedSymmetricKey` (Base64 it for JSON).
pub fn wrap_session_key<R: TryCryptoRng + ?Sized>(
    key: &PublicKey,
    session: &SessionKey,
    rng: &mut R,
) -> Result<Vec<u8>, Error> {
    oaep_encrypt(key, session.key_bytes(), rng)
}

/// Unwrap an AES key (server/emulator side) and pair it with the IV sent alongside.
pub fn unwrap_session_key(key: &PrivateKey, wrapped: &[u8], iv: &[u8]) -> Result<SessionKey, Error> {
    let raw = oaep_decrypt(key, wrapped)?;
    SessionKey::from_parts(&raw, iv).map_err(|_| Error::Decrypt)
}

/// Encrypt UTF-8 `"{token}|{timestamp_ms}"` for `POST /auth/ksef-token` (`encryptedToken`,
/// Base64 it for JSON). `timestamp_ms` is the challenge's `timestampMs`.
pub fn encrypt_ksef_token<R: TryCryptoRng + ?Sized>(
    key: &PublicKey,
    token: &str,
    timestamp_ms: i64,
    rng: &mut R,
) -> Result<Vec<u8>, Error> {
    let plain = Zeroizing::new(format!("{token}|{timestamp_ms}"));
    oaep_encrypt(key, plain.as_bytes(), rng)
}

/// A decrypted KSeF token (emulator side). `Debug` redacts the token.
pub struct DecryptedToken {
    /// The token (secret).
    pub token: Zeroizing<String>,
    /// The timestamp after the last `|`, in Unix milliseconds.
    pub timestamp_ms: i64,
}

impl core::fmt::Debug for DecryptedToken {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("DecryptedToken")
            .field("token", &"<redacted>")
            .field("timestamp_ms", &self.timestamp_ms)
            .finish()
    }
}

/// Decrypt and split an `encryptedToken` (emulator side).
pub fn decrypt_ksef_token(key: &PrivateKey, ciphertext: &[u8]) -> Result<DecryptedToken, Error> {
    let plain = oaep_decrypt(key, ciphertext)?;
    let s = core::str::from_utf8(&plain).map_err(|_| Error::InvalidInput("token is not UTF-8"))?;
    let (token, ts) = s.rsplit_once('|').ok_or(Error::InvalidInput("token has no '|' separator"))?;
    let timestamp_ms = ts.parse::<i64>().map_err(|_| Error::InvalidInput("token timestamp is not an integer"))?;
    Ok(DecryptedToken { token: Zeroizing::new(String::from(token)), timestamp_ms })
}
