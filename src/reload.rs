//! Configuration reload on SIGHUP: the file is read and validated again; a bad file is refused (every problem
//! logged) and the running configuration keeps serving; a good one replaces the edge (`[auth]` and `[[routes]]`)
//! once its issuers' keys are loaded, without dropping a request. The TLS listener's certificate files are read again
//! too (a bad one keeps the running certificates). Other sections need a restart, and a reload that changes them says
//! so.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use arc_swap::ArcSwap;
use async_trait::async_trait;

use crate::clock::Clock;
use crate::config::Config;
use crate::edge::Edge;

/// How long a new edge gets to load its issuers' keys before the reload is abandoned.
const READY_TIMEOUT: Duration = Duration::from_secs(15);

/// Watches SIGHUP and swaps the edge.
pub struct Reloader {
    /// The file to read again; `None` for the embedded default (nothing to reload).
    pub path: Option<PathBuf>,
    /// The configuration running now.
    pub running: std::sync::Mutex<Config>,
    /// The edge the proxy reads.
    pub edge: Arc<ArcSwap<Edge>>,
    /// The clock.
    pub clock: Arc<dyn Clock>,
    /// The built-in authorization server, trusted by every edge.
    pub local: Option<Arc<crate::authz::AuthServer>>,
    /// The TLS listener's certificates, read again on every SIGHUP.
    pub certificates: Option<Arc<crate::tls::Certificates>>,
}

/// Whether two configurations differ outside `[auth]` and `[[routes]]` (compared field by field: a `Debug` string
/// would hide a change to a redacted password).
fn differ_outside_edge(a: &Config, b: &Config) -> bool {
    a.server != b.server
        || a.metrics != b.metrics
        || a.upstream != b.upstream
        || a.authorization_server != b.authorization_server
        || a.admin != b.admin
        || a.demo != b.demo
}

impl Reloader {
    async fn reload(
        &self,
        shutdown: &tokio::sync::watch::Receiver<bool>,
    ) -> Result<(Edge, tokio::sync::watch::Sender<bool>), String> {
        let path = self.path.as_ref().ok_or("running on the embedded default configuration: nothing to reload")?;
        let config = Config::load(path, true).map_err(|e| e.to_string())?;
        let current = self.edge.load_full();
        let edge = crate::server::build_edge(
            &config.edge,
            self.clock.clone(),
            self.local.as_ref(),
            Some(current.shared_metrics()),
        );
        let (stop, watch) = tokio::sync::watch::channel(false);
        let background = edge.clone();
        tokio::spawn(async move { background.run_background(watch).await });
        let started = tokio::time::Instant::now();
        while !edge.ready() {
            if started.elapsed() > READY_TIMEOUT || shutdown.has_changed().unwrap_or(true) {
                let _ = stop.send(true);
                return Err("the new configuration's issuer keys could not be loaded in time".into());
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        if let Ok(mut running) = self.running.lock() {
            if differ_outside_edge(&running, &config) {
                tracing::warn!(
                    "configuration reload: changes outside [auth] and [[routes]] take effect at the next restart"
                );
            }
            running.edge = config.edge.clone();
        }
        Ok((edge, stop))
    }
}

#[async_trait]
impl pingora::services::background::BackgroundService for Reloader {
    async fn start(&self, mut shutdown: pingora::server::ShutdownWatch) {
        // Every edge's background work (discovery, key refresh) runs until that edge is replaced: the first one too.
        let (first_stop, first_watch) = tokio::sync::watch::channel(false);
        let first = self.edge.load_full();
        tokio::spawn(async move { first.run_background(first_watch).await });
        let mut previous = Some(first_stop);
        let Ok(mut hup) = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup()) else {
            tracing::error!("cannot watch SIGHUP: configuration reload disabled");
            let _ = shutdown.changed().await;
            return;
        };
        loop {
            tokio::select! {
                _ = hup.recv() => {}
                _ = shutdown.changed() => return,
            }
            if let Some(certs) = &self.certificates {
                match certs.reload() {
                    Ok(()) => tracing::info!("TLS certificates reloaded"),
                    Err(e) => {
                        tracing::error!("TLS certificate reload refused, the running certificates keep serving: {e}")
                    }
                }
            }
            match self.reload(&shutdown).await {
                Ok((edge, stop)) => {
                    self.edge.store(Arc::new(edge));
                    // The replaced edge's background work ends.
                    if let Some(old) = previous.replace(stop) {
                        let _ = old.send(true);
                    }
                    tracing::info!("configuration reloaded");
                }
                Err(e) => {
                    tracing::error!("configuration reload refused, the running configuration keeps serving:\n{e}")
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Regression: the comparison was of `Debug` strings, where the database password is redacted, so a change of it
    /// alone was never reported.
    #[test]
    fn a_changed_database_password_is_a_change_outside_the_edge() {
        let toml = |password: &str| {
            format!(
                "[upstream]\nurl = \"http://127.0.0.1:3000\"\n[authorization_server]\nenabled = true\nissuer = \"https://as.example\"\n\
                 database = \"postgres://tg:{password}@db.example/tg\"\n[[routes]]\npath = \"/\"\nauth = \"none\"\n"
            )
        };
        let a = Config::from_toml(&toml("one"), "a.toml").unwrap();
        let b = Config::from_toml(&toml("two"), "b.toml").unwrap();
        assert_eq!(format!("{:?}", a.authorization_server), format!("{:?}", b.authorization_server));
        assert!(differ_outside_edge(&a, &b));
        assert!(!differ_outside_edge(&a, &Config::from_toml(&toml("one"), "c.toml").unwrap()));
    }
}
