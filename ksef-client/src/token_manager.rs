//! Access and refresh tokens: held zeroized, refreshed before expiry, one refresh at a time.

use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use chrono::{DateTime, Utc};
use ksef_transport::SecretToken;

/// Tokens from `POST /auth/token/redeem`.
#[derive(Clone, Debug)]
pub struct AuthTokens {
    /// The access token.
    pub access: SecretToken,
    /// Its `validUntil`.
    pub access_valid_until: DateTime<Utc>,
    /// The refresh token.
    pub refresh: SecretToken,
    /// Its `validUntil`.
    pub refresh_valid_until: DateTime<Utc>,
}

#[derive(Debug, Default)]
struct State {
    access: Option<(SecretToken, DateTime<Utc>)>,
    refresh: Option<(SecretToken, DateTime<Utc>)>,
}

/// Holds the client's tokens. The refresh itself is done by [`crate::KsefClient`]: its
/// blocking path serializes refreshes with a `std::sync::Mutex` gate, its async path with a
/// `tokio::sync::Mutex` gate, and both re-check the token after taking the gate, so
/// concurrent callers trigger one refresh.
pub struct TokenManager {
    state: Mutex<State>,
    margin: Duration,
    blocking_gate: Mutex<()>,
    async_gate: tokio::sync::Mutex<()>,
}

impl core::fmt::Debug for TokenManager {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        let s = self.lock();
        f.debug_struct("TokenManager")
            .field("access_valid_until", &s.access.as_ref().map(|a| a.1))
            .field("refresh_valid_until", &s.refresh.as_ref().map(|a| a.1))
            .field("margin", &self.margin)
            .finish()
    }
}

impl TokenManager {
    pub(crate) fn new(margin: Duration) -> Self {
        Self {
            state: Mutex::new(State::default()),
            margin,
            blocking_gate: Mutex::new(()),
            async_gate: tokio::sync::Mutex::new(()),
        }
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn margin(&self) -> chrono::Duration {
        chrono::Duration::from_std(self.margin).unwrap_or(chrono::Duration::zero())
    }

    /// Stores a fresh set of tokens.
    pub fn set(&self, tokens: AuthTokens) {
        let mut s = self.lock();
        s.access = Some((tokens.access, tokens.access_valid_until));
        s.refresh = Some((tokens.refresh, tokens.refresh_valid_until));
    }

    /// Replaces the access token (after a refresh).
    pub fn set_access(&self, token: SecretToken, valid_until: DateTime<Utc>) {
        self.lock().access = Some((token, valid_until));
    }

    /// Forgets every token.
    pub fn clear(&self) {
        let mut s = self.lock();
        s.access = None;
        s.refresh = None;
    }

    /// The access token if it is valid for longer than the margin at `now`.
    pub fn fresh_access(&self, now: DateTime<Utc>) -> Option<SecretToken> {
        let s = self.lock();
        s.access.as_ref().filter(|(_, until)| *until - self.margin() > now).map(|(t, _)| t.clone())
    }

    /// The access token if it has not expired at `now`, margin or not (right after a login or
    /// refresh: a token shorter-lived than the margin is still the one to use).
    pub fn unexpired_access(&self, now: DateTime<Utc>) -> Option<SecretToken> {
        let s = self.lock();
        s.access.as_ref().filter(|(_, until)| *until > now).map(|(t, _)| t.clone())
    }

    /// The refresh token if it has not expired at `now`.
    pub fn usable_refresh(&self, now: DateTime<Utc>) -> Option<SecretToken> {
        let s = self.lock();
        s.refresh.as_ref().filter(|(_, until)| *until > now).map(|(t, _)| t.clone())
    }

    /// `validUntil` of the access token.
    pub fn access_valid_until(&self) -> Option<DateTime<Utc>> {
        self.lock().access.as_ref().map(|a| a.1)
    }

    /// `validUntil` of the refresh token.
    pub fn refresh_valid_until(&self) -> Option<DateTime<Utc>> {
        self.lock().refresh.as_ref().map(|a| a.1)
    }

    /// Drops the access token if it is still `token` (KSeF answered 401 to it).
    pub fn invalidate_access(&self, token: &SecretToken) {
        let mut s = self.lock();
        if s.access.as_ref().is_some_and(|(t, _)| t == token) {
            s.access = None;
        }
    }

    /// Drops the refresh token (forces re-authentication on the next expiry).
    pub fn invalidate_refresh(&self) {
        self.lock().refresh = None;
    }

    pub(crate) fn blocking_gate(&self) -> MutexGuard<'_, ()> {
        self.blocking_gate.lock().unwrap_or_else(PoisonError::into_inner)
    }

    pub(crate) async fn async_gate(&self) -> tokio::sync::MutexGuard<'_, ()> {
        self.async_gate.lock().await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn margin_and_invalidation() {
        let tm = TokenManager::new(Duration::from_secs(60));
        let now = Utc::now();
        assert!(tm.fresh_access(now).is_none());
        tm.set(AuthTokens {
            access: "a".into(),
            access_valid_until: now + chrono::Duration::seconds(90),
            refresh: "r".into(),
            refresh_valid_until: now + chrono::Duration::days(1),
        });
        assert_eq!(tm.fresh_access(now).unwrap().expose_secret(), "a");
        assert!(tm.fresh_access(now + chrono::Duration::seconds(31)).is_none(), "inside the margin");
        // ...but still the token to use right after a login that gave a short-lived one.
        assert!(tm.unexpired_access(now + chrono::Duration::seconds(31)).is_some());
        assert!(tm.unexpired_access(now + chrono::Duration::seconds(91)).is_none(), "expired");
        tm.invalidate_access(&"other".into());
        assert!(tm.fresh_access(now).is_some());
        tm.invalidate_access(&"a".into());
        assert!(tm.fresh_access(now).is_none());
        assert!(tm.usable_refresh(now).is_some());
        assert!(tm.usable_refresh(now + chrono::Duration::days(2)).is_none());
        assert!(!format!("{tm:?}").contains("\"a\""));
    }
}
