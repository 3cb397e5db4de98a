//! `ksef send --mode batch`: pending files are packed into an encrypted batch package whose
//! parts are written into the state dir ([`ksef_client::batch::DirSink`]), then the session is
//! opened, the parts uploaded, the session closed and its per-invoice results fetched. Every
//! step is journaled before and after its remote call, so a rerun continues from any point:
//!
//! - `building`: the package was not complete; it is rebuilt (its files are still `pending`).
//! - `built`/`opening`: the stored open request (AES key RSA-wrapped for KSeF) is sent (again);
//!   a session opened by a lost answer never gets parts or a close, so KSeF processes nothing
//!   in it.
//! - `opened`: parts not yet `uploaded` are uploaded from their files (the very bytes declared
//!   in the open request, checked against the journaled hash); a part the storage refuses as
//!   already uploaded (400: an interrupted upload, or a retry after a lost answer) counts as
//!   uploaded, and the close verifies it. A dead upload window (403) or a
//!   session KSeF cancelled: the session status says what KSeF has; a session that was never
//!   closed holds nothing, so the batch is `abandoned` and its files go into a new package.
//! - `closing`: the session status tells whether the close arrived (status no longer 100). A
//!   close refused for a missing part (21205) or a passed upload window (21208) means the
//!   session can never be processed: it is abandoned as above.
//! - `closed`: the status is polled to a final code, then every invoice's outcome is read
//!   (session invoices and failed invoices); a duplicate (440) takes the original KSeF number;
//!   an invoice KSeF does not report goes back to `pending` (sending it again is safe: KSeF
//!   answers a duplicate with the original number).

use std::collections::HashMap;
use std::io::IsTerminal as _;
use std::path::Path;
use std::time::Duration;

use ksef_client::batch::{BatchBuilder, BatchLimits, Compression, DirSink, MAX_INVOICES};
use ksef_client::{FormCode, InvoiceRejection};
use ksef_model::operations::{CloseBatchSession, CloseBatchSessionParams, OpenBatchSession};
use ksef_model::types::{OpenBatchSessionRequest, OpenBatchSessionResponse, SessionInvoiceStatusResponse};

use crate::journal::{BatchRow, FileRow, Journal, Outcome, PartRow};
use crate::send::{checkpoint, jerr, progress, sha256_b64};
use crate::{Connection, Failure, Output, exit};

/// `--mode auto` sends online up to this many files, in a batch above.
pub(crate) const AUTO_BATCH_ABOVE: usize = 20;

/// Batch sessions one invocation may see die before processing before it gives up.
const MAX_ABANDONED: usize = 3;

/// Upload attempts per part (transient failures).
const UPLOAD_ATTEMPTS: u32 = 5;

/// The form code named `name` (`FA2`, `FA3`, `PEF`, `PEF_KOR`, `FA_RR`).
pub(crate) fn form_code(name: &str) -> Result<FormCode, Failure> {
    Ok(match name {
        "FA2" => FormCode::Fa2,
        "FA3" => FormCode::Fa3,
        "PEF" => FormCode::Pef3,
        "PEF_KOR" => FormCode::PefKor3,
        "FA_RR" => FormCode::FaRr1,
        other => return Err(Failure::new(exit::USAGE, format!("unknown form code {other:?}"))),
    })
}

fn compression(name: &str) -> Compression {
    if name == "targz" { Compression::TarGz } else { Compression::Zip }
}

fn bad_json(what: &str) -> impl FnOnce(serde_json::Error) -> Failure + '_ {
    move |e| Failure::new(exit::ERROR, format!("journal: stored {what}: {e}"))
}

/// What a batch step tells the driver to do next.
enum Next {
    /// Reload the batch from the journal and continue with its new state.
    Continue,
    /// This batch is finished (`done` or `abandoned`).
    Stop,
}

/// Sends the run's pending files in batch packages and drives every unfinished package of the
/// run to its end; returns when no file of the run is `pending` or `batched`.
pub(crate) fn drive(
    conn: &Connection,
    journal: &mut Journal,
    run: i64,
    state_dir: &Path,
    output: Output,
) -> Result<(), Failure> {
    // Each round: finish what is open, then pack what is pending. A package abandoned because
    // its session died sends its files back to pending; a KSeF that keeps killing sessions
    // stops the run after a few (a rerun continues).
    let abandoned = |j: &Journal| -> Result<usize, Failure> {
        Ok(j.batches(run).map_err(jerr)?.iter().filter(|b| b.state == "abandoned").count())
    };
    let abandoned_at_start = abandoned(journal)?;
    loop {
        for b in journal.batches(run).map_err(jerr)? {
            if b.state == "building" {
                tracing::info!(batch = b.id, "incomplete package from an interrupted run: rebuilding");
                journal.drop_building_batch(b.id).map_err(jerr)?;
            }
        }
        for b in journal.batches(run).map_err(jerr)? {
            if b.state != "done" && b.state != "abandoned" {
                drive_batch(conn, journal, run, b.id, output)?;
            }
        }
        let pending: Vec<FileRow> =
            journal.files(Some(run)).map_err(jerr)?.into_iter().filter(|r| r.state == "pending").collect();
        if pending.is_empty() {
            return Ok(());
        }
        if abandoned(journal)? >= abandoned_at_start + MAX_ABANDONED {
            return Err(Failure::new(
                exit::ERROR,
                format!("{MAX_ABANDONED} batch sessions died before processing; see `ksef status --runs`, then rerun"),
            ));
        }
        build(conn, journal, run, state_dir, &pending, output)?;
    }
}

/// Packs up to [`MAX_INVOICES`] (KSeF's per-session limit) pending files into a new package
/// (parts in the state dir) and journals it with its open request, in one transaction.
fn build(
    conn: &Connection,
    journal: &mut Journal,
    run: i64,
    state_dir: &Path,
    pending: &[FileRow],
    output: Output,
) -> Result<(), Failure> {
    let opts = journal.run_options(run).map_err(jerr)?;
    let form = form_code(&opts.form)?;
    let dir = state_dir.join("batches").join(format!("run-{run}"));
    std::fs::create_dir_all(&dir)?;
    let batch = journal.new_batch(run, &dir.display().to_string()).map_err(jerr)?;
    checkpoint("batch-building");
    let key = ksef_crypto::SessionKey::generate(&mut rand::rng()).map_err(crate::fail(exit::ERROR))?;
    let mut limits = BatchLimits::default();
    // Test hook: small parts, to exercise multi-part uploads and crashes between parts.
    if let Some(n) = std::env::var("KSEF_CLI_TEST_PART_SIZE").ok().and_then(|v| v.parse::<u64>().ok()) {
        limits.max_part_size = n.max(16);
    }
    // Test hook: fewer invoices per package, to exercise runs of several packages.
    if let Some(n) = std::env::var("KSEF_CLI_TEST_MAX_INVOICES").ok().and_then(|v| v.parse::<usize>().ok()) {
        limits.max_invoices = n.clamp(1, MAX_INVOICES);
    }
    let sink = DirSink::new(&dir, format!("b{batch}"));
    let mut builder = BatchBuilder::with_limits(&key, compression(&opts.archive), sink, limits);
    let chunk = &pending[..pending.len().min(limits.max_invoices)];
    let bar = progress(output, chunk.len(), "packaging");
    let mut entries = Vec::with_capacity(chunk.len());
    for (i, row) in chunk.iter().enumerate() {
        let bytes = std::fs::read(&row.path)?;
        if sha256_b64(&bytes) != row.sha256 {
            return Err(Failure::new(exit::ERROR, format!("{} changed since the run started", row.path)));
        }
        let base = Path::new(&row.path).file_name().and_then(|n| n.to_str()).unwrap_or("invoice.xml");
        // Unique within the package and within the 255-byte entry-name limit.
        let entry = format!("{:05}-{}", i + 1, tail(base, 240));
        builder.add_invoice(&entry, &bytes).map_err(|e| Failure::new(exit::ERROR, crate::error_chain(&e)))?;
        entries.push((row.path.clone(), entry));
        bar.inc(1);
    }
    let package = builder.finish().map_err(|e| Failure::new(exit::ERROR, crate::error_chain(&e)))?;
    bar.finish_and_clear();
    let request = conn.client.batch_open_request_blocking(&key, form, &package, opts.offline)?;
    drop(key);
    let request = serde_json::to_string(&request).map_err(|e| Failure::new(exit::ERROR, e.to_string()))?;
    let parts: Vec<PartRow> = package
        .parts
        .iter()
        .map(|p| PartRow {
            ordinal: i64::from(p.ordinal),
            path: p.location.display().to_string(),
            sha256: p.encrypted.sha256_b64(),
            size: i64::try_from(p.encrypted.size).unwrap_or(i64::MAX),
            state: "built".into(),
        })
        .collect();
    journal.batch_built(batch, run, &request, &parts, &entries).map_err(jerr)?;
    tracing::info!(batch, parts = parts.len(), invoices = entries.len(), "batch package built");
    checkpoint("batch-built");
    Ok(())
}

/// The longest suffix of `s` of at most `max` bytes (on a character boundary).
fn tail(s: &str, max: usize) -> &str {
    let mut start = s.len().saturating_sub(max);
    while !s.is_char_boundary(start) {
        start += 1;
    }
    &s[start..]
}

fn load(journal: &Journal, run: i64, batch: i64) -> Result<BatchRow, Failure> {
    journal
        .batches(run)
        .map_err(jerr)?
        .into_iter()
        .find(|b| b.id == batch)
        .ok_or_else(|| Failure::new(exit::ERROR, format!("journal: batch {batch} vanished")))
}

fn drive_batch(conn: &Connection, journal: &mut Journal, run: i64, batch: i64, output: Output) -> Result<(), Failure> {
    // Every step moves the batch forward or ends it; the cap guards against a KSeF that keeps
    // answering inconsistently.
    for _ in 0..50 {
        let b = load(journal, run, batch)?;
        let next = match b.state.as_str() {
            "built" | "opening" => open(conn, journal, &b)?,
            "opened" => upload(conn, journal, &b, output)?,
            "closing" => close(conn, journal, &b)?,
            "closed" => results(conn, journal, run, &b, output)?,
            _ => Next::Stop,
        };
        if let Next::Stop = next {
            return Ok(());
        }
    }
    Err(Failure::new(exit::ERROR, format!("batch {batch} made no progress; see `ksef status --runs`")))
}

fn open(conn: &Connection, journal: &Journal, b: &BatchRow) -> Result<Next, Failure> {
    let request: OpenBatchSessionRequest =
        serde_json::from_str(b.open_request.as_deref().unwrap_or_default()).map_err(bad_json("open request"))?;
    if b.state == "opening" {
        tracing::info!(batch = b.id, "the open of an interrupted run may have been lost: opening again");
    }
    journal.set_batch_state(b.id, "opening").map_err(jerr)?;
    checkpoint("batch-opening");
    let resp = conn.client.call_blocking::<OpenBatchSession>(&(), request)?.value;
    let json = serde_json::to_string(&resp).map_err(|e| Failure::new(exit::ERROR, e.to_string()))?;
    journal.batch_opened(b.id, &resp.reference_number, &json).map_err(jerr)?;
    tracing::info!(batch = b.id, session = &*resp.reference_number, "batch session opened");
    checkpoint("batch-opened");
    Ok(Next::Continue)
}

fn session_of(b: &BatchRow) -> Result<&str, Failure> {
    b.session_ref.as_deref().ok_or_else(|| Failure::new(exit::ERROR, format!("journal: batch {} has no session", b.id)))
}

fn upload(conn: &Connection, journal: &mut Journal, b: &BatchRow, output: Output) -> Result<Next, Failure> {
    let session = session_of(b)?;
    let resp: OpenBatchSessionResponse =
        serde_json::from_str(b.open_response.as_deref().unwrap_or_default()).map_err(bad_json("open response"))?;
    let todo: Vec<&PartRow> = b.parts.iter().filter(|p| p.state != "uploaded").collect();
    let bar = progress(output, b.parts.len(), "uploading");
    bar.set_position((b.parts.len() - todo.len()) as u64);
    for part in todo {
        let Some(up) = resp.part_upload_requests.iter().find(|u| i64::from(u.ordinal_number.get()) == part.ordinal)
        else {
            return Err(Failure::new(exit::ERROR, format!("KSeF gave no upload URL for part {}", part.ordinal)));
        };
        let bytes = std::fs::read(&part.path).ok();
        if bytes.as_deref().map(sha256_b64).as_deref() != Some(part.sha256.as_str()) {
            // The declared bytes are gone: this session can never be completed.
            tracing::warn!(part = part.path, "stored part missing or changed: the batch is packed again");
            return session_dead(conn, journal, b);
        }
        journal.set_part_state(b.id, part.ordinal, "uploading").map_err(jerr)?;
        checkpoint("part-uploading");
        match conn.client.upload_batch_part_blocking(Path::new(&part.path), up, UPLOAD_ATTEMPTS) {
            Ok(()) => {}
            // The storage refuses a second upload of a part (an interrupted run's, or a retry
            // after a lost answer): counted as stored; the close verifies it (21205 otherwise).
            Err(e) if e.status().map(|s| s.as_u16()) == Some(400) => {
                tracing::info!(part = part.ordinal, "part refused as already stored: {e}");
            }
            Err(e) if e.status().map(|s| s.as_u16()) == Some(403) => {
                tracing::warn!(session, "upload refused (upload window over?): {e}");
                return session_dead(conn, journal, b);
            }
            Err(e) => return Err(e.into()),
        }
        checkpoint("part-upload-sent");
        journal.set_part_state(b.id, part.ordinal, "uploaded").map_err(jerr)?;
        checkpoint("part-uploaded");
        bar.inc(1);
    }
    bar.finish_and_clear();
    journal.set_batch_state(b.id, "closing").map_err(jerr)?;
    Ok(Next::Continue)
}

/// The session cannot take (more) parts: what does KSeF have? A session still at 100 (never
/// closed) or cancelled (440) holds no invoice, so the batch is abandoned and its files packed
/// again; one that was closed goes on to its results.
fn session_dead(conn: &Connection, journal: &mut Journal, b: &BatchRow) -> Result<Next, Failure> {
    let st = conn.client.session_status_blocking(session_of(b)?)?;
    match st.status.code {
        100 | 440 => {
            tracing::warn!(batch = b.id, code = st.status.code, "KSeF has no invoice of this batch: packing again");
            journal.abandon_batch(b.id).map_err(jerr)?;
            Ok(Next::Stop)
        }
        _ => {
            journal.set_batch_state(b.id, "closed").map_err(jerr)?;
            Ok(Next::Continue)
        }
    }
}

fn close(conn: &Connection, journal: &mut Journal, b: &BatchRow) -> Result<Next, Failure> {
    let session = session_of(b)?;
    checkpoint("batch-closing");
    // A close of an interrupted run may have arrived: the status says (100 = still open).
    let st = conn.client.session_status_blocking(session)?;
    if st.status.code == 100 {
        let params = CloseBatchSessionParams { reference_number: session.to_string() };
        match conn.client.call_blocking::<CloseBatchSession>(&params, ()) {
            Ok(_) => {}
            Err(e) => {
                let codes = e.exception_codes();
                if codes.contains(&21205) || codes.contains(&21208) {
                    // A part we journaled as uploaded is missing (an interrupted upload that did
                    // not land), or the upload window is over: the session can never be closed,
                    // it holds nothing; the status confirms it and the files are packed again.
                    tracing::warn!(session, "batch session cannot be closed ({codes:?}): {e}");
                    return session_dead(conn, journal, b);
                }
                if !codes.contains(&21180) {
                    return Err(e.into());
                }
                // 21180: the status no longer allows a close, i.e. it was closed meanwhile.
            }
        }
        checkpoint("batch-close-sent");
    } else {
        tracing::info!(session, code = st.status.code, "the close of an interrupted run had arrived");
    }
    journal.set_batch_state(b.id, "closed").map_err(jerr)?;
    checkpoint("batch-closed");
    Ok(Next::Continue)
}

fn results(conn: &Connection, journal: &mut Journal, run: i64, b: &BatchRow, output: Output) -> Result<Next, Failure> {
    let session = session_of(b)?;
    let bar = if output == Output::Json || !std::io::stderr().is_terminal() {
        indicatif::ProgressBar::hidden()
    } else {
        indicatif::ProgressBar::new_spinner()
    };
    bar.set_message(format!("KSeF is processing batch session {session}"));
    let mut delay = Duration::from_millis(200);
    let mut waited = Duration::ZERO;
    let st = loop {
        checkpoint("batch-polling");
        let st = conn.client.session_status_blocking(session)?;
        match st.status.code {
            100 => {
                // Journaled as closed but KSeF still has it open: close again.
                journal.set_batch_state(b.id, "closing").map_err(jerr)?;
                return Ok(Next::Continue);
            }
            200 | 445 => break st,
            440 => return session_dead(conn, journal, b),
            c if c >= 300 => {
                // The whole package failed verification (bad parts, key, archive...): KSeF
                // processed none of its invoices; each file carries the session's reason.
                let details = st.status.details.clone().unwrap_or_default().join("; ");
                journal.batch_status(b.id, i64::from(c), &st.status.description).map_err(jerr)?;
                for f in journal.files(Some(run)).map_err(jerr)? {
                    if f.batch_id == Some(b.id) && f.state == "batched" {
                        journal
                            .mark_rejected(run, &f.path, i64::from(c), &st.status.description, &details)
                            .map_err(jerr)?;
                    }
                }
                journal.set_batch_state(b.id, "done").map_err(jerr)?;
                return Ok(Next::Stop);
            }
            _ => {}
        }
        if waited > Duration::from_secs(3600) {
            return Err(Failure::new(
                exit::ERROR,
                format!("batch session {session} still processing after an hour; rerun later"),
            ));
        }
        bar.tick();
        std::thread::sleep(delay);
        waited += delay;
        delay = (delay * 2).min(Duration::from_secs(5));
    };
    bar.finish_and_clear();
    journal.batch_status(b.id, i64::from(st.status.code), &st.status.description).map_err(jerr)?;
    let listed = conn.client.session_invoice_statuses_blocking(session)?;
    checkpoint("batch-results");
    let index = StatusIndex::new(&listed);
    let mut outcomes = Vec::new();
    for f in journal.files(Some(run)).map_err(jerr)? {
        if f.batch_id != Some(b.id) || f.state != "batched" {
            continue;
        }
        let path = f.path.clone();
        let o = match index.find(&f).map(ksef_client::online::invoice_outcome) {
            Some(Some(Ok(acc))) => Outcome::Accepted {
                path,
                session: session.to_string(),
                invoice_ref: acc.reference_number,
                ksef_number: acc.ksef_number.as_str().to_string(),
            },
            Some(Some(Err(ksef_client::Error::InvoiceRejected(rej)))) => outcome_of_rejection(path, session, &rej),
            other => {
                let what = if matches!(other, Some(Some(Err(_)))) { "an unreadable outcome" } else { "no outcome" };
                tracing::warn!(file = f.path, session, "KSeF reports {what}: the invoice is sent again");
                Outcome::Requeue { path }
            }
        };
        outcomes.push(o);
    }
    journal.batch_outcomes(run, b.id, &outcomes).map_err(jerr)?;
    checkpoint("batch-done");
    Ok(Next::Stop)
}

/// Invoice statuses of a session by archive entry name and by hash (a final status first).
struct StatusIndex<'a> {
    by_name: HashMap<&'a str, &'a SessionInvoiceStatusResponse>,
    by_hash: HashMap<&'a str, &'a SessionInvoiceStatusResponse>,
}

impl<'a> StatusIndex<'a> {
    fn new(listed: &'a [SessionInvoiceStatusResponse]) -> Self {
        let mut by_name = HashMap::new();
        let mut by_hash = HashMap::new();
        let keep = |m: &mut HashMap<&'a str, &'a SessionInvoiceStatusResponse>, k: &'a str, st| {
            let e = m.entry(k).or_insert(st);
            if e.status.code < 200 {
                *e = st;
            }
        };
        for st in listed {
            match st.invoice_file_name.as_deref() {
                Some(n) => keep(&mut by_name, n.as_str(), st),
                None => keep(&mut by_hash, &st.invoice_hash, st),
            }
        }
        Self { by_name, by_hash }
    }

    /// The status of `f`: by archive entry name, else by hash.
    fn find(&self, f: &FileRow) -> Option<&'a SessionInvoiceStatusResponse> {
        f.entry.as_deref().and_then(|e| self.by_name.get(e)).or_else(|| self.by_hash.get(f.sha256.as_str())).copied()
    }
}

/// A rejection as an outcome; a duplicate (440) takes the original session and KSeF number.
fn outcome_of_rejection(path: String, session: &str, rej: &InvoiceRejection) -> Outcome {
    match (rej.is_duplicate(), rej.extension("originalKsefNumber")) {
        (true, Some(orig)) => Outcome::Accepted {
            path,
            session: rej.extension("originalSessionReferenceNumber").unwrap_or(session).to_string(),
            invoice_ref: rej.reference_number.clone(),
            ksef_number: orig.to_string(),
        },
        _ => Outcome::Rejected {
            path,
            session: session.to_string(),
            invoice_ref: rej.reference_number.clone(),
            code: i64::from(rej.code),
            description: rej.description.clone(),
            details: rej.details.join("; "),
        },
    }
}

/// Journals a rejection; a duplicate (440) takes the original KSeF number instead.
pub(crate) fn rejected(
    journal: &Journal,
    run: i64,
    f: &FileRow,
    session: &str,
    rej: &InvoiceRejection,
) -> Result<(), Failure> {
    if let (true, Some(orig)) = (rej.is_duplicate(), rej.extension("originalKsefNumber")) {
        let orig_session = rej.extension("originalSessionReferenceNumber").unwrap_or(session);
        journal.mark_sent(run, &f.path, orig_session, &rej.reference_number).map_err(jerr)?;
        journal.mark_accepted(run, &f.path, orig).map_err(jerr)
    } else {
        journal.mark_sent(run, &f.path, session, &rej.reference_number).map_err(jerr)?;
        let details = rej.details.join("; ");
        journal.mark_rejected(run, &f.path, i64::from(rej.code), &rej.description, &details).map_err(jerr)
    }
}

#[cfg(test)]
mod tests {
    use super::tail;

    #[test]
    fn tail_keeps_the_end_within_the_byte_limit() {
        assert_eq!(tail("faktura.xml", 240), "faktura.xml");
        let long = format!("{}.xml", "ż".repeat(300));
        let t = tail(&long, 240);
        assert!(t.len() <= 240 && t.ends_with(".xml") && t.starts_with('ż'));
    }
}
