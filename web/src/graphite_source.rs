//! The data behind the Graphite API: treestat paths found by Graphite queries, and
//! their points from the trend store plus the engine's ring of recent closed
//! intervals that the store has not persisted yet (so "last 5 minutes" is live).

use std::collections::{BTreeMap, BTreeSet};

use crate::graphite_fold::{Range, RingValues, fill_ring, place, read_rows, read_threads};
use crate::graphite_split::fold_spans;
use treestat_engine::trend::TrendStore;
use treestat_engine::{Action, Engine};
use treestat_graphite::args::{Folded, Row};
use treestat_graphite::funcs::{AggFn, ColumnFold};
use treestat_graphite::names::{NodeGlob, compile_query, name_of_path, path_matches};
use treestat_graphite::{Error, Series, Source, align};

/// Reads the store and the ring of one server.
pub(crate) struct TreeSource {
    pub(crate) store: Option<TrendStore>,
    pub(crate) engine: Engine,
}

/// The treestat pattern that selects (at least) every path a Graphite query can match:
/// a literal node stays literal when it is shown as itself, every other node is `*`.
pub(crate) fn coarse_pattern(nodes: &[NodeGlob]) -> String {
    nodes
        .iter()
        .map(|n| match n.literal() {
            Some(l)
                if !l.contains(['_', '%', '|', '*', '?'])
                    && l != "**"
                    && treestat_engine::path::check_key(l).is_ok() =>
            {
                l.to_string()
            }
            _ => "*".to_string(),
        })
        .collect::<Vec<_>>()
        .join(",")
}

impl TreeSource {
    /// Every known path (store and tree) under the query's first `nodes.len()` levels,
    /// at any depth from there.
    pub(crate) fn candidates(&self, nodes: &[NodeGlob]) -> Result<BTreeSet<String>, Error> {
        let pattern = coarse_pattern(nodes);
        let mut out = BTreeSet::new();
        if let Some(store) = &self.store {
            out.extend(
                store
                    .paths(&pattern)
                    .map_err(|e| Error::bad_request(e.to_string()))?,
            );
        }
        let live = self
            .engine
            .query(&pattern)
            .map_err(|e| Error::bad_request(e.to_string()))?;
        out.extend(live.into_iter().map(|(p, _)| p));
        Ok(out)
    }

    /// The paths that match a query exactly (one key per node).
    pub(crate) fn matching(&self, nodes: &[NodeGlob]) -> Result<Vec<String>, Error> {
        Ok(self
            .candidates(nodes)?
            .into_iter()
            .filter(|p| {
                let keys: Vec<&str> = p.split(',').collect();
                path_matches(nodes, &keys)
            })
            .collect())
    }

    fn step_at(&self, from: i64) -> i64 {
        self.store
            .as_ref()
            .map_or_else(|| self.engine.interval_secs(), |s| s.step_at(from))
            .max(1)
    }
}

/// Fills each path's slots from the store, the paths split between up to four threads
/// (a store read is decoding, CPU work). The store reads at the step of the archive
/// that holds `start`; `step` came from the same choice.
fn read_store(
    store: &TrendStore,
    start: i64,
    end: i64,
    step: i64,
    values: &mut BTreeMap<&str, Vec<Option<f64>>>,
) -> Result<(), Error> {
    let threads = read_threads(values.len());
    let per = values.len().div_ceil(threads).max(1);
    let mut rows: Vec<(&str, &mut Vec<Option<f64>>)> =
        values.iter_mut().map(|(p, v)| (*p, v)).collect();
    let read = |part: &mut [(&str, &mut Vec<Option<f64>>)]| -> Result<(), Error> {
        let paths: Vec<&str> = part.iter().map(|(p, _)| *p).collect();
        store
            .for_each_run(&paths, start, end, |i, times, values| {
                let row = &mut part[i].1;
                let range = Range {
                    start,
                    end,
                    step,
                    n: row.len(),
                };
                place(range, times, values, |slot, xs| {
                    for (v, &x) in row[slot..slot + xs.len()].iter_mut().zip(xs) {
                        *v = Some(x);
                    }
                });
            })
            .map_err(|e| Error::internal(e.to_string()))?;
        Ok(())
    };
    if threads == 1 {
        return read(&mut rows);
    }
    std::thread::scope(|scope| {
        let handles: Vec<_> = rows
            .chunks_mut(per)
            .map(|part| scope.spawn(|| read(part)))
            .collect();
        handles.into_iter().try_for_each(|h| {
            h.join()
                .unwrap_or_else(|_| Err(Error::internal("a store read panicked")))
        })
    })
}

/// Folds ring values that share a bucket as the leaf's action does.
fn fold(action: Action, vals: &[f64]) -> f64 {
    match action {
        Action::Add => vals.iter().sum(),
        Action::Max => vals.iter().copied().fold(f64::NEG_INFINITY, f64::max),
        Action::Min => vals.iter().copied().fold(f64::INFINITY, f64::min),
        Action::Last => vals[vals.len() - 1],
        Action::Average | Action::Histogram => {
            #[allow(clippy::cast_precision_loss)] // a handful of intervals
            let n = vals.len() as f64;
            vals.iter().sum::<f64>() / n
        }
    }
}

impl TreeSource {
    fn ring_values(
        &self,
        nodes: &[NodeGlob],
        (start, end, step): (i64, i64, i64),
        persisted: i64,
    ) -> Result<RingValues, Error> {
        let recent = self
            .engine
            .recent_series(&coarse_pattern(nodes))
            .map_err(|e| Error::bad_request(e.to_string()))?;
        let mut out = RingValues::new();
        for (path, pts) in recent {
            let mut buckets: BTreeMap<usize, Vec<f64>> = BTreeMap::new();
            for (t, x) in pts {
                let b = t.div_euclid(step) * step;
                if t >= persisted && x.is_finite() && b >= start && b < end {
                    let i = usize::try_from((b - start) / step).unwrap_or(usize::MAX);
                    buckets.entry(i).or_default().push(x);
                }
            }
            if buckets.is_empty() {
                continue;
            }
            let action = self.engine.leaf_at(&path).map_or(Action::Average, |l| l.1);
            let folded = buckets
                .into_iter()
                .map(|(i, vals)| (i, fold(action, &vals)))
                .collect();
            out.insert(path, folded);
        }
        Ok(out)
    }

    /// Where the store's points end and the ring's begin. Read before the store is: an
    /// interval persisted during the read is then taken from the ring (which only
    /// fills slots the store left empty) rather than from neither.
    fn persisted(&self) -> i64 {
        self.store
            .as_ref()
            .and_then(TrendStore::persisted_through)
            .unwrap_or(i64::MIN)
    }
}

impl Source for TreeSource {
    fn fetch(&self, query: &str, from: i64, until: i64) -> Result<Vec<Series>, Error> {
        let nodes = compile_query(query)?;
        let paths = self.matching(&nodes)?;
        if paths.is_empty() {
            return Ok(Vec::new());
        }
        let step = self.step_at(from);
        let (start, end) = align(from, until, step);
        let n = usize::try_from((end - start) / step).unwrap_or(0);
        let mut values: BTreeMap<&str, Vec<Option<f64>>> =
            paths.iter().map(|p| (p.as_str(), vec![None; n])).collect();
        let persisted = self.persisted();
        if let Some(store) = &self.store {
            read_store(store, start, end, step, &mut values)?;
        }
        let ring = self.ring_values(&nodes, (start, end, step), persisted)?;
        for (path, v) in &mut values {
            fill_ring(v, ring.get(*path));
        }
        Ok(values
            .into_iter()
            .map(|(p, v)| Series::new(&name_of_path(p), start, step, v))
            .collect())
    }

    fn fetch_folded(
        &self,
        query: &str,
        from: i64,
        until: i64,
        f: AggFn,
    ) -> Result<Option<Folded>, Error> {
        let Some(read) = self.ordered(query, from, until)? else {
            return Ok(None);
        };
        let Some(mut fold) = ColumnFold::new(f, read.range.n).filter(|_| read.order.len() >= 2)
        else {
            return Ok(None);
        };
        let values = match &self.store {
            Some(store) => {
                let ring = self.ring_of(&read)?;
                let order: Vec<&str> = read.order.iter().map(String::as_str).collect();
                let threads = read_threads(order.len());
                fold_spans(store, read.range, &order, &ring, f, threads)?
            }
            None => {
                self.read_ordered(&read, |_, row| fold.add_nan_gaps(row))?;
                fold.finish()
            }
        };
        Ok(Some(Folded {
            start: read.range.start,
            step: read.range.step,
            values,
        }))
    }

    fn stream(
        &self,
        query: &str,
        from: i64,
        until: i64,
        each: &mut dyn FnMut(Row<'_>),
    ) -> Result<bool, Error> {
        let Some(read) = self.ordered(query, from, until)? else {
            return Ok(false);
        };
        let Range { start, step, .. } = read.range;
        self.read_ordered(&read, |k, values| {
            each(Row {
                name: &read.names[k],
                start,
                step,
                values,
            });
        })?;
        Ok(true)
    }
}

/// The series of a query in the evaluator's order, and the range they are read over.
struct Ordered {
    nodes: Vec<NodeGlob>,
    range: Range,
    /// Their names, sorted.
    names: Vec<String>,
    /// Their paths, in the same order.
    order: Vec<String>,
}

impl TreeSource {
    /// What [`TreeSource::read_ordered`] reads for a query: its series ordered by name
    /// as the evaluator orders them. `None` when two paths have one name (`a.b` and
    /// `a_b` are both `a_b`): the plain fetch deals with that.
    fn ordered(&self, query: &str, from: i64, until: i64) -> Result<Option<Ordered>, Error> {
        let nodes = compile_query(query)?;
        let paths = self.matching(&nodes)?;
        let step = self.step_at(from);
        let (start, end) = align(from, until, step);
        let n = usize::try_from((end - start) / step).unwrap_or(0);
        let mut named: Vec<(String, String)> =
            paths.into_iter().map(|p| (name_of_path(&p), p)).collect();
        named.sort_by(|a, b| a.0.cmp(&b.0));
        if named.windows(2).any(|w| w[0].0 == w[1].0) {
            return Ok(None);
        }
        let (names, order) = named.into_iter().unzip();
        Ok(Some(Ordered {
            nodes,
            range: Range {
                start,
                end,
                step,
                n,
            },
            names,
            order,
        }))
    }

    /// The ring's values of the series of `read`: what the store does not hold yet.
    fn ring_of(&self, read: &Ordered) -> Result<RingValues, Error> {
        let Range {
            start, end, step, ..
        } = read.range;
        self.ring_values(&read.nodes, (start, end, step), self.persisted())
    }

    /// Hands each series of `read` to `each(k, row)` in order: its slots from the
    /// store, then the ring's, NaN where neither has a value.
    fn read_ordered(
        &self,
        read: &Ordered,
        mut each: impl FnMut(usize, &[f64]),
    ) -> Result<(), Error> {
        let ring = self.ring_of(read)?;
        let n = read.range.n;
        let order: Vec<&str> = read.order.iter().map(String::as_str).collect();
        match &self.store {
            Some(store) => read_rows(store, read.range, &order, &ring, each),
            None => {
                let mut slots = vec![None; n];
                let mut row = vec![f64::NAN; n];
                for (k, p) in order.iter().enumerate() {
                    slots.fill(None);
                    fill_ring(&mut slots, ring.get(*p));
                    for (x, v) in row.iter_mut().zip(&slots) {
                        *x = v.unwrap_or(f64::NAN);
                    }
                    each(k, &row);
                }
                Ok(())
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use treestat_engine::trend::{Format, Retention, TrendConfig, TrendStore};
    use treestat_engine::{Action, Engine, EngineConfig, ManualClock};
    use treestat_graphite::Source;
    use treestat_graphite::funcs::{AggFn, fold_rows};

    use super::TreeSource;
    use crate::graphite_split::fold_spans;

    const NOW: i64 = 1_796_000_040;

    /// 150 series (so two readers or more where the machine has the cores) of an hour
    /// at 10 s, with fractions (so an order of adding that differed would show), gaps,
    /// a series the store lacks, and a closed interval in the ring only.
    fn source(dir: &std::path::Path) -> TreeSource {
        let mut lines = String::new();
        for i in 0..150u32 {
            for k in 1..360u32 {
                if (i + k) % 7 == 0 || (i == 3 && k < 200) {
                    continue;
                }
                let t = NOW - 3600 + i64::from(k) * 10;
                let v = f64::from(i) * 0.1 + f64::from(k) * 0.37 - f64::from(i * k % 11) / 3.0;
                lines.push_str(&format!("[\"f,{i},x\",{t},{v}]\n"));
            }
        }
        source_of(dir, &lines, br#"{"f":{"7":{"x":1.25},"200":{"x":-2.5}}}"#)
    }

    /// A store at 10 s for 30 days holding the NDJSON `lines` (averages), and an
    /// engine whose ring holds one closed interval at NOW of `ring` (a JSON tree) that
    /// the store does not.
    fn source_of(dir: &std::path::Path, lines: &str, ring: &[u8]) -> TreeSource {
        let cfg = TrendConfig {
            retention: Retention::parse("10s:30d").unwrap(),
            ..TrendConfig::default()
        };
        let store = TrendStore::open(dir, &cfg).unwrap();
        let clock = Arc::new(ManualClock::new(NOW));
        let engine = Engine::with_clock(EngineConfig::default(), clock.clone()).unwrap();
        store
            .import(lines.as_bytes(), Format::Ndjson, Action::Average)
            .unwrap();
        // Not attached: the ring's interval stays out of the store.
        engine.push_json(ring).unwrap();
        clock.advance(engine.interval_secs());
        engine.close_now();
        TreeSource {
            store: Some(store),
            engine,
        }
    }

    /// The functions folded by column.
    const COLUMN_FOLDS: [AggFn; 6] = [
        AggFn::Sum,
        AggFn::Average,
        AggFn::Min,
        AggFn::Max,
        AggFn::Count,
        AggFn::Last,
    ];

    fn bits(v: &[Option<f64>]) -> Vec<Option<u64>> {
        v.iter().map(|x| x.map(f64::to_bits)).collect()
    }

    #[test]
    fn folding_while_reading_equals_folding_the_fetched_list_bit_for_bit() {
        let dir = tempfile::tempdir().unwrap();
        let src = source(dir.path());
        let (from, until) = (NOW - 3600, NOW + 60);
        let mut list = src.fetch("f.*.x", from, until).unwrap();
        list.sort_by(|a, b| a.name.cmp(&b.name));
        assert_eq!(list.len(), 151);
        for f in COLUMN_FOLDS {
            let folded = src.fetch_folded("f.*.x", from, until, f).unwrap().unwrap();
            assert_eq!((folded.start, folded.step), (list[0].start, list[0].step));
            let want = fold_rows(&list, f);
            assert_eq!(bits(&folded.values), bits(&want), "{f:?}");
        }
        // The ring's interval (the store ends before it) is in it, with the series
        // only the ring holds.
        let sum = src
            .fetch_folded("f.*.x", from, until, AggFn::Sum)
            .unwrap()
            .unwrap();
        let at = usize::try_from((NOW - sum.start) / sum.step).unwrap();
        assert_eq!(sum.values[at], Some(1.25 - 2.5));
        assert_eq!(sum.values[at - 1].map(f64::is_finite), Some(true));
        // Fewer than two series, or a function that does not fold by column: the
        // evaluator fetches and folds.
        assert!(
            src.fetch_folded("f.7.x", from, until, AggFn::Sum)
                .unwrap()
                .is_none()
        );
        assert!(
            src.fetch_folded("f.*.x", from, until, AggFn::Median)
                .unwrap()
                .is_none()
        );
    }

    /// Folding by spans of time, with one thread to five, equals folding the fetched
    /// list bit for bit: over 12 series of 9 hours at 10 s (five chunks each) with
    /// fractions, gaps and the ring's interval (where the store also has a value of
    /// one series), for ranges that start and end inside
    /// chunks, lie inside one chunk, or begin before the data.
    #[test]
    fn folding_by_spans_equals_folding_the_fetched_list() {
        let dir = tempfile::tempdir().unwrap();
        let mut lines = String::new();
        for i in 0..12u32 {
            for k in 0..3240u32 {
                if (i * 31 + k) % 13 == 0 || (i == 5 && (1000..1900).contains(&k)) {
                    continue;
                }
                let t = NOW - 9 * 3600 + i64::from(k) * 10;
                let v = f64::from(k) * 0.1 + f64::from(i) / 3.0 - f64::from(k % 7) * 1.7;
                lines.push_str(&format!("[\"g,{i},x\",{t},{v}]\n"));
            }
        }
        // The store and the ring both hold `g.3.x` at NOW: the store's value is kept.
        lines.push_str(&format!("[\"g,3,x\",{NOW},4.0]\n"));
        let src = source_of(
            dir.path(),
            &lines,
            br#"{"g":{"3":{"x":0.5},"99":{"x":7.25}}}"#,
        );
        let store = src.store.as_ref().unwrap();
        let ranges = [
            (NOW - 9 * 3600, NOW + 60),
            (NOW - 5 * 3600 - 35, NOW - 3600 + 17),
            (NOW - 1800, NOW + 60),
            (NOW - 12 * 3600, NOW - 8 * 3600),
        ];
        for (from, until) in ranges {
            let mut list = src.fetch("g.*.x", from, until).unwrap();
            list.sort_by(|a, b| a.name.cmp(&b.name));
            assert_eq!(list.len(), 13);
            let read = src.ordered("g.*.x", from, until).unwrap().unwrap();
            let ring = src.ring_of(&read).unwrap();
            let order: Vec<&str> = read.order.iter().map(String::as_str).collect();
            for f in COLUMN_FOLDS {
                let want = bits(&fold_rows(&list, f));
                for threads in 1..=5 {
                    let got = fold_spans(store, read.range, &order, &ring, f, threads).unwrap();
                    assert_eq!(bits(&got), want, "{f:?} {from}..{until} {threads}");
                }
            }
        }
    }

    /// Streaming hands over the fetched list, sorted by name, row by row: the same
    /// names, range and values bit for bit (NaN for none), the ring's interval and
    /// the series only the ring holds included. 150 series take more than one batch
    /// of rows per reader.
    #[test]
    fn streaming_hands_over_the_fetched_list_in_order() {
        let dir = tempfile::tempdir().unwrap();
        let src = source(dir.path());
        let (from, until) = (NOW - 3600, NOW + 60);
        let mut list = src.fetch("f.*.x", from, until).unwrap();
        list.sort_by(|a, b| a.name.cmp(&b.name));
        let mut rows = Vec::new();
        let streamed = src
            .stream("f.*.x", from, until, &mut |r| {
                let values: Vec<Option<u64>> = r
                    .values
                    .iter()
                    .map(|x| (!x.is_nan()).then(|| x.to_bits()))
                    .collect();
                rows.push((r.name.to_string(), r.start, r.step, values));
            })
            .unwrap();
        assert!(streamed);
        let want: Vec<_> = list
            .iter()
            .map(|s| {
                let values: Vec<Option<u64>> =
                    s.values.iter().map(|x| x.map(f64::to_bits)).collect();
                (s.name.clone(), s.start, s.step, values)
            })
            .collect();
        assert_eq!(rows.len(), 151);
        assert_eq!(rows, want);
        assert!(rows.iter().any(|r| r.0 == "f.200.x"));
    }
}
