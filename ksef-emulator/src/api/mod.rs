//! HTTP layer: routes registered from [`ksef_model::OPERATIONS`], bearer and permission checks,
//! error rendering. One module per area of the API.

pub mod auth;
pub mod batch;
pub mod certificates;
pub mod collective;
pub mod exports;
pub mod invoices;
pub mod limits;
pub mod peppol;
pub mod permissions;
pub mod security;
pub mod sessions;
pub mod testdata;
pub mod tokens;

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use axum::Router;
use axum::body::Bytes;
use axum::extract::{FromRequest, Request, State};
use axum::handler::Handler;
use axum::http::header;
use axum::middleware::{self, Next};
use axum::response::Response;
use axum::routing::{MethodFilter, MethodRouter, on};
use chrono::{DateTime, Utc};
use ksef_model::{Method, OperationSpec, ReferenceNumber};
use rand::rngs::StdRng;
use serde::de::DeserializeOwned;
use serde_json::json;

use crate::config::EmulatorConfig;
use crate::domain::{Identifier, PermissionType};
use crate::error::{ApiError, ErrorRendering, ForbiddenReason, PendingError, render, wants_problem_details};
use crate::jwt::{Claims, JwtSigner, TokenKind};
use crate::keys::KeyRing;
use crate::store::{Store, StoreError};

/// Shared state of a running emulator.
#[derive(Debug)]
pub struct AppState {
    /// Configuration.
    pub config: EmulatorConfig,
    /// State.
    pub store: Arc<dyn Store>,
    /// Server keys.
    pub keys: crate::keys::KeyStore,
    /// Token signer.
    pub jwt: JwtSigner,
    /// Rate-limit counters and profiles.
    pub rate_limiter: crate::limits::RateLimiter,
    /// Context and subject limit overrides.
    pub overrides: crate::limits::LimitOverrides,
    /// HTTP-level fault injection.
    pub http_faults: crate::faults::FaultEngine,
    /// The asynchronous work queue.
    pub jobs: crate::worker::Jobs,
    rng: Mutex<StdRng>,
    faults: Mutex<StdRng>,
    trace: AtomicU64,
    ca: Mutex<Option<Arc<(ksef_crypto::PrivateKey, ksef_crypto::Certificate)>>>,
}

impl AppState {
    /// Assembles the state.
    pub fn new(config: EmulatorConfig, store: Arc<dyn Store>, keys: Arc<KeyRing>, rng: StdRng) -> Self {
        Self::with_secret(config, store, keys, rng, None)
    }

    /// Assembles the state with a given JWT/link-signing secret (kept in a data directory).
    pub fn with_secret(
        config: EmulatorConfig,
        store: Arc<dyn Store>,
        keys: Arc<KeyRing>,
        mut rng: StdRng,
        secret: Option<Vec<u8>>,
    ) -> Self {
        let secret = secret.unwrap_or_else(|| {
            let mut s = vec![0u8; 32];
            rand::Rng::fill_bytes(&mut rng, &mut s);
            s
        });
        let fault_seed = config.faults.seed;
        let http_faults = crate::faults::FaultEngine::new(config.http_faults.clone());
        let jobs = crate::worker::Jobs::new(config.queue_capacity);
        Self {
            jobs,
            config,
            store,
            keys: crate::keys::KeyStore::new((*keys).clone()),
            jwt: JwtSigner::new(secret),
            rate_limiter: Default::default(),
            overrides: Default::default(),
            http_faults,
            faults: Mutex::new(<StdRng as rand::SeedableRng>::seed_from_u64(fault_seed)),
            rng: Mutex::new(rng),
            trace: AtomicU64::new(1),
            ca: Mutex::new(None),
        }
    }

    /// The emulator's current time.
    pub fn now(&self) -> DateTime<Utc> {
        self.config.clock.now()
    }

    /// The session limits of a context (test-data override, else the configuration).
    pub fn session_limits(&self, context: &Identifier, online: bool) -> crate::limits::SessionLimits {
        match self.overrides.context(&context.value) {
            Some(l) if online => l.online,
            Some(l) => l.batch,
            None => crate::limits::SessionLimits {
                max_invoice_size_mb: self.config.max_invoice_size / 1_000_000,
                max_invoice_with_attachment_size_mb: self.config.max_invoice_with_attachment_size / 1_000_000,
                max_invoices: self.config.max_invoices_per_session,
            },
        }
    }

    /// Rotates a server key (see [`crate::keys::KeyStore::rotate`]) and stores the whole ring
    /// (both keys and the old one's end of grace) so a restart keeps the rotation.
    pub fn rotate_key(
        &self,
        usage: crate::keys::KeyUsage,
        grace: chrono::Duration,
    ) -> Result<String, crate::keys::KeyError> {
        let id = {
            let mut g = self.rng.lock().unwrap_or_else(|e| e.into_inner());
            self.keys.rotate(usage, grace, &mut g, self.now())?
        };
        self.persist_keys()?;
        Ok(id)
    }

    /// Stores the key ring (private keys included) in the store.
    pub(crate) fn persist_keys(&self) -> Result<(), crate::keys::KeyError> {
        let exported = self.keys.snapshot().export()?;
        let text = std::str::from_utf8(&exported).map_err(|e| crate::keys::KeyError::Certificate(e.to_string()))?;
        self.store
            .put_doc(SETTINGS, SERVER_KEYS, "", text)
            .map_err(|e| crate::keys::KeyError::Certificate(e.to_string()))
    }

    /// Sets (or with `None` resets) a context's rate-limit profile, kept in the store.
    pub fn set_rate_profile(
        &self,
        context: &str,
        profile: Option<BTreeMap<String, crate::limits::GroupLimits>>,
    ) -> Result<(), StoreError> {
        persist(self.store.as_ref(), RATE_PROFILE, context, profile.as_ref())?;
        self.rate_limiter.set_profile(context, profile);
        Ok(())
    }

    /// Sets (or clears) a context's session limits, kept in the store.
    pub fn set_context_limits(
        &self,
        context: &str,
        limits: Option<crate::limits::ContextLimits>,
    ) -> Result<(), StoreError> {
        persist(self.store.as_ref(), CONTEXT_LIMITS, context, limits.as_ref())?;
        self.overrides.set_context(context, limits);
        Ok(())
    }

    /// Sets (or clears) a subject's `(maxEnrollments, maxCertificates)`, kept in the store.
    pub fn set_subject_limits(
        &self,
        subject: &str,
        limits: Option<(Option<u64>, Option<u64>)>,
    ) -> Result<(), StoreError> {
        persist(self.store.as_ref(), SUBJECT_LIMITS, subject, limits.as_ref())?;
        self.overrides.set_subject(subject, limits);
        Ok(())
    }

    /// Loads what `/testdata/*` set before a restart: rate-limit profiles and limit overrides.
    pub(crate) fn load_settings(&self) -> Result<(), StoreError> {
        for (k, v) in load::<BTreeMap<String, crate::limits::GroupLimits>>(self.store.as_ref(), RATE_PROFILE)? {
            self.rate_limiter.set_profile(&k, Some(v));
        }
        for (k, v) in load::<crate::limits::ContextLimits>(self.store.as_ref(), CONTEXT_LIMITS)? {
            self.overrides.set_context(&k, Some(v));
        }
        for (k, v) in load::<(Option<u64>, Option<u64>)>(self.store.as_ref(), SUBJECT_LIMITS)? {
            self.overrides.set_subject(&k, Some(v));
        }
        Ok(())
    }

    /// The emulator's certificate authority (P-256): from the store, or made (with the
    /// emulator's random stream) and stored on first use.
    pub fn ca(&self) -> Result<Arc<(ksef_crypto::PrivateKey, ksef_crypto::Certificate)>, ApiError> {
        use base64::Engine as _;
        use base64::engine::general_purpose::STANDARD as B64;
        let mut g = self.ca.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(c) = g.as_ref() {
            return Ok(c.clone());
        }
        let internal = |e: &dyn std::fmt::Display| ApiError::code(500, [e.to_string()]);
        let ca = if let Some(doc) = self.store.doc(SETTINGS, CA)? {
            let v: serde_json::Value = serde_json::from_str(&doc).map_err(|e| internal(&e))?;
            let field = |k: &str| B64.decode(v[k].as_str().unwrap_or_default()).map_err(|e| internal(&e));
            let key = zeroize::Zeroizing::new(field("pkcs8")?);
            (
                ksef_crypto::PrivateKey::from_pkcs8_der(&key).map_err(|e| internal(&e))?,
                ksef_crypto::Certificate::from_der(&field("certificate")?).map_err(|e| internal(&e))?,
            )
        } else {
            let mut rng = self.rng.lock().unwrap_or_else(|e| e.into_inner());
            let key = ksef_crypto::PrivateKey::generate_p256(&mut *rng);
            let now = self.now().timestamp().max(86_400) as u64;
            let cert = ksef_crypto::x509::self_signed_ca(
                &key,
                "ksef-emulator CA",
                &ksef_crypto::x509::random_serial(&mut *rng),
                ksef_crypto::UnixTime::from_secs(now - 86_400),
                ksef_crypto::UnixTime::from_secs(now + 20 * 365 * 86_400),
            )
            .map_err(|e| internal(&e))?;
            let pkcs8 = key.to_pkcs8_der().map_err(|e| internal(&e))?;
            let doc = serde_json::json!({"pkcs8": B64.encode(&*pkcs8), "certificate": B64.encode(cert.der())});
            self.store.put_doc(SETTINGS, CA, "", &doc.to_string())?;
            (key, cert)
        };
        let ca = Arc::new(ca);
        *g = Some(ca.clone());
        Ok(ca)
    }

    /// Draws from the fault stream: whether a fault with probability `rate` happens now.
    pub fn fault(&self, rate: f64) -> bool {
        if rate <= 0.0 {
            return false;
        }
        let mut g = self.faults.lock().unwrap_or_else(|e| e.into_inner());
        let x = (rand::Rng::next_u64(&mut *g) >> 11) as f64 / (1u64 << 53) as f64;
        x < rate
    }

    /// `n` random bytes.
    pub fn random_bytes(&self, n: usize) -> Vec<u8> {
        let mut v = vec![0u8; n];
        let mut g = self.rng.lock().unwrap_or_else(|e| e.into_inner());
        rand::Rng::fill_bytes(&mut *g, &mut v);
        v
    }

    /// `n` random upper-case hex characters.
    pub fn random_hex(&self, n: usize) -> String {
        let bytes = self.random_bytes(n.div_ceil(2));
        let mut s: String = bytes.iter().map(|b| format!("{b:02X}")).collect();
        s.truncate(n);
        s
    }

    /// A fresh reference number of type `tt` (`SO`, `EE`, `AU`, ...) dated today, with a CRC-8.
    pub fn reference(&self, tt: &str) -> String {
        let now = self.now();
        ReferenceNumber::build(now.date_naive(), tt, &self.random_hex(10), &self.random_hex(10))
            .map(ReferenceNumber::into_string)
            .unwrap_or_else(|_| unreachable!("type codes are two capitals"))
    }

    /// A GUID-shaped id (permission ids).
    pub fn guid(&self) -> String {
        let h = self.random_hex(32).to_ascii_lowercase();
        format!("{}-{}-{}-{}-{}", &h[..8], &h[8..12], &h[12..16], &h[16..20], &h[20..])
    }

    fn trace_id(&self) -> String {
        let n = self.trace.fetch_add(1, Ordering::Relaxed);
        format!("{n:032x}")
    }
}

/// Store document kind of the emulator's own settings (server keys, CA).
pub(crate) const SETTINGS: &str = "emulator";
/// The server key ring (JSON from [`KeyRing::export`]).
pub(crate) const SERVER_KEYS: &str = "server-keys";
/// The CA key and certificate.
const CA: &str = "ca";
/// Document kinds of `/testdata` settings, keyed by context or subject.
const RATE_PROFILE: &str = "rate-profile";
const CONTEXT_LIMITS: &str = "context-limits";
const SUBJECT_LIMITS: &str = "subject-limits";

#[derive(serde::Serialize, serde::Deserialize)]
struct Keyed<T> {
    key: String,
    value: T,
}

fn persist<T: serde::Serialize>(store: &dyn Store, kind: &str, key: &str, value: Option<&T>) -> Result<(), StoreError> {
    match value {
        Some(v) => {
            let json = serde_json::to_string(&Keyed { key: key.to_owned(), value: v })
                .map_err(|e| StoreError::Backend(e.to_string()))?;
            store.put_doc(kind, key, "", &json)
        }
        None => store.remove_doc(kind, key).map(drop),
    }
}

fn load<T: DeserializeOwned>(store: &dyn Store, kind: &str) -> Result<Vec<(String, T)>, StoreError> {
    store
        .docs(kind)?
        .iter()
        .map(|d| {
            serde_json::from_str::<Keyed<T>>(d)
                .map(|k| (k.key, k.value))
                .map_err(|e| StoreError::Backend(format!("{kind}: {e}")))
        })
        .collect()
}

/// Store failures are internal errors of the emulator; KSeF would answer 500.
impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        ApiError::code(500, [e.to_string()])
    }
}

/// The authenticated caller of a protected operation (from the verified bearer token).
#[derive(Clone, Debug)]
pub struct Caller {
    /// The token's claims.
    pub claims: Claims,
}

impl Caller {
    /// The context (access and refresh tokens).
    pub fn context(&self) -> Result<&Identifier, ApiError> {
        self.claims.context.as_ref().ok_or_else(|| ApiError::Unauthorized("Token bez kontekstu.".into()))
    }

    /// The authenticated subject.
    pub fn subject(&self) -> Result<&Identifier, ApiError> {
        self.claims.subject.as_ref().ok_or_else(|| ApiError::Unauthorized("Token bez podmiotu.".into()))
    }

    /// Whether the token's permission snapshot holds `p`.
    pub fn has(&self, p: PermissionType) -> bool {
        self.claims.permissions.contains(&p)
    }
}

/// A JSON body: malformed JSON, missing fields, bad enum values and formats give 400 `21405`;
/// unknown fields are ignored; the `Content-Type` is not enforced.
#[derive(Debug)]
pub struct JsonBody<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequest<S> for JsonBody<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let bytes = Bytes::from_request(req, state).await.map_err(|e| ApiError::validation(e.body_text()))?;
        let body: &[u8] = if bytes.iter().all(u8::is_ascii_whitespace) { b"null" } else { &bytes };
        serde_json::from_slice(body).map(JsonBody).map_err(|e| ApiError::validation(e.to_string()))
    }
}

/// Which token kinds an operation accepts.
fn accepted_kinds(name: &str) -> &'static [TokenKind] {
    match name {
        "auth_status" | "auth_token_redeem" => &[TokenKind::OperationToken],
        "auth_token_refresh" => &[TokenKind::RefreshToken],
        "revoke_current_auth_session" => &[TokenKind::ContextToken, TokenKind::RefreshToken],
        _ => &[TokenKind::ContextToken],
    }
}

async fn guard(
    State((app, spec)): State<(Arc<AppState>, &'static OperationSpec)>,
    mut req: Request,
    next: Next,
) -> Result<Response, ApiError> {
    if spec.bearer {
        let token = req
            .headers()
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer ").or_else(|| v.strip_prefix("bearer ")))
            .map(str::trim)
            .ok_or_else(|| ApiError::Unauthorized("Brak tokenu.".into()))?;
        let claims = app.jwt.verify(token, app.now()).map_err(|e| ApiError::Unauthorized(e.to_string()))?;
        if !accepted_kinds(spec.name).contains(&claims.kind) {
            return Err(ApiError::Unauthorized("Nieprawidłowy rodzaj tokenu.".into()));
        }
        if claims.kind == TokenKind::ContextToken && !spec.required_permissions.is_empty() {
            let ok = spec
                .required_permissions
                .iter()
                .any(|p| PermissionType::parse(p).is_some_and(|p| claims.permissions.contains(&p)));
            if !ok {
                let present: Vec<&str> = claims.permissions.iter().map(|p| p.as_str()).collect();
                return Err(ApiError::Forbidden {
                    reason: ForbiddenReason::MissingPermissions,
                    detail: "Brak wymaganych uprawnień do wykonania operacji.".into(),
                    security: json!({"requiredAnyOfPermissions": spec.required_permissions, "presentPermissions": present}),
                });
            }
        }
        if let Some(policy) = &claims.allowed_ips {
            let ip = req.extensions().get::<axum::extract::ConnectInfo<std::net::SocketAddr>>().map(|c| c.0.ip());
            if !ip.is_some_and(|ip| policy.allows(ip)) {
                let client_ip = ip.map(|i| i.to_string()).unwrap_or_default();
                return Err(ApiError::Forbidden {
                    reason: ForbiddenReason::IpNotAllowed,
                    detail: "Adres IP klienta nie jest dozwolony dla tego tokenu.".into(),
                    security: json!({"clientIp": client_ip}),
                });
            }
        }
        req.extensions_mut().insert(Caller { claims });
    }
    if app.config.rate_limits {
        let ip = req
            .extensions()
            .get::<axum::extract::ConnectInfo<std::net::SocketAddr>>()
            .map(|c| c.0.ip().to_string())
            .unwrap_or_default();
        let context = req.extensions().get::<Caller>().and_then(|c| c.claims.context.as_ref()).map(|c| c.value.clone());
        let group = spec.rate_limit_group;
        // Every `other` operation has its own counter (§14.1).
        let bucket = if group == "other" { spec.name } else { group };
        app.rate_limiter
            .check(context.as_deref(), &ip, group, bucket, app.now())
            .map_err(|t| ApiError::TooManyRequests { retry_after: t.retry_after, detail: t.detail })?;
    }
    Ok(next.run(req).await)
}

async fn render_errors(State(app): State<Arc<AppState>>, req: Request, next: Next) -> Response {
    let rendering = ErrorRendering {
        problem_details: wants_problem_details(req.headers()),
        instance: req.uri().path().to_owned(),
        now: app.now(),
        trace_id: app.trace_id(),
    };
    // TE echoes `X-Test-System-Warning` as a non-blocking `X-System-Warning` on success.
    let test_warning =
        req.headers().get("x-test-system-warning").map(|v| ascii_fold(&String::from_utf8_lossy(v.as_bytes())));
    let mut resp = next.run(req).await;
    if let Some(PendingError(err)) = resp.extensions().get::<PendingError>() {
        return render(err, &rendering);
    }
    if resp.status().is_success()
        && let Some(w) = test_warning.filter(|w| !w.is_empty())
        && let Ok(v) = axum::http::HeaderValue::from_str(&format!("[TEST]: {w}"))
    {
        resp.headers_mut().insert("x-system-warning", v);
    }
    resp
}

/// KSeF sends warnings ASCII-folded (`ą` → `a`), without the `|` item separator.
fn ascii_fold(s: &str) -> String {
    s.chars()
        .filter_map(|c| {
            let m = match c {
                'ą' => 'a',
                'ć' => 'c',
                'ę' => 'e',
                'ł' => 'l',
                'ń' => 'n',
                'ó' => 'o',
                'ś' => 's',
                'ź' | 'ż' => 'z',
                'Ą' => 'A',
                'Ć' => 'C',
                'Ę' => 'E',
                'Ł' => 'L',
                'Ń' => 'N',
                'Ó' => 'O',
                'Ś' => 'S',
                'Ź' | 'Ż' => 'Z',
                '|' => ' ',
                c if c.is_ascii() && !c.is_ascii_control() => c,
                _ => return None,
            };
            Some(m)
        })
        .collect::<String>()
        .chars()
        .take(500)
        .collect()
}

fn filter(m: Method) -> MethodFilter {
    match m {
        Method::Get => MethodFilter::GET,
        Method::Post => MethodFilter::POST,
        Method::Put => MethodFilter::PUT,
        Method::Delete => MethodFilter::DELETE,
    }
}

/// Collects the implemented operations; each is registered at its spec path and method.
pub(crate) struct Routes {
    app: Arc<AppState>,
    by_path: BTreeMap<&'static str, MethodRouter<Arc<AppState>>>,
    names: Vec<&'static str>,
}

impl Routes {
    fn add<H, T>(&mut self, name: &'static str, handler: H)
    where
        H: Handler<T, Arc<AppState>>,
        T: 'static,
    {
        let Some(spec) = OperationSpec::by_name(name) else {
            // Names come from this crate's code; a typo is caught by the route-table test.
            tracing::error!(name, "operation not in the spec table; not registered");
            return;
        };
        let mr =
            on(filter(spec.method), handler).layer(middleware::from_fn_with_state((self.app.clone(), spec), guard));
        let entry = self.by_path.remove(spec.path);
        self.by_path.insert(
            spec.path,
            match entry {
                Some(existing) => existing.merge(mr),
                None => mr,
            },
        );
        self.names.push(name);
    }
}

/// The operations this emulator serves (snake_case names of [`ksef_model::OPERATIONS`]).
pub fn implemented_operations() -> Vec<&'static str> {
    let mut r = Routes { app: dummy_state(), by_path: BTreeMap::new(), names: Vec::new() };
    register(&mut r);
    r.names
}

fn dummy_state() -> Arc<AppState> {
    use rand::SeedableRng;
    let keys = Arc::new(KeyRing::empty());
    Arc::new(AppState::new(
        EmulatorConfig::default(),
        Arc::new(crate::store::MemoryStore::new()),
        keys,
        StdRng::seed_from_u64(0),
    ))
}

fn register(r: &mut Routes) {
    security::register(r);
    testdata::register(r);
    auth::register(r);
    sessions::register(r);
    batch::register(r);
    invoices::register(r);
    exports::register(r);
    collective::register(r);
    certificates::register(r);
    tokens::register(r);
    limits::register(r);
    permissions::register(r);
    peppol::register(r);
}

/// Builds the router of the whole API under `/v2`.
pub fn router(app: Arc<AppState>) -> Router {
    let mut r = Routes { app: app.clone(), by_path: BTreeMap::new(), names: Vec::new() };
    register(&mut r);
    let mut api = Router::new();
    for (path, mr) in r.by_path {
        api = api.route(path, mr);
    }
    // Pre-signed storage links (UPO downloads) live outside the API, as on KSeF's blob host.
    let storage = Router::new()
        .route("/storage/upo/{kind}/{session}/{reference}", axum::routing::get(sessions::storage_upo))
        .route("/storage/batch/{session}/{ordinal}", axum::routing::put(batch::upload_part))
        .route("/storage/export/{reference}/{ordinal}", axum::routing::get(exports::download_part))
        // A part is at most 100 MB (+ one AES block) of ciphertext.
        .layer(axum::extract::DefaultBodyLimit::max(100_000_016 + 1024));
    // Online invoices with attachments may be 10 MB of plaintext (TE maximum), Base64 in JSON.
    let api = api.layer(axum::extract::DefaultBodyLimit::max(16 * 1024 * 1024));
    Router::new()
        .nest("/v2", api)
        .merge(storage)
        .layer(middleware::from_fn_with_state(app.clone(), crate::faults::inject))
        .route("/_emulator/faults", axum::routing::post(crate::faults::set_faults).get(crate::faults::get_faults))
        .route("/_emulator/stats", axum::routing::get(crate::faults::stats))
        .layer(middleware::from_fn_with_state(app.clone(), render_errors))
        .with_state(app)
}

/// Parses `pageSize` within bounds (default when absent); `21405` otherwise.
pub(crate) fn page_size(raw: Option<&String>, min: u32, max: u32, default: u32) -> Result<u32, ApiError> {
    match raw {
        None => Ok(default),
        Some(s) => match s.parse::<u32>() {
            Ok(v) if (min..=max).contains(&v) => Ok(v),
            _ => Err(ApiError::validation(format!("pageSize musi być liczbą z zakresu {min}..{max}."))),
        },
    }
}

/// Continuation tokens are opaque to clients; ours encode an offset. Malformed → `21418`.
pub(crate) fn continuation_offset(headers: &axum::http::HeaderMap) -> Result<usize, ApiError> {
    let Some(v) = headers.get("x-continuation-token") else { return Ok(0) };
    let s = v.to_str().map_err(|_| ApiError::code(21418, ["Token kontynuacji jest nieczytelny."]))?.trim();
    if s.is_empty() {
        return Ok(0);
    }
    s.strip_prefix("ce1.")
        .and_then(|n| n.parse().ok())
        .ok_or_else(|| ApiError::code(21418, ["Token kontynuacji ma nieprawidłowy format."]))
}

/// The continuation token for the next page, or `None` on the last page.
pub(crate) fn continuation_token(next_offset: usize, total: usize) -> Option<String> {
    (next_offset < total).then(|| format!("ce1.{next_offset}"))
}

/// A KSeF date-time (7 fractional digits, offset).
pub(crate) fn ts(t: DateTime<Utc>) -> String {
    crate::error::ksef_timestamp(t)
}
