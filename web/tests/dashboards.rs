//! Dashboards through a real server over a real trend store (sled in a temp dir): the
//! compiled-in defaults without any file, a saved copy that shadows a default and
//! survives a reopen, refusals naming what is wrong, the token and the same-origin
//! rule on writes.

use crate::common;

use std::sync::Arc;

use common::{get, request, start};
use serde_json::json;
use treestat_engine::Engine;
use treestat_engine::telemetry::Telemetry;
use treestat_engine::trend::{TrendConfig, TrendStore};
use treestat_web::{AppState, AuthConfig, WebConfig};

fn state(dir: &std::path::Path, cfg: WebConfig) -> AppState {
    let store = TrendStore::open(dir, &TrendConfig::default()).unwrap();
    AppState::new(Engine::default(), cfg, Telemetry::default()).with_view_store(Arc::new(store))
}

const MINE: &[u8] = br#"{"title": "Mine", "window": 120, "sections": [{"title": "Host",
    "panels": [{"title": "CPU", "pattern": "cpu,*,*", "exact": true, "keys": ["user"],
    "chart": "stacked", "style": "percent", "size": "l"}]}]}"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn defaults_are_served_and_a_saved_copy_round_trips_shadows_and_survives() {
    let dir = tempfile::tempdir().unwrap();
    {
        let srv = start(state(dir.path(), WebConfig::default())).await;
        let a = srv.addr;
        let list = get(a, "/api/dashboards").await;
        assert_eq!(
            list.json(),
            json!([{"name": "overview", "title": "Overview", "built_in": true, "saved": false}])
        );
        let overview = get(a, "/api/dashboards/overview").await.json();
        assert_eq!(overview["name"], "overview");
        assert!(overview["sections"].as_array().unwrap().len() >= 2);
        assert_eq!(get(a, "/api/dashboards/nope").await.status, 404);

        let r = request(a, "PUT", "/api/dashboards/mine", &[], MINE).await;
        assert_eq!(r.status, 200, "{}", r.text());
        let saved = get(a, "/api/dashboards/mine").await.json();
        assert_eq!(saved, r.json());
        assert_eq!(saved["window"], 120);
        assert_eq!(saved["sections"][0]["panels"][0]["keys"], json!(["user"]));
        assert_eq!(saved["sections"][0]["panels"][0]["size"], "l");

        // A copy saved under a default's name shadows it until deleted.
        let r = request(a, "PUT", "/api/dashboards/overview", &[], MINE).await;
        assert_eq!(r.status, 200, "{}", r.text());
        assert_eq!(
            get(a, "/api/dashboards/overview").await.json()["title"],
            "Mine"
        );
        let list = get(a, "/api/dashboards").await.json();
        assert_eq!(
            list,
            json!([
                {"name": "mine", "title": "Mine", "built_in": false, "saved": true},
                {"name": "overview", "title": "Mine", "built_in": true, "saved": true}
            ])
        );
        let r = request(a, "DELETE", "/api/dashboards/overview", &[], b"").await;
        assert_eq!(r.status, 204);
        assert_eq!(
            get(a, "/api/dashboards/overview").await.json()["title"],
            "Overview"
        );
        let r = request(a, "DELETE", "/api/dashboards/overview", &[], b"").await;
        assert_eq!(r.status, 404, "no saved copy left: {}", r.text());
        srv.shutdown.cancel();
        srv.handle.await.unwrap().unwrap();
    }
    let srv = start(state(dir.path(), WebConfig::default())).await;
    assert_eq!(
        get(srv.addr, "/api/dashboards/mine").await.json()["title"],
        "Mine"
    );
    // Dashboards and views share the store's key space but not their lists.
    assert_eq!(get(srv.addr, "/api/views").await.json(), json!([]));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_dashboards_are_refused_and_writes_need_the_token_and_the_same_origin() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = WebConfig {
        auth: AuthConfig {
            token: Some("t0k".into()),
            reads: false,
        },
        ..WebConfig::default()
    };
    let srv = start(state(dir.path(), cfg)).await;
    let a = srv.addr;
    let auth = [("Authorization", "Bearer t0k")];
    let panel = |extra: &str| {
        format!(
            r#"{{"title": "t", "sections": [{{"title": "s", "panels": [{{"title": "p", "pattern": "a"{extra}}}]}}]}}"#
        )
    };
    let cases = [
        ("/api/dashboards/x", "{}".to_string(), "title"),
        (
            "/api/dashboards/x",
            panel(r#", "pattern": "a|nope""#),
            "pattern",
        ),
        ("/api/dashboards/x", panel(r#", "stat": "p50,wat""#), "stat"),
        ("/api/dashboards/x", panel(r#", "chart": "pie""#), "pie"),
        ("/api/dashboards/x", panel(r#", "colour": 1"#), "colour"),
        ("/api/dashboards/x", panel(r#", "top": 99"#), "top"),
        (
            "/api/dashboards/x",
            r#"{"title": "t", "sections": [{"title": "s", "panels": []}]}"#.to_string(),
            "1 to 64 panels",
        ),
        (
            "/api/dashboards/x",
            panel("").replacen('{', r#"{"name": "y", "#, 1),
            "URL",
        ),
        ("/api/dashboards/a%2Fb", panel(""), "name"),
    ];
    for (path, body, needle) in cases {
        let r = request(a, "PUT", path, &auth, body.as_bytes()).await;
        assert_eq!(r.status, 400, "{body} {}", r.text());
        assert!(
            r.json()["error"].as_str().unwrap().contains(needle),
            "{body}: {}",
            r.text()
        );
    }
    let big = format!(r#"{{"title": "{}", "sections": []}}"#, "x".repeat(70 << 10));
    let r = request(a, "PUT", "/api/dashboards/x", &auth, big.as_bytes()).await;
    assert_eq!(r.status, 413, "a document past 64 KiB: {}", r.text());
    let r = request(a, "PUT", "/api/dashboards/x", &[], MINE).await;
    assert_eq!(r.status, 401);
    let cross = [
        ("Authorization", "Bearer t0k"),
        ("Origin", "http://evil.example"),
    ];
    let r = request(a, "PUT", "/api/dashboards/x", &cross, MINE).await;
    assert_eq!(r.status, 403, "{}", r.text());
    assert_eq!(
        request(a, "DELETE", "/api/dashboards/overview", &[], b"")
            .await
            .status,
        401
    );
    assert_eq!(
        get(a, "/api/dashboards/x").await.status,
        404,
        "reads need no token"
    );
    let r = request(a, "PUT", "/api/dashboards/x", &auth, MINE).await;
    assert_eq!(r.status, 200, "{}", r.text());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_a_store_the_defaults_are_read_and_saving_is_501() {
    let state = AppState::new(
        Engine::default(),
        WebConfig::default(),
        Telemetry::default(),
    );
    let srv = start(state).await;
    let a = srv.addr;
    assert_eq!(
        get(a, "/api/dashboards").await.json()[0]["name"],
        "overview"
    );
    assert_eq!(get(a, "/api/dashboards/overview").await.status, 200);
    let r = request(a, "PUT", "/api/dashboards/x", &[], MINE).await;
    assert_eq!(r.status, 501, "{}", r.text());
}
