//! Memory per leaf in a 1M-leaf tree (issue 2, acceptance 7), measured with a counting
//! allocator: every byte the process holds after building the tree, divided by leaves.
//!
//! `cargo bench -p treestat-engine --bench memory`

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicUsize, Ordering};

use treestat_engine::{Engine, EngineConfig};

struct Counting;

static HELD: AtomicUsize = AtomicUsize::new(0);

// SAFETY: forwards to the system allocator and only counts.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        HELD.fetch_add(layout.size(), Ordering::Relaxed);
        // SAFETY: same contract as ours.
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        HELD.fetch_sub(layout.size(), Ordering::Relaxed);
        // SAFETY: same contract as ours.
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        HELD.fetch_add(new_size, Ordering::Relaxed);
        HELD.fetch_sub(layout.size(), Ordering::Relaxed);
        // SAFETY: same contract as ours.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static ALLOC: Counting = Counting;

fn main() {
    // Criterion passes `--bench`; this target takes no options.
    for (label, hosts, metrics, name) in [
        ("1000 hosts x 1000 metrics", 1000, 1000, "metric"),
        ("100k hosts x 10 metrics", 100_000, 10, "cpu_user_percent"),
    ] {
        let cfg = EngineConfig {
            pull_log: 0,
            ..EngineConfig::default()
        };
        let before = HELD.load(Ordering::Relaxed);
        let e = Engine::new(cfg).unwrap();
        for h in 0..hosts {
            let mut doc = format!(r#"{{"10.{}.{}.{}":{{"#, h / 65536, h / 256 % 256, h % 256);
            for m in 0..metrics {
                if m > 0 {
                    doc.push(',');
                }
                doc.push_str(&format!(r#""{name}{m:03}":{m}"#));
            }
            doc.push_str("}}");
            e.push_json(doc.as_bytes()).unwrap();
        }
        // Close the open interval so its per-leaf entries are not counted as the tree's.
        e.close_now();
        let ring_bytes = e.stats().ring_bytes;
        let held = HELD.load(Ordering::Relaxed) - before - ring_bytes;
        let leaves = e.stats().leaves;
        #[allow(clippy::cast_precision_loss)]
        let per_leaf = held as f64 / leaves as f64;
        println!(
            "memory: {label}: {leaves} leaves, {held} bytes held (ring excluded) = {per_leaf:.1} bytes/leaf"
        );
        drop(e);
    }
}
