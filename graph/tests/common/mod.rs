//! Fixed inputs shared by the integration tests and benches: deterministic series for each
//! style, a fixed `now`, a fixed time zone.

#![allow(dead_code, reason = "each test binary uses a different part")]

use std::path::PathBuf;

use treestat_graph::{GraphOptions, Marker, Series, Style};

/// A pixel differs when one of its channels is more than this far from the reference.
const CHANNEL_TOLERANCE: u8 = 16;
/// At most this many pixels (0.2 % of 400x200) may differ (anti-aliasing rounding).
const MAX_DIFFERING: usize = 160;

/// 2023-11-14 22:13:20 UTC.
pub const NOW: i64 = 1_700_000_000;

pub fn params(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
    pairs
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect()
}

pub fn options(pairs: &[(&str, &str)]) -> GraphOptions {
    GraphOptions::from_query(&params(pairs), NOW).expect("test options parse")
}

/// A smooth deterministic wave.
fn wave(from: i64, until: i64, step: i64, base: f64, amp: f64, phase: f64) -> Vec<(i64, f64)> {
    let mut out = Vec::new();
    let mut t = from;
    let mut k = 0.0f64;
    while t <= until {
        out.push((
            t,
            base + amp * (k / 9.0 + phase).sin() + amp * 0.3 * (k / 2.3 + phase).cos(),
        ));
        t += step;
        k += 1.0;
    }
    out
}

/// The series each style is about, over `from..=until`.
pub fn series_for(style: Style, from: i64, until: i64) -> Vec<Series> {
    let step = (until - from) / 72;
    match style {
        Style::Default => vec![
            Series::new("web,req", wave(from, until, step, 1200.0, 400.0, 0.0)),
            Series::new("api,req", wave(from, until, step, 700.0, 250.0, 1.5)),
            Series::new("db,req", wave(from, until, step, 300.0, 120.0, 3.0)),
        ],
        Style::Cpu => vec![
            Series::new("cpu,user", wave(from, until, step, 35.0, 10.0, 0.0)),
            Series::new("cpu,system", wave(from, until, step, 15.0, 5.0, 1.0)),
            Series::new("cpu,iowait", wave(from, until, step, 8.0, 4.0, 2.0)),
        ],
        Style::Net => vec![
            Series::new("eth0,rx", wave(from, until, step, 4.0e6, 1.5e6, 0.0)),
            Series::new("eth0,tx", wave(from, until, step, 2.5e6, 1.0e6, 2.0)),
        ],
        Style::Url => (0..8)
            .map(|i| {
                let name = [
                    "/",
                    "/login",
                    "/api/items",
                    "/search",
                    "/cart",
                    "/static/app.js",
                    "/about",
                    "/help",
                ][i];
                let scale = 100.0 / (1.0 + f64::from(u8::try_from(i).unwrap_or(0)));
                Series::new(
                    format!("url,{name}"),
                    wave(from, until, step, scale, scale / 3.0, 0.5),
                )
            })
            .collect(),
    }
}

pub fn markers(from: i64, until: i64) -> Vec<Marker> {
    let span = until - from;
    vec![
        Marker {
            ts: from + span / 3,
            end: None,
            label: "deploy".into(),
        },
        Marker {
            ts: from + span * 2 / 3,
            end: Some(from + span * 3 / 4),
            label: "maintenance".into(),
        },
    ]
}

pub fn ref_path(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/ref")
        .join(format!("{name}.png"))
}

/// Checks that `png` decodes at `size` and matches `tests/ref/<name>.png` (at most
/// [`MAX_DIFFERING`] pixels with a channel more than [`CHANNEL_TOLERANCE`] off); with
/// `TREESTAT_BLESS` set, writes the reference instead.
pub fn check_png(name: &str, png: &[u8], size: (u32, u32)) {
    let img = image::load_from_memory_with_format(png, image::ImageFormat::Png)
        .unwrap_or_else(|e| panic!("{name}: PNG does not decode: {e}"))
        .to_rgb8();
    assert_eq!(img.dimensions(), size, "{name}: size");
    let path = ref_path(name);
    if std::env::var_os("TREESTAT_BLESS").is_some() {
        std::fs::create_dir_all(path.parent().expect("ref dir")).expect("create tests/ref");
        std::fs::write(&path, png).expect("write reference");
        return;
    }
    let reference = image::open(&path)
        .unwrap_or_else(|e| {
            panic!(
                "{name}: reference {} unreadable ({e}); regenerate with \
                 TREESTAT_BLESS=1 cargo test -p treestat-graph",
                path.display()
            )
        })
        .to_rgb8();
    assert_eq!(
        reference.dimensions(),
        img.dimensions(),
        "{name}: reference size"
    );
    let mut differing = 0usize;
    let mut first = None;
    for (x, y, p) in img.enumerate_pixels() {
        let r = reference.get_pixel(x, y);
        if p.0
            .iter()
            .zip(r.0)
            .any(|(a, b)| a.abs_diff(b) > CHANNEL_TOLERANCE)
        {
            differing += 1;
            first.get_or_insert((x, y));
        }
    }
    let allowed = MAX_DIFFERING;
    assert!(
        differing <= allowed,
        "{name}: {differing} pixels differ from {} (allowed {allowed}; first at {first:?}); \
         if the change is intended, regenerate with TREESTAT_BLESS=1 cargo test -p treestat-graph",
        path.display()
    );
}
