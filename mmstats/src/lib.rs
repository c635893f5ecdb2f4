//! treestat-mmstats: the mmstats version-1 file format ("/proc for your application").
//!
//! A program publishes counters and gauges into a memory-mapped file with no locks and no
//! syscalls after start ([`MmStats`]); readers ([`read_file`], [`StatsFile`]) never
//! disturb it. On top of the reader: the `treestat mmstats slurp | poll | clean` commands
//! ([`slurp`], [`poll`], [`clean`]) and the agent module's tree updates
//! ([`tree_updates`]). The format is described in `docs/MMSTATS.md`.
//!
//! ```no_run
//! use std::time::Duration;
//! use treestat_mmstats::MmStats;
//!
//! let mut b = MmStats::builder("myapp.");          // label prefix
//! let hits = b.counter("hits");                     // Q   inc(), add(n), set(v)
//! let load = b.gauge("load");                       // d   set(v)
//! let size = b.average("response.size");            // d   running mean: add(v)
//! let depth = b.moving_average("queue.depth", 100); // d   mean of the last 100 samples
//! let req = b.timer("request.time", 100);           // d   mean of the last 100 durations, s
//! let state = b.text("state", 16);                  // 16s set(&str)
//! b.static_text("version", "1.4.2").static_u64("workers", 8);
//! let stats = b.create(None)?;                      // $MMSTATS_PATH or the temp dir
//!
//! let mut hits = stats.handle(hits)?;               // one handle per field
//! hits.inc();
//! stats.handle(load)?.set(0.5);
//! stats.handle(size)?.add(512.0);
//! stats.handle(depth)?.add(3.0);
//! stats.handle(state)?.set("running");
//! let mut req = stats.handle(req)?;
//! {
//!     let _t = req.start(); // records the elapsed time when dropped
//! }
//! req.record(Duration::from_millis(12));
//! # Ok::<(), treestat_mmstats::WriteError>(())
//! ```

#![warn(missing_docs)]

mod commands;
mod error;
mod format;
mod handles;
mod layout;
mod mem;
mod reader;
mod tree;
mod writer;

pub use commands::{CleanReport, SlurpReport, clean, default_files, expand_files, poll, slurp};
pub use error::WriteError;
pub use format::{Kind, MAX_STRING_LEN, UNBUFFERED, VERSION_1, Value};
pub use handles::{Average, Counter, FieldHandle, Gauge, MovingAverage, Text, Timer, TimerGuard};
pub use reader::{Field, MAX_FIELDS, MAX_FILE_LEN, ReadError, StatsFile, parse, read_file};
pub use tree::{TreeUpdates, tree_updates};
pub use writer::{Builder, Decl, MmStats, PATH_ENV, default_dir, gettid};
