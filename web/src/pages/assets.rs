//! The static files of the pages (`/assets/...`), embedded in the binary.
//!
//! Every file is compiled in with `include_bytes!`, so the server needs nothing on disk
//! and nothing from the network. Each answer carries an `ETag` (a 64-bit FNV-1a hash of
//! the bytes, computed at compile time) and a `Cache-Control`: the pinned vendor files
//! may be cached for a day, our own files are revalidated on each use (a cheap 304), so
//! a new binary never serves stale scripts.

use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

use crate::error::AppError;

/// One embedded file.
#[derive(Debug)]
pub(crate) struct Asset {
    /// Path below `/assets/`.
    pub path: &'static str,
    /// The `Content-Type`.
    pub mime: &'static str,
    /// The bytes.
    pub body: &'static [u8],
    /// FNV-1a hash of `body`, the ETag.
    pub hash: u64,
}

/// FNV-1a over `bytes`; `const` so each asset's ETag costs nothing at run time.
const fn fnv1a(bytes: &[u8]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    let mut i = 0;
    while i < bytes.len() {
        h ^= bytes[i] as u64;
        h = h.wrapping_mul(0x0100_0000_01b3);
        i += 1;
    }
    h
}

macro_rules! asset {
    ($path:literal, $mime:literal) => {
        Asset {
            path: $path,
            mime: $mime,
            body: include_bytes!(concat!("../../assets/", $path)),
            hash: fnv1a(include_bytes!(concat!("../../assets/", $path))),
        }
    };
}

/// Every file served under `/assets/`.
pub(crate) static ASSETS: &[Asset] = &[
    asset!("css/app.css", "text/css; charset=utf-8"),
    asset!("js/theme.js", "text/javascript; charset=utf-8"),
    asset!("js/api.js", "text/javascript; charset=utf-8"),
    asset!("js/ui.js", "text/javascript; charset=utf-8"),
    asset!("js/tree.js", "text/javascript; charset=utf-8"),
    asset!("js/realtime.js", "text/javascript; charset=utf-8"),
    asset!("js/chart.js", "text/javascript; charset=utf-8"),
    asset!("js/trend.js", "text/javascript; charset=utf-8"),
    asset!("js/views.js", "text/javascript; charset=utf-8"),
    asset!("js/dashboard.js", "text/javascript; charset=utf-8"),
    asset!("icon.svg", "image/svg+xml"),
    asset!(
        "vendor/uplot/uPlot.iife.min.js",
        "text/javascript; charset=utf-8"
    ),
    asset!("vendor/uplot/uPlot.min.css", "text/css; charset=utf-8"),
    asset!("vendor/uplot/LICENSE", "text/plain; charset=utf-8"),
];

/// The embedded file at `path` (below `/assets/`).
pub(crate) fn find(path: &str) -> Option<&'static Asset> {
    ASSETS.iter().find(|a| a.path == path)
}

/// The quoted ETag of an asset.
pub(crate) fn etag(asset: &Asset) -> String {
    format!("\"{:016x}\"", asset.hash)
}

/// Whether `If-None-Match` names this ETag (or `*`): assets and charts.
pub(crate) fn fresh(headers: &HeaderMap, tag: &str) -> bool {
    headers
        .get_all(header::IF_NONE_MATCH)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(|t| t.trim().trim_start_matches("W/"))
        .any(|t| t == tag || t == "*")
}

/// Answers `GET /assets/<path>`: the file with its validators, 304 when the client's
/// copy is current, 404 naming the path otherwise.
pub(crate) fn serve(path: &str, headers: &HeaderMap) -> Response {
    let Some(asset) = find(path) else {
        return AppError::not_found(format!("no asset {path:?}")).into_response();
    };
    let tag = etag(asset);
    let cache = if asset.path.starts_with("vendor/") {
        "public, max-age=86400"
    } else {
        "no-cache"
    };
    let mut out = if fresh(headers, &tag) {
        StatusCode::NOT_MODIFIED.into_response()
    } else {
        let mut r = asset.body.into_response();
        r.headers_mut()
            .insert(header::CONTENT_TYPE, HeaderValue::from_static(asset.mime));
        r
    };
    let h = out.headers_mut();
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static(cache));
    if let Ok(v) = HeaderValue::from_str(&tag) {
        h.insert(header::ETAG, v);
    }
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_asset_has_a_distinct_path_and_a_body() {
        for (i, a) in ASSETS.iter().enumerate() {
            assert!(!a.body.is_empty(), "{} is empty", a.path);
            assert!(
                ASSETS[..i].iter().all(|b| b.path != a.path),
                "{} listed twice",
                a.path
            );
        }
    }

    #[test]
    fn fnv1a_matches_the_reference_values() {
        assert_eq!(fnv1a(b""), 0xcbf2_9ce4_8422_2325);
        assert_eq!(fnv1a(b"a"), 0xaf63_dc4c_8601_ec8c);
    }

    #[test]
    fn if_none_match_lists_and_weak_tags_are_understood() {
        let mut h = HeaderMap::new();
        h.insert(
            header::IF_NONE_MATCH,
            HeaderValue::from_static("\"x\", W/\"abc\""),
        );
        assert!(fresh(&h, "\"abc\""));
        assert!(!fresh(&h, "\"abd\""));
    }
}
