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
            // Read as a list of members, so that a repeated member is seen (a map would keep the last one).
            let members: JsonMembers = serde_json::from_slice(body)
                .map_err(|_| OAuthError::bad(ErrorCode::InvalidRequest, "the body is not a JSON object"))?;
            members
                .0
                .into_iter()
                .map(|(k, v)| match v {
                    Value::String(s) => Ok((k, s)),
                    Value::Number(n) => Ok((k, n.to_string())),
                    _ => Err(OAuthError::bad(
                        ErrorCode::InvalidRequest,
                        format!("{} must be a string", parameter_name(&k)),
                    )),
                })
                .collect::<Result<_, _>>()?
        } else {
            url::form_urlencoded::parse(body).into_owned().collect()
        };
        let mut seen = std::collections::HashSet::new();
        for (k, _) in &pairs {
            if !seen.insert(k.as_str()) {
                return Err(OAuthError::bad(ErrorCode::InvalidRequest, format!("{} is repeated", parameter_name(k))));
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

/// The members of a JSON object in the order written, repeated ones included.
struct JsonMembers(Vec<(String, Value)>);

impl<'de> serde::Deserialize<'de> for JsonMembers {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Members;
        impl<'de> serde::de::Visitor<'de> for Members {
            type Value = JsonMembers;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a JSON object")
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(self, mut map: A) -> Result<JsonMembers, A::Error> {
                let mut members = Vec::new();
                while let Some(member) = map.next_entry::<String, Value>()? {
                    members.push(member);
                }
                Ok(JsonMembers(members))
            }
        }
        d.deserialize_map(Members)
    }
}

/// The parameters this server reads, so that an error can name one without echoing what a client sent.
const PARAMETERS: &[&str] = &[
    "grant_type",
    "code",
    "redirect_uri",
    "code_verifier",
    "refresh_token",
    "scope",
    "assertion",
    "client_id",
    "client_secret",
    "token",
    "token_type_hint",
    "jwt_token",
    "state",
    "response_type",
    "nonce",
    "code_challenge",
    "code_challenge_method",
];

/// `` `k` `` when `k` is a parameter this server reads, else "a parameter": client input is never echoed.
pub fn parameter_name(k: &str) -> String {
    match PARAMETERS.iter().find(|p| **p == k) {
        Some(p) => format!("`{p}`"),
        None => "a parameter".to_string(),
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
        let json = {
            let mut h = HeaderMap::new();
            h.insert(http::header::CONTENT_TYPE, http::HeaderValue::from_static("application/json"));
            h
        };
        // Regression: a JSON body kept the last of two members of one name.
        assert!(Params::parse(&json, br#"{"grant_type":"a","grant_type":"b"}"#).is_err());
        assert_eq!(Params::parse(&json, br#"{"grant_type":"a","n":1}"#).unwrap().get("n"), Some("1"));
        assert!(Params::parse(&json, b"[1]").is_err());
    }
}
