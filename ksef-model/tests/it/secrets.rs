//! Generated types that carry a secret (JWTs, the KSeF token, the encrypted KSeF token, the
//! wrapped session key) print `***` in their `Debug` output, nested or not; the other fields still
//! show. The list is `SECRETS` in `xtask/src/codegen/model.rs`.

use ksef_model::types::{
    AuthenticationInitResponse, AuthenticationTokenRefreshResponse, AuthenticationTokensResponse, EncryptionInfo,
    GenerateTokenResponse, GenerateTokenResponseToken, InitTokenAuthenticationRequest, TokenInfo,
};
use serde_json::json;

const JWT: &str = "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJzZWNyZXQtc3ViamVjdCJ9.c2lnbmF0dXJlLXNlY3JldC1wYXJ0LTEyMzQ1Njc4OQ";
const JWT2: &str = "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJyZWZyZXNoLXN1YmplY3QifQ.cmVmcmVzaC1zaWduYXR1cmUtc2VjcmV0LTk4NzY1";
const KSEF_TOKEN: &str = "20251010-EC-0123456789-ABCDEF0123-45|nip-5265877635|0f1e2d3c4b5a69788796a5b4c3d2e1f0";
const WRAPPED_KEY: &str = "V3JhcHBlZFNlc3Npb25LZXlTZWNyZXRCeXRlczAxMjM0NTY3ODk=";
const ENCRYPTED_TOKEN: &str = "RW5jcnlwdGVkS3NlZlRva2VuV2l0aFRpbWVzdGFtcDAxMjM0NTY3";

fn decode<T: serde::de::DeserializeOwned>(v: serde_json::Value) -> T {
    serde_json::from_value(v).expect("the sample decodes")
}

fn assert_redacted(name: &str, debug: &str, secrets: &[&str], visible: &[&str]) {
    for s in secrets {
        assert!(!debug.contains(s), "{name}: the secret appears in Debug: {debug}");
        // No recognisable part of it either (a JWT's signature, the token's first segment).
        for part in s.split(['.', '|']).filter(|p| p.len() >= 12) {
            assert!(!debug.contains(part), "{name}: part {part:?} of a secret appears in Debug: {debug}");
        }
    }
    assert!(debug.contains("***"), "{name}: no redaction marker in {debug}");
    for v in visible {
        assert!(debug.contains(v), "{name}: non-secret {v:?} is missing from {debug}");
    }
}

#[test]
fn debug_of_secret_bearing_types_is_redacted() {
    let until = "2026-12-03T10:00:00Z";
    let info = json!({"token": JWT, "validUntil": until});
    let reference = "20251010-AU-0123456789-ABCDEF0123-45";

    let t: TokenInfo = decode(info.clone());
    assert_eq!(t.token, JWT, "the value itself is intact");
    assert_redacted("TokenInfo", &format!("{t:?}"), &[JWT], &["2026-12-03"]);
    assert_redacted("TokenInfo (pretty)", &format!("{t:#?}"), &[JWT], &["valid_until"]);

    let init: AuthenticationInitResponse =
        decode(json!({"referenceNumber": reference, "authenticationToken": info.clone()}));
    assert_redacted("AuthenticationInitResponse", &format!("{init:?}"), &[JWT], &[reference]);

    let tokens: AuthenticationTokensResponse = decode(json!({
        "accessToken": info.clone(),
        "refreshToken": {"token": JWT2, "validUntil": until},
    }));
    assert_redacted("AuthenticationTokensResponse", &format!("{tokens:?}"), &[JWT, JWT2], &["refresh_token"]);

    let refreshed: AuthenticationTokenRefreshResponse = decode(json!({"accessToken": info}));
    assert_redacted("AuthenticationTokenRefreshResponse", &format!("{refreshed:?}"), &[JWT], &["access_token"]);

    let generated: GenerateTokenResponse = decode(json!({"referenceNumber": reference, "token": KSEF_TOKEN}));
    assert_eq!(generated.token.as_str(), KSEF_TOKEN);
    assert_redacted("GenerateTokenResponse", &format!("{generated:?}"), &[KSEF_TOKEN], &[reference]);
    let bare: GenerateTokenResponseToken = KSEF_TOKEN.parse().unwrap();
    assert_redacted("GenerateTokenResponseToken", &format!("{bare:?}"), &[KSEF_TOKEN], &[]);

    let req: InitTokenAuthenticationRequest = decode(json!({
        "challenge": "20250625-CR-20F5EE4000-DA48AE4124-46",
        "contextIdentifier": {"type": "Nip", "value": "5265877635"},
        "encryptedToken": ENCRYPTED_TOKEN,
    }));
    assert_redacted(
        "InitTokenAuthenticationRequest",
        &format!("{req:?}"),
        &[ENCRYPTED_TOKEN],
        &["5265877635", "20250625-CR-20F5EE4000-DA48AE4124-46"],
    );

    let enc: EncryptionInfo =
        decode(json!({"encryptedSymmetricKey": WRAPPED_KEY, "initializationVector": "AAAAAAAAAAAAAAAAAAAAAA=="}));
    assert_redacted("EncryptionInfo", &format!("{enc:?}"), &[WRAPPED_KEY], &["AAAAAAAAAAAAAAAAAAAAAA=="]);
}
