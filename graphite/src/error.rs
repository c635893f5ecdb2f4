//! The crate's one error: a 400 or a 500.

/// An error: a 400 (the request is wrong) or a 500 (the source failed).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Error {
    /// Whether the client is at fault.
    pub client: bool,
    /// What went wrong.
    pub message: String,
}

impl Error {
    /// The request is wrong.
    pub fn bad_request(m: impl Into<String>) -> Error {
        Error {
            client: true,
            message: m.into(),
        }
    }

    /// The source failed.
    pub fn internal(m: impl Into<String>) -> Error {
        Error {
            client: false,
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
