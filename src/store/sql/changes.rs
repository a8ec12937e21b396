//! The change feed: the revocation log (appended, then read by every instance from its last position) and, on
//! PostgreSQL, the `LISTEN` task that wakes the readers when another instance wrote.

use std::sync::Arc;
use std::time::Duration;

use sqlx::any::AnyRow;
use sqlx::{FromRow, Row};

use super::{db, SqlStore, CHANGES_CHANNEL, PG_ACQUIRE_TIMEOUT};
use crate::store::{RevocationKind, RevocationRecord, StoreError};

/// Appends one entry to the revocation log and announces it, in one transaction.
pub(super) async fn append(
    store: &SqlStore,
    kind: RevocationKind,
    value: &str,
    now: i64,
    expires_at: i64,
) -> Result<i64, StoreError> {
    let mut tx = store.pool.begin().await?;
    let row = sqlx::query("UPDATE counters SET value = value + 1 WHERE name = 'revocations' RETURNING value")
        .fetch_one(&mut *tx)
        .await?;
    let seq: i64 = row.try_get("value")?;
    sqlx::query("INSERT INTO revocations (seq, kind, value, revoked_at, expires_at) VALUES ($1, $2, $3, $4, $5)")
        .bind(seq)
        .bind(kind.as_str())
        .bind(value)
        .bind(now)
        .bind(expires_at)
        .execute(&mut *tx)
        .await?;
    store.notify_changes(&mut tx).await?;
    tx.commit().await?;
    Ok(seq)
}

/// Log entries after `seq` that still matter at `now`, in order.
pub(super) async fn since(store: &SqlStore, seq: i64, now: i64) -> Result<Vec<RevocationRecord>, StoreError> {
    let rows = sqlx::query("SELECT * FROM revocations WHERE seq > $1 AND expires_at > $2 ORDER BY seq")
        .bind(seq)
        .bind(now)
        .fetch_all(&store.pool)
        .await?;
    Ok(rows.iter().map(RevocationRecord::from_row).collect::<Result<_, _>>()?)
}

impl FromRow<'_, AnyRow> for RevocationRecord {
    fn from_row(r: &AnyRow) -> Result<Self, sqlx::Error> {
        Ok(RevocationRecord {
            seq: r.try_get("seq")?,
            kind: RevocationKind::parse(&r.try_get::<String, _>("kind")?),
            value: r.try_get("value")?,
            revoked_at: r.try_get("revoked_at")?,
            expires_at: r.try_get("expires_at")?,
        })
    }
}

/// Listens on [`CHANGES_CHANNEL`] and wakes the syncing task on every notification, and after every (re)connection,
/// since notifications sent while the connection was down are lost: the woken task then reads the log from where it
/// stopped, so nothing is missed. Reconnects with a backoff of up to 5 s while the server is away.
pub(super) async fn listen(
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
