//! Opaque tokens: RFC 7662 introspection, its cache, single-flight, negative caching, failures.

use std::time::Duration;

use crate::support::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_active_opaque_token_passes_and_is_cached() {
    let s = Stack::start().await;
    s.issuer.register_opaque_active("opaque-1", "api:read", "bob", "app-2", Some(now() + 600));
    let r = s.gateway.get("/api/x", Some("opaque-1")).await;
    assert_eq!(r.status(), 200);
    let seen = s.upstream.last().unwrap();
    assert_eq!(seen.header("x-auth-subject"), Some("bob"));
    assert_eq!(seen.header("x-auth-client-id"), Some("app-2"));
    assert_eq!(s.gateway.get("/api/x", Some("opaque-1")).await.status(), 200);
    assert_eq!(s.issuer.introspect_calls(), 1);
    // The gateway authenticated itself and sent the token as a form field.
    let form = s.issuer.last_introspect_form().unwrap();
    assert!(form.contains(&("token".to_string(), "opaque-1".to_string())));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_inactive_token_is_refused_and_negatively_cached() {
    let s = Stack::start().await;
    for _ in 0..3 {
        let r = s.gateway.get("/api/x", Some("revoked-or-unknown")).await;
        assert_eq!(r.status(), 401);
        assert!(json(r).await["error_description"].as_str().unwrap().contains("not active"));
    }
    assert_eq!(s.issuer.introspect_calls(), 1);
    // After negative_cache_ttl_secs (10) on the gateway's clock, it asks again.
    s.gateway.clock.advance(11);
    assert_eq!(s.gateway.get("/api/x", Some("revoked-or-unknown")).await.status(), 401);
    assert_eq!(s.issuer.introspect_calls(), 2);
    assert_eq!(s.upstream.hits(), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_misses_for_one_token_make_one_introspection_call() {
    let s = Stack::start().await;
    s.issuer.register_opaque_active("burst", "api:read", "bob", "app-2", Some(now() + 600));
    s.issuer.set_introspect_fault(Fault::Delay(Duration::from_millis(300)));
    let c = client();
    let mut tasks = Vec::new();
    for _ in 0..100 {
        let c = c.clone();
        let url = format!("{}/api/x", s.gateway.url);
        tasks.push(tokio::spawn(async move { c.get(url).bearer_auth("burst").send().await.unwrap().status() }));
    }
    for t in tasks {
        assert_eq!(t.await.unwrap(), 200);
    }
    assert_eq!(s.issuer.introspect_calls(), 1);
    assert_eq!(s.upstream.hits(), 100);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_cache_never_outlives_the_tokens_exp() {
    let s = Stack::start().await;
    let exp = now() + 60; // cache_ttl_secs is 300: exp must bound it
    s.issuer.register_opaque_active("short", "api:read", "bob", "app-2", Some(exp));
    assert_eq!(s.gateway.get("/api/x", Some("short")).await.status(), 200);
    s.gateway.clock.advance(30);
    assert_eq!(s.gateway.get("/api/x", Some("short")).await.status(), 200);
    assert_eq!(s.issuer.introspect_calls(), 1);
    s.gateway.clock.set(exp + 1);
    // The entry is stale: the issuer is asked again, and its answer (exp passed) is refused.
    assert_eq!(s.gateway.get("/api/x", Some("short")).await.status(), 401);
    assert_eq!(s.issuer.introspect_calls(), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_cache_ttl_applies_when_exp_is_far() {
    let s = Stack::start().await;
    s.issuer.register_opaque_active("long", "api:read", "bob", "app-2", Some(now() + 86_400));
    assert_eq!(s.gateway.get("/api/x", Some("long")).await.status(), 200);
    s.gateway.clock.advance(301);
    assert_eq!(s.gateway.get("/api/x", Some("long")).await.status(), 200);
    assert_eq!(s.issuer.introspect_calls(), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn introspection_answers_are_checked() {
    let s = Stack::start().await;
    let iss = s.issuer.issuer_url();
    s.issuer.register_opaque(
        "other-iss",
        serde_json::json!({"active": true, "scope": "api:read", "iss": "https://evil.example"}),
    );
    s.issuer.register_opaque(
        "other-aud",
        serde_json::json!({"active": true, "scope": "api:read", "iss": iss, "aud": "https://elsewhere/"}),
    );
    s.issuer.register_opaque(
        "refresh",
        serde_json::json!({"active": true, "scope": "api:read", "token_type": "refresh_token"}),
    );
    s.issuer.register_opaque("expired", serde_json::json!({"active": true, "scope": "api:read", "exp": now() - 100}));
    for t in ["other-iss", "other-aud", "refresh", "expired"] {
        assert_eq!(s.gateway.get("/api/x", Some(t)).await.status(), 401, "{t}");
    }
    assert_eq!(s.upstream.hits(), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn introspection_down_gives_503_while_cached_tokens_keep_working() {
    let s = Stack::start().await;
    s.issuer.register_opaque_active("cached", "api:read", "bob", "app-2", Some(now() + 600));
    assert_eq!(s.gateway.get("/api/x", Some("cached")).await.status(), 200);
    let faults = [Fault::Down, Fault::Status(500), Fault::Garbage, Fault::Delay(Duration::from_millis(1500))];
    for (i, fault) in faults.into_iter().enumerate() {
        let (new, fine) = (format!("new-{i}"), format!("fine-{i}"));
        s.issuer.register_opaque_active(&new, "api:read", "bob", "app-2", Some(now() + 600));
        s.issuer.register_opaque_active(&fine, "api:read", "bob", "app-2", Some(now() + 600));
        s.issuer.set_introspect_fault(fault);
        let r = s.gateway.get("/api/x", Some(&new)).await;
        assert_eq!(r.status(), 503);
        assert!(r.headers().contains_key("retry-after"));
        assert_eq!(json(r).await["error"], "temporarily_unavailable");
        assert_eq!(s.gateway.get("/api/x", Some("cached")).await.status(), 200);
        // Nothing was cached from the failure: one failure in a row leaves the breaker closed, so the next token is
        // introspected at once.
        s.issuer.set_introspect_fault(Fault::None);
        assert_eq!(s.gateway.get("/api/x", Some(&fine)).await.status(), 200);
    }
    assert_eq!(s.gateway.metric("tokengate_introspection_requests_total{status=\"timeout\"}").await, 1.0);
    assert_eq!(s.gateway.metric("tokengate_introspection_requests_total{status=\"invalid_response\"}").await, 1.0);
    assert_eq!(s.gateway.metric("tokengate_introspection_requests_total{status=\"500\"}").await, 1.0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wrong_gateway_credentials_are_an_outage_not_a_refusal() {
    let s = Stack::start().await;
    s.issuer.set_client_credentials("gateway", "rotated-secret");
    s.issuer.register_opaque_active("tok", "api:read", "bob", "app-2", Some(now() + 600));
    assert_eq!(s.gateway.get("/api/x", Some("tok")).await.status(), 503);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_introspection_opaque_tokens_are_refused() {
    let s = Stack::start_with(|c| c.introspection = None).await;
    let r = s.gateway.get("/api/x", Some("opaque-thing")).await;
    assert_eq!(r.status(), 401);
    assert_eq!(json(r).await["error"], "invalid_token");
}
