//! A fresh PostgreSQL database per test, on the server named by `TOKENGATE_TEST_POSTGRES` (a URL whose user may
//! create databases, e.g. `postgres://tokengate:tokengate@127.0.0.1:5432/postgres`), dropped when the test ends.
//!
//! Without that variable the PostgreSQL tests print `SKIPPED` and pass, unless `TOKENGATE_REQUIRE_POSTGRES=1` (set
//! by `.ci/run`), which makes a missing server a failure.

use sqlx::{Connection, Executor, PgConnection};

/// The variable naming the test server.
pub const SERVER_VAR: &str = "TOKENGATE_TEST_POSTGRES";

/// A database of its own on the test server.
pub struct TestDatabase {
    /// `postgres://.../tg_test_...`: the URL tokengate is given.
    pub url: String,
    /// Its name.
    pub name: String,
    server: String,
}

/// The test server's URL, or `None` after printing why the calling test is skipped (or panicking when a server is
/// required).
pub fn server(test: &str) -> Option<String> {
    match std::env::var(SERVER_VAR) {
        Ok(url) if !url.is_empty() => Some(url),
        _ => {
            if std::env::var("TOKENGATE_REQUIRE_POSTGRES").is_ok_and(|v| v == "1") {
                panic!("{test}: TOKENGATE_REQUIRE_POSTGRES=1 but {SERVER_VAR} is not set");
            }
            eprintln!("SKIPPED {test}: no PostgreSQL server configured (set {SERVER_VAR}=postgres://USER:PASSWORD@HOST/postgres)");
            None
        }
    }
}

fn with_database(server: &str, name: &str) -> String {
    let (base, query) = match server.split_once('?') {
        Some((b, q)) => (b, Some(q)),
        None => (server, None),
    };
    let authority_start = base.find("://").map(|i| i + 3).unwrap_or(0);
    let base = match base[authority_start..].find('/') {
        Some(slash) => &base[..authority_start + slash],
        None => base,
    };
    match query {
        Some(q) => format!("{base}/{name}?{q}"),
        None => format!("{base}/{name}"),
    }
}

impl TestDatabase {
    /// Creates a fresh, empty database, or returns `None` when no server is configured (see [`server`]).
    pub async fn create(test: &str) -> Option<TestDatabase> {
        let server = server(test)?;
        let name = format!("tg_test_{:016x}", rand::random::<u64>());
        let mut conn = PgConnection::connect(&server).await.unwrap_or_else(|e| panic!("{SERVER_VAR}: {e}"));
        conn.execute(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}"))).await.expect("create the test database");
        let _ = conn.close().await;
        Some(TestDatabase { url: with_database(&server, &name), name, server })
    }

    /// A plain connection to the database, for what the test checks behind tokengate's back.
    pub async fn connect(&self) -> PgConnection {
        PgConnection::connect(&self.url).await.expect("connect to the test database")
    }

    /// Ends every server connection to this database, as a server restart does from the clients' side.
    pub async fn terminate_connections(&self) -> u64 {
        let mut conn = PgConnection::connect(&self.server).await.expect("connect to the test server");
        let rows = sqlx::query(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid()",
        )
        .bind(&self.name)
        .fetch_all(&mut conn)
        .await
        .expect("terminate connections");
        rows.len() as u64
    }
}

impl Drop for TestDatabase {
    fn drop(&mut self) {
        let (server, name) = (self.server.clone(), self.name.clone());
        // Dropped inside a test's runtime or outside one: a thread of its own either way.
        let _ = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
            rt.block_on(async {
                if let Ok(mut conn) = PgConnection::connect(&server).await {
                    let _ =
                        conn.execute(sqlx::AssertSqlSafe(format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))).await;
                }
            });
        })
        .join();
    }
}
