//! Execute with limiter and retries, blocking or async.

use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};

use ksef_model::{Operation, OperationSpec};
use tracing::Instrument;

use crate::limiter::{Clock, RateLimiter, SlidingWindowLimiter, SystemClock};
use crate::response::check_named;
use crate::retry::{Jitter, RandomJitter, RetryDecision, RetryPolicy};
use crate::{
    AsyncTransport, Error, HttpRequest, RequestBody, RequestContext, Response, ResponseBody, SyncTransport,
    build_request, decode_body,
};

/// Limiter, retry policy, clock and jitter: how requests are paced and repeated.
///
/// Default: a [`SlidingWindowLimiter`] with the spec's limits (waits for a free slot rather
/// than tripping a 429), [`RetryPolicy::default`], the system clock, random jitter.
#[derive(Clone)]
pub struct Pipeline {
    limiter: Option<Arc<dyn RateLimiter>>,
    retry: RetryPolicy,
    clock: Arc<dyn Clock>,
    jitter: Arc<dyn Jitter>,
}

impl core::fmt::Debug for Pipeline {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Pipeline").field("limiter", &self.limiter.is_some()).field("retry", &self.retry).finish()
    }
}

impl Default for Pipeline {
    fn default() -> Self {
        Self {
            limiter: Some(Arc::new(SlidingWindowLimiter::new())),
            retry: RetryPolicy::default(),
            clock: Arc::new(SystemClock),
            jitter: Arc::new(RandomJitter::default()),
        }
    }
}

struct Target<'a> {
    name: &'static str,
    method: &'static str,
    idempotent: bool,
    limited: Option<&'a OperationSpec>,
}

impl Pipeline {
    /// The default pipeline.
    pub fn new() -> Self {
        Self::default()
    }

    /// Uses this limiter (e.g. one shared across processes).
    pub fn with_limiter(mut self, limiter: Arc<dyn RateLimiter>) -> Self {
        self.limiter = Some(limiter);
        self
    }

    /// No client-side limiting.
    pub fn without_limiter(mut self) -> Self {
        self.limiter = None;
        self
    }

    /// Uses this retry policy.
    pub fn with_retry_policy(mut self, retry: RetryPolicy) -> Self {
        self.retry = retry;
        self
    }

    /// Uses this clock.
    pub fn with_clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = clock;
        self
    }

    /// Uses this jitter source.
    pub fn with_jitter(mut self, jitter: Arc<dyn Jitter>) -> Self {
        self.jitter = jitter;
        self
    }

    /// The limiter, if any.
    pub fn limiter(&self) -> Option<&Arc<dyn RateLimiter>> {
        self.limiter.as_ref()
    }

    /// The retry policy.
    pub fn retry_policy(&self) -> &RetryPolicy {
        &self.retry
    }

    /// Builds, paces, sends (blocking, retrying per the policy) and parses a request of `O`.
    /// `sleep` is called for every wait (limiter slot or retry delay).
    pub fn execute_blocking<O, T>(
        &self,
        transport: &T,
        ctx: &RequestContext,
        params: &O::Params,
        body: O::Request,
        sleep: impl Fn(Duration),
    ) -> Result<Response<O::Response>, Error>
    where
        O: Operation,
        O::Request: RequestBody,
        O::Response: ResponseBody,
        T: SyncTransport + ?Sized,
    {
        let req = build_request::<O>(ctx, params, body)?;
        decode_body::<O>(self.run_blocking(self.target(O::SPEC), transport, req, &sleep)?)
    }

    /// Async [`Self::execute_blocking`]; `sleep` returns a future (e.g. `tokio::time::sleep`).
    pub async fn execute_async<O, T, S, F>(
        &self,
        transport: &T,
        ctx: &RequestContext,
        params: &O::Params,
        body: O::Request,
        sleep: S,
    ) -> Result<Response<O::Response>, Error>
    where
        O: Operation,
        O::Request: RequestBody,
        O::Response: ResponseBody,
        T: AsyncTransport + Sync + ?Sized,
        S: Fn(Duration) -> F,
        F: Future<Output = ()>,
    {
        let req = build_request::<O>(ctx, params, body)?;
        decode_body::<O>(self.run_async(self.target(O::SPEC), transport, req, &sleep).await?)
    }

    /// Sends a pre-signed request (see [`crate::presigned_request`]): no limiter; retried like
    /// an idempotent operation only for `GET`/`PUT`.
    pub fn execute_presigned_blocking<T: SyncTransport + ?Sized>(
        &self,
        transport: &T,
        req: HttpRequest,
        sleep: impl Fn(Duration),
    ) -> Result<Response<Vec<u8>>, Error> {
        let target = Self::presigned_target(&req);
        self.run_blocking(target, transport, req, &sleep)
    }

    /// Async [`Self::execute_presigned_blocking`].
    pub async fn execute_presigned_async<T, S, F>(
        &self,
        transport: &T,
        req: HttpRequest,
        sleep: S,
    ) -> Result<Response<Vec<u8>>, Error>
    where
        T: AsyncTransport + Sync + ?Sized,
        S: Fn(Duration) -> F,
        F: Future<Output = ()>,
    {
        let target = Self::presigned_target(&req);
        self.run_async(target, transport, req, &sleep).await
    }

    fn presigned_target(req: &HttpRequest) -> Target<'static> {
        let m = req.method();
        let method = if m == http::Method::PUT {
            "PUT"
        } else if m == http::Method::GET {
            "GET"
        } else {
            "OTHER"
        };
        Target { name: "", method, idempotent: method != "OTHER", limited: None }
    }

    fn target<'a>(&self, spec: &'a OperationSpec) -> Target<'a> {
        Target {
            name: spec.name,
            method: spec.method.as_str(),
            idempotent: self.retry.is_idempotent(spec),
            limited: Some(spec),
        }
    }

    fn slot_wait(&self, target: &Target<'_>) -> Option<Duration> {
        let (limiter, spec) = (self.limiter.as_ref()?, target.limited?);
        let now = self.clock.now();
        let at = limiter.reserve(spec, now);
        (at > now).then(|| at - now)
    }

    fn after_failure(&self, target: &Target<'_>, e: &Error, attempt: u32) -> RetryDecision {
        let d = self.retry.decide_raw(target.idempotent, e, attempt, self.clock.system_now(), &*self.jitter);
        if let RetryDecision::RetryAfter(delay) = d {
            tracing::warn!(operation = target.name, attempt, delay_ms = delay.as_millis() as u64, error = %e, "retrying");
        }
        d
    }

    fn run_blocking<T: SyncTransport + ?Sized>(
        &self,
        target: Target<'_>,
        transport: &T,
        req: HttpRequest,
        sleep: &dyn Fn(Duration),
    ) -> Result<Response<Vec<u8>>, Error> {
        let mut template = Some(req);
        let mut attempt = 0u32;
        loop {
            attempt += 1;
            if let Some(wait) = self.slot_wait(&target) {
                tracing::debug!(
                    operation = target.name,
                    wait_ms = wait.as_millis() as u64,
                    "waiting for a rate-limit slot"
                );
                sleep(wait);
            }
            let req = next_request(&mut template, attempt >= self.retry.max_attempts);
            let span = request_span(&target, attempt);
            let started = Instant::now();
            let result = span.in_scope(|| transport.send(req)).map_err(Error::from_transport);
            let result = finish(&span, &target, started, result);
            match result {
                Ok(r) => return Ok(r),
                Err(e) => match self.after_failure(&target, &e, attempt) {
                    RetryDecision::RetryAfter(d) if template.is_some() => sleep(d),
                    _ => return Err(e),
                },
            }
        }
    }

    async fn run_async<T, S, F>(
        &self,
        target: Target<'_>,
        transport: &T,
        req: HttpRequest,
        sleep: &S,
    ) -> Result<Response<Vec<u8>>, Error>
    where
        T: AsyncTransport + Sync + ?Sized,
        S: Fn(Duration) -> F,
        F: Future<Output = ()>,
    {
        let mut template = Some(req);
        let mut attempt = 0u32;
        loop {
            attempt += 1;
            if let Some(wait) = self.slot_wait(&target) {
                tracing::debug!(
                    operation = target.name,
                    wait_ms = wait.as_millis() as u64,
                    "waiting for a rate-limit slot"
                );
                sleep(wait).await;
            }
            let req = next_request(&mut template, attempt >= self.retry.max_attempts);
            let span = request_span(&target, attempt);
            let started = Instant::now();
            let result = transport.send(req).instrument(span.clone()).await.map_err(Error::from_transport);
            let result = finish(&span, &target, started, result);
            match result {
                Ok(r) => return Ok(r),
                Err(e) => match self.after_failure(&target, &e, attempt) {
                    RetryDecision::RetryAfter(d) if template.is_some() => sleep(d).await,
                    _ => return Err(e),
                },
            }
        }
    }
}

fn request_span(target: &Target<'_>, attempt: u32) -> tracing::Span {
    tracing::info_span!(
        "ksef.request",
        operation = target.name,
        method = target.method,
        attempt,
        status = tracing::field::Empty,
        duration_ms = tracing::field::Empty,
    )
}

fn finish(
    span: &tracing::Span,
    target: &Target<'_>,
    started: Instant,
    result: Result<crate::HttpResponse, Error>,
) -> Result<Response<Vec<u8>>, Error> {
    span.record("duration_ms", started.elapsed().as_millis() as u64);
    let resp = result?;
    span.record("status", resp.status().as_u16());
    span.in_scope(|| {
        tracing::debug!(status = resp.status().as_u16(), "response");
        check_named(target.name, resp)
    })
}

/// The request for this attempt: a copy of the template, or the template itself on the last one.
fn next_request(template: &mut Option<HttpRequest>, last: bool) -> HttpRequest {
    let Some(t) = template.as_ref() else {
        // Unreachable: the loop stops once the template was moved out.
        return HttpRequest::default();
    };
    if last {
        return template.take().unwrap_or_default();
    }
    let mut r = http::Request::new(t.body().clone());
    *r.method_mut() = t.method().clone();
    *r.uri_mut() = t.uri().clone();
    *r.version_mut() = t.version();
    *r.headers_mut() = t.headers().clone();
    r
}
