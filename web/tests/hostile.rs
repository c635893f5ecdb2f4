//! Hostile HTTP input against a real server: huge and slow bodies, invalid UTF-8, JSON
//! bombs, NaN, bad keys and patterns, and 10,000 connections opened and dropped. After
//! each, good input from another client still lands, and every refusal is counted.

use crate::common;

use std::time::Duration;

use common::{PATIENCE, get, push_json, read_reply, request, request_bytes, start};
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;
use treestat_engine::Engine;
use treestat_engine::telemetry::Telemetry;
use treestat_web::{AppState, WebConfig};

fn server_state(cfg: WebConfig) -> AppState {
    AppState::new(Engine::default(), cfg, Telemetry::default())
}

/// The server still takes and serves good input.
async fn still_serving(addr: std::net::SocketAddr, key: &str) {
    let r = push_json(addr, &format!(r#"{{"good":{{"{key}":1}}}}"#)).await;
    assert_eq!(r.status, 200, "{}", r.text());
    let r = get(addr, &format!("/get/good,{key}")).await;
    assert_eq!(r.json(), serde_json::json!([[format!("good,{key}"), 1.0]]));
}

/// The value of an unlabelled metric (0 when absent).
fn metric(metrics: &str, name: &str) -> f64 {
    let prefix = format!("{name} ");
    metrics
        .lines()
        .find_map(|l| l.strip_prefix(&prefix))
        .map_or(0.0, |v| v.parse().unwrap())
}

fn rejects(metrics: &str, reason: &str) -> u64 {
    let prefix = format!("treestat_http_rejects_total{{reason=\"{reason}\"}} ");
    metrics
        .lines()
        .find_map(|l| l.strip_prefix(&prefix))
        .map_or(0, |v| v.parse().unwrap())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn huge_bodies_are_refused_with_413_declared_or_chunked() {
    let srv = start(server_state(WebConfig::default())).await;
    let a = srv.addr;
    let ten_mb = vec![b' '; 10 << 20];
    let r = request(
        a,
        "POST",
        "/push",
        &[("Content-Type", "application/json")],
        &ten_mb,
    )
    .await;
    assert_eq!(r.status, 413, "{}", r.text());
    assert!(r.json()["error"].as_str().unwrap().contains("body_limit"));
    // No Content-Length: the limit holds on what arrives.
    let mut s = TcpStream::connect(a).await.unwrap();
    let (mut rd, mut wr) = s.split();
    let send = async {
        let head = "POST /push HTTP/1.1\r\nHost: t\r\nConnection: close\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n";
        wr.write_all(head.as_bytes()).await?;
        let chunk = format!("{:x}\r\n{}\r\n", 1 << 20, " ".repeat(1 << 20));
        for _ in 0..10 {
            wr.write_all(chunk.as_bytes()).await?;
        }
        wr.write_all(b"0\r\n\r\n").await
    };
    let read = async {
        let mut raw = Vec::new();
        tokio::io::AsyncReadExt::read_to_end(&mut rd, &mut raw)
            .await
            .ok();
        raw
    };
    let (_, raw) = tokio::join!(send, read);
    assert_eq!(common::parse_reply(&raw).status, 413);
    still_serving(a, "after_huge").await;
    let m = get(a, "/metrics").await.text();
    assert_eq!(rejects(&m, "body_too_large"), 2, "{m}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_documents_get_400_and_are_counted() {
    let srv = start(server_state(WebConfig::default())).await;
    let a = srv.addr;
    let deep_array = "[".repeat(100_000);
    let deep_object = format!("{}1{}", r#"{"a":"#.repeat(40), "}".repeat(40));
    let bad: Vec<(&str, Vec<u8>)> = vec![
        ("invalid utf-8 in a key", b"{\"caf\xff\": 1}".to_vec()),
        ("nesting bomb", deep_array.into_bytes()),
        ("deeper than max_depth", deep_object.into_bytes()),
        ("NaN", br#"{"a": NaN}"#.to_vec()),
        ("Infinity", br#"{"a": Infinity}"#.to_vec()),
        (
            "a control character in a key",
            b"{\"a\\u0001b\": 1}".to_vec(),
        ),
        ("a comma in a key", br#"{"a,b": 1}"#.to_vec()),
        ("a number, not a tree", b"42".to_vec()),
        ("an array of strings", br#"{"a": ["x", 1]}"#.to_vec()),
    ];
    for (what, body) in &bad {
        let r = request(
            a,
            "POST",
            "/push",
            &[("Content-Type", "application/json")],
            body,
        )
        .await;
        assert_eq!(r.status, 400, "{what}: {}", r.text());
        assert!(r.json()["error"].is_string(), "{what}");
    }
    // Big but legal: many samples for one leaf, negative zero.
    let many = format!("{{\"samples\": [{}1]}}", "1,".repeat(500_000));
    let r = request(
        a,
        "POST",
        "/push",
        &[("Content-Type", "application/json")],
        many.as_bytes(),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.json()["samples"], 500_001);
    assert_eq!(push_json(a, r#"{"z": -0.0}"#).await.status, 200);
    assert_eq!(
        get(a, "/get/z").await.json(),
        serde_json::json!([["z", -0.0]])
    );
    // A wide bomb: 1M empty trees in one array (3 MB) is legal and adds nothing.
    let wide = format!("[{}{{}}]", "{},".repeat(1_000_000));
    let r = request(
        a,
        "POST",
        "/push",
        &[("Content-Type", "application/json")],
        wide.as_bytes(),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.json()["new_nodes"], 0);
    for pattern in ["a%7Cnope", "%FF%FE", "a,b%7Csum%7Cmax"] {
        let r = get(a, &format!("/get/{pattern}")).await;
        assert_eq!(r.status, 400, "{pattern}: {}", r.text());
    }
    still_serving(a, "after_bad").await;
    let m = get(a, "/metrics").await.text();
    let counted: u64 = ["bad_document", "bad_key", "bad_value", "too_deep"]
        .iter()
        .map(|r| rejects(&m, r))
        .sum();
    assert_eq!(counted, bad.len() as u64, "{m}");
    assert_eq!(
        rejects(&m, "bad_request") + rejects(&m, "bad_pattern"),
        3,
        "{m}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ten_thousand_connections_opened_and_dropped() {
    let srv = start(server_state(WebConfig::default())).await;
    let a = srv.addr;
    for batch in 0..20 {
        let conns: Vec<_> = (0..500)
            .map(|i| {
                tokio::spawn(async move {
                    let Ok(mut s) = TcpStream::connect(a).await else { return };
                    match i % 3 {
                        0 => {}
                        1 => {
                            let _ = s.write_all(b"POST /push HTTP/1.1\r\nContent-Le").await;
                        }
                        _ => {
                            let _ = s
                                .write_all(b"POST /push HTTP/1.1\r\nHost: t\r\nContent-Length: 1000\r\n\r\n{\"a\":")
                                .await;
                        }
                    }
                })
            })
            .collect();
        for c in conns {
            c.await.unwrap();
        }
        if batch % 5 == 4 {
            still_serving(a, &format!("batch{batch}")).await;
        }
    }
    still_serving(a, "after_churn").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_clients_do_not_hold_up_anyone_and_are_cut_off() {
    let cfg = WebConfig {
        body_timeout: Duration::from_secs(1),
        header_timeout: Duration::from_secs(1),
        ..WebConfig::default()
    };
    let srv = start(server_state(cfg)).await;
    let a = srv.addr;
    // Slowloris: half a request line, never finished.
    let mut idle = Vec::new();
    for _ in 0..50 {
        let mut s = TcpStream::connect(a).await.unwrap();
        s.write_all(b"GET /get/a HTT").await.unwrap();
        idle.push(s);
    }
    // Slow bodies: a promise of 100 bytes that never comes.
    let mut slow = Vec::new();
    for _ in 0..20 {
        let mut s = TcpStream::connect(a).await.unwrap();
        let mut req = request_bytes(
            "POST",
            "/push",
            &[("Content-Type", "application/json")],
            &[b' '; 100],
        );
        req.truncate(req.len() - 90);
        s.write_all(&req).await.unwrap();
        slow.push(s);
    }
    still_serving(a, "beside_slow_clients").await;
    for mut s in slow {
        let r = tokio::time::timeout(PATIENCE, read_reply(&mut s))
            .await
            .unwrap();
        assert_eq!(r.status, 408, "{}", r.text());
    }
    let m = get(a, "/metrics").await.text();
    assert_eq!(rejects(&m, "body_timeout"), 20, "{m}");
    // The trickled heads are cut off by the header timeout: the server closes them.
    for mut s in idle {
        let mut rest = Vec::new();
        let closed = tokio::time::timeout(
            PATIENCE,
            tokio::io::AsyncReadExt::read_to_end(&mut s, &mut rest),
        )
        .await;
        assert!(closed.is_ok(), "a slowloris connection was left open");
    }
    // ... and counted (at least those 50: an idle keep-alive connection of the checks
    // above may be cut off too). The count lands just after the close.
    let deadline = tokio::time::Instant::now() + PATIENCE;
    loop {
        let m = get(a, "/metrics").await.text();
        let n = metric(&m, "treestat_http_header_timeouts_total");
        if n >= 50.0 {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "{n} header timeouts counted\n{m}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    still_serving(a, "after_slow_clients").await;
}

/// Counts lines; stands in for the pipes, which the server wires later.
struct CountLines;

impl treestat_web::LogSink for CountLines {
    fn lines(&self, _source: &str, lines: &[&str]) -> Result<treestat_web::LogSummary, String> {
        Ok(treestat_web::LogSummary {
            lines: lines.len() as u64,
            ..Default::default()
        })
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_ten_megabyte_log_line_is_skipped_and_counted_not_buffered() {
    let state = server_state(WebConfig::default()).with_log_sink(std::sync::Arc::new(CountLines));
    let srv = start(state).await;
    let mut body = b"GET /before HTTP/1.1\n".to_vec();
    body.extend(std::iter::repeat_n(b'x', 10 << 20));
    body.extend_from_slice(b"\nGET /after \xff\xfe HTTP/1.1\n");
    let r = request(srv.addr, "PUT", "/raw", &[], &body).await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(
        r.json(),
        serde_json::json!({"lines": 2, "bad_lines": 0, "samples": 0, "too_long": 1})
    );
    still_serving(srv.addr, "after_long_line").await;
}

/// Regression: query-string errors on `/trend` and `/export`, and an `/import` over the
/// body limit, answered plain text and were not counted.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn trend_routes_refuse_with_json_and_count() {
    use treestat_engine::trend::{TrendConfig, TrendStore};
    let dir = tempfile::tempdir().unwrap();
    let store = TrendStore::open(dir.path(), &TrendConfig::default()).unwrap();
    let cfg = WebConfig {
        body_limit: 1 << 10,
        ..WebConfig::default()
    };
    let state = server_state(cfg).with_trend_store(store);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let a = listener.local_addr().unwrap();
    let shutdown = tokio_util::sync::CancellationToken::new();
    let task = tokio::spawn(treestat_web::serve(listener, state, shutdown.clone()));
    for path in [
        "/trend/a.json?points=many",
        "/trend/a.json?from=-5m&from=x&until",
        "/export/a.ndjson?points=-1",
        "/markers/a.json?from=%ZZ",
    ] {
        let r = get(a, path).await;
        assert_eq!(r.status, 400, "{path}: {}", r.text());
        assert!(r.json()["error"].is_string(), "{path}: {}", r.text());
    }
    let big = vec![b'\n'; 4 << 10];
    let r = request(
        a,
        "POST",
        "/import",
        &[("Content-Type", "application/x-ndjson")],
        &big,
    )
    .await;
    assert_eq!(r.status, 413, "{}", r.text());
    assert!(r.json()["error"].as_str().unwrap().contains("body_limit"));
    let r = request(a, "POST", "/import", &[], br#"["a",1700000000,1]"#).await;
    assert_eq!(r.status, 200, "{}", r.text());
    let m = get(a, "/metrics").await.text();
    assert_eq!(rejects(&m, "body_too_large"), 1, "{m}");
    assert_eq!(rejects(&m, "bad_request"), 4, "{m}");
    shutdown.cancel();
    let _ = task.await;
}
