//! Refuses guessing at once: every attempt on a key (a user at an address, an address, a client) counts as a failure
//! until it succeeds; after a few, further attempts are refused without any work (the caller answers 429 with
//! `Retry-After`) until a delay has passed since the last failure, doubling with each failure up to 5 minutes.
//! Nothing sleeps, so parallel guesses are refused as fast as serial ones.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::clock::Clock;

/// Longest delay owed after repeated failures.
pub const MAX_DELAY_SECS: i64 = 300;
/// Counters are forgotten after this long without an attempt.
const FORGET_AFTER: Duration = Duration::from_secs(900);

/// A throttled key and how many failures it may have before attempts are refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Key {
    name: String,
    free: u32,
    /// Whether attempts still running count as failures (passwords, which can be guessed), or only failures do
    /// (client secrets: 256 random bits, and many concurrent token requests of one client are normal).
    count_in_flight: bool,
}

impl Key {
    /// A key allowing `free` failures before it is slowed, counting running attempts as failures.
    pub fn new(name: impl Into<String>, free: u32) -> Self {
        Key { name: name.into(), free, count_in_flight: true }
    }

    /// A key allowing `free` failures, where only failures count: concurrent attempts never make each other wait.
    pub fn failures_only(name: impl Into<String>, free: u32) -> Self {
        Key { name: name.into(), free, count_in_flight: false }
    }
}

#[derive(Debug, Clone, Copy, Default)]
struct Count {
    failures: u32,
    in_flight: u32,
    last_failure: i64,
}

/// Failure counters.
pub struct Throttle {
    counts: moka::sync::Cache<String, Count>,
    /// Held only while reading and writing counters, never across work.
    lock: Mutex<()>,
    clock: Arc<dyn Clock>,
}

/// An attempt allowed by [`Throttle::begin`]: call [`Attempt::succeeded`] or [`Attempt::failed`]; dropped
/// unfinished, it counts as failed.
pub struct Attempt<'a> {
    throttle: &'a Throttle,
    keys: Vec<Key>,
    done: bool,
}

/// The delay owed after `failures` failures on a key allowing `free`: none within the free ones, then 1 s doubling.
fn delay(failures: u32, free: u32) -> i64 {
    if failures < free {
        return 0;
    }
    (1i64 << (failures - free).min(9)).min(MAX_DELAY_SECS)
}

impl Throttle {
    /// Empty counters; delays by `clock`.
    pub fn new(clock: Arc<dyn Clock>) -> Self {
        Throttle {
            counts: moka::sync::Cache::builder().max_capacity(100_000).time_to_idle(FORGET_AFTER).build(),
            lock: Mutex::new(()),
            clock,
        }
    }

    fn guard(&self) -> std::sync::MutexGuard<'_, ()> {
        self.lock.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Seconds to wait before `key` may be tried again given what is counted, ignoring attempts in flight.
    fn owed(&self, c: &Count, free: u32, now: i64) -> i64 {
        (c.last_failure + delay(c.failures, free) - now).max(0)
    }

    /// Starts an attempt on every one of `keys`, or refuses it at once with the seconds to wait (at least 1). While
    /// the attempt runs it counts as a failure, so parallel attempts cannot all slip in before the first fails.
    pub fn begin(&self, keys: Vec<Key>) -> Result<Attempt<'_>, u64> {
        let _g = self.guard();
        let now = self.clock.now();
        let mut wait = 0i64;
        for k in &keys {
            let c = self.counts.get(&k.name).unwrap_or_default();
            let in_flight = if k.count_in_flight { c.in_flight } else { 0 };
            if c.failures + in_flight >= k.free {
                // Over the free attempts: one at a time, and only once the delay since the last failure is over.
                let owed = self.owed(&c, k.free, now);
                wait = wait.max(if in_flight > 0 { owed.max(1) } else { owed });
            }
        }
        if wait > 0 {
            return Err(wait as u64);
        }
        for k in &keys {
            let mut c = self.counts.get(&k.name).unwrap_or_default();
            c.in_flight += 1;
            self.counts.insert(k.name.clone(), c);
        }
        Ok(Attempt { throttle: self, keys, done: false })
    }

    /// Ends an attempt: `Some(true)` succeeded, `Some(false)` failed, `None` was not made (no slot, for instance).
    fn finish(&self, keys: &[Key], ok: Option<bool>) {
        let _g = self.guard();
        let now = self.clock.now();
        for (i, k) in keys.iter().enumerate() {
            let mut c = self.counts.get(&k.name).unwrap_or_default();
            c.in_flight = c.in_flight.saturating_sub(1);
            if ok == Some(true) && i == 0 {
                // Success forgets the first (most specific) key's failures; wider keys keep theirs.
                c.failures = 0;
            } else if ok == Some(false) {
                c.failures = c.failures.saturating_add(1);
                c.last_failure = now;
            }
            self.counts.insert(k.name.clone(), c);
        }
    }
}

impl Attempt<'_> {
    /// Checks again (after a wait, for instance for a hashing slot) that no key became over its limit meanwhile;
    /// `Err` with the seconds to wait when one did (the attempt then counts as failed).
    pub fn recheck(&mut self) -> Result<(), u64> {
        let t = self.throttle;
        let wait = {
            let _g = t.guard();
            let now = t.clock.now();
            self.keys.iter().filter_map(|k| t.counts.get(&k.name).map(|c| t.owed(&c, k.free, now))).max().unwrap_or(0)
        };
        if wait > 0 {
            self.failed();
            return Err(wait as u64);
        }
        Ok(())
    }

    /// The attempt succeeded.
    pub fn succeeded(mut self) {
        self.done = true;
        self.throttle.finish(&self.keys, Some(true));
    }

    /// The attempt could not be made (no capacity): it counts neither way.
    pub fn abandoned(mut self) {
        self.done = true;
        self.throttle.finish(&self.keys, None);
    }

    /// The attempt failed.
    pub fn failed(&mut self) {
        if !self.done {
            self.done = true;
            self.throttle.finish(&self.keys, Some(false));
        }
    }
}

impl Drop for Attempt<'_> {
    fn drop(&mut self) {
        self.failed();
    }
}

/// The sign-in page's answer when a password was not checked: an HTML error page, 429 when throttled or 503 when
/// every hashing slot is busy, with `Retry-After`.
pub fn refused_page(e: &crate::registry::RegistryError) -> axum::response::Response {
    use crate::registry::RegistryError;
    let (status, secs, text) = match e {
        RegistryError::Throttled(secs) => (
            http::StatusCode::TOO_MANY_REQUESTS,
            *secs,
            format!("Too many failed sign-ins. Wait {secs} seconds, then try again."),
        ),
        _ => (http::StatusCode::SERVICE_UNAVAILABLE, 1, "The server is busy. Try again in a moment.".to_string()),
    };
    let mut r = super::pages::error(status, &text);
    r.headers_mut().insert(http::header::RETRY_AFTER, http::HeaderValue::from(secs));
    r
}

/// The part of a client address failures are counted on: an IPv4 address, or an IPv6 /64 (one host usually holds a
/// whole /64, so counting single IPv6 addresses would count nothing).
pub fn address_key(ip: Option<std::net::IpAddr>) -> String {
    match ip {
        Some(std::net::IpAddr::V4(v4)) => v4.to_string(),
        Some(std::net::IpAddr::V6(v6)) => match v6.to_ipv4_mapped() {
            Some(v4) => v4.to_string(),
            None => {
                let s = v6.segments();
                format!("{:x}:{:x}:{:x}:{:x}::/64", s[0], s[1], s[2], s[3])
            }
        },
        None => "unknown".into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::ManualClock;

    #[test]
    fn attempts_are_refused_at_once_after_the_free_ones_until_the_delay_passes() {
        let clock = ManualClock::new(1_000);
        let t = Throttle::new(Arc::new(clock.clone()));
        let k = || vec![Key::new("user:a", 3)];
        for _ in 0..3 {
            t.begin(k()).expect("free attempt").failed();
        }
        assert_eq!(t.begin(k()).err(), Some(1));
        clock.advance(1);
        t.begin(k()).expect("after the delay").failed();
        assert_eq!(t.begin(k()).err(), Some(2));
        clock.advance(2);
        t.begin(k()).expect("after the delay").succeeded();
        t.begin(k()).expect("success forgets").succeeded();
    }

    #[test]
    fn parallel_attempts_count_before_they_fail() {
        let t = Throttle::new(Arc::new(ManualClock::new(1_000)));
        let k = || vec![Key::new("user:a", 2), Key::new("ip:1", 10)];
        let a = t.begin(k()).expect("first");
        let b = t.begin(k()).expect("second");
        assert!(t.begin(k()).is_err(), "a third in parallel is refused");
        drop(a);
        let mut b = b;
        b.failed();
        assert!(t.begin(k()).is_err());
    }

    #[test]
    fn ipv6_addresses_count_per_64() {
        let a: std::net::IpAddr = "2001:db8:1:2:3:4:5:6".parse().unwrap();
        let b: std::net::IpAddr = "2001:db8:1:2:ffff::1".parse().unwrap();
        assert_eq!(address_key(Some(a)), address_key(Some(b)));
        assert_eq!(address_key(Some("10.0.0.1".parse().unwrap())), "10.0.0.1");
    }
}
