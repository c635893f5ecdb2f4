//! Pushing to servers: one sender thread per server, each with its own bounded
//! [`Buffer`], so a server that is down delays nothing else and gets every document
//! in order when it returns.
//!
//! A document is removed from a buffer only when the server took it (UDP: sent; TCP:
//! `--OK`; HTTP: 2xx) or refused it for its content (`--ERR`, 4xx: counted as
//! rejected, never resent). Connection failures keep it and retry with backoff.
//!
//! `amqp://` servers are the exception: each is an [`treestat_amqp::AmqpOutput`] with
//! its own buffer and publisher thread ([`amqp`]); its counters are reported the same
//! way.

pub mod amqp;
mod buffer;
mod split;
mod stats;
mod wire;

use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use parking_lot::{Condvar, Mutex};
use serde_json::Value as Json;

pub use buffer::Buffer;
pub use split::split;
pub use stats::ServerStats;
pub use wire::{Outcome, Wire};

use crate::config::{AgentConfig, ServerUrl};
use crate::error::{Error, Result};
use crate::http::Tls;

struct State {
    buffer: Buffer,
    stats: ServerStats,
    closing: bool,
}

struct Shared {
    state: Mutex<State>,
    wake: Condvar,
}

/// Settings of an [`Outbox`].
#[derive(Debug, Clone)]
pub struct OutboxConfig {
    /// Where to push.
    pub servers: Vec<ServerUrl>,
    /// Connect, send and answer timeout.
    pub timeout: Duration,
    /// The largest UDP datagram.
    pub udp_max_datagram: usize,
    /// The largest TCP line or HTTP body.
    pub max_document: usize,
    /// Documents in memory per server.
    pub buffer_count: usize,
    /// Spool file (the server's index is appended) and its size bound.
    pub spool: Option<(std::path::PathBuf, u64)>,
    /// The longest wait between two retries.
    pub max_backoff: Duration,
    /// What `https://` servers may be signed by beside Mozilla's roots (`tls_ca`).
    pub tls: Option<Tls>,
    /// The bearer token HTTP(S) pushes carry (`token`).
    pub token: Option<String>,
}

impl OutboxConfig {
    /// The outbox settings of an agent config, for `servers`.
    ///
    /// # Errors
    /// A server URL is invalid.
    pub fn from_agent(config: &AgentConfig, servers: &[String]) -> Result<OutboxConfig> {
        Ok(OutboxConfig {
            servers: servers
                .iter()
                .map(|s| ServerUrl::parse(s))
                .collect::<Result<_>>()?,
            timeout: config.timeout,
            udp_max_datagram: config.udp_max_datagram,
            max_document: config.max_document,
            buffer_count: config.buffer.count,
            spool: config
                .buffer
                .spool
                .clone()
                .map(|p| (p, config.buffer.spool_max_bytes)),
            max_backoff: Duration::from_secs(5),
            tls: config
                .tls_ca
                .as_deref()
                .map(|ca| Tls::new(Some(ca)))
                .transpose()?,
            token: config.token.clone(),
        })
    }
}

struct Server {
    url: ServerUrl,
    shared: Arc<Shared>,
    thread: Option<JoinHandle<()>>,
}

/// Sends documents to every configured server through per-server buffers.
pub struct Outbox {
    servers: Vec<Server>,
    amqp: Vec<amqp::AmqpServer>,
    udp_max: usize,
    doc_max: usize,
}

impl std::fmt::Debug for Outbox {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list()
            .entries(self.servers.iter().map(|s| s.url.to_string()))
            .finish()
    }
}

impl Outbox {
    /// Starts one sender thread per server.
    ///
    /// # Errors
    /// A spool file cannot be opened, or a thread cannot be started.
    pub fn start(config: &OutboxConfig) -> Result<Outbox> {
        let mut servers = Vec::new();
        let mut amqp_servers = Vec::new();
        for (i, url) in config.servers.iter().enumerate() {
            if let ServerUrl::Amqp(u) = url {
                amqp_servers.push(amqp::AmqpServer::start(u)?);
                continue;
            }
            let spool = config.spool.as_ref().map(|(p, max)| {
                let mut name = p.as_os_str().to_owned();
                name.push(format!(".{i}"));
                (std::path::PathBuf::from(name), *max)
            });
            let buffer = Buffer::new(
                config.buffer_count,
                spool.as_ref().map(|(p, m)| (p.as_path(), *m)),
            )?;
            let shared = Arc::new(Shared {
                state: Mutex::new(State {
                    stats: ServerStats {
                        url: url.to_string(),
                        pending: buffer.len(),
                        ..ServerStats::default()
                    },
                    buffer,
                    closing: false,
                }),
                wake: Condvar::new(),
            });
            let wire = Wire::new(
                url.clone(),
                config.timeout,
                config.tls.clone(),
                config.token.clone(),
            );
            let s2 = Arc::clone(&shared);
            let backoff = config.max_backoff;
            let thread = std::thread::Builder::new()
                .name(format!("treestat-push-{i}"))
                .spawn(move || sender(&s2, wire, backoff))
                .map_err(|e| Error::io("spawning a sender thread", &e))?;
            servers.push(Server {
                url: url.clone(),
                shared,
                thread: Some(thread),
            });
        }
        Ok(Outbox {
            servers,
            amqp: amqp_servers,
            udp_max: config.udp_max_datagram,
            doc_max: config.max_document,
        })
    }

    /// Queues `doc` for every server, split into documents of at most the UDP datagram
    /// size or the TCP/HTTP document size.
    pub fn send(&self, doc: &Json) {
        let mut udp: Option<(Vec<Vec<u8>>, usize)> = None;
        let mut other: Option<(Vec<Vec<u8>>, usize)> = None;
        for s in &self.servers {
            let (docs, too_big) = match s.url {
                ServerUrl::Udp(_) => udp.get_or_insert_with(|| split(doc, self.udp_max)),
                _ => other.get_or_insert_with(|| split(doc, self.doc_max)),
            }
            .clone();
            let mut st = s.shared.state.lock();
            st.stats.dropped += u64::try_from(too_big).unwrap_or(0);
            for d in docs {
                st.buffer.push(d);
            }
            st.stats.pending = st.buffer.len();
            drop(st);
            s.shared.wake.notify_one();
        }
        for a in &self.amqp {
            a.send(doc);
        }
    }

    /// Every server's counters.
    pub fn stats(&self) -> Vec<ServerStats> {
        self.servers
            .iter()
            .map(|s| {
                let st = s.shared.state.lock();
                let mut stats = st.stats.clone();
                stats.dropped += st.buffer.dropped();
                stats.pending = st.buffer.len();
                stats
            })
            .chain(self.amqp.iter().map(amqp::AmqpServer::stats))
            .collect()
    }

    /// Documents dropped over all servers.
    pub fn dropped(&self) -> u64 {
        self.stats().iter().map(|s| s.dropped).sum()
    }

    /// Tries to deliver what is pending for up to `grace`, then saves the rest to the
    /// spool (or counts it dropped) and stops the sender threads.
    pub fn close(mut self, grace: Duration) -> Vec<ServerStats> {
        let deadline = std::time::Instant::now() + grace;
        for s in &self.servers {
            let mut st = s.shared.state.lock();
            while !st.buffer.is_empty() && !st.stats.down {
                if s.shared.wake.wait_until(&mut st, deadline).timed_out() {
                    break;
                }
            }
        }
        for s in &self.servers {
            s.shared.state.lock().closing = true;
            s.shared.wake.notify_all();
        }
        for s in &mut self.servers {
            if let Some(t) = s.thread.take() {
                let _ = t.join();
            }
            s.shared.state.lock().buffer.persist();
        }
        let amqp: Vec<ServerStats> = std::mem::take(&mut self.amqp)
            .into_iter()
            .map(|a| a.close(grace))
            .collect();
        let mut stats = self.stats();
        stats.extend(amqp);
        stats
    }
}

fn sender(shared: &Shared, mut wire: Wire, max_backoff: Duration) {
    let mut backoff = Duration::from_millis(200);
    loop {
        let (id, doc) = {
            let mut st = shared.state.lock();
            loop {
                if st.closing {
                    return;
                }
                if let Some(next) = st.buffer.peek() {
                    break next;
                }
                shared.wake.wait(&mut st);
            }
        };
        let result = wire.send(&doc);
        let mut st = shared.state.lock();
        match result {
            Ok(outcome) => {
                st.buffer.pop(id);
                match outcome {
                    Outcome::Accepted => st.stats.sent += 1,
                    Outcome::Rejected(why) => {
                        st.stats.rejected += 1;
                        tracing::warn!(server = %st.stats.url, "push refused: {why}");
                    }
                }
                if st.stats.down {
                    tracing::info!(server = %st.stats.url, "server is back");
                }
                st.stats.down = false;
                st.stats.pending = st.buffer.len();
                backoff = Duration::from_millis(200);
                shared.wake.notify_all();
            }
            Err(e) => {
                if !st.stats.down {
                    tracing::warn!(server = %st.stats.url, "push failed, buffering: {e}");
                }
                st.stats.down = true;
                shared.wake.notify_all();
                if st.closing {
                    return;
                }
                let _ = shared.wake.wait_for(&mut st, backoff);
                backoff = (backoff * 2).min(max_backoff);
            }
        }
    }
}
