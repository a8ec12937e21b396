//! The console's pages: askama templates (compile-time checked, escaped by default) under `templates/console/`, the
//! view models they show, the one stylesheet and script embedded in the binary, and the headers every answer carries.

use std::collections::HashMap;

use askama::Template;
use axum::http::header::{CACHE_CONTROL, CONTENT_TYPE, X_CONTENT_TYPE_OPTIONS};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::Value;

use crate::authz::pages::html_response;
use crate::registry::credentials;

/// The console's Content-Security-Policy: its own script and stylesheet only, no inline code, images from here (and
/// `blob:`/`data:` for the logo preview), forms posting only here, no framing.
pub const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data: blob:; \
                       form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

const STYLE: &str = include_str!("assets/console.css");
const SCRIPT: &str = include_str!("assets/console.js");

/// `GET /console/assets/{name}`: the stylesheet and the script, cached for a day (they change only with the binary).
pub fn asset(name: &str) -> Response {
    let (ct, body) = match name {
        "console.css" => ("text/css; charset=utf-8", STYLE),
        "console.js" => ("text/javascript; charset=utf-8", SCRIPT),
        _ => return StatusCode::NOT_FOUND.into_response(),
    };
    ([(CONTENT_TYPE, ct), (CACHE_CONTROL, "public, max-age=86400"), (X_CONTENT_TYPE_OPTIONS, "nosniff")], body)
        .into_response()
}

/// Renders a page with the console's security headers.
pub fn render(status: StatusCode, page: &impl Template) -> Response {
    match page.render() {
        Ok(html) => html_response(status, html, CSP),
        Err(e) => {
            tracing::error!(error = %e, "console: rendering a page failed");
            html_response(StatusCode::INTERNAL_SERVER_ERROR, "internal error".into(), CSP)
        }
    }
}

/// The signed-in administrator, for the navigation.
pub struct Nav {
    /// Their name.
    pub username: String,
    /// The session's CSRF token (the sign-out form).
    pub csrf: String,
    /// `apps` or `users`: which link is current.
    pub section: &'static str,
}

/// What every page has around its content.
pub struct Frame {
    /// The page title.
    pub title: String,
    /// The navigation, when signed in.
    pub nav: Option<Nav>,
    /// A confirmation of what was just done.
    pub flash: Option<&'static str>,
    /// An error about the whole page.
    pub error: Option<String>,
    /// A one-time token for the forms that make something shown once (an app, a secret, a key), so that a reload
    /// that sends one again is refused rather than making another.
    pub once: String,
}

impl Frame {
    /// A frame without navigation.
    pub fn public(title: &str) -> Frame {
        Frame { title: title.into(), nav: None, flash: None, error: None, once: credentials::opaque(16) }
    }
}

/// The sign-in page.
#[derive(Template)]
#[template(path = "console/sign_in.html")]
pub struct SignIn {
    /// Frame.
    pub frame: Frame,
    /// The double-submit token, also in a cookie.
    pub csrf: String,
    /// The name typed last time.
    pub username: String,
}

/// A page with one message (refusals, not found).
#[derive(Template)]
#[template(path = "console/message.html")]
pub struct Message {
    /// Frame.
    pub frame: Frame,
    /// What happened and what to do.
    pub message: String,
    /// Where "Continue" goes.
    pub back: String,
}

/// One of the three app types, as the create form offers it.
pub struct TypeChoice {
    /// The API name.
    pub value: &'static str,
    /// The product's name.
    pub label: &'static str,
    /// What it is best for.
    pub hint: &'static str,
}

/// The three types, in the product's order.
pub const TYPES: [TypeChoice; 3] = [
    TypeChoice {
        value: "machine",
        label: "Machine to Machine Application",
        hint: "Best for CLIs, daemons and scripts running on a server: a client secret or a signed JWT, no user.",
    },
    TypeChoice {
        value: "web",
        label: "Web Application",
        hint: "Best for server-side apps that keep their credentials on the server: authorization code with a secret.",
    },
    TypeChoice {
        value: "spa",
        label: "Single Page Web Application",
        hint: "Best for mobile and single-page apps that cannot keep a secret: authorization code with PKCE.",
    },
];

/// The product's name of an app type.
pub fn type_label(kind: &str) -> &'static str {
    TYPES.iter().find(|t| t.value == kind).map(|t| t.label).unwrap_or("Unknown")
}

/// A row of the app list.
pub struct AppRow {
    /// Client ID.
    pub client_id: String,
    /// Name.
    pub name: String,
    /// Type, as the product names it.
    pub type_label: &'static str,
    /// Created, for people.
    pub created: String,
    /// Created, ISO 8601.
    pub created_iso: String,
}

/// The create form (in the list's dialog, or on its own page): the choices, and what was sent after a refusal.
pub struct CreateForm {
    /// The choices.
    pub types: &'static [TypeChoice],
    /// The chosen type.
    pub kind: String,
    /// The name.
    pub name: String,
    /// Errors by field.
    pub errors: HashMap<String, String>,
}

impl CreateForm {
    /// An empty form.
    pub fn empty() -> Self {
        CreateForm { types: &TYPES, kind: String::new(), name: String::new(), errors: HashMap::new() }
    }
}

/// The app list, with the create dialog.
#[derive(Template)]
#[template(path = "console/apps.html")]
pub struct Apps {
    /// Frame.
    pub frame: Frame,
    /// The session's CSRF token.
    pub csrf: String,
    /// Every app.
    pub apps: Vec<AppRow>,
    /// Places used.
    pub used: usize,
    /// Places in all.
    pub max: i64,
    /// Why no app can be created, when none can.
    pub limit_reason: Option<String>,
    /// The create form.
    pub create: CreateForm,
}

/// The create page (the dialog, without JavaScript, or after an error).
#[derive(Template)]
#[template(path = "console/new_app.html")]
pub struct NewApp {
    /// Frame.
    pub frame: Frame,
    /// The session's CSRF token.
    pub csrf: String,
    /// Why no app can be created, when none can.
    pub limit_reason: Option<String>,
    /// The create form.
    pub create: CreateForm,
}

/// The confirmation page of a deletion (the dialog, without JavaScript).
#[derive(Template)]
#[template(path = "console/delete_app.html")]
pub struct DeleteApp {
    /// Frame.
    pub frame: Frame,
    /// The session's CSRF token.
    pub csrf: String,
    /// Client ID.
    pub client_id: String,
    /// Name.
    pub name: String,
}

/// One input of the settings form.
pub struct Field {
    /// The API field name (also the input's name and id).
    pub name: &'static str,
    /// Its label.
    pub label: &'static str,
    /// A line of help.
    pub hint: &'static str,
    /// The input type.
    pub kind: &'static str,
    /// A textarea rather than an input.
    pub multiline: bool,
    /// Required.
    pub required: bool,
    /// The value shown.
    pub value: String,
    /// The API's refusal of this field.
    pub error: Option<String>,
}

/// A client secret's row: never the secret.
pub struct SecretRow {
    /// Record id.
    pub id: String,
    /// Created.
    pub created: String,
    /// Last used, or "never".
    pub last_used: String,
    /// Note.
    pub note: String,
}

/// A public key's row.
pub struct KeyRow {
    /// Key id (`kid`).
    pub id: String,
    /// Algorithm.
    pub alg: String,
    /// Created.
    pub created: String,
    /// Note.
    pub note: String,
}

/// A private key generated just now, shown this once.
pub struct NewKey {
    /// Its `kid`.
    pub kid: String,
    /// The PEM.
    pub pem: String,
    /// The download's file name.
    pub filename: String,
}

/// An app's page.
#[derive(Template)]
#[template(path = "console/app.html")]
pub struct AppPage {
    /// Frame.
    pub frame: Frame,
    /// The session's CSRF token.
    pub csrf: String,
    /// Client ID.
    pub client_id: String,
    /// `machine`, `web` or `spa`.
    pub kind: String,
    /// The product's name of the type.
    pub type_label: &'static str,
    /// The stored name (the heading).
    pub name: String,
    /// Created, for people and ISO.
    pub created: String,
    /// ISO.
    pub created_iso: String,
    /// Updated.
    pub updated: String,
    /// ISO.
    pub updated_iso: String,
    /// An uploaded logo exists.
    pub has_logo: bool,
    /// The settings form's inputs.
    pub fields: Vec<Field>,
    /// Refresh token rotation (web apps).
    pub rotation: bool,
    /// Its refusal.
    pub rotation_error: Option<String>,
    /// Client secrets.
    pub secrets: Vec<SecretRow>,
    /// Public keys.
    pub keys: Vec<KeyRow>,
    /// A secret made just now.
    pub new_secret: Option<String>,
    /// A private key made just now.
    pub new_key: Option<NewKey>,
    /// The new secret's note, after a refusal.
    pub secret_note: String,
    /// Its refusal.
    pub secret_note_error: Option<String>,
    /// The pasted public key, after a refusal.
    pub key_text: String,
    /// Its refusal.
    pub key_error: Option<String>,
    /// The key generation's refusal.
    pub generate_error: Option<String>,
    /// The logo upload's refusal.
    pub logo_error: Option<String>,
}

/// A user's row.
pub struct UserRow {
    /// Login name.
    pub username: String,
    /// Administrator.
    pub is_admin: bool,
    /// Disabled.
    pub disabled: bool,
    /// Created.
    pub created: String,
    /// The signed-in administrator.
    pub is_me: bool,
}

/// The users page.
#[derive(Template)]
#[template(path = "console/users.html")]
pub struct Users {
    /// Frame.
    pub frame: Frame,
    /// The session's CSRF token.
    pub csrf: String,
    /// Every user.
    pub users: Vec<UserRow>,
    /// The add form's name, after a refusal.
    pub add_username: String,
    /// The add form's checkbox, after a refusal.
    pub add_admin: bool,
    /// Refusal of the name.
    pub username_error: Option<String>,
    /// Refusal of the password.
    pub password_error: Option<String>,
}

/// Seconds since the epoch as `YYYY-MM-DD HH:MM UTC` (for people) and ISO 8601 (for `<time>`).
pub fn when(ts: i64) -> (String, String) {
    let days = ts.div_euclid(86_400);
    let secs = ts.rem_euclid(86_400);
    // Howard Hinnant's civil_from_days.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    let (h, min, s) = (secs / 3600, secs % 3600 / 60, secs % 60);
    (format!("{y:04}-{m:02}-{d:02} {h:02}:{min:02} UTC"), format!("{y:04}-{m:02}-{d:02}T{h:02}:{min:02}:{s:02}Z"))
}

/// A JSON string field of a view, or "".
pub fn text(v: &Value, field: &str) -> String {
    match &v[field] {
        Value::String(s) => s.clone(),
        Value::Number(n) => n.to_string(),
        _ => String::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates() {
        assert_eq!(when(0).0, "1970-01-01 00:00 UTC");
        assert_eq!(when(1_795_830_000).1, "2026-11-28T01:40:00Z");
        assert_eq!(when(951_782_400).0, "2000-02-29 00:00 UTC");
    }

    #[test]
    fn pages_escape_what_they_show() {
        let page =
            Message { frame: Frame::public("<b>"), message: "<script>alert(1)</script>".into(), back: "\"><x".into() };
        let html = page.render().unwrap();
        assert!(!html.contains("<script>alert") && !html.contains("<b>") && !html.contains("\"><x"), "{html}");
    }
}
