//! The admin console: server-rendered pages on the admin listener (`/console/`) for administrators to manage OAuth2
//! applications and users in a browser. Every change is a call into the same [`Registry`] functions as the admin
//! API, so the rules and the refusal messages are the API's. Sessions and CSRF are in [`session`]; pages in
//! [`views`]; form conversions in [`forms`]; the handlers in `signin`, `apps` and `users`.

mod apps;
pub mod forms;
pub mod session;
mod signin;
mod users;
pub mod views;

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;

use axum::extract::connect_info::ConnectInfo;
use axum::extract::{FromRequestParts, Path};
use axum::http::header::{CACHE_CONTROL, CONTENT_TYPE, LOCATION, SET_COOKIE, X_CONTENT_TYPE_OPTIONS};
use axum::http::request::Parts;
use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;

use crate::registry::{Registry, RegistryError};
use crate::store::UserRecord;
use forms::Form;
use session::{Session, Sessions};
use views::{render, Frame, Message, Nav};

/// The console's shared state.
#[derive(Clone)]
pub struct Console {
    registry: Registry,
    sessions: Sessions,
}

impl Console {
    /// A console over `registry`, with no session yet; sessions expire by the registry's clock.
    pub fn new(registry: Registry) -> Self {
        let sessions = Sessions::new(registry.store().clone(), registry.clock().clone());
        registry.on_revocation(Arc::new(EndRevokedSessions {
            sessions: sessions.clone(),
            registry: registry.clone(),
            seen: tokio::sync::Mutex::new(0),
        }));
        Console { registry, sessions }
    }
}

/// Ends the sessions of a user disabled in this process the moment it happens (a request also checks the user, so
/// a user disabled by another process is caught at their next request).
struct EndRevokedSessions {
    sessions: Sessions,
    registry: Registry,
    seen: tokio::sync::Mutex<i64>,
}

#[async_trait::async_trait]
impl crate::registry::RevocationHook for EndRevokedSessions {
    async fn revocations_changed(&self) {
        let mut seen = self.seen.lock().await;
        let now = self.registry.clock().now();
        match self.registry.store().revocations_since(*seen, now).await {
            Ok(records) => {
                for r in records {
                    if r.kind == Some(crate::store::RevocationKind::User) {
                        if let Err(e) = self.sessions.end_user(&r.value, r.revoked_at).await {
                            tracing::error!(error = %e, "console: ending a disabled user's sessions failed");
                        }
                    }
                    *seen = (*seen).max(r.seq);
                }
            }
            Err(e) => tracing::error!(error = %e, "console: reading the revocation log failed"),
        }
    }
}

/// The console's routes (and `/` redirecting to it), for the admin listener.
pub fn router(console: Console) -> Router {
    Router::new()
        .route("/", get(|| async { see_other("/console/") }))
        .route("/console", get(|| async { see_other("/console/") }))
        .route("/console/", get(|| async { see_other("/console/apps") }))
        .route("/console/assets/{name}", get(|Path(name): Path<String>| async move { views::asset(&name) }))
        .route("/console/sign-in", get(signin::sign_in_page).post(signin::sign_in))
        .route("/console/sign-out", post(signin::sign_out))
        .route("/console/apps", get(apps::list_apps).post(apps::create_app))
        .route("/console/apps/new", get(apps::new_app))
        .route("/console/apps/{id}", get(apps::show_app).post(apps::save_app))
        .route("/console/apps/{id}/delete", get(apps::confirm_delete).post(apps::delete_app))
        .route("/console/apps/{id}/secrets", post(apps::add_secret))
        .route("/console/apps/{id}/secrets/{sid}/delete", post(apps::delete_secret))
        .route("/console/apps/{id}/keys", post(apps::add_key))
        .route("/console/apps/{id}/keys/generate", post(apps::generate_key))
        .route("/console/apps/{id}/keys/{kid}/delete", post(apps::delete_key))
        .route("/console/apps/{id}/logo", get(apps::logo).post(apps::upload_logo))
        .route("/console/users", get(users::list_users).post(users::add_user))
        .route("/console/users/{name}", post(users::change_user))
        .route("/console/{*rest}", get(not_found))
        .layer(axum::middleware::from_fn(same_origin_posts))
        .with_state(console)
}

/// Refuses every cross-site request that is not a GET or HEAD (a form posted from another site), before any session
/// or credential is looked at. The console's own forms are same-origin, with or without JavaScript.
async fn same_origin_posts(req: axum::extract::Request, next: axum::middleware::Next) -> Response {
    let safe = matches!(*req.method(), http::Method::GET | http::Method::HEAD);
    if !safe {
        if let Some(why) = crate::admin::cross_site(req.headers()) {
            tracing::warn!(reason = why, path = %req.uri().path(), "console: cross-site request refused");
            return message(
                StatusCode::FORBIDDEN,
                "Form refused",
                None,
                "This form was sent from another site, so it is refused. Use the console itself.",
                "/console/apps",
            );
        }
    }
    next.run(req).await
}

fn see_other(to: &str) -> Response {
    let mut r = StatusCode::SEE_OTHER.into_response();
    if let Ok(v) = HeaderValue::from_str(to) {
        r.headers_mut().insert(LOCATION, v);
    }
    r.headers_mut().insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
    r
}

/// A one-message page.
fn message(status: StatusCode, title: &str, nav: Option<Nav>, text: impl Into<String>, back: &str) -> Response {
    let frame = Frame { nav, ..Frame::public(title) };
    render(status, &Message { frame, message: text.into(), back: back.into() })
}

async fn not_found(who: Option<SignedIn>) -> Response {
    let nav = who.map(|w| w.nav("apps"));
    message(StatusCode::NOT_FOUND, "Not found", nav, "There is no such page.", "/console/apps")
}

/// A signed-in administrator, checked on every request: a live session, and a user who still exists, is enabled and
/// is an administrator. Anything else ends the session and leads to the sign-in page.
pub struct SignedIn {
    session: Session,
    sessions: Sessions,
    /// The user, as stored now.
    pub user: UserRecord,
}

impl SignedIn {
    fn nav(&self, section: &'static str) -> Nav {
        Nav { username: self.user.username.clone(), csrf: self.session.csrf.clone(), section }
    }

    fn frame(&self, title: &str, section: &'static str) -> Frame {
        Frame { nav: Some(self.nav(section)), ..Frame::public(title) }
    }

    fn csrf(&self) -> String {
        self.session.csrf.clone()
    }

    /// The refusal of a form sent a second time (a reload of the page that answered it); `None` the first time.
    async fn resent(&self, form: &Form, back: &str) -> Option<Response> {
        if self.sessions.first_use(&self.session, form.get("once")).await {
            return None;
        }
        Some(message(
            StatusCode::CONFLICT,
            "Already sent",
            Some(self.nav("apps")),
            "This form was already sent (the page was reloaded?), so nothing new is made: a secret or private key is \
             shown only once. Open the app to see where it stands, and add another one if you need it.",
            back,
        ))
    }

    /// The refusal of a form whose CSRF token is not this session's; `None` when it is.
    fn refusal(&self, form: &Form) -> Option<Response> {
        if session::same_token(form.get("csrf"), &self.session.csrf) {
            None
        } else {
            tracing::warn!(username = %self.user.username, "console: a form without this session's CSRF token");
            Some(message(
                StatusCode::FORBIDDEN,
                "Form refused",
                Some(self.nav("apps")),
                "This form did not come from your console session (or the session changed). Reload the page and \
                 try again.",
                "/console/apps",
            ))
        }
    }

    fn error(&self, e: RegistryError) -> Response {
        let nav = Some(self.nav("apps"));
        match e {
            RegistryError::NotFound(what) => {
                message(StatusCode::NOT_FOUND, "Not found", nav, format!("{what} not found"), "/console/apps")
            }
            RegistryError::Store(e) => unavailable(nav, e),
            e @ RegistryError::Busy => unavailable(nav, e),
            other => message(StatusCode::BAD_REQUEST, "Refused", nav, other.to_string(), "/console/apps"),
        }
    }
}

/// The answer when the database cannot be reached (the cause is logged, not shown).
fn unavailable(nav: Option<Nav>, e: impl std::fmt::Display) -> Response {
    tracing::error!(error = %e, "console: storage failed");
    message(
        StatusCode::SERVICE_UNAVAILABLE,
        "Unavailable",
        nav,
        "The console cannot reach its database. Try again in a moment.",
        "/console/apps",
    )
}

impl FromRequestParts<Console> for SignedIn {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, c: &Console) -> Result<Self, Self::Rejection> {
        let sid = session::cookie(&parts.headers, session::COOKIE).unwrap_or_default();
        let Some(session) = c.sessions.get(sid).await.map_err(|e| unavailable(None, e))? else {
            return Err(see_other("/console/sign-in"));
        };
        match c.registry.store().user_by_id(&session.user_id).await {
            Ok(Some(user)) if user.is_admin && !user.disabled => {
                Ok(SignedIn { session, sessions: c.sessions.clone(), user })
            }
            Ok(_) => {
                c.sessions.end(sid).await.map_err(|e| unavailable(None, e))?;
                Err(see_other("/console/sign-in"))
            }
            Err(e) => Err(unavailable(None, e)),
        }
    }
}

impl axum::extract::OptionalFromRequestParts<Console> for SignedIn {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, c: &Console) -> Result<Option<Self>, Self::Rejection> {
        Ok(<SignedIn as FromRequestParts<Console>>::from_request_parts(parts, c).await.ok())
    }
}

fn flash(q: &HashMap<String, String>) -> Option<&'static str> {
    Some(match q.get("done")?.as_str() {
        "created" => "The app is created.",
        "saved" => "Saved.",
        "deleted" => "The app is deleted.",
        "secret-deleted" => "The client secret is deleted.",
        "key-added" => "The public key is added.",
        "key-deleted" => "The public key is deleted.",
        "logo" => "The logo is uploaded.",
        "user-added" => "The user is added.",
        "user-changed" => "The user is changed.",
        _ => return None,
    })
}
