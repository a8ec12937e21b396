//! `tokengate keys rotate`: a new signing key is published and used, the old one keeps verifying its tokens.

use std::time::Duration;

use serde_json::Value;
use tokengate::authz::signing::SigningKeys;

use crate::support::authz::*;

async fn client_credentials(az: &TestAuthz, app: &App) -> String {
    let r = az
        .token(ClientAuth::Basic(app), &[("grant_type", "client_credentials"), ("scope", "api:read")])
        .await
        .expect(200);
    r.json()["access_token"].as_str().unwrap().to_string()
}

fn kid(token: &str) -> String {
    jwt_parts(token).0["kid"].as_str().unwrap().to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rotated_key_signs_new_tokens_while_the_old_one_still_verifies() {
    let az = TestAuthz::start().await;
    let app = az.machine_app("rotating").await;
    let before = client_credentials(&az, &app).await;
    let old_kid = kid(&before);

    // What `tokengate keys rotate` does, on the same database, from outside the running server.
    let store = az.registry.store().as_ref();
    let now = az.clock.now();
    let keys = SigningKeys::load(store, jsonwebtoken::Algorithm::ES256, 3900, now).await.unwrap();
    let new_kid = keys.rotate(store, now).await.unwrap();
    assert_ne!(new_kid, old_kid);

    // The running server reads the change within its sync period.
    let mut published = Vec::new();
    for _ in 0..60 {
        let jwks: Value = az.get("/oauth2/jwks").await.expect(200).json();
        published = jwks["keys"].as_array().unwrap().iter().map(|k| k["kid"].as_str().unwrap().to_string()).collect();
        if published.len() == 2 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(published.contains(&old_kid) && published.contains(&new_kid), "{published:?}");

    let after = client_credentials(&az, &app).await;
    assert_eq!(kid(&after), new_kid);
    assert_eq!(az.api_status(&after).await, 200);
    // `before` was never presented to the edge, so nothing is cached: the old key verifies it.
    assert_eq!(az.api_status(&before).await, 200);
}
