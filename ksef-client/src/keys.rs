//! KSeF's public-key certificates, cached and refreshed before expiry or on exception 21470.

use std::sync::{Mutex, PoisonError};
use std::time::Duration;

use ksef_crypto::{KeyUsage, KsefPublicKey, UnixTime, select_key};
use ksef_model::operations::GetPublicKeyCertificates;
use ksef_transport::{AsyncTransport, SyncTransport};

use crate::KsefClient;
use crate::error::Error;

/// The exception code KSeF returns for an unknown or withdrawn `publicKeyId`.
pub const UNKNOWN_PUBLIC_KEY: i32 = 21470;

/// Cached `GET /security/public-key-certificates`.
#[derive(Debug)]
pub struct KeyCache {
    keys: Mutex<Vec<KsefPublicKey>>,
    margin: Duration,
}

impl KeyCache {
    pub(crate) fn new(margin: Duration) -> Self {
        Self { keys: Mutex::new(Vec::new()), margin }
    }

    /// The cached key for `usage`, if one is valid now and for longer than the margin.
    fn cached(&self, usage: KeyUsage) -> Option<KsefPublicKey> {
        let keys = self.keys.lock().unwrap_or_else(PoisonError::into_inner);
        let now = UnixTime::now();
        let later = UnixTime::from_secs(now.as_secs() + self.margin.as_secs());
        let k = select_key(&keys, usage, now).ok()?;
        k.certificate().is_valid_at(later).then(|| k.clone())
    }

    fn store(&self, keys: Vec<KsefPublicKey>) {
        *self.keys.lock().unwrap_or_else(PoisonError::into_inner) = keys;
    }

    /// Forgets the cached certificates.
    pub fn invalidate(&self) {
        self.keys.lock().unwrap_or_else(PoisonError::into_inner).clear();
    }
}

fn parse(list: Vec<ksef_model::types::PublicKeyCertificate>) -> Result<Vec<KsefPublicKey>, Error> {
    list.iter()
        .map(|c| {
            let usages: Vec<String> = c.usage.iter().map(ToString::to_string).collect();
            KsefPublicKey::from_json_fields(&c.certificate, usages.iter().map(String::as_str)).map_err(Error::from)
        })
        .collect()
}

fn pick(keys: &[KsefPublicKey], usage: KeyUsage) -> Result<KsefPublicKey, Error> {
    Ok(select_key(keys, usage, UnixTime::now())?.clone())
}

impl<T: SyncTransport> KsefClient<T> {
    /// The public key for `usage` (cached; refetched when missing or expiring).
    pub fn public_key_blocking(&self, usage: KeyUsage) -> Result<KsefPublicKey, Error> {
        if let Some(k) = self.inner.keys.cached(usage) {
            return Ok(k);
        }
        let list = self.call_blocking::<GetPublicKeyCertificates>(&(), ())?.value;
        let keys = parse(list)?;
        let k = pick(&keys, usage)?;
        self.inner.keys.store(keys);
        Ok(k)
    }

    /// Runs `f` with the key for `usage`; on exception 21470 refetches the keys and runs it
    /// once more.
    pub(crate) fn with_key_blocking<R>(
        &self,
        usage: KeyUsage,
        mut f: impl FnMut(&KsefPublicKey) -> Result<R, Error>,
    ) -> Result<R, Error> {
        let key = self.public_key_blocking(usage)?;
        match f(&key) {
            Err(e) if e.exception_codes().contains(&UNKNOWN_PUBLIC_KEY) => {
                tracing::warn!("publicKeyId refused (21470); refetching the public-key certificates");
                self.inner.keys.invalidate();
                let key = self.public_key_blocking(usage)?;
                f(&key)
            }
            r => r,
        }
    }
}

impl<T: AsyncTransport + Sync> KsefClient<T> {
    /// Async [`Self::public_key_blocking`].
    pub async fn public_key(&self, usage: KeyUsage) -> Result<KsefPublicKey, Error> {
        if let Some(k) = self.inner.keys.cached(usage) {
            return Ok(k);
        }
        let list = self.call::<GetPublicKeyCertificates>(&(), ()).await?.value;
        let keys = parse(list)?;
        let k = pick(&keys, usage)?;
        self.inner.keys.store(keys);
        Ok(k)
    }

    /// Forgets the cached public keys (the next use refetches them).
    pub fn invalidate_public_keys(&self) {
        self.inner.keys.invalidate();
    }
}
