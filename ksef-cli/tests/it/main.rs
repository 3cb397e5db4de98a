//! Integration tests: the `ksef` binary against its embedded emulator.

use assert_cmd::Command;

mod crash_harness;
mod crash_process;
mod manage;
mod send_batch;
mod send_online;
mod send_soak;

fn ksef(state: &std::path::Path) -> Command {
    let mut c = Command::cargo_bin("ksef").expect("binary");
    c.env_remove("KSEF_ENV")
        .env_remove("XDG_STATE_HOME")
        .env_remove("KSEF_PROFILE")
        .env_remove("KSEF_TOKEN")
        .env_remove("KSEF_CONFIG")
        .arg("--state-dir")
        .arg(state);
    c
}

#[test]
fn quickstart_human() {
    let dir = tempfile::tempdir().unwrap();
    let out = ksef(dir.path()).arg("quickstart").assert().success().get_output().clone();
    let stdout = String::from_utf8(out.stdout).unwrap();
    let stderr = String::from_utf8(out.stderr).unwrap();
    assert!(stderr.contains("nothing is sent to KSeF"), "{stderr}");
    assert_eq!(stdout.matches("5265877635-").count(), 5, "{stdout}");
    assert_eq!(std::fs::read_dir(dir.path().join("quickstart/upo")).unwrap().count(), 5);
    assert_eq!(std::fs::read_dir(dir.path().join("quickstart/qr")).unwrap().count(), 5);
}

#[test]
fn quickstart_json() {
    let dir = tempfile::tempdir().unwrap();
    let out = ksef(dir.path()).args(["--output", "json", "quickstart"]).assert().success().get_output().clone();
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON on stdout");
    let invoices = v["invoices"].as_array().unwrap();
    assert_eq!(invoices.len(), 5);
    assert_eq!(v["batch"]["accepted"], 200);
    assert_eq!(v["batch"]["rejected"], 0);
    // Fresh state dir: the sync brings back exactly the 5 online + 200 batch invoices.
    assert_eq!(v["sync"]["invoices"], 205);
    assert_eq!(std::fs::read_dir(v["sync"]["dir"].as_str().unwrap()).unwrap().count(), 205);
    for inv in invoices {
        let k = inv["ksef_number"].as_str().expect("accepted");
        assert!(k.starts_with("5265877635-"));
        let upo = std::fs::read_to_string(inv["upo"].as_str().unwrap()).unwrap();
        assert!(upo.contains(k), "UPO names the KSeF number");
        let png = std::fs::read(inv["qr"].as_str().unwrap()).unwrap();
        assert_eq!(&png[..4], b"\x89PNG");
    }
}

#[test]
fn identity_new_writes_private_key_0600() {
    let dir = tempfile::tempdir().unwrap();
    ksef(dir.path()).args(["identity", "new", "--nip", "5265877635", "--ec"]).assert().success();
    let id = dir.path().join("identities/5265877635");
    assert!(std::fs::read_to_string(id.join("cert.pem")).unwrap().starts_with("-----BEGIN CERTIFICATE-----"));
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(id.join("key.pem")).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
    }
}

#[test]
fn identity_new_refused_on_prod_and_demo() {
    let dir = tempfile::tempdir().unwrap();
    for env in ["prod", "demo"] {
        let out = ksef(dir.path()).args(["--env", env, "identity", "new", "--nip", "5265877635"]).assert().code(6);
        let stderr = String::from_utf8(out.get_output().stderr.clone()).unwrap();
        if env == "prod" {
            assert!(stderr.contains("WARNING: environment PROD"), "{stderr}");
        }
    }
    assert!(!dir.path().join("identities").exists());
}

#[test]
fn bad_nip_and_unknown_env_are_usage_errors() {
    let dir = tempfile::tempdir().unwrap();
    ksef(dir.path()).args(["identity", "new", "--nip", "12"]).assert().code(2);
    ksef(dir.path()).args(["--env", "mars", "identity", "new", "--nip", "5265877635"]).assert().code(2);
    ksef(dir.path()).arg("no-such-command").assert().code(2);
}

#[test]
fn completions_for_bash() {
    let dir = tempfile::tempdir().unwrap();
    let out = ksef(dir.path()).args(["completions", "bash"]).assert().success().get_output().stdout.clone();
    let s = String::from_utf8(out).unwrap();
    assert!(s.contains("quickstart") && s.contains("identity"));
}

#[test]
fn man_page_is_roff_with_commands_and_exit_codes() {
    let dir = tempfile::tempdir().unwrap();
    let out = ksef(dir.path()).arg("man").assert().success().get_output().stdout.clone();
    let s = String::from_utf8(out).unwrap();
    assert!(s.starts_with(".ie") || s.contains(".TH ksef"), "{s}");
    assert!(s.contains(".SH NAME") && s.contains("quickstart") && s.contains("EXIT CODES"), "{s}");
}

#[test]
fn help_documents_exit_codes() {
    let dir = tempfile::tempdir().unwrap();
    let out = ksef(dir.path()).arg("--help").assert().success().get_output().stdout.clone();
    let s = String::from_utf8(out).unwrap();
    assert!(s.contains("EXIT CODES") && s.contains("4 authentication failed"), "{s}");
}

/// Five invoice files made by `quickstart` (against its own embedded emulator).
fn invoice_files(dir: &std::path::Path) -> std::path::PathBuf {
    let out = dir.join("qs");
    ksef(&dir.join("qs-state")).args(["quickstart", "--out-dir"]).arg(&out).assert().success();
    out.join("invoices")
}

fn status_json(state: &std::path::Path) -> Vec<serde_json::Value> {
    let out = ksef(state).args(["--output", "json", "status"]).assert().success().get_output().stdout.clone();
    serde_json::from_slice::<serde_json::Value>(&out).unwrap().as_array().unwrap().clone()
}

#[test]
fn send_then_status() {
    let dir = tempfile::tempdir().unwrap();
    let files = invoice_files(dir.path());
    let emu = ksef_emulator::Emulator::builder().start().unwrap();
    let state = dir.path().join("state");
    let env = emu.base_url();
    ksef(&state).args(["--env", &env, "identity", "new", "--nip", "5265877635", "--seal", "--ec"]).assert().success();
    let out = ksef(&state)
        .args(["--env", &env, "send", "--nip", "5265877635", "--upo-dir"])
        .arg(dir.path().join("upo"))
        .arg(&files)
        .assert()
        .success()
        .get_output()
        .stdout
        .clone();
    assert_eq!(String::from_utf8(out).unwrap().matches("accepted").count(), 5);
    let rows = status_json(&state);
    assert_eq!(rows.len(), 5);
    assert!(rows.iter().all(|r| r["state"] == "accepted"));
    assert_eq!(std::fs::read_dir(dir.path().join("upo")).unwrap().count(), 5);
    // Sending the same files again sends nothing new: the journal knows their KSeF numbers.
    ksef(&state).args(["--env", &env, "send", "--nip", "5265877635"]).arg(&files).assert().success();
    let again = status_json(&state);
    let first: std::collections::BTreeSet<_> = rows.iter().map(|r| r["ksef_number"].to_string()).collect();
    let second: std::collections::BTreeSet<_> = again.iter().map(|r| r["ksef_number"].to_string()).collect();
    assert_eq!(first, second);
}

#[test]
fn crash_at_any_step_then_rerun_gives_each_invoice_one_ksef_number() {
    let dir = tempfile::tempdir().unwrap();
    let files = invoice_files(dir.path());
    for point in ["session-opened:1", "sending:2", "sent-unjournaled:3", "sent:4", "outcome:2"] {
        // The emulator lives in this process, so it outlives the killed CLI.
        let emu = ksef_emulator::Emulator::builder().start().unwrap();
        let env = emu.base_url();
        let state = dir.path().join(point.replace(':', "-"));
        ksef(&state)
            .args(["--env", &env, "identity", "new", "--nip", "5265877635", "--seal", "--ec"])
            .assert()
            .success();
        let killed = ksef(&state)
            .env("KSEF_CLI_TEST_ABORT_AFTER", point)
            .args(["--env", &env, "send", "--nip", "5265877635"])
            .arg(&files)
            .assert()
            .failure()
            .get_output()
            .clone();
        assert!(String::from_utf8_lossy(&killed.stderr).contains("test abort"), "{point}");
        ksef(&state).args(["--env", &env, "send", "--resume", "--nip", "5265877635"]).assert().success();
        let rows = status_json(&state);
        assert_eq!(rows.len(), 5, "{point}");
        assert!(rows.iter().all(|r| r["state"] == "accepted"), "{point}: {rows:?}");
        let numbers: std::collections::BTreeSet<_> = rows.iter().map(|r| r["ksef_number"].as_str().unwrap()).collect();
        assert_eq!(numbers.len(), 5, "{point}: one distinct KSeF number per invoice");
    }
}

#[test]
fn auth_login_stores_tokens_0600_and_local_commands_reuse_them() {
    let dir = tempfile::tempdir().unwrap();
    let files = invoice_files(dir.path());
    let state = dir.path().join("state");
    // A different NIP than the invoices' seller: KSeF rejects them with 410 (exit 3, partial).
    ksef(&state).args(["identity", "new", "--nip", "1234567819", "--seal", "--ec"]).assert().success();
    ksef(&state).args(["auth", "login", "--nip", "1234567819"]).assert().success();
    let tokens = state.join("tokens/local.json");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(std::fs::metadata(&tokens).unwrap().permissions().mode() & 0o777, 0o600);
    }
    // A new process (and a new embedded emulator on the same data dir) uses the stored tokens.
    let out = ksef(&state).args(["auth", "sessions"]).assert().success().get_output().stdout.clone();
    assert!(String::from_utf8(out).unwrap().contains("(current)"));
    ksef(&state).arg("send").arg(&files).assert().code(3);
    let rows = status_json(&state);
    assert!(rows.iter().all(|r| r["state"] == "rejected" && r["error_code"] == 410), "{rows:?}");
    assert!(rows[0]["error_details"].as_str().unwrap().contains("5265877635"));
    ksef(&state).args(["auth", "logout"]).assert().success();
    assert!(!tokens.exists());
    ksef(&state).arg("send").arg(&files).assert().code(4);
}

#[test]
fn offline_flag_is_accepted_and_corrects_needs_one_file() {
    let dir = tempfile::tempdir().unwrap();
    let files = invoice_files(dir.path());
    let state = dir.path().join("state");
    ksef(&state).args(["identity", "new", "--nip", "5265877635", "--seal", "--ec"]).assert().success();
    ksef(&state).args(["send", "--nip", "5265877635", "--corrects", "AAAA"]).arg(&files).assert().code(2);
    ksef(&state).args(["send", "--offline", "--nip", "5265877635"]).arg(&files).assert().success();
    assert!(status_json(&state).iter().all(|r| r["state"] == "accepted"));
}

#[test]
fn profiles_from_the_config_file_under_flags() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("config.toml");
    std::fs::write(&cfg, "[profiles.live]\nenv = \"prod\"\n\n[profiles.scripts]\noutput = \"json\"\n").unwrap();
    let state = dir.path().join("state");
    let out = ksef(&state)
        .env("KSEF_CONFIG", &cfg)
        .args(["--profile", "live", "identity", "new", "--nip", "5265877635"])
        .assert()
        .code(6)
        .get_output()
        .stderr
        .clone();
    assert!(String::from_utf8(out).unwrap().contains("PROD"));
    // A flag beats the profile.
    ksef(&state)
        .env("KSEF_CONFIG", &cfg)
        .args(["--profile", "live", "--env", "local", "identity", "new", "--nip", "5265877635"])
        .assert()
        .success();
    let out = ksef(&state).env("KSEF_CONFIG", &cfg).args(["--profile", "scripts", "status"]).assert().success();
    let v: serde_json::Value = serde_json::from_slice(&out.get_output().stdout).unwrap();
    assert!(v.is_array());
    ksef(&state).env("KSEF_CONFIG", &cfg).args(["--profile", "nope", "status"]).assert().code(2);
}

#[test]
fn sync_is_incremental_and_invoices_get_downloads_one() {
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("state");
    let out = ksef(&state).args(["--output", "json", "quickstart"]).assert().success().get_output().stdout.clone();
    let v: serde_json::Value = serde_json::from_slice(&out).unwrap();
    let first = v["invoices"][0]["ksef_number"].as_str().unwrap().to_string();
    // The local emulator keeps its data in the state dir, so later commands see the same KSeF.
    ksef(&state).args(["auth", "login", "--identity", "quickstart-5265877635"]).assert().success();
    let target = dir.path().join("synced");
    let sync = |expect: u64| {
        let out = ksef(&state)
            .args(["--output", "json", "sync", "--subject", "seller", "--dir"])
            .arg(&target)
            .assert()
            .success()
            .get_output()
            .stdout
            .clone();
        let v: serde_json::Value = serde_json::from_slice(&out).unwrap();
        assert_eq!(v["new_invoices"], expect);
    };
    sync(205);
    sync(0);
    assert!(target.join(format!("{first}.xml")).exists());
    let xml = ksef(&state).args(["invoices", "get", &first]).assert().success().get_output().stdout.clone();
    assert!(String::from_utf8(xml).unwrap().contains("<Faktura"));
    let session = v["session"].as_str().unwrap();
    let upo = ksef(&state)
        .args(["upo", "--session", session, "--ksef-number", &first])
        .assert()
        .success()
        .get_output()
        .stdout
        .clone();
    assert!(String::from_utf8(upo).unwrap().contains(&first));
}

#[test]
fn emulator_serve_prints_a_url_other_commands_can_use() {
    use std::io::BufRead;
    let dir = tempfile::tempdir().unwrap();
    let bin = assert_cmd::cargo::cargo_bin("ksef");
    let mut child = std::process::Command::new(bin)
        .arg("--state-dir")
        .arg(dir.path().join("server"))
        .args(["emulator", "serve"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let mut line = String::new();
    std::io::BufReader::new(child.stdout.take().unwrap()).read_line(&mut line).unwrap();
    let url = line.trim().to_string();
    assert!(url.starts_with("http://127.0.0.1:"), "{url}");
    let state = dir.path().join("client");
    ksef(&state).args(["--env", &url, "identity", "new", "--nip", "5265877635", "--seal", "--ec"]).assert().success();
    let ok = ksef(&state).args(["--env", &url, "auth", "login", "--nip", "5265877635"]).assert();
    child.kill().unwrap();
    child.wait().unwrap();
    ok.success();
    assert!(dir.path().join("server/emulator").is_dir(), "SQLite data dir under the state dir");
}

#[test]
fn qr_link_and_png_offline() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("fv.xml");
    std::fs::write(&file, "<Faktura/>").unwrap();
    let png = dir.path().join("fv.png");
    let out = ksef(dir.path())
        .args(["--env", "test", "qr", "--nip", "5265877635", "--date", "2026-02-01", "--out"])
        .arg(&png)
        .arg(&file)
        .assert()
        .success()
        .get_output()
        .stdout
        .clone();
    let link = String::from_utf8(out).unwrap();
    assert!(link.starts_with("https://qr-test.ksef.mf.gov.pl/invoice/5265877635/01-02-2026/"), "{link}");
    assert_eq!(&std::fs::read(&png).unwrap()[..4], b"\x89PNG");
    ksef(dir.path()).args(["qr", "--nip", "12", "--date", "2026-02-01"]).arg(&file).assert().code(2);
}

#[test]
fn ksef_token_generated_then_used_to_log_in_and_limits() {
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path();
    ksef(state).args(["identity", "new", "--nip", "5265877635", "--seal", "--ec"]).assert().success();
    let out = ksef(state)
        .args(["--output", "json", "tokens", "new", "--nip", "5265877635", "--description", "cli test token"])
        .args(["--permission", "InvoiceWrite", "--permission", "InvoiceRead"])
        .assert()
        .success()
        .get_output()
        .stdout
        .clone();
    let v: serde_json::Value = serde_json::from_slice(&out).unwrap();
    let token = v["token"].as_str().unwrap().to_string();
    ksef(state).args(["auth", "logout"]).assert().success();
    ksef(state).env("KSEF_TOKEN", &token).args(["auth", "login", "--nip", "5265877635"]).assert().success();
    let out = ksef(state).args(["--output", "json", "limits"]).assert().success().get_output().stdout.clone();
    let limits: serde_json::Value = serde_json::from_slice(&out).unwrap();
    assert!(limits["context"]["onlineSession"].is_object(), "{limits}");
    ksef(state).args(["tokens", "new", "--description", "bad perms", "--permission", "Everything"]).assert().code(2);
}

fn openssl(dir: &std::path::Path, args: &[&str]) {
    let o = std::process::Command::new("openssl").current_dir(dir).args(args).output().expect("the openssl CLI");
    assert!(o.status.success(), "openssl {args:?}: {}", String::from_utf8_lossy(&o.stderr));
}

fn stderr_of(a: &assert_cmd::assert::Assert) -> String {
    String::from_utf8_lossy(&a.get_output().stderr).into_owned()
}

/// Password-protected keys: an encrypted PKCS#8 key with --cert/--key and a PKCS#12 file with
/// --p12 log in with the right password (env or file) and fail with an actionable message and
/// exit code 4 with a wrong one or none.
#[test]
fn protected_keys_log_in_and_wrong_passwords_are_explained() {
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("state");
    let nip = "5265877635";
    ksef(&state).args(["identity", "new", "--nip", nip]).assert().success();
    let id = state.join("identities").join(nip);
    openssl(&id, &["pkcs8", "-topk8", "-in", "key.pem", "-out", "enc.pem", "-passout", "pass:dobre hasło"]);
    openssl(
        &id,
        &["pkcs12", "-export", "-inkey", "key.pem", "-in", "cert.pem", "-out", "id.p12", "-passout", "pass:p12-pass"],
    );
    let (cert, enc, p12) = (id.join("cert.pem"), id.join("enc.pem"), id.join("id.p12"));
    let pw_file = dir.path().join("pw.txt");
    std::fs::write(&pw_file, "p12-pass\n").unwrap();

    let login = |extra: &[&std::ffi::OsStr], password: Option<&str>| {
        let mut c = ksef(&state);
        c.env_remove("KSEF_KEY_PASSWORD");
        if let Some(p) = password {
            c.env("KSEF_KEY_PASSWORD", p);
        }
        c.args(["auth", "login", "--nip", nip]).args(extra).assert()
    };
    let key_args = [std::ffi::OsStr::new("--cert"), cert.as_os_str(), "--key".as_ref(), enc.as_os_str()];
    let wrong = login(&key_args, Some("złe hasło")).code(4);
    let msg = stderr_of(&wrong);
    assert!(msg.contains("wrong password for") && msg.contains("enc.pem"), "{msg}");
    let none = login(&key_args, None).code(4);
    assert!(stderr_of(&none).contains("KSEF_KEY_PASSWORD"), "{}", stderr_of(&none));
    login(&key_args, Some("dobre hasło")).success();

    let p12_args = [std::ffi::OsStr::new("--p12"), p12.as_os_str()];
    let wrong = login(&p12_args, Some("nope")).code(4);
    assert!(stderr_of(&wrong).contains("wrong password for"), "{}", stderr_of(&wrong));
    let mut with_file = p12_args.to_vec();
    with_file.extend([std::ffi::OsStr::new("--key-password-file"), pw_file.as_os_str()]);
    login(&with_file, Some("ignored when a file is given")).success();
    let out = ksef(&state).args(["--output", "json", "auth", "sessions"]).assert().success();
    assert!(!String::from_utf8_lossy(&out.get_output().stdout).contains("p12-pass"));
}

/// An expired certificate is refused before anything is sent, saying when it expired.
#[test]
fn expired_certificate_is_refused_with_its_expiry_date() {
    use ksef_crypto::UnixTime;
    use ksef_crypto::x509::{SubjectFields, self_signed};
    let dir = tempfile::tempdir().unwrap();
    let key = ksef_crypto::PrivateKey::generate_p256(&mut rand::rng());
    let subject = SubjectFields::person_nip("5265877635", "Jan", "Kowalski").unwrap();
    // Valid from 2024-01-01 to 2025-01-01 (UTC).
    let cert =
        self_signed(&key, &subject, &[1, 2, 3], UnixTime::from_secs(1_704_067_200), UnixTime::from_secs(1_735_689_600))
            .unwrap();
    std::fs::write(dir.path().join("cert.pem"), cert.to_pem().unwrap()).unwrap();
    std::fs::write(dir.path().join("key.pem"), key.to_pkcs8_pem().unwrap().as_bytes()).unwrap();
    let a = ksef(&dir.path().join("state"))
        .args(["auth", "login", "--nip", "5265877635", "--cert"])
        .arg(dir.path().join("cert.pem"))
        .arg("--key")
        .arg(dir.path().join("key.pem"))
        .assert()
        .code(4);
    let msg = stderr_of(&a);
    assert!(msg.contains("expired on 2025-01-01"), "{msg}");
}

/// A 429 whose Retry-After is longer than the client waits by itself: exit code 5 and the
/// wait KSeF asked for, in words.
#[test]
fn rate_limit_shows_the_wait_and_exits_5() {
    use std::io::{BufRead, Read, Write};
    let dir = tempfile::tempdir().unwrap();
    let bin = assert_cmd::cargo::cargo_bin("ksef");
    let mut child = std::process::Command::new(bin)
        .arg("--state-dir")
        .arg(dir.path().join("server"))
        .args(["emulator", "serve", "--in-memory"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let mut line = String::new();
    std::io::BufReader::new(child.stdout.take().unwrap()).read_line(&mut line).unwrap();
    let url = line.trim().to_string();
    let state = dir.path().join("client");
    ksef(&state).args(["--env", &url, "identity", "new", "--nip", "5265877635", "--ec"]).assert().success();
    ksef(&state).args(["--env", &url, "auth", "login", "--nip", "5265877635"]).assert().success();

    // Every GET /rate-limits now answers 429 with Retry-After: 3600 (the emulator's admin API).
    let authority = url.trim_start_matches("http://").split('/').next().unwrap().to_string();
    let body = r#"{"seed":1,"rules":{"get_rate_limits":{"tooManyRequestsRate":1.0,"retryAfterSeconds":3600}}}"#;
    let mut s = std::net::TcpStream::connect(&authority).unwrap();
    write!(
        s,
        "POST /_emulator/faults HTTP/1.1\r\nHost: {authority}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
    .unwrap();
    let mut reply = String::new();
    s.read_to_string(&mut reply).unwrap();
    assert!(reply.starts_with("HTTP/1.1 2"), "{reply}");

    let a = ksef(&state).args(["--env", &url, "limits"]).assert();
    child.kill().unwrap();
    child.wait().unwrap();
    let a = a.code(5);
    let msg = stderr_of(&a);
    assert!(msg.contains("rate limit exceeded") && msg.contains("wait 3600 s"), "{msg}");
}

mod emulator_serve;
