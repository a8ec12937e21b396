//! The registry of OAuth2 applications and users: every rule of the product (three app types and their fields,
//! secrets shown once, public keys, the app limit) applied in one place, for the admin API, the CLI and the
//! authorization server alike.

pub mod credentials;
pub mod passwords;
pub mod public_keys;
mod validate;
mod views;

use std::sync::Arc;

use serde::Serialize;
use serde_json::{json, Value};

use crate::clock::Clock;
use crate::secret::Secret;
use crate::store::{
    AdminTokenRecord, AppRecord, AppType, KeyRecord, RevocationKind, SecretRecord, Store, StoreError, UserRecord,
};
use passwords::{Passwords, Refusal};
pub use validate::{is_loopback, redirect_matches, AppInput, FieldError, InputError};
pub use views::{shown_once, AppSettings, AppView, CodeFlowSettings, KeyView, SecretView};

/// Default inactivity expiry of refresh tokens: 180 days (the product's "e.g. 6 months").
pub const DEFAULT_INACTIVITY_EXPIRY_SECS: i64 = 180 * 86_400;
/// Longest note on a secret.
pub const MAX_NOTE_CHARS: usize = 64;
/// Largest uploaded logo.
pub const MAX_LOGO_BYTES: usize = 256 * 1024;
/// Shortest password.
pub const MIN_PASSWORD_CHARS: usize = 8;
/// A secret's "last used" is written again only when it is at least this old.
pub const LAST_USED_GRANULARITY_SECS: i64 = 60;
/// Default lifetime of an admin API token: 90 days.
pub const DEFAULT_ADMIN_TOKEN_DAYS: i64 = 90;
/// Longest lifetime of an admin API token: 2 years.
pub const MAX_ADMIN_TOKEN_DAYS: i64 = 730;

/// Why a registry operation was refused.
#[derive(Debug, thiserror::Error)]
pub enum RegistryError {
    /// The request is not what the operation takes (400).
    #[error("{0}")]
    BadRequest(String),
    /// A field is invalid (422).
    #[error("{0}")]
    Invalid(FieldError),
    /// No such thing (404).
    #[error("{0} not found")]
    NotFound(&'static str),
    /// The value exists already (409).
    #[error("{0}")]
    Conflict(String),
    /// The app limit is reached (409).
    #[error("the limit of {0} apps is reached: delete an app to free a place")]
    LimitReached(i64),
    /// Too many failed password checks for this user at this address, or from this address: retry after this many
    /// seconds (429).
    #[error("too many failed sign-ins: retry in {0} s")]
    Throttled(u64),
    /// Every password hashing slot is busy and the queue is full (503).
    #[error("too many password checks at once: retry in a moment")]
    Busy,
    /// The store failed (503).
    #[error("{0}")]
    Store(StoreError),
}

impl From<Refusal> for RegistryError {
    fn from(r: Refusal) -> Self {
        match r {
            Refusal::Throttled(secs) => RegistryError::Throttled(secs),
            Refusal::Busy => RegistryError::Busy,
        }
    }
}

impl From<StoreError> for RegistryError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::LimitReached(n) => RegistryError::LimitReached(n),
            StoreError::Conflict(what) => RegistryError::Conflict(format!("{what} already exists")),
            other => RegistryError::Store(other),
        }
    }
}

impl From<FieldError> for RegistryError {
    fn from(e: FieldError) -> Self {
        RegistryError::Invalid(e)
    }
}

impl From<InputError> for RegistryError {
    fn from(e: InputError) -> Self {
        match e {
            InputError::NotAnObject => RegistryError::BadRequest(e.to_string()),
            InputError::Field(f) => RegistryError::Invalid(f),
        }
    }
}

/// A user as shown to administrators: never the password hash.
#[derive(Debug, Clone, Serialize)]
pub struct UserView {
    /// Login name.
    pub username: String,
    /// May administer.
    pub is_admin: bool,
    /// May not log in.
    pub disabled: bool,
    /// Seconds since the epoch.
    pub created_at: i64,
}

impl From<&UserRecord> for UserView {
    fn from(u: &UserRecord) -> Self {
        UserView { username: u.username.clone(), is_admin: u.is_admin, disabled: u.disabled, created_at: u.created_at }
    }
}

/// How long a revocation written for a deleted app or a disabled user is kept: longer than any access token lives.
pub const REVOCATION_WINDOW_SECS: i64 = 86_400 + 300;

/// Told when the revocation log grew (app deleted, user disabled), so that an in-process authorization server applies
/// it before the operation returns.
#[async_trait::async_trait]
pub trait RevocationHook: Send + Sync {
    /// The revocation log has new entries.
    async fn revocations_changed(&self);
}

/// The registry.
#[derive(Clone)]
pub struct Registry {
    store: Arc<dyn Store>,
    clock: Arc<dyn Clock>,
    max_apps: i64,
    hooks: Arc<std::sync::RwLock<Vec<Arc<dyn RevocationHook>>>>,
    passwords: Arc<Passwords>,
}

impl Registry {
    /// A registry over `store`.
    pub fn new(store: Arc<dyn Store>, clock: Arc<dyn Clock>, max_apps: i64) -> Self {
        let passwords = Arc::new(Passwords::new(clock.clone()));
        Registry { store, clock, max_apps, hooks: Arc::default(), passwords }
    }

    /// How many password hashes may run at once, and the most that ever ran at once in this process.
    pub fn password_hashing(&self) -> (usize, usize) {
        (self.passwords.capacity(), self.passwords.peak())
    }

    /// The store.
    pub fn store(&self) -> &Arc<dyn Store> {
        &self.store
    }

    /// The clock.
    pub fn clock(&self) -> &Arc<dyn Clock> {
        &self.clock
    }

    /// The app limit.
    pub fn max_apps(&self) -> i64 {
        self.max_apps
    }

    /// Registers a revocation hook.
    pub fn on_revocation(&self, hook: Arc<dyn RevocationHook>) {
        if let Ok(mut h) = self.hooks.write() {
            h.push(hook);
        }
    }

    fn hooks(&self) -> Vec<Arc<dyn RevocationHook>> {
        self.hooks.read().map(|h| h.clone()).unwrap_or_default()
    }

    async fn view(&self, app: &AppRecord) -> Result<AppView, RegistryError> {
        let secrets = if app.app_type != AppType::Spa { self.store.secrets(&app.client_id).await? } else { Vec::new() };
        let keys = if app.app_type == AppType::Machine { self.store.keys(&app.client_id).await? } else { Vec::new() };
        Ok(AppView::new(app, &secrets, &keys))
    }

    fn new_secret(&self, client_id: &str, note: String) -> (SecretRecord, Secret) {
        let secret = credentials::client_secret();
        let record = SecretRecord {
            id: credentials::record_id(),
            client_id: client_id.to_string(),
            secret_hash: credentials::hash(secret.expose()),
            note,
            created_at: self.clock.now(),
            last_used_at: None,
        };
        (record, secret)
    }

    /// Creates an app (`type`, `name` and the fields of that type). Returns its view and, for machine and web apps,
    /// the client secret, shown this once.
    pub async fn create_app(&self, input: &AppInput) -> Result<(AppView, Option<Secret>), RegistryError> {
        let app_type =
            input.app_type.ok_or_else(|| FieldError::new("type", "missing: \"machine\", \"web\" or \"spa\""))?;
        let now = self.clock.now();
        let mut app = AppRecord {
            client_id: credentials::client_id(),
            app_type,
            name: String::new(),
            description: String::new(),
            redirect_urls: Vec::new(),
            refresh_token_rotation: true,
            refresh_token_absolute_expiry_secs: None,
            refresh_token_inactivity_expiry_secs: (app_type != AppType::Machine)
                .then_some(DEFAULT_INACTIVITY_EXPIRY_SECS),
            logo_url: None,
            app_description_url: None,
            developer_name: None,
            developer_email: None,
            privacy_policy_url: None,
            jwt_subjects: Vec::new(),
            introspect_any: false,
            scopes: None,
            created_at: now,
            updated_at: now,
        };
        validate::apply(&mut app, input, true)?;
        let secret = (app_type != AppType::Spa).then(|| self.new_secret(&app.client_id, String::new()));
        self.store.create_app(&app, secret.as_ref().map(|(r, _)| r), self.max_apps).await?;
        tracing::info!(client_id = %app.client_id, app_type = app_type.as_str(), "app created");
        Ok((self.view(&app).await?, secret.map(|(_, s)| s)))
    }

    /// One app's record.
    pub async fn app_record(&self, client_id: &str) -> Result<AppRecord, RegistryError> {
        self.store.app(client_id).await?.ok_or(RegistryError::NotFound("app"))
    }

    /// One app's view.
    pub async fn app(&self, client_id: &str) -> Result<AppView, RegistryError> {
        let app = self.app_record(client_id).await?;
        self.view(&app).await
    }

    /// Every app's view, and how many places are used.
    pub async fn apps(&self) -> Result<Vec<AppView>, RegistryError> {
        let mut out = Vec::new();
        for a in self.store.list_apps().await? {
            out.push(self.view(&a).await?);
        }
        Ok(out)
    }

    /// Changes some fields of an app.
    pub async fn update_app(&self, client_id: &str, input: &AppInput) -> Result<AppView, RegistryError> {
        let mut app = self.app_record(client_id).await?;
        validate::apply(&mut app, input, false)?;
        app.updated_at = self.clock.now();
        if !self.store.update_app(&app).await? {
            return Err(RegistryError::NotFound("app"));
        }
        self.view(&app).await
    }

    /// Deletes an app; every token it holds dies with it.
    pub async fn delete_app(&self, client_id: &str) -> Result<(), RegistryError> {
        if !self.store.delete_app(client_id).await? {
            return Err(RegistryError::NotFound("app"));
        }
        let now = self.clock.now();
        self.store.revoke(RevocationKind::Client, client_id, now, now + REVOCATION_WINDOW_SECS).await?;
        for h in self.hooks() {
            h.revocations_changed().await;
        }
        tracing::info!(client_id, "app deleted");
        Ok(())
    }

    /// Adds a client secret to a machine or web app; the secret is returned this once.
    pub async fn add_secret(&self, client_id: &str, note: Option<&str>) -> Result<(SecretView, Secret), RegistryError> {
        let app = self.app_record(client_id).await?;
        if app.app_type == AppType::Spa {
            return Err(FieldError::new("type", "single-page apps are public clients and hold no secret").into());
        }
        let note = validate::note(note)?;
        let (record, secret) = self.new_secret(client_id, note);
        if !self.store.add_secret(&record).await? {
            return Err(RegistryError::NotFound("app"));
        }
        Ok((SecretView::from(&record), secret))
    }

    /// Deletes a client secret.
    pub async fn delete_secret(&self, client_id: &str, id: &str) -> Result<(), RegistryError> {
        self.app_record(client_id).await?;
        if self.store.delete_secret(client_id, id).await? {
            Ok(())
        } else {
            Err(RegistryError::NotFound("secret"))
        }
    }

    /// Checks a presented client secret against every secret of the app, in constant time, and records its use (to
    /// the minute).
    pub async fn verify_secret(&self, client_id: &str, presented: &str) -> Result<bool, RegistryError> {
        let mut found = None;
        for s in self.store.secrets(client_id).await? {
            if credentials::matches_hash(presented, &s.secret_hash) {
                found = Some(s);
            }
        }
        match found {
            Some(s) => {
                // "Last used" is shown to the minute: a busy client costs one write a minute, not one per token.
                let now = self.clock.now();
                if s.last_used_at.is_none_or(|at| now - at >= LAST_USED_GRANULARITY_SECS) {
                    self.store.touch_secret(&s.id, now).await?;
                }
                Ok(true)
            }
            None => Ok(false),
        }
    }

    async fn machine_app(&self, client_id: &str) -> Result<AppRecord, RegistryError> {
        let app = self.app_record(client_id).await?;
        if app.app_type != AppType::Machine {
            return Err(FieldError::new("type", "only machine-to-machine apps hold public keys").into());
        }
        Ok(app)
    }

    async fn store_key(
        &self,
        client_id: &str,
        key: public_keys::PublicKey,
        note: String,
    ) -> Result<KeyView, RegistryError> {
        let record = KeyRecord {
            id: credentials::record_id(),
            client_id: client_id.to_string(),
            family: key.family.as_str().into(),
            format: key.format.into(),
            material: key.material,
            note,
            created_at: self.clock.now(),
        };
        if !self.store.add_key(&record).await? {
            return Err(RegistryError::NotFound("app"));
        }
        Ok(KeyView::from(&record))
    }

    /// Adds a public key from `{"public_key": PEM or JWK text}` or `{"jwk": {...}}`, with an optional `note`.
    pub async fn add_key(&self, client_id: &str, input: &Value) -> Result<KeyView, RegistryError> {
        let obj =
            input.as_object().ok_or_else(|| RegistryError::BadRequest("the body must be a JSON object".into()))?;
        self.machine_app(client_id).await?;
        for k in obj.keys() {
            if !["public_key", "jwk", "note"].contains(&k.as_str()) {
                return Err(FieldError::new(k, "unknown field").into());
            }
        }
        let note = validate::note(obj.get("note").and_then(Value::as_str))?;
        let key = match (obj.get("public_key"), obj.get("jwk")) {
            (Some(Value::String(text)), None) => {
                public_keys::parse(text).map_err(|e| FieldError::new("public_key", e))?
            }
            (None, Some(jwk @ Value::Object(_))) => {
                public_keys::parse_jwk(jwk).map_err(|e| FieldError::new("jwk", e))?
            }
            (Some(_), Some(_)) => {
                return Err(FieldError::new("public_key", "send `public_key` or `jwk`, not both").into())
            }
            (Some(_), None) => return Err(FieldError::new("public_key", "must be a string (PEM or JWK JSON)").into()),
            (None, Some(_)) => return Err(FieldError::new("jwk", "must be a JSON object").into()),
            (None, None) => {
                return Err(FieldError::new("public_key", "missing: a PEM public key, a certificate or a JWK").into())
            }
        };
        self.store_key(client_id, key, note).await
    }

    /// Generates a key pair (`alg`: RS256 by default, ES256 or EdDSA), stores the public key and returns the private
    /// key PEM this once.
    pub async fn generate_key(
        &self,
        client_id: &str,
        alg: Option<&str>,
        note: Option<&str>,
    ) -> Result<(KeyView, Secret), RegistryError> {
        self.machine_app(client_id).await?;
        let family = match alg.unwrap_or("RS256") {
            "RS256" => public_keys::Family::Rsa,
            "ES256" => public_keys::Family::Ec,
            "EdDSA" => public_keys::Family::Okp,
            other => return Err(FieldError::new("alg", format!("`{other}` is not RS256, ES256 or EdDSA")).into()),
        };
        let note = validate::note(note)?;
        let generated = public_keys::generate(family).map_err(|e| RegistryError::Store(StoreError::Database(e)))?;
        let view = self.store_key(client_id, generated.public, note).await?;
        Ok((view, generated.private_pem))
    }

    /// Deletes a public key.
    pub async fn delete_key(&self, client_id: &str, id: &str) -> Result<(), RegistryError> {
        self.app_record(client_id).await?;
        if self.store.delete_key(client_id, id).await? {
            Ok(())
        } else {
            Err(RegistryError::NotFound("key"))
        }
    }

    /// The keys that may verify an app's JWT assertions: (kid, family, decoding key).
    pub async fn verification_keys(
        &self,
        client_id: &str,
    ) -> Result<Vec<(String, public_keys::Family, jsonwebtoken::DecodingKey)>, RegistryError> {
        let mut out = Vec::new();
        for k in self.store.keys(client_id).await? {
            let Some(family) = public_keys::Family::parse(&k.family) else { continue };
            let key = public_keys::PublicKey {
                family,
                format: if k.format == "jwk" { "jwk" } else { "pem" },
                material: k.material,
            };
            if let Some(dk) = key.decoding_key() {
                out.push((k.id, family, dk));
            }
        }
        Ok(out)
    }

    /// Stores an uploaded logo after checking its type and size; the app's `logo_url` then points at it.
    pub async fn set_logo(&self, client_id: &str, content_type: &str, data: &[u8]) -> Result<AppView, RegistryError> {
        let mut app = self.app_record(client_id).await?;
        if app.app_type == AppType::Machine {
            return Err(FieldError::new("logo", "machine-to-machine apps have no logo").into());
        }
        validate::logo(content_type, data)?;
        let now = self.clock.now();
        if !self.store.set_logo(client_id, content_type, data, now).await? {
            return Err(RegistryError::NotFound("app"));
        }
        app.logo_url = Some(format!("/oauth2/logo/{client_id}"));
        app.updated_at = now;
        self.store.update_app(&app).await?;
        self.view(&app).await
    }

    /// An uploaded logo.
    pub async fn logo(&self, client_id: &str) -> Result<(String, Vec<u8>), RegistryError> {
        self.store.logo(client_id).await?.ok_or(RegistryError::NotFound("logo"))
    }

    /// Creates a user. The name is NFC-normalised, and refused when it mixes scripts or looks like (has the same
    /// UTS #39 confusable skeleton as, ignoring case) an existing user's name.
    pub async fn add_user(&self, username: &str, password: &str, is_admin: bool) -> Result<UserView, RegistryError> {
        let username = validate::username(username)?;
        validate::password(password)?;
        let skeleton = validate::username_skeleton(&username);
        if let Some(other) =
            self.store.list_users().await?.into_iter().find(|u| validate::username_skeleton(&u.username) == skeleton)
        {
            if other.username == username {
                return Err(RegistryError::Conflict(format!("user `{username}` already exists")));
            }
            return Err(FieldError::new(
                "username",
                format!(
                    "`{username}` looks like the existing user `{}`: choose a name that cannot be mistaken for it",
                    other.username
                ),
            )
            .into());
        }
        let now = self.clock.now();
        let user = UserRecord {
            id: credentials::record_id(),
            username: username.clone(),
            password_hash: self.passwords.hash(password).await?,
            is_admin,
            disabled: false,
            created_at: now,
            updated_at: now,
        };
        self.store.create_user(&user).await.map_err(|e| match e {
            StoreError::Conflict(_) => RegistryError::Conflict(format!("user `{username}` already exists")),
            other => other.into(),
        })?;
        tracing::info!(username, is_admin, "user created");
        Ok(UserView::from(&user))
    }

    /// Every user.
    pub async fn users(&self) -> Result<Vec<UserView>, RegistryError> {
        Ok(self.store.list_users().await?.iter().map(UserView::from).collect())
    }

    /// Changes a user from `{"is_admin"?, "disabled"?, "password"?}`. Disabling a user or changing their password
    /// ends what they held: see [`Registry::end_user_access`].
    pub async fn update_user(&self, username: &str, input: &Value) -> Result<UserView, RegistryError> {
        let obj =
            input.as_object().ok_or_else(|| RegistryError::BadRequest("the body must be a JSON object".into()))?;
        let before = self.user_named(username).await?.ok_or(RegistryError::NotFound("user"))?;
        let mut user = before.clone();
        let mut new_password = None;
        for (k, v) in obj {
            match (k.as_str(), v) {
                ("is_admin", Value::Bool(b)) => user.is_admin = *b,
                ("disabled", Value::Bool(b)) => user.disabled = *b,
                ("password", Value::String(p)) => {
                    validate::password(p)?;
                    new_password = Some(p.as_str());
                }
                ("is_admin" | "disabled", _) => return Err(FieldError::new(k, "must be true or false").into()),
                ("password", _) => return Err(FieldError::new(k, "must be a string").into()),
                _ => return Err(FieldError::new(k, "unknown field").into()),
            }
        }
        if let Some(p) = new_password {
            user.password_hash = self.passwords.hash(p).await?;
        }
        user.updated_at = self.clock.now();
        self.store.update_user(&user).await?;
        let disabled_now = user.disabled && !before.disabled;
        if disabled_now || new_password.is_some() {
            let why = if disabled_now { "disabled" } else { "password changed" };
            self.end_user_access(&user.username, why).await?;
        }
        if disabled_now {
            // A re-enabled administrator starts without the admin API tokens they had (a password change keeps them:
            // they are credentials of their own, listed and revoked one by one).
            for t in self.store.admin_tokens().await?.into_iter().filter(|t| t.user_id == user.id) {
                self.store.delete_admin_token(&t.id).await?;
            }
        }
        Ok(UserView::from(&user))
    }

    /// Ends everything a user held (their account was disabled or their password changed): every grant revoked in the
    /// store (refresh tokens die, and stay dead after a re-enable), unredeemed codes deleted, sign-in sessions of the
    /// authorization server and of the console ended, and a `user` revocation written so that every instance's edge
    /// refuses the access tokens issued until now.
    pub async fn end_user_access(&self, username: &str, why: &str) -> Result<(), RegistryError> {
        let now = self.clock.now();
        let grants = self.store.end_user_access(username, now).await?;
        self.store.revoke(RevocationKind::User, username, now, now + REVOCATION_WINDOW_SECS).await?;
        for h in self.hooks() {
            h.revocations_changed().await;
        }
        tracing::info!(username, grants, reason = why, "the user's grants and sessions are ended");
        Ok(())
    }

    /// The user of a sign-in name, looked up by its NFC form.
    async fn user_named(&self, username: &str) -> Result<Option<UserRecord>, RegistryError> {
        Ok(self.store.user_by_name(&validate::normalized(username)).await?)
    }

    /// Checks a user's password for a sign-in from `ip`; `None` for an unknown, disabled or wrong one (each taking as
    /// long). Refused before any hashing when this user at this address, or this address, failed too often
    /// ([`RegistryError::Throttled`]), and when every hashing slot is taken ([`RegistryError::Busy`]).
    pub async fn authenticate_user(
        &self,
        username: &str,
        password: &str,
        ip: Option<std::net::IpAddr>,
    ) -> Result<Option<UserRecord>, RegistryError> {
        self.authenticate(username, password, ip, false).await
    }

    /// [`Registry::authenticate_user`] for a place only administrators may sign in to (the console, the admin API):
    /// the right password of a user who is not an administrator is returned (to say why they are refused) but counts
    /// as a failure for the throttle.
    pub async fn authenticate_admin(
        &self,
        username: &str,
        password: &str,
        ip: Option<std::net::IpAddr>,
    ) -> Result<Option<UserRecord>, RegistryError> {
        self.authenticate(username, password, ip, true).await
    }

    async fn authenticate(
        &self,
        username: &str,
        password: &str,
        ip: Option<std::net::IpAddr>,
        admins_only: bool,
    ) -> Result<Option<UserRecord>, RegistryError> {
        let name = validate::normalized(username);
        let user = self.store.user_by_name(&name).await?;
        let eligible = user.as_ref().is_some_and(|u| !u.disabled && (u.is_admin || !admins_only));
        let phc = user.as_ref().map(|u| u.password_hash.clone());
        let ok = self.passwords.check(&name, ip, password, phc, eligible).await?;
        Ok(user.filter(|u| ok && !u.disabled))
    }

    /// Creates an admin API token for an admin user, valid `days` days ([`DEFAULT_ADMIN_TOKEN_DAYS`] when `None`);
    /// returned this once, with its record.
    pub async fn create_admin_token(
        &self,
        username: &str,
        note: &str,
        days: Option<i64>,
    ) -> Result<(Secret, Value), RegistryError> {
        let user = self.user_named(username).await?.ok_or(RegistryError::NotFound("user"))?;
        if !user.is_admin {
            return Err(FieldError::new("username", "is not an admin").into());
        }
        let days = days.unwrap_or(DEFAULT_ADMIN_TOKEN_DAYS);
        if !(1..=MAX_ADMIN_TOKEN_DAYS).contains(&days) {
            return Err(FieldError::new("expires_in_days", format!("must be 1 to {MAX_ADMIN_TOKEN_DAYS} days")).into());
        }
        let note = validate::note(Some(note))?;
        let token = credentials::admin_token();
        let now = self.clock.now();
        let record = AdminTokenRecord {
            id: credentials::record_id(),
            user_id: user.id,
            token_hash: credentials::hash(token.expose()),
            note,
            created_at: now,
            expires_at: now + days * 86_400,
            last_used_at: None,
        };
        self.store.create_admin_token(&record).await?;
        tracing::info!(username, id = %record.id, "admin API token created");
        Ok((token, admin_token_view(&user.username, &record)))
    }

    /// Every admin API token (never the token itself), of one user or of all.
    pub async fn admin_tokens(&self, username: Option<&str>) -> Result<Vec<Value>, RegistryError> {
        let users = self.store.list_users().await?;
        let name_of = |id: &str| users.iter().find(|u| u.id == id).map(|u| u.username.clone()).unwrap_or_default();
        let mut out = Vec::new();
        for t in self.store.admin_tokens().await? {
            let name = name_of(&t.user_id);
            if username.is_none_or(|u| validate::normalized(u) == name) {
                out.push(admin_token_view(&name, &t));
            }
        }
        Ok(out)
    }

    /// Revokes one admin API token by its id.
    pub async fn revoke_admin_token(&self, id: &str) -> Result<(), RegistryError> {
        if self.store.delete_admin_token(id).await? {
            tracing::info!(id, "admin API token revoked");
            Ok(())
        } else {
            Err(RegistryError::NotFound("admin token"))
        }
    }
}

fn admin_token_view(username: &str, t: &AdminTokenRecord) -> Value {
    json!({"id": t.id, "username": username, "note": t.note, "created_at": t.created_at, "expires_at": t.expires_at,
           "last_used_at": t.last_used_at})
}
