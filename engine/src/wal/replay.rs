//! Replay on start: every segment is read frame by frame (never whole: a 1 GB log
//! costs one record of memory at a time) up to its end or its zeroed (preallocated)
//! tail, records above the trend store's WAL mark are
//! merged again into the interval they first went to, and a damaged tail is cut off
//! the file so that later appends follow good frames.
//!
//! Idempotent by construction: records at or below the mark are in the store already
//! (skipped); records above it are not, and replay itself logs nothing, so whatever
//! replay closed and the store persisted before a crash is skipped on the next start,
//! and the rest is merged again onto the totals the store restored.

use std::fs::{File, OpenOptions};
use std::io::{BufReader, ErrorKind as IoKind, Read};
use std::path::Path;
use std::sync::Arc;

use super::codec::{self, FRAME_HEADER, Frame, MAX_PAYLOAD};
use super::segment_files;
use super::state::{Segment, WalMetrics};
use crate::{ClosedInterval, Engine};

/// What a replay found.
#[derive(Debug, Default)]
pub struct ReplayReport {
    /// Segment files read.
    pub segments: usize,
    /// Records merged again.
    pub replayed: u64,
    /// Records the trend store already held.
    pub skipped: u64,
    /// Records refused by the engine on replay (e.g. a limit lowered since).
    pub refused: u64,
    /// Torn or corrupt records dropped.
    pub torn: u64,
    /// Highest sequence number seen (in the segments or the mark): the log goes on
    /// after it.
    pub last_seq: u64,
    /// Segments that hold replayed records: deleted once the store's mark covers them.
    pub leftovers: Vec<Segment>,
}

/// Replays the segments in `dir` into `engine`. `mark` is the trend store's WAL mark;
/// `after_close` runs after each interval replay closes (the server waits there until
/// the store has it, so a long replay cannot overflow the store's queue).
///
/// # Errors
/// The folder or a segment cannot be read or cut back. Damaged records are not
/// errors: they are dropped, counted and logged.
pub fn replay(
    engine: &Engine,
    dir: &Path,
    mark: u64,
    metrics: &WalMetrics,
    after_close: &dyn Fn(&Arc<ClosedInterval>),
) -> std::io::Result<ReplayReport> {
    let mut report = ReplayReport {
        last_seq: mark,
        ..ReplayReport::default()
    };
    for path in segment_files(dir)? {
        report.segments += 1;
        let mut seg = Segment {
            path: path.clone(),
            interval: i64::MIN,
            max_seq: 0,
            bytes: 0,
        };
        let mut reader = BufReader::with_capacity(1 << 20, File::open(&path)?);
        let mut buf = Vec::new();
        let mut good_end: u64 = 0;
        let mut at: u64 = 0;
        let mut replayed_here = 0u64;
        let tail = loop {
            match next_frame(&mut reader, &mut buf)? {
                Next::End => break None,
                Next::Torn => break Some("torn (the write was cut short)"),
                Next::Frame => {}
            }
            at += buf.len() as u64;
            match codec::read_frame(&buf) {
                Frame::Good(rec, _) => {
                    good_end = at;
                    seg.max_seq = seg.max_seq.max(rec.seq);
                    seg.interval = rec.interval;
                    report.last_seq = report.last_seq.max(rec.seq);
                    if rec.seq <= mark {
                        report.skipped += 1;
                        metrics.skipped.inc();
                        continue;
                    }
                    match engine.replay_record(rec) {
                        Ok(closed) => {
                            if let Some(c) = closed {
                                after_close(&c);
                            }
                            report.replayed += 1;
                            replayed_here += 1;
                            metrics.replayed.inc();
                        }
                        Err(e) => {
                            report.refused += 1;
                            tracing::warn!("write-ahead log replay: a record was refused: {e}");
                        }
                    }
                }
                Frame::Bad(_) => {
                    report.torn += 1;
                    metrics.torn.inc();
                    tracing::warn!(
                        "write-ahead log: {}: record at byte {} has a bad checksum; dropped",
                        path.display(),
                        at - buf.len() as u64
                    );
                }
                Frame::Torn => break Some("torn"),
                // `next_frame` stops at the zeroed tail before handing a frame over.
                Frame::End => break None,
            }
        };
        // A bad frame right at the end (before the end of the file or its zeroed
        // tail) is the last write gone wrong, like a torn one: the file is cut back to
        // the last good frame either way.
        let cut = match tail {
            Some(why) => Some(why),
            // In a preallocated segment a write cut short leaves a whole frame of
            // zeros after the part written: it reads as a bad checksum too.
            None if good_end < at => Some("torn or corrupt (bad checksum)"),
            None => None,
        };
        if let Some(why) = cut {
            if tail.is_some() {
                report.torn += 1;
                metrics.torn.inc();
            }
            tracing::warn!(
                "write-ahead log: {}: last record {why}; dropped, {} bytes kept",
                path.display(),
                good_end
            );
            let f = OpenOptions::new().write(true).open(&path)?;
            f.set_len(good_end)?;
            f.sync_all()?;
        }
        seg.bytes = good_end;
        if replayed_here == 0 {
            // Every record is in the store (or none was readable): nothing to keep.
            std::fs::remove_file(&path)?;
        } else {
            report.leftovers.push(seg);
        }
    }
    if let Some(c) = engine.close_due() {
        after_close(&c);
    }
    Ok(report)
}

enum Next {
    Frame,
    Torn,
    End,
}

/// Reads the next whole frame into `buf`.
fn next_frame(r: &mut impl Read, buf: &mut Vec<u8>) -> std::io::Result<Next> {
    buf.clear();
    buf.resize(FRAME_HEADER, 0);
    let got = read_full(r, &mut buf[..])?;
    // The end of the file, or the zeros of a preallocated segment after its records.
    if got == 0 || codec::is_end(&buf[..got]) {
        return Ok(Next::End);
    }
    if got < FRAME_HEADER {
        return Ok(Next::Torn);
    }
    let len = u32::from_le_bytes([buf[0], buf[1], buf[2], buf[3]]) as usize;
    if len > MAX_PAYLOAD {
        return Ok(Next::Torn);
    }
    buf.resize(FRAME_HEADER + len, 0);
    let got = read_full(r, &mut buf[FRAME_HEADER..])?;
    Ok(if got < len { Next::Torn } else { Next::Frame })
}

/// Reads until `buf` is full or the end; how many bytes came.
fn read_full(r: &mut impl Read, buf: &mut [u8]) -> std::io::Result<usize> {
    let mut n = 0;
    while n < buf.len() {
        match r.read(&mut buf[n..]) {
            Ok(0) => break,
            Ok(k) => n += k,
            Err(e) if e.kind() == IoKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(n)
}
