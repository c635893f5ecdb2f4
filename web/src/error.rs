//! [`AppError`]: the one error every handler returns.
//!
//! It maps to a status and a JSON body `{"error": "..."}`. Messages that come from the
//! client's own input (a bad key, a limit) are shown as they are; failures inside the
//! server are logged and answered with a generic text, so internals never leak. Each
//! error carries a short `reason` that the counting middleware turns into
//! `treestat_http_rejects_total{reason=...}`.

use axum::Json;
use axum::extract::rejection::{PathRejection, QueryRejection};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use treestat_engine::ErrorKind;

/// Why a request was refused, as a counter label; put into the response extensions.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RejectReason(pub &'static str);

/// An HTTP error answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AppError {
    status: StatusCode,
    reason: &'static str,
    message: String,
}

impl AppError {
    /// An error with a status, a counter reason and a message shown to the client.
    pub fn new(status: StatusCode, reason: &'static str, message: impl Into<String>) -> AppError {
        AppError {
            status,
            reason,
            message: message.into(),
        }
    }

    /// 400: the request itself is wrong.
    pub fn bad_request(message: impl Into<String>) -> AppError {
        AppError::new(StatusCode::BAD_REQUEST, "bad_request", message)
    }

    /// 404.
    pub fn not_found(message: impl Into<String>) -> AppError {
        AppError::new(StatusCode::NOT_FOUND, "not_found", message)
    }

    /// 413: the body is larger than `body_limit`.
    pub fn body_too_large(limit: usize) -> AppError {
        AppError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "body_too_large",
            format!("request body is larger than the limit of {limit} bytes (web.body_limit)"),
        )
    }

    /// 429: a bounded resource is exhausted.
    pub fn too_many(reason: &'static str, message: impl Into<String>) -> AppError {
        AppError::new(StatusCode::TOO_MANY_REQUESTS, reason, message)
    }

    /// 500: something failed inside; the detail goes to the log, not to the client.
    pub fn internal(detail: impl std::fmt::Display) -> AppError {
        tracing::error!("internal error answering an HTTP request: {detail}");
        AppError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal",
            "internal server error",
        )
    }

    /// 503: the server is shutting down.
    pub fn shutting_down() -> AppError {
        AppError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "shutting_down",
            "the server is shutting down",
        )
    }

    /// The status this error answers with.
    pub fn status(&self) -> StatusCode {
        self.status
    }

    /// The message shown to the client.
    pub fn message(&self) -> &str {
        &self.message
    }
}

impl std::fmt::Display for AppError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.status, self.message)
    }
}

impl std::error::Error for AppError {}

impl IntoResponse for AppError {
    fn into_response(self) -> Response {
        let mut res = (
            self.status,
            Json(serde_json::json!({ "error": self.message })),
        )
            .into_response();
        if self.status == StatusCode::UNAUTHORIZED {
            res.headers_mut()
                .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        }
        res.extensions_mut().insert(RejectReason(self.reason));
        res
    }
}

/// Engine refusals: the message names the key, value or limit, so it is shown as is.
///
/// `TreeFull` answers 507 Insufficient Storage rather than 429: retrying later does not
/// help until nodes are freed or `limits.max_nodes` is raised, which is what 507 says.
impl From<treestat_engine::Error> for AppError {
    fn from(e: treestat_engine::Error) -> AppError {
        let status = match e.kind() {
            ErrorKind::BadDocument
            | ErrorKind::BadKey
            | ErrorKind::BadValue
            | ErrorKind::TooDeep
            | ErrorKind::BadPattern
            | ErrorKind::FutureTime => StatusCode::BAD_REQUEST,
            ErrorKind::PushTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            ErrorKind::TreeFull => StatusCode::INSUFFICIENT_STORAGE,
            // Overload, as every other exhausted bound answers (`AppError::too_many`).
            ErrorKind::WalFull => StatusCode::TOO_MANY_REQUESTS,
        };
        AppError::new(status, e.kind().as_str(), e.message().to_string())
    }
}

impl From<PathRejection> for AppError {
    fn from(e: PathRejection) -> AppError {
        AppError::bad_request(format!("bad path: {}", e.body_text()))
    }
}

impl From<QueryRejection> for AppError {
    fn from(e: QueryRejection) -> AppError {
        AppError::bad_request(format!("bad query string: {}", e.body_text()))
    }
}

/// The pattern of a `<pattern>.json` path segment; 404 naming the form otherwise (the
/// server's and the read front's JSON routes).
///
/// # Errors
/// 404 when `text` does not end in `.json`.
pub fn strip_json(text: &str) -> Result<&str, AppError> {
    text.strip_suffix(".json").ok_or_else(|| {
        AppError::not_found(format!("{text:?}: this endpoint answers `<pattern>.json`"))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn internal_errors_hide_their_detail() {
        let e = AppError::internal("sled: /var/lib/secret/path is corrupt");
        assert_eq!(e.status(), StatusCode::INTERNAL_SERVER_ERROR);
        assert!(!e.message().contains("secret"));
    }

    #[test]
    fn engine_kinds_map_to_statuses() {
        let engine = treestat_engine::Engine::default();
        let bad = engine.push_json(b"{\"a,b\": 1}").unwrap_err();
        let e = AppError::from(bad);
        assert_eq!(e.status(), StatusCode::BAD_REQUEST);
        assert!(e.message().contains("a,b"), "{}", e.message());
        let res = e.into_response();
        assert_eq!(
            res.extensions().get::<RejectReason>(),
            Some(&RejectReason("bad_key"))
        );
    }
}
