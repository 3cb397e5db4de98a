//! `ksef send` (online or batch, journaled, resumable) and `ksef status`.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use base64::Engine as _;
use ksef_client::SendOptions;
use ksef_model::operations::{
    CloseOnlineSession, CloseOnlineSessionParams, ListSessionInvoices, ListSessionInvoicesParams,
};

use crate::journal::{FileRow, Journal, RunOptions};
use crate::{Connection, Failure, Output, exit};

pub(crate) fn jerr(e: rusqlite::Error) -> Failure {
    Failure::new(exit::ERROR, format!("journal: {e}"))
}

/// `KSEF_CLI_TEST_ABORT_AFTER=<step>:<n>`: abort the process (no cleanup) at the n-th time the
/// named journal step is reached. For crash-resume tests only.
pub(crate) fn checkpoint(step: &str) {
    static COUNTS: Mutex<Option<HashMap<String, u32>>> = Mutex::new(None);
    let Ok(spec) = std::env::var("KSEF_CLI_TEST_ABORT_AFTER") else { return };
    let Some((name, n)) = spec.split_once(':') else { return };
    if name != step {
        return;
    }
    let n: u32 = n.parse().unwrap_or(1);
    let mut g = COUNTS.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
    let c = g.get_or_insert_with(HashMap::new).entry(step.to_string()).or_insert(0);
    *c += 1;
    if *c == n {
        eprintln!("test abort at {step}:{n}");
        std::process::abort();
    }
}

/// The invoice files named by `inputs` (directories: their `*.xml`, sorted).
pub(crate) fn collect_files(inputs: &[PathBuf]) -> Result<Vec<PathBuf>, Failure> {
    let mut out = Vec::new();
    for p in inputs {
        if p.is_dir() {
            let mut v: Vec<PathBuf> = std::fs::read_dir(p)?
                .filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|p| p.extension().is_some_and(|e| e.eq_ignore_ascii_case("xml")))
                .collect();
            v.sort();
            out.extend(v);
        } else {
            out.push(p.clone());
        }
    }
    if out.is_empty() {
        return Err(Failure::new(exit::USAGE, "no invoice files given"));
    }
    Ok(out)
}

pub(crate) fn sha256_b64(bytes: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(ksef_crypto::sha256(bytes))
}

/// What `ksef send` was asked to do.
#[derive(Debug)]
pub(crate) struct SendJob<'a> {
    pub files: &'a [PathBuf],
    pub resume: bool,
    pub opts: &'a SendOptions,
    pub upo_dir: Option<&'a Path>,
    pub output: Output,
    /// `online`, `batch` or `auto` (batch above [`crate::send_batch::AUTO_BATCH_ABOVE`] files).
    pub mode: &'a str,
    /// Form code name (`FA3`, ...).
    pub form: &'a str,
    /// Batch archive: `zip` or `targz`.
    pub archive: &'a str,
    /// Where batch parts are kept (`<state dir>`).
    pub state_dir: &'a Path,
}

/// The outcome of a finished run.
#[derive(Debug)]
pub(crate) struct SendOutcome {
    /// The journal rows of the run.
    pub rows: Vec<FileRow>,
    /// The run's id.
    pub run: i64,
}

/// Sends `files`; every step journaled; resumes an unfinished run of the same files.
pub(crate) fn send(conn: &Connection, env_key: &str, journal: &mut Journal, job: &SendJob<'_>) -> Result<u8, Failure> {
    let out = send_run(conn, env_key, journal, job)?;
    print_rows(&out.rows, job.output)?;
    Ok(if out.rows.iter().any(|r| r.state == "rejected") { exit::PARTIAL } else { exit::OK })
}

/// [`send`] without printing: the run's rows once every file has its outcome.
pub(crate) fn send_run(
    conn: &Connection,
    env_key: &str,
    journal: &mut Journal,
    job: &SendJob<'_>,
) -> Result<SendOutcome, Failure> {
    let SendJob { files, resume, opts, upo_dir, output, .. } = *job;
    let client = &conn.client;
    let mode = match job.mode {
        "auto" if opts.hash_of_corrected_invoice.is_some() => "online",
        "auto" if files.len() > crate::send_batch::AUTO_BATCH_ABOVE => "batch",
        "auto" => "online",
        m => m,
    };
    if mode == "batch" && opts.hash_of_corrected_invoice.is_some() {
        return Err(Failure::new(
            exit::USAGE,
            "--corrects needs --mode online (batch sessions have no per-invoice options)",
        ));
    }
    crate::send_batch::form_code(job.form)?;
    let run_opts = RunOptions {
        mode: mode.into(),
        form: job.form.into(),
        archive: job.archive.into(),
        offline: opts.offline_mode,
        corrects: opts.hash_of_corrected_invoice.clone(),
    };
    let mut listed = Vec::new();
    for f in files {
        let abs = std::fs::canonicalize(f).map_err(|e| Failure::new(exit::ERROR, format!("{}: {e}", f.display())))?;
        let bytes = std::fs::read(&abs)?;
        let size = i64::try_from(bytes.len()).unwrap_or(i64::MAX);
        listed.push((abs.display().to_string(), sha256_b64(&bytes), size));
    }
    let run = match journal.unfinished_run(env_key).map_err(jerr)? {
        Some(id) => {
            let mut known: Vec<String> = journal.files(Some(id)).map_err(jerr)?.into_iter().map(|r| r.path).collect();
            let mut wanted: Vec<String> = listed.iter().map(|l| l.0.clone()).collect();
            known.sort();
            wanted.sort();
            if resume || known == wanted {
                eprintln!("resuming run {id}");
                id
            } else {
                journal.new_run_with(env_key, &listed, &run_opts).map_err(jerr)?
            }
        }
        None if resume && files.is_empty() => return Err(Failure::new(exit::USAGE, "nothing to resume")),
        None => journal.new_run_with(env_key, &listed, &run_opts).map_err(jerr)?,
    };
    // A resumed run continues the way it started.
    let run_opts = journal.run_options(run).map_err(jerr)?;
    let form = crate::send_batch::form_code(&run_opts.form)?;
    let opts = &SendOptions { offline_mode: run_opts.offline, hash_of_corrected_invoice: run_opts.corrects.clone() };

    // 1. Files caught between "sending" and "sent": look them up in their session by hash.
    for row in journal.files(Some(run)).map_err(jerr)? {
        if row.state != "sending" {
            continue;
        }
        let found = match &row.session_ref {
            Some(s) => find_in_session(conn, s, &row.sha256)?,
            None => None,
        };
        match (found, &row.session_ref) {
            (Some(invoice_ref), Some(s)) => {
                tracing::info!(path = %row.path, invoice_ref, "interrupted send found in its session by hash");
                journal.mark_sent(run, &row.path, s, &invoice_ref).map_err(jerr)?;
            }
            _ => journal.mark_pending(run, &row.path).map_err(jerr)?,
        }
    }
    // 2. Already accepted elsewhere in the journal (same environment, same bytes): not resent.
    for row in journal.files(Some(run)).map_err(jerr)? {
        if row.state == "pending"
            && let Some(k) = journal.accepted_by_hash(env_key, &row.sha256).map_err(jerr)?
        {
            journal.mark_accepted(run, &row.path, &k).map_err(jerr)?;
        }
    }
    // 3. Send what is pending (batch: also finish the run's unfinished packages).
    if run_opts.mode == "batch" {
        crate::send_batch::drive(conn, journal, run, job.state_dir, output)?;
    }
    let pending: Vec<FileRow> =
        journal.files(Some(run)).map_err(jerr)?.into_iter().filter(|r| r.state == "pending").collect();
    let mut session = None;
    if !pending.is_empty() {
        let s = client.open_online_session_blocking(form)?;
        journal.set_session(run, &s.reference_number).map_err(jerr)?;
        checkpoint("session-opened");
        let bar = progress(output, pending.len(), "sending");
        for row in &pending {
            bar.set_message(row.path.rsplit('/').next().unwrap_or_default().to_string());
            let bytes = std::fs::read(&row.path)?;
            if sha256_b64(&bytes) != row.sha256 {
                return Err(Failure::new(exit::ERROR, format!("{} changed since the run started", row.path)));
            }
            journal.mark_sending(run, &row.path, &s.reference_number).map_err(jerr)?;
            checkpoint("sending");
            let invoice_ref = client.send_invoice_blocking(&s, &bytes, opts)?;
            checkpoint("sent-unjournaled");
            journal.mark_sent(run, &row.path, &s.reference_number, &invoice_ref).map_err(jerr)?;
            checkpoint("sent");
            bar.inc(1);
        }
        bar.finish_and_clear();
        session = Some(s);
    }
    // 4. Wait for the outcome of every sent invoice.
    let waiting = journal.files(Some(run)).map_err(jerr)?;
    let bar = progress(output, waiting.iter().filter(|r| r.state == "sent").count(), "waiting for KSeF numbers");
    for row in waiting {
        let (Some(s), Some(r)) = (row.session_ref.as_deref(), row.invoice_ref.as_deref()) else { continue };
        if row.state != "sent" {
            continue;
        }
        match client.wait_for_invoice_blocking(s, r) {
            Ok(acc) => journal.mark_accepted(run, &row.path, acc.ksef_number.as_str()).map_err(jerr)?,
            Err(ksef_client::Error::InvoiceRejected(rej)) => {
                crate::send_batch::rejected(journal, run, &row, s, &rej)?;
            }
            Err(e) => return Err(e.into()),
        }
        checkpoint("outcome");
        bar.inc(1);
    }
    bar.finish_and_clear();
    let rows = journal.files(Some(run)).map_err(jerr)?;
    // 5. Close the run's online sessions still open (this one, and those of interrupted
    // invocations), so that KSeF issues their session UPOs; closed ones are left alone.
    let mut online: std::collections::BTreeSet<String> =
        rows.iter().filter(|r| r.batch_id.is_none()).filter_map(|r| r.session_ref.clone()).collect();
    online.extend(session.map(|s| s.reference_number));
    for s in &online {
        match client.session_status_blocking(s) {
            Ok(st) if st.status.code == 100 => {
                let params = CloseOnlineSessionParams { reference_number: s.clone() };
                if let Err(e) = client.call_blocking::<CloseOnlineSession>(&params, ()) {
                    tracing::warn!("closing session {s}: {e}");
                }
            }
            Ok(_) => {}
            Err(e) => tracing::warn!("status of session {s}: {e}"),
        }
    }
    if let Some(dir) = upo_dir {
        for row in &rows {
            if let (Some(k), Some(s)) = (&row.ksef_number, &row.session_ref) {
                let path = dir.join(format!("{k}.xml"));
                if !path.exists() {
                    let upo = client.invoice_upo_by_ksef_number_blocking(s, k)?;
                    crate::write_file(&path, upo.as_bytes(), false)?;
                }
            }
        }
    }
    if let Some(r) = rows.iter().find(|r| r.state != "accepted" && r.state != "rejected") {
        return Err(Failure::new(
            exit::ERROR,
            format!("{} has no outcome yet (state {}); rerun to finish the run", r.path, r.state),
        ));
    }
    journal.finish_run(run).map_err(jerr)?;
    checkpoint("finished");
    // The run is over: its batch parts are no longer needed.
    let parts = job.state_dir.join("batches").join(format!("run-{run}"));
    if parts.exists()
        && let Err(e) = std::fs::remove_dir_all(&parts)
    {
        tracing::warn!("removing {}: {e}", parts.display());
    }
    Ok(SendOutcome { rows, run })
}

/// A progress bar on stderr (hidden in JSON mode and when stderr is not a terminal).
pub(crate) fn progress(output: Output, len: usize, what: &str) -> indicatif::ProgressBar {
    let bar = if output == Output::Json || !std::io::IsTerminal::is_terminal(&std::io::stderr()) {
        indicatif::ProgressBar::hidden()
    } else {
        indicatif::ProgressBar::with_draw_target(Some(len as u64), indicatif::ProgressDrawTarget::stderr())
    };
    if let Ok(style) = indicatif::ProgressStyle::with_template("{prefix} [{bar:30}] {pos}/{len} {msg}") {
        bar.set_style(style.progress_chars("=> "));
    }
    bar.set_prefix(what.to_string());
    bar
}

fn find_in_session(conn: &Connection, session: &str, sha: &str) -> Result<Option<String>, Failure> {
    let mut token = None;
    loop {
        let params = ListSessionInvoicesParams {
            continuation_token: token.take(),
            reference_number: session.to_string(),
            page_size: Some(1000),
        };
        let page = conn.client.call_blocking::<ListSessionInvoices>(&params, ())?.value;
        for inv in &page.invoices {
            if *inv.invoice_hash == *sha {
                return Ok(Some(inv.reference_number.to_string()));
            }
        }
        match page.continuation_token {
            Some(t) if !t.is_empty() => token = Some(t),
            _ => return Ok(None),
        }
    }
}

/// Prints runs with their batch packages (a table, or JSON).
pub(crate) fn print_runs(runs: &[crate::journal::RunRow], output: Output) -> Result<(), Failure> {
    if output == Output::Json {
        let s = serde_json::to_string_pretty(runs).map_err(|e| Failure::new(exit::ERROR, e.to_string()))?;
        println!("{s}");
        return Ok(());
    }
    for r in runs {
        let state = if r.finished { "finished" } else { "unfinished" };
        println!("run {:>4}  {}  {}  {} {} {}  {state}", r.id, r.started, r.env, r.mode, r.form, r.archive);
        if let Some(s) = &r.session_ref {
            println!("          online session {s}");
        }
        for b in &r.batches {
            let uploaded = b.parts.iter().filter(|p| p.state == "uploaded").count();
            let status = match (b.status_code, &b.status_description) {
                (Some(c), Some(d)) => format!("  status {c} {d}"),
                _ => String::new(),
            };
            println!(
                "          batch {:>4}  {:<9} session {}  parts {uploaded}/{}{status}",
                b.id,
                b.state,
                b.session_ref.as_deref().unwrap_or("-"),
                b.parts.len()
            );
        }
    }
    Ok(())
}

/// Prints journal rows (a table, or JSON).
pub(crate) fn print_rows(rows: &[FileRow], output: Output) -> Result<(), Failure> {
    if output == Output::Json {
        let s = serde_json::to_string_pretty(rows).map_err(|e| Failure::new(exit::ERROR, e.to_string()))?;
        println!("{s}");
        return Ok(());
    }
    for r in rows {
        let outcome = match (&r.ksef_number, r.error_code) {
            (Some(k), _) => k.clone(),
            (None, Some(c)) => crate::manage::rejection::format_rejection(
                c,
                r.error_description.as_deref().unwrap_or(""),
                crate::manage::rejection::journal_details(r.error_details.as_deref()),
            ),
            _ => String::new(),
        };
        println!("{:>4}  {:<9} {}  {}", r.run_id, r.state, r.path, outcome.trim_end());
    }
    Ok(())
}
