//! [`Core`]: the state the store's handle, its writer thread and its compactor share.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, Ordering};

use parking_lot::{Condvar, Mutex, RwLock};

use super::config::TrendConfig;
use super::health::StoreHealth;
use super::index::Index;
use super::storage::{Op, Space, Storage};
use crate::Clock;

/// The state key holding the end of the newest stored interval.
pub(super) const NEWEST_KEY: &[u8] = b"newest";

/// The state key holding the write-ahead log's mark: the highest log sequence number
/// whose push is in a stored interval (`crate::wal`).
pub(super) const WAL_KEY: &[u8] = b"wal_seq";

/// State shared by the handle, the writer and the compactor.
pub(crate) struct Core {
    pub(super) storage: Arc<dyn Storage>,
    pub(super) cfg: TrendConfig,
    pub(super) index: RwLock<Index>,
    /// End of the newest interval stored (data time; `i64::MIN`: none yet).
    pub(super) newest: AtomicI64,
    /// Serializes blob writes with compaction (both rewrite interval blobs).
    pub(super) write_lock: Mutex<()>,
    /// Readers hold it shared while they read blobs then chunks; compaction holds it
    /// exclusively while it moves points from blobs to chunks, so no read sees a
    /// point twice or not at all.
    pub(super) view: RwLock<()>,
    /// End of the newest interval written and flushed.
    pub(super) persisted: Mutex<i64>,
    pub(super) persisted_cv: Condvar,
    /// The write-ahead log's mark, as of the last flush ([`WAL_KEY`]).
    pub(super) wal_mark: AtomicU64,
    /// Points or writes the store had to drop (unknown leaf, storage failure).
    pub(super) dropped: AtomicU64,
    /// Where the store reads the wall clock (the engine's once attached).
    pub(super) clock: RwLock<Arc<dyn Clock>>,
    /// How far ahead of the clock data may be (seconds; the engine's `max_future`).
    pub(super) max_future: AtomicI64,
    /// Whether a clock was given ([`TrendStore::attach`], [`TrendStore::set_clock`]):
    /// retention then follows it.
    pub(super) clocked: AtomicBool,
    /// Errors, queue, heartbeat (`/metrics`, `/health`).
    pub(super) health: Arc<StoreHealth>,
    /// The last handle is gone: the writer stops retrying a failing storage.
    pub(super) closing: AtomicBool,
}

impl Core {
    /// The latest time the store accepts: its clock plus `max_future`.
    pub(super) fn horizon(&self) -> i64 {
        self.clock
            .read()
            .now()
            .saturating_add(self.max_future.load(Ordering::Relaxed))
    }

    /// "Now" for retention: the end of the newest stored interval, capped at
    /// [`Core::horizon`] so that no stored sample can move it past the clock.
    pub(super) fn newest(&self) -> i64 {
        let n = self.newest.load(Ordering::SeqCst);
        if n == i64::MIN {
            return n;
        }
        n.min(self.horizon())
    }

    /// "Now" for retention and compaction: on a store with a clock (attached to an
    /// engine), the clock, or the newest interval if that is ahead (by less than
    /// `max_future`); on a store without one (a tool's, a test's), [`Core::newest`].
    pub(super) fn retention_now(&self) -> i64 {
        let n = self.newest();
        if self.clocked.load(Ordering::Relaxed) {
            n.max(self.clock.read().now())
        } else {
            n
        }
    }

    pub(super) fn bump_newest(&self, end: i64) {
        self.newest.fetch_max(end, Ordering::SeqCst);
    }

    pub(super) fn newest_op(&self) -> Op {
        Op::Put(
            Space::State,
            NEWEST_KEY.to_vec(),
            self.newest().to_le_bytes().to_vec(),
        )
    }
}
