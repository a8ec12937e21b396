//! Client authentication at the token, introspection and revocation endpoints: HTTP Basic or the body's
//! `client_secret` for confidential apps (one method per request), `client_id` alone for single-page apps, each
//! failure counted per client and address so that guessing is throttled without locking the client out elsewhere.

use axum::http::HeaderMap;

use super::wire::Params;
use super::{throttle, AuthServer, ErrorCode, OAuthError};
use crate::store::{AppRecord, AppType};

/// Failed client authentications allowed for one client from one address before attempts are refused for a while.
const CLIENT_FREE_FAILURES: u32 = 3;
/// Failed client authentications allowed from one address before attempts are refused for a while.
const CLIENT_ADDRESS_FREE_FAILURES: u32 = 20;

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
        let address = throttle::address_key(ip);
        let mut keys = vec![
            throttle::Key::failures_only(format!("client:{client_id}@{address}"), CLIENT_FREE_FAILURES),
            throttle::Key::failures_only(format!("client-address:{address}"), CLIENT_ADDRESS_FREE_FAILURES),
        ];
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
}
