//! The codec's tests: round trips, stable bytes, damaged input, pairs.

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
        && a.iter()
            .zip(b)
            .all(|(x, y)| x.ts == y.ts && x.value.to_bits() == y.value.to_bits() && x.aux == y.aux)
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

    /// Series of mostly usual points (the step kept, small changes of value: read
    /// from a register, the shortest through `SHORT_POINTS`), long enough to span
    /// several batches, with now and then a point read code by code: alone and in
    /// pairs, into points and into columns, they decode to what was written.
    #[test]
    fn mostly_usual_points_round_trip_alone_paired_and_in_columns(
        a in proptest::collection::vec((0u8..40, -40i64..40), 0..700),
        b in proptest::collection::vec((0u8..40, -40i64..40), 0..700),
        exp in 0i32..3,
    ) {
        let build = |steps: &[(u8, i64)]| {
            let scale = 10f64.powi(exp);
            let (mut ts, mut int, mut aux) = (1_000_000i64, 0i64, 1u64);
            let mut p = Vec::new();
            for &(odd, change) in steps {
                match odd {
                    // A gap, a jump of value, a change of count.
                    0 => ts += 10,
                    1 => int += 1 << 30,
                    2 => aux += 1,
                    _ => {}
                }
                ts += 10;
                int += change;
                p.push(Point { ts, value: unscaled(int, scale), aux });
            }
            p
        };
        let (pa, pb) = (build(&a), build(&b));
        let (ea, eb) = (encode(&pa), encode(&pb));
        prop_assert!(same(&decode(&ea).unwrap(), &pa));
        let (mut da, mut db) = (Vec::new(), Vec::new());
        decode_pair_into(&ea, &eb, &mut da, &mut db).unwrap();
        prop_assert!(same(&da, &pa));
        prop_assert!(same(&db, &pb));
        let (mut ca, mut cb) = (Columns::default(), Columns::default());
        decode_pair_into(&ea, &eb, &mut ca, &mut cb).unwrap();
        let points = |c: &Columns| (0..c.ts.len()).map(|k| c.point(k)).collect::<Vec<_>>();
        prop_assert!(same(&points(&ca), &pa));
        prop_assert!(same(&points(&cb), &pb));
        decode_into(&ea, &mut ca).unwrap();
        prop_assert!(same(&points(&ca), &pa));
    }
}

/// A chunk cut short is an error, also where the points read from a register past
/// its end (zeros, which read as steady points) would look whole.
#[test]
fn chunks_cut_short_are_errors() {
    let steady: Vec<Point> = (0..500)
        .map(|k| Point {
            ts: 1_000 + k * 10,
            value: 5.0,
            aux: 1,
        })
        .collect();
    let changing: Vec<Point> = (0..500)
        .map(|k| Point {
            ts: 1_000 + k * 10,
            value: (k % 37) as f64,
            aux: 1,
        })
        .collect();
    for p in [steady, changing] {
        let whole = encode(&p);
        for cut in 1..=9 {
            let short = &whole[..whole.len() - cut];
            assert!(decode(short).is_err(), "cut by {cut}");
            let mut c = Columns::default();
            assert!(decode_into(short, &mut c).is_err(), "cut by {cut}, columns");
            let (mut x, mut y) = (Vec::new(), Vec::new());
            assert!(decode_pair_into(short, &whole, &mut x, &mut y).is_err());
            assert!(decode_pair_into(&whole, short, &mut x, &mut y).is_err());
        }
    }
}

/// A chunk that claims more points than its bytes can hold is refused at once, not
/// decoded into a million points read from the zeros past its end.
#[test]
fn a_chunk_claiming_more_points_than_it_holds_is_refused() {
    let p: Vec<Point> = (0..10)
        .map(|k| Point {
            ts: 1_000 + k * 10,
            value: 5.0,
            aux: 1,
        })
        .collect();
    let mut bytes = encode(&p);
    // `n` is the first byte (a varint below 128); claim as many as a varint allows.
    assert_eq!(bytes[0], 10);
    let mut claim = Vec::new();
    let mut w = super::super::bits::BitWriter::new();
    w.varint(MAX_CHUNK_POINTS);
    claim.extend(w.finish());
    bytes.splice(0..1, claim);
    let err = decode(&bytes).unwrap_err().to_string();
    assert!(err.contains("claims"), "{err}");
    let (mut a, mut b) = (Vec::new(), Vec::new());
    assert!(decode_pair_into(&bytes, &encode(&p), &mut a, &mut b).is_err());
    assert!(a.is_empty() && b.is_empty());
}
