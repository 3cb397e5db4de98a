//! Client-side rate limiting: sliding windows per operation group.

use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;
use std::time::{Duration, Instant, SystemTime};

use ksef_model::{OperationSpec, RateLimits};

/// A source of time, injectable so tests never sleep.
pub trait Clock: Send + Sync {
    /// Monotonic now (limiter slots, durations).
    fn now(&self) -> Instant;
    /// Wall-clock now (HTTP-date `Retry-After`).
    fn system_now(&self) -> SystemTime;
}

/// The real clock.
#[derive(Clone, Copy, Debug, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> Instant {
        Instant::now()
    }
    fn system_now(&self) -> SystemTime {
        SystemTime::now()
    }
}

/// A clock that moves only when told to (tests).
#[derive(Debug)]
pub struct ManualClock {
    base: Instant,
    base_system: SystemTime,
    offset: Mutex<Duration>,
}

impl ManualClock {
    /// A clock at `Instant::now()` / `system_start` that stands still.
    pub fn new(system_start: SystemTime) -> Self {
        Self { base: Instant::now(), base_system: system_start, offset: Mutex::new(Duration::ZERO) }
    }

    /// The instant the clock started at.
    pub fn start(&self) -> Instant {
        self.base
    }

    /// Moves the clock forward.
    pub fn advance(&self, d: Duration) {
        *self.offset.lock().unwrap_or_else(std::sync::PoisonError::into_inner) += d;
    }

    /// Time elapsed since the start.
    pub fn elapsed(&self) -> Duration {
        *self.offset.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

impl Clock for ManualClock {
    fn now(&self) -> Instant {
        self.base + self.elapsed()
    }
    fn system_now(&self) -> SystemTime {
        self.base_system + self.elapsed()
    }
}

/// A client-side rate limiter. Implement it to share budgets across processes.
pub trait RateLimiter: Send + Sync {
    /// Reserves a slot for one request of `spec` at or after `now` and returns the instant the
    /// request may be sent. The slot counts from that instant whether or not it is used.
    fn reserve(&self, spec: &OperationSpec, now: Instant) -> Instant;

    /// Replaces the limits with what `GET /rate-limits` returned. The default ignores them.
    fn set_effective_limits(&self, limits: &ksef_model::types::EffectiveApiRateLimits) {
        let _ = limits;
    }
}

/// The counter a request of `spec` is charged to: its group, except that every operation of the
/// group `other` has a counter of its own (protocol §14.1).
pub fn limiter_key(spec: &OperationSpec) -> (&'static str, &'static str) {
    if spec.rate_limit_group == "other" { (spec.rate_limit_group, spec.name) } else { (spec.rate_limit_group, "") }
}

/// Sliding 1 s / 60 s / 60 min windows per counter, seeded from the spec's `x-rate-limits` and
/// replaceable at run time (e.g. from `GET /rate-limits`).
///
/// [`RateLimiter::reserve`] computes the exact instant the next slot frees, so a caller that
/// waits until then never trips a 429 (with the same limits on the server).
#[derive(Debug, Default)]
pub struct SlidingWindowLimiter {
    overrides: Mutex<HashMap<String, RateLimits>>,
    buckets: Mutex<HashMap<(&'static str, &'static str), VecDeque<Instant>>>,
}

impl SlidingWindowLimiter {
    /// A limiter using the spec's limits.
    pub fn new() -> Self {
        Self::default()
    }

    /// Replaces the limits of one group (`onlineSession`, `other`, ...).
    pub fn set_group_limits(&self, group: &str, limits: RateLimits) {
        self.overrides.lock().unwrap_or_else(std::sync::PoisonError::into_inner).insert(group.to_owned(), limits);
    }

    /// Replaces the limits of every group `GET /rate-limits` returned. Values `<= 0` mean "no
    /// limit in that window" (per second: 1).
    pub fn set_effective_limits(&self, limits: &ksef_model::types::EffectiveApiRateLimits) {
        RateLimiter::set_effective_limits(self, limits);
    }
}

impl SlidingWindowLimiter {
    fn apply_effective_limits(&self, limits: &ksef_model::types::EffectiveApiRateLimits) {
        let Ok(serde_json::Value::Object(groups)) = serde_json::to_value(limits) else { return };
        for (group, v) in groups {
            let get = |k: &str| v.get(k).and_then(serde_json::Value::as_i64).unwrap_or(0);
            let pos = |x: i64| u32::try_from(x).ok().filter(|x| *x > 0);
            let limits = RateLimits {
                per_second: pos(get("perSecond")).unwrap_or(1),
                per_minute: pos(get("perMinute")),
                per_hour: pos(get("perHour")),
            };
            self.set_group_limits(&group, limits);
        }
    }

    /// The limits in force for `spec`.
    pub fn limits_for(&self, spec: &OperationSpec) -> RateLimits {
        self.overrides
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .get(spec.rate_limit_group)
            .copied()
            .unwrap_or(spec.rate_limits)
    }
}

/// The instant at or after `from` when one more request fits all windows, given the sorted past
/// slots `slots`.
fn next_slot(slots: &VecDeque<Instant>, from: Instant, windows: &[(Duration, u32)]) -> Instant {
    let mut t = from;
    loop {
        let mut moved = false;
        for &(w, limit) in windows {
            let limit = limit as usize;
            let in_window = slots.iter().rev().take_while(|e| **e + w > t).count();
            if limit > 0 && in_window >= limit {
                let candidate = slots[slots.len() - limit] + w;
                if candidate > t {
                    t = candidate;
                    moved = true;
                }
            }
        }
        if !moved {
            return t;
        }
    }
}

impl RateLimiter for SlidingWindowLimiter {
    fn reserve(&self, spec: &OperationSpec, now: Instant) -> Instant {
        let l = self.limits_for(spec);
        let mut windows = vec![(Duration::from_secs(1), l.per_second)];
        windows.extend(l.per_minute.map(|m| (Duration::from_secs(60), m)));
        windows.extend(l.per_hour.map(|h| (Duration::from_secs(3600), h)));
        let mut buckets = self.buckets.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        let slots = buckets.entry(limiter_key(spec)).or_default();
        // Slots are handed out in order: never before the last one.
        let from = slots.back().map_or(now, |last| (*last).max(now));
        let t = next_slot(slots, from, &windows);
        slots.push_back(t);
        // Keep only what the largest window in force can still count.
        let horizon = windows.iter().map(|w| w.0).max().unwrap_or(Duration::from_secs(1));
        while slots.front().is_some_and(|e| *e + horizon <= t) {
            slots.pop_front();
        }
        t
    }

    fn set_effective_limits(&self, limits: &ksef_model::types::EffectiveApiRateLimits) {
        self.apply_effective_limits(limits);
    }
}
