#![doc = include_str!("../README.md")]
#![no_std]
#![forbid(unsafe_code)]
#![cfg_attr(not(test), deny(clippy::unwrap_used))]
#![warn(missing_docs)]

extern crate alloc;
#[cfg(feature = "std")]
extern crate std;

mod error;
mod oid;
mod sign;
mod time;

pub mod auth_request;
mod c14n;
pub mod cert;
pub mod encoding;
pub mod hash;
pub mod keys;
#[cfg(feature = "pkcs12")]
pub mod protected;
pub mod public_keys;
pub mod qr;
pub mod rsa_oaep;
pub mod symmetric;
pub mod x509;
pub mod xades;

pub use auth_request::{AuthTokenRequest, ContextIdentifier, SubjectIdentifierType};
pub use c14n::canonicalize;
pub use cert::{Certificate, SubjectIdentity};
pub use error::Error;
pub use hash::{FileDigest, Sha256Stream, sha256};
pub use keys::{KeyKind, PrivateKey, PublicKey};
#[cfg(feature = "pkcs12")]
pub use protected::Pkcs12Bundle;
pub use public_keys::{KeyUsage, KsefPublicKey, select_key};
pub use symmetric::SessionKey;
pub use time::UnixTime;
pub use x509::{KeyAlgorithm, KsefCertificateType, SubjectFields, TestIdentity};

/// Re-exported so callers can name the RNG traits this crate takes (`rand_core` 0.10).
pub use rand_core;
