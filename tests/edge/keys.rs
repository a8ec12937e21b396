//! Key sets: discovery, rotation, unknown-kid single-flight, outages.

use std::time::Duration;

use crate::support::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rotated_key_is_picked_up_on_first_use() {
    let s = Stack::start().await;
    let before = s.issuer.jwks_calls();
    s.issuer.rotate(Alg::EdDSA, "ed-2");
    let token = s.issuer.mint(&Claims::new(&s.issuer));
    assert_eq!(s.gateway.get("/api/x", Some(&token)).await.status(), 200);
    assert_eq!(s.issuer.jwks_calls() - before, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_storm_of_unknown_kids_makes_one_fetch() {
    let s = Stack::start().await;
    let before = s.issuer.jwks_calls();
    s.issuer.set_jwks_fault(Fault::Delay(Duration::from_millis(200)));
    let mut tokens = Vec::new();
    for i in 0..50 {
        let kid = format!("ghost-{i}");
        s.issuer.add_unpublished_key(Alg::ES256, &kid);
        tokens.push(s.issuer.mint_as(&kid, &Claims::new(&s.issuer)));
    }
    let c = client();
    let mut tasks = Vec::new();
    for t in tokens {
        let c = c.clone();
        let url = format!("{}/api/x", s.gateway.url);
        tasks.push(tokio::spawn(async move { c.get(url).bearer_auth(t).send().await.unwrap().status() }));
    }
    for t in tasks {
        assert_eq!(t.await.unwrap(), 401);
    }
    assert_eq!(s.issuer.jwks_calls() - before, 1);
    assert_eq!(s.upstream.hits(), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn jwks_down_means_503_for_unknown_kids_but_cached_and_known_keys_keep_working() {
    let s = Stack::start().await;
    let known = s.issuer.mint(&Claims::new(&s.issuer));
    assert_eq!(s.gateway.get("/api/x", Some(&known)).await.status(), 200);
    s.issuer.set_jwks_fault(Fault::Down);
    s.issuer.add_key(Alg::ES256, "es-new");
    let fresh = s.issuer.mint_as("es-new", &Claims::new(&s.issuer));
    let r = s.gateway.get("/api/x", Some(&fresh)).await;
    assert_eq!(r.status(), 503);
    assert_eq!(json(r).await["error"], "temporarily_unavailable");
    // Cached, and a new token signed by a key already loaded: both fine.
    assert_eq!(s.gateway.get("/api/x", Some(&known)).await.status(), 200);
    let other_known = s.issuer.mint_as("es-1", &Claims::new(&s.issuer).sub("carol"));
    assert_eq!(s.gateway.get("/api/x", Some(&other_known)).await.status(), 200);
    let iss = s.issuer.issuer_url();
    let failed = s
        .gateway
        .metric(&format!("tokengate_jwks_fetches_total{{issuer=\"{iss}\",kind=\"jwks\",result=\"error\"}}"))
        .await;
    assert_eq!(failed, 1.0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn readiness_waits_for_keys_and_recovers_by_itself() {
    let issuer = TestIssuer::start().await;
    let upstream = TestUpstream::start().await;
    issuer.set_jwks_fault(Fault::Garbage);
    let gw = TestGateway::start_unready(&GatewayConfig::new(&issuer, &upstream)).await;
    tokio::time::sleep(Duration::from_millis(700)).await;
    let r = client().get(format!("{}/readyz", gw.metrics_url)).send().await.unwrap();
    assert_eq!(r.status(), 503);
    assert_eq!(client().get(format!("{}/healthz", gw.metrics_url)).send().await.unwrap().status(), 200);
    let token = issuer.mint(&Claims::new(&issuer));
    assert_eq!(gw.get("/api/x", Some(&token)).await.status(), 503);
    issuer.set_jwks_fault(Fault::None);
    gw.wait_ready().await; // the background refresh retries with backoff
    assert_eq!(gw.get("/api/x", Some(&token)).await.status(), 200);
    let iss = issuer.issuer_url();
    assert!(
        gw.metric(&format!("tokengate_jwks_fetches_total{{issuer=\"{iss}\",kind=\"jwks\",result=\"error\"}}")).await
            >= 1.0
    );
    assert!(
        gw.metric(&format!("tokengate_jwks_fetches_total{{issuer=\"{iss}\",kind=\"jwks\",result=\"ok\"}}")).await
            >= 1.0
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn discovery_finds_keys_for_an_issuer_with_a_path_through_openid_configuration() {
    let issuer = TestIssuer::start_with_path("/realms/demo").await;
    issuer.set_discovery_mode(DiscoveryMode::OidcOnly);
    let upstream = TestUpstream::start().await;
    let gw = TestGateway::start(&GatewayConfig::new(&issuer, &upstream)).await;
    let token = issuer.mint(&Claims::new(&issuer));
    assert_eq!(gw.get("/api/x", Some(&token)).await.status(), 200);
    issuer.register_opaque_active("kc-opaque", "api:read", "dave", "app-3", Some(now() + 600));
    assert_eq!(gw.get("/api/x", Some("kc-opaque")).await.status(), 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rfc8414_metadata_is_preferred() {
    let issuer = TestIssuer::start().await;
    issuer.set_discovery_mode(DiscoveryMode::OAuthOnly);
    let upstream = TestUpstream::start().await;
    let gw = TestGateway::start(&GatewayConfig::new(&issuer, &upstream)).await;
    assert_eq!(gw.get("/api/x", Some(&issuer.mint(&Claims::new(&issuer)))).await.status(), 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metadata_naming_another_issuer_is_not_trusted() {
    let issuer = TestIssuer::start().await;
    issuer.set_metadata("issuer", serde_json::json!("https://impostor.example"));
    let upstream = TestUpstream::start().await;
    let gw = TestGateway::start_unready(&GatewayConfig::new(&issuer, &upstream)).await;
    tokio::time::sleep(Duration::from_millis(700)).await;
    assert_eq!(client().get(format!("{}/readyz", gw.metrics_url)).send().await.unwrap().status(), 503);
    assert_eq!(gw.get("/api/x", Some(&issuer.mint(&Claims::new(&issuer)))).await.status(), 503);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn configured_endpoints_skip_discovery() {
    let issuer = TestIssuer::start().await;
    issuer.set_discovery_mode(DiscoveryMode::None);
    let upstream = TestUpstream::start().await;
    let mut cfg = GatewayConfig::new(&issuer, &upstream);
    cfg.issuer_extra = format!("jwks_uri = \"{}\"", issuer.jwks_uri());
    cfg.introspection = Some(format!(
        "endpoint = \"{}\"\nclient_id = \"gateway\"\nclient_secret_env = \"TG_TEST_INTROSPECTION_SECRET\"\n",
        issuer.introspection_endpoint()
    ));
    std::env::set_var("TG_TEST_INTROSPECTION_SECRET", "gateway-secret");
    let gw = TestGateway::start(&cfg).await;
    assert_eq!(gw.get("/api/x", Some(&issuer.mint(&Claims::new(&issuer)))).await.status(), 200);
    issuer.register_opaque_active("o", "api:read", "x", "y", None);
    assert_eq!(gw.get("/api/x", Some("o")).await.status(), 200);
    assert_eq!(issuer.discovery_calls(), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_key_set_is_refreshed_as_its_cache_control_max_age_says() {
    // The configured period is 1 s; the issuer's `max-age` decides instead, whenever it sends one.
    let issuer = TestIssuer::start().await;
    issuer.set_jwks_max_age(1);
    let upstream = TestUpstream::start().await;
    let mut cfg = GatewayConfig::new(&issuer, &upstream);
    cfg.issuer_extra = "jwks_refresh_secs = 1".into();
    let _gateway = TestGateway::start(&cfg).await;

    // max-age=1: refetched every second or so.
    let before = issuer.jwks_calls();
    tokio::time::sleep(Duration::from_millis(3500)).await;
    let refreshed = issuer.jwks_calls() - before;
    assert!(refreshed >= 2, "{refreshed} refreshes in 3.5 s with max-age=1");

    // max-age=3600: once the next refresh has read it, no more fetches, though the configured period is 1 s.
    issuer.set_jwks_max_age(3600);
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let settled = issuer.jwks_calls();
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert_eq!(issuer.jwks_calls(), settled, "refetched within max-age=3600");
}
