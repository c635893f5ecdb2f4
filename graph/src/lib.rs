//! treestat-graph: turns series into PNG, SVG, JPEG and PDF charts. A pure library: the input
//! is data ([`Series`], [`Marker`], [`GraphOptions`]), the output is bytes.
//!
//! Pipeline: `data` (cap, clean, thin, align) -> `chart`/`url` layout into a `scene`
//! (display list) -> `svg` writes it as text (and `pdf` turns that text into a vector PDF
//! with the font embedded), or `raster` paints it with tiny-skia and encodes it with
//! `image`. Text uses the embedded DejaVu Sans subset (`font`), never a
//! system font. See README.md for the options and limits.
//!
//! ```
//! use treestat_graph::{render, Format, GraphOptions, Series};
//! let now = 1_700_000_000;
//! let q = [("from".to_string(), "-1h".to_string()), ("width".into(), "400".into()),
//!          ("height".into(), "200".into())];
//! let opts = GraphOptions::from_query(&q, now).unwrap();
//! let s = Series::new("web,requests", (0..60).map(|i| (now - 3600 + i * 60, i as f64)).collect());
//! let png = render(&[s], &[], &opts, Format::Png).unwrap();
//! assert_eq!(&png[1..4], b"PNG");
//! ```

#![forbid(unsafe_code)]
#![warn(missing_docs)]

mod chart;
mod data;
mod decor;
mod error;
mod font;
mod layout;
mod model;
mod options;
mod pdf;
mod raster;
mod scene;
mod svg;
mod theme;
mod ticks;
mod time;
mod top_bars;

pub use data::MAX_SERIES;
pub use error::{ErrorKind, GraphError};
pub use font::FONT_BYTES;
pub use model::{Format, MAX_MARKERS, Marker, Series};
pub use options::{
    ChartType, DEFAULT_HEIGHT, DEFAULT_RANGE_SECS, DEFAULT_WIDTH, Gaps, GraphOptions,
    LINE_WIDTH_RANGE, MAX_COLORS, MAX_SIZE, MAX_TITLE_CHARS, MIN_SIZE, Style,
};
pub use theme::{Rgb, Theme};
pub use time::{MAX_TIME, Tz, parse_time};

/// Renders `series` with `markers` as a chart image in `format`.
///
/// Series beyond [`MAX_SERIES`] are left out (the largest are kept; the legend says
/// "+N more"); points outside `opts.from..=opts.until` and non-finite values are
/// skipped; no drawable point at all gives a chart saying "no data". Memory is bounded
/// by the image size plus the input.
///
/// # Errors
/// [`ErrorKind::BadOption`] when `opts` is out of bounds (see [`GraphOptions::validate`]),
/// [`ErrorKind::Render`] if encoding fails.
pub fn render(
    series: &[Series],
    markers: &[Marker],
    opts: &GraphOptions,
    format: Format,
) -> Result<Vec<u8>, GraphError> {
    opts.validate()?;
    let scene = chart::build(series, markers, opts)?;
    match format {
        Format::Svg => Ok(svg::write(&scene).into_bytes()),
        Format::Pdf => pdf::from_svg(&svg::write(&scene)),
        Format::Png => raster::encode_png(&raster::paint(&scene)?, scene.width, scene.height),
        Format::Jpeg => raster::encode_jpeg(&raster::paint(&scene)?, scene.width, scene.height),
    }
}
