//! treestat-pipes: turns access-log lines into tree updates (docs/PIPES.md).
//!
//! - [`format`]: presets and nginx `log_format` strings compiled into fast splitters.
//! - [`builtin`]: the built-in pipes (`ua`, `status`, `errors`, `bytes`, ...).
//! - [`pipeline`]: an ordered list of pipes per log source, aggregating per interval.
//! - [`native`]: native (`.so`) pipes through the C ABI in `include/treestat_pipe.h`.
//! - [`python`]: Python pipes on their own thread.
//! - [`isolate`]: any pipe in a child process (`isolate = true`), restarted when it dies.
//! - [`tail`]: the file tailer with rotation handling and checkpoints.

#![warn(missing_docs)]

pub mod format;

pub use treestat_pipe_api as api;
pub mod builtin;
pub mod error;
pub mod isolate;
pub mod native;
pub mod pipeline;
pub mod python;
pub mod tail;

pub use error::{Error, ErrorKind};
pub use pipeline::{
    LineOutcome, PipeConfig, PipeSpec, PipeTrouble, Pipeline, PipelineConfig, Troubles,
};
