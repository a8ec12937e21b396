//! Test fixtures shared by the integration tests: a test authorization server
//! ([`TestIssuer`]) and a test upstream ([`TestUpstream`]).

pub mod issuer;
pub mod upstream;

pub use issuer::{
    b64url, ensure_crypto_provider, forge_hs256, forge_unsigned, now, Alg, Claims, DiscoveryMode, Fault, TestIssuer,
};
pub use upstream::{TestUpstream, UpstreamMode};

pub mod gateway;
pub use gateway::{json, GatewayConfig, Stack, TestGateway, AUDIENCE};
pub mod http;
pub use http::client;
pub mod admin;
pub mod authz;
pub mod browser;
pub mod postgres;
pub mod process;
pub use process::{serve, serve_with, Served};
pub mod tls;
