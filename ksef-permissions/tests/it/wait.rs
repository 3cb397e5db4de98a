use std::cell::RefCell;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use ksef_model::ReferenceNumber;
use ksef_permissions::wait::*;
use ksef_permissions::*;
use ksef_transport::{HttpRequest, HttpResponse, ManualClock, Pipeline, RequestContext, RetryPolicy};
use pretty_assertions::assert_eq;

use crate::*;

const REF: &str = "20250625-EG-2F2B6A8000-0A1B2C3D4E-5F";

fn ctx() -> RequestContext {
    RequestContext::new("https://ksef.example").unwrap().with_token("t")
}

fn pipeline() -> Pipeline {
    Pipeline::new().without_limiter().with_retry_policy(RetryPolicy::never())
}

fn json(status: u16, body: serde_json::Value) -> HttpResponse {
    http::Response::builder().status(status).body(serde_json::to_vec(&body).unwrap()).unwrap()
}

fn status(code: i32, description: &str) -> HttpResponse {
    json(200, serde_json::json!({"status": {"code": code, "description": description}}))
}

fn grant_call() -> Call<ksef_model::operations::GrantEntityPermissions> {
    EntityGrant::new(nip(OFFICE), "Biuro Rachunkowe")
        .permission(EntityPermissionType::InvoiceWrite, true)
        .description("Obsługa księgowa")
        .build_call()
        .unwrap()
}

type Log = Arc<Mutex<Vec<String>>>;

/// A fake KSeF: answers the grant with 202 and the status polls with `statuses` in order.
fn fake(statuses: Vec<HttpResponse>) -> (impl Fn(HttpRequest) -> Result<HttpResponse, std::io::Error>, Log) {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let queue = Mutex::new(statuses.into_iter());
    let log = seen.clone();
    let t = move |req: HttpRequest| {
        log.lock().unwrap().push(format!("{} {}", req.method(), req.uri().path()));
        if req.method() == "POST" {
            return Ok(json(202, serde_json::json!({"referenceNumber": REF})));
        }
        Ok(queue.lock().unwrap().next().unwrap_or_else(|| status(100, "Operacja przyjęta do realizacji")))
    };
    (t, seen)
}

#[test]
fn policy_backs_off_and_caps() {
    let p = PollPolicy::default();
    let delays: Vec<_> = (0..6).map(|i| p.delay(i).as_millis()).collect();
    assert_eq!(delays, vec![500, 1000, 2000, 4000, 5000, 5000]);
}

#[test]
fn classify_codes() {
    let s = |code: i32| -> ksef_model::types::PermissionsOperationStatusResponse {
        serde_json::from_value(serde_json::json!({"status": {"code": code, "description": "x", "details": ["d"]}}))
            .unwrap()
    };
    assert_eq!(classify(&s(100)), OperationState::Pending { code: 100 });
    assert_eq!(classify(&s(200)), OperationState::Succeeded);
    for (code, kind) in [
        (400, FailureKind::Failed),
        (410, FailureKind::InconsistentIdentifiers),
        (420, FailureKind::NotPermitted),
        (430, FailureKind::ContextRoleMismatch),
        (440, FailureKind::RelationNotAllowed),
        (450, FailureKind::IdentifierNotAllowed),
        (500, FailureKind::UnknownError),
        (550, FailureKind::Cancelled),
        (460, FailureKind::Other(460)),
    ] {
        let OperationState::Failed(f) = classify(&s(code)) else { panic!("{code} is a failure") };
        assert_eq!((f.code, f.kind, f.details), (code, kind, vec!["d".to_owned()]));
    }
}

#[test]
fn submit_and_wait_succeeds_after_pending() {
    let (t, seen) =
        fake(vec![status(100, "Operacja przyjęta do realizacji"), status(200, "Operacja zakończona sukcesem")]);
    let clock = Arc::new(ManualClock::new(SystemTime::UNIX_EPOCH));
    let slept = RefCell::new(Vec::new());
    let c = clock.clone();
    let sleep = |d: Duration| {
        slept.borrow_mut().push(d);
        c.advance(d);
    };
    let done =
        submit_and_wait_blocking(&pipeline(), &t, &ctx(), grant_call(), PollPolicy::default(), &*clock, sleep).unwrap();
    assert_eq!(done.reference, REF.parse::<ReferenceNumber>().unwrap());
    assert_eq!(done.checks, 2);
    assert_eq!(*slept.borrow(), vec![Duration::from_millis(500), Duration::from_millis(1000)]);
    assert_eq!(
        *seen.lock().unwrap(),
        vec![
            "POST /v2/permissions/entities/grants".to_owned(),
            format!("GET /v2/permissions/operations/{REF}"),
            format!("GET /v2/permissions/operations/{REF}"),
        ]
    );
}

#[test]
fn failure_status_is_returned_with_its_meaning() {
    let (t, _) = fake(vec![json(
        200,
        serde_json::json!({"status": {"code": 430, "description": "Kontekst identyfikatora nie odpowiada wymaganej roli lub uprawnieniom"}}),
    )]);
    let clock = ManualClock::new(SystemTime::UNIX_EPOCH);
    let err = submit_and_wait_blocking(&pipeline(), &t, &ctx(), grant_call(), PollPolicy::default(), &clock, |d| {
        clock.advance(d);
    })
    .unwrap_err();
    let f = err.failure().expect("an operation failure");
    assert_eq!((f.code, f.kind), (430, FailureKind::ContextRoleMismatch));
    let msg = err.to_string();
    assert!(msg.contains(REF) && msg.contains("status 430") && msg.contains("does not have the role"), "{msg}");
}

#[test]
fn times_out_while_pending() {
    let (t, seen) = fake(vec![]);
    let clock = ManualClock::new(SystemTime::UNIX_EPOCH);
    let policy = PollPolicy { timeout: Duration::from_secs(10), ..PollPolicy::default() };
    let reference: ReferenceNumber = REF.parse().unwrap();
    let err = wait_blocking(&pipeline(), &t, &ctx(), &reference, policy, &clock, |d| clock.advance(d)).unwrap_err();
    match err {
        WaitError::TimedOut { last_code, waited, .. } => {
            assert_eq!(last_code, Some(100));
            assert!(waited <= Duration::from_secs(10), "{waited:?}");
        }
        other => panic!("expected a timeout, got {other}"),
    }
    // 0.5 + 1 + 2 + 4 = 7.5 s, then 5 s more would pass 10 s: four checks.
    assert_eq!(seen.lock().unwrap().len(), 4);
}

#[test]
fn http_errors_are_reported_by_stage() {
    let t = |_req: HttpRequest| -> Result<HttpResponse, std::io::Error> {
        Ok(json(403, serde_json::json!({"title": "Forbidden", "status": 403, "reasonCode": "missing-permissions"})))
    };
    let clock = ManualClock::new(SystemTime::UNIX_EPOCH);
    let err = submit_and_wait_blocking(&pipeline(), &t, &ctx(), grant_call(), PollPolicy::default(), &clock, |_| {})
        .unwrap_err();
    assert!(matches!(err, WaitError::Request { stage: Stage::Submit, reference: None, .. }), "{err:?}");
    assert_eq!(err.to_string(), "submitting the permission operation failed");
}

#[tokio::test(flavor = "current_thread")]
async fn async_submit_and_wait() {
    let calls = Arc::new(Mutex::new(0u32));
    let c2 = calls.clone();
    let t = move |req: HttpRequest| {
        let calls = c2.clone();
        async move {
            let n = {
                let mut g = calls.lock().unwrap();
                *g += 1;
                *g
            };
            Ok::<_, std::io::Error>(match (req.method().as_str(), n) {
                ("POST", _) => json(202, serde_json::json!({"referenceNumber": REF})),
                (_, 2) => status(100, "Operacja przyjęta do realizacji"),
                _ => status(200, "Operacja zakończona sukcesem"),
            })
        }
    };
    let clock = Arc::new(ManualClock::new(SystemTime::UNIX_EPOCH));
    let c = clock.clone();
    let sleep = move |d: Duration| {
        c.advance(d);
        std::future::ready(())
    };
    let done = submit_and_wait_async(&pipeline(), &t, &ctx(), grant_call(), PollPolicy::default(), &*clock, sleep)
        .await
        .unwrap();
    assert_eq!(done.checks, 2);
    assert_eq!(*calls.lock().unwrap(), 3);
    assert_eq!(clock.elapsed(), Duration::from_millis(1500));
}

#[test]
fn poller_is_a_pure_state_machine() {
    let s = |code: i32| -> ksef_model::types::PermissionsOperationStatusResponse {
        serde_json::from_value(serde_json::json!({"status": {"code": code, "description": "x"}})).unwrap()
    };
    let t0 = std::time::Instant::now();
    let policy = PollPolicy { timeout: Duration::from_secs(3), ..PollPolicy::default() };
    let mut p = Poller::new(REF.parse().unwrap(), policy, t0);
    assert_eq!(p.start(), PollStep::Wait(Duration::from_millis(500)));
    assert_eq!(p.on_status(&s(100), t0 + Duration::from_millis(500)), PollStep::Wait(Duration::from_secs(1)));
    // 1.5 s waited + 2 s next delay > 3 s timeout.
    assert_eq!(
        p.on_status(&s(100), t0 + Duration::from_millis(1500)),
        PollStep::TimedOut { last_code: Some(100), waited: Duration::from_millis(1500) }
    );
    let mut p = Poller::new(REF.parse().unwrap(), PollPolicy::default(), t0);
    p.start();
    let PollStep::Failed(f) = p.on_status(&s(550), t0) else { panic!("550 is a failure") };
    assert_eq!((f.kind, f.reference.map(|r| r.to_string())), (FailureKind::Cancelled, Some(REF.to_owned())));
    assert_eq!(p.on_status(&s(200), t0), PollStep::Done);
}

#[test]
fn revocation_waits_too() {
    let (t, seen) = fake(vec![status(200, "Operacja zakończona sukcesem")]);
    // The fake answers only POST with 202; make DELETE behave the same.
    let t = move |req: HttpRequest| {
        if req.method() == "DELETE" {
            seen.lock().unwrap().push("DELETE".into());
            return Ok(json(202, serde_json::json!({"referenceNumber": REF})));
        }
        t(req)
    };
    let clock = ManualClock::new(SystemTime::UNIX_EPOCH);
    let call = ksef_permissions::query::revoke_common("0f4c8e4a-1234-4c1d-9f00-123456789abc").unwrap();
    let done =
        submit_and_wait_blocking(&pipeline(), &t, &ctx(), call, PollPolicy::default(), &clock, |d| clock.advance(d))
            .unwrap();
    assert_eq!(done.checks, 1);
}

#[test]
fn malformed_reference_is_reported() {
    let t = |req: HttpRequest| -> Result<HttpResponse, std::io::Error> {
        assert_eq!(req.method(), "POST");
        Ok(json(202, serde_json::json!({"referenceNumber": "20250625-EG-2F2B6A8000-0A1B2C3D4E-5"})))
    };
    let clock = ManualClock::new(SystemTime::UNIX_EPOCH);
    match submit_and_wait_blocking(&pipeline(), &t, &ctx(), grant_call(), PollPolicy::default(), &clock, |_| {}) {
        // The model's own type may already refuse it while decoding; either way nothing is polled.
        Err(WaitError::InvalidReference { .. } | WaitError::Request { stage: Stage::Submit, .. }) => {}
        other => panic!("unexpected {other:?}"),
    }
}
