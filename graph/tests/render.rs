//! Renders every style x type x theme to SVG and PNG and checks them: the SVG parses and
//! holds the title, legend entries and marker labels; the PNG decodes at the requested
//! size and matches the reference image in `tests/ref/` within a small tolerance.
//!
//! Regenerate the references with `TREESTAT_BLESS=1 cargo test -p treestat-graph`.

use crate::common;

use std::path::PathBuf;

use common::{check_png, markers, options, series_for};
use treestat_graph::{Format, Style, render};

const STYLES: [&str; 4] = ["default", "cpu", "net", "url"];
const TYPES: [&str; 4] = ["line", "area", "stacked", "bar"];
const THEMES: [&str; 2] = ["light", "dark"];
const W: u32 = 400;
const H: u32 = 200;

fn style_of(s: &str) -> Style {
    match s {
        "cpu" => Style::Cpu,
        "net" => Style::Net,
        "url" => Style::Url,
        _ => Style::Default,
    }
}

/// Every combination drawn; `url` ignores `type`, so it gets one per theme.
fn cases() -> Vec<(&'static str, &'static str, &'static str)> {
    let mut v = Vec::new();
    for style in STYLES {
        for ty in TYPES {
            if style == "url" && ty != "bar" {
                continue;
            }
            for theme in THEMES {
                v.push((style, ty, theme));
            }
        }
    }
    v
}

fn texts(svg: &str) -> Vec<String> {
    let doc = roxmltree::Document::parse(svg).expect("SVG parses as XML");
    assert_eq!(doc.root_element().tag_name().name(), "svg");
    doc.descendants()
        .filter(|n| n.tag_name().name() == "text")
        .map(|n| n.text().unwrap_or_default().to_owned())
        .collect()
}

#[test]
fn every_style_type_and_theme() {
    for (style, ty, theme) in cases() {
        let name = format!("{style}-{ty}-{theme}");
        let title = format!("treestat {style} {ty} {theme}");
        let opts = options(&[
            ("from", "-6h"),
            ("width", "400"),
            ("height", "200"),
            ("style", style),
            ("type", ty),
            ("theme", theme),
            ("title", &title),
            ("tz", "+01:00"),
        ]);
        let series = series_for(style_of(style), opts.from, opts.until);
        let marks = markers(opts.from, opts.until);

        let svg = render(&series, &marks, &opts, Format::Svg).expect("svg renders");
        let svg = String::from_utf8(svg).expect("SVG is UTF-8");
        let t = texts(&svg);
        assert!(t.contains(&title), "{name}: title missing from {t:?}");
        // Every series is named, or counted in the "+N more" note.
        // `net` legends add the side: `eth0,rx (in)`.
        let shown = |l: &str| t.iter().any(|x| x == l || x.starts_with(&format!("{l} (")));
        let missing = series.iter().filter(|s| !shown(&s.label)).count();
        if missing > 0 {
            let note = format!("+{missing} more");
            assert!(
                t.contains(&note),
                "{name}: {missing} labels missing and no {note:?} in {t:?}"
            );
        }
        assert!(
            missing <= series.len() / 4,
            "{name}: most legend entries missing from {t:?}"
        );
        if style != "url" {
            for m in &marks {
                assert!(
                    t.contains(&m.label),
                    "{name}: marker {} missing from {t:?}",
                    m.label
                );
            }
        }

        let png = render(&series, &marks, &opts, Format::Png).expect("png renders");
        check_png(&name, &png, (W, H));
    }
}

#[test]
fn jpeg_decodes_at_the_requested_size() {
    let opts = options(&[("from", "-6h"), ("width", "320"), ("height", "180")]);
    let series = series_for(Style::Default, opts.from, opts.until);
    let jpg = render(&series, &[], &opts, Format::Jpeg).expect("jpeg renders");
    assert_eq!(&jpg[..3], &[0xff, 0xd8, 0xff], "JPEG magic");
    let img = image::load_from_memory_with_format(&jpg, image::ImageFormat::Jpeg).expect("decodes");
    assert_eq!((img.width(), img.height()), (320, 180));
}

#[test]
fn references_stay_small() {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/ref");
    let total: u64 = std::fs::read_dir(&dir)
        .map(|d| {
            d.filter_map(Result::ok)
                .filter_map(|e| e.metadata().ok())
                .map(|m| m.len())
                .sum()
        })
        .unwrap_or(0);
    assert!(
        total < 2 * 1024 * 1024,
        "tests/ref holds {total} bytes; keep it under 2 MiB"
    );
}

#[test]
fn legend_off_hides_the_entries_and_title_is_optional() {
    let opts = options(&[("from", "-6h"), ("legend", "off")]);
    let series = series_for(Style::Default, opts.from, opts.until);
    let svg = String::from_utf8(render(&series, &[], &opts, Format::Svg).unwrap()).unwrap();
    let t = texts(&svg);
    assert!(series.iter().all(|s| !t.contains(&s.label)), "{t:?}");
    assert!(
        t.iter().any(|l| l.contains(':')),
        "time labels still drawn: {t:?}"
    );
}
