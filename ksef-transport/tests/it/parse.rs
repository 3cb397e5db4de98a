use http::StatusCode;
use ksef_model::operations::GetRateLimits;
use ksef_transport::{Error, ErrorFormat, RetryAfter, parse_response};

fn resp(status: u16, headers: &[(&str, &str)], body: &str) -> http::Response<Vec<u8>> {
    let mut b = http::Response::builder().status(status);
    for (n, v) in headers {
        b = b.header(*n, *v);
    }
    b.body(body.as_bytes().to_vec()).unwrap()
}

#[test]
fn legacy_exception_response() {
    let body = r#"{"exception":{"exceptionDetailList":[{"exceptionCode":21405,"exceptionDescription":"Błąd walidacji danych wejściowych.","details":["pageSize too big"]}],"referenceNumber":"20250101-EE-0000000000-0000000000-00","serviceCode":"00-abc-def-00","serviceCtx":"srvX","serviceName":"Undefined","timestamp":"2025-10-11T12:23:56.0154302","futureField":1}}"#;
    let err = parse_response::<GetRateLimits>(resp(400, &[("content-type", "application/json")], body)).unwrap_err();
    let api = err.api().expect("api error");
    assert_eq!(api.status(), StatusCode::BAD_REQUEST);
    assert_eq!(api.format(), ErrorFormat::Exception);
    assert_eq!(err.exception_codes(), vec![21405]);
    assert_eq!(api.exceptions()[0].details, vec!["pageSize too big".to_owned()]);
    assert_eq!(api.service_code(), Some("00-abc-def-00"));
    assert_eq!(api.reference_number(), Some("20250101-EE-0000000000-0000000000-00"));
    assert!(!err.is_retryable());
    assert!(matches!(err, Error::Api(_)));
}

#[test]
fn retry_after_forms() {
    assert_eq!(RetryAfter::parse("30"), Some(RetryAfter::Seconds(30)));
    let d = RetryAfter::parse("Sun, 06 Nov 1994 08:49:37 GMT").unwrap();
    assert_eq!(d, RetryAfter::Date(std::time::UNIX_EPOCH + std::time::Duration::from_secs(784_111_777)));
    assert_eq!(RetryAfter::parse("soon"), None);
}
