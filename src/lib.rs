//! # tokengate
//!
//! An OAuth2 edge gateway on Pingora: every request's access token is checked before it reaches the protected API.
//! JWTs are verified locally against the issuer's JWKS (found by discovery); opaque tokens are introspected (RFC 7662)
//! and the answers cached; routes demand scopes; refused requests get RFC 6750 answers.
//!
//! The [`Edge`] is the whole check, and the public API both of the `tokengate` binary and of any Pingora proxy that
//! embeds it: call [`Edge::admit`] from `request_filter` and [`Edge::apply_identity`] from `upstream_request_filter`.
//!
//! Where things are decided:
//! - the token is checked in [`Edge::authenticate`] (JWT: [`edge::jwt`] and [`edge::keys`]; opaque:
//!   [`edge::introspect`]);
//! - the scope is decided in [`edge::scope::decide`];
//! - a refusal becomes HTTP in [`edge::deny`].

pub mod admin;
pub mod authz;
pub mod cli;
pub mod clock;
pub mod config;
pub mod demo;
pub mod edge;
pub mod health;
pub mod metrics;
pub mod proxy;
pub mod registry;
pub mod secret;
pub mod server;
pub mod store;

pub use clock::{Clock, ManualClock, SystemClock};
pub use config::{Config, EdgeConfig};
pub use edge::{Admission, Allowed, Denial, Edge, EdgeBuilder, Identity};

/// Installs aws-lc as jsonwebtoken's crypto provider (idempotent).
pub fn install_crypto_provider() {
    let _ = jsonwebtoken::crypto::aws_lc::DEFAULT_PROVIDER.install_default();
}
