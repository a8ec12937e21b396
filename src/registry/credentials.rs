//! Generated identifiers and secrets, and how they are stored: client ids, client secrets and admin tokens from the
//! system CSPRNG; secrets kept only as SHA-256 (they carry 256 bits of randomness, so a slow hash adds nothing) and
//! compared in constant time; passwords hashed with Argon2id.

use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::Argon2;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use rand::RngCore;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use crate::secret::Secret;

/// Prefix of client secrets, so that secret scanners can recognise a leaked one.
pub const CLIENT_SECRET_PREFIX: &str = "tgs_";
/// Prefix of admin API tokens.
pub const ADMIN_TOKEN_PREFIX: &str = "tga_";
/// Prefix of refresh tokens.
pub const REFRESH_TOKEN_PREFIX: &str = "tgr_";
/// Prefix of authorization codes.
pub const CODE_PREFIX: &str = "tgc_";

/// Whether `token` is recognisably one of tokengate's own credentials (client secret, admin token, refresh token or
/// code): such a value is never sent to another server, an external issuer's introspection endpoint included.
pub fn is_own_credential(token: &str) -> bool {
    [CLIENT_SECRET_PREFIX, ADMIN_TOKEN_PREFIX, REFRESH_TOKEN_PREFIX, CODE_PREFIX].iter().any(|p| token.starts_with(p))
}

fn random_b64(bytes: usize) -> String {
    let mut buf = vec![0u8; bytes];
    rand::rng().fill_bytes(&mut buf);
    URL_SAFE_NO_PAD.encode(buf)
}

/// A new client id: 128 random bits, URL-safe (22 characters).
pub fn client_id() -> String {
    random_b64(16)
}

/// A new record id: 96 random bits, URL-safe.
pub fn record_id() -> String {
    random_b64(12)
}

/// A new client secret: 256 random bits.
pub fn client_secret() -> Secret {
    Secret::new(format!("{CLIENT_SECRET_PREFIX}{}", random_b64(32)))
}

/// A new admin API token: 256 random bits.
pub fn admin_token() -> Secret {
    Secret::new(format!("{ADMIN_TOKEN_PREFIX}{}", random_b64(32)))
}

/// A random opaque value of `bytes` bytes (CSRF tokens, session ids, `jti`s).
pub fn opaque(bytes: usize) -> String {
    random_b64(bytes)
}

/// Declares a credential that tokengate issues to a client and keeps only as its [`hash`]: generated with its
/// prefix, read back as presented, its `Debug` redacted.
macro_rules! issued_credential {
    ($(#[$doc:meta])* $name:ident, $prefix:expr) => {
        $(#[$doc])*
        #[derive(Debug, Clone)]
        pub struct $name(Secret);

        impl $name {
            /// A new one: 256 random bits.
            pub fn generate() -> Self {
                $name(Secret::new(format!("{}{}", $prefix, random_b64(32))))
            }

            /// One as a client presented it (not yet looked up).
            pub fn presented(value: &str) -> Self {
                $name(Secret::new(value))
            }

            /// What the store keeps of it.
            pub fn hash(&self) -> String {
                hash(self.0.expose())
            }

            /// The value, to give to the client.
            pub fn expose(&self) -> &str {
                self.0.expose()
            }
        }
    };
}

issued_credential!(
    /// An authorization code (RFC 6749 4.1.2): single use, bound to a client, a redirect URI and a PKCE challenge.
    AuthorizationCode,
    CODE_PREFIX
);

issued_credential!(
    /// A refresh token (RFC 6749 1.5): one of a grant's family, rotated or not as its app says.
    RefreshToken,
    REFRESH_TOKEN_PREFIX
);

/// Client credentials from an `Authorization: Basic` value, each part form-urlencoded first (RFC 6749 2.3.1).
/// `None` when the value is not Basic; `Some(Err(()))` when it is Basic but malformed.
pub fn client_basic(authorization: &str) -> Option<Result<(String, String), ()>> {
    let (scheme, b64) = authorization.split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return None;
    }
    let decode = || -> Option<(String, String)> {
        use base64::engine::general_purpose::STANDARD;
        let raw = String::from_utf8(STANDARD.decode(b64.trim()).ok()?).ok()?;
        let (id, secret) = raw.split_once(':')?;
        let unescape =
            |s: &str| url::form_urlencoded::parse(format!("x={s}").as_bytes()).next().map(|(_, v)| v.into_owned());
        Some((unescape(id)?, unescape(secret)?))
    };
    Some(decode().ok_or(()))
}

/// Hex SHA-256: how secrets and tokens are stored.
pub fn hash(secret: &str) -> String {
    hex::encode(Sha256::digest(secret.as_bytes()))
}

/// Whether `presented` hashes to `stored_hash`, in constant time.
pub fn matches_hash(presented: &str, stored_hash: &str) -> bool {
    bool::from(hash(presented).as_bytes().ct_eq(stored_hash.as_bytes()))
}

/// An Argon2id hash (PHC string) of a password, with a random salt.
pub fn hash_password(password: &str) -> String {
    let mut salt = [0u8; 16];
    rand::rng().fill_bytes(&mut salt);
    let salt = SaltString::encode_b64(&salt).expect("16-byte salt");
    Argon2::default().hash_password(password.as_bytes(), &salt).expect("argon2 hashing").to_string()
}

/// Verifies a password against a PHC string (constant time inside argon2).
pub fn verify_password(password: &str, phc: &str) -> bool {
    PasswordHash::new(phc).is_ok_and(|h| Argon2::default().verify_password(password.as_bytes(), &h).is_ok())
}

/// A PHC hash of a random password, verified against when the user does not exist, so that a missing user takes as
/// long to refuse as a wrong password.
pub fn dummy_password_hash() -> &'static str {
    static DUMMY: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    DUMMY.get_or_init(|| hash_password(&random_b64(16)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_are_long_random_and_hashed() {
        let a = client_secret();
        let b = client_secret();
        assert_ne!(a.expose(), b.expose());
        assert!(a.expose().len() >= CLIENT_SECRET_PREFIX.len() + 43);
        let h = hash(a.expose());
        assert!(matches_hash(a.expose(), &h));
        assert!(!matches_hash(b.expose(), &h));
        assert!(!h.contains(a.expose()));
    }

    #[test]
    fn passwords_round_trip() {
        let phc = hash_password("correct horse");
        assert!(phc.starts_with("$argon2id$"));
        assert!(verify_password("correct horse", &phc));
        assert!(!verify_password("wrong", &phc));
    }

    #[test]
    fn basic_credentials_are_form_decoded() {
        use base64::Engine;
        let v = format!("Basic {}", base64::engine::general_purpose::STANDARD.encode("my%20app:p%3Ass"));
        assert_eq!(client_basic(&v), Some(Ok(("my app".into(), "p:ss".into()))));
        assert_eq!(client_basic("Bearer x"), None);
        assert_eq!(client_basic("Basic !!!"), Some(Err(())));
    }

    #[test]
    fn client_ids_are_url_safe() {
        let id = client_id();
        assert_eq!(id.len(), 22);
        assert!(id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_'));
    }
}
