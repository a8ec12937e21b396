//! `tokengate::edge::route::normalize` and `RouteTable::find`: the path the routes are matched on.
//!
//! Input: first byte picks the method, the rest is the path (as text).
#![no_main]

use http::Method;
use libfuzzer_sys::fuzz_target;
use std::sync::LazyLock;
use tokengate::edge::config::{DefaultPolicy, RouteAuth, RouteConfig};
use tokengate::edge::route::{normalize, RouteTable};

fn route(path: &str, methods: &[Method], auth: RouteAuth) -> RouteConfig {
    RouteConfig {
        name: path.into(),
        path: path.into(),
        methods: methods.to_vec(),
        auth,
        rate_limit: None,
        close_streams_on_expiry: true,
    }
}

fn scopes(s: &str) -> RouteAuth {
    RouteAuth::Required { all: vec![s.into()], any: vec![] }
}

static TABLES: LazyLock<[RouteTable; 2]> = LazyLock::new(|| {
    let routes = [
        route("/public/", &[], RouteAuth::None),
        route("/api/", &[Method::GET, Method::HEAD], scopes("api:read")),
        route("/api/", &[Method::POST, Method::PUT, Method::PATCH, Method::DELETE], scopes("api:write")),
        route("/admin", &[], scopes("admin")),
        route("/a/b/c/", &[Method::GET], RouteAuth::None),
        route("/%61pi2/../x", &[], RouteAuth::None), // a configured path is normalised too: covers "/x"
    ];
    [RouteTable::new(&routes, DefaultPolicy::Deny), RouteTable::new(&routes, DefaultPolicy::Authenticated)]
});

const METHODS: [Method; 8] = [
    Method::GET,
    Method::HEAD,
    Method::POST,
    Method::PUT,
    Method::PATCH,
    Method::DELETE,
    Method::OPTIONS,
    Method::TRACE,
];

/// How an upstream that follows RFC 3986 reads the path (Tomcat does this): `;parameters` are cut from each raw
/// segment *before* percent-decoding (so `%3B` is data, not a delimiter), then each segment is decoded, then `.` and
/// `..` segments are removed and empty ones merged. Bytes, not text. `None` when it climbs above the root.
fn upstream_reading(path: &str) -> Option<Vec<u8>> {
    fn hex(b: u8) -> Option<u8> {
        (b as char).to_digit(16).map(|d| d as u8)
    }
    let mut out: Vec<Vec<u8>> = Vec::new();
    let raw = path.as_bytes();
    let trailing = raw.ends_with(b"/");
    let mut dir = trailing;
    for seg in raw.split(|&b| b == b'/').skip(1) {
        let seg = &seg[..seg.iter().position(|&b| b == b';').unwrap_or(seg.len())];
        let mut d = Vec::with_capacity(seg.len());
        let mut i = 0;
        while i < seg.len() {
            match (seg[i], seg.get(i + 1).copied().and_then(hex), seg.get(i + 2).copied().and_then(hex)) {
                (b'%', Some(h), Some(l)) => {
                    d.push(h * 16 + l);
                    i += 3;
                }
                (b, _, _) => {
                    d.push(b);
                    i += 1;
                }
            }
        }
        dir = false;
        match d.as_slice() {
            b"" => {}
            b"." => dir = true,
            b".." => {
                out.pop()?;
                dir = true;
            }
            _ => out.push(d),
        }
    }
    let mut r = Vec::new();
    for s in &out {
        r.push(b'/');
        r.extend_from_slice(s);
    }
    if r.is_empty() || dir || trailing {
        r.push(b'/');
    }
    Some(r)
}

/// Whether `prefix` (a configured path, normalised, without its trailing slash) covers `path` on a segment boundary.
fn covers(prefix: &str, path: &str) -> bool {
    covers_bytes(prefix.as_bytes(), path.as_bytes())
}

fn covers_bytes(prefix: &[u8], path: &[u8]) -> bool {
    let p = prefix.strip_suffix(b"/").unwrap_or(prefix);
    p.is_empty() || (path.starts_with(p) && matches!(path.get(p.len()), None | Some(b'/')))
}

fuzz_target!(init: { let _ = TABLES.len(); }, |data: &[u8]| {
    let Some((&m, rest)) = data.split_first() else { return };
    let Ok(path) = std::str::from_utf8(rest) else { return };
    let method = &METHODS[usize::from(m) % METHODS.len()];

    let Ok(normal) = normalize(path) else { return };
    let n: &str = &normal;
    assert!(n.starts_with('/'), "{path:?} -> {n:?}: not absolute");
    assert!(!n.contains("//"), "{path:?} -> {n:?}: empty segment");
    assert!(!n.split('/').any(|s| s == "." || s == ".."), "{path:?} -> {n:?}: dot segment");
    assert!(!n.contains('%') && !n.contains(';') && !n.contains('\\'), "{path:?} -> {n:?}: escape, parameter or backslash");
    assert!(!n.bytes().any(|b| b < 0x20 || b == 0x7f), "{path:?} -> {n:?}: control byte");
    match normalize(n) {
        Ok(again) => assert_eq!(&*again, n, "not idempotent: {path:?} -> {n:?} -> {again:?}"),
        Err(e) => panic!("not idempotent: {path:?} -> {n:?} -> {e:?}"),
    }

    for (i, table) in TABLES.iter().enumerate() {
        match table.find(n, method) {
            Some(r) if r.name == "(default)" => assert_eq!(i, 1, "a default route in a deny table"),
            Some(r) => {
                let prefix = normalize(&r.name).map(|p| p.into_owned()).unwrap_or_else(|_| r.name.clone());
                assert!(covers(&prefix, n), "{n:?} matched route {:?}", r.name);
            }
            None => assert_eq!(i, 0, "no route in an `authenticated` table"),
        }
        // A path under /api/ is never let through as public, whatever the method.
        if covers("/api", n) {
            if let Some(r) = table.find(n, method) {
                assert_ne!(r.auth, RouteAuth::None, "{path:?} -> {n:?}: /api/ matched a public route");
            }
        }
    }

    // A path let through as public must be public for the upstream too: an RFC 3986 reading of the raw path must be
    // covered by the same public route (the gateway may be stricter than the upstream, never laxer).
    if let Some(r) = TABLES[0].find(n, method).filter(|r| r.auth == RouteAuth::None) {
        let prefix = normalize(&r.name).map(|p| p.into_owned()).unwrap_or_else(|_| r.name.clone());
        let upstream = upstream_reading(path);
        assert!(
            upstream.as_deref().is_some_and(|u| covers_bytes(prefix.as_bytes(), u)),
            "{path:?}: the gateway reads {n:?} (public route {:?}), an RFC 3986 upstream reads {:?}",
            r.name,
            upstream.as_deref().map(String::from_utf8_lossy)
        );
    }
});
