//! TLS for the proxy's listener: certificates read from PEM files, one chosen per handshake by SNI, reloaded in place.
//!
//! [`Certificates`] is the rustls certificate resolver. It holds every configured certificate with the DNS names it
//! covers (its subject alternative names, wildcards included; the common name only when it has none). A handshake
//! gets the certificate whose name matches the client's SNI most exactly, else the first configured one.
//! [`Certificates::reload`] reads the files again and swaps them in at once: open connections keep the certificate
//! they were made with, and a bad new file keeps the old set serving.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use arc_swap::ArcSwap;
use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;

/// One configured certificate: its chain file and its key file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CertificateFiles {
    /// The PEM chain, leaf first.
    pub cert: PathBuf,
    /// The PEM private key (PKCS#8, PKCS#1 RSA or SEC1 EC).
    pub key: PathBuf,
}

/// The lowest TLS version a client may speak. TLS 1.0 and 1.1 are never offered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MinVersion {
    /// TLS 1.2 and 1.3.
    Tls12,
    /// TLS 1.3 only.
    Tls13,
}

/// A certificate ready to serve, with what `check-config` reports of it.
struct Loaded {
    /// Lower-case DNS names, `*.example.com` for a wildcard.
    names: Vec<String>,
    /// Seconds since the epoch after which the leaf is no longer valid, and that time as the certificate says it.
    not_after: (i64, String),
    key: Arc<CertifiedKey>,
}

/// Why a certificate pair cannot be served. Each names the file at fault.
#[derive(Debug, thiserror::Error)]
#[allow(missing_docs)]
pub enum CertificateError {
    /// A file cannot be read; `field` is `cert` or `key`.
    #[error("cannot read `{path}`: {reason}")]
    Read { field: &'static str, path: String, reason: String },
    /// The chain file has no `CERTIFICATE` block.
    #[error("`{0}` holds no PEM certificate")]
    NoCertificate(String),
    /// The key file has no private key block.
    #[error("`{0}` holds no PEM private key (PKCS#8, RSA or EC)")]
    NoKey(String),
    /// The key is of a kind rustls cannot sign with.
    #[error("`{path}`: the key cannot sign: {reason}")]
    BadKey { path: String, reason: String },
    /// The key is not the certificate's.
    #[error("`{key}` is not the key of the certificate in `{cert}`")]
    KeyMismatch { cert: String, key: String },
    /// The leaf certificate is not valid X.509.
    #[error("`{path}`: the certificate cannot be parsed: {reason}")]
    BadCertificate { path: String, reason: String },
}

fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::aws_lc_rs::default_provider())
}

fn read(field: &'static str, path: &Path) -> Result<Vec<u8>, CertificateError> {
    std::fs::read(path).map_err(|e| CertificateError::Read {
        field,
        path: path.display().to_string(),
        reason: e.to_string(),
    })
}

impl CertificateError {
    /// Which file of the pair is at fault: `cert` or `key`.
    pub fn field(&self) -> &'static str {
        match self {
            CertificateError::Read { field, .. } => field,
            CertificateError::NoCertificate(_) | CertificateError::BadCertificate { .. } => "cert",
            CertificateError::NoKey(_) | CertificateError::BadKey { .. } | CertificateError::KeyMismatch { .. } => {
                "key"
            }
        }
    }
}

fn load_one(files: &CertificateFiles, provider: &CryptoProvider) -> Result<Loaded, CertificateError> {
    let cert_name = files.cert.display().to_string();
    let key_name = files.key.display().to_string();
    let chain: Vec<CertificateDer<'static>> =
        CertificateDer::pem_slice_iter(&read("cert", &files.cert)?).filter_map(Result::ok).collect();
    let Some(leaf) = chain.first() else { return Err(CertificateError::NoCertificate(cert_name)) };
    let (names, not_after) =
        names_of(leaf).map_err(|reason| CertificateError::BadCertificate { path: cert_name.clone(), reason })?;
    let key = PrivateKeyDer::from_pem_slice(&read("key", &files.key)?)
        .map_err(|_| CertificateError::NoKey(key_name.clone()))?;
    let signing = provider
        .key_provider
        .load_private_key(key)
        .map_err(|e| CertificateError::BadKey { path: key_name.clone(), reason: e.to_string() })?;
    let certified = CertifiedKey::new(chain, signing);
    match certified.keys_match() {
        Ok(()) | Err(rustls::Error::InconsistentKeys(rustls::InconsistentKeys::Unknown)) => {}
        Err(_) => return Err(CertificateError::KeyMismatch { cert: cert_name, key: key_name }),
    }
    Ok(Loaded { names, not_after, key: Arc::new(certified) })
}

/// The DNS names a leaf certificate covers and its expiry.
fn names_of(leaf: &CertificateDer<'_>) -> Result<(Vec<String>, (i64, String)), String> {
    use x509_parser::extensions::GeneralName;
    let (_, cert) = x509_parser::parse_x509_certificate(leaf.as_ref()).map_err(|e| e.to_string())?;
    let mut names = Vec::new();
    if let Ok(Some(san)) = cert.subject_alternative_name() {
        for name in &san.value.general_names {
            if let GeneralName::DNSName(dns) = name {
                names.push(dns.trim_end_matches('.').to_ascii_lowercase());
            }
        }
    }
    if names.is_empty() {
        names.extend(
            cert.subject()
                .iter_common_name()
                .filter_map(|cn| cn.as_str().ok())
                .map(|cn| cn.trim_end_matches('.').to_ascii_lowercase()),
        );
    }
    let not_after = cert.validity().not_after;
    Ok((names, (not_after.timestamp(), not_after.to_string())))
}

/// How well `pattern` (a certificate name) covers `host`: 2 for an exact match, 1 for a wildcard covering one
/// left-most label, `None` otherwise (RFC 6125 6.4.3: `*.example.com` covers `a.example.com`, not `example.com`
/// nor `a.b.example.com`).
fn coverage(pattern: &str, host: &str) -> Option<u8> {
    if pattern == host {
        return Some(2);
    }
    let suffix = pattern.strip_prefix("*.")?;
    let (label, rest) = host.split_once('.')?;
    (!label.is_empty() && rest == suffix).then_some(1)
}

/// The configured certificates, chosen by SNI. Cheap to share; [`Certificates::reload`] swaps them in place.
pub struct Certificates {
    files: Vec<CertificateFiles>,
    provider: Arc<CryptoProvider>,
    current: ArcSwap<Vec<Loaded>>,
}

impl std::fmt::Debug for Certificates {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Certificates").field("files", &self.files).finish_non_exhaustive()
    }
}

/// What `check-config` says of a certificate set that loads.
#[derive(Debug, Default)]
pub struct Report {
    /// Certificates whose leaf has expired: (index, file, when).
    pub expired: Vec<(usize, String, String)>,
}

impl Certificates {
    /// Reads every pair; the error lists each pair that cannot be served, by its index.
    pub fn load(files: &[CertificateFiles]) -> Result<Self, Vec<(usize, CertificateError)>> {
        let provider = provider();
        let loaded = Self::read_all(files, &provider)?;
        Ok(Certificates { files: files.to_vec(), provider, current: ArcSwap::from_pointee(loaded) })
    }

    fn read_all(
        files: &[CertificateFiles],
        provider: &CryptoProvider,
    ) -> Result<Vec<Loaded>, Vec<(usize, CertificateError)>> {
        let mut loaded = Vec::with_capacity(files.len());
        let mut errors = Vec::new();
        for (i, f) in files.iter().enumerate() {
            match load_one(f, provider) {
                Ok(l) => loaded.push(l),
                Err(e) => errors.push((i, e)),
            }
        }
        if errors.is_empty() {
            Ok(loaded)
        } else {
            Err(errors)
        }
    }

    /// Reads the files again. On any error the certificates serving now go on serving, and the error says why.
    pub fn reload(&self) -> Result<(), String> {
        match Self::read_all(&self.files, &self.provider) {
            Ok(loaded) => {
                self.current.store(Arc::new(loaded));
                Ok(())
            }
            Err(errors) => Err(errors
                .iter()
                .map(|(i, e)| format!("server.tls.certificates[{i}]: {e}"))
                .collect::<Vec<_>>()
                .join("; ")),
        }
    }

    /// The certificate a handshake naming `sni` gets: the best-covering one, else the first.
    fn choose(&self, sni: Option<&str>) -> Option<Arc<CertifiedKey>> {
        let current = self.current.load();
        let host = sni.map(|s| s.trim_end_matches('.').to_ascii_lowercase());
        let best = host.as_deref().and_then(|host| {
            current
                .iter()
                .filter_map(|l| l.names.iter().filter_map(|n| coverage(n, host)).max().map(|c| (c, l)))
                .max_by_key(|(c, _)| *c)
                .map(|(_, l)| l)
        });
        best.or_else(|| current.first()).map(|l| l.key.clone())
    }

    /// Whether some certificate covers `host`.
    pub fn covers(&self, host: &str) -> bool {
        let host = host.trim_end_matches('.').to_ascii_lowercase();
        self.current.load().iter().any(|l| l.names.iter().any(|n| coverage(n, &host).is_some()))
    }

    /// The expired certificates, as of `now` (seconds since the epoch).
    pub fn report(&self, now: i64) -> Report {
        let expired = self
            .current
            .load()
            .iter()
            .enumerate()
            .filter(|(_, l)| l.not_after.0 < now)
            .map(|(i, l)| (i, self.files[i].cert.display().to_string(), l.not_after.1.clone()))
            .collect();
        Report { expired }
    }

    /// The rustls configuration of a listener serving these certificates: TLS 1.2 and 1.3 (or 1.3 alone), ALPN
    /// `h2` then `http/1.1`, no client certificates.
    pub fn server_config(self: &Arc<Self>, min: MinVersion) -> Result<rustls::ServerConfig, rustls::Error> {
        let versions: &[&'static rustls::SupportedProtocolVersion] = match min {
            MinVersion::Tls12 => &[&rustls::version::TLS13, &rustls::version::TLS12],
            MinVersion::Tls13 => &[&rustls::version::TLS13],
        };
        let mut config = rustls::ServerConfig::builder_with_provider(self.provider.clone())
            .with_protocol_versions(versions)?
            .with_no_client_auth()
            .with_cert_resolver(self.clone());
        config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
        Ok(config)
    }
}

impl ResolvesServerCert for Certificates {
    fn resolve(&self, client_hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        self.choose(client_hello.server_name())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_wildcard_covers_one_label_and_an_exact_name_wins_over_it() {
        assert_eq!(coverage("api.example.com", "api.example.com"), Some(2));
        assert_eq!(coverage("*.example.com", "api.example.com"), Some(1));
        assert_eq!(coverage("*.example.com", "example.com"), None);
        assert_eq!(coverage("*.example.com", "a.b.example.com"), None);
        assert_eq!(coverage("*.example.com", ".example.com"), None);
        assert_eq!(coverage("api.example.com", "web.example.com"), None);
    }
}
