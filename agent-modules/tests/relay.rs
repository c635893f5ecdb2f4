//! The relay: pushes over TCP, UDP and HTTP merge into one tree per interval that goes
//! upstream; three agents -> relay -> upstream receiver.

use crate::common;

use std::io::{BufRead, BufReader, Write};
use std::net::{TcpStream, UdpSocket};
use std::path::Path;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use common::{Received, TcpReceiver, leaf};
use serde_json::{Value as Json, json};
use treestat_agent::config::RelayConfig;
use treestat_agent::relay::Relay;
use treestat_agent::{AgentConfig, CancellationToken, agent};

fn relay_config(upstream: String, interval: Duration) -> AgentConfig {
    AgentConfig {
        host: Some("relayhost".into()),
        timeout: Duration::from_secs(2),
        relay: RelayConfig {
            listen: vec![
                "tcp://127.0.0.1:0".into(),
                "udp://127.0.0.1:0".into(),
                "http://127.0.0.1:0/push".into(),
            ],
            upstream: vec![upstream],
            interval,
            ..RelayConfig::default()
        },
        ..AgentConfig::default()
    }
}

fn start(relay: Relay) -> (CancellationToken, std::thread::JoinHandle<()>) {
    let shutdown = CancellationToken::new();
    let s = shutdown.clone();
    let h = std::thread::spawn(move || {
        relay.run(&s, Duration::from_secs(5));
    });
    (shutdown, h)
}

fn strip(url: &str) -> &str {
    let rest = url.split_once("://").unwrap().1;
    rest.split('/').next().unwrap()
}

fn tcp_push(addr: &str, docs: &[Json]) -> Vec<String> {
    let conn = TcpStream::connect(addr).unwrap();
    let mut r = BufReader::new(conn.try_clone().unwrap());
    let mut w = conn;
    let mut hint = String::new();
    r.read_line(&mut hint).unwrap();
    assert!(hint.starts_with('#'), "{hint}");
    let mut answers = Vec::new();
    for d in docs {
        writeln!(w, "{d}").unwrap();
        let mut a = String::new();
        r.read_line(&mut a).unwrap();
        answers.push(a.trim_end().to_string());
    }
    answers
}

fn http_post(addr: &str, body: &str) -> String {
    let mut conn = TcpStream::connect(addr).unwrap();
    write!(
        conn,
        "POST /push HTTP/1.1\r\nHost: x\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    )
    .unwrap();
    let mut status = String::new();
    BufReader::new(conn).read_line(&mut status).unwrap();
    status
}

#[test]
fn relay_merges_by_action_and_forwards_one_tree() {
    let upstream = TcpReceiver::start();
    let relay = Relay::bind(&relay_config(upstream.url(), Duration::from_secs(3600))).unwrap();
    let addrs = relay.local_addrs();
    let (tcp, udp, http) = (strip(&addrs[0]), strip(&addrs[1]), strip(&addrs[2]));
    let counters = relay.counters();
    let (shutdown, handle) = start(relay);

    let answers = tcp_push(
        tcp,
        &[
            json!({"default_action": "add", "hits": {"a": 1}}),
            json!({"load": {"h1": {"one": 1.0}}}),
            json!({"bad,key": 1}),
        ],
    );
    assert_eq!(answers[..2], ["--OK", "--OK"]);
    assert!(
        answers[2].starts_with("--ERR") && answers[2].contains("bad,key"),
        "{answers:?}"
    );
    let answers = tcp_push(tcp, &[json!([{"default_action": "add", "hits": {"a": 2}}])]);
    assert_eq!(answers, ["--OK"]);
    let sock = UdpSocket::bind("127.0.0.1:0").unwrap();
    sock.send_to(
        b"{\"load\": {\"h1\": {\"one\": 3.0}}}\n{\"load\": {\"h2\": {\"one\": 5}}}",
        udp,
    )
    .unwrap();
    assert!(http_post(http, "{\"ip\": {\"h2\": {\"eth0\": \"10.1.2.3\"}}}").contains("200"));
    assert!(http_post(http, "not json").contains("400"));

    // UDP has no answer: wait until the relay has merged both datagram documents.
    let deadline = Instant::now() + Duration::from_secs(60);
    while counters.json.load(Ordering::SeqCst) < 6 {
        assert!(Instant::now() < deadline, "the UDP documents never arrived");
        std::thread::sleep(Duration::from_millis(10));
    }
    shutdown.cancel();
    handle.join().unwrap();
    let docs = upstream
        .got
        .wait_for("the forwarded tree", |d| !d.is_empty());
    assert_eq!(docs.len(), 1, "one tree per interval: {docs:?}");
    let doc = &docs[0];
    assert_eq!(leaf(doc, "hits,a"), Some(json!(3.0)), "add: 1 + 2");
    assert_eq!(
        leaf(doc, "load,h1,one"),
        Some(json!(2.0)),
        "average of 1 and 3"
    );
    assert_eq!(leaf(doc, "load,h2,one"), Some(json!(5.0)));
    assert_eq!(
        leaf(doc, "ip,h2,eth0"),
        Some(json!("10.1.2.3")),
        "markers forwarded"
    );
    assert_eq!(
        leaf(doc, "_treestat,relay,relayhost,received"),
        Some(json!(6))
    );
    assert_eq!(
        leaf(doc, "_treestat,relay,relayhost,rejected"),
        Some(json!(2))
    );
    let add_tree = doc
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t.get("hits").is_some())
        .unwrap();
    assert_eq!(add_tree["default_action"], "add");
}

fn agent_config(modules: &Path, host: &str, server: String) -> AgentConfig {
    AgentConfig {
        servers: vec![server],
        host: Some(host.into()),
        interval: Duration::from_millis(100),
        modules: modules.to_path_buf(),
        timeout: Duration::from_secs(2),
        ..AgentConfig::default()
    }
}

#[test]
fn three_agents_through_a_relay() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("load.conf"), "").unwrap();
    std::fs::write(dir.path().join("uptime.conf"), "").unwrap();
    let upstream = TcpReceiver::start_on("127.0.0.1:0", Received::default());
    let relay = Relay::bind(&relay_config(upstream.url(), Duration::from_millis(400))).unwrap();
    let addrs = relay.local_addrs();
    let (rshut, rhandle) = start(relay);

    let mut agents = Vec::new();
    for (host, url) in ["a1", "a2", "a3"].iter().zip(&addrs) {
        let cfg = agent_config(dir.path(), host, url.clone());
        let shutdown = CancellationToken::new();
        let s = shutdown.clone();
        let h = std::thread::spawn(move || {
            agent::run(&cfg, &s).unwrap();
        });
        agents.push((shutdown, h));
    }
    let docs = upstream.got.wait_for("a tree with all three hosts", |d| {
        d.iter().any(|doc| {
            ["a1", "a2", "a3"]
                .iter()
                .all(|h| leaf(doc, &format!("uptime,{h},seconds")).is_some())
        })
    });
    let merged = docs
        .iter()
        .find(|doc| {
            leaf(doc, "uptime,a3,seconds").is_some() && leaf(doc, "uptime,a1,seconds").is_some()
        })
        .unwrap();
    for h in ["a1", "a2", "a3"] {
        assert!(leaf(merged, &format!("load,{h},one")).is_some(), "{merged}");
        assert!(leaf(merged, &format!("_treestat,agent,{h},dropped")).is_some());
    }
    for (s, h) in agents {
        s.cancel();
        h.join().unwrap();
    }
    rshut.cancel();
    rhandle.join().unwrap();
}

#[test]
fn example_python_module_values_reach_an_engine() {
    let dir = tempfile::tempdir().unwrap();
    let example = concat!(env!("CARGO_MANIFEST_DIR"), "/../conf/modules/example.py");
    assert!(Path::new(example).exists(), "missing {example}");
    std::fs::copy(example, dir.path().join("example.py")).unwrap();
    std::fs::write(
        dir.path().join("example.conf"),
        "RandomMax = 500\nConstantValue = 322\n",
    )
    .unwrap();
    let upstream = TcpReceiver::start();
    let relay = Relay::bind(&relay_config(upstream.url(), Duration::from_secs(3600))).unwrap();
    let engine = relay.engine();
    let tcp = relay.local_addrs()[0].clone();
    let (rshut, rhandle) = start(relay);
    let cfg = agent_config(dir.path(), "pyhost", tcp);
    let shutdown = CancellationToken::new();
    let s = shutdown.clone();
    let h = std::thread::spawn(move || {
        agent::run(&cfg, &s).unwrap();
    });
    let deadline = Instant::now() + Duration::from_secs(60);
    let rows = loop {
        let rows = engine.query("example,pyhost").unwrap();
        if rows.len() == 2
            && engine
                .query("_treestat,agent,pyhost,modules")
                .unwrap()
                .len()
                == 1
        {
            break rows;
        }
        assert!(Instant::now() < deadline, "no example values: {rows:?}");
        std::thread::sleep(Duration::from_millis(20));
    };
    assert_eq!(
        rows[0],
        ("example,pyhost,example_constant".to_string(), 322.0)
    );
    assert_eq!(rows[1].0, "example,pyhost,example_random");
    assert!((0.0..500.0).contains(&rows[1].1), "{rows:?}");
    shutdown.cancel();
    h.join().unwrap();
    rshut.cancel();
    rhandle.join().unwrap();
}

/// The leaf at `path` in the tree of `doc` dated `ts` (`None` if no such tree holds it).
fn dated_leaf(doc: &Json, ts: i64, path: &str) -> Option<Json> {
    doc.as_array()?
        .iter()
        .filter(|t| t["timestamp"] == ts)
        .find_map(|t| leaf(t, path))
}

/// Issue 16: the relay's `tcp://` and `udp://` listeners take SimpleStats tuples
/// `["name", ts, value]` wherever they take a JSON document, with the server's parser
/// (`--OK` / `--ERR` over TCP); each tuple goes upstream dated with its own time stamp,
/// so the server files it in the interval it names. (Before, the relay answered a tuple
/// `--ERR ... not a JSON tree` and dropped it over UDP.)
#[test]
fn simplestats_tuples_over_tcp_and_udp_reach_the_upstream_with_their_time_stamps() {
    let upstream = TcpReceiver::start();
    let relay = Relay::bind(&relay_config(upstream.url(), Duration::from_secs(3600))).unwrap();
    let addrs = relay.local_addrs();
    let (tcp, udp) = (strip(&addrs[0]), strip(&addrs[1]));
    let counters = relay.counters();
    let (shutdown, handle) = start(relay);
    // Hours before the relay's open (one-hour) interval: late there, forwarded as raw
    // samples at their own time.
    let now = i64::try_from(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs(),
    )
    .unwrap();
    let (t1, t2, t3) = (now - 3 * 3600, now - 5 * 3600 + 7, now - 4 * 3600);
    let conn = TcpStream::connect(tcp).unwrap();
    let mut r = BufReader::new(conn.try_clone().unwrap());
    let mut w = conn;
    let mut hint = String::new();
    r.read_line(&mut hint).unwrap();
    assert!(hint.contains("[name, timestamp, value]"), "{hint}");
    let mut answers = Vec::new();
    for line in [
        format!(r#"["ss,tcp,hits", {t1}, 2]"#),
        format!(r#"["ss,tcp,hits", "{t1}.5", "3"]"#),
        format!(r#"["web.cpu,idle", {t2}, 1.5]"#),
        format!(r#"{{"default_action": "add", "timestamp": {t1}, "ss": {{"tree": 4}}}}"#),
        format!(r#"["ss,bad", {t1}, "x"]"#),
        r#"["ss,bad", 1, 2, 3]"#.to_string(),
    ] {
        write!(w, "{line}\r\n").unwrap();
        let mut a = String::new();
        r.read_line(&mut a).unwrap();
        answers.push(a.trim_end().to_string());
    }
    assert_eq!(
        answers[..4],
        ["--OK", "--OK", "--OK", "--OK"],
        "{answers:?}"
    );
    assert!(
        answers[4].starts_with("--ERR") && answers[4].contains("not a number"),
        "{answers:?}"
    );
    assert!(answers[5].contains("got 4 items"), "{answers:?}");
    let sock = UdpSocket::bind("127.0.0.1:0").unwrap();
    let datagram = format!(
        "[\"ss,udp,hits\", {t3}, 5]\n[\"ss,udp,hits\", {t3}, 6]\r\n[\"ss,udp,x\", 1, \"bad\"]"
    );
    sock.send_to(datagram.as_bytes(), udp).unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    while counters.tuples.load(Ordering::SeqCst) < 5 {
        assert!(Instant::now() < deadline, "the UDP tuples never arrived");
        std::thread::sleep(Duration::from_millis(10));
    }
    shutdown.cancel();
    handle.join().unwrap();
    let docs = upstream
        .got
        .wait_for("the forwarded tree", |d| !d.is_empty());
    let doc = &docs[0];
    // The engine's default action (add) per tuple, each at its own time stamp
    // (fractional seconds floored, as the server does).
    assert_eq!(dated_leaf(doc, t1, "ss,tcp,hits"), Some(json!([2.0, 3.0])));
    assert_eq!(dated_leaf(doc, t2, "web.cpu,idle"), Some(json!([1.5])));
    assert_eq!(dated_leaf(doc, t3, "ss,udp,hits"), Some(json!([5.0, 6.0])));
    assert_eq!(dated_leaf(doc, t1, "ss,tree"), Some(json!([4.0])));
    assert_eq!(leaf(doc, "ss,bad"), None);
    assert_eq!(leaf(doc, "ss,udp,x"), None);
    // The relay's counters: five tuples, one JSON document, three refused.
    assert_eq!(
        leaf(doc, "_treestat,relay,relayhost,received_simplestats"),
        Some(json!(5))
    );
    assert_eq!(
        leaf(doc, "_treestat,relay,relayhost,received_json"),
        Some(json!(1))
    );
    assert_eq!(
        leaf(doc, "_treestat,relay,relayhost,received"),
        Some(json!(6))
    );
    assert_eq!(
        leaf(doc, "_treestat,relay,relayhost,rejected"),
        Some(json!(3))
    );
    // An engine given the forwarded document files each tuple in its own interval.
    let server = treestat_engine::Engine::new(treestat_engine::EngineConfig {
        interval: Duration::from_secs(10),
        ring: 1,
        ring_bytes: 1 << 20,
        ..treestat_engine::EngineConfig::default()
    })
    .unwrap();
    server.push_json(doc.to_string().as_bytes()).unwrap();
    let closed = server.close_now();
    // (The relay's own counters, dated with its open interval, are left out.)
    let mut late: Vec<(i64, f64)> = closed
        .late
        .iter()
        .filter(|p| p.ts <= t1)
        .map(|p| (p.ts, p.value))
        .collect();
    late.sort_by(|a, b| a.partial_cmp(b).unwrap());
    assert_eq!(
        late,
        [
            (t2, 1.5),
            (t3, 5.0),
            (t3, 6.0),
            (t1, 2.0),
            (t1, 3.0),
            (t1, 4.0)
        ]
    );
}

/// Issue 16: the relay's counters under `_treestat,relay,<host>` count every protocol:
/// StatsD and Graphite lines (served by the engine's own listeners, which count in the
/// relay's telemetry) beside JSON documents, tuples and log lines; `received` is their
/// sum, `rejected` what each refused. (Before, `received` counted JSON documents only:
/// StatsD and Graphite lines were merged and forwarded but never counted.)
#[test]
fn the_relay_counts_statsd_and_graphite_lines() {
    let upstream = TcpReceiver::start();
    let mut cfg = relay_config(upstream.url(), Duration::from_secs(3600));
    cfg.relay.listen = vec![
        "statsd://127.0.0.1:0".into(),
        "graphite://127.0.0.1:0".into(),
    ];
    let relay = Relay::bind(&cfg).unwrap();
    let addrs = relay.local_addrs();
    let (statsd, graphite) = (strip(&addrs[0]), strip(&addrs[1]));
    let counters = relay.counters();
    let (shutdown, handle) = start(relay);
    let sock = UdpSocket::bind("127.0.0.1:0").unwrap();
    sock.send_to(b"st.req:1|c\nst.req:2|c\nst.temp:20|g\nst.bad:x|c", statsd)
        .unwrap();
    let mut g = TcpStream::connect(graphite).unwrap();
    g.write_all(b"gr.a.b 1\ngr.a.c 2\nnot-a-graphite-line\n")
        .unwrap();
    drop(g);
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let s = counters.snapshot();
        if s.statsd == 3 && s.graphite == 2 && s.rejected == 2 {
            break;
        }
        assert!(Instant::now() < deadline, "lines not counted: {s:?}");
        std::thread::sleep(Duration::from_millis(10));
    }
    shutdown.cancel();
    handle.join().unwrap();
    let docs = upstream
        .got
        .wait_for("the forwarded tree", |d| !d.is_empty());
    let doc = &docs[0];
    assert_eq!(leaf(doc, "st,req"), Some(json!(3.0)));
    assert_eq!(leaf(doc, "gr,a,c"), Some(json!(2.0)));
    for (name, want) in [
        ("received", 5),
        ("rejected", 2),
        ("received_statsd", 3),
        ("received_graphite", 2),
        ("received_json", 0),
        ("received_simplestats", 0),
        ("received_log_lines", 0),
    ] {
        assert_eq!(
            leaf(doc, &format!("_treestat,relay,relayhost,{name}")),
            Some(json!(want)),
            "{name}"
        );
    }
}
