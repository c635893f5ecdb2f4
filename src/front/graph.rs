//! `/graph/<pattern>.png|.svg|.jpg|.pdf` and `/diff/<a>/<b>` at the front: drawn here by
//! `treestat-graph` from the shards' merged series and markers, with the options a
//! server takes (docs/API.md); `?stat=` and quantile folds from the shards' merged
//! aggregates and sketches, as `/trend`. Renders run on the
//! blocking pool behind one slot per core, as on a server.
//!
//! A chart carries an `ETag` over its options and the data drawn, as a server's does,
//! and a request whose `If-None-Match` names it is answered 304 without drawing. The
//! front knows no interval to keep a chart for, so it says `Cache-Control: no-cache`:
//! a browser keeps the image and asks each time whether it still holds.

use std::collections::BTreeMap;

use axum::Json;
use axum::extract::rejection::PathRejection;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::Value;
use treestat_engine::pattern::{Match, Pattern};
use treestat_graph::{Format, GraphOptions, Marker, Series, Tz};
use treestat_web::AppError;

use super::fan::{answer, bodies, encode, num, query};
use super::state::Front;
use super::trend::{merged_series, stat_series};

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

pub(crate) async fn graph(
    State(front): State<Front>,
    text: Result<Path<String>, PathRejection>,
    Query(params): Query<Vec<(String, String)>>,
    headers: HeaderMap,
) -> Result<Response, AppError> {
    let text = text?.0;
    let (pattern, format) = split_format(&text)?;
    let p = Pattern::parse(pattern)?;
    let title = p.as_str().to_string();
    let chart = Chart {
        format,
        params: &params,
        headers: &headers,
    };
    draw(&front, vec![(p, String::new())], title, chart).await
}

/// What a chart request asks for beside its series.
struct Chart<'a> {
    format: Format,
    params: &'a [(String, String)],
    /// The request's headers (`If-None-Match`).
    headers: &'a HeaderMap,
}

async fn draw(
    front: &Front,
    sides: Vec<(Pattern, String)>,
    default_title: String,
    chart: Chart<'_>,
) -> Result<Response, AppError> {
    let Chart {
        format,
        params,
        headers,
    } = chart;
    // `?stat=p50,p99`: one line per series and stat, as a server draws them.
    let stats = match params.iter().rev().find(|(k, _)| k == "stat") {
        Some((_, v)) if !v.is_empty() => Some(
            treestat_engine::parse_stats(v).map_err(|e| AppError::bad_request(e.to_string()))?,
        ),
        _ => None,
    };
    let now = super::trend::range(Some("now"), None)?.0;
    let mut opts = GraphOptions::from_query_in_zone(params, now, Tz::local())
        .map_err(|e| AppError::bad_request(e.to_string()))?;
    if opts.title.is_none() {
        opts.title = Some(default_title);
    }
    let (from, until, points) = (opts.from, opts.until, opts.width as usize);
    let mut series = Vec::new();
    let mut markers = Vec::new();
    let mut missing = Vec::new();
    for (p, prefix) in &sides {
        if let Some(stats) = &stats {
            let (lines, left_out) = stat_series(front, p, from, until, points, stats).await?;
            missing.extend(left_out);
            series.extend(treestat_web::stat_lines(prefix, &lines, stats));
        } else {
            let (merged, left_out) = merged_series(front, p, from, until, points).await?;
            missing.extend(left_out);
            series.extend(merged.into_iter().map(|m| Series {
                label: format!("{prefix}{}", m.path),
                action: Some(m.action),
                points: m.points.into_iter().collect(),
                step: m.step,
            }));
        }
        let (m, left_out) = shard_markers(front, p, from, until).await?;
        missing.extend(left_out);
        markers.extend(m);
    }
    markers.sort_by_key(|m| m.ts);
    missing.sort_unstable();
    missing.dedup();
    let etag = treestat_web::chart_etag(format, params, &series, &markers);
    let (fresh, cache) = treestat_web::chart_cache(headers, &etag, "no-cache");
    if fresh {
        let resp = (StatusCode::NOT_MODIFIED, cache).into_response();
        return Ok(answer(front, &missing, resp));
    }
    let mut resp =
        treestat_web::render_chart(front.renders.clone(), series, markers, opts, format).await?;
    resp.headers_mut().extend(cache);
    Ok(answer(front, &missing, resp))
}

/// The markers under `p`'s selector from every shard.
async fn shard_markers(
    front: &Front,
    p: &Pattern,
    from: i64,
    until: i64,
) -> Result<(Vec<Marker>, Vec<usize>), AppError> {
    #[derive(Deserialize)]
    struct M {
        ts: i64,
        text: String,
    }
    let q = [("from", from.to_string()), ("until", until.to_string())];
    let path = format!("/markers/{}.json?{}", encode(&p.selector()), query(&q));
    let fanned = front.shards.get_all(&front.shards.all(), &path).await;
    let (bodies, missing) = bodies(front, fanned)?;
    let mut out = Vec::new();
    for b in bodies {
        let ms: Vec<M> = serde_json::from_slice(&b).map_err(AppError::internal)?;
        out.extend(ms.into_iter().map(|m| Marker {
            ts: m.ts,
            end: None,
            label: m.text,
        }));
    }
    Ok((out, missing))
}

/// `/diff/<a>/<b>.json` (the live leaves of two subtrees, compared on their relative
/// paths) and its chart forms.
pub(crate) async fn diff(
    State(front): State<Front>,
    ab: Result<Path<(String, String)>, PathRejection>,
    Query(params): Query<Vec<(String, String)>>,
    headers: HeaderMap,
) -> Result<Response, AppError> {
    let (a, b) = ab?.0;
    let Some(b_json) = b.strip_suffix(".json") else {
        let (b_pat, format) = split_format(&b)?;
        let sides = vec![
            (Pattern::parse(&a)?, "a: ".to_string()),
            (Pattern::parse(b_pat)?, "b: ".to_string()),
        ];
        let chart = Chart {
            format,
            params: &params,
            headers: &headers,
        };
        return draw(&front, sides, format!("{a} vs {b_pat}"), chart).await;
    };
    let (left, mut missing) = relative(&front, &a).await?;
    let (mut right, more) = relative(&front, b_json).await?;
    missing.extend(more);
    missing.sort_unstable();
    missing.dedup();
    let mut rows = Vec::new();
    for (path, va) in left {
        let vb = right.remove(&path);
        rows.push(serde_json::json!({
            "path": path,
            "a": num(va),
            "b": vb.map_or(Value::Null, num),
            "diff": vb.map_or(Value::Null, |vb| num(va - vb)),
        }));
    }
    for (path, vb) in right {
        rows.push(serde_json::json!({"path": path, "a": null, "b": num(vb), "diff": null}));
    }
    rows.sort_by(|x, y| x["path"].as_str().cmp(&y["path"].as_str()));
    Ok(answer(
        &front,
        &missing,
        Json(Value::Array(rows)).into_response(),
    ))
}

/// The leaves under a pattern keyed by their path below the pattern's depth (the
/// first in byte order where a wildcard makes two share one), as a server's `/diff`.
async fn relative(
    front: &Front,
    text: &str,
) -> Result<(BTreeMap<String, f64>, Vec<usize>), AppError> {
    let p = Pattern::parse(text)?;
    if p.segments().iter().any(|s| s.matcher == Match::Deep) {
        return Err(AppError::bad_request(format!(
            "diff compares subtrees at a fixed depth; {text:?} holds `**`"
        )));
    }
    let depth = p.segments().len();
    let (rows, missing) = super::live::folded(front, &p, false, None).await?;
    let mut out = BTreeMap::new();
    for (path, value) in rows {
        let rel = path
            .splitn(depth + 1, ',')
            .nth(depth)
            .unwrap_or("")
            .to_string();
        out.entry(rel).or_insert(value);
    }
    Ok((out, missing))
}
