//! The pieces of the version-1 mmstats format that reader and writer share: the type
//! codes (Python `struct` codes), their sizes, how raw bytes become a [`Value`].
//!
//! A type string is what the original's Python `struct.calcsize`/`unpack` accept for one
//! value: an optional byte-order character (`@`, `=` native; `<` little; `>`, `!` big),
//! one of `Q d I i h H b B f ? q`, or `<n>s` for a NUL-padded string of `n` bytes.
//! Whitespace is ignored, as Python's `struct` ignores it; the Rust writer uses leading
//! spaces to align values (see `writer.rs`), so both kinds of reader read its files.

use std::fmt;

/// The longest string field accepted (`<n>s`), in bytes. Bounds what one record may make
/// the reader allocate; the whole file is bounded separately.
pub const MAX_STRING_LEN: usize = 1 << 20;

/// `write_buffer` value of an unbuffered field: one value follows.
pub const UNBUFFERED: u8 = 0xff;

/// The version byte this crate reads and writes.
pub const VERSION_1: u8 = 0x01;

/// One value's type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// `Q`
    U64,
    /// `q`
    I64,
    /// `I`
    U32,
    /// `i`
    I32,
    /// `H`
    U16,
    /// `h`
    I16,
    /// `B`
    U8,
    /// `b`
    I8,
    /// `d`
    F64,
    /// `f`
    F32,
    /// `?`
    Bool,
    /// `<n>s`: NUL-padded bytes.
    Str(usize),
}

impl Kind {
    /// Size of one value in bytes.
    pub fn size(self) -> usize {
        match self {
            Kind::U64 | Kind::I64 | Kind::F64 => 8,
            Kind::U32 | Kind::I32 | Kind::F32 => 4,
            Kind::U16 | Kind::I16 => 2,
            Kind::U8 | Kind::I8 | Kind::Bool => 1,
            Kind::Str(n) => n,
        }
    }

    /// The canonical type code the writer stores (`Q`, `d`, `16s`, ...).
    pub fn code(self) -> String {
        let c = match self {
            Kind::U64 => "Q",
            Kind::I64 => "q",
            Kind::U32 => "I",
            Kind::I32 => "i",
            Kind::U16 => "H",
            Kind::I16 => "h",
            Kind::U8 => "B",
            Kind::I8 => "b",
            Kind::F64 => "d",
            Kind::F32 => "f",
            Kind::Bool => "?",
            Kind::Str(n) => return format!("{n}s"),
        };
        c.to_owned()
    }
}

/// Byte order of a value, from the type string's optional first character.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Order {
    Native,
    Little,
    Big,
}

/// A parsed type string.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TypeCode {
    pub kind: Kind,
    pub order: Order,
}

/// Parses a type string as Python's `struct` would for a single value; `None` when it is
/// not one this format allows (several values, an unknown code, a string too long).
pub fn parse_type(raw: &[u8]) -> Option<TypeCode> {
    let text: Vec<u8> = raw
        .iter()
        .copied()
        .filter(|b| !b.is_ascii_whitespace())
        .collect();
    let (order, rest) = match text.first()? {
        b'@' | b'=' => (Order::Native, &text[1..]),
        b'<' => (Order::Little, &text[1..]),
        b'>' | b'!' => (Order::Big, &text[1..]),
        _ => (Order::Native, &text[..]),
    };
    let (&code, digits) = rest.split_last()?;
    let count = if digits.is_empty() {
        None
    } else {
        if !digits.iter().all(u8::is_ascii_digit) || digits.len() > 8 {
            return None;
        }
        std::str::from_utf8(digits).ok()?.parse::<usize>().ok()
    };
    let kind = match (code, count) {
        (b's', n) => {
            let n = n.unwrap_or(1);
            if n > MAX_STRING_LEN {
                return None;
            }
            Kind::Str(n)
        }
        (_, Some(1) | None) => match code {
            b'Q' => Kind::U64,
            b'q' => Kind::I64,
            b'I' => Kind::U32,
            b'i' => Kind::I32,
            b'H' => Kind::U16,
            b'h' => Kind::I16,
            b'B' => Kind::U8,
            b'b' => Kind::I8,
            b'd' => Kind::F64,
            b'f' => Kind::F32,
            b'?' => Kind::Bool,
            _ => return None,
        },
        _ => return None,
    };
    Some(TypeCode { kind, order })
}

/// A field's value, widened to the few types a program needs.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    /// `Q I H B`
    U64(u64),
    /// `q i h b`
    I64(i64),
    /// `d f`
    F64(f64),
    /// `?`
    Bool(bool),
    /// `<n>s`, read to the first NUL, invalid UTF-8 replaced.
    Str(String),
}

impl Value {
    /// The value as a number, `None` for strings. Booleans are 0 or 1.
    pub fn as_f64(&self) -> Option<f64> {
        match *self {
            #[allow(
                clippy::cast_precision_loss,
                reason = "counters above 2^53 lose low bits only"
            )]
            Value::U64(v) => Some(v as f64),
            #[allow(
                clippy::cast_precision_loss,
                reason = "counters above 2^53 lose low bits only"
            )]
            Value::I64(v) => Some(v as f64),
            Value::F64(v) => Some(v),
            Value::Bool(b) => Some(if b { 1.0 } else { 0.0 }),
            Value::Str(_) => None,
        }
    }
}

impl fmt::Display for Value {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Value::U64(v) => write!(f, "{v}"),
            Value::I64(v) => write!(f, "{v}"),
            Value::F64(v) => write!(f, "{v}"),
            Value::Bool(v) => f.write_str(if *v { "True" } else { "False" }),
            Value::Str(s) => f.write_str(s),
        }
    }
}

/// Decodes one value from exactly `kind.size()` bytes.
pub fn decode(tc: TypeCode, bytes: &[u8]) -> Value {
    fn arr<const N: usize>(b: &[u8]) -> [u8; N] {
        let mut a = [0u8; N];
        a.copy_from_slice(&b[..N]);
        a
    }
    macro_rules! num {
        ($t:ty, $n:literal) => {{
            let a = arr::<$n>(bytes);
            match tc.order {
                Order::Native => <$t>::from_ne_bytes(a),
                Order::Little => <$t>::from_le_bytes(a),
                Order::Big => <$t>::from_be_bytes(a),
            }
        }};
    }
    match tc.kind {
        Kind::U64 => Value::U64(num!(u64, 8)),
        Kind::U32 => Value::U64(u64::from(num!(u32, 4))),
        Kind::U16 => Value::U64(u64::from(num!(u16, 2))),
        Kind::U8 => Value::U64(u64::from(bytes[0])),
        Kind::I64 => Value::I64(num!(i64, 8)),
        Kind::I32 => Value::I64(i64::from(num!(i32, 4))),
        Kind::I16 => Value::I64(i64::from(num!(i16, 2))),
        Kind::I8 => Value::I64(i64::from(i8::from_ne_bytes([bytes[0]]))),
        Kind::F64 => Value::F64(f64::from_bits(num!(u64, 8))),
        Kind::F32 => Value::F64(f64::from(f32::from_bits(num!(u32, 4)))),
        // Python's struct reads any non-zero byte as True.
        Kind::Bool => Value::Bool(bytes[0] != 0),
        Kind::Str(n) => {
            let b = &bytes[..n];
            let end = b.iter().position(|&c| c == 0).unwrap_or(n);
            Value::Str(String::from_utf8_lossy(&b[..end]).into_owned())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn type_strings_parse_like_python_struct() {
        let k = |s: &str| parse_type(s.as_bytes()).map(|t| t.kind);
        assert_eq!(k("Q"), Some(Kind::U64));
        assert_eq!(k("   Q"), Some(Kind::U64));
        assert_eq!(k("@d"), Some(Kind::F64));
        assert_eq!(k("10s"), Some(Kind::Str(10)));
        assert_eq!(k("s"), Some(Kind::Str(1)));
        assert_eq!(k("0s"), Some(Kind::Str(0)));
        assert_eq!(k("1I"), Some(Kind::U32));
        assert_eq!(k("2I"), None);
        assert_eq!(k("x"), None);
        assert_eq!(k(""), None);
        assert_eq!(k("@"), None);
        assert_eq!(k("99999999999s"), None);
        assert_eq!(parse_type(b">H").map(|t| t.order), Some(Order::Big));
    }

    #[test]
    fn big_endian_decodes() {
        let tc = parse_type(b"!H").unwrap();
        assert_eq!(decode(tc, &[1, 2]), Value::U64(258));
    }

    #[test]
    fn canonical_codes_round_trip() {
        for kind in [
            Kind::U64,
            Kind::I64,
            Kind::F64,
            Kind::Bool,
            Kind::Str(12),
            Kind::U8,
        ] {
            assert_eq!(
                parse_type(kind.code().as_bytes()).map(|t| t.kind),
                Some(kind)
            );
        }
    }
}
