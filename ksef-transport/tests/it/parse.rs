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

use ksef_model::operations::{GetInvoice, GetPublicKeyCertificates, RevokeCurrentAuthSession};
use ksef_transport::{SystemWarning, parse_presigned, parse_system_warnings};
use std::time::{Duration, SystemTime};

const RATE_LIMITS: &str = r#"{"onlineSession":{"perSecond":10,"perMinute":30,"perHour":120},"batchSession":{"perSecond":10,"perMinute":20,"perHour":60},"invoiceSend":{"perSecond":10,"perMinute":30,"perHour":180},"invoiceStatus":{"perSecond":30,"perMinute":120,"perHour":1200},"sessionList":{"perSecond":5,"perMinute":10,"perHour":60},"sessionInvoiceList":{"perSecond":10,"perMinute":20,"perHour":200},"sessionMisc":{"perSecond":10,"perMinute":120,"perHour":1200},"invoiceMetadata":{"perSecond":8,"perMinute":16,"perHour":20},"invoiceExport":{"perSecond":8,"perMinute":16,"perHour":20},"invoiceExportStatus":{"perSecond":10,"perMinute":60,"perHour":600},"invoiceDownload":{"perSecond":8,"perMinute":16,"perHour":64},"other":{"perSecond":10,"perMinute":30,"perHour":120},"anonymous":{"perSecond":60,"perMinute":600,"perHour":3600},"batchSessionClose":{"perSecond":10,"perMinute":20,"perHour":60},"onlineSessionClose":{"perSecond":10,"perMinute":30,"perHour":120},"collectiveIdentifier":{"perSecond":10,"perMinute":30,"perHour":120},"global":{"perSecond":100,"perMinute":1000,"perHour":10000},"someFutureGroup":{"perSecond":1,"perMinute":2,"perHour":3}}"#;

pub fn rate_limits_body() -> &'static str {
    RATE_LIMITS
}

#[test]
fn success_with_unknown_future_fields_and_warnings() {
    let r = resp(
        200,
        &[
            ("content-type", "application/json"),
            ("x-system-warning", "[W001]: Limit zostanie obniżony | [W002]: Wersja wycofywana"),
        ],
        RATE_LIMITS,
    );
    let ok = parse_response::<GetRateLimits>(r).unwrap();
    assert_eq!(ok.status, StatusCode::OK);
    assert_eq!(ok.value.invoice_metadata.per_hour, 20);
    assert_eq!(
        ok.warnings,
        vec![
            SystemWarning { code: "W001".into(), message: "Limit zostanie obniżony".into() },
            SystemWarning { code: "W002".into(), message: "Wersja wycofywana".into() },
        ]
    );
}

#[test]
fn warning_format_edge_cases() {
    assert_eq!(parse_system_warnings(""), vec![]);
    assert_eq!(
        parse_system_warnings("free text |[X]: y"),
        vec![
            SystemWarning { code: String::new(), message: "free text".into() },
            SystemWarning { code: "X".into(), message: "y".into() }
        ]
    );
}

#[test]
fn no_body_xml_body_and_array_body() {
    assert!(parse_response::<RevokeCurrentAuthSession>(resp(204, &[], "")).is_ok());
    let x = parse_response::<GetInvoice>(resp(200, &[("x-ms-meta-hash", "abc=")], "<Faktura/>")).unwrap();
    assert_eq!(x.value.as_bytes(), b"<Faktura/>");
    assert_eq!(x.meta_hash(), Some("abc="));
    let keys = parse_response::<GetPublicKeyCertificates>(resp(
        200,
        &[],
        r#"[{"certificate":"MIIB","certificateId":"c-1","publicKeyId":"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=","validFrom":"2025-01-01T00:00:00+00:00","validTo":"2027-01-01T00:00:00+00:00","usage":["SymmetricKeyEncryption","SomethingNew"],"x":1}]"#,
    ));
    // An unknown enum value must not break decoding (model types carry an `Unknown` variant).
    let keys = keys.unwrap();
    assert_eq!(keys.value.len(), 1);
}

#[test]
fn malformed_success_body_is_decode_error_with_raw_body() {
    let e = parse_response::<GetRateLimits>(resp(200, &[], "{not json")).unwrap_err();
    let Error::Decode(d) = &e else { panic!("{e:?}") };
    assert_eq!(d.status(), StatusCode::OK);
    assert_eq!(d.body(), b"{not json");
    assert_eq!(d.expected(), "EffectiveApiRateLimits");
    assert!(std::error::Error::source(&e).is_some());
}

#[test]
fn problem_details_400() {
    let body = r#"{"title":"Bad Request","status":400,"instance":"/v2/rate-limits","detail":"Żądanie jest nieprawidłowe.","errors":[{"code":21405,"description":"Błąd walidacji danych wejściowych.","details":["a","b"]},{"code":21418,"description":"Token kontynuacji.","details":[]}],"timestamp":"2025-10-11T12:23:56.0154302+00:00","traceId":"0HNG:0001","newField":{"x":1}}"#;
    let e =
        parse_response::<GetRateLimits>(resp(400, &[("content-type", "application/problem+json")], body)).unwrap_err();
    let a = e.api().unwrap();
    assert_eq!(a.format(), ErrorFormat::ProblemDetails);
    assert_eq!(e.exception_codes(), vec![21405, 21418]);
    assert_eq!(a.exceptions()[0].details, vec!["a".to_owned(), "b".to_owned()]);
    assert_eq!(a.trace_id(), Some("0HNG:0001"));
    assert_eq!(a.detail(), Some("Żądanie jest nieprawidłowe."));
    assert!(a.has_exception_code(21418));
    let text = e.to_string();
    assert!(text.contains("400") && text.contains("21405"), "{text}");
}

#[test]
fn problem_details_401_403_410() {
    let e = parse_response::<GetRateLimits>(resp(401, &[], r#"{"title":"Unauthorized","status":401,"detail":"Wymagane jest uwierzytelnienie.","timestamp":"2025-10-11T12:23:56Z"}"#)).unwrap_err();
    assert_eq!(e.status(), Some(StatusCode::UNAUTHORIZED));
    assert_eq!(e.api().unwrap().detail(), Some("Wymagane jest uwierzytelnienie."));
    assert_eq!(e.api().unwrap().trace_id(), None);

    let body = r#"{"title":"Forbidden","status":403,"detail":"Brak uprawnień.","reasonCode":"missing-permissions","security":{"requiredAnyOfPermissions":["InvoiceRead"],"presentPermissions":[]},"traceId":"t-1","timestamp":"2025-10-11T12:23:56Z"}"#;
    let e = parse_response::<GetRateLimits>(resp(403, &[], body)).unwrap_err();
    let a = e.api().unwrap();
    assert_eq!(a.reason_code(), Some("missing-permissions"));
    assert_eq!(a.security().unwrap()["requiredAnyOfPermissions"][0], "InvoiceRead");
    assert!(!e.is_retryable());

    let body = r#"{"title":"Gone","status":410,"instance":"/v2/auth/x","detail":"Operacja wygasła i nie jest już dostępna.","timestamp":"2025-10-11T12:23:56Z","traceId":"t-2"}"#;
    let e = parse_response::<GetRateLimits>(resp(410, &[], body)).unwrap_err();
    assert_eq!(e.api().unwrap().instance(), Some("/v2/auth/x"));
    assert_eq!(e.api().unwrap().trace_id(), Some("t-2"));
}

#[test]
fn problem_details_with_odd_shapes_are_read_leniently() {
    // Timestamp in a format the typed schema rejects, code as a number: still read.
    let body = r#"{"title":"Bad Request","status":400,"detail":"x","errors":[{"code":21405,"description":"d"}],"timestamp":"yesterday","traceId":"t"}"#;
    let e = parse_response::<GetRateLimits>(resp(400, &[], body)).unwrap_err();
    assert_eq!(e.exception_codes(), vec![21405]);
    assert_eq!(e.api().unwrap().trace_id(), Some("t"));
    // Not JSON at all: kept raw.
    let e = parse_response::<GetRateLimits>(resp(502, &[], "<html>bad gateway</html>")).unwrap_err();
    assert_eq!(e.api().unwrap().format(), ErrorFormat::Unknown);
    assert_eq!(e.api().unwrap().body(), b"<html>bad gateway</html>");
    assert!(e.is_retryable());
}

#[test]
fn too_many_requests_legacy_with_seconds() {
    let body = r#"{"status":{"code":429,"description":"Too Many Requests","details":["Przekroczono limit 20 żądań na minutę. Spróbuj ponownie po 30 sekundach."]}}"#;
    let e = parse_response::<GetRateLimits>(resp(429, &[("retry-after", "30")], body)).unwrap_err();
    assert!(e.is_rate_limited());
    assert!(e.is_retryable());
    assert_eq!(e.retry_after(), Some(RetryAfter::Seconds(30)));
    let a = e.api().unwrap();
    assert_eq!(a.format(), ErrorFormat::TooManyRequests);
    assert_eq!(a.title(), Some("Too Many Requests"));
    assert_eq!(a.messages().len(), 1);
}

#[test]
fn too_many_requests_problem_details_with_http_date() {
    let body = r#"{"title":"Too Many Requests","status":429,"instance":"/v2/invoices/query/metadata","detail":"Przekroczono limit.","timestamp":"2025-10-11T12:23:56Z","traceId":"t-3"}"#;
    let e = parse_response::<GetRateLimits>(resp(429, &[("retry-after", "Wed, 21 Oct 2015 07:28:00 GMT")], body))
        .unwrap_err();
    assert!(e.is_rate_limited());
    let ra = e.retry_after().unwrap();
    let at = SystemTime::UNIX_EPOCH + Duration::from_secs(1_445_412_480);
    assert_eq!(ra, RetryAfter::Date(at));
    assert_eq!(ra.delay(at - Duration::from_secs(7)), Duration::from_secs(7));
    assert_eq!(ra.delay(at + Duration::from_secs(7)), Duration::ZERO);
    assert_eq!(e.api().unwrap().format(), ErrorFormat::ProblemDetails);
    assert_eq!(e.api().unwrap().detail(), Some("Przekroczono limit."));
}

#[test]
fn presigned_responses() {
    let ok = parse_presigned(resp(200, &[("x-ms-meta-hash", "h==")], "part")).unwrap();
    assert_eq!(ok.value, b"part");
    assert_eq!(ok.meta_hash(), Some("h=="));
    let e = parse_presigned(resp(403, &[], "<Error><Code>AuthenticationFailed</Code></Error>")).unwrap_err();
    assert_eq!(e.status(), Some(StatusCode::FORBIDDEN));
    assert_eq!(e.api().unwrap().body(), b"<Error><Code>AuthenticationFailed</Code></Error>");
}
