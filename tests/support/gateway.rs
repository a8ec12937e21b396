//! Runs a real tokengate process (in this test process, on its own threads) in front of the fixtures.

use std::sync::Arc;
use std::time::Duration;

use tokengate::server::{Options, Shutdown};
use tokengate::{Config, Edge, ManualClock};

use super::http::client;
use super::{TestIssuer, TestUpstream};

/// The audience the test gateway accepts.
pub const AUDIENCE: &str = "http://gateway.test/";

/// The routes most tests use.
pub const ROUTES: &str = r#"
[[routes]]
path = "/public/"
auth = "none"

[[routes]]
path = "/api/"
methods = ["GET", "HEAD"]
scopes = ["api:read"]

[[routes]]
path = "/api/"
methods = ["POST", "PUT", "PATCH", "DELETE"]
scopes = ["api:write"]

[[routes]]
name = "reports"
path = "/reports/"
any_scopes = ["reports:read", "admin"]

[[routes]]
path = "/both/"
scopes = ["api:read", "api:write"]
"#;

/// A configuration for a gateway in front of `issuer` and `upstream`, to adjust before starting.
#[derive(Clone)]
pub struct GatewayConfig {
    pub upstream: String,
    pub issuer: String,
    /// Lines added to `[auth]`.
    pub auth: String,
    /// Lines added to the `[[auth.issuers]]` entry.
    pub issuer_extra: String,
    /// The `[auth.issuers.introspection]` table body; `None` leaves introspection out.
    pub introspection: Option<String>,
    /// Lines added to `[upstream]`.
    pub upstream_extra: String,
    /// Lines added to `[server]`.
    pub server_extra: String,
    /// The routes.
    pub routes: String,
}

impl GatewayConfig {
    pub fn new(issuer: &TestIssuer, upstream: &TestUpstream) -> Self {
        GatewayConfig {
            upstream: upstream.url(),
            issuer: issuer.issuer_url(),
            auth: String::new(),
            issuer_extra: String::new(),
            introspection: Some(
                "client_id = \"gateway\"\nclient_secret = \"gateway-secret\"\ncache_ttl_secs = 300\nnegative_cache_ttl_secs = 10\ntimeout_ms = 1000\n".into(),
            ),
            upstream_extra: String::new(),
            server_extra: String::new(),
            routes: ROUTES.into(),
        }
    }

    /// Only the `[auth]` and `[[routes]]` part, as an embedding proxy reads it.
    pub fn edge_toml(&self) -> String {
        let full = self.to_toml();
        let start = full.find("[auth]").expect("an [auth] section");
        full[start..].to_string()
    }

    pub fn to_toml(&self) -> String {
        let id: u64 = rand::random();
        let mut s = format!(
            "[server]\nlisten = \"127.0.0.1:0\"\nthreads = 2\npid_file = \"/tmp/tokengate-test-{id}.pid\"\nupgrade_sock = \"/tmp/tokengate-test-{id}.sock\"\n{}\n\n\
             [metrics]\nlisten = \"127.0.0.1:0\"\n\n\
             [upstream]\n{}connect_timeout_ms = 1000\n{}{}\n\n\
             [auth]\n{}\n\n\
             [[auth.issuers]]\nissuer = \"{}\"\naudiences = [\"{AUDIENCE}\"]\n{}{}\n",
            self.server_extra,
            if self.upstream.is_empty() { String::new() } else { format!("url = \"{}\"\n", self.upstream) },
            if self.upstream_extra.contains("read_timeout_ms") { "" } else { "read_timeout_ms = 2000\n" },
            self.upstream_extra,
            self.auth,
            self.issuer,
            if self.issuer_extra.contains("algorithms") { "" } else { "algorithms = [\"RS256\", \"ES256\", \"EdDSA\"]\n" },
            self.issuer_extra
        );
        if let Some(i) = &self.introspection {
            s.push_str(&format!("\n[auth.issuers.introspection]\n{i}\n"));
        }
        s.push_str(&self.routes);
        s
    }
}

/// A running gateway. Stops when dropped.
pub struct TestGateway {
    pub url: String,
    /// The TLS listener's address, with `[server.tls]`.
    pub tls_addr: Option<std::net::SocketAddr>,
    pub metrics_url: String,
    pub clock: ManualClock,
    pub edge: Edge,
    shutdown: Shutdown,
}

impl TestGateway {
    /// Starts a gateway and waits until it is ready (keys loaded).
    pub async fn start(cfg: &GatewayConfig) -> TestGateway {
        let gw = Self::start_unready(cfg).await;
        gw.wait_ready().await;
        gw
    }

    /// Starts a gateway without waiting for readiness.
    pub async fn start_unready(cfg: &GatewayConfig) -> TestGateway {
        let config = Config::from_toml(&cfg.to_toml(), "test").unwrap_or_else(|e| panic!("{e}"));
        let clock = ManualClock::at_system_time();
        let options = Options { clock: Arc::new(clock.clone()), registry: Some(prometheus::Registry::new()) };
        let process = tokengate::server::build(config, options).expect("gateway builds");
        let url = process.proxy_addr.map(|a| format!("http://{a}")).unwrap_or_default();
        let tls_addr = process.tls_addr;
        let metrics_url = format!("http://{}", process.metrics_addr.expect("metrics listener"));
        let edge = process.edge.clone();
        let shutdown = Shutdown::new();
        let stop = shutdown.clone();
        std::thread::spawn(move || process.run_until(stop));
        TestGateway { url, tls_addr, metrics_url, clock, edge, shutdown }
    }

    /// Polls `/readyz` until it answers 200 (10 s at most).
    pub async fn wait_ready(&self) {
        for _ in 0..200 {
            if let Ok(r) = client().get(format!("{}/readyz", self.metrics_url)).send().await {
                if r.status() == 200 {
                    return;
                }
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("gateway not ready after 10 s");
    }

    /// A GET through the gateway with an optional bearer token.
    pub async fn get(&self, path: &str, token: Option<&str>) -> reqwest::Response {
        let mut req = client().get(format!("{}{}", self.url, path));
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        req.send().await.expect("request")
    }

    /// A request with any method and headers.
    pub fn request(&self, method: reqwest::Method, path: &str) -> reqwest::RequestBuilder {
        client().request(method, format!("{}{}", self.url, path))
    }

    /// The Prometheus text exposition.
    pub async fn scrape(&self) -> String {
        client().get(format!("{}/metrics", self.metrics_url)).send().await.unwrap().text().await.unwrap()
    }

    /// One sample's value, e.g. `tokengate_requests_total{outcome="allowed",route="/api/"}` (labels in the order the
    /// exposition prints them: alphabetical). Absent samples are 0.
    pub async fn metric(&self, sample: &str) -> f64 {
        let text = self.scrape().await;
        text.lines()
            .find_map(|l| {
                l.strip_prefix(sample).and_then(|rest| rest.strip_prefix(' ')).and_then(|v| v.trim().parse().ok())
            })
            .unwrap_or(0.0)
    }
}

impl Drop for TestGateway {
    fn drop(&mut self) {
        self.shutdown.trigger();
    }
}

/// An issuer, an upstream and a gateway in front of them, all started.
pub struct Stack {
    pub issuer: TestIssuer,
    pub upstream: TestUpstream,
    pub gateway: TestGateway,
}

impl Stack {
    pub async fn start() -> Stack {
        Self::start_with(|_| {}).await
    }

    pub async fn start_with(adjust: impl FnOnce(&mut GatewayConfig)) -> Stack {
        let issuer = TestIssuer::start().await;
        let upstream = TestUpstream::start().await;
        let mut cfg = GatewayConfig::new(&issuer, &upstream);
        adjust(&mut cfg);
        let gateway = TestGateway::start(&cfg).await;
        Stack { issuer, upstream, gateway }
    }
}

/// Reads a JSON body.
pub async fn json(resp: reqwest::Response) -> serde_json::Value {
    resp.json().await.expect("JSON body")
}
