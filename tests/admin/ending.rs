//! Disabling a user or changing their password ends what they held: refresh tokens (also after a re-enable), the
//! authorization server's sign-in session, the access tokens at the edge, console sessions.

use serde_json::{json, Value};

use crate::support::authz::*;

const ROOT_PASSWORD: &str = "root-password-1";

/// A PATCH of a user through the admin API (as root, by password), expecting 200.
async fn patch_user(az: &TestAuthz, name: &str, body: Value) {
    let r = client()
        .patch(format!("{}/admin/v1/users/{name}", az.admin_url))
        .basic_auth("root", Some(ROOT_PASSWORD))
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200, "PATCH {name} {body}: {}", r.text().await.unwrap_or_default());
}

/// alice signed in (the browser keeps her session) with tokens for a web app; root is an admin.
async fn alice_with_tokens() -> (TestAuthz, App, Browser, Value) {
    let az = TestAuthz::start().await;
    az.registry.add_user("root", ROOT_PASSWORD, true).await.expect("add root");
    let app = az.web_app("Web").await;
    let browser = az.browser();
    let code = az.code_in(&browser, &app, "api:read offline_access", None).await;
    let tokens = az.exchange(ClientAuth::Basic(&app), &code, None).await.expect(200).json();
    az.api(tokens["access_token"].as_str().unwrap()).await.expect(200);
    (az, app, browser, tokens)
}

/// What alice held before is dead: the refresh token, the sign-in session (the next authorization asks for her
/// password again instead of issuing a code) and the access token at the edge; a new sign-in works.
async fn assert_all_ended(az: &TestAuthz, app: &App, browser: &Browser, old: &Value, password: &str) {
    az.clock.advance(1);
    az.refresh(ClientAuth::Basic(app), old["refresh_token"].as_str().unwrap(), None)
        .await
        .oauth_error(400, "invalid_grant");
    assert_eq!(az.api_status(old["access_token"].as_str().unwrap()).await, 401, "the old access token still works");
    let again = browser.get(&authorize_path(&app.client_id, REDIRECT, "api:read offline_access", "st", None)).await;
    assert_eq!(again.status, 200, "the old session issued a code: {again:?}");
    assert!(again.location().is_none() && again.body.contains("name=\"password\""), "no sign-in form: {again:?}");
    // A new sign-in is a new start.
    let back = browser.login(&again, "alice", password).await;
    assert!(back.status == 303 || back.status == 200, "{back:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn after_disable_and_re_enable_the_old_refresh_token_session_and_access_token_stay_dead() {
    let (az, app, browser, old) = alice_with_tokens().await;
    patch_user(&az, "alice", json!({"disabled": true})).await;
    patch_user(&az, "alice", json!({"disabled": false})).await;
    assert_all_ended(&az, &app, &browser, &old, ALICE_PASSWORD).await;
    // Tokens issued after the re-enable work.
    let fresh = az.tokens(&app, "api:read offline_access").await;
    az.api(fresh["access_token"].as_str().unwrap()).await.expect(200);
    az.refresh(ClientAuth::Basic(&app), fresh["refresh_token"].as_str().unwrap(), None).await.expect(200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_password_change_ends_the_old_refresh_token_session_and_access_token() {
    let (az, app, browser, old) = alice_with_tokens().await;
    patch_user(&az, "alice", json!({"password": "alice-new-password"})).await;
    assert_all_ended(&az, &app, &browser, &old, "alice-new-password").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_password_change_ends_the_users_console_sessions() {
    let az = TestAuthz::start().await;
    az.registry.add_user("root", ROOT_PASSWORD, true).await.expect("add root");
    az.registry.add_user("gina", "gina-password", true).await.expect("add gina");
    let visitor = crate::console::Visitor::new(&az);
    assert_eq!(visitor.sign_in("gina", "gina-password").await.redirect(), "/console/apps");
    visitor.get("/console/apps").await.expect(200);
    patch_user(&az, "gina", json!({"password": "gina-new-password"})).await;
    assert_eq!(visitor.get("/console/apps").await.redirect(), "/console/sign-in");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_cli_sets_a_password_disables_and_enables_and_the_old_password_is_refused() {
    use crate::support::admin::{Auth, TestAdmin};
    let t = TestAdmin::start_with(|env| {
        env.add_user("gina", "gina-password", true);
    })
    .await;
    let old = t.as_(Auth::basic("gina", "gina-password"));
    old.get("/admin/v1/apps").await.expect(200);
    t.env.cli_ok(&["users", "password", "gina", "--password-stdin"], Some("gina-new-password"));
    old.get("/admin/v1/apps").await.refused(401, "unauthorized");
    let new = t.as_(Auth::basic("gina", "gina-new-password"));
    new.get("/admin/v1/apps").await.expect(200);
    t.env.disable_user("gina");
    new.get("/admin/v1/apps").await.refused(401, "unauthorized");
    t.env.cli_ok(&["users", "enable", "gina"], None);
    new.get("/admin/v1/apps").await.expect(200);
    // A password from the command line is refused: only standard input.
    assert!(!t.env.cli(&["users", "password", "gina"], None).status.success());
}
