//! Long-lived streams closed when the token that opened them stops being good: a WebSocket, server-sent events or any
//! streaming response outlives no expiry, revocation or inactive introspection answer.
//!
//! A [`StreamWatch`] is armed when a response turns out to be a stream ([`is_stream`]). Until it is dropped (when the
//! request ends), it checks the request's token again ([`Edge::recheck`]) at the token's expiry and at least every
//! [`RECHECK`], on the edge's clock. A token found expired, revoked or inactive cuts the stream: the sockets that carry
//! only this stream are shut down (the upstream connection unless it is a shared HTTP/2 one, and the client's
//! connection once upgraded to a WebSocket), which ends the relay at once, and [`StreamWatch::is_cut`] turns true so
//! the proxy's body filters refuse the next chunk in either direction (the only way to cut a stream that shares a
//! multiplexed HTTP/2 upstream connection).

use std::os::fd::OwnedFd;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use pingora::http::{RequestHeader, ResponseHeader};

use super::{Allowed, Denial, Edge};

/// The longest a stream goes without its token being checked again.
pub const RECHECK: Duration = Duration::from_secs(1);

/// Whether a response is a long-lived stream worth watching: an upgrade (`101`), server-sent events, gRPC, or a body
/// of no announced length.
pub fn is_stream(resp: &ResponseHeader) -> bool {
    if resp.status.as_u16() == 101 {
        return true;
    }
    let content_type = resp.headers.get(http::header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or("");
    let content_type = content_type.trim_start().to_ascii_lowercase();
    content_type.starts_with("text/event-stream")
        || content_type.starts_with("application/grpc")
        || (!resp.headers.contains_key(http::header::CONTENT_LENGTH)
            && !matches!(resp.status.as_u16(), 204 | 304)
            && resp.status.as_u16() >= 200)
}

/// Watches one stream's token; stops watching when dropped.
pub struct StreamWatch {
    cut: Arc<AtomicBool>,
    task: tokio::task::JoinHandle<()>,
    watched: prometheus::IntGauge,
}

impl Drop for StreamWatch {
    fn drop(&mut self) {
        self.task.abort();
        self.watched.dec();
    }
}

impl StreamWatch {
    /// Whether the stream has been cut: the body filters refuse every further chunk.
    pub fn is_cut(&self) -> bool {
        self.cut.load(Ordering::Acquire)
    }
}

impl Edge {
    /// Whether a request let through is to be watched as a stream: its route asks for it and a token opened it.
    pub fn watches_streams(&self, allowed: &Allowed) -> bool {
        allowed.identity.is_some()
            && self.inner.cfg.routes.get(allowed.route).is_some_and(|r| r.close_streams_on_expiry)
    }

    /// Checks the token of `req` again, as it is now: expired (on the edge's clock), revoked, or found inactive once
    /// its cached introspection answer is due for refresh, it is refused. The route is not decided again.
    pub async fn recheck(&self, req: &RequestHeader) -> Result<(), Denial> {
        self.authenticate(req).await.map(|_| ())
    }

    /// Starts watching the stream opened by `req` (with the identity of `allowed`). `sockets` are duplicates of the
    /// sockets that carry only this stream (the upstream connection, and the client's once upgraded), shut down when
    /// the token goes bad; a socket shared with other requests is never among them.
    pub fn watch_stream(&self, req: RequestHeader, allowed: &Allowed, sockets: Vec<OwnedFd>) -> StreamWatch {
        let cut = Arc::new(AtomicBool::new(false));
        let expires_at = allowed.identity.as_ref().and_then(|i| i.expires_at);
        let (edge, flag) = (self.clone(), cut.clone());
        let task = tokio::spawn(async move {
            loop {
                let now = edge.inner.clock.now();
                let until_expiry = expires_at.map(|exp| Duration::from_secs((exp - now).max(0) as u64));
                let wait = until_expiry.map_or(RECHECK, |d| d.min(RECHECK)).max(Duration::from_millis(50));
                tokio::time::sleep(wait).await;
                match edge.recheck(&req).await {
                    Ok(()) => continue,
                    // An issuer that cannot answer right now is no verdict on the token: check again later, but
                    // never past the token's own expiry.
                    Err(Denial::Unavailable(_)) if expires_at.is_none_or(|exp| edge.inner.clock.now() < exp) => {
                        continue
                    }
                    Err(denial) => {
                        tracing::info!(reason = %denial, "stream closed: its token is no longer valid");
                        edge.metrics().streams_closed.inc();
                        flag.store(true, Ordering::Release);
                        for fd in sockets {
                            let _ = std::net::TcpStream::from(fd).shutdown(std::net::Shutdown::Both);
                        }
                        return;
                    }
                }
            }
        });
        let watched = self.metrics().streams_watched.clone();
        watched.inc();
        StreamWatch { cut, task, watched }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn response(status: u16, headers: &[(&str, &str)]) -> ResponseHeader {
        let mut r = ResponseHeader::build(status, None).unwrap();
        for (k, v) in headers {
            r.insert_header(k.to_string(), v.to_string()).unwrap();
        }
        r
    }

    #[test]
    fn upgrades_event_streams_grpc_and_unsized_bodies_are_streams_and_sized_ones_are_not() {
        assert!(is_stream(&response(101, &[("upgrade", "websocket")])));
        assert!(is_stream(&response(200, &[("content-type", "text/event-stream"), ("content-length", "5")])));
        assert!(is_stream(&response(200, &[("content-type", "application/grpc")])));
        assert!(is_stream(&response(200, &[("transfer-encoding", "chunked")])));
        assert!(!is_stream(&response(200, &[("content-type", "application/json"), ("content-length", "2")])));
        assert!(!is_stream(&response(204, &[])));
        assert!(!is_stream(&response(304, &[])));
    }
}
