//! The front's routes: the read API over the shards, the Graphite API, the pages and
//! saved views, and its own `/metrics` and `/health` (docs/API.md, "Read front").

use axum::extract::rejection::{PathRejection, QueryRejection};
use axum::extract::{Path, Query, Request, State};
use axum::http::{StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::Value;
use treestat_engine::nest;
use treestat_engine::pattern::Pattern;
use treestat_web::AppError;

use super::fan::{answer, internal_flag, names, num};
use super::live::{folded, folded_stats};
use super::state::Front;

/// The front's router.
pub(crate) fn app(front: Front) -> Router {
    Router::new()
        .route("/get", get(get_root))
        .route("/get/", get(get_root))
        .route("/get/{*pattern}", get(get_pattern))
        .route("/api/q/{*pattern}", get(api_q))
        .route("/all", get(all))
        .route("/api/keys", get(super::keys::keys_root))
        .route("/api/keys/", get(super::keys::keys_root))
        .route("/api/keys/{*prefix}", get(super::keys::keys))
        .route("/markers/{*pattern}", get(super::keys::markers))
        .route(
            "/render",
            get(super::graphite::render).post(super::graphite::render),
        )
        .route(
            "/render/",
            get(super::graphite::render).post(super::graphite::render),
        )
        .route(
            "/metrics/find",
            get(super::graphite::find).post(super::graphite::find),
        )
        .route(
            "/metrics/find/",
            get(super::graphite::find).post(super::graphite::find),
        )
        .route(
            "/metrics/expand",
            get(super::graphite::expand).post(super::graphite::expand),
        )
        .route("/metrics/index.json", get(super::graphite::index))
        .route("/functions", get(super::graphite::functions))
        .route("/functions/", get(super::graphite::functions))
        .route("/tags/autoComplete/tags", get(super::graphite::no_tags))
        .route("/tags/autoComplete/values", get(super::graphite::no_tags))
        .route("/version", get(version))
        .route("/version/", get(version))
        .route("/pull", get(super::pull::pull_all))
        .route("/pull/", get(super::pull::pull_all))
        .route("/pull/{*pattern}", get(super::pull::pull))
        .route("/events", get(super::events::events_all))
        .route("/events/", get(super::events::events_all))
        .route("/events/{*pattern}", get(super::events::events))
        .route("/trend/{*pattern}", get(super::trend::trend))
        .route("/export/{*pattern}", get(super::trend::export))
        .route("/graph/{*pattern}", get(super::graph::graph))
        .route("/diff/{a}/{*b}", get(super::graph::diff))
        // Saved views and dashboards: the first shard's (views.rs). Reads pass the
        // guard as every read; writes are checked there as a server checks them.
        .route("/api/views", get(super::views::forward))
        .route("/api/views/", get(super::views::forward))
        .route(
            "/api/views/{name}",
            get(super::views::forward)
                .put(super::views::forward)
                .delete(super::views::forward),
        )
        .route("/api/dashboards", get(super::views::forward))
        .route("/api/dashboards/", get(super::views::forward))
        .route(
            "/api/dashboards/{name}",
            get(super::views::forward)
                .put(super::views::forward)
                .delete(super::views::forward),
        )
        .layer(middleware::from_fn_with_state(front.clone(), guard))
        .route("/metrics", get(metrics))
        .route("/health", get(health))
        // The pages and their assets, as a server serves them (open, as there): their
        // scripts read the front's own routes.
        .merge(treestat_web::pages::router())
        .layer(middleware::from_fn_with_state(front.clone(), host_check))
        .with_state(front)
}

/// On a loopback listener, answers 421 to a `Host` the front does not answer to: a
/// page whose DNS name was rebound to 127.0.0.1 could otherwise read every shard's
/// data through the front (a server's rule, web/src/origin.rs).
async fn host_check(State(front): State<Front>, req: Request, next: Next) -> Response {
    let host = req
        .headers()
        .get(header::HOST)
        .and_then(|v| v.to_str().ok());
    if front.loopback
        && let Some(host) = host
        && !treestat_web::host_allowed(host, &front.allowed_hosts)
    {
        let shown: String = host.chars().take(100).collect();
        return AppError::new(
            StatusCode::MISDIRECTED_REQUEST,
            "host_not_allowed",
            format!(
                "this front listens on a loopback address and does not answer to host \
                 {shown:?}; use localhost or an IP address, or add the name with \
                 --allowed-host"
            ),
        )
        .into_response();
    }
    next.run(req).await
}

/// Counts reads, and asks for the token when `--auth-reads` (as `auth.reads` on a
/// server: `Authorization: Bearer` or the `treestat_token` cookie).
async fn guard(State(front): State<Front>, req: Request, next: Next) -> Response {
    front.requests.inc();
    if front.auth_reads
        && let Some(token) = &front.token
        && !presents(&req, token)
    {
        return AppError::new(
            StatusCode::UNAUTHORIZED,
            "unauthorized",
            "token missing or wrong",
        )
        .into_response();
    }
    next.run(req).await
}

fn presents(req: &Request, token: &str) -> bool {
    let h = req.headers();
    let bearer = h
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .is_some_and(|t| t.trim() == token);
    let cookie = h
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|c| c.trim().strip_prefix("treestat_token="))
        .any(|t| url::form_urlencoded::parse(format!("t={t}").as_bytes()).any(|(_, v)| v == token));
    bearer || cookie
}

async fn metrics(State(front): State<Front>) -> Response {
    let mut out = String::new();
    front.telemetry.render_prometheus(&mut out);
    ([(header::CONTENT_TYPE, "text/plain; version=0.0.4")], out).into_response()
}

/// Graphite's `/version`, as a server answers it.
async fn version() -> Response {
    (
        [(header::CONTENT_TYPE, "text/plain")],
        format!("{}\n", treestat_graphite::VERSION),
    )
        .into_response()
}

async fn health() -> Json<Value> {
    Json(serde_json::json!({"status": "ok"}))
}

#[derive(Debug, Deserialize)]
struct GetParams {
    stat: Option<String>,
    internal: Option<String>,
}

async fn get_root(
    State(front): State<Front>,
    params: Result<Query<GetParams>, QueryRejection>,
) -> Result<Response, AppError> {
    get_rows(&front, "", &params?.0).await
}

async fn get_pattern(
    State(front): State<Front>,
    pattern: Result<Path<String>, PathRejection>,
    params: Result<Query<GetParams>, QueryRejection>,
) -> Result<Response, AppError> {
    get_rows(&front, &pattern?.0, &params?.0).await
}

async fn get_rows(front: &Front, text: &str, params: &GetParams) -> Result<Response, AppError> {
    let internal = internal_flag(params.internal.as_deref())?;
    let pattern = Pattern::parse(text)?.with_internal(internal);
    if let Some(stat) = params.stat.as_deref().filter(|s| !s.is_empty()) {
        return stat_rows(front, &pattern, internal, stat).await;
    }
    let (rows, missing) = folded(front, &pattern, internal, None).await?;
    let body = Value::Array(
        rows.into_iter()
            .map(|(p, v)| Value::Array(vec![Value::from(p), num(v)]))
            .collect(),
    );
    Ok(answer(front, &missing, Json(body).into_response()))
}

/// `/get?stat=`: the shards' leaves with their stat values, each column folded at the
/// front as one server folds it (quantile folds merge the leaves' sketches).
async fn stat_rows(
    front: &Front,
    pattern: &Pattern,
    internal: bool,
    stat: &str,
) -> Result<Response, AppError> {
    let (rows, _, missing) = folded_stats(front, pattern, internal, stat, None).await?;
    Ok(answer(
        front,
        &missing,
        Json(treestat_web::StatRows(rows)).into_response(),
    ))
}

#[derive(Debug, Deserialize)]
struct AllParams {
    internal: Option<String>,
}

/// `/all`: the whole tree over every shard, nested.
async fn all(
    State(front): State<Front>,
    params: Result<Query<AllParams>, QueryRejection>,
) -> Result<Response, AppError> {
    let internal = internal_flag(params?.0.internal.as_deref())?;
    let p = Pattern::parse("")?.with_internal(internal);
    let (rows, missing) = folded(&front, &p, internal, None).await?;
    let mut tree = nest(&rows);
    if !missing.is_empty()
        && let Value::Object(m) = &mut tree
    {
        m.insert("partial".into(), names(&front, &missing));
    }
    Ok(answer(&front, &missing, Json(tree).into_response()))
}

#[derive(Debug, Deserialize)]
struct QParams {
    window: Option<String>,
    stat: Option<String>,
    internal: Option<String>,
}

async fn api_q(
    State(front): State<Front>,
    pattern: Result<Path<String>, PathRejection>,
    params: Result<Query<QParams>, QueryRejection>,
) -> Result<Response, AppError> {
    let pattern = pattern?.0;
    let params = params?.0;
    let text = treestat_web::strip_json(&pattern)?;
    let internal = internal_flag(params.internal.as_deref())?;
    let p = Pattern::parse(text)?.with_internal(internal);
    let (mut tree, missing) = if let Some(stat) = params.stat.as_deref().filter(|s| !s.is_empty()) {
        stat_tree(&front, &p, internal, stat, params.window.as_deref()).await?
    } else {
        let (rows, missing) = folded(&front, &p, internal, params.window.as_deref()).await?;
        (nest(&rows), missing)
    };
    if !missing.is_empty()
        && let Value::Object(m) = &mut tree
    {
        m.insert("partial".into(), names(&front, &missing));
    }
    Ok(answer(&front, &missing, Json(tree).into_response()))
}

/// `/api/q?stat=`: as `/get?stat=` (with `window`), nested.
async fn stat_tree(
    front: &Front,
    pattern: &Pattern,
    internal: bool,
    stat: &str,
    window: Option<&str>,
) -> Result<(Value, Vec<usize>), AppError> {
    let (rows, stats, missing) = folded_stats(front, pattern, internal, stat, window).await?;
    Ok((treestat_web::nest_stats(&rows, &stats), missing))
}
