//! The store, on SQLite and on PostgreSQL alike: every scenario runs once per backend (`::sqlite`, `::postgres`),
//! with several handles on one database standing for several instances (each handle has its own pool, as each
//! process has). The PostgreSQL runs need `TOKENGATE_TEST_POSTGRES` (see `support::postgres`).

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokengate::store::{
    AppRecord, AppType, Backend, CodeRecord, FlowStore, GrantRecord, Redemption, RefreshRecord, RevocationKind,
    SqlStore, Store, StoreError, UserRecord,
};

use crate::support::postgres::TestDatabase;

/// One database, on either backend.
enum Db {
    Sqlite(tempfile::TempDir),
    Postgres(TestDatabase),
}

impl Db {
    fn sqlite() -> Db {
        Db::Sqlite(tempfile::tempdir().unwrap())
    }

    async fn postgres(test: &str) -> Option<Db> {
        TestDatabase::create(test).await.map(Db::Postgres)
    }

    fn location(&self) -> String {
        match self {
            Db::Sqlite(dir) => dir.path().join("tokengate.db").display().to_string(),
            Db::Postgres(db) => db.url.clone(),
        }
    }

    /// A new handle on the database: what one more instance would open.
    async fn open(&self) -> Arc<SqlStore> {
        Arc::new(SqlStore::open(&self.location()).await.unwrap_or_else(|e| panic!("open {}: {e}", self.location())))
    }

    /// Three handles: three instances.
    async fn instances(&self) -> Vec<Arc<SqlStore>> {
        let mut v = Vec::new();
        for _ in 0..3 {
            v.push(self.open().await);
        }
        v
    }
}

/// Runs `$scenario(&Db)` on SQLite and, when a server is configured, on PostgreSQL.
macro_rules! on_both_backends {
    ($($scenario:ident),* $(,)?) => {$(
        mod $scenario {
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn sqlite() {
                super::$scenario(&super::Db::sqlite()).await;
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn postgres() {
                if let Some(db) = super::Db::postgres(concat!("store::", stringify!($scenario), "::postgres")).await {
                    super::$scenario(&db).await;
                }
            }
        }
    )*};
}

on_both_backends!(
    reopening_runs_no_migration_twice_and_keeps_every_record,
    the_app_limit_holds_under_concurrent_creates_from_several_instances,
    a_code_is_redeemed_once_when_instances_race_for_it,
    a_refresh_token_is_rotated_once_when_instances_race_for_it,
    a_retry_within_the_grace_replaces_the_unused_successor_and_nothing_else,
    revocation_numbers_are_gapless_and_a_reader_racing_the_writers_misses_none,
    an_authorization_request_is_answered_once_by_any_instance,
    an_assertion_id_is_accepted_once_across_instances,
    a_signing_key_added_by_one_instance_is_read_by_the_others,
    expired_records_are_swept_and_live_ones_kept,
);

const NOW: i64 = 1_900_000_000;

fn user(name: &str) -> UserRecord {
    UserRecord {
        id: format!("u-{name}"),
        username: name.into(),
        password_hash: "$argon2id$test".into(),
        is_admin: false,
        disabled: false,
        created_at: NOW,
        updated_at: NOW,
    }
}

fn app(id: &str) -> AppRecord {
    AppRecord {
        client_id: id.into(),
        app_type: AppType::Web,
        name: format!("app {id}"),
        description: String::new(),
        redirect_urls: vec!["https://client.example/cb".into()],
        refresh_token_rotation: true,
        refresh_token_absolute_expiry_secs: None,
        refresh_token_inactivity_expiry_secs: None,
        logo_url: None,
        app_description_url: None,
        developer_name: None,
        developer_email: None,
        privacy_policy_url: None,
        jwt_subjects: Vec::new(),
        introspect_any: false,
        scopes: None,
        created_at: NOW,
        updated_at: NOW,
    }
}

fn grant(id: &str, client_id: &str) -> GrantRecord {
    GrantRecord {
        id: id.into(),
        client_id: client_id.into(),
        username: "alice".into(),
        scope: "api:read offline_access".into(),
        created_at: NOW,
        expires_at: None,
        revoked_at: None,
    }
}

fn refresh_token(hash: &str, grant_id: &str, parent: Option<&str>, at: i64) -> RefreshRecord {
    RefreshRecord {
        token_hash: hash.into(),
        grant_id: grant_id.into(),
        client_id: "c1".into(),
        scope: "api:read offline_access".into(),
        created_at: at,
        last_used_at: at,
        parent_hash: parent.map(str::to_string),
    }
}

/// An app `c1` with a grant `g1`.
async fn app_with_grant(store: &SqlStore) {
    store.create_app(&app("c1"), None, 10).await.unwrap();
    store.create_grant(&grant("g1", "c1")).await.unwrap();
}

async fn reopening_runs_no_migration_twice_and_keeps_every_record(db: &Db) {
    let first = db.open().await;
    first.create_user(&user("alice")).await.unwrap();
    app_with_grant(&first).await;
    drop(first);
    let again = db.open().await;
    assert_eq!(again.user_by_name("alice").await.unwrap().map(|u| u.username).as_deref(), Some("alice"));
    assert_eq!(again.count_apps().await.unwrap(), 1);
    assert!(again.grant(&"g1".into()).await.unwrap().is_some());
    // The same name again is refused by the unique constraint, on both backends alike.
    assert!(matches!(again.create_user(&user("alice")).await, Err(StoreError::Conflict(_))));
    let expected = match db {
        Db::Sqlite(_) => Backend::Sqlite,
        Db::Postgres(_) => Backend::Postgres { notify: true },
    };
    assert_eq!(again.backend(), expected);
}

async fn the_app_limit_holds_under_concurrent_creates_from_several_instances(db: &Db) {
    let instances = db.instances().await;
    let mut tasks = Vec::new();
    for i in 0..30 {
        let store = instances[i % 3].clone();
        tasks.push(tokio::spawn(async move { store.create_app(&app(&format!("c{i}")), None, 10).await }));
    }
    let (mut created, mut refused) = (0, 0);
    for t in tasks {
        match t.await.unwrap() {
            Ok(()) => created += 1,
            Err(StoreError::LimitReached(10)) => refused += 1,
            Err(e) => panic!("unexpected: {e}"),
        }
    }
    assert_eq!((created, refused), (10, 20));
    assert_eq!(instances[1].count_apps().await.unwrap(), 10);
    assert_eq!(instances[2].list_apps().await.unwrap().len(), 10);
    // A deletion frees exactly one place, seen by every instance.
    let one = instances[0].list_apps().await.unwrap()[0].client_id.clone();
    assert!(instances[0].delete_app(&one).await.unwrap());
    instances[1].create_app(&app("after-delete"), None, 10).await.unwrap();
    assert!(matches!(instances[2].create_app(&app("one-too-many"), None, 10).await, Err(StoreError::LimitReached(10))));
}

async fn a_code_is_redeemed_once_when_instances_race_for_it(db: &Db) {
    let instances = db.instances().await;
    app_with_grant(&instances[0]).await;
    let code = CodeRecord {
        code_hash: "code-hash".into(),
        client_id: "c1".into(),
        grant_id: "g2".into(),
        username: "alice".into(),
        redirect_uri: "https://client.example/cb".into(),
        scope: "api:read".into(),
        code_challenge: None,
        created_at: NOW,
        expires_at: NOW + 120,
    };
    instances[0].create_code(&code).await.unwrap();
    let mut tasks = Vec::new();
    for i in 0..12 {
        let store = instances[i % 3].clone();
        tasks.push(tokio::spawn(async move {
            let outcome = store.redeem_code("code-hash", &grant("g2", "c1"), NOW + 1).await.unwrap();
            // Whoever lost finds the winner's grant already stored (it is what a replay revokes).
            let stored = store.grant(&"g2".into()).await.unwrap().is_some();
            (outcome, stored)
        }));
    }
    let mut fresh = 0;
    for t in tasks {
        match t.await.unwrap() {
            (Redemption::Fresh(c), true) => {
                assert_eq!(c, code);
                fresh += 1
            }
            (Redemption::Replayed(c), true) => assert_eq!(c.grant_id.as_str(), "g2"),
            other => panic!("unexpected {other:?}"),
        }
    }
    assert_eq!(fresh, 1, "exactly one of 12 racing redemptions may get the code");
    assert_eq!(instances[1].code("code-hash").await.unwrap(), Some((code, true)));
}

async fn a_refresh_token_is_rotated_once_when_instances_race_for_it(db: &Db) {
    let instances = db.instances().await;
    app_with_grant(&instances[0]).await;
    instances[0].create_refresh(&refresh_token("r0", "g1", None, NOW)).await.unwrap();
    let mut tasks = Vec::new();
    for i in 0..12 {
        let store = instances[i % 3].clone();
        tasks.push(tokio::spawn(async move {
            let successor = refresh_token(&format!("r1-{i}"), "g1", Some("r0"), NOW + 1);
            (i, store.rotate_refresh("r0", &successor, NOW + 1, 0).await.unwrap())
        }));
    }
    let mut winners = Vec::new();
    for t in tasks {
        match t.await.unwrap() {
            (i, Redemption::Fresh(_)) => winners.push(i),
            (_, Redemption::Replayed(r)) => assert_eq!(r.token_hash, "r0"),
            (_, other) => panic!("unexpected {other:?}"),
        }
    }
    assert_eq!(winners.len(), 1, "exactly one racing rotation wins");
    // Only the winner's successor was stored: each loser's transaction left nothing behind.
    for i in 0..12 {
        let stored = instances[1].refresh(&format!("r1-{i}")).await.unwrap();
        assert_eq!(stored.is_some(), winners.contains(&i), "successor r1-{i}");
    }
    let (old, used) = instances[2].refresh("r0").await.unwrap().unwrap();
    assert!(used && old.last_used_at == NOW + 1);
}

async fn a_retry_within_the_grace_replaces_the_unused_successor_and_nothing_else(db: &Db) {
    let instances = db.instances().await;
    let (a, b) = (&instances[0], &instances[1]);
    app_with_grant(a).await;
    a.create_refresh(&refresh_token("n0", "g1", None, NOW)).await.unwrap();
    // n0 -> n1 on one instance; the answer is lost, the client retries n0 on another within the grace.
    assert!(matches!(
        a.rotate_refresh("n0", &refresh_token("n1", "g1", Some("n0"), NOW), NOW, 10).await.unwrap(),
        Redemption::Fresh(_)
    ));
    let retried = b.rotate_refresh("n0", &refresh_token("n1b", "g1", Some("n0"), NOW + 3), NOW + 3, 10).await.unwrap();
    assert!(matches!(retried, Redemption::Retried(_)), "{retried:?}");
    // The lost n1 is spent (presenting it is reuse); n1b is the live one.
    assert!(b.refresh("n1").await.unwrap().unwrap().1, "the superseded successor is spent");
    assert!(matches!(
        a.rotate_refresh("n1", &refresh_token("x", "g1", Some("n1"), NOW + 4), NOW + 4, 10).await.unwrap(),
        Redemption::Replayed(_)
    ));
    assert!(matches!(
        a.rotate_refresh("n1b", &refresh_token("n2", "g1", Some("n1b"), NOW + 5), NOW + 5, 10).await.unwrap(),
        Redemption::Fresh(_)
    ));
    // n0 again: its successor n1b has been used since, so this is reuse, grace or not.
    assert!(matches!(
        b.rotate_refresh("n0", &refresh_token("y", "g1", Some("n0"), NOW + 6), NOW + 6, 10).await.unwrap(),
        Redemption::Replayed(_)
    ));
    // n1b again after the grace: reuse. And with no grace at all, any second use is reuse.
    assert!(matches!(
        b.rotate_refresh("n1b", &refresh_token("z", "g1", Some("n1b"), NOW + 30), NOW + 30, 10).await.unwrap(),
        Redemption::Replayed(_)
    ));
    assert!(matches!(
        b.rotate_refresh("n2", &refresh_token("n3", "g1", Some("n2"), NOW + 31), NOW + 31, 0).await.unwrap(),
        Redemption::Fresh(_)
    ));
    assert!(matches!(
        a.rotate_refresh("n2", &refresh_token("w", "g1", Some("n2"), NOW + 31), NOW + 31, 0).await.unwrap(),
        Redemption::Replayed(_)
    ));
    for refused in ["x", "y", "z", "w"] {
        assert!(a.refresh(refused).await.unwrap().is_none(), "{refused} must not have been stored");
    }
}

async fn revocation_numbers_are_gapless_and_a_reader_racing_the_writers_misses_none(db: &Db) {
    let instances = db.instances().await;
    let reader = db.open().await;
    let done = Arc::new(std::sync::atomic::AtomicBool::new(false));
    // A reader polling as an instance does, while three instances write.
    let polling = {
        let (reader, done) = (reader.clone(), done.clone());
        tokio::spawn(async move {
            let (mut cursor, mut seen) = (0, Vec::new());
            loop {
                let finished = done.load(std::sync::atomic::Ordering::Acquire);
                for r in reader.revocations_since(cursor, NOW).await.unwrap() {
                    cursor = r.seq;
                    seen.push(r.value);
                }
                if finished {
                    return seen;
                }
                tokio::task::yield_now().await;
            }
        })
    };
    let mut tasks = Vec::new();
    for i in 0..45 {
        let store = instances[i % 3].clone();
        tasks.push(tokio::spawn(async move {
            store.revoke(RevocationKind::Jti, &format!("t{i}"), NOW, NOW + 3600).await.unwrap()
        }));
    }
    let mut seqs = BTreeSet::new();
    for t in tasks {
        seqs.insert(t.await.unwrap());
    }
    done.store(true, std::sync::atomic::Ordering::Release);
    assert_eq!(seqs, (1..=45).collect::<BTreeSet<i64>>(), "sequence numbers are 1..=45, each once");
    let seen = polling.await.unwrap();
    let distinct: BTreeSet<_> = seen.iter().cloned().collect();
    assert_eq!((seen.len(), distinct.len()), (45, 45), "the racing reader saw every revocation exactly once");
    assert_eq!(
        reader.revocations_since(40, NOW).await.unwrap().iter().map(|r| r.seq).collect::<Vec<_>>(),
        vec![41, 42, 43, 44, 45]
    );
    // Expired entries no longer matter.
    assert!(reader.revocations_since(0, NOW + 3600).await.unwrap().is_empty());
}

async fn an_authorization_request_is_answered_once_by_any_instance(db: &Db) {
    let instances = db.instances().await;
    let mut tasks = Vec::new();
    for i in 0..6 {
        let store = instances[i % 3].clone();
        tasks.push(tokio::spawn(async move { store.answer_authorization_request("rid", NOW + 600).await.unwrap() }));
    }
    let mut answered = 0;
    for t in tasks {
        answered += t.await.unwrap() as usize;
    }
    assert_eq!(answered, 1);
    assert!(!instances[1].answer_authorization_request("rid", NOW + 600).await.unwrap());
}

async fn an_assertion_id_is_accepted_once_across_instances(db: &Db) {
    let instances = db.instances().await;
    let mut tasks = Vec::new();
    for i in 0..9 {
        let store = instances[i % 3].clone();
        tasks.push(tokio::spawn(async move { store.record_assertion("c1", "jti-1", NOW + 300, NOW).await.unwrap() }));
    }
    let mut accepted = 0;
    for t in tasks {
        accepted += t.await.unwrap() as usize;
    }
    assert_eq!(accepted, 1);
    // Once expired, the id may come back.
    assert!(instances[1].record_assertion("c1", "jti-1", NOW + 900, NOW + 301).await.unwrap());
}

async fn expired_records_are_swept_and_live_ones_kept(db: &Db) {
    let store = db.open().await;
    app_with_grant(&store).await;
    let code = |hash: &str, expires_at: i64| CodeRecord {
        code_hash: hash.into(),
        client_id: "c1".into(),
        grant_id: "g9".into(),
        username: "alice".into(),
        redirect_uri: "https://client.example/cb".into(),
        scope: "api:read".into(),
        code_challenge: None,
        created_at: expires_at - 120,
        expires_at,
    };
    store.create_code(&code("old-code", NOW - 86_401)).await.unwrap();
    store.create_code(&code("recent-code", NOW - 10)).await.unwrap();
    store.create_session("old-session", "alice", NOW - 100, NOW - 1).await.unwrap();
    store.create_session("live-session", "alice", NOW - 100, NOW + 100).await.unwrap();
    assert!(store.answer_authorization_request("live-request", NOW + 590).await.unwrap());
    assert!(store.answer_authorization_request("old-request", NOW - 100).await.unwrap());
    assert!(store.record_assertion("c1", "old-jti", NOW - 1, NOW - 300).await.unwrap());
    assert!(store.record_assertion("c1", "live-jti", NOW + 60, NOW).await.unwrap());
    store.revoke(RevocationKind::Jti, "old", NOW - 100, NOW - 1).await.unwrap();
    store.revoke(RevocationKind::Jti, "live", NOW - 100, NOW + 100).await.unwrap();
    store.create_refresh(&refresh_token("spent", "g1", None, NOW - 1000)).await.unwrap();

    assert_eq!(store.sweep(NOW).await.unwrap(), 5);
    assert!(store.code("old-code").await.unwrap().is_none());
    assert!(store.code("recent-code").await.unwrap().is_some());
    assert_eq!(store.session_user("live-session", NOW).await.unwrap().map(|(u, _)| u).as_deref(), Some("alice"));
    assert!(!store.answer_authorization_request("live-request", NOW + 590).await.unwrap(), "still answered");
    assert!(!store.record_assertion("c1", "live-jti", NOW + 60, NOW).await.unwrap(), "a live assertion id stays");
    let live: Vec<_> = store.revocations_since(0, NOW - 10).await.unwrap().into_iter().map(|r| r.value).collect();
    assert_eq!(live, ["live"]);
    assert!(store.refresh("spent").await.unwrap().is_some(), "refresh tokens stay with their grant");
    assert_eq!(store.sweep(NOW).await.unwrap(), 0);
}

async fn a_signing_key_added_by_one_instance_is_read_by_the_others(db: &Db) {
    let instances = db.instances().await;
    let key = |kid: &str, at: i64| tokengate::store::SigningKeyRecord {
        kid: kid.into(),
        alg: "ES256".into(),
        private_pem: tokengate::secret::Secret::new("-----BEGIN PRIVATE KEY-----".to_string()),
        public_jwk: "{}".into(),
        created_at: at,
        retired_at: None,
    };
    instances[0].add_signing_key(&key("k1", NOW), NOW).await.unwrap();
    instances[1].add_signing_key(&key("k2", NOW + 10), NOW + 10).await.unwrap();
    let keys = instances[2].signing_keys().await.unwrap();
    let summary: Vec<_> = keys.iter().map(|k| (k.kid.as_str(), k.retired_at)).collect();
    assert_eq!(summary, vec![("k2", None), ("k1", Some(NOW + 10))]);
}

/// PostgreSQL only: another instance's revocation wakes this one through `LISTEN`/`NOTIFY`, and after the server
/// drops every connection (as a restart does) the pool and the listener come back and the wake-up still comes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_notifies_other_instances_and_recovers_when_the_server_drops_every_connection() {
    let Some(db) = TestDatabase::create("store::postgres_notifies_other_instances").await else { return };
    let (listening, writing) = (SqlStore::open(&db.url).await.unwrap(), SqlStore::open(&db.url).await.unwrap());
    let wake = Arc::new(tokio::sync::Notify::new());
    let connected = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let feed = listening.spawn_change_feed(wake.clone(), connected.clone()).expect("PostgreSQL has a change feed");
    // The first wake-up comes when it starts listening (a catch-up read).
    tokio::time::timeout(Duration::from_secs(10), wake.notified()).await.expect("listening");
    assert!(connected.load(std::sync::atomic::Ordering::Relaxed));

    let started = Instant::now();
    writing.revoke(RevocationKind::Jti, "a", NOW, NOW + 60).await.unwrap();
    tokio::time::timeout(Duration::from_secs(5), wake.notified()).await.expect("a notification for the revocation");
    eprintln!("notified {:?} after the revocation's commit", started.elapsed());
    // A signing key rotation is announced too.
    let k = tokengate::store::SigningKeyRecord {
        kid: "k".into(),
        alg: "ES256".into(),
        private_pem: tokengate::secret::Secret::new(String::new()),
        public_jwk: "{}".into(),
        created_at: NOW,
        retired_at: None,
    };
    writing.add_signing_key(&k, NOW).await.unwrap();
    tokio::time::timeout(Duration::from_secs(5), wake.notified()).await.expect("a notification for the new key");

    // The server drops every connection to this database: pooled ones and the listener's.
    assert!(db.terminate_connections().await >= 2, "the pools and the listener were connected");
    // Pools reconnect: the next statements on both handles work.
    writing.revoke(RevocationKind::Jti, "b", NOW, NOW + 60).await.expect("the writer's pool reconnects");
    assert_eq!(listening.revocations_since(0, NOW).await.expect("the reader's pool reconnects").len(), 2);
    // The listener comes back and wakes (a catch-up, or the notification itself): nothing is missed.
    tokio::time::timeout(Duration::from_secs(10), wake.notified()).await.expect("a wake-up after the reconnect");
    writing.revoke(RevocationKind::Jti, "c", NOW, NOW + 60).await.unwrap();
    tokio::time::timeout(Duration::from_secs(10), wake.notified()).await.expect("notifications flow again");
    assert!(connected.load(std::sync::atomic::Ordering::Relaxed));
    feed.abort();
}

#[tokio::test]
async fn a_database_url_password_never_appears_in_an_error() {
    // Nothing listens on port 1: the connection fails, and the error names the server without the password.
    let err = SqlStore::open("postgres://tokengate:s3cret-pw@127.0.0.1:1/tokengate").await.unwrap_err().to_string();
    assert!(!err.contains("s3cret-pw"), "{err}");
    assert!(err.contains("cannot reach the database server") || err.contains("timed out"), "{err}");
    assert_eq!(
        tokengate::store::redact_location(
            "postgres://tokengate:s3cret-pw@db.internal:5432/tg?sslmode=require&password=x"
        ),
        "postgres://tokengate:***@db.internal:5432/tg?sslmode=require&password=***"
    );
    assert_eq!(tokengate::store::redact_location("data/tokengate.db"), "data/tokengate.db");
}

#[test]
fn check_config_names_an_unsupported_database_and_a_bad_postgres_url() {
    for (database, expected) in [
        ("mysql://u:p@h/db", "`mysql://` databases are not supported"),
        ("postgres://u:hunter2@h:notaport/db", "is not a valid PostgreSQL URL"),
    ] {
        let toml = format!(
            "[upstream]\nurl = \"http://127.0.0.1:3000\"\n[authorization_server]\nenabled = true\nissuer = \"https://tg.test\"\n\
             database = \"{database}\"\n[[routes]]\npath = \"/\"\nauth = \"none\"\n"
        );
        let err = tokengate::Config::from_toml(&toml, "t.toml").unwrap_err().to_string();
        assert!(err.contains("authorization_server.database") && err.contains(expected), "{err}");
        assert!(!err.contains("hunter2"), "{err}");
    }
}
