//! Storage: the persisted shapes of users, apps and their credentials, behind the [`Store`] trait.
//!
//! [`SqlStore`] implements it with portable SQL over sqlx's `Any` driver: SQLite (one file, WAL, `synchronous=FULL`,
//! so an acknowledged write survives `kill -9` and power loss) today, PostgreSQL with the same migrations next.
//! Nothing here knows the rules of the registry: they live in [`crate::registry`].

mod sql;

use async_trait::async_trait;
use serde::{Deserialize, Serialize};

pub use sql::SqlStore;

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
#[derive(Debug, Clone, PartialEq, Eq)]
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
    /// Seconds since the epoch.
    pub created_at: i64,
    /// Seconds since the epoch.
    pub updated_at: i64,
}

/// A client secret, stored as its SHA-256 only.
#[derive(Debug, Clone, PartialEq, Eq)]
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
#[derive(Debug, Clone, PartialEq, Eq)]
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
pub trait Store: Send + Sync + 'static {
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
    /// The user owning an admin token, recording its use.
    async fn admin_token_user(&self, token_hash: &str, now: i64) -> Result<Option<UserRecord>, StoreError>;

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

    /// Sets an uploaded logo. Returns false when the app does not exist.
    async fn set_logo(&self, client_id: &str, content_type: &str, data: &[u8], now: i64) -> Result<bool, StoreError>;
    /// An uploaded logo: content type and bytes.
    async fn logo(&self, client_id: &str) -> Result<Option<(String, Vec<u8>)>, StoreError>;
}
