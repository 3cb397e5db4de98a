//! Bearer tokens that never show up in logs.

use zeroize::Zeroize;

/// A bearer token (access, refresh or authentication token, or a KSeF token).
///
/// `Debug` prints `SecretToken(***)`; the bytes are zeroized when the value is dropped. The only
/// way to see the token is [`SecretToken::expose_secret`].
#[derive(Clone, PartialEq, Eq)]
pub struct SecretToken(String);

impl SecretToken {
    /// Wraps a token.
    pub fn new(token: impl Into<String>) -> Self {
        Self(token.into())
    }

    /// The token itself. Do not log it.
    pub fn expose_secret(&self) -> &str {
        &self.0
    }
}

impl Drop for SecretToken {
    fn drop(&mut self) {
        self.0.zeroize();
    }
}

impl core::fmt::Debug for SecretToken {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str("SecretToken(***)")
    }
}

impl From<String> for SecretToken {
    fn from(s: String) -> Self {
        Self(s)
    }
}

impl From<&str> for SecretToken {
    fn from(s: &str) -> Self {
        Self(s.to_owned())
    }
}
