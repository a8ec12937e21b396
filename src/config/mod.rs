//! Configuration: the TOML file read once, validated once, every error reported together with its key and place.
//!
//! [`Config::load`] and [`Config::from_toml`] are the only ways in; what they return has been checked, so the rest
//! of tokengate never re-validates. Each problem is a [`ConfigError`] naming the key (`auth.issuers[0].algorithms`),
//! the reason, and the line and column when the key is in the file.

mod file;

use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;

use jsonwebtoken::Algorithm;

use crate::diagnostics::{parse, Validator};
pub use crate::diagnostics::{ConfigError, ConfigErrors};
use crate::edge::config::{is_scope_token, require_an_issuer, EdgeConfig, RateLimit};
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
    /// `[access_log]`: one line per request; `None` when off.
    pub access_log: Option<crate::access_log::AccessLogConfig>,
    /// Where this configuration came from, for logs.
    pub source: String,
    /// What is worth a warning but does not stop the process (an expired certificate, a name no certificate
    /// covers).
    pub warnings: Vec<ConfigError>,
}

/// `[server]`.
#[derive(Debug, Clone, PartialEq)]
pub struct ServerConfig {
    /// The proxy's plain-HTTP listening address; port 0 picks a free port. `None` when only `[server.tls]` listens.
    pub listen: Option<SocketAddr>,
    /// Cleartext HTTP/2 with prior knowledge on the plain listener (HTTP/1.1 still served), for deployments behind a
    /// TLS-terminating load balancer.
    pub h2c: bool,
    /// `[server.tls]`: the TLS listener.
    pub tls: Option<TlsConfig>,
    /// The proxies whose `X-Forwarded-For`, `Forwarded` and `X-Request-Id` are believed.
    pub trusted_proxies: crate::forwarded::TrustedProxies,
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

/// `[server.tls]`.
#[derive(Debug, Clone, PartialEq)]
pub struct TlsConfig {
    /// The TLS listening address.
    pub listen: SocketAddr,
    /// The certificates, chosen by SNI; the first is the default.
    pub certificates: Vec<crate::tls::CertificateFiles>,
    /// The lowest TLS version accepted.
    pub min_version: crate::tls::MinVersion,
    /// Answer plain-HTTP requests with a 308 to the same URL on `https`.
    pub redirect_http: bool,
    /// `Strict-Transport-Security: max-age=N` on answers over TLS; `None` sends none.
    pub hsts_max_age_secs: Option<u64>,
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
    /// Speak HTTP/2 to the upstream: h2 by ALPN to an `https` one, h2c with prior knowledge to an `http` one.
    pub http2: bool,
    /// The CA certificates (PEM) an `https` upstream's certificate must chain to, instead of the system's roots.
    pub ca_file: Option<std::path::PathBuf>,
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
        parse(text, source, |_| "unknown key".to_string(), |v, file| config(v, file, source))
    }
}

fn config(v: &mut Validator, f: FileConfig, source: &str) -> Option<Config> {
    let mut warnings = Vec::new();
    let s = f.server.unwrap_or_default();
    let tls = s.tls.map(|t| tls(v, t, &mut warnings));
    let server = ServerConfig {
        listen: match (&s.listen, &tls) {
            (None, Some(_)) => None,
            (listen, _) => Some(v.addr("server.listen", listen.as_deref(), "127.0.0.1:8080")),
        },
        h2c: s.h2c.unwrap_or(false),
        trusted_proxies: crate::forwarded::TrustedProxies::new(
            s.trusted_proxies
                .unwrap_or_default()
                .iter()
                .enumerate()
                .filter_map(|(i, entry)| match crate::forwarded::TrustedProxies::parse_entry(entry) {
                    Ok(net) => Some(net),
                    Err(reason) => {
                        v.error(&format!("server.trusted_proxies[{i}]"), reason);
                        None
                    }
                })
                .collect(),
        ),
        tls: tls.flatten(),
        threads: v.positive("server.threads", s.threads, 2, 256) as usize,
        grace_period: Duration::from_secs(v.non_negative("server.grace_period_secs", s.grace_period_secs, 0, 3600)),
        graceful_shutdown_timeout: Duration::from_secs(v.non_negative(
            "server.graceful_shutdown_timeout_secs",
            s.graceful_shutdown_timeout_secs,
            10,
            3600,
        )),
        pid_file: s.pid_file.unwrap_or_else(|| "/tmp/tokengate.pid".into()),
        upgrade_sock: s.upgrade_sock.unwrap_or_else(|| "/tmp/tokengate_upgrade.sock".into()),
        max_body_bytes: v.positive("server.max_body_bytes", s.max_body_bytes, 10 * 1024 * 1024, 1 << 40),
        work_stealing: s.work_stealing.unwrap_or(true),
    };

    let m = f.metrics.unwrap_or_default();
    let metrics = MetricsConfig {
        listen: match m.listen.as_deref() {
            Some("") | Some("off") => None,
            other => Some(v.addr("metrics.listen", other, "127.0.0.1:9090")),
        },
    };

    let upstream = upstream(v, f.upstream);
    let edge = crate::edge::config::validate(v, f.auth, f.routes);

    let d = f.demo.unwrap_or_default();
    let demo = DemoConfig {
        enabled: d.enabled.unwrap_or(false),
        upstream_listen: v.addr("demo.upstream_listen", d.upstream_listen.as_deref(), "127.0.0.1:3000"),
        issuer_listen: v.addr("demo.issuer_listen", d.issuer_listen.as_deref(), "127.0.0.1:9400"),
    };

    let authorization_server = authorization_server(v, f.authorization_server);
    let access_log = f.access_log.and_then(|a| access_log(v, a));
    let a = f.admin.unwrap_or_default();
    let admin = AdminConfig { listen: v.addr("admin.listen", a.listen.as_deref(), "127.0.0.1:8081") };
    let edge = edge?;
    if let Some(az) = &authorization_server {
        if edge.issuers.iter().any(|i| i.issuer == az.issuer) {
            v.error(
                "authorization_server.issuer",
                "is also listed in `auth.issuers`: the built-in server's tokens are trusted without configuring it as an issuer",
            );
        }
    } else {
        require_an_issuer(v, &edge);
    }
    if let (Some(az), Some(t)) = (&authorization_server, &server.tls) {
        name_covered(v, &mut warnings, "authorization_server.issuer", &az.issuer, t);
    }
    if server.tls.as_ref().is_some_and(|t| t.redirect_http) && server.listen.is_none() {
        v.error("server.tls.redirect_http", "needs a plain-HTTP listener to redirect from: set `server.listen`");
    }
    Some(Config {
        server,
        metrics,
        upstream: upstream?,
        edge,
        demo,
        authorization_server,
        admin,
        access_log,
        source: source.to_string(),
        warnings,
    })
}

/// `[access_log]`: on once the section is there, unless `enabled = false`.
fn access_log(v: &mut Validator, a: FileAccessLog) -> Option<crate::access_log::AccessLogConfig> {
    use crate::access_log::{AccessLogConfig, Format};
    let format = match a.format.as_deref() {
        None | Some("json") => Format::Json,
        Some("logfmt") => Format::Logfmt,
        Some(other) => {
            v.error("access_log.format", format!("`{other}`: must be \"json\" or \"logfmt\""));
            Format::Json
        }
    };
    let path = match a.path.as_deref() {
        None | Some("stdout") | Some("-") => None,
        Some("") => {
            v.error("access_log.path", "must be \"stdout\" or a file path");
            None
        }
        Some(p) => Some(std::path::PathBuf::from(p)),
    };
    let buffer = v.positive("access_log.buffer", a.buffer, 10_000, 10_000_000) as usize;
    a.enabled.unwrap_or(true).then_some(AccessLogConfig {
        format,
        path,
        include_query: a.include_query.unwrap_or(false),
        hash_subject: a.hash_subject.unwrap_or(false),
        buffer,
    })
}

/// `[server.tls]`: every certificate is read now, so that a missing file, an unreadable key or a key that is not the
/// certificate's is reported here, with its key; an expired certificate is a warning.
fn tls(v: &mut Validator, t: FileTls, warnings: &mut Vec<ConfigError>) -> Option<TlsConfig> {
    let listen = v.addr("server.tls.listen", t.listen.as_deref(), "127.0.0.1:8443");
    let min_version = match t.min_version.as_deref() {
        None | Some("1.2") => crate::tls::MinVersion::Tls12,
        Some("1.3") => crate::tls::MinVersion::Tls13,
        Some(other) => {
            v.error(
                "server.tls.min_version",
                format!("`{other}`: must be \"1.2\" or \"1.3\" (TLS 1.0 and 1.1 are never accepted)"),
            );
            crate::tls::MinVersion::Tls12
        }
    };
    let hsts_max_age_secs = t
        .hsts_max_age_secs
        .map(|_| v.non_negative("server.tls.hsts_max_age_secs", t.hsts_max_age_secs, 0, 10 * 365 * 24 * 3600));
    let mut certificates = Vec::new();
    match t.certificates {
        None => v.error("server.tls.certificates", "missing: at least one `{ cert = \"...pem\", key = \"...key\" }`"),
        Some(list) if list.is_empty() => v.error("server.tls.certificates", "must list at least one certificate"),
        Some(list) => {
            for (i, c) in list.into_iter().enumerate() {
                match (c.cert, c.key) {
                    (Some(cert), Some(key)) => {
                        certificates.push(crate::tls::CertificateFiles { cert: cert.into(), key: key.into() })
                    }
                    (None, _) => {
                        v.error(&format!("server.tls.certificates[{i}].cert"), "missing: the PEM chain's path")
                    }
                    (_, None) => v.error(&format!("server.tls.certificates[{i}].key"), "missing: the PEM key's path"),
                }
            }
        }
    }
    if certificates.is_empty() {
        return None;
    }
    match crate::tls::Certificates::load(&certificates) {
        Ok(loaded) => {
            let now = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_secs() as i64)
                .unwrap_or(0);
            for (i, file, when) in loaded.report(now).expired {
                warnings.push(v.warning(
                    &format!("server.tls.certificates[{i}].cert"),
                    format!("`{file}` expired on {when}: clients will refuse it"),
                ));
            }
        }
        Err(errors) => {
            for (i, e) in errors {
                v.error(&format!("server.tls.certificates[{i}].{}", e.field()), e.to_string());
            }
            return None;
        }
    }
    Some(TlsConfig {
        listen,
        certificates,
        min_version,
        redirect_http: t.redirect_http.unwrap_or(false),
        hsts_max_age_secs,
    })
}

/// `upstream.ca_file`: a readable PEM file with at least one certificate.
fn ca_file(v: &mut Validator, path: &str) -> Option<std::path::PathBuf> {
    use rustls::pki_types::pem::PemObject;
    match std::fs::read(path) {
        Err(e) => v.error("upstream.ca_file", format!("cannot read `{path}`: {e}")),
        Ok(pem) if rustls::pki_types::CertificateDer::pem_slice_iter(&pem).filter_map(Result::ok).next().is_none() => {
            v.error("upstream.ca_file", format!("`{path}` holds no PEM certificate"))
        }
        Ok(_) => return Some(path.into()),
    }
    None
}

/// Warns when the host of a URL served on the TLS listener is covered by no certificate.
fn name_covered(v: &mut Validator, warnings: &mut Vec<ConfigError>, key: &str, url: &str, t: &TlsConfig) {
    let Some(host) = url::Url::parse(url).ok().and_then(|u| u.host_str().map(str::to_string)) else { return };
    if host.parse::<std::net::IpAddr>().is_ok() || host.starts_with('[') || host == "localhost" {
        return;
    }
    if let Ok(certs) = crate::tls::Certificates::load(&t.certificates) {
        if !certs.covers(&host) {
            warnings
                .push(v.warning(key, format!("`{host}` is covered by no certificate of `server.tls.certificates`")));
        }
    }
}

fn authorization_server(v: &mut Validator, a: Option<FileAuthorizationServer>) -> Option<AuthorizationServerConfig> {
    let a = a?;
    if !a.enabled.unwrap_or(false) {
        return None;
    }
    let p = "authorization_server";
    let issuer = match a.issuer {
        Some(s) => {
            if let Some(u) = v.url(&format!("{p}.issuer"), &s) {
                if u.scheme() != "https" && !crate::registry::is_loopback(&u) {
                    v.error(&format!("{p}.issuer"), "must be an https URL (http only on loopback, RFC 9700)");
                }
                if u.query().is_some() {
                    v.error(&format!("{p}.issuer"), "an issuer identifier has no query (RFC 8414)");
                }
                if !u.path().trim_end_matches('/').is_empty() {
                    v.error(
                        &format!("{p}.issuer"),
                        format!(
                            "an issuer with a path (`{}`) is not supported: the endpoints and metadata are served at the \
                             root; use the origin, e.g. \"{}\"",
                            u.path(),
                            u.origin().ascii_serialization()
                        ),
                    );
                }
            }
            s.trim_end_matches('/').to_string()
        }
        None => {
            v.error(
                &format!("{p}.issuer"),
                "missing: the URL clients reach this gateway at, e.g. \"https://api.example.com\"",
            );
            String::new()
        }
    };
    let database = a.database.unwrap_or_else(|| "data/tokengate.db".into());
    if database.is_empty() {
        v.error(&format!("{p}.database"), "must not be empty");
    } else if crate::store::is_postgres(&database) {
        use std::str::FromStr;
        if let Err(e) = sqlx::postgres::PgConnectOptions::from_str(&database) {
            let shown = crate::store::redact_location(&database);
            v.error(&format!("{p}.database"), format!("`{shown}` is not a valid PostgreSQL URL: {e}"));
        }
    } else if let Some((scheme, _)) = database.split_once("://").filter(|(s, _)| *s != "sqlite") {
        v.error(
            &format!("{p}.database"),
            format!("`{scheme}://` databases are not supported: use a SQLite file path or a postgres:// URL"),
        );
    }
    let database_max_connections = a
        .database_max_connections
        .map(|n| v.positive(&format!("{p}.database_max_connections"), Some(n), 8, 1000) as u32);
    let scopes = a.scopes.unwrap_or_else(|| vec!["api:read".into(), "api:write".into(), "offline_access".into()]);
    for (j, s) in scopes.iter().enumerate() {
        if !is_scope_token(s) {
            v.error(&format!("{p}.scopes[{j}]"), format!("`{s}` is not a valid scope token (RFC 6749 3.3)"));
        }
    }
    let signing_alg = match a.signing_alg.as_deref().unwrap_or("ES256") {
        "ES256" => Algorithm::ES256,
        "RS256" => Algorithm::RS256,
        "EdDSA" => Algorithm::EdDSA,
        other => {
            v.error(&format!("{p}.signing_alg"), format!("`{other}` is not one of ES256, RS256, EdDSA"));
            Algorithm::ES256
        }
    };
    let audiences = a.audiences.unwrap_or_else(|| vec![format!("{issuer}/")]);
    if audiences.is_empty() || audiences.iter().any(|a| a.is_empty()) {
        v.error(&format!("{p}.audiences"), "must list at least one non-empty audience");
    }
    let default_scopes: Vec<String> = match a.default_scopes {
        Some(d) => {
            for (j, s) in d.iter().enumerate() {
                if !scopes.contains(s) {
                    v.error(&format!("{p}.default_scopes[{j}]"), format!("`{s}` is not in `scopes`"));
                }
            }
            d
        }
        None => scopes.iter().filter(|s| *s != "offline_access").cloned().collect(),
    };
    let token_rate_limit = a.token_rate_limit.as_deref().and_then(|r| match RateLimit::parse(r) {
        Ok(l) => Some(l),
        Err(e) => {
            v.error(&format!("{p}.token_rate_limit"), e);
            None
        }
    });
    Some(AuthorizationServerConfig {
        token_rate_limit,
        default_scopes,
        issuer,
        database: DatabaseLocation(database),
        database_max_connections,
        refresh_token_reuse_grace_secs: v.non_negative(
            &format!("{p}.refresh_token_reuse_grace_secs"),
            a.refresh_token_reuse_grace_secs,
            0,
            60,
        ) as i64,
        max_apps: v.positive(&format!("{p}.max_apps"), a.max_apps, 10, 10_000) as i64,
        scopes,
        audiences,
        signing_alg,
        access_token_ttl: Duration::from_secs(v.positive(
            &format!("{p}.access_token_ttl_secs"),
            a.access_token_ttl_secs,
            3600,
            86_400,
        )),
    })
}

fn upstream(v: &mut Validator, u: Option<FileUpstream>) -> Option<UpstreamConfig> {
    let Some(u) = u else {
        v.error("upstream", "missing: set `upstream.url` to the protected API, e.g. \"http://127.0.0.1:3000\"");
        return None;
    };
    let list: Vec<(String, String)> = match (u.url, u.urls) {
        (Some(_), Some(_)) => {
            v.error("upstream.urls", "set either `url` or `urls`, not both");
            return None;
        }
        (Some(one), None) => vec![("upstream.url".into(), one)],
        (None, Some(many)) if !many.is_empty() => {
            many.into_iter().enumerate().map(|(i, s)| (format!("upstream.urls[{i}]"), s)).collect()
        }
        _ => {
            v.error("upstream.url", "missing: the protected API's URL, e.g. \"http://127.0.0.1:3000\"");
            return None;
        }
    };
    let mut urls = Vec::new();
    for (key, s) in list {
        let Some(url) = v.url(&key, &s) else { continue };
        if url.path() != "/" || url.query().is_some() {
            v.error(
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
        connect_timeout: Duration::from_millis(v.positive(
            "upstream.connect_timeout_ms",
            u.connect_timeout_ms,
            2000,
            600_000,
        )),
        read_timeout: Duration::from_millis(v.positive(
            "upstream.read_timeout_ms",
            u.read_timeout_ms,
            30_000,
            3_600_000,
        )),
        health_check_interval: Duration::from_secs(v.positive(
            "upstream.health_check_interval_secs",
            u.health_check_interval_secs,
            5,
            3600,
        )),
        http2: u.http2.unwrap_or(false),
        ca_file: u.ca_file.and_then(|path| ca_file(v, &path)),
    })
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
    fn an_upstream_ca_file_must_be_readable_and_hold_a_certificate() {
        let dir = tempfile::tempdir().unwrap();
        let not_pem = dir.path().join("not.pem");
        std::fs::write(&not_pem, "hello").unwrap();
        for (path, reason) in [(dir.path().join("absent.pem"), "cannot read"), (not_pem, "holds no PEM certificate")] {
            let toml = format!(
                "[upstream]\nurl = \"https://api.internal\"\nca_file = \"{}\"\n[[routes]]\npath = \"/\"\nauth = \"none\"\n",
                path.display()
            );
            let err = Config::from_toml(&toml, "t.toml").unwrap_err();
            assert_eq!(err.errors[0].key, "upstream.ca_file", "{err}");
            assert!(err.errors[0].reason.contains(reason), "{err}");
            assert_eq!(err.errors[0].location, Some((3, 11)), "{err}");
        }
    }

    #[test]
    fn an_authorization_server_issuer_with_a_path_is_refused_and_a_trailing_slash_is_not_a_path() {
        // Regression: `https://host/tenant` passed, and every advertised `/tenant/oauth2/...` endpoint answered 404.
        let with = |issuer: &str| {
            let text = format!(
                "[upstream]\nurl = \"http://127.0.0.1:1\"\n[authorization_server]\nenabled = true\nissuer = \"{issuer}\"\n"
            );
            Config::from_toml(&text, "t.toml")
        };
        let err = with("https://tg.example/tenant").unwrap_err();
        assert_eq!(err.errors[0].key, "authorization_server.issuer", "{err}");
        assert!(err.errors[0].reason.contains("`/tenant`") && err.errors[0].reason.contains("https://tg.example"));
        assert!(with("https://tg.example/").is_ok());
        assert!(with("https://tg.example").is_ok());
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
