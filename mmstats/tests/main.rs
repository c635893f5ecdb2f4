//! The integration tests of mmstats files, one module per file, linked into one test binary
//! (issue 17: one binary per crate instead of one per file, each linking the whole
//! crate and its dependencies). Run one file's tests with
//! `cargo test -p treestat-mmstats --test integration <file>::`.

mod commands;
mod golden;
mod python_compat;
mod writer;
