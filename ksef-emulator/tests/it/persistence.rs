use std::sync::Arc;

use ksef_emulator::Emulator;
use ksef_emulator::domain::{Identifier, IdentifierType, PermissionType, StatusInfo};
use ksef_emulator::store::{
    ChallengeRecord, GrantKind, GrantRecord, InvoiceKey, InvoiceKeyOwner, MemoryStore, PersonRecord, SqliteStore,
    Store, StoreError,
};

use crate::common::*;
use crate::sessions::{fa3, invoice_xml, open, send, session_crypto};

fn temp_dir(name: &str) -> std::path::PathBuf {
    let d = std::env::temp_dir().join(format!("ksef-emulator-{name}-{}-{}", std::process::id(), fresh_nip(999)));
    let _ = std::fs::remove_dir_all(&d);
    d
}

#[test]
fn data_dir_state_survives_a_restart() {
    let dir = temp_dir("restart");
    let (nip, access, ksef, session, xml, key_ids) = {
        let emu = Emulator::builder().data_dir(&dir).start().unwrap();
        let http = Http::new(&emu);
        let nip = fresh_nip(500);
        let (access, _, _) = login(&emu, &http, Identifier::nip(&nip), Identifier::nip(&nip));
        let c = session_crypto(&http);
        let s = open(&http, &access, &c, fa3());
        let xml = invoice_xml(&nip, "P/1");
        let st = send(&http, &access, &s, &c, &xml);
        assert_eq!(st["status"]["code"], 200);
        let ids: Vec<String> = emu.keys().keys().iter().map(|k| k.public_key_id.clone()).collect();
        (nip, access, st["ksefNumber"].as_str().unwrap().to_owned(), s, xml, ids)
    };
    let emu = Emulator::builder().data_dir(&dir).start().unwrap();
    let http = Http::new(&emu);
    // Same keys, same token secret: the old access token still works.
    let ids: Vec<String> = emu.keys().keys().iter().map(|k| k.public_key_id.clone()).collect();
    assert_eq!(ids, key_ids);
    let got = http.get(&format!("/invoices/ksef/{ksef}"), Some(&access));
    assert_eq!(got.status, 200, "{}", got.text());
    assert_eq!(got.body, xml);
    assert_eq!(http.get(&format!("/sessions/{session}"), Some(&access)).json()["successfulInvoiceCount"], 1);
    // The duplicate key is remembered too.
    let c = session_crypto(&http);
    let s2 = open(&http, &access, &c, fa3());
    let st = send(&http, &access, &s2, &c, &invoice_xml(&nip, "P/1"));
    assert_eq!(st["status"]["code"], 440);
    assert_eq!(st["status"]["extensions"]["originalKsefNumber"], ksef.as_str());
    drop(emu);
    let _ = std::fs::remove_dir_all(&dir);
}

/// Work queued when the emulator stops (invoices waiting, a closed session) is re-queued from the
/// data directory and completes exactly once.
#[test]
fn pending_work_completes_once_after_a_restart() {
    let dir = temp_dir("pending");
    let (access, session, refs) = {
        // A long processing delay: nothing is finished before the stop.
        let emu =
            Emulator::builder().data_dir(&dir).processing_delay(std::time::Duration::from_secs(3600)).start().unwrap();
        let http = Http::new(&emu);
        let nip = fresh_nip(510);
        let (access, _, _) = login(&emu, &http, Identifier::nip(&nip), Identifier::nip(&nip));
        let c = session_crypto(&http);
        let s = open(&http, &access, &c, fa3());
        let refs: Vec<String> = (0..3)
            .map(|i| crate::processing::submit(&http, &access, &s, &c, &invoice_xml(&nip, &format!("R/{i}"))))
            .collect();
        // The same invoice number again: a duplicate once processed.
        let dup = crate::processing::submit(&http, &access, &s, &c, &invoice_xml(&nip, "R/0"));
        assert_eq!(http.post(&format!("/sessions/online/{s}/close"), Some(&access), None).status, 204);
        assert_eq!(http.get(&format!("/sessions/{s}"), Some(&access)).json()["status"]["code"], 170);
        for r in &refs {
            let code =
                http.get(&format!("/sessions/{s}/invoices/{r}"), Some(&access)).json()["status"]["code"].as_u64();
            assert!(matches!(code, Some(100 | 150)), "{code:?}");
        }
        assert_eq!(emu.store().docs(ksef_emulator::worker::JOB_KIND).unwrap().len(), 5);
        let mut all = refs;
        all.push(dup);
        (access, s, all)
    };
    let emu = Emulator::builder().data_dir(&dir).start().unwrap();
    let http = Http::new(&emu);
    let st = wait_session(&http, &access, &session);
    assert_eq!(st["status"]["code"], 200, "{st}");
    assert_eq!(
        (st["invoiceCount"].as_u64(), st["successfulInvoiceCount"].as_u64(), st["failedInvoiceCount"].as_u64()),
        (Some(4), Some(3), Some(1))
    );
    let codes: Vec<u64> =
        refs.iter().map(|r| wait_invoice(&http, &access, &session, r)["status"]["code"].as_u64().unwrap()).collect();
    assert_eq!(codes, [200, 200, 200, 440]);
    let numbers: std::collections::BTreeSet<String> =
        emu.store().session_invoices(&session).unwrap().iter().filter_map(|i| i.ksef_number.clone()).collect();
    assert_eq!(numbers.len(), 3);
    assert!(emu.store().docs(ksef_emulator::worker::JOB_KIND).unwrap().is_empty());
    drop(emu);
    // A third start finds nothing to redo.
    let emu = Emulator::builder().data_dir(&dir).start().unwrap();
    let after: Vec<(String, u16, Option<String>)> = emu
        .store()
        .session_invoices(&session)
        .unwrap()
        .into_iter()
        .map(|i| (i.reference, i.status.code, i.ksef_number))
        .collect();
    assert_eq!(after.len(), 4);
    assert_eq!(after.iter().filter_map(|a| a.2.clone()).collect::<std::collections::BTreeSet<_>>(), numbers);
    assert!(emu.store().docs(ksef_emulator::worker::JOB_KIND).unwrap().is_empty());
    drop(emu);
    let _ = std::fs::remove_dir_all(&dir);
}

/// What `/testdata` set (rate-limit profile, context and subject limits), key rotations and the
/// CA survive a restart on the same data directory.
#[test]
fn settings_keys_and_ca_survive_a_restart() {
    use serde_json::json;
    let dir = temp_dir("settings");
    let (access, profile, key_ids, ca) = {
        let emu = Emulator::builder().data_dir(&dir).start().unwrap();
        let http = Http::new(&emu);
        let nip = fresh_nip(520);
        let (access, _, _) = login(&emu, &http, Identifier::nip(&nip), Identifier::nip(&nip));
        let mut profile = http.get("/rate-limits", Some(&access)).json();
        profile["other"] = json!({"perSecond": 7, "perMinute": 70, "perHour": 700});
        let r = http.post("/testdata/rate-limits", Some(&access), Some(&json!({"rateLimits": profile})));
        assert_eq!(r.status, 200, "{}", r.text());
        let set = json!({"onlineSession": {"maxInvoiceSizeInMB": 2, "maxInvoiceWithAttachmentSizeInMB": 4, "maxInvoices": 3},
                         "batchSession": {"maxInvoiceSizeInMB": 1, "maxInvoiceWithAttachmentSizeInMB": 3, "maxInvoices": 5},
                         "collectiveIdentifier": {"maxInvoices": 10}});
        assert_eq!(http.post("/testdata/limits/context/session", Some(&access), Some(&set)).status, 200);
        let cert = json!({"certificate": {"maxCertificates": 3}, "enrollment": {"maxEnrollments": 4}});
        assert_eq!(http.post("/testdata/limits/subject/certificate", Some(&access), Some(&cert)).status, 200);
        let new_id =
            emu.rotate_key(ksef_emulator::keys::KeyUsage::SymmetricKeyEncryption, chrono::Duration::hours(1)).unwrap();
        let keys: Vec<(String, Option<chrono::DateTime<chrono::Utc>>)> =
            emu.keys().keys().iter().map(|k| (k.public_key_id.clone(), k.withdrawn_after)).collect();
        assert_eq!(keys.len(), 3);
        assert!(keys.iter().any(|(id, w)| *id == new_id && w.is_none()));
        (access, profile, keys, emu.ca_certificate_der().unwrap())
    };
    let emu = Emulator::builder().data_dir(&dir).start().unwrap();
    let http = Http::new(&emu);
    assert_eq!(http.get("/rate-limits", Some(&access)).json(), profile);
    let limits = http.get("/limits/context", Some(&access)).json();
    assert_eq!(limits["onlineSession"]["maxInvoices"], 3);
    assert_eq!(limits["collectiveIdentifier"]["maxInvoices"], 10);
    let subject = http.get("/limits/subject", Some(&access)).json();
    assert_eq!(
        (subject["certificate"]["maxCertificates"].as_u64(), subject["enrollment"]["maxEnrollments"].as_u64()),
        (Some(3), Some(4))
    );
    let keys: Vec<(String, Option<chrono::DateTime<chrono::Utc>>)> =
        emu.keys().keys().iter().map(|k| (k.public_key_id.clone(), k.withdrawn_after)).collect();
    assert_eq!(keys, key_ids, "both keys and the grace period");
    assert_eq!(http.get("/security/public-key-certificates", None).json().as_array().unwrap().len(), 3);
    assert_eq!(emu.ca_certificate_der().unwrap(), ca);
    // Resets are kept too.
    assert_eq!(http.call("DELETE", "/testdata/limits/context/session", Some(&access), None, &[]).status, 200);
    drop(emu);
    let emu = Emulator::builder().data_dir(&dir).start().unwrap();
    let http = Http::new(&emu);
    assert_eq!(http.get("/limits/context", Some(&access)).json()["onlineSession"]["maxInvoices"], 10000);
    drop(emu);
    let _ = std::fs::remove_dir_all(&dir);
}

/// The same with an in-memory store shared by two emulators (the `Store` interface, not SQLite).
#[test]
fn settings_and_keys_live_in_the_store_interface() {
    let store: Arc<dyn Store> = Arc::new(MemoryStore::new());
    let (id, ca, access) = {
        let emu = Emulator::builder().store(store.clone()).start().unwrap();
        let http = Http::new(&emu);
        let nip = fresh_nip(530);
        let (access, _, _) = login(&emu, &http, Identifier::nip(&nip), Identifier::nip(&nip));
        let id = emu.rotate_key(ksef_emulator::keys::KeyUsage::KsefTokenEncryption, chrono::Duration::zero()).unwrap();
        (id, emu.ca_certificate_der().unwrap(), access)
    };
    let emu = Emulator::builder().store(store.clone()).start().unwrap();
    assert!(emu.keys().keys().iter().any(|k| k.public_key_id == id));
    assert_eq!(emu.keys().keys().len(), 3);
    assert_eq!(emu.ca_certificate_der().unwrap(), ca);
    // The token secret is in the store too: the first emulator's access token is accepted.
    assert_eq!(Http::new(&emu).get("/limits/context", Some(&access)).status, 200);
}

/// A seeded emulator restarted on its data directory does not repeat the previous run's
/// reference numbers (they would collide with the stored sessions).
#[test]
fn seeded_restart_draws_fresh_reference_numbers() {
    let dir = temp_dir("seeded");
    let nip = fresh_nip(540);
    let mut refs = Vec::new();
    for _ in 0..3 {
        // The same calls in every run (the first one also makes the keys and the secret): without a
        // fresh stream the second and third runs would draw the same numbers.
        let emu = Emulator::builder().data_dir(&dir).seed(7).start().unwrap();
        let http = Http::new(&emu);
        let (access, _, auth) = login(&emu, &http, Identifier::nip(&nip), Identifier::nip(&nip));
        let c = session_crypto(&http);
        refs.push((auth, open(&http, &access, &c, fa3())));
    }
    assert!(refs[0] != refs[1] && refs[1] != refs[2] && refs[0] != refs[2], "{refs:?}");
    let _ = std::fs::remove_dir_all(&dir);
}

/// Both stores keep the same contract.
fn contract(store: &dyn Store) {
    let now = chrono::Utc::now();
    let person = PersonRecord {
        nip: "5265877635".into(),
        pesel: "90010112349".into(),
        is_bailiff: false,
        is_deceased: false,
        description: "Osoba".into(),
        created: now,
    };
    store.insert_person(person.clone()).unwrap();
    assert!(matches!(store.insert_person(person.clone()), Err(StoreError::AlreadyExists)));
    assert_eq!(store.person_by_pesel("90010112349").unwrap(), Some(person));
    let ch = ChallengeRecord { challenge: "c1".into(), timestamp: now, client_ip: "127.0.0.1".into(), used: false };
    store.insert_challenge(ch).unwrap();
    assert!(!store.use_challenge("c1").unwrap().unwrap().used);
    assert!(store.use_challenge("c1").unwrap().unwrap().used);
    assert!(store.use_challenge("nope").unwrap().is_none());
    let k = InvoiceKey { seller_nip: "5265877635".into(), invoice_type: "VAT".into(), invoice_number: "1".into() };
    let o1 = InvoiceKeyOwner { ksef_number: "a".into(), session: "s".into() };
    let o2 = InvoiceKeyOwner { ksef_number: "b".into(), session: "t".into() };
    assert_eq!(store.reserve_invoice_key(&k, &o1).unwrap(), None);
    assert_eq!(store.reserve_invoice_key(&k, &o2).unwrap(), Some(o1));
    let ctx = Identifier::new(IdentifierType::Nip, "5265877635");
    store.set_context_blocked(&ctx, true).unwrap();
    assert!(store.is_context_blocked(&ctx).unwrap());
    store.set_context_blocked(&ctx, false).unwrap();
    assert!(!store.is_context_blocked(&ctx).unwrap());
    let _ = StatusInfo::new(100, "x");

    // Grants: unique per (context, subject, permission), and for indirect grants also per client.
    let person = Identifier::new(IdentifierType::Pesel, "90010112349");
    let grant = |id: &str, kind: GrantKind, target: Option<&str>| GrantRecord {
        id: id.into(),
        context: ctx.clone(),
        authorized: person.clone(),
        permission: PermissionType::InvoiceRead,
        description: "Uprawnienie".into(),
        author: ctx.clone(),
        start_date: now,
        can_delegate: false,
        kind,
        subject_details: None,
        entity_name: None,
        target: target.map(|t| Identifier::new(IdentifierType::Nip, t)),
    };
    store.insert_grant(grant("00000000-0000-0000-0000-000000000001", GrantKind::Person, None)).unwrap();
    let again = store.insert_grant(grant("00000000-0000-0000-0000-000000000002", GrantKind::Person, None));
    assert!(matches!(again, Err(StoreError::AlreadyExists)));
    for (id, client) in
        [("00000000-0000-0000-0000-000000000003", "1111111111"), ("00000000-0000-0000-0000-000000000004", "2222222222")]
    {
        store.insert_grant(grant(id, GrantKind::Indirect, Some(client))).unwrap();
    }
    let again =
        store.insert_grant(grant("00000000-0000-0000-0000-000000000005", GrantKind::Indirect, Some("2222222222")));
    assert!(matches!(again, Err(StoreError::AlreadyExists)));
    assert_eq!(store.grants_of(&ctx, &person).unwrap().len(), 3);
}

#[test]
fn memory_and_sqlite_stores_share_the_contract() {
    contract(&MemoryStore::new());
    let dir = temp_dir("contract");
    contract(&*Arc::new(SqliteStore::open(&dir).unwrap()));
    let _ = std::fs::remove_dir_all(&dir);
}
