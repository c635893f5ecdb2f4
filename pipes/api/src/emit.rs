//! What a pipe hands back: updates `(path, value, action)`, and the key rules a path
//! must follow (DESIGN.md §2).

use crate::Action;
use std::borrow::Cow;

/// Where a pipe sends its updates. The runner aggregates them per interval.
pub trait Emit {
    /// One sample for the leaf at `path` (keys joined with `,`). `action` `None` lets
    /// the node keep or inherit its action.
    fn emit(&mut self, path: &str, value: f64, action: Option<Action>);
}

/// Collects updates in a `Vec`, for tests and simple callers.
impl Emit for Vec<(String, f64, Option<Action>)> {
    fn emit(&mut self, path: &str, value: f64, action: Option<Action>) {
        self.push((path.to_string(), value, action));
    }
}

/// The longest key, in bytes (DESIGN.md §2).
pub const MAX_KEY_LEN: usize = 255;

/// Makes any text a valid key: `,` and control characters become `_`, an empty text
/// becomes `-` (the log formats' placeholder), and a long one is cut at a character
/// boundary to [`MAX_KEY_LEN`] bytes. Borrows when nothing had to change.
pub fn sanitize_key(text: &str) -> Cow<'_, str> {
    sanitize_key_or(text, "-")
}

/// As [`sanitize_key`], with `empty` standing for an empty text (the agent and the
/// AMQP source use `_`).
pub fn sanitize_key_or<'a>(text: &'a str, empty: &'static str) -> Cow<'a, str> {
    let bad = |c: char| c == ',' || c.is_control();
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
            buf.push(',');
        }
        buf.push_str(&sanitize_key(k));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_made_valid() {
        assert!(matches!(sanitize_key("Chrome"), Cow::Borrowed("Chrome")));
        assert_eq!(sanitize_key("a,b\tc"), "a_b_c");
        assert_eq!(sanitize_key(""), "-");
        let long = "é".repeat(200);
        let k = sanitize_key(&long);
        assert!(k.len() <= MAX_KEY_LEN && k.chars().all(|c| c == 'é'));
        let mut buf = String::new();
        join_path(&mut buf, &["br", "IE,x", "8.0"]);
        assert_eq!(buf, "br,IE_x,8.0");
    }
}
