//! Slows down guessing: after a few failures for a key (a user, a client, an address), each further attempt waits
//! longer, up to 8 seconds, until 15 minutes pass without failure.

use std::time::Duration;

const FREE_ATTEMPTS: u32 = 3;
const MAX_DELAY: Duration = Duration::from_secs(8);

/// Failure counters.
pub struct Throttle {
    failures: moka::sync::Cache<String, u32>,
}

impl Throttle {
    /// Empty counters.
    pub fn new() -> Self {
        Throttle {
            failures: moka::sync::Cache::builder().max_capacity(100_000).time_to_idle(Duration::from_secs(900)).build(),
        }
    }

    /// The delay owed by the worst of `keys`.
    pub fn delay(&self, keys: &[String]) -> Duration {
        let n = keys.iter().filter_map(|k| self.failures.get(k)).max().unwrap_or(0);
        if n < FREE_ATTEMPTS {
            return Duration::ZERO;
        }
        let shift = (n - FREE_ATTEMPTS).min(5);
        (Duration::from_millis(250) * (1 << shift)).min(MAX_DELAY)
    }

    /// Waits the delay owed by `keys`.
    pub async fn wait(&self, keys: &[String]) {
        let d = self.delay(keys);
        if !d.is_zero() {
            tracing::warn!(delay_ms = d.as_millis() as u64, "slowing down repeated failures");
            tokio::time::sleep(d).await;
        }
    }

    /// Counts a failure for each key.
    pub fn failure(&self, keys: &[String]) {
        for k in keys {
            let n = self.failures.get(k).unwrap_or(0);
            self.failures.insert(k.clone(), n.saturating_add(1));
        }
    }

    /// Forgets the failures of `keys`.
    pub fn success(&self, keys: &[String]) {
        for k in keys {
            self.failures.invalidate(k);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delay_grows_after_free_attempts() {
        let t = Throttle::new();
        let k = vec!["user:a".to_string()];
        for _ in 0..3 {
            assert_eq!(t.delay(&k), Duration::ZERO);
            t.failure(&k);
        }
        assert_eq!(t.delay(&k), Duration::from_millis(250));
        t.failure(&k);
        assert_eq!(t.delay(&k), Duration::from_millis(500));
        for _ in 0..10 {
            t.failure(&k);
        }
        assert_eq!(t.delay(&k), MAX_DELAY);
        t.success(&k);
        assert_eq!(t.delay(&k), Duration::ZERO);
    }
}
