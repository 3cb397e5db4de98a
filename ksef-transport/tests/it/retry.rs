//! Retry decisions and the retrying pipeline (no real sleeping).

use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use http::StatusCode;
use ksef_model::OperationSpec;
use ksef_model::operations::{GetRateLimits, TestdataCreateSubject};
use ksef_transport::{
    ApiError, Error, ManualClock, NoJitter, Pipeline, RequestContext, RetryDecision, RetryPolicy, TransportError,
};

fn spec(name: &str) -> &'static OperationSpec {
    OperationSpec::by_name(name).unwrap()
}

fn api(status: u16, retry_after: Option<&str>) -> Error {
    let mut h = http::HeaderMap::new();
    if let Some(r) = retry_after {
        h.insert("retry-after", r.parse().unwrap());
    }
    Error::Api(Box::new(ApiError::from_response("x", StatusCode::from_u16(status).unwrap(), &h, Vec::new())))
}

#[derive(Debug, thiserror::Error)]
#[error("fake transport error")]
struct Fake {
    timeout: bool,
    connect: bool,
}

impl TransportError for Fake {
    fn is_timeout(&self) -> bool {
        self.timeout
    }
    fn is_connect(&self) -> bool {
        self.connect
    }
}

const NOW: SystemTime = SystemTime::UNIX_EPOCH;

fn decide(name: &str, e: &Error, attempt: u32) -> RetryDecision {
    RetryPolicy::default().decide(spec(name), e, attempt, NOW, &NoJitter)
}

#[test]
fn too_many_requests_always_honours_retry_after() {
    // Even a non-idempotent POST: 429 means nothing was processed.
    assert_eq!(
        decide("open_online_session", &api(429, Some("30")), 1),
        RetryDecision::RetryAfter(Duration::from_secs(30))
    );
    let date = "Thu, 01 Jan 1970 00:00:45 GMT";
    assert_eq!(decide("get_invoice", &api(429, Some(date)), 1), RetryDecision::RetryAfter(Duration::from_secs(45)));
    // Without Retry-After: the backoff.
    assert_eq!(decide("get_invoice", &api(429, None), 1), RetryDecision::RetryAfter(Duration::from_millis(250)));
    // Longer than max_retry_after: give up.
    assert_eq!(decide("get_invoice", &api(429, Some("3600")), 1), RetryDecision::Stop);
    // Out of attempts.
    assert_eq!(decide("get_invoice", &api(429, Some("1")), 4), RetryDecision::Stop);
}

#[test]
fn server_errors_only_for_idempotent_operations() {
    assert!(matches!(decide("get_invoice", &api(503, None), 1), RetryDecision::RetryAfter(_)));
    assert!(matches!(decide("revoke_token", &api(500, None), 1), RetryDecision::RetryAfter(_)));
    assert!(matches!(decide("query_invoice_metadata", &api(502, None), 1), RetryDecision::RetryAfter(_)));
    assert_eq!(decide("send_invoice", &api(500, None), 1), RetryDecision::Stop);
    assert_eq!(decide("get_invoice", &api(400, None), 1), RetryDecision::Stop);
    assert_eq!(decide("get_invoice", &api(404, None), 1), RetryDecision::Stop);
    // A 503 with Retry-After uses it.
    assert_eq!(decide("get_invoice", &api(503, Some("7")), 1), RetryDecision::RetryAfter(Duration::from_secs(7)));
}

#[test]
fn transport_errors() {
    let connect = Error::from_transport(Fake { timeout: false, connect: true });
    let timeout = Error::from_transport(Fake { timeout: true, connect: false });
    let reset = Error::from_transport(Fake { timeout: false, connect: false });
    assert!(matches!(timeout, Error::Timeout(_)));
    assert!(matches!(reset, Error::Transport(_)));
    // Nothing was sent: safe for any operation.
    assert!(matches!(decide("send_invoice", &connect, 1), RetryDecision::RetryAfter(_)));
    assert_eq!(decide("send_invoice", &timeout, 1), RetryDecision::Stop);
    assert_eq!(decide("send_invoice", &reset, 1), RetryDecision::Stop);
    assert!(matches!(decide("get_invoice", &timeout, 1), RetryDecision::RetryAfter(_)));
    assert!(matches!(decide("get_invoice", &reset, 1), RetryDecision::RetryAfter(_)));
}

#[test]
fn capped_exponential_backoff_with_jitter() {
    let p = RetryPolicy { max_attempts: 100, ..RetryPolicy::default() };
    let got: Vec<_> = (1..=8).map(|a| p.backoff(a, &NoJitter)).collect();
    let ms = Duration::from_millis;
    assert_eq!(got, vec![ms(250), ms(500), ms(1000), ms(2000), ms(4000), ms(8000), ms(15000), ms(15000)]);
    struct Max;
    impl ksef_transport::Jitter for Max {
        fn jitter(&self, max: Duration) -> Duration {
            max
        }
    }
    assert_eq!(p.backoff(1, &Max), ms(500));
    assert_eq!(p.backoff(30, &Max), Duration::from_secs(30));
    let r = ksef_transport::RandomJitter::default();
    use ksef_transport::Jitter as _;
    assert_eq!(r.jitter(Duration::ZERO), Duration::ZERO);
    assert!(r.jitter(Duration::MAX) <= Duration::MAX);
    for a in 1..10 {
        let d = p.backoff(a, &r);
        assert!(d >= p.backoff(a, &NoJitter) && d <= p.backoff(a, &Max));
    }
}

type Log = Arc<Mutex<Vec<u16>>>;

fn scripted(
    statuses: Vec<(u16, Option<&'static str>)>,
    log: Log,
) -> impl Fn(http::Request<Vec<u8>>) -> Result<http::Response<Vec<u8>>, std::io::Error> {
    let script = Mutex::new(statuses.into_iter());
    move |_req| {
        let (status, ra) = script.lock().unwrap().next().expect("no more responses scripted");
        log.lock().unwrap().push(status);
        let mut b = http::Response::builder().status(status);
        if let Some(ra) = ra {
            b = b.header("retry-after", ra);
        }
        let body = if status == 200 { crate::parse::rate_limits_body().as_bytes().to_vec() } else { Vec::new() };
        Ok(b.body(body).unwrap())
    }
}

fn pipeline(clock: &Arc<ManualClock>) -> Pipeline {
    Pipeline::new().without_limiter().with_clock(clock.clone()).with_jitter(Arc::new(NoJitter))
}

#[test]
fn pipeline_retries_idempotent_get_after_503_and_429() {
    let clock = Arc::new(ManualClock::new(SystemTime::UNIX_EPOCH));
    let log = Log::default();
    let t = scripted(vec![(503, None), (429, Some("3")), (200, None)], log.clone());
    let slept = Mutex::new(Vec::new());
    let ctx = RequestContext::new("https://ksef.example").unwrap().with_token("tok");
    let r = pipeline(&clock)
        .execute_blocking::<GetRateLimits, _>(&t, &ctx, &(), (), |d| slept.lock().unwrap().push(d))
        .unwrap();
    assert_eq!(r.value.other.per_second, 10);
    assert_eq!(*log.lock().unwrap(), vec![503, 429, 200]);
    assert_eq!(*slept.lock().unwrap(), vec![Duration::from_millis(250), Duration::from_secs(3)]);
}

#[test]
fn pipeline_does_not_repeat_a_failed_post() {
    let clock = Arc::new(ManualClock::new(SystemTime::UNIX_EPOCH));
    let log = Log::default();
    let t = scripted(vec![(500, None)], log.clone());
    let ctx = RequestContext::new("https://ksef.example").unwrap();
    let body: ksef_model::types::SubjectCreateRequest = serde_json::from_value(
        serde_json::json!({"subjectNip": "5265877635", "subjectType": "VatGroup", "description": "Grupa VAT"}),
    )
    .unwrap();
    let e = pipeline(&clock)
        .execute_blocking::<TestdataCreateSubject, _>(&t, &ctx, &(), body, |_| panic!("must not sleep"))
        .unwrap_err();
    assert_eq!(e.status(), Some(StatusCode::INTERNAL_SERVER_ERROR));
    assert_eq!(*log.lock().unwrap(), vec![500]);
}

#[test]
fn pipeline_gives_up_after_max_attempts() {
    let clock = Arc::new(ManualClock::new(SystemTime::UNIX_EPOCH));
    let log = Log::default();
    let t = scripted(vec![(503, None); 4], log.clone());
    let ctx = RequestContext::new("https://ksef.example").unwrap().with_token("tok");
    let e = pipeline(&clock).execute_blocking::<GetRateLimits, _>(&t, &ctx, &(), (), |_| {}).unwrap_err();
    assert_eq!(e.status(), Some(StatusCode::SERVICE_UNAVAILABLE));
    assert_eq!(log.lock().unwrap().len(), 4);
}

#[tokio::test(flavor = "current_thread")]
async fn async_pipeline_with_injected_sleep() {
    let clock = Arc::new(ManualClock::new(SystemTime::UNIX_EPOCH));
    let log = Log::default();
    let sync = scripted(vec![(429, Some("2")), (200, None)], log.clone());
    let t = move |req| std::future::ready(sync(req));
    let slept = Arc::new(Mutex::new(Vec::new()));
    let sleep = |d| {
        slept.lock().unwrap().push(d);
        std::future::ready(())
    };
    let ctx = RequestContext::new("https://ksef.example").unwrap().with_token("tok");
    let r = pipeline(&clock).execute_async::<GetRateLimits, _, _, _>(&t, &ctx, &(), (), sleep).await.unwrap();
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(*slept.lock().unwrap(), vec![Duration::from_secs(2)]);
}
