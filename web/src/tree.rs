//! Day-two operations on the tree (issue 18): `DELETE /api/q/<pattern>` removes
//! subtrees, `GET /api/keys/<prefix>` lists one level.

use axum::Json;
use axum::Router;
use axum::extract::State;
use axum::routing::{delete, get};
use serde::Deserialize;
use treestat_engine::{Deleted, KeyListing, Pattern};

use crate::error::AppError;
use crate::extract::{PathParam, QueryParam};
use crate::state::AppState;

/// Most keys `/api/keys` lists by default (`?limit=`).
pub const DEFAULT_KEY_LIMIT: usize = 10_000;

/// The writing routes (the token when one is set).
pub(crate) fn write_router() -> Router<AppState> {
    Router::new()
        .route("/api/q", delete(delete_nothing))
        .route("/api/q/", delete(delete_nothing))
        .route("/api/q/{*pattern}", delete(delete_subtrees))
}

/// The reading routes.
pub(crate) fn read_router() -> Router<AppState> {
    Router::new()
        .route("/api/keys", get(keys_root))
        .route("/api/keys/", get(keys_root))
        .route("/api/keys/{*prefix}", get(keys))
}

/// A yes/no query parameter: `1`, `true`, `yes` (or empty, `?dry_run`) are yes; `0`,
/// `false`, `no` are no.
///
/// # Errors
/// 400 for anything else.
pub fn flag(name: &str, value: Option<&str>) -> Result<bool, AppError> {
    match value {
        None | Some("0" | "false" | "no") => Ok(false),
        Some("" | "1" | "true" | "yes") => Ok(true),
        Some(other) => Err(AppError::bad_request(format!(
            "?{name}={other:?}: expected 1 or 0"
        ))),
    }
}

#[derive(Debug, Deserialize)]
struct DeleteParams {
    dry_run: Option<String>,
}

async fn delete_nothing(
    state: State<AppState>,
    params: QueryParam<DeleteParams>,
) -> Result<Json<Deleted>, AppError> {
    delete_subtrees(state, PathParam(String::new()), params).await
}

async fn delete_subtrees(
    State(state): State<AppState>,
    PathParam(pattern): PathParam<String>,
    QueryParam(params): QueryParam<DeleteParams>,
) -> Result<Json<Deleted>, AppError> {
    // `.json` as on GET, optional here.
    let text = pattern.strip_suffix(".json").unwrap_or(&pattern);
    let pattern = Pattern::parse(text)?;
    let dry_run = flag("dry_run", params.dry_run.as_deref())?;
    let engine = state.engine().clone();
    let done = tokio::task::spawn_blocking(move || engine.delete(&pattern, dry_run))
        .await
        .map_err(|e| AppError::internal(format!("delete: {e}")))??;
    if !dry_run {
        // With engine.wal = "sync", answered once the delete record is on disk.
        state.engine().wal_synced().await;
    }
    Ok(Json(done))
}

#[derive(Debug, Deserialize)]
struct KeysParams {
    internal: Option<String>,
    limit: Option<usize>,
}

async fn keys_root(
    state: State<AppState>,
    params: QueryParam<KeysParams>,
) -> Result<Json<KeyListing>, AppError> {
    keys(state, PathParam(String::new()), params).await
}

async fn keys(
    State(state): State<AppState>,
    PathParam(prefix): PathParam<String>,
    QueryParam(params): QueryParam<KeysParams>,
) -> Result<Json<KeyListing>, AppError> {
    let internal = flag("internal", params.internal.as_deref())?;
    let limit = params.limit.unwrap_or(DEFAULT_KEY_LIMIT);
    if prefix.contains(['*', '?', '|']) {
        return Err(AppError::bad_request(format!(
            "{prefix:?}: /api/keys takes a path of keys, not a pattern"
        )));
    }
    treestat_engine::path::check_path(prefix.trim_end_matches(',')).or_else(|e| {
        if prefix.trim_end_matches(',').is_empty() {
            Ok(())
        } else {
            Err(e)
        }
    })?;
    state
        .engine()
        .keys(&prefix, internal, limit)
        .map(Json)
        .ok_or_else(|| AppError::not_found(format!("no node at {prefix:?}")))
}
