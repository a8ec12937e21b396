//! Measures the per-request cost of tokengate's edge: token extraction, path normalisation and route matching, JWT
//! verification per algorithm, verified-token cache hits (JWT and opaque), the scope decision, the token digest, and
//! the whole `Edge::check`.
//!
//! Self-contained: keys are generated at start, the edge's clock is fixed, and the JWKS / introspection endpoints the
//! cache needs to be primed are served by a tiny axum server on 127.0.0.1 inside this process.

use std::hint::black_box;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::rsa::{KeyPair as RsaKeyPair, KeySize, PublicKeyComponents};
use aws_lc_rs::signature::{
    EcdsaKeyPair, Ed25519KeyPair, KeyPair as _, ECDSA_P256_SHA256_FIXED_SIGNING, RSA_PKCS1_SHA256,
};
use axum::extract::State;
use axum::routing::{get, post};
use axum::{Json, Router};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use criterion::{criterion_group, criterion_main, Criterion};
use http::Method;
use jsonwebtoken::{Algorithm, DecodingKey};
use pingora::http::RequestHeader;
use serde_json::{json, Value};
use tokio::runtime::Runtime;

use tokengate::edge::config::{IssuerConfig, RouteAuth};
use tokengate::edge::route::{self, RouteTable};
use tokengate::edge::{cache, jwt, scope, token};
use tokengate::{Config, Edge, EdgeConfig, Identity, ManualClock};

/// The edge's fixed "now" (epoch seconds); every token expires an hour later.
const NOW: i64 = 1_750_000_000;
const ISSUER: &str = "https://idp.bench.example";
const AUDIENCE: &str = "https://api.bench.example/";
/// Scopes of the benchmark JWT: five, of which `/api/` GET needs the last two.
const SCOPES: &str = "openid profile email api:read items:read";
/// An opaque (non-JWT) access token, as an introspecting issuer would hand out.
const OPAQUE: &str = "opq_7Hq2xKcV9mZ4pL0sT8wY3nB6rD1fG5jA";

fn b64(bytes: impl AsRef<[u8]>) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

/// One signing key, its public JWK and the matching `DecodingKey`.
/// Signs a JWS signing input.
type Signer = Box<dyn Fn(&[u8]) -> Vec<u8>>;

struct SigningKey {
    alg: Algorithm,
    name: &'static str,
    sign: Signer,
    jwk: Value,
    decoding: DecodingKey,
}

impl SigningKey {
    fn generate(alg: Algorithm) -> SigningKey {
        let rng = SystemRandom::new();
        match alg {
            Algorithm::RS256 => {
                let kp = RsaKeyPair::generate(KeySize::Rsa2048).expect("RSA keygen");
                let c = PublicKeyComponents::<Vec<u8>>::from(kp.public_key());
                let (n, e) = (c.n.as_slice(), c.e.as_slice());
                let (n, e) = (
                    &n[n.iter().position(|&b| b != 0).unwrap_or(0)..],
                    &e[e.iter().position(|&b| b != 0).unwrap_or(0)..],
                );
                let jwk = json!({"kty": "RSA", "kid": "rs", "alg": "RS256", "use": "sig", "n": b64(n), "e": b64(e)});
                let decoding = DecodingKey::from_rsa_raw_components(n, e);
                let sign = Box::new(move |msg: &[u8]| {
                    let mut sig = vec![0; kp.public_modulus_len()];
                    kp.sign(&RSA_PKCS1_SHA256, &SystemRandom::new(), msg, &mut sig).expect("RS256 sign");
                    sig
                });
                SigningKey { alg, name: "RS256", sign, jwk, decoding }
            }
            Algorithm::ES256 => {
                let doc = EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &rng).expect("P-256 keygen");
                let kp = EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, doc.as_ref()).expect("P-256 key");
                let point = kp.public_key().as_ref().to_vec(); // 0x04 || x || y
                let (x, y) = (b64(&point[1..33]), b64(&point[33..65]));
                let decoding = DecodingKey::from_ec_components(&x, &y).expect("EC decoding key");
                let jwk =
                    json!({"kty": "EC", "kid": "es", "alg": "ES256", "use": "sig", "crv": "P-256", "x": x, "y": y});
                let sign = Box::new(move |msg: &[u8]| {
                    kp.sign(&SystemRandom::new(), msg).expect("ES256 sign").as_ref().to_vec()
                });
                SigningKey { alg, name: "ES256", sign, jwk, decoding }
            }
            Algorithm::EdDSA => {
                let doc = Ed25519KeyPair::generate_pkcs8(&rng).expect("Ed25519 keygen");
                let kp = Ed25519KeyPair::from_pkcs8(doc.as_ref()).expect("Ed25519 key");
                let x = b64(kp.public_key().as_ref());
                let decoding = DecodingKey::from_ed_components(&x).expect("Ed25519 decoding key");
                let jwk = json!({"kty": "OKP", "kid": "ed", "alg": "EdDSA", "use": "sig", "crv": "Ed25519", "x": x});
                let sign = Box::new(move |msg: &[u8]| kp.sign(msg).as_ref().to_vec());
                SigningKey { alg, name: "EdDSA", sign, jwk, decoding }
            }
            other => panic!("no benchmark key for {other:?}"),
        }
    }

    /// A signed access token (`typ: at+jwt`) with realistic claims, padded so that the ES256 one is ~800 bytes.
    fn mint(&self) -> String {
        let header = json!({"alg": self.name, "typ": "at+jwt", "kid": self.jwk["kid"]});
        let claims = json!({
            "iss": ISSUER, "sub": "user-4f1c2a9e-8b7d-4e3a-9c6f-1d2e3f4a5b6c", "aud": [AUDIENCE, "https://other.example/"],
            "exp": NOW + 3600, "iat": NOW - 60, "nbf": NOW - 60, "client_id": "bench-client-0001",
            "scope": SCOPES, "jti": "b7e1c9d0-3f2a-4c8e-9a1b-5d6e7f8a9b0c",
            "tenant": "acme-corporation-emea", "roles": ["reader", "editor", "reviewer"],
            "ext": "x".repeat(85),
        });
        let input = format!("{}.{}", b64(header.to_string()), b64(claims.to_string()));
        let sig = (self.sign)(input.as_bytes());
        format!("{input}.{}", b64(sig))
    }
}

/// What the in-process issuer serves, and how often it was asked (to prove the benches hit the cache).
struct IssuerState {
    jwks: Value,
    jwks_calls: AtomicUsize,
    introspect_calls: AtomicUsize,
}

async fn jwks(State(s): State<Arc<IssuerState>>) -> Json<Value> {
    s.jwks_calls.fetch_add(1, Ordering::SeqCst);
    Json(s.jwks.clone())
}

async fn introspect(State(s): State<Arc<IssuerState>>) -> Json<Value> {
    s.introspect_calls.fetch_add(1, Ordering::SeqCst);
    Json(json!({"active": true, "scope": "api:read", "sub": "bench", "exp": NOW + 3600}))
}

/// Starts the JWKS + introspection server on 127.0.0.1:0 (on `rt`) and returns its address.
fn start_issuer(rt: &Runtime, state: Arc<IssuerState>) -> SocketAddr {
    rt.block_on(async {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind 127.0.0.1:0");
        let addr = listener.local_addr().expect("local addr");
        let app = Router::new().route("/jwks", get(jwks)).route("/introspect", post(introspect)).with_state(state);
        tokio::spawn(async move { axum::serve(listener, app).await.expect("issuer server") });
        addr
    })
}

/// The edge configuration: one issuer (JWKS + introspection at `addr`, no discovery) and five routes.
fn edge_config(addr: SocketAddr) -> EdgeConfig {
    let text = format!(
        r#"
[upstream]
url = "http://127.0.0.1:1"

[[auth.issuers]]
issuer = "{ISSUER}"
audiences = ["{AUDIENCE}"]
algorithms = ["RS256", "ES256", "EdDSA"]
require_typ = "at+jwt"
jwks_uri = "http://{addr}/jwks"
discovery = false

[auth.issuers.introspection]
endpoint = "http://{addr}/introspect"
client_id = "gateway"
client_secret = "gateway-secret"

[[routes]]
path = "/public/"
auth = "none"

[[routes]]
path = "/health"
auth = "none"

[[routes]]
path = "/admin/"
scopes = ["admin"]

[[routes]]
path = "/api/"
methods = ["GET", "HEAD"]
scopes = ["api:read", "items:read"]

[[routes]]
path = "/api/"
methods = ["POST", "PUT", "PATCH", "DELETE"]
scopes = ["api:write"]
"#
    );
    Config::from_toml(&text, "<bench>").unwrap_or_else(|e| panic!("{e}")).edge
}

fn request(method: &str, path: &str, header: Option<(&'static str, &str)>) -> RequestHeader {
    let mut req = RequestHeader::build(method, path.as_bytes(), None).expect("request");
    if let Some((name, value)) = header {
        req.insert_header(name, value).expect("header");
    }
    req
}

/// Times `iters` runs of an async call inside one `block_on`, so the runtime entry is not part of the figure.
fn bench_async<F, Fut>(c: &mut Criterion, name: &str, rt: &Runtime, f: F)
where
    F: Fn() -> Fut,
    Fut: std::future::Future,
{
    c.bench_function(name, |b| {
        b.iter_custom(|iters| {
            rt.block_on(async {
                let start = Instant::now();
                for _ in 0..iters {
                    black_box(f().await);
                }
                start.elapsed()
            })
        })
    });
}

fn benches(c: &mut Criterion) {
    tokengate::install_crypto_provider();
    let keys: Vec<SigningKey> =
        [Algorithm::RS256, Algorithm::ES256, Algorithm::EdDSA].into_iter().map(SigningKey::generate).collect();
    let es256 = &keys[1];
    let jwt_token = es256.mint();
    assert!((750..=850).contains(&jwt_token.len()), "ES256 token is {} bytes", jwt_token.len());
    let bearer = format!("Bearer {jwt_token}");

    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().expect("runtime");
    let state = Arc::new(IssuerState {
        jwks: json!({"keys": [es256.jwk.clone()]}),
        jwks_calls: AtomicUsize::new(0),
        introspect_calls: AtomicUsize::new(0),
    });
    let cfg = edge_config(start_issuer(&rt, state.clone()));
    let issuer: &IssuerConfig = &cfg.issuers[0];

    // 1. Token extraction.
    {
        let mut g = c.benchmark_group("token_extraction");
        let by_bearer = request("GET", "/api/items", Some(("authorization", bearer.as_str())));
        let by_session = request("GET", "/api/items", Some(("sessionid", jwt_token.as_str())));
        for (name, req) in [("authorization_bearer", &by_bearer), ("session_id", &by_session)] {
            g.bench_function(name, |b| {
                b.iter(|| token::extract(black_box(&req.headers), None, &cfg.token_sources, cfg.max_token_bytes))
            });
        }
        g.finish();
    }

    // 2. Path normalisation and route matching.
    {
        let mut g = c.benchmark_group("route_matching");
        assert!(matches!(route::normalize("/api/v1/items/42"), Ok(std::borrow::Cow::Borrowed(_))));
        assert_eq!(route::normalize("/public/%2e%2e/api/x;v=1").as_deref(), Ok("/api/x"));
        g.bench_function("normalize_plain", |b| b.iter(|| route::normalize(black_box("/api/v1/items/42"))));
        g.bench_function("normalize_tricky", |b| b.iter(|| route::normalize(black_box("/public/%2e%2e/api/x;v=1"))));
        let table = RouteTable::new(&cfg.routes, cfg.default);
        assert_eq!(table.find("/api/v1/items/42", &Method::POST).map(|r| r.index), Some(4));
        // POST /api/... is matched by the last of the five routes: the longest scan.
        g.bench_function("find_5_routes", |b| {
            b.iter(|| table.find(black_box("/api/v1/items/42"), black_box(&Method::POST)).map(|r| r.index))
        });
        g.finish();
    }

    // 3. Uncached JWT verification, the edge's own verifier: parse, algorithm pin, claims, signature.
    {
        use futures_util::FutureExt as _;
        let mut g = c.benchmark_group("jwt_verify");
        for key in &keys {
            let token = key.mint();
            let source = OneKey(key.alg, Arc::new(key.decoding.clone()));
            let verify = |t: &str| -> Result<(), tokengate::Denial> {
                let parsed = jwt::parse(t)?;
                // A key held in memory: nothing awaits, so the future completes on its first poll.
                let verified = jwt::verify(&parsed, issuer, jwt::Keys::Local(&source), NOW).now_or_never();
                verified.expect("no await on in-memory keys").map(|_| ())
            };
            assert_eq!(verify(&token), Ok(()), "{} token does not verify", key.name);
            assert_eq!(key.alg, jwt::algorithm(&jwt::parse(&token).unwrap().header, issuer).unwrap());
            g.bench_function(key.name, |b| b.iter(|| verify(black_box(&token))));
        }
        g.finish();
    }

    // 4, 5, 8. The edge itself, with both caches primed once through the local issuer.
    let client = reqwest::Client::builder().no_proxy().timeout(Duration::from_secs(5)).build().expect("HTTP client");
    let edge = Edge::builder(cfg.clone()).clock(Arc::new(ManualClock::new(NOW))).http_client(client).build();
    let jwt_req = request("GET", "/api/items", Some(("authorization", bearer.as_str())));
    let opaque_req = request("GET", "/api/items", Some(("authorization", format!("Bearer {OPAQUE}").as_str())));
    let public_req = request("GET", "/public/index.html", None);
    rt.block_on(async {
        let who = edge.authenticate(&jwt_req).await.expect("JWT verifies against the local JWKS");
        assert_eq!(who.scopes().count(), 5);
        edge.authenticate(&opaque_req).await.expect("opaque token introspects as active");
        assert!(edge.check(&jwt_req).await.is_ok_and(|a| a.identity.is_some()));
        assert!(edge.check(&public_req).await.is_ok_and(|a| a.identity.is_none()));
    });

    bench_async(c, "jwt_cache_hit", &rt, || edge.authenticate(&jwt_req));
    bench_async(c, "opaque_cache_hit", &rt, || edge.authenticate(&opaque_req));

    // 6. Scope decision: a route needing 2 scopes, an identity holding 5.
    {
        let table = RouteTable::new(&cfg.routes, cfg.default);
        let api_get = table.find("/api/items", &Method::GET).expect("route");
        assert!(matches!(&api_get.auth, RouteAuth::Required { all, .. } if all.len() == 2));
        let who = Identity::new(Some("alice"), Some("app"), ISSUER, SCOPES.split(' '), Some(NOW + 3600), None).unwrap();
        assert_eq!(scope::decide(api_get, &who), Ok(()));
        c.bench_function("scope_decision", |b| b.iter(|| scope::decide(black_box(api_get), black_box(&who))));
    }

    // 7. The SHA-256 cache key: the floor under any cache hit.
    c.bench_function("sha256_token_digest", |b| b.iter(|| cache::digest(black_box(&jwt_token))));

    // 8. The whole decision.
    bench_async(c, "edge_check_public_route", &rt, || edge.check(&public_req));
    bench_async(c, "edge_check_jwt_route_cached", &rt, || edge.check(&jwt_req));

    // Every edge bench above was a cache hit: the issuer was asked exactly once per token.
    assert_eq!(state.jwks_calls.load(Ordering::SeqCst), 1, "JWKS fetched more than once");
    assert_eq!(state.introspect_calls.load(Ordering::SeqCst), 1, "opaque token introspected more than once");
}

/// One verification key, as an in-process issuer holds it.
struct OneKey(Algorithm, Arc<DecodingKey>);

impl tokengate::LocalIssuer for OneKey {
    fn key(&self, _kid: &str) -> Option<(Algorithm, Arc<DecodingKey>)> {
        Some((self.0, self.1.clone()))
    }
    fn is_revoked(&self, _identity: &tokengate::Identity) -> bool {
        false
    }
}

criterion_group!(edge_benches, benches);
criterion_main!(edge_benches);
