//! The crate's one error type: a kind for the caller to map (400 vs 500) and a message
//! that names the bad parameter, ready to show to a user.

use std::fmt;

/// What went wrong, coarse enough for a caller to pick an HTTP status.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    /// An option or query parameter is malformed or out of bounds (answer 400).
    BadOption,
    /// A time (`from`, `until`) could not be parsed or is out of range (answer 400).
    BadTime,
    /// The image could not be produced (encoder failure, unreadable built-in font; 500).
    Render,
}

/// An error from parsing options or rendering a chart.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GraphError {
    kind: ErrorKind,
    param: Option<String>,
    message: String,
}

impl GraphError {
    /// A bad value for the named parameter.
    pub(crate) fn option(param: &str, message: impl Into<String>) -> Self {
        Self {
            kind: ErrorKind::BadOption,
            param: Some(param.to_owned()),
            message: message.into(),
        }
    }

    /// A bad time; `param` is set later by [`GraphError::for_param`] when known.
    pub(crate) fn time(message: impl Into<String>) -> Self {
        Self {
            kind: ErrorKind::BadTime,
            param: None,
            message: message.into(),
        }
    }

    pub(crate) fn render(message: impl Into<String>) -> Self {
        Self {
            kind: ErrorKind::Render,
            param: None,
            message: message.into(),
        }
    }

    /// Attaches the name of the parameter the error is about.
    #[must_use]
    pub fn for_param(mut self, param: &str) -> Self {
        self.param = Some(param.to_owned());
        self
    }

    /// The kind, to choose a status code.
    pub fn kind(&self) -> ErrorKind {
        self.kind
    }

    /// The parameter the error is about, if it is about one (`width`, `from`, ...).
    pub fn param(&self) -> Option<&str> {
        self.param.as_deref()
    }

    /// The reason without the parameter name.
    pub fn message(&self) -> &str {
        &self.message
    }

    /// True when the caller's input was wrong (HTTP 400), false for internal failures.
    pub fn is_client_error(&self) -> bool {
        matches!(self.kind, ErrorKind::BadOption | ErrorKind::BadTime)
    }
}

impl fmt::Display for GraphError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.param {
            Some(p) => write!(f, "bad {p}: {}", self.message),
            None => f.write_str(&self.message),
        }
    }
}

impl std::error::Error for GraphError {}
