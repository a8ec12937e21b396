//! `POST /oauth2/token` with `grant_type=authorization_code`: client authentication, the code's lifetime and bindings,
//! PKCE, the access token it gives and the edge accepting it; and the token endpoint's errors.

use serde_json::{json, Value};

use crate::support::authz::*;

fn assert_token_answer(r: &Reply, scope: &str) -> Value {
    assert_eq!(r.status, 200, "{r:?}");
    assert_eq!(r.header("cache-control"), Some("no-store"), "{r:?}");
    let body = r.json();
    assert!(body["access_token"].as_str().is_some_and(|t| !t.is_empty()), "{r:?}");
    assert_eq!(body["token_type"], "Bearer", "{r:?}");
    assert!(body["expires_in"].as_i64().is_some_and(|e| e > 0), "{r:?}");
    assert_eq!(body["scope"], scope, "{r:?}");
    body
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_web_app_exchanges_its_code_with_client_secret_basic() {
    let az = TestAuthz::start().await;
    let app = az.web_app("Web").await;
    let code = az.code(&app, "api:read", None).await;
    let r = az.exchange(ClientAuth::Basic(&app), &code, None).await;
    let body = assert_token_answer(&r, "api:read");
    assert!(body.get("refresh_token").is_none(), "no offline_access, yet a refresh token: {r:?}");
    assert_eq!(az.api_status(body["access_token"].as_str().unwrap()).await, 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_web_app_exchanges_its_code_with_client_secret_post() {
    let az = TestAuthz::start().await;
    let app = az.web_app("Web").await;
    let code = az.code(&app, "api:read offline_access", None).await;
    let r = az.exchange(ClientAuth::Post(&app), &code, None).await;
    let body = assert_token_answer(&r, "api:read offline_access");
    assert!(body["refresh_token"].as_str().is_some_and(|t| !t.is_empty()), "{r:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_web_app_without_its_secret_gets_no_token() {
    let az = TestAuthz::start().await;
    let app = az.web_app("Web").await;
    let code = az.code(&app, "api:read", None).await;
    let r = az.exchange(ClientAuth::Public(&app), &code, None).await;
    r.oauth_error(401, "invalid_client");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_single_page_app_exchanges_its_code_with_the_pkce_verifier_and_no_secret() {
    let az = TestAuthz::start().await;
    let app = az.spa_app("Spa").await;
    assert!(app.secret.is_none());
    let (verifier, challenge) = pkce();
    let code = az.code(&app, "api:read", Some(&challenge)).await;
    let r = az.exchange(ClientAuth::Public(&app), &code, Some(&verifier)).await;
    let body = assert_token_answer(&r, "api:read");
    assert_eq!(az.api_status(body["access_token"].as_str().unwrap()).await, 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_access_token_is_an_rfc_9068_jwt_that_the_edge_accepts() {
    let az = TestAuthz::start().await;
    let app = az.web_app("Web").await;
    let issued_at = az.clock.now();
    let tokens = az.tokens(&app, "api:read api:write").await;
    let token = tokens["access_token"].as_str().unwrap();
    let (header, claims) = jwt_parts(token);
    assert_eq!(header["typ"], "at+jwt", "{header}");
    assert!(header["kid"].as_str().is_some_and(|k| !k.is_empty()), "{header}");
    assert_eq!(claims["iss"], ISSUER, "{claims}");
    assert_eq!(claims["sub"], "alice", "{claims}");
    let aud_ok = claims["aud"] == AUDIENCE || claims["aud"].as_array().is_some_and(|a| a.contains(&json!(AUDIENCE)));
    assert!(aud_ok, "{claims}");
    assert_eq!(claims["client_id"], app.client_id.as_str(), "{claims}");
    assert_eq!(claims["scope"], "api:read api:write", "{claims}");
    assert!(claims["jti"].as_str().is_some_and(|j| !j.is_empty()), "{claims}");
    let iat = claims["iat"].as_i64().expect("iat");
    assert!((issued_at..=issued_at + 2).contains(&iat), "iat {iat} is not the server's clock {issued_at}");
    assert_eq!(claims["exp"].as_i64().expect("exp"), iat + tokens["expires_in"].as_i64().unwrap(), "{claims}");

    // The edge lets it through and tells the upstream who is calling.
    az.api(token).await.expect(200);
    let seen = az.upstream.last().expect("the upstream saw the request");
    assert_eq!(seen.header("x-auth-subject"), Some("alice"));
    assert_eq!(seen.header("x-auth-client-id"), Some(app.client_id.as_str()));
    assert_eq!(seen.header("x-auth-scopes"), Some("api:read api:write"));
    assert_eq!(seen.header("x-auth-issuer"), Some(ISSUER));
    // The Workfront-style header carries it too.
    az.api_session_id(token).await.expect(200);
    assert_eq!(az.upstream.last().unwrap().header("x-auth-subject"), Some("alice"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_edge_enforces_the_scopes_the_token_was_granted() {
    let az = TestAuthz::start().await;
    let app = az.web_app("Web").await;
    let tokens = az.tokens(&app, "api:read").await;
    let token = tokens["access_token"].as_str().unwrap();
    az.api(token).await.expect(200);
    let hits = az.upstream.hits();
    let write = client().post(format!("{}/api/x", az.url)).bearer_auth(token).send().await.unwrap();
    assert_eq!(write.status(), 403);
    assert_eq!(az.upstream.hits(), hits, "a refused write reached the upstream");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_code_lives_two_minutes_on_the_server_clock() {
    let az = TestAuthz::start().await;
    let app = az.web_app("Web").await;
    let fresh = az.code(&app, "api:read", None).await;
    let stale = az.code(&app, "api:read", None).await;
    az.clock.advance(CODE_TTL - 5);
    az.exchange(ClientAuth::Basic(&app), &fresh, None).await.expect(200);
    az.clock.advance(6);
    az.exchange(ClientAuth::Basic(&app), &stale, None).await.oauth_error(400, "invalid_grant");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_replayed_code_is_refused_and_revokes_the_tokens_of_its_first_use() {
    let az = TestAuthz::start().await;
    let app = az.web_app("Web").await;
    let code = az.code(&app, "api:read offline_access", None).await;
    let first = az.exchange(ClientAuth::Basic(&app), &code, None).await.expect(200).json();
    let access = first["access_token"].as_str().unwrap();
    az.api(access).await.expect(200);

    az.exchange(ClientAuth::Basic(&app), &code, None).await.oauth_error(400, "invalid_grant");
    // RFC 6749 4.1.2: what the first use obtained is revoked, at once.
    az.api(access).await.expect(401);
    let refresh = first["refresh_token"].as_str().unwrap();
    az.refresh(ClientAuth::Basic(&app), refresh, None).await.oauth_error(400, "invalid_grant");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_code_is_bound_to_the_app_it_was_issued_to() {
    let az = TestAuthz::start().await;
    let app = az.web_app("Web").await;
    let other = az.web_app("Other").await;
    let code = az.code(&app, "api:read", None).await;
    az.exchange(ClientAuth::Basic(&other), &code, None).await.oauth_error(400, "invalid_grant");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_code_is_bound_to_its_redirect_uri() {
    let az = TestAuthz::start().await;
    let second = "https://client.example/other-cb";
    let app = az.app(json!({"type": "web", "name": "Web", "redirect_urls": [REDIRECT, second]})).await;
    let code = az.code(&app, "api:read", None).await;
    let form = [("grant_type", "authorization_code"), ("code", code.as_str()), ("redirect_uri", second)];
    az.token(ClientAuth::Basic(&app), &form).await.oauth_error(400, "invalid_grant");

    // Leaving it out is no way around the binding.
    let code = az.code(&app, "api:read", None).await;
    let form = [("grant_type", "authorization_code"), ("code", code.as_str())];
    let r = az.token(ClientAuth::Basic(&app), &form).await;
    assert_eq!(r.status, 400, "{r:?}");
    assert!(r.json().get("access_token").is_none(), "{r:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pkce_is_checked_at_the_exchange() {
    let az = TestAuthz::start().await;
    let spa = az.spa_app("Spa").await;
    let web = az.web_app("Web").await;

    // A wrong verifier.
    let (_, challenge) = pkce();
    let code = az.code(&spa, "api:read", Some(&challenge)).await;
    let (other_verifier, _) = pkce();
    az.exchange(ClientAuth::Public(&spa), &code, Some(&other_verifier)).await.oauth_error(400, "invalid_grant");

    // A challenge, but no verifier.
    let (_, challenge) = pkce();
    let code = az.code(&spa, "api:read", Some(&challenge)).await;
    az.exchange(ClientAuth::Public(&spa), &code, None).await.oauth_error(400, "invalid_grant");
    let (_, challenge) = pkce();
    let code = az.code(&web, "api:read", Some(&challenge)).await;
    az.exchange(ClientAuth::Basic(&web), &code, None).await.oauth_error(400, "invalid_grant");

    // A verifier, but no challenge was sent.
    let code = az.code(&web, "api:read", None).await;
    let (verifier, _) = pkce();
    az.exchange(ClientAuth::Basic(&web), &code, Some(&verifier)).await.oauth_error(400, "invalid_grant");

    // A web app may use PKCE as well as its secret.
    let (verifier, challenge) = pkce();
    let code = az.code(&web, "api:read", Some(&challenge)).await;
    az.exchange(ClientAuth::Basic(&web), &code, Some(&verifier)).await.expect(200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn token_endpoint_errors_follow_rfc_6749() {
    let az = TestAuthz::start().await;
    let app = az.web_app("Web").await;

    az.token(ClientAuth::Basic(&app), &[("code", "x")]).await.oauth_error(400, "invalid_request");
    for grant in ["urn:example:unknown", "password", "implicit", "token"] {
        let form = [("grant_type", grant), ("username", "alice"), ("password", ALICE_PASSWORD)];
        az.token(ClientAuth::Basic(&app), &form).await.oauth_error(400, "unsupported_grant_type");
    }

    // A wrong secret: 401, with a Basic challenge when Basic was used.
    let code = az.code(&app, "api:read", None).await;
    let form = [("grant_type", "authorization_code"), ("code", code.as_str()), ("redirect_uri", REDIRECT)];
    let basic = az.token(ClientAuth::BasicWith(&app.client_id, "tgs_wrong"), &form).await;
    basic.oauth_error(401, "invalid_client");
    let challenge = basic.header("www-authenticate").unwrap_or_else(|| panic!("no challenge: {basic:?}"));
    assert!(challenge.to_ascii_lowercase().starts_with("basic"), "{challenge}");
    let mut posted = form.to_vec();
    posted.extend([("client_id", app.client_id.as_str()), ("client_secret", "tgs_wrong")]);
    az.token(ClientAuth::Nothing, &posted).await.oauth_error(401, "invalid_client");
    // An unknown client.
    az.token(ClientAuth::BasicWith("no-such-client", "secret"), &form).await.oauth_error(401, "invalid_client");

    // A repeated parameter (RFC 6749 3.2).
    let repeated = "grant_type=authorization_code&grant_type=authorization_code&code=x&redirect_uri=https%3A%2F%2Fclient.example%2Fcb";
    let r = client()
        .post(format!("{}/oauth2/token", az.url))
        .header("authorization", basic_of(&app))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(repeated)
        .send()
        .await
        .unwrap();
    Reply::read("POST /oauth2/token (grant_type twice)".into(), r).await.oauth_error(400, "invalid_request");
    let repeated_code =
        format!("grant_type=authorization_code&code={code}&code={code}&redirect_uri=https%3A%2F%2Fclient.example%2Fcb");
    let r = client()
        .post(format!("{}/oauth2/token", az.url))
        .header("authorization", basic_of(&app))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(repeated_code)
        .send()
        .await
        .unwrap();
    Reply::read("POST /oauth2/token (code twice)".into(), r).await.oauth_error(400, "invalid_request");

    // None of these refusals spent the code.
    az.exchange(ClientAuth::Basic(&app), &code, None).await.expect(200);
}

fn basic_of(app: &App) -> String {
    basic(&app.client_id, app.secret())
}
