//! The sign-in pages against abuse: an unauthenticated request stores nothing, whatever its size or number; sizes are
//! capped; each client address is limited; the forms work on any instance; the cookies stay on the server's paths;
//! a database failure is a 503, never a "not signed in" or an "unknown client".

use std::net::{IpAddr, Ipv4Addr};

use crate::support::authz::*;

/// The bytes of the SQLite file and its write-ahead log.
fn store_bytes(az: &TestAuthz) -> u64 {
    let wal = az.db.with_extension("db-wal");
    [az.db.as_path(), wal.as_path()].iter().map(|p| std::fs::metadata(p).map(|m| m.len()).unwrap_or(0)).sum()
}

/// Every table of the store with its row count.
async fn row_counts(az: &TestAuthz) -> Vec<(String, i64)> {
    use sqlx::{Connection, Row};
    let url = format!("sqlite://{}?mode=ro", az.db.display());
    let mut c = sqlx::SqliteConnection::connect(&url).await.expect("open the store read-only");
    let tables: Vec<String> =
        sqlx::query("SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY name")
            .fetch_all(&mut c)
            .await
            .unwrap()
            .iter()
            .map(|r| r.get::<String, _>("name"))
            .collect();
    let mut counts = Vec::new();
    for t in tables {
        let n: i64 = sqlx::query(sqlx::AssertSqlSafe(format!("SELECT COUNT(*) AS n FROM \"{t}\"")))
            .fetch_one(&mut c)
            .await
            .unwrap()
            .get("n");
        counts.push((t, n));
    }
    counts
}

/// Runs SQL on the store from outside the server (to break it).
async fn sql(az: &TestAuthz, statement: &'static str) {
    use sqlx::Connection;
    let mut c = sqlx::SqliteConnection::connect(&format!("sqlite://{}", az.db.display())).await.unwrap();
    sqlx::query(statement).execute(&mut c).await.unwrap_or_else(|e| panic!("{statement}: {e}"));
}

fn loopback(n: u8) -> IpAddr {
    IpAddr::V4(Ipv4Addr::new(127, 0, 0, n))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flood_of_unauthenticated_authorization_requests_with_the_largest_state_leaves_the_store_flat() {
    let az = TestAuthz::start().await;
    let app = az.web_app("Web").await;
    let state = "s".repeat(1024);
    let path = authorize_path(&app.client_id, REDIRECT, "api:read offline_access", &state, None);
    // One first, so that whatever a first request may warm is warm.
    az.get(&path).await.expect(200);
    let (bytes, rows) = (store_bytes(&az), row_counts(&az).await);

    // 2,000 from 40 addresses, 50 each: under the per-address limit, so every one reaches the page.
    let mut tasks = Vec::new();
    for a in 0..40u8 {
        let (url, path) = (az.url.clone(), path.clone());
        tasks.push(tokio::spawn(async move {
            let client = client_from(loopback(10 + a));
            let mut statuses = Vec::new();
            for _ in 0..50 {
                let r = client.get(format!("{url}{path}")).send().await.expect("request");
                let status = r.status().as_u16();
                let body = r.text().await.unwrap();
                assert!(status != 200 || body.contains("name=\"password\""), "not the login form: {body}");
                statuses.push(status);
            }
            statuses
        }));
    }
    for t in tasks {
        let statuses = t.await.unwrap();
        assert!(statuses.iter().all(|s| *s == 200), "{statuses:?}");
    }
    assert_eq!(row_counts(&az).await, rows, "unauthenticated requests stored rows");
    let grown = store_bytes(&az).saturating_sub(bytes);
    assert!(grown < 32 * 1024, "2,000 unauthenticated requests grew the store by {grown} bytes");

    // The form of any of them still signs in.
    let browser = az.browser();
    let login = browser.get(&path).await.expect(200);
    let consent = browser.login(&login, "alice", ALICE_PASSWORD).await.expect(200);
    let back = browser.decide(&consent, "allow").await;
    let params = back.redirect_params(REDIRECT);
    assert_eq!(params["state"], state);
    az.exchange(ClientAuth::Basic(&app), &params["code"], None).await.expect(200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_oversized_state_nonce_or_query_is_refused_with_invalid_request() {
    let az = TestAuthz::start().await;
    let app = az.web_app("Web").await;
    let browser = az.browser();
    let base = [("response_type", "code"), ("client_id", app.client_id.as_str()), ("redirect_uri", REDIRECT)];
    let long = "x".repeat(1025);
    let padding = "p".repeat(8 * 1024);

    // The largest state and nonce are taken.
    let largest = "y".repeat(1024);
    let mut pairs = base.to_vec();
    pairs.extend([("state", largest.as_str()), ("nonce", largest.as_str())]);
    let ok = browser.get(&authorize_path_with("/oauth2/authorize", &pairs)).await.expect(200);
    assert!(ok.body.contains("name=\"password\""), "{ok:?}");

    for (what, extra) in [
        ("state", vec![("state", long.as_str())]),
        ("nonce", vec![("state", "st"), ("nonce", long.as_str())]),
        ("query", vec![("state", "st"), ("padding", padding.as_str())]),
    ] {
        let mut pairs = base.to_vec();
        pairs.extend(extra);
        let r = browser.get(&authorize_path_with("/oauth2/authorize", &pairs)).await;
        let params = r.redirect_params(REDIRECT);
        assert_eq!(params.get("error").map(String::as_str), Some("invalid_request"), "{what}: {r:?}");
        assert!(params["error_description"].contains(what), "{what}: {r:?}");
        assert_eq!(params["iss"], ISSUER);
        assert!(r.location().unwrap().len() < 2048, "{what}: the oversized value is sent back: {r:?}");
        if what != "state" {
            assert_eq!(params["state"], "st", "{r:?}");
        }
    }
    // An unknown client with an oversized state: the error page, never a redirect.
    let r = browser.get(&authorize_path("no-such-client", REDIRECT, "api:read", &long, None)).await.expect(400);
    assert!(r.location().is_none(), "{r:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sign_in_requests_over_the_per_address_limit_get_429_with_retry_after() {
    let az = TestAuthz::start().await;
    let app = az.web_app("Web").await;
    let path = authorize_path(&app.client_id, REDIRECT, "api:read", "st", None);
    let browser = Browser::from_address(&az.url, loopback(7));
    let login = browser.get(&path).await.expect(200);
    for _ in 1..60 {
        browser.get(&path).await.expect(200);
    }
    let limited = browser.get(&path).await.expect(429);
    let retry: u64 =
        limited.header("retry-after").and_then(|v| v.parse().ok()).unwrap_or_else(|| panic!("{limited:?}"));
    assert!((1..=60).contains(&retry), "{limited:?}");
    assert!(limited.header("content-type").unwrap_or_default().starts_with("text/html"), "{limited:?}");
    // The login form from that address is limited too, before any password is checked.
    let refused = browser.login(&login, "alice", ALICE_PASSWORD).await.expect(429);
    assert!(refused.header("retry-after").is_some(), "{refused:?}");
    assert!(refused.set_cookie("tg_session=").is_none(), "{refused:?}");
    // Another address is not affected.
    Browser::from_address(&az.url, loopback(8)).get(&path).await.expect(200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_step_of_a_sign_in_can_land_on_another_instance_sharing_the_database() {
    let first = TestAuthz::start().await;
    let second = TestAuthz::start_beside(&first).await;
    let app = first.web_app("Web").await;
    let browser = first.browser();
    let login = browser.get(&authorize_path(&app.client_id, REDIRECT, "api:read", "two", None)).await.expect(200);
    let consent = browser.at(&second.url).login(&login, "alice", ALICE_PASSWORD).await.expect(200);
    let back = browser.decide(&consent, "allow").await;
    let params = back.redirect_params(REDIRECT);
    assert_eq!(params["state"], "two");
    second.exchange(ClientAuth::Basic(&app), &params["code"], None).await.expect(200);
    // The session signed in on one instance is good on the other.
    let again = browser.at(&second.url).get(&authorize_path(&app.client_id, REDIRECT, "api:read", "3", None)).await;
    assert!(again.redirect_params(REDIRECT).contains_key("code"), "{again:?}");
    // A consent form is answered once, whichever instance gets it again.
    let replayed = browser.at(&second.url).decide(&consent, "allow").await;
    assert_eq!(replayed.status, 400, "{replayed:?}");
    assert!(replayed.location().is_none(), "{replayed:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sign_in_form_older_than_ten_minutes_is_refused_as_expired() {
    let az = TestAuthz::start().await;
    let app = az.web_app("Web").await;
    let browser = az.browser();
    let login = browser.get(&authorize_path(&app.client_id, REDIRECT, "api:read", "st", None)).await.expect(200);
    az.clock.advance(599);
    let consent = browser.login(&login, "alice", ALICE_PASSWORD).await.expect(200);
    az.clock.advance(2);
    let late = browser.decide(&consent, "allow").await.expect(400);
    assert!(late.body.contains("expired"), "{late:?}");
    assert!(late.location().is_none(), "{late:?}");
    let late_login = browser.login(&login, "alice", ALICE_PASSWORD).await.expect(400);
    assert!(late_login.body.contains("expired"), "{late_login:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tampered_sign_in_form_is_checked_as_a_new_authorization_request() {
    let az = TestAuthz::start().await;
    let app = az.web_app("Web").await;
    let browser = az.browser();
    let login = browser.get(&authorize_path(&app.client_id, REDIRECT, "api:read", "st", None)).await.expect(200);
    let (rid, csrf, issued) = (login.hidden("rid"), login.hidden("csrf"), login.hidden("issued"));
    let submit = |request: String, issued: String| {
        let (browser, rid, csrf) = (&browser, rid.clone(), csrf.clone());
        async move {
            browser
                .post_form(
                    "/oauth2/login",
                    &[
                        ("rid", &rid),
                        ("csrf", &csrf),
                        ("issued", &issued),
                        ("request", &request),
                        ("username", "alice"),
                        ("password", ALICE_PASSWORD),
                    ],
                )
                .await
        }
    };
    // Another redirect URI: the error page, as at /authorize, and no sign-in.
    let evil = authorize_path(&app.client_id, "https://evil.example/cb", "api:read", "st", None);
    let r = submit(evil.split_once('?').unwrap().1.to_string(), issued.clone()).await.expect(400);
    assert!(r.location().is_none(), "{r:?}");
    assert!(r.set_cookie("tg_session=").is_none(), "{r:?}");
    // A scope the server does not have: the error redirect, as at /authorize.
    let wide = authorize_path(&app.client_id, REDIRECT, "api:read admin", "st", None);
    let r = submit(wide.split_once('?').unwrap().1.to_string(), issued.clone()).await;
    assert_eq!(r.redirect_params(REDIRECT).get("error").map(String::as_str), Some("invalid_scope"), "{r:?}");
    // An issue time that is not one.
    submit(login.hidden("request"), "later".into()).await.expect(400);
    submit(login.hidden("request"), (az.clock.now() + 3600).to_string()).await.expect(400);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_cookie_of_the_authorization_server_is_scoped_to_its_own_paths() {
    let az = TestAuthz::start().await;
    let app = az.web_app("Web").await;
    let browser = az.browser();
    let login = browser.get(&authorize_path(&app.client_id, REDIRECT, "api:read", "st", None)).await.expect(200);
    let consent = browser.login(&login, "alice", ALICE_PASSWORD).await.expect(200);
    let back = browser.decide(&consent, "allow").await.expect(303);
    let sessions: Vec<String> = consent.set_cookies().into_iter().filter(|c| c.starts_with("tg_session=")).collect();
    assert!(sessions.iter().any(|c| c.contains("; Path=/oauth2;")), "{consent:?}");
    for reply in [&login, &consent, &back] {
        for cookie in reply.set_cookies() {
            let name = cookie.split('=').next().unwrap();
            assert!(name.starts_with("tg_") || name.starts_with("tgc_"), "{cookie}");
            assert!(
                cookie.contains("; Path=/oauth2;") || cookie.contains("; Path=/integrations/oauth2;"),
                "a cookie beyond the server's paths: {cookie}"
            );
            assert!(cookie.contains("HttpOnly"), "{cookie}");
        }
    }
    // The session works on the Workfront path too.
    let wf = authorize_path_with(
        "/integrations/oauth2/authorize",
        &[("response_type", "code"), ("client_id", &app.client_id), ("redirect_uri", REDIRECT), ("scope", "api:read")],
    );
    let r = browser.get(&wf).await;
    assert!(r.redirect_params(REDIRECT).contains_key("code"), "{r:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_store_failure_during_sign_in_is_503_not_an_unknown_client_or_a_missing_session() {
    let az = TestAuthz::start().await;
    let app = az.web_app("Web").await;
    let browser = az.browser();
    let login = browser.get(&authorize_path(&app.client_id, REDIRECT, "api:read", "st", None)).await.expect(200);
    let consent = browser.login(&login, "alice", ALICE_PASSWORD).await.expect(200);

    // The sessions cannot be read: the consent form is a 503, not "you are not signed in".
    sql(&az, "ALTER TABLE sessions RENAME TO sessions_away").await;
    let r = browser.decide(&consent, "allow").await;
    assert_eq!(r.status, 503, "{r:?}");
    sql(&az, "ALTER TABLE sessions_away RENAME TO sessions").await;

    // The apps cannot be read: the login form is a 503, not "unknown client".
    sql(&az, "ALTER TABLE apps RENAME TO apps_away").await;
    let r = browser.login(&login, "alice", ALICE_PASSWORD).await;
    assert_eq!(r.status, 503, "{r:?}");
    sql(&az, "ALTER TABLE apps_away RENAME TO apps").await;
    browser.decide(&consent, "allow").await.expect(303);
}
