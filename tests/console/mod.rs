//! The admin console, end to end: a real tokengate process (its registry on a SQLite file, the console on the admin
//! listener), driven over HTTP by a cookie-keeping client that follows no redirect ([`Visitor`]), and in a real
//! headless chromium by `browser/scenario.mjs` ([`browser`]).

mod browser;
mod pages;
mod sessions;

use std::collections::HashMap;
use std::sync::Mutex;

use crate::support::authz::TestAuthz;
pub use crate::support::http::{client, unescape, Reply};

/// The console administrator every test signs in as.
pub const ROOT: &str = "root";
/// Their password.
pub const ROOT_PASSWORD: &str = "root-password-1";

/// A gateway with its console, and `root` (admin) and `alice` (not an admin).
pub async fn start() -> TestAuthz {
    let az = TestAuthz::start().await;
    az.registry.add_user(ROOT, ROOT_PASSWORD, true).await.expect("add root");
    az
}

/// A browser without JavaScript: keeps the cookies it is given, follows no redirect.
pub struct Visitor {
    base: String,
    http: reqwest::Client,
    jar: std::sync::Arc<Mutex<HashMap<String, String>>>,
}

impl Visitor {
    /// A visitor of `az`'s admin listener with no cookie.
    pub fn new(az: &TestAuthz) -> Visitor {
        Visitor::on(&az.admin_url)
    }

    /// A visitor of the admin listener at `base` with no cookie.
    pub fn on(base: &str) -> Visitor {
        Visitor { base: base.to_string(), http: client(), jar: Default::default() }
    }

    /// The same visitor (the same cookies) on another admin listener of the same site: another instance.
    pub fn at(&self, base: &str) -> Visitor {
        Visitor { base: base.to_string(), http: self.http.clone(), jar: self.jar.clone() }
    }

    /// Sets a cookie by hand (as an attacker planting one would).
    pub fn set_cookie(&self, name: &str, value: &str) {
        self.jar.lock().unwrap().insert(name.into(), value.into());
    }

    /// The cookie's current value.
    pub fn cookie(&self, name: &str) -> Option<String> {
        self.jar.lock().unwrap().get(name).cloned()
    }

    fn cookie_header(&self) -> String {
        self.jar.lock().unwrap().iter().map(|(k, v)| format!("{k}={v}")).collect::<Vec<_>>().join("; ")
    }

    async fn send(&self, request: String, rb: reqwest::RequestBuilder) -> Reply {
        let rb = rb.header("cookie", self.cookie_header());
        let resp = rb.send().await.unwrap_or_else(|e| panic!("{request}: {e}"));
        let page = Reply::read(request, resp).await;
        let mut jar = self.jar.lock().unwrap();
        for c in page.set_cookies() {
            let pair = c.split(';').next().unwrap_or_default();
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            if c.contains("Max-Age=0") {
                jar.remove(k);
            } else {
                jar.insert(k.to_string(), v.to_string());
            }
        }
        page
    }

    /// GET a path of the admin listener.
    pub async fn get(&self, path: &str) -> Reply {
        self.send(format!("GET {path}"), self.http.get(format!("{}{path}", self.base))).await
    }

    /// POST a form to a path of the admin listener.
    pub async fn post(&self, path: &str, form: &[(&str, &str)]) -> Reply {
        let shown: Vec<String> =
            form.iter().map(|(k, v)| if *k == "password" { format!("{k}=…") } else { format!("{k}={v}") }).collect();
        self.send(format!("POST {path} {}", shown.join("&")), self.http.post(format!("{}{path}", self.base)).form(form))
            .await
    }

    /// POST a `multipart/form-data` form: text fields, and files as (field, file name, content type, bytes).
    pub async fn post_multipart(
        &self,
        path: &str,
        fields: &[(&str, &str)],
        files: &[(&str, &str, &str, &[u8])],
    ) -> Reply {
        let boundary = "----tokengate-console-test-boundary";
        let mut body = Vec::new();
        for (name, value) in fields {
            body.extend(
                format!("--{boundary}\r\nContent-Disposition: form-data; name=\"{name}\"\r\n\r\n{value}\r\n").bytes(),
            );
        }
        for (name, file, ct, data) in files {
            body.extend(
                format!(
                    "--{boundary}\r\nContent-Disposition: form-data; name=\"{name}\"; filename=\"{file}\"\r\n\
                     Content-Type: {ct}\r\n\r\n"
                )
                .bytes(),
            );
            body.extend_from_slice(data);
            body.extend(b"\r\n");
        }
        body.extend(format!("--{boundary}--\r\n").bytes());
        let rb = self
            .http
            .post(format!("{}{path}", self.base))
            .header("content-type", format!("multipart/form-data; boundary={boundary}"))
            .body(body);
        self.send(format!("POST {path} (multipart)"), rb).await
    }

    /// Signs in through the form; returns the answer to the POST.
    pub async fn sign_in(&self, username: &str, password: &str) -> Reply {
        let form = self.get("/console/sign-in").await.expect(200);
        let csrf = form.csrf();
        self.post("/console/sign-in", &[("csrf", &csrf), ("username", username), ("password", password)]).await
    }

    /// Signs in as root and returns the app list page.
    pub async fn signed_in(az: &TestAuthz) -> (Visitor, Reply) {
        let v = Visitor::new(az);
        let r = v.sign_in(ROOT, ROOT_PASSWORD).await;
        assert_eq!(r.redirect(), "/console/apps", "{r}");
        let list = v.get("/console/apps").await.expect(200);
        (v, list)
    }
}
