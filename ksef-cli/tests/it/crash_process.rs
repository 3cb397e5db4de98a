//! Crash tests of `ksef send` against an emulator running as a separate process (issue #7):
//! the CLI is aborted at named journal steps of an online and a batch run, rerun to completion,
//! and then the emulator's own SQLite store must hold exactly one KSeF number per invoice.
//! The helpers are shared with the seeded SIGKILL harness (`crash_harness.rs`).

use std::collections::BTreeMap;
use std::io::BufRead;
use std::path::{Path, PathBuf};
use std::process::{Child, Stdio};

use super::ksef;

#[allow(dead_code)]
#[path = "../../src/invoice.rs"]
pub(crate) mod invoice;

/// The seller NIP of every test invoice (and the identity's context).
pub(crate) const NIP: &str = "5265877635";

/// Plaintext bytes per part in batch runs (`KSEF_CLI_TEST_PART_SIZE`): a few small invoices
/// still make several parts.
pub(crate) const PART_SIZE: &str = "1200";

/// `ksef emulator serve` in its own process, with a SQLite data dir; SIGKILLed on drop.
pub(crate) struct EmulatorProcess {
    child: Child,
    /// Its base URL.
    pub url: String,
    /// Its data dir (`ksef-emulator.sqlite3` inside).
    pub data_dir: PathBuf,
}

impl EmulatorProcess {
    /// Starts the emulator (state and data under `dir`) and waits for its URL.
    pub(crate) fn start(dir: &Path) -> Self {
        let data_dir = dir.join("emulator-data");
        let mut child = std::process::Command::new(assert_cmd::cargo::cargo_bin("ksef"))
            .arg("--state-dir")
            .arg(dir.join("emulator-state"))
            .args(["emulator", "serve", "--data-dir"])
            .arg(&data_dir)
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn ksef emulator serve");
        let mut line = String::new();
        std::io::BufReader::new(child.stdout.take().expect("stdout")).read_line(&mut line).expect("URL line");
        let url = line.trim().to_string();
        assert!(url.starts_with("http://127.0.0.1:"), "emulator printed {url:?}");
        Self { child, url, data_dir }
    }

    /// Stops the emulator (SIGKILL: its SQLite store is durable) and returns the data dir.
    pub(crate) fn stop(mut self) -> PathBuf {
        let _ = self.child.kill();
        let _ = self.child.wait();
        self.data_dir.clone()
    }
}

impl Drop for EmulatorProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A valid NIP (checksum) numbered `k`: each scenario gets its own KSeF context, so that the
/// per-context rate limits of one scenario do not slow down the next.
pub(crate) fn nip(k: u64) -> String {
    const W: [u32; 9] = [6, 5, 7, 2, 3, 4, 5, 6, 7];
    (0..)
        .map(|j| format!("{}", 526_000_000 + k * 1000 + j))
        .find_map(|base| {
            let sum: u32 = base.chars().zip(W).map(|(c, w)| c.to_digit(10).unwrap_or(0) * w).sum();
            (sum % 11 != 10).then(|| format!("{base}{}", sum % 11))
        })
        .unwrap_or_else(|| NIP.to_string())
}

/// Writes `n` FA(3) invoices of seller `nip` numbered `<tag>/<i>` into `dir`; returns the
/// invoice numbers.
pub(crate) fn write_invoices(dir: &Path, nip: &str, tag: &str, n: usize) -> Vec<String> {
    std::fs::create_dir_all(dir).unwrap();
    let today = chrono::Utc::now().date_naive();
    (1..=n)
        .map(|i| {
            let number = format!("{tag}/{i}");
            let xml = invoice::sample_fa3(nip, &number, today);
            std::fs::write(dir.join(format!("invoice-{i:05}.xml")), xml).unwrap();
            number
        })
        .collect()
}

/// One crash scenario: its own context (NIP, identity) and state dir, and its invoices.
pub(crate) struct Scenario {
    pub nip: String,
    pub state: PathBuf,
    pub invoices: PathBuf,
    pub numbers: Vec<String>,
}

impl Scenario {
    /// Scenario `k` under `root/tag` with `n` invoices: a test identity for a fresh NIP.
    pub(crate) fn new(root: &Path, url: &str, k: u64, tag: &str, n: usize) -> Self {
        let nip = nip(k);
        let state = root.join(tag).join("state");
        let invoices = root.join(tag).join("invoices");
        ksef(&state).args(["--env", url, "identity", "new", "--nip", &nip, "--seal", "--ec"]).assert().success();
        let numbers = write_invoices(&invoices, &nip, tag, n);
        Self { nip, state, invoices, numbers }
    }

    /// The `send` arguments of a run in `mode` (`online`, `batch`, or `batch-targz`: a batch
    /// with a tar.gz package).
    pub(crate) fn send_args(&self, url: &str, mode: &str) -> Vec<String> {
        let (mode, archive) = mode.split_once('-').unwrap_or((mode, "zip"));
        let mut a: Vec<String> =
            ["--env", url, "send", "--nip", &self.nip, "--mode", mode, "--archive", archive].map(String::from).to_vec();
        a.push(self.invoices.display().to_string());
        a
    }

    /// The arguments of `ksef send --resume`.
    pub(crate) fn resume_args(&self, url: &str) -> Vec<String> {
        ["--env", url, "send", "--resume", "--nip", &self.nip].map(String::from).to_vec()
    }
}

/// `ksef` for a scenario's state dir, with small batch parts.
pub(crate) fn ksef_send(state: &Path) -> assert_cmd::Command {
    let mut c = ksef(state);
    c.env("KSEF_CLI_TEST_PART_SIZE", PART_SIZE);
    c
}

/// `ksef --output json status` of a state dir.
pub(crate) fn status_rows(state: &Path) -> Vec<serde_json::Value> {
    let out = ksef(state).args(["--output", "json", "status"]).assert().success().get_output().stdout.clone();
    let v: serde_json::Value = serde_json::from_slice(&out).expect("status JSON");
    match v {
        serde_json::Value::Array(rows) => rows,
        // A status document with the files under "files".
        other => other["files"].as_array().cloned().unwrap_or_default(),
    }
}

/// Invoice number → KSeF numbers, read from the stopped emulator's SQLite store (every invoice
/// KSeF ever accepted, in any session).
pub(crate) fn ksef_numbers_in_store(data_dir: &Path) -> BTreeMap<String, Vec<String>> {
    let db = rusqlite::Connection::open(data_dir.join("ksef-emulator.sqlite3")).expect("emulator store");
    let mut st = db.prepare("SELECT doc FROM invoices WHERE ksef IS NOT NULL").unwrap();
    let docs: Vec<String> = st.query_map([], |r| r.get(0)).unwrap().collect::<Result<_, _>>().unwrap();
    let mut out: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for d in docs {
        let v: serde_json::Value = serde_json::from_str(&d).unwrap();
        let number = v["invoice_number"].as_str().unwrap_or_default().to_string();
        let ksef = v["ksef_number"].as_str().expect("ksef_number").to_string();
        out.entry(number).or_default().push(ksef);
    }
    out
}

/// Checks one finished scenario: the journal has every invoice accepted with a distinct KSeF
/// number, and the store has exactly that one number for each invoice number.
pub(crate) fn check_scenario(
    what: &str,
    state: &Path,
    numbers: &[String],
    store: &BTreeMap<String, Vec<String>>,
) -> Result<(), String> {
    // The newest run (a rerun after a finished run starts a new one, resolved from the journal).
    let rows = status_rows(state);
    let newest = rows.iter().filter_map(|r| r["run_id"].as_i64()).max().unwrap_or_default();
    let rows: Vec<_> = rows.into_iter().filter(|r| r["run_id"].as_i64() == Some(newest)).collect();
    if rows.len() != numbers.len() {
        return Err(format!("{what}: journal has {} rows, expected {}", rows.len(), numbers.len()));
    }
    let mut journal_numbers = std::collections::BTreeSet::new();
    for r in &rows {
        if r["state"] != "accepted" {
            return Err(format!("{what}: not accepted: {r}"));
        }
        journal_numbers.insert(r["ksef_number"].as_str().unwrap_or_default().to_string());
    }
    for n in numbers {
        match store.get(n).map(Vec::as_slice) {
            Some([k]) if journal_numbers.contains(k) => {}
            Some([k]) => return Err(format!("{what}: {n} has KSeF number {k} in KSeF, not in the journal")),
            Some(ks) => return Err(format!("{what}: {n} has {} KSeF numbers: {ks:?}", ks.len())),
            None => return Err(format!("{what}: {n} is missing in KSeF")),
        }
    }
    Ok(())
}

/// One kill point: a mode and `KSEF_CLI_TEST_ABORT_AFTER=<step>:<n>`.
const POINTS: &[(&str, &str)] = &[
    ("online", "session-opened:1"),
    ("online", "sending:2"),
    ("online", "sent-unjournaled:3"),
    ("online", "sent:2"),
    ("online", "outcome:2"),
    ("online", "finished:1"),
    ("batch", "batch-building:1"),
    ("batch", "batch-built:1"),
    ("batch", "batch-opening:1"),
    ("batch", "batch-opened:1"),
    ("batch", "part-uploading:2"),
    ("batch", "part-uploaded:1"),
    ("batch", "part-uploaded:2"),
    ("batch", "part-upload-sent:2"),
    ("batch-targz", "part-upload-sent:1"),
    ("batch-targz", "batch-close-sent:1"),
    ("batch", "batch-closing:1"),
    ("batch", "batch-close-sent:1"),
    ("batch", "batch-closed:1"),
    ("batch", "batch-polling:1"),
    ("batch", "batch-results:1"),
    ("batch", "batch-done:1"),
    ("batch", "finished:1"),
];

#[test]
fn send_killed_at_every_journal_step_then_rerun_leaves_one_ksef_number_per_invoice() {
    let started = std::time::Instant::now();
    let dir = tempfile::tempdir().unwrap();
    let emu = EmulatorProcess::start(dir.path());
    let url = emu.url.clone();
    let mut scenarios = Vec::new();
    for (i, (mode, point)) in POINTS.iter().enumerate() {
        let t = std::time::Instant::now();
        let tag = format!("CR{i}");
        let sc = Scenario::new(dir.path(), &url, i as u64, &tag, if *mode == "online" { 5 } else { 4 });
        let args = sc.send_args(&url, mode);
        let killed = ksef_send(&sc.state).env("KSEF_CLI_TEST_ABORT_AFTER", point).args(&args).assert().failure();
        let stderr = String::from_utf8_lossy(&killed.get_output().stderr).to_string();
        assert!(stderr.contains("test abort"), "{mode} {point}: the abort point was not reached: {stderr}");
        // Half the reruns repeat the command, half use --resume (after `finished` there is
        // nothing left to resume: the same command again must send nothing new).
        if i % 2 == 0 || point.starts_with("finished") {
            ksef_send(&sc.state).args(&args).assert().success();
        } else {
            ksef_send(&sc.state).args(sc.resume_args(&url)).assert().success();
        }
        eprintln!("{mode} {point}: killed and finished in {:?}", t.elapsed());
        scenarios.push((format!("{mode} {point}"), sc));
    }
    let store = ksef_numbers_in_store(&emu.stop());
    for (what, sc) in &scenarios {
        check_scenario(what, &sc.state, &sc.numbers, &store).unwrap();
    }
    let all: usize = scenarios.iter().map(|s| s.1.numbers.len()).sum();
    assert_eq!(store.values().map(Vec::len).sum::<usize>(), all, "no invoice KSeF did not get from these runs");
    eprintln!("{} kill points, {all} invoices, {:?}", POINTS.len(), started.elapsed());
}

/// Every abort step the CLI has (`checkpoint("...")` in its send code) is a kill point above, so
/// a new journal step cannot go untested.
#[test]
fn every_abort_step_is_a_kill_point() {
    let sources = [include_str!("../../src/send.rs"), include_str!("../../src/send_batch.rs")];
    let mut steps = std::collections::BTreeSet::new();
    for src in sources {
        for piece in src.split("checkpoint(\"").skip(1) {
            if let Some((name, _)) = piece.split_once("\")") {
                steps.insert(name.to_string());
            }
        }
    }
    assert!(steps.len() >= 19, "found only {steps:?}");
    let covered: std::collections::BTreeSet<&str> =
        POINTS.iter().map(|(_, p)| p.split_once(':').map_or(*p, |(s, _)| s)).collect();
    let missing: Vec<&String> = steps.iter().filter(|s| !covered.contains(s.as_str())).collect();
    assert!(missing.is_empty(), "abort steps without a kill point: {missing:?}");
}
