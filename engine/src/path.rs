//! Keys and paths: validation, the `,`-joined text form, and the key order.
//!
//! A key is 1..=255 bytes of UTF-8 without `,` or control characters (DESIGN.md §2).
//! Children are kept sorted by [`cmp_keys`], which orders a key as if a `,` followed it:
//! a depth-first walk then yields paths in plain byte order of their joined text, so
//! query results come out sorted without a sort in the common case.

use std::cmp::Ordering;

use std::fmt;
/// Making any text a valid key lives with the pipe API (every pipe needs it); the
/// engine's other users (agent, AMQP source) take it from here.
pub use treestat_pipe_api::{sanitize_key, sanitize_key_or};

/// The longest key, in bytes.
pub const MAX_KEY_LEN: usize = 255;

/// The separator between keys in the text form of a path.
pub const SEP: char = ',';

/// Why a key was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeyProblem {
    /// The key is the empty string.
    Empty,
    /// The key is longer than [`MAX_KEY_LEN`] bytes.
    TooLong(usize),
    /// The key holds a `,`, which separates keys.
    Comma,
    /// The key holds a control character (code point given).
    Control(u32),
}

impl fmt::Display for KeyProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            KeyProblem::Empty => f.write_str("is empty"),
            KeyProblem::TooLong(n) => write!(f, "is {n} bytes long (at most {MAX_KEY_LEN})"),
            KeyProblem::Comma => f.write_str("contains ','"),
            KeyProblem::Control(c) => write!(f, "contains the control character U+{c:04X}"),
        }
    }
}

/// Checks one key against the rules of DESIGN.md §2.
///
/// # Errors
/// Returns the first problem found.
pub fn check_key(key: &str) -> Result<(), KeyProblem> {
    if key.is_empty() {
        return Err(KeyProblem::Empty);
    }
    if key.len() > MAX_KEY_LEN {
        return Err(KeyProblem::TooLong(key.len()));
    }
    // Fast path: plain printable ASCII without a comma.
    if key.bytes().all(|b| (0x20..0x7f).contains(&b) && b != b',') {
        return Ok(());
    }
    for c in key.chars() {
        if c == SEP {
            return Err(KeyProblem::Comma);
        }
        if c.is_control() {
            return Err(KeyProblem::Control(u32::from(c)));
        }
    }
    Ok(())
}

/// Orders two keys as if each were followed by `,`.
///
/// This is the order children are kept in; it makes a depth-first walk produce joined
/// paths in byte order (`a,b,c` < `a,b!` is wrong in plain key order, right here).
pub fn cmp_keys(a: &str, b: &str) -> Ordering {
    let (a, b) = (a.as_bytes(), b.as_bytes());
    let n = a.len().min(b.len());
    match a[..n].cmp(&b[..n]) {
        Ordering::Equal => {}
        other => return other,
    }
    match a.len().cmp(&b.len()) {
        Ordering::Equal => Ordering::Equal,
        // `a` ends: compare the implied ',' against b's next byte.
        Ordering::Less => b','.cmp(&b[n]).then(Ordering::Less),
        Ordering::Greater => a[n].cmp(&b',').then(Ordering::Greater),
    }
}

/// Splits the text form of a path into keys, dropping empty keys at the end
/// (`br,ie,7,` is `br,ie,7`). Keys are not validated here.
pub fn split(path: &str) -> impl Iterator<Item = &str> {
    path.trim_end_matches(SEP)
        .split(SEP)
        .filter(move |_| !path.trim_end_matches(SEP).is_empty())
}

/// Checks every key of a path in text form.
///
/// # Errors
/// Names the offending key and its problem.
pub fn check_path(path: &str) -> Result<(), crate::Error> {
    let mut n = 0;
    for key in path.split(SEP) {
        n += 1;
        check_key(key).map_err(|problem| crate::Error::bad_key(key, path, problem))?;
    }
    if n == 0 {
        return Err(crate::Error::bad_key("", path, KeyProblem::Empty));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_checked() {
        assert_eq!(check_key("14.0"), Ok(()));
        assert_eq!(check_key("Linköping"), Ok(()));
        assert_eq!(check_key(""), Err(KeyProblem::Empty));
        assert_eq!(check_key("a,b"), Err(KeyProblem::Comma));
        assert_eq!(check_key("a\nb"), Err(KeyProblem::Control(10)));
        assert_eq!(check_key("é\u{7f}"), Err(KeyProblem::Control(0x7f)));
        assert_eq!(check_key(&"x".repeat(255)), Ok(()));
        assert_eq!(check_key(&"x".repeat(256)), Err(KeyProblem::TooLong(256)));
    }

    #[test]
    fn key_order_matches_joined_byte_order() {
        let mut keys = ["b", "b!", "bc", "a", "b-"];
        keys.sort_by(|a, b| cmp_keys(a, b));
        let joined: Vec<String> = keys.iter().map(|k| format!("{k},z")).collect();
        let mut sorted = joined.clone();
        sorted.sort();
        assert_eq!(joined, sorted);
        assert_eq!(cmp_keys("ab", "ab"), Ordering::Equal);
    }

    #[test]
    fn split_drops_trailing_commas() {
        assert_eq!(split("br,ie,7,").collect::<Vec<_>>(), ["br", "ie", "7"]);
        assert_eq!(split("").count(), 0);
        assert_eq!(split(",,").count(), 0);
        assert_eq!(split(",ie").collect::<Vec<_>>(), ["", "ie"]);
    }
}
