//! The writer's error.

use std::io;
use std::path::PathBuf;

/// Why a stats file could not be created or a handle taken.
#[derive(Debug, thiserror::Error)]
pub enum WriteError {
    /// Creating, sizing, mapping or renaming the file failed.
    #[error("{}: {source}", path.display())]
    Io {
        /// The stats file.
        path: PathBuf,
        /// What the system said.
        source: io::Error,
    },
    /// Empty, longer than 65535 bytes, or declared twice.
    #[error("bad label {label:?}: {reason}")]
    BadLabel {
        /// The label as given.
        label: String,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// A string field of size 0 or larger than the format allows.
    #[error("string field {label:?}: size {size} is not in 1..={max}")]
    BadSize {
        /// The field's label.
        label: String,
        /// The size asked for.
        size: usize,
        /// The largest size the format allows.
        max: usize,
    },
    /// A moving average or timer with a window of 0 samples.
    #[error("field {label:?}: the window must hold at least one sample")]
    EmptyWindow {
        /// The field's label.
        label: String,
    },
    /// The declaration belongs to another builder.
    #[error("field {label:?} was declared by another builder")]
    ForeignField {
        /// The field's label.
        label: String,
    },
}
