//! The admin API: JSON over HTTP on its own listener, for administrators only (HTTP Basic with an admin's password,
//! or an admin API token). Every operation is a call into the [`Registry`]; errors map to HTTP in [`ApiError`].
//! Cross-site requests are refused (`same_origin_only`), and every body must be JSON (the logo's PUT: an image),
//! which no HTML form can send.

use std::sync::Mutex;
use std::time::Duration;

use async_trait::async_trait;
use axum::body::Bytes;
use axum::extract::connect_info::ConnectInfo;
use axum::extract::{DefaultBodyLimit, FromRequestParts, Path, Query, Request, State};
use axum::http::header::{
    AUTHORIZATION, CACHE_CONTROL, CONTENT_LENGTH, CONTENT_TYPE, HOST, ORIGIN, RETRY_AFTER, TRANSFER_ENCODING,
    WWW_AUTHENTICATE,
};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, post};
use axum::{Json, Router};
use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use serde_json::{json, Value};
use sha2::{Digest, Sha256};

use crate::registry::{credentials, shown_once, AppInput, Registry, RegistryError};
use crate::store::UserRecord;

/// The OpenAPI description of this API.
pub const OPENAPI: &str = include_str!("../../docs/openapi.yaml");

/// An error answer: status, RFC-style code, description, and the field when one is to blame.
#[derive(Debug)]
pub struct ApiError {
    status: StatusCode,
    code: &'static str,
    description: String,
    field: Option<String>,
    retry_after: Option<u64>,
}

impl ApiError {
    fn new(status: StatusCode, code: &'static str, description: impl Into<String>) -> Self {
        ApiError { status, code, description: description.into(), field: None, retry_after: None }
    }

    fn unauthorized() -> Self {
        Self::new(
            StatusCode::UNAUTHORIZED,
            "unauthorized",
            "admin credentials are required (HTTP Basic or an admin API token)",
        )
    }
}

impl From<RegistryError> for ApiError {
    fn from(e: RegistryError) -> Self {
        match e {
            RegistryError::BadRequest(m) => Self::new(StatusCode::BAD_REQUEST, "invalid_request", m),
            RegistryError::Invalid(f) => ApiError {
                status: StatusCode::UNPROCESSABLE_ENTITY,
                code: "invalid_field",
                description: f.to_string(),
                field: Some(f.field),
                retry_after: None,
            },
            RegistryError::NotFound(what) => Self::new(StatusCode::NOT_FOUND, "not_found", format!("{what} not found")),
            RegistryError::Conflict(m) => Self::new(StatusCode::CONFLICT, "conflict", m),
            e @ RegistryError::LimitReached(_) => Self::new(StatusCode::CONFLICT, "app_limit_reached", e.to_string()),
            e @ RegistryError::Throttled(secs) => ApiError {
                retry_after: Some(secs),
                ..Self::new(StatusCode::TOO_MANY_REQUESTS, "too_many_attempts", e.to_string())
            },
            e @ RegistryError::Busy => ApiError {
                retry_after: Some(1),
                ..Self::new(StatusCode::SERVICE_UNAVAILABLE, "temporarily_unavailable", e.to_string())
            },
            RegistryError::Store(e) => {
                tracing::error!(error = %e, "admin API: storage failed");
                Self::new(StatusCode::SERVICE_UNAVAILABLE, "temporarily_unavailable", e.to_string())
            }
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut body = json!({"error": self.code, "error_description": self.description});
        if let Some(f) = self.field {
            body["field"] = f.into();
        }
        let mut resp = (self.status, [(CACHE_CONTROL, "no-store")], Json(body)).into_response();
        if self.status == StatusCode::UNAUTHORIZED {
            resp.headers_mut().insert(WWW_AUTHENTICATE, HeaderValue::from_static("Basic realm=\"tokengate-admin\""));
        }
        if let Some(secs) = self.retry_after {
            resp.headers_mut().insert(RETRY_AFTER, HeaderValue::from(secs));
        }
        resp
    }
}

type ApiResult = Result<Response, ApiError>;

fn ok(status: StatusCode, body: Value) -> ApiResult {
    Ok((status, [(CACHE_CONTROL, "no-store")], Json(body)).into_response())
}

/// Shared state of the admin API.
#[derive(Clone)]
pub struct AdminState {
    registry: Registry,
    /// Verified Basic credentials: SHA-256(user:password) -> (user id, password hash at the time), one minute, so
    /// that Argon2 runs once per minute per admin rather than per request.
    verified: moka::sync::Cache<[u8; 32], (String, String)>,
}

impl AdminState {
    /// State over `registry`.
    pub fn new(registry: Registry) -> Self {
        AdminState {
            registry,
            verified: moka::sync::Cache::builder().max_capacity(1000).time_to_live(Duration::from_secs(60)).build(),
        }
    }
}

/// An authenticated administrator.
pub struct Admin(pub UserRecord);

/// A JSON object body. An empty body is `{}` only where every field is optional.
fn parse_json(body: &Bytes) -> Result<Value, ApiError> {
    let v: Value = serde_json::from_slice(body).map_err(|e| {
        ApiError::new(StatusCode::BAD_REQUEST, "invalid_request", format!("the body is not valid JSON: {e}"))
    })?;
    if !v.is_object() {
        return Err(ApiError::new(StatusCode::BAD_REQUEST, "invalid_request", "the body must be a JSON object"));
    }
    Ok(v)
}

fn parse_optional_json(body: &Bytes, fields: &[&str]) -> Result<Value, ApiError> {
    let v = if body.iter().all(u8::is_ascii_whitespace) { json!({}) } else { parse_json(body)? };
    if let Some(k) = v.as_object().and_then(|o| o.keys().find(|k| !fields.contains(&k.as_str()))) {
        return Err(RegistryError::Invalid(crate::registry::FieldError::new(k, "unknown field")).into());
    }
    Ok(v)
}

fn no_content() -> ApiResult {
    Ok((StatusCode::NO_CONTENT, [(CACHE_CONTROL, "no-store")]).into_response())
}

/// Gives every answer `Cache-Control: no-store`, and turns the framework's own plain-text errors (unknown path,
/// wrong method, body too large) into the API's JSON error form.
async fn api_answers(resp: Response) -> Response {
    let is_json = resp.headers().get(CONTENT_TYPE).is_some_and(|v| v.as_bytes().starts_with(b"application/json"));
    let status = resp.status();
    let mut resp = if (status.is_client_error() || status.is_server_error()) && !is_json {
        let (code, description) = match status {
            StatusCode::NOT_FOUND => ("not_found", "no such endpoint"),
            StatusCode::METHOD_NOT_ALLOWED => ("invalid_request", "this method is not allowed here"),
            StatusCode::PAYLOAD_TOO_LARGE => ("invalid_request", "the request body is too large"),
            StatusCode::UNSUPPORTED_MEDIA_TYPE => ("invalid_request", "unsupported content type"),
            s if s.is_server_error() => ("server_error", "internal error"),
            _ => ("invalid_request", "the request is not valid"),
        };
        ApiError::new(status, code, description).into_response()
    } else {
        resp
    };
    resp.headers_mut().insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
    resp
}

/// Why a request is cross-site, if it is: a `Sec-Fetch-Site` other than `same-origin` or `none` or, from a browser
/// that sends no `Sec-Fetch-Site`, an `Origin` that is not the listener's own (as named by `Host`). `Sec-Fetch-Site`
/// decides when present: pages cannot set it, and a browser sends `Origin: null` on a same-origin form post from a
/// page with `Referrer-Policy: no-referrer` (the console's). Requests with neither header (curl, scripts, the CLI)
/// pass.
pub fn cross_site(headers: &HeaderMap) -> Option<&'static str> {
    if let Some(site) = headers.get("sec-fetch-site") {
        if matches!(site.as_bytes(), b"same-origin" | b"none") {
            return None;
        }
        return Some("Sec-Fetch-Site says the request comes from another site");
    }
    if let Some(origin) = headers.get(ORIGIN) {
        let host = headers.get(HOST).map(HeaderValue::as_bytes).unwrap_or_default();
        let own = origin
            .to_str()
            .ok()
            .and_then(|o| url::Url::parse(o).ok())
            .filter(|u| matches!(u.scheme(), "http" | "https") && u.path() == "/" && u.query().is_none())
            .and_then(|u| {
                let h = u.host_str()?.to_string();
                Some(match u.port() {
                    Some(p) => format!("{h}:{p}"),
                    None => h,
                })
            })
            .is_some_and(|authority| !host.is_empty() && authority.as_bytes().eq_ignore_ascii_case(host));
        if !own {
            return Some("Origin is not this listener's own origin");
        }
    }
    None
}

/// Whether a request carries a body.
fn has_body(headers: &HeaderMap) -> bool {
    if headers.contains_key(TRANSFER_ENCODING) {
        return true;
    }
    headers
        .get(CONTENT_LENGTH)
        .is_some_and(|v| v.to_str().ok().and_then(|v| v.trim().parse::<u64>().ok()).is_none_or(|n| n > 0))
}

/// Refuses cross-site requests (403), and bodies that are not JSON (415; the logo's PUT takes an image), before any
/// credential is looked at: a form on another site cannot make a browser send either, with or without cached Basic
/// credentials.
async fn same_origin_only(req: Request, next: axum::middleware::Next) -> Response {
    let headers = req.headers();
    if let Some(why) = cross_site(headers) {
        tracing::warn!(reason = why, path = %req.uri().path(), "admin API: cross-site request refused");
        return ApiError::new(StatusCode::FORBIDDEN, "forbidden", format!("cross-site requests are refused: {why}"))
            .into_response();
    }
    // The logo (a PUT, which no form can send) takes an image, whose type the registry checks with the bytes.
    let logo = req.method() == Method::PUT && req.uri().path().ends_with("/logo");
    if has_body(headers) && !logo {
        let ct = headers.get(CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or_default();
        let essence = ct.split(';').next().unwrap_or_default().trim().to_ascii_lowercase();
        if essence != "application/json" {
            return ApiError::new(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "invalid_request",
                "the body must be sent with Content-Type: application/json",
            )
            .into_response();
        }
    }
    next.run(req).await
}

async fn authenticate(
    state: &AdminState,
    headers: &HeaderMap,
    ip: Option<std::net::IpAddr>,
) -> Result<UserRecord, ApiError> {
    let value = headers.get(AUTHORIZATION).and_then(|v| v.to_str().ok()).ok_or_else(ApiError::unauthorized)?;
    let (scheme, rest) = value.split_once(' ').ok_or_else(ApiError::unauthorized)?;
    let store = state.registry.store();
    let user = if scheme.eq_ignore_ascii_case("bearer") {
        store
            .admin_token_user(&credentials::hash(rest.trim()), state.registry.clock().now())
            .await
            .map_err(|e| ApiError::from(RegistryError::from(e)))?
            .ok_or_else(ApiError::unauthorized)?
    } else if scheme.eq_ignore_ascii_case("basic") {
        let decoded = STANDARD
            .decode(rest.trim())
            .ok()
            .and_then(|b| String::from_utf8(b).ok())
            .ok_or_else(ApiError::unauthorized)?;
        let (name, password) = decoded.split_once(':').ok_or_else(ApiError::unauthorized)?;
        let key: [u8; 32] = Sha256::digest(decoded.as_bytes()).into();
        let cached = state.verified.get(&key);
        let fresh = match &cached {
            Some((id, phc)) => store
                .user_by_id(id)
                .await
                .map_err(|e| ApiError::from(RegistryError::from(e)))?
                .filter(|u| &u.password_hash == phc && u.username == name),
            None => None,
        };
        match fresh {
            Some(u) => u,
            None => {
                let u = state.registry.authenticate_admin(name, password, ip).await?.ok_or_else(|| {
                    tracing::warn!(username = name, "admin API: authentication failed");
                    ApiError::unauthorized()
                })?;
                state.verified.insert(key, (u.id.clone(), u.password_hash.clone()));
                u
            }
        }
    } else {
        return Err(ApiError::unauthorized());
    };
    if user.disabled {
        return Err(ApiError::unauthorized());
    }
    if !user.is_admin {
        return Err(ApiError::new(StatusCode::FORBIDDEN, "forbidden", "only administrators may use the admin API"));
    }
    Ok(user)
}

impl FromRequestParts<AdminState> for Admin {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AdminState) -> Result<Self, Self::Rejection> {
        let ip = parts.extensions.get::<ConnectInfo<std::net::SocketAddr>>().map(|c| c.0.ip());
        authenticate(state, &parts.headers, ip).await.map(Admin)
    }
}

/// The admin API's routes.
pub fn router(state: AdminState) -> Router {
    Router::new()
        .route("/admin/v1/apps", get(list_apps).post(create_app))
        .route("/admin/v1/apps/{client_id}", get(get_app).patch(update_app).delete(delete_app))
        .route("/admin/v1/apps/{client_id}/secrets", post(add_secret))
        .route("/admin/v1/apps/{client_id}/secrets/{id}", delete(delete_secret))
        .route("/admin/v1/apps/{client_id}/keys", post(add_key))
        .route("/admin/v1/apps/{client_id}/keys/generate", post(generate_key))
        .route("/admin/v1/apps/{client_id}/keys/{id}", delete(delete_key))
        .route("/admin/v1/apps/{client_id}/logo", get(get_logo).put(put_logo))
        .route("/admin/v1/users", get(list_users).post(create_user))
        .route("/admin/v1/users/{name}", axum::routing::patch(update_user))
        .route("/admin/v1/tokens", get(list_tokens).post(create_token))
        .route("/admin/v1/tokens/{id}", delete(revoke_token))
        .route("/admin/v1/openapi.yaml", get(|| async { ([(CONTENT_TYPE, "application/yaml")], OPENAPI) }))
        .layer(DefaultBodyLimit::max(crate::registry::MAX_LOGO_BYTES + 64 * 1024))
        .layer(axum::middleware::from_fn(same_origin_only))
        .layer(axum::middleware::map_response(api_answers))
        .with_state(state)
}

async fn list_apps(_: Admin, State(s): State<AdminState>) -> ApiResult {
    let apps = s.registry.apps().await?;
    let count = apps.len();
    ok(StatusCode::OK, json!({"apps": apps, "count": count, "max_apps": s.registry.max_apps()}))
}

async fn create_app(_: Admin, State(s): State<AdminState>, body: Bytes) -> ApiResult {
    let (view, secret) =
        s.registry.create_app(&AppInput::from_json(&parse_json(&body)?).map_err(RegistryError::from)?).await?;
    match secret {
        Some(secret) => ok(StatusCode::CREATED, shown_once(&view, "client_secret", &secret)),
        None => ok(StatusCode::CREATED, view.to_json()),
    }
}

async fn get_app(_: Admin, State(s): State<AdminState>, Path(id): Path<String>) -> ApiResult {
    ok(StatusCode::OK, s.registry.app(&id).await?.to_json())
}

async fn update_app(_: Admin, State(s): State<AdminState>, Path(id): Path<String>, body: Bytes) -> ApiResult {
    let input = AppInput::from_json(&parse_json(&body)?).map_err(RegistryError::from)?;
    ok(StatusCode::OK, s.registry.update_app(&id, &input).await?.to_json())
}

async fn delete_app(_: Admin, State(s): State<AdminState>, Path(id): Path<String>) -> ApiResult {
    s.registry.delete_app(&id).await?;
    no_content()
}

async fn add_secret(_: Admin, State(s): State<AdminState>, Path(id): Path<String>, body: Bytes) -> ApiResult {
    let input = parse_optional_json(&body, &["note"])?;
    let note = match input.get("note") {
        None | Some(Value::Null) => None,
        Some(Value::String(n)) => Some(n.clone()),
        Some(_) => {
            return Err(RegistryError::Invalid(crate::registry::FieldError::new("note", "must be a string")).into())
        }
    };
    let (view, secret) = s.registry.add_secret(&id, note.as_deref()).await?;
    ok(StatusCode::CREATED, shown_once(&view, "client_secret", &secret))
}

async fn delete_secret(_: Admin, State(s): State<AdminState>, Path((id, sid)): Path<(String, String)>) -> ApiResult {
    s.registry.delete_secret(&id, &sid).await?;
    no_content()
}

async fn add_key(_: Admin, State(s): State<AdminState>, Path(id): Path<String>, body: Bytes) -> ApiResult {
    ok(StatusCode::CREATED, json!(s.registry.add_key(&id, &parse_json(&body)?).await?))
}

async fn generate_key(_: Admin, State(s): State<AdminState>, Path(id): Path<String>, body: Bytes) -> ApiResult {
    let input = parse_optional_json(&body, &["alg", "note"])?;
    let text = |name: &str| -> Result<Option<&str>, ApiError> {
        match input.get(name) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(v)) => Ok(Some(v.as_str())),
            Some(_) => Err(RegistryError::Invalid(crate::registry::FieldError::new(name, "must be a string")).into()),
        }
    };
    let (alg, note) = (text("alg")?, text("note")?);
    let (view, private) = s.registry.generate_key(&id, alg, note).await?;
    ok(StatusCode::CREATED, shown_once(&view, "private_key", &private))
}

async fn delete_key(_: Admin, State(s): State<AdminState>, Path((id, kid)): Path<(String, String)>) -> ApiResult {
    s.registry.delete_key(&id, &kid).await?;
    no_content()
}

async fn put_logo(
    _: Admin,
    State(s): State<AdminState>,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> ApiResult {
    let ct = headers.get(CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or_default();
    ok(StatusCode::OK, s.registry.set_logo(&id, ct, &body).await?.to_json())
}

async fn get_logo(_: Admin, State(s): State<AdminState>, Path(id): Path<String>) -> ApiResult {
    let (ct, data) = s.registry.logo(&id).await?;
    Ok(([(CONTENT_TYPE, ct), (CACHE_CONTROL, "no-store".into())], data).into_response())
}

async fn list_users(_: Admin, State(s): State<AdminState>) -> ApiResult {
    ok(StatusCode::OK, json!({"users": s.registry.users().await?}))
}

async fn create_user(_: Admin, State(s): State<AdminState>, body: Bytes) -> ApiResult {
    let input = parse_json(&body)?;
    let obj = input
        .as_object()
        .ok_or_else(|| ApiError::new(StatusCode::BAD_REQUEST, "invalid_request", "the body must be a JSON object"))?;
    for k in obj.keys() {
        if !["username", "password", "is_admin"].contains(&k.as_str()) {
            return Err(RegistryError::Invalid(crate::registry::FieldError::new(k, "unknown field")).into());
        }
    }
    let field = |name: &str| -> Result<String, ApiError> {
        obj.get(name).and_then(Value::as_str).map(str::to_string).ok_or_else(|| {
            RegistryError::Invalid(crate::registry::FieldError::new(name, "missing or not a string")).into()
        })
    };
    let username = field("username")?;
    let password = field("password")?;
    let is_admin = match obj.get("is_admin") {
        None => false,
        Some(Value::Bool(b)) => *b,
        Some(_) => {
            return Err(
                RegistryError::Invalid(crate::registry::FieldError::new("is_admin", "must be true or false")).into()
            )
        }
    };
    let user = s.registry.add_user(&username, &password, is_admin).await?;
    ok(StatusCode::CREATED, serde_json::to_value(user).unwrap_or_default())
}

async fn update_user(_: Admin, State(s): State<AdminState>, Path(name): Path<String>, body: Bytes) -> ApiResult {
    let user =
        s.registry.update_user(&name, &parse_optional_json(&body, &["is_admin", "disabled", "password"])?).await?;
    ok(StatusCode::OK, serde_json::to_value(user).unwrap_or_default())
}

async fn list_tokens(
    _: Admin,
    State(s): State<AdminState>,
    Query(q): Query<std::collections::HashMap<String, String>>,
) -> ApiResult {
    ok(StatusCode::OK, json!({"tokens": s.registry.admin_tokens(q.get("username").map(String::as_str)).await?}))
}

async fn create_token(Admin(me): Admin, State(s): State<AdminState>, body: Bytes) -> ApiResult {
    let input = parse_optional_json(&body, &["username", "note", "expires_in_days"])?;
    let invalid =
        |f: &str, why: &str| -> ApiError { RegistryError::Invalid(crate::registry::FieldError::new(f, why)).into() };
    let username = match input.get("username") {
        None | Some(Value::Null) => me.username.clone(),
        Some(Value::String(u)) => u.clone(),
        Some(_) => return Err(invalid("username", "must be a string")),
    };
    let note = match input.get("note") {
        None | Some(Value::Null) => String::new(),
        Some(Value::String(n)) => n.clone(),
        Some(_) => return Err(invalid("note", "must be a string")),
    };
    let days = match input.get("expires_in_days") {
        None | Some(Value::Null) => None,
        Some(v) => Some(v.as_i64().ok_or_else(|| invalid("expires_in_days", "must be a whole number of days"))?),
    };
    let (token, mut view) = s.registry.create_admin_token(&username, &note, days).await?;
    view["token"] = token.expose().into();
    ok(StatusCode::CREATED, view)
}

async fn revoke_token(_: Admin, State(s): State<AdminState>, Path(id): Path<String>) -> ApiResult {
    s.registry.revoke_admin_token(&id).await?;
    no_content()
}

/// Serves the admin API and the admin console ([`crate::console`]) as a Pingora background service on an already
/// bound listener.
pub struct AdminService {
    listener: Mutex<Option<std::net::TcpListener>>,
    state: AdminState,
    console: crate::console::Console,
}

impl AdminService {
    /// The service.
    pub fn new(listener: std::net::TcpListener, registry: Registry) -> Self {
        let console = crate::console::Console::new(registry.clone());
        AdminService { listener: Mutex::new(Some(listener)), state: AdminState::new(registry), console }
    }
}

#[async_trait]
impl pingora::services::background::BackgroundService for AdminService {
    async fn start(&self, mut shutdown: pingora::server::ShutdownWatch) {
        let Some(l) = self.listener.lock().ok().and_then(|mut l| l.take()) else { return };
        let Ok(listener) = tokio::net::TcpListener::from_std(l) else {
            tracing::error!("admin listener failed");
            return;
        };
        let app = router(self.state.clone()).merge(crate::console::router(self.console.clone()));
        let stop = async move {
            let _ = shutdown.changed().await;
        };
        let app = app.into_make_service_with_connect_info::<std::net::SocketAddr>();
        if let Err(e) = axum::serve(listener, app).with_graceful_shutdown(stop).await {
            tracing::error!(error = %e, "admin API failed");
        }
    }
}
