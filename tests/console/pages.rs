//! The console's pages over plain HTTP: security headers and assets, every form refused without the session's CSRF
//! token, apps created, changed and deleted with the API's own refusal messages, a secret shown once that works at
//! the token endpoint, keys, the logo, the 10-app limit, and users.

use serde_json::{json, Value};

use super::{start, Visitor};
use crate::support::admin::{TestKey, PNG};
use crate::support::authz::{client, TestAuthz};
use crate::support::Alg;

const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data: blob:; \
                   form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

/// The client id of the app page a redirect or page shows.
fn client_id_of(page: &super::Reply) -> String {
    page.value_of("client-id")
}

/// Whether `client_id` with `secret` gets a client-credentials token.
async fn token_works(az: &TestAuthz, client_id: &str, secret: &str) -> bool {
    let r = client()
        .post(format!("{}/oauth2/token", az.url))
        .basic_auth(client_id, Some(secret))
        .form(&[("grant_type", "client_credentials"), ("scope", "api:read")])
        .send()
        .await
        .unwrap();
    r.status() == 200
}

#[tokio::test]
async fn pages_carry_the_security_headers_and_assets_are_served_from_the_binary() {
    let az = start().await;
    let v = Visitor::new(&az);
    assert_eq!(v.get("/").await.redirect(), "/console/");
    assert_eq!(v.get("/console/").await.redirect(), "/console/apps");
    let (v, list) = Visitor::signed_in(&az).await;
    for page in [v.get("/console/sign-in").await, list, v.get("/console/users").await, v.get("/console/apps/new").await]
    {
        if page.status == 303 {
            continue;
        }
        assert_eq!(page.header("content-security-policy"), Some(CSP), "{page}");
        assert_eq!(page.header("x-frame-options"), Some("DENY"));
        assert_eq!(page.header("cache-control"), Some("no-store"));
        assert_eq!(page.header("x-content-type-options"), Some("nosniff"));
        assert_eq!(page.header("referrer-policy"), Some("no-referrer"));
        assert_eq!(page.header("content-type"), Some("text/html; charset=utf-8"));
        assert!(!page.body.contains("<script>") && !page.body.contains(" style="), "no inline script or style");
        assert!(!page.body.contains("http://") && !page.body.contains("https://"), "nothing from elsewhere: {page}");
        assert!(page.body.contains("<meta name=\"viewport\""));
    }
    let css = v.get("/console/assets/console.css").await.expect(200);
    assert_eq!(css.header("content-type"), Some("text/css; charset=utf-8"));
    assert!(css.header("cache-control").unwrap_or_default().contains("max-age=86400"));
    let js = v.get("/console/assets/console.js").await.expect(200);
    assert_eq!(js.header("content-type"), Some("text/javascript; charset=utf-8"));
    assert!(js.body.contains("navigator.clipboard"));
    v.get("/console/assets/other.js").await.expect(404);
    v.get("/console/nothing-here").await.expect(404);
    // The admin API is untouched next to it.
    let api = client().get(format!("{}/admin/v1/apps", az.admin_url)).send().await.unwrap();
    assert_eq!(api.status(), 401);
}

#[tokio::test]
async fn every_form_is_refused_without_the_session_csrf_token() {
    let az = start().await;
    let (v, list) = Visitor::signed_in(&az).await;
    let app = az.web_app("Shop").await;
    let id = app.client_id.as_str();
    let posts: Vec<(String, Vec<(&str, &str)>)> = vec![
        ("/console/apps".into(), vec![("type", "machine"), ("name", "Sneaky")]),
        (format!("/console/apps/{id}"), vec![("name", "Renamed")]),
        (format!("/console/apps/{id}/secrets"), vec![]),
        (format!("/console/apps/{id}/delete"), vec![]),
        ("/console/users".into(), vec![("username", "mallory"), ("password", "mallory-password"), ("is_admin", "on")]),
        ("/console/users/alice".into(), vec![("action", "make-admin")]),
        ("/console/sign-out".into(), vec![]),
    ];
    for (path, fields) in &posts {
        for token in [None, Some("forged-token"), Some("")] {
            let mut form = fields.clone();
            if let Some(t) = token {
                form.push(("csrf", t));
            }
            let r = v.post(path, &form).await.expect(403);
            assert!(r.text().contains("This form did not come from your console session"), "{r}");
        }
    }
    // Multipart forms too.
    let r = v.post_multipart(&format!("/console/apps/{id}/logo"), &[], &[("logo", "l.png", "image/png", PNG)]).await;
    r.expect(403);
    // Nothing changed.
    assert_eq!(az.registry.apps().await.unwrap().len(), 1);
    assert_eq!(az.registry.app(id).await.unwrap().to_json()["name"], "Shop");
    assert_eq!(az.registry.app(id).await.unwrap().to_json()["secrets"].as_array().unwrap().len(), 1);
    assert!(az.registry.users().await.unwrap().iter().all(|u| u.username != "mallory"));
    assert!(!az.registry.users().await.unwrap().iter().any(|u| u.username == "alice" && u.is_admin));
    v.get("/console/apps").await.expect(200);
    // The session's own token is accepted.
    v.post(&format!("/console/apps/{id}"), &[("csrf", &list.csrf()), ("name", "Renamed")]).await.redirect();
}

#[tokio::test]
async fn a_machine_app_is_created_and_its_secret_shown_once_works() {
    let az = start().await;
    let (v, list) = Visitor::signed_in(&az).await;
    assert!(list.text().contains("0 of 10 places used"), "{list}");
    let created = v
        .post(
            "/console/apps",
            &[
                ("csrf", &list.csrf()),
                ("once", &list.value_of("once")),
                ("type", "machine"),
                ("name", "Nightly export"),
            ],
        )
        .await;
    let created = created.expect(201);
    let secret = created.value_of("new-secret");
    assert!(secret.starts_with("tgs_"), "{created}");
    assert!(created.text().contains("it cannot be seen again"));
    let id = client_id_of(&created);
    assert!(token_works(&az, &id, &secret).await, "the secret shown gets a token");

    // Sending the same form again (a reload of that answer) makes nothing: one app, its one secret.
    let once = list.value_of("once");
    let again =
        [("csrf", list.csrf()), ("once", once.clone()), ("type", "machine".into()), ("name", "Nightly export".into())];
    let again: Vec<(&str, &str)> = again.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let resent = v.post("/console/apps", &again).await.expect(409);
    assert!(resent.text().contains("This form was already sent") && !resent.body.contains("tgs_"), "{resent}");
    assert_eq!(az.registry.apps().await.unwrap().len(), 1);

    // Shown once: the app's page never shows it again.
    let page = v.get(&format!("/console/apps/{id}")).await.expect(200);
    assert!(!page.body.contains(&secret) && !page.body.contains("new-secret"));
    assert!(page.body.contains("Machine to Machine Application"));

    // Add a secret with a note: shown once; delete the first one: it stops working.
    let added = v.post(&format!("/console/apps/{id}/secrets"), &[("csrf", &page.csrf()), ("note", "CI runner")]).await;
    let added = added.expect(201);
    let second = added.value_of("new-secret");
    let once = page.value_of("once");
    let resend = [("csrf", page.csrf()), ("once", once.clone()), ("note", "x".into())];
    let resend: Vec<(&str, &str)> = resend.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let path = format!("/console/apps/{id}/secrets");
    let first_send = v.post(&path, &resend).await.expect(201);
    assert!(first_send.body.contains("new-secret"));
    v.post(&path, &resend).await.expect(409);
    let x = az.registry.app(&id).await.unwrap().to_json()["secrets"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["note"] == "x")
        .unwrap()["id"]
        .as_str()
        .unwrap()
        .to_string();
    az.registry.delete_secret(&id, &x).await.unwrap();
    assert_ne!(second, secret);
    assert!(added.body.contains("CI runner"));
    assert!(token_works(&az, &id, &second).await);
    let view = az.registry.app(&id).await.unwrap().to_json();
    let first_id = view["secrets"].as_array().unwrap().iter().find(|s| s["note"] == "").unwrap()["id"].clone();
    let first_id = first_id.as_str().unwrap();
    let deleted = v.post(&format!("/console/apps/{id}/secrets/{first_id}/delete"), &[("csrf", &page.csrf())]).await;
    assert_eq!(deleted.redirect(), format!("/console/apps/{id}?done=secret-deleted"));
    assert!(!token_works(&az, &id, &secret).await, "a deleted secret is refused");
    assert!(token_works(&az, &id, &second).await);
    let page = v.get(&deleted.redirect()).await.expect(200);
    assert!(page.body.contains("The client secret is deleted."));
    assert!(page.body.contains("Last used") && !page.body.contains(first_id));
}

#[tokio::test]
async fn keys_are_generated_once_pasted_and_refused_with_the_api_message() {
    let az = start().await;
    let (v, list) = Visitor::signed_in(&az).await;
    let app = az.machine_app("Daemon").await;
    let id = app.client_id.as_str();
    let csrf = list.csrf();

    let generated = v.post(&format!("/console/apps/{id}/keys/generate"), &[("csrf", &csrf), ("alg", "ES256")]).await;
    let generated = generated.expect(201);
    let pem = generated.text();
    assert!(pem.contains("-----BEGIN PRIVATE KEY-----"), "{generated}");
    assert!(generated.body.contains("download=\"tokengate-"));
    let keys = az.registry.app(id).await.unwrap().to_json()["public_keys"].as_array().unwrap().clone();
    assert_eq!(keys.len(), 1);
    assert_eq!(keys[0]["alg"], "ES256");
    let page = v.get(&format!("/console/apps/{id}")).await.expect(200);
    assert!(!page.body.contains("BEGIN PRIVATE KEY"), "the private key is shown once");
    assert!(page.body.contains(keys[0]["id"].as_str().unwrap()));

    // A pasted PEM public key, and an uploaded one.
    let pem_public = TestKey::generate(Alg::ES256).public_pem;
    let added = v
        .post_multipart(
            &format!("/console/apps/{id}/keys"),
            &[("csrf", &csrf), ("public_key", &pem_public), ("note", "pasted")],
            &[],
        )
        .await;
    assert_eq!(added.redirect(), format!("/console/apps/{id}?done=key-added"));
    let uploaded = v
        .post_multipart(
            &format!("/console/apps/{id}/keys"),
            &[("csrf", &csrf), ("public_key", "")],
            &[("public_key_file", "key.pem", "application/x-pem-file", pem_public.as_bytes())],
        )
        .await;
    assert_eq!(uploaded.redirect(), format!("/console/apps/{id}?done=key-added"));
    assert_eq!(az.registry.app(id).await.unwrap().to_json()["public_keys"].as_array().unwrap().len(), 3);

    // Garbage: the API's message, next to the field, and the pasted text kept.
    let api_message = az.registry.add_key(id, &json!({"public_key": "not a key"})).await.unwrap_err().to_string();
    let refused = v
        .post_multipart(&format!("/console/apps/{id}/keys"), &[("csrf", &csrf), ("public_key", "not a key")], &[])
        .await;
    let refused = refused.expect(422);
    assert!(refused.text().contains(&api_message), "expected {api_message:?}:\n{refused}");
    assert!(refused.body.contains("id=\"public_key-error\""));

    // Delete a key.
    let kid = keys[0]["id"].as_str().unwrap();
    let deleted = v.post(&format!("/console/apps/{id}/keys/{kid}/delete"), &[("csrf", &csrf)]).await;
    assert_eq!(deleted.redirect(), format!("/console/apps/{id}?done=key-deleted"));
    assert_eq!(az.registry.app(id).await.unwrap().to_json()["public_keys"].as_array().unwrap().len(), 2);
}

#[tokio::test]
async fn settings_are_saved_and_refused_with_the_api_messages_next_to_the_field() {
    let az = start().await;
    let (v, list) = Visitor::signed_in(&az).await;
    let csrf = list.csrf();
    let created = v.post("/console/apps", &[("csrf", &csrf), ("type", "spa"), ("name", "Dashboard")]).await;
    let location = created.redirect();
    assert!(location.ends_with("?done=created"), "a single-page app has no secret to show: {location}");
    let page = v.get(&location).await.expect(200);
    let id = client_id_of(&page);
    assert!(page.body.contains("The app is created.") && page.body.contains("PKCE"));
    assert!(!page.body.contains("Client secrets"), "no secrets for a public client");

    let form = |redirects: &'static str, email: &'static str| {
        vec![
            ("name", "Dashboard 2"),
            ("description", "Our dashboard"),
            ("redirect_urls", redirects),
            ("refresh_token_absolute_expiry_secs", ""),
            ("refresh_token_inactivity_expiry_secs", "3600"),
            ("logo_url", ""),
            ("developer_name", "Ops"),
            ("developer_email", email),
            ("privacy_policy_url", ""),
        ]
    };
    let mut ok = form("https://dash.example/cb\r\nhttp://127.0.0.1:8000/cb", "ops@example.com");
    ok.push(("csrf", &csrf));
    let saved = v.post(&format!("/console/apps/{id}"), &ok).await;
    assert_eq!(saved.redirect(), format!("/console/apps/{id}?done=saved"));
    let view = az.registry.app(&id).await.unwrap().to_json();
    assert_eq!(view["name"], "Dashboard 2");
    assert_eq!(view["redirect_urls"], json!(["https://dash.example/cb", "http://127.0.0.1:8000/cb"]));
    assert_eq!(view["refresh_token_inactivity_expiry_secs"], 3600);
    assert_eq!(view["refresh_token_absolute_expiry_secs"], Value::Null);
    assert_eq!(view["developer_email"], "ops@example.com");

    // Each bad field: the API's own message (as the admin API answers it), next to that field.
    for (field, input, bad) in [
        ("redirect_urls", json!({"redirect_urls": ["http://evil.example/cb"]}), form("http://evil.example/cb", "")),
        ("developer_email", json!({"developer_email": "not-an-email"}), form("", "not-an-email")),
    ] {
        let api = client()
            .patch(format!("{}/admin/v1/apps/{id}", az.admin_url))
            .basic_auth(super::ROOT, Some(super::ROOT_PASSWORD))
            .json(&input)
            .send()
            .await
            .unwrap();
        assert_eq!(api.status(), 422);
        let api: Value = api.json().await.unwrap();
        let message = api["error_description"].as_str().unwrap().to_string();
        let mut bad = bad;
        bad.push(("csrf", &csrf));
        let refused = v.post(&format!("/console/apps/{id}"), &bad).await.expect(422);
        let marker = format!("<p class=\"field-error\" id=\"{field}-error\">");
        let at = refused.body.find(&marker).unwrap_or_else(|| panic!("no error at {field}:\n{refused}"));
        let shown = super::unescape(&refused.body[at + marker.len()..][..message.len() + 40]);
        assert!(shown.starts_with(&message), "{field}: expected {message:?}, shown {shown:?}");
        assert!(refused.body.contains(&format!("id=\"{field}\"")) && refused.body.contains("aria-invalid=\"true\""));
        assert!(refused.text().contains("Our dashboard"), "what was typed is kept");
    }
    let non_number = [("csrf", csrf.as_str()), ("name", "D"), ("refresh_token_inactivity_expiry_secs", "soon")];
    let refused = v.post(&format!("/console/apps/{id}"), &non_number).await.expect(422);
    assert!(refused.text().contains("`refresh_token_inactivity_expiry_secs`: must be a number of seconds, or null"));
    let empty_name = v.post(&format!("/console/apps/{id}"), &[("csrf", csrf.as_str()), ("name", " ")]).await;
    assert!(empty_name.expect(422).text().contains("`name`: must not be empty"));
    assert_eq!(az.registry.app(&id).await.unwrap().to_json()["name"], "Dashboard 2", "nothing saved");
}

#[tokio::test]
async fn logos_are_uploaded_previewed_and_served_behind_the_session() {
    let az = start().await;
    let (v, list) = Visitor::signed_in(&az).await;
    let app = az.web_app("Shop").await;
    let id = app.client_id.as_str();
    let png = PNG.to_vec();
    let up = v
        .post_multipart(
            &format!("/console/apps/{id}/logo"),
            &[("csrf", &list.csrf())],
            &[("logo", "l.png", "image/png", &png)],
        )
        .await;
    assert_eq!(up.redirect(), format!("/console/apps/{id}?done=logo"));
    let page = v.get(&format!("/console/apps/{id}")).await.expect(200);
    assert!(page.body.contains(&format!("src=\"/console/apps/{id}/logo\"")), "{page}");
    let logo = client()
        .get(format!("{}/console/apps/{id}/logo", az.admin_url))
        .header("cookie", format!("tg_console={}", v.cookie("tg_console").unwrap()))
        .send()
        .await
        .unwrap();
    assert_eq!(logo.status(), 200);
    assert_eq!(logo.headers()["content-type"], "image/png");
    assert_eq!(logo.bytes().await.unwrap().to_vec(), png);
    assert_eq!(Visitor::new(&az).get(&format!("/console/apps/{id}/logo")).await.redirect(), "/console/sign-in");
    // Saving the settings keeps the uploaded logo.
    let form = [
        ("csrf", list.csrf()),
        ("name", "Shop".into()),
        ("redirect_urls", "https://client.example/cb".into()),
        ("logo_url", format!("/oauth2/logo/{id}")),
        ("refresh_token_rotation", "on".into()),
    ];
    let form: Vec<(&str, &str)> = form.iter().map(|(k, v)| (*k, v.as_str())).collect();
    v.post(&format!("/console/apps/{id}"), &form).await.redirect();
    assert_eq!(az.registry.app(id).await.unwrap().to_json()["logo_url"], format!("/oauth2/logo/{id}"));
    // Not an image: the API's message.
    let bad = v
        .post_multipart(
            &format!("/console/apps/{id}/logo"),
            &[("csrf", &list.csrf())],
            &[("logo", "l.png", "image/png", b"GIF89a....")],
        )
        .await;
    assert!(bad.expect(422).text().contains("`logo`: the bytes are not a image/png image"));
}

#[tokio::test]
async fn the_tenth_app_disables_create_with_the_reason_and_deleting_frees_a_place() {
    let az = start().await;
    for i in 0..9 {
        az.machine_app(&format!("App {i}")).await;
    }
    let (v, list) = Visitor::signed_in(&az).await;
    assert!(list.text().contains("9 of 10 places used") && list.body.contains("data-opens=\"create-dialog\""));
    let last = v.post("/console/apps", &[("csrf", &list.csrf()), ("type", "web"), ("name", "Tenth")]).await.expect(201);
    let id = client_id_of(&last);
    let full = v.get("/console/apps").await.expect(200);
    assert!(full.text().contains("10 of 10 places used"), "{full}");
    assert!(full
        .body
        .contains("<button type=\"button\" disabled aria-describedby=\"limit-reason\" id=\"create-app\">"));
    let reason = "the limit of 10 apps is reached: delete an app to free a place";
    assert!(full.text().contains(reason));
    let over = v.post("/console/apps", &[("csrf", &list.csrf()), ("type", "web"), ("name", "Eleventh")]).await;
    assert!(over.expect(409).text().contains(reason));
    assert_eq!(az.registry.apps().await.unwrap().len(), 10);

    // Delete with confirmation (the page a link without JavaScript leads to), then a place is free.
    let confirm = v.get(&format!("/console/apps/{id}/delete")).await.expect(200);
    assert!(confirm.text().contains("Delete Tenth?") && confirm.text().contains("cannot be undone"));
    let gone = v.post(&format!("/console/apps/{id}/delete"), &[("csrf", &confirm.csrf())]).await;
    assert_eq!(gone.redirect(), "/console/apps?done=deleted");
    let list = v.get("/console/apps?done=deleted").await.expect(200);
    assert!(list.text().contains("9 of 10 places used") && list.text().contains("The app is deleted."));
    v.get(&format!("/console/apps/{id}")).await.expect(404);
    let name_missing = v.post("/console/apps", &[("csrf", &list.csrf()), ("type", "web"), ("name", "")]).await;
    assert!(name_missing.expect(422).text().contains("`name`: must not be empty"));
    let type_missing = v.post("/console/apps", &[("csrf", &list.csrf()), ("name", "X")]).await;
    assert!(type_missing.expect(422).text().contains("`type`: missing: \"machine\", \"web\" or \"spa\""));
}

#[tokio::test]
async fn users_are_added_disabled_and_made_admins_but_never_yourself() {
    let az = start().await;
    let (v, list) = Visitor::signed_in(&az).await;
    let csrf = list.csrf();
    let added = v
        .post(
            "/console/users",
            &[("csrf", &csrf), ("username", "bob"), ("password", "bob-password"), ("is_admin", "on")],
        )
        .await;
    assert_eq!(added.redirect(), "/console/users?done=user-added");
    let bob = az.registry.users().await.unwrap().into_iter().find(|u| u.username == "bob").unwrap();
    assert!(bob.is_admin && !bob.disabled);
    let short = v.post("/console/users", &[("csrf", &csrf), ("username", "eve"), ("password", "short")]).await;
    let short = short.expect(422);
    assert!(short.text().contains("`password`: at least 8 characters") && short.body.contains("value=\"eve\""));
    let twice = v.post("/console/users", &[("csrf", &csrf), ("username", "bob"), ("password", "bob-password")]).await;
    assert!(twice.expect(409).text().contains("user `bob` already exists"));

    for (action, check) in [
        ("disable", json!({"disabled": true})),
        ("enable", json!({"disabled": false})),
        ("remove-admin", json!({"is_admin": false})),
        ("make-admin", json!({"is_admin": true})),
    ] {
        let r = v.post("/console/users/alice", &[("csrf", &csrf), ("action", action)]).await;
        assert_eq!(r.redirect(), "/console/users?done=user-changed");
        let alice = serde_json::to_value(
            az.registry.users().await.unwrap().into_iter().find(|u| u.username == "alice").unwrap(),
        )
        .unwrap();
        for (k, want) in check.as_object().unwrap() {
            assert_eq!(&alice[k], want, "after {action}");
        }
    }
    let page = v.get("/console/users").await.expect(200);
    assert!(page.body.contains("data-user=\"alice\"") && page.body.contains("root <span class=\"muted\">(you)</span>"));
    for action in ["disable", "remove-admin"] {
        let r = v.post("/console/users/root", &[("csrf", &csrf), ("action", action)]).await.expect(409);
        assert!(r.text().contains("You cannot disable yourself or remove your own administrator role"));
    }
    v.post("/console/users/nobody", &[("csrf", &csrf), ("action", "disable")]).await.expect(404);
    v.get("/console/users").await.expect(200);
}
