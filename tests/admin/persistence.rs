//! Everything the admin API writes survives a restart: one process stops, another starts on the same database file.

use reqwest::Method;
use serde_json::{json, Value};

use crate::support::admin::*;
use crate::support::Alg;

fn id(v: &Value) -> String {
    v["client_id"].as_str().unwrap_or_else(|| panic!("no client_id in {v}")).to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn apps_secrets_keys_logos_and_users_survive_a_restart() {
    let mut t = TestAdmin::start().await;
    let m = t.api.create_app(json!({"type": "machine", "name": "Exporter", "description": "nightly"})).await;
    let w = t
        .api
        .create_app(json!({
            "type": "web", "name": "Portal", "redirect_urls": ["https://portal.example.com/cb"],
            "refresh_token_rotation": false, "refresh_token_absolute_expiry_secs": 86400,
            "refresh_token_inactivity_expiry_secs": 3600, "app_description_url": "https://portal.example.com/about",
        }))
        .await;
    let s = t
        .api
        .create_app(json!({
            "type": "spa", "name": "Dashboard", "redirect_urls": ["http://localhost:5173/cb"],
            "developer_name": "Ada", "developer_email": "ada@example.com",
            "privacy_policy_url": "https://example.com/privacy",
        }))
        .await;
    t.api.post(&format!("/admin/v1/apps/{}/secrets", id(&m)), json!({"note": "second"})).await.expect(201);
    let key = TestKey::generate(Alg::EdDSA);
    t.api
        .post(&format!("/admin/v1/apps/{}/keys", id(&m)), json!({"public_key": key.public_pem, "note": "ed"}))
        .await
        .expect(201);
    t.api.post(&format!("/admin/v1/apps/{}/keys/generate", id(&m)), json!({"alg": "ES256"})).await.expect(201);
    t.api.raw(Method::PUT, &format!("/admin/v1/apps/{}/logo", id(&s)), "image/gif", GIF.to_vec()).await.expect(200);
    t.api.patch(&format!("/admin/v1/apps/{}", id(&w)), json!({"name": "Portal 2"})).await.expect(200);
    t.api
        .post("/admin/v1/users", json!({"username": "kim", "password": "kim-password", "is_admin": true}))
        .await
        .expect(201);
    t.api.patch("/admin/v1/users/root", json!({"password": "root-password-2"})).await.expect(200);

    let apps_before = t.api.apps().await;
    let users_before = t.api.users().await;
    let views_before = [t.api.app(&id(&m)).await, t.api.app(&id(&w)).await, t.api.app(&id(&s)).await];

    t.restart().await;

    assert_eq!(t.api.apps().await, apps_before);
    assert_eq!(t.api.users().await, users_before);
    let views_after = [t.api.app(&id(&m)).await, t.api.app(&id(&w)).await, t.api.app(&id(&s)).await];
    assert_eq!(views_after, views_before);
    assert_eq!(views_after[0]["secrets"].as_array().unwrap().len(), 2);
    assert_eq!(views_after[0]["public_keys"].as_array().unwrap().len(), 2);
    assert_eq!(views_after[1]["name"], "Portal 2");
    let logo = t.api.get(&format!("/admin/v1/apps/{}/logo", id(&s))).await.expect(200);
    assert_eq!(logo.header("content-type"), Some("image/gif"));
    assert_eq!(logo.bytes, GIF);

    // Credentials survive too: the token, the new user, the changed password.
    t.as_(Auth::basic("kim", "kim-password")).get("/admin/v1/apps").await.expect(200);
    t.as_(Auth::basic("root", "root-password-2")).get("/admin/v1/apps").await.expect(200);
    t.as_(Auth::basic("root", ROOT_PASSWORD)).get("/admin/v1/apps").await.refused(401, "unauthorized");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deletions_stay_deleted_after_a_restart() {
    let mut t = TestAdmin::start().await;
    let gone = t.api.create_app(web("gone")).await;
    let kept = t.api.create_app(machine("kept")).await;
    let extra = t.api.post(&format!("/admin/v1/apps/{}/secrets", id(&kept)), json!({})).await.expect(201);
    let key = t.api.post(&format!("/admin/v1/apps/{}/keys/generate", id(&kept)), json!({})).await.expect(201);
    t.api.delete(&format!("/admin/v1/apps/{}", id(&gone))).await.expect(204);
    t.api
        .delete(&format!("/admin/v1/apps/{}/secrets/{}", id(&kept), extra.json()["id"].as_str().unwrap()))
        .await
        .expect(204);
    t.api
        .delete(&format!("/admin/v1/apps/{}/keys/{}", id(&kept), key.json()["id"].as_str().unwrap()))
        .await
        .expect(204);
    t.restart().await;
    t.api.get(&format!("/admin/v1/apps/{}", id(&gone))).await.refused(404, "not_found");
    let view = t.api.app(&id(&kept)).await;
    assert_eq!(view["secrets"].as_array().unwrap().len(), 1, "{view}");
    assert_eq!(view["secrets"][0]["id"], kept["secrets"][0]["id"]);
    assert_eq!(view["public_keys"], json!([]));
    assert_eq!(t.api.app_count().await, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_app_limit_holds_across_a_restart() {
    let mut t = TestAdmin::start().await;
    for i in 0..MAX_APPS {
        t.api.create_app(spa(&format!("s{i}"))).await;
    }
    t.restart().await;
    assert_eq!(t.api.app_count().await, MAX_APPS);
    t.api.post("/admin/v1/apps", spa("one more")).await.refused(409, "app_limit_reached");
    let first = t.api.apps().await["apps"][0].clone();
    t.api.delete(&format!("/admin/v1/apps/{}", id(&first))).await.expect(204);
    t.restart().await;
    t.api.create_app(spa("one more")).await;
    t.api.post("/admin/v1/apps", spa("two more")).await.refused(409, "app_limit_reached");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn secrets_stay_out_of_the_database_after_a_restart() {
    let mut t = TestAdmin::start().await;
    let app = t.api.create_app(web("w")).await;
    let secret = app["client_secret"].as_str().unwrap().to_string();
    t.restart().await;
    if let Some(s) = t.server.take() {
        s.stop().await;
    }
    assert!(!t.env.db_contains(&secret[4..]), "the secret is in the database files after a checkpoint");
    assert!(t.env.db_contains(&id(&app)), "the app is not in the database files");
}
