//! treestat-mmstats: the mmstats version-1 file format ("/proc for your application").
//!
//! A program publishes counters and gauges into a memory-mapped file with no locks and no
//! syscalls after start ([`MmStats`]); readers ([`read_file`], [`StatsFile`]) never
//! disturb it. On top of the reader: the `treestat mmstats slurp | poll | clean` commands
//! ([`slurp`], [`poll`], [`clean`]) and the agent module's tree updates
//! ([`tree_updates`]). The format is described in `docs/MMSTATS.md`.
//!
//! ```no_run
//! use treestat_mmstats::MmStats;
//! let mut b = MmStats::builder("myapp.");
//! let hits = b.counter("hits");
//! let stats = b.create(None)?; // $MMSTATS_PATH or the temp dir
//! let mut hits = stats.handle(hits)?;
//! hits.inc();
//! # Ok::<(), treestat_mmstats::WriteError>(())
//! ```

mod commands;
mod format;
mod handles;
mod mem;
mod reader;
mod tree;
mod writer;

pub use commands::{CleanReport, SlurpReport, clean, default_files, expand_files, poll, slurp};
pub use format::{Kind, MAX_STRING_LEN, UNBUFFERED, VERSION_1, Value};
pub use handles::{Average, Counter, FieldHandle, Gauge, MovingAverage, Text, Timer, TimerGuard};
pub use reader::{Field, MAX_FIELDS, MAX_FILE_LEN, ReadError, StatsFile, parse, read_file};
pub use tree::{TreeUpdates, tree_updates};
pub use writer::{Builder, Decl, MmStats, PATH_ENV, WriteError, default_dir, gettid};
