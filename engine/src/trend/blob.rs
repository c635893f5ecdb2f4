//! The interval blob: one sled value per closed interval holding all its points, the
//! totals of the leaves it touched, the paths it introduced and its markers. Written
//! in one insert, so a crash leaves either the whole interval or none of it.
//!
//! Points and totals are fixed-size records sorted by series id, so a query for a
//! few series binary-searches the stored bytes instead of decoding 100k records.
//! Also here: the order-preserving key encodings every keyspace uses.

use super::error::{Result, TrendError};
use crate::histogram::{Hist, decode_exact, encode_exact};
use crate::{Action, Marker, Stats};

const VERSION: u8 = 1;
/// Bytes of one fixed record.
pub const REC_BYTES: usize = 4 + 1 + 8 * 6;
const HEADER: usize = 1 + 8 + 8;

/// One series' aggregate in an interval (or its totals at close).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Rec {
    /// Series id.
    pub id: u32,
    /// The leaf's action.
    pub action: Action,
    /// The samples' aggregate.
    pub stats: Stats,
    /// Time stamp of the newest sample.
    pub last_ts: i64,
}

/// Everything stored for one interval.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct IntervalBlob {
    /// Interval start (unix seconds).
    pub start: i64,
    /// Interval length in seconds.
    pub len: i64,
    /// Per-series aggregates, sorted by id, ids unique.
    pub points: Vec<Rec>,
    /// Leaf totals at close, sorted by id, ids unique.
    pub totals: Vec<Rec>,
    /// Series first seen in this interval.
    pub paths: Vec<(u32, String)>,
    /// Markers pushed during the interval.
    pub markers: Vec<Marker>,
    /// The sketches of the histogram leaves among `points`, sorted by id. Written after
    /// the markers only when there are any, so an interval without histogram leaves
    /// is stored byte for byte as before, and a store written before them reads. Their
    /// exact stats ([`Hist::exact`]) follow, only when some sketch has them.
    pub hists: Vec<(u32, Hist)>,
}

/// Order-preserving bytes of an i64 (sign bit flipped, big-endian).
pub fn ts_key(ts: i64) -> [u8; 8] {
    (ts.cast_unsigned() ^ (1 << 63)).to_be_bytes()
}

/// The inverse of [`ts_key`].
///
/// # Errors
/// `Corrupt` when the slice is not 8 bytes.
pub fn ts_from_key(b: &[u8]) -> Result<i64> {
    let a: [u8; 8] = b
        .try_into()
        .map_err(|_| TrendError::corrupt("time key is not 8 bytes"))?;
    Ok((u64::from_be_bytes(a) ^ (1 << 63)).cast_signed())
}

/// Key of a chunk: archive, series id, chunk start.
pub fn chunk_key(archive: u8, id: u32, start: i64) -> [u8; 13] {
    let mut k = [0u8; 13];
    k[0] = archive;
    k[1..5].copy_from_slice(&id.to_be_bytes());
    k[5..].copy_from_slice(&ts_key(start));
    k
}

fn put_rec(out: &mut Vec<u8>, r: &Rec) {
    out.extend_from_slice(&r.id.to_le_bytes());
    out.push(r.action.code());
    out.extend_from_slice(&r.stats.count.to_le_bytes());
    for f in [r.stats.sum, r.stats.min, r.stats.max, r.stats.last] {
        out.extend_from_slice(&f.to_bits().to_le_bytes());
    }
    out.extend_from_slice(&r.last_ts.to_le_bytes());
}

fn u64_at(b: &[u8], at: usize) -> u64 {
    let mut a = [0u8; 8];
    a.copy_from_slice(&b[at..at + 8]);
    u64::from_le_bytes(a)
}

fn get_rec(b: &[u8]) -> Result<Rec> {
    let id = u32::from_le_bytes([b[0], b[1], b[2], b[3]]);
    let action =
        Action::from_code(b[4]).ok_or_else(|| TrendError::corrupt("unknown action code"))?;
    let f = |i: usize| f64::from_bits(u64_at(b, 13 + 8 * i));
    Ok(Rec {
        id,
        action,
        stats: Stats {
            count: u64_at(b, 5),
            sum: f(0),
            min: f(1),
            max: f(2),
            last: f(3),
        },
        last_ts: u64_at(b, 45).cast_signed(),
    })
}

/// One record on its own (the `Totals` keyspace).
pub fn encode_rec(r: &Rec) -> Vec<u8> {
    let mut out = Vec::with_capacity(REC_BYTES);
    put_rec(&mut out, r);
    out
}

/// The inverse of [`encode_rec`].
///
/// # Errors
/// `Corrupt` when the bytes are not one record.
pub fn decode_rec(b: &[u8]) -> Result<Rec> {
    if b.len() != REC_BYTES {
        return Err(TrendError::corrupt("totals record size"));
    }
    get_rec(b)
}

fn put_str(out: &mut Vec<u8>, s: &str) {
    let n = u32::try_from(s.len()).unwrap_or(u32::MAX);
    out.extend_from_slice(&n.to_le_bytes());
    out.extend_from_slice(&s.as_bytes()[..n as usize]);
}

fn put_u32(out: &mut Vec<u8>, n: usize) {
    out.extend_from_slice(&u32::try_from(n).unwrap_or(u32::MAX).to_le_bytes());
}

impl IntervalBlob {
    /// The stored bytes.
    pub fn encode(&self) -> Vec<u8> {
        let mut out =
            Vec::with_capacity(HEADER + 16 + (self.points.len() + self.totals.len()) * REC_BYTES);
        out.push(VERSION);
        out.extend_from_slice(&self.start.to_le_bytes());
        out.extend_from_slice(&self.len.to_le_bytes());
        for recs in [&self.points, &self.totals] {
            put_u32(&mut out, recs.len());
            for r in recs.iter() {
                put_rec(&mut out, r);
            }
        }
        put_u32(&mut out, self.paths.len());
        for (id, p) in &self.paths {
            out.extend_from_slice(&id.to_le_bytes());
            put_str(&mut out, p);
        }
        put_u32(&mut out, self.markers.len());
        for m in &self.markers {
            put_str(&mut out, &m.path);
            out.extend_from_slice(&m.ts.to_le_bytes());
            put_str(&mut out, &m.text);
        }
        if !self.hists.is_empty() {
            put_u32(&mut out, self.hists.len());
            for (id, h) in &self.hists {
                out.extend_from_slice(&id.to_le_bytes());
                h.encode(&mut out);
            }
            // Then, only when some sketch has them, the exact stats: their number
            // (u32), then per histogram its id and `encode_exact`.
            let exact = self.hists.iter().filter(|h| h.1.exact.is_some()).count();
            if exact > 0 {
                put_u32(&mut out, exact);
                for (id, h) in &self.hists {
                    if let Some(e) = &h.exact {
                        out.extend_from_slice(&id.to_le_bytes());
                        encode_exact(e, &mut out);
                    }
                }
            }
        }
        out
    }

    /// Decodes stored bytes.
    ///
    /// # Errors
    /// `Corrupt` when they do not decode.
    pub fn decode(b: &[u8]) -> Result<IntervalBlob> {
        IntervalBlob::decode_parts(b, true)
    }

    /// Decodes everything but the points (left empty): what open, restore and
    /// marker reads need, without parsing 100k point records.
    ///
    /// # Errors
    /// `Corrupt` when the bytes do not decode.
    pub fn decode_without_points(b: &[u8]) -> Result<IntervalBlob> {
        IntervalBlob::decode_parts(b, false)
    }

    fn decode_parts(b: &[u8], with_points: bool) -> Result<IntervalBlob> {
        let mut c = Cursor { b, at: 0 };
        let (start, len) = header(b)?;
        c.at = HEADER;
        let points = if with_points {
            c.recs()?
        } else {
            let n = c.count(REC_BYTES)?;
            c.take(n * REC_BYTES)?;
            Vec::new()
        };
        let totals = c.recs()?;
        let n = c.count(8)?;
        let mut paths = Vec::with_capacity(n);
        for _ in 0..n {
            let id = u32::from_le_bytes(c.take(4)?.try_into().unwrap_or_default());
            paths.push((id, c.string()?));
        }
        let n = c.count(16)?;
        let mut markers = Vec::with_capacity(n);
        for _ in 0..n {
            let path = c.string()?;
            let ts = u64_at(c.take(8)?, 0).cast_signed();
            let text = c.string()?;
            markers.push(Marker { path, ts, text });
        }
        let mut hists = Vec::new();
        if c.at < b.len() {
            let n = c.count(4 + 8 + 3)?;
            let mut rest = &b[c.at..];
            for _ in 0..n {
                let (id, after) = rest
                    .split_first_chunk::<4>()
                    .ok_or_else(|| TrendError::corrupt("histogram record"))?;
                rest = after;
                let h = Hist::decode(&mut rest)
                    .ok_or_else(|| TrendError::corrupt("histogram sketch"))?;
                hists.push((u32::from_le_bytes(*id), h));
            }
            if !rest.is_empty() {
                let bad = || TrendError::corrupt("histogram exact stats");
                let (n, after) = rest.split_first_chunk::<4>().ok_or_else(bad)?;
                rest = after;
                for _ in 0..u32::from_le_bytes(*n) {
                    let (id, after) = rest.split_first_chunk::<4>().ok_or_else(bad)?;
                    rest = after;
                    let e = decode_exact(&mut rest).ok_or_else(bad)?;
                    let id = u32::from_le_bytes(*id);
                    let i = hists
                        .binary_search_by_key(&id, |h| h.0)
                        .map_err(|_| bad())?;
                    hists[i].1.exact = Some(e);
                }
            }
        }
        Ok(IntervalBlob {
            start,
            len,
            points,
            totals,
            paths,
            markers,
            hists,
        })
    }
}

/// Start and length of a stored interval without decoding the rest.
///
/// # Errors
/// `Corrupt` for a short or foreign blob.
pub fn header(b: &[u8]) -> Result<(i64, i64)> {
    if b.len() < HEADER || b[0] != VERSION {
        return Err(TrendError::corrupt("interval blob header"));
    }
    Ok((u64_at(b, 1).cast_signed(), u64_at(b, 9).cast_signed()))
}

/// One series' point in a stored interval, by binary search over the records.
///
/// # Errors
/// `Corrupt` for a damaged blob.
pub fn find_point(b: &[u8], id: u32) -> Result<Option<Rec>> {
    header(b)?;
    let mut c = Cursor { b, at: HEADER };
    let n = c.count(REC_BYTES)?;
    let recs = c.take(n * REC_BYTES)?;
    let id_at = |i: usize| {
        let r = &recs[i * REC_BYTES..];
        u32::from_le_bytes([r[0], r[1], r[2], r[3]])
    };
    // Outside the blob's ids (its records are sorted by id): no search. A query of
    // 10,000 series against the intervals not compacted yet asks every blob for
    // every series, and most blobs hold other leaves.
    if n == 0 || id < id_at(0) || id > id_at(n - 1) {
        return Ok(None);
    }
    let (mut lo, mut hi) = (0, n);
    while lo < hi {
        let mid = lo + (hi - lo) / 2;
        match id_at(mid).cmp(&id) {
            std::cmp::Ordering::Less => lo = mid + 1,
            std::cmp::Ordering::Greater => hi = mid,
            std::cmp::Ordering::Equal => {
                return get_rec(&recs[mid * REC_BYTES..(mid + 1) * REC_BYTES]).map(Some);
            }
        }
    }
    Ok(None)
}

struct Cursor<'a> {
    b: &'a [u8],
    at: usize,
}

impl<'a> Cursor<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8]> {
        let end = self
            .at
            .checked_add(n)
            .filter(|&e| e <= self.b.len())
            .ok_or_else(|| TrendError::corrupt("interval blob ends early"))?;
        let s = &self.b[self.at..end];
        self.at = end;
        Ok(s)
    }

    /// A count of items at least `min_bytes` each, checked against what is left.
    fn count(&mut self, min_bytes: usize) -> Result<usize> {
        let n = u32::from_le_bytes(self.take(4)?.try_into().unwrap_or_default()) as usize;
        if n.saturating_mul(min_bytes) > self.b.len() - self.at {
            return Err(TrendError::corrupt("interval blob count too large"));
        }
        Ok(n)
    }

    fn recs(&mut self) -> Result<Vec<Rec>> {
        let n = self.count(REC_BYTES)?;
        let bytes = self.take(n * REC_BYTES)?;
        bytes.chunks_exact(REC_BYTES).map(get_rec).collect()
    }

    fn string(&mut self) -> Result<String> {
        let n = u32::from_le_bytes(self.take(4)?.try_into().unwrap_or_default()) as usize;
        let s = self.take(n)?;
        String::from_utf8(s.to_vec()).map_err(|_| TrendError::corrupt("string is not UTF-8"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rec(id: u32, v: f64) -> Rec {
        Rec {
            id,
            action: Action::Max,
            stats: Stats::one(v),
            last_ts: 1_700_000_003,
        }
    }

    #[test]
    fn blob_round_trips_and_finds_points() {
        let blob = IntervalBlob {
            start: 1_700_000_000,
            len: 10,
            points: (0..50).map(|i| rec(i * 3, f64::from(i))).collect(),
            totals: vec![rec(3, 9.0)],
            paths: vec![(3, "a,b".into()), (6, "ü,x".into())],
            markers: vec![Marker {
                path: "a".into(),
                ts: 1_700_000_001,
                text: "deploy".into(),
            }],
            hists: Vec::new(),
        };
        let b = blob.encode();
        assert_eq!(IntervalBlob::decode(&b).unwrap(), blob);
        let light = IntervalBlob::decode_without_points(&b).unwrap();
        assert_eq!(
            (light.points.len(), light.totals, light.markers),
            (0, blob.totals.clone(), blob.markers.clone())
        );
        assert_eq!(header(&b).unwrap(), (1_700_000_000, 10));
        assert_eq!(find_point(&b, 30).unwrap(), Some(rec(30, 10.0)));
        assert_eq!(find_point(&b, 31).unwrap(), None);
        assert_eq!(find_point(&b, 147).unwrap(), Some(rec(147, 49.0)));
        assert_eq!(find_point(&b, 0).unwrap(), Some(rec(0, 0.0)));
        assert_eq!(find_point(&b, 148).unwrap(), None);
        assert_eq!(find_point(&b, u32::MAX).unwrap(), None);
        for cut in 0..b.len() {
            assert!(IntervalBlob::decode(&b[..cut]).is_err());
        }
        // Histogram sketches come after the markers; without them nothing is written.
        let mut with = blob.clone();
        let mut h = Hist::default();
        for v in [1.0, 2.5, 300.0] {
            h.add(v);
        }
        with.hists = vec![(3, h.clone()), (6, h)];
        let wb = with.encode();
        assert_eq!(&wb[..b.len()], &b[..], "the section only appends");
        assert_eq!(IntervalBlob::decode(&wb).unwrap(), with);
        for cut in b.len() + 1..wb.len() {
            assert!(IntervalBlob::decode(&wb[..cut]).is_err(), "cut at {cut}");
        }
        // Exact stats come last, only for the sketches that have them: the blob
        // without them is unchanged, and each costs 13 bytes (+ 4 + 1 per sketch, +4).
        let mut exact = with.clone();
        let mut h = exact.hists[1].1.clone();
        h.exact = Some(Box::new([
            (crate::Stat::Median, 2.5),
            ("upper_90".parse().unwrap(), 300.0),
        ]));
        exact.hists[1].1 = h;
        let eb = exact.encode();
        assert_eq!(&eb[..wb.len()], &wb[..], "the section only appends");
        assert_eq!(eb.len(), wb.len() + 4 + 4 + 1 + 2 * 13);
        assert_eq!(IntervalBlob::decode(&eb).unwrap(), exact);
        for cut in wb.len() + 1..eb.len() {
            assert!(IntervalBlob::decode(&eb[..cut]).is_err(), "cut at {cut}");
        }
    }

    #[test]
    fn keys_sort_like_numbers() {
        let mut ts = [-5i64, 3, i64::MIN, 0, i64::MAX, -1];
        let mut keys: Vec<[u8; 8]> = ts.iter().map(|&t| ts_key(t)).collect();
        ts.sort_unstable();
        keys.sort_unstable();
        let back: Vec<i64> = keys.iter().map(|k| ts_from_key(k).unwrap()).collect();
        assert_eq!(back, ts);
        let k = chunk_key(2, 77, -600);
        assert_eq!((k[0], &k[1..5]), (2, &77u32.to_be_bytes()[..]));
        assert_eq!(ts_from_key(&k[5..]).unwrap(), -600);
    }
}
