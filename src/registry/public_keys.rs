//! Machine apps' public keys: read from a PEM public key, an X.509 certificate or a JWK, or generated (the private
//! half returned once, never stored); each published as a JWK and usable as a jsonwebtoken `DecodingKey`.

use aws_lc_rs::encoding::{AsDer, Pkcs8V1Der, PublicKeyX509Der};
use aws_lc_rs::rsa::{KeyPair as RsaKeyPair, KeySize};
use aws_lc_rs::signature::{EcdsaKeyPair, Ed25519KeyPair, KeyPair, ECDSA_P256_SHA256_FIXED_SIGNING};
use jsonwebtoken::jwk::{AlgorithmParameters, Jwk};
use jsonwebtoken::{Algorithm, DecodingKey};

/// The family of a registered key, and the algorithm tokens signed with it must use.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Family {
    /// RSA: RS256.
    Rsa,
    /// EC P-256: ES256.
    Ec,
    /// Ed25519: EdDSA.
    Okp,
}

impl Family {
    /// Stored name (JWK `kty`).
    pub fn as_str(self) -> &'static str {
        match self {
            Family::Rsa => "RSA",
            Family::Ec => "EC",
            Family::Okp => "OKP",
        }
    }

    /// Parses a stored name.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "RSA" => Some(Family::Rsa),
            "EC" => Some(Family::Ec),
            "OKP" => Some(Family::Okp),
            _ => None,
        }
    }

    /// The JWS algorithm of this family accepted for assertions.
    pub fn algorithm(self) -> Algorithm {
        match self {
            Family::Rsa => Algorithm::RS256,
            Family::Ec => Algorithm::ES256,
            Family::Okp => Algorithm::EdDSA,
        }
    }

    /// The algorithm's name.
    pub fn alg_name(self) -> &'static str {
        match self {
            Family::Rsa => "RS256",
            Family::Ec => "ES256",
            Family::Okp => "EdDSA",
        }
    }
}

/// A public key read from its stored form.
#[derive(Debug)]
pub struct PublicKey {
    /// Its family.
    pub family: Family,
    /// `pem` or `jwk`.
    pub format: &'static str,
    /// The stored text.
    pub material: String,
}

impl PublicKey {
    /// The verification key.
    pub fn decoding_key(&self) -> Option<DecodingKey> {
        match self.format {
            "jwk" => serde_json::from_str::<Jwk>(&self.material).ok().and_then(|j| DecodingKey::from_jwk(&j).ok()),
            _ => match self.family {
                Family::Rsa => DecodingKey::from_rsa_pem(self.material.as_bytes()).ok(),
                Family::Ec => DecodingKey::from_ec_pem(self.material.as_bytes()).ok(),
                Family::Okp => DecodingKey::from_ed_pem(self.material.as_bytes()).ok(),
            },
        }
    }

    /// The public JWK, with `kid` and `alg`.
    pub fn jwk(&self, kid: &str) -> serde_json::Value {
        let mut v = match self.format {
            "jwk" => serde_json::from_str::<serde_json::Value>(&self.material).unwrap_or_default(),
            _ => pem_to_jwk(&self.material, self.family).unwrap_or_default(),
        };
        if let Some(o) = v.as_object_mut() {
            o.insert("kid".into(), kid.into());
            o.insert("alg".into(), self.family.alg_name().into());
            o.insert("use".into(), "sig".into());
        }
        v
    }
}

fn pem_to_jwk(pem_text: &str, family: Family) -> Option<serde_json::Value> {
    let key = match family {
        Family::Rsa => DecodingKey::from_rsa_pem(pem_text.as_bytes()).ok()?,
        Family::Ec => DecodingKey::from_ec_pem(pem_text.as_bytes()).ok()?,
        Family::Okp => DecodingKey::from_ed_pem(pem_text.as_bytes()).ok()?,
    };
    let jwk = Jwk::from_decoding_key(&key, Some(family.algorithm())).ok()?;
    serde_json::to_value(jwk).ok()
}

/// Reads a public key given as PEM (`PUBLIC KEY`, `RSA PUBLIC KEY` or `CERTIFICATE`) or as JWK JSON. Private keys
/// are refused: the point is that the private half never leaves the app.
pub fn parse(input: &str) -> Result<PublicKey, String> {
    let text = input.trim();
    if text.starts_with('{') {
        let value: serde_json::Value = serde_json::from_str(text).map_err(|e| format!("not a JWK: {e}"))?;
        return parse_jwk(&value);
    }
    if text.contains("PRIVATE KEY-----") {
        return Err("this is a private key: register only the public key".into());
    }
    if !text.starts_with("-----BEGIN ") {
        return Err("expected a PEM public key, an X.509 certificate or a JWK".into());
    }
    let material = format!("{text}\n");
    let bytes = material.as_bytes();
    let family = if DecodingKey::from_rsa_pem(bytes).is_ok() {
        Family::Rsa
    } else if DecodingKey::from_ec_pem(bytes).is_ok() {
        Family::Ec
    } else if DecodingKey::from_ed_pem(bytes).is_ok() {
        Family::Okp
    } else {
        return Err("not an RSA, EC P-256 or Ed25519 public key or certificate".into());
    };
    let key = PublicKey { family, format: "pem", material };
    let jwk = pem_to_jwk(&key.material, family).ok_or("the key cannot be used (unsupported curve or size)")?;
    check_usable(family, &jwk)?;
    Ok(key)
}

/// Refuses keys that parse but cannot verify safely: EC points off the P-256 curve or on another curve, Ed25519 keys
/// of the wrong length, RSA moduli under 2048 bits.
fn check_usable(family: Family, jwk: &serde_json::Value) -> Result<(), String> {
    use aws_lc_rs::signature::{ParsedPublicKey, ECDSA_P256_SHA256_FIXED, ED25519};
    use base64::Engine;
    let b64 = |name: &str| {
        jwk.get(name)
            .and_then(|v| v.as_str())
            .and_then(|s| base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(s).ok())
            .ok_or_else(|| format!("the key's `{name}` is missing or not base64url"))
    };
    match family {
        Family::Ec => {
            if jwk.get("crv").and_then(|v| v.as_str()) != Some("P-256") {
                return Err("only P-256 EC keys are accepted (ES256)".into());
            }
            let (x, y) = (b64("x")?, b64("y")?);
            if x.len() != 32 || y.len() != 32 {
                return Err("a P-256 key has 32-byte coordinates".into());
            }
            let mut point = vec![4u8];
            point.extend_from_slice(&x);
            point.extend_from_slice(&y);
            ParsedPublicKey::new(&ECDSA_P256_SHA256_FIXED, &point)
                .map_err(|_| "the point is not on the P-256 curve".to_string())?;
        }
        Family::Okp => {
            let x = b64("x")?;
            if x.len() != 32 {
                return Err("an Ed25519 key is 32 bytes".into());
            }
            ParsedPublicKey::new(&ED25519, &x).map_err(|_| "not a valid Ed25519 public key".to_string())?;
        }
        Family::Rsa => {
            let n = b64("n")?;
            let bits = n.iter().skip_while(|b| **b == 0).count() * 8;
            if bits < 2048 {
                return Err(format!("RSA keys need at least 2048 bits, this one has about {bits}"));
            }
            let e = b64("e")?;
            if e.is_empty() || e.len() > 8 || e.last().is_some_and(|b| b % 2 == 0) {
                return Err("the RSA exponent is not valid".into());
            }
        }
    }
    Ok(())
}

/// Reads a public JWK.
pub fn parse_jwk(value: &serde_json::Value) -> Result<PublicKey, String> {
    if value.get("d").is_some() || value.get("p").is_some() {
        return Err("this JWK holds a private key: register only the public key".into());
    }
    let mut jwk: Jwk = serde_json::from_value(value.clone()).map_err(|e| format!("not a valid JWK: {e}"))?;
    let family = match &jwk.algorithm {
        AlgorithmParameters::RSA(_) => Family::Rsa,
        AlgorithmParameters::EllipticCurve(p) if matches!(p.curve, jsonwebtoken::jwk::EllipticCurve::P256) => {
            Family::Ec
        }
        AlgorithmParameters::OctetKeyPair(p) if matches!(p.curve, jsonwebtoken::jwk::EllipticCurve::Ed25519) => {
            Family::Okp
        }
        _ => return Err("only RSA, EC P-256 and Ed25519 public keys are accepted".into()),
    };
    DecodingKey::from_jwk(&jwk).map_err(|_| "the JWK is not a valid public key".to_string())?;
    check_usable(family, value)?;
    jwk.common.key_id = None;
    jwk.common.key_algorithm = None;
    let material = serde_json::to_string(&jwk).map_err(|e| e.to_string())?;
    Ok(PublicKey { family, format: "jwk", material })
}

/// A generated key pair: the public key to store and the private key PEM (PKCS#8) to hand out once.
pub struct Generated {
    /// The public half.
    pub public: PublicKey,
    /// PKCS#8 PEM of the private half.
    pub private_pem: crate::secret::Secret,
}

fn pem(tag: &str, der: &[u8]) -> String {
    pem_rfc7468(tag, der)
}

/// PEM per RFC 7468: base64 in 64-column lines.
pub fn pem_rfc7468(tag: &str, der: &[u8]) -> String {
    use base64::Engine;
    let b64 = base64::engine::general_purpose::STANDARD.encode(der);
    let mut out = format!("-----BEGIN {tag}-----\n");
    for chunk in b64.as_bytes().chunks(64) {
        out.push_str(std::str::from_utf8(chunk).unwrap_or_default());
        out.push('\n');
    }
    out.push_str(&format!("-----END {tag}-----\n"));
    out
}

/// Generates a key pair for `family` (RSA 2048 for RS256, as the product signs).
pub fn generate(family: Family) -> Result<Generated, String> {
    fn fail<E>(_: E) -> String {
        "key generation failed".to_string()
    }
    let (private_der, public_der) = match family {
        Family::Rsa => {
            let kp = RsaKeyPair::generate(KeySize::Rsa2048).map_err(fail)?;
            let private: Pkcs8V1Der = kp.as_der().map_err(fail)?;
            let public: PublicKeyX509Der = kp.public_key().as_der().map_err(fail)?;
            (private.as_ref().to_vec(), public.as_ref().to_vec())
        }
        Family::Ec => {
            let rng = aws_lc_rs::rand::SystemRandom::new();
            let doc = EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &rng).map_err(fail)?;
            let kp = EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, doc.as_ref()).map_err(fail)?;
            let public: PublicKeyX509Der = kp.public_key().as_der().map_err(fail)?;
            (doc.as_ref().to_vec(), public.as_ref().to_vec())
        }
        Family::Okp => {
            let rng = aws_lc_rs::rand::SystemRandom::new();
            let doc = Ed25519KeyPair::generate_pkcs8(&rng).map_err(fail)?;
            let kp = Ed25519KeyPair::from_pkcs8(doc.as_ref()).map_err(fail)?;
            let public: PublicKeyX509Der = kp.public_key().as_der().map_err(fail)?;
            (doc.as_ref().to_vec(), public.as_ref().to_vec())
        }
    };
    let public = PublicKey { family, format: "pem", material: pem("PUBLIC KEY", &public_der) };
    Ok(Generated { public, private_pem: crate::secret::Secret::new(pem("PRIVATE KEY", &private_der)) })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_keys_round_trip_to_jwk_and_decoding_keys() {
        crate::install_crypto_provider();
        for fam in [Family::Ec, Family::Okp, Family::Rsa] {
            let g = generate(fam).unwrap();
            assert!(g.private_pem.expose().starts_with("-----BEGIN PRIVATE KEY-----"));
            let again = parse(&g.public.material).unwrap();
            assert_eq!(again.family, fam);
            assert!(again.decoding_key().is_some());
            let jwk = again.jwk("k1");
            assert_eq!(jwk["kid"], "k1");
            let from_jwk = parse_jwk(&jwk).unwrap();
            assert_eq!(from_jwk.family, fam);
        }
    }

    #[test]
    fn private_keys_are_refused() {
        let g = generate(Family::Ec).unwrap();
        assert!(parse(g.private_pem.expose()).unwrap_err().contains("private"));
        let jwk = serde_json::json!({"kty": "EC", "crv": "P-256", "x": "a", "y": "b", "d": "c"});
        assert!(parse_jwk(&jwk).unwrap_err().contains("private"));
        assert!(parse("hello").is_err());
    }
}
