//! gRPC through tokengate with Python's grpcio on both sides: unary and server-streaming calls with their trailers and
//! status codes intact, over h2c and over TLS; refused calls answered the gRPC way (`grpc-status` 16 or 7).

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};

use serde_json::Value;

use crate::support::tls::TestCa;
use crate::support::{Claims, GatewayConfig, TestGateway, TestIssuer, TestUpstream};

const PEER: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/tls/grpc_peer.py");

/// `true` when grpcio is missing and the test is skipped (a line says so); a failure instead with
/// `TOKENGATE_REQUIRE_GRPC=1`, as `.ci/run` sets.
fn skip() -> bool {
    let ok = Command::new("python3").args(["-c", "import grpc"]).output().is_ok_and(|o| o.status.success());
    if ok {
        return false;
    }
    assert!(
        std::env::var("TOKENGATE_REQUIRE_GRPC").as_deref() != Ok("1"),
        "TOKENGATE_REQUIRE_GRPC=1 but python3 cannot import grpc: `pip install grpcio`"
    );
    println!("SKIPPED: the gRPC tests need Python's grpcio (`pip install grpcio`)");
    true
}

/// The Python gRPC service, stopped when dropped.
struct Service {
    child: Child,
    port: u16,
}

impl Service {
    fn start() -> Service {
        Self::start_with(&[])
    }

    /// With TLS: `tls` is the certificate and key files.
    fn start_with(tls: &[&Path]) -> Service {
        let mut child = Command::new("python3")
            .args([PEER, "serve"])
            .args(tls)
            .env("GRPC_VERBOSITY", "ERROR")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        let mut line = String::new();
        BufReader::new(child.stdout.as_mut().unwrap()).read_line(&mut line).unwrap();
        Service { port: line.trim().parse().expect("the service prints its port"), child }
    }
}

impl Drop for Service {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The three calls (`unary`, `stream`, `fail`) through `target`, as the client saw them.
fn calls(target: &str, token: &str, ca: Option<&Path>) -> Vec<Value> {
    let ca = ca.map(|p| p.display().to_string()).unwrap_or_default();
    let out = Command::new("python3").args([PEER, "call", target, token, &ca, "api.test"]).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).lines().map(|l| serde_json::from_str(l).unwrap()).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn grpc_unary_and_streaming_calls_pass_with_trailers_and_refused_calls_get_grpc_statuses() {
    if skip() {
        return;
    }
    let service = Service::start();
    let dir = tempfile::tempdir().unwrap();
    let ca = TestCa::new();
    let ca_file = ca.write(dir.path());
    let leaf = ca.leaf(dir.path(), "api", &["api.test"]);
    let issuer = TestIssuer::start().await;
    let unused = TestUpstream::start().await;
    let mut cfg = GatewayConfig::new(&issuer, &unused);
    cfg.upstream = format!("http://127.0.0.1:{}", service.port);
    cfg.upstream_extra = "http2 = true\n".into();
    cfg.server_extra = format!("h2c = true\n{}", super::tls_section(&[&leaf], ""));
    cfg.routes = "[[routes]]\npath = \"/demo.Echo/\"\nscopes = [\"api:read\"]\n".into();
    let gateway = TestGateway::start(&cfg).await;
    let plain = gateway.url.trim_start_matches("http://").to_string();
    let tls = format!("127.0.0.1:{}", gateway.tls_addr.unwrap().port());
    let token = issuer.mint(&Claims::new(&issuer).scope("api:read"));

    for (way, target, ca) in [("h2c", plain.as_str(), None), ("TLS", tls.as_str(), Some(ca_file.as_path()))] {
        let seen = calls(target, &token, ca);
        assert_eq!(seen.len(), 3, "{way}: {seen:?}");
        assert_eq!(seen[0]["code"], "OK", "{way}: {seen:?}");
        assert_eq!(seen[0]["messages"], serde_json::json!(["echo:hello"]), "{way}");
        assert_eq!(seen[0]["trailers"]["x-echo-trailer"], "unary", "{way}");
        assert_eq!(seen[1]["code"], "OK", "{way}: {seen:?}");
        assert_eq!(seen[1]["messages"], serde_json::json!(["part-0:hello", "part-1:hello", "part-2:hello"]), "{way}");
        assert_eq!(seen[1]["trailers"]["x-echo-trailer"], "stream", "{way}");
        // The service's own error status and trailers reach the client unchanged.
        assert_eq!(seen[2]["code"], "NOT_FOUND", "{way}: {seen:?}");
        assert_eq!(seen[2]["details"], "no such thing", "{way}");
        assert_eq!(seen[2]["trailers"]["x-echo-trailer"], "fail", "{way}");
    }

    // No token: every call is UNAUTHENTICATED with the reason, and the challenge is still there.
    for call in calls(&plain, "", None) {
        assert_eq!(call["code"], "UNAUTHENTICATED", "{call}");
        assert_eq!(call["details"], "an access token is required", "{call}");
        assert_eq!(call["headers"]["www-authenticate"], "Bearer realm=\"tokengate\"", "{call}");
    }
    // A token without the route's scope: PERMISSION_DENIED, over TLS too.
    let other = issuer.mint(&Claims::new(&issuer).scope("reports:read"));
    for call in calls(&tls, &other, Some(&ca_file)) {
        assert_eq!(call["code"], "PERMISSION_DENIED", "{call}");
        assert!(call["headers"]["www-authenticate"].as_str().unwrap().ends_with("scope=\"api:read\""), "{call}");
    }
    // A forged token: UNAUTHENTICATED.
    for call in calls(&plain, "not.a.token", None) {
        assert_eq!(call["code"], "UNAUTHENTICATED", "{call}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn grpc_reaches_an_https_upstream_by_alpn_h2_trusting_the_configured_ca() {
    if skip() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let ca = TestCa::new();
    let ca_file = ca.write(dir.path());
    let upstream_leaf = ca.leaf(dir.path(), "upstream", &["localhost"]);
    let service = Service::start_with(&[&upstream_leaf.cert, &upstream_leaf.key]);
    let issuer = TestIssuer::start().await;
    let unused = TestUpstream::start().await;
    let mut cfg = GatewayConfig::new(&issuer, &unused);
    cfg.upstream = format!("https://localhost:{}", service.port);
    cfg.upstream_extra = format!("http2 = true\nca_file = \"{}\"\n", ca_file.display());
    cfg.server_extra = "h2c = true\n".into();
    cfg.routes = "[[routes]]\npath = \"/demo.Echo/\"\nscopes = [\"api:read\"]\n".into();
    let gateway = TestGateway::start(&cfg).await;
    let token = issuer.mint(&Claims::new(&issuer).scope("api:read"));
    let seen = calls(gateway.url.trim_start_matches("http://"), &token, None);
    // gRPC needs HTTP/2 end to end: these pass only if the upstream connection negotiated h2 over TLS.
    assert_eq!(seen[0]["code"], "OK", "{seen:?}");
    assert_eq!(seen[0]["messages"], serde_json::json!(["echo:hello"]));
    assert_eq!(seen[1]["messages"].as_array().map(Vec::len), Some(3), "{seen:?}");

    // Without the CA the upstream's certificate is not trusted: the call fails as UNAVAILABLE, never unchecked.
    let mut untrusting = cfg.clone();
    untrusting.upstream_extra = "http2 = true\n".into();
    let gateway = TestGateway::start(&untrusting).await;
    let seen = calls(gateway.url.trim_start_matches("http://"), &token, None);
    assert_eq!(seen[0]["code"], "UNAVAILABLE", "{seen:?}");
}
