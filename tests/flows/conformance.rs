//! The letter of the RFCs, as client libraries and conformance suites read it: what a request may leave out, what
//! is refused and how, and what an error may say.

use serde_json::json;

use crate::support::authz::*;

/// A web app with [`REDIRECT`] as its only redirect URI.
async fn web(az: &TestAuthz) -> App {
    az.app(json!({"type": "web", "name": "Portal", "redirect_urls": [REDIRECT]})).await
}

/// alice signed in and consented to `api:read` for `app` in `browser`; returns nothing but leaves the session.
async fn signed_in(az: &TestAuthz, browser: &Browser, app: &App) {
    az.code_in(browser, app, "api:read", None).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_invalid_client_answer_carries_a_challenge_whatever_the_method_tried() {
    // Regression: a 401 to a client that sent its secret in the body had no WWW-Authenticate (RFC 9110 15.5.2).
    let az = TestAuthz::start().await;
    let app = web(&az).await;
    let form = [("grant_type", "client_credentials")];
    for (how, auth) in [
        ("Basic", ClientAuth::BasicWith(&app.client_id, "tgs_wrong")),
        ("body", ClientAuth::PostWith(&app.client_id, "tgs_wrong")),
        ("none", ClientAuth::Nothing),
    ] {
        let r = az.token(auth, &form).await;
        r.oauth_error(401, "invalid_client");
        assert_eq!(r.header("www-authenticate"), Some("Basic realm=\"tokengate\""), "{how}: {r:?}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn offline_access_asked_by_a_machine_app_is_dropped_and_no_refresh_token_issued() {
    // Regression: RFC 6749 4.4.3 says no refresh token for client credentials; the whole request was refused.
    let az = TestAuthz::start().await;
    let app = az.machine_app("Batch").await;
    let r = az
        .token(ClientAuth::Basic(&app), &[("grant_type", "client_credentials"), ("scope", "api:read offline_access")])
        .await
        .expect(200);
    let body = r.json();
    assert_eq!(body["scope"], "api:read", "{r:?}");
    assert!(body.get("refresh_token").is_none(), "{r:?}");
    // Only offline_access: the app's default scopes, still no refresh token.
    let body = az
        .token(ClientAuth::Basic(&app), &[("grant_type", "client_credentials"), ("scope", "offline_access")])
        .await
        .expect(200)
        .json();
    assert!(!body["scope"].as_str().unwrap().contains("offline_access") && body.get("refresh_token").is_none());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn revoking_another_clients_token_is_refused_and_the_token_keeps_working() {
    // Regression: RFC 7009 2.1 refuses it; the answer was 200 (and nothing was revoked), so the client could not tell.
    let az = TestAuthz::start().await;
    let (owner, other) =
        (web(&az).await, az.app(json!({"type": "web", "name": "Other", "redirect_urls": [REDIRECT]})).await);
    let tokens = az.tokens(&owner, "api:read offline_access").await;
    for token in [tokens["access_token"].as_str().unwrap(), tokens["refresh_token"].as_str().unwrap()] {
        az.revoke(ClientAuth::Basic(&other), token).await.oauth_error(400, "unauthorized_client");
    }
    az.api(tokens["access_token"].as_str().unwrap()).await.expect(200);
    az.refresh(ClientAuth::Basic(&owner), tokens["refresh_token"].as_str().unwrap(), None).await.expect(200);
    // An unknown token is still answered 200, revealing nothing (RFC 7009 2.2).
    az.revoke(ClientAuth::Basic(&other), "tgr_not-a-token").await.expect(200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_json_token_request_naming_a_parameter_twice_is_refused() {
    // Regression: a JSON body kept the last of two `grant_type` members, where a form was refused (RFC 6749 3.2).
    let az = TestAuthz::start().await;
    let app = az.machine_app("Batch").await;
    let r = client()
        .post(format!("{}/oauth2/token", az.url))
        .header("authorization", basic(&app.client_id, app.secret()))
        .header("content-type", "application/json")
        .body(r#"{"grant_type":"refresh_token","grant_type":"client_credentials"}"#)
        .send()
        .await
        .unwrap();
    let r = Reply::read("POST /oauth2/token (JSON, grant_type twice)".into(), r).await;
    r.oauth_error(400, "invalid_request");
    assert!(r.json()["error_description"].as_str().unwrap().contains("`grant_type` is repeated"), "{r:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn error_descriptions_never_echo_what_the_client_sent() {
    // Regression: `error_description` repeated the client's grant type, scope or parameter name, quotes and all,
    // outside the character set of RFC 6749 5.2.
    let az = TestAuthz::start().await;
    let app = az.machine_app("Batch").await;
    let probe = "<script>\"zoë\"</script>";
    let allowed = |c: char| c == ' ' || c == '!' || ('#'..='[').contains(&c) || (']'..='~').contains(&c);
    for form in [
        vec![("grant_type", probe)],
        vec![("grant_type", "client_credentials"), ("scope", probe)],
        vec![("grant_type", "client_credentials"), (probe, "1"), (probe, "2")],
    ] {
        let r = az.token(ClientAuth::Basic(&app), &form).await;
        assert_eq!(r.status, 400, "{r:?}");
        let d = r.json()["error_description"].as_str().unwrap().to_string();
        assert!(!d.contains("script") && !d.contains("zo"), "echoed: {d}");
        assert!(d.chars().all(allowed), "outside RFC 6749 5.2: {d}");
    }
    // At the authorization endpoint too, in the redirect.
    let web = web(&az).await;
    let back = az
        .browser()
        .get(&authorize_path_with(
            "/oauth2/authorize",
            &[("response_type", "code"), ("client_id", &web.client_id), ("redirect_uri", REDIRECT), ("scope", probe)],
        ))
        .await;
    let params = back.redirect_params(REDIRECT);
    assert_eq!(params["error"], "invalid_scope");
    assert!(!params["error_description"].contains("script"), "{back:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn over_the_token_rate_limit_the_answer_is_429_with_a_code_clients_know() {
    // Regression: the answer was `slow_down`, a device-grant code (RFC 8628) that code-flow clients do not know.
    let az = TestAuthz::start_with("token_rate_limit = \"2/m\"\n").await;
    let app = az.machine_app("Batch").await;
    let form = [("grant_type", "client_credentials")];
    az.token(ClientAuth::Basic(&app), &form).await.expect(200);
    az.token(ClientAuth::Basic(&app), &form).await.expect(200);
    let r = az.token(ClientAuth::Basic(&app), &form).await;
    r.oauth_error(429, "temporarily_unavailable");
    assert!(r.header("retry-after").is_some_and(|s| s.parse::<u64>().is_ok_and(|s| s >= 1)), "{r:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_app_with_one_redirect_uri_may_leave_it_out_of_both_requests() {
    // Regression: RFC 6749 4.1.1 makes redirect_uri optional then; the request got an error page.
    let az = TestAuthz::start().await;
    let app = web(&az).await;
    let browser = az.browser();
    let path = authorize_path_with(
        "/oauth2/authorize",
        &[("response_type", "code"), ("client_id", &app.client_id), ("scope", "api:read"), ("state", "s1")],
    );
    let login = browser.get(&path).await.expect(200);
    let consent = browser.login(&login, "alice", ALICE_PASSWORD).await.expect(200);
    let params = browser.decide(&consent, "allow").await.redirect_params(REDIRECT);
    assert_eq!(params["state"], "s1");
    // Not named in the authorization request: the token request need not name it either.
    let code = &params["code"];
    az.token(ClientAuth::Basic(&app), &[("grant_type", "authorization_code"), ("code", code)]).await.expect(200);

    // Named in the authorization request: still required, and identical (RFC 6749 4.1.3).
    let code = az.code(&app, "api:read", None).await;
    az.token(ClientAuth::Basic(&app), &[("grant_type", "authorization_code"), ("code", &code)])
        .await
        .oauth_error(400, "invalid_grant");

    // Several registered: it must be named.
    let two =
        az.app(json!({"type": "web", "name": "Two", "redirect_urls": [REDIRECT, "https://client.example/b"]})).await;
    let path = authorize_path_with("/oauth2/authorize", &[("response_type", "code"), ("client_id", &two.client_id)]);
    let page = az.browser().get(&path).await;
    assert_eq!(page.status, 400, "{page:?}");
    assert!(page.location().is_none(), "no redirect to an unnamed URI: {page:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_malformed_authorization_request_of_a_known_client_is_redirected_with_invalid_request() {
    let az = TestAuthz::start().await;
    let app = web(&az).await;
    let base = [("client_id", app.client_id.as_str()), ("redirect_uri", REDIRECT), ("state", "s")];
    let cases: Vec<(&str, Vec<(&str, &str)>)> = vec![
        // Regression: a missing response_type was `unsupported_response_type`.
        ("no response_type", vec![]),
        // Regression: a repeated state or scope got an error page although client and redirect URI were good.
        ("scope twice", vec![("response_type", "code"), ("scope", "api:read"), ("scope", "api:write")]),
        ("response_mode fragment", vec![("response_type", "code"), ("response_mode", "fragment")]),
        ("response_mode jwt", vec![("response_type", "code"), ("response_mode", "jwt")]),
        ("prompt none with login", vec![("response_type", "code"), ("prompt", "none login")]),
        ("max_age not a number", vec![("response_type", "code"), ("max_age", "soon")]),
    ];
    for (why, extra) in cases {
        let mut pairs: Vec<(&str, &str)> = base.to_vec();
        pairs.extend(extra);
        let back = az.browser().get(&authorize_path_with("/oauth2/authorize", &pairs)).await;
        let params = back.redirect_params(REDIRECT);
        assert_eq!(params["error"], "invalid_request", "{why}: {back:?}");
        assert_eq!(params["state"], "s", "{why}");
    }
    // A repeated client_id cannot be trusted with a redirect: a page.
    let pairs =
        [("response_type", "code"), ("client_id", &app.client_id), ("client_id", "x"), ("redirect_uri", REDIRECT)];
    let page = az.browser().get(&authorize_path_with("/oauth2/authorize", &pairs)).await;
    assert_eq!(page.status, 400);
    assert!(page.location().is_none(), "{page:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn prompt_none_answers_at_once_and_never_shows_a_page() {
    // Regression: prompt=none without a session showed the sign-in page, so silent renewal in a hidden frame hung.
    let az = TestAuthz::start().await;
    let app = web(&az).await;
    let silent = |scope: &'static str| {
        authorize_path_with(
            "/oauth2/authorize",
            &[
                ("response_type", "code"),
                ("client_id", &app.client_id),
                ("redirect_uri", REDIRECT),
                ("scope", scope),
                ("state", "s"),
                ("prompt", "none"),
            ],
        )
    };
    // No session: login_required.
    let back = az.browser().get(&silent("api:read")).await;
    assert_eq!(back.redirect_params(REDIRECT)["error"], "login_required", "{back:?}");
    // A session, and consent given: straight back with a code.
    let browser = az.browser();
    signed_in(&az, &browser, &app).await;
    let back = browser.get(&silent("api:read")).await;
    let code = back.redirect_params(REDIRECT)["code"].clone();
    az.exchange(ClientAuth::Basic(&app), &code, None).await.expect(200);
    // A session, but not these scopes: consent_required.
    let back = browser.get(&silent("api:read api:write")).await;
    assert_eq!(back.redirect_params(REDIRECT)["error"], "consent_required", "{back:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn prompt_login_and_max_age_ask_for_a_fresh_sign_in_and_prompt_consent_asks_again() {
    let az = TestAuthz::start().await;
    let app = web(&az).await;
    let browser = az.browser();
    signed_in(&az, &browser, &app).await;
    let with = |extra: (&'static str, &'static str)| {
        authorize_path_with(
            "/oauth2/authorize",
            &[
                ("response_type", "code"),
                ("client_id", &app.client_id),
                ("redirect_uri", REDIRECT),
                ("scope", "api:read"),
                extra,
            ],
        )
    };
    // With the session and consent, a plain request goes straight back.
    assert_eq!(browser.get(&with(("state", "plain"))).await.status, 303);
    // prompt=login: the sign-in form, though signed in.
    let page = browser.get(&with(("prompt", "login"))).await.expect(200);
    assert!(page.body.contains("name=\"password\""), "{page:?}");
    // max_age: a sign-in older than that is asked again; a recent enough one is not.
    az.clock.advance(120);
    let page = browser.get(&with(("max_age", "60"))).await.expect(200);
    assert!(page.body.contains("name=\"password\""), "{page:?}");
    assert_eq!(browser.get(&with(("max_age", "3600"))).await.status, 303);
    // prompt=consent: the consent page, though consent was given.
    let page = browser.get(&with(("prompt", "consent"))).await.expect(200);
    assert!(page.body.contains("value=\"allow\""), "{page:?}");
}

/// The login, consent and redirect of alice in a fresh browser for `authorize` (a path and query); returns the
/// redirect's Location.
async fn signed_in_redirect(az: &TestAuthz, authorize: &str) -> String {
    let browser = az.browser();
    let login = browser.get(authorize).await.expect(200);
    let signed_in = browser.login(&login, "alice", ALICE_PASSWORD).await;
    // Straight back when alice allowed these scopes before, else through the consent page.
    let back = match signed_in.status {
        303 => signed_in,
        _ => browser.decide(&signed_in.expect(200), "allow").await.expect(303),
    };
    back.location().expect("a Location").to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_native_app_uses_its_private_use_scheme_and_any_loopback_port() {
    // Regression: RFC 8252 redirects were refused: `com.example.app:/cb` at registration, and a loopback redirect on
    // another port than the one registered (a native app picks its port when it starts).
    let az = TestAuthz::start().await;
    let native = "com.example.app:/oauth2redirect";
    let app = az.app(json!({"type": "spa", "name": "Phone", "redirect_urls": [native, "http://127.0.0.1/cb"]})).await;
    let (verifier, challenge) = pkce();
    let request = |redirect: &str| {
        authorize_path_with(
            "/oauth2/authorize",
            &[
                ("response_type", "code"),
                ("client_id", &app.client_id),
                ("redirect_uri", redirect),
                ("scope", "api:read"),
                ("code_challenge", &challenge),
                ("code_challenge_method", "S256"),
            ],
        )
    };
    for redirect in [native, "http://127.0.0.1:53123/cb"] {
        let location = signed_in_redirect(&az, &request(redirect)).await;
        let (base, query) = location.split_once('?').unwrap_or_else(|| panic!("{location}"));
        assert_eq!(base, redirect);
        let code = url::form_urlencoded::parse(query.as_bytes()).find(|(k, _)| k == "code").unwrap().1.to_string();
        let form = [
            ("grant_type", "authorization_code"),
            ("code", code.as_str()),
            ("redirect_uri", redirect),
            ("code_verifier", verifier.as_str()),
        ];
        az.token(ClientAuth::Public(&app), &form).await.expect(200);
    }
    // The port is free; the path is not, and neither is another loopback address.
    for wrong in ["http://127.0.0.1:53123/other", "http://[::1]:53123/cb", "com.example.app:/elsewhere"] {
        assert_eq!(az.browser().get(&request(wrong)).await.status, 400, "{wrong}");
    }
    // A web app (a server) may not register a native app's scheme.
    let input =
        tokengate::registry::AppInput::from_json(&json!({"type": "web", "name": "W", "redirect_urls": [native]}))
            .unwrap();
    let refused = az.registry.create_app(&input).await.expect_err("a web app with a native redirect");
    assert!(refused.to_string().contains("native app"), "{refused}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn response_mode_form_post_posts_the_code_to_the_redirect_uri_with_a_script_the_csp_allows_by_hash() {
    // Regression: form_post was silently ignored and the code came in the query.
    use base64::Engine as _;
    use sha2::Digest as _;
    let az = TestAuthz::start().await;
    let app = web(&az).await;
    let request = |prompt: Option<&'static str>| {
        let mut pairs = vec![
            ("response_type", "code"),
            ("client_id", app.client_id.as_str()),
            ("redirect_uri", REDIRECT),
            ("scope", "api:read"),
            ("state", "s-fp"),
            ("response_mode", "form_post"),
        ];
        pairs.extend(prompt.map(|p| ("prompt", p)));
        authorize_path_with("/oauth2/authorize", &pairs)
    };
    // An error is posted too (prompt=none without a session).
    let posted = az.browser().get(&request(Some("none"))).await.expect(200);
    let fields: std::collections::HashMap<String, String> = posted.hidden_fields().into_iter().collect();
    assert_eq!(fields["error"], "login_required", "{posted:?}");
    assert_eq!(fields["state"], "s-fp");

    let browser = az.browser();
    let login = browser.get(&request(None)).await.expect(200);
    let consent = browser.login(&login, "alice", ALICE_PASSWORD).await.expect(200);
    let posted = browser.decide(&consent, "allow").await.expect(200);
    assert!(posted.location().is_none(), "no redirect: {posted:?}");
    assert!(posted.body.contains(&format!("<form method=\"post\" action=\"{REDIRECT}\">")), "{posted:?}");
    let fields: std::collections::HashMap<String, String> = posted.hidden_fields().into_iter().collect();
    assert_eq!((fields["state"].as_str(), fields["iss"].as_str()), ("s-fp", ISSUER));
    // The CSP allows exactly the page's one script, by its hash, and posting only to the client's origin.
    let csp = posted.header("content-security-policy").unwrap_or_default().to_string();
    let script = posted.body.split("<script>").nth(1).and_then(|s| s.split("</script>").next()).expect("a script");
    let hash = base64::engine::general_purpose::STANDARD.encode(sha2::Sha256::digest(script.as_bytes()));
    assert!(csp.contains(&format!("script-src 'sha256-{hash}'")), "{csp}");
    assert!(csp.contains("form-action https://client.example;"), "{csp}");
    // The posted code is a code like any other.
    az.exchange(ClientAuth::Basic(&app), &fields["code"], None).await.expect(200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_form_post_response_submits_itself_in_chromium_under_its_csp() {
    if crate::support::browser::skip("the form_post browser test") {
        return;
    }
    let az = TestAuthz::start().await;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let app_url = format!("http://localhost:{}", listener.local_addr().unwrap().port());
    let redirect = format!("{app_url}/cb");
    let app = az.app(json!({"type": "web", "name": "Posted", "redirect_urls": [redirect]})).await;
    // The app shows what its redirect URI received.
    let server = crate::support::http::serve_pages(listener, |request_line, body| {
        let shown =
            format!("{request_line}\n{}", String::from_utf8_lossy(body)).replace('&', "&amp;").replace('<', "&lt;");
        format!("<!doctype html><html><body><pre id=\"result\">{shown}</pre></body></html>")
    });
    let authorize = format!(
        "{}{}",
        az.url,
        authorize_path_with(
            "/oauth2/authorize",
            &[
                ("response_type", "code"),
                ("client_id", &app.client_id),
                ("redirect_uri", &redirect),
                ("scope", "api:read"),
                ("state", "fp-state"),
                ("response_mode", "form_post"),
            ],
        )
    );
    let result = crate::support::browser::run_script(
        "flows/form_post_browser.mjs",
        &[
            ("AUTHORIZE_URL", &authorize),
            ("APP_URL", &app_url),
            ("USER_NAME", "alice"),
            ("USER_PASSWORD", ALICE_PASSWORD),
        ],
    )
    .await;
    server.abort();
    assert_eq!(result["violations"], json!([]), "{result}");
    let received = result["received"].as_str().unwrap();
    let (request_line, body) = received.split_once('\n').unwrap();
    assert!(request_line.starts_with("POST /cb "), "{received}");
    let fields: std::collections::HashMap<String, String> =
        url::form_urlencoded::parse(body.trim().as_bytes()).into_owned().collect();
    assert_eq!(fields["state"], "fp-state", "{received}");
    assert_eq!(fields["iss"], ISSUER);
    az.token(
        ClientAuth::Basic(&app),
        &[("grant_type", "authorization_code"), ("code", &fields["code"]), ("redirect_uri", &redirect)],
    )
    .await
    .expect(200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_machine_app_made_a_resource_server_may_introspect_any_token_and_no_other_app_may() {
    let az = TestAuthz::start().await;
    let web = web(&az).await;
    let tokens = az.tokens(&web, "api:read offline_access").await;
    let (access, refresh) = (tokens["access_token"].as_str().unwrap(), tokens["refresh_token"].as_str().unwrap());
    let api = az.app(json!({"type": "machine", "name": "Reports API", "introspect_any": true})).await;
    assert_eq!(api.view["introspect_any"], true, "{}", api.view);
    let plain = az.machine_app("Batch").await;
    assert_eq!(plain.view["introspect_any"], false);
    for token in [access, refresh] {
        let seen = az.introspect(ClientAuth::Basic(&api), token).await.expect(200).json();
        assert_eq!(seen["active"], true, "{seen}");
        assert_eq!(seen["client_id"], web.client_id.as_str(), "{seen}");
        assert_eq!(seen["sub"], "alice");
        assert_eq!(az.introspect(ClientAuth::Basic(&plain), token).await.expect(200).json(), json!({"active": false}));
    }
    // A revoked token is inactive for the resource server too.
    az.revoke(ClientAuth::Basic(&web), access).await.expect(200);
    assert_eq!(az.introspect(ClientAuth::Basic(&api), access).await.expect(200).json(), json!({"active": false}));
    // Only machine apps can be resource servers.
    let input = tokengate::registry::AppInput::from_json(&json!({"introspect_any": true})).unwrap();
    let refused = az.registry.update_app(&web.client_id, &input).await.expect_err("a web app as a resource server");
    assert!(refused.to_string().contains("not a field of web apps"), "{refused}");
}
