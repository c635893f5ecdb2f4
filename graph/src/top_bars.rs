//! The `url` style: horizontal bars of the series with the largest totals (a "top URLs"
//! chart). Each series is folded by its action (see `data::total`), sorted descending;
//! as many bars as fit the height are drawn (at most [`crate::MAX_SERIES`]), with the
//! label left of the bar and the figure at its end. The time axis and `type` do not
//! apply; the legend is replaced by the labels, and a "+N more" line says what was left
//! out.

use crate::data::{Prepared, total};
use crate::layout::Ctx;
use crate::scene::{Anchor, Item, Rect, Scene};
use crate::ticks::column_scale;

pub(crate) fn draw(ctx: &Ctx, p: &Prepared, scene: &mut Scene) {
    let o = ctx.opts;
    let (w, h) = (f64::from(o.width), f64::from(o.height));
    let fs = ctx.fs;
    let face = ctx.face;
    let pad = if w < 200.0 || h < 120.0 { 4.0 } else { 8.0 };
    let mut top = pad;
    if let Some(t) = o.title.as_ref().filter(|_| h >= 80.0) {
        crate::decor::title(ctx, scene, t, pad + fs + 2.0);
        top += fs + 2.0 + 8.0;
    }
    let mut rows: Vec<(usize, f64)> = p
        .series
        .iter()
        .enumerate()
        .filter(|(_, s)| !s.is_empty())
        .map(|(i, s)| (i, total(s)))
        .filter(|(_, v)| v.is_finite())
        .collect();
    if rows.is_empty() {
        let size = (fs * 1.3).min(h / 2.0);
        let y = (top + h) / 2.0 + face.cap_height(size) / 2.0;
        scene.text(
            w / 2.0,
            y,
            "no data",
            size,
            ctx.pal.text.opaque(),
            Anchor::Middle,
        );
        return;
    }
    rows.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
    let row_h = (fs + 8.0).max(12.0);
    let note_h = fs + 6.0;
    let avail = (h - top - pad - note_h).max(row_h);
    #[allow(
        clippy::cast_possible_truncation,
        clippy::cast_sign_loss,
        reason = "clamped to 1..=20"
    )]
    let fit = (avail / row_h).floor().clamp(1.0, 20.0) as usize;
    let shown = rows.len().min(fit);
    let more = p.hidden + p.series.len() - shown;
    let label_w = (w * 0.35).min(260.0);
    let labels: Vec<String> = rows[..shown]
        .iter()
        .map(|(i, _)| face.fit(&p.series[*i].label, fs, label_w))
        .collect();
    let col = labels.iter().map(|l| face.width(l, fs)).fold(0.0, f64::max) + 8.0;
    let shown_values: Vec<f64> = rows[..shown].iter().map(|r| r.1).collect();
    let scale = column_scale(&shown_values, "");
    let figures: Vec<String> = shown_values.iter().map(|v| scale.format(*v)).collect();
    let fig_w = figures
        .iter()
        .map(|l| face.width(l, fs))
        .fold(0.0, f64::max)
        + 8.0;
    let bar_x = pad + col;
    let bar_max = (w - pad - fig_w - bar_x).max(1.0);
    let max_v = rows[..shown].iter().map(|r| r.1.abs()).fold(0.0, f64::max);
    let cap = face.cap_height(fs);
    let text = ctx.pal.text.opaque();
    for (k, ((i, v), (label, fig))) in rows.iter().zip(labels.iter().zip(&figures)).enumerate() {
        let y = top + row_h * k as f64;
        let mid = y + row_h / 2.0;
        let len = if max_v > 0.0 {
            v.abs() / max_v * bar_max
        } else {
            0.0
        };
        let r = Rect {
            x: bar_x,
            y: y + 2.0,
            w: len.max(1.0),
            h: row_h - 4.0,
        };
        scene.push(Item::Rect {
            r,
            fill: ctx.color(*i).opaque(),
        });
        scene.text(
            bar_x - 6.0,
            mid + cap / 2.0,
            label.clone(),
            fs,
            text,
            Anchor::End,
        );
        scene.text(
            bar_x + len + 5.0,
            mid + cap / 2.0,
            fig.clone(),
            fs,
            text,
            Anchor::Start,
        );
    }
    if more > 0 {
        let y = top + row_h * shown as f64 + note_h - 2.0;
        if y < h - 2.0 {
            scene.text(bar_x, y, format!("+{more} more"), fs, text, Anchor::Start);
        }
    }
}
