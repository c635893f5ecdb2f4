//! The log's shared state: what senders and the writer thread both hold (the queue,
//! the durable sequence number), the segments' description, and the counters.

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64};
use std::sync::mpsc::Sender;
use std::thread::JoinHandle;

use parking_lot::{Condvar, Mutex};
use tokio::sync::watch;

use crate::config::{WalFull, WalMode};
use crate::telemetry::{Counter, Gauge, Telemetry};

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
    /// Segments started without a prepared file (written with zeros and fsynced),
    /// because preparing one failed: they grow as written and their fsyncs are slower
    /// (`treestat_wal_unprepared_segments_total`).
    pub unprepared: Counter,
}

impl WalMetrics {
    fn counters(&self) -> [(&'static str, &'static str, &Counter); 12] {
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
            (
                "treestat_wal_unprepared_segments_total",
                "Log segments started without a prepared (zeroed and fsynced) file, \
                 because preparing one failed: their fsyncs also journal block allocation.",
                &self.unprepared,
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
pub(super) struct Pending {
    pub(super) seq: u64,
    pub(super) interval: i64,
    pub(super) len: i64,
    pub(super) now: i64,
    pub(super) start: usize,
    pub(super) end: usize,
}

/// What senders hand the writer: a plain vector under a mutex rather than a channel,
/// so that a push in `batch` mode never wakes the writer (a futex call per push cost
/// half the HTTP throughput); `sync` wakes it, which costs nothing while it is busy.
#[derive(Default)]
pub(super) struct Queue {
    pub(super) recs: Vec<Pending>,
    /// The bodies of `recs`, back to back.
    pub(super) data: Vec<u8>,
    pub(super) bytes: usize,
    /// Write and fsync what is queued, delete what is persisted, stop; then ack.
    pub(super) stop: Option<Sender<()>>,
    pub(super) closed: bool,
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

pub(super) struct Inner {
    pub(super) mode: WalMode,
    pub(super) when_full: WalFull,
    pub(super) max_bytes: u64,
    pub(super) queue: Mutex<Queue>,
    pub(super) wake: Condvar,
    /// Bytes on disk plus bytes handed to the writer and not yet written.
    pub(super) bytes: Arc<AtomicU64>,
    pub(super) full: AtomicBool,
    /// Highest sequence number handed to the writer.
    pub(super) sent: AtomicU64,
    /// Highest sequence number on disk and fsynced (`u64::MAX` once stopped).
    pub(super) durable: watch::Sender<u64>,
    pub(super) durable_blocking: Arc<(Mutex<u64>, Condvar)>,
    pub(super) metrics: WalMetrics,
    pub(super) thread: Mutex<Option<JoinHandle<()>>>,
}
