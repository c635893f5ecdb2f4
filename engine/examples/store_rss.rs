//! The trend store's memory over time, alone: SERIES leaves (default 21,000) touched
//! every 10 s interval on a manual clock, compaction after 2 minutes every minute, as
//! bench/soak.py runs the server. Prints the process RSS after each compaction, so a
//! step or a creep in the store shows without the rest of the server around it.
//! CACHE_MIB sets sled's cache (default 64), PULL_LOG the engine's push log (default
//! 4096 pushes; its byte bound fills slowly at 6 pushes a minute), TRIM=1 calls malloc_trim after each
//! compaction, LEAVE=1 exits without dropping (a heap profiler's "leaks" are then
//! what was live at the end).
//!
//! `cargo run --release -p treestat-engine --example store_rss` (MINUTES=30 SERIES=21000)

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use treestat_engine::trend::{TrendConfig, TrendStore};
use treestat_engine::{Batch, Engine, EngineConfig, Limits, ManualClock};

fn env(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn rss_mib() -> f64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let kib: f64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .unwrap_or(0.0);
    kib / 1024.0
}

struct Counting;

static LIVE: AtomicUsize = AtomicUsize::new(0);
static PEAK: AtomicUsize = AtomicUsize::new(0);

// SAFETY: forwards to the system allocator and only counts.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, l: Layout) -> *mut u8 {
        let n = LIVE.fetch_add(l.size(), Ordering::Relaxed) + l.size();
        PEAK.fetch_max(n, Ordering::Relaxed);
        unsafe { System.alloc(l) }
    }
    unsafe fn dealloc(&self, p: *mut u8, l: Layout) {
        LIVE.fetch_sub(l.size(), Ordering::Relaxed);
        unsafe { System.dealloc(p, l) }
    }
    unsafe fn realloc(&self, p: *mut u8, l: Layout, new: usize) -> *mut u8 {
        if new > l.size() {
            let n = LIVE.fetch_add(new - l.size(), Ordering::Relaxed) + new - l.size();
            PEAK.fetch_max(n, Ordering::Relaxed);
        } else {
            LIVE.fetch_sub(l.size() - new, Ordering::Relaxed);
        }
        unsafe { System.realloc(p, l, new) }
    }
}

#[global_allocator]
static ALLOC: Counting = Counting;

fn mib(n: usize) -> f64 {
    n as f64 / (1024.0 * 1024.0)
}

unsafe extern "C" {
    fn malloc_trim(pad: usize) -> i32;
}

fn main() {
    let series = env("SERIES", 21_000);
    let minutes = env("MINUTES", 30);
    let dir = tempfile::tempdir().expect("temp dir");
    let cfg = TrendConfig {
        compact_after: Duration::from_secs(120),
        compact_every: Duration::from_secs(3600 * 24),
        queue: 4096,
        cache_bytes: u64::try_from(env("CACHE_MIB", 64)).unwrap_or(64) << 20,
        ..TrendConfig::default()
    };
    let store = TrendStore::open(dir.path(), &cfg).expect("open");
    let clock = Arc::new(ManualClock::new(1_700_000_000));
    let engine = Engine::with_clock(
        EngineConfig {
            // As the soak: five minutes of intervals in memory, full within the warm-up.
            ring: 30,
            pull_log: env("PULL_LOG", 4096),
            limits: Limits {
                max_push_nodes: 1_000_000,
                ..Limits::default()
            },
            ..EngineConfig::default()
        },
        clock.clone(),
    )
    .expect("engine");
    store.attach(&engine);
    let paths: Vec<String> = (0..series)
        .map(|i| format!("soak,host{},metric{},v", i / 100, i % 100))
        .collect();
    println!("minute  rss_mib  folded  chunks  compact_s");
    for minute in 0..minutes {
        for round in 0..6u32 {
            let mut b = Batch::new();
            for (i, p) in paths.iter().enumerate() {
                let v = u32::try_from(i % 1000).unwrap_or(0) + round;
                b.sample(p, f64::from(v), None);
            }
            engine.apply(&b).expect("push");
            clock.advance(10);
            engine.close_due().expect("close");
        }
        store.sync().expect("sync");
        PEAK.store(LIVE.load(Ordering::Relaxed), Ordering::Relaxed);
        let live0 = mib(LIVE.load(Ordering::Relaxed));
        let t = std::time::Instant::now();
        let st = store.compact_now().expect("compact");
        let before = rss_mib();
        if std::env::var_os("TRIM").is_some() {
            // SAFETY: glibc's malloc_trim takes a pad size and touches only the heap.
            unsafe { malloc_trim(0) };
        }
        println!(
            "{minute:6}  {before:7.1} {:7.1}  {:6}  {:6}  {:9.2}  live {live0:.1} -> {:.1} peak {:.1}",
            rss_mib(),
            st.intervals,
            st.chunks_written,
            t.elapsed().as_secs_f64(),
            mib(LIVE.load(Ordering::Relaxed)),
            mib(PEAK.load(Ordering::Relaxed)),
        );
    }
    if std::env::var_os("LEAVE").is_some() {
        // Exit without dropping, so a heap profiler lists what was live as "leaked".
        std::process::exit(0);
    }
}
