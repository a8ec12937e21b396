//! Assembles the process from a validated [`Config`]: the proxy service, the edge's key refresher, the metrics and
//! health listener, the upstream health checks and the demo services, all on one Pingora [`Server`].
//!
//! Listeners are bound here, before Pingora starts, so that a configured port 0 resolves to a real port that is
//! known (and logged) up front; the proxy's are served by [`crate::listener`].

use std::net::{SocketAddr, TcpListener};
use std::sync::Arc;

use async_trait::async_trait;
use pingora::server::configuration::ServerConf;
use pingora::server::{RunArgs, Server, ShutdownSignal, ShutdownSignalWatch};

use crate::clock::{Clock, SystemClock};
use crate::config::Config;
use crate::edge::Edge;
use crate::proxy::{Gateway, Upstreams};

/// Options that tests and embedders set; the binary uses the defaults.
pub struct Options {
    /// The clock for expiry decisions.
    pub clock: Arc<dyn Clock>,
    /// The registry the metrics go to; `None` means the process-wide default registry.
    pub registry: Option<prometheus::Registry>,
}

impl Default for Options {
    fn default() -> Self {
        Options { clock: Arc::new(SystemClock), registry: None }
    }
}

/// A built, not yet running, tokengate process.
pub struct Process {
    server: Server,
    /// The proxy's bound plain-HTTP address, unless only TLS listens.
    pub proxy_addr: Option<SocketAddr>,
    /// The proxy's bound TLS address, with `[server.tls]`.
    pub tls_addr: Option<SocketAddr>,
    /// The certificates the TLS listener serves (reloaded on SIGHUP).
    pub certificates: Option<Arc<crate::tls::Certificates>>,
    /// The metrics listener's bound address.
    pub metrics_addr: Option<SocketAddr>,
    /// The demo upstream's and demo issuer's bound addresses, when enabled.
    pub demo: Option<crate::demo::DemoAddrs>,
    /// The admin API's bound address, with the authorization server.
    pub admin_addr: Option<SocketAddr>,
    /// The registry, with the authorization server.
    pub registry: Option<crate::registry::Registry>,
    /// The edge, shared with the proxy.
    pub edge: Edge,
    /// Runs the database pool's work outside Pingora's service runtimes.
    _runtime: Option<tokio::runtime::Runtime>,
}

/// Opens the store of the authorization server (for the server and the CLI).
pub async fn open_registry(
    cfg: &crate::config::AuthorizationServerConfig,
    clock: Arc<dyn Clock>,
) -> Result<crate::registry::Registry, crate::store::StoreError> {
    let store = crate::store::SqlStore::open_with(&cfg.database, cfg.database_max_connections).await?;
    Ok(crate::registry::Registry::new(Arc::new(store), clock, cfg.max_apps))
}

/// The edge of this process: `[auth]` and `[[routes]]`, trusting the built-in authorization server when it runs, and
/// counting in `metrics` (those of the edge it replaces, on a reload).
pub(crate) fn build_edge(
    cfg: &crate::edge::config::EdgeConfig,
    clock: Arc<dyn Clock>,
    local: Option<&Arc<crate::authz::AuthServer>>,
    metrics: Option<Arc<crate::metrics::EdgeMetrics>>,
) -> Edge {
    let mut builder = Edge::builder(cfg.clone()).clock(clock);
    if let Some(az) = local {
        builder = builder.local_issuer(az.issuer_config(), az.clone());
    }
    if let Some(m) = metrics {
        builder = builder.shared_metrics(m);
    }
    builder.build()
}

/// Binds a listener; the error names the address.
pub(crate) fn bind(addr: SocketAddr) -> std::io::Result<TcpListener> {
    let l =
        TcpListener::bind(addr).map_err(|e| std::io::Error::new(e.kind(), format!("cannot listen on {addr}: {e}")))?;
    l.set_nonblocking(true)?;
    Ok(l)
}

/// Binds the listeners and builds every service. Fails if a listener cannot be bound.
pub fn build(config: Config, options: Options) -> std::io::Result<Process> {
    let demo = if config.demo.enabled { Some(crate::demo::bind(&config.demo, &config)?) } else { None };
    let proxy_listener = config.server.listen.map(bind).transpose()?;
    let proxy_addr = proxy_listener.as_ref().map(|l| l.local_addr()).transpose()?;
    let (tls_listener, certificates) = match &config.server.tls {
        Some(t) => {
            let certs = crate::tls::Certificates::load(&t.certificates).map_err(|errors| {
                let reasons: Vec<String> =
                    errors.iter().map(|(i, e)| format!("server.tls.certificates[{i}]: {e}")).collect();
                std::io::Error::other(reasons.join("; "))
            })?;
            (Some(bind(t.listen)?), Some(Arc::new(certs)))
        }
        None => (None, None),
    };
    let tls_addr = tls_listener.as_ref().map(|l| l.local_addr()).transpose()?;
    let metrics_listener = config.metrics.listen.map(bind).transpose()?;
    let metrics_addr = metrics_listener.as_ref().map(|l| l.local_addr()).transpose()?;

    let conf = ServerConf {
        threads: config.server.threads,
        work_stealing: config.server.work_stealing,
        grace_period_seconds: Some(config.server.grace_period.as_secs()),
        graceful_shutdown_timeout_seconds: Some(config.server.graceful_shutdown_timeout.as_secs()),
        pid_file: config.server.pid_file.clone(),
        upgrade_sock: config.server.upgrade_sock.clone(),
        ca_file: config.upstream.ca_file.as_ref().map(|p| p.display().to_string()),
        ..ServerConf::default()
    };
    let mut server = Server::new_with_opt_and_conf(None, conf);

    // The built-in authorization server, when enabled: its store, registry, keys and revocations come first, since
    // the edge trusts its tokens directly.
    let (mut admin_addr, mut registry, mut runtime, mut auth_server) = (None, None, None, None);
    if let Some(az) = &config.authorization_server {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .thread_name("tokengate-db")
            .enable_all()
            .build()?;
        let reg = rt.block_on(open_registry(az, options.clock.clone())).map_err(|e| {
            std::io::Error::other(format!(
                "authorization_server.database `{}`: {e}",
                crate::store::redact_location(&az.database)
            ))
        })?;
        let admins = rt.block_on(reg.store().count_admins()).unwrap_or(0);
        if admins == 0 {
            tracing::warn!(
                "no administrator yet: create one with `tokengate users add NAME --admin --password-stdin --config {}`",
                config.source
            );
        }
        let server_az = rt
            .block_on(crate::authz::AuthServer::new(az.clone(), reg.clone()))
            .map_err(|e| std::io::Error::other(format!("authorization server: {e}")))?;
        let listener = bind(config.admin.listen)?;
        admin_addr = Some(listener.local_addr()?);
        let mut svc = pingora::services::background::background_service(
            "tokengate admin",
            crate::admin::AdminService::new(listener, reg.clone()),
        );
        svc.threads = Some(1);
        server.add_service(svc);
        let mut sync = pingora::services::background::background_service(
            "tokengate sync",
            crate::authz::SyncService(server_az.clone()),
        );
        sync.threads = Some(1);
        server.add_service(sync);
        registry = Some(reg);
        runtime = Some(rt);
        auth_server = Some(server_az);
    }

    let edge = build_edge(&config.edge, options.clock.clone(), auth_server.as_ref(), None);
    let registry_metrics = options.registry.unwrap_or_else(|| prometheus::default_registry().clone());
    edge.register_metrics(&registry_metrics).map_err(|e| std::io::Error::other(format!("metrics: {e}")))?;
    if let Some(az) = &auth_server {
        az.register_metrics(&registry_metrics).map_err(|e| std::io::Error::other(format!("metrics: {e}")))?;
    }

    let (upstreams, health) = Upstreams::new(&config.upstream)?;
    let current = Arc::new(arc_swap::ArcSwap::from_pointee(edge.clone()));
    let mut gateway = Gateway::new(current.clone(), upstreams, &config.upstream, config.server.max_body_bytes);
    gateway = gateway.with_trusted_proxies(config.server.trusted_proxies.clone());
    if let Some(cfg) = &config.access_log {
        let (log, writer) = crate::access_log::AccessLog::new(cfg.clone(), edge.metrics().access_log_dropped.clone());
        gateway = gateway.with_access_log(log);
        let mut svc = pingora::services::background::background_service("tokengate access log", writer);
        svc.threads = Some(1);
        server.add_service(svc);
    }
    if let Some(az) = &auth_server {
        gateway = gateway.with_auth_server(az.router());
    }
    if let Some(t) = &config.server.tls {
        gateway = gateway.with_tls(crate::proxy::TlsPolicy {
            redirect_http: t.redirect_http,
            https_port: tls_addr.map_or(443, |a| a.port()),
            hsts_max_age_secs: t.hsts_max_age_secs,
        });
    }
    let mut app = pingora::proxy::http_proxy(&server.configuration, gateway);
    let mut server_options = pingora::apps::HttpServerOptions::default();
    server_options.h2c = config.server.h2c;
    app.server_options = Some(server_options);
    let mut endpoints = Vec::new();
    if let (Some(listener), Some(addr)) = (proxy_listener, proxy_addr) {
        endpoints.push(crate::listener::Endpoint { key: addr.to_string(), listener, tls: None });
    }
    if let (Some(listener), Some(addr), Some(certs), Some(t)) =
        (tls_listener, tls_addr, &certificates, &config.server.tls)
    {
        let rustls =
            certs.server_config(t.min_version).map_err(|e| std::io::Error::other(format!("server.tls: {e}")))?;
        endpoints.push(crate::listener::Endpoint {
            key: addr.to_string(),
            listener,
            tls: Some(crate::listener::acceptor(rustls)),
        });
    }
    server.add_service(crate::listener::ProxyListeners::new("tokengate proxy", app, endpoints));

    if let Some(hc) = health {
        server.add_service(hc);
    }

    if let Some(listener) = metrics_listener {
        let mut svc = pingora::services::background::background_service(
            "tokengate metrics",
            crate::health::HealthService::new(listener, edge.clone(), registry_metrics),
        );
        svc.threads = Some(1);
        server.add_service(svc);
    }

    if let Some(d) = &demo {
        let mut svc = pingora::services::background::background_service("tokengate demo", d.service()?);
        svc.threads = Some(1);
        server.add_service(svc);
    }

    let path = (config.source != "<embedded default>").then(|| std::path::PathBuf::from(&config.source));
    let mut reloader = pingora::services::background::background_service(
        "tokengate reload",
        crate::reload::Reloader {
            path,
            running: std::sync::Mutex::new(config.clone()),
            edge: current,
            clock: options.clock.clone(),
            local: auth_server.clone(),
            certificates: certificates.clone(),
        },
    );
    reloader.threads = Some(1);
    server.add_service(reloader);

    let demo_addrs = demo.as_ref().map(|d| d.addrs());
    Ok(Process {
        server,
        proxy_addr,
        tls_addr,
        certificates,
        metrics_addr,
        demo: demo_addrs,
        admin_addr,
        registry,
        edge,
        _runtime: runtime,
    })
}

impl Process {
    /// Runs until a signal: SIGTERM drains gracefully, SIGINT stops at once, SIGQUIT hands the sockets to a new
    /// process (Pingora's graceful upgrade).
    pub fn run(self) {
        self.server.run(RunArgs::default());
    }

    /// Runs until `shutdown` fires (tests and embedders).
    pub fn run_until(self, shutdown: Shutdown) {
        self.server.run(RunArgs { shutdown_signal: Box::new(shutdown) });
    }
}

/// A programmatic shutdown trigger.
#[derive(Clone, Default)]
pub struct Shutdown(Arc<tokio::sync::Notify>);

impl Shutdown {
    /// A new trigger.
    pub fn new() -> Self {
        Self::default()
    }

    /// Asks the process to stop at once.
    pub fn trigger(&self) {
        self.0.notify_one();
    }
}

#[async_trait]
impl ShutdownSignalWatch for Shutdown {
    async fn recv(&self) -> ShutdownSignal {
        self.0.notified().await;
        ShutdownSignal::FastShutdown
    }
}
