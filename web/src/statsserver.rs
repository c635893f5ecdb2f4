//! StatsServer-compatible ingest: `GET /add_data_point` and `GET /register`.
//!
//! StatsServer clients send one data point per GET with `projectid`, `category`,
//! `label` and `value`; here that is one sample at `<projectid>,<category>,<label>`
//! with the action the tree gives that path (config rules, else inherited). Projects
//! need no registration in a tree that creates paths on demand, so `/register?name=`
//! only checks the name as a key and answers it as the project id to use.

use axum::extract::State;
use axum::routing::get;
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::{Value, json};
use treestat_engine::Batch;

use crate::error::AppError;
use crate::extract::{QueryParam, num};
use crate::state::AppState;

/// Routes of this area.
pub(crate) fn router() -> Router<AppState> {
    Router::new()
        .route("/add_data_point", get(add_data_point))
        .route("/register", get(register))
}

#[derive(Debug, Deserialize)]
struct DataPoint {
    projectid: Option<String>,
    category: Option<String>,
    label: Option<String>,
    value: Option<String>,
}

fn required(field: Option<String>, name: &str) -> Result<String, AppError> {
    field
        .filter(|v| !v.is_empty())
        .ok_or_else(|| AppError::bad_request(format!("missing query parameter `{name}`")))
}

async fn add_data_point(
    State(state): State<AppState>,
    QueryParam(p): QueryParam<DataPoint>,
) -> Result<Json<Value>, AppError> {
    let project = required(p.projectid, "projectid")?;
    let category = required(p.category, "category")?;
    let label = required(p.label, "label")?;
    let text = required(p.value, "value")?;
    let value: f64 = text
        .trim()
        .parse()
        .ok()
        .filter(|v: &f64| v.is_finite())
        .ok_or_else(|| AppError::bad_request(format!("value {text:?} is not a finite number")))?;
    let path = format!("{project},{category},{label}");
    let mut batch = Batch::new();
    batch.sample(&path, value, None);
    let summary = state.engine().apply(&batch)?;
    state.engine().wal_synced().await;
    Ok(Json(json!({
        "ok": true,
        "path": path,
        "value": num(value),
        "new_nodes": summary.new_nodes,
    })))
}

#[derive(Debug, Deserialize)]
struct Register {
    name: Option<String>,
}

async fn register(
    State(_state): State<AppState>,
    QueryParam(p): QueryParam<Register>,
) -> Result<Json<Value>, AppError> {
    let name = required(p.name, "name")?;
    if name.contains(',') {
        return Err(AppError::bad_request(format!(
            "project name {name:?} must be one key (no ',')"
        )));
    }
    treestat_engine::path::check_path(&name)?;
    Ok(Json(json!({ "ok": true, "projectid": name })))
}
