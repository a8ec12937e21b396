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
