//! The integration tests of the agent, one module per file, linked into one test binary
//! (issue 17: one binary per crate instead of one per file, each linking the whole
//! crate and its dependencies). Run one file's tests with
//! `cargo test -p treestat-agent --test integration <file>::`.

mod common;

mod agent_e2e;
mod builtin_modules;
mod engine_e2e;
mod ganglia_modules;
mod http_client;
mod mmstats_module;
mod module_retry;
mod native_modules;
mod python2_modules;
mod python_modules;
mod relay;
mod relay_http;
mod transport;
