//! The metrics Prometheus scrapes: every documented series exists, and the values follow the traffic.

use crate::support::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_documented_series_is_exported_with_help() {
    let s = Stack::start().await;
    let token = s.issuer.mint(&Claims::new(&s.issuer));
    assert_eq!(s.gateway.get("/api/x", Some(&token)).await.status(), 200);
    s.issuer.register_opaque_active("op", "api:read", "bob", "c", None);
    assert_eq!(s.gateway.get("/api/x", Some("op")).await.status(), 200);
    let text = s.gateway.scrape().await;
    for (name, _) in tokengate::metrics::SERIES {
        if *name == "tokengate_upstream_errors_total" {
            continue; // a vector with no sample until the first upstream failure
        }
        assert!(text.contains(&format!("# HELP {name} ")), "{name} missing:\n{text}");
    }
    let readme = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md")).unwrap();
    for (name, _) in tokengate::metrics::SERIES {
        assert!(readme.contains(name), "{name} is not documented in README.md");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn requests_decisions_and_cache_are_counted() {
    let s = Stack::start().await;
    let g = &s.gateway;
    let reader = s.issuer.mint(&Claims::new(&s.issuer).scope("api:read"));
    for _ in 0..3 {
        assert_eq!(g.get("/api/x", Some(&reader)).await.status(), 200);
    }
    assert_eq!(g.get("/api/x", None).await.status(), 401);
    assert_eq!(g.request(reqwest::Method::POST, "/api/x").bearer_auth(&reader).send().await.unwrap().status(), 403);
    assert_eq!(g.get("/public/x", None).await.status(), 200);
    assert_eq!(g.get("/nowhere", None).await.status(), 404);
    let expired = s.issuer.mint(&Claims::new(&s.issuer).exp(now() - 3600));
    assert_eq!(g.get("/api/x", Some(&expired)).await.status(), 401);
    s.issuer.register_opaque_active("op", "api:read", "bob", "c", Some(now() + 600));
    assert_eq!(g.get("/api/x", Some("op")).await.status(), 200);
    assert_eq!(g.get("/api/x", Some("op")).await.status(), 200);

    assert_eq!(g.metric("tokengate_requests_total{outcome=\"allowed\",route=\"/api/\"}").await, 5.0);
    assert_eq!(g.metric("tokengate_requests_total{outcome=\"missing_token\",route=\"/api/\"}").await, 1.0);
    assert_eq!(g.metric("tokengate_requests_total{outcome=\"insufficient_scope\",route=\"/api/\"}").await, 1.0);
    assert_eq!(g.metric("tokengate_requests_total{outcome=\"invalid_token\",route=\"/api/\"}").await, 1.0);
    assert_eq!(g.metric("tokengate_requests_total{outcome=\"public\",route=\"/public/\"}").await, 1.0);
    assert_eq!(g.metric("tokengate_requests_total{outcome=\"no_route\",route=\"(none)\"}").await, 1.0);
    assert_eq!(g.metric("tokengate_auth_decisions_total{reason=\"ok\",result=\"allow\"}").await, 5.0);
    assert_eq!(g.metric("tokengate_auth_decisions_total{reason=\"expired\",result=\"deny\"}").await, 1.0);
    assert_eq!(g.metric("tokengate_auth_decisions_total{reason=\"insufficient_scope\",result=\"deny\"}").await, 1.0);
    assert_eq!(g.metric("tokengate_auth_decisions_total{reason=\"missing_token\",result=\"deny\"}").await, 1.0);
    // reader: 1 miss then 3 hits (the POST reused it); expired: a miss; opaque: 1 miss, 1 hit.
    assert_eq!(g.metric("tokengate_token_cache_requests_total{kind=\"jwt\",result=\"hit\"}").await, 3.0);
    assert_eq!(g.metric("tokengate_token_cache_requests_total{kind=\"jwt\",result=\"miss\"}").await, 2.0);
    assert_eq!(g.metric("tokengate_token_cache_requests_total{kind=\"opaque\",result=\"hit\"}").await, 1.0);
    assert_eq!(g.metric("tokengate_token_cache_requests_total{kind=\"opaque\",result=\"miss\"}").await, 1.0);
    assert_eq!(g.metric("tokengate_introspection_requests_total{status=\"200\"}").await, 1.0);
    assert_eq!(g.metric("tokengate_auth_duration_seconds_count").await, 8.0);
    assert_eq!(g.metric("tokengate_upstream_duration_seconds_count").await, 6.0);
    assert_eq!(g.metric("tokengate_token_cache_entries{kind=\"opaque\"}").await, 1.0);
    let iss = s.issuer.issuer_url();
    assert_eq!(g.metric(&format!("tokengate_jwks_keys{{issuer=\"{iss}\"}}")).await, 1.0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn upstream_failures_are_counted() {
    let s = Stack::start().await;
    s.upstream.stop().await;
    assert_eq!(s.gateway.get("/public/x", None).await.status(), 502);
    assert_eq!(s.gateway.metric("tokengate_upstream_errors_total{status=\"502\"}").await, 1.0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_authorization_server_exports_its_revocation_log_position() {
    let az = crate::support::authz::TestAuthz::start().await;
    let scrape =
        || async { client().get(format!("{}/metrics", az.metrics_url)).send().await.unwrap().text().await.unwrap() };
    let text = scrape().await;
    for (name, _) in tokengate::metrics::AUTHZ_SERIES {
        assert!(text.contains(&format!("# HELP {name} ")), "{name} missing:\n{text}");
    }
    // SQLite polls: no change feed. Nothing revoked yet.
    assert!(text.contains("tokengate_change_feed_connected 0"), "{text}");
    assert!(text.contains("tokengate_revocation_log_position 0"), "{text}");
    // A user disabled is a revocation: the position moves (the sync reads the entry back within a poll).
    az.registry.update_user("alice", &serde_json::json!({"disabled": true})).await.unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    while !scrape().await.contains("tokengate_revocation_log_position 1") {
        assert!(std::time::Instant::now() < deadline, "the position did not move:\n{}", scrape().await);
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    let readme = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md")).unwrap();
    for (name, _) in tokengate::metrics::AUTHZ_SERIES {
        assert!(readme.contains(name), "{name} is not documented in README.md");
    }
}
