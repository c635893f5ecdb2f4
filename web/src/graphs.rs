//! Graph routes: `GET /graph/<pattern>.png|.svg|.jpg|.pdf` and the chart forms of
//! `GET /diff/<a>/<b>.png|.svg|.jpg|.pdf`, drawn by `treestat-graph` from the trend store
//! (each series with its store step, so missing buckets are drawn as gaps).
//!
//! Rendering is CPU work: it runs on the blocking pool behind a semaphore of one permit
//! per core, so a burst of dashboard refreshes queues instead of starving the API.
//! Answers carry an `ETag` (a hash of the options and the data drawn) and
//! `Cache-Control: max-age=<interval>`: a refresh that finds nothing new gets a 304.

use std::hash::{Hash, Hasher};
use std::time::Duration;

use axum::Router;
use axum::extract::{Path as PathParam, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use treestat_engine::pattern::Pattern;
use treestat_graph::{Format, GraphOptions, Marker, Series, Tz, render};

use crate::error::AppError;
use crate::extract::stats_param;
use crate::state::AppState;
use crate::trends::{read_series, store_of, trend_error};

/// How long a request waits for a render slot before it is answered 503.
pub(crate) const RENDER_WAIT: Duration = Duration::from_secs(15);

/// `/graph/...`; [`crate::app`] guards it like every read and mounts it when the
/// state has a trend store.
pub(crate) fn router() -> Router<AppState> {
    Router::new().route("/graph/{*pattern}", get(graph))
}

/// Splits `pattern.ext` into the pattern and the image format.
fn split_format(text: &str) -> Result<(&str, Format), AppError> {
    let (pattern, ext) = text.rsplit_once('.').ok_or_else(|| {
        AppError::not_found(format!(
            "{text:?}: this endpoint answers `<pattern>.png`, `.svg`, `.jpg` or `.pdf`"
        ))
    })?;
    let format = Format::from_extension(ext)
        .map_err(|_| AppError::not_found(format!("{ext:?} is not png, svg, jpg or pdf")))?;
    Ok((pattern, format))
}

async fn graph(
    State(g): State<AppState>,
    PathParam(text): PathParam<String>,
    Query(params): Query<Vec<(String, String)>>,
    headers: HeaderMap,
) -> Result<Response, AppError> {
    let (pattern, format) = split_format(&text)?;
    let pattern = Pattern::parse(pattern)?;
    let title = pattern.as_str().to_string();
    draw(
        &g,
        vec![(pattern, String::new())],
        title,
        format,
        &params,
        &headers,
    )
    .await
}

/// The chart form of `/diff/<a>/<b>.<ext>`: both subtrees on one chart, each series
/// labelled with its side.
///
/// # Errors
/// 400 for a bad pattern or option, 404 for an unknown extension.
pub(crate) async fn diff_graph(
    g: &AppState,
    a: &str,
    b_with_ext: &str,
    params: &[(String, String)],
    headers: &HeaderMap,
) -> Result<Response, AppError> {
    let (b, format) = split_format(b_with_ext)?;
    let sides = vec![
        (Pattern::parse(a)?, "a: ".to_string()),
        (Pattern::parse(b)?, "b: ".to_string()),
    ];
    draw(g, sides, format!("{a} vs {b}"), format, params, headers).await
}

async fn draw(
    g: &AppState,
    sides: Vec<(Pattern, String)>,
    default_title: String,
    format: Format,
    params: &[(String, String)],
    headers: &HeaderMap,
) -> Result<Response, AppError> {
    let now = g.engine().now();
    // Without `tz=` the labels are in the server's zone (TZ, /etc/localtime; else UTC).
    let mut opts = GraphOptions::from_query_in_zone(params, now, Tz::local())
        .map_err(|e| AppError::bad_request(e.to_string()))?;
    if opts.title.is_none() {
        opts.title = Some(default_title);
    }
    let store = store_of(g)?;
    // `?stat=p50,p99`: one line per series and stat (docs/API.md).
    let stat = params
        .iter()
        .rev()
        .find(|(k, _)| k == "stat")
        .map(|(_, v)| v.as_str());
    let stats = stats_param(stat)?;
    let (from, until, points) = (opts.from, opts.until, opts.width as usize);
    let (series, markers) = tokio::task::spawn_blocking(move || {
        let mut series = Vec::new();
        let mut markers = Vec::new();
        for (pattern, prefix) in &sides {
            if let Some(stats) = &stats {
                let lines = store.stat_series(pattern.as_str(), from, until, points, stats)?;
                series.extend(stat_lines(prefix, &lines, stats));
            } else {
                for s in read_series(&store, pattern, from, until, points)? {
                    series.push(Series {
                        label: format!("{prefix}{}", s.path),
                        action: Some(s.action),
                        points: s.points,
                        step: s.step,
                    });
                }
            }
            for m in store.markers(&pattern.selector(), from, until)? {
                markers.push(Marker {
                    ts: m.ts,
                    end: None,
                    label: m.text,
                });
            }
        }
        Ok::<_, treestat_engine::trend::TrendError>((series, markers))
    })
    .await
    .map_err(AppError::internal)?
    .map_err(trend_error)?;

    let etag = chart_etag(format, params, &series, &markers);
    let max_age = g.engine().interval_secs();
    let (fresh, cache) = chart_cache(headers, &etag, &format!("max-age={max_age}"));
    if fresh {
        return Ok((StatusCode::NOT_MODIFIED, cache).into_response());
    }

    let mut resp = render_chart(g.inner.renders.clone(), series, markers, opts, format).await?;
    resp.headers_mut().extend(cache);
    Ok(resp)
}

/// Draws a chart in a render slot ([`in_render_slot`]) and answers it with its
/// content type: what the server's `/graph`, its Graphite `/render` images and a
/// read front's `/graph` share.
///
/// # Errors
/// 503 when every slot stays busy; 400 for an option the renderer refuses (the
/// client's), 500 for an encoder failure (ours).
pub async fn render_chart(
    renders: std::sync::Arc<tokio::sync::Semaphore>,
    series: Vec<Series>,
    markers: Vec<Marker>,
    opts: GraphOptions,
    format: Format,
) -> Result<Response, AppError> {
    let bytes = in_render_slot(renders, move || render(&series, &markers, &opts, format))
        .await?
        .map_err(|e| {
            if e.is_client_error() {
                AppError::bad_request(e.to_string())
            } else {
                AppError::internal(e)
            }
        })?;
    let mut resp = bytes.into_response();
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(format.content_type()),
    );
    Ok(resp)
}

/// A chart's lines of `?stat=` series: one per series and stat, labelled
/// `<prefix><path> <stat>`, the points where the stat has a value (a read front draws
/// its merged series with this too).
pub fn stat_lines(
    prefix: &str,
    series: &[treestat_engine::trend::StatSeries],
    stats: &[treestat_engine::Stat],
) -> Vec<Series> {
    let mut out = Vec::with_capacity(series.len() * stats.len());
    for s in series {
        for (i, stat) in stats.iter().enumerate() {
            out.push(Series {
                label: format!("{prefix}{} {stat}", s.path),
                action: Some("average".to_string()),
                points: s
                    .points
                    .iter()
                    .filter_map(|(t, vs)| Some((*t, vs.get(i).copied().flatten()?)))
                    .collect(),
                step: s.step,
            });
        }
    }
    out
}

/// Runs `work` (a chart render) on the blocking pool once one of `renders`' slots is
/// free, waiting [`RENDER_WAIT`] at most. Shared by `/graph`, `/diff`, the Graphite
/// images and a read front's charts.
///
/// # Errors
/// 503 `busy` when no slot frees in time; 500 when the render panicked.
pub async fn in_render_slot<T: Send + 'static>(
    renders: std::sync::Arc<tokio::sync::Semaphore>,
    work: impl FnOnce() -> T + Send + 'static,
) -> Result<T, AppError> {
    let permit = tokio::time::timeout(RENDER_WAIT, renders.acquire_owned())
        .await
        .map_err(|_| {
            AppError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "busy",
                "every render slot is busy; try again",
            )
        })?
        .map_err(AppError::internal)?;
    tokio::task::spawn_blocking(move || {
        let _permit = permit;
        work()
    })
    .await
    .map_err(AppError::internal)
}

/// The cache headers of a chart (its `ETag` and `cache_control`), and whether the
/// request's `If-None-Match` names that tag, so that it is answered 304 without a
/// render: the server's `/graph` (kept for an interval) and a read front's (`no-cache`).
pub fn chart_cache(headers: &HeaderMap, etag: &str, cache_control: &str) -> (bool, HeaderMap) {
    let mut h = HeaderMap::new();
    if let Ok(v) = HeaderValue::from_str(etag) {
        h.insert(header::ETAG, v);
    }
    if let Ok(v) = HeaderValue::from_str(cache_control) {
        h.insert(header::CACHE_CONTROL, v);
    }
    (crate::pages::assets::fresh(headers, etag), h)
}

/// A strong validator over everything a chart's image depends on: what the server's
/// `/graph` and a read front's answer in `ETag`.
pub fn chart_etag(
    format: Format,
    params: &[(String, String)],
    series: &[Series],
    markers: &[Marker],
) -> String {
    let mut h = std::hash::DefaultHasher::new();
    format.extension().hash(&mut h);
    params.hash(&mut h);
    for s in series {
        s.label.hash(&mut h);
        s.action.hash(&mut h);
        for (t, v) in &s.points {
            t.hash(&mut h);
            v.to_bits().hash(&mut h);
        }
    }
    for m in markers {
        (m.ts, m.end, &m.label).hash(&mut h);
    }
    format!("\"{:016x}\"", h.finish())
}
