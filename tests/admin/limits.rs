//! The app limit (`max_apps = 10`): the eleventh app is refused, a deletion frees a place, and parallel creates never
//! overshoot.

use std::collections::HashSet;

use serde_json::{json, Value};

use crate::support::admin::*;

fn id(v: &Value) -> String {
    v["client_id"].as_str().unwrap_or_else(|| panic!("no client_id in {v}")).to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_eleventh_app_is_refused_and_a_deletion_frees_a_place() {
    let t = TestAdmin::start().await;
    let mut apps = Vec::new();
    for i in 0..MAX_APPS {
        let body = match i % 3 {
            0 => machine(&format!("app {i}")),
            1 => web(&format!("app {i}")),
            _ => spa(&format!("app {i}")),
        };
        apps.push(t.api.create_app(body).await);
    }
    for body in [machine("eleventh"), web("eleventh"), spa("eleventh")] {
        let r = t.api.post("/admin/v1/apps", body).await;
        r.refused(409, "app_limit_reached");
        assert!(!r.text().contains("tgs_"), "a refused create shows a secret:\n{r}");
    }
    let list = t.api.apps().await;
    assert_eq!(list["count"], MAX_APPS);
    assert_eq!(list["max_apps"], MAX_APPS);
    assert!(list["apps"].as_array().unwrap().iter().all(|a| a["name"] != "eleventh"), "{list}");

    t.api.delete(&format!("/admin/v1/apps/{}", id(&apps[4]))).await.expect(204);
    let again = t.api.create_app(spa("eleventh")).await;
    assert_eq!(t.api.app_count().await, MAX_APPS);
    t.api.post("/admin/v1/apps", machine("twelfth")).await.refused(409, "app_limit_reached");
    assert_eq!(t.api.app(&id(&again)).await["name"], "eleventh");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_limit_counts_apps_not_requests() {
    let t = TestAdmin::start().await;
    // Refused creates and deleted apps take no place.
    for _ in 0..5 {
        t.api
            .post("/admin/v1/apps", json!({"type": "web", "name": "bad", "redirect_urls": ["http://x.example/"]}))
            .await
            .expect(422);
    }
    for i in 0..15 {
        let app = t.api.create_app(machine(&format!("short-lived {i}"))).await;
        t.api.delete(&format!("/admin/v1/apps/{}", id(&app))).await.expect(204);
    }
    for i in 0..MAX_APPS {
        t.api.create_app(machine(&format!("kept {i}"))).await;
    }
    t.api.post("/admin/v1/apps", machine("one too many")).await.refused(409, "app_limit_reached");
    // Adding secrets and keys to apps at the limit is still fine: they are not apps.
    let first = t.api.apps().await["apps"][0].clone();
    t.api.post(&format!("/admin/v1/apps/{}/secrets", id(&first)), json!({})).await.expect(201);
    t.api.post(&format!("/admin/v1/apps/{}/keys/generate", id(&first)), json!({"alg": "EdDSA"})).await.expect(201);
    t.api.patch(&format!("/admin/v1/apps/{}", id(&first)), json!({"name": "renamed"})).await.expect(200);
}

/// Fires `n` creates at once; returns (created client ids, number refused with 409 app_limit_reached).
async fn parallel_creates(api: &AdminClient, n: usize) -> (Vec<String>, usize) {
    let mut tasks = Vec::new();
    for i in 0..n {
        let api = api.clone();
        let body = match i % 3 {
            0 => machine(&format!("racer {i}")),
            1 => web(&format!("racer {i}")),
            _ => spa(&format!("racer {i}")),
        };
        tasks.push(tokio::spawn(async move { api.post("/admin/v1/apps", body).await }));
    }
    let mut created = Vec::new();
    let mut refused = 0;
    for task in tasks {
        let r = task.await.unwrap();
        match r.status {
            201 => created.push(id(&r.json())),
            409 => {
                r.refused(409, "app_limit_reached");
                refused += 1;
            }
            _ => panic!("a parallel create got neither 201 nor 409:\n{r}"),
        }
    }
    (created, refused)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn twenty_parallel_creates_with_ten_places_make_exactly_ten_apps() {
    let t = TestAdmin::start().await;
    let (created, refused) = parallel_creates(&t.api, 20).await;
    assert_eq!(created.len(), MAX_APPS, "created {} apps", created.len());
    assert_eq!(refused, 20 - MAX_APPS);
    let unique: HashSet<&String> = created.iter().collect();
    assert_eq!(unique.len(), created.len(), "duplicate client ids: {created:?}");
    let list = t.api.apps().await;
    assert_eq!(list["count"], MAX_APPS, "{list}");
    let listed: HashSet<String> = list["apps"].as_array().unwrap().iter().map(id).collect();
    assert_eq!(listed, created.iter().cloned().collect::<HashSet<_>>());
    t.api.post("/admin/v1/apps", machine("after the race")).await.refused(409, "app_limit_reached");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn parallel_creates_fill_only_the_free_places() {
    let t = TestAdmin::start().await;
    for i in 0..7 {
        t.api.create_app(machine(&format!("existing {i}"))).await;
    }
    let (created, refused) = parallel_creates(&t.api, 20).await;
    assert_eq!(created.len(), 3);
    assert_eq!(refused, 17);
    assert_eq!(t.api.app_count().await, MAX_APPS);

    // Delete three in parallel, then race again for exactly those places.
    let apps = t.api.apps().await["apps"].as_array().unwrap().clone();
    let mut deletes = Vec::new();
    for app in apps.iter().take(3) {
        let api = t.api.clone();
        let path = format!("/admin/v1/apps/{}", id(app));
        deletes.push(tokio::spawn(async move { api.delete(&path).await }));
    }
    for d in deletes {
        d.await.unwrap().expect(204);
    }
    assert_eq!(t.api.app_count().await, MAX_APPS - 3);
    let (created, refused) = parallel_creates(&t.api, 12).await;
    assert_eq!((created.len(), refused), (3, 9));
    assert_eq!(t.api.app_count().await, MAX_APPS);
}
