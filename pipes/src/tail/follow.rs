//! Following files: reads what was appended, notices rename rotation, copytruncate,
//! truncation and delete-and-recreate, and drains a rotated file to its end.
//!
//! A file is identified by device and inode plus an FNV hash of its first bytes (up to
//! [`FP_LEN`]); a changed head under the same inode means the file was truncated and
//! rewritten. After a restart, a checkpointed file that was rotated away meanwhile is
//! looked for beside the path (same inode and head) and finished from its checkpoint. Only complete lines are handed on; the offset just past the last one is
//! what a checkpoint records.
//!
//! Polling, not `notify`: every change that matters (a rename, a truncation, a new
//! inode) shows in one `stat` per file per poll, which costs nothing at a 250 ms
//! period; inotify misses copytruncate's effect on the offset, does not work on NFS,
//! and would still need a poller as a fallback. Polling also keeps the tests
//! deterministic: a test calls [`Tailer::poll`] and knows what was read.

use super::checkpoint::{Checkpoint, CheckpointStore, fnv1a};
use std::fs::File;
use std::io::{self, Read, Seek, SeekFrom};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

/// Head bytes covered by a file's fingerprint.
pub const FP_LEN: usize = 1024;
/// Bytes read per `read` call.
const CHUNK: usize = 256 * 1024;

/// How the tailer starts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TailOptions {
    /// Read files from their start when no checkpoint knows them (default: from the
    /// end, only new lines).
    pub from_start: bool,
    /// The longest line kept; longer ones are cut to this and still handed on (the
    /// format then counts them as bad). Default 64 KiB.
    pub max_line: usize,
}

impl Default for TailOptions {
    fn default() -> Self {
        TailOptions {
            from_start: false,
            max_line: crate::format::MAX_LINE,
        }
    }
}

struct Open {
    file: File,
    dev: u64,
    ino: u64,
    /// Next byte to read.
    read_at: u64,
    /// Just past the last complete line handed on.
    done: u64,
    partial: Vec<u8>,
    /// Bytes to drop before the first line (started mid-line at the end of a file).
    skip_to_newline: bool,
    fp: Option<(u64, u32)>,
}

impl Open {
    fn new(path: &Path) -> io::Result<Open> {
        let file = File::open(path)?;
        let md = file.metadata()?;
        Ok(Open {
            file,
            dev: md.dev(),
            ino: md.ino(),
            read_at: 0,
            done: 0,
            partial: Vec::new(),
            skip_to_newline: false,
            fp: None,
        })
    }

    /// The hash of the first `len` bytes, if the file has that many.
    fn head_hash(&mut self, len: usize) -> io::Result<Option<u64>> {
        let mut buf = vec![0u8; len];
        self.file.seek(SeekFrom::Start(0))?;
        let mut got = 0;
        while got < len {
            let n = self.file.read(&mut buf[got..])?;
            if n == 0 {
                return Ok(None);
            }
            got += n;
        }
        Ok(Some(fnv1a(&buf)))
    }

    /// Fingerprint of the head as it is now (grows until FP_LEN bytes exist).
    fn refresh_fp(&mut self, size: u64) -> io::Result<()> {
        let want = usize::try_from(size).unwrap_or(FP_LEN).min(FP_LEN);
        if want == 0 || self.fp.is_some_and(|(_, l)| l as usize >= want) {
            return Ok(());
        }
        if let Some(h) = self.head_hash(want)? {
            self.fp = Some((h, u32::try_from(want).unwrap_or(0)));
        }
        Ok(())
    }

    /// Whether the head still hashes as recorded.
    fn head_unchanged(&mut self) -> io::Result<bool> {
        match self.fp {
            None => Ok(true),
            Some((h, l)) => Ok(self.head_hash(l as usize)? == Some(h)),
        }
    }

    fn rewind(&mut self) {
        self.read_at = 0;
        self.done = 0;
        self.partial.clear();
        self.skip_to_newline = false;
        self.fp = None;
    }

    /// Reads to the end of the file, handing on every complete line.
    fn read_lines(&mut self, max_line: usize, sink: &mut dyn FnMut(&[u8])) -> io::Result<u64> {
        let mut lines = 0;
        let mut buf = vec![0u8; CHUNK];
        self.file.seek(SeekFrom::Start(self.read_at))?;
        loop {
            let n = self.file.read(&mut buf)?;
            if n == 0 {
                return Ok(lines);
            }
            let mut chunk = &buf[..n];
            let chunk_start = self.read_at;
            self.read_at += n as u64;
            let mut consumed = 0usize;
            while let Some(k) = chunk.iter().position(|&b| b == b'\n') {
                let piece = &chunk[..k];
                if self.skip_to_newline {
                    self.skip_to_newline = false;
                    self.partial.clear();
                } else if self.partial.is_empty() {
                    sink(piece);
                    lines += 1;
                } else {
                    let room = max_line.saturating_sub(self.partial.len());
                    self.partial
                        .extend_from_slice(&piece[..piece.len().min(room)]);
                    sink(&self.partial);
                    self.partial.clear();
                    lines += 1;
                }
                consumed += k + 1;
                self.done = chunk_start + consumed as u64;
                chunk = &chunk[k + 1..];
            }
            if !self.skip_to_newline {
                let room = max_line.saturating_sub(self.partial.len());
                self.partial
                    .extend_from_slice(&chunk[..chunk.len().min(room)]);
            }
        }
    }

    fn checkpoint(&self) -> Option<Checkpoint> {
        let (fingerprint, fp_len) = self.fp?;
        Some(Checkpoint {
            dev: self.dev,
            ino: self.ino,
            fingerprint,
            fp_len,
            offset: self.done,
        })
    }
}

struct Followed {
    path: PathBuf,
    key: String,
    cur: Option<Open>,
    draining: Vec<Open>,
    /// Polled at least once: a file appearing after the first poll is new.
    started: bool,
    /// Opened at least once: the checkpoint is consulted only then.
    opened: bool,
}

/// Follows a set of files.
pub struct Tailer {
    files: Vec<Followed>,
    opts: TailOptions,
    store: Box<dyn CheckpointStore>,
}

impl std::fmt::Debug for Tailer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let paths: Vec<_> = self
            .files
            .iter()
            .map(|f| f.path.display().to_string())
            .collect();
        f.debug_struct("Tailer").field("files", &paths).finish()
    }
}

impl Tailer {
    /// Follows `paths`; files that do not exist yet are picked up when they appear.
    pub fn new(paths: &[PathBuf], opts: TailOptions, store: Box<dyn CheckpointStore>) -> Tailer {
        let files = paths
            .iter()
            .map(|p| Followed {
                key: p.display().to_string(),
                path: p.clone(),
                cur: None,
                draining: Vec::new(),
                started: false,
                opened: false,
            })
            .collect();
        Tailer { files, opts, store }
    }

    /// Reads everything available now in every file and hands each complete line (no
    /// newline) to `sink`. Returns the number of lines.
    ///
    /// # Errors
    /// Only on unexpected I/O errors (a missing file is not one: it may come back).
    pub fn poll(&mut self, sink: &mut dyn FnMut(&[u8])) -> io::Result<u64> {
        let mut lines = 0;
        for i in 0..self.files.len() {
            lines += self.poll_one(i, sink)?;
        }
        Ok(lines)
    }

    fn poll_one(&mut self, i: usize, sink: &mut dyn FnMut(&[u8])) -> io::Result<u64> {
        let max_line = self.opts.max_line;
        let mut lines = 0;
        let f = &mut self.files[i];
        let at_startup = !f.started;
        f.started = true;
        let md = match std::fs::metadata(&f.path) {
            Ok(md) => Some(md),
            Err(e) if e.kind() == io::ErrorKind::NotFound => None,
            Err(e) => return Err(e),
        };
        let same = match (&f.cur, &md) {
            (Some(c), Some(md)) => c.dev == md.dev() && c.ino == md.ino(),
            _ => false,
        };
        if !same && let Some(old) = f.cur.take() {
            // Renamed away or deleted: finish what the writer put there.
            f.draining.push(old);
        }
        // Rotated files first: their lines are older.
        for old in &mut f.draining {
            lines += old.read_lines(max_line, sink)?;
        }
        if md.is_some() && f.cur.is_none() {
            let first_open = !f.opened;
            let open = match Open::new(&f.path) {
                Ok(o) => o,
                Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(lines),
                Err(e) => return Err(e),
            };
            f.opened = true;
            let key = f.key.clone();
            let saved = if first_open {
                self.store.load(&key)?
            } else {
                None
            };
            let f = &mut self.files[i];
            f.cur = Some(open);
            let cur = f.cur.as_mut().expect("just set");
            let size = cur.file.metadata()?.len();
            let resumed = position(cur, saved, at_startup, size, &self.opts)?;
            if let (Some(cp), false) = (saved, resumed)
                && let Some(mut old) = find_rotated(&f.path, &cp)?
            {
                // Rotated while we were away: finish it from the checkpoint first.
                lines += old.read_lines(max_line, sink)?;
                f.draining.push(old);
            }
        }
        let f = &mut self.files[i];
        if let Some(cur) = f.cur.as_mut() {
            let size = cur.file.metadata()?.len();
            if size < cur.read_at || !cur.head_unchanged()? {
                // copytruncate, or truncated and rewritten: the file starts over.
                cur.rewind();
            }
            lines += cur.read_lines(max_line, sink)?;
            cur.refresh_fp(cur.read_at.max(size))?;
            // A rotated file is done once the writer has moved on to the new one.
            if cur.read_at > 0 {
                for old in &mut f.draining {
                    lines += old.read_lines(max_line, sink)?;
                    if !old.partial.is_empty() {
                        sink(&old.partial);
                        old.partial.clear();
                        lines += 1;
                    }
                }
                f.draining.clear();
            }
        }
        Ok(lines)
    }

    /// Saves where every followed file stands. Call after the lines read so far have
    /// been handed to the engine.
    ///
    /// # Errors
    /// When the store cannot be written.
    pub fn checkpoint(&mut self) -> io::Result<()> {
        let entries: Vec<(String, Checkpoint)> = self
            .files
            .iter()
            .filter_map(|f| Some((f.key.clone(), f.cur.as_ref()?.checkpoint()?)))
            .collect();
        self.store.save(&entries)
    }

    /// Bytes read and total size of the followed files (for progress).
    pub fn progress(&self) -> (u64, u64) {
        let mut done = 0;
        let mut total = 0;
        for f in &self.files {
            if let Some(c) = &f.cur {
                done += c.read_at;
                total += c.file.metadata().map_or(c.read_at, |m| m.len());
            }
        }
        (done, total)
    }
}

/// Looks beside `path` for the file a checkpoint names (same device, inode and head),
/// renamed by rotation (`access.log.1`, `access.log-20240101`), and opens it at the
/// checkpoint's offset.
fn find_rotated(path: &Path, cp: &Checkpoint) -> io::Result<Option<Open>> {
    let (Some(dir), Some(name)) = (path.parent(), path.file_name()) else {
        return Ok(None);
    };
    let dir = if dir.as_os_str().is_empty() {
        Path::new(".")
    } else {
        dir
    };
    let name = name.to_string_lossy().into_owned();
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Ok(None);
    };
    for entry in entries.flatten() {
        let fname = entry.file_name().to_string_lossy().into_owned();
        if fname == name || !fname.starts_with(&name) {
            continue;
        }
        let Ok(md) = entry.metadata() else { continue };
        if md.dev() != cp.dev || md.ino() != cp.ino || md.len() < cp.offset {
            continue;
        }
        let Ok(mut open) = Open::new(&entry.path()) else {
            continue;
        };
        if open.head_hash(cp.fp_len as usize)? == Some(cp.fingerprint) {
            open.read_at = cp.offset;
            open.done = cp.offset;
            open.fp = Some((cp.fingerprint, cp.fp_len));
            return Ok(Some(open));
        }
    }
    Ok(None)
}

/// Where to start in a newly opened file. Returns whether it resumed from `saved`.
fn position(
    cur: &mut Open,
    saved: Option<Checkpoint>,
    at_startup: bool,
    size: u64,
    opts: &TailOptions,
) -> io::Result<bool> {
    if let Some(cp) = saved {
        if cp.dev == cur.dev
            && cp.ino == cur.ino
            && cp.offset <= size
            && cur.head_hash(cp.fp_len as usize)? == Some(cp.fingerprint)
        {
            cur.read_at = cp.offset;
            cur.done = cp.offset;
            cur.fp = Some((cp.fingerprint, cp.fp_len));
            return Ok(true);
        }
        // Known path, unknown file: it appeared while we were away; read it all.
        return Ok(false);
    }
    if at_startup && !opts.from_start && size > 0 {
        cur.read_at = size;
        cur.done = size;
        let mut last = [0u8; 1];
        cur.file.seek(SeekFrom::Start(size - 1))?;
        cur.file.read_exact(&mut last)?;
        cur.skip_to_newline = last[0] != b'\n';
        cur.refresh_fp(size)?;
    }
    Ok(false)
}
