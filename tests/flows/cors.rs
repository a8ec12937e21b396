//! CORS on `/oauth2/token` and `/oauth2/revoke` for single-page apps: only their registered redirect origins, never
//! `*`, never with credentials; nowhere else. Over HTTP, and in Chromium with a page on another origin redeeming its
//! code with PKCE.

use serde_json::{json, Value};

use crate::support::authz::*;

const SPA_ORIGIN: &str = "http://localhost:5173";
const WEB_ORIGIN: &str = "https://portal.example";

async fn preflight(az: &TestAuthz, path: &str, origin: &str) -> Reply {
    let r = client()
        .request(reqwest::Method::OPTIONS, format!("{}{path}", az.url))
        .header("origin", origin)
        .header("access-control-request-method", "POST")
        .header("access-control-request-headers", "content-type")
        .send()
        .await
        .unwrap();
    Reply::read(format!("OPTIONS {path} (Origin: {origin})"), r).await
}

async fn post_from(az: &TestAuthz, path: &str, origin: &str, form: &[(&str, &str)]) -> Reply {
    let r = client().post(format!("{}{path}", az.url)).header("origin", origin).form(form).send().await.unwrap();
    Reply::read(format!("POST {path} (Origin: {origin})"), r).await
}

#[track_caller]
fn allowed(r: &Reply, origin: &str) {
    assert_eq!(r.header("access-control-allow-origin"), Some(origin), "{r:?}");
    assert!(r.header("access-control-allow-credentials").is_none(), "{r:?}");
    assert!(r.headers.get_all("vary").iter().any(|v| v.to_str().unwrap().contains("Origin")), "{r:?}");
}

#[track_caller]
fn not_allowed(r: &Reply) {
    assert!(r.header("access-control-allow-origin").is_none(), "{r:?}");
    assert!(r.header("access-control-allow-credentials").is_none(), "{r:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn token_and_revoke_answer_cors_only_for_a_single_page_apps_registered_origins() {
    let az = TestAuthz::start().await;
    let spa =
        az.app(json!({"type": "spa", "name": "Spa", "redirect_urls": [REDIRECT, format!("{SPA_ORIGIN}/cb")]})).await;
    let other_spa = az.spa_app("Other spa").await;
    let web = az.app(json!({"type": "web", "name": "Web", "redirect_urls": [format!("{WEB_ORIGIN}/cb")]})).await;
    let machine = az.machine_app("Machine").await;

    for path in ["/oauth2/token", "/oauth2/revoke"] {
        let r = preflight(&az, path, SPA_ORIGIN).await;
        assert!(r.status == 200 || r.status == 204, "{r:?}");
        allowed(&r, SPA_ORIGIN);
        let methods = r.header("access-control-allow-methods").unwrap_or_default();
        assert_eq!(methods, "POST", "{r:?}");
        let headers = r.header("access-control-allow-headers").unwrap_or_default().to_ascii_lowercase();
        for h in ["content-type", "authorization", "dpop"] {
            assert!(headers.split(',').any(|x| x.trim() == h), "{h} not allowed: {r:?}");
        }
        for origin in ["https://evil.example", WEB_ORIGIN, "null", "http://localhost:5174"] {
            not_allowed(&preflight(&az, path, origin).await);
        }
    }
    // Nowhere else.
    for path in ["/oauth2/authorize", "/oauth2/introspect", "/oauth2/login", "/oauth2/consent"] {
        not_allowed(&preflight(&az, path, SPA_ORIGIN).await);
    }

    // The actual requests: the origin is allowed only for the client it belongs to.
    let (verifier, challenge) = pkce();
    let code = az.code(&spa, "api:read offline_access", Some(&challenge)).await;
    let form = [
        ("grant_type", "authorization_code"),
        ("code", code.as_str()),
        ("redirect_uri", REDIRECT),
        ("client_id", spa.client_id.as_str()),
        ("code_verifier", verifier.as_str()),
    ];
    let r = post_from(&az, "/oauth2/token", SPA_ORIGIN, &form).await.expect(200);
    allowed(&r, SPA_ORIGIN);
    let refresh = r.json()["refresh_token"].as_str().unwrap().to_string();
    // Errors are readable by the app too.
    let r = post_from(&az, "/oauth2/token", SPA_ORIGIN, &form).await;
    r.oauth_error(400, "invalid_grant");
    allowed(&r, SPA_ORIGIN);
    let r = post_from(&az, "/oauth2/token", "https://evil.example", &form).await;
    not_allowed(&r);
    // Another app's client id from this origin: not its origin.
    let other = [("grant_type", "refresh_token"), ("refresh_token", "x"), ("client_id", other_spa.client_id.as_str())];
    not_allowed(&post_from(&az, "/oauth2/token", SPA_ORIGIN, &other).await);
    // A web app and a machine app are never served cross-origin, even from their own redirect origin.
    let r = client()
        .post(format!("{}/oauth2/token", az.url))
        .header("origin", WEB_ORIGIN)
        .header("authorization", basic(&web.client_id, web.secret()))
        .form(&[("grant_type", "refresh_token"), ("refresh_token", "x")])
        .send()
        .await
        .unwrap();
    not_allowed(&Reply::read("POST /oauth2/token (web app)".into(), r).await);
    let r = client()
        .post(format!("{}/oauth2/token", az.url))
        .header("origin", SPA_ORIGIN)
        .header("authorization", basic(&machine.client_id, machine.secret()))
        .form(&[("grant_type", "client_credentials")])
        .send()
        .await
        .unwrap();
    not_allowed(&Reply::read("POST /oauth2/token (machine app)".into(), r).await.expect(200));
    let revoke = [("token", refresh.as_str()), ("client_id", spa.client_id.as_str())];
    allowed(&post_from(&az, "/oauth2/revoke", SPA_ORIGIN, &revoke).await.expect(200), SPA_ORIGIN);
}

/// The single-page app: one HTML page, served for every path on its own listener.
fn spa_page(client_id: &str, authz: &str, redirect: &str) -> String {
    let config = json!({"client_id": client_id, "authz": authz, "redirect": redirect}).to_string();
    format!(
        r#"<!doctype html><html><head><meta charset="utf-8"><title>Spa</title></head><body>
<button id="go">Sign in</button><pre id="result"></pre>
<script>
const cfg = {config};
const b64 = (bytes) => btoa(String.fromCharCode(...new Uint8Array(bytes))).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');
document.getElementById('go').onclick = async () => {{
  const verifier = b64(crypto.getRandomValues(new Uint8Array(32)));
  sessionStorage.setItem('verifier', verifier);
  const challenge = b64(await crypto.subtle.digest('SHA-256', new TextEncoder().encode(verifier)));
  const q = new URLSearchParams({{response_type: 'code', client_id: cfg.client_id, redirect_uri: cfg.redirect,
    scope: 'api:read offline_access', state: 'spa-state', code_challenge: challenge, code_challenge_method: 'S256'}});
  location.href = `${{cfg.authz}}/oauth2/authorize?${{q}}`;
}};
if (location.pathname === '/cb') (async () => {{
  const out = {{}};
  try {{
    const p = new URLSearchParams(location.search);
    out.state = p.get('state');
    const r = await fetch(`${{cfg.authz}}/oauth2/token`, {{method: 'POST', body: new URLSearchParams({{
      grant_type: 'authorization_code', code: p.get('code'), redirect_uri: cfg.redirect, client_id: cfg.client_id,
      code_verifier: sessionStorage.getItem('verifier')}})}});
    out.token_status = r.status;
    out.tokens = await r.json();
    // JSON is not a simple request: the browser asks first (a preflight).
    const v = await fetch(`${{cfg.authz}}/oauth2/revoke`, {{method: 'POST', headers: {{'content-type': 'application/json'}},
      body: JSON.stringify({{token: out.tokens.refresh_token, client_id: cfg.client_id}})}});
    out.revoke_status = v.status;
    try {{
      await fetch(`${{cfg.authz}}/oauth2/introspect`, {{method: 'POST', body: new URLSearchParams({{token: 'x'}})}});
      out.introspect = 'readable';
    }} catch (e) {{ out.introspect = 'blocked'; }}
  }} catch (e) {{ out.error = String(e); }}
  document.getElementById('result').textContent = JSON.stringify(out);
}})();
</script></body></html>"#
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_single_page_app_on_another_origin_redeems_its_code_with_pkce_in_chromium() {
    if crate::support::browser::skip("the cross-origin single-page app test") {
        return;
    }
    let az = TestAuthz::start().await;
    // The authorization server is on 127.0.0.1, the app on localhost: two origins.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let app_origin = format!("http://localhost:{}", listener.local_addr().unwrap().port());
    let redirect = format!("{app_origin}/cb");
    let spa = az.app(json!({"type": "spa", "name": "Browser spa", "redirect_urls": [redirect]})).await;
    let page = spa_page(&spa.client_id, &az.url, &redirect);
    let server = crate::support::http::serve_pages(listener, move |_, _| page.clone());
    let result = crate::support::browser::run_script(
        "flows/spa_browser.mjs",
        &[("APP_URL", &app_origin), ("USER_NAME", "alice"), ("USER_PASSWORD", ALICE_PASSWORD)],
    )
    .await;
    server.abort();
    assert_eq!(result["error"], Value::Null, "{result}");
    assert_eq!(result["state"], "spa-state", "{result}");
    assert_eq!(result["token_status"], 200, "{result}");
    let access = result["tokens"]["access_token"].as_str().unwrap_or_else(|| panic!("{result}"));
    assert_eq!(jwt_parts(access).1["client_id"], spa.client_id.as_str());
    assert_eq!(result["revoke_status"], 200, "{result}");
    assert_eq!(result["introspect"], "blocked", "introspection must not be readable cross-origin: {result}");
    // The page revoked the refresh token: the grant is over.
    assert_eq!(az.api_status(access).await, 401);
}
