//! The one HTTP client of the tests and the one answer type: a [`Reply`] remembers the request it answers, so a failed
//! assertion shows both.

use std::collections::HashMap;
use std::fmt;
use std::time::Duration;

use reqwest::header::HeaderMap;
use serde_json::Value;

/// An HTTP client that follows no redirect, keeps no cookie and gives up after 20 s.
pub fn client() -> reqwest::Client {
    builder().build().expect("HTTP client")
}

/// [`client`] with its connections from the local address `local` (any 127.0.0.0/8 address is this machine): another
/// client address, for per-address limits.
pub fn client_from(local: std::net::IpAddr) -> reqwest::Client {
    builder().local_address(local).build().expect("HTTP client")
}

fn builder() -> reqwest::ClientBuilder {
    reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).timeout(Duration::from_secs(20))
}

/// One answer, with a description of the request that got it.
pub struct Reply {
    pub request: String,
    pub status: u16,
    pub headers: HeaderMap,
    /// The body as received.
    pub bytes: Vec<u8>,
    /// The body as text (lossy).
    pub body: String,
}

impl Reply {
    /// Reads the response to `request` (a description of it).
    pub async fn read(request: String, r: reqwest::Response) -> Reply {
        let status = r.status().as_u16();
        let headers = r.headers().clone();
        let bytes = r.bytes().await.map(|b| b.to_vec()).unwrap_or_else(|e| panic!("{request}: body: {e}"));
        let body = String::from_utf8_lossy(&bytes).into_owned();
        Reply { request, status, headers, bytes, body }
    }

    /// Panics unless the status is `status`; returns the reply.
    #[track_caller]
    pub fn expect(self, status: u16) -> Reply {
        assert_eq!(self.status, status, "expected {status}:\n{self}");
        self
    }

    /// A header's (first) value.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// Every `Set-Cookie` line.
    pub fn set_cookies(&self) -> Vec<String> {
        self.headers.get_all("set-cookie").iter().filter_map(|v| v.to_str().ok()).map(str::to_string).collect()
    }

    /// The `Set-Cookie` line of the cookie whose name starts with `prefix`.
    pub fn set_cookie(&self, prefix: &str) -> Option<String> {
        self.set_cookies().into_iter().find(|c| c.starts_with(prefix))
    }

    /// The JSON body.
    #[track_caller]
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.bytes).unwrap_or_else(|e| panic!("not JSON ({e}):\n{self}"))
    }

    /// The `error` of a JSON error body.
    #[track_caller]
    pub fn error(&self) -> String {
        self.json()["error"].as_str().unwrap_or_else(|| panic!("no `error`:\n{self}")).to_string()
    }

    /// Panics unless this is an RFC 6749 5.2 error answer with this status and code, not cacheable.
    #[track_caller]
    pub fn oauth_error(&self, status: u16, error: &str) {
        assert_eq!(self.status, status, "status:\n{self}");
        assert_eq!(self.error(), error, "\n{self}");
        assert_eq!(self.header("cache-control"), Some("no-store"), "\n{self}");
    }

    /// Panics unless this is a refusal with `status` and `{"error": code, "error_description": text}`.
    #[track_caller]
    pub fn refused(&self, status: u16, code: &str) {
        assert_eq!(self.status, status, "expected {status} {code}:\n{self}");
        let body = self.json();
        assert_eq!(body["error"], code, "expected error {code}:\n{self}");
        assert!(
            body["error_description"].as_str().is_some_and(|d| !d.is_empty()),
            "expected an error_description:\n{self}"
        );
    }

    /// Panics unless this is a 422 `invalid_field` naming `field`.
    #[track_caller]
    pub fn invalid_field(&self, field: &str) {
        self.refused(422, "invalid_field");
        assert_eq!(self.json()["field"], field, "expected field {field}:\n{self}");
    }

    /// The body with HTML escapes undone (for comparing a page with the API's messages).
    pub fn text(&self) -> String {
        unescape(&self.body)
    }

    /// The `Location` header.
    pub fn location(&self) -> Option<&str> {
        self.header("location")
    }

    /// The `Location` of a 303.
    #[track_caller]
    pub fn redirect(&self) -> String {
        assert_eq!(self.status, 303, "expected a redirect:\n{self}");
        self.location().unwrap_or_default().to_string()
    }

    /// The query parameters of a 303 redirect to `redirect_uri` (checks both).
    #[track_caller]
    pub fn redirect_params(&self, redirect_uri: &str) -> HashMap<String, String> {
        let loc = self.redirect();
        let (base, query) = loc.split_once('?').unwrap_or_else(|| panic!("no query in {loc}"));
        assert_eq!(base, redirect_uri, "redirected elsewhere:\n{self}");
        url::form_urlencoded::parse(query.as_bytes()).into_owned().collect()
    }

    /// The value of the hidden input `name` in an HTML form.
    #[track_caller]
    pub fn hidden(&self, name: &str) -> String {
        self.hidden_fields()
            .into_iter()
            .find(|(k, _)| k == name)
            .unwrap_or_else(|| panic!("no hidden `{name}`:\n{self}"))
            .1
    }

    /// Every hidden input of the page's forms, in order, values unescaped.
    pub fn hidden_fields(&self) -> Vec<(String, String)> {
        const NEEDLE: &str = "type=\"hidden\" name=\"";
        let mut fields = Vec::new();
        let mut rest = self.body.as_str();
        while let Some(at) = rest.find(NEEDLE) {
            rest = &rest[at + NEEDLE.len()..];
            let Some((name, after)) = rest.split_once("\" value=\"") else { break };
            let Some((value, after)) = after.split_once('"') else { break };
            fields.push((name.to_string(), unescape(value)));
            rest = after;
        }
        fields
    }

    /// The first hidden CSRF token of the page's forms.
    #[track_caller]
    pub fn csrf(&self) -> String {
        self.value_of("csrf")
    }

    /// The `value` attribute of the input named or identified `name`.
    #[track_caller]
    pub fn value_of(&self, name: &str) -> String {
        for marker in [format!("name=\"{name}\" value=\""), format!("id=\"{name}\" value=\"")] {
            if let Some(i) = self.body.find(&marker) {
                let rest = &self.body[i + marker.len()..];
                return unescape(&rest[..rest.find('"').expect("closing quote")]);
            }
        }
        panic!("no input {name}:\n{self}");
    }
}

/// Undoes HTML escaping (askama's and the authorization pages').
pub fn unescape(s: &str) -> String {
    s.replace("&#34;", "\"")
        .replace("&quot;", "\"")
        .replace("&#39;", "'")
        .replace("&#x27;", "'")
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&amp;", "&")
}

impl fmt::Display for Reply {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut headers: Vec<String> =
            self.headers.iter().map(|(k, v)| format!("{k}: {}", v.to_str().unwrap_or("<bytes>"))).collect();
        headers.sort();
        let mut body = self.body.clone();
        if body.len() > 3000 {
            let mut end = 3000;
            while !body.is_char_boundary(end) {
                end -= 1;
            }
            body.truncate(end);
            body.push('…');
        }
        write!(f, "  request: {}\n  answer:  {}\n  headers: {headers:?}\n  body: {body}", self.request, self.status)
    }
}

impl fmt::Debug for Reply {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "\n{self}\n")
    }
}

/// A small web app for browser tests: answers every request on `listener` with the HTML page `answer` makes of the
/// request line and the body (read whole, by `Content-Length`), until the task is aborted.
pub fn serve_pages(
    listener: tokio::net::TcpListener,
    answer: impl Fn(&str, &[u8]) -> String + Send + Sync + 'static,
) -> tokio::task::JoinHandle<()> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let answer = std::sync::Arc::new(answer);
    tokio::spawn(async move {
        loop {
            let Ok((mut conn, _)) = listener.accept().await else { return };
            let answer = answer.clone();
            tokio::spawn(async move {
                let mut buf = Vec::new();
                let mut chunk = [0u8; 4096];
                let head_end = loop {
                    if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                        break i + 4;
                    }
                    match conn.read(&mut chunk).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => buf.extend_from_slice(&chunk[..n]),
                    }
                };
                let head = String::from_utf8_lossy(&buf[..head_end]).to_string();
                let length = head
                    .lines()
                    .find_map(|l| l.to_ascii_lowercase().strip_prefix("content-length:").map(|v| v.trim().to_string()))
                    .and_then(|v| v.parse::<usize>().ok())
                    .unwrap_or(0);
                while buf.len() < head_end + length {
                    match conn.read(&mut chunk).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => buf.extend_from_slice(&chunk[..n]),
                    }
                }
                let page = answer(head.lines().next().unwrap_or_default(), &buf[head_end..head_end + length]);
                let reply = format!(
                    "HTTP/1.1 200 OK\r\ncontent-type: text/html; charset=utf-8\r\ncontent-length: {}\r\n\
                     cache-control: no-store\r\nconnection: close\r\n\r\n{page}",
                    page.len()
                );
                let _ = conn.write_all(reply.as_bytes()).await;
                let _ = conn.shutdown().await;
            });
        }
    })
}
