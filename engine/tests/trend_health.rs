//! A failing or stuck storage under the trend store (issue #12): intervals keep
//! closing, what is dropped is counted, the store says why it is degraded, and it
//! writes again (paths and totals of dropped intervals included) once the storage
//! does.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use parking_lot::{Condvar, Mutex};
use treestat_engine::telemetry::Telemetry;
use treestat_engine::trend::{
    Bytes, MemStorage, Op, Result, Space, Storage, TrendConfig, TrendError, TrendErrorKind,
    TrendStore,
};
use treestat_engine::{Engine, EngineConfig, ManualClock};

const T0: i64 = 1_699_999_800;

/// A `MemStorage` whose writes can be held (they block until released) or made to
/// fail (as sled does on ENOSPC), counting reopens.
#[derive(Default)]
struct Faulty {
    mem: MemStorage,
    hold: Mutex<bool>,
    released: Condvar,
    /// Writes currently blocked in `put`.
    held: AtomicU64,
    full: AtomicBool,
    reopens: AtomicU64,
}

impl Faulty {
    fn set_hold(&self, on: bool) {
        *self.hold.lock() = on;
        self.released.notify_all();
    }

    fn gate(&self) -> Result<()> {
        let mut h = self.hold.lock();
        if *h {
            self.held.fetch_add(1, Ordering::SeqCst);
            while *h {
                self.released.wait(&mut h);
            }
            self.held.fetch_sub(1, Ordering::SeqCst);
        }
        if self.full.load(Ordering::SeqCst) {
            return Err(TrendError::new(
                TrendErrorKind::Storage,
                "No space left on device (os error 28)",
            ));
        }
        Ok(())
    }
}

impl Storage for Faulty {
    fn get(&self, space: Space, key: &[u8]) -> Result<Option<Bytes>> {
        self.mem.get(space, key)
    }
    fn put(&self, space: Space, key: &[u8], value: &[u8]) -> Result<()> {
        self.gate()?;
        self.mem.put(space, key, value)
    }
    fn delete(&self, space: Space, key: &[u8]) -> Result<()> {
        self.gate()?;
        self.mem.delete(space, key)
    }
    fn scan(&self, space: Space, from: &[u8], until: Option<&[u8]>) -> Result<Vec<(Bytes, Bytes)>> {
        self.mem.scan(space, from, until)
    }
    fn apply(&self, ops: Vec<Op>) -> Result<()> {
        self.gate()?;
        self.mem.apply(ops)
    }
    fn flush(&self) -> Result<()> {
        self.gate()
    }
    fn size_on_disk(&self) -> Result<u64> {
        Ok(0)
    }
    fn reopen(&self) -> Result<()> {
        self.reopens.fetch_add(1, Ordering::SeqCst);
        Ok(())
    }
}

fn until(what: &str, mut done: impl FnMut() -> bool) {
    // Generous: the conditions hold within milliseconds (or a 1 s retry pause).
    let deadline = Instant::now() + Duration::from_secs(60);
    while !done() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(10));
    }
}

fn setup(cfg: &TrendConfig) -> (Engine, Arc<ManualClock>, Arc<Faulty>, TrendStore) {
    let clock = Arc::new(ManualClock::new(T0));
    let engine = Engine::with_clock(EngineConfig::default(), clock.clone()).unwrap();
    let st = Arc::new(Faulty::default());
    let store = TrendStore::with_storage(st.clone(), cfg).unwrap();
    store.attach(&engine);
    (engine, clock, st, store)
}

/// Closes `n` intervals on another thread; fails (rather than hang the test) if they
/// do not all close within a minute: the old sink blocked here for good.
fn close_intervals(engine: &Engine, clock: &Arc<ManualClock>, n: usize, push: &'static str) {
    let (engine, clock) = (engine.clone(), clock.clone());
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for _ in 0..n {
            engine.push_json(push.as_bytes()).unwrap();
            clock.advance(10);
            engine.close_due().unwrap();
        }
        let _ = tx.send(());
    });
    rx.recv_timeout(Duration::from_secs(60))
        .expect("closing intervals blocked on the trend store");
}

#[test]
fn a_stuck_storage_never_blocks_closing_and_dropped_intervals_lose_no_series() {
    let cfg = TrendConfig {
        queue: 2,
        stall_after: Duration::from_secs(1),
        ..TrendConfig::default()
    };
    let (engine, clock, st, store) = setup(&cfg);
    let telemetry = Telemetry::default();
    store.register_telemetry(&telemetry);
    st.set_hold(true);
    // The writer takes the first interval and blocks inside the storage with it.
    close_intervals(&engine, &clock, 1, r#"{"a":1}"#);
    until("the writer to block in the storage", || {
        st.held.load(Ordering::SeqCst) == 1
    });
    // Two more fill the queue; the next seven are dropped, among them the only
    // interval that ever touches leaf `b` (its path and totals must not be lost).
    close_intervals(&engine, &clock, 4, r#"{"a":1}"#);
    close_intervals(&engine, &clock, 1, r#"{"a":1,"b":7}"#);
    close_intervals(&engine, &clock, 4, r#"{"a":1}"#);
    assert_eq!(engine.stats().ring_intervals, 10, "every interval closed");
    assert_eq!(store.dropped_intervals(), 7);
    let value = |name: &str| telemetry.value(name, &[]).unwrap();
    assert_eq!(value("treestat_trend_dropped_intervals_total"), 7.0);
    assert_eq!(value("treestat_trend_queue_depth"), 2.0);
    // Degraded: the queue is full, and (after stall_after) the writer is stuck.
    until("the stall to show", || {
        let r = store.health_reasons();
        r.iter().any(|r| r.contains("queue is full"))
            && r.iter().any(|r| r.contains("inside one storage call"))
    });
    assert_eq!(telemetry.health().report().status, "degraded");
    assert!(value("treestat_trend_busy_seconds") >= 1.0);
    // A sync with a deadline gives up instead of hanging.
    let err = store.sync_within(Duration::from_millis(200)).unwrap_err();
    assert!(err.message().contains("did not sync"), "{err}");

    st.set_hold(false);
    store.sync().unwrap();
    assert_eq!(value("treestat_trend_queue_depth"), 0.0);
    // The next interval stored carries what the dropped ones announced.
    close_intervals(&engine, &clock, 1, r#"{"a":1}"#);
    store.sync().unwrap();
    assert!(
        store.health_reasons().is_empty(),
        "{:?}",
        store.health_reasons()
    );
    assert_eq!(telemetry.health().report().status, "ok");
    let totals = store.totals().unwrap();
    let paths: Vec<&str> = totals.iter().map(|t| t.0.as_str()).collect();
    assert_eq!(paths, vec!["a", "b"]);
    assert_eq!(totals[0].2.count, 11, "a's totals as of the last interval");
    assert_eq!(totals[1].2.sum, 7.0, "b's totals from its dropped interval");
    // Stored: the three written before the queue filled, and the last one.
    let a = store.series("a", T0, T0 + 200, 0).unwrap();
    let times: Vec<i64> = a[0].points.iter().map(|p| p.0).collect();
    assert_eq!(times, vec![T0, T0 + 10, T0 + 20, T0 + 100]);
}

#[test]
fn a_failing_storage_is_retried_reopened_and_recovers() {
    let cfg = TrendConfig::default();
    let (engine, clock, st, store) = setup(&cfg);
    st.full.store(true, Ordering::SeqCst);
    close_intervals(&engine, &clock, 1, r#"{"a":1}"#);
    until("the failure to show", || !store.health_reasons().is_empty());
    assert!(
        store.health_reasons()[0].contains("No space left on device"),
        "{:?}",
        store.health_reasons()
    );
    // Retried (after reopening) while it fails, not given up.
    until("a retry", || {
        store.storage_errors() >= 2 && st.reopens.load(Ordering::SeqCst) >= 1
    });
    assert_eq!(store.persisted_through(), None);
    st.full.store(false, Ordering::SeqCst);
    store.sync().unwrap();
    assert_eq!(store.persisted_through(), Some(T0 + 10));
    assert!(store.health_reasons().is_empty());
    assert_eq!(store.dropped_intervals(), 0);
    assert_eq!(
        store.series("a", T0, T0 + 10, 0).unwrap()[0].points.len(),
        1
    );
}

#[test]
fn dropping_the_store_does_not_hang_on_a_failing_storage() {
    let (engine, clock, st, store) = setup(&TrendConfig::default());
    st.full.store(true, Ordering::SeqCst);
    close_intervals(&engine, &clock, 1, r#"{"a":1}"#);
    until("the failure to show", || store.storage_errors() >= 1);
    drop(engine); // the sink's channel
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        drop(store);
        let _ = tx.send(());
    });
    rx.recv_timeout(Duration::from_secs(60))
        .expect("dropping the store hung on a failing storage");
}
