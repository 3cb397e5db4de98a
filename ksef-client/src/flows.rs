//! Network flows over the pure modules: batch sessions ([`crate::batch`]), invoice exports
//! ([`crate::export`]) and HWM incremental sync ([`crate::sync`]), blocking and async.

use std::collections::BTreeMap;
use std::io::{Seek, SeekFrom};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use ksef_crypto::{KeyUsage, SessionKey};
use ksef_model::operations::{
    CloseBatchSession, CloseBatchSessionParams, ExportInvoices, GetInvoiceExportStatus, GetInvoiceExportStatusParams,
    ListFailedSessionInvoices, ListFailedSessionInvoicesParams, ListSessionInvoices, ListSessionInvoicesParams,
    OpenBatchSession,
};
use ksef_model::types::{
    CompressionType, InvoiceExportRequest, InvoiceExportStatusResponse, InvoiceMetadata, InvoicePackage,
    InvoicePackagePart, InvoiceQueryDateRange, InvoiceQueryFilters, InvoiceQuerySubjectType, OpenBatchSessionRequest,
    OpenBatchSessionResponse, PartUploadRequest, SessionInvoiceStatusResponse, SessionStatusResponse, StatusInfo,
};
use ksef_transport::{AsyncTransport, HttpRequest, SyncTransport, presigned_request};

use crate::KsefClient;
use crate::batch::{BatchBuilder, BatchLimits, BatchPackage, Compression, SpooledPart, TempFileSink};
use crate::error::{Error, InvoiceRejection};
use crate::export::{ExportError, UnpackLimits, decrypt_part_to, unpack};
use crate::online::{AcceptedInvoice, FormCode, encryption, invoice_outcome};
use crate::sync::SyncCheckpoint;

/// One invoice of a batch.
#[non_exhaustive]
pub enum BatchInvoice {
    /// An XML file on disk (its file name becomes the archive entry name).
    File(PathBuf),
    /// XML bytes under an archive entry name.
    Bytes {
        /// Archive entry name (`invoiceFileName` in statuses).
        file_name: String,
        /// The invoice XML.
        xml: Vec<u8>,
    },
    /// XML streamed from a reader under an archive entry name.
    Reader {
        /// Archive entry name (`invoiceFileName` in statuses).
        file_name: String,
        /// The invoice XML.
        reader: Box<dyn std::io::Read + Send>,
    },
}

impl core::fmt::Debug for BatchInvoice {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            Self::File(p) => f.debug_tuple("File").field(p).finish(),
            Self::Bytes { file_name, xml } => {
                f.debug_struct("Bytes").field("file_name", file_name).field("len", &xml.len()).finish()
            }
            Self::Reader { file_name, .. } => {
                f.debug_struct("Reader").field("file_name", file_name).finish_non_exhaustive()
            }
        }
    }
}

impl BatchInvoice {
    /// An in-memory invoice.
    pub fn bytes(file_name: impl Into<String>, xml: impl Into<Vec<u8>>) -> Self {
        Self::Bytes { file_name: file_name.into(), xml: xml.into() }
    }
}

/// How a batch is packed and sent.
#[derive(Debug, Clone)]
pub struct BatchOptions {
    /// Archive format (ZIP by default).
    pub compression: Compression,
    /// Package limits (part size, counts); lower `max_part_size` to get more parts.
    pub limits: BatchLimits,
    /// Declare offline invoicing (`offlineMode`).
    pub offline_mode: bool,
    /// Parts uploaded at once (at least 1). In `send_batch[_blocking]` each upload holds its
    /// part in memory (the transport traits take the body as bytes), so peak memory is about
    /// `parallelism × max_part_size`; the `send_batch_streaming[_blocking]` variants stream the
    /// parts from their files instead.
    pub parallelism: usize,
    /// Attempts per part upload (at least 1); failed attempts back off exponentially.
    pub upload_attempts: u32,
    /// Where the encrypted parts are spooled (the system temp dir by default).
    pub temp_dir: Option<PathBuf>,
}

impl Default for BatchOptions {
    fn default() -> Self {
        Self {
            compression: Compression::Zip,
            limits: BatchLimits::default(),
            offline_mode: false,
            parallelism: 4,
            upload_attempts: 3,
            temp_dir: None,
        }
    }
}

/// A final failure status of a batch session or an export, with its documented meaning.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StatusFailure {
    /// Session or export reference number.
    pub reference_number: String,
    /// The status code (e.g. 445, 550).
    pub code: i32,
    /// KSeF's description.
    pub description: String,
    /// KSeF's details.
    pub details: Vec<String>,
    /// The documented meaning of `code`.
    pub meaning: &'static str,
}

impl core::fmt::Display for StatusFailure {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "{} status {} ({}): {}", self.reference_number, self.code, self.meaning, self.description)
    }
}

fn failure(reference_number: &str, st: &StatusInfo, meaning: &'static str) -> StatusFailure {
    StatusFailure {
        reference_number: reference_number.to_owned(),
        code: st.code,
        description: st.description.to_string(),
        details: st.details.clone().unwrap_or_default(),
        meaning,
    }
}

/// The meaning of a final failure status of a batch session (protocol.md §5). For 445 the
/// per-invoice reasons are listed by [`KsefClient::session_invoice_statuses_blocking`].
pub fn batch_failure_meaning(code: i32) -> Option<&'static str> {
    Some(match code {
        405 => "the package parts failed verification (hash or size)",
        415 => "the AES key could not be unwrapped",
        420 => "the session's invoice limit (10 000) was exceeded",
        430 => "the archive could not be decompressed",
        435 => "a part could not be decrypted",
        440 => "session cancelled (parts not uploaded or not closed within 12 h, or an empty package)",
        445 => "every invoice was rejected",
        500 => "unknown KSeF error",
        _ => return None,
    })
}

/// The meaning of a final failure status of an export (protocol.md §9.3).
pub fn export_failure_meaning(code: i32) -> Option<&'static str> {
    Some(match code {
        210 => "the package expired and is no longer available",
        415 => "the AES key could not be unwrapped",
        420 => {
            "the filter range is beyond the available data (from after the HWM with restrictToPermanentStorageHwmDate)"
        }
        500 => "unknown KSeF error",
        550 => "cancelled by the system (try again)",
        _ => return None,
    })
}

/// What happened to one invoice of a batch.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub enum BatchOutcome {
    /// KSeF assigned a number.
    Accepted(Box<AcceptedInvoice>),
    /// KSeF rejected it.
    Rejected(InvoiceRejection),
    /// Still processing when the session reached its final status.
    Pending,
    /// Neither listing mentions it.
    Missing,
}

/// One input invoice and its outcome.
#[derive(Debug, Clone)]
pub struct BatchInvoiceResult {
    /// Archive entry name.
    pub file_name: String,
    /// Base64 SHA-256 of the XML (`invoiceHash`).
    pub invoice_hash: String,
    /// What happened.
    pub outcome: BatchOutcome,
}

/// The result of [`KsefClient::send_batch_blocking`].
#[derive(Debug, Clone)]
pub struct BatchReport {
    /// The session's reference number.
    pub reference_number: String,
    /// The final session status (200; UPO reference in `upo`).
    pub status: SessionStatusResponse,
    /// One entry per input invoice, in input order.
    pub invoices: Vec<BatchInvoiceResult>,
    /// Number of encrypted parts uploaded.
    pub parts: usize,
}

impl BatchReport {
    /// The accepted invoices.
    pub fn accepted(&self) -> impl Iterator<Item = (&str, &AcceptedInvoice)> {
        self.invoices.iter().filter_map(|r| match &r.outcome {
            BatchOutcome::Accepted(a) => Some((r.file_name.as_str(), &**a)),
            _ => None,
        })
    }

    /// The rejected invoices.
    pub fn rejected(&self) -> impl Iterator<Item = (&str, &InvoiceRejection)> {
        self.invoices.iter().filter_map(|r| match &r.outcome {
            BatchOutcome::Rejected(a) => Some((r.file_name.as_str(), a)),
            _ => None,
        })
    }
}

/// A downloaded, verified, decrypted and unpacked export.
#[derive(Debug, Clone)]
pub struct ExportResult {
    /// The export's reference number.
    pub reference_number: String,
    /// The package description (truncation, HWM dates, parts).
    pub package: InvoicePackage,
    /// `_metadata.json` (empty if the package had none).
    pub metadata: Vec<InvoiceMetadata>,
    /// Invoice XML by KSeF number.
    pub invoices: BTreeMap<String, Vec<u8>>,
}

/// The result of one incremental sync step.
#[derive(Debug, Clone)]
pub struct SyncStep {
    /// Invoices not delivered by earlier steps, with their XML.
    pub invoices: Vec<(InvoiceMetadata, Vec<u8>)>,
    /// Whether the export was truncated (call again to continue right away).
    pub more: bool,
}

fn build_package(
    key: &SessionKey,
    opts: &BatchOptions,
    invoices: Vec<BatchInvoice>,
) -> Result<BatchPackage<SpooledPart>, Error> {
    let sink = match &opts.temp_dir {
        Some(d) => TempFileSink::in_dir(d.clone()),
        None => TempFileSink::new(),
    };
    let mut b = BatchBuilder::with_limits(key, opts.compression, sink, opts.limits);
    for inv in invoices {
        match inv {
            BatchInvoice::File(p) => b.add_invoice_file(&p)?,
            BatchInvoice::Bytes { file_name, xml } => b.add_invoice(&file_name, &xml)?,
            BatchInvoice::Reader { file_name, reader } => b.add_invoice_reader(&file_name, reader)?,
        };
    }
    Ok(b.finish()?)
}

fn open_request<P>(
    key: &SessionKey,
    public: &ksef_crypto::KsefPublicKey,
    form_code: FormCode,
    pkg: &BatchPackage<P>,
    offline_mode: bool,
) -> Result<OpenBatchSessionRequest, Error> {
    Ok(OpenBatchSessionRequest {
        batch_file: pkg.batch_file_info(),
        encryption: encryption(key, public)?,
        form_code: form_code.to_model(),
        offline_mode,
    })
}

/// Pairs each part with its upload instruction (by ordinal).
fn plan<'p, P>(
    pkg: &'p BatchPackage<P>,
    resp: &'p OpenBatchSessionResponse,
) -> Result<Vec<(&'p P, &'p PartUploadRequest)>, Error> {
    pkg.parts
        .iter()
        .map(|p| {
            resp.part_upload_requests
                .iter()
                .find(|u| u.ordinal_number.get() == p.ordinal)
                .map(|u| (&p.location, u))
                .ok_or_else(|| Error::Protocol(format!("no upload instruction for part {}", p.ordinal)))
        })
        .collect()
}

fn upload_request(
    part: &SpooledPart,
    up: &PartUploadRequest,
    policy: &ksef_transport::UrlPolicy,
) -> Result<HttpRequest, Error> {
    let method = http::Method::from_bytes(up.method.as_bytes())
        .map_err(|_| Error::Protocol(format!("bad upload method `{}`", up.method)))?;
    let body = part.read_all().map_err(|e| Error::Config(format!("reading spooled part: {e}")))?;
    let headers: Vec<(&str, &str)> =
        up.headers.iter().filter_map(|(k, v)| v.as_deref().map(|v| (k.as_str(), v))).collect();
    Ok(presigned_request(method, &up.url, &headers, body, policy)?)
}

/// An encrypted part kept in a file, which the streaming uploads read chunk by chunk:
/// [`SpooledPart`] (from [`TempFileSink`]) or a `PathBuf` (from [`crate::batch::DirSink`]).
pub trait PartFile {
    /// The file holding the encrypted part.
    fn part_path(&self) -> &Path;
}

impl PartFile for SpooledPart {
    fn part_path(&self) -> &Path {
        self.path()
    }
}

impl PartFile for PathBuf {
    fn part_path(&self) -> &Path {
        self
    }
}

/// The head of a streamed part upload: method, URL (checked against the policy; no
/// `Authorization`), the listed headers and `Content-Length: len`.
#[cfg(any(feature = "ureq", feature = "reqwest"))]
fn streaming_head(
    up: &PartUploadRequest,
    len: u64,
    policy: &ksef_transport::UrlPolicy,
) -> Result<http::Request<()>, Error> {
    let method = http::Method::from_bytes(up.method.as_bytes())
        .map_err(|_| Error::Protocol(format!("bad upload method `{}`", up.method)))?;
    let headers: Vec<(&str, &str)> =
        up.headers.iter().filter_map(|(k, v)| v.as_deref().map(|v| (k.as_str(), v))).collect();
    let checked = presigned_request(method, &up.url, &headers, Vec::new(), policy)?;
    let (mut parts, _) = checked.into_parts();
    parts.headers.insert(http::header::CONTENT_LENGTH, http::HeaderValue::from(len));
    Ok(http::Request::from_parts(parts, ()))
}

#[cfg(any(feature = "ureq", feature = "reqwest"))]
fn part_io(path: &Path, e: &std::io::Error) -> Error {
    Error::Config(format!("reading part file {}: {e}", path.display()))
}

fn is_transient(e: &Error) -> bool {
    match e {
        Error::Api(t) => t.is_retryable(),
        _ => false,
    }
}

/// The final state of a batch session: `Ok(Some)` when 200 or 445, `Ok(None)` while processing.
///
/// 445 ("no valid invoices") is final but not a session error: every invoice was rejected and
/// each one's reason is in the invoice list (a resent batch whose invoices all arrived before
/// gets 445 with a 440 duplicate naming the original KSeF number for each), so the caller needs
/// the per-invoice report, not an opaque failure.
fn batch_final(reference: &str, st: &SessionStatusResponse) -> Result<Option<()>, Error> {
    match st.status.code {
        200 | 445 => Ok(Some(())),
        c if c >= 400 => Err(Error::BatchFailed(failure(
            reference,
            &st.status,
            batch_failure_meaning(c).unwrap_or("batch session failed"),
        ))),
        _ => Ok(None),
    }
}

fn export_final(reference: &str, st: &InvoiceExportStatusResponse) -> Result<Option<InvoicePackage>, Error> {
    match st.status.code {
        200 => {
            st.package.clone().map(Some).ok_or_else(|| Error::Protocol("export status 200 without a package".into()))
        }
        c if c >= 210 => Err(Error::ExportFailed(failure(
            reference,
            &st.status,
            export_failure_meaning(c).unwrap_or("export failed"),
        ))),
        _ => Ok(None),
    }
}

fn report<P>(
    reference: &str,
    status: SessionStatusResponse,
    pkg: &BatchPackage<P>,
    listed: Vec<SessionInvoiceStatusResponse>,
) -> BatchReport {
    let invoices = pkg
        .invoices
        .iter()
        .map(|e| {
            let hash = e.digest.sha256_b64();
            // Prefer a final status; the failed listing repeats rejected ones.
            let mut found: Option<&SessionInvoiceStatusResponse> = None;
            for st in listed.iter().filter(|st| {
                st.invoice_file_name.as_deref().map(|n| n.as_str()) == Some(e.file_name.as_str())
                    || (st.invoice_file_name.is_none() && *st.invoice_hash == hash)
            }) {
                if found.is_none() || st.status.code >= 200 {
                    found = Some(st);
                }
            }
            let outcome = match found.map(invoice_outcome) {
                None => BatchOutcome::Missing,
                Some(None) => BatchOutcome::Pending,
                Some(Some(Ok(a))) => BatchOutcome::Accepted(Box::new(a)),
                Some(Some(Err(Error::InvoiceRejected(r)))) => BatchOutcome::Rejected(r),
                Some(Some(Err(_))) => BatchOutcome::Missing,
            };
            BatchInvoiceResult { file_name: e.file_name.clone(), invoice_hash: hash, outcome }
        })
        .collect();
    BatchReport { reference_number: reference.to_owned(), status, invoices, parts: pkg.parts.len() }
}

fn export_request(
    key: &SessionKey,
    public: &ksef_crypto::KsefPublicKey,
    filters: &InvoiceQueryFilters,
) -> Result<InvoiceExportRequest, Error> {
    Ok(InvoiceExportRequest {
        compression_type: None,
        encryption: encryption(key, public)?,
        filters: filters.clone(),
        only_metadata: false,
    })
}

/// The package's parts sorted by ordinal, checked to be `1..=n`.
fn sorted_parts(package: &InvoicePackage) -> Result<Vec<InvoicePackagePart>, Error> {
    let mut parts = package.parts.clone();
    parts.sort_by_key(|p| p.ordinal_number);
    if parts.iter().enumerate().any(|(i, p)| p.ordinal_number.get() as usize != i + 1) {
        return Err(ExportError::PartOrdinals(parts.len()).into());
    }
    Ok(parts)
}

fn temp_file() -> Result<std::fs::File, Error> {
    tempfile::tempfile().map_err(|e| Error::Config(format!("temp file: {e}")))
}

/// Verifies and decrypts one downloaded part onto the end of `joined`.
fn append_part(
    key: &SessionKey,
    part: &InvoicePackagePart,
    bytes: &[u8],
    joined: &mut std::fs::File,
) -> Result<(), Error> {
    use std::io::Write as _;
    let mut out = std::io::BufWriter::new(joined);
    decrypt_part_to(key, part, bytes, &mut out)?;
    out.flush().map_err(|e| Error::Config(format!("temp file: {e}")))
}

fn finish_export(reference: &str, package: InvoicePackage, mut joined: std::fs::File) -> Result<ExportResult, Error> {
    joined.seek(SeekFrom::Start(0)).map_err(|e| Error::Config(format!("temp file: {e}")))?;
    let compression = match package.compression_type {
        CompressionType::TarGz => Compression::TarGz,
        _ => Compression::Zip,
    };
    let unpacked = unpack(compression, joined, UnpackLimits::default())?;
    let mut invoices = BTreeMap::new();
    for f in unpacked.files {
        let number = f.name.rsplit('/').next().unwrap_or(&f.name);
        if let Some(number) = number.strip_suffix(".xml") {
            invoices.insert(number.to_owned(), f.data);
        }
    }
    Ok(ExportResult {
        reference_number: reference.to_owned(),
        package,
        metadata: unpacked.metadata.unwrap_or_default(),
        invoices,
    })
}

/// The export filters of the next sync window of `subject`.
pub fn sync_filters(
    range: InvoiceQueryDateRange,
    subject: InvoiceQuerySubjectType,
) -> Result<InvoiceQueryFilters, Error> {
    serde_json::from_value(serde_json::json!({ "subjectType": subject, "dateRange": range }))
        .map_err(|e| Error::Protocol(format!("sync filters: {e}")))
}

fn sync_result(
    cp: &mut SyncCheckpoint,
    subject: InvoiceQuerySubjectType,
    from: chrono::DateTime<chrono::Utc>,
    mut export: ExportResult,
) -> Result<SyncStep, Error> {
    let fresh: Vec<InvoiceMetadata> =
        cp.subject(subject, from).advance_export(&export.package, &export.metadata)?.into_iter().cloned().collect();
    let mut invoices = Vec::with_capacity(fresh.len());
    for m in fresh {
        let xml = export
            .invoices
            .remove(m.ksef_number.as_str())
            .ok_or_else(|| Error::Protocol(format!("export lacks the XML of {}", m.ksef_number.as_str())))?;
        invoices.push((m, xml));
    }
    Ok(SyncStep { invoices, more: export.package.is_truncated })
}

fn backoff(attempt: u32) -> Duration {
    Duration::from_millis(200u64 << attempt.min(6))
}

impl<T: SyncTransport + Send + Sync> KsefClient<T> {
    /// Packs `invoices` into encrypted parts (temp files), opens a batch session, uploads the
    /// parts in parallel to their pre-signed URLs (no bearer token; retried), closes the session,
    /// waits for its final status and reports each invoice's KSeF number or rejection.
    /// A session that ends with 445 (every invoice rejected) is reported too, with
    /// `status.status.code == 445` and each invoice's rejection.
    ///
    /// # Errors
    /// Package limits ([`Error::Batch`]), a failed session ([`Error::BatchFailed`]), API errors.
    pub fn send_batch_blocking(
        &self,
        form_code: FormCode,
        invoices: Vec<BatchInvoice>,
        opts: &BatchOptions,
    ) -> Result<BatchReport, Error> {
        self.send_batch_with_blocking(form_code, invoices, opts, |part, up| {
            self.upload_part_blocking(part, up, opts.upload_attempts)
        })
    }

    pub(crate) fn send_batch_with_blocking(
        &self,
        form_code: FormCode,
        invoices: Vec<BatchInvoice>,
        opts: &BatchOptions,
        upload: impl Fn(&SpooledPart, &PartUploadRequest) -> Result<(), Error> + Sync,
    ) -> Result<BatchReport, Error> {
        let key = Arc::new(SessionKey::generate(&mut rand::rng())?);
        let pkg = build_package(&key, opts, invoices)?;
        let resp = self.with_key_blocking(KeyUsage::SymmetricKeyEncryption, |public| {
            let body = open_request(&key, public, form_code, &pkg, opts.offline_mode)?;
            Ok(self.call_blocking::<OpenBatchSession>(&(), body)?.value)
        })?;
        let reference = resp.reference_number.to_string();
        let plan = plan(&pkg, &resp)?;
        let threads = opts.parallelism.clamp(1, plan.len().max(1));
        let next = std::sync::atomic::AtomicUsize::new(0);
        let results: Vec<Result<(), Error>> = std::thread::scope(|s| {
            let handles: Vec<_> = (0..threads)
                .map(|_| {
                    s.spawn(|| {
                        loop {
                            let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                            let Some((part, up)) = plan.get(i) else { return Ok(()) };
                            upload(part, up)?;
                        }
                    })
                })
                .collect();
            handles
                .into_iter()
                .map(|h| h.join().unwrap_or_else(|_| Err(Error::Protocol("upload thread panicked".into()))))
                .collect()
        });
        results.into_iter().collect::<Result<Vec<()>, Error>>()?;
        self.call_blocking::<CloseBatchSession>(&CloseBatchSessionParams { reference_number: reference.clone() }, ())?;
        let status = self.wait_for_batch_blocking(&reference)?;
        let listed = self.session_invoice_statuses_blocking(&reference)?;
        Ok(report(&reference, status, &pkg, listed))
    }

    fn upload_part_blocking(&self, part: &SpooledPart, up: &PartUploadRequest, attempts: u32) -> Result<(), Error> {
        let mut attempt = 0;
        loop {
            let req = upload_request(part, up, self.url_policy())?;
            let r =
                self.inner.pipeline.execute_presigned_blocking(&self.inner.transport, req, |d| self.sleep_blocking(d));
            match r.map_err(Error::from) {
                Ok(_) => return Ok(()),
                Err(e) if attempt + 1 < attempts.max(1) && is_transient(&e) => {
                    self.sleep_blocking(backoff(attempt));
                    attempt += 1;
                }
                Err(e) => return Err(e),
            }
        }
    }

    /// Polls a batch session's status until 200, 445 (every invoice rejected; the invoice list
    /// says why) or another failure status ([`Error::BatchFailed`]).
    pub fn wait_for_batch_blocking(&self, reference: &str) -> Result<SessionStatusResponse, Error> {
        let poll = self.poll();
        let (mut waited, mut delay) = (Duration::ZERO, poll.initial_delay);
        loop {
            let st = self.session_status_blocking(reference)?;
            if batch_final(reference, &st)?.is_some() {
                return Ok(st);
            }
            if waited >= poll.timeout {
                return Err(Error::Timeout { what: "batch session status", waited });
            }
            self.sleep_blocking(delay);
            waited += delay;
            delay = poll.next_delay(delay);
        }
    }

    /// All invoice statuses of a session (all pages) followed by the failed-invoice listing.
    pub fn session_invoice_statuses_blocking(
        &self,
        reference: &str,
    ) -> Result<Vec<SessionInvoiceStatusResponse>, Error> {
        let mut out = Vec::new();
        let p = ListSessionInvoicesParams {
            continuation_token: None,
            reference_number: reference.to_owned(),
            page_size: Some(1000),
        };
        for page in self.pages_blocking::<ListSessionInvoices>(p, ()) {
            out.extend(page?.invoices);
        }
        let p = ListFailedSessionInvoicesParams {
            continuation_token: None,
            reference_number: reference.to_owned(),
            page_size: Some(1000),
        };
        for page in self.pages_blocking::<ListFailedSessionInvoices>(p, ()) {
            match page {
                Ok(page) => out.extend(page.invoices),
                // No failed invoices may be answered with 404 / 21173-like errors.
                Err(e) if e.status() == Some(http::StatusCode::NOT_FOUND) => break,
                Err(e) => return Err(e),
            }
        }
        Ok(out)
    }

    /// Runs an export with a fresh key, waits for it, downloads, verifies, decrypts and
    /// unpacks its parts.
    ///
    /// # Errors
    /// [`Error::ExportFailed`] for a failure status, [`Error::Export`] for a bad package.
    pub fn export_invoices_blocking(&self, filters: &InvoiceQueryFilters) -> Result<ExportResult, Error> {
        let key = SessionKey::generate(&mut rand::rng())?;
        let resp = self.with_key_blocking(KeyUsage::SymmetricKeyEncryption, |public| {
            Ok(self.call_blocking::<ExportInvoices>(&(), export_request(&key, public, filters)?)?.value)
        })?;
        let reference = resp.reference_number.to_string();
        let poll = self.poll();
        let (mut waited, mut delay) = (Duration::ZERO, poll.initial_delay);
        let package = loop {
            let params = GetInvoiceExportStatusParams { reference_number: reference.clone() };
            let st = self.call_blocking::<GetInvoiceExportStatus>(&params, ())?.value;
            if let Some(p) = export_final(&reference, &st)? {
                break p;
            }
            if waited >= poll.timeout {
                return Err(Error::Timeout { what: "export status", waited });
            }
            self.sleep_blocking(delay);
            waited += delay;
            delay = poll.next_delay(delay);
        };
        // One part in memory at a time: downloaded, verified, decrypted onto the joined file.
        let mut joined = temp_file()?;
        for part in sorted_parts(&package)? {
            let bytes = self.download_presigned_blocking(&part.url)?;
            append_part(&key, &part, &bytes, &mut joined)?;
        }
        finish_export(&reference, package, joined)
    }

    /// One incremental sync step for `subject`: exports the checkpoint's next window (by
    /// `PermanentStorage`, restricted to the HWM), advances the checkpoint and returns the
    /// invoices not delivered before. Persist `checkpoint` after storing them; call again
    /// while [`SyncStep::more`].
    pub fn sync_step_blocking(
        &self,
        checkpoint: &mut SyncCheckpoint,
        subject: InvoiceQuerySubjectType,
        from: chrono::DateTime<chrono::Utc>,
    ) -> Result<SyncStep, Error> {
        let filters = sync_filters(checkpoint.subject(subject, from).next_range(), subject)?;
        let export = self.export_invoices_blocking(&filters)?;
        sync_result(checkpoint, subject, from, export)
    }
}

impl<T: AsyncTransport + Sync> KsefClient<T> {
    /// Async [`Self::send_batch_blocking`] (parts uploaded as buffered futures). Each upload
    /// reads its part into memory; with `KsefClient<ReqwestTransport>`,
    /// [`KsefClient::send_batch_streaming`] streams the parts from their files instead.
    pub async fn send_batch(
        &self,
        form_code: FormCode,
        invoices: Vec<BatchInvoice>,
        opts: &BatchOptions,
    ) -> Result<BatchReport, Error> {
        use futures_util::StreamExt;
        let key = Arc::new(SessionKey::generate(&mut rand::rng())?);
        let pkg = build_package(&key, opts, invoices)?;
        let resp = self.open_batch(&key, form_code, &pkg, opts).await?;
        let plan = plan(&pkg, &resp)?;
        let results: Vec<Result<(), Error>> = futures_util::stream::iter(plan.iter())
            .map(|(part, up)| self.upload_part(part, up, opts.upload_attempts))
            .buffer_unordered(opts.parallelism.max(1))
            .collect()
            .await;
        results.into_iter().collect::<Result<Vec<()>, Error>>()?;
        self.finish_batch(&resp.reference_number.to_string(), &pkg).await
    }

    /// Opens the batch session of `pkg` (refetching the key and retrying once on 21470).
    async fn open_batch<P>(
        &self,
        key: &SessionKey,
        form_code: FormCode,
        pkg: &BatchPackage<P>,
        opts: &BatchOptions,
    ) -> Result<OpenBatchSessionResponse, Error> {
        let mut retried = false;
        loop {
            let public = self.public_key(KeyUsage::SymmetricKeyEncryption).await?;
            let body = open_request(key, &public, form_code, pkg, opts.offline_mode)?;
            match self.call::<OpenBatchSession>(&(), body).await {
                Err(e) if !retried && e.exception_codes().contains(&crate::keys::UNKNOWN_PUBLIC_KEY) => {
                    retried = true;
                    self.invalidate_public_keys();
                }
                r => return Ok(r?.value),
            }
        }
    }

    /// Closes the session, waits for its final status and reports each invoice.
    async fn finish_batch<P>(&self, reference: &str, pkg: &BatchPackage<P>) -> Result<BatchReport, Error> {
        self.call::<CloseBatchSession>(&CloseBatchSessionParams { reference_number: reference.to_owned() }, ()).await?;
        let status = self.wait_for_batch(reference).await?;
        let listed = self.session_invoice_statuses(reference).await?;
        Ok(report(reference, status, pkg, listed))
    }

    async fn upload_part(&self, part: &SpooledPart, up: &PartUploadRequest, attempts: u32) -> Result<(), Error> {
        let mut attempt = 0;
        loop {
            let req = upload_request(part, up, self.url_policy())?;
            let r = self.inner.pipeline.execute_presigned_async(&self.inner.transport, req, |d| self.sleep(d)).await;
            match r.map_err(Error::from) {
                Ok(_) => return Ok(()),
                Err(e) if attempt + 1 < attempts.max(1) && is_transient(&e) => {
                    self.sleep(backoff(attempt)).await;
                    attempt += 1;
                }
                Err(e) => return Err(e),
            }
        }
    }

    /// Async [`Self::wait_for_batch_blocking`].
    pub async fn wait_for_batch(&self, reference: &str) -> Result<SessionStatusResponse, Error> {
        let poll = self.poll();
        let (mut waited, mut delay) = (Duration::ZERO, poll.initial_delay);
        loop {
            let st = self.session_status(reference).await?;
            if batch_final(reference, &st)?.is_some() {
                return Ok(st);
            }
            if waited >= poll.timeout {
                return Err(Error::Timeout { what: "batch session status", waited });
            }
            self.sleep(delay).await;
            waited += delay;
            delay = poll.next_delay(delay);
        }
    }

    /// Async [`Self::session_invoice_statuses_blocking`].
    pub async fn session_invoice_statuses(&self, reference: &str) -> Result<Vec<SessionInvoiceStatusResponse>, Error> {
        let mut out = Vec::new();
        let p = ListSessionInvoicesParams {
            continuation_token: None,
            reference_number: reference.to_owned(),
            page_size: Some(1000),
        };
        let mut pages = self.pages::<ListSessionInvoices>(p, ());
        while let Some(page) = pages.next_page().await {
            out.extend(page?.invoices);
        }
        let p = ListFailedSessionInvoicesParams {
            continuation_token: None,
            reference_number: reference.to_owned(),
            page_size: Some(1000),
        };
        let mut pages = self.pages::<ListFailedSessionInvoices>(p, ());
        while let Some(page) = pages.next_page().await {
            match page {
                Ok(page) => out.extend(page.invoices),
                Err(e) if e.status() == Some(http::StatusCode::NOT_FOUND) => break,
                Err(e) => return Err(e),
            }
        }
        Ok(out)
    }

    /// Async [`Self::export_invoices_blocking`].
    pub async fn export_invoices(&self, filters: &InvoiceQueryFilters) -> Result<ExportResult, Error> {
        let key = SessionKey::generate(&mut rand::rng())?;
        let mut retried = false;
        let resp = loop {
            let public = self.public_key(KeyUsage::SymmetricKeyEncryption).await?;
            match self.call::<ExportInvoices>(&(), export_request(&key, &public, filters)?).await {
                Err(e) if !retried && e.exception_codes().contains(&crate::keys::UNKNOWN_PUBLIC_KEY) => {
                    retried = true;
                    self.invalidate_public_keys();
                }
                r => break r?.value,
            }
        };
        let reference = resp.reference_number.to_string();
        let poll = self.poll();
        let (mut waited, mut delay) = (Duration::ZERO, poll.initial_delay);
        let package = loop {
            let params = GetInvoiceExportStatusParams { reference_number: reference.clone() };
            let st = self.call::<GetInvoiceExportStatus>(&params, ()).await?.value;
            if let Some(p) = export_final(&reference, &st)? {
                break p;
            }
            if waited >= poll.timeout {
                return Err(Error::Timeout { what: "export status", waited });
            }
            self.sleep(delay).await;
            waited += delay;
            delay = poll.next_delay(delay);
        };
        let mut joined = temp_file()?;
        for part in sorted_parts(&package)? {
            let bytes = self.download_presigned(&part.url).await?;
            append_part(&key, &part, &bytes, &mut joined)?;
        }
        finish_export(&reference, package, joined)
    }

    /// Async [`Self::sync_step_blocking`].
    pub async fn sync_step(
        &self,
        checkpoint: &mut SyncCheckpoint,
        subject: InvoiceQuerySubjectType,
        from: chrono::DateTime<chrono::Utc>,
    ) -> Result<SyncStep, Error> {
        let filters = sync_filters(checkpoint.subject(subject, from).next_range(), subject)?;
        let export = self.export_invoices(&filters).await?;
        sync_result(checkpoint, subject, from, export)
    }
}

#[cfg(feature = "ureq")]
impl KsefClient<ksef_transport::UreqTransport> {
    /// [`Self::send_batch_blocking`] with each part streamed from its temp file
    /// ([`ksef_transport::UreqTransport::send_reader`]) instead of read into memory; retried
    /// `upload_attempts` times on retryable failures (the pipeline is not used for the upload).
    ///
    /// # Errors
    /// As [`Self::send_batch_blocking`].
    pub fn send_batch_streaming_blocking(
        &self,
        form_code: FormCode,
        invoices: Vec<BatchInvoice>,
        opts: &BatchOptions,
    ) -> Result<BatchReport, Error> {
        self.send_batch_with_blocking(form_code, invoices, opts, |part, up| {
            self.upload_part_file_blocking(part.path(), up, opts.upload_attempts)
        })
    }

    /// Blocking [`KsefClient::upload_package_streaming`]: every part file of `pkg` streamed to
    /// the URLs of an opened batch session by up to `parallelism` scoped threads.
    ///
    /// # Errors
    /// [`Error::Protocol`] if the session lists no URL for a part; the first failed upload.
    pub fn upload_package_streaming_blocking<P: PartFile + Sync>(
        &self,
        pkg: &BatchPackage<P>,
        session: &OpenBatchSessionResponse,
        parallelism: usize,
        attempts: u32,
    ) -> Result<(), Error> {
        let plan = plan(pkg, session)?;
        let next = std::sync::atomic::AtomicUsize::new(0);
        let threads = parallelism.clamp(1, plan.len().max(1));
        std::thread::scope(|s| {
            let workers: Vec<_> = (0..threads)
                .map(|_| {
                    s.spawn(|| {
                        loop {
                            let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                            let Some((part, up)) = plan.get(i) else { return Ok(()) };
                            self.upload_part_file_blocking(part.part_path(), up, attempts)?;
                        }
                    })
                })
                .collect();
            workers
                .into_iter()
                .map(|w| w.join().unwrap_or_else(|p| std::panic::resume_unwind(p)))
                .collect::<Result<Vec<()>, Error>>()
                .map(drop)
        })
    }

    /// Streams one part file to its pre-signed URL (no bearer token, URL policy checked),
    /// retried `attempts` times (at least 1) on retryable failures with backoff; the file is
    /// reopened for every attempt.
    ///
    /// # Errors
    /// [`Error::Config`] if the file cannot be read, [`Error::Api`] for a refused URL or the
    /// storage's last error answer.
    pub fn upload_part_file_blocking(&self, path: &Path, up: &PartUploadRequest, attempts: u32) -> Result<(), Error> {
        let mut attempt = 0;
        loop {
            match self.stream_part(path, up) {
                Ok(()) => return Ok(()),
                Err(e) if attempt + 1 < attempts.max(1) && is_transient(&e) => {
                    self.sleep_blocking(backoff(attempt));
                    attempt += 1;
                }
                Err(e) => return Err(e),
            }
        }
    }

    fn stream_part(&self, path: &Path, up: &PartUploadRequest) -> Result<(), Error> {
        let mut file = std::fs::File::open(path).map_err(|e| part_io(path, &e))?;
        let len = file.metadata().map_err(|e| part_io(path, &e))?.len();
        let req = streaming_head(up, len, self.url_policy())?;
        let resp = self
            .inner
            .transport
            .send_reader(req, &mut file)
            .map_err(|e| Error::Api(ksef_transport::Error::from_transport(e)))?;
        ksef_transport::parse_presigned(resp)?;
        Ok(())
    }
}

#[cfg(feature = "reqwest")]
impl KsefClient<ksef_transport::ReqwestTransport> {
    /// Async [`Self::send_batch_streaming_blocking`]: the package is built on a blocking
    /// thread (`spawn_blocking`) into temp files, and each part is streamed from its file in
    /// chunks ([`ksef_transport::reqwest_transport::STREAM_CHUNK`]) instead of being read into
    /// memory; up to `parallelism` parts upload at once, each retried `upload_attempts` times.
    /// Peak memory does not grow with the batch.
    ///
    /// Needs a tokio runtime.
    ///
    /// # Errors
    /// As [`Self::send_batch_blocking`].
    pub async fn send_batch_streaming(
        &self,
        form_code: FormCode,
        invoices: Vec<BatchInvoice>,
        opts: &BatchOptions,
    ) -> Result<BatchReport, Error> {
        let key = Arc::new(SessionKey::generate(&mut rand::rng())?);
        let pkg = {
            let (key, opts) = (Arc::clone(&key), opts.clone());
            tokio::task::spawn_blocking(move || build_package(&key, &opts, invoices))
                .await
                .map_err(|e| Error::Config(format!("packaging task failed: {e}")))??
        };
        let resp = self.open_batch(&key, form_code, &pkg, opts).await?;
        self.upload_package_streaming(&pkg, &resp, opts.parallelism, opts.upload_attempts).await?;
        self.finish_batch(&resp.reference_number.to_string(), &pkg).await
    }

    /// Uploads every part of a package kept in files ([`TempFileSink`] or
    /// [`crate::batch::DirSink`]) to the URLs of an opened batch session, streaming each file,
    /// at most `parallelism` (at least 1) at once, each retried `attempts` times.
    ///
    /// # Errors
    /// [`Error::Protocol`] if the session lists no URL for a part; the first failed upload.
    pub async fn upload_package_streaming<P: PartFile + Sync>(
        &self,
        pkg: &BatchPackage<P>,
        session: &OpenBatchSessionResponse,
        parallelism: usize,
        attempts: u32,
    ) -> Result<(), Error> {
        use futures_util::StreamExt;
        let plan = plan(pkg, session)?;
        let results: Vec<Result<(), Error>> = futures_util::stream::iter(plan.iter())
            .map(|(part, up)| self.upload_part_file(part.part_path(), up, attempts))
            .buffer_unordered(parallelism.max(1))
            .collect()
            .await;
        results.into_iter().collect::<Result<Vec<()>, Error>>().map(drop)
    }

    /// Async [`Self::upload_part_file_blocking`]: the file is read with `tokio::fs` and sent as
    /// a streaming body with `Content-Length`.
    ///
    /// # Errors
    /// As [`Self::upload_part_file_blocking`].
    pub async fn upload_part_file(&self, path: &Path, up: &PartUploadRequest, attempts: u32) -> Result<(), Error> {
        let mut attempt = 0;
        loop {
            match self.stream_part_async(path, up).await {
                Ok(()) => return Ok(()),
                Err(e) if attempt + 1 < attempts.max(1) && is_transient(&e) => {
                    self.sleep(backoff(attempt)).await;
                    attempt += 1;
                }
                Err(e) => return Err(e),
            }
        }
    }

    async fn stream_part_async(&self, path: &Path, up: &PartUploadRequest) -> Result<(), Error> {
        let file = tokio::fs::File::open(path).await.map_err(|e| part_io(path, &e))?;
        let len = file.metadata().await.map_err(|e| part_io(path, &e))?.len();
        let req = streaming_head(up, len, self.url_policy())?;
        let resp = self
            .inner
            .transport
            .send_reader(req, file)
            .await
            .map_err(|e| Error::Api(ksef_transport::Error::from_transport(e)))?;
        ksef_transport::parse_presigned(resp)?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn status(code: i32) -> StatusInfo {
        serde_json::from_value(serde_json::json!({"code": code, "description": "d", "details": ["x"]})).unwrap()
    }

    #[test]
    fn batch_failure_codes_are_typed_with_their_meaning() {
        for code in [405, 415, 420, 430, 435, 440, 445, 500] {
            let f = failure("R", &status(code), batch_failure_meaning(code).unwrap());
            assert_eq!(f.code, code);
            assert_eq!(f.details, ["x"]);
            assert!(f.to_string().contains(f.meaning));
        }
        assert_eq!(batch_failure_meaning(200), None);
    }

    #[test]
    fn batch_445_is_final_and_reported_other_failures_are_errors() {
        let st = |code: i32| -> SessionStatusResponse {
            serde_json::from_value(serde_json::json!({
                "status": {"code": code, "description": "d"},
                "dateCreated": "2026-12-03T06:00:00Z", "dateUpdated": "2026-12-03T06:00:00Z"
            }))
            .unwrap()
        };
        assert!(matches!(batch_final("R", &st(150)), Ok(None)));
        assert!(matches!(batch_final("R", &st(200)), Ok(Some(()))));
        assert!(matches!(batch_final("R", &st(445)), Ok(Some(()))));
        assert!(matches!(batch_final("R", &st(405)), Err(Error::BatchFailed(f)) if f.code == 405));
    }

    #[test]
    fn export_statuses() {
        let st = |code: i32, package: bool| -> InvoiceExportStatusResponse {
            let mut v = serde_json::json!({"status": {"code": code, "description": "d"}});
            if package {
                v["package"] = serde_json::json!({"compressionType": "Zip", "invoiceCount": 0, "isTruncated": false, "parts": [], "size": 0});
            }
            serde_json::from_value(v).unwrap()
        };
        assert!(matches!(export_final("R", &st(100, false)), Ok(None)));
        assert!(matches!(export_final("R", &st(200, true)), Ok(Some(_))));
        assert!(matches!(export_final("R", &st(200, false)), Err(Error::Protocol(_))));
        for code in [210, 415, 420, 500, 550] {
            match export_final("R", &st(code, false)) {
                Err(Error::ExportFailed(f)) => assert_eq!(Some(f.meaning), export_failure_meaning(code)),
                other => panic!("{code}: {other:?}"),
            }
        }
    }

    #[test]
    fn retries_only_transient_errors() {
        let build: ksef_transport::Error = ksef_transport::BuildError::UrlRefused("x".into()).into();
        assert!(!is_transient(&Error::Api(build)));
        assert!(!is_transient(&Error::Config("x".into())));
        assert!(backoff(0) < backoff(1) && backoff(10) == backoff(6));
    }

    #[test]
    fn sync_filters_use_permanent_storage_and_the_hwm() {
        let from = chrono::Utc::now();
        let f = sync_filters(crate::sync::SubjectCheckpoint::new(from).next_range(), InvoiceQuerySubjectType::Subject2)
            .unwrap();
        let v = serde_json::to_value(&f).unwrap();
        assert_eq!(v["subjectType"], "Subject2");
        assert_eq!(v["dateRange"]["dateType"], "PermanentStorage");
        assert_eq!(v["dateRange"]["restrictToPermanentStorageHwmDate"], true);
    }
}
