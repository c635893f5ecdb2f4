//! Golden tests of the reader on hand-built version-1 files (acceptance 1), read both
//! from bytes and from a file on disk (the mapped path), and a property test that no
//! input makes the reader panic.

use std::path::PathBuf;

use proptest::prelude::*;
use treestat_mmstats::{ReadError, Value, parse, read_file};

/// Builds a record: label, type, write_buffer, value bytes.
fn record(label: &str, ty: &str, wb: u8, values: &[u8]) -> Vec<u8> {
    let mut r = Vec::new();
    r.extend_from_slice(&u16::try_from(label.len()).unwrap().to_ne_bytes());
    r.extend_from_slice(label.as_bytes());
    r.extend_from_slice(&u16::try_from(ty.len()).unwrap().to_ne_bytes());
    r.extend_from_slice(ty.as_bytes());
    r.push(wb);
    r.extend_from_slice(values);
    r
}

fn file(records: &[Vec<u8>]) -> Vec<u8> {
    let mut f = vec![0x01];
    for r in records {
        f.extend_from_slice(r);
    }
    f.extend_from_slice(&[0, 0]);
    f
}

/// Parses from bytes and from a real file; both must agree.
fn read_both(bytes: &[u8]) -> Result<Vec<treestat_mmstats::Field>, String> {
    let dir = tempfile::tempdir().unwrap();
    let path: PathBuf = dir.path().join("mmstats-golden");
    std::fs::write(&path, bytes).unwrap();
    let from_bytes = parse(bytes).map_err(|e| e.to_string());
    let from_file = read_file(&path).map_err(|e| e.to_string());
    assert_eq!(from_bytes, from_file, "bytes and mapped file disagree");
    from_bytes
}

#[cfg(target_endian = "little")]
#[test]
fn issue_example_reads_hits_3() {
    // 01 | 04 00 "hits" | 01 00 "Q" | 01 | 03 00.. | 02 00.. | 00 00
    let mut bytes = vec![
        0x01, 0x04, 0x00, b'h', b'i', b't', b's', 0x01, 0x00, b'Q', 0x01,
    ];
    bytes.extend_from_slice(&[3, 0, 0, 0, 0, 0, 0, 0]);
    bytes.extend_from_slice(&[2, 0, 0, 0, 0, 0, 0, 0]);
    bytes.extend_from_slice(&[0, 0]);
    let fields = read_both(&bytes).unwrap();
    assert_eq!(fields.len(), 1);
    assert_eq!(fields[0].label, "hits");
    assert_eq!(fields[0].type_code, "Q");
    assert_eq!(fields[0].value, Value::U64(3));
    assert!(fields[0].buffered);
}

#[test]
fn write_buffer_zero_reads_the_second_buffer() {
    let vals: Vec<u8> = [10u64, 20u64]
        .iter()
        .flat_map(|v| v.to_ne_bytes())
        .collect();
    let fields = read_both(&file(&[record("n", "Q", 0, &vals)])).unwrap();
    assert_eq!(fields[0].value, Value::U64(20));
}

#[test]
fn unbuffered_bool() {
    let f = file(&[
        record("up", "?", 0xff, &[1]),
        record("down", "?", 0xff, &[0]),
    ]);
    let fields = read_both(&f).unwrap();
    assert_eq!(fields[0].value, Value::Bool(true));
    assert!(!fields[0].buffered);
    assert_eq!(fields[1].value, Value::Bool(false));
}

#[test]
fn string_with_multibyte_character_cut_at_its_size() {
    // "hé" is 68 C3 A9; a 2s field holds 68 C3: the cut character is replaced.
    let f = file(&[record("name", "2s", 0xff, &"hé".as_bytes()[..2])]);
    assert_eq!(
        read_both(&f).unwrap()[0].value,
        Value::Str("h\u{FFFD}".into())
    );
    // Whole characters, NUL padding and what follows the first NUL are handled too.
    let f = file(&[record("name", "8s", 0xff, b"h\xc3\xa9\0junk")]);
    assert_eq!(read_both(&f).unwrap()[0].value, Value::Str("hé".into()));
    // A buffered string reads the readable buffer.
    let f = file(&[record("state", "4s", 1, b"old\0new\0")]);
    assert_eq!(read_both(&f).unwrap()[0].value, Value::Str("old".into()));
}

#[test]
fn uint_field_holding_minus_100_reads_4294967196() {
    let f = file(&[record("u", "I", 0xff, &(-100i32).to_ne_bytes())]);
    assert_eq!(read_both(&f).unwrap()[0].value, Value::U64(4_294_967_196));
}

#[test]
fn every_type_code() {
    let f = file(&[
        record("d", "d", 0xff, &1.5f64.to_ne_bytes()),
        record("f", "f", 0xff, &(-0.25f32).to_ne_bytes()),
        record("i", "i", 0xff, &(-7i32).to_ne_bytes()),
        record("h", "h", 0xff, &(-2i16).to_ne_bytes()),
        record("H", "H", 0xff, &65535u16.to_ne_bytes()),
        record("b", "b", 0xff, &(-1i8).to_ne_bytes()),
        record("q", "q", 0xff, &i64::MIN.to_ne_bytes()),
        record("Q", "  Q", 0xff, &u64::MAX.to_ne_bytes()),
    ]);
    let values: Vec<Value> = read_both(&f)
        .unwrap()
        .into_iter()
        .map(|f| f.value)
        .collect();
    assert_eq!(
        values,
        vec![
            Value::F64(1.5),
            Value::F64(-0.25),
            Value::I64(-7),
            Value::I64(-2),
            Value::U64(65535),
            Value::I64(-1),
            Value::I64(i64::MIN),
            Value::U64(u64::MAX),
        ]
    );
}

#[test]
fn wrong_version_is_reported() {
    let mut f = file(&[record("hits", "Q", 0xff, &[0; 8])]);
    f[0] = 0x02;
    let err = parse(&f).unwrap_err();
    assert!(
        matches!(err, ReadError::WrongVersion { found: 2 }),
        "{err:?}"
    );
    assert!(read_both(&f).unwrap_err().contains("version byte 0x02"));
    assert!(matches!(parse(&[]), Err(ReadError::Empty)));
}

#[test]
fn truncated_file_is_reported_with_offset_and_label() {
    let vals: Vec<u8> = [3u64, 2u64].iter().flat_map(|v| v.to_ne_bytes()).collect();
    let whole = file(&[record("a", "B", 0xff, &[1]), record("hits", "Q", 1, &vals)]);
    // Cut inside the second buffer of `hits` (record at offset 1 + 8 = 9).
    let cut = &whole[..whole.len() - 2 - 4];
    match parse(cut).unwrap_err() {
        ReadError::Truncated {
            offset,
            label,
            what,
            need,
            left,
        } => {
            assert_eq!(offset, 9);
            assert_eq!(label.as_deref(), Some("hits"));
            assert_eq!((what, need, left), ("two value buffers", 16, 12));
        }
        e => panic!("expected Truncated, got {e:?}"),
    }
    let msg = read_both(cut).unwrap_err();
    assert!(
        msg.contains("offset 9") && msg.contains("\"hits\""),
        "{msg}"
    );
    // Cut inside the label: no label to name yet.
    let msg = read_both(&whole[..12]).unwrap_err();
    assert!(
        msg.contains("truncated at offset 9") && msg.contains("label"),
        "{msg}"
    );
}

#[test]
fn end_of_file_without_terminator_ends_the_records() {
    let mut f = file(&[record("x", "B", 0xff, &[9])]);
    f.truncate(f.len() - 2);
    assert_eq!(read_both(&f).unwrap()[0].value, Value::U64(9));
    f.push(0); // a single trailing zero byte is an end too
    assert_eq!(read_both(&f).unwrap().len(), 1);
}

#[test]
fn unknown_type_and_bad_write_buffer_are_reported() {
    let err = parse(&file(&[record("x", "2I", 0xff, &[0; 8])])).unwrap_err();
    assert!(
        matches!(err, ReadError::UnsupportedType { ref type_code, .. } if type_code == "2I"),
        "{err:?}"
    );
    let err = parse(&file(&[record("x", "B", 7, &[0; 2])])).unwrap_err();
    assert!(
        matches!(err, ReadError::BadWriteBuffer { value: 7, .. }),
        "{err:?}"
    );
    assert!(err.to_string().contains("\"x\""));
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(1000))]

    #[test]
    fn random_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
        let _ = parse(&bytes);
    }

    #[test]
    fn random_records_after_a_valid_version_never_panic(
        body in proptest::collection::vec(
            prop_oneof![Just(0u8), Just(1u8), Just(0xffu8), Just(b's'), Just(b'Q'), any::<u8>()],
            0..512,
        )
    ) {
        let mut bytes = vec![0x01];
        bytes.extend(body);
        let _ = parse(&bytes);
    }

    #[test]
    fn well_formed_files_read_back(values in proptest::collection::vec((any::<u64>(), any::<bool>()), 0..20)) {
        let records: Vec<Vec<u8>> = values.iter().enumerate().map(|(i, (v, buffered))| {
            if *buffered {
                let mut b = v.to_ne_bytes().to_vec();
                b.extend_from_slice(&[0xAA; 8]);
                record(&format!("f{i}"), "Q", 1, &b)
            } else {
                record(&format!("f{i}"), "Q", 0xff, &v.to_ne_bytes())
            }
        }).collect();
        let fields = parse(&file(&records)).unwrap();
        prop_assert_eq!(fields.len(), values.len());
        for (f, (v, _)) in fields.iter().zip(&values) {
            prop_assert_eq!(&f.value, &Value::U64(*v));
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]

    /// The mapped path (atomic loads on a live mapping) shares the parser; random files
    /// read through it must not panic either, and must agree with the slice reader.
    #[test]
    fn random_files_read_through_the_mapping_never_panic(
        body in proptest::collection::vec(any::<u8>(), 0..300),
        valid_version in any::<bool>(),
    ) {
        let mut bytes = body;
        if valid_version && !bytes.is_empty() {
            bytes[0] = 0x01;
        }
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("mmstats-random");
        std::fs::write(&path, &bytes).unwrap();
        let mapped = read_file(&path).map_err(|e| e.to_string());
        prop_assert_eq!(mapped, parse(&bytes).map_err(|e| e.to_string()));
    }
}
