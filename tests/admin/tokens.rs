//! Admin API tokens expire (90 days unless set at creation), are listed without the token itself, and are revoked
//! one by one, through the admin API and the `tokengate users` command.

use serde_json::{json, Value};

use crate::support::admin::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_admin_token_expires_and_is_refused_from_then_on() {
    let t = TestAdmin::start().await;
    let r = t.api.post("/admin/v1/tokens", json!({"note": "ci", "expires_in_days": 1})).await.expect(201);
    let token = r.json()["token"].as_str().expect("token").to_string();
    assert!(token.starts_with("tga_"), "\n{r}");
    assert_eq!(r.json()["expires_at"].as_i64().unwrap() - r.json()["created_at"].as_i64().unwrap(), 86_400, "\n{r}");
    let ci = t.as_(Auth::bearer(&token));
    ci.get("/admin/v1/apps").await.expect(200);
    let clock = &t.server.as_ref().unwrap().clock;
    clock.advance(86_400 - 1);
    ci.get("/admin/v1/apps").await.expect(200);
    clock.advance(1);
    ci.get("/admin/v1/apps").await.refused(401, "unauthorized");
    // The CLI's token (90 days by default) still works a day later.
    t.api.get("/admin/v1/apps").await.expect(200);
    // The lifetime is bounded.
    for days in [json!(0), json!(731), json!("soon")] {
        t.api.post("/admin/v1/tokens", json!({"expires_in_days": days})).await.invalid_field("expires_in_days");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn admin_tokens_are_listed_without_the_token_and_revoked_one_by_one() {
    let t = TestAdmin::start().await;
    let cli_token = t.env.cli_ok(&["users", "token", "root", "--note", "deploy", "--expires-in-days", "7"], None);
    let cli_token = cli_token.trim().to_string();
    let r = t.api.post("/admin/v1/tokens", json!({"note": "script"})).await.expect(201);
    let api_token = r.json()["token"].as_str().unwrap().to_string();
    let api_id = r.json()["id"].as_str().unwrap().to_string();
    assert_eq!(r.json()["expires_at"].as_i64().unwrap() - r.json()["created_at"].as_i64().unwrap(), 90 * 86_400);

    let listed = t.api.get("/admin/v1/tokens").await.expect(200);
    let tokens = listed.json()["tokens"].as_array().unwrap().clone();
    assert_eq!(tokens.len(), 3, "\n{listed}");
    for tok in &tokens {
        let mut keys: Vec<&str> = tok.as_object().unwrap().keys().map(|k| k.as_str()).collect();
        keys.sort();
        assert_eq!(keys, ["created_at", "expires_at", "id", "last_used_at", "note", "username"], "{tok}");
    }
    for secret in [&t.token, &cli_token, &api_token] {
        assert!(!listed.text().contains(secret.as_str()), "a token is in the list:\n{listed}");
    }
    let deploy = tokens.iter().find(|x| x["note"] == "deploy").expect("the CLI's token");
    assert_eq!(deploy["expires_at"].as_i64().unwrap() - deploy["created_at"].as_i64().unwrap(), 7 * 86_400);
    // The token in use shows when it was last used.
    let root_token = tokens.iter().find(|x| x["note"] == "").expect("root's first token");
    assert!(root_token["last_used_at"].is_i64(), "{root_token}");

    // Revoked through the API: that one token stops, the others go on.
    t.api.delete(&format!("/admin/v1/tokens/{api_id}")).await.expect(204);
    t.as_(Auth::bearer(&api_token)).get("/admin/v1/apps").await.refused(401, "unauthorized");
    t.api.delete(&format!("/admin/v1/tokens/{api_id}")).await.refused(404, "not_found");
    t.as_(Auth::bearer(&cli_token)).get("/admin/v1/apps").await.expect(200);

    // Listed and revoked through the CLI.
    let out: Value = serde_json::from_str(&t.env.cli_ok(&["users", "tokens", "root"], None)).unwrap();
    assert_eq!(out.as_array().unwrap().len(), 2, "{out}");
    assert!(!out.to_string().contains(&cli_token));
    let deploy_id =
        out.as_array().unwrap().iter().find(|x| x["note"] == "deploy").unwrap()["id"].as_str().unwrap().to_string();
    t.env.cli_ok(&["users", "revoke-token", &deploy_id], None);
    t.as_(Auth::bearer(&cli_token)).get("/admin/v1/apps").await.refused(401, "unauthorized");
    t.api.get("/admin/v1/apps").await.expect(200);
    assert!(!t.env.cli(&["users", "revoke-token", &deploy_id], None).status.success());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_disabled_admins_tokens_stay_dead_after_a_re_enable() {
    let t = TestAdmin::start_with(|env| {
        env.add_user("carol", "carol-password", true);
    })
    .await;
    let token = t.env.token("carol");
    t.as_(Auth::bearer(&token)).get("/admin/v1/apps").await.expect(200);
    t.api.patch("/admin/v1/users/carol", json!({"disabled": true})).await.expect(200);
    t.api.patch("/admin/v1/users/carol", json!({"disabled": false})).await.expect(200);
    t.as_(Auth::bearer(&token)).get("/admin/v1/apps").await.refused(401, "unauthorized");
    let listed = t.api.get("/admin/v1/tokens?username=carol").await.expect(200);
    assert_eq!(listed.json()["tokens"], json!([]), "\n{listed}");
    // Her password works again; a new token can be made.
    t.as_(Auth::basic("carol", "carol-password")).get("/admin/v1/apps").await.expect(200);
}
