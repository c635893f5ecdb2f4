//! The Gorilla chunk codec (Pelkonen et al., VLDB 2015, as Prometheus' XOR chunks):
//! delta-of-delta time stamps, XOR-compressed floats, and a small "aux" integer column
//! (the sample count for rollups, or the offset of the newest source for `last`).
//!
//! Written here rather than taken from a crate: the existing crates (`tsz`, `gorilla`)
//! are unmaintained or fix the layout to `(u64, f64)` pairs, and ours needs the third
//! column. Regular 10 s points with a steady value cost 3 bits each.
//!
//! Values that are all short decimals (integers, `23.4`, `0.25`: most counters and
//! gauges, and the rollup sums of them) are stored as scaled integers with zigzag
//! deltas instead of XOR, as VictoriaMetrics does; a chunk says which in its header.
//! A value counts as a decimal when the decimal is within [`SNAP_ULPS`] units in the
//! last place of it: `46.9` for a rollup sum `46.900000000000006` whose trailing
//! bits are float addition error. Any other value keeps the whole chunk on XOR,
//! which is lossless.
//!
//! Layout: `n` (LEB128); mode (4 bits: 0 = XOR floats, 1 + e = decimals scaled by
//! 10^e); the first point in full (zigzag LEB128 time; 64 value bits, or the zigzag
//! LEB128 scaled integer; LEB128 aux); then per point: time (`0` = same delta,
//! `10`+7, `110`+9, `1110`+12 bits of delta-of-delta, `1111`+64 bits); value (XOR:
//! `0` = same, `10` = XOR inside the previous window, `11` + 5 bits leading zeros +
//! 6 bits length + bits; decimal: `0` = same, `10`+6, `110`+12, `1110`+20,
//! `1111`+64 bits of zigzag delta); aux (`0` = same, `1` + 6 bits width + zigzag
//! delta).

use super::bits::{BitReader, BitWriter, unzigzag, zigzag};
use super::error::{Result, TrendError};
use super::prefix::{Batch, DELTA_WIDTHS, DOD_WIDTHS, Window, get_tiered, put_tiered, usual_point};

/// One decoded point.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Point {
    /// Unix seconds.
    pub ts: i64,
    /// The value.
    pub value: f64,
    /// The auxiliary column.
    pub aux: u64,
}

/// Where decoded points go: a `Vec<Point>`, or [`Columns`].
pub trait Out {
    /// Empties it.
    fn clear(&mut self);
    /// Makes room for `n` more points.
    fn reserve(&mut self, n: usize);
    /// Appends a point.
    fn push(&mut self, ts: i64, value: f64, aux: u64);
    /// Appends points `(ts[k], values[k])` that share `aux`.
    fn push_run(&mut self, ts: &[i64], values: &[f64], aux: u64);
}

impl Out for Vec<Point> {
    fn clear(&mut self) {
        Vec::clear(self);
    }
    fn reserve(&mut self, n: usize) {
        Vec::reserve(self, n);
    }
    #[inline]
    fn push(&mut self, ts: i64, value: f64, aux: u64) {
        Vec::push(self, Point { ts, value, aux });
    }
    fn push_run(&mut self, ts: &[i64], values: &[f64], aux: u64) {
        self.extend(
            ts.iter()
                .zip(values)
                .map(|(&ts, &value)| Point { ts, value, aux }),
        );
    }
}

/// Decoded points as columns, for readers that hand on runs of values: a slice of
/// values is copied where a `Point` per value was looked at one by one. The
/// auxiliary column, which seldom changes, is kept as where it changes.
#[derive(Debug, Default)]
pub struct Columns {
    /// Unix seconds, increasing.
    pub ts: Vec<i64>,
    /// The values.
    pub values: Vec<f64>,
    /// `(k, aux)`: the auxiliary column is `aux` from point `k` on.
    pub aux: Vec<(usize, u64)>,
}

impl Columns {
    /// The auxiliary column of the `k`th point.
    pub fn aux_at(&self, k: usize) -> u64 {
        let i = self.aux.partition_point(|&(from, _)| from <= k);
        self.aux[i.saturating_sub(1)].1
    }

    /// The `k`th point.
    pub fn point(&self, k: usize) -> Point {
        Point {
            ts: self.ts[k],
            value: self.values[k],
            aux: self.aux_at(k),
        }
    }
}

impl Out for Columns {
    fn clear(&mut self) {
        self.ts.clear();
        self.values.clear();
        self.aux.clear();
    }
    fn reserve(&mut self, n: usize) {
        self.ts.reserve(n);
        self.values.reserve(n);
    }
    #[inline]
    fn push(&mut self, ts: i64, value: f64, aux: u64) {
        if self.aux.last().is_none_or(|&(_, last)| last != aux) {
            self.aux.push((self.ts.len(), aux));
        }
        self.ts.push(ts);
        self.values.push(value);
    }
    fn push_run(&mut self, ts: &[i64], values: &[f64], aux: u64) {
        if ts.is_empty() {
            return;
        }
        if self.aux.last().is_none_or(|&(_, last)| last != aux) {
            self.aux.push((self.ts.len(), aux));
        }
        self.ts.extend_from_slice(ts);
        self.values.extend_from_slice(values);
    }
}

/// Largest decimal exponent tried (values with up to 9 decimal places).
const MAX_EXP: u32 = 9;
/// Scaled integers must stay exact in an f64.
const MAX_EXACT: f64 = 9_007_199_254_740_992.0; // 2^53

/// How far (in units of `f64::EPSILON` relative to the value) a decimal may lie from
/// a stored value and still stand for it.
pub const SNAP_ULPS: f64 = 4.0;

/// Whether `decoded` stands for `v` (bit-equal, or within [`SNAP_ULPS`]).
pub fn close_enough(decoded: f64, v: f64) -> bool {
    decoded.to_bits() == v.to_bits() || (decoded - v).abs() <= SNAP_ULPS * f64::EPSILON * v.abs()
}

/// The smallest `e` such that every value is an integer divided by 10^e (within
/// [`SNAP_ULPS`]).
fn decimal_exponent(points: &[Point]) -> Option<u32> {
    if points
        .iter()
        .any(|p| !p.value.is_finite() || p.value.to_bits() == (-0.0f64).to_bits())
    {
        return None;
    }
    (0..=MAX_EXP).find(|&e| {
        let scale = 10f64.powi(i32::try_from(e).unwrap_or(0));
        points.iter().all(|p| {
            let x = (p.value * scale).round();
            x.abs() < MAX_EXACT && close_enough(x / scale, p.value)
        })
    })
}

/// The scaled integer of a value known to convert exactly.
fn scaled(v: f64, scale: f64) -> i64 {
    // `decimal_exponent` checked |v * scale| < 2^53 and that it is integral.
    #[allow(clippy::cast_possible_truncation)]
    let x = (v * scale).round() as i64;
    x
}

/// Encodes points (time stamps strictly increasing) into a chunk.
pub fn encode(points: &[Point]) -> Vec<u8> {
    let mut w = BitWriter::new();
    w.varint(points.len() as u64);
    let Some(first) = points.first() else {
        return w.finish();
    };
    let exp = decimal_exponent(points);
    w.write(exp.map_or(0, |e| u64::from(e) + 1), 4);
    let scale = 10f64.powi(exp.map_or(0, |e| i32::try_from(e).unwrap_or(0)));
    w.varint(zigzag(first.ts));
    match exp {
        Some(_) => w.varint(zigzag(scaled(first.value, scale))),
        None => w.write(first.value.to_bits(), 64),
    }
    w.varint(first.aux);
    let mut prev = *first;
    let mut delta: i64 = 0;
    let mut lead: u32 = 64;
    let mut trail: u32 = 0;
    for p in &points[1..] {
        let d = p.ts.wrapping_sub(prev.ts);
        put_tiered(&mut w, d.wrapping_sub(delta), DOD_WIDTHS);
        delta = d;
        match exp {
            Some(_) => put_tiered(
                &mut w,
                scaled(p.value, scale).wrapping_sub(scaled(prev.value, scale)),
                DELTA_WIDTHS,
            ),
            None => put_xor(
                &mut w,
                prev.value.to_bits() ^ p.value.to_bits(),
                &mut lead,
                &mut trail,
            ),
        }
        if p.aux == prev.aux {
            w.bit(false);
        } else {
            w.bit(true);
            let z = zigzag(p.aux.wrapping_sub(prev.aux).cast_signed());
            let width = 64 - z.leading_zeros();
            w.write(u64::from(width - 1), 6);
            w.write(z, width);
        }
        prev = *p;
    }
    w.finish()
}

fn put_xor(w: &mut BitWriter, x: u64, lead: &mut u32, trail: &mut u32) {
    if x == 0 {
        w.bit(false);
        return;
    }
    w.bit(true);
    let l = x.leading_zeros().min(31);
    let t = x.trailing_zeros();
    if *lead != 64 && l >= *lead && t >= *trail {
        w.bit(false);
        let len = 64 - *lead - *trail;
        w.write(x >> *trail, len);
    } else {
        w.bit(true);
        let len = 64 - l - t;
        w.write(u64::from(l), 5);
        // len is 1..=64; 64 is stored as 0 in six bits.
        w.write(u64::from(len & 63), 6);
        w.write(x >> t, len);
        *lead = l;
        *trail = t;
    }
}

/// The fewest bits a point after the first takes: `0` for the time, the value and the
/// count each.
const MIN_POINT_BITS: usize = 3;

/// Most points a chunk may claim (guards allocation against damaged input).
pub const MAX_CHUNK_POINTS: u64 = 1 << 20;

/// Decodes a chunk.
///
/// # Errors
/// `Corrupt` when the bytes do not decode.
pub fn decode(bytes: &[u8]) -> Result<Vec<Point>> {
    let mut out = Vec::new();
    decode_into(bytes, &mut out)?;
    Ok(out)
}

/// Decodes a chunk into `out` (cleared first), so that a reader of many chunks
/// reuses one buffer. The decoding loop fills the buffer and nothing else: with the
/// reader's own work inside it, its state no longer fit in registers.
///
/// # Errors
/// `Corrupt` when the bytes do not decode (`out` then holds the points before).
pub fn decode_into<O: Out>(bytes: &[u8], out: &mut O) -> Result<()> {
    out.clear();
    let Some(mut h) = Head::read(bytes)? else {
        return Ok(());
    };
    out.reserve(h.n.min(bytes.len() * 8));
    out.push(h.first.ts, h.first.value, h.first.aux);
    h.rest(out)
}

/// Decodes two chunks into `out_a` and `out_b` (each cleared first), as two calls of
/// [`decode_into`] would, the usual points of both in one loop: a point's position
/// in its stream depends on the point before, so one stream keeps the core waiting
/// on that chain, and two independent chains fill the wait.
///
/// # Errors
/// `Corrupt` when either does not decode.
pub fn decode_pair_into<O: Out>(a: &[u8], b: &[u8], out_a: &mut O, out_b: &mut O) -> Result<()> {
    out_a.clear();
    out_b.clear();
    let (ha, hb) = (Head::read(a)?, Head::read(b)?);
    let (Some(mut ha), Some(mut hb)) = (ha, hb) else {
        // One is empty: the other alone.
        decode_into(a, out_a)?;
        return decode_into(b, out_b);
    };
    out_a.reserve(ha.n.min(a.len() * 8));
    out_b.reserve(hb.n.min(b.len() * 8));
    out_a.push(ha.first.ts, ha.first.value, ha.first.aux);
    out_b.push(hb.first.ts, hb.first.value, hb.first.aux);
    if ha.decimal && hb.decimal && ha.scale == hb.scale {
        if ha.scale == 1.0 {
            pair_regular::<true, O>(&mut ha, &mut hb, out_a, out_b)?;
        } else {
            pair_regular::<false, O>(&mut ha, &mut hb, out_a, out_b)?;
        }
    }
    ha.rest(out_a)?;
    hb.rest(out_b)
}

/// Sends the points `b` holds to `out` and empties it.
fn flush<O: Out>(b: &mut Batch, out: &mut O, aux: u64) {
    let (ts, values) = b.points();
    out.push_run(ts, values, aux);
    b.n = 0;
}

/// The usual points of two decimal chunks with the same scale, in lockstep, until
/// either ends or meets a point that is not one (`prefix::regular_point`); each head then
/// stands after what it decoded.
fn pair_regular<const UNIT: bool, O: Out>(
    a: &mut Head<'_>,
    b: &mut Head<'_>,
    out_a: &mut O,
    out_b: &mut O,
) -> Result<()> {
    let scale = a.scale;
    let unscaled = |int: i64| {
        // Exact below 2^53, which is all `encode` writes.
        #[allow(clippy::cast_precision_loss)]
        let x = int as f64;
        if UNIT { x } else { x / scale }
    };
    let (mut ca, mut cb) = (a.cursor, b.cursor);
    let (mut wa, mut wb) = (Window::at(&a.r), Window::at(&b.r));
    let (mut ba, mut bb) = (Batch::new(), Batch::new());
    let mut left = a.left.min(b.left);
    'batches: while left > 0 {
        let room = left.min(Batch::LEN);
        let mut k = 0;
        while k < room {
            // Both windows hold at least a usual point's bits.
            let (Some((da, sa, ua)), Some((db, sb, ub))) =
                (usual_point(wa.bits), usual_point(wb.bits))
            else {
                break;
            };
            wa.take(ua);
            wb.take(ub);
            ca.delta = ca.delta.wrapping_add(da);
            cb.delta = cb.delta.wrapping_add(db);
            ca.int = ca.int.wrapping_add(sa);
            cb.int = cb.int.wrapping_add(sb);
            ca.ts = ca.ts.wrapping_add(ca.delta);
            cb.ts = cb.ts.wrapping_add(cb.delta);
            ba.ts[k] = ca.ts;
            bb.ts[k] = cb.ts;
            ba.values[k] = unscaled(ca.int);
            bb.values[k] = unscaled(cb.int);
            k += 1;
            wa.refill(&mut a.r);
            wb.refill(&mut b.r);
        }
        (ba.n, bb.n) = (k, k);
        flush(&mut ba, out_a, ca.aux);
        flush(&mut bb, out_b, cb.aux);
        left -= k;
        if k > 0 {
            ca.value = ba.values[k - 1];
            cb.value = bb.values[k - 1];
        }
        if k < room {
            break 'batches;
        }
    }
    a.r.consume(wa.taken);
    b.r.consume(wb.taken);
    // Bits past a stream's end read as zeros, which decode as points: such a stream
    // was cut short.
    if a.r.overrun() || b.r.overrun() {
        return Err(TrendError::corrupt("chunk ends early"));
    }
    let done = a.left.min(b.left) - left;
    a.left -= done;
    b.left -= done;
    a.cursor = ca;
    b.cursor = cb;
    Ok(())
}

/// A chunk being decoded: its reader after the header and the first point, and the
/// state the next point is read against.
struct Head<'a> {
    r: BitReader<'a>,
    n: usize,
    /// Points still to read after `first` and those already read past it.
    left: usize,
    decimal: bool,
    scale: f64,
    first: Point,
    cursor: Cursor,
}

/// The decoder's state between points: the previous point, the time delta, and the
/// scaled integer of a decimal value.
#[derive(Debug, Clone, Copy)]
struct Cursor {
    ts: i64,
    value: f64,
    aux: u64,
    delta: i64,
    int: i64,
}

impl<'a> Head<'a> {
    /// Reads a chunk's header and first point (`None`: the chunk has no points).
    fn read(bytes: &'a [u8]) -> Result<Option<Head<'a>>> {
        let mut r = BitReader::new(bytes);
        let n = r.varint()?;
        if n > MAX_CHUNK_POINTS {
            return Err(TrendError::corrupt(format!("chunk claims {n} points")));
        }
        let n = usize::try_from(n).map_err(|_| TrendError::corrupt("chunk size"))?;
        if n == 0 {
            return Ok(None);
        }
        let mode = r.read(4);
        let exp = match mode {
            0 => None,
            m if m <= u64::from(MAX_EXP) + 1 => Some(i32::try_from(m - 1).unwrap_or(0)),
            _ => return Err(TrendError::corrupt("unknown value mode")),
        };
        let scale = 10f64.powi(exp.unwrap_or(0));
        let ts = unzigzag(r.varint()?);
        let mut int = 0i64;
        let value = match exp {
            Some(_) => {
                int = unzigzag(r.varint()?);
                unscaled(int, scale)
            }
            None => f64::from_bits(r.read(64)),
        };
        let first = Point {
            ts,
            value,
            aux: r.varint()?,
        };
        if r.overrun() {
            return Err(TrendError::corrupt("chunk ends early"));
        }
        // Each point after the first takes 3 bits at least: a chunk that claims more
        // than its bytes hold is refused here, before points are read from the zeros
        // past its end (which the register read checks only once it stops).
        if n - 1 > r.left() / MIN_POINT_BITS {
            return Err(TrendError::corrupt(format!(
                "chunk claims {n} points in {} bytes",
                bytes.len()
            )));
        }
        Ok(Some(Head {
            r,
            n,
            left: n - 1,
            decimal: exp.is_some(),
            scale,
            first,
            cursor: Cursor {
                ts,
                value,
                aux: first.aux,
                delta: 0,
                int,
            },
        }))
    }

    /// Decodes the points left into `out`.
    fn rest<O: Out>(&mut self, out: &mut O) -> Result<()> {
        // Integers (scale 1) get a loop of their own without the division, which the
        // compiler otherwise keeps in the loop (and it took most of the decoding time).
        if self.scale == 1.0 {
            decode_rest::<true, O>(
                &mut self.r,
                self.left,
                self.cursor,
                self.decimal,
                self.scale,
                out,
            )
        } else {
            decode_rest::<false, O>(
                &mut self.r,
                self.left,
                self.cursor,
                self.decimal,
                self.scale,
                out,
            )
        }
    }
}

/// The `left` points of a chunk after `cur`: decimal (scaled integers, divided by
/// `scale` unless `UNIT`) or raw floats.
fn decode_rest<const UNIT: bool, O: Out>(
    r: &mut BitReader<'_>,
    left: usize,
    cur: Cursor,
    decimal: bool,
    scale: f64,
    out: &mut O,
) -> Result<()> {
    let unscaled = |int: i64| {
        // Exact below 2^53, which is all `encode` writes.
        #[allow(clippy::cast_precision_loss)]
        let x = int as f64;
        if UNIT { x } else { x / scale }
    };
    // The previous point in locals, not a `Point` rebuilt each time: the compiler
    // kept that in memory, and reading it back whole after writing its fields one by
    // one stalled every point.
    let (mut ts, mut value, mut aux) = (cur.ts, cur.value, cur.aux);
    let mut delta = cur.delta;
    let mut int = cur.int;
    let mut lead: u32 = 0;
    let mut trail: u32 = 0;
    let mut left = left;
    let mut batch = Batch::new();
    while left > 0 {
        if decimal {
            // The usual points of a decimal series (both codes in their short tiers
            // and no change of count), read from a register.
            let mut w = Window::at(r);
            while left > 0 {
                let room = left.min(Batch::LEN);
                let mut k = 0;
                while k < room {
                    let Some((dod, step, used)) = usual_point(w.bits) else {
                        break;
                    };
                    w.take(used);
                    delta = delta.wrapping_add(dod);
                    int = int.wrapping_add(step);
                    ts = ts.wrapping_add(delta);
                    batch.ts[k] = ts;
                    batch.values[k] = unscaled(int);
                    k += 1;
                    w.refill(r);
                }
                batch.n = k;
                if k > 0 {
                    value = batch.values[k - 1];
                }
                flush(&mut batch, out, aux);
                left -= k;
                if k < room {
                    break;
                }
            }
            r.consume(w.taken);
            // Bits past the end read as zeros, which decode as points.
            if r.overrun() {
                return Err(TrendError::corrupt("chunk ends early"));
            }
            if left == 0 {
                break;
            }
        }
        left -= 1;
        delta = delta.wrapping_add(get_tiered(r, DOD_WIDTHS));
        ts = ts.wrapping_add(delta);
        value = if decimal {
            int = int.wrapping_add(get_tiered(r, DELTA_WIDTHS));
            unscaled(int)
        } else {
            let mut bits = value.to_bits();
            if r.bit() {
                if r.bit() {
                    lead = u32::try_from(r.read(5)).unwrap_or(0);
                    let mut len = u32::try_from(r.read(6)).unwrap_or(0);
                    if len == 0 {
                        len = 64;
                    }
                    if lead + len > 64 {
                        return Err(TrendError::corrupt("bad XOR window"));
                    }
                    trail = 64 - lead - len;
                }
                let len = 64 - lead - trail;
                bits ^= r.read(len) << trail;
            }
            f64::from_bits(bits)
        };
        if r.bit() {
            let width = u32::try_from(r.read(6)).unwrap_or(0) + 1;
            aux = aux.wrapping_add(unzigzag(r.read(width)).cast_unsigned());
        }
        if r.overrun() {
            return Err(TrendError::corrupt("chunk ends early"));
        }
        out.push(ts, value, aux);
    }
    Ok(())
}

/// A scaled integer back to its value (exact for what `encode` wrote; damaged input
/// gives some number, never a panic). Integers (scale 1) skip the division, the
/// slowest step of decoding them.
#[inline]
fn unscaled(int: i64, scale: f64) -> f64 {
    // Exact below 2^53, which is all `encode` writes.
    #[allow(clippy::cast_precision_loss)]
    let x = int as f64;
    if scale == 1.0 { x } else { x / scale }
}

#[cfg(test)]
#[path = "codec_tests.rs"]
mod tests;
