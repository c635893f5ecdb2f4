//! Access-log lines at the relay: `text/plain` bodies and form `accesslog` fields on the
//! push path, and `PUT /raw` / `PUT /tornado` streams, run through a pipeline built as
//! the server's `[accesslog]` is (`[relay.accesslog]`, the same keys and default), one
//! per source as the server has (named `<name>-relay-push`, `-relay-raw`,
//! `-relay-tornado`, so their own counters under `_treestat,pipes,<name>` stay apart
//! from the upstream server's).
//!
//! The pipes' updates are flushed into the relay's engine after every batch of lines,
//! as the server flushes into its own after every request: the samples are filed in the
//! relay's open interval (the pipes do not date records by the log line's time, in the
//! server neither), and go upstream with that interval's time stamp.

use std::collections::HashMap;
use std::sync::atomic::Ordering;

use parking_lot::Mutex;
use treestat_engine::Engine;
use treestat_pipes::{Pipeline, PipelineConfig};

use super::counters::RelayCounters;
use crate::error::{Error, Result};

/// The sources and their pipeline name suffixes.
const SOURCES: [&str; 3] = ["push", "raw", "tornado"];

/// Longest log line taken, in bytes (the server's `web.line_limit` default); longer
/// lines are skipped and counted (`too_long` in the answer).
pub(super) const MAX_LINE: usize = 64 << 10;

/// Most lines handed to a pipeline in one call (then flushed into the engine).
pub(super) const BATCH_LINES: usize = 4096;

/// What the pipes made of a batch of lines.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(super) struct LogSummary {
    /// Lines handed to the pipes.
    pub lines: u64,
    /// Of which did not parse (counted by the pipes and skipped).
    pub bad_lines: u64,
    /// Samples the pipes merged into the relay's engine.
    pub samples: u64,
    /// Lines longer than [`MAX_LINE`], skipped.
    pub too_long: u64,
}

impl LogSummary {
    pub(super) fn add(&mut self, other: &LogSummary) {
        self.lines += other.lines;
        self.bad_lines += other.bad_lines;
        self.samples += other.samples;
        self.too_long += other.too_long;
    }
}

/// The relay's access-log pipelines, one per source.
pub(super) struct RelayLogs {
    pipelines: HashMap<&'static str, Mutex<Pipeline>>,
}

impl std::fmt::Debug for RelayLogs {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RelayLogs").finish_non_exhaustive()
    }
}

impl RelayLogs {
    /// Builds a pipeline per source from `cfg`.
    ///
    /// # Errors
    /// The configuration does not build (unknown format or pipe, a plugin that does
    /// not load), named `relay.accesslog`.
    pub(super) fn new(cfg: &PipelineConfig) -> Result<RelayLogs> {
        let mut pipelines = HashMap::new();
        for source in SOURCES {
            let mut c = cfg.clone();
            c.name = format!("{}-relay-{source}", cfg.name);
            let p = Pipeline::from_config(&c)
                .map_err(|e| Error::config(format!("relay.accesslog: {e}")))?;
            pipelines.insert(source, Mutex::new(p));
        }
        Ok(RelayLogs { pipelines })
    }

    /// Feeds `lines` (without line endings) to the pipeline of `source` and flushes its
    /// updates into `engine`. Blocking (the pipes may run Python): call it from a
    /// blocking thread.
    ///
    /// # Errors
    /// The engine refused the pipes' updates (a full tree), named.
    pub(super) fn lines(
        &self,
        engine: &Engine,
        counters: &RelayCounters,
        source: &str,
        lines: &[String],
    ) -> std::result::Result<LogSummary, String> {
        let pipeline = self
            .pipelines
            .get(source)
            .or_else(|| self.pipelines.get("push"))
            .ok_or_else(|| "no access-log pipeline".to_string())?;
        counters.close_due(engine);
        let mut p = pipeline.lock();
        let (lines_before, bad_before) = p.counts();
        for line in lines {
            p.feed_line(line);
        }
        let (lines_after, bad_after) = p.counts();
        let bad_lines = bad_after - bad_before;
        let handed = lines_after - lines_before + bad_lines;
        counters.log_lines.fetch_add(handed, Ordering::Relaxed);
        let summary = p
            .flush(engine)
            .map_err(|e| format!("the pipes' updates were refused: {e}"))?;
        drop(p);
        engine.wal_synced_blocking();
        Ok(LogSummary {
            lines: handed,
            bad_lines,
            samples: summary.samples as u64,
            too_long: 0,
        })
    }
}

/// Splits a byte stream into lines (`\n` or `\r\n`), bounded: a line longer than
/// [`MAX_LINE`] is skipped and counted, never held whole.
#[derive(Debug, Default)]
pub(super) struct LineSplitter {
    partial: Vec<u8>,
    /// The current line is over the limit: its bytes are dropped up to its end.
    skipping: bool,
    /// Lines skipped for their length.
    pub too_long: u64,
}

impl LineSplitter {
    /// Appends the complete lines of `chunk` to `out` (invalid UTF-8 replaced).
    pub(super) fn feed(&mut self, mut chunk: &[u8], out: &mut Vec<String>) {
        while !chunk.is_empty() {
            let (part, rest, ended) = match chunk.iter().position(|&b| b == b'\n') {
                Some(i) => (&chunk[..i], &chunk[i + 1..], true),
                None => (chunk, &[][..], false),
            };
            chunk = rest;
            if !self.skipping {
                if self.partial.len() + part.len() > MAX_LINE + 1 {
                    self.skipping = true;
                    self.too_long += 1;
                    self.partial.clear();
                } else {
                    self.partial.extend_from_slice(part);
                }
            }
            if ended {
                if !self.skipping {
                    self.emit(out);
                }
                self.skipping = false;
                self.partial.clear();
            }
        }
    }

    /// The last line, when the stream did not end with a newline.
    pub(super) fn finish(&mut self, out: &mut Vec<String>) {
        if !self.skipping && !self.partial.is_empty() {
            self.emit(out);
        }
        self.partial.clear();
        self.skipping = false;
    }

    fn emit(&mut self, out: &mut Vec<String>) {
        let line = self.partial.strip_suffix(b"\r").unwrap_or(&self.partial);
        if line.len() > MAX_LINE {
            self.too_long += 1;
        } else if !line.is_empty() {
            out.push(String::from_utf8_lossy(line).into_owned());
        }
        self.partial.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_split_across_chunks_and_long_lines_are_skipped() {
        let mut s = LineSplitter::default();
        let mut out = Vec::new();
        s.feed(b"a b\r\nc", &mut out);
        s.feed(b" d\n\n", &mut out);
        let long = vec![b'x'; MAX_LINE + 10];
        s.feed(&long, &mut out);
        s.feed(b"yy\nlast", &mut out);
        s.finish(&mut out);
        assert_eq!(out, ["a b", "c d", "last"]);
        assert_eq!(s.too_long, 1);
    }
}
