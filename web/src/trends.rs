//! Trend routes: `GET /trend/<pattern>.json`, `GET /export/<pattern>.ndjson|.csv` and
//! `POST /import`, over the trend store (docs/API.md, "History: trends, charts, export and
//! import").
//!
//! The store answers plain patterns; an aggregating pattern (`*|sum,net`) is answered by
//! reading the leaves its selector matches and folding each time bucket with
//! [`aggregate_rows`], the same fold the live `/get` uses, so `/trend` and `/get` agree.
//! Store calls block (sled), so they run on the blocking pool.

use std::collections::BTreeMap;

use axum::Json;
use axum::Router;
use axum::body::Body;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::{HeaderMap, HeaderValue, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde::{Deserialize, Serialize};
use treestat_engine::Action;
use treestat_engine::pattern::{Agg, Pattern};
use treestat_engine::query::aggregate_rows;
use treestat_engine::trend::{Format, ImportReport, TrendError, TrendErrorKind, TrendStore};

use crate::body::read_bounded;
use crate::error::AppError;
use crate::extract::{PathParam, QueryParam, stats_param};
use crate::state::AppState;

/// Points per series when a `/trend` request names none: enough for a wide chart,
/// few enough to stay fast over a year.
pub const DEFAULT_POINTS: usize = 1000;

/// Most points per series a request may ask for.
pub const MAX_POINTS: usize = 100_000;

/// One series as `/trend` answers it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TrendSeries {
    /// Comma-joined path; for an aggregating pattern, the path with the segment's text.
    pub path: String,
    /// How the points were folded: the node's action, or the aggregation's name.
    pub action: String,
    /// Seconds between points.
    pub step: i64,
    /// `[ts, value]`, oldest first.
    pub points: Vec<(i64, f64)>,
}

/// The time range of a request: `from` and `until` as Graphite accepts them.
#[derive(Debug, Default, Deserialize)]
pub struct RangeParams {
    /// Start: epoch seconds, `now`, or `-30s`, `-10min`, `-6h`, `-1d`, `-1w`, `-1y`
    /// (default `-1d`).
    pub from: Option<String>,
    /// End, in the same forms (default `now`).
    pub until: Option<String>,
    /// Most points per series (default 1000, at most 100,000).
    pub points: Option<usize>,
}

impl RangeParams {
    /// Resolves the range against `now`.
    ///
    /// # Errors
    /// 400 naming the parameter that does not parse, or `from` not before `until`.
    pub fn resolve(&self, now: i64) -> Result<(i64, i64), AppError> {
        let parse = |name: &str, v: Option<&str>, default: &str| {
            treestat_engine::trend::parse_time(v.unwrap_or(default), now)
                .map_err(|e| AppError::bad_request(format!("{name}: {e}")))
        };
        let from = parse("from", self.from.as_deref(), "-1d")?;
        let until = parse("until", self.until.as_deref(), "now")?;
        if from >= until {
            return Err(AppError::bad_request(format!(
                "from ({from}) must be before until ({until})"
            )));
        }
        Ok((from, until))
    }
}

/// Reads series under `pattern`, folding aggregating patterns per time bucket.
///
/// # Errors
/// The store's error (a bad pattern or range is `BadQuery`).
pub fn read_series(
    store: &TrendStore,
    pattern: &Pattern,
    from: i64,
    until: i64,
    points: usize,
) -> Result<Vec<TrendSeries>, TrendError> {
    if !pattern.aggregates() {
        return Ok(store
            .series(pattern.as_str(), from, until, points)?
            .into_iter()
            .map(|s| TrendSeries {
                path: s.path,
                action: s.action.as_str().to_string(),
                step: s.step,
                points: s.points,
            })
            .collect());
    }
    // A quantile fold merges the series' sketches per bucket in the store: a quantile
    // of their values would be a quantile of means.
    let innermost = pattern.innermost_agg();
    if let Some(Agg::Quantile(_)) = innermost {
        return Ok(store
            .quantile_fold(pattern, from, until, points)?
            .into_iter()
            .map(|s| TrendSeries {
                path: s.path,
                action: innermost.map_or_else(String::new, |a| a.to_string()),
                step: s.step,
                points: s.points,
            })
            .collect());
    }
    let raw = store.series(&pattern.selector(), from, until, points)?;
    let step = raw.first().map_or(0, |s| s.step);
    let mut buckets: BTreeMap<i64, Vec<(String, f64)>> = BTreeMap::new();
    for s in raw {
        for (t, v) in s.points {
            buckets.entry(t).or_default().push((s.path.clone(), v));
        }
    }
    let mut out: BTreeMap<String, Vec<(i64, f64)>> = BTreeMap::new();
    for (t, rows) in buckets {
        for (path, v) in aggregate_rows(pattern, &rows) {
            out.entry(path).or_default().push((t, v));
        }
    }
    let agg = pattern
        .segments()
        .iter()
        .map(|s| s.agg)
        .find(|&a| a != Agg::List)
        .map_or_else(|| "list".to_string(), |a| a.to_string());
    Ok(out
        .into_iter()
        .map(|(path, points)| TrendSeries {
            path,
            action: agg.to_string(),
            step,
            points,
        })
        .collect())
}

/// Maps a store error to a status: bad queries are the client's, the rest ours.
pub fn trend_error(e: TrendError) -> AppError {
    match e.kind() {
        TrendErrorKind::BadQuery => AppError::bad_request(e.message().to_string()),
        _ => AppError::internal(e),
    }
}

/// The trend reads (`/trend`, `/export`, `/markers`); [`crate::app`] guards them like
/// every read and mounts them when the state has a trend store.
pub(crate) fn read_router() -> Router<AppState> {
    Router::new()
        .route("/trend/{*pattern}", get(trend))
        .route("/export/{*pattern}", get(export))
        .route("/markers/{*pattern}", get(markers))
}

/// `POST /import`, guarded like every write.
pub(crate) fn write_router() -> Router<AppState> {
    Router::new()
        .route("/import", post(import))
        // `import` bounds the body itself (JSON 413); axum's default limit must not
        // refuse first with plain text.
        .layer(DefaultBodyLimit::disable())
}

/// The state's trend store; the routes that call this are mounted only with one.
pub(crate) fn store_of(state: &AppState) -> Result<TrendStore, AppError> {
    state
        .trend_store()
        .cloned()
        .ok_or_else(|| AppError::not_found("this server keeps no trends"))
}

/// `?stat=` of `/trend` and `/events`, and their `?partial=1` (docs/API.md).
#[derive(Debug, Default, Deserialize)]
pub struct StatParam {
    /// A comma-separated list of stats.
    pub stat: Option<String>,
    /// `/events?internal=1`: wildcards select the server's own `_treestat` too.
    pub internal: Option<String>,
    /// `?partial=1`: what a read front asks of a shard (`/trend`: every bucket's
    /// aggregate and sketch; `/events`: each interval's selected leaves unfolded).
    pub partial: Option<String>,
}

/// A `/trend` series with `?stat=`: the stats asked, then `[time, value per stat]`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TrendStatSeries {
    /// Comma-joined path.
    pub path: String,
    /// Seconds between points.
    pub step: i64,
    /// The stats, in the order of each point's values.
    pub stats: Vec<String>,
    /// `[time, value, value, ...]`, oldest first; `null` where the series has no such
    /// stat.
    pub points: Vec<StatPoint>,
}

/// One `/trend?stat=` point, serialized as `[time, value, value, ...]`.
#[derive(Debug, Clone, PartialEq)]
pub struct StatPoint(pub i64, pub Vec<Option<f64>>);

impl Serialize for StatPoint {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeTuple;
        let mut t = s.serialize_tuple(1 + self.1.len())?;
        t.serialize_element(&self.0)?;
        for v in &self.1 {
            t.serialize_element(&v.filter(|v| v.is_finite()))?;
        }
        t.end()
    }
}

/// `/trend?partial=1` (docs/API.md): `{"series": [[path, "<buckets as hex>"], ...]}`,
/// each series' buckets with their aggregates and sketches in
/// [`treestat_engine::trend::Folded::encode`]'s exact form.
fn partial_json(series: &[treestat_engine::trend::Folded]) -> serde_json::Value {
    use std::fmt::Write as _;
    let rows = series
        .iter()
        .map(|f| {
            let bytes = f.encode();
            let mut hex = String::with_capacity(bytes.len() * 2);
            for b in bytes {
                let _ = write!(hex, "{b:02x}");
            }
            serde_json::json!([f.path(), hex])
        })
        .collect();
    serde_json::json!({ "series": serde_json::Value::Array(rows) })
}

async fn trend(
    State(t): State<AppState>,
    PathParam(pattern): PathParam<String>,
    QueryParam(range): QueryParam<RangeParams>,
    QueryParam(stat): QueryParam<StatParam>,
) -> Result<Response, AppError> {
    let text = crate::error::strip_json(&pattern)?;
    let pattern = Pattern::parse(text)?;
    let (from, until) = range.resolve(t.engine().now())?;
    let points = range.points.unwrap_or(DEFAULT_POINTS).min(MAX_POINTS);
    let store = store_of(&t)?;
    if crate::tree::flag("partial", stat.partial.as_deref())? {
        if stat.stat.as_deref().is_some_and(|s| !s.is_empty()) {
            return Err(AppError::bad_request("/trend?partial=1 does not take stat"));
        }
        let series = tokio::task::spawn_blocking(move || {
            store.partial_series(&pattern, from, until, points)
        })
        .await
        .map_err(AppError::internal)?
        .map_err(trend_error)?;
        return Ok(Json(partial_json(&series)).into_response());
    }
    if let Some(stats) = stats_param(stat.stat.as_deref())? {
        let names: Vec<String> = stats.iter().map(ToString::to_string).collect();
        let series = tokio::task::spawn_blocking(move || {
            store.stat_series(pattern.as_str(), from, until, points, &stats)
        })
        .await
        .map_err(AppError::internal)?
        .map_err(trend_error)?;
        let out: Vec<TrendStatSeries> = series
            .into_iter()
            .map(|s| TrendStatSeries {
                path: s.path,
                step: s.step,
                stats: names.clone(),
                points: s
                    .points
                    .into_iter()
                    .map(|(ts, vs)| StatPoint(ts, vs))
                    .collect(),
            })
            .collect();
        return Ok(Json(out).into_response());
    }
    let series =
        tokio::task::spawn_blocking(move || read_series(&store, &pattern, from, until, points))
            .await
            .map_err(AppError::internal)?
            .map_err(trend_error)?;
    Ok(Json(series).into_response())
}

/// `GET /markers/<pattern>.json?from=&until=`: the markers under a pattern in a range,
/// oldest first, as `[{"path", "ts", "text"}]` (those of the open interval included).
/// A range that ends now or later (the default `until=now`) ends after every marker
/// pushed so far: one pushed this very second (its `ts` is `now`, which an end-exclusive
/// range leaves out) or dated ahead of the clock within `engine.max_future`.
async fn markers(
    State(t): State<AppState>,
    PathParam(pattern): PathParam<String>,
    QueryParam(range): QueryParam<RangeParams>,
) -> Result<Json<Vec<treestat_engine::Marker>>, AppError> {
    let text = crate::error::strip_json(&pattern)?;
    let selector = Pattern::parse(text)?.selector();
    let now = t.engine().now();
    let (from, until) = range.resolve(now)?;
    let until = if until >= now { i64::MAX } else { until };
    let store = store_of(&t)?;
    let sel = selector.clone();
    let mut stored = tokio::task::spawn_blocking(move || store.markers(&sel, from, until))
        .await
        .map_err(AppError::internal)?
        .map_err(trend_error)?;
    // Markers of the interval still open are only in the engine so far.
    let newest = stored.last().map_or(i64::MIN, |m| m.ts);
    for m in t.engine().markers(&selector, from)? {
        if m.ts < until && (m.ts > newest || !stored.contains(&m)) {
            stored.push(m);
        }
    }
    stored.sort_by_key(|m| m.ts);
    Ok(Json(stored))
}

async fn export(
    State(t): State<AppState>,
    PathParam(pattern): PathParam<String>,
    QueryParam(range): QueryParam<RangeParams>,
) -> Result<Response, AppError> {
    let (text, format, ctype) = if let Some(p) = pattern.strip_suffix(".ndjson") {
        (p.to_string(), Format::Ndjson, "application/x-ndjson")
    } else if let Some(p) = pattern.strip_suffix(".csv") {
        (p.to_string(), Format::Csv, "text/csv; charset=utf-8")
    } else {
        return Err(AppError::not_found(format!(
            "{pattern:?}: this endpoint answers `<pattern>.ndjson` or `<pattern>.csv`"
        )));
    };
    Pattern::parse(&text)?;
    let (from, until) = range.resolve(t.engine().now())?;
    let store = store_of(&t)?;
    let body = tokio::task::spawn_blocking(move || {
        let mut out = Vec::new();
        store
            .export(&text, from, until, format, &mut out)
            .map(|_| out)
    })
    .await
    .map_err(AppError::internal)?
    .map_err(trend_error)?;
    let mut resp = body.into_response();
    resp.headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(ctype));
    Ok(resp)
}

/// `POST /import` parameters.
#[derive(Debug, Default, Deserialize)]
struct ImportParams {
    /// `ndjson` or `csv`; default from the content type, else NDJSON.
    format: Option<String>,
    /// Action of series the import creates (default `average`).
    action: Option<String>,
}

/// What `/import` answers.
#[derive(Debug, Serialize)]
struct ImportAnswer {
    /// Samples stored, that can be read back.
    imported: u64,
    /// Lines skipped (bad, or `future`).
    skipped: u64,
    /// Lines dated beyond the server's clock plus `engine.max_future`.
    future: u64,
    /// Samples older than the longest archive's span: not stored.
    outside_retention: u64,
    errors: Vec<ImportLineError>,
}

#[derive(Debug, Serialize)]
struct ImportLineError {
    line: u64,
    error: String,
}

async fn import(
    State(t): State<AppState>,
    QueryParam(params): QueryParam<ImportParams>,
    headers: HeaderMap,
    body: Body,
) -> Result<Json<ImportAnswer>, AppError> {
    // Read here rather than by the `Bytes` extractor, whose refusals are plain text:
    // an import over the limit gets the same JSON 413 as an over-long push.
    let cfg = t.config();
    let body = read_bounded(&headers, body, cfg.body_limit, cfg.body_timeout).await?;
    let ctype = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let format = match params.format.as_deref() {
        Some(f) => f
            .parse::<Format>()
            .map_err(|e| AppError::bad_request(format!("format: {e}")))?,
        None if ctype.starts_with("text/csv") => Format::Csv,
        None => Format::Ndjson,
    };
    let action = match params.action.as_deref() {
        Some(a) => a
            .parse::<Action>()
            .map_err(|e| AppError::bad_request(format!("action: {e}")))?,
        None => Action::Average,
    };
    let store = store_of(&t)?;
    let report: ImportReport =
        tokio::task::spawn_blocking(move || store.import(&body[..], format, action))
            .await
            .map_err(AppError::internal)?
            .map_err(trend_error)?;
    // Counted with the engine's own future refusals: one counter for every ingest path.
    t.engine().metrics().refused_future.add(report.future);
    Ok(Json(ImportAnswer {
        imported: report.imported,
        skipped: report.skipped,
        future: report.future,
        outside_retention: report.outside_retention,
        errors: report
            .errors
            .into_iter()
            .map(|e| ImportLineError {
                line: e.line,
                error: e.message,
            })
            .collect(),
    }))
}
