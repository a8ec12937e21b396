//! Console sessions: a random id in an HttpOnly, SameSite=Strict cookie, kept server-side only as its SHA-256, with a
//! CSRF token bound to it; idle and absolute expiry decided by the injected clock. Sessions are in the store, so that
//! a restart keeps them and every instance sharing a database serves them (no sticky sessions).

use std::sync::Arc;

use axum::http::{HeaderMap, HeaderValue};
use subtle::ConstantTimeEq;

use crate::clock::Clock;
use crate::registry::credentials;
use crate::store::{ConsoleSessionRecord, Store, StoreError};

/// The session cookie's name.
pub const COOKIE: &str = "tg_console";
/// The sign-in form's CSRF cookie (double submit: the form's hidden field must match it).
pub const SIGN_IN_COOKIE: &str = "tg_console_signin";
/// A session unused this long ends.
pub const IDLE_SECS: i64 = 30 * 60;
/// A session ends this long after sign-in, however busy.
pub const ABSOLUTE_SECS: i64 = 8 * 3600;

/// One signed-in administrator (`Debug` shows only the name).
#[derive(Clone)]
pub struct Session {
    /// The user's id (not the name: a renamed or recreated user does not inherit a session).
    pub user_id: String,
    /// The user's name, for display.
    pub username: String,
    /// The CSRF token every form of this session carries.
    pub csrf: String,
    hash: String,
}

impl std::fmt::Debug for Session {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Session").field("username", &self.username).finish_non_exhaustive()
    }
}

/// The console's sessions, in the store.
#[derive(Clone)]
pub struct Sessions {
    store: Arc<dyn Store>,
    clock: Arc<dyn Clock>,
}

/// Whether two tokens are equal, in constant time (for equal lengths).
pub fn same_token(a: &str, b: &str) -> bool {
    !a.is_empty() && bool::from(a.as_bytes().ct_eq(b.as_bytes()))
}

/// The value of cookie `name` in the request, if any.
pub fn cookie<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(http::header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v)
}

/// A `Set-Cookie` value for the console: HttpOnly, SameSite=Strict, limited to `path`. `max_age` 0 deletes it.
/// Not `Secure`: the admin listener speaks plain HTTP (put it behind a TLS terminator, and keep it private).
pub fn set_cookie(name: &str, value: &str, path: &str, max_age: Option<i64>) -> HeaderValue {
    let age = max_age.map(|a| format!("; Max-Age={a}")).unwrap_or_default();
    HeaderValue::from_str(&format!("{name}={value}; Path={path}; HttpOnly; SameSite=Strict{age}"))
        .unwrap_or_else(|_| HeaderValue::from_static("invalid=1"))
}

impl Sessions {
    /// Sessions kept in `store`, expiring by `clock`.
    pub fn new(store: Arc<dyn Store>, clock: Arc<dyn Clock>) -> Self {
        Sessions { store, clock }
    }

    /// The bounds of a live session now: last used after the first, begun after the second.
    fn bounds(&self) -> (i64, i64, i64) {
        let now = self.clock.now();
        (now, now - IDLE_SECS, now - ABSOLUTE_SECS)
    }

    /// Starts a session for a user: returns the new session id (for the cookie only; it is stored as a hash).
    pub async fn start(&self, user_id: &str, username: &str) -> Result<(String, Session), StoreError> {
        let id = credentials::opaque(32);
        let (now, idle_before, started_before) = self.bounds();
        let record = ConsoleSessionRecord {
            session_hash: credentials::hash(&id),
            user_id: user_id.to_string(),
            username: username.to_string(),
            csrf: credentials::opaque(32),
            created_at: now,
            last_seen_at: now,
        };
        self.store.create_console_session(&record, idle_before, started_before).await?;
        Ok((id, session(record)))
    }

    /// The live session with this id, marked as used now.
    pub async fn get(&self, id: &str) -> Result<Option<Session>, StoreError> {
        if id.is_empty() {
            return Ok(None);
        }
        let (now, idle_before, started_before) = self.bounds();
        Ok(self.store.console_session(&credentials::hash(id), now, idle_before, started_before).await?.map(session))
    }

    /// Ends a session (sign-out, or a user who may no longer sign in).
    pub async fn end(&self, id: &str) -> Result<(), StoreError> {
        self.store.end_console_session(&credentials::hash(id)).await
    }

    /// Ends every session of `username` that began at or before `revoked_at` (the user was disabled then).
    pub async fn end_user(&self, username: &str, revoked_at: i64) -> Result<(), StoreError> {
        self.store.end_console_sessions_of(username, revoked_at).await
    }

    /// Whether a form of `session` with the one-time token `once` is sent for the first time; a reload that sends
    /// it again is not (it would make another app, secret or key). A form without the token is not checked. When
    /// the store cannot tell, the form is refused.
    pub async fn first_use(&self, session: &Session, once: &str) -> bool {
        if once.is_empty() {
            return true;
        }
        match self.store.console_form_sent(&session.hash, once).await {
            Ok(first) => first,
            Err(e) => {
                tracing::error!(error = %e, "console: recording a sent form failed");
                false
            }
        }
    }
}

fn session(r: ConsoleSessionRecord) -> Session {
    Session { user_id: r.user_id, username: r.username, csrf: r.csrf, hash: r.session_hash }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::ManualClock;

    #[tokio::test]
    async fn sessions_expire_when_idle_and_absolutely() {
        let dir = tempfile::tempdir().unwrap();
        let store = crate::store::SqlStore::open(&dir.path().join("t.db").display().to_string()).await.unwrap();
        let clock = ManualClock::new(1_000_000);
        let sessions = Sessions::new(Arc::new(store), Arc::new(clock.clone()));
        let get = |id: String| {
            let sessions = sessions.clone();
            async move { sessions.get(&id).await.unwrap() }
        };
        let (id, s) = sessions.start("u1", "root").await.unwrap();
        assert_eq!(get(id.clone()).await.unwrap().csrf, s.csrf);
        assert!(get("other".into()).await.is_none());
        clock.advance(IDLE_SECS - 1);
        assert!(get(id.clone()).await.is_some(), "used within the idle time");
        clock.advance(IDLE_SECS);
        assert!(get(id.clone()).await.is_none(), "idle too long");

        let (id, _) = sessions.start("u1", "root").await.unwrap();
        for _ in 0..(ABSOLUTE_SECS / (IDLE_SECS - 60)) {
            clock.advance(IDLE_SECS - 60);
            assert!(get(id.clone()).await.is_some());
        }
        clock.advance(IDLE_SECS - 60);
        assert!(get(id.clone()).await.is_none(), "past the absolute lifetime");

        let (id, s) = sessions.start("u1", "root").await.unwrap();
        for (once, first) in [("a", true), ("b", true), ("a", false), ("", true), ("", true)] {
            assert_eq!(sessions.first_use(&s, once).await, first, "{once}");
        }
        sessions.end(&id).await.unwrap();
        assert!(get(id.clone()).await.is_none());
        assert!(!sessions.first_use(&s, "c").await, "an ended session sends no form");

        let (old, _) = sessions.start("u1", "root").await.unwrap();
        let (other, _) = sessions.start("u2", "carol").await.unwrap();
        clock.advance(10);
        sessions.end_user("root", clock.now() - 1).await.unwrap();
        clock.advance(1);
        let (new, _) = sessions.start("u1", "root").await.unwrap();
        sessions.end_user("root", clock.now() - 1).await.unwrap();
        assert!(get(old).await.is_none() && get(new).await.is_some() && get(other).await.is_some());
    }

    #[test]
    fn cookies_are_read_and_written_strictly() {
        let mut h = HeaderMap::new();
        h.insert(http::header::COOKIE, HeaderValue::from_static("a=1; tg_console=abc; b=2"));
        assert_eq!(cookie(&h, COOKIE), Some("abc"));
        assert_eq!(cookie(&h, "tg"), None);
        let v = set_cookie(COOKIE, "x", "/console", None);
        assert_eq!(v.to_str().unwrap(), "tg_console=x; Path=/console; HttpOnly; SameSite=Strict");
        assert!(same_token("abc", "abc") && !same_token("abc", "abd") && !same_token("", ""));
    }
}
