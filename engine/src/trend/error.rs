//! The trend store's error: a kind callers match on (HTTP status, CLI exit) and a
//! message for people. Storage failures keep sled's message; bad input names the line.

use std::fmt;

/// What went wrong in the trend store.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TrendErrorKind {
    /// sled or the file system failed.
    Storage,
    /// Stored bytes do not decode (a damaged or foreign data directory).
    Corrupt,
    /// The configuration is invalid (retention spec, thresholds).
    Config,
    /// A query pattern or time does not parse.
    BadQuery,
    /// Reading or writing an export stream failed.
    Io,
    /// The store's writer thread is gone (the store was shut down).
    Closed,
}

/// An error from the trend store.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TrendError {
    kind: TrendErrorKind,
    message: String,
}

/// Result alias for the trend store.
pub type Result<T, E = TrendError> = std::result::Result<T, E>;

impl TrendError {
    /// An error of `kind` with a message for people.
    pub fn new(kind: TrendErrorKind, message: impl Into<String>) -> TrendError {
        TrendError {
            kind,
            message: message.into(),
        }
    }

    pub(crate) fn corrupt(what: impl fmt::Display) -> TrendError {
        TrendError::new(
            TrendErrorKind::Corrupt,
            format!("corrupt trend data: {what}"),
        )
    }

    pub(crate) fn config(what: impl Into<String>) -> TrendError {
        TrendError::new(TrendErrorKind::Config, what)
    }

    pub(crate) fn bad_query(what: impl Into<String>) -> TrendError {
        TrendError::new(TrendErrorKind::BadQuery, what)
    }

    /// What kind of error this is.
    pub fn kind(&self) -> TrendErrorKind {
        self.kind
    }

    /// The message for people.
    pub fn message(&self) -> &str {
        &self.message
    }
}

impl fmt::Display for TrendError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for TrendError {}

impl From<sled::Error> for TrendError {
    fn from(e: sled::Error) -> TrendError {
        TrendError::new(TrendErrorKind::Storage, format!("trend storage: {e}"))
    }
}

impl From<std::io::Error> for TrendError {
    fn from(e: std::io::Error) -> TrendError {
        TrendError::new(TrendErrorKind::Io, format!("trend i/o: {e}"))
    }
}

impl From<crate::Error> for TrendError {
    fn from(e: crate::Error) -> TrendError {
        TrendError::bad_query(e.message().to_string())
    }
}
