//! Blocking methods over `UreqTransport`.

use std::time::Duration;

use ksef_client::{AuthFailureKind, Authenticator, Error, FormCode, SendOptions};
use ksef_crypto::ContextIdentifier;
use ksef_model::KsefNumber;
use ksef_model::operations::{
    GenerateToken, ListAuthSessions, ListAuthSessionsParams, ListSessionInvoices, ListSessionInvoicesParams,
    TestdataCreateSubject,
};
use ksef_model::types::{GenerateTokenRequest, TokenPermissionType};

use crate::common::*;

#[test]
fn xades_login_send_fa3_invoices_get_ksef_numbers_and_upos() {
    let emu = emulator();
    let (client, nip) = logged_in_blocking(&emu);
    let invoices: Vec<Vec<u8>> = (0..3).map(|_| invoice(&nip, &unique_number("B"))).collect();

    let (session, results) = client.send_invoices_blocking(FormCode::Fa3, &invoices).unwrap();
    assert_eq!(results.len(), 3);
    let accepted: Vec<_> = results.into_iter().map(|r| r.expect("accepted")).collect();
    for a in &accepted {
        let n: KsefNumber = a.ksef_number.as_str().parse().unwrap();
        assert_eq!(n.seller_nip().as_str(), nip);
        assert_eq!(n.date(), chrono::Utc::now().date_naive());

        // UPO by KSeF number and by invoice reference: the same document, naming this invoice.
        let by_number = client.invoice_upo_by_ksef_number_blocking(&session.reference_number, n.as_str()).unwrap();
        let by_ref = client.invoice_upo_by_reference_blocking(&session.reference_number, &a.reference_number).unwrap();
        let upo = ksef_client::upo::parse_upo(by_number.as_str().unwrap()).unwrap();
        assert_eq!(upo.document(n.as_str()).unwrap().seller_nip, nip);
        assert_eq!(ksef_client::upo::parse_upo(by_ref.as_str().unwrap()).unwrap().documents, upo.documents);

        // The invoice itself, as sent.
        let sent = invoices
            .iter()
            .find(|x| std::str::from_utf8(x).unwrap().contains(&upo.document(n.as_str()).unwrap().invoice_number));
        assert_eq!(client.get_invoice_blocking(n.as_str()).unwrap().as_bytes(), sent.unwrap().as_slice());

        // And via the pre-signed link, hash-checked.
        let url = a.status.upo_download_url.as_deref().expect("UPO link");
        let bytes = client.download_presigned_blocking(url).unwrap();
        assert_eq!(ksef_client::upo::parse_upo(std::str::from_utf8(&bytes).unwrap()).unwrap().documents, upo.documents);
    }

    // After closing, the session UPO appears.
    let mut status = client.session_status_blocking(&session.reference_number).unwrap();
    for _ in 0..100 {
        if status.upo.is_some() {
            break;
        }
        std::thread::sleep(Duration::from_millis(50));
        status = client.session_status_blocking(&session.reference_number).unwrap();
    }
    assert_eq!(status.status.code, 200, "{:?}", status.status);
    let page = &status.upo.as_ref().expect("session UPO").pages[0];
    let xml = client.session_upo_blocking(&session.reference_number, &page.reference_number).unwrap();
    let upo = ksef_client::upo::parse_upo(xml.as_str().unwrap()).unwrap();
    assert!(upo.is_session_upo());
    assert_eq!(upo.documents.len(), 3);

    // Pagination (continuation tokens) over the session's invoices.
    let params = ListSessionInvoicesParams {
        continuation_token: None,
        reference_number: session.reference_number.clone(),
        page_size: Some(10),
    };
    let listed: usize =
        client.pages_blocking::<ListSessionInvoices>(params, ()).map(|p| p.unwrap().invoices.len()).sum();
    assert_eq!(listed, 3);
}

#[test]
fn duplicate_invoice_is_rejected_with_440() {
    let emu = emulator();
    let (client, nip) = logged_in_blocking(&emu);
    let xml = invoice(&nip, &unique_number("D"));
    let session = client.open_online_session_blocking(FormCode::Fa3).unwrap();
    let first = client.send_invoice_blocking(&session, &xml, &SendOptions::default()).unwrap();
    let original = client.wait_for_invoice_blocking(&session.reference_number, &first).unwrap();
    let results = client.send_and_wait_blocking(&session, std::slice::from_ref(&xml));
    match &results[0] {
        Err(Error::InvoiceRejected(r)) => {
            assert_eq!(r.code, 440, "{r}");
            assert!(r.is_duplicate());
            assert_eq!(r.extension("originalKsefNumber"), Some(original.ksef_number.as_str()));
        }
        other => panic!("expected a 440 rejection, got {other:?}"),
    }
    client.close_online_session_blocking(&session).unwrap();
}

#[test]
fn expired_access_token_is_refreshed_mid_run() {
    let emu = emulator_with_access_lifetime(6);
    let client = ksef_client::KsefClient::builder(emu.base_url().parse().unwrap())
        .refresh_margin(Duration::from_secs(2))
        .build(ksef_transport::UreqTransport::new(&Default::default()))
        .unwrap();
    let nip = fresh_nip();
    client.call_blocking::<TestdataCreateSubject>(&(), subject_request(&nip)).unwrap();
    client.login_blocking(xades(&nip)).unwrap();
    let first = client.tokens().access_valid_until().unwrap();
    let list = ListAuthSessionsParams { continuation_token: None, page_size: None };
    client.call_blocking::<ListAuthSessions>(&list, ()).unwrap();
    assert_eq!(client.refresh_count(), 0);
    std::thread::sleep(Duration::from_millis(4500));
    // The token is inside the margin now: the next call refreshes first and succeeds.
    client.call_blocking::<ListAuthSessions>(&list, ()).unwrap();
    assert_eq!(client.refresh_count(), 1);
    assert!(client.tokens().access_valid_until().unwrap() > first);
    assert_eq!(client.reauthentication_count(), 0);

    // A dead refresh token: the stored authenticator logs in again.
    client.tokens().invalidate_refresh();
    std::thread::sleep(Duration::from_millis(4500));
    client.call_blocking::<ListAuthSessions>(&list, ()).unwrap();
    assert_eq!(client.reauthentication_count(), 1);
}

#[test]
fn unauthenticated_call_fails_typed() {
    let emu = emulator();
    let client = blocking_client(&emu);
    let list = ListAuthSessionsParams { continuation_token: None, page_size: None };
    assert!(matches!(client.call_blocking::<ListAuthSessions>(&list, ()), Err(Error::NotAuthenticated)));
}

#[test]
fn auth_failures_are_typed() {
    let emu = emulator();
    let client = blocking_client(&emu);
    let nip = fresh_nip();
    client.call_blocking::<TestdataCreateSubject>(&(), subject_request(&nip)).unwrap();

    // A self-signed certificate with verifyCertificateChain=true → 460.
    let mut auth = xades(&nip);
    if let ksef_client::Credential::Xades { verify_certificate_chain, .. } = &mut auth.credential {
        *verify_certificate_chain = Some(true);
    }
    match client.authenticate_blocking(&auth) {
        Err(Error::Auth(f)) => {
            assert_eq!((f.code, f.kind), (460, AuthFailureKind::Certificate), "{f}");
            assert!(!f.details.is_empty());
        }
        other => panic!("expected 460, got {other:?}"),
    }

    // Fingerprint identity without a grant → 415.
    match client.authenticate_blocking(&xades(&nip).by_fingerprint()) {
        Err(Error::Auth(f)) => assert_eq!((f.code, f.kind), (415, AuthFailureKind::NoPermissions), "{f}"),
        other => panic!("expected 415, got {other:?}"),
    }
}

#[test]
fn ksef_token_login() {
    let emu = emulator();
    let (client, nip) = logged_in_blocking(&emu);
    let req = GenerateTokenRequest {
        description: "Token testowy ksef-client".try_into().unwrap(),
        permissions: vec![TokenPermissionType::InvoiceWrite, TokenPermissionType::InvoiceRead],
    };
    let generated = client.call_blocking::<GenerateToken>(&(), req).unwrap().value;

    let other = blocking_client(&emu);
    other
        .login_blocking(Authenticator::ksef_token(ContextIdentifier::Nip(nip.clone()), generated.token.to_string()))
        .unwrap();
    let (_, results) = other.send_invoices_blocking(FormCode::Fa3, &[invoice(&nip, &unique_number("T"))]).unwrap();
    assert!(results[0].is_ok(), "{:?}", results[0]);

    // A wrong token → 450.
    let bad = Authenticator::ksef_token(ContextIdentifier::Nip(nip), "not-a-token");
    match blocking_client(&emu).authenticate_blocking(&bad) {
        Err(Error::Auth(f)) => assert_eq!(f.kind, AuthFailureKind::InvalidToken, "{f}"),
        other => panic!("expected 450, got {other:?}"),
    }
}

#[test]
fn offset_pagination_over_invoice_metadata() {
    use ksef_model::operations::{QueryInvoiceMetadata, QueryInvoiceMetadataParams};
    let emu = emulator();
    let (client, nip) = logged_in_blocking(&emu);
    let invoices: Vec<Vec<u8>> = (0..11).map(|_| invoice(&nip, &unique_number("P"))).collect();
    let (_, results) = client.send_invoices_blocking(FormCode::Fa3, &invoices).unwrap();
    assert!(results.iter().all(Result::is_ok), "{results:?}");

    let now = chrono::Utc::now();
    let filters = serde_json::from_value(serde_json::json!({"subjectType": "Subject1",
        "dateRange": {"dateType": "Invoicing", "from": now - chrono::Duration::hours(1),
                      "to": now + chrono::Duration::hours(1)}}))
    .unwrap();
    let params = QueryInvoiceMetadataParams { sort_order: None, page_offset: None, page_size: Some(10) };
    let pages: Vec<usize> = client
        .offset_pages_blocking::<QueryInvoiceMetadata>(params, filters)
        .map(|p| p.unwrap().invoices.len())
        .collect();
    assert_eq!(pages, [10, 1]);
}

/// Concurrent blocking sends: up to 4 invoices in flight on scoped threads (observed at the
/// transport), every valid one numbered, the bad one rejected in its own slot, input order kept.
#[test]
fn concurrent_blocking_sends_keep_order_and_overlap() {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};

    use ksef_transport::SyncTransport as _;
    let emu = emulator();
    let inner = ksef_transport::UreqTransport::new(&ksef_transport::TransportConfig::default());
    let (in_flight, peak) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));
    let (f, p) = (in_flight.clone(), peak.clone());
    let transport = move |req: ksef_transport::HttpRequest| {
        let sending = req.method() == http::Method::POST && req.uri().path().ends_with("/invoices");
        if sending {
            let now = f.fetch_add(1, Ordering::SeqCst) + 1;
            p.fetch_max(now, Ordering::SeqCst);
            // Hold the request a moment so overlapping threads are observable.
            std::thread::sleep(Duration::from_millis(30));
        }
        let r = inner.send(req);
        if sending {
            f.fetch_sub(1, Ordering::SeqCst);
        }
        r
    };
    let client = ksef_client::KsefClient::builder(emu.base_url().parse().unwrap())
        .allow_loopback_urls(true)
        .build(transport)
        .unwrap();
    let nip = fresh_nip();
    client.call_blocking::<TestdataCreateSubject>(&(), subject_request(&nip)).unwrap();
    client.login_blocking(xades(&nip)).unwrap();
    let mut invoices: Vec<Vec<u8>> = (0..12).map(|_| invoice(&nip, &unique_number("CC"))).collect();
    invoices[5] = invoice(&fresh_nip(), &unique_number("OTHER")); // another seller: not ours to send
    let (_, results) = client.send_invoices_concurrent_blocking(FormCode::Fa3, &invoices, 4).unwrap();
    assert_eq!(results.len(), 12);
    for (i, r) in results.iter().enumerate() {
        match (i, r) {
            (5, Err(Error::InvoiceRejected(_))) => {}
            (5, other) => panic!("invoice 5: {other:?}"),
            (_, Ok(a)) => {
                let xml = client.get_invoice_blocking(a.ksef_number.as_str()).unwrap();
                assert_eq!(xml.as_bytes(), &invoices[i][..], "invoice {i} out of order");
            }
            (_, Err(e)) => panic!("invoice {i}: {e:?}"),
        }
    }
    let peak = peak.load(Ordering::SeqCst);
    assert!((2..=4).contains(&peak), "peak in flight {peak}");
}
