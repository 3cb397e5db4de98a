//! CLI fault soak (issue #8 point 1): `ksef send` processes (online and batch runs mixed) send N
//! invoices to an emulator that injects 5xx answers, dropped connections, responses lost after
//! the state change (invoice send, session close), 429s with `Retry-After` and latency, and whose
//! access tokens live 10 s (half the runs use the stored tokens of an earlier run, refreshed
//! across processes; the others log in with `--nip`). The emulator runs in the test process,
//! every `ksef` in its own. The recovery is the CLI user's: rerun the same command until it
//! succeeds (the journal resumes). At the end every invoice must have exactly one KSeF number in
//! the emulator's SQLite store, equal to the journal's, and nothing may be missing.
//!
//! `send_soak_500` runs in the normal suite (about 35 s); the full figure:
//! `KSEF_CLI_SOAK_INVOICES=10000 cargo test -p ksef-cli --test it send_soak_full -- --ignored --nocapture`.

use std::collections::BTreeMap;
use std::time::Instant;

use ksef_emulator::config::TokenLifetimes;
use ksef_emulator::faults::{HttpFaultRule, HttpFaults};

use super::crash_process::{NIP, invoice, ksef_numbers_in_store, status_rows};
use super::ksef;

/// Invoices per online run and per batch run.
const ONLINE_CHUNK: usize = 20;
const BATCH_CHUNK: usize = 100;
/// Reruns of one command before the soak gives up on it.
const MAX_ATTEMPTS: u32 = 40;

fn faults(seed: u64) -> HttpFaults {
    let base = HttpFaultRule {
        error_5xx_rate: 0.05,
        drop_rate: 0.02,
        too_many_requests_rate: 0.01,
        retry_after_seconds: Some(1),
        ..HttpFaultRule::default()
    };
    let lossy = HttpFaultRule { lost_response_rate: 0.03, ..base.clone() };
    let slow = HttpFaultRule { latency_ms: 100, ..base.clone() };
    HttpFaults { seed, ..HttpFaults::default() }
        // The pre-signed storage host (batch part uploads, UPO downloads): 5xx, drops and
        // uploads stored whose answer is lost.
        .rule(
            "storage",
            HttpFaultRule {
                error_5xx_rate: 0.05,
                drop_rate: 0.02,
                lost_response_rate: 0.02,
                ..HttpFaultRule::default()
            },
        )
        .rule("*", base)
        .rule("send_invoice", lossy.clone())
        .rule("close_online_session", lossy.clone())
        .rule("close_batch_session", lossy)
        .rule("open_online_session", slow.clone())
        .rule("open_batch_session", slow)
}

/// The kind of failure a rerun recovered from, from the CLI's error line.
fn kind(stderr: &str, code: Option<i32>) -> String {
    let line = stderr.lines().rev().find(|l| l.starts_with("error:")).unwrap_or("").to_ascii_lowercase();
    let k = if line.contains("429") || code == Some(5) {
        "rate limited (exit 5)"
    } else if line.contains("503") || line.contains("5xx") || line.contains("server error") {
        "5xx"
    } else if line.contains("connection") || line.contains("transport") || line.contains("timed out") {
        "connection dropped / response lost"
    } else if code == Some(4) {
        "authentication (exit 4)"
    } else {
        "other"
    };
    format!("{k}: exit {}", code.map_or_else(|| "signal".into(), |c| c.to_string()))
}

/// The kind of failure behind one of the client's retries (a `retrying` warning line).
fn retry_kind(line: &str) -> &'static str {
    if line.contains("HTTP 429") {
        "429"
    } else if line.contains("HTTP 5") {
        "5xx"
    } else if line.contains("transport failed") || line.contains("timed out") {
        "connection dropped / response lost"
    } else {
        "other"
    }
}

fn soak(n: usize) {
    let seed: u64 = std::env::var("KSEF_CLI_SOAK_SEED").ok().and_then(|s| s.parse().ok()).unwrap_or(20_261_203);
    let started = Instant::now();
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("emulator");
    let lifetimes = TokenLifetimes { access: chrono::Duration::seconds(10), ..TokenLifetimes::default() };
    let emu = ksef_emulator::Emulator::builder()
        .data_dir(&data)
        .lifetimes(lifetimes)
        .rate_limits(false)
        .http_faults(faults(seed))
        .start()
        .unwrap();
    let url = emu.base_url();
    let state = dir.path().join("state");
    ksef(&state).args(["--env", &url, "identity", "new", "--nip", NIP, "--seal", "--ec"]).assert().success();
    let today = chrono::Utc::now().date_naive();
    // Invoice number -> file path.
    let mut numbers: BTreeMap<String, String> = BTreeMap::new();
    let mut reruns: BTreeMap<String, u64> = BTreeMap::new();
    let mut retries: BTreeMap<&str, u64> = BTreeMap::new();
    let (mut sent, mut chunk, mut runs) = (0usize, 0usize, [0usize; 2]);
    while sent < n {
        let batch = chunk % 2 == 1;
        let size = (if batch { BATCH_CHUNK } else { ONLINE_CHUNK }).min(n - sent);
        let chunk_dir = dir.path().join(format!("chunk-{chunk:04}"));
        std::fs::create_dir_all(&chunk_dir).unwrap();
        for i in 0..size {
            let number = format!("SK/{seed}/{chunk}/{i}");
            let path = chunk_dir.join(format!("invoice-{i:04}.xml"));
            std::fs::write(&path, invoice::sample_fa3(NIP, &number, today)).unwrap();
            numbers.insert(number, std::fs::canonicalize(&path).unwrap().display().to_string());
        }
        let mode = if batch { "batch" } else { "online" };
        // Every other pair of runs uses the tokens stored by an earlier run (refreshed across
        // processes: they expire after 10 s) instead of logging in with --nip; `ksef auth login`
        // when there are none (after an exit 4).
        let stored = chunk % 4 >= 2;
        let mut attempt = 0;
        loop {
            attempt += 1;
            if stored && !state.join("tokens").read_dir().is_ok_and(|mut d| d.next().is_some()) {
                let out = ksef(&state).args(["--env", &url, "auth", "login", "--nip", NIP]).output().unwrap();
                *reruns
                    .entry(if out.status.success() { "auth login".into() } else { "auth login failed".into() })
                    .or_insert(0) += 1;
                continue;
            }
            let mut cmd = ksef(&state);
            // Batch packages of several parts (their uploads meet the storage host's faults).
            cmd.env("KSEF_CLI_TEST_PART_SIZE", "16000").args(["--env", &url, "send", "--mode", mode]);
            if !stored {
                cmd.args(["--nip", NIP]);
            }
            let out = cmd.arg(&chunk_dir).output().unwrap();
            let stderr = String::from_utf8_lossy(&out.stderr).to_string();
            // The client's own retries (the pipeline logs each one as a warning).
            for line in stderr.lines().filter(|l| l.contains("retrying")) {
                *retries.entry(retry_kind(line)).or_insert(0) += 1;
            }
            if out.status.success() {
                break;
            }
            assert_ne!(out.status.code(), Some(3), "chunk {chunk}: invoices rejected: {stderr}");
            assert!(attempt < MAX_ATTEMPTS, "chunk {chunk} ({mode}) failed {attempt} times; last: {stderr}");
            if std::env::var_os("KSEF_CLI_SOAK_DEBUG").is_some() {
                eprintln!("chunk {chunk} attempt {attempt}: {stderr}");
            }
            *reruns.entry(kind(&stderr, out.status.code())).or_insert(0) += 1;
            if stored && out.status.code() == Some(4) {
                // The stored tokens were refused (e.g. a refresh whose answer was lost): log in again.
                let _ = std::fs::remove_dir_all(state.join("tokens"));
            }
        }
        runs[usize::from(batch)] += 1;
        sent += size;
        chunk += 1;
    }
    let injected = emu.fault_stats();
    let on_storage: Vec<_> =
        emu.fault_stats_by_operation().into_iter().filter(|(op, _)| op.starts_with("storage")).collect();
    drop(emu);
    let store = ksef_numbers_in_store(&data);
    // The journal: every file accepted, with the number KSeF has for it.
    let journal: BTreeMap<String, (String, Option<String>)> = status_rows(&state)
        .into_iter()
        .map(|r| {
            let path = r["path"].as_str().unwrap().to_string();
            (path, (r["state"].as_str().unwrap().to_string(), r["ksef_number"].as_str().map(String::from)))
        })
        .collect();
    let (mut duplicates, mut lost, mut mismatched) = (0, 0, Vec::new());
    for (number, path) in &numbers {
        match store.get(number).map(Vec::as_slice) {
            None => lost += 1,
            Some([k]) => {
                if journal.get(path) != Some(&("accepted".to_string(), Some(k.clone()))) {
                    mismatched.push(format!("{number}: KSeF {k}, journal {:?}", journal.get(path)));
                }
            }
            Some(ks) => duplicates += ks.len() - 1,
        }
    }
    let foreign = store.keys().filter(|k| !numbers.contains_key(*k)).count();
    eprintln!(
        "CLI soak (seed {seed}): {n} invoices in {} online and {} batch runs, {:?} wall time\n  \
         client retries: {retries:?}\n  CLI reruns by failure: {reruns:?}\n  injected faults: {injected:?}\n  \
         of which on the storage host: {on_storage:?}\n  duplicates {duplicates}, lost {lost}, journal mismatches {}, foreign {foreign}",
        runs[0],
        runs[1],
        started.elapsed(),
        mismatched.len()
    );
    assert_eq!(duplicates, 0, "invoices with more than one KSeF number");
    assert_eq!(lost, 0, "invoices without a KSeF number");
    assert!(mismatched.is_empty(), "{mismatched:#?}");
    assert_eq!(foreign, 0, "KSeF holds invoices the soak did not send");
}

/// A quick sanity check of the classification used in the report.
#[test]
fn soak_failure_kinds() {
    assert!(kind("error: rate limit exceeded (HTTP 429): wait", Some(5)).starts_with("rate limited"));
    assert!(kind("x\nerror: KSeF answered 503 Service Unavailable", Some(1)).starts_with("5xx"));
    assert!(kind("error: transport: connection reset", Some(1)).starts_with("connection"));
    assert!(kind("error: ???", Some(1)).starts_with("other"));
    assert_eq!(retry_kind("WARN retrying attempt=1 error=KSeF answered HTTP 503 to `x`"), "5xx");
    assert_eq!(
        retry_kind("WARN retrying error=the transport failed (the request may have been sent)"),
        "connection dropped / response lost"
    );
}

#[test]
fn send_soak_500() {
    soak(500);
}

#[test]
#[ignore = "10,000 invoices (KSEF_CLI_SOAK_INVOICES); run with --ignored"]
fn send_soak_full() {
    let n = std::env::var("KSEF_CLI_SOAK_INVOICES").ok().and_then(|s| s.parse().ok()).unwrap_or(10_000);
    soak(n);
}
