//! What the source and the output share about the broker: connecting, declaring the
//! exchanges exactly as the Psistats client does, and the reconnect backoff.
//!
//! Exchanges are declared topic, not durable, not auto-delete: AMQP refuses a second
//! declaration with different flags (`PRECONDITION_FAILED`), so every party (Psistats
//! clients, the treestat source, the treestat output) must use the same ones.

use std::time::Duration;

use lapin::options::ExchangeDeclareOptions;
use lapin::types::FieldTable;
use lapin::{Channel, Connection, ConnectionProperties, ExchangeKind};
use tokio_util::sync::CancellationToken;

use crate::error::Error;

/// Opens a connection named `name` (shown by `rabbitmqctl list_connections`).
///
/// # Errors
/// [`Error::Broker`] when the broker cannot be reached or refuses the login.
pub(crate) async fn connect(url: &str, name: &str) -> Result<Connection, Error> {
    let props = ConnectionProperties::default().with_connection_name(name.into());
    Ok(Connection::connect(url, props).await?)
}

/// Declares a topic exchange the way the Psistats client does.
///
/// # Errors
/// [`Error::Broker`], e.g. when the exchange exists with other flags.
pub(crate) async fn declare_exchange(channel: &Channel, name: &str) -> Result<(), Error> {
    let opts = ExchangeDeclareOptions {
        passive: false,
        durable: false,
        auto_delete: false,
        internal: false,
        nowait: false,
    };
    channel
        .exchange_declare(
            name.into(),
            ExchangeKind::Topic,
            opts,
            FieldTable::default(),
        )
        .await
        .map_err(|source| Error::Declare {
            what: format!(
                "exchange {name:?} (topic, not durable, not auto-delete; an exchange of \
                 that name declared otherwise must be deleted first)"
            ),
            source,
        })
}

/// The exchange type of sharded ingest, from RabbitMQ's
/// `rabbitmq_consistent_hash_exchange` plugin.
pub(crate) const CONSISTENT_HASH: &str = "x-consistent-hash";

/// Declares the shard exchange: `x-consistent-hash`, durable (the shards' durable queues
/// are bound to it, and a binding lives only as long as both ends), not auto-delete.
/// Publishers and shards declare it alike, so either may come first.
///
/// # Errors
/// [`Error::MissingPlugin`] when the broker does not know the exchange type,
/// [`Error::Declare`] for any other refusal.
pub(crate) async fn declare_shard_exchange(channel: &Channel, name: &str) -> Result<(), Error> {
    let opts = ExchangeDeclareOptions {
        passive: false,
        durable: true,
        auto_delete: false,
        internal: false,
        nowait: false,
    };
    channel
        .exchange_declare(
            name.into(),
            ExchangeKind::Custom(CONSISTENT_HASH.into()),
            opts,
            FieldTable::default(),
        )
        .await
        .map_err(|source| {
            if is_unknown_exchange_type(&source.to_string()) {
                Error::MissingPlugin {
                    exchange: name.to_string(),
                    source,
                }
            } else {
                Error::Declare {
                    what: format!(
                        "exchange {name:?} ({CONSISTENT_HASH}, durable, not auto-delete; an \
                         exchange of that name declared otherwise must be deleted first)"
                    ),
                    source,
                }
            }
        })
}

/// Whether a broker error says the exchange type is unknown (RabbitMQ closes the
/// connection with `COMMAND_INVALID - unknown exchange type 'x-consistent-hash'`).
fn is_unknown_exchange_type(error: &str) -> bool {
    error.contains("unknown exchange type") || error.contains("invalid exchange type")
}

/// Closes a connection politely (unacked deliveries return to their queue), giving up
/// after a few seconds on a broker that does not answer.
pub(crate) async fn close(conn: &Connection, reason: &str) {
    let closing = conn.close(200, reason.into());
    match tokio::time::timeout(Duration::from_secs(5), closing).await {
        Ok(Ok(())) => {}
        Ok(Err(e)) => tracing::debug!(error = %e, "amqp: close"),
        Err(_) => tracing::debug!("amqp: close timed out"),
    }
}

/// Exponential backoff between `min` and `max`, reset after a good connection.
#[derive(Debug, Clone)]
pub(crate) struct Backoff {
    min: Duration,
    max: Duration,
    next: Duration,
}

impl Backoff {
    pub(crate) fn new(min: Duration, max: Duration) -> Backoff {
        Backoff {
            min,
            max,
            next: min,
        }
    }

    /// Back to the shortest pause (after a connection that worked).
    pub(crate) fn reset(&mut self) {
        self.next = self.min;
    }

    /// The pause to take now; the next one is twice as long, up to the maximum.
    pub(crate) fn step(&mut self) -> Duration {
        let now = self.next;
        self.next = (self.next * 2).min(self.max);
        now
    }

    /// Sleeps the next pause; `false` when `shutdown` fired meanwhile.
    pub(crate) async fn wait(&mut self, shutdown: &CancellationToken) -> bool {
        let pause = self.step();
        tokio::select! {
            () = shutdown.cancelled() => false,
            () = tokio::time::sleep(pause) => true,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_up_to_the_maximum_and_resets() {
        let mut b = Backoff::new(Duration::from_millis(100), Duration::from_millis(350));
        let steps: Vec<_> = (0..4).map(|_| b.step().as_millis()).collect();
        assert_eq!(steps, [100, 200, 350, 350]);
        b.reset();
        assert_eq!(b.step(), Duration::from_millis(100));
    }
}
