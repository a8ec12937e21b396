//! The one place passwords are hashed and checked. Argon2 holds about 19 MiB and a core for a while, so at most one
//! hash runs per core, a bounded queue waits for a slot, and beyond it the caller is told to come back
//! ([`Refusal::Busy`], answered 503). Guessing is throttled before any hashing: failures count per (user, client
//! address) and per client address, never per user alone, so an attacker elsewhere cannot lock a chosen user out for
//! everyone. The counters are in memory, per instance.

use std::net::IpAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use tokio::sync::Semaphore;

use crate::authz::throttle::{address_key, Key, Throttle};
use crate::clock::Clock;

/// Failures allowed for one user from one address before attempts are refused for a while.
pub const FREE_FAILURES_PER_USER_AND_ADDRESS: u32 = 5;
/// Failures allowed from one address (whatever the users) before attempts are refused for a while.
pub const FREE_FAILURES_PER_ADDRESS: u32 = 20;
/// How many checks may wait for a hashing slot, per slot.
const QUEUE_PER_SLOT: usize = 4;

/// Why a password was not checked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// Too many failures for this user at this address, or from this address: retry after this many seconds (429).
    Throttled(u64),
    /// Every hashing slot is busy and the queue is full (503).
    Busy,
}

/// Bounded password hashing, and the throttle on checks.
pub struct Passwords {
    slots: Semaphore,
    capacity: usize,
    waiting: AtomicUsize,
    max_waiting: usize,
    running: AtomicUsize,
    peak: AtomicUsize,
    throttle: Throttle,
}

/// Counts a check waiting for a slot while it lives (also when the waiting request is dropped).
struct Waiting<'a>(&'a Passwords);

impl Drop for Waiting<'_> {
    fn drop(&mut self) {
        self.0.waiting.fetch_sub(1, Ordering::AcqRel);
    }
}

/// Counts a running hash while it lives.
struct Running<'a>(&'a Passwords);

impl Drop for Running<'_> {
    fn drop(&mut self) {
        self.0.running.fetch_sub(1, Ordering::AcqRel);
    }
}

impl Passwords {
    /// One hashing slot per core.
    pub fn new(clock: Arc<dyn Clock>) -> Self {
        let capacity = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(2);
        Passwords {
            slots: Semaphore::new(capacity),
            capacity,
            waiting: AtomicUsize::new(0),
            max_waiting: capacity * QUEUE_PER_SLOT,
            running: AtomicUsize::new(0),
            peak: AtomicUsize::new(0),
            throttle: Throttle::new(clock),
        }
    }

    /// How many hashes may run at once.
    pub fn capacity(&self) -> usize {
        self.capacity
    }

    /// The most hashes that ever ran at once in this process.
    pub fn peak(&self) -> usize {
        self.peak.load(Ordering::Acquire)
    }

    /// A hashing slot: at once when one is free, else after waiting in the bounded queue.
    async fn slot(&self) -> Result<tokio::sync::SemaphorePermit<'_>, Refusal> {
        if let Ok(p) = self.slots.try_acquire() {
            return Ok(p);
        }
        if self.waiting.fetch_add(1, Ordering::AcqRel) >= self.max_waiting {
            self.waiting.fetch_sub(1, Ordering::AcqRel);
            return Err(Refusal::Busy);
        }
        let _waiting = Waiting(self);
        self.slots.acquire().await.map_err(|_| Refusal::Busy)
    }

    /// Runs `work` (a hash or a verification) on a blocking thread, in a slot already held, counting it.
    async fn run<T: Send + 'static>(&self, work: impl FnOnce() -> T + Send + 'static) -> Result<T, Refusal> {
        let now = self.running.fetch_add(1, Ordering::AcqRel) + 1;
        self.peak.fetch_max(now, Ordering::AcqRel);
        let _running = Running(self);
        tokio::task::spawn_blocking(work).await.map_err(|_| Refusal::Busy)
    }

    /// An Argon2id hash of a new password.
    pub async fn hash(&self, password: &str) -> Result<String, Refusal> {
        let _slot = self.slot().await?;
        let password = password.to_string();
        self.run(move || super::credentials::hash_password(&password)).await
    }

    fn keys(username: &str, ip: Option<IpAddr>) -> Vec<Key> {
        let address = address_key(ip);
        vec![
            Key::new(format!("password:{username}@{address}"), FREE_FAILURES_PER_USER_AND_ADDRESS),
            Key::new(format!("password-address:{address}"), FREE_FAILURES_PER_ADDRESS),
        ]
    }

    /// Checks `password` against `phc` for `username` at `ip` (with no `phc`, for a user who does not exist, against a
    /// dummy hash, so that it takes as long): throttled first, then in a hashing slot, then the throttle checked again
    /// (failures may have piled up while this one waited). `Ok(true)` when it matches. A match counts as a failure
    /// all the same unless `eligible` (the user may sign in there), so that trying again is throttled alike.
    pub async fn check(
        &self,
        username: &str,
        ip: Option<IpAddr>,
        password: &str,
        phc: Option<String>,
        eligible: bool,
    ) -> Result<bool, Refusal> {
        let mut attempt = self.throttle.begin(Self::keys(username, ip)).map_err(Refusal::Throttled)?;
        // The re-check runs once a slot is held and before the hash, so a refused attempt costs no hashing.
        let _slot = match self.slot().await {
            Ok(s) => s,
            Err(e) => {
                attempt.abandoned();
                return Err(e);
            }
        };
        attempt.recheck().map_err(Refusal::Throttled)?;
        let password = password.to_string();
        let ok = self
            .run(move || {
                let phc = phc.unwrap_or_else(|| super::credentials::dummy_password_hash().to_string());
                super::credentials::verify_password(&password, &phc)
            })
            .await?;
        if ok && eligible {
            attempt.succeeded();
        } else {
            attempt.failed();
        }
        Ok(ok)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::ManualClock;

    #[tokio::test]
    async fn beyond_the_slots_and_the_queue_a_check_is_refused_at_once() {
        let p = Arc::new(Passwords::new(Arc::new(ManualClock::new(1_000))));
        let held: Vec<_> = futures_util::future::join_all((0..p.capacity).map(|_| p.slot())).await;
        assert!(held.iter().all(Result::is_ok));
        let queued: Vec<_> = (0..p.max_waiting)
            .map(|_| {
                let p = p.clone();
                tokio::spawn(async move { p.slot().await.is_ok() })
            })
            .collect();
        while p.waiting.load(Ordering::Acquire) < p.max_waiting {
            tokio::task::yield_now().await;
        }
        assert_eq!(p.slot().await.err(), Some(Refusal::Busy));
        // Refused for want of a slot, again and again: not counted as failed guesses, so never throttled.
        for _ in 0..FREE_FAILURES_PER_USER_AND_ADDRESS + 1 {
            assert_eq!(p.check("alice", None, "guess", None, true).await, Err(Refusal::Busy));
        }
        drop(held);
        for q in queued {
            assert!(q.await.unwrap(), "a queued check gets a slot once one is free");
        }
        assert_eq!(p.check("alice", None, "guess", None, true).await, Ok(false));
    }
}
