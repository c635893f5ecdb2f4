//! treestat-pipe-api: the small set of types that the pipes and every plugin loader
//! share, kept in a crate whose only dependency is the dependency-free vocabulary
//! (treestat-model), so that a pipe author never pulls in the engine.
//!
//! - [`Action`]: how a node folds samples (re-exported from treestat-model).
//! - [`Schema`], [`Record`], [`Span`]: a parsed log line, fields borrowed from it.
//! - [`Emit`]: how a pipe hands back `(path, value, action)`; [`sanitize_key`],
//!   [`join_path`], [`MAX_KEY_LEN`]: the key rules it follows (re-exported from
//!   treestat-model).
//! - [`Pipe`]: the life cycle `init` / `process` / `flush` / `cleanup`.
//! - [`abi`], [`plugin`], [`declare_pipe!`]: the C ABI of native pipes.

#![warn(missing_docs)]

pub mod abi;
mod emit;
mod pipe;
pub mod plugin;
mod record;

pub use emit::Emit;
pub use pipe::{Pipe, PipeError, PipeHealth};
pub use record::{Record, Schema, Span};
pub use treestat_model::{
    ACTION_KEYS, Action, DEFAULT_ACTION_KEY, KeyProblem, MAX_KEY_LEN, ParseActionError, SEP,
    check_key, is_action_key, join_path, sanitize_key, sanitize_key_or,
};
