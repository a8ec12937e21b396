//! The built-in authorization server: `/oauth2/authorize` with login and consent, `/oauth2/token` (authorization
//! code with secret or PKCE, refresh with rotation and reuse detection, JWT bearer, client credentials),
//! introspection, revocation, JWKS and metadata, plus the Workfront-compatible paths. Served on the proxy listener;
//! its tokens are trusted by the edge through [`crate::edge::LocalIssuer`], without a network hop.

mod authorize;
pub mod bridge;
mod client_auth;
mod cors;
mod endpoints;
mod error;
pub(crate) mod pages;
pub mod revocation;
pub mod signing;
pub(crate) mod throttle;
mod token;
mod wire;

use std::sync::Arc;
use std::time::Duration;

use axum::http::StatusCode;
use axum::routing::{get, post};
use axum::Router;
use jsonwebtoken::Algorithm;

use crate::clock::Clock;
use crate::config::AuthorizationServerConfig;
use crate::edge::config::IssuerConfig;
use crate::edge::{Identity, LocalIssuer};
use crate::registry::{Registry, RevocationHook};
use crate::store::Store;
pub use error::{ErrorCode, OAuthError};
use revocation::Revocations;
use signing::SigningKeys;

/// Paths served by the authorization server on the proxy listener.
pub fn is_own_path(path: &str) -> bool {
    path.starts_with("/oauth2/")
        || path == "/.well-known/oauth-authorization-server"
        || path == "/.well-known/openid-configuration"
        || path.starts_with("/integrations/oauth2/")
}

/// The authorization server.
pub struct AuthServer {
    cfg: AuthorizationServerConfig,
    registry: Registry,
    keys: SigningKeys,
    revocations: Arc<Revocations>,
    clock: Arc<dyn Clock>,
    /// Set by the change feed while it listens.
    listening: Arc<std::sync::atomic::AtomicBool>,
    throttle: throttle::Throttle,
    token_limiter: Option<crate::edge::limit::Limiter>,
    /// `/authorize` and the login form, per client address.
    sign_in_limiter: crate::edge::limit::Limiter,
}

/// How long a code lives (as in the product).
pub const CODE_TTL_SECS: i64 = 120;
/// How long a login session lives.
pub const SESSION_TTL_SECS: i64 = 8 * 3600;
/// How often expired codes, sessions, requests, assertion ids and revocations are deleted.
pub const SWEEP_EVERY_SECS: i64 = 600;
/// Sign-in requests (`/authorize` and the login form) a client address may make per minute (in bursts of as many).
pub const SIGN_IN_REQUESTS_PER_MINUTE: u32 = 60;
/// Furthest in the future a JWT bearer assertion's `exp` may be, and the longest `exp - iat`.
pub const ASSERTION_MAX_LIFETIME_SECS: i64 = 300;
/// How far in the future a JWT bearer assertion's `iat` or `nbf` may be (clock skew).
pub const ASSERTION_LEEWAY_SECS: i64 = 30;

impl AuthServer {
    /// Loads (or makes) the signing keys and the revocation set.
    pub async fn new(
        cfg: AuthorizationServerConfig,
        registry: Registry,
    ) -> Result<Arc<Self>, crate::store::StoreError> {
        let clock = registry.clock().clone();
        let now = clock.now();
        let keep = cfg.access_token_ttl.as_secs() as i64 + 300;
        let keys = SigningKeys::load(registry.store().as_ref(), cfg.signing_alg, keep, now).await?;
        let cfg_limit = cfg.token_rate_limit;
        let revocations = Revocations::new();
        revocations.catch_up(registry.store().as_ref(), now).await?;
        let server = Arc::new(AuthServer {
            cfg,
            registry: registry.clone(),
            keys,
            revocations,
            clock,
            listening: Default::default(),
            throttle: throttle::Throttle::new(registry.clock().clone()),
            token_limiter: cfg_limit.map(crate::edge::limit::Limiter::new),
            sign_in_limiter: crate::edge::limit::Limiter::new(crate::edge::config::RateLimit {
                requests: SIGN_IN_REQUESTS_PER_MINUTE,
                per: Duration::from_secs(60),
            }),
        });
        registry.on_revocation(Arc::new(Hook(Arc::downgrade(&server))));
        Ok(server)
    }

    /// The configuration.
    pub fn config(&self) -> &AuthorizationServerConfig {
        &self.cfg
    }

    /// The signing keys.
    pub fn keys(&self) -> &SigningKeys {
        &self.keys
    }

    fn store(&self) -> &dyn Store {
        self.registry.store().as_ref()
    }

    /// How the edge checks this server's tokens.
    pub fn issuer_config(&self) -> IssuerConfig {
        IssuerConfig {
            issuer: self.cfg.issuer.clone(),
            audiences: self.cfg.audiences.clone(),
            jwks_uri: None,
            discovery: false,
            algorithms: vec![Algorithm::ES256, Algorithm::RS256, Algorithm::EdDSA],
            leeway_secs: 5,
            require_typ: Some("at+jwt".into()),
            jwks_refresh: Duration::from_secs(300),
            introspection: None,
        }
    }

    /// Registers [`crate::metrics::AUTHZ_SERIES`] in `registry`.
    pub fn register_metrics(self: &Arc<Self>, registry: &prometheus::Registry) -> prometheus::Result<()> {
        let me = Arc::downgrade(self);
        registry.register(crate::metrics::gauge_on_scrape("tokengate_revocation_log_position", move || {
            me.upgrade().map(|s| s.revocations.position()).unwrap_or(0)
        })?)?;
        let listening = self.listening.clone();
        registry.register(crate::metrics::gauge_on_scrape("tokengate_change_feed_connected", move || {
            listening.load(std::sync::atomic::Ordering::Relaxed) as i64
        })?)
    }

    /// The endpoints.
    pub fn router(self: &Arc<Self>) -> Router {
        // Answered by the layer; without an `Origin` there is nothing to allow.
        async fn cors_preflight() -> StatusCode {
            StatusCode::NO_CONTENT
        }
        let cors = axum::middleware::from_fn_with_state(self.clone(), cors::cors);
        Router::new()
            .route("/oauth2/authorize", get(authorize::authorize))
            .route("/integrations/oauth2/authorize", get(authorize::authorize))
            .route("/oauth2/login", post(authorize::login))
            .route("/oauth2/consent", post(authorize::consent))
            .route("/oauth2/token", post(token::token).options(cors_preflight).layer(cors.clone()))
            .route("/integrations/oauth2/api/v1/token", post(token::token))
            .route("/integrations/oauth2/api/v1/jwt/exchange", post(token::jwt_exchange))
            .route("/oauth2/introspect", post(endpoints::introspect))
            .route("/oauth2/revoke", post(endpoints::revoke).options(cors_preflight).layer(cors))
            .route("/oauth2/jwks", get(endpoints::jwks))
            .route("/.well-known/oauth-authorization-server", get(endpoints::metadata))
            .route("/oauth2/logo/{client_id}", get(endpoints::logo))
            .route("/oauth2/assets/style.css", get(pages::stylesheet))
            .fallback(|| async {
                OAuthError {
                    status: StatusCode::NOT_FOUND,
                    error: ErrorCode::NotFound,
                    description: "no such endpoint".into(),
                    retry_after: None,
                }
            })
            .with_state(self.clone())
    }

    /// Keeps keys and revocations in step with the store (rotations and revocations made by the CLI or by other
    /// instances) until `shutdown` fires. With a change feed (PostgreSQL `LISTEN`/`NOTIFY`) it reads the store when
    /// told to, and every 10 s as a safety net; without one (SQLite, databases without `NOTIFY`) every 0.5 s. Every
    /// [`SWEEP_EVERY_SECS`] it also deletes expired records.
    pub async fn run_sync(self: Arc<Self>, mut shutdown: tokio::sync::watch::Receiver<bool>) {
        let wake = Arc::new(tokio::sync::Notify::new());
        let feed = self.store().spawn_change_feed(wake.clone(), self.listening.clone()).map(AbortOnDrop);
        let every = if feed.is_some() { Duration::from_secs(10) } else { Duration::from_millis(500) };
        let mut last_sweep = self.clock.now();
        loop {
            tokio::select! {
                _ = tokio::time::sleep(every) => {}
                _ = wake.notified() => {}
                _ = shutdown.changed() => return,
            }
            let now = self.clock.now();
            if let Err(e) = self.revocations.catch_up(self.store(), now).await {
                tracing::warn!(error = %e, "cannot read the revocation log");
            }
            if let Err(e) = self.keys.reload(self.store(), now).await {
                tracing::warn!(error = %e, "cannot reload signing keys");
            }
            if now - last_sweep >= SWEEP_EVERY_SECS {
                last_sweep = now;
                self.sign_in_limiter.forget_idle();
                match self.store().sweep(now).await {
                    Ok(gone) => tracing::debug!(rows = gone, "expired records deleted"),
                    Err(e) => tracing::warn!(error = %e, "cannot delete expired records"),
                }
            }
        }
    }
}

/// Stops a background task when its owner goes away.
struct AbortOnDrop(tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

struct Hook(std::sync::Weak<AuthServer>);

#[async_trait::async_trait]
impl RevocationHook for Hook {
    async fn revocations_changed(&self) {
        if let Some(s) = self.0.upgrade() {
            if let Err(e) = s.revocations.catch_up(s.store(), s.clock.now()).await {
                tracing::warn!(error = %e, "cannot read the revocation log");
            }
        }
    }
}

impl LocalIssuer for AuthServer {
    fn key(&self, kid: &str) -> Option<(Algorithm, Arc<jsonwebtoken::DecodingKey>)> {
        self.keys.key(kid)
    }

    fn is_revoked(&self, identity: &Identity) -> bool {
        self.revocations.is_revoked(identity)
    }

    fn owns_credential(&self, token: &str) -> bool {
        crate::registry::credentials::is_own_credential(token)
    }
}

/// The authorization server's background work as a Pingora service.
pub struct SyncService(pub Arc<AuthServer>);

#[async_trait::async_trait]
impl pingora::services::background::BackgroundService for SyncService {
    async fn start(&self, shutdown: pingora::server::ShutdownWatch) {
        self.0.clone().run_sync(shutdown).await;
    }
}
