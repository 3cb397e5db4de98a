//! Emulator, identities, invoices, clients.

use std::path::PathBuf;
use std::time::Duration;

use ksef_client::{Authenticator, KsefClient, PollPolicy};
use ksef_crypto::x509::{KeyAlgorithm, SubjectFields, TestIdentity};
use ksef_crypto::{ContextIdentifier, UnixTime};
use ksef_emulator::Emulator;
use ksef_emulator::config::TokenLifetimes;
use ksef_model::operations::TestdataCreateSubject;
use ksef_model::types::{SubjectCreateRequest, SubjectType};
use ksef_transport::{ReqwestTransport, TransportConfig, UreqTransport};

pub fn emulator() -> Emulator {
    Emulator::builder().start().expect("emulator starts")
}

/// An emulator whose access tokens live `secs` seconds.
pub fn emulator_with_access_lifetime(secs: i64) -> Emulator {
    let lifetimes = TokenLifetimes { access: chrono::Duration::seconds(secs), ..TokenLifetimes::default() };
    Emulator::builder().lifetimes(lifetimes).start().expect("emulator starts")
}

pub fn fresh_nip() -> String {
    use rand::RngExt as _;
    let mut rng = rand::rng();
    loop {
        let prefix = format!("{}{:08}", rng.random_range(1..10u32), rng.random_range(0..100_000_000u32));
        if let Some(nip) = ksef_model::Nip::from_prefix(&prefix) {
            return nip.into_string();
        }
    }
}

pub fn shared_dir() -> PathBuf {
    std::env::var_os("KSEF_SHARED_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../shared"))
}

/// An FA(3) invoice from the shared template: seller `nip`, number `number`, issued today.
pub fn invoice(nip: &str, number: &str) -> Vec<u8> {
    let path = shared_dir().join("fixtures/invoices/invoice-template-fa-3.xml");
    let t = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let today = chrono::Utc::now().date_naive().to_string();
    t.replace("#nip#", nip)
        .replace("#invoice_number#", number)
        .replace("<P_1>2025-09-01</P_1>", &format!("<P_1>{today}</P_1>"))
        .into_bytes()
}

pub fn unique_number(tag: &str) -> String {
    use rand::RngExt as _;
    format!("FV/{tag}/{:08x}", rand::rng().random::<u32>())
}

/// A seal certificate for `nip`, self-signed (TE accepts them).
pub fn seal(nip: &str) -> TestIdentity {
    let yesterday = UnixTime::from_secs(UnixTime::now().as_secs() - 86_400);
    TestIdentity::generate(
        KeyAlgorithm::P256,
        &SubjectFields::seal(nip, "Firma Testowa Sp. z o.o.").unwrap(),
        yesterday,
        30,
        &mut rand::rng(),
    )
    .unwrap()
}

pub fn xades(nip: &str) -> Authenticator {
    Authenticator::xades(ContextIdentifier::Nip(nip.to_owned()), seal(nip))
}

pub fn subject_request(nip: &str) -> SubjectCreateRequest {
    SubjectCreateRequest {
        created_date: None,
        description: "Podmiot testowy ksef-client".try_into().unwrap(),
        subject_nip: nip.try_into().unwrap(),
        subject_type: SubjectType::Jst,
        subunits: None,
    }
}

fn fast_poll() -> PollPolicy {
    PollPolicy {
        initial_delay: Duration::from_millis(20),
        max_delay: Duration::from_millis(200),
        timeout: Duration::from_secs(30),
    }
}

pub fn blocking_client(emu: &Emulator) -> KsefClient<UreqTransport> {
    KsefClient::builder(emu.base_url().parse().unwrap())
        .allow_loopback_urls(true)
        .poll_policy(fast_poll())
        .build(UreqTransport::new(&TransportConfig::default()))
        .unwrap()
}

pub fn async_client(emu: &Emulator) -> KsefClient<ReqwestTransport> {
    KsefClient::builder(emu.base_url().parse().unwrap())
        .allow_loopback_urls(true)
        .poll_policy(fast_poll())
        .build(ReqwestTransport::new(&TransportConfig::default()).unwrap())
        .unwrap()
}

/// Creates the subject in the emulator's test data and logs in with a XAdES seal (blocking).
pub fn logged_in_blocking(emu: &Emulator) -> (KsefClient<UreqTransport>, String) {
    let client = blocking_client(emu);
    let nip = fresh_nip();
    client.call_blocking::<TestdataCreateSubject>(&(), subject_request(&nip)).unwrap();
    client.login_blocking(xades(&nip)).unwrap();
    (client, nip)
}

/// Runs an async test body on its own runtime (the emulator brings its own, started outside).
pub fn run<F: std::future::Future<Output = ()>>(f: F) {
    tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap().block_on(f);
}

/// Creates the subject in the emulator's test data and logs in with a XAdES seal (async).
pub async fn logged_in_async(emu: &Emulator) -> (KsefClient<ReqwestTransport>, String) {
    let client = async_client(emu);
    let nip = fresh_nip();
    client.call::<TestdataCreateSubject>(&(), subject_request(&nip)).await.unwrap();
    client.login(xades(&nip)).await.unwrap();
    (client, nip)
}

/// One request a [`StubServer`] received.
#[derive(Debug, Clone)]
pub struct StubRequest {
    pub method: String,
    pub target: String,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

/// A loopback HTTP/1.1 stub: answers each request (one per connection, `Connection: close`)
/// with the next scripted `(status, content type, body)`, the last one repeating, and records
/// what it received.
pub struct StubServer {
    pub url: String,
    pub requests: std::sync::Arc<std::sync::Mutex<Vec<StubRequest>>>,
}

pub fn stub_server(script: Vec<(u16, &'static str, Vec<u8>)>) -> StubServer {
    use std::io::{BufRead, BufReader, Read, Write};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let requests = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let seen = requests.clone();
    std::thread::spawn(move || {
        for (i, conn) in listener.incoming().enumerate() {
            let Ok(mut conn) = conn else { return };
            let mut reader = BufReader::new(conn.try_clone().unwrap());
            let mut line = String::new();
            if reader.read_line(&mut line).unwrap_or(0) == 0 {
                continue;
            }
            let mut it = line.split_whitespace();
            let (method, target) = (it.next().unwrap_or("").to_owned(), it.next().unwrap_or("").to_owned());
            let mut headers = Vec::new();
            loop {
                let mut h = String::new();
                reader.read_line(&mut h).unwrap();
                let h = h.trim_end();
                if h.is_empty() {
                    break;
                }
                let (k, v) = h.split_once(':').unwrap();
                headers.push((k.trim().to_ascii_lowercase(), v.trim().to_owned()));
            }
            let len = headers.iter().find(|(k, _)| k == "content-length").map_or(0, |(_, v)| v.parse().unwrap());
            let mut body = vec![0; len];
            reader.read_exact(&mut body).unwrap();
            seen.lock().unwrap().push(StubRequest { method, target, headers, body });
            let (status, ctype, payload) = &script[i.min(script.len() - 1)];
            let head = format!(
                "HTTP/1.1 {status} X\r\nContent-Type: {ctype}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                payload.len()
            );
            let _ = conn.write_all(head.as_bytes());
            let _ = conn.write_all(payload);
        }
    });
    StubServer { url, requests }
}
