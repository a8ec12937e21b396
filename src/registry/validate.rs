//! Field rules of the registry: which fields each app type has, and what each accepts. Every refusal names the field.

use serde_json::{Map, Value};
use url::Url;

use crate::store::{AppRecord, AppType};

/// A refused field.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("`{field}`: {reason}")]
pub struct FieldError {
    /// The field's name.
    pub field: String,
    /// Why.
    pub reason: String,
}

impl FieldError {
    /// A refusal of `field`.
    pub fn new(field: impl Into<String>, reason: impl Into<String>) -> Self {
        FieldError { field: field.into(), reason: reason.into() }
    }
}

const COMMON: &[&str] = &["type", "name", "description"];
const MACHINE: &[&str] = &["jwt_subjects", "scopes", "introspect_any"];
const WEB: &[&str] = &[
    "redirect_urls",
    "refresh_token_rotation",
    "refresh_token_absolute_expiry_secs",
    "refresh_token_inactivity_expiry_secs",
    "logo_url",
    "app_description_url",
];
const SPA: &[&str] = &[
    "redirect_urls",
    "refresh_token_rotation",
    "refresh_token_absolute_expiry_secs",
    "refresh_token_inactivity_expiry_secs",
    "logo_url",
    "developer_name",
    "developer_email",
    "privacy_policy_url",
];
const ALL: &[&str] = &[
    "redirect_urls",
    "refresh_token_rotation",
    "refresh_token_absolute_expiry_secs",
    "refresh_token_inactivity_expiry_secs",
    "logo_url",
    "app_description_url",
    "developer_name",
    "developer_email",
    "privacy_policy_url",
    "jwt_subjects",
    "scopes",
    "introspect_any",
];
const MAX_EXPIRY_SECS: i64 = 10 * 365 * 86_400;

fn fields(t: AppType) -> &'static [&'static str] {
    match t {
        AppType::Machine => MACHINE,
        AppType::Web => WEB,
        AppType::Spa => SPA,
    }
}

fn string<'a>(field: &str, v: &'a Value) -> Result<&'a str, FieldError> {
    v.as_str().ok_or_else(|| FieldError::new(field, "must be a string"))
}

fn optional_string<'a>(field: &str, v: &'a Value) -> Result<Option<&'a str>, FieldError> {
    match v {
        Value::Null => Ok(None),
        Value::String(s) if s.trim().is_empty() => Ok(None),
        Value::String(s) => Ok(Some(s)),
        _ => Err(FieldError::new(field, "must be a string or null")),
    }
}

fn bounded(field: &str, s: &str, max: usize) -> Result<(), FieldError> {
    if s.chars().count() > max {
        return Err(FieldError::new(field, format!("at most {max} characters")));
    }
    if s.chars().any(|c| c.is_control() && c != '\n' && c != '\t') {
        return Err(FieldError::new(field, "must not contain control characters"));
    }
    Ok(())
}

/// An absolute http(s) URL.
pub fn web_url(field: &str, s: &str) -> Result<String, FieldError> {
    if s.len() > 2048 {
        return Err(FieldError::new(field, "at most 2048 characters"));
    }
    let u = Url::parse(s).map_err(|e| FieldError::new(field, format!("`{s}` is not an absolute URL: {e}")))?;
    if !matches!(u.scheme(), "https" | "http") || u.host_str().is_none() {
        return Err(FieldError::new(field, format!("`{s}` must be an http(s) URL with a host")));
    }
    if !u.username().is_empty() || u.password().is_some() {
        return Err(FieldError::new(field, format!("`{s}` must not carry credentials")));
    }
    Ok(s.to_string())
}

/// Whether `u` names this machine (a loopback address, or `localhost` in any case): the one place `http` is allowed
/// for a redirect URI or the authorization server's issuer.
pub fn is_loopback(u: &Url) -> bool {
    match u.host() {
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        Some(url::Host::Domain(d)) => d.eq_ignore_ascii_case("localhost"),
        None => false,
    }
}

/// A redirect URI: absolute, https (http only on loopback), or a native app's private-use scheme in reverse-domain
/// form (`com.example.app:/cb`, RFC 8252 7.1); no fragment, no userinfo (RFC 9700 2.1, 4.1).
pub fn redirect_url(s: &str) -> Result<String, FieldError> {
    let field = "redirect_urls";
    if s.len() > 2048 {
        return Err(FieldError::new(field, "each at most 2048 characters"));
    }
    let u = Url::parse(s).map_err(|e| FieldError::new(field, format!("`{s}` is not an absolute URL: {e}")))?;
    if u.fragment().is_some() || s.contains('#') {
        return Err(FieldError::new(field, format!("`{s}` must not have a fragment")));
    }
    if !u.username().is_empty() || u.password().is_some() {
        return Err(FieldError::new(field, format!("`{s}` must not carry userinfo")));
    }
    match u.scheme() {
        "https" if u.host_str().is_some() => Ok(s.to_string()),
        "http" if is_loopback(&u) => Ok(s.to_string()),
        "http" => Err(FieldError::new(field, format!("`{s}`: plain http is allowed only for loopback hosts"))),
        scheme if is_private_use_scheme(scheme) => Ok(s.to_string()),
        _ => Err(FieldError::new(
            field,
            format!(
                "`{s}` must be an https URL, or a native app's scheme in reverse-domain form (com.example.app:/cb)"
            ),
        )),
    }
}

/// A private-use URI scheme of a native app: a domain name in reverse order, at least two labels
/// (`com.example.app`, RFC 8252 7.1).
pub fn is_private_use_scheme(scheme: &str) -> bool {
    let labels: Vec<&str> = scheme.split('.').collect();
    labels.len() >= 2
        && labels
            .iter()
            .all(|l| !l.is_empty() && l.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-'))
}

/// Whether a requested redirect URI matches a registered one: the same string, or, for a loopback IP literal
/// (`http://127.0.0.1`, `http://[::1]`), the same but for the port, which a native app picks when it starts
/// (RFC 8252 7.3). Paths and queries are compared exactly; `localhost` gets no such leeway (RFC 8252 8.3).
pub fn redirect_matches(registered: &str, requested: &str) -> bool {
    if registered == requested {
        return true;
    }
    let (Ok(r), Ok(q)) = (Url::parse(registered), Url::parse(requested)) else { return false };
    let loopback_ip = |u: &Url| {
        u.scheme() == "http"
            && match u.host() {
                Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
                Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
                _ => false,
            }
    };
    loopback_ip(&r)
        && loopback_ip(&q)
        && r.host() == q.host()
        && r.path() == q.path()
        && r.query() == q.query()
        && q.username().is_empty()
        && q.password().is_none()
        && q.fragment().is_none()
}

/// A plausible email address (one `@`, a dotted domain, no spaces).
pub fn email(s: &str) -> Result<String, FieldError> {
    let field = "developer_email";
    let ok = s.len() <= 254
        && !s.chars().any(|c| c.is_whitespace() || c.is_control())
        && s.split_once('@').is_some_and(|(local, domain)| {
            !local.is_empty()
                && !domain.contains('@')
                && domain.contains('.')
                && !domain.starts_with('.')
                && !domain.ends_with('.')
                && !domain.contains("..")
        });
    if ok {
        Ok(s.to_string())
    } else {
        Err(FieldError::new(field, format!("`{s}` is not an email address")))
    }
}

fn expiry(field: &str, v: &Value, nullable: bool) -> Result<Option<i64>, FieldError> {
    match v {
        Value::Null if nullable => Ok(None),
        Value::Number(n) => match n.as_i64() {
            Some(i) if i > 0 && i <= MAX_EXPIRY_SECS => Ok(Some(i)),
            _ => Err(FieldError::new(
                field,
                format!("must be a whole number of seconds between 1 and {MAX_EXPIRY_SECS}"),
            )),
        },
        _ if nullable => Err(FieldError::new(field, "must be a number of seconds, or null for no expiration")),
        _ => Err(FieldError::new(field, "must be a number of seconds")),
    }
}

/// The fields an administrator may not set (they are the registry's): named in a change, they are refused.
pub const FIXED: &[&str] = &["client_id", "created_at", "updated_at", "secrets", "public_keys"];

/// An app's settings as an administrator sends them (the admin API's JSON, the console's form, the CLI's flags),
/// each field checked for its shape and value; `None` leaves a field as it is. Which fields an app of a given type
/// has is decided by `apply`.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct AppInput {
    /// `type` (on creation).
    pub app_type: Option<AppType>,
    /// `name`, trimmed, not empty.
    pub name: Option<String>,
    /// `description`.
    pub description: Option<String>,
    /// `redirect_urls`, each checked (RFC 9700), without duplicates.
    pub redirect_urls: Option<Vec<String>>,
    /// `refresh_token_rotation`.
    pub refresh_token_rotation: Option<bool>,
    /// `refresh_token_absolute_expiry_secs` (`Some(None)`: never).
    pub refresh_token_absolute_expiry_secs: Option<Option<i64>>,
    /// `refresh_token_inactivity_expiry_secs` (`Some(None)`: never).
    pub refresh_token_inactivity_expiry_secs: Option<Option<i64>>,
    /// `logo_url`.
    pub logo_url: Option<Option<String>>,
    /// `app_description_url` (web apps).
    pub app_description_url: Option<Option<String>>,
    /// `developer_name` (single-page apps).
    pub developer_name: Option<Option<String>>,
    /// `developer_email` (single-page apps).
    pub developer_email: Option<Option<String>>,
    /// `privacy_policy_url` (single-page apps).
    pub privacy_policy_url: Option<Option<String>>,
    /// `jwt_subjects` (machine apps).
    pub jwt_subjects: Option<Vec<String>>,
    /// `scopes` (machine apps; `Some(None)`: the server's default scopes).
    pub scopes: Option<Option<Vec<String>>>,
    /// `introspect_any` (machine apps): a resource server that may introspect any token of this server.
    pub introspect_any: Option<bool>,
    /// Every field named, in the order given, the fixed ones included (refused by `apply`).
    named: Vec<String>,
}

impl AppInput {
    /// Reads a JSON object: unknown fields are refused; each known field is checked for its shape and value.
    pub fn from_json(input: &Value) -> Result<AppInput, InputError> {
        let obj = input.as_object().ok_or(InputError::NotAnObject)?;
        Ok(AppInput::from_object(obj)?)
    }

    fn from_object(obj: &Map<String, Value>) -> Result<AppInput, FieldError> {
        for key in obj.keys() {
            let k = key.as_str();
            if !(COMMON.contains(&k) || ALL.contains(&k) || FIXED.contains(&k)) {
                return Err(FieldError::new(k, "unknown field"));
            }
        }
        let mut input = AppInput { named: obj.keys().cloned().collect(), ..AppInput::default() };
        for (key, v) in obj {
            match key.as_str() {
                "type" => input.app_type = Some(app_type(v)?),
                "name" => {
                    let s = string("name", v)?.trim();
                    if s.is_empty() {
                        return Err(FieldError::new("name", "must not be empty"));
                    }
                    bounded("name", s, 255)?;
                    input.name = Some(s.to_string());
                }
                "description" => {
                    let s = match v {
                        Value::Null => "",
                        _ => string("description", v)?,
                    };
                    bounded("description", s, 4000)?;
                    input.description = Some(s.to_string());
                }
                "redirect_urls" => {
                    let list =
                        v.as_array().ok_or_else(|| FieldError::new("redirect_urls", "must be a list of URLs"))?;
                    if list.len() > 20 {
                        return Err(FieldError::new("redirect_urls", "at most 20 URLs"));
                    }
                    let mut urls = Vec::new();
                    for item in list {
                        let url = redirect_url(string("redirect_urls", item)?)?;
                        if !urls.contains(&url) {
                            urls.push(url);
                        }
                    }
                    input.redirect_urls = Some(urls);
                }
                "refresh_token_rotation" => {
                    input.refresh_token_rotation = Some(
                        v.as_bool()
                            .ok_or_else(|| FieldError::new("refresh_token_rotation", "must be true or false"))?,
                    )
                }
                "refresh_token_absolute_expiry_secs" => {
                    input.refresh_token_absolute_expiry_secs =
                        Some(expiry("refresh_token_absolute_expiry_secs", v, true)?)
                }
                "refresh_token_inactivity_expiry_secs" => {
                    input.refresh_token_inactivity_expiry_secs =
                        Some(expiry("refresh_token_inactivity_expiry_secs", v, true)?)
                }
                "logo_url" => input.logo_url = Some(optional_url("logo_url", v)?),
                "app_description_url" => input.app_description_url = Some(optional_url("app_description_url", v)?),
                "privacy_policy_url" => input.privacy_policy_url = Some(optional_url("privacy_policy_url", v)?),
                "developer_name" => {
                    let s = optional_string("developer_name", v)?;
                    if let Some(s) = s {
                        bounded("developer_name", s, 255)?;
                    }
                    input.developer_name = Some(s.map(str::to_string));
                }
                "developer_email" => {
                    input.developer_email = Some(optional_string("developer_email", v)?.map(email).transpose()?)
                }
                "jwt_subjects" => input.jwt_subjects = Some(jwt_subjects(v)?),
                "scopes" => input.scopes = Some(scopes(v)?),
                "introspect_any" => {
                    input.introspect_any =
                        Some(v.as_bool().ok_or_else(|| FieldError::new("introspect_any", "must be true or false"))?)
                }
                _ => {}
            }
        }
        Ok(input)
    }

    /// Whether the input names `field`.
    pub fn names(&self, field: &str) -> bool {
        self.named.iter().any(|n| n == field)
    }
}

/// Why an app's settings could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum InputError {
    /// The body is not a JSON object (400).
    #[error("the body must be a JSON object")]
    NotAnObject,
    /// A field is refused (422).
    #[error(transparent)]
    Field(#[from] FieldError),
}

fn optional_url(field: &str, v: &Value) -> Result<Option<String>, FieldError> {
    optional_string(field, v)?.map(|s| web_url(field, s)).transpose()
}

/// The `type` of a new app.
fn app_type(v: &Value) -> Result<AppType, FieldError> {
    match v {
        Value::String(s) => AppType::parse(s)
            .ok_or_else(|| FieldError::new("type", format!("`{s}` is not one of \"machine\", \"web\", \"spa\""))),
        _ => Err(FieldError::new("type", "must be a string")),
    }
}

/// Applies `input` to `app`: refuses the fields of other app types and the fixed ones (`type` too, unless
/// `creating`); on creation `name` is required.
pub fn apply(app: &mut AppRecord, input: &AppInput, creating: bool) -> Result<(), FieldError> {
    let allowed = fields(app.app_type);
    for k in input.named.iter().map(String::as_str) {
        if FIXED.contains(&k) || (k == "type" && !creating) {
            return Err(FieldError::new(k, "cannot be changed"));
        }
        if !(COMMON.contains(&k) || allowed.contains(&k)) {
            return Err(FieldError::new(k, format!("is not a field of {} apps", app.app_type.as_str())));
        }
    }
    if creating && input.name.is_none() {
        return Err(FieldError::new("name", "missing: every app needs a name"));
    }
    if app.app_type != AppType::Spa {
        let native = input.redirect_urls.iter().flatten().find(|u| !u.starts_with("https:") && !u.starts_with("http:"));
        if let Some(u) = native {
            return Err(FieldError::new(
                "redirect_urls",
                format!("`{u}` is a native app's redirect: only single-page and native apps (type spa) may use one"),
            ));
        }
    }
    if input.refresh_token_rotation == Some(false) && app.app_type == AppType::Spa {
        return Err(FieldError::new(
            "refresh_token_rotation",
            "single-page apps are public clients: their refresh tokens must rotate (RFC 9700 4.14.2)",
        ));
    }
    // Each field given replaces the app's; the others stay.
    macro_rules! copy {
        ($($field:ident),*) => {
            $(if let Some(v) = &input.$field {
                app.$field = v.clone();
            })*
        };
    }
    copy!(
        name,
        description,
        redirect_urls,
        refresh_token_rotation,
        refresh_token_absolute_expiry_secs,
        refresh_token_inactivity_expiry_secs,
        logo_url,
        app_description_url,
        developer_name,
        developer_email,
        privacy_policy_url,
        jwt_subjects,
        scopes,
        introspect_any
    );
    Ok(())
}

/// The users a machine app may name as `sub` in a JWT bearer assertion: a list of user names (NFC), at most 100.
fn jwt_subjects(v: &Value) -> Result<Vec<String>, FieldError> {
    let field = "jwt_subjects";
    let list = v.as_array().ok_or_else(|| FieldError::new(field, "must be a list of user names"))?;
    if list.len() > 100 {
        return Err(FieldError::new(field, "at most 100 user names"));
    }
    let mut out = Vec::new();
    for item in list {
        let name = item.as_str().ok_or_else(|| FieldError::new(field, "each must be a user name (a string)"))?;
        let name = username(name).map_err(|e| FieldError::new(field, e.reason))?;
        if !out.contains(&name) {
            out.push(name);
        }
    }
    Ok(out)
}

/// The scopes a machine app may be granted: a list of scope tokens (RFC 6749 3.3), or null for the server's default
/// scopes.
fn scopes(v: &Value) -> Result<Option<Vec<String>>, FieldError> {
    let field = "scopes";
    let list = match v {
        Value::Null => return Ok(None),
        Value::Array(l) => l,
        _ => return Err(FieldError::new(field, "must be a list of scopes, or null for the server's default scopes")),
    };
    if list.len() > 100 {
        return Err(FieldError::new(field, "at most 100 scopes"));
    }
    let mut out: Vec<String> = Vec::new();
    for item in list {
        let s = item.as_str().ok_or_else(|| FieldError::new(field, "each must be a scope (a string)"))?;
        let token_char = |c: char| c == '!' || ('#'..='[').contains(&c) || (']'..='~').contains(&c);
        if s.is_empty() || s.len() > 128 || !s.chars().all(token_char) {
            return Err(FieldError::new(field, format!("`{s}` is not a scope token (RFC 6749 3.3)")));
        }
        if !out.iter().any(|o| o == s) {
            out.push(s.to_string());
        }
    }
    out.sort();
    Ok(Some(out))
}

/// A secret's note.
pub fn note(note: Option<&str>) -> Result<String, FieldError> {
    let n = note.unwrap_or_default();
    if n.chars().count() > super::MAX_NOTE_CHARS {
        return Err(FieldError::new("note", format!("at most {} characters", super::MAX_NOTE_CHARS)));
    }
    bounded("note", n, super::MAX_NOTE_CHARS)?;
    Ok(n.to_string())
}

/// A login name in its stored form (NFC). What a name may hold: 1 to 64 characters, letters and digits of any one
/// script (with the ASCII digits and `.` `_` `-` `@` that every script may use), so `zoë` and `山田` are names but
/// `аdmin` (a Cyrillic `а` among Latin letters) is not.
pub fn username(name: &str) -> Result<String, FieldError> {
    let name = normalized(name);
    if name.is_empty() || name.chars().count() > 64 {
        return Err(FieldError::new("username", "must be 1 to 64 characters"));
    }
    if !name.chars().all(|c| c.is_alphanumeric() || matches!(c, '.' | '_' | '-' | '@')) {
        return Err(FieldError::new("username", "may hold letters, digits and . _ - @ only"));
    }
    if !unicode_security::MixedScript::is_single_script(name.as_str()) {
        return Err(FieldError::new(
            "username",
            format!("`{name}` mixes letters of different scripts (such as Latin and Cyrillic): use one script"),
        ));
    }
    Ok(name)
}

/// The NFC form of a name, as stored and as looked up at sign-in.
pub fn normalized(name: &str) -> String {
    use unicode_normalization::UnicodeNormalization;
    name.nfc().collect()
}

/// What a name looks like: its UTS #39 confusable skeleton, lowercased, so that `Admin`, `admin` and a Cyrillic
/// `аdmin` look the same.
pub fn username_skeleton(name: &str) -> String {
    let lower: String = normalized(name).to_lowercase();
    unicode_security::skeleton(&lower).collect::<String>().to_lowercase()
}

/// A new password.
pub fn password(p: &str) -> Result<(), FieldError> {
    if p.chars().count() < super::MIN_PASSWORD_CHARS {
        return Err(FieldError::new("password", format!("at least {} characters", super::MIN_PASSWORD_CHARS)));
    }
    if p.len() > 1024 {
        return Err(FieldError::new("password", "at most 1024 bytes"));
    }
    Ok(())
}

/// An uploaded logo: a raster image type, bytes that are that type, not too large.
pub fn logo(content_type: &str, data: &[u8]) -> Result<(), FieldError> {
    let ct = content_type.split(';').next().unwrap_or_default().trim().to_ascii_lowercase();
    let magic: &[&[u8]] = match ct.as_str() {
        "image/png" => &[b"\x89PNG\r\n\x1a\n"],
        "image/jpeg" => &[b"\xff\xd8\xff"],
        "image/gif" => &[b"GIF87a", b"GIF89a"],
        "image/webp" => &[b"RIFF"],
        _ => return Err(FieldError::new("logo", "must be image/png, image/jpeg, image/gif or image/webp")),
    };
    if data.is_empty() || data.len() > super::MAX_LOGO_BYTES {
        return Err(FieldError::new("logo", format!("must be 1 byte to {} KiB", super::MAX_LOGO_BYTES / 1024)));
    }
    let webp_ok = ct != "image/webp" || data.get(8..12) == Some(b"WEBP");
    if !magic.iter().any(|m| data.starts_with(m)) || !webp_ok {
        return Err(FieldError::new("logo", format!("the bytes are not a {ct} image")));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redirect_urls_follow_rfc9700() {
        assert!(redirect_url("https://app.example/cb").is_ok());
        assert!(redirect_url("http://127.0.0.1:8400/cb").is_ok());
        assert!(redirect_url("http://[::1]/cb").is_ok());
        assert!(redirect_url("http://localhost:3000/cb").is_ok());
        assert!(redirect_url("http://app.example/cb").is_err());
        assert!(redirect_url("https://app.example/cb#x").is_err());
        assert!(redirect_url("https://user:pw@app.example/cb").is_err());
        assert!(redirect_url("/cb").is_err());
        assert!(redirect_url("javascript:alert(1)").is_err());
        // Native apps (RFC 8252 7.1): reverse-domain private-use schemes only.
        assert!(redirect_url("com.example.app:/oauth2redirect").is_ok());
        assert!(redirect_url("com.example.app:/cb#x").is_err());
        for bad in ["myapp:/cb", "data:text/html,x", "file:///etc/passwd", "ftp://x.example/cb", "com:/cb"] {
            assert!(redirect_url(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn loopback_ip_redirects_match_on_any_port_and_nothing_else_does() {
        let r = "http://127.0.0.1/cb";
        assert!(redirect_matches(r, "http://127.0.0.1:51234/cb"));
        assert!(redirect_matches("http://[::1]:8000/cb", "http://[::1]:9999/cb"));
        assert!(!redirect_matches(r, "http://127.0.0.1:51234/cb/other"));
        assert!(!redirect_matches(r, "http://127.0.0.1:51234/cb?x=1"));
        assert!(!redirect_matches(r, "http://[::1]:51234/cb"), "another host");
        assert!(!redirect_matches("http://localhost:3000/cb", "http://localhost:3001/cb"), "localhost: exact only");
        assert!(!redirect_matches("https://app.example/cb", "https://app.example:8443/cb"));
    }

    #[test]
    fn usernames_are_nfc_single_script_and_confusables_look_alike() {
        assert_eq!(username("zoe\u{308}").unwrap(), "zo\u{eb}");
        assert!(username("zoë").is_ok() && username("山田").is_ok() && username("j.doe@example").is_ok());
        assert!(username("\u{430}dmin").is_err(), "Cyrillic a among Latin letters");
        assert!(username("a b").is_err() && username("").is_err());
        assert_eq!(username_skeleton("\u{430}\u{440}\u{435}"), username_skeleton("ape"));
        assert_eq!(username_skeleton("Admin"), username_skeleton("admin"));
        assert_ne!(username_skeleton("zoë"), username_skeleton("zoe"));
    }

    #[test]
    fn emails() {
        assert!(email("dev@example.com").is_ok());
        for bad in
            ["dev", "dev@", "@example.com", "dev@example", "a b@example.com", "dev@@example.com", "dev@.example.com"]
        {
            assert!(email(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn logos_are_checked_by_their_bytes() {
        assert!(logo("image/png", b"\x89PNG\r\n\x1a\nrest").is_ok());
        assert!(logo("image/png", b"<svg>").is_err());
        assert!(logo("image/svg+xml", b"<svg>").is_err());
        assert!(logo("image/png", &vec![0u8; super::super::MAX_LOGO_BYTES + 1]).is_err());
    }
}
