//! Crash test: a child process (this test binary, re-run with `TREND_CRASH_CHILD` set)
//! runs an Engine and a TrendStore under a push load on a fast manual clock, with
//! compaction running every 50 ms, and prints `ACK <i>` once interval `i` is durable.
//! The parent kills it with SIGKILL, twice (the second child resumes from the store),
//! then reopens the directory: every point of every closed interval must be intact,
//! and the restored totals must equal the sum of what was pushed up to the last
//! closed interval, which is at or after the last acknowledged one.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::Duration;

use treestat_engine::trend::{TrendConfig, TrendStore};
use treestat_engine::{Action, Batch, Engine, EngineConfig, ManualClock};

const T0: i64 = 1_699_999_200;
const LEN: i64 = 10;
const LEAVES: i64 = 40;
const REPS: i64 = 5;
const ENV: &str = "TREND_CRASH_CHILD";
/// The test's full name in the integration binary (`<module>::<test>`), for `--exact`.
const TEST: &str = "trend_crash::kill_9_loses_at_most_the_open_interval";

fn action(k: i64) -> Action {
    if k % 2 == 0 {
        Action::Add
    } else {
        Action::Average
    }
}

fn value(i: i64, k: i64, rep: i64) -> f64 {
    f64::from(i32::try_from((i * 7 + k * 3 + rep) % 50).unwrap())
}

fn cfg() -> TrendConfig {
    TrendConfig {
        compact_after: Duration::from_secs(30),
        compact_every: Duration::from_millis(50),
        ..TrendConfig::default()
    }
}

/// The child: pushes forever (bounded), acknowledging each durable interval.
fn child(dir: &str) {
    let store = TrendStore::open(std::path::Path::new(dir), &cfg()).unwrap();
    let resume = store.newest().map_or(0, |n| (n - T0) / LEN);
    let clock = Arc::new(ManualClock::new(T0 + resume * LEN));
    let engine = Engine::with_clock(EngineConfig::default(), clock.clone()).unwrap();
    store.restore_into(&engine).unwrap();
    store.attach(&engine);
    for i in resume..resume + 100_000 {
        for rep in 0..REPS {
            let mut b = Batch::new();
            for k in 0..LEAVES {
                b.sample(&format!("crash,l{k}"), value(i, k, rep), Some(action(k)));
            }
            engine.apply(&b).unwrap();
        }
        clock.advance(LEN);
        engine.close_due().unwrap();
        assert!(store.wait_persisted(T0 + (i + 1) * LEN, Duration::from_secs(60)));
        println!("ACK {i}");
    }
}

/// Runs a child until it has acknowledged `acks` more intervals, then SIGKILLs it.
/// Returns the last acknowledged interval.
fn run_and_kill(dir: &std::path::Path, acks: usize) -> i64 {
    let exe = std::env::current_exe().unwrap();
    let mut c = Command::new(exe)
        .args([TEST, "--exact", "--nocapture", "--test-threads=1"])
        .env(ENV, dir)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let out = BufReader::new(c.stdout.take().unwrap());
    let mut seen = 0;
    let mut last = -1;
    for line in out.lines() {
        let line = line.unwrap();
        if let Some(n) = line.strip_prefix("ACK ") {
            last = n.parse().unwrap();
            seen += 1;
            if seen == acks {
                break;
            }
        }
    }
    assert_eq!(seen, acks, "the child stopped before {acks} intervals");
    c.kill().unwrap(); // SIGKILL on Unix
    c.wait().unwrap();
    last
}

#[test]
fn kill_9_loses_at_most_the_open_interval() {
    if let Ok(dir) = std::env::var(ENV) {
        child(&dir);
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let first = run_and_kill(dir.path(), 25);
    let acked = run_and_kill(dir.path(), 15);
    assert!(acked > first);

    let store = TrendStore::open(dir.path(), &cfg()).unwrap();
    let closed = (store.newest().unwrap() - T0) / LEN;
    assert!(
        closed > acked,
        "interval {acked} was acknowledged but is not stored"
    );
    let engine =
        Engine::with_clock(EngineConfig::default(), Arc::new(ManualClock::new(T0))).unwrap();
    assert_eq!(
        store.restore_into(&engine).unwrap(),
        usize::try_from(LEAVES).unwrap()
    );
    let series = store.series("crash", T0, T0 + closed * LEN, 0).unwrap();
    assert_eq!(series.len(), usize::try_from(LEAVES).unwrap());
    for s in &series {
        let k: i64 = s.path.strip_prefix("crash,l").unwrap().parse().unwrap();
        let mut total = 0.0;
        let want: Vec<(i64, f64)> = (0..closed)
            .map(|i| {
                let sum: f64 = (0..REPS).map(|rep| value(i, k, rep)).sum();
                total += sum;
                let v = if action(k) == Action::Add {
                    sum
                } else {
                    sum / f64::from(i32::try_from(REPS).unwrap())
                };
                (T0 + i * LEN, v)
            })
            .collect();
        assert_eq!(s.points, want, "points of {}", s.path);
        let (_, act, stats) = engine.leaf_at(&s.path).unwrap();
        assert_eq!(act, action(k));
        assert_eq!(stats.sum, total, "restored total of {}", s.path);
        assert_eq!(stats.count, u64::try_from(closed * REPS).unwrap());
    }
}
