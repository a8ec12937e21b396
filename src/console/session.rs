//! Console sessions: a random id in an HttpOnly, SameSite=Strict cookie, kept server-side only as its SHA-256, with a
//! CSRF token bound to it; idle and absolute expiry decided by the injected clock. Sessions live in this process's
//! memory: a restart signs everyone out, and two processes do not share them.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::http::{HeaderMap, HeaderValue};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use crate::clock::Clock;
use crate::registry::credentials;

/// The session cookie's name.
pub const COOKIE: &str = "tg_console";
/// The sign-in form's CSRF cookie (double submit: the form's hidden field must match it).
pub const SIGN_IN_COOKIE: &str = "tg_console_signin";
/// A session unused this long ends.
pub const IDLE_SECS: i64 = 30 * 60;
/// A session ends this long after sign-in, however busy.
pub const ABSOLUTE_SECS: i64 = 8 * 3600;

/// One signed-in administrator.
#[derive(Debug)]
pub struct Session {
    /// The user's id (not the name: a renamed or recreated user does not inherit a session).
    pub user_id: String,
    /// The user's name, for display.
    pub username: String,
    /// The CSRF token every form of this session carries.
    pub csrf: String,
    created_at: i64,
    last_seen: AtomicI64,
    /// The one-time tokens of forms already sent (the latest 64).
    sent: Mutex<VecDeque<String>>,
}

impl Session {
    /// Whether a form with the one-time token `once` is sent for the first time; a reload that sends it again is
    /// not (it would make another app, secret or key). A form without the token is not checked.
    pub fn first_use(&self, once: &str) -> bool {
        if once.is_empty() {
            return true;
        }
        let Ok(mut sent) = self.sent.lock() else { return false };
        if sent.iter().any(|s| s == once) {
            return false;
        }
        if sent.len() >= 64 {
            sent.pop_front();
        }
        sent.push_back(once.to_string());
        true
    }
}

/// Every live session of this process.
#[derive(Clone)]
pub struct Sessions {
    by_hash: moka::sync::Cache<[u8; 32], Arc<Session>>,
    clock: Arc<dyn Clock>,
}

fn digest(id: &str) -> [u8; 32] {
    Sha256::digest(id.as_bytes()).into()
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
    /// No sessions yet; expiry decided by `clock`.
    pub fn new(clock: Arc<dyn Clock>) -> Self {
        Sessions {
            // A wall-clock bound too, so that abandoned sessions do not stay in memory when the clock is manual.
            by_hash: moka::sync::Cache::builder()
                .max_capacity(10_000)
                .time_to_live(Duration::from_secs(ABSOLUTE_SECS as u64))
                .build(),
            clock,
        }
    }

    /// Starts a session for a user: returns the new session id (for the cookie only; it is kept here as a hash).
    pub fn start(&self, user_id: &str, username: &str) -> (String, Arc<Session>) {
        let id = credentials::opaque(32);
        let now = self.clock.now();
        let session = Arc::new(Session {
            user_id: user_id.to_string(),
            username: username.to_string(),
            csrf: credentials::opaque(32),
            created_at: now,
            last_seen: AtomicI64::new(now),
            sent: Mutex::default(),
        });
        self.by_hash.insert(digest(&id), session.clone());
        (id, session)
    }

    /// The live session with this id, marked as used now; an expired one is forgotten.
    pub fn get(&self, id: &str) -> Option<Arc<Session>> {
        let key = digest(id);
        let session = self.by_hash.get(&key)?;
        let now = self.clock.now();
        let idle = now - session.last_seen.load(Ordering::SeqCst);
        if idle >= IDLE_SECS || now - session.created_at >= ABSOLUTE_SECS {
            self.by_hash.invalidate(&key);
            return None;
        }
        session.last_seen.store(now, Ordering::SeqCst);
        Some(session)
    }

    /// Ends a session (sign-out, or a user who may no longer sign in).
    pub fn end(&self, id: &str) {
        self.by_hash.invalidate(&digest(id));
    }

    /// Ends every session of `username` that began at or before `revoked_at` (the user was disabled then).
    pub fn end_user(&self, username: &str, revoked_at: i64) {
        for (key, s) in self.by_hash.iter() {
            if s.username == username && s.created_at <= revoked_at {
                self.by_hash.invalidate(&*key);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::ManualClock;

    #[test]
    fn sessions_expire_when_idle_and_absolutely() {
        let clock = ManualClock::new(1_000_000);
        let sessions = Sessions::new(Arc::new(clock.clone()));
        let (id, s) = sessions.start("u1", "root");
        assert_eq!(sessions.get(&id).unwrap().csrf, s.csrf);
        assert!(sessions.get("other").is_none());
        clock.advance(IDLE_SECS - 1);
        assert!(sessions.get(&id).is_some(), "used within the idle time");
        clock.advance(IDLE_SECS);
        assert!(sessions.get(&id).is_none(), "idle too long");

        let (id, _) = sessions.start("u1", "root");
        for _ in 0..(ABSOLUTE_SECS / (IDLE_SECS - 60)) {
            clock.advance(IDLE_SECS - 60);
            assert!(sessions.get(&id).is_some());
        }
        clock.advance(IDLE_SECS - 60);
        assert!(sessions.get(&id).is_none(), "past the absolute lifetime");

        let (id, s) = sessions.start("u1", "root");
        assert!(s.first_use("a") && s.first_use("b") && !s.first_use("a") && s.first_use("") && s.first_use(""));
        sessions.end(&id);
        assert!(sessions.get(&id).is_none());

        let (old, _) = sessions.start("u1", "root");
        let (other, _) = sessions.start("u2", "carol");
        clock.advance(10);
        sessions.end_user("root", clock.now() - 1);
        clock.advance(1);
        let (new, _) = sessions.start("u1", "root");
        sessions.end_user("root", clock.now() - 1);
        assert!(sessions.get(&old).is_none() && sessions.get(&new).is_some() && sessions.get(&other).is_some());
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
