//! OAuth2 applications: the three types and their views, every field rule, partial updates, deletion, and that a
//! refused request changes nothing.

use reqwest::Method;
use serde_json::{json, Value};

use crate::support::admin::*;

const COMMON: &[&str] = &["client_id", "type", "name", "description", "created_at", "updated_at"];
const MACHINE_ONLY: &[&str] = &["secrets", "public_keys", "jwt_subjects", "scopes", "introspect_any"];
const WEB_ONLY: &[&str] = &[
    "secrets",
    "redirect_urls",
    "refresh_token_rotation",
    "refresh_token_absolute_expiry_secs",
    "refresh_token_inactivity_expiry_secs",
    "logo_url",
    "app_description_url",
];
const SPA_ONLY: &[&str] = &[
    "redirect_urls",
    "refresh_token_rotation",
    "refresh_token_absolute_expiry_secs",
    "refresh_token_inactivity_expiry_secs",
    "logo_url",
    "developer_name",
    "developer_email",
    "privacy_policy_url",
];

/// Every field any type has.
fn all_fields() -> Vec<&'static str> {
    let mut all: Vec<&str> = COMMON.iter().chain(MACHINE_ONLY).chain(WEB_ONLY).chain(SPA_ONLY).copied().collect();
    all.sort();
    all.dedup();
    all
}

/// Checks that `view` has exactly the common fields and `own`, plus `extra` (e.g. `client_secret`).
#[track_caller]
fn assert_fields(view: &Value, own: &[&str], extra: &[&str]) {
    let obj = view.as_object().unwrap_or_else(|| panic!("not an object: {view}"));
    for f in COMMON.iter().chain(own).chain(extra) {
        assert!(obj.contains_key(*f), "missing {f} in {view}");
    }
    for f in all_fields() {
        if !COMMON.contains(&f) && !own.contains(&f) {
            assert!(!obj.contains_key(f), "{f} does not apply to a {} app, yet it is in {view}", view["type"]);
        }
    }
    for k in obj.keys() {
        assert!(
            COMMON.contains(&k.as_str()) || own.contains(&k.as_str()) || extra.contains(&k.as_str()),
            "unexpected field {k} in {view}"
        );
    }
}

fn id(v: &Value) -> String {
    v["client_id"].as_str().unwrap_or_else(|| panic!("no client_id in {v}")).to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_machine_app_is_created_with_one_secret_shown_once() {
    let t = TestAdmin::start().await;
    let r = t.api.post("/admin/v1/apps", machine("Nightly export")).await.expect(201);
    let app = &r.json();
    assert_fields(app, MACHINE_ONLY, &["client_secret"]);
    assert!(is_client_id(app["client_id"].as_str().unwrap()), "{app}");
    assert_eq!(app["type"], "machine");
    assert_eq!(app["name"], "Nightly export");
    assert_eq!(app["description"], "");
    assert!(is_recent(&app["created_at"]) && is_recent(&app["updated_at"]), "{app}");
    let secret = app["client_secret"].as_str().unwrap();
    assert!(is_client_secret(secret), "{secret}");
    let secrets = app["secrets"].as_array().unwrap();
    assert_eq!(secrets.len(), 1, "{app}");
    let s = &secrets[0];
    let mut keys: Vec<&str> = s.as_object().unwrap().keys().map(|k| k.as_str()).collect();
    keys.sort();
    assert_eq!(keys, ["created_at", "id", "last_used_at", "note"], "{s}");
    assert!(s["id"].is_string() && s["note"].is_string() && is_recent(&s["created_at"]), "{s}");
    assert_eq!(s["last_used_at"], Value::Null);
    assert!(s.get("client_secret").is_none() && !s.to_string().contains(secret), "{s}");
    assert_eq!(app["public_keys"], json!([]));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_web_app_is_created_with_a_secret_and_the_web_defaults() {
    let t = TestAdmin::start().await;
    let app = t.api.create_app(with(web("Portal"), json!({"description": "The customer portal"}))).await;
    assert_fields(&app, WEB_ONLY, &["client_secret"]);
    assert_eq!(app["type"], "web");
    assert_eq!(app["description"], "The customer portal");
    assert!(is_client_secret(app["client_secret"].as_str().unwrap()), "{app}");
    assert_eq!(app["secrets"].as_array().unwrap().len(), 1);
    assert_eq!(app["redirect_urls"], json!(["https://app.example.com/callback"]));
    assert_eq!(app["refresh_token_rotation"], true);
    assert_eq!(app["refresh_token_absolute_expiry_secs"], Value::Null);
    assert_eq!(app["refresh_token_inactivity_expiry_secs"], 15552000);
    assert_eq!(app["logo_url"], Value::Null);
    assert_eq!(app["app_description_url"], Value::Null);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_single_page_app_is_created_without_any_secret() {
    let t = TestAdmin::start().await;
    let app = t.api.create_app(spa("Dashboard")).await;
    assert_fields(&app, SPA_ONLY, &[]);
    assert!(app.get("client_secret").is_none() && app.get("secrets").is_none(), "{app}");
    assert_eq!(app["type"], "spa");
    assert_eq!(app["refresh_token_rotation"], true);
    assert_eq!(app["refresh_token_absolute_expiry_secs"], Value::Null);
    assert_eq!(app["refresh_token_inactivity_expiry_secs"], 15552000);
    assert_eq!(app["redirect_urls"], json!(["https://spa.example.com/callback"]));
    for f in ["logo_url", "developer_name", "developer_email", "privacy_policy_url"] {
        assert_eq!(app[f], Value::Null, "{f} in {app}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_field_of_each_type_is_stored_and_shown() {
    let t = TestAdmin::start().await;
    let web_body = json!({
        "type": "web", "name": "Full web", "description": "all fields",
        "redirect_urls": ["https://a.example.com/cb", "http://localhost:3000/cb"],
        "refresh_token_rotation": false,
        "refresh_token_absolute_expiry_secs": 86400,
        "refresh_token_inactivity_expiry_secs": 3600,
        "logo_url": "https://cdn.example.com/logo.png",
        "app_description_url": "http://docs.example.com/app",
    });
    let app = t.api.create_app(web_body.clone()).await;
    let got = t.api.app(&id(&app)).await;
    assert_fields(&got, WEB_ONLY, &[]);
    for (k, v) in web_body.as_object().unwrap() {
        assert_eq!(&got[k.as_str()], v, "{k} in {got}");
    }

    let spa_body = json!({
        "type": "spa", "name": "Full spa", "description": "all fields",
        "redirect_urls": ["https://spa.example.com/cb", "http://127.0.0.1:8080/cb", "http://[::1]:9000/cb"],
        "refresh_token_rotation": true,
        "refresh_token_absolute_expiry_secs": null,
        "refresh_token_inactivity_expiry_secs": 7200,
        "logo_url": "https://cdn.example.com/spa.png",
        "developer_name": "Ada Developer",
        "developer_email": "ada@example.com",
        "privacy_policy_url": "https://example.com/privacy",
    });
    let app = t.api.create_app(spa_body.clone()).await;
    let got = t.api.app(&id(&app)).await;
    assert_fields(&got, SPA_ONLY, &[]);
    for (k, v) in spa_body.as_object().unwrap() {
        assert_eq!(&got[k.as_str()], v, "{k} in {got}");
    }

    let app = t.api.create_app(json!({"type": "machine", "name": "Full machine", "description": "m"})).await;
    let got = t.api.app(&id(&app)).await;
    assert_fields(&got, MACHINE_ONLY, &[]);
    assert_eq!(got["description"], "m");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn client_ids_are_url_safe_unguessable_and_distinct() {
    let t = TestAdmin::start().await;
    let mut ids = Vec::new();
    for body in [machine("a"), web("b"), spa("c"), machine("a")] {
        let app = t.api.create_app(body).await;
        let cid = id(&app);
        assert!(is_client_id(&cid), "{cid}");
        ids.push(cid);
    }
    let mut unique = ids.clone();
    unique.sort();
    unique.dedup();
    assert_eq!(unique.len(), ids.len(), "{ids:?}");
    // Not sequential or derived from the name: two apps with the same name share no long prefix.
    assert_ne!(ids[0][..8], ids[3][..8], "{ids:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn get_shows_the_app_without_any_secret_or_hash() {
    let t = TestAdmin::start().await;
    for body in [machine("m"), web("w")] {
        let created = t.api.create_app(body).await;
        let secret = created["client_secret"].as_str().unwrap().to_string();
        let r = t.api.get(&format!("/admin/v1/apps/{}", id(&created))).await.expect(200);
        assert!(!r.text().contains(&secret), "the secret is shown again:\n{r}");
        assert!(!r.text().contains(&secret["tgs_".len()..]), "\n{r}");
        assert!(r.json().get("client_secret").is_none(), "\n{r}");
        assert!(!r.text().contains("hash"), "a hash is shown:\n{r}");
        let mut expected = created.clone();
        expected.as_object_mut().unwrap().remove("client_secret");
        assert_eq!(r.json(), expected, "GET differs from the create answer");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_list_shows_every_app_with_count_and_max_apps_and_no_secret() {
    let t = TestAdmin::start().await;
    let a = t.api.create_app(machine("one")).await;
    let b = t.api.create_app(web("two")).await;
    let c = t.api.create_app(spa("three")).await;
    let r = t.api.get("/admin/v1/apps").await.expect(200);
    assert_eq!(r.json()["count"], 3, "\n{r}");
    assert_eq!(r.json()["max_apps"], MAX_APPS, "\n{r}");
    let listed: Vec<String> = r.json()["apps"].as_array().unwrap().iter().map(id).collect();
    for app in [&a, &b, &c] {
        assert!(listed.contains(&id(app)), "{} missing from\n{r}", id(app));
    }
    for s in [&a, &b] {
        assert!(!r.text().contains(s["client_secret"].as_str().unwrap()), "the list shows a secret:\n{r}");
    }
    assert!(!r.text().contains("client_secret") && !r.text().contains("hash"), "\n{r}");
    // Each listed app is its full view.
    for listed in r.json()["apps"].as_array().unwrap() {
        assert_eq!(listed, &t.api.app(&id(listed)).await);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_name_is_required_non_blank_and_at_most_255_characters() {
    let t = TestAdmin::start().await;
    for bad in [json!({"type": "machine"}), machine(""), machine("   "), machine(&"n".repeat(256))] {
        t.api.post("/admin/v1/apps", bad).await.invalid_field("name");
    }
    for bad in [json!({"type": "web", "name": 42}), json!({"type": "spa", "name": null})] {
        t.api.post("/admin/v1/apps", bad).await.invalid_field("name");
    }
    assert_eq!(t.api.app_count().await, 0);
    let long = t.api.create_app(machine(&"n".repeat(255))).await;
    assert_eq!(long["name"].as_str().unwrap().len(), 255);
    // Surrounding blanks are not part of a valid name's emptiness check: a padded name is accepted.
    let padded = t.api.create_app(machine("  padded  ")).await;
    assert!(padded["name"].as_str().unwrap().contains("padded"), "{padded}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_type_is_required_and_one_of_three() {
    let t = TestAdmin::start().await;
    for bad in [
        json!({"name": "no type"}),
        json!({"type": "native", "name": "x"}),
        json!({"type": "Machine", "name": "x"}),
        json!({"type": null, "name": "x"}),
        json!({"type": 1, "name": "x"}),
    ] {
        t.api.post("/admin/v1/apps", bad).await.invalid_field("type");
    }
    assert_eq!(t.api.app_count().await, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fields_of_another_type_are_refused_naming_the_field() {
    let t = TestAdmin::start().await;
    let cases = [
        (machine("m"), "redirect_urls", json!(["https://a.example.com/cb"])),
        (machine("m"), "refresh_token_rotation", json!(true)),
        (machine("m"), "refresh_token_absolute_expiry_secs", json!(100)),
        (machine("m"), "refresh_token_inactivity_expiry_secs", json!(100)),
        (machine("m"), "logo_url", json!("https://cdn.example.com/l.png")),
        (machine("m"), "app_description_url", json!("https://example.com/")),
        (machine("m"), "developer_email", json!("a@example.com")),
        (web("w"), "developer_name", json!("Ada")),
        (web("w"), "developer_email", json!("a@example.com")),
        (web("w"), "privacy_policy_url", json!("https://example.com/privacy")),
        (web("w"), "public_keys", json!([])),
        (spa("s"), "app_description_url", json!("https://example.com/")),
        (spa("s"), "secrets", json!([])),
        (spa("s"), "public_keys", json!([])),
    ];
    for (base, field, value) in cases {
        let body = with(base, json!({ field: value }));
        t.api.post("/admin/v1/apps", body).await.invalid_field(field);
    }
    assert_eq!(t.api.app_count().await, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unknown_field_is_refused_naming_it() {
    let t = TestAdmin::start().await;
    t.api.post("/admin/v1/apps", with(machine("m"), json!({"colour": "blue"}))).await.invalid_field("colour");
    t.api
        .post("/admin/v1/apps", with(web("w"), json!({"redirect_uri": "https://a.example.com/"})))
        .await
        .invalid_field("redirect_uri");
    t.api
        .post("/admin/v1/apps", with(spa("s"), json!({"client_secret": "tgs_mine"})))
        .await
        .invalid_field("client_secret");
    t.api
        .post("/admin/v1/apps", with(machine("m"), json!({"client_id": "my-chosen-client-id-000000"})))
        .await
        .invalid_field("client_id");
    assert_eq!(t.api.app_count().await, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redirect_urls_must_be_https_or_loopback_http_without_fragment_or_userinfo() {
    let t = TestAdmin::start().await;
    let good = [
        "https://app.example.com/callback",
        "https://app.example.com:8443/cb?x=1",
        "http://127.0.0.1/cb",
        "http://127.0.0.1:8080/cb",
        "http://[::1]:3000/cb",
        "http://localhost/cb",
        "http://localhost:5173/auth/callback",
    ];
    for u in good {
        for kind in ["web", "spa"] {
            let app = t.api.create_app(json!({"type": kind, "name": "ok", "redirect_urls": [u]})).await;
            assert_eq!(app["redirect_urls"], json!([u]), "{app}");
            t.api.delete(&format!("/admin/v1/apps/{}", id(&app))).await.expect(204);
        }
    }
    let bad = [
        "http://app.example.com/callback",
        "http://10.0.0.1/cb",
        "/callback",
        "app.example.com/callback",
        "https://app.example.com/cb#fragment",
        "https://app.example.com/cb#",
        "https://user:pass@app.example.com/cb",
        "https://user@app.example.com/cb",
        "ftp://app.example.com/cb",
        "javascript:alert(1)",
        "not a url",
        "",
    ];
    for u in bad {
        for kind in ["web", "spa"] {
            let r = t.api.post("/admin/v1/apps", json!({"type": kind, "name": "bad", "redirect_urls": [u]})).await;
            r.invalid_field("redirect_urls");
            // One bad URL among good ones is refused too.
            let r = t
                .api
                .post(
                    "/admin/v1/apps",
                    json!({"type": kind, "name": "bad", "redirect_urls": ["https://ok.example.com/cb", u]}),
                )
                .await;
            r.invalid_field("redirect_urls");
        }
    }
    for not_a_list in [json!("https://app.example.com/cb"), json!([1]), json!({"u": "https://a.example.com/"})] {
        let r = t.api.post("/admin/v1/apps", json!({"type": "web", "name": "bad", "redirect_urls": not_a_list})).await;
        r.invalid_field("redirect_urls");
    }
    assert_eq!(t.api.app_count().await, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_single_page_app_must_rotate_refresh_tokens_and_a_web_app_may_not() {
    let t = TestAdmin::start().await;
    t.api
        .post("/admin/v1/apps", with(spa("s"), json!({"refresh_token_rotation": false})))
        .await
        .invalid_field("refresh_token_rotation");
    assert_eq!(t.api.app_count().await, 0);
    let w = t.api.create_app(with(web("w"), json!({"refresh_token_rotation": false}))).await;
    assert_eq!(w["refresh_token_rotation"], false);
    let s = t.api.create_app(spa("s")).await;
    let r = t.api.patch(&format!("/admin/v1/apps/{}", id(&s)), json!({"refresh_token_rotation": false})).await;
    r.invalid_field("refresh_token_rotation");
    assert_eq!(t.api.app(&id(&s)).await["refresh_token_rotation"], true);
    t.api
        .post("/admin/v1/apps", with(web("w"), json!({"refresh_token_rotation": "no"})))
        .await
        .invalid_field("refresh_token_rotation");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refresh_token_expiries_are_positive_integers_and_absolute_may_be_null() {
    let t = TestAdmin::start().await;
    for field in ["refresh_token_absolute_expiry_secs", "refresh_token_inactivity_expiry_secs"] {
        for bad in [json!(0), json!(-1), json!(1.5), json!("3600"), json!(true)] {
            for base in [web("w"), spa("s")] {
                t.api.post("/admin/v1/apps", with(base, json!({ field: bad.clone() }))).await.invalid_field(field);
            }
        }
    }
    assert_eq!(t.api.app_count().await, 0);
    let w = t
        .api
        .create_app(with(
            web("w"),
            json!({"refresh_token_absolute_expiry_secs": 1, "refresh_token_inactivity_expiry_secs": 1}),
        ))
        .await;
    assert_eq!(w["refresh_token_absolute_expiry_secs"], 1);
    assert_eq!(w["refresh_token_inactivity_expiry_secs"], 1);
    let r =
        t.api.patch(&format!("/admin/v1/apps/{}", id(&w)), json!({"refresh_token_absolute_expiry_secs": null})).await;
    assert_eq!(r.expect(200).json()["refresh_token_absolute_expiry_secs"], Value::Null);
    assert_eq!(t.api.app(&id(&w)).await["refresh_token_absolute_expiry_secs"], Value::Null);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn urls_and_the_developer_email_are_checked() {
    let t = TestAdmin::start().await;
    let bad_urls = [json!("ftp://cdn.example.com/logo.png"), json!("/logo.png"), json!("not a url"), json!(3)];
    for bad in &bad_urls {
        for (base, field) in [
            (web("w"), "logo_url"),
            (spa("s"), "logo_url"),
            (web("w"), "app_description_url"),
            (spa("s"), "privacy_policy_url"),
        ] {
            t.api.post("/admin/v1/apps", with(base, json!({ field: bad.clone() }))).await.invalid_field(field);
        }
    }
    for bad in ["not-an-email", "a@", "@example.com", "a b@example.com"] {
        t.api
            .post("/admin/v1/apps", with(spa("s"), json!({"developer_email": bad})))
            .await
            .invalid_field("developer_email");
    }
    assert_eq!(t.api.app_count().await, 0);
    // Plain http is fine for these (only redirect URLs need https).
    let ok = t
        .api
        .create_app(with(
            spa("s"),
            json!({"logo_url": "http://cdn.example.com/l.png", "privacy_policy_url": "http://example.com/p",
                   "developer_email": "dev.team+oauth@example.co.uk"}),
        ))
        .await;
    assert_eq!(ok["developer_email"], "dev.team+oauth@example.co.uk");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_body_that_is_not_a_json_object_is_an_invalid_request() {
    let t = TestAdmin::start().await;
    let app = t.api.create_app(web("w")).await;
    let path = format!("/admin/v1/apps/{}", id(&app));
    for (method, p) in [(Method::POST, "/admin/v1/apps".to_string()), (Method::PATCH, path.clone())] {
        for body in ["{not json", "[]", "[{\"type\":\"machine\",\"name\":\"x\"}]", "\"machine\"", "42", "null"] {
            let r = t.api.raw(method.clone(), &p, "application/json", body).await;
            r.refused(400, "invalid_request");
        }
    }
    assert_eq!(t.api.app_count().await, 1);
    let mut after = t.api.app(&id(&app)).await;
    let mut before = app.clone();
    before.as_object_mut().unwrap().remove("client_secret");
    after.as_object_mut().unwrap().remove("updated_at");
    before.as_object_mut().unwrap().remove("updated_at");
    assert_eq!(after, before);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_empty_body_on_create_is_an_invalid_request() {
    let t = TestAdmin::start().await;
    // No body at all is not a JSON object: malformed, not a missing field.
    t.api.raw(Method::POST, "/admin/v1/apps", "application/json", "").await.refused(400, "invalid_request");
    t.api.call(Method::POST, "/admin/v1/apps", Body::None).await.refused(400, "invalid_request");
    assert_eq!(t.api.app_count().await, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn patch_changes_only_the_fields_sent() {
    let t = TestAdmin::start().await;
    let app = t
        .api
        .create_app(with(web("Before"), json!({"description": "kept", "refresh_token_inactivity_expiry_secs": 600})))
        .await;
    let path = format!("/admin/v1/apps/{}", id(&app));
    let r = t.api.patch(&path, json!({"name": "After"})).await.expect(200);
    assert_eq!(r.json()["name"], "After");
    assert_eq!(r.json()["description"], "kept");
    assert_eq!(r.json()["refresh_token_inactivity_expiry_secs"], 600);
    assert_eq!(r.json()["redirect_urls"], app["redirect_urls"]);
    assert_eq!(r.json()["client_id"], app["client_id"]);
    assert_eq!(r.json()["created_at"], app["created_at"]);
    assert!(r.json()["updated_at"].as_i64().unwrap() >= app["updated_at"].as_i64().unwrap(), "\n{r}");
    assert!(r.json().get("client_secret").is_none(), "\n{r}");
    assert_eq!(r.json(), t.api.app(&id(&app)).await, "PATCH answer differs from GET");

    let urls = json!(["https://new.example.com/cb", "http://localhost:8080/cb"]);
    let r = t
        .api
        .patch(
            &path,
            json!({"redirect_urls": urls, "description": "", "app_description_url": "https://docs.example.com/"}),
        )
        .await
        .expect(200);
    assert_eq!(r.json()["redirect_urls"], urls);
    assert_eq!(r.json()["description"], "");
    assert_eq!(r.json()["name"], "After");
    assert_eq!(r.json()["app_description_url"], "https://docs.example.com/");

    // An empty patch changes nothing.
    let before = t.api.app(&id(&app)).await;
    let r = t.api.patch(&path, json!({})).await.expect(200);
    assert_eq!(r.json()["name"], before["name"]);
    assert_eq!(r.json()["redirect_urls"], before["redirect_urls"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn patch_cannot_change_the_type_or_the_client_id() {
    let t = TestAdmin::start().await;
    let app = t.api.create_app(web("w")).await;
    let cid = id(&app);
    let path = format!("/admin/v1/apps/{cid}");
    t.api.patch(&path, json!({"type": "spa"})).await.invalid_field("type");
    t.api.patch(&path, json!({"type": "machine", "name": "x"})).await.invalid_field("type");
    t.api.patch(&path, json!({"client_id": "another-client-id-0000000000"})).await.invalid_field("client_id");
    let now = t.api.app(&cid).await;
    assert_eq!(now["type"], "web");
    assert_eq!(now["name"], "w");
    t.api.get("/admin/v1/apps/another-client-id-0000000000").await.refused(404, "not_found");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_patch_changes_nothing() {
    let t = TestAdmin::start().await;
    let w = t.api.create_app(web("web app")).await;
    let m = t.api.create_app(machine("machine app")).await;
    let s = t.api.create_app(spa("spa app")).await;
    let before = [t.api.app(&id(&w)).await, t.api.app(&id(&m)).await, t.api.app(&id(&s)).await];
    let cases = [
        (&w, json!({"name": "renamed", "redirect_urls": ["http://evil.example.com/cb"]}), "redirect_urls"),
        (&w, json!({"name": ""}), "name"),
        (&w, json!({"description": "d", "developer_email": "a@example.com"}), "developer_email"),
        (
            &w,
            json!({"name": "renamed", "refresh_token_inactivity_expiry_secs": 0}),
            "refresh_token_inactivity_expiry_secs",
        ),
        (&m, json!({"name": "renamed", "redirect_urls": ["https://a.example.com/cb"]}), "redirect_urls"),
        (&m, json!({"name": "renamed", "logo_url": "https://a.example.com/l.png"}), "logo_url"),
        (&m, json!({"name": "renamed", "colour": "blue"}), "colour"),
        (&s, json!({"name": "renamed", "refresh_token_rotation": false}), "refresh_token_rotation"),
        (&s, json!({"name": "renamed", "developer_email": "nope"}), "developer_email"),
        (&s, json!({"name": "renamed", "privacy_policy_url": "javascript:alert(1)"}), "privacy_policy_url"),
        (&s, json!({"name": "renamed", "app_description_url": "https://a.example.com/"}), "app_description_url"),
    ];
    for (app, body, field) in cases {
        t.api.patch(&format!("/admin/v1/apps/{}", id(app)), body).await.invalid_field(field);
    }
    let after = [t.api.app(&id(&w)).await, t.api.app(&id(&m)).await, t.api.app(&id(&s)).await];
    assert_eq!(after, before);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn delete_removes_the_app_for_good() {
    let t = TestAdmin::start().await;
    let keep = t.api.create_app(spa("keep")).await;
    for body in [machine("m"), web("w"), spa("s")] {
        let app = t.api.create_app(body).await;
        let path = format!("/admin/v1/apps/{}", id(&app));
        let r = t.api.delete(&path).await.expect(204);
        assert!(r.bytes.is_empty(), "204 with a body:\n{r}");
        t.api.get(&path).await.refused(404, "not_found");
        t.api.delete(&path).await.refused(404, "not_found");
        t.api.patch(&path, json!({"name": "x"})).await.refused(404, "not_found");
    }
    let list = t.api.apps().await;
    assert_eq!(list["count"], 1);
    assert_eq!(list["apps"][0]["client_id"], keep["client_id"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unknown_app_is_not_found_everywhere() {
    let t = TestAdmin::start().await;
    let base = "/admin/v1/apps/AAAAAAAAAAAAAAAAAAAAAAAA";
    t.api.get(base).await.refused(404, "not_found");
    t.api.patch(base, json!({"name": "x"})).await.refused(404, "not_found");
    t.api.delete(base).await.refused(404, "not_found");
    t.api.post(&format!("{base}/secrets"), json!({})).await.refused(404, "not_found");
    t.api.delete(&format!("{base}/secrets/whatever")).await.refused(404, "not_found");
    let key = TestKey::generate(crate::support::Alg::ES256);
    t.api.post(&format!("{base}/keys"), json!({"public_key": key.public_pem})).await.refused(404, "not_found");
    t.api.post(&format!("{base}/keys/generate"), json!({})).await.refused(404, "not_found");
    t.api.delete(&format!("{base}/keys/whatever")).await.refused(404, "not_found");
    t.api.raw(Method::PUT, &format!("{base}/logo"), "image/png", PNG.to_vec()).await.refused(404, "not_found");
    t.api.get(&format!("{base}/logo")).await.refused(404, "not_found");
    assert_eq!(t.api.app_count().await, 0);
}
