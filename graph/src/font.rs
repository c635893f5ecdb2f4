//! The built-in font (DejaVu Sans, subset; see `fonts/README.md`): text measurement for
//! layout and glyph outlines for the rasterizer. Never touches system fonts.

use std::sync::OnceLock;

use ab_glyph::{Font, FontRef, GlyphId, OutlineCurve};

use crate::GraphError;

/// The embedded TTF bytes.
pub const FONT_BYTES: &[u8] = include_bytes!("../fonts/DejaVuSans-subset.ttf");

/// The family name written into SVG, with fallbacks for viewers without DejaVu.
pub(crate) const SVG_FAMILY: &str = "DejaVu Sans,Verdana,Geneva,sans-serif";

/// Font units per em of DejaVu Sans, used if the font's head table were unreadable.
const FALLBACK_UPEM: f32 = 2048.0;

/// The parsed embedded font.
pub(crate) struct Face {
    font: FontRef<'static>,
    upem: f32,
}

static FACE: OnceLock<Option<Face>> = OnceLock::new();

/// The embedded font, parsed once.
///
/// # Errors
/// Only if the embedded bytes do not parse, which the crate's tests rule out.
pub(crate) fn face() -> Result<&'static Face, GraphError> {
    FACE.get_or_init(|| {
        FontRef::try_from_slice(FONT_BYTES).ok().map(|font| {
            let upem = font.units_per_em().unwrap_or(FALLBACK_UPEM);
            Face { font, upem }
        })
    })
    .as_ref()
    .ok_or_else(|| GraphError::render("the built-in font could not be read"))
}

/// A glyph's outline as path commands in em units (y down), ready to scale.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Seg {
    Move(f32, f32),
    Line(f32, f32),
    Quad(f32, f32, f32, f32),
    Cubic(f32, f32, f32, f32, f32, f32),
    Close,
}

impl Face {
    fn scale(&self, size: f64) -> f64 {
        size / f64::from(self.upem)
    }

    /// Width of `text` in pixels at `size` (em size, as SVG `font-size`).
    pub fn width(&self, text: &str, size: f64) -> f64 {
        let mut w = 0.0f64;
        let mut prev: Option<GlyphId> = None;
        for c in text.chars() {
            let g = self.font.glyph_id(c);
            if let Some(p) = prev {
                w += f64::from(self.font.kern_unscaled(p, g));
            }
            w += f64::from(self.font.h_advance_unscaled(g));
            prev = Some(g);
        }
        w * self.scale(size)
    }

    /// Distance from the baseline up to the top of capitals, in pixels at `size`.
    pub fn cap_height(&self, size: f64) -> f64 {
        // DejaVu Sans' capitals are 1493/2048 em tall.
        size * 0.729
    }

    /// Cuts `text` to fit `max_width` pixels, ending it with an ellipsis when cut.
    pub fn fit(&self, text: &str, size: f64, max_width: f64) -> String {
        if self.width(text, size) <= max_width {
            return text.to_owned();
        }
        let ell = self.width("…", size);
        let mut out = String::new();
        let mut w = 0.0;
        for c in text.chars() {
            let cw = self.width(c.encode_utf8(&mut [0; 4]), size);
            if w + cw + ell > max_width {
                break;
            }
            w += cw;
            out.push(c);
        }
        if out.is_empty() && ell > max_width {
            return String::new();
        }
        out.push('…');
        out
    }

    /// Lays `text` out from the origin: for each glyph its pen x (pixels at `size`) and
    /// its outline in em units, y down.
    pub fn glyphs(&self, text: &str, size: f64, mut emit: impl FnMut(f64, &[Seg])) {
        let scale = self.scale(size);
        let mut x = 0.0f64;
        let mut prev: Option<GlyphId> = None;
        let mut segs = Vec::new();
        let inv = 1.0 / self.upem;
        for c in text.chars() {
            let g = self.font.glyph_id(c);
            if let Some(p) = prev {
                x += f64::from(self.font.kern_unscaled(p, g)) * scale;
            }
            if let Some(outline) = self.font.outline(g) {
                segs.clear();
                let mut last: Option<(f32, f32)> = None;
                for curve in &outline.curves {
                    let (start, end) = match *curve {
                        OutlineCurve::Line(a, b) => (a, b),
                        OutlineCurve::Quad(a, _, b) => (a, b),
                        OutlineCurve::Cubic(a, _, _, b) => (a, b),
                    };
                    let p0 = (start.x * inv, -start.y * inv);
                    if last != Some(p0) {
                        if last.is_some() {
                            segs.push(Seg::Close);
                        }
                        segs.push(Seg::Move(p0.0, p0.1));
                    }
                    segs.push(match *curve {
                        OutlineCurve::Line(_, b) => Seg::Line(b.x * inv, -b.y * inv),
                        OutlineCurve::Quad(_, c1, b) => {
                            Seg::Quad(c1.x * inv, -c1.y * inv, b.x * inv, -b.y * inv)
                        }
                        OutlineCurve::Cubic(_, c1, c2, b) => Seg::Cubic(
                            c1.x * inv,
                            -c1.y * inv,
                            c2.x * inv,
                            -c2.y * inv,
                            b.x * inv,
                            -b.y * inv,
                        ),
                    });
                    last = Some((end.x * inv, -end.y * inv));
                }
                if last.is_some() {
                    segs.push(Seg::Close);
                }
                emit(x, &segs);
            }
            x += f64::from(self.font.h_advance_unscaled(g)) * scale;
            prev = Some(g);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn embedded_font_parses_and_measures() {
        let f = face().unwrap();
        let w = f.width("12:00", 11.0);
        assert!(w > 20.0 && w < 50.0, "{w}");
        assert!(f.width("WWW", 10.0) > f.width("iii", 10.0));
        let cut = f.fit("a very long series label indeed", 11.0, 60.0);
        assert!(cut.ends_with('…') && f.width(&cut, 11.0) <= 60.0, "{cut}");
        assert_eq!(f.fit("short", 11.0, 100.0), "short");
        let mut n = 0;
        f.glyphs("Hi", 12.0, |_, segs| n += segs.len());
        assert!(n > 4);
    }
}
