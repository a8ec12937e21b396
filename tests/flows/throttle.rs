//! Password guessing is slowed down, and passwords never reach the logs.

use std::time::{Duration, Instant};

use crate::support::authz::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn after_three_failed_logins_the_next_attempt_is_slowed_and_no_password_is_logged() {
    let logs = capture_logs();
    let az = TestAuthz::start().await;
    let app = az.web_app("Web").await;
    let browser = az.browser();
    let login = browser.get(&authorize_path(&app.client_id, REDIRECT, "api:read", "st", None)).await.expect(200);
    let guess = format!("guess-{}", random_string(12));

    for _ in 0..3 {
        browser.login(&login, "alice", &guess).await.expect(401);
    }
    // A lower bound on a deliberate delay, not a measure of speed.
    let started = Instant::now();
    browser.login(&login, "alice", &guess).await.expect(401);
    let took = started.elapsed();
    assert!(took >= Duration::from_millis(250), "the 4th failed login took only {took:?}");
    // The right password still gets in (after its delay).
    browser.login(&login, "alice", ALICE_PASSWORD).await.expect(200);

    if let Some(logs) = logs {
        let text = logs.text();
        assert!(text.contains("login failed"), "the failed logins were not logged, or logs were not captured");
        assert!(!text.contains(&guess), "a password reached the logs");
        assert!(!text.contains(ALICE_PASSWORD), "a password reached the logs");
    }
}
