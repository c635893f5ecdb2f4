//! The writer thread: takes what senders queued, frames it into the current segment
//! with one `write` per group, fsyncs (every group in `sync` mode, every `wal_flush` in
//! `batch` mode), tells waiting senders how far the log is durable, and deletes the
//! segments the trend store holds.

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::Sender;
use std::time::{Duration, Instant};

use super::{Inner, MarkProbe, Pending, Segment, WalMetrics, codec};
use crate::telemetry::HealthFlag;
/// The segment being appended to: always the last of `Writer::segments`.
pub(super) struct Current {
    pub(super) file: File,
}

pub(super) struct Writer {
    pub(super) dir: PathBuf,
    pub(super) sync_each: bool,
    pub(super) flush: Duration,
    pub(super) mark: MarkProbe,
    pub(super) segments: Vec<Segment>,
    pub(super) cur: Option<Current>,
    pub(super) bytes: Arc<AtomicU64>,
    pub(super) metrics: WalMetrics,
    pub(super) health: Option<HealthFlag>,
    /// In an error episode (logged once).
    pub(super) failing: bool,
    /// After a failure, no new segment is tried before this (a full disk must not get
    /// a new empty file per group of records); records meanwhile are not logged.
    pub(super) pause_until: Option<Instant>,
    pub(super) owner: std::sync::Weak<Inner>,
    /// The queue's side of the handle (the writer ends when told to stop).
    pub(super) inner: Arc<Inner>,
}

/// Records gathered into one write at most (a burst is written in pieces this large).
pub(super) const GROUP_BYTES: usize = 4 << 20;
/// How long after a failed write the writer tries a new segment.
const RETRY_AFTER: Duration = Duration::from_secs(1);
/// How often the writer in `batch` mode writes what is queued (without fsync): what a
/// killed process can lose at most; a power cut loses at most `wal_flush`.
const WRITE_EVERY: Duration = Duration::from_millis(50);
/// How often an idle writer looks for segments to delete.
const IDLE_CHECK: Duration = Duration::from_millis(500);

impl Writer {
    /// Takes what is queued: in `sync` as soon as there is anything; in `batch` every
    /// [`WRITE_EVERY`] (or once a group's worth is queued).
    fn take(
        &self,
        unsynced: bool,
        last_sync: Instant,
        data: &mut Vec<u8>,
    ) -> (Vec<Pending>, Option<Sender<()>>) {
        let i = &*self.inner;
        let mut q = i.queue.lock();
        if self.sync_each {
            while q.recs.is_empty() && q.stop.is_none() {
                if i.wake.wait_for(&mut q, IDLE_CHECK).timed_out() {
                    break;
                }
            }
        } else if q.bytes < GROUP_BYTES && q.stop.is_none() {
            let wait = if unsynced {
                self.flush
                    .saturating_sub(last_sync.elapsed())
                    .min(WRITE_EVERY)
            } else {
                WRITE_EVERY
            };
            let _ = i.wake.wait_for(&mut q, wait);
        }
        q.bytes = 0;
        // The emptied buffer of the last round goes back: no allocation per round.
        data.clear();
        std::mem::swap(&mut q.data, data);
        (std::mem::take(&mut q.recs), q.stop.take())
    }

    pub(super) fn run(mut self) {
        let mut buf: Vec<u8> = Vec::with_capacity(1 << 20);
        let mut last_sync = Instant::now();
        let mut unsynced = false;
        // Highest sequence number written.
        let mut written = 0u64;
        let mut data = Vec::new();
        loop {
            let (recs, stop) = self.take(unsynced, last_sync, &mut data);
            for Pending {
                seq,
                interval,
                len,
                now,
                start,
                end,
            } in recs
            {
                let switch = self.cur.is_none()
                    || self.segments.last().is_none_or(|s| s.interval != interval);
                let paused = self.pause_until.is_some_and(|t| Instant::now() < t);
                if switch && !paused {
                    self.write_out(&mut buf);
                    if unsynced {
                        self.fsync();
                    }
                    self.cur = None;
                    self.create(seq, interval);
                }
                codec::frame(&mut buf, seq, interval, len, now, &data[start..end]);
                if let (Some(_), Some(s)) = (&self.cur, self.segments.last_mut()) {
                    s.max_seq = seq;
                }
                self.metrics.records.inc();
                written = seq;
                unsynced = true;
                if buf.len() >= GROUP_BYTES {
                    self.write_out(&mut buf);
                }
            }
            self.write_out(&mut buf);
            if unsynced && (self.sync_each || stop.is_some() || last_sync.elapsed() >= self.flush) {
                self.fsync();
                last_sync = Instant::now();
                unsynced = false;
                self.publish(written);
            }
            self.truncate();
            if let Some(ack) = stop {
                self.publish(u64::MAX);
                let _ = ack.send(());
                return;
            }
        }
    }

    /// Tells waiting senders how far the log is durable.
    fn publish(&self, seq: u64) {
        let Some(inner) = self.owner.upgrade() else {
            return;
        };
        inner.durable.send_replace(seq);
        let (m, cv) = &*inner.durable_blocking;
        *m.lock() = seq;
        cv.notify_all();
    }

    fn create(&mut self, seq: u64, interval: i64) {
        let path = self.dir.join(format!("{seq:020}.wal"));
        let made = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&path)
            .and_then(|f| {
                // The new name must survive a crash too.
                File::open(&self.dir)?.sync_all()?;
                Ok(f)
            });
        match made {
            Ok(file) => {
                self.segments.push(Segment {
                    path,
                    interval,
                    max_seq: seq,
                    bytes: 0,
                });
                self.cur = Some(Current { file });
            }
            Err(e) => self.failed("creating a segment", &path, &e),
        }
    }

    fn write_out(&mut self, buf: &mut Vec<u8>) {
        if buf.is_empty() {
            return;
        }
        let n = buf.len() as u64;
        let Some(c) = &mut self.cur else {
            // No segment (creating it failed): these records are not logged.
            self.bytes.fetch_sub(n, Ordering::Relaxed);
            buf.clear();
            return;
        };
        let seg = self.segments.len() - 1;
        match c.file.write_all(buf) {
            Ok(()) => {
                self.segments[seg].bytes += n;
                self.metrics.bytes.add(n);
                self.ok();
            }
            Err(e) => {
                self.bytes.fetch_sub(n, Ordering::Relaxed);
                let path = self.segments[seg].path.clone();
                self.failed("writing", &path, &e);
                // Start a fresh file for what comes next rather than append after a
                // partial write.
                self.cur = None;
            }
        }
        buf.clear();
    }

    fn fsync(&mut self) {
        let Some(c) = &self.cur else {
            return;
        };
        let started = Instant::now();
        let done = c.file.sync_data();
        let micros = u64::try_from(started.elapsed().as_micros()).unwrap_or(u64::MAX);
        self.metrics.fsyncs.inc();
        self.metrics.fsync_micros.add(micros);
        self.metrics
            .fsync_last_micros
            .set(i64::try_from(micros).unwrap_or(i64::MAX));
        if let Err(e) = done {
            let path = self.segments[self.segments.len() - 1].path.clone();
            self.failed("fsyncing", &path, &e);
            self.cur = None;
        }
    }

    /// Deletes the segments whose every record the trend store holds.
    fn truncate(&mut self) {
        let mark = (self.mark)();
        if !self.segments.iter().any(|s| s.max_seq <= mark) {
            return;
        }
        let last = self.segments.len() - 1;
        let mut keep = Vec::with_capacity(self.segments.len());
        for (i, s) in std::mem::take(&mut self.segments).into_iter().enumerate() {
            if s.max_seq > mark {
                keep.push(s);
                continue;
            }
            if i == last {
                // Later records of the same interval go to a new file.
                self.cur = None;
            }
            match std::fs::remove_file(&s.path) {
                Ok(()) => {
                    self.bytes.fetch_sub(s.bytes, Ordering::Relaxed);
                }
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                    self.bytes.fetch_sub(s.bytes, Ordering::Relaxed);
                }
                Err(e) => {
                    self.failed("deleting", &s.path, &e);
                    keep.push(s);
                }
            }
        }
        self.segments = keep;
    }

    fn failed(&mut self, what: &str, path: &Path, e: &std::io::Error) {
        self.metrics.errors.inc();
        self.pause_until = Some(Instant::now() + RETRY_AFTER);
        if !std::mem::replace(&mut self.failing, true) {
            tracing::error!(
                "write-ahead log: {what} {} failed: {e}; pushes meanwhile may not survive a \
                 crash (treestat_wal_errors_total counts each failure)",
                path.display()
            );
        }
        if let Some(h) = &self.health {
            h.degraded(format!(
                "write-ahead log: {what} {} failed: {e}",
                path.display()
            ));
        }
    }

    fn ok(&mut self) {
        self.pause_until = None;
        if std::mem::replace(&mut self.failing, false) {
            tracing::info!("write-ahead log: writing again");
            if let Some(h) = &self.health {
                h.ok();
            }
        }
    }
}
