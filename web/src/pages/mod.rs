//! The web pages (docs/API.md): `/` (the overview dashboard), `/dashboard/` (the list),
//! `/dashboard/<name>`, `/realtime/`, `/realtime/<pattern>`, `/realtime/view/<name>`,
//! `/trend/view/`, `/setting/view`, and their static files under `/assets/`.
//!
//! Pages are small HTML shells; everything they show comes from the JSON API through
//! plain ES modules (no framework, no build step), and uPlot draws the charts. The
//! router needs no state, so it is generic and merges into any `Router<S>`. What the
//! URL names (a pattern, a view) is handed to the scripts HTML-escaped in `data-`
//! attributes; the scripts never interpolate it into markup.

pub(crate) mod assets;
mod html;

use axum::Router;
use axum::extract::Path;
use axum::http::{HeaderMap, HeaderValue, header};
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::get;

use html::{Page, render};

/// The pages and their assets, mergeable into the app's router.
pub fn router<S: Clone + Send + Sync + 'static>() -> Router<S> {
    Router::new()
        .route("/", get(|| async { page(Page::Dashboard, "", "overview") }))
        .route("/dashboard", get(|| async { Redirect::to("/dashboard/") }))
        .route(
            "/dashboard/",
            get(|| async { page(Page::Dashboard, "", "") }),
        )
        .route("/dashboard/{name}", get(dashboard))
        .route("/realtime", get(|| async { Redirect::to("/realtime/") }))
        .route("/realtime/", get(|| async { page(Page::Realtime, "", "") }))
        .route("/realtime/{*rest}", get(realtime))
        .route(
            "/trend/view",
            get(|| async { Redirect::to("/trend/view/") }),
        )
        .route("/trend/view/", get(|| async { page(Page::Trend, "", "") }))
        .route(
            "/setting/view",
            get(|| async { page(Page::Settings, "", "") }),
        )
        .route(
            "/setting/view/",
            get(|| async { page(Page::Settings, "", "") }),
        )
        .route("/assets/{*path}", get(asset))
}

/// `/realtime/<pattern>` or `/realtime/view/<name>`.
async fn realtime(Path(rest): Path<String>) -> Response {
    match rest.strip_prefix("view/") {
        Some(name) => page(Page::Realtime, "", name),
        None => page(Page::Realtime, &rest, ""),
    }
}

/// `/dashboard/<name>`.
async fn dashboard(Path(name): Path<String>) -> Response {
    page(Page::Dashboard, "", &name)
}

async fn asset(Path(path): Path<String>, headers: HeaderMap) -> Response {
    assets::serve(&path, &headers)
}

fn page(which: Page, pattern: &str, view: &str) -> Response {
    let mut r = Html(render(which, pattern, view)).into_response();
    let h = r.headers_mut();
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    // Everything a page loads comes from this server: say so, so a stray reference to
    // another host fails loudly in the browser instead of leaking requests.
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(
            "default-src 'self'; img-src 'self' data: blob:; style-src 'self' 'unsafe-inline'; \
             connect-src 'self'; object-src 'none'; base-uri 'none'; frame-ancestors 'self'",
        ),
    );
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    r
}

#[cfg(test)]
mod tests;
