//! CORS on `/oauth2/token` and `/oauth2/revoke`, for single-page apps served from another origin: a preflight is
//! allowed for an origin of some single-page app's registered redirect URIs, and an answer carries
//! `Access-Control-Allow-Origin` only when the origin is one of the requesting app's. Never `*`, never with
//! credentials (the endpoints take no cookies); no other endpoint answers cross-origin.

use std::sync::Arc;

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::header::{
    ACCESS_CONTROL_ALLOW_HEADERS, ACCESS_CONTROL_ALLOW_METHODS, ACCESS_CONTROL_ALLOW_ORIGIN, ACCESS_CONTROL_MAX_AGE,
    ACCESS_CONTROL_REQUEST_METHOD, AUTHORIZATION, ORIGIN, VARY,
};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use super::wire::Params;
use super::{AuthServer, ErrorCode, OAuthError};
use crate::store::{AppRecord, AppType};

/// Largest body read to find the client of a cross-origin request (the listener refuses larger ones anyway).
const MAX_BODY: usize = 64 * 1024;

/// Whether `origin` is the origin of one of a single-page app's registered redirect URIs.
fn spa_origin(app: &AppRecord, origin: &str) -> bool {
    app.app_type == AppType::Spa
        && app
            .redirect_urls
            .iter()
            .filter_map(|u| url::Url::parse(u).ok())
            .any(|u| u.origin().ascii_serialization() == origin)
}

/// The client a token or revocation request names: Basic credentials, else `client_id` in the body.
fn client_id(headers: &HeaderMap, body: &[u8]) -> Option<String> {
    let basic =
        headers.get(AUTHORIZATION).and_then(|v| v.to_str().ok()).and_then(crate::registry::credentials::client_basic);
    match basic {
        Some(decoded) => decoded.ok().map(|(id, _)| id),
        None => Params::parse(headers, body).ok()?.get("client_id").map(str::to_string),
    }
}

/// Wraps `/oauth2/token` and `/oauth2/revoke`: answers the preflight, and marks the actual answer readable by the
/// requesting single-page app's own origins.
pub async fn cors(State(s): State<Arc<AuthServer>>, req: Request, next: Next) -> Response {
    let origin = req.headers().get(ORIGIN).and_then(|v| v.to_str().ok()).map(str::to_string);
    let mut r = match origin {
        None => next.run(req).await,
        Some(origin) if req.method() == Method::OPTIONS => preflight(&s, req.headers(), &origin).await,
        Some(origin) => {
            let (parts, body) = req.into_parts();
            let Ok(bytes) = axum::body::to_bytes(body, MAX_BODY).await else {
                return OAuthError::bad(ErrorCode::InvalidRequest, "the request body is too large").into_response();
            };
            let client = client_id(&parts.headers, &bytes);
            let mut r = next.run(Request::from_parts(parts, Body::from(bytes))).await;
            let allowed = match client {
                Some(id) => match s.store().app(&id).await {
                    Ok(app) => app.is_some_and(|a| spa_origin(&a, &origin)),
                    Err(e) => {
                        tracing::warn!(error = %e, "app lookup for CORS failed");
                        false
                    }
                },
                None => false,
            };
            if allowed {
                if let Ok(v) = HeaderValue::from_str(&origin) {
                    r.headers_mut().insert(ACCESS_CONTROL_ALLOW_ORIGIN, v);
                }
            }
            r
        }
    };
    r.headers_mut().append(VARY, HeaderValue::from_static("Origin"));
    r
}

/// A preflight (it names no client): allowed for the origins of every single-page app's redirect URIs.
async fn preflight(s: &AuthServer, headers: &HeaderMap, origin: &str) -> Response {
    let post = headers.get(ACCESS_CONTROL_REQUEST_METHOD).is_some_and(|m| m.as_bytes() == b"POST");
    let apps = match s.store().list_apps().await {
        Ok(a) => a,
        Err(e) => return OAuthError::unavailable(e).into_response(),
    };
    if !post || !apps.iter().any(|a| spa_origin(a, origin)) {
        return OAuthError {
            status: StatusCode::FORBIDDEN,
            error: ErrorCode::InvalidRequest,
            description: "cross-origin requests are allowed only from a single-page app's redirect origin".into(),
            retry_after: None,
        }
        .into_response();
    }
    let mut r = StatusCode::NO_CONTENT.into_response();
    let h = r.headers_mut();
    if let Ok(v) = HeaderValue::from_str(origin) {
        h.insert(ACCESS_CONTROL_ALLOW_ORIGIN, v);
    }
    h.insert(ACCESS_CONTROL_ALLOW_METHODS, HeaderValue::from_static("POST"));
    h.insert(ACCESS_CONTROL_ALLOW_HEADERS, HeaderValue::from_static("Content-Type, Authorization, DPoP"));
    h.insert(ACCESS_CONTROL_MAX_AGE, HeaderValue::from_static("600"));
    r
}
