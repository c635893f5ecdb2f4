//! Renders the example chart shown in the README: a day of web traffic with two markers.
//!
//! `cargo run -p treestat-graph --example readme_chart -- docs/img/example.png`
//! (the format follows the extension: .png, .svg or .jpg; add `--dark` for the dark theme).

use std::f64::consts::PI;

use treestat_graph::{Format, GraphOptions, Marker, Series, render};

const NOW: i64 = 1_764_072_000; // 2025-11-25 12:00 UTC

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let out = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "example.png".to_owned());
    let ext = out.rsplit('.').next().unwrap_or("png");
    let format = Format::from_extension(ext)?;
    let dark = std::env::args().any(|a| a == "--dark");
    let mut params: Vec<(String, String)> = [
        ("from", "-1d"),
        ("width", "800"),
        ("height", "360"),
        ("type", "area"),
        ("title", "Requests per second by status"),
        ("tz", "+01:00"),
    ]
    .iter()
    .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
    .collect();
    if dark {
        params.push(("theme".into(), "dark".into()));
    }
    let opts = GraphOptions::from_query(&params, NOW)?;
    let series = traffic(opts.from, opts.until);
    let markers = [
        Marker {
            ts: NOW - 9 * 3600,
            end: None,
            label: "deploy v2.4.1".into(),
        },
        Marker {
            ts: NOW - 4 * 3600,
            end: Some(NOW - 3 * 3600 - 1200),
            label: "cache flush".into(),
        },
    ];
    let bytes = render(&series, &markers, &opts, format)?;
    if let Some(dir) = std::path::Path::new(&out)
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
    {
        std::fs::create_dir_all(dir)?;
    }
    std::fs::write(&out, &bytes)?;
    println!("wrote {out} ({} bytes)", bytes.len());
    Ok(())
}

/// A deterministic day of traffic: a daily wave, some texture, an incident of 5xx.
pub fn traffic(from: i64, until: i64) -> Vec<Series> {
    let step = 300;
    let mut ok = Vec::new();
    let mut redirect = Vec::new();
    let mut err = Vec::new();
    let mut t = from - from % step;
    let mut k = 0u32;
    while t <= until {
        let day = ((t % 86_400) as f64 / 86_400.0 - 0.35) * 2.0 * PI;
        let wave = 900.0 + 650.0 * day.sin();
        let tex = 60.0 * (f64::from(k) * 0.7).sin() + 35.0 * (f64::from(k) * 1.9).cos();
        ok.push((t, wave + tex));
        redirect.push((t, 0.22 * wave + 12.0 * (f64::from(k) * 1.3).sin()));
        let incident = (t - (NOW - 4 * 3600)).abs() < 1500;
        err.push((
            t,
            if incident {
                260.0
            } else {
                14.0 + 6.0 * (f64::from(k) * 2.3).sin().abs()
            },
        ));
        t += step;
        k += 1;
    }
    vec![
        Series::new("status,2xx", ok),
        Series::new("status,3xx", redirect),
        Series::new("status,5xx", err),
    ]
}
