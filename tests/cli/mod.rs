//! The `tokengate` command line, run as a real process.

use std::process::Command;

fn tokengate() -> Command {
    Command::new(env!("CARGO_BIN_EXE_tokengate"))
}

fn repo(path: &str) -> String {
    format!("{}/{path}", env!("CARGO_MANIFEST_DIR"))
}

#[test]
fn shipped_configurations_are_valid() {
    for file in ["config/tokengate.toml", "config/external-issuer.example.toml"] {
        let out = tokengate()
            .args(["check-config", "--config", &repo(file)])
            .env("TOKENGATE_INTROSPECTION_SECRET", "x")
            .output()
            .unwrap();
        assert!(out.status.success(), "{file}: {}", String::from_utf8_lossy(&out.stderr));
    }
}

#[test]
fn check_config_names_every_bad_key_with_its_line() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("bad.toml");
    std::fs::write(
        &path,
        "[server]\nlisten = \"localhost\"\nthreads = -1\n\n[upstream]\nurl = \"http://127.0.0.1:3000/api\"\n\n[auth]\ndefault = \"allow\"\ncolour = \"blue\"\n\n[[auth.issuers]]\nissuer = \"https://idp.example\"\naudiences = []\nalgorithms = [\"HS256\"]\n\n[[routes]]\npath = \"api/\"\n",
    )
    .unwrap();
    let out = tokengate().args(["check-config", "--config", path.to_str().unwrap()]).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    for needle in [
        "bad.toml:2:10: `server.listen`",
        "bad.toml:3:11: `server.threads`",
        "bad.toml:6:7: `upstream.url`",
        "bad.toml:9:11: `auth.default`",
        "bad.toml:10:10: `auth.colour`: unknown key",
        "`auth.issuers[0].audiences`",
        "bad.toml:15:15: `auth.issuers[0].algorithms[0]`",
        "`routes[0].path`",
    ] {
        assert!(err.contains(needle), "missing {needle:?} in:\n{err}");
    }
}

#[test]
fn a_missing_explicit_config_file_is_an_error() {
    let out = tokengate().args(["check-config", "--config", "/nonexistent/tokengate.toml"]).output().unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("cannot read"));
}

#[test]
fn without_a_config_file_the_embedded_default_is_used() {
    let dir = tempfile::tempdir().unwrap();
    let out = tokengate().arg("check-config").current_dir(dir.path()).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(String::from_utf8_lossy(&out.stdout).contains("<embedded default>"));
}

#[test]
fn serve_answers_on_the_configured_port_and_stops_on_sigterm() {
    use std::io::{BufRead, BufReader, Read, Write};
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("t.toml");
    std::fs::write(
        &path,
        "[server]\nlisten = \"127.0.0.1:0\"\npid_file = \"/tmp/tokengate-cli-test.pid\"\nupgrade_sock = \"/tmp/tokengate-cli-test.sock\"\ngrace_period_secs = 0\n[metrics]\nlisten = \"off\"\n[upstream]\nurl = \"http://127.0.0.1:9\"\n[[routes]]\npath = \"/\"\nauth = \"none\"\n",
    )
    .unwrap();
    let mut child = tokengate()
        .args(["serve", "--config", path.to_str().unwrap()])
        .stderr(std::process::Stdio::piped())
        .env("NO_COLOR", "1")
        .env("RUST_LOG", "info")
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
    let addr = loop {
        let line = lines.next().expect("serve exited early").unwrap();
        if let Some(rest) = line.split("proxy=").nth(1) {
            break rest
                .split_whitespace()
                .next()
                .unwrap()
                .trim_matches(|c: char| !c.is_ascii_digit() && c != '.' && c != ':')
                .to_string();
        }
    };
    let mut conn = std::net::TcpStream::connect(&addr).unwrap();
    conn.write_all(b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").unwrap();
    let mut out = String::new();
    conn.read_to_string(&mut out).unwrap();
    // The upstream (port 9, discard) refuses: a JSON 502 from the gateway.
    assert!(out.starts_with("HTTP/1.1 502"), "{out}");
    assert!(out.contains("bad_gateway"));
    unsafe { libc_kill(child.id() as i32, 15) };
    let status = child.wait().unwrap();
    assert!(status.success(), "{status:?}");
}

extern "C" {
    #[link_name = "kill"]
    fn libc_kill(pid: i32, sig: i32) -> i32;
}

fn registry_config(dir: &std::path::Path) -> std::path::PathBuf {
    let path = dir.join("t.toml");
    let db = dir.join("tokengate.db");
    std::fs::write(
        &path,
        format!(
            "[upstream]\nurl = \"http://127.0.0.1:9\"\n[authorization_server]\nenabled = true\nissuer = \"https://tg.test\"\ndatabase = \"{}\"\n[[routes]]\npath = \"/\"\nauth = \"none\"\n",
            db.display()
        ),
    )
    .unwrap();
    path
}

fn run(config: &std::path::Path, args: &[&str]) -> (i32, serde_json::Value, String) {
    let out = tokengate().args(args).arg("--config").arg(config).output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout).to_string();
    let json = serde_json::from_str(&stdout).unwrap_or(serde_json::Value::Null);
    (out.status.code().unwrap_or(-1), json, String::from_utf8_lossy(&out.stderr).to_string())
}

#[test]
fn apps_are_managed_from_the_command_line_on_the_same_rules() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = registry_config(dir.path());

    let (code, web, _) = run(
        &cfg,
        &[
            "apps",
            "create",
            "--type",
            "web",
            "--name",
            "Reports",
            "--redirect-url",
            "https://r.example/cb",
            "--absolute-expiry",
            "none",
        ],
    );
    assert_eq!(code, 0);
    let id = web["client_id"].as_str().unwrap().to_string();
    assert!(web["client_secret"].as_str().unwrap().starts_with("tgs_"));
    assert_eq!(web["refresh_token_absolute_expiry_secs"], serde_json::Value::Null);

    let (code, _, err) =
        run(&cfg, &["apps", "create", "--type", "web", "--name", "Bad", "--redirect-url", "http://r.example/cb"]);
    assert_eq!(code, 1);
    assert!(err.contains("redirect_urls"), "{err}");

    let (_, shown, err) = run(&cfg, &["apps", "show", &id]);
    assert_eq!(shown["name"], "Reports", "{err}");
    assert!(shown.get("client_secret").is_none(), "a secret is shown once only");

    let (code, updated, _) = run(&cfg, &["apps", "update", &id, "--name", "Monthly reports"]);
    assert_eq!((code, updated["name"].as_str()), (0, Some("Monthly reports")));

    let (_, secret, _) = run(&cfg, &["apps", "secrets", "add", &id, "--note", "ci"]);
    assert!(secret["client_secret"].as_str().unwrap().starts_with("tgs_"));
    let (code, _, _) = run(&cfg, &["apps", "secrets", "delete", &id, secret["id"].as_str().unwrap()]);
    assert_eq!(code, 0);

    let (_, machine, _) = run(&cfg, &["apps", "create", "--type", "machine", "--name", "Export"]);
    let mid = machine["client_id"].as_str().unwrap().to_string();
    assert_eq!((&machine["jwt_subjects"], &machine["scopes"]), (&serde_json::json!([]), &serde_json::Value::Null));
    let args = ["apps", "update", &mid, "--jwt-subject", "alice", "--jwt-subject", "zoë", "--scope", "api:read"];
    let (code, updated, err) = run(&cfg, &args);
    assert_eq!(code, 0, "{err}");
    assert_eq!(updated["jwt_subjects"], serde_json::json!(["alice", "zoë"]), "{updated}");
    assert_eq!(updated["scopes"], serde_json::json!(["api:read"]), "{updated}");
    let (_, generated, _) = run(&cfg, &["apps", "keys", "generate", &mid, "--alg", "ES256"]);
    assert!(generated["private_key"].as_str().unwrap().starts_with("-----BEGIN PRIVATE KEY-----"));
    // A partner's public key, sent as a JWK file: here the public half of another generated key.
    let (_, other, _) = run(&cfg, &["apps", "keys", "generate", &mid]);
    let file = dir.path().join("partner.jwk");
    std::fs::write(&file, other["jwk"].to_string()).unwrap();
    let (code, added, err) = run(&cfg, &["apps", "keys", "add", &mid, "--file", file.to_str().unwrap()]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(added["alg"], "RS256");
    let (_, listed, _) = run(&cfg, &["apps", "list"]);
    assert_eq!(listed.as_array().unwrap().len(), 2);
    let machine = listed.as_array().unwrap().iter().find(|a| a["type"] == "machine").unwrap();
    assert_eq!(machine["public_keys"].as_array().unwrap().len(), 3);

    let (code, _, _) = run(&cfg, &["apps", "delete", &id]);
    assert_eq!(code, 0);
    let (code, _, err) = run(&cfg, &["apps", "show", &id]);
    assert_eq!(code, 1);
    assert!(err.contains("not found"), "{err}");
}

#[test]
fn registry_commands_need_the_authorization_server() {
    let out = tokengate()
        .args(["apps", "list", "--config", &repo("config/external-issuer.example.toml")])
        .env("TOKENGATE_INTROSPECTION_SECRET", "x")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("authorization_server.enabled"));
}
