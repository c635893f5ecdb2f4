//! What the chart's text says (issue 18): the date and the zone on the time axis, which
//! side of a `net` chart is in and which is out, and one number format per column.
//! Read from the SVG, whose `<text>` elements are the PNG's labels too (one display list).

use crate::common;

use common::{NOW, options, series_for};
use treestat_graph::{Format, Series, Style, render};

fn texts(series: &[Series], pairs: &[(&str, &str)]) -> Vec<String> {
    let svg = render(series, &[], &options(pairs), Format::Svg).expect("renders");
    let svg = String::from_utf8(svg).expect("utf-8");
    let doc = roxmltree::Document::parse(&svg).expect("SVG parses");
    doc.descendants()
        .filter(|n| n.tag_name().name() == "text")
        .map(|n| n.text().unwrap_or_default().to_owned())
        .collect()
}

fn flat(from: i64, until: i64) -> Vec<Series> {
    vec![Series::new(
        "web,req",
        (from..=until).step_by(300).map(|t| (t, 5.0)).collect(),
    )]
}

/// NOW is 2023-11-14 22:13:20 UTC.
#[test]
fn the_axis_names_the_zone_and_the_date_across_midnight() {
    let from = NOW - 3600; // 21:13 UTC
    let until = NOW + 4 * 3600; // 02:13 UTC the next day
    let (f, u) = (from.to_string(), until.to_string());
    for (tz, zone, day) in [
        ("UTC", "UTC", "Nov 15"),
        ("+08:00", "UTC+08:00", "Nov 15"),
        ("Europe/Paris", "Europe/Paris", "Nov 15"),
        ("America/New_York", "America/New_York", "Nov 14"),
    ] {
        let t = texts(
            &flat(from, until),
            &[("from", &f), ("until", &u), ("tz", tz), ("width", "800")],
        );
        assert!(
            t.iter().any(|l| l.ends_with(zone)),
            "tz={tz}: no {zone:?} in {t:?}"
        );
        assert!(
            t.iter().any(|l| l.starts_with(day)),
            "tz={tz}: no {day:?} in {t:?}"
        );
    }
    // New York: 16:13 to 21:13 on Nov 14, no midnight: the caption carries the date.
    let t = texts(
        &flat(from, until),
        &[("from", &f), ("until", &u), ("tz", "America/New_York")],
    );
    assert!(
        t.contains(&"Nov 14 2023, America/New_York".to_owned()),
        "{t:?}"
    );
    // Across midnight with no room for a day tick (a narrow chart): both dates.
    let t = texts(
        &flat(from, until),
        &[
            ("from", &f),
            ("until", &u),
            ("width", "200"),
            ("height", "150"),
        ],
    );
    assert!(
        t.iter()
            .any(|l| l == "Nov 15" || l == "Nov 14 - Nov 15 2023, UTC"),
        "{t:?}"
    );
}

#[test]
fn net_charts_say_which_side_is_in_and_which_is_out() {
    let o = options(&[("from", "-6h"), ("style", "net")]);
    let t = texts(
        &series_for(Style::Net, o.from, o.until),
        &[("from", "-6h"), ("style", "net")],
    );
    assert!(t.contains(&"eth0,rx (in)".to_owned()), "{t:?}");
    assert!(t.contains(&"eth0,tx (out)".to_owned()), "{t:?}");
    assert!(
        t.iter().any(|l| l.starts_with("in ") && l.ends_with("B/s")),
        "{t:?}"
    );
    assert!(
        t.iter()
            .any(|l| l.starts_with("out ") && l.ends_with("B/s")),
        "{t:?}"
    );
}

#[test]
fn a_column_of_figures_has_one_number_format() {
    // Totals 224 and 72 (and 9): drawn as `224.0`/`72.0` beside `224` before.
    let series: Vec<Series> = [("a", 224.0), ("b", 72.0), ("c", 9.0)]
        .iter()
        .map(|(l, v)| Series::new(*l, vec![(NOW - 60, *v)]))
        .collect();
    let t = texts(&series, &[("from", "-1h"), ("style", "url")]);
    for figure in ["224", "72", "9"] {
        assert!(
            t.contains(&figure.to_owned()),
            "{figure} missing from {t:?}"
        );
    }
    let series: Vec<Series> = [("a", 1.5), ("b", 0.25)]
        .iter()
        .map(|(l, v)| Series::new(*l, vec![(NOW - 60, *v)]))
        .collect();
    let t = texts(&series, &[("from", "-1h"), ("style", "url")]);
    assert!(
        t.contains(&"1.50".to_owned()) && t.contains(&"0.25".to_owned()),
        "{t:?}"
    );
}
