//! Retry policy: a pure function of (operation, error, attempt, now, jitter).

use std::hash::{BuildHasher, Hasher};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime};

use http::StatusCode;
use ksef_model::OperationSpec;

use crate::Error;

/// What to do after a failed attempt.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RetryDecision {
    /// Give up and return the error.
    Stop,
    /// Wait this long, then try again.
    RetryAfter(Duration),
}

/// A source of jitter, injectable for tests.
pub trait Jitter: Send + Sync {
    /// A value in `[0, max]`.
    fn jitter(&self, max: Duration) -> Duration;
}

/// No jitter at all (deterministic tests).
#[derive(Clone, Copy, Debug, Default)]
pub struct NoJitter;

impl Jitter for NoJitter {
    fn jitter(&self, _max: Duration) -> Duration {
        Duration::ZERO
    }
}

/// Uniform jitter from the standard library's randomly seeded hasher (no `rand` dependency).
#[derive(Debug, Default)]
pub struct RandomJitter {
    counter: AtomicU64,
    state: std::collections::hash_map::RandomState,
}

impl Jitter for RandomJitter {
    fn jitter(&self, max: Duration) -> Duration {
        let mut h = self.state.build_hasher();
        h.write_u64(self.counter.fetch_add(1, Ordering::Relaxed));
        let r = h.finish();
        let nanos = u64::try_from(max.as_nanos()).unwrap_or(u64::MAX);
        match nanos.checked_add(1) {
            Some(m) => Duration::from_nanos(r % m),
            None => Duration::from_nanos(r),
        }
    }
}

/// When and how long to retry.
///
/// - 429: always retried (nothing was processed), after `Retry-After` (seconds or HTTP-date) or,
///   without one, after the backoff; a `Retry-After` longer than `max_retry_after` stops.
/// - Connect failures: retried for every operation (nothing was sent).
/// - 408, 5xx, timeouts, other transport failures: retried only for idempotent operations
///   (GET/PUT/DELETE, or a name in `safe_operations`); a `Retry-After` is honoured.
/// - Anything else stops, as does reaching `max_attempts`.
///
/// Backoff: `min(max_delay, base_delay * 2^(attempt-1))`, half fixed, half jitter.
#[derive(Clone, Debug)]
pub struct RetryPolicy {
    /// Total attempts including the first (1 = never retry).
    pub max_attempts: u32,
    /// First backoff.
    pub base_delay: Duration,
    /// Largest backoff.
    pub max_delay: Duration,
    /// Largest `Retry-After` worth waiting for.
    pub max_retry_after: Duration,
    /// POST operations that are safe to repeat (read-only queries).
    pub safe_operations: Vec<&'static str>,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        let mut safe: Vec<&'static str> = ksef_model::OPERATIONS
            .iter()
            .filter(|o| o.method == ksef_model::Method::Post && o.name.starts_with("query_"))
            .map(|o| o.name)
            .collect();
        safe.extend(["retrieve_certificates", "auth_challenge"]);
        Self {
            max_attempts: 4,
            base_delay: Duration::from_millis(500),
            max_delay: Duration::from_secs(30),
            max_retry_after: Duration::from_secs(300),
            safe_operations: safe,
        }
    }
}

impl RetryPolicy {
    /// A policy that never retries.
    pub fn never() -> Self {
        Self { max_attempts: 1, ..Self::default() }
    }

    /// Whether repeating `spec` cannot change the outcome.
    pub fn is_idempotent(&self, spec: &OperationSpec) -> bool {
        spec.method.is_idempotent() || self.safe_operations.contains(&spec.name)
    }

    /// The backoff before attempt `attempt + 1`.
    pub fn backoff(&self, attempt: u32, jitter: &dyn Jitter) -> Duration {
        let exp = self.base_delay.saturating_mul(1u32 << attempt.saturating_sub(1).min(20));
        let d = exp.min(self.max_delay);
        d / 2 + jitter.jitter(d / 2).min(d / 2)
    }

    /// Decides after attempt number `attempt` (1-based) of `spec` failed with `error`.
    pub fn decide(
        &self,
        spec: &OperationSpec,
        error: &Error,
        attempt: u32,
        now: SystemTime,
        jitter: &dyn Jitter,
    ) -> RetryDecision {
        self.decide_raw(self.is_idempotent(spec), error, attempt, now, jitter)
    }

    /// [`Self::decide`] with the idempotence already known (pre-signed URLs).
    pub fn decide_raw(
        &self,
        idempotent: bool,
        error: &Error,
        attempt: u32,
        now: SystemTime,
        jitter: &dyn Jitter,
    ) -> RetryDecision {
        if attempt >= self.max_attempts {
            return RetryDecision::Stop;
        }
        let backoff = || self.backoff(attempt, jitter);
        let honour = |ra: Option<crate::RetryAfter>, fallback: Duration| {
            let d = ra.map_or(fallback, |r| r.delay(now));
            if d > self.max_retry_after { RetryDecision::Stop } else { RetryDecision::RetryAfter(d) }
        };
        match error {
            Error::Api(a) if a.status() == StatusCode::TOO_MANY_REQUESTS => honour(a.retry_after(), backoff()),
            Error::Api(a) if idempotent && a.is_retryable() => honour(a.retry_after(), backoff()),
            Error::Transport(t) if t.is_connect() || idempotent => RetryDecision::RetryAfter(backoff()),
            Error::Timeout(t) if t.is_connect() || idempotent => RetryDecision::RetryAfter(backoff()),
            Error::Api(_) | Error::Transport(_) | Error::Timeout(_) | Error::Build(_) | Error::Decode(_) => {
                RetryDecision::Stop
            }
        }
    }
}
