//! Who a token names, end to end: identities kept as text from the store to the edge's revocation check, whatever
//! letters a username holds; and tokengate's own credentials kept inside the process when the edge also trusts an
//! external issuer.

use serde_json::json;

use crate::support::authz::*;
use crate::support::{client, TestIssuer, AUDIENCE as EXTERNAL_AUDIENCE};

/// A code for `username` through the sign-in and consent pages.
async fn code_as(az: &TestAuthz, app: &App, username: &str, password: &str, scope: &str) -> String {
    let browser = az.browser();
    let state = random_string(12);
    let login = browser.get(&authorize_path(&app.client_id, REDIRECT, scope, &state, None)).await.expect(200);
    let signed_in = browser.login(&login, username, password).await;
    let back = if signed_in.status == 303 { signed_in } else { browser.decide(&signed_in.expect(200), "allow").await };
    let params = back.expect(303).redirect_params(REDIRECT);
    params.get("code").cloned().unwrap_or_else(|| panic!("no code for {username}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_disabled_user_with_a_non_ascii_name_is_refused_at_the_edge_and_at_introspection() {
    let az = TestAuthz::start().await;
    let password = "zoë-password-1";
    az.registry.add_user("zoë", password, false).await.expect("zoë can be created");
    let app = az.web_app("Web").await;
    let code = code_as(&az, &app, "zoë", password, "api:read").await;
    let tokens = az.exchange(ClientAuth::Basic(&app), &code, None).await.expect(200).json();
    let access = tokens["access_token"].as_str().unwrap().to_string();
    assert_eq!(az.api_status(&access).await, 200);
    let seen = az.upstream.last().unwrap();
    assert_eq!(seen.header("x-auth-subject"), Some("zoë"), "the subject is forwarded as its UTF-8 bytes");
    assert_eq!(az.introspect(ClientAuth::Basic(&app), &access).await.expect(200).json()["active"], true);

    az.registry.update_user("zoë", &json!({"disabled": true})).await.unwrap();
    assert_eq!(az.api_status(&access).await, 401, "a disabled user's token kept working at the edge");
    let answer = az.introspect(ClientAuth::Basic(&app), &access).await.expect(200).json();
    assert_eq!(answer["active"], false, "{answer}");
}

/// The built-in authorization server next to an external issuer that introspects opaque tokens.
pub struct WithExternal {
    pub az: TestAuthz,
    pub issuer: TestIssuer,
}

/// Starts [`WithExternal`].
pub async fn authz_with_external_issuer() -> WithExternal {
    let issuer = TestIssuer::start().await;
    let tables = format!(
        "[[auth.issuers]]\nissuer = \"{}\"\naudiences = [\"{EXTERNAL_AUDIENCE}\"]\nalgorithms = [\"ES256\"]\n\n\
         [auth.issuers.introspection]\nclient_id = \"gateway\"\nclient_secret = \"gateway-secret\"\n",
        issuer.issuer_url()
    );
    let az = TestAuthz::start_with_tables("", &tables).await;
    // Ready once the external issuer's keys are loaded.
    for _ in 0..200 {
        if client().get(format!("{}/readyz", az.metrics_url)).send().await.is_ok_and(|r| r.status() == 200) {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    WithExternal { az, issuer }
}

/// Regression: introspection verified the server's own tokens a second way (no leeway, no audience or `typ` check),
/// so it called active what the edge refused. Both now run the edge's one verifier.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn introspection_and_the_edge_agree_on_expired_wrong_audience_and_wrong_typ_tokens() {
    use jsonwebtoken::{EncodingKey, Header};
    let az = TestAuthz::start().await;
    let app = az.web_app("Web").await;
    let keys = az.registry.store().signing_keys().await.unwrap();
    let key = keys.iter().find(|k| k.retired_at.is_none()).expect("a current signing key");
    assert_eq!(key.alg, "ES256");
    let signing = EncodingKey::from_ec_pem(key.private_pem.expose().as_bytes()).unwrap();
    let now = az.clock.now();
    let mint = |typ: &str, aud: &str, exp: i64| {
        let mut header = Header::new(jsonwebtoken::Algorithm::ES256);
        header.kid = Some(key.kid.clone());
        header.typ = Some(typ.into());
        let claims = json!({"iss": ISSUER, "sub": "alice", "aud": aud, "exp": exp, "iat": now - 10, "jti": "j1",
                            "client_id": app.client_id, "scope": "api:read"});
        jsonwebtoken::encode(&header, &claims, &signing).unwrap()
    };
    let cases = [
        ("a valid token", mint("at+jwt", AUDIENCE, now + 300), true),
        ("an expired token", mint("at+jwt", AUDIENCE, now - 60), false),
        ("a token for another audience", mint("at+jwt", "https://other.example/", now + 300), false),
        ("a token of another type", mint("JWT", AUDIENCE, now + 300), false),
    ];
    for (what, token, valid) in cases {
        let at_edge = az.api_status(&token).await;
        let answer = az.introspect(ClientAuth::Basic(&app), &token).await.expect(200).json();
        assert_eq!(at_edge == 200, valid, "{what}: the edge answered {at_edge}");
        assert_eq!(answer["active"], valid, "{what}: introspection answered {answer}");
    }
}
