//! Who is calling: the identity a verified token carries, with its identity headers built once per token.

use http::HeaderValue;

use super::deny::InvalidToken;

/// Identity header names, set after every inbound copy is removed.
pub const SUBJECT_HEADER: &str = "x-auth-subject";
/// See [`SUBJECT_HEADER`].
pub const CLIENT_ID_HEADER: &str = "x-auth-client-id";
/// See [`SUBJECT_HEADER`].
pub const SCOPES_HEADER: &str = "x-auth-scopes";
/// See [`SUBJECT_HEADER`].
pub const ISSUER_HEADER: &str = "x-auth-issuer";
/// Every identity header, for stripping.
pub const IDENTITY_HEADERS: [&str; 4] = [SUBJECT_HEADER, CLIENT_ID_HEADER, SCOPES_HEADER, ISSUER_HEADER];

/// A claim kept twice: as the Rust string every decision reads (revocation, rate limits, logs) and as the header
/// value forwarded upstream (the same text; UTF-8 bytes for non-ASCII names).
#[derive(Debug, Clone)]
struct Claim {
    text: Box<str>,
    header: HeaderValue,
}

impl Claim {
    fn new(s: &str) -> Result<Self, InvalidToken> {
        // Claims come from JSON and may hold control characters; such a value cannot be forwarded safely.
        let header = HeaderValue::from_str(s).map_err(|_| InvalidToken::Claims)?;
        Ok(Claim { text: s.into(), header })
    }
}

/// A token's `jti` (RFC 7519 4.1.7): what revoking one token names. tokengate's own are `<grant id>.<random>`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct TokenId(Box<str>);

impl TokenId {
    /// A token id from its text.
    pub fn new(id: &str) -> TokenId {
        TokenId(Box::from(id))
    }

    /// The text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Display for TokenId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// The caller's identity, as established by a verified token. Cached per token and shared by reference.
#[derive(Debug, Clone)]
pub struct Identity {
    subject: Option<Claim>,
    client_id: Option<Claim>,
    issuer: Claim,
    scopes: Box<[Box<str>]>,
    scopes_header: HeaderValue,
    /// `exp`, seconds since the epoch, when the token has one.
    pub expires_at: Option<i64>,
    /// `jti`, when the token has one.
    pub token_id: Option<TokenId>,
    /// `iat`, when the token has one.
    pub issued_at: Option<i64>,
}

impl Identity {
    /// Builds an identity; refuses values that cannot travel in an HTTP header.
    pub fn new(
        subject: Option<&str>,
        client_id: Option<&str>,
        issuer: &str,
        scopes: impl IntoIterator<Item = impl AsRef<str>>,
        expires_at: Option<i64>,
        token_id: Option<&str>,
    ) -> Result<Self, InvalidToken> {
        let scopes: Box<[Box<str>]> =
            scopes.into_iter().filter(|s| !s.as_ref().is_empty()).map(|s| Box::from(s.as_ref())).collect();
        let joined = scopes.iter().map(|s| &**s).collect::<Vec<_>>().join(" ");
        Ok(Identity {
            subject: subject.map(Claim::new).transpose()?,
            client_id: client_id.map(Claim::new).transpose()?,
            issuer: Claim::new(issuer)?,
            scopes_header: HeaderValue::from_str(&joined).map_err(|_| InvalidToken::Claims)?,
            scopes,
            expires_at,
            token_id: token_id.map(TokenId::new),
            issued_at: None,
        })
    }

    /// Sets `iat`.
    pub fn with_issued_at(mut self, iat: Option<i64>) -> Self {
        self.issued_at = iat;
        self
    }

    /// `sub`.
    pub fn subject(&self) -> Option<&str> {
        self.subject.as_ref().map(|c| &*c.text)
    }

    /// `client_id` (or `azp`/`cid`).
    pub fn client_id(&self) -> Option<&str> {
        self.client_id.as_ref().map(|c| &*c.text)
    }

    /// `iss`.
    pub fn issuer(&self) -> &str {
        &self.issuer.text
    }

    /// The granted scopes.
    pub fn scopes(&self) -> impl Iterator<Item = &str> {
        self.scopes.iter().map(|s| &**s)
    }

    /// Whether `scope` was granted.
    pub fn has_scope(&self, scope: &str) -> bool {
        self.scopes.iter().any(|s| &**s == scope)
    }

    /// The identity headers' values, ready to insert: (name, value).
    pub fn headers(&self) -> impl Iterator<Item = (&'static str, &HeaderValue)> {
        [
            self.subject.as_ref().map(|c| (SUBJECT_HEADER, &c.header)),
            self.client_id.as_ref().map(|c| (CLIENT_ID_HEADER, &c.header)),
            Some((SCOPES_HEADER, &self.scopes_header)),
            Some((ISSUER_HEADER, &self.issuer.header)),
        ]
        .into_iter()
        .flatten()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Regression: a non-ASCII subject was kept only as a header value and read back as `None`, so revocation by
    /// user never matched `zoë`.
    #[test]
    fn non_ascii_subject_is_kept_as_text() {
        let id = Identity::new(Some("zoë"), Some("app"), "https://i", ["a"], None, None).unwrap();
        assert_eq!(id.subject(), Some("zoë"));
        let (_, v) = id.headers().next().unwrap();
        assert_eq!(v.as_bytes(), "zoë".as_bytes());
    }

    #[test]
    fn control_characters_are_refused() {
        assert_eq!(Identity::new(Some("a\nb"), None, "https://i", ["a"], None, None).err(), Some(InvalidToken::Claims));
    }
}
