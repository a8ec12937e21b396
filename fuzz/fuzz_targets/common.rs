//! Shared by the fuzz targets (each includes it with `#[path = "common.rs"] mod common;`).
#![allow(dead_code)]

use std::sync::LazyLock;

use tokengate::edge::config::IssuerConfig;

/// A configuration read once through the real parser, as the gateway reads its own: two issuers, one with
/// `require_typ` and introspection, one without, so that every branch of the claim checks is reachable.
pub const CONFIG: &str = r#"
[upstream]
url = "http://127.0.0.1:3000"

[[auth.issuers]]
issuer = "https://issuer.example"
audiences = ["https://api.example/", "api"]
algorithms = ["RS256", "ES256", "EdDSA"]
leeway_secs = 30
require_typ = "at+jwt"
jwks_uri = "https://issuer.example/jwks"

[auth.issuers.introspection]
endpoint = "https://issuer.example/introspect"
client_id = "gateway"
client_secret = "gateway-secret"

[[auth.issuers]]
issuer = "http://127.0.0.1:9400"
audiences = ["http://127.0.0.1:8080/"]
algorithms = ["ES256", "PS256", "ES384"]
leeway_secs = 0
discovery = true

[[routes]]
path = "/public/"
auth = "none"

[[routes]]
path = "/api/"
methods = ["GET", "HEAD"]
scopes = ["api:read"]
"#;

/// The issuers of [`CONFIG`]: `[0]` has introspection and `require_typ`.
pub static ISSUERS: LazyLock<Vec<IssuerConfig>> = LazyLock::new(|| {
    let config = tokengate::Config::from_toml(CONFIG, "fuzz").unwrap_or_else(|e| panic!("fuzz config: {e}"));
    assert!(config.edge.issuers.len() == 2 && config.edge.issuers[0].introspection.is_some());
    config.edge.issuers
});

/// Clock values: now, the epoch, and the extremes (the checks must not overflow on any of them).
pub const NOWS: [i64; 5] = [1_760_000_000, 0, -1, i64::MAX, i64::MIN];

