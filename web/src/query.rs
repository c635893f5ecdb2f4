//! Reads of the live tree: `/get/<pattern>`, `/all`, `/api/q/<pattern>.json` and
//! `/diff/<a>/<b>.json`.
//!
//! Patterns come percent-decoded from the path (`/get/br%2Cie` is `/get/br,ie`); a `/`
//! inside a pattern must be sent as `%2F` where the route has more than one pattern.

use std::collections::BTreeMap;

use axum::extract::{Query, State};
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use treestat_engine::pattern::Match;
use treestat_engine::{Pattern, StatRow, nest};

use crate::error::{AppError, strip_json};
use crate::extract::{PathParam, QueryParam, num, stats_param};
use crate::state::AppState;

/// Routes of this area.
pub(crate) fn router() -> Router<AppState> {
    Router::new()
        .route("/get", get(get_all_pairs))
        .route("/get/", get(get_all_pairs))
        .route("/get/{*pattern}", get(get_pairs))
        .route("/all", get(all))
        .route("/api/q/{*pattern}", get(subtree))
        .route("/diff/{a}/{*b}", get(diff))
}

/// `[[path, value], ...]` serialized straight from the engine's rows (no `Value` per
/// row: large answers are the cost that matters for `/get`).
pub(crate) struct Pairs(Vec<(String, f64)>);

impl Serialize for Pairs {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeSeq;
        let mut seq = s.serialize_seq(Some(self.0.len()))?;
        for (path, v) in &self.0 {
            seq.serialize_element(&(path, v.is_finite().then_some(*v)))?;
        }
        seq.end()
    }
}

fn pairs(rows: Vec<(String, f64)>) -> Json<Pairs> {
    Json(Pairs(rows))
}

/// `[[path, stat, stat, ...], ...]`: a `/get` row with one column per stat asked
/// (a value that is not finite, or absent, is `null`).
#[derive(Debug)]
pub struct StatRows(pub Vec<StatRow>);

impl Serialize for StatRows {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::{SerializeSeq, SerializeTuple};
        struct Row<'a>(&'a StatRow);
        impl Serialize for Row<'_> {
            fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                let (path, values) = self.0;
                let mut t = s.serialize_tuple(1 + values.len())?;
                t.serialize_element(path)?;
                for v in values {
                    t.serialize_element(&v.filter(|v| v.is_finite()))?;
                }
                t.end()
            }
        }
        let mut seq = s.serialize_seq(Some(self.0.len()))?;
        for row in &self.0 {
            seq.serialize_element(&Row(row))?;
        }
        seq.end()
    }
}

/// `?stat=` and `?internal=` of `/get`.
#[derive(Debug, Deserialize)]
struct StatParams {
    stat: Option<String>,
    internal: Option<String>,
}

/// Parses a pattern; `?internal=1` lets wildcards at the first level select the
/// server's own `_treestat` subtree (it always answers when named).
fn parse(text: &str, internal: Option<&str>) -> Result<Pattern, AppError> {
    Ok(Pattern::parse(text)?.with_internal(crate::tree::flag("internal", internal)?))
}

async fn get_all_pairs(
    State(state): State<AppState>,
    QueryParam(params): QueryParam<StatParams>,
) -> Result<Response, AppError> {
    get_rows(&state, "", &params)
}

async fn get_pairs(
    State(state): State<AppState>,
    PathParam(pattern): PathParam<String>,
    QueryParam(params): QueryParam<StatParams>,
) -> Result<Response, AppError> {
    get_rows(&state, &pattern, &params)
}

/// `[path, value]` pairs, or with `?stat=` a column per stat (docs/API.md).
fn get_rows(state: &AppState, pattern: &str, params: &StatParams) -> Result<Response, AppError> {
    let p = parse(pattern, params.internal.as_deref())?;
    match stats_param(params.stat.as_deref())? {
        None => Ok(pairs(state.engine().query_pattern(&p)).into_response()),
        Some(stats) => Ok(Json(StatRows(state.engine().query_stats(&p, &stats))).into_response()),
    }
}

#[derive(Debug, Deserialize)]
struct AllParams {
    internal: Option<String>,
}

async fn all(
    State(state): State<AppState>,
    QueryParam(params): QueryParam<AllParams>,
) -> Result<Json<Value>, AppError> {
    let p = parse("", params.internal.as_deref())?;
    Ok(Json(nest(&state.engine().query_pattern(&p))))
}

#[derive(Debug, Deserialize)]
struct WindowParams {
    window: Option<String>,
    stat: Option<String>,
    internal: Option<String>,
    partial: Option<String>,
}

/// Stat rows as a nested tree whose leaves are `{"<stat>": value, ...}` objects (the
/// `/api/q?stat=` answer).
pub fn nest_stats(rows: &[StatRow], stats: &[treestat_engine::Stat]) -> Value {
    let mut root = serde_json::Map::new();
    for (path, values) in rows {
        let mut leaf = serde_json::Map::new();
        for (s, v) in stats.iter().zip(values) {
            leaf.insert(s.to_string(), v.map_or(Value::Null, num));
        }
        treestat_engine::insert_path(&mut root, path, Value::Object(leaf));
    }
    Value::Object(root)
}

async fn subtree(
    State(state): State<AppState>,
    PathParam(pattern): PathParam<String>,
    QueryParam(params): QueryParam<WindowParams>,
) -> Result<Json<Value>, AppError> {
    let pattern = parse(strip_json(&pattern)?, params.internal.as_deref())?;
    let stats = stats_param(params.stat.as_deref())?;
    if crate::tree::flag("partial", params.partial.as_deref())? {
        let window = params.window.as_deref().map(window_secs).transpose()?;
        if let Some(stats) = stats {
            return Ok(Json(crate::partial_json::partial_stat_rows(
                &state.engine().query_partial_stats(&pattern, window, &stats),
            )));
        }
        return Ok(Json(crate::partial_json::partial_rows(
            &state.engine().query_partial(&pattern, window),
        )));
    }
    let Some(window) = params.window else {
        if let Some(stats) = stats {
            let rows = state.engine().query_stats(&pattern, &stats);
            return Ok(Json(nest_stats(&rows, &stats)));
        }
        return Ok(Json(nest(&state.engine().query_pattern(&pattern))));
    };
    let secs = window_secs(&window)?;
    if let Some(stats) = stats {
        let rows = state
            .engine()
            .query_window_stats_pattern(&pattern, secs, &stats);
        return Ok(Json(nest_stats(&rows, &stats)));
    }
    Ok(Json(nest(
        &state.engine().query_window_pattern(&pattern, secs),
    )))
}

/// `window=` in whole seconds.
fn window_secs(window: &str) -> Result<i64, AppError> {
    let d = treestat_engine::parse_duration(window)
        .map_err(|e| AppError::bad_request(e.to_string()))?;
    let secs = i64::try_from(d.as_secs()).unwrap_or(i64::MAX);
    if secs == 0 {
        return Err(AppError::bad_request(format!(
            "window {window:?} is shorter than one second"
        )));
    }
    Ok(secs)
}

/// One row of a diff: a leaf's path relative to each side's pattern.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DiffRow {
    /// The relative path.
    pub path: String,
    /// The value under `a`, or null.
    pub a: Value,
    /// The value under `b`, or null.
    pub b: Value,
    /// `a - b` when both exist, else null.
    pub diff: Value,
}

/// The leaves under a pattern, keyed by their path below the pattern's depth. When
/// several matches land on one relative path (a wildcard), the first in byte order wins.
fn relative(state: &AppState, text: &str) -> Result<BTreeMap<String, f64>, AppError> {
    let pattern = Pattern::parse(text)?;
    if pattern.segments().iter().any(|s| s.matcher == Match::Deep) {
        return Err(AppError::bad_request(format!(
            "diff compares subtrees at a fixed depth; {text:?} holds `**`"
        )));
    }
    let depth = pattern.segments().len();
    let mut out = BTreeMap::new();
    for (path, value) in state.engine().query_pattern(&pattern) {
        let rel = path
            .splitn(depth + 1, ',')
            .nth(depth)
            .unwrap_or("")
            .to_string();
        out.entry(rel).or_insert(value);
    }
    Ok(out)
}

async fn diff(
    State(state): State<AppState>,
    PathParam((a, b)): PathParam<(String, String)>,
    Query(params): Query<Vec<(String, String)>>,
    headers: HeaderMap,
) -> Result<Response, AppError> {
    if !b.ends_with(".json") {
        // The chart forms (`.png`, `.svg`, `.jpg`) draw both subtrees on one chart,
        // when the server keeps trends.
        if state.trend_store().is_none() {
            return Err(AppError::not_found(
                "this server draws no charts; ask for `<b>.json`",
            ));
        }
        return crate::graphs::diff_graph(&state, &a, &b, &params, &headers).await;
    }
    diff_json(&state, &a, &b).map(IntoResponse::into_response)
}

fn diff_json(state: &AppState, a: &str, b: &str) -> Result<Json<Vec<DiffRow>>, AppError> {
    let b = strip_json(b)?;
    let left = relative(state, a)?;
    let mut right = relative(state, b)?;
    let mut rows = Vec::with_capacity(left.len().max(right.len()));
    for (path, va) in left {
        let vb = right.remove(&path);
        rows.push(DiffRow {
            a: num(va),
            b: vb.map_or(Value::Null, num),
            diff: vb.map_or(Value::Null, |vb| num(va - vb)),
            path,
        });
    }
    for (path, vb) in right {
        rows.push(DiffRow {
            path,
            a: Value::Null,
            b: num(vb),
            diff: Value::Null,
        });
    }
    rows.sort_by(|x, y| x.path.cmp(&y.path));
    Ok(Json(rows))
}
