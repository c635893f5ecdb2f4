//! The trend store against a model (sled's model tests are the pattern): random
//! pushes, interval closes and skips on a manual clock, compactions, reopen steps
//! (drop the store and the engine, reopen from the same directory, restore the tree)
//! and queries, each checked against a `BTreeMap` of what closed. Rollups must equal
//! the model's for add, average (weighted by count), max, min and last, in every
//! archive, and the restored totals must equal the model's; the value reader
//! (`TrendStore::for_each_value`) must answer the same points as the series read.

use std::collections::BTreeMap;
use std::sync::Arc;

use proptest::prelude::*;
use treestat_engine::trend::{Retention, TrendConfig, TrendStore};
use treestat_engine::{Action, Batch, Clock, Engine, EngineConfig, ManualClock, Stats};

const T0: i64 = 1_699_999_200; // a multiple of 3600
const LEN: i64 = 10;
const RETENTION: &str = "10s:2m,30s:10m,2m:1h";

const LEAVES: [(&str, Action); 5] = [
    ("s,add", Action::Add),
    ("s,avg", Action::Average),
    ("s,max", Action::Max),
    ("s,min", Action::Min),
    ("s,last", Action::Last),
];

#[derive(Debug, Clone)]
enum Step {
    Push(usize, i32),
    Close,
    Skip(i64),
    Compact(bool),
    Reopen,
    Query {
        leaf: Option<usize>,
        back: i64,
        len: i64,
        points: usize,
    },
}

fn step() -> impl Strategy<Value = Step> {
    prop_oneof![
        8 => (0..LEAVES.len(), -50i32..50).prop_map(|(l, v)| Step::Push(l, v)),
        4 => Just(Step::Close),
        1 => (2i64..40).prop_map(Step::Skip),
        1 => any::<bool>().prop_map(Step::Compact),
        1 => Just(Step::Reopen),
        2 => (proptest::option::of(0..LEAVES.len()), 0i64..5000, 1i64..5000, 0usize..12)
            .prop_map(|(leaf, back, len, points)| Step::Query { leaf, back, len, points }),
    ]
}

/// What closed, per leaf and interval start; what is pending in the open interval.
#[derive(Default)]
struct Model {
    closed: BTreeMap<(usize, i64), Stats>,
    pending: Vec<(usize, f64)>,
    open: i64,
    newest: Option<i64>,
}

impl Model {
    fn close(&mut self, next_open: i64) {
        for (l, v) in self.pending.drain(..) {
            self.closed
                .entry((l, self.open))
                .or_insert(Stats::EMPTY)
                .add(v, true);
        }
        self.newest = Some(self.open + LEN);
        self.open = next_open;
    }

    fn totals(&self, leaf: usize) -> Option<Stats> {
        let mut s = Stats::EMPTY;
        for ((_, _), st) in self.closed.range((leaf, i64::MIN)..=(leaf, i64::MAX)) {
            s.merge(st);
        }
        (s.count > 0).then_some(s)
    }

    /// The series a query must return, folded by action as docs/API.md's `GET /trend`
    /// says.
    fn query(
        &self,
        leaf: Option<usize>,
        from: i64,
        until: i64,
        points: usize,
    ) -> Vec<(String, Vec<(i64, f64)>)> {
        let Some(newest) = self.newest else {
            return Vec::new();
        };
        // An attached store measures retention against the engine's clock (issue #12),
        // which stands at the open interval's start here; data never runs ahead of it.
        let now = newest.max(self.open);
        let retention = Retention::parse(RETENTION).unwrap();
        let archives = retention.archives();
        let a = archives
            .iter()
            .find(|a| now - a.span <= from)
            .unwrap_or(&archives[archives.len() - 1]);
        let keep_from = now - a.span;
        let first = from.max(keep_from).div_euclid(a.step) * a.step;
        let n = (until - first + a.step - 1) / a.step;
        let p = i64::try_from(points).unwrap();
        let buckets = |w: i64| (until - 1).div_euclid(w) - first.div_euclid(w) + 1;
        let mut out_step = a.step;
        if p > 0 && n > p {
            // The smallest multiple of the step whose aligned buckets number <= p.
            while buckets(out_step) > p {
                out_step += a.step;
            }
        }
        let mut out = Vec::new();
        let mut order: Vec<usize> = (0..LEAVES.len())
            .filter(|&l| leaf.is_none_or(|x| x == l))
            .collect();
        order.sort_by_key(|&l| LEAVES[l].0);
        for l in order {
            let action = LEAVES[l].1;
            // bucket -> [(interval start, stats)] in time order
            let mut buckets: BTreeMap<i64, Vec<(i64, Stats)>> = BTreeMap::new();
            for (&(_, start), st) in self.closed.range((l, i64::MIN)..=(l, i64::MAX)) {
                let b = start.div_euclid(a.step) * a.step;
                if b < first || b >= until || b + a.step <= keep_from {
                    continue;
                }
                buckets
                    .entry(b.div_euclid(out_step) * out_step)
                    .or_default()
                    .push((start, *st));
            }
            if buckets.is_empty() {
                continue;
            }
            let pts = buckets
                .into_iter()
                .map(|(b, list)| {
                    let mut s = Stats::EMPTY;
                    for (_, st) in &list {
                        s.merge(st);
                    }
                    let v = match action {
                        Action::Add => s.sum,
                        Action::Average | Action::Histogram => {
                            s.sum / f64::from(u32::try_from(s.count).unwrap())
                        }
                        Action::Max => s.max,
                        Action::Min => s.min,
                        Action::Last => list.last().unwrap().1.last,
                    };
                    (b, v)
                })
                .collect();
            out.push((LEAVES[l].0.to_string(), pts));
        }
        out
    }
}

struct Live {
    engine: Engine,
    store: TrendStore,
}

fn open(dir: &std::path::Path, clock: &Arc<ManualClock>) -> Live {
    let cfg = TrendConfig {
        retention: Retention::parse(RETENTION).unwrap(),
        compact_after: std::time::Duration::from_secs(30),
        // The background compactor stays out of the way; the steps compact.
        compact_every: std::time::Duration::from_secs(3600),
        // Hundreds of intervals close back to back: a queue that holds them all (a
        // full queue drops intervals from the store rather than wait).
        queue: 4096,
        ..TrendConfig::default()
    };
    let store = TrendStore::open(dir, &cfg).unwrap();
    let engine = Engine::with_clock(EngineConfig::default(), clock.clone()).unwrap();
    store.restore_into(&engine).unwrap();
    store.attach(&engine);
    Live { engine, store }
}

fn run(steps: Vec<Step>) -> Result<(), TestCaseError> {
    let dir = tempfile::tempdir().unwrap();
    let clock = Arc::new(ManualClock::new(T0));
    let mut live = open(dir.path(), &clock);
    let mut model = Model {
        open: T0,
        ..Model::default()
    };
    for st in steps {
        match st {
            Step::Push(l, v) => {
                let mut b = Batch::new();
                b.sample(LEAVES[l].0, f64::from(v), Some(LEAVES[l].1));
                live.engine.apply(&b).unwrap();
                model.pending.push((l, f64::from(v)));
            }
            Step::Close | Step::Skip(_) => {
                let by = if let Step::Skip(k) = st { k * LEN } else { LEN };
                clock.advance(by);
                live.engine.close_due().unwrap();
                model.close(clock.now());
            }
            Step::Compact(all) => {
                live.store.sync().unwrap();
                if all {
                    live.store.compact_all().unwrap();
                } else {
                    live.store.compact_now().unwrap();
                }
            }
            Step::Reopen => {
                drop(live);
                model.pending.clear();
                live = open(dir.path(), &clock);
                for (l, (path, _)) in LEAVES.iter().enumerate() {
                    let got = live
                        .engine
                        .leaf_at(path)
                        .map(|(_, _, s)| (s.sum, s.count, s.min, s.max, s.last));
                    let want = model
                        .totals(l)
                        .map(|s| (s.sum, s.count, s.min, s.max, s.last));
                    prop_assert_eq!(got, want, "restored totals of {}", path);
                }
            }
            Step::Query {
                leaf,
                back,
                len,
                points,
            } => {
                live.store.sync().unwrap();
                let Some(newest) = model.newest else { continue };
                let from = newest - back;
                let until = from + len;
                let pattern = leaf.map_or("", |l| LEAVES[l].0);
                let got: Vec<(String, Vec<(i64, f64)>)> = live
                    .store
                    .series(pattern, from, until, points)
                    .unwrap()
                    .into_iter()
                    .map(|s| (s.path, s.points))
                    .collect();
                let want = model.query(leaf, from, until, points);
                if points == 0 {
                    // The value reader of the Graphite API answers the same points.
                    let paths: Vec<&str> = LEAVES
                        .iter()
                        .enumerate()
                        .filter(|(i, _)| leaf.is_none_or(|l| l == *i))
                        .map(|(_, l)| l.0)
                        .collect();
                    let mut by_path: BTreeMap<String, Vec<(i64, f64)>> = BTreeMap::new();
                    live.store
                        .for_each_value(&paths, from, until, |i, t, x| {
                            by_path
                                .entry(paths[i].to_string())
                                .or_default()
                                .push((t, x));
                        })
                        .unwrap();
                    let mut sorted = want.clone();
                    sorted.sort_by(|a, b| a.0.cmp(&b.0));
                    prop_assert_eq!(
                        by_path.into_iter().collect::<Vec<_>>(),
                        sorted,
                        "values {:?} {}..{}",
                        pattern,
                        from,
                        until
                    );
                }
                prop_assert_eq!(
                    got,
                    want,
                    "query {:?} {}..{} points {}",
                    pattern,
                    from,
                    until,
                    points
                );
            }
        }
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 96, ..ProptestConfig::default() })]

    #[test]
    fn store_matches_the_model(steps in proptest::collection::vec(step(), 1..80)) {
        run(steps)?;
    }
}

#[test]
fn a_long_run_through_every_archive_matches_the_model() {
    // Two hours of 10 s intervals: every archive fills and expires at least once.
    let mut steps = Vec::new();
    for i in 0..720i32 {
        let leaf = |n: i32| usize::try_from(n % 5).unwrap();
        steps.push(Step::Push(leaf(i), i % 37 - 18));
        steps.push(Step::Push(leaf(i * 7), i % 11));
        steps.push(Step::Close);
        if i % 90 == 89 {
            steps.push(Step::Compact(false));
        }
        if i == 400 {
            steps.push(Step::Reopen);
        }
    }
    for back in [60, 500, 3000, 7000] {
        steps.push(Step::Query {
            leaf: None,
            back,
            len: back,
            points: 0,
        });
        steps.push(Step::Query {
            leaf: None,
            back,
            len: back,
            points: 7,
        });
    }
    run(steps).unwrap();
}
