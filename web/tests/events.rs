//! `/events` Server-Sent Events against a real server on a manual clock: one message per
//! closed interval with the pattern's values and markers, and keep-alive comments.

use crate::common;

use std::sync::Arc;
use std::time::Duration;

use common::{Dechunk, PATIENCE, find, push_json, request_bytes, start};
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use treestat_engine::telemetry::Telemetry;
use treestat_engine::{Engine, EngineConfig, ManualClock};
use treestat_web::{AppState, WebConfig};

/// An open event stream.
struct Sse {
    conn: TcpStream,
    chunks: Dechunk,
    seen: usize,
}

impl Sse {
    async fn open(addr: std::net::SocketAddr, path: &str) -> Sse {
        let mut conn = TcpStream::connect(addr).await.unwrap();
        conn.write_all(&request_bytes(
            "GET",
            path,
            &[("Accept", "text/event-stream")],
            b"",
        ))
        .await
        .unwrap();
        let mut head = Vec::new();
        let mut byte = [0u8; 1];
        while find(&head, b"\r\n\r\n").is_none() {
            conn.read_exact(&mut byte).await.unwrap();
            head.push(byte[0]);
        }
        let head = String::from_utf8(head).unwrap();
        assert!(head.starts_with("HTTP/1.1 200"), "{head}");
        assert!(head.contains("text/event-stream"), "{head}");
        Sse {
            conn,
            chunks: Dechunk::default(),
            seen: 0,
        }
    }

    /// The next block (event or comment) of the stream.
    async fn next_block(&mut self) -> String {
        let read = async {
            loop {
                if let Some(end) = find(&self.chunks.out[self.seen..], b"\n\n") {
                    let block =
                        String::from_utf8_lossy(&self.chunks.out[self.seen..self.seen + end])
                            .into_owned();
                    self.seen += end + 2;
                    return block;
                }
                let mut buf = [0u8; 4096];
                let n = self.conn.read(&mut buf).await.unwrap();
                assert!(n > 0, "the stream ended");
                self.chunks.feed(&buf[..n]);
            }
        };
        tokio::time::timeout(PATIENCE, read)
            .await
            .expect("an event in time")
    }

    /// The next `interval` event's data.
    async fn next_interval(&mut self) -> Value {
        loop {
            let block = self.next_block().await;
            if block.lines().any(|l| l == "event: interval") {
                let data = block
                    .lines()
                    .find_map(|l| l.strip_prefix("data: "))
                    .unwrap();
                return serde_json::from_str(data).unwrap();
            }
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_message_per_closed_interval_with_values_and_markers() {
    let clock = Arc::new(ManualClock::new(1_000_000));
    let engine = Engine::with_clock(EngineConfig::default(), clock.clone()).unwrap();
    let srv = start(AppState::new(
        engine.clone(),
        WebConfig::default(),
        Telemetry::default(),
    ))
    .await;
    let mut sse = Sse::open(srv.addr, "/events/br").await;
    push_json(
        srv.addr,
        r#"{"br":{"ie":4,"ff":2,"note":"deploy 1.2"},"os":{"linux":9}}"#,
    )
    .await;
    push_json(srv.addr, r#"{"br":{"ie":6}}"#).await;
    clock.advance(10);
    engine.close_now();
    let first = sse.next_interval().await;
    assert_eq!(first["start"], 1_000_000);
    assert_eq!(first["len"], 10);
    assert_eq!(first["values"], json!({"br,ff": 2.0, "br,ie": 5.0}));
    assert_eq!(first["markers"][0]["path"], "br,note");
    assert_eq!(first["markers"][0]["text"], "deploy 1.2");
    push_json(srv.addr, r#"{"os":{"linux":1}}"#).await;
    clock.advance(10);
    engine.close_now();
    let second = sse.next_interval().await;
    assert_eq!(second["start"], 1_000_010);
    assert_eq!(
        second["values"],
        json!({}),
        "nothing under br in this interval"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idle_streams_get_keep_alive_comments_and_end_on_shutdown() {
    let cfg = WebConfig {
        sse_keepalive: Duration::from_millis(200),
        ..WebConfig::default()
    };
    let srv = start(AppState::new(Engine::default(), cfg, Telemetry::default())).await;
    let mut sse = Sse::open(srv.addr, "/events/").await;
    let block = sse.next_block().await;
    assert!(block.starts_with(':'), "a comment: {block:?}");
    srv.shutdown.cancel();
    let rest = async {
        let mut buf = Vec::new();
        sse.conn.read_to_end(&mut buf).await.map(|_| buf)
    };
    tokio::time::timeout(PATIENCE, rest)
        .await
        .expect("the stream ended")
        .ok();
    tokio::time::timeout(PATIENCE, srv.handle)
        .await
        .unwrap()
        .unwrap()
        .unwrap();
}

/// Issue 18: the server's own `_treestat` subtree is out of a root wildcard's stream
/// unless named or asked for (`?internal=1`), aggregating patterns included.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_servers_own_subtree_streams_only_when_named_or_asked() {
    let clock = Arc::new(ManualClock::new(1_000_000));
    let engine = Engine::with_clock(EngineConfig::default(), clock.clone()).unwrap();
    let srv = start(AppState::new(
        engine.clone(),
        WebConfig::default(),
        Telemetry::default(),
    ))
    .await;
    let mut plain = Sse::open(srv.addr, "/events/").await;
    let mut asked = Sse::open(srv.addr, "/events/?internal=1").await;
    let mut named = Sse::open(srv.addr, "/events/_treestat").await;
    let mut folded = Sse::open(srv.addr, "/events/*%7Csum?internal=1").await;
    push_json(srv.addr, r#"{"_treestat":{"pushes":3},"app":{"hits":2}}"#).await;
    clock.advance(10);
    engine.close_now();
    assert_eq!(
        plain.next_interval().await["values"],
        json!({"app,hits": 2.0})
    );
    assert_eq!(
        asked.next_interval().await["values"],
        json!({"_treestat,pushes": 3.0, "app,hits": 2.0})
    );
    assert_eq!(
        named.next_interval().await["values"],
        json!({"_treestat,pushes": 3.0})
    );
    assert_eq!(
        folded.next_interval().await["values"],
        json!({"*,hits": 2.0, "*,pushes": 3.0})
    );
}
