//! An issuer's signing keys: discovery (RFC 8414, then OpenID Connect), the JWKS fetched at start and refreshed in
//! the background as `Cache-Control` says, an unknown `kid` answered by at most one refetch per 30 seconds however
//! many such tokens arrive at once, and the last good set kept when a fetch fails.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use arc_swap::{ArcSwap, ArcSwapOption};
use jsonwebtoken::jwk::{AlgorithmParameters, Jwk, KeyAlgorithm, PublicKeyUse};
use jsonwebtoken::{Algorithm, DecodingKey};
use serde::Deserialize;
use url::Url;

use super::config::IssuerConfig;
use super::deny::{Denial, InvalidToken, Unavailable};
use crate::metrics::EdgeMetrics;

/// Least time between two refetches caused by unknown `kid`s.
pub const UNKNOWN_KID_REFETCH_INTERVAL: Duration = Duration::from_secs(30);
/// Bounds on the background refresh period taken from `Cache-Control: max-age`.
const MIN_REFRESH: Duration = Duration::from_secs(30);
const MAX_REFRESH: Duration = Duration::from_secs(86_400);
/// When to refetch after a successful fetch: as `Cache-Control: max-age` says, else every `default`; a `max-age` is
/// clamped to [`MIN_REFRESH`] (or the configured period, when an operator asked for more frequent refreshes) ..
/// [`MAX_REFRESH`], so an issuer answering `max-age=0` is not polled in a loop.
fn next_refresh(max_age: Option<Duration>, default: Duration) -> Duration {
    max_age.unwrap_or(default).clamp(MIN_REFRESH.min(default), MAX_REFRESH)
}

/// Largest JWKS or metadata document accepted.
const MAX_DOCUMENT_BYTES: usize = 512 * 1024;

/// The key family of an algorithm, to refuse a key used with another family's algorithm.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Family {
    Rsa,
    Ec,
    Ed,
}

fn family(alg: Algorithm) -> Option<Family> {
    use Algorithm::*;
    match alg {
        RS256 | RS384 | RS512 | PS256 | PS384 | PS512 => Some(Family::Rsa),
        ES256 | ES384 => Some(Family::Ec),
        EdDSA => Some(Family::Ed),
        _ => None,
    }
}

/// One public key from the issuer's JWKS.
pub struct Key {
    kid: Option<String>,
    key: DecodingKey,
    family: Family,
    /// The JWK's own `alg`, which the token's must then equal.
    alg: Option<Algorithm>,
}

impl Key {
    /// The decoding key, if `alg` may be used with it.
    pub fn for_alg(&self, alg: Algorithm) -> Option<&DecodingKey> {
        (family(alg) == Some(self.family) && self.alg.is_none_or(|a| a == alg)).then_some(&self.key)
    }
}

#[derive(Default)]
struct Keys {
    by_kid: HashMap<String, Arc<Key>>,
    all: Vec<Arc<Key>>,
}

/// What discovery found.
#[derive(Debug, Default, Clone, Deserialize)]
pub struct Metadata {
    /// `issuer`, which must equal the configured one.
    pub issuer: Option<String>,
    /// `jwks_uri`.
    pub jwks_uri: Option<String>,
    /// `introspection_endpoint`.
    pub introspection_endpoint: Option<String>,
}

/// A fetch that failed, for logs (never carries a token or secret).
#[derive(Debug, thiserror::Error)]
pub enum FetchError {
    /// Transport failure or timeout.
    #[error("request failed: {0}")]
    Transport(String),
    /// A status other than 200.
    #[error("answered HTTP {0}")]
    Status(u16),
    /// An answer that is not the expected JSON.
    #[error("invalid document: {0}")]
    Invalid(String),
}

/// GETs a JSON document, bounded in size. Returns it with its `Cache-Control: max-age`, if any.
async fn get_json<T: serde::de::DeserializeOwned>(
    http: &reqwest::Client,
    url: &Url,
) -> Result<(T, Option<Duration>), FetchError> {
    let resp = http
        .get(url.clone())
        .header(http::header::ACCEPT, "application/json")
        .send()
        .await
        .map_err(|e| FetchError::Transport(e.without_url().to_string()))?;
    if resp.status() != reqwest::StatusCode::OK {
        return Err(FetchError::Status(resp.status().as_u16()));
    }
    let max_age = resp.headers().get(http::header::CACHE_CONTROL).and_then(|v| v.to_str().ok()).and_then(max_age);
    let body = resp.bytes().await.map_err(|e| FetchError::Transport(e.without_url().to_string()))?;
    if body.len() > MAX_DOCUMENT_BYTES {
        return Err(FetchError::Invalid(format!("larger than {MAX_DOCUMENT_BYTES} bytes")));
    }
    let doc = serde_json::from_slice(&body).map_err(|e| FetchError::Invalid(e.to_string()))?;
    Ok((doc, max_age))
}

/// `max-age` from a `Cache-Control` value; `no-cache`/`no-store` count as zero.
fn max_age(v: &str) -> Option<Duration> {
    let mut out = None;
    for d in v.split(',').map(str::trim) {
        if d.eq_ignore_ascii_case("no-cache") || d.eq_ignore_ascii_case("no-store") {
            return Some(Duration::ZERO);
        }
        if let Some(n) = d.strip_prefix("max-age=").or_else(|| d.strip_prefix("s-maxage=")) {
            out = n.trim_matches('"').parse::<u64>().ok().map(Duration::from_secs).or(out);
        }
    }
    out
}

/// The metadata URLs for an issuer: RFC 8414 section 3.1 first, then OpenID Connect Discovery.
pub fn metadata_urls(issuer: &str) -> Vec<Url> {
    let Ok(base) = Url::parse(issuer) else { return Vec::new() };
    let path = base.path().trim_end_matches('/').to_string();
    let mut out = Vec::new();
    let mut oauth = base.clone();
    oauth.set_path(&format!("/.well-known/oauth-authorization-server{path}"));
    out.push(oauth);
    let mut oidc = base;
    oidc.set_path(&format!("{path}/.well-known/openid-configuration"));
    out.push(oidc);
    out
}

/// Fetches the issuer's metadata and checks that it names the same issuer (RFC 8414 section 3.3).
pub async fn discover(http: &reqwest::Client, issuer: &str, metrics: &EdgeMetrics) -> Result<Metadata, FetchError> {
    let mut last = FetchError::Invalid("no metadata URL".into());
    for url in metadata_urls(issuer) {
        match get_json::<Metadata>(http, &url).await {
            Ok((m, _)) if m.issuer.as_deref() == Some(issuer) => {
                metrics.fetch(issuer, "discovery", true);
                return Ok(m);
            }
            Ok((m, _)) => {
                last = FetchError::Invalid(format!("metadata names issuer {:?}, expected {issuer:?}", m.issuer));
            }
            Err(e) => last = e,
        }
    }
    metrics.fetch(issuer, "discovery", false);
    Err(last)
}

/// Parses a JWKS document as fetched (for fuzzing): how many usable keys it holds.
#[doc(hidden)]
pub fn parse_jwks_document(bytes: &[u8]) -> Result<usize, FetchError> {
    let doc: serde_json::Value = serde_json::from_slice(bytes).map_err(|e| FetchError::Invalid(e.to_string()))?;
    parse_keys(&doc, "fuzz").map(|k| k.all.len())
}

fn parse_keys(doc: &serde_json::Value, issuer: &str) -> Result<Keys, FetchError> {
    let list =
        doc.get("keys").and_then(|k| k.as_array()).ok_or_else(|| FetchError::Invalid("no `keys` array".into()))?;
    let mut keys = Keys::default();
    for raw in list {
        let jwk: Jwk = match serde_json::from_value(raw.clone()) {
            Ok(j) => j,
            Err(e) => {
                tracing::debug!(issuer, error = %e, "skipping a JWK that cannot be read");
                continue;
            }
        };
        if matches!(jwk.common.public_key_use, Some(PublicKeyUse::Encryption)) {
            continue;
        }
        let fam = match &jwk.algorithm {
            AlgorithmParameters::RSA(_) => Family::Rsa,
            AlgorithmParameters::EllipticCurve(_) => Family::Ec,
            AlgorithmParameters::OctetKeyPair(_) => Family::Ed,
            // Shared secrets (`oct`) are never used to verify: a published one would let anyone sign.
            _ => continue,
        };
        let alg = match jwk.common.key_algorithm {
            None => None,
            Some(ka) => match key_algorithm(ka) {
                Some(a) if family(a) == Some(fam) => Some(a),
                _ => continue,
            },
        };
        let Ok(key) = DecodingKey::from_jwk(&jwk) else {
            tracing::debug!(issuer, "skipping a JWK that is not a valid public key");
            continue;
        };
        let key = Arc::new(Key { kid: jwk.common.key_id.clone(), key, family: fam, alg });
        if let Some(kid) = &key.kid {
            keys.by_kid.insert(kid.clone(), key.clone());
        }
        keys.all.push(key);
    }
    Ok(keys)
}

fn key_algorithm(ka: KeyAlgorithm) -> Option<Algorithm> {
    Some(match ka {
        KeyAlgorithm::RS256 => Algorithm::RS256,
        KeyAlgorithm::RS384 => Algorithm::RS384,
        KeyAlgorithm::RS512 => Algorithm::RS512,
        KeyAlgorithm::PS256 => Algorithm::PS256,
        KeyAlgorithm::PS384 => Algorithm::PS384,
        KeyAlgorithm::PS512 => Algorithm::PS512,
        KeyAlgorithm::ES256 => Algorithm::ES256,
        KeyAlgorithm::ES384 => Algorithm::ES384,
        KeyAlgorithm::EdDSA => Algorithm::EdDSA,
        _ => return None,
    })
}

#[derive(Default)]
struct Refetch {
    last: Option<Instant>,
    ok: bool,
}

/// One issuer's endpoints and keys.
pub struct IssuerKeys {
    issuer: String,
    default_refresh: Duration,
    jwks_uri: ArcSwapOption<Url>,
    introspection_endpoint: ArcSwapOption<Url>,
    resolved: AtomicBool,
    loaded: AtomicBool,
    keys: ArcSwap<Keys>,
    generation: AtomicU64,
    refetch: tokio::sync::Mutex<Refetch>,
    http: reqwest::Client,
    metrics: Arc<EdgeMetrics>,
}

impl IssuerKeys {
    /// Prepares an issuer; nothing is fetched until [`IssuerKeys::run`] or the first token.
    pub fn new(cfg: &IssuerConfig, http: reqwest::Client, metrics: Arc<EdgeMetrics>) -> Self {
        let introspection = cfg.introspection.as_ref().and_then(|i| i.endpoint.clone());
        let resolved =
            !cfg.discovery || (cfg.jwks_uri.is_some() && (cfg.introspection.is_none() || introspection.is_some()));
        IssuerKeys {
            issuer: cfg.issuer.clone(),
            default_refresh: cfg.jwks_refresh,
            jwks_uri: ArcSwapOption::from(cfg.jwks_uri.clone().map(Arc::new)),
            introspection_endpoint: ArcSwapOption::from(introspection.map(Arc::new)),
            resolved: AtomicBool::new(resolved),
            loaded: AtomicBool::new(false),
            keys: ArcSwap::from_pointee(Keys::default()),
            generation: AtomicU64::new(0),
            refetch: tokio::sync::Mutex::new(Refetch::default()),
            http,
            metrics,
        }
    }

    /// The issuer identifier.
    pub fn issuer(&self) -> &str {
        &self.issuer
    }

    /// Whether the endpoints are known and, when there is a key set, it has been loaded once.
    pub fn ready(&self) -> bool {
        self.resolved.load(Ordering::Acquire) && (self.jwks_uri.load().is_none() || self.loaded.load(Ordering::Acquire))
    }

    /// The introspection endpoint, once known.
    pub fn introspection_endpoint(&self) -> Option<Arc<Url>> {
        self.introspection_endpoint.load_full()
    }

    /// Resolves unconfigured endpoints through discovery.
    async fn resolve(&self) -> Result<(), FetchError> {
        if self.resolved.load(Ordering::Acquire) {
            return Ok(());
        }
        let m = discover(&self.http, &self.issuer, &self.metrics).await?;
        let parse = |s: Option<String>| s.and_then(|s| Url::parse(&s).ok()).map(Arc::new);
        if self.jwks_uri.load().is_none() {
            self.jwks_uri.store(parse(m.jwks_uri));
        }
        if self.introspection_endpoint.load().is_none() {
            self.introspection_endpoint.store(parse(m.introspection_endpoint));
        }
        self.resolved.store(true, Ordering::Release);
        Ok(())
    }

    /// Fetches the key set once; on failure the previous set stays.
    async fn fetch(&self) -> Result<Option<Duration>, FetchError> {
        self.resolve().await?;
        let Some(uri) = self.jwks_uri.load_full() else {
            return Ok(None);
        };
        let result = match get_json::<serde_json::Value>(&self.http, &uri).await {
            Ok((doc, age)) => parse_keys(&doc, &self.issuer).map(|k| (k, age)),
            Err(e) => Err(e),
        };
        match result {
            Ok((keys, age)) => {
                self.metrics.fetch(&self.issuer, "jwks", true);
                self.metrics.keys_loaded(&self.issuer, keys.all.len());
                self.keys.store(Arc::new(keys));
                self.generation.fetch_add(1, Ordering::AcqRel);
                self.loaded.store(true, Ordering::Release);
                Ok(age)
            }
            Err(e) => {
                self.metrics.fetch(&self.issuer, "jwks", false);
                Err(e)
            }
        }
    }

    /// Keeps the endpoints and keys fresh until `shutdown` fires: fetches now, then as `Cache-Control` says (or every
    /// `jwks_refresh_secs`), retrying failures with backoff up to a minute.
    pub async fn run(self: Arc<Self>, mut shutdown: tokio::sync::watch::Receiver<bool>) {
        let mut backoff = Duration::from_millis(500);
        loop {
            let wait = match self.fetch().await {
                Ok(age) => {
                    backoff = Duration::from_millis(500);
                    next_refresh(age, self.default_refresh)
                }
                Err(e) => {
                    tracing::warn!(issuer = %self.issuer, error = %e, retry_in = ?backoff, "cannot load the issuer's keys; keeping the last good set");
                    let w = backoff;
                    backoff = (backoff * 2).min(Duration::from_secs(60));
                    w
                }
            };
            tokio::select! {
                _ = tokio::time::sleep(wait) => {}
                _ = shutdown.changed() => return,
            }
        }
    }

    fn lookup(&self, kid: Option<&str>, alg: Algorithm) -> Vec<Arc<Key>> {
        let keys = self.keys.load();
        match kid {
            Some(kid) => keys.by_kid.get(kid).filter(|k| k.for_alg(alg).is_some()).cloned().into_iter().collect(),
            None => keys.all.iter().filter(|k| k.for_alg(alg).is_some()).cloned().collect(),
        }
    }

    /// The keys that may verify a token with this `kid` and `alg`. An unknown `kid` triggers one refetch, shared by
    /// every request waiting for it and at most once per [`UNKNOWN_KID_REFETCH_INTERVAL`].
    pub async fn keys_for(&self, kid: Option<&str>, alg: Algorithm) -> Result<Vec<Arc<Key>>, Denial> {
        let seen = self.generation.load(Ordering::Acquire);
        let found = self.lookup(kid, alg);
        if !found.is_empty() {
            return Ok(found);
        }
        let fetched_ok = {
            let mut state = self.refetch.lock().await;
            if self.generation.load(Ordering::Acquire) != seen {
                true // someone else refreshed while we waited
            } else if state.last.is_some_and(|t| t.elapsed() < UNKNOWN_KID_REFETCH_INTERVAL) {
                state.ok
            } else {
                state.last = Some(Instant::now());
                state.ok = match self.fetch().await {
                    Ok(_) => true,
                    Err(e) => {
                        tracing::warn!(issuer = %self.issuer, error = %e, "refetching keys for an unknown kid failed");
                        false
                    }
                };
                state.ok
            }
        };
        let found = self.lookup(kid, alg);
        if !found.is_empty() {
            Ok(found)
        } else if fetched_ok && self.loaded.load(Ordering::Acquire) {
            Err(InvalidToken::UnknownKey.into())
        } else {
            Err(Unavailable::Keys.into())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn metadata_urls_follow_rfc8414_then_oidc() {
        let u = metadata_urls("https://idp.example/realms/demo");
        assert_eq!(u[0].as_str(), "https://idp.example/.well-known/oauth-authorization-server/realms/demo");
        assert_eq!(u[1].as_str(), "https://idp.example/realms/demo/.well-known/openid-configuration");
        let u = metadata_urls("https://idp.example");
        assert_eq!(u[0].as_str(), "https://idp.example/.well-known/oauth-authorization-server");
        assert_eq!(u[1].as_str(), "https://idp.example/.well-known/openid-configuration");
    }

    #[test]
    fn the_refresh_period_follows_max_age_within_bounds() {
        let d = Duration::from_secs;
        assert_eq!(next_refresh(None, d(300)), d(300));
        assert_eq!(next_refresh(Some(d(600)), d(300)), d(600));
        assert_eq!(next_refresh(Some(d(0)), d(300)), d(30));
        assert_eq!(next_refresh(Some(d(10 * 86_400)), d(300)), d(86_400));
        // An operator who configured a 2 s period accepts a max-age that short too.
        assert_eq!(next_refresh(Some(d(2)), d(2)), d(2));
        assert_eq!(next_refresh(Some(d(0)), d(2)), d(2));
    }

    #[test]
    fn cache_control_max_age() {
        assert_eq!(max_age("public, max-age=600"), Some(Duration::from_secs(600)));
        assert_eq!(max_age("no-store"), Some(Duration::ZERO));
        assert_eq!(max_age("public"), None);
    }

    #[test]
    fn symmetric_keys_are_never_loaded() {
        let doc = serde_json::json!({"keys": [{"kty": "oct", "k": "c2VjcmV0", "kid": "h"}]});
        assert!(parse_keys(&doc, "i").unwrap().all.is_empty());
    }
}
