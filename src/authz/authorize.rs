//! `/oauth2/authorize`: check the request, sign the user in, ask for consent (remembered), redirect with a code.
//!
//! An unknown client or unregistered redirect URI gets an error page, never a redirect (RFC 9700: no open
//! redirector). Every later error is a redirect carrying `error`, `state` and `iss` (RFC 9207). The login and consent
//! forms carry a per-request CSRF token that must match a `SameSite=Strict` cookie set with the form.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{Query, State};
use axum::http::header::{COOKIE, LOCATION, SET_COOKIE};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Extension;
use url::Url;

use super::bridge::{ClientIp, Tls};
use super::token::parse_scope;
use super::{pages, AuthServer, CODE_TTL_SECS, SESSION_TTL_SECS};
use crate::registry::credentials;
use crate::registry::RegistryError;
use crate::store::{AppRecord, AppType, CodeRecord};

const SESSION_COOKIE: &str = "tg_session";

/// An authorization request between its arrival and its answer, kept in the store (as JSON, keyed by the SHA-256 of
/// its id) so that any instance can take the next step.
#[derive(serde::Serialize, serde::Deserialize)]
pub struct Pending {
    client_id: String,
    redirect_uri: String,
    state: Option<String>,
    scope: Vec<String>,
    code_challenge: Option<String>,
    csrf: String,
    /// Who signed in for it (not serialized: a column of its own).
    #[serde(skip)]
    user: Option<String>,
}

/// How long an authorization request waits for its answer.
const REQUEST_TTL_SECS: i64 = 600;

fn cookie<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers.get_all(COOKIE).iter().filter_map(|v| v.to_str().ok()).flat_map(|v| v.split(';')).find_map(|c| {
        let (k, v) = c.trim().split_once('=')?;
        (k == name).then_some(v)
    })
}

fn origin(uri: &str) -> Option<String> {
    Url::parse(uri).ok().map(|u| u.origin().ascii_serialization())
}

impl AuthServer {
    fn redirect(&self, p: &Pending, params: &[(&str, &str)]) -> Response {
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

    fn redirect_error(&self, p: &Pending, error: &str, description: &str) -> Response {
        self.redirect(p, &[("error", error), ("error_description", description)])
    }

    fn csrf_cookie(&self, rid: &str, csrf: &str, tls: bool) -> HeaderValue {
        let secure = if tls { "; Secure" } else { "" };
        HeaderValue::from_str(&format!(
            "tgc_{}={csrf}; Path=/oauth2; Max-Age=600; HttpOnly; SameSite=Strict{secure}",
            &rid[..8]
        ))
        .expect("cookie value")
    }

    fn form(&self, status: StatusCode, rid: &str, p: &Pending, title: &str, body: String, tls: bool) -> Response {
        let mut r = pages::page(status, title, &body, origin(&p.redirect_uri).as_deref());
        r.headers_mut().append(SET_COOKIE, self.csrf_cookie(rid, &p.csrf, tls));
        r
    }

    /// Checks the form's CSRF token against the pending request and the cookie.
    async fn pending_for_post(
        &self,
        headers: &HeaderMap,
        form: &super::token::Params,
    ) -> Result<(String, Pending), Response> {
        let rid = form.get("rid").unwrap_or_default().to_string();
        let expired = || {
            pages::error(StatusCode::BAD_REQUEST, "This sign-in request has expired. Start again from the application.")
        };
        let pending = match self.store().authorization_request(&credentials::hash(&rid), self.clock.now()).await {
            Ok(Some((data, user))) => {
                let mut p: Pending = serde_json::from_str(&data).map_err(|_| expired())?;
                p.user = user;
                p
            }
            Ok(None) => return Err(expired()),
            Err(e) => {
                tracing::error!(error = %e, "authorization request lookup failed");
                return Err(pages::error(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "The authorization server cannot reach its database.",
                ));
            }
        };
        let presented = form.get("csrf").unwrap_or_default();
        let cookie = cookie(headers, &format!("tgc_{}", rid.get(..8).unwrap_or_default())).unwrap_or_default();
        let ok = credentials::matches_hash(presented, &credentials::hash(&pending.csrf))
            && credentials::matches_hash(cookie, &credentials::hash(&pending.csrf));
        if !ok {
            tracing::warn!("authorization form refused: CSRF token mismatch");
            return Err(pages::error(
                StatusCode::FORBIDDEN,
                "The form could not be verified. Start again from the application.",
            ));
        }
        Ok((rid, pending))
    }

    async fn session_user(&self, headers: &HeaderMap) -> Option<String> {
        let sid = cookie(headers, SESSION_COOKIE)?;
        let user = self.store().session_user(&credentials::hash(sid), self.clock.now()).await.ok()??;
        self.user_enabled(&user).await.ok()?.then_some(user)
    }

    /// After sign-in: straight back to the app when the user already consented to these scopes, else the consent page.
    async fn proceed(&self, rid: &str, p: &Pending, app: &AppRecord, user: &str, tls: bool) -> Response {
        if let Err(e) = self.store().set_authorization_request_user(&credentials::hash(rid), user).await {
            tracing::error!(error = %e, "storing an authorization request failed");
            return self.redirect_error(
                p,
                "temporarily_unavailable",
                "the authorization server cannot reach its database",
            );
        }
        let scope = p.scope.join(" ");
        match self.store().has_consent(user, &app.client_id, &scope).await {
            Ok(true) => self.finish(rid, p, user).await,
            Ok(false) => {
                let logo = app.logo_url.as_deref();
                let body = pages::consent(rid, &p.csrf, &app.name, &app.description, logo, &p.scope, user);
                self.form(StatusCode::OK, rid, p, "Allow access?", body, tls)
            }
            Err(e) => {
                tracing::error!(error = %e, "consent lookup failed");
                self.redirect_error(p, "temporarily_unavailable", "the authorization server cannot reach its database")
            }
        }
    }

    /// Issues the code and redirects.
    async fn finish(&self, rid: &str, p: &Pending, user: &str) -> Response {
        match self.store().end_authorization_request(&credentials::hash(rid)).await {
            Ok(true) => {}
            Ok(false) => {
                return pages::error(
                    StatusCode::BAD_REQUEST,
                    "This sign-in request was already answered. Start again from the application.",
                )
            }
            Err(e) => {
                tracing::error!(error = %e, "ending an authorization request failed");
                return self.redirect_error(
                    p,
                    "temporarily_unavailable",
                    "the authorization server cannot reach its database",
                );
            }
        }
        let now = self.clock.now();
        let code = credentials::code();
        let record = CodeRecord {
            code_hash: credentials::hash(&code),
            client_id: p.client_id.clone(),
            grant_id: credentials::record_id(),
            username: user.to_string(),
            redirect_uri: p.redirect_uri.clone(),
            scope: p.scope.join(" "),
            code_challenge: p.code_challenge.clone(),
            created_at: now,
            expires_at: now + CODE_TTL_SECS,
        };
        match self.store().create_code(&record).await {
            Ok(()) => self.redirect(p, &[("code", &code)]),
            Err(e) => {
                tracing::error!(error = %e, "storing a code failed");
                self.redirect_error(p, "temporarily_unavailable", "the authorization server cannot reach its database")
            }
        }
    }
}

/// `GET /oauth2/authorize` (and `/integrations/oauth2/authorize`).
pub async fn authorize(
    State(s): State<Arc<AuthServer>>,
    Extension(tls): Extension<Tls>,
    headers: HeaderMap,
    Query(q): Query<Vec<(String, String)>>,
) -> Response {
    let mut seen = std::collections::HashSet::new();
    if let Some((k, _)) = q.iter().find(|(k, _)| !seen.insert(k.clone())) {
        return pages::error(StatusCode::BAD_REQUEST, &format!("The parameter `{k}` is repeated."));
    }
    let get = |name: &str| q.iter().find(|(k, v)| k == name && !v.is_empty()).map(|(_, v)| v.as_str());
    let Some(client_id) = get("client_id") else {
        return pages::error(StatusCode::BAD_REQUEST, "The request names no client (client_id).");
    };
    let app = match s.store().app(client_id).await {
        Ok(Some(a)) if a.app_type != AppType::Machine => a,
        Ok(_) => return pages::error(StatusCode::BAD_REQUEST, "Unknown client."),
        Err(e) => {
            tracing::error!(error = %e, "app lookup failed");
            return pages::error(
                StatusCode::SERVICE_UNAVAILABLE,
                "The authorization server cannot reach its database.",
            );
        }
    };
    // Exact string comparison with a registered redirect URI (RFC 9700 4.1.1).
    let Some(redirect_uri) = get("redirect_uri").filter(|r| app.redirect_urls.iter().any(|u| u == r)) else {
        return pages::error(StatusCode::BAD_REQUEST, "The redirect URI is not registered for this application.");
    };
    let mut p = Pending {
        client_id: app.client_id.clone(),
        redirect_uri: redirect_uri.to_string(),
        state: get("state").map(str::to_string),
        scope: Vec::new(),
        code_challenge: None,
        csrf: credentials::opaque(24),
        user: None,
    };
    if get("response_type") != Some("code") {
        return s.redirect_error(&p, "unsupported_response_type", "only response_type=code is supported");
    }
    let scope = match get("scope") {
        Some(sc) => parse_scope(sc),
        None => s.cfg.default_scopes.clone(),
    };
    if let Some(bad) = scope.iter().find(|x| !s.cfg.scopes.contains(x)) {
        return s.redirect_error(&p, "invalid_scope", &format!("`{bad}` is not a scope of this server"));
    }
    p.scope = scope;
    match (get("code_challenge"), get("code_challenge_method")) {
        (Some(c), Some("S256")) => {
            if c.len() != 43 || !c.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_') {
                return s.redirect_error(
                    &p,
                    "invalid_request",
                    "code_challenge must be a base64url SHA-256 (43 characters)",
                );
            }
            p.code_challenge = Some(c.to_string());
        }
        (Some(_), _) => {
            return s.redirect_error(&p, "invalid_request", "code_challenge_method must be S256 (plain is refused)")
        }
        (None, Some(_)) => {
            return s.redirect_error(&p, "invalid_request", "code_challenge_method without code_challenge")
        }
        (None, None) if app.app_type == AppType::Spa => {
            return s.redirect_error(&p, "invalid_request", "single-page apps must use PKCE (code_challenge, S256)")
        }
        (None, None) => {}
    }
    let rid = credentials::opaque(24);
    let now = s.clock.now();
    let data = serde_json::to_string(&p).expect("a request serializes");
    if let Err(e) =
        s.store().create_authorization_request(&credentials::hash(&rid), &data, now, now + REQUEST_TTL_SECS).await
    {
        tracing::error!(error = %e, "storing an authorization request failed");
        return s.redirect_error(&p, "temporarily_unavailable", "the authorization server cannot reach its database");
    }
    match s.session_user(&headers).await {
        Some(user) => s.proceed(&rid, &p, &app, &user, tls.0).await,
        None => s.form(StatusCode::OK, &rid, &p, "Sign in", pages::login(&rid, &p.csrf, &app.name, "", None), tls.0),
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
    let form = super::token::Params::parse(&HeaderMap::new(), &body).unwrap_or_default();
    let (rid, p) = match s.pending_for_post(&headers, &form).await {
        Ok(x) => x,
        Err(r) => return r,
    };
    let app = match s.store().app(&p.client_id).await {
        Ok(Some(a)) => a,
        _ => return pages::error(StatusCode::BAD_REQUEST, "Unknown client."),
    };
    let username = form.get("username").unwrap_or_default();
    let password = form.get("password").unwrap_or_default();
    // Throttled (429 at once) and bounded (503) in the registry, per (user, address) and per address.
    let user = match s.registry.authenticate_user(username, password, ip.0).await {
        Ok(u) => u,
        Err(e @ (RegistryError::Throttled(_) | RegistryError::Busy)) => return super::throttle::refused_page(&e),
        Err(e) => {
            tracing::error!(error = %e, "login lookup failed");
            return pages::error(
                StatusCode::SERVICE_UNAVAILABLE,
                "The authorization server cannot reach its database.",
            );
        }
    };
    let Some(user) = user else {
        tracing::warn!(username, ip = ?ip.0, "login failed");
        let body = pages::login(&rid, &p.csrf, &app.name, username, Some("The username or password is not right."));
        return s.form(StatusCode::UNAUTHORIZED, &rid, &p, "Sign in", body, tls.0);
    };
    let sid = credentials::opaque(32);
    let now = s.clock.now();
    if let Err(e) =
        s.store().create_session(&credentials::hash(&sid), &user.username, now, now + SESSION_TTL_SECS).await
    {
        tracing::error!(error = %e, "storing a session failed");
        return pages::error(StatusCode::SERVICE_UNAVAILABLE, "The authorization server cannot reach its database.");
    }
    let mut r = s.proceed(&rid, &p, &app, &user.username, tls.0).await;
    let secure = if tls.0 { "; Secure" } else { "" };
    if let Ok(v) = HeaderValue::from_str(&format!(
        "{SESSION_COOKIE}={sid}; Path=/; Max-Age={SESSION_TTL_SECS}; HttpOnly; SameSite=Lax{secure}"
    )) {
        r.headers_mut().append(SET_COOKIE, v);
    }
    r
}

/// `POST /oauth2/consent`.
pub async fn consent(State(s): State<Arc<AuthServer>>, headers: HeaderMap, body: Bytes) -> Response {
    let form = super::token::Params::parse(&HeaderMap::new(), &body).unwrap_or_default();
    let (rid, p) = match s.pending_for_post(&headers, &form).await {
        Ok(x) => x,
        Err(r) => return r,
    };
    let signed_in = p.user.clone();
    let session = s.session_user(&headers).await;
    let Some(user) = signed_in.filter(|u| session.as_deref() == Some(u.as_str())) else {
        return pages::error(StatusCode::FORBIDDEN, "You are not signed in. Start again from the application.");
    };
    match form.get("decision") {
        Some("allow") => {
            if let Err(e) = s.store().add_consent(&user, &p.client_id, &p.scope.join(" "), s.clock.now()).await {
                tracing::error!(error = %e, "storing a consent failed");
            }
            s.finish(&rid, &p, &user).await
        }
        Some("deny") => {
            if let Err(e) = s.store().end_authorization_request(&credentials::hash(&rid)).await {
                tracing::error!(error = %e, "ending an authorization request failed");
            }
            s.redirect_error(&p, "access_denied", "the user denied the request")
        }
        _ => pages::error(StatusCode::BAD_REQUEST, "Choose Allow or Deny."),
    }
}
