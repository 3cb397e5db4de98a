//! Online invoice submissions per second over loopback HTTP (issue #10, §9: target ≥ 2,000/s
//! on 2 cores).
//!
//! Each measured iteration opens an online session and submits `PER_ITERATION` distinct FA(3)
//! invoices (real AES-256-CBC encryption, hashes and sizes; `POST
//! /sessions/online/{ref}/invoices`) from `CLIENTS` threads with keep-alive connections, then
//! closes the session and polls it until its final status: the clock stops only when the
//! emulator's worker has fully processed every invoice (decryption, hash checks, XML checks,
//! duplicate check, numbering) and the session is 200 with all of them successful (processing
//! is asynchronous, as on KSeF: the 202 comes first). The request bodies are built
//! before the clock starts, so the figure is the server's, not the client's encryption. Rate
//! limits are off (a load test measures capacity, not KSeF's windows).
//!
//! `cargo bench -p ksef-emulator --bench submissions`

use std::time::{Duration, Instant};

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use ksef_crypto::{KeyUsage, KsefPublicKey, SessionKey, UnixTime, encoding::b64_encode, sha256};
use ksef_emulator::Emulator;
use ksef_emulator::domain::Identifier;
use serde_json::{Value, json};

const CLIENTS: usize = 4;
const PER_ITERATION: usize = 2_000;
const SELLER: &str = "5265877635";

fn agent() -> ureq::Agent {
    ureq::Agent::config_builder().http_status_as_error(false).max_idle_connections_per_host(CLIENTS).build().into()
}

fn json_call(agent: &ureq::Agent, method: &str, url: &str, token: Option<&str>, body: Option<&Value>) -> Value {
    let auth = token.map(|t| format!("Bearer {t}"));
    let mut res = match (method, body) {
        ("GET", _) => {
            let mut r = agent.get(url);
            if let Some(a) = &auth {
                r = r.header("Authorization", a);
            }
            r.call()
        }
        (_, b) => {
            let mut r = agent.post(url);
            if let Some(a) = &auth {
                r = r.header("Authorization", a);
            }
            match b {
                Some(b) => r.send_json(b),
                None => r.send_empty(),
            }
        }
    }
    .expect("HTTP exchange");
    let status = res.status().as_u16();
    let v: Value = res.body_mut().read_json().unwrap_or(Value::Null);
    assert!(status < 300, "{method} {url}: {status} {v}");
    v
}

struct Setup {
    _emu: Emulator,
    base: String,
    token: String,
    public: KsefPublicKey,
}

fn setup() -> Setup {
    let emu = Emulator::builder().rate_limits(false).start().expect("emulator starts");
    let base = emu.base_url();
    let agent = agent();
    let init = emu.authenticate(Identifier::nip(SELLER), Identifier::nip(SELLER)).expect("auth");
    json_call(&agent, "GET", &format!("{base}/auth/{}", init.reference_number), Some(&init.authentication_token), None);
    let redeemed =
        json_call(&agent, "POST", &format!("{base}/auth/token/redeem"), Some(&init.authentication_token), None);
    let token = redeemed["accessToken"]["token"].as_str().expect("access token").to_owned();
    let keys = json_call(&agent, "GET", &format!("{base}/security/public-key-certificates"), None, None);
    let public = keys
        .as_array()
        .expect("key list")
        .iter()
        .filter_map(|k| {
            let usages = k["usage"].as_array()?.iter().filter_map(Value::as_str);
            KsefPublicKey::from_json_fields(k["certificate"].as_str()?, usages).ok()
        })
        .find(|k| k.usable_for(KeyUsage::SymmetricKeyEncryption, UnixTime::now()))
        .expect("a symmetric-key encryption key");
    Setup { _emu: emu, base, token, public }
}

fn template() -> String {
    let shared = std::env::var_os("KSEF_SHARED_DIR")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../shared"));
    let path = shared.join("fixtures/invoices/invoice-template-fa-3.xml");
    let today = chrono::Utc::now().date_naive().to_string();
    std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
        .replace("#nip#", SELLER)
        .replace("<P_1>2025-09-01</P_1>", &format!("<P_1>{today}</P_1>"))
}

/// Opens a session and builds `n` encrypted submissions for it (not timed).
fn prepare(s: &Setup, template: &str, n: usize, serial: &mut u64) -> (String, Vec<Vec<u8>>) {
    let key = SessionKey::generate(&mut rand::rng()).expect("rng");
    let wrapped = s.public.wrap_session_key(&key, &mut rand::rng()).expect("wrap");
    let open = json!({
        "formCode": {"systemCode": "FA (3)", "schemaVersion": "1-0E", "value": "FA"},
        "encryption": {"encryptedSymmetricKey": b64_encode(wrapped), "initializationVector": b64_encode(key.iv()),
                       "publicKeyId": s.public.public_key_id()}
    });
    let session = json_call(&agent(), "POST", &format!("{}/sessions/online", s.base), Some(&s.token), Some(&open));
    let reference = session["referenceNumber"].as_str().expect("session reference").to_owned();
    let bodies = (0..n)
        .map(|_| {
            *serial += 1;
            let xml = template.replace("#invoice_number#", &format!("BENCH/{serial:09}"));
            let ct = key.encrypt(xml.as_bytes());
            serde_json::to_vec(&json!({
                "invoiceHash": b64_encode(sha256(xml.as_bytes())), "invoiceSize": xml.len(),
                "encryptedInvoiceHash": b64_encode(sha256(&ct)), "encryptedInvoiceSize": ct.len(),
                "encryptedInvoiceContent": b64_encode(&ct)
            }))
            .expect("JSON")
        })
        .collect();
    (reference, bodies)
}

/// Submits `bodies` from `CLIENTS` threads; every answer must be 202.
fn submit(s: &Setup, session: &str, bodies: &[Vec<u8>]) -> Duration {
    let url = format!("{}/sessions/online/{session}/invoices", s.base);
    let auth = format!("Bearer {}", s.token);
    let started = Instant::now();
    std::thread::scope(|scope| {
        for chunk in bodies.chunks(bodies.len().div_ceil(CLIENTS)) {
            let (url, auth) = (&url, &auth);
            scope.spawn(move || {
                let agent = agent();
                for body in chunk {
                    let res = agent
                        .post(url)
                        .header("Authorization", auth)
                        .header("Content-Type", "application/json")
                        .send(&body[..])
                        .expect("HTTP exchange");
                    assert_eq!(res.status().as_u16(), 202, "submission refused");
                }
            });
        }
    });
    json_call(&agent(), "POST", &format!("{}/sessions/online/{session}/close", s.base), Some(&s.token), None);
    let agent = agent();
    loop {
        let st = json_call(&agent, "GET", &format!("{}/sessions/{session}", s.base), Some(&s.token), None);
        match st["status"]["code"].as_u64() {
            Some(100 | 170) => std::thread::sleep(Duration::from_millis(1)),
            Some(200) => {
                assert_eq!(st["successfulInvoiceCount"].as_u64(), Some(bodies.len() as u64), "{st}");
                break;
            }
            _ => panic!("session did not succeed: {st}"),
        }
    }
    started.elapsed()
}

fn bench(c: &mut Criterion) {
    let s = setup();
    let template = template();
    let mut serial = 0u64;
    let mut g = c.benchmark_group("emulator");
    g.sample_size(10).measurement_time(Duration::from_secs(20));
    g.throughput(Throughput::Elements(PER_ITERATION as u64));
    g.bench_function("online_submissions", |b| {
        b.iter_custom(|iters| {
            let mut total = Duration::ZERO;
            for _ in 0..iters {
                let (session, bodies) = prepare(&s, &template, PER_ITERATION, &mut serial);
                total += submit(&s, &session, &bodies);
            }
            total
        });
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
