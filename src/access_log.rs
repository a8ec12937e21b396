//! The access log: one line per request (JSON Lines or logfmt) to stdout or a file, written by a task of its own so
//! that logging never blocks a request (the task takes the waiting lines every 50 ms and writes them at once); a full
//! buffer drops the line and counts it; SIGUSR1 reopens the file.
//!
//! A line carries no token, secret, cookie or `Authorization` value: the path's query string is left out unless
//! `include_query = true`, and then an `access_token` parameter is removed.

use std::io::Write;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use serde::Serialize;
use tokio::sync::mpsc;

/// How often the writer takes the lines waiting.
const DRAIN: Duration = Duration::from_millis(50);

/// `[access_log]`, validated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccessLogConfig {
    /// `json` (JSON Lines) or `logfmt`.
    pub format: Format,
    /// `None` for stdout.
    pub path: Option<PathBuf>,
    /// Keep the query string (without `access_token`).
    pub include_query: bool,
    /// Log a SHA-256 of the subject instead of the subject.
    pub hash_subject: bool,
    /// Lines held before they are dropped.
    pub buffer: usize,
}

/// How a line is written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// One JSON object per line.
    Json,
    /// `key=value` pairs, values quoted when they need it.
    Logfmt,
}

/// One request, as logged. Field names are the line's keys; absent values are left out of the line.
#[derive(Debug, Default, Serialize)]
#[allow(missing_docs)]
pub struct Line {
    /// RFC 3339, milliseconds, UTC.
    pub time: String,
    /// The client's address, behind trusted proxies.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub client: Option<String>,
    pub method: String,
    pub path: String,
    /// `HTTP/1.1` or `HTTP/2`.
    pub protocol: &'static str,
    pub status: u16,
    pub bytes_in: usize,
    pub bytes_out: usize,
    pub duration_ms: f64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub upstream_ms: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub route: Option<String>,
    /// The metrics' outcome label (`allowed`, `public`, `invalid_token`, ...).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub outcome: Option<&'static str>,
    /// The metrics' reason label for refusals (`expired`, `signature`, ...).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub issuer: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub client_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub subject: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub request_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub user_agent: Option<String>,
}

impl Line {
    fn render(&self, format: Format) -> String {
        match format {
            Format::Json => serde_json::to_string(self).unwrap_or_default(),
            Format::Logfmt => {
                let value = serde_json::to_value(self).unwrap_or_default();
                let mut out = String::new();
                if let serde_json::Value::Object(members) = value {
                    for (k, v) in members {
                        let text = match v {
                            serde_json::Value::Null => continue,
                            serde_json::Value::String(s) => s,
                            other => other.to_string(),
                        };
                        if !out.is_empty() {
                            out.push(' ');
                        }
                        out.push_str(&k);
                        out.push('=');
                        if text.is_empty() || text.bytes().any(|b| b <= b' ' || b == b'"' || b == b'=' || b == b'\\') {
                            out.push_str(&serde_json::Value::String(text).to_string());
                        } else {
                            out.push_str(&text);
                        }
                    }
                }
                out
            }
        }
    }
}

/// The path to log: without the query string, or with it minus every `access_token` parameter.
pub fn loggable_path(path_and_query: &str, include_query: bool) -> String {
    let (path, query) = match path_and_query.split_once('?') {
        Some((p, q)) => (p, Some(q)),
        None => (path_and_query, None),
    };
    match query.filter(|_| include_query) {
        None => path.to_string(),
        Some(q) => {
            let kept: Vec<&str> = q
                .split('&')
                .filter(|pair| {
                    let name = pair.split('=').next().unwrap_or("");
                    let decoded = percent_encoding::percent_decode_str(name).decode_utf8_lossy();
                    !decoded.eq_ignore_ascii_case("access_token")
                })
                .collect();
            if kept.is_empty() {
                path.to_string()
            } else {
                format!("{path}?{}", kept.join("&"))
            }
        }
    }
}

/// The sending half: cheap to clone, never blocks.
#[derive(Clone)]
pub struct AccessLog {
    cfg: Arc<AccessLogConfig>,
    tx: mpsc::Sender<String>,
    dropped: prometheus::IntCounter,
}

/// The writing half, run as a background service.
pub struct Writer {
    cfg: Arc<AccessLogConfig>,
    rx: std::sync::Mutex<Option<mpsc::Receiver<String>>>,
}

impl AccessLog {
    /// A log and its writer; `dropped` counts the lines a full buffer refused.
    pub fn new(cfg: AccessLogConfig, dropped: prometheus::IntCounter) -> (AccessLog, Writer) {
        let cfg = Arc::new(cfg);
        let (tx, rx) = mpsc::channel(cfg.buffer.max(1));
        (AccessLog { cfg: cfg.clone(), tx, dropped }, Writer { cfg, rx: std::sync::Mutex::new(Some(rx)) })
    }

    /// The configuration (what the proxy needs to fill a line).
    pub fn config(&self) -> &AccessLogConfig {
        &self.cfg
    }

    /// Queues one line; a full buffer drops it and counts it.
    pub fn log(&self, line: &Line) {
        if self.tx.try_send(line.render(self.cfg.format)).is_err() {
            self.dropped.inc();
        }
    }
}

fn open(cfg: &AccessLogConfig) -> std::io::Result<Box<dyn Write + Send>> {
    Ok(match &cfg.path {
        None => Box::new(std::io::stdout()),
        Some(p) => Box::new(std::fs::OpenOptions::new().create(true).append(true).open(p)?),
    })
}

#[async_trait]
impl pingora::services::background::BackgroundService for Writer {
    async fn start(&self, mut shutdown: pingora::server::ShutdownWatch) {
        let Some(mut rx) = self.rx.lock().ok().and_then(|mut r| r.take()) else { return };
        let mut out = match open(&self.cfg) {
            Ok(o) => std::io::BufWriter::with_capacity(64 * 1024, o),
            Err(e) => {
                tracing::error!(error = %e, "cannot open the access log: lines are dropped");
                return;
            }
        };
        let mut usr1 = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::user_defined1()).ok();
        // Lines are taken every DRAIN, all that wait at once, and written with one flush: no wake-up of this task per
        // request, and one write call per batch.
        let mut tick = tokio::time::interval(DRAIN);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = tick.tick() => {
                    let mut wrote = false;
                    while let Ok(line) = rx.try_recv() {
                        let _ = writeln!(out, "{line}");
                        wrote = true;
                    }
                    if wrote {
                        let _ = out.flush();
                    }
                }
                Some(()) = async { match usr1.as_mut() { Some(s) => s.recv().await, None => std::future::pending().await } } => {
                    while let Ok(line) = rx.try_recv() {
                        let _ = writeln!(out, "{line}");
                    }
                    let _ = out.flush();
                    match open(&self.cfg) {
                        Ok(o) => {
                            out = std::io::BufWriter::with_capacity(64 * 1024, o);
                            tracing::info!("access log reopened");
                        }
                        Err(e) => tracing::error!(error = %e, "cannot reopen the access log: the old file stays in use"),
                    }
                }
                _ = shutdown.changed() => break,
            }
        }
        while let Ok(line) = rx.try_recv() {
            let _ = writeln!(out, "{line}");
        }
        let _ = out.flush();
    }
}

/// Now, RFC 3339 with milliseconds, UTC.
pub fn now_rfc3339() -> String {
    let now = time::OffsetDateTime::now_utc();
    let format =
        time::macros::format_description!("[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:3]Z");
    now.format(&format).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_query_string_is_left_out_or_kept_without_access_token() {
        assert_eq!(loggable_path("/api/x?access_token=abc&q=1", false), "/api/x");
        assert_eq!(loggable_path("/api/x?access_token=abc&q=1", true), "/api/x?q=1");
        assert_eq!(loggable_path("/api/x?ACCESS%5Ftoken=abc", true), "/api/x");
        assert_eq!(loggable_path("/api/x", true), "/api/x");
    }

    #[test]
    fn logfmt_quotes_what_needs_quoting_and_leaves_out_what_is_absent() {
        let line = Line { method: "GET".into(), path: "/a b".into(), status: 200, ..Default::default() };
        let text = line.render(Format::Logfmt);
        assert!(text.contains("method=GET") && text.contains("path=\"/a b\"") && text.contains("status=200"), "{text}");
        assert!(!text.contains("subject="), "{text}");
    }
}
