//! The reserved keys of the push format (docs/API.md, `POST /push`).
//!
//! A pushed tree is JSON. At its top, [`TIMESTAMP_KEY`] dates all its samples, and at any
//! level [`DEFAULT_ACTION_KEY`] (or its older spelling [`DEFAULT_ACTION_ALIAS`]) sets the
//! action of the nodes it creates. When a subtree is pushed where a number stands, the
//! number moves under [`COUNT_KEY`].

/// The top-level key that dates a whole pushed tree (unix seconds). Below the top it is
/// an ordinary key.
pub const TIMESTAMP_KEY: &str = "timestamp";

/// The key that sets the action of the nodes a push creates, at the level it is given.
pub const DEFAULT_ACTION_KEY: &str = "default_action";

/// The older spelling of [`DEFAULT_ACTION_KEY`], still accepted.
pub const DEFAULT_ACTION_ALIAS: &str = "defaultaction";

/// Both spellings of the action key.
pub const ACTION_KEYS: [&str; 2] = [DEFAULT_ACTION_KEY, DEFAULT_ACTION_ALIAS];

/// The top-level keys of a pushed tree that describe it rather than hold a metric.
pub const HEADER_KEYS: [&str; 3] = [DEFAULT_ACTION_KEY, DEFAULT_ACTION_ALIAS, TIMESTAMP_KEY];

/// The key a number moves to when a subtree takes its place.
pub const COUNT_KEY: &str = "count";

/// The media type of a push body's `Content-Type` value, as the server's `/push` and
/// the relay's push path read it: before any parameter, trimmed, lowercase
/// (`Application/JSON; charset=utf-8` is `application/json`); empty for none.
pub fn media_type(content_type: &str) -> String {
    content_type
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase()
}

/// Whether `key` is one of the [`ACTION_KEYS`].
pub fn is_action_key(key: &str) -> bool {
    ACTION_KEYS.contains(&key)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn both_spellings_set_the_action() {
        assert!(is_action_key("default_action"));
        assert!(is_action_key("defaultaction"));
        assert!(!is_action_key("timestamp"));
        assert!(HEADER_KEYS.contains(&TIMESTAMP_KEY));
    }

    #[test]
    fn media_type_drops_parameters_and_case() {
        assert_eq!(
            media_type("Application/JSON; charset=utf-8"),
            "application/json"
        );
        assert_eq!(media_type(" text/plain "), "text/plain");
        assert_eq!(media_type(""), "");
        assert_eq!(media_type(";q=1"), "");
    }
}
