//! The edge: decides, for every request, whether it may reach the protected API, and with which identity.
//!
//! [`Edge::check`] is the whole decision, in order: normalise the path and find the route ([`route`]); for a route
//! that needs a token, extract it ([`token`]), verify it ([`Edge::authenticate`]: a JWT against its issuer's keys
//! ([`jwt`], [`keys`]), anything else by introspection ([`introspect`]), both behind the verified-token cache
//! ([`cache`])), then decide the scopes ([`scope::decide`]). Refusals are [`Denial`]s, turned into RFC 6750 answers in
//! [`deny`]. [`Edge::admit`] and [`Edge::apply_identity`] are what a Pingora proxy calls from `request_filter` and
//! `upstream_request_filter`; the tokengate binary uses exactly these.

#[doc(hidden)]
pub mod cache;
pub mod config;
pub mod deny;
#[doc(hidden)]
pub mod forward;
pub mod identity;
#[doc(hidden)]
pub mod introspect;
#[doc(hidden)]
pub mod jwt;
#[doc(hidden)]
pub mod keys;
#[doc(hidden)]
pub mod limit;
#[doc(hidden)]
pub mod route;
#[doc(hidden)]
pub mod scope;
pub mod stream;
#[doc(hidden)]
pub mod token;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use pingora::http::{RequestHeader, ResponseHeader};
use pingora::proxy::Session;
use prometheus::Registry;

use crate::clock::{Clock, SystemClock};
use crate::metrics::{EdgeMetrics, RouteHandles};
use cache::{Entry, TokenCache};
use config::{EdgeConfig, IssuerConfig, RouteAuth, TokenSource};
pub use deny::{Denial, InvalidToken, Outcome, ProxyFailure};
pub use identity::Identity;
use introspect::Introspector;
use keys::IssuerKeys;
use route::RouteTable;

/// How long a JWT refused for a reason that cannot change (bad signature, wrong audience...) is remembered, so a
/// replayed forgery costs a hash and not a signature check.
const JWT_NEGATIVE_TTL: i64 = 10;

/// Request headers that some frameworks read to change the method; stripped so a read cannot become a write behind
/// the route decision.
pub const METHOD_OVERRIDE_HEADERS: [&str; 3] = ["x-http-method-override", "x-http-method", "x-method-override"];

struct Issuer {
    cfg: IssuerConfig,
    keys: Arc<IssuerKeys>,
}

/// An issuer living in the same process (tokengate's own authorization server): its keys are read from memory, no
/// network hop, and its revocations take effect at once, even for tokens already in the cache.
pub trait LocalIssuer: Send + Sync + 'static {
    /// The verification key with this `kid`, and the algorithm it signs with.
    fn key(&self, kid: &str) -> Option<(jsonwebtoken::Algorithm, Arc<jsonwebtoken::DecodingKey>)>;
    /// Whether a token that passed every other check has since been revoked (by `jti`, grant, app or user).
    fn is_revoked(&self, identity: &Identity) -> bool;
    /// Whether an opaque token is recognisably one of this issuer's own credentials (a refresh token, a code, a
    /// client secret): refused as an access token, and never sent to an external issuer's introspection endpoint.
    fn owns_credential(&self, _token: &str) -> bool {
        false
    }
}

struct Local {
    cfg: IssuerConfig,
    source: Arc<dyn LocalIssuer>,
}

struct Inner {
    cfg: EdgeConfig,
    routes: RouteTable,
    handles: Vec<RouteHandles>,
    issuers: Vec<Issuer>,
    by_name: HashMap<String, usize>,
    introspector: Option<Introspector>,
    local: Option<Local>,
    jwt_cache: Arc<TokenCache>,
    opaque_cache: Arc<TokenCache>,
    clock: Arc<dyn Clock>,
    metrics: Arc<EdgeMetrics>,
}

/// The token-checking edge. Cheap to clone; build it once and share it.
#[derive(Clone)]
pub struct Edge {
    inner: Arc<Inner>,
}

/// A request the edge let through: which route, and who is calling (none on `auth = "none"` routes).
#[derive(Debug, Clone)]
pub struct Allowed {
    /// Position of the matched route in the configuration.
    pub route: usize,
    /// The caller, for routes that need a token.
    pub identity: Option<Arc<Identity>>,
    /// Where the verified token came from (none on `auth = "none"` routes): the only credential forwarded.
    pub token_source: Option<TokenSource>,
}

/// What [`Edge::admit`] decided.
#[derive(Debug)]
pub enum Admission {
    /// Forward the request; call [`Edge::apply_identity`] in `upstream_request_filter`.
    Allowed(Allowed),
    /// The refusal has been written to the client: return `Ok(true)` from `request_filter`.
    Refused(Denial),
}

/// Builds an [`Edge`].
pub struct EdgeBuilder {
    config: EdgeConfig,
    clock: Arc<dyn Clock>,
    http: Option<reqwest::Client>,
    local: Option<Local>,
    metrics: Option<Arc<EdgeMetrics>>,
}

impl EdgeBuilder {
    /// Uses `clock` for every expiry decision (tests move a [`crate::ManualClock`]).
    pub fn clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = clock;
        self
    }

    /// Uses this HTTP client for discovery, JWKS and introspection (for custom TLS roots or proxies).
    pub fn http_client(mut self, http: reqwest::Client) -> Self {
        self.http = Some(http);
        self
    }

    /// Trusts an issuer that lives in this process, checked against `cfg` (issuer, audiences, algorithms, leeway,
    /// `typ`) with keys and revocations from `source`.
    pub fn local_issuer(mut self, cfg: IssuerConfig, source: Arc<dyn LocalIssuer>) -> Self {
        self.local = Some(Local { cfg, source });
        self
    }

    /// Counts in the metrics of an earlier edge (a configuration reload keeps the series and their values).
    pub fn shared_metrics(mut self, metrics: Arc<EdgeMetrics>) -> Self {
        self.metrics = Some(metrics);
        self
    }

    /// Builds the edge. Nothing is fetched yet: run [`Edge::run_background`] (or add [`Edge::background_service`] to
    /// a Pingora server) to load keys and keep them fresh.
    pub fn build(self) -> Edge {
        crate::install_crypto_provider();
        let cfg = self.config;
        let metrics = self.metrics.unwrap_or_else(|| Arc::new(EdgeMetrics::new()));
        let http = self.http.unwrap_or_else(default_http_client);
        let routes = RouteTable::new(&cfg.routes, cfg.default);
        let handles = routes.all().map(|r| metrics.route(&r.name)).collect();
        let issuers: Vec<Issuer> = cfg
            .issuers
            .iter()
            .map(|i| Issuer { cfg: i.clone(), keys: Arc::new(IssuerKeys::new(i, http.clone(), metrics.clone())) })
            .collect();
        let by_name = issuers.iter().enumerate().map(|(n, i)| (i.cfg.issuer.clone(), n)).collect();
        let introspector =
            issuers.iter().find_map(|i| Introspector::new(&i.cfg, i.keys.clone(), http.clone(), metrics.clone()));
        let [jwt_hit, jwt_miss, opaque_hit, opaque_miss] = metrics.cache.clone();
        let jwt_cache = Arc::new(TokenCache::new(cfg.cache_capacity, jwt_hit, jwt_miss));
        let opaque_cache = Arc::new(TokenCache::new(cfg.cache_capacity, opaque_hit, opaque_miss));
        metrics.watch_caches(&jwt_cache, &opaque_cache);
        Edge {
            inner: Arc::new(Inner {
                jwt_cache,
                opaque_cache,
                cfg,
                routes,
                handles,
                issuers,
                by_name,
                introspector,
                local: self.local,
                clock: self.clock,
                metrics,
            }),
        }
    }
}

fn default_http_client() -> reqwest::Client {
    reqwest::Client::builder()
        .connect_timeout(Duration::from_secs(5))
        .timeout(Duration::from_secs(10))
        .pool_idle_timeout(Duration::from_secs(60))
        .redirect(reqwest::redirect::Policy::none())
        .user_agent(concat!("tokengate/", env!("CARGO_PKG_VERSION")))
        .build()
        .expect("HTTP client")
}

impl Edge {
    /// Starts building an edge from its configuration.
    pub fn builder(config: EdgeConfig) -> EdgeBuilder {
        EdgeBuilder { config, clock: Arc::new(SystemClock), http: None, local: None, metrics: None }
    }

    /// The configuration this edge runs.
    pub fn config(&self) -> &EdgeConfig {
        &self.inner.cfg
    }

    /// The name of the route at `index` (an [`Allowed`]'s `route`), as the metrics label it.
    pub fn route_name(&self, index: usize) -> Option<&str> {
        self.inner.cfg.routes.get(index).map(|r| r.name.as_str())
    }

    /// The edge's metrics (for recording upstream timings from the proxy).
    pub fn metrics(&self) -> &EdgeMetrics {
        &self.inner.metrics
    }

    /// Registers every `tokengate_*` series in `registry`.
    pub fn register_metrics(&self, registry: &Registry) -> prometheus::Result<()> {
        self.inner.metrics.register(registry)?;
        self.inner.metrics.register_cache_gauges(registry)
    }

    /// The metrics, to share with an edge built later (see [`EdgeBuilder::shared_metrics`]).
    pub fn shared_metrics(&self) -> Arc<EdgeMetrics> {
        self.inner.metrics.clone()
    }

    /// Applies pending cache maintenance, so that the cache size gauges are exact at the next scrape (moka counts
    /// entries lazily).
    pub async fn sync_caches(&self) {
        self.inner.jwt_cache.sync().await;
        self.inner.opaque_cache.sync().await;
    }

    /// Callers remembered by the routes' rate limiters, all routes together (idle ones are forgotten).
    pub fn rate_limited_callers(&self) -> usize {
        self.inner.routes.all().filter_map(|r| r.limiter.as_ref()).map(|l| l.callers()).sum()
    }

    /// Whether every issuer's endpoints are known and its keys loaded (`/readyz`).
    pub fn ready(&self) -> bool {
        self.inner.issuers.iter().all(|i| i.keys.ready())
    }

    /// Loads and refreshes every issuer's keys until `shutdown` changes.
    pub async fn run_background(&self, shutdown: tokio::sync::watch::Receiver<bool>) {
        let tasks: Vec<_> = self
            .inner
            .issuers
            .iter()
            .map(|i| {
                let gauge = self.inner.metrics.key_refresh_tasks.clone();
                let run = i.keys.clone().run(shutdown.clone());
                tokio::spawn(async move {
                    let _running = Running::new(gauge);
                    run.await;
                })
            })
            .collect();
        for t in tasks {
            let _ = t.await;
        }
    }

    /// A Pingora background service running [`Edge::run_background`].
    pub fn background_service(&self) -> pingora::services::background::GenBackgroundService<EdgeBackground> {
        pingora::services::background::background_service("tokengate keys", EdgeBackground(self.clone()))
    }

    /// The whole decision for one request. Counts it in the metrics.
    pub async fn check(&self, req: &RequestHeader) -> Result<Allowed, Denial> {
        self.check_from(req, None).await
    }

    /// [`Edge::check`], knowing the client's address (the rate-limit key on public routes).
    pub async fn check_from(
        &self,
        req: &RequestHeader,
        client_ip: Option<std::net::IpAddr>,
    ) -> Result<Allowed, Denial> {
        let inner = &*self.inner;
        let normalized = match route::target(req).and_then(|()| route::normalize(req.uri.path())) {
            Ok(p) => p,
            Err(e) => {
                inner.metrics.no_route().count(Outcome::BadRequest);
                return Err(Denial::BadRequest(deny::BadRequest::Path(e)));
            }
        };
        let Some(route) = inner.routes.find(&normalized, &req.method) else {
            inner.metrics.no_route().count(Outcome::NoRoute);
            return Err(Denial::NoRoute);
        };
        let handles = &inner.handles[route.index];
        if route.auth == RouteAuth::None {
            if let (Some(limiter), Some(ip)) = (&route.limiter, client_ip) {
                if let Err(wait) = limiter.check(&ip.to_string()) {
                    let d = Denial::RateLimited { retry_after_secs: wait.as_secs().max(1) };
                    handles.count(d.outcome());
                    return Err(d);
                }
            }
            handles.count(Outcome::Public);
            return Ok(Allowed { route: route.index, identity: None, token_source: None });
        }
        let started = Instant::now();
        let mut token_source = None;
        let decided = match self.authenticate_with_source(req).await {
            Ok((identity, source)) => {
                token_source = Some(source);
                scope::decide(route, &identity).map(|()| identity)
            }
            Err(d) => Err(d),
        };
        let decided = decided.and_then(|identity| {
            let Some(limiter) = &route.limiter else { return Ok(identity) };
            let caller = identity.client_id().or(identity.subject()).unwrap_or("(anonymous)");
            match limiter.check(caller) {
                Ok(()) => Ok(identity),
                Err(wait) => Err(Denial::RateLimited { retry_after_secs: wait.as_secs().max(1) }),
            }
        });
        inner.metrics.auth_duration.observe(started.elapsed().as_secs_f64());
        match decided {
            Ok(identity) => {
                inner.metrics.allowed();
                handles.count(Outcome::Allowed);
                Ok(Allowed { route: route.index, identity: Some(identity), token_source })
            }
            Err(d) => {
                inner.metrics.denied(&d);
                handles.count(d.outcome());
                Err(d)
            }
        }
    }

    /// Finds the request's token and verifies it: the token check, without any route or scope.
    pub async fn authenticate(&self, req: &RequestHeader) -> Result<Arc<Identity>, Denial> {
        self.authenticate_with_source(req).await.map(|(identity, _)| identity)
    }

    async fn authenticate_with_source(&self, req: &RequestHeader) -> Result<(Arc<Identity>, TokenSource), Denial> {
        let inner = &*self.inner;
        let presented =
            token::extract(&req.headers, req.uri.query(), &inner.cfg.token_sources, inner.cfg.max_token_bytes)?
                .ok_or(Denial::MissingToken)?;
        self.verify(presented.token).await.map(|identity| (identity, presented.source))
    }

    /// Verifies one token: a JWT against its issuer's keys, anything else by introspection, both cached.
    async fn verify(&self, token: &str) -> Result<Arc<Identity>, Denial> {
        let inner = &*self.inner;
        let now = inner.clock.now();
        if jwt::looks_like_jwt(token) {
            let identity =
                inner.jwt_cache.get_or_compute(cache::digest(token), now, || self.verify_jwt(token, now)).await?;
            if let Some(local) = &inner.local {
                if identity.issuer() == local.cfg.issuer && local.source.is_revoked(&identity) {
                    return Err(InvalidToken::Revoked.into());
                }
            }
            Ok(identity)
        } else {
            // The built-in server's refresh tokens, codes and secrets are no access tokens, and never leave the process.
            if inner.local.as_ref().is_some_and(|l| l.source.owns_credential(token)) {
                return Err(InvalidToken::NotAccessToken.into());
            }
            let Some(introspector) = &inner.introspector else {
                return Err(InvalidToken::OpaqueNotAccepted.into());
            };
            inner.opaque_cache.get_or_compute(cache::digest(token), now, || introspector.introspect(token, now)).await
        }
    }

    /// Verifies a JWT on a cache miss ([`jwt::verify`], with the keys of the issuer it names).
    async fn verify_jwt(&self, token: &str, now: i64) -> Result<Entry, Denial> {
        let result: Result<Entry, Denial> = async {
            let parsed = jwt::parse(token)?;
            let iss = parsed.claims.iss.as_deref().ok_or(InvalidToken::UnknownIssuer)?;
            let (cfg, keys) = match self.inner.local.as_ref().filter(|l| l.cfg.issuer == iss) {
                Some(local) => (&local.cfg, jwt::Keys::Local(&*local.source)),
                None => {
                    let issuer = self
                        .inner
                        .by_name
                        .get(iss)
                        .map(|&i| &self.inner.issuers[i])
                        .ok_or(InvalidToken::UnknownIssuer)?;
                    (&issuer.cfg, jwt::Keys::Remote(&issuer.keys))
                }
            };
            let (identity, until) = jwt::verify(&parsed, cfg, keys, now).await?;
            Ok(Entry::active(identity, until, now))
        }
        .await;
        match result {
            Err(Denial::InvalidToken(r)) if r.is_stable() => Ok(Entry::refused(r, now + JWT_NEGATIVE_TTL, now)),
            other => other,
        }
    }

    /// Decides on the request in `session`; a refusal is answered here (RFC 6750 status, `WWW-Authenticate` and JSON
    /// body), and the caller's `request_filter` then returns `Ok(true)`.
    pub async fn admit(&self, session: &mut Session) -> pingora::Result<Admission> {
        let ip = session.client_addr().and_then(|a| a.as_inet()).map(|a| a.ip());
        self.admit_from(session, ip).await
    }

    /// [`Edge::admit`], with the client's address as found behind trusted proxies (the rate-limit key on public
    /// routes) instead of the connection's peer.
    pub async fn admit_from(&self, session: &mut Session, ip: Option<std::net::IpAddr>) -> pingora::Result<Admission> {
        match self.check_from(session.req_header(), ip).await {
            Ok(allowed) => Ok(Admission::Allowed(allowed)),
            Err(denial) => {
                write_refusal(session, &denial).await?;
                Ok(Admission::Refused(denial))
            }
        }
    }

    /// Prepares the upstream request: removes every inbound header that could pass for an identity or method-override
    /// header (whatever its spelling: `X_Auth_Subject` too) and tokengate's own cookies; forwards no credential but the
    /// token that was verified (and that one only with `forward_token = true`); sets the identity headers of `allowed`.
    pub fn apply_identity(&self, allowed: &Allowed, req: &mut RequestHeader) {
        let forged: Vec<http::HeaderName> =
            req.headers.keys().filter(|name| forward::is_reserved_header(name.as_str())).cloned().collect();
        for name in forged {
            req.remove_header(&name);
        }
        forward::strip_own_cookies(req);
        let authenticated = allowed.identity.is_some();
        let keep = |source: TokenSource| {
            if authenticated {
                allowed.token_source == Some(source) && self.inner.cfg.forward_token
            } else {
                self.inner.cfg.forward_token || !self.inner.cfg.token_sources.contains(&source)
            }
        };
        if !keep(TokenSource::Authorization) {
            // On a public route only a Bearer token is removed (Basic credentials are the upstream's business); on an
            // authenticated route every `Authorization` but the verified one goes.
            let remove = authenticated
                || req.headers.get(http::header::AUTHORIZATION).is_some_and(|v| token::bearer(v.as_bytes()).is_some());
            if remove {
                req.remove_header(&http::header::AUTHORIZATION);
            }
        }
        if !keep(TokenSource::SessionId)
            && (authenticated || self.inner.cfg.token_sources.contains(&TokenSource::SessionId))
        {
            req.remove_header(token::SESSION_ID);
        }
        if let Some(identity) = &allowed.identity {
            for (name, value) in identity.headers() {
                let _ = req.insert_header(name, value.clone());
            }
        }
    }

    /// Prepares the response for the client: an upstream may not plant a cookie under one of tokengate's own names.
    pub fn filter_response(&self, resp: &mut ResponseHeader) {
        forward::drop_own_set_cookies(resp);
    }
}

/// How a request is named in log lines: method, path and `Host`, never the query string (it may carry an
/// `access_token`). A Pingora proxy returns it from `ProxyHttp::request_summary`, which Pingora's own error lines use.
pub fn request_summary(req: &RequestHeader) -> String {
    let host = req.headers.get(http::header::HOST).and_then(|h| h.to_str().ok()).unwrap_or("");
    format!("{} {}, Host: {host}", req.method, req.uri.path())
}

/// Writes a refusal (see [`deny::write`]).
pub async fn write_refusal(session: &mut Session, denial: &Denial) -> pingora::Result<()> {
    deny::write(session, &denial.answer()).await
}

/// Counts a running loop in a gauge for as long as it lives (an aborted task is uncounted too).
struct Running(prometheus::IntGauge);

impl Running {
    fn new(gauge: prometheus::IntGauge) -> Self {
        gauge.inc();
        Running(gauge)
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        self.0.dec();
    }
}

/// The edge's background work as a Pingora service.
pub struct EdgeBackground(Edge);

#[async_trait::async_trait]
impl pingora::services::background::BackgroundService for EdgeBackground {
    async fn start(&self, shutdown: pingora::server::ShutdownWatch) {
        self.0.run_background(shutdown).await;
    }
}
