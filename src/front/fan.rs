//! What the front's routes share: which shards a pattern asks, the shards' bodies
//! (a 4xx passed on), and the partial marks on an answer.

use axum::http::{HeaderValue, StatusCode};
use axum::response::Response;
use serde_json::Value;
use treestat_engine::INTERNAL_KEY;
use treestat_engine::pattern::{Match, Pattern};
use treestat_web::AppError;

use super::shards::{Fanned, Reply};
use super::state::{Front, PARTIAL_HEADER};

/// The shards a pattern asks: the holders of its first key when that is a literal
/// (not the shards' own `_treestat`, which every shard has), else every shard.
pub(crate) fn route(front: &Front, pattern: &Pattern) -> Vec<usize> {
    match pattern.segments().first().map(|s| &s.matcher) {
        Some(Match::Literal(k)) if k != INTERNAL_KEY => front.shards.owners_of(k),
        _ => front.shards.all(),
    }
}

/// The bodies of the shards that answered; a shard's 4xx is the reader's error,
/// passed on with its status.
pub(crate) fn bodies(
    front: &Front,
    fanned: Fanned,
) -> Result<(Vec<Vec<u8>>, Vec<usize>), AppError> {
    let mut out = Vec::with_capacity(fanned.replies.len());
    // Shard order, whichever answered first.
    let mut replies = fanned.replies;
    replies.sort_by_key(|(i, _)| *i);
    for (i, reply) in replies {
        match reply {
            Reply::Ok(b) | Reply::Pulled(_, _, _, b) => out.push(b),
            Reply::Refused(status, body) => {
                tracing::debug!(shard = front.shards.name(i), status, "refused");
                return Err(refused(status, &body));
            }
        }
    }
    let mut missing = fanned.missing;
    missing.sort_unstable();
    Ok((out, missing))
}

/// `?internal=` as a server reads it (`1`, `true`, `yes` or empty; `0`, `false`, `no`).
pub(crate) fn internal_flag(v: Option<&str>) -> Result<bool, AppError> {
    treestat_web::tree::flag("internal", v)
}

/// A shard's 4xx as the reader's error: its status and its `error` message.
pub(crate) fn refused(status: u16, body: &[u8]) -> AppError {
    let msg = serde_json::from_slice::<Value>(body)
        .ok()
        .and_then(|v| v.get("error").and_then(Value::as_str).map(str::to_string))
        .unwrap_or_else(|| String::from_utf8_lossy(body).into_owned());
    let status = StatusCode::from_u16(status).unwrap_or(StatusCode::BAD_REQUEST);
    AppError::new(status, "shard_refused", msg)
}

/// The shards' names as a JSON array.
pub(crate) fn names(front: &Front, missing: &[usize]) -> Value {
    Value::Array(
        missing
            .iter()
            .map(|&i| Value::from(front.shards.name(i)))
            .collect(),
    )
}

/// `res` with `X-Treestat-Partial` when shards were left out.
pub(crate) fn answer(front: &Front, missing: &[usize], mut res: Response) -> Response {
    if !missing.is_empty() {
        front.partial_answers.inc();
        let list: Vec<&str> = missing.iter().map(|&i| front.shards.name(i)).collect();
        if let Ok(v) = HeaderValue::from_str(&list.join(",")) {
            res.headers_mut().insert(PARTIAL_HEADER, v);
        }
    }
    res
}

/// A number for JSON (null when not finite).
pub(crate) fn num(v: f64) -> Value {
    serde_json::Number::from_f64(v).map_or(Value::Null, Value::Number)
}

/// A query string of `pairs`, form-encoded.
pub(crate) fn query(pairs: &[(&str, String)]) -> String {
    let mut s = url::form_urlencoded::Serializer::new(String::new());
    for (k, v) in pairs {
        s.append_pair(k, v);
    }
    s.finish()
}

/// A pattern as one path segment: `,` and `*` kept readable, the rest that is not
/// unreserved percent-encoded (`|` as `%7C`, `/` as `%2F`).
pub(crate) fn encode(text: &str) -> String {
    use std::fmt::Write as _;
    let mut out = String::with_capacity(text.len());
    for b in text.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~,*".contains(&b) {
            out.push(char::from(b));
        } else {
            let _ = write!(out, "%{b:02X}");
        }
    }
    out
}
