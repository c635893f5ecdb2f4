//! `/api/keys/<prefix>` and `/markers/<pattern>.json` at the front: the shards'
//! listings merged.
//!
//! `/api/keys`: a prefix whose first key is known goes to its holders, the root to
//! every shard; keys are merged in key order, a key two shards list taken from the
//! first in `--shards` order (its `children` are that shard's); `total` counts the
//! merged keys and `limit` (default 10,000) cuts the merged list. 404 only when no
//! shard has the prefix. `/markers`: every shard's, oldest first (one time stamp's in
//! path order).

use std::collections::BTreeMap;

use axum::Json;
use axum::extract::rejection::{PathRejection, QueryRejection};
use axum::extract::{Path, Query, State};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::Value;
use treestat_web::AppError;

use super::fan::{answer, bodies, encode, query, refused};
use super::shards::Reply;
use super::state::Front;

/// `/api/keys`'s default `limit`, as on a server.
const DEFAULT_LIMIT: usize = 10_000;

#[derive(Debug, Deserialize)]
pub(crate) struct KeysParams {
    internal: Option<String>,
    limit: Option<usize>,
}

pub(crate) async fn keys_root(
    front: State<Front>,
    params: Result<Query<KeysParams>, QueryRejection>,
) -> Result<Response, AppError> {
    keys(front, Ok(Path(String::new())), params).await
}

pub(crate) async fn keys(
    State(front): State<Front>,
    prefix: Result<Path<String>, PathRejection>,
    params: Result<Query<KeysParams>, QueryRejection>,
) -> Result<Response, AppError> {
    let prefix = prefix?.0;
    let params = params?.0;
    let limit = params.limit.unwrap_or(DEFAULT_LIMIT);
    let mut q = vec![("limit", usize::MAX.to_string())];
    if let Some(i) = &params.internal {
        q.push(("internal", i.clone()));
    }
    let first = prefix.split(',').next().unwrap_or("");
    let targets = if first.is_empty() || first.contains(['*', '?', '|']) {
        front.shards.all()
    } else {
        front.shards.owners_of(first)
    };
    let path = format!("/api/keys/{}?{}", encode(&prefix), query(&q));
    let mut fanned = front.shards.get_all(&targets, &path).await;
    // A shard without the prefix is not an error while another has it.
    fanned.replies.sort_by_key(|(i, _)| *i);
    let mut listings = Vec::new();
    for (_, r) in std::mem::take(&mut fanned.replies) {
        match r {
            Reply::Refused(404, _) => {}
            Reply::Refused(status, body) => return Err(refused(status, &body)),
            Reply::Ok(b) | Reply::Pulled(_, _, _, b) => {
                listings.push(serde_json::from_slice::<Value>(&b).map_err(AppError::internal)?);
            }
        }
    }
    let missing = fanned.missing;
    // No shard that answered has it (or, by the owner map, none holds its key).
    if listings.is_empty() && missing.is_empty() {
        return Err(AppError::not_found(format!("no node at {prefix:?}")));
    }
    let leaf = listings.iter().any(|l| l["leaf"] == Value::Bool(true));
    let mut merged: BTreeMap<String, Value> = BTreeMap::new();
    for l in &listings {
        for k in l["keys"].as_array().into_iter().flatten() {
            let name = k["key"].as_str().unwrap_or("").to_string();
            merged.entry(name).or_insert_with(|| k.clone());
        }
    }
    let total = merged.len();
    let keys: Vec<Value> = merged.into_values().take(limit).collect();
    let body = serde_json::json!({
        "prefix": prefix,
        "leaf": leaf && keys.is_empty(),
        "truncated": keys.len() < total,
        "keys": keys,
        "total": total,
    });
    Ok(answer(&front, &missing, Json(body).into_response()))
}

#[derive(Debug, Deserialize)]
pub(crate) struct MarkerParams {
    from: Option<String>,
    until: Option<String>,
}

pub(crate) async fn markers(
    State(front): State<Front>,
    pattern: Result<Path<String>, PathRejection>,
    params: Result<Query<MarkerParams>, QueryRejection>,
) -> Result<Response, AppError> {
    let pattern = pattern?.0;
    let params = params?.0;
    let text = treestat_web::strip_json(&pattern)?;
    let mut q = Vec::new();
    if let Some(f) = params.from {
        q.push(("from", f));
    }
    if let Some(u) = params.until {
        q.push(("until", u));
    }
    let path = format!("/markers/{}.json?{}", encode(text), query(&q));
    let fanned = front.shards.get_all(&front.shards.all(), &path).await;
    let (bodies, missing) = bodies(&front, fanned)?;
    let mut all = Vec::new();
    for b in bodies {
        let v: Vec<Value> = serde_json::from_slice(&b).map_err(AppError::internal)?;
        all.extend(v);
    }
    // Oldest first; one time stamp's markers from several shards in path order (their
    // arrival order, which a server uses, is not known across shards).
    all.sort_by(|a, b| {
        let key = |m: &Value| {
            (
                m["ts"].as_i64().unwrap_or(0),
                m["path"].as_str().map(str::to_string),
            )
        };
        key(a).cmp(&key(b))
    });
    Ok(answer(
        &front,
        &missing,
        Json(Value::Array(all)).into_response(),
    ))
}
