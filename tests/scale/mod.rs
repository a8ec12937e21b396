//! Several `tokengate serve` processes on one PostgreSQL database, as behind a load balancer: what one instance
//! writes, the others use; what one revokes, the others refuse within a second while keeping their caches; a key
//! rotated on one is used by all; and an instance killed in the middle of refreshes loses nothing. Needs
//! `TOKENGATE_TEST_POSTGRES` (see `support::postgres`).

use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use crate::support::authz::{authorize_path, basic, client, Browser, REDIRECT};
use crate::support::postgres::TestDatabase;
use crate::support::*;

const ADMIN: (&str, &str) = ("root", "root-password");
const ALICE: (&str, &str) = ("alice", "alice-password");

/// N instances on one fresh database, with a test upstream behind them.
struct Cluster {
    instances: Vec<Served>,
    configs: Vec<PathBuf>,
    upstream: TestUpstream,
    db: TestDatabase,
    _dir: tempfile::TempDir,
}

impl Cluster {
    /// Starts `n` instances with `extra` lines in `[authorization_server]`; `None` when no PostgreSQL is configured.
    async fn start(test: &str, n: usize, extra: &str) -> Option<Cluster> {
        let db = TestDatabase::create(test).await?;
        let upstream = TestUpstream::start().await;
        let dir = tempfile::tempdir().unwrap();
        let id: u64 = rand::random();
        let configs: Vec<PathBuf> = (0..n)
            .map(|i| {
                let path = dir.path().join(format!("instance-{i}.toml"));
                std::fs::write(
                    &path,
                    format!(
                        "[server]\nlisten = \"127.0.0.1:0\"\nthreads = 2\n\
                         pid_file = \"/tmp/tg-scale-{id}-{i}.pid\"\nupgrade_sock = \"/tmp/tg-scale-{id}-{i}.sock\"\n\
                         [metrics]\nlisten = \"127.0.0.1:0\"\n[upstream]\nurl = \"{}\"\n\
                         [authorization_server]\nenabled = true\nissuer = \"https://tg.test\"\ndatabase = \"{}\"\n{extra}\n\
                         [admin]\nlisten = \"127.0.0.1:0\"\n\
                         [[routes]]\npath = \"/api/\"\nscopes = [\"api:read\"]\n",
                        upstream.url(),
                        db.url
                    ),
                )
                .unwrap();
                path
            })
            .collect();
        cli(&configs[0], &["users", "add", ADMIN.0, "--admin", "--password-stdin"], ADMIN.1);
        cli(&configs[0], &["users", "add", ALICE.0, "--password-stdin"], ALICE.1);
        let instances = configs.iter().map(|c| serve(c)).collect();
        Some(Cluster { instances, configs, upstream, db, _dir: dir })
    }

    fn url(&self, i: usize) -> String {
        self.instances[i].url("proxy")
    }

    fn admin(&self, i: usize) -> String {
        self.instances[i].url("admin")
    }

    async fn admin_call(&self, i: usize, method: reqwest::Method, path: &str, body: Option<Value>) -> (u16, Value) {
        let mut req = client().request(method, format!("{}{path}", self.admin(i))).basic_auth(ADMIN.0, Some(ADMIN.1));
        if let Some(b) = body {
            req = req.json(&b);
        }
        let r = req.send().await.unwrap();
        let status = r.status().as_u16();
        (status, r.json().await.unwrap_or(Value::Null))
    }

    /// Creates an app through instance `i`: its client id and secret.
    async fn create_app(&self, i: usize, body: Value) -> (String, Option<String>) {
        let (status, v) = self.admin_call(i, reqwest::Method::POST, "/admin/v1/apps", Some(body)).await;
        assert_eq!(status, 201, "{v}");
        (v["client_id"].as_str().unwrap().into(), v["client_secret"].as_str().map(str::to_string))
    }

    /// `POST /oauth2/token` on instance `i` with Basic client authentication.
    async fn token(&self, i: usize, id: &str, secret: &str, form: &[(&str, &str)]) -> reqwest::Result<(u16, Value)> {
        let r = client()
            .post(format!("{}/oauth2/token", self.url(i)))
            .header("authorization", basic(id, secret))
            .form(form)
            .send()
            .await?;
        let status = r.status().as_u16();
        Ok((status, r.json().await.unwrap_or(Value::Null)))
    }

    /// The status of `GET /api/orders` through instance `i`'s edge with this access token.
    async fn api(&self, i: usize, access_token: &str) -> u16 {
        client()
            .get(format!("{}/api/orders", self.url(i)))
            .bearer_auth(access_token)
            .send()
            .await
            .unwrap()
            .status()
            .as_u16()
    }

    /// How long until every instance but `except` answers `status` for this token; panics after `limit`.
    async fn until_all(&self, except: usize, token: &str, status: u16, since: Instant, limit: Duration) -> Duration {
        loop {
            let mut all = true;
            for i in (0..self.instances.len()).filter(|i| *i != except) {
                all &= self.api(i, token).await == status;
            }
            if all {
                return since.elapsed();
            }
            assert!(since.elapsed() < limit, "not every instance answers {status} after {limit:?}");
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    /// alice's code flow for a web app, one step per instance: authorize on `steps[0]`, sign in on `steps[1]`,
    /// consent (when asked) on `steps[2]`, exchange the code on `steps[3]`. The token response.
    async fn code_flow(&self, steps: [usize; 4], client_id: &str, secret: &str) -> Value {
        let browser = Browser::new(&self.url(steps[0]));
        let state = format!("s{}", rand::random::<u32>());
        let login = browser
            .get(&authorize_path(client_id, REDIRECT, "api:read offline_access", &state, None))
            .await
            .expect(200);
        let signed_in = browser.at(&self.url(steps[1])).login(&login, ALICE.0, ALICE.1).await;
        let back = if signed_in.status == 303 {
            signed_in
        } else {
            browser.at(&self.url(steps[2])).decide(&signed_in.expect(200), "allow").await.expect(303)
        };
        let code = back.redirect_params(REDIRECT)["code"].clone();
        let (status, tokens) = self
            .token(
                steps[3],
                client_id,
                secret,
                &[("grant_type", "authorization_code"), ("code", &code), ("redirect_uri", REDIRECT)],
            )
            .await
            .unwrap();
        assert_eq!(status, 200, "{tokens}");
        tokens
    }
}

fn cli(config: &std::path::Path, args: &[&str], stdin: &str) -> String {
    use std::io::Write;
    let mut child = Command::new(env!("CARGO_BIN_EXE_tokengate"))
        .args(args)
        .args(["--config", config.to_str().unwrap()])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(stdin.as_bytes()).unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "tokengate {args:?}: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn kid(jwt: &str) -> String {
    jsonwebtoken::decode_header(jwt).unwrap().kid.expect("kid")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_app_made_on_one_instance_works_on_the_others_and_its_revoked_token_is_refused_everywhere_within_a_second() {
    let Some(cluster) = Cluster::start("scale::revocation", 3, "").await else { return };
    // Made through the first instance's admin API...
    let (id, secret) = cluster.create_app(0, json!({"type": "machine", "name": "nightly export"})).await;
    let secret = secret.unwrap();
    // ...a token from the second...
    let (status, body) =
        cluster.token(1, &id, &secret, &[("grant_type", "client_credentials"), ("scope", "api:read")]).await.unwrap();
    assert_eq!(status, 200, "{body}");
    let access = body["access_token"].as_str().unwrap().to_string();
    // ...taken by every edge, which now holds it in its cache.
    for i in 0..3 {
        assert_eq!(cluster.api(i, &access).await, 200, "instance {i}");
    }
    assert_eq!(cluster.upstream.seen().len(), 3);
    // Every instance publishes the same keys.
    let mut jwks = Vec::new();
    for i in 0..3 {
        jwks.push(client().get(format!("{}/oauth2/jwks", cluster.url(i))).send().await.unwrap().text().await.unwrap());
    }
    assert!(jwks.windows(2).all(|w| w[0] == w[1]), "{jwks:?}");

    // Revoked through the first instance: the other two refuse it within a second.
    let r = client()
        .post(format!("{}/oauth2/revoke", cluster.url(0)))
        .header("authorization", basic(&id, &secret))
        .form(&[("token", access.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let took = cluster.until_all(0, &access, 401, Instant::now(), Duration::from_secs(1)).await;
    eprintln!("a revocation reached the other instances in {took:?}");
    assert_eq!(cluster.api(0, &access).await, 401);
    // Prometheus sees every instance listening, and all at the same position of the revocation log (the revoking
    // instance too, once it has read its own entry back).
    let started = Instant::now();
    for i in 0..3 {
        loop {
            let metrics = client().get(format!("{}/metrics", cluster.instances[i].url("metrics"))).send().await;
            let text = metrics.unwrap().text().await.unwrap();
            assert!(text.contains("tokengate_change_feed_connected 1"), "instance {i}:\n{text}");
            if text.contains("tokengate_revocation_log_position 1") {
                break;
            }
            assert!(started.elapsed() < Duration::from_secs(2), "instance {i} is behind:\n{text}");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    // The app deleted through the third instance: its new tokens die everywhere too.
    let (_, body) =
        cluster.token(2, &id, &secret, &[("grant_type", "client_credentials"), ("scope", "api:read")]).await.unwrap();
    let second = body["access_token"].as_str().unwrap().to_string();
    assert_eq!(cluster.api(0, &second).await, 200);
    let (status, _) = cluster.admin_call(2, reqwest::Method::DELETE, &format!("/admin/v1/apps/{id}"), None).await;
    assert_eq!(status, 204);
    let took = cluster.until_all(2, &second, 401, Instant::now(), Duration::from_secs(1)).await;
    eprintln!("an app deletion reached the other instances in {took:?}");
    let (status, _) = cluster.token(0, &id, &secret, &[("grant_type", "client_credentials")]).await.unwrap();
    assert_eq!(status, 401, "the deleted app's secret works nowhere");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_user_signs_in_on_one_instance_consents_on_another_and_being_disabled_on_a_third_ends_it_everywhere() {
    let Some(cluster) = Cluster::start("scale::users", 3, "").await else { return };
    let (id, secret) =
        cluster.create_app(1, json!({"type": "web", "name": "reports", "redirect_urls": [REDIRECT]})).await;
    let secret = secret.unwrap();
    // Each step of the flow lands on a different instance, as with a load balancer without sticky sessions.
    let tokens = cluster.code_flow([0, 1, 2, 0], &id, &secret).await;
    let access = tokens["access_token"].as_str().unwrap().to_string();
    let refresh = tokens["refresh_token"].as_str().unwrap().to_string();
    let (status, refreshed) =
        cluster.token(2, &id, &secret, &[("grant_type", "refresh_token"), ("refresh_token", &refresh)]).await.unwrap();
    assert_eq!(status, 200, "{refreshed}");
    for i in 0..3 {
        assert_eq!(cluster.api(i, &access).await, 200);
    }
    // The form of one sign-in request is answered once, even when sent to two instances.
    let browser = Browser::new(&cluster.url(0));
    let page = browser.get(&authorize_path(&id, REDIRECT, "api:read offline_access", "x", None)).await.expect(200);
    let first = browser.at(&cluster.url(1)).login(&page, ALICE.0, ALICE.1).await;
    assert_eq!(first.status, 303, "alice consented to these scopes before: straight back with a code");
    let again = browser.at(&cluster.url(2)).login(&page, ALICE.0, ALICE.1).await;
    assert_eq!(again.status, 400, "{again:?}");

    // alice disabled through the third instance: her tokens are refused by the other two within a second.
    let (status, v) =
        cluster.admin_call(2, reqwest::Method::PATCH, "/admin/v1/users/alice", Some(json!({"disabled": true}))).await;
    assert_eq!(status, 200, "{v}");
    let took = cluster.until_all(2, &access, 401, Instant::now(), Duration::from_secs(1)).await;
    eprintln!("a disabled user reached the other instances in {took:?}");
    let next = refreshed["refresh_token"].as_str().unwrap();
    let (status, body) =
        cluster.token(0, &id, &secret, &[("grant_type", "refresh_token"), ("refresh_token", next)]).await.unwrap();
    assert_eq!((status, body["error"].as_str()), (400, Some("invalid_grant")));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_key_rotated_through_one_instance_signs_and_verifies_on_all_of_them() {
    let Some(cluster) = Cluster::start("scale::keys", 3, "").await else { return };
    let (id, secret) = cluster.create_app(0, json!({"type": "machine", "name": "sync"})).await;
    let secret = secret.unwrap();
    let grant = [("grant_type", "client_credentials"), ("scope", "api:read")];
    let before = cluster.token(0, &id, &secret, &grant).await.unwrap().1["access_token"].as_str().unwrap().to_string();
    let old_kid = kid(&before);

    let out = cli(&cluster.configs[1], &["keys", "rotate"], "");
    let new_kid = serde_json::from_str::<Value>(&out).unwrap()["active_kid"].as_str().unwrap().to_string();
    assert_ne!(new_kid, old_kid);
    let started = Instant::now();
    // Every instance publishes the new key, and signs with it, within a second.
    loop {
        let mut kids = Vec::new();
        for i in 0..3 {
            let t = cluster.token(i, &id, &secret, &grant).await.unwrap().1;
            kids.push(kid(t["access_token"].as_str().unwrap()));
        }
        if kids.iter().all(|k| *k != old_kid) {
            assert!(kids.windows(2).all(|w| w[0] == w[1]), "{kids:?}");
            assert_eq!(kids[0], new_kid, "the rotated key signs");
            break;
        }
        assert!(started.elapsed() < Duration::from_secs(1), "instances still sign with the old key: {kids:?}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    eprintln!("a key rotation reached every instance in {:?}", started.elapsed());
    // A token signed by one instance with the new key passes every edge; the old one still does until it expires.
    let after = cluster.token(2, &id, &secret, &grant).await.unwrap().1["access_token"].as_str().unwrap().to_string();
    for i in 0..3 {
        assert_eq!(cluster.api(i, &after).await, 200);
        assert_eq!(cluster.api(i, &before).await, 200);
    }
    let jwks: Value =
        client().get(format!("{}/oauth2/jwks", cluster.url(0))).send().await.unwrap().json().await.unwrap();
    assert_eq!(jwks["keys"].as_array().unwrap().len(), 2, "{jwks}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_instance_killed_in_the_middle_of_refreshes_loses_nothing() {
    let Some(mut cluster) = Cluster::start("scale::kill", 2, "refresh_token_reuse_grace_secs = 30").await else {
        return;
    };
    let (id, secret) =
        cluster.create_app(0, json!({"type": "web", "name": "dashboard", "redirect_urls": [REDIRECT]})).await;
    let secret = secret.unwrap();
    // Eight clients, each with its own refresh token family, refreshing through instance 1 as fast as they can.
    let mut families = Vec::new();
    for _ in 0..8 {
        families
            .push(cluster.code_flow([0, 0, 0, 0], &id, &secret).await["refresh_token"].as_str().unwrap().to_string());
    }
    let (survivor, doomed) = (cluster.url(0), cluster.url(1));
    let mut clients = Vec::new();
    for mut current in families {
        let (survivor, doomed, id, secret) = (survivor.clone(), doomed.clone(), id.clone(), secret.clone());
        clients.push(tokio::spawn(async move {
            let refresh = |base: String, token: String| {
                let (id, secret) = (id.clone(), secret.clone());
                async move {
                    let r = client()
                        .post(format!("{base}/oauth2/token"))
                        .header("authorization", basic(&id, &secret))
                        .form(&[("grant_type", "refresh_token"), ("refresh_token", token.as_str())])
                        .send()
                        .await?;
                    let status = r.status().as_u16();
                    let body: Value = r.json().await?;
                    Ok::<_, reqwest::Error>((status, body))
                }
            };
            let mut acknowledged = 0;
            loop {
                match refresh(doomed.clone(), current.clone()).await {
                    Ok((200, body)) => {
                        current = body["refresh_token"].as_str().unwrap().to_string();
                        acknowledged += 1;
                    }
                    Ok((status, body)) => panic!("refresh refused by the doomed instance: {status} {body}"),
                    // The instance died with this refresh in flight: done or not, the client retries it elsewhere.
                    Err(_) => {
                        let (status, body) = refresh(survivor.clone(), current.clone()).await.unwrap();
                        assert_eq!(status, 200, "the retried refresh after the kill: {body}");
                        let next = body["refresh_token"].as_str().unwrap().to_string();
                        let (status, body) = refresh(survivor.clone(), next).await.unwrap();
                        assert_eq!(status, 200, "and the family goes on: {body}");
                        return (acknowledged, body["access_token"].as_str().unwrap().to_string());
                    }
                }
            }
        }));
    }
    tokio::time::sleep(Duration::from_millis(300 + rand::random::<u64>() % 400)).await;
    cluster.instances[1].kill_9();
    let mut total = 0;
    for c in clients {
        let (acknowledged, access) = c.await.unwrap();
        total += acknowledged;
        assert_eq!(cluster.api(0, &access).await, 200);
    }
    assert!(total >= 8, "the clients refreshed before the kill ({total})");
    // What the store says: how many of the interrupted refreshes had committed before the kill (their retries
    // superseded a successor nobody received).
    let mut conn = cluster.db.connect().await;
    let superseded: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM refresh_tokens WHERE superseded = 1")
        .fetch_one(&mut conn)
        .await
        .unwrap();
    eprintln!("{total} refreshes acknowledged before the kill; {superseded} interrupted ones had committed");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_console_session_begun_on_one_instance_works_on_the_other_and_its_sign_out_ends_it_on_both() {
    use crate::console::Visitor;
    let Some(cluster) = Cluster::start("scale::console", 2, "").await else { return };
    let on_first = Visitor::on(&cluster.admin(0));
    let signed_in = on_first.sign_in(ADMIN.0, ADMIN.1).await;
    assert_eq!(signed_in.redirect(), "/console/apps", "{signed_in}");
    // The next requests land on the other instance: same session, same CSRF token.
    let on_second = on_first.at(&cluster.admin(1));
    let session_id = on_first.cookie("tg_console").expect("a session cookie");
    let list = on_second.get("/console/apps").await.expect(200);
    let made = on_second.post("/console/apps", &[("csrf", &list.csrf()), ("type", "spa"), ("name", "Dashboard")]).await;
    assert!(made.redirect().starts_with("/console/apps/"), "{made}");
    let page = on_first.get(&made.redirect()).await.expect(200);
    assert!(page.text().contains("Dashboard"), "{page}");
    // Signed out on the first instance: the second no longer knows the session either, even when the cookie is
    // sent again.
    let out = on_first.post("/console/sign-out", &[("csrf", &list.csrf())]).await;
    assert_eq!(out.redirect(), "/console/sign-in", "{out}");
    on_second.set_cookie("tg_console", &session_id);
    assert_eq!(on_second.get("/console/apps").await.redirect(), "/console/sign-in");
}
