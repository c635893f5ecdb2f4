//! The wire between the server and a pipe host: frames of `[u32 LE length][tag][payload]`
//! over the child's stdin and stdout.
//!
//! | tag | way | payload |
//! |---|---|---|
//! | `I` | to the host | JSON [`Hello`]: the pipe's config and the format's field names |
//! | `K` | from the host | the pipe's name: it is up |
//! | `E` | from the host | why the pipe did not start (UTF-8) |
//! | `B` | to the host | a batch of records (see [`encode_batch`]) |
//! | `F` | to the host | flush |
//! | `U` | from the host | the answer to `B` or `F`: updates and errors (see [`encode_updates`]) |
//! | `Q` | to the host | cleanup and exit |
//!
//! Records travel as they were parsed (line and spans), so the host does not parse
//! again; updates come back as binary rows. Everything is length-checked: a frame past
//! [`MAX_FRAME`] or a short payload is an error, never a panic.

use crate::pipeline::PipeConfig;
use serde::{Deserialize, Serialize};
use std::io::{self, Read, Write};
use treestat_pipe_api::{Action, Record, Span};

/// The largest frame either side accepts (bytes).
pub const MAX_FRAME: usize = 256 << 20;

/// Tags.
pub const INIT: u8 = b'I';
/// The pipe started; its name follows.
pub const READY: u8 = b'K';
/// The pipe did not start.
pub const FAILED: u8 = b'E';
/// A batch of records.
pub const BATCH: u8 = b'B';
/// Flush.
pub const FLUSH: u8 = b'F';
/// Updates (the answer to a batch or a flush).
pub const UPDATES: u8 = b'U';
/// Quit.
pub const QUIT: u8 = b'Q';

/// What a host is told to run.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Hello {
    /// The pipe's config, with `isolate` off and `budget` cleared (see `budget_ms`).
    pub pipe: PipeConfig,
    /// The pipe's time budget in milliseconds.
    pub budget_ms: u64,
    /// The format's field names, in order.
    pub fields: Vec<String>,
}

/// Writes one frame.
///
/// # Errors
/// The write failed (the other side is gone).
pub fn write_frame(w: &mut impl Write, tag: u8, payload: &[u8]) -> io::Result<()> {
    let len = u32::try_from(payload.len() + 1)
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "frame too large"))?;
    w.write_all(&len.to_le_bytes())?;
    w.write_all(&[tag])?;
    w.write_all(payload)?;
    w.flush()
}

/// A whole frame, header included, for a writer thread to send as is.
pub fn frame(tag: u8, payload: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(payload.len() + 5);
    // Payloads are built by this process and stay far below 4 GiB (MAX_FRAME).
    let len = u32::try_from(payload.len() + 1).unwrap_or(u32::MAX);
    out.extend_from_slice(&len.to_le_bytes());
    out.push(tag);
    out.extend_from_slice(payload);
    out
}

/// Reads one frame; `None` at a clean end of stream.
///
/// # Errors
/// A broken stream or a frame that is empty or larger than [`MAX_FRAME`].
pub fn read_frame(r: &mut impl Read) -> io::Result<Option<(u8, Vec<u8>)>> {
    let mut len = [0u8; 4];
    match r.read_exact(&mut len) {
        Ok(()) => {}
        Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => return Ok(None),
        Err(e) => return Err(e),
    }
    let len = usize::try_from(u32::from_le_bytes(len)).unwrap_or(usize::MAX);
    if len == 0 || len > MAX_FRAME {
        return Err(bad(format!("frame of {len} bytes")));
    }
    let mut buf = vec![0u8; len];
    r.read_exact(&mut buf)?;
    let tag = buf.remove(0);
    Ok(Some((tag, buf)))
}

fn bad(msg: impl Into<String>) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, msg.into())
}

fn put_u32(out: &mut Vec<u8>, n: usize) {
    // Lines are bounded far below 4 GiB (web.line_limit, the tailer's line cap).
    out.extend_from_slice(&u32::try_from(n).unwrap_or(u32::MAX).to_le_bytes());
}

/// Records of a batch being built: `[u32 fields]` then per record `[u32 len][line]
/// [fields x (u32 start, u32 end)]`.
#[derive(Debug, Default)]
pub struct BatchBuf {
    buf: Vec<u8>,
    records: usize,
}

impl BatchBuf {
    /// Appends a record; `fields` spans are written (short records padded as absent).
    pub fn push(&mut self, record: &Record<'_>, fields: usize) {
        if self.records == 0 {
            self.buf.clear();
            put_u32(&mut self.buf, fields);
        }
        let line = record.line();
        put_u32(&mut self.buf, line.len());
        self.buf.extend_from_slice(line.as_bytes());
        let spans = record.spans();
        for i in 0..fields {
            let s = spans.get(i).copied().unwrap_or(Span::ABSENT);
            self.buf.extend_from_slice(&s.start.to_le_bytes());
            self.buf.extend_from_slice(&s.end.to_le_bytes());
        }
        self.records += 1;
    }

    /// Records held.
    pub fn len(&self) -> usize {
        self.records
    }

    /// Whether it holds none.
    pub fn is_empty(&self) -> bool {
        self.records == 0
    }

    /// The frame of the batch; the buffer is empty afterwards.
    pub fn take_frame(&mut self) -> Vec<u8> {
        self.records = 0;
        frame(BATCH, &self.buf)
    }

    /// Forgets the records held.
    pub fn clear(&mut self) {
        self.records = 0;
        self.buf.clear();
    }
}

struct Cursor<'a>(&'a [u8]);

impl<'a> Cursor<'a> {
    fn u32(&mut self) -> io::Result<u32> {
        let (head, rest) = self
            .0
            .split_first_chunk::<4>()
            .ok_or_else(|| bad("short payload"))?;
        self.0 = rest;
        Ok(u32::from_le_bytes(*head))
    }
    fn bytes(&mut self, n: usize) -> io::Result<&'a [u8]> {
        if self.0.len() < n {
            return Err(bad("short payload"));
        }
        let (head, rest) = self.0.split_at(n);
        self.0 = rest;
        Ok(head)
    }
    fn f64(&mut self) -> io::Result<f64> {
        let b = self.bytes(8)?;
        let mut a = [0u8; 8];
        a.copy_from_slice(b);
        Ok(f64::from_le_bytes(a))
    }
}

fn usize_of(n: u32) -> usize {
    usize::try_from(n).unwrap_or(usize::MAX)
}

/// Calls `each(line, spans)` for every record of a batch payload.
///
/// # Errors
/// A payload that does not hold whole records, or a line that is not UTF-8.
pub fn decode_batch(payload: &[u8], mut each: impl FnMut(&str, &[Span])) -> io::Result<()> {
    let mut c = Cursor(payload);
    if payload.is_empty() {
        return Ok(());
    }
    let fields = usize_of(c.u32()?);
    let mut spans = Vec::with_capacity(fields);
    while !c.0.is_empty() {
        let len = usize_of(c.u32()?);
        let line = std::str::from_utf8(c.bytes(len)?).map_err(|e| bad(e.to_string()))?;
        spans.clear();
        for _ in 0..fields {
            let start = c.u32()?;
            let end = c.u32()?;
            spans.push(Span { start, end });
        }
        each(line, &spans);
    }
    Ok(())
}

/// An update the host sends back.
pub type Update = (String, f64, Option<Action>);

/// `[u64 errors]` then per update `[u32 len][path][f64 value][u8 action code, 255 none]`.
pub fn encode_updates(updates: &[Update], errors: u64) -> Vec<u8> {
    let mut out = Vec::with_capacity(8 + updates.len() * 32);
    out.extend_from_slice(&errors.to_le_bytes());
    for (path, value, action) in updates {
        put_u32(&mut out, path.len());
        out.extend_from_slice(path.as_bytes());
        out.extend_from_slice(&value.to_le_bytes());
        out.push(action.map_or(u8::MAX, Action::code));
    }
    out
}

/// Calls `each(path, value, action)` for every update of an updates payload; returns
/// the errors count.
///
/// # Errors
/// A payload that does not hold whole updates.
pub fn decode_updates(
    payload: &[u8],
    mut each: impl FnMut(&str, f64, Option<Action>),
) -> io::Result<u64> {
    let mut c = Cursor(payload);
    let lo = u64::from(c.u32()?);
    let hi = u64::from(c.u32()?);
    let errors = lo | (hi << 32);
    while !c.0.is_empty() {
        let len = usize_of(c.u32()?);
        let path = std::str::from_utf8(c.bytes(len)?).map_err(|e| bad(e.to_string()))?;
        let value = c.f64()?;
        let code = c.bytes(1)?[0];
        each(path, value, Action::from_code(code));
    }
    Ok(errors)
}

#[cfg(test)]
mod tests {
    use super::*;
    use treestat_pipe_api::Schema;

    #[test]
    fn batches_and_updates_round_trip() {
        let schema = Schema::new(["a", "b", "c"]);
        let mut b = BatchBuf::default();
        let spans = [Span::new(0, 1), Span::new(2, 3)];
        b.push(&Record::new(&schema, "x y", &spans), 3);
        b.push(&Record::new(&schema, "é", &[]), 3);
        let f = b.take_frame();
        let (tag, payload) = read_frame(&mut &f[..]).unwrap().unwrap();
        assert_eq!(tag, BATCH);
        let mut got = Vec::new();
        decode_batch(&payload, |l, s| got.push((l.to_string(), s.to_vec()))).unwrap();
        assert_eq!(got.len(), 2);
        assert_eq!(got[0].0, "x y");
        assert_eq!(got[0].1, vec![spans[0], spans[1], Span::ABSENT]);
        assert_eq!(got[1].1, vec![Span::ABSENT; 3]);
        assert!(decode_batch(&payload[..payload.len() - 1], |_, _| {}).is_err());

        let ups = vec![
            ("a,b".to_string(), 1.5, Some(Action::Add)),
            ("c".to_string(), -2.0, None),
        ];
        let p = encode_updates(&ups, 7);
        let mut back = Vec::new();
        let errors = decode_updates(&p, |path, v, a| back.push((path.to_string(), v, a))).unwrap();
        assert_eq!((errors, back), (7, ups));
        assert!(decode_updates(&p[..p.len() - 2], |_, _, _| {}).is_err());
        assert!(read_frame(&mut &[0u8, 0, 0, 0][..]).is_err());
        assert!(read_frame(&mut &[][..]).unwrap().is_none());
    }
}
