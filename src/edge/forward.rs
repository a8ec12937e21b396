//! What may cross the edge besides the verified request: the inbound headers that could pass for tokengate's own,
//! and tokengate's own cookies, which never reach the upstream (and which an upstream may not set).

use http::header::{COOKIE, SET_COOKIE};
use http::HeaderValue;
use pingora::http::{RequestHeader, ResponseHeader};

use super::identity::IDENTITY_HEADERS;
use super::METHOD_OVERRIDE_HEADERS;

/// Prefixes of tokengate's own cookie names (the authorization server's sign-in session and form tokens, the
/// console's session): such cookies are removed from what is forwarded, and an upstream's `Set-Cookie` for them is
/// dropped.
pub const OWN_COOKIE_PREFIXES: [&str; 2] = ["tg_", "tgc_"];

/// Whether `name` (lowercase, as `http` keeps header names) is an identity or method-override header in any
/// spelling an upstream may read as the same: CGI, Rack, PHP and WSGI turn `-` into `_`, so `x_auth_subject` and
/// `x-auth-subject` are one variable there.
pub fn is_reserved_header(name: &str) -> bool {
    IDENTITY_HEADERS.iter().chain(METHOD_OVERRIDE_HEADERS.iter()).any(|reserved| same_variable(name, reserved))
}

fn same_variable(name: &str, reserved: &str) -> bool {
    name.len() == reserved.len()
        && name.bytes().zip(reserved.bytes()).all(|(a, b)| {
            let a = if a == b'_' { b'-' } else { a.to_ascii_lowercase() };
            a == b
        })
}

/// Whether a cookie name is one of tokengate's (case-insensitively, and behind a `__Host-`/`__Secure-` prefix).
pub fn is_own_cookie(name: &str) -> bool {
    let name = name.trim();
    let bare = ["__host-", "__secure-"]
        .iter()
        .find_map(|p| name.get(..p.len()).filter(|h| h.eq_ignore_ascii_case(p)).map(|_| &name[p.len()..]))
        .unwrap_or(name);
    OWN_COOKIE_PREFIXES.iter().any(|p| bare.get(..p.len()).is_some_and(|h| h.eq_ignore_ascii_case(p)))
}

/// Removes tokengate's own cookies from every `Cookie` header; a header left empty is removed. Untouched (no
/// allocation) when there is none.
pub fn strip_own_cookies(req: &mut RequestHeader) {
    let has_own = req.headers.get_all(COOKIE).iter().any(|v| {
        String::from_utf8_lossy(v.as_bytes()).split(';').any(|c| is_own_cookie(c.split('=').next().unwrap_or("")))
    });
    if !has_own {
        return;
    }
    let kept: Vec<String> = req
        .headers
        .get_all(COOKIE)
        .iter()
        .map(|v| {
            String::from_utf8_lossy(v.as_bytes())
                .split(';')
                .map(str::trim)
                .filter(|c| !c.is_empty() && !is_own_cookie(c.split('=').next().unwrap_or("")))
                .collect::<Vec<_>>()
                .join("; ")
        })
        .filter(|v| !v.is_empty())
        .collect();
    req.remove_header(&COOKIE);
    for v in kept {
        if let Ok(v) = HeaderValue::from_str(&v) {
            let _ = req.append_header(COOKIE, v);
        }
    }
}

/// Removes every `Set-Cookie` of the response that would set one of tokengate's own cookies.
pub fn drop_own_set_cookies(resp: &mut ResponseHeader) {
    let own = |v: &HeaderValue| {
        let text = String::from_utf8_lossy(v.as_bytes());
        is_own_cookie(text.split(';').next().unwrap_or("").split('=').next().unwrap_or(""))
    };
    if !resp.headers.get_all(SET_COOKIE).iter().any(own) {
        return;
    }
    let kept: Vec<HeaderValue> = resp.headers.get_all(SET_COOKIE).iter().filter(|v| !own(v)).cloned().collect();
    resp.remove_header(&SET_COOKIE);
    for v in kept {
        let _ = resp.append_header(SET_COOKIE, v);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn underscore_spellings_are_reserved() {
        for name in ["x-auth-subject", "x_auth_subject", "x_auth-scopes", "x-http-method_override", "x_method_override"]
        {
            assert!(is_reserved_header(name), "{name}");
        }
        for name in ["x-auth-subjects", "x-auth", "x-forwarded-for", "authorization"] {
            assert!(!is_reserved_header(name), "{name}");
        }
    }

    #[test]
    fn own_cookies_are_recognised() {
        for name in ["tg_session", "TG_SESSION", "tgc_abcd", " tg_console", "__Host-tg_session", "__secure-tgc_x"] {
            assert!(is_own_cookie(name), "{name}");
        }
        for name in ["session", "tgx", "app_tg_session", "__Host-app"] {
            assert!(!is_own_cookie(name), "{name}");
        }
    }

    #[test]
    fn cookies_are_filtered_keeping_the_others() {
        let mut req = RequestHeader::build("GET", b"/", None).unwrap();
        req.append_header(COOKIE, "a=1; tg_session=secret; b=2").unwrap();
        req.append_header(COOKIE, "tgc_x=y").unwrap();
        strip_own_cookies(&mut req);
        let all: Vec<_> = req.headers.get_all(COOKIE).iter().map(|v| v.to_str().unwrap().to_string()).collect();
        assert_eq!(all, ["a=1; b=2"]);
    }
}
