//! Chart furniture around the data: grid and axis labels, markers, legend and title.
//!
//! Collisions are avoided, not tolerated: x labels that would overlap the previous one or
//! leave the image are skipped; marker labels stack into up to three rows and a label
//! that fits none is left out (its line is still drawn); legend entries beyond the rows
//! allowed (about a quarter of the height) fold into "+N more".

use crate::layout::{Ctx, Legend, Mapper, legend_row_h, swatch};
use crate::model::{MAX_MARKERS, Marker};
use crate::scene::{Anchor, Item, Rect, Scene};
use crate::ticks::time_ticks;

/// Centre of the pixel row or column holding `v`, so 1 px lines are crisp.
pub(crate) fn crisp(v: f64) -> f64 {
    v.floor() + 0.5
}

/// Horizontal grid lines with their value labels left of the plot.
pub(crate) fn y_grid(ctx: &Ctx, scene: &mut Scene, m: &Mapper, ticks: &[f64], labels: &[String]) {
    let plot = m.plot;
    let cap = ctx.face.cap_height(ctx.fs);
    for (v, label) in ticks.iter().zip(labels) {
        let y = m.y(*v);
        if y < plot.y - 0.5 || y > plot.bottom() + 0.5 {
            continue;
        }
        let yc = crisp(y);
        if (yc - crisp(plot.bottom())).abs() > 0.1 {
            scene.push(Item::Line {
                x1: plot.x,
                y1: yc,
                x2: plot.right(),
                y2: yc,
                color: ctx.pal.grid.opaque(),
                width: 1.0,
                dash: false,
            });
        }
        let ty = (y + cap / 2.0).max(cap + 1.0);
        scene.text(
            plot.x - 6.0,
            ty,
            label.clone(),
            ctx.fs,
            ctx.pal.text.opaque(),
            Anchor::End,
        );
    }
}

/// Vertical grid lines at the time ticks with their labels under the plot, and at the
/// right end of that row the caption: the zone the labels are in (`UTC`, `UTC+08:00`,
/// `Europe/Paris`), preceded by the date (`Nov 14 2023`, or `Nov 14 - Nov 15 2023` across
/// midnight) when no drawn tick label names a day. Day labels (midnight ticks, `Nov 15`)
/// are placed before time labels, so where they would collide the date wins.
pub(crate) fn x_grid(ctx: &Ctx, scene: &mut Scene, m: &Mapper, from: i64, until: i64) {
    let plot = m.plot;
    let face = ctx.face;
    let fs = ctx.fs;
    let tz = &ctx.opts.tz;
    let width = f64::from(scene.width);
    let right_edge = width - 4.0;
    let zone = tz.label_at(until);
    let fit = |label_w: f64, caption_w: f64| {
        #[allow(
            clippy::cast_possible_truncation,
            clippy::cast_sign_loss,
            reason = "clamped to 1..=40"
        )]
        let n = ((plot.w - caption_w) / (label_w + 18.0))
            .floor()
            .clamp(1.0, 40.0) as usize;
        n
    };
    let zone_w = face.width(&zone, fs) + 12.0;
    let mut ticks = time_ticks(from, until, tz, fit(face.width("00:00", fs), zone_w));
    if ticks.iter().any(|(_, l)| l.len() == 8) {
        ticks = time_ticks(from, until, tz, fit(face.width("00:00:00", fs), zone_w));
    }
    let span = |label: &str, x: f64| {
        let lw = face.width(label, fs);
        (x - lw / 2.0, x + lw / 2.0)
    };
    let is_day = |l: &str| !l.contains(':');
    let intraday = ticks.iter().any(|(_, l)| !is_day(l));
    let day_fits = |caption_left: f64| {
        ticks.iter().any(|(t, l)| {
            let (a, b) = span(l, m.x(*t as f64));
            is_day(l) && a >= 1.0 && b <= caption_left - 8.0
        })
    };
    let mut caption = zone.clone();
    if intraday && !day_fits(right_edge - zone_w) {
        let (a, b) = (tz.civil(from), tz.civil(until));
        let date = if (a.year, a.month, a.day) == (b.year, b.month, b.day) {
            format!("{} {} {}", a.month_name(), a.day, a.year)
        } else {
            format!(
                "{} {} - {} {} {}",
                a.month_name(),
                a.day,
                b.month_name(),
                b.day,
                b.year
            )
        };
        caption = format!("{date}, {zone}");
    }
    let caption_w = face.width(&caption, fs);
    let caption_left = right_edge - caption_w;
    let baseline = plot.bottom() + 5.0 + face.cap_height(fs);
    for (t, _) in &ticks {
        let xc = crisp(m.x(*t as f64));
        if xc > plot.x + 0.5 && xc < plot.right() - 0.5 {
            scene.push(Item::Line {
                x1: xc,
                y1: plot.y,
                x2: xc,
                y2: plot.bottom(),
                color: ctx.pal.grid.opaque(),
                width: 1.0,
                dash: false,
            });
        }
    }
    // Labels: days first, then times, each skipped where it would overlap a placed one
    // (8 px apart), leave the image, or reach the caption.
    let mut placed: Vec<(f64, f64)> = Vec::new();
    for days in [true, false] {
        for (t, label) in ticks.iter().filter(|(_, l)| is_day(l) == days) {
            let x = m.x(*t as f64);
            let (l, r) = span(label, x);
            let clear = placed.iter().all(|&(a, b)| r + 8.0 <= a || l >= b + 8.0);
            if l < 1.0 || r > caption_left - 8.0 || !clear {
                continue;
            }
            placed.push((l, r));
            scene.text(
                x,
                baseline,
                label.clone(),
                fs,
                ctx.pal.text.opaque(),
                Anchor::Middle,
            );
        }
    }
    if caption_left >= 1.0 {
        scene.text(
            right_edge,
            baseline,
            caption,
            fs,
            ctx.pal.text.opaque(),
            Anchor::End,
        );
    }
}

/// Markers inside the range: a dashed line at `ts`, or a shaded band to `end`, each with
/// its label at the top of the plot.
pub(crate) fn markers(ctx: &Ctx, scene: &mut Scene, m: &Mapper, markers: &[Marker]) {
    let o = ctx.opts;
    let plot = m.plot;
    let fs = ctx.fs * 0.95;
    let color = ctx.pal.marker;
    let mut visible: Vec<&Marker> = markers
        .iter()
        .filter(|mk| {
            let end = mk.end.unwrap_or(mk.ts).max(mk.ts);
            end >= o.from && mk.ts <= o.until
        })
        .collect();
    visible.sort_by_key(|mk| mk.ts);
    visible.truncate(MAX_MARKERS);
    let row_h = fs + 4.0;
    let rows = if plot.h > 5.0 * row_h { 3 } else { 1 };
    let mut row_right = vec![f64::NEG_INFINITY; rows];
    for mk in visible {
        let x0 = m.x(mk.ts as f64).max(plot.x);
        if let Some(end) = mk.end.filter(|&e| e > mk.ts) {
            let x1 = m.x(end as f64).min(plot.right());
            let r = Rect {
                x: x0,
                y: plot.y,
                w: (x1 - x0).max(1.0),
                h: plot.h,
            };
            scene.clipped(Item::Rect {
                r,
                fill: color.alpha(0x22),
            });
        }
        let xc = crisp(x0);
        scene.clipped(Item::Line {
            x1: xc,
            y1: plot.y,
            x2: xc,
            y2: plot.bottom(),
            color: color.alpha(0xcc),
            width: 1.0,
            dash: true,
        });
        let label = ctx.face.fit(&mk.label, fs, (plot.w * 0.4).max(20.0));
        if label.is_empty() {
            continue;
        }
        let lw = ctx.face.width(&label, fs);
        let (left, anchor) = if xc + 3.0 + lw <= plot.right() {
            (xc + 3.0, Anchor::Start)
        } else {
            (xc - 3.0 - lw, Anchor::End)
        };
        let Some(row) = row_right.iter().position(|&r| left > r + 4.0) else {
            continue;
        };
        row_right[row] = left + lw;
        let base = plot.y + 2.0 + row_h * (row as f64 + 1.0) - 4.0;
        let bg = Rect {
            x: left - 2.0,
            y: base - fs + 1.0,
            w: lw + 4.0,
            h: fs + 3.0,
        };
        scene.clipped(Item::Rect {
            r: bg,
            fill: ctx.pal.background.alpha(0xd8),
        });
        let tx = if anchor == Anchor::Start {
            xc + 3.0
        } else {
            xc - 3.0
        };
        scene.clipped(Item::Text {
            x: tx,
            y: base,
            text: label,
            size: fs,
            color: color.opaque(),
            anchor,
            bold: false,
        });
    }
}

/// Draws a laid-out legend with its top-left corner at `(x, y)`.
pub(crate) fn draw_legend(ctx: &Ctx, scene: &mut Scene, legend: &Legend, x: f64, y: f64) {
    let fs = ctx.fs;
    let row_h = legend_row_h(fs);
    let cap = ctx.face.cap_height(fs);
    let sw = swatch(fs);
    for (i, row) in legend.rows.iter().enumerate() {
        let mid = y + row_h * (i as f64) + row_h / 2.0;
        for (dx, label, color) in row {
            let mut tx = x + dx;
            if let Some(c) = color {
                let r = Rect {
                    x: tx,
                    y: (mid - sw / 2.0).round(),
                    w: sw,
                    h: sw,
                };
                scene.push(Item::Rect {
                    r,
                    fill: c.opaque(),
                });
                tx += sw + 5.0;
            }
            scene.text(
                tx,
                mid + cap / 2.0,
                label.clone(),
                fs,
                ctx.pal.text.opaque(),
                Anchor::Start,
            );
        }
    }
}

/// The title, centred, cut to the width.
pub(crate) fn title(ctx: &Ctx, scene: &mut Scene, text: &str, baseline: f64) {
    let size = ctx.fs + 2.0;
    let w = f64::from(scene.width);
    let t = ctx.face.fit(text, size, w - 16.0);
    if !t.is_empty() {
        scene.push(Item::Text {
            x: w / 2.0,
            y: baseline,
            text: t,
            size,
            color: ctx.pal.title.opaque(),
            anchor: Anchor::Middle,
            bold: true,
        });
    }
}
