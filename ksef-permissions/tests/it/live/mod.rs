//! Against ksef-emulator over loopback HTTP: each grant kind granted with this crate's builders
//! and `submit_and_wait_*`, observed through the matching query, exercised, revoked and refused.
//!
//! Sign-in uses the emulator's in-process test hook (`Emulator::authenticate`, as the emulator's
//! own permission tests do); everything else goes over HTTP through `ksef-transport`.

mod async_general;
mod kinds;
mod paging;
mod refusals;

use std::path::PathBuf;
use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use ksef_emulator::Emulator;
use ksef_emulator::domain::Identifier;
use ksef_model::operations as ops;
use ksef_model::types;
use ksef_permissions::Call;
use ksef_permissions::wait::{PollPolicy, submit_and_wait_blocking};
use ksef_permissions::{Completed, WaitError};
use ksef_transport::{Pipeline, RequestBody, RequestContext, SystemClock, UreqTransport};

pub struct Env {
    pub emu: Emulator,
    pub transport: UreqTransport,
    pub pipeline: Pipeline,
}

/// Fast polling: the emulator finishes operations at once.
pub fn policy() -> PollPolicy {
    PollPolicy {
        initial_delay: Duration::from_millis(5),
        max_delay: Duration::from_millis(50),
        factor: 2,
        timeout: Duration::from_secs(10),
    }
}

impl Env {
    pub fn start() -> Self {
        let emu = Emulator::builder().start().expect("emulator starts");
        Self { emu, transport: UreqTransport::default(), pipeline: Pipeline::new() }
    }

    pub fn base(&self) -> String {
        self.emu.base_url()
    }

    /// Signs in (test hook) and redeems the tokens; `Err(code)` with the auth status code when
    /// KSeF refuses the sign-in (415: no permissions in that context).
    pub fn try_login(&self, context: Identifier, subject: Identifier) -> Result<RequestContext, i32> {
        let init = self.emu.authenticate(context, subject).expect("sign-in starts");
        let auth = RequestContext::new(&self.base()).unwrap().with_token(init.authentication_token.as_str());
        let status = ksef_transport::send_blocking::<ops::AuthStatus, _>(
            &self.transport,
            &auth,
            &ops::AuthStatusParams { reference_number: init.reference_number.clone() },
            (),
        )
        .expect("auth status");
        let code = status.value.status.code;
        if code != 200 {
            return Err(code);
        }
        let tokens =
            ksef_transport::send_blocking::<ops::AuthTokenRedeem, _>(&self.transport, &auth, &(), ()).expect("redeem");
        Ok(RequestContext::new(&self.base()).unwrap().with_token(tokens.value.access_token.token.as_str()))
    }

    #[track_caller]
    pub fn login(&self, context: Identifier, subject: Identifier) -> RequestContext {
        self.try_login(context, subject).unwrap_or_else(|code| panic!("sign-in refused with {code}"))
    }

    /// The owner of a NIP context.
    pub fn owner(&self, nip: &str) -> RequestContext {
        self.login(Identifier::nip(nip), Identifier::nip(nip))
    }

    pub fn submit<O>(&self, ctx: &RequestContext, call: Call<O>) -> Result<Completed, WaitError>
    where
        O: ksef_model::Operation<Response = types::PermissionsOperationResponse>,
        O::Request: RequestBody,
    {
        submit_and_wait_blocking(&self.pipeline, &self.transport, ctx, call, policy(), &SystemClock, std::thread::sleep)
    }

    #[track_caller]
    pub fn granted<O>(&self, ctx: &RequestContext, call: Call<O>) -> Completed
    where
        O: ksef_model::Operation<Response = types::PermissionsOperationResponse>,
        O::Request: RequestBody,
    {
        self.submit(ctx, call).unwrap_or_else(|e| panic!("operation failed: {e}"))
    }

    pub fn query<O>(&self, ctx: &RequestContext, call: Call<O>) -> Result<O::Response, ksef_transport::Error>
    where
        O: ksef_model::Operation,
        O::Request: RequestBody,
        O::Response: ksef_transport::ResponseBody,
    {
        call.execute_blocking(&self.pipeline, &self.transport, ctx, std::thread::sleep).map(|r| r.value)
    }
}

/// A NIP unique within the test run (valid checksum).
pub fn fresh_nip(seed: u32) -> String {
    use std::sync::atomic::{AtomicU32, Ordering};
    static N: AtomicU32 = AtomicU32::new(0);
    loop {
        let n = N.fetch_add(1, Ordering::Relaxed);
        let prefix = format!("53{:07}", (seed.wrapping_mul(7919) + n * 13) % 10_000_000);
        if let Some(nip) = ksef_model::Nip::from_prefix(&prefix) {
            return nip.into_string();
        }
    }
}

pub fn shared_dir() -> PathBuf {
    std::env::var_os("KSEF_SHARED_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../shared"))
}

/// The FA(3) sample invoice with `seller` as the seller.
pub fn invoice_xml(seller: &str, number: &str) -> Vec<u8> {
    let path = shared_dir().join("fixtures/invoices/invoice-template-fa-3.xml");
    let t = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let today = chrono::Utc::now().date_naive().to_string();
    t.replace("#nip#", seller)
        .replace("#invoice_number#", number)
        .replace("<P_1>2025-09-01</P_1>", &format!("<P_1>{today}</P_1>"))
        .into_bytes()
}

/// An open online session: its reference and key.
pub struct Session {
    pub reference: String,
    pub key: ksef_crypto::SessionKey,
}

/// Opens an online session (FA(3)) with a fresh key wrapped for KSeF's
/// `SymmetricKeyEncryption` public key. `Err` carries KSeF's refusal (e.g. 403).
pub fn open_session(env: &Env, ctx: &RequestContext) -> Result<Session, ksef_transport::Error> {
    let certs = ksef_transport::send_blocking::<ops::GetPublicKeyCertificates, _>(&env.transport, ctx, &(), ())?;
    let json = serde_json::to_value(&certs.value).unwrap();
    let keys: Vec<ksef_crypto::KsefPublicKey> = json
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            let usages = c["usage"].as_array().unwrap().iter().map(|u| u.as_str().unwrap());
            ksef_crypto::KsefPublicKey::from_json_fields(c["certificate"].as_str().unwrap(), usages).unwrap()
        })
        .collect();
    let now = ksef_crypto::UnixTime::now();
    let kek = ksef_crypto::select_key(&keys, ksef_crypto::KeyUsage::SymmetricKeyEncryption, now).unwrap();
    let mut rng = rand::rng();
    let key = ksef_crypto::SessionKey::generate(&mut rng).unwrap();
    let wrapped = kek.wrap_session_key(&key, &mut rng).unwrap();
    let body: types::OpenOnlineSessionRequest = serde_json::from_value(serde_json::json!({
        "formCode": {"systemCode": "FA (3)", "schemaVersion": "1-0E", "value": "FA"},
        "encryption": {"encryptedSymmetricKey": B64.encode(wrapped), "initializationVector": B64.encode(key.iv()),
                       "publicKeyId": kek.public_key_id()},
    }))
    .unwrap();
    let opened = ksef_transport::send_blocking::<ops::OpenOnlineSession, _>(&env.transport, ctx, &(), body)?;
    Ok(Session { reference: opened.value.reference_number.to_string(), key })
}

/// Sends an invoice and returns its processing status code (200 accepted, 410 not permitted, …).
pub fn send_invoice(env: &Env, ctx: &RequestContext, s: &Session, xml: &[u8]) -> i32 {
    let ct = s.key.encrypt(xml);
    let body: types::SendInvoiceRequest = serde_json::from_value(serde_json::json!({
        "invoiceHash": B64.encode(ksef_crypto::sha256(xml)), "invoiceSize": xml.len(),
        "encryptedInvoiceHash": B64.encode(ksef_crypto::sha256(&ct)), "encryptedInvoiceSize": ct.len(),
        "encryptedInvoiceContent": B64.encode(&ct),
    }))
    .unwrap();
    let sent = ksef_transport::send_blocking::<ops::SendInvoice, _>(
        &env.transport,
        ctx,
        &ops::SendInvoiceParams { reference_number: s.reference.clone() },
        body,
    )
    .expect("invoice accepted for processing");
    // The emulator processes invoices in the background, as KSeF does: poll until the status
    // leaves 100 (received) and 150 (processing).
    for _ in 0..500 {
        let st = ksef_transport::send_blocking::<ops::GetSessionInvoiceStatus, _>(
            &env.transport,
            ctx,
            &ops::GetSessionInvoiceStatusParams {
                reference_number: s.reference.clone(),
                invoice_reference_number: sent.value.reference_number.to_string(),
            },
            (),
        )
        .expect("invoice status");
        if !matches!(st.value.status.code, 100 | 150) {
            return st.value.status.code;
        }
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    panic!("invoice {} still processing after 5 s", *sent.value.reference_number);
}

impl Env {
    /// Signs in with a real XAdES signature (ksef-crypto's `TestIdentity`, self-signed, as the
    /// emulator accepts on its test environment) to the NIP context `nip`; `Err(code)` with the
    /// auth status code when KSeF refuses.
    pub fn xades_login(&self, nip: &str, id: &ksef_crypto::TestIdentity) -> Result<RequestContext, i32> {
        use ksef_transport::SyncTransport as _;
        let anon = RequestContext::new(&self.base()).unwrap();
        let challenge = ksef_transport::send_blocking::<ops::AuthChallenge, _>(&self.transport, &anon, &(), ())
            .expect("challenge")
            .value
            .challenge
            .to_string();
        let req = ksef_crypto::AuthTokenRequest::new(challenge, ksef_crypto::ContextIdentifier::Nip(nip.to_owned()));
        let signed = ksef_crypto::xades::sign_auth_token_request(&req, id, ksef_crypto::UnixTime::now()).unwrap();
        let http_req = http::Request::post(format!("{}/auth/xades-signature", self.base()))
            .header("content-type", "application/xml")
            .body(signed.into_bytes())
            .unwrap();
        let resp = self.transport.send(http_req).expect("xades-signature");
        assert_eq!(resp.status(), 202, "{}", String::from_utf8_lossy(resp.body()));
        let init: serde_json::Value = serde_json::from_slice(resp.body()).unwrap();
        let token = init["authenticationToken"]["token"].as_str().unwrap();
        let auth = RequestContext::new(&self.base()).unwrap().with_token(token);
        let status = ksef_transport::send_blocking::<ops::AuthStatus, _>(
            &self.transport,
            &auth,
            &ops::AuthStatusParams { reference_number: init["referenceNumber"].as_str().unwrap().to_owned() },
            (),
        )
        .expect("auth status");
        if status.value.status.code != 200 {
            return Err(status.value.status.code);
        }
        let tokens =
            ksef_transport::send_blocking::<ops::AuthTokenRedeem, _>(&self.transport, &auth, &(), ()).expect("redeem");
        Ok(RequestContext::new(&self.base()).unwrap().with_token(tokens.value.access_token.token.as_str()))
    }
}
