//! `tokengate::edge::token::extract`: find the one access token among the Authorization header, the sessionID header
//! and the query string.
//!
//! Input: `flags auth \0 session \0 query`. Flag bits: 1 = send an Authorization header, 2 = send it twice,
//! 4 = send a sessionID header, 8 = send it twice, 16 = read the query too, 32 = a small size limit (the flags' upper
//! bits), 64 = sources in reverse order. A header whose bytes are not a valid header value is left out, as an HTTP
//! parser would refuse it.
#![no_main]

use http::header::AUTHORIZATION;
use http::{HeaderMap, HeaderValue};
use libfuzzer_sys::fuzz_target;
use tokengate::edge::config::TokenSource;
use tokengate::edge::token;

fn b64token_char(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~' | b'+' | b'/')
}

fuzz_target!(|data: &[u8]| {
    let Some((&flags, rest)) = data.split_first() else { return };
    let mut parts = rest.splitn(3, |&b| b == 0);
    let auth = parts.next().unwrap_or_default();
    let session = parts.next().unwrap_or_default();
    let query = String::from_utf8_lossy(parts.next().unwrap_or_default()).into_owned();

    let mut headers = HeaderMap::new();
    let mut add = |name: &'static str, value: &[u8], times: usize| {
        if let Ok(v) = HeaderValue::from_bytes(value) {
            for _ in 0..times {
                headers.append(name, v.clone());
            }
        }
    };
    if flags & 1 != 0 {
        add(AUTHORIZATION.as_str(), auth, if flags & 2 != 0 { 2 } else { 1 });
    }
    if flags & 4 != 0 {
        add(token::SESSION_ID, session, if flags & 8 != 0 { 2 } else { 1 });
    }
    let query = (flags & 16 != 0).then_some(query.as_str());
    let max = if flags & 32 != 0 { usize::from(flags >> 6) * 4 } else { 8192 };
    let mut sources = vec![TokenSource::Authorization, TokenSource::SessionId, TokenSource::Query];
    if flags & 64 != 0 {
        sources.reverse();
    }

    let Ok(Some(found)) = token::extract(&headers, query, &sources, max) else { return };
    // A token that is let through is non-empty, within the limit, and RFC 6750 b64token: `1*( ALPHA / DIGIT / "-" /
    // "." / "_" / "~" / "+" / "/" ) *"="`, taken from where it says it was found.
    let t = found.token.as_bytes();
    assert!(!t.is_empty() && t.len() <= max, "length {} (max {max})", t.len());
    let body = t.iter().rposition(|&b| b != b'=').map(|p| p + 1).unwrap_or(0);
    assert!(body > 0 && t[..body].iter().all(|&b| b64token_char(b)), "not a b64token: {:?}", found.token);
    let from: &[u8] = match found.source {
        TokenSource::Authorization => auth,
        TokenSource::SessionId => session,
        TokenSource::Query => query.unwrap_or_default().as_bytes(),
    };
    assert!(from.windows(t.len()).any(|w| w == t), "token not found in its source {:?}", found.source);
    assert!(sources.contains(&found.source));
});
