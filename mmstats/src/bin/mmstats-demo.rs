//! A small mmstats writer: creates a stats file, prints its path, updates a few fields
//! `--count` times, optionally waits, and exits, leaving the file as the original does.
//! Useful to try `treestat mmstats slurp | poll | clean`; the crate's tests use it as a
//! writer in another process and to make a file whose process is gone.
//!
//! `mmstats-demo [--dir DIR] [--prefix P] [--count N] [--hold-ms MS]`

use std::path::PathBuf;
use std::time::Duration;

use treestat_mmstats::MmStats;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut dir: Option<PathBuf> = None;
    let mut prefix = String::from("demo.");
    let mut count: u64 = 100;
    let mut hold_ms: u64 = 0;
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        let mut value = || args.next().ok_or_else(|| format!("{a} needs a value"));
        match a.as_str() {
            "--dir" => dir = Some(PathBuf::from(value()?)),
            "--prefix" => prefix = value()?,
            "--count" => count = value()?.parse()?,
            "--hold-ms" => hold_ms = value()?.parse()?,
            _ => return Err(format!("unknown argument {a}; usage: mmstats-demo [--dir DIR] [--prefix P] [--count N] [--hold-ms MS]").into()),
        }
    }
    let mut b = MmStats::builder(&prefix);
    let hits = b.counter("hits");
    let load = b.gauge("load");
    let latency = b.timer("latency", 10);
    let state = b.text("state", 16);
    b.static_text("version", env!("CARGO_PKG_VERSION"));
    let stats = b.create(dir.as_deref())?;
    let (mut hits, mut load) = (stats.handle(hits)?, stats.handle(load)?);
    let (mut latency, mut state) = (stats.handle(latency)?, stats.handle(state)?);
    // The path first, so a reader can watch the updates.
    println!("{}", stats.path().display());
    std::io::Write::flush(&mut std::io::stdout())?;
    state.set("running");
    for i in 0..count {
        hits.inc();
        #[allow(clippy::cast_precision_loss, reason = "a demo value")]
        load.set((i % 10) as f64 / 10.0);
        latency.record(Duration::from_micros(100 + i % 50));
    }
    state.set("done");
    std::thread::sleep(Duration::from_millis(hold_ms));
    Ok(())
}
