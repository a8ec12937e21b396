//! Configuration: the TOML file read once, validated once, every error reported together with its key and place.
//!
//! [`Config::load`] and [`Config::from_toml`] are the only ways in; what they return has been checked, so the rest
//! of tokengate never re-validates. Each problem is a [`ConfigError`] naming the key (`auth.issuers[0].algorithms`),
//! the reason, and the line and column when the key is in the file.

mod file;

use std::fmt;
use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;

use jsonwebtoken::Algorithm;
use url::Url;

use crate::secret::Secret;
use file::*;

/// The configuration that ships with tokengate and is used when no file is found at the default path.
pub const EMBEDDED_DEFAULT: &str = include_str!("../../config/tokengate.toml");

/// The default configuration path, relative to the working directory.
pub const DEFAULT_PATH: &str = "config/tokengate.toml";

/// A validated configuration.
#[derive(Debug, Clone)]
pub struct Config {
    /// `[server]`: the proxy listener and process settings.
    pub server: ServerConfig,
    /// `[metrics]`: the Prometheus and health listener.
    pub metrics: MetricsConfig,
    /// `[upstream]`: the protected API.
    pub upstream: UpstreamConfig,
    /// `[auth]` and `[[routes]]`: everything the edge needs.
    pub edge: EdgeConfig,
    /// `[demo]`: the built-in demo upstream and demo issuer.
    pub demo: DemoConfig,
    /// `[authorization_server]`: the built-in OAuth2 server and its registry; `None` when disabled.
    pub authorization_server: Option<AuthorizationServerConfig>,
    /// `[admin]`: the admin API listener (with the authorization server only).
    pub admin: AdminConfig,
    /// Where this configuration came from, for logs.
    pub source: String,
}

/// `[server]`.
#[derive(Debug, Clone, PartialEq)]
pub struct ServerConfig {
    /// The proxy's listening address; port 0 picks a free port.
    pub listen: SocketAddr,
    /// Worker threads of the proxy service.
    pub threads: usize,
    /// SIGTERM: how long to keep accepting before shutting down.
    pub grace_period: Duration,
    /// SIGTERM: how long in-flight requests get to finish after that.
    pub graceful_shutdown_timeout: Duration,
    /// Pingora's pid file.
    pub pid_file: String,
    /// Pingora's graceful-upgrade socket.
    pub upgrade_sock: String,
    /// Largest request body forwarded; larger ones get 413.
    pub max_body_bytes: u64,
    /// One work-stealing runtime for the worker threads (true), or one runtime per thread (false).
    pub work_stealing: bool,
}

/// `[metrics]`.
#[derive(Debug, Clone, PartialEq)]
pub struct MetricsConfig {
    /// Where `/metrics`, `/healthz` and `/readyz` are served; `None` turns the listener off.
    pub listen: Option<SocketAddr>,
}

/// `[upstream]`.
#[derive(Debug, Clone, PartialEq)]
pub struct UpstreamConfig {
    /// One or more origins of the protected API.
    pub urls: Vec<UpstreamUrl>,
    /// TCP (and TLS) connect timeout.
    pub connect_timeout: Duration,
    /// Read timeout for the upstream's answer.
    pub read_timeout: Duration,
    /// Health-check period when there are several upstreams.
    pub health_check_interval: Duration,
}

/// One upstream origin.
#[derive(Debug, Clone, PartialEq)]
pub struct UpstreamUrl {
    /// `host:port` to connect to.
    pub address: String,
    /// Whether to speak TLS.
    pub tls: bool,
    /// The host name for SNI and certificate checks.
    pub host: String,
}

/// The edge's configuration: `[auth]` and `[[routes]]`. This is what an embedding proxy hands to
/// [`crate::Edge::builder`].
#[derive(Debug, Clone)]
pub struct EdgeConfig {
    /// Where tokens are looked for, in order.
    pub token_sources: Vec<TokenSource>,
    /// Pass the token upstream (true) or strip it.
    pub forward_token: bool,
    /// What happens to a request that matches no route.
    pub default: DefaultPolicy,
    /// Maximum entries in each verified-token cache.
    pub cache_capacity: u64,
    /// Longest token accepted, in bytes.
    pub max_token_bytes: usize,
    /// Trusted issuers.
    pub issuers: Vec<IssuerConfig>,
    /// Routes, first match wins.
    pub routes: Vec<RouteConfig>,
}

/// Where a token may come from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenSource {
    /// `Authorization: Bearer <token>`, scheme case-insensitive (RFC 6750 2.1).
    Authorization,
    /// `sessionID: <token>`, as Workfront clients send it.
    SessionId,
    /// `?access_token=<token>` (RFC 6750 2.3); off unless configured.
    Query,
}

/// What happens to a request that matches no route.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DefaultPolicy {
    /// Refuse with 404.
    Deny,
    /// Require a valid token, no particular scope.
    Authenticated,
}

/// One `[[auth.issuers]]` entry.
#[derive(Debug, Clone)]
pub struct IssuerConfig {
    /// The exact `iss` value.
    pub issuer: String,
    /// Accepted `aud` values; a token must name at least one.
    pub audiences: Vec<String>,
    /// Where the keys are; `None` means discovery.
    pub jwks_uri: Option<Url>,
    /// Whether to use RFC 8414 / OpenID discovery for what is not configured.
    pub discovery: bool,
    /// Accepted signing algorithms (asymmetric only).
    pub algorithms: Vec<Algorithm>,
    /// Clock skew allowed on `exp` and `nbf`.
    pub leeway_secs: u64,
    /// Required JOSE `typ` (e.g. `at+jwt`, RFC 9068), compared case-insensitively.
    pub require_typ: Option<String>,
    /// Background refresh period of the key set when the answer carries no `Cache-Control: max-age`.
    pub jwks_refresh: Duration,
    /// RFC 7662 introspection for opaque tokens.
    pub introspection: Option<IntrospectionConfig>,
}

/// `[auth.issuers.introspection]`.
#[derive(Debug, Clone)]
pub struct IntrospectionConfig {
    /// The endpoint; `None` means discovery.
    pub endpoint: Option<Url>,
    /// The gateway's client id at the issuer.
    pub client_id: String,
    /// The gateway's client secret.
    pub client_secret: Secret,
    /// How long an active answer is kept (never past the token's `exp`).
    pub cache_ttl: Duration,
    /// How long an inactive answer is kept.
    pub negative_cache_ttl: Duration,
    /// Timeout of one introspection call.
    pub timeout: Duration,
}

/// What a route asks of a request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RouteAuth {
    /// No token needed.
    None,
    /// A valid token carrying these scopes.
    Required {
        /// Every one of these.
        all: Vec<String>,
        /// At least one of these (when not empty).
        any: Vec<String>,
    },
}

/// One `[[routes]]` entry.
#[derive(Debug, Clone)]
pub struct RouteConfig {
    /// Label used in metrics; defaults to the path.
    pub name: String,
    /// Path prefix, matched on segment boundaries after normalisation.
    pub path: String,
    /// Methods this route covers; empty means all.
    pub methods: Vec<http::Method>,
    /// What the route requires.
    pub auth: RouteAuth,
    /// Requests allowed per caller (the token's client id; the client address on public routes).
    pub rate_limit: Option<RateLimit>,
}

/// A rate: `requests` per `per`, bursts of up to `requests` allowed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RateLimit {
    /// How many requests.
    pub requests: u32,
    /// In how long.
    pub per: Duration,
}

impl RateLimit {
    /// Parses `100/s`, `6000/m` or `100000/h`.
    pub fn parse(s: &str) -> Result<RateLimit, String> {
        let (n, unit) =
            s.split_once('/').ok_or_else(|| format!("`{s}` is not like \"100/s\", \"6000/m\" or \"100000/h\""))?;
        let requests: u32 =
            n.trim().parse().ok().filter(|n| *n > 0).ok_or_else(|| format!("`{n}` is not a positive number"))?;
        let per = match unit.trim() {
            "s" => Duration::from_secs(1),
            "m" => Duration::from_secs(60),
            "h" => Duration::from_secs(3600),
            other => return Err(format!("unit `{other}` is not s, m or h")),
        };
        Ok(RateLimit { requests, per })
    }
}

/// Where the authorization server's data is: a file path, or a URL whose password `Debug` never shows.
#[derive(Clone, PartialEq, Eq)]
pub struct DatabaseLocation(pub String);

impl std::ops::Deref for DatabaseLocation {
    type Target = str;

    fn deref(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for DatabaseLocation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        std::fmt::Debug::fmt(&crate::store::redact_location(&self.0), f)
    }
}

/// `[authorization_server]`.
#[derive(Debug, Clone, PartialEq)]
pub struct AuthorizationServerConfig {
    /// The issuer identifier (`iss` of the tokens it signs), an https URL (or http on loopback).
    pub issuer: String,
    /// The database: a SQLite file path, or a `postgres://` URL (several instances share one).
    pub database: DatabaseLocation,
    /// How long after a rotation the replaced refresh token may be presented again by a client whose answer was
    /// lost (none of its successors used since); 0 (the default) treats every second use as reuse.
    pub refresh_token_reuse_grace_secs: i64,
    /// Pooled connections to the database at most (default: 8 for SQLite, 16 for PostgreSQL).
    pub database_max_connections: Option<u32>,
    /// At most this many apps at a time.
    pub max_apps: i64,
    /// Scopes apps may ask for.
    pub scopes: Vec<String>,
    /// `aud` of the access tokens it issues; defaults to the edge's first issuer audience or the issuer.
    pub audiences: Vec<String>,
    /// Algorithm of its signing key.
    pub signing_alg: Algorithm,
    /// Scopes granted when an authorization request names none (as Workfront clients send it).
    pub default_scopes: Vec<String>,
    /// Lifetime of access tokens.
    pub access_token_ttl: Duration,
    /// Token requests allowed per client (by `client_id`), when set.
    pub token_rate_limit: Option<RateLimit>,
}

/// `[admin]`.
#[derive(Debug, Clone, PartialEq)]
pub struct AdminConfig {
    /// Where the admin API listens.
    pub listen: SocketAddr,
}

/// `[demo]`.
#[derive(Debug, Clone, PartialEq)]
pub struct DemoConfig {
    /// Run the demo upstream and demo issuer.
    pub enabled: bool,
    /// The demo upstream's address.
    pub upstream_listen: SocketAddr,
    /// The demo issuer's address.
    pub issuer_listen: SocketAddr,
}

/// One problem in a configuration file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    /// The key, e.g. `auth.issuers[0].audiences`.
    pub key: String,
    /// Why it is wrong.
    pub reason: String,
    /// Line and column (1-based) when known.
    pub location: Option<(usize, usize)>,
}

/// Every problem found in one configuration file.
#[derive(Debug, Clone)]
pub struct ConfigErrors {
    /// The file (or `<embedded>`).
    pub source: String,
    /// The problems, in file order.
    pub errors: Vec<ConfigError>,
}

impl fmt::Display for ConfigErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let n = self.errors.len();
        writeln!(f, "{}: {} problem{}", self.source, n, if n == 1 { "" } else { "s" })?;
        for e in &self.errors {
            match e.location {
                Some((line, col)) => writeln!(f, "  {}:{}:{}: `{}`: {}", self.source, line, col, e.key, e.reason)?,
                None => writeln!(f, "  {}: `{}`: {}", self.source, e.key, e.reason)?,
            }
        }
        Ok(())
    }
}

impl std::error::Error for ConfigErrors {}

impl Config {
    /// Loads `path`; when `path` is the default and no such file exists, the embedded default is used.
    pub fn load(path: &Path, explicit: bool) -> Result<Config, ConfigErrors> {
        match std::fs::read_to_string(path) {
            Ok(text) => Self::from_toml(&text, &path.display().to_string()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound && !explicit => {
                Self::from_toml(EMBEDDED_DEFAULT, "<embedded default>")
            }
            Err(e) => Err(ConfigErrors {
                source: path.display().to_string(),
                errors: vec![ConfigError { key: "(file)".into(), reason: format!("cannot read: {e}"), location: None }],
            }),
        }
    }

    /// Parses and validates a configuration; `source` names it in errors.
    pub fn from_toml(text: &str, source: &str) -> Result<Config, ConfigErrors> {
        parse(text, source, |v, file| v.config(file, source))
    }
}

/// Whether `s` is a scope token: `%x21 / %x23-5B / %x5D-7E`, at least one (RFC 6749 3.3).
fn is_scope_token(s: &str) -> bool {
    !s.is_empty() && s.bytes().all(|b| b == 0x21 || (0x23..=0x5b).contains(&b) || (0x5d..=0x7e).contains(&b))
}

impl EdgeConfig {
    /// Whether some request needs a token: a route, or the default policy, demands one.
    pub fn needs_tokens(&self) -> bool {
        self.default == DefaultPolicy::Authenticated || self.routes.iter().any(|r| r.auth != RouteAuth::None)
    }

    /// Parses and validates the edge's part of a configuration: `[auth]` (with `[[auth.issuers]]`) and `[[routes]]`,
    /// for a Pingora proxy that embeds the edge. Any other section is an error, so that nothing is silently ignored.
    pub fn from_toml(text: &str, source: &str) -> Result<EdgeConfig, ConfigErrors> {
        parse(text, source, |v, mut file| {
            for (present, section) in [
                (file.server.is_some(), "server"),
                (file.metrics.is_some(), "metrics"),
                (file.upstream.is_some(), "upstream"),
                (file.demo.is_some(), "demo"),
                (file.authorization_server.is_some(), "authorization_server"),
                (file.admin.is_some(), "admin"),
            ] {
                if present {
                    v.error(section, "not used by an embedded edge: only [auth] and [[routes]] configure it");
                }
            }
            let edge = v.edge(file.auth.take(), std::mem::take(&mut file.routes))?;
            if edge.needs_tokens() && edge.issuers.is_empty() {
                v.error("auth.issuers", "some routes require a token, but no issuer is configured to check it");
            }
            Some(edge)
        })
    }
}

/// Parses `text`, collects unknown keys, runs `build`, and returns every problem found, sorted by place.
fn parse<T>(
    text: &str,
    source: &str,
    build: impl FnOnce(&mut Validator, FileConfig) -> Option<T>,
) -> Result<T, ConfigErrors> {
    let fail = |errors: Vec<ConfigError>| ConfigErrors { source: source.to_string(), errors };
    let de = toml::de::Deserializer::parse(text).map_err(|e| fail(vec![toml_error(text, &e)]))?;
    let mut unknown = Vec::new();
    let parsed: Result<FileConfig, _> = serde_ignored::deserialize(de, |path| unknown.push(key_path(&path)));
    let file = parsed.map_err(|e| fail(vec![toml_error(text, &e)]))?;
    let mut v = Validator::new(text);
    for key in unknown {
        v.error(&key, "unknown key");
    }
    match build(&mut v, file) {
        Some(c) if v.errors.is_empty() => Ok(c),
        _ => {
            let mut errors = v.errors;
            errors.sort_by_key(|e| e.location.unwrap_or((usize::MAX, 0)));
            Err(fail(errors))
        }
    }
}

fn toml_error(text: &str, e: &toml::de::Error) -> ConfigError {
    let location = e.span().map(|s| line_col(text, s.start));
    let message = e.message().trim().to_string();
    // serde's messages name the key for type errors ("invalid type: ... for key `server.threads`").
    let key = e.span().and_then(|s| key_at(text, s.start)).unwrap_or_else(|| "(syntax)".into());
    ConfigError { key, reason: message, location }
}

/// `auth.issuers[0].bogus` from serde_ignored's path.
fn key_path(path: &serde_ignored::Path<'_>) -> String {
    use serde_ignored::Path;
    match path {
        Path::Root => String::new(),
        Path::Seq { parent, index } => format!("{}[{index}]", key_path(parent)),
        Path::Map { parent, key } => {
            let p = key_path(parent);
            if p.is_empty() {
                key.clone()
            } else {
                format!("{p}.{key}")
            }
        }
        Path::Some { parent } | Path::NewtypeStruct { parent } | Path::NewtypeVariant { parent } => key_path(parent),
    }
}

fn line_col(text: &str, offset: usize) -> (usize, usize) {
    let before = &text[..offset.min(text.len())];
    let line = before.matches('\n').count() + 1;
    let col = before.rfind('\n').map(|i| offset - i).unwrap_or(offset + 1);
    (line, col)
}

/// Best-effort name of the key written on the line holding `offset`.
fn key_at(text: &str, offset: usize) -> Option<String> {
    let start = text[..offset.min(text.len())].rfind('\n').map(|i| i + 1).unwrap_or(0);
    let line = text[start..].lines().next()?;
    let (k, _) = line.split_once('=')?;
    let k = k.trim();
    (!k.is_empty()).then(|| k.to_string())
}

/// Collects every problem while building a [`Config`].
struct Validator<'t> {
    text: &'t str,
    doc: Option<toml::Spanned<toml::de::DeTable<'t>>>,
    errors: Vec<ConfigError>,
}

impl<'t> Validator<'t> {
    fn new(text: &'t str) -> Self {
        Validator { text, doc: toml::de::DeTable::parse(text).ok(), errors: Vec::new() }
    }

    fn error(&mut self, key: &str, reason: impl Into<String>) {
        let location = self.locate(key);
        self.errors.push(ConfigError { key: key.to_string(), reason: reason.into(), location });
    }

    /// Finds `a.b[2].c` in the parsed document and returns its line and column.
    fn locate(&self, key: &str) -> Option<(usize, usize)> {
        let doc = self.doc.as_ref()?;
        let mut span = doc.span();
        let mut table: Option<&toml::de::DeTable> = Some(doc.get_ref());
        let mut value: Option<&toml::de::DeValue> = None;
        for part in key.split('.') {
            let (name, index) = match part.split_once('[') {
                Some((n, rest)) => (n, rest.trim_end_matches(']').parse::<usize>().ok()),
                None => (part, None),
            };
            let t = match (table, value) {
                (Some(t), _) => t,
                (None, Some(toml::de::DeValue::Table(t))) => t,
                _ => break,
            };
            let Some(found) = t.get(name) else { break };
            span = found.span();
            value = Some(found.get_ref());
            table = None;
            if let Some(i) = index {
                match found.get_ref() {
                    toml::de::DeValue::Array(a) => match a.get(i) {
                        Some(item) => {
                            span = item.span();
                            value = Some(item.get_ref());
                        }
                        None => break,
                    },
                    _ => break,
                }
            }
        }
        Some(line_col(self.text, span.start))
    }

    fn positive(&mut self, key: &str, v: Option<i64>, default: i64, max: i64) -> u64 {
        match v {
            None => default as u64,
            Some(n) if n >= 1 && n <= max => n as u64,
            Some(n) => {
                self.error(key, format!("must be between 1 and {max}, got {n}"));
                default as u64
            }
        }
    }

    fn non_negative(&mut self, key: &str, v: Option<i64>, default: i64, max: i64) -> u64 {
        match v {
            None => default as u64,
            Some(n) if n >= 0 && n <= max => n as u64,
            Some(n) => {
                self.error(key, format!("must be between 0 and {max}, got {n}"));
                default as u64
            }
        }
    }

    fn addr(&mut self, key: &str, v: Option<&str>, default: &str) -> SocketAddr {
        let s = v.unwrap_or(default);
        match s.parse::<SocketAddr>() {
            Ok(a) => a,
            Err(_) => {
                self.error(key, format!("`{s}` is not an IP address with a port, e.g. \"127.0.0.1:8080\""));
                default.parse().expect("default address")
            }
        }
    }

    fn url(&mut self, key: &str, s: &str) -> Option<Url> {
        match Url::parse(s) {
            Ok(u) if u.scheme() == "https" || u.scheme() == "http" => {
                if u.host_str().is_none() {
                    self.error(key, format!("`{s}` has no host"));
                    None
                } else if u.fragment().is_some() {
                    self.error(key, format!("`{s}` must not have a fragment"));
                    None
                } else {
                    Some(u)
                }
            }
            Ok(u) => {
                self.error(key, format!("`{s}`: scheme `{}` is not http or https", u.scheme()));
                None
            }
            Err(e) => {
                self.error(key, format!("`{s}` is not a URL: {e}"));
                None
            }
        }
    }

    fn config(&mut self, f: FileConfig, source: &str) -> Option<Config> {
        let s = f.server.unwrap_or_default();
        let server = ServerConfig {
            listen: self.addr("server.listen", s.listen.as_deref(), "127.0.0.1:8080"),
            threads: self.positive("server.threads", s.threads, 2, 256) as usize,
            grace_period: Duration::from_secs(self.non_negative(
                "server.grace_period_secs",
                s.grace_period_secs,
                0,
                3600,
            )),
            graceful_shutdown_timeout: Duration::from_secs(self.non_negative(
                "server.graceful_shutdown_timeout_secs",
                s.graceful_shutdown_timeout_secs,
                10,
                3600,
            )),
            pid_file: s.pid_file.unwrap_or_else(|| "/tmp/tokengate.pid".into()),
            upgrade_sock: s.upgrade_sock.unwrap_or_else(|| "/tmp/tokengate_upgrade.sock".into()),
            max_body_bytes: self.positive("server.max_body_bytes", s.max_body_bytes, 10 * 1024 * 1024, 1 << 40),
            work_stealing: s.work_stealing.unwrap_or(true),
        };

        let m = f.metrics.unwrap_or_default();
        let metrics = MetricsConfig {
            listen: match m.listen.as_deref() {
                Some("") | Some("off") => None,
                other => Some(self.addr("metrics.listen", other, "127.0.0.1:9090")),
            },
        };

        let upstream = self.upstream(f.upstream);
        let edge = self.edge(f.auth, f.routes);

        let d = f.demo.unwrap_or_default();
        let demo = DemoConfig {
            enabled: d.enabled.unwrap_or(false),
            upstream_listen: self.addr("demo.upstream_listen", d.upstream_listen.as_deref(), "127.0.0.1:3000"),
            issuer_listen: self.addr("demo.issuer_listen", d.issuer_listen.as_deref(), "127.0.0.1:9400"),
        };

        let authorization_server = self.authorization_server(f.authorization_server);
        let a = f.admin.unwrap_or_default();
        let admin = AdminConfig { listen: self.addr("admin.listen", a.listen.as_deref(), "127.0.0.1:8081") };
        let edge = edge?;
        if let Some(az) = &authorization_server {
            if edge.issuers.iter().any(|i| i.issuer == az.issuer) {
                self.error(
                    "authorization_server.issuer",
                    "is also listed in `auth.issuers`: the built-in server's tokens are trusted without configuring it as an issuer",
                );
            }
        } else if edge.issuers.is_empty() && edge.needs_tokens() {
            self.error("auth.issuers", "some routes require a token, but no issuer is configured to check it");
        }
        Some(Config {
            server,
            metrics,
            upstream: upstream?,
            edge,
            demo,
            authorization_server,
            admin,
            source: source.to_string(),
        })
    }

    fn authorization_server(&mut self, a: Option<FileAuthorizationServer>) -> Option<AuthorizationServerConfig> {
        let a = a?;
        if !a.enabled.unwrap_or(false) {
            return None;
        }
        let p = "authorization_server";
        let issuer = match a.issuer {
            Some(s) => {
                if let Some(u) = self.url(&format!("{p}.issuer"), &s) {
                    let loopback = matches!(u.host(), Some(url::Host::Ipv4(ip)) if ip.is_loopback())
                        || matches!(u.host(), Some(url::Host::Ipv6(ip)) if ip.is_loopback())
                        || u.host_str() == Some("localhost");
                    if u.scheme() != "https" && !loopback {
                        self.error(&format!("{p}.issuer"), "must be an https URL (http only on loopback, RFC 9700)");
                    }
                    if u.query().is_some() {
                        self.error(&format!("{p}.issuer"), "an issuer identifier has no query (RFC 8414)");
                    }
                }
                s.trim_end_matches('/').to_string()
            }
            None => {
                self.error(
                    &format!("{p}.issuer"),
                    "missing: the URL clients reach this gateway at, e.g. \"https://api.example.com\"",
                );
                String::new()
            }
        };
        let database = a.database.unwrap_or_else(|| "data/tokengate.db".into());
        if database.is_empty() {
            self.error(&format!("{p}.database"), "must not be empty");
        } else if crate::store::is_postgres(&database) {
            use std::str::FromStr;
            if let Err(e) = sqlx::postgres::PgConnectOptions::from_str(&database) {
                let shown = crate::store::redact_location(&database);
                self.error(&format!("{p}.database"), format!("`{shown}` is not a valid PostgreSQL URL: {e}"));
            }
        } else if let Some((scheme, _)) = database.split_once("://").filter(|(s, _)| *s != "sqlite") {
            self.error(
                &format!("{p}.database"),
                format!("`{scheme}://` databases are not supported: use a SQLite file path or a postgres:// URL"),
            );
        }
        let database_max_connections = a
            .database_max_connections
            .map(|n| self.positive(&format!("{p}.database_max_connections"), Some(n), 8, 1000) as u32);
        let scopes = a.scopes.unwrap_or_else(|| vec!["api:read".into(), "api:write".into(), "offline_access".into()]);
        for (j, s) in scopes.iter().enumerate() {
            if !is_scope_token(s) {
                self.error(&format!("{p}.scopes[{j}]"), format!("`{s}` is not a valid scope token (RFC 6749 3.3)"));
            }
        }
        let signing_alg = match a.signing_alg.as_deref().unwrap_or("ES256") {
            "ES256" => Algorithm::ES256,
            "RS256" => Algorithm::RS256,
            "EdDSA" => Algorithm::EdDSA,
            other => {
                self.error(&format!("{p}.signing_alg"), format!("`{other}` is not one of ES256, RS256, EdDSA"));
                Algorithm::ES256
            }
        };
        let audiences = a.audiences.unwrap_or_else(|| vec![format!("{issuer}/")]);
        if audiences.is_empty() || audiences.iter().any(|a| a.is_empty()) {
            self.error(&format!("{p}.audiences"), "must list at least one non-empty audience");
        }
        let default_scopes: Vec<String> = match a.default_scopes {
            Some(d) => {
                for (j, s) in d.iter().enumerate() {
                    if !scopes.contains(s) {
                        self.error(&format!("{p}.default_scopes[{j}]"), format!("`{s}` is not in `scopes`"));
                    }
                }
                d
            }
            None => scopes.iter().filter(|s| *s != "offline_access").cloned().collect(),
        };
        let token_rate_limit = a.token_rate_limit.as_deref().and_then(|r| match RateLimit::parse(r) {
            Ok(l) => Some(l),
            Err(e) => {
                self.error(&format!("{p}.token_rate_limit"), e);
                None
            }
        });
        Some(AuthorizationServerConfig {
            token_rate_limit,
            default_scopes,
            issuer,
            database: DatabaseLocation(database),
            database_max_connections,
            refresh_token_reuse_grace_secs: self.non_negative(
                &format!("{p}.refresh_token_reuse_grace_secs"),
                a.refresh_token_reuse_grace_secs,
                0,
                60,
            ) as i64,
            max_apps: self.positive(&format!("{p}.max_apps"), a.max_apps, 10, 10_000) as i64,
            scopes,
            audiences,
            signing_alg,
            access_token_ttl: Duration::from_secs(self.positive(
                &format!("{p}.access_token_ttl_secs"),
                a.access_token_ttl_secs,
                3600,
                86_400,
            )),
        })
    }

    fn upstream(&mut self, u: Option<FileUpstream>) -> Option<UpstreamConfig> {
        let Some(u) = u else {
            self.error("upstream", "missing: set `upstream.url` to the protected API, e.g. \"http://127.0.0.1:3000\"");
            return None;
        };
        let list: Vec<(String, String)> = match (u.url, u.urls) {
            (Some(_), Some(_)) => {
                self.error("upstream.urls", "set either `url` or `urls`, not both");
                return None;
            }
            (Some(one), None) => vec![("upstream.url".into(), one)],
            (None, Some(many)) if !many.is_empty() => {
                many.into_iter().enumerate().map(|(i, s)| (format!("upstream.urls[{i}]"), s)).collect()
            }
            _ => {
                self.error("upstream.url", "missing: the protected API's URL, e.g. \"http://127.0.0.1:3000\"");
                return None;
            }
        };
        let mut urls = Vec::new();
        for (key, s) in list {
            let Some(url) = self.url(&key, &s) else { continue };
            if url.path() != "/" || url.query().is_some() {
                self.error(
                    &key,
                    format!("`{s}`: an upstream is an origin (scheme, host, port); paths are forwarded untouched"),
                );
                continue;
            }
            let host = url.host_str().unwrap_or_default().trim_matches(['[', ']']).to_string();
            let port = url.port_or_known_default().unwrap_or(80);
            let address = match url.host() {
                Some(url::Host::Ipv6(ip)) => format!("[{ip}]:{port}"),
                _ => format!("{host}:{port}"),
            };
            urls.push(UpstreamUrl { address, tls: url.scheme() == "https", host });
        }
        Some(UpstreamConfig {
            urls,
            connect_timeout: Duration::from_millis(self.positive(
                "upstream.connect_timeout_ms",
                u.connect_timeout_ms,
                2000,
                600_000,
            )),
            read_timeout: Duration::from_millis(self.positive(
                "upstream.read_timeout_ms",
                u.read_timeout_ms,
                30_000,
                3_600_000,
            )),
            health_check_interval: Duration::from_secs(self.positive(
                "upstream.health_check_interval_secs",
                u.health_check_interval_secs,
                5,
                3600,
            )),
        })
    }

    fn edge(&mut self, a: Option<FileAuth>, routes: Vec<FileRoute>) -> Option<EdgeConfig> {
        let a = a.unwrap_or_default();
        let mut token_sources = Vec::new();
        for (i, s) in
            a.token_sources.unwrap_or_else(|| vec!["authorization".into(), "sessionid".into()]).iter().enumerate()
        {
            let key = format!("auth.token_sources[{i}]");
            let src = match s.to_ascii_lowercase().as_str() {
                "authorization" => TokenSource::Authorization,
                "sessionid" => TokenSource::SessionId,
                "query" => TokenSource::Query,
                _ => {
                    self.error(&key, format!("`{s}` is not one of \"authorization\", \"sessionid\", \"query\""));
                    continue;
                }
            };
            if token_sources.contains(&src) {
                self.error(&key, format!("`{s}` is listed twice"));
            }
            token_sources.push(src);
        }
        if token_sources.is_empty() {
            self.error("auth.token_sources", "must name at least one source");
        }
        let default = match a.default.as_deref().unwrap_or("deny") {
            "deny" => DefaultPolicy::Deny,
            "authenticated" => DefaultPolicy::Authenticated,
            other => {
                self.error("auth.default", format!("`{other}` is not \"deny\" or \"authenticated\""));
                DefaultPolicy::Deny
            }
        };

        let mut issuers = Vec::new();
        for (i, iss) in a.issuers.into_iter().enumerate() {
            if let Some(c) = self.issuer(i, iss) {
                issuers.push(c);
            }
        }
        let introspecting: Vec<_> = issuers.iter().filter(|i| i.introspection.is_some()).collect();
        if introspecting.len() > 1 {
            self.error(
                "auth.issuers",
                "only one issuer may have `introspection`: opaque tokens carry no issuer, and sending them to several servers would leak them",
            );
        }
        for (i, a) in issuers.iter().enumerate() {
            if issuers[..i].iter().any(|b| b.issuer == a.issuer) {
                self.error(&format!("auth.issuers[{i}].issuer"), format!("`{}` is configured twice", a.issuer));
            }
        }

        let mut out_routes = Vec::new();
        for (i, r) in routes.into_iter().enumerate() {
            if let Some(r) = self.route(i, r) {
                out_routes.push(r);
            }
        }

        Some(EdgeConfig {
            token_sources,
            forward_token: a.forward_token.unwrap_or(true),
            default,
            cache_capacity: self.positive("auth.cache_capacity", a.cache_capacity, 100_000, 100_000_000),
            max_token_bytes: self.positive("auth.max_token_bytes", a.max_token_bytes, 8192, 65536) as usize,
            issuers,
            routes: out_routes,
        })
    }

    fn issuer(&mut self, i: usize, f: FileIssuer) -> Option<IssuerConfig> {
        let p = format!("auth.issuers[{i}]");
        let issuer = match f.issuer {
            Some(s) => {
                if let Some(u) = self.url(&format!("{p}.issuer"), &s) {
                    if u.query().is_some() {
                        self.error(&format!("{p}.issuer"), "an issuer identifier has no query (RFC 8414)");
                    }
                }
                s
            }
            None => {
                self.error(&format!("{p}.issuer"), "missing: the exact `iss` value of the authorization server");
                String::new()
            }
        };
        let audiences = f.audiences.unwrap_or_default();
        if audiences.is_empty() || audiences.iter().any(|a| a.is_empty()) {
            self.error(
                &format!("{p}.audiences"),
                "must list at least one non-empty audience: a token meant for another service must not be accepted here",
            );
        }
        let jwks_uri = f.jwks_uri.as_deref().and_then(|s| self.url(&format!("{p}.jwks_uri"), s));
        let mut algorithms = Vec::new();
        let names = f.algorithms.unwrap_or_else(|| vec!["RS256".into(), "ES256".into(), "EdDSA".into()]);
        for (j, name) in names.iter().enumerate() {
            let key = format!("{p}.algorithms[{j}]");
            match crate::edge::jwt::parse_algorithm(name) {
                Ok(alg) if !algorithms.contains(&alg) => algorithms.push(alg),
                Ok(_) => self.error(&key, format!("`{name}` is listed twice")),
                Err(reason) => self.error(&key, reason),
            }
        }
        if names.is_empty() {
            self.error(&format!("{p}.algorithms"), "must list at least one algorithm");
        }
        let introspection = f.introspection.and_then(|x| self.introspection(&format!("{p}.introspection"), x));
        Some(IssuerConfig {
            issuer,
            audiences,
            jwks_uri,
            discovery: f.discovery.unwrap_or(true),
            algorithms,
            leeway_secs: self.non_negative(&format!("{p}.leeway_secs"), f.leeway_secs, 30, 300),
            require_typ: f.require_typ.filter(|t| !t.is_empty()),
            jwks_refresh: Duration::from_secs(self.positive(
                &format!("{p}.jwks_refresh_secs"),
                f.jwks_refresh_secs,
                300,
                86_400,
            )),
            introspection,
        })
    }

    fn introspection(&mut self, p: &str, f: FileIntrospection) -> Option<IntrospectionConfig> {
        let endpoint = f.endpoint.as_deref().and_then(|s| self.url(&format!("{p}.endpoint"), s));
        let client_id = match f.client_id {
            Some(c) if !c.is_empty() => c,
            _ => {
                self.error(&format!("{p}.client_id"), "missing: the gateway's client id at the issuer");
                String::new()
            }
        };
        let client_secret = match (f.client_secret, f.client_secret_env) {
            (Some(_), Some(_)) => {
                self.error(
                    &format!("{p}.client_secret_env"),
                    "set either `client_secret` or `client_secret_env`, not both",
                );
                Secret::new(String::new())
            }
            (Some(s), None) => Secret::new(s),
            (None, Some(var)) => match std::env::var(&var) {
                Ok(s) if !s.is_empty() => Secret::new(s),
                _ => {
                    self.error(&format!("{p}.client_secret_env"), format!("environment variable `{var}` is not set"));
                    Secret::new(String::new())
                }
            },
            (None, None) => {
                self.error(
                    &format!("{p}.client_secret"),
                    "missing: the gateway's client secret (or `client_secret_env`)",
                );
                Secret::new(String::new())
            }
        };
        Some(IntrospectionConfig {
            endpoint,
            client_id,
            client_secret,
            cache_ttl: Duration::from_secs(self.non_negative(
                &format!("{p}.cache_ttl_secs"),
                f.cache_ttl_secs,
                300,
                86_400,
            )),
            negative_cache_ttl: Duration::from_secs(self.non_negative(
                &format!("{p}.negative_cache_ttl_secs"),
                f.negative_cache_ttl_secs,
                10,
                3600,
            )),
            timeout: Duration::from_millis(self.positive(&format!("{p}.timeout_ms"), f.timeout_ms, 2000, 60_000)),
        })
    }

    fn route(&mut self, i: usize, f: FileRoute) -> Option<RouteConfig> {
        let p = format!("routes[{i}]");
        let path = match f.path {
            Some(path) if path.starts_with('/') => {
                if let Err(e) = crate::edge::route::normalize(&path) {
                    self.error(&format!("{p}.path"), format!("`{path}` is not a plain path: {e}"));
                }
                path
            }
            Some(path) => {
                self.error(&format!("{p}.path"), format!("`{path}` must start with `/`"));
                return None;
            }
            None => {
                self.error(&format!("{p}.path"), "missing: the path prefix this route covers, e.g. \"/api/\"");
                return None;
            }
        };
        let mut methods = Vec::new();
        for (j, m) in f.methods.unwrap_or_default().iter().enumerate() {
            let upper = m.to_ascii_uppercase();
            match upper.as_str() {
                "GET" | "HEAD" | "POST" | "PUT" | "PATCH" | "DELETE" | "OPTIONS" | "TRACE" | "CONNECT" => {
                    methods.push(http::Method::from_bytes(upper.as_bytes()).expect("known method"))
                }
                _ => self.error(&format!("{p}.methods[{j}]"), format!("`{m}` is not an HTTP method")),
            }
        }
        let check_scopes = |v: &mut Self, key: &str, list: &[String]| {
            for (j, s) in list.iter().enumerate() {
                if !is_scope_token(s) {
                    v.error(&format!("{key}[{j}]"), format!("`{s}` is not a valid scope token (RFC 6749 3.3)"));
                }
            }
        };
        let all = f.scopes.unwrap_or_default();
        let any = f.any_scopes.unwrap_or_default();
        check_scopes(self, &format!("{p}.scopes"), &all);
        check_scopes(self, &format!("{p}.any_scopes"), &any);
        let auth = match f.auth.as_deref().unwrap_or("required") {
            "none" => {
                if !all.is_empty() || !any.is_empty() {
                    self.error(&format!("{p}.auth"), "a route with `auth = \"none\"` cannot require scopes");
                }
                RouteAuth::None
            }
            "required" => RouteAuth::Required { all, any },
            other => {
                self.error(&format!("{p}.auth"), format!("`{other}` is not \"none\" or \"required\""));
                RouteAuth::None
            }
        };
        let rate_limit = f.rate_limit.as_deref().and_then(|r| match RateLimit::parse(r) {
            Ok(l) => Some(l),
            Err(e) => {
                self.error(&format!("{p}.rate_limit"), e);
                None
            }
        });
        Some(RouteConfig { name: f.name.unwrap_or_else(|| path.clone()), path, methods, auth, rate_limit })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn embedded_default_is_valid() {
        let c = Config::from_toml(EMBEDDED_DEFAULT, "<embedded>").unwrap();
        assert!(c.demo.enabled);
        assert!(!c.edge.routes.is_empty());
    }

    #[test]
    fn every_error_is_reported_with_its_place() {
        let text = "[server]\nlisten = \"nope\"\nthreads = 0\n\n[upstream]\nurl = \"ftp://x\"\n\n[auth]\nbogus = 1\n\n[[auth.issuers]]\nissuer = \"https://idp.example\"\nalgorithms = [\"HS256\", \"none\"]\n";
        let err = Config::from_toml(text, "t.toml").unwrap_err();
        let keys: Vec<_> = err.errors.iter().map(|e| e.key.as_str()).collect();
        assert!(keys.contains(&"server.listen"), "{err}");
        assert!(keys.contains(&"server.threads"), "{err}");
        assert!(keys.contains(&"upstream.url"), "{err}");
        assert!(keys.contains(&"auth.bogus"), "{err}");
        assert!(keys.contains(&"auth.issuers[0].algorithms[0]"), "{err}");
        assert!(keys.contains(&"auth.issuers[0].algorithms[1]"), "{err}");
        assert!(keys.contains(&"auth.issuers[0].audiences"), "{err}");
        let threads = err.errors.iter().find(|e| e.key == "server.threads").unwrap();
        assert_eq!(threads.location, Some((3, 11)));
        let alg = err.errors.iter().find(|e| e.key == "auth.issuers[0].algorithms[1]").unwrap();
        assert_eq!(alg.location, Some((13, 24)));
    }

    #[test]
    fn type_errors_name_the_key_and_line() {
        let err = Config::from_toml("[server]\nthreads = \"two\"\n", "t.toml").unwrap_err();
        assert_eq!(err.errors.len(), 1);
        assert_eq!(err.errors[0].location.map(|l| l.0), Some(2));
        assert!(err.errors[0].key.contains("threads"), "{err}");
    }

    #[test]
    fn secret_never_appears_in_debug() {
        let text = "[upstream]\nurl = \"http://127.0.0.1:1\"\n[[auth.issuers]]\nissuer = \"https://idp.example\"\naudiences = [\"a\"]\n[auth.issuers.introspection]\nclient_id = \"gw\"\nclient_secret = \"hunter2-very-secret\"\n";
        let c = Config::from_toml(text, "t.toml").unwrap();
        assert!(!format!("{c:?}").contains("hunter2"));
        let text = "[upstream]\nurl = \"http://127.0.0.1:1\"\n[authorization_server]\nenabled = true\n\
                    issuer = \"https://tg.example\"\ndatabase = \"postgres://tg:hunter3-pw@db/tg\"\n";
        let c = Config::from_toml(text, "t.toml").unwrap();
        let shown = format!("{c:?}");
        assert!(!shown.contains("hunter3") && shown.contains("postgres://tg:***@db/tg"), "{shown}");
    }
}
