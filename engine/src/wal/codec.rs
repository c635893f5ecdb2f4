//! The write-ahead log's record format, every encode and decode in one place.
//!
//! A segment file is a sequence of frames:
//!
//! ```text
//! frame   = len: u32 LE | crc: u32 LE (CRC32C of payload) | payload (len bytes)
//! payload = seq: u64 | interval start: i64 | interval len: i64 | now: i64 | body
//! body    = 0 | push document      (a JSON push, already parsed and validated)
//!         | 1 | batch              (flat updates of line protocols, pipes, relays)
//!         | 2 | pattern: string    (a delete, `DELETE /api/q/<pattern>`: replayed in
//!                                   order, so pushes before it cannot bring back what
//!                                   it removed)
//! ```
//!
//! A segment is preallocated: written with zeros and fsynced before its first record
//! (docs/ARCHITECTURE.md, "write-ahead log"), so appends overwrite blocks that exist
//! and an fsync flushes data, not file-system metadata. The frames are followed by
//! those zeros: an all-zero frame header (`len` 0 and `crc` 0, which no record has,
//! since a payload is at least [`RECORD_HEADER`] bytes) is the end of the log, not
//! damage. Logs written before preallocation have no such tail and read the same.
//!
//! Integers are little-endian; counts and string lengths are LEB128 varints; floats
//! are their IEEE bits. The body is the already-parsed form the engine merged, not the
//! request: replay needs no parser, a record costs a few bytes per sample rather than
//! the JSON text, and what the log holds is exactly what was accepted (a request the
//! engine refused is never logged). `now` is the engine's clock when the push was
//! merged, so samples without a time stamp replay into the interval they went to.
//!
//! Every match over the update kinds ([`PushValue`], [`Update`], [`Action`]) is
//! exhaustive on purpose: a new kind does not compile until it has an encoding here.
//!
//! [`read_records`] is pure (bytes in, records and damage out) so that fuzzers and
//! tests can call it; the replay reads files frame by frame with [`read_frame`].

use compact_str::CompactString;

use crate::Action;
use crate::batch::{Batch, Update};
use crate::push::{PushDoc, PushTree, PushValue};
use crate::stats::Stats;

/// Bytes before the payload: length and checksum.
pub const FRAME_HEADER: usize = 8;
/// Bytes of the payload's fixed header (seq, interval start, interval len, now).
pub const RECORD_HEADER: usize = 32;
/// Largest payload a frame may announce (256 MiB); a larger length is damage, not an
/// allocation. Pushes are bounded far below by `web.body_limit` and the listeners.
pub const MAX_PAYLOAD: usize = 256 << 20;

/// What a record carries: the parsed push as the engine merged it.
#[derive(Debug, Clone, PartialEq)]
pub enum Body {
    /// A JSON push document.
    Doc(PushDoc),
    /// Flat updates.
    Batch(Batch),
    /// The subtrees a pattern selects were deleted (the pattern's text).
    Delete(String),
}

/// One logged push.
#[derive(Debug, Clone, PartialEq)]
pub struct Record {
    /// Position in the log: strictly increasing across restarts.
    pub seq: u64,
    /// Start of the interval the push was merged into (unix seconds).
    pub interval: i64,
    /// That interval's length in seconds.
    pub len: i64,
    /// The engine's clock when the push was merged (unix seconds).
    pub now: i64,
    /// The push.
    pub body: Body,
}

/// Why reading stopped before the end, or skipped a frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Damage {
    /// The bytes end inside a frame (a crash in the middle of a write).
    Torn,
    /// The frame is whole but its checksum does not match, or its payload does not
    /// decode.
    Corrupt,
}

/// What [`read_records`] could not read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TornTail {
    /// Offset of the first byte after the last good frame: what to keep of the file.
    pub valid_len: usize,
    /// Why the rest was dropped.
    pub damage: Damage,
}

/// The result of reading one frame at the start of `bytes`.
#[derive(Debug)]
pub enum Frame {
    /// A good record and the bytes its frame took.
    Good(Record, usize),
    /// A whole frame whose checksum or payload is bad, and the bytes it took: the
    /// reader may step over it.
    Bad(usize),
    /// The bytes end inside the frame.
    Torn,
    /// An all-zero frame header: the preallocated rest of the segment, the end of its
    /// records.
    End,
}

/// Whether a frame header is the zeros a preallocated segment holds after its records.
pub fn is_end(header: &[u8]) -> bool {
    header.iter().all(|&b| b == 0)
}

/// Reads the frame at the start of `bytes` (which must not be empty).
pub fn read_frame(bytes: &[u8]) -> Frame {
    if bytes.len() < FRAME_HEADER {
        // Zeros too few for a header: the end of a preallocated segment.
        return if is_end(bytes) {
            Frame::End
        } else {
            Frame::Torn
        };
    }
    if is_end(&bytes[..FRAME_HEADER]) {
        return Frame::End;
    }
    let len = u32::from_le_bytes([bytes[0], bytes[1], bytes[2], bytes[3]]) as usize;
    let crc = u32::from_le_bytes([bytes[4], bytes[5], bytes[6], bytes[7]]);
    if len > MAX_PAYLOAD {
        // A length no writer produces: the header itself is damaged, nothing after it
        // can be framed.
        return Frame::Torn;
    }
    let Some(payload) = bytes.get(FRAME_HEADER..FRAME_HEADER + len) else {
        return Frame::Torn;
    };
    if crc32c(0, payload) != crc {
        return Frame::Bad(FRAME_HEADER + len);
    }
    match decode_payload(payload) {
        Some(r) => Frame::Good(r, FRAME_HEADER + len),
        None => Frame::Bad(FRAME_HEADER + len),
    }
}

/// Reads every record of a segment's bytes. A whole frame with a bad checksum is
/// skipped alone (counted in the second value); the bytes ending inside a frame end
/// the reading, reported as a [`TornTail`] with the length worth keeping; an all-zero
/// frame header (a preallocated segment's tail) ends it too, as the end of the log.
pub fn read_records(bytes: &[u8]) -> (Vec<Record>, usize, Option<TornTail>) {
    let mut out = Vec::new();
    let mut at = 0;
    let mut bad = 0;
    let mut last_good_end = 0;
    let mut last_bad = None;
    while at < bytes.len() {
        match read_frame(&bytes[at..]) {
            Frame::Good(r, used) => {
                out.push(r);
                at += used;
                last_good_end = at;
                last_bad = None;
            }
            Frame::Bad(used) => {
                bad += 1;
                at += used;
                last_bad = Some(at);
            }
            Frame::End => break,
            Frame::Torn => {
                return (
                    out,
                    bad,
                    Some(TornTail {
                        valid_len: last_good_end,
                        damage: Damage::Torn,
                    }),
                );
            }
        }
    }
    // A bad frame at the very end is the last write gone wrong: report it as the
    // tail, so the file is cut back to the last good frame before appending.
    let tail = last_bad.map(|_| TornTail {
        valid_len: last_good_end,
        damage: Damage::Corrupt,
    });
    if tail.is_some() {
        bad -= 1;
    }
    (out, bad, tail)
}

/// Appends a whole frame for `body` (already encoded by [`encode_doc`] or
/// [`encode_batch`]) to `out`.
pub fn frame(out: &mut Vec<u8>, seq: u64, interval: i64, len: i64, now: i64, body: &[u8]) {
    let mut head = [0u8; RECORD_HEADER];
    head[0..8].copy_from_slice(&seq.to_le_bytes());
    head[8..16].copy_from_slice(&interval.to_le_bytes());
    head[16..24].copy_from_slice(&len.to_le_bytes());
    head[24..32].copy_from_slice(&now.to_le_bytes());
    let payload = RECORD_HEADER + body.len();
    let crc = crc32c(crc32c(0, &head), body);
    // Bodies are bounded by the push limits, far below 4 GiB.
    out.extend_from_slice(&u32::try_from(payload).unwrap_or(u32::MAX).to_le_bytes());
    out.extend_from_slice(&crc.to_le_bytes());
    out.extend_from_slice(&head);
    out.extend_from_slice(body);
}

/// Bytes a frame of a `body_len`-byte body takes on disk.
pub fn frame_len(body_len: usize) -> usize {
    FRAME_HEADER + RECORD_HEADER + body_len
}

/// Encodes a whole record as one frame (tests, tools).
pub fn encode_record(r: &Record) -> Vec<u8> {
    let mut body = Vec::new();
    match &r.body {
        Body::Doc(d) => encode_doc(d, &mut body),
        Body::Batch(b) => encode_batch(b, &mut body),
        Body::Delete(p) => encode_delete(p, &mut body),
    }
    let mut out = Vec::with_capacity(frame_len(body.len()));
    frame(&mut out, r.seq, r.interval, r.len, r.now, &body);
    out
}

const BODY_DOC: u8 = 0;
const BODY_BATCH: u8 = 1;
const BODY_DELETE: u8 = 2;

/// Encodes a delete (the pattern's text) as a record body.
pub fn encode_delete(pattern: &str, out: &mut Vec<u8>) {
    out.push(BODY_DELETE);
    string(out, pattern);
}

/// Encodes a push document as a record body.
pub fn encode_doc(doc: &PushDoc, out: &mut Vec<u8>) {
    out.push(BODY_DOC);
    varint(out, doc.trees.len() as u64);
    for t in &doc.trees {
        encode_tree(t, out);
    }
}

/// Encodes flat updates as a record body.
pub fn encode_batch(batch: &Batch, out: &mut Vec<u8>) {
    out.push(BODY_BATCH);
    varint(out, batch.updates.len() as u64);
    for u in &batch.updates {
        match u {
            Update::Sample {
                path,
                value,
                action,
                ts,
            } => {
                out.push(0);
                string(out, path);
                out.extend_from_slice(&value.to_bits().to_le_bytes());
                opt_action(out, *action);
                opt_i64(out, *ts);
            }
            Update::Stats {
                path,
                stats,
                action,
            } => {
                out.push(1);
                string(out, path);
                varint(out, stats.count);
                for v in [stats.sum, stats.min, stats.max, stats.last] {
                    out.extend_from_slice(&v.to_bits().to_le_bytes());
                }
                opt_action(out, *action);
            }
            Update::Marker { path, text } => {
                out.push(2);
                string(out, path);
                string(out, text);
            }
            Update::Samples {
                path,
                values,
                action,
            } => {
                out.push(3);
                string(out, path);
                varint(out, values.len() as u64);
                for v in values {
                    out.extend_from_slice(&v.to_bits().to_le_bytes());
                }
                opt_action(out, *action);
            }
            Update::Weighted {
                path,
                value,
                weight,
            } => {
                out.push(4);
                string(out, path);
                out.extend_from_slice(&value.to_bits().to_le_bytes());
                out.extend_from_slice(&weight.to_bits().to_le_bytes());
            }
            Update::WeightedSamples { path, samples } => {
                out.push(5);
                string(out, path);
                varint(out, samples.len() as u64);
                for (v, w) in samples {
                    out.extend_from_slice(&v.to_bits().to_le_bytes());
                    out.extend_from_slice(&w.to_bits().to_le_bytes());
                }
            }
        }
    }
}

fn encode_tree(t: &PushTree, out: &mut Vec<u8>) {
    opt_action(out, t.action);
    opt_i64(out, t.ts);
    varint(out, t.entries.len() as u64);
    for (key, value) in &t.entries {
        string(out, key);
        match value {
            PushValue::Tree(sub) => {
                out.push(0);
                encode_tree(sub, out);
            }
            PushValue::Number(v) => {
                out.push(1);
                out.extend_from_slice(&v.to_bits().to_le_bytes());
            }
            PushValue::Samples(vs) => {
                out.push(2);
                varint(out, vs.len() as u64);
                for v in vs {
                    out.extend_from_slice(&v.to_bits().to_le_bytes());
                }
            }
            PushValue::Marker(text) => {
                out.push(3);
                string(out, text);
            }
            PushValue::Skip => out.push(4),
            PushValue::BadArray => out.push(5),
        }
    }
}

fn action_code(a: Action) -> u8 {
    match a {
        Action::Add => 1,
        Action::Average => 2,
        Action::Max => 3,
        Action::Min => 4,
        Action::Last => 5,
        Action::Histogram => 6,
    }
}

fn opt_action(out: &mut Vec<u8>, a: Option<Action>) {
    out.push(a.map_or(0, action_code));
}

fn opt_i64(out: &mut Vec<u8>, v: Option<i64>) {
    match v {
        None => out.push(0),
        Some(v) => {
            out.push(1);
            out.extend_from_slice(&v.to_le_bytes());
        }
    }
}

fn string(out: &mut Vec<u8>, s: &str) {
    varint(out, s.len() as u64);
    out.extend_from_slice(s.as_bytes());
}

#[allow(clippy::cast_possible_truncation)] // each byte is masked or below 0x80 first
fn varint(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push((v & 0x7f) as u8 | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

/// Decodes a payload (header and body); `None` when it does not decode whole.
pub fn decode_payload(p: &[u8]) -> Option<Record> {
    let mut r = Reader { b: p, at: 0 };
    let seq = r.u64()?;
    let interval = r.i64()?;
    let len = r.i64()?;
    let now = r.i64()?;
    let body = match r.u8()? {
        BODY_DOC => {
            let n = r.count()?;
            let mut trees = Vec::with_capacity(n.min(1024));
            for _ in 0..n {
                trees.push(r.tree(0)?);
            }
            Body::Doc(PushDoc { trees })
        }
        BODY_BATCH => {
            let n = r.count()?;
            let mut b = Batch::new();
            b.updates.reserve(n.min(1 << 16));
            for _ in 0..n {
                b.updates.push(r.update()?);
            }
            Body::Batch(b)
        }
        BODY_DELETE => Body::Delete(r.str()?.to_string()),
        _ => return None,
    };
    (r.at == p.len()).then_some(Record {
        seq,
        interval,
        len,
        now,
        body,
    })
}

/// Deepest tree a record may hold: deeper is damage (pushes are bounded by
/// `limits.max_depth`, 32 by default), and recursion must stay bounded.
const MAX_TREE_DEPTH: usize = 1024;

struct Reader<'a> {
    b: &'a [u8],
    at: usize,
}

impl Reader<'_> {
    fn take(&mut self, n: usize) -> Option<&[u8]> {
        let s = self.b.get(self.at..self.at.checked_add(n)?)?;
        self.at += n;
        Some(s)
    }

    fn u8(&mut self) -> Option<u8> {
        Some(self.take(1)?[0])
    }

    fn u64(&mut self) -> Option<u64> {
        Some(u64::from_le_bytes(self.take(8)?.try_into().ok()?))
    }

    fn i64(&mut self) -> Option<i64> {
        Some(i64::from_le_bytes(self.take(8)?.try_into().ok()?))
    }

    fn f64(&mut self) -> Option<f64> {
        Some(f64::from_bits(self.u64()?))
    }

    fn varint(&mut self) -> Option<u64> {
        let mut v: u64 = 0;
        for shift in (0..64).step_by(7) {
            let b = self.u8()?;
            v |= u64::from(b & 0x7f).checked_shl(shift)?;
            if b & 0x80 == 0 {
                return Some(v);
            }
        }
        None
    }

    /// A count of items, each at least one byte: never more than the bytes left.
    fn count(&mut self) -> Option<usize> {
        let n = usize::try_from(self.varint()?).ok()?;
        (n <= self.b.len() - self.at).then_some(n)
    }

    fn str(&mut self) -> Option<&str> {
        let n = self.count()?;
        std::str::from_utf8(self.take(n)?).ok()
    }

    fn action(&mut self) -> Option<Option<Action>> {
        Some(match self.u8()? {
            0 => None,
            1 => Some(Action::Add),
            2 => Some(Action::Average),
            3 => Some(Action::Max),
            4 => Some(Action::Min),
            5 => Some(Action::Last),
            6 => Some(Action::Histogram),
            _ => return None,
        })
    }

    fn opt_i64(&mut self) -> Option<Option<i64>> {
        match self.u8()? {
            0 => Some(None),
            1 => Some(Some(self.i64()?)),
            _ => None,
        }
    }

    fn tree(&mut self, depth: usize) -> Option<PushTree> {
        if depth > MAX_TREE_DEPTH {
            return None;
        }
        let action = self.action()?;
        let ts = self.opt_i64()?;
        let n = self.count()?;
        let mut entries = Vec::with_capacity(n.min(1 << 16));
        for _ in 0..n {
            let key = CompactString::from(self.str()?);
            let value = match self.u8()? {
                0 => PushValue::Tree(self.tree(depth + 1)?),
                1 => PushValue::Number(self.f64()?),
                2 => {
                    let k = self.count()?;
                    let mut vs = Vec::with_capacity(k);
                    for _ in 0..k {
                        vs.push(self.f64()?);
                    }
                    PushValue::Samples(vs)
                }
                3 => PushValue::Marker(self.str()?.to_string()),
                4 => PushValue::Skip,
                5 => PushValue::BadArray,
                _ => return None,
            };
            entries.push((key, value));
        }
        Some(PushTree {
            action,
            ts,
            entries,
            nodes: 0,
        })
    }

    fn update(&mut self) -> Option<Update> {
        Some(match self.u8()? {
            0 => Update::Sample {
                path: self.str()?.to_string(),
                value: self.f64()?,
                action: self.action()?,
                ts: self.opt_i64()?,
            },
            1 => {
                let path = self.str()?.to_string();
                let count = self.varint()?;
                let (sum, min, max, last) = (self.f64()?, self.f64()?, self.f64()?, self.f64()?);
                Update::Stats {
                    path,
                    stats: Stats {
                        sum,
                        count,
                        min,
                        max,
                        last,
                    },
                    action: self.action()?,
                }
            }
            2 => Update::Marker {
                path: self.str()?.to_string(),
                text: self.str()?.to_string(),
            },
            3 => {
                let path = self.str()?.to_string();
                let k = self.count()?;
                let mut values = Vec::with_capacity(k);
                for _ in 0..k {
                    values.push(self.f64()?);
                }
                Update::Samples {
                    path,
                    values,
                    action: self.action()?,
                }
            }
            4 => Update::Weighted {
                path: self.str()?.to_string(),
                value: self.f64()?,
                weight: self.f64()?,
            },
            5 => {
                let path = self.str()?.to_string();
                let k = self.count()?;
                let mut samples = Vec::with_capacity(k);
                for _ in 0..k {
                    samples.push((self.f64()?, self.f64()?));
                }
                Update::WeightedSamples { path, samples }
            }
            _ => return None,
        })
    }
}

/// CRC32C (Castagnoli), slicing by 8: no dependency, about 1.5 GB/s, which keeps the
/// checksum far below the cost of the write it guards. `crc32c(crc32c(0, a), b)` is
/// the checksum of `a` followed by `b`.
pub fn crc32c(crc: u32, bytes: &[u8]) -> u32 {
    let t = &*TABLES;
    let mut c = !crc;
    let mut chunks = bytes.chunks_exact(8);
    for ch in &mut chunks {
        let lo = c ^ u32::from_le_bytes([ch[0], ch[1], ch[2], ch[3]]);
        let hi = u32::from_le_bytes([ch[4], ch[5], ch[6], ch[7]]);
        c = t[7][(lo & 0xff) as usize]
            ^ t[6][((lo >> 8) & 0xff) as usize]
            ^ t[5][((lo >> 16) & 0xff) as usize]
            ^ t[4][(lo >> 24) as usize]
            ^ t[3][(hi & 0xff) as usize]
            ^ t[2][((hi >> 8) & 0xff) as usize]
            ^ t[1][((hi >> 16) & 0xff) as usize]
            ^ t[0][(hi >> 24) as usize];
    }
    for &b in chunks.remainder() {
        c = t[0][((c ^ u32::from(b)) & 0xff) as usize] ^ (c >> 8);
    }
    !c
}

static TABLES: std::sync::LazyLock<[[u32; 256]; 8]> = std::sync::LazyLock::new(|| {
    const POLY: u32 = 0x82f6_3b78;
    let mut t = [[0u32; 256]; 8];
    for i in 0..256u32 {
        let mut c = i;
        for _ in 0..8 {
            c = if c & 1 == 1 { (c >> 1) ^ POLY } else { c >> 1 };
        }
        t[0][i as usize] = c;
    }
    for i in 0..256 {
        for k in 1..8 {
            let prev = t[k - 1][i];
            t[k][i] = (prev >> 8) ^ t[0][(prev & 0xff) as usize];
        }
    }
    t
});
