//! Signing in to the console and out of it: the form, the password check with its throttle, the session cookie.

use axum::body::Bytes;
use axum::extract::State;
use axum::http::request::Parts;
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;

use super::forms::Form;
use super::views::{self, render, Frame};
use super::*;

fn sign_in_form(status: StatusCode, csrf: &str, username: &str, error: Option<&str>) -> Response {
    let frame = Frame { error: error.map(str::to_string), ..Frame::public("Sign in") };
    let mut r = render(status, &views::SignIn { frame, csrf: csrf.into(), username: username.into() });
    r.headers_mut()
        .append(SET_COOKIE, session::set_cookie(session::SIGN_IN_COOKIE, csrf, "/console/sign-in", Some(3600)));
    r
}

pub(super) async fn sign_in_page(who: Option<SignedIn>) -> Response {
    if who.is_some() {
        return see_other("/console/apps");
    }
    sign_in_form(StatusCode::OK, &crate::registry::credentials::opaque(32), "", None)
}

pub(super) async fn sign_in(State(c): State<Console>, parts: Parts, body: Bytes) -> Response {
    let form = Form::urlencoded(&body);
    let username = form.get("username");
    let expected = session::cookie(&parts.headers, session::SIGN_IN_COOKIE).unwrap_or_default();
    let fresh = crate::registry::credentials::opaque(32);
    if !session::same_token(form.get("csrf"), expected) {
        return sign_in_form(
            StatusCode::FORBIDDEN,
            &fresh,
            username,
            Some("The sign-in form expired or did not come from this console. Sign in again."),
        );
    }
    let addr = parts.extensions.get::<ConnectInfo<SocketAddr>>().map(|c| c.0.ip());
    let ip = addr.map(|a| a.to_string()).unwrap_or_default();
    // Throttled (429 at once) and bounded (503) in the registry, per (user, address) and per address, shared with
    // the sign-in page and the admin API's Basic authentication.
    let user = match c.registry.authenticate_admin(username, form.get("password"), addr).await {
        Ok(u) => u,
        Err(e @ (RegistryError::Throttled(_) | RegistryError::Busy)) => {
            let secs = if let RegistryError::Throttled(s) = e { s } else { 1 };
            let (status, text) = match e {
                RegistryError::Throttled(_) => (
                    StatusCode::TOO_MANY_REQUESTS,
                    format!("Too many failed sign-ins. Wait {secs} seconds, then try again."),
                ),
                _ => (StatusCode::SERVICE_UNAVAILABLE, "The console is busy. Try again in a moment.".to_string()),
            };
            tracing::warn!(username, ip, "console: sign-in refused before the password check");
            let mut r = sign_in_form(status, expected, username, Some(&text));
            r.headers_mut().insert(axum::http::header::RETRY_AFTER, HeaderValue::from(secs));
            return r;
        }
        Err(e) => {
            tracing::error!(error = %e, "console: sign-in lookup failed");
            return sign_in_form(
                StatusCode::SERVICE_UNAVAILABLE,
                expected,
                username,
                Some("The database cannot be reached."),
            );
        }
    };
    let user = match user {
        None => {
            tracing::warn!(username, ip, "console: sign-in failed");
            return sign_in_form(
                StatusCode::UNAUTHORIZED,
                expected,
                username,
                Some("The username or password is not right."),
            );
        }
        Some(u) if !u.is_admin => {
            tracing::warn!(username, ip, "console: sign-in refused to a user who is not an administrator");
            return sign_in_form(
                StatusCode::FORBIDDEN,
                expected,
                username,
                Some("Only administrators may sign in to the console. Ask an administrator to make you one."),
            );
        }
        Some(u) => u,
    };
    // A new session id at every sign-in: a planted or earlier cookie never becomes a signed-in session.
    if let Some(old) = session::cookie(&parts.headers, session::COOKIE) {
        if let Err(e) = c.sessions.end(old).await {
            tracing::error!(error = %e, "console: ending the previous session failed");
        }
    }
    let sid = match c.sessions.start(&user.id, &user.username).await {
        Ok((sid, _)) => sid,
        Err(e) => return unavailable(None, e),
    };
    tracing::info!(username, "console: signed in");
    let mut r = see_other("/console/apps");
    r.headers_mut().append(SET_COOKIE, session::set_cookie(session::COOKIE, &sid, "/console", None));
    r.headers_mut().append(SET_COOKIE, session::set_cookie(session::SIGN_IN_COOKIE, "", "/console/sign-in", Some(0)));
    r
}

pub(super) async fn sign_out(State(c): State<Console>, who: SignedIn, headers: HeaderMap, body: Bytes) -> Response {
    if let Some(r) = who.refusal(&Form::urlencoded(&body)) {
        return r;
    }
    if let Some(sid) = session::cookie(&headers, session::COOKIE) {
        if let Err(e) = c.sessions.end(sid).await {
            tracing::error!(error = %e, "console: ending a session failed");
        }
    }
    let mut r = see_other("/console/sign-in");
    r.headers_mut().append(SET_COOKIE, session::set_cookie(session::COOKIE, "", "/console", Some(0)));
    r
}
