//! `ksef send --mode online` after a crash: the interrupted run's session and the resumed run's
//! session are both closed at the end (KSeF issues session UPOs only for closed sessions).

use super::{invoice_files, ksef, status_json};

#[test]
fn resumed_online_run_closes_every_session_it_used() {
    let dir = tempfile::tempdir().unwrap();
    let files = invoice_files(dir.path());
    let emu = ksef_emulator::Emulator::builder().start().unwrap();
    let env = emu.base_url();
    let state = dir.path().join("state");
    ksef(&state).args(["--env", &env, "identity", "new", "--nip", "5265877635", "--seal", "--ec"]).assert().success();
    let send = || {
        let mut c = ksef(&state);
        c.args(["--env", &env, "send", "--mode", "online", "--nip", "5265877635"]).arg(&files);
        c
    };
    // Two invoices sent in the first session, then the process dies with that session open.
    send().env("KSEF_CLI_TEST_ABORT_AFTER", "sent:2").assert().failure();
    send().assert().success();
    let rows = status_json(&state);
    assert!(rows.iter().all(|r| r["state"] == "accepted"), "{rows:?}");
    let sessions: std::collections::BTreeSet<String> =
        rows.iter().map(|r| r["session_ref"].as_str().unwrap().to_string()).collect();
    assert_eq!(sessions.len(), 2, "the first session and the resumed run's: {sessions:?}");
    for s in &sessions {
        let rec = emu.store().session(s).unwrap().expect("session in the emulator");
        assert!(rec.closed.is_some(), "{s} closed (status {})", rec.status.code);
    }
}
