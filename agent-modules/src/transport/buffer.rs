//! The bounded per-server buffer: documents waiting to be sent, oldest first, in memory
//! and optionally in a spool file behind it.
//!
//! Order is kept: the spool always holds older documents than memory, so the next to
//! send is the spool's head, else memory's. When memory is full the oldest memory
//! document moves to the spool (if it has room) or is dropped and counted. At shutdown,
//! what is left in memory is appended to the spool and replayed on the next start.
//! The spool's read position is not persisted while running (a graceful shutdown cuts
//! the sent part off the file): after a crash, documents sent since the spool was last
//! emptied are sent again.

use std::collections::VecDeque;
use std::fs::{File, OpenOptions};
use std::io::{BufRead, BufReader, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use crate::error::{Error, Result};

/// Documents waiting for one server.
#[derive(Debug)]
pub struct Buffer {
    memory: VecDeque<(u64, Vec<u8>)>,
    next_id: u64,
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
        let mut spool = spool.map(|(p, max)| Spool::open(p, max)).transpose()?;
        let mut next_id = 0;
        if let Some(s) = &mut spool {
            s.ids = (0..u64::try_from(s.count).unwrap_or(0)).collect();
            next_id = u64::try_from(s.count).unwrap_or(0);
        }
        Ok(Buffer {
            memory: VecDeque::with_capacity(capacity.min(1024)),
            next_id,
            capacity: capacity.max(1),
            spool,
            dropped: 0,
        })
    }

    /// Adds a document at the back; may move or drop the oldest in memory.
    pub fn push(&mut self, doc: Vec<u8>) {
        if self.memory.len() >= self.capacity
            && let Some((id, oldest)) = self.memory.pop_front()
        {
            let kept = match &mut self.spool {
                Some(s) => s.append(id, &oldest).unwrap_or_else(|e| {
                    tracing::warn!("spool: {e}");
                    false
                }),
                None => false,
            };
            if !kept {
                self.dropped += 1;
            }
        }
        self.memory.push_back((self.next_id, doc));
        self.next_id += 1;
    }

    /// The next document to send and its id, without removing it.
    pub fn peek(&mut self) -> Option<(u64, Vec<u8>)> {
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

    /// Removes the document [`Buffer::peek`] returned as `id`, if it is still the
    /// next one (it may have been dropped meanwhile to make room).
    pub fn pop(&mut self, id: u64) {
        if let Some(s) = &mut self.spool
            && s.count > 0
        {
            if s.ids.front() == Some(&id) {
                s.pop();
            }
            return;
        }
        if self.memory.front().is_some_and(|(i, _)| *i == id) {
            self.memory.pop_front();
        }
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
        if let Some(s) = &mut self.spool
            && let Err(e) = s.compact()
        {
            tracing::warn!("spool: {e}");
        }
        while let Some((id, doc)) = self.memory.pop_front() {
            let kept = match &mut self.spool {
                Some(s) => s.append(id, &doc).unwrap_or(false),
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
    ids: VecDeque<u64>,
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
            ids: VecDeque::new(),
            head: None,
        })
    }

    fn append(&mut self, id: u64, doc: &[u8]) -> Result<bool> {
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
        self.ids.push_back(id);
        Ok(true)
    }

    fn peek(&mut self) -> Result<Option<(u64, Vec<u8>)>> {
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
        let id = self.ids.front().copied().unwrap_or(0);
        Ok(self.head.clone().map(|h| (id, h)))
    }

    fn pop(&mut self) {
        if let Some(h) = self.head.take() {
            self.read_pos += u64::try_from(h.len()).unwrap_or(0) + 1;
        }
        self.count = self.count.saturating_sub(1);
        self.ids.pop_front();
        if self.count == 0 {
            self.clear();
        }
    }

    /// Drops the part already sent from the file, so a restart does not resend it.
    fn compact(&mut self) -> Result<()> {
        if self.read_pos == 0 {
            return Ok(());
        }
        let io = |e: std::io::Error| Error::io_at(&self.path, &e);
        let mut rest = Vec::new();
        let mut f = self.file.try_clone().map_err(io)?;
        f.seek(SeekFrom::Start(self.read_pos)).map_err(io)?;
        std::io::Read::read_to_end(&mut f, &mut rest).map_err(io)?;
        self.file.set_len(0).map_err(io)?;
        self.file.write_all(&rest).map_err(io)?;
        self.len = u64::try_from(rest.len()).unwrap_or(u64::MAX);
        self.read_pos = 0;
        self.head = None;
        Ok(())
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
        self.ids.clear();
        self.head = None;
        n
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn drain(b: &mut Buffer) -> Vec<String> {
        let mut out = Vec::new();
        while let Some((id, d)) = b.peek() {
            out.push(String::from_utf8(d).unwrap());
            b.pop(id);
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
        let (id, doc) = b.peek().unwrap();
        assert_eq!(doc, b"0");
        b.pop(id);
        b.persist();
        drop(b);
        let mut again = Buffer::new(2, Some((&path, 1 << 20))).unwrap();
        assert_eq!(drain(&mut again), ["1", "2", "3", "4", "5"]);
        assert_eq!(std::fs::metadata(&path).unwrap().len(), 0);
    }

    #[test]
    fn a_document_dropped_while_in_flight_is_not_popped_twice() {
        let mut b = Buffer::new(2, None).unwrap();
        b.push(b"0".to_vec());
        b.push(b"1".to_vec());
        let (id, _) = b.peek().unwrap();
        b.push(b"2".to_vec()); // drops "0" while it is being sent
        b.pop(id);
        assert_eq!(drain(&mut b), ["1", "2"]);
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
