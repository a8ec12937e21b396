//! What administrators see of apps and their secrets and keys: typed views, the same for the admin API, the console
//! and the CLI, that never hold a secret, a hash or a private key.

use serde::Serialize;
use serde_json::Value;

use super::public_keys;
use crate::store::{AppRecord, AppType, KeyRecord, SecretRecord};

/// A client secret: its id and note, never the secret or its hash.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SecretView {
    /// Stable id.
    pub id: String,
    /// Free text.
    pub note: String,
    /// Seconds since the epoch.
    pub created_at: i64,
    /// Last successful use, to the minute.
    pub last_used_at: Option<i64>,
}

impl From<&SecretRecord> for SecretView {
    fn from(s: &SecretRecord) -> Self {
        SecretView { id: s.id.clone(), note: s.note.clone(), created_at: s.created_at, last_used_at: s.last_used_at }
    }
}

/// A public key of a machine app, as a JWK.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct KeyView {
    /// Stable id, also the key's `kid`.
    pub id: String,
    /// The algorithm its assertions are signed with.
    pub alg: &'static str,
    /// Free text.
    pub note: String,
    /// Seconds since the epoch.
    pub created_at: i64,
    /// The public key as a JWK.
    pub jwk: Value,
}

impl From<&KeyRecord> for KeyView {
    fn from(k: &KeyRecord) -> Self {
        let family = public_keys::Family::parse(&k.family).unwrap_or(public_keys::Family::Rsa);
        let key = public_keys::PublicKey {
            family,
            format: if k.format == "jwk" { "jwk" } else { "pem" },
            material: k.material.clone(),
        };
        KeyView {
            id: k.id.clone(),
            alg: family.alg_name(),
            note: k.note.clone(),
            created_at: k.created_at,
            jwk: key.jwk(&k.id),
        }
    }
}

/// The redirect and refresh-token settings of the apps that use the authorization code grant.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CodeFlowSettings {
    /// Exact redirect URLs.
    pub redirect_urls: Vec<String>,
    /// Whether each refresh replaces the refresh token.
    pub refresh_token_rotation: bool,
    /// Refresh tokens' absolute lifetime; `None`: no limit.
    pub refresh_token_absolute_expiry_secs: Option<i64>,
    /// Refresh tokens' inactivity limit; `None`: no limit.
    pub refresh_token_inactivity_expiry_secs: Option<i64>,
    /// Shown on the consent page.
    pub logo_url: Option<String>,
}

/// The settings of each app type.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(untagged)]
pub enum AppSettings {
    /// Machine to machine.
    Machine {
        /// Users it may name as `sub` in a JWT bearer assertion.
        jwt_subjects: Vec<String>,
        /// Scopes it may be granted; `None`: the server's default scopes.
        scopes: Option<Vec<String>>,
        /// A resource server that may introspect any token of this server.
        introspect_any: bool,
    },
    /// Web application.
    Web {
        /// Redirects and refresh tokens.
        #[serde(flatten)]
        code_flow: CodeFlowSettings,
        /// A page describing the app.
        app_description_url: Option<String>,
    },
    /// Single-page application.
    Spa {
        /// Redirects and refresh tokens.
        #[serde(flatten)]
        code_flow: CodeFlowSettings,
        /// Who made it.
        developer_name: Option<String>,
        /// How to reach them.
        developer_email: Option<String>,
        /// Its privacy policy.
        privacy_policy_url: Option<String>,
    },
}

/// An app as administrators see it: every field of its type, its secrets (machine and web apps) and public keys
/// (machine apps), never a secret.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AppView {
    /// The client id.
    pub client_id: String,
    /// Its type.
    #[serde(rename = "type")]
    pub app_type: AppType,
    /// Its name.
    pub name: String,
    /// Its description.
    pub description: String,
    /// The fields of its type.
    #[serde(flatten)]
    pub settings: AppSettings,
    /// Its client secrets (machine and web apps).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub secrets: Option<Vec<SecretView>>,
    /// Its public keys (machine apps).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub public_keys: Option<Vec<KeyView>>,
    /// Seconds since the epoch.
    pub created_at: i64,
    /// Seconds since the epoch.
    pub updated_at: i64,
}

impl AppView {
    /// The view of `app` with these secrets and keys (each kept only where the app's type has them).
    pub fn new(app: &AppRecord, secrets: &[SecretRecord], keys: &[KeyRecord]) -> AppView {
        let code_flow = || CodeFlowSettings {
            redirect_urls: app.redirect_urls.clone(),
            refresh_token_rotation: app.refresh_token_rotation,
            refresh_token_absolute_expiry_secs: app.refresh_token_absolute_expiry_secs,
            refresh_token_inactivity_expiry_secs: app.refresh_token_inactivity_expiry_secs,
            logo_url: app.logo_url.clone(),
        };
        let settings = match app.app_type {
            AppType::Machine => AppSettings::Machine {
                jwt_subjects: app.jwt_subjects.clone(),
                scopes: app.scopes.clone(),
                introspect_any: app.introspect_any,
            },
            AppType::Web => {
                AppSettings::Web { code_flow: code_flow(), app_description_url: app.app_description_url.clone() }
            }
            AppType::Spa => AppSettings::Spa {
                code_flow: code_flow(),
                developer_name: app.developer_name.clone(),
                developer_email: app.developer_email.clone(),
                privacy_policy_url: app.privacy_policy_url.clone(),
            },
        };
        AppView {
            client_id: app.client_id.clone(),
            app_type: app.app_type,
            name: app.name.clone(),
            description: app.description.clone(),
            settings,
            secrets: (app.app_type != AppType::Spa).then(|| secrets.iter().map(SecretView::from).collect()),
            public_keys: (app.app_type == AppType::Machine).then(|| keys.iter().map(KeyView::from).collect()),
            created_at: app.created_at,
            updated_at: app.updated_at,
        }
    }

    /// The view as the admin API's JSON.
    pub fn to_json(&self) -> Value {
        serde_json::to_value(self).expect("an app view is JSON")
    }

    /// The redirect and refresh-token settings, for the apps that have them.
    pub fn code_flow(&self) -> Option<&CodeFlowSettings> {
        match &self.settings {
            AppSettings::Web { code_flow, .. } | AppSettings::Spa { code_flow, .. } => Some(code_flow),
            AppSettings::Machine { .. } => None,
        }
    }
}

/// `view` as JSON with a credential added under `field` (`client_secret`, `private_key`): the answer that shows it
/// this once.
pub fn shown_once(view: &impl Serialize, field: &str, credential: &crate::secret::Secret) -> Value {
    let mut v = serde_json::to_value(view).expect("a view is JSON");
    v[field] = credential.expose().into();
    v
}
