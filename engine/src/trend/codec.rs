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

/// Value widths of the prefix code of integer deltas (`10`, `110`, `1110` + value).
const DELTA_WIDTHS: [u32; 3] = [6, 12, 20];
/// Value widths of the prefix code of timestamp deltas-of-deltas.
const DOD_WIDTHS: [u32; 3] = [7, 9, 12];

/// Writes `v` in a prefix code: `0` for zero; `10`, `110`, `1110` followed by the
/// zigzagged value in `widths[0..3]` bits, the first that holds it; else `1111` and all
/// 64 bits.
fn put_tiered(w: &mut BitWriter, v: i64, widths: [u32; 3]) {
    if v == 0 {
        w.bit(false);
        return;
    }
    let z = zigzag(v);
    for (ones, width) in (1u32..).zip(widths) {
        if z < 1 << width {
            // `ones` one bits, then a zero.
            w.write((1 << (ones + 1)) - 2, ones + 1);
            w.write(z, width);
            return;
        }
    }
    w.write(0b1111, 4);
    w.write(z, 64);
}

/// Reads what [`put_tiered`] wrote with the same `widths` (each below 53 bits): the
/// prefix and the value come from one look at the next bits.
#[inline]
fn get_tiered(r: &mut BitReader<'_>, widths: [u32; 3]) -> i64 {
    let next = r.peek();
    let ones = (!next).leading_zeros().min(4);
    match ones {
        0 => {
            r.consume(1);
            0
        }
        1..=3 => {
            let width = widths[ones as usize - 1];
            r.consume(ones + 1 + width);
            unzigzag((next << (ones + 1)) >> (64 - width))
        }
        _ => {
            r.consume(4);
            unzigzag(r.read(64))
        }
    }
}

/// The prefix code of [`put_tiered`] at the top of `bits`: the value and the bits it
/// took, or `None` for the 64-bit tier (which one look may not hold).
#[inline]
fn tiered_at(bits: u64, widths: [u32; 3]) -> Option<(i64, u32)> {
    let ones = (!bits).leading_zeros();
    match ones {
        0 => Some((0, 1)),
        1..=3 => {
            let width = widths[ones as usize - 1];
            Some((
                unzigzag((bits << (ones + 1)) >> (64 - width)),
                ones + 1 + width,
            ))
        }
        _ => None,
    }
}

/// One point of a decimal chunk from the next bits ([`BitReader::peek`]): the change
/// of the time delta, the change of the scaled value and the bits used, when both
/// codes are in their short tiers and the count bit is clear. Those take at most
/// 16 + 24 + 1 bits, inside the 57 a look holds. `None`: read it code by code.
#[inline]
fn regular_point(bits: u64) -> Option<(i64, i64, u32)> {
    let (dod, a) = tiered_at(bits, DOD_WIDTHS)?;
    let (step, b) = tiered_at(bits << a, DELTA_WIDTHS)?;
    ((bits << (a + b)) >> 63 == 0).then_some((dod, step, a + b + 1))
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
pub fn decode_into(bytes: &[u8], out: &mut Vec<Point>) -> Result<()> {
    out.clear();
    let Some(mut h) = Head::read(bytes)? else {
        return Ok(());
    };
    out.reserve(h.n.min(bytes.len() * 8));
    out.push(h.first);
    h.rest(out)
}

/// Decodes two chunks into `out_a` and `out_b` (each cleared first), as two calls of
/// [`decode_into`] would, the usual points of both in one loop: a point's position
/// in its stream depends on the point before, so one stream keeps the core waiting
/// on that chain, and two independent chains fill the wait.
///
/// # Errors
/// `Corrupt` when either does not decode.
pub fn decode_pair_into(
    a: &[u8],
    b: &[u8],
    out_a: &mut Vec<Point>,
    out_b: &mut Vec<Point>,
) -> Result<()> {
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
    out_a.push(ha.first);
    out_b.push(hb.first);
    if ha.decimal && hb.decimal && ha.scale == hb.scale {
        if ha.scale == 1.0 {
            pair_regular::<true>(&mut ha, &mut hb, out_a, out_b)?;
        } else {
            pair_regular::<false>(&mut ha, &mut hb, out_a, out_b)?;
        }
    }
    ha.rest(out_a)?;
    hb.rest(out_b)
}

/// The usual points of two decimal chunks with the same scale, in lockstep, until
/// either ends or meets a point that is not one ([`regular_point`]); each head then
/// stands after what it decoded.
fn pair_regular<const UNIT: bool>(
    a: &mut Head<'_>,
    b: &mut Head<'_>,
    out_a: &mut Vec<Point>,
    out_b: &mut Vec<Point>,
) -> Result<()> {
    let scale = a.scale;
    let unscaled = |int: i64| {
        // Exact below 2^53, which is all `encode` writes.
        #[allow(clippy::cast_precision_loss)]
        let x = int as f64;
        if UNIT { x } else { x / scale }
    };
    let (mut ca, mut cb) = (a.cursor, b.cursor);
    let mut left = a.left.min(b.left);
    while left > 0 {
        let (Some((da, sa, ua)), Some((db, sb, ub))) =
            (regular_point(a.r.peek()), regular_point(b.r.peek()))
        else {
            break;
        };
        a.r.consume(ua);
        b.r.consume(ub);
        if a.r.overrun() || b.r.overrun() {
            return Err(TrendError::corrupt("chunk ends early"));
        }
        ca.delta = ca.delta.wrapping_add(da);
        cb.delta = cb.delta.wrapping_add(db);
        ca.int = ca.int.wrapping_add(sa);
        cb.int = cb.int.wrapping_add(sb);
        ca.ts = ca.ts.wrapping_add(ca.delta);
        cb.ts = cb.ts.wrapping_add(cb.delta);
        ca.value = unscaled(ca.int);
        cb.value = unscaled(cb.int);
        out_a.push(Point {
            ts: ca.ts,
            value: ca.value,
            aux: ca.aux,
        });
        out_b.push(Point {
            ts: cb.ts,
            value: cb.value,
            aux: cb.aux,
        });
        left -= 1;
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
    fn rest(&mut self, out: &mut Vec<Point>) -> Result<()> {
        // Integers (scale 1) get a loop of their own without the division, which the
        // compiler otherwise keeps in the loop (and it took most of the decoding time).
        if self.scale == 1.0 {
            decode_rest::<true>(
                &mut self.r,
                self.left,
                self.cursor,
                self.decimal,
                self.scale,
                out,
            )
        } else {
            decode_rest::<false>(
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
fn decode_rest<const UNIT: bool>(
    r: &mut BitReader<'_>,
    left: usize,
    cur: Cursor,
    decimal: bool,
    scale: f64,
    out: &mut Vec<Point>,
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
    for _ in 0..left {
        if decimal && let Some((dod, step, used)) = regular_point(r.peek()) {
            // The usual point of a decimal series: both codes in their short tiers and
            // no change of count, all read from one look at the stream.
            r.consume(used);
            delta = delta.wrapping_add(dod);
            int = int.wrapping_add(step);
            if r.overrun() {
                return Err(TrendError::corrupt("chunk ends early"));
            }
            ts = ts.wrapping_add(delta);
            value = unscaled(int);
            out.push(Point { ts, value, aux });
            continue;
        }
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
        out.push(Point { ts, value, aux });
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
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// The bytes on disk do not change between versions: a fixed series that reaches
    /// every tier of both prefix codes (deltas and deltas-of-deltas up to 64 bits),
    /// decimal and raw float values, hashed.
    #[test]
    fn the_encoding_of_a_fixed_series_is_stable() {
        let mut series = Vec::new();
        let (mut ts, mut x) = (1_700_000_000_i64, 0x9e37_79b9_7f4a_7c15_u64);
        for i in 0..400_i64 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            let step = [10, 10, 11, 70, 300, 3000, 1 << 40][usize::try_from(i % 7).unwrap()];
            ts += step;
            let jump = [0, 3, -30, 2000, -500_000, 1 << 50][usize::try_from(i % 6).unwrap()];
            let value = (jump + i64::try_from(x % 100).unwrap()) as f64 / 10.0;
            series.push((ts, value, x % 5));
        }
        let decimal = encode(&pts(&series));
        let raw_series: Vec<_> = series
            .iter()
            .map(|&(t, v, a)| (t, v * std::f64::consts::PI, a))
            .collect();
        let raw = encode(&pts(&raw_series));
        let fnv = |b: &[u8]| {
            b.iter().fold(0xcbf2_9ce4_8422_2325_u64, |h, &c| {
                (h ^ u64::from(c)).wrapping_mul(0x100_0000_01b3)
            })
        };
        assert_eq!(
            (decimal.len(), fnv(&decimal)),
            (3710, 0x09e5_3414_c04e_3e71)
        );
        assert_eq!((raw.len(), fnv(&raw)), (5356, 0x325e_234d_cb2c_a696));
        assert!(same(&decode(&raw).unwrap(), &pts(&raw_series)));
    }

    fn pts(v: &[(i64, f64, u64)]) -> Vec<Point> {
        v.iter()
            .map(|&(ts, value, aux)| Point { ts, value, aux })
            .collect()
    }

    fn same(a: &[Point], b: &[Point]) -> bool {
        a.len() == b.len()
            && a.iter().zip(b).all(|(x, y)| {
                x.ts == y.ts && x.value.to_bits() == y.value.to_bits() && x.aux == y.aux
            })
    }

    /// Equal up to the decimal snap (NaN and infinities stay bit-equal).
    fn close(a: &[Point], b: &[Point]) -> bool {
        a.len() == b.len()
            && a.iter()
                .zip(b)
                .all(|(x, y)| x.ts == y.ts && x.aux == y.aux && close_enough(x.value, y.value))
    }

    #[test]
    fn regular_steady_points_cost_three_bits() {
        let p: Vec<Point> = (0..1000)
            .map(|i| Point {
                ts: 1_700_000_000 + i * 10,
                value: 42.0,
                aux: 1,
            })
            .collect();
        let b = encode(&p);
        assert!(b.len() < 1000 * 3 / 8 + 20, "{} bytes", b.len());
        assert!(same(&decode(&b).unwrap(), &p));
    }

    #[test]
    fn decimals_are_stored_as_scaled_integers() {
        let p: Vec<Point> = (0..720)
            .map(|i| Point {
                ts: 1_700_000_000 + i * 10,
                value: f64::from(i32::try_from(i % 7).unwrap()) / 10.0 + 20.0,
                aux: 1,
            })
            .collect();
        assert_eq!(decimal_exponent(&p), Some(1));
        let b = encode(&p);
        assert!(b.len() < 720 * 12 / 8, "{} bytes", b.len());
        assert!(same(&decode(&b).unwrap(), &p));
        // A rollup sum off by float addition error is stored as its decimal.
        let sum = pts(&[(1, 0.1 + 0.2, 1), (2, 1.0, 1)]);
        assert_eq!(decimal_exponent(&sum), Some(1));
        assert_eq!(decode(&encode(&sum)).unwrap()[0].value, 0.3);
        let third = pts(&[(1, 1.0 / 3.0, 1), (2, 1.0, 1)]);
        assert_eq!(decimal_exponent(&third), None);
        assert!(same(&decode(&encode(&third)).unwrap(), &third));
        let signed = pts(&[(1, -0.0, 1), (2, 1.0, 1)]);
        assert!(same(&decode(&encode(&signed)).unwrap(), &signed));
        let big = pts(&[(1, 1e300, 1), (2, -1e17, 1), (3, 9e15, 1)]);
        assert!(same(&decode(&encode(&big)).unwrap(), &big));
    }

    #[test]
    fn edge_values_round_trip() {
        let p = pts(&[
            (i64::MIN / 2, f64::NAN, 0),
            (0, -0.0, u64::MAX),
            (1, f64::INFINITY, 0),
            (2, f64::MIN_POSITIVE, 5),
            (10_000_000_000, f64::MAX, 5),
            (10_000_000_001, 1.0, 4),
        ]);
        assert!(same(&decode(&encode(&p)).unwrap(), &p));
        assert!(decode(&encode(&[])).unwrap().is_empty());
    }

    #[test]
    fn damaged_chunks_are_errors_not_panics() {
        let p = pts(&[(10, 1.5, 1), (20, 2.5, 2), (31, 7.25, 9)]);
        let b = encode(&p);
        for cut in 0..b.len() {
            let _ = decode(&b[..cut]);
        }
        assert!(decode(&[0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff]).is_err());
        assert!(decode(&b[..b.len() / 2]).is_err());
    }

    proptest! {
        #[test]
        fn any_increasing_points_round_trip(
            start in -1_000_000_000_000i64..1_000_000_000_000,
            steps in proptest::collection::vec(
                (1i64..100_000, any::<f64>(), any::<u64>(), any::<bool>(), any::<bool>()),
                0..300,
            ),
        ) {
            let mut ts = start;
            let mut p = Vec::new();
            let mut prev = Point { ts, value: 0.0, aux: 0 };
            for (d, v, a, keep_v, keep_a) in steps {
                ts += d;
                prev = Point {
                    ts,
                    value: if keep_v { prev.value } else { v },
                    aux: if keep_a { prev.aux } else { a % 1000 },
                };
                p.push(prev);
            }
            let got = decode(&encode(&p)).unwrap();
            prop_assert!(close(&got, &p));
        }

        #[test]
        fn decimal_points_round_trip(
            ints in proptest::collection::vec((-1_000_000_000i64..1_000_000_000, 0u32..4), 1..300),
            exp in 0i32..6,
        ) {
            let scale = 10f64.powi(exp);
            let p: Vec<Point> = ints
                .iter()
                .enumerate()
                .map(|(i, &(x, a))| Point {
                    ts: i64::try_from(i).unwrap() * 60,
                    value: unscaled(x, scale),
                    aux: u64::from(a),
                })
                .collect();
            prop_assert!(same(&decode(&encode(&p)).unwrap(), &p));
        }

        /// Small changes of time step and value, which `decode_into` reads from one
        /// look at the stream per point (`regular_point`), mixed with points that
        /// leave the short tiers or change the count, which it reads code by code.
        #[test]
        fn decimal_points_in_the_short_tiers_round_trip(
            steps in proptest::collection::vec(
                (-5_000i64..5_000, -(1i64 << 21)..(1 << 21), 0u8..10),
                1..400,
            ),
            exp in 0i32..4,
        ) {
            let scale = 10f64.powi(exp);
            let (mut ts, mut int, mut aux) = (1_000_000i64, 0i64, 1u64);
            let mut p = Vec::new();
            for (jitter, change, new_aux) in steps {
                ts += 10_000 + jitter;
                int += change;
                if new_aux == 0 {
                    aux += 1;
                }
                p.push(Point { ts, value: unscaled(int, scale), aux });
            }
            prop_assert!(same(&decode(&encode(&p)).unwrap(), &p));
        }

        /// Two chunks decoded together give what each gives alone, bit for bit:
        /// usual and unusual points mixed, the same or different scales, a decimal
        /// chunk beside a raw float one, either empty.
        #[test]
        fn a_pair_decodes_as_each_alone(
            a in proptest::collection::vec((-5_000i64..5_000, -(1i64 << 21)..(1 << 21), 0u8..10), 0..300),
            b in proptest::collection::vec((-5_000i64..5_000, -(1i64 << 21)..(1 << 21), 0u8..10), 0..300),
            exp_a in 0i32..3,
            exp_b in 0i32..3,
            raw_b in any::<bool>(),
        ) {
            let build = |steps: &[(i64, i64, u8)], exp: i32, raw: bool| {
                let scale = 10f64.powi(exp);
                let (mut ts, mut int, mut aux) = (1_000_000i64, 0i64, 1u64);
                let mut p = Vec::new();
                for &(jitter, change, new_aux) in steps {
                    ts += 10_000 + jitter;
                    int += change;
                    if new_aux == 0 {
                        aux += 1;
                    }
                    let value = if raw { unscaled(int, scale) + 0.1 / 3.0 } else { unscaled(int, scale) };
                    p.push(Point { ts, value, aux });
                }
                encode(&p)
            };
            let (ea, eb) = (build(&a, exp_a, false), build(&b, exp_b, raw_b));
            let (mut pa, mut pb) = (vec![Point { ts: 1, value: 1.0, aux: 1 }], Vec::new());
            decode_pair_into(&ea, &eb, &mut pa, &mut pb).unwrap();
            let (wa, wb) = (decode(&ea).unwrap(), decode(&eb).unwrap());
            prop_assert!(same(&pa, &wa));
            prop_assert!(same(&pb, &wb));
        }

        #[test]
        fn random_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..200)) {
            let _ = decode(&bytes);
        }

        #[test]
        fn random_pairs_never_panic(
            a in proptest::collection::vec(any::<u8>(), 0..100),
            b in proptest::collection::vec(any::<u8>(), 0..100),
        ) {
            let (mut pa, mut pb) = (Vec::new(), Vec::new());
            let _ = decode_pair_into(&a, &b, &mut pa, &mut pb);
        }
    }
}
