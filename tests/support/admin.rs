//! The admin API harness: a tokengate process with its registry on a real SQLite file in a temporary directory,
//! users made with the real `tokengate users ...` command, and a client that records each request with its answer
//! so that a failed assertion shows both.
//!
//! Also here: key material made in the test (PEM public keys, X.509 certificates, JWKs, private keys) and small
//! images for the logo upload.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use aws_lc_rs::encoding::{AsBigEndian, AsDer, EcPrivateKeyBin, Pkcs8V1Der, PublicKeyX509Der};
use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::rsa::{KeyPair as RsaKeyPair, KeySize, PublicKeyComponents};
use aws_lc_rs::signature::{
    EcdsaKeyPair, Ed25519KeyPair, KeyPair as _, ECDSA_P256_SHA256_ASN1_SIGNING, RSA_PKCS1_SHA256,
};
use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use reqwest::Method;
use serde_json::{json, Value};

use tokengate::server::{Options, Shutdown};
use tokengate::{Config, ManualClock};

pub use super::http::{client, Reply};
use super::{b64url, ensure_crypto_provider, now, Alg};

/// The password of the `root` admin every [`TestAdmin`] starts with.
pub const ROOT_PASSWORD: &str = "root-password-1";

/// The most apps the test configuration allows.
pub const MAX_APPS: usize = 10;

/// A place for one registry: a temporary directory holding the configuration file and the SQLite database.
/// Servers started from it share the database file, so a restart keeps everything.
pub struct AdminEnv {
    dir: tempfile::TempDir,
    /// The configuration file, as passed to `tokengate --config`.
    pub config_path: PathBuf,
}

impl AdminEnv {
    /// A new directory with a configuration file (`max_apps = 10`, admin listener on 127.0.0.1:0).
    pub fn new() -> AdminEnv {
        let dir = tempfile::tempdir().expect("tempdir");
        let config_path = dir.path().join("tokengate.toml");
        let db_path = dir.path().join("tokengate.db");
        let id: u64 = rand::random();
        let toml = format!(
            "[server]\nlisten = \"127.0.0.1:0\"\nthreads = 2\n\
             pid_file = \"/tmp/tokengate-admin-test-{id}.pid\"\nupgrade_sock = \"/tmp/tokengate-admin-test-{id}.sock\"\n\n\
             [metrics]\nlisten = \"off\"\n\n\
             [upstream]\nurl = \"http://127.0.0.1:9\"\n\n\
             [authorization_server]\nenabled = true\nissuer = \"http://127.0.0.1:8080\"\ndatabase = \"{}\"\n\
             max_apps = {MAX_APPS}\nscopes = [\"api:read\", \"api:write\", \"offline_access\"]\n\n\
             [admin]\nlisten = \"127.0.0.1:0\"\n\n\
             [[routes]]\npath = \"/\"\nauth = \"none\"\n",
            db_path.display()
        );
        std::fs::write(&config_path, toml).expect("write config");
        AdminEnv { dir, config_path }
    }

    /// The temporary directory.
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// The configuration text.
    pub fn toml(&self) -> String {
        std::fs::read_to_string(&self.config_path).expect("read config")
    }

    /// Runs `tokengate ARGS --config FILE`, writing `stdin` to its standard input.
    pub fn cli(&self, args: &[&str], stdin: Option<&str>) -> std::process::Output {
        let mut child = Command::new(env!("CARGO_BIN_EXE_tokengate"))
            .args(args)
            .arg("--config")
            .arg(&self.config_path)
            .env("NO_COLOR", "1")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("run tokengate");
        {
            let mut input = child.stdin.take().unwrap();
            if let Some(text) = stdin {
                input.write_all(text.as_bytes()).expect("write stdin");
                input.write_all(b"\n").expect("write stdin");
            }
        }
        child.wait_with_output().expect("tokengate output")
    }

    /// Like [`cli`](Self::cli), but panics unless it exits 0; returns standard output.
    pub fn cli_ok(&self, args: &[&str], stdin: Option<&str>) -> String {
        let out = self.cli(args, stdin);
        assert!(
            out.status.success(),
            "tokengate {args:?} failed ({:?}):\nstdout: {}\nstderr: {}",
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).expect("UTF-8 stdout")
    }

    /// `tokengate users add NAME [--admin] --password-stdin`; returns the user JSON it prints.
    pub fn add_user(&self, name: &str, password: &str, admin: bool) -> Value {
        let mut args = vec!["users", "add", name];
        if admin {
            args.push("--admin");
        }
        args.push("--password-stdin");
        let out = self.cli_ok(&args, Some(password));
        serde_json::from_str(out.trim()).unwrap_or_else(|e| panic!("users add printed no JSON ({e}): {out}"))
    }

    /// `tokengate users token NAME`; returns the `tga_...` token.
    pub fn token(&self, name: &str) -> String {
        let out = self.cli_ok(&["users", "token", name], None);
        let token = out.trim().to_string();
        assert!(token.starts_with("tga_"), "users token printed {out:?}");
        token
    }

    /// `tokengate users disable NAME`.
    pub fn disable_user(&self, name: &str) {
        self.cli_ok(&["users", "disable", name], None);
    }

    /// Every byte the database keeps on disk: the file and its `-wal` and `-journal` companions.
    pub fn db_bytes(&self) -> Vec<u8> {
        let mut all = Vec::new();
        for entry in std::fs::read_dir(self.dir()).expect("read tempdir") {
            let path = entry.unwrap().path();
            let name = path.file_name().unwrap().to_string_lossy().to_string();
            if name.starts_with("tokengate.db") {
                all.extend(std::fs::read(&path).unwrap_or_default());
            }
        }
        assert!(!all.is_empty(), "no database file in {}", self.dir().display());
        all
    }

    /// Whether `needle` occurs anywhere in the database files.
    pub fn db_contains(&self, needle: &str) -> bool {
        let hay = self.db_bytes();
        hay.windows(needle.len()).any(|w| w == needle.as_bytes())
    }
}

/// A running tokengate process serving the admin API. Stops when dropped.
pub struct AdminServer {
    /// `http://127.0.0.1:PORT` of the admin listener.
    pub url: String,
    /// The clock the process decides every expiry with.
    pub clock: ManualClock,
    shutdown: Shutdown,
    thread: Option<JoinHandle<()>>,
}

impl AdminServer {
    /// Starts a process on `env`'s configuration and waits until the admin listener answers.
    pub async fn start(env: &AdminEnv) -> AdminServer {
        let toml = env.toml();
        let clock = ManualClock::at_system_time();
        let process_clock = clock.clone();
        let process = tokio::task::spawn_blocking(move || {
            let config = Config::from_toml(&toml, "test").unwrap_or_else(|e| panic!("{e}"));
            let options = Options { clock: Arc::new(process_clock), registry: Some(prometheus::Registry::new()) };
            tokengate::server::build(config, options).expect("tokengate builds")
        })
        .await
        .expect("build thread");
        let url = format!("http://{}", process.admin_addr.expect("admin listener"));
        let shutdown = Shutdown::new();
        let stop = shutdown.clone();
        let thread = std::thread::spawn(move || process.run_until(stop));
        let server = AdminServer { url, clock, shutdown, thread: Some(thread) };
        server.wait_listening().await;
        server
    }

    async fn wait_listening(&self) {
        for _ in 0..200 {
            if client().get(format!("{}/admin/v1/apps", self.url)).send().await.is_ok() {
                return;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("admin listener {} not answering after 10 s", self.url);
    }

    /// Stops the process and waits until it has exited.
    pub async fn stop(mut self) {
        self.shutdown.trigger();
        if let Some(t) = self.thread.take() {
            tokio::task::spawn_blocking(move || t.join()).await.unwrap().expect("server thread panicked");
        }
    }
}

impl Drop for AdminServer {
    fn drop(&mut self) {
        self.shutdown.trigger();
    }
}

/// Who a request claims to be.
#[derive(Clone, Debug)]
pub enum Auth {
    /// No `Authorization` header.
    None,
    /// HTTP Basic.
    Basic(String, String),
    /// `Authorization: Bearer ...`.
    Bearer(String),
}

impl Auth {
    pub fn basic(user: &str, password: &str) -> Auth {
        Auth::Basic(user.into(), password.into())
    }
    pub fn bearer(token: &str) -> Auth {
        Auth::Bearer(token.into())
    }
}

/// A request body.
#[derive(Clone, Debug)]
pub enum Body {
    None,
    Json(Value),
    /// Raw bytes with a content type.
    Raw(&'static str, Vec<u8>),
}

/// A client of one admin API.
#[derive(Clone)]
pub struct AdminClient {
    pub url: String,
    pub auth: Auth,
    http: reqwest::Client,
}

impl AdminClient {
    pub fn new(url: &str, auth: Auth) -> AdminClient {
        AdminClient { url: url.to_string(), auth, http: client() }
    }

    /// The same API as someone else.
    pub fn as_(&self, auth: Auth) -> AdminClient {
        AdminClient { url: self.url.clone(), auth, http: self.http.clone() }
    }

    /// The same API and caller on a new connection pool.
    pub fn fresh(&self) -> AdminClient {
        AdminClient { url: self.url.clone(), auth: self.auth.clone(), http: client() }
    }

    /// Sends one request and records it with its answer.
    pub async fn call(&self, method: Method, path: &str, body: Body) -> Reply {
        let mut req = self.http.request(method.clone(), format!("{}{}", self.url, path));
        let who = match &self.auth {
            Auth::None => "no credentials".to_string(),
            Auth::Basic(u, p) => {
                req = req.basic_auth(u, Some(p));
                format!("Basic {u}")
            }
            Auth::Bearer(t) => {
                req = req.bearer_auth(t);
                "Bearer token".to_string()
            }
        };
        let shown = match &body {
            Body::None => String::new(),
            Body::Json(v) => {
                req = req.header("content-type", "application/json").body(serde_json::to_vec(v).unwrap());
                let mut s = v.to_string();
                if s.len() > 400 {
                    s.truncate(400);
                    s.push_str("...");
                }
                format!(" {s}")
            }
            Body::Raw(ct, bytes) => {
                req = req.header("content-type", *ct).body(bytes.clone());
                let preview = String::from_utf8_lossy(&bytes[..bytes.len().min(60)]).to_string();
                format!(" [Content-Type: {ct}, {} bytes: {preview:?}]", bytes.len())
            }
        };
        let request = format!("{method} {path} ({who}){shown}");
        let resp = req.send().await.unwrap_or_else(|e| panic!("{request}: {e}"));
        Reply::read(request, resp).await
    }

    pub async fn get(&self, path: &str) -> Reply {
        self.call(Method::GET, path, Body::None).await
    }
    pub async fn delete(&self, path: &str) -> Reply {
        self.call(Method::DELETE, path, Body::None).await
    }
    pub async fn post(&self, path: &str, body: Value) -> Reply {
        self.call(Method::POST, path, Body::Json(body)).await
    }
    pub async fn patch(&self, path: &str, body: Value) -> Reply {
        self.call(Method::PATCH, path, Body::Json(body)).await
    }
    /// A raw body with a content type, e.g. malformed JSON or a logo.
    pub async fn raw(
        &self,
        method: Method,
        path: &str,
        content_type: &'static str,
        bytes: impl Into<Vec<u8>>,
    ) -> Reply {
        self.call(method, path, Body::Raw(content_type, bytes.into())).await
    }

    // ---- shortcuts that expect success ----

    /// `POST /admin/v1/apps`, expecting 201; returns the answer's JSON.
    pub async fn create_app(&self, body: Value) -> Value {
        self.post("/admin/v1/apps", body).await.expect(201).json()
    }

    /// `GET /admin/v1/apps/{id}`, expecting 200.
    pub async fn app(&self, client_id: &str) -> Value {
        self.get(&format!("/admin/v1/apps/{client_id}")).await.expect(200).json()
    }

    /// `GET /admin/v1/apps`, expecting 200.
    pub async fn apps(&self) -> Value {
        self.get("/admin/v1/apps").await.expect(200).json()
    }

    /// How many apps the list shows (checking `count` against the array).
    pub async fn app_count(&self) -> usize {
        let list = self.apps().await;
        let n = list["apps"].as_array().expect("apps array").len();
        assert_eq!(list["count"], n, "count disagrees with the list: {list}");
        n
    }

    /// `GET /admin/v1/users`, expecting 200; the users array.
    pub async fn users(&self) -> Vec<Value> {
        self.get("/admin/v1/users").await.expect(200).json()["users"].as_array().expect("users array").clone()
    }
}

/// A registry with one admin, `root` (password [`ROOT_PASSWORD`], and an admin API token), and a running server.
pub struct TestAdmin {
    pub env: AdminEnv,
    pub server: Option<AdminServer>,
    /// `root`'s admin API token.
    pub token: String,
    /// The API as `root`, by token.
    pub api: AdminClient,
}

impl TestAdmin {
    /// A fresh registry and server.
    pub async fn start() -> TestAdmin {
        Self::start_with(|_| {}).await
    }

    /// A fresh registry; `before` runs after `root` is made and before the server starts (add users with the CLI).
    pub async fn start_with(before: impl FnOnce(&AdminEnv)) -> TestAdmin {
        let env = AdminEnv::new();
        env.add_user("root", ROOT_PASSWORD, true);
        let token = env.token("root");
        before(&env);
        let server = AdminServer::start(&env).await;
        let api = AdminClient::new(&server.url, Auth::bearer(&token));
        TestAdmin { env, server: Some(server), token, api }
    }

    /// The admin listener's URL.
    pub fn url(&self) -> String {
        self.server.as_ref().expect("running").url.clone()
    }

    /// The API as someone else.
    pub fn as_(&self, auth: Auth) -> AdminClient {
        self.api.as_(auth)
    }

    /// Stops the process, then starts a new one on the same database file.
    pub async fn restart(&mut self) {
        if let Some(s) = self.server.take() {
            s.stop().await;
        }
        let server = AdminServer::start(&self.env).await;
        self.api = AdminClient::new(&server.url, self.api.auth.clone());
        self.server = Some(server);
    }
}

// ---- app bodies ----

/// A machine app body.
pub fn machine(name: &str) -> Value {
    json!({"type": "machine", "name": name})
}

/// A web app body with one redirect URL.
pub fn web(name: &str) -> Value {
    json!({"type": "web", "name": name, "redirect_urls": ["https://app.example.com/callback"]})
}

/// A single-page app body with one redirect URL.
pub fn spa(name: &str) -> Value {
    json!({"type": "spa", "name": name, "redirect_urls": ["https://spa.example.com/callback"]})
}

/// `base` with `extra`'s members added (or replaced).
pub fn with(base: Value, extra: Value) -> Value {
    let mut out = base;
    for (k, v) in extra.as_object().expect("extra is an object") {
        out[k.as_str()] = v.clone();
    }
    out
}

/// Whether `s` looks like a client id: URL-safe and at least 22 characters.
pub fn is_client_id(s: &str) -> bool {
    s.len() >= 22 && s.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// Whether `s` looks like a client secret: `tgs_` and at least 43 characters after it.
pub fn is_client_secret(s: &str) -> bool {
    s.strip_prefix("tgs_").is_some_and(|rest| rest.len() >= 43)
}

/// Whether a Unix time is within a minute of now.
pub fn is_recent(v: &Value) -> bool {
    v.as_i64().is_some_and(|t| (t - now()).abs() <= 60)
}

// ---- keys ----

/// A key pair made in the test.
pub struct TestKey {
    /// `-----BEGIN PUBLIC KEY-----` (SPKI).
    pub public_pem: String,
    /// `-----BEGIN PRIVATE KEY-----` (PKCS#8).
    pub private_pem: String,
    /// A self-signed `-----BEGIN CERTIFICATE-----` for the public key (RS256 and ES256 only; `None` for EdDSA).
    pub certificate_pem: Option<String>,
    /// The public JWK (no `kid`).
    pub jwk: Value,
    /// The same JWK with the private part (`d`).
    pub private_jwk: Value,
}

impl TestKey {
    pub fn generate(alg: Alg) -> TestKey {
        ensure_crypto_provider();
        let rng = SystemRandom::new();
        match alg {
            Alg::RS256 => {
                let kp = RsaKeyPair::generate(KeySize::Rsa2048).expect("RSA keygen");
                let pkcs8 = AsDer::<Pkcs8V1Der>::as_der(&kp).expect("RSA PKCS#8");
                let public = kp.public_key();
                let spki = AsDer::<PublicKeyX509Der>::as_der(public).expect("RSA SPKI");
                let comps = PublicKeyComponents::<Vec<u8>>::from(public);
                let jwk = json!({
                    "kty": "RSA",
                    "n": b64url(strip_leading_zeros(&comps.n)),
                    "e": b64url(strip_leading_zeros(&comps.e)),
                });
                // A `d` that is the right shape: the private exponent is not exposed, and any `d` makes it private.
                let private_jwk = with(jwk.clone(), json!({"d": b64url([7u8; 256]), "p": b64url([5u8; 128])}));
                let tbs = tbs_certificate(&SHA256_WITH_RSA, spki.as_ref());
                let mut sig = vec![0u8; kp.public_modulus_len()];
                kp.sign(&RSA_PKCS1_SHA256, &rng, &tbs, &mut sig).expect("RSA sign");
                let cert = certificate(tbs, &SHA256_WITH_RSA, &sig);
                TestKey {
                    public_pem: pem("PUBLIC KEY", spki.as_ref()),
                    private_pem: pem("PRIVATE KEY", pkcs8.as_ref()),
                    certificate_pem: Some(pem("CERTIFICATE", &cert)),
                    jwk,
                    private_jwk,
                }
            }
            Alg::ES256 => {
                let doc = EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_ASN1_SIGNING, &rng).expect("P-256 keygen");
                let kp = EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_ASN1_SIGNING, doc.as_ref()).expect("P-256");
                let point = kp.public_key().as_ref().to_vec();
                let spki = AsDer::<PublicKeyX509Der>::as_der(kp.public_key()).expect("EC SPKI");
                let d = AsBigEndian::<EcPrivateKeyBin>::as_be_bytes(&kp.private_key()).expect("EC d");
                let jwk = json!({
                    "kty": "EC", "crv": "P-256",
                    "x": b64url(&point[1..33]), "y": b64url(&point[33..65]),
                });
                let private_jwk = with(jwk.clone(), json!({"d": b64url(d.as_ref())}));
                let tbs = tbs_certificate(&ECDSA_WITH_SHA256, spki.as_ref());
                let sig = kp.sign(&rng, &tbs).expect("EC sign");
                let cert = certificate(tbs, &ECDSA_WITH_SHA256, sig.as_ref());
                TestKey {
                    public_pem: pem("PUBLIC KEY", spki.as_ref()),
                    private_pem: pem("PRIVATE KEY", doc.as_ref()),
                    certificate_pem: Some(pem("CERTIFICATE", &cert)),
                    jwk,
                    private_jwk,
                }
            }
            Alg::EdDSA => {
                let doc = Ed25519KeyPair::generate_pkcs8v1(&rng).expect("Ed25519 keygen");
                let kp = Ed25519KeyPair::from_pkcs8(doc.as_ref()).expect("Ed25519");
                let spki = AsDer::<PublicKeyX509Der>::as_der(kp.public_key()).expect("Ed25519 SPKI");
                // PKCS#8 v1 for Ed25519 ends with OCTET STRING { OCTET STRING seed(32) }.
                let seed = &doc.as_ref()[doc.as_ref().len() - 32..];
                let jwk = json!({"kty": "OKP", "crv": "Ed25519", "x": b64url(kp.public_key().as_ref())});
                let private_jwk = with(jwk.clone(), json!({"d": b64url(seed)}));
                TestKey {
                    public_pem: pem("PUBLIC KEY", spki.as_ref()),
                    private_pem: pem("PRIVATE KEY", doc.as_ref()),
                    certificate_pem: None,
                    jwk,
                    private_jwk,
                }
            }
        }
    }
}

fn strip_leading_zeros(b: &[u8]) -> &[u8] {
    let i = b.iter().position(|&x| x != 0).unwrap_or(b.len().saturating_sub(1));
    &b[i..]
}

/// PEM armour with 64-column lines.
pub fn pem(label: &str, der: &[u8]) -> String {
    let b64 = STANDARD.encode(der);
    let mut out = format!("-----BEGIN {label}-----\n");
    for chunk in b64.as_bytes().chunks(64) {
        out.push_str(std::str::from_utf8(chunk).unwrap());
        out.push('\n');
    }
    out.push_str(&format!("-----END {label}-----\n"));
    out
}

/// The base64 body of a PEM, on one line.
pub fn pem_body(pem: &str) -> String {
    pem.lines().filter(|l| !l.starts_with("-----")).collect()
}

/// Pieces of a PEM's base64 that belong to this key alone (not the algorithm header every key of its kind shares):
/// every line after the first, or the end of a one-line PEM. Found anywhere, they show the key is there, whether
/// stored as PEM, re-wrapped or as one line of base64.
pub fn pem_fingerprints(pem: &str) -> Vec<String> {
    let lines: Vec<&str> = pem.lines().filter(|l| !l.starts_with("-----") && !l.trim().is_empty()).collect();
    let mut out = Vec::new();
    for (i, l) in lines.iter().enumerate() {
        let l = l.trim().trim_end_matches('=');
        if i == 0 && lines.len() == 1 {
            out.push(l[l.len().saturating_sub(32)..].to_string());
        } else if i > 0 && l.len() >= 16 {
            out.push(l.to_string());
        }
    }
    assert!(!out.is_empty(), "no fingerprint in {pem}");
    out
}

// A minimal DER writer for a self-signed X.509 v3 certificate.

fn der(tag: u8, content: &[u8]) -> Vec<u8> {
    let mut out = vec![tag];
    let n = content.len();
    if n < 0x80 {
        out.push(n as u8);
    } else {
        let bytes: Vec<u8> = n.to_be_bytes().iter().copied().skip_while(|&b| b == 0).collect();
        out.push(0x80 | bytes.len() as u8);
        out.extend(bytes);
    }
    out.extend_from_slice(content);
    out
}

fn seq(parts: &[&[u8]]) -> Vec<u8> {
    der(0x30, &parts.concat())
}

/// AlgorithmIdentifier for ecdsa-with-SHA256 (1.2.840.10045.4.3.2), no parameters.
const ECDSA_WITH_SHA256: [u8; 12] = [0x30, 0x0a, 0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x04, 0x03, 0x02];
/// AlgorithmIdentifier for sha256WithRSAEncryption (1.2.840.113549.1.1.11), NULL parameters.
const SHA256_WITH_RSA: [u8; 15] =
    [0x30, 0x0d, 0x06, 0x09, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x0b, 0x05, 0x00];

fn tbs_certificate(sig_alg: &[u8], spki: &[u8]) -> Vec<u8> {
    let version = der(0xa0, &der(0x02, &[2]));
    let serial = der(0x02, &[0x01, 0x23, 0x45, 0x67]);
    let cn = seq(&[&der(0x06, &[0x55, 0x04, 0x03]), &der(0x0c, b"tokengate-test")]);
    let name = seq(&[&der(0x31, &cn)]);
    let validity = seq(&[&der(0x17, b"250101000000Z"), &der(0x17, b"491231235959Z")]);
    seq(&[&version, &serial, sig_alg, &name, &validity, &name, spki])
}

fn certificate(tbs: Vec<u8>, sig_alg: &[u8], signature: &[u8]) -> Vec<u8> {
    let mut bits = vec![0u8];
    bits.extend_from_slice(signature);
    seq(&[&tbs, sig_alg, &der(0x03, &bits)])
}

// ---- images ----

/// A 1×1 PNG.
pub const PNG: &[u8] = &[
    0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 0x00, 0x00, 0x00, 0x0d, 0x49, 0x48, 0x44, 0x52, 0x00, 0x00, 0x00,
    0x01, 0x00, 0x00, 0x00, 0x01, 0x08, 0x06, 0x00, 0x00, 0x00, 0x1f, 0x15, 0xc4, 0x89, 0x00, 0x00, 0x00, 0x0d, 0x49,
    0x44, 0x41, 0x54, 0x78, 0x9c, 0x63, 0xf8, 0xcf, 0xc0, 0xf0, 0x1f, 0x00, 0x05, 0x00, 0x01, 0xff, 0x89, 0x99, 0x3d,
    0x1d, 0x00, 0x00, 0x00, 0x00, 0x49, 0x45, 0x4e, 0x44, 0xae, 0x42, 0x60, 0x82,
];

/// A 1×1 GIF.
pub const GIF: &[u8] = &[
    0x47, 0x49, 0x46, 0x38, 0x39, 0x61, 0x01, 0x00, 0x01, 0x00, 0x80, 0x00, 0x00, 0x00, 0x00, 0x00, 0xff, 0xff, 0xff,
    0x21, 0xf9, 0x04, 0x01, 0x00, 0x00, 0x00, 0x00, 0x2c, 0x00, 0x00, 0x00, 0x00, 0x01, 0x00, 0x01, 0x00, 0x00, 0x02,
    0x02, 0x44, 0x01, 0x00, 0x3b,
];

/// The start of a JPEG (SOI, a JFIF APP0 segment) and its end (EOI): right magic bytes.
pub const JPEG: &[u8] = &[
    0xff, 0xd8, 0xff, 0xe0, 0x00, 0x10, 0x4a, 0x46, 0x49, 0x46, 0x00, 0x01, 0x01, 0x00, 0x00, 0x01, 0x00, 0x01, 0x00,
    0x00, 0xff, 0xd9,
];

/// A 1×1 lossless WebP.
pub fn webp() -> Vec<u8> {
    STANDARD.decode("UklGRhoAAABXRUJQVlA4TA0AAAAvAAAAEAcQERGIiP4HAA==").unwrap()
}
