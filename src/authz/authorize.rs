//! `/oauth2/authorize`: check the request, sign the user in, ask for consent (remembered), redirect with a code.
//!
//! Nothing is stored for an authorization request until someone has signed in. The login and consent forms carry the
//! request itself: its query, checked again on every step by the same function as at `/authorize` (a changed form is
//! just another authorization request), the time it was first shown (a form older than 10 minutes is refused), and a
//! CSRF token that must match a `SameSite=Strict` cookie set with the form (`tgc_…`, double submit). The signed-in
//! user comes from the session cookie. So any instance can take any step, and only an answered request (a code issued
//! or access denied) is recorded, to answer each once. Requests per client address are limited.
//!
//! An unknown client or unregistered redirect URI gets an error page, never a redirect (RFC 9700: no open
//! redirector). Every later error is a redirect carrying `error`, `state` and `iss` (RFC 9207).

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{RawQuery, State};
use axum::http::header::{COOKIE, LOCATION, SET_COOKIE};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Extension;
use url::Url;

use super::bridge::{ClientIp, Tls};
use super::error::description_text;
use super::wire::{parameter_name, parse_scope, Params};
use super::{pages, AuthServer, ErrorCode, CODE_TTL_SECS, SESSION_TTL_SECS};
use crate::registry::credentials::{self, AuthorizationCode};
use crate::registry::RegistryError;
use crate::store::{AppRecord, AppType, CodeRecord, GrantId};

const SESSION_COOKIE: &str = "tg_session";
/// The paths the session cookie is sent to: both authorization endpoints and the forms, nothing else.
const SESSION_COOKIE_PATHS: [&str; 2] = ["/oauth2", "/integrations/oauth2"];

/// Longest `state`, in bytes.
pub const MAX_STATE_BYTES: usize = 1024;
/// Longest `nonce`, in bytes.
pub const MAX_NONCE_BYTES: usize = 1024;
/// Longest authorization request query, in bytes.
pub const MAX_QUERY_BYTES: usize = 8 * 1024;
/// How long a sign-in form stays good.
pub const REQUEST_TTL_SECS: i64 = 600;
/// How far ahead of this server's clock a form's issue time may be (another instance's clock).
const ISSUED_LEEWAY_SECS: i64 = 5;
/// Longest username or password a login form may carry (no account has a longer one).
const MAX_CREDENTIAL_BYTES: usize = 1024;

/// A checked authorization request.
struct Pending {
    client_id: String,
    redirect_uri: String,
    /// Whether the request named its redirect URI (it may leave it out when the app registered exactly one, RFC 6749
    /// 4.1.1; the token request then need not name it either).
    redirect_uri_sent: bool,
    state: Option<String>,
    scope: Vec<String>,
    code_challenge: Option<String>,
    prompt: Prompt,
    /// `max_age`: a sign-in older than this many seconds is asked again.
    max_age: Option<i64>,
    /// `response_mode=form_post`: the response is posted to the redirect URI instead of put in its query.
    form_post: bool,
}

/// The `prompt` values of a request (OpenID Connect Core 3.1.2.1).
#[derive(Debug, Default, Clone, Copy)]
struct Prompt {
    /// Show nothing: answer at once, or redirect `login_required` / `consent_required`.
    none: bool,
    /// Sign in again even with a session.
    login: bool,
    /// Ask for consent again even when it was given.
    consent: bool,
}

impl Prompt {
    fn parse(value: Option<&str>) -> Result<Prompt, &'static str> {
        let mut p = Prompt::default();
        for v in value.unwrap_or_default().split(' ').filter(|v| !v.is_empty()) {
            match v {
                "none" => p.none = true,
                "login" => p.login = true,
                "consent" => p.consent = true,
                "select_account" => {}
                _ => return Err("prompt must be none, login, consent or select_account"),
            }
        }
        if p.none && (p.login || p.consent) {
            return Err("prompt=none cannot be combined with other values");
        }
        Ok(p)
    }
}

/// What a sign-in form carries along with its fields.
struct Form {
    /// Random: names the CSRF cookie, and is recorded when the request is answered.
    rid: String,
    /// Must equal the CSRF cookie.
    csrf: String,
    /// When `/authorize` first showed a form for this request.
    issued: i64,
    /// The authorization request's query, as received.
    query: String,
}

impl Form {
    fn new(query: String, now: i64) -> Form {
        Form { rid: credentials::opaque(24), csrf: credentials::opaque(24), issued: now, query }
    }

    fn hidden(&self) -> pages::Hidden<'_> {
        pages::Hidden { rid: &self.rid, csrf: &self.csrf, issued: self.issued, request: &self.query }
    }

    fn cookie_name(&self) -> String {
        format!("tgc_{}", self.rid.get(..8).unwrap_or_default())
    }
}

fn cookie<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers.get_all(COOKIE).iter().filter_map(|v| v.to_str().ok()).flat_map(|v| v.split(';')).find_map(|c| {
        let (k, v) = c.trim().split_once('=')?;
        (k == name).then_some(v)
    })
}

/// The CSP source of a redirect URI: its origin, or for a native app's private-use scheme the scheme itself
/// (`com.example.app:`), which has no origin.
fn origin(uri: &str) -> Option<String> {
    let u = Url::parse(uri).ok()?;
    let origin = u.origin();
    Some(if origin.is_tuple() { origin.ascii_serialization() } else { format!("{}:", u.scheme()) })
}

fn unavailable() -> Response {
    pages::error(StatusCode::SERVICE_UNAVAILABLE, "The authorization server cannot reach its database.")
}

fn expired() -> Response {
    pages::error(StatusCode::BAD_REQUEST, "This sign-in request has expired. Start again from the application.")
}

impl AuthServer {
    fn redirect(&self, p: &Pending, params: &[(&str, &str)]) -> Response {
        if p.form_post {
            let mut fields = params.to_vec();
            if let Some(s) = &p.state {
                fields.push(("state", s));
            }
            fields.push(("iss", &self.cfg.issuer));
            let target = origin(&p.redirect_uri).unwrap_or_else(|| "'none'".into());
            return pages::form_post(&p.redirect_uri, &target, &fields);
        }
        let mut url = Url::parse(&p.redirect_uri).expect("registered redirect URIs are absolute");
        {
            let mut q = url.query_pairs_mut();
            for (k, v) in params {
                q.append_pair(k, v);
            }
            if let Some(s) = &p.state {
                q.append_pair("state", s);
            }
            q.append_pair("iss", &self.cfg.issuer);
        }
        let mut r = StatusCode::SEE_OTHER.into_response();
        if let Ok(v) = HeaderValue::from_str(url.as_str()) {
            r.headers_mut().insert(LOCATION, v);
        }
        r.headers_mut().insert(http::header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
        r
    }

    fn redirect_error(&self, p: &Pending, error: ErrorCode, description: &str) -> Response {
        self.redirect(p, &[("error", error.as_str()), ("error_description", &description_text(description))])
    }

    fn redirect_unavailable(&self, p: &Pending) -> Response {
        self.redirect_error(p, ErrorCode::TemporarilyUnavailable, "the authorization server cannot reach its database")
    }

    /// `None` when the client address may make one more sign-in request (`/authorize`, the login form) now, else the
    /// 429 answer.
    fn sign_in_limited(&self, ip: ClientIp) -> Option<Response> {
        let caller = ip.0.map(|i| i.to_string()).unwrap_or_default();
        let wait = self.sign_in_limiter.check(&caller).err()?;
        let secs = wait.as_secs().max(1);
        tracing::warn!(ip = ?ip.0, "sign-in requests over the per-address limit");
        let mut r = pages::error(
            StatusCode::TOO_MANY_REQUESTS,
            &format!("Too many sign-in requests from your address. Try again in {secs} seconds."),
        );
        r.headers_mut().insert(http::header::RETRY_AFTER, HeaderValue::from(secs));
        Some(r)
    }

    fn csrf_cookie(&self, form: &Form, tls: bool) -> HeaderValue {
        let secure = if tls { "; Secure" } else { "" };
        HeaderValue::from_str(&format!(
            "{}={}; Path=/oauth2; Max-Age={REQUEST_TTL_SECS}; HttpOnly; SameSite=Strict{secure}",
            form.cookie_name(),
            form.csrf
        ))
        .expect("cookie value")
    }

    /// A page with a form, and the form's CSRF cookie.
    fn form_page(
        &self,
        status: StatusCode,
        form: &Form,
        p: &Pending,
        title: &str,
        body: String,
        tls: bool,
    ) -> Response {
        let mut r = pages::page(status, title, &body, origin(&p.redirect_uri).as_deref());
        r.headers_mut().append(SET_COOKIE, self.csrf_cookie(form, tls));
        r
    }

    /// The login form; after a failed attempt (`failed`: the username typed), again with a message.
    fn login_page(&self, form: &Form, p: &Pending, app: &AppRecord, failed: Option<&str>, tls: bool) -> Response {
        let (status, message) = match failed {
            None => (StatusCode::OK, None),
            Some(_) => (StatusCode::UNAUTHORIZED, Some("The username or password is not right.")),
        };
        let body = pages::login(&form.hidden(), &app.name, failed.unwrap_or_default(), message);
        self.form_page(status, form, p, "Sign in", body, tls)
    }

    /// Checks an authorization request's query, at `/authorize` and again on every form: the app and the redirect URI
    /// (else an error page), then the rest (else an error redirect).
    async fn check_request(&self, query: &str) -> Result<(Pending, AppRecord), Response> {
        let q: Vec<(String, String)> = url::form_urlencoded::parse(query.as_bytes()).into_owned().collect();
        let mut seen = std::collections::HashSet::new();
        let repeated = q.iter().find(|(k, _)| !seen.insert(k.as_str())).map(|(k, _)| k.clone());
        // Until the client and its redirect URI are known good, an error is a page; after, a redirect (RFC 6749
        // 4.1.2.1).
        if let Some(k) = repeated.as_deref().filter(|k| *k == "client_id" || *k == "redirect_uri") {
            return Err(pages::error(StatusCode::BAD_REQUEST, &format!("The parameter `{k}` is repeated.")));
        }
        let get = |name: &str| q.iter().find(|(k, v)| k == name && !v.is_empty()).map(|(_, v)| v.as_str());
        let Some(client_id) = get("client_id") else {
            return Err(pages::error(StatusCode::BAD_REQUEST, "The request names no client (client_id)."));
        };
        let app = match self.store().app(client_id).await {
            Ok(Some(a)) if a.app_type != AppType::Machine => a,
            Ok(_) => return Err(pages::error(StatusCode::BAD_REQUEST, "Unknown client.")),
            Err(e) => {
                tracing::error!(error = %e, "app lookup failed");
                return Err(unavailable());
            }
        };
        // Exact string comparison with a registered redirect URI (RFC 9700 4.1.1), any port on a loopback IP (RFC 8252
        // 7.3); left out, the app's only one.
        let sent = get("redirect_uri");
        let redirect_uri = match sent {
            Some(r) if app.redirect_urls.iter().any(|u| crate::registry::redirect_matches(u, r)) => r,
            None if app.redirect_urls.len() == 1 => app.redirect_urls[0].as_str(),
            None => {
                return Err(pages::error(
                    StatusCode::BAD_REQUEST,
                    "The request names no redirect URI, and the application has several.",
                ))
            }
            Some(_) => {
                return Err(pages::error(
                    StatusCode::BAD_REQUEST,
                    "The redirect URI is not registered for this application.",
                ))
            }
        };
        let state = get("state");
        let mut p = Pending {
            client_id: app.client_id.clone(),
            redirect_uri: redirect_uri.to_string(),
            redirect_uri_sent: sent.is_some(),
            // An oversized state is not sent back.
            state: state.filter(|s| s.len() <= MAX_STATE_BYTES).map(str::to_string),
            scope: Vec::new(),
            code_challenge: None,
            prompt: Prompt::default(),
            max_age: None,
            form_post: false,
        };
        let invalid = |p: &Pending, d: &str| self.redirect_error(p, ErrorCode::InvalidRequest, d);
        if let Some(k) = repeated {
            return Err(invalid(&p, &format!("{} is repeated", parameter_name(&k))));
        }
        p.form_post = match get("response_mode") {
            None | Some("query") => false,
            Some("form_post") => true,
            Some(_) => return Err(invalid(&p, "response_mode must be query or form_post")),
        };
        p.prompt = match Prompt::parse(get("prompt")) {
            Ok(prompt) => prompt,
            Err(why) => return Err(invalid(&p, why)),
        };
        p.max_age = match get("max_age").map(|m| m.parse::<i64>()) {
            None => None,
            Some(Ok(m)) if m >= 0 => Some(m),
            Some(_) => return Err(invalid(&p, "max_age must be a number of seconds")),
        };
        if state.is_some_and(|s| s.len() > MAX_STATE_BYTES) {
            return Err(invalid(&p, &format!("state is longer than {MAX_STATE_BYTES} bytes")));
        }
        if query.len() > MAX_QUERY_BYTES {
            return Err(invalid(&p, &format!("the query is longer than {MAX_QUERY_BYTES} bytes")));
        }
        if get("nonce").is_some_and(|n| n.len() > MAX_NONCE_BYTES) {
            return Err(invalid(&p, &format!("nonce is longer than {MAX_NONCE_BYTES} bytes")));
        }
        match get("response_type") {
            Some("code") => {}
            None => return Err(invalid(&p, "response_type is required")),
            Some(_) => {
                return Err(self.redirect_error(
                    &p,
                    ErrorCode::UnsupportedResponseType,
                    "only response_type=code is supported",
                ))
            }
        }
        let scope = match get("scope") {
            Some(sc) => parse_scope(sc),
            None => self.cfg.default_scopes.clone(),
        };
        if scope.iter().any(|x| !self.cfg.scopes.contains(x)) {
            return Err(self.redirect_error(
                &p,
                ErrorCode::InvalidScope,
                "a requested scope is not a scope of this server",
            ));
        }
        p.scope = scope;
        match (get("code_challenge"), get("code_challenge_method")) {
            (Some(c), Some("S256")) => {
                if c.len() != 43 || !c.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_') {
                    return Err(invalid(&p, "code_challenge must be a base64url SHA-256 (43 characters)"));
                }
                p.code_challenge = Some(c.to_string());
            }
            (Some(_), _) => return Err(invalid(&p, "code_challenge_method must be S256 (plain is refused)")),
            (None, Some(_)) => return Err(invalid(&p, "code_challenge_method without code_challenge")),
            (None, None) if app.app_type == AppType::Spa => {
                return Err(invalid(&p, "single-page apps must use PKCE (code_challenge, S256)"))
            }
            (None, None) => {}
        }
        Ok((p, app))
    }

    /// A posted form: its CSRF token against the cookie, its age, then its authorization request, checked as new.
    async fn posted_form(&self, headers: &HeaderMap, params: &Params) -> Result<(Form, Pending, AppRecord), Response> {
        let form = Form {
            rid: params.get("rid").unwrap_or_default().to_string(),
            csrf: params.get("csrf").unwrap_or_default().to_string(),
            issued: params.get("issued").and_then(|i| i.parse().ok()).unwrap_or(i64::MIN),
            query: params.get("request").unwrap_or_default().to_string(),
        };
        let presented = cookie(headers, &form.cookie_name()).unwrap_or_default();
        let ok = form.rid.len() >= 8
            && !form.csrf.is_empty()
            && credentials::matches_hash(presented, &credentials::hash(&form.csrf));
        if !ok {
            tracing::warn!("authorization form refused: CSRF token mismatch");
            return Err(pages::error(
                StatusCode::FORBIDDEN,
                "The form could not be verified. Start again from the application.",
            ));
        }
        let now = self.clock.now();
        if form.issued == i64::MIN || now - form.issued >= REQUEST_TTL_SECS || form.issued > now + ISSUED_LEEWAY_SECS {
            return Err(expired());
        }
        let (p, app) = self.check_request(&form.query).await?;
        Ok((form, p, app))
    }

    /// The signed-in user of the session cookie, if any and still enabled, and when they signed in.
    async fn session(&self, headers: &HeaderMap) -> Result<Option<(String, i64)>, Response> {
        let Some(sid) = cookie(headers, SESSION_COOKIE) else { return Ok(None) };
        let looked_up = async {
            let Some((user, at)) = self.store().session_user(&credentials::hash(sid), self.clock.now()).await? else {
                return Ok(None);
            };
            Ok::<_, super::OAuthError>(self.user_enabled(&user).await?.then_some((user, at)))
        };
        looked_up.await.map_err(|_| unavailable())
    }

    /// The signed-in user of the session cookie, if any and still enabled.
    async fn session_user(&self, headers: &HeaderMap) -> Result<Option<String>, Response> {
        Ok(self.session(headers).await?.map(|(user, _)| user))
    }

    /// After sign-in: straight back to the app when the user already consented to these scopes, else the consent
    /// page. `answered` is the form being answered, if any.
    async fn proceed(
        &self,
        form: &Form,
        answered: bool,
        p: &Pending,
        app: &AppRecord,
        user: &str,
        tls: bool,
    ) -> Response {
        let scope = p.scope.join(" ");
        match self.store().has_consent(user, &app.client_id, &scope).await {
            Ok(true) if !p.prompt.consent => self.finish(answered.then_some(form), p, user).await,
            Ok(_) if p.prompt.none => {
                self.redirect_error(p, ErrorCode::ConsentRequired, "the user has not allowed these scopes")
            }
            Ok(_) => {
                let logo = app.logo_url.as_deref();
                let body = pages::consent(&form.hidden(), &app.name, &app.description, logo, &p.scope, user);
                self.form_page(StatusCode::OK, form, p, "Allow access?", body, tls)
            }
            Err(e) => {
                tracing::error!(error = %e, "consent lookup failed");
                self.redirect_unavailable(p)
            }
        }
    }

    /// Records that the request of `form` is answered: `Err` with the answer to give when it was answered before (a
    /// form sent twice, or to two instances) or cannot be recorded.
    async fn answer_once(&self, form: &Form, p: &Pending) -> Result<(), Response> {
        let until = form.issued + REQUEST_TTL_SECS;
        match self.store().answer_authorization_request(&credentials::hash(&form.rid), until).await {
            Ok(true) => Ok(()),
            Ok(false) => Err(pages::error(
                StatusCode::BAD_REQUEST,
                "This sign-in request was already answered. Start again from the application.",
            )),
            Err(e) => {
                tracing::error!(error = %e, "recording an answered authorization request failed");
                Err(self.redirect_unavailable(p))
            }
        }
    }

    /// Issues the code and redirects (answering `form`, when there is one).
    async fn finish(&self, form: Option<&Form>, p: &Pending, user: &str) -> Response {
        if let Some(form) = form {
            if let Err(r) = self.answer_once(form, p).await {
                return r;
            }
        }
        let now = self.clock.now();
        let code = AuthorizationCode::generate();
        let record = CodeRecord {
            code_hash: code.hash(),
            client_id: p.client_id.clone(),
            grant_id: GrantId::new(credentials::record_id()),
            username: user.to_string(),
            // Empty when the request left it out: the token request then need not send it.
            redirect_uri: if p.redirect_uri_sent { p.redirect_uri.clone() } else { String::new() },
            scope: p.scope.join(" "),
            code_challenge: p.code_challenge.clone(),
            created_at: now,
            expires_at: now + CODE_TTL_SECS,
        };
        match self.store().create_code(&record).await {
            Ok(()) => self.redirect(p, &[("code", code.expose())]),
            Err(e) => {
                tracing::error!(error = %e, "storing a code failed");
                self.redirect_unavailable(p)
            }
        }
    }
}

/// `GET /oauth2/authorize` (and `/integrations/oauth2/authorize`).
pub async fn authorize(
    State(s): State<Arc<AuthServer>>,
    Extension(ip): Extension<ClientIp>,
    Extension(tls): Extension<Tls>,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
) -> Response {
    if let Some(r) = s.sign_in_limited(ip) {
        return r;
    }
    let query = query.unwrap_or_default();
    let (p, app) = match s.check_request(&query).await {
        Ok(x) => x,
        Err(r) => return r,
    };
    let now = s.clock.now();
    let form = Form::new(query, now);
    let session = match s.session(&headers).await {
        Ok(session) => session,
        Err(r) => return r,
    };
    // A session counts unless the request asks for a new sign-in (`prompt=login`) or one more recent than `max_age`.
    let fresh = |at: i64| !p.prompt.login && p.max_age.is_none_or(|m| now - at <= m);
    match session {
        Some((user, at)) if fresh(at) => s.proceed(&form, false, &p, &app, &user, tls.0).await,
        _ if p.prompt.none => s.redirect_error(&p, ErrorCode::LoginRequired, "the user is not signed in"),
        _ => s.login_page(&form, &p, &app, None, tls.0),
    }
}

/// `POST /oauth2/login`.
pub async fn login(
    State(s): State<Arc<AuthServer>>,
    Extension(ip): Extension<ClientIp>,
    Extension(tls): Extension<Tls>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    if let Some(r) = s.sign_in_limited(ip) {
        return r;
    }
    let params = Params::parse(&HeaderMap::new(), &body).unwrap_or_default();
    let (form, p, app) = match s.posted_form(&headers, &params).await {
        Ok(x) => x,
        Err(r) => return r,
    };
    let username = params.get("username").unwrap_or_default();
    let password = params.get("password").unwrap_or_default();
    if username.len() > MAX_CREDENTIAL_BYTES || password.len() > MAX_CREDENTIAL_BYTES {
        // No account has such a name or password: not worth a hash, nor a failure counter named after it.
        tracing::warn!(ip = ?ip.0, "login refused: username or password too long");
        return s.login_page(&form, &p, &app, Some(""), tls.0);
    }
    // Throttled (429 at once) and bounded (503) in the registry, per (user, address) and per address.
    let user = match s.registry.authenticate_user(username, password, ip.0).await {
        Ok(u) => u,
        Err(e @ (RegistryError::Throttled(_) | RegistryError::Busy)) => return super::throttle::refused_page(&e),
        Err(e) => {
            tracing::error!(error = %e, "login lookup failed");
            return unavailable();
        }
    };
    let Some(user) = user else {
        tracing::warn!(username, ip = ?ip.0, "login failed");
        return s.login_page(&form, &p, &app, Some(username), tls.0);
    };
    let sid = credentials::opaque(32);
    let now = s.clock.now();
    if let Err(e) =
        s.store().create_session(&credentials::hash(&sid), &user.username, now, now + SESSION_TTL_SECS).await
    {
        tracing::error!(error = %e, "storing a session failed");
        return unavailable();
    }
    let mut r = s.proceed(&form, true, &p, &app, &user.username, tls.0).await;
    let secure = if tls.0 { "; Secure" } else { "" };
    for path in SESSION_COOKIE_PATHS {
        if let Ok(v) = HeaderValue::from_str(&format!(
            "{SESSION_COOKIE}={sid}; Path={path}; Max-Age={SESSION_TTL_SECS}; HttpOnly; SameSite=Lax{secure}"
        )) {
            r.headers_mut().append(SET_COOKIE, v);
        }
    }
    r
}

/// `POST /oauth2/consent`.
pub async fn consent(State(s): State<Arc<AuthServer>>, headers: HeaderMap, body: Bytes) -> Response {
    let params = Params::parse(&HeaderMap::new(), &body).unwrap_or_default();
    let (form, p, _) = match s.posted_form(&headers, &params).await {
        Ok(x) => x,
        Err(r) => return r,
    };
    let user = match s.session_user(&headers).await {
        Ok(Some(user)) => user,
        Ok(None) => {
            return pages::error(StatusCode::FORBIDDEN, "You are not signed in. Start again from the application.")
        }
        Err(r) => return r,
    };
    // The page named the user it asks for; another sign-in since then does not inherit the answer.
    if params.get("user") != Some(user.as_str()) {
        return pages::error(
            StatusCode::FORBIDDEN,
            "You signed in as someone else since this page was shown. Start again from the application.",
        );
    }
    match params.get("decision") {
        Some("allow") => {
            if let Err(e) = s.store().add_consent(&user, &p.client_id, &p.scope.join(" "), s.clock.now()).await {
                tracing::error!(error = %e, "storing a consent failed");
            }
            s.finish(Some(&form), &p, &user).await
        }
        Some("deny") => {
            if let Err(r) = s.answer_once(&form, &p).await {
                return r;
            }
            s.redirect_error(&p, ErrorCode::AccessDenied, "the user denied the request")
        }
        _ => pages::error(StatusCode::BAD_REQUEST, "Choose Allow or Deny."),
    }
}
