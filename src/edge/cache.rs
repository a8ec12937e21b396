//! The verified-token caches: moka, keyed by the SHA-256 of the token (never the token itself), bounded in entries.
//!
//! A hit skips every signature check and introspection call. Each entry knows until when it may be used
//! (`valid_until`, decided against the injected clock: never past the token's `exp`); concurrent misses for one token
//! share a single computation.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use moka::future::Cache;
use moka::Expiry;
use prometheus::IntCounter;
use sha2::{Digest as _, Sha256};

use super::deny::{Denial, InvalidToken};
use super::identity::Identity;

/// The cache key: SHA-256 of the token.
pub type Digest = [u8; 32];

/// Hashes a token into its cache key.
pub fn digest(token: &str) -> Digest {
    Sha256::digest(token.as_bytes()).into()
}

/// A cached decision about one token.
#[derive(Debug)]
pub struct Entry {
    verdict: Result<Arc<Identity>, InvalidToken>,
    /// Last second (epoch) at which the entry may be used.
    valid_until: i64,
    ttl: Duration,
}

impl Entry {
    /// An accepted token, usable until `valid_until`.
    pub fn active(identity: Identity, valid_until: i64, now: i64) -> Self {
        Self::new(Ok(Arc::new(identity)), valid_until, now)
    }

    /// A refused token, remembered until `valid_until`.
    pub fn refused(reason: InvalidToken, valid_until: i64, now: i64) -> Self {
        Self::new(Err(reason), valid_until, now)
    }

    fn new(verdict: Result<Arc<Identity>, InvalidToken>, valid_until: i64, now: i64) -> Self {
        let ttl = Duration::from_secs(valid_until.saturating_sub(now).clamp(0, 86_400) as u64);
        Entry { verdict, valid_until, ttl }
    }

    fn usable(&self, now: i64) -> bool {
        now < self.valid_until
    }

    fn verdict(&self) -> Result<Arc<Identity>, Denial> {
        self.verdict.clone().map_err(Denial::InvalidToken)
    }
}

struct ByEntry;

impl Expiry<Digest, Arc<Entry>> for ByEntry {
    fn expire_after_create(&self, _: &Digest, e: &Arc<Entry>, _: std::time::Instant) -> Option<Duration> {
        Some(e.ttl)
    }
}

/// One cache (the edge keeps one for JWTs and one for opaque tokens).
pub struct TokenCache {
    cache: Cache<Digest, Arc<Entry>>,
    hit: IntCounter,
    miss: IntCounter,
}

impl TokenCache {
    /// A cache of at most `capacity` entries, counting hits and misses.
    pub fn new(capacity: u64, hit: IntCounter, miss: IntCounter) -> Self {
        TokenCache { cache: Cache::builder().max_capacity(capacity).expire_after(ByEntry).build(), hit, miss }
    }

    /// Approximate number of entries.
    pub fn entry_count(&self) -> u64 {
        self.cache.entry_count()
    }

    /// Runs pending evictions (tests and metrics).
    pub async fn sync(&self) {
        self.cache.run_pending_tasks().await;
    }

    /// The cached decision for `key`, or the result of `compute`, shared with every concurrent caller for the same
    /// key. `compute` returns `Err` for failures that must not be cached (a dependency down, a time-dependent
    /// refusal).
    pub async fn get_or_compute<F, Fut>(&self, key: Digest, now: i64, compute: F) -> Result<Arc<Identity>, Denial>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<Entry, Denial>>,
    {
        if let Some(e) = self.cache.get(&key).await {
            if e.usable(now) {
                self.hit.inc();
                return e.verdict();
            }
            self.cache.invalidate(&key).await;
        }
        self.miss.inc();
        let entry = self
            .cache
            .try_get_with(key, async { compute().await.map(Arc::new) })
            .await
            .map_err(|e: Arc<Denial>| (*e).clone())?;
        if entry.usable(now) {
            entry.verdict()
        } else {
            // A concurrent caller stored an entry that is already stale for this clock: treat as expired.
            self.cache.invalidate(&key).await;
            Err(InvalidToken::Expired.into())
        }
    }
}
