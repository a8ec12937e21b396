//! `tokengate::edge::jwt`: split and decode a compact JWS, read its identity, check its claims and signature.
//!
//! Input: first byte chooses the shape. Even: the rest is the token text as sent. Odd: the rest is
//! `header JSON \0 payload JSON \0 signature`, base64url-encoded here into a token, so that the fuzzer can explore the
//! JSON inside (which it would hardly reach through base64).
#![no_main]

#[path = "common.rs"]
mod common;
#[path = "keys.rs"]
mod keys;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use libfuzzer_sys::fuzz_target;
use tokengate::edge::jwt;

fn token_from(data: &[u8]) -> Option<String> {
    let (&mode, rest) = data.split_first()?;
    if mode & 1 == 0 {
        return Some(String::from_utf8_lossy(rest).into_owned());
    }
    let mut parts = rest.splitn(3, |&b| b == 0);
    let header = parts.next().unwrap_or_default();
    let payload = parts.next().unwrap_or_default();
    let signature = String::from_utf8_lossy(parts.next().unwrap_or_default());
    Some(format!("{}.{}.{}", URL_SAFE_NO_PAD.encode(header), URL_SAFE_NO_PAD.encode(payload), signature))
}

fuzz_target!(init: { tokengate::install_crypto_provider(); LazyLockInit::touch(); }, |data: &[u8]| {
    let Some(token) = token_from(data) else { return };
    let _ = jwt::looks_like_jwt(&token);
    let Ok(parsed) = jwt::parse(&token) else { return };

    // What was split must be the token itself: `signing_input.signature`, three non-empty segments.
    assert_eq!(parsed.signing_input.len() + 1 + parsed.signature.len(), token.len());
    assert!(token.starts_with(parsed.signing_input) && token.ends_with(parsed.signature));
    assert_eq!(parsed.signing_input.matches('.').count(), 1);
    assert!(!parsed.signature.contains('.') && !parsed.signature.is_empty());

    if let Ok(identity) = jwt::identity(&parsed) {
        // Every identity header must be a value that can be sent upstream as it is.
        for (_, value) in identity.headers() {
            let _ = value.to_str();
        }
        let _ = identity.subject();
        let _ = identity.client_id();
        for scope in identity.scopes() {
            assert!(!scope.is_empty(), "an empty scope in {:?}", identity);
        }
    }
    for issuer in common::ISSUERS.iter() {
        let alg = jwt::algorithm(&parsed.header, issuer);
        for now in common::NOWS {
            let _ = jwt::check_claims(&parsed, issuer, now);
        }
        let _ = jwt::valid_until(&parsed, issuer);
        if let Ok(alg) = alg {
            for key in keys::KEYS.iter() {
                let _ = jwt::check_signature(&parsed, key, alg);
            }
        }
    }
});

/// Builds the lazily initialised statics before fuzzing starts, so that their cost is not counted per input.
struct LazyLockInit;
impl LazyLockInit {
    fn touch() {
        let _ = common::ISSUERS.len();
        let _ = keys::KEYS.len();
    }
}
