//! [`KsefClient`]: every KSeF operation, typed, over any transport, blocking or async.

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::{DateTime, Utc};
use ksef_model::Operation;
use ksef_transport::{
    AsyncTransport, Pipeline, RequestBody, RequestContext, Response, ResponseBody, SecretToken, SyncTransport,
    UrlPolicy,
};

use crate::auth::Authenticator;
use crate::env::Environment;
use crate::error::Error;
use crate::keys::KeyCache;
use crate::token_manager::TokenManager;

/// A blocking sleep (injectable for tests).
pub type BlockingSleep = Arc<dyn Fn(Duration) + Send + Sync>;
/// A boxed future of an async sleep.
pub type SleepFuture = Pin<Box<dyn Future<Output = ()> + Send>>;
/// An async sleep (injectable for tests; default `tokio::time::sleep`).
pub type AsyncSleep = Arc<dyn Fn(Duration) -> SleepFuture + Send + Sync>;

/// How status polls (authentication, invoice status) are paced.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PollPolicy {
    /// First delay between polls.
    pub initial_delay: Duration,
    /// Largest delay between polls (the delay doubles up to it).
    pub max_delay: Duration,
    /// Give up after waiting this long in total.
    pub timeout: Duration,
}

impl Default for PollPolicy {
    fn default() -> Self {
        Self {
            initial_delay: Duration::from_millis(250),
            max_delay: Duration::from_secs(5),
            timeout: Duration::from_secs(120),
        }
    }
}

impl PollPolicy {
    pub(crate) fn next_delay(&self, current: Duration) -> Duration {
        (current * 2).min(self.max_delay)
    }
}

/// Builds a [`KsefClient`]. Start with [`KsefClient::builder`].
pub struct KsefClientBuilder {
    env: Environment,
    pipeline: Pipeline,
    url_policy: UrlPolicy,
    problem_details: bool,
    sleep: BlockingSleep,
    async_sleep: AsyncSleep,
    poll: PollPolicy,
    refresh_margin: Duration,
    key_refresh_margin: Duration,
}

impl core::fmt::Debug for KsefClientBuilder {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("KsefClientBuilder").field("env", &self.env).field("pipeline", &self.pipeline).finish()
    }
}

fn tokio_sleep(d: Duration) -> SleepFuture {
    Box::pin(tokio::time::sleep(d))
}

impl KsefClientBuilder {
    fn new(env: Environment) -> Self {
        Self {
            env,
            pipeline: Pipeline::default(),
            url_policy: UrlPolicy::default(),
            problem_details: true,
            sleep: Arc::new(std::thread::sleep),
            async_sleep: Arc::new(tokio_sleep),
            poll: PollPolicy::default(),
            refresh_margin: Duration::from_secs(60),
            key_refresh_margin: Duration::from_secs(3600),
        }
    }

    /// Limiter and retry policy (default: [`Pipeline::default`], the spec's limits).
    pub fn pipeline(mut self, pipeline: Pipeline) -> Self {
        self.pipeline = pipeline;
        self
    }

    /// Which hosts pre-signed URLs (UPO, export parts) may point at (default: KSeF's storage).
    pub fn url_policy(mut self, policy: UrlPolicy) -> Self {
        self.url_policy = policy;
        self
    }

    /// Accept pre-signed URLs on loopback over plain HTTP (for `ksef-emulator`).
    pub fn allow_loopback_urls(mut self, on: bool) -> Self {
        self.url_policy = self.url_policy.allow_loopback(on);
        self
    }

    /// Ask for RFC 7807 problem details (`X-Error-Format: problem-details`; default on).
    pub fn problem_details(mut self, on: bool) -> Self {
        self.problem_details = on;
        self
    }

    /// The blocking sleep used for limiter waits, retries and polling (default `thread::sleep`).
    pub fn blocking_sleep(mut self, sleep: impl Fn(Duration) + Send + Sync + 'static) -> Self {
        self.sleep = Arc::new(sleep);
        self
    }

    /// The async sleep (default `tokio::time::sleep`).
    pub fn async_sleep<F>(mut self, sleep: impl Fn(Duration) -> F + Send + Sync + 'static) -> Self
    where
        F: Future<Output = ()> + Send + 'static,
    {
        self.async_sleep = Arc::new(move |d| Box::pin(sleep(d)));
        self
    }

    /// How authentication and invoice statuses are polled.
    pub fn poll_policy(mut self, poll: PollPolicy) -> Self {
        self.poll = poll;
        self
    }

    /// Refresh the access token this long before its `validUntil` (default 60 s).
    pub fn refresh_margin(mut self, margin: Duration) -> Self {
        self.refresh_margin = margin;
        self
    }

    /// Refetch the public-key certificates when the chosen one expires within this margin
    /// (default 1 h).
    pub fn key_refresh_margin(mut self, margin: Duration) -> Self {
        self.key_refresh_margin = margin;
        self
    }

    /// Finishes with a transport (`UreqTransport`, `ReqwestTransport`, a closure, …).
    ///
    /// # Errors
    /// [`Error::Config`] if the base URL is not a valid URL.
    pub fn build<T>(self, transport: T) -> Result<KsefClient<T>, Error> {
        let base = self.env.api_v2_url();
        let ctx = RequestContext::new(&base)
            .map_err(|e| Error::Config(format!("base URL `{base}`: {e}")))?
            .with_problem_details(self.problem_details);
        Ok(KsefClient {
            inner: Arc::new(Inner {
                transport,
                env: self.env,
                ctx,
                pipeline: self.pipeline,
                url_policy: self.url_policy,
                sleep: self.sleep,
                async_sleep: self.async_sleep,
                poll: self.poll,
                tokens: TokenManager::new(self.refresh_margin),
                keys: KeyCache::new(self.key_refresh_margin),
                authenticator: Mutex::new(None),
                stats: Stats::default(),
            }),
        })
    }
}

#[derive(Debug, Default)]
pub(crate) struct Stats {
    pub(crate) refreshes: AtomicU64,
    pub(crate) reauthentications: AtomicU64,
}

pub(crate) struct Inner<T> {
    pub(crate) transport: T,
    pub(crate) env: Environment,
    pub(crate) ctx: RequestContext,
    pub(crate) pipeline: Pipeline,
    pub(crate) url_policy: UrlPolicy,
    pub(crate) sleep: BlockingSleep,
    pub(crate) async_sleep: AsyncSleep,
    pub(crate) poll: PollPolicy,
    pub(crate) tokens: TokenManager,
    pub(crate) keys: KeyCache,
    pub(crate) authenticator: Mutex<Option<Authenticator>>,
    pub(crate) stats: Stats,
}

/// A KSeF 2.0 client over transport `T`.
///
/// Blocking methods carry a `_blocking` suffix and exist when `T: SyncTransport`
/// (e.g. `ksef_transport::UreqTransport`); their async twins have the plain name and exist when
/// `T: AsyncTransport` (e.g. `ksef_transport::ReqwestTransport`). Both families can be used in
/// the same build; no executor is started by the client.
///
/// The client is cheap to clone (an `Arc`); clones share tokens, the public-key cache and
/// the limiter.
pub struct KsefClient<T> {
    pub(crate) inner: Arc<Inner<T>>,
}

impl<T> Clone for KsefClient<T> {
    fn clone(&self) -> Self {
        Self { inner: Arc::clone(&self.inner) }
    }
}

impl<T> core::fmt::Debug for KsefClient<T> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("KsefClient")
            .field("base_url", &self.inner.ctx.base_url())
            .field("pipeline", &self.inner.pipeline)
            .field("tokens", &self.inner.tokens)
            .finish_non_exhaustive()
    }
}

impl KsefClient<()> {
    /// Starts building a client for an [`Environment`] (for an emulator or a proxy, parse
    /// its URL: `"http://127.0.0.1:8080".parse::<Environment>()?`).
    pub fn builder(env: Environment) -> KsefClientBuilder {
        KsefClientBuilder::new(env)
    }
}

impl<T> KsefClient<T> {
    /// The transport.
    pub fn transport(&self) -> &T {
        &self.inner.transport
    }

    /// The environment the client talks to (API, QR and Lighthouse URLs).
    pub fn environment(&self) -> &Environment {
        &self.inner.env
    }

    /// The API base URL (with `/v2`).
    pub fn base_url(&self) -> &str {
        self.inner.ctx.base_url()
    }

    /// The token manager (current tokens, manual injection, expiry).
    pub fn tokens(&self) -> &TokenManager {
        &self.inner.tokens
    }

    /// How many times the access token was refreshed with the refresh token.
    pub fn refresh_count(&self) -> u64 {
        self.inner.stats.refreshes.load(Ordering::Relaxed)
    }

    /// How many times the client re-authenticated because the refresh token was unusable.
    pub fn reauthentication_count(&self) -> u64 {
        self.inner.stats.reauthentications.load(Ordering::Relaxed)
    }

    /// Stores an authenticator used to log in again when the refresh token is dead.
    pub fn set_authenticator(&self, auth: Option<Authenticator>) {
        *self.inner.authenticator.lock().unwrap_or_else(std::sync::PoisonError::into_inner) = auth;
    }

    pub(crate) fn authenticator(&self) -> Option<Authenticator> {
        self.inner.authenticator.lock().unwrap_or_else(std::sync::PoisonError::into_inner).clone()
    }

    pub(crate) fn ctx_with(&self, token: Option<SecretToken>) -> RequestContext {
        let mut ctx = self.inner.ctx.clone();
        ctx.set_token(token);
        ctx
    }

    pub(crate) fn poll(&self) -> PollPolicy {
        self.inner.poll
    }

    pub(crate) fn url_policy(&self) -> &UrlPolicy {
        &self.inner.url_policy
    }
}

pub(crate) fn now() -> DateTime<Utc> {
    Utc::now()
}

/// Whether an error means "the bearer token is not (or no longer) accepted".
pub(crate) fn is_unauthorized(e: &Error) -> bool {
    e.status().is_some_and(|s| s == http::StatusCode::UNAUTHORIZED)
}

impl<T: SyncTransport> KsefClient<T> {
    /// Calls operation `O` with an explicit bearer token (or none); limiter and retries apply.
    pub fn call_with_token_blocking<O>(
        &self,
        params: &O::Params,
        body: O::Request,
        token: Option<SecretToken>,
    ) -> Result<Response<O::Response>, Error>
    where
        O: Operation,
        O::Request: RequestBody,
        O::Response: ResponseBody,
    {
        let ctx = self.ctx_with(token);
        let sleep = &self.inner.sleep;
        Ok(self.inner.pipeline.execute_blocking::<O, T>(&self.inner.transport, &ctx, params, body, |d| sleep(d))?)
    }

    /// Calls any of the 83 operations, typed. When `O::SPEC.bearer`, the current access token
    /// is used (refreshed first if it is about to expire; on a 401 it is refreshed and the
    /// call repeated once).
    ///
    /// ```no_run
    /// # #[cfg(feature = "ureq")] fn f() -> Result<(), ksef_client::Error> {
    /// use ksef_model::operations::{GetSessionStatus, GetSessionStatusParams};
    /// let client = ksef_client::KsefClient::builder(ksef_client::env::Environment::Test)
    ///     .build(ksef_transport::UreqTransport::new(&Default::default()))?;
    /// let params = GetSessionStatusParams { reference_number: "20250625-SO-2C3E6C8000-B675CF5D68-07".into() };
    /// let status = client.call_blocking::<GetSessionStatus>(&params, ())?.value;
    /// println!("{}", status.status.code);
    /// # Ok(()) }
    /// ```
    pub fn call_blocking<O>(&self, params: &O::Params, body: O::Request) -> Result<Response<O::Response>, Error>
    where
        O: Operation,
        O::Request: RequestBody + Clone,
        O::Response: ResponseBody,
    {
        if !O::SPEC.bearer {
            return self.call_with_token_blocking::<O>(params, body, None);
        }
        let token = self.access_token_blocking()?;
        match self.call_with_token_blocking::<O>(params, body.clone(), Some(token.clone())) {
            Err(e) if is_unauthorized(&e) => {
                self.inner.tokens.invalidate_access(&token);
                let token = self.access_token_blocking()?;
                self.call_with_token_blocking::<O>(params, body, Some(token))
            }
            r => r,
        }
    }

    /// A valid access token: the current one, or a refreshed one (single-flight), or one from
    /// a new authentication with the stored [`Authenticator`].
    ///
    /// # Errors
    /// [`Error::NotAuthenticated`] when there is no token and no authenticator.
    pub fn access_token_blocking(&self) -> Result<SecretToken, Error> {
        let tm = &self.inner.tokens;
        if let Some(t) = tm.fresh_access(now()) {
            return Ok(t);
        }
        let _gate = tm.blocking_gate();
        if let Some(t) = tm.fresh_access(now()) {
            return Ok(t);
        }
        if let Some(refresh) = tm.usable_refresh(now()) {
            match self.refresh_with_blocking(&refresh) {
                Ok(t) => return Ok(t),
                Err(e) if self.authenticator().is_none() => return Err(e),
                Err(e) => tracing::warn!(error = %e, "refresh failed; authenticating again"),
            }
        }
        let Some(auth) = self.authenticator() else {
            return Err(Error::NotAuthenticated);
        };
        self.inner.stats.reauthentications.fetch_add(1, Ordering::Relaxed);
        let tokens = self.authenticate_blocking(&auth)?;
        tm.set(tokens);
        tm.unexpired_access(now()).ok_or(Error::NotAuthenticated)
    }

    fn refresh_with_blocking(&self, refresh: &SecretToken) -> Result<SecretToken, Error> {
        let r =
            self.call_with_token_blocking::<ksef_model::operations::AuthTokenRefresh>(&(), (), Some(refresh.clone()))?;
        self.inner.stats.refreshes.fetch_add(1, Ordering::Relaxed);
        let info = r.value.access_token;
        let token = SecretToken::new(info.token);
        self.inner.tokens.set_access(token.clone(), info.valid_until);
        Ok(token)
    }

    /// Refreshes the access token now with the refresh token.
    pub fn refresh_blocking(&self) -> Result<(), Error> {
        let _gate = self.inner.tokens.blocking_gate();
        let refresh = self.inner.tokens.usable_refresh(now()).ok_or(Error::NotAuthenticated)?;
        self.refresh_with_blocking(&refresh).map(drop)
    }
}

impl<T: AsyncTransport + Sync> KsefClient<T> {
    /// Async [`Self::call_with_token_blocking`].
    pub async fn call_with_token<O>(
        &self,
        params: &O::Params,
        body: O::Request,
        token: Option<SecretToken>,
    ) -> Result<Response<O::Response>, Error>
    where
        O: Operation,
        O::Request: RequestBody,
        O::Response: ResponseBody,
    {
        let ctx = self.ctx_with(token);
        let sleep = &self.inner.async_sleep;
        Ok(self
            .inner
            .pipeline
            .execute_async::<O, T, _, _>(&self.inner.transport, &ctx, params, body, |d| sleep(d))
            .await?)
    }

    /// Async [`Self::call_blocking`].
    pub async fn call<O>(&self, params: &O::Params, body: O::Request) -> Result<Response<O::Response>, Error>
    where
        O: Operation,
        O::Request: RequestBody + Clone,
        O::Response: ResponseBody,
    {
        if !O::SPEC.bearer {
            return self.call_with_token::<O>(params, body, None).await;
        }
        let token = self.access_token().await?;
        match self.call_with_token::<O>(params, body.clone(), Some(token.clone())).await {
            Err(e) if is_unauthorized(&e) => {
                self.inner.tokens.invalidate_access(&token);
                let token = self.access_token().await?;
                self.call_with_token::<O>(params, body, Some(token)).await
            }
            r => r,
        }
    }

    /// Async [`Self::access_token_blocking`]; concurrent callers share one refresh.
    pub async fn access_token(&self) -> Result<SecretToken, Error> {
        let tm = &self.inner.tokens;
        if let Some(t) = tm.fresh_access(now()) {
            return Ok(t);
        }
        let _gate = tm.async_gate().await;
        if let Some(t) = tm.fresh_access(now()) {
            return Ok(t);
        }
        if let Some(refresh) = tm.usable_refresh(now()) {
            match self.refresh_with(&refresh).await {
                Ok(t) => return Ok(t),
                Err(e) if self.authenticator().is_none() => return Err(e),
                Err(e) => tracing::warn!(error = %e, "refresh failed; authenticating again"),
            }
        }
        let Some(auth) = self.authenticator() else {
            return Err(Error::NotAuthenticated);
        };
        self.inner.stats.reauthentications.fetch_add(1, Ordering::Relaxed);
        let tokens = Box::pin(self.authenticate(&auth)).await?;
        tm.set(tokens);
        tm.unexpired_access(now()).ok_or(Error::NotAuthenticated)
    }

    async fn refresh_with(&self, refresh: &SecretToken) -> Result<SecretToken, Error> {
        let r =
            self.call_with_token::<ksef_model::operations::AuthTokenRefresh>(&(), (), Some(refresh.clone())).await?;
        self.inner.stats.refreshes.fetch_add(1, Ordering::Relaxed);
        let info = r.value.access_token;
        let token = SecretToken::new(info.token);
        self.inner.tokens.set_access(token.clone(), info.valid_until);
        Ok(token)
    }

    /// Async [`Self::refresh_blocking`].
    pub async fn refresh(&self) -> Result<(), Error> {
        let _gate = self.inner.tokens.async_gate().await;
        let refresh = self.inner.tokens.usable_refresh(now()).ok_or(Error::NotAuthenticated)?;
        self.refresh_with(&refresh).await.map(drop)
    }

    pub(crate) async fn sleep(&self, d: Duration) {
        (self.inner.async_sleep)(d).await;
    }
}

impl<T: SyncTransport> KsefClient<T> {
    pub(crate) fn sleep_blocking(&self, d: Duration) {
        (self.inner.sleep)(d);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base_url_always_ends_in_v2() {
        for (url, want) in [
            ("http://127.0.0.1:8080", "http://127.0.0.1:8080/v2"),
            ("http://127.0.0.1:8080/v2/", "http://127.0.0.1:8080/v2"),
        ] {
            let c = KsefClient::builder(url.parse().unwrap()).build(()).unwrap();
            assert_eq!(c.base_url(), want);
        }
        let c = KsefClient::builder(Environment::Test).build(()).unwrap();
        assert_eq!(c.base_url(), "https://api-test.ksef.mf.gov.pl/v2");
        assert_eq!(c.environment(), &Environment::Test);
    }

    #[test]
    fn poll_backoff_doubles_up_to_the_cap() {
        let p = PollPolicy {
            initial_delay: Duration::from_millis(300),
            max_delay: Duration::from_secs(1),
            timeout: Duration::from_secs(5),
        };
        assert_eq!(p.next_delay(p.initial_delay), Duration::from_millis(600));
        assert_eq!(p.next_delay(Duration::from_millis(600)), Duration::from_secs(1));
    }

    #[test]
    fn a_bad_base_url_is_rejected_before_building() {
        assert!("not a url".parse::<Environment>().is_err());
    }
}
