//! The live tree over the shards: a pattern's leaves from every shard it routes to
//! (`/api/q?partial=1`), a leaf two shards hold taken from its newest copy, folded by
//! the engine's own fold.

use serde::Deserialize;
use serde_json::Value;
use treestat_engine::pattern::Pattern;
use treestat_engine::query::{
    PartialRow, PartialStatRow, aggregate_partial, aggregate_partial_stats,
};
use treestat_engine::sketch::Sketch;
use treestat_engine::{Stat, StatRow};
use treestat_web::AppError;

use super::fan::{bodies, encode, query, route};
use super::state::Front;

/// The pattern's answer over the shards: their leaves (`?partial=1`), a leaf two
/// shards hold taken from the copy with the newest sample, folded as one engine folds.
pub(crate) async fn folded(
    front: &Front,
    pattern: &Pattern,
    internal: bool,
    window: Option<&str>,
) -> Result<(Vec<(String, f64)>, Vec<usize>), AppError> {
    let (bodies, missing) = ask_partial(front, pattern, internal, window, None).await?;
    let mut rows = Vec::new();
    for body in bodies {
        rows.extend(parse_rows(&body)?);
    }
    // Newest copy first, then shard order (the sort is stable).
    rows.sort_by(|a, b| a.path.cmp(&b.path).then(b.ts.cmp(&a.ts)));
    rows.dedup_by(|a, b| a.path == b.path);
    let out = if pattern.aggregates() {
        aggregate_partial(pattern, &rows)
    } else {
        rows.into_iter().map(|r| (r.path, r.value)).collect()
    };
    Ok((out, missing))
}

/// The pattern's `?stat=` rows over the shards: each leaf's stat values (and, under a
/// quantile fold, its sketch) from every shard it routes to (`?partial=1&stat=`), a
/// leaf two shards hold taken from its newest copy, each column folded as one engine
/// folds it. `stat` is the reader's text, checked here as a server checks it.
pub(crate) async fn folded_stats(
    front: &Front,
    pattern: &Pattern,
    internal: bool,
    stat: &str,
    window: Option<&str>,
) -> Result<(Vec<StatRow>, Vec<Stat>, Vec<usize>), AppError> {
    let stats =
        treestat_engine::parse_stats(stat).map_err(|e| AppError::bad_request(e.to_string()))?;
    let (bodies, missing) = ask_partial(front, pattern, internal, window, Some(stat)).await?;
    let mut rows: Vec<PartialStatRow> = Vec::new();
    for body in bodies {
        for (path, value, ts, sketch) in parse(&body)? {
            let values = value
                .as_array()
                .map(|a| a.iter().map(Value::as_f64).collect())
                .unwrap_or_default();
            rows.push(PartialStatRow {
                path,
                values,
                ts,
                sketch,
            });
        }
    }
    let rows = newest(rows, |r| (&r.path, r.ts));
    let out = aggregate_partial_stats(pattern, &rows, stats.len());
    Ok((out, stats, missing))
}

/// `/api/q/<pattern>.json?partial=1` (with `window` and `stat` when given) asked of the
/// shards the pattern routes to: their bodies and the shards left out.
async fn ask_partial(
    front: &Front,
    pattern: &Pattern,
    internal: bool,
    window: Option<&str>,
    stat: Option<&str>,
) -> Result<(Vec<Vec<u8>>, Vec<usize>), AppError> {
    let mut q = vec![("partial", "1".to_string())];
    if let Some(s) = stat {
        q.push(("stat", s.to_string()));
    }
    if internal {
        q.push(("internal", "1".into()));
    }
    if let Some(w) = window {
        q.push(("window", w.to_string()));
    }
    let path = format!("/api/q/{}.json?{}", encode(pattern.as_str()), query(&q));
    let fanned = front.shards.get_all(&route(front, pattern), &path).await;
    bodies(front, fanned)
}

/// Rows in path order, a path two shards sent taken from the copy with the newest
/// sample (the first shard's on a tie).
pub(crate) fn newest<T>(mut rows: Vec<T>, key: impl Fn(&T) -> (&String, i64)) -> Vec<T> {
    rows.sort_by(|a, b| {
        let (pa, ta) = key(a);
        let (pb, tb) = key(b);
        pa.cmp(pb).then(tb.cmp(&ta))
    });
    rows.dedup_by(|a, b| key(a).0 == key(b).0);
    rows
}

/// Rows of a shard's `?partial=1` answer.
fn parse_rows(body: &[u8]) -> Result<Vec<PartialRow>, AppError> {
    Ok(parse(body)?
        .into_iter()
        .map(|(path, value, ts, sketch)| PartialRow {
            path,
            value: value.as_f64().unwrap_or(f64::NAN),
            ts,
            sketch,
        })
        .collect())
}

/// A leaf's sketch with the min and max that clamp it.
type SketchPart = Option<(Sketch, f64, f64)>;

/// The rows of a shard's `?partial=1` answer: path, value (a number, or with `stat` an
/// array of them), time stamp, sketch.
fn parse(body: &[u8]) -> Result<Vec<(String, Value, i64, SketchPart)>, AppError> {
    #[derive(Deserialize)]
    struct Answer {
        rows: Vec<Vec<Value>>,
    }
    let bad = |why: &str| AppError::internal(format!("a shard's partial answer: {why}"));
    let a: Answer = serde_json::from_slice(body).map_err(|e| bad(&e.to_string()))?;
    rows(a.rows).map_err(bad)
}

/// The rows of a shard's `partial=1` interval message; a malformed row is left out.
pub(crate) fn rows_of(list: Vec<Value>) -> Vec<(String, Value, i64, SketchPart)> {
    list.into_iter()
        .filter_map(|r| match r {
            Value::Array(r) => rows(vec![r]).ok()?.pop(),
            _ => None,
        })
        .collect()
}

/// `partial=1` rows: `[path, value, ts, sketch?, min, max]`.
fn rows(rows: Vec<Vec<Value>>) -> Result<Vec<(String, Value, i64, SketchPart)>, &'static str> {
    let bad = |why: &'static str| why;
    rows.into_iter()
        .map(|mut r| {
            let path = r
                .first()
                .and_then(Value::as_str)
                .ok_or_else(|| bad("path"))?
                .to_string();
            let ts = r.get(2).and_then(Value::as_i64).unwrap_or(0);
            let sketch = match r.get(3).and_then(Value::as_str) {
                Some(h) => {
                    let bytes = unhex(h).ok_or_else(|| bad("sketch hex"))?;
                    let s = Sketch::decode(&mut bytes.as_slice()).ok_or_else(|| bad("sketch"))?;
                    let f = |i: usize| r.get(i).and_then(Value::as_f64).unwrap_or(f64::NAN);
                    Some((s, f(4), f(5)))
                }
                None => None,
            };
            let value = r.get_mut(1).map(Value::take).unwrap_or(Value::Null);
            Ok((path, value, ts, sketch))
        })
        .collect()
}

pub(crate) fn unhex(h: &str) -> Option<Vec<u8>> {
    if !h.len().is_multiple_of(2) {
        return None;
    }
    (0..h.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(h.get(i..i + 2)?, 16).ok())
        .collect()
}
