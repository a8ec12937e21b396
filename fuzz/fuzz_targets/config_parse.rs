//! `tokengate::Config::from_toml` (and `EdgeConfig::from_toml`): errors are expected, panics are bugs. Every error
//! is also rendered, as `check-config` does.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    match tokengate::Config::from_toml(text, "fuzz") {
        Ok(config) => {
            let _ = format!("{config:?}");
        }
        Err(errors) => {
            let _ = errors.to_string();
        }
    }
    if let Err(errors) = tokengate::EdgeConfig::from_toml(text, "fuzz") {
        let _ = errors.to_string();
    }
});
