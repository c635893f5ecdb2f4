//! StatsD lines (UDP 8125): the pure parser and the set/gauge state that adds a line
//! to a batch. Checks: what is accepted has a valid path within the depth limit, finite
//! values and rates in (0, 1]; a line the parser accepts never makes the state panic,
//! and what the state adds is a batch the engine validates.

use treestat_engine::Batch;
use treestat_engine::listen::statsd::{Kind, Statsd, parse_line};
use treestat_engine::path::check_path;

const MAX_DEPTH: usize = 8;

/// Checks one input; panics on a finding.
pub fn run(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let mut state = Statsd::new(MAX_DEPTH, 64, 16);
    state.begin(0);
    let mut batch = Batch::new();
    for line in text.split('\n') {
        if let Ok(p) = parse_line(line, MAX_DEPTH) {
            check_path(&p.path).unwrap_or_else(|e| panic!("{line:?} gave path {:?}: {e}", p.path));
            assert!(p.path.split(',').count() <= MAX_DEPTH, "{line:?} too deep");
            assert_eq!(p.values().count(), p.len());
            assert!(!p.is_empty());
            for v in p.values() {
                assert!(v.value.is_finite(), "{line:?}: value {}", v.value);
                assert!(v.rate > 0.0 && v.rate <= 1.0, "{line:?}: rate {}", v.rate);
                if v.kind != Kind::Set {
                    assert!(v.member.is_empty() || v.kind == Kind::Set);
                }
            }
        }
        let _ = state.add_line(line, &mut batch, |_| Some(1.0));
    }
    batch
        .validate(MAX_DEPTH)
        .unwrap_or_else(|e| panic!("the state built a batch the engine refuses: {e}"));
}
