//! The AMQP output for the agent and the relay: publish the tree (treestat JSON or
//! Psistats messages) to an exchange, buffering while the broker is away.
//!
//! [`AmqpOutput::publish_tree`] never blocks and may be called from any thread, async or
//! not: it encodes the tree and appends the messages to a bounded buffer (the oldest are
//! dropped and counted when it is full). A background thread with its own small tokio
//! runtime owns the connection: it publishes from the front of the buffer with publisher
//! confirms and removes a message only once the broker confirmed it, so a broker restart
//! loses nothing that fits in the buffer (delivery is at least once). When the broker
//! goes away it reconnects with exponential backoff.
//!
//! Sharded (`sharded`): messages go to the durable `x-consistent-hash` exchange,
//! persistent and mandatory; one the broker returns unroutable (no shard queue bound) or
//! nacks (a full queue) stays in the buffer and goes again after the backoff. Up to
//! 1024 messages (32 MiB) are in flight before the oldest confirm is awaited; what was
//! confirmed before a failure has left the buffer, so only what was not confirmed is
//! sent again. After a message returned or refused, the confirms of those in flight
//! behind it are awaited first, and those the broker took leave the buffer too.

use std::collections::VecDeque;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use lapin::options::{BasicPublishOptions, ConfirmSelectOptions};
use lapin::{BasicProperties, Channel, Confirmation, Connection, PublisherConfirm};
use parking_lot::Mutex;
use serde_json::Value;
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

use crate::broker::{self, Backoff};
use crate::config::{AmqpOutputConfig, OutputFormat, redact};
use crate::encode::{self, Message};
use crate::error::Error;

/// Messages published and not yet confirmed, at most.
const WINDOW: usize = 1024;
/// Bytes published and not yet confirmed, at most (one larger message still goes alone).
const WINDOW_BYTES: usize = 32 << 20;

/// What the output did so far.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct OutputStats {
    /// Messages the broker confirmed.
    pub published: u64,
    /// Messages dropped because the buffer was full (the oldest go first).
    pub dropped: u64,
    /// Messages waiting in the buffer.
    pub buffered: usize,
    /// Whether a connection is up now.
    pub connected: bool,
}

struct Queued {
    seq: u64,
    /// When the tree was handed over (unix seconds): the message's AMQP `timestamp`,
    /// so a message that waited in the buffer is dated when it was measured.
    ts: u64,
    msg: Message,
}

/// The messages waiting, oldest first, and the bytes of their bodies.
#[derive(Default)]
struct Buffer {
    queue: VecDeque<Queued>,
    bytes: usize,
}

impl Buffer {
    fn push_back(&mut self, q: Queued) {
        self.bytes += q.msg.body.len();
        self.queue.push_back(q);
    }

    fn pop_front(&mut self) {
        if let Some(q) = self.queue.pop_front() {
            self.bytes -= q.msg.body.len();
        }
    }

    /// Removes message `seq` (the queue is in order of `seq`); false when it is not
    /// there (dropped meanwhile to make room).
    fn remove(&mut self, seq: u64) -> bool {
        let Ok(i) = self.queue.binary_search_by_key(&seq, |q| q.seq) else {
            return false;
        };
        if let Some(q) = self.queue.remove(i) {
            self.bytes -= q.msg.body.len();
        }
        true
    }
}

struct Shared {
    buffer: Mutex<Buffer>,
    next_seq: AtomicU64,
    wake: Notify,
    published: AtomicU64,
    dropped: AtomicU64,
    connected: AtomicBool,
    /// Set by `close`: exit once the buffer is empty.
    closing: AtomicBool,
}

/// A publisher to one exchange; see the module doc.
pub struct AmqpOutput {
    cfg: AmqpOutputConfig,
    routing_key: String,
    shared: Arc<Shared>,
    shutdown: CancellationToken,
    done: Option<std::sync::mpsc::Receiver<()>>,
    thread: Option<JoinHandle<()>>,
}

impl std::fmt::Debug for AmqpOutput {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AmqpOutput")
            .field("url", &redact(&self.cfg.url))
            .field("exchange", &self.cfg.exchange_name())
            .field("stats", &self.stats())
            .finish()
    }
}

impl AmqpOutput {
    /// Checks the config and starts the publisher thread. Does not wait for the broker:
    /// trees published before it answers are buffered.
    ///
    /// # Errors
    /// [`Error::Config`] naming the bad field; an I/O error starting the thread is
    /// reported as [`Error::Config`] too (nothing else can be done about it).
    pub fn connect(cfg: AmqpOutputConfig) -> Result<AmqpOutput, Error> {
        cfg.validate()?;
        let shared = Arc::new(Shared {
            buffer: Mutex::new(Buffer::default()),
            next_seq: AtomicU64::new(0),
            wake: Notify::new(),
            published: AtomicU64::new(0),
            dropped: AtomicU64::new(0),
            connected: AtomicBool::new(false),
            closing: AtomicBool::new(false),
        });
        let shutdown = CancellationToken::new();
        let (done_tx, done) = std::sync::mpsc::channel();
        let worker = Worker {
            url: cfg.url.clone(),
            exchange: cfg.exchange_name(),
            sharded: cfg.sharded,
            backoff: Backoff::new(cfg.reconnect_min, cfg.reconnect_max),
            shared: shared.clone(),
            shutdown: shutdown.clone(),
        };
        let thread = std::thread::Builder::new()
            .name("treestat-amqp-out".into())
            .spawn(move || {
                match tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                {
                    Ok(rt) => rt.block_on(worker.run()),
                    Err(e) => tracing::error!(error = %e, "amqp output: no runtime"),
                }
                let _ = done_tx.send(());
            })
            .map_err(|e| Error::Config(format!("cannot start the amqp output thread: {e}")))?;
        Ok(AmqpOutput {
            routing_key: cfg.json_routing_key(),
            cfg,
            shared,
            shutdown,
            done: Some(done),
            thread: Some(thread),
        })
    }

    /// Encodes `tree` (`{<group>: {<host>: {<metric>: value}}}` or an array of such
    /// trees) in the configured format and queues the messages; returns how many.
    /// Never blocks.
    ///
    /// With `sharded`, one message per shard key ([`encode::shard_groups`]), whatever
    /// its size; the agent's transport cuts large parts to `max_message_bytes` and
    /// calls [`publish_messages`](Self::publish_messages) instead.
    pub fn publish_tree(&self, tree: &Value) -> usize {
        let msgs = match self.cfg.format {
            _ if self.cfg.sharded => encode::shard_groups(tree, self.cfg.shard_depth)
                .into_iter()
                .map(|(key, doc)| encode::json_message(&doc, &key))
                .collect(),
            OutputFormat::Json => vec![encode::json_message(tree, &self.routing_key)],
            OutputFormat::Psistats => encode::psistats_messages(tree),
        };
        self.publish_messages(msgs)
    }

    /// Queues messages already encoded (routing key and body each); returns how many.
    /// Never blocks.
    pub fn publish_messages(&self, msgs: Vec<Message>) -> usize {
        let n = msgs.len();
        let ts = unix_now();
        {
            let mut buf = self.shared.buffer.lock();
            for msg in msgs {
                // Room by count and by bytes; the newest stays even when it alone is
                // over the bytes.
                while !buf.queue.is_empty()
                    && (buf.queue.len() >= self.cfg.buffer
                        || buf.bytes + msg.body.len() > self.cfg.buffer_bytes)
                {
                    buf.pop_front();
                    self.shared.dropped.fetch_add(1, Ordering::Relaxed);
                }
                let seq = self.shared.next_seq.fetch_add(1, Ordering::Relaxed);
                buf.push_back(Queued { seq, ts, msg });
            }
        }
        self.shared.wake.notify_one();
        n
    }

    /// Counters and the buffer's fill.
    pub fn stats(&self) -> OutputStats {
        OutputStats {
            published: self.shared.published.load(Ordering::Relaxed),
            dropped: self.shared.dropped.load(Ordering::Relaxed),
            buffered: self.shared.buffer.lock().queue.len(),
            connected: self.shared.connected.load(Ordering::Relaxed),
        }
    }

    /// Publishes what is buffered for at most `grace`, then stops; returns the final
    /// stats (`buffered` is what could not be sent). Blocks the calling thread: from
    /// async code call it in `spawn_blocking`. Dropping the output stops it at once.
    pub fn close(mut self, grace: Duration) -> OutputStats {
        self.shared.closing.store(true, Ordering::Relaxed);
        self.shared.wake.notify_one();
        if let Some(done) = self.done.take() {
            let _ = done.recv_timeout(grace);
        }
        self.stop();
        self.stats()
    }

    fn stop(&mut self) {
        self.shutdown.cancel();
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

impl Drop for AmqpOutput {
    fn drop(&mut self) {
        self.stop();
    }
}

struct Worker {
    url: String,
    exchange: String,
    /// Publish to the durable `x-consistent-hash` exchange, persistent and mandatory.
    sharded: bool,
    backoff: Backoff,
    shared: Arc<Shared>,
    shutdown: CancellationToken,
}

impl Worker {
    async fn run(mut self) {
        let shutdown = self.shutdown.clone();
        while !shutdown.is_cancelled() {
            let session = tokio::select! {
                () = shutdown.cancelled() => break,
                r = self.session() => r,
            };
            self.shared.connected.store(false, Ordering::Relaxed);
            match session {
                Ok(()) => break,
                Err(e) => tracing::warn!(
                    url = %redact(&self.url), error = %e,
                    "amqp output: broker lost, reconnecting"
                ),
            }
            if !self.backoff.wait(&shutdown).await {
                break;
            }
        }
    }

    /// One connection: `Ok` once closing with an empty buffer, `Err` on broker failure.
    async fn session(&mut self) -> Result<(), Error> {
        let conn = broker::connect(&self.url, "treestat-output").await?;
        let r = self.serve(&conn).await;
        broker::close(&conn, "treestat output closing").await;
        r
    }

    /// Publishes on `conn` until closing with an empty buffer (`Ok`) or a failure.
    ///
    /// A sliding window: up to [`WINDOW`] messages ([`WINDOW_BYTES`]) are published
    /// before the oldest one's confirm is awaited, and each confirm frees room for the
    /// next, so the rate is not one round trip (a broker fsync for persistent messages)
    /// per few messages. A message leaves the buffer once it and every one before it
    /// were confirmed.
    async fn serve(&mut self, conn: &Connection) -> Result<(), Error> {
        let channel = conn.create_channel().await?;
        channel
            .confirm_select(ConfirmSelectOptions::default())
            .await?;
        if self.sharded {
            broker::declare_shard_exchange(&channel, &self.exchange).await?;
        } else {
            broker::declare_exchange(&channel, &self.exchange).await?;
        }
        self.shared.connected.store(true, Ordering::Relaxed);
        self.backoff.reset();
        let mut window = Window::default();
        loop {
            for (seq, ts, msg) in self.next_to_publish(&window) {
                let confirm = self.publish(&channel, ts, &msg).await?;
                window.sent_up_to = Some(seq);
                window.bytes += msg.body.len();
                window.inflight.push_back((seq, msg.body.len(), confirm));
            }
            let Some((seq, len, confirm)) = window.inflight.pop_front() else {
                if self.shared.closing.load(Ordering::Relaxed) {
                    return Ok(());
                }
                self.shared.wake.notified().await;
                continue;
            };
            window.bytes -= len;
            if let Err(e) = confirmed(confirm.await) {
                if matches!(e, Error::Lost(_)) {
                    self.settle(window.inflight).await;
                }
                return Err(e);
            }
            let mut buf = self.shared.buffer.lock();
            let mut n = 0;
            while buf.queue.front().is_some_and(|q| q.seq <= seq) {
                buf.pop_front();
                n += 1;
            }
            self.shared.published.fetch_add(n, Ordering::Relaxed);
        }
    }

    /// After the broker returned or refused one message, on a channel still up: awaits
    /// the confirms of those published after it, and those the broker took leave the
    /// buffer. Only what it did not take then goes again: when the shards' queues were
    /// bound while a window was in flight, its first message came back unroutable and
    /// the rest were delivered, and sending the whole window again delivered those
    /// twice (an `add` doubled).
    async fn settle(&self, inflight: VecDeque<(u64, usize, PublisherConfirm)>) {
        let mut taken = Vec::new();
        for (seq, _, confirm) in inflight {
            if confirmed(confirm.await).is_ok() {
                taken.push(seq);
            }
        }
        let mut buf = self.shared.buffer.lock();
        let n = taken.into_iter().filter(|&seq| buf.remove(seq)).count();
        self.shared
            .published
            .fetch_add(u64::try_from(n).unwrap_or(0), Ordering::Relaxed);
    }

    /// The buffered messages after the last one published on this channel, as many as
    /// the window has room for.
    fn next_to_publish(&self, window: &Window) -> Vec<(u64, u64, Message)> {
        let buf = &self.shared.buffer.lock().queue;
        let from = window
            .sent_up_to
            .map_or(0, |s| buf.partition_point(|q| q.seq <= s));
        let (mut count, mut bytes) = (window.inflight.len(), window.bytes);
        let mut out = Vec::new();
        for q in buf.range(from..) {
            // One message always goes when nothing is in flight, however large.
            if count >= WINDOW || (count > 0 && bytes + q.msg.body.len() > WINDOW_BYTES) {
                break;
            }
            count += 1;
            bytes += q.msg.body.len();
            out.push((q.seq, q.ts, q.msg.clone()));
        }
        out
    }

    /// Publishes one message; its confirm is awaited later.
    async fn publish(
        &self,
        channel: &Channel,
        ts: u64,
        msg: &Message,
    ) -> Result<PublisherConfirm, Error> {
        // Transient, as Psistats publishes: the exchange is not durable either.
        // Sharded: persistent, as the shards' queues are durable, and mandatory, so
        // a message no queue is bound for comes back instead of vanishing.
        let props = BasicProperties::default()
            .with_content_type("application/json".into())
            .with_delivery_mode(if self.sharded { 2 } else { 1 })
            .with_timestamp(ts);
        let opts = BasicPublishOptions {
            mandatory: self.sharded,
            ..BasicPublishOptions::default()
        };
        Ok(channel
            .basic_publish(
                self.exchange.as_str().into(),
                msg.routing_key.as_str().into(),
                opts,
                &msg.body,
                props,
            )
            .await?)
    }
}

/// The messages published on a channel whose confirms have not been awaited yet.
#[derive(Default)]
struct Window {
    inflight: VecDeque<(u64, usize, PublisherConfirm)>,
    bytes: usize,
    /// The last sequence number published on this channel.
    sent_up_to: Option<u64>,
}

/// A confirm's outcome: `Ok` when the broker took the message.
fn confirmed(c: lapin::Result<Confirmation>) -> Result<(), Error> {
    match c {
        Ok(Confirmation::Ack(None) | Confirmation::NotRequested) => Ok(()),
        // Returned as unroutable: no queue is bound (no shard is up yet). It stays in
        // the buffer and goes again after the backoff.
        Ok(Confirmation::Ack(Some(_))) => Err(Error::Lost(
            "a message was returned unroutable (no queue is bound to the exchange; \
             for sharded ingest: no shard is up yet)",
        )),
        Ok(Confirmation::Nack(_)) => Err(Error::Lost(
            "the broker refused (nacked) a message (a full queue?)",
        )),
        Err(e) => Err(e.into()),
    }
}

fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An output of `cfg` to a loopback port with nothing listening (every connect is
    /// refused), reconnecting quickly.
    fn unreachable(cfg: AmqpOutputConfig) -> AmqpOutput {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .unwrap()
            .port();
        AmqpOutput::connect(AmqpOutputConfig {
            url: format!("amqp://127.0.0.1:{port}/%2f"),
            reconnect_min: Duration::from_millis(10),
            reconnect_max: Duration::from_millis(20),
            ..cfg
        })
        .unwrap()
    }

    /// A message the broker took behind one it returned leaves the buffer by its
    /// number, wherever it stands; its bytes go with it.
    #[test]
    fn buffer_removes_by_number() {
        let mut b = Buffer::default();
        for seq in 0..3 {
            b.push_back(Queued {
                seq,
                ts: 0,
                msg: Message {
                    routing_key: "k".into(),
                    body: vec![b'x'; 10 + usize::try_from(seq).unwrap()],
                },
            });
        }
        assert!(b.remove(1));
        assert!(!b.remove(1));
        assert!(!b.remove(7));
        assert_eq!(b.queue.iter().map(|q| q.seq).collect::<Vec<_>>(), [0, 2]);
        assert_eq!(b.bytes, 10 + 12);
    }

    #[test]
    fn buffer_is_bounded_while_the_broker_is_unreachable() {
        let out = unreachable(AmqpOutputConfig {
            format: OutputFormat::Psistats,
            buffer: 5,
            ..AmqpOutputConfig::default()
        });
        for i in 0..4 {
            let tree = serde_json::json!({"mem": {"h": i}, "cpu": {"h": {"0": i}}});
            assert_eq!(out.publish_tree(&tree), 2);
        }
        let s = out.stats();
        assert_eq!((s.buffered, s.dropped, s.published), (5, 3, 0));
        assert!(!s.connected);
        let s = out.close(Duration::ZERO);
        assert_eq!(s.buffered, 5, "what could not be sent is reported");
    }

    /// The bytes bound drops the oldest as the count bound does; one message over it
    /// alone is still kept.
    #[test]
    fn buffer_is_bounded_in_bytes_too() {
        let out = unreachable(AmqpOutputConfig {
            buffer_bytes: 1000,
            ..AmqpOutputConfig::default()
        });
        let msg = |len: usize| Message {
            routing_key: "treestat.h".into(),
            body: vec![b'x'; len],
        };
        assert_eq!(
            out.publish_messages((0..10).map(|_| msg(300)).collect()),
            10
        );
        let s = out.stats();
        assert_eq!((s.buffered, s.dropped), (3, 7));
        out.publish_messages(vec![msg(5000)]);
        let s = out.stats();
        assert_eq!((s.buffered, s.dropped), (1, 10));
        out.publish_messages(vec![msg(10)]);
        assert_eq!(out.stats().buffered, 1, "the large one went to make room");
    }

    #[test]
    fn a_bad_config_is_refused_before_anything_starts() {
        let err = AmqpOutput::connect(AmqpOutputConfig {
            buffer: 0,
            ..AmqpOutputConfig::default()
        })
        .unwrap_err();
        assert!(err.to_string().contains("buffer"), "{err}");
        let err = AmqpOutput::connect(AmqpOutputConfig {
            buffer_bytes: 0,
            ..AmqpOutputConfig::default()
        })
        .unwrap_err();
        assert!(err.to_string().contains("buffer_bytes"), "{err}");
    }
}
