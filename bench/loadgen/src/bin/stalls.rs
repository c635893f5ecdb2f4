//! Stall runs for issue 12: how a wide branch and many readers hold pushes back.
//!
//! One process: the real engine and HTTP API ([`treestat_web::serve`]) on 127.0.0.1:0,
//! a closer thread closing intervals on time as `treestat serve` does, and plain
//! HTTP/1.1 keep-alive clients.
//!
//! ```text
//! stalls wide    [--width 1000000] [--touch 100000] [--intervals 6] [--interval-ms 2000]
//! stalls waiters [--branch 20000] [--push 10000] [--pushes 100] [--waiters 1024] [--streams 20]
//! ```
//! `wide`: fills one branch with `width` leaves, `touch` new ones per interval (each
//! close then announces `touch` new paths in a wide branch), then touches `touch`
//! existing leaves per interval, while a small push (`{"s":{"x":1}}`) is timed in a
//! loop. Prints the small pushes' p50/p99/max, and every close's duration.
//! `waiters`: times `pushes` pushes of `push` leaves into a branch of `branch` leaves
//! (in groups of 100, so no sibling scan is involved),
//! first alone, then with `waiters` idle `/pull` waiters (patterns that never match)
//! and `streams` `/events` readers of the branch; prints wall time and process CPU per
//! push for both, and the ratio.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use parking_lot::Mutex;
use tokio_util::sync::CancellationToken;
use treestat_engine::telemetry::Telemetry;
use treestat_engine::{Engine, EngineConfig, ManualClock};
use treestat_web::{AppState, WebConfig, serve};

fn arg(args: &[String], name: &str, default: u64) -> u64 {
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

struct Server {
    addr: SocketAddr,
    engine: Engine,
    /// The engine's clock: moved one interval before each close, so every push lands
    /// in the open interval however fast the run closes them.
    clock: Arc<ManualClock>,
    shutdown: CancellationToken,
    rt: tokio::runtime::Runtime,
}

fn start(max_waiters: usize) -> Server {
    let mut cfg = EngineConfig {
        interval: Duration::from_secs(10),
        ..EngineConfig::default()
    };
    cfg.limits.max_push_nodes = 2_000_000;
    cfg.limits.max_nodes = 20_000_000;
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(0));
    let clock = Arc::new(ManualClock::new(now));
    let engine = Engine::with_clock(cfg, clock.clone()).expect("engine");
    let web = WebConfig {
        body_limit: 256 << 20,
        max_waiters,
        ..WebConfig::default()
    };
    let state = AppState::new(engine.clone(), web, Telemetry::default());
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    let listener = rt
        .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    let shutdown = CancellationToken::new();
    let stop = shutdown.clone();
    rt.spawn(async move { serve(listener, state, stop).await });
    Server {
        addr,
        engine,
        clock,
        shutdown,
        rt,
    }
}

/// A keep-alive HTTP/1.1 connection.
struct Conn {
    w: TcpStream,
    r: BufReader<TcpStream>,
}

impl Server {
    /// Moves the clock one interval on and closes the open interval.
    fn close(&self) -> Arc<treestat_engine::ClosedInterval> {
        self.clock.advance(self.engine.interval_secs());
        self.engine.close_now()
    }
}

impl Conn {
    fn new(addr: SocketAddr) -> Conn {
        let s = TcpStream::connect(addr).expect("connect");
        s.set_nodelay(true).ok();
        Conn {
            w: s.try_clone().expect("clone"),
            r: BufReader::new(s),
        }
    }

    /// POSTs a JSON body to /push; returns the status.
    fn push(&mut self, body: &[u8]) -> u16 {
        let head = format!(
            "POST /push HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n",
            body.len()
        );
        self.w.write_all(head.as_bytes()).expect("write");
        self.w.write_all(body).expect("write");
        self.read_reply()
    }

    fn read_reply(&mut self) -> u16 {
        let mut line = String::new();
        self.r.read_line(&mut line).expect("status line");
        let status = line
            .split_whitespace()
            .nth(1)
            .and_then(|s| s.parse().ok())
            .unwrap_or(0);
        let mut len = 0usize;
        loop {
            line.clear();
            self.r.read_line(&mut line).expect("header");
            let l = line.trim_end();
            if l.is_empty() {
                break;
            }
            if let Some((k, v)) = l.split_once(':')
                && k.eq_ignore_ascii_case("content-length")
            {
                len = v.trim().parse().unwrap_or(0);
            }
        }
        let mut body = vec![0; len];
        self.r.read_exact(&mut body).expect("body");
        status
    }
}

fn branch_doc(branch: &str, keys: std::ops::Range<u64>) -> Vec<u8> {
    let mut doc = format!(r#"{{"{branch}":{{"#);
    for (n, i) in keys.enumerate() {
        if n > 0 {
            doc.push(',');
        }
        // Zero-padded: the keys arrive in tree order.
        doc.push_str(&format!(r#""k{i:07}":1"#));
    }
    doc.push_str("}}");
    doc.into_bytes()
}

/// `{"w":{"g0000":{"k00":1,...},...}}`: leaves `keys` of a branch grouped by 100, so
/// that only the readers' work grows with the push, not a sibling scan.
fn grouped_doc(keys: std::ops::Range<u64>) -> Vec<u8> {
    let mut doc = String::from(r#"{"w":{"#);
    let mut group = u64::MAX;
    for i in keys {
        if i / 100 != group {
            if group != u64::MAX {
                doc.push_str("},");
            }
            group = i / 100;
            doc.push_str(&format!(r#""g{group:04}":{{"#));
        } else {
            doc.push(',');
        }
        doc.push_str(&format!(r#""k{:02}":1"#, i % 100));
    }
    if group != u64::MAX {
        doc.push('}');
    }
    doc.push_str("}}");
    doc.into_bytes()
}

fn pct(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    #[allow(
        clippy::cast_possible_truncation,
        clippy::cast_sign_loss,
        clippy::cast_precision_loss
    )]
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i]
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

/// This process's CPU time (user + system), from /proc/self/stat.
fn cpu() -> Duration {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    let after = stat.rsplit_once(')').map_or("", |x| x.1);
    let f: Vec<&str> = after.split_whitespace().collect();
    let ticks: u64 = f.get(11).and_then(|v| v.parse().ok()).unwrap_or(0)
        + f.get(12).and_then(|v| v.parse().ok()).unwrap_or(0);
    Duration::from_millis(ticks * 10) // USER_HZ = 100
}

/// The engine's own figure for the last close's write-lock hold, where it has one.
#[cfg(feature = "close-lock")]
fn lock_held(engine: &Engine) -> String {
    let us = engine.metrics().close_lock_micros.get();
    #[allow(clippy::cast_precision_loss)]
    let held = us as f64 / 1000.0;
    format!(" (write lock {held:5.1} ms)")
}

#[cfg(not(feature = "close-lock"))]
fn lock_held(_: &Engine) -> String {
    String::new()
}

fn wide(args: &[String]) {
    let width = arg(args, "--width", 1_000_000);
    let touch = arg(args, "--touch", 100_000);
    let steady = arg(args, "--intervals", 6);
    let interval = Duration::from_millis(arg(args, "--interval-ms", 2000));
    let srv = start(1024);
    println!(
        "wide: {width} leaves under one branch, {touch} touched per interval, an interval every {interval:?}"
    );
    let stop = Arc::new(AtomicBool::new(false));
    let lat: Arc<Mutex<Vec<(Instant, f64)>>> = Arc::default();
    let small = {
        let (stop, lat, addr) = (stop.clone(), lat.clone(), srv.addr);
        std::thread::spawn(move || {
            let mut c = Conn::new(addr);
            while !stop.load(Ordering::Relaxed) {
                let t = Instant::now();
                assert_eq!(c.push(br#"{"s":{"x":1}}"#), 200);
                lat.lock().push((t, ms(t.elapsed())));
                std::thread::sleep(Duration::from_millis(2));
            }
        })
    };
    let mut big = Conn::new(srv.addr);
    let mut closes: Vec<(String, f64, Instant, Instant)> = Vec::new();
    let mut filled = 0;
    let mut round = 0;
    while filled < width || round < steady {
        let t0 = Instant::now();
        let (what, keys) = if filled < width {
            let n = touch.min(width - filled);
            let r = filled..filled + n;
            filled += n;
            (format!("fill to {filled}"), r)
        } else {
            round += 1;
            let start = (round * touch) % width;
            (
                format!("touch {touch} of {width}"),
                start..(start + touch).min(width),
            )
        };
        let doc = branch_doc("w", keys);
        assert_eq!(big.push(&doc), 200);
        let pushed = ms(t0.elapsed());
        let c0 = Instant::now();
        let closed = srv.close();
        let took = c0.elapsed();
        let c1 = Instant::now();
        println!(
            "  {what:<24} push {pushed:7.1} ms   close {:7.1} ms{}   ({} points, {} new paths)",
            ms(took),
            lock_held(&srv.engine),
            closed.points.len(),
            closed.new_paths.len()
        );
        closes.push((what, ms(took), c0, c1));
        if let Some(rest) = interval.checked_sub(t0.elapsed()) {
            std::thread::sleep(rest);
        }
    }
    stop.store(true, Ordering::Relaxed);
    small.join().expect("small pusher");
    let lat = lat.lock();
    let mut all: Vec<f64> = lat.iter().map(|x| x.1).collect();
    all.sort_by(f64::total_cmp);
    // Pushes started while a close was running.
    let mut during: Vec<f64> = lat
        .iter()
        .filter(|(t, _)| closes.iter().any(|c| *t >= c.2 && *t <= c.3))
        .map(|x| x.1)
        .collect();
    during.sort_by(f64::total_cmp);
    println!(
        "  small pushes started during a close: p50 {:.2} ms, p99 {:.2} ms, slowest {:?}",
        pct(&during, 0.5),
        pct(&during, 0.99),
        &during[during.len().saturating_sub(5)..]
    );
    let mut cl: Vec<f64> = closes.iter().map(|c| c.1).collect();
    cl.sort_by(f64::total_cmp);
    println!(
        "RESULT wide small_pushes={} p50_ms={:.2} p99_ms={:.2} max_ms={:.1} during_close={} during_close_max_ms={:.1} closes={} close_max_ms={:.1} close_p50_ms={:.1}",
        all.len(),
        pct(&all, 0.5),
        pct(&all, 0.99),
        all.last().copied().unwrap_or(0.0),
        during.len(),
        during.last().copied().unwrap_or(0.0),
        cl.len(),
        cl.last().copied().unwrap_or(0.0),
        pct(&cl, 0.5),
    );
    let t = Instant::now();
    srv.shutdown.cancel();
    drop(srv.rt);
    println!("  shutdown took {:.1} ms", ms(t.elapsed()));
}

fn waiters(args: &[String]) {
    let branch = arg(args, "--branch", 20_000);
    let push = arg(args, "--push", 10_000);
    let pushes = arg(args, "--pushes", 100);
    let n_waiters = arg(args, "--waiters", 1024);
    let streams = arg(args, "--streams", 20);
    let srv = start(usize::try_from(n_waiters).unwrap_or(1024) + 16);
    let mut c = Conn::new(srv.addr);
    assert_eq!(c.push(&grouped_doc(0..branch)), 200);
    srv.close();
    println!("waiters: {pushes} pushes of {push} leaves into a branch of {branch} (groups of 100)");
    let run = |c: &mut Conn, label: &str, close_every: u64| -> (f64, f64) {
        let mut lat = Vec::new();
        let cpu0 = cpu();
        let t0 = Instant::now();
        for i in 0..pushes {
            let start = (i * push) % branch;
            let doc = grouped_doc(start..(start + push).min(branch));
            let t = Instant::now();
            assert_eq!(c.push(&doc), 200);
            lat.push(ms(t.elapsed()));
            if close_every > 0 && i % close_every == close_every - 1 {
                srv.close();
            }
        }
        // Let the readers finish with the last push and interval.
        std::thread::sleep(Duration::from_millis(500));
        let wall = ms(t0.elapsed()) - 500.0;
        let cpu_ms = ms(cpu().saturating_sub(cpu0));
        lat.sort_by(f64::total_cmp);
        #[allow(clippy::cast_precision_loss)]
        let n = pushes as f64;
        println!(
            "  {label:<34} wall/push {:7.2} ms   cpu/push {:7.2} ms   push p50 {:6.2} ms  p99 {:7.2} ms  max {:7.2} ms",
            wall / n,
            cpu_ms / n,
            pct(&lat, 0.5),
            pct(&lat, 0.99),
            lat.last().copied().unwrap_or(0.0)
        );
        (wall / n, cpu_ms / n)
    };
    let base = run(&mut c, "alone", 0);
    // Idle waiters: each its own pattern, none ever matching.
    let mut held = Vec::new();
    for i in 0..n_waiters {
        let mut s = TcpStream::connect(srv.addr).expect("connect");
        write!(
            s,
            "GET /pull/idle{i},x?timeout=3600s HTTP/1.1\r\nhost: x\r\n\r\n"
        )
        .expect("write");
        held.push(s);
    }
    let got = Arc::new(std::sync::atomic::AtomicU64::new(0));
    for _ in 0..streams {
        let mut s = TcpStream::connect(srv.addr).expect("connect");
        write!(s, "GET /events/w HTTP/1.1\r\nhost: x\r\n\r\n").expect("write");
        let got = got.clone();
        std::thread::spawn(move || {
            let mut buf = vec![0; 1 << 16];
            while let Ok(n) = s.read(&mut buf) {
                if n == 0 {
                    return;
                }
                if std::env::var_os("STALLS_DEBUG").is_some() {
                    eprintln!("{}", String::from_utf8_lossy(&buf[..n.min(300)]));
                }
                got.fetch_add(n as u64, Ordering::Relaxed);
            }
        });
    }
    // Wait until every waiter and stream is registered.
    loop {
        let mut m = TcpStream::connect(srv.addr).expect("connect");
        write!(
            m,
            "GET /metrics HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n"
        )
        .expect("w");
        let mut text = String::new();
        let _ = m.read_to_string(&mut text);
        let w = format!("treestat_http_pull_waiters {n_waiters}\n");
        let e = format!("treestat_http_event_streams {streams}\n");
        if text.contains(&w) && text.contains(&e) {
            break;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let with = run(
        &mut c,
        &format!("with {n_waiters} waiters + {streams} streams"),
        0,
    );
    // Streams send at closes: 20 x the interval's values.
    run(&mut c, "same, an interval closed every 10", 10);
    // The streams' interval messages (20 x the branch's values) take a while to send.
    let mut seen = got.load(Ordering::Relaxed);
    for _ in 0..50 {
        std::thread::sleep(Duration::from_millis(100));
        let now = got.load(Ordering::Relaxed);
        if now == seen && now > 0 {
            break;
        }
        seen = now;
    }
    println!(
        "RESULT waiters wall_ratio={:.2} cpu_ratio={:.2} stream_bytes={}",
        with.0 / base.0,
        with.1 / base.1,
        got.load(Ordering::Relaxed)
    );
    let t = Instant::now();
    srv.shutdown.cancel();
    drop(srv.rt);
    drop(held);
    println!("  shutdown took {:.1} ms", ms(t.elapsed()));
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    match args.get(1).map(String::as_str) {
        Some("wide") => wide(&args),
        Some("waiters") => waiters(&args),
        _ => {
            eprintln!("usage: stalls wide|waiters [options] (see the source's header)");
            std::process::exit(2);
        }
    }
}
