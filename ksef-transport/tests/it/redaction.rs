//! Bearer tokens never reach logs or Debug output.

use std::io::Write;
use std::sync::{Arc, Mutex};

use ksef_model::operations::{GetRateLimits, ListAuthSessions, ListAuthSessionsParams};
use ksef_transport::{Pipeline, RequestContext, SecretToken, build_request};

const TOKEN: &str = "eyJhbGciOiJSUzI1NiJ9.SECRET-PAYLOAD.sig";

#[derive(Clone, Default)]
struct Buf(Arc<Mutex<Vec<u8>>>);

impl Write for Buf {
    fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(b);
        Ok(b.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[test]
fn no_token_in_trace_logs_or_debug() {
    // A global subscriber (scoped ones race with the callsite-interest cache of tests running
    // in parallel); other tests' logs land in the buffer too, which only makes the check wider.
    static BUF: std::sync::OnceLock<Buf> = std::sync::OnceLock::new();
    let buf = BUF
        .get_or_init(|| {
            let buf = Buf::default();
            let writer = buf.clone();
            let subscriber = tracing_subscriber::fmt()
                .with_max_level(tracing::Level::TRACE)
                .with_ansi(false)
                .with_writer(move || writer.clone())
                .finish();
            tracing::subscriber::set_global_default(subscriber).unwrap();
            buf
        })
        .clone();
    let ctx = RequestContext::new("https://ksef.example").unwrap().with_token(TOKEN);
    let seen = Mutex::new(Vec::new());
    let transport = |req: http::Request<Vec<u8>>| -> Result<http::Response<Vec<u8>>, std::io::Error> {
        // The transport does see the token (it must send it) ...
        seen.lock().unwrap().push(req.headers()["authorization"].to_str().unwrap().to_owned());
        // ... and logging the request shows it as sensitive.
        tracing::trace!(?req, "transport got");
        Ok(http::Response::builder()
            .status(401)
            .header("x-system-warning", "[W1]: uwaga")
            .body(br#"{"title":"Unauthorized","status":401,"detail":"d","timestamp":"2025-01-01T00:00:00Z"}"#.to_vec())
            .unwrap())
    };
    let mut debug_out = String::new();
    {
        let e = Pipeline::new()
            .execute_blocking::<ListAuthSessions, _>(&transport, &ctx, &ListAuthSessionsParams::default(), (), |_| {})
            .unwrap_err();
        debug_out.push_str(&format!("{e:?} {e} {ctx:?} {:?}", ctx.token()));
        let req = build_request::<GetRateLimits>(&ctx, &(), ()).unwrap();
        debug_out.push_str(&format!("{req:?}"));
        tracing::info!(?ctx, "context");
    }
    assert_eq!(seen.lock().unwrap()[0], format!("Bearer {TOKEN}"));
    let logs = String::from_utf8(buf.0.lock().unwrap().clone()).unwrap();
    assert!(logs.contains("ksef.request"), "{logs}");
    assert!(logs.contains("list_auth_sessions"), "{logs}");
    assert!(logs.contains("Sensitive"), "{logs}");
    for out in [&logs, &debug_out] {
        assert!(!out.contains("SECRET-PAYLOAD"), "token leaked: {out}");
    }
    assert!(debug_out.contains("SecretToken(***)"), "{debug_out}");
    assert_eq!(format!("{:?}", SecretToken::new("abc")), "SecretToken(***)");
}
