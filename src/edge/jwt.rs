//! JWT checks: structure, pinned algorithms, `crit`, `typ`, `iss`, `aud`, `exp`/`nbf` against an injected clock,
//! then the signature against a key from the issuer's own key set. Keys named in the token itself (`jku`, `x5u`,
//! `jwk`, `x5c`) are never read.
//!
//! [`verify`] is the one verifier: the edge calls it for every issuer (remote or in this process), and the built-in
//! authorization server's introspection calls it for its own tokens, so both always agree on a token.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use jsonwebtoken::{Algorithm, DecodingKey};
use serde::Deserialize;

use super::config::IssuerConfig;
use super::deny::{Denial, InvalidToken};
use super::identity::Identity;
use super::keys::IssuerKeys;
use super::LocalIssuer;

/// Parses an algorithm name from the configuration: asymmetric JWS algorithms only.
pub fn parse_algorithm(name: &str) -> Result<Algorithm, String> {
    Ok(match name {
        "RS256" => Algorithm::RS256,
        "RS384" => Algorithm::RS384,
        "RS512" => Algorithm::RS512,
        "PS256" => Algorithm::PS256,
        "PS384" => Algorithm::PS384,
        "PS512" => Algorithm::PS512,
        "ES256" => Algorithm::ES256,
        "ES384" => Algorithm::ES384,
        "EdDSA" => Algorithm::EdDSA,
        "HS256" | "HS384" | "HS512" => {
            return Err(format!(
                "`{name}` is refused: a shared-secret algorithm lets anyone holding the key forge tokens"
            ))
        }
        _ if name.eq_ignore_ascii_case("none") => {
            return Err("`none` is refused: unsigned tokens are never accepted".into())
        }
        _ => {
            return Err(format!("`{name}` is not one of RS256, RS384, RS512, PS256, PS384, PS512, ES256, ES384, EdDSA"))
        }
    })
}

/// The JOSE header fields tokengate reads. Unknown fields are ignored; `crit` is refused when present.
#[derive(Debug, Deserialize)]
pub struct JoseHeader {
    /// `alg`, kept as text so that unknown values are a clean refusal.
    pub alg: String,
    /// `kid`.
    #[serde(default)]
    pub kid: Option<String>,
    /// `typ`.
    #[serde(default)]
    pub typ: Option<String>,
    /// `crit`: any value makes the token unacceptable, since tokengate understands no extension.
    #[serde(default)]
    pub crit: Option<serde_json::Value>,
}

#[derive(Debug, Deserialize)]
#[serde(untagged)]
enum OneOrMany {
    One(String),
    Many(Vec<String>),
}

#[derive(Debug, Deserialize)]
#[serde(untagged)]
enum ScopeClaim {
    Text(String),
    List(Vec<String>),
}

/// The claims tokengate reads.
#[derive(Debug, Deserialize)]
pub struct Claims {
    /// `iss`.
    pub iss: Option<String>,
    sub: Option<String>,
    aud: Option<OneOrMany>,
    exp: Option<f64>,
    nbf: Option<f64>,
    iat: Option<f64>,
    client_id: Option<String>,
    azp: Option<String>,
    cid: Option<String>,
    scope: Option<ScopeClaim>,
    scp: Option<ScopeClaim>,
    jti: Option<String>,
}

/// A JWS split and decoded, not yet verified: an access token's claims by default, or any JSON payload (an RFC 7523
/// client assertion is read as [`serde_json::Value`]).
#[derive(Debug)]
pub struct Parsed<'a, C = Claims> {
    /// The header.
    pub header: JoseHeader,
    /// The claims.
    pub claims: C,
    /// `header.payload`, the signed bytes.
    pub signing_input: &'a str,
    /// The signature segment.
    pub signature: &'a str,
}

/// Whether `token` is shaped like a JWS (three segments, the first decoding to a JSON object). Anything else is an
/// opaque token, to be introspected.
pub fn looks_like_jwt(token: &str) -> bool {
    token.starts_with("eyJ") && token.bytes().filter(|&b| b == b'.').count() == 2
}

fn decode_json<T: serde::de::DeserializeOwned>(segment: &str) -> Result<T, InvalidToken> {
    let bytes = URL_SAFE_NO_PAD.decode(segment).map_err(|_| InvalidToken::Malformed)?;
    serde_json::from_slice(&bytes).map_err(|_| InvalidToken::Malformed)
}

/// Splits and decodes an access token (a JWS in compact form).
pub fn parse(token: &str) -> Result<Parsed<'_>, InvalidToken> {
    parse_as(token)
}

/// Splits and decodes a JWS in compact form whose payload is a `C`.
pub fn parse_as<C: serde::de::DeserializeOwned>(token: &str) -> Result<Parsed<'_, C>, InvalidToken> {
    let mut parts = token.splitn(3, '.');
    let (Some(h), Some(p), Some(s)) = (parts.next(), parts.next(), parts.next()) else {
        return Err(InvalidToken::Malformed);
    };
    if h.is_empty() || p.is_empty() || s.is_empty() || s.contains('.') {
        return Err(InvalidToken::Malformed);
    }
    let header: JoseHeader = decode_json(h)?;
    let claims: C = decode_json(p)?;
    Ok(Parsed { header, claims, signing_input: &token[..h.len() + 1 + p.len()], signature: s })
}

/// The header's algorithm, if it is one of the issuer's.
pub fn algorithm(header: &JoseHeader, issuer: &IssuerConfig) -> Result<Algorithm, InvalidToken> {
    let alg = parse_algorithm(&header.alg).map_err(|_| InvalidToken::Algorithm)?;
    if issuer.algorithms.contains(&alg) {
        Ok(alg)
    } else {
        Err(InvalidToken::Algorithm)
    }
}

/// Everything but the signature: `crit`, `typ`, `exp`, `nbf`, `aud`. Cheap, so it runs before any signature check.
pub fn check_claims(parsed: &Parsed<'_>, issuer: &IssuerConfig, now: i64) -> Result<(), InvalidToken> {
    if parsed.header.crit.is_some() {
        return Err(InvalidToken::Critical);
    }
    if let Some(want) = &issuer.require_typ {
        let typ = parsed.header.typ.as_deref().unwrap_or_default();
        let typ = typ.strip_prefix("application/").unwrap_or(typ);
        if !typ.eq_ignore_ascii_case(want) {
            return Err(InvalidToken::Type);
        }
    }
    let c = &parsed.claims;
    let leeway = issuer.leeway_secs as f64;
    let now = now as f64;
    let exp = c.exp.ok_or(InvalidToken::Claims)?;
    if now > exp + leeway {
        return Err(InvalidToken::Expired);
    }
    if let Some(nbf) = c.nbf {
        if nbf > now + leeway {
            return Err(InvalidToken::NotYetValid);
        }
    }
    let aud_ok = match &c.aud {
        Some(OneOrMany::One(a)) => issuer.audiences.iter().any(|x| x == a),
        Some(OneOrMany::Many(list)) => list.iter().any(|a| issuer.audiences.iter().any(|x| x == a)),
        None => false,
    };
    if !aud_ok {
        return Err(InvalidToken::Audience);
    }
    Ok(())
}

/// Verifies the signature with `key`.
pub fn check_signature<C>(parsed: &Parsed<'_, C>, key: &DecodingKey, alg: Algorithm) -> Result<(), InvalidToken> {
    match jsonwebtoken::crypto::verify(parsed.signature, parsed.signing_input.as_bytes(), key, alg) {
        Ok(true) => Ok(()),
        _ => Err(InvalidToken::Signature),
    }
}

/// The identity carried by verified claims.
pub fn identity(parsed: &Parsed<'_>) -> Result<Identity, InvalidToken> {
    let c = &parsed.claims;
    let scopes: Vec<&str> = match c.scope.as_ref().or(c.scp.as_ref()) {
        Some(ScopeClaim::Text(s)) => s.split(' ').collect(),
        Some(ScopeClaim::List(l)) => l.iter().map(String::as_str).collect(),
        None => Vec::new(),
    };
    let client = c.client_id.as_deref().or(c.azp.as_deref()).or(c.cid.as_deref());
    Identity::new(
        c.sub.as_deref(),
        client,
        c.iss.as_deref().unwrap_or_default(),
        scopes,
        c.exp.map(|e| e as i64),
        c.jti.as_deref(),
    )
    .map(|i| i.with_issued_at(c.iat.map(|t| t as i64)))
}

/// Where an issuer's verification keys come from.
#[derive(Clone, Copy)]
pub enum Keys<'a> {
    /// An issuer in this process (tokengate's own): each key known by its `kid`, with the one algorithm it signs.
    Local(&'a dyn LocalIssuer),
    /// A remote issuer's key set (JWKS), refetched once on an unknown `kid`.
    Remote(&'a IssuerKeys),
}

/// The whole check of a parsed JWT for `issuer`, in order: `iss`, the algorithm pin, then the cheap claims checks
/// (`crit`, `typ`, `exp`/`nbf` with the issuer's leeway, `aud`), then the signature with a key of the right family
/// from `keys`. Returns the identity and the last second it may be used. (Revocation is the caller's: it changes
/// after verification.)
pub async fn verify(
    parsed: &Parsed<'_>,
    issuer: &IssuerConfig,
    keys: Keys<'_>,
    now: i64,
) -> Result<(Identity, i64), Denial> {
    if parsed.claims.iss.as_deref() != Some(issuer.issuer.as_str()) {
        return Err(InvalidToken::UnknownIssuer.into());
    }
    let alg = algorithm(&parsed.header, issuer)?;
    check_claims(parsed, issuer, now)?;
    match keys {
        Keys::Local(source) => {
            let kid = parsed.header.kid.as_deref().ok_or(InvalidToken::UnknownKey)?;
            let (key_alg, key) = source.key(kid).ok_or(InvalidToken::UnknownKey)?;
            if key_alg != alg {
                return Err(InvalidToken::Algorithm.into());
            }
            check_signature(parsed, &key, alg)?;
        }
        Keys::Remote(set) => {
            let candidates = set.keys_for(parsed.header.kid.as_deref(), alg).await?;
            if !candidates.iter().filter_map(|k| k.for_alg(alg)).any(|k| check_signature(parsed, k, alg).is_ok()) {
                return Err(InvalidToken::Signature.into());
            }
        }
    }
    Ok((identity(parsed)?, valid_until(parsed, issuer)))
}

/// When a verified token stops being acceptable: `exp` plus the leeway.
pub fn valid_until(parsed: &Parsed<'_>, issuer: &IssuerConfig) -> i64 {
    parsed.claims.exp.map(|e| e as i64).unwrap_or(0).saturating_add(issuer.leeway_secs as i64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn none_and_hmac_are_refused_in_config() {
        for n in ["none", "None", "NONE", "HS256", "HS512", "rs256"] {
            assert!(parse_algorithm(n).is_err(), "{n}");
        }
        assert_eq!(parse_algorithm("EdDSA").unwrap(), Algorithm::EdDSA);
    }

    #[test]
    fn a_huge_exp_does_not_overflow() {
        // Regression (fuzz/regressions/jwt_parse/ki2-valid-until-overflow).
        let cfg = crate::EdgeConfig::from_toml("[[auth.issuers]]\nissuer = \"https://i\"\naudiences = [\"a\"]\n", "t")
            .unwrap();
        let token =
            format!("{}.{}.c2ln", URL_SAFE_NO_PAD.encode(br#"{"alg":""}"#), URL_SAFE_NO_PAD.encode(br#"{"exp":1e30}"#));
        let parsed = parse(&token).unwrap();
        assert_eq!(valid_until(&parsed, &cfg.issuers[0]), i64::MAX);
    }

    #[test]
    fn segments_are_counted() {
        assert!(parse("a.b").is_err());
        assert!(parse("eyJhbGciOiJFUzI1NiJ9.e30.").is_err());
        assert!(parse("eyJhbGciOiJFUzI1NiJ9.e30.c2ln.eA").is_err());
        assert!(parse("eyJhbGciOiJFUzI1NiJ9.e30.c2ln").is_ok());
        assert!(parse("eyJhbGciOiJFUzI1NiJ9.!!.c2ln").is_err());
    }
}
