//! The console in a real browser: headless Debian chromium driven by playwright-core (`browser/scenario.mjs`) against
//! a real tokengate (real sockets, real SQLite file). The script signs in, creates one app of each type, copies a
//! secret and proves it gets a token, adds and deletes a secret, generates and pastes keys, uploads a logo, meets a
//! validation error, fills the 10 places, deletes an app, manages users, is refused as a non-admin, checks the CSP,
//! labels and a phone-sized screen, creates and deletes an app with JavaScript off, and takes screenshots
//! (`$CARGO_TARGET_DIR/console-screenshots/`).
//!
//! Skipped, with a line saying so, when chromium or the npm packages are missing, unless
//! `TOKENGATE_REQUIRE_BROWSER=1` (as `.ci/run` sets), which makes that a failure.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use super::{start, ROOT, ROOT_PASSWORD};
use crate::support::authz::{Clock, ALICE_PASSWORD, ISSUER};

#[tokio::test]
async fn the_console_works_in_headless_chromium() {
    if crate::support::browser::skip("the console's browser test") {
        return;
    }
    let dir = crate::support::browser::playwright_dir();
    let az = start().await;
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("target"));
    let shots = target.join("console-screenshots");
    std::fs::create_dir_all(&shots).expect("screenshot directory");
    let profile = tempfile::tempdir().expect("browser profile directory");

    let started = Instant::now();
    let run = tokio::process::Command::new("node")
        .arg("scenario.mjs")
        .current_dir(&dir)
        .env("CONSOLE_URL", &az.admin_url)
        .env("TOKEN_URL", format!("{}/oauth2/token", az.url))
        .env("ADMIN_USER", ROOT)
        .env("ADMIN_PASSWORD", ROOT_PASSWORD)
        .env("USER_NAME", "alice")
        .env("USER_PASSWORD", ALICE_PASSWORD)
        .env("MAX_APPS", az.registry.max_apps().to_string())
        .env("ISSUER", ISSUER)
        .env("CLOCK_NOW", az.clock.now().to_string())
        .env("SCREENSHOTS", &shots)
        .env("PROFILE_DIR", profile.path())
        .env("CHROMIUM", crate::support::browser::CHROMIUM)
        .env("PLAYWRIGHT_DIR", &dir)
        .kill_on_drop(true)
        .output();
    let out = tokio::time::timeout(Duration::from_secs(300), run)
        .await
        .expect("the browser scenario did not finish within 5 minutes")
        .expect("node runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "the browser scenario failed ({}):\n{stdout}\n{stderr}", out.status);
    println!("{stdout}browser scenario: {:.1} s", started.elapsed().as_secs_f64());

    // What the browser did is in the registry.
    let apps: Vec<serde_json::Value> = az.registry.apps().await.unwrap().iter().map(|a| a.to_json()).collect();
    assert_eq!(apps.len() as i64, az.registry.max_apps() - 1, "ten created, one deleted");
    for kind in ["machine", "web", "spa"] {
        assert!(apps.iter().any(|a| a["type"] == kind), "a {kind} app was created");
    }
    let machine = apps.iter().find(|a| a["name"] == "Nightly export").expect("the machine app");
    assert_eq!(machine["public_keys"].as_array().unwrap().len(), 2, "one generated, one pasted");
    assert_eq!(machine["secrets"].as_array().unwrap().len(), 1, "a secret added, then deleted");
    let web = apps.iter().find(|a| a["name"] == "Customer portal").expect("the web app");
    assert_eq!(web["redirect_urls"][0], "https://portal.example/callback");
    assert!(web["logo_url"].as_str().unwrap().starts_with("/oauth2/logo/"));
    let users = az.registry.users().await.unwrap();
    assert!(users.iter().any(|u| u.username == "bob" && u.is_admin && !u.disabled));
    assert!(users.iter().any(|u| u.username == "alice" && u.disabled));
    for shot in [
        "01-sign-in",
        "03-apps-empty",
        "04-create-dialog",
        "05-app-secret",
        "07-machine-keys",
        "09-apps-full",
        "11-users",
        "12-phone-apps",
    ] {
        assert!(shots.join(format!("{shot}.png")).exists(), "screenshot {shot}");
    }
}
