//! Saved views and dashboards at the front (`/api/views`, `/api/dashboards`): they
//! live on the first shard of `--shards`, and the front forwards every request for
//! them there (reads, and writes from its own pages).
//!
//! Why the first shard rather than a store of the front's own: the front keeps no
//! state (a restarted or second front over the same shards shows the same views at
//! once, with nothing to copy or keep in step), views are a few small documents, and
//! one home means no merge of two shards' copies. The price: while the first shard is
//! down, views and saved dashboards answer 502 (the built-in dashboards too, as they
//! are read through the same route) while the data reads go on. A write must pass a
//! server's same-origin rule and, when the front has a token, carry it as
//! `Authorization: Bearer`, as a server's writes do; the front then sends it with its
//! own token.

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use treestat_web::AppError;

use super::state::Front;

/// Largest body forwarded (a server refuses views over 64 KiB, dashboards over 1 MiB).
const BODY_LIMIT: usize = 2 << 20;

/// Forwards the request to the first shard and passes its answer back.
pub(crate) async fn forward(
    State(front): State<Front>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, AppError> {
    let write = !matches!(method, Method::GET | Method::HEAD);
    if write {
        let host = headers.get(header::HOST).and_then(|v| v.to_str().ok());
        treestat_web::check_origin(&headers, host)
            .map_err(|why| AppError::new(StatusCode::FORBIDDEN, "cross_origin", why))?;
        if let Some(token) = &front.token {
            let bearer = headers
                .get(header::AUTHORIZATION)
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.strip_prefix("Bearer "))
                .is_some_and(|t| t.trim() == token);
            if !bearer {
                return Err(AppError::new(
                    StatusCode::UNAUTHORIZED,
                    "unauthorized",
                    "this request needs `Authorization: Bearer <token>` (the front has a token)",
                ));
            }
        }
    }
    if body.len() > BODY_LIMIT {
        return Err(AppError::body_too_large(BODY_LIMIT));
    }
    let path = uri.path_and_query().map_or(uri.path(), |p| p.as_str());
    let ctype = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    let home = 0;
    let reply = front
        .shards
        .forward(home, method, path, ctype, body.to_vec())
        .await
        .map_err(|why| {
            AppError::new(
                StatusCode::BAD_GATEWAY,
                "views_shard_unavailable",
                format!(
                    "saved views live on the first shard, {}, which did not answer: {why}",
                    front.shards.name(home)
                ),
            )
        })?;
    let status = StatusCode::from_u16(reply.0).unwrap_or(StatusCode::BAD_GATEWAY);
    let mut res = (status, reply.2).into_response();
    if let Some(v) = reply.1.and_then(|c| HeaderValue::from_str(&c).ok()) {
        res.headers_mut().insert(header::CONTENT_TYPE, v);
    }
    Ok(res)
}
