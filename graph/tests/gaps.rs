//! Gaps are gaps (issue 18): time without data inside a series is drawn empty in every
//! style and type, never bridged by a line, band or ramp; `gaps=zero` draws it as zero.
//! Each chart is also compared with its reference image `tests/ref/gaps-*.png`.
//!
//! The data: three series every 5 minutes over 6 hours, none of them with a point in
//! hours 2 to 4 (the middle third of the plot), and shorter holes in single series (with
//! a lone point inside one of them). Steps are not given: the renderer infers them, as
//! for any caller that does not pass `Series::step`.

use crate::common;

use common::{NOW, check_png, options};
use treestat_graph::{Format, Series, render};

const W: u32 = 400;
const H: u32 = 200;
const STEP: i64 = 300;
/// Saturated enough to tell the series (even a 25 % area fill) from the grey chrome.
const COLORS: &str = "#1f77b4,#ff7f0e,#d62728";

fn wave(k: i64, base: f64, amp: f64) -> f64 {
    let k = k as f64;
    base + amp * (k / 7.0).sin() + amp * 0.3 * (k / 2.1).cos()
}

/// The series of `style`, with the holes described above, over `from..=until`.
fn gappy(style: &str, from: i64, until: i64) -> Vec<Series> {
    let (labels, scale): ([&str; 3], f64) = match style {
        "cpu" => (["cpu,user", "cpu,system", "cpu,iowait"], 0.02),
        "net" => (["eth0,rx", "eth1,rx", "eth0,tx"], 2_000.0),
        _ => (["web,req", "api,req", "db,req"], 1.0),
    };
    let hole = |i: usize, t: i64| -> bool {
        let h = t - from;
        (2 * 3600..4 * 3600).contains(&h)
            || (i == 0 && (5 * 3600..5 * 3600 + 1200).contains(&h))
            || (i == 1 && (1800..5400).contains(&h) && h != 3600)
    };
    labels
        .iter()
        .enumerate()
        .map(|(i, label)| {
            let base = [1200.0, 700.0, 300.0][i] * scale;
            let points = (0..)
                .map(|k| (from + k * STEP, k))
                .take_while(|&(t, _)| t <= until)
                .filter(|&(t, _)| !hole(i, t))
                .map(|(t, k)| (t, wave(k + i as i64 * 5, base, base / 3.0)))
                .collect();
            Series::new(*label, points)
        })
        .collect()
}

/// Pixels in column `x` of the plot area (rows 12..=156; the x labels and the legend
/// are below) that have a series colour.
fn coloured_in_column(img: &image::RgbImage, x: u32) -> usize {
    (12..=156)
        .filter(|&y| {
            let p = img.get_pixel(x, y).0;
            let (lo, hi) = (p.iter().min().unwrap_or(&0), p.iter().max().unwrap_or(&0));
            hi - lo > 30
        })
        .count()
}

fn draw(style: &str, ty: &str, gaps: &str) -> (Vec<u8>, image::RgbImage) {
    let opts = options(&[
        ("from", "-6h"),
        ("width", "400"),
        ("height", "200"),
        ("style", style),
        ("type", ty),
        ("colors", COLORS),
        ("tz", "UTC"),
        ("gaps", gaps),
    ]);
    assert_eq!(opts.until, NOW);
    let series = gappy(style, opts.from, opts.until);
    let png = render(&series, &[], &opts, Format::Png).expect("renders");
    let img = image::load_from_memory_with_format(&png, image::ImageFormat::Png)
        .expect("decodes")
        .to_rgb8();
    (png, img)
}

/// Columns well inside the two hours without data (the plot spans about x = 45..388).
const GAP_COLUMNS: std::ops::RangeInclusive<u32> = 195..=235;

#[test]
fn missing_buckets_are_gaps_in_every_style_and_type() {
    for style in ["default", "cpu", "net"] {
        for ty in ["line", "area", "stacked", "bar"] {
            let name = format!("gaps-{style}-{ty}");
            let (png, img) = draw(style, ty, "gap");
            for x in GAP_COLUMNS {
                let n = coloured_in_column(&img, x);
                assert_eq!(
                    n, 0,
                    "{name}: {n} series pixels at x={x}, inside two hours without data"
                );
            }
            // Data on both sides of the gap is drawn.
            let drawn =
                |xs: std::ops::Range<u32>| xs.map(|x| coloured_in_column(&img, x)).sum::<usize>();
            assert!(drawn(100..140) > 0, "{name}: nothing before the gap");
            assert!(drawn(290..330) > 0, "{name}: nothing after the gap");
            check_png(&name, &png, (W, H));
        }
    }
}

#[test]
fn gaps_zero_draws_missing_buckets_as_zero() {
    for ty in ["line", "stacked"] {
        let name = format!("gaps-zero-default-{ty}");
        let (png, img) = draw("default", ty, "zero");
        for x in GAP_COLUMNS {
            let n = coloured_in_column(&img, x);
            assert!(n > 0, "{name}: nothing at x={x}, where zeros are drawn");
        }
        check_png(&name, &png, (W, H));
    }
}
