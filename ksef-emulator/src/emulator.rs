//! Starting and stopping the emulator.

use std::net::SocketAddr;
use std::sync::Arc;

use rand::SeedableRng;
use rand::rngs::StdRng;
use tokio::net::TcpListener;
use tokio::sync::oneshot;

use crate::api::{self, AppState};
use crate::clock::Clock;
use crate::config::{EmulatorConfig, Environment, TokenLifetimes};
use crate::domain::Identifier;
use crate::error::ApiError;
use crate::keys::{KeyError, KeyRing};
use crate::store::{AuthMethod, MemoryStore, SqliteStore, Store};

pub use crate::api::auth::AuthInit;

/// Why the emulator could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// The tokio runtime could not be built.
    #[error("could not start the runtime")]
    Runtime(#[source] std::io::Error),
    /// The listener could not bind.
    #[error("could not bind the listener")]
    Bind(#[source] std::io::Error),
    /// Key generation failed.
    #[error("could not create the server keys")]
    Keys(#[from] KeyError),
    /// The HTTP fault configuration (or its file) is invalid.
    #[error("invalid fault configuration")]
    Faults(#[from] crate::faults::FaultConfigError),
    /// The data directory could not be opened.
    #[error("could not open the data directory")]
    Store(#[from] crate::store::StoreError),
}

/// Configures an [`Emulator`].
#[derive(Debug, Default)]
pub struct EmulatorBuilder {
    config: EmulatorConfig,
    store: Option<Arc<dyn Store>>,
    data_dir: Option<std::path::PathBuf>,
    faults_file: Option<std::path::PathBuf>,
    storage_host_needs_port: Option<String>,
    bind: Option<SocketAddr>,
}

impl EmulatorBuilder {
    /// Uses this clock (e.g. a shared [`crate::ManualClock`]).
    pub fn clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.config.clock = clock;
        self
    }

    /// Token and session lifetimes.
    pub fn lifetimes(mut self, lifetimes: TokenLifetimes) -> Self {
        self.config.lifetimes = lifetimes;
        self
    }

    /// Host name used in pre-signed storage URLs.
    pub fn storage_host(mut self, host: impl Into<String>) -> Self {
        self.storage_host_needs_port = None;
        self.config.storage_host = Some(host.into());
        self
    }

    /// Host name used in pre-signed storage URLs, with the port the emulator listens on appended
    /// (`host:port`) once it is bound (for an ephemeral port).
    pub fn storage_host_on_listening_port(mut self, host: impl Into<String>) -> Self {
        self.storage_host_needs_port = Some(host.into());
        self
    }

    /// The imitated environment.
    pub fn environment(mut self, env: Environment) -> Self {
        self.config.environment = env;
        self
    }

    /// Seeds every random choice (reference numbers, KSeF numbers, keys, JWT secret).
    pub fn seed(mut self, seed: u64) -> Self {
        self.config.seed = Some(seed);
        self
    }

    /// Injects faults (status 550 outcomes) at the given rates, from a seeded stream.
    pub fn faults(mut self, faults: crate::config::FaultConfig) -> Self {
        self.config.faults = faults;
        self
    }

    /// HTTP-level faults per operation (latency, 5xx, dropped connections, lost responses, 429,
    /// `X-System-Warning`, statuses held at 150/100). Unknown operation names or rates outside
    /// `0..=1` make [`EmulatorBuilder::start`] fail with [`StartError::Faults`].
    pub fn http_faults(mut self, faults: crate::faults::HttpFaults) -> Self {
        self.config.http_faults = faults;
        self
    }

    /// Holds every queued job (online invoice, session close) this long after it was queued
    /// before finishing it (default zero: as fast as possible); invoices report 150 meanwhile.
    pub fn processing_delay(mut self, delay: std::time::Duration) -> Self {
        self.config.processing_delay = delay;
        self
    }

    /// Reads the HTTP fault configuration from a file (TOML, or JSON when the name ends in
    /// `.json`; see [`crate::faults::HttpFaults::load`]) when starting; it replaces
    /// [`EmulatorBuilder::http_faults`]. A bad file makes [`EmulatorBuilder::start`] fail with
    /// [`StartError::Faults`].
    pub fn http_faults_file(mut self, path: impl Into<std::path::PathBuf>) -> Self {
        self.faults_file = Some(path.into());
        self
    }

    /// Enforces (default) or ignores rate limits.
    pub fn rate_limits(mut self, enforce: bool) -> Self {
        self.config.rate_limits = enforce;
        self
    }

    /// Uses this store instead of a fresh in-memory one.
    pub fn store(mut self, store: Arc<dyn Store>) -> Self {
        self.store = Some(store);
        self
    }

    /// Keeps state in a SQLite database in `dir` (created if needed), together with the server
    /// keys and the token-signing secret, so a restarted emulator continues where it stopped.
    pub fn data_dir(mut self, dir: impl Into<std::path::PathBuf>) -> Self {
        self.data_dir = Some(dir.into());
        self
    }

    /// Listens here instead of `127.0.0.1:0`.
    pub fn bind(mut self, addr: SocketAddr) -> Self {
        self.bind = Some(addr);
        self
    }

    /// Replaces the whole configuration.
    pub fn config(mut self, config: EmulatorConfig) -> Self {
        self.config = config;
        self
    }

    fn bind_addr(&self) -> SocketAddr {
        self.bind.unwrap_or_else(|| SocketAddr::from(([127, 0, 0, 1], 0)))
    }

    /// The shared state, for a server listening on `port`.
    fn state(mut self, port: u16) -> Result<Arc<AppState>, StartError> {
        if let Some(host) = self.storage_host_needs_port.take() {
            self.config.storage_host = Some(format!("{host}:{port}"));
        }
        if let Some(path) = &self.faults_file {
            self.config.http_faults = crate::faults::HttpFaults::load(path)?;
        }
        self.config.http_faults.validate()?;
        let now = self.config.clock.now();
        let mut rng = match self.config.seed {
            Some(s) => StdRng::seed_from_u64(s),
            None => rand::make_rng::<StdRng>(),
        };
        let stored_keys = |store: &dyn Store| -> Result<Option<KeyRing>, StartError> {
            Ok(match store.doc(api::SETTINGS, api::SERVER_KEYS)? {
                Some(text) => Some(KeyRing::import(text.as_bytes())?),
                None => None,
            })
        };
        let state = if let Some(dir) = &self.data_dir {
            let sqlite = Arc::new(SqliteStore::open(dir)?);
            // Data directories written before the ring moved to the store keep it in `settings`.
            let keys = match stored_keys(sqlite.as_ref())? {
                Some(k) => Arc::new(k),
                None => match sqlite.setting("server-keys")? {
                    Some(b) => Arc::new(KeyRing::import(&b)?),
                    None => Arc::new(KeyRing::generate(&mut rng, now)?),
                },
            };
            let legacy_secret = sqlite.setting("token-secret")?;
            let secret = token_secret(sqlite.as_ref(), legacy_secret, &mut rng)?;
            let rng = restart_stream(sqlite.as_ref(), self.config.seed, rng)?;
            let state = AppState::with_secret(self.config, sqlite, keys, rng, Some(secret));
            state.persist_keys()?;
            state
        } else {
            let store = self.store.unwrap_or_else(|| Arc::new(MemoryStore::new()));
            let keys = match stored_keys(store.as_ref())? {
                Some(k) => Arc::new(k),
                None => KeyRing::shared(self.config.seed, now)?,
            };
            let secret = token_secret(store.as_ref(), None, &mut rng)?;
            let rng = restart_stream(store.as_ref(), self.config.seed, rng)?;
            AppState::with_secret(self.config, store, keys, rng, Some(secret))
        };
        state.load_settings()?;
        state.jobs.recover(state.store.as_ref())?;
        Ok(Arc::new(state))
    }

    /// Starts the server on its own tokio runtime (usable from blocking tests) and returns once
    /// it accepts connections. Dropping the [`Emulator`] shuts it down.
    pub fn start(self) -> Result<Emulator, StartError> {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name("ksef-emulator")
            .enable_all()
            .build()
            .map_err(StartError::Runtime)?;
        let listener = runtime.block_on(TcpListener::bind(self.bind_addr())).map_err(StartError::Bind)?;
        let addr = listener.local_addr().map_err(StartError::Bind)?;
        let state = self.state(addr.port())?;
        let (tx, rx) = oneshot::channel::<()>();
        let app = api::router(state.clone());
        {
            let _guard = runtime.enter();
            crate::worker::spawn(state.clone());
        }
        runtime.spawn(async move {
            let shutdown = async {
                let _ = rx.await;
            };
            if let Err(e) = axum::serve(listener, app.into_make_service_with_connect_info::<SocketAddr>())
                .with_graceful_shutdown(shutdown)
                .await
            {
                tracing::error!(error = %e, "emulator server stopped");
            }
        });
        Ok(Emulator { state, addr, shutdown: Some(tx), runtime: Some(runtime) })
    }
}

/// Counts starts on a store; a seeded emulator restarted on the same store continues on a stream
/// derived from the seed and the start number, so it does not draw the reference and KSeF numbers
/// of its previous run again (which would collide with stored ones).
fn restart_stream(store: &dyn Store, seed: Option<u64>, rng: StdRng) -> Result<StdRng, StartError> {
    let starts: u64 = store.doc(api::SETTINGS, "starts")?.and_then(|d| d.trim().parse().ok()).unwrap_or(0);
    store.put_doc(api::SETTINGS, "starts", "", &(starts + 1).to_string())?;
    Ok(match seed {
        Some(seed) if starts > 0 => StdRng::seed_from_u64(seed ^ starts.wrapping_mul(0x9E37_79B9_7F4A_7C15)),
        _ => rng,
    })
}

/// The JWT/link-signing secret: from the store, else from a legacy data directory, else new; kept
/// in the store so a restart (or a second emulator on the same store) accepts issued tokens.
fn token_secret(store: &dyn Store, legacy: Option<Vec<u8>>, rng: &mut StdRng) -> Result<Vec<u8>, StartError> {
    use base64::Engine as _;
    use base64::engine::general_purpose::STANDARD as B64;
    if let Some(doc) = store.doc(api::SETTINGS, "token-secret")?
        && let Ok(s) = B64.decode(doc.trim_matches('"'))
    {
        return Ok(s);
    }
    let secret = legacy.unwrap_or_else(|| {
        let mut s = vec![0u8; 32];
        rand::Rng::fill_bytes(rng, &mut s);
        s
    });
    store.put_doc(
        api::SETTINGS,
        "token-secret",
        "",
        &serde_json::to_string(&B64.encode(&secret)).unwrap_or_default(),
    )?;
    Ok(secret)
}

/// Serves the emulator on an existing listener until `shutdown` completes (for the CLI and for
/// async callers that own a runtime).
pub async fn serve(
    listener: TcpListener,
    builder: EmulatorBuilder,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> Result<(), StartError> {
    let port = listener.local_addr().map_err(StartError::Bind)?.port();
    let state = builder.state(port)?;
    crate::worker::spawn(state.clone());
    let app = api::router(state);
    axum::serve(listener, app.into_make_service_with_connect_info::<SocketAddr>())
        .with_graceful_shutdown(shutdown)
        .await
        .map_err(StartError::Bind)
}

/// A running emulator. Shut down on drop.
#[derive(Debug)]
pub struct Emulator {
    state: Arc<AppState>,
    addr: SocketAddr,
    shutdown: Option<oneshot::Sender<()>>,
    runtime: Option<tokio::runtime::Runtime>,
}

impl Emulator {
    /// A builder with the defaults (system clock, TE, in-memory store, 127.0.0.1, random port).
    pub fn builder() -> EmulatorBuilder {
        EmulatorBuilder::default()
    }

    /// `http://127.0.0.1:<port>/v2`: the API base URL, as KSeF's (`…/v2`).
    pub fn base_url(&self) -> String {
        format!("http://{}/v2", self.addr)
    }

    /// The listening address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The store (to inspect or seed state from tests).
    pub fn store(&self) -> &Arc<dyn Store> {
        &self.state.store
    }

    /// Replaces the HTTP fault configuration at run time (as `POST /_emulator/faults` does).
    pub fn set_http_faults(&self, faults: crate::faults::HttpFaults) -> Result<(), crate::faults::FaultConfigError> {
        faults.validate()?;
        self.state.http_faults.set(faults);
        Ok(())
    }

    /// Injected HTTP faults per kind (as `GET /_emulator/stats` reports).
    pub fn fault_stats(&self) -> std::collections::BTreeMap<&'static str, u64> {
        self.state.http_faults.stats()
    }

    /// Injected HTTP faults per operation and kind (as `GET /_emulator/stats` reports under
    /// `faultsByOperation`).
    pub fn fault_stats_by_operation(
        &self,
    ) -> std::collections::BTreeMap<&'static str, std::collections::BTreeMap<&'static str, u64>> {
        self.state.http_faults.stats_by_operation()
    }

    /// A snapshot of the server keys.
    pub fn keys(&self) -> KeyRing {
        self.state.keys.snapshot()
    }

    /// Rotates the key of `usage`: a new key is published at once and the old one is accepted for
    /// `grace` more (zero: emergency rotation, the old `publicKeyId` gets `21470` at once).
    /// Returns the new `publicKeyId`. The ring is kept in the store (with a data directory it
    /// survives a restart).
    pub fn rotate_key(&self, usage: crate::keys::KeyUsage, grace: chrono::Duration) -> Result<String, KeyError> {
        self.state.rotate_key(usage, grace)
    }

    /// The DER certificate of the emulator's CA (issuer of KSeF certificates from
    /// `POST /certificates/enrollments`), made and stored on first use.
    pub fn ca_certificate_der(&self) -> Result<Vec<u8>, ApiError> {
        Ok(self.state.ca()?.1.der().to_vec())
    }

    /// Test hook: starts an authentication of `subject` in `context` without a signature, as if a
    /// valid XAdES signature had been verified. The outcome follows KSeF's rules (415 without
    /// permissions, 470 deceased, 480 blocked context). Poll and redeem over HTTP as usual.
    /// This is not reachable over HTTP.
    pub fn authenticate(&self, context: Identifier, subject: Identifier) -> Result<AuthInit, ApiError> {
        api::auth::begin(&self.state, context, subject, AuthMethod::EmulatorTestHook, None, None)
    }
}

impl Drop for Emulator {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(rt) = self.runtime.take() {
            rt.shutdown_timeout(std::time::Duration::from_secs(2));
        }
    }
}
