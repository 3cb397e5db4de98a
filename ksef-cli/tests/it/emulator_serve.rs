//! `ksef emulator serve` options: fault file, bind/port, seed, delays, token lifetimes, storage host.

use std::io::{BufRead, Read, Write};
use std::process::{Command, Stdio};

fn raw(authority: &str, request_line: &str) -> String {
    let mut s = std::net::TcpStream::connect(authority).unwrap();
    write!(s, "{request_line} HTTP/1.1\r\nHost: {authority}\r\nConnection: close\r\n\r\n").unwrap();
    let mut reply = String::new();
    s.read_to_string(&mut reply).unwrap();
    reply
}

#[test]
fn serve_options_and_fault_file() {
    let dir = tempfile::tempdir().unwrap();
    let faults = dir.path().join("faults.toml");
    std::fs::write(&faults, "seed = 77\n[rules.get_public_key_certificates]\nerror_5xx_rate = 1.0\n").unwrap();
    let bin = assert_cmd::cargo::cargo_bin("ksef");
    let mut child = Command::new(&bin)
        .arg("--state-dir")
        .arg(dir.path())
        .args(["emulator", "serve", "--in-memory", "--bind", "127.0.0.1", "--port", "0", "--faults"])
        .arg(&faults)
        .args(["--seed", "3", "--no-rate-limits", "--processing-delay", "20", "--access-token-ttl", "5m"])
        .args(["--refresh-token-ttl", "1d", "--storage-host", "ksef-storage.test"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut line = String::new();
    std::io::BufReader::new(child.stdout.take().unwrap()).read_line(&mut line).unwrap();
    let url = line.trim().to_string();
    let authority = url.trim_start_matches("http://").split('/').next().unwrap().to_string();
    let config = raw(&authority, "GET /_emulator/faults");
    let keys = raw(&authority, "GET /v2/security/public-key-certificates");
    child.kill().unwrap();
    child.wait().unwrap();
    assert!(url.starts_with("http://127.0.0.1:") && url.ends_with("/v2"), "{url}");
    assert!(config.contains("\"seed\":77"), "{config}");
    assert!(keys.starts_with("HTTP/1.1 503"), "{keys}");
    assert!(!dir.path().join("emulator").exists(), "--in-memory writes no data dir");

    // A bad fault file: exit 1 naming the problem; a bad duration: a usage error (2).
    std::fs::write(&faults, "[rules.\"*\"]\ndrop_rate = 3.0\n").unwrap();
    let out = Command::new(&bin)
        .arg("--state-dir")
        .arg(dir.path())
        .args(["emulator", "serve", "--in-memory", "--faults"])
        .arg(&faults)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("invalid fault configuration") && err.contains("dropRate"), "{err}");
    let out = Command::new(&bin)
        .arg("--state-dir")
        .arg(dir.path())
        .args(["emulator", "serve", "--in-memory", "--access-token-ttl", "5w"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2), "{}", String::from_utf8_lossy(&out.stderr));
}
