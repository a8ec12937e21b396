//! Route matching: normalise the request path the way an upstream reads it, then pick the first route that covers it.
//!
//! Normalisation decodes percent-escapes, resolves `.` and `..`, merges `//`, and drops `;parameters` (as Tomcat and
//! Spring do), so that `/public/..;/api/x` or `/public/%2e%2e/api/x` is matched as `/api/x`. Escapes that an upstream
//! may or may not decode — an encoded slash, backslash, percent sign or semicolon (`%2F`, `%5C`, `%25`: double
//! encoding, `%3B`) — make the path ambiguous and are refused, as are control bytes and `..` above the root. The path forwarded upstream is
//! never rewritten.

use std::borrow::Cow;
use std::fmt;

use http::Method;

use super::config::{DefaultPolicy, RouteAuth, RouteConfig};

/// Why a path was refused before matching.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PathError {
    /// Does not start with `/`.
    NotAbsolute,
    /// `%2F`, `%5C`, `%25` or `%3B`: the upstream might read it either way.
    AmbiguousEscape,
    /// A `%` not followed by two hex digits.
    BadEscape,
    /// A control byte, a raw backslash or a NUL.
    ForbiddenByte,
    /// `..` climbing above `/`.
    AboveRoot,
    /// A request target that is neither origin-form (`/path`) nor absolute-form (`http://host/path`): Pingora would
    /// match it as `/` and forward it byte for byte.
    NotOriginForm,
    /// An absolute-form target whose authority is not the `Host` header.
    AuthorityMismatch,
    /// A request target that is not valid UTF-8 (matched on a lossy copy, forwarded as sent).
    NotUtf8,
}

impl fmt::Display for PathError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            PathError::NotAbsolute => "the path must start with /",
            PathError::AmbiguousEscape => "encoded slash, backslash or percent sign in the path",
            PathError::BadEscape => "malformed percent-escape in the path",
            PathError::ForbiddenByte => "control character or backslash in the path",
            PathError::AboveRoot => "the path climbs above the root",
            PathError::NotOriginForm => "the request target must be a path starting with / or an absolute http(s) URL",
            PathError::AuthorityMismatch => "the request target's host differs from the Host header",
            PathError::NotUtf8 => "the request target is not valid UTF-8",
        })
    }
}

fn hex(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

/// Checks the request target as received (RFC 9112 3.2), so that the route is decided on what is forwarded:
/// origin-form (`/path?query`), or absolute-form (`http://host/path`) whose authority is the `Host` header. Anything
/// else (`foo:bar/api`, `x:/api`, `\\api`, `*`, an authority-form target) is refused: Pingora matches such a target
/// as `/` while the upstream may read it as a path.
pub fn target(req: &pingora::http::RequestHeader) -> Result<(), PathError> {
    let raw = req.raw_path();
    if raw.first() == Some(&b'/') {
        return if req.raw_path_is_utf8() { Ok(()) } else { Err(PathError::NotUtf8) };
    }
    let rest = [&b"http://"[..], b"https://"]
        .iter()
        .find_map(|scheme| {
            raw.get(..scheme.len()).filter(|p| p.eq_ignore_ascii_case(scheme)).map(|_| &raw[scheme.len()..])
        })
        .ok_or(PathError::NotOriginForm)?;
    if !req.raw_path_is_utf8() {
        return Err(PathError::NotUtf8);
    }
    let end = rest.iter().position(|&b| matches!(b, b'/' | b'?' | b'#')).unwrap_or(rest.len());
    let authority = &rest[..end];
    if authority.is_empty() || authority.contains(&b'@') || authority.contains(&b'\\') {
        return Err(PathError::NotOriginForm);
    }
    match req.headers.get(http::header::HOST) {
        Some(host) if host.as_bytes().eq_ignore_ascii_case(authority) => Ok(()),
        _ => Err(PathError::AuthorityMismatch),
    }
}

/// Normalises a request path (no query) for matching. Returns the input unchanged, without allocating, when it is
/// already in normal form, which is the common case.
pub fn normalize(path: &str) -> Result<Cow<'_, str>, PathError> {
    let bytes = path.as_bytes();
    if bytes.first() != Some(&b'/') {
        return Err(PathError::NotAbsolute);
    }
    // Fast path: nothing to decode, no dot segment, no empty segment, no parameters.
    let mut plain = true;
    let mut prev = 0u8;
    for (i, &b) in bytes.iter().enumerate() {
        match b {
            0..=0x1f | 0x7f | b'\\' => return Err(PathError::ForbiddenByte),
            b'%' | b';' => plain = false,
            b'/' if prev == b'/' => plain = false,
            b'.' if prev == b'/' => {
                let rest = &bytes[i + 1..];
                if rest.is_empty() || rest[0] == b'/' || (rest[0] == b'.' && (rest.len() == 1 || rest[1] == b'/')) {
                    plain = false;
                }
            }
            _ => {}
        }
        prev = b;
    }
    if plain {
        return Ok(Cow::Borrowed(path));
    }

    // Decode escapes.
    let mut decoded = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let b = bytes[i];
        if b == b'%' {
            let (Some(h), Some(l)) = (bytes.get(i + 1).and_then(|&c| hex(c)), bytes.get(i + 2).and_then(|&c| hex(c)))
            else {
                return Err(PathError::BadEscape);
            };
            let v = h * 16 + l;
            match v {
                // Upstreams differ on whether these are data or syntax once decoded: refuse rather than guess.
                b'/' | b'\\' | b'%' | b';' => return Err(PathError::AmbiguousEscape),
                0..=0x1f | 0x7f => return Err(PathError::ForbiddenByte),
                _ => decoded.push(v),
            }
            i += 3;
        } else {
            decoded.push(b);
            i += 1;
        }
    }

    // Resolve segments.
    let mut out: Vec<&[u8]> = Vec::new();
    let ends_with_slash = decoded.last() == Some(&b'/');
    let mut trailing = ends_with_slash;
    for seg in decoded.split(|&b| b == b'/').skip(1) {
        let seg = match seg.iter().position(|&b| b == b';') {
            Some(p) => &seg[..p],
            None => seg,
        };
        trailing = false;
        match seg {
            b"" => {}
            b"." => trailing = true,
            b".." => {
                if out.pop().is_none() {
                    return Err(PathError::AboveRoot);
                }
                trailing = true;
            }
            s => out.push(s),
        }
    }
    let mut result = Vec::with_capacity(decoded.len());
    for s in &out {
        result.push(b'/');
        result.extend_from_slice(s);
    }
    if result.is_empty() || trailing || ends_with_slash {
        result.push(b'/');
    }
    Ok(Cow::Owned(String::from_utf8_lossy(&result).into_owned()))
}

/// One compiled route.
#[derive(Debug)]
pub struct Route {
    /// Position in the configuration; indexes the route's metric handles.
    pub index: usize,
    /// Label in metrics.
    pub name: String,
    /// Normalised prefix without its trailing slash (`""` for `/`).
    prefix: String,
    methods: Vec<Method>,
    /// What the route requires.
    pub auth: RouteAuth,
    /// Every scope the route may ask for, space-separated, for `WWW-Authenticate: ... scope="..."`.
    pub scope_hint: String,
    /// Per-caller rate limiter.
    pub limiter: Option<super::limit::Limiter>,
}

impl Route {
    fn covers(&self, path: &str, method: &Method) -> bool {
        let path_ok = self.prefix.is_empty()
            || (path.starts_with(self.prefix.as_str())
                && matches!(path.as_bytes().get(self.prefix.len()), None | Some(b'/')));
        path_ok && (self.methods.is_empty() || self.methods.contains(method))
    }
}

/// The routes, in configuration order, and the default for requests that match none.
#[derive(Debug)]
pub struct RouteTable {
    routes: Vec<Route>,
    /// The route used when none matches and the default policy is `authenticated`.
    fallback: Option<Route>,
}

impl RouteTable {
    /// Compiles the configured routes.
    pub fn new(routes: &[RouteConfig], default: DefaultPolicy) -> Self {
        let routes = routes
            .iter()
            .enumerate()
            .map(|(index, r)| {
                let normal = normalize(&r.path).map(|p| p.into_owned()).unwrap_or_else(|_| r.path.clone());
                let scope_hint = match &r.auth {
                    RouteAuth::None => String::new(),
                    RouteAuth::Required { all, any } => {
                        all.iter().chain(any.iter()).map(String::as_str).collect::<Vec<_>>().join(" ")
                    }
                };
                Route {
                    index,
                    name: r.name.clone(),
                    prefix: normal.trim_end_matches('/').to_string(),
                    methods: r.methods.clone(),
                    auth: r.auth.clone(),
                    scope_hint,
                    limiter: r.rate_limit.map(super::limit::Limiter::new),
                }
            })
            .collect::<Vec<_>>();
        let fallback = (default == DefaultPolicy::Authenticated).then(|| Route {
            index: routes.len(),
            name: "(default)".into(),
            prefix: String::new(),
            methods: Vec::new(),
            auth: RouteAuth::Required { all: Vec::new(), any: Vec::new() },
            scope_hint: String::new(),
            limiter: None,
        });
        RouteTable { routes, fallback }
    }

    /// The first route covering this normalised path and method, or the default route.
    pub fn find(&self, normalized_path: &str, method: &Method) -> Option<&Route> {
        self.routes.iter().find(|r| r.covers(normalized_path, method)).or(self.fallback.as_ref())
    }

    /// Every route including the default one, for pre-resolving metric handles.
    pub fn all(&self) -> impl Iterator<Item = &Route> {
        self.routes.iter().chain(self.fallback.iter())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_paths_are_borrowed() {
        assert!(matches!(normalize("/api/v1/items").unwrap(), Cow::Borrowed(_)));
        assert!(matches!(normalize("/a.b/.well-known/x").unwrap(), Cow::Borrowed(_)));
    }

    #[test]
    fn dot_segments_and_tricks_are_resolved() {
        for (raw, want) in [
            ("/public/../api/x", "/api/x"),
            ("/public/%2e%2e/api/x", "/api/x"),
            ("/public/%2E%2E/api/x", "/api/x"),
            ("/public/.%2e/api/x", "/api/x"),
            ("/public/..;/api/x", "/api/x"),
            ("/public;x=1/../api/x", "/api/x"),
            ("//api//x", "/api/x"),
            ("/./api/./x", "/api/x"),
            ("/api/x/", "/api/x/"),
            ("/api/x/.", "/api/x/"),
            ("/api/x/..", "/api/"),
            ("/%61pi/x", "/api/x"),
            ("/", "/"),
        ] {
            assert_eq!(normalize(raw).unwrap(), want, "{raw}");
        }
    }

    #[test]
    fn ambiguous_paths_are_refused() {
        assert_eq!(normalize("/public%2F..%2Fapi/x"), Err(PathError::AmbiguousEscape));
        assert_eq!(normalize("/public/%252e%252e/api"), Err(PathError::AmbiguousEscape));
        assert_eq!(normalize("/public/%5c../api"), Err(PathError::AmbiguousEscape));
        assert_eq!(normalize("/public\\..\\api"), Err(PathError::ForbiddenByte));
        assert_eq!(normalize("/x%00"), Err(PathError::ForbiddenByte));
        assert_eq!(normalize("/x%zz"), Err(PathError::BadEscape));
        // Regression (fuzz/regressions/path_normalize/ki1-encoded-semicolon): a decoded `;` read as a parameter.
        assert_eq!(normalize("/public%3b/../api"), Err(PathError::AmbiguousEscape));
        assert_eq!(normalize("/../etc"), Err(PathError::AboveRoot));
        assert_eq!(normalize("api"), Err(PathError::NotAbsolute));
    }

    #[test]
    fn prefixes_match_on_segment_boundaries() {
        let cfg = |path: &str| RouteConfig {
            name: path.into(),
            path: path.into(),
            methods: vec![],
            auth: RouteAuth::None,
            rate_limit: None,
            close_streams_on_expiry: true,
        };
        let t = RouteTable::new(&[cfg("/api/"), cfg("/public")], DefaultPolicy::Deny);
        assert_eq!(t.find("/api", &Method::GET).unwrap().name, "/api/");
        assert_eq!(t.find("/api/x", &Method::GET).unwrap().name, "/api/");
        assert!(t.find("/apix", &Method::GET).is_none());
        assert_eq!(t.find("/public/a", &Method::GET).unwrap().name, "/public");
        assert!(t.find("/publicity", &Method::GET).is_none());
    }
}
