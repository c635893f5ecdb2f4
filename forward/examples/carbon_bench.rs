//! Points per second handed to a target for 100k-leaf intervals: a real carbon-cache
//! (Debian's graphite-carbon) and a real Prometheus (remote-write receiver), each
//! started here on free ports in a temp directory, and, for our own ceiling, a TCP
//! sink that reads and discards.
//!
//! `cargo run --release -p treestat-forward --example carbon_bench [LEAVES] [INTERVALS]`
//!
//! Each interval: every leaf gets a sample, the interval closes, and the clock runs
//! until the forwarder has handed every point to the target (for carbon: written to
//! its socket; writing whisper files is carbon's own later work; for Prometheus: every
//! request answered 2xx, so the samples are in its head block).

use std::io::Read;
use std::net::TcpListener;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use treestat_engine::telemetry::Telemetry;
use treestat_engine::{Engine, EngineConfig, ManualClock};
use treestat_forward::{ForwardConfig, Forwarder};

#[allow(dead_code, reason = "the harness's queries are for the tests")]
#[path = "../tests/common/receivers.rs"]
mod receivers;

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn wait_for<T>(what: &str, mut f: impl FnMut() -> Option<T>) -> T {
    let end = Instant::now() + Duration::from_secs(600);
    loop {
        if let Some(v) = f() {
            return v;
        }
        assert!(Instant::now() < end, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(1));
    }
}

fn run(label: &str, url: &str, leaves: usize, intervals: usize) {
    let now = i64::try_from(
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_secs(),
    )
    .unwrap();
    let t0 = now / 10 * 10 - 10 * i64::try_from(intervals + 1).unwrap();
    let clock = Arc::new(ManualClock::new(t0));
    let cfg = EngineConfig {
        limits: treestat_engine::Limits {
            max_push_nodes: leaves * 2,
            ..Default::default()
        },
        ..EngineConfig::default()
    };
    let engine = Engine::with_clock(cfg, clock.clone()).unwrap();
    let mut c = ForwardConfig::from_url(url).unwrap();
    c.retry_min = Duration::from_millis(10);
    c.retry_max = Duration::from_millis(100);
    let t = Telemetry::default();
    let f = Forwarder::start(&engine, &c, 0, &t).unwrap();
    let mut sent = 0u64;
    for i in 0..intervals {
        let body: Vec<String> = (0..leaves / 1000)
            .map(|g| {
                let row: Vec<String> = (0..1000).map(|k| format!(r#""{k}":{i}"#)).collect();
                format!(r#""g{g}":{{{}}}"#, row.join(","))
            })
            .collect();
        engine
            .push_json(format!(r#"{{"bench":{{{}}}}}"#, body.join(",")).as_bytes())
            .unwrap();
        let start = Instant::now();
        clock.advance(10);
        engine.close_due().unwrap();
        sent += u64::try_from(leaves / 1000 * 1000).unwrap();
        wait_for("every point sent", || {
            (f.stats().sent >= sent).then_some(())
        });
        let secs = start.elapsed().as_secs_f64();
        #[allow(clippy::cast_precision_loss)]
        let rate = (leaves / 1000 * 1000) as f64 / secs;
        println!(
            "{label}: interval {i}: {} points in {secs:.3} s = {rate:.0} points/s",
            leaves / 1000 * 1000
        );
    }
    let s = f.stats();
    println!(
        "{label}: sent {} dropped {} errors {}",
        s.sent, s.dropped, s.errors
    );
}

fn main() {
    let mut args = std::env::args().skip(1);
    let leaves: usize = args.next().map_or(100_000, |a| a.parse().unwrap());
    let intervals: usize = args.next().map_or(3, |a| a.parse().unwrap());

    // Our ceiling: a sink that reads and discards.
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = l.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for conn in l.incoming() {
            let Ok(mut conn) = conn else { return };
            std::thread::spawn(move || {
                let mut buf = vec![0u8; 1 << 16];
                while conn.read(&mut buf).is_ok_and(|n| n > 0) {}
            });
        }
    });
    run(
        "null sink",
        &format!("tcp://127.0.0.1:{port}"),
        leaves,
        intervals,
    );

    if receivers::Carbon::available() {
        let carbon = receivers::Carbon::start(free_port());
        run(
            "carbon-cache",
            &format!("tcp://127.0.0.1:{}", carbon.port),
            leaves,
            intervals,
        );
    }
    if receivers::Prometheus::available() {
        let prom = receivers::Prometheus::start(free_port());
        run(
            "prometheus remote-write",
            &prom.write_url(),
            leaves,
            intervals,
        );
    }
}
