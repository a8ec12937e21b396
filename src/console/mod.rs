//! The admin console: server-rendered pages on the admin listener (`/console/`) for administrators to manage OAuth2
//! applications and users in a browser. Every change is a call into the same [`Registry`] functions as the admin
//! API, so the rules and the refusal messages are the API's. Sessions and CSRF are in [`session`]; pages in
//! [`views`]; form conversions in [`forms`].

pub mod forms;
pub mod session;
pub mod views;

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::connect_info::ConnectInfo;
use axum::extract::{FromRequestParts, Multipart, Path, Query, State};
use axum::http::header::{CACHE_CONTROL, CONTENT_TYPE, LOCATION, SET_COOKIE, X_CONTENT_TYPE_OPTIONS};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use serde_json::{json, Value};

use crate::registry::{Registry, RegistryError};
use crate::store::UserRecord;
use forms::Form;
use session::{Session, Sessions};
use views::{render, text, type_label, when, Frame, Message, Nav};

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
        .route("/console/sign-in", get(sign_in_page).post(sign_in))
        .route("/console/sign-out", post(sign_out))
        .route("/console/apps", get(list_apps).post(create_app))
        .route("/console/apps/new", get(new_app))
        .route("/console/apps/{id}", get(show_app).post(save_app))
        .route("/console/apps/{id}/delete", get(confirm_delete).post(delete_app))
        .route("/console/apps/{id}/secrets", post(add_secret))
        .route("/console/apps/{id}/secrets/{sid}/delete", post(delete_secret))
        .route("/console/apps/{id}/keys", post(add_key))
        .route("/console/apps/{id}/keys/generate", post(generate_key))
        .route("/console/apps/{id}/keys/{kid}/delete", post(delete_key))
        .route("/console/apps/{id}/logo", get(logo).post(upload_logo))
        .route("/console/users", get(list_users).post(add_user))
        .route("/console/users/{name}", post(change_user))
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

// ---- Sign-in and sign-out ----

fn sign_in_form(status: StatusCode, csrf: &str, username: &str, error: Option<&str>) -> Response {
    let frame = Frame { error: error.map(str::to_string), ..Frame::public("Sign in") };
    let mut r = render(status, &views::SignIn { frame, csrf: csrf.into(), username: username.into() });
    r.headers_mut()
        .append(SET_COOKIE, session::set_cookie(session::SIGN_IN_COOKIE, csrf, "/console/sign-in", Some(3600)));
    r
}

async fn sign_in_page(who: Option<SignedIn>) -> Response {
    if who.is_some() {
        return see_other("/console/apps");
    }
    sign_in_form(StatusCode::OK, &crate::registry::credentials::opaque(32), "", None)
}

async fn sign_in(State(c): State<Console>, parts: Parts, body: Bytes) -> Response {
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

async fn sign_out(State(c): State<Console>, who: SignedIn, headers: HeaderMap, body: Bytes) -> Response {
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

// ---- Applications ----

fn limit_reason(c: &Console, used: usize) -> Option<String> {
    (used as i64 >= c.registry.max_apps()).then(|| RegistryError::LimitReached(c.registry.max_apps()).to_string())
}

async fn list_apps(State(c): State<Console>, who: SignedIn, Query(q): Query<HashMap<String, String>>) -> Response {
    let mut apps = match c.registry.apps().await {
        Ok(a) => a,
        Err(e) => return who.error(e),
    };
    apps.sort_by_key(|a| (a.0["created_at"].as_i64().unwrap_or_default(), text(&a.0, "name")));
    let rows: Vec<views::AppRow> = apps
        .iter()
        .map(|a| {
            let (created, created_iso) = when(a.0["created_at"].as_i64().unwrap_or_default());
            views::AppRow {
                client_id: text(&a.0, "client_id"),
                name: text(&a.0, "name"),
                type_label: type_label(&text(&a.0, "type")),
                created,
                created_iso,
            }
        })
        .collect();
    let frame = Frame { flash: flash(&q), ..who.frame("OAuth2 Applications", "apps") };
    let page = views::Apps {
        frame,
        csrf: who.csrf(),
        used: rows.len(),
        max: c.registry.max_apps(),
        limit_reason: limit_reason(&c, rows.len()),
        apps: rows,
        create: views::CreateForm::empty(),
    };
    render(StatusCode::OK, &page)
}

fn new_app_page(
    who: &SignedIn,
    status: StatusCode,
    limit_reason: Option<String>,
    form: Option<&Form>,
    errors: HashMap<String, String>,
) -> Response {
    let page = views::NewApp {
        frame: who.frame("Create app integration", "apps"),
        csrf: who.csrf(),
        limit_reason,
        create: views::CreateForm {
            kind: form.map(|f| f.get("type").to_string()).unwrap_or_default(),
            name: form.map(|f| f.get("name").to_string()).unwrap_or_default(),
            errors,
            ..views::CreateForm::empty()
        },
    };
    render(status, &page)
}

async fn new_app(State(c): State<Console>, who: SignedIn) -> Response {
    match c.registry.apps().await {
        Ok(apps) => new_app_page(&who, StatusCode::OK, limit_reason(&c, apps.len()), None, HashMap::new()),
        Err(e) => who.error(e),
    }
}

async fn create_app(State(c): State<Console>, who: SignedIn, body: Bytes) -> Response {
    let form = Form::urlencoded(&body);
    if let Some(r) = who.refusal(&form) {
        return r;
    }
    if let Some(r) = who.resent(&form, "/console/apps").await {
        return r;
    }
    let mut input = json!({"name": form.get("name")});
    if form.has("type") {
        input["type"] = form.get("type").into();
    }
    match c.registry.create_app(&input).await {
        Ok((view, secret)) => {
            let id = text(&view.0, "client_id");
            match secret {
                Some(secret) => {
                    let mut page = app_page(&who, &view.0, None);
                    page.frame.flash = Some("The app is created.");
                    page.new_secret = Some(secret.expose().to_string());
                    render(StatusCode::CREATED, &page)
                }
                None => see_other(&format!("/console/apps/{id}?done=created")),
            }
        }
        Err(RegistryError::Invalid(f)) => {
            let errors = HashMap::from([(f.field.clone(), f.to_string())]);
            new_app_page(&who, StatusCode::UNPROCESSABLE_ENTITY, None, Some(&form), errors)
        }
        Err(e @ RegistryError::LimitReached(_)) => {
            new_app_page(&who, StatusCode::CONFLICT, Some(e.to_string()), Some(&form), HashMap::new())
        }
        Err(e) => who.error(e),
    }
}

/// An app's page from its view; the settings form shows `submitted` instead when given (after a refusal).
fn app_page(who: &SignedIn, view: &Value, submitted: Option<&Form>) -> views::AppPage {
    let id = text(view, "client_id");
    let kind = text(view, "type");
    let (created, created_iso) = when(view["created_at"].as_i64().unwrap_or_default());
    let (updated, updated_iso) = when(view["updated_at"].as_i64().unwrap_or_default());
    let list = |field: &str| view[field].as_array().cloned().unwrap_or_default();
    let secrets = list("secrets")
        .iter()
        .map(|s| views::SecretRow {
            id: text(s, "id"),
            created: when(s["created_at"].as_i64().unwrap_or_default()).0,
            last_used: s["last_used_at"].as_i64().map(|t| when(t).0).unwrap_or_else(|| "never".into()),
            note: text(s, "note"),
        })
        .collect();
    let keys = list("public_keys")
        .iter()
        .map(|k| views::KeyRow {
            id: text(k, "id"),
            alg: text(k, "alg"),
            created: when(k["created_at"].as_i64().unwrap_or_default()).0,
            note: text(k, "note"),
        })
        .collect();
    views::AppPage {
        frame: who.frame(&text(view, "name"), "apps"),
        csrf: who.csrf(),
        has_logo: text(view, "logo_url") == format!("/oauth2/logo/{id}"),
        fields: forms::settings_fields(&kind, view, submitted),
        rotation: submitted.map(|f| f.has("refresh_token_rotation")).unwrap_or(view["refresh_token_rotation"] == true),
        rotation_error: None,
        type_label: type_label(&kind),
        name: text(view, "name"),
        client_id: id,
        kind,
        created,
        created_iso,
        updated,
        updated_iso,
        secrets,
        keys,
        new_secret: None,
        new_key: None,
        secret_note: String::new(),
        secret_note_error: None,
        key_text: String::new(),
        key_error: None,
        generate_error: None,
        logo_error: None,
    }
}

/// An app's page changed by `edit` (a secret or key shown this once, a refusal at its form), with `status`.
async fn app_page_with(
    c: &Console,
    who: &SignedIn,
    id: &str,
    status: StatusCode,
    edit: impl FnOnce(&mut views::AppPage),
) -> Response {
    match c.registry.app(id).await {
        Ok(view) => {
            let mut page = app_page(who, &view.0, None);
            edit(&mut page);
            render(status, &page)
        }
        Err(e) => who.error(e),
    }
}

async fn show_app(
    State(c): State<Console>,
    who: SignedIn,
    Path(id): Path<String>,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    app_page_with(&c, &who, &id, StatusCode::OK, |page| {
        page.frame.flash = flash(&q);
    })
    .await
}

async fn save_app(State(c): State<Console>, who: SignedIn, Path(id): Path<String>, body: Bytes) -> Response {
    let form = Form::urlencoded(&body);
    if let Some(r) = who.refusal(&form) {
        return r;
    }
    let view = match c.registry.app(&id).await {
        Ok(v) => v.0,
        Err(e) => return who.error(e),
    };
    let kind = text(&view, "type");
    match c.registry.update_app(&id, &forms::settings_input(&kind, &form, &view)).await {
        Ok(_) => see_other(&format!("/console/apps/{id}?done=saved")),
        Err(RegistryError::Invalid(f)) => {
            let mut page = app_page(&who, &view, Some(&form));
            let message = f.to_string();
            if let Some(field) = page.fields.iter_mut().find(|x| x.name == f.field) {
                field.error = Some(message);
            } else if f.field == "refresh_token_rotation" && kind == "web" {
                page.rotation_error = Some(message);
            } else {
                page.frame.error = Some(message);
            }
            if page.frame.error.is_none() {
                page.frame.error = Some("The settings are not saved: see the field marked below.".into());
            }
            render(StatusCode::UNPROCESSABLE_ENTITY, &page)
        }
        Err(e) => who.error(e),
    }
}

async fn confirm_delete(State(c): State<Console>, who: SignedIn, Path(id): Path<String>) -> Response {
    match c.registry.app(&id).await {
        Ok(v) => {
            let name = text(&v.0, "name");
            let frame = who.frame(&format!("Delete {name}"), "apps");
            render(StatusCode::OK, &views::DeleteApp { frame, csrf: who.csrf(), client_id: id, name })
        }
        Err(e) => who.error(e),
    }
}

async fn delete_app(State(c): State<Console>, who: SignedIn, Path(id): Path<String>, body: Bytes) -> Response {
    if let Some(r) = who.refusal(&Form::urlencoded(&body)) {
        return r;
    }
    match c.registry.delete_app(&id).await {
        Ok(()) => {
            tracing::info!(client_id = %id, username = %who.user.username, "console: app deleted");
            see_other("/console/apps?done=deleted")
        }
        Err(e) => who.error(e),
    }
}

async fn add_secret(State(c): State<Console>, who: SignedIn, Path(id): Path<String>, body: Bytes) -> Response {
    let form = Form::urlencoded(&body);
    if let Some(r) = who.refusal(&form) {
        return r;
    }
    if let Some(r) = who.resent(&form, &format!("/console/apps/{id}")).await {
        return r;
    }
    let note = Some(form.get("note")).filter(|n| !n.is_empty());
    match c.registry.add_secret(&id, note).await {
        Ok((_, secret)) => {
            app_page_with(&c, &who, &id, StatusCode::CREATED, |page| {
                page.frame.flash = Some("A client secret is added.");
                page.new_secret = Some(secret.expose().to_string());
            })
            .await
        }
        Err(RegistryError::Invalid(f)) => {
            app_page_with(&c, &who, &id, StatusCode::UNPROCESSABLE_ENTITY, |page| {
                page.secret_note = form.get("note").to_string();
                page.secret_note_error = Some(f.to_string());
            })
            .await
        }
        Err(e) => who.error(e),
    }
}

async fn delete_secret(
    State(c): State<Console>,
    who: SignedIn,
    Path((id, sid)): Path<(String, String)>,
    body: Bytes,
) -> Response {
    if let Some(r) = who.refusal(&Form::urlencoded(&body)) {
        return r;
    }
    match c.registry.delete_secret(&id, &sid).await {
        Ok(()) => see_other(&format!("/console/apps/{id}?done=secret-deleted")),
        Err(e) => who.error(e),
    }
}

async fn multipart_form(who: &SignedIn, mp: Multipart) -> Result<Form, Response> {
    let form = Form::multipart(mp)
        .await
        .map_err(|e| message(StatusCode::BAD_REQUEST, "Upload refused", Some(who.nav("apps")), e, "/console/apps"))?;
    match who.refusal(&form) {
        Some(r) => Err(r),
        None => Ok(form),
    }
}

async fn add_key(State(c): State<Console>, who: SignedIn, Path(id): Path<String>, mp: Multipart) -> Response {
    let form = match multipart_form(&who, mp).await {
        Ok(f) => f,
        Err(r) => return r,
    };
    let pasted = form.get("public_key").trim().to_string();
    let key = match form.file("public_key_file") {
        Some((_, bytes)) => String::from_utf8_lossy(bytes).trim().to_string(),
        None => pasted.clone(),
    };
    let mut input = json!({});
    if !key.is_empty() {
        input["public_key"] = key.into();
    }
    if !form.get("note").is_empty() {
        input["note"] = form.get("note").into();
    }
    match c.registry.add_key(&id, &input).await {
        Ok(_) => see_other(&format!("/console/apps/{id}?done=key-added")),
        Err(RegistryError::Invalid(f)) => {
            app_page_with(&c, &who, &id, StatusCode::UNPROCESSABLE_ENTITY, |page| {
                page.key_text = pasted;
                page.key_error = Some(f.to_string());
            })
            .await
        }
        Err(e) => who.error(e),
    }
}

async fn generate_key(State(c): State<Console>, who: SignedIn, Path(id): Path<String>, body: Bytes) -> Response {
    let form = Form::urlencoded(&body);
    if let Some(r) = who.refusal(&form) {
        return r;
    }
    if let Some(r) = who.resent(&form, &format!("/console/apps/{id}")).await {
        return r;
    }
    let alg = Some(form.get("alg")).filter(|a| !a.is_empty());
    match c.registry.generate_key(&id, alg, None).await {
        Ok((view, private)) => {
            app_page_with(&c, &who, &id, StatusCode::CREATED, |page| {
                let kid = text(&view, "id");
                page.frame.flash = Some("A key pair is generated.");
                page.new_key = Some(views::NewKey {
                    filename: format!("tokengate-{kid}.pem"),
                    kid,
                    pem: private.expose().to_string(),
                });
            })
            .await
        }
        Err(RegistryError::Invalid(f)) => {
            app_page_with(&c, &who, &id, StatusCode::UNPROCESSABLE_ENTITY, |page| {
                page.generate_error = Some(f.to_string());
            })
            .await
        }
        Err(e) => who.error(e),
    }
}

async fn delete_key(
    State(c): State<Console>,
    who: SignedIn,
    Path((id, kid)): Path<(String, String)>,
    body: Bytes,
) -> Response {
    if let Some(r) = who.refusal(&Form::urlencoded(&body)) {
        return r;
    }
    match c.registry.delete_key(&id, &kid).await {
        Ok(()) => see_other(&format!("/console/apps/{id}?done=key-deleted")),
        Err(e) => who.error(e),
    }
}

async fn logo(State(c): State<Console>, who: SignedIn, Path(id): Path<String>) -> Response {
    match c.registry.logo(&id).await {
        Ok((ct, data)) => (
            [
                (CONTENT_TYPE, ct),
                (CACHE_CONTROL, "no-store".to_string()),
                (X_CONTENT_TYPE_OPTIONS, "nosniff".to_string()),
            ],
            data,
        )
            .into_response(),
        Err(e) => who.error(e),
    }
}

async fn upload_logo(State(c): State<Console>, who: SignedIn, Path(id): Path<String>, mp: Multipart) -> Response {
    let form = match multipart_form(&who, mp).await {
        Ok(f) => f,
        Err(r) => return r,
    };
    let result = match form.file("logo") {
        Some((ct, bytes)) => c.registry.set_logo(&id, ct, bytes).await,
        None => Err(crate::registry::FieldError::new("logo", "choose an image file to upload").into()),
    };
    match result {
        Ok(_) => see_other(&format!("/console/apps/{id}?done=logo")),
        Err(RegistryError::Invalid(f)) => {
            app_page_with(&c, &who, &id, StatusCode::UNPROCESSABLE_ENTITY, |page| {
                page.logo_error = Some(f.to_string());
            })
            .await
        }
        Err(e) => who.error(e),
    }
}

// ---- Users ----

async fn users_page(
    c: &Console,
    who: &SignedIn,
    status: StatusCode,
    flash: Option<&'static str>,
    error: Option<String>,
    add: Option<(&Form, Option<String>, Option<String>)>,
) -> Response {
    let users = match c.registry.users().await {
        Ok(u) => u,
        Err(e) => return who.error(e),
    };
    let rows = users
        .into_iter()
        .map(|u| views::UserRow {
            is_me: u.username == who.user.username,
            created: when(u.created_at).0,
            username: u.username,
            is_admin: u.is_admin,
            disabled: u.disabled,
        })
        .collect();
    let (add_username, add_admin, username_error, password_error) = match add {
        Some((f, ue, pe)) => (f.get("username").to_string(), f.has("is_admin"), ue, pe),
        None => (String::new(), false, None, None),
    };
    let frame = Frame { flash, error, ..who.frame("Users", "users") };
    let page =
        views::Users { frame, csrf: who.csrf(), users: rows, add_username, add_admin, username_error, password_error };
    render(status, &page)
}

async fn list_users(State(c): State<Console>, who: SignedIn, Query(q): Query<HashMap<String, String>>) -> Response {
    users_page(&c, &who, StatusCode::OK, flash(&q), None, None).await
}

async fn add_user(State(c): State<Console>, who: SignedIn, body: Bytes) -> Response {
    let form = Form::urlencoded(&body);
    if let Some(r) = who.refusal(&form) {
        return r;
    }
    let result = c.registry.add_user(form.get("username"), form.get("password"), form.has("is_admin")).await;
    match result {
        Ok(_) => see_other("/console/users?done=user-added"),
        Err(RegistryError::Invalid(f)) => {
            let msg = Some(f.to_string());
            let (ue, pe) = if f.field == "password" { (None, msg) } else { (msg, None) };
            users_page(&c, &who, StatusCode::UNPROCESSABLE_ENTITY, None, None, Some((&form, ue, pe))).await
        }
        Err(e @ RegistryError::Conflict(_)) => {
            let add = Some((&form, Some(e.to_string()), None));
            users_page(&c, &who, StatusCode::CONFLICT, None, None, add).await
        }
        Err(e) => who.error(e),
    }
}

async fn change_user(State(c): State<Console>, who: SignedIn, Path(name): Path<String>, body: Bytes) -> Response {
    let form = Form::urlencoded(&body);
    if let Some(r) = who.refusal(&form) {
        return r;
    }
    let change = match form.get("action") {
        "disable" => json!({"disabled": true}),
        "enable" => json!({"disabled": false}),
        "make-admin" => json!({"is_admin": true}),
        "remove-admin" => json!({"is_admin": false}),
        other => {
            let error = format!("`{other}` is not an action on a user");
            return users_page(&c, &who, StatusCode::BAD_REQUEST, None, Some(error), None).await;
        }
    };
    // Never lock yourself out: there is always at least one administrator, the one signed in.
    if name == who.user.username && (change["disabled"] == true || change["is_admin"] == false) {
        let error = "You cannot disable yourself or remove your own administrator role: ask another administrator.";
        return users_page(&c, &who, StatusCode::CONFLICT, None, Some(error.into()), None).await;
    }
    match c.registry.update_user(&name, &change).await {
        Ok(_) => {
            tracing::info!(username = %name, by = %who.user.username, change = %change, "console: user changed");
            see_other("/console/users?done=user-changed")
        }
        Err(e) => who.error(e),
    }
}
