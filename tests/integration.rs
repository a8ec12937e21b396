//! tokengate's integration tests: one binary, a module per area, real servers on 127.0.0.1:0.

mod support;

mod admin;
mod cli;
mod console;
mod edge;
mod embed;
mod faults;
mod flows;
mod ops;
mod scale;
mod store;
mod tls;
