//! The whole agent: a module folder with Python, native and built-in modules, pushing
//! to TCP and HTTP receivers; failing modules reported in the agent's own subtree;
//! every interval delivered once after a server outage.

use crate::common;

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use common::{HttpReceiver, Received, TcpReceiver, leaf};
use serde_json::Value as Json;
use treestat_agent::{AgentConfig, CancellationToken, agent};

const CRATE: &str = env!("CARGO_MANIFEST_DIR");

fn conf_modules() -> PathBuf {
    let p = PathBuf::from(format!("{CRATE}/../conf/modules"));
    assert!(p.exists(), "missing {}", p.display());
    p
}

fn write(dir: &Path, name: &str, text: &str) {
    std::fs::write(dir.join(name), text).unwrap();
}

fn config(modules: &Path, servers: Vec<String>, interval_ms: u64) -> AgentConfig {
    AgentConfig {
        servers,
        host: Some("testhost".into()),
        interval: Duration::from_millis(interval_ms),
        modules: modules.to_path_buf(),
        timeout: Duration::from_secs(2),
        ..AgentConfig::default()
    }
}

fn run_agent(config: AgentConfig) -> (CancellationToken, std::thread::JoinHandle<()>) {
    let shutdown = CancellationToken::new();
    let s = shutdown.clone();
    let handle = std::thread::spawn(move || {
        agent::run(&config, &s).expect("agent runs");
    });
    (shutdown, handle)
}

#[test]
fn agent_pushes_modules_and_reports_failures() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    std::fs::copy(conf_modules().join("example.py"), d.join("example.py")).unwrap();
    write(d, "example.conf", "RandomMax = 500\nConstantValue = 322\n");
    write(
        d,
        "raises.py",
        "def metric_init(params):\n    raise RuntimeError('boom')\n",
    );
    write(d, "load.conf", "");
    write(d, "memory.conf", "interval = 1h\n");
    write(d, "cpu.conf", "");
    write(d, "cpu.off", "");
    let so = d.join("example_c.so");
    let status = Command::new("cc")
        .args(["-shared", "-fPIC", "-I"])
        .arg(format!("{CRATE}/include"))
        .arg("-o")
        .arg(&so)
        .arg(format!("{CRATE}/native/example_module.c"))
        .status()
        .expect("running cc");
    assert!(status.success());
    write(d, "example_c.conf", "ConstantValue = 7\n");

    let tcp = TcpReceiver::start();
    let http = HttpReceiver::start();
    let (shutdown, handle) = run_agent(config(d, vec![tcp.url(), http.url()], 100));
    for got in [&tcp.got, &http.got] {
        let docs = got.wait_for("three pushes", |d| d.len() >= 3);
        for doc in &docs {
            assert_eq!(
                leaf(doc, "example,testhost,example_constant"),
                Some(Json::from(322.0))
            );
            let r = leaf(doc, "example,testhost,example_random").and_then(|v| v.as_f64());
            assert!(r.is_some_and(|r| (0.0..500.0).contains(&r)), "{doc}");
            assert_eq!(
                leaf(doc, "example_c,testhost,c_constant"),
                Some(Json::from(7.0))
            );
            assert!(leaf(doc, "load,testhost,one").is_some());
            assert!(leaf(doc, "cpu,testhost").is_none(), "cpu.off: not loaded");
        }
        // memory runs every hour: only in the first push.
        assert!(leaf(&docs[0], "memory,testhost,total").is_some());
        assert!(leaf(&docs[1], "memory,testhost,total").is_none());
        // The failing module: reported once, with its traceback, as a marker.
        let err = leaf(&docs[0], "_treestat,agent,testhost,errors,raises").unwrap();
        assert!(
            err.as_str().unwrap().contains("RuntimeError: boom"),
            "{err}"
        );
        assert!(leaf(&docs[2], "_treestat,agent,testhost,errors,raises").is_none());
        assert_eq!(
            leaf(&docs[0], "_treestat,agent,testhost,modules"),
            Some(Json::from(4))
        );
        let counter = leaf(&docs[2], "example_c,testhost,c_counter").and_then(|v| v.as_f64());
        assert!(
            counter.is_some_and(|c| c > 0.0),
            "a counter becomes a rate: {counter:?}"
        );
    }
    shutdown.cancel();
    handle.join().unwrap();
}

#[test]
fn every_interval_arrives_once_after_an_outage() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    // A gauge that counts its own calls: interval n pushes n.
    write(
        d,
        "calls.py",
        "n = 0\ndef count(name):\n    global n\n    n += 1\n    return n\n\
         def metric_init(params):\n    return [{'name': 'n', 'call_back': count, \
         'value_type': 'uint', 'slope': 'both'}]\n",
    );
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let addr = format!("127.0.0.1:{port}");
    let mut cfg = config(d, vec![format!("tcp://{addr}")], 50);
    cfg.buffer.count = 1000;
    let (shutdown, handle) = run_agent(cfg);
    // The server is down for a while: pushes wait in the buffer.
    std::thread::sleep(Duration::from_millis(600));
    let rx = TcpReceiver::start_on(&addr, Received::default());
    rx.got.wait_for("20 intervals", |d| d.len() >= 20);
    shutdown.cancel();
    handle.join().unwrap();
    let docs = rx.got.docs();
    let values: Vec<i64> = docs
        .iter()
        .filter_map(|doc| leaf(doc, "calls,testhost,n").and_then(|v| v.as_f64()))
        .map(|v| format!("{v}").parse::<i64>().expect("a whole number"))
        .collect();
    let expected: Vec<i64> = (1..=i64::try_from(values.len()).unwrap()).collect();
    assert_eq!(values, expected, "every interval once, in order");
    assert!(docs.len() >= 20);
    assert_eq!(
        leaf(docs.last().unwrap(), "_treestat,agent,testhost,dropped"),
        Some(Json::from(0))
    );
}

#[test]
fn a_too_small_buffer_reports_its_drops() {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "uptime.conf", "");
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let addr = format!("127.0.0.1:{port}");
    let mut cfg = config(dir.path(), vec![format!("tcp://{addr}")], 50);
    cfg.buffer.count = 2;
    let (shutdown, handle) = run_agent(cfg);
    std::thread::sleep(Duration::from_millis(500));
    let rx = TcpReceiver::start_on(&addr, Received::default());
    let docs = rx.got.wait_for("a push that reports drops", |d| {
        d.iter().any(|doc| {
            leaf(doc, "_treestat,agent,testhost,dropped")
                .and_then(|v| v.as_u64())
                .is_some_and(|n| n > 0)
        })
    });
    shutdown.cancel();
    handle.join().unwrap();
    let last = docs.last().unwrap();
    assert!(leaf(last, "uptime,testhost,seconds").is_some());
}

#[test]
fn on_and_off_files_switch_modules_while_running() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    write(d, "uptime.conf", "");
    write(d, "load.conf", "");
    write(d, "load.off", "");
    write(
        d,
        "bye.py",
        &format!(
            "def metric_init(p):\n    return {{'name': 'x', 'call_back': lambda n: 1}}\n\
             def metric_cleanup():\n    open({:?}, 'w').write('bye')\n",
            d.join("bye.log").display().to_string()
        ),
    );
    let rx = TcpReceiver::start();
    let mut a = agent::Agent::new(&config(d, vec![rx.url()], 1000)).unwrap();
    assert_eq!(a.module_names(), ["bye", "uptime"]);
    let table = treestat_agent::folder::modules_table(d).unwrap();
    assert!(
        table.contains("load             off   -      built-in"),
        "{table}"
    );

    treestat_agent::folder::enable(d, "load").unwrap();
    treestat_agent::folder::disable(d, "bye").unwrap();
    a.rescan(std::time::Instant::now());
    assert_eq!(a.module_names(), ["uptime", "load"]);
    assert_eq!(
        std::fs::read_to_string(d.join("bye.log")).unwrap(),
        "bye",
        "cleaned up"
    );
    let doc = a.tick(std::time::Instant::now()).unwrap();
    assert!(leaf(&doc, "load,testhost,one").is_some(), "{doc}");
}

/// A collection is dated by when it was due, however long its modules take: a module
/// that needs 1.5 s must not push its collection into the next second (two collections
/// in one second were counted twice there, under load).
#[test]
fn a_slow_collection_is_dated_when_it_was_due() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    write(
        d,
        "slow.py",
        "import time\n\
         def handler(name):\n    time.sleep(1.5)\n    return 1\n\
         def metric_init(p):\n    return [{'name': 'x', 'call_back': handler}]\n",
    );
    let mut a = agent::Agent::new(&config(d, Vec::new(), 1000)).unwrap();
    let due = a.next_due().unwrap();
    let now = std::time::Instant::now().max(due);
    let due_wall = treestat_agent::tree::unix_secs_at(due);
    let doc = a.tick(now).unwrap();
    let ts = doc[0]["timestamp"].as_i64().unwrap();
    // The old code read the wall clock after the 1.5 s collection: `due_wall + 1` or more.
    assert!(ts <= due_wall, "dated {ts}, due at {due_wall}: {doc}");
    assert!(ts >= due_wall - 1, "dated {ts}, due at {due_wall}: {doc}");
}
