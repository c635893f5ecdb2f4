//! `/trend/<pattern>.json` at the front: history merged from every shard.
//!
//! History stays on the shard that wrote it, so after a rebalance one series has its
//! old points on the old shard and its new ones on the new: every trend read fans out
//! to every shard (owner routing would miss the old range), and the series of one path
//! are merged point by point in time order. A time stamp two shards both hold (the
//! interval in which the key moved, samples on each side) is combined by the series'
//! action: `add` sums the two (each shard counted its own samples, both happened),
//! `max` and `min` take the extreme, and the others (`average`, `last`, `histogram`,
//! whose counts are not in a `/trend` answer) the mean of the two values, the one
//! inexact case, for the few intervals a move spans.
//!
//! An aggregating pattern reads its selector's series from every shard, merges them as
//! above and folds each time bucket with the engine's fold, as a server does
//! (`treestat_web::trends::read_series`). Quantile folds (which merge the store's
//! sketches) and `?stat=` are not served by the front yet: 400.

use std::collections::BTreeMap;

use axum::Json;
use axum::extract::rejection::{PathRejection, QueryRejection};
use axum::extract::{Path, Query, State};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::Value;
use treestat_engine::pattern::{Agg, Pattern};
use treestat_engine::query::aggregate_rows;
use treestat_web::AppError;

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

pub(crate) async fn trend(
    State(front): State<Front>,
    pattern: Result<Path<String>, PathRejection>,
    params: Result<Query<TrendParams>, QueryRejection>,
) -> Result<Response, AppError> {
    let pattern = pattern?.0;
    let params = params?.0;
    let text = pattern.strip_suffix(".json").ok_or_else(|| {
        AppError::not_found(format!("{pattern:?}: the front answers `<pattern>.json`"))
    })?;
    if params.stat.as_deref().is_some_and(|s| !s.is_empty()) {
        return Err(AppError::bad_request(
            "the front does not merge /trend ?stat= across shards yet; ask a shard",
        ));
    }
    let p = Pattern::parse(text)?;
    let innermost = p
        .segments()
        .iter()
        .rev()
        .map(|s| s.agg)
        .find(|&a| a != Agg::List);
    if let Some(Agg::Quantile(_)) = innermost {
        return Err(AppError::bad_request(
            "the front does not merge quantile folds of trends yet; ask a shard",
        ));
    }
    // One range for every shard, resolved here.
    let now = now();
    let parse = |name: &str, v: Option<&str>, default: &str| {
        treestat_engine::trend::parse_time(v.unwrap_or(default), now)
            .map_err(|e| AppError::bad_request(format!("{name}: {e}")))
    };
    let from = parse("from", params.from.as_deref(), "-1d")?;
    let until = parse("until", params.until.as_deref(), "now")?;
    let points = params
        .points
        .unwrap_or(treestat_web::trends::DEFAULT_POINTS);
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
    let (bodies, missing) = bodies(&front, fanned)?;
    let mut merged: BTreeMap<String, (String, i64, BTreeMap<i64, f64>)> = BTreeMap::new();
    for body in bodies {
        let series: Vec<Series> = serde_json::from_slice(&body).map_err(AppError::internal)?;
        for s in series {
            let (action, step, pts) = merged
                .entry(s.path)
                .or_insert_with(|| (s.action.clone(), s.step, BTreeMap::new()));
            *step = (*step).min(s.step);
            for (t, v) in s.points {
                let Some(v) = v else { continue };
                pts.entry(t)
                    .and_modify(|old| *old = combine(action, *old, v))
                    .or_insert(v);
            }
        }
    }
    let partial = (!missing.is_empty()).then(|| names(&front, &missing));
    let out: Vec<Value> = if p.aggregates() {
        fold(&p, merged)
    } else {
        merged
            .into_iter()
            .map(|(path, (action, step, pts))| series_json(path, &action, step, pts))
            .collect()
    };
    let out = out
        .into_iter()
        .map(|mut s| {
            if let (Some(list), Value::Object(m)) = (&partial, &mut s) {
                m.insert("partial".into(), list.clone());
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

/// Two shards' values of one series at one time stamp (module doc).
fn combine(action: &str, a: f64, b: f64) -> f64 {
    match action {
        "add" => a + b,
        "max" => a.max(b),
        "min" => a.min(b),
        _ => f64::midpoint(a, b),
    }
}

/// The buckets of the selector's merged series folded by `p`, as a server folds them.
fn fold(p: &Pattern, merged: BTreeMap<String, (String, i64, BTreeMap<i64, f64>)>) -> Vec<Value> {
    let step = merged.values().next().map_or(0, |s| s.1);
    let mut buckets: BTreeMap<i64, Vec<(String, f64)>> = BTreeMap::new();
    for (path, (_, _, pts)) in merged {
        for (t, v) in pts {
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
        .map(|(path, pts)| series_json(path, &agg, step, pts))
        .collect()
}

fn series_json(path: String, action: &str, step: i64, pts: BTreeMap<i64, f64>) -> Value {
    serde_json::json!({
        "path": path,
        "action": action,
        "step": step,
        "points": pts.into_iter().map(|(t, v)| Value::Array(vec![Value::from(t), num(v)])).collect::<Vec<_>>(),
    })
}

fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
}
