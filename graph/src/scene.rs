//! The display list between layout and output: a handful of primitives in pixel
//! coordinates. Layout builds one `Scene`; `svg` writes it as text and `raster` paints it,
//! so the PNG and the SVG of a chart cannot drift apart.

use crate::theme::Color;

/// An axis-aligned rectangle in pixels.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Rect {
    pub x: f64,
    pub y: f64,
    pub w: f64,
    pub h: f64,
}

impl Rect {
    pub fn right(&self) -> f64 {
        self.x + self.w
    }
    pub fn bottom(&self) -> f64 {
        self.y + self.h
    }
}

/// Horizontal alignment of text relative to its x.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Anchor {
    Start,
    Middle,
    End,
}

/// One drawing primitive.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Item {
    Rect {
        r: Rect,
        fill: Color,
    },
    Line {
        x1: f64,
        y1: f64,
        x2: f64,
        y2: f64,
        color: Color,
        width: f64,
        dash: bool,
    },
    /// Connected points; each inner list is drawn as one stroke (gaps between lists).
    Polyline {
        runs: Vec<Vec<(f64, f64)>>,
        color: Color,
        width: f64,
    },
    /// A closed, filled polygon.
    Polygon {
        pts: Vec<(f64, f64)>,
        fill: Color,
    },
    Dot {
        x: f64,
        y: f64,
        r: f64,
        fill: Color,
    },
    /// `y` is the baseline.
    Text {
        x: f64,
        y: f64,
        text: String,
        size: f64,
        color: Color,
        anchor: Anchor,
        bold: bool,
    },
}

/// A whole chart, ready to be written.
#[derive(Debug, Clone)]
pub(crate) struct Scene {
    pub width: u32,
    pub height: u32,
    pub background: Color,
    /// The plot area; items pushed with [`Scene::clipped`] are cut to it.
    pub clip: Rect,
    pub items: Vec<(bool, Item)>,
}

impl Scene {
    pub fn new(width: u32, height: u32, background: Color) -> Scene {
        let full = Rect {
            x: 0.0,
            y: 0.0,
            w: f64::from(width),
            h: f64::from(height),
        };
        Scene {
            width,
            height,
            background,
            clip: full,
            items: Vec::new(),
        }
    }

    pub fn push(&mut self, item: Item) {
        self.items.push((false, item));
    }

    pub fn clipped(&mut self, item: Item) {
        self.items.push((true, item));
    }

    pub fn text(
        &mut self,
        x: f64,
        y: f64,
        text: impl Into<String>,
        size: f64,
        color: Color,
        anchor: Anchor,
    ) {
        let text = text.into();
        if !text.is_empty() {
            self.push(Item::Text {
                x,
                y,
                text,
                size,
                color,
                anchor,
                bold: false,
            });
        }
    }
}
