//! The authorization server's own signing keys: made on first start, kept in the store (so every instance signs with
//! the same one), published in the JWKS, rotated by `tokengate keys rotate` with the old key kept until its tokens
//! expire.

use std::collections::HashMap;
use std::sync::Arc;

use arc_swap::ArcSwap;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header};
use serde_json::Value;

use crate::registry::credentials;
use crate::registry::public_keys::{self, Family};
use crate::secret::Secret;
use crate::store::{SigningKeyRecord, Store, StoreError};

struct Active {
    kid: String,
    alg: Algorithm,
    key: EncodingKey,
}

#[derive(Default)]
struct Snapshot {
    active: Option<Arc<Active>>,
    verify: HashMap<String, (Algorithm, Arc<DecodingKey>)>,
    jwks: Value,
}

/// The signing keys, loaded from the store.
pub struct SigningKeys {
    snapshot: ArcSwap<Snapshot>,
    alg: Algorithm,
    /// How long a retired key stays published: the access-token lifetime plus margin.
    keep_retired_secs: i64,
}

fn family(alg: Algorithm) -> Family {
    match alg {
        Algorithm::RS256 => Family::Rsa,
        Algorithm::EdDSA => Family::Okp,
        _ => Family::Ec,
    }
}

fn parse_alg(s: &str) -> Option<Algorithm> {
    match s {
        "ES256" => Some(Algorithm::ES256),
        "RS256" => Some(Algorithm::RS256),
        "EdDSA" => Some(Algorithm::EdDSA),
        _ => None,
    }
}

fn encoding_key(alg: Algorithm, pem: &Secret) -> Option<EncodingKey> {
    let b = pem.expose().as_bytes();
    match alg {
        Algorithm::RS256 => EncodingKey::from_rsa_pem(b).ok(),
        Algorithm::EdDSA => EncodingKey::from_ed_pem(b).ok(),
        _ => EncodingKey::from_ec_pem(b).ok(),
    }
}

impl SigningKeys {
    /// Loads the keys, creating the first one (`alg`) when there is none.
    pub async fn load(store: &dyn Store, alg: Algorithm, keep_retired_secs: i64, now: i64) -> Result<Self, StoreError> {
        let keys = SigningKeys { snapshot: ArcSwap::from_pointee(Snapshot::default()), alg, keep_retired_secs };
        if store.signing_keys().await?.is_empty() {
            keys.rotate(store, now).await?;
        } else {
            keys.reload(store, now).await?;
        }
        Ok(keys)
    }

    /// Makes a new key active; the previous one keeps verifying until its tokens expire.
    pub async fn rotate(&self, store: &dyn Store, now: i64) -> Result<String, StoreError> {
        crate::install_crypto_provider();
        let fam = family(self.alg);
        let generated = public_keys::generate(fam).map_err(StoreError::Database)?;
        let kid = credentials::record_id();
        let jwk = generated.public.jwk(&kid);
        let record = SigningKeyRecord {
            kid: kid.clone(),
            alg: fam.alg_name().into(),
            private_pem: generated.private_pem,
            public_jwk: jwk.to_string(),
            created_at: now,
            retired_at: None,
        };
        store.add_signing_key(&record, now).await?;
        self.reload(store, now).await?;
        tracing::info!(kid, alg = fam.alg_name(), "new signing key");
        Ok(kid)
    }

    /// Re-reads the keys (another instance, or the CLI, may have rotated them).
    pub async fn reload(&self, store: &dyn Store, now: i64) -> Result<(), StoreError> {
        let mut snap = Snapshot::default();
        let mut published = Vec::new();
        for k in store.signing_keys().await? {
            let Some(alg) = parse_alg(&k.alg) else { continue };
            if k.retired_at.is_some_and(|r| r + self.keep_retired_secs < now) {
                continue;
            }
            let jwk: Value = serde_json::from_str(&k.public_jwk).unwrap_or_default();
            let Some(dk) = serde_json::from_value::<jsonwebtoken::jwk::Jwk>(jwk.clone())
                .ok()
                .and_then(|j| DecodingKey::from_jwk(&j).ok())
            else {
                continue;
            };
            if k.retired_at.is_none() && snap.active.is_none() {
                if let Some(key) = encoding_key(alg, &k.private_pem) {
                    snap.active = Some(Arc::new(Active { kid: k.kid.clone(), alg, key }));
                }
            }
            snap.verify.insert(k.kid.clone(), (alg, Arc::new(dk)));
            published.push(jwk);
        }
        snap.jwks = serde_json::json!({ "keys": published });
        self.snapshot.store(Arc::new(snap));
        Ok(())
    }

    /// Signs `claims` as an RFC 9068 access token (`typ: at+jwt`).
    pub fn sign(&self, claims: &Value) -> Result<String, StoreError> {
        let snap = self.snapshot.load();
        let active = snap.active.as_ref().ok_or_else(|| StoreError::Database("no active signing key".into()))?;
        let mut header = Header::new(active.alg);
        header.typ = Some("at+jwt".into());
        header.kid = Some(active.kid.clone());
        jsonwebtoken::encode(&header, claims, &active.key).map_err(|e| StoreError::Database(format!("signing: {e}")))
    }

    /// A verification key by `kid`.
    pub fn key(&self, kid: &str) -> Option<(Algorithm, Arc<DecodingKey>)> {
        self.snapshot.load().verify.get(kid).cloned()
    }

    /// The published JWKS.
    pub fn jwks(&self) -> Value {
        self.snapshot.load().jwks.clone()
    }

    /// The active key's id.
    pub fn active_kid(&self) -> Option<String> {
        self.snapshot.load().active.as_ref().map(|a| a.kid.clone())
    }
}
