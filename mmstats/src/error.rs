//! The writer's error.

use std::io;
use std::path::PathBuf;

/// Why a stats file could not be created or a handle taken.
#[derive(Debug, thiserror::Error)]
pub enum WriteError {
    /// Creating, sizing, mapping or renaming the file failed.
    #[error("{}: {source}", path.display())]
    Io { path: PathBuf, source: io::Error },
    /// Empty, longer than 65535 bytes, or declared twice.
    #[error("bad label {label:?}: {reason}")]
    BadLabel { label: String, reason: &'static str },
    /// A string field of size 0 or larger than the format allows.
    #[error("string field {label:?}: size {size} is not in 1..={max}")]
    BadSize {
        label: String,
        size: usize,
        max: usize,
    },
    /// A moving average or timer with a window of 0 samples.
    #[error("field {label:?}: the window must hold at least one sample")]
    EmptyWindow { label: String },
    /// The declaration belongs to another builder.
    #[error("field {label:?} was declared by another builder")]
    ForeignField { label: String },
}
