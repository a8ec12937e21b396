//! Configuration problems: each names its key, the reason and its line and column, and all are reported together.
//!
//! Both the binary's `config` and the embeddable edge's [`crate::edge::config`] build on this, so an edge
//! configuration's errors read the same whichever loads it.

use std::fmt;
#[cfg(feature = "server")]
use std::net::SocketAddr;

use url::Url;

/// One problem in a configuration file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    /// The key, e.g. `auth.issuers[0].audiences`.
    pub key: String,
    /// Why it is wrong.
    pub reason: String,
    /// Line and column (1-based) when known.
    pub location: Option<(usize, usize)>,
}

/// Every problem found in one configuration file.
#[derive(Debug, Clone)]
pub struct ConfigErrors {
    /// The file (or `<embedded>`).
    pub source: String,
    /// The problems, in file order.
    pub errors: Vec<ConfigError>,
}

impl fmt::Display for ConfigErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let n = self.errors.len();
        writeln!(f, "{}: {} problem{}", self.source, n, if n == 1 { "" } else { "s" })?;
        for e in &self.errors {
            writeln!(f, "  {}", e.located(&self.source))?;
        }
        Ok(())
    }
}

impl ConfigError {
    /// `file:line:col: `key`: reason`, the place left out when unknown.
    pub fn located(&self, source: &str) -> String {
        match self.location {
            Some((line, col)) => format!("{source}:{line}:{col}: `{}`: {}", self.key, self.reason),
            None => format!("{source}: `{}`: {}", self.key, self.reason),
        }
    }
}

impl std::error::Error for ConfigErrors {}

/// Parses `text`, collects unknown keys, runs `build`, and returns every problem found, sorted by place.
///
/// `unknown` says why a key the file type does not know is wrong (usually just "unknown key").
pub(crate) fn parse<F: serde::de::DeserializeOwned, T>(
    text: &str,
    source: &str,
    unknown: impl Fn(&str) -> String,
    build: impl FnOnce(&mut Validator, F) -> Option<T>,
) -> Result<T, ConfigErrors> {
    let fail = |errors: Vec<ConfigError>| ConfigErrors { source: source.to_string(), errors };
    let de = toml::de::Deserializer::parse(text).map_err(|e| fail(vec![toml_error(text, &e)]))?;
    let mut unknown_keys = Vec::new();
    let parsed: Result<F, _> = serde_ignored::deserialize(de, |path| unknown_keys.push(key_path(&path)));
    let file = parsed.map_err(|e| fail(vec![toml_error(text, &e)]))?;
    let mut v = Validator::new(text);
    for key in unknown_keys {
        let reason = unknown(&key);
        v.error(&key, reason);
    }
    match build(&mut v, file) {
        Some(c) if v.errors.is_empty() => Ok(c),
        _ => {
            let mut errors = v.errors;
            errors.sort_by_key(|e| e.location.unwrap_or((usize::MAX, 0)));
            Err(fail(errors))
        }
    }
}

fn toml_error(text: &str, e: &toml::de::Error) -> ConfigError {
    let location = e.span().map(|s| line_col(text, s.start));
    let message = e.message().trim().to_string();
    // serde's messages name the key for type errors ("invalid type: ... for key `server.threads`").
    let key = e.span().and_then(|s| key_at(text, s.start)).unwrap_or_else(|| "(syntax)".into());
    ConfigError { key, reason: message, location }
}

/// `auth.issuers[0].bogus` from serde_ignored's path.
fn key_path(path: &serde_ignored::Path<'_>) -> String {
    use serde_ignored::Path;
    match path {
        Path::Root => String::new(),
        Path::Seq { parent, index } => format!("{}[{index}]", key_path(parent)),
        Path::Map { parent, key } => {
            let p = key_path(parent);
            if p.is_empty() {
                key.clone()
            } else {
                format!("{p}.{key}")
            }
        }
        Path::Some { parent } | Path::NewtypeStruct { parent } | Path::NewtypeVariant { parent } => key_path(parent),
    }
}

fn line_col(text: &str, offset: usize) -> (usize, usize) {
    let before = &text[..offset.min(text.len())];
    let line = before.matches('\n').count() + 1;
    let col = before.rfind('\n').map(|i| offset - i).unwrap_or(offset + 1);
    (line, col)
}

/// Best-effort name of the key written on the line holding `offset`.
fn key_at(text: &str, offset: usize) -> Option<String> {
    let start = text[..offset.min(text.len())].rfind('\n').map(|i| i + 1).unwrap_or(0);
    let line = text[start..].lines().next()?;
    let (k, _) = line.split_once('=')?;
    let k = k.trim();
    (!k.is_empty()).then(|| k.to_string())
}

/// Collects every problem while a configuration is built, each located in the file.
pub(crate) struct Validator<'t> {
    text: &'t str,
    doc: Option<toml::Spanned<toml::de::DeTable<'t>>>,
    errors: Vec<ConfigError>,
}

impl<'t> Validator<'t> {
    fn new(text: &'t str) -> Self {
        Validator { text, doc: toml::de::DeTable::parse(text).ok(), errors: Vec::new() }
    }

    pub(crate) fn error(&mut self, key: &str, reason: impl Into<String>) {
        let location = self.locate(key);
        self.errors.push(ConfigError { key: key.to_string(), reason: reason.into(), location });
    }

    /// A located problem that is only worth a warning: returned, not counted as an error.
    #[cfg(feature = "server")]
    pub(crate) fn warning(&self, key: &str, reason: impl Into<String>) -> ConfigError {
        ConfigError { key: key.to_string(), reason: reason.into(), location: self.locate(key) }
    }

    /// Finds `a.b[2].c` in the parsed document and returns its line and column.
    fn locate(&self, key: &str) -> Option<(usize, usize)> {
        let doc = self.doc.as_ref()?;
        let mut span = doc.span();
        let mut table: Option<&toml::de::DeTable> = Some(doc.get_ref());
        let mut value: Option<&toml::de::DeValue> = None;
        for part in key.split('.') {
            let (name, index) = match part.split_once('[') {
                Some((n, rest)) => (n, rest.trim_end_matches(']').parse::<usize>().ok()),
                None => (part, None),
            };
            let t = match (table, value) {
                (Some(t), _) => t,
                (None, Some(toml::de::DeValue::Table(t))) => t,
                _ => break,
            };
            let Some(found) = t.get(name) else { break };
            span = found.span();
            value = Some(found.get_ref());
            table = None;
            if let Some(i) = index {
                match found.get_ref() {
                    toml::de::DeValue::Array(a) => match a.get(i) {
                        Some(item) => {
                            span = item.span();
                            value = Some(item.get_ref());
                        }
                        None => break,
                    },
                    _ => break,
                }
            }
        }
        Some(line_col(self.text, span.start))
    }

    pub(crate) fn positive(&mut self, key: &str, v: Option<i64>, default: i64, max: i64) -> u64 {
        match v {
            None => default as u64,
            Some(n) if n >= 1 && n <= max => n as u64,
            Some(n) => {
                self.error(key, format!("must be between 1 and {max}, got {n}"));
                default as u64
            }
        }
    }

    pub(crate) fn non_negative(&mut self, key: &str, v: Option<i64>, default: i64, max: i64) -> u64 {
        match v {
            None => default as u64,
            Some(n) if n >= 0 && n <= max => n as u64,
            Some(n) => {
                self.error(key, format!("must be between 0 and {max}, got {n}"));
                default as u64
            }
        }
    }

    /// An IP address with a port (the binary's listeners).
    #[cfg(feature = "server")]
    pub(crate) fn addr(&mut self, key: &str, v: Option<&str>, default: &str) -> SocketAddr {
        let s = v.unwrap_or(default);
        match s.parse::<SocketAddr>() {
            Ok(a) => a,
            Err(_) => {
                self.error(key, format!("`{s}` is not an IP address with a port, e.g. \"127.0.0.1:8080\""));
                default.parse().expect("default address")
            }
        }
    }

    pub(crate) fn url(&mut self, key: &str, s: &str) -> Option<Url> {
        match Url::parse(s) {
            Ok(u) if u.scheme() == "https" || u.scheme() == "http" => {
                if u.host_str().is_none() {
                    self.error(key, format!("`{s}` has no host"));
                    None
                } else if u.fragment().is_some() {
                    self.error(key, format!("`{s}` must not have a fragment"));
                    None
                } else {
                    Some(u)
                }
            }
            Ok(u) => {
                self.error(key, format!("`{s}`: scheme `{}` is not http or https", u.scheme()));
                None
            }
            Err(e) => {
                self.error(key, format!("`{s}` is not a URL: {e}"));
                None
            }
        }
    }
}
