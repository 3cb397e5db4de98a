//! `ksef send --mode batch|auto`: packages, archives, UPOs, `status --runs`, and a session whose
//! upload window died mid-upload (resumed with a new package for what KSeF does not have).

use std::path::{Path, PathBuf};
use std::sync::Arc;

use super::{ksef, status_json};

const NIP: &str = "5265877635";

/// `n` fresh FA(3) invoice files: quickstart's batch invoices (accepted by quickstart's own
/// emulator only, so new to any other emulator).
fn fresh_invoices(dir: &Path, n: usize) -> Vec<PathBuf> {
    let out = dir.join("qs");
    ksef(&dir.join("qs-state")).args(["quickstart", "--out-dir"]).arg(&out).assert().success();
    let stamp_dir = std::fs::read_dir(out.join("batch")).unwrap().next().unwrap().unwrap().path();
    let mut files: Vec<PathBuf> = std::fs::read_dir(stamp_dir).unwrap().map(|e| e.unwrap().path()).collect();
    files.sort();
    files.truncate(n);
    assert_eq!(files.len(), n);
    files
}

fn runs_json(state: &Path) -> Vec<serde_json::Value> {
    let out = ksef(state).args(["--output", "json", "status", "--runs"]).assert().success().get_output().stdout.clone();
    serde_json::from_slice::<serde_json::Value>(&out).unwrap().as_array().unwrap().clone()
}

/// In the emulator: every file's bytes hold exactly one KSeF number, the one the journal has.
fn assert_once_each(emu: &ksef_emulator::Emulator, state: &Path, files: &[PathBuf]) {
    let stored = emu.store().invoices_with_party(NIP).unwrap();
    let rows = status_json(state);
    for f in files {
        let hash = base64_sha256(&std::fs::read(f).unwrap());
        let numbers: Vec<_> =
            stored.iter().filter(|r| r.invoice_hash == hash).filter_map(|r| r.ksef_number.clone()).collect();
        assert_eq!(numbers.len(), 1, "{}: KSeF numbers in the emulator: {numbers:?}", f.display());
        let row = rows.iter().rev().find(|r| r["sha256"] == hash.as_str()).expect("journaled");
        assert_eq!(row["state"], "accepted");
        assert_eq!(row["ksef_number"], numbers[0].as_str());
    }
}

fn base64_sha256(b: &[u8]) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD.encode(ksef_crypto::sha256(b))
}

#[test]
fn batch_targz_offline_in_parts_with_upos_and_status_runs() {
    let dir = tempfile::tempdir().unwrap();
    let files = fresh_invoices(dir.path(), 6);
    let emu = ksef_emulator::Emulator::builder().start().unwrap();
    let env = emu.base_url();
    let state = dir.path().join("state");
    ksef(&state).args(["--env", &env, "identity", "new", "--nip", NIP, "--seal", "--ec"]).assert().success();
    let upo = dir.path().join("upo");
    ksef(&state)
        .env("KSEF_CLI_TEST_PART_SIZE", "400")
        .args(["--env", &env, "send", "--mode", "batch", "--archive", "targz", "--form", "FA3", "--nip", NIP])
        .arg("--offline")
        .arg("--upo-dir")
        .arg(&upo)
        .args(&files)
        .assert()
        .success();
    assert_once_each(&emu, &state, &files);
    let stored = emu.store().invoices_with_party(NIP).unwrap();
    assert!(stored.iter().all(|r| r.offline_mode), "--offline declared in the batch open request");
    assert_eq!(std::fs::read_dir(&upo).unwrap().count(), 6, "one UPO per invoice");
    let runs = runs_json(&state);
    assert_eq!(runs.len(), 1);
    assert_eq!(runs[0]["mode"], "batch");
    assert_eq!(runs[0]["archive"], "targz");
    assert_eq!(runs[0]["finished"], true);
    let batch = &runs[0]["batches"][0];
    assert_eq!(batch["state"], "done");
    assert_eq!(batch["status_code"], 200);
    let parts = batch["parts"].as_array().unwrap();
    assert!(parts.len() >= 2, "small parts give several: {batch}");
    assert!(parts.iter().all(|p| p["state"] == "uploaded"));
    // Human status lists the batch too.
    let out = ksef(&state).args(["status", "--runs"]).assert().success().get_output().stdout.clone();
    let text = String::from_utf8(out).unwrap();
    assert!(text.contains("batch") && text.contains("done") && text.contains(&format!("parts {0}/{0}", parts.len())));
    // The parts are removed once the run is finished.
    assert!(!state.join("batches/run-1").exists());
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(state.join("journal.sqlite")).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
    }
}

#[test]
fn auto_mode_sends_online_up_to_20_and_batch_above() {
    let dir = tempfile::tempdir().unwrap();
    let files = fresh_invoices(dir.path(), 23);
    let emu = ksef_emulator::Emulator::builder().start().unwrap();
    let env = emu.base_url();
    let state = dir.path().join("state");
    ksef(&state).args(["--env", &env, "identity", "new", "--nip", NIP, "--seal", "--ec"]).assert().success();
    ksef(&state).args(["--env", &env, "send", "--nip", NIP]).args(&files[..2]).assert().success();
    ksef(&state).args(["--env", &env, "send", "--mode", "auto", "--nip", NIP]).args(&files[2..]).assert().success();
    let runs = runs_json(&state);
    assert_eq!(runs[0]["mode"], "online");
    assert_eq!(runs[1]["mode"], "batch", "21 files: batch");
    assert_once_each(&emu, &state, &files);
    // --corrects is per invoice: not in a batch.
    ksef(&state)
        .args(["--env", &env, "send", "--mode", "batch", "--corrects", "AAAA", "--nip", NIP])
        .arg(&files[0])
        .assert()
        .code(2);
}

/// The CLI dies after part 1 of 2; the upload window passes; the rerun finds the session dead
/// and never closed (status 100: KSeF has none of its invoices), abandons it and sends every
/// invoice in a new package. Then the same files again: nothing new in KSeF.
#[test]
fn dead_upload_window_is_repacked_into_a_new_session() {
    let dir = tempfile::tempdir().unwrap();
    let files = fresh_invoices(dir.path(), 4);
    let clock = Arc::new(ksef_emulator::ManualClock::new(chrono::Utc::now()));
    let emu = ksef_emulator::Emulator::builder().clock(clock.clone()).start().unwrap();
    let env = emu.base_url();
    let state = dir.path().join("state");
    ksef(&state).args(["--env", &env, "identity", "new", "--nip", NIP, "--seal", "--ec"]).assert().success();
    let send = || {
        let mut c = ksef(&state);
        c.env("KSEF_CLI_TEST_PART_SIZE", "2000").args(["--env", &env, "send", "--mode", "batch", "--nip", NIP]);
        c.args(&files);
        c
    };
    let killed = send().env("KSEF_CLI_TEST_ABORT_AFTER", "part-uploaded:1").assert().failure();
    assert!(String::from_utf8_lossy(&killed.get_output().stderr).contains("test abort"));
    clock.advance(chrono::Duration::hours(3));
    send().assert().success();
    let runs = runs_json(&state);
    let batches = runs[0]["batches"].as_array().unwrap();
    assert_eq!(batches.len(), 2, "{batches:?}");
    assert_eq!(batches[0]["state"], "abandoned");
    assert_eq!(batches[1]["state"], "done");
    assert_ne!(batches[0]["session_ref"], batches[1]["session_ref"]);
    assert_once_each(&emu, &state, &files);
    // Same files, same command: the journal knows them; nothing is sent.
    let before = emu.store().invoices_with_party(NIP).unwrap().len();
    send().assert().success();
    assert_eq!(emu.store().invoices_with_party(NIP).unwrap().len(), before);
}

/// The CLI dies after the storage took part 2 but before the journal says so: the rerun uploads
/// it again, the storage refuses the second copy (400), which counts as stored; the close
/// confirms it, so the same session finishes (no second package).
#[test]
fn part_stored_but_not_journaled_is_not_repacked() {
    let dir = tempfile::tempdir().unwrap();
    let files = fresh_invoices(dir.path(), 4);
    let emu = ksef_emulator::Emulator::builder().start().unwrap();
    let env = emu.base_url();
    let state = dir.path().join("state");
    ksef(&state).args(["--env", &env, "identity", "new", "--nip", NIP, "--seal", "--ec"]).assert().success();
    let send = || {
        let mut c = ksef(&state);
        c.env("KSEF_CLI_TEST_PART_SIZE", "2000").args(["--env", &env, "send", "--mode", "batch", "--nip", NIP]);
        c.args(&files);
        c
    };
    send().env("KSEF_CLI_TEST_ABORT_AFTER", "part-upload-sent:2").assert().failure();
    let runs = runs_json(&state);
    let parts = runs[0]["batches"][0]["parts"].as_array().unwrap().clone();
    assert!(parts.len() >= 2, "{parts:?}");
    assert_eq!(parts[1]["state"], "uploading", "stored in KSeF, not yet journaled");
    send().assert().success();
    let runs = runs_json(&state);
    let batches = runs[0]["batches"].as_array().unwrap();
    assert_eq!(batches.len(), 1, "{batches:?}");
    assert_eq!(batches[0]["state"], "done");
    assert_once_each(&emu, &state, &files);
}

/// More files than one package may hold: several packages, one after the other, in one run;
/// killed while the second package is being opened, then resumed.
#[test]
fn several_packages_per_run() {
    let dir = tempfile::tempdir().unwrap();
    let files = fresh_invoices(dir.path(), 5);
    let emu = ksef_emulator::Emulator::builder().start().unwrap();
    let env = emu.base_url();
    let state = dir.path().join("state");
    ksef(&state).args(["--env", &env, "identity", "new", "--nip", NIP, "--seal", "--ec"]).assert().success();
    let send = || {
        let mut c = ksef(&state);
        c.env("KSEF_CLI_TEST_MAX_INVOICES", "2").args(["--env", &env, "send", "--mode", "batch", "--nip", NIP]);
        c.args(&files);
        c
    };
    send().env("KSEF_CLI_TEST_ABORT_AFTER", "batch-opening:2").assert().failure();
    send().assert().success();
    let runs = runs_json(&state);
    let batches = runs[0]["batches"].as_array().unwrap();
    assert_eq!(batches.len(), 3, "2 + 2 + 1 invoices: {batches:?}");
    assert!(batches.iter().all(|b| b["state"] == "done"));
    let sessions: std::collections::BTreeSet<_> = batches.iter().map(|b| b["session_ref"].to_string()).collect();
    assert_eq!(sessions.len(), 3);
    assert_once_each(&emu, &state, &files);
}

/// A journal that lost track (a fresh state dir) sends the same invoices again in a batch: KSeF
/// answers each with a duplicate (440), resolved to the original KSeF number.
#[test]
fn batch_duplicates_resolve_to_the_original_numbers() {
    let dir = tempfile::tempdir().unwrap();
    let files = fresh_invoices(dir.path(), 3);
    let emu = ksef_emulator::Emulator::builder().start().unwrap();
    let env = emu.base_url();
    let first = dir.path().join("first");
    let second = dir.path().join("second");
    for s in [&first, &second] {
        ksef(s).args(["--env", &env, "identity", "new", "--nip", NIP, "--seal", "--ec"]).assert().success();
    }
    ksef(&first).args(["--env", &env, "send", "--mode", "online", "--nip", NIP]).args(&files).assert().success();
    ksef(&second).args(["--env", &env, "send", "--mode", "batch", "--nip", NIP]).args(&files).assert().success();
    let a: Vec<_> = status_json(&first).iter().map(|r| r["ksef_number"].clone()).collect();
    let b: Vec<_> = status_json(&second).iter().map(|r| r["ksef_number"].clone()).collect();
    assert_eq!(a, b);
    assert_once_each(&emu, &second, &files);
}
