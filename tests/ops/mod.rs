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
