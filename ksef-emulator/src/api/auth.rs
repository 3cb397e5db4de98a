//! Authentication: challenge, operation status, redeem, refresh, auth sessions.
//!
//! `POST /auth/xades-signature` verifies the signature with `ksef-crypto`'s XAdES verifier
//! (self-signed certificates accepted, as on TE, unless `verifyCertificateChain=true`).
//! `POST /auth/ksef-token` OAEP-decrypts `token|timestampMs` with the KsefTokenEncryption key. Both end in
//! `begin`, which the in-process test hook [`crate::Emulator::authenticate`] also uses.

use std::net::SocketAddr;
use std::sync::Arc;

use axum::extract::{ConnectInfo, Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::{Extension, Json};
use chrono::{DateTime, Duration, Utc};
use serde_json::{Value, json};

use super::{AppState, Caller, Routes, continuation_offset, continuation_token, page_size, ts};
use crate::domain::permissions::of_authentication;
use crate::domain::{Identifier, IdentifierType, StatusInfo};
use crate::error::ApiError;
use crate::jwt::{Claims, ISSUER, TokenKind};
use crate::store::{AuthMethod, AuthOperationRecord, ChallengeRecord};

pub(super) fn register(r: &mut Routes) {
    r.add("auth_challenge", challenge);
    r.add("auth_xades_signature", xades_signature);
    r.add("auth_ksef_token", ksef_token);
    r.add("auth_status", status);
    r.add("auth_token_redeem", redeem);
    r.add("auth_token_refresh", refresh);
    r.add("list_auth_sessions", list_sessions);
    r.add("revoke_current_auth_session", revoke_current);
    r.add("revoke_auth_session", revoke);
}

/// The result of starting an authentication: what `POST /auth/xades-signature` answers.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AuthInit {
    /// `AU` reference number of the operation.
    pub reference_number: String,
    /// The `authenticationToken` (for `GET /auth/{ref}` and redeem).
    pub authentication_token: String,
    /// Its expiry.
    pub valid_until: DateTime<Utc>,
}

impl AuthInit {
    /// The `AuthenticationInitResponse` JSON.
    pub fn to_json(&self) -> Value {
        json!({"referenceNumber": self.reference_number,
               "authenticationToken": {"token": self.authentication_token, "validUntil": ts(self.valid_until)}})
    }
}

async fn challenge(
    State(app): State<Arc<AppState>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
) -> Result<Json<Value>, ApiError> {
    let now = app.now();
    let challenge = app.reference("CR");
    let client_ip = peer.ip().to_string();
    app.store.insert_challenge(ChallengeRecord {
        challenge: challenge.clone(),
        timestamp: now,
        client_ip: client_ip.clone(),
        used: false,
    })?;
    Ok(Json(json!({
        "challenge": challenge,
        "timestamp": ts(now),
        "timestampMs": now.timestamp_millis(),
        "clientIp": client_ip,
    })))
}

/// Consumes a challenge: it must exist, be unused and younger than the challenge lifetime
/// (else `21111`).
pub(crate) fn use_challenge(app: &AppState, challenge: &str) -> Result<ChallengeRecord, ApiError> {
    let bad = |d: &str| ApiError::code(21111, [d.to_owned()]);
    let rec = app.store.use_challenge(challenge)?.ok_or_else(|| bad("Wyzwanie nie istnieje."))?;
    if rec.used {
        return Err(bad("Wyzwanie zostało już wykorzystane."));
    }
    if app.now() - rec.timestamp > app.config.lifetimes.challenge {
        return Err(bad("Wyzwanie wygasło."));
    }
    Ok(rec)
}

fn to_identifier(c: &ksef_crypto::ContextIdentifier) -> Identifier {
    use ksef_crypto::ContextIdentifier as C;
    let kind = match c {
        C::Nip(_) => IdentifierType::Nip,
        C::InternalId(_) => IdentifierType::InternalId,
        C::NipVatUe(_) => IdentifierType::NipVatUe,
        C::PeppolId(_) => IdentifierType::PeppolId,
    };
    Identifier::new(kind, c.value())
}

async fn xades_signature(
    State(app): State<Arc<AppState>>,
    headers: HeaderMap,
    Query(q): Query<std::collections::HashMap<String, String>>,
    body: axum::body::Bytes,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    use ksef_crypto::xades::{VerifyError, VerifyOptions, verify};
    let xml_media = headers
        .get(axum::http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .map(|v| v.split(';').next().unwrap_or("").trim().to_ascii_lowercase())
        .is_some_and(|m| m == "application/xml" || m == "text/xml");
    if !xml_media {
        return Err(ApiError::UnsupportedMediaType);
    }
    let verify_chain = match q.get("verifyCertificateChain").map(|v| v.to_ascii_lowercase()) {
        None => false,
        Some(v) if v == "true" => true,
        Some(v) if v == "false" => false,
        Some(_) => return Err(ApiError::validation("verifyCertificateChain: wymagana wartość true lub false.")),
    };
    let text =
        std::str::from_utf8(&body).map_err(|_| ApiError::code(21217, ["Dokument nie jest zakodowany w UTF-8."]))?;
    let now = app.now();
    let at = ksef_crypto::UnixTime::from_secs(now.timestamp().max(0) as u64);
    // A certificate outside its validity is not a synchronous error: the operation ends in 460.
    let (verified, cert_expired) = match verify(text, &VerifyOptions::at(at)) {
        Ok(v) => (v, false),
        Err(VerifyError::CertificateNotValidAtTime) => {
            let cert = extract_certificate_time(text);
            match cert.and_then(|t| verify(text, &VerifyOptions::at(t)).ok()) {
                Some(v) => (v, true),
                None => return Err(ApiError::code(21115, ["Certyfikat jest nieważny."])),
            }
        }
        Err(e) => {
            let code = match e {
                VerifyError::TooLarge => 21405,
                VerifyError::MalformedXml => 9101,
                VerifyError::NoSignature => 9102,
                VerifyError::MultipleSignatures => 9103,
                VerifyError::BadCertificate | VerifyError::UnsupportedKey => 21115,
                _ => 9105,
            };
            return Err(ApiError::code(code, [e.to_string()]));
        }
    };
    let request = verified
        .auth_token_request()
        .map_err(|e| ApiError::code(21401, [format!("Dokument nie jest zgodny ze schemą AuthTokenRequest: {e}")]))?;
    use_challenge(&app, &request.challenge)?;
    let context = to_identifier(&request.context);
    let (request_context_kind, request_context_value) = (context.kind, context.value.clone());
    context.validate().map_err(|e| ApiError::code(21405, [e]))?;
    let cert = &verified.certificate;
    let (subject, method) = match request.subject_identifier_type {
        ksef_crypto::SubjectIdentifierType::CertificateFingerprint => {
            (Identifier::fingerprint(cert.fingerprint()), AuthMethod::QualifiedSignature)
        }
        ksef_crypto::SubjectIdentifierType::CertificateSubject => match &verified.identity {
            ksef_crypto::SubjectIdentity::Pesel(p) => (Identifier::pesel(p.as_str()), AuthMethod::QualifiedSignature),
            ksef_crypto::SubjectIdentity::Nip(n) => (Identifier::nip(n.as_str()), AuthMethod::QualifiedSignature),
            ksef_crypto::SubjectIdentity::SealNip(n) => (Identifier::nip(n.as_str()), AuthMethod::QualifiedSeal),
            _ => {
                return Err(ApiError::code(
                    21406,
                    ["Certyfikat nie zawiera identyfikatora NIP ani PESEL; użyj certificateFingerprint."],
                ));
            }
        },
    };
    // An EU entity's compound context is entered only by fingerprint (its administrators and
    // representatives are granted by certificate fingerprint), so a NIP/PESEL identity taken from
    // the certificate subject is not a valid subject for it [inf].
    if request_context_kind == crate::domain::IdentifierType::NipVatUe
        && subject.kind != crate::domain::IdentifierType::Fingerprint
    {
        return Err(ApiError::code(
            21117,
            ["Kontekst NipVatUe wymaga identyfikacji odciskiem certyfikatu (certificateFingerprint)."],
        ));
    }
    use base64::Engine as _;
    use sha2::Digest as _;
    let hash = base64::engine::general_purpose::STANDARD.encode(sha2::Sha256::digest(&body));
    let self_signed = cert.issuer_rfc4514() == cert.subject_rfc4514();
    let failure = if cert_expired {
        Some("Nieważny certyfikat")
    } else if verify_chain && self_signed {
        Some("Niezaufany łańcuch certyfikatów")
    } else {
        None
    };
    let policy = request.allowed_ips.as_ref().map(|a| crate::domain::IpPolicy {
        addresses: a.ip4_addresses.clone(),
        ranges: a.ip4_ranges.clone(),
        masks: a.ip4_masks.clone(),
    });
    if let Some(p) = &policy {
        p.validate().map_err(|e| ApiError::code(21401, [e]))?;
    }
    // A certificate the emulator's CA issued authenticates as a KSeF certificate (§17 item 13).
    let (method, ksef_cert_problem) = match super::certificates::ksef_certificate_check(&app, cert)? {
        None => (method, None),
        Some(Ok(())) => (AuthMethod::InternalCertificate, None),
        Some(Err(detail)) => (AuthMethod::InternalCertificate, Some(detail)),
    };
    let failure = failure.or(ksef_cert_problem);
    let subject_json = super::certificates::subject_json(&verified.certificate);
    let init = begin(&app, context, subject, method, Some(hash), None)?;
    app.store.update_auth(&init.reference_number, &mut |a| {
        a.allowed_ips = policy.clone();
        a.certificate_subject = Some(subject_json.clone());
    })?;
    if let crate::domain::IdentifierType::PeppolId = request_context_kind {
        // The provider's name comes from its certificate (organizationName, else commonName).
        let v: Value = serde_json::from_str(&subject_json).unwrap_or_default();
        let name = v.get("organizationName").or_else(|| v.get("commonName")).and_then(Value::as_str).map(str::to_owned);
        super::peppol::register_provider(&app, &request_context_value, name)?;
    }
    if let Some(detail) = failure {
        app.store.update_auth(&init.reference_number, &mut |a| {
            a.status = StatusInfo::with_detail(
                460,
                "Uwierzytelnianie zakończone niepowodzeniem z powodu błędu certyfikatu",
                detail,
            );
        })?;
    }
    Ok((StatusCode::ACCEPTED, Json(init.to_json())))
}

#[derive(Debug, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
struct KsefTokenAuth {
    challenge: String,
    context_identifier: WireContext,
    encrypted_token: String,
    #[serde(default)]
    public_key_id: Option<String>,
    #[serde(default)]
    authorization_policy: Option<WirePolicy>,
}

#[derive(Debug, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
struct WirePolicy {
    #[serde(default)]
    allowed_ips: Option<WireAllowedIps>,
}

#[derive(Debug, Default, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
struct WireAllowedIps {
    #[serde(default)]
    ip4_addresses: Option<Vec<String>>,
    #[serde(default)]
    ip4_ranges: Option<Vec<String>>,
    #[serde(default)]
    ip4_masks: Option<Vec<String>>,
}

#[derive(Debug, serde::Deserialize)]
struct WireContext {
    #[serde(rename = "type")]
    kind: IdentifierType,
    value: String,
}

async fn ksef_token(
    State(app): State<Arc<AppState>>,
    super::JsonBody(req): super::JsonBody<KsefTokenAuth>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    use base64::Engine as _;
    let context = Identifier::new(req.context_identifier.kind, req.context_identifier.value);
    if !matches!(
        context.kind,
        IdentifierType::Nip | IdentifierType::InternalId | IdentifierType::NipVatUe | IdentifierType::PeppolId
    ) {
        return Err(ApiError::validation("contextIdentifier.type: nieprawidłowy typ kontekstu."));
    }
    context.validate().map_err(|e| ApiError::validation(format!("contextIdentifier.value: {e}")))?;
    let ciphertext = base64::engine::general_purpose::STANDARD
        .decode(req.encrypted_token.trim())
        .map_err(|_| ApiError::validation("encryptedToken: niepoprawne kodowanie Base64."))?;
    let now = app.now();
    let key_id = req.public_key_id.as_deref().filter(|s| !s.is_empty());
    let key = app.keys.find(crate::keys::KeyUsage::KsefTokenEncryption, key_id, now).ok_or_else(|| {
        ApiError::code(21470, [format!("Klucz o identyfikatorze {} nie jest wspierany", key_id.unwrap_or("(brak)"))])
    })?;
    let policy = req.authorization_policy.and_then(|p| p.allowed_ips).map(|a| crate::domain::IpPolicy {
        addresses: a.ip4_addresses.unwrap_or_default(),
        ranges: a.ip4_ranges.unwrap_or_default(),
        masks: a.ip4_masks.unwrap_or_default(),
    });
    if let Some(p) = &policy {
        p.validate().map_err(|e| ApiError::validation(format!("authorizationPolicy.allowedIps: {e}")))?;
    }
    let challenge = use_challenge(&app, &req.challenge)?;
    // Token problems are not synchronous errors: the operation ends in 450 with a detail.
    let outcome: Result<crate::store::TokenRecord, &'static str> = match key.oaep_decrypt(&ciphertext) {
        Err(_) => Err("Nieprawidłowy token"),
        Ok(plain) => match std::str::from_utf8(&plain).ok().and_then(|s| s.rsplit_once('|')) {
            None => Err("Nieprawidłowy token"),
            Some((_, ts)) if ts.parse::<i64>().ok() != Some(challenge.timestamp.timestamp_millis()) => {
                Err("Nieprawidłowy czas tokena")
            }
            Some((token, _)) => super::tokens::check_token(&app, token, &context)?,
        },
    };
    match outcome {
        Ok(t) => {
            app.store.update_token(&t.reference, &mut |r| r.last_use = Some(now))?;
            let init = begin(&app, context, t.author, AuthMethod::Token, None, Some(t.reference))?;
            if policy.is_some() {
                app.store.update_auth(&init.reference_number, &mut |a| a.allowed_ips = policy.clone())?;
            }
            Ok((StatusCode::ACCEPTED, Json(init.to_json())))
        }
        Err(detail) => {
            let init = begin(&app, context.clone(), context, AuthMethod::Token, None, Some(String::new()))?;
            app.store.update_auth(&init.reference_number, &mut |a| {
                a.status = StatusInfo::with_detail(
                    450,
                    "Uwierzytelnianie zakończone niepowodzeniem z powodu błędnego tokenu",
                    detail,
                );
            })?;
            Ok((StatusCode::ACCEPTED, Json(init.to_json())))
        }
    }
}

/// The start of the validity of the certificate in `KeyInfo` (to verify a signature made with a
/// certificate that is expired or not yet valid, so the operation can end in 460).
fn extract_certificate_time(xml: &str) -> Option<ksef_crypto::UnixTime> {
    let doc = roxmltree::Document::parse(xml).ok()?;
    let b64 = doc.descendants().find(|n| n.tag_name().name() == "X509Certificate")?.text()?;
    let cleaned: String = b64.chars().filter(|c| !c.is_whitespace()).collect();
    let cert = ksef_crypto::Certificate::from_b64(&cleaned).ok()?;
    Some(cert.not_before())
}

/// Starts an authentication operation for a verified subject and decides its outcome
/// (status 200, 415 no permissions, 470 deceased, 480 context blocked).
pub(crate) fn begin(
    app: &AppState,
    context: Identifier,
    subject: Identifier,
    method: AuthMethod,
    auth_document_hash: Option<String>,
    ksef_token_reference: Option<String>,
) -> Result<AuthInit, ApiError> {
    let now = app.now();
    let reference = app.reference("AU");
    // Without a signed document (the test hook), the UPO's SkrotDokumentuUwierzytelniajacego is
    // the hash of the operation's reference number.
    let auth_document_hash = match (&auth_document_hash, &ksef_token_reference) {
        (None, None) => {
            use base64::Engine as _;
            use sha2::Digest as _;
            Some(base64::engine::general_purpose::STANDARD.encode(sha2::Sha256::digest(reference.as_bytes())))
        }
        _ => auth_document_hash,
    };
    let deceased = match subject.kind {
        IdentifierType::Pesel => app.store.person_by_pesel(&subject.value)?.is_some_and(|p| p.is_deceased),
        IdentifierType::Nip => app.store.person_by_nip(&subject.value)?.is_some_and(|p| p.is_deceased),
        _ => false,
    };
    let status = if app.fault(app.config.faults.auth_cancel_rate) {
        StatusInfo::with_detail(
            550,
            "Operacja została anulowana przez system",
            "Przetwarzanie zostało przerwane z przyczyn wewnętrznych systemu. Spróbuj ponownie",
        )
    } else if app.store.is_context_blocked(&context)? {
        StatusInfo::with_detail(
            480,
            "Uwierzytelnienie zablokowane",
            "Podejrzenie incydentu bezpieczeństwa. Skontaktuj się z Ministerstwem Finansów przez formularz zgłoszeniowy.",
        )
    } else if deceased {
        StatusInfo::with_detail(
            470,
            "Uwierzytelnianie zakończone niepowodzeniem",
            "Próba wykorzystania metod autoryzacyjnych osoby zmarłej",
        )
    } else if of_authentication(app.store.as_ref(), &context, &subject, ksef_token_reference.as_deref())?.is_empty() {
        StatusInfo::with_detail(415, "Uwierzytelnianie zakończone niepowodzeniem", "Brak przypisanych uprawnień")
    } else {
        StatusInfo::new(200, "Uwierzytelnianie zakończone sukcesem")
    };
    app.store.insert_auth(AuthOperationRecord {
        reference: reference.clone(),
        context: context.clone(),
        subject: subject.clone(),
        method,
        start_date: now,
        status,
        redeemed: false,
        last_refresh: None,
        refresh_valid_until: None,
        auth_document_hash,
        ksef_token_reference,
        deceased,
        allowed_ips: None,
        certificate_subject: None,
    })?;
    if context.kind == IdentifierType::PeppolId {
        super::peppol::register_provider(app, &context.value, None)?;
    }
    let valid_until = now + app.config.lifetimes.authentication;
    let token =
        sign(app, TokenKind::OperationToken, &reference, Some(context), Some(subject), Vec::new(), now, valid_until);
    Ok(AuthInit { reference_number: reference, authentication_token: token, valid_until })
}

#[allow(clippy::too_many_arguments)]
fn sign(
    app: &AppState,
    kind: TokenKind,
    reference: &str,
    context: Option<Identifier>,
    subject: Option<Identifier>,
    permissions: Vec<crate::domain::PermissionType>,
    now: DateTime<Utc>,
    until: DateTime<Utc>,
) -> String {
    app.jwt.sign(&Claims {
        kind,
        auth_reference: reference.to_owned(),
        context,
        subject,
        permissions,
        allowed_ips: None,
        iat: now.timestamp(),
        exp: until.timestamp(),
        iss: ISSUER.into(),
        aud: ISSUER.into(),
        jti: app.random_hex(16),
    })
}

/// An access token of an authentication: its context, subject, permission snapshot and IP policy.
fn sign_access(
    app: &AppState,
    op: &AuthOperationRecord,
    permissions: Vec<crate::domain::PermissionType>,
    now: DateTime<Utc>,
    until: DateTime<Utc>,
) -> String {
    app.jwt.sign(&Claims {
        kind: TokenKind::ContextToken,
        auth_reference: op.reference.clone(),
        context: Some(op.context.clone()),
        subject: Some(op.subject.clone()),
        permissions,
        allowed_ips: op.allowed_ips.clone(),
        iat: now.timestamp(),
        exp: until.timestamp(),
        iss: ISSUER.into(),
        aud: ISSUER.into(),
        jti: app.random_hex(16),
    })
}

/// Redeem and refresh fail once the KSeF token behind the login is revoked.
fn ksef_token_alive(app: &AppState, op: &AuthOperationRecord) -> Result<(), ApiError> {
    if let Some(r) = &op.ksef_token_reference {
        let alive = app.store.token(r)?.is_some_and(|t| t.status == crate::store::TokenStatus::Active);
        if !alive {
            return Err(ApiError::code(21301, ["Token KSeF został unieważniony"]));
        }
    }
    Ok(())
}

const AUTH_RETENTION_DAYS: i64 = 7;

fn status_json(op: &AuthOperationRecord) -> Value {
    let (category, code, display) = op.method.info();
    let mut v = json!({
        "startDate": ts(op.start_date),
        "authenticationMethod": op.method.legacy_name(),
        "authenticationMethodInfo": {"category": category, "code": code, "displayName": display},
        "status": op.status,
    });
    if op.redeemed {
        v["isTokenRedeemed"] = json!(true);
    }
    if let Some(t) = op.last_refresh {
        v["lastTokenRefreshDate"] = json!(ts(t));
    }
    if let Some(t) = op.refresh_valid_until {
        v["refreshTokenValidUntil"] = json!(ts(t));
    }
    v
}

fn not_found(reference: &str) -> ApiError {
    ApiError::code(
        21304,
        [format!("Operacja uwierzytelniania o numerze referencyjnym {reference} nie została odnaleziona.")],
    )
}

async fn status(
    State(app): State<Arc<AppState>>,
    Extension(caller): Extension<Caller>,
    Path(reference): Path<String>,
) -> Result<Json<Value>, ApiError> {
    if caller.claims.auth_reference != reference {
        return Err(not_found(&reference));
    }
    let op = app.store.auth(&reference)?.ok_or_else(|| not_found(&reference))?;
    if app.now() - op.start_date > Duration::days(AUTH_RETENTION_DAYS) {
        return Err(ApiError::Gone);
    }
    Ok(Json(status_json(&op)))
}

async fn redeem(
    State(app): State<Arc<AppState>>,
    Extension(caller): Extension<Caller>,
) -> Result<Json<Value>, ApiError> {
    let reference = caller.claims.auth_reference.clone();
    let op = app.store.auth(&reference)?.ok_or_else(|| not_found(&reference))?;
    if op.redeemed {
        return Err(ApiError::code(
            21301,
            [format!("Tokeny dla operacji uwierzytelniania {reference} zostały już pobrane")],
        ));
    }
    if op.deceased {
        return Err(ApiError::code(21308, ["Próba wykorzystania metod autoryzacyjnych osoby zmarłej."]));
    }
    if op.status.code != 200 {
        return Err(ApiError::code(
            21301,
            [format!("Status uwierzytelniania ({}) nie pozwala na pobranie tokenów", op.status.code)],
        ));
    }
    ksef_token_alive(&app, &op)?;
    let now = app.now();
    let refresh_until = now + app.config.lifetimes.refresh;
    // Single use even under concurrent calls: only the caller that flips the flag gets tokens.
    let mut won = false;
    app.store.update_auth(&reference, &mut |a| {
        if !a.redeemed {
            a.redeemed = true;
            a.refresh_valid_until = Some(refresh_until);
            won = true;
        }
    })?;
    if !won {
        return Err(ApiError::code(
            21301,
            [format!("Tokeny dla operacji uwierzytelniania {reference} zostały już pobrane")],
        ));
    }
    let access_until = now + app.config.lifetimes.access;
    let perms: Vec<_> =
        of_authentication(app.store.as_ref(), &op.context, &op.subject, op.ksef_token_reference.as_deref())?
            .into_iter()
            .collect();
    let access = sign_access(&app, &op, perms, now, access_until);
    let refresh = sign(
        &app,
        TokenKind::RefreshToken,
        &reference,
        Some(op.context),
        Some(op.subject),
        Vec::new(),
        now,
        refresh_until,
    );
    Ok(Json(json!({
        "accessToken": {"token": access, "validUntil": ts(access_until)},
        "refreshToken": {"token": refresh, "validUntil": ts(refresh_until)},
    })))
}

async fn refresh(
    State(app): State<Arc<AppState>>,
    Extension(caller): Extension<Caller>,
) -> Result<Json<Value>, ApiError> {
    let reference = caller.claims.auth_reference.clone();
    let op = app.store.auth(&reference)?.ok_or_else(|| not_found(&reference))?;
    if op.deceased {
        return Err(ApiError::code(21308, ["Próba wykorzystania metod autoryzacyjnych osoby zmarłej."]));
    }
    if op.status.code != 200 || !op.redeemed {
        return Err(ApiError::code(
            21301,
            [format!("Status uwierzytelniania ({}) nie pozwala na pobranie tokenów", op.status.code)],
        ));
    }
    ksef_token_alive(&app, &op)?;
    let now = app.now();
    let access_until = now + app.config.lifetimes.access;
    let perms: Vec<_> =
        of_authentication(app.store.as_ref(), &op.context, &op.subject, op.ksef_token_reference.as_deref())?
            .into_iter()
            .collect();
    app.store.update_auth(&reference, &mut |a| a.last_refresh = Some(now))?;
    let access = sign_access(&app, &op, perms, now, access_until);
    Ok(Json(json!({"accessToken": {"token": access, "validUntil": ts(access_until)}})))
}

async fn list_sessions(
    State(app): State<Arc<AppState>>,
    Extension(caller): Extension<Caller>,
    headers: HeaderMap,
    Query(q): Query<std::collections::HashMap<String, String>>,
) -> Result<Json<Value>, ApiError> {
    let size = page_size(q.get("pageSize"), 10, 100, 10)? as usize;
    let offset = continuation_offset(&headers)?;
    let now = app.now();
    let mut ops: Vec<AuthOperationRecord> = app
        .store
        .auths_in_context(caller.context()?)?
        .into_iter()
        .filter(|a| a.redeemed && a.status.code == 200 && a.refresh_valid_until.is_some_and(|t| t > now))
        .collect();
    ops.sort_by(|a, b| b.start_date.cmp(&a.start_date).then_with(|| a.reference.cmp(&b.reference)));
    let total = ops.len();
    let items: Vec<Value> = ops
        .iter()
        .skip(offset)
        .take(size)
        .map(|op| {
            let mut v = status_json(op);
            v["referenceNumber"] = json!(op.reference);
            v["isCurrent"] = json!(op.reference == caller.claims.auth_reference);
            v
        })
        .collect();
    let mut body = json!({"items": items});
    if let Some(t) = continuation_token(offset + size, total) {
        body["continuationToken"] = json!(t);
    }
    Ok(Json(body))
}

fn revoke_op(app: &AppState, reference: &str) -> Result<(), ApiError> {
    app.store.update_auth(reference, &mut |a| {
        a.status = StatusInfo::with_detail(
            425,
            "Uwierzytelnienie unieważnione",
            "Uwierzytelnienie i powiązane refresh tokeny zostały unieważnione przez użytkownika",
        );
    })?;
    Ok(())
}

async fn revoke_current(
    State(app): State<Arc<AppState>>,
    Extension(caller): Extension<Caller>,
) -> Result<StatusCode, ApiError> {
    revoke_op(&app, &caller.claims.auth_reference)?;
    Ok(StatusCode::NO_CONTENT)
}

async fn revoke(
    State(app): State<Arc<AppState>>,
    Extension(caller): Extension<Caller>,
    Path(reference): Path<String>,
) -> Result<StatusCode, ApiError> {
    let op = app.store.auth(&reference)?.ok_or_else(|| not_found(&reference))?;
    if &op.context != caller.context()? {
        return Err(not_found(&reference));
    }
    revoke_op(&app, &reference)?;
    Ok(StatusCode::NO_CONTENT)
}
