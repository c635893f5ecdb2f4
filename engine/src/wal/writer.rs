//! The writer thread: takes what senders queued, frames it into the current segment
//! with one `write` per group, fsyncs (every group in `sync` mode, every `wal_flush` in
//! `batch` mode), tells waiting senders how far the log is durable, and deletes the
//! segments the trend store holds. A helper thread prepares the next segment (written
//! with zeros and fsynced) while the current one fills: see [`Spare`].

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{self, Receiver, Sender};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use super::codec;
use super::state::{Inner, MarkProbe, Pending, Segment, WalMetrics};
use crate::telemetry::HealthFlag;
/// The segment being appended to: always the last of `Writer::segments`.
pub(super) struct Current {
    pub(super) file: File,
    /// Where the next write goes (the bytes of records in it, for a prepared file).
    pub(super) at: u64,
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
    /// `engine.wal_segment_bytes`: a segment this full is followed by a new one (0: a
    /// segment takes its whole interval, and none is prepared).
    pub(super) segment_bytes: u64,
    /// The helper preparing the next segment (`sync` mode, `segment_bytes` above 0).
    pub(super) spare: Option<Spare>,
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
                let need = codec::frame_len(end - start) as u64;
                let switch = self.cur.is_none()
                    || self.segments.last().is_none_or(|s| s.interval != interval)
                    || self.is_full(buf.len() as u64, need);
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
                if let Some(s) = &mut self.spare {
                    s.stop();
                }
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

    /// Whether the current segment, with `buffered` bytes still to write, has no room
    /// for `need` more (a record larger than a segment still gets one of its own).
    fn is_full(&self, buffered: u64, need: u64) -> bool {
        let Some(c) = &self.cur else {
            return false;
        };
        let at = c.at + buffered;
        self.segment_bytes > 0 && at > 0 && at + need > self.segment_bytes
    }

    /// Starts the segment for record `seq`: the prepared spare renamed, or (preparing
    /// failed, counted) a new empty file that grows as it is written.
    fn create(&mut self, seq: u64, interval: i64) {
        let path = self.dir.join(format!("{seq:020}.wal"));
        let prepared = match self.spare.as_mut().map(|s| s.take(&path)) {
            Some(Ok(Some(f))) => Some(f),
            Some(Ok(None)) => {
                self.metrics.unprepared.inc();
                None
            }
            Some(Err(e)) => {
                self.metrics.unprepared.inc();
                self.metrics.errors.inc();
                tracing::warn!(
                    "write-ahead log: preparing a segment failed: {e}; {} grows as it is \
                     written (slower fsyncs)",
                    path.display()
                );
                None
            }
            None => None,
        };
        let made = match prepared {
            Some(file) => Ok(Current { file, at: 0 }),
            None => OpenOptions::new()
                .create(true)
                .append(true)
                .open(&path)
                .and_then(|file| {
                    let at = file.metadata()?.len();
                    Ok(Current { file, at })
                }),
        }
        .and_then(|c| {
            // The new name must survive a crash too.
            File::open(&self.dir)?.sync_all()?;
            Ok(c)
        });
        match made {
            Ok(cur) => {
                self.segments.push(Segment {
                    path,
                    interval,
                    max_seq: seq,
                    bytes: 0,
                });
                self.cur = Some(cur);
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
                c.at += n;
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

/// Name of the segment being prepared: not `*.wal`, so replay never reads it.
pub(super) const SPARE: &str = "next-segment.tmp";

/// The helper thread that prepares the next segment while the current one fills:
/// `segment_bytes` of zeros written and fsynced, so that appends to it overwrite
/// allocated, written blocks and `fdatasync` flushes the records alone (appending to
/// a growing file, or to `fallocate`d unwritten extents, makes ext4 journal the
/// allocation in every fsync: 4 ms rather than 0.15 ms here). Like PostgreSQL's WAL
/// segments, but zero-filled new rather than recycled, so no stale record can follow
/// the last one (replay stops at the first all-zero frame header).
pub(super) struct Spare {
    path: PathBuf,
    /// Asks the helper for one more file (dropped to stop it).
    ask: Option<Sender<()>>,
    ready: Receiver<std::io::Result<()>>,
    /// A file was asked for and has not been taken yet.
    asked: bool,
    thread: Option<JoinHandle<()>>,
}

impl Spare {
    /// Starts the helper, which prepares the first spare at once; `None` when
    /// `size` is 0 or the thread cannot start (segments then grow as written).
    pub(super) fn start(dir: &Path, size: u64) -> Option<Spare> {
        if size == 0 {
            return None;
        }
        let path = dir.join(SPARE);
        let (ask, asked) = mpsc::channel::<()>();
        let (done, ready) = mpsc::channel();
        let target = path.clone();
        let thread = std::thread::Builder::new()
            .name("wal-prepare".into())
            .spawn(move || {
                while asked.recv().is_ok() {
                    if done.send(zero_fill(&target, size)).is_err() {
                        break;
                    }
                }
            });
        match thread {
            Ok(h) => {
                let mut s = Spare {
                    path,
                    ask: Some(ask),
                    ready,
                    asked: false,
                    thread: Some(h),
                };
                s.ask();
                Some(s)
            }
            Err(e) => {
                tracing::warn!(
                    "write-ahead log: the thread preparing segments did not start: {e}; \
                     segments grow as they are written (slower fsyncs)"
                );
                None
            }
        }
    }

    fn ask(&mut self) {
        if let Some(a) = &self.ask {
            self.asked = a.send(()).is_ok();
        }
    }

    /// The prepared file renamed to `path` and opened (the next is asked for at once),
    /// waiting for the helper if it is still at it: it is asked as soon as the last
    /// one is taken, so it waits only when records come faster than the disk writes
    /// zeros, and a segment that grows as written would be slower for its whole life.
    /// `Ok(None)` when the helper is gone.
    fn take(&mut self, path: &Path) -> std::io::Result<Option<File>> {
        if !self.asked {
            self.ask();
            return Ok(None);
        }
        match self.ready.recv() {
            Ok(Ok(())) => {
                self.asked = false;
                let opened = std::fs::rename(&self.path, path)
                    .and_then(|()| OpenOptions::new().write(true).open(path));
                self.ask();
                opened.map(Some)
            }
            Ok(Err(e)) => {
                self.asked = false;
                self.ask();
                Err(e)
            }
            Err(_) => Ok(None),
        }
    }

    /// Stops the helper (after the file in hand) and deletes the spare: a stopped log
    /// holds no disk it does not need.
    fn stop(&mut self) {
        self.ask = None;
        if let Some(h) = self.thread.take() {
            let _ = h.join();
        }
        let _ = std::fs::remove_file(&self.path);
    }
}

/// Writes `size` zeros to a fresh file at `path` and fsyncs it.
fn zero_fill(path: &Path, size: u64) -> std::io::Result<()> {
    const CHUNK: u64 = 1 << 20;
    let mut f = OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .open(path)?;
    let zeros = vec![0u8; 1 << 20];
    let mut left = size;
    while left > 0 {
        let n = left.min(CHUNK);
        #[allow(clippy::cast_possible_truncation)] // at most CHUNK
        f.write_all(&zeros[..n as usize])?;
        left -= n;
    }
    f.sync_all()
}
