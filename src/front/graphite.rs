//! The Graphite API at the front: `/render` evaluates its targets here, with the web
//! crate's own handler (`treestat_web::graphite_render`), over a [`Source`] that reads
//! each plain path query from every shard (their `/render?format=json`, the same series
//! a shard's evaluator would see); `/metrics/find`, `/metrics/expand` and
//! `/metrics/index.json` merge the shards' nodes and names; `/functions` and the tag
//! routes answer as a server does.
//!
//! A name two shards both answer (a key moved by a rebalance) is merged as
//! graphite-web merges a name found on several `CLUSTER_SERVERS`: the first shard's
//! series, its nulls filled from the others'. Shards that fail or pass the deadline are
//! left out and named in `X-Treestat-Partial`.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{Method, Uri};
use axum::response::{IntoResponse, Response};
use parking_lot::Mutex;
use serde::Deserialize;
use serde_json::Value;
use treestat_graphite::{Error, Series, Source};
use treestat_web::AppError;

use super::fan::{answer, bodies, query};
use super::shards::Shards;
use super::state::Front;

/// Plain path queries read from every shard.
struct ShardSource {
    shards: Shards,
    /// Shards left out of any fetch of this request.
    missing: Arc<Mutex<BTreeSet<usize>>>,
    handle: tokio::runtime::Handle,
}

#[derive(Deserialize)]
struct Answered {
    target: String,
    datapoints: Vec<(Option<f64>, i64)>,
}

impl Source for ShardSource {
    fn fetch(&self, q: &str, from: i64, until: i64) -> Result<Vec<Series>, Error> {
        let path = format!(
            "/render?{}",
            query(&[
                ("target", q.to_string()),
                ("from", from.to_string()),
                ("until", until.to_string()),
                ("format", "json".to_string()),
            ])
        );
        // Called on the blocking pool by the evaluator: the fan-out runs on the runtime.
        let fanned = self
            .handle
            .block_on(self.shards.get_all(&self.shards.all(), &path));
        self.missing.lock().extend(fanned.missing.iter().copied());
        let mut replies = fanned.replies;
        replies.sort_by_key(|(i, _)| *i);
        let mut by_name: BTreeMap<String, Series> = BTreeMap::new();
        for (_, reply) in replies {
            let body = match reply {
                super::shards::Reply::Ok(b) => b,
                super::shards::Reply::Refused(status, b) => {
                    return Err(Error::bad_request(
                        super::fan::refused(status, &b).message(),
                    ));
                }
                super::shards::Reply::Pulled(..) => continue,
            };
            let list: Vec<Answered> = serde_json::from_slice(&body)
                .map_err(|e| Error::internal(format!("a shard's /render answer: {e}")))?;
            for a in list {
                let start = a.datapoints.first().map_or(from, |p| p.1);
                let step = match a.datapoints.as_slice() {
                    [x, y, ..] => (y.1 - x.1).max(1),
                    _ => (until - from).max(1),
                };
                let values: Vec<Option<f64>> = a.datapoints.iter().map(|p| p.0).collect();
                match by_name.get_mut(&a.target) {
                    Some(s) if s.start == start && s.step == step => {
                        for (mine, theirs) in s.values.iter_mut().zip(&values) {
                            if mine.is_none() {
                                *mine = *theirs;
                            }
                        }
                    }
                    Some(_) => {}
                    None => {
                        by_name.insert(
                            a.target.clone(),
                            Series::new(&a.target, start, step, values),
                        );
                    }
                }
            }
        }
        Ok(by_name.into_values().collect())
    }
}

/// The query string and, for a POST, the form body.
fn params(uri: &Uri, method: &Method, body: &Bytes) -> Result<Vec<(String, String)>, AppError> {
    let mut out: Vec<(String, String)> = match uri.query() {
        Some(q) => serde_urlencoded::from_str(q)
            .map_err(|e| AppError::bad_request(format!("query string: {e}")))?,
        None => Vec::new(),
    };
    if method == Method::POST {
        let form: Vec<(String, String)> = serde_urlencoded::from_bytes(body)
            .map_err(|e| AppError::bad_request(format!("form body: {e}")))?;
        out.extend(form);
    }
    Ok(out)
}

pub(crate) async fn render(
    State(front): State<Front>,
    method: Method,
    uri: Uri,
    body: Bytes,
) -> Result<Response, AppError> {
    let p = params(&uri, &method, &body)?;
    let missing = Arc::new(Mutex::new(BTreeSet::new()));
    let src = ShardSource {
        shards: front.shards.clone(),
        missing: missing.clone(),
        handle: tokio::runtime::Handle::current(),
    };
    let now = super::trend::range(Some("now"), None)?.0;
    let res = treestat_web::graphite_render(&p, now, src, front.renders.clone()).await?;
    let missing: Vec<usize> = missing.lock().iter().copied().collect();
    Ok(answer(&front, &missing, res))
}

/// `route` with the request's parameters (query and form) as a query string, asked of
/// every shard: their bodies and the shards left out.
async fn ask_all(
    front: &Front,
    route: &str,
    p: &[(String, String)],
) -> Result<(Vec<Vec<u8>>, Vec<usize>), AppError> {
    let path = format!(
        "{route}?{}",
        serde_urlencoded::to_string(p).map_err(AppError::internal)?
    );
    let fanned = front.shards.get_all(&front.shards.all(), &path).await;
    bodies(front, fanned)
}

/// `/metrics/find`: every shard's nodes, merged (a node two shards have, once), in the
/// order a server sorts them.
pub(crate) async fn find(
    State(front): State<Front>,
    method: Method,
    uri: Uri,
    body: Bytes,
) -> Result<Response, AppError> {
    let p = params(&uri, &method, &body)?;
    let (bodies, missing) = ask_all(&front, "/metrics/find", &p).await?;
    let completer = p
        .iter()
        .rev()
        .find(|(k, _)| k == "format")
        .is_some_and(|(_, v)| v == "completer");
    let mut nodes: BTreeMap<(String, String), Value> = BTreeMap::new();
    for b in bodies {
        let v: Value = serde_json::from_slice(&b).map_err(AppError::internal)?;
        let list = if completer { v["metrics"].clone() } else { v };
        for n in list.as_array().into_iter().flatten() {
            let key = if completer {
                (
                    n["name"].as_str().unwrap_or("").to_string(),
                    n["is_leaf"].to_string(),
                )
            } else {
                (
                    n["id"].as_str().unwrap_or("").to_string(),
                    n["leaf"].to_string(),
                )
            };
            nodes.entry(key).or_insert_with(|| n.clone());
        }
    }
    let list = Value::Array(nodes.into_values().collect());
    let v = if completer {
        serde_json::json!({ "metrics": list })
    } else {
        list
    };
    Ok(answer(&front, &missing, axum::Json(v).into_response()))
}

/// `/metrics/expand`: every shard's names merged (a name two shards have, once), sorted
/// as a server sorts them.
pub(crate) async fn expand(
    State(front): State<Front>,
    method: Method,
    uri: Uri,
    body: Bytes,
) -> Result<Response, AppError> {
    let p = params(&uri, &method, &body)?;
    let (bodies, missing) = ask_all(&front, "/metrics/expand", &p).await?;
    let mut names = BTreeSet::new();
    for b in bodies {
        let v: Value = serde_json::from_slice(&b).map_err(AppError::internal)?;
        for n in v["results"].as_array().into_iter().flatten() {
            if let Some(n) = n.as_str() {
                names.insert(n.to_string());
            }
        }
    }
    let v = serde_json::json!({ "results": names });
    Ok(answer(&front, &missing, axum::Json(v).into_response()))
}

/// `/metrics/index.json`: every shard's leaf names, in a server's order (by the leaves'
/// paths: a name read back as a path, its dots as commas, so a key's `-` sorts before
/// its children as on a server); a name two shards list (a moved key), once.
pub(crate) async fn index(State(front): State<Front>) -> Result<Response, AppError> {
    let fanned = front
        .shards
        .get_all(&front.shards.all(), "/metrics/index.json")
        .await;
    let (bodies, missing) = bodies(&front, fanned)?;
    let mut names: Vec<String> = Vec::new();
    for b in bodies {
        let list: Vec<String> = serde_json::from_slice(&b).map_err(AppError::internal)?;
        names.extend(list);
    }
    names.sort_by_cached_key(|n| n.replace('.', ","));
    names.dedup();
    Ok(answer(&front, &missing, axum::Json(names).into_response()))
}

/// `/functions`: the functions the evaluator knows, the front's own (it evaluates
/// every target itself).
pub(crate) async fn functions() -> Response {
    axum::Json(treestat_graphite::output::functions()).into_response()
}

/// Tags are not supported: every tag query answers an empty list, as on a server.
pub(crate) async fn no_tags() -> Response {
    axum::Json(Value::Array(Vec::new())).into_response()
}
