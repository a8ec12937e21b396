//! Per-client rate limits at the edge: RFC 6585 429 with Retry-After, one budget per client id.

use crate::support::*;

const LIMITED: &str = r#"
[[routes]]
path = "/api/"
scopes = ["api:read"]
rate_limit = "3/m"

[[routes]]
path = "/public/"
auth = "none"
rate_limit = "2/m"
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_client_gets_its_own_budget_then_429_with_retry_after() {
    let s = Stack::start_with(|c| c.routes = LIMITED.into()).await;
    let app1 = s.issuer.mint(&Claims::new(&s.issuer).client_id("app-1"));
    let app1_again = s.issuer.mint(&Claims::new(&s.issuer).client_id("app-1").sub("bob"));
    let app2 = s.issuer.mint(&Claims::new(&s.issuer).client_id("app-2"));
    for _ in 0..2 {
        assert_eq!(s.gateway.get("/api/x", Some(&app1)).await.status(), 200);
    }
    // The budget follows the client id, whatever the token.
    assert_eq!(s.gateway.get("/api/x", Some(&app1_again)).await.status(), 200);
    let r = s.gateway.get("/api/x", Some(&app1)).await;
    assert_eq!(r.status(), 429);
    let retry: u64 = r.headers()["retry-after"].to_str().unwrap().parse().unwrap();
    assert!((1..=60).contains(&retry), "{retry}");
    assert_eq!(json(r).await["error"], "rate_limited");
    assert_eq!(s.gateway.get("/api/x", Some(&app2)).await.status(), 200);
    assert_eq!(s.upstream.hits(), 4);
    assert_eq!(s.gateway.metric("tokengate_requests_total{outcome=\"rate_limited\",route=\"/api/\"}").await, 1.0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn public_routes_are_limited_per_client_address() {
    let s = Stack::start_with(|c| c.routes = LIMITED.into()).await;
    assert_eq!(s.gateway.get("/public/a", None).await.status(), 200);
    assert_eq!(s.gateway.get("/public/b", None).await.status(), 200);
    assert_eq!(s.gateway.get("/public/c", None).await.status(), 429);
    assert_eq!(s.upstream.hits(), 2);
}

#[test]
fn a_bad_rate_is_a_config_error_naming_the_key() {
    let text = "[upstream]\nurl = \"http://127.0.0.1:1\"\n[[routes]]\npath = \"/\"\nauth = \"none\"\nrate_limit = \"ten per second\"\n";
    let err = tokengate::Config::from_toml(text, "t.toml").unwrap_err();
    assert_eq!(err.errors[0].key, "routes[0].rate_limit");
    assert_eq!(err.errors[0].location, Some((6, 14)));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bodies_over_the_limit_get_413_and_never_reach_the_upstream() {
    let s = Stack::start_with(|c| c.server_extra = "max_body_bytes = 1000".into()).await;
    let writer = s.issuer.mint(&Claims::new(&s.issuer).scope("api:write"));
    let post =
        |body: reqwest::Body| s.gateway.request(reqwest::Method::POST, "/api/x").bearer_auth(&writer).body(body).send();
    assert_eq!(post(vec![b'a'; 1000].into()).await.unwrap().status(), 200);
    let r = post(vec![b'a'; 1001].into()).await.unwrap();
    assert_eq!(r.status(), 413);
    assert_eq!(json(r).await["error"], "invalid_request");
    // Chunked, with no Content-Length: counted as it streams.
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let addr = s.gateway.url.trim_start_matches("http://").to_string();
    let mut conn = tokio::net::TcpStream::connect(&addr).await.unwrap();
    let mut req = format!("POST /api/x HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {writer}\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n");
    for _ in 0..4 {
        req.push_str(&format!("190\r\n{}\r\n", "b".repeat(400)));
    }
    req.push_str("0\r\n\r\n");
    conn.write_all(req.as_bytes()).await.unwrap();
    let mut out = String::new();
    let _ = conn.read_to_string(&mut out).await;
    assert!(out.starts_with("HTTP/1.1 413"), "{out}");
    assert_eq!(s.upstream.seen().iter().filter(|x| x.body.len() > 1000).count(), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flood_of_distinct_tokens_stays_within_the_cache_capacity() {
    let s = Stack::start_with(|c| c.auth = "cache_capacity = 20".into()).await;
    for i in 0..200 {
        let t = s.issuer.mint(&Claims::new(&s.issuer).sub(&format!("user-{i}")));
        assert_eq!(s.gateway.get("/api/x", Some(&t)).await.status(), 200);
    }
    let entries = s.gateway.metric("tokengate_token_cache_entries{kind=\"jwt\"}").await;
    assert!(entries <= 20.0, "{entries} entries for a capacity of 20");
    assert!(entries >= 1.0);
}
