//! `/oauth2/authorize` as a browser sees it: the login form, the consent page, the redirect back, the errors.

use serde_json::json;

use crate::support::authz::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn signing_in_and_allowing_redirects_back_with_a_code_the_state_and_the_issuer() {
    let az = TestAuthz::start().await;
    let app = az
        .app(json!({"type": "web", "name": "Item Viewer", "description": "Reads your items", "redirect_urls": [REDIRECT]}))
        .await;
    let browser = az.browser();

    // No session: the login form, with a CSRF cookie named after the request.
    let login = browser.get(&authorize_path(&app.client_id, REDIRECT, "api:read offline_access", "s-123", None)).await;
    let login = login.expect(200);
    assert!(login.header("content-type").unwrap_or_default().starts_with("text/html"), "{login:?}");
    assert!(login.body.contains("name=\"username\""), "{login:?}");
    assert!(login.body.contains("name=\"password\""), "{login:?}");
    let (rid, csrf) = (login.hidden("rid"), login.hidden("csrf"));
    assert!(rid.len() >= 8 && !csrf.is_empty());
    let cookie =
        login.set_cookie(&format!("tgc_{}=", &rid[..8])).unwrap_or_else(|| panic!("no CSRF cookie: {login:?}"));
    assert!(cookie.starts_with(&format!("tgc_{}={csrf};", &rid[..8])), "{cookie}");
    assert!(cookie.contains("SameSite=Strict"), "{cookie}");
    assert!(login.location().is_none());

    // Signing in: a session cookie, and the consent page naming the app, its description and the scopes.
    let consent = browser.login(&login, "alice", ALICE_PASSWORD).await.expect(200);
    let session = consent.set_cookie("tg_session=").unwrap_or_else(|| panic!("no session cookie: {consent:?}"));
    assert!(session.contains("HttpOnly"), "{session}");
    assert!(session.contains("SameSite=Lax"), "{session}");
    for text in [
        "Item Viewer",
        "Reads your items",
        "api:read",
        "offline_access",
        "name=\"decision\" value=\"allow\"",
        "name=\"decision\" value=\"deny\"",
    ] {
        assert!(consent.body.contains(text), "consent page lacks {text:?}: {consent:?}");
    }
    assert_eq!(consent.hidden("rid"), rid);
    assert_eq!(consent.hidden("csrf"), csrf);

    // Allowing: back to the app with a code, the state and the issuer (RFC 9207).
    let back = browser.decide(&consent, "allow").await.expect(303);
    let params = back.redirect_params(REDIRECT);
    assert_eq!(params["state"], "s-123");
    assert_eq!(params["iss"], ISSUER);
    assert!(!params.contains_key("error"), "{back:?}");
    let code = &params["code"];
    let tokens = az.exchange(ClientAuth::Basic(&app), code, None).await.expect(200).json();
    assert_eq!(tokens["scope"], "api:read offline_access");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn denying_consent_redirects_back_with_access_denied() {
    let az = TestAuthz::start().await;
    let app = az.web_app("Web").await;
    let browser = az.browser();
    let login = browser.get(&authorize_path(&app.client_id, REDIRECT, "api:read", "st", None)).await.expect(200);
    let consent = browser.login(&login, "alice", ALICE_PASSWORD).await.expect(200);
    let back = browser.decide(&consent, "deny").await.expect(303);
    let params = back.redirect_params(REDIRECT);
    assert_eq!(params.get("error").map(String::as_str), Some("access_denied"), "{back:?}");
    assert_eq!(params["state"], "st");
    assert_eq!(params["iss"], ISSUER);
    assert!(!params.contains_key("code"), "{back:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_authorization_with_the_session_skips_login_and_consent() {
    let az = TestAuthz::start().await;
    let app = az.web_app("Web").await;
    let browser = az.browser();
    az.code_in(&browser, &app, "api:read", None).await;
    assert!(browser.cookie("tg_session").is_some());

    let again = browser.get(&authorize_path(&app.client_id, REDIRECT, "api:read", "second", None)).await;
    let params = again.redirect_params(REDIRECT);
    assert_eq!(params["state"], "second");
    assert_eq!(params["iss"], ISSUER);
    let code = params.get("code").unwrap_or_else(|| panic!("no code: {again:?}"));
    let tokens = az.exchange(ClientAuth::Basic(&app), code, None).await.expect(200).json();
    assert_eq!(jwt_parts(tokens["access_token"].as_str().unwrap()).1["sub"], "alice");

    // Other scopes were never agreed to: the consent page again, not a code.
    let wider = browser.get(&authorize_path(&app.client_id, REDIRECT, "api:read api:write", "third", None)).await;
    let wider = wider.expect(200);
    assert!(wider.body.contains("value=\"allow\""), "{wider:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wrong_password_shows_the_form_again_with_a_message() {
    let az = TestAuthz::start().await;
    let app = az.web_app("Web").await;
    let browser = az.browser();
    let login = browser.get(&authorize_path(&app.client_id, REDIRECT, "api:read", "st", None)).await.expect(200);
    let wrong = browser.login(&login, "alice", "not-alices-password").await.expect(401);
    assert!(wrong.body.contains("name=\"password\""), "{wrong:?}");
    assert!(wrong.body.contains("role=\"alert\"") || wrong.body.contains("class=\"error\""), "no message: {wrong:?}");
    assert!(!wrong.body.contains("not-alices-password"), "the password is echoed: {wrong:?}");
    assert!(wrong.set_cookie("tg_session=").is_none(), "{wrong:?}");
    assert!(browser.cookie("tg_session").is_none());
    // The form shown again still works.
    let consent = browser.login(&wrong, "alice", ALICE_PASSWORD).await.expect(200);
    assert!(consent.body.contains("value=\"allow\""), "{consent:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_login_or_consent_without_the_matching_csrf_token_and_cookie_is_forbidden() {
    let az = TestAuthz::start().await;
    let app = az.web_app("Web").await;
    let browser = az.browser();
    let login = browser.get(&authorize_path(&app.client_id, REDIRECT, "api:read", "st", None)).await.expect(200);
    let (rid, csrf) = (login.hidden("rid"), login.hidden("csrf"));
    let cookie_name = format!("tgc_{}", &rid[..8]);
    // The form's other hidden fields (the request it answers), sent as they are.
    let carried: Vec<(String, String)> =
        login.hidden_fields().into_iter().filter(|(k, _)| k != "rid" && k != "csrf").collect();
    let creds = |csrf: &str| {
        let mut form = vec![("rid".to_string(), rid.clone()), ("csrf".to_string(), csrf.to_string())];
        form.extend(carried.iter().cloned());
        form.extend([("username".to_string(), "alice".into()), ("password".to_string(), ALICE_PASSWORD.into())]);
        form
    };
    let post = |form: Vec<(String, String)>| {
        let browser = &browser;
        async move {
            let f: Vec<(&str, &str)> = form.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
            browser.post_form("/oauth2/login", &f).await
        }
    };

    // A wrong token in the form.
    post(creds("not-the-token")).await.expect(403);
    // No token in the form.
    post(creds("")).await.expect(403);
    // No cookie.
    browser.remove_cookie(&cookie_name);
    post(creds(&csrf)).await.expect(403);
    // A cookie with another value.
    browser.set_cookie(&cookie_name, "forged-value", "/oauth2");
    post(creds(&csrf)).await.expect(403);
    assert!(browser.cookie("tg_session").is_none(), "a refused login signed alice in");

    // With both, the login goes through; then the same checks on the consent form.
    browser.set_cookie(&cookie_name, &csrf, "/oauth2");
    let consent = post(creds(&csrf)).await.expect(200);
    let decide = |csrf: String| {
        let browser = &browser;
        let mut form = consent.hidden_fields();
        for (k, v) in form.iter_mut() {
            if k == "csrf" {
                *v = csrf.clone();
            }
        }
        form.push(("decision".to_string(), "allow".to_string()));
        async move {
            let f: Vec<(&str, &str)> = form.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
            browser.post_form("/oauth2/consent", &f).await
        }
    };
    let refused = decide("not-the-token".into()).await.expect(403);
    assert!(refused.location().is_none(), "{refused:?}");
    browser.remove_cookie(&cookie_name);
    decide(csrf.clone()).await.expect(403);
    browser.set_cookie(&cookie_name, &csrf, "/oauth2");
    let back = browser.decide(&consent, "allow").await;
    assert!(back.redirect_params(REDIRECT).contains_key("code"), "{back:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_page_refuses_framing_and_cross_origin_reads() {
    let az = TestAuthz::start().await;
    let app = az.web_app("Web").await;
    let browser = az.browser();
    let login = browser.get(&authorize_path(&app.client_id, REDIRECT, "api:read", "st", None)).await.expect(200);
    let wrong = browser.login(&login, "alice", "wrong-password").await.expect(401);
    let consent = browser.login(&login, "alice", ALICE_PASSWORD).await.expect(200);
    let error = browser.get(&authorize_path("no-such-client", REDIRECT, "api:read", "st", None)).await.expect(400);
    let path = authorize_path(&app.client_id, REDIRECT, "api:read", "st", None);
    let cross =
        client().get(format!("{}{path}", az.url)).header("origin", "https://evil.example").send().await.unwrap();
    let from_elsewhere = Reply::read(format!("GET {path} (Origin: https://evil.example)"), cross).await.expect(200);
    for page in [&login, &wrong, &consent, &error, &from_elsewhere] {
        assert_eq!(page.header("x-frame-options"), Some("DENY"), "{page:?}");
        let csp = page.header("content-security-policy").unwrap_or_else(|| panic!("no CSP: {page:?}"));
        assert!(csp.contains("frame-ancestors 'none'"), "{csp}");
        assert!(page.header("access-control-allow-origin").is_none(), "{page:?}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_value_on_the_pages_is_escaped() {
    let az = TestAuthz::start().await;
    let app = az
        .app(json!({
            "type": "web",
            "name": "<script>alert(1)</script>",
            "description": "\"><img src=x onerror=alert(2)>",
            "redirect_urls": [REDIRECT],
        }))
        .await;
    let browser = az.browser();
    let login = browser.get(&authorize_path(&app.client_id, REDIRECT, "api:read", "st", None)).await.expect(200);
    assert!(!login.body.contains("<script>alert(1)</script>"), "{login:?}");
    assert!(login.body.contains("&lt;script&gt;alert(1)&lt;/script&gt;"), "{login:?}");

    // The username typed into a failed login comes back in the form, escaped.
    let typed = "\"><script>alert(3)</script>";
    let wrong = browser.login(&login, typed, "wrong-password").await.expect(401);
    assert!(!wrong.body.contains("<script>alert(3)</script>"), "{wrong:?}");
    assert!(!wrong.body.contains("\"><script>"), "{wrong:?}");
    assert!(!wrong.body.contains("<script>alert(1)</script>"), "{wrong:?}");

    let consent = browser.login(&login, "alice", ALICE_PASSWORD).await.expect(200);
    assert!(!consent.body.contains("<script>alert(1)</script>"), "{consent:?}");
    assert!(consent.body.contains("&lt;script&gt;alert(1)&lt;/script&gt;"), "{consent:?}");
    assert!(!consent.body.contains("<img src=x"), "{consent:?}");
    assert!(consent.body.contains("&lt;img src=x onerror=alert(2)&gt;"), "{consent:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unknown_client_or_an_unregistered_redirect_uri_gets_an_error_page_never_a_redirect() {
    let az = TestAuthz::start().await;
    let app = az.web_app("Web").await;
    let browser = az.browser();

    let unknown = browser.get(&authorize_path("no-such-client", REDIRECT, "api:read", "st", None)).await.expect(400);
    assert!(unknown.location().is_none(), "{unknown:?}");
    assert!(unknown.header("content-type").unwrap_or_default().starts_with("text/html"), "{unknown:?}");

    for redirect in [
        "https://client.example/cb/extra",
        "https://client.example/cb?next=1",
        "https://client.example:8443/cb",
        "https://user@client.example/cb",
        "https://CLIENT.example/cb",
        "https://client.example/CB",
        "https://client.example/cb/",
        "http://client.example/cb",
        "https://evil.example/cb",
    ] {
        let r = browser.get(&authorize_path(&app.client_id, redirect, "api:read", "st", None)).await;
        assert_eq!(r.status, 400, "{redirect}: {r:?}");
        assert!(r.location().is_none(), "{redirect}: {r:?}");
        assert!(r.header("content-type").unwrap_or_default().starts_with("text/html"), "{redirect}: {r:?}");
        assert!(!r.body.contains("name=\"password\""), "{redirect}: a login form for a bad redirect: {r:?}");
    }
    // Even with other errors in the request, a bad redirect URI is never redirected to.
    let both = browser
        .get(&authorize_path_with(
            "/oauth2/authorize",
            &[("response_type", "token"), ("client_id", &app.client_id), ("redirect_uri", "https://evil.example/cb")],
        ))
        .await;
    assert_eq!(both.status, 400, "{both:?}");
    assert!(both.location().is_none(), "{both:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn other_authorization_errors_redirect_back_with_the_error_the_state_and_the_issuer() {
    let az = TestAuthz::start().await;
    let web = az.web_app("Web").await;
    let spa = az.spa_app("Spa").await;
    let browser = az.browser();
    let (_, challenge) = pkce();
    type Case<'a> = (&'a str, &'a App, Vec<(&'a str, &'a str)>);
    let cases: Vec<Case> = vec![
        ("unsupported_response_type", &web, vec![("response_type", "token"), ("scope", "api:read")]),
        ("invalid_scope", &web, vec![("response_type", "code"), ("scope", "api:read admin")]),
        (
            "invalid_request",
            &web,
            vec![
                ("response_type", "code"),
                ("scope", "api:read"),
                ("code_challenge", &challenge),
                ("code_challenge_method", "plain"),
            ],
        ),
        ("invalid_request", &spa, vec![("response_type", "code"), ("scope", "api:read")]),
    ];
    for (error, app, extra) in cases {
        let mut pairs = vec![("client_id", app.client_id.as_str()), ("redirect_uri", REDIRECT), ("state", "xyz")];
        pairs.extend(extra);
        let r = browser.get(&authorize_path_with("/oauth2/authorize", &pairs)).await;
        let params = r.redirect_params(REDIRECT);
        assert_eq!(params.get("error").map(String::as_str), Some(error), "{r:?}");
        assert_eq!(params.get("state").map(String::as_str), Some("xyz"), "{r:?}");
        assert_eq!(params.get("iss").map(String::as_str), Some(ISSUER), "{r:?}");
        assert!(!params.contains_key("code"), "{r:?}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn consent_needs_the_signed_in_user_and_counts_once() {
    let az = TestAuthz::start().await;
    let app = az.web_app("Web").await;
    let browser = az.browser();
    let login = browser.get(&authorize_path(&app.client_id, REDIRECT, "api:read", "st", None)).await.expect(200);
    // Straight to the consent form with the login page's tokens, never signed in.
    let skipped = browser.decide(&login, "allow").await;
    assert_eq!(skipped.status, 403, "{skipped:?}");
    assert!(skipped.location().is_none(), "{skipped:?}");

    let consent = browser.login(&login, "alice", ALICE_PASSWORD).await.expect(200);
    // Another browser's session is not alice's sign-in to this request.
    let other = az.browser();
    other.set_cookie(&format!("tgc_{}", &consent.hidden("rid")[..8]), &consent.hidden("csrf"), "/oauth2");
    let foreign = other.decide(&consent, "allow").await;
    assert_eq!(foreign.status, 403, "{foreign:?}");
    assert!(foreign.location().is_none(), "{foreign:?}");

    let back = browser.decide(&consent, "allow").await;
    assert!(back.redirect_params(REDIRECT).contains_key("code"), "{back:?}");
    // The same form again gives no second code.
    let again = browser.decide(&consent, "allow").await;
    assert_ne!(again.status, 303, "{again:?}");
    assert!(again.location().is_none(), "{again:?}");
}
