//! The HTML the user sees: login, consent, errors. Every value is escaped; forms carry their authorization request and
//! a CSRF token; pages refuse framing and load nothing from elsewhere but an app's logo.

use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};

/// Escapes text for HTML element content and quoted attribute values.
pub fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#x27;"),
            _ => out.push(c),
        }
    }
    out
}

const STYLE: &str = "body{font-family:system-ui,sans-serif;background:#f4f5f7;color:#1d1f23;margin:0}\
main{max-width:26rem;margin:4rem auto;background:#fff;padding:2rem;border-radius:8px;box-shadow:0 1px 4px #0002}\
h1{font-size:1.3rem;margin-top:0}label{display:block;margin:.8rem 0 .2rem;font-weight:600}\
input[type=text],input[type=password]{width:100%;padding:.5rem;box-sizing:border-box;border:1px solid #888;border-radius:4px}\
button{margin-top:1rem;padding:.55rem 1.2rem;border:0;border-radius:4px;background:#1456c8;color:#fff;font-size:1rem;cursor:pointer}\
button.secondary{background:#e4e6ea;color:#1d1f23;margin-left:.5rem}.error{color:#b00020}\
ul.scopes{padding-left:1.2rem}img.logo{max-width:64px;max-height:64px;float:right}";

/// `GET /oauth2/assets/style.css`.
pub async fn stylesheet() -> Response {
    ([(http::header::CONTENT_TYPE, "text/css"), (http::header::CACHE_CONTROL, "public, max-age=3600")], STYLE)
        .into_response()
}

/// A page with the security headers: no framing, no caching, a CSP that allows forms to post only here and to
/// `form_target` (the client's redirect origin, which browsers check on the redirect after the consent form).
pub fn page(status: StatusCode, title: &str, body: &str, form_target: Option<&str>) -> Response {
    let html = format!(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <title>{}</title><link rel=\"stylesheet\" href=\"/oauth2/assets/style.css\"></head><body><main>{body}</main></body></html>",
        escape(title)
    );
    let form_action = match form_target {
        Some(origin) => format!("'self' {origin}"),
        None => "'self'".to_string(),
    };
    let csp = format!(
        "default-src 'none'; style-src 'self'; img-src 'self' https: http://127.0.0.1:* http://localhost:*; form-action {form_action}; frame-ancestors 'none'; base-uri 'none'"
    );
    html_response(status, html, &csp)
}

/// An HTML answer with the security headers every page carries: `csp`, no framing, no caching, no sniffing, no
/// referrer. Shared with the admin console.
pub fn html_response(status: StatusCode, html: String, csp: &str) -> Response {
    let mut r = (status, html).into_response();
    let h = r.headers_mut();
    h.insert(http::header::CONTENT_TYPE, HeaderValue::from_static("text/html; charset=utf-8"));
    h.insert(http::header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    h.insert(http::header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    h.insert(http::header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    h.insert(http::header::REFERRER_POLICY, HeaderValue::from_static("no-referrer"));
    if let Ok(v) = HeaderValue::from_str(csp) {
        h.insert(http::header::CONTENT_SECURITY_POLICY, v);
    }
    r
}

/// The script that submits a form-post response: its text is fixed, so the CSP can allow exactly it by its hash.
const FORM_POST_SCRIPT: &str = "document.forms[0].submit();";

/// An authorization response in `response_mode=form_post` (OAuth 2.0 Form Post Response Mode): a form posting `fields`
/// to the client's `action` (its redirect URI), submitted by a script the CSP allows by hash alone, with a button
/// for browsers without JavaScript.
pub fn form_post(action: &str, form_target: &str, fields: &[(&str, &str)]) -> Response {
    use base64::Engine as _;
    use sha2::Digest as _;
    let inputs: String = fields
        .iter()
        .map(|(k, v)| format!("<input type=\"hidden\" name=\"{}\" value=\"{}\">", escape(k), escape(v)))
        .collect();
    let html = format!(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>Returning to the application</title>\
         <link rel=\"stylesheet\" href=\"/oauth2/assets/style.css\"></head><body><main>\
         <form method=\"post\" action=\"{}\">{inputs}<noscript><button type=\"submit\">Continue</button></noscript></form>\
         <script>{FORM_POST_SCRIPT}</script></main></body></html>",
        escape(action)
    );
    let hash = base64::engine::general_purpose::STANDARD.encode(sha2::Sha256::digest(FORM_POST_SCRIPT.as_bytes()));
    let csp = format!(
        "default-src 'none'; script-src 'sha256-{hash}'; style-src 'self'; form-action {form_target}; frame-ancestors 'none'; base-uri 'none'"
    );
    html_response(StatusCode::OK, html, &csp)
}

/// An error shown to the user instead of redirecting (unknown client, unregistered redirect URI...).
pub fn error(status: StatusCode, message: &str) -> Response {
    page(
        status,
        "Authorization error",
        &format!(
            "<h1>Authorization error</h1><p class=\"error\">{}</p><p>Return to the application and try again.</p>",
            escape(message)
        ),
        None,
    )
}

/// The hidden fields of the login and consent forms: the request id, the CSRF token, the issue time, and the
/// authorization request's query.
pub struct Hidden<'a> {
    /// Names the CSRF cookie.
    pub rid: &'a str,
    /// Must equal the CSRF cookie.
    pub csrf: &'a str,
    /// When the request's first form was shown (seconds since the epoch).
    pub issued: i64,
    /// The authorization request's query.
    pub request: &'a str,
}

impl Hidden<'_> {
    fn html(&self) -> String {
        format!(
            "<input type=\"hidden\" name=\"rid\" value=\"{}\"><input type=\"hidden\" name=\"csrf\" value=\"{}\">\
             <input type=\"hidden\" name=\"issued\" value=\"{}\"><input type=\"hidden\" name=\"request\" value=\"{}\">",
            escape(self.rid),
            escape(self.csrf),
            self.issued,
            escape(self.request),
        )
    }
}

/// The login form.
pub fn login(hidden: &Hidden<'_>, app_name: &str, username: &str, message: Option<&str>) -> String {
    format!(
        "<h1>Sign in to continue to {app}</h1>{msg}<form method=\"post\" action=\"/oauth2/login\">{hidden}\
         <label for=\"username\">Username</label><input type=\"text\" id=\"username\" name=\"username\" value=\"{user}\" autocomplete=\"username\" required autofocus>\
         <label for=\"password\">Password</label><input type=\"password\" id=\"password\" name=\"password\" autocomplete=\"current-password\" required>\
         <button type=\"submit\">Sign in</button></form>",
        app = escape(app_name),
        msg = message.map(|m| format!("<p class=\"error\" role=\"alert\">{}</p>", escape(m))).unwrap_or_default(),
        hidden = hidden.html(),
        user = escape(username),
    )
}

/// The consent form, for the signed-in `username` (sent back with the answer).
pub fn consent(
    hidden: &Hidden<'_>,
    app_name: &str,
    description: &str,
    logo: Option<&str>,
    scopes: &[String],
    username: &str,
) -> String {
    let items: String = scopes.iter().map(|s| format!("<li>{}</li>", escape(s))).collect();
    format!(
        "{logo}<h1>{app} wants to access your account</h1><p>{desc}</p><p>Signed in as <strong>{user}</strong>. {app} asks for:</p>\
         <ul class=\"scopes\">{items}</ul><form method=\"post\" action=\"/oauth2/consent\">{hidden}\
         <input type=\"hidden\" name=\"user\" value=\"{user}\">\
         <button type=\"submit\" name=\"decision\" value=\"allow\">Allow</button>\
         <button type=\"submit\" name=\"decision\" value=\"deny\" class=\"secondary\">Deny</button></form>",
        logo = logo.map(|l| format!("<img class=\"logo\" src=\"{}\" alt=\"\">", escape(l))).unwrap_or_default(),
        app = escape(app_name),
        desc = escape(description),
        user = escape(username),
        hidden = hidden.html(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn everything_is_escaped() {
        let hidden = Hidden { rid: "r", csrf: "c", issued: 1, request: "a=\"><script>&b=1" };
        let html =
            consent(&hidden, "<script>x</script>", "\"><img onerror=1>", Some("javascript:\"x"), &["a&b".into()], "u'");
        assert!(!html.contains("<script>"));
        assert!(!html.contains("\"><img"));
        assert!(html.contains("a&amp;b"));
        assert!(html.contains("u&#x27;"));
        assert!(html.contains("value=\"a=&quot;&gt;&lt;script&gt;&amp;b=1\""), "{html}");
    }
}
