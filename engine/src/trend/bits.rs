//! Bit-level I/O for the chunk codec: a most-significant-first bit writer and a
//! bounds-checked reader, LEB128 numbers through the bit stream, and zigzag.

use super::error::{Result, TrendError};

/// Writes bits most significant first.
#[derive(Debug, Default)]
pub struct BitWriter {
    bytes: Vec<u8>,
    used: u8,
}

impl BitWriter {
    /// An empty writer.
    pub fn new() -> BitWriter {
        BitWriter::default()
    }

    /// Appends the low `n` bits of `v` (n <= 64).
    pub fn write(&mut self, v: u64, n: u32) {
        let mut left = n;
        while left > 0 {
            if self.used == 0 || self.used == 8 {
                self.bytes.push(0);
                self.used = 0;
            }
            let room = 8 - u32::from(self.used);
            let take = room.min(left);
            let shift = left - take;
            let chunk = (v >> shift) & ((1u64 << take) - 1);
            let last = self.bytes.len() - 1;
            // `chunk` has at most `take` <= 8 bits and is shifted into the free room.
            let bits = u8::try_from(chunk << (room - take)).unwrap_or(0);
            self.bytes[last] |= bits;
            self.used += u8::try_from(take).unwrap_or(8);
            left -= take;
        }
    }

    /// Appends one bit.
    pub fn bit(&mut self, b: bool) {
        self.write(u64::from(b), 1);
    }

    /// Appends an LEB128 number (byte-sized groups through the bit stream).
    pub fn varint(&mut self, mut v: u64) {
        loop {
            let low = v & 0x7f;
            v >>= 7;
            if v == 0 {
                self.write(low, 8);
                return;
            }
            self.write(low | 0x80, 8);
        }
    }

    /// The written bytes (the last one zero-padded).
    pub fn finish(self) -> Vec<u8> {
        self.bytes
    }
}

/// Reads what a [`BitWriter`] wrote. Reads past the end give zero bits and leave
/// [`BitReader::overrun`] set, so a decoder checks once per record rather than on
/// every read (the chunk decoder's inner loop is mostly one-bit reads).
#[derive(Debug)]
pub struct BitReader<'a> {
    bytes: &'a [u8],
    pos: usize,
}

impl<'a> BitReader<'a> {
    /// A reader at the first bit.
    pub fn new(bytes: &'a [u8]) -> BitReader<'a> {
        BitReader { bytes, pos: 0 }
    }

    /// The bits left to read (0 past the end).
    pub fn left(&self) -> usize {
        (self.bytes.len() * 8).saturating_sub(self.pos)
    }

    /// Whether a read went past the end of the stream.
    #[inline]
    pub fn overrun(&self) -> bool {
        self.pos > self.bytes.len() * 8
    }

    /// Reads `n` bits (n <= 64; more reads 64).
    #[inline]
    pub fn read(&mut self, n: u32) -> u64 {
        let n = n.min(64);
        if n > 56 {
            // The window below holds 57..64 bits after the offset in its first byte.
            let hi = self.read(n - 32);
            let lo = self.read(32);
            return (hi << 32) | lo;
        }
        if n == 0 {
            return 0;
        }
        let v = self.peek() >> (64 - n);
        self.pos += n as usize;
        v
    }

    /// The next bits, most significant first: the first 57 are the stream's (zero past
    /// its end); [`BitReader::consume`] moves past what was used.
    #[inline]
    pub fn peek(&self) -> u64 {
        self.window() << (self.pos % 8)
    }

    /// Moves past `n` bits read with [`BitReader::peek`].
    #[inline]
    pub fn consume(&mut self, n: u32) {
        self.pos += n as usize;
    }

    /// The eight bytes from the one holding the next bit, most significant first,
    /// zero past the end.
    #[inline]
    fn window(&self) -> u64 {
        let at = self.pos / 8;
        match self.bytes.get(at..at + 8) {
            Some(b) => u64::from_be_bytes(b.try_into().unwrap_or([0; 8])),
            None => {
                let mut buf = [0u8; 8];
                let tail = self.bytes.get(at..).unwrap_or(&[]);
                buf[..tail.len()].copy_from_slice(tail);
                u64::from_be_bytes(buf)
            }
        }
    }

    /// Reads one bit.
    #[inline]
    pub fn bit(&mut self) -> bool {
        let b = self.peek() >> 63 == 1;
        self.pos += 1;
        b
    }

    /// Reads an LEB128 number.
    ///
    /// # Errors
    /// `Corrupt` at the end of the stream or for an over-long number.
    pub fn varint(&mut self) -> Result<u64> {
        let mut v: u64 = 0;
        for shift in (0..64).step_by(7) {
            let b = self.read(8);
            if self.overrun() {
                return Err(TrendError::corrupt("chunk ends early"));
            }
            v |= (b & 0x7f) << shift;
            if b & 0x80 == 0 {
                return Ok(v);
            }
        }
        Err(TrendError::corrupt("over-long varint"))
    }
}

/// Zigzag: small negative and positive numbers become small unsigned ones.
pub fn zigzag(v: i64) -> u64 {
    // Reinterpreting the bits is the point of zigzag encoding.
    #[allow(clippy::cast_sign_loss)]
    let u = ((v << 1) ^ (v >> 63)) as u64;
    u
}

/// The inverse of [`zigzag`].
pub fn unzigzag(u: u64) -> i64 {
    // Reinterpreting the bits is the point of zigzag encoding.
    #[allow(clippy::cast_possible_wrap)]
    let v = ((u >> 1) as i64) ^ -((u & 1) as i64);
    v
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bits_round_trip() {
        let mut w = BitWriter::new();
        w.write(0b101, 3);
        w.write(u64::MAX, 64);
        w.varint(300);
        w.write(0, 0);
        w.bit(true);
        let b = w.finish();
        let mut r = BitReader::new(&b);
        assert_eq!(r.read(3), 0b101);
        assert_eq!(r.read(64), u64::MAX);
        assert_eq!(r.varint().unwrap(), 300);
        assert!(r.bit());
        assert!(!r.overrun());
        assert_eq!(r.read(64), 0);
        assert!(r.overrun());
    }

    proptest::proptest! {
        /// Reads of every width at every bit offset give back what was written, up to
        /// the last bit, and a read past the end is known as such.
        #[test]
        fn any_widths_round_trip(fields in proptest::collection::vec(
            (proptest::prelude::any::<u64>(), 0u32..=64), 0..40)
        ) {
            let mut w = BitWriter::new();
            for &(v, n) in &fields {
                w.write(v, n);
            }
            let b = w.finish();
            let mut r = BitReader::new(&b);
            for &(v, n) in &fields {
                let want = if n == 64 { v } else { v & ((1u64 << n) - 1) };
                proptest::prop_assert_eq!(r.read(n), want);
            }
            let total: u32 = fields.iter().map(|f| f.1).sum();
            let left = u32::try_from(b.len() * 8).unwrap() - total;
            proptest::prop_assert!(left < 8);
            proptest::prop_assert!(!r.overrun());
            r.read(left);
            proptest::prop_assert!(!r.overrun());
            r.read(1);
            proptest::prop_assert!(r.overrun());
        }
    }
}
