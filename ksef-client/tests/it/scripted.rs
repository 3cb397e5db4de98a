//! Retry paths KSeF (and the emulator) cannot be told to produce on demand, driven by a
//! scripted closure transport: 21470 → keys refetched and the request repeated; 401 → the
//! access token refreshed and the request repeated.

use std::sync::Mutex;

use ksef_client::{AuthTokens, FormCode, KsefClient};
use ksef_crypto::x509::{KeyAlgorithm, SubjectFields, TestIdentity};
use ksef_crypto::{UnixTime, encoding::b64_encode};
use ksef_transport::{HttpRequest, HttpResponse};
use serde_json::json;

const SESSION: &str = "20250625-SO-2C3E6C8000-B675CF5D68-07";

pub(crate) fn reply(status: u16, body: serde_json::Value) -> Result<HttpResponse, std::convert::Infallible> {
    Ok(http::Response::builder()
        .status(status)
        .header("content-type", "application/json")
        .body(serde_json::to_vec(&body).unwrap())
        .unwrap())
}

pub(crate) fn key_list() -> serde_json::Value {
    let now = UnixTime::now();
    let id = TestIdentity::generate(
        KeyAlgorithm::Rsa2048,
        &SubjectFields::seal("5265877635", "Ministerstwo Finansów").unwrap(),
        UnixTime::from_secs(now.as_secs() - 86_400),
        365,
        &mut rand::rng(),
    )
    .unwrap();
    let c = &id.certificate;
    json!([{"certificate": b64_encode(c.der()), "certificateId": c.certificate_id(),
            "publicKeyId": c.public_key_id().unwrap(), "usage": ["SymmetricKeyEncryption"],
            "validFrom": "2020-01-01T00:00:00Z", "validTo": "2099-01-01T00:00:00Z"}])
}

fn exception(code: i32) -> serde_json::Value {
    json!({"exception": {"exceptionDetailList": [{"exceptionCode": code,
        "exceptionDescription": "Przesłany identyfikator klucza jest nieznany lub wskazuje na wycofany klucz",
        "details": ["Klucz nie jest wspierany"]}],
        "serviceCode": "x", "serviceCtx": "srvTEMFA", "serviceName": "Ksef.Api", "timestamp": "2025-01-01T00:00:00Z"}})
}

pub(crate) fn tokens(client: &KsefClient<impl Sized>) {
    let later = chrono::Utc::now() + chrono::Duration::hours(1);
    client.tokens().set(AuthTokens {
        access: "old-access".into(),
        access_valid_until: later,
        refresh: "refresh".into(),
        refresh_valid_until: later,
    });
}

#[test]
fn unknown_public_key_21470_refetches_keys_and_repeats_once() {
    let log = Mutex::new(Vec::<String>::new());
    let keys = key_list();
    let transport = |req: HttpRequest| {
        let line = format!("{} {}", req.method(), req.uri().path());
        let mut log = log.lock().unwrap();
        log.push(line.clone());
        let opens = log.iter().filter(|l| l.ends_with("/sessions/online")).count();
        match line.as_str() {
            "GET /v2/security/public-key-certificates" => reply(200, keys.clone()),
            "POST /v2/sessions/online" if opens == 1 => reply(400, exception(21470)),
            "POST /v2/sessions/online" => {
                reply(201, json!({"referenceNumber": SESSION, "validUntil": "2099-01-01T00:00:00Z"}))
            }
            _ => reply(404, json!({})),
        }
    };
    let client =
        KsefClient::builder("http://127.0.0.1:9/v2".parse().unwrap()).blocking_sleep(|_| ()).build(&transport).unwrap();
    tokens(&client);
    let session = client.open_online_session_blocking(FormCode::Fa3).unwrap();
    assert_eq!(session.reference_number, SESSION);
    let log = log.lock().unwrap().clone();
    assert_eq!(
        log,
        [
            "GET /v2/security/public-key-certificates",
            "POST /v2/sessions/online",
            "GET /v2/security/public-key-certificates",
            "POST /v2/sessions/online"
        ]
    );
}

#[test]
fn a_second_21470_is_returned_typed() {
    let keys = key_list();
    let transport = |req: HttpRequest| match req.uri().path() {
        "/v2/security/public-key-certificates" => reply(200, keys.clone()),
        _ => reply(400, exception(21470)),
    };
    let client =
        KsefClient::builder("http://127.0.0.1:9".parse().unwrap()).blocking_sleep(|_| ()).build(&transport).unwrap();
    tokens(&client);
    let err = client.open_online_session_blocking(FormCode::Fa3).unwrap_err();
    assert_eq!(err.exception_codes(), [21470]);
    assert_eq!(err.status(), Some(http::StatusCode::BAD_REQUEST));
    assert_eq!(err.to_string(), "KSeF request failed", "Display does not repeat the source");
}

#[test]
fn unauthorized_refreshes_and_repeats_once() {
    let seen = Mutex::new(Vec::<String>::new());
    let transport = |req: HttpRequest| {
        let auth = req.headers().get("authorization").map(|v| v.to_str().unwrap().to_owned()).unwrap_or_default();
        seen.lock().unwrap().push(format!("{} {auth}", req.uri().path()));
        match (req.uri().path(), auth.as_str()) {
            ("/v2/auth/token/refresh", "Bearer refresh") => reply(
                200,
                json!({"accessToken": {"token": "new-access", "validUntil": chrono::Utc::now() + chrono::Duration::hours(1)}}),
            ),
            (p, "Bearer new-access") if p.starts_with("/v2/sessions/") => reply(
                200,
                json!({"dateCreated": "2025-01-01T00:00:00Z", "dateUpdated": "2025-01-01T00:00:00Z",
                       "status": {"code": 100, "description": "Sesja interaktywna otwarta"}}),
            ),
            _ => reply(401, json!({"title": "Unauthorized", "status": 401})),
        }
    };
    let client =
        KsefClient::builder("http://127.0.0.1:9".parse().unwrap()).blocking_sleep(|_| ()).build(&transport).unwrap();
    tokens(&client);
    let st = client.session_status_blocking(SESSION).unwrap();
    assert_eq!(st.status.code, 100);
    assert_eq!(client.refresh_count(), 1);
    assert_eq!(
        *seen.lock().unwrap(),
        [
            format!("/v2/sessions/{SESSION} Bearer old-access"),
            "/v2/auth/token/refresh Bearer refresh".to_owned(),
            format!("/v2/sessions/{SESSION} Bearer new-access"),
        ]
    );
}
