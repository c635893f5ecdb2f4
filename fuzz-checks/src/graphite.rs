//! Graphite's plaintext lines (TCP 2003). Model: an accepted line, written back as
//! `a.b.c value [timestamp]`, parses to the same sample.

use treestat_engine::listen::graphite::parse_line;
use treestat_engine::path::check_path;

const MAX_DEPTH: usize = 8;

/// Checks one input; panics on a finding.
pub fn run(data: &[u8]) {
    let Ok(line) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(s) = parse_line(line, MAX_DEPTH) else {
        return;
    };
    check_path(&s.path).unwrap_or_else(|e| panic!("{line:?} gave path {:?}: {e}", s.path));
    assert!(s.path.split(',').count() <= MAX_DEPTH);
    assert!(s.value.is_finite());
    let mut again = format!("{} {}", s.path.replace(',', "."), s.value);
    if let Some(ts) = s.ts {
        assert!(
            (0..100_000_000_000).contains(&ts),
            "{line:?}: time stamp {ts}"
        );
        again.push_str(&format!(" {ts}"));
    }
    let s2 = parse_line(&again, MAX_DEPTH)
        .unwrap_or_else(|e| panic!("{line:?} accepted, written back as {again:?} refused: {e}"));
    assert_eq!(s, s2, "{line:?} written back as {again:?}");
}
