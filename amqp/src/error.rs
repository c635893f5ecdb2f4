//! The crate's error: a kind per audience. Configuration mistakes are found before
//! anything connects; broker errors are what the reconnect loops log and retry.

/// An error from the AMQP source or output.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The configuration is invalid; the message names the field.
    #[error("amqp config: {0}")]
    Config(String),
    /// The broker refused or dropped something (connect, declare, consume, publish).
    #[error("amqp broker: {0}")]
    Broker(#[from] lapin::Error),
    /// The broker refused a declaration or binding; `what` names it and the likely fix.
    #[error("amqp broker refused {what}: {source}")]
    Declare {
        /// The exchange, queue or binding, with what was asked.
        what: String,
        /// The broker's answer.
        source: lapin::Error,
    },
    /// The broker does not know the `x-consistent-hash` exchange type: its plugin is
    /// not enabled. Retried like any broker error, logged as what to do.
    #[error(
        "amqp broker refused exchange {exchange:?}: the RabbitMQ plugin \
         rabbitmq_consistent_hash_exchange is not enabled (enable it on every broker node \
         with `rabbitmq-plugins enable rabbitmq_consistent_hash_exchange`): {source}"
    )]
    MissingPlugin {
        /// The exchange that could not be declared.
        exchange: String,
        /// The broker's answer.
        source: lapin::Error,
    },
    /// The broker ended the session without an error (e.g. it cancelled the consumer).
    #[error("amqp broker: {0}")]
    Lost(&'static str),
    /// The output's background task is gone (it was closed).
    #[error("amqp output is closed")]
    Closed,
}
