//! tokengate as the edge itself: TLS listeners with certificates chosen by SNI and reloaded in place, HTTP/2 by ALPN
//! and with prior knowledge, the same checks on HTTP/2 as on HTTP/1.1, redirects to https and HSTS.

mod grpc;
mod streams;

use std::io::{Read, Write};
use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;

use crate::support::tls::{client_for, curl, resolve_args, TestCa};
use crate::support::{serve_with, Claims, Stack, TestUpstream};

/// `[server.tls]` lines for the gateway, serving `certs` (cert, key) on a free port.
pub fn tls_section(certs: &[&crate::support::tls::Leaf], extra: &str) -> String {
    let list: Vec<String> =
        certs.iter().map(|l| format!("{{ cert = \"{}\", key = \"{}\" }}", l.cert.display(), l.key.display())).collect();
    format!("[server.tls]\nlisten = \"127.0.0.1:0\"\ncertificates = [{}]\n{extra}\n", list.join(", "))
}

/// A stack whose gateway also listens with TLS (two certificates: `api.test` first, `*.auth.test`) and h2c on the
/// plain listener.
async fn tls_stack(dir: &Path, ca: &TestCa, server: &str, tls: &str) -> Stack {
    let api = ca.leaf(dir, "api", &["api.test"]);
    let auth = ca.leaf(dir, "auth", &["*.auth.test"]);
    let section = tls_section(&[&api, &auth], tls);
    let server = server.to_string();
    Stack::start_with(move |c| c.server_extra = format!("{server}\n{section}")).await
}

fn url(name: &str, addr: SocketAddr, path: &str) -> String {
    format!("https://{name}:{}{path}", addr.port())
}

fn args<'a>(owned: &'a [String], more: &[&'a str]) -> Vec<&'a str> {
    owned.iter().map(String::as_str).chain(more.iter().copied()).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn curl_speaks_tls_1_2_and_1_3_and_sni_chooses_between_two_certificates() {
    let dir = tempfile::tempdir().unwrap();
    let ca = TestCa::new();
    let ca_file = ca.write(dir.path());
    let s = tls_stack(dir.path(), &ca, "", "").await;
    let tls = s.gateway.tls_addr.expect("a TLS listener");
    let token = s.issuer.mint(&Claims::new(&s.issuer).scope("api:read"));
    let bearer = format!("Authorization: Bearer {token}");

    for (version, flags) in
        [("TLSv1.2", ["--tlsv1.2", "--tls-max", "1.2"]), ("TLSv1.3", ["--tlsv1.3", "--tls-max", "1.3"])]
    {
        let resolve = resolve_args("api.test", tls, &ca_file);
        let target = url("api.test", tls, "/api/x");
        let mut a = args(&resolve, &flags);
        a.extend(["-H", bearer.as_str(), target.as_str()]);
        let r = curl(&a);
        assert_eq!(r.status, 200, "{version}: {r:?}");
        assert_eq!(s.upstream.last().unwrap().header("x-auth-subject"), Some("alice"), "{version}");
    }

    // The wildcard certificate covers one label under auth.test; curl verifies the name, so a wrong choice fails.
    let resolve = resolve_args("login.auth.test", tls, &ca_file);
    let target = url("login.auth.test", tls, "/public/x");
    let r = curl(&args(&resolve, &[target.as_str()]));
    assert_eq!(r.status, 200, "{r:?}");
    // A name no certificate covers gets the first (default) one, which curl then refuses for that name.
    let resolve = resolve_args("other.test", tls, &ca_file);
    let target = url("other.test", tls, "/public/x");
    let r = curl(&args(&resolve, &[target.as_str()]));
    assert!(r.error.as_deref().is_some_and(|e| e.contains("exit Some(60)")), "{r:?}");

    // Python's ssl module: no SNI at all gets the default certificate, api.test.
    let script = format!(
        "import socket, ssl\nctx = ssl.create_default_context(cafile={ca:?})\nctx.check_hostname = False\n\
         s = ctx.wrap_socket(socket.create_connection(('127.0.0.1', {port})))\n\
         print(s.version(), dict(x[0] for x in s.getpeercert()['subject']).get('commonName'), s.getpeercert()['subjectAltName'])\n",
        ca = ca_file.display().to_string(),
        port = tls.port()
    );
    let out = std::process::Command::new("python3").args(["-c", &script]).output().unwrap();
    let printed = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(printed.contains("TLSv1.3") && printed.contains("'api.test'"), "{printed}");
}

/// A TLS 1.1 ClientHello, as an old client sends it: no `supported_versions`, legacy version 0x0302.
fn tls11_client_hello() -> Vec<u8> {
    let mut body = vec![0x03, 0x02];
    body.extend([7u8; 32]); // random
    body.push(0); // session id
    body.extend([0x00, 0x04, 0x00, 0x2f, 0xc0, 0x13]); // TLS_RSA_WITH_AES_128_CBC_SHA, ECDHE_RSA_AES_128_CBC_SHA
    body.extend([0x01, 0x00]); // null compression
    let host = b"api.test";
    let mut sni = vec![0x00, 0x00];
    let list_len = host.len() + 3;
    sni.extend(((list_len + 2) as u16).to_be_bytes());
    sni.extend((list_len as u16).to_be_bytes());
    sni.push(0);
    sni.extend((host.len() as u16).to_be_bytes());
    sni.extend(host);
    body.extend((sni.len() as u16).to_be_bytes());
    body.extend(sni);
    let mut handshake = vec![0x01];
    handshake.extend(&(body.len() as u32).to_be_bytes()[1..]);
    handshake.extend(body);
    let mut record = vec![0x16, 0x03, 0x01];
    record.extend((handshake.len() as u16).to_be_bytes());
    record.extend(handshake);
    record
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tls_1_1_handshake_is_refused_and_min_version_1_3_refuses_tls_1_2() {
    let dir = tempfile::tempdir().unwrap();
    let ca = TestCa::new();
    let ca_file = ca.write(dir.path());
    let default = tls_stack(dir.path(), &ca, "", "").await;
    let strict = tls_stack(dir.path(), &ca, "", "min_version = \"1.3\"\n").await;

    for s in [&default, &strict] {
        let mut stream = std::net::TcpStream::connect(s.gateway.tls_addr.unwrap()).unwrap();
        stream.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        stream.write_all(&tls11_client_hello()).unwrap();
        let mut answer = [0u8; 7];
        stream.read_exact(&mut answer).unwrap();
        // An alert record, fatal: handshake_failure (40) or protocol_version (70), never a ServerHello (22).
        assert_eq!((answer[0], answer[5]), (0x15, 2), "{answer:?}");
        assert!([40, 70].contains(&answer[6]), "{answer:?}");
    }

    let tls12 = ["--tlsv1.2", "--tls-max", "1.2"];
    let resolve = resolve_args("api.test", default.gateway.tls_addr.unwrap(), &ca_file);
    let target = url("api.test", default.gateway.tls_addr.unwrap(), "/public/x");
    let mut a = args(&resolve, &tls12);
    a.push(target.as_str());
    assert_eq!(curl(&a).status, 200);

    let resolve = resolve_args("api.test", strict.gateway.tls_addr.unwrap(), &ca_file);
    let target = url("api.test", strict.gateway.tls_addr.unwrap(), "/public/x");
    let mut a = args(&resolve, &tls12);
    a.push(target.as_str());
    let r = curl(&a);
    assert!(r.status == 0 && r.error.is_some(), "{r:?}");
    let r = curl(&args(&resolve, &["--tlsv1.3", target.as_str()]));
    assert_eq!(r.status, 200, "{r:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn http2_by_alpn_and_h2c_by_prior_knowledge_check_tokens_as_http1_does() {
    let dir = tempfile::tempdir().unwrap();
    let ca = TestCa::new();
    let ca_file = ca.write(dir.path());
    let s = tls_stack(dir.path(), &ca, "h2c = true", "").await;
    let tls = s.gateway.tls_addr.unwrap();
    let plain: SocketAddr = s.gateway.url.trim_start_matches("http://").parse().unwrap();
    let token = s.issuer.mint(&Claims::new(&s.issuer).scope("api:read"));
    let bearer = format!("Authorization: Bearer {token}");
    let resolve = resolve_args("api.test", tls, &ca_file);

    // The three ways in: TLS with ALPN h2, cleartext h2 with prior knowledge, HTTP/1.1.
    let ways: Vec<(&str, Vec<String>, String)> = vec![
        ("h2 over TLS", [resolve.clone(), vec!["--http2".into()]].concat(), format!("https://api.test:{}", tls.port())),
        ("h2c", vec!["--http2-prior-knowledge".into()], format!("http://{plain}")),
        ("HTTP/1.1", vec!["--http1.1".into()], format!("http://{plain}")),
    ];
    for (way, flags, base) in &ways {
        let expected_version = if way.starts_with("h2") { "2" } else { "1.1" };
        let target = format!("{base}/api/x");
        let r = curl(&args(flags, &["-H", bearer.as_str(), target.as_str()]));
        assert_eq!((r.status, r.version.as_str()), (200, expected_version), "{way}: {r:?}");
        let seen = s.upstream.last().unwrap();
        assert_eq!(seen.header("x-auth-subject"), Some("alice"), "{way}");
        assert_eq!(seen.header("x-auth-scopes"), Some("api:read"), "{way}");

        let r = curl(&args(flags, &[target.as_str()]));
        assert_eq!(r.status, 401, "{way}: {r:?}");
        assert_eq!(r.header("www-authenticate"), Some("Bearer realm=\"tokengate\""), "{way}");
        let body: serde_json::Value = serde_json::from_str(&r.body).unwrap_or_default();
        assert!(body["error"].is_string(), "{way}: {}", r.body);

        // A forged identity header is stripped whatever the protocol.
        let r = curl(&args(flags, &["-H", bearer.as_str(), "-H", "X-Auth-Subject: mallory", target.as_str()]));
        assert_eq!(r.status, 200, "{way}");
        assert_eq!(s.upstream.last().unwrap().header_all("x-auth-subject"), vec!["alice"], "{way}");

        // Two tokens are a bad request on every protocol.
        let r = curl(&args(flags, &["-H", bearer.as_str(), "-H", "Authorization: Bearer second", target.as_str()]));
        assert_eq!(r.status, 400, "{way}: {r:?}");
    }

    // The path attacks of `edge::paths`, byte for byte on the wire: every protocol answers each the same way, and
    // none reaches the upstream.
    let attacks = [
        "/public/../api/secret",
        "/public/%2e%2e/api/secret",
        "/public/.%2e/api/secret",
        "/public/..;/api/secret",
        "//public/..//api/secret",
        "/public%2F..%2Fapi/secret",
        "/public/%252e%252e/api/secret",
        "/public/%5c../api",
        "/public/x%00",
        "/public/../../etc/passwd",
    ];
    for attack in attacks {
        let mut answers = Vec::new();
        for (way, flags, base) in &ways {
            let before = s.upstream.seen().len();
            let target = format!("{base}{attack}");
            let r = curl(&args(flags, &["--path-as-is", target.as_str()]));
            assert!(r.status == 400 || r.status == 401, "{way} {attack}: {r:?}");
            assert_eq!(s.upstream.seen().len(), before, "{way} {attack} reached the upstream");
            answers.push(r.status);
        }
        assert!(answers.windows(2).all(|w| w[0] == w[1]), "{attack}: {answers:?}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn plain_http_is_redirected_with_308_and_answers_over_tls_carry_hsts() {
    let dir = tempfile::tempdir().unwrap();
    let ca = TestCa::new();
    let s = tls_stack(dir.path(), &ca, "", "redirect_http = true\nhsts_max_age_secs = 31536000\n").await;
    let tls = s.gateway.tls_addr.unwrap();

    let r = s.gateway.get("/api/x?a=1&b=%2F", None).await;
    assert_eq!(r.status(), 308);
    let plain_host = s.gateway.url.trim_start_matches("http://").split(':').next().unwrap().to_string();
    assert_eq!(
        r.headers()["location"].to_str().unwrap(),
        format!("https://{plain_host}:{}/api/x?a=1&b=%2F", tls.port())
    );
    assert!(r.headers().get("strict-transport-security").is_none(), "HSTS is meaningless over plain HTTP");
    assert!(s.upstream.seen().is_empty());

    // A host that is no authority is refused rather than turned into a Location.
    let mut raw = std::net::TcpStream::connect(s.gateway.url.trim_start_matches("http://")).unwrap();
    raw.write_all(b"GET /x HTTP/1.1\r\nHost: a b\r\nConnection: close\r\n\r\n").unwrap();
    let mut answer = String::new();
    let _ = raw.read_to_string(&mut answer);
    assert!(answer.starts_with("HTTP/1.1 400"), "{answer}");

    let c = client_for(&ca, "api.test", tls);
    let r = c.get(url("api.test", tls, "/public/x")).send().await.unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["strict-transport-security"], "max-age=31536000");
}

#[test]
fn check_config_names_a_missing_file_and_a_mismatched_key_and_warns_of_an_expired_certificate() {
    let dir = tempfile::tempdir().unwrap();
    let ca = TestCa::new();
    let good = ca.leaf(dir.path(), "good", &["api.test"]);
    let other = ca.leaf(dir.path(), "other", &["api.test"]);
    let expired = ca.leaf_valid(dir.path(), "expired", &["old.test"], -1);
    let base = "[upstream]\nurl = \"http://127.0.0.1:3000\"\n[[routes]]\npath = \"/\"\nauth = \"none\"\n";
    let check = |tls: &str| {
        let path = dir.path().join("t.toml");
        std::fs::write(&path, format!("[server]\nlisten = \"127.0.0.1:0\"\n{tls}\n{base}")).unwrap();
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_tokengate"))
            .args(["check-config", "--config", path.to_str().unwrap()])
            .output()
            .unwrap();
        (out.status.code(), String::from_utf8_lossy(&out.stdout).to_string() + &String::from_utf8_lossy(&out.stderr))
    };
    let missing = dir.path().join("nowhere.pem");
    let (code, out) = check(&format!(
        "[server.tls]\ncertificates = [{{ cert = \"{}\", key = \"{}\" }}, {{ cert = \"{}\", key = \"{}\" }}]\nmin_version = \"1.1\"\n",
        missing.display(),
        good.key.display(),
        good.cert.display(),
        other.key.display()
    ));
    assert_eq!(code, Some(2), "{out}");
    assert!(out.contains("`server.tls.certificates[0].cert`: cannot read") && out.contains("nowhere.pem"), "{out}");
    assert!(
        out.contains("`server.tls.certificates[1].key`") && out.contains("is not the key of the certificate"),
        "{out}"
    );
    assert!(out.contains("`server.tls.min_version`: `1.1`"), "{out}");

    // An expired certificate still serves (the process starts) but is named; so is a name no certificate covers.
    let (code, out) = check(&format!(
        "[server.tls]\ncertificates = [{{ cert = \"{}\", key = \"{}\" }}]\n\
         [authorization_server]\nenabled = true\nissuer = \"https://login.example\"\ndatabase = \"{}\"\n",
        expired.cert.display(),
        expired.key.display(),
        dir.path().join("tg.db").display()
    ));
    assert_eq!(code, Some(0), "{out}");
    assert!(
        out.contains("warning:") && out.contains("`server.tls.certificates[0].cert`") && out.contains("expired on"),
        "{out}"
    );
    assert!(out.contains("`authorization_server.issuer`: `login.example` is covered by no certificate"), "{out}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sighup_reloads_certificates_without_dropping_open_connections_and_a_bad_file_keeps_the_old_ones() {
    let dir = tempfile::tempdir().unwrap();
    let old_ca = TestCa::new();
    let new_ca = TestCa::new();
    let upstream = TestUpstream::start().await;
    let leaf = old_ca.leaf(dir.path(), "api", &["api.test"]);
    let id: u64 = rand::random();
    let path = dir.path().join("t.toml");
    std::fs::write(
        &path,
        format!(
            "[server]\nlisten = \"127.0.0.1:0\"\npid_file = \"/tmp/tg-tls-{id}.pid\"\nupgrade_sock = \"/tmp/tg-tls-{id}.sock\"\n\
             grace_period_secs = 0\n{}[metrics]\nlisten = \"off\"\n[upstream]\nurl = \"{}\"\n\
             [authorization_server]\nenabled = true\nissuer = \"https://api.test\"\ndatabase = \"{}\"\n[admin]\nlisten = \"127.0.0.1:0\"\n\
             [[routes]]\npath = \"/public/\"\nauth = \"none\"\n",
            tls_section(&[&leaf], ""),
            upstream.url(),
            dir.path().join("tg.db").display(),
        ),
    )
    .unwrap();
    let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_tokengate"));
    command.args(["serve", "--config", path.to_str().unwrap()]);
    let served = serve_with(&mut command);
    let tls: SocketAddr = served.addrs["tls"].parse().unwrap();
    let old_client = client_for(&old_ca, "api.test", tls);
    let new_client = client_for(&new_ca, "api.test", tls);
    let target = url("api.test", tls, "/public/x");
    assert_eq!(old_client.get(&target).send().await.unwrap().status(), 200);
    assert!(new_client.get(&target).send().await.is_err(), "the new CA's client cannot trust the old certificate");

    // The files are replaced by a certificate of another CA, then SIGHUP: new handshakes get it, and the old client's
    // open keep-alive connection goes on working with the certificate it was made with.
    new_ca.leaf(dir.path(), "api", &["api.test"]);
    served.signal(1);
    let mut switched = false;
    for _ in 0..50 {
        tokio::time::sleep(Duration::from_millis(100)).await;
        if new_client.get(&target).send().await.is_ok() {
            switched = true;
            break;
        }
    }
    assert!(switched, "the reloaded certificate was never served");
    // A new handshake would fail the old client's check, so a 200 here is the connection opened before the reload.
    assert_eq!(old_client.get(&target).send().await.unwrap().status(), 200, "the open connection was dropped");

    // A broken key file: the reload is refused and the running certificate keeps serving new handshakes.
    std::fs::write(dir.path().join("api.key"), "not a key").unwrap();
    served.signal(1);
    tokio::time::sleep(Duration::from_millis(500)).await;
    let fresh = client_for(&new_ca, "api.test", tls);
    assert_eq!(fresh.get(&target).send().await.unwrap().status(), 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pkcs8_rsa_and_ec_keys_made_by_openssl_are_all_served() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let sh = |script: &str| {
        let out = std::process::Command::new("sh").arg("-c").arg(script).current_dir(d).output().unwrap();
        assert!(out.status.success(), "{script}: {}", String::from_utf8_lossy(&out.stderr));
    };
    // One certificate per key format, each for its own name, all signed by one CA.
    sh("openssl req -x509 -newkey rsa:2048 -nodes -keyout ca.key -out ca.pem -days 2 -subj /CN=ca \
        -addext basicConstraints=critical,CA:TRUE -addext keyUsage=critical,keyCertSign 2>/dev/null");
    sh("openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out pkcs8.key");
    sh("openssl genrsa -traditional -out rsa.key 2048 2>/dev/null");
    sh("openssl ecparam -name prime256v1 -genkey -noout -out ec.key");
    for (name, key, header) in [
        ("pkcs8", "pkcs8.key", "BEGIN PRIVATE KEY"),
        ("rsa", "rsa.key", "BEGIN RSA PRIVATE KEY"),
        ("ec", "ec.key", "BEGIN EC PRIVATE KEY"),
    ] {
        assert!(std::fs::read_to_string(d.join(key)).unwrap().contains(header), "{key} is not {header}");
        sh(&format!(
            "openssl req -new -key {key} -subj /CN={name}.test -out {name}.csr && \
             printf 'subjectAltName=DNS:{name}.test\\n' > {name}.ext && \
             openssl x509 -req -in {name}.csr -CA ca.pem -CAkey ca.key -CAcreateserial -days 2 -extfile {name}.ext \
             -out {name}.leaf 2>/dev/null && cat {name}.leaf ca.pem > {name}.pem"
        ));
    }
    let leaves: Vec<crate::support::tls::Leaf> = ["pkcs8", "rsa", "ec"]
        .iter()
        .map(|n| crate::support::tls::Leaf { cert: d.join(format!("{n}.pem")), key: d.join(format!("{n}.key")) })
        .collect();
    let section = tls_section(&leaves.iter().collect::<Vec<_>>(), "");
    let s = Stack::start_with(move |c| c.server_extra = section).await;
    let tls = s.gateway.tls_addr.unwrap();
    let ca = d.join("ca.pem");
    for name in ["pkcs8.test", "rsa.test", "ec.test"] {
        let resolve = resolve_args(name, tls, &ca);
        let target = url(name, tls, "/public/x");
        let r = curl(&args(&resolve, &[target.as_str()]));
        assert_eq!(r.status, 200, "{name}: {r:?}");
    }
}
