//! The wire format of the authorization server's endpoints: request parameters (a form or a JSON object, each at
//! most once), scope lists, and JSON answers that are never cached. Errors are [`super::OAuthError`].

use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::Value;

use super::{ErrorCode, OAuthError};

/// Request parameters, from a form or a JSON object; each at most once (RFC 6749 3.2).
#[derive(Debug, Default)]
pub struct Params(Vec<(String, String)>);

impl Params {
    /// Parses a form or (with a JSON content type) a JSON object of strings.
    pub fn parse(headers: &HeaderMap, body: &[u8]) -> Result<Params, OAuthError> {
        let json = headers
            .get(http::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|ct| ct.trim_start().to_ascii_lowercase().starts_with("application/json"));
        let pairs: Vec<(String, String)> = if json {
            let v: Value = serde_json::from_slice(body)
                .map_err(|_| OAuthError::bad(ErrorCode::InvalidRequest, "the body is not valid JSON"))?;
            let obj = v
                .as_object()
                .ok_or_else(|| OAuthError::bad(ErrorCode::InvalidRequest, "the body must be a JSON object"))?;
            obj.iter()
                .map(|(k, v)| match v {
                    Value::String(s) => Ok((k.clone(), s.clone())),
                    Value::Number(n) => Ok((k.clone(), n.to_string())),
                    _ => Err(OAuthError::bad(ErrorCode::InvalidRequest, format!("`{k}` must be a string"))),
                })
                .collect::<Result<_, _>>()?
        } else {
            url::form_urlencoded::parse(body).into_owned().collect()
        };
        let mut seen = std::collections::HashSet::new();
        for (k, _) in &pairs {
            if !seen.insert(k.as_str()) {
                return Err(OAuthError::bad(ErrorCode::InvalidRequest, format!("`{k}` is repeated")));
            }
        }
        Ok(Params(pairs))
    }

    /// A parameter; empty values count as absent (RFC 6749 3.1).
    pub fn get(&self, name: &str) -> Option<&str> {
        self.0.iter().find(|(k, v)| k == name && !v.is_empty()).map(|(_, v)| v.as_str())
    }

    /// A parameter that must be there.
    pub fn require(&self, name: &str) -> Result<&str, OAuthError> {
        self.get(name).ok_or_else(|| OAuthError::bad(ErrorCode::InvalidRequest, format!("`{name}` is required")))
    }
}

impl Params {
    /// Parameters from pairs already checked (a Workfront request rewritten to the standard one).
    pub(super) fn from_pairs(pairs: Vec<(String, String)>) -> Params {
        Params(pairs)
    }

    /// The pairs, in the order they came.
    pub(super) fn into_pairs(self) -> Vec<(String, String)> {
        self.0
    }
}

/// Scope sets: parsed, checked against what may be granted, kept sorted and unique.
pub fn parse_scope(s: &str) -> Vec<String> {
    let mut v: Vec<String> = s.split(' ').filter(|x| !x.is_empty()).map(str::to_string).collect();
    v.sort();
    v.dedup();
    v
}

/// A JSON answer with `Cache-Control: no-store`, or the OAuth error.
pub fn answer(result: Result<Value, OAuthError>) -> Response {
    match result {
        Ok(body) => ([(http::header::CACHE_CONTROL, "no-store"), (http::header::PRAGMA, "no-cache")], Json(body))
            .into_response(),
        Err(e) => e.into_response(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn repeated_parameters_are_refused() {
        let h = HeaderMap::new();
        assert!(Params::parse(&h, b"grant_type=a&grant_type=b").is_err());
        assert_eq!(Params::parse(&h, b"a=1&b=").unwrap().get("b"), None);
    }
}
