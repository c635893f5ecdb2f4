//! The write-ahead log against an engine, on real files: in `sync` mode a push is on
//! disk once `wal_synced` returns; a full log falls back to unlogged pushes (or refuses
//! them) once per episode and recovers when segments are deleted; segments go once
//! the trend store's mark covers them.

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use treestat_engine::wal::codec::{Body, read_records};
use treestat_engine::wal::{Wal, WalMetrics, segment_files};
use treestat_engine::{Batch, Engine, EngineConfig, ErrorKind, WalFull, WalMode};

fn engine_with_wal(dir: &Path, cfg: EngineConfig, mark: &Arc<AtomicU64>) -> (Engine, Wal) {
    let engine = Engine::new(cfg.clone()).unwrap();
    let m = mark.clone();
    let wal = Wal::open(
        dir,
        &cfg,
        Arc::new(move || m.load(Ordering::SeqCst)),
        Vec::new(),
        WalMetrics::default(),
        None,
    )
    .unwrap();
    engine.attach_wal(wal.clone(), 0);
    (engine, wal)
}

fn on_disk(dir: &Path) -> Vec<treestat_engine::wal::codec::Record> {
    segment_files(dir)
        .unwrap()
        .iter()
        .flat_map(|p| {
            let (recs, bad, tail) = read_records(&std::fs::read(p).unwrap());
            assert_eq!((bad, tail), (0, None));
            recs
        })
        .collect()
}

fn sample(path: &str, v: f64) -> Batch {
    let mut b = Batch::new();
    b.sample(path, v, None);
    b
}

/// Polls a condition the writer thread makes true (deterministic; the bound only
/// keeps a broken build from hanging).
fn eventually(what: &str, mut cond: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(60);
    while !cond() {
        assert!(Instant::now() < deadline, "gave up waiting for {what}");
        std::thread::sleep(Duration::from_millis(10));
    }
}

#[test]
fn sync_mode_returns_once_the_record_is_on_disk() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = EngineConfig {
        wal: WalMode::Sync,
        ..EngineConfig::default()
    };
    let mark = Arc::new(AtomicU64::new(0));
    let (engine, wal) = engine_with_wal(dir.path(), cfg, &mark);
    engine.push_json(br#"{"a":{"b":1}}"#).unwrap();
    engine.apply(&sample("c", 2.0)).unwrap();
    engine.wal_synced_blocking();
    // No waiting here: the records are there when wal_synced returns.
    let recs = on_disk(dir.path());
    assert_eq!(recs.iter().map(|r| r.seq).collect::<Vec<_>>(), vec![1, 2]);
    assert!(matches!(&recs[0].body, Body::Doc(d) if d.trees.len() == 1));
    assert!(matches!(&recs[1].body, Body::Batch(b) if b.updates() == sample("c", 2.0).updates()));
    assert_eq!(recs[0].interval, engine.stats().open_start);
    assert!(wal.metrics().fsyncs.get() >= 1);
    assert_eq!(wal.metrics().records.get(), 2);
    wal.stop();
}

#[test]
fn a_full_log_merges_unlogged_once_per_episode_and_recovers() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = EngineConfig {
        wal: WalMode::Sync,
        wal_max_bytes: 400,
        ..EngineConfig::default()
    };
    let mark = Arc::new(AtomicU64::new(0));
    let (engine, wal) = engine_with_wal(dir.path(), cfg, &mark);
    for i in 0..20 {
        engine.apply(&sample("a", f64::from(i))).unwrap();
    }
    engine.wal_synced_blocking();
    let logged = wal.metrics().records.get();
    assert!(logged > 0 && logged < 20, "{logged}");
    assert_eq!(wal.metrics().unlogged.get(), 20 - logged);
    assert_eq!(wal.metrics().full_episodes.get(), 1);
    assert!(wal.is_full());
    // Every push was merged all the same.
    assert_eq!(engine.query("a").unwrap()[0].1, 9.5);
    // The store persists what was logged: the segment goes, the log has room again.
    mark.store(logged, Ordering::SeqCst);
    eventually("the segment to be deleted", || wal.bytes() == 0);
    assert!(segment_files(dir.path()).unwrap().is_empty());
    engine.apply(&sample("a", 1.0)).unwrap();
    assert!(!wal.is_full());
    engine.wal_synced_blocking();
    assert_eq!(wal.metrics().records.get(), logged + 1);
    assert_eq!(on_disk(dir.path()).len(), 1);
    wal.stop();
}

#[test]
fn a_full_log_refuses_pushes_when_told_to() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = EngineConfig {
        wal: WalMode::Batch,
        wal_max_bytes: 200,
        wal_full: WalFull::Refuse,
        ..EngineConfig::default()
    };
    let mark = Arc::new(AtomicU64::new(0));
    let (engine, wal) = engine_with_wal(dir.path(), cfg, &mark);
    let mut refused = 0;
    for i in 0..10 {
        match engine.apply(&sample("a", f64::from(i))) {
            Ok(_) => {}
            Err(e) => {
                assert_eq!(e.kind(), ErrorKind::WalFull);
                refused += 1;
            }
        }
    }
    assert!(refused > 0);
    assert_eq!(engine.metrics().rejects(ErrorKind::WalFull), refused);
    assert_eq!(wal.metrics().refused.get(), refused);
    // A refused push is not merged.
    let merged = engine.leaf_at("a").unwrap().2.count;
    assert_eq!(merged, 10 - refused);
    wal.stop();
}

#[test]
fn segments_are_prepared_with_zeros_and_records_overwrite_them() {
    // Appending to a growing file makes every fsync journal the block allocation
    // (4 ms rather than 0.15 ms on ext4): each segment is written with zeros and
    // fsynced before its first record, so records overwrite blocks that exist and the
    // file never grows.
    let dir = tempfile::tempdir().unwrap();
    let size = 16 << 10;
    let cfg = EngineConfig {
        wal: WalMode::Sync,
        wal_segment_bytes: size,
        ..EngineConfig::default()
    };
    let mark = Arc::new(AtomicU64::new(0));
    let (engine, wal) = engine_with_wal(dir.path(), cfg, &mark);
    for i in 0..600 {
        engine
            .apply(&sample(&format!("k,n{}", i % 7), f64::from(i)))
            .unwrap();
        engine.wal_synced_blocking();
    }
    let segs = segment_files(dir.path()).unwrap();
    // 600 records of ~60 bytes take 3 segments of 16 KiB at least.
    assert!(segs.len() >= 3, "{segs:?}");
    for p in &segs {
        assert_eq!(std::fs::metadata(p).unwrap().len(), size, "{}", p.display());
    }
    // Every record reads back in order: the zeros after them are the end, not damage.
    let seqs: Vec<u64> = on_disk(dir.path()).iter().map(|r| r.seq).collect();
    assert_eq!(seqs, (1..=600).collect::<Vec<u64>>());
    assert_eq!(wal.metrics().unprepared.get(), 0);
    assert_eq!(wal.metrics().records.get(), 600);
    // A stopped log leaves no spare behind.
    wal.stop();
    let left: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .filter(|n| !n.ends_with(".wal"))
        .collect();
    assert!(left.is_empty(), "{left:?}");
}

#[test]
fn without_preallocation_segments_grow_as_written() {
    // `wal_segment_bytes = 0`, and `batch` mode (which fsyncs 5 times a second and
    // does not preallocate).
    for (mode, seg) in [(WalMode::Sync, 0), (WalMode::Batch, 8 << 20)] {
        let dir = tempfile::tempdir().unwrap();
        let cfg = EngineConfig {
            wal: mode,
            wal_segment_bytes: seg,
            ..EngineConfig::default()
        };
        let mark = Arc::new(AtomicU64::new(0));
        let (engine, wal) = engine_with_wal(dir.path(), cfg, &mark);
        for i in 0..50 {
            engine.apply(&sample("k", f64::from(i))).unwrap();
        }
        engine.wal_synced_blocking();
        eventually("50 records on disk", || on_disk(dir.path()).len() == 50);
        let segs = segment_files(dir.path()).unwrap();
        assert_eq!(segs.len(), 1, "{mode:?}");
        assert_eq!(
            std::fs::metadata(&segs[0]).unwrap().len(),
            wal.metrics().bytes.get(),
            "{mode:?}"
        );
        let names: Vec<_> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names.len(), 1, "no spare prepared: {names:?}");
        wal.stop();
    }
}
