//! The record codec: round trips, a torn tail, a bad checksum in the middle and at
//! the end, and replay into a fresh engine.

use std::sync::Arc;

use super::codec::{
    self, Body, Damage, Record, TornTail, crc32c, decode_payload, encode_record, read_records,
};
use crate::{Action, Batch, Engine, EngineConfig, ManualClock, PushDoc, Stats};

fn doc(json: &str) -> PushDoc {
    PushDoc::from_json(json.as_bytes(), 32).unwrap()
}

/// The decoder leaves the validation count at 0; validation fills it again.
fn revalidated(mut r: Record) -> Record {
    if let Body::Doc(d) = &mut r.body {
        d.validate(32).unwrap();
    }
    r
}

fn records() -> Vec<Record> {
    let mut b = Batch::new();
    b.sample("a,b", 1.5, Some(Action::Add));
    b.sample_at("a,c", 1_700_000_000, -2.0, None);
    b.stats(
        "s,t",
        Stats {
            sum: 10.0,
            count: 4,
            min: 1.0,
            max: 4.0,
            last: 2.0,
        },
        Some(Action::Max),
    );
    b.marker("m", "deploy \u{1F680}");
    b.samples("api,latency", &[12.5, 0.25, 900.0], Some(Action::Histogram));
    b.samples("empty", &[], None);
    b.push(crate::Update::Weighted {
        path: "api,sampled".into(),
        value: 3.25,
        weight: 10.0,
    });
    b.push(crate::Update::WeightedSamples {
        path: "api,sampled".into(),
        samples: vec![(3.25, 10.0), (1.5, 1.0), (f64::NAN, 4.0)],
    });
    b.sample("nan", f64::NAN, Some(Action::Last));
    vec![
        Record {
            seq: 1,
            interval: 1_700_000_000,
            len: 10,
            now: 1_700_000_003,
            body: Body::Doc(doc(
                r#"[{"default_action":"add","timestamp":1700000001,"x":{"y":[1,2,3],"z":true,"note":"hi","n":null}},{"q":-0.5}]"#,
            )),
        },
        Record {
            seq: 2,
            interval: 1_700_000_000,
            len: 10,
            now: -5,
            body: Body::Batch(b),
        },
        Record {
            seq: u64::MAX,
            interval: i64::MIN,
            len: 1,
            now: i64::MAX,
            body: Body::Batch(Batch::new()),
        },
    ]
}

fn log(recs: &[Record]) -> Vec<u8> {
    recs.iter().flat_map(encode_record).collect()
}

/// Compares by bits so that a NaN sample round-trips as equal.
fn same(a: &[Record], b: &[Record]) {
    assert_eq!(format!("{a:?}"), format!("{b:?}"));
}

#[test]
fn crc32c_matches_the_standard_check_value() {
    assert_eq!(crc32c(0, b"123456789"), 0xE306_9283);
    assert_eq!(crc32c(crc32c(0, b"12345"), b"6789"), 0xE306_9283);
    assert_eq!(crc32c(0, b""), 0);
}

#[test]
fn records_round_trip() {
    let recs = records();
    let bytes = log(&recs);
    let (back, bad, tail) = read_records(&bytes);
    assert_eq!((bad, tail), (0, None));
    let back: Vec<Record> = back.into_iter().map(revalidated).collect();
    same(&recs, &back);
}

#[test]
fn a_torn_tail_is_dropped_alone_and_reported() {
    let recs = records();
    let whole = log(&recs[..2]);
    let first = encode_record(&recs[0]).len();
    // Cut anywhere inside the second frame: the first record survives.
    for cut in [first + 1, first + 7, first + 8, whole.len() - 1] {
        let (back, bad, tail) = read_records(&whole[..cut]);
        assert_eq!(back.len(), 1, "cut at {cut}");
        assert_eq!(bad, 0);
        assert_eq!(
            tail,
            Some(TornTail {
                valid_len: first,
                damage: Damage::Torn
            })
        );
    }
}

#[test]
fn a_zeroed_tail_is_the_end_of_the_log_not_damage() {
    // A preallocated segment: the frames, then zeros to its end (even fewer than a
    // header's worth).
    let recs = records();
    for zeros in [0, 3, 8, 4096] {
        let mut bytes = log(&recs);
        bytes.resize(bytes.len() + zeros, 0);
        let (back, bad, tail) = read_records(&bytes);
        assert_eq!((bad, tail), (0, None), "{zeros} zeros");
        let back: Vec<Record> = back.into_iter().map(revalidated).collect();
        same(&recs, &back);
    }
    // A prepared segment no record reached yet.
    assert_eq!(read_records(&[0; 4096]), (Vec::new(), 0, None));
}

#[test]
fn a_write_cut_short_in_a_zeroed_segment_is_dropped_alone() {
    let recs = records();
    let whole = log(&recs[..2]);
    let first = encode_record(&recs[0]).len();
    // Only the first `cut` bytes of the second frame reached the disk; zeros follow
    // (cut before its last byte that is not a zero, or the frame is whole).
    let last_nonzero = whole.iter().rposition(|&b| b != 0).unwrap();
    assert!(last_nonzero > first + 20);
    for cut in [first + 1, first + 4, first + 8, first + 20, last_nonzero] {
        let mut bytes = whole[..cut].to_vec();
        bytes.resize(whole.len() + 4096, 0);
        let (back, bad, tail) = read_records(&bytes);
        assert_eq!((back.len(), bad), (1, 0), "cut at {cut}");
        assert_eq!(tail.map(|t| t.valid_len), Some(first), "cut at {cut}");
    }
}

#[test]
fn a_bad_checksum_in_the_middle_skips_that_record_alone() {
    let recs = records();
    let mut bytes = log(&recs);
    let first = encode_record(&recs[0]).len();
    // Flip a byte inside the second record's payload.
    bytes[first + 40] ^= 0x55;
    let (back, bad, tail) = read_records(&bytes);
    assert_eq!(bad, 1);
    assert_eq!(tail, None);
    let back: Vec<Record> = back.into_iter().map(revalidated).collect();
    same(&[recs[0].clone(), recs[2].clone()], &back);
}

#[test]
fn a_bad_checksum_at_the_end_is_a_corrupt_tail() {
    let recs = records();
    let mut bytes = log(&recs[..2]);
    let first = encode_record(&recs[0]).len();
    let last = bytes.len() - 1;
    bytes[last] ^= 1;
    let (back, bad, tail) = read_records(&bytes);
    assert_eq!((back.len(), bad), (1, 0));
    assert_eq!(
        tail,
        Some(TornTail {
            valid_len: first,
            damage: Damage::Corrupt
        })
    );
}

#[test]
fn garbage_never_panics_and_never_allocates_its_length() {
    // A length of 4 GiB announced by garbage: torn, not an allocation.
    let (back, _, tail) = read_records(&[0xff; 64]);
    assert!(back.is_empty());
    assert_eq!(tail.map(|t| t.valid_len), Some(0));
    // Payloads that lie about their counts do not decode.
    let mut p = vec![0u8; codec::RECORD_HEADER];
    p.extend_from_slice(&[1, 0xff, 0xff, 0xff, 0xff, 0x0f]);
    assert!(decode_payload(&p).is_none());
    // Deep nesting is refused rather than recursed into without bound.
    let mut p = vec![0u8; codec::RECORD_HEADER];
    p.extend_from_slice(&[0, 1]);
    for _ in 0..5000 {
        p.extend_from_slice(&[0, 0, 1, 1, b'k', 0]);
    }
    assert!(decode_payload(&p).is_none());
}

#[test]
fn replayed_records_land_in_their_interval_at_their_time() {
    let clock = Arc::new(ManualClock::new(1_000_095));
    let engine = Engine::with_clock(EngineConfig::default(), clock).unwrap();
    let mut b = Batch::new();
    b.sample("c", 2.0, Some(Action::Add));
    for (seq, now) in [(7, 1_000_001), (8, 1_000_005), (9, 1_000_012)] {
        let interval = now / 10 * 10;
        let rec = Record {
            seq,
            interval,
            len: 10,
            now,
            body: Body::Batch(b.clone()),
        };
        let closed = engine.replay_record(rec).unwrap();
        if seq == 9 {
            // Moving on to the next interval closed the first, with the log's mark.
            let c = closed.expect("closed on the way");
            assert_eq!((c.start, c.wal_seq), (1_000_000, 8));
            assert_eq!(c.points[0].stats.count, 2);
        } else {
            assert!(closed.is_none());
        }
    }
    assert_eq!(engine.query("c").unwrap(), vec![("c".to_string(), 6.0)]);
    let closed = engine.close_due().expect("the replayed interval is due");
    assert_eq!((closed.start, closed.wal_seq), (1_000_010, 9));
    assert_eq!(engine.stats().open_start, 1_000_090);
}
