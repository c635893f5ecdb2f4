//! The Graphite API as Grafana's Graphite datasource drives it (acceptance 2 of issue
//! 14), every key the tree can hold found and rendered, the ring answering for the
//! intervals the store has not persisted, and the refusals.

use std::sync::Arc;

use serde_json::{Value, json};
use treestat_engine::trend::{TrendConfig, TrendStore};
use treestat_engine::{Engine, EngineConfig, ManualClock};
use treestat_web::{AppState, AuthConfig, WebConfig};

use crate::common;

/// A minute boundary, so the engine's intervals start on whole steps.
const T0: i64 = 1_796_000_040;

/// An engine at `T0` with `doc` pushed and its interval closed (in the ring), and a
/// trend store that is not attached: nothing reaches it, so every point a render
/// answers comes from the ring.
fn live_state(doc: &str, cfg: WebConfig) -> (tempfile::TempDir, AppState, Arc<ManualClock>) {
    let clock = Arc::new(ManualClock::new(T0));
    let engine = Engine::with_clock(EngineConfig::default(), clock.clone()).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let store = TrendStore::open(dir.path(), &TrendConfig::default()).unwrap();
    engine.push_json(doc.as_bytes()).unwrap();
    clock.advance(engine.interval_secs());
    engine.close_now();
    let state = AppState::new(engine, cfg, Default::default()).with_trend_store(store);
    (dir, state, clock)
}

fn form(pairs: &[(&str, &str)]) -> Vec<u8> {
    serde_urlencoded::to_string(pairs).unwrap().into_bytes()
}

async fn post_form(
    addr: std::net::SocketAddr,
    path: &str,
    pairs: &[(&str, &str)],
    auth: Option<&str>,
) -> common::Reply {
    let mut headers = vec![("Content-Type", "application/x-www-form-urlencoded")];
    let bearer;
    if let Some(t) = auth {
        bearer = format!("Bearer {t}");
        headers.push(("Authorization", bearer.as_str()));
    }
    common::request(addr, "POST", path, &headers, &form(pairs)).await
}

async fn get_auth(addr: std::net::SocketAddr, path: &str, auth: Option<&str>) -> common::Reply {
    match auth {
        Some(t) => {
            common::request(
                addr,
                "GET",
                path,
                &[("Authorization", &format!("Bearer {t}"))],
                b"",
            )
            .await
        }
        None => common::get(addr, path).await,
    }
}

/// The requests Grafana's datasource sends, in its order: test the datasource
/// (`/functions`, `/version`), browse (`/metrics/find?query=*`), draw a panel
/// (`POST /render` with the form Grafana builds).
async fn grafana_session(addr: std::net::SocketAddr, auth: Option<&str>) {
    let r = get_auth(addr, "/functions", auth).await;
    assert_eq!(r.status, 200, "{}", r.text());
    let f = r.json();
    for name in ["sumSeries", "aliasByNode", "highestCurrent", "summarize"] {
        assert_eq!(f[name]["name"], name, "{name} in /functions");
    }
    assert!(f.get("cactiStyle").is_none(), "only implemented functions");
    let r = get_auth(addr, "/version", auth).await;
    assert_eq!(r.status, 200);
    assert!(r.text().trim().starts_with("1.1."), "{}", r.text());
    // "Save & test" draws a constant line.
    let r = post_form(
        addr,
        "/render",
        &[
            ("target", "constantLine(100)"),
            ("from", "-1h"),
            ("until", "now"),
            ("format", "json"),
        ],
        auth,
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.text());
    let line = r.json();
    assert_eq!(line[0]["datapoints"].as_array().unwrap().len(), 3, "{line}");
    assert_eq!(line[0]["datapoints"][0][0], 100.0);
    let r = get_auth(addr, "/metrics/find?query=*", auth).await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(
        r.json(),
        json!([{"text": "cpu", "id": "cpu", "allowChildren": 1, "expandable": 1, "leaf": 0}])
    );
    let r = post_form(
        addr,
        "/render",
        &[
            ("target", "aliasByNode(cpu.*.idle,1)"),
            ("target", "sumSeries(cpu.*.idle)"),
            ("from", "-6h"),
            ("until", "now"),
            ("format", "json"),
            ("maxDataPoints", "1000"),
        ],
        auth,
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.text());
    let v = r.json();
    let targets: Vec<&str> = v
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["target"].as_str().unwrap())
        .collect();
    assert_eq!(targets, ["10_3_1_12", "10_3_1_13", "sumSeries(cpu.*.idle)"]);
    // The interval that just closed is in the ring only: its value is answered.
    let last = |s: &Value| -> Vec<(f64, i64)> {
        s["datapoints"]
            .as_array()
            .unwrap()
            .iter()
            .filter_map(|p| Some((p[0].as_f64()?, p[1].as_i64()?)))
            .collect()
    };
    assert_eq!(last(&v[0]), [(42.0, T0)]);
    assert_eq!(last(&v[1]), [(58.0, T0)]);
    assert_eq!(last(&v[2]), [(100.0, T0)]);
}

const CPU: &str = r#"{"cpu":{"10.3.1.12":{"idle":42},"10.3.1.13":{"idle":58}}}"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn grafana_datasource_without_a_token() {
    let (_dir, state, _clock) = live_state(CPU, WebConfig::default());
    let srv = common::start(state).await;
    grafana_session(srv.addr, None).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn grafana_datasource_with_a_token() {
    let cfg = WebConfig {
        auth: AuthConfig {
            token: Some("s3cret".into()),
            reads: true,
        },
        ..WebConfig::default()
    };
    let (_dir, state, _clock) = live_state(CPU, cfg);
    let srv = common::start(state).await;
    for path in [
        "/functions",
        "/version",
        "/metrics/find?query=*",
        "/render?target=cpu.*.idle&format=json",
    ] {
        assert_eq!(
            common::get(srv.addr, path).await.status,
            401,
            "{path} without the token"
        );
    }
    let r = post_form(
        srv.addr,
        "/render",
        &[("target", "cpu.*.idle"), ("format", "json")],
        None,
    )
    .await;
    assert_eq!(r.status, 401);
    let r = post_form(
        srv.addr,
        "/render",
        &[("target", "cpu.*.idle"), ("format", "json")],
        Some("wrong"),
    )
    .await;
    assert_eq!(r.status, 401);
    grafana_session(srv.addr, Some("s3cret")).await;
}

/// Every kind of key the tree holds is found level by level and rendered under the
/// name `/metrics/find` gives it: dots, underscores, spaces, punctuation, globs,
/// percent signs and non-ASCII letters.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_key_is_found_and_rendered() {
    let keys = [
        "plain",
        "10.3.1.12",
        "14.0",
        "under_score",
        "with space",
        "größe",
        "日本",
        "50%",
        "x*y",
        "q?",
        "[a]",
        "{b}",
        "p(1)",
        "'quote'",
        "\"dq\"",
        "a=b",
        "back\\slash",
        "semi;colon",
        "/index.html",
        "plus+",
        "tab-free~",
        "#hash",
        "-",
        "_",
        "..",
        "é.è",
    ];
    let mut tree = serde_json::Map::new();
    for (i, k) in keys.iter().enumerate() {
        tree.insert((*k).to_string(), json!({ "leaf": i + 1 }));
    }
    let doc = json!({ "top": tree }).to_string();
    let (_dir, state, _clock) = live_state(&doc, WebConfig::default());
    let srv = common::start(state).await;
    let r = common::get(srv.addr, "/metrics/find?query=top.*").await;
    assert_eq!(r.status, 200, "{}", r.text());
    let ids: Vec<String> = r
        .json()
        .as_array()
        .unwrap()
        .iter()
        .map(|n| n["id"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(ids.len(), keys.len(), "{ids:?}");
    for (i, k) in keys.iter().enumerate() {
        let node = treestat_graphite::names::node_of_key(k);
        let id = format!("top.{node}");
        assert!(ids.contains(&id), "{k:?} shown as {id:?} in {ids:?}");
        // One level down, then the leaf rendered by the name find gave.
        let q = serde_urlencoded::to_string([("query", format!("{id}.*"))]).unwrap();
        let r = common::get(srv.addr, &format!("/metrics/find?{q}")).await;
        assert_eq!(r.json()[0]["id"], format!("{id}.leaf"), "{k:?}");
        assert_eq!(r.json()[0]["leaf"], 1);
        let q = serde_urlencoded::to_string([
            ("target", format!("{id}.leaf")),
            ("from", "-10min".into()),
            ("format", "json".into()),
        ])
        .unwrap();
        let r = common::get(srv.addr, &format!("/render?{q}")).await;
        assert_eq!(r.status, 200, "{k:?}: {}", r.text());
        let v = r.json();
        assert_eq!(v.as_array().unwrap().len(), 1, "{k:?}: {v}");
        assert_eq!(v[0]["target"], format!("{id}.leaf"));
        let values: Vec<f64> = v[0]["datapoints"]
            .as_array()
            .unwrap()
            .iter()
            .filter_map(|p| p[0].as_f64())
            .collect();
        #[allow(clippy::cast_precision_loss)]
        let want = (i + 1) as f64;
        assert_eq!(values, [want], "{k:?}");
    }
    // `/metrics/expand` and `/metrics/index.json` name every leaf the same way.
    let idx = common::get(srv.addr, "/metrics/index.json").await.json();
    assert_eq!(idx.as_array().unwrap().len(), keys.len());
    let r = common::get(srv.addr, "/metrics/expand?query=top.*&leavesOnly=0").await;
    assert_eq!(r.json()["results"].as_array().unwrap().len(), keys.len());
}

/// Sibling keys that differ only by `.` against `_` are shown alike: a query by that
/// name answers both (docs/GRAFANA.md, "Names").
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dot_and_underscore_siblings_are_both_answered() {
    let (_dir, state, _clock) = live_state(r#"{"v":{"1.0":1,"1_0":2}}"#, WebConfig::default());
    let srv = common::start(state).await;
    let r = common::get(srv.addr, "/metrics/find?query=v.*").await;
    assert_eq!(r.json().as_array().unwrap().len(), 1, "{}", r.text());
    let r = common::get(
        srv.addr,
        "/render?target=sumSeries(v.1_0)&from=-10min&format=json",
    )
    .await;
    let v = r.json();
    let vals: Vec<f64> = v[0]["datapoints"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|p| p[0].as_f64())
        .collect();
    assert_eq!(vals, [3.0]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refusals_name_what_is_wrong() {
    let (_dir, state, _clock) = live_state(CPU, WebConfig::default());
    let srv = common::start(state).await;
    for (path, needle) in [
        (
            "/render?target=frobnicate(cpu.*.idle)&format=json",
            "unknown function frobnicate",
        ),
        ("/render?target=sumSeries(cpu.*.idle&format=json", "target"),
        (
            "/render?target=cpu.*.idle&from=yesterdayish&format=json",
            "from",
        ),
        ("/render?target=cpu.*.idle&format=pickle", "format"),
        ("/render?target=scale(cpu.*.idle,'x')&format=json", "factor"),
        ("/metrics/find?query=a.[b", "unclosed"),
        ("/metrics/find", "query"),
    ] {
        let r = common::get(srv.addr, path).await;
        assert_eq!(r.status, 400, "{path}: {}", r.text());
        assert!(r.text().contains(needle), "{path}: {}", r.text());
    }
    // A browser page of another origin may POST a render: it reads only.
    let r = common::request(
        srv.addr,
        "POST",
        "/render",
        &[
            ("Content-Type", "application/x-www-form-urlencoded"),
            ("Origin", "http://grafana.example:3000"),
        ],
        b"target=cpu.*.idle&format=json",
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.text());
    // Formats other than JSON.
    let r = common::get(
        srv.addr,
        "/render?target=cpu.10_3_1_12.idle&from=-2min&format=csv",
    )
    .await;
    assert_eq!(r.status, 200);
    assert!(r.text().contains("cpu.10_3_1_12.idle,"), "{}", r.text());
    let r = common::get(
        srv.addr,
        "/render?target=cpu.10_3_1_12.idle&from=-2min&format=raw",
    )
    .await;
    assert!(r.text().starts_with("cpu.10_3_1_12.idle,"), "{}", r.text());
    for (fmt, magic) in [("png", &b"\x89PNG"[..]), ("svg", &b"<svg"[..])] {
        let r = common::get(
            srv.addr,
            &format!("/render?target=cpu.*.idle&from=-1h&format={fmt}"),
        )
        .await;
        assert_eq!(r.status, 200, "{fmt}: {}", r.text());
        assert!(r.body.windows(magic.len()).any(|w| w == magic), "{fmt}");
    }
    let r = common::get(srv.addr, "/tags/autoComplete/tags").await;
    assert_eq!(r.json(), json!([]));
}

/// `/metrics/expand` answers every name the query matches, as graphite-web's does: one
/// per matching path at the query's depth, not one per node text (it answered only
/// `a.x.v` here, the first path of the node `v`).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn expand_answers_every_matching_name() {
    let (_dir, state, _clock) = live_state(
        r#"{"a":{"x":{"v":1,"w":{"z":1}}},"b":{"x":{"v":2}}}"#,
        WebConfig::default(),
    );
    let srv = common::start(state).await;
    let r = common::get(srv.addr, "/metrics/expand?query=*.x.*").await;
    assert_eq!(
        r.json(),
        json!({"results": ["a.x.v", "a.x.w", "b.x.v"]}),
        "{}",
        r.text()
    );
    let r = common::get(srv.addr, "/metrics/expand?query=*.x.*&leavesOnly=1").await;
    assert_eq!(r.json(), json!({"results": ["a.x.v", "b.x.v"]}));
}
