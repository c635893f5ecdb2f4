//! Compaction writes a wide fold in bounded batches, and a fold stopped half-way is
//! finished on the next open with no interval lost or counted twice.
//!
//! Both run on real sled files, through a `Storage` that forwards every call to a
//! `SledStorage` and records the ops per batch; the second store's wrapper refuses one
//! batch of chunks, as a full disk or a crash in the middle of a pass would.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use treestat_engine::trend::{
    Bytes, Op, Result, SledStorage, Space, Storage, TrendConfig, TrendError, TrendErrorKind,
    TrendStore,
};
use treestat_engine::{Action, Batch, Engine, EngineConfig, Limits, ManualClock};

const T0: i64 = 1_700_000_000;
/// Leaves per interval: with three archives, 27,000 chunks to write in one fold.
const LEAVES: usize = 9_000;

/// Forwards to sled; counts ops per `apply`; refuses the `fail_at`-th batch that
/// writes chunks (0: none).
struct Recording {
    inner: Arc<SledStorage>,
    largest: AtomicUsize,
    chunk_batches: AtomicUsize,
    fail_at: usize,
}

impl Storage for Recording {
    fn get(&self, space: Space, key: &[u8]) -> Result<Option<Bytes>> {
        self.inner.get(space, key)
    }
    fn put(&self, space: Space, key: &[u8], value: &[u8]) -> Result<()> {
        self.inner.put(space, key, value)
    }
    fn delete(&self, space: Space, key: &[u8]) -> Result<()> {
        self.inner.delete(space, key)
    }
    fn scan(&self, space: Space, from: &[u8], until: Option<&[u8]>) -> Result<Vec<(Bytes, Bytes)>> {
        self.inner.scan(space, from, until)
    }
    fn apply(&self, ops: Vec<Op>) -> Result<()> {
        self.largest.fetch_max(ops.len(), Ordering::SeqCst);
        if ops
            .iter()
            .any(|op| matches!(op, Op::Put(Space::Chunks, ..)))
        {
            let n = self.chunk_batches.fetch_add(1, Ordering::SeqCst) + 1;
            if n == self.fail_at {
                return Err(TrendError::new(TrendErrorKind::Storage, "refused"));
            }
        }
        self.inner.apply(ops)
    }
    fn flush(&self) -> Result<()> {
        self.inner.flush()
    }
    fn size_on_disk(&self) -> Result<u64> {
        self.inner.size_on_disk()
    }
}

fn cfg() -> TrendConfig {
    TrendConfig {
        // The background compactor stays out of the way: the test compacts by hand.
        compact_every: Duration::from_secs(86_400),
        queue: 1024,
        ..TrendConfig::default()
    }
}

/// A store over sled in `dir` behind a `Recording`, fed six intervals of LEAVES
/// leaves (adders and averages, so a fold applied twice would show in both).
fn fed_store(dir: &std::path::Path, fail_at: usize) -> (TrendStore, Arc<Recording>) {
    let sled = Arc::new(SledStorage::open(dir, 16 << 20).unwrap());
    let rec = Arc::new(Recording {
        inner: sled,
        largest: AtomicUsize::new(0),
        chunk_batches: AtomicUsize::new(0),
        fail_at,
    });
    let store = TrendStore::with_storage(rec.clone(), &cfg()).unwrap();
    let clock = Arc::new(ManualClock::new(T0));
    let engine = Engine::with_clock(
        EngineConfig {
            limits: Limits {
                max_push_nodes: 100_000,
                ..Limits::default()
            },
            ..EngineConfig::default()
        },
        clock.clone(),
    )
    .unwrap();
    store.attach(&engine);
    for round in 0..6u32 {
        let mut b = Batch::new();
        for i in 0..LEAVES {
            let action = if i % 2 == 0 {
                Action::Add
            } else {
                Action::Average
            };
            let v = f64::from(u32::try_from(i % 97).unwrap() + round);
            b.sample(&format!("fold,h{},m{}", i / 100, i % 100), v, Some(action));
        }
        engine.apply(&b).unwrap();
        clock.advance(10);
        engine.close_due().unwrap();
    }
    store.sync().unwrap();
    (store, rec)
}

fn everything(store: &TrendStore) -> Vec<treestat_engine::trend::Series> {
    store.series("fold,**", T0 - 600, T0 + 600, 0).unwrap()
}

/// Fails with the first series that differs (the whole lists are too long to print).
fn same(got: &[treestat_engine::trend::Series], want: &[treestat_engine::trend::Series]) {
    assert_eq!(got.len(), want.len(), "series count");
    if let Some((g, w)) = got.iter().zip(want).find(|(g, w)| g != w) {
        panic!("first difference:\n got  {g:?}\n want {w:?}");
    }
}

#[test]
fn a_wide_fold_is_written_in_bounded_batches() {
    let dir = tempfile::tempdir().unwrap();
    let (store, rec) = fed_store(dir.path(), 0);
    let before = everything(&store);
    rec.largest.store(0, Ordering::SeqCst);
    let st = store.compact_all().unwrap();
    assert_eq!(st.intervals, 6);
    assert_eq!(st.chunks_written, 3 * LEAVES);
    let largest = rec.largest.load(Ordering::SeqCst);
    // One batch of everything was 3 x 9,000 chunks plus paths and totals.
    assert!(largest <= 4097, "largest batch {largest} ops");
    assert!(rec.chunk_batches.load(Ordering::SeqCst) >= 7);
    same(&everything(&store), &before);
    assert_eq!(before.len(), LEAVES);
}

#[test]
fn a_fold_stopped_half_way_is_finished_on_open_without_double_counting() {
    let whole = tempfile::tempdir().unwrap();
    let (reference, _) = fed_store(whole.path(), 0);
    reference.compact_all().unwrap();
    let want = everything(&reference);
    let want_totals = reference.totals().unwrap();

    let dir = tempfile::tempdir().unwrap();
    // The fourth batch of chunks is refused: three slices are written, the rest not.
    let (store, rec) = fed_store(dir.path(), 4);
    let err = store.compact_all().unwrap_err();
    assert_eq!(err.kind(), TrendErrorKind::Storage, "{err}");
    assert_eq!(rec.chunk_batches.load(Ordering::SeqCst), 4);
    drop(store);

    // Opened again over the same sled files: the fold is taken up where it stopped.
    let sled = rec.inner.clone();
    drop(rec);
    let again = TrendStore::with_storage(sled.clone(), &cfg()).unwrap();
    same(&everything(&again), &want);
    assert_eq!(again.totals().unwrap(), want_totals);
    // Nothing is left to fold, and folding again changes nothing.
    assert_eq!(again.compact_all().unwrap().intervals, 0);
    same(&everything(&again), &want);
    assert!(sled.scan(Space::Intervals, &[], None).unwrap().is_empty());
}
