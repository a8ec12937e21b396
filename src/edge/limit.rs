//! Per-caller rate limits (GCRA, from the governor crate): each route with `rate_limit` keeps one bucket per caller,
//! the token's client id (or subject), or the client address on public routes. Refusals are RFC 6585 `429` with
//! `Retry-After`. Callers idle for a whole period are forgotten once per period, so memory follows the callers of
//! the last period, not every caller ever seen.

use std::num::NonZeroU32;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use governor::clock::{Clock as _, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};

use super::config::RateLimit;

/// One route's limiter.
pub struct Limiter {
    inner: DefaultKeyedRateLimiter<Box<str>>,
    clock: DefaultClock,
    /// When the limiter was made, the origin of `forgotten_at`.
    born: Instant,
    /// Milliseconds after `born` of the last pass that forgot idle callers.
    forgotten_at: AtomicU64,
    /// How often idle callers are forgotten: the quota's period (between 1 s and 60 s).
    forget_every: Duration,
}

impl std::fmt::Debug for Limiter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Limiter").field("callers", &self.inner.len()).finish()
    }
}

impl Limiter {
    /// A limiter allowing `limit.requests` per `limit.per`, in bursts of up to `limit.requests`.
    pub fn new(limit: RateLimit) -> Self {
        let n = NonZeroU32::new(limit.requests).unwrap_or(NonZeroU32::MIN);
        let quota = Quota::with_period(limit.per / n.get()).unwrap_or_else(|| Quota::per_second(n)).allow_burst(n);
        Limiter {
            inner: RateLimiter::keyed(quota),
            clock: DefaultClock::default(),
            born: Instant::now(),
            forgotten_at: AtomicU64::new(0),
            forget_every: limit.per.clamp(Duration::from_secs(1), Duration::from_secs(60)),
        }
    }

    /// Callers currently remembered.
    pub fn callers(&self) -> usize {
        self.inner.len()
    }

    /// `Ok` if `caller` may make a request now, else how long to wait.
    pub fn check(&self, caller: &str) -> Result<(), Duration> {
        let now = self.born.elapsed().as_millis() as u64;
        let last = self.forgotten_at.load(Ordering::Relaxed);
        if now.saturating_sub(last) >= self.forget_every.as_millis() as u64
            && self.forgotten_at.compare_exchange(last, now, Ordering::AcqRel, Ordering::Relaxed).is_ok()
        {
            self.forget_idle();
        }
        // Look up with a borrowed key first would need a second map; the boxed key is one small allocation.
        self.inner.check_key(&Box::from(caller)).map_err(|not_until| not_until.wait_time_from(self.clock.now()))
    }

    /// Forgets callers whose buckets are full again (bounded memory).
    pub fn forget_idle(&self) {
        self.inner.retain_recent();
        self.inner.shrink_to_fit();
    }
}
