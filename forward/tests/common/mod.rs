//! Shared helpers: an engine on a clock near the real time, free ports, a plain TCP
//! receiver that keeps every line, waiting for a condition, and the real receivers
//! from Debian (carbon-cache, Prometheus) on free ports in temp directories.

#![allow(dead_code, reason = "each test file uses its own part")]

pub mod receivers;

use std::io::{BufRead, BufReader};
use std::net::TcpListener;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use parking_lot::Mutex;
use treestat_engine::telemetry::Telemetry;
use treestat_engine::{Engine, EngineConfig, ManualClock};
use treestat_forward::{ForwardConfig, Forwarder, Kind};

/// Longest wait for anything (a loaded 2-core machine; the work takes well under a
/// second when it works).
pub const LIMIT: Duration = Duration::from_secs(90);

/// Unix seconds now.
pub fn now() -> i64 {
    i64::try_from(
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_secs(),
    )
    .unwrap()
}

/// An engine (10 s intervals) whose clock stands at an interval start ten minutes
/// ago: real receivers take points that recent, and the test closes intervals by
/// moving the clock.
pub fn engine() -> (Engine, Arc<ManualClock>, i64) {
    let t0 = now() / 10 * 10 - 600;
    let clock = Arc::new(ManualClock::new(t0));
    let engine = Engine::with_clock(EngineConfig::default(), clock.clone()).unwrap();
    (engine, clock, t0)
}

/// Closes the open interval by moving the clock one interval on.
pub fn close(engine: &Engine, clock: &ManualClock) {
    clock.advance(10);
    engine.close_due().expect("an interval was due");
}

/// A free TCP port on 127.0.0.1 (bound and released).
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A forward config with short retry pauses, for tests.
pub fn config(kind: Kind, url: &str) -> ForwardConfig {
    let mut c = ForwardConfig::new(kind, url);
    c.retry_min = Duration::from_millis(20);
    c.retry_max = Duration::from_millis(200);
    c
}

/// Starts a forwarder on `engine` with its own telemetry.
pub fn forwarder(engine: &Engine, cfg: &ForwardConfig) -> (Forwarder, Telemetry) {
    let t = Telemetry::default();
    (Forwarder::start(engine, cfg, 0, &t).unwrap(), t)
}

/// Waits until `f` answers `Some`, failing with `what` after [`LIMIT`].
pub fn wait_for<T>(what: &str, mut f: impl FnMut() -> Option<T>) -> T {
    let end = Instant::now() + LIMIT;
    loop {
        if let Some(v) = f() {
            return v;
        }
        assert!(Instant::now() < end, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// A plain TCP server keeping every line received, on any connection, in order.
#[derive(Clone)]
pub struct Lines {
    pub port: u16,
    pub lines: Arc<Mutex<Vec<String>>>,
}

impl Lines {
    /// Listens on `port` (0: a free one).
    pub fn listen(port: u16) -> Lines {
        let l = TcpListener::bind(("127.0.0.1", port)).unwrap();
        let port = l.local_addr().unwrap().port();
        let lines: Arc<Mutex<Vec<String>>> = Arc::default();
        let keep = lines.clone();
        std::thread::spawn(move || {
            for conn in l.incoming() {
                let Ok(conn) = conn else { return };
                let keep = keep.clone();
                std::thread::spawn(move || {
                    for line in BufReader::new(conn).lines() {
                        let Ok(line) = line else { return };
                        keep.lock().push(line);
                    }
                });
            }
        });
        Lines { port, lines }
    }

    /// The lines so far.
    pub fn get(&self) -> Vec<String> {
        self.lines.lock().clone()
    }

    /// Waits for at least `n` lines and returns them all.
    pub fn wait(&self, n: usize) -> Vec<String> {
        wait_for(&format!("{n} lines"), || {
            let l = self.get();
            (l.len() >= n).then_some(l)
        })
    }
}
