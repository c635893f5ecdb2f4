//! Drawing of time charts (every style but `url`): the value range of the data, then,
//! in the places `layout.rs` gives, the series as lines, areas, stacked bands or bars
//! with the grid, markers, legend and title of `decor.rs`.
//!
//! How style and type combine: `cpu` always stacks (line -> cumulative lines,
//! area/stacked -> bands, bar -> stacked bars) on a fixed 0-100 axis; `net` negates the
//! outbound series (see [`data::outbound`]) so they mirror the inbound ones below zero, on a
//! symmetric axis labelled in bytes/s; `default` draws `type` as asked. Line charts scale
//! the axis to the data; areas, stacks and bars always include zero.

use crate::data::{self, Clean, Frame, MAX_SERIES, Prepared, outbound};
use crate::font::face;
use crate::layout::{self, Ctx, Mapper, cols};
use crate::options::{ChartType, GraphOptions, Style};
use crate::scene::{Anchor, Item, Rect, Scene};
use crate::theme::{Palette, Rgb};
use crate::{GraphError, Marker, Series, decor, top_bars};

/// Lays the chart out into a scene.
pub(crate) fn build(
    series: &[Series],
    markers: &[Marker],
    opts: &GraphOptions,
) -> Result<Scene, GraphError> {
    let face = face()?;
    let pal = Palette::of(opts.theme);
    // 11 px up to about 800x400, growing with large charts (at most 18 px), 9 px on small.
    let fs = if opts.width < 300 || opts.height < 150 {
        9.0
    } else {
        (f64::from(opts.width.min(opts.height * 2)) / 72.0)
            .floor()
            .clamp(11.0, 18.0)
    };
    let ctx = Ctx {
        face,
        pal,
        opts,
        fs,
    };
    let prepared = data::prepare(series, opts.from, opts.until, MAX_SERIES, opts.gaps);
    let mut scene = Scene::new(opts.width, opts.height, pal.background.opaque());
    if opts.style == Style::Url {
        top_bars::draw(&ctx, &prepared, &mut scene);
    } else {
        time_chart(&ctx, &prepared, markers, &mut scene);
    }
    Ok(scene)
}

/// How the series are drawn, from style and type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    Lines,
    Areas,
    Stacked { fill: bool },
    Bars { stacked: bool },
}

fn mode(o: &GraphOptions) -> Mode {
    match (o.style, o.chart_type) {
        (Style::Cpu, ChartType::Line) => Mode::Stacked { fill: false },
        (Style::Cpu, ChartType::Bar) => Mode::Bars { stacked: true },
        (_, ChartType::Bar) => Mode::Bars { stacked: false },
        (Style::Cpu, _) | (_, ChartType::Stacked) => Mode::Stacked { fill: true },
        (_, ChartType::Area) => Mode::Areas,
        (_, ChartType::Line) => Mode::Lines,
    }
}

fn time_chart(ctx: &Ctx, p: &Prepared, markers: &[Marker], scene: &mut Scene) {
    let o = ctx.opts;
    let (w, h) = (f64::from(o.width), f64::from(o.height));
    let fs = ctx.fs;
    let mode = mode(o);
    let sign: Vec<f64> = p
        .series
        .iter()
        .map(|s| {
            if o.style == Style::Net && outbound(&s.label) {
                -1.0
            } else {
                1.0
            }
        })
        .collect();

    let frame = frame_for(mode, p, o, w, &sign);
    let (lo, hi) = extent(mode, p, &frame, &sign);
    let f = layout::time_chart(ctx, p, lo, hi);
    let (m, axis, pad) = (&f.map, &f.axis, f.pad);
    scene.clip = f.plot;

    if f.show_axes {
        decor::y_grid(ctx, scene, m, &axis.ticks, &f.labels);
        decor::x_grid(ctx, scene, m, o.from, o.until);
    }
    if axis.lo < 0.0 && axis.hi > 0.0 {
        let y = decor::crisp(m.y(0.0));
        scene.push(Item::Line {
            x1: f.plot.x,
            y1: y,
            x2: f.plot.right(),
            y2: y,
            color: ctx.pal.axis.opaque(),
            width: 1.0,
            dash: false,
        });
    }
    match mode {
        Mode::Lines => draw_lines(ctx, scene, m, &p.series, &sign, false),
        Mode::Areas => draw_lines(ctx, scene, m, &p.series, &sign, true),
        Mode::Stacked { fill } => draw_stacked(ctx, scene, m, &frame, fill),
        Mode::Bars { stacked } => draw_bars(ctx, scene, m, &frame, stacked),
    }
    decor::markers(ctx, scene, m, markers);
    if f.show_axes {
        let y = decor::crisp(f.plot.bottom());
        scene.push(Item::Line {
            x1: f.plot.x,
            y1: y,
            x2: f.plot.right(),
            y2: y,
            color: ctx.pal.axis.opaque(),
            width: 1.0,
            dash: false,
        });
    }
    if !p.has_data() {
        let c = ctx.pal.text.opaque();
        let size = (fs * 1.3).min(f.plot.h);
        let y = f.plot.y + f.plot.h / 2.0 + ctx.face.cap_height(size) / 2.0;
        scene.text(
            f.plot.x + f.plot.w / 2.0,
            y,
            "no data",
            size,
            c,
            Anchor::Middle,
        );
    }
    if let Some(l) = &f.legend {
        decor::draw_legend(ctx, scene, l, pad, h - pad - l.height);
    }
    if let (Some(y), Some(t)) = (f.title_y, &o.title) {
        decor::title(ctx, scene, t, y);
    }
}

/// The aligned frame for stacked and bar modes (empty for lines and areas).
fn frame_for(mode: Mode, p: &Prepared, o: &GraphOptions, w: f64, sign: &[f64]) -> Frame {
    let n = p.series.len().max(1) as f64;
    let max_cols = match mode {
        Mode::Lines | Mode::Areas => return Frame::default(),
        Mode::Stacked { .. } => cols(w),
        Mode::Bars { stacked: true } => cols(w / 4.0),
        Mode::Bars { stacked: false } => cols(w / (n * 4.0 + 6.0)),
    };
    data::frame(&p.series, o.from, o.until, max_cols, sign)
}

/// Lowest and highest value drawn (stack tops for stacked modes).
fn extent(mode: Mode, p: &Prepared, frame: &Frame, sign: &[f64]) -> (f64, f64) {
    let mut lo = f64::INFINITY;
    let mut hi = f64::NEG_INFINITY;
    match mode {
        Mode::Lines | Mode::Areas => {
            for (s, sg) in p.series.iter().zip(sign) {
                for &(_, v) in s.points() {
                    lo = lo.min(v * sg);
                    hi = hi.max(v * sg);
                }
            }
        }
        Mode::Stacked { .. } | Mode::Bars { stacked: true } => {
            for k in 0..frame.times.len() {
                let (mut pos, mut neg) = (0.0f64, 0.0f64);
                for v in &frame.values {
                    if v[k] >= 0.0 {
                        pos += v[k];
                    } else if v[k] < 0.0 {
                        neg += v[k];
                    }
                }
                lo = lo.min(neg);
                hi = hi.max(pos);
            }
        }
        Mode::Bars { stacked: false } => {
            for v in frame.values.iter().flatten().filter(|v| v.is_finite()) {
                lo = lo.min(*v);
                hi = hi.max(*v);
            }
        }
    }
    if mode != Mode::Lines && lo.is_finite() {
        lo = lo.min(0.0);
        hi = hi.max(0.0);
    }
    (lo, hi)
}

fn draw_lines(
    ctx: &Ctx,
    scene: &mut Scene,
    m: &Mapper,
    series: &[Clean],
    sign: &[f64],
    fill: bool,
) {
    let lw = ctx.opts.line_width;
    let base = m.y(0.0f64.clamp(m.lo, m.hi));
    let mut strokes = Vec::new();
    for (i, (s, sg)) in series.iter().zip(sign).enumerate() {
        let color = ctx.color(i);
        let mut runs = Vec::new();
        for run in &s.runs {
            let px: Vec<(f64, f64)> = run.iter().map(|&(t, v)| (m.x(t as f64), v * sg)).collect();
            let pts: Vec<(f64, f64)> = data::thin(&px)
                .into_iter()
                .map(|(x, v)| (x, m.y(v)))
                .collect();
            if pts.len() == 1 {
                let r = (lw + 1.5).max(2.5);
                scene.clipped(Item::Dot {
                    x: pts[0].0,
                    y: pts[0].1,
                    r,
                    fill: color.opaque(),
                });
                continue;
            }
            if fill {
                let mut poly = pts.clone();
                poly.push((pts[pts.len() - 1].0, base));
                poly.push((pts[0].0, base));
                scene.clipped(Item::Polygon {
                    pts: poly,
                    fill: color.alpha(0x40),
                });
            }
            runs.push(pts);
        }
        if !runs.is_empty() {
            strokes.push(Item::Polyline {
                runs,
                color: color.opaque(),
                width: lw,
            });
        }
    }
    for s in strokes {
        scene.clipped(s);
    }
}

/// Running stack: for each series, its bottom and top at every frame column (NaN where
/// the series has no point: it adds nothing to the stack there).
fn stack(frame: &Frame) -> Vec<(Vec<f64>, Vec<f64>)> {
    let n = frame.times.len();
    let (mut pos, mut neg) = (vec![0.0; n], vec![0.0; n]);
    frame
        .values
        .iter()
        .map(|vals| {
            let mut bot = vec![0.0; n];
            let mut top = vec![0.0; n];
            for k in 0..n {
                let v = vals[k];
                if v.is_nan() {
                    bot[k] = f64::NAN;
                    top[k] = f64::NAN;
                    continue;
                }
                let base = if v >= 0.0 { &mut pos[k] } else { &mut neg[k] };
                bot[k] = *base;
                *base += v;
                top[k] = *base;
            }
            (bot, top)
        })
        .collect()
}

/// Stacked bands (or cumulative lines): one polygon per stretch of columns a series
/// covers without a missing bucket (`Frame::joined`); a stretch of one column is a dot.
fn draw_stacked(ctx: &Ctx, scene: &mut Scene, m: &Mapper, frame: &Frame, fill: bool) {
    let lw = ctx.opts.line_width;
    let xs: Vec<f64> = frame.times.iter().map(|&t| m.x(t)).collect();
    let mut strokes = Vec::new();
    for (i, (bot, top)) in stack(frame).into_iter().enumerate() {
        let color = ctx.color(i);
        let joined = &frame.joined[i];
        let mut runs = Vec::new();
        let mut k = 0;
        while k < xs.len() {
            if top[k].is_nan() {
                k += 1;
                continue;
            }
            let start = k;
            while k + 1 < xs.len() && joined[k] && !top[k + 1].is_nan() {
                k += 1;
            }
            let end = k;
            k += 1;
            if start == end {
                let r = (lw + 1.5).max(2.5);
                scene.clipped(Item::Dot {
                    x: xs[start],
                    y: m.y(top[start]),
                    r,
                    fill: color.opaque(),
                });
                continue;
            }
            let upper: Vec<(f64, f64)> = (start..=end).map(|j| (xs[j], m.y(top[j]))).collect();
            if fill {
                let mut poly = upper.clone();
                poly.extend((start..=end).rev().map(|j| (xs[j], m.y(bot[j]))));
                scene.clipped(Item::Polygon {
                    pts: poly,
                    fill: color.alpha(0xa0),
                });
            }
            runs.push(upper);
        }
        if !runs.is_empty() {
            strokes.push(Item::Polyline {
                runs,
                color: color.opaque(),
                width: lw,
            });
        }
    }
    for s in strokes {
        scene.clipped(s);
    }
}

fn draw_bars(ctx: &Ctx, scene: &mut Scene, m: &Mapper, frame: &Frame, stacked: bool) {
    let xs: Vec<f64> = frame.times.iter().map(|&t| m.x(t)).collect();
    let gap = xs
        .windows(2)
        .map(|w| w[1] - w[0])
        .fold(f64::INFINITY, f64::min);
    let bw = if gap.is_finite() {
        gap
    } else {
        (m.plot.w / 10.0).min(40.0)
    };
    let group = (bw * 0.8).max(1.0);
    let n = frame.values.len().max(1) as f64;
    let bar = |scene: &mut Scene, x: f64, w: f64, v0: f64, v1: f64, c: Rgb| {
        if v0.is_nan() || v1.is_nan() {
            return; // no point in this column: no bar
        }
        let (ya, yb) = (m.y(v0), m.y(v1));
        let r = Rect {
            x,
            y: ya.min(yb),
            w: w.max(1.0),
            h: (ya - yb).abs(),
        };
        if r.h > 0.0 {
            scene.clipped(Item::Rect {
                r,
                fill: c.opaque(),
            });
        }
    };
    if stacked {
        for (i, (bot, top)) in stack(frame).into_iter().enumerate() {
            for (k, &x) in xs.iter().enumerate() {
                bar(scene, x - group / 2.0, group, bot[k], top[k], ctx.color(i));
            }
        }
    } else {
        let w = group / n;
        let base = 0.0f64.clamp(m.lo, m.hi);
        for (i, vals) in frame.values.iter().enumerate() {
            for (k, &x) in xs.iter().enumerate() {
                let left = x - group / 2.0 + w * i as f64;
                bar(
                    scene,
                    left,
                    if w > 2.0 { w - 0.5 } else { w },
                    base,
                    vals[k],
                    ctx.color(i),
                );
            }
        }
    }
}
