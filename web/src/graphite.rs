//! The Graphite API (docs/GRAFANA.md, docs/API.md "Graphite"): what Grafana's Graphite
//! datasource and other Graphite clients call. `/render` evaluates target expressions
//! (`treestat-graphite`) over the trend store and the ring ([`TreeSource`]);
//! `/metrics/find`, `/metrics/expand` and `/metrics/index.json` browse the tree one
//! level at a time, treestat keys shown as Graphite nodes (`10.3.1.12` as `10_3_1_12`).
//! GET and POST (a form body, as Grafana sends it) are the same request.

use axum::Router;
use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, Method, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use serde_json::{Value, json};
use treestat_graphite::names::{NodeGlob, compile_query, name_of_path, node_of_key, split_nodes};
use treestat_graphite::{Series, Source, output};

use crate::body::read_bounded;
use crate::error::AppError;
use crate::graphite_source::TreeSource;
use crate::state::AppState;

/// Most targets one `/render` may name.
pub const MAX_TARGETS: usize = 100;

/// The Graphite routes; [`crate::app`] guards them like every read.
pub(crate) fn router() -> Router<AppState> {
    Router::new()
        .route("/render", get(render).post(render))
        .route("/render/", get(render).post(render))
        .route("/metrics/find", get(find).post(find))
        .route("/metrics/find/", get(find).post(find))
        .route("/metrics/expand", get(expand).post(expand))
        .route("/metrics/index.json", get(index))
        .route("/version", get(version))
        .route("/version/", get(version))
        .route("/functions", get(functions))
        .route("/functions/", get(functions))
        .route("/tags/autoComplete/tags", get(no_tags))
        .route("/tags/autoComplete/values", get(no_tags))
}

fn graphite_error(e: treestat_graphite::Error) -> AppError {
    if e.client {
        AppError::bad_request(e.message)
    } else {
        AppError::internal(e.message)
    }
}

/// The query string and, for a POST, the form body, as `(name, value)` pairs.
async fn params(
    state: &AppState,
    method: &Method,
    uri: &axum::http::Uri,
    headers: &HeaderMap,
    body: Body,
) -> Result<Vec<(String, String)>, AppError> {
    let mut out: Vec<(String, String)> = match uri.query() {
        Some(q) => serde_urlencoded::from_str(q)
            .map_err(|e| AppError::bad_request(format!("query string: {e}")))?,
        None => Vec::new(),
    };
    if method == Method::POST {
        let cfg = state.config();
        let bytes = read_bounded(headers, body, cfg.body_limit, cfg.body_timeout).await?;
        let form: Vec<(String, String)> = serde_urlencoded::from_bytes(&bytes)
            .map_err(|e| AppError::bad_request(format!("form body: {e}")))?;
        out.extend(form);
    }
    Ok(out)
}

fn last<'a>(p: &'a [(String, String)], key: &str) -> Option<&'a str> {
    p.iter()
        .rev()
        .find(|(k, _)| k == key)
        .map(|(_, v)| v.as_str())
}

fn source(state: &AppState) -> TreeSource {
    TreeSource {
        store: state.trend_store().cloned(),
        engine: state.engine().clone(),
    }
}

fn json_response(v: &Value) -> Response {
    let mut r = v.to_string().into_response();
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    r
}

/// `from`/`until`/`now` of a request, in Graphite's formats; swapped when reversed,
/// as graphite-web does.
fn range(p: &[(String, String)], clock: i64) -> Result<(i64, i64), AppError> {
    let parse = |name: &str, dflt: &str, now: i64| {
        treestat_graphite::time::parse_time(last(p, name).unwrap_or(dflt), now)
            .map_err(|e| AppError::bad_request(format!("{name}: {e}")))
    };
    let now = parse("now", "now", clock)?;
    let from = parse("from", "-1d", now)?;
    let until = parse("until", "now", now)?;
    let (from, until) = (from.min(until), from.max(until));
    if from == until {
        return Err(AppError::bad_request("from and until are the same time"));
    }
    Ok((from, until))
}

async fn render(
    State(st): State<AppState>,
    method: Method,
    uri: axum::http::Uri,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, AppError> {
    let p = params(&st, &method, &uri, &headers, body).await?;
    let clock = st.engine().now();
    render_with(&p, clock, source(&st), st.inner.renders.clone()).await
}

/// `/render` over any [`Source`] (this server's store and ring, or a read front's
/// shards): `p` the request's parameters, `clock` now, `renders` the slots images wait
/// for.
///
/// # Errors
/// 400 for a bad target, time, format or argument; 503 when every render slot stays
/// busy (images).
pub async fn render_with<S: Source + Send + 'static>(
    p: &[(String, String)],
    clock: i64,
    src: S,
    renders: std::sync::Arc<tokio::sync::Semaphore>,
) -> Result<Response, AppError> {
    let targets: Vec<String> = p
        .iter()
        .filter(|(k, v)| (k == "target" || k == "target[]") && !v.trim().is_empty())
        .map(|(_, v)| v.clone())
        .collect();
    if targets.len() > MAX_TARGETS {
        return Err(AppError::bad_request(format!(
            "{} targets: at most {MAX_TARGETS}",
            targets.len()
        )));
    }
    let (from, until) = range(p, clock)?;
    let format = last(p, "format").unwrap_or("png").to_string();
    if !matches!(format.as_str(), "json" | "csv" | "raw" | "png" | "svg") {
        return Err(AppError::bad_request(format!(
            "format {format:?}: json, csv, raw, png or svg"
        )));
    }
    let max_points = match last(p, "maxDataPoints") {
        Some(v) if !v.is_empty() && v.bytes().all(|b| b.is_ascii_digit()) => {
            Some(v.parse::<usize>().unwrap_or(usize::MAX))
        }
        _ => None,
    };
    let no_null = p.iter().any(|(k, _)| k == "noNullPoints");
    let mut list =
        tokio::task::spawn_blocking(move || treestat_graphite::render(&targets, from, until, &src))
            .await
            .map_err(AppError::internal)?
            .map_err(graphite_error)?;
    match format.as_str() {
        "json" => {
            if let Some(m) = max_points {
                output::consolidate(&mut list, m);
            }
            Ok(json_response(&output::json(&list, no_null)))
        }
        "csv" => Ok(text(output::csv(&list), "text/csv")),
        "raw" => Ok(text(output::raw(&list), "text/plain")),
        _ => image(renders, p, list, from, until, &format).await,
    }
}

fn text(body: String, ctype: &'static str) -> Response {
    let mut r = body.into_response();
    r.headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(ctype));
    r
}

/// `format=png|svg`: treestat's own renderer, one line per series.
async fn image(
    renders: std::sync::Arc<tokio::sync::Semaphore>,
    p: &[(String, String)],
    list: Vec<Series>,
    from: i64,
    until: i64,
    format: &str,
) -> Result<Response, AppError> {
    use treestat_graph::{Format, GraphOptions};
    let opts_params: Vec<(String, String)> = p
        .iter()
        .filter(|(k, _)| {
            matches!(
                k.as_str(),
                "width" | "height" | "title" | "yMin" | "yMax" | "lineWidth" | "theme" | "legend"
            )
        })
        .cloned()
        .chain(
            // Graphite's own name for `gaps=zero`.
            p.iter()
                .filter(|(k, v)| k == "drawNullAsZero" && matches!(v.as_str(), "true" | "1"))
                .map(|_| ("gaps".to_string(), "zero".to_string())),
        )
        .collect();
    let mut opts = GraphOptions::from_query(&opts_params, until)
        .map_err(|e| AppError::bad_request(e.to_string()))?;
    opts.from = from;
    opts.until = until;
    let series: Vec<treestat_graph::Series> = list
        .iter()
        .map(|s| treestat_graph::Series {
            label: s.name.clone(),
            action: Some("average".to_string()),
            points: s
                .datapoints()
                .into_iter()
                .filter_map(|(v, t)| Some((t, v?)))
                .collect(),
            // Nulls are left out above: with the step the chart draws them as gaps.
            step: s.step * i64::try_from(s.values_per_point.max(1)).unwrap_or(1),
        })
        .collect();
    let fmt = if format == "svg" {
        Format::Svg
    } else {
        Format::Png
    };
    crate::graphs::render_chart(renders, series, Vec::new(), opts, fmt).await
}

/// One node a find answers.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
struct Found {
    /// The node as shown.
    text: String,
    /// The real dotted path of the first match (completer format).
    path: String,
    leaf: bool,
}

/// The nodes at the query's depth: a leaf where a path ends there, a branch where
/// paths go deeper (a node can be both).
fn find_nodes(src: &TreeSource, nodes: &[NodeGlob]) -> Result<Vec<Found>, AppError> {
    let mut out: std::collections::BTreeMap<(String, bool), String> = Default::default();
    let depth = nodes.len();
    for path in src.candidates(nodes).map_err(graphite_error)? {
        let keys: Vec<&str> = path.split(',').collect();
        if keys.len() < depth || !nodes.iter().zip(&keys).all(|(g, k)| g.matches_key(k)) {
            continue;
        }
        let leaf = keys.len() == depth;
        let text = node_of_key(keys[depth - 1]);
        out.entry((text, leaf))
            .or_insert_with(|| name_of_path(&keys[..depth].join(",")));
    }
    Ok(out
        .into_iter()
        .map(|((text, leaf), path)| Found { text, path, leaf })
        .collect())
}

/// Every name at the query's depth that the query matches (each matching path's
/// prefix of that depth, not one per node text as [`find_nodes`]); leaves only with
/// `leaves_only`.
fn expand_names(
    src: &TreeSource,
    nodes: &[NodeGlob],
    leaves_only: bool,
) -> Result<std::collections::BTreeSet<String>, AppError> {
    let depth = nodes.len();
    let mut out = std::collections::BTreeSet::new();
    for path in src.candidates(nodes).map_err(graphite_error)? {
        let keys: Vec<&str> = path.split(',').collect();
        if keys.len() < depth || !nodes.iter().zip(&keys).all(|(g, k)| g.matches_key(k)) {
            continue;
        }
        if keys.len() == depth || !leaves_only {
            out.insert(name_of_path(&keys[..depth].join(",")));
        }
    }
    Ok(out)
}

async fn find(
    State(st): State<AppState>,
    method: Method,
    uri: axum::http::Uri,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, AppError> {
    let p = params(&st, &method, &uri, &headers, body).await?;
    let query = last(&p, "query")
        .filter(|q| !q.is_empty())
        .ok_or_else(|| AppError::bad_request("query: missing"))?
        .to_string();
    let format = last(&p, "format").unwrap_or("treejson").to_string();
    let nodes = compile_query(&query).map_err(graphite_error)?;
    let src = source(&st);
    let found = tokio::task::spawn_blocking(move || find_nodes(&src, &nodes))
        .await
        .map_err(AppError::internal)??;
    let parts = split_nodes(&query);
    let prefix = parts[..parts.len() - 1].join(".");
    let id = |text: &str| {
        if prefix.is_empty() {
            text.to_string()
        } else {
            format!("{prefix}.{text}")
        }
    };
    let v = match format.as_str() {
        "treejson" => Value::Array(
            found
                .iter()
                .map(|f| {
                    let b = i32::from(!f.leaf);
                    // graphite-web shows the node unquoted (`a%20b` as `a b`).
                    let shown = percent_encoding::percent_decode_str(&f.text).decode_utf8_lossy();
                    json!({"text": shown, "id": id(&f.text), "allowChildren": b,
                           "expandable": b, "leaf": i32::from(f.leaf)})
                })
                .collect(),
        ),
        "completer" => json!({"metrics": found.iter().map(|f| json!({
            "path": if f.leaf { f.path.clone() } else { format!("{}.", f.path) },
            "name": f.text,
            "is_leaf": if f.leaf { "1" } else { "0" },
        })).collect::<Vec<_>>()}),
        other => {
            return Err(AppError::bad_request(format!(
                "format {other:?}: treejson or completer"
            )));
        }
    };
    Ok(json_response(&v))
}

/// `/metrics/expand?query=...`: the names the queries match, sorted
/// (`leavesOnly=1`: leaves only).
async fn expand(
    State(st): State<AppState>,
    method: Method,
    uri: axum::http::Uri,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, AppError> {
    let p = params(&st, &method, &uri, &headers, body).await?;
    let leaves_only = last(&p, "leavesOnly") == Some("1");
    let queries: Vec<String> = p
        .iter()
        .filter(|(k, _)| k == "query")
        .map(|(_, v)| v.clone())
        .collect();
    if queries.is_empty() {
        return Err(AppError::bad_request("query: missing"));
    }
    let src = source(&st);
    let names = tokio::task::spawn_blocking(move || {
        let mut names = std::collections::BTreeSet::new();
        for q in &queries {
            let nodes = compile_query(q).map_err(graphite_error)?;
            names.extend(expand_names(&src, &nodes, leaves_only)?);
        }
        Ok::<_, AppError>(names)
    })
    .await
    .map_err(AppError::internal)??;
    Ok(json_response(&json!({"results": names})))
}

/// `/metrics/index.json`: every leaf's name, sorted.
async fn index(State(st): State<AppState>) -> Result<Response, AppError> {
    let src = source(&st);
    let names = tokio::task::spawn_blocking(move || {
        let mut all = std::collections::BTreeSet::new();
        if let Some(store) = &src.store {
            all.extend(
                store
                    .paths("")
                    .map_err(|e| AppError::internal(e.to_string()))?,
            );
        }
        all.extend(src.engine.query("")?.into_iter().map(|(p, _)| p));
        Ok::<_, AppError>(all.iter().map(|p| name_of_path(p)).collect::<Vec<_>>())
    })
    .await
    .map_err(AppError::internal)??;
    Ok(json_response(&json!(names)))
}

async fn version() -> Response {
    text(format!("{}\n", treestat_graphite::VERSION), "text/plain")
}

async fn functions() -> Response {
    json_response(&output::functions())
}

/// Tags are not supported: every tag query answers an empty list.
async fn no_tags() -> Response {
    json_response(&json!([]))
}
