//! What the routes share to read requests and write JSON: path and query extractors
//! that refuse with our JSON 400, and numbers for JSON.

use axum::extract::{FromRequestParts, Path, Query};
use serde_json::Value;

use crate::error::AppError;

/// A percent-decoded path parameter, refused with our JSON 400 when it does not decode.
#[derive(Debug, FromRequestParts)]
#[from_request(via(Path), rejection(AppError))]
pub(crate) struct PathParam<T>(pub T);

/// A query string, refused with our JSON 400 when it does not parse.
#[derive(Debug, FromRequestParts)]
#[from_request(via(Query), rejection(AppError))]
pub(crate) struct QueryParam<T>(pub T);

/// The `stat` query parameter (`?stat=p99` or `?stat=p50,p99,upper_90`), shared by
/// every route that takes it: `None` when absent or empty (the route's usual values).
///
/// # Errors
/// 400 naming the first name that is not a stat.
pub(crate) fn stats_param(
    stat: Option<&str>,
) -> Result<Option<Vec<treestat_engine::Stat>>, AppError> {
    let Some(text) = stat else {
        return Ok(None);
    };
    let stats =
        treestat_engine::parse_stats(text).map_err(|e| AppError::bad_request(e.to_string()))?;
    Ok((!stats.is_empty()).then_some(stats))
}

/// A number for JSON: NaN and infinities (which the engine keeps out) become null.
pub(crate) fn num(v: f64) -> Value {
    serde_json::Number::from_f64(v).map_or(Value::Null, Value::Number)
}
