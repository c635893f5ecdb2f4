//! The integration tests of the HTTP API, one module per file, linked into one test binary
//! (issue 17: one binary per crate instead of one per file, each linking the whole
//! crate and its dependencies). Run one file's tests with
//! `cargo test -p treestat-web --test integration <file>::`.

mod common;

mod dashboards;
mod events;
mod graphite_api;
mod graphite_golden;
mod hostile;
mod pull;
mod shutdown;
mod tree;
mod views;
