//! Public halves of the throw-away keys that signed the jwt_parse seeds (written by fuzz/make_seeds.py).
#![allow(dead_code)]

use std::sync::LazyLock;

use jsonwebtoken::DecodingKey;

pub static KEYS: LazyLock<Vec<DecodingKey>> = LazyLock::new(|| {
    vec![
        DecodingKey::from_ec_components("Rx-b404xeeapBZZkdDLa5bTVB0SejiMV2jgiYBsolWA", "fVWzc39qcSj2nnICwB7mjV8xSrOxvdANKKlER9r8z5g").expect("EC key"),
        DecodingKey::from_rsa_components(
            "lKq7DFhwc4hdBDfHVACZ72bYDQMU67xfdhNL9EnNIzPJH0ePe3t1HRKc-xyuhTxRub8kaSMCTwK-2dvR7B9TCnXlZWNmfKo4s1U850GPnInIV_9MBZPFfCeWgiurwD9lPMbz7PMn6LjkoybI1X-MKn-WUbQol3ISfgEwyL_hdoZMzg7_PHrQUQFL2EN4KlV-xrhRPHfQ9O0-CP4w9cSPOlhnOnIXQwRv5NyboQgCfaKBqwJst71w3SwsAAflHddpekwj9eKNnSd6spD9LeLd1GiFPWDBDVDZWvDMULjUeFUcoirYklXHk_x2VMdZ_dwaHm616L46nap0xgZI8FHh4w",
            "AQAB",
        )
        .expect("RSA key"),
        DecodingKey::from_ed_components("ZAyI3qRgzFpEu1qg5fG7xi8nUKHYlmqL9AYe8_TeMeE").expect("Ed25519 key"),
    ]
});
