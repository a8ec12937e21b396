//! What a page on another site can make a browser send to the admin API: nothing that is obeyed. Bodies must be
//! JSON (no HTML form sends that), and cross-site requests (`Origin`, `Sec-Fetch-Site`) are refused; scripts and
//! curl, which send neither header, are not affected. Password guessing on Basic authentication is refused at once.

use reqwest::Method;
use serde_json::json;

use crate::support::admin::*;

fn new_admin(name: &str) -> Vec<u8> {
    json!({"username": name, "password": "mallory-password", "is_admin": true}).to_string().into_bytes()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_text_plain_form_post_with_a_json_body_creates_no_admin_user() {
    let t = TestAdmin::start().await;
    let root = t.as_(Auth::basic("root", ROOT_PASSWORD));
    for ct in ["text/plain", "application/x-www-form-urlencoded", "multipart/form-data; boundary=x", "text/json"] {
        let r = root.raw(Method::POST, "/admin/v1/users", ct, new_admin("mallory")).await;
        r.refused(415, "invalid_request");
        assert!(r.json()["error_description"].as_str().unwrap().contains("application/json"), "\n{r}");
    }
    // No content type at all is not JSON either.
    let http = client();
    let r = http
        .post(format!("{}/admin/v1/users", t.url()))
        .basic_auth("root", Some(ROOT_PASSWORD))
        .body(new_admin("mallory"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 415);
    assert!(t.api.users().await.iter().all(|u| u["username"] != "mallory"), "a user was created");
    // Every other body too: a secret's note, an app.
    let app = t.api.create_app(machine("Batch")).await;
    let path = format!("/admin/v1/apps/{}/secrets", app["client_id"].as_str().unwrap());
    t.api.raw(Method::POST, &path, "text/plain", b"{}".to_vec()).await.refused(415, "invalid_request");
    let body = machine("Sneaky").to_string().into_bytes();
    t.api.raw(Method::POST, "/admin/v1/apps", "text/plain", body).await.refused(415, "invalid_request");
    assert_eq!(t.api.app_count().await, 1);
    assert_eq!(t.api.app(app["client_id"].as_str().unwrap()).await["secrets"].as_array().unwrap().len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cross_site_origin_and_sec_fetch_site_are_refused_on_the_admin_api() {
    let t = TestAdmin::start().await;
    let http = client();
    let cases: [(&str, &str); 5] = [
        // Without Sec-Fetch-Site (older browsers), Origin decides.
        ("origin", "https://evil.example"),
        ("origin", "null"),
        ("origin", "http://127.0.0.1:1"),
        ("sec-fetch-site", "cross-site"),
        ("sec-fetch-site", "same-site"),
    ];
    for (header, value) in cases {
        let r = http
            .post(format!("{}/admin/v1/users", t.url()))
            .basic_auth("root", Some(ROOT_PASSWORD))
            .header("content-type", "application/json")
            .header(header, value)
            .body(new_admin("mallory"))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 403, "{header}: {value}");
        let body: serde_json::Value = r.json().await.unwrap();
        assert_eq!(body["error"], "forbidden", "{header}: {value}: {body}");
        // Reads too: a page elsewhere learns nothing.
        let r = http.get(format!("{}/admin/v1/users", t.url())).bearer_auth(&t.token).header(header, value);
        assert_eq!(r.send().await.unwrap().status(), 403, "GET with {header}: {value}");
    }
    assert!(t.api.users().await.iter().all(|u| u["username"] != "mallory"), "a user was created");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn same_origin_and_header_less_requests_are_accepted() {
    let t = TestAdmin::start().await;
    let http = client();
    let own = t.url();
    let cases: [(&str, Vec<(&str, &str)>); 5] = [
        ("same-origin", vec![("origin", own.as_str()), ("sec-fetch-site", "same-origin")]),
        // What Chromium sends on a same-origin post from a page with `Referrer-Policy: no-referrer`.
        ("same-origin, opaque Origin", vec![("origin", "null"), ("sec-fetch-site", "same-origin")]),
        ("typed in the address bar", vec![("sec-fetch-site", "none")]),
        ("own origin only", vec![("origin", own.as_str())]),
        ("curl", vec![]),
    ];
    for (i, (why, headers)) in cases.into_iter().enumerate() {
        let mut req = http
            .post(format!("{own}/admin/v1/users"))
            .basic_auth("root", Some(ROOT_PASSWORD))
            .header("content-type", "application/json; charset=utf-8")
            .body(json!({"username": format!("user{i}"), "password": "user-password", "is_admin": false}).to_string());
        for (k, v) in headers {
            req = req.header(k, v);
        }
        let r = req.send().await.unwrap();
        assert_eq!(r.status(), 201, "{why}: {}", r.text().await.unwrap_or_default());
    }
    // Bodiless requests need no content type.
    let app = t.api.create_app(machine("Batch")).await;
    let r = t.api.post(&format!("/admin/v1/apps/{}/secrets", app["client_id"].as_str().unwrap()), json!({})).await;
    r.expect(201);
    let r = http
        .post(format!("{own}/admin/v1/apps/{}/secrets", app["client_id"].as_str().unwrap()))
        .bearer_auth(&t.token)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn admin_basic_auth_is_refused_with_429_after_a_few_failures() {
    let t = TestAdmin::start().await;
    let guess = t.as_(Auth::basic("root", "not-the-password"));
    let mut statuses = Vec::new();
    for _ in 0..8 {
        statuses.push(guess.get("/admin/v1/apps").await.status);
    }
    assert_eq!(statuses[..5], [401; 5], "{statuses:?}");
    assert_eq!(statuses[5..], [429; 3], "{statuses:?}");
    let r = guess.get("/admin/v1/apps").await;
    r.refused(429, "too_many_attempts");
    let retry: u64 = r.header("retry-after").expect("Retry-After").parse().unwrap();
    assert!(retry >= 1, "\n{r}");
    // Even the right password waits now (from this address), and is let in once the delay has passed.
    t.as_(Auth::basic("root", ROOT_PASSWORD)).get("/admin/v1/apps").await.refused(429, "too_many_attempts");
    t.server.as_ref().unwrap().clock.advance(retry as i64);
    t.as_(Auth::basic("root", ROOT_PASSWORD)).get("/admin/v1/apps").await.expect(200);
    // A token is no password: it was never throttled.
    t.api.get("/admin/v1/apps").await.expect(200);
}
