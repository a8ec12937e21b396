//! What the upstream receives: identity headers that no client can forge, the token as configured.

use reqwest::Method;

use crate::support::*;

const SPOOFS: [(&str, &str); 5] = [
    ("X-Auth-Subject", "root"),
    ("x-auth-client-id", "trusted-app"),
    ("X-Auth-Scopes", "admin api:write"),
    ("X-AUTH-ISSUER", "https://evil.example"),
    ("X-Auth-Subject", "second-copy"),
];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn identity_headers_are_set_from_the_token_only() {
    let s = Stack::start().await;
    let token = s.issuer.mint(&Claims::new(&s.issuer).sub("alice").client_id("app-7").scope("api:read profile"));
    let mut req = s.gateway.request(Method::GET, "/api/x").bearer_auth(&token);
    for (k, v) in SPOOFS {
        req = req.header(k, v);
    }
    assert_eq!(req.send().await.unwrap().status(), 200);
    let seen = s.upstream.last().unwrap();
    assert_eq!(seen.header_all("x-auth-subject"), vec!["alice"]);
    assert_eq!(seen.header_all("x-auth-client-id"), vec!["app-7"]);
    assert_eq!(seen.header_all("x-auth-scopes"), vec!["api:read profile"]);
    assert_eq!(seen.header_all("x-auth-issuer"), vec![s.issuer.issuer_url().as_str()]);
    // forward_token defaults to true
    assert_eq!(seen.header("authorization"), Some(format!("Bearer {token}").as_str()));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn spoofed_identity_headers_are_stripped_on_public_routes_too() {
    let s = Stack::start().await;
    let mut req = s.gateway.request(Method::GET, "/public/page");
    for (k, v) in SPOOFS {
        req = req.header(k, v);
    }
    assert_eq!(req.send().await.unwrap().status(), 200);
    let seen = s.upstream.last().unwrap();
    for name in ["x-auth-subject", "x-auth-client-id", "x-auth-scopes", "x-auth-issuer"] {
        assert!(!seen.has_header(name), "{name} reached the upstream");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_token_without_sub_sets_no_subject_header() {
    let s = Stack::start().await;
    let token = s.issuer.mint(&Claims::new(&s.issuer).without("sub"));
    let r = s
        .gateway
        .request(Method::GET, "/api/x")
        .bearer_auth(&token)
        .header("X-Auth-Subject", "root")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert!(!s.upstream.last().unwrap().has_header("x-auth-subject"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn method_override_headers_are_stripped() {
    let s = Stack::start().await;
    let reader = s.issuer.mint(&Claims::new(&s.issuer).scope("api:read"));
    let r = s
        .gateway
        .request(Method::GET, "/api/x")
        .bearer_auth(&reader)
        .header("X-HTTP-Method-Override", "DELETE")
        .header("X-HTTP-Method", "DELETE")
        .header("X-Method-Override", "DELETE")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let seen = s.upstream.last().unwrap();
    assert_eq!(seen.method, "GET");
    for h in ["x-http-method-override", "x-http-method", "x-method-override"] {
        assert!(!seen.has_header(h), "{h}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forward_token_false_strips_the_token() {
    let s = Stack::start_with(|c| c.auth = "forward_token = false".into()).await;
    let token = s.issuer.mint(&Claims::new(&s.issuer));
    assert_eq!(s.gateway.get("/api/x", Some(&token)).await.status(), 200);
    assert!(!s.upstream.last().unwrap().has_header("authorization"));
    let r = s.gateway.request(Method::GET, "/api/x").header("sessionID", &token).send().await.unwrap();
    assert_eq!(r.status(), 200);
    assert!(!s.upstream.last().unwrap().has_header("sessionid"));
    assert_eq!(s.upstream.last().unwrap().header("x-auth-subject"), Some("alice"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn query_tokens_are_refused_unless_configured() {
    let s = Stack::start().await;
    let token = s.issuer.mint(&Claims::new(&s.issuer));
    assert_eq!(s.gateway.get(&format!("/api/x?access_token={token}"), None).await.status(), 401);
    assert_eq!(s.upstream.hits(), 0);
    let s = Stack::start_with(|c| c.auth = "token_sources = [\"authorization\", \"query\"]".into()).await;
    let token = s.issuer.mint(&Claims::new(&s.issuer));
    assert_eq!(s.gateway.get(&format!("/api/x?access_token={token}"), None).await.status(), 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn upstream_connections_are_reused() {
    let s = Stack::start().await;
    let token = s.issuer.mint(&Claims::new(&s.issuer));
    let c = client();
    for _ in 0..20 {
        assert_eq!(c.get(format!("{}/api/x", s.gateway.url)).bearer_auth(&token).send().await.unwrap().status(), 200);
    }
    assert_eq!(s.upstream.hits(), 20);
    assert!(
        s.upstream.connections() <= 2,
        "{} upstream connections for 20 sequential requests",
        s.upstream.connections()
    );
    // Over HTTP/1.1 keep-alive: the later requests came on a connection that an earlier one opened, which is
    // still open after the last answer.
    let seen = s.upstream.seen();
    assert!(seen.iter().all(|r| r.version == "HTTP/1.1"), "{seen:?}");
    assert!(seen.iter().skip(1).all(|r| r.connection <= 2), "{seen:?}");
    assert!(s.upstream.open_connections() >= 1, "the pooled upstream connection was closed");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn several_upstreams_are_balanced() {
    let second = TestUpstream::start().await;
    let url = second.url();
    let s = Stack::start_with(|c| {
        c.upstream_extra = format!("urls = [\"{}\", \"{url}\"]", c.upstream);
        c.upstream = String::new();
    })
    .await;
    for _ in 0..10 {
        assert_eq!(s.gateway.get("/public/x", None).await.status(), 200);
    }
    assert!(s.upstream.hits() >= 3 && second.hits() >= 3, "{} / {}", s.upstream.hits(), second.hits());
}
