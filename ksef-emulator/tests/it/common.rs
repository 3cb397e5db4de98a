//! A small HTTP client and fixtures for the tests.

use std::path::PathBuf;

use ksef_emulator::Emulator;
use ksef_emulator::domain::Identifier;
use serde_json::{Value, json};

pub struct Resp {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Resp {
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.text()))
    }

    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(k, _)| k.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
    }

    /// The exception codes of a legacy 400 body.
    pub fn exception_codes(&self) -> Vec<u64> {
        assert_eq!(self.status, 400, "expected 400, got {}: {}", self.status, self.text());
        self.json()["exception"]["exceptionDetailList"]
            .as_array()
            .expect("exceptionDetailList")
            .iter()
            .map(|e| e["exceptionCode"].as_u64().expect("code"))
            .collect()
    }
}

pub struct Http {
    agent: ureq::Agent,
    pub base: String,
}

impl Http {
    pub fn new(emu: &Emulator) -> Self {
        let agent: ureq::Agent = ureq::Agent::config_builder().http_status_as_error(false).build().into();
        Self { agent, base: emu.base_url() }
    }

    pub fn call(
        &self,
        method: &str,
        path: &str,
        token: Option<&str>,
        body: Option<&Value>,
        headers: &[(&str, &str)],
    ) -> Resp {
        let url = format!("{}{path}", self.base);
        let auth = token.map(|t| format!("Bearer {t}"));
        macro_rules! hdrs {
            ($req:expr) => {{
                let mut r = $req;
                if let Some(a) = &auth {
                    r = r.header("Authorization", a);
                }
                for (k, v) in headers {
                    r = r.header(*k, *v);
                }
                r
            }};
        }
        let res = match method {
            "GET" => hdrs!(self.agent.get(&url)).call(),
            "DELETE" => hdrs!(self.agent.delete(&url)).call(),
            "POST" | "PUT" => {
                let r = if method == "POST" { self.agent.post(&url) } else { self.agent.put(&url) };
                let r = hdrs!(r);
                match body {
                    Some(b) => r.send_json(b),
                    None => r.send_empty(),
                }
            }
            m => panic!("method {m}"),
        };
        let mut res = res.expect("HTTP exchange");
        let status = res.status().as_u16();
        let headers =
            res.headers().iter().map(|(k, v)| (k.as_str().to_owned(), v.to_str().unwrap_or("").to_owned())).collect();
        let body = res.body_mut().read_to_vec().expect("body");
        super::conformance::check(method, path, status, &body);
        Resp { status, headers, body }
    }

    pub fn post_raw(&self, path: &str, content_type: &str, body: &[u8]) -> Resp {
        let url = format!("{}{path}", self.base);
        let mut res = self.agent.post(&url).header("Content-Type", content_type).send(body).expect("HTTP exchange");
        let status = res.status().as_u16();
        let headers =
            res.headers().iter().map(|(k, v)| (k.as_str().to_owned(), v.to_str().unwrap_or("").to_owned())).collect();
        let body = res.body_mut().read_to_vec().expect("body");
        super::conformance::check("POST", path, status, &body);
        Resp { status, headers, body }
    }

    pub fn get(&self, path: &str, token: Option<&str>) -> Resp {
        self.call("GET", path, token, None, &[])
    }

    pub fn post(&self, path: &str, token: Option<&str>, body: Option<&Value>) -> Resp {
        self.call("POST", path, token, body, &[])
    }
}

pub fn emulator() -> Emulator {
    Emulator::builder().start().expect("emulator starts")
}

/// A NIP unique within the test run (valid checksum).
pub fn fresh_nip(seed: u32) -> String {
    use std::sync::atomic::{AtomicU32, Ordering};
    static N: AtomicU32 = AtomicU32::new(0);
    loop {
        let n = N.fetch_add(1, Ordering::Relaxed);
        let prefix = format!("52{:07}", (seed.wrapping_mul(7919) + n * 13) % 10_000_000);
        if let Some(nip) = ksef_model::Nip::from_prefix(&prefix) {
            return nip.into_string();
        }
    }
}

/// Creates a test person (NIP–PESEL link; owner of the NIP context).
pub fn create_person(http: &Http, nip: &str, pesel: &str) {
    let r = http.post(
        "/testdata/person",
        None,
        Some(&json!({"nip": nip, "pesel": pesel, "isBailiff": false, "description": "Osoba testowa"})),
    );
    assert_eq!(r.status, 200, "{}", r.text());
}

/// Authenticates (test hook) and redeems: returns (access, refresh, auth reference).
pub fn login(emu: &Emulator, http: &Http, context: Identifier, subject: Identifier) -> (String, String, String) {
    let init = emu.authenticate(context, subject).expect("auth starts");
    let st = http.get(&format!("/auth/{}", init.reference_number), Some(&init.authentication_token));
    assert_eq!(st.status, 200, "{}", st.text());
    assert_eq!(st.json()["status"]["code"], 200, "{}", st.text());
    let r = http.post("/auth/token/redeem", Some(&init.authentication_token), None);
    assert_eq!(r.status, 200, "{}", r.text());
    let v = r.json();
    (
        v["accessToken"]["token"].as_str().unwrap().to_owned(),
        v["refreshToken"]["token"].as_str().unwrap().to_owned(),
        init.reference_number,
    )
}

pub fn shared_dir() -> PathBuf {
    std::env::var_os("KSEF_SHARED_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../shared"))
}

/// Polls `path` (an invoice or session status) until its status code is not one of `transitional`
/// (the emulator processes asynchronously), backing off to stay within the rate limits.
pub fn wait_status(http: &Http, token: &str, path: &str, transitional: &[u64]) -> Value {
    let mut pause = std::time::Duration::from_millis(5);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    loop {
        let r = http.get(path, Some(token));
        assert_eq!(r.status, 200, "{path}: {}", r.text());
        let v = r.json();
        let code = v["status"]["code"].as_u64().expect("status code");
        if !transitional.contains(&code) {
            return v;
        }
        assert!(std::time::Instant::now() < deadline, "{path} still at {code}");
        std::thread::sleep(pause);
        pause = (pause * 2).min(std::time::Duration::from_millis(200));
    }
}

/// The final status of an invoice (after 100 "accepted" and 150 "processing").
pub fn wait_invoice(http: &Http, token: &str, session: &str, invoice: &str) -> Value {
    wait_status(http, token, &format!("/sessions/{session}/invoices/{invoice}"), &[100, 150])
}

/// The status of a session once its asynchronous processing after close (150, 170) is over.
pub fn wait_session(http: &Http, token: &str, session: &str) -> Value {
    wait_status(http, token, &format!("/sessions/{session}"), &[150, 170])
}
