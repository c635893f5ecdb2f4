//! The bounded per-server buffer: documents waiting to be sent, oldest first, in memory
//! and optionally in a spool file behind it.
//!
//! Order is kept: the spool always holds older documents than memory, so the next to
//! send is the spool's head, else memory's. When memory is full the oldest memory
//! document moves to the spool (if it has room) or is dropped and counted. At shutdown,
//! what is left in memory is appended to the spool and replayed on the next start.
//! The spool's read position is not persisted: after a crash, documents sent since the
//! spool was last emptied are sent again.

use std::collections::VecDeque;
use std::fs::{File, OpenOptions};
use std::io::{BufRead, BufReader, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use crate::error::{Error, Result};

/// Documents waiting for one server.
#[derive(Debug)]
pub struct Buffer {
    memory: VecDeque<Vec<u8>>,
    capacity: usize,
    spool: Option<Spool>,
    dropped: u64,
}

impl Buffer {
    /// A buffer of `capacity` documents in memory, with an optional spool file.
    ///
    /// # Errors
    /// The spool file cannot be opened or read.
    pub fn new(capacity: usize, spool: Option<(&Path, u64)>) -> Result<Buffer> {
        let spool = spool.map(|(p, max)| Spool::open(p, max)).transpose()?;
        Ok(Buffer {
            memory: VecDeque::with_capacity(capacity.min(1024)),
            capacity: capacity.max(1),
            spool,
            dropped: 0,
        })
    }

    /// Adds a document at the back; may move or drop the oldest in memory.
    pub fn push(&mut self, doc: Vec<u8>) {
        if self.memory.len() >= self.capacity
            && let Some(oldest) = self.memory.pop_front()
        {
            let kept = match &mut self.spool {
                Some(s) => s.append(&oldest).unwrap_or_else(|e| {
                    tracing::warn!("spool: {e}");
                    false
                }),
                None => false,
            };
            if !kept {
                self.dropped += 1;
            }
        }
        self.memory.push_back(doc);
    }

    /// The next document to send, without removing it.
    pub fn peek(&mut self) -> Option<Vec<u8>> {
        if let Some(s) = &mut self.spool {
            match s.peek() {
                Ok(Some(doc)) => return Some(doc),
                Ok(None) => {}
                Err(e) => {
                    tracing::warn!("spool: {e}; its remaining documents are dropped");
                    self.dropped += s.clear();
                }
            }
        }
        self.memory.front().cloned()
    }

    /// Removes the document [`Buffer::peek`] returned.
    pub fn pop(&mut self) {
        if let Some(s) = &mut self.spool
            && s.count > 0
        {
            s.pop();
            return;
        }
        self.memory.pop_front();
    }

    /// Documents waiting (memory and spool).
    pub fn len(&self) -> usize {
        self.memory.len() + self.spool.as_ref().map_or(0, |s| s.count)
    }

    /// True when nothing waits.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Documents dropped because the buffer was full.
    pub fn dropped(&self) -> u64 {
        self.dropped
    }

    /// Saves what is left in memory to the spool (at shutdown); without a spool they
    /// are dropped and counted.
    pub fn persist(&mut self) {
        while let Some(doc) = self.memory.pop_front() {
            let kept = match &mut self.spool {
                Some(s) => s.append(&doc).unwrap_or(false),
                None => false,
            };
            if !kept {
                self.dropped += 1;
            }
        }
        if let Some(s) = &mut self.spool
            && let Err(e) = s.file.flush()
        {
            tracing::warn!("spool {}: {e}", s.path.display());
        }
    }
}

/// A file of newline-separated documents with a read position.
#[derive(Debug)]
struct Spool {
    path: PathBuf,
    file: File,
    max_bytes: u64,
    len: u64,
    read_pos: u64,
    count: usize,
    head: Option<Vec<u8>>,
}

impl Spool {
    fn open(path: &Path, max_bytes: u64) -> Result<Spool> {
        let io = |e: std::io::Error| Error::io_at(path, &e);
        let file = OpenOptions::new()
            .read(true)
            .append(true)
            .create(true)
            .open(path)
            .map_err(io)?;
        let mut count = 0;
        let mut len = 0;
        let mut reader = BufReader::new(file.try_clone().map_err(io)?);
        let mut line = Vec::new();
        loop {
            line.clear();
            let n = reader.read_until(b'\n', &mut line).map_err(io)?;
            if n == 0 {
                break;
            }
            if line.ends_with(b"\n") {
                count += 1;
                len += u64::try_from(n).unwrap_or(0);
            } else {
                break;
            }
        }
        // A torn last line (crash while writing) is cut off.
        file.set_len(len).map_err(io)?;
        Ok(Spool {
            path: path.to_path_buf(),
            file,
            max_bytes,
            len,
            read_pos: 0,
            count,
            head: None,
        })
    }

    fn append(&mut self, doc: &[u8]) -> Result<bool> {
        let n = u64::try_from(doc.len())
            .unwrap_or(u64::MAX)
            .saturating_add(1);
        if self.len.saturating_add(n) > self.max_bytes || doc.contains(&b'\n') {
            return Ok(false);
        }
        let io = |e: std::io::Error| Error::io_at(&self.path, &e);
        self.file.write_all(doc).map_err(io)?;
        self.file.write_all(b"\n").map_err(io)?;
        self.len += n;
        self.count += 1;
        Ok(true)
    }

    fn peek(&mut self) -> Result<Option<Vec<u8>>> {
        if self.count == 0 {
            return Ok(None);
        }
        if self.head.is_none() {
            let io = |e: std::io::Error| Error::io_at(&self.path, &e);
            let mut f = self.file.try_clone().map_err(io)?;
            f.seek(SeekFrom::Start(self.read_pos)).map_err(io)?;
            let mut line = Vec::new();
            BufReader::new(f).read_until(b'\n', &mut line).map_err(io)?;
            if line.pop() != Some(b'\n') {
                return Err(Error::io_at(
                    &self.path,
                    &std::io::Error::other("truncated spool"),
                ));
            }
            self.head = Some(line);
        }
        Ok(self.head.clone())
    }

    fn pop(&mut self) {
        if let Some(h) = self.head.take() {
            self.read_pos += u64::try_from(h.len()).unwrap_or(0) + 1;
        }
        self.count = self.count.saturating_sub(1);
        if self.count == 0 {
            self.clear();
        }
    }

    /// Empties the file; returns how many documents were in it.
    fn clear(&mut self) -> u64 {
        let n = u64::try_from(self.count).unwrap_or(u64::MAX);
        if let Err(e) = self.file.set_len(0) {
            tracing::warn!("spool {}: {e}", self.path.display());
        }
        self.len = 0;
        self.read_pos = 0;
        self.count = 0;
        self.head = None;
        n
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn drain(b: &mut Buffer) -> Vec<String> {
        let mut out = Vec::new();
        while let Some(d) = b.peek() {
            out.push(String::from_utf8(d).unwrap());
            b.pop();
        }
        out
    }

    #[test]
    fn memory_only_drops_oldest_and_counts() {
        let mut b = Buffer::new(2, None).unwrap();
        for i in 0..5 {
            b.push(format!("{i}").into_bytes());
        }
        assert_eq!(b.dropped(), 3);
        assert_eq!(drain(&mut b), ["3", "4"]);
    }

    #[test]
    fn spool_keeps_order_and_survives_restart() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("spool");
        let mut b = Buffer::new(2, Some((&path, 1 << 20))).unwrap();
        for i in 0..6 {
            b.push(format!("{i}").into_bytes());
        }
        assert_eq!((b.len(), b.dropped()), (6, 0));
        assert_eq!(b.peek().unwrap(), b"0");
        b.pop();
        b.persist();
        drop(b);
        let mut again = Buffer::new(2, Some((&path, 1 << 20))).unwrap();
        assert_eq!(drain(&mut again), ["1", "2", "3", "4", "5"]);
        assert_eq!(std::fs::metadata(&path).unwrap().len(), 0);
    }

    #[test]
    fn full_spool_drops_and_counts() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("spool");
        let mut b = Buffer::new(1, Some((&path, 4))).unwrap();
        for i in 0..5 {
            b.push(format!("{i}").into_bytes());
        }
        // "0\n" and "1\n" fill the 4-byte spool; 2 and 3 are dropped; 4 is in memory.
        assert_eq!(b.dropped(), 2);
        assert_eq!(drain(&mut b), ["0", "1", "4"]);
    }
}
