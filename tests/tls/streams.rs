//! Long-lived streams through tokengate: a WebSocket upgrade checked like any request and relayed both ways without
//! buffering, server-sent events delivered event by event on HTTP/1.1 and HTTP/2, and every such stream closed when
//! the token that opened it expires (moved clock), is revoked at the built-in server, or turns inactive when its
//! introspection answer is refreshed, unless its route says `close_streams_on_expiry = false`.

use std::process::Stdio;
use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Notify;

use crate::support::authz::{ClientAuth, TestAuthz};
use crate::support::{Claims, GatewayConfig, TestGateway, TestIssuer, TestUpstream};

/// An upstream of long-lived answers. `/ws`: `101 Switching Protocols`, then every byte read is written back
/// prefixed with `echo:`. Anything else: `text/event-stream`, chunked, one event `data: one`, then nothing until
/// [`StreamUpstream::release`], then `data: two` and the end.
struct StreamUpstream {
    url: String,
    release: Arc<Notify>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for StreamUpstream {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn head(stream: &mut TcpStream) -> String {
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        if stream.read(&mut byte).await.unwrap_or(0) == 0 {
            break;
        }
        head.push(byte[0]);
    }
    String::from_utf8_lossy(&head).to_string()
}

impl StreamUpstream {
    async fn start() -> StreamUpstream {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let release = Arc::new(Notify::new());
        let gate = release.clone();
        let task = tokio::spawn(async move {
            loop {
                let Ok((mut s, _)) = listener.accept().await else { return };
                let gate = gate.clone();
                tokio::spawn(async move {
                    let head = head(&mut s).await;
                    if head.starts_with("GET /api/ws") {
                        let _ = s
                            .write_all(b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n")
                            .await;
                        let mut buf = [0u8; 1024];
                        loop {
                            match s.read(&mut buf).await {
                                Ok(0) | Err(_) => return,
                                Ok(n) => {
                                    let mut out = b"echo:".to_vec();
                                    out.extend_from_slice(&buf[..n]);
                                    if s.write_all(&out).await.is_err() {
                                        return;
                                    }
                                }
                            }
                        }
                    }
                    let chunk = |data: &str| format!("{:x}\r\n{data}\r\n", data.len());
                    let _ = s
                        .write_all(
                            format!(
                                "HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ncache-control: no-cache\r\n\
                                 transfer-encoding: chunked\r\n\r\n{}",
                                chunk("data: one\n\n")
                            )
                            .as_bytes(),
                        )
                        .await;
                    gate.notified().await;
                    let _ = s.write_all(format!("{}0\r\n\r\n", chunk("data: two\n\n")).as_bytes()).await;
                });
            }
        });
        StreamUpstream { url, release, task }
    }

    /// Lets every waiting event stream send its second event and end.
    fn release(&self) {
        self.release.notify_waiters();
    }
}

/// A raw HTTP/1.1 client for the upgrade: the request, then the status line and headers of the answer.
async fn upgrade(addr: &str, token: Option<&str>) -> (TcpStream, String) {
    let mut s = TcpStream::connect(addr).await.unwrap();
    let auth = token.map(|t| format!("Authorization: Bearer {t}\r\n")).unwrap_or_default();
    s.write_all(
        format!(
            "GET /api/ws HTTP/1.1\r\nHost: api.test\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\
             Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n{auth}\r\n"
        )
        .as_bytes(),
    )
    .await
    .unwrap();
    let answer = head(&mut s).await;
    (s, answer)
}

/// Writes `message` and reads what comes back within 5 s.
async fn round_trip(s: &mut TcpStream, message: &str) -> String {
    s.write_all(message.as_bytes()).await.unwrap();
    let mut buf = vec![0u8; 256];
    let n = tokio::time::timeout(Duration::from_secs(5), s.read(&mut buf)).await.expect("an echo in time").unwrap();
    String::from_utf8_lossy(&buf[..n]).to_string()
}

/// Whether the connection is closed by the far end within `within`.
async fn closed_within(s: &mut TcpStream, within: Duration) -> bool {
    let mut buf = [0u8; 64];
    matches!(tokio::time::timeout(within, s.read(&mut buf)).await, Ok(Ok(0)) | Ok(Err(_)))
}

/// An event stream through the gateway read with curl (`--http1.1` or `--http2-prior-knowledge`), line by line.
struct Events {
    child: tokio::process::Child,
    lines: tokio::io::Lines<BufReader<tokio::process::ChildStdout>>,
}

impl Events {
    fn open(url: &str, token: &str, protocol: &str) -> Events {
        let mut child = tokio::process::Command::new("curl")
            .args(["-sS", "-N", protocol, "-H", &format!("Authorization: Bearer {token}"), url])
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .unwrap();
        let lines = BufReader::new(child.stdout.take().unwrap()).lines();
        Events { child, lines }
    }

    /// The next `data:` line within 5 s; `None` when the stream ended.
    async fn next(&mut self) -> Option<String> {
        loop {
            match tokio::time::timeout(Duration::from_secs(5), self.lines.next_line()).await {
                Err(_) => panic!("no event and no end within 5 s"),
                Ok(Ok(Some(line))) if line.starts_with("data:") => return Some(line),
                Ok(Ok(Some(_))) => continue,
                Ok(_) => return None,
            }
        }
    }

    /// Whether the stream ends (curl exits) within `within`, with no further event.
    async fn ends_within(&mut self, within: Duration) -> bool {
        let deadline = tokio::time::Instant::now() + within;
        loop {
            match tokio::time::timeout_at(deadline, self.lines.next_line()).await {
                Ok(Ok(None)) | Ok(Err(_)) => {
                    let _ = self.child.wait().await;
                    return true;
                }
                Ok(Ok(Some(line))) if line.is_empty() => continue,
                Ok(Ok(Some(line))) => panic!("the stream went on: {line}"),
                Err(_) => return false,
            }
        }
    }
}

/// A gateway with h2c in front of a [`StreamUpstream`], `/api/` needing `api:read`; `/open/` keeps its streams open.
async fn gateway(issuer: &TestIssuer, upstream: &StreamUpstream) -> TestGateway {
    let unused = TestUpstream::start().await;
    let mut cfg = GatewayConfig::new(issuer, &unused);
    cfg.upstream = upstream.url.clone();
    // Streams sit idle for seconds here: the upstream read timeout must not be what ends them.
    cfg.upstream_extra = "read_timeout_ms = 60000\n".into();
    cfg.server_extra = "h2c = true".into();
    cfg.routes = "[[routes]]\npath = \"/api/\"\nscopes = [\"api:read\"]\n\n\
                  [[routes]]\npath = \"/open/\"\nscopes = [\"api:read\"]\nclose_streams_on_expiry = false\n"
        .into();
    TestGateway::start(&cfg).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_websocket_upgrade_is_checked_then_relayed_both_ways_without_buffering() {
    let issuer = TestIssuer::start().await;
    let upstream = StreamUpstream::start().await;
    let gw = gateway(&issuer, &upstream).await;
    let addr = gw.url.trim_start_matches("http://").to_string();

    let (_, refused) = upgrade(&addr, None).await;
    assert!(refused.starts_with("HTTP/1.1 401"), "{refused}");
    let reader = issuer.mint(&Claims::new(&issuer).scope("reports:read"));
    let (_, refused) = upgrade(&addr, Some(&reader)).await;
    assert!(refused.starts_with("HTTP/1.1 403"), "{refused}");

    let token = issuer.mint(&Claims::new(&issuer).scope("api:read"));
    let (mut ws, answer) = upgrade(&addr, Some(&token)).await;
    assert!(answer.starts_with("HTTP/1.1 101"), "{answer}");
    // Each message comes back before the next is sent: nothing waits for a buffer to fill or the stream to end.
    for i in 0..3 {
        assert_eq!(round_trip(&mut ws, &format!("frame-{i}")).await, format!("echo:frame-{i}"));
    }
    assert_eq!(gw.metric("tokengate_streams_watched").await, 1.0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn server_sent_events_arrive_one_by_one_on_http1_and_http2() {
    let issuer = TestIssuer::start().await;
    let upstream = StreamUpstream::start().await;
    let gw = gateway(&issuer, &upstream).await;
    let token = issuer.mint(&Claims::new(&issuer).scope("api:read"));
    let url = format!("{}/api/events", gw.url);
    for protocol in ["--http1.1", "--http2-prior-knowledge"] {
        let mut events = Events::open(&url, &token, protocol);
        // The first event arrives while the upstream still holds the second back.
        assert_eq!(events.next().await.as_deref(), Some("data: one"), "{protocol}");
        upstream.release();
        assert_eq!(events.next().await.as_deref(), Some("data: two"), "{protocol}");
        assert!(events.ends_within(Duration::from_secs(5)).await, "{protocol}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn streams_are_closed_when_their_token_expires_unless_the_route_keeps_them() {
    let issuer = TestIssuer::start().await;
    let upstream = StreamUpstream::start().await;
    let gw = gateway(&issuer, &upstream).await;
    let addr = gw.url.trim_start_matches("http://").to_string();
    let exp = crate::support::now() + 60;
    let token = issuer.mint(&Claims::new(&issuer).scope("api:read").exp(exp));

    let (mut ws, answer) = upgrade(&addr, Some(&token)).await;
    assert!(answer.starts_with("HTTP/1.1 101"), "{answer}");
    assert_eq!(round_trip(&mut ws, "before").await, "echo:before");
    let mut h1 = Events::open(&format!("{}/api/events", gw.url), &token, "--http1.1");
    let mut h2 = Events::open(&format!("{}/api/events", gw.url), &token, "--http2-prior-knowledge");
    let mut kept = Events::open(&format!("{}/open/events", gw.url), &token, "--http1.1");
    for e in [&mut h1, &mut h2, &mut kept] {
        assert_eq!(e.next().await.as_deref(), Some("data: one"));
    }
    // Still valid a while: nothing is closed.
    assert!(!closed_within(&mut ws, Duration::from_millis(1500)).await, "closed before the token expired");

    // Past `exp` and the issuer's 30 s of leeway.
    gw.clock.advance(91);
    assert!(closed_within(&mut ws, Duration::from_secs(5)).await, "the WebSocket outlived its token");
    assert!(h1.ends_within(Duration::from_secs(5)).await, "the HTTP/1.1 event stream outlived its token");
    assert!(h2.ends_within(Duration::from_secs(5)).await, "the HTTP/2 event stream outlived its token");
    assert!(!kept.ends_within(Duration::from_millis(1500)).await, "close_streams_on_expiry = false was not kept");
    upstream.release();
    assert_eq!(kept.next().await.as_deref(), Some("data: two"));
    assert_eq!(gw.metric("tokengate_streams_closed_total").await, 3.0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stream_is_closed_when_its_introspected_token_turns_inactive_at_refresh() {
    let issuer = TestIssuer::start().await;
    let upstream = StreamUpstream::start().await;
    let gw = gateway(&issuer, &upstream).await;
    issuer.register_opaque_active("opaque-stream-token", "api:read", "alice", "app-1", None);
    let mut events = Events::open(&format!("{}/api/events", gw.url), "opaque-stream-token", "--http1.1");
    assert_eq!(events.next().await.as_deref(), Some("data: one"));

    // Inactive at the issuer, but the cached answer holds until its 300 s are up.
    issuer.unregister_opaque("opaque-stream-token");
    assert!(!events.ends_within(Duration::from_millis(1500)).await, "closed before the cached answer was due");
    gw.clock.advance(301);
    assert!(events.ends_within(Duration::from_secs(5)).await, "the stream outlived its token's introspection");
    assert_eq!(gw.metric("tokengate_streams_closed_total").await, 1.0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stream_whose_introspection_is_down_stays_open_until_its_tokens_exp_and_not_past_it() {
    let issuer = TestIssuer::start().await;
    let upstream = StreamUpstream::start().await;
    let gw = gateway(&issuer, &upstream).await;
    let exp = crate::support::now() + 400;
    issuer.register_opaque_active("opaque-outage-token", "api:read", "alice", "app-1", Some(exp));
    let mut events = Events::open(&format!("{}/api/events", gw.url), "opaque-outage-token", "--http1.1");
    assert_eq!(events.next().await.as_deref(), Some("data: one"));

    // The cached answer is due (300 s) while the issuer is down: no verdict, so the stream goes on...
    issuer.set_introspect_fault(crate::support::Fault::Down);
    gw.clock.advance(301);
    assert!(!events.ends_within(Duration::from_millis(2500)).await, "an outage alone closed the stream");
    // ...but not past the token's own expiry, which needs no issuer to know.
    gw.clock.advance(100);
    assert!(events.ends_within(Duration::from_secs(5)).await, "the stream outlived its token during an outage");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stream_is_closed_when_its_token_is_revoked_at_the_built_in_server() {
    let upstream = StreamUpstream::start().await;
    let az = TestAuthz::start_in_front_of(&upstream.url).await;
    let app = az.web_app("Streams").await;
    let tokens = az.tokens(&app, "api:read").await;
    let access = tokens["access_token"].as_str().unwrap().to_string();
    let addr = az.url.trim_start_matches("http://").to_string();

    let (mut ws, answer) = upgrade(&addr, Some(&access)).await;
    assert!(answer.starts_with("HTTP/1.1 101"), "{answer}");
    assert_eq!(round_trip(&mut ws, "before").await, "echo:before");
    let mut events = Events::open(&format!("{}/api/events", az.url), &access, "--http1.1");
    assert_eq!(events.next().await.as_deref(), Some("data: one"));

    az.revoke(ClientAuth::Basic(&app), &access).await.expect(200);
    assert!(closed_within(&mut ws, Duration::from_secs(5)).await, "the WebSocket outlived its revoked token");
    assert!(events.ends_within(Duration::from_secs(5)).await, "the event stream outlived its revoked token");
}
