//! Functions that pick, order or rename series, and the renderer's options.

use std::collections::BinaryHeap;

use regex::Regex;

use super::agg::AggFn;
use crate::Error;
use crate::args::{Args, agg_key};
use crate::expr::Expr;
use crate::series::{Series, fmt_g};

pub(super) fn call(name: &str, a: &Args<'_>) -> Option<Result<Vec<Series>, Error>> {
    Some(match name {
        "removeBelowValue" => remove(a, "removeBelowValue", |v, n| v < n),
        "removeAboveValue" => remove(a, "removeAboveValue", |v, n| v > n),
        "highestCurrent" => pick(a, AggFn::Last, true),
        "highestAverage" => pick(a, AggFn::Average, true),
        "highestMax" => pick(a, AggFn::Max, true),
        "lowestCurrent" => pick(a, AggFn::Last, false),
        "lowestAverage" => pick(a, AggFn::Average, false),
        "limit" => (|| {
            let n = usize::try_from(a.int(1, "n")?.max(0)).unwrap_or(0);
            let mut l = a.series(0, "seriesList")?;
            l.truncate(n);
            Ok(l)
        })(),
        "sortByName" => (|| {
            let natural = a.boolean(1, "natural", false)?;
            let reverse = a.boolean(2, "reverse", false)?;
            let mut l = a.series(0, "seriesList")?;
            let key = |s: &Series| {
                if natural {
                    natural_key(&s.name)
                } else {
                    s.name.clone()
                }
            };
            l.sort_by(|x, y| {
                let o = key(x).cmp(&key(y));
                if reverse { o.reverse() } else { o }
            });
            Ok(l)
        })(),
        "sortByMaxima" => sort_by(a, AggFn::Max),
        "sortByTotal" => sort_by(a, AggFn::Sum),
        "exclude" | "grep" => (|| {
            let re = regex(&a.string(1, "pattern")?)?;
            let keep = name == "grep";
            let mut l = a.series(0, "seriesList")?;
            l.retain(|s| re.is_match(&s.name) == keep);
            Ok(l)
        })(),
        "alias" => (|| {
            let new = a.string(1, "newName")?;
            let mut l = a.series(0, "seriesList")?;
            l.iter_mut().for_each(|s| s.name.clone_from(&new));
            Ok(l)
        })(),
        "aliasByNode" => (|| {
            let nodes = a.nodes(1)?;
            let mut l = a.series(0, "seriesList")?;
            l.iter_mut().for_each(|s| s.name = agg_key(s, &nodes));
            Ok(l)
        })(),
        "aliasByMetric" => (|| {
            let mut l = a.series(0, "seriesList")?;
            for s in &mut l {
                let left = s.name.rfind('(').map_or(0, |i| i + 1);
                let right = s.name[left..].find(')').map_or(s.name.len(), |i| left + i);
                let clean = &s.name[left..right];
                let last = clean.rsplit('.').next().unwrap_or(clean);
                s.name = last.split(',').next().unwrap_or(last).to_string();
            }
            Ok(l)
        })(),
        "aliasSub" => (|| {
            let re = regex(&a.string(1, "search")?)?;
            let rep = py_replacement(&a.string(2, "replace")?);
            let mut l = a.series(0, "seriesList")?;
            for s in &mut l {
                s.name = re.replace_all(&s.name, rep.as_str()).into_owned();
            }
            Ok(l)
        })(),
        "stacked" => (|| {
            let mut total: Vec<f64> = Vec::new();
            let mut out = Vec::new();
            for mut s in a.series(0, "seriesLists")? {
                let values = s
                    .values
                    .iter()
                    .enumerate()
                    .map(|(i, v)| {
                        if total.len() <= i {
                            total.push(0.0);
                        }
                        v.map(|v| {
                            total[i] += v;
                            total[i]
                        })
                    })
                    .collect();
                s.tag("stacked", "__DEFAULT__");
                let name = format!("stacked({})", s.name);
                out.push(s.derive(name, values));
            }
            Ok(out)
        })(),
        "legendValue" => (|| {
            let mut l = a.series(0, "seriesList")?;
            for i in 1..a.pos.len() {
                let t = a.string(i, "valueTypes")?;
                if t == "si" || t == "binary" {
                    continue;
                }
                for s in &mut l {
                    let v = AggFn::parse(&t).ok().map_or_else(
                        || "(?)".to_string(),
                        |f| {
                            f.apply(&s.values)
                                .map_or("None".into(), crate::series::py_float)
                        },
                    );
                    s.name = format!("{} ({t}: {v})", s.name);
                }
            }
            Ok(l)
        })(),
        "color" | "lineWidth" => a.series(0, "seriesList"),
        _ => return None,
    })
}

fn regex(p: &str) -> Result<Regex, Error> {
    Regex::new(p).map_err(|e| Error::bad_request(format!("bad regular expression {p:?}: {e}")))
}

/// Python's `re.sub` replacement (`\1`, `\g<1>`) in the regex crate's syntax (`${1}`).
fn py_replacement(r: &str) -> String {
    let mut out = String::new();
    let mut chars = r.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '$' => out.push_str("$$"),
            '\\' => match chars.peek().copied() {
                Some(d) if d.is_ascii_digit() => {
                    chars.next();
                    out.push_str(&format!("${{{d}}}"));
                }
                Some('g') => {
                    chars.next();
                    let name: String = chars.by_ref().skip(1).take_while(|&c| c != '>').collect();
                    out.push_str(&format!("${{{name}}}"));
                }
                Some('\\') => {
                    chars.next();
                    out.push('\\');
                }
                _ => out.push('\\'),
            },
            c => out.push(c),
        }
    }
    out
}

fn natural_key(name: &str) -> String {
    let re = Regex::new(r"\d+").unwrap_or_else(|_| unreachable!("a constant regex"));
    re.replace_all(name, |c: &regex::Captures<'_>| {
        format!("{:0>10}", c[0].trim_start_matches('0'))
    })
    .into_owned()
}

fn remove(a: &Args<'_>, fname: &str, drop: fn(f64, f64) -> bool) -> Result<Vec<Series>, Error> {
    let n = a.num(1, "n")?;
    let below = fname == "removeBelowValue";
    let mut l = a.series(0, "seriesList")?;
    for s in &mut l {
        s.name = format!("{fname}({}, {})", s.name, fmt_g(n));
        s.path_expr.clone_from(&s.name);
        for v in &mut s.values {
            if v.is_some_and(|x| drop(x, n)) || (below && v.is_none()) {
                *v = None;
            }
        }
    }
    Ok(l)
}

/// The key graphite-web sorts by: the function over the values, `-inf` for none.
fn key(s: &Series, f: AggFn) -> f64 {
    f.apply(&s.points()).unwrap_or(f64::NEG_INFINITY)
}

fn pick(a: &Args<'_>, f: AggFn, highest: bool) -> Result<Vec<Series>, Error> {
    let n = usize::try_from(a.int(1, "n")?.max(0)).unwrap_or(0);
    if let Some(l) = pick_streamed(a, f, highest, n)? {
        return Ok(l);
    }
    let mut l = ordered(a.series(0, "seriesList")?, f, highest);
    l.truncate(n);
    Ok(l)
}

/// [`pick`] of one path expression from series the source hands over one at a time
/// ([`crate::Source::stream`]), keeping the best `n` so far: the same series in the
/// same order as [`ordered`] of the fetched list, truncated. Of 10,000 series, a few
/// dozen are ever kept. `None` when the source does not stream this one.
fn pick_streamed(
    a: &Args<'_>,
    f: AggFn,
    highest: bool,
    n: usize,
) -> Result<Option<Vec<Series>>, Error> {
    let Some(Expr::Path(query)) = a.pos.first() else {
        return Ok(None);
    };
    // The worst kept on top.
    let mut kept: BinaryHeap<Ranked> = BinaryHeap::new();
    let mut values: Vec<Option<f64>> = Vec::new();
    let mut place = 0;
    let streamed =
        a.cx.source
            .stream(query, a.cx.start, a.cx.end, &mut |row| {
                values.clear();
                values.extend(row.values.iter().map(|&x| (!x.is_nan()).then_some(x)));
                let key = f.apply(&values).unwrap_or(f64::NEG_INFINITY);
                let mut new = Ranked {
                    key,
                    place,
                    highest,
                    series: None,
                };
                place += 1;
                if kept.len() == n && kept.peek().is_none_or(|worst| new >= *worst) {
                    return;
                }
                let mut s = Series::new(row.name, row.start, row.step, values.clone());
                s.path_expr.clone_from(query);
                new.series = Some(s);
                kept.push(new);
                if kept.len() > n {
                    kept.pop();
                }
            })?;
    if !streamed {
        return Ok(None);
    }
    Ok(Some(
        kept.into_sorted_vec()
            .into_iter()
            .filter_map(|r| r.series)
            .collect(),
    ))
}

/// A series kept by [`pick_streamed`], ordered as [`ordered`] leaves them: the better
/// key first, and of equal keys the earlier place (its sort is stable).
struct Ranked {
    key: f64,
    place: usize,
    highest: bool,
    series: Option<Series>,
}

impl Ord for Ranked {
    fn cmp(&self, other: &Ranked) -> std::cmp::Ordering {
        let o = self.key.total_cmp(&other.key);
        let o = if self.highest { o.reverse() } else { o };
        o.then(self.place.cmp(&other.place))
    }
}

impl PartialOrd for Ranked {
    fn partial_cmp(&self, other: &Ranked) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl PartialEq for Ranked {
    fn eq(&self, other: &Ranked) -> bool {
        self.cmp(other).is_eq()
    }
}

impl Eq for Ranked {}

fn sort_by(a: &Args<'_>, f: AggFn) -> Result<Vec<Series>, Error> {
    Ok(ordered(a.series(0, "seriesList")?, f, true))
}

/// The series ordered by `f` of their values, highest first or lowest first; stable,
/// as Python's sort (also with `reverse=True`). The keys are sorted with the series'
/// places, then the series are moved once (10,000 series are 10,000 moves, not a
/// move per comparison).
fn ordered(list: Vec<Series>, f: AggFn, highest: bool) -> Vec<Series> {
    let mut keys: Vec<(f64, usize)> = list.iter().map(|s| key(s, f)).zip(0..).collect();
    keys.sort_by(|x, y| {
        let o = x.0.total_cmp(&y.0);
        if highest { o.reverse() } else { o }
    });
    let mut slots: Vec<Option<Series>> = list.into_iter().map(Some).collect();
    keys.into_iter()
        .filter_map(|(_, i)| slots[i].take())
        .collect()
}

#[cfg(test)]
mod tests {
    use crate::args::Row;
    use crate::eval::eval;
    use crate::expr::parse;
    use crate::series::Series;
    use crate::{Ctx, Error, Source};

    /// Series with ties (of key and of place), gaps and an empty one, served either
    /// whole or also a row at a time.
    struct Mem {
        streams: bool,
    }

    impl Source for Mem {
        fn fetch(&self, _: &str, from: i64, _: i64) -> Result<Vec<Series>, Error> {
            let rows: [(&str, [Option<f64>; 3]); 7] = [
                ("m.g", [Some(1.0), Some(5.0), None]),
                ("m.a", [Some(2.0), None, Some(3.0)]),
                ("m.c", [None, None, None]),
                ("m.b", [Some(9.0), Some(3.0), None]),
                ("m.f", [Some(-1.0), Some(3.0), Some(3.0)]),
                ("m.e", [Some(7.0), Some(1.0), Some(-4.0)]),
                ("m.d", [Some(3.0), Some(3.0), Some(0.5)]),
            ];
            Ok(rows
                .iter()
                .map(|(name, v)| Series::new(name, from, 10, v.to_vec()))
                .collect())
        }

        fn stream(
            &self,
            query: &str,
            from: i64,
            until: i64,
            each: &mut dyn FnMut(Row<'_>),
        ) -> Result<bool, Error> {
            if !self.streams {
                return Ok(false);
            }
            let mut list = self.fetch(query, from, until)?;
            list.sort_by(|a, b| a.name.cmp(&b.name));
            for s in list {
                let values: Vec<f64> = s.values.iter().map(|v| v.unwrap_or(f64::NAN)).collect();
                each(Row {
                    name: &s.name,
                    start: s.start,
                    step: s.step,
                    values: &values,
                });
            }
            Ok(true)
        }
    }

    /// What the streamed pick keeps, and its order, is what sorting the fetched list
    /// and cutting it gives: ties broken by name, empty series last (highest) or
    /// first (lowest), every `n` from none to more than there are.
    #[test]
    fn the_streamed_pick_answers_as_the_fetched_one() {
        let (whole, streamed) = (Mem { streams: false }, Mem { streams: true });
        for f in [
            "highestCurrent",
            "highestAverage",
            "highestMax",
            "lowestCurrent",
            "lowestAverage",
        ] {
            for n in 0..9 {
                let e = parse(&format!("{f}(m.*, {n})")).unwrap();
                let answer = |source: &dyn Source| {
                    let cx = Ctx {
                        start: 1000,
                        end: 1030,
                        source,
                    };
                    eval(&e, &cx)
                        .unwrap()
                        .into_iter()
                        .map(|s| (s.name, s.path_expr, s.values))
                        .collect::<Vec<_>>()
                };
                let want = answer(&whole);
                assert_eq!(want.len(), n.min(7));
                assert_eq!(answer(&streamed), want, "{f}, {n}");
            }
        }
    }
}
