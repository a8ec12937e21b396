//! A test OAuth2 authorization server: discovery (RFC 8414 and OpenID), a JWKS
//! endpoint, RFC 7662 introspection, token minting and runtime fault injection.
//!
//! Everything runs on the caller's tokio runtime, bound to `127.0.0.1:0`.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, Once};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use aws_lc_rs::encoding::{AsDer, Pkcs8V1Der, PublicKeyX509Der};
use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::rsa::{KeyPair as RsaKeyPair, KeySize, PublicKeyComponents};
use aws_lc_rs::signature::{EcdsaKeyPair, Ed25519KeyPair, KeyPair as _, ECDSA_P256_SHA256_FIXED_SIGNING};
use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use base64::Engine as _;
use jsonwebtoken::{Algorithm, EncodingKey};
use serde_json::{json, Map, Value};
use tokio::net::{TcpListener, TcpSocket};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

/// Installs jsonwebtoken's aws-lc-rs crypto provider once per process.
/// An "already installed" error is ignored.
pub fn ensure_crypto_provider() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        let _ = jsonwebtoken::crypto::aws_lc::DEFAULT_PROVIDER.install_default();
    });
}

/// Current time as Unix seconds.
pub fn now() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).expect("clock before 1970").as_secs() as i64
}

/// Base64url without padding, as used in JWS.
pub fn b64url(bytes: impl AsRef<[u8]>) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

/// Builds `b64(header).b64(claims).` — an unsigned token (for `alg: none` attacks).
/// The header is used verbatim.
pub fn forge_unsigned(header: Value, claims: Value) -> String {
    format!("{}.{}.", b64url(serde_json::to_vec(&header).unwrap()), b64url(serde_json::to_vec(&claims).unwrap()))
}

/// Signs `b64(header).b64(claims)` with HMAC-SHA256 under `secret` (for
/// algorithm-confusion attacks, e.g. the secret being a public key's PEM).
/// The header is used verbatim; put `"alg":"HS256"` in it yourself.
pub fn forge_hs256(secret: &[u8], header: Value, claims: Value) -> String {
    ensure_crypto_provider();
    let input =
        format!("{}.{}", b64url(serde_json::to_vec(&header).unwrap()), b64url(serde_json::to_vec(&claims).unwrap()));
    let sig = jsonwebtoken::crypto::sign(input.as_bytes(), &EncodingKey::from_secret(secret), Algorithm::HS256)
        .expect("HS256 signing");
    format!("{input}.{sig}")
}

/// Signing algorithms the test issuer can hold keys for.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Alg {
    /// RSA 2048 with PKCS#1 v1.5 / SHA-256.
    RS256,
    /// ECDSA P-256 / SHA-256.
    ES256,
    /// Ed25519.
    EdDSA,
}

impl Alg {
    /// The JOSE `alg` name.
    pub fn name(self) -> &'static str {
        match self {
            Alg::RS256 => "RS256",
            Alg::ES256 => "ES256",
            Alg::EdDSA => "EdDSA",
        }
    }

    /// The matching jsonwebtoken algorithm.
    pub fn jwt_alg(self) -> Algorithm {
        match self {
            Alg::RS256 => Algorithm::RS256,
            Alg::ES256 => Algorithm::ES256,
            Alg::EdDSA => Algorithm::EdDSA,
        }
    }
}

/// Which discovery documents the issuer serves (the others answer 404).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DiscoveryMode {
    /// Both RFC 8414 and OpenID discovery.
    Both,
    /// Only `/.well-known/oauth-authorization-server{path}`.
    OAuthOnly,
    /// Only `{path}/.well-known/openid-configuration`.
    OidcOnly,
    /// Neither (both 404).
    None,
}

/// A fault injected into an endpoint, checked on every request.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Fault {
    /// Normal behaviour.
    None,
    /// 503 with an empty body.
    Down,
    /// This status with body `{"error":"test_fault"}`.
    Status(u16),
    /// 200, `content-type: application/json`, body `not json{`.
    Garbage,
    /// Sleep this long, then answer normally.
    Delay(Duration),
}

/// One signing key held by the issuer.
struct KeyMaterial {
    alg: Alg,
    encoding: EncodingKey,
    spki_der: Vec<u8>,
    jwk: Value,
}

impl KeyMaterial {
    fn generate(alg: Alg, kid: &str) -> KeyMaterial {
        ensure_crypto_provider();
        let rng = SystemRandom::new();
        match alg {
            Alg::RS256 => {
                let kp = RsaKeyPair::generate(KeySize::Rsa2048).expect("RSA keygen");
                let pkcs8 = AsDer::<Pkcs8V1Der>::as_der(&kp).expect("RSA PKCS#8");
                // jsonwebtoken's aws-lc backend parses RSA keys with
                // RsaKeyPair::from_der, which wants PKCS#1 RSAPrivateKey, not PKCS#8.
                let pkcs1 = pkcs8_private_key_octets(pkcs8.as_ref());
                let public = kp.public_key();
                let spki = AsDer::<PublicKeyX509Der>::as_der(public).expect("RSA SPKI");
                let comps = PublicKeyComponents::<Vec<u8>>::from(public);
                KeyMaterial {
                    alg,
                    encoding: EncodingKey::from_rsa_der(&pkcs1),
                    spki_der: spki.as_ref().to_vec(),
                    jwk: json!({
                        "kty": "RSA", "kid": kid, "alg": "RS256", "use": "sig",
                        "n": b64url(strip_leading_zeros(&comps.n)),
                        "e": b64url(strip_leading_zeros(&comps.e)),
                    }),
                }
            }
            Alg::ES256 => {
                let doc = EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &rng).expect("P-256 keygen");
                let kp = EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, doc.as_ref()).expect("P-256 parse");
                let point = kp.public_key().as_ref(); // 0x04 || x || y
                assert_eq!(point.len(), 65);
                let spki = AsDer::<PublicKeyX509Der>::as_der(kp.public_key()).expect("EC SPKI");
                KeyMaterial {
                    alg,
                    encoding: EncodingKey::from_ec_der(doc.as_ref()),
                    spki_der: spki.as_ref().to_vec(),
                    jwk: json!({
                        "kty": "EC", "kid": kid, "alg": "ES256", "use": "sig", "crv": "P-256",
                        "x": b64url(&point[1..33]), "y": b64url(&point[33..65]),
                    }),
                }
            }
            Alg::EdDSA => {
                let doc = Ed25519KeyPair::generate_pkcs8(&rng).expect("Ed25519 keygen");
                let kp = Ed25519KeyPair::from_pkcs8(doc.as_ref()).expect("Ed25519 parse");
                let spki = AsDer::<PublicKeyX509Der>::as_der(kp.public_key()).expect("Ed25519 SPKI");
                KeyMaterial {
                    alg,
                    encoding: EncodingKey::from_ed_der(doc.as_ref()),
                    spki_der: spki.as_ref().to_vec(),
                    jwk: json!({
                        "kty": "OKP", "kid": kid, "alg": "EdDSA", "use": "sig", "crv": "Ed25519",
                        "x": b64url(kp.public_key().as_ref()),
                    }),
                }
            }
        }
    }
}

fn strip_leading_zeros(b: &[u8]) -> &[u8] {
    let i = b.iter().position(|&x| x != 0).unwrap_or(b.len().saturating_sub(1));
    &b[i..]
}

/// Reads one DER TLV at `pos`; returns (tag, content range end, content start).
fn der_tlv(d: &[u8], pos: usize) -> (u8, usize, usize) {
    let tag = d[pos];
    let first = d[pos + 1] as usize;
    let (len, start) = if first < 0x80 {
        (first, pos + 2)
    } else {
        let n = first & 0x7f;
        let mut len = 0usize;
        for i in 0..n {
            len = (len << 8) | d[pos + 2 + i] as usize;
        }
        (len, pos + 2 + n)
    };
    (tag, start + len, start)
}

/// Extracts the `privateKey` OCTET STRING of a PKCS#8 PrivateKeyInfo
/// (for RSA that is the PKCS#1 RSAPrivateKey).
fn pkcs8_private_key_octets(pkcs8: &[u8]) -> Vec<u8> {
    let (tag, end, mut pos) = der_tlv(pkcs8, 0);
    assert_eq!(tag, 0x30, "PKCS#8 is not a SEQUENCE");
    let mut fields = 0;
    while pos < end {
        let (tag, next, start) = der_tlv(pkcs8, pos);
        fields += 1;
        if fields == 3 {
            assert_eq!(tag, 0x04, "PKCS#8 privateKey is not an OCTET STRING");
            return pkcs8[start..next].to_vec();
        }
        pos = next;
    }
    panic!("malformed PKCS#8");
}

fn pem_wrap(label: &str, der: &[u8]) -> String {
    let b64 = STANDARD.encode(der);
    let mut out = format!("-----BEGIN {label}-----\n");
    for chunk in b64.as_bytes().chunks(64) {
        out.push_str(std::str::from_utf8(chunk).unwrap());
        out.push('\n');
    }
    out.push_str(&format!("-----END {label}-----\n"));
    out
}

struct IssuerState {
    /// Published kids, in order; the first one signs `mint`.
    published: Vec<String>,
    /// Every key ever created (published, removed or unpublished).
    material: HashMap<String, Arc<KeyMaterial>>,
    discovery_mode: DiscoveryMode,
    discovery_fault: Fault,
    jwks_fault: Fault,
    introspect_fault: Fault,
    jwks_cache_control: Option<String>,
    client_id: String,
    client_secret: String,
    opaque: HashMap<String, Value>,
    metadata_patch: Map<String, Value>,
    extra_jwks: Vec<Value>,
    last_introspect_form: Option<Vec<(String, String)>>,
}

struct Running {
    shutdown: oneshot::Sender<()>,
    handle: JoinHandle<()>,
}

struct Inner {
    addr: SocketAddr,
    path: String,
    issuer: String,
    state: Mutex<IssuerState>,
    jwks_calls: AtomicUsize,
    introspect_calls: AtomicUsize,
    /// Introspection calls being answered now, and the most there ever were at once.
    introspect_in_flight: AtomicUsize,
    introspect_max_in_flight: AtomicUsize,
    discovery_calls: AtomicUsize,
    server: tokio::sync::Mutex<Option<Running>>,
}

/// A running test authorization server. Cheap to clone (shared `Arc`).
#[derive(Clone)]
pub struct TestIssuer {
    inner: Arc<Inner>,
}

fn bind_reusable(addr: SocketAddr) -> std::io::Result<TcpListener> {
    let sock = TcpSocket::new_v4()?;
    sock.set_reuseaddr(true)?;
    sock.bind(addr)?;
    sock.listen(1024)
}

impl TestIssuer {
    /// Starts an issuer at `http://127.0.0.1:PORT` with one ES256 key, kid `es-1`.
    pub async fn start() -> TestIssuer {
        Self::start_with_path("").await
    }

    /// Starts an issuer whose URL has a path, e.g. `"/realms/demo"` gives
    /// `http://127.0.0.1:PORT/realms/demo` (Keycloak style). One ES256 key, kid `es-1`.
    pub async fn start_with_path(path: &str) -> TestIssuer {
        let path = path.trim_end_matches('/').to_string();
        assert!(path.is_empty() || path.starts_with('/'), "path must start with '/'");
        let listener = bind_reusable("127.0.0.1:0".parse().unwrap()).expect("bind issuer");
        let addr = listener.local_addr().unwrap();
        let mut material = HashMap::new();
        material.insert("es-1".to_string(), Arc::new(KeyMaterial::generate(Alg::ES256, "es-1")));
        let inner = Arc::new(Inner {
            addr,
            issuer: format!("http://{addr}{path}"),
            path,
            state: Mutex::new(IssuerState {
                published: vec!["es-1".to_string()],
                material,
                discovery_mode: DiscoveryMode::Both,
                discovery_fault: Fault::None,
                jwks_fault: Fault::None,
                introspect_fault: Fault::None,
                jwks_cache_control: Some("max-age=300".to_string()),
                client_id: "gateway".to_string(),
                client_secret: "gateway-secret".to_string(),
                opaque: HashMap::new(),
                metadata_patch: Map::new(),
                extra_jwks: Vec::new(),
                last_introspect_form: None,
            }),
            jwks_calls: AtomicUsize::new(0),
            introspect_calls: AtomicUsize::new(0),
            introspect_in_flight: AtomicUsize::new(0),
            introspect_max_in_flight: AtomicUsize::new(0),
            discovery_calls: AtomicUsize::new(0),
            server: tokio::sync::Mutex::new(None),
        });
        let running = serve(inner.clone(), listener);
        *inner.server.lock().await = Some(running);
        TestIssuer { inner }
    }

    fn st(&self) -> std::sync::MutexGuard<'_, IssuerState> {
        self.inner.state.lock().unwrap()
    }

    // ---- addresses ----

    /// The issuer identifier, e.g. `http://127.0.0.1:PORT` or `http://127.0.0.1:PORT/realms/demo`.
    pub fn issuer_url(&self) -> String {
        self.inner.issuer.clone()
    }
    /// `http://127.0.0.1:PORT` (no path).
    pub fn base_url(&self) -> String {
        format!("http://{}", self.inner.addr)
    }
    /// The bound socket address (stays known after `stop`).
    pub fn address(&self) -> SocketAddr {
        self.inner.addr
    }
    /// The issuer path (`""` or e.g. `"/realms/demo"`).
    pub fn path(&self) -> String {
        self.inner.path.clone()
    }
    /// `{issuer}/jwks`.
    pub fn jwks_uri(&self) -> String {
        format!("{}/jwks", self.inner.issuer)
    }
    /// `{issuer}/introspect`.
    pub fn introspection_endpoint(&self) -> String {
        format!("{}/introspect", self.inner.issuer)
    }
    /// `{issuer}/token` (advertised only; not implemented).
    pub fn token_endpoint(&self) -> String {
        format!("{}/token", self.inner.issuer)
    }
    /// RFC 8414 metadata URL: `{base}/.well-known/oauth-authorization-server{path}`.
    pub fn oauth_metadata_url(&self) -> String {
        format!("{}/.well-known/oauth-authorization-server{}", self.base_url(), self.inner.path)
    }
    /// OpenID metadata URL: `{issuer}/.well-known/openid-configuration`.
    pub fn oidc_metadata_url(&self) -> String {
        format!("{}/.well-known/openid-configuration", self.inner.issuer)
    }

    // ---- behaviour switches ----

    /// Chooses which discovery documents are served.
    pub fn set_discovery_mode(&self, mode: DiscoveryMode) {
        self.st().discovery_mode = mode;
    }
    /// Fault for both discovery endpoints.
    pub fn set_discovery_fault(&self, fault: Fault) {
        self.st().discovery_fault = fault;
    }
    /// Fault for the JWKS endpoint.
    pub fn set_jwks_fault(&self, fault: Fault) {
        self.st().jwks_fault = fault;
    }
    /// Fault for the introspection endpoint.
    pub fn set_introspect_fault(&self, fault: Fault) {
        self.st().introspect_fault = fault;
    }
    /// JWKS `Cache-Control: max-age=N` (default 300).
    pub fn set_jwks_max_age(&self, secs: u64) {
        self.st().jwks_cache_control = Some(format!("max-age={secs}"));
    }
    /// Raw JWKS `Cache-Control` value; `None` sends no header.
    pub fn set_jwks_cache_control(&self, value: Option<&str>) {
        self.st().jwks_cache_control = value.map(str::to_string);
    }
    /// Sets (or, with `Value::Null`, removes) a field of both discovery documents,
    /// e.g. `set_metadata("issuer", json!("http://evil"))`.
    pub fn set_metadata(&self, name: &str, value: Value) {
        self.st().metadata_patch.insert(name.to_string(), value);
    }
    /// Drops all `set_metadata` patches.
    pub fn clear_metadata_patches(&self) {
        self.st().metadata_patch.clear();
    }
    /// Extra raw entries appended to the JWKS `keys` array (e.g. unsupported key types).
    pub fn set_extra_jwks(&self, extra: Vec<Value>) {
        self.st().extra_jwks = extra;
    }
    /// Client credentials required (HTTP Basic) at the introspection endpoint.
    pub fn set_client_credentials(&self, id: &str, secret: &str) {
        let mut s = self.st();
        s.client_id = id.to_string();
        s.client_secret = secret.to_string();
    }
    /// Current introspection client id (default `gateway`).
    pub fn client_id(&self) -> String {
        self.st().client_id.clone()
    }
    /// Current introspection client secret (default `gateway-secret`).
    pub fn client_secret(&self) -> String {
        self.st().client_secret.clone()
    }

    // ---- counters ----

    /// Requests received at the JWKS endpoint (including faulted ones).
    pub fn jwks_calls(&self) -> usize {
        self.inner.jwks_calls.load(Ordering::SeqCst)
    }
    /// Requests received at the introspection endpoint (including faulted / unauthorised).
    pub fn introspect_calls(&self) -> usize {
        self.inner.introspect_calls.load(Ordering::SeqCst)
    }

    /// The most introspection calls that were ever answered at the same time.
    pub fn introspect_max_in_flight(&self) -> usize {
        self.inner.introspect_max_in_flight.load(Ordering::SeqCst)
    }
    /// Requests received at either discovery endpoint (including 404s from the mode switch).
    pub fn discovery_calls(&self) -> usize {
        self.inner.discovery_calls.load(Ordering::SeqCst)
    }
    /// Zeroes all counters.
    pub fn reset_counters(&self) {
        self.inner.jwks_calls.store(0, Ordering::SeqCst);
        self.inner.introspect_calls.store(0, Ordering::SeqCst);
        self.inner.discovery_calls.store(0, Ordering::SeqCst);
    }

    // ---- keys ----

    fn create_key(&self, alg: Alg, kid: &str) {
        // Generate outside the lock: RSA takes a while.
        let km = Arc::new(KeyMaterial::generate(alg, kid));
        let mut s = self.st();
        assert!(!s.material.contains_key(kid), "kid {kid:?} already exists");
        s.material.insert(kid.to_string(), km);
    }

    /// Generates a key and publishes it (appended after existing keys). Panics if the kid exists.
    /// RSA generation takes ~100 ms+.
    pub fn add_key(&self, alg: Alg, kid: &str) {
        self.create_key(alg, kid);
        self.st().published.push(kid.to_string());
    }
    /// Generates a key that is NOT published in the JWKS but can sign via `mint_with`/`mint_as`.
    pub fn add_unpublished_key(&self, alg: Alg, kid: &str) {
        self.create_key(alg, kid);
    }
    /// Unpublishes a key. Its material is kept, so old tokens can still be minted with it.
    pub fn remove_key(&self, kid: &str) {
        self.st().published.retain(|k| k != kid);
    }
    /// Re-publishes a previously removed or unpublished key (appended at the end).
    pub fn publish_key(&self, kid: &str) {
        let mut s = self.st();
        assert!(s.material.contains_key(kid), "unknown kid {kid:?}");
        if !s.published.iter().any(|k| k == kid) {
            s.published.push(kid.to_string());
        }
    }
    /// Adds a new key and unpublishes all others.
    pub fn rotate(&self, alg: Alg, new_kid: &str) {
        self.create_key(alg, new_kid);
        self.st().published = vec![new_kid.to_string()];
    }
    /// Published kids, in order (the first one signs `mint`).
    pub fn keys(&self) -> Vec<String> {
        self.st().published.clone()
    }
    /// The algorithm of a known key (published or not).
    pub fn key_alg(&self, kid: &str) -> Option<Alg> {
        self.st().material.get(kid).map(|k| k.alg)
    }

    fn material(&self, kid: &str) -> Arc<KeyMaterial> {
        self.st().material.get(kid).cloned().unwrap_or_else(|| panic!("unknown kid {kid:?}"))
    }

    /// The public JWK of a key, exactly as published.
    pub fn public_jwk(&self, kid: &str) -> Value {
        self.material(kid).jwk.clone()
    }
    /// The SubjectPublicKeyInfo DER of a key.
    pub fn public_key_der(&self, kid: &str) -> Vec<u8> {
        self.material(kid).spki_der.clone()
    }
    /// The public key as a `-----BEGIN PUBLIC KEY-----` PEM (SPKI, 64-column lines, trailing newline).
    pub fn public_key_pem(&self, kid: &str) -> String {
        pem_wrap("PUBLIC KEY", &self.material(kid).spki_der)
    }
    /// The current JWKS document, as served (without fault injection).
    pub fn jwks_json(&self) -> Value {
        let s = self.st();
        let mut keys: Vec<Value> =
            s.published.iter().filter_map(|k| s.material.get(k).map(|m| m.jwk.clone())).collect();
        keys.extend(s.extra_jwks.iter().cloned());
        json!({ "keys": keys })
    }

    // ---- minting ----

    /// Mints a JWT with the first published key: header `{alg, typ:"at+jwt", kid}`.
    pub fn mint(&self, claims: &Claims) -> String {
        let kid = self.st().published.first().cloned().expect("issuer has no published key");
        self.mint_with(&kid, Value::Null, claims.to_json())
    }
    /// Mints a JWT with the named key (published or not) and the default header.
    pub fn mint_as(&self, kid: &str, claims: &Claims) -> String {
        self.mint_with(kid, Value::Null, claims.to_json())
    }
    /// Signs `b64(header).b64(claims)` with the named key's algorithm. The header starts as
    /// `{alg, typ:"at+jwt", kid}`; each field of `header_overrides` (an object, or `Null`)
    /// replaces it, and a `null` value removes it. The signature always uses the key's real
    /// algorithm, whatever `alg` the header claims.
    pub fn mint_with(&self, kid: &str, header_overrides: Value, claims: impl Into<Value>) -> String {
        let km = self.material(kid);
        let mut header = Map::new();
        header.insert("alg".into(), json!(km.alg.name()));
        header.insert("typ".into(), json!("at+jwt"));
        header.insert("kid".into(), json!(kid));
        match header_overrides {
            Value::Null => {}
            Value::Object(o) => {
                for (k, v) in o {
                    if v.is_null() {
                        header.remove(&k);
                    } else {
                        header.insert(k, v);
                    }
                }
            }
            other => panic!("header_overrides must be an object or null, got {other}"),
        }
        let header = serde_json::to_vec(&Value::Object(header)).unwrap();
        let claims = serde_json::to_vec(&claims.into()).unwrap();
        self.mint_raw(kid, &header, &claims)
    }
    /// Signs `b64(header_bytes).b64(payload_bytes)` with the named key, bytes taken verbatim
    /// (for duplicate-key JSON, non-JSON payloads, ...).
    pub fn mint_raw(&self, kid: &str, header_bytes: &[u8], payload_bytes: &[u8]) -> String {
        let km = self.material(kid);
        ensure_crypto_provider();
        let input = format!("{}.{}", b64url(header_bytes), b64url(payload_bytes));
        let sig = jsonwebtoken::crypto::sign(input.as_bytes(), &km.encoding, km.alg.jwt_alg()).expect("JWS signing");
        format!("{input}.{sig}")
    }

    // ---- introspection data ----

    /// Registers the exact introspection response for an opaque token.
    pub fn register_opaque(&self, token: &str, response: Value) {
        self.st().opaque.insert(token.to_string(), response);
    }
    /// Registers `{"active":true,"scope","sub","client_id","exp"?,"iss","token_type":"Bearer"}`.
    /// `exp: None` omits `exp`.
    pub fn register_opaque_active(&self, token: &str, scope: &str, sub: &str, client_id: &str, exp: Option<i64>) {
        let mut v = json!({
            "active": true, "scope": scope, "sub": sub, "client_id": client_id,
            "iss": self.inner.issuer, "token_type": "Bearer",
        });
        if let Some(exp) = exp {
            v["exp"] = json!(exp);
        }
        self.register_opaque(token, v);
    }
    /// Forgets an opaque token (it then introspects as `{"active":false}`).
    pub fn unregister_opaque(&self, token: &str) {
        self.st().opaque.remove(token);
    }
    /// Form fields of the last authenticated introspection request.
    pub fn last_introspect_form(&self) -> Option<Vec<(String, String)>> {
        self.st().last_introspect_form.clone()
    }

    // ---- lifecycle ----

    /// Whether the server is currently accepting connections.
    pub async fn is_running(&self) -> bool {
        self.inner.server.lock().await.is_some()
    }
    /// Shuts the server down: the listener is closed (connections refused), idle keep-alive
    /// connections are closed, in-flight requests get up to 5 s to finish.
    pub async fn stop(&self) {
        let running = self.inner.server.lock().await.take();
        if let Some(Running { shutdown, mut handle }) = running {
            let _ = shutdown.send(());
            if tokio::time::timeout(Duration::from_secs(5), &mut handle).await.is_err() {
                handle.abort();
                let _ = handle.await;
            }
        }
    }
    /// Restarts a stopped server on the same address (no-op if running).
    pub async fn restart(&self) {
        let mut server = self.inner.server.lock().await;
        if server.is_some() {
            return;
        }
        let mut last_err = None;
        for _ in 0..50 {
            match bind_reusable(self.inner.addr) {
                Ok(listener) => {
                    *server = Some(serve(self.inner.clone(), listener));
                    return;
                }
                Err(e) => {
                    last_err = Some(e);
                    tokio::time::sleep(Duration::from_millis(20)).await;
                }
            }
        }
        panic!("cannot rebind issuer on {}: {:?}", self.inner.addr, last_err);
    }
}

fn serve(inner: Arc<Inner>, listener: TcpListener) -> Running {
    let router = router(inner);
    let (tx, rx) = oneshot::channel::<()>();
    let handle = tokio::spawn(async move {
        let _ = axum::serve(listener, router)
            .with_graceful_shutdown(async move {
                let _ = rx.await;
            })
            .await;
    });
    Running { shutdown: tx, handle }
}

fn router(inner: Arc<Inner>) -> Router {
    let p = inner.path.clone();
    Router::new()
        .route(&format!("/.well-known/oauth-authorization-server{p}"), get(oauth_discovery))
        .route(&format!("{p}/.well-known/openid-configuration"), get(oidc_discovery))
        .route(&format!("{p}/jwks"), get(jwks))
        .route(&format!("{p}/introspect"), post(introspect))
        .with_state(inner)
}

fn json_response(status: StatusCode, body: &Value) -> Response {
    (status, [(header::CONTENT_TYPE, "application/json")], serde_json::to_vec(body).unwrap()).into_response()
}

/// Applies a fault; `Some(response)` short-circuits the handler.
async fn apply_fault(fault: Fault) -> Option<Response> {
    match fault {
        Fault::None => None,
        Fault::Down => Some(Response::builder().status(StatusCode::SERVICE_UNAVAILABLE).body(Body::empty()).unwrap()),
        Fault::Status(code) => {
            Some(json_response(StatusCode::from_u16(code).expect("valid status"), &json!({"error": "test_fault"})))
        }
        Fault::Garbage => {
            Some((StatusCode::OK, [(header::CONTENT_TYPE, "application/json")], "not json{").into_response())
        }
        Fault::Delay(d) => {
            tokio::time::sleep(d).await;
            None
        }
    }
}

async fn discovery(inner: Arc<Inner>, oidc: bool) -> Response {
    inner.discovery_calls.fetch_add(1, Ordering::SeqCst);
    let (mode, fault) = {
        let s = inner.state.lock().unwrap();
        (s.discovery_mode, s.discovery_fault)
    };
    let served = match mode {
        DiscoveryMode::Both => true,
        DiscoveryMode::OAuthOnly => !oidc,
        DiscoveryMode::OidcOnly => oidc,
        DiscoveryMode::None => false,
    };
    if !served {
        return json_response(StatusCode::NOT_FOUND, &json!({"error": "not_found"}));
    }
    if let Some(r) = apply_fault(fault).await {
        return r;
    }
    let iss = &inner.issuer;
    let mut doc = json!({
        "issuer": iss,
        "jwks_uri": format!("{iss}/jwks"),
        "introspection_endpoint": format!("{iss}/introspect"),
        "token_endpoint": format!("{iss}/token"),
        "introspection_endpoint_auth_methods_supported": ["client_secret_basic"],
        "token_endpoint_auth_methods_supported": ["client_secret_basic"],
        "grant_types_supported": ["client_credentials", "authorization_code"],
        "response_types_supported": ["code"],
        "subject_types_supported": ["public"],
        "id_token_signing_alg_values_supported": ["RS256", "ES256", "EdDSA"],
    });
    let patch = inner.state.lock().unwrap().metadata_patch.clone();
    let obj = doc.as_object_mut().unwrap();
    for (k, v) in patch {
        if v.is_null() {
            obj.remove(&k);
        } else {
            obj.insert(k, v);
        }
    }
    json_response(StatusCode::OK, &doc)
}

async fn oauth_discovery(State(inner): State<Arc<Inner>>) -> Response {
    discovery(inner, false).await
}

async fn oidc_discovery(State(inner): State<Arc<Inner>>) -> Response {
    discovery(inner, true).await
}

async fn jwks(State(inner): State<Arc<Inner>>) -> Response {
    inner.jwks_calls.fetch_add(1, Ordering::SeqCst);
    let fault = inner.state.lock().unwrap().jwks_fault;
    if let Some(r) = apply_fault(fault).await {
        return r;
    }
    let handle = TestIssuer { inner: inner.clone() };
    let body = handle.jwks_json();
    let cc = inner.state.lock().unwrap().jwks_cache_control.clone();
    let mut resp = json_response(StatusCode::OK, &body);
    if let Some(cc) = cc {
        resp.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_str(&cc).expect("valid cache-control"));
    }
    resp
}

fn percent_decode(s: &str, plus_as_space: bool) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'+' if plus_as_space => out.push(b' '),
            b'%' if i + 2 < b.len() => {
                let hex = std::str::from_utf8(&b[i + 1..i + 3]).ok();
                match hex.and_then(|h| u8::from_str_radix(h, 16).ok()) {
                    Some(v) => {
                        out.push(v);
                        i += 2;
                    }
                    None => out.push(b'%'),
                }
            }
            c => out.push(c),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn parse_form(body: &[u8]) -> Vec<(String, String)> {
    String::from_utf8_lossy(body)
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let (k, v) = p.split_once('=').unwrap_or((p, ""));
            (percent_decode(k, true), percent_decode(v, true))
        })
        .collect()
}

fn basic_auth_ok(headers: &HeaderMap, id: &str, secret: &str) -> bool {
    let Some(value) = headers.get(header::AUTHORIZATION).and_then(|v| v.to_str().ok()) else {
        return false;
    };
    let Some((scheme, creds)) = value.trim().split_once(' ') else {
        return false;
    };
    if !scheme.eq_ignore_ascii_case("basic") {
        return false;
    }
    let Ok(decoded) = STANDARD.decode(creds.trim()) else {
        return false;
    };
    let decoded = String::from_utf8_lossy(&decoded).into_owned();
    let Some((u, p)) = decoded.split_once(':') else {
        return false;
    };
    // RFC 6749 2.3.1: id and secret are form-urlencoded before Basic encoding;
    // accept both the raw and the decoded form.
    (u == id && p == secret) || (percent_decode(u, true) == id && percent_decode(p, true) == secret)
}

async fn introspect(State(inner): State<Arc<Inner>>, headers: HeaderMap, body: Bytes) -> Response {
    inner.introspect_calls.fetch_add(1, Ordering::SeqCst);
    let now = inner.introspect_in_flight.fetch_add(1, Ordering::SeqCst) + 1;
    inner.introspect_max_in_flight.fetch_max(now, Ordering::SeqCst);
    let answer = introspect_answer(&inner, headers, body).await;
    inner.introspect_in_flight.fetch_sub(1, Ordering::SeqCst);
    answer
}

async fn introspect_answer(inner: &Inner, headers: HeaderMap, body: Bytes) -> Response {
    let fault = inner.state.lock().unwrap().introspect_fault;
    if let Some(r) = apply_fault(fault).await {
        return r;
    }
    let (id, secret) = {
        let s = inner.state.lock().unwrap();
        (s.client_id.clone(), s.client_secret.clone())
    };
    if !basic_auth_ok(&headers, &id, &secret) {
        let mut r = json_response(StatusCode::UNAUTHORIZED, &json!({"error": "invalid_client"}));
        r.headers_mut().insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Basic realm=\"introspection\""));
        return r;
    }
    let form = parse_form(&body);
    let token = form.iter().find(|(k, _)| k == "token").map(|(_, v)| v.clone());
    let mut s = inner.state.lock().unwrap();
    s.last_introspect_form = Some(form);
    let Some(token) = token else {
        drop(s);
        return json_response(StatusCode::BAD_REQUEST, &json!({"error": "invalid_request"}));
    };
    let resp = s.opaque.get(&token).cloned().unwrap_or_else(|| json!({"active": false}));
    drop(s);
    json_response(StatusCode::OK, &resp)
}

/// A JWT claims builder. `Claims::new(&issuer)` defaults: `iss` = issuer URL, `sub` "alice",
/// `aud` "http://gateway.test/", `exp` now+3600, `iat` now, `client_id` "app-1",
/// `scope` "api:read", random `jti`.
#[derive(Clone, Debug)]
pub struct Claims {
    map: Map<String, Value>,
}

impl Claims {
    /// Default claims for tokens from `issuer`.
    pub fn new(issuer: &TestIssuer) -> Claims {
        let now = now();
        let jti: [u8; 16] = rand::random();
        let mut map = Map::new();
        map.insert("iss".into(), json!(issuer.issuer_url()));
        map.insert("sub".into(), json!("alice"));
        map.insert("aud".into(), json!("http://gateway.test/"));
        map.insert("exp".into(), json!(now + 3600));
        map.insert("iat".into(), json!(now));
        map.insert("client_id".into(), json!("app-1"));
        map.insert("scope".into(), json!("api:read"));
        map.insert("jti".into(), json!(b64url(jti)));
        Claims { map }
    }
    /// Empty claims (no defaults at all).
    pub fn empty() -> Claims {
        Claims { map: Map::new() }
    }
    /// Sets `sub`.
    pub fn sub(self, v: &str) -> Self {
        self.set("sub", json!(v))
    }
    /// Sets `aud` to a single string.
    pub fn aud(self, v: &str) -> Self {
        self.set("aud", json!(v))
    }
    /// Sets `aud` to an array.
    pub fn aud_list(self, v: &[&str]) -> Self {
        self.set("aud", json!(v))
    }
    /// Sets `scope` (space-separated string).
    pub fn scope(self, v: &str) -> Self {
        self.set("scope", json!(v))
    }
    /// Sets `exp` (Unix seconds).
    pub fn exp(self, v: i64) -> Self {
        self.set("exp", json!(v))
    }
    /// Sets `nbf` (Unix seconds).
    pub fn nbf(self, v: i64) -> Self {
        self.set("nbf", json!(v))
    }
    /// Sets `iat` (Unix seconds).
    pub fn iat(self, v: i64) -> Self {
        self.set("iat", json!(v))
    }
    /// Sets `client_id`.
    pub fn client_id(self, v: &str) -> Self {
        self.set("client_id", json!(v))
    }
    /// Sets `iss`.
    pub fn iss(self, v: &str) -> Self {
        self.set("iss", json!(v))
    }
    /// Sets `jti`.
    pub fn jti(self, v: &str) -> Self {
        self.set("jti", json!(v))
    }
    /// Removes a claim.
    pub fn without(mut self, name: &str) -> Self {
        self.map.remove(name);
        self
    }
    /// Sets any claim to any JSON value.
    pub fn set(mut self, name: &str, value: Value) -> Self {
        self.map.insert(name.to_string(), value);
        self
    }
    /// Reads a claim.
    pub fn get(&self, name: &str) -> Option<&Value> {
        self.map.get(name)
    }
    /// The claims as a JSON object.
    pub fn to_json(&self) -> Value {
        Value::Object(self.map.clone())
    }
}

impl From<Claims> for Value {
    fn from(c: Claims) -> Value {
        Value::Object(c.map)
    }
}

impl From<&Claims> for Value {
    fn from(c: &Claims) -> Value {
        c.to_json()
    }
}
