//! The chart's input data: series of timestamped values, markers, and the output format.

use crate::GraphError;

/// Most markers drawn on one chart; later ones (by time) are left out.
pub const MAX_MARKERS: usize = 100;

/// One line on the chart: a label (usually the tree path), the node's action, and its
/// points as `(unix seconds, value)`. Points need not be sorted; non-finite values are
/// gaps.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Series {
    /// Shown in the legend (and on the bars of the `url` style).
    pub label: String,
    /// The node's action (`add`, `average`, `max`, `min`, `last`); decides how the `url`
    /// style folds the series into one total. `None` is treated as `add`.
    pub action: Option<String>,
    /// `(unix seconds, value)`; NaN and infinities are skipped and break the line.
    pub points: Vec<(i64, f64)>,
    /// Seconds between the series' buckets (the trend store's step), or 0 when unknown:
    /// then it is taken as the most common spacing of consecutive points. Points further
    /// apart than one and a half steps have missing buckets between them: a gap, never
    /// a line across it (or zeros, with `gaps=zero`).
    pub step: i64,
}

impl Series {
    /// A series with the given label and points and no action.
    pub fn new(label: impl Into<String>, points: Vec<(i64, f64)>) -> Self {
        Self {
            label: label.into(),
            action: None,
            points,
            step: 0,
        }
    }

    /// The same series with its bucket step set (see [`Series::step`]).
    #[must_use]
    pub fn with_step(mut self, step: i64) -> Self {
        self.step = step;
        self
    }
}

/// An annotation: a labelled vertical line at `ts`, or a shaded range when `end` is set.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Marker {
    /// Unix seconds.
    pub ts: i64,
    /// End of a range (unix seconds); `None` for a single instant.
    pub end: Option<i64>,
    /// Text drawn beside the line.
    pub label: String,
}

/// The output encoding.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// PNG, lossless; the usual choice.
    Png,
    /// SVG text; small and crisp at any zoom.
    Svg,
    /// JPEG at quality 90, for places that want one.
    Jpeg,
    /// PDF: one vector page, 1 px = 1 pt, text in the embedded font.
    Pdf,
}

impl Format {
    /// The format for a file or URL extension: `png`, `svg`, `jpg`, `jpeg` or `pdf`
    /// (case-insensitive, without the dot).
    ///
    /// # Errors
    /// An unknown extension, naming it.
    pub fn from_extension(ext: &str) -> Result<Self, GraphError> {
        match ext.to_ascii_lowercase().as_str() {
            "png" => Ok(Self::Png),
            "svg" => Ok(Self::Svg),
            "jpg" | "jpeg" => Ok(Self::Jpeg),
            "pdf" => Ok(Self::Pdf),
            other => Err(GraphError::option(
                "format",
                format!("unknown format {other:?}; use png, svg, jpg or pdf"),
            )),
        }
    }

    /// The MIME type for a `Content-Type` header.
    pub fn content_type(self) -> &'static str {
        match self {
            Self::Png => "image/png",
            Self::Svg => "image/svg+xml",
            Self::Jpeg => "image/jpeg",
            Self::Pdf => "application/pdf",
        }
    }

    /// The usual file extension, without the dot.
    pub fn extension(self) -> &'static str {
        match self {
            Self::Png => "png",
            Self::Svg => "svg",
            Self::Jpeg => "jpg",
            Self::Pdf => "pdf",
        }
    }
}
