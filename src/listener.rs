//! The proxy's listening sockets: plain HTTP (HTTP/1.1, and HTTP/2 with prior knowledge when `h2c` is on) and TLS
//! (ALPN `h2` or `http/1.1`), accepted here and handed to one Pingora HTTP application.
//!
//! Pingora's own listener builds its rustls configuration itself (TLS 1.2 and 1.3, one certificate or a resolver); this
//! one takes the configuration whole, so the lowest version, the SNI resolver and ALPN are tokengate's. The sockets are
//! bound before Pingora starts and entered in its inherited-socket table, so a graceful upgrade hands them on.

use std::net::TcpListener;
use std::os::fd::{AsRawFd, FromRawFd};
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use pingora::apps::ServerApp;
use pingora::listeners::tls::Acceptor;
use pingora::protocols::l4::listener::Listener;
use pingora::protocols::Stream;
use pingora::server::{ListenFds, ShutdownWatch};

/// How long a client gets to finish its TLS handshake.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// One listening socket, with the TLS acceptor when it speaks TLS.
pub struct Endpoint {
    /// The address as given, the key of Pingora's inherited-socket table.
    pub key: String,
    /// The bound socket.
    pub listener: TcpListener,
    /// `None` for plain HTTP.
    pub tls: Option<Arc<Acceptor>>,
}

/// A Pingora service that accepts on every [`Endpoint`] and serves each connection with one application.
pub struct ProxyListeners<A> {
    name: String,
    app: Option<A>,
    endpoints: Vec<Endpoint>,
}

impl<A> ProxyListeners<A> {
    /// The service `name`, serving `app` on `endpoints`.
    pub fn new(name: &str, app: A, endpoints: Vec<Endpoint>) -> Self {
        ProxyListeners { name: name.to_string(), app: Some(app), endpoints }
    }
}

/// The TLS acceptor of `config`.
pub fn acceptor(config: rustls::ServerConfig) -> Arc<Acceptor> {
    Arc::new(Acceptor::from_server_config(Arc::new(config)))
}

async fn serve<A: ServerApp + Send + Sync + 'static>(
    app: Arc<A>,
    listener: Listener,
    tls: Option<Arc<Acceptor>>,
    mut shutdown: ShutdownWatch,
) {
    loop {
        let accepted = tokio::select! {
            accepted = listener.accept() => accepted,
            changed = shutdown.changed() => match changed {
                Ok(()) if !*shutdown.borrow() => continue,
                _ => return,
            },
        };
        let mut stream = match accepted {
            Ok(s) => s,
            Err(e) => {
                tracing::warn!(error = %e, "accept failed");
                if e.raw_os_error() == Some(24) {
                    // Out of file descriptors: accept would fail again at once.
                    tokio::time::sleep(Duration::from_secs(1)).await;
                }
                continue;
            }
        };
        let _ = stream.set_nodelay();
        let (app, tls, shutdown) = (app.clone(), tls.clone(), shutdown.clone());
        tokio::spawn(async move {
            let stream: Stream = match tls {
                None => Box::new(stream),
                Some(acceptor) => match tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.tls_handshake(stream)).await {
                    Ok(Ok(s)) => Box::new(s),
                    // A failed handshake is the client's business (a scanner, an old client, a wrong name): debug only.
                    Ok(Err(e)) => return tracing::debug!(error = %e, "TLS handshake failed"),
                    Err(_) => return tracing::debug!("TLS handshake timed out"),
                },
            };
            let mut next = app.process_new(stream, &shutdown).await;
            while let Some(stream) = next {
                next = app.process_new(stream, &shutdown).await;
            }
        });
    }
}

#[async_trait]
impl<A: ServerApp + Send + Sync + 'static> pingora::services::Service for ProxyListeners<A> {
    async fn start_service(&mut self, fds: Option<ListenFds>, shutdown: ShutdownWatch, _per_fd: usize) {
        let Some(app) = self.app.take() else { return };
        let app = Arc::new(app);
        let mut tasks = Vec::new();
        for endpoint in std::mem::take(&mut self.endpoints) {
            // A socket inherited through a graceful upgrade wins over the one bound here; ours is entered in the
            // table otherwise, so that the next upgrade hands it on.
            let mut socket = endpoint.listener;
            if let Some(table) = &fds {
                let mut table = table.lock();
                match table.get(&endpoint.key) {
                    Some(fd) if *fd != socket.as_raw_fd() => {
                        // SAFETY: the fd was handed to this process for this address and nothing else owns it.
                        socket = unsafe { TcpListener::from_raw_fd(*fd) };
                    }
                    Some(_) => {}
                    None => table.add(endpoint.key.clone(), socket.as_raw_fd()),
                }
            }
            let listener = match socket.set_nonblocking(true).and_then(|()| tokio::net::TcpListener::from_std(socket)) {
                Ok(l) => Listener::from(l),
                Err(e) => {
                    tracing::error!(address = %endpoint.key, error = %e, "cannot serve the listener");
                    continue;
                }
            };
            tasks.push(tokio::spawn(serve(app.clone(), listener, endpoint.tls, shutdown.clone())));
        }
        for t in tasks {
            let _ = t.await;
        }
        app.cleanup().await;
    }

    fn name(&self) -> &str {
        &self.name
    }
}
