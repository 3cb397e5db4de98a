//! Base64 helpers: standard (with padding) for JSON `byte` fields and Base64URL without
//! padding for QR verification links.

use alloc::string::String;
use alloc::vec::Vec;
use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};

use crate::Error;

/// Standard Base64 with padding (RFC 4648 §4).
pub fn b64_encode(data: impl AsRef<[u8]>) -> String {
    STANDARD.encode(data)
}

/// Decode standard Base64 with padding.
pub fn b64_decode(data: impl AsRef<[u8]>) -> Result<Vec<u8>, Error> {
    STANDARD.decode(data).map_err(|_| Error::Base64)
}

/// Base64URL without padding (RFC 4648 §5).
pub fn b64url_encode(data: impl AsRef<[u8]>) -> String {
    URL_SAFE_NO_PAD.encode(data)
}

/// Decode Base64URL without padding.
pub fn b64url_decode(data: impl AsRef<[u8]>) -> Result<Vec<u8>, Error> {
    URL_SAFE_NO_PAD.decode(data).map_err(|_| Error::Base64)
}

/// Upper-case hexadecimal.
pub fn hex_upper(data: impl AsRef<[u8]>) -> String {
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    let data = data.as_ref();
    let mut s = String::with_capacity(data.len() * 2);
    for b in data {
        s.push(char::from(HEX[usize::from(b >> 4)]));
        s.push(char::from(HEX[usize::from(b & 0x0f)]));
    }
    s
}
