//! Paints a [`Scene`] with tiny-skia (anti-aliased paths, clip mask for the plot) and
//! encodes the pixels as PNG or JPEG with the `image` crate. Text is filled from the
//! embedded font's glyph outlines, so no system font is ever read.

use image::ExtendedColorType;
use image::ImageEncoder as _;
use image::codecs::jpeg::JpegEncoder;
use image::codecs::png::{CompressionType, FilterType, PngEncoder};
use tiny_skia::{
    FillRule, LineCap, LineJoin, Mask, Paint, PathBuilder, Pixmap, Stroke, StrokeDash, Transform,
};

use crate::GraphError;
use crate::font::{Seg, face};
use crate::scene::{Anchor, Item, Rect, Scene};
use crate::theme::Color;

/// JPEG quality: high enough that text and thin lines stay clean.
const JPEG_QUALITY: u8 = 90;

/// Points per stroked chunk of a polyline.
const CHUNK: usize = 48;

/// Paints the scene; returns tightly packed RGB8 pixels (the background is opaque).
pub(crate) fn paint(scene: &Scene) -> Result<Vec<u8>, GraphError> {
    let mut pm = Pixmap::new(scene.width, scene.height)
        .ok_or_else(|| GraphError::render("cannot allocate the canvas"))?;
    pm.fill(sk_color(scene.background));
    let mut mask = Mask::new(scene.width, scene.height)
        .ok_or_else(|| GraphError::render("cannot allocate the clip mask"))?;
    if let Some(path) = rect_path(scene.clip) {
        mask.fill_path(&path, FillRule::Winding, false, Transform::identity());
    }
    for (clipped, item) in &scene.items {
        draw(&mut pm, item, clipped.then_some(&mask))?;
    }
    drop(mask);
    // The background is opaque, so premultiplied RGB equals straight RGB. Packed in
    // place (each write lands behind its read): no second canvas-sized buffer.
    let mut data = pm.take();
    let n = data.len() / 4;
    for i in 0..n {
        data.copy_within(i * 4..i * 4 + 3, i * 3);
    }
    data.truncate(n * 3);
    Ok(data)
}

/// PNG bytes of RGB8 pixels.
pub(crate) fn encode_png(rgb: &[u8], width: u32, height: u32) -> Result<Vec<u8>, GraphError> {
    let mut out = Vec::with_capacity(rgb.len() / 8);
    PngEncoder::new_with_quality(&mut out, CompressionType::Fast, FilterType::Adaptive)
        .write_image(rgb, width, height, ExtendedColorType::Rgb8)
        .map_err(|e| GraphError::render(format!("PNG encoding failed: {e}")))?;
    Ok(out)
}

/// JPEG bytes of RGB8 pixels.
pub(crate) fn encode_jpeg(rgb: &[u8], width: u32, height: u32) -> Result<Vec<u8>, GraphError> {
    let mut out = Vec::with_capacity(rgb.len() / 10);
    JpegEncoder::new_with_quality(&mut out, JPEG_QUALITY)
        .encode(rgb, width, height, ExtendedColorType::Rgb8)
        .map_err(|e| GraphError::render(format!("JPEG encoding failed: {e}")))?;
    Ok(out)
}

#[allow(
    clippy::cast_possible_truncation,
    reason = "pixel coordinates are far inside f32 range"
)]
fn f(v: f64) -> f32 {
    v as f32
}

fn sk_color(c: Color) -> tiny_skia::Color {
    tiny_skia::Color::from_rgba8(c.r, c.g, c.b, c.a)
}

fn paint_of(c: Color) -> Paint<'static> {
    let mut p = Paint::default();
    p.set_color(sk_color(c));
    p.anti_alias = true;
    p
}

fn rect_path(r: Rect) -> Option<tiny_skia::Path> {
    let rect = tiny_skia::Rect::from_xywh(f(r.x), f(r.y), f(r.w), f(r.h))?;
    Some(PathBuilder::from_rect(rect))
}

fn draw(pm: &mut Pixmap, item: &Item, mask: Option<&Mask>) -> Result<(), GraphError> {
    let id = Transform::identity();
    match item {
        Item::Rect { r, fill } => {
            if let Some(rect) = tiny_skia::Rect::from_xywh(f(r.x), f(r.y), f(r.w), f(r.h)) {
                pm.fill_rect(rect, &paint_of(*fill), id, mask);
            }
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
            let mut pb = PathBuilder::new();
            pb.move_to(f(*x1), f(*y1));
            pb.line_to(f(*x2), f(*y2));
            if let Some(path) = pb.finish() {
                let mut stroke = Stroke {
                    width: f(*width),
                    ..Stroke::default()
                };
                if *dash {
                    stroke.dash = StrokeDash::new(vec![4.0, 3.0], 0.0);
                }
                pm.stroke_path(&path, &paint_of(*color), &stroke, id, mask);
            }
        }
        Item::Polyline { runs, color, width } => {
            // Stroked in short chunks: the scan converter sorts the active edges on every
            // row, which grows quadratically on a dense zigzag stroked as one path. Round
            // caps make the joints between chunks invisible (the colour is opaque).
            let stroke = Stroke {
                width: f(*width),
                line_cap: LineCap::Round,
                line_join: LineJoin::Round,
                ..Stroke::default()
            };
            let paint = paint_of(*color);
            for run in runs {
                let mut start = 0;
                while start + 1 < run.len() {
                    let end = (start + CHUNK).min(run.len() - 1);
                    let mut pb = PathBuilder::new();
                    pb.move_to(f(run[start].0), f(run[start].1));
                    for (x, y) in &run[start + 1..=end] {
                        pb.line_to(f(*x), f(*y));
                    }
                    if let Some(path) = pb.finish() {
                        pm.stroke_path(&path, &paint, &stroke, id, mask);
                    }
                    start = end;
                }
            }
        }
        Item::Polygon { pts, fill } => {
            let mut pb = PathBuilder::new();
            for (i, (x, y)) in pts.iter().enumerate() {
                if i == 0 {
                    pb.move_to(f(*x), f(*y));
                } else {
                    pb.line_to(f(*x), f(*y));
                }
            }
            pb.close();
            if let Some(path) = pb.finish() {
                pm.fill_path(&path, &paint_of(*fill), FillRule::Winding, id, mask);
            }
        }
        Item::Dot { x, y, r, fill } => {
            if let Some(path) = PathBuilder::from_circle(f(*x), f(*y), f(*r)) {
                pm.fill_path(&path, &paint_of(*fill), FillRule::Winding, id, mask);
            }
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
            let face = face()?;
            let width = face.width(text, *size);
            let x0 = match anchor {
                Anchor::Start => *x,
                Anchor::Middle => x - width / 2.0,
                Anchor::End => x - width,
            };
            let mut pb = PathBuilder::new();
            let s = *size;
            face.glyphs(text, s, |gx, segs| {
                let tx = |v: f32| f(x0 + gx + f64::from(v) * s);
                let ty = |v: f32| f(y + f64::from(v) * s);
                for seg in segs {
                    match *seg {
                        Seg::Move(a, b) => pb.move_to(tx(a), ty(b)),
                        Seg::Line(a, b) => pb.line_to(tx(a), ty(b)),
                        Seg::Quad(a, b, c, d) => pb.quad_to(tx(a), ty(b), tx(c), ty(d)),
                        Seg::Cubic(a, b, c, d, e, g) => {
                            pb.cubic_to(tx(a), ty(b), tx(c), ty(d), tx(e), ty(g));
                        }
                        Seg::Close => pb.close(),
                    }
                }
            });
            if let Some(path) = pb.finish() {
                let paint = paint_of(*color);
                pm.fill_path(&path, &paint, FillRule::Winding, id, mask);
                if *bold {
                    let stroke = Stroke {
                        width: f(s / 24.0),
                        ..Stroke::default()
                    };
                    pm.stroke_path(&path, &paint, &stroke, id, mask);
                }
            }
        }
    }
    Ok(())
}
