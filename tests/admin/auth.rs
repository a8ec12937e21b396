//! Who may use the admin API: admins by password (HTTP Basic) or by admin API token; everyone else is refused with
//! 401 or 403, and a refused request changes nothing.

use reqwest::Method;
use serde_json::json;

use crate::support::admin::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_credentials_get_401_with_a_basic_challenge() {
    let t = TestAdmin::start().await;
    let anon = t.as_(Auth::None);
    for path in ["/admin/v1/apps", "/admin/v1/users", "/admin/v1/apps/whatever"] {
        let r = anon.get(path).await;
        r.refused(401, "unauthorized");
        assert_eq!(r.header("www-authenticate"), Some("Basic realm=\"tokengate-admin\""), "\n{r}");
        assert_eq!(r.header("cache-control"), Some("no-store"), "\n{r}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_admin_password_opens_the_api() {
    let t = TestAdmin::start().await;
    let r = t.as_(Auth::basic("root", ROOT_PASSWORD)).get("/admin/v1/apps").await.expect(200);
    assert_eq!(r.json()["count"], 0, "\n{r}");
    assert_eq!(r.json()["max_apps"], MAX_APPS, "\n{r}");
    assert_eq!(r.json()["apps"], json!([]), "\n{r}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_admin_api_token_opens_the_api() {
    let t = TestAdmin::start().await;
    assert!(t.token.starts_with("tga_"));
    let app = t.api.create_app(machine("by token")).await;
    assert_eq!(t.api.app_count().await, 1);
    // The password works on the same data.
    let by_password = t.as_(Auth::basic("root", ROOT_PASSWORD));
    let r = by_password.get(&format!("/admin/v1/apps/{}", app["client_id"].as_str().unwrap())).await.expect(200);
    assert_eq!(r.json()["name"], "by token");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_token_the_cli_issues_works_and_a_made_up_one_does_not() {
    let t = TestAdmin::start_with(|env| {
        env.add_user("second", "second-password", true);
    })
    .await;
    let second = t.env.token("second");
    let another = t.env.cli_ok(&["users", "token", "root", "--note", "ci"], None).trim().to_string();
    assert!(another.starts_with("tga_") && another != t.token, "{another}");
    t.as_(Auth::bearer(&second)).get("/admin/v1/apps").await.expect(200);
    t.as_(Auth::bearer(&another)).get("/admin/v1/apps").await.expect(200);
    t.api.get("/admin/v1/apps").await.expect(200);

    let forged = format!("tga_{}", "A".repeat(43));
    t.as_(Auth::bearer(&forged)).get("/admin/v1/apps").await.refused(401, "unauthorized");
    // A token one character off.
    let mut off = t.token.clone();
    let last = off.pop().unwrap();
    off.push(if last == 'A' { 'B' } else { 'A' });
    t.as_(Auth::bearer(&off)).get("/admin/v1/apps").await.refused(401, "unauthorized");
    // The admin's password is not a bearer token.
    t.as_(Auth::bearer(ROOT_PASSWORD)).get("/admin/v1/apps").await.refused(401, "unauthorized");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wrong_password_or_an_unknown_user_gets_401() {
    let t = TestAdmin::start().await;
    for auth in [
        Auth::basic("root", "not-the-password"),
        Auth::basic("root", ""),
        Auth::basic("nobody", ROOT_PASSWORD),
        Auth::basic("ROOT", ROOT_PASSWORD),
    ] {
        let r = t.as_(auth).get("/admin/v1/apps").await;
        r.refused(401, "unauthorized");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_authorization_headers_get_401() {
    let t = TestAdmin::start().await;
    let http = client();
    for value in ["Basic", "Basic !!!notbase64", "Basic cm9vdA==", "Bearer", "Negotiate abc", "tga_x"] {
        let r = http.get(format!("{}/admin/v1/apps", t.url())).header("authorization", value).send().await.unwrap();
        assert_eq!(r.status(), 401, "Authorization: {value}");
        let body: serde_json::Value = r.json().await.unwrap_or_default();
        assert_eq!(body["error"], "unauthorized", "Authorization: {value}: {body}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_valid_user_who_is_not_an_admin_gets_403() {
    let t = TestAdmin::start_with(|env| {
        let user = env.add_user("bob", "bob-password", false);
        assert_eq!(user["username"], "bob", "{user}");
        assert_eq!(user["is_admin"], false, "{user}");
    })
    .await;
    let bob = t.as_(Auth::basic("bob", "bob-password"));
    bob.get("/admin/v1/apps").await.refused(403, "forbidden");
    bob.get("/admin/v1/users").await.refused(403, "forbidden");
    // And his wrong password is still a 401, not a 403.
    t.as_(Auth::basic("bob", "wrong-password")).get("/admin/v1/apps").await.refused(401, "unauthorized");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_disabled_admin_gets_401_by_password_and_by_token() {
    let mut token = String::new();
    let t = TestAdmin::start_with(|env| {
        env.add_user("carol", "carol-password", true);
        token = env.token("carol");
        env.disable_user("carol");
    })
    .await;
    t.as_(Auth::basic("carol", "carol-password")).get("/admin/v1/apps").await.refused(401, "unauthorized");
    t.as_(Auth::bearer(&token)).get("/admin/v1/apps").await.refused(401, "unauthorized");
    let listed = t.api.users().await;
    let carol = listed.iter().find(|u| u["username"] == "carol").expect("carol listed");
    assert_eq!(carol["disabled"], true, "{carol}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refused_callers_change_nothing() {
    let t = TestAdmin::start_with(|env| {
        env.add_user("bob", "bob-password", false);
    })
    .await;
    let app = t.api.create_app(machine("kept")).await;
    let id = app["client_id"].as_str().unwrap().to_string();
    let before = t.api.app(&id).await;
    let users_before = t.api.users().await;

    for (who, expected) in
        [(Auth::None, 401), (Auth::basic("root", "wrong"), 401), (Auth::basic("bob", "bob-password"), 403)]
    {
        // Repeated wrong passwords are refused at once (429) after a few.
        let guessing = matches!(&who, Auth::Basic(_, p) if p == "wrong");
        let as_expected = |status: u16| status == expected || (guessing && status == 429);
        let c = t.as_(who);
        assert!(as_expected(c.post("/admin/v1/apps", machine("intruder")).await.status));
        assert!(as_expected(c.patch(&format!("/admin/v1/apps/{id}"), json!({"name": "renamed"})).await.status));
        assert!(as_expected(c.delete(&format!("/admin/v1/apps/{id}")).await.status));
        assert!(as_expected(c.post(&format!("/admin/v1/apps/{id}/secrets"), json!({})).await.status));
        assert!(as_expected(c.post(&format!("/admin/v1/apps/{id}/keys/generate"), json!({})).await.status));
        let r = c.raw(Method::PUT, &format!("/admin/v1/apps/{id}/logo"), "image/png", PNG.to_vec()).await;
        assert!(as_expected(r.status), "\n{r}");
        let r =
            c.post("/admin/v1/users", json!({"username": "mallory", "password": "mallory-pw", "is_admin": true})).await;
        assert!(as_expected(r.status), "\n{r}");
        assert!(!r.text().contains("client_secret"), "\n{r}");
        let r = c.patch("/admin/v1/users/bob", json!({"is_admin": true})).await;
        assert!(as_expected(r.status), "\n{r}");
    }

    assert_eq!(t.api.app_count().await, 1);
    assert_eq!(t.api.app(&id).await, before);
    t.api.get(&format!("/admin/v1/apps/{id}/logo")).await.expect(404);
    assert_eq!(t.api.users().await, users_before);
    // bob is still not an admin.
    t.as_(Auth::basic("bob", "bob-password")).get("/admin/v1/apps").await.refused(403, "forbidden");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_answer_says_no_store() {
    let t = TestAdmin::start_with(|env| {
        env.add_user("bob", "bob-password", false);
    })
    .await;
    let created = t.api.post("/admin/v1/apps", machine("m")).await.expect(201);
    let id = created.json()["client_id"].as_str().unwrap().to_string();
    let spa_id = t.api.create_app(spa("s")).await["client_id"].as_str().unwrap().to_string();
    let mut replies = vec![
        created,
        t.api.get("/admin/v1/apps").await.expect(200),
        t.api.get(&format!("/admin/v1/apps/{id}")).await.expect(200),
        t.api.post(&format!("/admin/v1/apps/{id}/secrets"), json!({"note": "n"})).await.expect(201),
        t.api.post(&format!("/admin/v1/apps/{id}/keys/generate"), json!({"alg": "ES256"})).await.expect(201),
        t.api.raw(Method::PUT, &format!("/admin/v1/apps/{spa_id}/logo"), "image/png", PNG.to_vec()).await.expect(200),
        t.api.get(&format!("/admin/v1/apps/{spa_id}/logo")).await.expect(200),
        t.api.get("/admin/v1/users").await.expect(200),
        t.api.get("/admin/v1/apps/no-such-app-000000000000").await.expect(404),
        t.api.post("/admin/v1/apps", json!({"type": "machine", "name": ""})).await.expect(422),
        t.api.raw(Method::POST, "/admin/v1/apps", "application/json", "{not json").await.expect(400),
        t.as_(Auth::None).get("/admin/v1/apps").await.expect(401),
        t.as_(Auth::basic("bob", "bob-password")).get("/admin/v1/apps").await.expect(403),
        t.api
            .post("/admin/v1/users", json!({"username": "root", "password": "long-enough", "is_admin": false}))
            .await
            .expect(409),
    ];
    let secret_id = replies[3].json()["id"].as_str().unwrap().to_string();
    let key_id = replies[4].json()["id"].as_str().unwrap().to_string();
    replies.push(t.api.delete(&format!("/admin/v1/apps/{id}/secrets/{secret_id}")).await.expect(204));
    replies.push(t.api.delete(&format!("/admin/v1/apps/{id}/keys/{key_id}")).await.expect(204));
    replies.push(t.api.patch("/admin/v1/users/bob", json!({"disabled": false})).await.expect(200));
    replies.push(t.api.delete(&format!("/admin/v1/apps/{id}")).await.expect(204));
    let missing: Vec<String> = replies
        .iter()
        .filter(|r| r.header("cache-control") != Some("no-store"))
        .map(|r| format!("{} -> {} (Cache-Control: {:?})", r.request, r.status, r.header("cache-control")))
        .collect();
    assert!(missing.is_empty(), "answers without Cache-Control: no-store:\n{}", missing.join("\n"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn error_answers_are_json_with_a_code_and_a_description() {
    let t = TestAdmin::start().await;
    let r = t.api.get("/admin/v1/apps/no-such-app-000000000000").await;
    r.refused(404, "not_found");
    assert!(
        r.header("content-type").is_some_and(|c| c.starts_with("application/json")),
        "content type of an error:\n{r}"
    );
    let r = t.as_(Auth::None).get("/admin/v1/apps").await;
    assert!(r.header("content-type").is_some_and(|c| c.starts_with("application/json")), "\n{r}");
}
