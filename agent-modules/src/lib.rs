//! treestat-agent: the per-host agent (docs/AGENT.md).
//!
//! Modules (built-in Rust, Python with the Ganglia gmond interface, native `.so` with a
//! small C ABI) are collected at their intervals on one collector thread; their samples
//! become the push tree `{<group>: {<host>: {<metric>: value}}}`, which goes to every
//! configured server over UDP, TCP, HTTP or AMQP through a bounded buffer per server,
//! dated with the time it was collected. The relay takes such pushes from many agents,
//! merges them per interval in an in-process engine and forwards one tree upstream.
//!
//! Entry points for the CLI (all blocking; call them from a plain thread or
//! `spawn_blocking`, with a [`CancellationToken`] the caller cancels on SIGINT/SIGTERM,
//! the same token as every other part of the process: see `treestat_engine::stop`):
//! [`agent::run`] (`treestat agent`), [`agent::run_local`] (the built-in host modules
//! inside `treestat serve`), [`relay::run`] (`treestat relay`), [`folder::modules_table`]
//! (`treestat agent modules`), [`folder::enable`] and [`folder::disable`].

#![warn(missing_docs)]

pub mod agent;
pub mod builtin;
pub mod config;
pub mod error;
pub mod folder;
pub mod ganglia;
pub mod http;
pub mod metric;
pub mod module;
pub mod native;
pub mod python;
pub mod relay;
pub mod transport;
pub mod tree;

pub use config::AgentConfig;
pub use error::{Error, ErrorKind, Result};
pub use treestat_engine::stop::{CancellationToken, Wait};
