//! Line-protocol batches folded per leaf before they reach the engine.
//!
//! A busy StatsD or Graphite stream repeats the same few hundred names thousands of
//! times per batch. As flat updates, every line costs the engine a path check and a
//! walk of the tree. Folded, all the untimed samples of one (path, action) become one
//! [`Update::Stats`] carrying their sum, count, min, max and last, which the engine
//! merges whole: the tree ends exactly as if each sample had been merged (totals,
//! interval aggregates and `last` are the same), for one walk per distinct name.
//!
//! Updates keep the order of their name's first appearance; time-stamped samples and
//! markers are left as they are, in place. A sample whose fold would make the sum
//! non-finite (`1e308` twice) starts a new update instead, so the engine can refuse
//! that one sample alone rather than the folded whole.

use std::collections::HashMap;

use crate::batch::{Batch, Update};
use crate::stats::Stats;

/// The batch with every untimed sample folded into one update per (path, action).
pub(crate) fn fold(batch: Batch) -> Batch {
    let mut slots: HashMap<(String, Option<crate::Action>), usize> = HashMap::new();
    let mut out: Vec<Update> = Vec::with_capacity(batch.len().min(4096));
    for u in batch.updates {
        match u {
            Update::Sample {
                path,
                value,
                action,
                ts: None,
            } => {
                let key = (path, action);
                let fits = |i: usize| match &out[i] {
                    Update::Stats { stats, .. } => (stats.sum + value).is_finite(),
                    _ => false,
                };
                if let Some(&i) = slots.get(&key).filter(|&&i| fits(i)) {
                    if let Update::Stats { stats, .. } = &mut out[i] {
                        stats.add(value, true);
                    }
                } else {
                    slots.insert(key.clone(), out.len());
                    out.push(Update::Stats {
                        path: key.0,
                        stats: Stats::one(value),
                        action: key.1,
                    });
                }
            }
            other => out.push(other),
        }
    }
    let mut folded = Batch::new();
    for u in out {
        folded.push(u);
    }
    folded
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Action, Engine};

    fn same_tree(batch: &Batch) {
        let flat = Engine::default();
        flat.apply(batch).unwrap();
        let folded = Engine::default();
        let f = fold(batch.clone());
        assert!(f.len() <= batch.len());
        folded.apply(&f).unwrap();
        let (a, b) = (flat.snapshot(), folded.snapshot());
        let mut a: Vec<_> = a.into_iter().map(|(p, a, s, _)| (p, a, s)).collect();
        let mut b: Vec<_> = b.into_iter().map(|(p, a, s, _)| (p, a, s)).collect();
        a.sort_by(|x, y| x.0.cmp(&y.0));
        b.sort_by(|x, y| x.0.cmp(&y.0));
        assert_eq!(a, b);
        let (ca, cb) = (flat.close_now(), folded.close_now());
        let pa: Vec<_> = ca.points.iter().map(|p| (p.action, p.stats)).collect();
        let pb: Vec<_> = cb.points.iter().map(|p| (p.action, p.stats)).collect();
        assert_eq!(pa.len(), pb.len());
    }

    #[test]
    fn folding_leaves_the_same_tree() {
        let mut b = Batch::new();
        for i in 0..500 {
            let name = format!("app,a{},m{}", i % 7, i % 13);
            let action = match i % 13 {
                0..4 => Action::Add,
                4..8 => Action::Last,
                _ => Action::Average,
            };
            b.sample(&name, f64::from(i % 17) - 3.0, Some(action));
        }
        same_tree(&b);
        assert_eq!(fold(b).len(), 7 * 13);
    }

    #[test]
    fn clashes_time_stamps_and_markers() {
        let mut b = Batch::new();
        b.sample("x", 1.0, Some(Action::Add));
        b.sample("x,y", 2.0, Some(Action::Add));
        b.sample("x", 4.0, Some(Action::Add));
        b.sample("p,q", 2.0, None);
        b.sample("p", 5.0, None);
        b.sample_at("t", 1_322_721_979, 1.0, Some(Action::Add));
        b.sample_at("t", 1_322_721_979, 2.0, Some(Action::Add));
        b.marker("m", "deploy");
        b.sample("g", 3.0, Some(Action::Last));
        b.sample("g", 1.0, Some(Action::Last));
        same_tree(&b);
        let f = fold(b);
        assert_eq!(f.len(), 8);
        let g = f.updates().iter().find(|u| u.path() == "g").unwrap();
        match g {
            Update::Stats { stats, .. } => assert_eq!((stats.last, stats.count), (1.0, 2)),
            other => panic!("folded stats expected, got {other:?}"),
        }
    }
}
