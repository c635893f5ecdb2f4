//! Helpers the root package's integration tests share: a server configuration with
//! HTTP on a free port and the rest off, blocking HTTP reads, polling with a deadline.

#![allow(dead_code)] // each test binary uses its own part

use std::collections::BTreeMap;
use std::path::Path;
use std::time::{Duration, Instant};

use serde_json::Value as Json;
use treestat::config::Config;
use treestat::server::Server;

/// A server on `data` with HTTP on 127.0.0.1 port 0, every push listener and the host
/// modules off, 1 s intervals and 1 s trend points kept two hours.
pub fn quiet_config(data: &Path) -> Config {
    let mut c = Config::default();
    c.server.data = data.to_path_buf();
    c.server.http = Some("127.0.0.1:0".parse().unwrap());
    c.server.agent = false;
    for addr in [
        &mut c.listen.tcp,
        &mut c.listen.udp,
        &mut c.listen.statsd,
        &mut c.listen.graphite,
    ] {
        *addr = "off".into();
    }
    c.engine.interval = Duration::from_secs(1);
    // One-second intervals: a queue of 64 is a minute of disk stall, which a busy CI
    // disk can reach; a full queue drops intervals from the store (by design, counted),
    // and these tests read every interval back. tests/disk_full.rs checks the drops.
    c.trend = toml::from_str("retention = \"1s:2h\"\nqueue = 4096").unwrap();
    c
}

/// The HTTP base URL of a started server.
pub fn base(server: &Server) -> String {
    format!("http://{}", server.bound.http.unwrap())
}

/// Stops a server and waits for it.
pub fn stop(rt: &tokio::runtime::Runtime, server: Server) {
    server.shutdown_token().cancel();
    rt.block_on(server.wait()).expect("server stops cleanly");
}

/// GETs `url`, which must answer 200, and returns the body.
pub fn get_text(url: &str) -> String {
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .build()
        .into();
    let mut resp = agent.get(url).call().expect(url);
    let status = resp.status().as_u16();
    let body = resp.body_mut().read_to_string().unwrap_or_default();
    assert_eq!(status, 200, "{url}: {body}");
    body
}

/// GETs `url` as JSON.
pub fn get_json(url: &str) -> Json {
    serde_json::from_str(&get_text(url)).expect(url)
}

/// `/get/<pattern>` as a map from path to value.
pub fn get_values(base: &str, pattern: &str) -> BTreeMap<String, f64> {
    get_json(&format!("{base}/get/{pattern}"))
        .as_array()
        .map(|rows| {
            rows.iter()
                .filter_map(|r| Some((r[0].as_str()?.to_string(), r[1].as_f64()?)))
                .collect()
        })
        .unwrap_or_default()
}

/// Polls `probe` until it returns `Some` (120 s at most: far beyond any normal run, for
/// a loaded machine's broker).
pub fn wait_for<T>(what: &str, mut probe: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        if let Some(v) = probe() {
            return v;
        }
        assert!(Instant::now() < deadline, "gave up waiting for {what}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// A port no one listens on right now (for a process that binds it itself).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// `treestat relay` on its own thread: listens on TCP (127.0.0.1, port 0) and forwards
/// one merged tree per second to `upstream`.
pub struct RunningRelay {
    /// Where agents push to (`tcp://127.0.0.1:<port>`).
    pub addr: String,
    stop: treestat_agent::CancellationToken,
    thread: std::thread::JoinHandle<Vec<treestat_agent::transport::ServerStats>>,
}

impl RunningRelay {
    pub fn start(host: &str, upstream: String) -> RunningRelay {
        let relay = treestat_agent::relay::Relay::bind(&treestat_agent::AgentConfig {
            host: Some(host.into()),
            timeout: Duration::from_secs(2),
            relay: treestat_agent::config::RelayConfig {
                listen: vec!["tcp://127.0.0.1:0".into()],
                upstream: vec![upstream],
                interval: Duration::from_secs(1),
                ..treestat_agent::config::RelayConfig::default()
            },
            ..treestat_agent::AgentConfig::default()
        })
        .expect("relay binds");
        let addr = relay.local_addrs()[0].clone();
        let stop = treestat_agent::CancellationToken::new();
        let s = stop.clone();
        let thread = std::thread::spawn(move || relay.run(&s, Duration::from_secs(10)));
        RunningRelay { addr, stop, thread }
    }

    /// Stops the relay (it forwards what it holds, with 10 s to deliver); its upstream
    /// counters.
    pub fn stop(self) -> Vec<treestat_agent::transport::ServerStats> {
        self.stop.cancel();
        self.thread.join().expect("relay thread")
    }
}
