//! The admin API, end to end: a real tokengate process with its registry on a SQLite file in a temporary directory,
//! users made with the real `tokengate users` command, JSON over HTTP on the admin listener.

mod apps;
mod auth;
mod ending;
mod guard;
mod keys;
mod limits;
mod logo;
mod names;
mod persistence;
mod secrets;
mod tokens;
mod users;
