//! Why a format string could not be compiled.

use std::fmt;

/// Why a format string could not be compiled.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FormatError(pub String);

impl fmt::Display for FormatError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "bad log format: {}", self.0)
    }
}

impl std::error::Error for FormatError {}
