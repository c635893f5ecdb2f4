//! `/graph` URL options (`GraphOptions::from_query`: from, until, width, height, style,
//! type, theme, title, legend, yMin, yMax, lineWidth, colors, tz), then a render of a
//! small series with them. Checks: accepted options validate; a time zone written back
//! by `Tz::name` parses to the same zone (same offsets); rendering accepted options
//! never fails with a bad option and never panics.
//!
//! Input: 8 bytes of `now`, then a query string (`name=value&...`, not percent-decoded:
//! the fuzzer writes the decoded bytes directly).

use treestat_graph::{Format, GraphOptions, Series, Tz, render};

/// Checks one input; panics on a finding.
pub fn run(data: &[u8]) {
    let Some((now, query)) = data.split_first_chunk::<8>() else {
        return;
    };
    let now = i64::from_le_bytes(*now);
    let Ok(query) = std::str::from_utf8(query) else {
        return;
    };
    let params: Vec<(String, String)> = query
        .split('&')
        .map(|kv| {
            let (k, v) = kv.split_once('=').unwrap_or((kv, ""));
            (k.to_string(), v.to_string())
        })
        .collect();
    for (name, value) in &params {
        if name == "tz"
            && let Ok(tz) = Tz::parse(value)
        {
            let written = tz.name();
            let back = Tz::parse(&written)
                .unwrap_or_else(|e| panic!("tz {value:?} written back as {written:?}: {e}"));
            assert_eq!(back.name(), written, "tz {value:?}");
            for t in [0, 1_700_000_000, 1_720_000_000, now] {
                assert_eq!(tz.offset_at(t), back.offset_at(t), "tz {value:?} at {t}");
            }
        }
    }
    let Ok(opts) = GraphOptions::from_query(&params, now) else {
        return;
    };
    opts.validate().expect("from_query returns valid options");
    let span = opts.until.saturating_sub(opts.from).max(1);
    let points: Vec<(i64, f64)> = (0..5)
        .map(|i| {
            (
                opts.from.saturating_add(span / 4 * i),
                [1.0, -2.5, 1e9, 0.0, 3.0][usize::try_from(i).unwrap()],
            )
        })
        .collect();
    let series = [
        Series::new("a,b", points),
        Series::new("c", vec![(opts.from, 1.0)]),
    ];
    render(&series, &[], &opts, Format::Svg).expect("accepted options render");
    if u64::from(opts.width) * u64::from(opts.height) <= 64 * 64 {
        render(&series, &[], &opts, Format::Png).expect("accepted options render");
    }
}
