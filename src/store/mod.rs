//! Storage: the persisted shapes of users, apps and their credentials, behind the [`Store`] trait.
//!
//! [`SqlStore`] implements it with portable SQL over sqlx's `Any` driver: SQLite (one file, WAL, `synchronous=FULL`,
//! so an acknowledged write survives `kill -9` and power loss) or PostgreSQL (several instances on one database,
//! other instances' revocations and key rotations announced by `LISTEN`/`NOTIFY`), with the same migrations.
//! Nothing here knows the rules of the registry: they live in [`crate::registry`].

mod sql;

use async_trait::async_trait;
use serde::{Deserialize, Serialize};

pub use sql::{is_postgres, redact_location, Backend, SqlStore, CHANGES_CHANNEL};

/// The three kinds of OAuth2 application, as in the product.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum AppType {
    /// Machine to machine: client secret and public keys (JWT bearer).
    Machine,
    /// Web application: authorization code with a client secret.
    Web,
    /// Single-page web application: authorization code with PKCE, no secret.
    Spa,
}

impl AppType {
    /// The stored and API name.
    pub fn as_str(self) -> &'static str {
        match self {
            AppType::Machine => "machine",
            AppType::Web => "web",
            AppType::Spa => "spa",
        }
    }

    /// Parses the stored name.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "machine" => Some(AppType::Machine),
            "web" => Some(AppType::Web),
            "spa" => Some(AppType::Spa),
            _ => None,
        }
    }
}

/// A user: a person who logs in at `/authorize`, and, with `is_admin`, manages the registry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserRecord {
    /// Stable id.
    pub id: String,
    /// Unique login name.
    pub username: String,
    /// Argon2id PHC string.
    pub password_hash: String,
    /// May use the admin API.
    pub is_admin: bool,
    /// May not log in or use tokens.
    pub disabled: bool,
    /// Seconds since the epoch.
    pub created_at: i64,
    /// Seconds since the epoch.
    pub updated_at: i64,
}

/// An admin API token (stored as its SHA-256).
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct AdminTokenRecord {
    /// Stable id.
    pub id: String,
    /// Owner.
    pub user_id: String,
    /// Hex SHA-256 of the token.
    pub token_hash: String,
    /// Free text.
    pub note: String,
    /// Seconds since the epoch.
    pub created_at: i64,
    /// Seconds since the epoch; the token is refused from then on.
    pub expires_at: i64,
    /// Seconds since the epoch, when it was last used.
    pub last_used_at: Option<i64>,
}

/// A signed-in administrator's console session (`Debug` leaves the CSRF token out).
#[derive(Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct ConsoleSessionRecord {
    /// Hex SHA-256 of the session id.
    pub session_hash: String,
    /// The user's id.
    pub user_id: String,
    /// The user's name.
    pub username: String,
    /// The CSRF token of the session's forms.
    pub csrf: String,
    /// Seconds since the epoch.
    pub created_at: i64,
    /// Last request.
    pub last_seen_at: i64,
}

impl std::fmt::Debug for ConsoleSessionRecord {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ConsoleSessionRecord")
            .field("username", &self.username)
            .field("created_at", &self.created_at)
            .field("last_seen_at", &self.last_seen_at)
            .finish_non_exhaustive()
    }
}

/// An OAuth2 application.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AppRecord {
    /// Generated, unguessable, URL-safe.
    pub client_id: String,
    /// Machine, web or single-page.
    pub app_type: AppType,
    /// Required.
    pub name: String,
    /// Free text.
    pub description: String,
    /// Exact redirect URIs (web and spa).
    pub redirect_urls: Vec<String>,
    /// Issue a new refresh token at each use.
    pub refresh_token_rotation: bool,
    /// Refresh tokens die this long after the grant; `None` = never.
    pub refresh_token_absolute_expiry_secs: Option<i64>,
    /// Refresh tokens die after this long unused; `None` = never.
    pub refresh_token_inactivity_expiry_secs: Option<i64>,
    /// Logo as a URL.
    pub logo_url: Option<String>,
    /// Web apps.
    pub app_description_url: Option<String>,
    /// Single-page apps.
    pub developer_name: Option<String>,
    /// Single-page apps.
    pub developer_email: Option<String>,
    /// Single-page apps.
    pub privacy_policy_url: Option<String>,
    /// Machine apps: the users a JWT bearer assertion may name as `sub` (none by default).
    pub jwt_subjects: Vec<String>,
    /// Machine apps: a resource server that may introspect any token of this server.
    pub introspect_any: bool,
    /// Machine apps: the scopes the app may be granted; `None` means the server's default scopes.
    pub scopes: Option<Vec<String>>,
    /// Seconds since the epoch.
    pub created_at: i64,
    /// Seconds since the epoch.
    pub updated_at: i64,
}

/// A client secret, stored as its SHA-256 only.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct SecretRecord {
    /// Stable id, shown in lists.
    pub id: String,
    /// Owner app.
    pub client_id: String,
    /// Hex SHA-256 of the secret.
    pub secret_hash: String,
    /// At most 64 characters.
    pub note: String,
    /// Seconds since the epoch.
    pub created_at: i64,
    /// Last successful use.
    pub last_used_at: Option<i64>,
}

/// A public key registered on a machine app.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct KeyRecord {
    /// Stable id, also used as the key's `kid`.
    pub id: String,
    /// Owner app.
    pub client_id: String,
    /// `RSA`, `EC` or `OKP`.
    pub family: String,
    /// `pem` or `jwk`.
    pub format: String,
    /// The PEM text or JWK JSON, public only.
    pub material: String,
    /// Free text.
    pub note: String,
    /// Seconds since the epoch.
    pub created_at: i64,
}

/// A storage failure. Database errors carry a message fit for an operator (read-only file, disk full, locked...).
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// A unique value already exists.
    #[error("{0} already exists")]
    Conflict(&'static str),
    /// The app limit is reached.
    #[error("the limit of {0} apps is reached")]
    LimitReached(i64),
    /// The database failed.
    #[error("database: {0}")]
    Database(String),
}

/// Everything tokengate persists.
#[async_trait]
pub trait Store: FlowStore + Send + Sync + 'static {
    /// Creates a user; `Conflict` when the name is taken.
    async fn create_user(&self, user: &UserRecord) -> Result<(), StoreError>;
    /// Finds a user by login name.
    async fn user_by_name(&self, username: &str) -> Result<Option<UserRecord>, StoreError>;
    /// Finds a user by id.
    async fn user_by_id(&self, id: &str) -> Result<Option<UserRecord>, StoreError>;
    /// Every user, by name.
    async fn list_users(&self) -> Result<Vec<UserRecord>, StoreError>;
    /// Saves a user's fields (by id). Returns false when there is no such user.
    async fn update_user(&self, user: &UserRecord) -> Result<bool, StoreError>;
    /// Enabled admins.
    async fn count_admins(&self) -> Result<i64, StoreError>;

    /// Stores an admin API token.
    async fn create_admin_token(&self, token: &AdminTokenRecord) -> Result<(), StoreError>;
    /// The user owning an admin token that has not expired by `now`, recording its use.
    async fn admin_token_user(&self, token_hash: &str, now: i64) -> Result<Option<UserRecord>, StoreError>;
    /// Every admin token, oldest first.
    async fn admin_tokens(&self) -> Result<Vec<AdminTokenRecord>, StoreError>;
    /// Deletes an admin token by id; false when there is none.
    async fn delete_admin_token(&self, id: &str) -> Result<bool, StoreError>;
    /// Ends what a user holds, in one transaction: revokes every grant of theirs, deletes their unredeemed codes and
    /// ends their authorization-server and console sessions. Returns how many grants were revoked.
    async fn end_user_access(&self, username: &str, now: i64) -> Result<u64, StoreError>;

    /// Creates an app (with its first secret) unless `max_apps` apps exist: checked and written in one transaction.
    async fn create_app(&self, app: &AppRecord, secret: Option<&SecretRecord>, max_apps: i64)
        -> Result<(), StoreError>;
    /// One app.
    async fn app(&self, client_id: &str) -> Result<Option<AppRecord>, StoreError>;
    /// Every app, oldest first.
    async fn list_apps(&self) -> Result<Vec<AppRecord>, StoreError>;
    /// How many apps exist.
    async fn count_apps(&self) -> Result<i64, StoreError>;
    /// Saves an app's fields. Returns false when there is no such app.
    async fn update_app(&self, app: &AppRecord) -> Result<bool, StoreError>;
    /// Deletes an app and everything it holds. Returns false when there was no such app.
    async fn delete_app(&self, client_id: &str) -> Result<bool, StoreError>;

    /// Adds a secret. Returns false when the app does not exist.
    async fn add_secret(&self, secret: &SecretRecord) -> Result<bool, StoreError>;
    /// Deletes a secret. Returns false when there was no such secret on that app.
    async fn delete_secret(&self, client_id: &str, id: &str) -> Result<bool, StoreError>;
    /// An app's secrets, oldest first.
    async fn secrets(&self, client_id: &str) -> Result<Vec<SecretRecord>, StoreError>;
    /// Records a secret's use.
    async fn touch_secret(&self, id: &str, now: i64) -> Result<(), StoreError>;

    /// Adds a public key. Returns false when the app does not exist.
    async fn add_key(&self, key: &KeyRecord) -> Result<bool, StoreError>;
    /// Deletes a key. Returns false when there was no such key on that app.
    async fn delete_key(&self, client_id: &str, id: &str) -> Result<bool, StoreError>;
    /// An app's public keys, oldest first.
    async fn keys(&self, client_id: &str) -> Result<Vec<KeyRecord>, StoreError>;

    /// Stores a console session, and forgets the expired ones: unused since `idle_before`, or begun before
    /// `started_before`.
    async fn create_console_session(
        &self,
        session: &ConsoleSessionRecord,
        idle_before: i64,
        started_before: i64,
    ) -> Result<(), StoreError>;
    /// A live console session (used after `idle_before`, begun after `started_before`), marked as used at `now`.
    async fn console_session(
        &self,
        session_hash: &str,
        now: i64,
        idle_before: i64,
        started_before: i64,
    ) -> Result<Option<ConsoleSessionRecord>, StoreError>;
    /// Ends a console session.
    async fn end_console_session(&self, session_hash: &str) -> Result<(), StoreError>;
    /// Ends every console session of `username` begun at or before `until`.
    async fn end_console_sessions_of(&self, username: &str, until: i64) -> Result<(), StoreError>;
    /// Records that the form with one-time `token` was sent in a session; false when it was sent before.
    async fn console_form_sent(&self, session_hash: &str, token: &str) -> Result<bool, StoreError>;

    /// Sets an uploaded logo. Returns false when the app does not exist.
    async fn set_logo(&self, client_id: &str, content_type: &str, data: &[u8], now: i64) -> Result<bool, StoreError>;
    /// An uploaded logo: content type and bytes.
    async fn logo(&self, client_id: &str) -> Result<Option<(String, Vec<u8>)>, StoreError>;
}

/// One of the authorization server's signing keys.
#[derive(Clone, sqlx::FromRow)]
pub struct SigningKeyRecord {
    /// Key id, published in the JWKS.
    pub kid: String,
    /// ES256, RS256 or EdDSA.
    pub alg: String,
    /// PKCS#8 PEM of the private key.
    #[sqlx(try_from = "String")]
    pub private_pem: crate::secret::Secret,
    /// The public JWK (JSON).
    pub public_jwk: String,
    /// Seconds since the epoch.
    pub created_at: i64,
    /// When a newer key replaced it; it still verifies until the tokens it signed expire.
    pub retired_at: Option<i64>,
}

impl std::fmt::Debug for SigningKeyRecord {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SigningKeyRecord").field("kid", &self.kid).field("alg", &self.alg).finish_non_exhaustive()
    }
}

/// The id of a grant: the prefix of its access tokens' `jti`s (`<grant>.<random>`), and what revoking a whole refresh
/// family names.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct GrantId(String);

impl GrantId {
    /// A grant id from its text (generated, or read back).
    pub fn new(id: impl Into<String>) -> GrantId {
        GrantId(id.into())
    }

    /// The text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl From<String> for GrantId {
    fn from(s: String) -> Self {
        GrantId(s)
    }
}

impl From<&str> for GrantId {
    fn from(s: &str) -> Self {
        GrantId(s.to_string())
    }
}

impl std::fmt::Display for GrantId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// An authorization: a user let an app use some scopes. Refresh and access tokens belong to one.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct GrantRecord {
    /// Id (also in the access tokens' `jti`).
    #[sqlx(try_from = "String")]
    pub id: GrantId,
    /// The app.
    pub client_id: String,
    /// The user.
    pub username: String,
    /// Granted scopes, space-separated.
    pub scope: String,
    /// Seconds since the epoch.
    pub created_at: i64,
    /// Absolute expiry of its refresh tokens.
    pub expires_at: Option<i64>,
    /// Set when revoked (reuse, replay, revocation request).
    pub revoked_at: Option<i64>,
}

/// An authorization code (stored as its SHA-256).
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct CodeRecord {
    /// Hex SHA-256 of the code.
    pub code_hash: String,
    /// The app it was issued to.
    pub client_id: String,
    /// The grant it creates.
    #[sqlx(try_from = "String")]
    pub grant_id: GrantId,
    /// The user.
    pub username: String,
    /// Exactly as in the authorization request.
    pub redirect_uri: String,
    /// Granted scopes.
    pub scope: String,
    /// PKCE S256 challenge.
    pub code_challenge: Option<String>,
    /// Seconds since the epoch.
    pub created_at: i64,
    /// Two minutes after creation.
    pub expires_at: i64,
}

/// A refresh token (stored as its SHA-256).
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct RefreshRecord {
    /// Hex SHA-256 of the token.
    pub token_hash: String,
    /// Its grant (family).
    #[sqlx(try_from = "String")]
    pub grant_id: GrantId,
    /// The app.
    pub client_id: String,
    /// Scopes it may ask for.
    pub scope: String,
    /// Seconds since the epoch.
    pub created_at: i64,
    /// Last use (for inactivity expiry); creation time at first.
    pub last_used_at: i64,
    /// The hash of the token this one replaced by rotation.
    pub parent_hash: Option<String>,
}

/// What happened when a single-use value was presented.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Redemption<T> {
    /// First use: the record, as it was before this use.
    Fresh(T),
    /// Used before: a replay.
    Replayed(T),
    /// Used before, but within the retry grace and with no successor used since: a client retrying a request whose
    /// answer was lost. The record as it was.
    Retried(T),
    /// Never issued (or deleted).
    Unknown,
}

/// What a revocation log entry revokes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RevocationKind {
    /// One token, by its `jti`.
    Jti,
    /// A grant: every token of one refresh family (the grant id is the `jti` prefix).
    Grant,
    /// An app: every token issued to it before the entry.
    Client,
    /// A user: every token issued to them before the entry.
    User,
}

impl RevocationKind {
    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            RevocationKind::Jti => "jti",
            RevocationKind::Grant => "grant",
            RevocationKind::Client => "client",
            RevocationKind::User => "user",
        }
    }

    /// Parses a stored name; `None` for a kind this version does not know (written by a newer one during a rolling
    /// upgrade), which readers skip while still moving past its position.
    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "jti" => RevocationKind::Jti,
            "grant" => RevocationKind::Grant,
            "client" => RevocationKind::Client,
            "user" => RevocationKind::User,
            _ => return None,
        })
    }
}

/// An entry of the revocation log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RevocationRecord {
    /// Position in the log.
    pub seq: i64,
    /// What it revokes; `None` for a kind this version does not know.
    pub kind: Option<RevocationKind>,
    /// The revoked value.
    pub value: String,
    /// When.
    pub revoked_at: i64,
    /// After this, no token it could concern is alive.
    pub expires_at: i64,
}

/// The authorization server's state.
#[async_trait]
pub trait FlowStore: Send + Sync + 'static {
    /// Every signing key, newest first.
    async fn signing_keys(&self) -> Result<Vec<SigningKeyRecord>, StoreError>;
    /// Adds a signing key and retires the others at `now`.
    async fn add_signing_key(&self, key: &SigningKeyRecord, now: i64) -> Result<(), StoreError>;

    /// Stores a grant.
    async fn create_grant(&self, grant: &GrantRecord) -> Result<(), StoreError>;
    /// One grant.
    async fn grant(&self, id: &GrantId) -> Result<Option<GrantRecord>, StoreError>;
    /// Marks a grant revoked; false if it already was (or does not exist).
    async fn revoke_grant(&self, id: &GrantId, now: i64) -> Result<bool, StoreError>;

    /// Stores a code.
    async fn create_code(&self, code: &CodeRecord) -> Result<(), StoreError>;
    /// A code without using it, and whether it was used.
    async fn code(&self, code_hash: &str) -> Result<Option<(CodeRecord, bool)>, StoreError>;
    /// Uses a code once and stores the grant it creates, in one transaction: `Fresh` when this call used it (the
    /// grant is stored), `Replayed` when it was used before (the grant of its first use exists then, so it can be
    /// revoked), `Unknown` when there is no such code. Concurrent redemptions get one `Fresh` at most.
    async fn redeem_code(
        &self,
        code_hash: &str,
        grant: &GrantRecord,
        now: i64,
    ) -> Result<Redemption<CodeRecord>, StoreError>;

    /// Stores a refresh token.
    async fn create_refresh(&self, token: &RefreshRecord) -> Result<(), StoreError>;
    /// Uses a refresh token that is not rotated (it stays valid): records the use, for inactivity expiry. `Replayed`
    /// when it had been spent by a rotation.
    async fn touch_refresh(&self, token_hash: &str, now: i64) -> Result<Redemption<RefreshRecord>, StoreError>;
    /// Rotates a refresh token in one transaction: spends `old_hash` and stores `successor`, so that a crash leaves
    /// both done or neither. A token already spent is `Replayed`, unless it was rotated less than `grace_secs` ago
    /// and none of its successors has been used: then those successors are superseded (spent) and `successor`
    /// replaces them (`Retried`).
    async fn rotate_refresh(
        &self,
        old_hash: &str,
        successor: &RefreshRecord,
        now: i64,
        grace_secs: i64,
    ) -> Result<Redemption<RefreshRecord>, StoreError>;
    /// The grant of a refresh token, for revocation and introspection.
    async fn refresh(&self, token_hash: &str) -> Result<Option<(RefreshRecord, bool)>, StoreError>;

    /// Whether the user already allowed these scopes (space-separated, sorted) to the app.
    async fn has_consent(&self, username: &str, client_id: &str, scope: &str) -> Result<bool, StoreError>;
    /// Remembers a consent.
    async fn add_consent(&self, username: &str, client_id: &str, scope: &str, now: i64) -> Result<(), StoreError>;

    /// Stores a login session.
    async fn create_session(
        &self,
        session_hash: &str,
        username: &str,
        now: i64,
        expires_at: i64,
    ) -> Result<(), StoreError>;
    /// The user of a live session, and when they signed in.
    async fn session_user(&self, session_hash: &str, now: i64) -> Result<Option<(String, i64)>, StoreError>;

    /// Records that the authorization request with this id was answered (a code issued or access denied), until
    /// `expires_at` (when its form expires); false when it was answered before (a form sent twice, or to two
    /// instances).
    async fn answer_authorization_request(&self, rid_hash: &str, expires_at: i64) -> Result<bool, StoreError>;

    /// Records an assertion's `jti`; false when it was seen and has not expired.
    async fn record_assertion(&self, client_id: &str, jti: &str, expires_at: i64, now: i64)
        -> Result<bool, StoreError>;

    /// Appends to the revocation log.
    async fn revoke(&self, kind: RevocationKind, value: &str, now: i64, expires_at: i64) -> Result<i64, StoreError>;
    /// Log entries after `seq` that still matter at `now`.
    async fn revocations_since(&self, seq: i64, now: i64) -> Result<Vec<RevocationRecord>, StoreError>;

    /// Deletes what no longer matters at `now`: expired codes (a day after their expiry, so a late replay is still
    /// recognised), login sessions, answered authorization requests, assertion ids and revocation log entries. Refresh tokens
    /// stay while their grant does (a spent one is how reuse is recognised). Returns how many rows went.
    async fn sweep(&self, now: i64) -> Result<u64, StoreError>;

    /// Starts a task that wakes `wake` whenever another process may have changed the revocation log or the signing
    /// keys, including after a lost connection (changes may have been missed). `None`: this store has no change
    /// feed, and must be polled.
    /// `listening` is true while the feed is connected.
    fn spawn_change_feed(
        &self,
        _wake: std::sync::Arc<tokio::sync::Notify>,
        _listening: std::sync::Arc<std::sync::atomic::AtomicBool>,
    ) -> Option<tokio::task::JoinHandle<()>> {
        None
    }
}
