//! The authorization server's state: signing keys, grants, codes, refresh tokens, consents, sign-in sessions,
//! answered requests and assertion ids ([`FlowStore`]); the revocation log is in [`super::changes`].

use std::sync::Arc;

use async_trait::async_trait;
use sqlx::{FromRow, Row};

use super::{changes, db, Backend, SqlStore};
use crate::store::*;

async fn insert_refresh<'c, E: sqlx::Executor<'c, Database = sqlx::Any>>(
    e: E,
    t: &RefreshRecord,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO refresh_tokens (token_hash, grant_id, client_id, scope, created_at, last_used_at, parent_hash) \
         VALUES ($1, $2, $3, $4, $5, $6, $7)",
    )
    .bind(&t.token_hash)
    .bind(t.grant_id.as_str())
    .bind(&t.client_id)
    .bind(&t.scope)
    .bind(t.created_at)
    .bind(t.last_used_at)
    .bind(&t.parent_hash)
    .execute(e)
    .await?;
    Ok(())
}

async fn insert_grant<'c, E: sqlx::Executor<'c, Database = sqlx::Any>>(
    e: E,
    g: &GrantRecord,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO grants (id, client_id, username, scope, created_at, expires_at, revoked_at) VALUES ($1, $2, $3, $4, $5, $6, $7)",
    )
    .bind(g.id.as_str())
    .bind(&g.client_id)
    .bind(&g.username)
    .bind(&g.scope)
    .bind(g.created_at)
    .bind(g.expires_at)
    .bind(g.revoked_at)
    .execute(e)
    .await?;
    Ok(())
}

#[async_trait]
impl FlowStore for SqlStore {
    async fn signing_keys(&self) -> Result<Vec<SigningKeyRecord>, StoreError> {
        let rows =
            sqlx::query("SELECT * FROM signing_keys ORDER BY created_at DESC, kid").fetch_all(&self.pool).await?;
        Ok(rows.iter().map(SigningKeyRecord::from_row).collect::<Result<_, _>>()?)
    }

    async fn add_signing_key(&self, k: &SigningKeyRecord, now: i64) -> Result<(), StoreError> {
        let mut tx = self.pool.begin().await?;
        sqlx::query("UPDATE signing_keys SET retired_at = $1 WHERE retired_at IS NULL")
            .bind(now)
            .execute(&mut *tx)
            .await?;
        sqlx::query("INSERT INTO signing_keys (kid, alg, private_pem, public_jwk, created_at, retired_at) VALUES ($1, $2, $3, $4, $5, NULL)")
            .bind(&k.kid)
            .bind(&k.alg)
            .bind(k.private_pem.expose())
            .bind(&k.public_jwk)
            .bind(k.created_at)
            .execute(&mut *tx)
            .await
            ?;
        self.notify_changes(&mut tx).await?;
        Ok(tx.commit().await?)
    }

    async fn create_grant(&self, g: &GrantRecord) -> Result<(), StoreError> {
        Ok(insert_grant(&self.pool, g).await?)
    }

    async fn grant(&self, id: &GrantId) -> Result<Option<GrantRecord>, StoreError> {
        let row =
            sqlx::query("SELECT * FROM grants WHERE id = $1").bind(id.as_str()).fetch_optional(&self.pool).await?;
        Ok(row.as_ref().map(GrantRecord::from_row).transpose()?)
    }

    async fn revoke_grant(&self, id: &GrantId, now: i64) -> Result<bool, StoreError> {
        let r = sqlx::query("UPDATE grants SET revoked_at = $2 WHERE id = $1 AND revoked_at IS NULL")
            .bind(id.as_str())
            .bind(now)
            .execute(&self.pool)
            .await?;
        Ok(r.rows_affected() == 1)
    }

    async fn create_code(&self, c: &CodeRecord) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO auth_codes (code_hash, client_id, grant_id, username, redirect_uri, scope, code_challenge, created_at, expires_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
        )
        .bind(&c.code_hash)
        .bind(&c.client_id)
        .bind(c.grant_id.as_str())
        .bind(&c.username)
        .bind(&c.redirect_uri)
        .bind(&c.scope)
        .bind(&c.code_challenge)
        .bind(c.created_at)
        .bind(c.expires_at)
        .execute(&self.pool)
        .await
        ?;
        Ok(())
    }

    async fn code(&self, code_hash: &str) -> Result<Option<(CodeRecord, bool)>, StoreError> {
        let row = sqlx::query("SELECT * FROM auth_codes WHERE code_hash = $1")
            .bind(code_hash)
            .fetch_optional(&self.pool)
            .await?;
        let Some(row) = row else { return Ok(None) };
        let used: Option<i64> = row.try_get("used_at")?;
        Ok(Some((CodeRecord::from_row(&row)?, used.is_some())))
    }

    async fn redeem_code(
        &self,
        code_hash: &str,
        g: &GrantRecord,
        now: i64,
    ) -> Result<Redemption<CodeRecord>, StoreError> {
        let mut tx = self.pool.begin().await?;
        // Spending first takes the row's lock: a concurrent redemption waits here until this one commits, and then
        // finds the code spent and its grant stored.
        let spent = sqlx::query("UPDATE auth_codes SET used_at = $2 WHERE code_hash = $1 AND used_at IS NULL")
            .bind(code_hash)
            .bind(now)
            .execute(&mut *tx)
            .await?;
        let row = sqlx::query("SELECT * FROM auth_codes WHERE code_hash = $1")
            .bind(code_hash)
            .fetch_optional(&mut *tx)
            .await?;
        let Some(rec) = row.as_ref().map(CodeRecord::from_row).transpose()? else {
            tx.rollback().await?;
            return Ok(Redemption::Unknown);
        };
        if spent.rows_affected() != 1 {
            tx.rollback().await?;
            return Ok(Redemption::Replayed(rec));
        }
        insert_grant(&mut *tx, g).await?;
        tx.commit().await?;
        Ok(Redemption::Fresh(rec))
    }

    async fn create_refresh(&self, t: &RefreshRecord) -> Result<(), StoreError> {
        Ok(insert_refresh(&self.pool, t).await?)
    }

    async fn rotate_refresh(
        &self,
        old_hash: &str,
        successor: &RefreshRecord,
        now: i64,
        grace_secs: i64,
    ) -> Result<Redemption<RefreshRecord>, StoreError> {
        let mut tx = self.pool.begin().await?;
        // Spend the old token first: this takes the row's lock, so concurrent rotations of one token queue here.
        let spent = sqlx::query(
            "UPDATE refresh_tokens SET used_at = $2, last_used_at = $2 WHERE token_hash = $1 AND used_at IS NULL",
        )
        .bind(old_hash)
        .bind(now)
        .execute(&mut *tx)
        .await?;
        let row = sqlx::query("SELECT * FROM refresh_tokens WHERE token_hash = $1")
            .bind(old_hash)
            .fetch_optional(&mut *tx)
            .await?;
        let Some(old) = row.as_ref().map(RefreshRecord::from_row).transpose()? else {
            tx.rollback().await?;
            return Ok(Redemption::Unknown);
        };
        let outcome = if spent.rows_affected() == 1 {
            Redemption::Fresh(old)
        } else {
            // Already spent: a retry within the grace, or reuse. The update takes the lock even when nothing else is
            // to be changed, so two retries of one token are decided one after the other.
            let within = sqlx::query(
                "UPDATE refresh_tokens SET last_used_at = $2 \
                 WHERE token_hash = $1 AND used_at > $2 - $3 AND $3 > 0 AND superseded = 0",
            )
            .bind(old_hash)
            .bind(now)
            .bind(grace_secs)
            .execute(&mut *tx)
            .await?;
            let used_successor = sqlx::query(
                "SELECT COUNT(*) AS n FROM refresh_tokens WHERE parent_hash = $1 AND used_at IS NOT NULL AND superseded = 0",
            )
            .bind(old_hash)
            .fetch_one(&mut *tx)
            .await
            ?
            .try_get::<i64, _>("n")
            ?;
            if within.rows_affected() == 0 || used_successor > 0 {
                tx.rollback().await?;
                return Ok(Redemption::Replayed(old));
            }
            sqlx::query(
                "UPDATE refresh_tokens SET used_at = $2, superseded = 1 WHERE parent_hash = $1 AND used_at IS NULL",
            )
            .bind(old_hash)
            .bind(now)
            .execute(&mut *tx)
            .await?;
            Redemption::Retried(old)
        };
        insert_refresh(&mut *tx, successor).await?;
        tx.commit().await?;
        Ok(outcome)
    }

    async fn touch_refresh(&self, token_hash: &str, now: i64) -> Result<Redemption<RefreshRecord>, StoreError> {
        let row = sqlx::query("SELECT * FROM refresh_tokens WHERE token_hash = $1")
            .bind(token_hash)
            .fetch_optional(&self.pool)
            .await?;
        let Some(rec) = row.as_ref().map(RefreshRecord::from_row).transpose()? else { return Ok(Redemption::Unknown) };
        let r = sqlx::query("UPDATE refresh_tokens SET last_used_at = $2 WHERE token_hash = $1 AND used_at IS NULL")
            .bind(token_hash)
            .bind(now)
            .execute(&self.pool)
            .await?;
        Ok(if r.rows_affected() == 1 { Redemption::Fresh(rec) } else { Redemption::Replayed(rec) })
    }

    async fn refresh(&self, token_hash: &str) -> Result<Option<(RefreshRecord, bool)>, StoreError> {
        let row = sqlx::query("SELECT * FROM refresh_tokens WHERE token_hash = $1")
            .bind(token_hash)
            .fetch_optional(&self.pool)
            .await?;
        let Some(row) = row else { return Ok(None) };
        let used: Option<i64> = row.try_get("used_at")?;
        Ok(Some((RefreshRecord::from_row(&row)?, used.is_some())))
    }

    async fn has_consent(&self, username: &str, client_id: &str, scope: &str) -> Result<bool, StoreError> {
        let row = sqlx::query("SELECT 1 AS x FROM consents WHERE username = $1 AND client_id = $2 AND scope = $3")
            .bind(username)
            .bind(client_id)
            .bind(scope)
            .fetch_optional(&self.pool)
            .await?;
        Ok(row.is_some())
    }

    async fn add_consent(&self, username: &str, client_id: &str, scope: &str, now: i64) -> Result<(), StoreError> {
        let r = sqlx::query("INSERT INTO consents (username, client_id, scope, created_at) VALUES ($1, $2, $3, $4)")
            .bind(username)
            .bind(client_id)
            .bind(scope)
            .bind(now)
            .execute(&self.pool)
            .await;
        match r {
            Ok(_) => Ok(()),
            Err(e) => match db(e) {
                StoreError::Conflict(_) => Ok(()),
                other => Err(other),
            },
        }
    }

    async fn create_session(
        &self,
        session_hash: &str,
        username: &str,
        now: i64,
        expires_at: i64,
    ) -> Result<(), StoreError> {
        sqlx::query("INSERT INTO sessions (session_hash, username, created_at, expires_at) VALUES ($1, $2, $3, $4)")
            .bind(session_hash)
            .bind(username)
            .bind(now)
            .bind(expires_at)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    async fn session_user(&self, session_hash: &str, now: i64) -> Result<Option<(String, i64)>, StoreError> {
        let row = sqlx::query("SELECT username, created_at FROM sessions WHERE session_hash = $1 AND expires_at > $2")
            .bind(session_hash)
            .bind(now)
            .fetch_optional(&self.pool)
            .await?;
        let read = |r: sqlx::any::AnyRow| -> Result<(String, i64), sqlx::Error> {
            Ok((r.try_get("username")?, r.try_get("created_at")?))
        };
        Ok(row.map(read).transpose()?)
    }

    async fn answer_authorization_request(&self, rid_hash: &str, expires_at: i64) -> Result<bool, StoreError> {
        let r = sqlx::query(
            "INSERT INTO answered_authorization_requests (rid_hash, expires_at) VALUES ($1, $2) \
             ON CONFLICT (rid_hash) DO NOTHING",
        )
        .bind(rid_hash)
        .bind(expires_at)
        .execute(&self.pool)
        .await?;
        Ok(r.rows_affected() == 1)
    }

    async fn record_assertion(
        &self,
        client_id: &str,
        jti: &str,
        expires_at: i64,
        now: i64,
    ) -> Result<bool, StoreError> {
        let mut tx = self.pool.begin().await?;
        sqlx::query("DELETE FROM used_assertions WHERE client_id = $1 AND jti = $2 AND expires_at < $3")
            .bind(client_id)
            .bind(jti)
            .bind(now)
            .execute(&mut *tx)
            .await?;
        let r = sqlx::query("INSERT INTO used_assertions (client_id, jti, expires_at) VALUES ($1, $2, $3)")
            .bind(client_id)
            .bind(jti)
            .bind(expires_at)
            .execute(&mut *tx)
            .await;
        match r {
            Ok(_) => {
                tx.commit().await?;
                Ok(true)
            }
            Err(e) => match db(e) {
                StoreError::Conflict(_) => Ok(false),
                other => Err(other),
            },
        }
    }

    async fn revoke(&self, kind: RevocationKind, value: &str, now: i64, expires_at: i64) -> Result<i64, StoreError> {
        changes::append(self, kind, value, now, expires_at).await
    }

    async fn sweep(&self, now: i64) -> Result<u64, StoreError> {
        const STATEMENTS: [&str; 6] = [
            "DELETE FROM auth_codes WHERE expires_at < $1 - 86400",
            "DELETE FROM sessions WHERE expires_at <= $1",
            "DELETE FROM answered_authorization_requests WHERE expires_at <= $1",
            // Left by instances of versions before 0007 during a rolling upgrade; nothing writes there any more.
            "DELETE FROM authorization_requests WHERE expires_at <= $1",
            "DELETE FROM used_assertions WHERE expires_at < $1",
            "DELETE FROM revocations WHERE expires_at <= $1",
        ];
        let mut gone = 0;
        for sql in STATEMENTS {
            gone += sqlx::query(sql).bind(now).execute(&self.pool).await?.rows_affected();
        }
        Ok(gone)
    }

    fn spawn_change_feed(
        &self,
        wake: Arc<tokio::sync::Notify>,
        listening: Arc<std::sync::atomic::AtomicBool>,
    ) -> Option<tokio::task::JoinHandle<()>> {
        let Backend::Postgres { notify: true } = self.backend else { return None };
        let opts = self.pg.clone()?;
        Some(tokio::spawn(changes::listen(opts, wake, listening)))
    }

    async fn revocations_since(&self, seq: i64, now: i64) -> Result<Vec<RevocationRecord>, StoreError> {
        changes::since(self, seq, now).await
    }
}
