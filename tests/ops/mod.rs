//! What ops read: every request's id (taken from a trusted proxy or made here, sent upstream, returned, and named in
//! error bodies) and the client's address behind load balancers (`server.trusted_proxies`), as the rate limits see
//! it and as the upstream is told it.

use crate::support::{json, Claims, Stack};

const ROUTES: &str = "[[routes]]\npath = \"/public/\"\nauth = \"none\"\nrate_limit = \"2/m\"\n\n\
                      [[routes]]\npath = \"/api/\"\nscopes = [\"api:read\"]\n";

fn is_generated_id(id: &str) -> bool {
    id.len() == 32 && id.bytes().all(|b| b.is_ascii_hexdigit())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_request_gets_an_id_sent_upstream_returned_and_named_in_error_bodies() {
    let s = Stack::start_with(|c| c.routes = ROUTES.into()).await;
    let r = s.gateway.get("/public/a", None).await;
    assert_eq!(r.status(), 200);
    let id = r.headers()["x-request-id"].to_str().unwrap().to_string();
    assert!(is_generated_id(&id), "{id}");
    assert_eq!(s.upstream.last().unwrap().header("x-request-id"), Some(id.as_str()));
    let other = s.gateway.get("/public/b", None).await.headers()["x-request-id"].to_str().unwrap().to_string();
    assert_ne!(id, other, "each request its own id");

    // A refusal names it in its header and its body.
    let r = s.gateway.get("/api/x", None).await;
    assert_eq!(r.status(), 401);
    let id = r.headers()["x-request-id"].to_str().unwrap().to_string();
    let body = json(r).await;
    assert_eq!(body["request_id"], id.as_str());
    assert_eq!(body["error"], "invalid_request");

    // A client that is no trusted proxy cannot choose its id (it could forge another request's in the logs).
    let r = s.gateway.request(reqwest::Method::GET, "/api/x").header("X-Request-Id", "chosen-by-client").send().await;
    let r = r.unwrap();
    assert!(is_generated_id(r.headers()["x-request-id"].to_str().unwrap()));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_spoofed_x_forwarded_for_from_an_untrusted_client_is_ignored_for_the_rate_limit_and_replaced_upstream() {
    let s = Stack::start_with(|c| c.routes = ROUTES.into()).await;
    let mut statuses = Vec::new();
    for i in 0..3 {
        let r = s
            .gateway
            .request(reqwest::Method::GET, "/public/x")
            .header("X-Forwarded-For", format!("203.0.113.{i}"))
            .header("Forwarded", format!("for=198.51.100.{i}"))
            .header("X-Forwarded-Proto", "https")
            .send()
            .await
            .unwrap();
        statuses.push(r.status().as_u16());
    }
    // One caller, whatever it claims: the third request of two per minute is refused.
    assert_eq!(statuses, vec![200, 200, 429]);
    let seen = s.upstream.last().unwrap();
    assert_eq!(seen.header_all("x-forwarded-for"), vec!["127.0.0.1"]);
    assert_eq!(seen.header("x-forwarded-proto"), Some("http"));
    assert_eq!(seen.header("forwarded").map(|f| f.starts_with("for=127.0.0.1;proto=http")), Some(true), "{seen:?}");
    assert!(seen.header("x-forwarded-host").is_some_and(|h| h.starts_with("127.0.0.1:")), "{seen:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_trusted_proxys_forwarding_headers_and_request_id_are_believed() {
    let s = Stack::start_with(|c| {
        c.routes = ROUTES.into();
        c.server_extra = "trusted_proxies = [\"127.0.0.1/32\", \"::1\"]".into();
    })
    .await;
    let get =
        |xff: &'static str| s.gateway.request(reqwest::Method::GET, "/public/x").header("X-Forwarded-For", xff).send();
    // The balancer (a trusted hop) says who the client is: two clients, two budgets.
    let a: Vec<u16> = [get("203.0.113.1").await, get("203.0.113.1").await, get("203.0.113.1").await]
        .into_iter()
        .map(|r| r.unwrap().status().as_u16())
        .collect();
    assert_eq!(a, vec![200, 200, 429]);
    assert_eq!(get("203.0.113.2").await.unwrap().status(), 200);
    // A forged entry left of the balancer's changes nothing: the walk stops at the first untrusted address.
    assert_eq!(get("6.6.6.6, 203.0.113.1").await.unwrap().status(), 429);
    let seen = s.upstream.last().unwrap();
    assert_eq!(seen.header("x-forwarded-for"), Some("203.0.113.2, 127.0.0.1"));

    let token = s.issuer.mint(&Claims::new(&s.issuer).scope("api:read"));
    let r = s
        .gateway
        .request(reqwest::Method::GET, "/api/x")
        .bearer_auth(&token)
        .header("X-Request-Id", "lb-7f3a.1")
        .header("X-Forwarded-Proto", "https")
        .send()
        .await
        .unwrap();
    assert_eq!(r.headers()["x-request-id"], "lb-7f3a.1");
    let seen = s.upstream.last().unwrap();
    assert_eq!(seen.header("x-request-id"), Some("lb-7f3a.1"));
    assert_eq!(seen.header("x-forwarded-proto"), Some("https"), "the balancer terminated TLS");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_authorization_servers_error_bodies_name_the_request_id_too() {
    let az = crate::support::authz::TestAuthz::start().await;
    let r = crate::support::client()
        .post(format!("{}/oauth2/token", az.url))
        .form(&[("grant_type", "client_credentials")])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    let id = r.headers()["x-request-id"].to_str().unwrap().to_string();
    assert!(is_generated_id(&id), "{id}");
    let body = json(r).await;
    assert_eq!(body["error"], "invalid_client");
    assert_eq!(body["request_id"], id.as_str());
    // A page (not JSON) keeps its body, and still has the header.
    let r = crate::support::client().get(format!("{}/oauth2/authorize", az.url)).send().await.unwrap();
    assert!(r.headers().contains_key("x-request-id"));
}

/// Waits (at most 5 s) until `path` holds `n` lines, and returns them parsed.
async fn log_lines(path: &std::path::Path, n: usize) -> Vec<serde_json::Value> {
    for _ in 0..100 {
        let text = std::fs::read_to_string(path).unwrap_or_default();
        let lines: Vec<serde_json::Value> = text.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
        if lines.len() >= n {
            return lines;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    panic!("the access log {} has fewer than {n} lines", path.display());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_access_log_writes_a_json_line_per_request_with_its_fields_and_never_a_token() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("access.log");
    let routes =
        format!("{ROUTES}\n[access_log]\npath = \"{}\"\ninclude_query = true\nhash_subject = false\n", log.display());
    let s = Stack::start_with(move |c| {
        c.auth = "token_sources = [\"authorization\", \"sessionid\", \"query\"]".into();
        c.routes = routes;
    })
    .await;
    let token = s.issuer.mint(&Claims::new(&s.issuer).scope("api:read").sub("alice"));
    let g = &s.gateway;
    assert_eq!(g.get("/api/a?x=1", Some(&token)).await.status(), 200);
    let r =
        g.request(reqwest::Method::GET, "/api/b").header("sessionID", &token).header("User-Agent", "probe/1").send();
    assert_eq!(r.await.unwrap().status(), 200);
    assert_eq!(g.get(&format!("/api/c?access_token={token}&y=2"), None).await.status(), 200);
    let denied = g.get("/api/d", Some("not-a-token")).await;
    assert_eq!(denied.status(), 401);
    let denied_id = denied.headers()["x-request-id"].to_str().unwrap().to_string();

    let lines = log_lines(&log, 4).await;
    let text = std::fs::read_to_string(&log).unwrap();
    assert!(!text.contains(&token), "a token reached the access log:\n{text}");
    assert!(!text.to_ascii_lowercase().contains("bearer"), "{text}");

    let first = &lines[0];
    for key in ["time", "client", "method", "path", "protocol", "status", "bytes_in", "bytes_out", "duration_ms"] {
        assert!(!first[key].is_null(), "{key} missing: {first}");
    }
    assert!(first["time"].as_str().unwrap().ends_with('Z') && first["time"].as_str().unwrap().contains('.'));
    assert_eq!(first["client"], "127.0.0.1");
    assert_eq!((first["method"].as_str(), first["path"].as_str()), (Some("GET"), Some("/api/a?x=1")));
    assert_eq!((first["protocol"].as_str(), first["status"].as_u64()), (Some("HTTP/1.1"), Some(200)));
    assert_eq!((first["route"].as_str(), first["outcome"].as_str()), (Some("/api/"), Some("allowed")));
    assert_eq!(first["subject"], "alice");
    assert_eq!(first["client_id"], "app-1");
    assert_eq!(first["issuer"], s.issuer.issuer_url().as_str());
    assert!(first["upstream_ms"].as_f64().is_some() && first["bytes_out"].as_u64().unwrap() > 0);
    assert_eq!(lines[1]["user_agent"], "probe/1");
    // The query string is kept (include_query), without the token.
    assert_eq!(lines[2]["path"], "/api/c?y=2");
    let refused = lines.iter().find(|l| l["status"] == 401).unwrap();
    assert_eq!((refused["outcome"].as_str(), refused["reason"].as_str()), (Some("invalid_token"), Some("inactive")));
    assert_eq!(refused["request_id"], denied_id.as_str());
    assert!(refused["subject"].is_null());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_blocked_access_log_never_blocks_a_request_and_every_dropped_line_is_counted() {
    let dir = tempfile::tempdir().unwrap();
    let fifo = dir.path().join("nobody-reads");
    assert!(std::process::Command::new("mkfifo").arg(&fifo).status().unwrap().success());
    let routes = format!("{ROUTES}\n[access_log]\npath = \"{}\"\nbuffer = 2\n", fifo.display());
    let s = Stack::start_with(move |c| c.routes = routes).await;
    // The writer is stuck opening a pipe nobody reads; requests go on at full speed.
    for i in 0..20 {
        assert_eq!(s.gateway.get(&format!("/api/{i}"), None).await.status(), 401);
    }
    let dropped = s.gateway.metric("tokengate_access_log_dropped_total").await;
    assert!(dropped >= 18.0, "dropped {dropped}");
    // Let the writer go.
    let _ = std::fs::File::open(&fifo);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigusr1_reopens_the_access_log_after_logrotate_renamed_it() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("access.log");
    let upstream = crate::support::TestUpstream::start().await;
    let id: u64 = rand::random();
    let path = dir.path().join("t.toml");
    std::fs::write(
        &path,
        format!(
            "[server]\nlisten = \"127.0.0.1:0\"\npid_file = \"/tmp/tg-log-{id}.pid\"\nupgrade_sock = \"/tmp/tg-log-{id}.sock\"\n\
             grace_period_secs = 0\n[metrics]\nlisten = \"off\"\n[upstream]\nurl = \"{}\"\n\
             [authorization_server]\nenabled = true\nissuer = \"http://127.0.0.1:1\"\ndatabase = \"{}\"\n\
             [admin]\nlisten = \"127.0.0.1:0\"\n[[routes]]\npath = \"/public/\"\nauth = \"none\"\n\
             [access_log]\npath = \"{}\"\nformat = \"logfmt\"\n",
            upstream.url(),
            dir.path().join("tg.db").display(),
            log.display()
        ),
    )
    .unwrap();
    let served = crate::support::serve(&path);
    let url = served.url("proxy");
    let get = |p: &'static str| {
        let url = format!("{url}{p}");
        async move { crate::support::client().get(url).send().await.unwrap().status() }
    };
    let wait_for = |file: std::path::PathBuf, needle: &'static str| async move {
        for _ in 0..100 {
            if std::fs::read_to_string(&file).unwrap_or_default().contains(needle) {
                return true;
            }
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
        false
    };
    assert_eq!(get("/public/one").await, 200);
    assert!(wait_for(log.clone(), "path=/public/one").await);
    // logrotate renames the file: lines go on into the renamed one until the signal...
    let rotated = dir.path().join("access.log.1");
    std::fs::rename(&log, &rotated).unwrap();
    assert_eq!(get("/public/two").await, 200);
    assert!(wait_for(rotated.clone(), "path=/public/two").await);
    // ...then into a new file of the configured name.
    served.signal(10);
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    assert_eq!(get("/public/three").await, 200);
    assert!(wait_for(log.clone(), "path=/public/three").await, "no new file after SIGUSR1");
    let old = std::fs::read_to_string(&rotated).unwrap();
    assert!(!old.contains("/public/three"), "{old}");
    let line = std::fs::read_to_string(&log).unwrap();
    assert!(line.contains("method=GET") && line.contains("status=200") && line.contains("outcome=public"), "{line}");
}
