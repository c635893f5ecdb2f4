//! The write-ahead log's record reader (`treestat_engine::wal::codec`), which reads
//! whatever a crash left on disk. Input: the first byte picks arbitrary bytes (even) or
//! the model (odd).
//!
//! - Arbitrary bytes: reading never panics, a torn tail keeps at most the bytes there
//!   are, and every record read re-encodes to a frame that reads back the same.
//! - Model: records built from the input (samples, folded stats, markers, sample
//!   lists, weighted samples, any f64 bits; and deletes, tag 6, each a record of its
//!   own carrying a pattern) are encoded and concatenated; reading gives them back exactly
//!   with no damage, and the log cut anywhere gives back exactly the records wholly
//!   before the cut, with a torn tail unless the cut falls between frames.
//! - Model, preallocated: the log followed by zeros (a segment written with zeros
//!   before its records) reads the same, the zeros being the end; and a write cut
//!   short there (zeros from the cut on) gives back exactly the frames the zeros left
//!   whole, the damaged one dropped as the tail with the length worth keeping.

use treestat_engine::wal::codec::{Body, Record, encode_record, read_records};
use treestat_engine::{Action, Batch, Stats, Update};

const ACTIONS: [Option<Action>; 7] = [
    None,
    Some(Action::Add),
    Some(Action::Average),
    Some(Action::Max),
    Some(Action::Min),
    Some(Action::Last),
    Some(Action::Histogram),
];

fn f64_at(b: &[u8], i: usize) -> f64 {
    let mut w = [0u8; 8];
    for (k, x) in w.iter_mut().enumerate() {
        *x = b.get(i + k).copied().unwrap_or(0);
    }
    f64::from_le_bytes(w)
}

/// Records from the input: each 10-byte chunk is one update, every 4th chunk starts a
/// new record.
fn records(data: &[u8]) -> Vec<Record> {
    let mut out = Vec::new();
    let mut batch = Batch::new();
    for (i, c) in data.chunks(10).enumerate() {
        let b1 = c.get(1).copied().unwrap_or(0);
        let path = format!("k{},{b1}", c[0] >> 4);
        let action = ACTIONS[usize::from(c[0]) % ACTIONS.len()];
        match c[0] % 7 {
            0 => batch.sample(&path, f64_at(c, 2), action),
            1 => batch.sample_at(&path, i64::from(b1) * 1_000_000, f64_at(c, 2), action),
            2 => batch.stats(
                &path,
                Stats {
                    sum: f64_at(c, 2),
                    count: u64::from(b1),
                    min: -1.0,
                    max: f64_at(c, 1),
                    last: 0.5,
                },
                action,
            ),
            3 => batch.marker(
                &path,
                &String::from_utf8_lossy(c.get(1..).unwrap_or_default()),
            ),
            4 if b1 % 2 == 1 => batch.push(Update::WeightedSamples {
                path,
                samples: (2..c.len()).map(|k| (f64_at(c, k), f64_at(c, 1))).collect(),
            }),
            4 => batch.push(Update::Weighted {
                path,
                value: f64_at(c, 2),
                weight: f64_at(c, 1),
            }),
            5 => {
                let values: Vec<f64> = (1..c.len()).map(|k| f64_at(c, k)).collect();
                batch.samples(&path, &values, action);
            }
            _ => {
                // A delete is a record of its own, between the batches around it.
                out.push(record(out.len(), Body::Batch(std::mem::take(&mut batch))));
                let pattern = String::from_utf8_lossy(c.get(1..).unwrap_or_default());
                out.push(record(out.len(), Body::Delete(pattern.into_owned())));
            }
        }
        if i % 4 == 3 {
            out.push(record(out.len(), Body::Batch(std::mem::take(&mut batch))));
        }
    }
    out.push(record(out.len(), Body::Batch(batch)));
    out
}

fn record(n: usize, body: Body) -> Record {
    let n = n as u64;
    Record {
        seq: n + 1,
        interval: 1_700_000_000 + 10 * (n as i64),
        len: 10,
        now: 1_700_000_003,
        body,
    }
}

fn same(a: &[Record], b: &[Record]) -> bool {
    // Debug compares f64 bit patterns that PartialEq would not (NaN).
    format!("{a:?}") == format!("{b:?}")
}

/// Checks one input; panics on a finding.
pub fn run(data: &[u8]) {
    let Some((&pick, rest)) = data.split_first() else {
        return;
    };
    if pick % 2 == 0 {
        let (recs, _bad, torn) = read_records(rest);
        if let Some(t) = torn {
            assert!(
                t.valid_len <= rest.len(),
                "{t:?} beyond {} bytes",
                rest.len()
            );
        }
        for r in &recs {
            let again = read_records(&encode_record(r));
            assert!(
                same(&again.0, std::slice::from_ref(r)) && again.1 == 0 && again.2.is_none(),
                "{r:?} re-encoded reads back as {again:?}"
            );
        }
        return;
    }
    let Some((&cut, rest)) = rest.split_first() else {
        return;
    };
    let recs = records(rest);
    let frames: Vec<Vec<u8>> = recs.iter().map(encode_record).collect();
    let log: Vec<u8> = frames.concat();
    let (back, bad, torn) = read_records(&log);
    assert!(same(&back, &recs), "wrote {recs:?}, read {back:?}");
    assert_eq!((bad, torn), (0, None));

    // Cut the log somewhere (the cut byte scales over its length).
    let at = log.len() * usize::from(cut) / 255;
    let mut whole = 0;
    let mut end = 0;
    for f in &frames {
        if end + f.len() > at {
            break;
        }
        end += f.len();
        whole += 1;
    }
    let (back, bad, torn) = read_records(&log[..at]);
    assert!(
        same(&back, &recs[..whole]),
        "cut at {at}: expected {whole} records, read {}",
        back.len()
    );
    assert_eq!(bad, 0, "cut at {at}");
    // A cut frame whose bytes so far are all zeros (the low bytes of a length such as
    // 256) reads as a preallocated segment's zero tail: the end of the log, not a torn
    // frame. The record is lost either way, and a restart writes new segments, never
    // after it (finding 9).
    let zeros_only = log[end..at].iter().all(|&b| b == 0);
    assert_eq!(
        torn.is_some(),
        at != end && !zeros_only,
        "cut at {at} (frames end at {end}): {torn:?}"
    );
    if let Some(t) = torn {
        assert_eq!(t.valid_len, end, "cut at {at}");
    }

    // The same log in a preallocated segment: zeros after it are the end.
    let mut padded = log.clone();
    padded.resize(log.len() + 64, 0);
    let (back, bad, torn) = read_records(&padded);
    assert!(same(&back, &recs), "zero tail: read {back:?}");
    assert_eq!((bad, torn), (0, None), "zero tail");

    // A write cut short at `at` in a preallocated segment: zeros from there on. A
    // frame stays whole if the zeros change none of its bytes.
    padded[at..].fill(0);
    let mut whole = 0;
    let mut end = 0;
    for f in &frames {
        if padded[end..end + f.len()] != f[..] {
            break;
        }
        end += f.len();
        whole += 1;
    }
    let (back, _bad, torn) = read_records(&padded);
    assert!(
        same(&back, &recs[..whole]),
        "zeros from {at}: expected {whole} records, read {}",
        back.len()
    );
    let header_zero = padded[end..end + 8].iter().all(|&b| b == 0);
    match torn {
        Some(t) => assert_eq!(t.valid_len, end, "zeros from {at}"),
        None => assert!(header_zero, "zeros from {at}: damage not reported"),
    }
}
