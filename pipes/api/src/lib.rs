//! treestat-pipe-api: the small set of types that the engine, the pipes and every
//! plugin loader share, kept in a crate with no dependencies (as ripgrep keeps
//! `grep-matcher` apart) so that a pipe author never pulls in the engine.
//!
//! - [`Action`]: how a node folds samples.
//! - [`Schema`], [`Record`], [`Span`]: a parsed log line, fields borrowed from it.
//! - [`Emit`], [`sanitize_key`]: how a pipe hands back `(path, value, action)`.
//! - [`Pipe`]: the life cycle `init` / `process` / `flush` / `cleanup`.
//! - [`abi`], [`plugin`], [`declare_pipe!`]: the C ABI of native pipes.

pub mod abi;
mod action;
mod emit;
mod pipe;
pub mod plugin;
mod record;

pub use action::{Action, ParseActionError};
pub use emit::{Emit, MAX_KEY_LEN, join_path, sanitize_key, sanitize_key_or};
pub use pipe::{Pipe, PipeError, PipeHealth};
pub use record::{Record, Schema, Span};
