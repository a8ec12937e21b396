//! `/oauth2/token` (and the Workfront paths): one grant type per request, each a variant of [`Grant`], errors per
//! RFC 6749 5.2.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use axum::Extension;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use jsonwebtoken::Algorithm;
use serde_json::{json, Value};
use sha2::{Digest, Sha256};

use super::bridge::ClientIp;
use super::wire::{answer, parse_scope, Params};
use super::{AuthServer, ErrorCode, OAuthError, ASSERTION_LEEWAY_SECS, ASSERTION_MAX_LIFETIME_SECS};
use crate::edge::jwt;
use crate::registry::credentials::{self, AuthorizationCode, RefreshToken};
use crate::registry::public_keys::Family;
use crate::store::{AppRecord, AppType, GrantId, GrantRecord, Redemption, RefreshRecord, RevocationKind};

/// The grant types, each with what it needs.
enum Grant<'a> {
    AuthorizationCode { code: AuthorizationCode, redirect_uri: Option<&'a str>, verifier: Option<&'a str> },
    RefreshToken { token: RefreshToken, scope: Option<&'a str> },
    JwtBearer { assertion: &'a str, scope: Option<&'a str> },
    ClientCredentials { scope: Option<&'a str> },
}

impl<'a> Grant<'a> {
    fn parse(p: &'a Params) -> Result<Self, OAuthError> {
        match p.get("grant_type") {
            Some("authorization_code") => Ok(Grant::AuthorizationCode {
                code: AuthorizationCode::presented(p.require("code")?),
                redirect_uri: p.get("redirect_uri"),
                verifier: p.get("code_verifier"),
            }),
            Some("refresh_token") => Ok(Grant::RefreshToken {
                token: RefreshToken::presented(p.require("refresh_token")?),
                scope: p.get("scope"),
            }),
            Some("urn:ietf:params:oauth:grant-type:jwt-bearer") => {
                Ok(Grant::JwtBearer { assertion: p.require("assertion")?, scope: p.get("scope") })
            }
            Some("client_credentials") => Ok(Grant::ClientCredentials { scope: p.get("scope") }),
            Some(_) => Err(OAuthError::bad(ErrorCode::UnsupportedGrantType, "this grant_type is not supported")),
            None => Err(OAuthError::bad(ErrorCode::InvalidRequest, "`grant_type` is required")),
        }
    }
}

fn pkce_matches(verifier: &str, challenge: &str) -> bool {
    let ok_len = (43..=128).contains(&verifier.len());
    let ok_chars = verifier.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~'));
    let computed = URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()));
    ok_len && ok_chars && credentials::matches_hash(&computed, &credentials::hash(challenge))
}

/// An app's registered public keys: (kid, family, key).
pub(super) type AppKeys = Vec<(String, Family, jsonwebtoken::DecodingKey)>;

/// A refresh token to issue with an access token: for this grant, replacing (by rotation) the token with this hash.
#[derive(Clone, Copy)]
struct Refresh<'a> {
    grant: &'a GrantRecord,
    replaces: Option<&'a str>,
}

impl AuthServer {
    fn scope_within(
        &self,
        requested: Option<&str>,
        allowed: &[String],
        default: &[String],
    ) -> Result<Vec<String>, OAuthError> {
        let scope = match requested {
            Some(s) => parse_scope(s),
            None => default.to_vec(),
        };
        if let Some(bad) = scope.iter().find(|s| !allowed.contains(s)) {
            // A scope of this server is named; anything else the client sent is not echoed.
            let why = match self.cfg.scopes.contains(bad) {
                true => format!("`{bad}` cannot be granted to this client"),
                false => "a requested scope is not a scope of this server".to_string(),
            };
            return Err(OAuthError::bad(ErrorCode::InvalidScope, why));
        }
        Ok(scope)
    }

    /// Signs an access token and, when `refresh` is given, stores a refresh token of that grant.
    async fn issue(
        &self,
        app: &AppRecord,
        subject: &str,
        scope: &[String],
        grant_id: Option<&GrantId>,
        refresh: Option<Refresh<'_>>,
    ) -> Result<Value, OAuthError> {
        let now = self.clock.now();
        let ttl = self.cfg.access_token_ttl.as_secs() as i64;
        let jti = super::revocation::token_id_for(grant_id);
        let aud: Value = if self.cfg.audiences.len() == 1 {
            self.cfg.audiences[0].clone().into()
        } else {
            json!(self.cfg.audiences)
        };
        let scope_text = scope.join(" ");
        let claims = json!({
            "iss": self.cfg.issuer, "sub": subject, "aud": aud, "exp": now + ttl, "iat": now, "nbf": now,
            "jti": jti.as_str(), "client_id": app.client_id, "scope": scope_text,
        });
        let access_token = self.keys.sign(&claims)?;
        let mut body =
            json!({"access_token": access_token, "token_type": "Bearer", "expires_in": ttl, "scope": scope_text});
        if let Some(refresh) = refresh {
            let grant = refresh.grant;
            let token = RefreshToken::generate();
            let record = RefreshRecord {
                token_hash: token.hash(),
                grant_id: grant.id.clone(),
                client_id: app.client_id.clone(),
                scope: grant.scope.clone(),
                created_at: now,
                last_used_at: now,
                parent_hash: refresh.replaces.map(str::to_string),
            };
            match refresh.replaces {
                None => self.store().create_refresh(&record).await?,
                // The old token is spent and the new one stored in one transaction.
                Some(old) => match self
                    .store()
                    .rotate_refresh(old, &record, now, self.cfg.refresh_token_reuse_grace_secs)
                    .await?
                {
                    Redemption::Fresh(_) => {}
                    Redemption::Retried(_) => {
                        tracing::info!(grant = %grant.id, "refresh retried within the grace: its unused successor is spent");
                    }
                    Redemption::Replayed(r) => {
                        self.revoke_grant(&r.grant_id, "refresh token reused").await?;
                        return Err(OAuthError::bad(ErrorCode::InvalidGrant, "the refresh token was already used"));
                    }
                    Redemption::Unknown => {
                        return Err(OAuthError::bad(ErrorCode::InvalidGrant, "unknown refresh token"))
                    }
                },
            }
            body["refresh_token"] = token.expose().into();
        }
        Ok(body)
    }

    /// Revokes a grant and every token of it, everywhere.
    pub(super) async fn revoke_grant(&self, grant_id: &GrantId, why: &str) -> Result<(), OAuthError> {
        let now = self.clock.now();
        if self.store().revoke_grant(grant_id, now).await? {
            tracing::warn!(grant = %grant_id, reason = why, "grant revoked");
        }
        let until = now + self.cfg.access_token_ttl.as_secs() as i64 + 60;
        self.revocations.revoke(self.store(), RevocationKind::Grant, grant_id.as_str(), now, until).await?;
        Ok(())
    }

    pub(super) async fn user_enabled(&self, username: &str) -> Result<bool, OAuthError> {
        Ok(self.store().user_by_name(username).await?.is_some_and(|u| !u.disabled))
    }

    async fn grant_code(
        &self,
        app: &AppRecord,
        code: &AuthorizationCode,
        redirect_uri: Option<&str>,
        verifier: Option<&str>,
    ) -> Result<Value, OAuthError> {
        let now = self.clock.now();
        let invalid = |d: &str| OAuthError::bad(ErrorCode::InvalidGrant, d);
        let hash = code.hash();
        // Every check runs before the code is spent, so that a wrong party (another client, another redirect URI, a
        // wrong verifier) cannot burn someone else's code.
        let (rec, used) = self.store().code(&hash).await?.ok_or_else(|| invalid("unknown code"))?;
        if used {
            // A second use: whatever the first one obtained is revoked (RFC 6749 4.1.2).
            self.revoke_grant(&rec.grant_id, "authorization code replayed").await?;
            return Err(invalid("the code was already used"));
        }
        if rec.client_id != app.client_id {
            return Err(invalid("the code was issued to another client"));
        }
        if now >= rec.expires_at {
            return Err(invalid("the code has expired"));
        }
        // Required and identical when the authorization request named it (stored empty when it did not, RFC 6749
        // 4.1.3); sent anyway, it must be the app's.
        let redirect_ok = match (rec.redirect_uri.as_str(), redirect_uri) {
            ("", None) => true,
            ("", Some(r)) => app.redirect_urls.iter().any(|u| u == r),
            (stored, sent) => sent == Some(stored),
        };
        if !redirect_ok {
            return Err(invalid("redirect_uri differs from the authorization request"));
        }
        match (&rec.code_challenge, verifier) {
            (Some(challenge), Some(v)) if pkce_matches(v, challenge) => {}
            (Some(_), Some(_)) => return Err(invalid("code_verifier does not match the code_challenge")),
            (Some(_), None) => return Err(invalid("code_verifier is required")),
            (None, Some(_)) => {
                return Err(invalid("code_verifier sent but the authorization request had no code_challenge"))
            }
            (None, None) if app.app_type == AppType::Spa => return Err(invalid("PKCE is required")),
            (None, None) => {}
        }
        if !self.user_enabled(&rec.username).await? {
            return Err(invalid("the user is disabled"));
        }
        let grant = GrantRecord {
            id: rec.grant_id.clone(),
            client_id: app.client_id.clone(),
            username: rec.username.clone(),
            scope: rec.scope.clone(),
            created_at: now,
            expires_at: app.refresh_token_absolute_expiry_secs.map(|s| now + s),
            revoked_at: None,
        };
        // Spent and the grant stored in one transaction: a replay racing this one finds the grant, and revokes it.
        match self.store().redeem_code(&hash, &grant, now).await? {
            Redemption::Fresh(_) => {}
            Redemption::Replayed(r) => {
                self.revoke_grant(&r.grant_id, "authorization code replayed").await?;
                return Err(invalid("the code was already used"));
            }
            Redemption::Retried(_) | Redemption::Unknown => return Err(invalid("unknown code")),
        }
        let scope = parse_scope(&rec.scope);
        let refresh = scope.iter().any(|s| s == "offline_access").then_some(Refresh { grant: &grant, replaces: None });
        self.issue(app, &rec.username, &scope, Some(&grant.id), refresh).await
    }

    async fn grant_refresh(
        &self,
        app: &AppRecord,
        token: &RefreshToken,
        scope: Option<&str>,
    ) -> Result<Value, OAuthError> {
        let now = self.clock.now();
        let invalid = |d: &str| OAuthError::bad(ErrorCode::InvalidGrant, d);
        let hash = token.hash();
        // Every check runs before the token is used up, so that a refused request (another client, a scope too wide)
        // leaves a valid token valid; only a token already rotated out is treated as reuse.
        let (rec, used) = self.store().refresh(&hash).await?.ok_or_else(|| invalid("unknown refresh token"))?;
        if rec.client_id != app.client_id {
            return Err(invalid("the refresh token was issued to another client"));
        }
        if used && self.cfg.refresh_token_reuse_grace_secs == 0 {
            // A rotated-out token presented again: someone holds a copy. Revoke the whole family (RFC 9700 4.14.2).
            // (With a retry grace, the rotation below tells a retry from reuse.)
            self.revoke_grant(&rec.grant_id, "refresh token reused").await?;
            return Err(invalid("the refresh token was already used"));
        }
        let grant = self.store().grant(&rec.grant_id).await?.ok_or_else(|| invalid("unknown grant"))?;
        if grant.revoked_at.is_some() {
            return Err(invalid("the refresh token has been revoked"));
        }
        if grant.expires_at.is_some_and(|e| now >= e) {
            return Err(invalid("the refresh token has expired"));
        }
        if app.refresh_token_inactivity_expiry_secs.is_some_and(|i| now - rec.last_used_at >= i) {
            return Err(invalid("the refresh token expired after inactivity"));
        }
        if !self.user_enabled(&grant.username).await? {
            return Err(invalid("the user is disabled"));
        }
        let granted = parse_scope(&grant.scope);
        let scope = self.scope_within(scope, &granted, &granted)?;
        if app.refresh_token_rotation {
            // Spent and replaced in one transaction by `issue`.
            let refresh = Refresh { grant: &grant, replaces: Some(&hash) };
            return self.issue(app, &grant.username, &scope, Some(&grant.id), Some(refresh)).await;
        }
        match self.store().touch_refresh(&hash, now).await? {
            Redemption::Fresh(_) | Redemption::Retried(_) => {}
            // Rotation was switched on and off again between our read and now.
            Redemption::Replayed(r) => {
                self.revoke_grant(&r.grant_id, "refresh token reused").await?;
                return Err(invalid("the refresh token was already used"));
            }
            Redemption::Unknown => return Err(invalid("unknown refresh token")),
        }
        self.issue(app, &grant.username, &scope, Some(&grant.id), None).await
    }

    async fn grant_jwt_bearer(
        &self,
        app: &AppRecord,
        assertion: &str,
        scope: Option<&str>,
    ) -> Result<Value, OAuthError> {
        let invalid = |d: &str| OAuthError::bad(ErrorCode::InvalidGrant, d);
        let now = self.clock.now();
        let keys = self.registry.verification_keys(&app.client_id).await?;
        let (claims, exp, jti) = self.verified_assertion(app, &keys, assertion, now).map_err(|why| invalid(&why))?;
        let jti = jti.as_str();
        let sub =
            claims.get("sub").and_then(Value::as_str).ok_or_else(|| invalid("the assertion needs sub (the user)"))?;
        // Only the users an administrator listed for this app; an empty list allows none.
        if !app.jwt_subjects.iter().any(|s| s == sub) {
            return Err(invalid("this app may not act as that sub (not in its jwt_subjects)"));
        }
        if !self.user_enabled(sub).await? {
            return Err(invalid("sub is not an active user"));
        }
        let scope = self.machine_scope(app, scope)?;
        // The id is kept until exp: a replay before then is refused; after it, the assertion has expired anyway.
        if !self.store().record_assertion(&app.client_id, jti, exp, now).await? {
            return Err(invalid("the assertion was already used (jti)"));
        }
        let grant_id = GrantId::new(credentials::record_id());
        self.issue(app, sub, &scope, Some(&grant_id), None).await
    }

    /// Checks a JWT that an app signed with one of its registered keys (RFC 7523: an authorization grant, or client
    /// authentication with `private_key_jwt`): the edge's JWS parser and signature check, then `iss` = the client
    /// id, `exp` (at most 5 minutes ahead), `iat` and `nbf`, `aud` naming this server and a `jti`. Returns the claims,
    /// `exp` and `jti` (the caller records the `jti`, so that a replay is refused), or why not.
    pub(super) fn verified_assertion(
        &self,
        app: &AppRecord,
        keys: &AppKeys,
        assertion: &str,
        now: i64,
    ) -> Result<(Value, i64, String), String> {
        let invalid = |d: &str| d.to_string();
        // The one JWS parser and signature check of the edge; the claims are RFC 7523's, checked below.
        let jws = jwt::parse_as::<Value>(assertion).map_err(|_| invalid("the assertion is not a signed JWT"))?;
        if jws.header.crit.is_some() {
            return Err(invalid("the assertion names critical header extensions, which are not understood"));
        }
        let (alg, family) = match jws.header.alg.as_str() {
            "RS256" => (Algorithm::RS256, Family::Rsa),
            "ES256" => (Algorithm::ES256, Family::Ec),
            "EdDSA" => (Algorithm::EdDSA, Family::Okp),
            _ => return Err(invalid("the assertion must be signed with RS256, ES256 or EdDSA")),
        };
        let verified = keys
            .iter()
            .filter(|(kid, fam, _)| *fam == family && jws.header.kid.as_ref().is_none_or(|k| k == kid))
            .any(|(_, _, key)| jwt::check_signature(&jws, key, alg).is_ok());
        if !verified {
            return Err(invalid("the assertion's signature does not verify with any key of this app"));
        }
        let claims = jws.claims;
        if claims.get("iss").and_then(Value::as_str) != Some(app.client_id.as_str()) {
            return Err(invalid("the assertion's iss must be the client id"));
        }
        let time = |name: &str| -> Result<Option<i64>, String> {
            match claims.get(name) {
                None => Ok(None),
                Some(v) => {
                    v.as_i64().map(Some).ok_or_else(|| format!("the assertion's {name} must be a number of seconds"))
                }
            }
        };
        let exp = time("exp")?.ok_or_else(|| invalid("the assertion needs exp"))?;
        if exp <= now {
            return Err(invalid("the assertion has expired"));
        }
        if exp > now + ASSERTION_MAX_LIFETIME_SECS {
            return Err(invalid("the assertion's exp is more than 5 minutes ahead"));
        }
        let iat = time("iat")?;
        if iat.is_some_and(|iat| iat > now + ASSERTION_LEEWAY_SECS) {
            return Err(invalid("the assertion's iat is in the future"));
        }
        if time("nbf")?.is_some_and(|nbf| nbf > now + ASSERTION_LEEWAY_SECS) {
            return Err(invalid("the assertion's nbf is in the future"));
        }
        if iat.is_some_and(|iat| exp - iat > ASSERTION_MAX_LIFETIME_SECS) {
            return Err(invalid("the assertion lives longer than 5 minutes (exp - iat)"));
        }
        // RFC 7523 3: aud is required and must identify this server (its token endpoint or its issuer).
        let accepted = [
            self.cfg.issuer.clone(),
            format!("{}/", self.cfg.issuer),
            format!("{}/oauth2/token", self.cfg.issuer),
            format!("{}/integrations/oauth2/api/v1/token", self.cfg.issuer),
            format!("{}/integrations/oauth2/api/v1/jwt/exchange", self.cfg.issuer),
        ];
        let aud_ok = match claims.get("aud") {
            None => return Err(invalid("the assertion needs aud (the token endpoint or the issuer)")),
            Some(Value::String(a)) => accepted.contains(a),
            Some(Value::Array(l)) => l.iter().filter_map(Value::as_str).any(|a| accepted.iter().any(|x| x == a)),
            Some(_) => false,
        };
        if !aud_ok {
            return Err(invalid("the assertion's aud is not this authorization server"));
        }
        let jti = claims
            .get("jti")
            .and_then(Value::as_str)
            .filter(|j| !j.is_empty() && j.len() <= 256)
            .ok_or_else(|| invalid("the assertion needs jti (a unique id, at most 256 characters)"))?
            .to_string();
        Ok((claims, exp, jti))
    }

    /// The scope of a machine app's token: what it asked for (or, when it asked for nothing, all it may have), within
    /// the scopes its administrator allowed it (the server's default scopes unless set), never `offline_access`: that
    /// one is dropped from the request and no refresh token issued (RFC 6749 4.4.3), instead of refusing it all.
    fn machine_scope(&self, app: &AppRecord, requested: Option<&str>) -> Result<Vec<String>, OAuthError> {
        let requested: Option<String> =
            requested.map(|r| r.split(' ').filter(|s| *s != "offline_access").collect::<Vec<_>>().join(" "));
        let requested = requested.as_deref().filter(|r| !r.trim().is_empty());
        let allowed: Vec<String> = app
            .scopes
            .as_deref()
            .unwrap_or(&self.cfg.default_scopes)
            .iter()
            .filter(|s| *s != "offline_access" && self.cfg.scopes.contains(s))
            .cloned()
            .collect();
        let default: Vec<String> = match &app.scopes {
            Some(_) => allowed.clone(),
            None => self.cfg.default_scopes.iter().filter(|s| allowed.contains(s)).cloned().collect(),
        };
        self.scope_within(requested, &allowed, &default)
    }

    async fn token_request(
        &self,
        headers: &HeaderMap,
        params: &Params,
        ip: Option<std::net::IpAddr>,
    ) -> Result<Value, OAuthError> {
        let grant = Grant::parse(params)?;
        let (app, confidential) = match &grant {
            // RFC 7523 3.1: client authentication is optional for this grant, the assertion authenticates (its
            // signature is checked with the keys of the app its `iss` names).
            Grant::JwtBearer { assertion, .. } if super::client_auth::unauthenticated(headers, params) => {
                let iss = super::client_auth::unverified_issuer(assertion)
                    .ok_or_else(|| OAuthError::bad(ErrorCode::InvalidGrant, "the assertion is not a signed JWT"))?;
                let app = self.store().app(&iss).await?.ok_or_else(|| {
                    OAuthError::bad(ErrorCode::InvalidGrant, "the assertion's iss is not a client of this server")
                })?;
                (app, true)
            }
            _ => self.client(headers, params, ip).await?,
        };
        if let Some(limiter) = &self.token_limiter {
            if let Err(wait) = limiter.check(&app.client_id) {
                return Err(OAuthError::too_many(wait.as_secs().max(1)));
            }
        }
        let unauthorized = |d: &str| OAuthError::bad(ErrorCode::UnauthorizedClient, d);
        match grant {
            Grant::AuthorizationCode { code, redirect_uri, verifier } => {
                match app.app_type {
                    AppType::Machine => {
                        return Err(unauthorized("machine-to-machine apps cannot use the authorization code grant"))
                    }
                    AppType::Web if !confidential => return Err(OAuthError::invalid_client()),
                    _ => {}
                }
                self.grant_code(&app, &code, redirect_uri, verifier).await
            }
            Grant::RefreshToken { token, scope } => {
                match app.app_type {
                    AppType::Machine => return Err(unauthorized("machine-to-machine apps get no refresh tokens")),
                    AppType::Web if !confidential => return Err(OAuthError::invalid_client()),
                    _ => {}
                }
                self.grant_refresh(&app, &token, scope).await
            }
            Grant::JwtBearer { assertion, scope } => {
                if app.app_type != AppType::Machine || !confidential {
                    return Err(unauthorized("only machine-to-machine apps may use JWT bearer"));
                }
                self.grant_jwt_bearer(&app, assertion, scope).await
            }
            Grant::ClientCredentials { scope } => {
                if app.app_type != AppType::Machine || !confidential {
                    return Err(unauthorized(
                        "only machine-to-machine apps, with their secret, may use client credentials",
                    ));
                }
                let scope = self.machine_scope(&app, scope)?;
                self.issue(&app, &app.client_id, &scope, None, None).await
            }
        }
    }
}

/// `POST /oauth2/token`.
pub async fn token(
    State(s): State<Arc<AuthServer>>,
    Extension(ip): Extension<ClientIp>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let params = match Params::parse(&headers, &body) {
        Ok(p) => p,
        Err(e) => return e.into_response(),
    };
    answer(s.token_request(&headers, &params, ip.0).await)
}

/// `POST /integrations/oauth2/api/v1/jwt/exchange`: form `client_id`, `client_secret`, `jwt_token` (Workfront).
pub async fn jwt_exchange(
    State(s): State<Arc<AuthServer>>,
    Extension(ip): Extension<ClientIp>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let params = match Params::parse(&headers, &body) {
        Ok(p) => p,
        Err(e) => return e.into_response(),
    };
    let Some(jwt) = params.get("jwt_token").map(str::to_string) else {
        return OAuthError::bad(ErrorCode::InvalidRequest, "`jwt_token` is required").into_response();
    };
    let mut pairs: Vec<(String, String)> =
        params.into_pairs().into_iter().filter(|(k, _)| k != "jwt_token" && k != "grant_type").collect();
    pairs.push(("grant_type".into(), "urn:ietf:params:oauth:grant-type:jwt-bearer".into()));
    pairs.push(("assertion".into(), jwt));
    answer(s.token_request(&headers, &Params::from_pairs(pairs), ip.0).await)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pkce_s256() {
        // RFC 7636 appendix B.
        let verifier = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
        assert!(pkce_matches(verifier, "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"));
        assert!(!pkce_matches(verifier, "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cN"));
        assert!(!pkce_matches("short", "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"));
    }
}
