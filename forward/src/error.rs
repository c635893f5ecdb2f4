//! The crate's one error, with a kind: the configuration is wrong, or one send failed
//! (the worker counts it and retries; it never leaves the crate as a failure).

/// What went wrong.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    /// A `[[forward]]` section is invalid.
    Config,
    /// A connect or write to the target failed, timed out, or was refused.
    Send,
}

/// An error of the forwarder.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Error {
    /// Which kind.
    pub kind: ErrorKind,
    /// What, for the log.
    pub message: String,
}

impl Error {
    /// A configuration error.
    pub fn config(m: impl Into<String>) -> Error {
        Error {
            kind: ErrorKind::Config,
            message: m.into(),
        }
    }

    /// A failed send.
    pub fn send(m: impl Into<String>) -> Error {
        Error {
            kind: ErrorKind::Send,
            message: m.into(),
        }
    }
}

impl std::fmt::Display for Error {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for Error {}

/// The crate's result.
pub type Result<T> = std::result::Result<T, Error>;
