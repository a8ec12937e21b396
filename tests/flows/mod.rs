//! The built-in authorization server, end to end: a real tokengate with its registry on a SQLite file, apps and users
//! created through the registry, a browser signing in and consenting by hand, tokens exchanged at the token endpoint
//! and then presented to the edge in front of a test upstream.

mod authorize;
mod client_library;
mod code;
mod code_replay;
mod conformance;
mod cors;
mod discovery;
pub mod identity;
mod keys;
mod lifecycle;
mod logo;
mod machine;
mod refresh;
mod signin;
mod throttle;
mod workfront;
