//! Each push protocol end to end against real sockets on 127.0.0.1 port 0 and a real
//! engine: the value sent lands at the right path with the right action (issue 3,
//! acceptance 1 and 2).

use crate::listen_common;

use listen_common::{LineClient, start, test_config, udp_client};
use treestat_engine::Action;
use treestat_engine::listen::Reject;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn simplestats_acceptance() {
    let srv = start(test_config()).await;
    let mut c = LineClient::connect_8007(srv.tcp).await;
    // Telnet sends \r\n; the answer mirrors it.
    c.send(b"[\"var1\", 1322721979, 8]\r\n").await;
    let mut raw = Vec::new();
    tokio::io::AsyncBufReadExt::read_until(&mut c.reader, b'\n', &mut raw)
        .await
        .unwrap();
    assert_eq!(raw, b"--OK\r\n");
    let (_, action, total) = srv.engine.leaf_at("var1").expect("var1 in the tree");
    assert_eq!(action, Action::Average);
    assert_eq!((total.sum, total.count), (8.0, 1));
    // The point belongs to the interval that holds its time stamp: a late point.
    let closed = srv.engine.close_now();
    let late: Vec<_> = closed.late.iter().map(|p| (p.ts, p.value)).collect();
    assert_eq!(late, [(1_322_721_979, 8.0)]);
    assert!(
        closed.points.is_empty(),
        "an old time stamp is not a point of the open interval"
    );

    for bad in ["invalid data", "[1,2,3]", r#"["v",1]"#, r#"["v",1,"x"]"#] {
        let reply = c.ask(bad).await;
        assert!(reply.starts_with("--ERR "), "{bad} -> {reply}");
    }
    // The connection stays open for the next good line.
    assert_eq!(c.ask(r#"["var1", 1322721990, 2]"#).await, "--OK");
    assert_eq!(c.ask(r#"{"a":1}"#).await, "--OK");
    let (_, _, total) = srv.engine.leaf_at("var1").unwrap();
    assert_eq!((total.sum, total.count), (10.0, 2));
    assert_eq!(srv.engine.leaf_at("a").unwrap().2.sum, 1.0);
    assert_eq!(srv.counter("treestat_listen_lines_total", "tcp"), 7.0);
    assert_eq!(srv.rejects("tcp", Reject::BadDocument), 3.0);
    assert_eq!(srv.rejects("tcp", Reject::BadValue), 1.0);
    srv.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tcp_json_trees_keep_their_actions() {
    let srv = start(test_config()).await;
    let mut c = LineClient::connect_8007(srv.tcp).await;
    assert_eq!(c.ask(r#"{"br":{"ie":{"7":30}}}"#).await, "--OK");
    assert_eq!(c.ask(r#"{"br":{"ie":{"7":50}}}"#).await, "--OK");
    assert_eq!(
        c.ask(
            r#"[{"default_action":"add","hits":{"a":1}},{"default_action":"max","peak":{"a":4}}]"#
        )
        .await,
        "--OK"
    );
    assert_eq!(
        c.ask(r#"{"default_action":"add","hits":{"a":2}}"#).await,
        "--OK"
    );
    let (_, a, s) = srv.engine.leaf_at("br,ie,7").unwrap();
    assert_eq!((a, s.sum / 2.0), (Action::Average, 40.0));
    let rows = srv.engine.query("hits").unwrap();
    assert_eq!(rows, [("hits,a".to_string(), 3.0)]);
    assert_eq!(srv.engine.leaf_at("hits,a").unwrap().1, Action::Add);
    assert_eq!(srv.engine.leaf_at("peak,a").unwrap().1, Action::Max);
    srv.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn udp_json_datagrams() {
    let srv = start(test_config()).await;
    let u = udp_client().await;
    u.send_to(br#"{"default_action":"add","u":{"x":5}}"#, srv.udp)
        .await
        .unwrap();
    // Several documents in one datagram, one per line, a tuple among them.
    u.send_to(
        b"{\"default_action\":\"add\",\"u\":{\"x\":1}}\r\n[\"u,t\", 1322721979, 3]\n{\"u\":{\"y\":2}}\n",
        srv.udp,
    )
    .await
    .unwrap();
    let (a, s) = srv.wait_leaf("u,x", |_, s| s.count == 2).await;
    assert_eq!((a, s.sum), (Action::Add, 6.0));
    srv.wait_leaf("u,y", |_, s| s.sum == 2.0).await;
    srv.wait_leaf("u,t", |_, s| s.sum == 3.0).await;
    assert_eq!(srv.counter("treestat_listen_datagrams_total", "udp"), 2.0);
    assert_eq!(srv.counter("treestat_listen_lines_total", "udp"), 4.0);
    srv.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn statsd_types() {
    let srv = start(test_config()).await;
    let u = udp_client().await;
    let lines = "s.c:2|c\ns.c:3|c|@0.5\ns.g:10|g\ns.g:-3|g\ns.t:10|ms\ns.t:20|ms|@0.1\n\
                 s.h:4|h|#env:prod\ns.u:a|s\ns.u:b|s\ns.u:a|s\nnot:statsd|zz\ns.m:1|c:2|c\n";
    u.send_to(lines.as_bytes(), srv.statsd).await.unwrap();
    let (a, s) = srv.wait_leaf("s,c", |_, _| true).await;
    assert_eq!((a, s.sum), (Action::Add, 8.0));
    let (a, s) = srv.engine.leaf_at("s,g").map(|(_, a, s)| (a, s)).unwrap();
    assert_eq!((a, s.last), (Action::Last, 7.0));
    let (_, a, s) = srv.engine.leaf_at("s,t").unwrap();
    // Timers and histograms are histogram leaves (issue 15): their value is the mean.
    assert_eq!((a, s.sum / s.count as f64), (Action::Histogram, 15.0));
    assert_eq!(srv.engine.leaf_at("s,h").unwrap().1, Action::Histogram);
    let (_, a, s) = srv.engine.leaf_at("s,u").unwrap();
    assert_eq!((a, s.last), (Action::Last, 2.0));
    assert_eq!(srv.engine.leaf_at("s,m").unwrap().2.sum, 3.0);
    assert_eq!(srv.rejects("statsd", Reject::BadLine), 1.0);
    // A delta in a later datagram starts from the gauge's value in the tree.
    u.send_to(b"s.g:+5|g", srv.statsd).await.unwrap();
    srv.wait_leaf("s,g", |_, s| s.last == 12.0).await;
    assert_eq!(srv.counter("treestat_listen_lines_total", "statsd"), 13.0);
    srv.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn graphite_lines() {
    let srv = start(test_config()).await;
    let mut c = LineClient::connect(srv.graphite).await;
    c.send(b"servers.web01.cpu 12.5 1322721979\r\nservers.web01.load 3\nservers.web01.load 5 -1\n")
        .await;
    // The last line has no line ending: it counts at end of stream.
    c.send(b"servers.web02.load 7").await;
    drop(c);
    srv.wait_leaf("servers,web02,load", |_, _| true).await;
    let (_, a, s) = srv.engine.leaf_at("servers,web01,load").unwrap();
    assert_eq!((a, s.sum / s.count as f64), (Action::Average, 4.0));
    let (_, _, s) = srv.engine.leaf_at("servers,web01,cpu").unwrap();
    assert_eq!(s.sum, 12.5);
    let closed = srv.engine.close_now();
    assert!(
        closed
            .late
            .iter()
            .any(|p| p.ts == 1_322_721_979 && p.value == 12.5)
    );
    assert_eq!(srv.counter("treestat_listen_lines_total", "graphite"), 4.0);
    srv.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn telemetry_reaches_the_tree() {
    let srv = start(test_config()).await;
    let mut c = LineClient::connect_8007(srv.tcp).await;
    assert_eq!(c.ask(r#"{"a":1}"#).await, "--OK");
    assert!(c.ask("nope").await.starts_with("--ERR"));
    srv.engine.apply(&srv.telemetry.to_batch()).unwrap();
    let (_, a, s) = srv.engine.leaf_at("_treestat,listen,tcp,lines").unwrap();
    assert_eq!((a, s.last), (Action::Last, 2.0));
    let (_, _, s) = srv
        .engine
        .leaf_at("_treestat,listen,tcp,rejects,bad_document")
        .unwrap();
    assert_eq!(s.last, 1.0);
    let mut text = String::new();
    srv.telemetry.render_prometheus(&mut text);
    assert!(
        text.contains("treestat_listen_rejects_total{listener=\"tcp\",reason=\"bad_document\"} 1")
    );
    srv.stop().await;
}
