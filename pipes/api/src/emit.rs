//! What a pipe hands back: updates `(path, value, action)`. The key rules a path must
//! follow ([`sanitize_key`](crate::sanitize_key), [`join_path`](crate::join_path)) live
//! in treestat-model and are re-exported at the crate root.

use crate::Action;

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

#[cfg(test)]
mod tests {
    use crate::{MAX_KEY_LEN, join_path, sanitize_key};
    use std::borrow::Cow;

    #[test]
    fn key_rules_are_reexported_for_plugins() {
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
