//! `examples/embed.rs`, the fifty-line Pingora proxy that embeds the edge, gives the same answers, identity headers
//! and metrics as the standalone gateway, for the same requests.

use std::process::{Child, Command, Stdio};
use std::time::Duration;

use reqwest::Method;

use crate::support::*;

struct Example(Child);

impl Drop for Example {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

fn example_binary() -> std::path::PathBuf {
    // target/debug/deps/integration-... -> target/debug/examples/embed (cargo test builds the examples).
    let exe = std::env::current_exe().unwrap();
    exe.parent().unwrap().parent().unwrap().join("examples").join("embed")
}

async fn start_example(
    cfg: &GatewayConfig,
    upstream: &TestUpstream,
    dir: &std::path::Path,
) -> (Example, String, String) {
    let edge_toml = dir.join("edge.toml");
    std::fs::write(&edge_toml, cfg.edge_toml()).unwrap();
    let (listen, metrics) = (format!("127.0.0.1:{}", free_port()), format!("127.0.0.1:{}", free_port()));
    let child = Command::new(example_binary())
        .env("EDGE_CONFIG", &edge_toml)
        .env("UPSTREAM", upstream.address().to_string())
        .env("LISTEN", &listen)
        .env("METRICS", &metrics)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("examples/embed is built by cargo test");
    let example = Example(child);
    for _ in 0..200 {
        if tokio::net::TcpStream::connect(&listen).await.is_ok() {
            return (example, format!("http://{listen}"), format!("http://{metrics}"));
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("the example did not start");
}

/// (status, WWW-Authenticate, body) of one request.
async fn answer(base: &str, method: Method, path: &str, token: Option<&str>) -> (u16, Option<String>, String) {
    let mut req = client().request(method, format!("{base}{path}")).header("X-Auth-Subject", "spoofed");
    if let Some(t) = token {
        req = req.bearer_auth(t);
    }
    let r = req.send().await.unwrap();
    let challenge = r.headers().get("www-authenticate").map(|v| v.to_str().unwrap().to_string());
    (r.status().as_u16(), challenge, r.text().await.unwrap())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_embedded_edge_answers_exactly_like_the_standalone_gateway() {
    let issuer = TestIssuer::start().await;
    let upstream = TestUpstream::start().await;
    let cfg = GatewayConfig::new(&issuer, &upstream);
    let standalone = TestGateway::start(&cfg).await;
    let dir = tempfile::tempdir().unwrap();
    let (_example, embedded, metrics) = start_example(&cfg, &upstream, dir.path()).await;

    let reader = issuer.mint(&Claims::new(&issuer).scope("api:read").sub("erin"));
    let expired = issuer.mint(&Claims::new(&issuer).exp(now() - 3600));
    let forged = format!("{}x", &reader[..reader.len() - 1]);
    issuer.register_opaque_active("opaque-embed", "api:write", "frank", "app-9", Some(now() + 600));
    let cases: Vec<(Method, &str, Option<&str>)> = vec![
        (Method::GET, "/api/items", None),
        (Method::GET, "/api/items", Some(&reader)),
        (Method::POST, "/api/items", Some(&reader)),
        (Method::GET, "/api/items", Some(&expired)),
        (Method::GET, "/api/items", Some(&forged)),
        (Method::POST, "/api/items", Some("opaque-embed")),
        (Method::GET, "/public/page", None),
        (Method::GET, "/nowhere", Some(&reader)),
        (Method::GET, "/public/../api/items", None),
    ];
    for (method, path, token) in cases {
        let a = answer(&standalone.url, method.clone(), path, token).await;
        let b = answer(&embedded, method.clone(), path, token).await;
        assert_eq!(a.0, b.0, "{method} {path}: status");
        assert_eq!(a.1, b.1, "{method} {path}: WWW-Authenticate");
        if a.0 != 200 {
            // The binary names each request's id in its error bodies (an embedding proxy that sets none gets none);
            // everything else is the same.
            let mut standalone_body: serde_json::Value = serde_json::from_str(&a.2).unwrap();
            let id = standalone_body.as_object_mut().and_then(|m| m.remove("request_id"));
            assert!(
                id.as_ref().is_some_and(|id| id.as_str().is_some_and(|s| s.len() == 32)),
                "{method} {path}: {id:?}"
            );
            let embedded_body: serde_json::Value = serde_json::from_str(&b.2).unwrap();
            assert_eq!(standalone_body, embedded_body, "{method} {path}: body");
        } else {
            // The upstream saw the same identity from both, and never the spoofed header.
            let seen: serde_json::Value = serde_json::from_str(&b.2).unwrap();
            let headers = &seen["headers"];
            let direct: serde_json::Value = serde_json::from_str(&a.2).unwrap();
            for h in ["x-auth-subject", "x-auth-client-id", "x-auth-scopes", "x-auth-issuer"] {
                assert_eq!(headers[h], direct["headers"][h], "{method} {path}: {h}");
            }
            assert_ne!(headers["x-auth-subject"], serde_json::json!(["spoofed"]));
        }
    }

    // The example registered the edge's metrics in its Prometheus registry.
    let text = client().get(format!("{metrics}/metrics")).send().await.unwrap().text().await.unwrap();
    assert!(text.contains("tokengate_requests_total{outcome=\"allowed\",route=\"/api/\"} 2"), "{text}");
    assert!(text.contains("tokengate_requests_total{outcome=\"missing_token\",route=\"/api/\"} 2"), "{text}");
    assert!(text.contains("tokengate_auth_decisions_total{reason=\"expired\",result=\"deny\"} 1"), "{text}");
}
