//! A throw-away certificate authority made in the test, its leaf certificates written as PEM files, and clients that
//! trust it: reqwest, and curl as a person would run it.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Command;

use rcgen::{CertificateParams, DnType, IsCa, Issuer, KeyPair, KeyUsagePurpose};

/// A certificate authority whose leaves the test clients trust.
pub struct TestCa {
    issuer: Issuer<'static, KeyPair>,
    /// The CA certificate, PEM.
    pub pem: String,
}

/// One leaf certificate and its key, written to files.
pub struct Leaf {
    pub cert: PathBuf,
    pub key: PathBuf,
}

impl TestCa {
    pub fn new() -> TestCa {
        let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
        params.distinguished_name.push(DnType::CommonName, "tokengate test CA");
        params.is_ca = IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
        let key = KeyPair::generate().unwrap();
        let cert = params.self_signed(&key).unwrap();
        TestCa { pem: cert.pem(), issuer: Issuer::new(params, key) }
    }

    /// A leaf for `names`, valid from a day ago for `days` days (negative: already expired), written to
    /// `dir/{file}.pem` and `dir/{file}.key`.
    pub fn leaf_valid(&self, dir: &Path, file: &str, names: &[&str], days: i64) -> Leaf {
        let mut params = CertificateParams::new(names.iter().map(|n| n.to_string()).collect::<Vec<_>>()).unwrap();
        let now = time::OffsetDateTime::now_utc();
        params.not_before = now - time::Duration::days(if days < 0 { 30 } else { 1 });
        params.not_after = now + time::Duration::days(days);
        let key = KeyPair::generate().unwrap();
        let cert = params.signed_by(&key, &self.issuer).unwrap();
        let leaf = Leaf { cert: dir.join(format!("{file}.pem")), key: dir.join(format!("{file}.key")) };
        std::fs::write(&leaf.cert, cert.pem()).unwrap();
        std::fs::write(&leaf.key, key.serialize_pem()).unwrap();
        leaf
    }

    /// A leaf for `names`, valid for 30 days.
    pub fn leaf(&self, dir: &Path, file: &str, names: &[&str]) -> Leaf {
        self.leaf_valid(dir, file, names, 30)
    }

    /// The CA certificate, written to `dir/ca.pem`.
    pub fn write(&self, dir: &Path) -> PathBuf {
        let path = dir.join("ca.pem");
        std::fs::write(&path, &self.pem).unwrap();
        path
    }
}

/// A reqwest client (HTTP/1.1) that trusts `ca` and sends `name` to `addr`.
pub fn client_for(ca: &TestCa, name: &str, addr: SocketAddr) -> reqwest::Client {
    reqwest::Client::builder()
        .add_root_certificate(reqwest::Certificate::from_pem(ca.pem.as_bytes()).unwrap())
        .resolve(name, addr)
        .redirect(reqwest::redirect::Policy::none())
        .timeout(std::time::Duration::from_secs(20))
        .build()
        .unwrap()
}

/// What curl saw.
#[derive(Debug)]
pub struct Curl {
    /// The status, 0 when curl failed before one.
    pub status: u16,
    /// `%{http_version}`: `1.1` or `2`.
    pub version: String,
    /// The response headers, lower-case names.
    pub headers: Vec<(String, String)>,
    pub body: String,
    /// curl's exit code and message, when it failed.
    pub error: Option<String>,
}

impl Curl {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str())
    }
}

/// Runs curl with `args` and the URL last, reading the status, version, headers and body it printed.
pub fn curl(args: &[&str]) -> Curl {
    let dir = tempfile::tempdir().unwrap();
    let headers = dir.path().join("h");
    let body = dir.path().join("b");
    let out = Command::new("curl")
        .args(["-sS", "--max-time", "20", "-o"])
        .arg(&body)
        .arg("-D")
        .arg(&headers)
        .args(["-w", "%{http_code} %{http_version}"])
        .args(args)
        .output()
        .expect("curl runs");
    let stdout = String::from_utf8_lossy(&out.stdout).to_string();
    let mut parts = stdout.split_whitespace();
    let status = parts.next().and_then(|s| s.parse().ok()).unwrap_or(0);
    let version = parts.next().unwrap_or("").to_string();
    let raw = std::fs::read_to_string(&headers).unwrap_or_default();
    let headers = raw
        .lines()
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_string()))
        .collect();
    let error = (!out.status.success())
        .then(|| format!("exit {:?}: {}", out.status.code(), String::from_utf8_lossy(&out.stderr).trim()));
    Curl { status, version, headers, body: std::fs::read_to_string(&body).unwrap_or_default(), error }
}

/// `--resolve name:port:127.0.0.1` and the CA for a TLS request to `https://name:port`.
pub fn resolve_args(name: &str, addr: SocketAddr, ca: &Path) -> Vec<String> {
    vec![
        "--resolve".into(),
        format!("{name}:{}:{}", addr.port(), addr.ip()),
        "--cacert".into(),
        ca.display().to_string(),
    ]
}
