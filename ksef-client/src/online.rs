//! Online (interactive) sessions: open, send encrypted invoices, statuses, close, UPO.

use std::sync::Arc;
use std::time::Duration;

use ksef_crypto::encoding::{b64_decode, b64_encode};
use ksef_crypto::{FileDigest, KeyUsage, KsefPublicKey, SessionKey, sha256};
use ksef_model::KsefNumber;
use ksef_model::XmlDocument;
use ksef_model::operations::{
    CloseOnlineSession, CloseOnlineSessionParams, GetInvoice, GetInvoiceParams, GetInvoiceUpoByKsefNumber,
    GetInvoiceUpoByKsefNumberParams, GetInvoiceUpoByReference, GetInvoiceUpoByReferenceParams, GetSessionInvoiceStatus,
    GetSessionInvoiceStatusParams, GetSessionStatus, GetSessionStatusParams, GetSessionUpo, GetSessionUpoParams,
    OpenOnlineSession, SendInvoice, SendInvoiceParams,
};
use ksef_model::types::{
    EncryptionInfo, OpenOnlineSessionRequest, SendInvoiceRequest, SessionInvoiceStatusResponse, SessionStatusResponse,
};
use ksef_transport::{AsyncTransport, Response, SyncTransport, presigned_get};

use crate::KsefClient;
use crate::error::{Error, InvoiceRejection};

/// The invoice schemas an online session can be opened for.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum FormCode {
    /// `FA (2)` / `1-0E` / `FA` (TE only).
    Fa2,
    /// `FA (3)` / `1-0E` / `FA`.
    Fa3,
    /// `PEF (3)` / `2-1` / `PEF`.
    Pef3,
    /// `PEF_KOR (3)` / `2-1` / `PEF`.
    PefKor3,
    /// `FA_RR (1)` / `1-1E` / `FA_RR`.
    FaRr1,
}

impl FormCode {
    /// `(systemCode, schemaVersion, value)`.
    pub fn triple(self) -> (&'static str, &'static str, &'static str) {
        match self {
            Self::Fa2 => ("FA (2)", "1-0E", "FA"),
            Self::Fa3 => ("FA (3)", "1-0E", "FA"),
            Self::Pef3 => ("PEF (3)", "2-1", "PEF"),
            Self::PefKor3 => ("PEF_KOR (3)", "2-1", "PEF"),
            Self::FaRr1 => ("FA_RR (1)", "1-1E", "FA_RR"),
        }
    }

    /// The wire form.
    pub fn to_model(self) -> ksef_model::types::FormCode {
        let (system_code, schema_version, value) = self.triple();
        ksef_model::types::FormCode {
            system_code: system_code.to_owned(),
            schema_version: schema_version.to_owned(),
            value: value.to_owned(),
        }
    }
}

/// An open online session: its reference number and the AES key its invoices are encrypted with.
#[derive(Clone, Debug)]
pub struct OnlineSession {
    /// The session's reference number.
    pub reference_number: String,
    /// When KSeF closes it on its own.
    pub valid_until: chrono::DateTime<chrono::Utc>,
    /// The form code it was opened with.
    pub form_code: FormCode,
    key: Arc<SessionKey>,
}

impl OnlineSession {
    /// The session's AES key (e.g. to decrypt what you sent).
    pub fn session_key(&self) -> &SessionKey {
        &self.key
    }
}

/// Per-invoice send options.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SendOptions {
    /// Declare offline invoicing (`offlineMode`).
    pub offline_mode: bool,
    /// Base64 SHA-256 of the corrected invoice (`hashOfCorrectedInvoice`, technical corrections).
    pub hash_of_corrected_invoice: Option<String>,
}

/// An invoice KSeF accepted.
#[derive(Clone, Debug)]
pub struct AcceptedInvoice {
    /// The invoice's reference number in the session.
    pub reference_number: String,
    /// Its KSeF number.
    pub ksef_number: KsefNumber,
    /// The final status response (dates, UPO link).
    pub status: SessionInvoiceStatusResponse,
}

pub(crate) fn encryption(key: &SessionKey, public: &KsefPublicKey) -> Result<EncryptionInfo, Error> {
    let wrapped = public.wrap_session_key(key, &mut rand::rng())?;
    serde_json::from_value(serde_json::json!({
        "encryptedSymmetricKey": b64_encode(wrapped),
        "initializationVector": b64_encode(key.iv()),
        "publicKeyId": public.public_key_id(),
    }))
    .map_err(|e| Error::Protocol(format!("encryption info: {e}")))
}

fn hash(b64: String) -> Result<ksef_model::types::Sha256HashBase64, Error> {
    b64.try_into().map_err(|e| Error::Config(format!("SHA-256 hash: {e}")))
}

/// Encrypts an invoice for `session` and builds the send request (hashes and sizes).
pub fn prepare_invoice(session: &OnlineSession, xml: &[u8], opts: &SendOptions) -> Result<SendInvoiceRequest, Error> {
    let size = std::num::NonZeroU64::new(xml.len() as u64).ok_or_else(|| Error::Config("empty invoice".into()))?;
    let encrypted = session.key.encrypt(xml);
    let enc = FileDigest::of(&encrypted);
    let hash_of_corrected_invoice = match &opts.hash_of_corrected_invoice {
        Some(h) => Some(hash(h.clone())?),
        None => None,
    };
    Ok(SendInvoiceRequest {
        encrypted_invoice_hash: hash(enc.sha256_b64())?,
        encrypted_invoice_size: std::num::NonZeroU64::new(enc.size)
            .ok_or_else(|| Error::Protocol("empty ciphertext".into()))?,
        encrypted_invoice_content: b64_encode(&encrypted),
        hash_of_corrected_invoice,
        invoice_hash: hash(b64_encode(sha256(xml)))?,
        invoice_size: size,
        offline_mode: opts.offline_mode,
    })
}

/// Classifies an invoice status: `None` while processing (100, 150).
pub fn invoice_outcome(st: &SessionInvoiceStatusResponse) -> Option<Result<AcceptedInvoice, Error>> {
    match st.status.code {
        100 | 150 => None,
        200 => Some(match &st.ksef_number {
            Some(n) => n
                .parse::<KsefNumber>()
                .map(|ksef_number| AcceptedInvoice {
                    reference_number: st.reference_number.to_string(),
                    ksef_number,
                    status: st.clone(),
                })
                .map_err(|e| Error::Protocol(format!("KSeF number `{}`: {e}", &**n))),
            None => Err(Error::Protocol("status 200 without a KSeF number".into())),
        }),
        code => Some(Err(Error::InvoiceRejected(InvoiceRejection {
            reference_number: st.reference_number.to_string(),
            code,
            description: st.status.description.to_string(),
            details: st.status.details.clone().unwrap_or_default(),
            extensions: st
                .status
                .extensions
                .clone()
                .map(|m| {
                    let mut v: Vec<_> = m.into_iter().collect();
                    v.sort();
                    v
                })
                .unwrap_or_default(),
        }))),
    }
}

fn verify_meta_hash(header: Option<&str>, bytes: &[u8]) -> Result<(), Error> {
    if let Some(h) = header {
        let expected = b64_decode(h.trim()).map_err(|_| Error::Protocol("x-ms-meta-hash is not Base64".into()))?;
        if expected != sha256(bytes) {
            return Err(Error::Protocol("downloaded bytes do not match x-ms-meta-hash".into()));
        }
    }
    Ok(())
}

fn check_meta_hash(resp: Response<Vec<u8>>) -> Result<Vec<u8>, Error> {
    verify_meta_hash(resp.meta_hash(), &resp.value)?;
    Ok(resp.value)
}

fn checked_xml(resp: Response<XmlDocument>) -> Result<XmlDocument, Error> {
    verify_meta_hash(resp.meta_hash(), resp.value.as_bytes())?;
    Ok(resp.value)
}

impl<T: SyncTransport> KsefClient<T> {
    /// Opens an online session with a fresh AES key wrapped with the `SymmetricKeyEncryption`
    /// key (refetched and retried once on 21470).
    pub fn open_online_session_blocking(&self, form_code: FormCode) -> Result<OnlineSession, Error> {
        let key = Arc::new(SessionKey::generate(&mut rand::rng())?);
        let resp = self.with_key_blocking(KeyUsage::SymmetricKeyEncryption, |public| {
            let body =
                OpenOnlineSessionRequest { encryption: encryption(&key, public)?, form_code: form_code.to_model() };
            Ok(self.call_blocking::<OpenOnlineSession>(&(), body)?.value)
        })?;
        Ok(OnlineSession {
            reference_number: resp.reference_number.to_string(),
            valid_until: resp.valid_until,
            form_code,
            key,
        })
    }

    /// Encrypts and sends one invoice; returns its reference number.
    pub fn send_invoice_blocking(
        &self,
        session: &OnlineSession,
        xml: &[u8],
        opts: &SendOptions,
    ) -> Result<String, Error> {
        let body = prepare_invoice(session, xml, opts)?;
        let params = SendInvoiceParams { reference_number: session.reference_number.clone() };
        Ok(self.call_blocking::<SendInvoice>(&params, body)?.value.reference_number.to_string())
    }

    /// Closes the session (KSeF then produces the session UPO).
    pub fn close_online_session_blocking(&self, session: &OnlineSession) -> Result<(), Error> {
        let params = CloseOnlineSessionParams { reference_number: session.reference_number.clone() };
        self.call_blocking::<CloseOnlineSession>(&params, ()).map(drop)
    }

    /// `GET /sessions/{ref}`.
    pub fn session_status_blocking(&self, reference_number: &str) -> Result<SessionStatusResponse, Error> {
        let params = GetSessionStatusParams { reference_number: reference_number.to_owned() };
        Ok(self.call_blocking::<GetSessionStatus>(&params, ())?.value)
    }

    /// `GET /sessions/{ref}/invoices/{invoiceRef}`.
    pub fn invoice_status_blocking(
        &self,
        session_reference: &str,
        invoice_reference: &str,
    ) -> Result<SessionInvoiceStatusResponse, Error> {
        let params = GetSessionInvoiceStatusParams {
            reference_number: session_reference.to_owned(),
            invoice_reference_number: invoice_reference.to_owned(),
        };
        Ok(self.call_blocking::<GetSessionInvoiceStatus>(&params, ())?.value)
    }

    /// Polls an invoice's status (with backoff) until it is final.
    pub fn wait_for_invoice_blocking(
        &self,
        session_reference: &str,
        invoice_reference: &str,
    ) -> Result<AcceptedInvoice, Error> {
        let poll = self.poll();
        let (mut waited, mut delay) = (Duration::ZERO, poll.initial_delay);
        loop {
            let st = self.invoice_status_blocking(session_reference, invoice_reference)?;
            if let Some(r) = invoice_outcome(&st) {
                return r;
            }
            if waited >= poll.timeout {
                return Err(Error::Timeout { what: "invoice status", waited });
            }
            self.sleep_blocking(delay);
            waited += delay;
            delay = poll.next_delay(delay);
        }
    }

    /// Sends every invoice in `session`, then waits for each; one result per invoice, in order.
    /// The session stays open.
    pub fn send_and_wait_blocking(
        &self,
        session: &OnlineSession,
        invoices: &[Vec<u8>],
    ) -> Vec<Result<AcceptedInvoice, Error>> {
        let sent: Vec<Result<String, Error>> =
            invoices.iter().map(|x| self.send_invoice_blocking(session, x, &SendOptions::default())).collect();
        sent.into_iter()
            .map(|r| r.and_then(|reference| self.wait_for_invoice_blocking(&session.reference_number, &reference)))
            .collect()
    }

    /// Opens a session for `form_code`, sends `invoices`, waits for each one's KSeF number or
    /// error, and closes the session. Returns the session and the per-invoice results.
    pub fn send_invoices_blocking(
        &self,
        form_code: FormCode,
        invoices: &[Vec<u8>],
    ) -> Result<(OnlineSession, Vec<Result<AcceptedInvoice, Error>>), Error> {
        let session = self.open_online_session_blocking(form_code)?;
        let results = self.send_and_wait_blocking(&session, invoices);
        self.close_online_session_blocking(&session)?;
        Ok((session, results))
    }

    /// An invoice's UPO by KSeF number (XML).
    pub fn invoice_upo_by_ksef_number_blocking(
        &self,
        session_reference: &str,
        ksef_number: &str,
    ) -> Result<XmlDocument, Error> {
        let params = GetInvoiceUpoByKsefNumberParams {
            reference_number: session_reference.to_owned(),
            ksef_number: ksef_number.to_owned(),
        };
        Ok(self.call_blocking::<GetInvoiceUpoByKsefNumber>(&params, ())?.value)
    }

    /// An invoice's UPO by its reference number (XML).
    pub fn invoice_upo_by_reference_blocking(
        &self,
        session_reference: &str,
        invoice_reference: &str,
    ) -> Result<XmlDocument, Error> {
        let params = GetInvoiceUpoByReferenceParams {
            reference_number: session_reference.to_owned(),
            invoice_reference_number: invoice_reference.to_owned(),
        };
        Ok(self.call_blocking::<GetInvoiceUpoByReference>(&params, ())?.value)
    }

    /// One page of the session UPO (XML).
    pub fn session_upo_blocking(&self, session_reference: &str, upo_reference: &str) -> Result<XmlDocument, Error> {
        let params = GetSessionUpoParams {
            reference_number: session_reference.to_owned(),
            upo_reference_number: upo_reference.to_owned(),
        };
        Ok(self.call_blocking::<GetSessionUpo>(&params, ())?.value)
    }

    /// `GET /invoices/ksef/{ksefNumber}`: the invoice XML (checked against `x-ms-meta-hash`
    /// when KSeF sends it).
    pub fn get_invoice_blocking(&self, ksef_number: &str) -> Result<XmlDocument, Error> {
        let params = GetInvoiceParams { ksef_number: ksef_number.to_owned() };
        checked_xml(self.call_blocking::<GetInvoice>(&params, ())?)
    }

    /// Downloads from a pre-signed URL (UPO link) without the access token, checking the URL
    /// policy and `x-ms-meta-hash`.
    pub fn download_presigned_blocking(&self, url: &str) -> Result<Vec<u8>, Error> {
        let req = presigned_get(url, self.url_policy())?;
        let sleep = &self.inner.sleep;
        check_meta_hash(self.inner.pipeline.execute_presigned_blocking(&self.inner.transport, req, |d| sleep(d))?)
    }
}

impl<T: SyncTransport + Send + Sync> KsefClient<T> {
    /// [`Self::send_and_wait_blocking`] with up to `concurrency` invoices (at least 1) in flight
    /// at once on scoped threads: each thread sends an invoice and waits for its status, then
    /// takes the next. Every request goes through the client's shared limiter, so the rate
    /// limits hold however many threads run. One result per invoice, in input order.
    ///
    /// # Panics
    /// Only if a worker thread panicked (its panic is resumed).
    pub fn send_and_wait_concurrent_blocking(
        &self,
        session: &OnlineSession,
        invoices: &[Vec<u8>],
        concurrency: usize,
    ) -> Vec<Result<AcceptedInvoice, Error>> {
        use std::sync::atomic::{AtomicUsize, Ordering};
        let next = AtomicUsize::new(0);
        let opts = SendOptions::default();
        let threads = concurrency.clamp(1, invoices.len().max(1));
        let mut slots: Vec<Option<Result<AcceptedInvoice, Error>>> = (0..invoices.len()).map(|_| None).collect();
        std::thread::scope(|s| {
            let workers: Vec<_> = (0..threads)
                .map(|_| {
                    s.spawn(|| {
                        let mut done = Vec::new();
                        loop {
                            let i = next.fetch_add(1, Ordering::Relaxed);
                            let Some(xml) = invoices.get(i) else { return done };
                            let r = self.send_invoice_blocking(session, xml, &opts).and_then(|reference| {
                                self.wait_for_invoice_blocking(&session.reference_number, &reference)
                            });
                            done.push((i, r));
                        }
                    })
                })
                .collect();
            for w in workers {
                match w.join() {
                    Ok(done) => {
                        for (i, r) in done {
                            slots[i] = Some(r);
                        }
                    }
                    Err(panic) => std::panic::resume_unwind(panic),
                }
            }
        });
        slots.into_iter().map(|r| r.unwrap_or_else(|| Err(Error::Protocol("invoice not processed".into())))).collect()
    }

    /// [`Self::send_invoices_blocking`] with [`Self::send_and_wait_concurrent_blocking`]: opens
    /// a session, sends and waits for up to `concurrency` invoices at once, closes the session.
    pub fn send_invoices_concurrent_blocking(
        &self,
        form_code: FormCode,
        invoices: &[Vec<u8>],
        concurrency: usize,
    ) -> Result<(OnlineSession, Vec<Result<AcceptedInvoice, Error>>), Error> {
        let session = self.open_online_session_blocking(form_code)?;
        let results = self.send_and_wait_concurrent_blocking(&session, invoices, concurrency);
        self.close_online_session_blocking(&session)?;
        Ok((session, results))
    }
}

impl<T: AsyncTransport + Sync> KsefClient<T> {
    /// Async [`Self::open_online_session_blocking`].
    pub async fn open_online_session(&self, form_code: FormCode) -> Result<OnlineSession, Error> {
        let key = Arc::new(SessionKey::generate(&mut rand::rng())?);
        let mut retried = false;
        let resp = loop {
            let public = self.public_key(KeyUsage::SymmetricKeyEncryption).await?;
            let body =
                OpenOnlineSessionRequest { encryption: encryption(&key, &public)?, form_code: form_code.to_model() };
            match self.call::<OpenOnlineSession>(&(), body).await {
                Err(e) if !retried && e.exception_codes().contains(&crate::keys::UNKNOWN_PUBLIC_KEY) => {
                    retried = true;
                    self.invalidate_public_keys();
                }
                r => break r?.value,
            }
        };
        Ok(OnlineSession {
            reference_number: resp.reference_number.to_string(),
            valid_until: resp.valid_until,
            form_code,
            key,
        })
    }

    /// Async [`Self::send_invoice_blocking`].
    pub async fn send_invoice(&self, session: &OnlineSession, xml: &[u8], opts: &SendOptions) -> Result<String, Error> {
        let body = prepare_invoice(session, xml, opts)?;
        let params = SendInvoiceParams { reference_number: session.reference_number.clone() };
        Ok(self.call::<SendInvoice>(&params, body).await?.value.reference_number.to_string())
    }

    /// Async [`Self::close_online_session_blocking`].
    pub async fn close_online_session(&self, session: &OnlineSession) -> Result<(), Error> {
        let params = CloseOnlineSessionParams { reference_number: session.reference_number.clone() };
        self.call::<CloseOnlineSession>(&params, ()).await.map(drop)
    }

    /// Async [`Self::session_status_blocking`].
    pub async fn session_status(&self, reference_number: &str) -> Result<SessionStatusResponse, Error> {
        let params = GetSessionStatusParams { reference_number: reference_number.to_owned() };
        Ok(self.call::<GetSessionStatus>(&params, ()).await?.value)
    }

    /// Async [`Self::invoice_status_blocking`].
    pub async fn invoice_status(
        &self,
        session_reference: &str,
        invoice_reference: &str,
    ) -> Result<SessionInvoiceStatusResponse, Error> {
        let params = GetSessionInvoiceStatusParams {
            reference_number: session_reference.to_owned(),
            invoice_reference_number: invoice_reference.to_owned(),
        };
        Ok(self.call::<GetSessionInvoiceStatus>(&params, ()).await?.value)
    }

    /// Async [`Self::wait_for_invoice_blocking`].
    pub async fn wait_for_invoice(
        &self,
        session_reference: &str,
        invoice_reference: &str,
    ) -> Result<AcceptedInvoice, Error> {
        let poll = self.poll();
        let (mut waited, mut delay) = (Duration::ZERO, poll.initial_delay);
        loop {
            let st = self.invoice_status(session_reference, invoice_reference).await?;
            if let Some(r) = invoice_outcome(&st) {
                return r;
            }
            if waited >= poll.timeout {
                return Err(Error::Timeout { what: "invoice status", waited });
            }
            self.sleep(delay).await;
            waited += delay;
            delay = poll.next_delay(delay);
        }
    }

    /// Async [`Self::send_and_wait_blocking`]. Sends up to `concurrency` invoices at a time
    /// (at least 1); every request still goes through the shared limiter.
    pub async fn send_and_wait(
        &self,
        session: &OnlineSession,
        invoices: &[Vec<u8>],
        concurrency: usize,
    ) -> Vec<Result<AcceptedInvoice, Error>> {
        use futures_util::StreamExt as _;
        let opts = SendOptions::default();
        let sent: Vec<Result<String, Error>> = futures_util::stream::iter(invoices)
            .map(|x| self.send_invoice(session, x, &opts))
            .buffered(concurrency.max(1))
            .collect()
            .await;
        let mut out = Vec::with_capacity(sent.len());
        for r in sent {
            out.push(match r {
                Ok(reference) => self.wait_for_invoice(&session.reference_number, &reference).await,
                Err(e) => Err(e),
            });
        }
        out
    }

    /// Async [`Self::send_invoices_blocking`].
    pub async fn send_invoices(
        &self,
        form_code: FormCode,
        invoices: &[Vec<u8>],
        concurrency: usize,
    ) -> Result<(OnlineSession, Vec<Result<AcceptedInvoice, Error>>), Error> {
        let session = self.open_online_session(form_code).await?;
        let results = self.send_and_wait(&session, invoices, concurrency).await;
        self.close_online_session(&session).await?;
        Ok((session, results))
    }

    /// Async [`Self::invoice_upo_by_ksef_number_blocking`].
    pub async fn invoice_upo_by_ksef_number(
        &self,
        session_reference: &str,
        ksef_number: &str,
    ) -> Result<XmlDocument, Error> {
        let params = GetInvoiceUpoByKsefNumberParams {
            reference_number: session_reference.to_owned(),
            ksef_number: ksef_number.to_owned(),
        };
        Ok(self.call::<GetInvoiceUpoByKsefNumber>(&params, ()).await?.value)
    }

    /// Async [`Self::invoice_upo_by_reference_blocking`].
    pub async fn invoice_upo_by_reference(
        &self,
        session_reference: &str,
        invoice_reference: &str,
    ) -> Result<XmlDocument, Error> {
        let params = GetInvoiceUpoByReferenceParams {
            reference_number: session_reference.to_owned(),
            invoice_reference_number: invoice_reference.to_owned(),
        };
        Ok(self.call::<GetInvoiceUpoByReference>(&params, ()).await?.value)
    }

    /// Async [`Self::session_upo_blocking`].
    pub async fn session_upo(&self, session_reference: &str, upo_reference: &str) -> Result<XmlDocument, Error> {
        let params = GetSessionUpoParams {
            reference_number: session_reference.to_owned(),
            upo_reference_number: upo_reference.to_owned(),
        };
        Ok(self.call::<GetSessionUpo>(&params, ()).await?.value)
    }

    /// Async [`Self::get_invoice_blocking`].
    pub async fn get_invoice(&self, ksef_number: &str) -> Result<XmlDocument, Error> {
        let params = GetInvoiceParams { ksef_number: ksef_number.to_owned() };
        checked_xml(self.call::<GetInvoice>(&params, ()).await?)
    }

    /// Async [`Self::download_presigned_blocking`].
    pub async fn download_presigned(&self, url: &str) -> Result<Vec<u8>, Error> {
        let req = presigned_get(url, self.url_policy())?;
        let sleep = &self.inner.async_sleep;
        check_meta_hash(self.inner.pipeline.execute_presigned_async(&self.inner.transport, req, |d| sleep(d)).await?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn meta_hash_is_checked() {
        let body = b"<UPO/>";
        assert!(verify_meta_hash(None, body).is_ok());
        assert!(verify_meta_hash(Some(&b64_encode(sha256(body))), body).is_ok());
        assert!(matches!(verify_meta_hash(Some(&b64_encode(sha256(b"x"))), body), Err(Error::Protocol(_))));
        assert!(matches!(verify_meta_hash(Some("%%%"), body), Err(Error::Protocol(_))));
    }

    #[test]
    fn form_codes_match_the_spec() {
        assert_eq!(FormCode::Fa3.triple(), ("FA (3)", "1-0E", "FA"));
        assert_eq!(FormCode::FaRr1.to_model().value, "FA_RR");
        assert_eq!(FormCode::PefKor3.triple().0, "PEF_KOR (3)");
    }
}
