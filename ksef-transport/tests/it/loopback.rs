//! The same suite over both real transports against a loopback server.

use std::time::Duration;

use http::StatusCode;
use ksef_model::operations::*;
use ksef_model::{Operation, XmlDocument};
use ksef_transport::{
    AsyncTransport, DownloadBody, Error, HttpRequest, HttpResponse, RequestBody, RequestContext, ReqwestTransport,
    ResponseBody, SyncTransport, TransportConfig, UreqTransport, UrlPolicy, build_request, parse_presigned,
    parse_response, presigned_get, presigned_request,
};
use pretty_assertions::assert_eq;

use crate::server::{Reply, Seen, Server, checksum};

const BIG: usize = 3 * 1024 * 1024 + 17;

fn big() -> Vec<u8> {
    (0..BIG).map(|i| (i % 251) as u8).collect()
}

fn route(s: &Seen) -> Reply {
    let path = s.target.split('?').next().unwrap_or("");
    match (s.method.as_str(), path) {
        ("GET", "/v2/rate-limits") => Reply::new(200, crate::parse::rate_limits_body())
            .header("content-type", "application/json")
            .header("x-system-warning", "[W1]: pierwsze | [W2]: drugie"),
        ("GET", "/v2/auth/sessions") => Reply::new(
            400,
            r#"{"title":"Bad Request","status":400,"instance":"/v2/auth/sessions","detail":"x","errors":[{"code":21418,"description":"Token kontynuacji.","details":["zly"]}],"timestamp":"2025-10-11T12:23:56Z","traceId":"tr-1"}"#,
        )
        .header("content-type", "application/problem+json"),
        ("GET", "/v2/limits/context") => Reply::new(
            429,
            r#"{"status":{"code":429,"description":"Too Many Requests","details":["Spróbuj ponownie po 5 sekundach."]}}"#,
        )
        .header("retry-after", "5"),
        ("GET", "/v2/limits/subject") => Reply::new(302, "").header("location", "/v2/rate-limits"),
        ("GET", "/v2/certificates/limits") => {
            let mut r = Reply::new(200, r#"{"canRequest":true,"enrollment":{"limit":1,"remaining":1},"certificate":{"limit":1,"remaining":1}}"#);
            r.delay = Duration::from_millis(1500);
            r
        }
        ("POST", "/v2/testdata/subject") => Reply::new(200, ""),
        ("POST", "/v2/auth/xades-signature") => Reply::new(
            202,
            r#"{"referenceNumber":"20250514-AU-2DFC46C000-3AC6D5877F-D4","authenticationToken":{"token":"t","validUntil":"2025-07-11T12:23:56+00:00"}}"#,
        ),
        ("GET", p) if p.starts_with("/v2/invoices/ksef/") => {
            Reply::new(200, "<Faktura>ż</Faktura>").header("content-type", "application/xml").header("x-ms-meta-hash", "aGFzaA==")
        }
        ("PUT", "/upload/part1") => Reply::new(201, format!("{}:{}", s.body_len, s.body_sum)),
        ("GET", "/download/part1") => Reply::new(200, big()).header("x-ms-meta-hash", "cGFydA=="),
        _ => Reply::new(404, "not here"),
    }
}

/// What the suite observed; must be identical for both transports.
#[derive(Debug, PartialEq, Eq)]
struct Observed {
    lines: Vec<String>,
    seen: Vec<Seen>,
}

/// Header names whose values depend on the client library.
fn comparable(mut s: Seen) -> Seen {
    s.headers.retain(|(k, _)| {
        matches!(
            k.as_str(),
            "authorization" | "accept" | "content-type" | "x-error-format" | "x-ksef-feature" | "x-ms-blob-type"
        )
    });
    s.headers.sort();
    s
}

fn kind(e: &Error) -> String {
    match e {
        Error::Build(_) => "build".into(),
        Error::Transport(t) => format!("transport connect={}", t.is_connect()),
        Error::Timeout(_) => "timeout".into(),
        Error::Decode(d) => format!("decode {}", d.status()),
        Error::Api(a) => format!(
            "api {} codes={:?} trace={:?} retry_after={:?} body_len={}",
            a.status().as_u16(),
            a.exception_codes().collect::<Vec<_>>(),
            a.trace_id(),
            a.retry_after(),
            a.body().len()
        ),
        _ => "other".into(),
    }
}

fn call<O>(
    send: &dyn Fn(HttpRequest) -> Result<HttpResponse, Error>,
    ctx: &RequestContext,
    p: &O::Params,
    b: O::Request,
) -> Result<ksef_transport::Response<O::Response>, Error>
where
    O: Operation,
    O::Request: RequestBody,
    O::Response: ResponseBody,
{
    parse_response::<O>(send(build_request::<O>(ctx, p, b)?)?)
}

fn suite(server: &Server, send: &dyn Fn(HttpRequest) -> Result<HttpResponse, Error>) -> Observed {
    let ctx = RequestContext::new(&server.url("")).unwrap().with_token("tok-1").with_feature("upo-v4-3").unwrap();
    let mut lines = Vec::new();

    let ok = call::<GetRateLimits>(send, &ctx, &(), ()).unwrap();
    lines.push(format!("rate-limits {} {:?} other={}", ok.status, ok.warnings, ok.value.other.per_minute));

    let e = call::<ListAuthSessions>(send, &ctx, &Default::default(), ()).unwrap_err();
    lines.push(kind(&e));
    let e = call::<GetContextLimits>(send, &ctx, &(), ()).unwrap_err();
    assert!(e.is_rate_limited());
    lines.push(kind(&e));
    // No redirect is followed: the 302 is an error the caller sees.
    let e = call::<GetSubjectLimits>(send, &ctx, &(), ()).unwrap_err();
    assert_eq!(e.status(), Some(StatusCode::FOUND));
    lines.push(kind(&e));
    // The transport's timeout (500 ms) fires before the reply (1.5 s).
    let e = call::<GetCertificateLimits>(send, &ctx, &(), ()).unwrap_err();
    lines.push(kind(&e));

    let body: ksef_model::types::SubjectCreateRequest = serde_json::from_value(serde_json::json!({
        "subjectNip": "5265877635", "subjectType": "VatGroup", "description": "Grupa VAT"
    }))
    .unwrap();
    let r = call::<TestdataCreateSubject>(send, &ctx, &(), body).unwrap();
    lines.push(format!("create-subject {}", r.status));

    let r = call::<AuthXadesSignature>(send, &ctx, &Default::default(), XmlDocument(b"<AuthTokenRequest/>".to_vec()))
        .unwrap();
    lines.push(format!("xades {} {}", r.status, *r.value.reference_number));

    let p = GetInvoiceParams { ksef_number: "5265877635-20250826-0100001AF629-AF".into() };
    let r = call::<GetInvoice>(send, &ctx, &p, ()).unwrap();
    lines.push(format!("invoice {} {:?} {:?}", r.status, r.value.as_str(), r.meta_hash()));

    let e = send(http::Request::get(server.url("/nowhere")).body(Vec::new()).unwrap()).map(|r| r.status());
    lines.push(format!("{e:?}"));

    // Pre-signed: no Authorization, URL policy allows loopback only when asked.
    let policy = UrlPolicy::default().allow_loopback(true);
    assert!(presigned_get(&server.url("/download/part1"), &UrlPolicy::default()).is_err());
    let up = presigned_request(
        http::Method::PUT,
        &server.url("/upload/part1"),
        &[("x-ms-blob-type", "BlockBlob")],
        big(),
        &policy,
    )
    .unwrap();
    let r = parse_presigned(send(up).unwrap()).unwrap();
    lines.push(format!("upload {} {}", r.status, String::from_utf8_lossy(&r.value)));
    let r = parse_presigned(send(presigned_get(&server.url("/download/part1"), &policy).unwrap()).unwrap()).unwrap();
    lines.push(format!("download {} {} {:?}", r.value.len(), checksum(&r.value), r.meta_hash()));

    let seen = server.take().into_iter().map(comparable).collect();
    Observed { lines, seen }
}

fn config() -> TransportConfig {
    TransportConfig { timeout: Some(Duration::from_millis(500)), ..TransportConfig::default() }
}

fn expected_lines() -> Vec<String> {
    let big = big();
    vec![
        r#"rate-limits 200 OK [SystemWarning { code: "W1", message: "pierwsze" }, SystemWarning { code: "W2", message: "drugie" }] other=30"#.to_owned(),
        r#"api 400 codes=[21418] trace=Some("tr-1") retry_after=None body_len=211"#.to_owned(),
        "api 429 codes=[] trace=None retry_after=Some(Seconds(5)) body_len=105".to_owned(),
        "api 302 codes=[] trace=None retry_after=None body_len=0".to_owned(),
        "timeout".to_owned(),
        "create-subject 200 OK".to_owned(),
        "xades 202 Accepted 20250514-AU-2DFC46C000-3AC6D5877F-D4".to_owned(),
        r#"invoice 200 OK Some("<Faktura>ż</Faktura>") Some("aGFzaA==")"#.to_owned(),
        "Ok(404)".to_owned(),
        format!("upload 201 Created {}:{}", big.len(), checksum(&big)),
        format!("download {} {} Some(\"cGFydA==\")", big.len(), checksum(&big)),
    ]
}

#[test]
fn both_transports_behave_identically() {
    let server = Server::start(route);
    let ureq = UreqTransport::new(&config());
    let by_ureq = suite(&server, &|r| SyncTransport::send(&ureq, r).map_err(Error::from_transport));

    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let reqwest = ReqwestTransport::new(&config()).unwrap();
    let by_reqwest = suite(&server, &|r| rt.block_on(AsyncTransport::send(&reqwest, r)).map_err(Error::from_transport));

    assert_eq!(by_ureq.lines, expected_lines());
    assert_eq!(by_ureq, by_reqwest);

    // What the server saw: KSeF headers, bodies, and no Authorization on pre-signed URLs.
    let s = &by_ureq.seen;
    assert_eq!(s.len(), 11, "{s:#?}");
    assert_eq!(s[0].target, "/v2/rate-limits");
    assert_eq!(s[0].header("authorization"), Some("Bearer tok-1"));
    assert_eq!(s[0].header("x-error-format"), Some("problem-details"));
    assert_eq!(s[0].header("x-ksef-feature"), Some("upo-v4-3"));
    assert_eq!(s[3].target, "/v2/limits/subject");
    assert_eq!(s[4].target, "/v2/certificates/limits", "the redirect was not followed");
    assert_eq!(s[5].header("content-type"), Some("application/json"));
    assert_eq!(s[5].header("authorization"), None);
    assert_eq!(
        String::from_utf8_lossy(&s[5].body_head),
        r#"{"description":"Grupa VAT","subjectNip":"5265877635","subjectType":"VatGroup"}"#
    );
    assert_eq!(s[6].header("content-type"), Some("application/xml"));
    assert_eq!(s[6].body_head, b"<AuthTokenRequest/>");
    assert_eq!(s[9].method, "PUT");
    assert_eq!(s[9].header("authorization"), None);
    assert_eq!(s[9].header("x-ms-blob-type"), Some("BlockBlob"));
    assert_eq!(s[9].body_len, BIG);
    assert_eq!(s[10].header("authorization"), None);
}

#[test]
fn connect_errors_are_reported_as_such() {
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let ctx = RequestContext::new(&format!("http://127.0.0.1:{port}")).unwrap().with_token("t");
    let ureq = UreqTransport::new(&config());
    let e = ksef_transport::send_blocking::<GetRateLimits, _>(&ureq, &ctx, &(), ()).unwrap_err();
    assert!(matches!(&e, Error::Transport(t) if t.is_connect()), "{e:?}");
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let reqwest = ReqwestTransport::new(&config()).unwrap();
    let e = rt.block_on(ksef_transport::send_async::<GetRateLimits, _>(&reqwest, &ctx, &(), ())).unwrap_err();
    assert!(matches!(&e, Error::Transport(t) if t.is_connect()), "{e:?}");
    assert!(e.is_retryable());
}

#[test]
fn ureq_streams_large_parts_both_ways() {
    let server = Server::start(route);
    let ureq = UreqTransport::new(&config());
    let data = big();
    let req = http::Request::put(server.url("/upload/part1"))
        .header("content-length", data.len())
        .header("x-ms-blob-type", "BlockBlob")
        .body(())
        .unwrap();
    let resp = ureq.send_reader(req, &mut std::io::Cursor::new(&data)).unwrap();
    assert_eq!(resp.status(), 201);
    assert_eq!(String::from_utf8_lossy(resp.body()), format!("{}:{}", data.len(), checksum(&data)));

    let mut sink = Vec::new();
    let get = presigned_get(&server.url("/download/part1"), &UrlPolicy::default().allow_loopback(true)).unwrap();
    let resp = ureq.download_to(get, &mut sink).unwrap();
    assert_eq!(resp.body(), &DownloadBody::Written(data.len() as u64));
    assert_eq!(checksum(&sink), checksum(&data));
    assert_eq!(resp.headers()["x-ms-meta-hash"], "cGFydA==");

    let get = presigned_get(&server.url("/download/missing"), &UrlPolicy::default().allow_loopback(true)).unwrap();
    let resp = ureq.download_to(get, &mut sink).unwrap();
    assert_eq!(resp.body(), &DownloadBody::Error(b"not here".to_vec()));
}

#[tokio::test(flavor = "current_thread")]
async fn reqwest_pipeline_with_tokio_sleep() {
    let server = Server::start(route);
    let reqwest = ReqwestTransport::new(&config()).unwrap();
    let ctx = RequestContext::new(&server.url("")).unwrap().with_token("t");
    let r = ksef_transport::Pipeline::new()
        .execute_async::<GetRateLimits, _, _, _>(&reqwest, &ctx, &(), (), ksef_transport::tokio_sleep)
        .await
        .unwrap();
    assert_eq!(r.warnings.len(), 2);
}

#[tokio::test(flavor = "current_thread")]
async fn reqwest_streams_large_parts_both_ways() {
    let server = Server::start(route);
    let reqwest = ReqwestTransport::new(&config()).unwrap();
    let data = big();
    let req = http::Request::put(server.url("/upload/part1"))
        .header("content-length", data.len())
        .header("x-ms-blob-type", "BlockBlob")
        .body(())
        .unwrap();
    let resp = reqwest.send_reader(req, std::io::Cursor::new(data.clone())).await.unwrap();
    assert_eq!(resp.status(), 201);
    assert_eq!(String::from_utf8_lossy(resp.body()), format!("{}:{}", data.len(), checksum(&data)));

    let policy = UrlPolicy::default().allow_loopback(true);
    let mut sink = Vec::new();
    let resp =
        reqwest.download_to(presigned_get(&server.url("/download/part1"), &policy).unwrap(), &mut sink).await.unwrap();
    assert_eq!(resp.body(), &DownloadBody::Written(data.len() as u64));
    assert_eq!(checksum(&sink), checksum(&data));
    let resp = reqwest
        .download_to(presigned_get(&server.url("/download/missing"), &policy).unwrap(), &mut sink)
        .await
        .unwrap();
    assert_eq!(resp.body(), &DownloadBody::Error(b"not here".to_vec()));
}

/// The async helpers can be spawned on a multi-threaded runtime.
#[test]
fn async_futures_are_send() {
    fn assert_send<T: Send>(_: &T) {}
    let reqwest = ReqwestTransport::new(&config()).unwrap();
    let ctx = RequestContext::new("http://127.0.0.1:9").unwrap().with_token("t");
    let pipeline = ksef_transport::Pipeline::new();
    let f = pipeline.execute_async::<GetRateLimits, _, _, _>(&reqwest, &ctx, &(), (), ksef_transport::tokio_sleep);
    assert_send(&f);
    let g = ksef_transport::send_async::<GetRateLimits, _>(&reqwest, &ctx, &(), ());
    assert_send(&g);
    let req = presigned_get("https://a.ksef.mf.gov.pl/x", &UrlPolicy::default()).unwrap();
    let h = pipeline.execute_presigned_async(&reqwest, req, ksef_transport::tokio_sleep);
    assert_send(&h);
}
