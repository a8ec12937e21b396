//! A code is checked before it is spent, and spent together with the creation of its grant: a replay, even one racing
//! the first redemption, kills every token of the grant; a wrong party cannot burn someone else's code.

use std::net::{IpAddr, Ipv4Addr};

use crate::support::authz::*;

/// A code for alice in `browser`: the whole flow the first time, straight back with a code once signed in.
async fn signed_in_code(az: &TestAuthz, browser: &Browser, app: &App) -> String {
    let path = authorize_path(&app.client_id, REDIRECT, "api:read offline_access", "race", None);
    let first = browser.get(&path).await;
    if first.status == 303 {
        return first.redirect_params(REDIRECT)["code"].clone();
    }
    az.code_in(browser, app, "api:read offline_access", None).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_code_redeemed_twice_at_once_leaves_no_token_of_its_grant_working() {
    let az = TestAuthz::start().await;
    let app = az.web_app("Web").await;
    // One signed-in browser per 30 tries: under the per-address limit of the authorization endpoint.
    let browsers: Vec<Browser> =
        (0..2u8).map(|i| Browser::from_address(&az.url, IpAddr::V4(Ipv4Addr::new(127, 0, 1, 1 + i)))).collect();
    let mut won = 0;
    for attempt in 0..60 {
        let code = signed_in_code(&az, &browsers[attempt / 30], &app).await;
        let (a, b) = tokio::join!(
            az.exchange(ClientAuth::Basic(&app), &code, None),
            az.exchange(ClientAuth::Basic(&app), &code, None)
        );
        let winners: Vec<&Reply> = [&a, &b].into_iter().filter(|r| r.status == 200).collect();
        assert!(winners.len() <= 1, "try {attempt}: two redemptions of one code succeeded: {a:?} {b:?}");
        for r in [&a, &b].into_iter().filter(|r| r.status != 200) {
            r.oauth_error(400, "invalid_grant");
        }
        let Some(winner) = winners.first() else { continue };
        won += 1;
        let tokens = winner.json();
        let access = tokens["access_token"].as_str().unwrap();
        let refresh = tokens["refresh_token"].as_str().unwrap();
        assert_eq!(az.api_status(access).await, 401, "try {attempt}: the winner's access token still works");
        az.refresh(ClientAuth::Basic(&app), refresh, None).await.oauth_error(400, "invalid_grant");
    }
    assert!(won > 0, "no try redeemed its code at all");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_code_presented_by_the_wrong_client_redirect_or_verifier_stays_redeemable_by_its_owner() {
    let az = TestAuthz::start().await;
    let spa = az.spa_app("Spa").await;
    let other = az.spa_app("Other spa").await;
    let web = az.web_app("Web").await;
    let (verifier, challenge) = pkce();
    let code = az.code(&spa, "api:read offline_access", Some(&challenge)).await;
    let (wrong_verifier, _) = pkce();

    let attempts: Vec<(&str, Reply)> = vec![
        ("another client", az.exchange(ClientAuth::Public(&other), &code, Some(&verifier)).await),
        ("a confidential client", az.exchange(ClientAuth::Basic(&web), &code, Some(&verifier)).await),
        ("a wrong verifier", az.exchange(ClientAuth::Public(&spa), &code, Some(&wrong_verifier)).await),
        ("no verifier", az.exchange(ClientAuth::Public(&spa), &code, None).await),
        (
            "another redirect URI",
            az.token(
                ClientAuth::Public(&spa),
                &[
                    ("grant_type", "authorization_code"),
                    ("code", &code),
                    ("redirect_uri", "https://client.example/other"),
                    ("code_verifier", &verifier),
                ],
            )
            .await,
        ),
    ];
    for (what, r) in &attempts {
        assert_eq!(r.status, 400, "{what}: {r:?}");
        assert_eq!(r.error(), "invalid_grant", "{what}: {r:?}");
    }
    let tokens = az.exchange(ClientAuth::Public(&spa), &code, Some(&verifier)).await.expect(200).json();
    az.api(tokens["access_token"].as_str().unwrap()).await.expect(200);
    // Then it is spent: a second use revokes what the first obtained.
    az.exchange(ClientAuth::Public(&spa), &code, Some(&verifier)).await.oauth_error(400, "invalid_grant");
    assert_eq!(az.api_status(tokens["access_token"].as_str().unwrap()).await, 401);
    az.refresh(ClientAuth::Public(&spa), tokens["refresh_token"].as_str().unwrap(), None)
        .await
        .oauth_error(400, "invalid_grant");
}
