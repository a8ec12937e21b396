//! Path tricks: nothing reaches a protected route through a public prefix; the forwarded path is untouched.

use crate::support::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dot_segments_cannot_escape_a_public_prefix() {
    let s = Stack::start().await;
    for path in [
        "/public/../api/secret",
        "/public/%2e%2e/api/secret",
        "/public/%2E%2E/api/secret",
        "/public/.%2e/api/secret",
        "/public/..;/api/secret",
        "/public;x=1/../api/secret",
        "/public/./../api/secret",
        "//public/..//api/secret",
        "/PUBLIC/../api/secret",
    ] {
        let r = s.gateway.get(path, None).await;
        assert!(r.status() == 401 || r.status() == 400, "{path}: {}", r.status());
    }
    assert_eq!(s.upstream.hits(), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ambiguous_escapes_are_a_bad_request() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let s = Stack::start().await;
    let addr = s.gateway.url.trim_start_matches("http://").to_string();
    for path in [
        "/public%2F..%2Fapi/secret",
        "/public/%252e%252e/api/secret",
        "/public/%5c../api",
        "/public/x%00",
        "/public/../../etc/passwd",
    ] {
        // Raw request: an HTTP client library would normalise these paths itself.
        let mut conn = tokio::net::TcpStream::connect(&addr).await.unwrap();
        conn.write_all(format!("GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").as_bytes())
            .await
            .unwrap();
        let mut out = String::new();
        conn.read_to_string(&mut out).await.unwrap();
        assert!(out.starts_with("HTTP/1.1 400"), "{path}: {out}");
        assert!(out.contains("invalid_request"), "{path}: {out}");
    }
    assert_eq!(s.upstream.hits(), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn raw_dot_segments_sent_on_the_wire_are_matched_after_normalising() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let s = Stack::start().await;
    let addr = s.gateway.url.trim_start_matches("http://").to_string();
    let mut conn = tokio::net::TcpStream::connect(&addr).await.unwrap();
    conn.write_all(b"GET /public/../api/secret HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").await.unwrap();
    let mut out = String::new();
    conn.read_to_string(&mut out).await.unwrap();
    assert!(out.starts_with("HTTP/1.1 401"), "{out}");
    assert_eq!(s.upstream.hits(), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn path_and_query_are_forwarded_untouched() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let s = Stack::start().await;
    let token = s.issuer.mint(&Claims::new(&s.issuer));
    let addr = s.gateway.url.trim_start_matches("http://").to_string();
    let mut conn = tokio::net::TcpStream::connect(&addr).await.unwrap();
    let target = "/api/a%20b//c;v=1?q=%2F&x=1&x=2";
    conn.write_all(
        format!("GET {target} HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {token}\r\nConnection: close\r\n\r\n")
            .as_bytes(),
    )
    .await
    .unwrap();
    let mut out = String::new();
    conn.read_to_string(&mut out).await.unwrap();
    assert!(out.starts_with("HTTP/1.1 200"), "{out}");
    assert_eq!(s.upstream.last().unwrap().path, target);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn prefixes_stop_at_segment_boundaries() {
    let s = Stack::start().await;
    // `/publicity` is not under `/public/`: no route, 404.
    assert_eq!(s.gateway.get("/publicity", None).await.status(), 404);
    assert_eq!(s.gateway.get("/public", None).await.status(), 200);
    assert_eq!(s.gateway.get("/public/a/b", None).await.status(), 200);
    assert_eq!(s.upstream.hits(), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn routes_are_chosen_by_method() {
    let s = Stack::start().await;
    let writer = s.issuer.mint(&Claims::new(&s.issuer).scope("api:write"));
    let r = s.gateway.request(reqwest::Method::DELETE, "/api/x").bearer_auth(&writer).send().await.unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(s.gateway.get("/api/x", Some(&writer)).await.status(), 403);
    // OPTIONS matches no /api/ route: default deny.
    let r = s.gateway.request(reqwest::Method::OPTIONS, "/api/x").bearer_auth(&writer).send().await.unwrap();
    assert_eq!(r.status(), 404);
}
