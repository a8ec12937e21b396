//! `tokengate::edge::introspect::judge_response`: an RFC 7662 answer as received, judged for the configured issuer.
#![no_main]

#[path = "common.rs"]
mod common;

use libfuzzer_sys::fuzz_target;

fuzz_target!(init: { let _ = common::ISSUERS.len(); }, |data: &[u8]| {
    let issuer = &common::ISSUERS[0];
    for now in common::NOWS {
        if let Ok(identity) = tokengate::edge::introspect::judge_response(issuer, data, now) {
            // An accepted answer names the configured issuer (or none, which means the configured one).
            assert_eq!(identity.issuer(), issuer.issuer);
            for (_, value) in identity.headers() {
                let _ = value.to_str();
            }
            for scope in identity.scopes() {
                assert!(!scope.is_empty());
            }
        }
    }
});
