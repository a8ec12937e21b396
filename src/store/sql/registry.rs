//! Users, admin tokens, apps with their secrets, keys and logos, and console sessions: the registry's [`Store`].

use async_trait::async_trait;
use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use sqlx::{FromRow, Row};

use super::{db, flag, json_list, SqlStore};
use crate::store::*;

async fn insert_secret<'c, E: sqlx::Executor<'c, Database = sqlx::Any>>(
    e: E,
    s: &SecretRecord,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO client_secrets (id, client_id, secret_hash, note, created_at, last_used_at) VALUES ($1, $2, $3, $4, $5, $6)",
    )
    .bind(&s.id)
    .bind(&s.client_id)
    .bind(&s.secret_hash)
    .bind(&s.note)
    .bind(s.created_at)
    .bind(s.last_used_at)
    .execute(e)
    .await?;
    Ok(())
}

#[async_trait]
impl Store for SqlStore {
    async fn create_user(&self, u: &UserRecord) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO users (id, username, password_hash, is_admin, disabled, created_at, updated_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7)",
        )
        .bind(&u.id)
        .bind(&u.username)
        .bind(&u.password_hash)
        .bind(flag(u.is_admin))
        .bind(flag(u.disabled))
        .bind(u.created_at)
        .bind(u.updated_at)
        .execute(&self.pool)
        .await
        .map_err(|e| match db(e) {
            StoreError::Conflict(_) => StoreError::Conflict("a user with this name"),
            other => other,
        })?;
        Ok(())
    }

    async fn user_by_name(&self, username: &str) -> Result<Option<UserRecord>, StoreError> {
        let row =
            sqlx::query("SELECT * FROM users WHERE username = $1").bind(username).fetch_optional(&self.pool).await?;
        Ok(row.as_ref().map(UserRecord::from_row).transpose()?)
    }

    async fn user_by_id(&self, id: &str) -> Result<Option<UserRecord>, StoreError> {
        let row = sqlx::query("SELECT * FROM users WHERE id = $1").bind(id).fetch_optional(&self.pool).await?;
        Ok(row.as_ref().map(UserRecord::from_row).transpose()?)
    }

    async fn list_users(&self) -> Result<Vec<UserRecord>, StoreError> {
        let rows = sqlx::query("SELECT * FROM users ORDER BY username").fetch_all(&self.pool).await?;
        Ok(rows.iter().map(UserRecord::from_row).collect::<Result<_, _>>()?)
    }

    async fn update_user(&self, u: &UserRecord) -> Result<bool, StoreError> {
        let r = sqlx::query(
            "UPDATE users SET username = $2, password_hash = $3, is_admin = $4, disabled = $5, updated_at = $6 WHERE id = $1",
        )
        .bind(&u.id)
        .bind(&u.username)
        .bind(&u.password_hash)
        .bind(flag(u.is_admin))
        .bind(flag(u.disabled))
        .bind(u.updated_at)
        .execute(&self.pool)
        .await
        ?;
        Ok(r.rows_affected() == 1)
    }

    async fn count_admins(&self) -> Result<i64, StoreError> {
        let row = sqlx::query("SELECT COUNT(*) AS n FROM users WHERE is_admin = 1 AND disabled = 0")
            .fetch_one(&self.pool)
            .await?;
        Ok(row.try_get::<i64, _>("n")?)
    }

    async fn create_admin_token(&self, t: &AdminTokenRecord) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO admin_tokens (id, user_id, token_hash, note, created_at, expires_at) \
             VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(&t.id)
        .bind(&t.user_id)
        .bind(&t.token_hash)
        .bind(&t.note)
        .bind(t.created_at)
        .bind(t.expires_at)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    async fn admin_token_user(&self, token_hash: &str, now: i64) -> Result<Option<UserRecord>, StoreError> {
        let row = sqlx::query(
            "SELECT u.* FROM admin_tokens t JOIN users u ON u.id = t.user_id WHERE t.token_hash = $1 AND t.expires_at > $2",
        )
        .bind(token_hash)
        .bind(now)
        .fetch_optional(&self.pool)
        .await
        ?;
        if row.is_some() {
            // "Last used" to the minute: a busy script costs one write a minute, not one per request.
            sqlx::query("UPDATE admin_tokens SET last_used_at = $2 WHERE token_hash = $1 AND (last_used_at IS NULL OR last_used_at <= $3)")
                .bind(token_hash)
                .bind(now)
                .bind(now - 60)
                .execute(&self.pool)
                .await
                ?;
        }
        Ok(row.as_ref().map(UserRecord::from_row).transpose()?)
    }

    async fn admin_tokens(&self) -> Result<Vec<AdminTokenRecord>, StoreError> {
        let rows = sqlx::query("SELECT * FROM admin_tokens ORDER BY created_at, id").fetch_all(&self.pool).await?;
        Ok(rows.iter().map(AdminTokenRecord::from_row).collect::<Result<_, _>>()?)
    }

    async fn delete_admin_token(&self, id: &str) -> Result<bool, StoreError> {
        let r = sqlx::query("DELETE FROM admin_tokens WHERE id = $1").bind(id).execute(&self.pool).await?;
        Ok(r.rows_affected() > 0)
    }

    async fn end_user_access(&self, username: &str, now: i64) -> Result<u64, StoreError> {
        let mut tx = self.pool.begin().await?;
        let grants = sqlx::query("UPDATE grants SET revoked_at = $2 WHERE username = $1 AND revoked_at IS NULL")
            .bind(username)
            .bind(now)
            .execute(&mut *tx)
            .await?
            .rows_affected();
        for statement in [
            "DELETE FROM auth_codes WHERE username = $1 AND used_at IS NULL",
            "DELETE FROM sessions WHERE username = $1",
            "DELETE FROM console_sessions WHERE username = $1",
        ] {
            sqlx::query(statement).bind(username).execute(&mut *tx).await?;
        }
        tx.commit().await?;
        Ok(grants)
    }

    async fn create_app(
        &self,
        a: &AppRecord,
        first_secret: Option<&SecretRecord>,
        max_apps: i64,
    ) -> Result<(), StoreError> {
        let mut tx = self.pool.begin().await?;
        // Write first, so the transaction takes the write lock before it reads anything (no lock upgrade races).
        let slot = sqlx::query("UPDATE counters SET value = value + 1 WHERE name = 'apps' AND value < $1")
            .bind(max_apps)
            .execute(&mut *tx)
            .await?;
        if slot.rows_affected() == 0 {
            tx.rollback().await?;
            return Err(StoreError::LimitReached(max_apps));
        }
        sqlx::query(
            "INSERT INTO apps (client_id, app_type, name, description, redirect_urls, refresh_token_rotation, \
             refresh_token_absolute_expiry_secs, refresh_token_inactivity_expiry_secs, logo_url, app_description_url, \
             developer_name, developer_email, privacy_policy_url, created_at, updated_at, jwt_subjects, scopes, \
             introspect_any) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18)",
        )
        .bind(&a.client_id)
        .bind(a.app_type.as_str())
        .bind(&a.name)
        .bind(&a.description)
        .bind(serde_json::to_string(&a.redirect_urls).unwrap_or_else(|_| "[]".into()))
        .bind(flag(a.refresh_token_rotation))
        .bind(a.refresh_token_absolute_expiry_secs)
        .bind(a.refresh_token_inactivity_expiry_secs)
        .bind(&a.logo_url)
        .bind(&a.app_description_url)
        .bind(&a.developer_name)
        .bind(&a.developer_email)
        .bind(&a.privacy_policy_url)
        .bind(a.created_at)
        .bind(a.updated_at)
        .bind(json_list(&a.jwt_subjects))
        .bind(a.scopes.as_ref().map(|s| json_list(s)))
        .bind(flag(a.introspect_any))
        .execute(&mut *tx)
        .await?;
        if let Some(s) = first_secret {
            insert_secret(&mut *tx, s).await?;
        }
        Ok(tx.commit().await?)
    }

    async fn app(&self, client_id: &str) -> Result<Option<AppRecord>, StoreError> {
        let row =
            sqlx::query("SELECT * FROM apps WHERE client_id = $1").bind(client_id).fetch_optional(&self.pool).await?;
        Ok(row.as_ref().map(AppRecord::from_row).transpose()?)
    }

    async fn list_apps(&self) -> Result<Vec<AppRecord>, StoreError> {
        let rows = sqlx::query("SELECT * FROM apps ORDER BY created_at, client_id").fetch_all(&self.pool).await?;
        Ok(rows.iter().map(AppRecord::from_row).collect::<Result<_, _>>()?)
    }

    async fn count_apps(&self) -> Result<i64, StoreError> {
        let row = sqlx::query("SELECT COUNT(*) AS n FROM apps").fetch_one(&self.pool).await?;
        Ok(row.try_get::<i64, _>("n")?)
    }

    async fn update_app(&self, a: &AppRecord) -> Result<bool, StoreError> {
        let r = sqlx::query(
            "UPDATE apps SET name = $2, description = $3, redirect_urls = $4, refresh_token_rotation = $5, \
             refresh_token_absolute_expiry_secs = $6, refresh_token_inactivity_expiry_secs = $7, logo_url = $8, \
             app_description_url = $9, developer_name = $10, developer_email = $11, privacy_policy_url = $12, \
             updated_at = $13, jwt_subjects = $14, scopes = $15, introspect_any = $16 WHERE client_id = $1",
        )
        .bind(&a.client_id)
        .bind(&a.name)
        .bind(&a.description)
        .bind(serde_json::to_string(&a.redirect_urls).unwrap_or_else(|_| "[]".into()))
        .bind(flag(a.refresh_token_rotation))
        .bind(a.refresh_token_absolute_expiry_secs)
        .bind(a.refresh_token_inactivity_expiry_secs)
        .bind(&a.logo_url)
        .bind(&a.app_description_url)
        .bind(&a.developer_name)
        .bind(&a.developer_email)
        .bind(&a.privacy_policy_url)
        .bind(a.updated_at)
        .bind(json_list(&a.jwt_subjects))
        .bind(a.scopes.as_ref().map(|s| json_list(s)))
        .bind(flag(a.introspect_any))
        .execute(&self.pool)
        .await?;
        Ok(r.rows_affected() == 1)
    }

    async fn delete_app(&self, client_id: &str) -> Result<bool, StoreError> {
        let mut tx = self.pool.begin().await?;
        let r = sqlx::query("DELETE FROM apps WHERE client_id = $1").bind(client_id).execute(&mut *tx).await?;
        if r.rows_affected() == 0 {
            tx.rollback().await?;
            return Ok(false);
        }
        sqlx::query("UPDATE counters SET value = value - 1 WHERE name = 'apps'").execute(&mut *tx).await?;
        tx.commit().await?;
        Ok(true)
    }

    async fn add_secret(&self, s: &SecretRecord) -> Result<bool, StoreError> {
        match insert_secret(&self.pool, s).await {
            Ok(()) => Ok(true),
            Err(sqlx::Error::Database(d)) if d.kind() == sqlx::error::ErrorKind::ForeignKeyViolation => Ok(false),
            Err(e) => Err(db(e)),
        }
    }

    async fn delete_secret(&self, client_id: &str, id: &str) -> Result<bool, StoreError> {
        let r = sqlx::query("DELETE FROM client_secrets WHERE client_id = $1 AND id = $2")
            .bind(client_id)
            .bind(id)
            .execute(&self.pool)
            .await?;
        Ok(r.rows_affected() == 1)
    }

    async fn secrets(&self, client_id: &str) -> Result<Vec<SecretRecord>, StoreError> {
        let rows = sqlx::query("SELECT * FROM client_secrets WHERE client_id = $1 ORDER BY created_at, id")
            .bind(client_id)
            .fetch_all(&self.pool)
            .await?;
        Ok(rows.iter().map(SecretRecord::from_row).collect::<Result<_, _>>()?)
    }

    async fn touch_secret(&self, id: &str, now: i64) -> Result<(), StoreError> {
        sqlx::query("UPDATE client_secrets SET last_used_at = $2 WHERE id = $1")
            .bind(id)
            .bind(now)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    async fn add_key(&self, k: &KeyRecord) -> Result<bool, StoreError> {
        let r = sqlx::query(
            "INSERT INTO public_keys (id, client_id, family, format, material, note, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7)",
        )
        .bind(&k.id)
        .bind(&k.client_id)
        .bind(&k.family)
        .bind(&k.format)
        .bind(&k.material)
        .bind(&k.note)
        .bind(k.created_at)
        .execute(&self.pool)
        .await;
        match r {
            Ok(_) => Ok(true),
            Err(sqlx::Error::Database(d)) if d.kind() == sqlx::error::ErrorKind::ForeignKeyViolation => Ok(false),
            Err(e) => Err(db(e)),
        }
    }

    async fn delete_key(&self, client_id: &str, id: &str) -> Result<bool, StoreError> {
        let r = sqlx::query("DELETE FROM public_keys WHERE client_id = $1 AND id = $2")
            .bind(client_id)
            .bind(id)
            .execute(&self.pool)
            .await?;
        Ok(r.rows_affected() == 1)
    }

    async fn keys(&self, client_id: &str) -> Result<Vec<KeyRecord>, StoreError> {
        let rows = sqlx::query("SELECT * FROM public_keys WHERE client_id = $1 ORDER BY created_at, id")
            .bind(client_id)
            .fetch_all(&self.pool)
            .await?;
        Ok(rows.iter().map(KeyRecord::from_row).collect::<Result<_, _>>()?)
    }

    async fn create_console_session(
        &self,
        c: &ConsoleSessionRecord,
        idle_before: i64,
        started_before: i64,
    ) -> Result<(), StoreError> {
        let mut tx = self.pool.begin().await?;
        sqlx::query("DELETE FROM console_sessions WHERE last_seen_at <= $1 OR created_at <= $2")
            .bind(idle_before)
            .bind(started_before)
            .execute(&mut *tx)
            .await?;
        sqlx::query(
            "INSERT INTO console_sessions (session_hash, user_id, username, csrf, created_at, last_seen_at) \
             VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(&c.session_hash)
        .bind(&c.user_id)
        .bind(&c.username)
        .bind(&c.csrf)
        .bind(c.created_at)
        .bind(c.last_seen_at)
        .execute(&mut *tx)
        .await?;
        Ok(tx.commit().await?)
    }

    async fn console_session(
        &self,
        session_hash: &str,
        now: i64,
        idle_before: i64,
        started_before: i64,
    ) -> Result<Option<ConsoleSessionRecord>, StoreError> {
        let live = sqlx::query(
            "UPDATE console_sessions SET last_seen_at = $2 \
             WHERE session_hash = $1 AND last_seen_at > $3 AND created_at > $4",
        )
        .bind(session_hash)
        .bind(now)
        .bind(idle_before)
        .bind(started_before)
        .execute(&self.pool)
        .await?;
        if live.rows_affected() == 0 {
            return Ok(None);
        }
        let row = sqlx::query("SELECT * FROM console_sessions WHERE session_hash = $1")
            .bind(session_hash)
            .fetch_optional(&self.pool)
            .await?;
        Ok(row.as_ref().map(ConsoleSessionRecord::from_row).transpose()?)
    }

    async fn end_console_session(&self, session_hash: &str) -> Result<(), StoreError> {
        sqlx::query("DELETE FROM console_sessions WHERE session_hash = $1")
            .bind(session_hash)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    async fn end_console_sessions_of(&self, username: &str, until: i64) -> Result<(), StoreError> {
        sqlx::query("DELETE FROM console_sessions WHERE username = $1 AND created_at <= $2")
            .bind(username)
            .bind(until)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    async fn console_form_sent(&self, session_hash: &str, token: &str) -> Result<bool, StoreError> {
        let r = sqlx::query("INSERT INTO console_sent_forms (session_hash, token) VALUES ($1, $2)")
            .bind(session_hash)
            .bind(token)
            .execute(&self.pool)
            .await;
        match r {
            Ok(_) => Ok(true),
            Err(e) => match db(e) {
                StoreError::Conflict(_) => Ok(false),
                other => Err(other),
            },
        }
    }

    async fn set_logo(&self, client_id: &str, content_type: &str, data: &[u8], now: i64) -> Result<bool, StoreError> {
        let mut tx = self.pool.begin().await?;
        sqlx::query("DELETE FROM app_logos WHERE client_id = $1").bind(client_id).execute(&mut *tx).await?;
        let r = sqlx::query(
            "INSERT INTO app_logos (client_id, content_type, data_base64, updated_at) VALUES ($1, $2, $3, $4)",
        )
        .bind(client_id)
        .bind(content_type)
        .bind(STANDARD.encode(data))
        .bind(now)
        .execute(&mut *tx)
        .await;
        match r {
            Ok(_) => {
                tx.commit().await?;
                Ok(true)
            }
            Err(sqlx::Error::Database(d)) if d.kind() == sqlx::error::ErrorKind::ForeignKeyViolation => Ok(false),
            Err(e) => Err(db(e)),
        }
    }

    async fn logo(&self, client_id: &str) -> Result<Option<(String, Vec<u8>)>, StoreError> {
        let row = sqlx::query("SELECT content_type, data_base64 FROM app_logos WHERE client_id = $1")
            .bind(client_id)
            .fetch_optional(&self.pool)
            .await?;
        let Some(row) = row else { return Ok(None) };
        let ct: String = row.try_get("content_type")?;
        let data: String = row.try_get("data_base64")?;
        Ok(Some((ct, STANDARD.decode(data).map_err(|e| StoreError::Database(e.to_string()))?)))
    }
}
