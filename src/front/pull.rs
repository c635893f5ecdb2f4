//! `/pull/<pattern>` at the front: the shards' long-polls fanned in.
//!
//! The front's cursor is one shard cursor per `--shards` entry joined by `_`
//! (`"41_7_0"`; empty where a shard was not asked yet); clients pass it back as they
//! pass a server's, as an opaque token. Without a cursor the front first reads each
//! shard's current cursor (a poll with `timeout=0s`), so what follows is "the next
//! push", as on a server. Then every shard (a key not created yet, or moved, must
//! still be seen) is polled with its
//! cursor at once; the first answer with values is returned, with the others that
//! are in by then; a shard that answered nothing keeps its cursor, so its next push is
//! returned by the next poll and nothing is lost between polls. `X-Treestat-Missed` is
//! set when any shard's is. A shard that fails, or is still out `--deadline` past the
//! timeout, is named in `X-Treestat-Partial`. Each poll is an async request per shard
//! asked (`stream.rs`), held at most the timeout plus the deadline: a waiting reader
//! holds no thread.

use std::time::Duration;

use axum::Json;
use axum::extract::rejection::{PathRejection, QueryRejection};
use axum::extract::{Path, Query, State};
use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::{Map, Value};
use treestat_engine::pattern::Pattern;
use treestat_web::{AppError, CURSOR_HEADER, MISSED_HEADER};

use super::fan::{answer, encode, internal_flag, query, refused};
use super::shards::Reply;
use super::state::Front;

/// `timeout` when the request names none, and the longest honoured (a server's
/// `web.pull_timeout` and `web.pull_timeout_max` defaults).
const DEFAULT_WAIT: Duration = Duration::from_secs(30);
const MAX_WAIT: Duration = Duration::from_secs(300);

#[derive(Debug, Deserialize)]
pub(crate) struct PullParams {
    cursor: Option<String>,
    timeout: Option<String>,
    internal: Option<String>,
}

pub(crate) async fn pull_all(
    front: State<Front>,
    params: Result<Query<PullParams>, QueryRejection>,
) -> Result<Response, AppError> {
    pull(front, Ok(Path(String::new())), params).await
}

pub(crate) async fn pull(
    State(front): State<Front>,
    pattern: Result<Path<String>, PathRejection>,
    params: Result<Query<PullParams>, QueryRejection>,
) -> Result<Response, AppError> {
    let text = pattern?.0;
    let params = params?.0;
    let internal = internal_flag(params.internal.as_deref())?;
    let p = Pattern::parse(&text)?.with_internal(internal);
    let wait = match params.timeout.as_deref() {
        None => DEFAULT_WAIT,
        Some(t) => treestat_engine::parse_duration(t)
            .map_err(|e| AppError::bad_request(e.to_string()))?
            .min(MAX_WAIT),
    };
    let n = front.shards.all().len();
    let mut cursors: Vec<Option<u64>> = match params.cursor.as_deref() {
        None => vec![None; n],
        Some(c) => parse_cursor(c, n)?,
    };
    // Every shard: a key not created yet, or moved while the stream or poll lasts,
    // must still be seen (owner routing is for reads of what exists).
    let targets = front.shards.all();
    let base = |extra: Vec<(&str, String)>| {
        let mut q = extra;
        if internal {
            q.push(("internal", "1".to_string()));
        }
        format!("/pull/{}?{}", encode(p.as_str()), query(&q))
    };
    let mut missing = Vec::new();
    // Shards without a cursor: their current one first.
    let fresh: Vec<usize> = targets
        .iter()
        .copied()
        .filter(|&i| cursors[i].is_none())
        .collect();
    let mut values = Map::new();
    let mut missed = false;
    if !fresh.is_empty() {
        let paths = vec![base(vec![("timeout", "0s".to_string())]); fresh.len()];
        let f = front
            .shards
            .pull_first(&fresh, &paths, Duration::ZERO)
            .await;
        missing.extend(f.missing);
        for (i, r) in f.replies {
            take(i, r, &mut cursors, &mut values, &mut missed)?;
        }
    }
    let asked: Vec<usize> = targets
        .iter()
        .copied()
        .filter(|&i| cursors[i].is_some())
        .collect();
    if values.is_empty() && !asked.is_empty() {
        let paths: Vec<String> = asked
            .iter()
            .map(|&i| {
                base(vec![
                    ("cursor", cursors[i].unwrap_or(0).to_string()),
                    ("timeout", format!("{}ms", wait.as_millis())),
                ])
            })
            .collect();
        let f = front.shards.pull_first(&asked, &paths, wait).await;
        missing.extend(f.missing);
        for (i, r) in f.replies {
            take(i, r, &mut cursors, &mut values, &mut missed)?;
        }
    }
    missing.sort_unstable();
    missing.dedup();
    let cursor = cursors
        .iter()
        .map(|c| c.map(|c| c.to_string()).unwrap_or_default())
        .collect::<Vec<_>>()
        .join("_");
    let mut res = if values.is_empty() {
        StatusCode::NO_CONTENT.into_response()
    } else {
        Json(Value::Object(values)).into_response()
    };
    let h = res.headers_mut();
    if let Ok(v) = HeaderValue::from_str(&cursor) {
        h.insert(CURSOR_HEADER, v);
    }
    if missed {
        h.insert(MISSED_HEADER, HeaderValue::from_static("true"));
    }
    Ok(answer(&front, &missing, res))
}

/// One shard's answer into the merged one: its cursor, its values.
fn take(
    i: usize,
    r: Reply,
    cursors: &mut [Option<u64>],
    values: &mut Map<String, Value>,
    missed: &mut bool,
) -> Result<(), AppError> {
    match r {
        Reply::Pulled(status, cursor, m, body) => {
            if let Some(c) = cursor {
                cursors[i] = Some(c);
            }
            *missed |= m;
            if status == 200 {
                let v: Map<String, Value> =
                    serde_json::from_slice(&body).map_err(AppError::internal)?;
                for (k, v) in v {
                    values.entry(k).or_insert(v);
                }
            }
            Ok(())
        }
        Reply::Ok(_) => Ok(()),
        Reply::Refused(status, body) => Err(refused(status, &body)),
    }
}

/// A front cursor: one entry per shard, `_`-separated.
fn parse_cursor(text: &str, n: usize) -> Result<Vec<Option<u64>>, AppError> {
    let bad = || {
        AppError::bad_request(format!(
            "cursor {text:?}: the front's cursor is {n} shard cursors joined by `_`, as its X-Treestat-Cursor gives"
        ))
    };
    let parts: Vec<&str> = text.split('_').collect();
    if parts.len() != n {
        return Err(bad());
    }
    parts
        .into_iter()
        .map(|p| {
            if p.is_empty() {
                Ok(None)
            } else {
                p.parse().map(Some).map_err(|_| bad())
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::parse_cursor;

    #[test]
    fn a_front_cursor_is_one_entry_per_shard() {
        assert_eq!(
            parse_cursor("41_7_0", 3).unwrap(),
            [Some(41), Some(7), Some(0)]
        );
        assert_eq!(parse_cursor("41__0", 3).unwrap(), [Some(41), None, Some(0)]);
        // A server's cursor, or one of another front, is refused, not misread.
        for bad in ["41", "41_7", "41_x_0", "1_2_3_4", "-1_2_3"] {
            assert!(parse_cursor(bad, 3).is_err(), "{bad}");
        }
    }
}
