//! The write-ahead log (issue 13): every accepted push is appended to a log in the data
//! folder, so a crash (`kill -9`, a power cut) does not lose what the open interval
//! held.
//!
//! - Where: [`Engine`](crate::Engine)'s one merge path hands each accepted push's
//!   encoded body to [`Wal::send`] under the engine's write lock, with a sequence number
//!   from the same lock; so every source (HTTP, the line listeners, pipes, the relay,
//!   AMQP, the server's own counters) is logged, in merge order, and each closed
//!   interval knows the last sequence number merged before it closed
//!   (`ClosedInterval::wal_seq`). The trend store keeps the highest such number it has
//!   made durable (its *WAL mark*); everything at or below the mark is in the store.
//! - The writer thread (`writer.rs`) appends frames ([`codec`]) to segment files
//!   (`<data>/wal/<first seq>.wal`, a new one with each interval and whenever one holds
//!   `wal_segment_bytes`; in `sync` mode each written with zeros and fsynced
//!   beforehand by a helper thread, so appends overwrite written blocks), writing each group of records it
//!   finds queued with one `write`, and fsyncs: in `sync` mode after every group (group commit: every
//!   sender queued meanwhile shares the fsync), in `batch` mode it writes every 50 ms
//!   and fsyncs every `wal_flush`. Senders in `sync` mode wait for [`Engine::wal_synced`]
//!   before they answer.
//! - A segment is deleted once the trend store's mark covers its last record.
//! - On start ([`replay`]), records above the mark are merged again, into the interval
//!   they were merged into the first time (closing each earlier interval on the way so
//!   the trend store persists it); replay logs nothing, so a crash during replay and
//!   another start give the same tree.
//! - The log is bounded by `wal_max_bytes`; when full, pushes are merged unlogged (or
//!   refused, `wal_full = "refuse"`), counted, and an ERROR says so once per episode.
//!
//! [`Engine::wal_synced`]: crate::Engine::wal_synced

pub mod codec;
mod replay;
mod state;
mod writer;

pub use replay::{ReplayReport, replay};

pub use state::{MarkProbe, Segment, WalMetrics};

use state::{Inner, Pending, Queue};
use writer::{GROUP_BYTES, Spare, Writer};

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc;

use parking_lot::{Condvar, Mutex};
use tokio::sync::watch;

use crate::config::{EngineConfig, WalFull, WalMode};
use crate::error::{Error, ErrorKind};
use crate::telemetry::{HealthFlag, Telemetry};

thread_local! {
    /// Where a sender encodes a push before the engine's lock, reused: no allocation
    /// per push, and nothing allocated on one thread is freed on the writer's.
    static ENCODED: std::cell::RefCell<Vec<u8>> = const { std::cell::RefCell::new(Vec::new()) };
}

/// A sender's buffer larger than this is given back after use (one huge push must not
/// pin its memory on every worker thread).
const KEEP_ENCODED: usize = 1 << 20;

/// The running log: a cheap-clone handle.
#[derive(Clone)]
pub struct Wal {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for Wal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Wal")
            .field("mode", &self.inner.mode)
            .field("bytes", &self.inner.bytes.load(Ordering::Relaxed))
            .finish_non_exhaustive()
    }
}

impl Wal {
    /// Starts the writer on `dir` (created if missing). `leftovers` are the segments
    /// replay left (deleted once `mark` covers them).
    ///
    /// # Errors
    /// The folder cannot be created, or the thread cannot start.
    pub fn open(
        dir: &Path,
        cfg: &EngineConfig,
        mark: MarkProbe,
        leftovers: Vec<Segment>,
        metrics: WalMetrics,
        health: Option<HealthFlag>,
    ) -> std::io::Result<Wal> {
        std::fs::create_dir_all(dir)?;
        let bytes = Arc::new(AtomicU64::new(leftovers.iter().map(|s| s.bytes).sum()));
        let (durable, _) = watch::channel(0u64);
        let durable_blocking = Arc::new((Mutex::new(0u64), Condvar::new()));
        let inner = Arc::new(Inner {
            mode: cfg.wal,
            when_full: cfg.wal_full,
            max_bytes: cfg.wal_max_bytes,
            queue: Mutex::new(Queue::default()),
            wake: Condvar::new(),
            bytes: bytes.clone(),
            full: AtomicBool::new(false),
            sent: AtomicU64::new(0),
            durable,
            durable_blocking,
            metrics: metrics.clone(),
            thread: Mutex::new(None),
        });
        let writer = Writer {
            dir: dir.to_path_buf(),
            sync_each: cfg.wal == WalMode::Sync,
            flush: cfg.wal_flush,
            mark,
            segments: leftovers,
            cur: None,
            bytes,
            metrics,
            health,
            segment_bytes: cfg.wal_segment_bytes,
            // Only `sync` waits for fsyncs: `batch` fsyncs five times a second and
            // would only write every segment twice.
            spare: if cfg.wal == WalMode::Sync {
                Spare::start(dir, cfg.wal_segment_bytes)
            } else {
                None
            },
            failing: false,
            pause_until: None,
            owner: Arc::downgrade(&inner),
            inner: inner.clone(),
        };
        let h = std::thread::Builder::new()
            .name("wal-writer".into())
            .spawn(move || writer.run())?;
        *inner.thread.lock() = Some(h);
        Ok(Wal { inner })
    }

    /// The log's mode.
    pub fn mode(&self) -> WalMode {
        self.inner.mode
    }

    /// The log's counters.
    pub fn metrics(&self) -> &WalMetrics {
        &self.inner.metrics
    }

    /// Bytes of log on disk (and queued for it).
    pub fn bytes(&self) -> u64 {
        self.inner.bytes.load(Ordering::Relaxed)
    }

    /// Whether the log is full now (`treestat_wal_full`).
    pub fn is_full(&self) -> bool {
        self.inner.full.load(Ordering::Relaxed)
    }

    /// Registers the gauges read from the running log (disk bytes, full).
    pub fn register(&self, telemetry: &Telemetry) {
        let w = Arc::downgrade(&self.inner);
        telemetry.describe(
            "treestat_wal_disk_bytes",
            "Bytes of write-ahead log on disk (and queued for it).",
        );
        #[allow(clippy::cast_precision_loss)] // sizes stay far below 2^53
        telemetry.gauge_fn("treestat_wal_disk_bytes", &[], move || {
            w.upgrade()
                .map_or(0.0, |i| i.bytes.load(Ordering::Relaxed) as f64)
        });
        let w = Arc::downgrade(&self.inner);
        telemetry.describe(
            "treestat_wal_full",
            "1 while the write-ahead log is at engine.wal_max_bytes (pushes go unlogged \
             or are refused), else 0.",
        );
        telemetry.gauge_fn("treestat_wal_full", &[], move || {
            w.upgrade()
                .map_or(0.0, |i| f64::from(u8::from(i.full.load(Ordering::Relaxed))))
        });
    }

    /// Encodes a push for the log (into this thread's buffer, which [`Wal::send`] then
    /// queues) if there is room: `Ok(false)` when the log is full and falls back to
    /// not logging.
    ///
    /// # Errors
    /// `WalFull` when the log is full and `wal_full = "refuse"`.
    pub(crate) fn admit(&self, encode: impl FnOnce(&mut Vec<u8>)) -> Result<bool, Error> {
        let i = &*self.inner;
        let body_len = ENCODED.with_borrow_mut(|b| {
            b.clear();
            encode(b);
            b.len()
        });
        let need = codec::frame_len(body_len) as u64;
        let held = i.bytes.load(Ordering::Relaxed);
        if held.saturating_add(need) <= i.max_bytes {
            if i.full.swap(false, Ordering::Relaxed) {
                tracing::info!(
                    bytes = held,
                    "write-ahead log has room again: pushes are logged again"
                );
            }
            return Ok(true);
        }
        if !i.full.swap(true, Ordering::Relaxed) {
            i.metrics.full_episodes.inc();
            tracing::error!(
                bytes = held,
                max = i.max_bytes,
                "write-ahead log full (engine.wal_max_bytes): {} until the trend store \
                 persists the logged intervals; a crash now loses them",
                match i.when_full {
                    WalFull::Off => "pushes are merged without being logged",
                    WalFull::Refuse => "pushes are refused",
                }
            );
        }
        match i.when_full {
            WalFull::Off => {
                i.metrics.unlogged.inc();
                Ok(false)
            }
            WalFull::Refuse => {
                i.metrics.refused.inc();
                Err(Error::new(
                    ErrorKind::WalFull,
                    format!(
                        "the write-ahead log is full ({held} bytes, engine.wal_max_bytes = {}); \
                         try again later",
                        i.max_bytes
                    ),
                ))
            }
        }
    }

    /// Hands a record to the writer; called under the engine's write lock so that
    /// sequence numbers follow merge order.
    /// Queues the body [`Wal::admit`] encoded on this thread.
    pub(crate) fn send(&self, seq: u64, interval: i64, len: i64, now: i64) {
        let i = &*self.inner;
        i.sent.store(seq, Ordering::Release);
        let mut q = i.queue.lock();
        if q.closed {
            // The writer has stopped (shutdown): nothing is logged any more.
            return;
        }
        let start = q.data.len();
        ENCODED.with_borrow_mut(|b| {
            q.data.extend_from_slice(b);
            if b.capacity() > KEEP_ENCODED {
                *b = Vec::new();
            }
        });
        let end = q.data.len();
        i.bytes
            .fetch_add(codec::frame_len(end - start) as u64, Ordering::Relaxed);
        q.bytes += end - start;
        q.recs.push(Pending {
            seq,
            interval,
            len,
            now,
            start,
            end,
        });
        let wake = i.mode == WalMode::Sync || q.bytes >= GROUP_BYTES;
        drop(q);
        if wake {
            i.wake.notify_one();
        }
    }

    /// In `sync` mode, waits until everything handed to the log so far is fsynced;
    /// otherwise returns at once.
    pub async fn synced(&self) {
        let i = &*self.inner;
        if i.mode != WalMode::Sync {
            return;
        }
        let target = i.sent.load(Ordering::Acquire);
        if *i.durable.borrow() >= target {
            return;
        }
        let mut rx = i.durable.subscribe();
        // An error means the writer is gone, and nothing more will become durable.
        let _ = rx.wait_for(|&d| d >= target).await;
    }

    /// As [`Wal::synced`], blocking the thread.
    pub fn synced_blocking(&self) {
        let i = &*self.inner;
        if i.mode != WalMode::Sync {
            return;
        }
        let target = i.sent.load(Ordering::Acquire);
        let (m, cv) = &*i.durable_blocking;
        let mut d = m.lock();
        while *d < target {
            cv.wait(&mut d);
        }
    }

    /// Writes and fsyncs what is queued, deletes what the trend store holds, and stops
    /// the writer (shutdown, after the last interval is persisted). Pushes after this
    /// are not logged.
    pub fn stop(&self) {
        let (ack, done) = mpsc::channel();
        {
            let mut q = self.inner.queue.lock();
            if q.closed {
                return;
            }
            q.closed = true;
            q.stop = Some(ack);
        }
        self.inner.wake.notify_one();
        let _ = done.recv();
        if let Some(h) = self.inner.thread.lock().take() {
            let _ = h.join();
        }
    }
}

/// The segment files in `dir`, oldest first (by name: the first sequence number).
///
/// # Errors
/// The folder cannot be read (a missing folder is no segments).
pub fn segment_files(dir: &Path) -> std::io::Result<Vec<PathBuf>> {
    let mut out = Vec::new();
    let entries = match std::fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(out),
        Err(e) => return Err(e),
    };
    for e in entries {
        let p = e?.path();
        if p.extension().is_some_and(|x| x == "wal") {
            out.push(p);
        }
    }
    out.sort();
    Ok(out)
}

#[cfg(test)]
mod tests;
