//! The crate's error type: one concrete `Error` with a kind, so callers (the CLI, the
//! relay, tests) can tell a bad configuration from an I/O failure or a module failure.

use std::fmt;
use std::path::PathBuf;

/// What went wrong, broadly.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    /// A configuration file or value is invalid.
    Config,
    /// A module failed to load, initialise or answer.
    Module,
    /// Reading or writing a file or socket failed.
    Io,
    /// A push could not be encoded or was refused by a server.
    Push,
}

/// An agent error: a kind and a message naming the cause.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Error {
    kind: ErrorKind,
    message: String,
}

impl Error {
    /// A new error of `kind`.
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> Error {
        Error {
            kind,
            message: message.into(),
        }
    }

    /// A configuration error.
    pub fn config(message: impl Into<String>) -> Error {
        Error::new(ErrorKind::Config, message)
    }

    /// A module error.
    pub fn module(message: impl Into<String>) -> Error {
        Error::new(ErrorKind::Module, message)
    }

    /// A push error.
    pub fn push(message: impl Into<String>) -> Error {
        Error::new(ErrorKind::Push, message)
    }

    /// An I/O error on `path`.
    pub fn io_at(path: impl Into<PathBuf>, err: &std::io::Error) -> Error {
        let path = path.into();
        Error::new(ErrorKind::Io, format!("{}: {err}", path.display()))
    }

    /// An I/O error with a description of what was being done.
    pub fn io(what: impl fmt::Display, err: &std::io::Error) -> Error {
        Error::new(ErrorKind::Io, format!("{what}: {err}"))
    }

    /// The kind of error.
    pub fn kind(&self) -> ErrorKind {
        self.kind
    }

    /// The message, without the kind.
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

/// The crate's result type.
pub type Result<T> = std::result::Result<T, Error>;
