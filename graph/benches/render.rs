//! Render benchmarks (issue 6): an 800x400 PNG and SVG of one series with 10,000 points,
//! and an 800x400 PNG of a 20-series stacked cpu chart (360 points each, an hour at 10 s).
//!
//! `cargo bench -p treestat-graph`

use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};
use treestat_graph::{ChartType, Format, GraphOptions, Series, Style, render};

const NOW: i64 = 1_700_000_000;

fn one_series_10k() -> (Vec<Series>, GraphOptions) {
    let mut o = GraphOptions::new(NOW);
    o.from = NOW - 10_000 * 10;
    o.title = Some("10k points".into());
    let pts = (0..10_000)
        .map(|i| {
            let k = f64::from(i);
            (
                o.from + i64::from(i) * 10,
                500.0 + 300.0 * (k / 300.0).sin() + 80.0 * (k * 1.7).sin(),
            )
        })
        .collect();
    (vec![Series::new("web,requests", pts)], o)
}

fn cpu_20() -> (Vec<Series>, GraphOptions) {
    let mut o = GraphOptions::new(NOW);
    o.from = NOW - 3600;
    o.style = Style::Cpu;
    o.chart_type = ChartType::Stacked;
    let series = (0..20)
        .map(|s| {
            let pts = (0..360)
                .map(|i| {
                    let k = f64::from(i) / 20.0 + f64::from(s);
                    (o.from + i64::from(i) * 10, 2.5 + 1.5 * k.sin())
                })
                .collect();
            Series::new(format!("host{s:02},cpu,user"), pts)
        })
        .collect();
    (series, o)
}

fn benches(c: &mut Criterion) {
    let (s, o) = one_series_10k();
    c.bench_function("png_800x400_1x10k", |b| {
        b.iter(|| render(black_box(&s), &[], &o, Format::Png).expect("renders"));
    });
    c.bench_function("svg_800x400_1x10k", |b| {
        b.iter(|| render(black_box(&s), &[], &o, Format::Svg).expect("renders"));
    });
    let (s, o) = cpu_20();
    c.bench_function("png_800x400_cpu_stacked_20x360", |b| {
        b.iter(|| render(black_box(&s), &[], &o, Format::Png).expect("renders"));
    });
    c.bench_function("svg_800x400_cpu_stacked_20x360", |b| {
        b.iter(|| render(black_box(&s), &[], &o, Format::Svg).expect("renders"));
    });
}

criterion_group! {
    name = render_benches;
    config = Criterion::default().sample_size(30);
    targets = benches
}
criterion_main!(render_benches);
