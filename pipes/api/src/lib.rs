//! treestat-pipe-api: the small set of types that the engine, the pipes and every
//! plugin loader share, kept in a crate with no dependencies (as ripgrep keeps
//! `grep-matcher` apart) so that a pipe author never pulls in the engine.

mod action;

pub use action::{Action, ParseActionError};
