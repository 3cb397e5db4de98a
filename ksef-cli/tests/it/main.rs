//! Integration tests: the `ksef` binary against its embedded emulator.

use assert_cmd::Command;

fn ksef(state: &std::path::Path) -> Command {
    let mut c = Command::cargo_bin("ksef").expect("binary");
    c.env_remove("KSEF_ENV").env_remove("XDG_STATE_HOME").arg("--state-dir").arg(state);
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
fn help_documents_exit_codes() {
    let dir = tempfile::tempdir().unwrap();
    let out = ksef(dir.path()).arg("--help").assert().success().get_output().stdout.clone();
    let s = String::from_utf8(out).unwrap();
    assert!(s.contains("EXIT CODES") && s.contains("4 authentication failed"), "{s}");
}
