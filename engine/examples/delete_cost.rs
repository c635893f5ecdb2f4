//! What a delete costs and how long pushes wait meanwhile (issue 18): a tree of
//! `N` leaves under `big,*` and `N` under `keep,*`, a few closed intervals in the ring,
//! then `big` deleted while another thread pushes one sample at a time and records the
//! longest push. Run: `cargo run -p treestat-engine --example delete_cost [N]`.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use treestat_engine::{Action, Batch, Engine, EngineConfig, Pattern};

fn main() {
    let n: usize = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(200_000);
    let mut cfg = EngineConfig::default();
    cfg.limits.max_nodes = 10 * n + 1000;
    cfg.limits.max_push_nodes = 2 * n + 1000;
    let engine = Engine::new(cfg).unwrap();
    for round in 0..3 {
        for top in ["big", "keep"] {
            let mut b = Batch::new();
            for i in 0..n {
                b.sample(&format!("{top},h{},{i}", i % 100), 1.0, Some(Action::Add));
            }
            engine.apply(&b).unwrap();
        }
        engine.close_now();
        eprintln!(
            "round {round}: {:?}; the close held the write lock {} us",
            engine.stats(),
            engine.metrics().close_lock_micros.get()
        );
    }
    let stop = Arc::new(AtomicBool::new(false));
    let pusher = {
        let (engine, stop) = (engine.clone(), stop.clone());
        std::thread::spawn(move || {
            let mut worst = Duration::ZERO;
            let mut pushes = 0u64;
            while !stop.load(Ordering::Relaxed) {
                let mut b = Batch::new();
                b.sample("keep,probe", 1.0, None);
                let t = Instant::now();
                engine.apply(&b).unwrap();
                worst = worst.max(t.elapsed());
                pushes += 1;
            }
            (worst, pushes)
        })
    };
    std::thread::sleep(Duration::from_millis(200));
    let t = Instant::now();
    let done = engine
        .delete(&Pattern::parse("big").unwrap(), false)
        .unwrap();
    let took = t.elapsed();
    std::thread::sleep(Duration::from_millis(200));
    stop.store(true, Ordering::Relaxed);
    let (worst, pushes) = pusher.join().unwrap();
    println!(
        "n={n}: delete of {} nodes ({} ring entries) took {:?}; {pushes} pushes meanwhile, \
         the longest {:?}; after: {:?}",
        done.nodes,
        done.ring_entries,
        took,
        worst,
        engine.stats()
    );
}
