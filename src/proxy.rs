//! The Pingora proxy: wires each phase to the [`Edge`] and the upstream. No policy lives here.

use std::sync::Arc;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use pingora::http::{RequestHeader, ResponseHeader};
use pingora::lb::selection::RoundRobin;
use pingora::lb::{Backend, LoadBalancer};
use pingora::prelude::HttpPeer;
use pingora::proxy::{FailToProxy, ProxyHttp, Session};
use pingora::{Error, ErrorSource, ErrorType, Result};

use crate::config::{UpstreamConfig, UpstreamUrl};
use crate::edge::{Admission, Allowed, Edge, ProxyFailure};

/// Per-request state.
#[derive(Default)]
pub struct RequestCtx {
    /// The edge that decided (a configuration reload may swap the current one meanwhile).
    edge: Option<Edge>,
    /// Set by `request_filter` when the edge let the request through.
    allowed: Option<Allowed>,
    /// When the request was sent upstream.
    upstream_sent: Option<Instant>,
    /// Request body bytes seen so far.
    body_bytes: u64,
    /// The upstream connection's socket, while connected.
    upstream_fd: Option<std::os::fd::RawFd>,
    /// Set when the response is a long-lived stream: its token is checked again until the request ends.
    stream: Option<crate::edge::stream::StreamWatch>,
    /// The connection's peer, whether it is a trusted proxy, and the client behind it.
    peer: Option<std::net::IpAddr>,
    peer_trusted: bool,
    client_ip: Option<std::net::IpAddr>,
    /// When the request arrived, how long the upstream took to its response header, and the refusal if any.
    started: Option<Instant>,
    upstream_ms: Option<f64>,
    denial: Option<crate::edge::Denial>,
    /// Served by the built-in authorization server.
    auth_server: bool,
}

/// The error that ends a stream whose token went bad.
fn stream_cut() -> Box<Error> {
    Error::explain(ErrorType::Custom("stream closed"), "the token that opened this stream is no longer valid")
}

/// Where requests go: one origin, or several balanced round-robin with TCP health checks.
pub enum Upstreams {
    /// A single origin.
    One(UpstreamUrl),
    /// Several origins.
    Balanced(Arc<LoadBalancer<RoundRobin>>),
}

impl Upstreams {
    /// Builds the upstream set; for several origins also returns the health-check service to run.
    pub fn new(
        cfg: &UpstreamConfig,
    ) -> std::io::Result<(Self, Option<pingora::services::background::GenBackgroundService<LoadBalancer<RoundRobin>>>)>
    {
        if cfg.urls.len() == 1 {
            return Ok((Upstreams::One(cfg.urls[0].clone()), None));
        }
        let mut backends = std::collections::BTreeSet::new();
        for u in &cfg.urls {
            let mut b =
                Backend::new(&u.address).map_err(|e| std::io::Error::other(format!("upstream {}: {e}", u.address)))?;
            b.ext.insert(u.clone());
            backends.insert(b);
        }
        let discovery = pingora::lb::discovery::Static::new(backends);
        let mut lb = LoadBalancer::from_backends(pingora::lb::Backends::new(discovery));
        // Load the static list now: the background service's first run may come after the first requests, and a
        // balancer with no backends yet answers them 502.
        use futures_util::FutureExt;
        lb.update()
            .now_or_never()
            .ok_or_else(|| std::io::Error::other("loading the upstream list blocked"))?
            .map_err(|e| std::io::Error::other(format!("upstreams: {e}")))?;
        lb.set_health_check(pingora::lb::health_check::TcpHealthCheck::new());
        lb.health_check_frequency = Some(cfg.health_check_interval);
        let mut service = pingora::services::background::background_service("upstream health", lb);
        service.threads = Some(1);
        Ok((Upstreams::Balanced(service.task()), Some(service)))
    }
}

/// What the TLS listener asks of every answer: plain-HTTP requests redirected to it, HSTS over it.
#[derive(Debug, Clone)]
pub struct TlsPolicy {
    /// Answer a plain-HTTP request with a 308 to the same URL on `https`.
    pub redirect_http: bool,
    /// The TLS listener's port, for the redirect (443 is left out of the URL).
    pub https_port: u16,
    /// `Strict-Transport-Security: max-age=N` on answers over TLS.
    pub hsts_max_age_secs: Option<u64>,
}

/// tokengate's [`ProxyHttp`]: the edge decides in `request_filter`, identity headers are set in
/// `upstream_request_filter`, upstream failures become JSON 502/504 answers.
pub struct Gateway {
    edge: Arc<arc_swap::ArcSwap<Edge>>,
    auth_server: Option<axum::Router>,
    upstreams: Upstreams,
    connect_timeout: Duration,
    read_timeout: Duration,
    max_body_bytes: u64,
    http2: bool,
    tls: Option<TlsPolicy>,
    trusted: crate::forwarded::TrustedProxies,
    access_log: Option<crate::access_log::AccessLog>,
}

/// Whether the client's connection is TLS.
fn over_tls(session: &Session) -> bool {
    session.digest().is_some_and(|d| d.ssl_digest.is_some())
}

/// The `https` URL of a plain-HTTP request, when its host is a valid authority.
fn https_location(req: &RequestHeader, port: u16) -> Option<String> {
    let authority = req
        .uri
        .authority()
        .map(|a| a.as_str().to_string())
        .or_else(|| req.headers.get(http::header::HOST)?.to_str().ok().map(str::to_string))?;
    let authority: http::uri::Authority = authority.parse().ok()?;
    let host = authority.host();
    if host.is_empty() {
        return None;
    }
    let host = if host.contains(':') && !host.starts_with('[') { format!("[{host}]") } else { host.to_string() };
    let port = if port == 443 { String::new() } else { format!(":{port}") };
    let path = req.uri.path_and_query().map_or("/", |p| p.as_str());
    Some(format!("https://{host}{port}{path}"))
}

impl Gateway {
    /// A proxy in front of `upstreams`, checking requests with `edge`.
    pub fn new(
        edge: Arc<arc_swap::ArcSwap<Edge>>,
        upstreams: Upstreams,
        cfg: &UpstreamConfig,
        max_body_bytes: u64,
    ) -> Self {
        Gateway {
            edge,
            auth_server: None,
            upstreams,
            connect_timeout: cfg.connect_timeout,
            read_timeout: cfg.read_timeout,
            max_body_bytes,
            http2: cfg.http2,
            tls: None,
            trusted: Default::default(),
            access_log: None,
        }
    }

    /// Writes one access-log line per request to `log`.
    pub fn with_access_log(mut self, log: crate::access_log::AccessLog) -> Self {
        self.access_log = Some(log);
        self
    }

    /// Believes `X-Forwarded-For`, `Forwarded` and `X-Request-Id` from these proxies only.
    pub fn with_trusted_proxies(mut self, trusted: crate::forwarded::TrustedProxies) -> Self {
        self.trusted = trusted;
        self
    }

    /// Finds the client behind trusted proxies and gives the request its id (a trusted proxy's, or 128 random bits),
    /// set on the request so that the upstream, every answer and every error body carry it.
    fn identify(&self, session: &mut Session, ctx: &mut RequestCtx) {
        ctx.started = Some(Instant::now());
        ctx.peer = session.client_addr().and_then(|a| a.as_inet()).map(|a| a.ip());
        ctx.peer_trusted = ctx.peer.is_some_and(|p| self.trusted.trusts(p));
        ctx.client_ip = ctx.peer.map(|p| self.trusted.client(p, session.req_header()));
        let header = crate::forwarded::REQUEST_ID;
        let inbound = session.req_header().headers.get(header).and_then(|v| v.to_str().ok());
        let id = match inbound.filter(|id| ctx.peer_trusted && crate::forwarded::is_request_id(id)) {
            Some(id) => id.to_string(),
            None => {
                let bits: [u8; 16] = rand::random();
                hex::encode(bits)
            }
        };
        let _ = session.req_header_mut().insert_header(header, id);
    }

    /// Redirects plain HTTP and sends HSTS as `policy` says.
    pub fn with_tls(mut self, policy: TlsPolicy) -> Self {
        self.tls = Some(policy);
        self
    }

    /// `Strict-Transport-Security`, for an answer to `session`, when configured and the connection is TLS.
    fn hsts(&self, session: &Session) -> Option<String> {
        let max_age = self.tls.as_ref()?.hsts_max_age_secs?;
        over_tls(session).then(|| format!("max-age={max_age}"))
    }

    /// Answers a plain-HTTP request with a 308 to its `https` URL, when configured. `Ok(true)` when answered.
    async fn redirect_to_https(&self, session: &mut Session) -> Result<bool> {
        let Some(policy) = self.tls.as_ref().filter(|p| p.redirect_http) else { return Ok(false) };
        if over_tls(session) {
            return Ok(false);
        }
        let Some(location) = https_location(session.req_header(), policy.https_port) else {
            let denial = crate::edge::Denial::BadRequest(crate::edge::deny::BadRequest::Host);
            crate::edge::write_refusal(session, &denial).await?;
            return Ok(true);
        };
        let mut resp = ResponseHeader::build(308, Some(3))?;
        resp.insert_header(http::header::LOCATION, location)?;
        resp.insert_header(http::header::CONTENT_LENGTH, 0)?;
        resp.insert_header(http::header::CACHE_CONTROL, "no-store")?;
        session.write_response_header(Box::new(resp), true).await?;
        Ok(true)
    }

    /// Serves the built-in authorization server's endpoints (see [`crate::authz::is_own_path`]) on this listener.
    pub fn with_auth_server(mut self, router: axum::Router) -> Self {
        self.auth_server = Some(router);
        self
    }

    fn peer(&self, u: &UpstreamUrl, addr: Option<&pingora::protocols::l4::socket::SocketAddr>) -> Box<HttpPeer> {
        let mut peer = match addr {
            Some(a) => HttpPeer::new(a.clone(), u.tls, u.host.clone()),
            None => HttpPeer::new(u.address.as_str(), u.tls, u.host.clone()),
        };
        peer.options.connection_timeout = Some(self.connect_timeout);
        peer.options.total_connection_timeout = Some(self.connect_timeout);
        peer.options.read_timeout = Some(self.read_timeout);
        peer.options.idle_timeout = Some(Duration::from_secs(60));
        if self.http2 {
            // h2 or h1 by ALPN over TLS; h2c with prior knowledge in the clear (there is nothing to negotiate with).
            if u.tls {
                peer.options.set_http_version(2, 1);
            } else {
                peer.options.set_http_version(2, 2);
            }
            peer.options.max_h2_streams = 128;
        }
        Box::new(peer)
    }
}

#[async_trait]
impl ProxyHttp for Gateway {
    type CTX = RequestCtx;

    fn new_ctx(&self) -> RequestCtx {
        RequestCtx::default()
    }

    /// The authorization server answers its own paths; for everything else the edge decides. A refused request has
    /// been answered (RFC 6750) and goes no further: `Ok(true)`.
    async fn request_filter(&self, session: &mut Session, ctx: &mut RequestCtx) -> Result<bool> {
        self.identify(session, ctx);
        if self.redirect_to_https(session).await? {
            return Ok(true);
        }
        if let Some(router) = &self.auth_server {
            if crate::authz::is_own_path(session.req_header().uri.path()) {
                if let Err(e) = crate::edge::route::target(session.req_header()) {
                    let denial = crate::edge::Denial::BadRequest(crate::edge::deny::BadRequest::Path(e));
                    crate::edge::write_refusal(session, &denial).await?;
                    return Ok(true);
                }
                ctx.auth_server = true;
                crate::authz::bridge::serve(router, session, ctx.client_ip, self.hsts(session)).await?;
                return Ok(true);
            }
        }
        let declared = session
            .req_header()
            .headers
            .get(http::header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok()?.parse::<u64>().ok());
        if declared.is_some_and(|n| n > self.max_body_bytes) {
            crate::edge::deny::write(session, &ProxyFailure::BodyTooLarge.answer()).await?;
            return Ok(true);
        }
        let edge = Edge::clone(&self.edge.load());
        let admission = edge.admit_from(session, ctx.client_ip).await?;
        ctx.edge = Some(edge);
        match admission {
            Admission::Allowed(allowed) => {
                ctx.allowed = Some(allowed);
                Ok(false)
            }
            Admission::Refused(denial) => {
                ctx.denial = Some(denial);
                Ok(true)
            }
        }
    }

    /// Counts streamed (chunked) request bodies against `max_body_bytes`.
    async fn request_body_filter(
        &self,
        _session: &mut Session,
        body: &mut Option<bytes::Bytes>,
        _end_of_stream: bool,
        ctx: &mut RequestCtx,
    ) -> Result<()> {
        if ctx.stream.as_ref().is_some_and(|s| s.is_cut()) {
            return Err(stream_cut());
        }
        if let Some(b) = body {
            ctx.body_bytes += b.len() as u64;
            if ctx.body_bytes > self.max_body_bytes {
                return Err(Error::explain(ErrorType::HTTPStatus(413), "request body too large"));
            }
        }
        Ok(())
    }

    /// The origin to send the request to.
    async fn upstream_peer(&self, _session: &mut Session, _ctx: &mut RequestCtx) -> Result<Box<HttpPeer>> {
        match &self.upstreams {
            Upstreams::One(u) => Ok(self.peer(u, None)),
            Upstreams::Balanced(lb) => {
                let backend = lb
                    .select(b"", 256)
                    .ok_or_else(|| Error::explain(ErrorType::ConnectNoRoute, "no healthy upstream"))?;
                let u =
                    backend.ext.get::<UpstreamUrl>().cloned().ok_or_else(|| Error::new(ErrorType::InternalError))?;
                Ok(self.peer(&u, Some(&backend.addr)))
            }
        }
    }

    /// Strips inbound identity and method-override headers, sets the caller's identity headers. The path and query
    /// are left as the client sent them.
    async fn upstream_request_filter(
        &self,
        session: &mut Session,
        upstream_request: &mut RequestHeader,
        ctx: &mut RequestCtx,
    ) -> Result<()> {
        let (Some(edge), Some(allowed)) = (&ctx.edge, &ctx.allowed) else {
            return Err(Error::explain(ErrorType::InternalError, "request reached upstream without a decision"));
        };
        edge.apply_identity(allowed, upstream_request);
        if let Some(peer) = ctx.peer {
            let host =
                session.req_header().uri.authority().map(|a| a.as_str().to_string()).or_else(|| {
                    session.req_header().headers.get(http::header::HOST)?.to_str().ok().map(str::to_string)
                });
            crate::forwarded::set_upstream_headers(
                upstream_request,
                peer,
                ctx.peer_trusted,
                over_tls(session),
                host.as_deref(),
            );
        }
        ctx.upstream_sent = Some(Instant::now());
        Ok(())
    }

    /// Records the upstream's latency; drops any `Set-Cookie` for one of tokengate's own cookies.
    async fn upstream_response_filter(
        &self,
        session: &mut Session,
        upstream_response: &mut ResponseHeader,
        ctx: &mut RequestCtx,
    ) -> Result<()> {
        if let Some(hsts) = self.hsts(session) {
            upstream_response.insert_header(http::header::STRICT_TRANSPORT_SECURITY, hsts)?;
        }
        if let Some(id) = session.req_header().headers.get(crate::forwarded::REQUEST_ID).cloned() {
            upstream_response.insert_header(crate::forwarded::REQUEST_ID, id)?;
        }
        if let (Some(edge), Some(allowed)) = (&ctx.edge, &ctx.allowed) {
            if edge.watches_streams(allowed) && crate::edge::stream::is_stream(upstream_response) {
                // Duplicates of the sockets that carry only this stream, to shut them down if the token goes bad: the
                // upstream connection unless it is HTTP/2 (other requests share it; the body filters cut the stream
                // then), and the client's HTTP/1.1 connection once upgraded. Pingora's stream id is its socket.
                let mut sockets = Vec::new();
                let upgraded = upstream_response.status.as_u16() == 101;
                let client = session.stream().filter(|_| upgraded).map(|s| s.id());
                for fd in [ctx.upstream_fd.filter(|_| !self.http2), client].into_iter().flatten() {
                    // SAFETY: Pingora holds both connections open for the whole request, and this is that request.
                    if let Ok(owned) = unsafe { std::os::fd::BorrowedFd::borrow_raw(fd) }.try_clone_to_owned() {
                        sockets.push(owned);
                    }
                }
                ctx.stream = Some(edge.watch_stream(session.req_header().clone(), allowed, sockets));
            }
        }
        if let Some(edge) = &ctx.edge {
            edge.filter_response(upstream_response);
            if let Some(sent) = ctx.upstream_sent.take() {
                let took = sent.elapsed().as_secs_f64();
                edge.metrics().upstream_duration.observe(took);
                ctx.upstream_ms = Some(took * 1000.0);
            }
        }
        Ok(())
    }

    /// One access-log line, when the log is on.
    async fn logging(&self, session: &mut Session, _e: Option<&Error>, ctx: &mut RequestCtx) {
        let Some(log) = &self.access_log else { return };
        let cfg = log.config();
        let req = session.req_header();
        let header = |name: &str| req.headers.get(name).and_then(|v| v.to_str().ok()).map(str::to_string);
        let identity = ctx.allowed.as_ref().and_then(|a| a.identity.as_ref());
        let (outcome, reason) = match (&ctx.denial, &ctx.allowed) {
            (Some(d), _) => (Some(d.outcome().label()), Some(d.reason())),
            (None, Some(a)) if a.identity.is_some() => (Some(crate::edge::Outcome::Allowed.label()), None),
            (None, Some(_)) => (Some(crate::edge::Outcome::Public.label()), None),
            (None, None) => (None, None),
        };
        let route = match (&ctx.edge, &ctx.allowed) {
            _ if ctx.auth_server => Some("authorization_server".to_string()),
            (Some(edge), Some(a)) => edge.route_name(a.route).map(str::to_string),
            _ => None,
        };
        let subject = identity.and_then(|i| i.subject()).map(|s| {
            if cfg.hash_subject {
                use sha2::Digest;
                hex::encode(sha2::Sha256::digest(s.as_bytes()))
            } else {
                s.to_string()
            }
        });
        let line = crate::access_log::Line {
            time: crate::access_log::now_rfc3339(),
            client: ctx.client_ip.map(|ip| ip.to_string()),
            method: req.method.to_string(),
            path: crate::access_log::loggable_path(
                req.uri.path_and_query().map_or(req.uri.path(), |p| p.as_str()),
                cfg.include_query,
            ),
            protocol: if session.is_http2() { "HTTP/2" } else { "HTTP/1.1" },
            status: session.response_written().map_or(0, |r| r.status.as_u16()),
            bytes_in: session.body_bytes_read(),
            bytes_out: session.body_bytes_sent(),
            duration_ms: ctx.started.map_or(0.0, |s| s.elapsed().as_secs_f64() * 1000.0),
            upstream_ms: ctx.upstream_ms,
            route,
            outcome,
            reason,
            issuer: identity.map(|i| i.issuer().to_string()),
            client_id: identity.and_then(|i| i.client_id()).map(str::to_string),
            subject,
            request_id: header(crate::forwarded::REQUEST_ID),
            user_agent: header("user-agent").map(|ua| ua.chars().take(512).collect()),
        };
        log.log(&line);
    }

    /// Remembers the upstream socket, for [`crate::edge::stream`].
    async fn connected_to_upstream(
        &self,
        _session: &mut Session,
        _reused: bool,
        _peer: &HttpPeer,
        fd: std::os::fd::RawFd,
        _digest: Option<&pingora::protocols::Digest>,
        ctx: &mut RequestCtx,
    ) -> Result<()> {
        ctx.upstream_fd = Some(fd);
        Ok(())
    }

    /// Refuses every further chunk of a stream whose token went bad.
    fn response_body_filter(
        &self,
        _session: &mut Session,
        _body: &mut Option<bytes::Bytes>,
        _end_of_stream: bool,
        ctx: &mut RequestCtx,
    ) -> Result<Option<Duration>> {
        if ctx.stream.as_ref().is_some_and(|s| s.is_cut()) {
            return Err(stream_cut());
        }
        Ok(None)
    }

    /// How a request is named in Pingora's own error lines: method, path and host, never the query string (it may
    /// carry an `access_token`).
    fn request_summary(&self, session: &Session, _ctx: &RequestCtx) -> String {
        crate::edge::request_summary(session.req_header())
    }

    /// A client closing its connection is routine, not an error worth a log line.
    fn suppress_error_log(&self, _session: &Session, _ctx: &RequestCtx, error: &Error) -> bool {
        *error.esource() == ErrorSource::Downstream
            && matches!(error.etype(), ErrorType::ConnectionClosed | ErrorType::ReadError | ErrorType::WriteError)
    }

    /// Upstream failures: 504 for timeouts, 502 otherwise, each with a JSON body ([`ProxyFailure`]).
    ///
    /// Once the response header has gone to the client (a body cut short, a stream closed at its token's end), there
    /// is nothing left to answer with: the connection is closed, and no JSON is appended to a body already under way.
    async fn fail_to_proxy(&self, session: &mut Session, e: &Error, _ctx: &mut RequestCtx) -> FailToProxy {
        let Some(failure) = ProxyFailure::from_error(e) else {
            return FailToProxy { error_code: 0, can_reuse_downstream: false };
        };
        if session.response_written().is_some() {
            tracing::debug!(error = %e, "response cut short after its header was sent");
            return FailToProxy { error_code: 0, can_reuse_downstream: false };
        }
        let answer = failure.answer();
        if answer.status >= 500 && *e.esource() == ErrorSource::Upstream {
            self.edge.load().metrics().upstream_error(answer.status);
        }
        tracing::warn!(status = answer.status, error = %e, "request failed");
        if crate::edge::deny::write(session, &answer).await.is_err() {
            tracing::debug!("could not send the error response");
        }
        FailToProxy { error_code: answer.status, can_reuse_downstream: false }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Regression: the balancer's backends were loaded by its background service only, so requests that came before
    /// its first run were answered 502 (seen as a flaky `several_upstreams_are_balanced` on a loaded machine).
    #[test]
    fn several_upstreams_can_be_selected_before_the_health_service_runs() {
        let toml = "[upstream]\nurls = [\"http://127.0.0.1:3001\", \"http://127.0.0.1:3002\"]\n\
                    [[routes]]\npath = \"/\"\nauth = \"none\"\n";
        let config = crate::Config::from_toml(toml, "t.toml").unwrap();
        let (upstreams, service) = Upstreams::new(&config.upstream).unwrap();
        assert!(service.is_some());
        let Upstreams::Balanced(lb) = upstreams else { panic!("two origins are balanced") };
        let picked: std::collections::BTreeSet<String> =
            (0..4).filter_map(|_| lb.select(b"", 256)).map(|b| b.addr.to_string()).collect();
        assert_eq!(picked.len(), 2, "{picked:?}");
    }
}
