//! treestat-web: the HTTP API and pages, as one axum router over the engine.
//!
//! Will hold `fn app(state) -> Router`, one router per area (push, query, trends,
//! graphs, views, pages) and the embedded static assets. See DESIGN.md §5.
