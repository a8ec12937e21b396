//! RFC 7662 introspection of opaque tokens: one POST per token (the cache coalesces concurrent misses), the gateway
//! authenticated with `client_secret_basic`, the answer checked (`active`, `iss`, `aud`, `exp`, `nbf`) and turned into
//! a cache entry that lives `cache_ttl` (never past `exp`) or `negative_cache_ttl` when inactive.
//!
//! An issuer that fails is not hammered: at most [`MAX_CONCURRENT`] calls run at once (a bounded queue waits, `503`
//! beyond it), a failed lookup is remembered per token for [`FAILURE_MEMORY`], and after [`BREAKER_THRESHOLD`]
//! failures in a row a circuit breaker opens: requests are answered `503` at once, one probe per interval (doubling
//! from [`BREAKER_INITIAL`] to [`BREAKER_CAP`]) tests the issuer, and the first success closes it. Each change of the
//! breaker's state is logged once and shown in `tokengate_introspection_circuit_open`.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use http::HeaderValue;
use serde::Deserialize;

use super::cache::Entry;
use super::config::{IntrospectionConfig, IssuerConfig};
use super::deny::{Denial, InvalidToken, Unavailable};
use super::identity::Identity;
use super::keys::IssuerKeys;
use crate::metrics::EdgeMetrics;

const MAX_RESPONSE_BYTES: usize = 64 * 1024;
/// Introspection calls in flight per issuer at most.
pub const MAX_CONCURRENT: usize = 64;
/// Calls waiting for a slot at most; further ones are answered `503` at once.
pub const MAX_QUEUED: usize = 512;
/// How long a failed lookup of one token is answered from memory.
pub const FAILURE_MEMORY: Duration = Duration::from_millis(250);
/// Consecutive failures that open the breaker.
pub const BREAKER_THRESHOLD: u32 = 3;
/// The first interval between probes of an issuer whose breaker is open.
pub const BREAKER_INITIAL: Duration = Duration::from_millis(100);
/// The longest interval between probes (recovery is seen within it).
pub const BREAKER_CAP: Duration = Duration::from_secs(1);

/// The circuit breaker's state.
#[derive(Debug, Default)]
struct Breaker {
    /// Failures in a row.
    failures: u32,
    /// While open: no call before this instant.
    open_until: Option<Instant>,
    /// The current interval between probes.
    interval: Duration,
    /// A probe is in flight.
    probing: bool,
}

/// What the breaker lets a call be.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Admit {
    Call,
    Probe,
    Refuse,
}

impl Breaker {
    fn admit(&mut self, now: Instant) -> Admit {
        match self.open_until {
            None => Admit::Call,
            Some(_) if self.probing => Admit::Refuse,
            Some(until) if now < until => Admit::Refuse,
            Some(_) => {
                self.probing = true;
                Admit::Probe
            }
        }
    }

    /// Records a success; `true` when it closed an open breaker.
    fn success(&mut self) -> bool {
        let was_open = self.open_until.is_some();
        *self = Breaker::default();
        was_open
    }

    /// Records a failure; `true` when it opened a closed breaker.
    fn failure(&mut self, now: Instant) -> bool {
        self.failures = self.failures.saturating_add(1);
        self.probing = false;
        let was_open = self.open_until.is_some();
        if was_open {
            self.interval = (self.interval * 2).min(BREAKER_CAP);
        } else if self.failures >= BREAKER_THRESHOLD {
            self.interval = BREAKER_INITIAL;
        } else {
            return false;
        }
        self.open_until = Some(now + self.interval);
        !was_open
    }
}

#[derive(Debug, Deserialize)]
#[serde(untagged)]
enum OneOrMany {
    One(String),
    Many(Vec<String>),
}

#[derive(Debug, Deserialize)]
struct Response {
    active: bool,
    scope: Option<String>,
    client_id: Option<String>,
    sub: Option<String>,
    username: Option<String>,
    exp: Option<f64>,
    nbf: Option<f64>,
    iss: Option<String>,
    aud: Option<OneOrMany>,
    jti: Option<String>,
    token_type: Option<String>,
}

/// Parses and judges an introspection answer as received (for fuzzing): the identity it grants, or why not.
#[doc(hidden)]
pub fn judge_response(issuer: &IssuerConfig, bytes: &[u8], now: i64) -> Result<Identity, InvalidToken> {
    let r: Response = serde_json::from_slice(bytes).map_err(|_| InvalidToken::Malformed)?;
    judge(issuer, &r, now)
}

/// Introspects opaque tokens at one issuer.
pub struct Introspector {
    issuer: IssuerConfig,
    cfg: IntrospectionConfig,
    keys: Arc<IssuerKeys>,
    authorization: HeaderValue,
    http: reqwest::Client,
    metrics: Arc<EdgeMetrics>,
    slots: tokio::sync::Semaphore,
    queued: AtomicUsize,
    breaker: Mutex<Breaker>,
    failed: moka::sync::Cache<super::cache::Digest, ()>,
}

fn form_encode(s: &str) -> String {
    url::form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

impl Introspector {
    /// An introspector for `issuer`, whose endpoint comes from the configuration or discovery (through `keys`).
    pub fn new(
        issuer: &IssuerConfig,
        keys: Arc<IssuerKeys>,
        http: reqwest::Client,
        metrics: Arc<EdgeMetrics>,
    ) -> Option<Self> {
        let cfg = issuer.introspection.clone()?;
        // RFC 6749 2.3.1: id and secret are form-encoded before Basic encoding.
        let creds = format!("{}:{}", form_encode(&cfg.client_id), form_encode(cfg.client_secret.expose()));
        let mut authorization = HeaderValue::from_str(&format!("Basic {}", STANDARD.encode(creds))).ok()?;
        authorization.set_sensitive(true);
        metrics.introspection_circuit(&issuer.issuer, false);
        Some(Introspector {
            issuer: issuer.clone(),
            cfg,
            keys,
            authorization,
            http,
            metrics,
            slots: tokio::sync::Semaphore::new(MAX_CONCURRENT),
            queued: AtomicUsize::new(0),
            breaker: Mutex::new(Breaker::default()),
            failed: moka::sync::Cache::builder().max_capacity(100_000).time_to_live(FAILURE_MEMORY).build(),
        })
    }

    /// Asks the issuer about `token`, within the call bound and the breaker. A failure to get a usable answer is
    /// `Unavailable`: not cached with the verdicts, only remembered for [`FAILURE_MEMORY`].
    pub async fn introspect(&self, token: &str, now: i64) -> Result<Entry, Denial> {
        let key = super::cache::digest(token);
        if self.failed.contains_key(&key) {
            return Err(Unavailable::Introspection.into());
        }
        let admit = self.breaker.lock().map(|mut b| b.admit(Instant::now())).unwrap_or(Admit::Refuse);
        if admit == Admit::Refuse {
            return Err(Unavailable::Introspection.into());
        }
        let result = self.call_within_bound(token, now).await;
        let mut breaker = match self.breaker.lock() {
            Ok(b) => b,
            Err(poisoned) => poisoned.into_inner(),
        };
        match &result {
            Err(Denial::Unavailable(Unavailable::IntrospectionBusy)) => {
                if admit == Admit::Probe {
                    breaker.probing = false;
                }
            }
            Err(Denial::Unavailable(_)) => {
                self.failed.insert(key, ());
                if breaker.failure(Instant::now()) {
                    tracing::warn!(issuer = %self.issuer.issuer, failures = BREAKER_THRESHOLD,
                        "introspection failing: calls suspended, probing the issuer");
                    self.metrics.introspection_circuit(&self.issuer.issuer, true);
                }
            }
            _ => {
                if breaker.success() {
                    tracing::info!(issuer = %self.issuer.issuer, "introspection recovered");
                    self.metrics.introspection_circuit(&self.issuer.issuer, false);
                }
            }
        }
        result
    }

    async fn call_within_bound(&self, token: &str, now: i64) -> Result<Entry, Denial> {
        let _permit = match self.slots.try_acquire() {
            Ok(p) => p,
            Err(_) => {
                if self.queued.fetch_add(1, Ordering::AcqRel) >= MAX_QUEUED {
                    self.queued.fetch_sub(1, Ordering::AcqRel);
                    return Err(Unavailable::IntrospectionBusy.into());
                }
                let waited = tokio::time::timeout(self.cfg.timeout, self.slots.acquire()).await;
                self.queued.fetch_sub(1, Ordering::AcqRel);
                match waited {
                    Ok(Ok(p)) => p,
                    _ => return Err(Unavailable::IntrospectionBusy.into()),
                }
            }
        };
        self.call(token, now).await
    }

    async fn call(&self, token: &str, now: i64) -> Result<Entry, Denial> {
        let Some(endpoint) = self.keys.introspection_endpoint() else {
            tracing::warn!(issuer = %self.issuer.issuer, "introspection endpoint not known yet (discovery pending)");
            return Err(Unavailable::Introspection.into());
        };
        let started = Instant::now();
        let sent = self
            .http
            .post((*endpoint).clone())
            .header(http::header::AUTHORIZATION, self.authorization.clone())
            .header(http::header::ACCEPT, "application/json")
            .form(&[("token", token), ("token_type_hint", "access_token")])
            .timeout(self.cfg.timeout)
            .send()
            .await;
        let result = match sent {
            Err(e) => Err(if e.is_timeout() { "timeout" } else { "error" }),
            Ok(resp) if resp.status() != reqwest::StatusCode::OK => {
                let status = resp.status().as_u16();
                self.metrics.introspection(&status.to_string());
                self.metrics.introspection_duration.observe(started.elapsed().as_secs_f64());
                tracing::debug!(issuer = %self.issuer.issuer, status, "introspection endpoint answered an error");
                return Err(Unavailable::Introspection.into());
            }
            Ok(resp) => match resp.bytes().await {
                Ok(b) if b.len() <= MAX_RESPONSE_BYTES => {
                    serde_json::from_slice::<Response>(&b).map_err(|_| "invalid_response")
                }
                Ok(_) => Err("invalid_response"),
                Err(e) => Err(if e.is_timeout() { "timeout" } else { "error" }),
            },
        };
        self.metrics.introspection_duration.observe(started.elapsed().as_secs_f64());
        let answer = match result {
            Ok(a) => {
                self.metrics.introspection("200");
                a
            }
            Err(kind) => {
                self.metrics.introspection(kind);
                tracing::debug!(issuer = %self.issuer.issuer, failure = kind, "introspection failed");
                return Err(Unavailable::Introspection.into());
            }
        };
        Ok(self.entry(answer, now))
    }

    fn entry(&self, r: Response, now: i64) -> Entry {
        let negative = now + self.cfg.negative_cache_ttl.as_secs() as i64;
        match self.judge(&r, now) {
            Ok(identity) => {
                let by_ttl = now + self.cfg.cache_ttl.as_secs() as i64;
                let until = match r.exp {
                    Some(exp) => by_ttl.min((exp as i64).saturating_add(1)),
                    None => by_ttl,
                };
                Entry::active(identity, until, now)
            }
            Err(InvalidToken::NotYetValid) => Entry::refused(InvalidToken::NotYetValid, now + 1, now),
            Err(reason) => Entry::refused(reason, negative, now),
        }
    }

    fn judge(&self, r: &Response, now: i64) -> Result<Identity, InvalidToken> {
        judge(&self.issuer, r, now)
    }
}

fn judge(issuer: &IssuerConfig, r: &Response, now: i64) -> Result<Identity, InvalidToken> {
    if !r.active || r.token_type.as_deref().is_some_and(|t| t.eq_ignore_ascii_case("refresh_token")) {
        return Err(InvalidToken::Inactive);
    }
    let iss = r.iss.as_deref().unwrap_or(&issuer.issuer);
    if iss != issuer.issuer {
        return Err(InvalidToken::UnknownIssuer);
    }
    let leeway = issuer.leeway_secs as f64;
    if r.exp.is_some_and(|exp| (now as f64) > exp + leeway) {
        return Err(InvalidToken::Expired);
    }
    if r.nbf.is_some_and(|nbf| nbf > now as f64 + leeway) {
        return Err(InvalidToken::NotYetValid);
    }
    let aud_ok = match &r.aud {
        None => true,
        Some(OneOrMany::One(a)) => issuer.audiences.iter().any(|x| x == a),
        Some(OneOrMany::Many(l)) => l.iter().any(|a| issuer.audiences.iter().any(|x| x == a)),
    };
    if !aud_ok {
        return Err(InvalidToken::Audience);
    }
    Identity::new(
        r.sub.as_deref().or(r.username.as_deref()),
        r.client_id.as_deref(),
        iss,
        r.scope.as_deref().unwrap_or_default().split(' '),
        r.exp.map(|e| e as i64),
        r.jti.as_deref(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn breaker_opens_after_failures_probes_once_and_closes_on_success() {
        let mut b = Breaker::default();
        let t0 = Instant::now();
        assert!(!b.failure(t0));
        assert!(!b.failure(t0));
        assert_eq!(b.admit(t0), Admit::Call);
        assert!(b.failure(t0), "the third failure opens it");
        assert_eq!(b.admit(t0), Admit::Refuse);
        let later = t0 + BREAKER_INITIAL;
        assert_eq!(b.admit(later), Admit::Probe);
        assert_eq!(b.admit(later), Admit::Refuse, "one probe at a time");
        assert!(!b.failure(later), "already open");
        assert_eq!(b.interval, BREAKER_INITIAL * 2);
        for _ in 0..10 {
            b.failure(later);
        }
        assert_eq!(b.interval, BREAKER_CAP);
        assert!(b.success());
        assert_eq!(b.admit(later), Admit::Call);
    }
}
