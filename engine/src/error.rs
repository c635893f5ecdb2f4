//! The engine's error: a kind that callers match on, and a message for people.
//!
//! Every refusal names what was wrong (the key, the path, the limit), because the
//! message goes back to whoever pushed: over HTTP as `{"error": ...}`, over TCP as
//! `--ERR <reason>`.

use std::fmt;

/// What went wrong, for callers that react differently (HTTP status, counters).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ErrorKind {
    /// The document is not JSON, or not of the shape a push takes.
    BadDocument,
    /// A key breaks the key rules.
    BadKey,
    /// A value cannot be merged (e.g. an array holding a non-number).
    BadValue,
    /// The pushed tree is deeper than `limits.max_depth`.
    TooDeep,
    /// The push would add more nodes than `limits.max_push_nodes`.
    PushTooLarge,
    /// The tree would grow past `limits.max_nodes`.
    TreeFull,
    /// A query pattern does not parse.
    BadPattern,
    /// A dated push lies further ahead of the server's clock than `engine.max_future`.
    FutureTime,
    /// The write-ahead log is full and `engine.wal_full = "refuse"`: overload, try later.
    WalFull,
}

impl ErrorKind {
    /// Every kind, in declaration order (`kind as usize` indexes it).
    pub const ALL: [ErrorKind; 9] = [
        ErrorKind::BadDocument,
        ErrorKind::BadKey,
        ErrorKind::BadValue,
        ErrorKind::TooDeep,
        ErrorKind::PushTooLarge,
        ErrorKind::TreeFull,
        ErrorKind::BadPattern,
        ErrorKind::FutureTime,
        ErrorKind::WalFull,
    ];

    /// A short stable name, used as the `reason` label of reject counters.
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorKind::BadDocument => "bad_document",
            ErrorKind::BadKey => "bad_key",
            ErrorKind::BadValue => "bad_value",
            ErrorKind::TooDeep => "too_deep",
            ErrorKind::PushTooLarge => "push_too_large",
            ErrorKind::TreeFull => "tree_full",
            ErrorKind::BadPattern => "bad_pattern",
            ErrorKind::FutureTime => "future_time",
            ErrorKind::WalFull => "wal_full",
        }
    }
}

/// An error from the engine: a push refused whole, or a pattern that does not parse.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Error {
    kind: ErrorKind,
    message: String,
}

impl Error {
    pub(crate) fn new(kind: ErrorKind, message: impl Into<String>) -> Error {
        Error {
            kind,
            message: message.into(),
        }
    }

    /// `BadKey` naming the key, where it is (`at`, may be empty) and its problem
    /// (a [`crate::path::KeyProblem`]).
    pub(crate) fn bad_key(key: &str, at: &str, problem: impl fmt::Display) -> Error {
        let shown: String = key.chars().take(64).collect();
        let at: String = at.chars().take(128).collect();
        if at.is_empty() {
            Error::new(ErrorKind::BadKey, format!("key {shown:?} {problem}"))
        } else {
            Error::new(
                ErrorKind::BadKey,
                format!("key {shown:?} at {at:?} {problem}"),
            )
        }
    }

    /// What kind of error this is.
    pub fn kind(&self) -> ErrorKind {
        self.kind
    }

    /// The message for people.
    pub fn message(&self) -> &str {
        &self.message
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for Error {}

#[cfg(test)]
mod tests {
    use super::ErrorKind;

    #[test]
    fn all_is_in_declaration_order() {
        for (i, k) in ErrorKind::ALL.iter().enumerate() {
            assert_eq!(*k as usize, i, "{k:?}");
        }
    }
}
