//! `/pull` long-polling against a real server: wildcard waiters fire on one push, and a
//! client that follows the cursor sees every push, none lost.

use crate::common;

use std::collections::BTreeMap;

use common::{PATIENCE, get, push_json, start, wait_metric};
use serde_json::json;
use treestat_engine::Engine;
use treestat_engine::telemetry::Telemetry;
use treestat_web::{AppState, CURSOR_HEADER, WebConfig};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_waiters_fire_on_one_push_each_with_its_own_values() {
    let srv = start(AppState::new(
        Engine::default(),
        WebConfig::default(),
        Telemetry::default(),
    ))
    .await;
    let addr = srv.addr;
    let waiters: Vec<_> = ["br", "br,ie", "br,ie,,venders"]
        .into_iter()
        .map(|p| tokio::spawn(async move { get(addr, &format!("/pull/{p}?timeout=60s")).await }))
        .collect();
    wait_metric(addr, "treestat_http_pull_waiters", 3).await;
    let r = push_json(
        addr,
        r#"{"br":{"ie":{"7":{"venders":{"sogou":2},"count":5}},"ff":{"3":1}},"os":{"linux":1}}"#,
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.text());
    let mut answers = Vec::new();
    for w in waiters {
        let reply = tokio::time::timeout(PATIENCE, w).await.unwrap().unwrap();
        assert_eq!(reply.status, 200, "{}", reply.text());
        assert_eq!(reply.header(CURSOR_HEADER), Some("1"));
        answers.push(reply.json());
    }
    assert_eq!(
        answers[0],
        json!({"br,ie,7,venders,sogou": 2.0, "br,ie,7,count": 5.0, "br,ff,3": 1.0})
    );
    assert_eq!(
        answers[1],
        json!({"br,ie,7,venders,sogou": 2.0, "br,ie,7,count": 5.0})
    );
    assert_eq!(answers[2], json!({"br,ie,7,venders,sogou": 2.0}));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_waiter_following_the_cursor_loses_no_push() {
    let srv = start(AppState::new(
        Engine::default(),
        WebConfig::default(),
        Telemetry::default(),
    ))
    .await;
    let addr = srv.addr;
    let first = get(addr, "/pull/c?timeout=0s").await;
    assert_eq!(first.status, 204);
    let mut cursor: u64 = first.header(CURSOR_HEADER).unwrap().parse().unwrap();
    const N: usize = 200;
    let pusher = tokio::spawn(async move {
        for i in 0..N {
            // Pushes outside the pattern move the cursor too; they must not be answered.
            let r = push_json(
                addr,
                &format!(r#"{{"c":{{"k{i}":{i}}},"other":{{"x":1}}}}"#),
            )
            .await;
            assert_eq!(r.status, 200);
        }
    });
    let mut seen = BTreeMap::new();
    let deadline = tokio::time::Instant::now() + PATIENCE;
    while seen.len() < N {
        assert!(
            tokio::time::Instant::now() < deadline,
            "only {} of {N} pushes arrived",
            seen.len()
        );
        let r = get(addr, &format!("/pull/c?cursor={cursor}&timeout=10s")).await;
        assert!(r.status == 200 || r.status == 204, "{}", r.text());
        assert!(
            r.header("x-treestat-missed").is_none(),
            "the log held every push"
        );
        cursor = r.header(CURSOR_HEADER).unwrap().parse().unwrap();
        if r.status == 200 {
            for (k, v) in r.json().as_object().unwrap() {
                assert!(k.starts_with("c,k"), "{k} is not under the pattern");
                seen.insert(k.clone(), v.as_f64().unwrap());
            }
        }
    }
    pusher.await.unwrap();
    for i in 0..N {
        assert_eq!(seen[&format!("c,k{i}")], i as f64);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_that_hangs_up_frees_its_slot_and_refusals_carry_a_cursor() {
    let cfg = WebConfig {
        max_waiters: 1,
        ..WebConfig::default()
    };
    let srv = start(AppState::new(Engine::default(), cfg, Telemetry::default())).await;
    let a = srv.addr;
    let mut conn = tokio::net::TcpStream::connect(a).await.unwrap();
    tokio::io::AsyncWriteExt::write_all(
        &mut conn,
        &common::request_bytes("GET", "/pull/x?timeout=300s", &[], b""),
    )
    .await
    .unwrap();
    wait_metric(a, "treestat_http_pull_waiters", 1).await;
    let r = get(a, "/pull/y?timeout=1s").await;
    assert_eq!(r.status, 429, "{}", r.text());
    assert!(r.json()["error"].as_str().unwrap().contains("waiters"));
    assert_eq!(r.header(CURSOR_HEADER), Some("0"));
    let r = get(a, "/pull/a%7Cnope?cursor=7").await;
    assert_eq!(r.status, 400);
    assert_eq!(r.header(CURSOR_HEADER), Some("7"));
    drop(conn);
    wait_metric(a, "treestat_http_pull_waiters", 0).await;
    assert_eq!(get(a, "/pull/y?timeout=0s").await.status, 204);
}

/// Regression (issue 12): every waiter woke for every push, resolved every pushed
/// leaf's path under the engine's read lock and matched it itself, so 1,024 idle
/// waiters made one 10k-leaf push cost a second. Now one dispatcher resolves a push's
/// paths once, matches each distinct pattern once, and skips patterns whose literal
/// first key the push did not touch: the engine's counters say so.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn many_waiters_share_one_resolution_and_one_match_per_pattern() {
    let engine = Engine::default();
    let srv = start(AppState::new(
        engine.clone(),
        WebConfig::default(),
        Telemetry::default(),
    ))
    .await;
    let addr = srv.addr;
    let spawn = |p: &'static str| {
        tokio::spawn(async move { get(addr, &format!("/pull/{p}?timeout=600s")).await })
    };
    let wide: Vec<_> = (0..100).map(|_| spawn("w,*")).collect();
    let idle: Vec<_> = (0..100).map(|_| spawn("quiet,**")).collect();
    wait_metric(addr, "treestat_http_pull_waiters", 200).await;

    let mut doc = String::from(r#"{"w":{"#);
    for i in 0..2000 {
        if i > 0 {
            doc.push(',');
        }
        doc.push_str(&format!(r#""k{i}":{i}"#));
    }
    doc.push_str("}}");
    assert_eq!(push_json(addr, &doc).await.status, 200);
    for w in wide {
        let reply = tokio::time::timeout(PATIENCE, w).await.unwrap().unwrap();
        assert_eq!(reply.status, 200);
        let values = reply.json();
        assert_eq!(values.as_object().unwrap().len(), 2000);
        assert_eq!(values["w,k1999"], json!(1999.0));
    }
    // This push wakes the idle waiters (the first one never concerned them).
    assert_eq!(push_json(addr, r#"{"quiet":{"x":7}}"#).await.status, 200);
    for w in idle {
        let reply = tokio::time::timeout(PATIENCE, w).await.unwrap().unwrap();
        assert_eq!(reply.status, 200);
        assert_eq!(reply.json(), json!({"quiet,x": 7.0}));
    }
    let c = engine.metrics();
    // Two pushes, each resolved once for its 100 waiters.
    assert_eq!(c.shared_path_resolves.get(), 2);
    // Push 1: only "w,*" (it touched nothing under "quiet"); push 2: only "quiet,**".
    assert_eq!(c.shared_pattern_matches.get(), 2);
}
