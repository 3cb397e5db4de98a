//! HTTP-level fault injection: each kind, determinism, the admin endpoints.

use std::time::{Duration, Instant};

use ksef_emulator::{Emulator, HttpFaultRule, HttpFaults};
use serde_json::{Value, json};

use crate::common::*;
use crate::sessions::{fa3, invoice_xml, open, owner_login, send_body, session_crypto};

fn with(op: &str, rule: HttpFaultRule) -> Emulator {
    Emulator::builder().http_faults(HttpFaults::default().rule(op, rule)).start().expect("emulator starts")
}

/// A raw POST that reports transport errors instead of panicking.
fn try_post(url: &str, body: &Value) -> Result<u16, String> {
    let agent: ureq::Agent = ureq::Agent::config_builder().http_status_as_error(false).build().into();
    match agent.post(url).send_json(body) {
        Ok(mut r) => r.body_mut().read_to_vec().map(|_| r.status().as_u16()).map_err(|e| e.to_string()),
        Err(e) => Err(e.to_string()),
    }
}

fn admin(emu: &Emulator, path: &str) -> String {
    format!("http://{}/_emulator/{path}", emu.addr())
}

#[test]
fn error_5xx_and_forced_429_with_retry_after() {
    let emu = with("auth_challenge", HttpFaultRule { error_5xx_rate: 1.0, ..Default::default() });
    let http = Http::new(&emu);
    let r = http.post("/auth/challenge", None, None);
    assert_eq!(r.status, 503);
    // Other operations are untouched.
    assert_eq!(http.get("/security/public-key-certificates", None).status, 200);
    assert_eq!(emu.fault_stats()["error_5xx"], 1);

    let rule = HttpFaultRule { too_many_requests_rate: 1.0, retry_after_seconds: Some(7), ..Default::default() };
    emu.set_http_faults(HttpFaults::default().rule("*", rule)).unwrap();
    let r = http.post("/auth/challenge", None, None);
    assert_eq!(r.status, 429);
    assert_eq!(r.header("retry-after"), Some("7"));
    assert_eq!(emu.fault_stats()["too_many_requests"], 1);
    assert_eq!(emu.fault_stats()["error_5xx"], 0, "counters restart with a new configuration");
}

#[test]
fn dropped_connection_and_latency() {
    let emu = with("auth_challenge", HttpFaultRule { drop_rate: 1.0, latency_ms: 150, ..Default::default() });
    let url = format!("{}/auth/challenge", emu.base_url());
    let t = Instant::now();
    let r = try_post(&url, &json!({}));
    assert!(r.is_err(), "expected a broken connection, got {r:?}");
    assert!(t.elapsed() >= Duration::from_millis(150));
    let s = emu.fault_stats();
    assert_eq!((s["drop"], s["latency"]), (1, 1));
}

#[test]
fn lost_response_after_the_state_changed_makes_the_resend_a_duplicate() {
    let emu = with("testdata_create_subject", HttpFaultRule { lost_response_rate: 1.0, ..Default::default() });
    let nip = fresh_nip(80);
    let body = json!({"subjectNip": nip, "subjectType": "EnforcementAuthority", "description": "Komornik"});
    let url = format!("{}/testdata/subject", emu.base_url());
    assert!(try_post(&url, &body).is_err(), "the response is lost");
    assert_eq!(emu.fault_stats()["lost_response"], 1);
    // The client retries: the subject exists already.
    emu.set_http_faults(HttpFaults::default()).unwrap();
    let http = Http::new(&emu);
    let r = http.post("/testdata/subject", None, Some(&body));
    assert_eq!(r.status, 400, "{}", r.text());
}

#[test]
fn system_warning_and_statuses_held_at_150_and_100() {
    let rule = HttpFaultRule {
        system_warning: Some("[TEST]: planned maintenance".into()),
        invoice_stuck_polls: 2,
        session_stuck_polls: 1,
        ..Default::default()
    };
    let emu = Emulator::builder()
        .http_faults(
            HttpFaults::default()
                .rule("get_session_invoice_status", rule.clone())
                .rule("get_session_status", rule.clone())
                .rule("get_public_key_certificates", rule),
        )
        .start()
        .unwrap();
    let http = Http::new(&emu);
    let r = http.get("/security/public-key-certificates", None);
    assert_eq!(r.header("x-system-warning"), Some("[TEST]: planned maintenance"));

    let (nip, token) = owner_login(&emu, &http, 81);
    let c = session_crypto(&http);
    let s = open(&http, &token, &c, fa3());
    let r = http.post(
        &format!("/sessions/online/{s}/invoices"),
        Some(&token),
        Some(&send_body(&c, &invoice_xml(&nip, "FV/F/1"))),
    );
    assert_eq!(r.status, 202, "{}", r.text());
    let inv = r.json()["referenceNumber"].as_str().unwrap().to_owned();
    let poll = || http.get(&format!("/sessions/{s}/invoices/{inv}"), Some(&token)).json();
    for _ in 0..2 {
        let st = poll();
        assert_eq!(st["status"]["code"], 150, "{st}");
        assert!(st.get("ksefNumber").is_none());
    }
    let st = wait_invoice(&http, &token, &s, &inv);
    assert_eq!(st["status"]["code"], 200, "{st}");
    assert!(st["ksefNumber"].is_string());

    assert_eq!(http.post(&format!("/sessions/online/{s}/close"), Some(&token), None).status, 204);
    assert_eq!(http.get(&format!("/sessions/{s}"), Some(&token)).json()["status"]["code"], 100);
    assert_eq!(wait_session(&http, &token, &s)["status"]["code"], 200);
    let stats = emu.fault_stats();
    assert_eq!((stats["invoice_stuck"], stats["session_stuck"]), (2, 1));
    assert!(stats["system_warning"] >= 4);
}

#[test]
fn faults_are_deterministic_per_seed_and_set_over_http() {
    let emu = Emulator::builder().start().unwrap();
    let http = Http::new(&emu);
    let config = json!({"seed": 9, "rules": {"auth_challenge": {"error5xxRate": 0.5}}});
    let agent: ureq::Agent = ureq::Agent::config_builder().http_status_as_error(false).build().into();
    let run = || -> Vec<u16> {
        let r = agent.post(admin(&emu, "faults")).send_json(&config).unwrap();
        assert_eq!(r.status(), 204);
        (0..24).map(|_| http.post("/auth/challenge", None, None).status).collect()
    };
    let a = run();
    assert!(a.contains(&503) && a.contains(&200), "{a:?}");
    assert_eq!(a, run(), "the same seed replays the same faults");
    let stats: Value = agent.get(admin(&emu, "stats")).call().unwrap().body_mut().read_json().unwrap();
    assert_eq!(stats["faults"]["error_5xx"], a.iter().filter(|s| **s == 503).count());
    // Unknown operations and bad rates are refused.
    let bad = json!({"rules": {"no_such_operation": {"drop_rate": 1.0}}});
    assert_eq!(agent.post(admin(&emu, "faults")).send_json(&bad).unwrap().status(), 400);
    let bad = json!({"rules": {"*": {"dropRate": 2.0}}});
    assert_eq!(agent.post(admin(&emu, "faults")).send_json(&bad).unwrap().status(), 400);
    let unknown = HttpFaults::default().rule("nope", HttpFaultRule::default());
    assert!(Emulator::builder().http_faults(unknown).start().is_err());
}

/// Each operation draws from its own stream: calling another operation more or less often does
/// not change the faults one operation sees.
#[test]
fn each_operation_has_its_own_fault_stream() {
    let emu = Emulator::builder().rate_limits(false).start().unwrap();
    let http = Http::new(&emu);
    let rule = HttpFaultRule { error_5xx_rate: 0.5, ..Default::default() };
    let config = HttpFaults { seed: 11, ..Default::default() }
        .rule("auth_challenge", rule.clone())
        .rule("get_public_key_certificates", rule);
    emu.set_http_faults(config.clone()).unwrap();
    let alone: Vec<u16> = (0..16).map(|_| http.post("/auth/challenge", None, None).status).collect();
    assert!(alone.contains(&503) && alone.contains(&200), "{alone:?}");
    emu.set_http_faults(config).unwrap();
    let mut interleaved = Vec::new();
    for i in 0..16 {
        for _ in 0..(i % 3) {
            http.get("/security/public-key-certificates", None);
        }
        interleaved.push(http.post("/auth/challenge", None, None).status);
    }
    assert_eq!(alone, interleaved);
    let by_op = emu.fault_stats_by_operation();
    assert_eq!(by_op["auth_challenge"]["error_5xx"], interleaved.iter().filter(|s| **s == 503).count() as u64);
    assert!(by_op["get_public_key_certificates"]["error_5xx"] > 0);
}

/// A TOML file (the `ksef emulator serve --faults` format): rules by rate-limit group, typed
/// errors for bad files; the admin endpoint takes TOML too and reports counts per operation.
#[test]
fn fault_files_groups_typed_errors_and_toml_over_http() {
    use ksef_emulator::{FaultConfigError, StartError};
    let dir = std::env::temp_dir().join(format!("ksef-faults-{}-{}", std::process::id(), fresh_nip(900)));
    std::fs::create_dir_all(&dir).unwrap();
    let group = ksef_model::OperationSpec::by_name("get_public_key_certificates").unwrap().rate_limit_group;
    let file = dir.join("faults.toml");
    std::fs::write(&file, format!("seed = 5\n[rules.{group}]\nerror_5xx_rate = 1.0\n")).unwrap();
    let emu = Emulator::builder().http_faults_file(&file).start().unwrap();
    let http = Http::new(&emu);
    assert_eq!(http.get("/security/public-key-certificates", None).status, 503);
    let agent: ureq::Agent = ureq::Agent::config_builder().http_status_as_error(false).build().into();
    let stats: Value = agent.get(admin(&emu, "stats")).call().unwrap().body_mut().read_json().unwrap();
    assert_eq!(stats["faultsByOperation"]["get_public_key_certificates"]["error_5xx"], 1, "{stats}");

    let toml = "seed = 3\n[rules.\"*\"]\nsystem_warning = \"[TEST]: toml\"\n";
    let r = agent.post(admin(&emu, "faults")).header("Content-Type", "application/toml").send(toml).unwrap();
    assert_eq!(r.status(), 204);
    let current: Value = agent.get(admin(&emu, "faults")).call().unwrap().body_mut().read_json().unwrap();
    assert_eq!(current["seed"], 3);
    assert_eq!(http.get("/security/public-key-certificates", None).header("x-system-warning"), Some("[TEST]: toml"));
    let mut r = agent.post(admin(&emu, "faults")).send("[rules.nope]\ndrop_rate = 1.0\n").unwrap();
    assert_eq!(r.status(), 400);
    let body: Value = r.body_mut().read_json().unwrap();
    assert!(body["error"].as_str().unwrap().contains("nope"), "{body}");

    let start = |text: &str| {
        std::fs::write(&file, text).unwrap();
        match Emulator::builder().http_faults_file(&file).start() {
            Err(StartError::Faults(e)) => e,
            other => panic!("expected a fault configuration error, got {other:?}"),
        }
    };
    assert!(matches!(
        start("[rules.\"*\"]\ndrop_rate = 1.5\n"),
        FaultConfigError::RateOutOfRange { field: "dropRate", .. }
    ));
    assert!(matches!(start("[rules.no_such]\n"), FaultConfigError::UnknownTarget(t) if t == "no_such"));
    assert!(matches!(start("[rules.\"*\"]\nunknown_field = 1\n"), FaultConfigError::Toml(_)));
    let json = dir.join("faults.json");
    std::fs::write(&json, r#"{"rules": {"*": {"lostResponseRate": 0.1, "latency_ms": 1}}}"#).unwrap();
    assert_eq!(ksef_emulator::HttpFaults::load(&json).unwrap().rules["*"].latency_ms, 1);
    assert!(matches!(
        Emulator::builder().http_faults_file(dir.join("missing.toml")).start(),
        Err(StartError::Faults(FaultConfigError::Read(..)))
    ));
    assert!(matches!(
        emu.set_http_faults(HttpFaults::default().rule("*", HttpFaultRule { drop_rate: -0.1, ..Default::default() })),
        Err(FaultConfigError::RateOutOfRange { .. })
    ));
    let _ = std::fs::remove_dir_all(&dir);
}
