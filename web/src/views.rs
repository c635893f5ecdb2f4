//! Saved views: `GET /api/views` (all), `GET/PUT/DELETE /api/views/<name>`.
//!
//! A view is a name, the patterns it shows and free-form graph options (JSON). Views
//! are kept in the store's key-value space under `view/<name>` as JSON; store calls
//! block on disk, so they run on a blocking thread. Names are 1..=128 characters of
//! letters, digits, `-`, `_`, `.` and space, so they stay readable in URLs and keys.

use std::sync::Arc;

use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::get;
use axum::{Json, Router};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use treestat_engine::Pattern;
use treestat_engine::trend::TrendStore;

use crate::body::read_bounded;
use crate::error::AppError;
use crate::extract::PathParam;
use crate::state::{AppState, ViewStore};

/// Key prefix of views in the store.
pub const VIEW_PREFIX: &str = "view/";
/// Largest view document in bytes.
const VIEW_LIMIT: usize = 64 << 10;
/// Most patterns in one view.
const MAX_PATTERNS: usize = 64;

/// A saved view.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct View {
    /// The name (from the URL; a body may repeat it).
    #[serde(default)]
    pub name: String,
    /// Query patterns the view shows (at least one).
    pub patterns: Vec<String>,
    /// Graph options, kept as given (style, type, theme, title, ...).
    #[serde(default)]
    pub graph: Map<String, Value>,
}

/// Routes of this area.
pub(crate) fn router() -> Router<AppState> {
    Router::new()
        .route("/api/views", get(list))
        .route("/api/views/", get(list))
        .route("/api/views/{name}", get(fetch).put(save).delete(remove))
}

fn store(state: &AppState) -> Result<Arc<dyn ViewStore>, AppError> {
    state.inner.views.clone().ok_or_else(|| {
        AppError::new(
            StatusCode::NOT_IMPLEMENTED,
            "no_view_store",
            "saved views need the trend store, which this server runs without",
        )
    })
}

pub(crate) fn check_name(name: &str) -> Result<(), AppError> {
    let ok = (1..=128).contains(&name.chars().count())
        && name
            .chars()
            .all(|c| c.is_alphanumeric() || matches!(c, '-' | '_' | '.' | ' '));
    if ok {
        Ok(())
    } else {
        Err(AppError::bad_request(format!(
            "view name {:?} must be 1 to 128 letters, digits, '-', '_', '.' or spaces",
            name.chars().take(64).collect::<String>()
        )))
    }
}

async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, String> + Send + 'static,
) -> Result<T, AppError> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(AppError::internal)?
        .map_err(AppError::internal)
}

fn decode(key: &str, bytes: &[u8]) -> Result<View, AppError> {
    serde_json::from_slice(bytes)
        .map_err(|e| AppError::internal(format!("stored view {key:?} does not parse: {e}")))
}

async fn list(State(state): State<AppState>) -> Result<Json<Vec<View>>, AppError> {
    let store = store(&state)?;
    let rows = blocking(move || store.meta_list(VIEW_PREFIX)).await?;
    rows.iter()
        .map(|(k, v)| decode(k, v))
        .collect::<Result<_, _>>()
        .map(Json)
}

async fn fetch(
    State(state): State<AppState>,
    PathParam(name): PathParam<String>,
) -> Result<Json<View>, AppError> {
    check_name(&name)?;
    let store = store(&state)?;
    let key = format!("{VIEW_PREFIX}{name}");
    let k = key.clone();
    match blocking(move || store.meta_get(&k)).await? {
        Some(bytes) => decode(&key, &bytes).map(Json),
        None => Err(AppError::not_found(format!("no view named {name:?}"))),
    }
}

async fn save(
    State(state): State<AppState>,
    PathParam(name): PathParam<String>,
    headers: HeaderMap,
    body: Body,
) -> Result<Json<View>, AppError> {
    check_name(&name)?;
    let store = store(&state)?;
    let bytes = read_bounded(&headers, body, VIEW_LIMIT, state.config().body_timeout).await?;
    let mut view: View = serde_json::from_slice(&bytes).map_err(|e| {
        AppError::bad_request(format!(
            "a view is {{\"patterns\": [...], \"graph\": {{...}}}}: {e}"
        ))
    })?;
    if !view.name.is_empty() && view.name != name {
        return Err(AppError::bad_request(format!(
            "the body names view {:?} but the URL names {name:?}",
            view.name
        )));
    }
    if view.patterns.is_empty() || view.patterns.len() > MAX_PATTERNS {
        return Err(AppError::bad_request(format!(
            "a view holds 1 to {MAX_PATTERNS} patterns"
        )));
    }
    for p in &view.patterns {
        Pattern::parse(p)?;
    }
    view.name = name;
    let json = serde_json::to_vec(&view).map_err(AppError::internal)?;
    let key = format!("{VIEW_PREFIX}{}", view.name);
    blocking(move || store.meta_put(&key, &json)).await?;
    Ok(Json(view))
}

async fn remove(
    State(state): State<AppState>,
    PathParam(name): PathParam<String>,
) -> Result<StatusCode, AppError> {
    check_name(&name)?;
    let store = store(&state)?;
    let key = format!("{VIEW_PREFIX}{name}");
    if blocking(move || store.meta_delete(&key)).await? {
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(AppError::not_found(format!("no view named {name:?}")))
    }
}

/// Views live in the trend store's metadata space.
impl ViewStore for TrendStore {
    fn meta_get(&self, key: &str) -> Result<Option<Vec<u8>>, String> {
        TrendStore::meta_get(self, key).map_err(|e| e.to_string())
    }

    fn meta_put(&self, key: &str, value: &[u8]) -> Result<(), String> {
        TrendStore::meta_put(self, key, value).map_err(|e| e.to_string())
    }

    fn meta_delete(&self, key: &str) -> Result<bool, String> {
        let existed = TrendStore::meta_get(self, key)
            .map_err(|e| e.to_string())?
            .is_some();
        if existed {
            TrendStore::meta_delete(self, key).map_err(|e| e.to_string())?;
        }
        Ok(existed)
    }

    fn meta_list(&self, prefix: &str) -> Result<Vec<(String, Vec<u8>)>, String> {
        TrendStore::meta_list(self, prefix).map_err(|e| e.to_string())
    }
}
