//! Graceful shutdown: once the token fires the server stops accepting, answers the
//! requests in flight (a body still arriving, a waiting long-poll) and `serve` returns.

use crate::common;

use std::sync::Arc;

use common::{PATIENCE, get, read_reply, start, wait_metric};
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;
use treestat_engine::Engine;
use treestat_engine::telemetry::Telemetry;
use treestat_web::{AppState, CURSOR_HEADER, LogSink, LogSummary, WebConfig};

/// Counts lines; stands in for the pipes, which the server wires later.
struct CountLines;

impl LogSink for CountLines {
    fn lines(&self, _source: &str, lines: &[&str]) -> Result<LogSummary, String> {
        Ok(LogSummary {
            lines: lines.len() as u64,
            ..LogSummary::default()
        })
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn in_flight_requests_are_answered_then_serve_returns() {
    let state = AppState::new(
        Engine::default(),
        WebConfig::default(),
        Telemetry::default(),
    )
    .with_log_sink(Arc::new(CountLines));
    let srv = start(state).await;
    let a = srv.addr;
    let waiter = tokio::spawn(async move { get(a, "/pull/x?timeout=120s").await });
    wait_metric(a, "treestat_http_pull_waiters", 1).await;
    // A streamed upload whose first line the server has provably taken in.
    let body = b"GET /first HTTP/1.1\nGET /second HTTP/1.1\n";
    let mut slow = TcpStream::connect(a).await.unwrap();
    let head = format!(
        "PUT /raw HTTP/1.1\r\nHost: t\r\nConnection: close\r\nContent-Length: {}\r\n\r\n",
        body.len()
    );
    slow.write_all(head.as_bytes()).await.unwrap();
    slow.write_all(&body[..20]).await.unwrap();
    wait_metric(a, "treestat_http_lines_total", 1).await;
    srv.shutdown.cancel();
    let pulled = tokio::time::timeout(PATIENCE, waiter)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(pulled.status, 503, "{}", pulled.text());
    assert!(
        pulled.header(CURSOR_HEADER).is_some(),
        "the cursor to resume from"
    );
    slow.write_all(&body[20..]).await.unwrap();
    let r = read_reply(&mut slow).await;
    assert_eq!(
        r.status,
        200,
        "the in-flight upload is answered: {}",
        r.text()
    );
    assert_eq!(r.json()["lines"], 2);
    tokio::time::timeout(PATIENCE, srv.handle)
        .await
        .expect("serve returned")
        .unwrap()
        .unwrap();
    assert!(TcpStream::connect(a).await.is_err(), "no longer accepting");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn half_sent_requests_do_not_hold_shutdown_up_past_the_grace_period() {
    let cfg = WebConfig {
        shutdown_grace: std::time::Duration::from_millis(300),
        ..WebConfig::default()
    };
    let srv = start(AppState::new(Engine::default(), cfg, Telemetry::default())).await;
    let a = srv.addr;
    let mut stuck = Vec::new();
    for _ in 0..10 {
        let mut s = TcpStream::connect(a).await.unwrap();
        s.write_all(b"GET /get/a HTTP/1.1\r\nHost: t\r\nX-Slow: ")
            .await
            .unwrap();
        stuck.push(s);
    }
    // Make sure the server has accepted them all: a request after them is answered.
    assert_eq!(get(a, "/get/a").await.status, 200);
    srv.shutdown.cancel();
    tokio::time::timeout(PATIENCE, srv.handle)
        .await
        .expect("serve returned while clients were still sending headers")
        .unwrap()
        .unwrap();
    drop(stuck);
}
