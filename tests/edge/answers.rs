//! RFC 6750 answers: status, `WWW-Authenticate`, JSON body; the upstream never sees a refused request.

use crate::support::*;
use reqwest::Method;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_token_gets_401_with_a_bare_bearer_challenge() {
    let s = Stack::start().await;
    let r = s.gateway.get("/api/items", None).await;
    assert_eq!(r.status(), 401);
    assert_eq!(r.headers()["www-authenticate"], "Bearer realm=\"tokengate\"");
    assert_eq!(r.headers()["cache-control"], "no-store");
    let body = json(r).await;
    assert_eq!(body["error"], "invalid_request");
    assert!(body["error_description"].as_str().unwrap().contains("required"));
    assert_eq!(s.upstream.hits(), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn basic_credentials_count_as_no_token() {
    let s = Stack::start().await;
    let r = s.gateway.request(Method::GET, "/api/items").basic_auth("alice", Some("pw")).send().await.unwrap();
    assert_eq!(r.status(), 401);
    assert_eq!(r.headers()["www-authenticate"], "Bearer realm=\"tokengate\"");
    assert_eq!(s.upstream.hits(), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn invalid_token_names_the_reason_and_never_echoes_the_token() {
    let s = Stack::start().await;
    let token = s.issuer.mint(&Claims::new(&s.issuer).aud("http://other-service/"));
    let r = s.gateway.get("/api/items", Some(&token)).await;
    assert_eq!(r.status(), 401);
    let challenge = r.headers()["www-authenticate"].to_str().unwrap().to_string();
    assert!(
        challenge.starts_with("Bearer realm=\"tokengate\", error=\"invalid_token\", error_description=\""),
        "{challenge}"
    );
    assert!(challenge.contains("audience"), "{challenge}");
    let text = r.text().await.unwrap();
    let body: serde_json::Value = serde_json::from_str(&text).unwrap();
    assert_eq!(body["error"], "invalid_token");
    assert!(!text.contains(&token[..20]) && !challenge.contains(&token[..20]));
    assert_eq!(s.upstream.hits(), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn missing_scope_gets_403_naming_every_scope_of_the_route() {
    let s = Stack::start().await;
    let token = s.issuer.mint(&Claims::new(&s.issuer).scope("api:read"));
    let r = s.gateway.request(Method::POST, "/api/items").bearer_auth(&token).send().await.unwrap();
    assert_eq!(r.status(), 403);
    let challenge = r.headers()["www-authenticate"].to_str().unwrap().to_string();
    assert!(challenge.contains("error=\"insufficient_scope\""), "{challenge}");
    assert!(challenge.ends_with("scope=\"api:write\""), "{challenge}");
    assert_eq!(json(r).await["scope"], "api:write");

    let r = s.gateway.get("/both/x", Some(&token)).await;
    assert_eq!(r.status(), 403);
    assert!(r.headers()["www-authenticate"].to_str().unwrap().ends_with("scope=\"api:read api:write\""));
    assert_eq!(s.upstream.hits(), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn all_scopes_and_any_scopes() {
    let s = Stack::start().await;
    let both = s.issuer.mint(&Claims::new(&s.issuer).scope("api:read api:write"));
    assert_eq!(s.gateway.get("/both/x", Some(&both)).await.status(), 200);
    let admin = s.issuer.mint(&Claims::new(&s.issuer).scope("admin"));
    assert_eq!(s.gateway.get("/reports/q1", Some(&admin)).await.status(), 200);
    let reader = s.issuer.mint(&Claims::new(&s.issuer).scope("reports:read"));
    assert_eq!(s.gateway.get("/reports/q1", Some(&reader)).await.status(), 200);
    let r = s.gateway.get("/reports/q1", Some(&both)).await;
    assert_eq!(r.status(), 403);
    assert!(r.headers()["www-authenticate"].to_str().unwrap().ends_with("scope=\"reports:read admin\""));
    assert_eq!(s.upstream.hits(), 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_tokens_are_an_invalid_request() {
    let s = Stack::start().await;
    let token = s.issuer.mint(&Claims::new(&s.issuer));
    let r =
        s.gateway.request(Method::GET, "/api/x").bearer_auth(&token).header("sessionID", &token).send().await.unwrap();
    assert_eq!(r.status(), 400);
    assert_eq!(json(r).await["error"], "invalid_request");
    assert_eq!(s.upstream.hits(), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_authorization_headers_are_an_invalid_request() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let s = Stack::start().await;
    let token = s.issuer.mint(&Claims::new(&s.issuer));
    let addr = s.gateway.url.trim_start_matches("http://").to_string();
    let mut conn = tokio::net::TcpStream::connect(&addr).await.unwrap();
    let req = format!("GET /api/x HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {token}\r\nAuthorization: Bearer {token}\r\nConnection: close\r\n\r\n");
    conn.write_all(req.as_bytes()).await.unwrap();
    let mut out = String::new();
    conn.read_to_string(&mut out).await.unwrap();
    assert!(out.starts_with("HTTP/1.1 400"), "{out}");
    assert_eq!(s.upstream.hits(), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unmatched_paths_get_404_by_default() {
    let s = Stack::start().await;
    let token = s.issuer.mint(&Claims::new(&s.issuer));
    let r = s.gateway.get("/elsewhere", Some(&token)).await;
    assert_eq!(r.status(), 404);
    assert_eq!(json(r).await["error"], "not_found");
    assert_eq!(s.upstream.hits(), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn default_authenticated_lets_any_valid_token_through_unmatched_paths() {
    let s = Stack::start_with(|c| c.auth = "default = \"authenticated\"".into()).await;
    assert_eq!(s.gateway.get("/elsewhere", None).await.status(), 401);
    let token = s.issuer.mint(&Claims::new(&s.issuer).scope(""));
    assert_eq!(s.gateway.get("/elsewhere", Some(&token)).await.status(), 200);
    assert_eq!(s.upstream.hits(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refusals_keep_the_connection_open() {
    let s = Stack::start().await;
    let c = client();
    for _ in 0..3 {
        assert_eq!(c.get(format!("{}/api/x", s.gateway.url)).send().await.unwrap().status(), 401);
    }
    let token = s.issuer.mint(&Claims::new(&s.issuer));
    assert_eq!(c.get(format!("{}/api/x", s.gateway.url)).bearer_auth(token).send().await.unwrap().status(), 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn upstream_down_gets_502_with_a_json_body() {
    let s = Stack::start().await;
    s.upstream.stop().await;
    let r = s.gateway.get("/public/x", None).await;
    assert_eq!(r.status(), 502);
    assert_eq!(json(r).await["error"], "bad_gateway");
    s.upstream.restart().await;
    assert_eq!(s.gateway.get("/public/x", None).await.status(), 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_upstream_closing_without_answering_gets_502_and_the_gateway_carries_on() {
    let s = Stack::start().await;
    s.upstream.set_mode(UpstreamMode::Close);
    let r = s.gateway.get("/public/x", None).await;
    assert_eq!(r.status(), 502);
    assert_eq!(json(r).await["error"], "bad_gateway");
    s.upstream.set_mode(UpstreamMode::Normal);
    assert_eq!(s.gateway.get("/public/x", None).await.status(), 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_upstreams_own_statuses_and_bodies_reach_the_client_unchanged() {
    // The gateway's answers are its own refusals; an authorized request gets whatever the API says, errors too.
    let s = Stack::start().await;
    let token = s.issuer.mint(&Claims::new(&s.issuer));
    for status in [401, 403, 404, 503] {
        s.upstream.set_mode(UpstreamMode::Status(status));
        let r = s.gateway.get("/api/x", Some(&token)).await;
        assert_eq!(r.status(), status);
        assert!(r.headers().get("www-authenticate").is_none(), "{status}: the upstream sent no challenge");
        assert_eq!(json(r).await["path"], "/api/x", "{status}: the upstream's own body");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_upstream_gets_504() {
    let s = Stack::start().await;
    s.upstream.set_mode(UpstreamMode::Delay(std::time::Duration::from_secs(4)));
    let r = s.gateway.get("/public/x", None).await;
    assert_eq!(r.status(), 504);
    assert_eq!(json(r).await["error"], "upstream_timeout");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_upstream_resetting_connections_gets_502_and_the_gateway_carries_on() {
    let s = Stack::start().await;
    s.upstream.set_mode(UpstreamMode::Reset);
    let r = s.gateway.get("/public/x", None).await;
    assert_eq!(r.status(), 502);
    assert_eq!(json(r).await["error"], "bad_gateway");
    s.upstream.set_mode(UpstreamMode::Normal);
    assert_eq!(s.gateway.get("/public/x", None).await.status(), 200);
}
