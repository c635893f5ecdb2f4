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

/// A number for JSON: NaN and infinities (which the engine keeps out) become null.
pub(crate) fn num(v: f64) -> Value {
    serde_json::Number::from_f64(v).map_or(Value::Null, Value::Number)
}
