//! Async methods over `ReqwestTransport`.

use std::time::Duration;

use ksef_client::{Authenticator, FormCode};
use ksef_crypto::ContextIdentifier;
use ksef_model::KsefNumber;
use ksef_model::operations::GenerateToken;
use ksef_model::operations::{ListAuthSessions, ListAuthSessionsParams, TestdataCreateSubject};
use ksef_model::types::{GenerateTokenRequest, TokenPermissionType};

use crate::common::*;

/// The emulator runs its own runtime, so it is started outside the test's runtime.
#[test]
fn xades_login_and_concurrent_sends() {
    let emu = emulator();
    run(xades_login_and_concurrent_sends_with(&emu));
}

async fn xades_login_and_concurrent_sends_with(emu: &ksef_emulator::Emulator) {
    let client = async_client(emu);
    let nip = fresh_nip();
    client.call::<TestdataCreateSubject>(&(), subject_request(&nip)).await.unwrap();
    client.login(xades(&nip)).await.unwrap();

    let invoices: Vec<Vec<u8>> = (0..4).map(|_| invoice(&nip, &unique_number("A"))).collect();
    let (session, results) = client.send_invoices(FormCode::Fa3, &invoices, 3).await.unwrap();
    let mut numbers = Vec::new();
    for r in results {
        let a = r.expect("accepted");
        let n: KsefNumber = a.ksef_number.as_str().parse().unwrap();
        assert_eq!(n.seller_nip().as_str(), nip);
        let url = a.status.upo_download_url.as_deref().expect("UPO link");
        let upo = client.download_presigned(url).await.unwrap();
        let upo = ksef_client::upo::parse_upo(std::str::from_utf8(&upo).unwrap()).unwrap();
        assert!(upo.document(n.as_str()).is_some());
        let by_number = client.invoice_upo_by_ksef_number(&session.reference_number, n.as_str()).await.unwrap();
        assert_eq!(ksef_client::upo::parse_upo(by_number.as_str().unwrap()).unwrap().documents, upo.documents);
        numbers.push(n);
    }
    numbers.sort();
    numbers.dedup();
    assert_eq!(numbers.len(), 4, "distinct KSeF numbers");
    assert!(client.get_invoice(numbers[0].as_str()).await.unwrap().as_str().unwrap().contains(&nip));

    // KSeF-token login, async.
    let req = GenerateTokenRequest {
        description: "Token testowy async".try_into().unwrap(),
        permissions: vec![TokenPermissionType::InvoiceWrite],
    };
    let generated = client.call::<GenerateToken>(&(), req).await.unwrap().value;
    let other = async_client(emu);
    other
        .login(Authenticator::ksef_token(ContextIdentifier::Nip(nip.clone()), generated.token.to_string()))
        .await
        .unwrap();
    let (_, results) = other.send_invoices(FormCode::Fa3, &[invoice(&nip, &unique_number("AT"))], 1).await.unwrap();
    assert!(results[0].is_ok(), "{:?}", results[0]);
}

#[test]
fn concurrent_callers_share_one_refresh() {
    let emu = emulator_with_access_lifetime(6);
    run(concurrent_callers_share_one_refresh_with(&emu));
}

async fn concurrent_callers_share_one_refresh_with(emu: &ksef_emulator::Emulator) {
    let client = ksef_client::KsefClient::builder(emu.base_url().parse().unwrap())
        .refresh_margin(Duration::from_secs(2))
        .build(ksef_transport::ReqwestTransport::new(&Default::default()).unwrap())
        .unwrap();
    let nip = fresh_nip();
    client.call::<TestdataCreateSubject>(&(), subject_request(&nip)).await.unwrap();
    client.login(xades(&nip)).await.unwrap();
    tokio::time::sleep(Duration::from_millis(4500)).await;

    let mut tasks = Vec::new();
    for _ in 0..8 {
        let c = client.clone();
        tasks.push(tokio::spawn(async move {
            let list = ListAuthSessionsParams { continuation_token: None, page_size: None };
            c.call::<ListAuthSessions>(&list, ()).await.map(|r| r.value.items.len())
        }));
    }
    for t in tasks {
        assert!(t.await.unwrap().unwrap() >= 1);
    }
    assert_eq!(client.refresh_count(), 1, "one refresh for eight concurrent callers");
    assert_eq!(client.reauthentication_count(), 0);
}

/// The async twin of `blocking::expired_access_token_is_refreshed_mid_run`.
#[test]
fn expired_access_token_is_refreshed_mid_run_async() {
    let emu = emulator_with_access_lifetime(6);
    run(async {
        let client = ksef_client::KsefClient::builder(emu.base_url().parse().unwrap())
            .refresh_margin(Duration::from_secs(2))
            .build(ksef_transport::ReqwestTransport::new(&Default::default()).unwrap())
            .unwrap();
        let nip = fresh_nip();
        client.call::<TestdataCreateSubject>(&(), subject_request(&nip)).await.unwrap();
        client.login(xades(&nip)).await.unwrap();
        let first = client.tokens().access_valid_until().unwrap();
        let list = ListAuthSessionsParams { continuation_token: None, page_size: None };
        client.call::<ListAuthSessions>(&list, ()).await.unwrap();
        assert_eq!(client.refresh_count(), 0);
        tokio::time::sleep(Duration::from_millis(4500)).await;
        client.call::<ListAuthSessions>(&list, ()).await.unwrap();
        assert_eq!(client.refresh_count(), 1);
        assert!(client.tokens().access_valid_until().unwrap() > first);
        assert_eq!(client.reauthentication_count(), 0);

        client.tokens().invalidate_refresh();
        tokio::time::sleep(Duration::from_millis(4500)).await;
        client.call::<ListAuthSessions>(&list, ()).await.unwrap();
        assert_eq!(client.reauthentication_count(), 1);
    });
}
