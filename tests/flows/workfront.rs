//! The Workfront-compatible paths: `/integrations/oauth2/authorize`, the token endpoint taking JSON, the JWT exchange,
//! and tokens carried in a `sessionID` header.

use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::json;

use crate::support::admin::TestKey;
use crate::support::authz::*;
use crate::support::Alg;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_integrations_authorize_path_signs_in_and_redirects_like_the_standard_one() {
    let az = TestAuthz::start().await;
    let app = az.web_app("Workfront client").await;
    let browser = az.browser();
    let path = authorize_path_with(
        "/integrations/oauth2/authorize",
        &[("response_type", "code"), ("client_id", &app.client_id), ("redirect_uri", REDIRECT), ("state", "wf")],
    );
    let login = browser.get(&path).await.expect(200);
    assert!(login.body.contains("name=\"password\""), "{login:?}");
    let consent = browser.login(&login, "alice", ALICE_PASSWORD).await.expect(200);
    let back = browser.decide(&consent, "allow").await;
    let params = back.redirect_params(REDIRECT);
    assert_eq!(params["state"], "wf");
    assert_eq!(params["iss"], ISSUER);
    let code = params.get("code").unwrap_or_else(|| panic!("{back:?}"));
    // No scope asked: the default scopes.
    let tokens = az.exchange(ClientAuth::Basic(&app), code, None).await.expect(200).json();
    assert_eq!(tokens["scope"], "api:read api:write");

    // Its errors are those of the standard path too.
    let bad = authorize_path_with(
        "/integrations/oauth2/authorize",
        &[("response_type", "code"), ("client_id", &app.client_id), ("redirect_uri", "https://evil.example/cb")],
    );
    let r = browser.get(&bad).await;
    assert_eq!(r.status, 400, "{r:?}");
    assert!(r.location().is_none(), "{r:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_integrations_token_path_takes_a_json_body_with_basic_auth() {
    let az = TestAuthz::start().await;
    let app = az.web_app("Workfront client").await;
    let code = az.code(&app, "api:read offline_access", None).await;
    let body = json!({"code": code, "grant_type": "authorization_code", "redirect_uri": REDIRECT});
    let r = client()
        .post(format!("{}/integrations/oauth2/api/v1/token", az.url))
        .header("authorization", basic(&app.client_id, app.secret()))
        .json(&body)
        .send()
        .await
        .unwrap();
    let r = Reply::read("POST /integrations/oauth2/api/v1/token (JSON)".into(), r).await.expect(200);
    assert_eq!(r.header("cache-control"), Some("no-store"));
    let tokens = r.json();
    let access = tokens["access_token"].as_str().unwrap();
    az.api_session_id(access).await.expect(200);
    assert_eq!(az.upstream.last().unwrap().header("x-auth-subject"), Some("alice"));

    // Refreshing there, as JSON too.
    let body = json!({"grant_type": "refresh_token", "refresh_token": tokens["refresh_token"]});
    let r = client()
        .post(format!("{}/integrations/oauth2/api/v1/token", az.url))
        .header("authorization", basic(&app.client_id, app.secret()))
        .json(&body)
        .send()
        .await
        .unwrap();
    let refreshed = Reply::read("POST /integrations/oauth2/api/v1/token (JSON refresh)".into(), r).await.expect(200);
    az.api_session_id(refreshed.json()["access_token"].as_str().unwrap()).await.expect(200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_integrations_token_path_takes_a_form_too() {
    let az = TestAuthz::start().await;
    let app = az.web_app("Workfront client").await;
    let code = az.code(&app, "api:read", None).await;
    let form = [("grant_type", "authorization_code"), ("code", code.as_str()), ("redirect_uri", REDIRECT)];
    let r = az.post_form("/integrations/oauth2/api/v1/token", ClientAuth::Post(&app), &form).await.expect(200);
    az.api_session_id(r.json()["access_token"].as_str().unwrap()).await.expect(200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_jwt_exchange_gives_an_access_token_the_edge_takes_in_a_session_id_header() {
    let az = TestAuthz::start().await;
    let app = az.app(json!({"type": "machine", "name": "Workfront integration", "jwt_subjects": ["alice"]})).await;
    let key = TestKey::generate(Alg::RS256);
    az.registry.add_key(&app.client_id, &json!({"public_key": key.public_pem})).await.expect("add key");
    let claims = json!({
        "iss": app.client_id, "sub": "alice", "exp": az.clock.now() + 120, "jti": random_string(12),
        "aud": format!("{ISSUER}/integrations/oauth2/api/v1/jwt/exchange"),
    });
    let jwt = jsonwebtoken::encode(
        &Header::new(Algorithm::RS256),
        &claims,
        &EncodingKey::from_rsa_pem(key.private_pem.as_bytes()).unwrap(),
    )
    .unwrap();
    let form = [("client_id", app.client_id.as_str()), ("client_secret", app.secret()), ("jwt_token", jwt.as_str())];
    let r = az.post_form("/integrations/oauth2/api/v1/jwt/exchange", ClientAuth::Nothing, &form).await.expect(200);
    assert_eq!(r.header("cache-control"), Some("no-store"));
    let token = r.json()["access_token"].as_str().expect("access_token").to_string();
    az.api_session_id(&token).await.expect(200);
    let seen = az.upstream.last().unwrap();
    assert_eq!(seen.header("x-auth-subject"), Some("alice"));
    assert_eq!(seen.header("x-auth-client-id"), Some(app.client_id.as_str()));

    // The same JWT again is a replay; a wrong secret is no client.
    let again = az.post_form("/integrations/oauth2/api/v1/jwt/exchange", ClientAuth::Nothing, &form).await;
    again.oauth_error(400, "invalid_grant");
    let wrong = [("client_id", app.client_id.as_str()), ("client_secret", "tgs_wrong"), ("jwt_token", jwt.as_str())];
    let r = az.post_form("/integrations/oauth2/api/v1/jwt/exchange", ClientAuth::Nothing, &wrong).await;
    r.oauth_error(401, "invalid_client");
}
