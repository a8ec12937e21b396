//! The authorization-server harness: a real tokengate process (in this test process, on its own threads) with its
//! built-in authorization server on a real SQLite file in a temporary directory, a [`TestUpstream`] as the protected
//! API behind the edge, and the registry at hand to create users and apps directly.
//!
//! A [`Browser`] drives the login and consent pages the way a browser would, one visible step at a time: redirects are
//! never followed, and cookies are read from `Set-Cookie` and sent back in `Cookie` by hand. Every answer is a
//! [`Reply`] that remembers its request, so a failed assertion shows both.

use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use base64::Engine as _;
use serde_json::{json, Value};
use sha2::{Digest, Sha256};

use tokengate::registry::{AppInput, Registry};
use tokengate::server::{Options, Shutdown};
pub use tokengate::Clock;
use tokengate::{Config, ManualClock};

pub use super::http::{client, client_from, Reply};
use super::{ensure_crypto_provider, TestUpstream};

/// The issuer name of the test authorization server. Only a name: tokens' `iss` follows it, and `aud` is
/// `{ISSUER}/` (the default audience).
pub const ISSUER: &str = "https://tokengate.test";
/// The audience of the access tokens (the default: the issuer with a slash).
pub const AUDIENCE: &str = "https://tokengate.test/";
/// The redirect URI every test app registers.
pub const REDIRECT: &str = "https://client.example/cb";
/// alice's password.
pub const ALICE_PASSWORD: &str = "alice-password";
/// How long a code lives.
pub const CODE_TTL: i64 = 120;

/// A running tokengate with its authorization server enabled. Stops when dropped.
pub struct TestAuthz {
    /// `http://127.0.0.1:PORT` of the proxy (the authorization server's endpoints and the edge).
    pub url: String,
    /// `http://127.0.0.1:PORT` of the admin API.
    pub admin_url: String,
    /// `http://127.0.0.1:PORT` of `/metrics`.
    pub metrics_url: String,
    /// The clock the process decides every expiry with.
    pub clock: ManualClock,
    /// The registry, to create users and apps directly.
    pub registry: Registry,
    /// The protected API.
    pub upstream: TestUpstream,
    /// The SQLite file of the store.
    pub db: std::path::PathBuf,
    shutdown: Shutdown,
    _dir: tempfile::TempDir,
}

/// A registered app and its secret (machine and web apps).
#[derive(Clone, Debug)]
pub struct App {
    pub client_id: String,
    pub secret: Option<String>,
    /// The registry's view of it at creation.
    pub view: Value,
}

impl App {
    /// The client secret; panics for single-page apps.
    pub fn secret(&self) -> &str {
        self.secret.as_deref().expect("this app has no secret")
    }
}

/// How a request to the token, introspection or revocation endpoint authenticates its client.
#[derive(Clone, Copy)]
pub enum ClientAuth<'a> {
    /// `client_secret_basic`: `Authorization: Basic` with the form-urlencoded id and secret.
    Basic(&'a App),
    /// `client_secret_post`: `client_id` and `client_secret` in the body.
    Post(&'a App),
    /// A public client: `client_id` alone.
    Public(&'a App),
    /// `Authorization: Basic` with these values, whatever they are.
    BasicWith(&'a str, &'a str),
    /// `client_id` and `client_secret` in the body with these values, whatever they are.
    PostWith(&'a str, &'a str),
    /// No client authentication at all.
    Nothing,
}

fn config_toml(upstream: &str, db: &str, extra: &str) -> String {
    let id: u64 = rand::random();
    format!(
        "[server]\nlisten = \"127.0.0.1:0\"\nthreads = 2\n\
         pid_file = \"/tmp/tokengate-flows-{id}.pid\"\nupgrade_sock = \"/tmp/tokengate-flows-{id}.sock\"\n\n\
         [metrics]\nlisten = \"127.0.0.1:0\"\n\n\
         [upstream]\nurl = \"{upstream}\"\n\n\
         [authorization_server]\nenabled = true\nissuer = \"{ISSUER}\"\ndatabase = \"{db}\"\n\
         scopes = [\"api:read\", \"api:write\", \"offline_access\"]\n{extra}\n\n\
         [admin]\nlisten = \"127.0.0.1:0\"\n\n\
         [[routes]]\npath = \"/api/\"\nmethods = [\"GET\", \"HEAD\"]\nscopes = [\"api:read\"]\n\n\
         [[routes]]\npath = \"/api/\"\nmethods = [\"POST\", \"PUT\", \"PATCH\", \"DELETE\"]\nscopes = [\"api:write\"]\n"
    )
}

impl TestAuthz {
    /// Starts the process, waits until its endpoints answer, and creates the user `alice` ([`ALICE_PASSWORD`]).
    pub async fn start() -> TestAuthz {
        Self::start_with("").await
    }

    /// [`TestAuthz::start`] with extra lines in `[authorization_server]`.
    pub async fn start_with(extra: &str) -> TestAuthz {
        Self::start_with_tables(extra, "").await
    }

    /// [`TestAuthz::start_with`], with more tables at the end of the file (`[[auth.issuers]]` of external issuers).
    pub async fn start_with_tables(extra: &str, tables: &str) -> TestAuthz {
        let dir = tempfile::tempdir().expect("tempdir");
        let db = dir.path().join("tokengate.db");
        let az = Self::start_on(dir, db, extra, tables, None).await;
        az.registry.add_user("alice", ALICE_PASSWORD, false).await.expect("add alice");
        az
    }

    /// [`TestAuthz::start`] with `upstream` (a URL) as the protected API instead of its own [`TestUpstream`].
    pub async fn start_in_front_of(upstream: &str) -> TestAuthz {
        let dir = tempfile::tempdir().expect("tempdir");
        let db = dir.path().join("tokengate.db");
        let az = Self::start_on(dir, db, "", "", Some(upstream)).await;
        az.registry.add_user("alice", ALICE_PASSWORD, false).await.expect("add alice");
        az
    }

    /// A second instance on `first`'s database (as behind a load balancer), with its own clock set to `first`'s time
    /// and its own upstream. alice exists already.
    pub async fn start_beside(first: &TestAuthz) -> TestAuthz {
        let az = Self::start_on(tempfile::tempdir().expect("tempdir"), first.db.clone(), "", "", None).await;
        az.clock.set(first.clock.now());
        az
    }

    async fn start_on(
        dir: tempfile::TempDir,
        db: std::path::PathBuf,
        extra: &str,
        tables: &str,
        api: Option<&str>,
    ) -> TestAuthz {
        ensure_crypto_provider();
        let upstream = TestUpstream::start().await;
        let api = api.map_or_else(|| upstream.url(), str::to_string);
        let toml = config_toml(&api, &db.display().to_string(), extra) + "\n" + tables;
        let clock = ManualClock::at_system_time();
        let process_clock = clock.clone();
        // `build` runs the database setup on a runtime of its own: not from inside this test's runtime.
        let process = tokio::task::spawn_blocking(move || {
            let config = Config::from_toml(&toml, "test").unwrap_or_else(|e| panic!("{e}"));
            let options = Options { clock: Arc::new(process_clock), registry: Some(prometheus::Registry::new()) };
            tokengate::server::build(config, options).expect("tokengate builds")
        })
        .await
        .expect("build thread");
        let url = format!("http://{}", process.proxy_addr.expect("a plain listener"));
        let admin_url = format!("http://{}", process.admin_addr.expect("admin listener"));
        let metrics_url = format!("http://{}", process.metrics_addr.expect("metrics listener"));
        let registry = process.registry.clone().expect("the authorization server's registry");
        let shutdown = Shutdown::new();
        let stop = shutdown.clone();
        std::thread::spawn(move || process.run_until(stop));
        let az = TestAuthz { url, admin_url, metrics_url, clock, registry, upstream, db, shutdown, _dir: dir };
        az.wait_listening().await;
        az
    }

    async fn wait_listening(&self) {
        for _ in 0..200 {
            if let Ok(r) = client().get(format!("{}/oauth2/jwks", self.url)).send().await {
                if r.status() == 200 {
                    return;
                }
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("authorization server {} not answering after 10 s", self.url);
    }

    /// Registers an app from its JSON (`type`, `name`, ...).
    pub async fn app(&self, input: Value) -> App {
        let typed = AppInput::from_json(&input).unwrap_or_else(|e| panic!("create {input}: {e}"));
        let (view, secret) = self.registry.create_app(&typed).await.unwrap_or_else(|e| panic!("create {input}: {e}"));
        App { client_id: view.client_id.clone(), secret: secret.map(|s| s.expose().to_string()), view: view.to_json() }
    }

    /// A web app (confidential, with a secret) redirecting to [`REDIRECT`].
    pub async fn web_app(&self, name: &str) -> App {
        self.app(json!({"type": "web", "name": name, "redirect_urls": [REDIRECT]})).await
    }

    /// A single-page app (public, PKCE) redirecting to [`REDIRECT`].
    pub async fn spa_app(&self, name: &str) -> App {
        self.app(json!({"type": "spa", "name": name, "redirect_urls": [REDIRECT]})).await
    }

    /// A machine-to-machine app.
    pub async fn machine_app(&self, name: &str) -> App {
        self.app(json!({"type": "machine", "name": name})).await
    }

    /// Changes an app's settings.
    pub async fn update_app(&self, app: &App, fields: Value) {
        let typed = AppInput::from_json(&fields).unwrap_or_else(|e| panic!("update {fields}: {e}"));
        self.registry.update_app(&app.client_id, &typed).await.unwrap_or_else(|e| panic!("update {fields}: {e}"));
    }

    /// A browser with an empty cookie jar.
    pub fn browser(&self) -> Browser {
        Browser::new(&self.url)
    }

    /// The whole browser side of the code flow for alice with a fresh browser: authorize, sign in, allow. Returns the
    /// code from the redirect (after checking `state` and `iss`).
    pub async fn code(&self, app: &App, scope: &str, challenge: Option<&str>) -> String {
        let browser = self.browser();
        self.code_in(&browser, app, scope, challenge).await
    }

    /// [`code`](Self::code) in a given browser (which keeps alice's session afterwards).
    pub async fn code_in(&self, browser: &Browser, app: &App, scope: &str, challenge: Option<&str>) -> String {
        let state = random_string(12);
        let login = browser.get(&authorize_path(&app.client_id, REDIRECT, scope, &state, challenge)).await.expect(200);
        let signed_in = browser.login(&login, "alice", ALICE_PASSWORD).await;
        // alice agreed to these scopes for this app before: straight back, else the consent page.
        let back = if signed_in.status == 303 {
            signed_in
        } else {
            let consent = signed_in.expect(200);
            browser.decide(&consent, "allow").await.expect(303)
        };
        let params = back.redirect_params(REDIRECT);
        assert_eq!(params.get("state").map(String::as_str), Some(state.as_str()), "{back:?}");
        assert_eq!(params.get("iss").map(String::as_str), Some(ISSUER), "{back:?}");
        params.get("code").cloned().unwrap_or_else(|| panic!("no code in the redirect: {back:?}"))
    }

    /// alice's tokens for `app`: the code flow, then the exchange (web apps with Basic, single-page apps with PKCE).
    pub async fn tokens(&self, app: &App, scope: &str) -> Value {
        if app.secret.is_some() {
            let code = self.code(app, scope, None).await;
            self.exchange(ClientAuth::Basic(app), &code, None).await.expect(200).json()
        } else {
            let (verifier, challenge) = pkce();
            let code = self.code(app, scope, Some(&challenge)).await;
            self.exchange(ClientAuth::Public(app), &code, Some(&verifier)).await.expect(200).json()
        }
    }

    /// `POST /oauth2/token` with `grant_type=authorization_code`, the code, [`REDIRECT`] and an optional verifier.
    pub async fn exchange(&self, auth: ClientAuth<'_>, code: &str, verifier: Option<&str>) -> Reply {
        let mut form = vec![("grant_type", "authorization_code"), ("code", code), ("redirect_uri", REDIRECT)];
        if let Some(v) = verifier {
            form.push(("code_verifier", v));
        }
        self.token(auth, &form).await
    }

    /// `POST /oauth2/token` with `grant_type=refresh_token`.
    pub async fn refresh(&self, auth: ClientAuth<'_>, refresh_token: &str, scope: Option<&str>) -> Reply {
        let mut form = vec![("grant_type", "refresh_token"), ("refresh_token", refresh_token)];
        if let Some(s) = scope {
            form.push(("scope", s));
        }
        self.token(auth, &form).await
    }

    /// `POST /oauth2/token`.
    pub async fn token(&self, auth: ClientAuth<'_>, form: &[(&str, &str)]) -> Reply {
        self.post_form("/oauth2/token", auth, form).await
    }

    /// `POST /oauth2/introspect`.
    pub async fn introspect(&self, auth: ClientAuth<'_>, token: &str) -> Reply {
        self.post_form("/oauth2/introspect", auth, &[("token", token)]).await
    }

    /// `POST /oauth2/revoke`.
    pub async fn revoke(&self, auth: ClientAuth<'_>, token: &str) -> Reply {
        self.post_form("/oauth2/revoke", auth, &[("token", token)]).await
    }

    /// A form POST to an endpoint of the authorization server with client authentication.
    pub async fn post_form(&self, path: &str, auth: ClientAuth<'_>, form: &[(&str, &str)]) -> Reply {
        let mut pairs: Vec<(String, String)> = form.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        let mut req = client().post(format!("{}{path}", self.url));
        match auth {
            ClientAuth::Basic(app) => req = req.header("authorization", basic(&app.client_id, app.secret())),
            ClientAuth::BasicWith(id, secret) => req = req.header("authorization", basic(id, secret)),
            ClientAuth::Post(app) => {
                pairs.push(("client_id".into(), app.client_id.clone()));
                pairs.push(("client_secret".into(), app.secret().to_string()));
            }
            ClientAuth::PostWith(id, secret) => {
                pairs.push(("client_id".into(), id.to_string()));
                pairs.push(("client_secret".into(), secret.to_string()));
            }
            ClientAuth::Public(app) => pairs.push(("client_id".into(), app.client_id.clone())),
            ClientAuth::Nothing => {}
        }
        let body = form_encode(&pairs);
        let described = format!("POST {path} {}", redact_form(&pairs));
        let req = req.header("content-type", "application/x-www-form-urlencoded").body(body);
        Reply::read(described, req.send().await.expect("request")).await
    }

    /// A request to the protected API through the edge: `GET /api/x` with `Authorization: Bearer`.
    pub async fn api(&self, token: &str) -> Reply {
        let req = client().get(format!("{}/api/x", self.url)).bearer_auth(token);
        Reply::read("GET /api/x (Bearer)".into(), req.send().await.expect("request")).await
    }

    /// The status the edge answers `GET /api/x` with this bearer token.
    pub async fn api_status(&self, token: &str) -> u16 {
        self.api(token).await.status
    }

    /// `GET /api/x` with the token in a `sessionID` header (Workfront style).
    pub async fn api_session_id(&self, token: &str) -> Reply {
        let req = client().get(format!("{}/api/x", self.url)).header("sessionID", token);
        Reply::read("GET /api/x (sessionID)".into(), req.send().await.expect("request")).await
    }

    /// A plain GET on the proxy listener.
    pub async fn get(&self, path: &str) -> Reply {
        Reply::read(format!("GET {path}"), client().get(format!("{}{path}", self.url)).send().await.expect("request"))
            .await
    }
}

impl Drop for TestAuthz {
    fn drop(&mut self) {
        self.shutdown.trigger();
    }
}

/// `Basic base64(urlencode(id):urlencode(secret))` (RFC 6749 2.3.1).
pub fn basic(id: &str, secret: &str) -> String {
    let enc = |s: &str| url::form_urlencoded::byte_serialize(s.as_bytes()).collect::<String>();
    format!("Basic {}", STANDARD.encode(format!("{}:{}", enc(id), enc(secret))))
}

/// `application/x-www-form-urlencoded` text of `pairs`.
pub fn form_encode(pairs: &[(String, String)]) -> String {
    let mut s = url::form_urlencoded::Serializer::new(String::new());
    for (k, v) in pairs {
        s.append_pair(k, v);
    }
    s.finish()
}

fn redact_form(pairs: &[(String, String)]) -> String {
    pairs
        .iter()
        .map(|(k, v)| {
            let short = if v.len() > 24 { format!("{}…", &v[..24]) } else { v.clone() };
            format!("{k}={short}")
        })
        .collect::<Vec<_>>()
        .join("&")
}

/// The path and query of an authorization request.
pub fn authorize_path(
    client_id: &str,
    redirect_uri: &str,
    scope: &str,
    state: &str,
    challenge: Option<&str>,
) -> String {
    let mut pairs = vec![
        ("response_type", "code"),
        ("client_id", client_id),
        ("redirect_uri", redirect_uri),
        ("scope", scope),
        ("state", state),
    ];
    if let Some(c) = challenge {
        pairs.push(("code_challenge", c));
        pairs.push(("code_challenge_method", "S256"));
    }
    authorize_path_with("/oauth2/authorize", &pairs)
}

/// `path?pairs`, form-encoded.
pub fn authorize_path_with(path: &str, pairs: &[(&str, &str)]) -> String {
    let owned: Vec<(String, String)> = pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
    format!("{path}?{}", form_encode(&owned))
}

/// A random URL-safe string.
pub fn random_string(bytes: usize) -> String {
    let v: Vec<u8> = (0..bytes).map(|_| rand::random::<u8>()).collect();
    URL_SAFE_NO_PAD.encode(v)
}

/// A PKCE pair: (verifier, S256 challenge).
pub fn pkce() -> (String, String) {
    let verifier = random_string(32);
    (verifier.clone(), challenge_of(&verifier))
}

/// The S256 challenge of a verifier.
pub fn challenge_of(verifier: &str) -> String {
    URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()))
}

/// A JWT's header and claims, unverified.
pub fn jwt_parts(token: &str) -> (Value, Value) {
    let mut parts = token.split('.');
    let mut next = || {
        let seg = parts.next().unwrap_or_else(|| panic!("not a JWT: {token}"));
        serde_json::from_slice::<Value>(&URL_SAFE_NO_PAD.decode(seg).expect("base64url")).expect("JSON segment")
    };
    let header = next();
    let claims = next();
    (header, claims)
}

// ---- the browser ----

#[derive(Clone, Debug)]
struct Cookie {
    name: String,
    value: String,
    path: String,
}

/// A browser: no redirects followed, cookies kept by hand from `Set-Cookie` and sent back in `Cookie` when the
/// request path is under the cookie's `Path`.
pub struct Browser {
    base: String,
    http: reqwest::Client,
    jar: Arc<Mutex<Vec<Cookie>>>,
}

impl Browser {
    /// A browser with an empty cookie jar, on the gateway at `base`.
    pub fn new(base: &str) -> Browser {
        Browser { base: base.to_string(), http: client(), jar: Default::default() }
    }

    /// A browser whose connections come from `local` (any 127.0.0.0/8 address is this machine): another client
    /// address for the server's per-address limits.
    pub fn from_address(base: &str, local: std::net::IpAddr) -> Browser {
        Browser { base: base.to_string(), http: client_from(local), jar: Default::default() }
    }

    /// The same browser (the same cookies) on another gateway of the same site: another instance behind the load
    /// balancer, which a browser cannot tell apart (cookies do not depend on the port).
    pub fn at(&self, base: &str) -> Browser {
        Browser { base: base.to_string(), http: self.http.clone(), jar: self.jar.clone() }
    }

    /// A GET of `path_and_query` on the proxy listener.
    pub async fn get(&self, path_and_query: &str) -> Reply {
        let req = self.with_cookies(self.http.get(format!("{}{path_and_query}", self.base)), path_and_query);
        let reply = Reply::read(format!("GET {path_and_query}"), req.send().await.expect("request")).await;
        self.keep(&reply);
        reply
    }

    /// A form POST, as a browser submits one.
    pub async fn post_form(&self, path: &str, form: &[(&str, &str)]) -> Reply {
        let pairs: Vec<(String, String)> = form.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        let req = self
            .http
            .post(format!("{}{path}", self.base))
            .header("content-type", "application/x-www-form-urlencoded")
            .header("origin", self.base.clone())
            .body(form_encode(&pairs));
        let req = self.with_cookies(req, path);
        let reply =
            Reply::read(format!("POST {path} {}", redact_form(&pairs)), req.send().await.expect("request")).await;
        self.keep(&reply);
        reply
    }

    /// Submits the login form of `page` (its hidden fields) with these credentials.
    pub async fn login(&self, page: &Reply, username: &str, password: &str) -> Reply {
        let mut form = page.hidden_fields();
        form.extend([("username".to_string(), username.to_string()), ("password".to_string(), password.to_string())]);
        let form: Vec<(&str, &str)> = form.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        self.post_form("/oauth2/login", &form).await
    }

    /// Presses `allow` or `deny` on the consent page (sends its hidden fields).
    pub async fn decide(&self, page: &Reply, decision: &str) -> Reply {
        let mut form = page.hidden_fields();
        form.push(("decision".to_string(), decision.to_string()));
        let form: Vec<(&str, &str)> = form.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        self.post_form("/oauth2/consent", &form).await
    }

    fn with_cookies(&self, req: reqwest::RequestBuilder, path: &str) -> reqwest::RequestBuilder {
        let path = path.split('?').next().unwrap_or_default();
        let jar = self.jar.lock().unwrap();
        let header: Vec<String> =
            jar.iter().filter(|c| path.starts_with(&c.path)).map(|c| format!("{}={}", c.name, c.value)).collect();
        if header.is_empty() {
            req
        } else {
            req.header("cookie", header.join("; "))
        }
    }

    fn keep(&self, reply: &Reply) {
        let mut jar = self.jar.lock().unwrap();
        for line in reply.set_cookies() {
            let mut parts = line.split(';');
            let Some((name, value)) = parts.next().and_then(|nv| nv.trim().split_once('=')) else { continue };
            let attributes: Vec<(&str, &str)> = parts.filter_map(|a| a.trim().split_once('=')).collect();
            let attribute = |n: &str| attributes.iter().find(|(k, _)| k.eq_ignore_ascii_case(n)).map(|(_, v)| *v);
            let path = attribute("path").unwrap_or("/").to_string();
            jar.retain(|c| c.name != name || c.path != path);
            // `Max-Age=0` deletes the cookie.
            if attribute("max-age") != Some("0") {
                jar.push(Cookie { name: name.to_string(), value: value.to_string(), path });
            }
        }
    }

    /// A cookie's value.
    pub fn cookie(&self, name: &str) -> Option<String> {
        self.jar.lock().unwrap().iter().find(|c| c.name == name).map(|c| c.value.clone())
    }

    /// Sets (or replaces) a cookie, as a tampering client would.
    pub fn set_cookie(&self, name: &str, value: &str, path: &str) {
        let mut jar = self.jar.lock().unwrap();
        jar.retain(|c| c.name != name || c.path != path);
        jar.push(Cookie { name: name.into(), value: value.into(), path: path.into() });
    }

    /// Forgets a cookie.
    pub fn remove_cookie(&self, name: &str) {
        self.jar.lock().unwrap().retain(|c| c.name != name);
    }
}

// ---- logs ----

#[derive(Clone)]
struct Sink(Arc<Mutex<Vec<u8>>>);

impl std::io::Write for Sink {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let mut v = self.0.lock().unwrap();
        // Bounded: concurrent tests log here too while a capture is on.
        if v.len() < 64 * 1024 * 1024 {
            v.extend_from_slice(buf);
        }
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Whether some [`LogCapture`] is alive: log lines are formatted and kept only then.
static CAPTURING: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);

/// Captures the log lines (DEBUG and above, Pingora's `log` records included) of this whole test process while the
/// returned guard lives. The first call installs the process's global subscriber; panics when another one was
/// installed first, so that a test about logs never passes without reading them.
pub fn capture_logs() -> LogCapture {
    use std::sync::atomic::Ordering;
    use tracing_subscriber::layer::SubscriberExt as _;
    use tracing_subscriber::Layer as _;

    static BUFFER: OnceLock<Option<Arc<Mutex<Vec<u8>>>>> = OnceLock::new();
    let buf = BUFFER
        .get_or_init(|| {
            let buf = Arc::new(Mutex::new(Vec::new()));
            let sink = Sink(buf.clone());
            let layer = tracing_subscriber::fmt::layer()
                .with_ansi(false)
                .with_writer(move || sink.clone())
                // Dynamic: asked at every event. A plain `filter_fn` is asked once per call site and its answer kept,
                // so a site first reached while no test captured would stay silent for every later capture.
                .with_filter(tracing_subscriber::filter::dynamic_filter_fn(|meta, _| {
                    CAPTURING.load(Ordering::SeqCst) > 0 && *meta.level() <= tracing::Level::DEBUG
                }));
            let subscriber = tracing_subscriber::registry().with(layer);
            // `try_init` also routes the `log` records of Pingora's own error lines into tracing.
            tracing_subscriber::util::SubscriberInitExt::try_init(subscriber).ok().map(|()| buf)
        })
        .clone()
        .expect("another global log subscriber was installed first: logs cannot be captured");
    CAPTURING.fetch_add(1, Ordering::SeqCst);
    let from = buf.lock().unwrap().len();
    LogCapture { buf, from }
}

/// Captured log text; capturing stops when the last one is dropped.
pub struct LogCapture {
    buf: Arc<Mutex<Vec<u8>>>,
    from: usize,
}

impl LogCapture {
    /// Everything captured since this capture began (lines of concurrent tests included).
    pub fn text(&self) -> String {
        let v = self.buf.lock().unwrap();
        String::from_utf8_lossy(&v[self.from.min(v.len())..]).into_owned()
    }
}

impl Drop for LogCapture {
    fn drop(&mut self) {
        CAPTURING.fetch_sub(1, std::sync::atomic::Ordering::SeqCst);
    }
}
