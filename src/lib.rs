//! The `treestat` package's library: the glue that builds a running server from the
//! configuration (listeners, HTTP, trend store, interval ticker) and the client side of
//! the command line. `src/main.rs` only parses flags and calls into here, and the
//! integration tests drive the same functions.

pub mod cli;
pub mod client;
pub mod config;
pub mod front;
pub mod pipes;
pub mod report;
pub mod server;
