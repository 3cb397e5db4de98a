//! Recovery from KSeF's transient refusals, end to end against the emulator with both
//! transports: an emergency key rotation answered with 21470 (the client refetches the
//! public-key certificates and repeats once), and a 429 with `Retry-After` (the client waits
//! what KSeF asked and repeats).

use std::time::{Duration, Instant};

use ksef_client::FormCode;
use ksef_emulator::faults::{HttpFaultRule, HttpFaults};
use ksef_emulator::keys::KeyUsage;
use ksef_model::operations::GetRateLimits;

use crate::common::*;

/// The emulator refuses the old key at once: without the client's refetch-and-repeat the second
/// session would fail with 21470.
#[test]
fn emergency_key_rotation_21470_is_recovered_blocking() {
    let emu = emulator();
    let (client, nip) = logged_in_blocking(&emu);
    let (s1, r1) = client.send_invoices_blocking(FormCode::Fa3, &[invoice(&nip, &unique_number("K1"))]).unwrap();
    assert!(r1[0].is_ok(), "{:?}", r1[0]);
    let old = emu.keys();
    let new_id = emu.rotate_key(KeyUsage::SymmetricKeyEncryption, chrono::Duration::zero()).unwrap();
    assert!(!format!("{old:?}").contains(&new_id), "a new key was published");
    let (s2, r2) = client.send_invoices_blocking(FormCode::Fa3, &[invoice(&nip, &unique_number("K2"))]).unwrap();
    assert!(r2[0].is_ok(), "{:?}", r2[0]);
    assert_ne!(s1.reference_number, s2.reference_number);
}

#[test]
fn emergency_key_rotation_21470_is_recovered_async() {
    let emu = emulator();
    run(async {
        let (client, nip) = logged_in_async(&emu).await;
        let (_, r1) = client.send_invoices(FormCode::Fa3, &[invoice(&nip, &unique_number("K1"))], 1).await.unwrap();
        assert!(r1[0].is_ok(), "{:?}", r1[0]);
        emu.rotate_key(KeyUsage::SymmetricKeyEncryption, chrono::Duration::zero()).unwrap();
        let (_, r2) = client.send_invoices(FormCode::Fa3, &[invoice(&nip, &unique_number("K2"))], 1).await.unwrap();
        assert!(r2[0].is_ok(), "{:?}", r2[0]);
    });
}

/// Every `GET /rate-limits` answers 429 with `Retry-After: 1` until the fault is lifted 300 ms
/// later; the client must wait the second KSeF asked for, then succeed.
/// Returns the call's result, how long it took and how many 429s the emulator answered.
fn with_429_for_300ms<R: Send>(emu: &ksef_emulator::Emulator, call: impl FnOnce() -> R + Send) -> (R, Duration, u64) {
    let rule = HttpFaultRule { too_many_requests_rate: 1.0, retry_after_seconds: Some(1), ..HttpFaultRule::default() };
    emu.set_http_faults(HttpFaults::default().rule("get_rate_limits", rule)).unwrap();
    std::thread::scope(|s| {
        let lift = s.spawn(|| {
            std::thread::sleep(Duration::from_millis(300));
            // Read the count before the new configuration resets it.
            let answered = emu.fault_stats()["too_many_requests"];
            emu.set_http_faults(HttpFaults::default()).unwrap();
            answered
        });
        let started = Instant::now();
        let r = call();
        let took = started.elapsed();
        (r, took, lift.join().unwrap())
    })
}

#[test]
fn too_many_requests_waits_retry_after_then_succeeds_blocking() {
    let emu = emulator();
    let (client, _) = logged_in_blocking(&emu);
    let (r, took, throttled) = with_429_for_300ms(&emu, || client.call_blocking::<GetRateLimits>(&(), ()));
    assert!(r.is_ok(), "{r:?}");
    assert!(throttled >= 1, "a 429 was answered");
    assert!(took >= Duration::from_millis(950), "waited Retry-After (1 s), took {took:?}");
}

#[test]
fn too_many_requests_waits_retry_after_then_succeeds_async() {
    let emu = emulator();
    let client =
        tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(logged_in_async(&emu)).0;
    let (r, took, throttled) = with_429_for_300ms(&emu, || {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap()
            .block_on(client.call::<GetRateLimits>(&(), ()))
    });
    assert!(r.is_ok(), "{r:?}");
    assert!(throttled >= 1, "a 429 was answered");
    assert!(took >= Duration::from_millis(950), "waited Retry-After (1 s), took {took:?}");
}
