//! Introspection (RFC 7662), revocation (RFC 7009), the JWKS, the metadata (RFC 8414) and app logos.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use serde_json::{json, Value};

use super::bridge::ClientIp;
use super::wire::Params;
use super::{AuthServer, ErrorCode, OAuthError};
use crate::edge::identity::TokenId;
use crate::registry::credentials;
use crate::store::{AppRecord, GrantId, RevocationKind};

/// What one of tokengate's own tokens is, if it is one.
enum Own {
    Access(Value),
    Refresh {
        grant_id: GrantId,
        client_id: String,
        scope: String,
        username: String,
        active: bool,
        issued_at: i64,
        /// The sooner of the grant's absolute expiry and the inactivity limit, if either.
        expires_at: Option<i64>,
    },
}

impl AuthServer {
    /// Verifies an access token of this server exactly as the edge does ([`crate::edge::jwt::verify`]: issuer,
    /// algorithm, `typ`, expiry with the same leeway, audience, signature), then its revocation, and returns its claims.
    async fn own_access_token(&self, token: &str) -> Option<Value> {
        use crate::edge::jwt;
        let parsed = jwt::parse(token).ok()?;
        let now = self.clock.now();
        let (identity, _) = jwt::verify(&parsed, &self.issuer_config(), jwt::Keys::Local(self), now).await.ok()?;
        if self.revocations.is_revoked(&identity) {
            return None;
        }
        let payload = parsed.signing_input.split_once('.')?.1;
        serde_json::from_slice(
            &base64::Engine::decode(&base64::engine::general_purpose::URL_SAFE_NO_PAD, payload).ok()?,
        )
        .ok()
    }

    async fn own_token(&self, token: &str) -> Result<Option<Own>, OAuthError> {
        if crate::edge::jwt::looks_like_jwt(token) {
            return Ok(self.own_access_token(token).await.map(Own::Access));
        }
        let Some((rec, used)) = self.store().refresh(&credentials::hash(token)).await? else { return Ok(None) };
        let Some(grant) = self.store().grant(&rec.grant_id).await? else { return Ok(None) };
        let now = self.clock.now();
        let app = self.store().app(&rec.client_id).await?;
        let inactive = app
            .as_ref()
            .and_then(|a| a.refresh_token_inactivity_expiry_secs)
            .is_some_and(|i| now - rec.last_used_at >= i);
        let active = !used
            && app.is_some()
            && grant.revoked_at.is_none()
            && grant.expires_at.is_none_or(|e| now < e)
            && !inactive
            && self.user_enabled(&grant.username).await?;
        let idle_until =
            app.as_ref().and_then(|a| a.refresh_token_inactivity_expiry_secs).map(|i| rec.last_used_at + i);
        let expires_at = match (grant.expires_at, idle_until) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        Ok(Some(Own::Refresh {
            grant_id: grant.id,
            client_id: rec.client_id,
            scope: rec.scope,
            username: grant.username,
            active,
            issued_at: rec.created_at,
            expires_at,
        }))
    }

    async fn introspect(&self, app: &AppRecord, params: &Params) -> Result<Value, OAuthError> {
        let token =
            params.get("token").ok_or_else(|| OAuthError::bad(ErrorCode::InvalidRequest, "`token` is required"))?;
        let inactive = json!({"active": false});
        // An app learns only about its own tokens; a machine app designated as a resource server about any.
        let may_see = |client_id: Option<&str>| app.introspect_any || client_id == Some(app.client_id.as_str());
        Ok(match self.own_token(token).await? {
            Some(Own::Access(c)) if may_see(c.get("client_id").and_then(Value::as_str)) => {
                let mut c = c;
                c["active"] = true.into();
                c["token_type"] = "Bearer".into();
                c
            }
            // RFC 7662 2.2: `token_type` names an access token type (RFC 6749 5.1), so a refresh token has none; `exp`
            // when it expires (its grant's limit or the inactivity one), `iat` when it was issued.
            Some(Own::Refresh { client_id, scope, username, active: true, issued_at, expires_at, .. })
                if may_see(Some(&client_id)) =>
            {
                let mut v = json!({
                    "active": true, "client_id": client_id, "scope": scope, "sub": username, "iss": self.cfg.issuer,
                    "iat": issued_at,
                });
                if let Some(exp) = expires_at {
                    v["exp"] = exp.into();
                }
                v
            }
            _ => inactive,
        })
    }

    async fn revoke_token(&self, app: &AppRecord, params: &Params) -> Result<(), OAuthError> {
        let token =
            params.get("token").ok_or_else(|| OAuthError::bad(ErrorCode::InvalidRequest, "`token` is required"))?;
        match self.own_token(token).await? {
            Some(Own::Access(c)) if c.get("client_id").and_then(Value::as_str) == Some(app.client_id.as_str()) => {
                let jti = TokenId::new(c.get("jti").and_then(Value::as_str).unwrap_or_default());
                let exp = c.get("exp").and_then(Value::as_i64).unwrap_or_default();
                let now = self.clock.now();
                self.revocations.revoke(self.store(), RevocationKind::Jti, jti.as_str(), now, exp + 60).await?;
                tracing::info!(client_id = %app.client_id, "access token revoked");
            }
            Some(Own::Refresh { grant_id, client_id, .. }) if client_id == app.client_id => {
                self.revoke_grant(&grant_id, "revocation request").await?;
            }
            // Another client's token is refused (RFC 7009 2.1) and left as it is.
            Some(Own::Access(_)) | Some(Own::Refresh { .. }) => {
                tracing::warn!(client_id = %app.client_id, "revocation of another client's token refused");
                return Err(OAuthError::bad(ErrorCode::UnauthorizedClient, "the token was not issued to this client"));
            }
            // Unknown or already invalid tokens: nothing to do, and nothing to reveal (RFC 7009 2.2).
            None => {}
        }
        Ok(())
    }
}

/// `POST /oauth2/introspect`: confidential apps, about their own tokens.
pub async fn introspect(
    State(s): State<Arc<AuthServer>>,
    Extension(ip): Extension<ClientIp>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let result = async {
        let params = Params::parse(&headers, &body)?;
        let (app, confidential) = s.client(&headers, &params, ip.0).await?;
        if !confidential {
            return Err(OAuthError::invalid_client());
        }
        s.introspect(&app, &params).await
    }
    .await;
    super::wire::answer(result)
}

/// `POST /oauth2/revoke`.
pub async fn revoke(
    State(s): State<Arc<AuthServer>>,
    Extension(ip): Extension<ClientIp>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let result = async {
        let params = Params::parse(&headers, &body)?;
        let (app, _) = s.client(&headers, &params, ip.0).await?;
        s.revoke_token(&app, &params).await
    }
    .await;
    super::wire::answer(result.map(|()| json!({})))
}

/// `GET /oauth2/jwks`.
pub async fn jwks(State(s): State<Arc<AuthServer>>) -> Response {
    ([(http::header::CACHE_CONTROL, "public, max-age=300")], Json(s.keys.jwks())).into_response()
}

/// `GET /.well-known/oauth-authorization-server` (RFC 8414).
pub async fn metadata(State(s): State<Arc<AuthServer>>) -> Response {
    let i = &s.cfg.issuer;
    Json(json!({
        "issuer": i,
        "authorization_endpoint": format!("{i}/oauth2/authorize"),
        "token_endpoint": format!("{i}/oauth2/token"),
        "jwks_uri": format!("{i}/oauth2/jwks"),
        "introspection_endpoint": format!("{i}/oauth2/introspect"),
        "revocation_endpoint": format!("{i}/oauth2/revoke"),
        "response_modes_supported": ["query", "form_post"],
        "scopes_supported": s.cfg.scopes,
        "response_types_supported": ["code"],
        "response_modes_supported": ["query", "form_post"],
        "grant_types_supported": ["authorization_code", "refresh_token", "client_credentials", "urn:ietf:params:oauth:grant-type:jwt-bearer"],
        "token_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post", "private_key_jwt", "none"],
        "token_endpoint_auth_signing_alg_values_supported": ["RS256", "ES256", "EdDSA"],
        "introspection_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post", "private_key_jwt"],
        "revocation_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post", "private_key_jwt", "none"],
        "code_challenge_methods_supported": ["S256"],
        "authorization_response_iss_parameter_supported": true,
    }))
    .into_response()
}

/// `GET /oauth2/logo/{client_id}`: an uploaded logo, for the consent page; 404 when there is none (or no such app),
/// 503 when the store fails.
pub async fn logo(State(s): State<Arc<AuthServer>>, Path(client_id): Path<String>) -> Response {
    match s.registry.logo(&client_id).await {
        Ok((ct, data)) => (
            [
                (http::header::CONTENT_TYPE, ct),
                (http::header::CACHE_CONTROL, "public, max-age=300".into()),
                (http::header::X_CONTENT_TYPE_OPTIONS, "nosniff".into()),
            ],
            data,
        )
            .into_response(),
        Err(crate::registry::RegistryError::NotFound(_)) => OAuthError {
            status: http::StatusCode::NOT_FOUND,
            error: ErrorCode::NotFound,
            description: "this app has no uploaded logo".into(),
            retry_after: None,
        }
        .into_response(),
        Err(e) => OAuthError::unavailable(e).into_response(),
    }
}
