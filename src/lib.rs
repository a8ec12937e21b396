//! # tokengate
//!
//! An OAuth2 edge gateway on Pingora: every request's access token is checked before it reaches the protected API.
//! JWTs are verified locally against the issuer's JWKS (found by discovery); opaque tokens are introspected (RFC 7662)
//! and the answers cached; routes demand scopes; refused requests get RFC 6750 answers.
//!
//! This crate is both the `tokengate` binary and a library: the [`Edge`] is the whole check, and the public API that
//! the binary's own proxy uses, with no private shortcut.
//!
//! ## Embedding the edge in your Pingora proxy
//!
//! 1. Build the edge once from the `[auth]` and `[[routes]]` sections of a TOML file ([`EdgeConfig::from_toml`]), or
//!    construct an [`EdgeConfig`] in code, then [`Edge::builder`]`(config).build()`.
//! 2. Add [`Edge::background_service`] to your Pingora server: it discovers issuers and keeps their keys fresh.
//! 3. In `request_filter`, call [`Edge::admit`]. It decides, and when the request is refused it has already written
//!    the RFC 6750 answer (401/403 with `WWW-Authenticate`, a JSON body): return `Ok(true)`. Otherwise keep the
//!    returned [`Allowed`] in your `CTX`; it carries the caller's [`Identity`] (subject, client id, scopes, issuer).
//! 4. In `upstream_request_filter`, call [`Edge::apply_identity`]: it removes every inbound `X-Auth-*` and
//!    method-override header (in any spelling: `X_Auth_Subject` too), every credential but the verified token and
//!    tokengate's own cookies, and sets `X-Auth-Subject`, `X-Auth-Client-Id`, `X-Auth-Scopes`, `X-Auth-Issuer`.
//! 5. In `upstream_response_filter`, call [`Edge::filter_response`] (an upstream cannot set tokengate's cookies),
//!    and return [`edge::request_summary`] from `request_summary` (Pingora's error lines then carry no query string).
//! 6. Register the `tokengate_*` metrics in your Prometheus registry with [`Edge::register_metrics`].
//! 7. Optionally, close long-lived streams when their token ends: in `upstream_response_filter`, when
//!    [`Edge::watches_streams`] and [`edge::stream::is_stream`] say so, keep [`Edge::watch_stream`]'s watch in your
//!    `CTX` (give it duplicates of the sockets that carry only this stream), and fail your body filters once
//!    [`edge::stream::StreamWatch::is_cut`].
//!
//! ```no_run
//! use async_trait::async_trait;
//! use pingora::prelude::*;
//! use tokengate::{Admission, Allowed, Edge, EdgeConfig};
//!
//! struct MyProxy {
//!     edge: Edge,
//! }
//!
//! #[async_trait]
//! impl ProxyHttp for MyProxy {
//!     type CTX = Option<Allowed>;
//!     fn new_ctx(&self) -> Self::CTX {
//!         None
//!     }
//!     async fn request_filter(&self, session: &mut Session, ctx: &mut Self::CTX) -> Result<bool> {
//!         match self.edge.admit(session).await? {
//!             Admission::Allowed(allowed) => {
//!                 *ctx = Some(allowed);
//!                 Ok(false)
//!             }
//!             Admission::Refused(_) => Ok(true), // the answer is written
//!         }
//!     }
//!     async fn upstream_peer(&self, _: &mut Session, _: &mut Self::CTX) -> Result<Box<HttpPeer>> {
//!         Ok(Box::new(HttpPeer::new("127.0.0.1:3000", false, String::new())))
//!     }
//!     async fn upstream_request_filter(&self, _: &mut Session, req: &mut RequestHeader, ctx: &mut Self::CTX) -> Result<()> {
//!         if let Some(allowed) = ctx {
//!             self.edge.apply_identity(allowed, req);
//!         }
//!         Ok(())
//!     }
//! }
//!
//! # fn main() {
//! let config = EdgeConfig::from_toml(&std::fs::read_to_string("edge.toml").unwrap(), "edge.toml").unwrap();
//! let edge = Edge::builder(config).build();
//! edge.register_metrics(prometheus::default_registry()).unwrap();
//! let mut server = Server::new(None).unwrap();
//! server.bootstrap();
//! let mut proxy = http_proxy_service(&server.configuration, MyProxy { edge: edge.clone() });
//! proxy.add_tcp("127.0.0.1:8080");
//! server.add_service(proxy);
//! server.add_service(edge.background_service());
//! server.run_forever();
//! # }
//! ```
//!
//! `examples/embed.rs` is this proxy, complete and tested.
//!
//! ## Where things are decided
//! - the token is checked in [`Edge::authenticate`];
//! - the scope is decided in `edge::scope::decide`;
//! - a refusal becomes HTTP in [`Denial`] (`status`, `www_authenticate`, `body`).
//!
//! ## Features
//! `server` (on by default) builds the `tokengate` binary's modules: its process (`config`, `server`), CLI,
//! registry, authorization server, admin API and console, with axum and sqlx. An embedder who wants the edge alone
//! depends on `tokengate = { version = "0.1", default-features = false }`: the edge, its configuration
//! ([`edge::config`]), [`diagnostics`], [`metrics`] and [`clock`], without the store or the web framework.
//!
//! Modules marked hidden in this documentation serve the binary and its benchmarks; they are not a stable API.

#![warn(missing_docs)]

pub mod clock;
pub mod diagnostics;
pub mod edge;
pub mod metrics;
pub mod secret;

#[cfg(feature = "server")]
pub mod config;
#[cfg(feature = "server")]
pub mod server;

#[cfg(feature = "server")]
pub mod access_log;
#[cfg(feature = "server")]
#[doc(hidden)]
pub mod admin;
#[cfg(feature = "server")]
#[doc(hidden)]
pub mod authz;
#[cfg(feature = "server")]
#[doc(hidden)]
pub mod cli;
#[cfg(feature = "server")]
#[doc(hidden)]
pub mod console;
#[cfg(feature = "server")]
#[doc(hidden)]
pub mod demo;
#[cfg(feature = "server")]
pub mod forwarded;
#[cfg(feature = "server")]
#[doc(hidden)]
pub mod health;
#[cfg(feature = "server")]
pub mod listener;
#[cfg(feature = "server")]
#[doc(hidden)]
pub mod proxy;
#[cfg(feature = "server")]
#[doc(hidden)]
pub mod registry;
#[cfg(feature = "server")]
#[doc(hidden)]
pub mod reload;
#[cfg(feature = "server")]
#[doc(hidden)]
pub mod store;
#[cfg(feature = "server")]
pub mod tls;

pub use clock::{Clock, ManualClock, SystemClock};
#[cfg(feature = "server")]
pub use config::Config;
pub use diagnostics::ConfigErrors;
pub use edge::config::EdgeConfig;
pub use edge::{Admission, Allowed, Denial, Edge, EdgeBuilder, Identity, LocalIssuer};

/// Installs aws-lc as jsonwebtoken's crypto provider (idempotent).
pub fn install_crypto_provider() {
    let _ = jsonwebtoken::crypto::aws_lc::DEFAULT_PROVIDER.install_default();
}
