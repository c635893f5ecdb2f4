//! Hostile input against every listener (issue 3, acceptance 4): invalid UTF-8, a
//! 10 MB line, JSON bombs, NaN and infinities, negative zero, keys with `,` or control
//! characters, slowloris connections, 10,000 connections opened and dropped. The
//! server must not panic, must keep its memory bounded, must keep serving good
//! clients, and must count every refusal.

use crate::listen_common;

use std::time::Duration;

use listen_common::{LineClient, PATIENCE, start, test_config, udp_client};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use treestat_engine::listen::{ListenConfig, Reject};

const TEN_MB: usize = 10 << 20;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tcp_8007_hostile_lines() {
    let srv = start(test_config()).await;
    let mut c = LineClient::connect_8007(srv.tcp).await;

    c.send(b"{\"a\":\xff\xfe1}\n").await;
    assert!(
        c.read_line()
            .await
            .unwrap()
            .starts_with("--ERR invalid UTF-8")
    );

    // 10 MB without a line break in sight, then the line ends and a good one follows.
    let big = vec![b'['; TEN_MB];
    let writer = async {
        c.writer.write_all(&big).await.unwrap();
        c.writer.write_all(b"]\n{\"ok\":1}\n").await.unwrap();
    };
    let mut replies = Vec::new();
    let reader = async {
        for _ in 0..2 {
            let mut line = Vec::new();
            tokio::time::timeout(
                PATIENCE,
                tokio::io::AsyncBufReadExt::read_until(&mut c.reader, b'\n', &mut line),
            )
            .await
            .unwrap()
            .unwrap();
            replies.push(String::from_utf8(line).unwrap());
        }
    };
    tokio::join!(writer, reader);
    assert_eq!(replies, ["--ERR line too long\n", "--OK\n"]);

    let nest = 5_000;
    let bomb = format!("{}{}", "[".repeat(nest), "]".repeat(nest));
    assert!(c.ask(&bomb).await.starts_with("--ERR"));
    let bomb = format!("{}1{}", "{\"a\":".repeat(nest), "}".repeat(nest));
    assert!(c.ask(&bomb).await.starts_with("--ERR"));
    // A wide array of samples within the line limit is a legal push...
    let wide = format!("{{\"wide\":[{}1]}}", "1,".repeat(20_000));
    assert_eq!(c.ask(&wide).await, "--OK");
    // ...and so is an array of thousands of trees.
    let many: Vec<String> = (0..3000).map(|i| format!("{{\"k{i}\":1}}")).collect();
    let many = format!("[{}]", many.join(","));
    assert_eq!(c.ask(&many).await, "--OK");

    for bad in [
        r#"{"a":NaN}"#,
        r#"{"a":Infinity}"#,
        r#"["v", 1, "NaN"]"#,
        r#"["v", 1, "-inf"]"#,
        r#"{"a,b":1}"#,
        "{\"a\\u0001\":1}",
        r#"["a,\u0007", 1, 2]"#,
        r#"{"":1}"#,
    ] {
        let reply = c.ask(bad).await;
        assert!(reply.starts_with("--ERR "), "{bad} -> {reply}");
        assert!(
            !reply.contains('\u{7}'),
            "control characters are escaped in replies"
        );
    }
    assert_eq!(c.ask(r#"{"nz":-0.0}"#).await, "--OK");
    assert_eq!(c.ask(r#"["nz2", 1322721979, -0]"#).await, "--OK");
    assert_eq!(srv.engine.leaf_at("nz").unwrap().2.sum, 0.0);
    assert_eq!(srv.engine.query("nz2").unwrap(), [("nz2".to_string(), 0.0)]);
    assert_eq!(srv.engine.leaf_at("ok").unwrap().2.sum, 1.0);

    assert_eq!(srv.rejects("tcp", Reject::BadUtf8), 1.0);
    assert_eq!(srv.rejects("tcp", Reject::LineTooLong), 1.0);
    assert_eq!(srv.rejects("tcp", Reject::BadDocument), 4.0);
    assert_eq!(srv.rejects("tcp", Reject::BadValue), 2.0);
    assert_eq!(srv.rejects("tcp", Reject::BadKey), 4.0);
    srv.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn udp_and_statsd_hostile_datagrams() {
    let cfg = ListenConfig {
        max_datagram: 4096,
        ..test_config()
    };
    let srv = start(cfg).await;
    let u = udp_client().await;
    let big = vec![b'{'; 8000];
    let bomb = format!("{}{}", "[".repeat(1500), "]".repeat(1500));
    for d in [
        &b"\xff\xfe{}"[..],
        &big,
        bomb.as_bytes(),
        br#"{"a":NaN}"#,
        br#"{"a,b":1}"#,
        b"{\"a\\u0000\":1}",
        br#"{"good":{"x":1}}"#,
    ] {
        u.send_to(d, srv.udp).await.unwrap();
    }
    srv.wait_leaf("good,x", |_, _| true).await;
    assert_eq!(srv.rejects("udp", Reject::BadUtf8), 1.0);
    assert_eq!(srv.rejects("udp", Reject::DatagramTooLarge), 1.0);
    assert_eq!(srv.rejects("udp", Reject::BadDocument), 2.0);
    assert_eq!(srv.rejects("udp", Reject::BadKey), 2.0);

    let mut lines = Vec::new();
    lines.extend_from_slice(b"a\xff:1|c\n");
    lines.extend_from_slice(b"n:NaN|g\nn:inf|c\nn:-0|c\n");
    lines.extend_from_slice(b"a,b:1|c\nc\x01d:1|c\n");
    lines.extend_from_slice(format!("{}:1|c\n", "x.".repeat(40) + "x").as_bytes());
    lines.extend_from_slice(b"fine.one:2|c\n");
    u.send_to(&lines, srv.statsd).await.unwrap();
    u.send_to(&big, srv.statsd).await.unwrap();
    u.send_to(b"fine.two:3|c", srv.statsd).await.unwrap();
    srv.wait_leaf("fine,two", |_, _| true).await;
    assert_eq!(srv.engine.leaf_at("fine,one").unwrap().2.sum, 2.0);
    assert_eq!(srv.engine.query("n").unwrap(), [("n".to_string(), 0.0)]);
    assert_eq!(srv.rejects("statsd", Reject::BadUtf8), 1.0);
    assert_eq!(srv.rejects("statsd", Reject::BadValue), 2.0);
    assert_eq!(srv.rejects("statsd", Reject::BadKey), 2.0);
    assert_eq!(srv.rejects("statsd", Reject::TooDeep), 1.0);
    assert_eq!(srv.rejects("statsd", Reject::DatagramTooLarge), 1.0);
    srv.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn graphite_hostile_lines() {
    let srv = start(test_config()).await;
    let mut c = LineClient::connect(srv.graphite).await;
    c.send(b"bad.\xff 1\n").await;
    c.send(&vec![b'x'; TEN_MB]).await;
    c.send(b" 1\nnan.v NaN\ninf.v inf 1\na,b 1\nc\x1bd 1\nneg.zero -0\ngood.v 5\n")
        .await;
    drop(c);
    srv.wait_leaf("good,v", |_, _| true).await;
    assert_eq!(
        srv.engine.query("neg").unwrap(),
        [("neg,zero".to_string(), 0.0)]
    );
    assert_eq!(srv.rejects("graphite", Reject::BadUtf8), 1.0);
    assert_eq!(srv.rejects("graphite", Reject::LineTooLong), 1.0);
    assert_eq!(srv.rejects("graphite", Reject::BadValue), 2.0);
    assert_eq!(srv.rejects("graphite", Reject::BadKey), 2.0);
    srv.stop().await;
}

/// Reads until the server closes the connection (or resets it).
async fn closed_by_server(s: &mut TcpStream) -> bool {
    let mut buf = [0u8; 1024];
    loop {
        match tokio::time::timeout(PATIENCE, s.read(&mut buf)).await {
            Ok(Ok(0) | Err(_)) => return true,
            Ok(Ok(_)) => {}
            Err(_) => return false,
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slowloris_connections_are_closed() {
    let cfg = ListenConfig {
        idle_timeout: Duration::from_millis(300),
        ..test_config()
    };
    let srv = start(cfg).await;
    // A partial line that never ends.
    let mut a = TcpStream::connect(srv.tcp).await.unwrap();
    a.write_all(b"{\"a\":").await.unwrap();
    let mut g = TcpStream::connect(srv.graphite).await.unwrap();
    g.write_all(b"slow.metric 1").await.unwrap();
    // A trickle: a byte at a time, never a full line.
    let mut t = TcpStream::connect(srv.tcp).await.unwrap();
    let trickle = async {
        for _ in 0..200 {
            if t.write_all(b"x").await.is_err() {
                return;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    };
    let (closed_a, closed_g, ()) =
        tokio::join!(closed_by_server(&mut a), closed_by_server(&mut g), trickle);
    assert!(closed_a && closed_g);
    assert!(closed_by_server(&mut t).await);
    srv.wait("three idle connections counted", |s| {
        s.rejects("tcp", Reject::IdleTimeout) == 2.0
            && s.rejects("graphite", Reject::IdleTimeout) == 1.0
    })
    .await;
    // The partial graphite line was never merged.
    assert!(srv.engine.leaf_at("slow,metric").is_none());
    // Good clients are still served.
    let mut c = LineClient::connect_8007(srv.tcp).await;
    assert_eq!(c.ask(r#"{"after":1}"#).await, "--OK");
    srv.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ten_thousand_connections_opened_and_dropped() {
    let srv = start(test_config()).await;
    let mut good = LineClient::connect_8007(srv.tcp).await;
    for _batch in 0..50 {
        let conns = connect_many(srv.tcp, 200).await;
        drop(conns);
        // Another client keeps being served throughout.
        assert_eq!(
            good.ask(r#"{"default_action":"add","alive":1}"#).await,
            "--OK"
        );
    }
    // Accepted and closed, all of them: a loaded machine may still hold some in the
    // kernel's accept queue when the open count first reads 1.
    srv.wait("every dropped connection accepted and closed", |s| {
        s.counter("treestat_listen_connections_total", "tcp") == 10_001.0
            && s.counter("treestat_listen_open_connections", "tcp") == 1.0
    })
    .await;
    assert_eq!(srv.engine.leaf_at("alive").unwrap().2.sum, 50.0);
    srv.stop().await;
}

/// Opens `n` connections at once.
async fn connect_many(addr: std::net::SocketAddr, n: usize) -> Vec<TcpStream> {
    let mut set = tokio::task::JoinSet::new();
    for _ in 0..n {
        set.spawn(TcpStream::connect(addr));
    }
    let mut out = Vec::with_capacity(n);
    while let Some(r) = set.join_next().await {
        out.push(r.unwrap().expect("connect"));
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connections_past_the_limit_are_closed_and_counted() {
    let cfg = ListenConfig {
        max_connections: 2,
        // Nobody counts as idle here: the newcomer is refused.
        reclaim_after: Duration::from_secs(3600),
        ..test_config()
    };
    let srv = start(cfg).await;
    let mut a = LineClient::connect_8007(srv.tcp).await;
    let _b = LineClient::connect_8007(srv.tcp).await;
    let mut over = TcpStream::connect(srv.tcp).await.unwrap();
    let mut buf = Vec::new();
    let n = tokio::time::timeout(PATIENCE, over.read_to_end(&mut buf))
        .await
        .unwrap()
        .unwrap_or(0);
    assert_eq!(n, 0, "no hint line past the limit");
    srv.wait("refusal counted", |s| {
        s.rejects("tcp", Reject::TooManyConnections) == 1.0
    })
    .await;
    assert_eq!(a.ask(r#"{"x":1}"#).await, "--OK");
    srv.stop().await;
}

/// Regression: 5,000 idle connections locked good clients out of 8007 for the whole
/// 60 s idle timeout. At the cap, the connection idle longest now makes room.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idle_connections_make_room_for_new_ones_at_the_cap() {
    let cfg = ListenConfig {
        max_connections: 4,
        reclaim_after: Duration::from_millis(100),
        ..test_config()
    };
    let srv = start(cfg).await;
    let mut idle = connect_many(srv.tcp, 4).await;
    srv.wait("four connections open", |s| {
        s.counter("treestat_listen_open_connections", "tcp") == 4.0
    })
    .await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let mut good = Vec::new();
    for i in 0..3 {
        let mut c = LineClient::connect_8007(srv.tcp).await;
        assert_eq!(c.ask(&format!(r#"{{"good{i}":1}}"#)).await, "--OK");
        good.push(c);
    }
    srv.wait("three idle connections reclaimed", |s| {
        s.rejects("tcp", Reject::IdleReclaimed) == 3.0
    })
    .await;
    assert_eq!(srv.rejects("tcp", Reject::TooManyConnections), 0.0);
    let mut closed = 0;
    for s in &mut idle {
        let mut buf = [0u8; 256];
        // The hint line first, then EOF for the reclaimed ones.
        let _ = tokio::time::timeout(Duration::from_millis(200), s.read(&mut buf)).await;
        if let Ok(Ok(0) | Err(_)) =
            tokio::time::timeout(Duration::from_millis(200), s.read(&mut buf)).await
        {
            closed += 1;
        }
    }
    assert!(closed >= 3, "the idle connections were closed: {closed}");
    srv.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn extreme_settings_do_not_panic() {
    let cfg = ListenConfig {
        max_connections: usize::MAX,
        max_line: 0,
        read_buffer: 0,
        max_batch: 0,
        max_datagram: 0,
        ..test_config()
    };
    let srv = start(cfg).await;
    let mut c = LineClient::connect_8007(srv.tcp).await;
    assert_eq!(c.ask(r#"{"a":1}"#).await, "--ERR line too long");
    let u = udp_client().await;
    u.send_to(b"x:1|c", srv.statsd).await.unwrap();
    srv.wait("oversized datagram counted", |s| {
        s.rejects("statsd", Reject::DatagramTooLarge) == 1.0
    })
    .await;
    srv.stop().await;
}
