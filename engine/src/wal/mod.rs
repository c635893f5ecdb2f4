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
//! - The writer thread appends frames ([`codec`]) to one segment file per interval
//!   (`<data>/wal/<first seq>.wal`), writing each group of records it finds queued with
//!   one `write`, and fsyncs: in `sync` mode after every group (group commit: every
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

pub use replay::{ReplayReport, replay};

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc::{self, Sender};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use parking_lot::{Condvar, Mutex};
use tokio::sync::watch;

use crate::config::{EngineConfig, WalFull, WalMode};
use crate::error::{Error, ErrorKind};
use crate::telemetry::{Counter, Gauge, HealthFlag, Telemetry};

/// Reads the trend store's WAL mark: the highest sequence number it holds durably.
pub type MarkProbe = Arc<dyn Fn() -> u64 + Send + Sync>;

/// The log's counters and gauges (`treestat_wal_*` at `/metrics`, `_treestat,wal,...`).
#[derive(Debug, Clone, Default)]
pub struct WalMetrics {
    /// Records written (`treestat_wal_records_total`).
    pub records: Counter,
    /// Bytes written (`treestat_wal_bytes_total`).
    pub bytes: Counter,
    /// fsyncs of segment files (`treestat_wal_fsyncs_total`).
    pub fsyncs: Counter,
    /// Microseconds spent in fsync in all (`treestat_wal_fsync_seconds_total`).
    pub fsync_micros: Counter,
    /// Microseconds of the last fsync (`treestat_wal_fsync_last_seconds`).
    pub fsync_last_micros: Gauge,
    /// Records merged again on start (`treestat_wal_replayed_total`).
    pub replayed: Counter,
    /// Records on start that were already in the trend store (`treestat_wal_skipped_total`).
    pub skipped: Counter,
    /// Torn or corrupt records dropped on start (`treestat_wal_torn_total`).
    pub torn: Counter,
    /// Times the log became full (`treestat_wal_full_episodes_total`).
    pub full_episodes: Counter,
    /// Pushes merged without being logged because the log was full
    /// (`treestat_wal_unlogged_total`).
    pub unlogged: Counter,
    /// Pushes refused because the log was full, `wal_full = "refuse"`
    /// (`treestat_wal_refused_total`).
    pub refused: Counter,
    /// Failed writes, fsyncs, file creations or deletions (`treestat_wal_errors_total`).
    pub errors: Counter,
}

impl WalMetrics {
    fn counters(&self) -> [(&'static str, &'static str, &Counter); 11] {
        [
            (
                "treestat_wal_records_total",
                "Records written to the write-ahead log.",
                &self.records,
            ),
            (
                "treestat_wal_bytes_total",
                "Bytes written to the write-ahead log.",
                &self.bytes,
            ),
            (
                "treestat_wal_fsyncs_total",
                "fsyncs of write-ahead log segments.",
                &self.fsyncs,
            ),
            (
                "treestat_wal_replayed_total",
                "Log records merged again on start.",
                &self.replayed,
            ),
            (
                "treestat_wal_skipped_total",
                "Log records on start that the trend store already held.",
                &self.skipped,
            ),
            (
                "treestat_wal_torn_total",
                "Torn or corrupt log records dropped on start.",
                &self.torn,
            ),
            (
                "treestat_wal_full_episodes_total",
                "Times the write-ahead log reached engine.wal_max_bytes.",
                &self.full_episodes,
            ),
            (
                "treestat_wal_unlogged_total",
                "Pushes merged without being logged because the log was full.",
                &self.unlogged,
            ),
            (
                "treestat_wal_refused_total",
                "Pushes refused because the log was full (engine.wal_full = \"refuse\").",
                &self.refused,
            ),
            (
                "treestat_wal_errors_total",
                "Failed writes, fsyncs, creations or deletions of log segments.",
                &self.errors,
            ),
            (
                "treestat_wal_fsync_micros_total",
                "Microseconds spent in fsync of log segments, in all.",
                &self.fsync_micros,
            ),
        ]
    }

    /// Registers the counters in `telemetry` (replay counts before the writer starts,
    /// so the server registers once it knows both).
    pub fn register(&self, telemetry: &Telemetry) {
        for (name, help, c) in self.counters() {
            telemetry.describe(name, help);
            telemetry.register_counter(name, &[], c);
        }
        let last = self.fsync_last_micros.clone();
        telemetry.describe(
            "treestat_wal_fsync_last_seconds",
            "How long the last fsync of a log segment took.",
        );
        #[allow(clippy::cast_precision_loss)] // microseconds stay far below 2^53
        telemetry.gauge_fn("treestat_wal_fsync_last_seconds", &[], move || {
            last.get() as f64 / 1e6
        });
    }
}

/// A record handed to the writer; its body is `Queue::data[start..end]`.
struct Pending {
    seq: u64,
    interval: i64,
    len: i64,
    now: i64,
    start: usize,
    end: usize,
}

thread_local! {
    /// Where a sender encodes a push before the engine's lock, reused: no allocation
    /// per push, and nothing allocated on one thread is freed on the writer's.
    static ENCODED: std::cell::RefCell<Vec<u8>> = const { std::cell::RefCell::new(Vec::new()) };
}

/// A sender's buffer larger than this is given back after use (one huge push must not
/// pin its memory on every worker thread).
const KEEP_ENCODED: usize = 1 << 20;

/// What senders hand the writer: a plain vector under a mutex rather than a channel,
/// so that a push in `batch` mode never wakes the writer (a futex call per push cost
/// half the HTTP throughput); `sync` wakes it, which costs nothing while it is busy.
#[derive(Default)]
struct Queue {
    recs: Vec<Pending>,
    /// The bodies of `recs`, back to back.
    data: Vec<u8>,
    bytes: usize,
    /// Write and fsync what is queued, delete what is persisted, stop; then ack.
    stop: Option<Sender<()>>,
    closed: bool,
}

/// One segment file.
#[derive(Debug, Clone)]
pub struct Segment {
    /// Where it is.
    pub path: PathBuf,
    /// Start of the interval its records were merged into (the last one, for a
    /// segment of an earlier run).
    pub interval: i64,
    /// Highest sequence number in it.
    pub max_seq: u64,
    /// Bytes on disk.
    pub bytes: u64,
}

struct Inner {
    mode: WalMode,
    when_full: WalFull,
    max_bytes: u64,
    queue: Mutex<Queue>,
    wake: Condvar,
    /// Bytes on disk plus bytes handed to the writer and not yet written.
    bytes: Arc<AtomicU64>,
    full: AtomicBool,
    /// Highest sequence number handed to the writer.
    sent: AtomicU64,
    /// Highest sequence number on disk and fsynced (`u64::MAX` once stopped).
    durable: watch::Sender<u64>,
    durable_blocking: Arc<(Mutex<u64>, Condvar)>,
    metrics: WalMetrics,
    thread: Mutex<Option<JoinHandle<()>>>,
}

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

/// The segment being appended to: always the last of `Writer::segments`.
struct Current {
    file: File,
}

struct Writer {
    dir: PathBuf,
    sync_each: bool,
    flush: Duration,
    mark: MarkProbe,
    segments: Vec<Segment>,
    cur: Option<Current>,
    bytes: Arc<AtomicU64>,
    metrics: WalMetrics,
    health: Option<HealthFlag>,
    /// In an error episode (logged once).
    failing: bool,
    /// After a failure, no new segment is tried before this (a full disk must not get
    /// a new empty file per group of records); records meanwhile are not logged.
    pause_until: Option<Instant>,
    owner: std::sync::Weak<Inner>,
    /// The queue's side of the handle (the writer ends when told to stop).
    inner: Arc<Inner>,
}

/// Records gathered into one write at most (a burst is written in pieces this large).
const GROUP_BYTES: usize = 4 << 20;
/// How long after a failed write the writer tries a new segment.
const RETRY_AFTER: Duration = Duration::from_secs(1);
/// How often the writer in `batch` mode writes what is queued (without fsync): what a
/// killed process can lose at most; a power cut loses at most `wal_flush`.
const WRITE_EVERY: Duration = Duration::from_millis(50);
/// How often an idle writer looks for segments to delete.
const IDLE_CHECK: Duration = Duration::from_millis(500);

impl Writer {
    /// Takes what is queued: in `sync` as soon as there is anything; in `batch` every
    /// [`WRITE_EVERY`] (or once a group's worth is queued).
    fn take(
        &self,
        unsynced: bool,
        last_sync: Instant,
        data: &mut Vec<u8>,
    ) -> (Vec<Pending>, Option<Sender<()>>) {
        let i = &*self.inner;
        let mut q = i.queue.lock();
        if self.sync_each {
            while q.recs.is_empty() && q.stop.is_none() {
                if i.wake.wait_for(&mut q, IDLE_CHECK).timed_out() {
                    break;
                }
            }
        } else if q.bytes < GROUP_BYTES && q.stop.is_none() {
            let wait = if unsynced {
                self.flush
                    .saturating_sub(last_sync.elapsed())
                    .min(WRITE_EVERY)
            } else {
                WRITE_EVERY
            };
            let _ = i.wake.wait_for(&mut q, wait);
        }
        q.bytes = 0;
        // The emptied buffer of the last round goes back: no allocation per round.
        data.clear();
        std::mem::swap(&mut q.data, data);
        (std::mem::take(&mut q.recs), q.stop.take())
    }

    fn run(mut self) {
        let mut buf: Vec<u8> = Vec::with_capacity(1 << 20);
        let mut last_sync = Instant::now();
        let mut unsynced = false;
        // Highest sequence number written.
        let mut written = 0u64;
        let mut data = Vec::new();
        loop {
            let (recs, stop) = self.take(unsynced, last_sync, &mut data);
            for Pending {
                seq,
                interval,
                len,
                now,
                start,
                end,
            } in recs
            {
                let switch = self.cur.is_none()
                    || self.segments.last().is_none_or(|s| s.interval != interval);
                let paused = self.pause_until.is_some_and(|t| Instant::now() < t);
                if switch && !paused {
                    self.write_out(&mut buf);
                    if unsynced {
                        self.fsync();
                    }
                    self.cur = None;
                    self.create(seq, interval);
                }
                codec::frame(&mut buf, seq, interval, len, now, &data[start..end]);
                if let (Some(_), Some(s)) = (&self.cur, self.segments.last_mut()) {
                    s.max_seq = seq;
                }
                self.metrics.records.inc();
                written = seq;
                unsynced = true;
                if buf.len() >= GROUP_BYTES {
                    self.write_out(&mut buf);
                }
            }
            self.write_out(&mut buf);
            if unsynced && (self.sync_each || stop.is_some() || last_sync.elapsed() >= self.flush) {
                self.fsync();
                last_sync = Instant::now();
                unsynced = false;
                self.publish(written);
            }
            self.truncate();
            if let Some(ack) = stop {
                self.publish(u64::MAX);
                let _ = ack.send(());
                return;
            }
        }
    }

    /// Tells waiting senders how far the log is durable.
    fn publish(&self, seq: u64) {
        let Some(inner) = self.owner.upgrade() else {
            return;
        };
        inner.durable.send_replace(seq);
        let (m, cv) = &*inner.durable_blocking;
        *m.lock() = seq;
        cv.notify_all();
    }

    fn create(&mut self, seq: u64, interval: i64) {
        let path = self.dir.join(format!("{seq:020}.wal"));
        let made = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&path)
            .and_then(|f| {
                // The new name must survive a crash too.
                File::open(&self.dir)?.sync_all()?;
                Ok(f)
            });
        match made {
            Ok(file) => {
                self.segments.push(Segment {
                    path,
                    interval,
                    max_seq: seq,
                    bytes: 0,
                });
                self.cur = Some(Current { file });
            }
            Err(e) => self.failed("creating a segment", &path, &e),
        }
    }

    fn write_out(&mut self, buf: &mut Vec<u8>) {
        if buf.is_empty() {
            return;
        }
        let n = buf.len() as u64;
        let Some(c) = &mut self.cur else {
            // No segment (creating it failed): these records are not logged.
            self.bytes.fetch_sub(n, Ordering::Relaxed);
            buf.clear();
            return;
        };
        let seg = self.segments.len() - 1;
        match c.file.write_all(buf) {
            Ok(()) => {
                self.segments[seg].bytes += n;
                self.metrics.bytes.add(n);
                self.ok();
            }
            Err(e) => {
                self.bytes.fetch_sub(n, Ordering::Relaxed);
                let path = self.segments[seg].path.clone();
                self.failed("writing", &path, &e);
                // Start a fresh file for what comes next rather than append after a
                // partial write.
                self.cur = None;
            }
        }
        buf.clear();
    }

    fn fsync(&mut self) {
        let Some(c) = &self.cur else {
            return;
        };
        let started = Instant::now();
        let done = c.file.sync_data();
        let micros = u64::try_from(started.elapsed().as_micros()).unwrap_or(u64::MAX);
        self.metrics.fsyncs.inc();
        self.metrics.fsync_micros.add(micros);
        self.metrics
            .fsync_last_micros
            .set(i64::try_from(micros).unwrap_or(i64::MAX));
        if let Err(e) = done {
            let path = self.segments[self.segments.len() - 1].path.clone();
            self.failed("fsyncing", &path, &e);
            self.cur = None;
        }
    }

    /// Deletes the segments whose every record the trend store holds.
    fn truncate(&mut self) {
        let mark = (self.mark)();
        if !self.segments.iter().any(|s| s.max_seq <= mark) {
            return;
        }
        let last = self.segments.len() - 1;
        let mut keep = Vec::with_capacity(self.segments.len());
        for (i, s) in std::mem::take(&mut self.segments).into_iter().enumerate() {
            if s.max_seq > mark {
                keep.push(s);
                continue;
            }
            if i == last {
                // Later records of the same interval go to a new file.
                self.cur = None;
            }
            match std::fs::remove_file(&s.path) {
                Ok(()) => {
                    self.bytes.fetch_sub(s.bytes, Ordering::Relaxed);
                }
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                    self.bytes.fetch_sub(s.bytes, Ordering::Relaxed);
                }
                Err(e) => {
                    self.failed("deleting", &s.path, &e);
                    keep.push(s);
                }
            }
        }
        self.segments = keep;
    }

    fn failed(&mut self, what: &str, path: &Path, e: &std::io::Error) {
        self.metrics.errors.inc();
        self.pause_until = Some(Instant::now() + RETRY_AFTER);
        if !std::mem::replace(&mut self.failing, true) {
            tracing::error!(
                "write-ahead log: {what} {} failed: {e}; pushes meanwhile may not survive a \
                 crash (treestat_wal_errors_total counts each failure)",
                path.display()
            );
        }
        if let Some(h) = &self.health {
            h.degraded(format!(
                "write-ahead log: {what} {} failed: {e}",
                path.display()
            ));
        }
    }

    fn ok(&mut self) {
        self.pause_until = None;
        if std::mem::replace(&mut self.failing, false) {
            tracing::info!("write-ahead log: writing again");
            if let Some(h) = &self.health {
                h.ok();
            }
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
