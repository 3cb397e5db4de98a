use core::fmt;

/// Errors of `ksef-crypto` (everything except XAdES verification, which has its own
/// [`crate::xades::VerifyError`]).
///
/// Decryption and padding failures collapse into one opaque [`Error::Decrypt`] so that no
/// padding oracle leaks through error variants.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Error {
    /// A key, IV or other fixed-size input had the wrong length.
    InvalidLength,
    /// Decryption failed (wrong key, tampered ciphertext or bad padding).
    Decrypt,
    /// Encryption failed (e.g. the message is too long for the RSA key).
    Encrypt,
    /// Input was not valid Base64 / Base64URL.
    Base64,
    /// A certificate, key, CSR or other DER/PEM structure could not be parsed or encoded.
    Der,
    /// The key type is not supported for this operation (KSeF uses RSA and ECDSA P-256).
    UnsupportedKey,
    /// An algorithm identifier is not supported.
    UnsupportedAlgorithm,
    /// The random number generator failed.
    Rng,
    /// Key generation failed.
    KeyGeneration,
    /// Producing a signature failed (including failures reported by an external signer).
    Signing,
    /// A signature did not verify.
    BadSignature,
    /// No certificate matches the requested usage and time.
    NoSuitableCertificate,
    /// An input value violates its documented format (e.g. a NIP that is not 10 digits).
    InvalidInput(&'static str),
    /// The XML input could not be parsed or violates a parser limit.
    Xml,
    /// A password-protected key or PKCS#12 file did not open: the password is wrong (or the
    /// file was altered, which a MAC or padding check cannot tell apart).
    WrongPassword,
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::InvalidLength => f.write_str("invalid key, IV or input length"),
            Self::Decrypt => f.write_str("decryption failed"),
            Self::Encrypt => f.write_str("encryption failed"),
            Self::Base64 => f.write_str("invalid Base64"),
            Self::Der => f.write_str("malformed DER/PEM structure"),
            Self::UnsupportedKey => f.write_str("unsupported key type"),
            Self::UnsupportedAlgorithm => f.write_str("unsupported algorithm"),
            Self::Rng => f.write_str("random number generator failed"),
            Self::KeyGeneration => f.write_str("key generation failed"),
            Self::Signing => f.write_str("signing failed"),
            Self::BadSignature => f.write_str("signature verification failed"),
            Self::NoSuitableCertificate => f.write_str("no certificate valid for the requested usage and time"),
            Self::InvalidInput(what) => write!(f, "invalid input: {what}"),
            Self::Xml => f.write_str("malformed or disallowed XML"),
            Self::WrongPassword => f.write_str("wrong password (or the protected file was altered)"),
        }
    }
}

impl core::error::Error for Error {}

impl From<der::Error> for Error {
    fn from(_: der::Error) -> Self {
        Self::Der
    }
}

impl From<spki::Error> for Error {
    fn from(_: spki::Error) -> Self {
        Self::Der
    }
}

impl From<pkcs8::Error> for Error {
    fn from(_: pkcs8::Error) -> Self {
        Self::Der
    }
}
