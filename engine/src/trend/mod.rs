//! The trend store (docs/ARCHITECTURE.md, "Trend store"): history of every leaf in sled,
//! with rollups, compaction, restart without loss, and small metadata (saved views, tail
//! checkpoints).
//!
//! [`TrendStore`] is a cheap-clone handle over one `sled::Db` in the data directory.
//! Data flows: the engine's interval close -> [`IntervalSink`] -> a bounded channel ->
//! the store's writer thread, which writes one blob per closed interval (all its
//! points, the touched leaves' totals, new paths, markers) in one insert and flushes.
//! A compactor thread folds blobs older than `compact_after` into Gorilla-coded
//! per-series chunks, one set per retention archive, in bounded batches that carry
//! how far the fold got, deletes the blobs last, and drops chunks that fell out of an
//! archive's span.
//!
//! "Now" for retention and compaction is the wall clock of the engine the store is
//! attached to (tests drive a [`ManualClock`](crate::ManualClock)), so an import
//! older than retention is known as such at once; a store used without an engine (a
//! tool's, a test's) goes by data time, the end of the newest interval it has seen.
//! The newest mark itself never passes the clock plus `engine.max_future`: before,
//! one imported sample dated in the year 33658 moved "now" there and every real point
//! fell out of retention, even after a restart; a store that already holds such a
//! mark reads again, and the healed mark is written back at the next write.
//!
//! The storage sits behind the [`Storage`] trait; sled is one implementation, a
//! `BTreeMap` the other.

mod bits;
mod blob;
mod codec;
mod compact;
mod config;
mod delete;
mod error;
mod health;
mod index;
mod io;
mod meta;
mod partial;
mod prefix;
mod read;
mod read_stat;
mod read_values;
mod rollup;
mod shared;
mod storage;
mod writer;

use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, Ordering};
use std::sync::mpsc::{self, SyncSender, TrySendError};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use parking_lot::{Condvar, Mutex, RwLock};

/// The chunk codec's entry points, public for the fuzz targets (`fuzz/`) only: the
/// store itself is the one user, and chunks are read back from its own files.
#[doc(hidden)]
pub use codec::{Point as ChunkPoint, decode as decode_chunk, encode as encode_chunk};
pub use compact::{CHUNK_POINTS, CompactStats, chunk_start};
pub use config::{Archive, MAX_ARCHIVES, Retention, TrendConfig};
pub use error::{Result, TrendError, TrendErrorKind};
pub use io::{Format, ImportReport, LineError};
pub use read::{Folded, Series};
pub use read_stat::{StatSeries, quantile_fold_of, stat_series_of};
pub use storage::{Bytes, MemStorage, Op, SledStorage, Space, Storage, scan_prefix};
/// The `from=` / `until=` time grammar, the vocabulary's one definition (treestat-model).
pub use treestat_model::parse_time;

use blob::{IntervalBlob, Rec};
use health::StoreHealth;
use index::Index;
use writer::Msg;

use shared::{Core, NEWEST_KEY, WAL_KEY};

use crate::{Clock, ClosedInterval, Engine, IntervalSink, SystemClock};

/// Longest metadata key in bytes.
pub const MAX_META_KEY: usize = 1024;

/// `engine.max_future`'s default, for a store not attached to an engine.
const DEFAULT_MAX_FUTURE: i64 = 300;

struct Inner {
    core: Arc<Core>,
    tx: SyncSender<Msg>,
    writer: Option<JoinHandle<()>>,
    stop_compactor: Option<mpsc::Sender<()>>,
    compactor: Option<JoinHandle<()>>,
}

/// How long dropping the last handle waits for the writer and the compactor before it
/// leaves them behind (a storage call that never returns must not hang the process).
const STOP_WAIT: Duration = Duration::from_secs(10);

impl Drop for Inner {
    fn drop(&mut self) {
        let deadline = Instant::now() + STOP_WAIT;
        // The writer drains what is queued before it sees Stop; a writer that keeps
        // failing gives up once `closing` is set.
        self.core.closing.store(true, Ordering::SeqCst);
        send_until(&self.tx, Msg::Stop, deadline);
        drop(self.stop_compactor.take());
        let mut stuck = Vec::new();
        for h in [self.writer.take(), self.compactor.take()]
            .into_iter()
            .flatten()
        {
            while !h.is_finished() && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(5));
            }
            if h.is_finished() {
                let _ = h.join();
            } else {
                stuck.push(h.thread().name().unwrap_or("trend thread").to_string());
            }
        }
        if !stuck.is_empty() {
            tracing::error!(
                "trend store: {} still inside the storage after {} s; not waiting for it",
                stuck.join(" and "),
                STOP_WAIT.as_secs()
            );
            return;
        }
        if let Err(e) = self.core.storage.flush() {
            tracing::error!("trend store: final flush failed: {e}");
        }
    }
}

/// Sends `msg`, waiting while the queue is full until `deadline`; whether it went.
fn send_until(tx: &SyncSender<Msg>, mut msg: Msg, deadline: Instant) -> bool {
    loop {
        match tx.try_send(msg) {
            Ok(()) => return true,
            Err(TrySendError::Disconnected(_)) => return false,
            Err(TrySendError::Full(m)) => {
                if Instant::now() >= deadline {
                    return false;
                }
                msg = m;
                std::thread::sleep(Duration::from_millis(5));
            }
        }
    }
}

/// What the store holds (see [`TrendStore::usage`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize)]
pub struct Usage {
    /// Interned series.
    pub series: u64,
    /// Compressed chunks, all archives.
    pub chunks: u64,
    /// Bytes of chunk values.
    pub chunk_bytes: u64,
    /// Interval blobs not yet compacted.
    pub intervals: u64,
    /// Bytes of interval blobs.
    pub interval_bytes: u64,
    /// Bytes sled reports on disk.
    pub disk_bytes: u64,
}

/// The trend store: a cheap-clone handle (`Arc` inside), `Send + Sync`. Dropping the
/// last handle writes what is queued, stops the threads and flushes.
#[derive(Clone)]
pub struct TrendStore {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for TrendStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TrendStore")
            .field("retention", &self.inner.core.cfg.retention.to_string())
            .field("series", &self.inner.core.index.read().len())
            .finish_non_exhaustive()
    }
}

impl TrendStore {
    /// Opens (or creates) the store in the data directory `dir` (one per process:
    /// sled locks the directory) and starts its writer and compactor threads.
    ///
    /// # Errors
    /// `Config` for invalid settings; `Storage` when sled cannot open the directory;
    /// `Corrupt` when stored data does not decode.
    pub fn open(dir: &Path, cfg: &TrendConfig) -> Result<TrendStore> {
        cfg.validate()?;
        std::fs::create_dir_all(dir)?;
        let storage = SledStorage::open(dir, cfg.cache_bytes)?;
        TrendStore::with_storage(Arc::new(storage), cfg)
    }

    /// A store over any [`Storage`] (tests use [`MemStorage`]).
    ///
    /// # Errors
    /// `Config` for invalid settings; `Corrupt` when stored data does not decode.
    pub fn with_storage(storage: Arc<dyn Storage>, cfg: &TrendConfig) -> Result<TrendStore> {
        cfg.validate()?;
        let mut index = Index::new();
        for (k, v) in storage.scan(Space::Paths, &[], None)? {
            let id = u32::from_be_bytes(
                k.as_ref()
                    .try_into()
                    .map_err(|_| TrendError::corrupt("path key"))?,
            );
            let path = std::str::from_utf8(&v).map_err(|_| TrendError::corrupt("path text"))?;
            index.insert(id, path);
        }
        let mut newest = match storage.get(Space::State, NEWEST_KEY)? {
            Some(b) => i64::from_le_bytes(
                b.as_ref()
                    .try_into()
                    .map_err(|_| TrendError::corrupt("newest mark"))?,
            ),
            None => i64::MIN,
        };
        let wal_mark = match storage.get(Space::State, WAL_KEY)? {
            Some(b) => u64::from_le_bytes(
                b.as_ref()
                    .try_into()
                    .map_err(|_| TrendError::corrupt("write-ahead log mark"))?,
            ),
            None => 0,
        };
        let mut totals = load_stored_totals(&*storage)?;
        for (_, v) in storage.scan(Space::Intervals, &[], None)? {
            let b = IntervalBlob::decode_without_points(&v)?;
            newest = newest.max(b.start.saturating_add(b.len));
            for (id, path) in &b.paths {
                index.insert(*id, path);
            }
            for r in b.totals {
                totals.insert(r.id, r);
            }
        }
        // Deleted series stay out, though older blobs still name them.
        let dead = delete::dead_ids(&*storage)?;
        for &id in &dead {
            index.retire(id);
            totals.remove(&id);
        }
        let core = Arc::new(Core {
            storage,
            cfg: cfg.clone(),
            index: RwLock::new(index),
            newest: AtomicI64::new(newest),
            write_lock: Mutex::new(()),
            view: RwLock::new(()),
            persisted: Mutex::new(newest),
            persisted_cv: Condvar::new(),
            wal_mark: AtomicU64::new(wal_mark),
            dropped: AtomicU64::new(0),
            clock: RwLock::new(Arc::new(SystemClock)),
            max_future: AtomicI64::new(DEFAULT_MAX_FUTURE),
            clocked: AtomicBool::new(false),
            health: Arc::new(StoreHealth::new(cfg.queue, cfg.stall_after)),
            closing: AtomicBool::new(false),
        });
        compact::resume(&core)?;
        let (tx, rx) = mpsc::sync_channel(cfg.queue);
        let writer = writer::spawn(core.clone(), rx, totals)?;
        let (stop_tx, stop_rx) = mpsc::channel();
        let compactor = compact::spawn(core.clone(), stop_rx)?;
        Ok(TrendStore {
            inner: Arc::new(Inner {
                core,
                tx,
                writer: Some(writer),
                stop_compactor: Some(stop_tx),
                compactor: Some(compactor),
            }),
        })
    }

    fn core(&self) -> &Core {
        &self.inner.core
    }

    /// The configuration the store was opened with.
    pub fn config(&self) -> &TrendConfig {
        &self.core().cfg
    }

    /// Registers the store as a sink of the engine's closed intervals. The sink holds
    /// only the channel, so dropping every `TrendStore` handle still shuts the store
    /// down (later intervals are then logged as lost).
    pub fn attach(&self, engine: &Engine) {
        self.set_clock(engine.clock(), engine.config().max_future_secs());
        engine.add_sink(Arc::new(StoreSink {
            tx: self.inner.tx.clone(),
            health: self.core().health.clone(),
            core: Arc::downgrade(&self.inner.core),
        }));
    }

    /// Sets where the store reads the time and how far ahead of it data may be
    /// (seconds): the cap on "now" for retention and the import's refusal of future
    /// samples. [`TrendStore::attach`] sets the engine's; tests drive a
    /// [`ManualClock`](crate::ManualClock).
    pub fn set_clock(&self, clock: Arc<dyn Clock>, max_future: i64) {
        *self.core().clock.write() = clock;
        self.core().max_future.store(max_future, Ordering::Relaxed);
        self.core().clocked.store(true, Ordering::Relaxed);
    }

    /// Puts the store's figures in the server's telemetry (`/metrics`, the tree under
    /// `_treestat,trend,...`) and its reasons in the health registry as
    /// `trend_store`: storage errors, a writer stuck in one storage call longer than
    /// `stall_after`, a full queue.
    pub fn register_telemetry(&self, telemetry: &crate::telemetry::Telemetry) {
        self.core().health.register(telemetry);
    }

    /// Waits until every interval handed over so far is written and flushed.
    ///
    /// # Errors
    /// `Closed` when the writer thread is gone.
    pub fn sync(&self) -> Result<()> {
        let (tx, rx) = mpsc::channel();
        self.inner.tx.send(Msg::Sync(tx)).map_err(|_| closed())?;
        rx.recv().map_err(|_| closed())?
    }

    /// As [`TrendStore::sync`], giving up after `timeout` (shutdown: a store stuck
    /// in the storage must not hold the process).
    ///
    /// # Errors
    /// `Closed` when the writer thread is gone; `Storage` when the flush failed or
    /// `timeout` passed first.
    pub fn sync_within(&self, timeout: Duration) -> Result<()> {
        let deadline = Instant::now() + timeout;
        let (tx, rx) = mpsc::channel();
        if !send_until(&self.inner.tx, Msg::Sync(tx), deadline) {
            return Err(sync_timeout(timeout, "the writer's queue stayed full"));
        }
        match rx.recv_timeout(deadline.saturating_duration_since(Instant::now())) {
            Ok(r) => r,
            Err(mpsc::RecvTimeoutError::Timeout) => Err(sync_timeout(
                timeout,
                "the writer did not finish (stuck in the storage or still retrying)",
            )),
            Err(mpsc::RecvTimeoutError::Disconnected) => Err(closed()),
        }
    }

    /// Closed intervals dropped from the store because the writer's queue was full.
    pub fn dropped_intervals(&self) -> u64 {
        self.core().health.dropped_intervals.get()
    }

    /// Failed writes and flushes so far (each retry counts).
    pub fn storage_errors(&self) -> u64 {
        let h = &self.core().health;
        h.write_errors.get() + h.flush_errors.get()
    }

    /// Why the store is degraded now, as `/health` says it (empty: healthy).
    pub fn health_reasons(&self) -> Vec<String> {
        self.core().health.reasons()
    }

    /// End of the newest interval that is written and flushed (durable), if any.
    pub fn persisted_through(&self) -> Option<i64> {
        let p = *self.core().persisted.lock();
        (p != i64::MIN).then_some(p)
    }

    /// The write-ahead log's mark: the highest log sequence number whose push is in an
    /// interval written and flushed here (0: none). Replay skips records up to it; the
    /// log deletes segments it covers.
    pub fn wal_mark(&self) -> u64 {
        self.core().wal_mark.load(Ordering::Acquire)
    }

    /// Reads [`TrendStore::wal_mark`] without keeping the store open (the log's
    /// writer thread holds it).
    pub fn wal_mark_probe(&self) -> crate::wal::MarkProbe {
        let core = Arc::downgrade(&self.inner.core);
        Arc::new(move || {
            core.upgrade()
                .map_or(0, |c| c.wal_mark.load(Ordering::Acquire))
        })
    }

    /// Blocks until the interval ending at `end` (or a later one) is durable, or
    /// `timeout` passes; returns whether it is.
    pub fn wait_persisted(&self, end: i64, timeout: std::time::Duration) -> bool {
        let core = self.core();
        let deadline = std::time::Instant::now() + timeout;
        let mut p = core.persisted.lock();
        while *p < end {
            if core.persisted_cv.wait_until(&mut p, deadline).timed_out() {
                return *p >= end;
            }
        }
        true
    }

    /// End of the newest interval the store knows, capped at its clock plus
    /// `max_future` (its "now" for retention).
    pub fn newest(&self) -> Option<i64> {
        let n = self.core().newest();
        (n != i64::MIN).then_some(n)
    }

    /// The paths of the series a pattern selects (aggregation suffixes ignored), sorted;
    /// no points are read.
    ///
    /// # Errors
    /// `BadQuery` for a bad pattern.
    pub fn paths(&self, pattern: &str) -> Result<Vec<String>> {
        let p = crate::pattern::Pattern::parse(pattern)?;
        let core = self.core();
        let ids = core.index.read().matching(&p);
        Ok(ids.into_iter().map(|(_, path)| path.to_string()).collect())
    }

    /// Number of series (interned paths).
    pub fn series_count(&self) -> usize {
        self.core().index.read().len()
    }

    /// Points or interval writes dropped so far (a leaf the store never saw announced,
    /// a storage failure); also logged.
    pub fn dropped(&self) -> u64 {
        self.core().dropped.load(Ordering::Relaxed)
    }

    /// Folds interval blobs older than `compact_after` into chunks and expires chunks
    /// past their archive's span, now, on the calling thread (the background thread
    /// does the same every `compact_every`).
    ///
    /// # Errors
    /// `Storage`, `Corrupt`; nothing is half-applied.
    pub fn compact_now(&self) -> Result<CompactStats> {
        compact::run(self.core(), self.config().compact_after_secs())
    }

    /// As [`TrendStore::compact_now`], folding every blob whatever its age (tests,
    /// shutdown tools, benchmarks).
    ///
    /// # Errors
    /// As [`TrendStore::compact_now`].
    pub fn compact_all(&self) -> Result<CompactStats> {
        compact::run(self.core(), i64::MIN)
    }

    /// What the store holds, by keyspace (scans every key: for `/metrics` now and
    /// then, and benchmarks, not for every request).
    ///
    /// # Errors
    /// `Storage`.
    pub fn usage(&self) -> Result<Usage> {
        let st = &*self.core().storage;
        let count = |space| -> Result<(u64, u64)> {
            let all = st.scan(space, &[], None)?;
            Ok((
                all.len() as u64,
                all.iter().map(|(_, v)| v.len() as u64).sum(),
            ))
        };
        let (chunks, chunk_bytes) = count(Space::Chunks)?;
        let (intervals, interval_bytes) = count(Space::Intervals)?;
        Ok(Usage {
            series: self.series_count() as u64,
            chunks,
            chunk_bytes,
            intervals,
            interval_bytes,
            disk_bytes: st.size_on_disk()?,
        })
    }

    /// Bytes the store occupies on disk.
    ///
    /// # Errors
    /// `Storage`.
    pub fn size_on_disk(&self) -> Result<u64> {
        self.core().storage.size_on_disk()
    }

    /// Restores the tree's leaves (totals, action, newest sample time) from the store
    /// into `engine`, as on start. Returns how many leaves were restored. Markers are
    /// read with [`TrendStore::markers`] (the engine has no call to take them back
    /// with their original times yet).
    ///
    /// # Errors
    /// `Storage`, `Corrupt`.
    pub fn restore_into(&self, engine: &Engine) -> Result<usize> {
        let totals = self.totals()?;
        let n = totals.len();
        let skipped = engine.restore(totals);
        Ok(n - skipped)
    }

    /// Every series' totals as of the last durable interval:
    /// `(path, action, totals, newest sample time)`, sorted by path.
    ///
    /// # Errors
    /// `Storage`, `Corrupt`.
    pub fn totals(&self) -> Result<Vec<(String, crate::Action, crate::Stats, i64)>> {
        let core = self.core();
        let _w = core.write_lock.lock();
        let mut totals = load_stored_totals(&*core.storage)?;
        for (_, v) in core.storage.scan(Space::Intervals, &[], None)? {
            for r in IntervalBlob::decode_without_points(&v)?.totals {
                totals.insert(r.id, r);
            }
        }
        let index = core.index.read();
        let mut out: Vec<_> = totals
            .values()
            .filter_map(|r| {
                let path = index.path(r.id)?;
                Some((path.to_string(), r.action, r.stats, r.last_ts))
            })
            .collect();
        out.sort_by(|a, b| a.0.cmp(&b.0));
        Ok(out)
    }

    /// Makes everything written so far durable (queued intervals included).
    ///
    /// # Errors
    /// `Storage`; `Closed`.
    pub fn flush(&self) -> Result<()> {
        self.sync()
    }

    fn send(&self, interval: &Arc<ClosedInterval>) {
        send_interval(&self.inner.tx, &self.core().health, interval);
    }
}

/// Hands closed intervals to the writer thread without ever waiting: when the queue is
/// full (a slow or failing disk) the interval is dropped from the store and counted;
/// it stays in the engine's ring and the next close is on time.
impl IntervalSink for TrendStore {
    fn interval_closed(&self, interval: &Arc<ClosedInterval>) {
        self.send(interval);
    }

    fn subtrees_deleted(
        &self,
        pattern: &crate::Pattern,
        dry_run: bool,
    ) -> Option<std::result::Result<usize, String>> {
        Some(delete_series(&self.inner.tx, self.core(), pattern, dry_run))
    }
}

struct StoreSink {
    tx: SyncSender<Msg>,
    health: Arc<StoreHealth>,
    /// Weak: the engine's sink must not keep the store (and sled's lock on its
    /// folder) alive once every handle is gone.
    core: std::sync::Weak<Core>,
}

impl IntervalSink for StoreSink {
    fn interval_closed(&self, interval: &Arc<ClosedInterval>) {
        send_interval(&self.tx, &self.health, interval);
    }

    fn subtrees_deleted(
        &self,
        pattern: &crate::Pattern,
        dry_run: bool,
    ) -> Option<std::result::Result<usize, String>> {
        let Some(core) = self.core.upgrade() else {
            return Some(Err("the trend store is closed".into()));
        };
        Some(delete_series(&self.tx, &core, pattern, dry_run))
    }
}

/// How long a delete waits for the writer to queue and apply it.
const DELETE_WAIT: Duration = Duration::from_secs(30);

/// Hands a delete to the writer (after every interval queued before it) and waits for
/// its answer; a dry run counts the series in the index.
fn delete_series(
    tx: &SyncSender<Msg>,
    core: &Core,
    pattern: &crate::Pattern,
    dry_run: bool,
) -> std::result::Result<usize, String> {
    if dry_run {
        return Ok(core.index.read().matching(pattern).len());
    }
    let deadline = Instant::now() + DELETE_WAIT;
    let (reply, answer) = mpsc::channel();
    if !send_until(tx, Msg::Delete(pattern.clone(), reply), deadline) {
        return Err(format!(
            "the trend store's queue stayed full for {} s (or it stopped): its series were \
             not deleted",
            DELETE_WAIT.as_secs()
        ));
    }
    match answer.recv_timeout(deadline.saturating_duration_since(Instant::now())) {
        Ok(Ok(n)) => Ok(n),
        Ok(Err(e)) => Err(e.to_string()),
        Err(_) => Err(format!(
            "the trend store did not apply the delete within {} s; it still will",
            DELETE_WAIT.as_secs()
        )),
    }
}

fn send_interval(tx: &SyncSender<Msg>, health: &StoreHealth, interval: &Arc<ClosedInterval>) {
    // Counted before the send: the writer may take it (and count it down) at once.
    health.queued.fetch_add(1, Ordering::Relaxed);
    match tx.try_send(Msg::Interval(interval.clone())) {
        Ok(()) => health.accepted(),
        Err(TrySendError::Full(_)) => {
            health.queued.fetch_sub(1, Ordering::Relaxed);
            health.dropped(interval);
        }
        Err(TrySendError::Disconnected(_)) => {
            health.queued.fetch_sub(1, Ordering::Relaxed);
            tracing::error!(
                start = interval.start,
                "trend store is closed: interval not stored"
            );
        }
    }
}

fn sync_timeout(timeout: Duration, why: &str) -> TrendError {
    TrendError::new(
        TrendErrorKind::Storage,
        format!(
            "the trend store did not sync within {} s: {why}",
            timeout.as_secs_f64()
        ),
    )
}

fn closed() -> TrendError {
    TrendError::new(
        TrendErrorKind::Closed,
        "the trend store's writer has stopped",
    )
}

fn load_stored_totals(st: &dyn Storage) -> Result<HashMap<u32, Rec>> {
    let mut out = HashMap::new();
    for (_, v) in st.scan(Space::Totals, &[], None)? {
        let r = blob::decode_rec(&v)?;
        out.insert(r.id, r);
    }
    Ok(out)
}
