//! The integration tests of the `treestat` binary and its library, one module per file, linked into one test binary
//! (issue 17: one binary per crate instead of one per file, each linking the whole
//! crate and its dependencies). Run one file's tests with
//! `cargo test --test integration <file>::`.

mod common;

mod agent_conf;
mod agent_e2e;
mod charts;
mod cli;
mod cli_forms;
mod crash;
mod disk_full;
mod forward;
mod front;
mod fuzz_smoke;
mod http_failure;
mod import_cycles;
mod install;
mod own_metrics;
mod pipes_e2e;
mod poison_e2e;
mod readme;
mod report;
mod server;
mod shutdown;
mod statsd_etsy;
mod statsd_tags;
mod test_targets;
mod time_grammar;
mod tree;
mod wal;
