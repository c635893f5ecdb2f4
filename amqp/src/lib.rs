//! treestat-amqp: the AMQP source (Psistats messages and JSON trees from a RabbitMQ
//! broker into the engine) and the AMQP output used by the agent and the relay.
//!
//! Layers: [`psistats`] and [`encode`] are pure (message <-> tree updates, no broker);
//! `broker` holds what both sides share (exchange declaration, backoff); [`source`]
//! and [`output`] own connections, acks, confirms and reconnects.
//!
//! - Server: [`run`]`(AmqpSourceConfig::with_url(url), engine, shutdown)` for
//!   `treestat serve --amqp URL`, or [`AmqpSource::new`] with the process telemetry.
//! - Agent / relay: [`AmqpOutput::connect`] then [`AmqpOutput::publish_tree`] each
//!   interval, [`AmqpOutput::close`] at the end.

#![forbid(unsafe_code)]
#![warn(missing_docs)]

mod broker;
pub mod config;
pub mod encode;
mod error;
pub mod output;
pub mod psistats;
pub mod source;

pub use config::{AmqpOutputConfig, AmqpSourceConfig, OutputFormat, QueueType, redact};
pub use error::Error;
pub use output::{AmqpOutput, OutputStats};
pub use source::{AmqpSource, run};
