//! A minimal Pingora proxy with tokengate's edge checks: every request's token is verified, scopes decided per route,
//! refusals answered (RFC 6750), identity headers set, `tokengate_*` metrics on /metrics.
//!
//!   EDGE_CONFIG=edge.toml UPSTREAM=127.0.0.1:3000 LISTEN=127.0.0.1:8080 METRICS=127.0.0.1:9090 \
//!     cargo run --example embed
//!
//! `edge.toml` holds the `[auth]` and `[[routes]]` sections of a tokengate configuration.

use async_trait::async_trait;
use pingora::prelude::*;
use tokengate::{Admission, Allowed, Edge, EdgeConfig};

struct MyProxy {
    edge: Edge,
    upstream: String,
}

#[async_trait]
impl ProxyHttp for MyProxy {
    type CTX = Option<Allowed>;

    fn new_ctx(&self) -> Self::CTX {
        None
    }

    async fn request_filter(&self, session: &mut Session, ctx: &mut Self::CTX) -> Result<bool> {
        match self.edge.admit(session).await? {
            Admission::Allowed(allowed) => {
                *ctx = Some(allowed);
                Ok(false)
            }
            Admission::Refused(_) => Ok(true), // the edge has written the 401/403/400/404/503
        }
    }

    async fn upstream_peer(&self, _: &mut Session, _: &mut Self::CTX) -> Result<Box<HttpPeer>> {
        Ok(Box::new(HttpPeer::new(self.upstream.as_str(), false, String::new())))
    }

    async fn upstream_request_filter(
        &self,
        _: &mut Session,
        req: &mut RequestHeader,
        ctx: &mut Self::CTX,
    ) -> Result<()> {
        if let Some(allowed) = ctx {
            self.edge.apply_identity(allowed, req); // strips inbound X-Auth-* (any spelling), sets the caller's identity
        }
        Ok(())
    }

    async fn upstream_response_filter(
        &self,
        _: &mut Session,
        resp: &mut ResponseHeader,
        _: &mut Self::CTX,
    ) -> Result<()> {
        self.edge.filter_response(resp); // the upstream cannot set tokengate's own cookies
        Ok(())
    }

    fn request_summary(&self, session: &Session, _: &Self::CTX) -> String {
        tokengate::edge::request_summary(session.req_header()) // Pingora's error lines, without the query string
    }
}

fn main() {
    let env = |k: &str, d: &str| std::env::var(k).unwrap_or_else(|_| d.to_string());
    let path = env("EDGE_CONFIG", "edge.toml");
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    let config = EdgeConfig::from_toml(&text, &path).unwrap_or_else(|e| panic!("{e}"));

    let edge = Edge::builder(config).build();
    edge.register_metrics(prometheus::default_registry()).expect("metrics");

    let mut server = Server::new(None).expect("server");
    server.bootstrap();
    let mut proxy = http_proxy_service(
        &server.configuration,
        MyProxy { edge: edge.clone(), upstream: env("UPSTREAM", "127.0.0.1:3000") },
    );
    proxy.add_tcp(&env("LISTEN", "127.0.0.1:8080"));
    server.add_service(proxy);
    server.add_service(edge.background_service());
    let mut metrics = pingora_prometheus::prometheus_http_service();
    metrics.add_tcp(&env("METRICS", "127.0.0.1:9090"));
    server.add_service(metrics);
    server.run_forever();
}
