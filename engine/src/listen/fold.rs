//! Line-protocol batches folded per leaf before they reach the engine.
//!
//! A busy StatsD or Graphite stream repeats the same few hundred names thousands of
//! times per batch. As flat updates, every line costs the engine a path check and a
//! walk of the tree. Folded, all the untimed samples of one (path, action) become one
//! [`Update::Samples`] carrying the values in order, which the engine merges in one
//! walk: the tree ends exactly as if each sample had been merged (totals, interval
//! aggregates, `last`, a histogram leaf's sketch and raw samples), for one walk per
//! distinct name. (They were folded into an [`Update::Stats`] before; that lost every
//! sample's place in a `histogram` leaf's sketch, and the fold cannot know a leaf's
//! action, which a config rule may give.)
//!
//! Sampled StatsD timer lines ([`Update::Weighted`]) fold the same way, into one
//! [`Update::WeightedSamples`] per name, with that name's unsampled histogram samples
//! of the batch (weight 1) in their order, so the leaf's weighed `count` sums in
//! arrival order as Etsy's does. (They went to the engine one by one before, each a
//! walk of the path: 1.5M samples/s against 6.2M folded.)
//!
//! Updates keep the order of their name's first appearance; time-stamped samples and
//! markers are left as they are, in place. The engine refuses a non-finite sample, or
//! one whose fold would make a sum non-finite, alone, as it does a single sample.

use std::collections::HashMap;

use crate::batch::{Batch, Update};

/// The batch with every untimed sample folded into one update per (path, action).
pub(crate) fn fold(batch: Batch) -> Batch {
    let mut slots: HashMap<(String, Option<crate::Action>), usize> = HashMap::new();
    // Names with weighted samples: their `Update::WeightedSamples`.
    let mut weighted: HashMap<String, usize> = HashMap::new();
    let mut out: Vec<Update> = Vec::with_capacity(batch.len().min(4096));
    for u in batch.updates {
        match u {
            Update::Sample {
                path,
                value,
                action: Some(crate::Action::Histogram),
                ts: None,
            } if weighted.contains_key(&path) => {
                if let Update::WeightedSamples { samples, .. } = &mut out[weighted[&path]] {
                    samples.push((value, 1.0));
                }
            }
            Update::Weighted {
                path,
                value,
                weight,
            } => {
                if let Some(&i) = weighted.get(&path) {
                    if let Update::WeightedSamples { samples, .. } = &mut out[i] {
                        samples.push((value, weight));
                    }
                    continue;
                }
                // The name's unsampled histogram samples so far come first, weighing 1.
                let key = (path, Some(crate::Action::Histogram));
                let slot = slots.remove(&key);
                let mut samples = Vec::new();
                if let Some(Update::Samples { values, .. }) = slot.map(|i| &out[i]) {
                    samples.extend(values.iter().map(|&v| (v, 1.0)));
                }
                samples.push((value, weight));
                let u = Update::WeightedSamples {
                    path: key.0.clone(),
                    samples,
                };
                let i = match slot {
                    Some(i) => {
                        out[i] = u;
                        i
                    }
                    None => {
                        out.push(u);
                        out.len() - 1
                    }
                };
                weighted.insert(key.0, i);
            }
            Update::Sample {
                path,
                value,
                action,
                ts: None,
            } => {
                let key = (path, action);
                if let Some(&i) = slots.get(&key) {
                    if let Update::Samples { values, .. } = &mut out[i] {
                        values.push(value);
                    }
                } else {
                    slots.insert(key.clone(), out.len());
                    out.push(Update::Samples {
                        path: key.0,
                        values: vec![value],
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
            Update::Samples { values, .. } => assert_eq!(values, &[3.0, 1.0]),
            other => panic!("folded samples expected, got {other:?}"),
        }
    }

    /// Issue 15: sampled timer lines fold per name too (they were applied one by one),
    /// with the name's unsampled timer samples in their order; the tree, the sketches
    /// and the weighed counts (`1 / rate` summed in arrival order, to the bit) end as
    /// if each had been applied alone, in the totals and in the interval.
    #[test]
    fn weighted_samples_fold_per_name_to_the_same_bits() {
        let mut b = Batch::new();
        let rates = [0.1, 0.3, 0.7, 0.25];
        for i in 0..400u32 {
            let path = format!("t,api{}", i % 3);
            let value = f64::from(i % 41) * 1.5;
            if i % 5 == 0 {
                b.sample(&path, value, Some(Action::Histogram));
            } else {
                b.push(Update::Weighted {
                    path,
                    value,
                    weight: 1.0 / rates[(i % 4) as usize],
                });
            }
        }
        b.push(Update::Weighted {
            path: "t,api0".into(),
            value: f64::NAN,
            weight: 10.0,
        });
        b.sample("t,plain", 3.0, Some(Action::Histogram));
        let f = fold(b.clone());
        assert_eq!(f.len(), 4, "one update per name");
        let flat = Engine::default();
        let folded = Engine::default();
        // A first batch, so the second continues running counts.
        for e in [&flat, &folded] {
            let mut first = Batch::new();
            first.push(Update::Weighted {
                path: "t,api1".into(),
                value: 2.0,
                weight: 1.0 / 0.3,
            });
            e.apply(&first).unwrap();
        }
        let s1 = flat.apply(&b).unwrap();
        let s2 = folded.apply(&f).unwrap();
        assert_eq!(
            (s1.samples, s1.refused_nonfinite),
            (s2.samples, s2.refused_nonfinite)
        );
        same_tree(&b);
        let stats = crate::parse_stats("count,p50,p99,sum,max").unwrap();
        let pattern = crate::Pattern::parse("t").unwrap();
        let bits = |e: &Engine| -> Vec<(String, Vec<Option<u64>>)> {
            e.query_stats(&pattern, &stats)
                .into_iter()
                .map(|(p, vs)| (p, vs.iter().map(|v| v.map(f64::to_bits)).collect()))
                .collect()
        };
        assert_eq!(bits(&flat), bits(&folded), "the totals' stats");
        let (a, b) = (flat.close_now(), folded.close_now());
        assert_eq!(a.hists.len(), 4);
        assert_eq!(
            a.hists, b.hists,
            "the interval's sketches, raw samples and counts"
        );
        let c = a.hists[0].1.hist.exact_value(crate::Stat::Count).unwrap();
        assert!(c > 300.0, "weighed: {c}");
    }

    /// Regression (issue 15): the fold made one `Update::Stats` per name, which reaches
    /// a histogram leaf's sum and count but not its sketch; a rule-made histogram leaf
    /// fed through a listener then had no quantiles. Folded samples keep every value.
    #[test]
    fn folded_samples_reach_a_histogram_leafs_sketch() {
        let mut b = Batch::new();
        for i in 0..300 {
            b.sample("t,api", f64::from(i % 37), Some(Action::Histogram));
        }
        b.sample("t,api", f64::NAN, Some(Action::Histogram));
        let flat = Engine::default();
        let folded = Engine::default();
        let s1 = flat.apply(&b).unwrap();
        let s2 = folded.apply(&fold(b.clone())).unwrap();
        assert_eq!(fold(b).len(), 1);
        assert_eq!(
            (s1.samples, s1.refused_nonfinite),
            (s2.samples, s2.refused_nonfinite)
        );
        let (a, b) = (flat.close_now(), folded.close_now());
        assert_eq!(a.hists.len(), 1);
        assert_eq!(a.hists, b.hists);
        assert_eq!(b.hists[0].1.hist.sketch.count(), 300);
    }
}
