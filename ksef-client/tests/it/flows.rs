//! Batch sessions, exports and HWM incremental sync against the emulator, both transports.

use std::collections::BTreeSet;

use ksef_client::FormCode;
use ksef_client::batch::{BatchLimits, Compression};
use ksef_client::flows::{BatchInvoice, BatchOptions, BatchOutcome};
use ksef_client::sync::SyncCheckpoint;
use ksef_model::operations::TestdataCreateSubject;
use ksef_model::types::InvoiceQuerySubjectType;

use crate::common::*;

fn small_parts(compression: Compression, max_part_size: u64) -> BatchOptions {
    BatchOptions {
        compression,
        limits: BatchLimits { max_part_size, ..BatchLimits::default() },
        parallelism: 3,
        ..BatchOptions::default()
    }
}

fn batch(nip: &str, n: usize, tag: &str) -> Vec<BatchInvoice> {
    (0..n).map(|i| BatchInvoice::bytes(format!("inv-{i:04}.xml"), invoice(nip, &unique_number(tag)))).collect()
}

#[test]
fn blocking_batch_of_300_in_several_parts_all_numbered() {
    let emu = emulator();
    let (client, nip) = logged_in_blocking(&emu);
    let report = client
        .send_batch_blocking(FormCode::Fa3, batch(&nip, 300, "BB"), &small_parts(Compression::Zip, 64 * 1024))
        .unwrap();
    assert!(report.parts > 1, "{} parts", report.parts);
    assert_eq!(report.status.status.code, 200);
    assert_eq!(report.invoices.len(), 300);
    let numbers: BTreeSet<_> = report.accepted().map(|(_, a)| a.ksef_number.as_str().to_owned()).collect();
    assert_eq!(
        numbers.len(),
        300,
        "{:?}",
        report.invoices.iter().find(|r| !matches!(r.outcome, BatchOutcome::Accepted(_)))
    );
}

#[test]
fn blocking_batch_with_one_bad_invoice_reports_it() {
    let emu = emulator();
    let (client, nip) = logged_in_blocking(&emu);
    let mut invoices = batch(&nip, 4, "BX");
    let dir = std::env::temp_dir().join(format!("ksef-client-batch-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join(format!("file-{}.xml", fresh_nip()));
    std::fs::write(&path, invoice(&nip, &unique_number("BX"))).unwrap();
    invoices.push(BatchInvoice::File(path.clone()));
    invoices.push(BatchInvoice::Reader {
        file_name: "streamed.xml".into(),
        reader: Box::new(std::io::Cursor::new(invoice(&nip, &unique_number("BX")))),
    });
    // Another seller's NIP: not allowed for this context.
    invoices.push(BatchInvoice::bytes("bad.xml", invoice(&fresh_nip(), &unique_number("BX"))));
    let report = client.send_batch_blocking(FormCode::Fa3, invoices, &BatchOptions::default()).unwrap();
    std::fs::remove_file(&path).unwrap();
    assert_eq!(report.accepted().count(), 6, "{:?}", report.invoices);
    assert!(report.accepted().any(|(f, _)| f == "streamed.xml"));
    let rejected: Vec<_> = report.rejected().collect();
    assert_eq!(rejected.len(), 1, "{:?}", report.invoices);
    assert_eq!(rejected[0].0, "bad.xml");
}

#[test]
fn blocking_export_then_incremental_sync_delivers_each_invoice_once() {
    let emu = emulator();
    let (client, nip) = logged_in_blocking(&emu);
    let from = chrono::Utc::now() - chrono::Duration::minutes(5);
    let first = client.send_batch_blocking(FormCode::Fa3, batch(&nip, 4, "S1"), &BatchOptions::default()).unwrap();
    let mut expected: BTreeSet<String> = first.accepted().map(|(_, a)| a.ksef_number.as_str().to_owned()).collect();
    assert_eq!(expected.len(), 4);

    let mut cp = SyncCheckpoint::new(from, &[InvoiceQuerySubjectType::Subject1]);
    let mut seen = Vec::new();
    let step = |cp: &mut SyncCheckpoint, seen: &mut Vec<String>| loop {
        let s = client.sync_step_blocking(cp, InvoiceQuerySubjectType::Subject1, from).unwrap();
        for (m, xml) in &s.invoices {
            assert!(!xml.is_empty());
            seen.push(m.ksef_number.as_str().to_owned());
        }
        if !s.more {
            break;
        }
    };
    step(&mut cp, &mut seen);
    // Resumable: the checkpoint survives a JSON round trip.
    let mut cp: SyncCheckpoint = serde_json::from_str(&serde_json::to_string(&cp).unwrap()).unwrap();
    let second = client.send_batch_blocking(FormCode::Fa3, batch(&nip, 3, "S2"), &BatchOptions::default()).unwrap();
    expected.extend(second.accepted().map(|(_, a)| a.ksef_number.as_str().to_owned()));
    step(&mut cp, &mut seen);
    step(&mut cp, &mut seen);
    let unique: BTreeSet<_> = seen.iter().cloned().collect();
    assert_eq!(unique.len(), seen.len(), "duplicates: {seen:?}");
    assert_eq!(unique, expected);
}

#[test]
fn async_tar_gz_batch_in_several_parts_all_numbered() {
    let emu = emulator();
    run(async {
        let client = async_client(&emu);
        let nip = fresh_nip();
        client.call::<TestdataCreateSubject>(&(), subject_request(&nip)).await.unwrap();
        client.login(xades(&nip)).await.unwrap();
        let report = client
            .send_batch(FormCode::Fa3, batch(&nip, 200, "AB"), &small_parts(Compression::TarGz, 4 * 1024))
            .await
            .unwrap();
        assert!(report.parts > 1, "{} parts", report.parts);
        let numbers: BTreeSet<_> = report.accepted().map(|(_, a)| a.ksef_number.as_str().to_owned()).collect();
        assert_eq!(numbers.len(), 200);
    });
}

#[test]
fn async_export_and_sync_across_two_rounds() {
    let emu = emulator();
    run(async {
        let client = async_client(&emu);
        let nip = fresh_nip();
        client.call::<TestdataCreateSubject>(&(), subject_request(&nip)).await.unwrap();
        client.login(xades(&nip)).await.unwrap();
        let from = chrono::Utc::now() - chrono::Duration::minutes(5);
        let report = client.send_batch(FormCode::Fa3, batch(&nip, 5, "AS"), &BatchOptions::default()).await.unwrap();
        let numbers: BTreeSet<_> = report.accepted().map(|(_, a)| a.ksef_number.as_str().to_owned()).collect();
        assert_eq!(numbers.len(), 5);

        let export = client
            .export_invoices(
                &ksef_client::flows::sync_filters(
                    ksef_client::sync::SubjectCheckpoint::new(from).next_range(),
                    InvoiceQuerySubjectType::Subject1,
                )
                .unwrap(),
            )
            .await
            .unwrap();
        assert_eq!(export.invoices.keys().cloned().collect::<BTreeSet<_>>(), numbers);

        let mut cp = SyncCheckpoint::new(from, &[InvoiceQuerySubjectType::Subject1]);
        let mut got = BTreeSet::new();
        let mut numbers = numbers;
        for round in 0..2 {
            if round == 1 {
                let more =
                    client.send_batch(FormCode::Fa3, batch(&nip, 2, "AT"), &BatchOptions::default()).await.unwrap();
                numbers.extend(more.accepted().map(|(_, a)| a.ksef_number.as_str().to_owned()));
                assert_eq!(numbers.len(), 7);
            }
            loop {
                let s = client.sync_step(&mut cp, InvoiceQuerySubjectType::Subject1, from).await.unwrap();
                for (m, _) in &s.invoices {
                    assert!(got.insert(m.ksef_number.as_str().to_owned()));
                }
                if !s.more {
                    break;
                }
            }
        }
        assert_eq!(got, numbers);
    });
}

#[test]
fn blocking_export_returns_every_invoice_and_its_metadata() {
    let emu = emulator();
    let (client, nip) = logged_in_blocking(&emu);
    let from = chrono::Utc::now() - chrono::Duration::minutes(5);
    let first = client.send_batch_blocking(FormCode::Fa3, batch(&nip, 4, "F1"), &BatchOptions::default()).unwrap();
    let mut expected: BTreeSet<String> = first.accepted().map(|(_, a)| a.ksef_number.as_str().to_owned()).collect();
    assert_eq!(expected.len(), 4);

    // A plain export: every invoice's XML, matching the metadata.
    let filters = ksef_client::flows::sync_filters(
        ksef_client::sync::SubjectCheckpoint::new(from).next_range(),
        InvoiceQuerySubjectType::Subject1,
    )
    .unwrap();
    let export = client.export_invoices_blocking(&filters).unwrap();
    assert_eq!(export.invoices.keys().cloned().collect::<BTreeSet<_>>(), expected);
    assert_eq!(export.metadata.len(), 4);

    let mut cp = SyncCheckpoint::new(from, &[InvoiceQuerySubjectType::Subject1]);
    let mut seen = Vec::new();
    let step = |cp: &mut SyncCheckpoint, seen: &mut Vec<String>| loop {
        let s = client.sync_step_blocking(cp, InvoiceQuerySubjectType::Subject1, from).unwrap();
        for (m, xml) in &s.invoices {
            assert!(std::str::from_utf8(xml).unwrap().contains(&nip));
            seen.push(m.ksef_number.as_str().to_owned());
        }
        if !s.more {
            break;
        }
    };
    step(&mut cp, &mut seen);
    assert_eq!(seen.len(), 4);
    let mut cp: SyncCheckpoint = serde_json::from_str(&serde_json::to_string(&cp).unwrap()).unwrap();
    let second = client.send_batch_blocking(FormCode::Fa3, batch(&nip, 3, "F2"), &BatchOptions::default()).unwrap();
    expected.extend(second.accepted().map(|(_, a)| a.ksef_number.as_str().to_owned()));
    step(&mut cp, &mut seen);
    step(&mut cp, &mut seen);
    let unique: BTreeSet<_> = seen.iter().cloned().collect();
    assert_eq!(unique.len(), seen.len(), "duplicates: {seen:?}");
    assert_eq!(unique, expected);
}

/// Part uploads carry no bearer token and survive transient storage failures: the first three
/// `PUT`s are answered 503 by this wrapper; every later one goes to the emulator.
#[test]
fn part_uploads_have_no_token_and_are_retried() {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};

    use ksef_transport::SyncTransport as _;
    let emu = emulator();
    let inner = ksef_transport::UreqTransport::new(&ksef_transport::TransportConfig::default());
    let puts = Arc::new(AtomicUsize::new(0));
    let seen = puts.clone();
    let transport = move |req: ksef_transport::HttpRequest| {
        if req.method() == http::Method::PUT {
            assert!(req.headers().get(http::header::AUTHORIZATION).is_none(), "bearer token sent to storage");
            if seen.fetch_add(1, Ordering::SeqCst) < 3 {
                return Ok(http::Response::builder().status(503).body(Vec::new()).unwrap());
            }
        }
        inner.send(req)
    };
    // Short sleeps keep the retries quick; status polls keep a pace within the rate limits (the
    // emulator processes the batch asynchronously, as KSeF does).
    let client = ksef_client::KsefClient::builder(emu.base_url().parse().unwrap())
        .allow_loopback_urls(true)
        .blocking_sleep(|d| std::thread::sleep(d.min(std::time::Duration::from_millis(250))))
        .build(transport)
        .unwrap();
    let nip = fresh_nip();
    client.call_blocking::<TestdataCreateSubject>(&(), subject_request(&nip)).unwrap();
    client.login_blocking(xades(&nip)).unwrap();
    let report = client
        .send_batch_blocking(FormCode::Fa3, batch(&nip, 60, "RT"), &small_parts(Compression::Zip, 16 * 1024))
        .unwrap();
    assert!(report.parts > 1);
    assert_eq!(report.accepted().count(), 60);
    assert_eq!(puts.load(Ordering::SeqCst), report.parts + 3);
}

/// A part corrupted on the way to storage (its hash no longer matches `fileParts`): the session
/// ends with 405, surfaced as a typed [`ksef_client::Error::BatchFailed`] with its meaning.
#[test]
fn a_corrupted_part_fails_the_session_with_typed_405() {
    use ksef_transport::SyncTransport as _;
    let emu = emulator();
    let inner = ksef_transport::UreqTransport::new(&ksef_transport::TransportConfig::default());
    let transport = move |mut req: ksef_transport::HttpRequest| {
        if req.method() == http::Method::PUT
            && let Some(b) = req.body_mut().last_mut()
        {
            *b ^= 1;
        }
        inner.send(req)
    };
    // Status polls keep a pace within the rate limits (the batch is processed asynchronously).
    let client = ksef_client::KsefClient::builder(emu.base_url().parse().unwrap())
        .allow_loopback_urls(true)
        .blocking_sleep(|d| std::thread::sleep(d.min(std::time::Duration::from_millis(250))))
        .build(transport)
        .unwrap();
    let nip = fresh_nip();
    client.call_blocking::<TestdataCreateSubject>(&(), subject_request(&nip)).unwrap();
    client.login_blocking(xades(&nip)).unwrap();
    match client.send_batch_blocking(FormCode::Fa3, batch(&nip, 3, "CP"), &BatchOptions::default()) {
        Err(ksef_client::Error::BatchFailed(f)) => {
            assert_eq!(f.code, 405, "{f}");
            assert_eq!(Some(f.meaning), ksef_client::flows::batch_failure_meaning(405));
        }
        other => panic!("{other:?}"),
    }
}

/// ureq only: parts streamed from their temp files.
#[test]
fn blocking_streaming_batch_in_several_parts_all_numbered() {
    let emu = emulator();
    let (client, nip) = logged_in_blocking(&emu);
    let report = client
        .send_batch_streaming_blocking(FormCode::Fa3, batch(&nip, 120, "ST"), &small_parts(Compression::Zip, 32 * 1024))
        .unwrap();
    assert!(report.parts > 1, "{} parts", report.parts);
    let numbers: BTreeSet<_> = report.accepted().map(|(_, a)| a.ksef_number.as_str().to_owned()).collect();
    assert_eq!(numbers.len(), 120);
}

/// Acceptance: a batch at the KSeF maximum of 10,000 invoices, split into several parts by a small
/// `max_part_size`, every invoice numbered and the per-invoice report complete.
fn assert_full_report(report: &ksef_client::flows::BatchReport, n: usize) {
    assert!(report.parts > 1, "{} parts", report.parts);
    assert_eq!(report.status.status.code, 200);
    assert_eq!(report.invoices.len(), n);
    let numbers: BTreeSet<_> = report.accepted().map(|(_, a)| a.ksef_number.as_str().to_owned()).collect();
    assert_eq!(
        numbers.len(),
        n,
        "{:?}",
        report.invoices.iter().find(|r| !matches!(r.outcome, BatchOutcome::Accepted(_)))
    );
}

#[test]
fn blocking_batch_of_10000_invoices_in_several_parts() {
    let emu = emulator();
    let (client, nip) = logged_in_blocking(&emu);
    let report = client
        .send_batch_blocking(FormCode::Fa3, batch(&nip, 10_000, "BM"), &small_parts(Compression::Zip, 1024 * 1024))
        .unwrap();
    assert_full_report(&report, 10_000);
}

#[test]
fn async_batch_of_10000_invoices_in_several_parts() {
    let emu = emulator();
    run(async {
        let client = async_client(&emu);
        let nip = fresh_nip();
        client.call::<TestdataCreateSubject>(&(), subject_request(&nip)).await.unwrap();
        client.login(xades(&nip)).await.unwrap();
        let report = client
            .send_batch(FormCode::Fa3, batch(&nip, 10_000, "AM"), &small_parts(Compression::Zip, 1024 * 1024))
            .await
            .unwrap();
        assert_full_report(&report, 10_000);
    });
}

/// reqwest: parts streamed from their temp files in parallel, ZIP and TarGz.
#[test]
fn async_streaming_batch_in_several_parts_all_numbered() {
    let emu = emulator();
    run(async {
        let (client, nip) = logged_in_async(&emu).await;
        for (compression, tag, part) in [(Compression::Zip, "SZ", 16 * 1024), (Compression::TarGz, "SG", 2 * 1024)] {
            let report = client
                .send_batch_streaming(FormCode::Fa3, batch(&nip, 150, tag), &small_parts(compression, part))
                .await
                .unwrap();
            assert!(report.parts > 1, "{compression:?}: {} parts", report.parts);
            assert_eq!(report.status.status.code, 200);
            let numbers: BTreeSet<_> = report.accepted().map(|(_, a)| a.ksef_number.as_str().to_owned()).collect();
            assert_eq!(numbers.len(), 150, "{compression:?}");
        }
    });
}

/// reqwest: a part file streamed to a storage stub that fails twice (503) is retried, and the
/// stub receives the file's exact bytes with `Content-Length`, the listed headers and no token;
/// a 4xx is not retried; a missing file is a typed error.
#[test]
fn async_streamed_part_upload_is_retried_and_sends_the_file() {
    use ksef_model::types::PartUploadRequest;
    let stub = stub_server(vec![
        (503, "text/plain", Vec::new()),
        (503, "text/plain", Vec::new()),
        (201, "text/plain", Vec::new()),
    ]);
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("part-1.aes");
    // 1 MB + 5 bytes: several stream chunks.
    let data: Vec<u8> = (0..1_000_005u32).map(|i| (i % 251) as u8).collect();
    std::fs::write(&path, &data).unwrap();
    let up: PartUploadRequest = serde_json::from_value(serde_json::json!({
        "ordinalNumber": 1, "method": "PUT", "url": format!("{}/storage/p1?sig=x", stub.url),
        "headers": {"x-ms-blob-type": "BlockBlob"}
    }))
    .unwrap();
    let client = ksef_client::KsefClient::builder(stub.url.parse().unwrap())
        .allow_loopback_urls(true)
        .async_sleep(|_| async {})
        .build(ksef_transport::ReqwestTransport::new(&Default::default()).unwrap())
        .unwrap();
    run(async {
        client.upload_part_file(&path, &up, 3).await.unwrap();
    });
    let reqs = stub.requests.lock().unwrap().clone();
    assert_eq!(reqs.len(), 3);
    for r in &reqs {
        assert_eq!(r.method, "PUT");
        assert_eq!(r.target, "/storage/p1?sig=x");
        assert_eq!(r.body, data);
        let h = |n: &str| r.headers.iter().find(|(k, _)| k == n).map(|(_, v)| v.as_str());
        assert_eq!(h("content-length"), Some("1000005"));
        assert_eq!(h("x-ms-blob-type"), Some("BlockBlob"));
        assert_eq!(h("authorization"), None);
    }
    // 403 is final: one attempt.
    let stub = stub_server(vec![(403, "text/plain", Vec::new())]);
    let up403: PartUploadRequest = serde_json::from_value(serde_json::json!({
        "ordinalNumber": 1, "method": "PUT", "url": format!("{}/storage/p1", stub.url), "headers": {}
    }))
    .unwrap();
    run(async {
        let err = client.upload_part_file(&path, &up403, 3).await.unwrap_err();
        assert_eq!(err.status(), Some(http::StatusCode::FORBIDDEN));
        let err = client.upload_part_file(&dir.path().join("missing"), &up403, 3).await.unwrap_err();
        assert!(matches!(err, ksef_client::Error::Config(_)), "{err:?}");
    });
    assert_eq!(stub.requests.lock().unwrap().len(), 1);
}

/// A package built by hand into a `DirSink` (named files) is uploaded by
/// `upload_package_streaming` (async) and `upload_package_streaming_blocking` to a session
/// opened with the plain typed call, and every invoice gets a number.
#[test]
fn dir_sink_packages_upload_streaming_blocking_and_async() {
    use ksef_client::batch::{BatchBuilder, DirSink};
    use ksef_crypto::{KeyUsage, SessionKey};
    use ksef_model::operations::{CloseBatchSession, CloseBatchSessionParams, OpenBatchSession};

    fn open_body(
        key: &SessionKey,
        public: &ksef_crypto::KsefPublicKey,
        pkg: &ksef_client::batch::BatchPackage<std::path::PathBuf>,
    ) -> ksef_model::types::OpenBatchSessionRequest {
        use ksef_crypto::encoding::b64_encode;
        let wrapped = public.wrap_session_key(key, &mut rand::rng()).unwrap();
        serde_json::from_value(serde_json::json!({
            "formCode": {"systemCode": "FA (3)", "schemaVersion": "1-0E", "value": "FA"},
            "batchFile": pkg.batch_file_info(),
            "encryption": {"encryptedSymmetricKey": b64_encode(wrapped), "initializationVector": b64_encode(key.iv())},
        }))
        .unwrap()
    }
    fn build(
        key: &SessionKey,
        dir: &std::path::Path,
        nip: &str,
        tag: &str,
    ) -> ksef_client::batch::BatchPackage<std::path::PathBuf> {
        let limits = BatchLimits { max_part_size: 16 * 1024, ..BatchLimits::default() };
        let mut b = BatchBuilder::with_limits(key, Compression::Zip, DirSink::new(dir, tag), limits);
        for i in 0..60 {
            b.add_invoice(&format!("{tag}-{i}.xml"), &invoice(nip, &unique_number(tag))).unwrap();
        }
        b.finish().unwrap()
    }
    let emu = emulator();
    let dir = tempfile::tempdir().unwrap();
    let (client, nip) = logged_in_blocking(&emu);
    let key = SessionKey::generate(&mut rand::rng()).unwrap();
    let pkg = build(&key, dir.path(), &nip, "blk");
    assert!(pkg.parts.len() > 1 && pkg.parts.iter().all(|p| p.location.exists()));
    let public = client.public_key_blocking(KeyUsage::SymmetricKeyEncryption).unwrap();
    let session = client.call_blocking::<OpenBatchSession>(&(), open_body(&key, &public, &pkg)).unwrap().value;
    client.upload_package_streaming_blocking(&pkg, &session, 3, 2).unwrap();
    let reference = session.reference_number.to_string();
    client
        .call_blocking::<CloseBatchSession>(&CloseBatchSessionParams { reference_number: reference.clone() }, ())
        .unwrap();
    assert_eq!(client.wait_for_batch_blocking(&reference).unwrap().status.code, 200);
    let listed = client.session_invoice_statuses_blocking(&reference).unwrap();
    assert_eq!(listed.iter().filter(|s| s.ksef_number.is_some()).count(), 60);

    run(async {
        let (client, nip) = logged_in_async(&emu).await;
        let key = SessionKey::generate(&mut rand::rng()).unwrap();
        let pkg = build(&key, dir.path(), &nip, "asy");
        let public = client.public_key(KeyUsage::SymmetricKeyEncryption).await.unwrap();
        let session = client.call::<OpenBatchSession>(&(), open_body(&key, &public, &pkg)).await.unwrap().value;
        client.upload_package_streaming(&pkg, &session, 3, 2).await.unwrap();
        let reference = session.reference_number.to_string();
        client
            .call::<CloseBatchSession>(&CloseBatchSessionParams { reference_number: reference.clone() }, ())
            .await
            .unwrap();
        assert_eq!(client.wait_for_batch(&reference).await.unwrap().status.code, 200);
        let listed = client.session_invoice_statuses(&reference).await.unwrap();
        assert_eq!(listed.iter().filter(|s| s.ksef_number.is_some()).count(), 60);
    });
}
