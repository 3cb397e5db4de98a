//! Secrets stay secret: a full blocking flow (XAdES login with a known private key, KSeF token
//! generation and token login, online send, refresh) runs under a `trace`-level subscriber that
//! records every event and span field; no access token, refresh token, KSeF token or private
//! key (PEM body, DER as Base64 or hex) may appear in those records or in the Debug output of
//! the client's types.

use std::fmt::Write as _;
use std::sync::{Arc, Mutex};

use ksef_client::{Authenticator, FormCode};
use ksef_crypto::ContextIdentifier;
use ksef_crypto::encoding::b64_encode;
use ksef_model::operations::{GenerateToken, TestdataCreateSubject};
use ksef_model::types::{GenerateTokenRequest, TokenPermissionType};
use tracing::field::{Field, Visit};
use tracing::span::{Attributes, Id, Record};
use tracing::{Event, Metadata, Subscriber};

use crate::common::*;

/// Records every field of every span and event, at every level, as text.
#[derive(Clone, Default)]
struct Capture(Arc<Mutex<String>>);

struct Fields<'a>(&'a mut String);

impl Visit for Fields<'_> {
    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        let _ = write!(self.0, " {}={value:?}", field.name());
    }
    fn record_str(&mut self, field: &Field, value: &str) {
        let _ = write!(self.0, " {}={value}", field.name());
    }
}

impl Subscriber for Capture {
    fn enabled(&self, _: &Metadata<'_>) -> bool {
        true
    }
    fn max_level_hint(&self) -> Option<tracing::level_filters::LevelFilter> {
        Some(tracing::level_filters::LevelFilter::TRACE)
    }
    fn new_span(&self, span: &Attributes<'_>) -> Id {
        let mut s = self.0.lock().unwrap();
        let _ = write!(s, "\nspan {}", span.metadata().name());
        span.record(&mut Fields(&mut s));
        Id::from_u64(1)
    }
    fn record(&self, _: &Id, values: &Record<'_>) {
        values.record(&mut Fields(&mut self.0.lock().unwrap()));
    }
    fn record_follows_from(&self, _: &Id, _: &Id) {}
    fn event(&self, event: &Event<'_>) {
        let mut s = self.0.lock().unwrap();
        let _ = write!(s, "\n{} {}", event.metadata().level(), event.metadata().target());
        event.record(&mut Fields(&mut s));
    }
    fn enter(&self, _: &Id) {}
    fn exit(&self, _: &Id) {}
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Runs [`secrets_probe`] alone in a child process of this test binary. tracing caches each
/// callsite's interest process-wide, and other tests of this binary register callsites on their
/// own threads at the same time; in a shared process that race once left the thread-scoped
/// capture below without the records it should have seen (a flaky "too few records").
#[test]
fn no_secret_in_trace_logs_or_debug_output() {
    let out = std::process::Command::new(std::env::current_exe().expect("test binary"))
        .args(["secrets::secrets_probe", "--exact", "--ignored", "--test-threads=1", "--nocapture"])
        .output()
        .expect("run the probe");
    let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success(), "the probe failed:\n{text}");
    assert!(text.contains("1 passed"), "the probe did not run:\n{text}");
}

#[test]
#[ignore = "run in its own process by no_secret_in_trace_logs_or_debug_output"]
fn secrets_probe() {
    let capture = Capture::default();
    let emu = emulator();
    let nip = fresh_nip();
    let identity = seal(&nip);
    let key_der = identity.key.to_pkcs8_der().unwrap().to_vec();
    let key_pem = identity.key.to_pkcs8_pem().unwrap().to_string();

    let (logs, secrets, debug) = tracing::subscriber::with_default(capture.clone(), || {
        tracing::trace!(target: "secrets_probe", probe = "capture works");
        let client = blocking_client(&emu);
        client.call_blocking::<TestdataCreateSubject>(&(), subject_request(&nip)).unwrap();
        let auth = Authenticator::xades(ContextIdentifier::Nip(nip.clone()), identity);
        let auth_debug = format!("{auth:?}");
        client.login_blocking(auth).unwrap();
        let now = chrono::Utc::now();
        let access = client.tokens().fresh_access(now).unwrap().expose_secret().to_owned();
        let refresh = client.tokens().usable_refresh(now).unwrap().expose_secret().to_owned();
        let req = GenerateTokenRequest {
            description: "Token testowy sekrety".try_into().unwrap(),
            permissions: vec![TokenPermissionType::InvoiceWrite, TokenPermissionType::InvoiceRead],
        };
        let generated = client.call_blocking::<GenerateToken>(&(), req).unwrap().value;
        let ksef_token = generated.token.to_string();

        let other = blocking_client(&emu);
        let token_auth = Authenticator::ksef_token(ContextIdentifier::Nip(nip.clone()), ksef_token.clone());
        let token_auth_debug = format!("{token_auth:?}");
        other.login_blocking(token_auth).unwrap();
        let other_access = other.tokens().fresh_access(chrono::Utc::now()).unwrap().expose_secret().to_owned();
        let (session, results) =
            other.send_invoices_blocking(FormCode::Fa3, &[invoice(&nip, &unique_number("S"))]).unwrap();
        assert!(results[0].is_ok(), "{:?}", results[0]);
        // A forced refresh: the next call refreshes with the refresh token.
        other.tokens().invalidate_access(&other.tokens().fresh_access(chrono::Utc::now()).unwrap());
        other.session_status_blocking(&session.reference_number).unwrap();
        assert_eq!(other.refresh_count(), 1);

        let debug = [
            auth_debug,
            token_auth_debug,
            format!("{client:?}"),
            format!("{other:?}"),
            format!("{:?}", client.tokens()),
            format!("{:?}", client.tokens().fresh_access(chrono::Utc::now())),
            // The generated model type redacts the KSeF token (codegen's SECRETS table).
            format!("{generated:?}"),
        ];
        let secrets = vec![
            ("access token", access),
            ("refresh token", refresh),
            ("second access token", other_access),
            ("KSeF token", ksef_token),
        ];
        (capture.0.lock().unwrap().clone(), secrets, debug)
    });

    assert!(logs.contains("capture works"), "the subscriber recorded nothing");
    assert!(logs.lines().count() > 20, "too few records to mean anything:\n{logs}");
    let pem_body: String = key_pem.lines().filter(|l| !l.starts_with("-----")).collect();
    let mut all: Vec<(&str, String)> = secrets.iter().map(|(n, s)| (*n, s.clone())).collect();
    all.push(("private key (PKCS#8 Base64)", b64_encode(&key_der)));
    all.push(("private key (PEM line)", pem_body.chars().take(64).collect()));
    all.push(("private key (hex)", hex(&key_der)));
    for (name, secret) in &all {
        assert!(secret.len() >= 16, "{name} is too short to search for");
        assert!(!logs.contains(secret.as_str()), "{name} appears in the trace logs");
        for d in &debug {
            assert!(!d.contains(secret.as_str()), "{name} appears in Debug output: {d}");
        }
    }
    // The JWTs are three Base64url parts; their signature part alone must not leak either.
    for (name, s) in &secrets[..3] {
        let sig = s.rsplit('.').next().unwrap();
        assert!(!logs.contains(sig), "{name} signature appears in the trace logs");
    }
    let targets: std::collections::BTreeSet<&str> =
        logs.lines().filter_map(|l| l.split(' ').nth(1)).filter(|t| t.starts_with("ksef")).collect();
    assert!(!targets.is_empty(), "no record from the ksef crates:\n{logs}");
    println!("secrets: targets {targets:?}");
    println!(
        "secrets: {} log records, {} secrets, {} Debug strings checked",
        logs.lines().count(),
        all.len(),
        debug.len()
    );
}
