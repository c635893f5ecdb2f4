//! The chunk codec's prefix codes (`codec.rs` has the layout) and the fast reading of
//! its usual points: a register of the stream's next bits, a table of the shortest
//! points, and the arrays points are decoded into before they go out together.

use super::bits::{BitReader, BitWriter, unzigzag, zigzag};

/// Value widths of the prefix code of integer deltas (`10`, `110`, `1110` + value).
pub(super) const DELTA_WIDTHS: [u32; 3] = [6, 12, 20];
/// Value widths of the prefix code of timestamp deltas-of-deltas.
pub(super) const DOD_WIDTHS: [u32; 3] = [7, 9, 12];

/// Writes `v` in a prefix code: `0` for zero; `10`, `110`, `1110` followed by the
/// zigzagged value in `widths[0..3]` bits, the first that holds it; else `1111` and all
/// 64 bits.
pub(super) fn put_tiered(w: &mut BitWriter, v: i64, widths: [u32; 3]) {
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
pub(super) fn get_tiered(r: &mut BitReader<'_>, widths: [u32; 3]) -> i64 {
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

/// How many bits [`SHORT_POINTS`] looks at.
const SHORT_BITS: u32 = 10;

/// The shortest usual points by their first [`SHORT_BITS`] bits: time delta
/// unchanged (`0`), value unchanged (`0`) or changed by a 6-bit delta (`10` + 6),
/// count unchanged (`0`). An entry is the change of the value shifted left by 8 and
/// the bits used; 0 where the bits start no such point.
static SHORT_POINTS: [i32; 1 << SHORT_BITS] = short_points();

const fn short_points() -> [i32; 1 << SHORT_BITS] {
    let mut table = [0i32; 1 << SHORT_BITS];
    let mut i = 0;
    while i < table.len() {
        let bits = (i as u64) << (64 - SHORT_BITS);
        // The time code is `0`; then the value's.
        let (change, used) = if bits >> 63 == 1 {
            (0, 0)
        } else if (bits << 1) >> 63 == 0 {
            (0, 2)
        } else if (bits << 2) >> 63 == 0 {
            let z = (bits << 3) >> (64 - DELTA_WIDTHS[0]);
            #[allow(clippy::cast_possible_truncation, clippy::cast_possible_wrap)]
            let v = ((z >> 1) as i32) ^ -((z & 1) as i32);
            (v, 1 + 2 + DELTA_WIDTHS[0])
        } else {
            (0, 0)
        };
        // Then the count's: `0`.
        if used > 0 && (bits << used) >> 63 == 0 {
            #[allow(clippy::cast_possible_wrap)]
            let used = (used + 1) as i32;
            table[i] = (change << 8) | used;
        }
        i += 1;
    }
    table
}

/// [`regular_point`], the shortest ones found in [`SHORT_POINTS`]: a load where the
/// codes' prefixes took several steps, each waiting on the one before.
#[inline]
pub(super) fn usual_point(bits: u64) -> Option<(i64, i64, u32)> {
    let e = SHORT_POINTS[(bits >> (64 - SHORT_BITS)) as usize];
    if e != 0 {
        #[allow(clippy::cast_sign_loss)]
        return Some((0, i64::from(e >> 8), (e & 0xff) as u32));
    }
    regular_point(bits)
}

/// The most bits a usual point takes ([`regular_point`]).
const REGULAR_MAX_BITS: u32 = 16 + 24 + 1;

/// The next bits of a stream held in a register: `bits` from the reader's position
/// on, of which the first `avail` are the stream's, `taken` of them used since.
/// Reading point after point from a register spares a load (and its bounds test)
/// per point, which was the longest step of the chain from one point to the next.
pub(super) struct Window {
    pub(super) bits: u64,
    pub(super) avail: u32,
    pub(super) taken: u32,
}

impl Window {
    #[inline]
    pub(super) fn at(r: &BitReader<'_>) -> Window {
        Window {
            bits: r.peek(),
            avail: 57,
            taken: 0,
        }
    }

    /// Uses `n` bits (at most `avail`).
    #[inline]
    pub(super) fn take(&mut self, n: u32) {
        self.bits <<= n;
        self.avail -= n;
        self.taken += n;
    }

    /// Moves the reader past what was used and looks again when the next point might
    /// not be whole in the register.
    #[inline]
    pub(super) fn refill(&mut self, r: &mut BitReader<'_>) {
        if self.avail < REGULAR_MAX_BITS {
            r.consume(self.taken);
            *self = Window::at(r);
        }
    }
}

/// Points decoded into arrays before they go out together ([`Out::push_run`]): the
/// decoding loop keeps its state in registers, where pushing each point reloaded the
/// output's length and capacity and spilled the state around them.
pub(super) struct Batch {
    pub(super) ts: [i64; Batch::LEN],
    pub(super) values: [f64; Batch::LEN],
    pub(super) n: usize,
}

impl Batch {
    pub(super) const LEN: usize = 64;

    pub(super) fn new() -> Batch {
        Batch {
            ts: [0; Batch::LEN],
            values: [0.0; Batch::LEN],
            n: 0,
        }
    }

    /// The points held, which the caller then sends on ([`super::codec::Out::push_run`]).
    pub(super) fn points(&self) -> (&[i64], &[f64]) {
        (&self.ts[..self.n], &self.values[..self.n])
    }
}
