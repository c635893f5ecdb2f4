//! The crate's error: a kind for callers to branch on, and a message for people.

use std::fmt;

/// What went wrong, broadly.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    /// The config is not acceptable (unknown pipe, bad option, bad format string).
    Config,
    /// A pipe refused to start (missing field, its own init failed).
    PipeInit,
    /// A native library could not be loaded or failed the ABI check.
    Native,
    /// A Python pipe could not be loaded (syntax error, missing function).
    Python,
    /// Reading a file or a checkpoint failed.
    Io,
    /// The engine refused an update batch.
    Engine,
}

/// An error from building or running pipes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Error {
    kind: ErrorKind,
    message: String,
}

impl Error {
    /// An error of this kind.
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> Error {
        Error {
            kind,
            message: message.into(),
        }
    }

    /// The kind.
    pub fn kind(&self) -> ErrorKind {
        self.kind
    }

    /// The message.
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

impl From<crate::format::FormatError> for Error {
    fn from(e: crate::format::FormatError) -> Error {
        Error::new(ErrorKind::Config, e.to_string())
    }
}
