//! Users through the admin API and the `tokengate users` command: listed without password hashes, created with a
//! unique name and a password of at least 8 characters, promoted, disabled and given a new password.

use reqwest::Method;
use serde_json::{json, Value};

use crate::support::admin::*;

fn find<'a>(users: &'a [Value], name: &str) -> Option<&'a Value> {
    users.iter().find(|u| u["username"] == name)
}

#[track_caller]
fn assert_user_view(u: &Value, name: &str, is_admin: bool, disabled: bool) {
    let mut keys: Vec<&str> =
        u.as_object().unwrap_or_else(|| panic!("not an object: {u}")).keys().map(|k| k.as_str()).collect();
    keys.sort();
    assert_eq!(keys, ["created_at", "disabled", "is_admin", "username"], "{u}");
    assert_eq!(u["username"], name, "{u}");
    assert_eq!(u["is_admin"], is_admin, "{u}");
    assert_eq!(u["disabled"], disabled, "{u}");
    assert!(is_recent(&u["created_at"]), "{u}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_list_shows_every_user_without_a_password_hash() {
    let t = TestAdmin::start_with(|env| {
        env.add_user("bob", "bob-password", false);
    })
    .await;
    let r = t.api.get("/admin/v1/users").await.expect(200);
    let body = r.json();
    let users = body["users"].as_array().unwrap_or_else(|| panic!("no users array:\n{r}"));
    assert_eq!(users.len(), 2, "\n{r}");
    assert_user_view(find(users, "root").unwrap(), "root", true, false);
    assert_user_view(find(users, "bob").unwrap(), "bob", false, false);
    let text = r.text();
    assert!(!text.contains("$argon2") && !text.contains("password") && !text.contains("hash"), "\n{r}");
    assert!(!text.contains(ROOT_PASSWORD) && !text.contains("bob-password"), "\n{r}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_user_created_through_the_api_can_log_in() {
    let t = TestAdmin::start().await;
    let r =
        t.api.post("/admin/v1/users", json!({"username": "dana", "password": "dana-password", "is_admin": true})).await;
    let r = r.expect(201);
    assert_user_view(&r.json(), "dana", true, false);
    assert!(!r.text().contains("dana-password") && !r.text().contains("$argon2"), "\n{r}");
    t.as_(Auth::basic("dana", "dana-password")).get("/admin/v1/apps").await.expect(200);
    t.as_(Auth::basic("dana", "wrong-password")).get("/admin/v1/apps").await.refused(401, "unauthorized");

    let r =
        t.api.post("/admin/v1/users", json!({"username": "eve", "password": "eve-password", "is_admin": false})).await;
    assert_user_view(&r.expect(201).json(), "eve", false, false);
    t.as_(Auth::basic("eve", "eve-password")).get("/admin/v1/apps").await.refused(403, "forbidden");
    assert_eq!(t.api.users().await.len(), 3);
    assert!(!t.env.db_contains("dana-password"), "a password is in the database in the clear");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_duplicate_username_is_a_conflict() {
    let t = TestAdmin::start_with(|env| {
        env.add_user("bob", "bob-password", false);
    })
    .await;
    let before = t.api.users().await;
    for name in ["root", "bob"] {
        let r = t
            .api
            .post("/admin/v1/users", json!({"username": name, "password": "another-password", "is_admin": true}))
            .await;
        r.refused(409, "conflict");
    }
    assert_eq!(t.api.users().await, before);
    // The old passwords still hold and bob is still no admin.
    t.as_(Auth::basic("bob", "bob-password")).get("/admin/v1/apps").await.refused(403, "forbidden");
    t.as_(Auth::basic("bob", "another-password")).get("/admin/v1/apps").await.refused(401, "unauthorized");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_password_needs_8_characters_and_a_username_is_required() {
    let t = TestAdmin::start().await;
    let before = t.api.users().await;
    for pw in [json!("1234567"), json!(""), json!(null), json!(12345678)] {
        let r = t.api.post("/admin/v1/users", json!({"username": "frank", "password": pw, "is_admin": false})).await;
        r.invalid_field("password");
    }
    t.api.post("/admin/v1/users", json!({"username": "frank", "is_admin": false})).await.invalid_field("password");
    for name in [json!(""), json!(null)] {
        let r = t
            .api
            .post("/admin/v1/users", json!({"username": name, "password": "long-enough", "is_admin": false}))
            .await;
        r.invalid_field("username");
    }
    t.api
        .post("/admin/v1/users", json!({"password": "long-enough", "is_admin": false}))
        .await
        .invalid_field("username");
    let r =
        t.api.post("/admin/v1/users", json!({"username": "frank", "password": "long-enough", "is_admin": "yes"})).await;
    r.invalid_field("is_admin");
    let r = t
        .api
        .post(
            "/admin/v1/users",
            json!({"username": "frank", "password": "long-enough", "is_admin": false, "colour": "blue"}),
        )
        .await;
    r.invalid_field("colour");
    for body in ["{bad", "[]", "\"frank\""] {
        t.api.raw(Method::POST, "/admin/v1/users", "application/json", body).await.refused(400, "invalid_request");
    }
    assert_eq!(t.api.users().await, before);

    let r =
        t.api.post("/admin/v1/users", json!({"username": "frank", "password": "12345678", "is_admin": false})).await;
    assert_user_view(&r.expect(201).json(), "frank", false, false);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn patch_promotes_demotes_disables_and_changes_the_password() {
    let t = TestAdmin::start_with(|env| {
        env.add_user("bob", "bob-password", false);
    })
    .await;
    let bob = |pw: &str| t.as_(Auth::basic("bob", pw));
    bob("bob-password").get("/admin/v1/apps").await.refused(403, "forbidden");

    let r = t.api.patch("/admin/v1/users/bob", json!({"is_admin": true})).await.expect(200);
    assert_user_view(&r.json(), "bob", true, false);
    bob("bob-password").get("/admin/v1/apps").await.expect(200);

    let r = t.api.patch("/admin/v1/users/bob", json!({"password": "bob-new-password"})).await.expect(200);
    assert_user_view(&r.json(), "bob", true, false);
    bob("bob-password").get("/admin/v1/apps").await.refused(401, "unauthorized");
    bob("bob-new-password").get("/admin/v1/apps").await.expect(200);

    let r = t.api.patch("/admin/v1/users/bob", json!({"disabled": true})).await.expect(200);
    assert_user_view(&r.json(), "bob", true, true);
    bob("bob-new-password").get("/admin/v1/apps").await.refused(401, "unauthorized");

    let r = t.api.patch("/admin/v1/users/bob", json!({"disabled": false, "is_admin": false})).await.expect(200);
    assert_user_view(&r.json(), "bob", false, false);
    bob("bob-new-password").get("/admin/v1/apps").await.refused(403, "forbidden");
    assert_user_view(find(&t.api.users().await, "bob").unwrap(), "bob", false, false);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn disabling_an_admin_stops_their_token_at_once() {
    let mut token = String::new();
    let t = TestAdmin::start_with(|env| {
        env.add_user("gina", "gina-password", true);
        token = env.token("gina");
    })
    .await;
    let gina = t.as_(Auth::bearer(&token));
    gina.get("/admin/v1/apps").await.expect(200);
    t.api.patch("/admin/v1/users/gina", json!({"disabled": true})).await.expect(200);
    gina.get("/admin/v1/apps").await.refused(401, "unauthorized");
    t.api.patch("/admin/v1/users/gina", json!({"disabled": false, "is_admin": false})).await.expect(200);
    // Disabling ended the token: a re-enable does not bring it back.
    gina.get("/admin/v1/apps").await.refused(401, "unauthorized");
    // Her password says who she is now: no longer an administrator.
    t.as_(Auth::basic("gina", "gina-password")).get("/admin/v1/apps").await.refused(403, "forbidden");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_user_patch_changes_nothing() {
    let t = TestAdmin::start_with(|env| {
        env.add_user("bob", "bob-password", false);
    })
    .await;
    t.api.patch("/admin/v1/users/nobody", json!({"is_admin": true})).await.refused(404, "not_found");
    let before = t.api.users().await;
    t.api.patch("/admin/v1/users/bob", json!({"is_admin": true, "password": "short"})).await.invalid_field("password");
    t.api.patch("/admin/v1/users/bob", json!({"is_admin": "yes"})).await.invalid_field("is_admin");
    t.api.patch("/admin/v1/users/bob", json!({"disabled": 1})).await.invalid_field("disabled");
    t.api.patch("/admin/v1/users/bob", json!({"is_admin": true, "colour": "blue"})).await.invalid_field("colour");
    t.api.raw(Method::PATCH, "/admin/v1/users/bob", "application/json", "{bad").await.refused(400, "invalid_request");
    assert_eq!(t.api.users().await, before);
    t.as_(Auth::basic("bob", "bob-password")).get("/admin/v1/apps").await.refused(403, "forbidden");
    assert_eq!(t.api.users().await.len(), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_cli_adds_lists_and_disables_users() {
    let env = AdminEnv::new();
    let added = env.add_user("henry", "henry-password", true);
    assert_eq!(added["username"], "henry", "{added}");
    assert_eq!(added["is_admin"], true, "{added}");
    assert!(!added.to_string().contains("argon2") && !added.to_string().contains("henry-password"), "{added}");
    env.add_user("ivy", "ivy-password", false);
    let list = env.cli_ok(&["users", "list"], None);
    assert!(list.contains("henry") && list.contains("ivy"), "{list}");
    assert!(!list.contains("argon2"), "{list}");
    env.disable_user("ivy");

    let server = AdminServer::start(&env).await;
    let api = AdminClient::new(&server.url, Auth::basic("henry", "henry-password"));
    let users = api.users().await;
    assert_user_view(find(&users, "ivy").unwrap(), "ivy", false, true);
    assert_eq!(users.len(), 2, "{users:?}");
    server.stop().await;
}
