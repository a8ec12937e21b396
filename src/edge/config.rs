//! The edge's configuration: `[auth]` and `[[routes]]`, as the file writes them and as the edge uses them once
//! validated.
//!
//! The binary's `config` reads the other sections and calls `validate` for these two, so an edge
//! embedded in another Pingora proxy ([`EdgeConfig::from_toml`]) is configured, and refused, exactly as the binary's.

use std::time::Duration;

use jsonwebtoken::Algorithm;
use serde::Deserialize;
use url::Url;

use crate::diagnostics::{parse, ConfigErrors, Validator};
use crate::secret::Secret;

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
    /// Close a long-lived stream (WebSocket, server-sent events, a streaming response) when the token that opened it
    /// expires, is revoked, or is found inactive when its introspection answer is refreshed.
    pub close_streams_on_expiry: bool,
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

/// Whether `s` is a scope token: `%x21 / %x23-5B / %x5D-7E`, at least one (RFC 6749 3.3).
pub fn is_scope_token(s: &str) -> bool {
    !s.is_empty() && s.bytes().all(|b| b == 0x21 || (0x23..=0x5b).contains(&b) || (0x5d..=0x7e).contains(&b))
}

/// The sections of the binary's file that an embedded edge does not read.
const BINARY_SECTIONS: [&str; 6] = ["server", "metrics", "upstream", "demo", "authorization_server", "admin"];

/// Reports a configuration where some request needs a token but no issuer could check one.
pub(crate) fn require_an_issuer(v: &mut Validator, edge: &EdgeConfig) {
    if edge.needs_tokens() && edge.issuers.is_empty() {
        v.error("auth.issuers", "some routes require a token, but no issuer is configured to check it");
    }
}

impl EdgeConfig {
    /// Whether some request needs a token: a route, or the default policy, demands one.
    pub fn needs_tokens(&self) -> bool {
        self.default == DefaultPolicy::Authenticated || self.routes.iter().any(|r| r.auth != RouteAuth::None)
    }

    /// Parses and validates the edge's part of a configuration: `[auth]` (with `[[auth.issuers]]`) and `[[routes]]`,
    /// for a Pingora proxy that embeds the edge. Any other section is an error, so that nothing is silently ignored.
    pub fn from_toml(text: &str, source: &str) -> Result<EdgeConfig, ConfigErrors> {
        let unknown = |key: &str| {
            let section = key.split(['.', '[']).next().unwrap_or(key);
            if BINARY_SECTIONS.contains(&section) && key == section {
                "not used by an embedded edge: only [auth] and [[routes]] configure it".to_string()
            } else {
                "unknown key".to_string()
            }
        };
        parse(text, source, unknown, |v, file: FileEdge| {
            let edge = validate(v, file.auth, file.routes)?;
            require_an_issuer(v, &edge);
            Some(edge)
        })
    }
}

/// The part of a file an embedded edge reads.
#[derive(Debug, Default, Deserialize)]
struct FileEdge {
    auth: Option<FileAuth>,
    #[serde(default)]
    routes: Vec<FileRoute>,
}

pub(crate) fn validate(v: &mut Validator, a: Option<FileAuth>, routes: Vec<FileRoute>) -> Option<EdgeConfig> {
    let a = a.unwrap_or_default();
    let mut token_sources = Vec::new();
    for (i, s) in a.token_sources.unwrap_or_else(|| vec!["authorization".into(), "sessionid".into()]).iter().enumerate()
    {
        let key = format!("auth.token_sources[{i}]");
        let src = match s.to_ascii_lowercase().as_str() {
            "authorization" => TokenSource::Authorization,
            "sessionid" => TokenSource::SessionId,
            "query" => TokenSource::Query,
            _ => {
                v.error(&key, format!("`{s}` is not one of \"authorization\", \"sessionid\", \"query\""));
                continue;
            }
        };
        if token_sources.contains(&src) {
            v.error(&key, format!("`{s}` is listed twice"));
        }
        token_sources.push(src);
    }
    if token_sources.is_empty() {
        v.error("auth.token_sources", "must name at least one source");
    }
    let default = match a.default.as_deref().unwrap_or("deny") {
        "deny" => DefaultPolicy::Deny,
        "authenticated" => DefaultPolicy::Authenticated,
        other => {
            v.error("auth.default", format!("`{other}` is not \"deny\" or \"authenticated\""));
            DefaultPolicy::Deny
        }
    };

    let mut issuers = Vec::new();
    for (i, iss) in a.issuers.into_iter().enumerate() {
        if let Some(c) = issuer(v, i, iss) {
            issuers.push(c);
        }
    }
    let introspecting: Vec<_> = issuers.iter().filter(|i| i.introspection.is_some()).collect();
    if introspecting.len() > 1 {
        v.error(
            "auth.issuers",
            "only one issuer may have `introspection`: opaque tokens carry no issuer, and sending them to several servers would leak them",
        );
    }
    for (i, a) in issuers.iter().enumerate() {
        if issuers[..i].iter().any(|b| b.issuer == a.issuer) {
            v.error(&format!("auth.issuers[{i}].issuer"), format!("`{}` is configured twice", a.issuer));
        }
    }

    let mut out_routes = Vec::new();
    for (i, r) in routes.into_iter().enumerate() {
        if let Some(r) = route(v, i, r) {
            out_routes.push(r);
        }
    }

    Some(EdgeConfig {
        token_sources,
        forward_token: a.forward_token.unwrap_or(true),
        default,
        cache_capacity: v.positive("auth.cache_capacity", a.cache_capacity, 100_000, 100_000_000),
        max_token_bytes: v.positive("auth.max_token_bytes", a.max_token_bytes, 8192, 65536) as usize,
        issuers,
        routes: out_routes,
    })
}

fn issuer(v: &mut Validator, i: usize, f: FileIssuer) -> Option<IssuerConfig> {
    let p = format!("auth.issuers[{i}]");
    let issuer = match f.issuer {
        Some(s) => {
            if let Some(u) = v.url(&format!("{p}.issuer"), &s) {
                if u.query().is_some() {
                    v.error(&format!("{p}.issuer"), "an issuer identifier has no query (RFC 8414)");
                }
            }
            s
        }
        None => {
            v.error(&format!("{p}.issuer"), "missing: the exact `iss` value of the authorization server");
            String::new()
        }
    };
    let audiences = f.audiences.unwrap_or_default();
    if audiences.is_empty() || audiences.iter().any(|a| a.is_empty()) {
        v.error(
            &format!("{p}.audiences"),
            "must list at least one non-empty audience: a token meant for another service must not be accepted here",
        );
    }
    let jwks_uri = f.jwks_uri.as_deref().and_then(|s| v.url(&format!("{p}.jwks_uri"), s));
    let mut algorithms = Vec::new();
    let names = f.algorithms.unwrap_or_else(|| vec!["RS256".into(), "ES256".into(), "EdDSA".into()]);
    for (j, name) in names.iter().enumerate() {
        let key = format!("{p}.algorithms[{j}]");
        match super::jwt::parse_algorithm(name) {
            Ok(alg) if !algorithms.contains(&alg) => algorithms.push(alg),
            Ok(_) => v.error(&key, format!("`{name}` is listed twice")),
            Err(reason) => v.error(&key, reason),
        }
    }
    if names.is_empty() {
        v.error(&format!("{p}.algorithms"), "must list at least one algorithm");
    }
    let introspection = f.introspection.and_then(|x| introspection(v, &format!("{p}.introspection"), x));
    Some(IssuerConfig {
        issuer,
        audiences,
        jwks_uri,
        discovery: f.discovery.unwrap_or(true),
        algorithms,
        leeway_secs: v.non_negative(&format!("{p}.leeway_secs"), f.leeway_secs, 30, 300),
        require_typ: f.require_typ.filter(|t| !t.is_empty()),
        jwks_refresh: Duration::from_secs(v.positive(
            &format!("{p}.jwks_refresh_secs"),
            f.jwks_refresh_secs,
            300,
            86_400,
        )),
        introspection,
    })
}

fn introspection(v: &mut Validator, p: &str, f: FileIntrospection) -> Option<IntrospectionConfig> {
    let endpoint = f.endpoint.as_deref().and_then(|s| v.url(&format!("{p}.endpoint"), s));
    let client_id = match f.client_id {
        Some(c) if !c.is_empty() => c,
        _ => {
            v.error(&format!("{p}.client_id"), "missing: the gateway's client id at the issuer");
            String::new()
        }
    };
    let client_secret = match (f.client_secret, f.client_secret_env) {
        (Some(_), Some(_)) => {
            v.error(&format!("{p}.client_secret_env"), "set either `client_secret` or `client_secret_env`, not both");
            Secret::new(String::new())
        }
        (Some(s), None) => Secret::new(s),
        (None, Some(var)) => match std::env::var(&var) {
            Ok(s) if !s.is_empty() => Secret::new(s),
            _ => {
                v.error(&format!("{p}.client_secret_env"), format!("environment variable `{var}` is not set"));
                Secret::new(String::new())
            }
        },
        (None, None) => {
            v.error(&format!("{p}.client_secret"), "missing: the gateway's client secret (or `client_secret_env`)");
            Secret::new(String::new())
        }
    };
    Some(IntrospectionConfig {
        endpoint,
        client_id,
        client_secret,
        cache_ttl: Duration::from_secs(v.non_negative(&format!("{p}.cache_ttl_secs"), f.cache_ttl_secs, 300, 86_400)),
        negative_cache_ttl: Duration::from_secs(v.non_negative(
            &format!("{p}.negative_cache_ttl_secs"),
            f.negative_cache_ttl_secs,
            10,
            3600,
        )),
        timeout: Duration::from_millis(v.positive(&format!("{p}.timeout_ms"), f.timeout_ms, 2000, 60_000)),
    })
}

fn route(v: &mut Validator, i: usize, f: FileRoute) -> Option<RouteConfig> {
    let p = format!("routes[{i}]");
    let path = match f.path {
        Some(path) if path.starts_with('/') => {
            if let Err(e) = super::route::normalize(&path) {
                v.error(&format!("{p}.path"), format!("`{path}` is not a plain path: {e}"));
            }
            path
        }
        Some(path) => {
            v.error(&format!("{p}.path"), format!("`{path}` must start with `/`"));
            return None;
        }
        None => {
            v.error(&format!("{p}.path"), "missing: the path prefix this route covers, e.g. \"/api/\"");
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
            _ => v.error(&format!("{p}.methods[{j}]"), format!("`{m}` is not an HTTP method")),
        }
    }
    let check_scopes = |v: &mut Validator, key: &str, list: &[String]| {
        for (j, s) in list.iter().enumerate() {
            if !is_scope_token(s) {
                v.error(&format!("{key}[{j}]"), format!("`{s}` is not a valid scope token (RFC 6749 3.3)"));
            }
        }
    };
    let all = f.scopes.unwrap_or_default();
    let any = f.any_scopes.unwrap_or_default();
    check_scopes(v, &format!("{p}.scopes"), &all);
    check_scopes(v, &format!("{p}.any_scopes"), &any);
    let auth = match f.auth.as_deref().unwrap_or("required") {
        "none" => {
            if !all.is_empty() || !any.is_empty() {
                v.error(&format!("{p}.auth"), "a route with `auth = \"none\"` cannot require scopes");
            }
            RouteAuth::None
        }
        "required" => RouteAuth::Required { all, any },
        other => {
            v.error(&format!("{p}.auth"), format!("`{other}` is not \"none\" or \"required\""));
            RouteAuth::None
        }
    };
    let rate_limit = f.rate_limit.as_deref().and_then(|r| match RateLimit::parse(r) {
        Ok(l) => Some(l),
        Err(e) => {
            v.error(&format!("{p}.rate_limit"), e);
            None
        }
    });
    Some(RouteConfig {
        name: f.name.unwrap_or_else(|| path.clone()),
        path,
        methods,
        auth,
        rate_limit,
        close_streams_on_expiry: f.close_streams_on_expiry.unwrap_or(true),
    })
}

// The file format of `[auth]` and `[[routes]]`: serde types that mirror the TOML, every field optional.

#[doc(hidden)]
#[derive(Debug, Default, Deserialize)]
pub struct FileAuth {
    pub token_sources: Option<Vec<String>>,
    pub forward_token: Option<bool>,
    pub default: Option<String>,
    pub cache_capacity: Option<i64>,
    pub max_token_bytes: Option<i64>,
    #[serde(default)]
    pub issuers: Vec<FileIssuer>,
}

#[doc(hidden)]
#[derive(Debug, Default, Deserialize)]
pub struct FileIssuer {
    pub issuer: Option<String>,
    pub audiences: Option<Vec<String>>,
    pub jwks_uri: Option<String>,
    pub discovery: Option<bool>,
    pub algorithms: Option<Vec<String>>,
    pub leeway_secs: Option<i64>,
    pub require_typ: Option<String>,
    pub jwks_refresh_secs: Option<i64>,
    pub introspection: Option<FileIntrospection>,
}

#[doc(hidden)]
#[derive(Debug, Default, Deserialize)]
pub struct FileIntrospection {
    pub endpoint: Option<String>,
    pub client_id: Option<String>,
    pub client_secret: Option<String>,
    pub client_secret_env: Option<String>,
    pub cache_ttl_secs: Option<i64>,
    pub negative_cache_ttl_secs: Option<i64>,
    pub timeout_ms: Option<i64>,
}

#[doc(hidden)]
#[derive(Debug, Default, Deserialize)]
pub struct FileRoute {
    pub name: Option<String>,
    pub path: Option<String>,
    pub methods: Option<Vec<String>>,
    pub auth: Option<String>,
    pub scopes: Option<Vec<String>>,
    pub any_scopes: Option<Vec<String>>,
    pub rate_limit: Option<String>,
    pub close_streams_on_expiry: Option<bool>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_embedded_edge_refuses_the_binary_sections_and_unknown_keys_with_their_place() {
        let text =
            "[server]\nlisten = \"127.0.0.1:1\"\n\n[auth]\nbogus = 1\n\n[[routes]]\npath = \"/\"\nauth = \"none\"\n";
        let err = EdgeConfig::from_toml(text, "edge.toml").unwrap_err();
        let server = err.errors.iter().find(|e| e.key == "server").expect("server is named");
        assert!(server.reason.contains("not used by an embedded edge"), "{err}");
        assert_eq!(server.location.map(|l| l.0), Some(1), "{err}");
        let bogus = err.errors.iter().find(|e| e.key == "auth.bogus").expect("auth.bogus is named");
        assert_eq!(bogus.reason, "unknown key");
        assert_eq!(bogus.location, Some((5, 9)), "{err}");
        assert_eq!(err.errors.len(), 2, "{err}");
    }

    #[test]
    fn an_embedded_edge_that_needs_tokens_needs_an_issuer() {
        let err = EdgeConfig::from_toml("[[routes]]\npath = \"/api/\"\n", "edge.toml").unwrap_err();
        assert_eq!(err.errors.len(), 1, "{err}");
        assert_eq!(err.errors[0].key, "auth.issuers");
        let ok = EdgeConfig::from_toml("[[routes]]\npath = \"/\"\nauth = \"none\"\n", "edge.toml").unwrap();
        assert!(!ok.needs_tokens());
    }
}
