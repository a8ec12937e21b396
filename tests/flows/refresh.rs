//! `grant_type=refresh_token`: only with `offline_access`, rotation and reuse detection, no rotation, scope narrowing,
//! absolute and inactivity expiry on the server's clock.

use serde_json::{json, Value};

use crate::support::authz::*;

fn text<'a>(v: &'a Value, name: &str) -> &'a str {
    v[name].as_str().unwrap_or_else(|| panic!("no `{name}` in {v}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refresh_tokens_come_only_with_offline_access() {
    let az = TestAuthz::start().await;
    let app = az.web_app("Web").await;
    let without = az.tokens(&app, "api:read").await;
    assert!(without.get("refresh_token").is_none(), "{without}");
    let with = az.tokens(&app, "api:read offline_access").await;
    assert!(!text(&with, "refresh_token").is_empty());
    assert_eq!(with["scope"], "api:read offline_access");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_refresh_rotates_the_refresh_token() {
    let az = TestAuthz::start().await;
    let app = az.web_app("Web").await;
    let first = az.tokens(&app, "api:read offline_access").await;
    let r1 = text(&first, "refresh_token");

    let second = az.refresh(ClientAuth::Basic(&app), r1, None).await.expect(200);
    assert_eq!(second.header("cache-control"), Some("no-store"));
    let second = second.json();
    let r2 = text(&second, "refresh_token");
    assert_ne!(r1, r2);
    assert_ne!(text(&first, "access_token"), text(&second, "access_token"));
    assert_eq!(second["token_type"], "Bearer");
    assert_eq!(second["scope"], "api:read offline_access");
    let (_, claims) = jwt_parts(text(&second, "access_token"));
    assert_eq!(claims["sub"], "alice");
    assert_eq!(claims["client_id"], app.client_id.as_str());
    az.api(text(&second, "access_token")).await.expect(200);

    let third = az.refresh(ClientAuth::Basic(&app), r2, None).await.expect(200).json();
    assert_ne!(text(&third, "refresh_token"), r2);
    az.api(text(&third, "access_token")).await.expect(200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reusing_a_rotated_refresh_token_revokes_the_whole_family() {
    let az = TestAuthz::start().await;
    let app = az.web_app("Web").await;
    let first = az.tokens(&app, "api:read offline_access").await;
    let r1 = text(&first, "refresh_token");
    let second = az.refresh(ClientAuth::Basic(&app), r1, None).await.expect(200).json();
    let r2 = text(&second, "refresh_token");
    az.api(text(&first, "access_token")).await.expect(200);
    az.api(text(&second, "access_token")).await.expect(200);

    // r1 again: someone kept a copy.
    az.refresh(ClientAuth::Basic(&app), r1, None).await.oauth_error(400, "invalid_grant");
    // The newest refresh token dies with it, and so does every access token of the grant, at once.
    az.refresh(ClientAuth::Basic(&app), r2, None).await.oauth_error(400, "invalid_grant");
    az.api(text(&first, "access_token")).await.expect(401);
    az.api(text(&second, "access_token")).await.expect(401);

    // Another grant of the same user and app is untouched.
    let other = az.tokens(&app, "api:read offline_access").await;
    az.api(text(&other, "access_token")).await.expect(200);
    az.refresh(ClientAuth::Basic(&app), text(&other, "refresh_token"), None).await.expect(200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_a_retry_grace_a_refresh_whose_answer_was_lost_can_be_retried_but_a_stolen_copy_is_still_caught() {
    let az = TestAuthz::start_with("refresh_token_reuse_grace_secs = 30").await;
    let app = az.web_app("Web").await;
    let first = az.tokens(&app, "api:read offline_access").await;
    let r1 = text(&first, "refresh_token");
    // The answer to this refresh is "lost": the client never sees r2...
    let lost = az.refresh(ClientAuth::Basic(&app), r1, None).await.expect(200).json();
    let r2 = text(&lost, "refresh_token");
    // ...and retries r1 ten seconds later: within the grace, with r2 unused, it gets r2b.
    az.clock.advance(10);
    let retried = az.refresh(ClientAuth::Basic(&app), r1, None).await.expect(200).json();
    let r2b = text(&retried, "refresh_token");
    az.api(text(&retried, "access_token")).await.expect(200);
    // r2 was superseded: whoever presents it holds a copy, and the family dies (r2b with it).
    az.refresh(ClientAuth::Basic(&app), r2, None).await.oauth_error(400, "invalid_grant");
    az.refresh(ClientAuth::Basic(&app), r2b, None).await.oauth_error(400, "invalid_grant");
    az.api(text(&retried, "access_token")).await.expect(401);

    // Past the grace, a second use is reuse as without one.
    let other = az.tokens(&app, "api:read offline_access").await;
    let o1 = text(&other, "refresh_token");
    let used = az.refresh(ClientAuth::Basic(&app), o1, None).await.expect(200).json();
    az.clock.advance(31);
    az.refresh(ClientAuth::Basic(&app), o1, None).await.oauth_error(400, "invalid_grant");
    az.refresh(ClientAuth::Basic(&app), text(&used, "refresh_token"), None).await.oauth_error(400, "invalid_grant");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_single_page_app_refreshes_with_its_client_id_and_rotation() {
    let az = TestAuthz::start().await;
    let app = az.spa_app("Spa").await;
    let first = az.tokens(&app, "api:read offline_access").await;
    let r1 = text(&first, "refresh_token");
    let second = az.refresh(ClientAuth::Public(&app), r1, None).await.expect(200).json();
    assert_ne!(text(&second, "refresh_token"), r1);
    az.api(text(&second, "access_token")).await.expect(200);
    az.refresh(ClientAuth::Public(&app), r1, None).await.oauth_error(400, "invalid_grant");
    az.api(text(&second, "access_token")).await.expect(401);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_rotation_the_same_refresh_token_works_again_and_again() {
    let az = TestAuthz::start().await;
    let app = az.web_app("Web").await;
    az.update_app(&app, json!({"refresh_token_rotation": false})).await;
    let first = az.tokens(&app, "api:read offline_access").await;
    let r = text(&first, "refresh_token");
    let mut seen = vec![text(&first, "access_token").to_string()];
    for _ in 0..3 {
        let next = az.refresh(ClientAuth::Basic(&app), r, None).await.expect(200).json();
        assert!(next.get("refresh_token").is_none(), "a new refresh token without rotation: {next}");
        let access = text(&next, "access_token").to_string();
        assert!(!seen.contains(&access));
        az.api(&access).await.expect(200);
        seen.push(access);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refresh_may_narrow_the_scope_but_never_widen_it() {
    let az = TestAuthz::start().await;
    let app = az.web_app("Web").await;
    az.update_app(&app, json!({"refresh_token_rotation": false})).await;
    let first = az.tokens(&app, "api:read offline_access").await;
    let r = text(&first, "refresh_token");

    let narrow = az.refresh(ClientAuth::Basic(&app), r, Some("api:read")).await.expect(200).json();
    assert_eq!(narrow["scope"], "api:read");
    assert_eq!(jwt_parts(text(&narrow, "access_token")).1["scope"], "api:read");

    az.refresh(ClientAuth::Basic(&app), r, Some("api:read api:write")).await.oauth_error(400, "invalid_scope");
    az.refresh(ClientAuth::Basic(&app), r, Some("api:write")).await.oauth_error(400, "invalid_scope");
    // The grant itself is unchanged: without a scope, the whole of it.
    let again = az.refresh(ClientAuth::Basic(&app), r, None).await.expect(200).json();
    assert_eq!(again["scope"], "api:read offline_access");
}

/// A request refused for its scope is an error answer, not a use: with rotation, the refresh token it carried must
/// still be the valid one afterwards (else the client's next, correct, request looks like a reuse and kills the
/// grant).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refresh_refused_for_its_scope_leaves_the_rotating_refresh_token_valid() {
    let az = TestAuthz::start().await;
    let app = az.web_app("Web").await;
    let first = az.tokens(&app, "api:read offline_access").await;
    let r1 = text(&first, "refresh_token");
    az.refresh(ClientAuth::Basic(&app), r1, Some("api:read api:write")).await.oauth_error(400, "invalid_scope");
    let next = az.refresh(ClientAuth::Basic(&app), r1, None).await;
    assert_eq!(next.status, 200, "the refused request spent the refresh token: {next:?}");
    az.api(text(&first, "access_token")).await.expect(200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refresh_tokens_stop_at_the_absolute_expiry() {
    let az = TestAuthz::start().await;
    let app = az.web_app("Web").await;
    az.update_app(&app, json!({"refresh_token_absolute_expiry_secs": 3600})).await;
    let first = az.tokens(&app, "api:read offline_access").await;

    az.clock.advance(1800);
    let second = az.refresh(ClientAuth::Basic(&app), text(&first, "refresh_token"), None).await.expect(200).json();
    // Still within the inactivity limit (a few minutes since the last use), but past the grant's hour.
    az.clock.advance(1801);
    az.refresh(ClientAuth::Basic(&app), text(&second, "refresh_token"), None).await.oauth_error(400, "invalid_grant");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refresh_tokens_expire_after_inactivity() {
    let az = TestAuthz::start().await;
    let app = az.web_app("Web").await;
    az.update_app(&app, json!({"refresh_token_inactivity_expiry_secs": 600})).await;
    let first = az.tokens(&app, "api:read offline_access").await;

    // Used every 500 s, it lives well past 600 s.
    az.clock.advance(500);
    let second = az.refresh(ClientAuth::Basic(&app), text(&first, "refresh_token"), None).await.expect(200).json();
    az.clock.advance(500);
    let third = az.refresh(ClientAuth::Basic(&app), text(&second, "refresh_token"), None).await.expect(200).json();
    // Left alone for more than 600 s, it is dead.
    az.clock.advance(601);
    az.refresh(ClientAuth::Basic(&app), text(&third, "refresh_token"), None).await.oauth_error(400, "invalid_grant");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_rotation_inactivity_counts_from_the_last_use() {
    let az = TestAuthz::start().await;
    let app = az.web_app("Web").await;
    az.update_app(&app, json!({"refresh_token_rotation": false, "refresh_token_inactivity_expiry_secs": 600})).await;
    let first = az.tokens(&app, "api:read offline_access").await;
    let r = text(&first, "refresh_token");
    for _ in 0..3 {
        az.clock.advance(500);
        az.refresh(ClientAuth::Basic(&app), r, None).await.expect(200);
    }
    az.clock.advance(601);
    az.refresh(ClientAuth::Basic(&app), r, None).await.oauth_error(400, "invalid_grant");
}
