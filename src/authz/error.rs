//! The authorization server's error answers: RFC 6749 (5.2, 4.1.2.1), RFC 7009 and RFC 7662 error codes as a closed
//! enum, and [`OAuthError`], the JSON answer each endpoint returns.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::json;

/// An error code of the OAuth RFCs (and the few of tokengate's own endpoints).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorCode {
    /// RFC 6749: a parameter missing, repeated or malformed.
    InvalidRequest,
    /// RFC 6749 5.2: client authentication failed.
    InvalidClient,
    /// RFC 6749 5.2: the code, refresh token or assertion is invalid, expired or revoked.
    InvalidGrant,
    /// RFC 6749: the client may not use this grant or response type.
    UnauthorizedClient,
    /// RFC 6749 5.2.
    UnsupportedGrantType,
    /// RFC 6749 4.1.2.1.
    UnsupportedResponseType,
    /// RFC 6749: a scope unknown or not allowed.
    InvalidScope,
    /// RFC 6749 4.1.2.1: the user said no.
    AccessDenied,
    /// RFC 6749 4.1.2.1: the server failed.
    ServerError,
    /// RFC 6749 4.1.2.1: the server cannot answer now (its database, or a rate limit: then with 429 and
    /// `Retry-After`).
    TemporarilyUnavailable,
    /// OpenID Connect Core 3.1.2.6: `prompt=none`, and the user must sign in.
    LoginRequired,
    /// OpenID Connect Core 3.1.2.6: `prompt=none`, and the user must consent.
    ConsentRequired,
    /// No such endpoint or resource.
    NotFound,
}

impl ErrorCode {
    /// The code as the RFCs spell it.
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorCode::InvalidRequest => "invalid_request",
            ErrorCode::InvalidClient => "invalid_client",
            ErrorCode::InvalidGrant => "invalid_grant",
            ErrorCode::UnauthorizedClient => "unauthorized_client",
            ErrorCode::UnsupportedGrantType => "unsupported_grant_type",
            ErrorCode::UnsupportedResponseType => "unsupported_response_type",
            ErrorCode::InvalidScope => "invalid_scope",
            ErrorCode::AccessDenied => "access_denied",
            ErrorCode::ServerError => "server_error",
            ErrorCode::TemporarilyUnavailable => "temporarily_unavailable",
            ErrorCode::LoginRequired => "login_required",
            ErrorCode::ConsentRequired => "consent_required",
            ErrorCode::NotFound => "not_found",
        }
    }
}

impl std::fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An OAuth error answer (RFC 6749 5.2), JSON with `Cache-Control: no-store`.
#[derive(Debug)]
pub struct OAuthError {
    pub(super) status: StatusCode,
    pub(super) error: ErrorCode,
    pub(super) description: String,
    pub(super) retry_after: Option<u64>,
}

impl OAuthError {
    /// An error with status 400.
    pub fn bad(error: ErrorCode, description: impl Into<String>) -> Self {
        OAuthError { status: StatusCode::BAD_REQUEST, error, description: description.into(), retry_after: None }
    }

    /// `invalid_client`: 401, with a Basic challenge whatever method the client tried (RFC 6749 5.2, RFC 9110
    /// 15.5.2: a 401 always carries a challenge).
    pub fn invalid_client() -> Self {
        OAuthError {
            status: StatusCode::UNAUTHORIZED,
            error: ErrorCode::InvalidClient,
            description: "client authentication failed".into(),
            retry_after: None,
        }
    }

    /// Over the client's token rate limit: 429 with `Retry-After` (RFC 6585).
    pub fn too_many(retry_after_secs: u64) -> Self {
        OAuthError {
            status: StatusCode::TOO_MANY_REQUESTS,
            error: ErrorCode::TemporarilyUnavailable,
            description: format!("too many token requests: retry in {retry_after_secs} s"),
            retry_after: Some(retry_after_secs),
        }
    }

    /// Too many failed authentications for this client or from this address: 429 with `Retry-After`, refused
    /// before any check.
    pub fn throttled(retry_after_secs: u64) -> Self {
        OAuthError {
            status: StatusCode::TOO_MANY_REQUESTS,
            error: ErrorCode::TemporarilyUnavailable,
            description: format!("too many failed attempts: retry in {retry_after_secs} s"),
            retry_after: Some(retry_after_secs),
        }
    }

    /// A storage failure: 503.
    pub fn unavailable(e: impl std::fmt::Display) -> Self {
        tracing::error!(error = %e, "authorization server: storage failed");
        OAuthError {
            status: StatusCode::SERVICE_UNAVAILABLE,
            error: ErrorCode::TemporarilyUnavailable,
            description: "the authorization server cannot reach its database".into(),
            retry_after: None,
        }
    }
}

/// `text` within the characters RFC 6749 5.2 allows in `error_description` (`%x20-21 / %x23-5B / %x5D-7E`): any
/// other character becomes `'` (a quote or backslash) or `?`.
pub fn description_text(text: &str) -> String {
    text.chars()
        .map(|c| match c {
            ' ' | '!' | '#'..='[' | ']'..='~' => c,
            '"' | '\\' => '\'',
            _ => '?',
        })
        .collect()
}

impl From<crate::store::StoreError> for OAuthError {
    fn from(e: crate::store::StoreError) -> Self {
        Self::unavailable(e)
    }
}

impl From<crate::registry::RegistryError> for OAuthError {
    fn from(e: crate::registry::RegistryError) -> Self {
        match e {
            crate::registry::RegistryError::Throttled(secs) => Self::throttled(secs),
            crate::registry::RegistryError::Busy => OAuthError {
                status: StatusCode::SERVICE_UNAVAILABLE,
                error: ErrorCode::TemporarilyUnavailable,
                description: "too many password checks at once: retry in a moment".into(),
                retry_after: Some(1),
            },
            other => Self::unavailable(other),
        }
    }
}

impl IntoResponse for OAuthError {
    fn into_response(self) -> Response {
        let mut r = (
            self.status,
            [(http::header::CACHE_CONTROL, "no-store"), (http::header::PRAGMA, "no-cache")],
            Json(json!({"error": self.error.as_str(), "error_description": description_text(&self.description)})),
        )
            .into_response();
        if let Some(secs) = self.retry_after {
            if let Ok(v) = http::HeaderValue::from_str(&secs.to_string()) {
                r.headers_mut().insert(http::header::RETRY_AFTER, v);
            }
        }
        if self.status == StatusCode::UNAUTHORIZED {
            r.headers_mut()
                .insert(http::header::WWW_AUTHENTICATE, http::HeaderValue::from_static("Basic realm=\"tokengate\""));
        }
        r
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn descriptions_stay_within_the_rfc_6749_character_set() {
        let allowed = |c: char| c == ' ' || c == '!' || ('#'..='[').contains(&c) || (']'..='~').contains(&c);
        let shown = description_text("a \"quoted\" back\\slash, zoë, tab\tnew\nline `ok`");
        assert!(shown.chars().all(allowed), "{shown}");
        assert_eq!(shown, "a 'quoted' back'slash, zo?, tab?new?line `ok`");
    }
}
