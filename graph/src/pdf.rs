//! PDF output: the SVG that `svg.rs` writes, parsed by usvg and written by svg2pdf as one
//! vector page (1 px = 1 pt). Text stays text, in the built-in DejaVu Sans subset, which
//! svg2pdf subsets again and embeds (`/FontFile2`), so the PDF looks the same everywhere
//! and its labels can be searched and copied. The font database holds that one font and
//! nothing from the system (no fontconfig), like the PNG path.

use std::sync::{Arc, OnceLock};

use svg2pdf::usvg::{self, fontdb};
use svg2pdf::{ConversionOptions, PageOptions};

use crate::GraphError;
use crate::font::FONT_BYTES;

/// The family the embedded font is registered as, also the fallback of every generic
/// family the SVG names.
const FAMILY: &str = "DejaVu Sans";

fn fonts() -> Arc<fontdb::Database> {
    static DB: OnceLock<Arc<fontdb::Database>> = OnceLock::new();
    DB.get_or_init(|| {
        let mut db = fontdb::Database::new();
        db.load_font_data(FONT_BYTES.to_vec());
        db.set_sans_serif_family(FAMILY);
        db.set_serif_family(FAMILY);
        Arc::new(db)
    })
    .clone()
}

/// The PDF of an SVG document drawn by this crate.
///
/// # Errors
/// [`crate::ErrorKind::Render`] if usvg refuses the SVG or svg2pdf fails (neither
/// happens with the SVG this crate writes).
pub(crate) fn from_svg(svg: &str) -> Result<Vec<u8>, GraphError> {
    let opt = usvg::Options {
        font_family: FAMILY.to_owned(),
        fontdb: fonts(),
        ..usvg::Options::default()
    };
    let tree = usvg::Tree::from_str(svg, &opt)
        .map_err(|e| GraphError::render(format!("PDF: the chart's SVG: {e}")))?;
    svg2pdf::to_pdf(&tree, ConversionOptions::default(), PageOptions::default())
        .map_err(|e| GraphError::render(format!("PDF: {e}")))
}
