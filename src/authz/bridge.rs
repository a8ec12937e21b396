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
pub async fn serve(router: &Router, session: &mut Session, hsts: Option<String>) -> pingora::Result<()> {
    let head = session.req_header();
    let mut builder = http::Request::builder().method(head.method.clone()).uri(head.uri.clone());
    for (name, value) in head.headers.iter() {
        builder = builder.header(name, value);
    }
    let ip = session.client_addr().and_then(|a| a.as_inet()).map(|a| a.ip());
    let tls = session.digest().and_then(|d| d.ssl_digest.as_ref()).is_some();
    let mut body = Vec::new();
    while let Some(chunk) = session.read_request_body().await? {
        body.extend_from_slice(&chunk);
        if body.len() > MAX_BODY {
            return write(session, too_large()).await;
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
    write(session, response).await
}

fn too_large() -> http::Response<Body> {
    let mut r = http::Response::new(Body::from(
        r#"{"error":"invalid_request","error_description":"the request body is too large"}"#,
    ));
    *r.status_mut() = http::StatusCode::PAYLOAD_TOO_LARGE;
    r.headers_mut().insert(http::header::CONTENT_TYPE, http::HeaderValue::from_static("application/json"));
    r
}

async fn write(session: &mut Session, response: http::Response<Body>) -> pingora::Result<()> {
    let (parts, body) = response.into_parts();
    let bytes: Bytes = axum::body::to_bytes(body, 4 * 1024 * 1024)
        .await
        .map_err(|e| pingora::Error::because(pingora::ErrorType::InternalError, "reading the response", e))?;
    let mut head = ResponseHeader::build(parts.status, Some(parts.headers.len() + 1))?;
    for (name, value) in parts.headers.iter() {
        head.append_header(name.clone(), value.clone())?;
    }
    head.insert_header(http::header::CONTENT_LENGTH, bytes.len())?;
    session.write_response_header(Box::new(head), false).await?;
    session.write_response_body(Some(bytes), true).await?;
    Ok(())
}
