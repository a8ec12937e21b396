//! Password guessing is refused at once (429 with `Retry-After`, no sleeping), password hashing is bounded, one
//! attacker cannot lock a user out for everyone, and passwords never reach the logs.

use crate::support::authz::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn after_a_few_failed_logins_the_next_is_refused_at_once_with_429_and_no_password_is_logged() {
    let logs = capture_logs();
    let az = TestAuthz::start().await;
    let app = az.web_app("Web").await;
    let browser = az.browser();
    let login = browser.get(&authorize_path(&app.client_id, REDIRECT, "api:read", "st", None)).await.expect(200);
    let guess = format!("guess-{}", random_string(12));

    for _ in 0..5 {
        browser.login(&login, "alice", &guess).await.expect(401);
    }
    let refused = browser.login(&login, "alice", &guess).await.expect(429);
    let retry: i64 = refused.header("retry-after").expect("Retry-After").parse().unwrap();
    assert!(retry >= 1, "{refused:?}");
    assert!(refused.body.contains("Too many failed sign-ins"), "{refused:?}");
    // The right password waits too, until the delay has passed on the server's clock.
    browser.login(&login, "alice", ALICE_PASSWORD).await.expect(429);
    az.clock.advance(retry);
    browser.login(&login, "alice", ALICE_PASSWORD).await.expect(200);

    let text = logs.text();
    assert!(text.contains("login failed"), "the failed logins were not logged");
    assert!(!text.contains(&guess), "a password reached the logs");
    assert!(!text.contains(ALICE_PASSWORD), "a password reached the logs");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn parallel_wrong_passwords_are_mostly_refused_at_once_and_hashing_stays_bounded() {
    let az = TestAuthz::start().await;
    let app = az.web_app("Web").await;
    let browser = az.browser();
    let login = browser.get(&authorize_path(&app.client_id, REDIRECT, "api:read", "st", None)).await.expect(200);
    let (slots, _) = az.registry.password_hashing();
    let guesses = (0..128).map(|i| {
        let (browser, login) = (&browser, &login);
        async move { browser.login(login, "alice", &format!("guess-{i}")).await.status }
    });
    let statuses = futures_util::future::join_all(guesses).await;
    let refused = statuses.iter().filter(|s| **s == 429).count();
    let checked = statuses.iter().filter(|s| **s == 401).count();
    assert_eq!(refused + checked, 128, "{statuses:?}");
    assert!(refused >= 120, "only {refused} of 128 parallel guesses were refused at once: {statuses:?}");
    let (_, peak) = az.registry.password_hashing();
    assert!((1..=slots).contains(&peak), "{peak} hashes ran at once, with {slots} slots");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_victim_at_another_address_signs_in_while_an_attacker_hammers_their_name() {
    let az = TestAuthz::start().await;
    let app = az.web_app("Web").await;
    let path = authorize_path(&app.client_id, REDIRECT, "api:read", "st", None);
    let attacker = az.browser();
    let page = attacker.get(&path).await.expect(200);
    let mut refused = 0;
    for i in 0..30 {
        if attacker.login(&page, "alice", &format!("guess-{i}")).await.status == 429 {
            refused += 1;
        }
    }
    assert!(refused >= 20, "the attacker was refused only {refused} times");
    let victim = Browser::from_address(&az.url, "127.0.0.2".parse().unwrap());
    let page = victim.get(&path).await.expect(200);
    victim.login(&page, "alice", ALICE_PASSWORD).await.expect(200);
}

/// Regression: every client authentication in flight counted as a failure, so a client making more than a few token
/// requests at once with its right secret was answered 429 (seen as a failing multi-instance refresh test).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_token_requests_of_one_client_with_its_right_secret_are_never_throttled() {
    let az = TestAuthz::start().await;
    let app = az.machine_app("Batch").await;
    let mut requests = Vec::new();
    for _ in 0..32 {
        let (url, id, secret) = (az.url.clone(), app.client_id.clone(), app.secret().to_string());
        requests.push(tokio::spawn(async move {
            client()
                .post(format!("{url}/oauth2/token"))
                .header("authorization", basic(&id, &secret))
                .form(&[("grant_type", "client_credentials")])
                .send()
                .await
                .unwrap()
                .status()
                .as_u16()
        }));
    }
    for r in requests {
        assert_eq!(r.await.unwrap(), 200);
    }
}
