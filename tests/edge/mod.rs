//! The edge, end to end: a test issuer, a test upstream and a real gateway between the test and the upstream.

mod answers;
mod forwarding;
mod jwt;
mod keys;
mod limits;
mod metrics;
mod opaque;
mod paths;
mod trust;
