//! What the browser tests need: Debian's chromium, node, and playwright-core installed by `npm ci` in
//! `tests/console/browser`. Without them a browser test is skipped with a line saying so, unless
//! `TOKENGATE_REQUIRE_BROWSER=1` (as `.ci/run` sets), which makes that a failure.

use std::path::{Path, PathBuf};

/// The browser.
pub const CHROMIUM: &str = "/usr/bin/chromium";

/// Where playwright-core is installed (and the console's scenario lives).
pub fn playwright_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/console/browser")
}

fn missing(dir: &Path) -> Option<String> {
    if !Path::new(CHROMIUM).exists() {
        return Some(format!("{CHROMIUM} is not installed"));
    }
    if !dir.join("node_modules/playwright-core/package.json").exists() {
        return Some(format!("{} has no node_modules/playwright-core", dir.display()));
    }
    if std::process::Command::new("node").arg("--version").output().is_err() {
        return Some("node is not installed".into());
    }
    None
}

/// `true` when the browser test `what` cannot run here and is skipped (a line says so); panics instead when
/// `TOKENGATE_REQUIRE_BROWSER=1`.
pub fn skip(what: &str) -> bool {
    let Some(why) = missing(&playwright_dir()) else { return false };
    assert!(
        std::env::var("TOKENGATE_REQUIRE_BROWSER").as_deref() != Ok("1"),
        "TOKENGATE_REQUIRE_BROWSER=1 but {why}: install chromium and run `npm ci --prefix tests/console/browser`"
    );
    println!("SKIPPED: {what} needs chromium and npm ci in tests/console/browser, see README ({why})");
    true
}

/// Runs the node script `script` (a path under `tests/`) in headless chromium with `env` set, besides `PROFILE_DIR`
/// (a fresh profile), `CHROMIUM` and `PLAYWRIGHT_DIR`; within two minutes, it must succeed and print a line
/// `RESULT {json}`, which is returned.
pub async fn run_script(script: &str, env: &[(&str, &str)]) -> serde_json::Value {
    let dir = playwright_dir();
    let profile = tempfile::tempdir().expect("browser profile directory");
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests").join(script);
    let mut command = tokio::process::Command::new("node");
    command
        .arg(&script)
        .current_dir(&dir)
        .env("PROFILE_DIR", profile.path())
        .env("CHROMIUM", CHROMIUM)
        .env("PLAYWRIGHT_DIR", &dir)
        .kill_on_drop(true);
    for (k, v) in env {
        command.env(k, v);
    }
    let out = tokio::time::timeout(std::time::Duration::from_secs(120), command.output())
        .await
        .expect("the browser scenario did not finish within 2 minutes")
        .expect("node runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "the browser scenario failed ({}):\n{stdout}\n{stderr}", out.status);
    let line = stdout.lines().rev().find(|l| l.starts_with("RESULT ")).unwrap_or_else(|| panic!("{stdout}\n{stderr}"));
    serde_json::from_str(&line["RESULT ".len()..]).unwrap_or_else(|e| panic!("{e}: {line}"))
}
