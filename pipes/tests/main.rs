//! The integration tests of pipes, formats and the tailer, one module per file, linked into one test binary
//! (issue 17: one binary per crate instead of one per file, each linking the whole
//! crate and its dependencies). Run one file's tests with
//! `cargo test -p treestat-pipes --test integration <file>::`.

mod common;

mod acceptance;
mod golden;
mod native;
mod python;
mod regex_format;
mod tail;
