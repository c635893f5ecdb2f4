//! Transports against real sockets on 127.0.0.1: UDP splitting, TCP and HTTP answers,
//! buffering while a server is down and replay in order, drop counts, the spool.

use crate::common;

use std::net::TcpListener;
use std::time::Duration;

use common::{HttpReceiver, Received, TcpReceiver, UdpReceiver};
use serde_json::{Value as Json, json};
use treestat_agent::config::ServerUrl;
use treestat_agent::transport::{Outbox, OutboxConfig};

fn outbox(urls: &[String], count: usize, spool: Option<std::path::PathBuf>) -> Outbox {
    Outbox::start(&OutboxConfig {
        servers: urls.iter().map(|u| ServerUrl::parse(u).unwrap()).collect(),
        timeout: Duration::from_secs(2),
        udp_max_datagram: 300,
        max_document: 1000,
        buffer_count: count,
        spool: spool.map(|p| (p, 1 << 20)),
        max_backoff: Duration::from_millis(100),
        tls: None,
        token: None,
    })
    .unwrap()
}

/// A port with nothing listening (bound, then released).
fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn seqs(docs: &[Json]) -> Vec<i64> {
    docs.iter().filter_map(|d| d["seq"].as_i64()).collect()
}

#[test]
fn udp_splits_large_pushes_into_datagrams() {
    let rx = UdpReceiver::start();
    let out = outbox(&[rx.url()], 10, None);
    let mut net = serde_json::Map::new();
    for i in 0..100 {
        net.insert(format!("if{i}"), json!(i));
    }
    out.send(&json!([{"default_action": "average", "network": {"h": net}}]));
    let docs = rx.got.wait_for("100 leaves", |d| {
        d.iter()
            .map(|doc| doc[0]["network"]["h"].as_object().map_or(0, |m| m.len()))
            .sum::<usize>()
            == 100
    });
    assert!(docs.len() > 1, "split into several datagrams");
    assert!(rx.sizes.lock().iter().all(|&n| n <= 300));
    out.close(Duration::from_secs(1));
}

#[test]
fn tcp_and_http_deliver_in_order_to_several_servers() {
    let tcp = TcpReceiver::start();
    let http = HttpReceiver::start();
    let out = outbox(&[tcp.url(), http.url()], 10, None);
    for i in 0..5 {
        out.send(&json!({"seq": i}));
    }
    out.send(&json!({"reject": 1}));
    let t = tcp.got.wait_for("5 over tcp", |d| d.len() == 5);
    let h = http.got.wait_for("5 over http", |d| d.len() == 5);
    assert_eq!(seqs(&t), [0, 1, 2, 3, 4]);
    assert_eq!(seqs(&h), [0, 1, 2, 3, 4]);
    let stats = out.close(Duration::from_secs(5));
    for s in &stats {
        assert_eq!(
            (s.sent, s.rejected, s.dropped, s.pending),
            (5, 1, 0, 0),
            "{s:?}"
        );
    }
}

#[test]
fn a_server_that_comes_back_gets_everything_once_in_order() {
    let port = free_port();
    let addr = format!("127.0.0.1:{port}");
    let out = outbox(&[format!("tcp://{addr}")], 100, None);
    for i in 0..20 {
        out.send(&json!({"seq": i}));
    }
    std::thread::sleep(Duration::from_millis(300));
    let s = &out.stats()[0];
    assert!(s.down && s.pending == 20, "{s:?}");
    let rx = TcpReceiver::start_on(&addr, Received::default());
    let docs = rx.got.wait_for("20 replayed", |d| d.len() >= 20);
    assert_eq!(seqs(&docs), (0..20).collect::<Vec<_>>());
    out.send(&json!({"seq": 20}));
    let docs = rx.got.wait_for("one more", |d| d.len() >= 21);
    assert_eq!(seqs(&docs), (0..21).collect::<Vec<_>>(), "none twice");
    out.close(Duration::from_secs(2));
}

#[test]
fn a_small_buffer_counts_what_it_drops() {
    let port = free_port();
    let addr = format!("127.0.0.1:{port}");
    let out = outbox(&[format!("tcp://{addr}")], 3, None);
    for i in 0..10 {
        out.send(&json!({"seq": i}));
    }
    assert_eq!(out.dropped(), 7);
    let rx = TcpReceiver::start_on(&addr, Received::default());
    let docs = rx.got.wait_for("the 3 kept", |d| d.len() >= 3);
    assert_eq!(seqs(&docs), [7, 8, 9], "the newest are kept");
    let stats = out.close(Duration::from_secs(2));
    assert_eq!((stats[0].sent, stats[0].dropped), (3, 7));
}

#[test]
fn the_spool_carries_pushes_across_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let spool = dir.path().join("agent.spool");
    let port = free_port();
    let addr = format!("127.0.0.1:{port}");
    let url = format!("tcp://{addr}");
    let out = outbox(std::slice::from_ref(&url), 2, Some(spool.clone()));
    for i in 0..6 {
        out.send(&json!({"seq": i}));
    }
    let stats = out.close(Duration::from_millis(100));
    assert_eq!((stats[0].dropped, stats[0].pending), (0, 6), "{stats:?}");

    let rx = TcpReceiver::start_on(&addr, Received::default());
    let again = outbox(&[url], 2, Some(spool));
    again.send(&json!({"seq": 6}));
    let docs = rx.got.wait_for("7 documents", |d| d.len() >= 7);
    assert_eq!(seqs(&docs), (0..7).collect::<Vec<_>>());
    again.close(Duration::from_secs(2));
}

#[test]
fn tcp_splits_documents_over_the_line_limit() {
    let tcp = TcpReceiver::start();
    let out = outbox(&[tcp.url()], 10, None);
    let mut m = serde_json::Map::new();
    for i in 0..200 {
        m.insert(format!("k{i}"), json!(i));
    }
    out.send(&json!({"big": m}));
    let docs = tcp.got.wait_for("200 leaves", |d| {
        d.iter()
            .map(|doc| doc[0]["big"].as_object().map_or(0, |m| m.len()))
            .sum::<usize>()
            == 200
    });
    assert!(docs.len() > 1);
    assert!(docs.iter().all(|d| d.to_string().len() <= 1000));
    out.close(Duration::from_secs(2));
}
