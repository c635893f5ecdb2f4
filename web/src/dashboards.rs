//! Dashboards: `GET /api/dashboards` (the list), `GET/PUT/DELETE /api/dashboards/<name>`.
//!
//! A dashboard is data (docs/DASHBOARDS.md): a title, how many seconds of the past each
//! chart shows, and sections of panels, each a pattern with how to draw it. The
//! defaults ship in `conf/dashboards/*.json` and are compiled in, so a server with no
//! files shows them. A saved dashboard is kept in the trend store's key-value space
//! under `dashboard/<name>` (the data folder), like the saved views; one saved under a
//! default's name shadows that default until it is deleted. Names follow the views'
//! rules (1..=128 letters, digits, `-`, `_`, `.` and space).

use std::collections::BTreeMap;
use std::sync::{Arc, LazyLock};

use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::get;
use axum::{Json, Router};
use serde::{Deserialize, Serialize};
use treestat_engine::Pattern;

use crate::body::read_bounded;
use crate::error::AppError;
use crate::extract::{PathParam, stats_param};
use crate::state::{AppState, ViewStore};
use crate::views::check_name;

/// Key prefix of saved dashboards in the store.
pub const DASHBOARD_PREFIX: &str = "dashboard/";
/// Largest dashboard document in bytes.
const DASHBOARD_LIMIT: usize = 64 << 10;
/// Most sections in one dashboard.
const MAX_SECTIONS: usize = 16;
/// Most panels in one dashboard, all sections together.
const MAX_PANELS: usize = 64;
/// Most series a `top` panel may keep.
const MAX_TOP: u16 = 50;
/// Longest title, in characters.
const MAX_TITLE: usize = 200;

/// The dashboards compiled in, by name: `conf/dashboards/<name>.json`.
pub const BUILT_IN: &[(&str, &str)] = &[(
    "overview",
    include_str!("../../conf/dashboards/overview.json"),
)];

/// A dashboard: sections of panels.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Dashboard {
    /// The name (from the URL or the file name; a body may repeat it).
    #[serde(default)]
    pub name: String,
    /// Shown above the grid.
    pub title: String,
    /// Seconds of the past each chart shows (default 300, 10..=86400).
    #[serde(default = "default_window")]
    pub window: u32,
    /// The sections, in order (1..=16).
    pub sections: Vec<Section>,
}

/// A titled group of panels; a section whose panels all have no data is left out.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Section {
    /// The heading.
    pub title: String,
    /// The panels, in order.
    pub panels: Vec<Panel>,
}

/// One chart: which leaves, how they become series, how they are drawn.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Panel {
    /// The chart's title.
    pub title: String,
    /// A query pattern (CONCEPTS.md); it selects the leaves under what it matches.
    pub pattern: String,
    /// Stats instead of values (`"p50,p90,p99"`): one series per leaf and stat, for
    /// histogram leaves (default: none, the values).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stat: Option<String>,
    /// Only leaves whose path has exactly as many keys as the pattern has segments
    /// (default false: every leaf below a match).
    #[serde(default, skip_serializing_if = "is_false")]
    pub exact: bool,
    /// Only leaves whose last key is one of these, in this order (default: every one).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub keys: Vec<String>,
    /// Sum the leaves into one series per first `fold` keys of their path (default 0:
    /// one series per leaf).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub fold: u8,
    /// Divide each interval's value by its length in seconds, for `add` leaves (counts
    /// per interval become per second; default false).
    #[serde(default, skip_serializing_if = "is_false")]
    pub rate: bool,
    /// Keep only the `top` series with the largest sum over the window (default 0:
    /// all, at most 50).
    #[serde(default, skip_serializing_if = "is_zero16")]
    pub top: u16,
    /// How the series are drawn.
    #[serde(default)]
    pub chart: ChartType,
    /// How values are read.
    #[serde(default)]
    pub style: Style,
    /// A unit written after the values (`"/s"`; default none), at most 16 characters.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub unit: String,
    /// The panel's size in the grid.
    #[serde(default)]
    pub size: Size,
}

/// How a panel's series are drawn.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ChartType {
    /// Lines (the default).
    #[default]
    Line,
    /// Lines filled to zero.
    Area,
    /// Filled areas stacked on each other.
    Stacked,
    /// Bars per interval.
    Bar,
}

/// How a panel's values are read and labelled.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Style {
    /// Plain numbers with k, M, G (the default).
    #[default]
    Number,
    /// Percent: the axis runs 0 to 100.
    Percent,
    /// Bytes: KiB, MiB, GiB.
    Bytes,
    /// Seconds: values below 1 as ms.
    Seconds,
}

/// A panel's size in the grid.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Size {
    /// One column, a short chart.
    S,
    /// One column (the default).
    #[default]
    M,
    /// Two columns.
    L,
    /// The whole row.
    W,
}

fn default_window() -> u32 {
    300
}

#[expect(
    clippy::trivially_copy_pass_by_ref,
    reason = "serde's skip_serializing_if passes a reference"
)]
fn is_false(b: &bool) -> bool {
    !*b
}

#[expect(
    clippy::trivially_copy_pass_by_ref,
    reason = "serde's skip_serializing_if passes a reference"
)]
fn is_zero(n: &u8) -> bool {
    *n == 0
}

#[expect(
    clippy::trivially_copy_pass_by_ref,
    reason = "serde's skip_serializing_if passes a reference"
)]
fn is_zero16(n: &u16) -> bool {
    *n == 0
}

impl Dashboard {
    /// Parses and checks a dashboard document.
    ///
    /// # Errors
    /// A message naming what is wrong (the JSON error, the panel and its field).
    pub fn parse(bytes: &[u8]) -> Result<Dashboard, String> {
        let d: Dashboard = serde_json::from_slice(bytes).map_err(|e| {
            format!("a dashboard is {{\"title\", \"window\", \"sections\": [{{\"title\", \"panels\": [...]}}]}}: {e}")
        })?;
        d.check()?;
        Ok(d)
    }

    /// Checks the limits and that every pattern and stat parses.
    ///
    /// # Errors
    /// A message naming the first section or panel that is wrong.
    pub fn check(&self) -> Result<(), String> {
        let title = |what: &str, t: &str| {
            if t.chars().count() > MAX_TITLE {
                Err(format!(
                    "{what}: a title has at most {MAX_TITLE} characters"
                ))
            } else {
                Ok(())
            }
        };
        title("the dashboard", &self.title)?;
        if !(10..=86_400).contains(&self.window) {
            return Err("window is 10 to 86400 seconds".to_string());
        }
        if self.sections.is_empty() || self.sections.len() > MAX_SECTIONS {
            return Err(format!("a dashboard holds 1 to {MAX_SECTIONS} sections"));
        }
        let panels: usize = self.sections.iter().map(|s| s.panels.len()).sum();
        if panels == 0 || panels > MAX_PANELS {
            return Err(format!("a dashboard holds 1 to {MAX_PANELS} panels"));
        }
        for (i, s) in self.sections.iter().enumerate() {
            title(&format!("section {}", i + 1), &s.title)?;
            for (j, p) in s.panels.iter().enumerate() {
                let at = format!("section {} panel {} ({:?})", i + 1, j + 1, p.title);
                title(&at, &p.title)?;
                Pattern::parse(&p.pattern).map_err(|e| format!("{at}: pattern: {e}"))?;
                if let Some(stat) = &p.stat {
                    stats_param(Some(stat)).map_err(|e| format!("{at}: stat: {}", e.message()))?;
                }
                if p.top > MAX_TOP {
                    return Err(format!("{at}: top is at most {MAX_TOP}"));
                }
                if p.keys.len() > 64 || p.unit.chars().count() > 16 {
                    return Err(format!(
                        "{at}: at most 64 keys and a unit of at most 16 characters"
                    ));
                }
            }
        }
        Ok(())
    }
}

/// The compiled-in dashboards, parsed once (on first use; [`crate::app`] makes that
/// the start), by name.
static DEFAULTS: LazyLock<BTreeMap<String, Dashboard>> = LazyLock::new(|| {
    BUILT_IN
        .iter()
        .map(|(name, text)| {
            let mut d = Dashboard::parse(text.as_bytes())
                .unwrap_or_else(|e| panic!("conf/dashboards/{name}.json: {e}"));
            d.name = (*name).to_string();
            (d.name.clone(), d)
        })
        .collect()
});

/// The compiled-in dashboards, by name.
///
/// # Panics
/// When a file in `conf/dashboards/` does not parse, which a test rules out.
pub fn built_in() -> &'static BTreeMap<String, Dashboard> {
    &DEFAULTS
}

/// One row of `GET /api/dashboards`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Listed {
    /// The name, for `/dashboard/<name>`.
    pub name: String,
    /// Its title.
    pub title: String,
    /// A default shipped in `conf/dashboards/`.
    pub built_in: bool,
    /// A copy is saved in the data folder (it shadows a default of the same name).
    pub saved: bool,
}

/// Routes of this area.
pub(crate) fn router() -> Router<AppState> {
    Router::new()
        .route("/api/dashboards", get(list))
        .route("/api/dashboards/", get(list))
        .route(
            "/api/dashboards/{name}",
            get(fetch).put(save).delete(remove),
        )
}

fn store(state: &AppState) -> Result<Arc<dyn ViewStore>, AppError> {
    state.inner.views.clone().ok_or_else(|| {
        AppError::new(
            StatusCode::NOT_IMPLEMENTED,
            "no_view_store",
            "saving dashboards needs the trend store, which this server runs without",
        )
    })
}

async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, String> + Send + 'static,
) -> Result<T, AppError> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(AppError::internal)?
        .map_err(AppError::internal)
}

fn decode(key: &str, bytes: &[u8]) -> Result<Dashboard, AppError> {
    serde_json::from_slice(bytes)
        .map_err(|e| AppError::internal(format!("stored dashboard {key:?} does not parse: {e}")))
}

/// The saved dashboards, by name; none without a store.
async fn saved(state: &AppState) -> Result<BTreeMap<String, Dashboard>, AppError> {
    let Some(store) = state.inner.views.clone() else {
        return Ok(BTreeMap::new());
    };
    let rows = blocking(move || store.meta_list(DASHBOARD_PREFIX)).await?;
    rows.iter()
        .map(|(k, v)| decode(k, v).map(|d| (d.name.clone(), d)))
        .collect()
}

async fn list(State(state): State<AppState>) -> Result<Json<Vec<Listed>>, AppError> {
    let saved = saved(&state).await?;
    let defaults = built_in();
    let mut out: BTreeMap<String, Listed> = defaults
        .values()
        .map(|d| {
            let row = Listed {
                name: d.name.clone(),
                title: d.title.clone(),
                built_in: true,
                saved: false,
            };
            (d.name.clone(), row)
        })
        .collect();
    for d in saved.into_values() {
        let row = Listed {
            built_in: defaults.contains_key(&d.name),
            name: d.name.clone(),
            title: d.title,
            saved: true,
        };
        out.insert(d.name, row);
    }
    Ok(Json(out.into_values().collect()))
}

async fn fetch(
    State(state): State<AppState>,
    PathParam(name): PathParam<String>,
) -> Result<Json<Dashboard>, AppError> {
    check_name(&name)?;
    if let Some(store) = state.inner.views.clone() {
        let key = format!("{DASHBOARD_PREFIX}{name}");
        let k = key.clone();
        if let Some(bytes) = blocking(move || store.meta_get(&k)).await? {
            return decode(&key, &bytes).map(Json);
        }
    }
    built_in()
        .get(&name)
        .cloned()
        .map(Json)
        .ok_or_else(|| AppError::not_found(format!("no dashboard named {name:?}")))
}

async fn save(
    State(state): State<AppState>,
    PathParam(name): PathParam<String>,
    headers: HeaderMap,
    body: Body,
) -> Result<Json<Dashboard>, AppError> {
    check_name(&name)?;
    let store = store(&state)?;
    let bytes = read_bounded(&headers, body, DASHBOARD_LIMIT, state.config().body_timeout).await?;
    let mut d = Dashboard::parse(&bytes).map_err(AppError::bad_request)?;
    if !d.name.is_empty() && d.name != name {
        return Err(AppError::bad_request(format!(
            "the body names dashboard {:?} but the URL names {name:?}",
            d.name
        )));
    }
    d.name = name;
    let json = serde_json::to_vec(&d).map_err(AppError::internal)?;
    let key = format!("{DASHBOARD_PREFIX}{}", d.name);
    blocking(move || store.meta_put(&key, &json)).await?;
    Ok(Json(d))
}

async fn remove(
    State(state): State<AppState>,
    PathParam(name): PathParam<String>,
) -> Result<StatusCode, AppError> {
    check_name(&name)?;
    let store = store(&state)?;
    let key = format!("{DASHBOARD_PREFIX}{name}");
    if blocking(move || store.meta_delete(&key)).await? {
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(AppError::not_found(format!(
            "no saved dashboard named {name:?}"
        )))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_built_in_dashboard_parses_and_passes_its_checks() {
        let all = built_in();
        assert_eq!(all.len(), BUILT_IN.len());
        let overview = &all["overview"];
        let patterns: Vec<&str> = overview
            .sections
            .iter()
            .flat_map(|s| &s.panels)
            .map(|p| p.pattern.as_str())
            .collect();
        for p in ["cpu,*,*", "status,*", "request_time,hist", "network,*,*,*"] {
            assert!(patterns.contains(&p), "the overview has no {p} panel");
        }
    }

    #[test]
    fn bad_dashboards_are_refused_naming_the_panel() {
        let bad = |doc: &str, says: &str| {
            let e = Dashboard::parse(doc.as_bytes()).unwrap_err();
            assert!(e.contains(says), "{doc}: {e}");
        };
        let ok = r#"{"title": "t", "sections": [{"title": "s", "panels": [{"title": "p", "pattern": "cpu"}]}]}"#;
        let d = Dashboard::parse(ok.as_bytes()).unwrap();
        assert_eq!(d.window, 300);
        assert_eq!(d.sections[0].panels[0].chart, ChartType::Line);
        bad(
            r#"{"title": "t", "sections": [{"title": "s", "panels": [{"title": "p", "pattern": "a|median"}]}]}"#,
            "panel 1 (\"p\"): pattern",
        );
        bad(
            r#"{"title": "t", "sections": [{"title": "s", "panels": [{"title": "p", "pattern": "a", "stat": "p50,nope"}]}]}"#,
            "stat",
        );
        bad(
            r#"{"title": "t", "sections": [{"title": "s", "panels": [{"title": "p", "pattern": "a", "chart": "pie"}]}]}"#,
            "pie",
        );
        bad(
            r#"{"title": "t", "sections": [{"title": "s", "panels": [{"title": "p", "pattern": "a", "colour": 1}]}]}"#,
            "colour",
        );
        bad(r#"{"title": "t", "sections": []}"#, "1 to 16 sections");
        bad(
            r#"{"title": "t", "window": 5, "sections": [{"title": "s", "panels": [{"title": "p", "pattern": "a"}]}]}"#,
            "window",
        );
        bad(
            r#"{"title": "t", "sections": [{"title": "s", "panels": [{"title": "p", "pattern": "a", "top": 51}]}]}"#,
            "top",
        );
    }
}
