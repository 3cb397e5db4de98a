//! Asynchronous processing: statuses pass through KSeF's transitional codes before the final one.

use std::time::Duration;

use ksef_emulator::Emulator;

use crate::common::*;
use crate::sessions::{fa3, invoice_xml, open, owner_login, send_body, session_crypto};

/// Sends without waiting for the outcome; the invoice reference.
pub(crate) fn submit(http: &Http, token: &str, session: &str, c: &crate::sessions::Crypto, xml: &[u8]) -> String {
    let r = http.post(&format!("/sessions/online/{session}/invoices"), Some(token), Some(&send_body(c, xml)));
    assert_eq!(r.status, 202, "{}", r.text());
    r.json()["referenceNumber"].as_str().unwrap().to_owned()
}

#[test]
fn invoices_go_100_150_final_and_sessions_170_final() {
    let emu = Emulator::builder().processing_delay(Duration::from_millis(700)).start().unwrap();
    let http = Http::new(&emu);
    let (nip, token) = owner_login(&emu, &http, 190);
    let c = session_crypto(&http);
    let s = open(&http, &token, &c, fa3());
    let first = submit(&http, &token, &s, &c, &invoice_xml(&nip, "A/1"));
    let second = submit(&http, &token, &s, &c, &invoice_xml(&nip, "A/2"));
    let status = |inv: &str| http.get(&format!("/sessions/{s}/invoices/{inv}"), Some(&token)).json();
    std::thread::sleep(Duration::from_millis(200));
    // The worker holds the first (150, no KSeF number yet); the second waits in the queue (100).
    let st = status(&first);
    assert_eq!(st["status"]["code"], 150, "{st}");
    assert!(st.get("ksefNumber").is_none(), "{st}");
    let st = status(&second);
    assert_eq!(st["status"]["code"], 100, "{st}");
    assert_eq!(st["status"]["description"], "Faktura przyjęta do dalszego przetwarzania");
    // Invoices stay countable while they are processed.
    let session = http.get(&format!("/sessions/{s}"), Some(&token)).json();
    assert_eq!((session["status"]["code"].as_u64(), session["invoiceCount"].as_u64()), (Some(100), Some(2)));

    assert_eq!(http.post(&format!("/sessions/online/{s}/close"), Some(&token), None).status, 204);
    let session = http.get(&format!("/sessions/{s}"), Some(&token)).json();
    assert_eq!(session["status"]["code"], 170, "{session}");
    assert!(session.get("upo").is_none());
    // Closed: no more invoices.
    let r = http.post(
        &format!("/sessions/online/{s}/invoices"),
        Some(&token),
        Some(&send_body(&c, &invoice_xml(&nip, "A/3"))),
    );
    assert_eq!(r.exception_codes(), [21180]);

    for inv in [&first, &second] {
        let st = wait_invoice(&http, &token, &s, inv);
        assert_eq!(st["status"]["code"], 200, "{st}");
    }
    let session = wait_session(&http, &token, &s);
    assert_eq!(session["status"]["code"], 200, "{session}");
    assert_eq!(session["successfulInvoiceCount"], 2);
    assert!(session["upo"]["pages"][0]["downloadUrl"].is_string(), "{session}");
}

#[test]
fn without_a_delay_the_outcome_follows_at_once() {
    // 20 sends in a burst are over invoiceSend's 10 per second.
    let emu = Emulator::builder().rate_limits(false).start().unwrap();
    let http = Http::new(&emu);
    let (nip, token) = owner_login(&emu, &http, 191);
    let c = session_crypto(&http);
    let s = open(&http, &token, &c, fa3());
    let started = std::time::Instant::now();
    let refs: Vec<String> =
        (0..20).map(|i| submit(&http, &token, &s, &c, &invoice_xml(&nip, &format!("B/{i}")))).collect();
    assert_eq!(http.post(&format!("/sessions/online/{s}/close"), Some(&token), None).status, 204);
    let session = wait_session(&http, &token, &s);
    assert!(started.elapsed() < Duration::from_secs(10));
    assert_eq!(session["status"]["code"], 200, "{session}");
    assert_eq!(
        (session["successfulInvoiceCount"].as_u64(), session["failedInvoiceCount"].as_u64()),
        (Some(20), Some(0))
    );
    let list = http.get(&format!("/sessions/{s}/invoices?pageSize=100"), Some(&token)).json();
    let got: Vec<&str> =
        list["invoices"].as_array().unwrap().iter().map(|i| i["referenceNumber"].as_str().unwrap()).collect();
    assert_eq!(got, refs.iter().map(String::as_str).collect::<Vec<_>>(), "ordinal order");
    // Every job is finished and removed from the store.
    assert!(emu.store().docs(ksef_emulator::worker::JOB_KIND).unwrap().is_empty());
}

/// A job stopped after reserving its duplicate key but before storing its result (a restart)
/// finds its own reservation on the rerun and keeps that KSeF number instead of calling itself a
/// duplicate; other sessions still see a duplicate.
#[test]
fn an_interrupted_reservation_is_adopted_by_its_own_session() {
    use ksef_emulator::store::{InvoiceKey, InvoiceKeyOwner};
    let emu = Emulator::builder().start().unwrap();
    let http = Http::new(&emu);
    let (nip, token) = owner_login(&emu, &http, 192);
    let c = session_crypto(&http);
    let s = open(&http, &token, &c, fa3());
    let body = format!("{nip}-{}-01ABCDEF0123", chrono::Utc::now().format("%Y%m%d"));
    let number = format!("{body}-{:02X}", ksef_model::crc8(body.as_bytes()));
    let key = InvoiceKey {
        seller_nip: nip.clone(),
        invoice_type: "VAT".into(),
        invoice_number: "FA/GRQMB-I/1/05/2025".into(),
    };
    let owner = InvoiceKeyOwner { ksef_number: number.clone(), session: s.clone() };
    assert!(emu.store().reserve_invoice_key(&key, &owner).unwrap().is_none());
    let inv = submit(&http, &token, &s, &c, &invoice_xml(&nip, "I/1"));
    let st = wait_invoice(&http, &token, &s, &inv);
    assert_eq!(st["status"]["code"], 200, "{st}");
    assert_eq!(st["ksefNumber"], number.as_str());
    let s2 = open(&http, &token, &c, fa3());
    let inv = submit(&http, &token, &s2, &c, &invoice_xml(&nip, "I/1"));
    let st = wait_invoice(&http, &token, &s2, &inv);
    assert_eq!(st["status"]["code"], 440, "{st}");
    assert_eq!(st["status"]["extensions"]["originalKsefNumber"], number.as_str());
}

/// A job left in the store after its result was stored (a stop between the two writes) is
/// dropped on the next start without processing the invoice again; the session's counters are
/// recounted from the stored invoices.
#[test]
fn a_leftover_job_of_a_finished_invoice_is_not_run_twice() {
    use std::sync::Arc;

    use ksef_emulator::store::{MemoryStore, Store};
    let store: Arc<dyn Store> = Arc::new(MemoryStore::new());
    let (s, inv, before) = {
        let emu = Emulator::builder().store(store.clone()).start().unwrap();
        let http = Http::new(&emu);
        let (nip, token) = owner_login(&emu, &http, 193);
        let c = session_crypto(&http);
        let s = open(&http, &token, &c, fa3());
        let inv = submit(&http, &token, &s, &c, &invoice_xml(&nip, "L/1"));
        let st = wait_invoice(&http, &token, &s, &inv);
        assert_eq!(st["status"]["code"], 200, "{st}");
        (s, inv, emu.store().invoice(st["referenceNumber"].as_str().unwrap()).unwrap().unwrap())
    };
    let job = serde_json::json!({"key": "00000000000000000099",
        "job": {"kind": "invoice", "session": s, "invoice": inv, "ciphertext": ""}});
    store.put_doc(ksef_emulator::worker::JOB_KIND, "00000000000000000099", "", &job.to_string()).unwrap();
    store.update_session(&s, &mut |r| r.successful_count = 0).unwrap();
    let emu = Emulator::builder().store(store.clone()).start().unwrap();
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while !store.docs(ksef_emulator::worker::JOB_KIND).unwrap().is_empty() {
        assert!(std::time::Instant::now() < deadline, "the leftover job was not taken");
        std::thread::sleep(Duration::from_millis(10));
    }
    let after = emu.store().invoice(&inv).unwrap().unwrap();
    assert_eq!((after.ksef_number, after.status.code), (before.ksef_number, 200));
    assert_eq!(store.session(&s).unwrap().unwrap().successful_count, 1);
}
