//! A test upstream: a hand-rolled HTTP/1.1 echo server (keep-alive, Content-Length and
//! chunked request bodies) that records what it received, byte-exact request-target included.

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::{json, Map, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpSocket, TcpStream};
use tokio::task::{JoinHandle, JoinSet};

/// How many requests `seen()` keeps.
const KEEP_SEEN: usize = 64;
/// Largest accepted request head.
const MAX_HEAD: usize = 64 * 1024;

/// How the upstream answers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum UpstreamMode {
    /// 200 with the JSON echo body.
    Normal,
    /// This status with the JSON echo body (no body for 1xx/204/304).
    Status(u16),
    /// Sleep, then answer as `Normal`.
    Delay(Duration),
    /// Read the request, then reset the TCP connection (RST, SO_LINGER 0) without answering.
    Reset,
    /// Read the request, then close the connection cleanly (FIN) without answering.
    Close,
}

/// One request as received.
#[derive(Clone, Debug)]
pub struct Seen {
    /// Request method, e.g. `GET`.
    pub method: String,
    /// The raw request-target (path and query exactly as sent).
    pub path: String,
    /// The HTTP version token, e.g. `HTTP/1.1`.
    pub version: String,
    /// Headers in order received, names lowercased, values trimmed.
    pub headers: Vec<(String, String)>,
    /// The decoded body (chunked encoding removed).
    pub body: Vec<u8>,
    /// 1-based index of the TCP connection it arrived on.
    pub connection: usize,
}

impl Seen {
    /// First value of a header (name case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        let name = name.to_ascii_lowercase();
        self.headers.iter().find(|(k, _)| *k == name).map(|(_, v)| v.as_str())
    }
    /// All values of a header (name case-insensitive).
    pub fn header_all(&self, name: &str) -> Vec<&str> {
        let name = name.to_ascii_lowercase();
        self.headers.iter().filter(|(k, _)| *k == name).map(|(_, v)| v.as_str()).collect()
    }
    /// Whether the header is present.
    pub fn has_header(&self, name: &str) -> bool {
        self.header(name).is_some()
    }
}

struct Inner {
    addr: SocketAddr,
    mode: Mutex<UpstreamMode>,
    extra_headers: Mutex<Vec<(String, String)>>,
    seen: Mutex<VecDeque<Seen>>,
    hits: AtomicUsize,
    connections: AtomicUsize,
    open: AtomicUsize,
    task: tokio::sync::Mutex<Option<JoinHandle<()>>>,
}

/// A running test upstream. Cheap to clone (shared `Arc`).
///
/// Every request (any method, any path) gets, in `Normal` mode, a 200 with
/// `{"method", "path" (raw request-target), "headers": {lowercased name: [values]}, "body_len"}`.
#[derive(Clone)]
pub struct TestUpstream {
    inner: Arc<Inner>,
}

fn bind_reusable(addr: SocketAddr) -> std::io::Result<TcpListener> {
    let sock = TcpSocket::new_v4()?;
    sock.set_reuseaddr(true)?;
    sock.bind(addr)?;
    sock.listen(1024)
}

impl TestUpstream {
    /// Starts an upstream on `127.0.0.1:0`.
    pub async fn start() -> TestUpstream {
        let listener = bind_reusable("127.0.0.1:0".parse().unwrap()).expect("bind upstream");
        let inner = Arc::new(Inner {
            addr: listener.local_addr().unwrap(),
            mode: Mutex::new(UpstreamMode::Normal),
            extra_headers: Mutex::new(Vec::new()),
            seen: Mutex::new(VecDeque::new()),
            hits: AtomicUsize::new(0),
            connections: AtomicUsize::new(0),
            open: AtomicUsize::new(0),
            task: tokio::sync::Mutex::new(None),
        });
        let task = tokio::spawn(accept_loop(inner.clone(), listener));
        *inner.task.lock().await = Some(task);
        TestUpstream { inner }
    }

    /// `http://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        format!("http://{}", self.inner.addr)
    }
    /// The bound socket address (stays known after `stop`).
    pub fn address(&self) -> SocketAddr {
        self.inner.addr
    }
    /// Changes how requests are answered.
    pub fn set_mode(&self, mode: UpstreamMode) {
        *self.inner.mode.lock().unwrap() = mode;
    }
    /// Extra headers added to every response (e.g. hop-by-hop or `set-cookie`).
    pub fn set_response_headers(&self, headers: Vec<(String, String)>) {
        *self.inner.extra_headers.lock().unwrap() = headers;
    }
    /// Requests fully received (including those answered by `Reset`/`Close`).
    pub fn hits(&self) -> usize {
        self.inner.hits.load(Ordering::SeqCst)
    }
    /// TCP connections accepted so far.
    pub fn connections(&self) -> usize {
        self.inner.connections.load(Ordering::SeqCst)
    }
    /// TCP connections currently open.
    pub fn open_connections(&self) -> usize {
        self.inner.open.load(Ordering::SeqCst)
    }
    /// The most recent request.
    pub fn last(&self) -> Option<Seen> {
        self.inner.seen.lock().unwrap().back().cloned()
    }
    /// The last (up to 64) requests, oldest first.
    pub fn seen(&self) -> Vec<Seen> {
        self.inner.seen.lock().unwrap().iter().cloned().collect()
    }
    /// Stops listening and drops every open connection (connections then get refused).
    pub async fn stop(&self) {
        if let Some(task) = self.inner.task.lock().await.take() {
            task.abort();
            let _ = task.await;
        }
    }
    /// Restarts a stopped upstream on the same address (no-op if running).
    pub async fn restart(&self) {
        let mut task = self.inner.task.lock().await;
        if task.is_some() {
            return;
        }
        let mut last_err = None;
        for _ in 0..50 {
            match bind_reusable(self.inner.addr) {
                Ok(l) => {
                    *task = Some(tokio::spawn(accept_loop(self.inner.clone(), l)));
                    return;
                }
                Err(e) => {
                    last_err = Some(e);
                    tokio::time::sleep(Duration::from_millis(20)).await;
                }
            }
        }
        panic!("cannot rebind upstream on {}: {:?}", self.inner.addr, last_err);
    }
}

async fn accept_loop(inner: Arc<Inner>, listener: TcpListener) {
    // Connection tasks live in the JoinSet, so aborting this task drops them all.
    let mut conns = JoinSet::new();
    loop {
        tokio::select! {
            accepted = listener.accept() => {
                let Ok((stream, _)) = accepted else { continue };
                let id = inner.connections.fetch_add(1, Ordering::SeqCst) + 1;
                inner.open.fetch_add(1, Ordering::SeqCst);
                let inner = inner.clone();
                conns.spawn(async move {
                    let _guard = OpenGuard(inner.clone());
                    let _ = stream.set_nodelay(true);
                    handle_conn(&inner, stream, id).await;
                });
            }
            Some(_) = conns.join_next(), if !conns.is_empty() => {}
        }
    }
}

struct OpenGuard(Arc<Inner>);
impl Drop for OpenGuard {
    fn drop(&mut self) {
        self.0.open.fetch_sub(1, Ordering::SeqCst);
    }
}

/// Buffered reader over the raw stream.
struct Conn {
    stream: TcpStream,
    buf: Vec<u8>,
}

impl Conn {
    /// Reads more bytes; false on EOF or error.
    async fn fill(&mut self) -> bool {
        let mut tmp = [0u8; 16 * 1024];
        match self.stream.read(&mut tmp).await {
            Ok(0) | Err(_) => false,
            Ok(n) => {
                self.buf.extend_from_slice(&tmp[..n]);
                true
            }
        }
    }
    async fn take_exact(&mut self, n: usize) -> Option<Vec<u8>> {
        while self.buf.len() < n {
            if !self.fill().await {
                return None;
            }
        }
        Some(self.buf.drain(..n).collect())
    }
    async fn take_line(&mut self) -> Option<String> {
        loop {
            if let Some(pos) = find(&self.buf, b"\r\n") {
                let line: Vec<u8> = self.buf.drain(..pos + 2).collect();
                return Some(String::from_utf8_lossy(&line[..pos]).into_owned());
            }
            if self.buf.len() > MAX_HEAD || !self.fill().await {
                return None;
            }
        }
    }
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

async fn write_simple(conn: &mut Conn, status: u16, reason: &str) {
    let msg = format!("HTTP/1.1 {status} {reason}\r\ncontent-length: 0\r\nconnection: close\r\n\r\n");
    let _ = conn.stream.write_all(msg.as_bytes()).await;
    let _ = conn.stream.shutdown().await;
}

async fn handle_conn(inner: &Inner, stream: TcpStream, conn_id: usize) {
    let mut conn = Conn { stream, buf: Vec::new() };
    loop {
        // Request head (tolerate stray CRLFs before the request line, RFC 9112 2.2).
        let head_end = loop {
            while conn.buf.starts_with(b"\r\n") {
                conn.buf.drain(..2);
            }
            if let Some(pos) = find(&conn.buf, b"\r\n\r\n") {
                break pos;
            }
            if conn.buf.len() > MAX_HEAD {
                write_simple(&mut conn, 431, "Request Header Fields Too Large").await;
                return;
            }
            if !conn.fill().await {
                return;
            }
        };
        let head: Vec<u8> = conn.buf.drain(..head_end + 4).collect();
        let head = String::from_utf8_lossy(&head[..head_end]).into_owned();
        let mut lines = head.split("\r\n");
        let request_line = lines.next().unwrap_or("");
        let parts: Vec<&str> = request_line.split(' ').collect();
        if parts.len() != 3 || !parts[2].starts_with("HTTP/1.") {
            write_simple(&mut conn, 400, "Bad Request").await;
            return;
        }
        let (method, target, version) = (parts[0].to_string(), parts[1].to_string(), parts[2].to_string());
        let mut headers = Vec::new();
        for line in lines {
            let Some((name, value)) = line.split_once(':') else {
                write_simple(&mut conn, 400, "Bad Request").await;
                return;
            };
            headers.push((name.trim().to_ascii_lowercase(), value.trim().to_string()));
        }
        let get = |n: &str| headers.iter().find(|(k, _)| k == n).map(|(_, v)| v.clone());

        let chunked = headers
            .iter()
            .filter(|(k, _)| k == "transfer-encoding")
            .any(|(_, v)| v.to_ascii_lowercase().contains("chunked"));
        let content_length = match get("content-length") {
            Some(v) => match v.parse::<usize>() {
                Ok(n) => n,
                Err(_) => {
                    write_simple(&mut conn, 400, "Bad Request").await;
                    return;
                }
            },
            None => 0,
        };
        if (chunked || content_length > 0) && get("expect").is_some_and(|v| v.eq_ignore_ascii_case("100-continue")) {
            let _ = conn.stream.write_all(b"HTTP/1.1 100 Continue\r\n\r\n").await;
        }
        let body = if chunked {
            match read_chunked(&mut conn).await {
                Some(b) => b,
                None => return,
            }
        } else {
            match conn.take_exact(content_length).await {
                Some(b) => b,
                None => return,
            }
        };

        let conn_hdr = get("connection").unwrap_or_default().to_ascii_lowercase();
        let keep_alive =
            if version == "HTTP/1.0" { conn_hdr.contains("keep-alive") } else { !conn_hdr.contains("close") };

        let mut header_obj = Map::new();
        for (k, v) in &headers {
            header_obj.entry(k.clone()).or_insert_with(|| Value::Array(vec![])).as_array_mut().unwrap().push(json!(v));
        }
        let echo = json!({
            "method": method,
            "path": target,
            "headers": header_obj,
            "body_len": body.len(),
        });
        let seen =
            Seen { method: method.clone(), path: target, version: version.clone(), headers, body, connection: conn_id };
        {
            let mut s = inner.seen.lock().unwrap();
            s.push_back(seen);
            while s.len() > KEEP_SEEN {
                s.pop_front();
            }
        }
        inner.hits.fetch_add(1, Ordering::SeqCst);

        let mode = *inner.mode.lock().unwrap();
        let status = match mode {
            UpstreamMode::Normal => 200,
            UpstreamMode::Status(s) => s,
            UpstreamMode::Delay(d) => {
                tokio::time::sleep(d).await;
                200
            }
            UpstreamMode::Reset => {
                let _ = conn.stream.set_zero_linger();
                return;
            }
            UpstreamMode::Close => {
                let _ = conn.stream.shutdown().await;
                return;
            }
        };

        let body = serde_json::to_vec(&echo).unwrap();
        let no_body = (100..200).contains(&status) || status == 204 || status == 304;
        let mut resp = format!("HTTP/1.1 {status} {}\r\n", reason(status));
        if !no_body {
            resp.push_str(&format!("content-type: application/json\r\ncontent-length: {}\r\n", body.len()));
        }
        for (k, v) in inner.extra_headers.lock().unwrap().iter() {
            resp.push_str(&format!("{k}: {v}\r\n"));
        }
        if !keep_alive {
            resp.push_str("connection: close\r\n");
        } else if version == "HTTP/1.0" {
            resp.push_str("connection: keep-alive\r\n");
        }
        resp.push_str("\r\n");
        let mut out = resp.into_bytes();
        if !no_body && method != "HEAD" {
            out.extend_from_slice(&body);
        }
        if conn.stream.write_all(&out).await.is_err() {
            return;
        }
        if !keep_alive {
            let _ = conn.stream.shutdown().await;
            return;
        }
    }
}

/// Decodes a chunked body (extensions and trailers ignored). None on EOF / malformed input.
async fn read_chunked(conn: &mut Conn) -> Option<Vec<u8>> {
    let mut body = Vec::new();
    loop {
        let line = conn.take_line().await?;
        let size_str = line.split(';').next().unwrap_or("").trim();
        let size = usize::from_str_radix(size_str, 16).ok()?;
        if size == 0 {
            // Trailer section, ended by an empty line.
            loop {
                if conn.take_line().await?.is_empty() {
                    return Some(body);
                }
            }
        }
        body.extend(conn.take_exact(size).await?);
        if conn.take_exact(2).await? != b"\r\n" {
            return None;
        }
    }
}

fn reason(status: u16) -> &'static str {
    match status {
        200 => "OK",
        201 => "Created",
        204 => "No Content",
        301 => "Moved Permanently",
        302 => "Found",
        304 => "Not Modified",
        400 => "Bad Request",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "Not Found",
        429 => "Too Many Requests",
        500 => "Internal Server Error",
        502 => "Bad Gateway",
        503 => "Service Unavailable",
        504 => "Gateway Timeout",
        _ => "Status",
    }
}
