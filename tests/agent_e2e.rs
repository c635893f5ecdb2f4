//! The agent against a real `treestat serve` started in process (issue 7): the Ganglia
//! example module pushed over HTTP, TCP and UDP and read back through `/get`; a 30 s
//! server outage whose pushes all arrive from the agent's buffer, once each, in the
//! intervals they were measured in; a buffer too small, whose drop count accounts for
//! exactly what is missing; three agents through `treestat relay` into the server.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use treestat::config::Config;
use treestat::server::Server;
use treestat_agent::agent::Agent;
use treestat_agent::config::BufferConfig;
use treestat_agent::{AgentConfig, CancellationToken};

use crate::common;

use common::{RunningRelay, base, get_json, get_values, quiet_config, stop, wait_for};

/// A module of this test: a constant 1 per collection, summed by the server (`add`).
const TICK_PY: &str = r#"
def one(name):
    return 1

def metric_init(params):
    return [{"name": "one", "call_back": one, "value_type": "uint", "slope": "both",
             "groups": "e2e", "action": "add"}]
"#;

fn server_config(data: &Path, http: SocketAddr) -> Config {
    let mut c = quiet_config(data);
    c.server.http = Some(http);
    c.listen.tcp = "127.0.0.1:0".into();
    c.listen.udp = "127.0.0.1:0".into();
    c
}

fn any_port() -> SocketAddr {
    "127.0.0.1:0".parse().unwrap()
}

fn start(rt: &tokio::runtime::Runtime, config: Config) -> Server {
    rt.block_on(Server::start(config)).expect("server starts")
}

/// A module folder holding `files` (`(name, contents)`).
fn module_folder(files: &[(&str, &str)]) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    for (name, text) in files {
        std::fs::write(dir.path().join(name), text).unwrap();
    }
    dir
}

fn agent_config(modules: &Path, host: &str, server: String) -> AgentConfig {
    AgentConfig {
        servers: vec![server],
        host: Some(host.into()),
        interval: Duration::from_secs(1),
        modules: modules.to_path_buf(),
        timeout: Duration::from_secs(2),
        ..AgentConfig::default()
    }
}

/// An agent on its own thread; records the `timestamp` of every push it makes.
struct RunningAgent {
    shutdown: CancellationToken,
    thread: std::thread::JoinHandle<Vec<treestat_agent::transport::ServerStats>>,
    stamps: Arc<Mutex<Vec<i64>>>,
}

impl RunningAgent {
    fn start(config: &AgentConfig) -> RunningAgent {
        let agent = Agent::new(config).expect("agent starts");
        assert!(agent.load_errors().is_empty(), "{:?}", agent.load_errors());
        let shutdown = CancellationToken::new();
        let stamps = Arc::new(Mutex::new(Vec::new()));
        let (s, st) = (shutdown.clone(), Arc::clone(&stamps));
        let thread = std::thread::spawn(move || {
            agent.run_with(&s, Duration::from_secs(10), |doc| {
                let ts = doc[0]["timestamp"].as_i64().expect("a dated push");
                st.lock().unwrap().push(ts);
            })
        });
        RunningAgent {
            shutdown,
            thread,
            stamps,
        }
    }

    fn collections(&self) -> usize {
        self.stamps.lock().unwrap().len()
    }

    /// Stops the agent (its senders get 10 s to deliver); the push time stamps.
    fn stop(self) -> (Vec<i64>, Vec<treestat_agent::transport::ServerStats>) {
        self.shutdown.cancel();
        let stats = self.thread.join().expect("agent thread");
        let stamps = self.stamps.lock().unwrap().clone();
        (stamps, stats)
    }
}

/// Issue 7, acceptance 1: the example module with `RandomMax = 500` and
/// `ConstantValue = 322`, once per transport (its own host name each).
#[test]
fn example_module_values_reach_the_server_over_http_tcp_and_udp() {
    let example = concat!(env!("CARGO_MANIFEST_DIR"), "/conf/modules/example.py");
    let code = std::fs::read_to_string(example)
        .unwrap_or_else(|e| panic!("the example module {example} is missing: {e}"));
    let modules = module_folder(&[
        ("example.py", &code),
        ("example.conf", "RandomMax = 500\nConstantValue = \"322\"\n"),
    ]);
    let rt = tokio::runtime::Runtime::new().unwrap();
    let data = tempfile::tempdir().unwrap();
    let server = start(&rt, server_config(data.path(), any_port()));
    let b = server.bound;
    let url = base(&server);
    for (host, target) in [
        ("viahttp", format!("http://{}", b.http.unwrap())),
        ("viatcp", format!("tcp://{}", b.tcp.unwrap())),
        ("viaudp", format!("udp://{}", b.udp.unwrap())),
    ] {
        let agent = RunningAgent::start(&agent_config(modules.path(), host, target));
        let values = wait_for(&format!("example values from {host}"), || {
            let v = get_values(&url, &format!("example,{host}"));
            (v.len() == 2).then_some(v)
        });
        let (_, stats) = agent.stop();
        assert_eq!(
            values[&format!("example,{host},example_constant")],
            322.0,
            "{values:?}"
        );
        let random = values[&format!("example,{host},example_random")];
        assert!((0.0..500.0).contains(&random), "{host}: {random}");
        assert!(
            stats.iter().all(|s| s.dropped == 0 && s.rejected == 0),
            "{stats:?}"
        );
    }
    stop(&rt, server);
}

/// Waits until the server's total of `e2e,<host>,one` is `want` and its trend has a
/// point for each of `stamps`; returns the trend's points.
fn settled_trend(base: &str, host: &str, want: f64, stamps: &[i64]) -> BTreeMap<i64, f64> {
    let path = format!("e2e,{host},one");
    wait_for(&format!("{path} total {want}"), || {
        let got = get_values(base, &path).get(&path).copied();
        (got == Some(want)).then_some(())
    });
    let from = stamps.iter().min().copied().unwrap_or(0) - 5;
    let until = stamps.iter().max().copied().unwrap_or(0) + 5;
    wait_for(&format!("{path} trend points"), || {
        let series = get_json(&format!(
            "{base}/trend/{path}.json?from={from}&until={until}&points=0"
        ));
        let points: BTreeMap<i64, f64> = series[0]["points"]
            .as_array()?
            .iter()
            .filter_map(|p| Some((p[0].as_i64()?, p[1].as_f64()?)))
            .collect();
        (points.len() >= stamps.len()).then_some(points)
    })
}

/// Issue 7, acceptance 4: the server stops for 30 s while the agent collects every
/// second; after it comes back on the same port and data directory every collection
/// is counted once, each in the second it was measured in. Then with a buffer of 5
/// pushes: the agent's drop count is exactly what the server's total is short.
#[test]
fn a_server_outage_loses_nothing_and_a_small_buffer_counts_what_it_drops() {
    let modules = module_folder(&[("tick.py", TICK_PY), ("tick.conf", "")]);
    let rt = tokio::runtime::Runtime::new().unwrap();
    let data = tempfile::tempdir().unwrap();

    // Part 1: 30 s outage, the default buffer (360 pushes).
    let server = start(&rt, server_config(data.path(), any_port()));
    let addr = server.bound.http.unwrap();
    let config = agent_config(modules.path(), "outage", format!("http://{addr}"));
    let agent = RunningAgent::start(&config);
    wait_for("the first pushes", || {
        (agent.collections() >= 3).then_some(())
    });
    stop(&rt, server);
    let down_at = agent.collections();
    std::thread::sleep(Duration::from_secs(30));
    let server = start(&rt, server_config(data.path(), addr));
    let url = base(&server);
    assert!(
        agent.collections() > down_at,
        "the agent went on collecting during the outage"
    );
    wait_for("the agent's buffer to drain", || {
        let pending = get_values(&url, "_treestat,agent,outage,pending");
        let sent = agent.collections() > down_at + 32;
        (sent && pending.values().all(|p| *p == 0.0)).then_some(())
    });
    let (stamps, stats) = agent.stop();
    assert!(
        stats.iter().all(|s| s.dropped == 0 && s.pending == 0),
        "{stats:?}"
    );
    let n = stamps.len();
    let mut distinct = stamps.clone();
    distinct.dedup();
    assert_eq!(distinct.len(), n, "one collection per second: {stamps:?}");
    let points = settled_trend(&url, "outage", n as f64, &stamps);
    for ts in &stamps {
        assert_eq!(points.get(ts), Some(&1.0), "second {ts}: {points:?}");
    }
    assert_eq!(points.values().sum::<f64>(), n as f64, "{points:?}");
    let dropped = get_values(&url, "_treestat,agent,outage,dropped");
    assert_eq!(dropped.values().copied().collect::<Vec<_>>(), [0.0]);

    // Part 2: a buffer of 5 pushes and a 10 s outage: the oldest are dropped.
    let small = AgentConfig {
        host: Some("small".into()),
        buffer: BufferConfig {
            count: 5,
            ..BufferConfig::default()
        },
        ..config
    };
    let agent = RunningAgent::start(&small);
    wait_for("the first pushes", || {
        let v = get_values(&url, "e2e,small,one");
        (!v.is_empty()).then_some(())
    });
    stop(&rt, server);
    std::thread::sleep(Duration::from_secs(10));
    let server = start(&rt, server_config(data.path(), addr));
    let url = base(&server);
    // Wait for a push made after the server returned: it carries the final drop count.
    let resumed = agent.collections();
    wait_for("pushes after the restart", || {
        let pending = get_values(&url, "_treestat,agent,small,pending");
        (agent.collections() > resumed + 3 && pending.values().all(|p| *p == 0.0)).then_some(())
    });
    let (stamps, stats) = agent.stop();
    let lost: u64 = stats.iter().map(|s| s.dropped).sum();
    assert!(lost > 0, "a 10 s outage overflows 5 pushes: {stats:?}");
    let reported = wait_for("the reported drop count", || {
        let v = get_values(&url, "_treestat,agent,small,dropped");
        v.values().next().copied().filter(|d| *d == lost as f64)
    });
    let want = stamps.len() as f64 - reported;
    wait_for("the total short by the drops", || {
        let got = get_values(&url, "e2e,small,one");
        (got.get("e2e,small,one") == Some(&want)).then_some(())
    });
    stop(&rt, server);
}

/// Issue 7, acceptance 5: three agents -> relay -> the real server. The server sees
/// each interval's merged tree: every host's collections, and in each second all three
/// agents measured, the three of them.
#[test]
fn three_agents_through_a_relay_reach_the_server_merged() {
    let modules = module_folder(&[("tick.py", TICK_PY), ("tick.conf", "")]);
    let rt = tokio::runtime::Runtime::new().unwrap();
    let data = tempfile::tempdir().unwrap();
    let server = start(&rt, server_config(data.path(), any_port()));
    let url = base(&server);
    let relay = RunningRelay::start("relay1", url.clone());
    let hosts = ["a1", "a2", "a3"];
    let agents: Vec<RunningAgent> = hosts
        .iter()
        .map(|h| RunningAgent::start(&agent_config(modules.path(), h, relay.addr.clone())))
        .collect();
    wait_for("five collections each", || {
        agents.iter().all(|a| a.collections() >= 5).then_some(())
    });
    let stamps: Vec<Vec<i64>> = agents.into_iter().map(|a| a.stop().0).collect();
    let upstream = relay.stop();
    assert!(
        upstream.iter().all(|s| s.dropped == 0 && s.pending == 0),
        "{upstream:?}"
    );
    for (host, st) in hosts.iter().zip(&stamps) {
        settled_trend(&url, host, st.len() as f64, st);
    }
    let received = get_values(&url, "_treestat,relay,relay1,received");
    assert!(
        received.values().all(|r| *r >= 15.0),
        "the relay merged every push: {received:?}"
    );
    // Seconds in which all three agents collected: the server's interval holds three.
    let common: Vec<i64> = stamps[0]
        .iter()
        .filter(|t| stamps[1..].iter().all(|s| s.contains(t)))
        .copied()
        .collect();
    assert!(!common.is_empty(), "{stamps:?}");
    let (from, until) = (common[0], common[common.len() - 1] + 1);
    let series = get_json(&format!(
        "{url}/trend/e2e,*|sum,one.json?from={from}&until={until}&points=0"
    ));
    assert_eq!(
        series.as_array().map(Vec::len),
        Some(1),
        "one merged series: {series}"
    );
    let points: BTreeMap<i64, f64> = series[0]["points"]
        .as_array()
        .expect("a merged series")
        .iter()
        .filter_map(|p| Some((p[0].as_i64()?, p[1].as_f64()?)))
        .collect();
    for t in &common {
        assert_eq!(
            points.get(t),
            Some(&3.0),
            "second {t}: {points:?} ({series})"
        );
    }
    let tree = get_json(&format!("{url}/get/e2e"));
    assert_eq!(tree.as_array().map(Vec::len), Some(3), "{tree}");
    stop(&rt, server);
}

/// A server with `auth.token` set: an agent with the token pushes over HTTP; one
/// without it is refused (401), counted as rejected, not retried forever.
#[test]
fn http_pushes_carry_the_servers_token() {
    let example = concat!(env!("CARGO_MANIFEST_DIR"), "/conf/modules/example.py");
    let code = std::fs::read_to_string(example).unwrap();
    let modules = module_folder(&[
        ("example.py", &code),
        ("example.conf", "RandomMax = 500\nConstantValue = \"322\"\n"),
    ]);
    let rt = tokio::runtime::Runtime::new().unwrap();
    let data = tempfile::tempdir().unwrap();
    let mut config = server_config(data.path(), any_port());
    config.auth.token = Some("agent-s3cret".into());
    let server = start(&rt, config);
    let url = base(&server);
    let target = format!("http://{}", server.bound.http.unwrap());

    let with = RunningAgent::start(&AgentConfig {
        token: Some("agent-s3cret".into()),
        ..agent_config(modules.path(), "withtoken", target.clone())
    });
    let values = wait_for("values pushed with the token", || {
        let v = get_values(&url, "example,withtoken");
        (v.len() == 2).then_some(v)
    });
    assert_eq!(values["example,withtoken,example_constant"], 322.0);
    let (_, stats) = with.stop();
    assert!(stats.iter().all(|s| s.rejected == 0), "{stats:?}");

    let without = RunningAgent::start(&agent_config(modules.path(), "notoken", target));
    wait_for("two collections without the token", || {
        (without.collections() >= 2).then_some(())
    });
    let (_, stats) = without.stop();
    assert!(stats[0].rejected >= 1, "{stats:?}");
    assert!(get_values(&url, "example,notoken").is_empty());
    stop(&rt, server);
}
