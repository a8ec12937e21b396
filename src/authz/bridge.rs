//! Serves an axum router from inside a Pingora `request_filter`: the authorization server's endpoints live on the
//! proxy listener without a second HTTP stack in front of them.

use std::net::IpAddr;

use axum::body::Body;
use axum::Router;
use bytes::Bytes;
use pingora::http::ResponseHeader;
use pingora::proxy::Session;
use tower::ServiceExt;

/// Largest request body the endpoints accept.
const MAX_BODY: usize = 64 * 1024;

/// The client's IP address, available to handlers as a request extension.
#[derive(Debug, Clone, Copy)]
pub struct ClientIp(pub Option<IpAddr>);

/// Whether the downstream connection is TLS, as a request extension (for `Secure` cookies).
#[derive(Debug, Clone, Copy)]
pub struct Tls(pub bool);

/// Reads the request from `session`, runs it through `router`, writes the answer.
///
/// `ip` is the client's address (behind trusted proxies); `hsts` a `Strict-Transport-Security` value to add. The
/// request id, when the request has one, is returned in `X-Request-Id` and named in JSON error bodies.
pub async fn serve(
    router: &Router,
    session: &mut Session,
    ip: Option<std::net::IpAddr>,
    hsts: Option<String>,
) -> pingora::Result<()> {
    let head = session.req_header();
    let mut builder = http::Request::builder().method(head.method.clone()).uri(head.uri.clone());
    for (name, value) in head.headers.iter() {
        builder = builder.header(name, value);
    }
    let tls = session.digest().and_then(|d| d.ssl_digest.as_ref()).is_some();
    let id = session.req_header().headers.get(crate::edge::deny::REQUEST_ID_HEADER).cloned();
    let mut body = Vec::new();
    while let Some(chunk) = session.read_request_body().await? {
        body.extend_from_slice(&chunk);
        if body.len() > MAX_BODY {
            return write(session, too_large(), id).await;
        }
    }
    let request = builder
        .extension(ClientIp(ip))
        .extension(Tls(tls))
        .body(Body::from(body))
        .map_err(|e| pingora::Error::because(pingora::ErrorType::InternalError, "building the request", e))?;
    let mut response = match router.clone().oneshot(request).await {
        Ok(r) => r,
        Err(never) => match never {},
    };
    if let Some(value) = hsts.and_then(|v| http::HeaderValue::try_from(v).ok()) {
        response.headers_mut().insert(http::header::STRICT_TRANSPORT_SECURITY, value);
    }
    write(session, response, id).await
}

fn too_large() -> http::Response<Body> {
    let mut r = http::Response::new(Body::from(
        r#"{"error":"invalid_request","error_description":"the request body is too large"}"#,
    ));
    *r.status_mut() = http::StatusCode::PAYLOAD_TOO_LARGE;
    r.headers_mut().insert(http::header::CONTENT_TYPE, http::HeaderValue::from_static("application/json"));
    r
}

async fn write(
    session: &mut Session,
    response: http::Response<Body>,
    request_id: Option<http::HeaderValue>,
) -> pingora::Result<()> {
    let (mut parts, body) = response.into_parts();
    let mut bytes: Bytes = axum::body::to_bytes(body, 4 * 1024 * 1024)
        .await
        .map_err(|e| pingora::Error::because(pingora::ErrorType::InternalError, "reading the response", e))?;
    if let Some(id) = request_id.filter(|v| v.to_str().is_ok_and(crate::edge::deny::is_request_id)) {
        // An OAuth error body names the request id too (RFC 6749 allows members beyond `error`).
        let json = parts
            .headers
            .get(http::header::CONTENT_TYPE)
            .is_some_and(|v| v.as_bytes().starts_with(b"application/json"));
        if json && parts.status.as_u16() >= 400 {
            bytes = crate::edge::deny::with_request_id(&bytes, id.to_str().unwrap_or(""));
        }
        parts.headers.insert(crate::edge::deny::REQUEST_ID_HEADER, id);
    }
    let mut head = ResponseHeader::build(parts.status, Some(parts.headers.len() + 1))?;
    for (name, value) in parts.headers.iter() {
        head.append_header(name.clone(), value.clone())?;
    }
    head.insert_header(http::header::CONTENT_LENGTH, bytes.len())?;
    session.write_response_header(Box::new(head), false).await?;
    session.write_response_body(Some(bytes), true).await?;
    Ok(())
}
