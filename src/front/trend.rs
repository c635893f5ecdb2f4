//! `/trend/<pattern>.json` at the front: history merged from every shard.
//!
//! History stays on the shard that wrote it, so after a rebalance one series has its
//! old points on the old shard and its new ones on the new: every trend read fans out
//! to every shard (owner routing would miss the old range), and the series of one path
//! are merged point by point in time order. A time stamp two shards both hold (the
//! interval in which the key moved, samples on each side) is combined by the series'
//! action: `add` sums the two (each shard counted its own samples, both happened),
//! `max` and `min` take the extreme. The others (`average`, `last`, `histogram`) need
//! what a `/trend` answer leaves out (the counts, which sample is newer): such a series
//! is read again from every shard with its buckets' aggregates (`/trend?partial=1`),
//! merged as one store merges two intervals, so its values are what one store holding
//! every sample answers.
//!
//! An aggregating pattern reads its selector's series from every shard, merges them as
//! above and folds each time bucket with the engine's fold, as a server does
//! (`treestat_web::trends::read_series`). Quantile folds and `?stat=` read each
//! shard's buckets with their aggregates and sketches (`/trend?partial=1`), merge
//! them, and answer with the store's own code (`quantile_fold_of`, `stat_series_of`):
//! sketches merged, never quantiles of quantiles.

use std::collections::BTreeMap;

use axum::Json;
use axum::extract::rejection::{PathRejection, QueryRejection};
use axum::extract::{Path, Query, State};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::Value;
use treestat_engine::Stat;
use treestat_engine::pattern::{Agg, Pattern};
use treestat_engine::query::aggregate_rows;
use treestat_engine::trend::{Folded, StatSeries, quantile_fold_of, stat_series_of};
use treestat_web::AppError;
use treestat_web::trends::{StatPoint, TrendStatSeries, trend_error};

use super::fan::{answer, bodies, encode, names, num, query};
use super::state::Front;

#[derive(Debug, Deserialize)]
pub(crate) struct TrendParams {
    from: Option<String>,
    until: Option<String>,
    points: Option<usize>,
    stat: Option<String>,
}

/// One series as a shard answers it.
#[derive(Debug, Deserialize)]
struct Series {
    path: String,
    action: String,
    step: i64,
    points: Vec<(i64, Option<f64>)>,
}

/// A merged series: path, action (or the fold's name), step, points in time order.
pub(crate) struct Merged {
    pub path: String,
    pub action: String,
    pub step: i64,
    pub points: BTreeMap<i64, f64>,
}

/// The series `p` answers over every shard in `[from, until]`, at most `points` per
/// series (0: the archive's own), merged per path and, for a folding pattern, folded
/// per bucket; and the shards left out.
///
/// # Errors
/// A shard's 4xx, passed on; a fold the store refuses (at or after `**`).
pub(crate) async fn merged_series(
    front: &Front,
    p: &Pattern,
    from: i64,
    until: i64,
    points: usize,
) -> Result<(Vec<Merged>, Vec<usize>), AppError> {
    if let Some(Agg::Quantile(_)) = p.innermost_agg() {
        // Sketches merged per bucket, never quantiles of the shards' quantiles.
        let (folded, missing) = partial_folded(front, &p.selector(), from, until, points).await?;
        let action = p
            .innermost_agg()
            .map_or_else(String::new, |a| a.to_string());
        let series = quantile_fold_of(p, folded).map_err(trend_error)?;
        let out = series
            .into_iter()
            .map(|s| Merged {
                path: s.path,
                action: action.clone(),
                step: s.step,
                points: s.points.into_iter().collect(),
            })
            .collect();
        return Ok((out, missing));
    }
    let selector = if p.aggregates() {
        p.selector()
    } else {
        p.as_str().to_string()
    };
    let q = [
        ("from", from.to_string()),
        ("until", until.to_string()),
        ("points", points.to_string()),
    ];
    let path = format!("/trend/{}.json?{}", encode(&selector), query(&q));
    let fanned = front.shards.get_all(&front.shards.all(), &path).await;
    let (bodies, missing) = bodies(front, fanned)?;
    let mut merged: BTreeMap<String, Merged> = BTreeMap::new();
    // Series with a time stamp on two shards whose action the values alone cannot
    // combine (module doc).
    let mut inexact = false;
    for body in bodies {
        let series: Vec<Series> = serde_json::from_slice(&body).map_err(AppError::internal)?;
        for s in series {
            let m = merged.entry(s.path.clone()).or_insert_with(|| Merged {
                path: s.path,
                action: s.action.clone(),
                step: s.step,
                points: BTreeMap::new(),
            });
            m.step = m.step.min(s.step);
            for (t, v) in s.points {
                let Some(v) = v else { continue };
                m.points
                    .entry(t)
                    .and_modify(|old| match combine(&m.action, *old, v) {
                        Some(c) => *old = c,
                        None => inexact = true,
                    })
                    .or_insert(v);
            }
        }
    }
    if inexact {
        let (folded, _) = partial_folded(front, &selector, from, until, points).await?;
        for f in folded {
            if let Some(m) = merged.get_mut(f.path())
                && combine(&m.action, 0.0, 0.0).is_none()
            {
                m.points = f.values().collect();
            }
        }
    }
    let out = if p.aggregates() {
        fold(p, merged)
    } else {
        merged.into_values().collect()
    };
    Ok((out, missing))
}

/// The series `selector` selects on every shard with their buckets' aggregates and
/// sketches (`/trend?partial=1`), a series two shards hold (a rebalance) merged bucket
/// by bucket as one store merges intervals; in path order, as a store reads them.
pub(crate) async fn partial_folded(
    front: &Front,
    selector: &str,
    from: i64,
    until: i64,
    points: usize,
) -> Result<(Vec<Folded>, Vec<usize>), AppError> {
    #[derive(Deserialize)]
    struct Answer {
        series: Vec<(String, String)>,
    }
    let q = [
        ("from", from.to_string()),
        ("until", until.to_string()),
        ("points", points.to_string()),
        ("partial", "1".to_string()),
    ];
    let path = format!("/trend/{}.json?{}", encode(selector), query(&q));
    let fanned = front.shards.get_all(&front.shards.all(), &path).await;
    let (bodies, missing) = bodies(front, fanned)?;
    let mut merged: BTreeMap<String, Folded> = BTreeMap::new();
    for body in bodies {
        let a: Answer = serde_json::from_slice(&body).map_err(AppError::internal)?;
        for (path, hex) in a.series {
            let bytes = super::live::unhex(&hex)
                .ok_or_else(|| AppError::internal("a shard's partial trend: bad hex"))?;
            let f = Folded::decode(&path, &bytes).map_err(AppError::internal)?;
            match merged.entry(path) {
                std::collections::btree_map::Entry::Occupied(mut e) => e.get_mut().merge(f),
                std::collections::btree_map::Entry::Vacant(e) => {
                    e.insert(f);
                }
            }
        }
    }
    Ok((merged.into_values().collect(), missing))
}

/// `/trend?stat=` over every shard: the stats of each bucket read from the merged
/// aggregates and sketches, folding patterns pooled or folded per column as one store
/// does ([`stat_series_of`]).
pub(crate) async fn stat_series(
    front: &Front,
    p: &Pattern,
    from: i64,
    until: i64,
    points: usize,
    stats: &[Stat],
) -> Result<(Vec<StatSeries>, Vec<usize>), AppError> {
    let selector = if p.aggregates() {
        p.selector()
    } else {
        p.as_str().to_string()
    };
    let (folded, missing) = partial_folded(front, &selector, from, until, points).await?;
    let series = stat_series_of(p, folded, stats).map_err(trend_error)?;
    Ok((series, missing))
}

/// `from`, `until` (defaults `-1d`, `now`) resolved once at the front, so every shard
/// reads the same range.
pub(crate) fn range(from: Option<&str>, until: Option<&str>) -> Result<(i64, i64), AppError> {
    let now = now();
    let parse = |name: &str, v: Option<&str>, default: &str| {
        treestat_engine::trend::parse_time(v.unwrap_or(default), now)
            .map_err(|e| AppError::bad_request(format!("{name}: {e}")))
    };
    Ok((parse("from", from, "-1d")?, parse("until", until, "now")?))
}

pub(crate) async fn trend(
    State(front): State<Front>,
    pattern: Result<Path<String>, PathRejection>,
    params: Result<Query<TrendParams>, QueryRejection>,
) -> Result<Response, AppError> {
    let pattern = pattern?.0;
    let params = params?.0;
    let text = treestat_web::strip_json(&pattern)?;
    let p = Pattern::parse(text)?;
    let (from, until) = range(params.from.as_deref(), params.until.as_deref())?;
    let points = params
        .points
        .unwrap_or(treestat_web::trends::DEFAULT_POINTS);
    if let Some(stat) = params.stat.as_deref().filter(|s| !s.is_empty()) {
        let stats =
            treestat_engine::parse_stats(stat).map_err(|e| AppError::bad_request(e.to_string()))?;
        let names_of: Vec<String> = stats.iter().map(ToString::to_string).collect();
        let (series, missing) = stat_series(&front, &p, from, until, points, &stats).await?;
        let partial = (!missing.is_empty()).then(|| names(&front, &missing));
        let out: Vec<Value> = series
            .into_iter()
            .map(|s| {
                let mut v = serde_json::to_value(TrendStatSeries {
                    path: s.path,
                    step: s.step,
                    stats: names_of.clone(),
                    points: s
                        .points
                        .into_iter()
                        .map(|(t, vs)| StatPoint(t, vs))
                        .collect(),
                })
                .unwrap_or(Value::Null);
                if let (Some(list), Value::Object(o)) = (&partial, &mut v) {
                    o.insert("partial".into(), list.clone());
                }
                v
            })
            .collect();
        return Ok(answer(
            &front,
            &missing,
            Json(Value::Array(out)).into_response(),
        ));
    }
    let (series, missing) = merged_series(&front, &p, from, until, points).await?;
    let partial = (!missing.is_empty()).then(|| names(&front, &missing));
    let out = series
        .into_iter()
        .map(|m| {
            let mut s = serde_json::json!({
                "path": m.path,
                "action": m.action,
                "step": m.step,
                "points": m.points.into_iter().map(|(t, v)| Value::Array(vec![Value::from(t), num(v)])).collect::<Vec<_>>(),
            });
            if let (Some(list), Value::Object(o)) = (&partial, &mut s) {
                o.insert("partial".into(), list.clone());
            }
            s
        })
        .collect();
    Ok(answer(
        &front,
        &missing,
        Json(Value::Array(out)).into_response(),
    ))
}

#[derive(Debug, Deserialize)]
pub(crate) struct ExportParams {
    from: Option<String>,
    until: Option<String>,
}

/// `/export/<pattern>.ndjson|.csv`: every point at the archive's resolution of the
/// merged series, written as a server writes them (`TrendStore::export`).
pub(crate) async fn export(
    State(front): State<Front>,
    pattern: Result<Path<String>, PathRejection>,
    params: Result<Query<ExportParams>, QueryRejection>,
) -> Result<Response, AppError> {
    use std::fmt::Write as _;
    let pattern = pattern?.0;
    let params = params?.0;
    let (text, csv, ctype) = if let Some(p) = pattern.strip_suffix(".ndjson") {
        (p, false, "application/x-ndjson")
    } else if let Some(p) = pattern.strip_suffix(".csv") {
        (p, true, "text/csv; charset=utf-8")
    } else {
        return Err(AppError::not_found(format!(
            "{pattern:?}: this endpoint answers `<pattern>.ndjson` or `<pattern>.csv`"
        )));
    };
    let p = Pattern::parse(text)?;
    let (from, until) = range(params.from.as_deref(), params.until.as_deref())?;
    // Folding patterns are folded per bucket at the front, as `/trend` folds them.
    let (series, missing) = merged_series(&front, &p, from, until, 0).await?;
    let mut out = String::new();
    if csv {
        out.push_str("path,ts,value\n");
    }
    for s in &series {
        for (ts, v) in &s.points {
            if csv {
                if s.path.contains([',', '"', '\n', '\r']) {
                    let _ = write!(out, "\"{}\"", s.path.replace('"', "\"\""));
                } else {
                    out.push_str(&s.path);
                }
                let _ = writeln!(out, ",{ts},{v}");
            } else {
                let line = serde_json::to_string(&(&s.path, ts, v)).map_err(AppError::internal)?;
                out.push_str(&line);
                out.push('\n');
            }
        }
    }
    let mut resp = out.into_response();
    resp.headers_mut().insert(
        axum::http::header::CONTENT_TYPE,
        axum::http::HeaderValue::from_static(ctype),
    );
    Ok(answer(&front, &missing, resp))
}

/// Two shards' values of one series at one time stamp, when its action combines them
/// from the values alone (module doc).
fn combine(action: &str, a: f64, b: f64) -> Option<f64> {
    match action {
        "add" => Some(a + b),
        "max" => Some(a.max(b)),
        "min" => Some(a.min(b)),
        _ => None,
    }
}

/// The buckets of the selector's merged series folded by `p`, as a server folds them.
fn fold(p: &Pattern, merged: BTreeMap<String, Merged>) -> Vec<Merged> {
    let step = merged.values().next().map_or(0, |s| s.step);
    let mut buckets: BTreeMap<i64, Vec<(String, f64)>> = BTreeMap::new();
    for (path, m) in merged {
        for (t, v) in m.points {
            buckets.entry(t).or_default().push((path.clone(), v));
        }
    }
    let mut out: BTreeMap<String, BTreeMap<i64, f64>> = BTreeMap::new();
    for (t, mut rows) in buckets {
        // The server folds each bucket's rows in the store's order: by path.
        rows.sort_by(|a, b| a.0.cmp(&b.0));
        for (path, v) in aggregate_rows(p, &rows) {
            out.entry(path).or_default().insert(t, v);
        }
    }
    let agg = p
        .segments()
        .iter()
        .map(|s| s.agg)
        .find(|&a| a != Agg::List)
        .map_or_else(|| "list".to_string(), |a| a.to_string());
    out.into_iter()
        .map(|(path, points)| Merged {
            path,
            action: agg.clone(),
            step,
            points,
        })
        .collect()
}

fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
}

#[cfg(test)]
mod tests {
    use super::combine;

    #[test]
    fn one_time_on_two_shards_combines_by_action() {
        assert_eq!(combine("add", 7.0, 11.0), Some(18.0));
        assert_eq!(combine("max", 7.0, 11.0), Some(11.0));
        assert_eq!(combine("min", 7.0, 11.0), Some(7.0));
        // The values alone do not say: read again with the buckets' aggregates.
        for action in ["average", "last", "histogram"] {
            assert_eq!(combine(action, 7.0, 11.0), None, "{action}");
        }
    }
}
