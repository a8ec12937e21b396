//! Machine-to-machine apps: client credentials, and JWT bearer assertions (RFC 7523) signed by a registered key.

use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::{json, Value};

use crate::support::admin::TestKey;
use crate::support::authz::*;
use crate::support::Alg;

const JWT_BEARER: &str = "urn:ietf:params:oauth:grant-type:jwt-bearer";

/// Signs `claims` as an assertion.
fn sign(key: &EncodingKey, alg: Algorithm, kid: Option<&str>, claims: &Value) -> String {
    let mut header = Header::new(alg);
    header.kid = kid.map(str::to_string);
    jsonwebtoken::encode(&header, claims, key).expect("sign the assertion")
}

/// Claims of a good assertion: iss = the app, sub = alice, exp a minute ahead on the server's clock, aud = issuer.
fn claims(az: &TestAuthz, app: &App) -> Value {
    json!({
        "iss": app.client_id, "sub": "alice", "aud": ISSUER,
        "exp": az.clock.now() + 60, "iat": az.clock.now(), "jti": random_string(12),
    })
}

async fn bearer(az: &TestAuthz, app: &App, assertion: &str) -> Reply {
    az.token(ClientAuth::Basic(app), &[("grant_type", JWT_BEARER), ("assertion", assertion)]).await
}

/// A machine app that may act as alice.
async fn acting_for_alice(az: &TestAuthz) -> App {
    az.app(json!({"type": "machine", "name": "Batch", "jwt_subjects": ["alice"]})).await
}

/// A machine app that may act as alice, with an ES256 public key registered as PEM; returns the key pair.
async fn with_es256_key(az: &TestAuthz) -> (App, EncodingKey) {
    let app = acting_for_alice(az).await;
    let key = TestKey::generate(Alg::ES256);
    az.registry.add_key(&app.client_id, &json!({"public_key": key.public_pem})).await.expect("add the public key");
    (app, EncodingKey::from_ec_pem(key.private_pem.as_bytes()).expect("EC private key"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_machine_app_gets_an_access_token_with_client_credentials() {
    let az = TestAuthz::start().await;
    let app = az.machine_app("Batch").await;
    let r = az.token(ClientAuth::Basic(&app), &[("grant_type", "client_credentials")]).await.expect(200);
    assert_eq!(r.header("cache-control"), Some("no-store"));
    let body = r.json();
    assert!(body.get("refresh_token").is_none(), "{body}");
    assert_eq!(body["token_type"], "Bearer");
    let token = body["access_token"].as_str().unwrap();
    let (header, claims) = jwt_parts(token);
    assert_eq!(header["typ"], "at+jwt");
    assert_eq!(claims["sub"], app.client_id.as_str());
    assert_eq!(claims["client_id"], app.client_id.as_str());
    assert_eq!(claims["iss"], ISSUER);
    az.api(token).await.expect(200);
    assert_eq!(az.upstream.last().unwrap().header("x-auth-subject"), Some(app.client_id.as_str()));

    // With the secret in the body, and a narrower scope.
    let r = az.token(ClientAuth::Post(&app), &[("grant_type", "client_credentials"), ("scope", "api:read")]).await;
    let body = r.expect(200).json();
    assert_eq!(body["scope"], "api:read");
    assert_eq!(jwt_parts(body["access_token"].as_str().unwrap()).1["scope"], "api:read");
    // A scope the server does not have.
    az.token(ClientAuth::Basic(&app), &[("grant_type", "client_credentials"), ("scope", "admin")])
        .await
        .oauth_error(400, "invalid_scope");
    // A wrong secret.
    az.token(ClientAuth::BasicWith(&app.client_id, "tgs_wrong"), &[("grant_type", "client_credentials")])
        .await
        .oauth_error(401, "invalid_client");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_assertion_signed_by_a_public_key_registered_as_pem_gets_a_token_for_its_subject() {
    let az = TestAuthz::start().await;
    let (app, key) = with_es256_key(&az).await;
    let r = bearer(&az, &app, &sign(&key, Algorithm::ES256, None, &claims(&az, &app))).await.expect(200);
    assert_eq!(r.header("cache-control"), Some("no-store"));
    let body = r.json();
    assert!(body.get("refresh_token").is_none(), "{body}");
    let token = body["access_token"].as_str().unwrap();
    let (_, c) = jwt_parts(token);
    assert_eq!(c["sub"], "alice");
    assert_eq!(c["client_id"], app.client_id.as_str());
    az.api(token).await.expect(200);
    let seen = az.upstream.last().unwrap();
    assert_eq!(seen.header("x-auth-subject"), Some("alice"));
    assert_eq!(seen.header("x-auth-client-id"), Some(app.client_id.as_str()));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_assertion_signed_by_a_generated_key_pair_gets_a_token() {
    let az = TestAuthz::start().await;
    let app = acting_for_alice(&az).await;
    let (view, private_pem) = az.registry.generate_key(&app.client_id, Some("RS256"), None).await.expect("generate");
    let kid = view.id.clone();
    let key = EncodingKey::from_rsa_pem(private_pem.expose().as_bytes()).expect("RSA private key");
    // With the key's id as kid, and without.
    for kid in [Some(kid.as_str()), None] {
        let r = bearer(&az, &app, &sign(&key, Algorithm::RS256, kid, &claims(&az, &app))).await.expect(200);
        let token = r.json()["access_token"].as_str().unwrap().to_string();
        assert_eq!(jwt_parts(&token).1["sub"], "alice");
        az.api(&token).await.expect(200);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bad_assertion_is_refused_with_invalid_grant() {
    let az = TestAuthz::start().await;
    let (app, key) = with_es256_key(&az).await;
    let now = az.clock.now();
    let with = |changes: Value| {
        let mut c = claims(&az, &app);
        for (k, v) in changes.as_object().unwrap() {
            if v.is_null() {
                c.as_object_mut().unwrap().remove(k);
            } else {
                c[k] = v.clone();
            }
        }
        c
    };
    let stranger = TestKey::generate(Alg::ES256);
    let stranger = EncodingKey::from_ec_pem(stranger.private_pem.as_bytes()).unwrap();
    let cases: Vec<(&str, String)> = vec![
        ("exp more than 5 minutes ahead", sign(&key, Algorithm::ES256, None, &with(json!({"exp": now + 301})))),
        ("expired", sign(&key, Algorithm::ES256, None, &with(json!({"exp": now - 1})))),
        ("iss is not the client", sign(&key, Algorithm::ES256, None, &with(json!({"iss": "someone-else"})))),
        ("unknown subject", sign(&key, Algorithm::ES256, None, &with(json!({"sub": "nobody"})))),
        ("aud is not the issuer", sign(&key, Algorithm::ES256, None, &with(json!({"aud": "https://evil.example"})))),
        ("unregistered key", sign(&stranger, Algorithm::ES256, None, &claims(&az, &app))),
        ("no exp", sign(&key, Algorithm::ES256, None, &with(json!({"exp": null})))),
    ];
    for (why, assertion) in cases {
        let r = bearer(&az, &app, &assertion).await;
        assert_eq!(r.status, 400, "{why}: {r:?}");
        assert_eq!(r.error(), "invalid_grant", "{why}: {r:?}");
    }

    // exp exactly 5 minutes ahead is fine; the same assertion (same jti) a second time is not.
    let assertion = sign(&key, Algorithm::ES256, None, &with(json!({"exp": now + 300})));
    bearer(&az, &app, &assertion).await.expect(200);
    bearer(&az, &app, &assertion).await.oauth_error(400, "invalid_grant");

    // Valid when signed, expired a minute later on the server's clock.
    let assertion = sign(&key, Algorithm::ES256, None, &claims(&az, &app));
    az.clock.advance(61);
    bearer(&az, &app, &assertion).await.oauth_error(400, "invalid_grant");
    // And without its secret, the app is not even authenticated.
    let assertion = sign(&key, Algorithm::ES256, None, &claims(&az, &app));
    let r = az.token(ClientAuth::Public(&app), &[("grant_type", JWT_BEARER), ("assertion", &assertion)]).await;
    r.oauth_error(401, "invalid_client");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_grant_type_is_for_its_kind_of_app_only() {
    let az = TestAuthz::start().await;
    let web = az.web_app("Web").await;
    let spa = az.spa_app("Spa").await;
    let (machine, key) = with_es256_key(&az).await;

    for auth in [ClientAuth::Basic(&web), ClientAuth::Public(&spa)] {
        az.token(auth, &[("grant_type", "client_credentials")]).await.oauth_error(400, "unauthorized_client");
        let assertion = sign(&key, Algorithm::ES256, None, &claims(&az, &machine));
        az.token(auth, &[("grant_type", JWT_BEARER), ("assertion", &assertion)])
            .await
            .oauth_error(400, "unauthorized_client");
    }
    let form = [("grant_type", "authorization_code"), ("code", "some-code"), ("redirect_uri", REDIRECT)];
    az.token(ClientAuth::Basic(&machine), &form).await.oauth_error(400, "unauthorized_client");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_token_endpoint_limits_each_client_with_429_and_retry_after() {
    let az = TestAuthz::start_with("token_rate_limit = \"3/m\"").await;
    let busy = az.machine_app("busy").await;
    let other = az.machine_app("other").await;
    for _ in 0..3 {
        az.token(ClientAuth::Basic(&busy), &[("grant_type", "client_credentials")]).await.expect(200);
    }
    let r = az.token(ClientAuth::Basic(&busy), &[("grant_type", "client_credentials")]).await.expect(429);
    assert_eq!(r.json()["error"], "temporarily_unavailable");
    let retry: u64 = r.headers["retry-after"].to_str().unwrap().parse().unwrap();
    assert!((1..=60).contains(&retry), "{retry}");
    az.token(ClientAuth::Basic(&other), &[("grant_type", "client_credentials")]).await.expect(200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_secret_of_another_app_authenticates_nothing_and_guessing_is_refused_at_once() {
    let az = TestAuthz::start().await;
    let mine = az.machine_app("mine").await;
    let theirs = az.machine_app("theirs").await;
    let form = [("grant_type", "client_credentials")];
    let r = az.token(ClientAuth::BasicWith(&mine.client_id, theirs.secret()), &form).await.expect(401);
    assert_eq!(r.json()["error"], "invalid_client");
    // After three failures for this client from this address, the next attempt is refused at once.
    for _ in 0..2 {
        az.token(ClientAuth::BasicWith(&mine.client_id, "tgs_guess"), &form).await.expect(401);
    }
    let r = az.token(ClientAuth::BasicWith(&mine.client_id, "tgs_guess"), &form).await;
    r.oauth_error(429, "temporarily_unavailable");
    let retry: i64 = r.header("retry-after").expect("Retry-After").parse().unwrap();
    // The right secret waits too, until the delay has passed; the other app was never affected.
    az.token(ClientAuth::Basic(&mine), &form).await.expect(429);
    az.token(ClientAuth::Basic(&theirs), &form).await.expect(200);
    az.clock.advance(retry);
    az.token(ClientAuth::Basic(&mine), &form).await.expect(200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_secrets_last_use_is_recorded_to_the_minute_not_at_every_token() {
    let az = TestAuthz::start().await;
    let app = az.machine_app("Busy").await;
    let last_used = || async {
        let view = az.registry.app(&app.client_id).await.unwrap();
        view.to_json()["secrets"][0]["last_used_at"].clone()
    };
    assert!(last_used().await.is_null());
    let issue = || az.token(ClientAuth::Basic(&app), &[("grant_type", "client_credentials")]);
    issue().await.expect(200);
    let first = last_used().await;
    assert!(!first.is_null());
    // Within the minute: no write.
    az.clock.advance(30);
    issue().await.expect(200);
    assert_eq!(last_used().await, first);
    // A minute later: written again.
    az.clock.advance(31);
    issue().await.expect(200);
    let later = last_used().await;
    assert_ne!(later, first, "{later} vs {first}");
}

// ---- RFC 7523: what an assertion must carry, and whom and what a machine app may ask for ----

/// The answer to an assertion with `changes` made to a good one (a null value removes the claim).
async fn assertion_with(az: &TestAuthz, app: &App, key: &EncodingKey, changes: Value) -> Reply {
    let mut c = claims(az, app);
    for (k, v) in changes.as_object().unwrap() {
        if v.is_null() {
            c.as_object_mut().unwrap().remove(k);
        } else {
            c[k] = v.clone();
        }
    }
    bearer(az, app, &sign(key, Algorithm::ES256, None, &c)).await
}

#[track_caller]
fn refused_because(r: &Reply, error: &str, words: &str) {
    r.oauth_error(400, error);
    let d = r.json()["error_description"].as_str().unwrap_or_default().to_string();
    assert!(d.contains(words), "expected {words:?} in the description: {r:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_assertion_without_jti_is_refused() {
    let az = TestAuthz::start().await;
    let (app, key) = with_es256_key(&az).await;
    refused_because(&assertion_with(&az, &app, &key, json!({"jti": null})).await, "invalid_grant", "jti");
    refused_because(&assertion_with(&az, &app, &key, json!({"jti": ""})).await, "invalid_grant", "jti");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_replayed_jti_is_refused_until_the_assertion_expires() {
    let az = TestAuthz::start().await;
    let (app, key) = with_es256_key(&az).await;
    let jti = random_string(12);
    assertion_with(&az, &app, &key, json!({"jti": jti})).await.expect(200);
    // The same id in another assertion (another exp), a little later.
    az.clock.advance(30);
    let r = assertion_with(&az, &app, &key, json!({"jti": jti, "exp": az.clock.now() + 60})).await;
    refused_because(&r, "invalid_grant", "already used");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_assertion_without_aud_or_with_another_aud_is_refused() {
    let az = TestAuthz::start().await;
    let (app, key) = with_es256_key(&az).await;
    refused_because(&assertion_with(&az, &app, &key, json!({"aud": null})).await, "invalid_grant", "aud");
    for aud in [json!("https://evil.example"), json!(["https://evil.example"]), json!(42)] {
        refused_because(&assertion_with(&az, &app, &key, json!({"aud": aud})).await, "invalid_grant", "aud");
    }
    // The token endpoint is an accepted audience, as is the issuer.
    let token_endpoint = format!("{ISSUER}/oauth2/token");
    assertion_with(&az, &app, &key, json!({"aud": token_endpoint})).await.expect(200);
    assertion_with(&az, &app, &key, json!({"aud": ["https://other.example", ISSUER]})).await.expect(200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_assertion_issued_or_valid_only_in_the_future_is_refused() {
    let az = TestAuthz::start().await;
    let (app, key) = with_es256_key(&az).await;
    let now = az.clock.now();
    refused_because(&assertion_with(&az, &app, &key, json!({"iat": now + 120})).await, "invalid_grant", "iat");
    refused_because(&assertion_with(&az, &app, &key, json!({"nbf": now + 120})).await, "invalid_grant", "nbf");
    refused_because(&assertion_with(&az, &app, &key, json!({"iat": "soon"})).await, "invalid_grant", "iat");
    // Within the 30 s leeway for clock skew: accepted.
    assertion_with(&az, &app, &key, json!({"iat": now + 20, "nbf": now + 20})).await.expect(200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_assertion_living_longer_than_five_minutes_is_refused() {
    let az = TestAuthz::start().await;
    let (app, key) = with_es256_key(&az).await;
    let now = az.clock.now();
    // Issued 10 minutes ago and still valid for a minute: 11 minutes of life.
    let r = assertion_with(&az, &app, &key, json!({"iat": now - 600, "exp": now + 60})).await;
    refused_because(&r, "invalid_grant", "longer than 5 minutes");
    refused_because(&assertion_with(&az, &app, &key, json!({"exp": now + 301})).await, "invalid_grant", "exp");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_assertion_naming_a_user_the_app_may_not_act_as_is_refused() {
    let az = TestAuthz::start().await;
    az.registry.add_user("bob", "bob-password", true).await.expect("add bob");
    let (app, key) = with_es256_key(&az).await;
    refused_because(&assertion_with(&az, &app, &key, json!({"sub": "bob"})).await, "invalid_grant", "jwt_subjects");
    // An app with no jwt_subjects (the default) may act as nobody.
    let plain = az.machine_app("Plain").await;
    assert_eq!(plain.view["jwt_subjects"], json!([]));
    let pk = TestKey::generate(Alg::ES256);
    az.registry.add_key(&plain.client_id, &json!({"public_key": pk.public_pem})).await.unwrap();
    let pk = EncodingKey::from_ec_pem(pk.private_pem.as_bytes()).unwrap();
    refused_because(&assertion_with(&az, &plain, &pk, json!({})).await, "invalid_grant", "jwt_subjects");
    // Once an admin allows bob, bob it is.
    az.update_app(&app, json!({"jwt_subjects": ["alice", "bob"]})).await;
    let r = assertion_with(&az, &app, &key, json!({"sub": "bob"})).await.expect(200);
    assert_eq!(jwt_parts(r.json()["access_token"].as_str().unwrap()).1["sub"], "bob");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_scope_the_app_may_not_have_is_refused_with_invalid_scope() {
    let az = TestAuthz::start().await;
    let (app, key) = with_es256_key(&az).await;
    az.update_app(&app, json!({"scopes": ["api:read"]})).await;
    let r = assertion_with(&az, &app, &key, json!({})).await.expect(200);
    assert_eq!(r.json()["scope"], "api:read", "asking for nothing gets what the app may have");
    let assertion = sign(&key, Algorithm::ES256, None, &claims(&az, &app));
    let form = [("grant_type", JWT_BEARER), ("assertion", assertion.as_str()), ("scope", "api:write")];
    refused_because(&az.token(ClientAuth::Basic(&app), &form).await, "invalid_scope", "api:write");
    // Client credentials obey the same list.
    let form = [("grant_type", "client_credentials"), ("scope", "api:read api:write")];
    refused_because(&az.token(ClientAuth::Basic(&app), &form).await, "invalid_scope", "api:write");
    let r = az.token(ClientAuth::Basic(&app), &[("grant_type", "client_credentials")]).await.expect(200);
    assert_eq!(r.json()["scope"], "api:read");
    // offline_access is never a machine app's, even when listed: dropped from the request, no refresh token
    // (RFC 6749 4.4.3).
    az.update_app(&app, json!({"scopes": ["api:read", "offline_access"]})).await;
    let form = [("grant_type", "client_credentials"), ("scope", "api:read offline_access")];
    let body = az.token(ClientAuth::Basic(&app), &form).await.expect(200).json();
    assert_eq!(body["scope"], "api:read");
    assert!(body.get("refresh_token").is_none(), "{body}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_assertion_naming_critical_header_extensions_is_refused() {
    // Regression: assertions were decoded by a second JWT verifier that ignored `crit` (RFC 7515 4.1.11); they now
    // go through the edge's one parser and signature check.
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;
    use base64::Engine;
    let az = TestAuthz::start().await;
    let (app, key) = with_es256_key(&az).await;
    let signed = |header: Value| {
        let input = format!(
            "{}.{}",
            URL_SAFE_NO_PAD.encode(header.to_string()),
            URL_SAFE_NO_PAD.encode(claims(&az, &app).to_string())
        );
        let signature = jsonwebtoken::crypto::sign(input.as_bytes(), &key, Algorithm::ES256).expect("sign");
        format!("{input}.{signature}")
    };
    // The same assertion is accepted without the extension, so the refusal is the extension's.
    bearer(&az, &app, &signed(json!({"alg": "ES256", "typ": "JWT"}))).await.expect(200);
    let r = bearer(&az, &app, &signed(json!({"alg": "ES256", "crit": ["x-tenant"], "x-tenant": "a"}))).await;
    refused_because(&r, "invalid_grant", "critical");
}

// ---- private_key_jwt (RFC 7523 2.2) and a JWT bearer grant without client authentication (RFC 7523 3.1) ----

const CLIENT_ASSERTION_TYPE: &str = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";

/// A client assertion: iss = sub = the client, aud = the token endpoint, a minute ahead, a fresh jti.
fn client_assertion(az: &TestAuthz, app: &App, key: &EncodingKey, changes: Value) -> String {
    let mut c = json!({
        "iss": app.client_id, "sub": app.client_id, "aud": format!("{ISSUER}/oauth2/token"),
        "exp": az.clock.now() + 60, "iat": az.clock.now(), "jti": random_string(12),
    });
    for (k, v) in changes.as_object().unwrap() {
        c[k] = v.clone();
    }
    sign(key, Algorithm::ES256, None, &c)
}

/// `POST /oauth2/token` with these pairs and no other client authentication.
async fn token_with(az: &TestAuthz, pairs: Vec<(String, String)>) -> Reply {
    let refs: Vec<(&str, &str)> = pairs.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    az.token(ClientAuth::Nothing, &refs).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_machine_app_authenticates_with_a_jwt_signed_by_its_registered_key() {
    let az = TestAuthz::start().await;
    let (app, key) = with_es256_key(&az).await;
    let with = |assertion: &str| {
        vec![
            ("grant_type".to_string(), "client_credentials".to_string()),
            ("client_assertion_type".to_string(), CLIENT_ASSERTION_TYPE.to_string()),
            ("client_assertion".to_string(), assertion.to_string()),
        ]
    };
    let send = |pairs: Vec<(String, String)>| token_with(&az, pairs);
    let good = client_assertion(&az, &app, &key, json!({}));
    let body = send(with(&good)).await.expect(200).json();
    assert_eq!(jwt_parts(body["access_token"].as_str().unwrap()).1["client_id"], app.client_id.as_str());
    // Used once.
    send(with(&good)).await.oauth_error(401, "invalid_client");
    // sub must be the client; the key must be the app's; the assertion must be for this server.
    let stranger = TestKey::generate(Alg::ES256);
    let stranger = EncodingKey::from_ec_pem(stranger.private_pem.as_bytes()).unwrap();
    for (why, assertion) in [
        ("sub is a user", client_assertion(&az, &app, &key, json!({"sub": "alice"}))),
        ("another key", client_assertion(&az, &app, &stranger, json!({}))),
        ("another audience", client_assertion(&az, &app, &key, json!({"aud": "https://elsewhere.example"}))),
        ("expired", client_assertion(&az, &app, &key, json!({"exp": az.clock.now() - 1}))),
    ] {
        let r = send(with(&assertion)).await;
        r.oauth_error(401, "invalid_client");
        assert_eq!(r.header("www-authenticate"), Some("Basic realm=\"tokengate\""), "{why}");
        // A good assertion still works after a refused one (and clears the failure count).
        send(with(&client_assertion(&az, &app, &key, json!({})))).await.expect(200);
    }
    // Failures count like wrong secrets: after a few in a row, refused at once with 429.
    let mut answers = Vec::new();
    for _ in 0..6 {
        answers.push(send(with(&client_assertion(&az, &app, &stranger, json!({})))).await);
    }
    let first_429 = answers.iter().position(|r| r.status == 429).expect("throttled within six failures");
    assert!(first_429 >= 1 && answers[..first_429].iter().all(|r| r.status == 401), "{answers:?}");
    answers[first_429].oauth_error(429, "temporarily_unavailable");
    // One method at a time, and only this assertion type.
    let mut both = with(&client_assertion(&az, &app, &key, json!({})));
    both.push(("client_secret".into(), app.secret().into()));
    send(both).await.oauth_error(400, "invalid_request");
    let mut other_type = with(&client_assertion(&az, &app, &key, json!({})));
    other_type[1].1 = "urn:example:other".into();
    send(other_type).await.oauth_error(400, "invalid_request");
    // The metadata says so.
    let meta = az.get("/.well-known/oauth-authorization-server").await.expect(200).json();
    assert!(meta["token_endpoint_auth_methods_supported"].as_array().unwrap().iter().any(|m| m == "private_key_jwt"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_jwt_bearer_assertion_alone_authenticates_its_app() {
    // Regression: RFC 7523 3.1 makes client authentication optional for this grant; the request was refused
    // with invalid_client.
    let az = TestAuthz::start().await;
    let (app, key) = with_es256_key(&az).await;
    let assertion = sign(&key, Algorithm::ES256, None, &claims(&az, &app));
    let body = az
        .token(ClientAuth::Nothing, &[("grant_type", JWT_BEARER), ("assertion", assertion.as_str())])
        .await
        .expect(200)
        .json();
    assert_eq!(jwt_parts(body["access_token"].as_str().unwrap()).1["sub"], "alice");
    // Forged with another key, or naming no known client: refused, the signature being the only credential.
    let stranger = TestKey::generate(Alg::ES256);
    let stranger = EncodingKey::from_ec_pem(stranger.private_pem.as_bytes()).unwrap();
    let forged = sign(&stranger, Algorithm::ES256, None, &claims(&az, &app));
    az.token(ClientAuth::Nothing, &[("grant_type", JWT_BEARER), ("assertion", forged.as_str())])
        .await
        .oauth_error(400, "invalid_grant");
    let mut nobody = claims(&az, &app);
    nobody["iss"] = "no-such-client".into();
    let nobody = sign(&key, Algorithm::ES256, None, &nobody);
    az.token(ClientAuth::Nothing, &[("grant_type", JWT_BEARER), ("assertion", nobody.as_str())])
        .await
        .oauth_error(400, "invalid_grant");
}
