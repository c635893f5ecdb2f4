//! The integration tests of the chart renderer, one module per file, linked into one test binary
//! (issue 17: one binary per crate instead of one per file, each linking the whole
//! crate and its dependencies). Run one file's tests with
//! `cargo test -p treestat-graph --test integration <file>::`.

mod common;

mod gaps;

mod hostile;
mod labels;
mod pdf;
mod render;
