//! `tokengate::edge::keys::parse_jwks_document`: a JWKS as fetched from an issuer (untrusted bytes off the network).
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(init: { tokengate::install_crypto_provider(); }, |data: &[u8]| {
    let _ = tokengate::edge::keys::parse_jwks_document(data);
});
