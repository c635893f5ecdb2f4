//! The trend store's Gorilla chunk codec. Model: any series (time stamps strictly
//! increasing, any values and aux counts) encodes and decodes to itself: time stamps
//! and aux exactly, values bit for bit or, for chunks stored as decimals, within the
//! codec's documented 4 ulps; and arbitrary bytes decode to an error or to points,
//! never a panic, and never more points than the chunk limit.
//!
//! Input: the first byte picks decode-arbitrary-bytes (even) or the round trip (odd);
//! for the round trip the rest is read as points.

use treestat_engine::trend::{ChunkPoint, decode_chunk, encode_chunk};

struct Bytes<'a>(&'a [u8]);

impl Bytes<'_> {
    fn u8(&mut self) -> Option<u8> {
        let (&b, rest) = self.0.split_first()?;
        self.0 = rest;
        Some(b)
    }
    fn u64(&mut self) -> Option<u64> {
        let (b, rest) = self.0.split_first_chunk::<8>()?;
        self.0 = rest;
        Some(u64::from_le_bytes(*b))
    }
}

fn points(input: &[u8]) -> Vec<ChunkPoint> {
    let mut b = Bytes(input);
    let mut out: Vec<ChunkPoint> = Vec::new();
    let mut ts = i64::from_le_bytes(
        b.0.get(..8)
            .and_then(|s| s.try_into().ok())
            .unwrap_or([0; 8]),
    );
    b.0 = b.0.get(8..).unwrap_or(&[]);
    while let Some(tag) = b.u8() {
        // Time: a regular step, a small jitter, or any positive step.
        let step = match tag & 3 {
            0 => 10,
            1 => i64::from(b.u8().unwrap_or(1)).max(1),
            2 => i64::try_from(b.u64().unwrap_or(1) >> 1).unwrap().max(1),
            _ => 1,
        };
        if !out.is_empty() {
            let Some(next) = ts.checked_add(step) else {
                break;
            };
            ts = next;
        }
        // Value: raw bits, a short decimal, the same again, or a special.
        let value = match (tag >> 2) & 3 {
            0 => f64::from_bits(b.u64().unwrap_or(0)),
            1 => {
                let n = i64::from(i32::from_le_bytes([
                    b.u8().unwrap_or(0),
                    b.u8().unwrap_or(0),
                    b.u8().unwrap_or(0),
                    b.u8().unwrap_or(0),
                ]));
                let e = i32::from(b.u8().unwrap_or(0) % 12);
                #[allow(clippy::cast_precision_loss)]
                let v = n as f64 / 10f64.powi(e);
                v
            }
            2 => out.last().map_or(0.0, |p| p.value),
            _ => [
                f64::NAN,
                f64::INFINITY,
                -0.0,
                f64::MIN_POSITIVE,
                f64::MAX,
                46.900000000000006,
            ][usize::from(b.u8().unwrap_or(0) % 6)],
        };
        let aux = match (tag >> 4) & 3 {
            0 => out.last().map_or(0, |p| p.aux),
            1 => u64::from(b.u8().unwrap_or(0)),
            _ => b.u64().unwrap_or(0),
        };
        out.push(ChunkPoint { ts, value, aux });
    }
    out
}

fn close_enough(decoded: f64, v: f64) -> bool {
    decoded.to_bits() == v.to_bits() || (decoded - v).abs() <= 4.0 * f64::EPSILON * v.abs()
}

/// Checks one input; panics on a finding.
pub fn run(data: &[u8]) {
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    if mode % 2 == 0 {
        if let Ok(points) = decode_chunk(rest) {
            assert!(points.len() <= 1 << 20);
        }
        return;
    }
    let series = points(rest);
    let chunk = encode_chunk(&series);
    let back = decode_chunk(&chunk).unwrap_or_else(|e| panic!("{series:?} encoded, then: {e}"));
    assert_eq!(back.len(), series.len(), "{series:?}");
    for (got, want) in back.iter().zip(&series) {
        assert_eq!((got.ts, got.aux), (want.ts, want.aux), "in {series:?}");
        assert!(
            close_enough(got.value, want.value),
            "{} came back as {} in {series:?}",
            want.value,
            got.value
        );
    }
}
