//! The agent against the engine's real push listeners (TCP 8007 and UDP 8007 protocols,
//! served by treestat-engine on 127.0.0.1 port 0): values land in the tree, and after
//! an outage every interval arrives exactly once.

use std::net::TcpListener as StdListener;
use std::path::Path;
use std::time::{Duration, Instant};

use tokio_util::sync::CancellationToken;
use treestat_agent::{AgentConfig, agent};
use treestat_engine::listen::{ListenConfig, tcp, udp};
use treestat_engine::telemetry::Telemetry;
use treestat_engine::{Engine, EngineConfig};

const CALLS: &str = "n = 0\ndef count(name):\n    global n\n    n += 1\n    return n\n\
                     def metric_init(params):\n    return [{'name': 'n', 'call_back': count, \
                     'value_type': 'uint', 'slope': 'both', 'action': 'add'}]\n";

fn agent_config(modules: &Path, server: String) -> AgentConfig {
    AgentConfig {
        servers: vec![server],
        host: Some("e2e".into()),
        interval: Duration::from_millis(50),
        modules: modules.to_path_buf(),
        timeout: Duration::from_secs(2),
        ..AgentConfig::default()
    }
}

fn wait_until(what: &str, mut f: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(60);
    while !f() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn every_interval_reaches_the_engine_once_after_an_outage() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("calls.py"), CALLS).unwrap();
    std::fs::write(dir.path().join("uptime.conf"), "").unwrap();
    // A port with no server yet.
    let port = StdListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let addr = format!("127.0.0.1:{port}");

    let shutdown = CancellationToken::new();
    let s = shutdown.clone();
    let cfg = agent_config(dir.path(), format!("tcp://{addr}"));
    let agent = std::thread::spawn(move || agent::run(&cfg, &s).unwrap());
    std::thread::sleep(Duration::from_millis(500));

    // The server comes up on that port.
    let rt = tokio::runtime::Runtime::new().unwrap();
    let engine = Engine::new(EngineConfig::default()).unwrap();
    let token = CancellationToken::new();
    let listener = rt.block_on(tokio::net::TcpListener::bind(&addr)).unwrap();
    let (e, t) = (engine.clone(), token.clone());
    let server = rt.spawn(async move {
        tcp::serve(
            listener,
            e,
            &ListenConfig::default(),
            &Telemetry::default(),
            t,
        )
        .await
    });

    wait_until("20 intervals", || {
        engine
            .leaf_at("calls,e2e,n")
            .is_some_and(|(_, _, stats)| stats.count >= 20)
    });
    shutdown.cancel();
    let stats = agent.join().unwrap();
    assert_eq!(stats[0].pending, 0, "{stats:?}");
    assert_eq!(stats[0].rejected, 0, "{stats:?}");
    let (_, action, total) = engine.leaf_at("calls,e2e,n").unwrap();
    let k = total.count;
    #[allow(clippy::cast_precision_loss, reason = "a small count")]
    let kf = k as f64;
    // Interval i pushed i: all of 1..=k arrived once each.
    assert_eq!(total.max, kf);
    assert_eq!(total.sum, kf * (kf + 1.0) / 2.0, "{k} intervals, each once");
    assert_eq!(action.as_str(), "add", "the descriptor's action");
    assert!(engine.leaf_at("uptime,e2e,seconds").is_some());
    assert!(engine.leaf_at("_treestat,agent,e2e,dropped").is_some());
    token.cancel();
    rt.block_on(server).unwrap().unwrap();
}

#[test]
fn udp_pushes_land_in_the_engine() {
    let dir = tempfile::tempdir().unwrap();
    let example = concat!(env!("CARGO_MANIFEST_DIR"), "/../conf/modules/example.py");
    assert!(Path::new(example).exists(), "missing {example}");
    std::fs::copy(example, dir.path().join("example.py")).unwrap();
    std::fs::write(
        dir.path().join("example.conf"),
        "RandomMax = 500\nConstantValue = 322\n",
    )
    .unwrap();
    std::fs::write(dir.path().join("network.conf"), "").unwrap();
    let rt = tokio::runtime::Runtime::new().unwrap();
    let engine = Engine::new(EngineConfig::default()).unwrap();
    let token = CancellationToken::new();
    let sock = rt
        .block_on(tokio::net::UdpSocket::bind("127.0.0.1:0"))
        .unwrap();
    let addr = sock.local_addr().unwrap();
    let (e, t) = (engine.clone(), token.clone());
    let server = rt.spawn(async move {
        udp::serve(sock, e, &ListenConfig::default(), &Telemetry::default(), t).await
    });
    let shutdown = CancellationToken::new();
    let s = shutdown.clone();
    let cfg = agent_config(dir.path(), format!("udp://{addr}"));
    let agent = std::thread::spawn(move || agent::run(&cfg, &s).unwrap());
    wait_until("example values and a network rate", || {
        engine.query("example,e2e").is_ok_and(|r| r.len() == 2)
            && engine
                .query("network,e2e,lo,rx_bytes")
                .is_ok_and(|r| r.len() == 1)
    });
    shutdown.cancel();
    agent.join().unwrap();
    let rows = engine.query("example,e2e").unwrap();
    assert_eq!(rows[0], ("example,e2e,example_constant".to_string(), 322.0));
    assert!((0.0..500.0).contains(&rows[1].1), "{rows:?}");
    token.cancel();
    rt.block_on(server).unwrap().unwrap();
}

#[test]
fn run_local_merges_into_an_engine_without_sockets() {
    let dir = tempfile::tempdir().unwrap();
    for m in ["cpu", "memory", "load", "uptime"] {
        std::fs::write(dir.path().join(format!("{m}.conf")), "").unwrap();
    }
    let engine = Engine::new(EngineConfig::default()).unwrap();
    let mut cfg = agent_config(dir.path(), String::new());
    cfg.servers.clear();
    let shutdown = CancellationToken::new();
    let (s, e) = (shutdown.clone(), engine.clone());
    let h = std::thread::spawn(move || agent::run_local(&cfg, &e, &s).unwrap());
    wait_until("host values", || {
        engine.query("cpu,e2e,idle").is_ok_and(|r| r.len() == 1)
            && engine.query("memory,e2e,total").is_ok_and(|r| r.len() == 1)
    });
    shutdown.cancel();
    assert!(h.join().unwrap().is_empty(), "no servers");
    let total = engine.query("memory,e2e,total").unwrap()[0].1;
    assert!(total > 0.0);
}
