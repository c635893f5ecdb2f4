//! Property tests of issue 15's acceptance 2: merging the sketches of any split of a
//! sample set gives the same quantiles (within 1 %) as one sketch of the whole set, and
//! a `|p99` fold over a level equals the p99 of the union of its leaves' samples.

use proptest::prelude::*;
use treestat_engine::histogram::clamped_quantile;
use treestat_engine::sketch::{ALPHA, Sketch};
use treestat_engine::{Action, Batch, Engine};

/// Samples over a wide range, both signs and zeros: a latency-like bulk with outliers.
fn sample() -> impl Strategy<Value = f64> {
    prop_oneof![
        8 => 0.001f64..5000.0,
        1 => -1000.0f64..-0.001,
        1 => Just(0.0),
        1 => 1e-6f64..1e9,
    ]
}

const QS: [f64; 9] = [0.0, 0.01, 0.25, 0.5, 0.75, 0.9, 0.99, 0.999, 1.0];

/// The sample of the nearest rank, what a quantile approximates (docs/CONCEPTS.md,
/// "Stats"): the `ceil(q n)`-th smallest, counted out independently of the engine's
/// `Stat::quantile_rank` (an integer walk: the first sample at which at least `q n`
/// samples are covered).
fn exact(sorted: &[f64], q: f64) -> f64 {
    #[allow(clippy::cast_precision_loss)]
    let need = q * sorted.len() as f64;
    let i = (0..sorted.len())
        .find(|&i| (i + 1) as f64 >= need - 1e-9)
        .unwrap_or(sorted.len() - 1);
    sorted[i]
}

fn within(got: f64, want: f64) -> bool {
    // The bucket of a magnitude below 1e-9 is zero; relative accuracy otherwise.
    (got - want).abs() <= ALPHA * want.abs() + 1e-9
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    /// Any split, merged in any order, is the sketch of the whole: the same buckets,
    /// hence the same quantiles, each within 1 % of the exact one.
    #[test]
    fn merging_any_split_is_one_sketch(
        values in prop::collection::vec(sample(), 1..2000),
        cuts in prop::collection::vec(any::<prop::sample::Index>(), 0..8),
        reverse in any::<bool>(),
    ) {
        let mut whole = Sketch::new();
        whole.extend(&values);
        let mut at: Vec<usize> = cuts.iter().map(|c| c.index(values.len() + 1)).collect();
        at.push(0);
        at.push(values.len());
        at.sort_unstable();
        let mut parts: Vec<Sketch> = at
            .windows(2)
            .map(|w| {
                let mut s = Sketch::new();
                s.extend(&values[w[0]..w[1]]);
                s
            })
            .collect();
        if reverse {
            parts.reverse();
        }
        let mut merged = Sketch::new();
        for p in &parts {
            merged.merge(p);
        }
        prop_assert_eq!(&merged, &whole);
        let mut sorted = values.clone();
        sorted.sort_by(f64::total_cmp);
        for q in QS {
            let got = merged.quantile(q).unwrap();
            prop_assert!(within(got, exact(&sorted, q)), "q {} got {} want {}", q, got, exact(&sorted, q));
        }
    }

    /// `api,*|p99,latency` is the p99 of every host's samples together; nested quantile
    /// folds merge on (`*|p50,*|p50` is the median of everything).
    #[test]
    fn a_quantile_fold_is_the_quantile_of_the_union(
        hosts in prop::collection::vec(prop::collection::vec(sample(), 1..300), 1..12),
        q in prop::sample::select(vec!["p50", "p90", "p99", "p99.9", "p100", "p0"]),
    ) {
        let e = Engine::default();
        let mut b = Batch::new();
        let mut union = Vec::new();
        for (i, vs) in hosts.iter().enumerate() {
            b.samples(&format!("api,h{i},latency"), vs, Some(Action::Histogram));
            b.samples(&format!("web,h{i},x{}", i % 3), vs, Some(Action::Histogram));
            union.extend_from_slice(vs);
        }
        e.apply(&b).unwrap();
        let stat: treestat_engine::Stat = q.parse().unwrap();
        let treestat_engine::Stat::Quantile(m) = stat else { unreachable!() };
        let qf = treestat_engine::Stat::quantile(m);
        let mut sk = Sketch::new();
        sk.extend(&union);
        let mut sorted = union.clone();
        sorted.sort_by(f64::total_cmp);
        let (min, max) = (sorted[0], sorted[sorted.len() - 1]);
        let want = clamped_quantile(&sk, qf, min, max).unwrap();
        let rows = e.query(&format!("api,*|{q},latency")).unwrap();
        prop_assert_eq!(rows.len(), 1);
        prop_assert_eq!(&rows[0].0, &"api,*,latency".to_string());
        prop_assert_eq!(rows[0].1, want);
        prop_assert!(within(rows[0].1, exact(&sorted, qf)));
        let nested = e.query(&format!("web,*|{q},*|{q}")).unwrap();
        prop_assert_eq!(nested, vec![("web,*,*".to_string(), want)]);
    }
}

#[test]
fn a_quantile_fold_of_plain_leaves_counts_each_value_once() {
    let e = Engine::default();
    e.push_json(br#"{"g":{"a":1,"b":2,"c":3,"d":40}}"#).unwrap();
    assert_eq!(e.query("g,*|p100").unwrap(), [("g,*".to_string(), 40.0)]);
    assert_eq!(e.query("g,*|p50").unwrap(), [("g,*".to_string(), 2.0)]);
    // A literal folds only what it matched: one row per host, as `|sum` does.
    e.push_json(
        br#"{"default_action":"histogram","api":{"h1":{"lat":[1,2,3]},"h2":{"lat":[100]}}}"#,
    )
    .unwrap();
    let per_host = e.query("api,*,lat|p100").unwrap();
    assert_eq!(
        per_host,
        [
            ("api,h1,lat".to_string(), 3.0),
            ("api,h2,lat".to_string(), 100.0)
        ]
    );
    let e2 = treestat_engine::Pattern::parse("a|p99.9").unwrap();
    assert_eq!(e2.segments()[0].agg.to_string(), "p99.9");
    assert!(e.query("a|p101").is_err());
}
