//! Writes a [`Scene`] as compact SVG text: one decimal per coordinate, chrome lines with
//! `crispEdges`, series clipped to the plot with one `clipPath`, text in the built-in
//! font's family (with fallbacks, since the SVG does not embed the font).

use std::fmt::Write as _;

use crate::font::SVG_FAMILY;
use crate::scene::{Anchor, Item, Scene};
use crate::theme::Color;

/// The SVG document of `scene`.
pub(crate) fn write(scene: &Scene) -> String {
    let mut s = String::with_capacity(8 * 1024);
    let (w, h) = (scene.width, scene.height);
    let _ = write!(
        s,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{w}" height="{h}" viewBox="0 0 {w} {h}" font-family="{SVG_FAMILY}">"#
    );
    let c = scene.clip;
    let _ = write!(
        s,
        r#"<defs><clipPath id="p"><rect x="{}" y="{}" width="{}" height="{}"/></clipPath></defs>"#,
        n(c.x),
        n(c.y),
        n(c.w),
        n(c.h)
    );
    let _ = write!(
        s,
        r#"<rect width="100%" height="100%"{}/>"#,
        fill(scene.background)
    );
    let mut in_clip = false;
    for (clipped, item) in &scene.items {
        if *clipped != in_clip {
            s.push_str(if *clipped {
                r#"<g clip-path="url(#p)">"#
            } else {
                "</g>"
            });
            in_clip = *clipped;
        }
        item_svg(&mut s, item);
    }
    if in_clip {
        s.push_str("</g>");
    }
    s.push_str("</svg>\n");
    s
}

fn item_svg(s: &mut String, item: &Item) {
    match item {
        Item::Rect { r, fill: f } => {
            let _ = write!(
                s,
                r#"<rect x="{}" y="{}" width="{}" height="{}"{}/>"#,
                n(r.x),
                n(r.y),
                n(r.w),
                n(r.h),
                fill(*f)
            );
        }
        Item::Line {
            x1,
            y1,
            x2,
            y2,
            color,
            width,
            dash,
        } => {
            let crisp = (x1 == x2 || y1 == y2) && !*dash;
            let _ = write!(
                s,
                r#"<path d="M{},{}L{},{}"{}{}{}/>"#,
                n(*x1),
                n(*y1),
                n(*x2),
                n(*y2),
                stroke(*color, *width),
                if *dash {
                    r#" stroke-dasharray="4,3""#
                } else {
                    ""
                },
                if crisp {
                    r#" shape-rendering="crispEdges""#
                } else {
                    ""
                }
            );
        }
        Item::Polyline { runs, color, width } => {
            s.push_str(r#"<path fill="none" stroke-linejoin="round" stroke-linecap="round" d=""#);
            for run in runs {
                points(s, run);
            }
            let _ = write!(s, "\"{}/>", stroke(*color, *width));
        }
        Item::Polygon { pts, fill: f } => {
            s.push_str("<path d=\"");
            points(s, pts);
            let _ = write!(s, "Z\"{}/>", fill(*f));
        }
        Item::Dot { x, y, r, fill: f } => {
            let _ = write!(
                s,
                r#"<circle cx="{}" cy="{}" r="{}"{}/>"#,
                n(*x),
                n(*y),
                n(*r),
                fill(*f)
            );
        }
        Item::Text {
            x,
            y,
            text,
            size,
            color,
            anchor,
            bold,
        } => {
            let a = match anchor {
                Anchor::Start => "",
                Anchor::Middle => r#" text-anchor="middle""#,
                Anchor::End => r#" text-anchor="end""#,
            };
            let _ = write!(
                s,
                r#"<text x="{}" y="{}" font-size="{}"{}{}{}>"#,
                n(*x),
                n(*y),
                n(*size),
                a,
                if *bold { r#" font-weight="bold""# } else { "" },
                fill(*color)
            );
            escape(s, text);
            s.push_str("</text>");
        }
    }
}

/// `M x,y L x,y ...` for a run of points; the hot loop of large charts, so numbers are
/// written as tenths with integer formatting.
fn points(s: &mut String, pts: &[(f64, f64)]) {
    for (i, (x, y)) in pts.iter().enumerate() {
        s.push(if i == 0 { 'M' } else { 'L' });
        push_num(s, *x);
        s.push(',');
        push_num(s, *y);
    }
}

#[allow(
    clippy::cast_possible_truncation,
    reason = "pixel coordinates are clamped to a few thousand"
)]
fn push_num(s: &mut String, v: f64) {
    let tenths = (v.clamp(-1e6, 1e6) * 10.0).round() as i64;
    if tenths < 0 {
        s.push('-');
    }
    let a = tenths.unsigned_abs();
    let _ = write!(s, "{}", a / 10);
    if !a.is_multiple_of(10) {
        let _ = write!(s, ".{}", a % 10);
    }
}

/// A coordinate with at most one decimal, without a trailing `.0`.
fn n(v: f64) -> String {
    let r = (v * 10.0).round() / 10.0;
    if r == r.trunc() {
        format!("{}", r + 0.0)
    } else {
        format!("{r:.1}")
    }
}

fn hex(c: Color) -> String {
    format!("#{:02x}{:02x}{:02x}", c.r, c.g, c.b)
}

fn fill(c: Color) -> String {
    if c.a == 255 {
        format!(r#" fill="{}""#, hex(c))
    } else {
        format!(r#" fill="{}" fill-opacity="{}""#, hex(c), opacity(c.a))
    }
}

fn stroke(c: Color, width: f64) -> String {
    let w = if (width - 1.0).abs() < 1e-9 {
        String::new()
    } else {
        format!(r#" stroke-width="{}""#, n(width))
    };
    if c.a == 255 {
        format!(r#" stroke="{}"{w}"#, hex(c))
    } else {
        format!(
            r#" stroke="{}" stroke-opacity="{}"{w}"#,
            hex(c),
            opacity(c.a)
        )
    }
}

fn opacity(a: u8) -> String {
    let v = (f64::from(a) / 255.0 * 100.0).round() / 100.0;
    format!("{v}")
}

fn escape(s: &mut String, text: &str) {
    for c in text.chars() {
        match c {
            '&' => s.push_str("&amp;"),
            '<' => s.push_str("&lt;"),
            '>' => s.push_str("&gt;"),
            '"' => s.push_str("&quot;"),
            c if c.is_control() => s.push(' '),
            c => s.push(c),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_are_compact() {
        assert_eq!(n(12.0), "12");
        assert_eq!(n(12.04), "12");
        assert_eq!(n(12.25), "12.3");
        assert_eq!(n(-0.01), "0");
        let mut s = String::new();
        points(&mut s, &[(1.0, -2.25), (0.04, 3.96)]);
        assert_eq!(s, "M1,-2.3L0,4");
    }

    #[test]
    fn text_is_escaped() {
        let mut s = String::new();
        escape(&mut s, "a<b>&\"c\"\u{7}");
        assert_eq!(s, "a&lt;b&gt;&amp;&quot;c&quot; ");
    }
}
