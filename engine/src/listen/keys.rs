//! Metric names of the dotted protocols (StatsD, Graphite) turned into tree paths.
//!
//! Dots become levels (`a.b.c` is `a,b,c`). A name holding a `,` or a control
//! character, or an empty level (`a..b`, `.a`, `a.`), is refused for that line with a
//! message naming the key: keys are never silently rewritten, so two different names
//! never land on one leaf.

use super::metrics::{LineError, Reject};
use crate::path::{MAX_KEY_LEN, check_key};

/// `a.b.c` as the path `a,b,c`, every key checked.
///
/// # Errors
/// `BadKey` naming the offending key and its problem.
pub fn dotted_path(name: &str) -> Result<String, LineError> {
    dotted_path_depth(name).map(|(path, _)| path)
}

/// As [`dotted_path`], also returning the number of levels.
///
/// The common case (printable ASCII, no `,`, no empty level, keys up to 255 bytes)
/// is checked and converted in one pass over the bytes; anything else takes the
/// key-by-key path, which names the problem.
///
/// # Errors
/// As [`dotted_path`].
pub fn dotted_path_depth(name: &str) -> Result<(String, usize), LineError> {
    let bytes = name.as_bytes();
    let mut seg = 0usize;
    let mut depth = 1usize;
    let mut fast = !bytes.is_empty();
    for &b in bytes {
        if b == b'.' {
            if seg == 0 {
                fast = false;
                break;
            }
            seg = 0;
            depth += 1;
        } else if (0x20..0x7f).contains(&b) && b != b',' && seg < MAX_KEY_LEN {
            seg += 1;
        } else {
            fast = false;
            break;
        }
    }
    if fast && seg > 0 {
        let path: Vec<u8> = bytes
            .iter()
            .map(|&b| if b == b'.' { b',' } else { b })
            .collect();
        if let Ok(path) = String::from_utf8(path) {
            return Ok((path, depth));
        }
    }
    let mut path = String::with_capacity(name.len());
    let mut depth = 0;
    for key in name.split('.') {
        if let Err(problem) = check_key(key) {
            let shown: String = key.chars().take(64).collect();
            let name: String = name.chars().take(128).collect();
            return Err(LineError::new(
                Reject::BadKey,
                format!("key {shown:?} in {name:?} {problem}"),
            ));
        }
        if !path.is_empty() {
            path.push(',');
        }
        path.push_str(key);
        depth += 1;
    }
    Ok((path, depth))
}

/// Parses a sample value: a finite decimal number.
///
/// # Errors
/// `BadValue` for text that is not a number, and for NaN and infinities.
pub fn finite(text: &str, what: &str) -> Result<f64, LineError> {
    match text.parse::<f64>() {
        Ok(v) if v.is_finite() => Ok(v),
        Ok(_) => Err(LineError::new(
            Reject::BadValue,
            format!("{what} {} is not a finite number", short(text)),
        )),
        Err(_) => Err(LineError::new(
            Reject::BadValue,
            format!("{what} {} is not a number", short(text)),
        )),
    }
}

/// Latest accepted time stamp: year 5138, far beyond any real clock, small enough that
/// every computation on it stays exact.
const MAX_TS: f64 = 1e11;

/// A time stamp in unix seconds (fractions are dropped toward the past).
///
/// # Errors
/// `BadValue` when it is not a number or lies outside `0..1e11`.
pub fn timestamp(v: f64) -> Result<i64, LineError> {
    if !(0.0..MAX_TS).contains(&v) {
        return Err(LineError::new(
            Reject::BadValue,
            format!("time stamp {v} is out of range (unix seconds, 0 to 1e11)"),
        ));
    }
    // In range 0..1e11, so the floor fits an i64 exactly.
    #[allow(clippy::cast_possible_truncation)]
    Ok(v.floor() as i64)
}

/// At most 64 characters of input, quoted, for messages.
pub fn short(text: &str) -> String {
    let t: String = text.chars().take(64).collect();
    format!("{t:?}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dots_become_levels() {
        assert_eq!(dotted_path("a.b.c").unwrap(), "a,b,c");
        assert_eq!(dotted_path("web01").unwrap(), "web01");
        assert_eq!(dotted_path("ü.x y").unwrap(), "ü,x y");
        assert_eq!(
            dotted_path_depth("a.b.c").unwrap(),
            ("a,b,c".to_string(), 3)
        );
        assert_eq!(dotted_path_depth("ü.x").unwrap(), ("ü,x".to_string(), 2));
        let k255 = "k".repeat(255);
        assert_eq!(
            dotted_path(&format!("{k255}.a")).unwrap(),
            format!("{k255},a")
        );
        assert!(dotted_path(&format!("{k255}k.a")).is_err());
    }

    #[test]
    fn bad_keys_are_named() {
        let e = dotted_path("a.b,c").unwrap_err();
        assert_eq!(e.reason, Reject::BadKey);
        assert!(e.message.contains("\"b,c\""), "{e}");
        assert_eq!(dotted_path("a..b").unwrap_err().reason, Reject::BadKey);
        assert_eq!(dotted_path("").unwrap_err().reason, Reject::BadKey);
        assert_eq!(dotted_path("a.").unwrap_err().reason, Reject::BadKey);
        assert!(
            dotted_path("a\u{0}b")
                .unwrap_err()
                .message
                .contains("U+0000")
        );
        assert!(dotted_path(&"x".repeat(300)).is_err());
    }

    #[test]
    fn values_and_time_stamps() {
        assert_eq!(finite("1.5", "value").unwrap(), 1.5);
        assert_eq!(finite("-0", "value").unwrap(), 0.0);
        assert!(finite("-0", "value").unwrap().is_sign_negative());
        for bad in ["NaN", "nan", "inf", "-Infinity", "1e400", "x", ""] {
            assert_eq!(
                finite(bad, "value").unwrap_err().reason,
                Reject::BadValue,
                "{bad}"
            );
        }
        assert_eq!(timestamp(1_322_721_979.7).unwrap(), 1_322_721_979);
        assert!(timestamp(-5.0).is_err());
        assert!(timestamp(1e300).is_err());
        assert!(timestamp(f64::NAN).is_err());
    }
}
