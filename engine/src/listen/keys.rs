//! Metric names of the dotted protocols (StatsD, Graphite) turned into tree paths.
//!
//! Dots become levels (`a.b.c` is `a,b,c`). A name holding a `,` or a control
//! character, or an empty level (`a..b`, `.a`, `a.`), is refused for that line with a
//! message naming the key: keys are never silently rewritten, so two different names
//! never land on one leaf.

use super::metrics::{LineError, Reject};
use crate::path::check_key;

/// `a.b.c` as the path `a,b,c`, every key checked.
///
/// # Errors
/// `BadKey` naming the offending key and its problem.
pub fn dotted_path(name: &str) -> Result<String, LineError> {
    let mut path = String::with_capacity(name.len());
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
    }
    Ok(path)
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
