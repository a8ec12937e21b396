//! JWT checks: every algorithm, every claim, every forgery.

use serde_json::json;

use crate::support::*;

async fn status(s: &Stack, token: &str) -> u16 {
    s.gateway.get("/api/items", Some(token)).await.status().as_u16()
}

async fn reason(s: &Stack, token: &str) -> String {
    let r = s.gateway.get("/api/items", Some(token)).await;
    assert_eq!(r.status(), 401, "expected a refusal");
    json(r).await["error_description"].as_str().unwrap().to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn valid_tokens_of_each_algorithm_pass() {
    let s = Stack::start().await;
    s.issuer.add_key(Alg::RS256, "rs-1");
    s.issuer.add_key(Alg::EdDSA, "ed-1");
    for kid in ["es-1", "rs-1", "ed-1"] {
        let token = s.issuer.mint_as(kid, &Claims::new(&s.issuer));
        assert_eq!(status(&s, &token).await, 200, "{kid}");
    }
    assert_eq!(s.upstream.hits(), 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sessionid_header_carries_the_token_too() {
    let s = Stack::start().await;
    let token = s.issuer.mint(&Claims::new(&s.issuer));
    let r = s.gateway.request(reqwest::Method::GET, "/api/x").header("sessionID", &token).send().await.unwrap();
    assert_eq!(r.status(), 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_signature_is_refused() {
    let s = Stack::start().await;
    let token = s.issuer.mint(&Claims::new(&s.issuer).scope("api:read"));
    let mut parts: Vec<String> = token.split('.').map(String::from).collect();
    // Same header and signature, a payload granting more.
    let forged = Claims::new(&s.issuer).scope("api:read api:write admin");
    parts[1] = b64url(serde_json::to_vec(&forged.to_json()).unwrap());
    assert!(reason(&s, &parts.join(".")).await.contains("signature"));
    // Signature truncated, stripped.
    assert_eq!(status(&s, &token[..token.len() - 10]).await, 401);
    let stripped = token.rsplit_once('.').unwrap().0.to_string() + ".";
    assert_eq!(status(&s, &stripped).await, 401);
    assert_eq!(s.upstream.hits(), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn expired_and_not_yet_valid_tokens_are_refused_with_leeway() {
    let s = Stack::start().await;
    let now = now();
    assert!(reason(&s, &s.issuer.mint(&Claims::new(&s.issuer).exp(now - 120))).await.contains("expired"));
    // Within the default 30 s leeway.
    assert_eq!(status(&s, &s.issuer.mint(&Claims::new(&s.issuer).exp(now - 10))).await, 200);
    assert!(reason(&s, &s.issuer.mint(&Claims::new(&s.issuer).nbf(now + 120))).await.contains("not valid yet"));
    assert!(reason(&s, &s.issuer.mint(&Claims::new(&s.issuer).without("exp"))).await.contains("claim"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn another_issuer_or_audience_is_refused() {
    let s = Stack::start().await;
    let other = s.issuer.mint(&Claims::new(&s.issuer).iss("https://evil.example"));
    assert!(reason(&s, &other).await.contains("issuer"));
    let aud = s.issuer.mint(&Claims::new(&s.issuer).aud_list(&["x", "y"]));
    assert!(reason(&s, &aud).await.contains("audience"));
    let no_aud = s.issuer.mint(&Claims::new(&s.issuer).without("aud"));
    assert!(reason(&s, &no_aud).await.contains("audience"));
    let ok = s.issuer.mint(&Claims::new(&s.issuer).aud_list(&["x", AUDIENCE]));
    assert_eq!(status(&s, &ok).await, 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn algorithms_are_pinned_per_issuer() {
    let s = Stack::start_with(|c| c.issuer_extra = "algorithms = [\"ES256\"]".into()).await;
    s.issuer.add_key(Alg::RS256, "rs-1");
    let token = s.issuer.mint_as("rs-1", &Claims::new(&s.issuer));
    assert!(reason(&s, &token).await.contains("algorithm"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn alg_none_in_any_case_is_refused() {
    let s = Stack::start().await;
    for alg in ["none", "None", "NONE", "nOnE"] {
        let t = forge_unsigned(json!({"alg": alg, "typ": "at+jwt", "kid": "es-1"}), Claims::new(&s.issuer).to_json());
        assert_eq!(status(&s, &t).await, 401, "{alg}");
    }
    assert_eq!(s.upstream.hits(), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hmac_signed_with_the_public_key_is_refused() {
    let s = Stack::start().await;
    s.issuer.add_key(Alg::RS256, "rs-1");
    let claims = Claims::new(&s.issuer).to_json();
    let jwk = s.issuer.public_jwk("rs-1");
    for secret in [
        s.issuer.public_key_pem("rs-1").into_bytes(),
        serde_json::to_vec(&jwk).unwrap(),
        jwk["n"].as_str().unwrap().as_bytes().to_vec(),
    ] {
        for kid in ["rs-1", "es-1"] {
            let t = forge_hs256(&secret, json!({"alg": "HS256", "typ": "at+jwt", "kid": kid}), claims.clone());
            assert_eq!(status(&s, &t).await, 401);
        }
    }
    assert_eq!(s.upstream.hits(), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keys_offered_by_the_token_are_never_used_or_fetched() {
    let s = Stack::start().await;
    // An attacker's own key, not in the issuer's JWKS, offered through jku / x5u / jwk.
    s.issuer.add_unpublished_key(Alg::ES256, "attacker");
    let attacker_jwk = s.issuer.public_jwk("attacker");
    let claims = Claims::new(&s.issuer).to_json();
    let before = s.issuer.jwks_calls();
    for header in [
        json!({"jku": s.issuer.jwks_uri().replace("/jwks", "/attacker-jwks"), "kid": "attacker"}),
        json!({"x5u": "http://127.0.0.1:1/cert.pem", "kid": "attacker"}),
        json!({"jwk": attacker_jwk, "kid": "attacker"}),
        json!({"jwk": attacker_jwk, "kid": null}),
    ] {
        let t = s.issuer.mint_with("attacker", header, claims.clone());
        assert_eq!(status(&s, &t).await, 401);
    }
    assert_eq!(s.upstream.hits(), 0);
    // The unknown kid caused at most one refetch of the issuer's own JWKS, never anything else.
    assert!(s.issuer.jwks_calls() - before <= 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_critical_headers_are_refused() {
    let s = Stack::start().await;
    let t = s.issuer.mint_with("es-1", json!({"crit": ["exp"], "exp": 1}), Claims::new(&s.issuer).to_json());
    assert!(reason(&s, &t).await.contains("critical"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn required_typ_is_enforced() {
    let s = Stack::start_with(|c| c.issuer_extra = "require_typ = \"at+jwt\"".into()).await;
    let claims = Claims::new(&s.issuer).to_json();
    assert_eq!(status(&s, &s.issuer.mint_with("es-1", json!({}), claims.clone())).await, 200);
    assert_eq!(
        status(&s, &s.issuer.mint_with("es-1", json!({"typ": "application/at+jwt"}), claims.clone())).await,
        200
    );
    assert!(reason(&s, &s.issuer.mint_with("es-1", json!({"typ": "JWT"}), claims.clone())).await.contains("type"));
    assert!(reason(&s, &s.issuer.mint_with("es-1", json!({"typ": null}), claims)).await.contains("type"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_tokens_are_refused() {
    let s = Stack::start().await;
    let good = s.issuer.mint(&Claims::new(&s.issuer));
    let segs: Vec<&str> = good.split('.').collect();
    let big = format!("eyJ{}", "A".repeat(16 * 1024));
    for bad in [
        format!("{}.{}", segs[0], segs[1]),
        format!("{}.{}.{}.{}", segs[0], segs[1], segs[2], segs[2]),
        format!("{}..{}", segs[0], segs[2]),
        format!("eyJ!!!.{}.{}", segs[1], segs[2]),
        big,
    ] {
        assert_eq!(status(&s, &bad).await, 401, "{}", &bad[..bad.len().min(40)]);
    }
    // Non-ASCII bytes in the header value.
    let r = s
        .gateway
        .request(reqwest::Method::GET, "/api/x")
        .header("authorization", reqwest::header::HeaderValue::from_bytes(b"Bearer eyJ\xff\xfe.a.b").unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    assert_eq!(s.upstream.hits(), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn control_characters_in_claims_are_refused_not_forwarded() {
    let s = Stack::start().await;
    let t = s.issuer.mint(&Claims::new(&s.issuer).sub("alice\r\nX-Auth-Scopes: admin"));
    assert_eq!(status(&s, &t).await, 401);
    assert_eq!(s.upstream.hits(), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_verified_token_is_cached_until_its_exp_on_the_injected_clock() {
    let s = Stack::start().await;
    let exp = now() + 120;
    let token = s.issuer.mint(&Claims::new(&s.issuer).exp(exp));
    assert_eq!(status(&s, &token).await, 200);
    assert_eq!(status(&s, &token).await, 200);
    assert_eq!(s.gateway.metric("tokengate_token_cache_requests_total{kind=\"jwt\",result=\"hit\"}").await, 1.0);
    // Past exp + leeway on the gateway's clock: the cached entry is not used.
    s.gateway.clock.set(exp + 31);
    assert!(reason(&s, &token).await.contains("expired"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kid_tricks_find_no_key() {
    let s = Stack::start().await;
    let claims = Claims::new(&s.issuer).to_json();
    for kid in ["../../../../etc/passwd", "es-1' OR '1'='1", "es-1\u{0000}", "", "/dev/null", "es-1/../es-1", "*"] {
        let t = s.issuer.mint_with("es-1", json!({"kid": kid}), claims.clone());
        assert_eq!(status(&s, &t).await, 401, "{kid:?}");
    }
    assert_eq!(s.upstream.hits(), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn algorithm_mix_ups_are_refused() {
    let s = Stack::start_with(|c| c.issuer_extra = "algorithms = [\"RS256\", \"PS256\", \"ES256\", \"EdDSA\"]".into())
        .await;
    s.issuer.add_key(Alg::RS256, "rs-1");
    let claims = Claims::new(&s.issuer).to_json();
    // Signed RS256, labelled PS256 (same key family, other padding); labelled ES256 or EdDSA with an RSA kid.
    for alg in ["PS256", "ES256", "EdDSA", "RS384"] {
        let t = s.issuer.mint_with("rs-1", json!({"alg": alg}), claims.clone());
        assert_eq!(status(&s, &t).await, 401, "{alg}");
    }
    // Signed ES256, labelled RS256 with the EC kid.
    let t = s.issuer.mint_with("es-1", json!({"alg": "RS256"}), claims);
    assert_eq!(status(&s, &t).await, 401);
    assert_eq!(s.upstream.hits(), 0);
}
