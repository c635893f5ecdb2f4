//! The histogram leaf's stats: Etsy statsd's numbers from raw samples, the sketch past
//! the bound, weighed counts and exact stats merging, a leaf without a sketch.

use super::*;

fn interval(vs: &[f64], max_raw: usize) -> (Stats, IntervalHist) {
    let mut s = Stats::EMPTY;
    let mut h = IntervalHist::default();
    for &v in vs {
        s.add(v, true);
        h.add(v, max_raw);
    }
    (s, h)
}

fn read(stat: &str, s: &Stats, h: &IntervalHist) -> Option<f64> {
    eval_stat(
        stat.parse().unwrap(),
        &StatSource {
            stats: s,
            hist: Some(&h.hist),
            raw: h.complete_raw(),
            secs: Some(10.0),
        },
    )
}

/// The figures Etsy's `lib/process_metrics.js` (statsd 0.9.0, run under node)
/// flushes for these values in a 10 s flush: 3, 1, 2 with thresholds 80, -80 and
/// 10; 4, 1, 3, 2; and 7 alone with 90 and 10.
#[test]
fn raw_samples_give_etsys_numbers() {
    let (s, h) = interval(&[3.0, 1.0, 2.0], 100);
    assert_eq!(read("upper", &s, &h), Some(3.0));
    assert_eq!(read("lower", &s, &h), Some(1.0));
    assert_eq!(read("count", &s, &h), Some(3.0));
    assert_eq!(read("sum", &s, &h), Some(6.0));
    assert_eq!(read("sum_squares", &s, &h), Some(14.0));
    assert_eq!(read("mean", &s, &h), Some(2.0));
    assert_eq!(read("median", &s, &h), Some(2.0));
    assert_eq!(read("std", &s, &h), Some((2.0f64 / 3.0).sqrt()));
    assert_eq!(read("count_ps", &s, &h), Some(0.3));
    assert_eq!(read("rate", &s, &h), Some(0.6));
    // 80 % of 3 rounds to 2: the lowest two.
    assert_eq!(read("upper_80", &s, &h), Some(2.0));
    assert_eq!(read("mean_80", &s, &h), Some(1.5));
    assert_eq!(read("sum_80", &s, &h), Some(3.0));
    assert_eq!(read("count_80", &s, &h), Some(2.0));
    assert_eq!(read("sum_squares_80", &s, &h), Some(5.0));
    // The top 80 %: the highest two.
    assert_eq!(read("lower_top80", &s, &h), Some(2.0));
    assert_eq!(read("sum_top80", &s, &h), Some(5.0));
    // 10 % of 3 rounds to 0: Etsy writes nothing.
    assert_eq!(read("upper_10", &s, &h), None);
    // An even count: the median is the mean of the middle two.
    let (s, h) = interval(&[4.0, 1.0, 3.0, 2.0], 100);
    assert_eq!(read("median", &s, &h), Some(2.5));
    // One sample: every threshold holds it.
    let (s, h) = interval(&[7.0], 100);
    assert_eq!(read("upper_90", &s, &h), Some(7.0));
    assert_eq!(read("mean_10", &s, &h), Some(7.0));
}

#[test]
fn past_the_bound_the_sketch_answers_within_accuracy() {
    let vs: Vec<f64> = (1..=1000).map(f64::from).collect();
    let (s, exact) = interval(&vs, 10_000);
    let (s2, approx) = interval(&vs, 10);
    assert!(approx.overflowed && approx.raw.is_empty());
    assert_eq!(s, s2);
    for stat in [
        "upper_90",
        "mean_90",
        "sum_90",
        "median",
        "std",
        "p99",
        "p50",
        "lower_top10",
    ] {
        let want = read(stat, &s, &exact).unwrap();
        let got = read(stat, &s2, &approx).unwrap();
        assert!(
            (got - want).abs() <= 0.01 * want.abs(),
            "{stat}: {got} vs {want}"
        );
    }
    assert_eq!(read("count_90", &s2, &approx), Some(900.0));
    assert_eq!(
        read("sum_squares", &s2, &approx),
        read("sum_squares", &s, &exact)
    );
}

/// Issue 15: a sampled timer's samples count `1 / rate` in `count` and `count_ps`
/// (Etsy's `timer_counters`), once in everything else; merges sum the weights and
/// keep an interval's other exact stats only while the other side is empty.
#[test]
fn weighed_counts_and_exact_stats_merge_as_documented() {
    let mut h = IntervalHist::default();
    let mut s = Stats::EMPTY;
    for (v, w) in [(3.0, None), (1.0, Some(1.0 / 0.3)), (2.0, None)] {
        s.add(v, true);
        match w {
            Some(w) => h.add_weighted(v, w, 100),
            None => h.add(v, 100),
        }
    }
    let want = 1.0 + 1.0 / 0.3 + 1.0;
    assert_eq!(read("count", &s, &h), Some(want));
    assert_eq!(read("count_ps", &s, &h), Some(want / 10.0));
    assert_eq!(read("count_90", &s, &h), Some(3.0));
    assert_eq!(read("mean", &s, &h), Some(2.0));
    // An interval's Etsy statistics, kept where the sketch would answer otherwise.
    let exact = exact_stats(&s, &h.hist, h.complete_raw().unwrap(), &[90_000], &[]).unwrap();
    assert_eq!(exact[0], (Stat::Count, want));
    assert!(exact.contains(&(Stat::Median, 2.0)));
    assert!(
        !exact
            .iter()
            .any(|e| e.0 == Stat::Threshold(ThresholdStat::Count, 90_000))
    );
    let mut closed = h.hist.clone();
    closed.exact = Some(exact.clone());
    let mut buf = Vec::new();
    encode_exact(&exact, &mut buf);
    assert_eq!(buf.len(), 1 + 13 * exact.len());
    assert_eq!(
        decode_exact(&mut buf.as_slice()).as_deref(),
        Some(&exact[..])
    );
    let src = StatSource {
        stats: &s,
        hist: Some(&closed),
        raw: None,
        secs: Some(10.0),
    };
    assert_eq!(eval_stat(Stat::Median, &src), Some(2.0));
    // Into an empty histogram (a rollup bucket of one interval): all kept.
    let mut bucket = Hist::default();
    bucket.merge(&closed);
    assert_eq!(bucket.exact, closed.exact);
    // Two intervals: the weights summed, the rest from the sketch.
    bucket.merge(&closed);
    assert_eq!(
        bucket.exact.as_deref(),
        Some(&[(Stat::Count, 2.0 * want)][..])
    );
    // Etsy's bins: below 1.5, then below 2.5, then the rest (`inf`).
    let bins = [Some(1500), Some(2500), None];
    let e = exact_stats(&s, &h.hist, h.complete_raw().unwrap(), &[], &bins).unwrap();
    let got: Vec<_> = e.iter().filter(|x| matches!(x.0, Stat::Bin(_))).collect();
    assert_eq!(
        got,
        [
            &(Stat::Bin(Some(1500)), 1.0),
            &(Stat::Bin(Some(2500)), 1.0),
            &(Stat::Bin(None), 1.0)
        ]
    );
    // Two intervals' bins add up (a bin counts samples); an interval without them
    // (past the raw bound) leaves them unknown. (Before: dropped on any merge.)
    let with_bins = Hist {
        exact: Some(e.clone()),
        ..h.hist.clone()
    };
    let mut two = with_bins.clone();
    two.merge(&with_bins);
    for &(stat, v) in got {
        assert_eq!(two.exact_value(stat), Some(2.0 * v), "{stat}");
    }
    assert_eq!(two.exact_value(Stat::Median), None);
    two.merge(&h.hist);
    assert_eq!(two.exact_value(Stat::Bin(None)), None);
    // Past a last finite bound, values are in no bin.
    let e = exact_stats(&s, &h.hist, h.complete_raw().unwrap(), &[], &[Some(2000)]).unwrap();
    assert!(e.contains(&(Stat::Bin(Some(2000)), 1.0)));
    // A histogram never weighed keeps none.
    let mut plain = Hist::default();
    plain.add(1.0);
    plain.merge(&plain.clone());
    assert_eq!(plain.exact, None);
}

#[test]
fn a_leaf_without_a_sketch_answers_only_what_its_stats_hold() {
    let s = Stats::one(4.0);
    let src = StatSource {
        stats: &s,
        hist: None,
        raw: None,
        secs: None,
    };
    let stats = treestat_model::parse_stats("mean,max,p99,count_ps,upper").unwrap();
    assert_eq!(
        eval_stats(&stats, &src),
        [Some(4.0), Some(4.0), None, None, Some(4.0)]
    );
}
