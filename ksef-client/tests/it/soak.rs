//! Fault soak through the async library API (issue #8, §1).
//!
//! Invoices, half online (several concurrent sessions) and half in batches, go to an emulator
//! that injects 5xx answers, dropped connections, responses lost *after* the state change on
//! invoice send and session close, 429 bursts with `Retry-After`, latency, and whose access
//! tokens expire many times during the run. The caller's recovery is the plain one the library
//! supports: resend what did not get an answer; KSeF's duplicate check (440 with
//! `originalKsefNumber`) resolves a resend of something that did arrive. At the end the
//! emulator's own store must hold exactly one KSeF number per invoice, each equal to what the
//! caller recorded, and nothing else.
//!
//! `soak_small` runs in CI (`KSEF_SOAK_INVOICES`, default 500). The full figure:
//! `KSEF_SOAK_INVOICES=10000 cargo test --release -p ksef-client --all-features --test it soak_full -- --ignored --nocapture`.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use ksef_client::flows::{BatchInvoice, BatchOptions};
use ksef_client::{Error, FormCode, KsefClient, OnlineSession, SendOptions};
use ksef_emulator::Emulator;
use ksef_emulator::config::TokenLifetimes;
use ksef_emulator::faults::{HttpFaultRule, HttpFaults};
use ksef_model::operations::TestdataCreateSubject;
use ksef_transport::ReqwestTransport;

use crate::common::*;

/// Harness-level retries, by the kind of failure the caller saw.
#[derive(Default, Debug)]
struct Retries(BTreeMap<&'static str, u64>);

impl Retries {
    /// A resend answered 440 with the original KSeF number (its first send had arrived).
    fn resolved_duplicate(&mut self) {
        *self.0.entry("resend resolved by 440").or_insert(0) += 1;
    }

    fn count(&mut self, e: &Error) {
        let kind = match e {
            Error::Api(t) if t.is_rate_limited() => "429",
            Error::Api(t) if t.status().is_some_and(|s| s.is_server_error()) => "5xx",
            Error::Api(ksef_transport::Error::Transport(_) | ksef_transport::Error::Timeout(_)) => "connection",
            Error::Api(_) => "other api error",
            Error::Auth(_) | Error::NotAuthenticated => "auth",
            Error::Timeout { .. } => "poll timeout",
            _ => "other",
        };
        *self.0.entry(kind).or_insert(0) += 1;
    }
}

fn faults(seed: u64) -> HttpFaults {
    let base = HttpFaultRule {
        error_5xx_rate: 0.10,
        drop_rate: 0.05,
        too_many_requests_rate: 0.01,
        retry_after_seconds: Some(1),
        ..HttpFaultRule::default()
    };
    let lossy = HttpFaultRule { lost_response_rate: 0.05, ..base.clone() };
    let slow = HttpFaultRule { latency_ms: 150, ..base.clone() };
    HttpFaults { seed, ..HttpFaults::default() }
        // The pre-signed storage host (batch part uploads, UPO downloads): 5xx, drops and
        // uploads stored whose answer is lost.
        .rule(
            "storage",
            HttpFaultRule {
                error_5xx_rate: 0.10,
                drop_rate: 0.02,
                lost_response_rate: 0.02,
                ..HttpFaultRule::default()
            },
        )
        .rule("*", base)
        .rule("send_invoice", lossy.clone())
        .rule("close_online_session", lossy.clone())
        .rule("close_batch_session", lossy)
        .rule("open_online_session", slow)
}

const ATTEMPTS: u32 = 60;

/// Sends one invoice in `session` (reopened when it cannot be used) until it has a KSeF number.
async fn send_online(
    client: &KsefClient<ReqwestTransport>,
    session: &mut Option<OnlineSession>,
    xml: &[u8],
    retries: &Mutex<Retries>,
) -> String {
    for _ in 0..ATTEMPTS {
        let s = match session {
            Some(s) => s,
            None => match client.open_online_session(FormCode::Fa3).await {
                Ok(s) => session.insert(s),
                Err(e) => {
                    retries.lock().unwrap().count(&e);
                    continue;
                }
            },
        };
        let reference = match client.send_invoice(s, xml, &SendOptions::default()).await {
            Ok(r) => r,
            Err(e) => {
                retries.lock().unwrap().count(&e);
                if !e.exception_codes().is_empty() {
                    // KSeF refused the session itself (e.g. closed): use a new one.
                    *session = None;
                }
                continue;
            }
        };
        for _ in 0..ATTEMPTS {
            match client.wait_for_invoice(&s.reference_number, &reference).await {
                Ok(a) => return a.ksef_number.to_string(),
                Err(Error::InvoiceRejected(r)) if r.is_duplicate() => {
                    retries.lock().unwrap().resolved_duplicate();
                    return r.extension("originalKsefNumber").expect("440 names the original").to_string();
                }
                Err(Error::InvoiceRejected(r)) => panic!("invoice rejected: {r}"),
                Err(e) => retries.lock().unwrap().count(&e),
            }
        }
    }
    panic!("no KSeF number after {ATTEMPTS} attempts");
}

/// Sends `invoices` (file name, XML) as one batch until every one has a KSeF number.
async fn send_batch(
    client: &KsefClient<ReqwestTransport>,
    invoices: &[(String, Vec<u8>)],
    retries: &Mutex<Retries>,
) -> Vec<(String, String)> {
    let opts = BatchOptions::default();
    for _ in 0..ATTEMPTS {
        let batch = invoices.iter().map(|(n, x)| BatchInvoice::bytes(n.clone(), x.clone())).collect();
        match client.send_batch(FormCode::Fa3, batch, &opts).await {
            Ok(report) => {
                let mut out: Vec<(String, String)> =
                    report.accepted().map(|(n, a)| (n.to_owned(), a.ksef_number.to_string())).collect();
                for (n, r) in report.rejected() {
                    assert!(r.is_duplicate(), "{n} rejected: {r}");
                    retries.lock().unwrap().resolved_duplicate();
                    out.push((
                        n.to_owned(),
                        r.extension("originalKsefNumber").expect("440 names the original").to_owned(),
                    ));
                }
                assert_eq!(out.len(), invoices.len(), "every invoice of the batch is reported");
                return out;
            }
            Err(e) => {
                if std::env::var_os("KSEF_SOAK_DEBUG").is_some() {
                    println!("batch attempt failed: {e:?}");
                }
                retries.lock().unwrap().count(&e);
            }
        }
    }
    panic!("batch not sent after {ATTEMPTS} attempts");
}

/// The client as an integrator would configure it for a load test against an emulator whose
/// rate limits are off: no client-side limiter (with KSeF's real windows, fast status polling
/// of thousands of invoices would spend most of the run waiting for the per-minute windows,
/// which is the limiter working, not what this soak measures), the default retry policy with
/// short back-offs (the emulator's faults are instantaneous), fast polling, and a refresh margin
/// below the emulator's short token lifetime.
fn soak_client(emu: &Emulator) -> KsefClient<ReqwestTransport> {
    let retry = ksef_transport::RetryPolicy {
        base_delay: Duration::from_millis(20),
        max_delay: Duration::from_millis(200),
        ..ksef_transport::RetryPolicy::default()
    };
    KsefClient::builder(emu.base_url().parse().unwrap())
        .allow_loopback_urls(true)
        .pipeline(ksef_transport::Pipeline::default().without_limiter().with_retry_policy(retry))
        .poll_policy(ksef_client::PollPolicy {
            initial_delay: Duration::from_millis(10),
            max_delay: Duration::from_millis(100),
            timeout: Duration::from_secs(30),
        })
        .refresh_margin(Duration::from_millis(500))
        .build(ksef_transport::ReqwestTransport::new(&ksef_transport::TransportConfig::default()).unwrap())
        .unwrap()
}

fn soak(total: usize) {
    let started = Instant::now();
    let lifetimes = TokenLifetimes { access: chrono::Duration::seconds(2), ..TokenLifetimes::default() };
    let emu: Emulator = Emulator::builder()
        .lifetimes(lifetimes)
        .rate_limits(false)
        .http_faults(faults(20_261_203))
        .start()
        .expect("emulator starts");
    let nip = fresh_nip();
    let numbers: Vec<String> = (0..total).map(|i| format!("FV/SOAK/{i:05}")).collect();
    let online_n = total / 2;
    let retries = Arc::new(Mutex::new(Retries::default()));

    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    let (recorded, refreshes): (HashMap<String, String>, u64) = rt.block_on(async {
        // Set-up under the same faults: create the subject and log in, retrying like a caller.
        let client = Arc::new(soak_client(&emu));
        let mut ready = false;
        for _ in 0..ATTEMPTS {
            let created = client.call::<TestdataCreateSubject>(&(), subject_request(&nip)).await;
            let ok = match created {
                Ok(_) => true,
                // A lost answer whose creation happened: the subject already exists.
                Err(e) => {
                    retries.lock().unwrap().count(&e);
                    e.exception_codes().contains(&30001)
                }
            };
            if ok {
                ready = true;
                break;
            }
        }
        assert!(ready, "test subject not created");
        let mut logged_in = false;
        for _ in 0..ATTEMPTS {
            match client.login(xades(&nip)).await {
                Ok(()) => {
                    logged_in = true;
                    break;
                }
                Err(e) => retries.lock().unwrap().count(&e),
            }
        }
        assert!(logged_in, "login failed under faults");

        let mut tasks = Vec::new();
        // Online: 4 workers, each with its own session.
        for w in 0..4 {
            let (client, retries, nip) = (client.clone(), retries.clone(), nip.clone());
            let mine: Vec<String> = numbers[..online_n].iter().skip(w).step_by(4).cloned().collect();
            tasks.push(tokio::spawn(async move {
                let mut session = None;
                let mut out = Vec::new();
                for n in mine {
                    let k = send_online(&client, &mut session, &invoice(&nip, &n), &retries).await;
                    out.push((n, k));
                }
                if let Some(s) = session {
                    // A failed close leaves the session to expire; its invoices are already numbered.
                    if let Err(e) = client.close_online_session(&s).await {
                        retries.lock().unwrap().count(&e);
                    }
                }
                if std::env::var_os("KSEF_SOAK_DEBUG").is_some() {
                    println!("online worker {w} done at {:.1}s", started.elapsed().as_secs_f64());
                }
                out
            }));
        }
        // Batches of at most 500, one after another, on this task (`send_batch`'s future is not
        // `Send`-general enough for `tokio::spawn`) while the online workers run.
        let mut all = HashMap::new();
        for chunk in numbers[online_n..].chunks(500) {
            let files: Vec<(String, Vec<u8>)> =
                chunk.iter().map(|n| (n.replace('/', "_") + ".xml", invoice(&nip, n))).collect();
            for (file, k) in send_batch(&client, &files, &retries).await {
                let n = file.trim_end_matches(".xml").replace('_', "/");
                assert!(all.insert(n.clone(), k).is_none(), "{n} reported twice");
            }
            if std::env::var_os("KSEF_SOAK_DEBUG").is_some() {
                println!("batch of {} done at {:.1}s", chunk.len(), started.elapsed().as_secs_f64());
            }
        }
        for t in tasks {
            for (n, k) in t.await.unwrap() {
                assert!(all.insert(n.clone(), k).is_none(), "{n} reported twice");
            }
        }
        assert!(client.refresh_count() > 0, "the access token expired and was refreshed during the run");
        (all, client.refresh_count())
    });

    // The emulator's side: exactly one KSeF number per invoice, the one the caller recorded.
    let stored = emu.store().invoices_with_party(&nip).unwrap();
    if std::env::var_os("KSEF_SOAK_DEBUG").is_some() {
        println!("{} stored; first: {:?}", stored.len(), stored.first().map(|r| (&r.invoice_number, &r.ksef_number)));
        println!(
            "elapsed {:.1}s faults {:?} retries {:?}",
            started.elapsed().as_secs_f64(),
            emu.fault_stats(),
            retries.lock().unwrap().0
        );
    }
    let mut by_number: HashMap<String, Vec<String>> = HashMap::new();
    for r in &stored {
        // The template wraps the number: `FA/GRQMB-FV/SOAK/00035/05/2025`.
        let ours = r.invoice_number.as_deref().and_then(|n| n.find("FV/SOAK/").map(|i| &n[i..i + 13]));
        if let (Some(n), Some(k)) = (ours, &r.ksef_number) {
            by_number.entry(n.to_owned()).or_default().push(k.clone());
        }
    }
    let duplicates = by_number.values().filter(|v| v.len() > 1).count();
    let lost = numbers.iter().filter(|n| !by_number.contains_key(*n)).count();
    assert_eq!(duplicates, 0, "invoices with more than one KSeF number");
    assert_eq!(lost, 0, "invoices without a KSeF number");
    assert_eq!(by_number.len(), total, "no invoice the caller did not send");
    for n in &numbers {
        assert_eq!(by_number[n], vec![recorded[n].clone()], "{n}: the caller's number is the emulator's");
    }
    println!(
        "soak: {total} invoices ({online_n} online, {} batch) in {:.1} s: {} KSeF numbers, 0 duplicates, 0 lost; \
         access-token refreshes {refreshes}; injected faults {:?} (of which on the storage host {:?}); \
         caller-level retries {:?}",
        total - online_n,
        started.elapsed().as_secs_f64(),
        by_number.len(),
        emu.fault_stats(),
        emu.fault_stats_by_operation().into_iter().filter(|(op, _)| op.starts_with("storage")).collect::<Vec<_>>(),
        retries.lock().unwrap().0,
    );
}

#[test]
fn soak_small() {
    let n = std::env::var("KSEF_SOAK_INVOICES").ok().and_then(|v| v.parse().ok()).unwrap_or(500);
    soak(n);
}

#[test]
#[ignore = "long: 10,000 invoices; run with --ignored --nocapture (release recommended)"]
fn soak_full() {
    let n = std::env::var("KSEF_SOAK_INVOICES").ok().and_then(|v| v.parse().ok()).unwrap_or(10_000);
    soak(n);
}
