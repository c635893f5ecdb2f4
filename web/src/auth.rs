//! Bearer-token checks and the request-counting middleware.
//!
//! Writes need the token whenever `auth.token` is set; reads need it only when
//! `auth.reads` is also true. What counts as a write is decided per route when the
//! router is built ([`require_write`] vs [`require_read`]), not guessed from the method
//! alone: `GET /add_data_point` writes.
//!
//! Reads also take the token from the `treestat_token` cookie, which the pages set:
//! a browser cannot add a header to an `EventSource` or an `<img>` graph. Writes take
//! only the header, so a cookie never lets another site's form write here.

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
    let bearer = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(|v| v.trim().as_bytes().to_vec());
    let given = if write {
        bearer
    } else {
        bearer.or_else(|| cookie_token(headers))
    };
    match given {
        Some(g) if constant_time_eq(&g, token.as_bytes()) => Ok(()),
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

/// The name of the cookie the pages keep the token in (reads only).
pub const TOKEN_COOKIE: &str = "treestat_token";

/// The percent-decoded value of the first `treestat_token` cookie, if any.
fn cookie_token(headers: &HeaderMap) -> Option<Vec<u8>> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(name, _)| *name == TOKEN_COOKIE)
        .map(|(_, value)| percent_decode(value.trim_matches('"')))
}

/// `%XX` escapes to bytes; anything malformed is kept as it is (and then won't match).
fn percent_decode(s: &str) -> Vec<u8> {
    percent_encoding::percent_decode_str(s).collect()
}

/// Compares in constant time (`subtle`), so the time taken does not tell how much of
/// the token matched (only whether the lengths differ).
fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    subtle::ConstantTimeEq::ct_eq(a, b).into()
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
    use axum::http::{HeaderMap, HeaderValue, header};

    use super::{constant_time_eq, cookie_token, percent_decode};

    #[test]
    fn token_comparison() {
        assert!(constant_time_eq(b"abc", b"abc"));
        assert!(!constant_time_eq(b"abc", b"abd"));
        assert!(!constant_time_eq(b"abc", b"abcd"));
    }

    #[test]
    fn cookie_is_found_among_others_and_decoded() {
        let mut h = HeaderMap::new();
        h.append(header::COOKIE, HeaderValue::from_static("a=1; theme=dark"));
        h.append(
            header::COOKIE,
            HeaderValue::from_static("x=y;treestat_token=s3%20cr%3Bet; z=2"),
        );
        assert_eq!(cookie_token(&h).as_deref(), Some(&b"s3 cr;et"[..]));
        assert_eq!(cookie_token(&HeaderMap::new()), None);
    }

    #[test]
    fn malformed_escapes_are_kept() {
        assert_eq!(percent_decode("a%2"), b"a%2");
        assert_eq!(percent_decode("%zz%41"), b"%zzA");
        assert_eq!(percent_decode("%"), b"%");
        assert_eq!(percent_decode("%e2%82%ac"), "€".as_bytes());
    }
}
