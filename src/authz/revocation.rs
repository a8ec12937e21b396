//! The in-memory revocation set the edge consults on every request for tokengate's own tokens, kept in step with the
//! store's revocation log: own revocations apply at once, other processes' (the CLI, other instances) when the store
//! announces them (PostgreSQL `NOTIFY`) or at the next poll (SQLite: every 0.5 s).
//!
//! Four kinds: a token (`jti`), a grant (every token of a refresh family: the grant id is the `jti` prefix), an app
//! (every token issued to it before its deletion) and a user (every token issued to them before they were disabled).

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};
use std::sync::{Arc, RwLock};

use crate::edge::identity::TokenId;
use crate::edge::Identity;
use crate::registry::credentials;
use crate::store::{GrantId, RevocationKind, RevocationRecord, Store, StoreError};

#[derive(Default)]
struct Sets {
    /// value -> (revoked_at, expires_at), per kind.
    jti: HashMap<Box<str>, (i64, i64)>,
    grant: HashMap<Box<str>, (i64, i64)>,
    client: HashMap<Box<str>, (i64, i64)>,
    user: HashMap<Box<str>, (i64, i64)>,
}

/// How often expired entries are pruned (seconds): a revocation is an insert, not a copy of the whole set.
const PRUNE_EVERY_SECS: i64 = 60;

/// The revocation set. A revocation inserts one entry in place (O(1)); readers share a lock that writers hold only
/// for that insert, and skip it entirely while the set is empty.
pub struct Revocations {
    sets: RwLock<Sets>,
    any: AtomicBool,
    seen: AtomicI64,
    pruned_at: AtomicI64,
    write: tokio::sync::Mutex<()>,
}

/// The grant id carried in one of tokengate's `jti`s (`<grant>.<random>`).
pub fn grant_of(jti: &TokenId) -> Option<&str> {
    jti.as_str().split_once('.').map(|(g, _)| g)
}

/// A new `jti` for an access token: of its grant, so that revoking the grant revokes it, or of no grant.
pub fn token_id_for(grant: Option<&GrantId>) -> TokenId {
    match grant {
        Some(g) => TokenId::new(&format!("{g}.{}", credentials::opaque(12))),
        None => TokenId::new(&credentials::opaque(16)),
    }
}

impl Revocations {
    /// An empty set.
    pub fn new() -> Arc<Self> {
        Arc::new(Revocations {
            sets: RwLock::new(Sets::default()),
            any: AtomicBool::new(false),
            seen: AtomicI64::new(0),
            pruned_at: AtomicI64::new(0),
            write: Default::default(),
        })
    }

    /// The last log entry read from the store.
    pub fn position(&self) -> i64 {
        self.seen.load(Ordering::Acquire)
    }

    /// Whether `identity` (a token of tokengate's own issuer) is revoked.
    pub fn is_revoked(&self, identity: &Identity) -> bool {
        if !self.any.load(Ordering::Acquire) {
            return false;
        }
        let sets = match self.sets.read() {
            Ok(s) => s,
            Err(poisoned) => poisoned.into_inner(),
        };
        let iat = identity.issued_at.unwrap_or(i64::MIN);
        if let Some(jti) = identity.token_id.as_ref() {
            if sets.jti.contains_key(jti.as_str()) {
                return true;
            }
            if grant_of(jti).is_some_and(|g| sets.grant.contains_key(g)) {
                return true;
            }
        }
        if let Some(c) = identity.client_id() {
            if sets.client.get(c).is_some_and(|(at, _)| iat <= *at) {
                return true;
            }
        }
        if let Some(u) = identity.subject() {
            if sets.user.get(u).is_some_and(|(at, _)| iat <= *at) {
                return true;
            }
        }
        false
    }

    fn apply(&self, records: &[RevocationRecord], now: i64, advance: bool) {
        if records.is_empty() {
            return;
        }
        let mut guard = match self.sets.write() {
            Ok(s) => s,
            Err(poisoned) => poisoned.into_inner(),
        };
        let sets = &mut *guard;
        if now - self.pruned_at.load(Ordering::Relaxed) >= PRUNE_EVERY_SECS {
            self.pruned_at.store(now, Ordering::Relaxed);
            for map in [&mut sets.jti, &mut sets.grant, &mut sets.client, &mut sets.user] {
                map.retain(|_, (_, exp)| *exp > now);
            }
        }
        for r in records {
            if advance {
                // Only reads of the log advance: seqs commit in order, so nothing before `seen` can appear later. An
                // entry of a kind this version does not know is passed too, or it would be read again on every poll.
                self.seen.fetch_max(r.seq, Ordering::AcqRel);
            }
            let map = match r.kind {
                Some(RevocationKind::Jti) => &mut sets.jti,
                Some(RevocationKind::Grant) => &mut sets.grant,
                Some(RevocationKind::Client) => &mut sets.client,
                Some(RevocationKind::User) => &mut sets.user,
                None => continue,
            };
            map.insert(r.value.clone().into(), (r.revoked_at, r.expires_at));
        }
        let any = !(sets.jti.is_empty() && sets.grant.is_empty() && sets.client.is_empty() && sets.user.is_empty());
        self.any.store(any, Ordering::Release);
    }

    /// Records a revocation in the store and applies it here at once.
    pub async fn revoke(
        &self,
        store: &dyn Store,
        kind: RevocationKind,
        value: &str,
        now: i64,
        expires_at: i64,
    ) -> Result<(), StoreError> {
        let _guard = self.write.lock().await;
        let seq = store.revoke(kind, value, now, expires_at).await?;
        self.apply(
            &[RevocationRecord { seq, kind: Some(kind), value: value.into(), revoked_at: now, expires_at }],
            now,
            false,
        );
        Ok(())
    }

    /// Reads what other processes revoked since the last poll.
    pub async fn catch_up(&self, store: &dyn Store, now: i64) -> Result<usize, StoreError> {
        let _guard = self.write.lock().await;
        let records = store.revocations_since(self.seen.load(Ordering::Acquire), now).await?;
        self.apply(&records, now, true);
        Ok(records.len())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(seq: i64, kind: Option<RevocationKind>, value: &str) -> RevocationRecord {
        RevocationRecord { seq, kind, value: value.into(), revoked_at: 100, expires_at: 10_000 }
    }

    #[test]
    fn an_entry_of_an_unknown_kind_is_read_past_and_revokes_nothing() {
        // Regression: an entry of a kind this version does not know (written by a newer version during a rolling
        // upgrade) did not move the log position, so every poll read it again and the position gauge stood still.
        let r = Revocations::new();
        r.apply(&[entry(1, Some(RevocationKind::Jti), "t1"), entry(2, None, "whatever")], 200, true);
        assert_eq!(r.position(), 2);
        r.apply(&[entry(3, None, "x")], 200, true);
        assert_eq!(r.position(), 3);
        // Own revocations apply at once but only reads of the log move the position.
        r.apply(&[entry(7, Some(RevocationKind::Grant), "g")], 200, false);
        assert_eq!(r.position(), 3);
    }
}
