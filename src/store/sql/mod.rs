//! [`Store`] over sqlx's `Any` driver with portable SQL (`$n` placeholders, BIGINT times and flags, TEXT data): the
//! pool (SQLite or PostgreSQL), locations with their passwords redacted, and database errors made readable. The
//! queries are in one file per job.

mod changes;
mod flows;
mod registry;
mod rows;

use std::path::Path;
use std::str::FromStr;
use std::time::Duration;

use sqlx::any::AnyPoolOptions;
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
pub(super) const PG_ACQUIRE_TIMEOUT: Duration = Duration::from_secs(5);

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
