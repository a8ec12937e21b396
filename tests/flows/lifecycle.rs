//! What happens to tokens afterwards: introspection (RFC 7662), revocation (RFC 7009), a deleted app, a disabled
//! user; each felt at the edge on the very next request.

use serde_json::json;
use tokengate::store::RevocationKind;

use crate::support::authz::*;

fn text<'a>(v: &'a serde_json::Value, name: &str) -> &'a str {
    v[name].as_str().unwrap_or_else(|| panic!("no `{name}` in {v}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn introspection_tells_an_app_about_its_own_tokens_only() {
    let az = TestAuthz::start().await;
    let app = az.web_app("Web").await;
    let other = az.web_app("Other").await;
    let tokens = az.tokens(&app, "api:read offline_access").await;
    let access = text(&tokens, "access_token");

    let own = az.introspect(ClientAuth::Basic(&app), access).await.expect(200);
    assert_eq!(own.header("cache-control"), Some("no-store"));
    let own = own.json();
    assert_eq!(own["active"], true, "{own}");
    assert_eq!(own["sub"], "alice", "{own}");
    assert_eq!(own["client_id"], app.client_id.as_str(), "{own}");
    assert_eq!(own["scope"], "api:read offline_access", "{own}");
    assert_eq!(own["iss"], ISSUER, "{own}");
    assert!(own["exp"].as_i64().is_some(), "{own}");
    // The same with the secret in the body.
    assert_eq!(az.introspect(ClientAuth::Post(&app), access).await.expect(200).json()["active"], true);

    // Another app learns nothing.
    let foreign = az.introspect(ClientAuth::Basic(&other), access).await.expect(200).json();
    assert_eq!(foreign, json!({"active": false}));

    // An active refresh token.
    let refresh = az.introspect(ClientAuth::Basic(&app), text(&tokens, "refresh_token")).await.expect(200).json();
    assert_eq!(refresh["active"], true, "{refresh}");
    // RFC 7662 2.2: token_type names an access token type, so a refresh token has none (it was "refresh_token");
    // exp is when it stops working (here the web app's default inactivity limit), iat when it was issued.
    assert!(refresh.get("token_type").is_none(), "{refresh}");
    let (iat, exp) = (refresh["iat"].as_i64().expect("iat"), refresh["exp"].as_i64().expect("exp"));
    assert!(iat <= az.clock.now() && exp > az.clock.now(), "{refresh}");
    assert_eq!(refresh["sub"], "alice", "{refresh}");
    assert_eq!(refresh["client_id"], app.client_id.as_str(), "{refresh}");
    assert_eq!(
        az.introspect(ClientAuth::Basic(&other), text(&tokens, "refresh_token")).await.expect(200).json(),
        json!({"active": false})
    );

    // Garbage.
    assert_eq!(az.introspect(ClientAuth::Basic(&app), "nonsense").await.expect(200).json(), json!({"active": false}));

    // Without credentials, or with wrong ones: 401.
    let r = az.post_form("/oauth2/introspect", ClientAuth::Nothing, &[("token", access)]).await;
    assert_eq!(r.status, 401, "{r:?}");
    assert!(r.json().get("active").is_none(), "{r:?}");
    let r = az.introspect(ClientAuth::BasicWith(&app.client_id, "tgs_wrong"), access).await;
    assert_eq!(r.status, 401, "{r:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_revoked_access_token_is_refused_by_the_very_next_request() {
    let az = TestAuthz::start().await;
    let app = az.web_app("Web").await;
    let tokens = az.tokens(&app, "api:read offline_access").await;
    let access = text(&tokens, "access_token");
    // Verified and cached by the edge first.
    az.api(access).await.expect(200);
    az.api(access).await.expect(200);

    az.revoke(ClientAuth::Basic(&app), access).await.expect(200);
    az.api(access).await.expect(401);
    az.api_session_id(access).await.expect(401);
    assert_eq!(az.introspect(ClientAuth::Basic(&app), access).await.expect(200).json(), json!({"active": false}));
    // Only that token: the grant goes on.
    let next = az.refresh(ClientAuth::Basic(&app), text(&tokens, "refresh_token"), None).await.expect(200).json();
    az.api(text(&next, "access_token")).await.expect(200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn revoking_a_refresh_token_ends_its_grant() {
    let az = TestAuthz::start().await;
    let app = az.web_app("Web").await;
    let tokens = az.tokens(&app, "api:read offline_access").await;
    let access = text(&tokens, "access_token");
    az.api(access).await.expect(200);

    let r = az.revoke(ClientAuth::Basic(&app), text(&tokens, "refresh_token")).await.expect(200);
    assert_eq!(r.header("cache-control"), Some("no-store"));
    az.refresh(ClientAuth::Basic(&app), text(&tokens, "refresh_token"), None).await.oauth_error(400, "invalid_grant");
    az.api(access).await.expect(401);
    assert_eq!(
        az.introspect(ClientAuth::Basic(&app), text(&tokens, "refresh_token")).await.expect(200).json(),
        json!({"active": false})
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn revoking_an_unknown_token_answers_200() {
    let az = TestAuthz::start().await;
    let app = az.web_app("Web").await;
    az.revoke(ClientAuth::Basic(&app), "no-such-token").await.expect(200);
    let unsigned = "eyJhbGciOiJub25lIn0.eyJzdWIiOiJ4In0.";
    az.revoke(ClientAuth::Basic(&app), unsigned).await.expect(200);
    // But the client must authenticate.
    let r = az.post_form("/oauth2/revoke", ClientAuth::BasicWith(&app.client_id, "tgs_wrong"), &[("token", "x")]).await;
    assert_eq!(r.status, 401, "{r:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_app_cannot_revoke_another_apps_tokens() {
    let az = TestAuthz::start().await;
    let app = az.web_app("Web").await;
    let other = az.web_app("Other").await;
    let tokens = az.tokens(&app, "api:read offline_access").await;
    let r = az.revoke(ClientAuth::Basic(&other), text(&tokens, "access_token")).await;
    assert_ne!(r.status, 401, "{r:?}");
    az.revoke(ClientAuth::Basic(&other), text(&tokens, "refresh_token")).await;
    az.api(text(&tokens, "access_token")).await.expect(200);
    az.refresh(ClientAuth::Basic(&app), text(&tokens, "refresh_token"), None).await.expect(200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deleting_an_app_refuses_its_tokens_at_once() {
    let az = TestAuthz::start().await;
    let app = az.web_app("Web").await;
    let machine = az.machine_app("Batch").await;
    let kept = az.web_app("Kept").await;
    let tokens = az.tokens(&app, "api:read offline_access").await;
    let machine_token = az.token(ClientAuth::Basic(&machine), &[("grant_type", "client_credentials")]).await;
    let machine_token = machine_token.expect(200).json()["access_token"].as_str().unwrap().to_string();
    let kept_tokens = az.tokens(&kept, "api:read").await;
    for t in [text(&tokens, "access_token"), &machine_token, text(&kept_tokens, "access_token")] {
        az.api(t).await.expect(200);
    }

    az.registry.delete_app(&app.client_id).await.expect("delete the web app");
    az.registry.delete_app(&machine.client_id).await.expect("delete the machine app");
    az.api(text(&tokens, "access_token")).await.expect(401);
    az.api_session_id(text(&tokens, "access_token")).await.expect(401);
    az.api(&machine_token).await.expect(401);
    az.api(text(&kept_tokens, "access_token")).await.expect(200);
    let r = az.refresh(ClientAuth::Basic(&app), text(&tokens, "refresh_token"), None).await;
    assert!(r.status == 400 || r.status == 401, "a deleted app refreshed: {r:?}");
    assert!(r.json().get("access_token").is_none(), "{r:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn disabling_a_user_refuses_her_tokens_at_once_and_she_cannot_sign_in() {
    let az = TestAuthz::start().await;
    let app = az.web_app("Web").await;
    let machine = az.machine_app("Batch").await;
    let tokens = az.tokens(&app, "api:read offline_access").await;
    let machine_token = az.token(ClientAuth::Basic(&machine), &[("grant_type", "client_credentials")]).await;
    let machine_token = machine_token.expect(200).json()["access_token"].as_str().unwrap().to_string();
    az.api(text(&tokens, "access_token")).await.expect(200);

    az.registry.update_user("alice", &json!({"disabled": true})).await.expect("disable alice");
    az.api(text(&tokens, "access_token")).await.expect(401);
    az.refresh(ClientAuth::Basic(&app), text(&tokens, "refresh_token"), None).await.oauth_error(400, "invalid_grant");
    // Not anybody else's.
    az.api(&machine_token).await.expect(200);

    let browser = az.browser();
    let login = browser.get(&authorize_path(&app.client_id, REDIRECT, "api:read", "st", None)).await.expect(200);
    let refused = browser.login(&login, "alice", ALICE_PASSWORD).await.expect(401);
    assert!(refused.set_cookie("tg_session=").is_none(), "{refused:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_disabled_users_session_no_longer_issues_codes() {
    let az = TestAuthz::start().await;
    let app = az.web_app("Web").await;
    let browser = az.browser();
    az.code_in(&browser, &app, "api:read", None).await;
    az.registry.update_user("alice", &json!({"disabled": true})).await.expect("disable alice");
    let again = browser.get(&authorize_path(&app.client_id, REDIRECT, "api:read", "st", None)).await;
    assert_eq!(again.status, 200, "a disabled user's session was honoured: {again:?}");
    assert!(again.body.contains("name=\"password\""), "{again:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_access_token_expires_on_the_server_clock() {
    let az = TestAuthz::start().await;
    let app = az.web_app("Web").await;
    let tokens = az.tokens(&app, "api:read").await;
    let access = text(&tokens, "access_token");
    az.api(access).await.expect(200);
    az.clock.advance(tokens["expires_in"].as_i64().unwrap() + 6);
    az.api(access).await.expect(401);
    assert_eq!(az.introspect(ClientAuth::Basic(&app), access).await.expect(200).json(), json!({"active": false}));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_ten_minutes_the_server_deletes_what_has_expired() {
    let az = TestAuthz::start().await;
    let store = az.registry.store().clone();
    let now = az.clock.now();
    store.revoke(RevocationKind::Jti, "short-lived", now, now + 1).await.unwrap();
    store.revoke(RevocationKind::Jti, "long-lived", now, now + 86_400).await.unwrap();
    let stored = || async {
        // `now = 0`: every row still stored, expired or not.
        store.revocations_since(0, 0).await.unwrap().into_iter().map(|r| r.value).collect::<Vec<_>>()
    };
    assert_eq!(stored().await, ["short-lived", "long-lived"]);
    az.clock.advance(tokengate::authz::SWEEP_EVERY_SECS + 1);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while stored().await.len() == 2 {
        assert!(std::time::Instant::now() < deadline, "nothing was swept");
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert_eq!(stored().await, ["long-lived"]);
}
