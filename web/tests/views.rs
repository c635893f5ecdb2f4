//! Saved views against a real trend store (sled in a temp dir), through a real server,
//! including a reopen of the store: views survive a restart.

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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn views_are_saved_listed_deleted_and_survive_a_reopen() {
    let dir = tempfile::tempdir().unwrap();
    {
        let srv = start(state(dir.path(), WebConfig::default())).await;
        let a = srv.addr;
        assert_eq!(get(a, "/api/views/home").await.status, 404);
        let body =
            br#"{"patterns": ["br,ie", "os,*|sum"], "graph": {"type": "area", "theme": "dark"}}"#;
        let r = request(a, "PUT", "/api/views/home", &[], body).await;
        assert_eq!(r.status, 200, "{}", r.text());
        assert_eq!(r.json()["name"], "home");
        let r = request(
            a,
            "PUT",
            "/api/views/web%20servers",
            &[],
            br#"{"patterns": ["web*"]}"#,
        )
        .await;
        assert_eq!(r.status, 200, "{}", r.text());
        let r = get(a, "/api/views/home").await;
        assert_eq!(
            r.json(),
            json!({"name": "home", "patterns": ["br,ie", "os,*|sum"], "graph": {"type": "area", "theme": "dark"}})
        );
        let names: Vec<_> = get(a, "/api/views")
            .await
            .json()
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v["name"].clone())
            .collect();
        assert_eq!(names, [json!("home"), json!("web servers")]);
        assert_eq!(
            request(a, "DELETE", "/api/views/web%20servers", &[], b"")
                .await
                .status,
            204
        );
        assert_eq!(
            request(a, "DELETE", "/api/views/web%20servers", &[], b"")
                .await
                .status,
            404
        );
        srv.shutdown.cancel();
        srv.handle.await.unwrap().unwrap();
    }
    let srv = start(state(dir.path(), WebConfig::default())).await;
    let r = get(srv.addr, "/api/views").await;
    assert_eq!(r.json().as_array().unwrap().len(), 1, "{}", r.text());
    assert_eq!(
        get(srv.addr, "/api/views/home").await.json()["graph"]["type"],
        "area"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_views_are_refused_and_writes_need_the_token() {
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
    let cases: [(&str, &[u8], &str); 6] = [
        ("/api/views/x", b"{}", "patterns"),
        ("/api/views/x", br#"{"patterns": []}"#, "1 to 64"),
        ("/api/views/x", br#"{"patterns": ["a|nope"]}"#, "nope"),
        (
            "/api/views/x",
            br#"{"patterns": ["a"], "colour": 1}"#,
            "colour",
        ),
        (
            "/api/views/x",
            br#"{"name": "y", "patterns": ["a"]}"#,
            "URL",
        ),
        ("/api/views/a%2Fb", br#"{"patterns": ["a"]}"#, "view name"),
    ];
    for (path, body, needle) in cases {
        let r = request(a, "PUT", path, &auth, body).await;
        assert_eq!(r.status, 400, "{path} {}", r.text());
        assert!(
            r.json()["error"].as_str().unwrap().contains(needle),
            "{}",
            r.text()
        );
    }
    let r = request(a, "PUT", "/api/views/x", &[], br#"{"patterns": ["a"]}"#).await;
    assert_eq!(r.status, 401);
    assert_eq!(
        request(a, "DELETE", "/api/views/x", &[], b"").await.status,
        401
    );
    assert_eq!(
        get(a, "/api/views/x").await.status,
        404,
        "reads need no token"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reads_take_the_token_from_header_or_cookie_writes_only_from_the_header() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = WebConfig {
        auth: AuthConfig {
            token: Some("s3 cr;et".into()),
            reads: true,
        },
        ..WebConfig::default()
    };
    let srv = start(state(dir.path(), cfg)).await;
    let a = srv.addr;
    let json_type = ("Content-Type", "application/json");
    let bearer = [("Authorization", "Bearer s3 cr;et"), json_type];
    let cookie = [
        ("Cookie", "theme=dark; treestat_token=s3%20cr%3Bet"),
        json_type,
    ];
    let doc = br#"{"a": {"b": 1}}"#;

    let r = request(a, "GET", "/get/a", &[], b"").await;
    assert_eq!(r.status, 401, "{}", r.text());
    assert_eq!(r.header("www-authenticate"), Some("Bearer"));
    assert_eq!(request(a, "POST", "/push", &cookie, doc).await.status, 401);
    let r = request(a, "POST", "/push", &bearer, doc).await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(request(a, "GET", "/get/a", &bearer, b"").await.status, 200);
    let r = request(a, "GET", "/get/a", &cookie, b"").await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.json(), json!([["a,b", 1.0]]));
    assert_eq!(
        request(a, "PUT", "/api/views/x", &cookie, br#"{"patterns": ["a"]}"#)
            .await
            .status,
        401,
        "a cookie never writes"
    );

    // Wrong, unencoded, malformed and oversized cookies are refused, nothing more.
    let long = format!("treestat_token={}", "A".repeat(7000));
    for bad in [
        "treestat_token=s3 cr;et",
        "treestat_token=wrong",
        "treestat_token=%zz%",
        "treestat_token",
        "=;;=;treestat_token==",
        long.as_str(),
    ] {
        let r = request(a, "GET", "/get/a", &[("Cookie", bad)], b"").await;
        assert_eq!(r.status, 401, "{bad:.40}: {}", r.text());
    }
    assert_eq!(get(a, "/get/a").await.status, 401);
}
