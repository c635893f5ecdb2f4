//! Keys and paths: what a key may hold, the order children are kept in, and how any
//! text is made a valid key.
//!
//! A key is 1..=[`MAX_KEY_LEN`] bytes of UTF-8 without [`SEP`] (`,`) or control
//! characters. A path is its keys joined with [`SEP`]. [`check_key`] refuses a bad key
//! (pushes are refused whole); [`sanitize_key`] repairs one (pipes, the agent and the
//! telemetry turn whatever text they meet into keys, and must never drop a sample for it).

use std::borrow::Cow;
use std::cmp::Ordering;
use std::fmt;

/// The longest key, in bytes.
pub const MAX_KEY_LEN: usize = 255;

/// The separator between keys in the text form of a path.
pub const SEP: char = ',';

/// What [`sanitize_key`] makes of an empty text: `-`, the access-log formats'
/// placeholder for a missing field.
pub const MISSING_FIELD_KEY: &str = "-";

/// What the agent, the AMQP source and the telemetry make of an empty name: `_`
/// (for [`sanitize_key_or`]).
pub const EMPTY_NAME_KEY: &str = "_";

/// Why a key was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeyProblem {
    /// The key is the empty string.
    Empty,
    /// The key is longer than [`MAX_KEY_LEN`] bytes (its length given).
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

impl std::error::Error for KeyProblem {}

/// Checks one key against the key rules (module docs).
///
/// # Errors
/// The first problem found.
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

/// Makes any text a valid key: `,` and control characters become `_`, an empty text
/// becomes [`MISSING_FIELD_KEY`] (`-`), and a long one is cut at a character boundary
/// to [`MAX_KEY_LEN`] bytes. Borrows when nothing had to change.
pub fn sanitize_key(text: &str) -> Cow<'_, str> {
    sanitize_key_or(text, MISSING_FIELD_KEY)
}

/// As [`sanitize_key`], with `empty` standing for an empty text (the agent, the AMQP
/// source and the telemetry use [`EMPTY_NAME_KEY`]).
pub fn sanitize_key_or<'a>(text: &'a str, empty: &'static str) -> Cow<'a, str> {
    let bad = |c: char| c == SEP || c.is_control();
    if text.is_empty() {
        return Cow::Borrowed(empty);
    }
    if text.len() <= MAX_KEY_LEN && !text.contains(bad) {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len().min(MAX_KEY_LEN));
    for c in text.chars() {
        let c = if bad(c) { '_' } else { c };
        if out.len() + c.len_utf8() > MAX_KEY_LEN {
            break;
        }
        out.push(c);
    }
    Cow::Owned(out)
}

/// Joins keys into a path in `buf` (cleared first), sanitizing each key.
pub fn join_path(buf: &mut String, keys: &[&str]) {
    buf.clear();
    for (i, k) in keys.iter().enumerate() {
        if i > 0 {
            buf.push(SEP);
        }
        buf.push_str(&sanitize_key(k));
    }
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
    fn keys_are_made_valid() {
        assert!(matches!(sanitize_key("Chrome"), Cow::Borrowed("Chrome")));
        assert_eq!(sanitize_key("a,b\tc"), "a_b_c");
        assert_eq!(sanitize_key(""), "-");
        assert_eq!(sanitize_key_or("", EMPTY_NAME_KEY), "_");
        let long = "é".repeat(200);
        let k = sanitize_key(&long);
        assert!(k.len() <= MAX_KEY_LEN && k.chars().all(|c| c == 'é'));
        // A two-byte control character becomes a one-byte `_`; the cut still lands on
        // a character boundary.
        let text = format!("{}\u{85}", "é".repeat(127));
        let k = sanitize_key(&text);
        assert_eq!(k.len(), 255);
        assert!(check_key(&k).is_ok());
        let mut buf = String::new();
        join_path(&mut buf, &["br", "IE,x", "8.0"]);
        assert_eq!(buf, "br,IE_x,8.0");
    }

    #[test]
    fn sanitized_keys_always_pass_the_check() {
        for text in [
            "",
            ",",
            "\u{0}",
            "a\u{85}b",
            &"ü".repeat(300),
            &"a,".repeat(200),
        ] {
            let k = sanitize_key(text);
            assert_eq!(check_key(&k), Ok(()), "{text:?} -> {k:?}");
        }
    }
}
