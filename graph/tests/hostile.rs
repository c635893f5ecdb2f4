//! Hostile and degenerate input: every case either renders a bounded chart or returns a
//! clear error naming the bad parameter; none panics.

use crate::common;

use common::{NOW, options, params};
use treestat_graph::{
    ErrorKind, Format, GraphOptions, MAX_SERIES, MAX_SIZE, Marker, Series, Style, render,
};

fn svg_texts(svg: &[u8]) -> Vec<String> {
    let s = std::str::from_utf8(svg).expect("utf-8");
    let doc = roxmltree::Document::parse(s).expect("SVG parses");
    doc.descendants()
        .filter(|n| n.tag_name().name() == "text")
        .map(|n| n.text().unwrap_or_default().to_owned())
        .collect()
}

fn png_size(png: &[u8]) -> (u32, u32) {
    let img = image::load_from_memory_with_format(png, image::ImageFormat::Png).expect("decodes");
    (img.width(), img.height())
}

fn line(label: &str, from: i64, n: i64, step: i64) -> Series {
    Series::new(
        label,
        (0..n).map(|i| (from + i * step, (i % 17) as f64)).collect(),
    )
}

#[test]
fn bad_sizes_and_names_are_errors_naming_the_parameter() {
    for (k, v) in [
        ("width", "100000"),
        ("width", "-800"),
        ("height", "0"),
        ("height", "4097"),
        ("style", "pie"),
        ("type", "3d"),
        ("theme", "neon"),
    ] {
        let e = GraphOptions::from_query(&params(&[(k, v)]), NOW).unwrap_err();
        assert_eq!(e.param(), Some(k), "{k}={v}: {e}");
        assert_eq!(e.kind(), ErrorKind::BadOption);
        assert!(e.to_string().contains(v.trim_start_matches('-')), "{e}");
    }
}

#[test]
fn from_after_until_is_an_error_in_parsing_and_in_render() {
    let e =
        GraphOptions::from_query(&params(&[("from", "-1h"), ("until", "-2h")]), NOW).unwrap_err();
    assert_eq!(e.param(), Some("from"));
    let mut o = GraphOptions::new(NOW);
    o.from = NOW;
    o.until = NOW - 10;
    let e = render(&[], &[], &o, Format::Png).unwrap_err();
    assert!(e.to_string().contains("before until"), "{e}");
    o.until = NOW + 10;
    o.width = 0;
    assert_eq!(
        render(&[], &[], &o, Format::Svg).unwrap_err().param(),
        Some("width")
    );
}

#[test]
fn ten_thousand_series_draw_a_capped_chart() {
    let o = options(&[("from", "-1h"), ("width", "800"), ("height", "400")]);
    let series: Vec<Series> = (0..10_000)
        .map(|i| line(&format!("host{i:05},cpu"), o.from, 60, 60))
        .collect();
    let svg = render(&series, &[], &o, Format::Svg).expect("renders");
    let texts = svg_texts(&svg);
    let more: Vec<&String> = texts.iter().filter(|t| t.ends_with(" more")).collect();
    assert_eq!(more.len(), 1, "{texts:?}");
    let n: usize = more[0]
        .trim_start_matches('+')
        .trim_end_matches(" more")
        .parse()
        .unwrap();
    assert!(n >= 10_000 - MAX_SERIES, "{n}");
    assert!(
        svg.len() < 400_000,
        "SVG of a capped chart is {} bytes",
        svg.len()
    );
    let png = render(&series, &[], &o, Format::Png).expect("renders");
    assert_eq!(png_size(&png), (800, 400));
    for style in ["url", "cpu", "net"] {
        let o = options(&[("from", "-1h"), ("style", style), ("type", "bar")]);
        render(&series, &[], &o, Format::Png).expect("renders");
    }
}

#[test]
fn nan_infinite_single_point_and_extreme_values_render() {
    let o = options(&[("from", "-1h"), ("width", "400"), ("height", "200")]);
    let t = o.from;
    let series = vec![
        Series::new(
            "gappy",
            vec![(t, 1.0), (t + 60, f64::NAN), (t + 120, 2.0), (t + 180, 3.0)],
        ),
        Series::new("inf", vec![(t, f64::INFINITY), (t + 60, f64::NEG_INFINITY)]),
        Series::new("single", vec![(t + 1800, 5.0)]),
        Series::new(
            "huge",
            vec![(t, 1e308), (t + 60, -1e308), (t + 120, f64::MAX)],
        ),
        Series::new("wild times", vec![(i64::MIN, 1.0), (i64::MAX, 2.0)]),
    ];
    for ty in ["line", "area", "stacked", "bar"] {
        for style in ["default", "cpu", "net", "url"] {
            let o = options(&[("from", "-1h"), ("type", ty), ("style", style)]);
            for f in [Format::Png, Format::Svg, Format::Jpeg] {
                render(&series, &[], &o, f).unwrap_or_else(|e| panic!("{style} {ty}: {e}"));
            }
        }
    }
    let svg = render(&series[2..3], &[], &o, Format::Svg).unwrap();
    assert!(
        String::from_utf8_lossy(&svg).contains("<circle"),
        "a single point is a dot"
    );
}

#[test]
fn empty_input_says_no_data() {
    let o = options(&[("from", "-1h")]);
    let outside = Series::new("old", vec![(NOW - 86_400 * 3, 1.0)]);
    for style in [Style::Default, Style::Url] {
        let mut o = o.clone();
        o.style = style;
        for input in [
            vec![],
            vec![outside.clone()],
            vec![Series::new("nan", vec![(NOW, f64::NAN)])],
        ] {
            let svg = render(&input, &[], &o, Format::Svg).unwrap();
            assert!(
                svg_texts(&svg).contains(&"no data".to_owned()),
                "{style:?} {input:?}"
            );
            assert_eq!(
                png_size(&render(&input, &[], &o, Format::Png).unwrap()),
                (800, 400)
            );
        }
    }
}

#[test]
fn extreme_sizes_are_bounded() {
    let o = options(&[("from", "-1h")]);
    let s = vec![line("a", o.from, 60, 60)];
    for (w, h) in [
        (16, 16),
        (16, MAX_SIZE),
        (MAX_SIZE, 16),
        (100, 60),
        (2000, 40),
    ] {
        let mut o = o.clone();
        o.width = w;
        o.height = h;
        o.title = Some("a title".into());
        assert_eq!(png_size(&render(&s, &[], &o, Format::Png).unwrap()), (w, h));
        render(&s, &[], &o, Format::Svg).unwrap();
    }
}

#[test]
fn extreme_ranges_render() {
    let s = vec![Series::new(
        "a",
        vec![(0, 1.0), (1_000_000, 2.0), (treestat_graph::MAX_TIME, 3.0)],
    )];
    for (from, until) in [
        (0, treestat_graph::MAX_TIME),
        (treestat_graph::MAX_TIME - 1, treestat_graph::MAX_TIME),
        (0, 1),
    ] {
        let mut o = GraphOptions::new(NOW);
        o.from = from;
        o.until = until;
        for f in [Format::Png, Format::Svg] {
            render(&s, &[], &o, f).unwrap_or_else(|e| panic!("{from}..{until}: {e}"));
        }
        let svg = render(&s, &[], &o, Format::Svg).unwrap();
        assert!(
            svg_texts(&svg).len() >= 3,
            "labels drawn for {from}..{until}"
        );
    }
}

#[test]
fn hostile_markers_titles_and_labels() {
    let o = options(&[
        ("from", "-1h"),
        (
            "title",
            "<script>alert(\"x\")</script> & \u{1} ünïcödé 日本",
        ),
        ("yMin", "2"),
        ("yMax", "3"),
        ("colors", "#000,fff"),
        ("lineWidth", "20"),
    ]);
    let long = "x".repeat(5000);
    let series = vec![line(&long, o.from, 60, 60), line("b", o.from, 60, 60)];
    let mut markers: Vec<Marker> = (0..5000)
        .map(|i| Marker {
            ts: o.from + i,
            end: Some(o.from + i - 100),
            label: format!("m{i}"),
        })
        .collect();
    markers.push(Marker {
        ts: i64::MIN,
        end: Some(i64::MAX),
        label: long.clone(),
    });
    let svg = render(&series, &markers, &o, Format::Svg).unwrap();
    let texts = svg_texts(&svg);
    assert!(
        texts.iter().any(|t| t.starts_with("<script>")),
        "title kept as text: {texts:?}"
    );
    assert!(
        texts.iter().all(|t| t.chars().count() < 200),
        "long labels are cut"
    );
    assert!(svg.len() < 200_000, "{} bytes", svg.len());
    render(&series, &markers, &o, Format::Png).unwrap();
}

mod random {
    //! Random options and values: whatever comes in, render returns bytes or an error.
    use super::*;
    use proptest::prelude::*;

    fn value() -> impl Strategy<Value = f64> {
        prop_oneof![
            4 => -1e6f64..1e6,
            1 => Just(f64::NAN),
            1 => Just(f64::INFINITY),
            1 => Just(f64::NEG_INFINITY),
            1 => Just(f64::MAX),
            1 => Just(-f64::MAX),
            1 => Just(0.0),
            1 => Just(f64::MIN_POSITIVE),
        ]
    }

    fn series() -> impl Strategy<Value = Vec<Series>> {
        let pts = prop::collection::vec((NOW - 7200..NOW + 100, value()), 0..40);
        prop::collection::vec(("[a-z,_ ]{0,12}", pts), 0..30)
            .prop_map(|v| v.into_iter().map(|(l, p)| Series::new(l, p)).collect())
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]
        #[test]
        fn never_panics(
            s in series(),
            w in 16u32..260,
            h in 16u32..160,
            style in 0usize..4,
            ty in 0usize..4,
            dark in any::<bool>(),
            span in 1i64..200_000,
            ymin in prop::option::of(-100.0f64..100.0),
            marks in prop::collection::vec((NOW - 7200..NOW, prop::option::of(NOW - 7200..NOW)), 0..5),
        ) {
            let mut o = GraphOptions::new(NOW);
            o.from = NOW - span;
            o.width = w;
            o.height = h;
            o.style = [Style::Default, Style::Cpu, Style::Net, Style::Url][style];
            o.chart_type = [
                treestat_graph::ChartType::Line,
                treestat_graph::ChartType::Area,
                treestat_graph::ChartType::Stacked,
                treestat_graph::ChartType::Bar,
            ][ty];
            if dark {
                o.theme = treestat_graph::Theme::Dark;
            }
            o.y_min = ymin;
            o.title = Some("t".into());
            let markers: Vec<Marker> =
                marks.into_iter().map(|(ts, end)| Marker { ts, end, label: "m".into() }).collect();
            let png = render(&s, &markers, &o, Format::Png).expect("renders");
            prop_assert_eq!(png_size(&png), (w, h));
            let svg = render(&s, &markers, &o, Format::Svg).expect("renders");
            svg_texts(&svg);
        }
    }
}
