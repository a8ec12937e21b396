//! Client secrets: shown exactly once (in the answer that makes them), never again by the API, never stored in the
//! clear; added and deleted one by one; single-page apps have none.

use serde_json::{json, Value};

use crate::support::admin::*;

fn id(v: &Value) -> String {
    v["client_id"].as_str().unwrap_or_else(|| panic!("no client_id in {v}")).to_string()
}

/// Asserts that neither the API (app view, list) nor the database files show `secret`.
async fn assert_hidden(t: &TestAdmin, client_id: &str, secret: &str) {
    let tail = &secret["tgs_".len()..];
    let r = t.api.get(&format!("/admin/v1/apps/{client_id}")).await.expect(200);
    assert!(!r.text().contains(tail), "GET shows the secret:\n{r}");
    let r = t.api.get("/admin/v1/apps").await.expect(200);
    assert!(!r.text().contains(tail), "the list shows the secret:\n{r}");
    assert!(!t.env.db_contains(secret), "the database holds the secret in the clear");
    assert!(!t.env.db_contains(tail), "the database holds the secret (without its prefix) in the clear");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_first_secret_is_shown_once_and_never_stored_in_the_clear() {
    let t = TestAdmin::start().await;
    for body in [machine("m"), web("w")] {
        let app = t.api.create_app(body).await;
        let secret = app["client_secret"].as_str().unwrap().to_string();
        assert!(is_client_secret(&secret), "{secret}");
        assert_hidden(&t, &id(&app), &secret).await;
    }
    // The database does hold the apps (so the search above looked in the right place).
    let app = t.api.apps().await["apps"][0].clone();
    assert!(t.env.db_contains(app["client_id"].as_str().unwrap()), "client id not found in the database files");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_secret_added_later_is_shown_once_and_listed_without_its_value() {
    let t = TestAdmin::start().await;
    let app = t.api.create_app(machine("m")).await;
    let cid = id(&app);
    let first = app["client_secret"].as_str().unwrap().to_string();
    let r = t.api.post(&format!("/admin/v1/apps/{cid}/secrets"), json!({"note": "rotation 2025"})).await.expect(201);
    let added = &r.json();
    let obj = added.as_object().unwrap();
    let mut keys: Vec<&str> = obj.keys().map(|k| k.as_str()).collect();
    keys.sort();
    assert_eq!(keys, ["client_secret", "created_at", "id", "last_used_at", "note"], "\n{r}");
    assert_eq!(added["note"], "rotation 2025");
    assert_eq!(added["last_used_at"], Value::Null);
    assert!(is_recent(&added["created_at"]), "\n{r}");
    let second = added["client_secret"].as_str().unwrap().to_string();
    assert!(is_client_secret(&second), "{second}");
    assert_ne!(second, first);

    let view = t.api.app(&cid).await;
    let secrets = view["secrets"].as_array().unwrap();
    assert_eq!(secrets.len(), 2, "{view}");
    let listed = secrets.iter().find(|s| s["id"] == added["id"]).unwrap_or_else(|| panic!("new secret not in {view}"));
    assert_eq!(listed["note"], "rotation 2025");
    assert_eq!(listed["created_at"], added["created_at"]);
    assert!(listed.get("client_secret").is_none(), "{listed}");
    assert_ne!(secrets[0]["id"], secrets[1]["id"]);
    assert_hidden(&t, &cid, &first).await;
    assert_hidden(&t, &cid, &second).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_note_is_optional_and_at_most_64_characters() {
    let t = TestAdmin::start().await;
    let app = t.api.create_app(web("w")).await;
    let path = format!("/admin/v1/apps/{}/secrets", id(&app));
    let r = t.api.post(&path, json!({})).await.expect(201);
    assert!(is_client_secret(r.json()["client_secret"].as_str().unwrap()), "\n{r}");
    assert_eq!(r.json()["note"], "", "\n{r}");
    let r = t.api.post(&path, json!({"note": "n".repeat(64)})).await.expect(201);
    assert_eq!(r.json()["note"].as_str().unwrap().len(), 64);
    let count = t.api.app(&id(&app)).await["secrets"].as_array().unwrap().len();
    assert_eq!(count, 3);

    t.api.post(&path, json!({"note": "n".repeat(65)})).await.invalid_field("note");
    t.api.post(&path, json!({"note": 7})).await.invalid_field("note");
    let r = t.api.raw(reqwest::Method::POST, &path, "application/json", "{oops").await;
    r.refused(400, "invalid_request");
    assert_eq!(t.api.app(&id(&app)).await["secrets"].as_array().unwrap().len(), count, "a refused add added a secret");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_secret_body_that_is_not_a_json_object_is_an_invalid_request() {
    let t = TestAdmin::start().await;
    let app = t.api.create_app(machine("m")).await;
    let path = format!("/admin/v1/apps/{}/secrets", id(&app));
    for body in ["{oops", "[]", "\"note\"", "42", "null"] {
        let r = t.api.raw(reqwest::Method::POST, &path, "application/json", body).await;
        r.refused(400, "invalid_request");
        assert!(!r.text().contains("tgs_"), "\n{r}");
    }
    assert_eq!(t.api.app(&id(&app)).await["secrets"].as_array().unwrap().len(), 1, "a refused add added a secret");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_single_page_app_has_no_secrets_to_add() {
    let t = TestAdmin::start().await;
    let app = t.api.create_app(spa("s")).await;
    let r = t.api.post(&format!("/admin/v1/apps/{}/secrets", id(&app)), json!({"note": "x"})).await;
    r.invalid_field("type");
    assert!(!r.text().contains("tgs_"), "\n{r}");
    let view = t.api.app(&id(&app)).await;
    assert!(view.get("secrets").is_none(), "{view}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deleting_a_secret_removes_only_that_one() {
    let t = TestAdmin::start().await;
    let app = t.api.create_app(machine("m")).await;
    let cid = id(&app);
    let first_id = app["secrets"][0]["id"].as_str().unwrap().to_string();
    let second = t.api.post(&format!("/admin/v1/apps/{cid}/secrets"), json!({"note": "second"})).await.expect(201);
    let second_id = second.json()["id"].as_str().unwrap().to_string();

    let r = t.api.delete(&format!("/admin/v1/apps/{cid}/secrets/{first_id}")).await.expect(204);
    assert!(r.bytes.is_empty(), "\n{r}");
    let view = t.api.app(&cid).await;
    let ids: Vec<&str> = view["secrets"].as_array().unwrap().iter().map(|s| s["id"].as_str().unwrap()).collect();
    assert_eq!(ids, [second_id.as_str()], "{view}");

    t.api.delete(&format!("/admin/v1/apps/{cid}/secrets/{first_id}")).await.refused(404, "not_found");
    t.api.delete(&format!("/admin/v1/apps/{cid}/secrets/no-such-secret")).await.refused(404, "not_found");
    // A secret id under another app is not found there.
    let other = t.api.create_app(web("w")).await;
    t.api.delete(&format!("/admin/v1/apps/{}/secrets/{second_id}", id(&other))).await.refused(404, "not_found");
    assert_eq!(t.api.app(&cid).await["secrets"].as_array().unwrap().len(), 1);
    assert_eq!(t.api.app(&id(&other)).await["secrets"].as_array().unwrap().len(), 1);

    // The last secret can go too.
    t.api.delete(&format!("/admin/v1/apps/{cid}/secrets/{second_id}")).await.expect(204);
    assert_eq!(t.api.app(&cid).await["secrets"], json!([]));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_secret_is_different() {
    let t = TestAdmin::start().await;
    let app = t.api.create_app(machine("m")).await;
    let mut all = vec![app["client_secret"].as_str().unwrap().to_string()];
    for _ in 0..5 {
        let r = t.api.post(&format!("/admin/v1/apps/{}/secrets", id(&app)), json!({})).await.expect(201);
        all.push(r.json()["client_secret"].as_str().unwrap().to_string());
    }
    for _ in 0..3 {
        all.push(t.api.create_app(web("w")).await["client_secret"].as_str().unwrap().to_string());
    }
    let mut unique = all.clone();
    unique.sort();
    unique.dedup();
    assert_eq!(unique.len(), all.len(), "{all:?}");
    for s in &all {
        assert!(is_client_secret(s), "{s}");
        assert!(!t.env.db_contains(&s[4..]), "a secret is in the database in the clear");
    }
}
