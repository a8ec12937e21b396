//! Why a request is refused, and the one place that turns a refusal into an HTTP answer (RFC 6750).
//!
//! Each reason is its own variant with a stable `reason()` label for metrics and logs. A [`Denial`] (the edge's
//! decision) and a [`ProxyFailure`] (a request the edge let through that could not be served: a body too large, an
//! upstream down or slow) each become an [`Answer`]: status, `WWW-Authenticate`, `Retry-After`, the JSON body and
//! whether the connection is closed; [`write()`] sends it. Descriptions never echo the token.

use std::fmt;

use bytes::Bytes;
use pingora::http::ResponseHeader;
use pingora::proxy::Session;
use pingora::{ErrorSource, ErrorType};
use thiserror::Error;

/// Why a token is not accepted (`401`, `error="invalid_token"`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
pub enum InvalidToken {
    /// Not a well-formed token.
    #[error("the token is malformed")]
    Malformed,
    /// Longer than `auth.max_token_bytes`.
    #[error("the token is too large")]
    TooLarge,
    /// `alg` outside the issuer's allow-list, or not matching the key.
    #[error("the token's signing algorithm is not accepted")]
    Algorithm,
    /// A `crit` header parameter (RFC 7515 4.1.11) that is not understood.
    #[error("the token has critical header parameters that are not understood")]
    Critical,
    /// `iss` is not a configured issuer.
    #[error("the token's issuer is not trusted")]
    UnknownIssuer,
    /// No key with the token's `kid`, even after refreshing the issuer's key set.
    #[error("the token's signing key is unknown")]
    UnknownKey,
    /// The signature does not verify.
    #[error("the token's signature is invalid")]
    Signature,
    /// `exp` has passed.
    #[error("the token has expired")]
    Expired,
    /// `nbf` (or `iat`) is in the future.
    #[error("the token is not valid yet")]
    NotYetValid,
    /// No accepted audience in `aud`.
    #[error("the token is not meant for this service (audience)")]
    Audience,
    /// The JOSE `typ` is not the required one.
    #[error("the token's type is not accepted")]
    Type,
    /// A required claim is missing or has the wrong type.
    #[error("the token lacks a required claim")]
    Claims,
    /// The issuer says the token is not active (revoked, expired, unknown).
    #[error("the token is not active")]
    Inactive,
    /// Revoked at the issuer that tokengate itself runs.
    #[error("the token has been revoked")]
    Revoked,
    /// One of the built-in authorization server's other credentials (a refresh token, a code, a client secret).
    #[error("the token is not an access token")]
    NotAccessToken,
    /// An opaque token where no issuer introspects: it cannot be checked.
    #[error("opaque tokens are not accepted here")]
    OpaqueNotAccepted,
}

impl InvalidToken {
    /// Stable label for metrics.
    pub fn reason(self) -> &'static str {
        match self {
            InvalidToken::Malformed => "malformed",
            InvalidToken::TooLarge => "too_large",
            InvalidToken::Algorithm => "algorithm",
            InvalidToken::Critical => "critical_header",
            InvalidToken::UnknownIssuer => "unknown_issuer",
            InvalidToken::UnknownKey => "unknown_key",
            InvalidToken::Signature => "signature",
            InvalidToken::Expired => "expired",
            InvalidToken::NotYetValid => "not_yet_valid",
            InvalidToken::Audience => "audience",
            InvalidToken::Type => "type",
            InvalidToken::Claims => "claims",
            InvalidToken::Inactive => "inactive",
            InvalidToken::Revoked => "revoked",
            InvalidToken::NotAccessToken => "not_access_token",
            InvalidToken::OpaqueNotAccepted => "opaque_not_accepted",
        }
    }

    /// Every variant, for pre-resolving metric handles.
    pub const ALL: [InvalidToken; 16] = [
        InvalidToken::Malformed,
        InvalidToken::TooLarge,
        InvalidToken::Algorithm,
        InvalidToken::Critical,
        InvalidToken::UnknownIssuer,
        InvalidToken::UnknownKey,
        InvalidToken::Signature,
        InvalidToken::Expired,
        InvalidToken::NotYetValid,
        InvalidToken::Audience,
        InvalidToken::Type,
        InvalidToken::Claims,
        InvalidToken::Inactive,
        InvalidToken::Revoked,
        InvalidToken::NotAccessToken,
        InvalidToken::OpaqueNotAccepted,
    ];

    /// Whether the same token would fail the same way a little later, so the failure may be cached.
    /// Time-dependent and key-dependent failures are not.
    pub fn is_stable(self) -> bool {
        !matches!(self, InvalidToken::Expired | InvalidToken::NotYetValid | InvalidToken::UnknownKey)
    }
}

/// Why the request is malformed (`400`, `error="invalid_request"`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
pub enum BadRequest {
    /// More than one `Authorization` header, or a token in more than one place (RFC 6750 2).
    #[error("more than one access token in the request")]
    MultipleTokens,
    /// The path is ambiguous or malformed.
    #[error("{0}")]
    Path(super::route::PathError),
    /// No valid host to redirect to (`Host` or `:authority` missing or malformed).
    #[error("the request has no valid host")]
    Host,
}

/// Why a dependency could not answer (`503`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
pub enum Unavailable {
    /// The introspection endpoint failed or timed out and nothing was cached.
    #[error("the token introspection service is unavailable")]
    Introspection,
    /// The issuer's keys could not be fetched.
    #[error("the issuer's signing keys are unavailable")]
    Keys,
    /// Too many introspection calls are already waiting for the issuer.
    #[error("the token introspection service is overloaded")]
    IntrospectionBusy,
}

/// A refused request.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum Denial {
    /// No token where one is needed (`401`, no error code, RFC 6750 3.1).
    #[error("an access token is required")]
    MissingToken,
    /// A token that is not accepted (`401 invalid_token`).
    #[error("{0}")]
    InvalidToken(InvalidToken),
    /// A valid token without the route's scopes (`403 insufficient_scope`).
    #[error("the access token lacks the scope this request needs")]
    InsufficientScope {
        /// Every scope the route may ask for, space-separated.
        scope: String,
    },
    /// A malformed request (`400 invalid_request`).
    #[error("{0}")]
    BadRequest(BadRequest),
    /// No route covers the request and the default is to deny (`404`).
    #[error("no route matches this request")]
    NoRoute,
    /// A dependency is down (`503`).
    #[error("{0}")]
    Unavailable(Unavailable),
    /// The caller exceeded the route's rate limit (`429`, RFC 6585).
    #[error("too many requests: retry in {retry_after_secs} s")]
    RateLimited {
        /// Seconds until a request will be accepted again.
        retry_after_secs: u64,
    },
}

impl From<InvalidToken> for Denial {
    fn from(e: InvalidToken) -> Self {
        Denial::InvalidToken(e)
    }
}

impl From<Unavailable> for Denial {
    fn from(e: Unavailable) -> Self {
        Denial::Unavailable(e)
    }
}

/// Outcome labels for `tokengate_requests_total` and `tokengate_auth_decisions_total`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Forwarded with an identity.
    Allowed,
    /// Forwarded on a route that needs no token.
    Public,
    /// 401 without a token.
    MissingToken,
    /// 401 invalid_token.
    InvalidToken,
    /// 403 insufficient_scope.
    InsufficientScope,
    /// 400.
    BadRequest,
    /// 404.
    NoRoute,
    /// 503.
    Unavailable,
    /// 429.
    RateLimited,
}

impl Outcome {
    /// Every outcome, in label-handle order.
    pub const ALL: [Outcome; 9] = [
        Outcome::Allowed,
        Outcome::Public,
        Outcome::MissingToken,
        Outcome::InvalidToken,
        Outcome::InsufficientScope,
        Outcome::BadRequest,
        Outcome::NoRoute,
        Outcome::Unavailable,
        Outcome::RateLimited,
    ];

    /// The metric label.
    pub fn label(self) -> &'static str {
        match self {
            Outcome::Allowed => "allowed",
            Outcome::Public => "public",
            Outcome::MissingToken => "missing_token",
            Outcome::InvalidToken => "invalid_token",
            Outcome::InsufficientScope => "insufficient_scope",
            Outcome::BadRequest => "bad_request",
            Outcome::NoRoute => "no_route",
            Outcome::Unavailable => "unavailable",
            Outcome::RateLimited => "rate_limited",
        }
    }
}

impl fmt::Display for Outcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.label())
    }
}

impl Denial {
    /// The metric outcome.
    pub fn outcome(&self) -> Outcome {
        match self {
            Denial::MissingToken => Outcome::MissingToken,
            Denial::InvalidToken(_) => Outcome::InvalidToken,
            Denial::InsufficientScope { .. } => Outcome::InsufficientScope,
            Denial::BadRequest(_) => Outcome::BadRequest,
            Denial::NoRoute => Outcome::NoRoute,
            Denial::Unavailable(_) => Outcome::Unavailable,
            Denial::RateLimited { .. } => Outcome::RateLimited,
        }
    }

    /// A stable reason label for metrics and logs.
    pub fn reason(&self) -> &'static str {
        match self {
            Denial::MissingToken => "missing_token",
            Denial::InvalidToken(e) => e.reason(),
            Denial::InsufficientScope { .. } => "insufficient_scope",
            Denial::BadRequest(BadRequest::MultipleTokens) => "multiple_tokens",
            Denial::BadRequest(BadRequest::Path(_)) => "bad_path",
            Denial::BadRequest(BadRequest::Host) => "bad_host",
            Denial::NoRoute => "no_route",
            Denial::Unavailable(Unavailable::Introspection) => "introspection_unavailable",
            Denial::Unavailable(Unavailable::Keys) => "keys_unavailable",
            Denial::Unavailable(Unavailable::IntrospectionBusy) => "introspection_busy",
            Denial::RateLimited { .. } => "rate_limited",
        }
    }

    /// The HTTP status.
    pub fn status(&self) -> u16 {
        match self {
            Denial::MissingToken | Denial::InvalidToken(_) => 401,
            Denial::InsufficientScope { .. } => 403,
            Denial::BadRequest(_) => 400,
            Denial::NoRoute => 404,
            Denial::Unavailable(_) => 503,
            Denial::RateLimited { .. } => 429,
        }
    }

    /// The RFC 6749/6750 error code for the JSON body (and the `WWW-Authenticate` header where one applies).
    pub fn error_code(&self) -> &'static str {
        match self {
            Denial::MissingToken => "invalid_request",
            Denial::InvalidToken(_) => "invalid_token",
            Denial::InsufficientScope { .. } => "insufficient_scope",
            Denial::BadRequest(_) => "invalid_request",
            Denial::NoRoute => "not_found",
            Denial::Unavailable(_) => "temporarily_unavailable",
            Denial::RateLimited { .. } => "rate_limited",
        }
    }

    /// The `WWW-Authenticate` value, for the answers that carry one.
    pub fn www_authenticate(&self) -> Option<String> {
        let realm = "Bearer realm=\"tokengate\"";
        match self {
            Denial::MissingToken => Some(realm.to_string()),
            Denial::InvalidToken(_) | Denial::BadRequest(_) => {
                Some(format!("{realm}, error=\"{}\", error_description=\"{}\"", self.error_code(), self))
            }
            Denial::InsufficientScope { scope } => Some(format!(
                "{realm}, error=\"insufficient_scope\", error_description=\"{}\", scope=\"{scope}\"",
                self
            )),
            Denial::NoRoute | Denial::Unavailable(_) | Denial::RateLimited { .. } => None,
        }
    }

    /// The JSON body: `{"error": ..., "error_description": ...}` (plus `scope` for insufficient_scope).
    pub fn body(&self) -> Vec<u8> {
        let mut v = serde_json::json!({ "error": self.error_code(), "error_description": self.to_string() });
        if let Denial::InsufficientScope { scope } = self {
            v["scope"] = serde_json::Value::String(scope.clone());
        }
        serde_json::to_vec(&v).unwrap_or_default()
    }
}

impl Denial {
    /// How long a client should wait before trying again, for the answers that say so.
    pub fn retry_after_secs(&self) -> Option<u64> {
        match self {
            Denial::Unavailable(_) => Some(5),
            Denial::RateLimited { retry_after_secs } => Some(*retry_after_secs),
            _ => None,
        }
    }

    /// The whole HTTP answer. A malformed request closes the connection (what follows it cannot be trusted to
    /// be framed as the client meant); every other refusal keeps it open.
    pub fn answer(&self) -> Answer {
        Answer {
            status: self.status(),
            www_authenticate: self.www_authenticate(),
            retry_after_secs: self.retry_after_secs(),
            body: Bytes::from(self.body()),
            close: matches!(self, Denial::BadRequest(_)),
        }
    }
}

/// A request the edge let through that could not be served.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
pub enum ProxyFailure {
    /// The body is larger than `server.max_body_bytes` (`413`).
    #[error("the request body is too large")]
    BodyTooLarge,
    /// The upstream did not answer in time (`504`).
    #[error("the upstream did not answer in time")]
    UpstreamTimeout,
    /// The upstream is unreachable or closed the connection (`502`).
    #[error("the upstream is unreachable or closed the connection")]
    BadGateway,
    /// The upstream failed with this status.
    #[error("the upstream failed")]
    UpstreamStatus(u16),
    /// The client's request could not be read (`400`).
    #[error("the request could not be read")]
    Unreadable,
    /// Anything else (`500`).
    #[error("internal error")]
    Internal,
}

impl ProxyFailure {
    /// What a Pingora proxying error means for the client; `None` when the client is gone (nothing to answer).
    pub fn from_error(e: &pingora::Error) -> Option<Self> {
        Some(match (e.esource(), e.etype()) {
            (_, ErrorType::HTTPStatus(413)) => ProxyFailure::BodyTooLarge,
            (_, ErrorType::HTTPStatus(code)) => ProxyFailure::UpstreamStatus(*code),
            (
                ErrorSource::Upstream,
                ErrorType::ConnectTimedout | ErrorType::ReadTimedout | ErrorType::WriteTimedout,
            ) => ProxyFailure::UpstreamTimeout,
            (ErrorSource::Upstream, _)
            | (_, ErrorType::ConnectNoRoute | ErrorType::ConnectRefused | ErrorType::ConnectTimedout) => {
                ProxyFailure::BadGateway
            }
            (ErrorSource::Downstream, ErrorType::WriteError | ErrorType::ReadError | ErrorType::ConnectionClosed) => {
                return None
            }
            (ErrorSource::Downstream, _) => ProxyFailure::Unreadable,
            _ => ProxyFailure::Internal,
        })
    }

    /// The HTTP status.
    pub fn status(&self) -> u16 {
        match self {
            ProxyFailure::BodyTooLarge => 413,
            ProxyFailure::UpstreamTimeout => 504,
            ProxyFailure::BadGateway => 502,
            ProxyFailure::UpstreamStatus(code) => *code,
            ProxyFailure::Unreadable => 400,
            ProxyFailure::Internal => 500,
        }
    }

    /// The error code of the JSON body.
    pub fn error_code(&self) -> &'static str {
        match self {
            ProxyFailure::BodyTooLarge | ProxyFailure::Unreadable => "invalid_request",
            ProxyFailure::UpstreamTimeout => "upstream_timeout",
            ProxyFailure::BadGateway => "bad_gateway",
            ProxyFailure::UpstreamStatus(_) => "upstream_error",
            ProxyFailure::Internal => "server_error",
        }
    }

    /// The whole HTTP answer; the connection is always closed (the request may not have been read to its end).
    pub fn answer(&self) -> Answer {
        let body = serde_json::json!({"error": self.error_code(), "error_description": self.to_string()});
        Answer {
            status: self.status(),
            www_authenticate: None,
            retry_after_secs: None,
            body: Bytes::from(serde_json::to_vec(&body).unwrap_or_default()),
            close: true,
        }
    }
}

/// An answer to write: everything of a refusal that reaches the client.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Answer {
    /// The status.
    pub status: u16,
    /// The `WWW-Authenticate` value.
    pub www_authenticate: Option<String>,
    /// The `Retry-After` value, in seconds.
    pub retry_after_secs: Option<u64>,
    /// The JSON body.
    pub body: Bytes,
    /// Whether the connection is closed after it.
    pub close: bool,
}

impl Answer {
    /// The gRPC status code of this answer (the gRPC HTTP mapping, read the other way).
    pub fn grpc_status(&self) -> u8 {
        match self.status {
            400 => 3,        // INVALID_ARGUMENT
            401 => 16,       // UNAUTHENTICATED
            403 => 7,        // PERMISSION_DENIED
            404 | 405 => 12, // UNIMPLEMENTED
            413 | 429 => 8,  // RESOURCE_EXHAUSTED
            504 => 4,        // DEADLINE_EXCEEDED
            502 | 503 => 14, // UNAVAILABLE
            _ => 13,         // INTERNAL
        }
    }

    /// The human-readable reason: the body's `error_description`, else its `error`.
    fn message(&self) -> String {
        let body: serde_json::Value = serde_json::from_slice(&self.body).unwrap_or_default();
        body.get("error_description").or_else(|| body.get("error")).and_then(|v| v.as_str()).unwrap_or("").to_string()
    }
}

/// Whether the request is a gRPC call (`content-type: application/grpc`, `application/grpc+proto`, ...).
pub fn is_grpc(req: &pingora::http::RequestHeader) -> bool {
    req.headers.get(http::header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).is_some_and(|ct| {
        let ct = ct.trim_start().to_ascii_lowercase();
        ct == "application/grpc" || ct.starts_with("application/grpc+") || ct.starts_with("application/grpc;")
    })
}

/// The request id header: when the request carries one (the binary always sets it), every answer written here
/// returns it, and the JSON body names it as `request_id`, so that a refused client can quote it.
pub const REQUEST_ID_HEADER: &str = "x-request-id";

/// Whether a request id is fit to pass on and to write back: 1 to 128 characters of `A-Z a-z 0-9 . _ -`.
pub fn is_request_id(id: &str) -> bool {
    (1..=128).contains(&id.len()) && id.bytes().all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b))
}

/// The request's id, when it has a plain one.
fn request_id(session: &Session) -> Option<String> {
    let id = session.req_header().headers.get(REQUEST_ID_HEADER)?.to_str().ok()?;
    is_request_id(id).then(|| id.to_string())
}

/// `body` (a JSON object) with `"request_id"` added; any other body unchanged.
pub fn with_request_id(body: &Bytes, id: &str) -> Bytes {
    match serde_json::from_slice::<serde_json::Value>(body) {
        Ok(serde_json::Value::Object(mut members)) => {
            members.insert("request_id".into(), serde_json::Value::String(id.to_string()));
            Bytes::from(serde_json::to_vec(&members).unwrap_or_default())
        }
        _ => body.clone(),
    }
}

/// The bytes `grpc-message` percent-encodes: everything outside printable ASCII, and `%` itself.
const GRPC_MESSAGE: &percent_encoding::AsciiSet = &percent_encoding::CONTROLS.add(b'%');

/// Writes an answer: status, `Content-Type: application/json`, `Cache-Control: no-store`, `WWW-Authenticate` and
/// `Retry-After` where they apply, the body. Pingora's `respond_error` would always close the connection; here it
/// stays open unless the answer says otherwise.
///
/// A gRPC call ([`is_grpc`]) gets the answer gRPC clients read instead: HTTP 200 with no body, `grpc-status`
/// (16 UNAUTHENTICATED for a 401, 7 PERMISSION_DENIED for a 403, ...) and `grpc-message` in the trailers (on
/// HTTP/1.1, in the one header block); `WWW-Authenticate` is still sent, in the headers.
pub async fn write(session: &mut Session, answer: &Answer) -> pingora::Result<()> {
    if is_grpc(session.req_header()) {
        return write_grpc(session, answer).await;
    }
    let id = request_id(session);
    let body = match &id {
        Some(id) => with_request_id(&answer.body, id),
        None => answer.body.clone(),
    };
    let mut resp = ResponseHeader::build(answer.status, Some(7))?;
    resp.insert_header(http::header::CONTENT_TYPE, "application/json")?;
    resp.insert_header(http::header::CONTENT_LENGTH, body.len())?;
    if let Some(id) = &id {
        resp.insert_header(REQUEST_ID_HEADER, id.as_str())?;
    }
    resp.insert_header(http::header::CACHE_CONTROL, "no-store")?;
    if let Some(challenge) = &answer.www_authenticate {
        resp.insert_header(http::header::WWW_AUTHENTICATE, challenge.as_str())?;
    }
    if let Some(secs) = answer.retry_after_secs {
        resp.insert_header(http::header::RETRY_AFTER, secs.to_string())?;
    }
    if answer.close {
        session.set_keepalive(None);
    }
    session.write_response_header(Box::new(resp), false).await?;
    session.write_response_body(Some(body), true).await?;
    Ok(())
}

async fn write_grpc(session: &mut Session, answer: &Answer) -> pingora::Result<()> {
    let mut resp = ResponseHeader::build(200, Some(6))?;
    resp.insert_header(http::header::CONTENT_TYPE, "application/grpc")?;
    if let Some(id) = request_id(session) {
        resp.insert_header(REQUEST_ID_HEADER, id)?;
    }
    if let Some(challenge) = &answer.www_authenticate {
        resp.insert_header(http::header::WWW_AUTHENTICATE, challenge.as_str())?;
    }
    if let Some(secs) = answer.retry_after_secs {
        resp.insert_header(http::header::RETRY_AFTER, secs.to_string())?;
    }
    let status = http::HeaderValue::from(u16::from(answer.grpc_status()));
    let message = percent_encoding::utf8_percent_encode(&answer.message(), GRPC_MESSAGE).to_string();
    let message = http::HeaderValue::try_from(message).ok().filter(|m| !m.is_empty());
    if answer.close {
        session.set_keepalive(None);
    }
    if session.is_http2() {
        // HTTP/2: the status goes in trailers, which end the stream (Pingora sends no END_STREAM on a header block).
        session.write_response_header(Box::new(resp), false).await?;
        let mut trailers = http::HeaderMap::new();
        trailers.insert("grpc-status", status);
        if let Some(m) = message {
            trailers.insert("grpc-message", m);
        }
        session.write_response_trailers(trailers).await?;
    } else {
        // HTTP/1.1 has no trailers here: the one header block carries the status ("trailers-only").
        resp.insert_header("grpc-status", status)?;
        if let Some(m) = message {
            resp.insert_header("grpc-message", m)?;
        }
        resp.insert_header(http::header::CONTENT_LENGTH, 0)?;
        session.write_response_header(Box::new(resp), true).await?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refusals_map_to_the_grpc_codes_clients_expect() {
        let code = |d: Denial| d.answer().grpc_status();
        assert_eq!(code(Denial::MissingToken), 16);
        assert_eq!(code(Denial::InsufficientScope { scope: "api:read".into() }), 7);
        assert_eq!(code(Denial::RateLimited { retry_after_secs: 1 }), 8);
        assert_eq!(code(Denial::BadRequest(BadRequest::MultipleTokens)), 3);
        assert_eq!(code(Denial::Unavailable(Unavailable::Keys)), 14);
    }

    #[test]
    fn missing_token_has_no_error_code_in_the_header() {
        assert_eq!(Denial::MissingToken.www_authenticate().unwrap(), "Bearer realm=\"tokengate\"");
        assert_eq!(Denial::MissingToken.status(), 401);
    }

    #[test]
    fn insufficient_scope_names_every_scope() {
        let d = Denial::InsufficientScope { scope: "api:read api:write".into() };
        assert_eq!(d.status(), 403);
        assert!(d.www_authenticate().unwrap().ends_with("scope=\"api:read api:write\""));
        let body: serde_json::Value = serde_json::from_slice(&d.body()).unwrap();
        assert_eq!(body["error"], "insufficient_scope");
    }

    #[test]
    fn refusals_map_to_their_answers() {
        let a = Denial::RateLimited { retry_after_secs: 7 }.answer();
        assert_eq!((a.status, a.retry_after_secs, a.close), (429, Some(7), false));
        let a = Denial::Unavailable(Unavailable::Keys).answer();
        assert_eq!((a.status, a.retry_after_secs), (503, Some(5)));
        assert!(Denial::BadRequest(BadRequest::MultipleTokens).answer().close);
        let a = Denial::InvalidToken(InvalidToken::OpaqueNotAccepted).answer();
        assert_eq!(a.status, 401, "an opaque token nobody can check is an invalid token, not an outage");
        assert!(a.www_authenticate.unwrap().contains("invalid_token"));
        let a = ProxyFailure::UpstreamTimeout.answer();
        assert_eq!((a.status, a.close), (504, true));
        let body: serde_json::Value = serde_json::from_slice(&a.body).unwrap();
        assert_eq!(body["error"], "upstream_timeout");
    }
}
