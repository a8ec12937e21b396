//! The configuration file as written by people: serde types that mirror the TOML, every field optional.
//!
//! Nothing here is trusted: [`super::validate`] turns a [`FileConfig`] into a [`super::Config`] once, reporting
//! every problem together with its key and place in the file.

use serde::Deserialize;

pub use crate::edge::config::{FileAuth, FileRoute};

/// The whole file.
#[derive(Debug, Default, Deserialize)]
pub struct FileConfig {
    pub server: Option<FileServer>,
    pub metrics: Option<FileMetrics>,
    pub upstream: Option<FileUpstream>,
    pub auth: Option<FileAuth>,
    #[serde(default)]
    pub routes: Vec<FileRoute>,
    pub demo: Option<FileDemo>,
    pub authorization_server: Option<FileAuthorizationServer>,
    pub admin: Option<FileAdmin>,
    pub access_log: Option<FileAccessLog>,
}

#[derive(Debug, Default, Deserialize)]
pub struct FileAccessLog {
    pub enabled: Option<bool>,
    pub format: Option<String>,
    pub path: Option<String>,
    pub include_query: Option<bool>,
    pub hash_subject: Option<bool>,
    pub buffer: Option<i64>,
}

#[derive(Debug, Default, Deserialize)]
pub struct FileAuthorizationServer {
    pub enabled: Option<bool>,
    pub issuer: Option<String>,
    pub database: Option<String>,
    pub database_max_connections: Option<i64>,
    pub max_apps: Option<i64>,
    pub scopes: Option<Vec<String>>,
    pub default_scopes: Option<Vec<String>>,
    pub audiences: Option<Vec<String>>,
    pub signing_alg: Option<String>,
    pub access_token_ttl_secs: Option<i64>,
    pub refresh_token_reuse_grace_secs: Option<i64>,
    pub token_rate_limit: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
pub struct FileAdmin {
    pub listen: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
pub struct FileServer {
    pub listen: Option<String>,
    pub threads: Option<i64>,
    pub grace_period_secs: Option<i64>,
    pub graceful_shutdown_timeout_secs: Option<i64>,
    pub pid_file: Option<String>,
    pub upgrade_sock: Option<String>,
    pub max_body_bytes: Option<i64>,
    pub work_stealing: Option<bool>,
    pub h2c: Option<bool>,
    pub trusted_proxies: Option<Vec<String>>,
    pub tls: Option<FileTls>,
}

#[derive(Debug, Default, Deserialize)]
pub struct FileTls {
    pub listen: Option<String>,
    pub certificates: Option<Vec<FileCertificate>>,
    pub min_version: Option<String>,
    pub redirect_http: Option<bool>,
    pub hsts_max_age_secs: Option<i64>,
}

#[derive(Debug, Default, Deserialize)]
pub struct FileCertificate {
    pub cert: Option<String>,
    pub key: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
pub struct FileMetrics {
    pub listen: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
pub struct FileUpstream {
    pub url: Option<String>,
    pub urls: Option<Vec<String>>,
    pub connect_timeout_ms: Option<i64>,
    pub read_timeout_ms: Option<i64>,
    pub health_check_interval_secs: Option<i64>,
    pub http2: Option<bool>,
    pub ca_file: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
pub struct FileDemo {
    pub enabled: Option<bool>,
    pub upstream_listen: Option<String>,
    pub issuer_listen: Option<String>,
}
