//! Layout of a chart: what every drawing step shares ([`Ctx`]), the mapping of time and
//! value into the plot ([`Mapper`]), the legend's flow into rows ([`Legend`]), and where
//! everything of a time chart goes ([`Layout`]): title, plot, axes and their labels,
//! legend. Drawing is in `chart.rs` (the series) and `decor.rs` (grid, markers, legend,
//! title); nothing here draws.

use crate::data::Prepared;
use crate::font::Face;
use crate::options::{GraphOptions, Style};
use crate::scene::Rect;
use crate::theme::{Palette, Rgb};
use crate::ticks::{SiScale, YAxis, mirrored_axis, y_axis};

/// What everything drawing a chart shares.
pub(crate) struct Ctx<'a> {
    pub face: &'static Face,
    pub pal: Palette,
    pub opts: &'a GraphOptions,
    /// Base font size in pixels (tick labels, legend).
    pub fs: f64,
}

impl Ctx<'_> {
    pub fn color(&self, i: usize) -> Rgb {
        self.pal.series_color(&self.opts.colors, i)
    }
}

/// Maps time and value to pixels inside the plot.
pub(crate) struct Mapper {
    pub plot: Rect,
    from: f64,
    span: f64,
    /// Lowest value on the axis (the plot's bottom).
    pub lo: f64,
    /// Highest value on the axis (the plot's top).
    pub hi: f64,
}

impl Mapper {
    pub fn x(&self, t: f64) -> f64 {
        self.plot.x + (t - self.from) / self.span * self.plot.w
    }

    pub fn y(&self, v: f64) -> f64 {
        let y = self.plot.bottom() - (v - self.lo) / (self.hi - self.lo) * self.plot.h;
        y.clamp(self.plot.y - 2000.0, self.plot.bottom() + 2000.0)
    }
}

#[allow(
    clippy::cast_possible_truncation,
    clippy::cast_sign_loss,
    reason = "clamped to 1..=4096 first"
)]
pub(crate) fn cols(px: f64) -> usize {
    px.clamp(1.0, 4096.0) as usize
}

/// Where everything of a time chart goes.
pub(crate) struct Layout {
    /// The plot: the series are drawn (and clipped) inside it.
    pub plot: Rect,
    /// Whether the axes, grid and their labels are drawn (not on tiny charts).
    pub show_axes: bool,
    /// The legend below the plot, when there is room.
    pub legend: Option<Legend>,
    /// Baseline of the title, when there is one and room for it.
    pub title_y: Option<f64>,
    /// Padding at the image's edges (pixels).
    pub pad: f64,
    /// The value axis: range and ticks.
    pub axis: YAxis,
    /// The tick labels of the value axis, one per tick.
    pub labels: Vec<String>,
    /// Time and value to pixels in `plot`.
    pub map: Mapper,
}

/// Lays a time chart out for data ranging over `lo..=hi` (stack tops for stacked
/// modes; see `chart::extent`): vertical bands (title, legend, x labels) first, as they
/// do not depend on the y labels; then the value axis and its labels, whose width
/// places the plot. A chart too small for any chrome gets the whole image as its plot.
pub(crate) fn time_chart(ctx: &Ctx, p: &Prepared, lo: f64, hi: f64) -> Layout {
    let o = ctx.opts;
    let (w, h) = (f64::from(o.width), f64::from(o.height));
    let fs = ctx.fs;
    let pad = if w < 200.0 || h < 120.0 { 4.0 } else { 8.0 };
    let show_axes = w >= 100.0 && h >= 60.0;
    let title_h = if o.title.is_some() && h >= 80.0 {
        fs + 2.0 + 8.0
    } else {
        0.0
    };
    let legend = if o.legend && h >= 120.0 && w >= 120.0 {
        let entries: Vec<(String, Rgb)> = p
            .series
            .iter()
            .enumerate()
            .map(|(i, s)| (legend_label(o.style, &s.label), ctx.color(i)))
            .collect();
        let max_rows = cols((h * 0.28 / legend_row_h(fs)).floor()).min(8);
        legend_layout(ctx, &entries, p.hidden, w - 2.0 * pad, max_rows)
    } else {
        None
    };
    let legend_h = legend.as_ref().map_or(0.0, |l| l.height + 4.0);
    let xlab_h = if show_axes { fs + 8.0 } else { 0.0 };
    let top = pad + title_h + if show_axes { fs * 0.5 } else { 0.0 };
    let plot_h = h - pad - legend_h - xlab_h - top;

    // Value range, then the y labels, then the horizontal bands.
    let axis = value_axis(o, lo, hi, (plot_h / 36.0).floor().clamp(2.0, 10.0));
    let unit = if o.style == Style::Net { "B/s" } else { "" };
    let max_abs = axis.ticks.iter().fold(0.0f64, |m, v| m.max(v.abs()));
    let si = SiScale::new(max_abs, axis.step, unit);
    let labels: Vec<String> = axis
        .ticks
        .iter()
        .map(|v| {
            let s = si.format(if o.style == Style::Net { v.abs() } else { *v });
            match o.style {
                Style::Cpu => format!("{s}%"),
                // The mirrored axis says which side is which at its ends.
                Style::Net if axis.lo < 0.0 && *v == axis.hi => format!("in {s}"),
                Style::Net if axis.lo < 0.0 && *v == axis.lo => format!("out {s}"),
                _ => s,
            }
        })
        .collect();
    let ylab_w = if show_axes {
        labels
            .iter()
            .map(|l| ctx.face.width(l, fs))
            .fold(0.0, f64::max)
            + 8.0
    } else {
        0.0
    };
    let right = if show_axes { pad + 12.0 } else { pad };
    let mut plot = Rect {
        x: pad + ylab_w,
        y: top,
        w: w - pad - ylab_w - right,
        h: plot_h,
    };
    let mut chrome = (show_axes, legend, (title_h > 0.0).then_some(pad + fs + 2.0));
    if plot.w < 8.0 || plot.h < 8.0 {
        // Too small for chrome: the data fills the image.
        plot = Rect {
            x: 0.0,
            y: 0.0,
            w,
            h,
        };
        chrome = (false, None, None);
    }
    let (show_axes, legend, title_y) = chrome;
    let map = Mapper {
        plot,
        from: o.from as f64,
        span: (o.until - o.from) as f64,
        lo: axis.lo,
        hi: axis.hi,
    };
    Layout {
        plot,
        show_axes,
        legend,
        title_y,
        pad,
        axis,
        labels,
        map,
    }
}

/// A series' legend entry: its label, and on `net` charts the side it is drawn on,
/// `(in)` above the axis or `(out)` mirrored below it.
fn legend_label(style: Style, label: &str) -> String {
    match style {
        Style::Net if crate::data::outbound(label) => format!("{label} (out)"),
        Style::Net => format!("{label} (in)"),
        _ => label.to_owned(),
    }
}

/// The value axis for the range `lo..=hi` of the data, about `target` ticks.
fn value_axis(o: &GraphOptions, lo: f64, hi: f64, target: f64) -> YAxis {
    #[allow(
        clippy::cast_possible_truncation,
        clippy::cast_sign_loss,
        reason = "2..=10"
    )]
    let target = target as usize;
    match o.style {
        Style::Cpu => y_axis(
            0.0,
            100.0,
            5,
            Some(o.y_min.unwrap_or(0.0)),
            Some(o.y_max.unwrap_or(100.0)),
        ),
        Style::Net if lo < 0.0 && lo.is_finite() && o.y_min.is_none() && o.y_max.is_none() => {
            mirrored_axis(lo.abs().max(hi), target >= 4)
        }
        _ => y_axis(lo, hi, target, o.y_min, o.y_max),
    }
}

/// A laid-out legend: rows of `(x offset, label, swatch colour)`; an entry without a
/// colour is the "+N more" note.
#[derive(Debug, Clone)]
pub(crate) struct Legend {
    pub rows: Vec<Vec<(f64, String, Option<Rgb>)>>,
    pub height: f64,
}

/// Height of one legend row.
pub(crate) fn legend_row_h(fs: f64) -> f64 {
    fs + 6.0
}

/// Side of a legend colour square: 10 px at the usual 11 px text, growing with it.
pub(crate) fn swatch(fs: f64) -> f64 {
    (fs * 0.9).round()
}
const ENTRY_GAP: f64 = 16.0;

/// Flows the entries into at most `max_rows` rows of `width` pixels; what does not fit
/// (plus `hidden` series never drawn) is summarised as "+N more". `None` when there is
/// nothing to show.
pub(crate) fn legend_layout(
    ctx: &Ctx,
    entries: &[(String, Rgb)],
    hidden: usize,
    width: f64,
    max_rows: usize,
) -> Option<Legend> {
    if (entries.is_empty() && hidden == 0) || max_rows == 0 {
        return None;
    }
    let fs = ctx.fs;
    let max_label = (width * 0.45).max(40.0);
    let swatch_w = swatch(fs);
    let item_w = |label: &str, with_swatch: bool| {
        ctx.face.width(label, fs) + if with_swatch { swatch_w + 5.0 } else { 0.0 }
    };
    let mut rows: Vec<Vec<(f64, String, Option<Rgb>)>> = vec![Vec::new()];
    let mut x = 0.0;
    let mut shown = 0;
    for (label, color) in entries {
        let label = ctx.face.fit(label, fs, max_label);
        let w = item_w(&label, true);
        if x > 0.0 && x + w > width {
            if rows.len() == max_rows {
                break;
            }
            rows.push(Vec::new());
            x = 0.0;
        }
        if let Some(row) = rows.last_mut() {
            row.push((x, label, Some(*color)));
        }
        x += w + ENTRY_GAP;
        shown += 1;
    }
    let mut more = hidden + entries.len() - shown;
    if more > 0 {
        // Make room for the note on the last row, dropping entries if needed.
        loop {
            let note = format!("+{more} more");
            let nw = item_w(&note, false);
            let row = rows.last_mut()?;
            let end = row
                .last()
                .map_or(0.0, |(x, l, _)| x + item_w(l, true) + ENTRY_GAP);
            if end + nw <= width || row.is_empty() {
                row.push((end, note, None));
                break;
            }
            row.pop();
            more += 1;
        }
    }
    let height = legend_row_h(fs) * rows.len() as f64;
    Some(Legend { rows, height })
}
