//! The mmstats reader (stats files other processes write: `treestat mmstats`, the
//! agent's `mmstats` module). Checks: arbitrary bytes give fields or an error, never a
//! panic, and the fields lie inside the file; and, as a model, a file built from
//! records (label, type code with byte order, write_buffer, value bytes) as the format
//! documents them reads back as exactly those fields, from bytes and from a mapped file.
//!
//! Input: the first byte picks arbitrary bytes (even) or the model (odd).

use treestat_mmstats::{Value, parse, read_file};

/// `(type code, size)` of the kinds of the format.
const TYPES: [(&str, usize); 11] = [
    ("Q", 8),
    ("q", 8),
    ("I", 4),
    ("i", 4),
    ("H", 2),
    ("h", 2),
    ("B", 1),
    ("b", 1),
    ("d", 8),
    ("f", 4),
    ("?", 1),
];

fn expected(code: &str, order: u8, v: &[u8]) -> Value {
    fn a<const N: usize>(v: &[u8], order: u8) -> [u8; N] {
        let mut b: [u8; N] = v[..N].try_into().unwrap();
        if order == b'>' {
            b.reverse(); // the bytes as written are big-endian; read them little.
        }
        b
    }
    // The tests run little-endian: native and `<` are the same.
    match code {
        "Q" => Value::U64(u64::from_le_bytes(a(v, order))),
        "q" => Value::I64(i64::from_le_bytes(a(v, order))),
        "I" => Value::U64(u64::from(u32::from_le_bytes(a(v, order)))),
        "i" => Value::I64(i64::from(i32::from_le_bytes(a(v, order)))),
        "H" => Value::U64(u64::from(u16::from_le_bytes(a(v, order)))),
        "h" => Value::I64(i64::from(i16::from_le_bytes(a(v, order)))),
        "B" => Value::U64(u64::from(v[0])),
        "b" => Value::I64(i64::from(v[0].cast_signed())),
        "d" => Value::F64(f64::from_le_bytes(a(v, order))),
        "f" => Value::F64(f64::from(f32::from_le_bytes(a(v, order)))),
        "?" => Value::Bool(v[0] != 0),
        _ => unreachable!(),
    }
}

fn same(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::F64(x), Value::F64(y)) => x.to_bits() == y.to_bits(),
        _ => a == b,
    }
}

fn model(mut input: &[u8]) {
    let mut file = vec![0x01];
    let mut want = Vec::new();
    while let [tag, len, rest @ ..] = input {
        let label_len = usize::from(*len % 24) + 1;
        let Some((label, rest)) = rest.split_at_checked(label_len) else {
            break;
        };
        let (code, size) = TYPES[usize::from(tag % 11)];
        let order = [b'@', b'<', b'>', b' '][usize::from(tag / 11 % 4)];
        let buffered = tag & 0x80 != 0;
        let n = if buffered { 2 * size } else { size };
        let Some((values, rest)) = rest.split_at_checked(n) else {
            break;
        };
        input = rest;
        let ty = if order == b' ' {
            code.to_string()
        } else {
            format!("{}{code}", order as char)
        };
        let offset = file.len();
        file.extend_from_slice(&u16::try_from(label.len()).unwrap().to_ne_bytes());
        file.extend_from_slice(label);
        file.extend_from_slice(&u16::try_from(ty.len()).unwrap().to_ne_bytes());
        file.extend_from_slice(ty.as_bytes());
        // Buffered: write_buffer 0 means buffer 1 is the readable one.
        let wb = if buffered { tag & 1 } else { 0xff };
        file.push(wb);
        file.extend_from_slice(values);
        let readable = if buffered {
            &values[usize::from(wb ^ 1) * size..][..size]
        } else {
            values
        };
        want.push((
            String::from_utf8_lossy(label).into_owned(),
            ty.trim().to_string(),
            expected(code, order, readable),
            buffered,
            offset,
        ));
    }
    file.extend_from_slice(&[0, 0]);
    let fields = parse(&file).unwrap_or_else(|e| panic!("{file:?}: {e}"));
    assert_eq!(fields.len(), want.len(), "{file:?}");
    for (f, (label, ty, value, buffered, offset)) in fields.iter().zip(&want) {
        assert_eq!(
            (&f.label, &f.type_code, f.buffered, f.offset),
            (label, ty, *buffered, *offset)
        );
        assert!(
            same(&f.value, value),
            "{label:?}: {:?}, want {value:?}",
            f.value
        );
    }
    let dir = std::env::temp_dir().join(format!("treestat-fuzz-mmstats-{}", std::process::id()));
    std::fs::write(&dir, &file).unwrap();
    let mapped = read_file(&dir);
    let _ = std::fs::remove_file(&dir);
    let mapped = mapped.unwrap_or_else(|e| panic!("mapped {file:?}: {e}"));
    assert_eq!(mapped.len(), fields.len());
    for (m, f) in mapped.iter().zip(&fields) {
        assert!(m.label == f.label && m.offset == f.offset && same(&m.value, &f.value));
    }
}

/// Checks one input; panics on a finding.
pub fn run(data: &[u8]) {
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    if mode % 2 == 1 {
        model(rest);
        return;
    }
    if let Ok(fields) = parse(rest) {
        for f in &fields {
            assert!(f.offset < rest.len());
        }
    }
}
