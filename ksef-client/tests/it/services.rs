//! Named convenience methods (tokens, certificates, limits, test data, Peppol) against the
//! emulator, and the Lighthouse against a loopback stub.

use futures_util::StreamExt as _;
use ksef_client::services::CertificateEnrollment;
use ksef_client::{Authenticator, Error};
use ksef_crypto::{ContextIdentifier, KeyAlgorithm, TestIdentity};
use ksef_model::operations::ListTokensParams;
use ksef_model::types::{
    AuthenticationTokenStatus, CertificateListItemStatus, KsefCertificateType, QueryCertificatesRequest,
    TokenPermissionType,
};
use serde_json::json;

use crate::common::*;

fn req<T: serde::de::DeserializeOwned>(v: serde_json::Value) -> T {
    serde_json::from_value(v).unwrap()
}

#[test]
fn blocking_tokens_limits_and_every_testdata_endpoint() {
    let emu = emulator();
    let (client, nip) = logged_in_blocking(&emu);

    // Tokens: generate 11, list them over two pages of 10, get, revoke, filter by status.
    let a = client.generate_token_blocking("token A", &[TokenPermissionType::InvoiceRead]).unwrap();
    let b = client
        .generate_token_blocking("token B", &[TokenPermissionType::InvoiceWrite, TokenPermissionType::InvoiceRead])
        .unwrap();
    for i in 0..9 {
        client.generate_token_blocking(&format!("token {i}"), &[TokenPermissionType::InvoiceRead]).unwrap();
    }
    assert!(matches!(client.generate_token_blocking("", &[]), Err(Error::Config(_))));
    let listed: Vec<_> = client
        .list_tokens_blocking(ListTokensParams { page_size: Some(10), ..Default::default() })
        .collect::<Result<_, _>>()
        .unwrap();
    assert_eq!(listed.len(), 11);
    let refs: Vec<String> = listed.iter().map(|t| t.reference_number.to_string()).collect();
    assert!(refs.contains(&a.reference_number) && refs.contains(&b.reference_number));
    let got = client.get_token_blocking(&b.reference_number).unwrap();
    assert_eq!(got.requested_permissions.len(), 2);
    client.revoke_token_blocking(&a.reference_number).unwrap();
    let st = client.get_token_blocking(&a.reference_number).unwrap().status;
    assert!(matches!(st, AuthenticationTokenStatus::Revoked | AuthenticationTokenStatus::Revoking), "{st:?}");
    let revoked: Vec<String> = client
        .list_tokens_blocking(ListTokensParams {
            status: vec![AuthenticationTokenStatus::Revoked, AuthenticationTokenStatus::Revoking],
            ..Default::default()
        })
        .map(|t| t.unwrap().reference_number.to_string())
        .collect();
    assert_eq!(revoked, [a.reference_number.to_string()]);

    // Limits, and the test-data overrides observed through them.
    let before = client.context_limits_blocking().unwrap();
    client
        .testdata_set_session_limits_blocking(req(json!({
            "onlineSession": {"maxInvoices": 7, "maxInvoiceSizeInMB": 1, "maxInvoiceWithAttachmentSizeInMB": 2},
            "batchSession": {"maxInvoices": 8, "maxInvoiceSizeInMB": 1, "maxInvoiceWithAttachmentSizeInMB": 2},
            "collectiveIdentifier": {"maxInvoices": 9}
        })))
        .unwrap();
    let set = serde_json::to_value(client.context_limits_blocking().unwrap()).unwrap();
    assert_eq!(set["onlineSession"]["maxInvoices"], 7);
    assert_eq!(set["batchSession"]["maxInvoices"], 8);
    client.testdata_reset_session_limits_blocking().unwrap();
    assert_eq!(client.context_limits_blocking().unwrap(), before);

    client
        .testdata_set_certificate_limits_blocking(req(json!({
            "subjectIdentifierType": "Nip", "certificate": {"maxCertificates": 3}, "enrollment": {"maxEnrollments": 4}
        })))
        .unwrap();
    let subject = serde_json::to_value(client.subject_limits_blocking().unwrap()).unwrap();
    assert_eq!(subject["certificate"]["maxCertificates"], 3);
    assert_eq!(subject["enrollment"]["maxEnrollments"], 4);
    client.testdata_reset_certificate_limits_blocking().unwrap();

    let rates = client.rate_limits_blocking().unwrap();
    let mut v = serde_json::to_value(&rates).unwrap();
    v["other"]["perHour"] = json!(999);
    // The typed override carries the spec's 13 groups; the emulator keeps its extra groups.
    client.testdata_set_rate_limits_blocking(req(json!({ "rateLimits": v }))).unwrap();
    let applied = serde_json::to_value(client.apply_rate_limits_blocking().unwrap()).unwrap();
    assert_eq!(applied["other"]["perHour"], 999, "{applied}");
    client.testdata_reset_rate_limits_blocking().unwrap();
    assert_eq!(client.rate_limits_blocking().unwrap(), rates);
    client.testdata_set_production_rate_limits_blocking().unwrap();
    client.testdata_reset_rate_limits_blocking().unwrap();

    // Persons, permissions, attachments.
    let person_nip = fresh_nip();
    client
        .testdata_create_person_blocking(req(json!({
            "nip": person_nip, "pesel": "90010112349", "isBailiff": false, "description": "Osoba testowa"
        })))
        .unwrap();
    let grant = json!({
        "contextIdentifier": {"type": "Nip", "value": nip},
        "authorizedIdentifier": {"type": "Nip", "value": person_nip},
        "permissions": [{"permissionType": "InvoiceRead", "description": "uprawnienie testowe"}]
    });
    client.testdata_grant_permissions_blocking(req(grant.clone())).unwrap();
    client
        .testdata_revoke_permissions_blocking(req(json!({
            "contextIdentifier": grant["contextIdentifier"], "authorizedIdentifier": grant["authorizedIdentifier"]
        })))
        .unwrap();
    client.testdata_remove_person_blocking(req(json!({ "nip": person_nip }))).unwrap();
    client.testdata_allow_attachments_blocking(req(json!({ "nip": nip }))).unwrap();
    client.testdata_revoke_attachments_blocking(req(json!({ "nip": nip }))).unwrap();

    // Blocking a context refuses logins into it until unblocked.
    let ctx = json!({"contextIdentifier": {"type": "Nip", "value": nip}});
    client.testdata_block_context_blocking(req(ctx.clone())).unwrap();
    let other = blocking_client(&emu);
    assert!(other.login_blocking(xades(&nip)).is_err(), "login into a blocked context");
    client.testdata_unblock_context_blocking(req(ctx)).unwrap();
    other.login_blocking(xades(&nip)).unwrap();

    // Peppol providers (the emulator may have none): the iterator ends cleanly.
    for p in client.peppol_providers_blocking(Some(10)) {
        p.unwrap();
    }

    client.testdata_remove_subject_blocking(req(json!({ "subjectNip": nip }))).unwrap();
}

#[test]
fn async_certificate_enrollment_flow_then_login_with_the_certificate() {
    let emu = emulator();
    run(async {
        let (client, nip) = logged_in_async(&emu).await;
        let limits = client.certificate_limits().await.unwrap();
        assert!(limits.can_request);
        let data = client.certificate_enrollment_data().await.unwrap();
        assert!(!data.common_name.is_empty());

        let key = KeyAlgorithm::P256.generate(&mut rand::rng()).unwrap();
        let what = CertificateEnrollment {
            name: "Certyfikat testowy".into(),
            certificate_type: KsefCertificateType::Authentication,
            valid_from: None,
        };
        let issued = client.enroll_certificate(&what, &key).await.unwrap();
        assert_eq!(issued.serial_number.len(), 16);
        assert_eq!(issued.certificate.spki_der().unwrap(), key.public_key().to_spki_der().unwrap());

        // Query (a stream over pages) finds it; then log in with key + issued certificate.
        let found: Vec<_> = client
            .query_certificates(QueryCertificatesRequest::default(), Some(10))
            .map(|c| c.unwrap())
            .collect()
            .await;
        assert!(found.iter().any(|c| c.certificate_serial_number.to_string() == issued.serial_number));
        let fresh = async_client(&emu);
        let identity = TestIdentity { key, certificate: issued.certificate.clone() };
        fresh.login(Authenticator::xades(ContextIdentifier::Nip(nip.clone()), identity)).await.unwrap();

        // Test-data validity override, then revoke.
        let valid_to = chrono::Utc::now() + chrono::Duration::days(3);
        client
            .testdata_update_certificate(&issued.serial_number, req(json!({ "validTo": valid_to.to_rfc3339() })))
            .await
            .unwrap();
        client.revoke_certificate(&issued.serial_number, None).await.unwrap();
        let filter = QueryCertificatesRequest {
            certificate_serial_number: Some(issued.serial_number.clone().try_into().unwrap()),
            ..Default::default()
        };
        let after: Vec<_> = client.query_certificates(filter, None).map(|c| c.unwrap()).collect().await;
        assert_eq!(after.len(), 1);
        assert_eq!(after[0].status, CertificateListItemStatus::Revoked);

        // Token listing as a stream.
        let t = client.generate_token("async", &[TokenPermissionType::InvoiceRead]).await.unwrap();
        let tokens: Vec<_> = client.list_tokens(ListTokensParams::default()).map(|t| t.unwrap()).collect().await;
        assert!(tokens.iter().any(|x| x.reference_number == t.reference_number));
        let limits = client.apply_rate_limits().await.unwrap();
        assert_eq!(limits, client.rate_limits().await.unwrap());
        let _ = client.context_limits().await.unwrap();
        let _ = client.subject_limits().await.unwrap();
        let providers: Vec<_> = client.peppol_providers(None).collect().await;
        assert!(providers.iter().all(Result::is_ok));
    });
}

const STATUS: &str = r#"{"status":"MAINTENANCE","messages":[{"id":"m-1","eventId":42,"category":"MAINTENANCE",
"type":"MAINTENANCE_ANNOUNCEMENT","title":"Prace serwisowe","text":"KSeF niedostępny","start":"2026-12-05T20:00:00+01:00",
"end":"2026-12-05T23:00:00+01:00","version":2,"published":"2026-12-01T09:00:00Z"}]}"#;
const MESSAGES: &str = r#"[{"id":"m-0","eventId":41,"category":"FAILURE","type":"FAILURE_END","title":"Koniec awarii",
"text":"Działa","start":"2026-11-30T10:00:00Z","end":null,"version":1,"published":"2026-11-30T12:00:00Z"},
{"id":"m-2","eventId":43,"category":"NEW_KIND","type":"OTHER","title":"t","text":"x","start":"2026-12-02T10:00:00Z",
"version":1,"published":"2026-12-02T10:00:00Z"}]"#;

fn lighthouse_env(url: &str) -> ksef_client::Environment {
    ksef_client::Environment::Custom(
        ksef_client::env::CustomEnvironment::new("http://127.0.0.1:9", "http://127.0.0.1:9")
            .unwrap()
            .with_lighthouse(url)
            .unwrap(),
    )
}

#[test]
fn lighthouse_status_and_messages_blocking_and_async() {
    use ksef_client::lighthouse::{KsefState, MessageCategory, MessageType};
    let stub = stub_server(vec![
        (200, "application/json", STATUS.as_bytes().to_vec()),
        (200, "application/json", MESSAGES.as_bytes().to_vec()),
        (200, "application/json", STATUS.as_bytes().to_vec()),
        (200, "application/json", MESSAGES.as_bytes().to_vec()),
        (503, "text/plain", b"down".to_vec()),
        (200, "application/json", b"{not json".to_vec()),
    ]);
    let blocking = ksef_client::KsefClient::builder(lighthouse_env(&stub.url))
        .build(ksef_transport::UreqTransport::default())
        .unwrap();
    let st = blocking.lighthouse_status_blocking().unwrap();
    assert_eq!(st.status, KsefState::Maintenance);
    assert!(!st.is_available());
    let m = &st.messages.as_ref().unwrap()[0];
    assert_eq!((m.event_id, m.version, m.kind.clone()), (42, 2, MessageType::MaintenanceAnnouncement));
    assert_eq!(m.start_time().unwrap().to_rfc3339(), "2026-12-05T19:00:00+00:00");
    let msgs = blocking.lighthouse_messages_blocking().unwrap();
    assert_eq!(msgs.len(), 2);
    assert_eq!(msgs[0].category, MessageCategory::Failure);
    assert_eq!(msgs[0].end_time(), None);
    assert_eq!(msgs[1].category, MessageCategory::Unknown("NEW_KIND".into()));

    let asynchronous = ksef_client::KsefClient::builder(lighthouse_env(&stub.url))
        .build(ksef_transport::ReqwestTransport::new(&Default::default()).unwrap())
        .unwrap();
    run(async {
        assert_eq!(asynchronous.lighthouse_status().await.unwrap(), st);
        assert_eq!(asynchronous.lighthouse_messages().await.unwrap(), msgs);
        let err = asynchronous.lighthouse_status().await.unwrap_err();
        assert_eq!(err.status(), Some(http::StatusCode::SERVICE_UNAVAILABLE));
        assert!(matches!(asynchronous.lighthouse_messages().await, Err(Error::Protocol(_))));
    });
    let reqs = stub.requests.lock().unwrap();
    let paths: Vec<&str> = reqs.iter().map(|r| r.target.as_str()).collect();
    assert_eq!(paths, ["/status", "/messages", "/status", "/messages", "/status", "/messages"]);
    assert!(reqs.iter().all(|r| r.headers.iter().all(|(k, _)| k != "authorization")));

    // DEMO has no Lighthouse: a typed error before anything is sent.
    let demo = ksef_client::KsefClient::builder(ksef_client::Environment::Demo)
        .build(ksef_transport::UreqTransport::default())
        .unwrap();
    assert!(matches!(demo.lighthouse_status_blocking(), Err(Error::Config(_))));
}
