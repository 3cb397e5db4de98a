//! HS256 JWTs: authentication (operation), access (context) and refresh tokens.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64URL;
use chrono::{DateTime, Utc};
use hmac::{Hmac, KeyInit, Mac};
use serde::{Deserialize, Serialize};
use sha2::Sha256;
use zeroize::Zeroizing;

use crate::domain::{Identifier, PermissionType};

/// The issuer and audience the emulator writes into its tokens.
pub const ISSUER: &str = "ksef-emulator";

/// Which kind of token (`token-type`), so one cannot stand in for another.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum TokenKind {
    /// The `authenticationToken` of an auth operation.
    OperationToken,
    /// An access token.
    ContextToken,
    /// A refresh token.
    RefreshToken,
}

/// The claims of every token the emulator issues.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Claims {
    /// Kind.
    #[serde(rename = "token-type")]
    pub kind: TokenKind,
    /// The auth operation (`AU…`) the token belongs to.
    #[serde(rename = "operation-reference-number")]
    pub auth_reference: String,
    /// Context type.
    #[serde(rename = "context-identifier-type", default, skip_serializing_if = "Option::is_none")]
    pub context: Option<Identifier>,
    /// The authenticated subject.
    #[serde(rename = "subject-identifier", default, skip_serializing_if = "Option::is_none")]
    pub subject: Option<Identifier>,
    /// Snapshot of the permissions at issue time (access tokens).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub permissions: Vec<PermissionType>,
    /// The IP policy of the authentication (access tokens).
    #[serde(rename = "allowed-ips", default, skip_serializing_if = "Option::is_none")]
    pub allowed_ips: Option<crate::domain::IpPolicy>,
    /// Issued at (Unix seconds).
    pub iat: i64,
    /// Expires (Unix seconds).
    pub exp: i64,
    /// Issuer.
    pub iss: String,
    /// Audience.
    pub aud: String,
    /// Unique id.
    pub jti: String,
}

/// Why a token was refused (all map to 401).
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum JwtError {
    /// Not three Base64URL parts of JSON.
    #[error("token is malformed")]
    Malformed,
    /// The signature does not verify.
    #[error("token signature is invalid")]
    BadSignature,
    /// Past `exp`.
    #[error("token has expired")]
    Expired,
}

/// Signs and verifies tokens with one HMAC secret.
pub struct JwtSigner {
    secret: Zeroizing<Vec<u8>>,
}

impl std::fmt::Debug for JwtSigner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("JwtSigner(<redacted>)")
    }
}

impl JwtSigner {
    /// A signer with this secret.
    pub fn new(secret: Vec<u8>) -> Self {
        Self { secret: Zeroizing::new(secret) }
    }

    fn mac(&self) -> Hmac<Sha256> {
        // HMAC accepts keys of any length.
        <Hmac<Sha256> as KeyInit>::new_from_slice(&self.secret).unwrap_or_else(|_| unreachable!())
    }

    /// Hex HMAC-SHA256 of `data` with the signer's secret (pre-signed storage URLs).
    pub fn tag(&self, data: &[u8]) -> String {
        let mut mac = self.mac();
        mac.update(data);
        mac.finalize().into_bytes().iter().map(|b| format!("{b:02x}")).collect()
    }

    /// Encodes and signs.
    pub fn sign(&self, claims: &Claims) -> String {
        let header = B64URL.encode(br#"{"alg":"HS256","typ":"JWT"}"#);
        let payload = B64URL.encode(serde_json::to_vec(claims).unwrap_or_default());
        let input = format!("{header}.{payload}");
        let mut mac = self.mac();
        mac.update(input.as_bytes());
        let sig = B64URL.encode(mac.finalize().into_bytes());
        format!("{input}.{sig}")
    }

    /// Verifies the signature and expiry.
    pub fn verify(&self, token: &str, now: DateTime<Utc>) -> Result<Claims, JwtError> {
        let mut parts = token.split('.');
        let (Some(h), Some(p), Some(s), None) = (parts.next(), parts.next(), parts.next(), parts.next()) else {
            return Err(JwtError::Malformed);
        };
        let sig = B64URL.decode(s).map_err(|_| JwtError::Malformed)?;
        let mut mac = self.mac();
        mac.update(h.as_bytes());
        mac.update(b".");
        mac.update(p.as_bytes());
        mac.verify_slice(&sig).map_err(|_| JwtError::BadSignature)?;
        let claims: Claims = serde_json::from_slice(&B64URL.decode(p).map_err(|_| JwtError::Malformed)?)
            .map_err(|_| JwtError::Malformed)?;
        if claims.iss != ISSUER || claims.aud != ISSUER {
            return Err(JwtError::Malformed);
        }
        if now.timestamp() >= claims.exp {
            return Err(JwtError::Expired);
        }
        Ok(claims)
    }
}
