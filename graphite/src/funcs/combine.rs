//! Functions that combine series: the `*Series` aggregates, division, percentages,
//! grouping.

use std::collections::BTreeMap;

use super::agg::AggFn;
use super::common::{constant_line, fold_rows, get_percentile, rows};
use crate::Error;
use crate::args::{Args, NodeRef, agg_key, group_by};
use crate::expr::Expr;
use crate::series::{Series, fmt_g, len_f, normalize};

pub(super) fn call(name: &str, a: &Args<'_>) -> Option<Result<Vec<Series>, Error>> {
    let agg = |f: &str| -> Result<Vec<Series>, Error> {
        let func = AggFn::parse(f)?;
        if let Some(out) = aggregate_fetched(a, func, f)? {
            return Ok(out);
        }
        aggregate(a.all_series(0)?, func, f)
    };
    Some(match name {
        "sumSeries" => agg("sum"),
        "averageSeries" => agg("average"),
        "maxSeries" => agg("max"),
        "minSeries" => agg("min"),
        "diffSeries" => agg("diff"),
        "multiplySeries" => (|| {
            let list = a.all_series(0)?;
            if list.len() == 1 {
                return Ok(list);
            }
            aggregate(list, AggFn::Multiply, "multiply")
        })(),
        "divideSeries" => divide(a),
        "asPercent" => as_percent(a),
        "countSeries" => count(a),
        "sumSeriesWithWildcards" => with_wildcards(a, "sum"),
        "averageSeriesWithWildcards" => with_wildcards(a, "average"),
        "groupByNode" => (|| {
            let list = a.series(0, "seriesList")?;
            let node = a.nodes(1)?.into_iter().take(1).collect::<Vec<_>>();
            let cb = a
                .str_opt(2, "callback")?
                .unwrap_or_else(|| "average".into());
            group_by_nodes(list, &cb, &node)
        })(),
        "groupByNodes" => (|| {
            let list = a.series(0, "seriesList")?;
            let cb = a.string(1, "callback")?;
            group_by_nodes(list, &cb, &a.nodes(2)?)
        })(),
        "percentileOfSeries" => percentile_of_series(a),
        _ => return None,
    })
}

/// graphite-web's `formatPathExpressions`: the distinct path expressions, in order.
pub(crate) fn path_exprs(list: &[Series]) -> String {
    let mut seen: Vec<&str> = Vec::new();
    for s in list {
        if !seen.contains(&s.path_expr.as_str()) {
            seen.push(&s.path_expr);
        }
    }
    seen.join(",")
}

/// graphite-web's `aggregate`: one series folding the rows of all.
pub(crate) fn aggregate(
    mut list: Vec<Series>,
    f: AggFn,
    fname: &str,
) -> Result<Vec<Series>, Error> {
    if list.is_empty() {
        return Ok(list);
    }
    let (start, end, step) = normalize(&mut list);
    let name = format!("{fname}Series({})", path_exprs(&list));
    let values = fold_rows(&list, f);
    let mut tags = list[0].tags.clone();
    for s in &list[1..] {
        tags.retain(|k, v| s.tags.get(k) == Some(v));
    }
    tags.entry("name".into()).or_insert_with(|| name.clone());
    tags.insert("aggregatedBy".into(), fname.into());
    let mut out = Series::new(&name, start, step, values);
    out.end = end;
    out.tags = tags;
    Ok(vec![out])
}

/// [`aggregate`] of one path expression, folded by the source as it reads
/// ([`crate::Source::fetch_folded`]): the same series, name and tags, without holding
/// every fetched series. `None` when the source does not fold this one.
fn aggregate_fetched(a: &Args<'_>, f: AggFn, fname: &str) -> Result<Option<Vec<Series>>, Error> {
    let ([Expr::Path(query)], []) = (a.pos, a.kw) else {
        return Ok(None);
    };
    let Some(folded) = a.cx.source.fetch_folded(query, a.cx.start, a.cx.end, f)? else {
        return Ok(None);
    };
    // Two series or more, all of one fetch: their tags (each its own name) have
    // nothing in common, and their path expression is the query.
    let name = format!("{fname}Series({query})");
    let mut out = Series::new(&name, folded.start, folded.step, folded.values);
    out.tags.insert("aggregatedBy".into(), fname.into());
    Ok(Some(vec![out]))
}

fn divide(a: &Args<'_>) -> Result<Vec<Series>, Error> {
    let mut dividends = a.series(0, "dividendSeriesList")?;
    let divisors = a.series(1, "divisorSeries")?;
    if divisors.is_empty() {
        for s in &mut dividends {
            s.name = format!("divideSeries({},MISSING)", s.name);
            s.path_expr.clone_from(&s.name);
            s.values.iter_mut().for_each(|v| *v = None);
        }
        return Ok(dividends);
    }
    if divisors.len() > 1 {
        return Err(Error::bad_request(format!(
            "divideSeries second argument must reference exactly 1 series (got {})",
            divisors.len()
        )));
    }
    let mut out = Vec::new();
    for d in dividends {
        let name = format!("divideSeries({},{})", d.name, divisors[0].name);
        let mut both = vec![d, divisors[0].clone()];
        let (start, end, step) = normalize(&mut both);
        let values = rows(&both)
            .into_iter()
            .map(|r| safe_div(r[0], r[1]))
            .collect();
        let mut s = Series::new(&name, start, step, values);
        s.end = end;
        out.push(s);
    }
    Ok(out)
}

fn safe_div(a: Option<f64>, b: Option<f64>) -> Option<f64> {
    match (a, b) {
        (Some(a), Some(b)) if b != 0.0 => Some(a / b),
        _ => None,
    }
}

fn percent(v: Option<f64>, total: Option<f64>) -> Option<f64> {
    safe_div(v, total).map(|x| x * 100.0)
}

fn as_percent(a: &Args<'_>) -> Result<Vec<Series>, Error> {
    let mut list = a.series(0, "seriesList")?;
    if list.is_empty() {
        return Ok(list);
    }
    normalize(&mut list);
    let total = a.get(1, "total");
    let mut out = Vec::new();
    match total {
        None => {
            let tot: Vec<Option<f64>> = rows(&list).iter().map(|r| AggFn::Sum.apply(r)).collect();
            let text = format!("sumSeries({})", path_exprs(&list));
            for s in &list {
                out.push(percent_of(s, &tot, &text));
            }
        }
        Some(crate::expr::Expr::Num(v, int)) => {
            let tot = vec![Some(*v); list[0].points().len()];
            let text = crate::series::py_num(*v, *int);
            for s in &list {
                out.push(percent_of(s, &tot, &text));
            }
        }
        Some(_) => {
            let totals = a.series(1, "total")?;
            if totals.len() == 1 {
                let mut all = list.clone();
                all.extend(totals.iter().cloned());
                normalize(&mut all);
                let t = all.pop().unwrap_or_else(|| totals[0].clone());
                let tot = t.points();
                for s in &all {
                    out.push(percent_of(s, &tot, &t.name));
                }
            } else if totals.len() == list.len() {
                let mut l1 = list.clone();
                let mut l2 = totals;
                l1.sort_by(|x, y| x.name.cmp(&y.name));
                l2.sort_by(|x, y| x.name.cmp(&y.name));
                for (s1, s2) in l1.into_iter().zip(l2) {
                    let name = format!("asPercent({},{})", s1.name, s2.name);
                    let mut both = vec![s1, s2];
                    let (start, end, step) = normalize(&mut both);
                    let values = rows(&both)
                        .into_iter()
                        .map(|r| percent(r[0], r[1]))
                        .collect();
                    let mut s = Series::new(&name, start, step, values);
                    s.end = end;
                    out.push(s);
                }
            } else {
                return Err(Error::bad_request(
                    "asPercent second argument must be missing, a single digit, reference exactly 1 series or reference the same number of series as the first argument",
                ));
            }
        }
    }
    Ok(out)
}

fn percent_of(s: &Series, tot: &[Option<f64>], text: &str) -> Series {
    let pts = s.points();
    let n = pts.len().max(tot.len());
    let values = (0..n)
        .map(|i| percent(pts.get(i).copied().flatten(), tot.get(i).copied().flatten()))
        .collect();
    let name = format!("asPercent({},{text})", s.name);
    let mut r = Series::new(&name, s.start, s.step, values);
    r.end = s.end;
    r
}

fn count(a: &Args<'_>) -> Result<Vec<Series>, Error> {
    let mut list = a.all_series(0)?;
    if list.is_empty() {
        let mut s = constant_line(a.cx, 0.0, "0");
        s.path_expr = "countSeries()".into();
        return Ok(vec![s]);
    }
    let (start, end, step) = normalize(&mut list);
    let name = format!("countSeries({})", path_exprs(&list));
    let n = len_f(list.len());
    let values = rows(&list).iter().map(|_| Some(n)).collect();
    let mut s = Series::new(&name, start, step, values);
    s.end = end;
    Ok(vec![s])
}

fn with_wildcards(a: &Args<'_>, f: &str) -> Result<Vec<Series>, Error> {
    let list = a.series(0, "seriesList")?;
    let positions: Vec<i64> = a
        .nodes(1)?
        .into_iter()
        .filter_map(|n| match n {
            NodeRef::Index(i) => Some(i),
            NodeRef::Tag(_) => None,
        })
        .collect();
    let groups = group_by(list, |s| {
        s.name
            .split('.')
            .enumerate()
            .filter(|(i, _)| !positions.contains(&i64::try_from(*i).unwrap_or(-1)))
            .map(|(_, n)| n)
            .collect::<Vec<_>>()
            .join(".")
    });
    let mut out = Vec::new();
    for (key, members) in groups {
        let mut s = aggregate(members, AggFn::parse(f)?, f)?.remove(0);
        s.name = key;
        out.push(s);
    }
    Ok(out)
}

fn group_by_nodes(
    list: Vec<Series>,
    callback: &str,
    nodes: &[NodeRef],
) -> Result<Vec<Series>, Error> {
    let f = callback.strip_suffix("Series").unwrap_or(callback);
    let agg = AggFn::parse(f)?;
    let groups = group_by(list, |s| agg_key(s, nodes));
    let mut out = Vec::new();
    for (key, members) in groups {
        let mut s = if f == "multiply" && members.len() == 1 {
            members
                .into_iter()
                .next()
                .ok_or_else(|| Error::bad_request("empty group"))?
        } else {
            aggregate(members, agg, f)?.remove(0)
        };
        s.name = key;
        out.push(s);
    }
    Ok(out)
}

fn percentile_of_series(a: &Args<'_>) -> Result<Vec<Series>, Error> {
    let mut list = a.series(0, "seriesList")?;
    let n = a.num(1, "n")?;
    let interpolate = a.boolean(2, "interpolate", false)?;
    if n <= 0.0 {
        return Err(Error::bad_request(
            "The requested percent is required to be greater than 0",
        ));
    }
    if list.is_empty() {
        return Ok(list);
    }
    let name = format!("percentileOfSeries({},{})", list[0].path_expr, fmt_g(n));
    let (start, end, step) = normalize(&mut list);
    let values = rows(&list)
        .iter()
        .map(|r| get_percentile(r, n, interpolate))
        .collect();
    let mut s = Series::new(&name, start, step, values);
    s.end = end;
    s.tags = BTreeMap::from([("name".to_string(), name)]);
    Ok(vec![s])
}
