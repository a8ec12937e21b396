//! The demo: a small API to protect and a small authorization server to get tokens from, so that the embedded
//! default configuration runs a whole system on one machine. Both are off unless `[demo] enabled = true`.
//!
//! The demo issuer publishes RFC 8414 metadata and a JWKS, issues ES256 JWTs (or opaque tokens) to the client
//! `demo` / `demo-secret` through `client_credentials`, and answers RFC 7662 introspection for the gateway.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use aws_lc_rs::rand::SecureRandom;
use aws_lc_rs::signature::{EcdsaKeyPair, KeyPair, ECDSA_P256_SHA256_FIXED_SIGNING};
use axum::extract::{Form, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Json, Response};
use axum::routing::{any, get, post};
use axum::Router;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde::Deserialize;
use serde_json::{json, Value};

use crate::config::{Config, DemoConfig};
use crate::secret::Secret;

/// The demo client's credentials.
pub const DEMO_CLIENT_ID: &str = "demo";
/// See [`DEMO_CLIENT_ID`].
pub const DEMO_CLIENT_SECRET: &str = "demo-secret";
/// Scopes the demo issuer grants.
pub const DEMO_SCOPES: [&str; 3] = ["api:read", "api:write", "offline_access"];

/// Where the demo services listen.
#[derive(Debug, Clone, Copy)]
pub struct DemoAddrs {
    /// The demo API.
    pub upstream: SocketAddr,
    /// The demo authorization server.
    pub issuer: SocketAddr,
}

/// The bound demo listeners.
pub struct Demo {
    upstream: Mutex<Option<std::net::TcpListener>>,
    issuer: Mutex<Option<std::net::TcpListener>>,
    addrs: DemoAddrs,
    audience: String,
    introspection: Option<(String, Secret)>,
}

/// Binds the demo listeners.
pub fn bind(cfg: &DemoConfig, config: &Config) -> std::io::Result<Demo> {
    let up = crate::server::bind(cfg.upstream_listen)?;
    let iss = crate::server::bind(cfg.issuer_listen)?;
    up.set_nonblocking(true)?;
    iss.set_nonblocking(true)?;
    let addrs = DemoAddrs { upstream: up.local_addr()?, issuer: iss.local_addr()? };
    let url = format!("http://{}", addrs.issuer);
    let issuer_cfg = config.edge.issuers.iter().find(|i| i.issuer == url);
    Ok(Demo {
        upstream: Mutex::new(Some(up)),
        issuer: Mutex::new(Some(iss)),
        addrs,
        audience: issuer_cfg.and_then(|i| i.audiences.first().cloned()).unwrap_or_else(|| "tokengate-demo".into()),
        introspection: issuer_cfg
            .and_then(|i| i.introspection.as_ref())
            .map(|i| (i.client_id.clone(), i.client_secret.clone())),
    })
}

impl Demo {
    /// The bound addresses.
    pub fn addrs(&self) -> DemoAddrs {
        self.addrs
    }

    /// The background service running both demo servers.
    pub fn service(&self) -> std::io::Result<DemoService> {
        let take = |m: &Mutex<Option<std::net::TcpListener>>| m.lock().ok().and_then(|mut l| l.take());
        let (Some(upstream), Some(issuer)) = (take(&self.upstream), take(&self.issuer)) else {
            return Err(std::io::Error::other("demo service already started"));
        };
        let state = IssuerState::new(
            format!("http://{}", self.addrs.issuer),
            self.audience.clone(),
            self.introspection.clone(),
        )?;
        Ok(DemoService { listeners: Mutex::new(Some((upstream, issuer))), state: Arc::new(state) })
    }
}

struct IssuerState {
    issuer: String,
    audience: String,
    kid: String,
    key: EncodingKey,
    jwk: Value,
    introspection: Option<(String, Secret)>,
    opaque: Mutex<HashMap<String, Value>>,
}

impl IssuerState {
    fn new(issuer: String, audience: String, introspection: Option<(String, Secret)>) -> std::io::Result<Self> {
        crate::install_crypto_provider();
        let rng = aws_lc_rs::rand::SystemRandom::new();
        let pkcs8 = EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &rng)
            .map_err(|_| std::io::Error::other("cannot generate the demo key"))?;
        let pair = EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, pkcs8.as_ref())
            .map_err(|_| std::io::Error::other("cannot load the demo key"))?;
        let point = pair.public_key().as_ref();
        let mut id = [0u8; 6];
        rng.fill(&mut id).map_err(|_| std::io::Error::other("no randomness"))?;
        let kid = format!("demo-{}", URL_SAFE_NO_PAD.encode(id));
        let jwk = json!({
            "kty": "EC", "crv": "P-256", "use": "sig", "alg": "ES256", "kid": kid,
            "x": URL_SAFE_NO_PAD.encode(&point[1..33]), "y": URL_SAFE_NO_PAD.encode(&point[33..65]),
        });
        Ok(IssuerState {
            issuer,
            audience,
            kid,
            key: EncodingKey::from_ec_der(pkcs8.as_ref()),
            jwk,
            introspection,
            opaque: Mutex::new(HashMap::new()),
        })
    }
}

/// Runs the demo API and the demo issuer.
pub struct DemoService {
    listeners: Mutex<Option<(std::net::TcpListener, std::net::TcpListener)>>,
    state: Arc<IssuerState>,
}

#[async_trait]
impl pingora::services::background::BackgroundService for DemoService {
    async fn start(&self, shutdown: pingora::server::ShutdownWatch) {
        let Some((up, iss)) = self.listeners.lock().ok().and_then(|mut l| l.take()) else { return };
        let (Ok(up), Ok(iss)) = (tokio::net::TcpListener::from_std(up), tokio::net::TcpListener::from_std(iss)) else {
            tracing::error!("demo listeners failed");
            return;
        };
        let api = Router::new().route("/", any(echo)).route("/{*path}", any(echo));
        let issuer = Router::new()
            .route("/.well-known/oauth-authorization-server", get(metadata))
            .route("/.well-known/openid-configuration", get(metadata))
            .route("/jwks", get(jwks))
            .route("/token", post(token))
            .route("/introspect", post(introspect))
            .with_state(self.state.clone());
        let stop = |mut s: pingora::server::ShutdownWatch| async move {
            let _ = s.changed().await;
        };
        let a = axum::serve(up, api).with_graceful_shutdown(stop(shutdown.clone()));
        let b = axum::serve(iss, issuer).with_graceful_shutdown(stop(shutdown));
        let _ = tokio::join!(a, b);
    }
}

/// The demo API: tells the caller what it received, identity headers included.
async fn echo(method: axum::http::Method, uri: axum::http::Uri, headers: HeaderMap) -> Json<Value> {
    let h = |n: &str| headers.get(n).and_then(|v| v.to_str().ok()).map(str::to_string);
    Json(json!({
        "message": "hello from the demo API",
        "method": method.as_str(),
        "path": uri.path_and_query().map(|p| p.as_str()).unwrap_or("/"),
        "subject": h("x-auth-subject"),
        "client_id": h("x-auth-client-id"),
        "scopes": h("x-auth-scopes"),
        "issuer": h("x-auth-issuer"),
    }))
}

async fn metadata(State(s): State<Arc<IssuerState>>) -> Json<Value> {
    Json(json!({
        "issuer": s.issuer,
        "jwks_uri": format!("{}/jwks", s.issuer),
        "token_endpoint": format!("{}/token", s.issuer),
        "introspection_endpoint": format!("{}/introspect", s.issuer),
        "grant_types_supported": ["client_credentials"],
        "token_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post"],
        "scopes_supported": DEMO_SCOPES,
    }))
}

async fn jwks(State(s): State<Arc<IssuerState>>) -> Response {
    ([(axum::http::header::CACHE_CONTROL, "max-age=300")], Json(json!({ "keys": [s.jwk] }))).into_response()
}

fn oauth_error(status: StatusCode, error: &str, description: &str) -> Response {
    (
        status,
        [(axum::http::header::CACHE_CONTROL, "no-store")],
        Json(json!({"error": error, "error_description": description})),
    )
        .into_response()
}

fn basic(headers: &HeaderMap) -> Option<(String, String)> {
    let v = headers.get(axum::http::header::AUTHORIZATION)?.to_str().ok()?;
    crate::registry::credentials::client_basic(v)?.ok()
}

#[derive(Deserialize)]
struct TokenForm {
    grant_type: Option<String>,
    scope: Option<String>,
    client_id: Option<String>,
    client_secret: Option<String>,
    /// `jwt` (default) or `opaque`.
    format: Option<String>,
    /// The subject to act as (default: the client).
    sub: Option<String>,
}

async fn token(State(s): State<Arc<IssuerState>>, headers: HeaderMap, Form(f): Form<TokenForm>) -> Response {
    let creds = basic(&headers).or_else(|| Some((f.client_id.clone()?, f.client_secret.clone()?)));
    let ok = creds
        .is_some_and(|(id, secret)| id == DEMO_CLIENT_ID && Secret::new(DEMO_CLIENT_SECRET).matches(secret.as_bytes()));
    if !ok {
        return oauth_error(StatusCode::UNAUTHORIZED, "invalid_client", "client authentication failed");
    }
    if f.grant_type.as_deref() != Some("client_credentials") {
        return oauth_error(
            StatusCode::BAD_REQUEST,
            "unsupported_grant_type",
            "the demo issuer only does client_credentials",
        );
    }
    let scope = f.scope.unwrap_or_else(|| "api:read".into());
    if let Some(bad) = scope.split(' ').find(|x| !DEMO_SCOPES.contains(x)) {
        return oauth_error(StatusCode::BAD_REQUEST, "invalid_scope", &format!("unknown scope {bad}"));
    }
    let now = crate::clock::Clock::now(&crate::clock::SystemClock);
    let mut jti = [0u8; 16];
    let _ = aws_lc_rs::rand::SystemRandom::new().fill(&mut jti);
    let claims = json!({
        "iss": s.issuer, "sub": f.sub.unwrap_or_else(|| DEMO_CLIENT_ID.into()), "aud": s.audience,
        "client_id": DEMO_CLIENT_ID, "scope": scope, "iat": now, "exp": now + 3600,
        "jti": URL_SAFE_NO_PAD.encode(jti),
    });
    let access_token = if f.format.as_deref() == Some("opaque") {
        let mut raw = [0u8; 32];
        let _ = aws_lc_rs::rand::SystemRandom::new().fill(&mut raw);
        let t = URL_SAFE_NO_PAD.encode(raw);
        if let Ok(mut m) = s.opaque.lock() {
            m.insert(t.clone(), claims);
        }
        t
    } else {
        let mut header = Header::new(Algorithm::ES256);
        header.kid = Some(s.kid.clone());
        header.typ = Some("at+jwt".into());
        match jsonwebtoken::encode(&header, &claims, &s.key) {
            Ok(t) => t,
            Err(_) => return oauth_error(StatusCode::INTERNAL_SERVER_ERROR, "server_error", "signing failed"),
        }
    };
    (
        [(axum::http::header::CACHE_CONTROL, "no-store")],
        Json(json!({"access_token": access_token, "token_type": "Bearer", "expires_in": 3600, "scope": scope})),
    )
        .into_response()
}

#[derive(Deserialize)]
struct IntrospectForm {
    token: String,
}

async fn introspect(State(s): State<Arc<IssuerState>>, headers: HeaderMap, Form(f): Form<IntrospectForm>) -> Response {
    let allowed = match (&s.introspection, basic(&headers)) {
        (Some((id, secret)), Some((pid, psecret))) => *id == pid && secret.matches(psecret.as_bytes()),
        _ => false,
    };
    if !allowed {
        return oauth_error(StatusCode::UNAUTHORIZED, "invalid_client", "client authentication failed");
    }
    let found = s.opaque.lock().ok().and_then(|m| m.get(&f.token).cloned());
    match found {
        Some(mut claims) => {
            claims["active"] = json!(true);
            claims["token_type"] = json!("Bearer");
            Json(claims).into_response()
        }
        None => Json(json!({"active": false})).into_response(),
    }
}
