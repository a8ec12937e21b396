//! RFC 7662 introspection of opaque tokens: one POST per token (the cache coalesces concurrent misses), the gateway
//! authenticated with `client_secret_basic`, the answer checked (`active`, `iss`, `aud`, `exp`, `nbf`) and turned into
//! a cache entry that lives `cache_ttl` (never past `exp`) or `negative_cache_ttl` when inactive.

use std::sync::Arc;
use std::time::Instant;

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use http::HeaderValue;
use serde::Deserialize;

use super::cache::Entry;
use super::deny::{Denial, InvalidToken, Unavailable};
use super::identity::Identity;
use super::keys::IssuerKeys;
use crate::config::{IntrospectionConfig, IssuerConfig};
use crate::metrics::EdgeMetrics;

const MAX_RESPONSE_BYTES: usize = 64 * 1024;

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
        Some(Introspector { issuer: issuer.clone(), cfg, keys, authorization, http, metrics })
    }

    /// Asks the issuer about `token`. A failure to get a usable answer is `Unavailable` and is not cached.
    pub async fn introspect(&self, token: &str, now: i64) -> Result<Entry, Denial> {
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
                tracing::warn!(issuer = %self.issuer.issuer, status, "introspection endpoint answered an error");
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
                tracing::warn!(issuer = %self.issuer.issuer, failure = kind, "introspection failed");
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
