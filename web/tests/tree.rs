//! Issue 18, "The tree", over real HTTP: `DELETE /api/q/<pattern>` (tree, ring, trend
//! store in sled, a reopen, compaction, the token, the counter), `/api/keys`, the
//! server's own `_treestat` subtree left out of root-level wildcards, and the `|leaf` /
//! `|branch` pattern filters.

use crate::common;

use std::sync::Arc;

use common::{get, push_json, request, start};
use serde_json::{Value, json};
use treestat_engine::telemetry::Telemetry;
use treestat_engine::trend::{TrendConfig, TrendStore};
use treestat_engine::{Engine, EngineConfig, ManualClock};
use treestat_web::{AppState, AuthConfig, WebConfig};

const T0: i64 = 1_700_000_000;

struct Setup {
    state: AppState,
    clock: Arc<ManualClock>,
    store: TrendStore,
    telemetry: Telemetry,
}

fn setup(dir: &std::path::Path, cfg: WebConfig) -> Setup {
    let clock = Arc::new(ManualClock::new(T0));
    let engine = Engine::with_clock(EngineConfig::default(), clock.clone()).unwrap();
    let store = TrendStore::open(dir, &TrendConfig::default()).unwrap();
    store.attach(&engine);
    let telemetry = Telemetry::default();
    engine.register_telemetry(&telemetry);
    let state = AppState::new(engine, cfg, telemetry.clone()).with_trend_store(store.clone());
    Setup {
        state,
        clock,
        store,
        telemetry,
    }
}

/// Closes the open interval (the clock moved on) and waits until the store has it.
fn close(s: &Setup) {
    s.clock.advance(10);
    s.state.engine().close_now();
    s.store.sync().unwrap();
}

fn paths(v: &Value) -> Vec<String> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|row| row[0].as_str().unwrap().to_string())
        .collect()
}

async fn delete(a: std::net::SocketAddr, path: &str) -> common::Reply {
    request(a, "DELETE", path, &[], b"").await
}

const DOC: &str = r#"{"cpu": {"vm": {"user": 1, "core0": {"user": 2}, "core1": {"user": 3}}},
    "host": {"a": {"rx": 1, "tx": 1}, "b": {"rx": 2}}}"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn delete_removes_subtrees_from_the_tree_the_ring_and_the_trend_store() {
    let dir = tempfile::tempdir().unwrap();
    let s = setup(dir.path(), WebConfig::default());
    let srv = start(s.state.clone()).await;
    let a = srv.addr;
    for _ in 0..2 {
        assert_eq!(push_json(a, DOC).await.status, 200);
        close(&s);
    }
    assert_eq!(push_json(a, DOC).await.status, 200);
    assert_eq!(s.store.paths("host,a").unwrap().len(), 2);

    // A dry run says what would go and removes nothing.
    let r = delete(a, "/api/q/host,a?dry_run=1").await;
    assert_eq!(r.status, 200, "{}", r.text());
    let want = json!({"pattern": "host,a", "dry_run": true, "subtrees": 1,
        "paths": ["host,a"], "nodes": 3, "leaves": 2, "ring_entries": 4, "trend_series": 2});
    assert_eq!(r.json(), want);
    assert_eq!(paths(&get(a, "/get/host").await.json()).len(), 3);

    let r = delete(a, "/api/q/host,a").await;
    assert_eq!(r.status, 200, "{}", r.text());
    let mut want = want;
    want["dry_run"] = json!(false);
    assert_eq!(r.json(), want);
    // Gone from every read at once: totals, the ring's window, the trend store.
    assert_eq!(paths(&get(a, "/get/host").await.json()), ["host,b,rx"]);
    assert_eq!(
        get(a, "/api/q/host.json?window=1h").await.json(),
        json!({"host": {"b": {"rx": 2.0}}})
    );
    assert!(s.store.paths("host,a").unwrap().is_empty());
    assert_eq!(s.store.paths("host,**").unwrap(), ["host,b,rx"]);
    let r = get(a, "/trend/host,a,rx.json").await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.json().as_array().map(Vec::len), Some(0), "{}", r.text());
    // The open interval's points of the deleted leaves do not reach the store at close.
    close(&s);
    assert!(s.store.paths("host,a").unwrap().is_empty());

    // The same path pushed again starts afresh: a new leaf, a new series.
    assert_eq!(
        push_json(a, r#"{"host": {"a": {"rx": 7}}}"#).await.status,
        200
    );
    close(&s);
    assert_eq!(
        get(a, "/get/host,a").await.json(),
        json!([["host,a,rx", 7.0]])
    );
    assert_eq!(
        get(a, "/api/q/host,a.json?window=1h").await.json(),
        json!({"host": {"a": {"rx": 7.0}}})
    );
    let totals = s.store.totals().unwrap();
    let rx: Vec<_> = totals.iter().filter(|t| t.0 == "host,a,rx").collect();
    assert_eq!(rx.len(), 1);
    assert_eq!((rx[0].2.count, rx[0].2.sum), (1, 7.0));

    // A glob at one level, several subtrees; `.json` is optional.
    let r = delete(a, "/api/q/cpu,vm,core*.json").await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.json()["paths"], json!(["cpu,vm,core0", "cpu,vm,core1"]));
    assert_eq!(paths(&get(a, "/get/cpu").await.json()), ["cpu,vm,user"]);

    // What a delete refuses: 400 naming why.
    for bad in [
        "/api/q/",
        "/api/q",
        "/api/q/cpu,*%7Csum",
        "/api/q/_treestat",
        "/api/q/**",
        "/api/q/cpu%01",
    ] {
        let r = delete(a, bad).await;
        assert_eq!(r.status, 400, "{bad}: {}", r.text());
        assert!(r.json()["error"].is_string(), "{bad}: {}", r.text());
    }
    // Nothing matched: 200, nothing removed.
    let r = delete(a, "/api/q/nothing,here").await;
    assert_eq!(r.status, 200);
    assert_eq!(
        (r.json()["subtrees"].clone(), r.json()["nodes"].clone()),
        (json!(0), json!(0))
    );

    // Counted: two deletes removed 3 + 4 nodes (dry runs and no-ops apart).
    let m = get(a, "/metrics").await.text();
    assert!(m.contains("treestat_deleted_nodes_total 7"), "{m}");
    assert!(m.contains("treestat_deletes_total 3"), "{m}");
    drop(s.telemetry);

    // A clean restart (the store reopened): the deleted series stay gone, before and
    // after compaction folds the blobs that still hold their points.
    srv.shutdown.cancel();
    let _ = srv.handle.await;
    drop(srv.state);
    drop(s.state);
    drop(s.store);
    for compacted in [false, true] {
        let store = TrendStore::open(dir.path(), &TrendConfig::default()).unwrap();
        let names: Vec<String> = store.totals().unwrap().into_iter().map(|t| t.0).collect();
        assert!(
            !names.iter().any(|p| p.starts_with("cpu,vm,core")),
            "{names:?}"
        );
        let rx: Vec<_> = store
            .totals()
            .unwrap()
            .into_iter()
            .filter(|t| t.0.starts_with("host,a"))
            .collect();
        assert_eq!(rx.len(), 1, "{rx:?}");
        assert_eq!(rx[0].2.sum, 7.0);
        assert!(store.paths("cpu,vm,core*").unwrap().is_empty());
        if !compacted {
            store.compact_all().unwrap();
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn delete_needs_the_token_when_one_is_set() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = WebConfig {
        auth: AuthConfig {
            token: Some("t0k".into()),
            reads: false,
        },
        ..WebConfig::default()
    };
    let s = setup(dir.path(), cfg);
    let srv = start(s.state.clone()).await;
    let a = srv.addr;
    s.state.engine().push_json(DOC.as_bytes()).unwrap();
    assert_eq!(delete(a, "/api/q/host").await.status, 401);
    assert_eq!(delete(a, "/api/q/host?dry_run=1").await.status, 401);
    let wrong = [("Authorization", "Bearer nope")];
    assert_eq!(
        request(a, "DELETE", "/api/q/host", &wrong, b"")
            .await
            .status,
        401
    );
    assert_eq!(paths(&get(a, "/get/host").await.json()).len(), 3);
    let auth = [("Authorization", "Bearer t0k")];
    let r = request(a, "DELETE", "/api/q/host", &auth, b"").await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.json()["leaves"], 3);
    assert!(paths(&get(a, "/get/host").await.json()).is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keys_list_one_level_with_kind_children_and_action() {
    let dir = tempfile::tempdir().unwrap();
    let s = setup(dir.path(), WebConfig::default());
    let srv = start(s.state.clone()).await;
    let a = srv.addr;
    let doc = r#"{"_treestat": {"pushes": 1}, "cpu": {"default_action": "max",
        "vm": {"user": 1, "core0": {"user": 2, "sys": 1}}}, "load": 3}"#;
    assert_eq!(push_json(a, doc).await.status, 200,);
    let r = get(a, "/api/keys/").await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(
        r.json(),
        json!({"prefix": "", "leaf": false, "total": 2, "truncated": false, "keys": [
            {"key": "cpu", "kind": "branch", "children": 1, "action": "max"},
            {"key": "load", "kind": "leaf", "children": 0, "action": "average", "value": 3.0},
        ]})
    );
    assert_eq!(get(a, "/api/keys").await.json(), r.json());
    let keys = |v: Value| -> Vec<String> {
        v["keys"]
            .as_array()
            .unwrap()
            .iter()
            .map(|k| k["key"].as_str().unwrap().to_string())
            .collect()
    };
    assert_eq!(
        keys(get(a, "/api/keys/?internal=1").await.json()),
        ["_treestat", "cpu", "load"]
    );
    let r = get(a, "/api/keys/cpu,vm").await.json();
    assert_eq!(
        r["keys"],
        json!([
            {"key": "core0", "kind": "branch", "children": 2, "action": "max"},
            {"key": "user", "kind": "leaf", "children": 0, "action": "max", "value": 1.0},
        ])
    );
    let r = get(a, "/api/keys/cpu,vm?limit=1").await.json();
    assert_eq!(
        (r["total"].clone(), r["truncated"].clone()),
        (json!(2), json!(true))
    );
    assert_eq!(keys(r), ["core0"]);
    assert_eq!(keys(get(a, "/api/keys/_treestat").await.json()), ["pushes"]);
    let r = get(a, "/api/keys/load").await.json();
    assert_eq!(
        (r["leaf"].clone(), r["keys"].clone()),
        (json!(true), json!([]))
    );
    assert_eq!(get(a, "/api/keys/cpu,nope").await.status, 404);
    assert_eq!(get(a, "/api/keys/cpu,*").await.status, 400);
    assert_eq!(get(a, "/api/keys/?internal=maybe").await.status, 400);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_servers_own_subtree_stays_out_of_root_wildcards_unless_named_or_asked() {
    let dir = tempfile::tempdir().unwrap();
    let s = setup(dir.path(), WebConfig::default());
    let srv = start(s.state.clone()).await;
    let a = srv.addr;
    let doc = r#"{"_treestat": {"pushes": 1, "tree": {"leaves": 4}}, "app": {"hits": 2}}"#;
    assert_eq!(push_json(a, doc).await.status, 200);
    for hidden in [
        "/get/",
        "/get",
        "/get/*",
        "/get/**",
        "/get/**,pushes",
        "/get/*,*",
    ] {
        let r = get(a, hidden).await;
        assert_eq!(r.status, 200, "{hidden}");
        assert!(
            paths(&r.json()).iter().all(|p| !p.starts_with("_treestat")),
            "{hidden}: {}",
            r.text()
        );
    }
    assert_eq!(get(a, "/all").await.json(), json!({"app": {"hits": 2.0}}));
    assert_eq!(
        get(a, "/api/q/*.json").await.json(),
        json!({"app": {"hits": 2.0}})
    );
    assert_eq!(
        get(a, "/get/*?stat=count").await.json(),
        json!([["app,hits", 1.0]])
    );
    // Named, or asked for.
    assert_eq!(
        paths(&get(a, "/get/_treestat").await.json()),
        ["_treestat,pushes", "_treestat,tree,leaves"]
    );
    assert_eq!(
        paths(&get(a, "/get/_treestat,*%7Cleaf").await.json()),
        ["_treestat,pushes"]
    );
    assert_eq!(paths(&get(a, "/get/?internal=1").await.json()).len(), 3);
    assert_eq!(
        paths(&get(a, "/get/**,pushes?internal=1").await.json()).len(),
        1
    );
    assert_eq!(
        get(a, "/all?internal=1").await.json()["_treestat"]["pushes"],
        json!(1.0)
    );
    assert_eq!(
        get(a, "/api/q/*,pushes.json?internal=1").await.json(),
        json!({"_treestat": {"pushes": 1.0}})
    );
    // `/pull` from the start of the log, with and without.
    let r = get(a, "/pull/?cursor=0&timeout=1s").await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.json(), json!({"app,hits": 2.0}));
    let r = get(a, "/pull/?cursor=0&timeout=1s&internal=1").await;
    assert_eq!(r.json().as_object().unwrap().len(), 3, "{}", r.text());
    let r = get(a, "/pull/_treestat,tree?cursor=0&timeout=1s").await;
    assert_eq!(r.json(), json!({"_treestat,tree,leaves": 4.0}));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn leaf_and_branch_filters_select_one_levels_kind() {
    let dir = tempfile::tempdir().unwrap();
    let s = setup(dir.path(), WebConfig::default());
    let srv = start(s.state.clone()).await;
    let a = srv.addr;
    let doc = r#"{"cpu": {"vm": {"user": 1, "core0": {"user": 2}, "core1": {"user": 3}}}}"#;
    assert_eq!(push_json(a, doc).await.status, 200);
    // The issue's example: without the filter, the cores' subtrees come along.
    assert_eq!(paths(&get(a, "/get/cpu,vm,*").await.json()).len(), 3);
    assert_eq!(
        get(a, "/get/cpu,vm,*%7Cleaf").await.json(),
        json!([["cpu,vm,user", 1.0]])
    );
    assert_eq!(
        paths(&get(a, "/get/cpu,vm,*%7Cbranch").await.json()),
        ["cpu,vm,core0,user", "cpu,vm,core1,user"]
    );
    assert_eq!(
        get(a, "/get/cpu,vm,*%7Cbranch%7Csum,user").await.json(),
        json!([["cpu,vm,*,user", 5.0]])
    );
    assert_eq!(
        get(a, "/api/q/cpu,vm,*|leaf.json").await.json(),
        json!({"cpu": {"vm": {"user": 1.0}}})
    );
    // The trend store's reads go by the same grammar.
    close(&s);
    assert_eq!(s.store.paths("cpu,vm,*|leaf").unwrap(), ["cpu,vm,user"]);
    let r = get(a, "/trend/cpu,vm,*%7Cbranch.json").await;
    assert_eq!(r.status, 200, "{}", r.text());
    let got: Vec<&str> = r
        .json()
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["path"].as_str().unwrap())
        .collect::<Vec<_>>()
        .into_iter()
        .map(|p| {
            if p.ends_with("core0,user") {
                "core0"
            } else {
                "core1"
            }
        })
        .collect();
    assert_eq!(got, ["core0", "core1"]);
    for bad in [
        "/get/**%7Cleaf",
        "/get/*%7Cleaf%7Cbranch",
        "/get/*%7Cleaves",
    ] {
        assert_eq!(get(a, bad).await.status, 400, "{bad}");
    }
}
