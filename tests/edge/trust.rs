//! What an attacker tried at the edge, and what the upstream receives instead: forged identity headers in every
//! spelling, request targets that are not paths, second tokens, tokengate's own cookies and credentials, and an
//! issuer that fails fast.

use std::time::{Duration, Instant};

use reqwest::Method;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::support::*;

/// Sends `request` as is on a new connection and reads the whole answer.
async fn raw(gateway: &TestGateway, request: &[u8]) -> String {
    let addr = gateway.url.trim_start_matches("http://").to_string();
    let mut conn = tokio::net::TcpStream::connect(&addr).await.unwrap();
    conn.write_all(request).await.unwrap();
    let mut out = Vec::new();
    conn.read_to_end(&mut out).await.unwrap();
    String::from_utf8_lossy(&out).into_owned()
}

const FORGED: [&str; 8] = [
    "X_Auth_Subject",
    "x_auth_client_id",
    "X-Auth_Scopes",
    "X_AUTH_ISSUER",
    "x-auth_subject",
    "X_HTTP_Method_Override",
    "x_http_method",
    "X_Method-Override",
];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn identity_headers_spelled_with_underscores_never_reach_the_upstream() {
    let s = Stack::start().await;
    let token = s.issuer.mint(&Claims::new(&s.issuer).sub("alice").scope("api:read"));
    for (path, token) in [("/api/x", Some(&token)), ("/public/x", None)] {
        let mut req = s.gateway.request(Method::GET, path);
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        for name in FORGED {
            req = req.header(name, "root");
        }
        assert_eq!(req.send().await.unwrap().status(), 200, "{path}");
        let seen = s.upstream.last().unwrap();
        for (name, value) in &seen.headers {
            let variable = name.replace('_', "-");
            assert!(
                (!variable.starts_with("x-auth-") || value != "root") && !variable.contains("method"),
                "{path}: {name}: {value} reached the upstream"
            );
        }
        assert_eq!(seen.header("x-auth-subject"), token.map(|_| "alice"), "{path}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn targets_that_are_not_paths_are_refused_even_behind_a_catch_all_public_route() {
    let s = Stack::start_with(|c| {
        c.routes = "[[routes]]\npath = \"/api/\"\nscopes = [\"api:read\"]\n\n\
                    [[routes]]\npath = \"/\"\nauth = \"none\"\n"
            .into();
    })
    .await;
    for target in [
        &b"foo:bar/api/items"[..],
        b"x:/api/items",
        b"\\api\\items",
        b"*",
        b"http://other.example/api/items",
        b"http://user@x/api/items",
        b"/api/\xff/items",
        b"/public/\xc3",
    ] {
        let mut request = b"GET ".to_vec();
        request.extend_from_slice(target);
        request.extend_from_slice(b" HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
        let out = raw(&s.gateway, &request).await;
        let shown = String::from_utf8_lossy(target);
        assert!(out.starts_with("HTTP/1.1 400"), "{shown}: {out}");
        // Pingora refuses some of them itself (an empty 400); tokengate's own answers say why.
        assert!(out.contains("invalid_request") || out.contains("Content-Length: 0"), "{shown}: {out}");
    }
    assert_eq!(s.upstream.hits(), 0, "a refused target reached the upstream");

    // Absolute-form naming the Host is the same request as origin-form.
    let out = raw(&s.gateway, b"GET http://x/public/page HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").await;
    assert!(out.starts_with("HTTP/1.1 200"), "{out}");
    let out = raw(&s.gateway, b"GET http://x/api/items HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").await;
    assert!(out.starts_with("HTTP/1.1 401"), "absolute-form is matched on its path: {out}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_authorization_next_to_a_valid_session_id_is_refused_or_removed() {
    let s = Stack::start().await;
    let token = s.issuer.mint(&Claims::new(&s.issuer).scope("api:read"));
    // A Bearer with a tab is a token too: two tokens.
    for value in ["Bearer\tforged", "bearer \t forged", "BEARER\t\tforged"] {
        let r = s.gateway.request(Method::GET, "/api/x").header("sessionID", &token).header("Authorization", value);
        let r = r.send().await.unwrap();
        assert_eq!(r.status(), 400, "{value:?}");
        assert_eq!(json(r).await["error"], "invalid_request");
    }
    assert_eq!(s.upstream.hits(), 0);
    // Another scheme is no token tokengate checked: it does not reach the upstream.
    for value in ["JWT forged", "Basic YWRtaW46YWRtaW4=", "DPoP forged"] {
        let r = s.gateway.request(Method::GET, "/api/x").header("sessionID", &token).header("Authorization", value);
        assert_eq!(r.send().await.unwrap().status(), 200, "{value}");
        let seen = s.upstream.last().unwrap();
        assert!(!seen.has_header("authorization"), "{value} reached the upstream");
        assert_eq!(seen.header("sessionid"), Some(token.as_str()), "the verified token is forwarded (forward_token)");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_the_verified_token_reaches_the_upstream() {
    let s = Stack::start_with(|c| c.auth = "token_sources = [\"authorization\"]\n".into()).await;
    let token = s.issuer.mint(&Claims::new(&s.issuer).scope("api:read"));
    // sessionID is no source here, yet an upstream may read it: it is removed.
    let r = s.gateway.request(Method::GET, "/api/x").bearer_auth(&token).header("sessionID", "forged");
    assert_eq!(r.send().await.unwrap().status(), 200);
    let seen = s.upstream.last().unwrap();
    assert!(!seen.has_header("sessionid"));
    assert_eq!(seen.header("authorization"), Some(format!("Bearer {token}").as_str()));
    // A query token is not checked either: next to the verified one it is a second token.
    for query in ["a=1&access_token=forged", "access%5Ftoken=forged", "access_tok%65n=forged"] {
        let r = s.gateway.request(Method::GET, &format!("/api/x?{query}")).bearer_auth(&token);
        assert_eq!(r.send().await.unwrap().status(), 400, "{query}");
    }
    assert_eq!(s.upstream.hits(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tokengate_cookies_never_reach_the_upstream_and_cannot_be_set_by_it() {
    let s = Stack::start().await;
    let token = s.issuer.mint(&Claims::new(&s.issuer).scope("api:read"));
    s.upstream.set_response_headers(vec![
        ("Set-Cookie".into(), "tg_session=planted; Path=/; HttpOnly".into()),
        ("Set-Cookie".into(), "__Host-tgc_x=planted; Path=/; Secure".into()),
        ("Set-Cookie".into(), "app=1; Path=/".into()),
    ]);
    for (path, token) in [("/api/x", Some(&token)), ("/public/x", None)] {
        let mut req = s
            .gateway
            .request(Method::GET, path)
            .header("Cookie", "app=1; tg_session=stolen; TGC_abcd1234=csrf; tg_console=admin; other=2");
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        let r = req.send().await.unwrap();
        assert_eq!(r.status(), 200, "{path}");
        let set: Vec<_> = r.headers().get_all("set-cookie").iter().map(|v| v.to_str().unwrap().to_string()).collect();
        assert_eq!(set, ["app=1; Path=/"], "{path}: the upstream planted a tokengate cookie");
        let seen = s.upstream.last().unwrap();
        assert_eq!(seen.header_all("cookie"), vec!["app=1; other=2"], "{path}");
    }
    // A request with only tokengate's cookies forwards no Cookie header at all.
    let r = s.gateway.request(Method::GET, "/public/x").header("Cookie", "tg_session=stolen");
    assert_eq!(r.send().await.unwrap().status(), 200);
    assert!(!s.upstream.last().unwrap().has_header("cookie"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_query_token_is_not_logged_when_the_upstream_fails() {
    let logs = crate::support::authz::capture_logs();
    let s = Stack::start_with(|c| c.auth = "token_sources = [\"authorization\", \"query\"]\n".into()).await;
    let token = s.issuer.mint(&Claims::new(&s.issuer).scope("api:read"));
    s.upstream.stop().await;
    let r = s.gateway.get(&format!("/api/x?access_token={token}"), None).await;
    assert_eq!(r.status(), 502);
    tokio::time::sleep(Duration::from_millis(200)).await;
    let text = logs.text();
    assert!(text.contains("GET /api/x"), "Pingora's error line names the request: {text}");
    let signature = token.rsplit('.').next().unwrap();
    assert!(!text.contains(signature), "the token was logged: {text}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn own_credentials_are_never_sent_to_an_external_issuer() {
    let s = crate::flows::identity::authz_with_external_issuer().await;
    for token in ["tgr_0123456789abcdefghijklmnopqrstuvwxyzABCDEFG", "tgs_secretsecretsecret", "tgc_code", "tga_admin"]
    {
        let r = client().get(format!("{}/api/x", s.az.url)).bearer_auth(token).send().await.unwrap();
        assert_eq!(r.status(), 401, "{token}");
        assert!(r.headers()["www-authenticate"].to_str().unwrap().contains("invalid_token"));
    }
    assert_eq!(s.issuer.introspect_calls(), 0, "one of tokengate's own credentials left the process");
    // Any other opaque token is introspected as before.
    let r = client().get(format!("{}/api/x", s.az.url)).bearer_auth("some-opaque-token").send().await.unwrap();
    assert_eq!(r.status(), 401);
    assert_eq!(s.issuer.introspect_calls(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failing_issuer_is_not_hammered_and_recovery_is_seen_quickly() {
    let logs = crate::support::authz::capture_logs();
    let s = Stack::start().await;
    s.issuer.register_opaque_active("opaque-never-seen", "api:read", "alice", "app", None);
    s.issuer.set_introspect_fault(Fault::Status(500));
    let started = Instant::now();
    let mut clients = Vec::new();
    for _ in 0..10 {
        let url = format!("{}/api/x", s.gateway.url);
        clients.push(tokio::spawn(async move {
            let c = client();
            let mut statuses = Vec::new();
            while started.elapsed() < Duration::from_secs(2) {
                statuses.push(c.get(&url).bearer_auth("opaque-never-seen").send().await.unwrap().status().as_u16());
            }
            statuses
        }));
    }
    let mut answered = 0;
    for c in clients {
        let statuses = c.await.unwrap();
        assert!(statuses.iter().all(|&s| s == 503), "{statuses:?}");
        answered += statuses.len();
    }
    let calls = s.issuer.introspect_calls();
    assert!(answered > 50, "only {answered} requests were answered");
    // Three failures open the breaker, then one probe per interval (100 ms doubling to 1 s) over 2 s.
    assert!(calls <= 12, "{calls} introspection calls for {answered} requests");
    let scrape = s.gateway.scrape().await;
    assert!(
        scrape.lines().any(|l| l.starts_with("tokengate_introspection_circuit_open{") && l.ends_with(" 1")),
        "{scrape}"
    );
    let text = logs.text();
    let warnings = text.lines().filter(|l| l.contains("WARN") && l.contains("introspection")).count();
    assert!(warnings <= 2, "{warnings} warning lines: {text}");

    // Recovery is seen within the breaker's longest interval.
    s.issuer.set_introspect_fault(Fault::None);
    let healed = Instant::now();
    let mut status = 0;
    while healed.elapsed() < Duration::from_secs(3) && status != 200 {
        status = s.gateway.get("/api/x", Some("opaque-never-seen")).await.status().as_u16();
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(status, 200, "recovery was not seen within 3 s");
    assert!(s
        .gateway
        .scrape()
        .await
        .lines()
        .any(|l| l.starts_with("tokengate_introspection_circuit_open{") && l.ends_with(" 0")));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn junk_opaque_tokens_cannot_make_unbounded_introspection_calls() {
    // A slow issuer, answering within the (raised) timeout: no failure, so the breaker stays out of it.
    let s = Stack::start_with(|c| {
        c.introspection = Some(
            "client_id = \"gateway\"\nclient_secret = \"gateway-secret\"\ncache_ttl_secs = 300\ntimeout_ms = 10000\n"
                .into(),
        )
    })
    .await;
    s.issuer.set_introspect_fault(Fault::Delay(Duration::from_millis(300)));
    let mut requests = Vec::new();
    for i in 0..700 {
        let url = format!("{}/api/x", s.gateway.url);
        requests.push(tokio::spawn(async move {
            client().get(&url).bearer_auth(format!("junk-{i}")).send().await.unwrap().status().as_u16()
        }));
    }
    let mut statuses = Vec::new();
    for r in requests {
        statuses.push(r.await.unwrap());
    }
    let calls = s.issuer.introspect_calls();
    let at_once = s.issuer.introspect_max_in_flight();
    assert!(at_once <= 64, "{at_once} introspection calls at once ({calls} in all)");
    assert!(at_once >= 32, "the load never filled the slots ({at_once} at once): the bound was not exercised");
    // Each junk token is refused (401), or answered 503 when more than the queue holds were waiting.
    assert!(statuses.iter().all(|&s| s == 401 || s == 503), "{statuses:?}");
    let busy = s.gateway.metric("tokengate_auth_decisions_total{reason=\"introspection_busy\",result=\"deny\"}").await;
    assert_eq!(statuses.iter().filter(|&&s| s == 503).count() as f64, busy);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idle_rate_limited_callers_are_forgotten() {
    let s = Stack::start_with(|c| {
        c.routes = "[[routes]]\npath = \"/public/\"\nauth = \"none\"\nrate_limit = \"5/s\"\n".into();
    })
    .await;
    for i in 2..=101u8 {
        let c = crate::support::http::client_from(std::net::IpAddr::from([127, 0, 0, i]));
        let r = c.get(format!("{}/public/x", s.gateway.url)).send().await.unwrap();
        assert_eq!(r.status(), 200);
    }
    // (Callers idle for a whole period may already be forgotten while the others arrive.)
    assert!(s.gateway.edge.rate_limited_callers() > 0);
    tokio::time::sleep(Duration::from_millis(2100)).await;
    assert_eq!(s.gateway.get("/public/x", None).await.status(), 200);
    let left = s.gateway.edge.rate_limited_callers();
    assert!(left <= 1, "{left} idle callers are still remembered");
}
