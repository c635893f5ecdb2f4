//! The integration tests of the engine, one module per file, linked into one test binary
//! (issue 17: one binary per crate instead of one per file, each linking the whole
//! crate and its dependencies). Run one file's tests with
//! `cargo test -p treestat-engine --test integration <file>::`.

mod fuzz_findings;
mod histogram;
mod histogram_props;
mod intervals;
mod listen_common;
mod listen_hostile;
mod listen_protocols;
mod listen_shutdown;
mod partial_fold;
mod poison;
mod properties;
mod semantics;
mod trend_crash;
mod trend_fold;
mod trend_health;
mod trend_histogram;
mod trend_io;
mod trend_meta;
mod trend_model;
mod trend_poison;
mod trend_retention;
mod trend_store;
mod wal;
