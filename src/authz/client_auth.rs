//! Client authentication at the token, introspection and revocation endpoints: HTTP Basic or the body's
//! `client_secret` for confidential apps, `private_key_jwt` (RFC 7523 2.2) for machine apps with a registered key, one
//! method per request; `client_id` alone for single-page apps. Each failure is counted per client and address so
//! that guessing is throttled without locking the client out elsewhere.

use axum::http::HeaderMap;

use super::wire::Params;
use super::{throttle, AuthServer, ErrorCode, OAuthError};
use crate::store::{AppRecord, AppType};

/// Failed client authentications allowed for one client from one address before attempts are refused for a while.
const CLIENT_FREE_FAILURES: u32 = 3;
/// Failed client authentications allowed from one address before attempts are refused for a while.
const CLIENT_ADDRESS_FREE_FAILURES: u32 = 20;
/// `client_assertion_type` of `private_key_jwt` (RFC 7523 2.2).
pub const CLIENT_ASSERTION_TYPE: &str = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";

/// The throttle keys of one client's authentication from one address: per (client, address), then per address.
fn throttle_keys(client_id: &str, ip: Option<std::net::IpAddr>) -> Vec<throttle::Key> {
    let address = throttle::address_key(ip);
    vec![
        throttle::Key::failures_only(format!("client:{client_id}@{address}"), CLIENT_FREE_FAILURES),
        throttle::Key::failures_only(format!("client-address:{address}"), CLIENT_ADDRESS_FREE_FAILURES),
    ]
}

/// The `iss` of a JWT, unverified: which app's keys should verify it.
pub(super) fn unverified_issuer(assertion: &str) -> Option<String> {
    let jws = crate::edge::jwt::parse_as::<serde_json::Value>(assertion).ok()?;
    jws.claims.get("iss").and_then(serde_json::Value::as_str).map(str::to_string)
}

/// Whether a request carries no client authentication at all.
pub(super) fn unauthenticated(headers: &HeaderMap, params: &Params) -> bool {
    headers.get(http::header::AUTHORIZATION).is_none()
        && ["client_id", "client_secret", "client_assertion", "client_assertion_type"]
            .iter()
            .all(|p| params.get(p).is_none())
}

impl AuthServer {
    /// Authenticates the client of a token, introspection or revocation request: HTTP Basic, or `client_id` and
    /// `client_secret` in the body, or (public single-page apps) `client_id` alone. Returns the app and whether a
    /// secret was verified.
    pub(super) async fn client(
        &self,
        headers: &HeaderMap,
        params: &Params,
        ip: Option<std::net::IpAddr>,
    ) -> Result<(AppRecord, bool), OAuthError> {
        let basic = headers
            .get(http::header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(crate::registry::credentials::client_basic);
        if let Some(kind) = params.get("client_assertion_type") {
            if basic.is_some() || params.get("client_secret").is_some() {
                return Err(OAuthError::bad(ErrorCode::InvalidRequest, "use one client authentication method"));
            }
            if kind != CLIENT_ASSERTION_TYPE {
                return Err(OAuthError::bad(
                    ErrorCode::InvalidRequest,
                    "client_assertion_type must be urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
                ));
            }
            return self.client_by_assertion(params.require("client_assertion")?, params.get("client_id"), ip).await;
        }
        let (client_id, secret) = match basic {
            Some(decoded) => {
                if params.get("client_secret").is_some() {
                    return Err(OAuthError::bad(ErrorCode::InvalidRequest, "use one client authentication method"));
                }
                let (id, secret) = decoded.map_err(|()| OAuthError::invalid_client())?;
                if params.get("client_id").is_some_and(|c| c != id) {
                    return Err(OAuthError::bad(
                        ErrorCode::InvalidRequest,
                        "client_id differs from the authenticated client",
                    ));
                }
                (id, Some(secret))
            }
            None => {
                let id = params.get("client_id").ok_or_else(OAuthError::invalid_client)?.to_string();
                (id, params.get("client_secret").map(str::to_string))
            }
        };
        let app = self.store().app(&client_id).await?;
        // Failures count per (client, address) and per address, so that guessing one client's secret from one place
        // cannot lock that client out everywhere.
        let mut keys = throttle_keys(&client_id, ip);
        match (app, secret) {
            (Some(app), Some(secret)) if app.app_type != AppType::Spa => {
                let attempt = self.throttle.begin(keys).map_err(OAuthError::throttled)?;
                if self.registry.verify_secret(&app.client_id, &secret).await? {
                    attempt.succeeded();
                    Ok((app, true))
                } else {
                    drop(attempt);
                    tracing::warn!(client_id = %app.client_id, ip = ?ip, "client authentication failed");
                    Err(OAuthError::invalid_client())
                }
            }
            (Some(app), None) if app.app_type == AppType::Spa => Ok((app, false)),
            (Some(app), _) => {
                tracing::warn!(client_id = %app.client_id, "client authentication failed: wrong method for its type");
                Err(OAuthError::invalid_client())
            }
            (None, _) => {
                // An unknown client id counts against the address only.
                let attempt = self.throttle.begin(keys.split_off(1)).map_err(OAuthError::throttled)?;
                drop(attempt);
                Err(OAuthError::invalid_client())
            }
        }
    }

    /// `private_key_jwt`: a JWT signed by one of a machine app's registered keys, `iss` and `sub` its client id,
    /// `aud` this server, used once (RFC 7523 2.2, 3).
    async fn client_by_assertion(
        &self,
        assertion: &str,
        client_id: Option<&str>,
        ip: Option<std::net::IpAddr>,
    ) -> Result<(AppRecord, bool), OAuthError> {
        let Some(iss) = unverified_issuer(assertion) else { return Err(OAuthError::invalid_client()) };
        if client_id.is_some_and(|c| c != iss) {
            return Err(OAuthError::bad(ErrorCode::InvalidRequest, "client_id differs from the assertion's iss"));
        }
        let mut keys = throttle_keys(&iss, ip);
        let Some(app) = self.store().app(&iss).await?.filter(|a| a.app_type == AppType::Machine) else {
            // An unknown client counts against the address only.
            let attempt = self.throttle.begin(keys.split_off(1)).map_err(OAuthError::throttled)?;
            drop(attempt);
            return Err(OAuthError::invalid_client());
        };
        let attempt = self.throttle.begin(keys).map_err(OAuthError::throttled)?;
        let now = self.clock.now();
        let app_keys = self.registry.verification_keys(&app.client_id).await?;
        let checked = self.verified_assertion(&app, &app_keys, assertion, now).and_then(|(claims, exp, jti)| {
            match claims.get("sub").and_then(serde_json::Value::as_str) == Some(app.client_id.as_str()) {
                true => Ok((exp, jti)),
                false => Err("the client assertion's sub must be the client id".to_string()),
            }
        });
        let (exp, jti) = match checked {
            Ok(x) => x,
            Err(why) => {
                drop(attempt);
                tracing::warn!(client_id = %app.client_id, ip = ?ip, reason = %why, "client assertion refused");
                return Err(OAuthError::invalid_client());
            }
        };
        if !self.store().record_assertion(&app.client_id, &jti, exp, now).await? {
            drop(attempt);
            tracing::warn!(client_id = %app.client_id, "client assertion replayed");
            return Err(OAuthError::invalid_client());
        }
        attempt.succeeded();
        Ok((app, true))
    }
}
