//! The registry from the command line: `users` and `apps` work on the store directly, with or without a running
//! server, and print JSON.

use std::io::Read;
use std::path::PathBuf;
use std::sync::Arc;

use clap::{Args, Subcommand};
use serde_json::{json, Map, Value};

use crate::clock::SystemClock;
use crate::config::Config;
use crate::registry::{shown_once, AppInput, Registry, RegistryError};

/// `tokengate users ...`
#[derive(Subcommand)]
pub enum UsersCommand {
    /// Create a user (the password is read from standard input).
    Add {
        /// Login name.
        name: String,
        /// Make the user an administrator.
        #[arg(long)]
        admin: bool,
        /// Read the password from standard input (required: passwords never go on the command line).
        #[arg(long)]
        password_stdin: bool,
    },
    /// List users.
    List,
    /// Disable a user: no more logins, and every token and session they held ends (also after a re-enable).
    Disable {
        /// Login name.
        name: String,
    },
    /// Enable a disabled user again (what they held before stays ended).
    Enable {
        /// Login name.
        name: String,
    },
    /// Set a user's password (read from standard input); every token and session they held ends.
    Password {
        /// Login name.
        name: String,
        /// Read the password from standard input (required: passwords never go on the command line).
        #[arg(long)]
        password_stdin: bool,
    },
    /// Create an admin API token for an administrator (printed once).
    Token {
        /// Login name of an administrator.
        name: String,
        /// What the token is for.
        #[arg(long, default_value = "")]
        note: String,
        /// Days until the token expires (1 to 730).
        #[arg(long, default_value_t = crate::registry::DEFAULT_ADMIN_TOKEN_DAYS)]
        expires_in_days: i64,
    },
    /// List admin API tokens (id, note, created, expires, last used; never the token), of one user or of all.
    Tokens {
        /// Login name of an administrator; all when left out.
        name: Option<String>,
    },
    /// Revoke one admin API token by its id (from `users tokens`).
    RevokeToken {
        /// Token id.
        id: String,
    },
}

fn read_password(password_stdin: bool) -> Result<String, CliError> {
    if !password_stdin {
        return Err(CliError("pass the password on standard input with --password-stdin".into(), 2));
    }
    let mut password = String::new();
    std::io::stdin().read_to_string(&mut password).map_err(|e| CliError(e.to_string(), 3))?;
    Ok(password.trim_end_matches(['\n', '\r']).to_string())
}

/// Fields of an app, as options.
#[derive(Args, Default)]
pub struct AppFields {
    /// Name of the app.
    #[arg(long)]
    name: Option<String>,
    /// Description.
    #[arg(long)]
    description: Option<String>,
    /// A redirect URL (repeat for several).
    #[arg(long = "redirect-url")]
    redirect_urls: Vec<String>,
    /// Rotate refresh tokens at each use: true or false.
    #[arg(long)]
    rotation: Option<bool>,
    /// Absolute refresh-token expiry in seconds, or "none".
    #[arg(long)]
    absolute_expiry: Option<String>,
    /// Inactivity refresh-token expiry in seconds, or "none".
    #[arg(long)]
    inactivity_expiry: Option<String>,
    /// Logo URL.
    #[arg(long)]
    logo_url: Option<String>,
    /// App description URL (web apps).
    #[arg(long)]
    app_description_url: Option<String>,
    /// Developer name (single-page apps).
    #[arg(long)]
    developer_name: Option<String>,
    /// Developer email (single-page apps).
    #[arg(long)]
    developer_email: Option<String>,
    /// Privacy policy URL (single-page apps).
    #[arg(long)]
    privacy_policy_url: Option<String>,
    /// A user the app's JWT assertions may name as `sub` (machine apps; repeat for several).
    #[arg(long = "jwt-subject")]
    jwt_subjects: Vec<String>,
    /// A scope the app may be granted (machine apps; repeat for several; none given: the server's default scopes).
    #[arg(long = "scope")]
    scopes: Vec<String>,
}

impl AppFields {
    fn to_json(&self) -> Result<Map<String, Value>, String> {
        let mut m = Map::new();
        let mut put = |k: &str, v: Option<Value>| {
            if let Some(v) = v {
                m.insert(k.into(), v);
            }
        };
        let secs = |flag: &str, v: &Option<String>| -> Result<Option<Value>, String> {
            match v.as_deref() {
                None => Ok(None),
                Some("none") => Ok(Some(Value::Null)),
                Some(n) => n
                    .parse::<i64>()
                    .map(|n| Some(json!(n)))
                    .map_err(|_| format!("--{flag}: `{n}` is not a number of seconds or \"none\"")),
            }
        };
        put("name", self.name.clone().map(Value::from));
        put("description", self.description.clone().map(Value::from));
        put("redirect_urls", (!self.redirect_urls.is_empty()).then(|| json!(self.redirect_urls)));
        put("refresh_token_rotation", self.rotation.map(Value::from));
        put("refresh_token_absolute_expiry_secs", secs("absolute-expiry", &self.absolute_expiry)?);
        put("refresh_token_inactivity_expiry_secs", secs("inactivity-expiry", &self.inactivity_expiry)?);
        put("logo_url", self.logo_url.clone().map(Value::from));
        put("app_description_url", self.app_description_url.clone().map(Value::from));
        put("developer_name", self.developer_name.clone().map(Value::from));
        put("developer_email", self.developer_email.clone().map(Value::from));
        put("privacy_policy_url", self.privacy_policy_url.clone().map(Value::from));
        put("jwt_subjects", (!self.jwt_subjects.is_empty()).then(|| json!(self.jwt_subjects)));
        put("scopes", (!self.scopes.is_empty()).then(|| json!(self.scopes)));
        Ok(m)
    }
}

/// `tokengate apps ...`
#[derive(Subcommand)]
pub enum AppsCommand {
    /// Create an app; prints it with its client secret, shown this once.
    Create {
        /// machine, web or spa.
        #[arg(long = "type")]
        app_type: String,
        #[command(flatten)]
        fields: AppFields,
    },
    /// List apps.
    List,
    /// Show one app.
    Show {
        /// Client id.
        client_id: String,
    },
    /// Change fields of an app.
    Update {
        /// Client id.
        client_id: String,
        #[command(flatten)]
        fields: AppFields,
    },
    /// Delete an app and every token it holds.
    Delete {
        /// Client id.
        client_id: String,
    },
    /// Client secrets.
    #[command(subcommand)]
    Secrets(SecretsCommand),
    /// Public keys of machine apps.
    #[command(subcommand)]
    Keys(KeysCommand),
}

/// `tokengate apps secrets ...`
#[derive(Subcommand)]
pub enum SecretsCommand {
    /// Add a secret; printed this once.
    Add {
        /// Client id.
        client_id: String,
        /// Note (at most 64 characters).
        #[arg(long)]
        note: Option<String>,
    },
    /// Delete a secret.
    Delete {
        /// Client id.
        client_id: String,
        /// Secret id.
        id: String,
    },
}

/// `tokengate apps keys ...`
#[derive(Subcommand)]
pub enum KeysCommand {
    /// Add a public key from a PEM (public key or certificate) or JWK file.
    Add {
        /// Client id.
        client_id: String,
        /// The file.
        #[arg(long)]
        file: PathBuf,
        /// Note.
        #[arg(long)]
        note: Option<String>,
    },
    /// Generate a key pair; prints the private key once.
    Generate {
        /// Client id.
        client_id: String,
        /// RS256 (default), ES256 or EdDSA.
        #[arg(long)]
        alg: Option<String>,
    },
    /// Delete a public key.
    Delete {
        /// Client id.
        client_id: String,
        /// Key id.
        id: String,
    },
}

/// `tokengate keys ...`: the authorization server's signing keys.
#[derive(Subcommand)]
pub enum KeysAdminCommand {
    /// Publish a new signing key and sign with it; the old one keeps verifying until its tokens expire.
    Rotate,
    /// List the signing keys (public parts).
    List,
}

/// A failed command, with the exit code to use.
pub struct CliError(pub String, pub u8);

impl From<RegistryError> for CliError {
    fn from(e: RegistryError) -> Self {
        let code = match e {
            RegistryError::Store(_) => 3,
            _ => 1,
        };
        CliError(e.to_string(), code)
    }
}

fn print(v: &Value) {
    println!("{}", serde_json::to_string_pretty(v).unwrap_or_default());
}

fn runtime() -> Result<tokio::runtime::Runtime, CliError> {
    tokio::runtime::Builder::new_current_thread().enable_all().build().map_err(|e| CliError(e.to_string(), 3))
}

async fn registry(config: &Config) -> Result<Registry, CliError> {
    let az = config.authorization_server.as_ref().ok_or_else(|| {
        CliError(format!("{}: `authorization_server.enabled` is not true: there is no registry", config.source), 2)
    })?;
    crate::server::open_registry(az, Arc::new(SystemClock)).await.map_err(|e| {
        CliError(format!("authorization_server.database `{}`: {e}", crate::store::redact_location(&az.database)), 3)
    })
}

/// Runs `tokengate users ...`.
pub fn users(config: &Config, cmd: UsersCommand) -> Result<(), CliError> {
    runtime()?.block_on(async {
        let reg = registry(config).await?;
        match cmd {
            UsersCommand::Add { name, admin, password_stdin } => {
                let password = read_password(password_stdin)?;
                let user = reg.add_user(&name, &password, admin).await?;
                print(&serde_json::to_value(user).unwrap_or_default());
            }
            UsersCommand::List => print(&json!(reg.users().await?)),
            UsersCommand::Disable { name } => {
                let user = reg.update_user(&name, &json!({"disabled": true})).await?;
                print(&serde_json::to_value(user).unwrap_or_default());
            }
            UsersCommand::Enable { name } => {
                let user = reg.update_user(&name, &json!({"disabled": false})).await?;
                print(&serde_json::to_value(user).unwrap_or_default());
            }
            UsersCommand::Password { name, password_stdin } => {
                let password = read_password(password_stdin)?;
                let user = reg.update_user(&name, &json!({"password": password})).await?;
                print(&serde_json::to_value(user).unwrap_or_default());
            }
            UsersCommand::Token { name, note, expires_in_days } => {
                let (token, _) = reg.create_admin_token(&name, &note, Some(expires_in_days)).await?;
                println!("{}", token.expose());
            }
            UsersCommand::Tokens { name } => print(&json!(reg.admin_tokens(name.as_deref()).await?)),
            UsersCommand::RevokeToken { id } => {
                reg.revoke_admin_token(&id).await?;
                print(&json!({"revoked": id}));
            }
        }
        Ok(())
    })
}

/// Runs `tokengate apps ...`.
pub fn apps(config: &Config, cmd: AppsCommand) -> Result<(), CliError> {
    runtime()?.block_on(async {
        let reg = registry(config).await?;
        match cmd {
            AppsCommand::Create { app_type, fields } => {
                let mut body = fields.to_json().map_err(|e| CliError(e, 2))?;
                body.insert("type".into(), app_type.into());
                let (view, secret) =
                    reg.create_app(&AppInput::from_json(&Value::Object(body)).map_err(RegistryError::from)?).await?;
                match secret {
                    Some(s) => print(&shown_once(&view, "client_secret", &s)),
                    None => print(&view.to_json()),
                }
            }
            AppsCommand::List => print(&json!(reg.apps().await?)),
            AppsCommand::Show { client_id } => print(&reg.app(&client_id).await?.to_json()),
            AppsCommand::Update { client_id, fields } => {
                let body = fields.to_json().map_err(|e| CliError(e, 2))?;
                let input = AppInput::from_json(&Value::Object(body)).map_err(RegistryError::from)?;
                print(&reg.update_app(&client_id, &input).await?.to_json());
            }
            AppsCommand::Delete { client_id } => {
                reg.delete_app(&client_id).await?;
                print(&json!({"deleted": client_id}));
            }
            AppsCommand::Secrets(SecretsCommand::Add { client_id, note }) => {
                let (view, secret) = reg.add_secret(&client_id, note.as_deref()).await?;
                print(&shown_once(&view, "client_secret", &secret));
            }
            AppsCommand::Secrets(SecretsCommand::Delete { client_id, id }) => {
                reg.delete_secret(&client_id, &id).await?;
                print(&json!({"deleted": id}));
            }
            AppsCommand::Keys(KeysCommand::Add { client_id, file, note }) => {
                let text =
                    std::fs::read_to_string(&file).map_err(|e| CliError(format!("{}: {e}", file.display()), 2))?;
                let view =
                    reg.add_key(&client_id, &json!({"public_key": text, "note": note.unwrap_or_default()})).await?;
                print(&json!(view));
            }
            AppsCommand::Keys(KeysCommand::Generate { client_id, alg }) => {
                let (view, private) = reg.generate_key(&client_id, alg.as_deref(), None).await?;
                print(&shown_once(&view, "private_key", &private));
            }
            AppsCommand::Keys(KeysCommand::Delete { client_id, id }) => {
                reg.delete_key(&client_id, &id).await?;
                print(&json!({"deleted": id}));
            }
        }
        Ok(())
    })
}

/// Runs `tokengate keys ...`.
pub fn keys(config: &Config, cmd: KeysAdminCommand) -> Result<(), CliError> {
    runtime()?.block_on(async {
        let reg = registry(config).await?;
        let az = config.authorization_server.as_ref().expect("checked by registry()");
        let now = crate::clock::Clock::now(&SystemClock);
        let keep = az.access_token_ttl.as_secs() as i64 + 300;
        let store = reg.store().as_ref();
        let keys = crate::authz::signing::SigningKeys::load(store, az.signing_alg, keep, now)
            .await
            .map_err(|e| CliError(e.to_string(), 3))?;
        match cmd {
            KeysAdminCommand::Rotate => {
                let kid = keys.rotate(store, now).await.map_err(|e| CliError(e.to_string(), 3))?;
                print(&json!({"active_kid": kid, "jwks": keys.jwks()}));
            }
            KeysAdminCommand::List => print(&json!({"active_kid": keys.active_kid(), "jwks": keys.jwks()})),
        }
        Ok(())
    })
}
