//! The `test-util` replay transport.

use http::Method;
use std::future::Future;

use ksef_model::operations::{GetRateLimits, RevokeToken, RevokeTokenParams};
use ksef_transport::test_util::{ReplayError, StaticReplay};
use ksef_transport::{Error, RequestContext, send_async, send_blocking};

#[test]
fn replays_in_order_and_records() {
    let replay = StaticReplay::new()
        .expect_json(Method::GET, "/v2/rate-limits", 200, crate::parse::rate_limits_body())
        .expect(Method::DELETE, "/v2/tokens/r-1", http::Response::builder().status(204).body(Vec::new()).unwrap());
    let ctx = RequestContext::new("https://ksef.example").unwrap().with_token("t");
    let limits = send_blocking::<GetRateLimits, _>(&replay, &ctx, &(), ()).unwrap();
    assert_eq!(limits.value.other.per_hour, 120);
    let p = RevokeTokenParams { reference_number: "r-1".into() };
    let fut = send_async::<RevokeToken, _>(&replay, &ctx, &p, ());
    let done = std::pin::pin!(fut);
    // The replay future is ready at once: poll it without a runtime.
    let waker = std::task::Waker::noop();
    let std::task::Poll::Ready(r) = done.poll(&mut std::task::Context::from_waker(waker)) else { panic!("pending") };
    r.unwrap();
    assert!(replay.is_done());
    let reqs = replay.take_requests();
    assert_eq!(reqs.len(), 2);
    assert_eq!(reqs[1].method(), Method::DELETE);
    // Past the end: a transport error, not a panic.
    let e = send_blocking::<GetRateLimits, _>(&replay, &ctx, &(), ()).unwrap_err();
    let Error::Transport(t) = &e else { panic!("{e:?}") };
    let src = std::error::Error::source(t).unwrap().downcast_ref::<ReplayError>().unwrap();
    assert!(matches!(src, ReplayError::Exhausted(_)));
}

#[test]
fn mismatch_is_reported() {
    let replay = StaticReplay::new().expect_json(Method::GET, "/v2/limits/context", 200, "{}");
    let ctx = RequestContext::new("https://ksef.example").unwrap().with_token("t");
    let e = send_blocking::<GetRateLimits, _>(&replay, &ctx, &(), ()).unwrap_err();
    assert!(e.to_string().contains("transport"), "{e}");
    assert_eq!(replay.remaining(), 1);
}
