//! Port 8007's line format (TCP and UDP): a JSON tree, an array of trees, or a
//! SimpleStats tuple. Model: an accepted tuple, written back as
//! `["path", ts, value]`, parses to the same tuple; an accepted tree validates.

use treestat_engine::listen::simplestats::{Line, parse_line};
use treestat_engine::path::check_path;

const MAX_DEPTH: usize = 8;

/// Checks one input; panics on a finding.
pub fn run(data: &[u8]) {
    let Ok(line) = std::str::from_utf8(data) else {
        return;
    };
    match parse_line(line, MAX_DEPTH) {
        Ok(Line::Tuple { path, ts, value }) => {
            check_path(&path).unwrap_or_else(|e| panic!("{line:?} gave path {path:?}: {e}"));
            assert!(path.split(',').count() <= MAX_DEPTH);
            assert!(value.is_finite());
            assert!(
                (0..100_000_000_000).contains(&ts),
                "{line:?}: time stamp {ts}"
            );
            let again = format!(
                "[{}, {ts}, {}]",
                serde_json::to_string(&path).unwrap(),
                serde_json::Number::from_f64(value).unwrap()
            );
            let back = parse_line(&again, MAX_DEPTH)
                .unwrap_or_else(|e| panic!("{line:?} written back as {again:?} refused: {e}"));
            assert_eq!(
                back,
                Line::Tuple { path, ts, value },
                "{line:?} as {again:?}"
            );
        }
        Ok(Line::Tree(mut doc)) => {
            doc.validate(MAX_DEPTH)
                .unwrap_or_else(|e| panic!("{line:?}: an accepted tree no longer validates: {e}"));
        }
        Err(_) => {}
    }
}
