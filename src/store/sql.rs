//! [`Store`] over sqlx's `Any` driver with portable SQL (`$n` placeholders, BIGINT times and flags, TEXT data).

use std::path::Path;
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use sqlx::any::{AnyPoolOptions, AnyRow};
use sqlx::{AnyPool, Row};

use super::*;

/// Which database is behind the pool.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    /// One SQLite file.
    Sqlite,
    /// A PostgreSQL server (or a PostgreSQL-compatible one). `notify`: it has `LISTEN`/`NOTIFY`.
    Postgres {
        /// Other instances' changes arrive by `LISTEN`/`NOTIFY`; without it they are polled.
        notify: bool,
    },
}

/// The channel's name, as a literal for `concat!` (a `NOTIFY` statement cannot take it as a parameter).
macro_rules! changes_channel {
    () => {
        "tokengate_changes"
    };
}

/// The channel that carries "the revocation log or the signing keys changed" between instances.
pub const CHANGES_CHANNEL: &str = changes_channel!();

/// How long a statement may run on PostgreSQL before the server cancels it.
const PG_STATEMENT_TIMEOUT: &str = "SET statement_timeout = '10s'";

/// The SQL store.
#[derive(Clone)]
pub struct SqlStore {
    pool: AnyPool,
    backend: Backend,
    location: String,
    /// PostgreSQL only: the connection options, for the `LISTEN` connection.
    pg: Option<sqlx::postgres::PgConnectOptions>,
}

impl std::fmt::Debug for SqlStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SqlStore").field("backend", &self.backend).field("location", &self.location).finish()
    }
}

/// `location` with any password in it replaced by `***`, fit for logs and error messages.
pub fn redact_location(location: &str) -> String {
    let Some((scheme, rest)) = location.split_once("://") else { return location.to_string() };
    let authority_end = rest.find(['/', '?']).unwrap_or(rest.len());
    let (authority, tail) = rest.split_at(authority_end);
    let Some((userinfo, host)) = authority.rsplit_once('@') else { return location.to_string() };
    let user = userinfo.split(':').next().unwrap_or_default();
    let redacted = if userinfo.contains(':') { format!("{user}:***") } else { user.to_string() };
    let tail = redact_query_password(tail);
    format!("{scheme}://{redacted}@{host}{tail}")
}

fn redact_query_password(tail: &str) -> String {
    let Some((path, query)) = tail.split_once('?') else { return tail.to_string() };
    let query: Vec<String> = query
        .split('&')
        .map(|kv| match kv.split_once('=') {
            Some((k, _)) if k.eq_ignore_ascii_case("password") => format!("{k}=***"),
            _ => kv.to_string(),
        })
        .collect();
    format!("{path}?{}", query.join("&"))
}

/// Whether `location` names a PostgreSQL server rather than a SQLite file.
pub fn is_postgres(location: &str) -> bool {
    location.starts_with("postgres://") || location.starts_with("postgresql://")
}

impl From<sqlx::Error> for StoreError {
    fn from(e: sqlx::Error) -> Self {
        db(e)
    }
}

fn db(e: sqlx::Error) -> StoreError {
    match &e {
        sqlx::Error::Database(d) if d.kind() == sqlx::error::ErrorKind::UniqueViolation => {
            StoreError::Conflict("a record")
        }
        sqlx::Error::Database(d) => {
            let msg = d.message().to_string();
            let hint = match d.code().as_deref() {
                // SQLite's result codes.
                Some("8") | Some("1032") => " (the database file is read-only)",
                Some("13") => " (the disk is full)",
                Some("10") | Some("778") => {
                    " (a write to the database file failed: is the disk full, or the file size limited?)"
                }
                Some("5") | Some("6") | Some("517") => " (the database is locked by another process)",
                Some("11") => " (the database file is corrupt)",
                Some("14") => " (cannot open or create the database files: is their directory missing or read-only?)",
                // PostgreSQL's SQLSTATEs.
                Some("57014") => " (the statement ran longer than 10 s and was cancelled)",
                Some("57P01") | Some("57P02") | Some("57P03") => {
                    " (the database server is restarting or shutting down)"
                }
                Some("53100") => " (the database server's disk is full)",
                Some("25006") => " (the database server is read-only: a standby?)",
                Some("40001") | Some("40P01") => " (a conflicting transaction: retry)",
                Some("28P01") | Some("28000") => " (the database refused the user or password)",
                Some("3D000") => " (the database does not exist: create it first)",
                _ => "",
            };
            StoreError::Database(format!("{msg}{hint}"))
        }
        sqlx::Error::PoolTimedOut => StoreError::Database(
            "timed out waiting for a database connection (is the database server reachable?)".into(),
        ),
        sqlx::Error::Io(io) => StoreError::Database(format!("cannot reach the database server: {io}")),
        _ => StoreError::Database(e.to_string()),
    }
}

static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations");

/// Set on every connection: WAL, an fsync per commit (an acknowledged write survives power loss), foreign keys, and
/// waiting up to 5 s for a lock held by another process.
const PRAGMAS: [&str; 4] = [
    "PRAGMA journal_mode = WAL",
    "PRAGMA synchronous = FULL",
    "PRAGMA foreign_keys = ON",
    "PRAGMA busy_timeout = 5000",
];

/// How long to wait for a connection from the pool: SQLite's connections are local (only a machine starved of CPU
/// makes them slow), PostgreSQL's may be waiting on a server that is away, and a request should not hang for long.
const SQLITE_ACQUIRE_TIMEOUT: Duration = Duration::from_secs(10);
const PG_ACQUIRE_TIMEOUT: Duration = Duration::from_secs(5);

impl SqlStore {
    /// Opens (creating and migrating) the database at `location`: a SQLite file path or `sqlite:` URL, or a
    /// `postgres://` URL.
    pub async fn open(location: &str) -> Result<SqlStore, StoreError> {
        Self::open_with(location, None).await
    }

    /// [`Self::open`] with at most `max_connections` pooled connections (default: 8 for SQLite, 16 for PostgreSQL).
    pub async fn open_with(location: &str, max_connections: Option<u32>) -> Result<SqlStore, StoreError> {
        sqlx::any::install_default_drivers();
        if is_postgres(location) {
            return Self::open_postgres(location, max_connections.unwrap_or(16)).await;
        }
        let path = location.strip_prefix("sqlite://").or_else(|| location.strip_prefix("sqlite:")).unwrap_or(location);
        let path = path.split('?').next().unwrap_or(path);
        if let Some(parent) = Path::new(path).parent().filter(|p| !p.as_os_str().is_empty()) {
            std::fs::create_dir_all(parent)
                .map_err(|e| StoreError::Database(format!("cannot create {}: {e}", parent.display())))?;
        }
        let url = format!("sqlite://{path}?mode=rwc");
        let opts = sqlx::any::AnyConnectOptions::from_str(&url)?;
        // One connection first, so that a file that cannot be opened or written is reported as itself, not as a pool
        // timing out after its retries.
        {
            use sqlx::Connection;
            let mut probe = sqlx::AnyConnection::connect_with(&opts).await?;
            for pragma in PRAGMAS {
                sqlx::query(pragma).execute(&mut probe).await?;
            }
            let _ = probe.close().await;
        }
        let pool = AnyPoolOptions::new()
            .max_connections(max_connections.unwrap_or(8))
            .acquire_timeout(SQLITE_ACQUIRE_TIMEOUT)
            .after_connect(|conn, _| {
                Box::pin(async move {
                    for pragma in PRAGMAS {
                        sqlx::query(pragma).execute(&mut *conn).await?;
                    }
                    Ok(())
                })
            })
            .connect_with(opts)
            .await?;
        MIGRATOR.run(&pool).await.map_err(|e| StoreError::Database(format!("migrating {path}: {e}")))?;
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            // The database holds password hashes and signing keys: owner only.
            let _ = std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600));
        }
        Ok(SqlStore { pool, backend: Backend::Sqlite, location: path.to_string(), pg: None })
    }

    /// PostgreSQL: a pool whose connections are checked before use (so a server restart costs one failed check,
    /// not a failed request), a statement timeout, migrations under sqlx's advisory lock (instances may start
    /// together), and a probe of what the server supports.
    async fn open_postgres(location: &str, max_connections: u32) -> Result<SqlStore, StoreError> {
        let shown = redact_location(location);
        let pg = sqlx::postgres::PgConnectOptions::from_str(location)
            .map_err(|e| StoreError::Database(format!("`{shown}` is not a PostgreSQL URL: {e}")))?
            .application_name("tokengate");
        let opts = sqlx::any::AnyConnectOptions::from_str(location)?;
        let pool = AnyPoolOptions::new()
            .max_connections(max_connections)
            .min_connections(1)
            .acquire_timeout(PG_ACQUIRE_TIMEOUT)
            .test_before_acquire(true)
            .idle_timeout(Duration::from_secs(300))
            .after_connect(|conn, _| {
                Box::pin(async move {
                    sqlx::query(PG_STATEMENT_TIMEOUT).execute(&mut *conn).await?;
                    Ok(())
                })
            })
            .connect_with(opts)
            .await?;
        let version: String = sqlx::query("SELECT version() AS v").fetch_one(&pool).await?.try_get("v")?;
        // CockroachDB has neither advisory locks (for the migration lock) nor LISTEN/NOTIFY; YugabyteDB has no
        // LISTEN/NOTIFY. Both then poll the revocation log, as SQLite does.
        let cockroach = version.contains("CockroachDB");
        let notify = !cockroach && !version.contains("-YB-");
        let mut migrator = sqlx::migrate!("./migrations");
        migrator.set_locking(!cockroach);
        migrator.run(&pool).await.map_err(|e| StoreError::Database(format!("migrating {shown}: {e}")))?;
        tracing::info!(database = %shown, notify, "PostgreSQL store open");
        Ok(SqlStore { pool, backend: Backend::Postgres { notify }, location: shown, pg: Some(pg) })
    }

    /// Where the data is (a file path, or the server's URL without its password).
    pub fn location(&self) -> &str {
        &self.location
    }

    /// Which database this is.
    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// The pool, for the modules that add their own tables.
    pub fn pool(&self) -> &AnyPool {
        &self.pool
    }

    /// Tells the other instances that the revocation log or the signing keys changed, when they listen (PostgreSQL:
    /// the notification is sent when `tx` commits, and only then).
    async fn notify_changes(&self, tx: &mut sqlx::Transaction<'_, sqlx::Any>) -> Result<(), StoreError> {
        if let Backend::Postgres { notify: true } = self.backend {
            sqlx::query(concat!("NOTIFY ", changes_channel!())).execute(&mut **tx).await?;
        }
        Ok(())
    }
}

fn flag(b: bool) -> i64 {
    b as i64
}

fn json_list(items: &[String]) -> String {
    serde_json::to_string(items).unwrap_or_else(|_| "[]".into())
}

fn admin_token(r: &AnyRow) -> Result<AdminTokenRecord, sqlx::Error> {
    Ok(AdminTokenRecord {
        id: r.try_get("id")?,
        user_id: r.try_get("user_id")?,
        token_hash: r.try_get("token_hash")?,
        note: r.try_get("note")?,
        created_at: r.try_get("created_at")?,
        expires_at: r.try_get("expires_at")?,
        last_used_at: r.try_get("last_used_at")?,
    })
}

fn user(r: &AnyRow) -> Result<UserRecord, sqlx::Error> {
    Ok(UserRecord {
        id: r.try_get("id")?,
        username: r.try_get("username")?,
        password_hash: r.try_get("password_hash")?,
        is_admin: r.try_get::<i64, _>("is_admin")? != 0,
        disabled: r.try_get::<i64, _>("disabled")? != 0,
        created_at: r.try_get("created_at")?,
        updated_at: r.try_get("updated_at")?,
    })
}

fn app(r: &AnyRow) -> Result<AppRecord, sqlx::Error> {
    let app_type: String = r.try_get("app_type")?;
    let urls: String = r.try_get("redirect_urls")?;
    Ok(AppRecord {
        client_id: r.try_get("client_id")?,
        app_type: AppType::parse(&app_type).ok_or_else(|| sqlx::Error::Decode("unknown app_type".into()))?,
        name: r.try_get("name")?,
        description: r.try_get("description")?,
        redirect_urls: serde_json::from_str(&urls).map_err(|e| sqlx::Error::Decode(Box::new(e)))?,
        refresh_token_rotation: r.try_get::<i64, _>("refresh_token_rotation")? != 0,
        refresh_token_absolute_expiry_secs: r.try_get("refresh_token_absolute_expiry_secs")?,
        refresh_token_inactivity_expiry_secs: r.try_get("refresh_token_inactivity_expiry_secs")?,
        logo_url: r.try_get("logo_url")?,
        app_description_url: r.try_get("app_description_url")?,
        developer_name: r.try_get("developer_name")?,
        developer_email: r.try_get("developer_email")?,
        privacy_policy_url: r.try_get("privacy_policy_url")?,
        jwt_subjects: serde_json::from_str(&r.try_get::<String, _>("jwt_subjects")?)
            .map_err(|e| sqlx::Error::Decode(Box::new(e)))?,
        scopes: r
            .try_get::<Option<String>, _>("scopes")?
            .map(|s| serde_json::from_str(&s))
            .transpose()
            .map_err(|e| sqlx::Error::Decode(Box::new(e)))?,
        created_at: r.try_get("created_at")?,
        updated_at: r.try_get("updated_at")?,
    })
}

fn secret(r: &AnyRow) -> Result<SecretRecord, sqlx::Error> {
    Ok(SecretRecord {
        id: r.try_get("id")?,
        client_id: r.try_get("client_id")?,
        secret_hash: r.try_get("secret_hash")?,
        note: r.try_get("note")?,
        created_at: r.try_get("created_at")?,
        last_used_at: r.try_get("last_used_at")?,
    })
}

fn key(r: &AnyRow) -> Result<KeyRecord, sqlx::Error> {
    Ok(KeyRecord {
        id: r.try_get("id")?,
        client_id: r.try_get("client_id")?,
        family: r.try_get("family")?,
        format: r.try_get("format")?,
        material: r.try_get("material")?,
        note: r.try_get("note")?,
        created_at: r.try_get("created_at")?,
    })
}

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
        row.as_ref().map(user).transpose().map_err(db)
    }

    async fn user_by_id(&self, id: &str) -> Result<Option<UserRecord>, StoreError> {
        let row = sqlx::query("SELECT * FROM users WHERE id = $1").bind(id).fetch_optional(&self.pool).await?;
        row.as_ref().map(user).transpose().map_err(db)
    }

    async fn list_users(&self) -> Result<Vec<UserRecord>, StoreError> {
        let rows = sqlx::query("SELECT * FROM users ORDER BY username").fetch_all(&self.pool).await?;
        rows.iter().map(user).collect::<Result<_, _>>().map_err(db)
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
        row.try_get::<i64, _>("n").map_err(db)
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
        row.as_ref().map(user).transpose().map_err(db)
    }

    async fn admin_tokens(&self) -> Result<Vec<AdminTokenRecord>, StoreError> {
        let rows = sqlx::query("SELECT * FROM admin_tokens ORDER BY created_at, id").fetch_all(&self.pool).await?;
        rows.iter().map(admin_token).collect::<Result<_, _>>().map_err(db)
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
             developer_name, developer_email, privacy_policy_url, created_at, updated_at, jwt_subjects, scopes) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17)",
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
        .execute(&mut *tx)
        .await?;
        if let Some(s) = first_secret {
            insert_secret(&mut *tx, s).await?;
        }
        tx.commit().await.map_err(db)
    }

    async fn app(&self, client_id: &str) -> Result<Option<AppRecord>, StoreError> {
        let row =
            sqlx::query("SELECT * FROM apps WHERE client_id = $1").bind(client_id).fetch_optional(&self.pool).await?;
        row.as_ref().map(app).transpose().map_err(db)
    }

    async fn list_apps(&self) -> Result<Vec<AppRecord>, StoreError> {
        let rows = sqlx::query("SELECT * FROM apps ORDER BY created_at, client_id").fetch_all(&self.pool).await?;
        rows.iter().map(app).collect::<Result<_, _>>().map_err(db)
    }

    async fn count_apps(&self) -> Result<i64, StoreError> {
        let row = sqlx::query("SELECT COUNT(*) AS n FROM apps").fetch_one(&self.pool).await?;
        row.try_get::<i64, _>("n").map_err(db)
    }

    async fn update_app(&self, a: &AppRecord) -> Result<bool, StoreError> {
        let r = sqlx::query(
            "UPDATE apps SET name = $2, description = $3, redirect_urls = $4, refresh_token_rotation = $5, \
             refresh_token_absolute_expiry_secs = $6, refresh_token_inactivity_expiry_secs = $7, logo_url = $8, \
             app_description_url = $9, developer_name = $10, developer_email = $11, privacy_policy_url = $12, \
             updated_at = $13, jwt_subjects = $14, scopes = $15 WHERE client_id = $1",
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
        rows.iter().map(secret).collect::<Result<_, _>>().map_err(db)
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
        rows.iter().map(key).collect::<Result<_, _>>().map_err(db)
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
        tx.commit().await.map_err(db)
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
        row.map(|r| -> Result<ConsoleSessionRecord, sqlx::Error> {
            Ok(ConsoleSessionRecord {
                session_hash: r.try_get("session_hash")?,
                user_id: r.try_get("user_id")?,
                username: r.try_get("username")?,
                csrf: r.try_get("csrf")?,
                created_at: r.try_get("created_at")?,
                last_seen_at: r.try_get("last_seen_at")?,
            })
        })
        .transpose()
        .map_err(db)
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

fn grant(r: &AnyRow) -> Result<GrantRecord, sqlx::Error> {
    Ok(GrantRecord {
        id: r.try_get("id")?,
        client_id: r.try_get("client_id")?,
        username: r.try_get("username")?,
        scope: r.try_get("scope")?,
        created_at: r.try_get("created_at")?,
        expires_at: r.try_get("expires_at")?,
        revoked_at: r.try_get("revoked_at")?,
    })
}

fn code(r: &AnyRow) -> Result<CodeRecord, sqlx::Error> {
    Ok(CodeRecord {
        code_hash: r.try_get("code_hash")?,
        client_id: r.try_get("client_id")?,
        grant_id: r.try_get("grant_id")?,
        username: r.try_get("username")?,
        redirect_uri: r.try_get("redirect_uri")?,
        scope: r.try_get("scope")?,
        code_challenge: r.try_get("code_challenge")?,
        created_at: r.try_get("created_at")?,
        expires_at: r.try_get("expires_at")?,
    })
}

fn refresh(r: &AnyRow) -> Result<RefreshRecord, sqlx::Error> {
    Ok(RefreshRecord {
        token_hash: r.try_get("token_hash")?,
        grant_id: r.try_get("grant_id")?,
        client_id: r.try_get("client_id")?,
        scope: r.try_get("scope")?,
        created_at: r.try_get("created_at")?,
        last_used_at: r.try_get("last_used_at")?,
        parent_hash: r.try_get("parent_hash")?,
    })
}

async fn insert_refresh<'c, E: sqlx::Executor<'c, Database = sqlx::Any>>(
    e: E,
    t: &RefreshRecord,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO refresh_tokens (token_hash, grant_id, client_id, scope, created_at, last_used_at, parent_hash) \
         VALUES ($1, $2, $3, $4, $5, $6, $7)",
    )
    .bind(&t.token_hash)
    .bind(&t.grant_id)
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
    .bind(&g.id)
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
        rows.iter()
            .map(|r| -> Result<SigningKeyRecord, sqlx::Error> {
                Ok(SigningKeyRecord {
                    kid: r.try_get("kid")?,
                    alg: r.try_get("alg")?,
                    private_pem: crate::secret::Secret::new(r.try_get::<String, _>("private_pem")?),
                    public_jwk: r.try_get("public_jwk")?,
                    created_at: r.try_get("created_at")?,
                    retired_at: r.try_get("retired_at")?,
                })
            })
            .collect::<Result<_, _>>()
            .map_err(db)
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
        tx.commit().await.map_err(db)
    }

    async fn create_grant(&self, g: &GrantRecord) -> Result<(), StoreError> {
        insert_grant(&self.pool, g).await.map_err(db)
    }

    async fn grant(&self, id: &str) -> Result<Option<GrantRecord>, StoreError> {
        let row = sqlx::query("SELECT * FROM grants WHERE id = $1").bind(id).fetch_optional(&self.pool).await?;
        row.as_ref().map(grant).transpose().map_err(db)
    }

    async fn revoke_grant(&self, id: &str, now: i64) -> Result<bool, StoreError> {
        let r = sqlx::query("UPDATE grants SET revoked_at = $2 WHERE id = $1 AND revoked_at IS NULL")
            .bind(id)
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
        .bind(&c.grant_id)
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
        Ok(Some((code(&row)?, used.is_some())))
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
        let Some(rec) = row.as_ref().map(code).transpose()? else {
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
        insert_refresh(&self.pool, t).await.map_err(db)
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
        let Some(old) = row.as_ref().map(refresh).transpose()? else {
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
        let Some(rec) = row.as_ref().map(refresh).transpose()? else { return Ok(Redemption::Unknown) };
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
        Ok(Some((refresh(&row)?, used.is_some())))
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

    async fn session_user(&self, session_hash: &str, now: i64) -> Result<Option<String>, StoreError> {
        let row = sqlx::query("SELECT username FROM sessions WHERE session_hash = $1 AND expires_at > $2")
            .bind(session_hash)
            .bind(now)
            .fetch_optional(&self.pool)
            .await?;
        row.map(|r| r.try_get::<String, _>("username")).transpose().map_err(db)
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

    async fn revoke(&self, kind: &str, value: &str, now: i64, expires_at: i64) -> Result<i64, StoreError> {
        let mut tx = self.pool.begin().await?;
        let row = sqlx::query("UPDATE counters SET value = value + 1 WHERE name = 'revocations' RETURNING value")
            .fetch_one(&mut *tx)
            .await?;
        let seq: i64 = row.try_get("value")?;
        sqlx::query("INSERT INTO revocations (seq, kind, value, revoked_at, expires_at) VALUES ($1, $2, $3, $4, $5)")
            .bind(seq)
            .bind(kind)
            .bind(value)
            .bind(now)
            .bind(expires_at)
            .execute(&mut *tx)
            .await?;
        self.notify_changes(&mut tx).await?;
        tx.commit().await?;
        Ok(seq)
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
        Some(tokio::spawn(change_feed(opts, wake, listening)))
    }

    async fn revocations_since(&self, seq: i64, now: i64) -> Result<Vec<RevocationRecord>, StoreError> {
        let rows = sqlx::query("SELECT * FROM revocations WHERE seq > $1 AND expires_at > $2 ORDER BY seq")
            .bind(seq)
            .bind(now)
            .fetch_all(&self.pool)
            .await?;
        rows.iter()
            .map(|r| -> Result<RevocationRecord, sqlx::Error> {
                Ok(RevocationRecord {
                    seq: r.try_get("seq")?,
                    kind: r.try_get("kind")?,
                    value: r.try_get("value")?,
                    revoked_at: r.try_get("revoked_at")?,
                    expires_at: r.try_get("expires_at")?,
                })
            })
            .collect::<Result<_, _>>()
            .map_err(db)
    }
}

/// Listens on [`CHANGES_CHANNEL`] and wakes the syncing task on every notification, and after every (re)connection,
/// since notifications sent while the connection was down are lost: the woken task then reads the log from where it
/// stopped, so nothing is missed. Reconnects with a backoff of up to 5 s while the server is away.
async fn change_feed(
    opts: sqlx::postgres::PgConnectOptions,
    wake: Arc<tokio::sync::Notify>,
    listening: Arc<std::sync::atomic::AtomicBool>,
) {
    use std::sync::atomic::Ordering::Relaxed;

    use sqlx::postgres::PgListener;
    let mut backoff = Duration::from_millis(100);
    loop {
        let listener = async {
            let pool = sqlx::postgres::PgPoolOptions::new()
                .max_connections(1)
                .acquire_timeout(PG_ACQUIRE_TIMEOUT)
                .connect_lazy_with(opts.clone());
            let mut l = PgListener::connect_with(&pool).await?;
            l.listen(CHANGES_CHANNEL).await?;
            Ok::<_, sqlx::Error>(l)
        }
        .await;
        let mut listener = match listener {
            Ok(l) => l,
            Err(e) => {
                tracing::warn!(error = %db(e), "cannot listen for other instances' changes; retrying");
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(Duration::from_secs(5));
                continue;
            }
        };
        tracing::debug!("listening for other instances' revocations and key rotations");
        listening.store(true, Relaxed);
        backoff = Duration::from_millis(100);
        // Whatever happened while not listening is read now.
        wake.notify_one();
        loop {
            match listener.try_recv().await {
                Ok(Some(_)) => wake.notify_one(),
                Ok(None) => {
                    // The connection was lost (and re-established by the listener): catch up.
                    tracing::warn!("lost the connection that listens for other instances' changes; catching up");
                    wake.notify_one();
                }
                Err(e) => {
                    listening.store(false, Relaxed);
                    tracing::warn!(error = %db(e), "listening for other instances' changes failed; reconnecting");
                    break;
                }
            }
        }
        tokio::time::sleep(backoff).await;
    }
}
