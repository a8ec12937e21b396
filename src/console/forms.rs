//! From HTML forms to the registry's JSON and back: the console sends the registry the same JSON objects the admin
//! API takes, so that every rule and every refusal message is the API's.

use axum::extract::Multipart;
use serde_json::{json, Map, Value};

use super::views::{text, Field};
use crate::registry::{AppInput, FieldError, InputError};

/// A submitted form: its fields in order (a name may repeat).
#[derive(Debug, Default)]
pub struct Form {
    fields: Vec<(String, String)>,
    /// Uploaded files: (field name, content type, bytes); empty file inputs are left out.
    files: Vec<(String, String, Vec<u8>)>,
}

impl Form {
    /// An `application/x-www-form-urlencoded` body.
    pub fn urlencoded(body: &[u8]) -> Form {
        Form { fields: url::form_urlencoded::parse(body).into_owned().collect(), files: Vec::new() }
    }

    /// A `multipart/form-data` body: text fields, and files with their content type.
    pub async fn multipart(mut mp: Multipart) -> Result<Form, String> {
        let mut form = Form::default();
        while let Some(field) = mp.next_field().await.map_err(|e| format!("the upload could not be read: {e}"))? {
            let name = field.name().unwrap_or_default().to_string();
            let is_file = field.file_name().is_some();
            let ct = field.content_type().unwrap_or("application/octet-stream").to_string();
            let data = field.bytes().await.map_err(|e| format!("the upload could not be read: {e}"))?;
            if is_file {
                if !data.is_empty() {
                    form.files.push((name, ct, data.to_vec()));
                }
            } else {
                form.fields.push((name, String::from_utf8_lossy(&data).into_owned()));
            }
        }
        Ok(form)
    }

    /// The first value of `name`, or "".
    pub fn get(&self, name: &str) -> &str {
        self.fields.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str()).unwrap_or_default()
    }

    /// Whether `name` was sent (a checked checkbox).
    pub fn has(&self, name: &str) -> bool {
        self.fields.iter().any(|(k, _)| k == name)
    }

    /// The uploaded file of `name`: (content type, bytes).
    pub fn file(&self, name: &str) -> Option<(&str, &[u8])> {
        self.files.iter().find(|(k, _, _)| k == name).map(|(_, ct, d)| (ct.as_str(), d.as_slice()))
    }
}

struct Spec {
    name: &'static str,
    label: &'static str,
    hint: &'static str,
    kind: &'static str,
    multiline: bool,
}

const fn spec(name: &'static str, label: &'static str, hint: &'static str, kind: &'static str) -> Spec {
    Spec { name, label, hint, kind, multiline: false }
}

const NAME: Spec = spec("name", "Name", "", "text");
const DESCRIPTION: Spec = Spec { multiline: true, ..spec("description", "Description", "", "text") };
const REDIRECTS: Spec = Spec {
    multiline: true,
    ..spec("redirect_urls", "Redirect URLs", "One per line: https, or http on a loopback address.", "text")
};
const ABSOLUTE: Spec = spec(
    "refresh_token_absolute_expiry_secs",
    "Refresh token absolute expiration (seconds)",
    "Empty: refresh tokens never expire by age.",
    "text",
);
const INACTIVITY: Spec = spec(
    "refresh_token_inactivity_expiry_secs",
    "Refresh token inactivity expiration (seconds)",
    "Empty: never. 15552000 is 180 days.",
    "text",
);
const LOGO_URL: Spec = spec("logo_url", "Logo URL", "Or upload a logo below.", "url");
const DESCRIPTION_URL: Spec = spec("app_description_url", "App description URL", "", "url");
const DEVELOPER: Spec = spec("developer_name", "Developer name", "", "text");
const EMAIL: Spec = spec("developer_email", "Developer email", "", "email");
const PRIVACY: Spec = spec("privacy_policy_url", "Privacy policy URL", "", "url");
const JWT_SUBJECTS: Spec = Spec {
    multiline: true,
    ..spec(
        "jwt_subjects",
        "Users it may act as (JWT bearer)",
        "One user name per line: the only users its assertions may name as sub. Empty: none.",
        "text",
    )
};
const SCOPES: Spec = Spec {
    multiline: true,
    ..spec("scopes", "Scopes it may be granted", "One per line. Empty: the server's default scopes.", "text")
};

fn specs(kind: &str) -> Vec<&'static Spec> {
    match kind {
        "web" => vec![&NAME, &DESCRIPTION, &REDIRECTS, &ABSOLUTE, &INACTIVITY, &LOGO_URL, &DESCRIPTION_URL],
        "spa" => vec![&NAME, &DESCRIPTION, &REDIRECTS, &ABSOLUTE, &INACTIVITY, &LOGO_URL, &DEVELOPER, &EMAIL, &PRIVACY],
        _ => vec![&NAME, &DESCRIPTION, &JWT_SUBJECTS, &SCOPES],
    }
}

/// A field's value as the form shows it, from the app's view.
fn shown(view: &Value, name: &str) -> String {
    match &view[name] {
        Value::Array(items) => items.iter().filter_map(Value::as_str).collect::<Vec<_>>().join("\n"),
        _ => text(view, name),
    }
}

/// The settings form's inputs, from the app's view or, after a refusal, from what was submitted.
pub fn settings_fields(kind: &str, view: &Value, submitted: Option<&Form>) -> Vec<Field> {
    specs(kind)
        .into_iter()
        .map(|s| Field {
            name: s.name,
            label: s.label,
            hint: s.hint,
            kind: s.kind,
            multiline: s.multiline,
            required: s.name == "name",
            value: submitted.map(|f| f.get(s.name).to_string()).unwrap_or_else(|| shown(view, s.name)),
            error: None,
        })
        .collect()
}

/// An optional text field: empty is `null`.
fn optional(v: &str) -> Value {
    if v.trim().is_empty() {
        Value::Null
    } else {
        v.trim().into()
    }
}

/// A number of seconds: empty is `null` (no expiration), digits a number, anything else is passed on as text so
/// that the registry refuses it with its own message.
fn seconds(v: &str) -> Value {
    let v = v.trim();
    if v.is_empty() {
        Value::Null
    } else {
        v.parse::<i64>().map(Value::from).unwrap_or_else(|_| v.into())
    }
}

/// The settings form of an app of `kind`, whose current view is `view`, as the registry's input: each field checked
/// as the admin API checks it.
pub fn settings_input(kind: &str, form: &Form, view: &Value) -> Result<AppInput, FieldError> {
    match AppInput::from_json(&settings_json(kind, form, view)) {
        Ok(input) => Ok(input),
        Err(InputError::Field(f)) => Err(f),
        Err(InputError::NotAnObject) => unreachable!("the settings form is an object"),
    }
}

/// The settings form as the admin API's update JSON. A field shown unchanged is still sent, except `logo_url` (an
/// uploaded logo's own address is not a URL one may type).
fn settings_json(kind: &str, form: &Form, view: &Value) -> Value {
    let mut o = Map::new();
    o.insert("name".into(), form.get("name").into());
    o.insert("description".into(), form.get("description").into());
    if kind == "web" || kind == "spa" {
        let urls: Vec<&str> = form.get("redirect_urls").lines().map(str::trim).filter(|l| !l.is_empty()).collect();
        o.insert("redirect_urls".into(), json!(urls));
        for f in ["refresh_token_absolute_expiry_secs", "refresh_token_inactivity_expiry_secs"] {
            o.insert(f.into(), seconds(form.get(f)));
        }
        if form.get("logo_url").trim() != text(view, "logo_url") {
            o.insert("logo_url".into(), optional(form.get("logo_url")));
        }
    }
    match kind {
        "web" => {
            o.insert("refresh_token_rotation".into(), form.has("refresh_token_rotation").into());
            o.insert("app_description_url".into(), optional(form.get("app_description_url")));
        }
        "spa" => {
            for f in ["developer_name", "developer_email", "privacy_policy_url"] {
                o.insert(f.into(), optional(form.get(f)));
            }
        }
        "machine" => {
            let lines = |f: &str| -> Vec<String> { form.get(f).split_whitespace().map(str::to_string).collect() };
            o.insert("jwt_subjects".into(), json!(lines("jwt_subjects")));
            let scopes = lines("scopes");
            o.insert("scopes".into(), if scopes.is_empty() { Value::Null } else { json!(scopes) });
        }
        _ => {}
    }
    Value::Object(o)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn web_form_becomes_the_api_json() {
        let form = Form::urlencoded(
            b"name=Shop&description=&redirect_urls=https%3A%2F%2Fa.example%2Fcb%0D%0A%0D%0Ahttps%3A%2F%2Fb.example%2Fcb\
              &refresh_token_absolute_expiry_secs=&refresh_token_inactivity_expiry_secs=60&logo_url=%2Foauth2%2Flogo%2Fx\
              &app_description_url=",
        );
        let view = json!({"logo_url": "/oauth2/logo/x"});
        let input = settings_json("web", &form, &view);
        assert_eq!(
            input,
            json!({"name": "Shop", "description": "", "redirect_urls": ["https://a.example/cb", "https://b.example/cb"],
                   "refresh_token_absolute_expiry_secs": null, "refresh_token_inactivity_expiry_secs": 60,
                   "refresh_token_rotation": false, "app_description_url": null})
        );
        let odd = settings_json("spa", &Form::urlencoded(b"refresh_token_inactivity_expiry_secs=soon"), &view);
        assert_eq!(odd["refresh_token_inactivity_expiry_secs"], "soon");
        assert!(odd.get("refresh_token_rotation").is_none());
        let machine =
            settings_json("machine", &Form::urlencoded(b"name=M&jwt_subjects=alice%0D%0Azo%C3%AB&scopes="), &view);
        assert_eq!(machine, json!({"name": "M", "description": "", "jwt_subjects": ["alice", "zoë"], "scopes": null}));
    }
}
