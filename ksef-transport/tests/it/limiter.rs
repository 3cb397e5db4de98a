//! Client-side limiter with an injected clock.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use ksef_model::operations::{GetRateLimits, LIST_AUTH_SESSIONS, ListAuthSessions, ListAuthSessionsParams};
use ksef_model::{OperationSpec, RateLimits};
use ksef_transport::{
    Clock, ManualClock, NoJitter, Pipeline, RateLimiter, RequestContext, SlidingWindowLimiter, limiter_key,
};
use pretty_assertions::assert_eq;

const LIMITS: RateLimits = RateLimits { per_second: 10, per_minute: Some(30), per_hour: Some(120) };

fn spec() -> OperationSpec {
    OperationSpec { rate_limits: LIMITS, ..LIST_AUTH_SESSIONS }
}

/// What a server enforcing the same sliding windows would say: index of the first request it
/// would have answered 429, if any.
fn server_would_reject(times: &[Duration], l: RateLimits) -> Option<usize> {
    let windows = [
        (Duration::from_secs(1), Some(l.per_second)),
        (Duration::from_secs(60), l.per_minute),
        (Duration::from_secs(3600), l.per_hour),
    ];
    (0..times.len()).find(|&i| {
        windows.iter().any(|&(w, lim)| {
            let Some(lim) = lim else { return false };
            let n = times[..=i].iter().filter(|t| **t + w > times[i]).count();
            n > lim as usize
        })
    })
}

fn expected_schedule(n: usize) -> Vec<Duration> {
    (0..n).map(|i| Duration::from_secs((60 * (i / 30) + (i % 30) / 10) as u64)).collect()
}

#[test]
fn hundred_calls_are_released_at_the_allowed_instants() {
    let limiter = SlidingWindowLimiter::new();
    let s = spec();
    let t0 = Instant::now();
    let got: Vec<Duration> = (0..100).map(|_| limiter.reserve(&s, t0) - t0).collect();
    assert_eq!(got, expected_schedule(100));
    assert_eq!(got[99], Duration::from_secs(180));
    assert_eq!(server_would_reject(&got, LIMITS), None);
    // Sanity check of the checker: one request earlier than allowed is caught.
    let mut early = got.clone();
    early[30] = Duration::from_millis(59_999);
    assert_eq!(server_would_reject(&early, LIMITS), Some(30));
}

#[test]
fn hour_window_kicks_in_after_120() {
    let limiter = SlidingWindowLimiter::new();
    let s = spec();
    let t0 = Instant::now();
    let got: Vec<Duration> = (0..130).map(|_| limiter.reserve(&s, t0) - t0).collect();
    assert_eq!(got[..120], expected_schedule(120)[..]);
    assert!(got[120..].iter().all(|t| *t == Duration::from_secs(3600)), "{:?}", &got[120..]);
    assert_eq!(server_would_reject(&got, LIMITS), None);
}

#[test]
fn pipeline_waits_instead_of_tripping_429() {
    let clock = Arc::new(ManualClock::new(SystemTime::UNIX_EPOCH));
    let sent: Arc<Mutex<Vec<Duration>>> = Arc::default();
    let server = {
        let (clock, sent) = (clock.clone(), sent.clone());
        move |_req: http::Request<Vec<u8>>| -> Result<http::Response<Vec<u8>>, std::io::Error> {
            let mut s = sent.lock().unwrap();
            s.push(clock.elapsed());
            let status = if server_would_reject(&s, LIMITS).is_some() { 429 } else { 200 };
            Ok(http::Response::builder().status(status).body(br#"{"items":[]}"#.to_vec()).unwrap())
        }
    };
    let pipeline = Pipeline::new().with_clock(clock.clone()).with_jitter(Arc::new(NoJitter));
    let ctx = RequestContext::new("https://ksef.example").unwrap().with_token("t");
    let sleep = |d: Duration| clock.advance(d);
    for _ in 0..100 {
        pipeline
            .execute_blocking::<ListAuthSessions, _>(&server, &ctx, &ListAuthSessionsParams::default(), (), sleep)
            .unwrap();
    }
    let sent = sent.lock().unwrap();
    assert_eq!(*sent, expected_schedule(100));
}

#[test]
fn other_group_counts_per_operation_and_groups_share() {
    let l = SlidingWindowLimiter::new();
    let t0 = Instant::now();
    let a = LIST_AUTH_SESSIONS;
    let b = <GetRateLimits as ksef_model::Operation>::SPEC;
    assert_ne!(limiter_key(&a), limiter_key(b));
    for _ in 0..10 {
        assert_eq!(l.reserve(&a, t0), t0);
    }
    // Another "other" operation has its own budget.
    assert_eq!(l.reserve(b, t0), t0);
    assert_eq!(l.reserve(&a, t0), t0 + Duration::from_secs(1));
    // Two operations of one named group share a counter.
    let open = ksef_model::OperationSpec::by_name("open_batch_session").unwrap();
    assert_eq!(limiter_key(open), (open.rate_limit_group, ""));
}

#[test]
fn limits_replaced_from_get_rate_limits() {
    let l = SlidingWindowLimiter::new();
    let body = crate::parse::rate_limits_body().replace(
        r#""other":{"perSecond":10,"perMinute":30,"perHour":120}"#,
        r#""other":{"perSecond":2,"perMinute":3,"perHour":4}"#,
    );
    let eff: ksef_model::types::EffectiveApiRateLimits = serde_json::from_str(&body).unwrap();
    // Through the trait object, as a Pipeline holds it.
    let dynamic: &dyn RateLimiter = &l;
    dynamic.set_effective_limits(&eff);
    let s = LIST_AUTH_SESSIONS;
    assert_eq!(l.limits_for(&s), RateLimits { per_second: 2, per_minute: Some(3), per_hour: Some(4) });
    let t0 = Instant::now();
    let got: Vec<Duration> = (0..5).map(|_| l.reserve(&s, t0) - t0).collect();
    let secs = Duration::from_secs;
    assert_eq!(got, vec![secs(0), secs(0), secs(1), secs(60), secs(3600)]);
}

#[test]
fn manual_clock_moves_both_clocks() {
    let c = ManualClock::new(SystemTime::UNIX_EPOCH);
    let (i, s) = (c.now(), c.system_now());
    c.advance(Duration::from_secs(5));
    assert_eq!(c.now() - i, Duration::from_secs(5));
    assert_eq!(c.system_now().duration_since(s).unwrap(), Duration::from_secs(5));
}

#[test]
fn per_second_only_group_keeps_little_state_and_is_exact() {
    let l = SlidingWindowLimiter::new();
    let s = OperationSpec { rate_limits: RateLimits { per_second: 60, per_minute: None, per_hour: None }, ..spec() };
    let t0 = Instant::now();
    let got: Vec<Duration> = (0..600).map(|_| l.reserve(&s, t0) - t0).collect();
    assert!(got.iter().enumerate().all(|(i, t)| *t == Duration::from_secs((i / 60) as u64)));
    assert_eq!(server_would_reject(&got, s.rate_limits), None);
    // Later requests are not delayed by old ones.
    assert_eq!(l.reserve(&s, t0 + Duration::from_secs(100)), t0 + Duration::from_secs(100));
}
