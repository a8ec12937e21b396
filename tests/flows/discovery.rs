//! What a client can find out on its own: the JWKS and the RFC 8414 metadata.

use jsonwebtoken::{jwk::Jwk, DecodingKey, Validation};
use serde_json::{json, Value};

use crate::support::authz::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_jwks_publishes_the_key_that_signs_access_tokens() {
    let az = TestAuthz::start().await;
    let app = az.web_app("Web").await;
    let tokens = az.tokens(&app, "api:read").await;
    let token = tokens["access_token"].as_str().unwrap();
    let (header, _) = jwt_parts(token);
    let kid = header["kid"].as_str().expect("kid");

    let jwks = az.get("/oauth2/jwks").await.expect(200).json();
    let keys = jwks["keys"].as_array().unwrap_or_else(|| panic!("no keys: {jwks}"));
    let jwk = keys.iter().find(|k| k["kid"] == kid).unwrap_or_else(|| panic!("kid {kid} not in {jwks}"));
    assert!(jwk.get("d").is_none(), "the JWKS publishes a private key: {jwk}");

    // The published key verifies the token.
    let jwk: Jwk = serde_json::from_value(jwk.clone()).expect("a JWK");
    let alg = jwt_parts(token).0["alg"].as_str().unwrap().parse().expect("alg");
    let mut v = Validation::new(alg);
    v.set_audience(&[AUDIENCE]);
    v.set_issuer(&[ISSUER]);
    v.validate_exp = false;
    let decoded = jsonwebtoken::decode::<Value>(token, &DecodingKey::from_jwk(&jwk).unwrap(), &v);
    assert_eq!(decoded.expect("verifies with the published key").claims["sub"], "alice");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_metadata_describes_the_endpoints_and_what_they_accept() {
    let az = TestAuthz::start().await;
    let m = az.get("/.well-known/oauth-authorization-server").await.expect(200).json();
    assert_eq!(m["issuer"], ISSUER);
    for (field, path) in [
        ("authorization_endpoint", "/oauth2/authorize"),
        ("token_endpoint", "/oauth2/token"),
        ("jwks_uri", "/oauth2/jwks"),
        ("introspection_endpoint", "/oauth2/introspect"),
        ("revocation_endpoint", "/oauth2/revoke"),
    ] {
        assert_eq!(m[field], format!("{ISSUER}{path}"), "{field}: {m}");
    }
    assert_eq!(m["code_challenge_methods_supported"], json!(["S256"]));
    assert_eq!(m["response_types_supported"], json!(["code"]));
    let list = |field: &str| -> Vec<String> {
        m[field]
            .as_array()
            .unwrap_or_else(|| panic!("no {field}: {m}"))
            .iter()
            .map(|v| v.as_str().unwrap().to_string())
            .collect()
    };
    let grants = list("grant_types_supported");
    for g in
        ["authorization_code", "refresh_token", "client_credentials", "urn:ietf:params:oauth:grant-type:jwt-bearer"]
    {
        assert!(grants.iter().any(|x| x == g), "{g} missing: {grants:?}");
    }
    assert!(!grants.iter().any(|x| x == "password" || x == "implicit"), "{grants:?}");
    let methods = list("token_endpoint_auth_methods_supported");
    for am in ["client_secret_basic", "client_secret_post", "none"] {
        assert!(methods.iter().any(|x| x == am), "{am} missing: {methods:?}");
    }
    let scopes = list("scopes_supported");
    assert_eq!(scopes, ["api:read", "api:write", "offline_access"]);
}
