//! The tailer: follows access logs and feeds their lines to a pipeline.
//!
//! - [`Tailer`] (follow.rs): reading, rotation, truncation, fingerprints.
//! - [`CheckpointStore`] (checkpoint.rs): where reading stopped, saved after each flush.
//! - [`run`]: the loop the CLI and the server use: poll, feed, flush every interval,
//!   checkpoint, until stopped or (`once`) until the files are read to their end.
//! - [`run_stream`] (stream.rs): standard input or a gzip file, read once to its end.

mod checkpoint;
mod follow;
mod stream;

pub use checkpoint::{Checkpoint, CheckpointStore, FileCheckpoints, fnv1a};
pub use follow::{FP_LEN, TailOptions, Tailer};
pub use stream::{open_stream, run_stream};

use std::time::{Duration, Instant};

use treestat_engine::stop::{CancellationToken, Wait};

use crate::error::{Error, ErrorKind};
use crate::pipeline::{Aggregate, Pipeline};

/// How [`run`] paces itself.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunOptions {
    /// Time between polls when nothing new was read. Default 250 ms.
    pub poll: Duration,
    /// Time between flushes. Default 10 s (the engine's interval).
    pub flush_every: Duration,
    /// Read to the end of every file, flush, and return.
    pub once: bool,
}

impl Default for RunOptions {
    fn default() -> Self {
        RunOptions {
            poll: Duration::from_millis(250),
            flush_every: Duration::from_secs(10),
            once: false,
        }
    }
}

/// What a run did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RunStats {
    /// Lines read from the files.
    pub lines: u64,
    /// Flushes done.
    pub flushes: u64,
}

impl std::ops::AddAssign for RunStats {
    fn add_assign(&mut self, other: RunStats) {
        self.lines += other.lines;
        self.flushes += other.flushes;
    }
}

/// The `flush` for [`run`] that applies each interval to an in-process engine.
pub fn engine_sink(
    engine: &treestat_engine::Engine,
) -> impl FnMut(Aggregate) -> Result<(), Error> + '_ {
    move |agg: Aggregate| {
        agg.apply_to(engine)
            .map(|_| ())
            .map_err(|e| Error::new(ErrorKind::Engine, format!("tail: {e}")))
    }
}

/// Polls `tailer`, feeds `pipeline`, and every `flush_every` hands the interval's
/// updates to `flush` (e.g. `|agg| agg.apply_to(&engine)` in process, or a push to a
/// server), then saves checkpoints: a restart resumes after the last flushed line.
/// Stops when `stop` is cancelled (after a last flush), or in `once` mode when a poll finds
/// nothing new. `progress` is called after each poll with (bytes read, bytes total).
///
/// # Errors
/// I/O errors reading files or saving checkpoints, and errors returned by `flush`
/// (checkpoints are then not advanced).
pub fn run(
    tailer: &mut Tailer,
    pipeline: &mut Pipeline,
    opts: &RunOptions,
    stop: &CancellationToken,
    flush: &mut dyn FnMut(Aggregate) -> Result<(), Error>,
    progress: &mut dyn FnMut(u64, u64),
) -> Result<RunStats, Error> {
    let io = |e: std::io::Error| Error::new(ErrorKind::Io, format!("tail: {e}"));
    let mut stats = RunStats::default();
    let mut last_flush = Instant::now();
    loop {
        let n = tailer
            .poll(&mut |line| {
                pipeline.feed_bytes(line);
            })
            .map_err(io)?;
        stats.lines += n;
        let (done, total) = tailer.progress();
        progress(done, total);
        let stopping = stop.is_cancelled() || (opts.once && n == 0);
        if stopping || last_flush.elapsed() >= opts.flush_every {
            flush(pipeline.take_updates())?;
            tailer.checkpoint().map_err(io)?;
            stats.flushes += 1;
            last_flush = Instant::now();
        }
        if stopping {
            return Ok(stats);
        }
        if n == 0 {
            // Wakes at once when stopped: the last flush need not wait for a poll.
            stop.wait(opts.poll);
        }
    }
}
