//! Authentication: challenge → signed `AuthTokenRequest` or encrypted KSeF token → status
//! polling → redeem.

use std::sync::Arc;
use std::time::Duration;

use ksef_crypto::auth_request::AllowedIps;
use ksef_crypto::encoding::b64_encode;
use ksef_crypto::xades::{XadesSigner, sign_auth_token_request};
use ksef_crypto::{AuthTokenRequest, ContextIdentifier, KeyUsage, KsefPublicKey, SubjectIdentifierType, UnixTime};
use ksef_model::XmlDocument;
use ksef_model::operations::{
    AuthChallenge, AuthKsefToken, AuthStatus, AuthStatusParams, AuthTokenRedeem, AuthXadesSignature,
    AuthXadesSignatureParams,
};
use ksef_model::types::{
    AuthenticationChallengeResponse, AuthenticationContextIdentifier, AuthenticationContextIdentifierType,
    AuthenticationInitResponse, AuthenticationOperationStatusResponse, AuthenticationTokensResponse,
    AuthorizationPolicy, InitTokenAuthenticationRequest,
};
use ksef_transport::{AsyncTransport, SecretToken, SyncTransport};

use crate::KsefClient;
use crate::error::{AuthFailure, AuthFailureKind, Error};
use crate::token_manager::AuthTokens;

/// How to prove identity.
#[derive(Clone)]
pub enum Credential {
    /// A XAdES signature over the `AuthTokenRequest` (local key, HSM, smart card).
    Xades {
        /// The signer (e.g. `ksef_crypto::TestIdentity`, or your own `XadesSigner`).
        signer: Arc<dyn XadesSigner + Send + Sync>,
        /// `certificateSubject` (default) or `certificateFingerprint`.
        subject_identifier_type: SubjectIdentifierType,
        /// `verifyCertificateChain` query flag (TE only: refuse self-signed certificates).
        verify_certificate_chain: Option<bool>,
    },
    /// A KSeF token, encrypted with RSA-OAEP under the `KsefTokenEncryption` key.
    KsefToken(SecretToken),
}

impl core::fmt::Debug for Credential {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            Self::Xades { signer, subject_identifier_type, .. } => f
                .debug_struct("Xades")
                .field("certificate", &signer.certificate().fingerprint())
                .field("subject_identifier_type", subject_identifier_type)
                .finish_non_exhaustive(),
            Self::KsefToken(t) => f.debug_tuple("KsefToken").field(t).finish(),
        }
    }
}

/// Everything needed to authenticate (and to authenticate again when the refresh token dies).
#[derive(Clone, Debug)]
pub struct Authenticator {
    /// The context (`Nip`, `InternalId`, `NipVatUe`, `PeppolId`).
    pub context: ContextIdentifier,
    /// The credential.
    pub credential: Credential,
    /// Optional IP policy for the issued tokens.
    pub allowed_ips: Option<AllowedIps>,
}

impl Authenticator {
    /// XAdES with a signer (certificateSubject).
    pub fn xades(context: ContextIdentifier, signer: impl XadesSigner + Send + Sync + 'static) -> Self {
        Self {
            context,
            credential: Credential::Xades {
                signer: Arc::new(signer),
                subject_identifier_type: SubjectIdentifierType::CertificateSubject,
                verify_certificate_chain: None,
            },
            allowed_ips: None,
        }
    }

    /// A KSeF token.
    pub fn ksef_token(context: ContextIdentifier, token: impl Into<SecretToken>) -> Self {
        Self { context, credential: Credential::KsefToken(token.into()), allowed_ips: None }
    }

    /// Uses `certificateFingerprint` as the subject identifier (XAdES only).
    pub fn by_fingerprint(mut self) -> Self {
        if let Credential::Xades { subject_identifier_type, .. } = &mut self.credential {
            *subject_identifier_type = SubjectIdentifierType::CertificateFingerprint;
        }
        self
    }

    /// Restricts the tokens to these IPs.
    pub fn allowed_ips(mut self, ips: AllowedIps) -> Self {
        self.allowed_ips = Some(ips);
        self
    }

    fn xades_document(
        &self,
        challenge: &AuthenticationChallengeResponse,
        signer: &dyn XadesSigner,
        kind: SubjectIdentifierType,
    ) -> Result<XmlDocument, Error> {
        let mut req = AuthTokenRequest::new(challenge.challenge.to_string(), self.context.clone());
        req.subject_identifier_type = kind;
        req.allowed_ips.clone_from(&self.allowed_ips);
        let xml = sign_auth_token_request(&req, signer, UnixTime::now())?;
        Ok(XmlDocument(xml.into_bytes()))
    }

    fn token_request(
        &self,
        challenge: &AuthenticationChallengeResponse,
        token: &SecretToken,
        key: &KsefPublicKey,
    ) -> Result<InitTokenAuthenticationRequest, Error> {
        self.context.validate()?;
        let encrypted = key.encrypt_ksef_token(token.expose_secret(), challenge.timestamp_ms, &mut rand::rng())?;
        let type_ = match &self.context {
            ContextIdentifier::Nip(_) => AuthenticationContextIdentifierType::Nip,
            ContextIdentifier::InternalId(_) => AuthenticationContextIdentifierType::InternalId,
            ContextIdentifier::NipVatUe(_) => AuthenticationContextIdentifierType::NipVatUe,
            ContextIdentifier::PeppolId(_) => AuthenticationContextIdentifierType::PeppolId,
        };
        let policy = match &self.allowed_ips {
            None => None,
            Some(ips) => Some(
                serde_json::from_value::<AuthorizationPolicy>(serde_json::json!({"allowedIps": {
                    "ip4Addresses": ips.ip4_addresses, "ip4Ranges": ips.ip4_ranges, "ip4Masks": ips.ip4_masks}}))
                .map_err(|e| Error::Config(format!("allowed IPs: {e}")))?,
            ),
        };
        Ok(InitTokenAuthenticationRequest {
            authorization_policy: policy,
            challenge: challenge.challenge.clone(),
            context_identifier: AuthenticationContextIdentifier { type_, value: self.context.value().to_owned() },
            encrypted_token: b64_encode(encrypted),
            public_key_id: Some(
                key.public_key_id().try_into().map_err(|e| Error::Protocol(format!("publicKeyId: {e}")))?,
            ),
        })
    }
}

/// Outcome of one status poll.
fn judge(reference: &str, st: &AuthenticationOperationStatusResponse) -> Option<Result<(), Error>> {
    match st.status.code {
        100 => None,
        200 => Some(Ok(())),
        code => Some(Err(Error::Auth(AuthFailure {
            code,
            kind: AuthFailureKind::from_code(code),
            description: st.status.description.to_string(),
            details: st.status.details.clone().unwrap_or_default(),
            reference_number: reference.to_owned(),
        }))),
    }
}

fn tokens(r: AuthenticationTokensResponse) -> AuthTokens {
    AuthTokens {
        access: SecretToken::new(r.access_token.token),
        access_valid_until: r.access_token.valid_until,
        refresh: SecretToken::new(r.refresh_token.token),
        refresh_valid_until: r.refresh_token.valid_until,
    }
}

impl<T: SyncTransport> KsefClient<T> {
    /// Starts an authentication (challenge + XAdES or KSeF token) and returns KSeF's answer
    /// (reference number and `authenticationToken`).
    pub fn start_authentication_blocking(&self, auth: &Authenticator) -> Result<AuthenticationInitResponse, Error> {
        let challenge = self.call_blocking::<AuthChallenge>(&(), ())?.value;
        match &auth.credential {
            Credential::Xades { signer, subject_identifier_type, verify_certificate_chain } => {
                let doc = auth.xades_document(&challenge, signer.as_ref(), *subject_identifier_type)?;
                let params = AuthXadesSignatureParams { verify_certificate_chain: *verify_certificate_chain };
                Ok(self.call_blocking::<AuthXadesSignature>(&params, doc)?.value)
            }
            Credential::KsefToken(token) => self.with_key_blocking(KeyUsage::KsefTokenEncryption, |key| {
                let body = auth.token_request(&challenge, token, key)?;
                Ok(self.call_blocking::<AuthKsefToken>(&(), body)?.value)
            }),
        }
    }

    /// Polls `GET /auth/{referenceNumber}` until the status is final; 200 → `Ok`, failure
    /// codes → [`Error::Auth`], too long → [`Error::Timeout`].
    pub fn wait_for_authentication_blocking(&self, init: &AuthenticationInitResponse) -> Result<(), Error> {
        let reference = init.reference_number.to_string();
        let token = SecretToken::new(init.authentication_token.token.clone());
        let params = AuthStatusParams { reference_number: reference.clone() };
        let poll = self.poll();
        let (mut waited, mut delay) = (Duration::ZERO, poll.initial_delay);
        loop {
            let st = self.call_with_token_blocking::<AuthStatus>(&params, (), Some(token.clone()))?.value;
            if let Some(r) = judge(&reference, &st) {
                return r;
            }
            if waited >= poll.timeout {
                return Err(Error::Timeout { what: "authentication", waited });
            }
            self.sleep_blocking(delay);
            waited += delay;
            delay = poll.next_delay(delay);
        }
    }

    /// The whole flow: start, wait, redeem. Does not store the tokens (see [`Self::login_blocking`]).
    pub fn authenticate_blocking(&self, auth: &Authenticator) -> Result<AuthTokens, Error> {
        let init = self.start_authentication_blocking(auth)?;
        self.wait_for_authentication_blocking(&init)?;
        let token = SecretToken::new(init.authentication_token.token);
        Ok(tokens(self.call_with_token_blocking::<AuthTokenRedeem>(&(), (), Some(token))?.value))
    }

    /// Authenticates, stores the tokens, and keeps `auth` to authenticate again when the
    /// refresh token stops working.
    pub fn login_blocking(&self, auth: Authenticator) -> Result<(), Error> {
        let t = self.authenticate_blocking(&auth)?;
        self.inner.tokens.set(t);
        self.set_authenticator(Some(auth));
        Ok(())
    }
}

impl<T: AsyncTransport + Sync> KsefClient<T> {
    /// Async [`Self::start_authentication_blocking`].
    pub async fn start_authentication(&self, auth: &Authenticator) -> Result<AuthenticationInitResponse, Error> {
        let challenge = self.call::<AuthChallenge>(&(), ()).await?.value;
        match &auth.credential {
            Credential::Xades { signer, subject_identifier_type, verify_certificate_chain } => {
                let doc = auth.xades_document(&challenge, signer.as_ref(), *subject_identifier_type)?;
                let params = AuthXadesSignatureParams { verify_certificate_chain: *verify_certificate_chain };
                Ok(self.call::<AuthXadesSignature>(&params, doc).await?.value)
            }
            Credential::KsefToken(token) => {
                let mut retried = false;
                loop {
                    let key = self.public_key(KeyUsage::KsefTokenEncryption).await?;
                    let body = auth.token_request(&challenge, token, &key)?;
                    match self.call::<AuthKsefToken>(&(), body).await {
                        Err(e) if !retried && e.exception_codes().contains(&crate::keys::UNKNOWN_PUBLIC_KEY) => {
                            retried = true;
                            self.invalidate_public_keys();
                        }
                        r => return Ok(r?.value),
                    }
                }
            }
        }
    }

    /// Async [`Self::wait_for_authentication_blocking`].
    pub async fn wait_for_authentication(&self, init: &AuthenticationInitResponse) -> Result<(), Error> {
        let reference = init.reference_number.to_string();
        let token = SecretToken::new(init.authentication_token.token.clone());
        let params = AuthStatusParams { reference_number: reference.clone() };
        let poll = self.poll();
        let (mut waited, mut delay) = (Duration::ZERO, poll.initial_delay);
        loop {
            let st = self.call_with_token::<AuthStatus>(&params, (), Some(token.clone())).await?.value;
            if let Some(r) = judge(&reference, &st) {
                return r;
            }
            if waited >= poll.timeout {
                return Err(Error::Timeout { what: "authentication", waited });
            }
            self.sleep(delay).await;
            waited += delay;
            delay = poll.next_delay(delay);
        }
    }

    /// Async [`Self::authenticate_blocking`].
    pub async fn authenticate(&self, auth: &Authenticator) -> Result<AuthTokens, Error> {
        let init = self.start_authentication(auth).await?;
        self.wait_for_authentication(&init).await?;
        let token = SecretToken::new(init.authentication_token.token);
        Ok(tokens(self.call_with_token::<AuthTokenRedeem>(&(), (), Some(token)).await?.value))
    }

    /// Async [`Self::login_blocking`].
    pub async fn login(&self, auth: Authenticator) -> Result<(), Error> {
        let t = self.authenticate(&auth).await?;
        self.inner.tokens.set(t);
        self.set_authenticator(Some(auth));
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_failure_code_maps() {
        for (code, kind) in [
            (415, AuthFailureKind::NoPermissions),
            (425, AuthFailureKind::Revoked),
            (450, AuthFailureKind::InvalidToken),
            (460, AuthFailureKind::Certificate),
            (470, AuthFailureKind::DeceasedPerson),
            (480, AuthFailureKind::Blocked),
            (500, AuthFailureKind::Unknown),
            (550, AuthFailureKind::CancelledBySystem),
            (999, AuthFailureKind::Other),
        ] {
            assert_eq!(AuthFailureKind::from_code(code), kind);
        }
        assert!(AuthFailureKind::CancelledBySystem.is_transient());
        assert!(!AuthFailureKind::Certificate.is_transient());
    }
}
