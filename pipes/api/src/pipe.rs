//! The life cycle every pipe follows, whatever it is written in (docs/PIPES.md):
//! bind to a schema (`init`), `process` each record, `flush` at each interval,
//! `cleanup` once.

use crate::{Emit, Record, Schema};
use std::fmt;

/// Why a pipe could not start or failed on a record. Carries the pipe's own words.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PipeError(pub String);

impl PipeError {
    /// An error with this message.
    pub fn new(msg: impl Into<String>) -> PipeError {
        PipeError(msg.into())
    }
}

impl fmt::Display for PipeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for PipeError {}

/// A pipe: turns records into tree updates.
///
/// Configuration is taken when the pipe is built; `init` then binds it to the log
/// format, so it can look up its field indices once.
pub trait Pipe: Send {
    /// The name used in counters (`_treestat,pipes,<name>,...`) and logs.
    fn name(&self) -> &str;

    /// Binds the pipe to the fields a log format provides.
    ///
    /// # Errors
    /// When the format lacks a field the pipe cannot work without.
    fn init(&mut self, schema: &Schema) -> Result<(), PipeError>;

    /// Handles one record. An error counts the record as failed for this pipe; the
    /// pipeline goes on.
    ///
    /// # Errors
    /// When the pipe could not handle this record.
    fn process(&mut self, record: &Record<'_>, out: &mut dyn Emit) -> Result<(), PipeError>;

    /// Called at each interval close, for pipes that accumulate.
    ///
    /// # Errors
    /// When the pipe could not produce its accumulated updates.
    fn flush(&mut self, out: &mut dyn Emit) -> Result<(), PipeError> {
        let _ = out;
        Ok(())
    }

    /// Errors that happened outside `process` and `flush` since the last call (pipes
    /// that work on another thread, like Python pipes, count them here).
    fn take_errors(&mut self) -> u64 {
        0
    }

    /// Whether the pipe is working. The pipeline asks after a call that failed and at
    /// each flush; most pipes are always [`PipeHealth::Ok`].
    fn health(&self) -> PipeHealth {
        PipeHealth::Ok
    }

    /// The pipe's own event counts since the last call (besides errors), each as
    /// `(name, count)`; the pipeline adds them under `_treestat,pipes,<source>,<pipe>,
    /// <name>`. Isolated pipes count their crashes, restarts and dropped lines here.
    fn take_counters(&mut self, out: &mut dyn FnMut(&'static str, u64)) {
        let _ = out;
    }

    /// Called once when the pipeline stops.
    fn cleanup(&mut self) {}
}

/// How a pipe is faring (see [`Pipe::health`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PipeHealth {
    /// Working.
    Ok,
    /// Not working for now, and trying to come back (an isolated pipe whose child is
    /// being restarted): its records are dropped and counted meanwhile, and the
    /// pipeline keeps calling it.
    Down(String),
    /// Out for good (a Python pipe over its time budget): the pipeline takes it out
    /// and never calls it again.
    Failed(String),
}
