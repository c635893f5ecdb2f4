//! Tests of `storage.rs`, kept apart so the module reads as what it does.

use super::*;

fn exercise(st: &dyn Storage) {
    st.put(Space::Meta, b"view/a", b"1").unwrap();
    st.put(Space::Meta, b"view/b", b"2").unwrap();
    st.put(Space::Meta, b"viewz", b"3").unwrap();
    st.put(Space::Chunks, b"view/a", b"other space").unwrap();
    let got = scan_prefix(st, Space::Meta, b"view/").unwrap();
    let got: Vec<(Vec<u8>, Vec<u8>)> = got
        .into_iter()
        .map(|(k, v)| (k.to_vec(), v.to_vec()))
        .collect();
    assert_eq!(
        got,
        vec![
            (b"view/a".to_vec(), b"1".to_vec()),
            (b"view/b".to_vec(), b"2".to_vec())
        ]
    );
    st.apply(vec![
        Op::Delete(Space::Meta, b"view/a".to_vec()),
        Op::Put(Space::Totals, vec![0, 0, 0, 1], b"t".to_vec()),
    ])
    .unwrap();
    assert_eq!(st.get(Space::Meta, b"view/a").unwrap(), None);
    assert_eq!(
        st.get(Space::Totals, &[0, 0, 0, 1])
            .unwrap()
            .unwrap()
            .as_ref(),
        b"t"
    );
    st.delete(Space::Meta, b"view/b").unwrap();
    assert_eq!(st.scan(Space::Meta, b"", None).unwrap().len(), 1);
    exercise_intervals(st);
    st.flush().unwrap();
}

/// Readers see an interval whole, never a write of it half-way: sled shows a batch
/// to a concurrent iterator part by part.
#[test]
fn interval_reads_never_see_a_write_half_way() {
    let dir = tempfile::tempdir().unwrap();
    let st = Arc::new(SledStorage::open(dir.path(), 8 << 20).unwrap());
    let key = [0x80, 0, 0, 0, 0, 0, 0, 1];
    // Each value is one byte repeated, its length saying which byte: a mix of two
    // writes, or a prefix of one, shows as a wrong length or a foreign byte.
    let value = |round: usize| {
        let b = u8::try_from(round % 251).unwrap();
        vec![b; (8 + round % 5) * PART_BYTES + usize::from(b)]
    };
    st.put(Space::Intervals, &key, &value(0)).unwrap();
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let writer = {
        let (st, stop) = (st.clone(), stop.clone());
        std::thread::spawn(move || {
            for round in 1..400 {
                st.put(Space::Intervals, &key, &value(round)).unwrap();
            }
            stop.store(true, std::sync::atomic::Ordering::SeqCst);
        })
    };
    let mut reads = 0;
    while !stop.load(std::sync::atomic::Ordering::SeqCst) {
        for (_, v) in st.scan(Space::Intervals, &[], None).unwrap() {
            let b = v[0];
            let round_len = (8 + usize::from(b) % 5) * PART_BYTES + usize::from(b);
            assert!(
                v.len() % PART_BYTES == usize::from(b) % PART_BYTES && v.iter().all(|&x| x == b),
                "torn read: {} bytes, first {b}, expected {round_len}",
                v.len()
            );
        }
        let v = st.get(Space::Intervals, &key).unwrap().unwrap();
        assert!(v.iter().all(|&x| x == v[0]), "torn get");
        reads += 1;
    }
    writer.join().unwrap();
    assert!(reads > 0);
}

/// A value that does not repeat within a part (so a misplaced part shows).
fn big_value(len: usize, seed: u64) -> Vec<u8> {
    let mut x = seed | 1;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x.to_le_bytes()[0]
        })
        .collect()
}

fn intervals(st: &dyn Storage) -> Vec<(Vec<u8>, Vec<u8>)> {
    st.scan(Space::Intervals, &[], None)
        .unwrap()
        .into_iter()
        .map(|(k, v)| (k.to_vec(), v.to_vec()))
        .collect()
}

/// Interval values of every size, replaced by smaller and larger ones, in batches
/// with other keyspaces, and scanned by ranges of interval keys.
fn exercise_intervals(st: &dyn Storage) {
    let key = |i: u8| [0x80, 0, 0, 0, 0, 0, 0, i];
    let big = big_value(5 << 20, 7);
    let odd = big_value(3 * PART_BYTES + 17, 11);
    st.put(Space::Intervals, &key(2), &big).unwrap();
    st.put(Space::Intervals, &key(1), b"").unwrap();
    st.apply(vec![
        Op::Put(Space::Intervals, key(3).to_vec(), odd.clone()),
        Op::Put(Space::Chunks, key(3).to_vec(), b"c".to_vec()),
    ])
    .unwrap();
    assert_eq!(st.get(Space::Intervals, &key(2)).unwrap().unwrap(), big);
    assert_eq!(st.get(Space::Intervals, &key(1)).unwrap().unwrap(), b"");
    assert_eq!(st.get(Space::Intervals, &key(0)).unwrap(), None);
    assert_eq!(
        intervals(st),
        vec![
            (key(1).to_vec(), Vec::new()),
            (key(2).to_vec(), big.clone()),
            (key(3).to_vec(), odd.clone()),
        ]
    );
    let middle = st.scan(Space::Intervals, &key(2), Some(&key(3))).unwrap();
    assert_eq!(middle.len(), 1);
    assert_eq!(middle[0].0, key(2));
    assert_eq!(middle[0].1, big);
    // Smaller, then larger again: nothing of the old value remains.
    st.put(Space::Intervals, &key(2), &odd).unwrap();
    assert_eq!(st.get(Space::Intervals, &key(2)).unwrap().unwrap(), odd);
    st.apply(vec![
        Op::Put(Space::Intervals, key(2).to_vec(), big.clone()),
        Op::Delete(Space::Intervals, key(3).to_vec()),
        Op::Put(Space::Intervals, key(1).to_vec(), b"late".to_vec()),
        Op::Put(Space::Intervals, key(1).to_vec(), odd.clone()),
        Op::Delete(Space::Chunks, key(3).to_vec()),
    ])
    .unwrap();
    assert_eq!(
        intervals(st),
        vec![(key(1).to_vec(), odd.clone()), (key(2).to_vec(), big)]
    );
    assert_eq!(st.get(Space::Chunks, &key(3)).unwrap(), None);
    st.delete(Space::Intervals, &key(2)).unwrap();
    st.apply(vec![Op::Delete(Space::Intervals, key(1).to_vec())])
        .unwrap();
    assert_eq!(intervals(st), Vec::new());
}

/// The pairs sled really holds in `Space::Intervals`.
fn stored(st: &SledStorage) -> Vec<(Vec<u8>, usize)> {
    st.sled()
        .unwrap()
        .tree(Space::Intervals)
        .iter()
        .map(|kv| {
            let (k, v) = kv.unwrap();
            (k.to_vec(), v.len())
        })
        .collect()
}

/// Files in sled's blob folder (values it keeps out of its log: the ones it
/// cannot recover from in process after ENOSPC).
fn blob_files(dir: &Path) -> usize {
    std::fs::read_dir(dir.join("blobs")).map_or(0, |d| d.count())
}

#[test]
fn an_interval_of_several_mib_is_stored_in_parts_and_never_in_a_sled_blob_file() {
    let dir = tempfile::tempdir().unwrap();
    let st = SledStorage::open(dir.path(), 8 << 20).unwrap();
    let key = [0x80, 0, 0, 0, 0x65, 0x53, 0xf1, 0x00];
    let value = big_value((6 << 20) + 5, 3);
    st.put(Space::Intervals, &key, &value).unwrap();
    st.flush().unwrap();
    let raw = stored(&st);
    assert_eq!(raw.len(), value.len().div_ceil(PART_BYTES));
    assert!(
        raw.iter()
            .all(|(k, len)| k.len() == 12 && *len <= PART_BYTES)
    );
    assert_eq!(blob_files(dir.path()), 0, "sled wrote a blob file");
    drop(st);
    let st = SledStorage::open(dir.path(), 8 << 20).unwrap();
    assert_eq!(st.get(Space::Intervals, &key).unwrap().unwrap(), value);
    // A smaller value leaves no part of the larger one behind.
    st.put(Space::Intervals, &key, &value[..PART_BYTES + 1])
        .unwrap();
    assert_eq!(stored(&st).len(), 2);
    assert_eq!(
        st.get(Space::Intervals, &key).unwrap().unwrap(),
        &value[..PART_BYTES + 1]
    );
}

#[test]
fn a_snapshot_torn_by_a_full_disk_does_not_keep_the_store_from_opening() {
    let dir = tempfile::tempdir().unwrap();
    let key = [0x80, 0, 0, 0, 0, 0, 0, 1];
    let value = big_value(20 << 10, 1);
    let st = SledStorage::open(dir.path(), 8 << 20).unwrap();
    st.put(Space::Intervals, &key, &value).unwrap();
    st.flush().unwrap();
    drop(st);
    // What a snapshot write cut short by ENOSPC leaves: sled names the file for
    // an lsn past every complete snapshot, and writes 8 bytes of it.
    std::fs::write(
        dir.path().join("snap.7FFFFFFFFFFFFFFF.generating"),
        [1, 2, 3, 4, 5, 6, 7, 8],
    )
    .unwrap();
    let st = SledStorage::open(dir.path(), 8 << 20).unwrap();
    assert_eq!(st.get(Space::Intervals, &key).unwrap().unwrap(), value);
    // And through a reopen in process, as the writer does after an error.
    std::fs::write(
        dir.path().join("snap.7FFFFFFFFFFFFFFF.generating"),
        [0u8; 4],
    )
    .unwrap();
    st.reopen().unwrap();
    assert_eq!(st.get(Space::Intervals, &key).unwrap().unwrap(), value);
}

#[test]
fn an_interval_stored_before_parts_is_read_and_replaced_whole() {
    let dir = tempfile::tempdir().unwrap();
    let st = SledStorage::open(dir.path(), 8 << 20).unwrap();
    let (a, b) = ([0x80, 0, 0, 0, 0, 0, 0, 10], [0x80, 0, 0, 0, 0, 0, 0, 20]);
    let old = big_value(300 << 10, 5);
    // The layout before parts: the whole value under the 8-byte key.
    {
        let sled = st.sled().unwrap();
        let tree = sled.tree(Space::Intervals);
        tree.insert(a, old.as_slice()).unwrap();
        tree.insert(b, &b"small"[..]).unwrap();
    }
    st.flush().unwrap();
    drop(st);
    let st = SledStorage::open(dir.path(), 8 << 20).unwrap();
    assert_eq!(st.get(Space::Intervals, &a).unwrap().unwrap(), old);
    assert_eq!(
        intervals(&st),
        vec![(a.to_vec(), old.clone()), (b.to_vec(), b"small".to_vec())]
    );
    let new = big_value(10 << 10, 9);
    st.put(Space::Intervals, &a, &new).unwrap();
    assert_eq!(st.get(Space::Intervals, &a).unwrap().unwrap(), new);
    assert!(stored(&st).iter().all(|(k, _)| k.as_slice() != a));
    st.apply(vec![Op::Delete(Space::Intervals, b.to_vec())])
        .unwrap();
    assert_eq!(intervals(&st), vec![(a.to_vec(), new)]);
    assert_eq!(stored(&st).len(), 3);
}

#[test]
fn memory_and_sled_behave_alike() {
    exercise(&MemStorage::new());
    let dir = tempfile::tempdir().unwrap();
    exercise(&SledStorage::open(dir.path(), 8 << 20).unwrap());
}

#[test]
fn prefix_end_carries_over_ff() {
    assert_eq!(prefix_end(b"a\xff"), Some(b"b".to_vec()));
    assert_eq!(prefix_end(b"\xff\xff"), None);
    assert_eq!(prefix_end(b""), None);
}
