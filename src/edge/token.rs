//! Token extraction: find the one access token a request carries (RFC 6750 section 2), without copying it.

use http::header::AUTHORIZATION;
use http::HeaderMap;

use super::config::TokenSource;
use super::deny::{BadRequest, Denial, InvalidToken};

/// The Workfront-style header.
pub const SESSION_ID: &str = "sessionid";

/// The token a request carries, borrowed from it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Presented<'a> {
    /// The token text.
    pub token: &'a str,
    /// Where it was found.
    pub source: TokenSource,
}

/// The credentials of an `Authorization: Bearer` value: the scheme compared case-insensitively and followed by
/// spaces or tabs (RFC 9110 11.4 allows only spaces, but some stacks accept a tab: both are read as the separator,
/// so `Bearer<TAB>token` is a token here too and never passes as "no token").
pub fn bearer(value: &[u8]) -> Option<&[u8]> {
    let is_ws = |b: u8| b == b' ' || b == b'\t';
    if value.len() < 7 || !value[..6].eq_ignore_ascii_case(b"bearer") || !is_ws(value[6]) {
        return None;
    }
    let rest = &value[7..];
    let start = rest.iter().position(|&b| !is_ws(b)).unwrap_or(rest.len());
    Some(&rest[start..])
}

/// The query's `access_token` parameters (RFC 6750 2.3), as (the value, whether the name was written plainly): an
/// upstream that decodes parameter names reads `access%5Ftoken` or `access_tok%65n` as `access_token` too.
fn query_tokens(query: &str) -> impl Iterator<Item = (&str, bool)> {
    query.split('&').filter_map(|pair| {
        let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
        if name == "access_token" {
            return Some((value, true));
        }
        let decoded = name
            .contains(['%', '+'])
            .then(|| percent_encoding::percent_decode_str(&name.replace('+', " ")).decode_utf8_lossy().into_owned());
        decoded.filter(|d| d == "access_token").map(|_| (value, false))
    })
}

/// Bytes allowed in a b64token before its `=` padding (RFC 6750 2.1), as a table: one load per byte.
static B64TOKEN: [bool; 256] = {
    let mut t = [false; 256];
    let mut b = 0;
    while b < 256 {
        let c = b as u8;
        t[b] = c.is_ascii_alphanumeric() || matches!(c, b'-' | b'.' | b'_' | b'~' | b'+' | b'/');
        b += 1;
    }
    t
};

/// Checks the b64token syntax (RFC 6750 2.1) and the size limit.
fn checked(raw: &[u8], max: usize) -> Result<&str, Denial> {
    let raw = raw.trim_ascii_end();
    if raw.is_empty() {
        return Err(InvalidToken::Malformed.into());
    }
    if raw.len() > max {
        return Err(InvalidToken::TooLarge.into());
    }
    let body_end = raw.iter().rposition(|&b| b != b'=').map(|p| p + 1).unwrap_or(0);
    if body_end == 0 || !raw[..body_end].iter().all(|&b| B64TOKEN[b as usize]) {
        return Err(InvalidToken::Malformed.into());
    }
    // Checked ASCII above.
    std::str::from_utf8(raw).map_err(|_| InvalidToken::Malformed.into())
}

/// Finds the access token among `sources`. `Ok(None)` means no token at all (a Basic `Authorization` header is no
/// token). Two tokens, or two `Authorization` headers, are an `invalid_request`.
pub fn extract<'a>(
    headers: &'a HeaderMap,
    query: Option<&'a str>,
    sources: &[TokenSource],
    max_bytes: usize,
) -> Result<Option<Presented<'a>>, Denial> {
    let mut found: Option<Presented<'a>> = None;
    let mut put = |p: Presented<'a>| -> Result<(), Denial> {
        if found.is_some() {
            return Err(Denial::BadRequest(BadRequest::MultipleTokens));
        }
        found = Some(p);
        Ok(())
    };
    for &source in sources {
        match source {
            TokenSource::Authorization => {
                let mut values = headers.get_all(AUTHORIZATION).iter();
                if let Some(v) = values.next() {
                    if values.next().is_some() {
                        return Err(Denial::BadRequest(BadRequest::MultipleTokens));
                    }
                    if let Some(raw) = bearer(v.as_bytes()) {
                        put(Presented { token: checked(raw, max_bytes)?, source })?;
                    }
                }
            }
            TokenSource::SessionId => {
                let mut values = headers.get_all(SESSION_ID).iter();
                if let Some(v) = values.next() {
                    if values.next().is_some() {
                        return Err(Denial::BadRequest(BadRequest::MultipleTokens));
                    }
                    put(Presented { token: checked(v.as_bytes().trim_ascii_start(), max_bytes)?, source })?;
                }
            }
            TokenSource::Query => {
                for (value, plain) in query.map(query_tokens).into_iter().flatten() {
                    if !plain {
                        // Spelled so that tokengate and the upstream could read it differently: refused.
                        return Err(Denial::BadRequest(BadRequest::MultipleTokens));
                    }
                    put(Presented { token: checked(value.as_bytes(), max_bytes)?, source })?;
                }
            }
        }
    }
    // A token in the query that is not a configured source is not checked, yet an upstream may read it: next to the
    // verified token it is a second one.
    if found.is_some()
        && !sources.contains(&TokenSource::Query)
        && query.is_some_and(|q| query_tokens(q).next().is_some())
    {
        return Err(Denial::BadRequest(BadRequest::MultipleTokens));
    }
    Ok(found)
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::HeaderValue;

    const ALL: [TokenSource; 2] = [TokenSource::Authorization, TokenSource::SessionId];

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.append(*k, HeaderValue::from_str(v).unwrap());
        }
        h
    }

    #[test]
    fn bearer_scheme_is_case_insensitive() {
        for v in ["Bearer abc.def", "bearer abc.def", "BEARER  abc.def"] {
            let h = headers(&[("authorization", v)]);
            assert_eq!(extract(&h, None, &ALL, 8192).unwrap().unwrap().token, "abc.def", "{v}");
        }
    }

    #[test]
    fn whitespace_variants_of_the_scheme_are_bearer() {
        for v in ["Bearer\tabc", "bearer \t abc", "BEARER\t\tabc"] {
            let h = headers(&[("authorization", v)]);
            assert_eq!(extract(&h, None, &ALL, 8192).unwrap().unwrap().token, "abc", "{v:?}");
        }
        let h = headers(&[("authorization", "Bearer\tforged"), ("sessionid", "real")]);
        assert_eq!(extract(&h, None, &ALL, 8192), Err(Denial::BadRequest(BadRequest::MultipleTokens)));
    }

    #[test]
    fn an_unchecked_query_token_next_to_a_header_token_is_a_second_token() {
        let h = headers(&[("authorization", "Bearer abc")]);
        assert_eq!(
            extract(&h, Some("x=1&access_token=forged"), &ALL, 8192),
            Err(Denial::BadRequest(BadRequest::MultipleTokens))
        );
        assert_eq!(extract(&h, Some("x=1&my_access_token=1"), &ALL, 8192).unwrap().unwrap().token, "abc");
        for q in ["access%5Ftoken=forged", "access_tok%65n=forged", "%61ccess_token"] {
            assert_eq!(extract(&h, Some(q), &ALL, 8192), Err(Denial::BadRequest(BadRequest::MultipleTokens)), "{q}");
        }
        // As a configured source, an encoded name is refused rather than read one way here and another upstream.
        let none = HeaderMap::new();
        let q = [TokenSource::Query];
        assert_eq!(
            extract(&none, Some("access%5Ftoken=abc"), &q, 8192),
            Err(Denial::BadRequest(BadRequest::MultipleTokens))
        );
        assert_eq!(extract(&none, Some("access_token=abc"), &q, 8192).unwrap().unwrap().token, "abc");
    }

    #[test]
    fn basic_credentials_are_no_token() {
        let h = headers(&[("authorization", "Basic dXNlcjpwYXNz")]);
        assert_eq!(extract(&h, None, &ALL, 8192).unwrap(), None);
    }

    #[test]
    fn session_id_header_is_a_source() {
        let h = headers(&[("sessionID", "tok123")]);
        let p = extract(&h, None, &ALL, 8192).unwrap().unwrap();
        assert_eq!((p.token, p.source), ("tok123", TokenSource::SessionId));
    }

    #[test]
    fn two_tokens_are_invalid_request() {
        let h = headers(&[("authorization", "Bearer a"), ("authorization", "Bearer b")]);
        assert_eq!(extract(&h, None, &ALL, 8192), Err(Denial::BadRequest(BadRequest::MultipleTokens)));
        let h = headers(&[("authorization", "Bearer a"), ("sessionid", "b")]);
        assert_eq!(extract(&h, None, &ALL, 8192), Err(Denial::BadRequest(BadRequest::MultipleTokens)));
    }

    #[test]
    fn query_token_only_when_configured() {
        let h = HeaderMap::new();
        assert_eq!(extract(&h, Some("access_token=abc"), &ALL, 8192).unwrap(), None);
        let p = extract(&h, Some("x=1&access_token=abc"), &[TokenSource::Query], 8192).unwrap().unwrap();
        assert_eq!(p.token, "abc");
    }

    #[test]
    fn bad_syntax_and_size_are_invalid_token() {
        let h = headers(&[("authorization", "Bearer a,b")]);
        assert_eq!(extract(&h, None, &ALL, 8192), Err(InvalidToken::Malformed.into()));
        let big = format!("Bearer {}", "a".repeat(9000));
        let h = headers(&[("authorization", big.as_str())]);
        assert_eq!(extract(&h, None, &ALL, 8192), Err(InvalidToken::TooLarge.into()));
        let h = headers(&[("authorization", "Bearer ")]);
        assert_eq!(extract(&h, None, &ALL, 8192), Err(InvalidToken::Malformed.into()));
    }
}
