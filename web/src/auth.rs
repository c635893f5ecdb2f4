//! Bearer-token checks and the request-counting middleware.
//!
//! Writes need the token whenever `auth.token` is set; reads need it only when
//! `auth.reads` is also true. What counts as a write is decided per route when the
//! router is built ([`require_write`] vs [`require_read`]), not guessed from the method
//! alone: `GET /add_data_point` writes.

use axum::extract::{Request, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::middleware::Next;
use axum::response::Response;

use crate::error::{AppError, RejectReason};
use crate::state::AppState;

/// Middleware for routes that write: 401 without the token when `auth.token` is set.
///
/// # Errors
/// 401 as a JSON [`AppError`].
pub async fn require_write(
    State(state): State<AppState>,
    req: Request,
    next: Next,
) -> Result<Response, AppError> {
    check(&state, req.headers(), true)?;
    Ok(next.run(req).await)
}

/// Middleware for routes that read: 401 without the token when `auth.token` is set
/// and `auth.reads` is true.
///
/// # Errors
/// 401 as a JSON [`AppError`].
pub async fn require_read(
    State(state): State<AppState>,
    req: Request,
    next: Next,
) -> Result<Response, AppError> {
    check(&state, req.headers(), false)?;
    Ok(next.run(req).await)
}

/// Middleware for routes that read with GET and write with other methods (views).
pub(crate) async fn require_by_method(
    State(state): State<AppState>,
    req: Request,
    next: Next,
) -> Result<Response, AppError> {
    let write = !matches!(
        *req.method(),
        axum::http::Method::GET | axum::http::Method::HEAD
    );
    check(&state, req.headers(), write)?;
    Ok(next.run(req).await)
}

fn check(state: &AppState, headers: &HeaderMap, write: bool) -> Result<(), AppError> {
    let auth = &state.config().auth;
    let Some(token) = auth.token.as_deref() else {
        return Ok(());
    };
    if !write && !auth.reads {
        return Ok(());
    }
    let given = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::trim);
    match given {
        Some(g) if constant_time_eq(g.as_bytes(), token.as_bytes()) => Ok(()),
        Some(_) => Err(AppError::new(
            StatusCode::UNAUTHORIZED,
            "unauthorized",
            "wrong bearer token",
        )),
        None => Err(AppError::new(
            StatusCode::UNAUTHORIZED,
            "unauthorized",
            "this request needs `Authorization: Bearer <token>` (auth.token is set)",
        )),
    }
}

/// Compares without an early exit, so the time taken does not tell how much matched.
fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// Counts every request, and every refusal by the reason its error carried.
pub(crate) async fn count(State(state): State<AppState>, req: Request, next: Next) -> Response {
    let res = next.run(req).await;
    let c = state.counters();
    c.requests.inc();
    if let Some(RejectReason(reason)) = res.extensions().get::<RejectReason>() {
        c.reject(reason);
    }
    res
}

#[cfg(test)]
mod tests {
    use super::constant_time_eq;

    #[test]
    fn token_comparison() {
        assert!(constant_time_eq(b"abc", b"abc"));
        assert!(!constant_time_eq(b"abc", b"abd"));
        assert!(!constant_time_eq(b"abc", b"abcd"));
    }
}
