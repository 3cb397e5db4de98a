use std::sync::Arc;

use ksef_emulator::domain::Identifier;
use ksef_emulator::{Emulator, ManualClock};
use serde_json::json;

use crate::common::*;

#[test]
fn sliding_windows_give_429_with_retry_after() {
    let clock = Arc::new(ManualClock::new(chrono::Utc::now()));
    let emu = Emulator::builder().clock(clock.clone()).start().unwrap();
    let http = Http::new(&emu);
    let nip = fresh_nip(400);
    let (token, _, _) = login(&emu, &http, Identifier::nip(&nip), Identifier::nip(&nip));
    // `other`: 10/s, 30/min, each operation its own counter.
    for _ in 0..10 {
        assert_eq!(http.get("/limits/context", Some(&token)).status, 200);
    }
    let r = http.get("/limits/context", Some(&token));
    assert_eq!(r.status, 429);
    assert_eq!(r.header("retry-after"), Some("1"));
    assert_eq!(r.json()["status"]["code"], 429);
    let r = http.call("GET", "/limits/context", Some(&token), None, &[("X-Error-Format", "problem-details")]);
    assert_eq!(r.header("content-type"), Some("application/problem+json"));
    assert_eq!(r.json()["title"], "Too Many Requests");
    // Another `other` operation has its own budget.
    assert_eq!(http.get("/limits/subject", Some(&token)).status, 200);
    // The second window slides on: 10 more per second up to 30 per minute.
    for _ in 0..2 {
        clock.advance(chrono::Duration::seconds(1));
        for _ in 0..10 {
            assert_eq!(http.get("/limits/context", Some(&token)).status, 200);
        }
    }
    clock.advance(chrono::Duration::seconds(1));
    let r = http.get("/limits/context", Some(&token));
    assert_eq!(r.status, 429);
    let wait: u64 = r.header("retry-after").unwrap().parse().unwrap();
    assert!((55..=60).contains(&wait), "{wait}");
    clock.advance(chrono::Duration::seconds(60));
    assert_eq!(http.get("/limits/context", Some(&token)).status, 200);
}

#[test]
fn rate_limit_profiles_and_context_limits() {
    let emu = emulator();
    let http = Http::new(&emu);
    let nip = fresh_nip(410);
    let (token, _, _) = login(&emu, &http, Identifier::nip(&nip), Identifier::nip(&nip));
    let profile = http.get("/rate-limits", Some(&token)).json();
    assert_eq!(profile.as_object().unwrap().len(), 17);
    assert_eq!(profile["invoiceSend"], json!({"perSecond": 10, "perMinute": 30, "perHour": 180}));
    assert_eq!(profile["anonymous"]["perMinute"], -1);

    let mut custom = profile.clone();
    custom["other"] = json!({"perSecond": 1, "perMinute": 100, "perHour": 1000});
    let r = http.post("/testdata/rate-limits", Some(&token), Some(&json!({"rateLimits": custom})));
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(http.get("/limits/subject", Some(&token)).status, 200);
    assert_eq!(http.get("/limits/subject", Some(&token)).status, 429);
    let r = http.post("/testdata/rate-limits/production", Some(&token), None);
    assert_eq!(r.status, 200);
    assert_eq!(http.get("/rate-limits", Some(&token)).json(), profile);
    // A group `ApiRateLimitsOverride` requires is missing: 21405.
    let mut incomplete = custom.clone();
    incomplete.as_object_mut().unwrap().remove("invoiceSend");
    let r = http.post("/testdata/rate-limits", Some(&token), Some(&json!({"rateLimits": incomplete})));
    assert_eq!(r.exception_codes(), [21405]);
    // Exactly the spec's 13 groups (no close, anonymous or global): accepted, the others keep
    // their defaults.
    let mut spec_only = custom.clone();
    for extra in ["onlineSessionClose", "batchSessionClose", "anonymous", "global"] {
        spec_only.as_object_mut().unwrap().remove(extra);
    }
    assert_eq!(spec_only.as_object().unwrap().len(), 13);
    spec_only["other"] = json!({"perSecond": 100, "perMinute": 101, "perHour": 1000});
    let r = http.post("/testdata/rate-limits", Some(&token), Some(&json!({"rateLimits": spec_only})));
    assert_eq!(r.status, 200, "{}", r.text());
    let now = http.get("/rate-limits", Some(&token)).json();
    assert_eq!(now["global"], profile["global"]);
    assert_eq!(now["other"]["perMinute"], 101);
    assert_eq!(http.call("DELETE", "/testdata/rate-limits", Some(&token), None, &[]).status, 200);

    let limits = http.get("/limits/context", Some(&token)).json();
    assert_eq!(
        limits["onlineSession"],
        json!({"maxInvoiceSizeInMB": 1, "maxInvoiceWithAttachmentSizeInMB": 3, "maxInvoices": 10000})
    );
    let set = json!({"onlineSession": {"maxInvoiceSizeInMB": 2, "maxInvoiceWithAttachmentSizeInMB": 4, "maxInvoices": 1},
                     "batchSession": {"maxInvoiceSizeInMB": 1, "maxInvoiceWithAttachmentSizeInMB": 3, "maxInvoices": 5},
                     "collectiveIdentifier": {"maxInvoices": 10}});
    assert_eq!(http.post("/testdata/limits/context/session", Some(&token), Some(&set)).status, 200);
    let limits = http.get("/limits/context", Some(&token)).json();
    assert_eq!(limits["onlineSession"]["maxInvoices"], 1);
    assert_eq!(limits["collectiveIdentifier"]["maxInvoices"], 10);
    assert_eq!(http.call("DELETE", "/testdata/limits/context/session", Some(&token), None, &[]).status, 200);
    assert_eq!(http.get("/limits/context", Some(&token)).json()["onlineSession"]["maxInvoices"], 10000);

    assert_eq!(http.get("/limits/subject", Some(&token)).json()["certificate"]["maxCertificates"], 100);
    let r = http.post(
        "/testdata/limits/subject/certificate",
        Some(&token),
        Some(&json!({"certificate": {"maxCertificates": 3}})),
    );
    assert_eq!(r.status, 200);
    let v = http.get("/limits/subject", Some(&token)).json();
    assert_eq!(v["certificate"]["maxCertificates"], 3);
    assert_eq!(v["enrollment"]["maxEnrollments"], 300);
    let r = http.call("DELETE", "/testdata/limits/subject/certificate", Some(&token), None, &[]);
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(http.get("/limits/subject", Some(&token)).json()["certificate"]["maxCertificates"], 100);
}
